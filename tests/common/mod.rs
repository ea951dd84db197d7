//! The integration-test harness: a temporary office (inbox, archive, failed, state), a config
//! pointing at a fake Bot API on 127.0.0.1, and helpers to run the real `dropcast` binary.
#![allow(dead_code, unreachable_pub)]

pub mod bindfs;
pub mod fake_bot;
pub mod smb;
pub mod takeover;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_bot::FakeBot;
use sha2::{Digest, Sha256};

/// Shaped like a real bot token, so that both exact and pattern-based leaks are caught.
pub const TOKEN: &str = "987654321:AAF-leak-canary-TOKEN_do_not_print_0123";

pub const BIN: &str = env!("CARGO_BIN_EXE_dropcast");

/// A temporary office with one inbox and a fake Telegram.
pub struct Office {
    pub dir: tempfile::TempDir,
    pub bot: FakeBot,
    pub config: PathBuf,
    logs: std::sync::Mutex<Vec<PathBuf>>,
    env: std::sync::Mutex<Vec<(String, String)>>,
}

impl Office {
    /// An office whose config is the default one plus `extra` YAML lines at top level, with
    /// `settle` short enough for tests.
    pub fn new() -> Office {
        Office::with("watch: {settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}\n")
    }

    pub fn with(extra: &str) -> Office {
        Office::with_bot(Office::bot().start(), extra)
    }

    /// The office's fake Telegram, with its three channels, to be started.
    pub fn bot() -> fake_bot::FakeBotBuilder {
        FakeBot::builder(TOKEN)
            .channel("@town_news", -1001234567890)
            .channel("@town_alerts", -1001111111111)
            .channel_private(-1009876543210)
    }

    /// An office whose Telegram enforces the flood limits and whose dropcast paces itself, both
    /// with time compressed by `scale`.
    pub fn paced(scale: f64, extra: &str) -> Office {
        let o = Office::with_bot(Office::bot().rate_limits(scale).start(), extra);
        o.edit_config("pacing: false", "pacing: true");
        o.set_env("DROPCAST_PACING_SCALE", &scale.to_string());
        o
    }

