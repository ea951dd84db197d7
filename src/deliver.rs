//! Sending: one task per channel keeps that channel's posts in order and paced; a global limiter
//! keeps the bot under Telegram's overall rate. Each message is recorded in the journal as in
//! flight before its request and as sent right after the answer.
//!
//! Architecture Invariant: a message the journal records as sent is never requested again;
//! transient failures are retried with backoff (forever in `run`), permanent ones end the
//! delivery with Telegram's reason.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::Uncertain;
use crate::journal::{
    BundleId, DeliveryId, DeliveryOutcome, Journal, JournalError, SentMessage, Write,
};
use crate::messages::Problem;
use crate::post::{MediaKind, OutMessage};
use crate::sentlog::Event;
use crate::telegram::{Client, TelegramError};

/// Telegram's limits for a bot posting to channels.
const PER_CHAT_PER_SECOND: usize = 1;
const PER_CHAT_PER_MINUTE: usize = 20;
const GLOBAL_PER_SECOND: usize = 30;
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A sliding-window limiter: at most `max` events in any `window`.
#[derive(Debug)]
struct Window {
    max: usize,
    window: Duration,
    times: VecDeque<Instant>,
}

impl Window {
    fn new(max: usize, window: Duration) -> Window {
        Window {
            max,
            window,
            times: VecDeque::new(),
        }
    }

    /// When `n` more events fit. An album larger than the limit fits an empty window, as
    /// Telegram lets one album through and makes the next message wait.
    fn next_free(&mut self, now: Instant, n: usize) -> Instant {
        while self.times.front().is_some_and(|t| *t + self.window <= now) {
            self.times.pop_front();
        }
        let room = self.max.max(n) - n;
        if self.times.len() <= room {
            now
        } else {
            self.times[self.times.len() - room - 1] + self.window
        }
    }

    fn record(&mut self, at: Instant, n: usize) {
        self.times.extend(std::iter::repeat_n(at, n));
    }
}

/// Pacing shared by all senders.
#[derive(Clone, Debug)]
pub struct Pacing {
    enabled: bool,
    /// 1.0 in production; tests compress the windows.
    scale: f64,
    global: Arc<Mutex<Window>>,
}

impl Pacing {
    pub fn new(enabled: bool, scale: f64) -> Pacing {
        Pacing {
            enabled,
            scale,
            global: Arc::new(Mutex::new(Window::new(
                GLOBAL_PER_SECOND,
                Duration::from_secs(1).mul_f64(scale),
            ))),
        }
    }

    fn windows(&self) -> (Window, Window) {
        (
            Window::new(
                PER_CHAT_PER_SECOND,
                Duration::from_secs(1).mul_f64(self.scale),
            ),
            Window::new(
                PER_CHAT_PER_MINUTE,
                Duration::from_secs(60).mul_f64(self.scale),
            ),
        )
    }
}

/// What the sender needs, shared by all channels.
#[derive(Clone)]
pub struct Deliverer {
    pub journal: Arc<Journal>,
    pub client: Client,
    pub pacing: Pacing,
    pub uncertain: Uncertain,
    /// `None`: retry forever (`run`); `Some(n)`: give up after n attempts and leave the delivery
    /// for the next run (`once`).
    pub max_attempts: Option<u32>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Whether the folders of the files to upload are reachable.
    pub share: Arc<crate::share::Share>,
}

/// How a delivery attempt ended for the caller.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// Sent or failed for good: recorded in the journal.
    Finished(DeliveryOutcome),
    /// Left pending (shutdown, or `once` gave up on a transient error).
    Left(String),
}

/// A bundle's delivery to one channel ended, as the sender tells the finisher.
#[derive(Debug, PartialEq)]
pub struct DeliveryEnded {
    pub bundle: BundleId,
    pub ended: Ended,
}

/// Journal writes that wait for the sender's next commit, and the bundles to report once they
/// are durable. They are committed with the next request's `Begin` when that request follows at
/// once; before any wait (pacing, a retry, an empty queue, shutdown) they are committed alone.
/// Either way nothing is requested between an answer and the commit that records it.
#[derive(Default)]
struct Staged {
    writes: Vec<Write>,
    done: Vec<DeliveryEnded>,
}

