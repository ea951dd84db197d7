//! The preparer task: takes paired bundles in batches, checks them (`prepare`), refuses the bad
//! ones to `failed/`, drops duplicates, enters the good ones into the journal, moves their files
//! into a work folder (or `scheduled/`), and starts one sender per channel. It also releases
//! scheduled bundles when their time comes (`schedule`), and at start puts back what a crash
//! interrupted (`recover`).
//!
//! Architecture Invariant: a bundle is written to the journal before any of its files moves; a
//! file the journal does not mention is still in the inbox.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::Config;
use crate::deliver::{self, Deliverer, DeliveryEnded};
use crate::journal::{BundleId, DeliveryId, FileRecord, Journal, NewBundle};
use crate::messages::{self, Problem};
use crate::metrics::Metrics;
use crate::pipeline::Tasks;
use crate::prepare::{self, Candidate, Prepared, Refusal, Rejected};
use crate::schedule;
use crate::share::Share;
use crate::spool;
use crate::watch::Root;
use crate::watcher::Returned;

/// How many bundles the preparer takes into the journal at once, at most.
const PREPARE_BATCH: usize = 64;

/// The preparer's channels: candidates in from the watcher, their files back to it, ended
/// deliveries on (from the senders it starts) to the finisher.
pub struct Links {
    pub candidates: mpsc::UnboundedReceiver<Candidate>,
    pub returned: mpsc::UnboundedSender<Returned>,
    pub done: mpsc::UnboundedSender<DeliveryEnded>,
}

/// The preparer task's state.
pub struct Preparer {
    config: Arc<Config>,
    roots: Vec<Root>,
    /// `None` in a dry run: nothing is entered, moved or sent.
    deliverer: Option<Deliverer>,
    candidates: mpsc::UnboundedReceiver<Candidate>,
    returned: mpsc::UnboundedSender<Returned>,
    done: mpsc::UnboundedSender<DeliveryEnded>,
    metrics: Arc<Metrics>,
    share: Arc<Share>,
    shutdown: watch::Receiver<bool>,
    /// Bundles in the journal whose files could not all reach their work folder because the
    /// share went away; moved and started once it is back.
    parked: Vec<BundleId>,
    /// One sender per channel, started on its first delivery.
    senders: HashMap<String, mpsc::UnboundedSender<deliver::Job>>,
    sender_tasks: Tasks,
    /// How many bundles were taken so far: names the work folders.
    seq: u64,
}

/// What happened to one candidate.
enum Handled {
    /// In the journal and the work folder; deliveries to start.
    Ready(Vec<(DeliveryId, String)>),
    /// Refused and moved to `failed/`, or to be looked at again: the paths are free.
    Gone,
    /// Nothing moved (dry run, or a failure to move): keep the paths claimed.
    LeftInPlace,
    /// In the journal, but the share went away before every file reached the work folder: the
    /// preparer finishes the move when the share is back, then starts the deliveries. The
    /// paths stay claimed: the journal owns them.
    Parked(BundleId),
}

enum Checked {
    Done(Handled),
    /// Checked, not a duplicate, unchanged: to be entered into the journal.
    Accepted(Box<Prepared>),
}

impl Preparer {
    pub fn new(
        config: Arc<Config>,
        roots: Vec<Root>,
        deliverer: Option<Deliverer>,
        links: Links,
        metrics: Arc<Metrics>,
        share: Arc<Share>,
        shutdown: watch::Receiver<bool>,
    ) -> Preparer {
        Preparer {
            config,
            roots,
            deliverer,
            candidates: links.candidates,
            returned: links.returned,
            done: links.done,
            metrics,
            share,
            shutdown,
            parked: Vec::new(),
            senders: HashMap::new(),
            sender_tasks: Tasks::default(),
            seq: 0,
        }
    }

