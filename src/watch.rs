//! Seeing files arrive: a scan of the inbox (the source of truth) and native events (which only
//! make things faster). Network shares deliver no events for writes by other machines, so on
//! those dropcast also polls.
//!
//! Architecture Invariant: the notify callback is tiny (convert, `try_send`); all decisions are
//! made on the async side. A full channel or a notify overflow becomes a full rescan.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::bundle::{Filter, Kind};
use crate::config::WatchMode;
use crate::settle::Stamp;

/// Something changed: these paths, or possibly anything (rescan).
#[derive(Debug)]
pub enum Signal {
    Paths(Vec<PathBuf>),
    Rescan,
}

/// A folder that dropcast watches, with the folders it must never treat as input.
#[derive(Debug, Clone)]
pub struct Root {
    pub path: PathBuf,
    pub recursive: bool,
    pub skip: Vec<PathBuf>,
}

impl Root {
    /// The path relative to the root as text (lossy for names that are not UTF-8), when it is
    /// inside and not in a skipped or junk folder.
    pub fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.path).ok()?;
        if self.skip.iter().any(|s| path.starts_with(s)) {
            return None;
        }
        // Names that are not UTF-8 (old encodings from some copiers and NAS boxes) are seen
        // too, so that they can be refused with an explanation rather than sit unnoticed.
        let rel = rel.to_string_lossy();
        if !self.recursive && rel.contains('/') {
            return None;
        }
        if rel.split('/').any(Filter::is_junk) {
            return None;
        }
        Some(rel.into_owned())
    }
}

/// The inboxes of a config as watch roots, in the config's order, each skipping dropcast's own
/// folders, its `.dropcast/` work folder, and the inboxes nested inside it (a file belongs to
/// the most specific inbox: see `pairing::inbox_of`). An inbox that cannot be resolved (not
/// there) keeps its path as written.
pub fn roots(config: &crate::config::Config) -> Vec<Root> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let own: Vec<PathBuf> = config.own_folders().iter().map(|p| canon(p)).collect();
    let inboxes: Vec<PathBuf> = config.inboxes.iter().map(|i| canon(&i.path)).collect();
    config
        .inboxes
        .iter()
        .zip(&inboxes)
        .map(|(inbox, path)| {
            let mut skip = own.clone();
            skip.push(path.join(".dropcast"));
            skip.extend(
                inboxes
                    .iter()
                    .filter(|o| *o != path && o.starts_with(path))
                    .cloned(),
            );
            Root {
                path: path.clone(),
                recursive: inbox.recursive,
                skip,
            }
        })
        .collect()
}

/// Walks a root and returns every media file and sidecar with its stamp. Never follows
/// symlinks; skips junk folders, dropcast's own folders, and unreadable folders (logged).
///
/// Folders are judged once, when the walk reaches them, and files by their own name (first by
/// their extension alone): an old share of 100,000 office files costs a `getdents` and a look at
/// each name, not a path comparison per file.
pub fn scan(root: &Root, filter: &Filter) -> Vec<(PathBuf, Stamp)> {
    let mut out = Vec::new();
    if root.skip.iter().any(|s| root.path.starts_with(s)) {
        return out;
    }
    // Each folder with its path relative to the root ("" for the root, else ending in '/').
    let mut stack = vec![(root.path.clone(), String::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(folder = %dir.display(), error = %e, "cannot read folder");
                continue;
            }
        };
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let os_name = entry.file_name();
            // Names that are not UTF-8 (old encodings from some copiers and NAS boxes) are seen
            // too, so that they can be refused with an explanation rather than sit unnoticed.
            let name = os_name.to_string_lossy();
            if ft.is_dir() {
                if !root.recursive || Filter::is_junk(&name) {
                    continue;
                }
                let path = entry.path();
                if root.skip.contains(&path) {
                    continue;
                }
                stack.push((path, format!("{rel_dir}{name}/")));
                continue;
            }
            if !ft.is_file() || filter.by_extension(&name) == Kind::Ignored {
                continue;
            }
            let rel = format!("{rel_dir}{name}");
            if filter.classify(&rel) == Kind::Ignored {
                continue;
            }
            if let Ok(meta) = entry.metadata()
                && let Some(stamp) = Stamp::of(&meta)
            {
                out.push((entry.path(), stamp));
            }
        }
    }
    out
}

/// Whether every folder between the root and `path` is a real folder, not a symlink: a link in
/// the inbox may point anywhere, and nothing outside the inbox is ever read.
pub fn no_links_between(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let mut dir = root.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_dir() => {}
            _ => return false,
        }
    }
    true
}

/// The current stamp of a path, not following symlinks.
pub fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::symlink_metadata(path)
        .ok()
        .and_then(|m| Stamp::of(&m))
}

/// Native events from the kernel (inotify on Linux), for all roots.
pub struct Native {
    _watcher: notify::RecommendedWatcher,
}

/// Starts native watching. Events become [`Signal`]s on `tx`; when the channel is full the
/// paths are dropped and a rescan is requested instead, which loses nothing.
pub fn native(roots: &[Root], tx: mpsc::Sender<Signal>) -> notify::Result<Native> {
    let overflow = Arc::new(AtomicBool::new(false));
    let handler = move |res: notify::Result<notify::Event>| {
        let signal = match res {
            Ok(ev) if ev.need_rescan() => Signal::Rescan,
            Ok(ev) => Signal::Paths(ev.paths),
            Err(_) => Signal::Rescan,
        };
        if tx.try_send(signal).is_err() && !overflow.swap(true, Ordering::Relaxed) {
            // Best effort: if even this fails, the periodic rescan still finds everything.
            let _ = tx.try_send(Signal::Rescan);
            overflow.store(false, Ordering::Relaxed);
        }
    };
    // A symlinked folder in the inbox leads outside it: never watch through links.
    let mut watcher = notify::RecommendedWatcher::new(
        handler,
        notify::Config::default().with_follow_symlinks(false),
    )?;
    for root in roots {
        let mode = if root.recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher.watch(&root.path, mode)?;
    }
    Ok(Native { _watcher: watcher })
}