/// One channel's sender: what delivering, pacing and committing all need (the shared parts, the
/// chat's own pacing windows, the staged writes, where finished bundles are reported), owned in
/// one place instead of passed through each function.
pub struct ChannelSender {
    d: Deliverer,
    chat: String,
    /// This chat's windows: 1 message a second, 20 a minute.
    chat_second: Window,
    chat_minute: Window,
    staged: Staged,
    done: mpsc::UnboundedSender<DeliveryEnded>,
}

/// What a channel's sender does next, in the channel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// A bundle's delivery (a post, or a correction of one).
    Deliver(DeliveryId),
    /// The pin of that delivery's post ends now (`pin_until:`).
    EndPin(DeliveryId),
}

/// Runs one channel's sender: delivers each delivery id in order, reports each bundle id whose
/// delivery finished on `done`. Stops when `queue` closes or `shutdown` fires.
pub async fn sender(
    d: Deliverer,
    chat: String,
    queue: mpsc::UnboundedReceiver<Job>,
    done: mpsc::UnboundedSender<DeliveryEnded>,
    shutdown: watch::Receiver<bool>,
) {
    ChannelSender::new(d, chat, done).run(queue, shutdown).await
}

impl ChannelSender {
    /// A sender for `chat`, with empty pacing windows and nothing staged.
    pub fn new(
        d: Deliverer,
        chat: String,
        done: mpsc::UnboundedSender<DeliveryEnded>,
    ) -> ChannelSender {
        let (chat_second, chat_minute) = d.pacing.windows();
        ChannelSender {
            d,
            chat,
            chat_second,
            chat_minute,
            staged: Staged::default(),
            done,
        }
    }

