//! The soak's two-server mode (issue 12): two dropcasts, each with its own journal (`state_dir`),
//! on one office share, as with a standby server, and `lease_timeout` short (1 s). A seeded
//! schedule of events hits either of them, mostly the one holding the inbox's lease: SIGKILL
//! (then a restart, as systemd does), SIGSTOP past `lease_timeout` then SIGCONT (the other takes
//! over; the woken one must find its lease taken), or SIGSTOP for less (nobody should take over).
//! Each event is measured: how long until another dropcast held the lease.
//!
//! What may be posted twice: with two journals, what one dropcast did is known to the other only
//! through the share (what it leaves in its work folders). An event can catch in flight at most
//! one request per channel: the last one the run made to that channel before it was killed or
//! frozen, or, for a frozen owner that lost its lease, one it made as it woke (its request was on
//! its way, or it sent one before it looked at its lease again). A second copy explained by no
//! such event, or a second one for the same event and channel, is a problem.

use super::*;
use crate::common::takeover::{TAKEN, TAKING_OVER};

/// Short, so that a takeover takes a second.
pub(crate) const LEASE_TIMEOUT: Duration = Duration::from_secs(1);
/// What the office's config adds.
pub(crate) const CONFIG: &str = "lease_timeout: 1s\n";
const TAKING_AT_ONCE: &str = "the lease's owner ran here and is gone: taking the inbox at once";

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Kill,
    /// SIGSTOP until another run took the lease over (a standby: past `lease_timeout`), then a
    /// little longer, sometimes: this long in all.
    LongFreeze(Duration),
    /// SIGSTOP for this long, shorter than `lease_timeout`.
    ShortFreeze(Duration),
}

/// What the soak did to one run.
pub(crate) struct Event {
    life: usize,
    kind: Kind,
    began: Instant,
    /// When the run ran again (SIGCONT), or was killed.
    ended: Instant,
    /// Whether the run held the inbox's lease when the event began.
    was_active: bool,
    /// How long after `began` another run held the inbox's lease (none took it over: `None`).
    takeover: Option<Duration>,
}

impl Event {
    /// Whether a request of this run can have been caught in flight by the event: it held the
    /// lease, and then lost it (killed, or taken over while frozen).
    fn may_catch(&self) -> bool {
        self.was_active && (self.kind == Kind::Kill || self.takeover.is_some())
    }
}

fn frozen_for(kind: Kind) -> Duration {
    match kind {
        Kind::Kill => Duration::ZERO,
        Kind::LongFreeze(d) | Kind::ShortFreeze(d) => d,
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Kill => write!(f, "SIGKILL"),
            Kind::LongFreeze(d) => write!(f, "long freeze (SIGSTOP for {d:.1?})"),
            Kind::ShortFreeze(d) => write!(f, "short freeze (SIGSTOP for {d:.1?})"),
        }
    }
}

impl Soak {
    /// The run whose pid the inbox's lease names now.
    fn holder(&self) -> Option<usize> {
        let bytes = std::fs::read(self.o.inbox(".dropcast/lease")).ok()?;
        let lease: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let pid = lease.get("pid")?.as_u64()?;
        self.lives
            .iter()
            .rposition(|d| u64::from(d.child.id()) == pid)
    }

