//! Crash soak (issue 4, item 2): a backlog of bundles, `dropcast run` killed with SIGKILL at
//! random moments and restarted, again and again, until the backlog is done. Then: no file is
//! lost, nothing is posted twice except what a kill caught in flight (and with
//! `uncertain: fail`, nothing at all), and the journal survived every kill.
//!
//! Two servers (issue 12, `two_servers_with_kills_and_freezes_lose_nothing`, in
//! tests/soak/two_servers.rs): two dropcasts with their own journals on one office share,
//! `lease_timeout` 1 s, posts paced with time compressed 20 times; at random moments either one
//! is killed (and restarted), frozen past `lease_timeout` (the other takes over; woken, it must
//! find its lease taken), or frozen for less. Then both finish the backlog, and the same holds,
//! with a second copy only where a kill or a takeover caught a request in flight: at most one
//! per event and channel. It prints each event and how long each takeover took.
//!
//! The environment sets the size and the randomness: `SOAK_BUNDLES` (default 40), `SOAK_KILLS`
//! (default 5: kills of the single-server soaks, events of the two-server one), `SOAK_SEED`
//! (default: from the clock). Every test prints its seed, so a failure can be replayed with
//! `SOAK_SEED=…`; `SOAK_KEEP=1` keeps a failed soak's office. `scripts/soak.sh` runs the long
//! form.
//!
//! A seed fixes the backlog and the schedule of kills and freezes, not the exact moments: where
//! an event lands in dropcast's work still depends on timing, which is what a soak is for. Every
//! run of dropcast reaches the fake Bot API through a root URL of its own (`…/via/life-K`), so
//! that each request is known to come from that run.

mod common;
#[path = "soak/two_servers.rs"]
mod two_servers;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::fake_bot::{Fault, MessageKind, Recorded};
use common::*;

const NEWS: i64 = -1001234567890;
const ALERTS: i64 = -1001111111111;
const PRIVATE: i64 = -1009876543210;
const CHATS: [i64; 3] = [NEWS, ALERTS, PRIVATE];

/// How the soak is sized and seeded.
struct Settings {
    bundles: usize,
    kills: usize,
    seed: u64,
}

