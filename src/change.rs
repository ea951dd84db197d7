//! Naming a post to change: a link as the receipt gives it or as Telegram's "Copy link" does, or
//! the bundle's file name as it stands in the archive (see PRODUCT.md, "Changing a post after it
//! went out"), and what a correction does to it: which requests, on which messages, what
//! changes old → new. Pure: the journal finds the post (`Journal::find_post`), this module
//! decides; nothing here does IO.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::journal::{Plan, PostRecord};
use crate::post::{Button, ChangeKind, ChangeRequest, MediaKind, OutMessage, Rendered, Target};
use crate::render;
use crate::sidecar::Said;

/// What a clerk wrote after `edit:`, `delete:` or `unpin:`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PostRef {
    /// `https://t.me/NAME/ID`: a public channel by its name (current or old).
    Public { username: String, message_id: i64 },
    /// `https://t.me/c/INTERNAL/ID`: a channel by its id without the `-100` prefix.
    Private { chat_id: i64, message_id: i64 },
    /// `notice.pdf`, `notice (2).pdf`: the bundle posted under that name in the archive.
    File(String),
}

/// Why a value does not name a post, in words a clerk understands, in English and Italian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAPost(pub Said);

fn not_a_post(en: String, it: String) -> NotAPost {
    NotAPost(Said::new(en, it))
}

/// Reads a post link or a file name. Links may start with `https://`, `http://` or nothing,
/// name `t.me` or `telegram.me`, and end with `?single` or any other query (ignored).
pub fn parse(value: &str) -> Result<PostRef, NotAPost> {
    let value = value.trim();
    if value.is_empty() {
        return Err(not_a_post("it is empty".into(), "è vuoto".into()));
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .unwrap_or(value);
    let host_and_path = rest
        .strip_prefix("www.")
        .unwrap_or(rest)
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let path = host_and_path
        .strip_prefix("t.me/")
        .or_else(|| host_and_path.strip_prefix("telegram.me/"));
    let Some(path) = path else {
        if rest != value || value.contains("t.me") || value.contains("telegram.me") {
            return Err(not_a_link(value));
        }
        return file_name(value);
    };
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let message_id = |s: &str| -> Result<i64, NotAPost> {
        s.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
            not_a_post(
                format!("`{s}` in `{value}` is not the number of a post"),
                format!("`{s}` in `{value}` non è il numero di un post"),
            )
        })
    };
    match parts.as_slice() {
        // A post in a private channel; `c/INTERNAL/THREAD/ID` names one in a topic.
        ["c", internal, .., id] if parts.len() <= 4 => {
            let internal: i64 = internal.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                not_a_post(
                    format!("`{internal}` in `{value}` is not a channel's number"),
                    format!("`{internal}` in `{value}` non è il numero di un canale"),
                )
            })?;
            let chat_id = format!("-100{internal}").parse().map_err(|_| {
                not_a_post(
                    format!("`{value}` names no channel"),
                    format!("`{value}` non indica nessun canale"),
                )
            })?;
            Ok(PostRef::Private {
                chat_id,
                message_id: message_id(id)?,
            })
        }
        [name, id] if is_username(name) => Ok(PostRef::Public {
            username: (*name).to_string(),
            message_id: message_id(id)?,
        }),
        [name] if is_username(name) => Err(not_a_post(
            format!(
                "`{value}` is a link to the channel, not to one of its posts: open the post in \
                 Telegram and use \"Copy link\""
            ),
            format!(
                "`{value}` è il link del canale, non di un suo post: apri il post in Telegram e \
                 usa \"Copia link\""
            ),
        )),
        _ => Err(not_a_link(value)),
    }
}

fn not_a_link(value: &str) -> NotAPost {
    not_a_post(
        format!("`{value}` is not a link to a post in a channel"),
        format!("`{value}` non è il link di un post di un canale"),
    )
}

