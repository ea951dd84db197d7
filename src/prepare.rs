//! From settled files to a bundle ready to post: read and validate the sidecar, check the media
//! file's content and size, hash every file, pick the channels, render the caption, plan the
//! requests. Everything that can be known before sending is checked here, so that `check` and
//! `--dry-run` see the same errors as the daemon.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::bundle::MediaType;
use crate::config::{Config, Inbox};
use crate::journal::Plan;
use crate::messages::Problem;
use crate::post::{
    AlbumItem, Button, MediaKind, OutMessage, Rendered, SendAs, SendOptions, Sidecar,
};
use crate::render;
use crate::sidecar;
use crate::spool;

/// Telegram's upload limit through the public Bot API, and through a Local Bot API server.
pub const UPLOAD_LIMIT: u64 = 50 * 1024 * 1024;
pub const LOCAL_UPLOAD_LIMIT: u64 = 2000 * 1024 * 1024;

/// Settled files that belong together, found by the pairing rules.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Index into `config.inboxes`.
    pub inbox: usize,
    pub media: Option<(PathBuf, MediaType)>,
    pub sidecar: Option<PathBuf>,
    /// Files the sidecar's `attachments:` pulls into the same post, in the sidecar's order.
    pub attachments: Vec<(PathBuf, MediaType)>,
    /// Refused by the pairing rules before anything is read (a sidecar or attachment overdue).
    pub refuse: Option<Problem>,
}

impl Candidate {
    /// A bundle of one file (a media file or a sidecar), with no attachments.
    pub fn lone(
        inbox: usize,
        media: Option<(PathBuf, MediaType)>,
        sidecar: Option<PathBuf>,
    ) -> Candidate {
        Candidate {
            inbox,
            media,
            sidecar,
            attachments: Vec::new(),
            refuse: None,
        }
    }

    /// The name reports and logs use: the media file's name, else the sidecar's.
    pub fn name(&self) -> String {
        self.media
            .as_ref()
            .map(|(p, _)| p)
            .or(self.sidecar.as_ref())
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.media
            .iter()
            .map(|(p, _)| p.clone())
            .chain(self.sidecar.clone())
            .chain(self.attachments.iter().map(|(p, _)| p.clone()))
            .collect()
    }
}

/// A file that was read and hashed.
#[derive(Debug, Clone)]
pub struct Hashed {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Inode, size, mtime and ctime of the file that was read, to notice a file replaced or
    /// rewritten between reading and moving it.
    pub identity: Option<Identity>,
}

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub inode: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl Identity {
    pub fn of(meta: &std::fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            inode: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        }
    }
}

/// A file is no longer the one that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// It is gone.
    Gone(String),
    /// It was replaced or is still being written: let it settle again.
    Rewritten,
}

/// Checks that every file is still exactly the version that was hashed.
pub fn still_same(files: &[Hashed]) -> Result<(), Changed> {
    for f in files {
        let Some(id) = f.identity else { continue };
        match std::fs::symlink_metadata(&f.path) {
            Err(_) => return Err(Changed::Gone(file_name(&f.path))),
            Ok(m) if Identity::of(&m) != id => return Err(Changed::Rewritten),
            Ok(_) => {}
        }
    }
    Ok(())
}

/// A bundle that passed every check: what to post, where, and the files' hashes.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub name: String,
    pub files: Vec<Hashed>,
    pub plan: Plan,
    pub chats: Vec<String>,
    pub digest: String,
    pub repost: bool,
    /// A time in the future: the bundle waits in `scheduled/` until then.
    pub publish_at: Option<jiff::Timestamp>,
    /// A correction (`edit:`, `delete:`, `unpin:`): what it brings. The preparer finds the post
    /// in the journal and plans `changes`.
    pub correction: Option<crate::change::Correction>,
    pub changes: Vec<crate::change::Planned>,
}

/// A bundle refused before posting, with the files it concerns (those that still exist).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub name: String,
    pub problem: Problem,
    pub files: Vec<PathBuf>,
}

