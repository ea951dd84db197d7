//! The wiring: starts the watcher (scans, events, settling, pairing), the preparer (checks,
//! journal, work folder, senders), and the finisher (archive or failed), connects their channels,
//! and stops them. One shutdown signal reaches every task; in `once` mode closing the channels in
//! order is the whole termination protocol (see ARCHITECTURE.md).
//!
//! Architecture Invariant: watching, settling and hashing never wait for the network; a bundle is
//! archived only after every delivery is recorded; a file the journal does not mention is still
//! in the inbox.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::bundle::Filter;
use crate::config::Config;
use crate::deliver::{Deliverer, DeliveryEnded, Pacing};
use crate::finisher::Finisher;
use crate::journal::{Journal, JournalError};
use crate::lease::Leases;
use crate::metrics::Metrics;
use crate::prepare::Candidate;
use crate::preparer::{self, Preparer};
use crate::share::{AwayFolder, Share};
use crate::spool;
use crate::telegram::{Client, TelegramError};
use crate::watcher::{self, Returned, Watcher};

/// The daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{}", away_list(.0))]
    Away(Vec<AwayFolder>),
    #[error("another dropcast posts from {0} (its lease is live): `once` does nothing there")]
    Standby(String),
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

fn away_list(away: &[AwayFolder]) -> String {
    let each: Vec<String> = away
        .iter()
        .map(|a| format!("{} {}: {}", a.role, a.path.display(), a.why))
        .collect();
    format!(
        "{}; dropcast creates no folder (that is `dropcast init`'s job)",
        each.join("; ")
    )
}

/// A set of tasks, each tagged with its name: every task of the pipeline starts the same way,
/// and a task that panics is named in the log when the set is joined.
#[derive(Default)]
pub struct Tasks(JoinSet<&'static str>);

impl Tasks {
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.0.spawn(async move {
            task.await;
            name
        });
    }

    /// Waits for every task to end.
    pub async fn join(mut self) {
        while let Some(ended) = self.0.join_next().await {
            if let Err(e) = ended {
                tracing::error!(error = %e, "a task of dropcast stopped unexpectedly");
            }
        }
    }
}

