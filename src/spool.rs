//! Moves the clerk's files: into the hidden work folder while a bundle is posted, to
//! `archive/YYYY/MM/` with a receipt, or to `failed/` with an error report.
//!
//! Architecture Invariant: the spool never deletes a user's file and never overwrites one. A
//! move is a `rename` that refuses to replace (`renameat2(RENAME_NOREPLACE)`), or, across
//! filesystems, a copy into a new file, `fsync`, and only then removal of the source.

use std::collections::BTreeSet;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A move or write that failed; the files stay where they were.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct SpoolError {
    pub action: &'static str,
    pub path: PathBuf,
    pub source: io::Error,
}

impl SpoolError {
    /// The file is open elsewhere and a share with Windows semantics (SMB) refuses to move or
    /// remove it until it is closed: not a failure, a wait.
    pub fn is_busy(&self) -> bool {
        matches!(
            self.source.raw_os_error(),
            Some(libc::EBUSY | libc::ETXTBSY)
        )
    }
}

/// When the folders a move or a write changed are flushed to disk: at once, or once for a whole
/// batch of bundles just before the journal records where their files went. Within a batch, every
/// file's own data is still flushed before its name appears, and a copy across filesystems still
/// flushes its destination before it removes the source: only the renames' folder flushes wait.
#[derive(Debug)]
pub struct Syncs {
    mode: SyncMode,
    /// Batch mode: receipts and reports written under their temporary names, placed by `flush`.
    pending: Vec<PendingWrite>,
    /// Batch mode: one open folder per local filesystem holding pending writes, opened before
    /// the first write so that `syncfs` on it reports any writeback error since.
    flushers: Vec<(u64, File)>,
    /// Whose writes follow (a bundle id), so that `flush` can say whose failed.
    owner: Option<crate::journal::BundleId>,
}

#[derive(Debug)]
enum SyncMode {
    Now,
    /// The folders changed, each with the bundles that changed it.
    Batch(std::collections::BTreeMap<PathBuf, Vec<Option<crate::journal::BundleId>>>),
    Never,
}

#[derive(Debug)]
struct PendingWrite {
    tmp: PathBuf,
    dir: PathBuf,
    name: OsString,
    owner: Option<crate::journal::BundleId>,
    /// The filesystem whose `syncfs` flushes its contents; `None`: flushed on its own already
    /// (network filesystems, where `syncfs` may not reach the server).
    dev: Option<u64>,
}

impl Syncs {
    fn with(mode: SyncMode) -> Syncs {
        Syncs {
            mode,
            pending: Vec::new(),
            flushers: Vec::new(),
            owner: None,
        }
    }

    /// Every folder is flushed as soon as it changes.
    pub fn now() -> Syncs {
        Syncs::with(SyncMode::Now)
    }

    /// Folders are collected, and flushed once each by [`Syncs::flush`]; new files (receipts,
    /// reports) are written under temporary names, flushed together, and only then given their
    /// names.
    pub fn batch() -> Syncs {
        Syncs::with(SyncMode::Batch(Default::default()))
    }

    /// Renames are not flushed at all: for moves whose source and destination the journal
    /// recorded before the move, so that a move a crash undoes is simply made again at start.
    pub fn recorded() -> Syncs {
        Syncs::with(SyncMode::Never)
    }

    /// The writes that follow belong to this bundle.
    pub fn owner(&mut self, bundle_id: crate::journal::BundleId) {
        self.owner = Some(bundle_id);
    }

    /// Whether a new file of the batch will take this name (it is not on disk yet).
    fn reserved(&self, path: &Path) -> bool {
        self.pending
            .iter()
            .any(|w| path.parent() == Some(w.dir.as_path()) && path.file_name() == Some(&w.name))
    }

    /// The folder holding `path` changed.
    fn changed(&mut self, path: &Path) {
        let owner = self.owner;
        match &mut self.mode {
            SyncMode::Now => sync_dir(path),
            SyncMode::Batch(dirs) => {
                if let Some(dir) = path.parent() {
                    dirs.entry(dir.to_path_buf()).or_default().push(owner);
                }
            }
            SyncMode::Never => {}
        }
    }

    /// The filesystem whose `syncfs` will flush a new file in `dir`, or `None` when the file
    /// must be flushed on its own.
    fn flusher_for(&mut self, dir: &Path) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let dev = fs::metadata(dir).ok()?.dev();
        if self.flushers.iter().any(|(d, _)| *d == dev) {
            return Some(dev);
        }
        if crate::watch::filesystem_kind(dir) != crate::watch::FsKind::Local {
            return None;
        }
        let f = File::open(dir).ok()?;
        self.flushers.push((dev, f));
        Some(dev)
    }

    /// Makes a batch durable: the new files' contents (one `syncfs` per local filesystem), then
    /// their names, then every folder the batch changed. Returns the owners whose changes could
    /// not be made durable (a new file not placed is removed): their bundles must be retried.
    pub fn flush(&mut self) -> Vec<(Option<crate::journal::BundleId>, SpoolError)> {
        let mut failed = Vec::new();
        let mut unsynced: Vec<(u64, io::Error)> = Vec::new();
        for (dev, f) in std::mem::take(&mut self.flushers) {
            if let Err(e) = syncfs(&f) {
                unsynced.push((dev, e));
            }
        }
        for w in std::mem::take(&mut self.pending) {
            if let Some((_, e)) = unsynced.iter().find(|(d, _)| Some(*d) == w.dev) {
                let _ = fs::remove_file(&w.tmp);
                failed.push((
                    w.owner,
                    SpoolError {
                        action: "cannot flush",
                        path: w.dir.join(&w.name),
                        source: io::Error::new(e.kind(), e.to_string()),
                    },
                ));
                continue;
            }
            self.owner = w.owner;
            if let Err(e) = place(&w.tmp, &w.dir, &w.name, self) {
                failed.push((w.owner, e));
            }
        }
        if let SyncMode::Batch(dirs) = &mut self.mode {
            for (dir, owners) in std::mem::take(dirs) {
                if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
                    for owner in owners {
                        failed.push((
                            owner,
                            SpoolError {
                                action: "cannot flush folder",
                                path: dir.clone(),
                                source: io::Error::new(e.kind(), e.to_string()),
                            },
                        ));
                    }
                }
            }
        }
        failed
    }
}

