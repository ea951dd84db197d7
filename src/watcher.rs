//! The watcher task: scans and events feed the settle tracker, settled files are paired into
//! bundles, and each bundle goes to the preparer. The preparer says when it is done with a
//! bundle's files ([`Returned`]), so that a file is never handed over twice.
//!
//! Architecture Invariant: the watcher never waits for the network, never hashes and never
//! writes; a file it has handed over (claimed) is not looked at again until it is returned.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::bundle::{Filter, Kind};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pairing::{self, Folders, View};
use crate::pipeline::PipelineError;
use crate::prepare::{self, Candidate};
use crate::settle::{Stamp, Tracker};
use crate::share::Share;
use crate::watch::{self as watching, Root, Signal};

/// What the preparer says about a bundle's files once it is done with them.
#[derive(Debug)]
pub enum Returned {
    /// Moved out of the inbox (work folder, `failed/`), or to be looked at again: the watcher
    /// sees whatever is still there as new.
    Released(Vec<PathBuf>),
    /// Left in the inbox on purpose (a dry run, a failure to move): they stay claimed until the
    /// next start, so that they are not taken again and again.
    Kept(Vec<PathBuf>),
}

/// The watcher's channels: bundles out to the preparer, their files back.
pub struct Links {
    pub candidates: mpsc::UnboundedSender<Candidate>,
    pub returned: mpsc::UnboundedReceiver<Returned>,
    /// Told when this dropcast becomes active on an inbox, or stands by.
    pub leases: Arc<crate::lease::Leases>,
}

/// The watcher task's state.
pub struct Watcher {
    config: Arc<Config>,
    roots: Vec<Root>,
    filter: Arc<Filter>,
    once: bool,
    tracker: Tracker,
    attachments: AttachmentCache,
    /// Files handed to the preparer and not returned yet.
    claimed: HashSet<PathBuf>,
    /// Bundles handed to the preparer and not returned yet.
    in_progress: usize,
    /// The shortest poll interval of the inboxes on network shares, if any.
    poll: Option<Duration>,
    signals: mpsc::Receiver<Signal>,
    _native: Option<watching::Native>,
    candidates: mpsc::UnboundedSender<Candidate>,
    returned: mpsc::UnboundedReceiver<Returned>,
    metrics: Arc<Metrics>,
    share: Arc<Share>,
    /// The folders looked into once already (see `observe_path`).
    known_folders: HashSet<PathBuf>,
    /// New folders to look into again, and when (see `observe_path`).
    new_folders: Vec<PathBuf>,
    new_folder_look: Option<std::time::Instant>,
    /// Each change of this dropcast's role on an inbox: a full look at once.
    role_changes: tokio::sync::watch::Receiver<u64>,
}

impl Watcher {
    /// Chooses how each inbox is watched (and says so) and starts the native watches.
    pub fn new(
        config: Arc<Config>,
        roots: Vec<Root>,
        filter: Arc<Filter>,
        once: bool,
        links: Links,
        metrics: Arc<Metrics>,
        share: Arc<Share>,
    ) -> Result<Watcher, PipelineError> {
        let (sig_tx, signals) = mpsc::channel::<Signal>(4096);
        let mut poll: Option<Duration> = None;
        let mut native_roots = Vec::new();
        for (root, inbox) in roots.iter().zip(&config.inboxes) {
            let fs = watching::filesystem_kind(&root.path);
            let plan = watching::plan(config.watch.mode, fs, config.watch.poll_interval);
            if !once {
                tracing::info!(inbox = %inbox.path.display(), mode = %plan.reason, "watching");
            }
            if plan.native {
                native_roots.push(root.clone());
            }
            if let Some(p) = plan.poll {
                poll = Some(poll.map_or(p, |q: Duration| q.min(p)));
            }
        }
        let native = if once || native_roots.is_empty() {
            None
        } else {
            Some(watching::native(&native_roots, sig_tx).map_err(|source| {
                PipelineError::Watch {
                    path: native_roots[0].path.clone(),
                    source,
                }
            })?)
        };
        Ok(Watcher {
            config,
            roots,
            filter,
            once,
            tracker: Tracker::default(),
            attachments: AttachmentCache::default(),
            claimed: HashSet::new(),
            in_progress: 0,
            poll,
            signals,
            _native: native,
            candidates: links.candidates,
            returned: links.returned,
            role_changes: links.leases.subscribe(),
            known_folders: HashSet::new(),
            new_folders: Vec::new(),
            new_folder_look: None,
            metrics,
            share,
        })
    }