/// Runs dropcast until `shutdown` turns true (or, with `once`, until the inbox is done).
pub async fn run(
    config: Arc<Config>,
    opts: Options,
    metrics: Arc<Metrics>,
    share: Arc<Share>,
    leases: Arc<Leases>,
    shutdown: watch::Receiver<bool>,
) -> Result<Summary, PipelineError> {
    metrics
        .started
        .store(crate::journal::now(), Ordering::Relaxed);
    if !wait_for_folders(&share, opts, shutdown.clone()).await? {
        return Ok(metrics.summary());
    }
    // Which inboxes are this dropcast's: decided before anything is looked at, so that a
    // standby touches nothing and `once` does not end before it has looked.
    let journal = if opts.dry_run {
        None
    } else {
        let journal = Arc::new(Journal::open(&config.state_dir)?);
        keep_previews(&config, &journal);
        Some(journal)
    };
    let gained = if opts.dry_run {
        Vec::new()
    } else {
        settle_leases(&leases, &share).await
    };
    if opts.once
        && let Some(r) = leases
            .report()
            .into_iter()
            .find(|r| matches!(r.role, crate::lease::Role::Standby { .. }))
    {
        let crate::lease::Role::Standby { host, pid } = &r.role else {
            unreachable!()
        };
        leases.release();
        return Err(PipelineError::Standby(format!(
            "{} (active on {host}, pid {pid})",
            r.inbox.display()
        )));
    }
    // The lease task starts at once and outlives the others: it renews the leases through a
    // slow start (Telegram, recovery, adoption) until the last bundle is finished, then hands
    // the inboxes on.
    let (leases_stop, leases_stopping) = watch::channel(false);
    let holder = journal.as_ref().map(|journal| {
        let holder = LeaseHolder {
            config: config.clone(),
            journal: journal.clone(),
            share: share.clone(),
            leases: leases.clone(),
        };
        tokio::spawn(holder.run(leases_stopping))
    });
    let roots = crate::watch::roots(&config);
    let filter = Arc::new(Filter::new(&config.accept, &config.ignore));
    if let Some(journal) = &journal {
        let (c, j, sh, g) = (
            config.clone(),
            journal.clone(),
            share.clone(),
            gained.clone(),
        );
        let _ = tokio::task::spawn_blocking(move || {
            for inbox in &g {
                preparer::took_at_start(&c, &j, &sh, inbox);
            }
        })
        .await;
    }
    let backend = match journal {
        None => None,
        Some(journal) => Some(connect(&config, journal, &share).await?),
    };

    let (cand_tx, cand_rx) = mpsc::unbounded_channel::<Candidate>();
    let (back_tx, back_rx) = mpsc::unbounded_channel::<Returned>();
    let (done_tx, done_rx) = mpsc::unbounded_channel::<DeliveryEnded>();

    let watcher = Watcher::new(
        config.clone(),
        roots.clone(),
        filter,
        opts.once,
        watcher::Links {
            candidates: cand_tx,
            returned: back_rx,
            leases: leases.clone(),
        },
        metrics.clone(),
        share.clone(),
    )?;
    let deliverer = backend.as_ref().map(|(journal, client)| Deliverer {
        journal: journal.clone(),
        client: client.clone(),
        pacing: Pacing::new(config.pacing, config.pacing_scale),
        uncertain: config.uncertain,
        max_attempts: if opts.once { Some(5) } else { None },
        metrics: metrics.clone(),
        share: share.clone(),
    });
    let preparer = Preparer::new(
        config.clone(),
        roots,
        deliverer,
        preparer::Links {
            candidates: cand_rx,
            returned: back_tx,
            done: done_tx,
        },
        metrics.clone(),
        share.clone(),
        shutdown.clone(),
    );

    // `once`: the watcher closes the candidate channel; the preparer drains it, then closes the
    // senders' queues and waits for them; the finisher sees every sender gone. `run`: everyone
    // sees the shutdown.
    // Work folders another dropcast (or this server before its journal was lost) left in the
    // inboxes this one just took: finished before anything new is taken.
    if let Some((journal, _)) = &backend {
        let (c, j, sh) = (config.clone(), journal.clone(), share.clone());
        let _ = tokio::task::spawn_blocking(move || {
            if !gained.is_empty() {
                // What the old owner was writing in the archive and failed/ when it died.
                spool::sweep_temporaries(&c.archive, &c.failed, &[]);
            }
            for inbox in gained {
                preparer::adopt(&c, &j, &sh, &inbox);
            }
        })
        .await;
    }
    // The inboxes taken at this start are the watcher's from now on (see `Leases::announced`).
    leases.announce();
    let mut tasks = Tasks::default();
    tasks.spawn("watcher", watcher.run(shutdown.clone()));
    tasks.spawn("preparer", preparer.run());

    if let Some((journal, _)) = backend {
        let finisher = Finisher {
            config: config.clone(),
            journal,
            done: done_rx,
            metrics: metrics.clone(),
            share: share.clone(),
        };
        tasks.spawn("finisher", finisher.run(shutdown.clone()));
    }
    tasks.join().await;
    let _ = leases_stop.send(true);
    if let Some(h) = holder {
        let _ = h.await;
    }
    // The renderer workers end with the work: none is left behind (and their CPU time counts
    // as dropcast's, where it is measured).
    crate::render_pool::global().close();
    Ok(metrics.summary())
}

/// Looks at every inbox's lease until each is decided: taken (written, then confirmed on a
/// second look) or another dropcast's. Returns the inboxes taken.
async fn settle_leases(leases: &Arc<Leases>, share: &Arc<Share>) -> Vec<PathBuf> {
    let mut gained = Vec::new();
    for _ in 0..3 {
        let (l, s) = (leases.clone(), share.clone());
        gained.extend(
            tokio::task::spawn_blocking(move || l.tick(&s))
                .await
                .unwrap_or_default(),
        );
        if leases.settled() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    gained
}

/// The lease task: renews this dropcast's leases, watches the others', takes over a dead
/// owner's inbox (and adopts its work folders), and hands the inboxes on at a clean stop.
struct LeaseHolder {
    config: Arc<Config>,
    journal: Arc<Journal>,
    share: Arc<Share>,
    leases: Arc<Leases>,
}

impl LeaseHolder {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let interval = self.leases.interval();
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(interval) => {}
            }
            let (c, j, s, l) = (
                self.config.clone(),
                self.journal.clone(),
                self.share.clone(),
                self.leases.clone(),
            );
            let _ = tokio::task::spawn_blocking(move || {
                let gained = l.tick(&s);
                for inbox in &gained {
                    preparer::hand_over_gone(&c, &j, &s, inbox);
                    preparer::remember_fence(&j, &s, inbox);
                    // Receipts and reports the old owner was writing when it died: never named,
                    // never a clerk's file (the ones in its work folders are swept as each is
                    // adopted).
                    spool::sweep_temporaries(&c.archive, &c.failed, &[]);
                    preparer::adopt(&c, &j, &s, inbox);
                }
                // What lands in a work folder after its adoption (a dead owner's last writes
                // that its file server carried out after the takeover; a folder that could not
                // be adopted while the archive was away) is adopted at a later look.
                for inbox in l.held().iter().filter(|i| !gained.contains(i)) {
                    if preparer::has_foreign_work(inbox) {
                        preparer::adopt(&c, &j, &s, inbox);
                    }
                }
                if !gained.is_empty() {
                    // This journal's own bundles that the other dropcast put back into the inbox
                    // go back to their work folders before their deliveries go on, and before
                    // the watcher looks at the inbox (it would take them as new bundles).
                    preparer::recover(&j, &s);
                    l.announce();
                    l.regained.notify_one();
                }
            })
            .await;
        }
        let l = self.leases.clone();
        let _ = tokio::task::spawn_blocking(move || l.release()).await;
    }
}