/// Flushes every file of the filesystem holding the open folder `d` (`syncfs(2)`).
fn syncfs(d: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SpoolError + use<'a> {
    move |source| SpoolError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// `name` with ` (n)` before its extension: `notice.pdf` → `notice (2).pdf`. When `stem` is a
/// prefix of the name followed by a dot, the suffix goes after the stem, so a bundle's files keep
/// one base name: `notice.pdf.yaml` → `notice (2).pdf.yaml`.
pub fn numbered(name: &OsStr, stem: &OsStr, n: usize) -> OsString {
    if n <= 1 {
        return name.to_os_string();
    }
    let bytes = name.as_bytes();
    let stem_b = stem.as_bytes();
    let companion = [".receipt.yaml", ".error.txt"]
        .iter()
        .find(|c| bytes.len() > c.len() && bytes.ends_with(c.as_bytes()))
        .map(|c| bytes.len() - c.len());
    let cut = if !stem_b.is_empty()
        && bytes.len() > stem_b.len()
        && bytes.starts_with(stem_b)
        && bytes[stem_b.len()] == b'.'
    {
        stem_b.len()
    } else if let Some(cut) = companion {
        cut
    } else {
        match bytes.iter().rposition(|&b| b == b'.') {
            Some(0) | None => bytes.len(),
            Some(i) => i,
        }
    };
    let suffix = format!(" ({n})");
    // Names are at most 255 bytes: a long name gives up the end of its stem, never its suffix.
    let room = NAME_MAX.saturating_sub(suffix.len() + (bytes.len() - cut));
    let head = shorten(&bytes[..cut], room);
    let mut out = head.to_vec();
    out.extend_from_slice(suffix.as_bytes());
    out.extend_from_slice(&bytes[cut..]);
    OsStr::from_bytes(&out).to_os_string()
}

/// The longest name a Linux filesystem takes, in bytes.
const NAME_MAX: usize = 255;

/// `bytes` cut to at most `max`, not inside a UTF-8 character.
fn shorten(bytes: &[u8], max: usize) -> &[u8] {
    if bytes.len() <= max {
        return bytes;
    }
    let mut end = max;
    // Step back over UTF-8 continuation bytes (10xxxxxx) so a character is never split.
    while end > 0 && bytes[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    &bytes[..end]
}

/// Moves several files into `dir` under names that share one free suffix (`notice (2).pdf`,
/// `notice (2).yaml`), and also keeps `extra` names (such as the receipt) free. Returns the
/// new paths in order and the suffix used.
pub fn move_group(
    files: &[(&Path, &OsStr)],
    dir: &Path,
    stem: &OsStr,
    extra: &[&OsStr],
    syncs: &mut Syncs,
) -> Result<(Vec<PathBuf>, usize), SpoolError> {
    must_exist(dir)?;
    let mut n = 1;
    loop {
        let free = files
            .iter()
            .map(|(_, name)| *name)
            .chain(extra.iter().copied())
            .all(|name| {
                let path = dir.join(numbered(name, stem, n));
                fs::symlink_metadata(&path).is_err() && !syncs.reserved(&path)
            });
        if free {
            let mut moved = Vec::new();
            let mut clash = false;
            for (src, name) in files {
                let dest = dir.join(numbered(name, stem, n));
                match move_file(src, &dest, syncs) {
                    Ok(()) => moved.push(dest),
                    Err(e) if e.source.kind() == io::ErrorKind::AlreadyExists => {
                        clash = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !clash {
                return Ok((moved, n));
            }
            // Someone took a name between our check and the move: the files already moved keep
            // this suffix; try the rest under another one. Rare enough to keep simple.
            let rest: Vec<(&Path, &OsStr)> = files[moved.len()..].to_vec();
            let (more, _) = move_group(&rest, dir, stem, &[], syncs)?;
            moved.extend(more);
            return Ok((moved, n));
        }
        n += 1;
    }
}

/// The first ` (n)` suffix under which all `names` (and `extra`) are free in `dir`; returns
/// the full paths for `names`.
pub fn free_names(dir: &Path, names: &[&OsStr], stem: &OsStr, extra: &[&OsStr]) -> Vec<PathBuf> {
    let mut n = 1;
    loop {
        let free = names
            .iter()
            .chain(extra)
            .all(|name| fs::symlink_metadata(dir.join(numbered(name, stem, n))).is_err());
        if free {
            return names
                .iter()
                .map(|name| dir.join(numbered(name, stem, n)))
                .collect();
        }
        n += 1;
    }
}

/// Moves one file to `dest`, which must not exist. Works across filesystems.
pub fn move_file(src: &Path, dest: &Path, syncs: &mut Syncs) -> Result<(), SpoolError> {
    match rename_noreplace(src, dest) {
        Ok(()) => {
            syncs.changed(dest);
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_then_remove(src, dest),
        Err(e) => Err(SpoolError {
            action: "cannot move",
            path: src.to_path_buf(),
            source: e,
        }),
    }
}

fn rename_noreplace(src: &Path, dest: &Path) -> io::Result<()> {
    let s = CString::new(src.as_os_str().as_bytes())?;
    let d = CString::new(dest.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 does not keep the pointers.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            s.as_ptr(),
            libc::AT_FDCWD,
            d.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // Filesystems without RENAME_NOREPLACE (some network shares): check, then rename.
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => {
            if fs::symlink_metadata(dest).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(src, dest)
        }
        _ => Err(e),
    }
}

fn copy_then_remove(src: &Path, dest: &Path) -> Result<(), SpoolError> {
    // Never block on a FIFO or follow a link: only a regular file is copied.
    let mut from = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(src)
        .map_err(err("cannot read", src))?;
    let meta = from.metadata().map_err(err("cannot read", src))?;
    if !meta.is_file() {
        return Err(SpoolError {
            action: "cannot copy (not a regular file)",
            path: src.to_path_buf(),
            source: io::Error::other("not a regular file"),
        });
    }
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(err("cannot create", dest))?;
    let copied = io::copy(&mut from, &mut to)
        .and_then(|_| {
            // Someone still writing into the source: the copy is not the file. Fail, keep both
            // sources intact, and let the next attempt copy the finished file.
            let after = from.metadata()?;
            if after.len() != meta.len() || after.modified().ok() != meta.modified().ok() {
                return Err(io::Error::other(
                    "the file changed while it was being copied",
                ));
            }
            if let Ok(m) = meta.modified() {
                let _ = to.set_modified(m);
            }
            to.sync_all()
        })
        .map_err(err("cannot copy to", dest));
    if let Err(e) = copied {
        // The copy is incomplete; the source is untouched. The partial copy is ours to remove.
        drop(to);
        let _ = fs::remove_file(dest);
        return Err(e);
    }
    sync_dir(dest);
    fs::remove_file(src).map_err(err("copied, but cannot remove the original", src))?;
    sync_dir(src);
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// A destination folder must be there: spool never creates a configured folder or a parent of
/// one (an unmounted share leaves an empty mount point, and what is written there is lost to
/// the clerk). Its own folders below a verified one come from [`make_dirs_within`].
fn must_exist(dir: &Path) -> Result<(), SpoolError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(SpoolError {
            action: "not a folder",
            path: dir.to_path_buf(),
            source: io::Error::from(io::ErrorKind::NotADirectory),
        }),
        Err(e) => Err(SpoolError {
            action: "the folder is not there",
            path: dir.to_path_buf(),
            source: e,
        }),
    }
}

/// Creates `dir` and the folders between it and `base`, one level at a time, but never `base`
/// itself nor anything above it: `base` is a configured folder that must already be there
/// (`archive/` for `archive/YYYY/MM`, an inbox for `inbox/.dropcast/<batch>`).
pub fn make_dirs_within(base: &Path, dir: &Path) -> Result<(), SpoolError> {
    let rel = dir.strip_prefix(base).map_err(|_| SpoolError {
        action: "not inside its folder",
        path: dir.to_path_buf(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    must_exist(base)?;
    let mut at = base.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match fs::create_dir(&at) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && at.is_dir() => {}
            Err(e) => return Err(err("cannot create folder", &at)(e)),
        }
    }
    Ok(())
}

/// The folder a bundle's file waits in, made if it is a work folder (`INBOX/.dropcast/<batch>`,
/// inside a verified inbox); any other folder (`scheduled/`) must be there.
pub fn make_work_dir(dir: &Path) -> Result<(), SpoolError> {
    match dir.parent() {
        Some(own) if own.file_name() == Some(OsStr::new(".dropcast")) => {
            made_here().insert(dir.to_path_buf());
            make_dirs_within(own.parent().unwrap_or(own), dir)?;
            // With the folder, its sent log: from now on the folder says what of it was begun.
            if let Err(e) = crate::sentlog::create(dir) {
                tracing::debug!(folder = %dir.display(), error = %e, "cannot make the sent log");
            }
            Ok(())
        }
        _ => must_exist(dir),
    }
}

/// Writes the record of a bundle about to wait in `scheduled/`, with an empty sent log, before
/// its files move there (see sentlog.rs). A record whose files never arrived is recognised as
/// such by whoever adopts it.
pub fn record_scheduled(record: &crate::sentlog::ScheduledRecord) -> Result<(), SpoolError> {
    let Some(dir) = record
        .files
        .first()
        .and_then(|f| crate::sentlog::record_dir(&f.scheduled))
    else {
        return Ok(());
    };
    let scheduled = dir.parent().and_then(Path::parent).unwrap_or(&dir);
    made_here().insert(dir.clone());
    make_dirs_within(scheduled, &dir)?;
    let text = serde_json::to_vec_pretty(record).map_err(|e| SpoolError {
        action: "cannot write the record of a scheduled bundle",
        path: dir.clone(),
        source: io::Error::other(e),
    })?;
    let tmp = dir.join(".bundle.json.tmp");
    fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, dir.join(crate::sentlog::RECORD)))
        .and_then(|()| crate::sentlog::create(&dir))
        .map_err(err("cannot write the record of a scheduled bundle", &dir))
}

/// Removes the record folder of a bundle that no longer waits in `scheduled/` (its files left):
/// dropcast's own files only.
pub fn forget_scheduled(first_scheduled_file: &Path) {
    let Some(dir) = crate::sentlog::record_dir(first_scheduled_file) else {
        return;
    };
    for name in [crate::sentlog::RECORD, ".bundle.json.tmp"] {
        let _ = fs::remove_file(dir.join(name));
    }
    for file in crate::sentlog::files(&dir) {
        let _ = fs::remove_file(file);
    }
    let _ = fs::remove_dir(&dir);
}

/// The work folders (and record folders in `scheduled/`) this process made. The journal learns a
/// bundle's files before they move, but a look at the folders may come between the two: a
/// folder this process made is its own whatever the journal says yet, and never adopted.
fn made_here() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<PathBuf>> {
    static MADE: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    MADE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether this process made the work folder or the scheduled record folder `dir`.
pub fn made_here_by_us(dir: &Path) -> bool {
    made_here().contains(dir)
}

/// Removes one of dropcast's own work folders once nothing but its sent log is left in it (the
/// log goes with it: it only told what happened to files that have left). `remove_dir` refuses a
/// folder that holds anything else.
pub fn remove_work_dir(dir: &Path) {
    if dir.parent().and_then(Path::file_name) != Some(OsStr::new(".dropcast")) {
        return;
    }
    let only_the_log = fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .all(|e| crate::sentlog::is_log_file(&e.file_name()))
    });
    if only_the_log {
        for file in crate::sentlog::files(dir) {
            let _ = fs::remove_file(file);
        }
    }
    if fs::remove_dir(dir).is_err() {
        // Nothing of a bundle left, only receipts that could not be removed: no longer a folder
        // being filled by this process, so the lease task's next look settles them as it does a
        // dead owner's (`preparer::adopt`).
        let only_receipts = fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().all(|e| {
                let name = e.file_name();
                crate::sentlog::is_log_file(&name) || name.as_bytes().ends_with(b".receipt.yaml")
            })
        });
        if only_receipts {
            made_here().remove(dir);
        }
    }
}

/// Removes previews (dropcast's own `SHA.thumb.jpg`, `SHA.page.jpg` in `dir`) older than `age`
/// whose file no waiting bundle has (`needed`: SHA-256s); never anything else.
pub fn sweep_previews(
    dir: &Path,
    needed: &std::collections::HashSet<String>,
    age: std::time::Duration,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(sha) = name
            .strip_suffix(".thumb.jpg")
            .or_else(|| name.strip_suffix(".page.jpg"))
        else {
            continue;
        };
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a > age);
        if old && !needed.contains(sha) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Writes one of dropcast's own state files (a preview) whole: under a temporary name, then
/// renamed into place, so that a reader never sees a part of it.
pub fn write_own_file(dest: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".dropcast-{}-{}.tmp",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    ));
    let written = fs::write(&tmp, contents).and_then(|()| fs::rename(&tmp, dest));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Puts one of dropcast's own state files (never a user's) in place of its older version.