    /// Delivers each delivery id of `queue` in order, reports each bundle id whose delivery
    /// finished. Stops when `queue` closes or `shutdown` fires.
    pub async fn run(
        mut self,
        mut queue: mpsc::UnboundedReceiver<Job>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let next = match queue.try_recv() {
                Ok(id) => Some(id),
                Err(_) => {
                    if let Err(e) = self.flush() {
                        tracing::error!(channel = %self.chat, error = %e, "journal error: stopping this channel's sender");
                        return;
                    }
                    tokio::select! {
                        biased;
                        _ = shutdown.wait_for(|s| *s) => return,
                        id = queue.recv() => id,
                    }
                }
            };
            let id = match next {
                Some(Job::Deliver(id)) => id,
                Some(Job::EndPin(id)) => {
                    let ended = tokio::select! {
                        biased;
                        _ = shutdown.wait_for(|s| *s) => None,
                        r = self.end_pin(id) => Some(r),
                    };
                    match ended {
                        Some(Ok(())) => continue,
                        Some(Err(e)) => {
                            tracing::error!(channel = %self.chat, error = %e, "journal error: stopping this channel's sender");
                            return;
                        }
                        None => {
                            let _ = self.flush();
                            return;
                        }
                    }
                }
                None => {
                    if let Err(e) = self.flush() {
                        tracing::error!(channel = %self.chat, error = %e, "journal error: the last posts may be posted again at the next start");
                    }
                    return;
                }
            };
            let ended = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => None,
                r = self.deliver(id) => Some(r),
            };
            let Some(ended) = ended else {
                tracing::info!(channel = %self.chat, "shutting down: the request in flight is abandoned and will be checked at the next start");
                // What was answered before the shutdown is recorded before leaving.
                if let Err(e) = self.flush() {
                    tracing::error!(channel = %self.chat, error = %e, "journal error while shutting down");
                }
                return;
            };
            self.d
                .metrics
                .queue_depth
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            match ended {
                Ok(ended) => self.staged.done.push(ended),
                Err(e) => {
                    tracing::error!(channel = %self.chat, error = %e, "journal error: stopping this channel's sender");
                    // What earlier answers said is still recorded if the journal takes it.
                    if let Err(e) = self.flush() {
                        tracing::error!(channel = %self.chat, error = %e, "journal error: the last posts may be posted again at the next start");
                    }
                    return;
                }
            }
        }
    }

    /// Commits the staged writes, then reports the bundles they finished.
    fn flush(&mut self) -> Result<(), JournalError> {
        self.d.journal.commit(&mut self.staged.writes)?;
        for ended in self.staged.done.drain(..) {
            let _ = self.done.send(ended);
        }
        Ok(())
    }

    /// Commits the staged writes followed by `w`, then reports the bundles they finished.
    fn commit_with(&mut self, w: Write) -> Result<(), JournalError> {
        self.staged.writes.push(w);
        self.flush().inspect_err(|_| {
            self.staged.writes.pop();
        })
    }

    /// Delivers one delivery: every message not yet recorded as sent, then the pin. Its last
    /// writes (the answer, the end of the delivery) stay staged for the sender to commit.
    async fn deliver(&mut self, delivery_id: DeliveryId) -> Result<DeliveryEnded, JournalError> {
        // The same delivery queued twice (started again after a takeover while still queued):
        // what the first pass staged is read back, never sent again.
        if self
            .staged
            .writes
            .iter()
            .any(|w| w.delivery_id() == delivery_id)
        {
            self.flush()?;
        }
        let mut delivery = self.d.journal.delivery(delivery_id)?;
        let bundle_id = delivery.bundle_id;
        let chat = delivery.chat.clone();
        let finish = |staged: &mut Staged,
                      outcome: DeliveryOutcome|
         -> Result<DeliveryEnded, JournalError> {
            staged.writes.push(Write::Finish {
                delivery_id,
                outcome: outcome.clone(),
            });
            Ok(DeliveryEnded {
                bundle: bundle_id,
                ended: Ended::Finished(outcome),
            })
        };
        let attempt_error = |e: &TelegramError| Write::AttemptError {
            delivery_id,
            error: e.to_string(),
        };

        if let Some(failed) = self.uncertain_at_start(&delivery) {
            return finish(&mut self.staged, failed);
        }
        // The bundle's inbox must still be this dropcast's (text posts and scheduled bundles
        // included, whose messages name no file of the inbox).
        let files = self.d.journal.files(bundle_id)?;
        if !delivery.bundle_ready || !files.iter().all(|f| self.d.share.held(&f.original)) {
            return Ok(DeliveryEnded {
                bundle: bundle_id,
                ended: Ended::Left("another dropcast took the inbox over".into()),
            });
        }

        let log = ShareLog::of(&files);
        let mut attempts = 0u32;
        let mut backoff = Duration::from_secs(1);
        let mut index = delivery.sent.last().map_or(0, |m| m.index + 1);
        while index < delivery.plan.messages.len() {
            // Every item of an album counts as a message for Telegram's limits.
            let weight = match &delivery.plan.messages[index] {
                OutMessage::Album { items } => items.len(),
                _ => 1,
            };
            let ready = match self.files_ready(&delivery.plan.messages[index]) {
                Ready::Go => {
                    self.pace(weight).await?;
                    match self.lease_still_ours(&files) {
                        Ready::Go => self.begin_on_share(log.as_ref(), index),
                        other => other,
                    }
                }
                other => other,
            };
            match ready {
                Ready::Go => {}
                Ready::Wait => {
                    self.flush()?;
                    tokio::time::sleep(SHARE_WAIT).await;
                    continue;
                }
                Ready::Leave(why) => {
                    return Ok(DeliveryEnded {
                        bundle: bundle_id,
                        ended: Ended::Left(why.into()),
                    });
                }
            }
            self.commit_with(Write::Begin { delivery_id, index })?;
            let msg = delivery.plan.messages[index].clone();
            let address = self.address(&chat);
            let result = match msg.target() {
                // A correction: what it changed is the message it names.
                Some(t) => self
                    .d
                    .client
                    .change(&address, &msg, delivery.plan.options)
                    .await
                    .map(|()| {
                        vec![crate::telegram::Sent {
                            message_id: t.message_id,
                            chat_id: t.chat_id,
                            chat_username: None,
                        }]
                    }),
                None => {
                    self.d
                        .client
                        .send(&address, &msg, delivery.plan.options)
                        .await
                }
            };
            record_metrics(&self.d, &msg, &result);
            if result.is_ok() {
                self.sent(weight);
            }
            match result {
                Ok(sent) => {
                    let mut messages = sent_messages(index, &sent);
                    if let Some(t) = msg.target() {
                        for m in &mut messages {
                            m.link = t.link.clone();
                        }
                        tracing::info!(channel = %chat, link = %t.link, change = change_name(&msg), "post changed");
                    }
                    if let Some(log) = &log {
                        log.append(&self.d.share, &chat, index, Event::Sent { messages: messages.clone() })
                            .unwrap_or_else(|e| tracing::warn!(channel = %chat, error = %e, "cannot write the sent log in the work folder: a dropcast adopting it would see this post as in flight"));
                    }
                    delivery.sent.extend(messages.iter().cloned());
                    self.staged.writes.push(Write::Sent {
                        delivery_id,
                        messages,
                    });
                    index += 1;
                    attempts = 0;
                    backoff = Duration::from_secs(1);
                }
                Err(e) if e.is_photo_rejected() => {
                    self.commit_with(attempt_error(&e))?;
                    if as_documents(&mut delivery.plan.messages[index]) {
                        tracing::info!(channel = %chat, error = %e, "telegram refused the image as a photo: sending it as a document");
                        continue;
                    }
                    return finish(&mut self.staged, refused(&chat, &e));
                }
                Err(e @ TelegramError::Permanent { code: 0, .. })
                    if !self
                        .d
                        .share
                        .all_here(files_of(&delivery.plan.messages[index])) =>
                {
                    // The file could not be opened because the share went away meanwhile.
                    self.commit_with(attempt_error(&e))?;
                    continue;
                }
                Err(e @ TelegramError::Permanent { code: 0, .. })
                    if !self
                        .d
                        .share
                        .may_act(files.iter().map(|f| f.original.as_path())) =>
                {
                    // Another dropcast took the inbox (and with it the files) meanwhile: not this
                    // one's to report.
                    self.commit_with(attempt_error(&e))?;
                    return Ok(DeliveryEnded {
                        bundle: bundle_id,
                        ended: Ended::Left("another dropcast took the inbox over".into()),
                    });
                }
                Err(e @ TelegramError::Permanent { code: 0, .. })
                    if self.put_back_into_inbox(&files, &msg) =>
                {
                    // Another dropcast, frozen in the middle of adopting this bundle before this
                    // one had it again, moved a file back into the inbox when it woke up.
                    self.commit_with(attempt_error(&e))?;
                    let share = self.d.share.clone();
                    let back = files.clone();
                    let moved = tokio::task::spawn_blocking(move || {
                        crate::preparer::take_back_files(&share, &back)
                    })
                    .await
                    .unwrap_or(false);
                    if moved {
                        tracing::info!(channel = %chat, "a file of the post was put back into the inbox by another dropcast: back into the work folder, sent again");
                        continue;
                    }
                    tracing::warn!(channel = %chat, error = %e, "telegram refused the post");
                    let outcome = change_refused(&msg, &e).unwrap_or_else(|| refused(&chat, &e));
                    return finish(&mut self.staged, outcome);
                }
                Err(TelegramError::Permanent { code, description }) => {
                    let e = TelegramError::Permanent { code, description };
                    tracing::warn!(channel = %chat, error = %e, "telegram refused the post");
                    self.commit_with(attempt_error(&e))?;
                    let outcome = change_refused(&msg, &e).unwrap_or_else(|| refused(&chat, &e));
                    return finish(&mut self.staged, outcome);
                }
                Err(e) if album_interrupted(&delivery.plan.messages[index], &e) => {
                    // Telegram posted part of the album before refusing the rest, and does not say
                    // which part. Sending it again would repeat those items: a person decides.
                    tracing::warn!(channel = %chat, error = %e, "telegram stopped in the middle of an album");
                    self.commit_with(attempt_error(&e))?;
                    let p = Problem::AlbumInterrupted { channel: chat };
                    return finish(&mut self.staged, DeliveryOutcome::Failed(p.to_json()));
                }
                Err(e) => {
                    if is_uncertain(&e) && self.d.uncertain == Uncertain::Fail {
                        // The request may have been posted: leave it to a person.
                        let p = Problem::Uncertain {
                            channel: chat.clone(),
                        };
                        return finish(&mut self.staged, DeliveryOutcome::Failed(p.to_json()));
                    }
                    self.commit_with(attempt_error(&e))?;
                    attempts += 1;
                    let wait = retry_wait(&e, &mut backoff);
                    if self.d.max_attempts.is_some_and(|max| attempts >= max) {
                        tracing::warn!(channel = %chat, error = %e, "giving up for now: the post stays in the journal and is retried at the next start");
                        return Ok(DeliveryEnded {
                            bundle: bundle_id,
                            ended: Ended::Left(e.to_string()),
                        });
                    }
                    tracing::warn!(channel = %chat, error = %e, retry_in = ?wait, "sending failed: retry scheduled");
                    self.flush()?;
                    tokio::time::sleep(wait).await;
                }
            }
        }

        self.pin_if_asked(&delivery).await?;
        for m in &delivery.sent {
            tracing::info!(channel = %chat, link = %m.link, "posted");
        }
        finish(&mut self.staged, DeliveryOutcome::Sent)
    }

    /// Unpins a post whose pin ends now (`pin_until:`), paced like any request of the channel.
    /// An unpin is harmless to repeat: one in flight at a crash is made again. A post deleted
    /// meanwhile, or unpinned by hand, has nothing to unpin: that is done too.
    async fn end_pin(&mut self, id: DeliveryId) -> Result<(), JournalError> {
        let Some(pin) = self
            .d
            .journal
            .pin_ends()?
            .into_iter()
            .find(|p| p.delivery_id == id && p.state != "failed")
        else {
            return Ok(());
        };
        self.flush()?;
        self.pace(1).await?;
        self.d.journal.pin_end_begin(id)?;
        let msg = OutMessage::Unpin {
            target: crate::post::Target {
                message_id: pin.message_id,
                chat_id: 0,
                link: pin.link.clone(),
            },
        };
        let result = self
            .d
            .client
            .change(&self.address(&pin.chat), &msg, Default::default())
            .await;
        self.sent(1);
        match result {
            Ok(()) => {
                tracing::info!(channel = %pin.chat, link = %pin.link, "pin ended: unpinned");
                self.d.journal.pin_end_done(id, None)
            }
            Err(e @ TelegramError::Permanent { .. }) => {
                tracing::warn!(channel = %pin.chat, link = %pin.link, error = %e, "cannot unpin the post at its pin_until");
                self.d.journal.pin_end_done(id, Some(&e.to_string()))
            }
            Err(e) => {
                let mut backoff = Duration::from_secs(30);
                let wait = retry_wait(&e, &mut backoff);
                tracing::warn!(channel = %pin.chat, error = %e, retry_in = ?wait, "cannot unpin now: retry scheduled");
                let at = crate::journal::now() + wait.as_secs().max(1) as i64;
                self.d.journal.pin_end_later(id, at, &e.to_string())
            }
        }
    }

    /// A request in flight when dropcast stopped may or may not have been posted: with
    /// `uncertain: fail` the delivery fails asking a person to look; with `resend` it goes on.
    fn uncertain_at_start(&self, delivery: &crate::journal::Delivery) -> Option<DeliveryOutcome> {
        let index = delivery.in_flight?;
        tracing::warn!(channel = %delivery.chat, message = index, "a request was in flight when dropcast stopped: it may or may not have been posted");
        (self.d.uncertain == Uncertain::Fail).then(|| {
            let p = Problem::Uncertain {
                channel: delivery.chat.clone(),
            };
            DeliveryOutcome::Failed(p.to_json())
        })
    }

    /// Whether the files of a message may be uploaded now: the inbox is still this dropcast's,
    /// and its share is here. A file that cannot be opened is refused for good; one on a share
    /// that went away is not: the post waits for the share, without counting an attempt.
    fn files_ready(&self, msg: &OutMessage) -> Ready {
        let files = files_of(msg);
        if !files.iter().all(|f| self.d.share.held(f)) {
            // Another dropcast took the inbox over: it finishes this bundle (it adopts the work
            // folder); this one stops here.
            return Ready::Leave("another dropcast took the inbox over");
        }
        if self.d.share.all_here(files) {
            Ready::Go
        } else if self.d.max_attempts.is_some() {
            Ready::Leave("the share is away")
        } else {
            Ready::Wait
        }
    }

    /// Whether a file of `msg` is gone from the work folder and a file is back where it was
    /// dropped (checked to be the very file when it is moved back).
    fn put_back_into_inbox(&self, files: &[crate::journal::FileRecord], msg: &OutMessage) -> bool {
        let wanted = files_of(msg);
        files.iter().any(|f| {
            wanted.contains(&f.work.as_path())
                && std::fs::symlink_metadata(&f.work).is_err()
                && std::fs::symlink_metadata(&f.original).is_ok()
        })
    }

    /// Reads the lease of the bundle's inbox again right before a request, after any wait for
    /// pacing: a server frozen past `lease_timeout` that wakes up here finds the inbox taken and
    /// sends nothing (the new owner adopted the bundle). A lease that cannot be read just now (a
    /// share showing a file renamed over as missing or short for a moment) leaves the decision
    /// to the lease task's last look, a fraction of `lease_timeout` old: holding every request
    /// back on such a moment would stall a busy share.
    fn lease_still_ours(&self, files: &[crate::journal::FileRecord]) -> Ready {
        let originals = files.iter().map(|f| f.original.as_path());
        let Some(leases) = self.d.share.leases() else {
            return Ready::Go;
        };
        // `confirm_all` stands this dropcast by at once when it reads another's lease.
        if leases.confirm_all(originals) || files.iter().all(|f| self.d.share.held(&f.original)) {
            Ready::Go
        } else {
            Ready::Leave("another dropcast took the inbox over")
        }
    }

    /// Writes on the share that request `index` is about to go out (see sentlog.rs). A request
    /// whose beginning cannot be written waits like one whose share is away: otherwise a
    /// dropcast adopting the work folder would think it never began, and post it again.
    fn begin_on_share(&self, log: Option<&ShareLog>, index: usize) -> Ready {
        let Some(log) = log else {
            return Ready::Go;
        };
        match log.append(&self.d.share, &self.chat, index, Event::Begin) {
            Ok(()) => Ready::Go,
            Err(e) if !self.d.share.all_here([log.dir.as_path()]) => {
                tracing::debug!(channel = %self.chat, error = %e, "the work folder is away: the post waits");
                if self.d.max_attempts.is_some() {
                    Ready::Leave("the share is away")
                } else {
                    Ready::Wait
                }
            }
            Err(e) => {
                // The folder is here but refuses the line (full, read-only, a share's error):
                // posting is the job and the log only narrows a window, so the post goes on; a
                // dropcast adopting this folder would count the request as never begun.
                tracing::warn!(channel = %self.chat, error = %e, "cannot write the sent log in the work folder");
                Ready::Go
            }
        }
    }

    /// The pin a post asked for, once every message is sent (not again after a restart).
    async fn pin_if_asked(
        &mut self,
        delivery: &crate::journal::Delivery,
    ) -> Result<(), JournalError> {
        if delivery.plan.pin
            && !delivery.pin_done
            && let Some(first) = delivery.sent.first()
        {
            let silent = delivery.plan.options.silent;
            let error = self.pin(&delivery.chat, first.message_id, silent).await?;
            if let (None, Some(until)) = (&error, delivery.plan.pin_until) {
                self.staged.writes.push(Write::PinEnds {
                    delivery_id: delivery.id,
                    chat: delivery.chat.clone(),
                    target: crate::post::Target {
                        message_id: first.message_id,
                        chat_id: first.chat_id,
                        link: first.link.clone(),
                    },
                    until,
                });
            }
            self.staged.writes.push(Write::Pin {
                delivery_id: delivery.id,
                error,
            });
        }
        Ok(())
    }

    /// Where requests for the channel the config names `chat` go: its numeric id once `getChat`
    /// resolved it (a renamed public channel keeps working), else the name itself.
    fn address(&self, chat: &str) -> String {
        match self.d.journal.chat_id_of(chat) {
            Ok(Some(id)) if chat.starts_with('@') => id.to_string(),
            _ => chat.to_string(),
        }
    }

    /// Pins a posted message, paced like a message, once the post is recorded. A pin that failed
    /// comes back as its error, to be recorded: it does not fail the post.
    async fn pin(
        &mut self,
        chat: &str,
        message_id: i64,
        silent: bool,
    ) -> Result<Option<String>, JournalError> {
        self.pace(1).await?;
        // The post is recorded before the pin request goes out.
        self.flush()?;
        Ok(
            match self
                .d
                .client
                .pin(&self.address(chat), message_id, silent)
                .await
            {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(channel = %chat, error = %e, "the post went out but could not be pinned");
                    Some(e.to_string())
                }
            },
        )
    }

    /// Waits until `n` messages may go to this chat and reserves them in the global window.
    /// Staged writes are committed before any wait.
    async fn pace(&mut self, n: usize) -> Result<(), JournalError> {
        if !self.d.pacing.enabled {
            return Ok(());
        }
        loop {
            let now = Instant::now();
            let chat_free = self
                .chat_second
                .next_free(now, n)
                .max(self.chat_minute.next_free(now, n));
            if chat_free > now {
                self.flush()?;
                tokio::time::sleep_until(chat_free).await;
                continue;
            }
            let global_free = {
                let mut g = self
                    .d
                    .pacing
                    .global
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let free = g.next_free(now, n);
                if free <= now {
                    g.record(now, n);
                }
                free
            };
            if global_free > now {
                self.flush()?;
                tokio::time::sleep_until(global_free).await;
                continue;
            }
            return Ok(());
        }
    }

    /// Counts `n` messages in the chat's windows from the moment the request ended: Telegram
    /// counts them somewhere between sending and answering, so the next request waits a whole
    /// window after the answer and can never arrive early.
    fn sent(&mut self, n: usize) {
        if self.d.pacing.enabled {
            let now = Instant::now();
            self.chat_second.record(now, n);
            self.chat_minute.record(now, n);
        }
    }
}

