//! The wiring: the watcher loop (scans, events, settling, pairing) feeds one preparer (checks,
//! journal, work folder), which feeds one sender per channel, whose results a finisher turns into
//! archived or failed bundles. One shutdown signal reaches every task.
//!
//! Architecture Invariant: watching, settling and hashing never wait for the network; a bundle is
//! archived only after every delivery is recorded; a file the journal does not mention is still
//! in the inbox.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::bundle::{self, Filter, Kind, Lone};
use crate::config::{Config, SidecarPolicy};
use crate::deliver::{self, Deliverer, Ended, Pacing};
use crate::journal::{
    BundleState, DeliveryOutcome, FileRecord, Finished, Journal, JournalError, NewBundle,
};
use crate::messages::{self, Problem};
use crate::metrics::Metrics;
use crate::post::OutMessage;
use crate::prepare::{self, Candidate, Prepared, Refusal};
use crate::settle::Tracker;
use crate::spool;
use crate::telegram::{Client, TelegramError};
use crate::watch::{self as watching, Root, Signal};

/// The daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("inbox {0} does not exist (is the share mounted?)")]
    NoInbox(PathBuf),
    #[error("cannot create folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot watch {path}: {source}")]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
    #[error("cannot serve the status page on {addr}: {source}")]
    Http {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("telegram refused the bot token: {0}")]
    Token(TelegramError),
    #[error(transparent)]
    Telegram(TelegramError),
}

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Post what is in the inbox now, then exit.
    pub once: bool,
    /// Print each post instead of sending it; touch nothing.
    pub dry_run: bool,
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub posted: u64,
    pub failed: u64,
    /// Bundles still waiting (for a sidecar, or for Telegram to come back).
    pub left: u64,
}

#[derive(Default)]
struct Counters {
    posted: AtomicU64,
    failed: AtomicU64,
    left: AtomicU64,
    metrics: Arc<Metrics>,
}