fn file_name(value: &str) -> Result<PostRef, NotAPost> {
    if value.contains('/') || value.contains('\\') || value.starts_with('.') {
        return Err(not_a_post(
            format!("`{value}` is neither a link to a post nor a file name from the archive"),
            format!("`{value}` non è né il link di un post né il nome di un file dell'archivio"),
        ));
    }
    Ok(PostRef::File(value.to_string()))
}

/// `notice (2).pdf` → (`notice.pdf`, 2); a name without such a suffix → (itself, 1). The
/// suffix is the one the archive gives a name that is taken (see `spool::numbered`).
pub fn split_numbered(name: &str) -> (String, usize) {
    let stem = crate::bundle::stem(name);
    let ext = &name[stem.len()..];
    if let Some(open) = stem.rfind(" (")
        && let Some(n) = stem[open + 2..]
            .strip_suffix(')')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n >= 2)
    {
        return (format!("{}{ext}", &stem[..open]), n);
    }
    (name.to_string(), 1)
}

/// The name a bundle's file `bundle` has in the archive, read from its receipt's name there
/// (`notice (2).receipt.yaml` → `notice (2).pdf`).
pub fn archived_name(bundle: &str, receipt: &std::path::Path) -> Option<String> {
    use std::ffi::OsStr;
    let receipt = receipt.file_name()?.to_str()?;
    let stem = crate::bundle::stem(bundle);
    let shown = receipt.strip_suffix(".receipt.yaml")?;
    let n = if shown == stem {
        1
    } else {
        let (_, n) = split_numbered(&format!("{shown}.x"));
        n
    };
    let name = crate::spool::numbered(OsStr::new(bundle), OsStr::new(stem), n);
    name.to_str().map(str::to_owned)
}

/// Telegram's public names: 4 to 32 letters, digits and underscores, starting with a letter.
fn is_username(s: &str) -> bool {
    (4..=32).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Telegram lets a bot delete a channel's message for 48 hours after it went out.
pub const DELETE_LIMIT_SECS: i64 = 48 * 3600;
/// Asked this close to the limit, the request would arrive too late: refused before asking.
const DELETE_MARGIN_SECS: i64 = 60;

/// What a correction bundle brings, as `prepare` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    pub request: ChangeRequest,
    /// The new caption or text, rendered; `None`: unchanged.
    pub caption: Option<Rendered>,
    /// The new buttons; `None`: unchanged, `Some(vec![])`: removed.
    pub buttons: Option<Vec<Vec<Button>>>,
    pub link_preview: Option<bool>,
    /// The file that replaces one of the post's.
    pub file: Option<NewFile>,
    /// Which of the post's files it replaces.
    pub replace: Option<String>,
}

/// A file that replaces a post's file.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFile {
    pub path: PathBuf,
    pub file_name: String,
    /// Telegram takes it as a photo (a JPEG, PNG or WebP within the photo limits).
    pub photo: bool,
    /// A GIF: it can replace an animation.
    pub animation: bool,
}

/// Why a correction cannot be made, in terms a report turns into a clerk's words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CannotChange {
    /// The link or name finds no post of dropcast's.
    NotOurs,
    /// Several archived posts have that file name: their receipts.
    Ambiguous { receipts: Vec<String> },
    /// The post waits in `scheduled/` (until then, seconds since the epoch).
    Scheduled { at: Option<i64> },
    /// The post is being posted right now, or did not go out whole.
    NotOut,
    /// The post was deleted (or is being deleted).
    Deleted,
    /// Telegram no longer allows deleting it: it went out at `sent_at`.
    TooOldToDelete { sent_at: i64 },
    /// The new caption does not fit under a file.
    CaptionTooLong { len: usize, limit: usize },
    /// A text post of `had` messages, and the new text needs `needs`.
    TextParts { had: usize, needs: usize },
    /// A text post cannot be left without text.
    EmptyText,
    /// A text post has no file to replace.
    NoFileToReplace,
    /// The post has several files: `replace:` must say which.
    WhichFile { names: Vec<String> },
    /// `replace:` names no file of the post.
    NoSuchFile { name: String, names: Vec<String> },
    /// The new file cannot take the place of a file of that kind (`was`: photo, animation).
    WrongKind { was: String, file: String },
    /// Buttons under an album: Telegram shows none.
    ButtonsUnderAlbum,
    /// The correction says nothing to change.
    NothingToChange,
    /// A file came with a `delete:` or `unpin:` sidecar.
    FileWithoutEdit { file: String },
}