    /// Runs until shutdown or until the watcher closes the candidate channel; then closes the
    /// senders' queues and waits for them, so that the finisher sees every sender gone.
    pub async fn run(mut self) {
        self.resume();
        // At once at start (a time missed while dropcast was down goes out now), then as the
        // schedule check says.
        let mut next_schedule_check = self.check_schedule().await;
        loop {
            enum Event {
                Candidate(Candidate),
                Schedule,
                /// This dropcast took an inbox over (again): its own deliveries there that it
                /// had left go on.
                Regained,
                Stop,
            }
            let wake =
                next_schedule_check.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let mut shutdown = self.shutdown.clone();
            let leases = self.share.leases().cloned();
            let regained = async {
                match &leases {
                    Some(l) => l.regained.notified().await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => Event::Stop,
                _ = regained => Event::Regained,
                _ = tokio::time::sleep_until(wake), if next_schedule_check.is_some() => Event::Schedule,
                c = self.candidates.recv() => match c { Some(c) => Event::Candidate(c), None => Event::Stop },
            };
            match event {
                Event::Stop => break,
                Event::Schedule => next_schedule_check = self.check_schedule().await,
                Event::Regained => {
                    self.resume();
                    next_schedule_check = Some(Instant::now());
                }
                Event::Candidate(c) => {
                    if self.take_batch(c).await {
                        // Scheduled: make sure the schedule check knows about it.
                        next_schedule_check = Some(Instant::now());
                    }
                }
            }
        }
        self.senders.clear();
        drop(self.done);
        self.sender_tasks.join().await;
    }

    /// Starts the deliveries that the journal holds open from before a restart.
    fn resume(&mut self) {
        let Some(d) = &self.deliverer else { return };
        match d.journal.open_deliveries() {
            Ok(open) => {
                if !open.is_empty() {
                    tracing::info!(
                        deliveries = open.len(),
                        "resuming posts recorded before the restart"
                    );
                }
                for del in open {
                    self.dispatch(del.id, &del.chat);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read open deliveries from the journal"),
        }
        // Unpins that were queued or in flight when dropcast stopped: made (again) now.
        let pins = self
            .deliverer
            .as_ref()
            .map(|d| d.journal.pin_ends())
            .transpose();
        match pins {
            Ok(pins) => {
                for p in pins.unwrap_or_default() {
                    if p.state == "in_flight" {
                        self.queue(deliver::Job::EndPin(p.delivery_id), &p.chat);
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the pins that end from the journal"),
        }
    }

    /// Queues a delivery on its channel's sender, starting the sender on first use.
    fn dispatch(&mut self, id: DeliveryId, chat: &str) {
        if let Some(d) = &self.deliverer {
            d.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        }
        self.queue(deliver::Job::Deliver(id), chat);
    }

    /// Queues a job on its channel's sender, starting the sender on first use.
    fn queue(&mut self, job: deliver::Job, chat: &str) {
        let Some(d) = &self.deliverer else { return };
        let tx = self.senders.entry(chat.to_string()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            self.sender_tasks.spawn(
                "sender",
                deliver::sender(
                    d.clone(),
                    chat.to_string(),
                    rx,
                    self.done.clone(),
                    self.shutdown.clone(),
                ),
            );
            tx
        });
        let _ = tx.send(job);
    }

    /// Releases the scheduled bundles whose time has come, and starts the parked ones whose
    /// share is back; returns when to look again.
    async fn check_schedule(&mut self) -> Option<Instant> {
        let parked_wait = self.retry_parked().await;
        let d = self.deliverer.as_ref()?;
        let (cfg, j, sh) = (self.config.clone(), d.journal.clone(), self.share.clone());
        let checked = tokio::task::spawn_blocking(move || schedule::check(&cfg, &j, &sh))
            .await
            .unwrap_or_default();
        for (id, chat) in checked.start {
            self.dispatch(id, &chat);
        }
        for (id, chat) in checked.unpin {
            self.queue(deliver::Job::EndPin(id), &chat);
        }
        let wait = match (checked.wait, parked_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        wait.map(|w| Instant::now() + w)
    }

    /// Finishes the moves of parked bundles whose share is back and starts their deliveries.
    /// Returns when to look again while some stay parked.
    async fn retry_parked(&mut self) -> Option<Duration> {
        let d = self.deliverer.as_ref()?;
        if self.parked.is_empty() {
            return None;
        }
        let (journal, share, parked) = (d.journal.clone(), self.share.clone(), self.parked.clone());
        let (ready, still) = tokio::task::spawn_blocking(move || {
            let mut ready = Vec::new();
            let mut still = Vec::new();
            for id in parked {
                match resume_parked(&journal, &share, id) {
                    Some(deliveries) => ready.extend(deliveries),
                    None => still.push(id),
                }
            }
            (ready, still)
        })
        .await
        .unwrap_or_default();
        for (id, chat) in ready {
            self.dispatch(id, &chat);
        }
        self.parked = still;
        (!self.parked.is_empty()).then_some(Duration::from_secs(2))
    }

    /// Takes `first` and whatever else is waiting (a batch is recorded in the journal with one
    /// flush), handles them off the async threads, and returns their files to the watcher.
    /// True when a bundle was scheduled.
    async fn take_batch(&mut self, first: Candidate) -> bool {
        let mut batch = vec![first];
        while batch.len() < PREPARE_BATCH {
            match self.candidates.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let paths: Vec<Vec<PathBuf>> = batch.iter().map(Candidate::paths).collect();
        let n = batch.len();
        let batch_job = Batch {
            config: self.config.clone(),
            roots: self.roots.clone(),
            journal: self.deliverer.as_ref().map(|d| d.journal.clone()),
            metrics: self.metrics.clone(),
            share: self.share.clone(),
            first_seq: self.seq,
        };
        self.seq += n as u64;
        let results = tokio::task::spawn_blocking(move || batch_job.handle(batch))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "preparing bundles panicked");
                (0..n).map(|_| Handled::LeftInPlace).collect()
            });
        let mut scheduled = false;
        for (paths, result) in paths.into_iter().zip(results) {
            let back = match result {
                Handled::Ready(deliveries) => {
                    scheduled |= deliveries.is_empty();
                    for (id, chat) in deliveries {
                        self.dispatch(id, &chat);
                    }
                    Returned::Released(paths)
                }
                Handled::Gone => Returned::Released(paths),
                Handled::LeftInPlace => Returned::Kept(paths),
                Handled::Parked(id) => {
                    self.parked.push(id);
                    scheduled = true;
                    Returned::Kept(paths)
                }
            };
            let _ = self.returned.send(back);
        }
        scheduled
    }
}

/// One batch of candidates, handled on the blocking pool.
struct Batch {
    config: Arc<Config>,
    roots: Vec<Root>,
    /// `None` in a dry run.
    journal: Option<Arc<Journal>>,
    metrics: Arc<Metrics>,
    share: Arc<Share>,
    first_seq: u64,
}

impl Batch {
    /// Prepares the candidates, refuses the bad ones, and enters the good ones into the journal
    /// together. Returns what happened to each, in order.
    fn handle(&self, batch: Vec<Candidate>) -> Vec<Handled> {
        let mut out: Vec<Option<Handled>> = Vec::with_capacity(batch.len());
        let mut accepted = Vec::new();
        // Two bundles of the same files in one batch: the second is a duplicate of the first.
        let mut in_batch: HashSet<(String, String)> = HashSet::new();
        // Preparing reads every file through and may render previews: the batch's bundles are
        // prepared side by side, one per core; the journal is asked in their order afterwards.
        let prepared = self.prepare_all(&batch);
        for (i, (c, result)) in batch.into_iter().zip(prepared).enumerate() {
            let inbox = c.inbox;
            match self.check(result, &mut in_batch) {
                Checked::Done(h) => out.push(Some(h)),
                Checked::Accepted(p) => {
                    out.push(None);
                    accepted.push((i, inbox, *p));
                }
            }
        }
        if let Some(journal) = &self.journal {
            let entered = self.enter(journal, &accepted);
            for ((i, ..), h) in accepted.iter().zip(entered) {
                out[*i] = Some(h);
            }
        }
        out.into_iter()
            .map(|h| h.unwrap_or(Handled::LeftInPlace))
            .collect()
    }

    /// Prepares each candidate this dropcast may act on (`None` for the others), on as many
    /// threads as there are cores, keeping the batch's order.
    fn prepare_all(&self, batch: &[Candidate]) -> Vec<Option<Result<Prepared, Rejected>>> {
        type Slot = std::sync::Mutex<Option<Option<Result<Prepared, Rejected>>>>;
        let one = |c: &Candidate| -> Option<Result<Prepared, Rejected>> {
            if self.journal.is_some() && !self.share.may_act(c.paths().iter().map(PathBuf::as_path))
            {
                return None;
            }
            Some(match &c.refuse {
                Some(problem) => Err(Rejected::Refused(Refusal {
                    name: c.name(),
                    problem: problem.clone(),
                    files: c.paths(),
                })),
                None => prepare::prepare(c, &self.config),
            })
        };
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(batch.len());
        if workers <= 1 {
            return batch.iter().map(one).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<Slot> = batch.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(c) = batch.get(i) else { break };
                        let r = one(c);
                        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()).flatten())
            .collect()
    }

    fn check(
        &self,
        result: Option<Result<Prepared, Rejected>>,
        in_batch: &mut HashSet<(String, String)>,
    ) -> Checked {
        let Some(result) = result else {
            // The share went away since the files settled, or another dropcast took the inbox
            // over: the files are seen again when (and if) it is this dropcast's again.
            return Checked::Done(Handled::Gone);
        };
        let Some(journal) = &self.journal else {
            self.dry_run(result);
            return Checked::Done(Handled::LeftInPlace);
        };
        if self.taken_back(&result, journal) {
            return Checked::Done(Handled::Gone);
        }
        if let Ok(p) = &result
            && !p.repost
            && p.chats
                .iter()
                .any(|chat| in_batch.contains(&(chat.clone(), p.digest.clone())))
        {
            // The same files as a bundle earlier in this batch, which the journal does not know
            // yet: looked at again once it does (and posted, should the first one not make it).
            tracing::info!(bundle = %p.name, "the same files are being taken in right now: looked at again shortly");
            return Checked::Done(Handled::Gone);
        }
        let result = result.and_then(|p| match p.correction {
            Some(_) => find_post(journal, p),
            None => self.check_duplicates(p, journal),
        });
        match result {
            Ok(p) => {
                if p.publish_at.is_some() {
                    Metrics::add(&self.metrics.bundles_scheduled, 1);
                }
                for chat in &p.chats {
                    in_batch.insert((chat.clone(), p.digest.clone()));
                }
                Checked::Accepted(Box::new(p))
            }
            Err(r) => Checked::Done(self.reject(journal, r)),
        }
    }

    /// `--dry-run`: says what would happen; nothing is entered or moved.
    fn dry_run(&self, result: Result<Prepared, Rejected>) {
        match result.and_then(|p| find_post_read_only(&self.config, p)) {
            Ok(p) if p.correction.is_some() => {
                Metrics::add(&self.metrics.bundles_archived, 1);
                println!(
                    "would change {}",
                    prepare::describe(&p, crate::config::Language::En, &self.config)
                );
            }
            Ok(p) => {
                Metrics::add(&self.metrics.bundles_archived, 1);
                println!(
                    "would post {}",
                    prepare::describe(&p, crate::config::Language::En, &self.config)
                );
            }
            Err(Rejected::Refused(r)) => {
                Metrics::add(&self.metrics.bundles_refused, 1);
                println!("would refuse {}: {}\n", r.name, r.problem.summary());
            }
            Err(Rejected::SettleAgain { name, reason }) => {
                Metrics::add(&self.metrics.bundles_refused, 1);
                println!("would refuse {name}: {reason}\n");
            }
        }
    }

    fn reject(&self, journal: &Journal, r: Rejected) -> Handled {
        match r {
            Rejected::SettleAgain { name, reason } => {
                tracing::info!(bundle = %name, "{reason}");
                Handled::Gone
            }
            Rejected::Refused(r) => {
                // A file that could not be read, or `failed/` that cannot take the bundle, may be
                // the share going away: then nothing is refused, the files are seen again later.
                let places = r.files.iter().map(PathBuf::as_path);
                if !self
                    .share
                    .may_act(places.chain([self.config.failed.as_path()]))
                {
                    tracing::info!(bundle = %r.name, "the share is away: the bundle is looked at again when it is back");
                    return Handled::Gone;
                }
                Metrics::add(&self.metrics.bundles_refused, 1);
                refuse(&self.config, journal, r)
            }
        }
    }

    /// Whether the files of `result` belong to a bundle this journal already holds, the very
    /// files back where they were dropped and gone from its work folder: another dropcast put
    /// them back into the inbox (an adoption, or the end of one that a freeze cut and that went
    /// on once the inbox was this dropcast's again, after [`recover`]), all of them or only some
    /// (a freeze between two moves). They go back into the work folder and the bundle goes on;
    /// taken as a new bundle, it would be refused as a duplicate of itself ("being posted right
    /// now"), with `repost: true` be posted twice, and a part of it (a lone sidecar, a lone PDF)
    /// be posted or refused on its own while the bundle misses it.
    fn taken_back(&self, result: &Result<Prepared, Rejected>, journal: &Journal) -> bool {
        let (name, here): (&str, Vec<&Path>) = match result {
            Ok(p) => (&p.name, p.files.iter().map(|f| f.path.as_path()).collect()),
            Err(Rejected::Refused(r)) => (&r.name, r.files.iter().map(PathBuf::as_path).collect()),
            Err(Rejected::SettleAgain { .. }) => return false,
        };
        let Some(first) = here.first() else {
            return false;
        };
        let Ok(waiting) = journal.waiting_with_original(first) else {
            return false;
        };
        let put_back = |files: &[crate::journal::FileRecord]| {
            // Part of a bundle only from a work folder, where an adoption takes files from: a
            // file a clerk moved out of `scheduled/` back to where it was dropped cancels its
            // post, as one removed from there does.
            let part = here.len() < files.len();
            here.iter().all(|p| {
                files.iter().any(|f| {
                    f.original == *p
                        && (!part || crate::sentlog::work_folder(&f.work).is_some())
                        && std::fs::symlink_metadata(&f.work).is_err()
                        && same_file(&f.original, f)
                })
            })
        };
        let Some((id, files)) = waiting.into_iter().find(|(_, files)| put_back(files)) else {
            return false;
        };
        tracing::info!(bundle = %name, "a bundle of this journal that another dropcast put back into the inbox: back into its work folder, not taken as a new one");
        take_back(journal, &self.share, id, &files);
        true
    }

    fn check_duplicates(&self, p: Prepared, journal: &Journal) -> Result<Prepared, Rejected> {
        if p.repost {
            return Ok(p);
        }
        // The same bundle put back into the inbox by an adoption: its earlier post is this very
        // post, which goes on where the other dropcast left it (see `journal::carry`).
        let key = crate::sentlog::key(p.files.iter().map(|f| f.sha256.as_str()));
        if journal.is_carried(&key).unwrap_or(false) {
            return Ok(p);
        }
        let since = crate::journal::now() - self.config.duplicate_window.as_secs() as i64;
        for chat in &p.chats {
            match journal.find_duplicate(chat, &p.digest, since) {
                Ok(Some(link)) => {
                    let link = if link.is_empty() {
                        "it is being posted right now".to_string()
                    } else {
                        link
                    };
                    return Err(Rejected::Refused(Refusal {
                        name: p.name.clone(),
                        problem: Problem::Duplicate {
                            channel: chat.clone(),
                            link,
                        },
                        files: p.files.iter().map(|f| f.path.clone()).collect(),
                    }));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot check for duplicates"),
            }
        }
        Ok(p)
    }

    /// Records bundles in the journal, then moves their files into work folders where a clerk's
    /// new file of the same name cannot touch them. Bundles to post now are recorded together
    /// (one flush); a scheduled one alone, as its name in `scheduled/` must be free when it is
    /// chosen.
    fn enter(&self, journal: &Journal, accepted: &[(usize, usize, Prepared)]) -> Vec<Handled> {
        let mut out: Vec<Option<Handled>> = (0..accepted.len()).map(|_| None).collect();
        let mut now_batch: Vec<(usize, NewBundle)> = Vec::new();
        let mut folders = WorkFolders {
            stamp: jiff::Timestamp::now().as_nanosecond(),
            first_seq: self.first_seq,
            by_root: HashMap::new(),
        };
        for (k, (_, inbox, p)) in accepted.iter().enumerate() {
            if let Err(r) = unchanged(p) {
                out[k] = Some(self.reject(journal, r));
                continue;
            }
            let seq = self.first_seq + k as u64;
            let b = new_bundle(&self.config, &self.roots[*inbox].path, p, seq, &mut folders);
            if p.publish_at.is_some() {
                out[k] = Some(self.record_and_move(journal, &[(k, b)], accepted).remove(0));
            } else {
                now_batch.push((k, b));
            }
        }
        if !now_batch.is_empty() {
            let ks: Vec<usize> = now_batch.iter().map(|(k, _)| *k).collect();
            for (k, h) in ks
                .into_iter()
                .zip(self.record_and_move(journal, &now_batch, accepted))
            {
                out[k] = Some(h);
            }
        }
        out.into_iter()
            .map(|h| h.unwrap_or(Handled::LeftInPlace))
            .collect()
    }

    /// Records `bundles` in one transaction, then moves their files. The moves are not flushed:
    /// the journal holds both places, and a move that a crash undoes is made again at start
    /// (`recover`).
    fn record_and_move(
        &self,
        journal: &Journal,
        bundles: &[(usize, NewBundle)],
        accepted: &[(usize, usize, Prepared)],
    ) -> Vec<Handled> {
        let records: Vec<NewBundle> = bundles.iter().map(|(_, b)| b.clone()).collect();
        // Bundles coming back after an adoption: what the journal takes over for them from the
        // adopted log is written into their new work folder's log once they are there.
        let carried: Vec<bool> = records
            .iter()
            .map(|b| {
                journal
                    .is_carried(&crate::sentlog::key(
                        b.files.iter().map(|f| f.sha256.as_str()),
                    ))
                    .unwrap_or(false)
            })
            .collect();
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
            .zip(carried)
            .map(|(((k, b), id), carried)| {
                let p = &accepted[*k].2;
                // What another dropcast posted of an adopted bundle goes into the work folder
                // before its files: killed between the two, this one would leave a folder that
                // says nothing went out, and whoever adopts it posts it again.
                if carried
                    && let Some(dir) = b.files.first().and_then(|f| f.work.parent())
                    && (made.contains(dir) || spool::make_work_dir(dir).is_ok())
                {
                    made.insert(dir.to_path_buf());
                    self.carry_over(journal, b, id);
                }
                let moved = move_files(b, &mut made, &mut syncs);
                match moved {
                    Err(e) if e.is_busy() => {
                        // SMB: a file still open on a clerk's PC cannot be moved (Windows
                        // semantics). It is moved once it is closed.
                        tracing::info!(bundle = %p.name, error = %e, "a file is still open elsewhere: it is taken once it is closed");
                        Handled::Parked(id)
                    }
                    Err(_) if !self.share.all_here(b.files.iter().flat_map(|f| [f.original.as_path(), f.work.as_path()])) => {
                        tracing::warn!(bundle = %p.name, "the share went away while the files were taken: they are moved when it is back");
                        Handled::Parked(id)
                    }
                    Err(e) => {
                        tracing::warn!(bundle = %p.name, error = %e, "cannot take the files from the inbox");
                        let problem =
                            Problem::unreadable_io(p.name.clone(), e.to_string(), e.source.kind());
                        match journal.release(id).and_then(|_| {
                            journal.fail_open_deliveries(id, &problem.to_json())
                        }) {
                            Ok(()) => Handled::Ready(Vec::new()),
                            Err(e) => journal_error(e),
                        }
                    }
                    Ok(()) => {
                        if let Some(at) = p.publish_at {
                            let local = at.to_zoned_datetime(self.config.timezone.clone());
                            tracing::info!(bundle = %p.name, publish_at = %local.strftime("%Y-%m-%d %H:%M %Z"), "scheduled: waiting in scheduled/");
                            Handled::Ready(Vec::new())
                        } else {
                            tracing::info!(bundle = %p.name, channels = %p.chats.join(", "), "ready to post");
                            journal
                                .deliveries_of(id)
                                .map_or_else(journal_error, Handled::Ready)
                        }
                    }
                }
            })
            .collect()
    }
}

impl Batch {
    /// See `sentlog::carry_over`.
    fn carry_over(&self, journal: &Journal, b: &NewBundle, id: BundleId) {
        carry_deliveries(journal, &self.share, id, &b.files);
    }
}

fn journal_error(e: crate::journal::JournalError) -> Handled {
    tracing::error!(error = %e, "journal error: the bundle stays in the inbox");
    Handled::LeftInPlace
}

/// Moves a recorded bundle's files to where the journal says they wait; a file already there (a
/// move finished before) is left as it is.
fn move_files(
    b: &NewBundle,
    made: &mut HashSet<PathBuf>,
    syncs: &mut spool::Syncs,
) -> Result<(), spool::SpoolError> {
    if b.publish_at.is_some() {
        // Without its record the bundle still waits and is posted; only another dropcast
        // would not know it.
        let _ = spool::record_scheduled(&crate::sentlog::ScheduledRecord {
            bundle: b.name.clone(),
            files: b
                .files
                .iter()
                .map(|f| crate::sentlog::RecordedFile {
                    scheduled: f.work.clone(),
                    original: f.original.clone(),
                    sha256: f.sha256.clone(),
                })
                .collect(),
            publish_at: b.publish_at,
        })
        .inspect_err(|e| tracing::warn!(bundle = %b.name, error = %e, "cannot write the record of a scheduled bundle: another dropcast taking over would not know it"));
    }
    let mut recorded = false;
    b.files.iter().try_for_each(|f| {
        if std::fs::symlink_metadata(&f.work).is_ok() {
            return Ok(());
        }
        if let Some(dir) = f.work.parent() {
            if !made.contains(dir) {
                spool::make_work_dir(dir)?;
                made.insert(dir.to_path_buf());
            }
            if !recorded && crate::sentlog::work_folder(&f.work).is_some() {
                recorded = true;
                let files: Vec<(&OsStr, &Path)> = b
                    .files
                    .iter()
                    .map(|f| (f.work.file_name().unwrap_or_default(), f.original.as_path()))
                    .collect();
                // Without it the bundle is still posted; only a dropcast adopting the folder
                // would put it back in the inbox itself, where the inbox's channel takes it.
                if let Err(e) = crate::sentlog::record_origins(dir, &files) {
                    tracing::warn!(bundle = %b.name, error = %e, "cannot record the subfolder the bundle came from");
                }
            }
        }
        spool::move_file(&f.original, &f.work, syncs)
    })
}

/// The files must still be the versions that were read, checked right before the journal records
/// them: one rewritten meanwhile settles again; one removed takes the bundle to failed/ (its
/// caption was meant for it).
fn unchanged(p: &Prepared) -> Result<(), Rejected> {
    match prepare::still_same(&p.files) {
        Ok(()) => Ok(()),
        Err(prepare::Changed::Rewritten) => Err(Rejected::SettleAgain {
            name: p.name.clone(),
            reason: Problem::unreadable(
                p.name.clone(),
                "it changed while it was read: it settles again",
                "è cambiato mentre veniva letto: si aspetta di nuovo che sia completo",
            )
            .summary(),
        }),
        Err(prepare::Changed::Gone(file)) => Err(Rejected::Refused(Refusal {
            name: p.name.clone(),
            problem: Problem::unreadable(
                file,
                "it was removed from the inbox while dropcast was taking it",
                "è stato tolto dalla cartella inbox mentre dropcast lo prendeva",
            ),
            files: p.files.iter().map(|f| f.path.clone()).collect(),
        })),
    }
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
    fn for_bundle(&mut self, root: &Path, names: &[&OsStr], seq: u64) -> PathBuf {
        let (stamp, first) = (self.stamp, self.first_seq);
        let (dir, used) = self.by_root.entry(root.to_path_buf()).or_insert_with(|| {
            (
                root.join(".dropcast").join(format!("{stamp}-{first}")),
                HashSet::new(),
            )
        });
        // Compared as a share that ignores case would (SMB): `Notice.pdf` takes `notice.pdf`.
        let key = |n: &&OsStr| n.to_string_lossy().to_lowercase();
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
    let names: Vec<&OsStr> = p
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap_or_default())
        .collect();
    // Scheduled bundles wait where the clerk can see (and cancel) them; others in their batch's
    // hidden work folder. Either way the journal learns the paths before anything moves.
    let work: Vec<PathBuf> = match p.publish_at {
        Some(_) => {
            let stem = spool::bundle_stem(&p.name);
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
    let moved = |mut plan: crate::journal::Plan| {
        for m in &mut plan.messages {
            for path in m.files_mut() {
                if let Some(w) = moved_path(path) {
                    *path = w;
                }
            }
        }
        plan
    };
    let plan = moved(p.plan.clone());
    let changes = p
        .changes
        .iter()
        .map(|x| crate::journal::NewChange {
            chat: x.chat.clone(),
            target: x.target,
            kind: x.kind,
            plan: moved(x.plan.clone()),
            note: serde_json::to_string(&x.note).unwrap_or_default(),
        })
        .collect();
    NewBundle {
        name: p.name.clone(),
        files,
        plan,
        digest: p.digest.clone(),
        chats: p.chats.clone(),
        repost: p.repost,
        publish_at: p.publish_at.map(|t| t.as_second()),
        changes,
    }
}

/// [`find_post`] for `--dry-run` and `check`: the journal read, never written; no journal yet
/// means no post to change.
pub fn find_post_read_only(config: &Config, p: Prepared) -> Result<Prepared, Rejected> {
    if p.correction.is_none() {
        return Ok(p);
    }
    match crate::journal::JournalReader::open(&config.state_dir) {
        Ok(reader) => find_post(&reader, p),
        Err(e) => {
            tracing::debug!(error = %e, "no journal to find the post in");
            let c = p.correction.as_ref().expect("checked above");
            Err(Rejected::Refused(Refusal {
                name: p.name.clone(),
                problem: Problem::CannotChange {
                    post: c.request.written.clone(),
                    kind: c.request.kind,
                    why: Box::new(crate::change::CannotChange::NotOurs),
                },
                files: p.files.iter().map(|f| f.path.clone()).collect(),
            }))
        }
    }
}

/// A correction: finds the post it names in the journal and plans what changes in each channel
/// the post went to; refused with the reason when it cannot be made.
pub fn find_post(
    journal: &crate::journal::JournalReader,
    mut p: Prepared,
) -> Result<Prepared, Rejected> {
    let Some(c) = &p.correction else {
        return Ok(p);
    };
    let refuse = |why: crate::change::CannotChange| {
        Rejected::Refused(Refusal {
            name: p.name.clone(),
            problem: Problem::CannotChange {
                post: c.request.written.clone(),
                kind: c.request.kind,
                why: Box::new(why),
            },
            files: p.files.iter().map(|f| f.path.clone()).collect(),
        })
    };
    let found = journal.find_post(&c.request.target).map_err(|e| {
        tracing::error!(error = %e, "cannot read the journal to find the post to change");
        Rejected::SettleAgain {
            name: p.name.clone(),
            reason: "the journal cannot be read now".into(),
        }
    })?;
    let posts = match found {
        crate::journal::Found::Posts(posts) => posts,
        crate::journal::Found::Nothing => return Err(refuse(crate::change::CannotChange::NotOurs)),
        crate::journal::Found::Ambiguous(receipts) => {
            return Err(refuse(crate::change::CannotChange::Ambiguous {
                receipts: receipts.iter().map(|r| r.display().to_string()).collect(),
            }));
        }
    };
    let changes = crate::change::plan(&posts, c, crate::journal::now()).map_err(refuse)?;
    p.chats = changes.iter().map(|x| x.chat.clone()).collect();
    p.changes = changes;
    Ok(p)
}

/// Moves a refused bundle to `failed/` with its report and records it in the journal.
fn refuse(config: &Config, journal: &Journal, r: Refusal) -> Handled {
    tracing::warn!(bundle = %r.name, reason = %r.problem.summary(), "refused: moving to failed/");
    let files: Vec<(PathBuf, OsString)> = r
        .files
        .iter()
        .map(|p| (p.clone(), p.file_name().unwrap_or_default().to_os_string()))
        .collect();
    let report = messages::report_now(
        config,
        &r.name,
        std::slice::from_ref(&r.problem),
        &[],
        &files,
    );
    match spool::fail(
        &config.failed,
        &r.name,
        &files,
        &report,
        &mut spool::Syncs::now(),
    ) {
        Ok(dir) => {
            let records: Vec<FileRecord> = files
                .iter()
                .map(|(p, n)| FileRecord {
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

/// Moves what is left of a parked bundle into its work folder; its deliveries once every file
/// is there, `None` while the share is away. A file that is neither where it came from nor
/// where it waits, on a share that is here, was removed: the deliveries fail with a report.
fn resume_parked(
    journal: &Journal,
    share: &Share,
    id: BundleId,
) -> Option<Vec<(DeliveryId, String)>> {
    let files = journal.files(id).ok()?;
    let places = files
        .iter()
        .flat_map(|f| [f.original.as_path(), f.work.as_path()]);
    if !share.all_here(places) {
        return None;
    }
    let mut made = HashSet::new();
    let mut syncs = spool::Syncs::now();
    for f in &files {
        if std::fs::symlink_metadata(&f.work).is_ok() {
            continue;
        }
        let moved = match f.work.parent() {
            Some(dir) if !made.contains(dir) => spool::make_work_dir(dir)
                .map(|()| {
                    made.insert(dir.to_path_buf());
                })
                .and_then(|()| spool::move_file(&f.original, &f.work, &mut syncs)),
            _ => spool::move_file(&f.original, &f.work, &mut syncs),
        };
        if let Err(e) = moved {
            if e.is_busy() || !share.all_here([f.original.as_path(), f.work.as_path()]) {
                return None;
            }
            let problem = Problem::unreadable_io(
                crate::bundle::file_name_of(&f.original),
                e.to_string(),
                e.source.kind(),
            );
            tracing::warn!(file = %f.original.display(), error = %e, "a file of a bundle was removed while the share was away");
            return match journal.fail_open_deliveries(id, &problem.to_json()) {
                Ok(()) => Some(Vec::new()),
                Err(_) => None,
            };
        }
    }
    tracing::info!(bundle = %id, "the share is back: the bundle's files are in its work folder");
    journal.deliveries_of(id).ok()
}

/// Finishes the work that another dropcast left in an inbox's work folders (a server that died,
/// or this server before its journal was lost): files this journal does not know. A bundle whose
/// receipt travelled with it was posted: it is archived with that receipt and never posted again.
/// One without a receipt may or may not have been posted (its request may have been in flight):
/// `uncertain: resend` puts its files back into the inbox to be posted again, `fail` moves them to
/// `failed/` asking a person to look at the channel.
pub fn adopt(config: &Config, journal: &Journal, share: &Share, inbox: &Path) {
    let waiting = match journal.waiting_files() {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "journal error: the work folders wait to be adopted");
            return;
        }
    };
    let known: HashSet<PathBuf> = waiting.into_iter().map(|f| f.work).collect();
    adopt_scheduled(config, share, inbox, &known, journal);
    let dirs: Vec<PathBuf> = std::fs::read_dir(inbox.join(".dropcast"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|d| !spool::made_here_by_us(d))
        .collect();
    for dir in dirs {
        // Travelling receipts the old owner was writing when it died: never named, never a
        // clerk's file. Without this, its work folders would never empty. (Its temporaries in
        // the archive and failed/ are swept at a start; the receipts travelling with the
        // bundles are what counts here.)
        spool::sweep_temporaries_in(&dir);
        let mut unknown: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| !known.contains(p))
            .filter(|p| !crate::bundle::file_name_of(p).starts_with('.'))
            .collect();
        if unknown.is_empty() {
            // Emptied by the old owner, which died before it removed the folder.
            if share.may_act([dir.as_path()]) {
                spool::remove_work_dir(&dir);
            }
            continue;
        }
        if !share.may_act([
            dir.as_path(),
            config.archive.as_path(),
            config.failed.as_path(),
        ]) {
            tracing::debug!(folder = %dir.display(), "a work folder waits to be adopted: the share is away or the inbox not held");
            return;
        }
        tracing::debug!(folder = %dir.display(), files = unknown.len(), "adopting a work folder");
        unknown.sort();
        // A receipt of a bundle this journal knows is its own finisher's business.
        unknown.retain(|p| {
            !receipt_names(p)
                .is_some_and(|(_, files)| files.iter().any(|(n, _)| known.contains(&dir.join(n))))
        });
        // Each move is made only after the lease is read again: this dropcast may have been
        // frozen in the middle of the folder, and another may hold the inbox now, its own
        // bundles in this very folder (it took them back when it took the inbox back).
        if !adopt_posted(config, share, &dir, &mut unknown) {
            return;
        }
        let finished = match carry_from_log(journal, &dir, &unknown) {
            // The log says what was begun: back into the inbox, every bundle of it. The journal
            // remembers what went out (never posted again) and what was in flight (`uncertain`
            // decides when it is delivered); what never began is posted without a doubt.
            Some(Ok(())) => back_into_inbox(share, inbox, unknown),
            Some(Err(e)) => {
                tracing::error!(error = %e, "journal error: the adopted work folder waits");
                continue;
            }
            None => adopt_uncertain(config, share, inbox, unknown),
        };
        if !finished {
            return;
        }
        spool::remove_work_dir(&dir);
    }
}

/// At a start, for an inbox this dropcast has just taken: if another dropcast held its lease since
/// this journal last did (the fencing number went up by more than this start's own claim), the
/// bundles it finished meanwhile are recorded as handed over before anything of this journal is
/// recovered or resumed. Without this, a server restarted after a failover would resume posts
/// whose files the other server had already posted and archived, and report them as missing.
/// Then remembers the fencing number it holds.
pub fn took_at_start(config: &Config, journal: &Journal, share: &Share, inbox: &Path) {
    let Some(fence) = share.leases().and_then(|l| l.fence(inbox)) else {
        return;
    };
    match journal.held_fence(inbox) {
        Ok(Some(last)) if fence > last + 1 => {
            tracing::info!(inbox = %inbox.display(), "another dropcast held this inbox since this one last did: what it finished is not posted here");
            hand_over_gone(config, journal, share, inbox);
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "journal error: cannot read the lease this journal held")
        }
    }
    remember_fence(journal, share, inbox);
}

/// Remembers in the journal the fencing number under which this dropcast holds `inbox`.
pub fn remember_fence(journal: &Journal, share: &Share, inbox: &Path) {
    if let Some(fence) = share.leases().and_then(|l| l.fence(inbox))
        && let Err(e) = journal.record_fence(inbox, fence)
    {
        tracing::error!(error = %e, "journal error: cannot record the lease this journal holds");
    }
}

/// Whether `inbox` has a work folder this process did not make (another dropcast's, or this
/// one's before a restart): one look at `.dropcast/`, for the lease task's every look.
pub fn has_foreign_work(inbox: &Path) -> bool {
    std::fs::read_dir(inbox.join(".dropcast"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_type().is_ok_and(|t| t.is_dir()) && !spool::made_here_by_us(&e.path()))
}

/// The bundles of this dropcast's own journal that another dropcast finished while this one stood
/// by (their files are neither where they waited nor where they were dropped): recorded as
/// handed over, so that nothing of them is sent, moved or reported here. Only when another
/// dropcast held the inbox in between (it was lost while running, or [`took_at_start`] saw the
/// fencing number jump): otherwise files gone from a work folder at a start may be this
/// dropcast's own bundle archived just before a crash, which its finisher completes.
pub fn hand_over_gone(config: &Config, journal: &Journal, share: &Share, inbox: &Path) {
    let Ok(waiting) = journal.waiting_bundles() else {
        return;
    };
    let from_here = |p: &Path| {
        config
            .inboxes
            .iter()
            .map(|i| i.path.as_path())
            .filter(|i| p.starts_with(i))
            .max_by_key(|i| i.as_os_str().len())
            == Some(inbox)
    };
    let gone: Vec<BundleId> = waiting
        .into_iter()
        .filter(|(_, files)| files.first().is_some_and(|f| from_here(&f.original)))
        .filter(|(_, files)| {
            share.all_here(
                files
                    .iter()
                    .flat_map(|f| [f.work.as_path(), f.original.as_path()]),
            ) && files.iter().all(|f| {
                // At the place it was dropped, only the very file counts (a clerk may have
                // dropped a new one of that name since).
                std::fs::symlink_metadata(&f.work).is_err() && !same_file(&f.original, f)
            })
        })
        .map(|(id, _)| id)
        .collect();
    if gone.is_empty() {
        return;
    }
    tracing::info!(
        bundles = gone.len(),
        "bundles of this journal were finished by another dropcast while this one stood by: not posted here"
    );
    if let Err(e) = journal.hand_over(&gone) {
        tracing::error!(error = %e, "cannot record bundles handed over");
    }
}

/// The bundles from `inbox` that another dropcast scheduled and this one does not know: each goes
/// back where the clerk dropped it, and is scheduled again from its sidecar, keeping its time (or
/// posted now if the time passed meanwhile). What its log says went out is not posted again. A
/// bundle with a file missing from `scheduled/` was cancelled by a clerk: the rest goes to
/// `failed/` with the report a cancellation gets.
fn adopt_scheduled(
    config: &Config,
    share: &Share,
    inbox: &Path,
    known: &HashSet<PathBuf>,
    journal: &Journal,
) {
    let records: Vec<PathBuf> = std::fs::read_dir(config.scheduled.join(".dropcast"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|d| d.is_dir() && !spool::made_here_by_us(d))
        .collect();
    for dir in records {
        let Some(record) = crate::sentlog::read_record(&dir) else {
            continue;
        };
        let Some(first) = record.files.first() else {
            continue;
        };
        let from = config
            .inboxes
            .iter()
            .map(|i| i.path.as_path())
            .filter(|p| first.original.starts_with(p))
            .max_by_key(|p| p.as_os_str().len());
        if from != Some(inbox) || record.files.iter().any(|f| known.contains(&f.scheduled)) {
            continue;
        }
        if !share.may_act([config.scheduled.as_path(), inbox, config.failed.as_path()]) {
            return;
        }
        let here =
            |f: &crate::sentlog::RecordedFile| std::fs::symlink_metadata(&f.scheduled).is_ok();
        let present: Vec<&crate::sentlog::RecordedFile> =
            record.files.iter().filter(|f| here(f)).collect();
        // Moved back already, posted and archived, or never moved there: nothing waits.
        if present.is_empty() {
            spool::forget_scheduled(&first.scheduled);
            continue;
        }
        // A file missing from `scheduled/` and from where it was dropped: a clerk removed it.
        let cancelled = record
            .files
            .iter()
            .find(|f| !here(f) && std::fs::symlink_metadata(&f.original).is_err());
        if let Some(gone) = cancelled {
            let problem = Problem::Cancelled {
                file: record.bundle.clone(),
                removed: crate::bundle::file_name_of(&gone.original),
            };
            let left: Vec<(PathBuf, OsString)> = present
                .iter()
                .map(|f| {
                    (
                        f.scheduled.clone(),
                        f.original.file_name().unwrap_or_default().to_os_string(),
                    )
                })
                .collect();
            let report = messages::report_now(
                config,
                &record.bundle,
                std::slice::from_ref(&problem),
                &[],
                &left,
            );
            tracing::info!(bundle = %record.bundle, "adopted a scheduled post that a clerk cancelled: the rest to failed/");
            match spool::fail(
                &config.failed,
                &record.bundle,
                &left,
                &report,
                &mut spool::Syncs::now(),
            ) {
                Ok(_) => spool::forget_scheduled(&first.scheduled),
                Err(e) => {
                    tracing::warn!(bundle = %record.bundle, error = %e, "cannot finish an adopted cancelled post yet")
                }
            }
            continue;
        }
        let names: Vec<String> = present
            .iter()
            .map(|f| crate::bundle::file_name_of(&f.scheduled))
            .collect();
        if let Some(lines) = crate::sentlog::read(&dir) {
            let keys = crate::sentlog::keys_of(&lines, &names);
            let mut carried = crate::sentlog::carried(&lines);
            carried.retain(|(key, _), _| keys.contains(key));
            if let Err(e) = journal.carry(&carried) {
                tracing::error!(error = %e, "journal error: the adopted scheduled post waits");
                continue;
            }
        }
        tracing::info!(bundle = %record.bundle, publish_at = ?record.publish_at, "adopted a post another dropcast scheduled: back where it was dropped, to be scheduled again for its time");
        let mut all_back = true;
        for f in present {
            let name = f.original.file_name().unwrap_or_default();
            let to = f.original.parent().filter(|d| d.is_dir()).unwrap_or(inbox);
            let stem = spool::bundle_stem(&name.to_string_lossy());
            if let Err(e) = spool::move_group(
                &[(f.scheduled.as_path(), name)],
                to,
                &stem,
                &[],
                &mut spool::Syncs::now(),
            ) {
                tracing::warn!(error = %e, "cannot put an adopted scheduled file back yet");
                all_back = false;
            }
        }
        if all_back {
            spool::forget_scheduled(&first.scheduled);
        }
    }
}

/// The bundles of a work folder whose receipt travelled with them: archived with it.
/// False when the lease was found taken before a move: nothing more is moved.
fn adopt_posted(config: &Config, share: &Share, dir: &Path, unknown: &mut Vec<PathBuf>) -> bool {
    let receipts: Vec<PathBuf> = unknown
        .iter()
        .filter(|p| crate::bundle::file_name_of(p).ends_with(".receipt.yaml"))
        .cloned()
        .collect();
    let when = jiff::Timestamp::now().to_zoned_datetime(config.timezone.clone());
    let month = config
        .archive
        .join(when.strftime("%Y").to_string())
        .join(when.strftime("%m").to_string());
    // The month before too: an owner that died just after midnight on the 1st archived there.
    let previous = when
        .first_of_month()
        .ok()
        .and_then(|d| d.yesterday().ok())
        .map(|d| {
            config
                .archive
                .join(d.strftime("%Y").to_string())
                .join(d.strftime("%m").to_string())
        });
    let months: Vec<PathBuf> = std::iter::once(month.clone()).chain(previous).collect();
    for receipt in receipts {
        let Some((bundle, files)) = receipt_names(&receipt) else {
            continue;
        };
        let mut group: Vec<PathBuf> = files
            .iter()
            .map(|(n, _)| dir.join(n))
            .filter(|p| unknown.contains(p))
            .collect();
        // Its owner may have begun or finished its move to the archive: finished there, not
        // archived a second time.
        match spool::settle_posted(&receipt, &bundle, &files, dir, &months) {
            Ok(spool::Settled::AlreadyArchived) => {
                tracing::info!(bundle = %bundle, "what was left in a work folder of a bundle already archived with its receipt: removed");
                unknown.retain(|p| p != &receipt && !group.contains(p));
                continue;
            }
            Ok(spool::Settled::Completed(path)) => {
                tracing::info!(bundle = %bundle, receipt = %path.display(), "a bundle whose move to the archive was cut short (its owner died): finished there with the receipt that travelled with it");
                unknown.retain(|p| p != &receipt && !group.contains(p));
                continue;
            }
            Ok(spool::Settled::NotFound) => {}
            Err(e) => {
                // Left where it is, for the lease task's next look; never a clerk's file to put
                // back into the inbox.
                tracing::warn!(bundle = %bundle, error = %e, "cannot settle a bundle left in a work folder yet");
                unknown.retain(|p| p != &receipt && !group.contains(p));
                continue;
            }
        }
        group.push(receipt.clone());
        let pairs: Vec<(&Path, &OsStr)> = group
            .iter()
            .map(|p| (p.as_path(), p.file_name().unwrap_or_default()))
            .collect();
        let stem = spool::bundle_stem(&bundle);
        if !lease_still_ours(share, dir) {
            return false;
        }
        let moved = spool::make_dirs_within(&config.archive, &month)
            .and_then(|()| spool::move_group(&pairs, &month, &stem, &[], &mut spool::Syncs::now()));
        match moved {
            Ok(_) => {
                tracing::info!(bundle = %bundle, archive = %month.display(), "adopted a bundle another dropcast posted: archived with the receipt that travelled with it, not posted again");
                unknown.retain(|p| !group.contains(p));
            }
            Err(e) => {
                tracing::warn!(bundle = %bundle, error = %e, "cannot archive an adopted bundle yet")
            }
        }
    }
    true
}

/// Read again before each move of an adoption: whether the inbox of the work folder `dir` is
/// still this dropcast's. Said once when it is not.
fn lease_still_ours(share: &Share, dir: &Path) -> bool {
    if share.may_act([dir]) {
        return true;
    }
    tracing::info!(folder = %dir.display(), "the inbox is no longer this dropcast's (or the share is away): the adoption of its work folder stops");
    false
}

/// The bundle and the files (name, SHA-256) a travelling receipt lists.
fn receipt_names(receipt: &Path) -> Option<(String, Vec<(String, String)>)> {
    if !crate::bundle::file_name_of(receipt).ends_with(".receipt.yaml") {
        return None;
    }
    let text = std::fs::read_to_string(receipt).ok()?;
    let v: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    let bundle = v.get("bundle")?.as_str()?.to_string();
    let names = v
        .get("files")?
        .as_sequence()?
        .iter()
        .filter_map(|f| {
            Some((
                f.get("name")?.as_str()?.to_string(),
                f.get("sha256")?.as_str()?.to_string(),
            ))
        })
        .collect();
    Some((bundle, names))
}

/// The files of a work folder with no receipt: their post may or may not have gone out. False
/// when the lease was found taken before a move.
fn adopt_uncertain(config: &Config, share: &Share, inbox: &Path, unknown: Vec<PathBuf>) -> bool {
    if unknown.is_empty() {
        return true;
    }
    match config.uncertain {
        crate::config::Uncertain::Resend => {
            tracing::warn!(
                files = unknown.len(),
                "adopted files of bundles another dropcast may or may not have posted: back into the inbox, to be posted again (uncertain: resend)"
            );
            back_into_inbox(share, inbox, unknown)
        }
        // To failed/ together, with one report asking a person to look at the channel.
        crate::config::Uncertain::Fail => {
            let name = unknown
                .iter()
                .map(|p| crate::bundle::file_name_of(p))
                .find(|n| !n.ends_with(".yaml") && !n.ends_with(".yml"))
                .unwrap_or_else(|| crate::bundle::file_name_of(&unknown[0]));
            let pairs: Vec<(PathBuf, OsString)> = unknown
                .iter()
                .map(|p| (p.clone(), p.file_name().unwrap_or_default().to_os_string()))
                .collect();
            let problem = Problem::Uncertain {
                channel: "the channel".into(),
            };
            let report =
                messages::report_now(config, &name, std::slice::from_ref(&problem), &[], &pairs);
            tracing::warn!(bundle = %name, "adopted files another dropcast may or may not have posted: to failed/ (uncertain: fail)");
            if !lease_still_ours(share, inbox) {
                return false;
            }
            if let Err(e) = spool::fail(
                &config.failed,
                &name,
                &pairs,
                &report,
                &mut spool::Syncs::now(),
            ) {
                tracing::warn!(bundle = %name, error = %e, "cannot finish adopted files yet");
            }
            true
        }
    }
}

/// What the sent log of an adopted work folder says about the bundles whose files are still
/// there, remembered in the journal for when they are entered again. `None`: the folder has no
/// log (a dropcast from before it), and nothing is known.
fn carry_from_log(
    journal: &Journal,
    dir: &Path,
    unknown: &[PathBuf],
) -> Option<Result<(), crate::journal::JournalError>> {
    let lines = crate::sentlog::read(dir)?;
    let names: Vec<String> = unknown
        .iter()
        .map(|p| crate::bundle::file_name_of(p))
        .collect();
    let keys = crate::sentlog::keys_of(&lines, &names);
    let mut carried = crate::sentlog::carried(&lines);
    carried.retain(|(key, _), _| keys.contains(key));
    for ((_, chat), c) in &carried {
        tracing::info!(channel = %chat, sent = c.sent.len(), in_flight = ?c.in_flight, "adopted a bundle another dropcast had begun: what it posted is not posted again");
    }
    Some(journal.carry(&carried))
}

/// Files of adopted bundles back into the inbox, each under its own name (a clash takes ` (n)`):
/// the usual pairing puts the bundles together again, `x.pdf.yaml` with `x.pdf`, attachments
/// with their sidecar, as the clerk dropped them. The lease is read again before each move: false
/// when it was found taken (or the share away), and the rest stays where it is.
fn back_into_inbox(share: &Share, inbox: &Path, files: Vec<PathBuf>) -> bool {
    back_into_inbox_while(inbox, files, |p| lease_still_ours(share, p))
}

/// [`back_into_inbox`], each move made only when `ours` says so of the file.
fn back_into_inbox_while(inbox: &Path, files: Vec<PathBuf>, ours: impl Fn(&Path) -> bool) -> bool {
    let mut origins: HashMap<PathBuf, HashMap<String, PathBuf>> = HashMap::new();
    for p in files {
        let name = p.file_name().unwrap_or_default().to_os_string();
        let stem = spool::bundle_stem(&name.to_string_lossy());
        // Into the subfolder it was dropped in, when it still is there: it keeps its channel.
        let dir = p.parent().unwrap_or(inbox);
        let from = origins
            .entry(dir.to_path_buf())
            .or_insert_with(|| crate::sentlog::origins(dir))
            .get(name.to_string_lossy().as_ref())
            // Written on the share: only a plain folder inside the inbox, never `..` or a link.
            .filter(|rel| {
                rel.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            })
            .map(|rel| inbox.join(rel))
            .filter(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()));
        if !ours(&p) {
            return false;
        }
        if let Err(e) = spool::move_group(
            &[(p.as_path(), name.as_os_str())],
            from.as_deref().unwrap_or(inbox),
            &stem,
            &[],
            &mut spool::Syncs::now(),
        ) {
            tracing::warn!(error = %e, "cannot put an adopted file back yet");
        }
    }
    true
}

/// Whether `path` holds the very file the journal recorded (size, then SHA-256).
fn same_file(path: &Path, f: &crate::journal::FileRecord) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == f.size)
        && spool::sha256_of(path).is_ok_and(|h| h == f.sha256)
}

/// Puts back files that the journal says wait in a work folder but that a crash left in the
/// inbox (the journal is written before the move), or that another dropcast put back into the
/// inbox while it held the lease (at an in-run regain): only the very files recorded.
pub fn recover(journal: &Journal, share: &Share) {
    let Ok(bundles) = journal.waiting_bundles() else {
        return;
    };
    for (id, files) in bundles {
        take_back(journal, share, id, &files);
    }
}

/// Moves the files of bundle `id` that wait in the inbox where they were dropped (the very files
/// recorded) into their work folder, each once the lease is read again as this dropcast's, and
/// writes there again what travels with them. Returns at the first file whose inbox is no longer
/// this dropcast's.
fn take_back(journal: &Journal, share: &Share, id: BundleId, files: &[crate::journal::FileRecord]) {
    let to_move: Vec<&Path> = files
        .iter()
        .filter(|f| share.held(&f.original) && !f.work.exists() && same_file(&f.original, f))
        .map(|f| f.original.as_path())
        .collect();
    // Nothing written for a clerk's new file of that name, nor into an inbox that is another
    // dropcast's now (a server woken from a freeze).
    if to_move.is_empty() || !share.may_act(to_move.iter().copied()) {
        return;
    }
    // Written before the first move: a dropcast killed right after a move leaves a work folder
    // that says where its files came from and what of it went out. Written after, a folder
    // adopted in between put the files into the inbox itself (not their subfolder) and posted
    // them again (the two-server soak found both).
    if let Some(dir) = files.first().and_then(|f| f.work.parent()) {
        let _ = spool::make_work_dir(dir);
    }
    retell(journal, share, id, files);
    take_back_files(share, files);
}

/// Moves `files` that wait in the inbox where they were dropped (the very files recorded) into
/// their work folder, each once the lease is read again as this dropcast's. Returns whether any
/// moved; stops at the first file whose inbox is no longer this dropcast's.
pub fn take_back_files(share: &Share, files: &[crate::journal::FileRecord]) -> bool {
    let mut moved = false;
    for f in files {
        if !share.held(&f.original) || f.work.exists() || !f.original.exists() {
            continue;
        }
        // The same file, not a clerk's new one of that name dropped since (after a failover
        // the other dropcast may have put this one back, and finished it or not).
        if !same_file(&f.original, f) {
            continue;
        }
        // Read again right before the move: a dropcast frozen since its last look must not
        // take files from an inbox that is another's now.
        if !share.may_act([f.original.as_path()]) {
            break;
        }
        if let Some(dir) = f.work.parent() {
            let _ = spool::make_work_dir(dir);
        }
        match spool::move_file(&f.original, &f.work, &mut spool::Syncs::now()) {
            Ok(()) => {
                moved = true;
                tracing::info!(file = %f.original.display(), "resumed a bundle interrupted by a restart")
            }
            Err(e) => tracing::warn!(error = %e, "cannot resume an interrupted bundle"),
        }
    }
    moved
}

/// Writes again, into the work folder a bundle went back to (made anew: the first one may have
/// been adopted and removed meanwhile), what travels with it: where its files came from and
/// what of it went out. Otherwise a dropcast adopting the folder in turn would put it back in the
/// inbox itself and post it again.
fn retell(journal: &Journal, share: &Share, id: BundleId, files: &[crate::journal::FileRecord]) {
    let Some(dir) = files
        .first()
        .and_then(|f| crate::sentlog::work_folder(&f.work))
    else {
        return;
    };
    let names: Vec<(&OsStr, &Path)> = files
        .iter()
        .map(|f| (f.work.file_name().unwrap_or_default(), f.original.as_path()))
        .collect();
    if let Err(e) = crate::sentlog::record_origins(dir, &names) {
        tracing::warn!(error = %e, "cannot record the subfolder a bundle came from");
    }
    carry_deliveries(journal, share, id, files);
}

/// Writes into the log of the bundle's work folder what its deliveries recorded as gone out (or
/// in flight), see `sentlog::carry_over`.
fn carry_deliveries(
    journal: &Journal,
    share: &Share,
    id: BundleId,
    files: &[crate::journal::FileRecord],
) {
    let fence = files.first().and_then(|f| share.fence(&f.original));
    for (delivery_id, _) in journal.deliveries_of(id).unwrap_or_default() {
        let Ok(d) = journal.delivery(delivery_id) else {
            continue;
        };
        if d.sent.is_empty() && d.in_flight.is_none() {
            continue;
        }
        if let Err(e) = crate::sentlog::carry_over(files, &d.chat, &d.sent, d.in_flight, fence) {
            tracing::warn!(error = %e, "cannot write in the work folder what went out before: a dropcast adopting it would post it again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dropcast frozen in the middle of an adoption finds, once it runs again, that the inbox
    /// is another's: it moves nothing more out of the work folder (the other dropcast's own
    /// bundles may wait there again).
    #[test]
    fn an_adoption_stops_at_the_first_file_once_the_lease_is_lost() {
        let inbox = tempfile::tempdir().unwrap();
        let work = inbox.path().join(".dropcast").join("1-1");
        std::fs::create_dir_all(&work).unwrap();
        let files: Vec<PathBuf> = ["a.yaml", "b.yaml", "c.yaml"]
            .iter()
            .map(|n| {
                let p = work.join(n);
                std::fs::write(&p, format!("text: {n}\n")).unwrap();
                p
            })
            .collect();
        let looks = std::cell::Cell::new(0);
        let ours = |_: &Path| {
            looks.set(looks.get() + 1);
            looks.get() == 1
        };
        assert!(!back_into_inbox_while(inbox.path(), files, ours));
        assert_eq!(looks.get(), 2);
        assert!(inbox.path().join("a.yaml").exists());
        assert!(!inbox.path().join("b.yaml").exists());
        assert!(work.join("b.yaml").exists() && work.join("c.yaml").exists());
    }

    #[test]
    fn a_batch_shares_a_work_folder_unless_a_name_is_taken() {
        let mut f = WorkFolders {
            stamp: 1,
            first_seq: 10,
            by_root: HashMap::new(),
        };
        let root = Path::new("/in");
        let names = |n: &[&'static str]| -> Vec<&'static OsStr> {
            n.iter().map(|s| OsStr::new(*s)).collect()
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
}