    /// Runs until shutdown, or with `once` until the inbox is done; closing the candidate
    /// channel on return tells the preparer that nothing more comes.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let settle = self.settle();
        let mut next_rescan = Instant::now();
        let mut next_poll = self.poll.map(|_| Instant::now());
        loop {
            let now = Instant::now();
            if now >= next_rescan || next_poll.is_some_and(|t| now >= t) {
                self.full_scan(now.into_std());
                next_rescan = now + self.config.watch.rescan_interval;
                next_poll = self.poll.map(|p| now + p);
            }
            if self.new_folder_look.is_some_and(|t| now.into_std() >= t) {
                self.new_folder_look = None;
                for dir in std::mem::take(&mut self.new_folders) {
                    self.look_into(&dir, now.into_std());
                }
            }
            self.settle_due(now.into_std());
            let Some(wait_until) = self.hand_over(now.into_std()) else {
                return;
            };
            if self.once && self.inbox_done() {
                return;
            }

            let mut wake = next_rescan;
            for t in [
                self.tracker.next_due(settle).map(Instant::from_std),
                wait_until.map(Instant::from_std),
                next_poll,
                self.new_folder_look.map(Instant::from_std),
            ]
            .into_iter()
            .flatten()
            {
                wake = wake.min(t);
            }
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                // Became active on an inbox (or lost one): look at everything again now.
                Ok(()) = self.role_changes.changed() => self.full_scan(Instant::now().into_std()),
                Some(sig) = self.signals.recv() => self.on_signals(sig),
                Some(back) = self.returned.recv() => self.on_returned(back),
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Observes what a new folder holds, as events would have told (folders inside it too).
    fn look_into(&mut self, dir: &Path, now: std::time::Instant) {
        let entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        for p in entries {
            self.observe_path(&p, now);
        }
    }

    /// How long a file must look unchanged. Where the watcher polls a network share, a client
    /// may show a file's size and time as they were up to a second ago (bindfs's attribute
    /// cache, SMB's `actimeo` and NFS's `acregmin` default to about that): a writer pausing
    /// between chunks could look quiet for `settle` while it is still writing, so the window is
    /// that much longer there.
    fn settle(&self) -> Duration {
        let settle = self.config.watch.settle;
        if self.poll.is_some() {
            settle + ATTRIBUTE_CACHE
        } else {
            settle
        }
    }

    /// Confirms the files whose settle window ended: stat'ed again and opened.
    fn settle_due(&mut self, now: std::time::Instant) {
        let settle = self.settle();
        for path in self.tracker.due(now, settle) {
            // A file that cannot be opened yet (a copy holding it, permissions not set yet)
            // counts as still changing.
            let stamp = watching::stamp(&path);
            if stamp.is_some() && prepare::open_regular(&path).is_err() {
                self.tracker.touch(&path, now);
                continue;
            }
            if self.tracker.confirm(&path, stamp, now, settle) {
                tracing::info!(file = %path.display(), "settled");
            }
        }
    }

    /// Pairs the settled files and hands the bundles to the preparer. Returns when the next
    /// waiting file needs a decision, or `None` when the preparer is gone.
    fn hand_over(&mut self, now: std::time::Instant) -> Option<Option<std::time::Instant>> {
        let view = View {
            tracker: &self.tracker,
            claimed: &self.claimed,
            roots: &self.roots,
            filter: &self.filter,
            config: &self.config,
            once: self.once,
        };
        let mut disk = Disk {
            cache: &mut self.attachments,
            tracker: &self.tracker,
            config: &self.config,
        };
        let paired = pairing::pair(&view, &mut disk, now);
        self.attachments.retain(&self.tracker);
        for c in paired.candidates {
            // A claimed file leaves the tracker, so that the passes over it (settling, pairing)
            // cost what is still waiting, not what is being posted.
            for p in c.paths() {
                self.tracker.remove(&p);
                self.claimed.insert(p);
            }
            self.in_progress += 1;
            if self.candidates.send(c).is_err() {
                return None;
            }
        }
        Some(paired.wake)
    }

    /// `once`: whether everything that can be posted now was, and the rest only waits for a
    /// sidecar (counted as left).
    fn inbox_done(&self) -> bool {
        if self.tracker.any_unsettled() || self.in_progress > 0 {
            return false;
        }
        let waiting = self
            .tracker
            .settled()
            .filter(|(p, _)| !self.claimed.contains(*p))
            .count();
        if waiting > 0 {
            tracing::warn!(
                files = waiting,
                "some files wait for their sidecar and stay in the inbox"
            );
            Metrics::add(&self.metrics.bundles_left, waiting as u64);
        }
        true
    }

    fn on_signals(&mut self, first: Signal) {
        let now = Instant::now().into_std();
        let mut sig = Some(first);
        // Drain what is queued so a burst of events costs one pass.
        while let Some(s) = sig.take() {
            match s {
                Signal::Rescan => self.full_scan(now),
                Signal::Paths(paths) => {
                    for p in paths {
                        self.observe_path(&p, now);
                    }
                }
            }
            sig = self.signals.try_recv().ok();
        }
    }

    fn on_returned(&mut self, first: Returned) {
        let now = Instant::now().into_std();
        let mut back = Some(first);
        // Drain what came back meanwhile: a backlog costs one pass per batch.
        while let Some(b) = back.take() {
            self.in_progress = self.in_progress.saturating_sub(1);
            if let Returned::Released(paths) = b {
                for p in &paths {
                    self.claimed.remove(p);
                }
                // Anything left in place (a move that failed) is seen again now.
                for p in &paths {
                    self.observe_path(p, now);
                }
            }
            back = self.returned.try_recv().ok();
        }
    }

    /// Scans every inbox that is here. An inbox that is away (a share not mounted, a folder
    /// renamed away) is not scanned, and what the tracker knew of it is forgotten: nothing of it
    /// is paired while it is away, and it is all seen again, and settles again, when it is back.
    fn full_scan(&mut self, now: std::time::Instant) {
        // Every configured folder, so that the log, the page and /healthz say what is away even
        // while nothing needs it.
        self.share.check_all();
        let mut seen = HashSet::new();
        for root in &self.roots {
            // Away, or another dropcast's (this one stands by): not looked at.
            if self.share.check(&root.path).is_err() || !self.share.watched(&root.path) {
                continue;
            }
            for (path, stamp) in watching::scan(root, &self.filter) {
                if !self.claimed.contains(&path) && self.tracker.observe(&path, Some(stamp), now) {
                    tracing::info!(file = %path.display(), "seen");
                }
                seen.insert(path);
            }
        }
        self.tracker.retain(|p| seen.contains(p));
    }

    fn observe_path(&mut self, path: &Path, now: std::time::Instant) {
        if self.claimed.contains(path) || !self.share.watched(path) {
            return;
        }
        let Some(root) = pairing::inbox_of(&self.roots, path).map(|i| &self.roots[i]) else {
            return;
        };
        let Some(rel) = root.relative(path) else {
            return;
        };
        // A new folder (a clerk's `meteo/`, made and filled at once): its files may be written
        // before the kernel watches it, and their events are lost. A look into it now, and
        // again a moment later (once it is watched, a later write has its event), finds them.
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        // Only names that are no file of a post (`meteo`, not `notice.pdf`) can be folders here:
        // the files' own events take the usual way, untouched.
        let folder_like = self.filter.by_extension(name) == Kind::Ignored;
        if folder_like && std::fs::symlink_metadata(path).is_err() {
            // Gone: made again later, it is new again.
            self.known_folders.remove(path);
        }
        if folder_like
            && root.recursive
            && !rel.is_empty()
            && !Filter::is_junk(name)
            && !self.filter.is_ignored(&rel)
            && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
        {
            // Once per folder: reading a folder is an event on it too.
            if self.known_folders.insert(path.to_path_buf()) {
                self.look_into(path, now);
                self.new_folders.push(path.to_path_buf());
                let later = now
                    + self
                        .config
                        .watch
                        .settle
                        .max(std::time::Duration::from_millis(500));
                self.new_folder_look = Some(self.new_folder_look.map_or(later, |t| t.min(later)));
            }
            return;
        }
        if self.filter.classify(&rel) == Kind::Ignored
            || !watching::no_links_between(&root.path, path)
        {
            return;
        }
        if self.tracker.observe(path, watching::stamp(path), now) {
            tracing::info!(file = %path.display(), "seen");
        }
    }
}

/// How old a network share's view of a file's size and time may be (see `Watcher::settle`).
const ATTRIBUTE_CACHE: Duration = Duration::from_secs(1);

/// The `attachments:` of settled sidecars, cached by stamp so a sidecar is parsed once.
#[derive(Default)]
struct AttachmentCache {
    by_sidecar: HashMap<PathBuf, (Stamp, Vec<String>)>,
}

impl AttachmentCache {
    fn retain(&mut self, tracker: &Tracker) {
        self.by_sidecar.retain(|p, _| tracker.get(p).is_some());
    }
}

/// What pairing looks up, read from the disk.
struct Disk<'a> {
    cache: &'a mut AttachmentCache,
    tracker: &'a Tracker,
    config: &'a Config,
}

impl Folders for Disk<'_> {
    fn entries(&mut self, dir: &Path) -> Vec<pairing::Entry> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let regular = e.file_type().is_ok_and(|t| t.is_file());
                Some(pairing::Entry { name, regular })
            })
            .collect()
    }

    fn attachments(&mut self, sidecar: &Path) -> Vec<String> {
        let Some(entry) = self.tracker.get(sidecar) else {
            return Vec::new();
        };
        if let Some((stamp, names)) = self.cache.by_sidecar.get(sidecar)
            && *stamp == entry.stamp
        {
            return names.clone();
        }
        // A sidecar that does not parse has no attachments here; prepare reports its error.
        let names = prepare::read_sidecar(sidecar, self.config)
            .map(|(s, _)| s.attachments)
            .unwrap_or_default();
        self.cache
            .by_sidecar
            .insert(sidecar.to_path_buf(), (entry.stamp, names.clone()));
        names
    }
}