/// What one correction changes in one channel, for the receipts and `--dry-run`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    pub kind: ChangeKind,
    pub chat: String,
    /// The post's link (its first message).
    pub link: String,
    pub lines: Vec<NoteLine>,
}

/// One thing that changes: `what` (text, caption, buttons, file, deleted, unpinned), from `old`
/// to `new` as a reader sees them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoteLine {
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// One channel's part of a correction, ready for the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub chat: String,
    pub target: crate::journal::DeliveryId,
    pub kind: ChangeKind,
    pub plan: Plan,
    pub note: Note,
}

/// Plans a correction of `posts` (one per channel the post went to) at `now` (seconds since
/// the epoch). Any channel that cannot take it refuses the whole correction: a clerk fixes it
/// once, not per channel.
pub fn plan(posts: &[PostRecord], c: &Correction, now: i64) -> Result<Vec<Planned>, CannotChange> {
    if posts.is_empty() {
        return Err(CannotChange::NotOurs);
    }
    if c.request.kind != ChangeKind::Edit
        && let Some(f) = &c.file
    {
        return Err(CannotChange::FileWithoutEdit {
            file: f.file_name.clone(),
        });
    }
    posts.iter().map(|post| plan_one(post, c, now)).collect()
}

fn plan_one(post: &PostRecord, c: &Correction, now: i64) -> Result<Planned, CannotChange> {
    use crate::journal::BundleState;
    if post.bundle_state == BundleState::Scheduled {
        return Err(CannotChange::Scheduled {
            at: post.publish_at,
        });
    }
    if !post.complete || post.messages.is_empty() {
        return Err(CannotChange::NotOut);
    }
    if post
        .changes
        .iter()
        .any(|x| x.kind == ChangeKind::Delete && x.state != "failed")
    {
        return Err(CannotChange::Deleted);
    }
    let shown = shown(post);
    let link = post.messages[0].link.clone();
    let (messages, lines) = match c.request.kind {
        ChangeKind::Delete => {
            let sent_at = post.sent_at.unwrap_or(now);
            if now - sent_at >= DELETE_LIMIT_SECS - DELETE_MARGIN_SECS {
                return Err(CannotChange::TooOldToDelete { sent_at });
            }
            let messages = shown
                .iter()
                .map(|s| OutMessage::Delete {
                    target: s.target.clone(),
                })
                .collect();
            let old = shown
                .iter()
                .find_map(|s| s.text.as_ref().map(render::visible_text));
            (messages, vec![line("deleted", old, None)])
        }
        ChangeKind::Unpin => (
            vec![OutMessage::Unpin {
                target: shown[0].target.clone(),
            }],
            vec![line("unpinned", None, None)],
        ),
        ChangeKind::Edit => edit(&shown, c)?,
    };
    Ok(Planned {
        chat: post.chat.clone(),
        target: post.delivery_id,
        kind: c.request.kind,
        plan: Plan {
            messages,
            options: Default::default(),
            pin: false,
            pin_until: None,
            preview_notes: Vec::new(),
        },
        note: Note {
            kind: c.request.kind,
            chat: post.chat.clone(),
            link,
            lines,
        },
    })
}

/// A message of a post as the channel shows it now: as it went out, then as every correction
/// made (or on its way: it goes first, in the channel's order) left it.
#[derive(Debug, Clone)]
struct Shown {
    target: Target,
    /// Its text (a text message) or caption (a file).
    text: Option<Rendered>,
    /// `None`: a text message.
    kind: Option<MediaKind>,
    file_name: Option<String>,
    in_album: bool,
    buttons: Vec<Vec<Button>>,
    link_preview: Option<bool>,
}

