//! The configured folders (inboxes, archive, failed, scheduled) known by their identity, so that a
//! share that went away is never mistaken for files that were removed. A folder is verified once
//! (device, inode, filesystem type, whether it is the root of a mount) and checked again before
//! dropcast acts on an absence; a folder that vanished, or was replaced by another (the empty
//! mount point of an unmounted share), is away: the work that needs it pauses. When a folder is
//! back at its path it is verified again: same filesystem type and same place in the mount
//! table, while device and inode may change (a remount gives a new device number).
//!
//! What each folder was like is remembered in `state_dir/folders.json`, so that a start while
//! the share is not mounted finds a local empty folder where a network share was, and waits.
//!
//! Architecture Invariant: dropcast creates no configured folder and no parent of one (that is
//! `init`'s job); below a verified folder it creates only its own (`YYYY/MM`, `.dropcast/…`),
//! through [`spool::make_dirs_within`](crate::spool::make_dirs_within).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Config;

/// How often a folder that stays away is mentioned in the log.
const SAY_AGAIN: Duration = Duration::from_secs(60);

/// What makes a folder the one dropcast verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    /// `statfs`'s `f_type`: an unmounted share leaves a folder of the local filesystem.
    pub fs_type: i64,
    /// The folder is the root of a mount (its device differs from its parent's).
    pub mount_root: bool,
}

impl Identity {
    /// Reads a folder's identity. `Err` says why it is away.
    pub fn of(path: &Path) -> Result<Identity, Away> {
        let meta = std::fs::metadata(path).map_err(|e| Away::from_io(&e))?;
        if !meta.is_dir() {
            return Err(Away::NotAFolder);
        }
        let parent_dev = path
            .parent()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.dev());
        Ok(Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            fs_type: fs_type(path).map_err(|e| Away::from_io(&e))?,
            mount_root: parent_dev.is_some_and(|d| d != meta.dev()),
        })
    }

    /// Whether `now` can be the folder that was verified as `self` (after a remount, say).
    fn same_kind(&self, now: &Identity) -> bool {
        self.fs_type == now.fs_type && self.mount_root == now.mount_root
    }
}

fn fs_type(path: &Path) -> std::io::Result<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("a NUL byte in the path"))?;
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and st a properly sized out-parameter.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_type as i64)
}

/// Why a folder cannot be used now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Away {
    /// Not there: a share not mounted, a folder renamed away.
    Missing,
    NotAFolder,
    /// Another folder stands at its path (an empty mount point, a folder of another filesystem).
    Replaced,
    /// The filesystem answers with an error (EIO, ESTALE, ENOTCONN, EHOSTDOWN, ...).
    Unreachable(String),
}

impl Away {
    pub fn from_io(e: &std::io::Error) -> Away {
        match e.kind() {
            std::io::ErrorKind::NotFound => Away::Missing,
            std::io::ErrorKind::NotADirectory => Away::Missing,
            _ => Away::Unreachable(e.to_string()),
        }
    }

    /// Whether an error of a file operation says that the share itself is gone, not the file.
    pub fn is_share_error(e: &std::io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(
                libc::EIO
                    | libc::ENOTCONN
                    | libc::EHOSTDOWN
                    | libc::EHOSTUNREACH
                    | libc::ESTALE
                    | libc::ENODEV
                    | libc::ETIMEDOUT
                    | libc::ECONNABORTED
                    | libc::ECONNRESET
                    | libc::ENETDOWN
                    | libc::ENETUNREACH
                    | libc::EREMOTEIO
            )
        )
    }
}

impl std::fmt::Display for Away {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Away::Missing => write!(f, "missing (is the share mounted?)"),
            Away::NotAFolder => write!(f, "not a folder"),
            Away::Replaced => write!(
                f,
                "not the folder dropcast knows (an empty mount point? is the share mounted?)"
            ),
            Away::Unreachable(e) => write!(f, "unreachable ({e})"),
        }
    }
}

/// A configured folder that is away, as the reports show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AwayFolder {
    pub role: &'static str,
    pub path: PathBuf,
    pub why: String,
}

struct Known {
    role: &'static str,
    path: PathBuf,
    identity: Option<Identity>,
    away: Option<(Away, Instant)>,
}

/// The configured folders and what dropcast knows of each.
pub struct Share {
    /// `state_dir/folders.json`; `None` in a dry run, which writes nothing.
    memory: Option<PathBuf>,
    /// Whose inboxes these are: dropcast acts only on an inbox whose lease it holds.
    leases: Option<std::sync::Arc<crate::lease::Leases>>,
    known: Mutex<Vec<Known>>,
}