    /// Replaces text in the config file.
    pub fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        assert!(text.contains(from), "{from:?} not in the config");
        std::fs::write(&self.config, text.replacen(from, to, 1)).unwrap();
    }

    /// An environment variable for every dropcast started from now on.
    pub fn set_env(&self, key: &str, value: &str) {
        self.env.lock().unwrap().push((key.into(), value.into()));
    }

    pub fn with_bot(bot: FakeBot, extra: &str) -> Office {
        let dir = tempfile::tempdir().unwrap();
        // The folders `dropcast init` lays out: dropcast itself creates none of them.
        for folder in ["inbox/scanner", "archive", "failed", "scheduled"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        }
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        let config = dir.path().join("dropcast.yaml");
        let office = Office {
            dir,
            bot,
            config,
            logs: Default::default(),
            env: Default::default(),
        };
        office.write_config(extra);
        office
    }

    /// Rewrites the config with `extra` top-level lines (they may override the defaults' keys
    /// only where the defaults do not set them: `watch`, `language`, `uncertain`, ...).
    pub fn write_config(&self, extra: &str) {
        let text = format!(
            "telegram:\n  token_file: token\n  api_url: {}\n  pacing: false\n\
             channels:\n  news: \"@town_news\"\n  alerts: \"@town_alerts\"\n  private: -1009876543210\n\
             inboxes:\n  - path: inbox\n    channel: news\n    channels: {{meteo: alerts}}\n\
             \x20 - path: inbox/scanner\n    channel: alerts\n    sidecar: optional\n    sidecar_wait: 1s\n    caption: \"Scan {{stem}}\"\n\
             archive: archive\nfailed: failed\nscheduled: scheduled\nstate_dir: state\ntimezone: Europe/Rome\n{extra}",
            self.bot.url()
        );
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn inbox(&self, rel: &str) -> PathBuf {
        self.path("inbox").join(rel)
    }

    /// Writes a file into the inbox (creating folders).
    pub fn drop_file(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.inbox(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_with(args, &self.config)
    }

    fn command_with(&self, args: &[&str], config: &Path) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .arg("--config")
            .arg(config)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "debug")
            .env_remove("DROPCAST_CONFIG");
        for (k, v) in self.env.lock().unwrap().iter() {
            c.env(k, v);
        }
        c
    }

    /// Runs `dropcast <args> --config …` to completion.
    pub fn cmd(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        let child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_with_deadline(child, Duration::from_secs(60));
        self.remember(&out);
        out
    }

    /// `dropcast once`.
    pub fn once(&self) -> Output {
        self.cmd(&["once"])
    }

    fn remember(&self, out: &Output) {
        let n = self.logs.lock().unwrap().len();
        let p = self.dir.path().join(format!("output-{n}.log"));
        let mut all = out.stdout.clone();
        all.extend_from_slice(&out.stderr);
        std::fs::write(&p, all).unwrap();
        self.logs.lock().unwrap().push(p);
    }

    /// Starts `dropcast run` in the background; its output goes to a log file.
    pub fn run(&self) -> Daemon {
        self.run_as(&self.config.clone())
    }

    /// A second server on the same share: the same config but its own journal (`state_dir`),
    /// as when a town hall runs a standby or moves dropcast to a new machine. Returns its config.
    pub fn second_server(&self, name: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.config).unwrap();
        assert!(text.contains("state_dir: state\n"));
        let config = self.path(&format!("{name}.yaml"));
        std::fs::write(
            &config,
            text.replace("state_dir: state\n", &format!("state_dir: state-{name}\n")),
        )
        .unwrap();
        config
    }

    /// The SHA-256 of every document Telegram accepted, sorted (one entry per post).
    pub fn documents_posted(&self) -> Vec<String> {
        let mut shas: Vec<String> = self
            .bot
            .requests()
            .iter()
            .filter(|r| r.method == "sendDocument" && r.status == 200)
            .filter_map(|r| r.file("document").map(|f| f.sha256.clone()))
            .collect();
        shas.sort();
        shas
    }

    /// This office's dropcast, then a second server on the same share (its own journal), once
    /// the first holds the lease and the second stands by.
    pub fn two_servers(&self) -> (Daemon, Daemon) {
        let second = self.second_server("new-server");
        let a = self.run();
        a.wait_log(
            "active: this dropcast holds the lease",
            Duration::from_secs(40),
        );
        let b = self.run_as(&second);
        b.wait_log(
            "standby: another dropcast posts from this inbox",
            Duration::from_secs(40),
        );
        (a, b)
    }

    /// `dropcast run` with another config (see [`Office::second_server`]).
    pub fn run_as(&self, config: &Path) -> Daemon {
        let n = self.logs.lock().unwrap().len();
        let log = self.dir.path().join(format!("output-{n}.log"));
        self.logs.lock().unwrap().push(log.clone());
        let f = std::fs::File::create(&log).unwrap();
        let child = self
            .command_with(&["run"], config)
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    /// Every file under a folder of the office, relative to it, sorted.
    pub fn files(&self, rel: &str) -> Vec<String> {
        files_under(&self.path(rel))
    }

    /// The one archive month folder files go to now.
    pub fn archive_month(&self) -> PathBuf {
        archive_month_in(&self.path("archive"))
    }

    /// What a reader must leave unchanged in `state/`: the journal's and its WAL's size, mtime
    /// and SHA-256, and the WAL index's size (readers take read locks in it, so its bytes may
    /// change). A missing file is `None`.
    pub fn journal_fingerprint(&self) -> Vec<(String, Option<String>)> {
        let file = |name: &str, hash: bool| {
            let path = self.path("state").join(name);
            let md = std::fs::metadata(&path).ok()?;
            Some(if hash {
                format!(
                    "{} bytes, modified {:?}, sha256 {}",
                    md.len(),
                    md.modified().unwrap(),
                    sha256(&std::fs::read(&path).unwrap())
                )
            } else {
                format!("{} bytes", md.len())
            })
        };
        vec![
            ("journal.sqlite".into(), file("journal.sqlite", true)),
            (
                "journal.sqlite-wal".into(),
                file("journal.sqlite-wal", true),
            ),
            (
                "journal.sqlite-shm".into(),
                file("journal.sqlite-shm", false),
            ),
        ]
    }

    /// Asserts that the token appears in no output, log, receipt, report or journal.
    pub fn assert_token_never_written(&self) {
        let mut leaks = Vec::new();
        walk(self.dir.path(), &mut |p| {
            if p.file_name()
                .is_some_and(|n| n == "token" || n == "dropcast.yaml")
            {
                return;
            }
            let bytes = std::fs::read(p).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            if text.contains(TOKEN) || text.contains(&TOKEN[10..]) {
                leaks.push(p.display().to_string());
            }
        });
        assert!(leaks.is_empty(), "the token was written to {leaks:?}");
    }
}