/// The kind of filesystem a folder is on, as far as watching is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Local,
    /// No events for writes made by other machines; the name says which kind.
    Network(&'static str),
}

/// Reads the filesystem type with `statfs`.
pub fn filesystem_kind(path: &Path) -> FsKind {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return FsKind::Local;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid path and st is a properly sized out-parameter.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return FsKind::Local;
    }
    match st.f_type as u32 {
        0xFF53_4D42 => FsKind::Network("SMB/CIFS"),
        0xFE53_4D42 => FsKind::Network("SMB2"),
        0x517B => FsKind::Network("SMB"),
        0x6969 => FsKind::Network("NFS"),
        0x6573_5546 => FsKind::Network("FUSE"),
        0x0102_1997 => FsKind::Network("9P"),
        0x7375_7245 => FsKind::Network("Coda"),
        0x5346_414F => FsKind::Network("AFS"),
        0x0BD0_0BD0 => FsKind::Network("Lustre"),
        0x4750_4653 => FsKind::Network("GPFS"),
        0x0116_1970 => FsKind::Network("GFS2"),
        0x00C3_6400 => FsKind::Network("CephFS"),
        _ => FsKind::Local,
    }
}

/// How one inbox is watched, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub native: bool,
    pub poll: Option<Duration>,
    pub reason: String,
}

/// Decides the watching for a folder from the configured mode and its filesystem.
pub fn plan(mode: WatchMode, fs: FsKind, poll_interval: Duration) -> Plan {
    let secs = format!("{}s", poll_interval.as_secs_f64());
    match (mode, fs) {
        (WatchMode::Poll, _) => Plan {
            native: false,
            poll: Some(poll_interval),
            reason: format!("mode: poll, polling every {secs}"),
        },
        (WatchMode::Native, _) => Plan {
            native: true,
            poll: None,
            reason: "mode: native, kernel events plus periodic rescans".into(),
        },
        (WatchMode::Auto, FsKind::Network(kind)) => Plan {
            native: true,
            poll: Some(poll_interval),
            reason: format!("network filesystem detected ({kind}): polling every {secs}"),
        },
        (WatchMode::Auto, FsKind::Local) => Plan {
            native: true,
            poll: None,
            reason: "local filesystem: kernel events plus periodic rescans".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_media_and_sidecars_only() {
        let t = tempfile::tempdir().unwrap();
        let inbox = t.path().join("inbox");
        std::fs::create_dir_all(inbox.join("sub")).unwrap();
        std::fs::create_dir_all(inbox.join("archive")).unwrap();
        std::fs::create_dir_all(inbox.join(".dropcast")).unwrap();
        for d in ["sub/@eaDir", "drafts", "sub/deep/own", "#recycle"] {
            std::fs::create_dir_all(inbox.join(d)).unwrap();
        }
        for f in [
            "sub/@eaDir/d.pdf",
            "drafts/e.pdf",
            "sub/deep/own/f.pdf",
            "sub/deep/g.pdf",
            "#recycle/h.pdf",
            "sub/Thumbs.db",
            "sub/report.docx",
            "a.pdf",
            "a.yaml",
            "notes.txt",
            "~$a.pdf",
            "sub/b.png",
            "archive/old.pdf",
            ".dropcast/c.pdf",
            "x.pdf.part",
        ] {
            std::fs::write(inbox.join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink("/etc/passwd", inbox.join("link.pdf")).unwrap();
        let root = Root {
            path: inbox.clone(),
            recursive: true,
            skip: vec![inbox.join("archive"), inbox.join("sub/deep/own")],
        };
        let filter = Filter::new(&[], &["drafts/**".to_string()]);
        let mut found: Vec<String> = scan(&root, &filter)
            .into_iter()
            .map(|(p, _)| p.strip_prefix(&inbox).unwrap().display().to_string())
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec!["a.pdf", "a.yaml", "sub/b.png", "sub/deep/g.pdf"]
        );
        let flat = Root {
            recursive: false,
            ..root
        };
        assert_eq!(scan(&flat, &Filter::new(&[], &[])).len(), 2);
    }

    #[test]
    fn links_between_root_and_file_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let inbox = t.path().join("inbox");
        std::fs::create_dir_all(inbox.join("real")).unwrap();
        std::os::unix::fs::symlink(&outside, inbox.join("linked")).unwrap();
        assert!(no_links_between(&inbox, &inbox.join("a.pdf")));
        assert!(no_links_between(&inbox, &inbox.join("real/a.pdf")));
        assert!(!no_links_between(&inbox, &inbox.join("linked/a.pdf")));
        assert!(!no_links_between(&inbox, &outside.join("a.pdf")));
    }

    #[test]
    fn watch_plans() {
        let p = Duration::from_secs(5);
        assert!(
            plan(WatchMode::Auto, FsKind::Network("NFS"), p)
                .reason
                .contains("network filesystem detected (NFS): polling every 5s")
        );
        assert_eq!(plan(WatchMode::Auto, FsKind::Local, p).poll, None);
        assert!(!plan(WatchMode::Poll, FsKind::Local, p).native);
        assert_eq!(filesystem_kind(Path::new("/")), FsKind::Local);
    }
}