/// Why a candidate does not go on.
#[derive(Debug, Clone)]
pub enum Rejected {
    /// For good: to `failed/` with a report.
    Refused(Refusal),
    /// Not a refusal: a file changed while it was read; it settles again and is taken anew.
    SettleAgain { name: String, reason: String },
}

impl From<Refusal> for Rejected {
    fn from(r: Refusal) -> Rejected {
        Rejected::Refused(r)
    }
}

/// Why a media file cannot be taken as it is.
enum Unfit {
    Refused(Problem),
    /// It changed while it was read: let it settle again.
    Changing,
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Opens a file for reading without following symlinks, and only if it is a regular file.
pub fn open_regular(path: &Path) -> std::io::Result<(File, u64)> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((f, meta.len()))
}

/// Streams a file through SHA-256; also returns its first bytes for content checks.
fn hash(path: &Path) -> std::io::Result<(Hashed, Vec<u8>)> {
    let (mut f, _) = open_regular(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < 1024 {
            let take = (1024 - head.len()).min(n);
            head.extend_from_slice(&buf[..take]);
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    // The size the file has now, from the open file (which also makes NFS refresh it): a file
    // still growing, or shrunk, was not complete; it settles again.
    let meta = f.metadata()?;
    if meta.len() != size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "the file changed while it was being read",
        ));
    }
    Ok((
        Hashed {
            path: path.to_path_buf(),
            sha256: hex::encode(hasher.finalize()),
            size,
            identity: Some(Identity::of(&meta)),
        },
        head,
    ))
}