/// Where a delivery's sender writes its sent log (the work folder of the bundle's files, or the
/// record folder of a scheduled one), with what identifies the bundle there.
struct ShareLog {
    dir: std::path::PathBuf,
    files: Vec<String>,
    key: String,
}

impl ShareLog {
    fn of(files: &[crate::journal::FileRecord]) -> Option<ShareLog> {
        let dir = crate::sentlog::log_dir(&files.first()?.work)?;
        Some(ShareLog {
            dir,
            files: files
                .iter()
                .map(|f| crate::bundle::file_name_of(&f.work))
                .collect(),
            key: crate::sentlog::key(files.iter().map(|f| f.sha256.as_str())),
        })
    }

    fn append(
        &self,
        share: &crate::share::Share,
        chat: &str,
        index: usize,
        event: Event,
    ) -> std::io::Result<()> {
        let line = crate::sentlog::Line {
            files: self.files.clone(),
            key: self.key.clone(),
            chat: chat.to_string(),
            index,
            event,
            fence: share.fence(&self.dir),
        };
        crate::sentlog::append(&self.dir, &line)
    }
}

/// The messages one accepted request created, as the journal records them.
fn sent_messages(index: usize, sent: &[crate::telegram::Sent]) -> Vec<SentMessage> {
    sent.iter()
        .enumerate()
        .map(|(part, s)| SentMessage {
            index,
            part,
            message_id: s.message_id,
            chat_id: s.chat_id,
            link: s.link(),
        })
        .collect()
}

