//! `dropcast status`: what is waiting, scheduled, retrying, failed, and the last posts, read
//! from the journal and the inbox without a running daemon.

use std::collections::HashSet;
use std::path::Path;

use crate::bundle::{Filter, Kind};
use crate::config::Config;
use crate::journal::{BundleState, Failure, JournalError, JournalReader, Posted, Retrying};
use crate::messages::Problem;
use crate::pairing;
use crate::share::AwayFolder;
use crate::watch;

/// A file in an inbox that is not posted yet.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Waiting {
    pub file: String,
    pub why: String,
}

/// A bundle waiting in `scheduled/`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScheduledPost {
    pub bundle: String,
    pub publish_at: String,
}

/// Everything `status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// Configured folders that cannot be reached (a share not mounted): work waits for them.
    pub away: Vec<AwayFolder>,
    /// Who holds each inbox's lease (read from the lease files; the page shows the daemon's
    /// own view).
    pub leases: Vec<crate::lease::LeaseReport>,
    pub waiting: Vec<Waiting>,
    pub scheduled: Vec<ScheduledPost>,
    pub retrying: Vec<Retrying>,
    pub failed: Vec<FailedPost>,
    pub recent: Vec<RecentPost>,
    /// Pins that end by themselves (`pin_until:`), soonest first.
    pub pins_ending: Vec<PinEnding>,
    /// The latest corrections, retractions and unpins, newest first.
    pub changes: Vec<ChangeMade>,
}

/// A pin that ends by itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PinEnding {
    pub bundle: String,
    pub channel: String,
    pub link: String,
    pub until: String,
    /// waiting, in_flight (being unpinned), or failed (with `error`).
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A correction (`edit:`), a retraction (`delete:`) or an unpin of a post.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangeMade {
    /// The correction's bundle.
    pub bundle: String,
    pub change: crate::post::ChangeKind,
    pub channel: String,
    pub link: String,
    /// done, failed, or waiting.
    pub state: String,
    pub at: String,
    pub changed: Vec<crate::change::NoteLine>,
}

/// A bundle in `failed/`, with its reason in words.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedPost {
    pub bundle: String,
    pub reason: String,
    pub at: String,
}

/// A post that went out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentPost {
    pub bundle: String,
    pub channel: String,
    pub link: String,
    pub at: String,
}