    /// Waits until a run other than `life` holds the inbox's lease: how long after `since`, or
    /// `None` at the deadline.
    fn wait_takeover(&self, life: usize, since: Instant, limit: Duration) -> Option<Duration> {
        loop {
            if self.holder().is_some_and(|l| l != life) {
                return Some(since.elapsed());
            }
            if since.elapsed() > limit {
                return None;
            }
            // The poll interval of a wait with a deadline.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// How many lines of run `life`'s log say `needle` about the office's inbox.
    fn said(&self, life: usize, needle: &str) -> usize {
        let inbox = format!("inbox={} ", self.o.path("inbox").display());
        self.lives[life]
            .log()
            .lines()
            .filter(|l| l.contains(needle) && l.contains(&inbox))
            .count()
    }

    /// Starts the office's dropcast and a second server (its own journal), then hits them with
    /// `events` events, or until the backlog is done. Returns the events and the two runs that
    /// are running at the end.
    pub(crate) fn disrupt_two_servers(&mut self, events: usize) -> (Vec<Event>, [usize; 2]) {
        // Paced, with time compressed 20 times (1 post per 50 ms and 20 per 3 s per channel),
        // so that the backlog lasts across the events.
        self.o.edit_config("pacing: false", "pacing: true");
        self.o.set_env("DROPCAST_PACING_SCALE", "0.05");
        self.configs.push(self.o.second_server("b"));
        let mut running = [self.start_instance(0), self.start_instance(1)];
        let mut done = Vec::new();
        for k in 0..events {
            if self.done() {
                break;
            }
            let since = Instant::now();
            let (what, pause) = if self.rng.percent(20) {
                // Anywhere in the next 300 ms.
                ("at any moment".to_owned(), self.rng.below(300_000))
            } else {
                self.after_some_posts(since, events - k)
            };
            // The pause is the point: it picks the moment of the event.
            std::thread::sleep(Duration::from_micros(pause));
            for &life in &running {
                let d = &mut self.lives[life];
                assert!(
                    d.child.try_wait().unwrap().is_none(),
                    "dropcast run {life} exited on its own:\n{}",
                    d.log()
                );
            }
            let holder = self.holder();
            // Mostly the active one: that is where a takeover can go wrong.
            let instance = match holder.map(|l| self.instance_of[l]) {
                Some(i) if self.rng.percent(75) => i,
                Some(i) => 1 - i,
                None => self.rng.below(2) as usize,
            };
            let life = running[instance];
            let was_active = holder == Some(life);
            let roll = self.rng.below(100);
            let began = Instant::now();
            let (kind, takeover) = if roll < 40 {
                self.kill(life);
                running[instance] = self.start_instance(instance);
                let took = if was_active {
                    self.wait_takeover(life, began, Duration::from_secs(10))
                } else {
                    None
                };
                (Kind::Kill, took)
            } else if roll < 75 {
                let taken_before = self.said(life, TAKEN);
                self.lives[life].signal(libc::SIGSTOP);
                let took = if was_active {
                    self.wait_takeover(life, began, LEASE_TIMEOUT + Duration::from_secs(10))
                } else {
                    // The pause is the point: a standby frozen past lease_timeout.
                    let past = Duration::from_millis(self.rng.below(500));
                    std::thread::sleep(LEASE_TIMEOUT + past);
                    None
                };
                // A little longer, sometimes: the new owner is at work when the old one wakes.
                std::thread::sleep(Duration::from_millis(self.rng.below(300)));
                self.lives[life].signal(libc::SIGCONT);
                let frozen = began.elapsed();
                if was_active && took.is_none() {
                    self.problems.push(format!(
                        "event {k}: run {life} held the lease and was frozen for {frozen:?}; \
                         nobody took the inbox over"
                    ));
                }
                if took.is_some() {
                    let woke = Instant::now();
                    while self.said(life, TAKEN) == taken_before {
                        if woke.elapsed() > Duration::from_secs(10) {
                            self.problems.push(format!(
                                "event {k}: run {life}, woken after its lease was taken, did not \
                                 say so within 10 s"
                            ));
                            break;
                        }
                        // The poll interval of a wait with a deadline.
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                (Kind::LongFreeze(frozen), took)
            } else {
                let short = Duration::from_millis(50 + self.rng.below(450));
                self.lives[life].signal(libc::SIGSTOP);
                // The pause is the point: a freeze shorter than lease_timeout.
                std::thread::sleep(short);
                self.lives[life].signal(libc::SIGCONT);
                let took = (was_active && self.holder() != Some(life)).then(|| began.elapsed());
                (Kind::ShortFreeze(short), took)
            };
            println!(
                "  [{tag}] event {k}: {kind} of run {life} (dropcast {who}, {role}), {what}, \
                 {pause} µs later; {took}",
                tag = self.tag,
                who = ["A", "B"][instance],
                role = if was_active { "active" } else { "standby" },
                took = match takeover {
                    Some(d) => format!("another run held the lease {d:.1?} later"),
                    None => "no takeover".into(),
                }
            );
            done.push(Event {
                life,
                kind,
                began,
                ended: began + frozen_for(kind),
                was_active,
                takeover,
            });
        }
        (done, running)
    }

    /// Checks every second copy in a channel against the events (see the module comment);
    /// returns one line per explained duplicate, and how many events caught a request in flight
    /// (per channel: unanswered, or posted again).
    pub(crate) fn explain_duplicates(
        &mut self,
        t: &Tally,
        events: &[Event],
        all: &[Recorded],
    ) -> (Vec<String>, usize) {
        // Per event and chat: the run's last request before the event, and (a frozen owner
        // that lost its lease) the requests it made from the event's start until it must have
        // looked at its lease again (within a lease_timeout of waking; later, a run that has
        // the lease again posts as any owner does).
        let mut last: HashMap<(usize, i64), usize> = HashMap::new();
        let mut after: HashMap<(usize, i64), Vec<usize>> = HashMap::new();
        for (n, r) in all.iter().enumerate() {
            let Some(chat) = chat_of(r) else { continue };
            let life = self.life_of(r);
            for (e, ev) in events.iter().enumerate() {
                if ev.life != life || !ev.may_catch() {
                    continue;
                }
                if r.at < ev.began {
                    if last.get(&(e, chat)).is_none_or(|&m| all[m].at <= r.at) {
                        last.insert((e, chat), n);
                    }
                } else if r.at <= ev.ended + LEASE_TIMEOUT {
                    after.entry((e, chat)).or_default().push(n);
                }
            }
        }
        let caught_by = |e: usize, chat: i64, n: usize| {
            last.get(&(e, chat)) == Some(&n)
                || after.get(&(e, chat)).is_some_and(|v| v.contains(&n))
        };
        let mut per_event: BTreeMap<(usize, i64), Vec<String>> = BTreeMap::new();
        for ((i, chat), reqs) in self.requests_of(t) {
            for pair in reqs.windows(2) {
                let ((n1, r1), (n2, r2)) = (&pair[0], &pair[1]);
                let (l1, l2) = (self.life_of(r1), self.life_of(r2));
                let what = format!(
                    "{} in chat {chat}: request #{n1} from run {l1}, again (#{n2}) from run {l2}, \
                     {:.0?} later",
                    self.bundles[i].name,
                    r2.at.saturating_duration_since(r1.at)
                );
                let by = (0..events.len()).find(|&e| {
                    l1 != l2
                        && match events[e].kind {
                            // The killed run's request was the first copy.
                            Kind::Kill => last.get(&(e, chat)) == Some(n1),
                            // The frozen owner's may land before or after the new owner's.
                            _ => caught_by(e, chat, *n1) || caught_by(e, chat, *n2),
                        }
                });
                match by {
                    Some(e) => {
                        let ev = &events[e];
                        // Where the frozen or killed run's copy lies: before the event, or
                        // after the run woke.
                        let woke = [r1, r2]
                            .iter()
                            .filter(|r| self.life_of(r) == ev.life && r.at >= ev.ended)
                            .map(|r| format!(", its copy {:.0?} after it woke", r.at - ev.ended))
                            .next()
                            .unwrap_or_default();
                        per_event.entry((e, chat)).or_default().push(format!(
                            "{what} (event {e}: {} of run {}{woke})",
                            ev.kind, ev.life
                        ))
                    }
                    None => self.problems.push(format!(
                        "posted twice, and no kill or takeover caught it in flight: {what}"
                    )),
                }
            }
        }
        for ((e, chat), lines) in &per_event {
            if lines.len() > 1 {
                self.problems.push(format!(
                    "event {e} ({} of run {}) caught {} requests to chat {chat} in flight, not \
                     at most one: {lines:#?}",
                    events[*e].kind,
                    events[*e].life,
                    lines.len()
                ));
            }
        }
        let caught = last
            .iter()
            .filter(|(key, n)| all[**n].status == 0 || per_event.contains_key(key))
            .count();
        (per_event.into_values().flatten().collect(), caught)
    }

    /// The figures of the two-server soak beyond the common ones.
    pub(crate) fn two_server_figures(&self, events: &[Event]) -> String {
        let count = |f: &dyn Fn(&Kind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
        let long = count(&|k| matches!(k, Kind::LongFreeze(_)));
        let short = count(&|k| matches!(k, Kind::ShortFreeze(_)));
        let kills = count(&|k| *k == Kind::Kill);
        let on_active = events.iter().filter(|e| e.was_active).count();
        let (timeout, at_once) = (0..self.lives.len()).fold((0, 0), |(a, b), life| {
            (
                a + self.said(life, TAKING_OVER),
                b + self.said(life, TAKING_AT_ONCE),
            )
        });
        let longest = |f: &dyn Fn(&Kind) -> bool| {
            events
                .iter()
                .filter(|e| f(&e.kind))
                .filter_map(|e| e.takeover)
                .max()
                .map_or("none".to_string(), |d| format!("{d:.2?}"))
        };
        let short_taken = events
            .iter()
            .filter(|e| matches!(e.kind, Kind::ShortFreeze(_)) && e.takeover.is_some())
            .count();
        format!(
            "{} events ({on_active} on the active one): {kills} kills, {} freezes ({long} past \
             lease_timeout, {short} shorter, {short_taken} of those taken over anyway); {} \
             takeovers in the logs ({timeout} after lease_timeout, {at_once} at once: the \
             owner ran here and is gone); longest takeover {} after a freeze (lease_timeout \
             {LEASE_TIMEOUT:?}), {} after a kill",
            events.len(),
            long + short,
            timeout + at_once,
            longest(&|k| matches!(k, Kind::LongFreeze(_))),
            longest(&|k| *k == Kind::Kill),
        )
    }
}