/// The month folder of `archive` that files go to now (the offices' zone is Europe/Rome).
pub fn archive_month_in(archive: &Path) -> PathBuf {
    let now = jiff::Timestamp::now().in_tz("Europe/Rome").unwrap();
    archive
        .join(now.strftime("%Y").to_string())
        .join(now.strftime("%m").to_string())
}

/// Every file under `dir` (not the inboxes' leases), relative to it, sorted; none when `dir`
/// cannot be read.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, &mut |p| {
        out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
    });
    out.sort();
    out
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, f);
        } else if !is_lease(&p) {
            f(&p);
        }
    }
}

/// Says on stderr, so that nobody misses it, that this test did not run here, and what it
/// `needs`. Written to the process's stderr itself: the test harness would swallow `eprintln!`
/// of a passing test.
pub fn skip(why: &str, needs: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!!!! SKIPPED {test}: {why}\n!!!!!!!!!! it needs {needs}; it did NOT run and proves \
         nothing here\n"
    );
}

/// A free port on 127.0.0.1 (taken, then released for the caller to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 GET on 127.0.0.1, returning (status line, body).
pub fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// An inbox's lease (`INBOX/.dropcast/lease`, and its temporary while it is renewed): dropcast's
/// own bookkeeping, not a clerk's file.
pub fn is_lease(p: &Path) -> bool {
    let name = p.file_name().unwrap_or_default().to_string_lossy();
    p.parent().and_then(Path::file_name) == Some(std::ffi::OsStr::new(".dropcast"))
        && (name == "lease" || (name.starts_with(".lease-") && name.ends_with(".tmp")))
}

fn wait_with_deadline(mut child: Child, limit: Duration) -> Output {
    // Drain both pipes while waiting: a chatty run must never block on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "dropcast did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.join().unwrap_or_default()),
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
        // The poll interval of a wait with a deadline, not a pause to let things happen.
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A running `dropcast run`; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (SIGTERM, SIGKILL, ...).
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to exit, with a deadline.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "dropcast did not exit within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, limit: Duration) {
        wait_until(limit, &format!("log line {needle:?}"), || {
            self.log().contains(needle)
        });
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 20 ms until it holds; panics with `what` at the deadline.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A small but real-looking PDF, distinct per `seed`.
pub fn pdf(seed: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% {seed}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

/// A PNG header (signature and IHDR) of the given size, followed by filler bytes.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend_from_slice(&13u32.to_be_bytes());
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0]);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&[0u8; 64]);
    v
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A wall-clock time `secs` from now in Europe/Rome (the offices' zone), for `publish_at`.
pub fn local_in(secs: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs);
    t.in_tz("Europe/Rome")
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// A GIF header of the given size.
pub fn gif(width: u16, height: u16) -> Vec<u8> {
    let mut v = b"GIF89a".to_vec();
    v.extend_from_slice(&width.to_le_bytes());
    v.extend_from_slice(&height.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&[0x3B]);
    v
}