/// Whether a message's files can go now.
enum Ready {
    Go,
    /// The share is away: wait for it.
    Wait,
    /// Not this dropcast's to send (now): the delivery is left.
    Leave(&'static str),
}

/// How long to wait before the next attempt: what Telegram asked for, else the backoff (1 s,
/// doubling to `MAX_BACKOFF`).
fn retry_wait(e: &TelegramError, backoff: &mut Duration) -> Duration {
    match e {
        TelegramError::RetryAfter { seconds, .. } => Duration::from_secs((*seconds).max(1)),
        _ => {
            let w = *backoff;
            *backoff = (*backoff * 2).min(MAX_BACKOFF);
            w
        }
    }
}

/// How often a post whose files are on a share that is away looks again.
const SHARE_WAIT: Duration = Duration::from_secs(2);

/// The files a message uploads.
fn files_of(msg: &OutMessage) -> Vec<&std::path::Path> {
    msg.files()
}

/// A flood-control refusal that came as a 400 to an album: Telegram may have posted some items.
/// (A real 429 is refused before anything is posted, and is simply retried.)
fn album_interrupted(msg: &OutMessage, e: &TelegramError) -> bool {
    matches!(msg, OutMessage::Album { .. })
        && matches!(e, TelegramError::RetryAfter { description, .. } if description.starts_with("Bad Request"))
}

fn is_uncertain(e: &TelegramError) -> bool {
    matches!(e, TelegramError::Transient { description } if description.contains("timed out") || description.contains("timeout"))
}

fn record_metrics(
    d: &Deliverer,
    msg: &OutMessage,
    result: &Result<Vec<crate::telegram::Sent>, TelegramError>,
) {
    use crate::metrics::Metrics;
    use std::sync::atomic::Ordering;
    let m = &d.metrics;
    match result {
        Ok(sent) => {
            Metrics::add(&m.messages_sent, sent.len() as u64);
            m.last_post.store(crate::journal::now(), Ordering::Relaxed);
            let paths = msg.files();
            let bytes: u64 = paths
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|md| md.len())
                .sum();
            Metrics::add(&m.upload_bytes, bytes);
        }
        Err(TelegramError::RetryAfter { .. }) => {
            Metrics::add(&m.rate_limited, 1);
            Metrics::add(&m.retries, 1);
        }
        Err(TelegramError::Transient { .. }) => Metrics::add(&m.retries, 1),
        Err(TelegramError::Permanent { .. }) => {}
    }
}

