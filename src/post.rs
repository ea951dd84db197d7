//! dropcast's own words for what gets posted: a validated sidecar, and the plan of requests for one post.
//!
//! Nothing here knows the Bot API wire format or the filesystem; the telegram module turns an
//! [`OutMessage`] into a request, the pipeline builds the plan.

use std::path::PathBuf;

/// How the clerk wrote the caption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Markdown,
    Html,
    Plain,
}

/// Whether an image goes as a photo (compressed, shown inline) or as a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendAs {
    #[default]
    Auto,
    Photo,
    Document,
}

/// A link button under a post.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Button {
    pub text: String,
    pub url: String,
}

/// A sidecar that parsed and validated: every value has the right type and range.
/// Channel references are still as the clerk wrote them (alias, `@username` or numeric id);
/// the pipeline resolves them against the config.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Sidecar {
    /// Empty: the folder's default channel.
    pub channels: Vec<String>,
    pub caption: Option<String>,
    pub format: Format,
    pub silent: bool,
    pub pin: bool,
    pub protect: bool,
    pub buttons: Vec<Vec<Button>>,
    pub send_as: SendAs,
    pub attachments: Vec<String>,
    pub link_preview: Option<bool>,
    pub repost: bool,
}

/// A caption or text ready for the wire: text plus the parse mode Telegram must apply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rendered {
    pub text: String,
    /// `Some("HTML")` for markdown and html sources, `None` for plain text.
    pub parse_mode: Option<String>,
}

/// What kind of upload a media file becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Document,
    Photo,
}

/// One request of a post, in the order they are sent. A post is one or more of these.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum OutMessage {
    Text {
        text: Rendered,
        link_preview: Option<bool>,
        buttons: Vec<Vec<Button>>,
    },
    Media {
        kind: MediaKind,
        path: PathBuf,
        /// The name the channel shows for the file.
        file_name: String,
        caption: Option<Rendered>,
        buttons: Vec<Vec<Button>>,
    },
}

/// Options that apply to every message of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SendOptions {
    pub silent: bool,
    pub protect: bool,
}