/// Reads the status, without writing to the journal. A state folder without a journal yet shows
/// an empty history.
pub fn read(config: &Config) -> Result<Status, JournalError> {
    let journal = if config.state_dir.join(crate::journal::FILE_NAME).exists() {
        Some(JournalReader::open(&config.state_dir)?)
    } else {
        None
    };
    let local = |secs: i64| {
        jiff::Timestamp::from_second(secs)
            .map(|t| {
                t.to_zoned_datetime(config.timezone.clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let (scheduled, retrying, failures, posts): (_, _, Vec<Failure>, Vec<Posted>) = match &journal {
        Some(j) => (
            j.scheduled()?,
            j.retrying()?,
            j.recent_failures(20)?,
            j.recent_posts(20)?,
        ),
        None => (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
    };
    let (pins, changes) = match &journal {
        Some(j) => (j.pin_ends()?, j.recent_changes(20)?),
        None => (Vec::new(), Vec::new()),
    };
    Ok(Status {
        away: crate::share::look(config),
        leases: config
            .inboxes
            .iter()
            .filter_map(|i| {
                crate::lease::read(&i.path).map(|l| crate::lease::LeaseReport {
                    inbox: i.path.clone(),
                    role: crate::lease::Role::Standby {
                        host: l.host,
                        pid: l.pid,
                    },
                })
            })
            .collect(),
        waiting: waiting(config),
        scheduled: scheduled
            .into_iter()
            .map(|s| ScheduledPost {
                bundle: s.name,
                publish_at: local(s.publish_at),
            })
            .collect(),
        retrying,
        failed: failures
            .into_iter()
            .map(|f| FailedPost {
                bundle: f.bundle,
                reason: if f.state == BundleState::Cancelled {
                    format!("cancelled: {}", Problem::from_json(&f.problem).summary())
                } else {
                    Problem::from_json(&f.problem).summary()
                },
                at: local(f.at),
            })
            .collect(),
        recent: posts
            .into_iter()
            .map(|p| RecentPost {
                bundle: p.bundle,
                channel: p.chat,
                link: p.link,
                at: local(p.at),
            })
            .collect(),
        pins_ending: pins
            .into_iter()
            .map(|p| PinEnding {
                bundle: p.bundle,
                channel: p.chat,
                link: p.link,
                until: local(p.until),
                state: p.state,
                error: p.error,
            })
            .collect(),
        changes: changes
            .into_iter()
            .filter_map(|c| {
                let note: crate::change::Note = serde_json::from_str(&c.note).ok()?;
                Some(ChangeMade {
                    bundle: c.bundle,
                    change: note.kind,
                    channel: note.chat,
                    link: note.link,
                    state: match c.state.as_str() {
                        "sent" => "done",
                        "failed" => "failed",
                        _ => "waiting",
                    }
                    .into(),
                    at: local(c.at),
                    changed: note.lines,
                })
            })
            .collect(),
    })
}

/// Media files and sidecars in the inboxes, with the likely reason they wait. Each file is
/// judged by the inbox the daemon would take it from (the most specific) and paired by the
/// daemon's rule (`pairing::sidecar_of`).
fn waiting(config: &Config) -> Vec<Waiting> {
    let filter = Filter::new(&config.accept, &config.ignore);
    let mut out = Vec::new();
    for (root, inbox) in watch::roots(config).iter().zip(&config.inboxes) {
        let files = watch::scan(root, &filter);
        let names: HashSet<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
        for (p, _) in &files {
            let Some(rel) = root.relative(p) else {
                continue;
            };
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let dir = p.parent().unwrap_or(&root.path);
            let why = match filter.classify(&rel) {
                Kind::Media(_) => {
                    let has_sidecar =
                        pairing::sidecar_of(name, |s| names.contains(dir.join(s).as_path()))
                            .is_some();
                    if has_sidecar || inbox.sidecar == crate::config::SidecarPolicy::Optional {
                        "settling: posted once it has not changed for a moment"
                    } else {
                        "waiting for its sidecar (NAME.yaml)"
                    }
                }
                Kind::Sidecar => "settling, or waiting for the files it names",
                Kind::Ignored => continue,
            };
            out.push(Waiting {
                file: rel,
                why: why.into(),
            });
        }
    }
    out
}

/// The status as text for a person.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let section = |out: &mut String, title: &str, n: usize| {
        out.push_str(&format!("{title} ({n})\n"));
    };
    if !s.leases.is_empty() {
        section(&mut out, "Who posts from each inbox", s.leases.len());
        for l in &s.leases {
            if let crate::lease::Role::Standby { host, pid } = &l.role {
                out.push_str(&format!(
                    "  {}: active on {host} (pid {pid})\n",
                    l.inbox.display()
                ));
            }
        }
    }
    if !s.away.is_empty() {
        section(&mut out, "Folders away (work waits for them)", s.away.len());
        for a in &s.away {
            out.push_str(&format!("  {} {}: {}\n", a.role, a.path.display(), a.why));
        }
    }
    section(&mut out, "Waiting in the inbox", s.waiting.len());
    for w in &s.waiting {
        out.push_str(&format!("  {}: {}\n", w.file, w.why));
    }
    section(&mut out, "Scheduled", s.scheduled.len());
    for p in &s.scheduled {
        out.push_str(&format!("  {} at {}\n", p.bundle, p.publish_at));
    }
    section(&mut out, "Retrying", s.retrying.len());
    for r in &s.retrying {
        out.push_str(&format!(
            "  {} → {}: {} attempts, last error: {}\n",
            r.bundle, r.chat, r.attempts, r.last_error
        ));
    }
    section(&mut out, "Failed (latest)", s.failed.len());
    for f in &s.failed {
        out.push_str(&format!("  {} ({}): {}\n", f.bundle, f.at, f.reason));
    }
    section(&mut out, "Recent posts", s.recent.len());
    for p in &s.recent {
        out.push_str(&format!(
            "  {} {} → {} {}\n",
            p.at, p.bundle, p.channel, p.link
        ));
    }
    if !s.pins_ending.is_empty() {
        section(&mut out, "Pins that end by themselves", s.pins_ending.len());
        for p in &s.pins_ending {
            out.push_str(&format!(
                "  {} {} → {} unpinned at {}{}\n",
                p.bundle,
                p.channel,
                p.link,
                p.until,
                p.error
                    .as_deref()
                    .map(|e| format!(" (could not: {e})"))
                    .unwrap_or_default()
            ));
        }
    }
    if !s.changes.is_empty() {
        section(&mut out, "Changes to posts (latest)", s.changes.len());
        for c in &s.changes {
            let what: Vec<&str> = c.changed.iter().map(|l| l.what.as_str()).collect();
            out.push_str(&format!(
                "  {} {} {} {} by {}: {} ({})\n",
                c.at,
                c.change.key(),
                c.link,
                c.channel,
                c.bundle,
                what.join(", "),
                c.state
            ));
        }
    }
    out
}