/// Runs dropcast until `shutdown` turns true (or, with `once`, until the inbox is done).
pub async fn run(
    config: Arc<Config>,
    opts: Options,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<Summary, PipelineError> {
    metrics
        .started
        .store(crate::journal::now(), Ordering::Relaxed);
    let roots = roots(&config)?;
    let filter = Arc::new(Filter::new(&config.accept, &config.ignore));
    let counters = Arc::new(Counters {
        metrics: metrics.clone(),
        ..Counters::default()
    });

    let backend = if opts.dry_run {
        None
    } else {
        let journal = Arc::new(Journal::open(&config.state_dir)?);
        recover(&journal);
        spool::sweep_temporaries(&config.archive, &config.failed);
        let client = Client::new(&config.api_url, config.token.clone())
            .map_err(PipelineError::Telegram)?
            .with_local_files(config.local_files)
            .with_timeout(config.request_timeout);
        match client.get_me().await {
            Ok(me) => tracing::info!(bot = %format!("@{}", me.username), "connected to telegram"),
            Err(
                e @ TelegramError::Permanent {
                    code: 401 | 404, ..
                },
            ) => {
                return Err(PipelineError::Token(e));
            }
            Err(e) => {
                tracing::warn!(error = %e, "telegram is not reachable now; posts wait and are retried")
            }
        }
        Some((journal, client))
    };

    let (cand_tx, cand_rx) = mpsc::unbounded_channel::<Candidate>();
    let (back_tx, mut back_rx) = mpsc::unbounded_channel::<(Vec<PathBuf>, bool)>();
    let (done_tx, done_rx) = mpsc::unbounded_channel::<(i64, Ended)>();

    let mut tasks = tokio::task::JoinSet::new();
    let finisher = backend.as_ref().map(|(journal, _)| {
        tokio::spawn(finisher(
            config.clone(),
            journal.clone(),
            done_rx,
            counters.clone(),
            shutdown.clone(),
        ))
    });
    let deliverer = backend.as_ref().map(|(journal, client)| Deliverer {
        journal: journal.clone(),
        client: client.clone(),
        pacing: Pacing::new(config.pacing, config.pacing_scale),
        uncertain: config.uncertain,
        max_attempts: if opts.once { Some(5) } else { None },
        metrics: metrics.clone(),
    });
    tasks.spawn(preparer(
        config.clone(),
        roots.clone(),
        deliverer,
        cand_rx,
        back_tx,
        done_tx,
        counters.clone(),
        shutdown.clone(),
    ));

    watcher_loop(
        &config,
        &roots,
        &filter,
        opts,
        cand_tx,
        &mut back_rx,
        &counters,
        shutdown.clone(),
    )
    .await?;

    // `once`: the candidate channel is closed; the preparer drains it, then the senders drain
    // their queues, then the finisher sees every sender gone. `run`: everyone saw the shutdown.
    while tasks.join_next().await.is_some() {}
    if let Some(f) = finisher {
        let _ = f.await;
    }
    Ok(Summary {
        posted: counters.posted.load(Ordering::Relaxed),
        failed: counters.failed.load(Ordering::Relaxed),
        left: counters.left.load(Ordering::Relaxed),
    })
}

/// The inboxes as watch roots, each skipping dropcast's own folders.
fn roots(config: &Config) -> Result<Vec<Root>, PipelineError> {
    for dir in [&config.archive, &config.failed] {
        std::fs::create_dir_all(dir).map_err(|source| PipelineError::Folder {
            path: dir.clone(),
            source,
        })?;
    }
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let own: Vec<PathBuf> = config.own_folders().iter().map(|p| canon(p)).collect();
    config
        .inboxes
        .iter()
        .map(|inbox| {
            if !inbox.path.is_dir() {
                return Err(PipelineError::NoInbox(inbox.path.clone()));
            }
            let path = canon(&inbox.path);
            let mut skip = own.clone();
            skip.push(path.join(".dropcast"));
            // An inbox inside another inbox belongs to the inner one only.
            for other in &config.inboxes {
                let o = canon(&other.path);
                if o != path && o.starts_with(&path) {
                    skip.push(o);
                }
            }
            Ok(Root {
                path,
                recursive: inbox.recursive,
                skip,
            })
        })
        .collect()
}

/// Puts back files that the journal says wait in a work folder but that a crash left in the
/// inbox (the journal is written before the move).
fn recover(journal: &Journal) {
    let Ok(files) = journal.waiting_files() else {
        return;
    };
    for f in files {
        if !f.work.exists() && f.original.exists() {
            if let Some(dir) = f.work.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match spool::move_file(&f.original, &f.work, &mut spool::Syncs::now()) {
                Ok(()) => {
                    tracing::info!(file = %f.original.display(), "resumed a bundle interrupted by a restart")
                }
                Err(e) => tracing::warn!(error = %e, "cannot resume an interrupted bundle"),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn watcher_loop(
    config: &Config,
    roots: &[Root],
    filter: &Filter,
    opts: Options,
    cand_tx: mpsc::UnboundedSender<Candidate>,
    back_rx: &mut mpsc::UnboundedReceiver<(Vec<PathBuf>, bool)>,
    counters: &Counters,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), PipelineError> {
    let settle = config.watch.settle;
    let (sig_tx, mut sig_rx) = mpsc::channel::<Signal>(4096);
    let mut poll: Option<Duration> = None;
    let mut native_roots = Vec::new();
    for (root, inbox) in roots.iter().zip(&config.inboxes) {
        let fs = watching::filesystem_kind(&root.path);
        let plan = watching::plan(config.watch.mode, fs, config.watch.poll_interval);
        if !opts.once {
            tracing::info!(inbox = %inbox.path.display(), mode = %plan.reason, "watching");
        }
        if plan.native {
            native_roots.push(root.clone());
        }
        if let Some(p) = plan.poll {
            poll = Some(poll.map_or(p, |q: Duration| q.min(p)));
        }
    }
    let _native = if opts.once || native_roots.is_empty() {
        None
    } else {
        Some(
            watching::native(&native_roots, sig_tx.clone()).map_err(|source| {
                PipelineError::Watch {
                    path: native_roots[0].path.clone(),
                    source,
                }
            })?,
        )
    };

    let mut tracker = Tracker::default();
    let mut attachment_cache = AttachmentCache::default();
    let mut claimed: HashSet<PathBuf> = HashSet::new();
    let mut in_progress = 0usize;
    let mut next_rescan = Instant::now();
    let mut next_poll = poll.map(|_| Instant::now());
    loop {
        let now = Instant::now();
        if now >= next_rescan || next_poll.is_some_and(|t| now >= t) {
            full_scan(&mut tracker, roots, filter, &claimed, now.into_std());
            next_rescan = now + config.watch.rescan_interval;
            next_poll = poll.map(|p| now + p);
        }
        for path in tracker.due(now.into_std(), settle) {
            // A file that cannot be opened yet (a copy holding it, permissions not set yet)
            // counts as still changing.
            let stamp = watching::stamp(&path);
            if stamp.is_some() && prepare::open_regular(&path).is_err() {
                tracker.touch(&path, now.into_std());
                continue;
            }
            if tracker.confirm(&path, stamp, now.into_std(), settle) {
                tracing::info!(file = %path.display(), "settled");
            }
        }
        let (cands, wait_until) = pair(
            &tracker,
            &claimed,
            roots,
            filter,
            config,
            &mut attachment_cache,
            now.into_std(),
            opts.once,
        );
        for c in cands {
            // A claimed file leaves the tracker, so that the passes over it (settling, pairing)
            // cost what is still waiting, not what is being posted.
            for p in c.paths() {
                tracker.remove(&p);
                claimed.insert(p);
            }
            in_progress += 1;
            if cand_tx.send(c).is_err() {
                return Ok(());
            }
        }
        if opts.once && !tracker.any_unsettled() && in_progress == 0 {
            let waiting = tracker
                .settled()
                .filter(|(p, _)| !claimed.contains(*p))
                .count();
            if waiting > 0 {
                tracing::warn!(
                    files = waiting,
                    "some files wait for their sidecar and stay in the inbox"
                );
                counters.left.fetch_add(waiting as u64, Ordering::Relaxed);
            }
            return Ok(());
        }

        let mut wake = next_rescan;
        for t in [
            tracker.next_due(settle).map(Instant::from_std),
            wait_until.map(Instant::from_std),
            next_poll,
        ]
        .into_iter()
        .flatten()
        {
            wake = wake.min(t);
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
            Some(sig) = sig_rx.recv() => {
                let now = Instant::now().into_std();
                let mut sig = Some(sig);
                // Drain what is queued so a burst of events costs one pass.
                while let Some(s) = sig.take() {
                    match s {
                        Signal::Rescan => full_scan(&mut tracker, roots, filter, &claimed, now),
                        Signal::Paths(paths) => {
                            for p in paths {
                                observe_path(&mut tracker, roots, filter, &claimed, &p, now);
                            }
                        }
                    }
                    sig = sig_rx.try_recv().ok();
                }
            }
            Some(back) = back_rx.recv() => {
                let now = Instant::now().into_std();
                let mut back = Some(back);
                // Drain what came back meanwhile: a backlog costs one pass per batch.
                while let Some((paths, keep)) = back.take() {
                    in_progress = in_progress.saturating_sub(1);
                    if !keep {
                        for p in &paths {
                            claimed.remove(p);
                        }
                        // Anything left in place (a move that failed) is seen again now.
                        for p in &paths {
                            observe_path(&mut tracker, roots, filter, &claimed, p, now);
                        }
                    }
                    back = back_rx.try_recv().ok();
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// The most specific root holding `path` (an inbox may live inside another).
fn root_of(roots: &[Root], path: &Path) -> Option<usize> {
    roots
        .iter()
        .enumerate()
        .filter(|(_, r)| path.starts_with(&r.path))
        .max_by_key(|(_, r)| r.path.as_os_str().len())
        .map(|(i, _)| i)
}

fn full_scan(
    tracker: &mut Tracker,
    roots: &[Root],
    filter: &Filter,
    claimed: &HashSet<PathBuf>,
    now: std::time::Instant,
) {
    let mut seen = HashSet::new();
    for root in roots {
        for (path, stamp) in watching::scan(root, filter) {
            if !claimed.contains(&path) && tracker.observe(&path, Some(stamp), now) {
                tracing::info!(file = %path.display(), "seen");
            }
            seen.insert(path);
        }
    }
    tracker.retain(|p| seen.contains(p));
}

fn observe_path(
    tracker: &mut Tracker,
    roots: &[Root],
    filter: &Filter,
    claimed: &HashSet<PathBuf>,
    path: &Path,
    now: std::time::Instant,
) {
    if claimed.contains(path) {
        return;
    }
    let Some(root) = root_of(roots, path).map(|i| &roots[i]) else {
        return;
    };
    let Some(rel) = root.relative(path) else {
        return;
    };
    if filter.classify(&rel) == Kind::Ignored || !watching::no_links_between(&root.path, path) {
        return;
    }
    if tracker.observe(path, watching::stamp(path), now) {
        tracing::info!(file = %path.display(), "seen");
    }
}

/// The `attachments:` of settled sidecars, cached by stamp so a sidecar is parsed once.
#[derive(Default)]
struct AttachmentCache {
    by_sidecar: HashMap<PathBuf, (crate::settle::Stamp, Vec<String>)>,
}

impl AttachmentCache {
    fn get(&mut self, sidecar: &Path, tracker: &Tracker, config: &Config) -> Vec<String> {
        let Some(entry) = tracker.get(sidecar) else {
            return Vec::new();
        };
        if let Some((stamp, names)) = self.by_sidecar.get(sidecar)
            && *stamp == entry.stamp
        {
            return names.clone();
        }
        // A sidecar that does not parse has no attachments here; prepare reports its error.
        let names = prepare::read_sidecar(sidecar, config)
            .map(|(s, _)| s.attachments)
            .unwrap_or_default();
        self.by_sidecar
            .insert(sidecar.to_path_buf(), (entry.stamp, names.clone()));
        names
    }

    fn retain(&mut self, tracker: &Tracker) {
        self.by_sidecar.retain(|p, _| tracker.get(p).is_some());
    }
}

/// Where a sidecar's attachments stand.
enum Attachments {
    Ready(Vec<(PathBuf, bundle::MediaType)>),
    /// Some are still being written.
    Settling,
    /// This one is not in the folder (yet).
    Missing(String),
    /// This one is not a file dropcast can post.
    NotMedia(String),
}

fn attachments_of(
    names: &[String],
    dir: &Path,
    tracker: &Tracker,
    claimed: &HashSet<PathBuf>,
    taken: &HashSet<PathBuf>,
    filter: &Filter,
) -> Attachments {
    let mut ready = Vec::new();
    for name in names {
        let path = dir.join(name);
        let ty = match filter.classify(name) {
            Kind::Media(ty) => ty,
            _ => return Attachments::NotMedia(name.clone()),
        };
        match tracker.get(&path) {
            Some(_) if claimed.contains(&path) || taken.contains(&path) => {
                return Attachments::Missing(name.clone());
            }
            Some(e) if e.settled_at.is_some() => ready.push((path, ty)),
            Some(_) => return Attachments::Settling,
            None => return Attachments::Missing(name.clone()),
        }
    }
    Attachments::Ready(ready)
}

/// Applies the pairing rules to the settled files. Returns the bundles to prepare and when the
/// next waiting file needs a decision.
#[allow(clippy::too_many_arguments)]
fn pair(
    tracker: &Tracker,
    claimed: &HashSet<PathBuf>,
    roots: &[Root],
    filter: &Filter,
    config: &Config,
    cache: &mut AttachmentCache,
    now: std::time::Instant,
    once: bool,
) -> (Vec<Candidate>, Option<std::time::Instant>) {
    let mut out = Vec::new();
    let mut next: Option<std::time::Instant> = None;
    let mut wait =
        |t: std::time::Instant| next = Some(next.map_or(t, |n: std::time::Instant| n.min(t)));
    let mut taken: HashSet<PathBuf> = HashSet::new();
    let mut settled: Vec<(&PathBuf, _)> = tracker
        .settled()
        .filter(|(p, _)| !claimed.contains(*p))
        .collect();
    // Oldest first, so a channel gets posts in the order they completed.
    settled.sort_by_key(|(p, e)| (e.settled_at, (*p).clone()));

    // Files that a sidecar pulls into its album are never posted on their own.
    let mut attached: HashSet<PathBuf> = HashSet::new();
    for (path, _) in &settled {
        if let Some(rel) = root_of(roots, path).and_then(|i| roots[i].relative(path))
            && filter.classify(&rel) == Kind::Sidecar
        {
            let dir = path.parent().unwrap_or(Path::new("/"));
            let sidecar_name = file_name_of(path);
            for name in cache.get(path, tracker, config) {
                // A sidecar that lists its own media file among the attachments means it once.
                if !bundle::sidecar_names(&name).contains(&sidecar_name) {
                    attached.insert(dir.join(name));
                }
            }
        }
    }

    for (path, entry) in settled {
        if taken.contains(path) || attached.contains(path) {
            continue;
        }
        let Some(inbox) = root_of(roots, path) else {
            continue;
        };
        let Some(rel) = roots[inbox].relative(path) else {
            continue;
        };
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            // A name that is not UTF-8 cannot be paired reliably nor shown: refuse it alone.
            let kind = filter.classify(&rel);
            taken.insert(path.clone());
            let problem = Problem::BadName {
                file: file_name_of(path),
            };
            out.push(match kind {
                Kind::Media(ty) => Candidate {
                    inbox,
                    media: Some((path.clone(), ty)),
                    sidecar: None,
                    attachments: Vec::new(),
                    refuse: Some(problem),
                },
                _ => Candidate {
                    inbox,
                    media: None,
                    sidecar: Some(path.clone()),
                    attachments: Vec::new(),
                    refuse: Some(problem),
                },
            });
            continue;
        };
        let dir = path.parent().unwrap_or(Path::new("/"));
        let settings = &config.inboxes[inbox];
        let (media, sidecar) = match filter.classify(&rel) {
            Kind::Media(ty) => {
                let sidecar = bundle::sidecar_names(name)
                    .into_iter()
                    .map(|n| dir.join(n))
                    .find(|p| tracker.get(p).is_some() || claimed.contains(p));
                match sidecar {
                    Some(s) if claimed.contains(&s) || taken.contains(&s) => continue,
                    Some(s) if tracker.get(&s).is_some_and(|e| e.settled_at.is_some()) => {
                        (Some((path.clone(), ty)), s)
                    }
                    Some(_) => continue,
                    None => {
                        let required = settings.sidecar == SidecarPolicy::Required;
                        let rule = if once && !required {
                            Lone::PostWithDefaults
                        } else if once {
                            Lone::Wait(now)
                        } else {
                            bundle::lone_media(
                                required,
                                settings.sidecar_wait,
                                settings.sidecar_timeout,
                                entry.first_seen,
                                entry.settled_at.unwrap_or(now),
                                now,
                            )
                        };
                        let refuse = match rule {
                            Lone::Wait(t) => {
                                if !once {
                                    wait(t)
                                }
                                continue;
                            }
                            Lone::PostWithDefaults => None,
                            Lone::Refuse => Some(Problem::SidecarMissing {
                                file: name.to_string(),
                                waited: humanize(settings.sidecar_timeout),
                            }),
                        };
                        taken.insert(path.clone());
                        out.push(Candidate {
                            inbox,
                            media: Some((path.clone(), ty)),
                            sidecar: None,
                            attachments: Vec::new(),
                            refuse,
                        });
                        continue;
                    }
                }
            }
            Kind::Sidecar => {
                let stem = bundle::sidecar_stem(name, filter);
                // A media file of the same stem, arrived or arriving, owns this sidecar.
                // A media file of the same stem, arrived or arriving, owns this sidecar; one that
                // is not a regular file (a link, a FIFO, a device) makes the bundle refused.
                let mut has_media = false;
                let mut not_regular = None;
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    let n = e.file_name();
                    let Some(n) = n.to_str() else { continue };
                    if n == name || !n.starts_with(&stem) || !n[stem.len()..].starts_with('.') {
                        continue;
                    }
                    if matches!(filter.classify(n), Kind::Media(_)) {
                        if e.file_type().is_ok_and(|t| t.is_file()) {
                            has_media = true;
                        } else {
                            not_regular = Some(n.to_string());
                        }
                    } else if bundle::is_partial_media(n, filter) {
                        has_media = true;
                    }
                }
                if has_media {
                    continue;
                }
                if let Some(file) = not_regular {
                    taken.insert(path.clone());
                    out.push(Candidate {
                        inbox,
                        media: None,
                        sidecar: Some(path.clone()),
                        attachments: Vec::new(),
                        refuse: Some(Problem::NotRegular { file }),
                    });
                    continue;
                }
                let grace = entry.settled_at.unwrap_or(now) + config.watch.settle;
                if !once && now < grace {
                    wait(grace);
                    continue;
                }
                (None, path.clone())
            }
            Kind::Ignored => continue,
        };

        // A sidecar with `attachments:` waits for all of them.
        let mut names = cache.get(&sidecar, tracker, config);
        if let Some((m, _)) = &media {
            let own = file_name_of(m);
            names.retain(|n| *n != own);
        }
        let sidecar_entry = tracker.get(&sidecar).copied();
        let (attachments, refuse) =
            match attachments_of(&names, dir, tracker, claimed, &taken, filter) {
                Attachments::Ready(a) => (a, None),
                Attachments::NotMedia(attachment) => (
                    Vec::new(),
                    Some(Problem::AttachmentNotMedia {
                        file: file_name_of(&sidecar),
                        attachment,
                    }),
                ),
                Attachments::Settling => continue,
                Attachments::Missing(attachment) => {
                    let deadline =
                        sidecar_entry.map_or(now, |e| e.first_seen) + settings.sidecar_timeout;
                    if once || now < deadline {
                        if !once {
                            wait(deadline);
                        }
                        continue;
                    }
                    (
                        Vec::new(),
                        Some(Problem::AttachmentMissing {
                            file: file_name_of(&sidecar),
                            attachment,
                        }),
                    )
                }
            };
        taken.insert(sidecar.clone());
        if let Some((m, _)) = &media {
            taken.insert(m.clone());
        }
        for (a, _) in &attachments {
            taken.insert(a.clone());
        }
        out.push(Candidate {
            inbox,
            media,
            sidecar: Some(sidecar),
            attachments,
            refuse,
        });
    }
    cache.retain(tracker);
    (out, next)
}

fn file_name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
async fn preparer(
    config: Arc<Config>,
    roots: Vec<Root>,
    deliverer: Option<Deliverer>,
    mut cand_rx: mpsc::UnboundedReceiver<Candidate>,
    back_tx: mpsc::UnboundedSender<(Vec<PathBuf>, bool)>,
    done_tx: mpsc::UnboundedSender<(i64, Ended)>,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut senders: HashMap<String, mpsc::UnboundedSender<i64>> = HashMap::new();
    let dispatch = |senders: &mut HashMap<String, mpsc::UnboundedSender<i64>>,
                    id: i64,
                    chat: &str,
                    shutdown: &watch::Receiver<bool>| {
        let Some(d) = &deliverer else { return };
        d.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        let tx = senders.entry(chat.to_string()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(deliver::sender(
                d.clone(),
                chat.to_string(),
                rx,
                done_tx.clone(),
                shutdown.clone(),
            ));
            tx
        });
        let _ = tx.send(id);
    };
    if let Some(d) = &deliverer {
        match d.journal.open_deliveries() {
            Ok(open) => {
                if !open.is_empty() {
                    tracing::info!(
                        deliveries = open.len(),
                        "resuming posts recorded before the restart"
                    );
                }
                for del in open {
                    dispatch(&mut senders, del.id, &del.chat, &shutdown);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read open deliveries from the journal"),
        }
    }
    let seq = AtomicU64::new(0);
    // When to look at `scheduled/` next: at once at start (a time missed while dropcast was down
    // goes out now), then as `check_scheduled` says.
    let mut next_schedule_check = None;
    if let Some(d) = &deliverer {
        let (cfg, j) = (config.clone(), d.journal.clone());
        let (start, wait) = tokio::task::spawn_blocking(move || check_scheduled(&cfg, &j))
            .await
            .unwrap_or_default();
        for (id, chat) in start {
            dispatch(&mut senders, id, &chat, &shutdown);
        }
        next_schedule_check = wait.map(|w| Instant::now() + w);
    }
    loop {
        enum Event {
            Candidate(Candidate),
            Schedule,
            Stop,
        }
        let wake =
            next_schedule_check.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let event = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => Event::Stop,
            _ = tokio::time::sleep_until(wake), if next_schedule_check.is_some() => Event::Schedule,
            c = cand_rx.recv() => match c { Some(c) => Event::Candidate(c), None => Event::Stop },
        };
        let c = match event {
            Event::Stop => break,
            Event::Candidate(c) => c,
            Event::Schedule => {
                let Some(d) = &deliverer else { continue };
                let (cfg, j) = (config.clone(), d.journal.clone());
                let (start, wait) = tokio::task::spawn_blocking(move || check_scheduled(&cfg, &j))
                    .await
                    .unwrap_or_default();
                for (id, chat) in start {
                    dispatch(&mut senders, id, &chat, &shutdown);
                }
                next_schedule_check = wait.map(|w| Instant::now() + w);
                continue;
            }
        };
        // Take what else is waiting: a batch is recorded in the journal with one flush.
        let mut batch = vec![c];
        while batch.len() < PREPARE_BATCH {
            match cand_rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let paths: Vec<Vec<PathBuf>> = batch.iter().map(Candidate::paths).collect();
        let n = batch.len();
        let first = seq.fetch_add(n as u64, Ordering::Relaxed);
        let (cfg, roots2) = (config.clone(), roots.clone());
        let journal = deliverer.as_ref().map(|d| d.journal.clone());
        let dry_run = deliverer.is_none();
        let counters2 = counters.clone();
        let results = tokio::task::spawn_blocking(move || {
            handle_batch(
                &cfg,
                &roots2,
                journal.as_deref(),
                batch,
                first,
                dry_run,
                &counters2,
            )
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "preparing bundles panicked");
            (0..n).map(|_| Handled::LeftInPlace).collect()
        });
        for (paths, result) in paths.into_iter().zip(results) {
            match result {
                Handled::Ready(deliveries) => {
                    if deliveries.is_empty() {
                        // Scheduled: make sure the schedule check knows about it.
                        next_schedule_check = Some(Instant::now());
                    }
                    for (id, chat) in deliveries {
                        dispatch(&mut senders, id, &chat, &shutdown);
                    }
                    let _ = back_tx.send((paths, false));
                }
                Handled::Gone => {
                    let _ = back_tx.send((paths, false));
                }
                Handled::LeftInPlace => {
                    let _ = back_tx.send((paths, true));
                }
            }
        }
    }
}

/// How many bundles the preparer takes into the journal at once, at most.
const PREPARE_BATCH: usize = 64;

enum Handled {
    /// In the journal and the work folder; deliveries to start.
    Ready(Vec<(i64, String)>),
    /// Refused and moved to `failed/` (or moved otherwise): the paths are free.
    Gone,
    /// Nothing moved (dry run, or a failure to move): keep the paths claimed.
    LeftInPlace,
}

/// Prepares a batch of candidates, refuses the bad ones, and enters the good ones into the
/// journal together. Returns what happened to each, in order.
fn handle_batch(
    config: &Config,
    roots: &[Root],
    journal: Option<&Journal>,
    batch: Vec<Candidate>,
    first_seq: u64,
    dry_run: bool,
    counters: &Counters,
) -> Vec<Handled> {
    let mut out: Vec<Option<Handled>> = Vec::with_capacity(batch.len());
    let mut accepted = Vec::new();
    // Two bundles of the same files in one batch: the second is a duplicate of the first.
    let mut in_batch: HashSet<(String, String)> = HashSet::new();
    for (i, c) in batch.into_iter().enumerate() {
        let inbox = c.inbox;
        match check_candidate(config, journal, c, dry_run, counters, &mut in_batch) {
            Checked::Done(h) => out.push(Some(h)),
            Checked::Accepted(p) => {
                out.push(None);
                accepted.push((i, inbox, p));
            }
        }
    }
    if let Some(journal) = journal {
        let entered = enter(config, roots, journal, &accepted, first_seq, counters);
        for ((i, ..), h) in accepted.iter().zip(entered) {
            out[*i] = Some(h);
        }
    }
    out.into_iter()
        .map(|h| h.unwrap_or(Handled::LeftInPlace))
        .collect()
}

enum Checked {
    Done(Handled),
    /// Checked, not a duplicate, unchanged: to be entered into the journal.
    Accepted(Prepared),
}

fn check_candidate(
    config: &Config,
    journal: Option<&Journal>,
    c: Candidate,
    dry_run: bool,
    counters: &Counters,
    in_batch: &mut HashSet<(String, String)>,
) -> Checked {
    let result = match &c.refuse {
        Some(problem) => Err(Refusal {
            name: c.name(),
            problem: problem.clone(),
            files: c.paths(),
            resettle: false,
        }),
        None => prepare::prepare(&c, config),
    };
    if dry_run {
        match result {
            Ok(p) => {
                counters.posted.fetch_add(1, Ordering::Relaxed);
                println!("would post {}", prepare::describe(&p));
            }
            Err(r) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                println!("would refuse {}: {}\n", r.name, r.problem.summary());
            }
        }
        return Checked::Done(Handled::LeftInPlace);
    }
    let Some(journal) = journal else {
        return Checked::Done(Handled::LeftInPlace);
    };
    if let Ok(p) = &result
        && !p.repost
        && p.chats
            .iter()
            .any(|chat| in_batch.contains(&(chat.clone(), p.digest.clone())))
    {
        // The same files as a bundle earlier in this batch, which the journal does not know yet:
        // looked at again once it does (and posted, should the first one not make it).
        tracing::info!(bundle = %p.name, "the same files are being taken in right now: looked at again shortly");
        return Checked::Done(Handled::Gone);
    }
    let result = result.and_then(|p| check_duplicates(p, config, journal));
    match result {
        Ok(p) => {
            if p.publish_at.is_some() {
                Metrics::add(&counters.metrics.bundles_scheduled, 1);
            }
            for chat in &p.chats {
                in_batch.insert((chat.clone(), p.digest.clone()));
            }
            Checked::Accepted(p)
        }
        Err(r) => Checked::Done(refuse_or_resettle(config, journal, counters, r)),
    }
}

fn refuse_or_resettle(
    config: &Config,
    journal: &Journal,
    counters: &Counters,
    r: Refusal,
) -> Handled {
    if r.resettle {
        tracing::info!(bundle = %r.name, "{}", r.problem.summary());
        return Handled::Gone;
    }
    counters.failed.fetch_add(1, Ordering::Relaxed);
    Metrics::add(&counters.metrics.bundles_refused, 1);
    refuse(config, journal, r)
}

/// The files must still be the versions that were read, checked right before the journal records
/// them: one rewritten meanwhile settles again; one removed takes the bundle to failed/ (its
/// caption was meant for it).
fn unchanged(p: &Prepared) -> Result<(), Refusal> {
    match prepare::still_same(&p.files) {
        Ok(()) => Ok(()),
        Err(prepare::Changed::Rewritten) => Err(Refusal {
            name: p.name.clone(),
            problem: Problem::Unreadable {
                file: p.name.clone(),
                detail: "it changed while it was read: it settles again".into(),
            },
            files: Vec::new(),
            resettle: true,
        }),
        Err(prepare::Changed::Gone(file)) => Err(Refusal {
            name: p.name.clone(),
            problem: Problem::Unreadable {
                file,
                detail: "it was removed from the inbox while dropcast was taking it".into(),
            },
            files: p.files.iter().map(|f| f.path.clone()).collect(),
            resettle: false,
        }),
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86400 && s % 86400 == 0 => format!("{} d", s / 86400),
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn check_duplicates(p: Prepared, config: &Config, journal: &Journal) -> Result<Prepared, Refusal> {
    if p.repost {
        return Ok(p);
    }
    let since = crate::journal::now() - config.duplicate_window.as_secs() as i64;
    for chat in &p.chats {
        match journal.find_duplicate(chat, &p.digest, since) {
            Ok(Some(link)) => {
                let link = if link.is_empty() {
                    "it is being posted right now".to_string()
                } else {
                    link
                };
                return Err(Refusal {
                    name: p.name.clone(),
                    problem: Problem::Duplicate {
                        channel: chat.clone(),
                        link,
                    },
                    files: p.files.iter().map(|f| f.path.clone()).collect(),
                    resettle: false,
                });
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot check for duplicates"),
        }
    }
    Ok(p)
}

/// Records bundles in the journal, then moves their files into work folders where a clerk's new
/// file of the same name cannot touch them. Bundles to post now are recorded together (one
/// flush); a scheduled one alone, as its name in `scheduled/` must be free when it is chosen.
fn enter(
    config: &Config,
    roots: &[Root],
    journal: &Journal,
    accepted: &[(usize, usize, Prepared)],
    first_seq: u64,
    counters: &Counters,
) -> Vec<Handled> {
    let mut out: Vec<Option<Handled>> = (0..accepted.len()).map(|_| None).collect();
    let mut now_batch: Vec<(usize, NewBundle)> = Vec::new();
    let mut folders = WorkFolders {
        stamp: jiff::Timestamp::now().as_nanosecond(),
        first_seq,
        by_root: HashMap::new(),
    };
    for (k, (_, inbox, p)) in accepted.iter().enumerate() {
        if let Err(r) = unchanged(p) {
            out[k] = Some(refuse_or_resettle(config, journal, counters, r));
            continue;
        }
        let seq = first_seq + k as u64;
        let b = new_bundle(config, &roots[*inbox].path, p, seq, &mut folders);
        if p.publish_at.is_some() {
            out[k] = Some(record_and_move(config, journal, &[(k, b)], accepted).remove(0));
        } else {
            now_batch.push((k, b));
        }
    }
    if !now_batch.is_empty() {
        for (k, h) in now_batch
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .into_iter()
            .zip(record_and_move(config, journal, &now_batch, accepted))
        {
            out[k] = Some(h);
        }
    }
    out.into_iter()
        .map(|h| h.unwrap_or(Handled::LeftInPlace))
        .collect()
}

/// The work folders of one batch: one per inbox, shared by the batch's bundles as long as their
/// file names differ (a bundle with a name already taken gets a folder of its own). One folder
/// per batch instead of one per bundle: fewer folders made, watched and removed in a backlog.
struct WorkFolders {
    stamp: i128,
    first_seq: u64,
    by_root: HashMap<PathBuf, (PathBuf, HashSet<String>)>,
}

impl WorkFolders {
    fn for_bundle(&mut self, root: &Path, names: &[&std::ffi::OsStr], seq: u64) -> PathBuf {
        let (stamp, first) = (self.stamp, self.first_seq);
        let (dir, used) = self.by_root.entry(root.to_path_buf()).or_insert_with(|| {
            (
                root.join(".dropcast").join(format!("{stamp}-{first}")),
                HashSet::new(),
            )
        });
        // Compared as a share that ignores case would (SMB): `Notice.pdf` takes `notice.pdf`.
        let key = |n: &&std::ffi::OsStr| n.to_string_lossy().to_lowercase();
        if names.iter().any(|n| used.contains(&key(n))) {
            return root
                .join(".dropcast")
                .join(format!("{stamp}-{first}-{seq}"));
        }
        used.extend(names.iter().map(key));
        dir.clone()
    }
}

/// The journal record of a prepared bundle: where each file will wait, and the plan rewritten to
/// send from there.
fn new_bundle(
    config: &Config,
    root: &Path,
    p: &Prepared,
    seq: u64,
    folders: &mut WorkFolders,
) -> NewBundle {
    let names: Vec<&std::ffi::OsStr> = p
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap_or_default())
        .collect();
    // Scheduled bundles wait where the clerk can see (and cancel) them; others in their batch's
    // hidden work folder. Either way the journal learns the paths before anything moves.
    let work: Vec<PathBuf> = match p.publish_at {
        Some(_) => {
            let stem = spool::bundle_stem(std::ffi::OsStr::new(&p.name));
            spool::free_names(&config.scheduled, &names, &stem, &[])
        }
        None => {
            let dir = folders.for_bundle(root, &names, seq);
            names.iter().map(|n| dir.join(n)).collect()
        }
    };
    let files: Vec<FileRecord> = p
        .files
        .iter()
        .zip(work)
        .map(|(f, work)| FileRecord {
            original: f.path.clone(),
            work,
            sha256: f.sha256.clone(),
            size: f.size,
        })
        .collect();
    let moved_path = |path: &Path| {
        files
            .iter()
            .find(|f| f.original == path)
            .map(|f| f.work.clone())
    };
    let mut plan = p.plan.clone();
    for m in &mut plan.messages {
        match m {
            OutMessage::Media { path, .. } => {
                if let Some(w) = moved_path(path) {
                    *path = w;
                }
            }
            OutMessage::Album { items } => {
                for item in items {
                    if let Some(w) = moved_path(&item.path) {
                        item.path = w;
                    }
                }
            }
            OutMessage::Text { .. } => {}
        }
    }
    NewBundle {
        name: p.name.clone(),
        files,
        plan,
        digest: p.digest.clone(),
        chats: p.chats.clone(),
        repost: p.repost,
        publish_at: p.publish_at.map(|t| t.as_second()),
    }
}

/// Records `bundles` in one transaction, then moves their files. The moves are not flushed: the
/// journal holds both places, and a move that a crash undoes is made again at start (`recover`).
fn record_and_move(
    config: &Config,
    journal: &Journal,
    bundles: &[(usize, NewBundle)],
    accepted: &[(usize, usize, Prepared)],
) -> Vec<Handled> {
    let records: Vec<NewBundle> = bundles.iter().map(|(_, b)| b.clone()).collect();
    let ids = match journal.insert_bundles(&records) {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "journal error: the bundles stay in the inbox");
            return bundles.iter().map(|_| Handled::LeftInPlace).collect();
        }
    };
    let mut syncs = spool::Syncs::recorded();
    let mut made: HashSet<PathBuf> = HashSet::new();
    bundles
        .iter()
        .zip(ids)
        .map(|((k, b), id)| {
            let p = &accepted[*k].2;
            let moved = b.files.iter().try_for_each(|f| {
                if let Some(dir) = f.work.parent()
                    && !made.contains(dir)
                {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                    made.insert(dir.to_path_buf());
                }
                spool::move_file(&f.original, &f.work, &mut syncs).map_err(|e| e.to_string())
            });
            let result = match moved {
                Err(e) => {
                    tracing::warn!(bundle = %p.name, error = %e, "cannot take the files from the inbox");
                    let problem = Problem::Unreadable {
                        file: p.name.clone(),
                        detail: e,
                    };
                    journal
                        .release(id)
                        .and_then(|_| journal.fail_open_deliveries(id, &problem.to_json()))
                        .map(|_| Vec::new())
                }
                Ok(()) => {
                    if let Some(at) = p.publish_at {
                        let local = at.to_zoned_datetime(config.timezone.clone());
                        tracing::info!(bundle = %p.name, publish_at = %local.strftime("%Y-%m-%d %H:%M %Z"), "scheduled: waiting in scheduled/");
                        Ok(Vec::new())
                    } else {
                        tracing::info!(bundle = %p.name, channels = %p.chats.join(", "), "ready to post");
                        journal.deliveries_of(id)
                    }
                }
            };
            match result {
                Ok(d) => Handled::Ready(d),
                Err(e) => {
                    tracing::error!(error = %e, "journal error: the bundle stays in the inbox");
                    Handled::LeftInPlace
                }
            }
        })
        .collect()
}

/// Releases scheduled bundles whose time has come and cancels those whose files were removed
/// from `scheduled/`. Returns the deliveries to start and when to look again.
fn check_scheduled(config: &Config, journal: &Journal) -> (Vec<(i64, String)>, Option<Duration>) {
    let scheduled = match journal.scheduled() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot read scheduled posts from the journal");
            return (Vec::new(), Some(Duration::from_secs(30)));
        }
    };
    let now = jiff::Timestamp::now().as_second();
    let mut start = Vec::new();
    let mut next: Option<i64> = None;
    for s in scheduled {
        if let Some(gone) = s
            .files
            .iter()
            .find(|f| std::fs::symlink_metadata(&f.work).is_err())
        {
            let removed = gone
                .original
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let problem = Problem::Cancelled {
                file: s.name.clone(),
                removed,
            };
            tracing::info!(bundle = %s.name, "scheduled post cancelled: a file was removed from scheduled/");
            let left: Vec<(PathBuf, OsString)> = s
                .files
                .iter()
                .filter(|f| f.work.exists())
                .map(|f| {
                    (
                        f.work.clone(),
                        f.original.file_name().unwrap_or_default().to_os_string(),
                    )
                })
                .collect();
            if !left.is_empty() {
                let report = report_for(config, &s.name, &problem, &left);
                if let Err(e) = spool::fail(
                    &config.failed,
                    &s.name,
                    &left,
                    &report,
                    &mut spool::Syncs::now(),
                ) {
                    tracing::warn!(bundle = %s.name, error = %e, "cannot move the rest of a cancelled post to failed/; will retry");
                    continue;
                }
            }
            if let Err(e) = journal.cancel(s.bundle_id, &problem.to_json()) {
                tracing::error!(error = %e, "cannot record a cancellation");
            }
            continue;
        }
        if s.publish_at <= now {
            if let Err(e) = journal.release(s.bundle_id) {
                tracing::error!(error = %e, "cannot release a scheduled post");
                continue;
            }
            tracing::info!(bundle = %s.name, "publish time reached: posting");
            match journal.deliveries_of(s.bundle_id) {
                Ok(d) => start.extend(d),
                Err(e) => tracing::error!(error = %e, "cannot read deliveries"),
            }
        } else {
            next = Some(next.map_or(s.publish_at, |n| n.min(s.publish_at)));
        }
    }
    // Cancellation is noticed within 2 s; a due post within a second of its time.
    let wait = next
        .map(|t| Duration::from_secs((t - now).clamp(0, 2) as u64).max(Duration::from_millis(200)));
    (start, wait)
}

fn report_for(
    config: &Config,
    name: &str,
    problem: &Problem,
    files: &[(PathBuf, OsString)],
) -> String {
    let names: Vec<String> = files
        .iter()
        .map(|(_, n)| n.to_string_lossy().into_owned())
        .collect();
    let when = now_local(config).strftime("%Y-%m-%d %H:%M %Z").to_string();
    messages::error_report(
        config.language,
        name,
        std::slice::from_ref(problem),
        &[],
        &names,
        &when,
    )
}

fn now_local(config: &Config) -> jiff::ZonedDateTime {
    jiff::Timestamp::now().to_zoned_datetime(config.timezone.clone())
}

fn refuse(config: &Config, journal: &Journal, r: Refusal) -> Handled {
    tracing::warn!(bundle = %r.name, reason = %r.problem.summary(), "refused: moving to failed/");
    let names: Vec<String> = r
        .files
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let when = now_local(config).strftime("%Y-%m-%d %H:%M %Z").to_string();
    let report = messages::error_report(
        config.language,
        &r.name,
        std::slice::from_ref(&r.problem),
        &[],
        &names,
        &when,
    );
    let files: Vec<(PathBuf, OsString)> = r
        .files
        .iter()
        .map(|p| (p.clone(), p.file_name().unwrap_or_default().to_os_string()))
        .collect();
    match spool::fail(
        &config.failed,
        &r.name,
        &files,
        &report,
        &mut spool::Syncs::now(),
    ) {
        Ok(dir) => {
            let records: Vec<FileRecord> = r
                .files
                .iter()
                .zip(&files)
                .map(|(p, (_, n))| FileRecord {
                    original: p.clone(),
                    work: dir.join(n),
                    sha256: String::new(),
                    size: 0,
                })
                .collect();
            if let Err(e) = journal.insert_refused(&r.name, &records, &r.problem.to_json()) {
                tracing::warn!(error = %e, "cannot record the refusal in the journal");
            }
            Handled::Gone
        }
        Err(e) => {
            tracing::error!(bundle = %r.name, error = %e, "cannot move the refused bundle to failed/: it stays in the inbox");
            Handled::LeftInPlace
        }
    }
}

/// Turns bundles whose deliveries all ended into archived or failed ones. Runs at start, after
/// every finished delivery, every 30 s, and sooner (1 s, doubling to 60 s) while a move fails,
/// say on a full disk.
async fn finisher(
    config: Arc<Config>,
    journal: Arc<Journal>,
    mut done_rx: mpsc::UnboundedReceiver<(i64, Ended)>,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) {
    // A move that failed (full disk, missing permission) is retried soon, then less often.
    let mut retry = Duration::from_secs(1);
    // At start (and on every tick) every finished bundle in the journal is looked at; after a
    // delivery ends, only the bundles whose deliveries just ended.
    let mut only: Option<Vec<i64>> = None;
    // Names of bundles that could not be finished yet (see `finish_all`).
    let mut blocked: HashSet<OsString> = HashSet::new();
    loop {
        let cfg = config.clone();
        let j = journal.clone();
        let c = counters.clone();
        let ids = only.take();
        let mut b = std::mem::take(&mut blocked);
        let (stuck, b) = tokio::task::spawn_blocking(move || {
            let stuck = finish_all(&cfg, &j, &c, ids.as_deref(), &mut b);
            (stuck, b)
        })
        .await
        .unwrap_or_default();
        blocked = b;
        let wait = if stuck {
            let w = retry;
            retry = (retry * 2).min(Duration::from_secs(60));
            w
        } else {
            retry = Duration::from_secs(1);
            Duration::from_secs(30)
        };
        enum Event {
            Stop,
            Done(Option<(i64, Ended)>),
            Tick,
        }
        let event = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => Event::Stop,
            msg = done_rx.recv() => Event::Done(msg),
            _ = tokio::time::sleep(wait) => Event::Tick,
        };
        match event {
            Event::Stop => return,
            Event::Done(Some(first)) => {
                // Take what ends within a moment: a backlog is finished in batches (one folder
                // flush and one commit each), a lone bundle a few milliseconds later.
                let mut ids = Vec::new();
                let mut next = Some(first);
                let until = Instant::now() + FINISH_GATHER;
                while let Some((bundle_id, ended)) = next.take() {
                    match ended {
                        Ended::Left(_) => {
                            counters.left.fetch_add(1, Ordering::Relaxed);
                        }
                        Ended::Finished(_) => ids.push(bundle_id),
                    }
                    if ids.len() >= FINISH_BATCH {
                        break;
                    }
                    next = match done_rx.try_recv() {
                        Ok(n) => Some(n),
                        Err(mpsc::error::TryRecvError::Empty) => {
                            tokio::time::timeout_at(until, done_rx.recv())
                                .await
                                .ok()
                                .flatten()
                        }
                        Err(mpsc::error::TryRecvError::Disconnected) => None,
                    };
                }
                // A bundle for several channels ends once per channel: look at it once.
                ids.sort_unstable();
                ids.dedup();
                // After a failed move, the retry looks at everything again.
                if !stuck {
                    only = Some(ids);
                }
            }
            Event::Tick => {}
            Event::Done(None) => {
                let cfg = config.clone();
                let j = journal.clone();
                let c = counters.clone();
                let stuck = tokio::task::spawn_blocking(move || {
                    finish_all(&cfg, &j, &c, None, &mut HashSet::new())
                })
                .await
                .unwrap_or(false);
                if stuck {
                    // `once`: posted but not moved; the next run moves it (never reposts it).
                    counters.left.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
    }
}

/// Moves every finished bundle (or those among `only`); true when some could not be moved yet.
fn finish_all(
    config: &Config,
    journal: &Journal,
    counters: &Counters,
    only: Option<&[i64]>,
    blocked: &mut HashSet<OsString>,
) -> bool {
    let finished = match only.map_or_else(
        || journal.finished_bundles(),
        |ids| journal.finished_among(ids),
    ) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot read finished bundles from the journal");
            return true;
        }
    };
    let mut stuck = false;
    // A batch's moves are flushed once, then recorded in one transaction. A crash in between
    // leaves bundles that are posted but not marked done: the next start moves them again, which
    // finds their files already in place by their name's highest ` (n)` (see `spool::archive`).
    // That holds only if one bundle of a name is between its move and the commit: a batch ends
    // before a second bundle of the same name.
    // For the same reason a bundle that could not be finished blocks the later bundles of its
    // name until it is: a full pass (in journal order) starts again from the oldest.
    if only.is_none() {
        blocked.clear();
    }
    let stem = |f: &Finished| spool::bundle_stem(std::ffi::OsStr::new(&f.name));
    let mut rest: &[Finished] = &finished;
    while !rest.is_empty() {
        let (batch, tail) = rest.split_at(batch_len(
            rest.iter().map(|f| f.name.as_str()),
            FINISH_BATCH,
        ));
        rest = tail;
        let mut syncs = spool::Syncs::batch();
        let mut moved = Vec::new();
        for f in batch {
            if blocked.contains(&stem(f)) {
                stuck = true;
                continue;
            }
            syncs.owner(f.bundle_id);
            match finish_one(config, f, &mut syncs) {
                Ok(m) => moved.push(m),
                Err(e) => {
                    stuck = true;
                    blocked.insert(stem(f));
                    tracing::warn!(bundle = %f.name, error = %e, "cannot move the bundle yet (it is posted and will not be posted again); will retry")
                }
            }
        }
        // A receipt, report or folder that could not be flushed leaves its bundle unfinished.
        for (owner, e) in syncs.flush() {
            stuck = true;
            if let Some(pos) = moved.iter().position(|m| Some(m.bundle_id) == owner) {
                let m = moved.remove(pos);
                blocked.insert(spool::bundle_stem(std::ffi::OsStr::new(&m.name)));
                tracing::warn!(bundle = %m.name, error = %e, "cannot move the bundle yet (it is posted and will not be posted again); will retry");
            }
        }
        let done: Vec<(i64, BundleState, &Path)> = moved
            .iter()
            .map(|m| {
                let state = if m.archived {
                    BundleState::Archived
                } else {
                    BundleState::Failed
                };
                (m.bundle_id, state, m.location.as_path())
            })
            .collect();
        if let Err(e) = journal.mark_done_all(&done) {
            tracing::error!(error = %e, "cannot record moved bundles in the journal; will retry");
            stuck = true;
            blocked.extend(
                moved
                    .iter()
                    .map(|m| spool::bundle_stem(std::ffi::OsStr::new(&m.name))),
            );
            continue;
        }
        for m in moved {
            let (counter, metric) = if m.archived {
                (&counters.posted, &counters.metrics.bundles_archived)
            } else {
                (&counters.failed, &counters.metrics.bundles_failed)
            };
            counter.fetch_add(1, Ordering::Relaxed);
            Metrics::add(metric, 1);
            // Our own work folder once empty (remove_dir refuses a folder still in use); never
            // `scheduled/`, where a scheduled bundle waited.
            if let Some(dir) = m.work_dir
                && dir.parent().and_then(Path::file_name) == Some(std::ffi::OsStr::new(".dropcast"))
            {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    stuck
}

/// How many of the next bundles (by name) make one finisher batch: at most `max`, at least one,
/// and never two of the same name stem (`notice.pdf` and `notice.yaml` share `notice`).
fn batch_len<'a>(names: impl Iterator<Item = &'a str>, max: usize) -> usize {
    let mut seen = HashSet::new();
    names
        .take(max)
        .take_while(|n| seen.insert(spool::bundle_stem(std::ffi::OsStr::new(n))))
        .count()
        .max(1)
}

/// How long the finisher waits for more deliveries to end before moving what it has, and how
/// many bundles it takes at most: a receipt a few milliseconds later costs nothing, a flush and a
/// commit per bundle of a backlog cost the senders' time.
const FINISH_GATHER: Duration = Duration::from_millis(100);
const FINISH_BATCH: usize = 256;

/// A finished bundle whose files were moved.
struct Moved {
    bundle_id: i64,
    name: String,
    archived: bool,
    location: PathBuf,
    work_dir: Option<PathBuf>,
}

fn finish_one(config: &Config, f: &Finished, syncs: &mut spool::Syncs) -> Result<Moved, String> {
    let when = now_local(config);
    let all_sent = f
        .deliveries
        .iter()
        .all(|d| d.outcome == DeliveryOutcome::Sent);
    let work_dir = f
        .files
        .first()
        .and_then(|r| r.work.parent().map(Path::to_path_buf));
    let (archived, location) = if all_sent {
        let files: Vec<spool::BundleFile> = f
            .files
            .iter()
            .map(|r| spool::BundleFile {
                current: r.work.clone(),
                name: r.original.file_name().unwrap_or_default().to_os_string(),
                sha256: r.sha256.clone(),
                size: r.size,
            })
            .collect();
        let channels: Vec<spool::ReceiptChannel> = f
            .deliveries
            .iter()
            .map(|d| spool::ReceiptChannel {
                channel: config
                    .channels
                    .iter()
                    .find(|(_, chat)| **chat == d.chat)
                    .map_or(d.chat.clone(), |(alias, chat)| format!("{alias} ({chat})")),
                link: d
                    .messages
                    .first()
                    .map(|m| m.link.clone())
                    .unwrap_or_default(),
                message_ids: d.messages.iter().map(|m| m.message_id).collect(),
                links: d.messages.iter().map(|m| m.link.clone()).collect(),
                pinned: if d.pin_error.is_some() {
                    Some(false)
                } else {
                    None
                },
                pin_error: d.pin_error.clone(),
            })
            .collect();
        let dir = spool::archive(
            &config.archive,
            &when,
            config.language,
            &f.name,
            &files,
            &channels,
            syncs,
        )
        .map_err(|e| e.to_string())?;
        tracing::info!(bundle = %f.name, archive = %dir.display(), "archived");
        (true, dir)
    } else {
        let problems: Vec<Problem> = f
            .deliveries
            .iter()
            .filter_map(|d| match &d.outcome {
                DeliveryOutcome::Failed(p) => Some(Problem::from_json(p)),
                DeliveryOutcome::Sent => None,
            })
            .collect();
        let delivered: Vec<(String, String)> = f
            .deliveries
            .iter()
            .filter(|d| d.outcome == DeliveryOutcome::Sent)
            .map(|d| {
                (
                    d.chat.clone(),
                    d.messages
                        .first()
                        .map(|m| m.link.clone())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let names: Vec<String> = f
            .files
            .iter()
            .map(|r| {
                r.original
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let report = messages::error_report(
            config.language,
            &f.name,
            &problems,
            &delivered,
            &names,
            &when.strftime("%Y-%m-%d %H:%M %Z").to_string(),
        );
        let files: Vec<(PathBuf, OsString)> = f
            .files
            .iter()
            .map(|r| {
                (
                    r.work.clone(),
                    r.original.file_name().unwrap_or_default().to_os_string(),
                )
            })
            .collect();
        spool::fail(&config.failed, &f.name, &files, &report, syncs).map_err(|e| e.to_string())?;
        for p in &problems {
            tracing::warn!(bundle = %f.name, reason = %p.summary(), "failed: moved to failed/");
        }
        (false, config.failed.clone())
    };
    Ok(Moved {
        bundle_id: f.bundle_id,
        name: f.name.clone(),
        archived,
        location,
        work_dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_shares_a_work_folder_unless_a_name_is_taken() {
        let mut f = WorkFolders {
            stamp: 1,
            first_seq: 10,
            by_root: HashMap::new(),
        };
        let root = Path::new("/in");
        let names = |n: &[&'static str]| -> Vec<&'static std::ffi::OsStr> {
            n.iter().map(|s| std::ffi::OsStr::new(*s)).collect()
        };
        let shared = Path::new("/in/.dropcast/1-10");
        assert_eq!(f.for_bundle(root, &names(&["a.pdf", "a.yaml"]), 10), shared);
        assert_eq!(f.for_bundle(root, &names(&["b.pdf"]), 11), shared);
        // Another subfolder's `a.pdf`, or `A.PDF` on a share that ignores case: a folder of its own.
        assert_eq!(
            f.for_bundle(root, &names(&["A.PDF"]), 12),
            Path::new("/in/.dropcast/1-10-12")
        );
        assert_eq!(
            f.for_bundle(Path::new("/other"), &names(&["a.pdf"]), 13),
            Path::new("/other/.dropcast/1-10")
        );
    }

    #[test]
    fn a_finisher_batch_never_holds_two_bundles_of_one_name() {
        let len = |names: &[&str], max| batch_len(names.iter().copied(), max);
        assert_eq!(len(&["a.pdf", "b.pdf", "c.pdf"], 256), 3);
        assert_eq!(len(&["a.pdf", "b.pdf", "c.pdf"], 2), 2);
        assert_eq!(len(&["a.pdf", "b.pdf", "a.pdf"], 256), 2);
        assert_eq!(len(&["a.pdf", "a.yaml"], 256), 1);
        assert_eq!(len(&["a.pdf"], 256), 1);
    }
}