impl Share {
    /// The config's folders, with what `state_dir/folders.json` remembers of them.
    pub fn new(config: &Config) -> Share {
        let memory = config.state_dir.join("folders.json");
        let remembered: BTreeMap<PathBuf, Identity> = std::fs::read(&memory)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut folders: Vec<(&'static str, PathBuf)> = config
            .inboxes
            .iter()
            .map(|i| ("inbox", i.path.clone()))
            .collect();
        folders.push(("archive", config.archive.clone()));
        folders.push(("failed", config.failed.clone()));
        folders.push(("scheduled", config.scheduled.clone()));
        let known = folders
            .into_iter()
            .map(|(role, path)| Known {
                role,
                identity: remembered.get(&path).copied(),
                path,
                away: None,
            })
            .collect();
        Share {
            memory: Some(memory),
            leases: None,
            known: Mutex::new(known),
        }
    }

    /// The same, acting only on the inboxes whose lease `leases` holds.
    pub fn with_leases(mut self, leases: std::sync::Arc<crate::lease::Leases>) -> Share {
        self.leases = Some(leases);
        self
    }

    /// Whether this dropcast holds the lease of the inbox of `path`, as of its last look (no
    /// file read).
    pub fn held(&self, path: &Path) -> bool {
        self.leases.as_ref().is_none_or(|l| l.holds(path))
    }

    /// Whether the watcher may look at `path`: held, and announced once the inbox's work was
    /// adopted (see `Leases::announced`).
    pub fn watched(&self, path: &Path) -> bool {
        self.leases.as_ref().is_none_or(|l| l.announced(path))
    }

    /// The leases this dropcast acts under (none in a dry run or without a lease task).
    pub fn leases(&self) -> Option<&std::sync::Arc<crate::lease::Leases>> {
        self.leases.as_ref()
    }

    /// The fencing number of the lease this dropcast holds on the inbox of `path`: written into
    /// what it leaves in a work folder, so that a later owner can tell whose work it is.
    pub fn fence(&self, path: &Path) -> Option<u64> {
        self.leases.as_ref().and_then(|l| l.fence(path))
    }

    /// Right before an irreversible step (moving files out of an inbox, into the archive or
    /// failed/): every folder of `paths` is reachable, and the lease of every inbox among them
    /// is still this dropcast's (read again now).
    pub fn may_act<'a>(&self, paths: impl IntoIterator<Item = &'a Path> + Clone) -> bool {
        self.all_here(paths.clone()) && self.leases.as_ref().is_none_or(|l| l.confirm_all(paths))
    }

    /// The same, remembering nothing new (`--dry-run` writes nothing, not even here).
    pub fn without_memory(mut self) -> Share {
        self.memory = None;
        self
    }

    /// Checks every folder now; returns those that are away.
    pub fn check_all(&self) -> Vec<AwayFolder> {
        let paths: Vec<PathBuf> = self.lock().iter().map(|k| k.path.clone()).collect();
        for p in &paths {
            let _ = self.check(p);
        }
        self.away()
    }

    /// The folders away at the last look.
    pub fn away(&self) -> Vec<AwayFolder> {
        self.lock()
            .iter()
            .filter_map(|k| {
                k.away.as_ref().map(|(why, _)| AwayFolder {
                    role: k.role,
                    path: k.path.clone(),
                    why: why.to_string(),
                })
            })
            .collect()
    }

    /// Checks the configured folder that holds `path` (the most specific one), or `path` itself
    /// when it is one. A path in no configured folder is fine.
    pub fn check(&self, path: &Path) -> Result<(), Away> {
        let Some(folder) = self.folder_of(path) else {
            return Ok(());
        };
        let now = Identity::of(&folder);
        let mut remember = false;
        let result = {
            let mut known = self.lock();
            let Some(k) = known.iter_mut().find(|k| k.path == folder) else {
                return Ok(());
            };
            let verdict = match (&now, &k.identity) {
                (Err(away), _) => Err(away.clone()),
                (Ok(now), None) => {
                    k.identity = Some(*now);
                    remember = true;
                    Ok(())
                }
                (Ok(now), Some(was)) if now == was => Ok(()),
                (Ok(now), Some(was)) if was.same_kind(now) => {
                    tracing::info!(folder = %k.path.display(), "the folder is back (verified again)");
                    k.identity = Some(*now);
                    remember = true;
                    Ok(())
                }
                (Ok(_), Some(_)) => Err(Away::Replaced),
            };
            match &verdict {
                Ok(()) => {
                    if k.away.take().is_some() {
                        tracing::info!(folder = %k.path.display(), role = k.role, "the folder is reachable again: work resumes");
                    }
                }
                Err(why) => {
                    let say = match &k.away {
                        None => true,
                        Some((_, at)) => at.elapsed() >= SAY_AGAIN,
                    };
                    if say {
                        tracing::warn!(folder = %k.path.display(), role = k.role, why = %why, "a folder is away: the work that needs it waits until it is back");
                        k.away = Some((why.clone(), Instant::now()));
                    } else if let Some((w, _)) = &mut k.away {
                        *w = why.clone();
                    }
                }
            }
            verdict
        };
        if remember {
            self.remember();
        }
        result
    }

    /// Whether every folder that `paths` are in is reachable now.
    pub fn all_here<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> bool {
        let mut folders: Vec<PathBuf> = paths
            .into_iter()
            .filter_map(|p| self.folder_of(p))
            .collect();
        folders.sort();
        folders.dedup();
        folders.iter().all(|f| self.check(f).is_ok())
    }

