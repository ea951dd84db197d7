//! The schedule check: releases bundles in `scheduled/` whose publish time has come, and cancels
//! those whose files a clerk removed from `scheduled/` (what is left goes to `failed/`). Run by
//! the preparer at start and every ≤ 2 s while anything is scheduled.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::journal::{DeliveryId, Journal, Scheduled};
use crate::messages::{self, Problem};
use crate::spool;

/// What one check found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Deliveries to start now: `(delivery id, chat)`.
    pub start: Vec<(DeliveryId, String)>,
    /// Pins that end now (`pin_until:`): `(the post's delivery id, chat)`.
    pub unpin: Vec<(DeliveryId, String)>,
    /// When to look again; `None` when nothing is scheduled.
    pub wait: Option<Duration>,
}

/// Looks at every scheduled bundle once.
pub fn check(config: &Config, journal: &Journal, share: &crate::share::Share) -> Checked {
    let scheduled = match journal.scheduled() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot read scheduled posts from the journal");
            return Checked {
                start: Vec::new(),
                unpin: Vec::new(),
                wait: Some(Duration::from_secs(30)),
            };
        }
    };
    let now = jiff::Timestamp::now().as_second();
    let mut start = Vec::new();
    let mut next: Option<i64> = None;
    for s in scheduled {
        // Another dropcast posts from its inbox now: it adopts the bundle (see preparer::adopt).
        if !s.files.iter().all(|f| share.held(&f.original)) {
            next = Some(next.map_or(now + 2, |n| n.min(now + 2)));
            continue;
        }
        // A file missing from a `scheduled/` that is away is not a cancellation: it waits.
        if !share.all_here(s.files.iter().map(|f| f.work.as_path())) {
            tracing::debug!(bundle = %s.name, "the scheduled post waits for its folder to come back");
            next = Some(next.map_or(now + 2, |n| n.min(now + 2)));
            continue;
        }
        if s.files
            .iter()
            .any(|f| std::fs::symlink_metadata(&f.work).is_err())
        {
            cancel(config, journal, &s);
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
    // Pins that end: each is queued once (`in_flight` from here on; a crash before the unpin
    // is answered leaves it so, and the start queues it again).
    let mut unpin = Vec::new();
    match journal.pin_ends() {
        Ok(pins) => {
            for p in pins.into_iter().filter(|p| p.state == "waiting") {
                if p.until <= now {
                    match journal.pin_end_begin(p.delivery_id) {
                        Ok(()) => unpin.push((p.delivery_id, p.chat)),
                        Err(e) => tracing::error!(error = %e, "cannot record an unpin"),
                    }
                } else {
                    next = Some(next.map_or(p.until, |n| n.min(p.until)));
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the pins that end from the journal"),
    }
    // Cancellation is noticed within 2 s; a due post within a second of its time.
    let wait = next
        .map(|t| Duration::from_secs((t - now).clamp(0, 2) as u64).max(Duration::from_millis(200)));
    Checked { start, unpin, wait }
}

/// A file of a scheduled bundle was removed from `scheduled/`: the post is cancelled and the
/// rest of its files go to `failed/` with a report that says so.
fn cancel(config: &Config, journal: &Journal, s: &Scheduled) {
    let removed = s
        .files
        .iter()
        .find(|f| std::fs::symlink_metadata(&f.work).is_err())
        .and_then(|gone| gone.original.file_name())
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
        let report =
            messages::report_now(config, &s.name, std::slice::from_ref(&problem), &[], &left);
        if let Err(e) = spool::fail(
            &config.failed,
            &s.name,
            &left,
            &report,
            &mut spool::Syncs::now(),
        ) {
            tracing::warn!(bundle = %s.name, error = %e, "cannot move the rest of a cancelled post to failed/; will retry");
            return;
        }
    }
    if let Err(e) = journal.cancel(s.bundle_id, &problem.to_json()) {
        tracing::error!(error = %e, "cannot record a cancellation");
        return;
    }
    if let Some(first) = s.files.first() {
        spool::forget_scheduled(&first.work);
    }
}