fn shown(post: &PostRecord) -> Vec<Shown> {
    let mut out: Vec<Shown> = Vec::new();
    for m in &post.messages {
        let target = Target {
            message_id: m.message_id,
            chat_id: m.chat_id,
            link: m.link.clone(),
        };
        let s = match post.plan.messages.get(m.index) {
            Some(OutMessage::Text {
                text,
                link_preview,
                buttons,
            }) => Shown {
                target,
                text: Some(text.clone()),
                kind: None,
                file_name: None,
                in_album: false,
                buttons: buttons.clone(),
                link_preview: *link_preview,
            },
            Some(OutMessage::Media {
                kind,
                file_name,
                caption,
                buttons,
                ..
            }) => Shown {
                target,
                text: caption.clone(),
                kind: Some(*kind),
                file_name: Some(file_name.clone()),
                in_album: false,
                buttons: buttons.clone(),
                link_preview: None,
            },
            Some(OutMessage::Album { items }) => {
                let Some(item) = items.get(m.part) else {
                    continue;
                };
                Shown {
                    target,
                    text: item.caption.clone(),
                    kind: Some(item.kind),
                    file_name: Some(item.file_name.clone()),
                    in_album: true,
                    buttons: Vec::new(),
                    link_preview: None,
                }
            }
            _ => continue,
        };
        out.push(s);
    }
    for change in post.changes.iter().filter(|x| x.state != "failed") {
        for op in &change.plan.messages {
            let Some(id) = op.target().map(|t| t.message_id) else {
                continue;
            };
            let Some(s) = out.iter_mut().find(|s| s.target.message_id == id) else {
                continue;
            };
            match op {
                OutMessage::EditText {
                    text,
                    link_preview,
                    buttons,
                    ..
                } => {
                    s.text = Some(text.clone());
                    s.link_preview = *link_preview;
                    s.buttons = buttons.clone();
                }
                OutMessage::EditCaption {
                    caption, buttons, ..
                } => {
                    s.text = caption.clone();
                    s.buttons = buttons.clone();
                }
                OutMessage::EditButtons { buttons, .. } => s.buttons = buttons.clone(),
                OutMessage::EditMedia {
                    kind,
                    file_name,
                    caption,
                    buttons,
                    ..
                } => {
                    s.kind = Some(*kind);
                    s.file_name = Some(file_name.clone());
                    s.text = caption.clone();
                    s.buttons = buttons.clone();
                }
                _ => {}
            }
        }
    }
    out
}

/// What an edit changes, message by message.
#[derive(Default)]
struct Edit {
    /// `Some(None)`: the caption goes.
    text: Option<Option<Rendered>>,
    file: Option<(NewFile, MediaKind)>,
    buttons: Option<Vec<Vec<Button>>>,
}