    /// The most specific configured folder holding `path`.
    fn folder_of(&self, path: &Path) -> Option<PathBuf> {
        self.lock()
            .iter()
            .filter(|k| path.starts_with(&k.path))
            .max_by_key(|k| k.path.as_os_str().len())
            .map(|k| k.path.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Known>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes what is known to `folders.json` (a temporary file renamed over it): a state
    /// folder that cannot take it only loses the memory, never the work.
    fn remember(&self) {
        let Some(memory) = &self.memory else {
            return;
        };
        let map: BTreeMap<PathBuf, Identity> = self
            .lock()
            .iter()
            .filter_map(|k| k.identity.map(|i| (k.path.clone(), i)))
            .collect();
        let Ok(text) = serde_json::to_vec_pretty(&map) else {
            return;
        };
        let tmp = memory.with_extension("json.tmp");
        // The state folder is local (never on the share) and the journal's too: made if new.
        if let Some(state) = memory.parent() {
            let _ = std::fs::create_dir_all(state);
        }
        if std::fs::write(&tmp, text).is_ok() {
            let _ = crate::spool::replace_own_file(&tmp, memory);
        }
    }
}

/// What `status` (without a daemon) can tell of the configured folders: those missing or not
/// folders, and those that are no longer the kind of folder `folders.json` remembers.
pub fn look(config: &Config) -> Vec<AwayFolder> {
    let remembered: BTreeMap<PathBuf, Identity> =
        std::fs::read(config.state_dir.join("folders.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
    let share = Share::new(config);
    let mut out = Vec::new();
    for k in share.lock().iter() {
        let why = match (Identity::of(&k.path), remembered.get(&k.path)) {
            (Err(away), _) => away,
            (Ok(now), Some(was)) if now != *was && !was.same_kind(&now) => Away::Replaced,
            _ => continue,
        };
        out.push(AwayFolder {
            role: k.role,
            path: k.path.clone(),
            why: why.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> Config {
        let text = format!(
            "telegram: {{token: \"123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789\"}}\n\
             channels: {{news: \"@town_news\"}}\ninboxes: [{{path: {d}/inbox}}]\n\
             archive: {d}/archive\nfailed: {d}/failed\nscheduled: {d}/scheduled\nstate_dir: {d}/state\n",
            d = dir.display()
        );
        crate::config::parse(&text, &dir.join("dropcast.yaml"), &|_| None).unwrap()
    }

    #[test]
    fn a_folder_renamed_away_is_missing_and_back_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["inbox", "archive", "failed", "scheduled", "state"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let c = config(dir.path());
        let share = Share::new(&c);
        assert!(share.check_all().is_empty());
        let archive = dir.path().join("archive");
        std::fs::rename(&archive, dir.path().join("archive.away")).unwrap();
        assert_eq!(share.check(&archive.join("2026/12")), Err(Away::Missing));
        assert_eq!(share.away().len(), 1);
        std::fs::rename(dir.path().join("archive.away"), &archive).unwrap();
        assert_eq!(share.check(&archive), Ok(()));
        assert!(share.away().is_empty());
        // The inbox's files are checked by the inbox, the work folder's too.
        assert!(share.all_here([dir.path().join("inbox/.dropcast/1-0/a.pdf").as_path()]));
        // A path outside every configured folder is nobody's business.
        assert_eq!(share.check(Path::new("/etc/passwd")), Ok(()));
    }

    #[test]
    fn another_kind_of_folder_at_the_path_is_not_the_share() {
        let was = Identity {
            dev: 40,
            ino: 2,
            fs_type: 0x6573_5546,
            mount_root: true,
        };
        // A remount: new device, same kind of folder.
        assert!(was.same_kind(&Identity { dev: 41, ..was }));
        // The empty mount point left on the local disk.
        assert!(!was.same_kind(&Identity {
            dev: 8,
            ino: 1234,
            fs_type: 0xEF53,
            mount_root: false
        }));
    }

    #[test]
    fn what_was_verified_is_remembered_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["inbox", "archive", "failed", "scheduled", "state"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let c = config(dir.path());
        assert!(Share::new(&c).check_all().is_empty());
        let mut remembered: BTreeMap<PathBuf, Identity> =
            serde_json::from_slice(&std::fs::read(dir.path().join("state/folders.json")).unwrap())
                .unwrap();
        assert_eq!(remembered.len(), 4);
        // Pretend the archive used to be the root of a FUSE mount: the local folder there now
        // is not it.
        let archive = dir.path().join("archive");
        let a = remembered.get_mut(&archive).unwrap();
        a.fs_type = 0x6573_5546;
        a.mount_root = true;
        std::fs::write(
            dir.path().join("state/folders.json"),
            serde_json::to_vec(&remembered).unwrap(),
        )
        .unwrap();
        let share = Share::new(&c);
        assert_eq!(share.check(&archive), Err(Away::Replaced));
        assert_eq!(look(&c).len(), 1);
        assert!(share.away()[0].why.contains("mount"), "{:?}", share.away());
    }
}
