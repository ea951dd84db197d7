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

/// What a PDF, a TIFF or an image sent as a document shows in the channel (see PRODUCT.md,
/// "Previews").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preview {
    /// A small picture of the first page on the file (`thumbnail`).
    #[default]
    Thumbnail,
    /// The first page as a photo carrying the caption, then the file.
    Page,
    /// Neither.
    None,
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
    /// When to post; `None` means now.
    pub publish_at: Option<PublishAt>,
    /// When to unpin the post (with `pin: true`).
    pub pin_until: Option<PublishAt>,
    /// Whether the sidecar says `buttons:` at all: in a correction, `buttons: []` removes the
    /// buttons and no `buttons:` keeps them.
    pub buttons_given: bool,
    /// `edit:`, `delete:` or `unpin:`: this bundle changes a post that went out.
    pub change: Option<ChangeRequest>,
    /// In a correction of an album: the name of the file that the bundle's file replaces.
    pub replace: Option<String>,
    /// `None`: the inbox's default.
    pub preview: Option<Preview>,
}

/// What a correction bundle does to the post it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Edit,
    Delete,
    Unpin,
}

impl ChangeKind {
    /// The sidecar key.
    pub fn key(self) -> &'static str {
        match self {
            ChangeKind::Edit => "edit",
            ChangeKind::Delete => "delete",
            ChangeKind::Unpin => "unpin",
        }
    }
}

/// `edit: LINK`, `delete: LINK` or `unpin: LINK`, as the sidecar says it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangeRequest {
    pub kind: ChangeKind,
    pub target: crate::change::PostRef,
    /// As the clerk wrote it, for reports.
    pub written: String,
}

/// When a post should go out, as the clerk wrote it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PublishAt {
    /// A wall-clock time in the config's `timezone`, like `2026-11-28T08:00:00`.
    Local(String),
    /// An exact instant (RFC 3339 with an offset), in seconds since the Unix epoch.
    Exact(i64),
}

impl PublishAt {
    /// The instant, resolving a wall-clock time in `tz`. In a DST gap the time is moved
    /// forward by the gap; in a fold the earlier of the two instants is taken.
    pub fn resolve(&self, tz: &jiff::tz::TimeZone) -> Option<jiff::Timestamp> {
        match self {
            PublishAt::Exact(secs) => jiff::Timestamp::from_second(*secs).ok(),
            PublishAt::Local(s) => {
                let civil: jiff::civil::DateTime = s.parse().ok()?;
                tz.to_ambiguous_timestamp(civil).compatible().ok()
            }
        }
    }
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
    /// GIFs: `sendAnimation`, so they play in the channel.
    Animation,
}

/// One file of an album (`sendMediaGroup`). Telegram groups photos with photos and documents
/// with documents; the caption goes on the first item.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlbumItem {
    /// `Photo` or `Document` (animations cannot be in albums).
    pub kind: MediaKind,
    pub path: PathBuf,
    pub file_name: String,
    pub caption: Option<Rendered>,
    /// A JPEG of the first page, sent as the document's `thumbnail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<PathBuf>,
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
        /// A JPEG of the first page, sent as the document's `thumbnail`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thumbnail: Option<PathBuf>,
    },
    /// 2 to 10 items of one kind, sent with `sendMediaGroup`; albums cannot carry buttons.
    Album { items: Vec<AlbumItem> },
    /// A correction of a message that carries text (`editMessageText`). Every edit sets the
    /// buttons the message shows afterwards: Telegram removes those an edit does not repeat.
    EditText {
        target: Target,
        text: Rendered,
        link_preview: Option<bool>,
        buttons: Vec<Vec<Button>>,
    },
    /// A new caption for a message with a file (`editMessageCaption`); `None` removes it.
    EditCaption {
        target: Target,
        caption: Option<Rendered>,
        buttons: Vec<Vec<Button>>,
    },
    /// New buttons only (`editMessageReplyMarkup`); none removes them.
    EditButtons {
        target: Target,
        buttons: Vec<Vec<Button>>,
    },
    /// A file that replaces a message's file (`editMessageMedia`), with the caption the message
    /// shows afterwards (Telegram removes one the request does not repeat).
    EditMedia {
        target: Target,
        kind: MediaKind,
        path: PathBuf,
        file_name: String,
        caption: Option<Rendered>,
        buttons: Vec<Vec<Button>>,
    },
    /// Removes a message from the channel (`deleteMessage`).
    Delete { target: Target },
    /// Unpins a message (`unpinChatMessage`).
    Unpin { target: Target },
}

impl OutMessage {
    /// The files this request uploads.
    pub fn files(&self) -> Vec<&std::path::Path> {
        match self {
            OutMessage::Media { path, .. } | OutMessage::EditMedia { path, .. } => {
                vec![path.as_path()]
            }
            OutMessage::Album { items } => items.iter().map(|i| i.path.as_path()).collect(),
            _ => Vec::new(),
        }
    }

    /// The same, to rewrite where they are read from.
    pub fn files_mut(&mut self) -> Vec<&mut PathBuf> {
        match self {
            OutMessage::Media { path, .. } | OutMessage::EditMedia { path, .. } => vec![path],
            OutMessage::Album { items } => items.iter_mut().map(|i| &mut i.path).collect(),
            _ => Vec::new(),
        }
    }

    /// The message this request changes, for the requests that change one.
    pub fn target(&self) -> Option<&Target> {
        match self {
            OutMessage::EditText { target, .. }
            | OutMessage::EditCaption { target, .. }
            | OutMessage::EditButtons { target, .. }
            | OutMessage::EditMedia { target, .. }
            | OutMessage::Delete { target }
            | OutMessage::Unpin { target } => Some(target),
            OutMessage::Text { .. } | OutMessage::Media { .. } | OutMessage::Album { .. } => None,
        }
    }
}

/// A message that went out, which a correction changes: its id, its chat's id, its link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub message_id: i64,
    pub chat_id: i64,
    pub link: String,
}

/// Options that apply to every message of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SendOptions {
    pub silent: bool,
    pub protect: bool,
}

#[cfg(test)]
mod tests {
    use super::PublishAt;

    fn at(local: &str) -> String {
        let tz = jiff::tz::TimeZone::get("Europe/Rome").unwrap();
        PublishAt::Local(local.into())
            .resolve(&tz)
            .unwrap()
            .to_string()
    }

    #[test]
    fn wall_clock_times_follow_daylight_saving() {
        assert_eq!(at("2026-11-28T08:00:00"), "2026-11-28T07:00:00Z");
        assert_eq!(at("2026-07-01T08:00:00"), "2026-07-01T06:00:00Z");
        // 29 March 2026, 02:30 does not exist in Rome: moved forward by the gap.
        assert_eq!(at("2026-03-29T02:30:00"), "2026-03-29T01:30:00Z");
        // 25 October 2026, 02:30 happens twice: the earlier one.
        assert_eq!(at("2026-10-25T02:30:00"), "2026-10-25T00:30:00Z");
    }
}