/// Turns the photos of a message into documents, once; false when there were none.
fn as_documents(msg: &mut OutMessage) -> bool {
    match msg {
        OutMessage::Media { kind, .. } if *kind == MediaKind::Photo => {
            *kind = MediaKind::Document;
            true
        }
        OutMessage::Album { items } if items.iter().any(|i| i.kind == MediaKind::Photo) => {
            // Telegram does not say which item it refused, and documents cannot mix with
            // photos: the whole album goes as documents.
            for i in items.iter_mut() {
                i.kind = MediaKind::Document;
            }
            true
        }
        _ => false,
    }
}

/// The name of a correction's request, for the log.
fn change_name(msg: &OutMessage) -> &'static str {
    match msg {
        OutMessage::EditText { .. } => "text",
        OutMessage::EditCaption { .. } => "caption",
        OutMessage::EditButtons { .. } => "buttons",
        OutMessage::EditMedia { .. } => "file",
        OutMessage::Delete { .. } => "deleted",
        OutMessage::Unpin { .. } => "unpinned",
        _ => "",
    }
}

/// Telegram's refusals of a correction that a clerk can act on: a message too old to delete
/// (clocks differ, rules change: the same report as the check before asking), and a message
/// that is gone (deleted by hand in the app).
fn change_refused(msg: &OutMessage, e: &TelegramError) -> Option<DeliveryOutcome> {
    use crate::change::CannotChange;
    use crate::post::ChangeKind;
    let TelegramError::Permanent { description, .. } = e else {
        return None;
    };
    let target = msg.target()?;
    let d = description.to_ascii_lowercase();
    let (kind, why) = match msg {
        OutMessage::Delete { .. } if d.contains("message can't be deleted") => (
            ChangeKind::Delete,
            CannotChange::TooOldToDelete { sent_at: 0 },
        ),
        OutMessage::Unpin { .. } => return None,
        OutMessage::Delete { .. } => return None,
        _ if d.contains("message to edit not found") => (ChangeKind::Edit, CannotChange::Deleted),
        _ => return None,
    };
    let p = Problem::CannotChange {
        post: target.link.clone(),
        kind,
        why: Box::new(why),
    };
    Some(DeliveryOutcome::Failed(p.to_json()))
}

