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
use crate::metrics::Metrics;
use crate::prepare::Candidate;
use crate::preparer::{self, Preparer};
use crate::spool;
use crate::telegram::{Client, TelegramError};
use crate::watcher::{Returned, Watcher};

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
    shutdown: watch::Receiver<bool>,
) -> Result<Summary, PipelineError> {
    metrics
        .started
        .store(crate::journal::now(), Ordering::Relaxed);
    for dir in [&config.archive, &config.failed] {
        std::fs::create_dir_all(dir).map_err(|source| PipelineError::Folder {
            path: dir.clone(),
            source,
        })?;
    }
    if let Some(missing) = config.inboxes.iter().find(|i| !i.path.is_dir()) {
        return Err(PipelineError::NoInbox(missing.path.clone()));
    }
    let roots = crate::watch::roots(&config);
    let filter = Arc::new(Filter::new(&config.accept, &config.ignore));
    let backend = if opts.dry_run {
        None
    } else {
        Some(connect(&config).await?)
    };

    let (cand_tx, cand_rx) = mpsc::unbounded_channel::<Candidate>();
    let (back_tx, back_rx) = mpsc::unbounded_channel::<Returned>();
    let (done_tx, done_rx) = mpsc::unbounded_channel::<DeliveryEnded>();

    let watcher = Watcher::new(
        config.clone(),
        roots.clone(),
        filter,
        opts.once,
        cand_tx,
        back_rx,
        metrics.clone(),
    )?;
    let deliverer = backend.as_ref().map(|(journal, client)| Deliverer {
        journal: journal.clone(),
        client: client.clone(),
        pacing: Pacing::new(config.pacing, config.pacing_scale),
        uncertain: config.uncertain,
        max_attempts: if opts.once { Some(5) } else { None },
        metrics: metrics.clone(),
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
        shutdown.clone(),
    );

    // `once`: the watcher closes the candidate channel; the preparer drains it, then closes the
    // senders' queues and waits for them; the finisher sees every sender gone. `run`: everyone
    // sees the shutdown.
    let mut tasks = Tasks::default();
    tasks.spawn("watcher", watcher.run(shutdown.clone()));
    tasks.spawn("preparer", preparer.run());
    if let Some((journal, _)) = backend {
        let finisher = Finisher {
            config: config.clone(),
            journal,
            done: done_rx,
            metrics: metrics.clone(),
        };
        tasks.spawn("finisher", finisher.run(shutdown.clone()));
    }
    tasks.join().await;
    Ok(metrics.summary())
}

/// Opens the journal, puts back what a crash interrupted, and checks the bot token.
async fn connect(config: &Config) -> Result<(Arc<Journal>, Client), PipelineError> {
    let journal = Arc::new(Journal::open(&config.state_dir)?);
    preparer::recover(&journal);
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
    Ok((journal, client))
}