pub fn replace_own_file(tmp: &Path, dest: &Path) -> io::Result<()> {
    fs::rename(tmp, dest)
}

/// Adds an entry to the `edits:` list at the end of a receipt of dropcast's (written by
/// [`archive`]): the whole new text is written under a temporary name, flushed, and renamed over
/// the receipt, so that a reader sees the old receipt or the new one, never a part; everything
/// the receipt held stays. `entry` is one YAML list item; one whose `marker` line is in the
/// receipt already (written before a crash) is not added again.
pub fn add_to_receipt(receipt: &Path, entry: &str, marker: &str) -> Result<(), SpoolError> {
    let err = |action: &'static str| {
        move |source: io::Error| SpoolError {
            action,
            path: receipt.to_path_buf(),
            source,
        }
    };
    let old = fs::read_to_string(receipt).map_err(err("cannot read"))?;
    if old.lines().any(|l| l.trim() == marker) {
        return Ok(());
    }
    let mut text = old;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.lines().any(|l| l == "edits:") {
        text.push_str("edits:\n");
    }
    text.push_str(entry);
    let dir = receipt.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".dropcast-{}-{}.tmp",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| replace_own_file(&tmp, receipt));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(err("cannot rewrite")(e));
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a new file (receipt, report) without ever replacing one; picks ` (n)` if needed.
pub fn write_new(
    dir: &Path,
    name: &OsStr,
    contents: &[u8],
    syncs: &mut Syncs,
) -> Result<PathBuf, SpoolError> {
    must_exist(dir)?;
    // Written whole under a hidden temporary name, then renamed into place without replacing
    // anything: a crash or a full disk leaves either no receipt or a complete one.
    let tmp = dir.join(format!(
        ".dropcast-{}-{}.tmp",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    ));
    let batch = matches!(syncs.mode, SyncMode::Batch(_));
    // In a batch on a local filesystem, `Syncs::flush` flushes every new file's contents at once.
    let dev = if batch { syncs.flusher_for(dir) } else { None };
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(contents)?;
            if dev.is_some() { Ok(()) } else { f.sync_all() }
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(SpoolError {
            action: "cannot write",
            path: dir.join(name),
            source: e,
        });
    }
    if batch {
        syncs.pending.push(PendingWrite {
            tmp,
            dir: dir.to_path_buf(),
            name: name.to_os_string(),
            owner: syncs.owner,
            dev,
        });
        return Ok(dir.join(name));
    }
    place(&tmp, dir, name, syncs)
}

