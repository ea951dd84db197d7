//! When is a file complete? The settle rule, kept in memory and rebuilt from a scan at start.
//!
//! A file is settled once dropcast has seen the same size, mtime and inode for `settle`, measured
//! from the last change *dropcast observed*: not from the file's mtime, which SMB and Explorer
//! copies set to the source's old time while the bytes are still arriving. The check at the end
//! of the window re-reads the metadata, so a change that no event reported still resets it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// What identifies a version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime: SystemTime,
    pub inode: u64,
}

impl Stamp {
    /// The stamp of a regular file; `None` for anything else (symlinks, folders, devices, FIFOs).
    pub fn of(meta: &std::fs::Metadata) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        if !meta.file_type().is_file() {
            return None;
        }
        Some(Stamp {
            size: meta.len(),
            mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            inode: meta.ino(),
        })
    }
}

/// What dropcast knows about one file in the inbox.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub stamp: Stamp,
    pub first_seen: Instant,
    pub changed_at: Instant,
    pub settled_at: Option<Instant>,
}

/// The files being watched, by path.
#[derive(Debug, Default)]
pub struct Tracker {
    entries: HashMap<PathBuf, Entry>,
}

impl Tracker {
    /// Records what a scan or an event saw; `None` means the file is gone (or not a regular file).
    /// Returns true when the file is new to the tracker.
    pub fn observe(&mut self, path: &Path, stamp: Option<Stamp>, now: Instant) -> bool {
        let Some(stamp) = stamp else {
            self.entries.remove(path);
            return false;
        };
        match self.entries.get_mut(path) {
            Some(e) if e.stamp == stamp => false,
            Some(e) => {
                e.stamp = stamp;
                e.changed_at = now;
                e.settled_at = None;
                false
            }
            None => {
                self.entries.insert(
                    path.to_path_buf(),
                    Entry {
                        stamp,
                        first_seen: now,
                        changed_at: now,
                        settled_at: None,
                    },
                );
                true
            }
        }
    }

    /// Unsettled files whose quiet window has passed: re-read their metadata and [`confirm`].
    ///
    /// [`confirm`]: Tracker::confirm
    pub fn due(&self, now: Instant, settle: Duration) -> Vec<PathBuf> {
        self.entries
            .iter()
            .filter(|(_, e)| e.settled_at.is_none() && now >= e.changed_at + settle)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Takes a fresh reading of a due file; returns true when the file just settled.
    pub fn confirm(
        &mut self,
        path: &Path,
        stamp: Option<Stamp>,
        now: Instant,
        settle: Duration,
    ) -> bool {
        self.observe(path, stamp, now);
        match self.entries.get_mut(path) {
            Some(e) if e.settled_at.is_none() && now >= e.changed_at + settle => {
                e.settled_at = Some(now);
                true
            }
            _ => false,
        }
    }

    /// Restarts a file's quiet window without a visible change (it could not be opened yet).
    pub fn touch(&mut self, path: &Path, now: Instant) {
        if let Some(e) = self.entries.get_mut(path) {
            e.changed_at = now;
            e.settled_at = None;
        }
    }

    /// When the next unsettled file's window ends.
    pub fn next_due(&self, settle: Duration) -> Option<Instant> {
        self.entries
            .values()
            .filter(|e| e.settled_at.is_none())
            .map(|e| e.changed_at + settle)
            .min()
    }

    pub fn get(&self, path: &Path) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub fn remove(&mut self, path: &Path) {
        self.entries.remove(path);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every settled file.
    pub fn settled(&self) -> impl Iterator<Item = (&PathBuf, &Entry)> {
        self.entries.iter().filter(|(_, e)| e.settled_at.is_some())
    }

    /// Whether any file is still settling.
    pub fn any_unsettled(&self) -> bool {
        self.entries.values().any(|e| e.settled_at.is_none())
    }

    /// Forgets every file under `dir` that `keep` rejects (after a scan that did not see them).
    pub fn retain(&mut self, keep: impl Fn(&Path) -> bool) {
        self.entries.retain(|p, _| keep(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(size: u64, secs: u64) -> Option<Stamp> {
        Some(Stamp {
            size,
            mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            inode: 1,
        })
    }

    #[test]
    fn a_slow_writer_never_settles_while_writing() {
        let settle = Duration::from_secs(3);
        let t0 = Instant::now();
        let p = Path::new("/in/scan.pdf");
        let mut t = Tracker::default();
        // A scanner writes 4 KB every second for 20 seconds; dropcast polls every 2.5 s.
        let mut size = 0;
        for tick in 0..40u64 {
            let now = t0 + Duration::from_millis(tick * 500);
            if tick % 2 == 0 && tick < 40 {
                size += 4096;
            }
            if tick % 5 == 0 {
                t.observe(p, stamp(size, tick / 2), now);
            }
            for due in t.due(now, settle) {
                assert!(
                    !t.confirm(&due, stamp(size, tick / 2), now, settle),
                    "settled mid-write at tick {tick}"
                );
            }
        }
        // The writer stopped at 20 s; 3 s later the file is complete.
        let end = t0 + Duration::from_secs(20);
        t.observe(p, stamp(size, 20), end);
        assert!(t.due(end + Duration::from_secs(2), settle).is_empty());
        assert_eq!(t.due(end + settle, settle), vec![p.to_path_buf()]);
        assert!(t.confirm(p, stamp(size, 20), end + settle, settle));
        assert_eq!(t.settled().count(), 1);
    }

    #[test]
    fn a_change_seen_only_at_confirmation_restarts_the_window() {
        let settle = Duration::from_secs(3);
        let t0 = Instant::now();
        let p = Path::new("/in/a.pdf");
        let mut t = Tracker::default();
        t.observe(p, stamp(10, 1), t0);
        assert_eq!(t.next_due(settle), Some(t0 + settle));
        assert!(!t.confirm(p, stamp(20, 1), t0 + settle, settle));
        assert_eq!(t.next_due(settle), Some(t0 + settle + settle));
        assert!(t.confirm(p, stamp(20, 1), t0 + settle * 2, settle));
        // A file that changes after settling is unsettled again.
        t.observe(p, stamp(30, 2), t0 + settle * 3);
        assert_eq!(t.settled().count(), 0);
        // A vanished file is forgotten.
        t.observe(p, None, t0 + settle * 4);
        assert!(t.is_empty());
    }

    #[test]
    fn same_size_and_mtime_but_replaced_is_a_change() {
        let settle = Duration::from_secs(3);
        let t0 = Instant::now();
        let p = Path::new("/in/a.pdf");
        let mut t = Tracker::default();
        t.observe(p, stamp(10, 1), t0);
        let replaced = stamp(10, 1).map(|s| Stamp { inode: 2, ..s });
        assert!(!t.confirm(p, replaced, t0 + settle, settle));
    }
}