fn settings(test: &str, bundles_divisor: usize) -> Settings {
    let num = |key: &str, default: usize| -> usize {
        std::env::var(key)
            .ok()
            .map(|v| {
                v.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{key}={v:?}: not a number"))
            })
            .unwrap_or(default)
    };
    let seed = match std::env::var("SOAK_SEED") {
        Ok(v) => {
            let v = v.trim();
            v.strip_prefix("0x")
                .map_or_else(|| v.parse(), |hex| u64::from_str_radix(hex, 16))
                .unwrap_or_else(|_| panic!("SOAK_SEED={v:?}: not a number"))
        }
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    let s = Settings {
        bundles: (num("SOAK_BUNDLES", 40) / bundles_divisor).max(10),
        kills: num("SOAK_KILLS", 5),
        seed,
    };
    println!(
        "soak {test}: {} bundles, {} kills, seed {} (replay with SOAK_SEED={})",
        s.bundles, s.kills, s.seed, s.seed
    );
    s
}

/// SplitMix64: small, seedable, good enough to pick moments and sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..n` (0 when n is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// One bundle of the backlog: what is dropped, and how to recognise its post in a channel.
struct Bundle {
    /// The stem its receipt or report is named after.
    name: String,
    /// Inbox-relative path and contents, in the order they are dropped.
    files: Vec<(String, Vec<u8>)>,
    /// The SHA-256 of each file the post carries (none for a text post).
    media: Vec<String>,
    /// A text post's text as the channel shows it.
    text: Option<String>,
    chats: Vec<i64>,
}

/// A PDF with `seed` in it, padded with comment lines to about `pad` more bytes.
fn pdf_padded(seed: &str, pad: usize) -> Vec<u8> {
    let mut v = format!("%PDF-1.4\n% {seed}\n").into_bytes();
    let mut left = pad;
    while left > 0 {
        let n = left.min(98);
        v.extend_from_slice(b"% ");
        v.extend(std::iter::repeat_n(b'x', n));
        v.push(b'\n');
        left -= n;
    }
    v.extend_from_slice(b"1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    v
}

/// Mostly small PDFs, some of a few hundred KB so that a kill can land mid-upload.
fn some_pdf(seed: &str, rng: &mut Rng) -> Vec<u8> {
    let pad = if rng.percent(25) {
        rng.below(256 * 1024)
    } else {
        rng.below(2048)
    };
    pdf_padded(seed, pad as usize)
}

/// Every tenth bundle of each kind: PDFs with a caption to `news` (four in ten), a text post, an
/// album of documents, an album of photos, a PDF routed to `alerts` by the `meteo/` folder, a
/// PDF to both `news` and `alerts`, a PDF to the private channel.
fn backlog(n: usize, rng: &mut Rng) -> Vec<Bundle> {
    (0..n)
        .map(|i| {
            let name = format!("b{i:04}");
            let mut files = Vec::new();
            let mut media = Vec::new();
            let mut text = None;
            let mut chats = vec![NEWS];
            let mut add_media =
                |files: &mut Vec<(String, Vec<u8>)>, rel: String, bytes: Vec<u8>| {
                    media.push(sha256(&bytes));
                    files.push((rel, bytes));
                };
            match i % 10 {
                4 => {
                    let t = format!("Text post {name} for everyone");
                    files.push((format!("{name}.yaml"), format!("text: {t}\n").into_bytes()));
                    text = Some(t);
                }
                5 | 6 => {
                    let photos = i % 10 == 6;
                    let extra = 1 + rng.below(2) as u32;
                    let ext = if photos { "png" } else { "pdf" };
                    let item = |j: u32, rng: &mut Rng| {
                        if photos {
                            png(300 + i as u32, 200 + j)
                        } else {
                            some_pdf(&format!("{name} page {j}"), rng)
                        }
                    };
                    let mut names = Vec::new();
                    for j in 1..=extra {
                        let rel = format!("{name}-{j}.{ext}");
                        let bytes = item(j, rng);
                        add_media(&mut files, rel.clone(), bytes);
                        names.push(rel);
                    }
                    let bytes = item(0, rng);
                    add_media(&mut files, format!("{name}.{ext}"), bytes);
                    files.push((
                        format!("{name}.yaml"),
                        format!(
                            "caption: Album {name}\nattachments: [{}]\n",
                            names.join(", ")
                        )
                        .into_bytes(),
                    ));
                }
                7 => {
                    chats = vec![ALERTS];
                    let bytes = some_pdf(&name, rng);
                    add_media(&mut files, format!("meteo/{name}.pdf"), bytes);
                    files.push((
                        format!("meteo/{name}.yaml"),
                        format!("caption: Weather {name}\n").into_bytes(),
                    ));
                }
                8 | 9 => {
                    let (channel, to) = if i % 10 == 8 {
                        ("[news, alerts]", vec![NEWS, ALERTS])
                    } else {
                        ("private", vec![PRIVATE])
                    };
                    chats = to;
                    let bytes = some_pdf(&name, rng);
                    add_media(&mut files, format!("{name}.pdf"), bytes);
                    files.push((
                        format!("{name}.yaml"),
                        format!("channel: {channel}\ncaption: Notice {name}\n").into_bytes(),
                    ));
                }
                _ => {
                    let bytes = some_pdf(&name, rng);
                    add_media(&mut files, format!("{name}.pdf"), bytes);
                    files.push((
                        format!("{name}.yaml"),
                        format!("caption: Notice {name}\n").into_bytes(),
                    ));
                }
            }
            Bundle {
                name,
                files,
                media,
                text,
                chats,
            }
        })
        .collect()
}

fn is_companion(rel: &str) -> bool {
    rel.ends_with(".receipt.yaml") || rel.ends_with(".error.txt")
}

/// What ended up in `archive/` and `failed/`: the clerks' files (folder, path, SHA-256) and the
/// receipts and reports dropcast wrote.
struct Outcome {
    files: Vec<(&'static str, String, String)>,
    companions: Vec<(&'static str, String)>,
}

fn outcome(o: &Office, hash: bool) -> Outcome {
    let mut out = Outcome {
        files: Vec::new(),
        companions: Vec::new(),
    };
    for folder in ["archive", "failed"] {
        for rel in o.files(folder) {
            if is_companion(&rel) {
                out.companions.push((folder, rel));
            } else {
                let sha = if hash {
                    sha256(&std::fs::read(o.path(folder).join(&rel)).unwrap())
                } else {
                    String::new()
                };
                out.files.push((folder, rel, sha));
            }
        }
    }
    out
}

/// Every bundle is out of the inbox and has its receipt or report.
fn all_done(o: &Office, inputs: usize, bundles: usize) -> bool {
    if !o.files("inbox").is_empty() {
        return false;
    }
    let out = outcome(o, false);
    out.files.len() == inputs && out.companions.len() >= bundles
}

fn chat_of(r: &Recorded) -> Option<i64> {
    match r.chat_id.as_deref()? {
        "@town_news" => Some(NEWS),
        "@town_alerts" => Some(ALERTS),
        id => id.parse().ok(),
    }
}

fn is_send(r: &Recorded) -> bool {
    r.method.starts_with("send") && r.method != "sendChatAction"
}

/// Successful posts made since `start`.
fn posts_since(requests: &[Recorded], start: Instant) -> usize {
    requests
        .iter()
        .filter(|r| r.at >= start && r.status == 200 && is_send(r))
        .count()
}

/// A request since `start` that got no answer (hung, or cut off).
fn unanswered_since(requests: &[Recorded], start: Instant) -> bool {
    requests.iter().any(|r| r.at >= start && r.status == 0)
}

/// Waits on the fake until `cond` holds or `limit` has passed; true if it held.
fn wait_for(o: &Office, limit: Duration, cond: impl Fn(&[Recorded]) -> bool) -> bool {
    let give_up = Instant::now() + limit;
    let held = std::cell::Cell::new(false);
    // The fake checks `cond` on every request it records and once more at the deadline, where
    // the give-up makes it hold.
    o.bot.wait_until(limit, "a kill moment", |requests| {
        if cond(requests) {
            held.set(true);
            return true;
        }
        Instant::now() >= give_up
    });
    held.get()
}

/// What the channels hold, bundle by bundle.
struct Tally {
    /// How many times each bundle's post is in each chat.
    copies: BTreeMap<(usize, i64), usize>,
    /// Message id → bundle, per chat.
    owner: HashMap<(i64, i64), usize>,
    /// Messages that belong to no bundle, or albums whose items were not all posted as often.
    anomalies: Vec<String>,
}

fn tally(o: &Office, bundles: &[Bundle]) -> Tally {
    let mut by_sha: HashMap<&str, usize> = HashMap::new();
    let mut by_text: HashMap<&str, usize> = HashMap::new();
    for (i, b) in bundles.iter().enumerate() {
        for s in &b.media {
            by_sha.insert(s, i);
        }
        if let Some(t) = &b.text {
            by_text.insert(t, i);
        }
    }
    let mut t = Tally {
        copies: BTreeMap::new(),
        owner: HashMap::new(),
        anomalies: Vec::new(),
    };
    for chat in CHATS {
        let mut per_item: HashMap<(usize, String), usize> = HashMap::new();
        for m in o.bot.chat_messages(chat) {
            let found = match (&m.kind, &m.sha256, &m.text) {
                (MessageKind::Text, _, Some(text)) => {
                    by_text.get(text.as_str()).map(|&i| (i, text.clone()))
                }
                (_, Some(sha), _) => by_sha.get(sha.as_str()).map(|&i| (i, sha.clone())),
                _ => None,
            };
            match found {
                Some((i, item)) => {
                    t.owner.insert((chat, m.message_id), i);
                    *per_item.entry((i, item)).or_default() += 1;
                }
                None => t
                    .anomalies
                    .push(format!("chat {chat}: message {m:?} belongs to no bundle")),
            }
        }
        for (i, b) in bundles.iter().enumerate() {
            let items: Vec<String> = match &b.text {
                Some(text) => vec![text.clone()],
                None => b.media.clone(),
            };
            let counts: Vec<usize> = items
                .iter()
                .map(|item| per_item.get(&(i, item.clone())).copied().unwrap_or(0))
                .collect();
            if counts.iter().any(|c| *c != counts[0]) {
                t.anomalies.push(format!(
                    "chat {chat}: the items of {} were posted {counts:?} times",
                    b.name
                ));
            }
            let n = counts.iter().copied().max().unwrap_or(0);
            if n > 0 && !b.chats.contains(&chat) {
                t.anomalies.push(format!(
                    "{} was posted to chat {chat}, not one of its own",
                    b.name
                ));
            }
            if b.chats.contains(&chat) || n > 0 {
                t.copies.insert((i, chat), n);
            }
        }
    }
    t
}

/// The office, its backlog, and what the soak did to it.
struct Soak {
    o: Office,
    bundles: Vec<Bundle>,
    inputs: Vec<String>,
    rng: Rng,
    /// When each `dropcast run` was started.
    starts: Vec<Instant>,
    lives: Vec<Daemon>,
    /// The dropcast (0, or 1 for the second server's config and journal) each run was.
    instance_of: Vec<usize>,
    /// How each run ended: `SIGKILL`, `SIGTERM`, or `running`.
    ended: Vec<&'static str>,
    /// Each dropcast's config (the office's own, then a second server's).
    configs: Vec<std::path::PathBuf>,
    seed: u64,
    /// `resend`, `fail` or `two servers`, to tell the soaks' lines apart.
    tag: &'static str,
    kills: usize,
    /// Hangs queued on the fake (each makes one request go unanswered).
    hangs: usize,
    /// What went wrong, all of it, so that one soak reports every finding at once.
    problems: Vec<String>,
}

impl Soak {
    /// An office with the backlog dropped; `extra` is more config (top-level lines).
    fn new(s: &Settings, tag: &'static str, uncertain: &str, extra: &str) -> Soak {
        let o = Office::with(&format!(
            "watch: {{settle: 200ms, poll_interval: 200ms, rescan_interval: 5m}}\nuncertain: {uncertain}\n{extra}"
        ));
        // A request that hangs (queued below, or left over at the end) is given up after 2 s
        // (4 s for an upload) rather than 30 s.
        o.edit_config("pacing: false", "pacing: false\n  timeout: 2s");
        let mut rng = Rng(s.seed);
        let bundles = backlog(s.bundles, &mut rng);
        let mut inputs = Vec::new();
        for b in &bundles {
            for (rel, bytes) in &b.files {
                o.drop_file(rel, bytes);
                inputs.push(sha256(bytes));
            }
        }
        inputs.sort();
        Soak {
            bundles,
            inputs,
            rng,
            configs: vec![o.config.clone()],
            o,
            starts: Vec::new(),
            lives: Vec::new(),
            instance_of: Vec::new(),
            ended: Vec::new(),
            seed: s.seed,
            tag,
            kills: 0,
            hangs: 0,
            problems: Vec::new(),
        }
    }

    fn done(&self) -> bool {
        all_done(&self.o, self.inputs.len(), self.bundles.len())
    }

    fn start(&mut self) -> usize {
        self.start_instance(0)
    }

    /// Starts a run of dropcast `instance` (an index into `configs`). Its requests reach the fake
    /// through a root URL of its own, `…/via/life-K`, so that they can be told apart from those
    /// of every other run.
    fn start_instance(&mut self, instance: usize) -> usize {
        let life = self.lives.len();
        let text = std::fs::read_to_string(&self.configs[instance]).unwrap();
        let url = self.o.bot.url();
        let line = format!("api_url: {url}\n");
        assert!(text.contains(&line), "no {line:?} in the config");
        let config = self.o.path(&format!("life-{life}.yaml"));
        std::fs::write(
            &config,
            text.replace(
                &line,
                &format!("api_url: {}\n", self.o.bot.url_via(&format!("life-{life}"))),
            ),
        )
        .unwrap();
        self.starts.push(Instant::now());
        self.lives.push(self.o.run_as(&config));
        self.instance_of.push(instance);
        self.ended.push("running");
        life
    }

    /// Ends run `life` with SIGKILL.
    fn kill(&mut self, life: usize) {
        let d = &mut self.lives[life];
        d.signal(libc::SIGKILL);
        d.wait_exit(Duration::from_secs(10));
        self.ended[life] = "SIGKILL";
        self.kills += 1;
    }

    /// Starts dropcast and kills it at a random moment, `kills` times, or until the backlog is
    /// done.
    fn kill_repeatedly(&mut self, kills: usize) {
        for k in 0..kills {
            if self.done() {
                break;
            }
            let life = self.start();
            let start = self.starts[life];
            let mode = self.rng.below(100);
            let rng = &mut self.rng;
            let (what, pause) = if mode < 20 {
                // Anywhere in the first 300 ms: start-up, recovery, settling, entering bundles
                // into the journal and the work folder.
                ("early".to_owned(), rng.below(300_000))
            } else if mode < 35 {
                // A request that never answers: the kill finds it in flight for sure.
                self.hangs += 1;
                self.o.bot.fail_next("sendDocument", Fault::Hang);
                let hung = wait_for(&self.o, Duration::from_secs(3), |r| {
                    unanswered_since(r, start)
                });
                (format!("hang (hung: {hung})"), rng.below(50_000))
            } else {
                self.after_some_posts(start, kills - k)
            };
            // The pause is the point: it picks the moment of the kill.
            std::thread::sleep(Duration::from_micros(pause));
            println!(
                "  [{tag}] kill {k}: run {life}, {what}, {pause} µs later, {:.0} ms after its start",
                start.elapsed().as_secs_f64() * 1000.0,
                tag = self.tag
            );
            let d = &mut self.lives[life];
            // The journal survived the previous kill: dropcast is still running, not stopped by
            // a journal error.
            assert!(
                d.child.try_wait().unwrap().is_none(),
                "dropcast run {life} exited on its own before its kill:\n{}",
                d.log()
            );
            self.kill(life);
        }
    }

    /// Waits for a random number of posts since `since`, spread so that `events` more events
    /// cover what is left of the backlog; returns what it waited for and a pause in µs to sleep
    /// before the event. The fake wakes this thread as it answers a post, before dropcast has
    /// read the answer and recorded it: a pause of a few hundred microseconds often lands the
    /// event between the two, a longer one anywhere.
    fn after_some_posts(&mut self, since: Instant, events: usize) -> (String, u64) {
        // Posts the backlog needs, roughly: one request per bundle and channel.
        let total: usize = self.bundles.iter().map(|b| b.chats.len()).sum();
        let posted = posts_since(&self.o.bot.requests(), self.starts[0]);
        let left = total.saturating_sub(posted) as u64;
        let spread = (2 * left / events.max(1) as u64 + 1).min(left.max(1));
        let target = 1 + self.rng.below(spread) as usize;
        let reached = wait_for(&self.o, Duration::from_secs(2), |r| {
            posts_since(r, since) >= target
        });
        let pause = if self.rng.percent(50) {
            self.rng.below(2_000)
        } else {
            self.rng.below(100_000)
        };
        (format!("after {target} posts (reached: {reached})"), pause)
    }

    /// With `SOAK_KEEP` set: a copy of the office (folders, journals, every run's log) for a
    /// post-mortem.
    fn keep(&self) {
        if std::env::var_os("SOAK_KEEP").is_none() {
            return;
        }
        let keep = std::env::temp_dir().join(format!("soak-{}", self.seed));
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(self.o.dir.path())
            .arg(&keep)
            .status();
        println!("soak office kept in {} ({copied:?})", keep.display());
    }

    /// One last `dropcast run` until every bundle is done, stopped with SIGTERM; then a `once`
    /// that must find nothing to do.
    fn finish(&mut self) {
        let life = self.start();
        let limit =
            Duration::from_secs(60) + Duration::from_millis(100) * self.bundles.len() as u32;
        self.finish_runs(&[life], limit);
    }

    /// Lets the running `lives` work until every bundle is done, stops them with SIGTERM (each
    /// must exit 0), then runs a `once` that must find nothing to do. Past `limit`, says what is
    /// stuck instead (and runs no `once`, which would finish it).
    fn finish_runs(&mut self, lives: &[usize], limit: Duration) {
        for &life in lives {
            // SIGTERM is only handled once dropcast is up.
            self.lives[life].wait_log("watching", Duration::from_secs(30));
        }
        let deadline = std::time::Instant::now() + limit;
        let mut finished = true;
        while !self.done() {
            if std::time::Instant::now() > deadline {
                // Said with what is stuck (the inbox, the work folders, the last logs); the
                // checks that follow say the rest.
                let office = self.o.path("");
                let mut left = Vec::new();
                walk_paths(&office.join("inbox"), &mut left);
                let tails: Vec<String> = lives
                    .iter()
                    .map(|&life| {
                        let log = self.lives[life].log();
                        let tail: Vec<&str> = log
                            .lines()
                            .filter(|l| !l.contains(" DEBUG "))
                            .rev()
                            .take(15)
                            .collect();
                        format!(
                            "--- run {life}, last log lines but debug ones:\n{}",
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                        )
                    })
                    .collect();
                self.problems.push(format!(
                    "timed out after {limit:?} waiting for every bundle archived or failed\n\
                     left in inbox: {left:#?}\n{}",
                    tails.join("\n")
                ));
                finished = false;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for &life in lives {
            let d = &mut self.lives[life];
            d.signal(libc::SIGTERM);
            let status = d.wait_exit(Duration::from_secs(10));
            self.ended[life] = "SIGTERM";
            if !status.success() {
                // The product's exit code 1 ("some bundle failed") is for `once` and `check`; a
                // service stopped by SIGTERM that exits 1 shows as failed under systemd.
                let failed = d.log().contains("moved to failed/");
                self.problems.push(format!(
                    "`dropcast run` {life} stopped by SIGTERM exited with {status} (a bundle went \
                     to failed/ during that run: {failed}); exit code 1 is for `once` and `check`"
                ));
            }
        }
        if !finished {
            // A last `once` would finish what is stuck and hide it.
            return;
        }
        let before = self.o.bot.requests().len();
        let companions = outcome(&self.o, false).companions.len();
        let out = self.o.once();
        if !out.status.success() {
            self.problems.push(format!(
                "a last `once` exited with {}:\n{}",
                out.status,
                text(&out)
            ));
        }
        let after: Vec<String> = self.o.bot.requests()[before..]
            .iter()
            .map(|r| r.method.clone())
            // Reads, not posts: who the bot is, and each channel's current public name.
            .filter(|m| m != "getMe" && m != "getChat")
            .collect();
        if !after.is_empty() {
            self.problems
                .push(format!("a last `once` still sent {after:?}"));
        }
        let now = outcome(&self.o, false).companions.len();
        if now != companions {
            self.problems.push(format!(
                "a last `once` wrote {} receipts or reports",
                now as i64 - companions as i64
            ));
        }
    }

    /// The run (index into `lives`) a request came from, by the root URL it was sent to; one
    /// past the last run for a request of none of them (the last `once`).
    fn life_of(&self, r: &Recorded) -> usize {
        r.via
            .as_deref()
            .and_then(|v| v.strip_prefix("life-"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(self.lives.len())
    }

    /// Checks what must hold whatever `uncertain` says; returns the tally of the channels.
    fn check_common(&mut self) -> Tally {
        let o = &self.o;
        let mut problems = Vec::new();
        // Nothing left in the inbox but dropcast's (empty) work folders.
        let left = o.files("inbox");
        if !left.is_empty() {
            problems.push(format!("files left in the inbox: {left:?}"));
        }
        // Every file, byte for byte, in archive/ or failed/.
        let out = outcome(o, true);
        let mut got: Vec<String> = out.files.iter().map(|(_, _, s)| s.clone()).collect();
        got.sort();
        let lost = multiset_minus(&self.inputs, &got);
        let extra = multiset_minus(&got, &self.inputs);
        if !lost.is_empty() || !extra.is_empty() {
            problems.push(format!(
                "{} files lost {lost:?}; files that were never dropped: {extra:?}; archive and \
                 failed hold {:?}",
                lost.len(),
                out.files
            ));
        }
        // Receipts and reports are whole files, never empty ones.
        let empty: Vec<String> = out
            .companions
            .iter()
            .map(|(folder, rel)| format!("{folder}/{rel}"))
            .filter(|c| std::fs::metadata(o.path(c)).is_ok_and(|m| m.len() == 0))
            .collect();
        if !empty.is_empty() {
            problems.push(format!("empty receipts or reports: {empty:?}"));
        }
        // One receipt or report per bundle, never a second one.
        let mut by_bundle: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (folder, rel) in &out.companions {
            let name = rel.rsplit('/').next().unwrap();
            let stem = name.split(['.', ' ']).next().unwrap().to_owned();
            by_bundle
                .entry(stem)
                .or_default()
                .push(format!("{folder}/{rel}"));
        }
        let repeated: Vec<(&String, &Vec<String>)> =
            by_bundle.iter().filter(|(_, c)| c.len() > 1).collect();
        if !repeated.is_empty() {
            let names: Vec<&str> = repeated.iter().map(|(s, _)| s.as_str()).collect();
            let detail: Vec<String> = repeated
                .iter()
                .take(2)
                .map(|(stem, c)| self.explain_repeat(stem, c))
                .collect();
            problems.push(format!(
                "{} bundles have more than one receipt or report: {names:?}; the first ones:\n{}",
                repeated.len(),
                detail.join("\n")
            ));
        }
        if by_bundle.len() != self.bundles.len() {
            problems.push(format!(
                "{} bundles have a receipt or report, not {}: {:?}",
                by_bundle.len(),
                self.bundles.len(),
                out.companions
            ));
        }
        // The journal survived every kill: no run reported a journal error (a run that stopped
        // on one was caught before its kill).
        for (k, d) in self.lives.iter().enumerate() {
            let log = d.log();
            let errors: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("journal") && l.contains("damaged"))
                .collect();
            if !errors.is_empty() {
                problems.push(format!("run {k} logged errors:\n{}", errors.join("\n")));
            }
        }
        let violations = o.bot.violations();
        if !violations.is_empty() {
            problems.push(format!("Bot API violations:\n{}", violations.join("\n")));
        }
        o.assert_token_never_written();
        let t = tally(o, &self.bundles);
        problems.extend(t.anomalies.iter().cloned());
        self.problems.extend(problems);
        t
    }

    /// With `uncertain: resend`: nothing in failed/, every bundle in each of its channels.
    fn check_resend(&mut self, t: &Tally) {
        let failed = self.o.files("failed");
        if !failed.is_empty() {
            self.problems.push(format!(
                "with `uncertain: resend` nothing fails, but failed/ holds {failed:?}"
            ));
        }
        let missing: Vec<String> = t
            .copies
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|((i, chat), _)| format!("{} in chat {chat}", self.bundles[*i].name))
            .collect();
        if !missing.is_empty() {
            self.problems.push(format!("never posted: {missing:?}"));
        }
    }

    /// A bundle's receipts or reports (and the files they name that are not there), and what
    /// each run logged about it.
    fn explain_repeat(&self, stem: &str, companions: &[String]) -> String {
        let mut out = String::new();
        for c in companions {
            let path = self.o.path(c);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let absent: Vec<&str> = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("- name: "))
                .filter(|n| !path.with_file_name(n.trim_matches('\'')).exists())
                .collect();
            out += &format!("--- {c} (names files that are not there: {absent:?}):\n{text}");
        }
        out += &format!("--- what the runs logged about {stem} (runs not shown logged nothing):\n");
        for (k, d) in self.lives.iter().enumerate() {
            let log = d.log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains(&format!("bundle={stem}.")))
                .collect();
            if !lines.is_empty() {
                out += &format!(
                    "--- run {k} (ended by {}):\n{}\n",
                    self.ended[k],
                    lines.join("\n")
                );
            }
        }
        out
    }

    /// The requests that made each bundle's copies in a chat, in order, with their index.
    fn requests_of(&self, t: &Tally) -> BTreeMap<(usize, i64), Vec<(usize, Recorded)>> {
        let mut out: BTreeMap<(usize, i64), Vec<(usize, Recorded)>> = BTreeMap::new();
        for (n, r) in self.o.bot.requests().into_iter().enumerate() {
            let Some(chat) = chat_of(&r) else { continue };
            let Some(&i) = r
                .message_ids
                .iter()
                .find_map(|id| t.owner.get(&(chat, *id)))
            else {
                continue;
            };
            out.entry((i, chat)).or_default().push((n, r));
        }
        out
    }

    /// The last request each killed run made to each chat, by index: the sender of a chat is
    /// sequential, so only that one can have been posted without dropcast recording it.
    fn last_requests(&self, all: &[Recorded]) -> HashMap<(usize, i64), usize> {
        let mut last: HashMap<(usize, i64), usize> = HashMap::new();
        for (n, r) in all.iter().enumerate() {
            let Some(chat) = chat_of(r) else { continue };
            let key = (self.life_of(r), chat);
            if last.get(&key).is_none_or(|&m| all[m].at <= r.at) {
                last.insert(key, n);
            }
        }
        last.retain(|(life, _), _| *life + 1 < self.lives.len());
        last
    }
}

/// `a` less `b`, both sorted.
fn multiset_minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut left: HashMap<&String, usize> = HashMap::new();
    for x in b {
        *left.entry(x).or_default() += 1;
    }
    a.iter()
        .filter(|x| match left.get_mut(x) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .cloned()
        .collect()
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_repeats_only_what_was_in_flight() {
    let began = Instant::now();
    let s = settings("uncertain: resend", 1);
    let mut soak = Soak::new(&s, "resend", "resend", "");
    soak.kill_repeatedly(s.kills);
    soak.finish();
    let t = soak.check_common();
    soak.check_resend(&t);

    // Every second copy is explained by a kill: the first copy was the last request its run
    // made to that channel (dropcast could not have recorded it), and the next copy came from a
    // later run.
    let all = soak.o.bot.requests();
    let last = soak.last_requests(&all);
    let mut duplicates = Vec::new();
    for ((i, chat), reqs) in soak.requests_of(&t) {
        for pair in reqs.windows(2) {
            let ((n1, r1), (_, r2)) = (&pair[0], &pair[1]);
            let (l1, l2) = (soak.life_of(r1), soak.life_of(r2));
            let what = format!(
                "{} in chat {chat}: request #{n1} from run {l1}, again from run {l2}",
                soak.bundles[i].name
            );
            if l1 < l2 && last.get(&(l1, chat)) == Some(n1) {
                duplicates.push((l1, chat, what));
            } else {
                soak.problems
                    .push(format!("posted twice without a kill in between: {what}"));
            }
        }
    }
    let copies_extra: usize = t.copies.values().map(|n| n.saturating_sub(1)).sum();
    assert!(copies_extra >= duplicates.len());
    // At most one request per channel is in flight when a kill lands.
    if duplicates.len() > soak.kills * CHATS.len() {
        soak.problems.push(format!(
            "{} duplicates for {} kills",
            duplicates.len(),
            soak.kills
        ));
    }
    // Kills that caught a request in flight: the last request of the run to a channel got no
    // answer, or was posted and posted again.
    let caught = last
        .iter()
        .filter(|((life, chat), n)| {
            all[**n].status == 0 || duplicates.iter().any(|(l, c, _)| l == life && c == chat)
        })
        .count();
    let lines: Vec<String> = duplicates.into_iter().map(|(_, _, d)| d).collect();
    report(&soak, &all, caught, &lines, 0, began, "");
}

#[test]
fn kill_9_with_uncertain_fail_never_posts_twice() {
    let began = Instant::now();
    let s = settings("uncertain: fail", 2);
    let mut soak = Soak::new(&s, "fail", "fail", "");
    soak.kill_repeatedly(s.kills);
    soak.finish();
    let t = soak.check_common();

    for ((i, chat), n) in &t.copies {
        if *n > 1 {
            soak.problems.push(format!(
                "posted {n} times with `uncertain: fail`: {} in chat {chat}",
                soak.bundles[*i].name
            ));
        }
    }
    // A bundle in failed/ is there because a request of it was in flight at a kill (or hung):
    // its report says it may have been posted, its files are there byte for byte, and it is in
    // each channel at most once (checked above). Every other bundle is in each of its channels
    // exactly once.
    let failed = soak.o.files("failed");
    let mut uncertain = 0;
    for (i, b) in soak.bundles.iter().enumerate() {
        let report = format!("{}.error.txt", b.name);
        if failed.contains(&report) {
            uncertain += 1;
            let text = std::fs::read_to_string(soak.o.path("failed").join(&report)).unwrap();
            if !text.contains("not certain that the post reached")
                || !text.contains("Look at the channel")
            {
                soak.problems.push(format!(
                    "{report} does not say it may have been posted:\n{text}"
                ));
            }
            for (rel, bytes) in &b.files {
                let name = rel.rsplit('/').next().unwrap();
                if std::fs::read(soak.o.path("failed").join(name))
                    .ok()
                    .as_ref()
                    != Some(bytes)
                {
                    soak.problems
                        .push(format!("{name} is not in failed/ as it was dropped"));
                }
            }
        } else {
            for chat in &b.chats {
                let n = t.copies.get(&(i, *chat)).copied().unwrap_or(0);
                if n != 1 {
                    soak.problems.push(format!(
                        "{} was archived but is in chat {chat} {n} times",
                        b.name
                    ));
                }
            }
        }
    }
    if uncertain > soak.kills * CHATS.len() + soak.hangs {
        soak.problems.push(format!(
            "{uncertain} uncertain bundles for {} kills and {} hung requests",
            soak.kills, soak.hangs
        ));
    }
    let all = soak.o.bot.requests();
    let caught = soak
        .last_requests(&all)
        .values()
        .filter(|n| all[**n].status == 0)
        .count();
    report(&soak, &all, caught, &[], uncertain, began, "");
}

/// Two dropcasts on one share (issue 12), either of them killed or frozen at random moments
/// (tests/soak/two_servers.rs): nothing lost, every bundle in each of its channels, one receipt
/// each, and a second copy only where a kill or a takeover caught its request in flight.
#[test]
fn two_servers_with_kills_and_freezes_lose_nothing() {
    let began = Instant::now();
    let s = settings("two servers", 1);
    let mut soak = Soak::new(&s, "two servers", "resend", two_servers::CONFIG);
    let (events, running) = soak.disrupt_two_servers(s.kills);
    // The paced backlog takes about 3 s per 20 posts to a channel; what is not done well after
    // that is stuck.
    let limit = Duration::from_secs(20) + Duration::from_millis(200) * soak.bundles.len() as u32;
    soak.finish_runs(&running, limit);
    let t = soak.check_common();
    soak.check_resend(&t);
    let all = soak.o.bot.requests();
    let (duplicates, caught) = soak.explain_duplicates(&t, &events, &all);
    let more = soak.two_server_figures(&events);
    report(&soak, &all, caught, &duplicates, 0, began, &more);
}

/// Prints the figures of a soak, then fails with every problem found.
fn report(
    soak: &Soak,
    all: &[Recorded],
    caught: usize,
    duplicates: &[String],
    uncertain: usize,
    began: Instant,
    more: &str,
) {
    let sends = all.iter().filter(|r| is_send(r)).count();
    let unanswered = all.iter().filter(|r| r.status == 0).count();
    let files: usize = soak.bundles.iter().map(|b| b.files.len()).sum();
    let out = outcome(&soak.o, true);
    let mut got: Vec<String> = out.files.iter().map(|(_, _, s)| s.clone()).collect();
    got.sort();
    let lost = multiset_minus(&soak.inputs, &got).len();
    println!(
        "soak [{}] figures: {} bundles ({files} files), {} kills ({} hangs queued), {} runs, \
         {} requests ({sends} posts, {unanswered} unanswered), {caught} kills (or takeovers) \
         caught a request in flight, {} duplicates, {uncertain} failed as uncertain, {lost} files lost, {} \
         problems, {:.1} s",
        soak.tag,
        soak.bundles.len(),
        soak.kills,
        soak.hangs,
        soak.starts.len(),
        all.len(),
        duplicates.len(),
        soak.problems.len(),
        began.elapsed().as_secs_f64()
    );
    if !more.is_empty() {
        println!("  [{}] {more}", soak.tag);
    }
    for d in duplicates {
        println!("  [{}] duplicate: {d}", soak.tag);
    }
    if !soak.problems.is_empty() {
        soak.keep();
    }
    assert!(
        soak.problems.is_empty(),
        "the soak found {} problem(s):\n\n{}",
        soak.problems.len(),
        soak.problems.join("\n\n")
    );
}

fn walk_paths(dir: &std::path::Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk_paths(&p, out);
        } else if !is_lease(&p) {
            out.push(p.display().to_string());
        }
    }
}