/// Gives a written temporary file its name in `dir`, ` (n)` if the name is taken.
fn place(tmp: &Path, dir: &Path, name: &OsStr, syncs: &mut Syncs) -> Result<PathBuf, SpoolError> {
    let mut n = 1;
    loop {
        let path = dir.join(numbered(name, OsStr::new(""), n));
        match rename_noreplace(tmp, &path) {
            Ok(()) => {
                syncs.changed(&path);
                return Ok(path);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => {
                let _ = fs::remove_file(tmp);
                return Err(SpoolError {
                    action: "cannot write",
                    path,
                    source: e,
                });
            }
        }
    }
}

/// Removes the temporary files [`write_new`] leaves when dropcast is killed mid-write: dropcast's
/// own hidden `.dropcast-*.tmp` files in `failed/`, in `archive/YYYY/MM/` and in the inboxes'
/// work folders, never anything else.
pub fn sweep_temporaries(archive: &Path, failed: &Path, inboxes: &[&Path]) {
    let mut dirs = vec![failed.to_path_buf()];
    // Travelling receipts are written in the inboxes' work folders.
    for inbox in inboxes {
        for work in fs::read_dir(inbox.join(".dropcast"))
            .into_iter()
            .flatten()
            .flatten()
        {
            dirs.push(work.path());
        }
    }
    for year in fs::read_dir(archive).into_iter().flatten().flatten() {
        for month in fs::read_dir(year.path()).into_iter().flatten().flatten() {
            dirs.push(month.path());
        }
    }
    for dir in dirs {
        sweep_temporaries_in(&dir);
    }
}

/// Removes the temporary files [`write_new`] left in one folder by a dropcast killed mid-write
/// (a dead owner's travelling receipts in a work folder being adopted). Never this process's
/// own: its finisher may be writing them right now.
pub fn sweep_temporaries_in(dir: &Path) {
    let own = format!(".dropcast-{}-", std::process::id());
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        let ours = name.to_str().is_some_and(|n| {
            n.starts_with(".dropcast-") && n.ends_with(".tmp") && !n.starts_with(&own)
        });
        if ours && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// `notice.pdf` → `notice.receipt.yaml`-style companion names: `stem` + `.` + `suffix`.
pub fn companion(stem: &OsStr, suffix: &str) -> OsString {
    let room = NAME_MAX.saturating_sub(suffix.len() + 1);
    let mut s = OsStr::from_bytes(shorten(stem.as_bytes(), room)).to_os_string();
    s.push(".");
    s.push(suffix);
    s
}

/// Where the files of one bundle are and what they should be called at their destination.
#[derive(Debug, Clone)]
pub struct BundleFile {
    pub current: PathBuf,
    pub name: OsString,
    pub sha256: String,
    pub size: u64,
    /// Why the file went without a preview, when it did.
    pub no_preview: Option<String>,
}

/// One channel's line in a receipt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReceiptChannel {
    pub channel: String,
    pub link: String,
    pub message_ids: Vec<i64>,
    pub links: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_error: Option<String>,
}

#[derive(serde::Serialize)]
struct Receipt<'a> {
    bundle: &'a str,
    posted_at: String,
    channels: &'a [ReceiptChannel],
    files: Vec<ReceiptFile>,
}

#[derive(serde::Serialize)]
struct ReceiptFile {
    name: String,
    sha256: String,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    no_preview: Option<String>,
}

/// The stem that names a bundle's companion files, as [`crate::bundle::stem`] gives it.
pub fn bundle_stem(name: &str) -> OsString {
    OsString::from(crate::bundle::stem(name))
}

/// The SHA-256 of a file, as hex.
pub fn sha256_of(path: &Path) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(hex::encode(h.finalize())),
            n => h.update(&buf[..n]),
        }
    }
}

