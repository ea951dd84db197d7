//! The finisher task: turns bundles whose deliveries all ended into archived ones (files in
//! `archive/YYYY/MM/` with a receipt) or failed ones (files in `failed/` with a report naming the
//! channels that did get the post), then marks them done in the journal. Works in batches: one
//! flush of the batch's receipts and folders, one commit.
//!
//! Architecture Invariant: a bundle is archived only after every delivery is recorded; a bundle
//! whose files could not be moved stays posted-but-not-moved and is never posted again.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::Config;
use crate::deliver::{DeliveryEnded, Ended};
use crate::journal::{BundleId, BundleState, DeliveryOutcome, Finished, Journal};
use crate::messages::{self, Problem};
use crate::metrics::Metrics;
use crate::share::Share;
use crate::spool;

/// How long the finisher waits for more deliveries to end before moving what it has, and how
/// many bundles it takes at most: a receipt a few milliseconds later costs nothing, a flush and a
/// commit per bundle of a backlog cost the senders' time.
const FINISH_GATHER: Duration = Duration::from_millis(100);
const FINISH_BATCH: usize = 256;

/// The finisher task's state.
pub struct Finisher {
    pub config: Arc<Config>,
    pub journal: Arc<Journal>,
    pub done: mpsc::UnboundedReceiver<DeliveryEnded>,
    pub metrics: Arc<Metrics>,
    pub share: Arc<Share>,
}

/// What one pass over finished bundles was told to look at.
enum Look {
    /// Every finished bundle in the journal (at start, on a tick, after a failed move).
    All,
    /// Only the bundles whose deliveries just ended.
    Only(Vec<BundleId>),
}

impl Finisher {
    /// Runs at start, after every finished delivery, every 30 s, and sooner (1 s, doubling to
    /// 60 s) while a move fails, say on a full disk. Returns on shutdown, or once every sender is
    /// gone (after a last pass).
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        // A move that failed (full disk, missing permission) is retried soon, then less often.
        let mut retry = Duration::from_secs(1);
        let mut look = Look::All;
        // Names of bundles that could not be finished yet (see `finish_all`).
        let mut blocked: HashSet<OsString> = HashSet::new();
        loop {
            let (stuck, b) = self
                .pass(std::mem::replace(&mut look, Look::All), blocked)
                .await;
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
                Done(Option<DeliveryEnded>),
                Tick,
            }
            let event = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => Event::Stop,
                msg = self.done.recv() => Event::Done(msg),
                _ = tokio::time::sleep(wait) => Event::Tick,
            };
            match event {
                Event::Stop => {
                    // A last pass before stopping: what has ended is archived now (with its
                    // receipt), rather than left for a server that takes the inbox over next and
                    // would not know it was posted.
                    let _ = self.pass(Look::All, HashSet::new()).await;
                    return;
                }
                Event::Tick => {}
                Event::Done(Some(first)) => {
                    let ids = self.gather(first).await;
                    // After a failed move, the retry looks at everything again.
                    if !stuck {
                        look = Look::Only(ids);
                    }
                }
                Event::Done(None) => {
                    let (stuck, _) = self.pass(Look::All, HashSet::new()).await;
                    if stuck {
                        // `once`: posted but not moved; the next run moves it (never reposts it).
                        Metrics::add(&self.metrics.bundles_left, 1);
                    }
                    return;
                }
            }
        }
    }

    /// One pass over the finished bundles, on the blocking pool. Returns whether some could not
    /// be moved yet, and the names they block.
    async fn pass(&self, look: Look, blocked: HashSet<OsString>) -> (bool, HashSet<OsString>) {
        let (config, journal, metrics, share) = (
            self.config.clone(),
            self.journal.clone(),
            self.metrics.clone(),
            self.share.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut blocked = blocked;
            let places = Places {
                config: &config,
                journal: &journal,
                share: &share,
            };
            let stuck = finish_all(&places, &metrics, &look, &mut blocked);
            (stuck, blocked)
        })
        .await
        .unwrap_or_default()
    }

    /// Takes what ends within a moment: a backlog is finished in batches (one folder flush and
    /// one commit each), a lone bundle a few milliseconds later. Returns the bundles to look at.
    async fn gather(&mut self, first: DeliveryEnded) -> Vec<BundleId> {
        let mut ids = Vec::new();
        let mut next = Some(first);
        let until = Instant::now() + FINISH_GATHER;
        while let Some(DeliveryEnded { bundle, ended }) = next.take() {
            match ended {
                Ended::Left(_) => Metrics::add(&self.metrics.bundles_left, 1),
                Ended::Finished(_) => ids.push(bundle),
            }
            if ids.len() >= FINISH_BATCH {
                break;
            }
            next = match self.done.try_recv() {
                Ok(n) => Some(n),
                Err(mpsc::error::TryRecvError::Empty) => {
                    tokio::time::timeout_at(until, self.done.recv())
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
        ids
    }
}

/// Where finished bundles go, and what says whether it can be reached.
struct Places<'a> {
    config: &'a Config,
    journal: &'a Journal,
    share: &'a Share,
}

/// Why a finished bundle is not moved yet.
enum NotYet {
    /// A folder it needs is away: it waits, quietly (the share says what is away).
    Away,
    /// Something else (a full disk, a permission): logged, retried.
    Error(String),
}

/// Moves every finished bundle (or those `look` names); true when some could not be moved yet.
fn finish_all(
    places: &Places,
    metrics: &Metrics,
    look: &Look,
    blocked: &mut HashSet<OsString>,
) -> bool {
    let journal = places.journal;
    let finished = match look {
        Look::All => journal.finished_bundles(),
        Look::Only(ids) => journal.finished_among(ids),
    };
    let finished = match finished {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot read finished bundles from the journal");
            return true;
        }
    };
    // A batch's moves are flushed once, then recorded in one transaction. A crash in between
    // leaves bundles that are posted but not marked done: the next start moves them again, which
    // finds their files already in place by their name's highest ` (n)` (see `spool::archive`).
    // That holds only if one bundle of a name is between its move and the commit: a batch ends
    // before a second bundle of the same name.
    // For the same reason a bundle that could not be finished blocks the later bundles of its
    // name until it is: a full pass (in journal order) starts again from the oldest.
    if matches!(look, Look::All) {
        blocked.clear();
    }
    let mut stuck = false;
    let mut rest: &[Finished] = &finished;
    while !rest.is_empty() {
        let (batch, tail) = rest.split_at(batch_len(
            rest.iter().map(|f| f.name.as_str()),
            FINISH_BATCH,
        ));
        rest = tail;
        stuck |= finish_batch(places, metrics, batch, blocked);
    }
    stuck
}