fn edit(shown: &[Shown], c: &Correction) -> Result<(Vec<OutMessage>, Vec<NoteLine>), CannotChange> {
    let mut edits: BTreeMap<usize, Edit> = BTreeMap::new();
    let text_messages: Vec<usize> = (0..shown.len())
        .filter(|&i| shown[i].kind.is_none())
        .collect();
    let files: Vec<usize> = (0..shown.len())
        .filter(|&i| shown[i].kind.is_some())
        .collect();

    if let Some(new) = &c.caption {
        let empty = render::visible_len(new) == 0;
        let long_caption_first =
            !text_messages.is_empty() && files.iter().all(|&i| shown[i].text.is_none());
        if files.is_empty() || long_caption_first {
            // The text is in text messages: it stays in as many.
            if empty {
                return Err(CannotChange::EmptyText);
            }
            let parts = render::split(new, render::TEXT_LIMIT);
            if parts.len() != text_messages.len() {
                return Err(CannotChange::TextParts {
                    had: text_messages.len(),
                    needs: parts.len(),
                });
            }
            for (i, part) in text_messages.iter().zip(parts) {
                edits.entry(*i).or_default().text = Some(Some(part));
            }
        } else {
            let len = render::visible_len(new);
            if len > render::CAPTION_LIMIT {
                return Err(CannotChange::CaptionTooLong {
                    len,
                    limit: render::CAPTION_LIMIT,
                });
            }
            let carrier = files
                .iter()
                .copied()
                .find(|&i| shown[i].text.is_some())
                .unwrap_or(files[0]);
            edits.entry(carrier).or_default().text = Some((!empty).then(|| new.clone()));
        }
    }

    if let Some(file) = &c.file {
        if files.is_empty() {
            return Err(CannotChange::NoFileToReplace);
        }
        let names: Vec<String> = files
            .iter()
            .filter_map(|&i| shown[i].file_name.clone())
            .collect();
        let at = match &c.replace {
            Some(name) => files
                .iter()
                .copied()
                .find(|&i| {
                    shown[i]
                        .file_name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
                .ok_or_else(|| CannotChange::NoSuchFile {
                    name: name.clone(),
                    names: names.clone(),
                })?,
            None if files.len() == 1 => files[0],
            None => return Err(CannotChange::WhichFile { names }),
        };
        let kind = match shown[at].kind {
            Some(MediaKind::Photo) if file.photo => MediaKind::Photo,
            Some(MediaKind::Animation) if file.animation => MediaKind::Animation,
            Some(MediaKind::Document) | None => MediaKind::Document,
            Some(was) => {
                return Err(CannotChange::WrongKind {
                    was: match was {
                        MediaKind::Photo => "photo",
                        MediaKind::Animation => "animation",
                        MediaKind::Document => "document",
                    }
                    .into(),
                    file: file.file_name.clone(),
                });
            }
        };
        edits.entry(at).or_default().file = Some((file.clone(), kind));
    }

    if let Some(buttons) = &c.buttons {
        // Buttons go under the last message, the one a reader sees at the bottom.
        let last = shown.len() - 1;
        if shown[last].in_album {
            if !buttons.is_empty() {
                return Err(CannotChange::ButtonsUnderAlbum);
            }
        } else if *buttons != shown[last].buttons {
            edits.entry(last).or_default().buttons = Some(buttons.clone());
        }
    }

    let mut messages = Vec::new();
    let mut lines = Vec::new();
    for (i, e) in edits {
        let s = &shown[i];
        let buttons = e.buttons.clone().unwrap_or_else(|| s.buttons.clone());
        let text = e.text.clone().unwrap_or_else(|| s.text.clone());
        if let Some(new) = &e.text {
            lines.push(line(
                if s.kind.is_none() { "text" } else { "caption" },
                s.text.as_ref().map(render::visible_text),
                new.as_ref().map(render::visible_text),
            ));
        }
        if let Some(new) = &e.buttons {
            lines.push(line(
                "buttons",
                shown_buttons(&s.buttons),
                shown_buttons(new),
            ));
        }
        let target = s.target.clone();
        let msg = match (e.file, s.kind) {
            (Some((file, kind)), _) => {
                lines.push(line(
                    "file",
                    s.file_name.clone(),
                    Some(file.file_name.clone()),
                ));
                OutMessage::EditMedia {
                    target,
                    kind,
                    path: file.path,
                    file_name: file.file_name,
                    caption: text,
                    buttons,
                }
            }
            (None, None) if e.text.is_some() => OutMessage::EditText {
                target,
                text: text.unwrap_or_else(|| Rendered {
                    text: String::new(),
                    parse_mode: None,
                }),
                link_preview: c.link_preview.or(s.link_preview),
                buttons,
            },
            (None, Some(_)) if e.text.is_some() => OutMessage::EditCaption {
                target,
                caption: text,
                buttons,
            },
            _ => OutMessage::EditButtons { target, buttons },
        };
        messages.push(msg);
    }
    if messages.is_empty() {
        return Err(CannotChange::NothingToChange);
    }
    Ok((messages, lines))
}

fn line(what: &str, old: Option<String>, new: Option<String>) -> NoteLine {
    NoteLine {
        what: what.into(),
        old,
        new,
    }
}

/// Buttons as a reader sees them: `Details (https://…); Map (https://…)`; none: `None`.
fn shown_buttons(rows: &[Vec<Button>]) -> Option<String> {
    let all: Vec<String> = rows
        .iter()
        .flatten()
        .map(|b| format!("{} ({})", b.text, b.url))
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// `--dry-run` and `check`: what a correction would change, old → new.
pub fn describe(notes: &[Note], lang: crate::config::Language) -> String {
    use crate::messages::check as words;
    let mut out = String::new();
    let shown = |v: &Option<String>| v.as_deref().map_or(words::none(lang).into(), one_line);
    for n in notes {
        out.push_str(&format!(
            "  {} {} ({})\n",
            words::change_key(lang, n.kind),
            n.link,
            n.chat
        ));
        for l in &n.lines {
            let what = words::changed(lang, &l.what);
            match (&l.old, &l.new) {
                (None, None) => out.push_str(&format!("    {what}\n")),
                (old, new) => {
                    out.push_str(&format!("    {what}: {} → {}\n", shown(old), shown(new)))
                }
            }
        }
    }
    out
}

fn one_line(s: &str) -> String {
    let flat = s.replace('\n', " ⏎ ");
    if flat.chars().count() > 100 {
        format!("\"{}…\"", flat.chars().take(100).collect::<String>())
    } else {
        format!("\"{flat}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(name: &str, id: i64) -> PostRef {
        PostRef::Public {
            username: name.into(),
            message_id: id,
        }
    }

    #[test]
    fn links_as_receipts_and_copy_link_give_them() {
        for link in [
            "https://t.me/town_news/123",
            "http://t.me/town_news/123",
            "t.me/town_news/123",
            "https://t.me/town_news/123?single",
            "https://telegram.me/town_news/123",
            "https://www.t.me/town_news/123/",
            "  https://t.me/town_news/123  ",
        ] {
            assert_eq!(parse(link), Ok(public("town_news", 123)), "{link}");
        }
        assert_eq!(
            parse("https://t.me/c/1234567890/45"),
            Ok(PostRef::Private {
                chat_id: -1001234567890,
                message_id: 45
            })
        );
        assert_eq!(
            parse("https://t.me/c/1234567890/7/45?thread=7"),
            Ok(PostRef::Private {
                chat_id: -1001234567890,
                message_id: 45
            })
        );
    }

    #[test]
    fn file_names_name_archived_bundles() {
        assert_eq!(parse("notice.pdf"), Ok(PostRef::File("notice.pdf".into())));
        assert_eq!(
            parse("notice (2).pdf"),
            Ok(PostRef::File("notice (2).pdf".into()))
        );
    }

    use crate::journal::{BundleState, DeliveryId, PostRecord, SentMessage};
    use crate::post::SendOptions;

    fn rendered(text: &str) -> Rendered {
        Rendered {
            text: text.into(),
            parse_mode: None,
        }
    }

    /// A text post of `parts` messages, sent `age` seconds before 1_000_000.
    fn text_post(parts: usize, age: i64) -> PostRecord {
        PostRecord {
            delivery_id: DeliveryId(1),
            bundle_id: crate::journal::BundleId(1),
            bundle: "notice.yaml".into(),
            bundle_state: BundleState::Archived,
            chat: "@town_news".into(),
            plan: Plan {
                messages: (0..parts)
                    .map(|i| OutMessage::Text {
                        text: rendered(&format!("part {i}")),
                        link_preview: None,
                        buttons: vec![],
                    })
                    .collect(),
                options: SendOptions::default(),
                pin: false,
                pin_until: None,
                preview_notes: Vec::new(),
            },
            messages: (0..parts)
                .map(|i| SentMessage {
                    index: i,
                    part: 0,
                    message_id: 10 + i as i64,
                    chat_id: -100,
                    link: format!("https://t.me/town_news/{}", 10 + i),
                })
                .collect(),
            sent_at: Some(1_000_000 - age),
            complete: true,
            receipt: None,
            changes: vec![],
            publish_at: None,
        }
    }

    fn correction(kind: ChangeKind, caption: Option<&str>) -> Correction {
        Correction {
            request: ChangeRequest {
                kind,
                target: PostRef::File("notice.yaml".into()),
                written: "notice.yaml".into(),
            },
            caption: caption.map(rendered),
            buttons: None,
            link_preview: None,
            file: None,
            replace: None,
        }
    }

    #[test]
    fn a_deletion_is_refused_before_asking_once_telegram_would_refuse_it() {
        let at = 1_000_000;
        let ok = plan(
            &[text_post(2, 47 * 3600)],
            &correction(ChangeKind::Delete, None),
            at,
        )
        .unwrap();
        assert_eq!(ok[0].plan.messages.len(), 2, "every message of the post");
        assert_eq!(
            plan(
                &[text_post(1, 48 * 3600)],
                &correction(ChangeKind::Delete, None),
                at
            ),
            Err(CannotChange::TooOldToDelete {
                sent_at: at - 48 * 3600
            })
        );
        // Edits have no such limit.
        assert!(
            plan(
                &[text_post(1, 400 * 3600)],
                &correction(ChangeKind::Edit, Some("x")),
                at
            )
            .is_ok()
        );
    }

    #[test]
    fn a_text_post_is_corrected_message_for_message() {
        let at = 1_000_000;
        let long = "word ".repeat(1000);
        assert_eq!(
            plan(
                &[text_post(1, 0)],
                &correction(ChangeKind::Edit, Some(&long)),
                at
            ),
            Err(CannotChange::TextParts { had: 1, needs: 2 })
        );
        assert_eq!(
            plan(&[text_post(1, 0)], &correction(ChangeKind::Edit, None), at),
            Err(CannotChange::NothingToChange)
        );
        assert_eq!(
            plan(
                &[text_post(1, 0)],
                &correction(ChangeKind::Edit, Some("  ")),
                at
            ),
            Err(CannotChange::EmptyText)
        );
        let done = plan(
            &[text_post(1, 0)],
            &correction(ChangeKind::Edit, Some("new")),
            at,
        )
        .unwrap();
        assert!(matches!(
            &done[0].plan.messages[..],
            [OutMessage::EditText { target, .. }] if target.message_id == 10
        ));
        assert_eq!(
            done[0].note.lines,
            vec![NoteLine {
                what: "text".into(),
                old: Some("part 0".into()),
                new: Some("new".into())
            }]
        );
    }

    #[test]
    fn archive_names_and_their_numbers() {
        assert_eq!(split_numbered("notice (2).pdf"), ("notice.pdf".into(), 2));
        assert_eq!(split_numbered("notice.pdf"), ("notice.pdf".into(), 1));
        assert_eq!(split_numbered("a (b).pdf"), ("a (b).pdf".into(), 1));
        assert_eq!(
            split_numbered("avviso (12).yaml"),
            ("avviso.yaml".into(), 12)
        );
        let at = |r: &str| std::path::PathBuf::from(format!("/a/2026/12/{r}"));
        assert_eq!(
            archived_name("notice.pdf", &at("notice.receipt.yaml")).as_deref(),
            Some("notice.pdf")
        );
        assert_eq!(
            archived_name("notice.pdf", &at("notice (3).receipt.yaml")).as_deref(),
            Some("notice (3).pdf")
        );
        assert_eq!(
            archived_name("memo.pdf.yaml", &at("memo.pdf (2).receipt.yaml")).as_deref(),
            Some("memo.pdf (2).yaml")
        );
    }

    #[test]
    fn what_names_no_post_says_why() {
        for (value, says) in [
            ("https://t.me/town_news", "not to one of its posts"),
            ("https://t.me/town_news/abc", "not the number of a post"),
            ("https://t.me/town_news/0", "not the number of a post"),
            ("https://example.com/town_news/12", "not a link to a post"),
            ("https://t.me/+AbCdEf", "not a link to a post"),
            ("../etc/passwd", "neither a link"),
            ("", "empty"),
        ] {
            let Err(NotAPost(why)) = parse(value) else {
                panic!("{value} accepted")
            };
            assert!(why.en.contains(says), "{value}: {why:?}");
            assert!(!why.it.is_empty() && why.it != why.en, "{value}: {why:?}");
        }
    }
}