/// Moves a posted bundle to `archive/YYYY/MM/` and writes `NAME.receipt.yaml` next to it;
/// returns the receipt's path. Files that vanished are skipped (logged); the receipt still lists
/// their hashes.
pub fn archive(
    archive_root: &Path,
    when: &jiff::ZonedDateTime,
    lang: crate::config::Language,
    name: &str,
    files: &[BundleFile],
    channels: &[ReceiptChannel],
    syncs: &mut Syncs,
) -> Result<PathBuf, SpoolError> {
    let dir = archive_root
        .join(when.strftime("%Y").to_string())
        .join(when.strftime("%m").to_string());
    make_dirs_within(archive_root, &dir)?;
    let stem = bundle_stem(name);
    let receipt_name = companion(&stem, "receipt.yaml");
    let present: Vec<&BundleFile> = files
        .iter()
        .filter(|f| fs::symlink_metadata(&f.current).is_ok())
        .collect();
    let pairs: Vec<(&Path, &OsStr)> = present
        .iter()
        .map(|f| (f.current.as_path(), f.name.as_os_str()))
        .collect();
    // A file missing from where it waited was moved before only if the archive holds it, whole:
    // its recorded size and SHA-256 (a retry after a crash or a failed receipt). Otherwise it is
    // missing, and the caller decides whether the share is away or the file was removed.
    let in_archive = |f: &BundleFile, k: usize| {
        let p = dir.join(numbered(&f.name, &stem, k));
        fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == f.size)
            && sha256_of(&p).is_ok_and(|h| h == f.sha256)
    };
    let missing: Vec<&BundleFile> = files
        .iter()
        .filter(|f| fs::symlink_metadata(&f.current).is_err())
        .collect();
    let moved_before = if missing.is_empty() {
        None
    } else {
        match last_suffix(&dir, |k| missing.iter().all(|f| in_archive(f, k))) {
            Some(k) => Some(k),
            None => {
                return Err(SpoolError {
                    action: "the file is missing from where it waited",
                    path: missing[0].current.clone(),
                    source: io::Error::from(io::ErrorKind::NotFound),
                });
            }
        }
    };
    let moved_before = moved_before.filter(|_| pairs.is_empty());
    let n = match (pairs.is_empty(), moved_before) {
        (true, Some(k)) => k,
        _ => move_group(&pairs, &dir, &stem, &[&receipt_name], syncs)?.1,
    };
    let receipt_path = dir.join(numbered(&receipt_name, &stem, n));
    if moved_before.is_some() && fs::metadata(&receipt_path).is_ok_and(|m| m.len() > 0) {
        // Written before a crash stopped the journal from recording it: nothing to redo.
        return Ok(receipt_path);
    }
    let text = receipt_text(when, lang, name, files, channels, n);
    write_new(
        &dir,
        &numbered(&receipt_name, &stem, n),
        text.as_bytes(),
        syncs,
    )?;
    Ok(receipt_path)
}

/// A receipt's text: its comment in the clerk's language, then the record; the files by their
/// names with the suffix ` (n)` they have (or will have) in the archive.
fn receipt_text(
    when: &jiff::ZonedDateTime,
    lang: crate::config::Language,
    name: &str,
    files: &[BundleFile],
    channels: &[ReceiptChannel],
    n: usize,
) -> String {
    let stem = bundle_stem(name);
    let receipt = Receipt {
        bundle: name,
        posted_at: when.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        channels,
        files: files
            .iter()
            .map(|f| ReceiptFile {
                name: numbered(&f.name, &stem, n).to_string_lossy().into_owned(),
                sha256: f.sha256.clone(),
                bytes: f.size,
                no_preview: f.no_preview.clone(),
            })
            .collect(),
    };
    let mut text = crate::messages::receipt_header(lang, name);
    text.push_str(&serde_yaml::to_string(&receipt).unwrap_or_default());
    text
}

/// The receipt that travels with a posted bundle: written into its work folder as soon as the
/// post is recorded (before anything moves to the archive), so that whoever finds the work
/// folder (after a crash, a server with an empty journal) knows the bundle was posted, where,
/// and with which files, and under which lease (`fence`). Written once; `Ok(false)` when it was
/// there already.
#[allow(clippy::too_many_arguments)]
pub fn travelling_receipt(
    work_dir: &Path,
    when: &jiff::ZonedDateTime,
    lang: crate::config::Language,
    name: &str,
    files: &[BundleFile],
    channels: &[ReceiptChannel],
    fence: Option<u64>,
    syncs: &mut Syncs,
) -> Result<bool, SpoolError> {
    let receipt_name = companion(&bundle_stem(name), "receipt.yaml");
    if fs::symlink_metadata(work_dir.join(&receipt_name)).is_ok() {
        return Ok(false);
    }
    let mut text = receipt_text(when, lang, name, files, channels, 1);
    if let Some(fence) = fence {
        // Whose lease the bundle was posted under (see lease.rs).
        text.push_str(&format!("fence: {fence}\n"));
    }
    write_new(work_dir, &receipt_name, text.as_bytes(), syncs)?;
    Ok(true)
}

/// Removes the travelling receipt of a bundle from its work folder once the archive holds the
/// bundle and its own receipt: dropcast's own file, never a user's.
pub fn drop_travelling_receipt(work_dir: &Path, name: &str) {
    let path = work_dir.join(companion(&bundle_stem(name), "receipt.yaml"));
    if work_dir.parent().and_then(Path::file_name) != Some(OsStr::new(".dropcast")) {
        return;
    }
    // Only our own receipt of this bundle: a clerk's file of that name (a sidecar called
    // `minutes.receipt.yaml`) may share the work folder, and is never removed.
    let ours = fs::read_to_string(&path).is_ok_and(|text| {
        text.starts_with("# dropcast: ")
            && text.lines().any(|l| {
                l.strip_prefix("bundle: ")
                    .is_some_and(|b| b.trim_matches(['\'', '"']) == name)
            })
    });
    if ours {
        remove_own_file(&path);
    }
}

/// Removes one of dropcast's own files. Over SMB (smbnetfs) a file just read may still be open
/// on the server for a moment, since FUSE closes it after `close` returned, and the removal
/// then fails with EBUSY: tried again a few times, briefly. A file that stays is settled later
/// (see [`remove_work_dir`]).
fn remove_own_file(path: &Path) {
    for wait_ms in [0u64, 10, 40, 150] {
        if wait_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        }
        match fs::remove_file(path) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => continue,
            _ => return,
        }
    }
    tracing::debug!(file = %path.display(), "cannot remove a travelling receipt yet: the share holds it");
}