/// Every configured folder must be there before anything starts: `once` says which are not and
/// fails; `run` waits for them (a share mounted after dropcast started), saying so once a
/// minute (the share says it) and on the status page. False when a shutdown came first.
async fn wait_for_folders(
    share: &Share,
    opts: Options,
    mut shutdown: watch::Receiver<bool>,
) -> Result<bool, PipelineError> {
    loop {
        let mut away = share.check_all();
        if opts.dry_run {
            // A dry run writes nothing: only what it reads must be there.
            away.retain(|a| a.role == "inbox");
        }
        if away.is_empty() {
            return Ok(true);
        }
        if opts.once || opts.dry_run {
            return Err(PipelineError::Away(away));
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return Ok(false),
            _ = tokio::time::sleep(FOLDER_WAIT) => {}
        }
    }
}

/// How often `run` looks again for folders that were not there at start.
const FOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Resolves each channel the config names by `@name` to its numeric id with `getChat`, once:
/// the journal remembers it, posts go to the id, and a public channel renamed later keeps
/// working (and links written with its old name still name its posts). A channel Telegram cannot
/// resolve now is addressed by its name, as before, and tried again at the next start.
async fn resolve_channels(config: &Config, journal: &Journal, client: &Client) {
    let names: std::collections::BTreeSet<&String> = config
        .channels
        .values()
        .filter(|c| c.starts_with('@'))
        .collect();
    for name in names {
        if let Some(id) = journal.chat_id_of(name).ok().flatten() {
            // Resolved before: asked again by its id, to learn a new public name (links a clerk
            // copies after a rename carry it). Not a must: the old names keep resolving.
            match client.get_chat(&id.to_string()).await {
                Ok(chat) if chat.id == id => {
                    if let Err(e) = journal.remember_chat(name, id, chat.username.as_deref()) {
                        tracing::warn!(error = %e, "cannot record the channel's name");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(channel = %name, error = %e, "cannot look the channel up now")
                }
            }
            continue;
        }
        match client.get_chat(name).await {
            Ok(chat) => {
                tracing::info!(channel = %name, id = chat.id, "channel resolved: posts go to its id");
                if let Err(e) = journal.remember_chat(name, chat.id, chat.username.as_deref()) {
                    tracing::warn!(error = %e, "cannot record the channel's id");
                }
            }
            Err(e) => {
                tracing::warn!(channel = %name, error = %e, "cannot resolve the channel's id now: posts go to its name")
            }
        }
    }
}

/// Makes the folder where previews are kept (in the state folder, next to the journal), and
/// removes those no bundle waiting to be posted needs that were made more than a day ago.
fn keep_previews(config: &Config, journal: &Journal) {
    let dir = config.state_dir.join(crate::prepare::PREVIEWS_DIR);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot make the previews folder: files go without previews");
        return;
    }
    let Ok(waiting) = journal.waiting_files() else {
        return;
    };
    let needed: std::collections::HashSet<String> = waiting.into_iter().map(|f| f.sha256).collect();
    spool::sweep_previews(&dir, &needed, std::time::Duration::from_secs(86_400));
}

/// Opens the journal, puts back what a crash interrupted, and checks the bot token.
async fn connect(
    config: &Config,
    journal: Arc<Journal>,
    share: &Share,
) -> Result<(Arc<Journal>, Client), PipelineError> {
    // Only in the inboxes this dropcast holds: a standby touches nothing (the owner's files,
    // its receipts being written, are not its business).
    preparer::recover(&journal, share);
    let held: Vec<&std::path::Path> = config
        .inboxes
        .iter()
        .map(|i| i.path.as_path())
        .filter(|p| share.held(p))
        .collect();
    if held.len() == config.inboxes.len() {
        spool::sweep_temporaries(&config.archive, &config.failed, &held);
    }
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
    resolve_channels(config, &journal, &client).await;
    Ok((journal, client))
}