/// Moves one batch, flushes it, and marks it done in one commit; true when some could not be
/// finished yet (their names are then blocked).
fn finish_batch(
    places: &Places,
    metrics: &Metrics,
    batch: &[Finished],
    blocked: &mut HashSet<OsString>,
) -> bool {
    let journal = places.journal;
    let stem = |name: &str| spool::bundle_stem(name);
    let mut stuck = false;
    let not_yet = travel(places, batch);
    let mut syncs = spool::Syncs::batch();
    let mut moved = Vec::new();
    for f in batch {
        if blocked.contains(&stem(&f.name)) || not_yet.contains(&f.bundle_id) {
            stuck = true;
            blocked.insert(stem(&f.name));
            continue;
        }
        syncs.owner(f.bundle_id);
        match finish_one(places, f, &mut syncs) {
            Ok(m) => moved.push(m),
            Err(NotYet::Away) => {
                stuck = true;
                blocked.insert(stem(&f.name));
                tracing::debug!(bundle = %f.name, "the bundle waits for the share to come back");
            }
            Err(NotYet::Error(e)) => {
                stuck = true;
                blocked.insert(stem(&f.name));
                tracing::warn!(bundle = %f.name, error = %e, "cannot move the bundle yet (it is posted and will not be posted again); will retry")
            }
        }
    }
    // A receipt, report or folder that could not be flushed leaves its bundle unfinished.
    for (owner, e) in syncs.flush() {
        stuck = true;
        if let Some(pos) = moved.iter().position(|m| Some(m.bundle_id) == owner) {
            let m = moved.remove(pos);
            blocked.insert(stem(&m.name));
            tracing::warn!(bundle = %m.name, error = %e, "cannot move the bundle yet (it is posted and will not be posted again); will retry");
        }
    }
    // In the archive with its receipt named, or in failed/ with its report: the receipt that
    // travelled with it has done its job. Removed only now, so that at every moment one of the
    // two is on the share; a dropcast that adopts the work folder in between finds the bundle in
    // the archive and removes the travelling one (`spool::settle_lone_receipt`).
    for m in &moved {
        if let Some(dir) = &m.work_dir {
            spool::drop_travelling_receipt(dir, &m.name);
        }
    }
    let done: Vec<(BundleId, BundleState, &Path)> = moved
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
        blocked.extend(moved.iter().map(|m| stem(&m.name)));
        return true;
    }
    for m in moved {
        let metric = if m.archived {
            &metrics.bundles_archived
        } else {
            &metrics.bundles_failed
        };
        Metrics::add(metric, 1);
        // Our own work folder once empty; never `scheduled/`, where a scheduled bundle waited.
        if let Some(dir) = m.work_dir {
            spool::remove_work_dir(&dir);
        }
        // A bundle that waited in `scheduled/`: its record there told another dropcast about it.
        if let Some(first) = m
            .first_file
            .filter(|f| crate::sentlog::work_folder(f).is_none())
        {
            spool::forget_scheduled(&first);
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
        .take_while(|n| seen.insert(spool::bundle_stem(n)))
        .count()
        .max(1)
}

/// A finished bundle whose files were moved.
struct Moved {
    bundle_id: BundleId,
    name: String,
    archived: bool,
    location: PathBuf,
    work_dir: Option<PathBuf>,
    first_file: Option<PathBuf>,
}

/// Archives a bundle whose deliveries were all sent, or fails one of which some failed. Every
/// folder it needs (the work folder's inbox, `archive/` or `failed/`) is checked first: while
/// one is away the bundle waits, and nothing is written anywhere.
fn finish_one(places: &Places, f: &Finished, syncs: &mut spool::Syncs) -> Result<Moved, NotYet> {
    let config = places.config;
    let all_sent = f
        .deliveries
        .iter()
        .all(|d| d.outcome == DeliveryOutcome::Sent);
    let work_dir = f
        .files
        .first()
        .and_then(|r| r.work.parent().map(Path::to_path_buf));
    let destination = if all_sent {
        &config.archive
    } else {
        &config.failed
    };
    let needed = f.files.iter().map(|r| r.work.as_path());
    if !places.share.may_act(needed.chain([destination.as_path()])) {
        return Err(NotYet::Away);
    }
    // The posts this correction changed: their receipts say so first (an entry written before a
    // crash is not written twice), then the correction moves like any bundle.
    record_edits(config, f).map_err(|e| NotYet::Error(e.to_string()))?;
    let (archived, location) = if all_sent {
        let mut archived = archive(config, f, syncs);
        if archived
            .as_ref()
            .is_err_and(|e| e.source.kind() == std::io::ErrorKind::NotFound)
            && crate::preparer::take_back_files(places.share, &f.files)
        {
            // Another dropcast, frozen in the middle of adopting this bundle before this one had
            // it again, moved a file back into the inbox when it woke up: it is archived with
            // the rest.
            tracing::info!(bundle = %f.name, "a file of the bundle was put back into the inbox by another dropcast: archived from there");
            archived = archive(config, f, syncs);
        }
        match archived {
            Ok(dir) => (true, dir),
            Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {
                // A file is not where it waited, nor whole in the archive. The share going away
                // right now is waited for; a file removed from a share that is here is reported.
                if !places
                    .share
                    .all_here([e.path.as_path(), config.failed.as_path()])
                {
                    return Err(NotYet::Away);
                }
                let vanished = Problem::unreadable(
                    crate::bundle::file_name_of(&e.path),
                    "it was removed from dropcast's work folder after it was posted, before it could be archived",
                    "è stato tolto dalla cartella di lavoro di dropcast dopo la pubblicazione, prima di essere archiviato",
                );
                fail(config, f, Some(vanished), syncs).map_err(NotYet::Error)?;
                (false, config.failed.clone())
            }
            Err(e) => return Err(NotYet::Error(e.to_string())),
        }
    } else {
        fail(config, f, None, syncs).map_err(NotYet::Error)?;
        (false, config.failed.clone())
    };
    Ok(Moved {
        bundle_id: f.bundle_id,
        name: f.name.clone(),
        archived,
        location,
        work_dir,
        first_file: f.files.first().map(|r| r.work.clone()),
    })
}

/// Adds, to the receipt of each post a correction changed, an `edits:` entry: when, what changed
/// (old → new), by which bundle.
fn record_edits(config: &Config, f: &Finished) -> Result<(), spool::SpoolError> {
    #[derive(serde::Serialize)]
    struct Entry {
        at: String,
        change: crate::post::ChangeKind,
        by: String,
        channel: String,
        link: String,
        changed: Vec<crate::change::NoteLine>,
        id: String,
    }
    let when = jiff::Timestamp::now().to_zoned_datetime(config.timezone.clone());
    for c in f.changes.iter().filter(|c| c.done) {
        let Ok(note) = serde_json::from_str::<crate::change::Note>(&c.note) else {
            continue;
        };
        let Some(receipt) = &c.receipt else {
            tracing::info!(bundle = %f.name, link = %note.link, "the changed post has no receipt in the archive to record the change in");
            continue;
        };
        let id = format!("change-{}", c.id);
        let entry = Entry {
            at: when.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            change: note.kind,
            by: f.name.clone(),
            channel: channel_name(config, &note.chat),
            link: note.link.clone(),
            changed: note.lines.clone(),
            id: id.clone(),
        };
        let text = serde_yaml::to_string(&[entry]).unwrap_or_default();
        match spool::add_to_receipt(receipt, &text, &format!("id: {id}")) {
            Ok(()) => {}
            // The receipt was moved or removed by a person: the journal keeps the record.
            Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(bundle = %f.name, receipt = %receipt.display(), "the changed post's receipt is not in the archive any more: the change is not recorded there");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A channel as receipts name it: `alias (@name)`, or as the config wrote it.
fn channel_name(config: &Config, chat: &str) -> String {
    config
        .channels
        .iter()
        .find(|(_, c)| **c == chat)
        .map_or(chat.to_string(), |(alias, c)| format!("{alias} ({c})"))
}

/// What a receipt says of a posted bundle: its files and, per channel, where it went.
fn receipt_parts(
    config: &Config,
    f: &Finished,
) -> (Vec<spool::BundleFile>, Vec<spool::ReceiptChannel>) {
    let files: Vec<spool::BundleFile> = f
        .files
        .iter()
        .map(|r| spool::BundleFile {
            current: r.work.clone(),
            name: r.original.file_name().unwrap_or_default().to_os_string(),
            sha256: r.sha256.clone(),
            size: r.size,
            no_preview: {
                let name = crate::bundle::file_name_of(&r.original);
                f.preview_notes
                    .iter()
                    .find_map(|n| n.strip_prefix(&format!("{name}: no preview (")))
                    .map(|why| {
                        crate::messages::no_preview(config.language, why.trim_end_matches(')'))
                    })
            },
        })
        .collect();
    let channels: Vec<spool::ReceiptChannel> = f
        .deliveries
        .iter()
        .map(|d| spool::ReceiptChannel {
            channel: channel_name(config, &d.chat),
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
    (files, channels)
}

/// The hidden work folder a bundle's files wait in (not `scheduled/`, where a clerk looks).
fn work_folder(f: &Finished) -> Option<PathBuf> {
    let dir = f.files.first()?.work.parent()?;
    (dir.parent().and_then(Path::file_name) == Some(OsStr::new(".dropcast")))
        .then(|| dir.to_path_buf())
}

/// Writes the travelling receipt of every posted bundle of the batch into its work folder and
/// flushes them together, before anything moves: from then on the work folder itself says the
/// bundle was posted. Returns the bundles whose receipt could not be written (they wait).
fn travel(places: &Places, batch: &[Finished]) -> HashSet<BundleId> {
    let config = places.config;
    let mut syncs = spool::Syncs::batch();
    let mut not_yet = HashSet::new();
    let when = jiff::Timestamp::now().to_zoned_datetime(config.timezone.clone());
    for f in batch {
        let posted = f
            .deliveries
            .iter()
            .all(|d| d.outcome == DeliveryOutcome::Sent);
        let Some(dir) = work_folder(f).filter(|_| posted) else {
            continue;
        };
        if !places.share.may_act([dir.as_path()]) {
            tracing::debug!(bundle = %f.name, "the bundle waits for the share to come back");
            not_yet.insert(f.bundle_id);
            continue;
        }
        syncs.owner(f.bundle_id);
        let (files, channels) = receipt_parts(config, f);
        if let Err(e) = spool::travelling_receipt(
            &dir,
            &when,
            config.language,
            &f.name,
            &files,
            &channels,
            places.share.fence(&dir),
            &mut syncs,
        ) {
            tracing::debug!(bundle = %f.name, error = %e, "cannot write the travelling receipt yet");
            not_yet.insert(f.bundle_id);
        }
    }
    for (owner, _) in syncs.flush() {
        not_yet.extend(owner);
    }
    not_yet
}

/// Every delivery was sent: the files and a receipt go to `archive/YYYY/MM/`.
fn archive(
    config: &Config,
    f: &Finished,
    syncs: &mut spool::Syncs,
) -> Result<PathBuf, spool::SpoolError> {
    let when = jiff::Timestamp::now().to_zoned_datetime(config.timezone.clone());
    let (files, channels) = receipt_parts(config, f);
    let receipt = spool::archive(
        &config.archive,
        &when,
        config.language,
        &f.name,
        &files,
        &channels,
        syncs,
    )?;
    let dir = receipt.parent().unwrap_or(&config.archive);
    tracing::info!(bundle = %f.name, archive = %dir.display(), "archived");
    Ok(receipt)
}

/// Some delivery failed for good (or, `also`, the files vanished after the post): the files
/// that are left and a report go to `failed/`.
fn fail(
    config: &Config,
    f: &Finished,
    also: Option<Problem>,
    syncs: &mut spool::Syncs,
) -> Result<(), String> {
    let problems: Vec<Problem> = f
        .deliveries
        .iter()
        .filter_map(|d| match &d.outcome {
            DeliveryOutcome::Failed(p) => Some(Problem::from_json(p)),
            DeliveryOutcome::Sent => None,
        })
        .chain(also)
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
    let report = messages::report_now(config, &f.name, &problems, &delivered, &files);
    spool::fail(&config.failed, &f.name, &files, &report, syncs).map_err(|e| e.to_string())?;
    for p in &problems {
        tracing::warn!(bundle = %f.name, reason = %p.summary(), "failed: moved to failed/");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dropcast frozen in the middle of adopting a bundle wakes up after this one had it again
    /// and posted it, and moves the sidecar back into the inbox before it finds its lease taken:
    /// the bundle is archived whole, not failed as "removed from the work folder".
    #[test]
    fn a_file_put_back_into_the_inbox_after_the_post_is_archived_with_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for d in ["inbox", "archive", "failed", "state"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let text = "telegram: {token: \"123456:ABCdef\"}\nchannels: {news: \"@town_news\"}\ninboxes: [{path: inbox}]\nstate_dir: state\n";
        let config = crate::config::parse(text, &root.join("dropcast.yaml"), &|_| None).unwrap();
        let share = Share::new(&config);
        let journal = Journal::open(&root.join("state")).unwrap();
        let work = root.join("inbox/.dropcast/1-1");
        std::fs::create_dir_all(&work).unwrap();
        let record = |name: &str, bytes: &[u8], at: &Path| {
            std::fs::write(at, bytes).unwrap();
            crate::journal::FileRecord {
                original: root.join("inbox").join(name),
                work: work.join(name),
                sha256: spool::sha256_of(at).unwrap(),
                size: bytes.len() as u64,
            }
        };
        let pdf = record("notice.pdf", b"%PDF-1.4 a notice", &work.join("notice.pdf"));
        // Where the other dropcast put it back.
        let yaml = record(
            "notice.yaml",
            b"caption: A notice\n",
            &root.join("inbox/notice.yaml"),
        );
        let f = Finished {
            bundle_id: BundleId(1),
            name: "notice.pdf".into(),
            files: vec![pdf, yaml],
            deliveries: vec![crate::journal::FinishedDelivery {
                chat: "@town_news".into(),
                outcome: DeliveryOutcome::Sent,
                messages: vec![crate::journal::SentMessage {
                    index: 0,
                    part: 0,
                    message_id: 7,
                    chat_id: -1001234567890,
                    link: "https://t.me/town_news/7".into(),
                }],
                pin_error: None,
                sent_at: Some(crate::journal::now()),
            }],
            changes: vec![],
            preview_notes: vec![],
        };
        let places = Places {
            config: &config,
            journal: &journal,
            share: &share,
        };
        let Ok(moved) = finish_one(&places, &f, &mut spool::Syncs::now()) else {
            panic!("not finished");
        };
        assert!(moved.archived, "{:?}", moved.location);
        let archived: Vec<String> = walk(&root.join("archive"));
        for name in ["notice.pdf", "notice.yaml", "notice.receipt.yaml"] {
            assert!(
                archived.iter().any(|a| a.ends_with(name)),
                "{name}: {archived:?}"
            );
        }
        assert!(walk(&root.join("failed")).is_empty());
        assert!(!root.join("inbox/notice.yaml").exists());
    }

    fn walk(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
        out
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