/// What a dropcast adopting a work folder made of a travelling receipt and its bundle.
#[derive(Debug, PartialEq)]
pub enum Settled {
    /// The archive holds the bundle and this very receipt (same links): what was left of it in
    /// the work folder (the receipt, whose removal failed or was cut short; copies of files
    /// the archive holds identical) is removed.
    AlreadyArchived,
    /// The bundle's move to the archive was cut short (its owner died before its receipt was
    /// named, or between two files): finished under the same ` (k)`, with this receipt.
    Completed(PathBuf),
    /// The archive holds nothing of it in `months`: the caller archives it as a new bundle.
    NotFound,
}

/// A posted bundle found in a work folder by a dropcast adopting it, by its travelling receipt
/// (`name`, with its files' names and SHA-256 as the receipt lists them): its owner may have
/// begun or even finished its move to the archive. Looks in `months` (archive folders, newest
/// first) for the files under the suffix ` (k)` the archive gave them, and finishes the move
/// there rather than archiving the bundle a second time. Only dropcast's own receipt and copies
/// verified identical to the archive's are ever removed.
pub fn settle_posted(
    receipt: &Path,
    name: &str,
    files: &[(String, String)],
    work_dir: &Path,
    months: &[PathBuf],
) -> io::Result<Settled> {
    let text = match fs::read_to_string(receipt) {
        Ok(text) => text,
        // Removed meanwhile by the finisher of the dropcast that archived the bundle.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Settled::AlreadyArchived),
        Err(e) => return Err(e),
    };
    let ours = text.starts_with("# dropcast: ")
        && text.lines().any(|l| {
            l.strip_prefix("bundle: ")
                .is_some_and(|b| b.trim_matches(['\'', '"']) == name)
        });
    if !ours || files.is_empty() {
        return Ok(Settled::NotFound);
    }
    let links = |t: &str| -> BTreeSet<String> {
        t.lines()
            .filter(|l| l.contains("https://t.me/"))
            .map(|l| l.trim().to_string())
            .collect()
    };
    let stem = bundle_stem(name);
    let receipt_name = companion(&stem, "receipt.yaml");
    let in_work = |n: &str| fs::symlink_metadata(work_dir.join(n)).is_ok();
    for month in months {
        let in_archive = |n: &str, sha: &str, k: usize| {
            let p = month.join(numbered(OsStr::new(n), &stem, k));
            fs::symlink_metadata(&p).is_ok_and(|m| m.is_file())
                && sha256_of(&p).is_ok_and(|h| h == sha)
        };
        let begun = |k: usize| {
            files.iter().any(|(n, sha)| in_archive(n, sha, k))
                && files
                    .iter()
                    .all(|(n, sha)| in_archive(n, sha, k) || in_work(n))
        };
        let Some(k) = last_suffix(month, begun) else {
            continue;
        };
        let dest = month.join(numbered(&receipt_name, &stem, k));
        let complete = fs::read_to_string(&dest).ok();
        if let Some(archived) = &complete {
            // Another bundle of the same name and content (`repost: true`), archived whole:
            // not this one.
            let whole = files.iter().all(|(n, sha)| in_archive(n, sha, k));
            if !whole || links(archived) != links(&text) {
                continue;
            }
        }
        for (n, sha) in files {
            let src = work_dir.join(n);
            if in_archive(n, sha, k) {
                // A copy to another filesystem cut short before the source was removed.
                if sha256_of(&src).is_ok_and(|h| &h == sha) {
                    fs::remove_file(&src)?;
                }
            } else {
                move_file(
                    &src,
                    &month.join(numbered(OsStr::new(n), &stem, k)),
                    &mut Syncs::now(),
                )
                .map_err(|e| e.source)?;
            }
        }
        if complete.is_some() {
            return match fs::remove_file(receipt) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(Settled::AlreadyArchived),
            };
        }
        // The archive may be on another filesystem than the inbox.
        move_file(receipt, &dest, &mut Syncs::now()).map_err(|e| e.source)?;
        return Ok(Settled::Completed(dest));
    }
    Ok(Settled::NotFound)
}

/// The highest ` (k)` suffix under which `present(k)` holds: the most recent bundle of that
/// name, which on a retry is the one this process moved before it was interrupted.
fn last_suffix(dir: &Path, present: impl Fn(usize) -> bool) -> Option<usize> {
    if !dir.is_dir() {
        return None;
    }
    (1..=1000).rev().find(|k| present(*k))
}