fn refused(chat: &str, e: &TelegramError) -> DeliveryOutcome {
    let description = match e {
        TelegramError::Permanent { description, .. }
        | TelegramError::Transient { description }
        | TelegramError::RetryAfter { description, .. } => description.clone(),
    };
    DeliveryOutcome::Failed(
        Problem::Refused {
            channel: chat.to_string(),
            description,
        }
        .to_json(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn windows_pace_one_per_second_and_twenty_per_minute() {
        let start = Instant::now();
        let mut sec = Window::new(PER_CHAT_PER_SECOND, Duration::from_secs(1));
        let mut min = Window::new(PER_CHAT_PER_MINUTE, Duration::from_secs(60));
        let mut times = Vec::new();
        for _ in 0..25 {
            loop {
                let now = Instant::now();
                let free = sec.next_free(now, 1).max(min.next_free(now, 1));
                if free <= now {
                    break;
                }
                tokio::time::sleep_until(free).await;
            }
            let now = Instant::now();
            sec.record(now, 1);
            min.record(now, 1);
            times.push(now - start);
        }
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_secs(1), "{times:?}");
        }
        // The 21st message waits for the first minute's window to pass.
        assert!(times[20] >= Duration::from_secs(60), "{:?}", times[20]);
        for i in 20..25 {
            assert!(times[i] - times[i - 20] >= Duration::from_secs(60));
        }
    }
}