/// Reads and validates a sidecar file.
pub fn read_sidecar(path: &Path, config: &Config) -> Result<(Sidecar, Hashed), Problem> {
    let name = file_name(path);
    let unreadable =
        |e: std::io::Error| Problem::unreadable_io(name.clone(), e.to_string(), e.kind());
    let (f, size) = open_regular(path).map_err(unreadable)?;
    let identity = f.metadata().ok().map(|m| Identity::of(&m));
    if size > sidecar::MAX_SIDECAR_BYTES as u64 {
        return Err(Problem::BadSidecar {
            file: name.clone(),
            errors: vec![sidecar::SidecarError::too_large(size.div_ceil(1024))],
            detail: String::new(),
        });
    }
    let mut bytes = Vec::new();
    f.take(sidecar::MAX_SIDECAR_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    let aliases = config.aliases();
    let parsed = sidecar::parse(
        &bytes,
        &sidecar::Rules {
            channel_aliases: &aliases,
        },
    )
    .map_err(|errors| Problem::BadSidecar {
        file: name.clone(),
        errors,
        detail: String::new(),
    })?;
    let hashed = Hashed {
        path: path.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        identity,
    };
    Ok((parsed, hashed))
}

/// Expands a folder's default caption template: `{stem}`, `{date}`, `{time}`.
pub fn default_caption(template: &str, media: &Path, config: &Config) -> String {
    let now = jiff::Timestamp::now().to_zoned_datetime(config.timezone.clone());
    let stem = media
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    template
        .replace("{stem}", &stem)
        .replace("{date}", &now.strftime("%Y-%m-%d").to_string())
        .replace("{time}", &now.strftime("%H:%M").to_string())
}

/// The channels of a bundle: the sidecar's, else the subfolder's route, else the inbox's.
fn channels(sidecar: &Sidecar, inbox: &Inbox, path: &Path, config: &Config) -> Vec<String> {
    let refs: Vec<String> = if !sidecar.channels.is_empty() {
        sidecar.channels.clone()
    } else {
        let routed = path
            .strip_prefix(&inbox.path)
            .ok()
            .and_then(|rel| {
                let mut parts = rel.components();
                let first = parts.next()?;
                // Only a folder routes: a file directly in the inbox has one component.
                parts.next()?;
                first.as_os_str().to_str()
            })
            .and_then(|dir| inbox.channels.get(dir).cloned());
        match routed.or_else(|| inbox.channel.clone()) {
            Some(c) => vec![c],
            None => config.channels.keys().take(1).cloned().collect(),
        }
    };
    let mut chats = Vec::new();
    for r in refs {
        if let Some(chat) = config.resolve_channel(&r)
            && !chats.contains(&chat)
        {
            chats.push(chat);
        }
    }
    chats
}

/// Checks everything about a candidate that can be known without sending.
pub fn prepare(c: &Candidate, config: &Config) -> Result<Prepared, Rejected> {
    let name = c.name();
    let refuse = |problem: Problem| {
        Rejected::Refused(Refusal {
            name: name.clone(),
            problem,
            files: c.paths(),
        })
    };
    let inbox = &config.inboxes[c.inbox];
    let mut files = Vec::new();

    let (sidecar, from_sidecar) = match &c.sidecar {
        Some(path) => {
            let (s, h) = read_sidecar(path, config).map_err(&refuse)?;
            files.push(h);
            (s, true)
        }
        None => {
            let media = c
                .media
                .as_ref()
                .map(|(p, _)| p.as_path())
                .unwrap_or(Path::new(""));
            (
                Sidecar {
                    caption: Some(default_caption(&inbox.caption, media, config)),
                    format: crate::post::Format::Plain,
                    ..Sidecar::default()
                },
                false,
            )
        }
    };
    let sidecar_name = c.sidecar.as_deref().map(file_name).unwrap_or_default();
    let media_files = read_media(c, config, &refuse)?;
    if let Some(request) = sidecar.change.clone() {
        files.splice(0..0, media_files.iter().map(|(h, _)| h.clone()));
        return correction(c, config, &sidecar, request, files, &media_files).map_err(&refuse);
    }
    if !sidecar.buttons.is_empty() && media_files.len() > 1 {
        return Err(refuse(Problem::BadSidecar {
            file: sidecar_name.clone(),
            errors: vec![sidecar::SidecarError::buttons_under_album()],
            detail: String::new(),
        }));
    }
    for (i, (h, _)) in media_files.iter().enumerate() {
        files.insert(i, h.clone());
    }

    let source = sidecar.caption.clone().unwrap_or_default();
    let caption = render::render(&source, sidecar.format).map_err(|e| {
        refuse(Problem::CaptionProblem {
            file: if from_sidecar {
                sidecar_name.clone()
            } else {
                name.clone()
            },
            detail: e.to_string(),
            detail_it: Some(e.italian().into()),
        })
    })?;
    let empty_caption = render::visible_len(&caption) == 0;
    if media_files.is_empty() && empty_caption {
        return Err(refuse(Problem::NothingToPost {
            file: sidecar_name.clone(),
        }));
    }

    let chats = channels(
        &sidecar,
        inbox,
        c.media
            .as_ref()
            .map(|(p, _)| p)
            .or(c.sidecar.as_ref())
            .map(PathBuf::as_path)
            .unwrap_or(Path::new("")),
        config,
    );
    if chats.is_empty() {
        return Err(refuse(Problem::BadSidecar {
            file: sidecar_name.clone(),
            errors: vec![sidecar::SidecarError::no_channel()],
            detail: String::new(),
        }));
    }

    let kinds: Vec<MediaKind> = media_files
        .iter()
        .map(|(h, ty)| media_kind(sidecar.send_as, *ty, &h.path, h.size))
        .collect();
    let mode = sidecar.preview.unwrap_or(inbox.preview);
    let previews = previews(&media_files, &kinds, mode, config);
    let preview_notes: Vec<String> = media_files
        .iter()
        .zip(&previews)
        .filter_map(|((h, _), p)| {
            p.missing
                .as_ref()
                .map(|why| format!("{}: no preview ({why})", file_name(&h.path)))
        })
        .collect();
    let messages = plan_messages(
        &sidecar,
        caption,
        empty_caption,
        &media_files,
        &kinds,
        &previews,
    );
    let digest = digest(&source, &media_files);
    let now = jiff::Timestamp::now();
    let publish_at = sidecar
        .publish_at
        .as_ref()
        .and_then(|p| p.resolve(&config.timezone))
        .filter(|t| *t > now);
    let pin_until = sidecar
        .pin_until
        .as_ref()
        .and_then(|p| p.resolve(&config.timezone));
    if let Some(until) = pin_until
        && until <= publish_at.unwrap_or(now)
    {
        let when = until
            .to_zoned_datetime(config.timezone.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string();
        return Err(refuse(Problem::BadSidecar {
            file: sidecar_name.clone(),
            errors: vec![sidecar::SidecarError::pin_ends_too_soon(&when)],
            detail: String::new(),
        }));
    }
    Ok(Prepared {
        name,
        files,
        plan: Plan {
            messages,
            options: SendOptions {
                silent: sidecar.silent,
                protect: sidecar.protect,
            },
            pin: sidecar.pin,
            pin_until: pin_until.map(|t| t.as_second()),
            preview_notes,
        },
        chats,
        digest,
        repost: sidecar.repost,
        publish_at,
        correction: None,
        changes: Vec::new(),
    })
}

/// A correction bundle (`edit:`, `delete:`, `unpin:`): its sidecar, and for an edit at most one
/// file that replaces one of the post's. The post itself is found later, in the journal.
fn correction(
    c: &Candidate,
    config: &Config,
    sidecar: &Sidecar,
    request: crate::post::ChangeRequest,
    files: Vec<Hashed>,
    media_files: &[(Hashed, MediaType)],
) -> Result<Prepared, Problem> {
    let sidecar_name = c.sidecar.as_deref().map(file_name).unwrap_or_default();
    let caption =
        match &sidecar.caption {
            Some(source) => Some(render::render(source, sidecar.format).map_err(|e| {
                Problem::CaptionProblem {
                    file: sidecar_name.clone(),
                    detail: e.to_string(),
                    detail_it: Some(e.italian().into()),
                }
            })?),
            None => None,
        };
    let file = media_files.first().map(|(h, ty)| crate::change::NewFile {
        path: h.path.clone(),
        file_name: file_name(&h.path),
        photo: media_kind(crate::post::SendAs::Auto, *ty, &h.path, h.size) == MediaKind::Photo
            && sidecar.send_as != crate::post::SendAs::Document,
        animation: *ty == MediaType::Gif,
    });
    // Two corrections of the same post with the same words are the same correction.
    let digest = {
        let mut h = Sha256::new();
        h.update(request.kind.key());
        h.update(request.written.as_bytes());
        for f in &files {
            h.update(f.sha256.as_bytes());
        }
        format!("change:{}", hex::encode(h.finalize()))
    };
    let _ = config;
    Ok(Prepared {
        name: c.name(),
        files,
        plan: Plan {
            messages: Vec::new(),
            options: SendOptions::default(),
            pin: false,
            pin_until: None,
            preview_notes: Vec::new(),
        },
        chats: Vec::new(),
        digest,
        repost: true,
        publish_at: None,
        correction: Some(crate::change::Correction {
            request,
            caption,
            buttons: sidecar.buttons_given.then(|| sidecar.buttons.clone()),
            link_preview: sidecar.link_preview,
            file,
            replace: sidecar.replace.clone(),
        }),
        changes: Vec::new(),
    })
}

/// The media file first, then the attachments in the sidecar's order, each read through and
/// checked.
fn read_media(
    c: &Candidate,
    config: &Config,
    refuse: &dyn Fn(Problem) -> Rejected,
) -> Result<Vec<(Hashed, MediaType)>, Rejected> {
    let mut media_files = Vec::new();
    for (path, ty) in c.media.iter().chain(c.attachments.iter()) {
        let h = check_media(path, *ty, config).map_err(|u| match u {
            Unfit::Refused(p) => refuse(p),
            Unfit::Changing => Rejected::SettleAgain {
                name: c.name(),
                reason: Problem::unreadable(
                    file_name(path),
                    "it changed while it was read",
                    "è cambiato mentre veniva letto",
                )
                .summary(),
            },
        })?;
        media_files.push((h, *ty));
    }
    Ok(media_files)
}

/// What makes two bundles the same post for the duplicate check: the set of files' hashes, or
/// the text of a text post.
fn digest(source: &str, media_files: &[(Hashed, MediaType)]) -> String {
    if media_files.is_empty() {
        format!(
            "text:{}",
            hex::encode(Sha256::digest(source.trim().as_bytes()))
        )
    } else {
        let mut shas: Vec<&str> = media_files.iter().map(|(h, _)| h.sha256.as_str()).collect();
        shas.sort_unstable();
        format!("files:{}", shas.join(","))
    }
}

/// Reads a media file through: not empty, content matching its extension, within the upload
/// limit; returns its hash.
fn check_media(path: &Path, ty: MediaType, config: &Config) -> Result<Hashed, Unfit> {
    let file = file_name(path);
    let (h, head) = hash(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::Interrupted {
            Unfit::Changing
        } else {
            Unfit::Refused(Problem::unreadable_io(
                file.clone(),
                e.to_string(),
                e.kind(),
            ))
        }
    })?;
    if h.size == 0 {
        return Err(Unfit::Refused(Problem::EmptyFile { file }));
    }
    if !ty.matches_content(&head) {
        return Err(Unfit::Refused(Problem::WrongContent {
            file,
            expected: ty.label().into(),
        }));
    }
    let limit = if config.local_files {
        LOCAL_UPLOAD_LIMIT
    } else {
        UPLOAD_LIMIT
    };
    if h.size > limit {
        return Err(Unfit::Refused(Problem::TooLarge {
            file,
            size_mb: h.size.div_ceil(1024 * 1024),
            limit_mb: limit / (1024 * 1024),
        }));
    }
    Ok(h)
}

/// The requests of one post, in order. A caption too long for media goes first as text
/// messages (split at paragraph, sentence, word boundaries), then the media without caption.
/// Several files become albums: photos first, then documents (Telegram does not mix them), at
/// most 10 per album; the caption goes on the first item. Buttons go under the last message,
/// the one a reader sees at the bottom.
fn plan_messages(
    sidecar: &Sidecar,
    caption: Rendered,
    empty_caption: bool,
    media: &[(Hashed, MediaType)],
    kinds: &[MediaKind],
    previews: &[FilePreview],
) -> Vec<OutMessage> {
    let mut out = Vec::new();
    let buttons: Vec<Vec<Button>> = sidecar.buttons.clone();
    if media.is_empty() {
        let parts = render::split(&caption, render::TEXT_LIMIT);
        let last = parts.len().saturating_sub(1);
        for (i, text) in parts.into_iter().enumerate() {
            out.push(OutMessage::Text {
                text,
                link_preview: sidecar.link_preview,
                buttons: if i == last { buttons.clone() } else { vec![] },
            });
        }
        return out;
    }
    let mut caption = if empty_caption {
        None
    } else if render::visible_len(&caption) <= render::CAPTION_LIMIT {
        Some(caption)
    } else {
        for text in render::split(&caption, render::TEXT_LIMIT) {
            out.push(OutMessage::Text {
                text,
                link_preview: Some(false),
                buttons: vec![],
            });
        }
        None
    };
    if media.len() == 1 {
        // `preview: page`: the first page as a photo carrying the caption, the file right after
        // it (with the buttons, under the last message as always).
        if let Some(page) = &previews[0].page {
            out.push(OutMessage::Media {
                kind: MediaKind::Photo,
                path: page.clone(),
                file_name: format!("{}.jpg", crate::bundle::stem(&file_name(&media[0].0.path))),
                caption: caption.take(),
                buttons: vec![],
                thumbnail: None,
            });
        }
        out.push(OutMessage::Media {
            kind: kinds[0],
            path: media[0].0.path.clone(),
            file_name: file_name(&media[0].0.path),
            caption,
            buttons,
            thumbnail: previews[0].thumbnail.clone(),
        });
        return out;
    }
    // In an album a GIF cannot animate: it goes with the documents.
    let item = |i: usize, kind: MediaKind| AlbumItem {
        kind,
        path: media[i].0.path.clone(),
        file_name: file_name(&media[i].0.path),
        caption: None,
        thumbnail: (kind == MediaKind::Document)
            .then(|| previews[i].thumbnail.clone())
            .flatten(),
    };
    let photos: Vec<AlbumItem> = (0..media.len())
        .filter(|&i| kinds[i] == MediaKind::Photo)
        .map(|i| item(i, MediaKind::Photo))
        .collect();
    let documents: Vec<AlbumItem> = (0..media.len())
        .filter(|&i| kinds[i] != MediaKind::Photo)
        .map(|i| item(i, MediaKind::Document))
        .collect();
    for group in [photos, documents] {
        for chunk in group.chunks(ALBUM_MAX) {
            let mut items = chunk.to_vec();
            items[0].caption = caption.take();
            if let [single] = items.as_slice() {
                out.push(OutMessage::Media {
                    kind: single.kind,
                    path: single.path.clone(),
                    file_name: single.file_name.clone(),
                    caption: single.caption.clone(),
                    buttons: vec![],
                    thumbnail: single.thumbnail.clone(),
                });
            } else {
                out.push(OutMessage::Album { items });
            }
        }
    }
    out
}

/// The previews of one file: found in, or rendered into, the state folder's `previews/`.
#[derive(Debug, Clone, Default)]
struct FilePreview {
    thumbnail: Option<PathBuf>,
    page: Option<PathBuf>,
    /// Why there is none, for the receipt.
    missing: Option<String>,
}

/// How long the previews of one bundle may take in all: past it, the rest go without one.
const PREVIEW_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// The previews of a bundle's files, per `mode`: a thumbnail for every file that goes as a
/// document (PDF, TIFF, an image sent as a file), and with `preview: page` the first page of a
/// lone file as a photo. Rendered by dropcast itself in a child process with a time limit and a
/// memory cap (`render_pool`: long-lived workers, a process of its own for a big file), cached by the file's SHA-256 in
/// `state_dir/previews/`, so that a retry or another channel does not render again. Nothing is
/// rendered where that folder does not exist (`check`, a dry run before any run): a preview is
/// never a reason for a post to fail.
fn previews(
    media: &[(Hashed, MediaType)],
    kinds: &[MediaKind],
    mode: crate::post::Preview,
    config: &Config,
) -> Vec<FilePreview> {
    use crate::preview::{Size, Source};
    let dir = config.state_dir.join(PREVIEWS_DIR);
    let started = std::time::Instant::now();
    let mut out = Vec::with_capacity(media.len());
    for (i, (h, ty)) in media.iter().enumerate() {
        let source = match ty {
            MediaType::Pdf => Some(Source::Pdf),
            MediaType::Tiff => Some(Source::Tiff),
            MediaType::Jpeg | MediaType::Png | MediaType::Webp | MediaType::Gif => {
                Some(Source::Image)
            }
            MediaType::Accepted => None,
        };
        let (Some(source), true, true) = (
            source,
            kinds[i] == MediaKind::Document,
            mode != crate::post::Preview::None && dir.is_dir(),
        ) else {
            out.push(FilePreview::default());
            continue;
        };
        let mut p = FilePreview::default();
        let mut sizes = vec![(Size::Thumbnail, "thumb")];
        if mode == crate::post::Preview::Page && media.len() == 1 {
            sizes.push((Size::Page, "page"));
        }
        for (size, label) in sizes {
            let path = dir.join(format!("{}.{label}.jpg", h.sha256));
            let got = if path.is_file() {
                Ok(path)
            } else if started.elapsed() > PREVIEW_BUDGET {
                Err(crate::preview::NoPreview(
                    "the bundle's previews took too long".into(),
                ))
            } else {
                crate::render_pool::global()
                    .render(&h.path, source, size)
                    .and_then(|preview| {
                        spool::write_own_file(&path, &preview.jpeg)
                            .map(|()| path)
                            .map_err(|e| crate::preview::NoPreview(format!("cannot keep it: {e}")))
                    })
            };
            match (got, size) {
                (Ok(path), Size::Thumbnail) => p.thumbnail = Some(path),
                (Ok(path), Size::Page) => p.page = Some(path),
                (Err(why), _) => {
                    tracing::info!(file = %h.path.display(), reason = %why, "posted without a preview");
                    p.missing.get_or_insert(why.0);
                }
            }
        }
        out.push(p);
    }
    out
}

/// Where previews are kept, in the state folder.
pub const PREVIEWS_DIR: &str = "previews";

/// Telegram's most items in one album.
const ALBUM_MAX: usize = 10;

/// Photo or document: images Telegram accepts as photos go as photos (unless the sidecar says
/// otherwise); GIFs as animations, so they play; everything else as a document.
fn media_kind(send_as: SendAs, ty: MediaType, path: &Path, size: u64) -> MediaKind {
    let photo_type = matches!(ty, MediaType::Jpeg | MediaType::Png | MediaType::Webp);
    match send_as {
        SendAs::Document => MediaKind::Document,
        SendAs::Photo if photo_type => MediaKind::Photo,
        SendAs::Photo => MediaKind::Document,
        SendAs::Auto if photo_type => {
            let dims = crate::image_header::image_dimensions(path).ok().flatten();
            if crate::telegram::photo_acceptable(size, dims) {
                MediaKind::Photo
            } else {
                MediaKind::Document
            }
        }
        SendAs::Auto if ty == MediaType::Gif => MediaKind::Animation,
        SendAs::Auto => MediaKind::Document,
    }
}

/// What a prepared bundle would do, for `check` (in the clerk's language) and `--dry-run` (in
/// English), a scheduled time in the office's time zone.
pub fn describe(p: &Prepared, lang: crate::config::Language, config: &Config) -> String {
    use crate::messages::check as words;
    if let Some(c) = &p.correction {
        let notes: Vec<crate::change::Note> = p.changes.iter().map(|x| x.note.clone()).collect();
        return format!(
            "{} → {} {}\n{}",
            p.name,
            words::change_key(lang, c.request.kind),
            c.request.written,
            crate::change::describe(&notes, lang)
        );
    }
    let mut out = format!("{} → {}\n", p.name, p.chats.join(", "));
    if let Some(at) = p.publish_at {
        let when = at.to_zoned_datetime(config.timezone.clone());
        out.push_str(&format!("  {}\n", words::scheduled(lang, &when)));
    }
    let caption = |c: &Rendered| format!(" {}: {}", words::with_caption(lang), one_line(&c.text));
    let buttons = |out: &mut String, rows: &[Vec<crate::post::Button>]| {
        for b in rows.iter().flatten() {
            out.push_str(&format!("    [{}]({})\n", b.text, b.url));
        }
    };
    for m in &p.plan.messages {
        match m {
            OutMessage::Text {
                text,
                buttons: rows,
                ..
            } => {
                out.push_str(&format!(
                    "  {}: {}\n",
                    words::message(lang, None),
                    one_line(&text.text)
                ));
                buttons(&mut out, rows);
            }
            OutMessage::Album { items } => {
                out.push_str(&format!("  {}:", words::album(lang)));
                for item in items {
                    out.push_str(&format!(
                        " {} ({})",
                        item.file_name,
                        kind_word(lang, item.kind)
                    ));
                }
                if let Some(c) = items.first().and_then(|i| i.caption.as_ref()) {
                    out.push_str(&caption(c));
                }
                out.push('\n');
            }
            OutMessage::Media {
                kind,
                file_name,
                caption: text,
                buttons: rows,
                ..
            } => {
                out.push_str(&format!(
                    "  {}: {file_name}",
                    words::message(lang, Some(*kind))
                ));
                if let Some(c) = text {
                    out.push_str(&caption(c));
                }
                out.push('\n');
                buttons(&mut out, rows);
            }
            // Corrections are described by their notes, above.
            _ => {}
        }
    }
    let o = &p.plan.options;
    if o.silent || o.protect || p.plan.pin {
        out.push_str(&format!(
            "  {}\n",
            words::options(lang, o.silent, o.protect, p.plan.pin)
        ));
    }
    out
}

/// An album item's kind: `Document` as the IT person reads it in English, `documento` in
/// Italian.
fn kind_word(lang: crate::config::Language, kind: MediaKind) -> String {
    match lang {
        crate::config::Language::En => format!("{kind:?}"),
        crate::config::Language::It => crate::messages::check::message(lang, Some(kind)).into(),
    }
}

fn one_line(s: &str) -> String {
    let flat = s.replace('\n', " ⏎ ");
    if flat.chars().count() > 120 {
        format!("{}…", flat.chars().take(120).collect::<String>())
    } else {
        flat
    }
}