/// Moves a refused bundle's files to `failed/` and writes `NAME.error.txt` there.
pub fn fail(
    failed_root: &Path,
    name: &str,
    files: &[(PathBuf, OsString)],
    report: &str,
    syncs: &mut Syncs,
) -> Result<PathBuf, SpoolError> {
    let stem = bundle_stem(name);
    let report_name = companion(&stem, "error.txt");
    let pairs: Vec<(&Path, &OsStr)> = files
        .iter()
        .filter(|(p, _)| fs::symlink_metadata(p).is_ok())
        .map(|(p, n)| (p.as_path(), n.as_os_str()))
        .collect();
    if pairs.is_empty() && !files.is_empty() {
        // A retry after a crash: the files are in failed/ already; write the report once.
        let k = last_suffix(failed_root, |k| {
            files
                .iter()
                .all(|(_, n)| fs::symlink_metadata(failed_root.join(numbered(n, &stem, k))).is_ok())
        });
        if let Some(k) = k {
            let path = failed_root.join(numbered(&report_name, &stem, k));
            if !fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                write_new(
                    failed_root,
                    &numbered(&report_name, &stem, k),
                    report.as_bytes(),
                    syncs,
                )?;
            }
            return Ok(failed_root.to_path_buf());
        }
    }
    let (_, n) = move_group(&pairs, failed_root, &stem, &[&report_name], syncs)?;
    write_new(
        failed_root,
        &numbered(&report_name, &stem, n),
        report.as_bytes(),
        syncs,
    )?;
    Ok(failed_root.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_numbered(name: &str, stem: &str, n: usize, expected: &str) {
        assert_eq!(
            numbered(OsStr::new(name), OsStr::new(stem), n),
            OsString::from(expected)
        );
    }

    #[test]
    fn numbering() {
        check_numbered("notice.pdf", "notice", 1, "notice.pdf");
        check_numbered("notice.pdf", "notice", 2, "notice (2).pdf");
        check_numbered("notice.pdf.yaml", "notice", 3, "notice (3).pdf.yaml");
        check_numbered("notice.yaml", "notice", 2, "notice (2).yaml");
        check_numbered("other.txt", "notice", 2, "other (2).txt");
        check_numbered("README", "", 2, "README (2)");
        check_numbered(".hidden", "", 2, ".hidden (2)");
        check_numbered("a.b.c", "", 2, "a.b (2).c");
        check_numbered("x.receipt.yaml", "other", 2, "x (2).receipt.yaml");
        check_numbered("x.error.txt", "", 3, "x (3).error.txt");
        // At most 255 bytes, cut in the stem, never inside a character.
        let long = format!("{}.pdf", "é".repeat(125));
        let n = numbered(OsStr::new(&long), OsStr::new(""), 2);
        assert!(n.len() <= 255, "{}", n.len());
        assert!(n.to_str().unwrap().ends_with("é (2).pdf"));
        let c = companion(OsStr::new(&"k".repeat(254)), "receipt.yaml");
        assert_eq!(c.len(), 255);
        assert!(c.to_str().unwrap().ends_with("k.receipt.yaml"));
    }

    #[test]
    fn group_move_never_overwrites_and_keeps_one_suffix() {
        let t = tempfile::tempdir().unwrap();
        let inbox = t.path().join("inbox");
        let archive = t.path().join("archive");
        fs::create_dir_all(&inbox).unwrap();
        fs::create_dir_all(&archive).unwrap();
        fs::write(archive.join("notice.pdf"), b"old").unwrap();
        fs::write(inbox.join("notice.pdf"), b"new").unwrap();
        fs::write(inbox.join("notice.yaml"), b"caption: x").unwrap();
        let a = inbox.join("notice.pdf");
        let b = inbox.join("notice.yaml");
        let (moved, n) = move_group(
            &[
                (&a, OsStr::new("notice.pdf")),
                (&b, OsStr::new("notice.yaml")),
            ],
            &archive,
            OsStr::new("notice"),
            &[OsStr::new("notice.receipt.yaml")],
            &mut Syncs::now(),
        )
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(moved[0], archive.join("notice (2).pdf"));
        assert_eq!(fs::read(archive.join("notice.pdf")).unwrap(), b"old");
        assert_eq!(fs::read(archive.join("notice (2).pdf")).unwrap(), b"new");
        assert_eq!(
            fs::read(archive.join("notice (2).yaml")).unwrap(),
            b"caption: x"
        );
        assert!(!a.exists() && !b.exists());
    }

    #[test]
    fn cross_filesystem_copy_keeps_bytes() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("a.pdf");
        fs::write(&src, b"%PDF-1.4 data").unwrap();
        let dest = t.path().join("b.pdf");
        copy_then_remove(&src, &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"%PDF-1.4 data");
        assert!(!src.exists());
        // Never over an existing file.
        fs::write(&src, b"again").unwrap();
        assert!(copy_then_remove(&src, &dest).is_err());
        assert_eq!(fs::read(&src).unwrap(), b"again");
        assert_eq!(fs::read(&dest).unwrap(), b"%PDF-1.4 data");
    }

    #[test]
    fn only_our_temporaries_are_swept() {
        let t = tempfile::tempdir().unwrap();
        let month = t.path().join("archive/2026/11");
        let failed = t.path().join("failed");
        fs::create_dir_all(&month).unwrap();
        fs::create_dir_all(&failed).unwrap();
        for p in [
            month.join(".dropcast-1-2.tmp"),
            failed.join(".dropcast-3-4.tmp"),
        ] {
            fs::write(&p, b"").unwrap();
        }
        for p in [
            month.join("a.pdf"),
            failed.join(".dropcast-notes.txt"),
            failed.join("x.tmp"),
        ] {
            fs::write(&p, b"keep").unwrap();
        }
        sweep_temporaries(&t.path().join("archive"), &failed, &[]);
        assert!(!month.join(".dropcast-1-2.tmp").exists());
        assert!(!failed.join(".dropcast-3-4.tmp").exists());
        for p in [
            month.join("a.pdf"),
            failed.join(".dropcast-notes.txt"),
            failed.join("x.tmp"),
        ] {
            assert_eq!(fs::read(&p).unwrap(), b"keep");
        }
    }

    /// In a batch a receipt gets its name only once its contents are flushed, and never takes a
    /// name that appeared meanwhile.
    #[test]
    fn a_batch_names_its_new_files_only_when_it_is_flushed() {
        let t = tempfile::tempdir().unwrap();
        let mut syncs = Syncs::batch();
        syncs.owner(crate::journal::BundleId(7));
        write_new(t.path(), OsStr::new("x.receipt.yaml"), b"mine", &mut syncs).unwrap();
        assert!(!t.path().join("x.receipt.yaml").exists());
        fs::write(t.path().join("x.receipt.yaml"), b"someone else's").unwrap();
        assert!(syncs.flush().is_empty());
        assert_eq!(
            fs::read(t.path().join("x.receipt.yaml")).unwrap(),
            b"someone else's"
        );
        assert_eq!(
            fs::read(t.path().join("x (2).receipt.yaml")).unwrap(),
            b"mine"
        );
        let names: Vec<_> = fs::read_dir(t.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 2, "no temporary file left");

        // A folder that vanished before the flush: the owner is told, nothing is left behind.
        let gone = t.path().join("gone");
        fs::create_dir(&gone).unwrap();
        syncs.owner(crate::journal::BundleId(8));
        write_new(&gone, OsStr::new("y.error.txt"), b"report", &mut syncs).unwrap();
        for e in fs::read_dir(&gone).unwrap().flatten() {
            fs::rename(e.path(), t.path().join("moved-away.tmp")).unwrap();
        }
        let failed = syncs.flush();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, Some(crate::journal::BundleId(8)));
    }

    /// A receipt waiting in a batch keeps its name: a later bundle of the batch whose own name
    /// would give it the same receipt name takes another suffix.
    #[test]
    fn a_batch_reserves_the_names_of_its_waiting_receipts() {
        let t = tempfile::tempdir().unwrap();
        let (inbox, archive) = (t.path().join("in"), t.path().join("archive"));
        fs::create_dir_all(&inbox).unwrap();
        fs::create_dir_all(&archive).unwrap();
        fs::write(archive.join("report.pdf"), b"old").unwrap();
        for f in ["report.pdf", "report (2).jpg"] {
            fs::write(inbox.join(f), f.as_bytes()).unwrap();
        }
        let mut syncs = Syncs::batch();
        let a = inbox.join("report.pdf");
        let (_, n) = move_group(
            &[(&a, OsStr::new("report.pdf"))],
            &archive,
            OsStr::new("report"),
            &[OsStr::new("report.receipt.yaml")],
            &mut syncs,
        )
        .unwrap();
        assert_eq!(n, 2);
        let receipt = numbered(OsStr::new("report.receipt.yaml"), OsStr::new("report"), n);
        write_new(&archive, &receipt, b"receipt of report.pdf", &mut syncs).unwrap();
        let b = inbox.join("report (2).jpg");
        let (moved, _) = move_group(
            &[(&b, OsStr::new("report (2).jpg"))],
            &archive,
            OsStr::new("report (2)"),
            &[OsStr::new("report (2).receipt.yaml")],
            &mut syncs,
        )
        .unwrap();
        assert_eq!(moved[0], archive.join("report (2) (2).jpg"));
        assert!(syncs.flush().is_empty());
        assert_eq!(
            fs::read(archive.join("report (2).receipt.yaml")).unwrap(),
            b"receipt of report.pdf"
        );
    }

    #[test]
    fn write_new_picks_a_free_name() {
        let t = tempfile::tempdir().unwrap();
        let a = write_new(t.path(), OsStr::new("x.error.txt"), b"1", &mut Syncs::now()).unwrap();
        let b = write_new(t.path(), OsStr::new("x.error.txt"), b"2", &mut Syncs::now()).unwrap();
        assert_eq!(a, t.path().join("x.error.txt"));
        assert_eq!(b, t.path().join("x (2).error.txt"));
        assert_eq!(fs::read(a).unwrap(), b"1");
    }

    #[test]
    fn stems() {
        for (name, stem) in [
            ("notice.pdf", "notice"),
            ("notice.yaml", "notice"),
            ("notice.pdf.yaml", "notice.pdf"),
            ("notice.YML", "notice"),
            ("v1.2.yaml", "v1.2"),
            ("README", "README"),
        ] {
            assert_eq!(bundle_stem(name), OsString::from(stem), "{name}");
        }
    }

    /// A work folder and an archive month, with a posted bundle `n.pdf` + `n.yaml` and its
    /// travelling receipt (links `links`), for [`settle_posted`].
    struct Adopted {
        _t: tempfile::TempDir,
        work: PathBuf,
        month: PathBuf,
        receipt: PathBuf,
        files: Vec<(String, String)>,
    }

    fn receipt_with(links: &str) -> String {
        format!("# dropcast: \"n.pdf\" was posted.\nbundle: n.pdf\nchannels:\n- link: {links}\n")
    }

    fn adopted(links: &str) -> Adopted {
        let t = tempfile::tempdir().unwrap();
        let work = t.path().join("inbox/.dropcast/1-0");
        let month = t.path().join("archive/2026/12");
        fs::create_dir_all(&work).unwrap();
        fs::create_dir_all(&month).unwrap();
        let mut files = Vec::new();
        for (n, body) in [("n.pdf", "%PDF-1.4 n"), ("n.yaml", "caption: n\n")] {
            fs::write(work.join(n), body).unwrap();
            files.push((n.to_string(), sha256_of(&work.join(n)).unwrap()));
        }
        let receipt = work.join("n.receipt.yaml");
        fs::write(&receipt, receipt_with(links)).unwrap();
        Adopted {
            _t: t,
            work,
            month,
            receipt,
            files,
        }
    }

    impl Adopted {
        fn settle(&self) -> Settled {
            settle_posted(
                &self.receipt,
                "n.pdf",
                &self.files,
                &self.work,
                std::slice::from_ref(&self.month),
            )
            .unwrap()
        }
        fn copy_to_archive(&self, n: &str, as_name: &str) {
            fs::copy(self.work.join(n), self.month.join(as_name)).unwrap();
        }
        fn names(dir: &Path) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    #[test]
    fn a_bundle_archived_whole_leaves_only_its_travelling_receipt_behind() {
        let a = adopted("https://t.me/news/7");
        for n in ["n.pdf", "n.yaml"] {
            a.copy_to_archive(n, n);
            fs::remove_file(a.work.join(n)).unwrap();
        }
        fs::write(
            a.month.join("n.receipt.yaml"),
            receipt_with("https://t.me/news/7"),
        )
        .unwrap();
        assert_eq!(a.settle(), Settled::AlreadyArchived);
        assert!(Adopted::names(&a.work).is_empty());
        assert_eq!(
            Adopted::names(&a.month),
            ["n.pdf", "n.receipt.yaml", "n.yaml"]
        );
    }

    #[test]
    fn a_move_cut_short_is_finished_under_the_same_number_with_the_travelling_receipt() {
        // An earlier bundle of the same name took `n.pdf`; this one was being moved as `n (2)`:
        // its PDF copied to the archive (another filesystem) and not yet removed, its sidecar
        // not yet copied, its receipt not yet named.
        let a = adopted("https://t.me/news/8");
        fs::write(a.month.join("n.pdf"), "an older notice").unwrap();
        fs::write(
            a.month.join("n.receipt.yaml"),
            receipt_with("https://t.me/news/2"),
        )
        .unwrap();
        a.copy_to_archive("n.pdf", "n (2).pdf");
        let Settled::Completed(receipt) = a.settle() else {
            panic!("not completed")
        };
        assert_eq!(receipt, a.month.join("n (2).receipt.yaml"));
        assert!(Adopted::names(&a.work).is_empty());
        assert_eq!(
            Adopted::names(&a.month),
            [
                "n (2).pdf",
                "n (2).receipt.yaml",
                "n (2).yaml",
                "n.pdf",
                "n.receipt.yaml"
            ]
        );
        assert!(fs::read_to_string(receipt).unwrap().contains("news/8"));
    }

    #[test]
    fn the_same_files_posted_again_are_a_new_bundle_not_a_leftover() {
        // `repost: true`: the archive holds the same files with the first post's receipt.
        let a = adopted("https://t.me/news/9");
        a.copy_to_archive("n.pdf", "n.pdf");
        a.copy_to_archive("n.yaml", "n.yaml");
        fs::write(
            a.month.join("n.receipt.yaml"),
            receipt_with("https://t.me/news/3"),
        )
        .unwrap();
        assert_eq!(a.settle(), Settled::NotFound);
        assert_eq!(
            Adopted::names(&a.work),
            ["n.pdf", "n.receipt.yaml", "n.yaml"]
        );
    }

    #[test]
    fn a_receipt_that_is_not_ours_settles_nothing() {
        let a = adopted("https://t.me/news/7");
        fs::write(&a.receipt, "bundle: n.pdf\n").unwrap();
        a.copy_to_archive("n.pdf", "n.pdf");
        assert_eq!(a.settle(), Settled::NotFound);
        assert_eq!(
            Adopted::names(&a.work),
            ["n.pdf", "n.receipt.yaml", "n.yaml"]
        );
    }
}
