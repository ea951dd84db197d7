//! Issue 12's takeovers, written once and run wherever the share is: the active dropcast killed
//! with `kill -9` in the middle of a backlog, and an owner frozen (`SIGSTOP`) past
//! `lease_timeout`. tests/standby.rs runs them on a local folder and on a FUSE share (bindfs),
//! tests/smb.rs on a real SMB share. A [`Site`] says where the clerks drop their files and where
//! the office's folders really are. With `TAKEOVER_LOGS=1` the kill -9 scenario prints both
//! servers' logs when the receipts are not as they should be.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Daemon, Office, files_under, pdf, sha256, wait_until};

/// What the offices of these scenarios add to their config.
pub const LEASE_TIMEOUT_LINE: &str = "lease_timeout: 1500ms\n";
pub const LEASE_TIMEOUT: Duration = Duration::from_millis(1500);
/// How many bundles the kill -9 scenario drops: all of them to one channel.
const BUNDLES: usize = 20;
/// Room for a loaded 2-core machine; on SMB every look at a file is a round trip.
const LONG: Duration = Duration::from_secs(40);

pub const ACTIVE: &str = "active: this dropcast holds the lease";
pub const STANDBY: &str = "standby: another dropcast posts from this inbox";
pub const TAKING_OVER: &str = "has not moved for lease_timeout: taking over";
pub const TAKEN: &str = "the lease of this inbox was taken: stopping at once; standby";

/// Writes a file into the inbox (name relative to it) as a clerk does.
type Put<'a> = dyn Fn(&str, &[u8]) + 'a;

/// Where a scenario's files are dropped, and where it looks for them afterwards.
pub struct Site<'a> {
    /// Said in the figures each scenario prints.
    pub name: &'static str,
    put: Box<Put<'a>>,
    /// The inbox as dropcast's config names it (and its log says).
    pub configured_inbox: PathBuf,
    /// The inbox, archive and failed folders as the file server's own disk holds them: no
    /// client cache between them and the test.
    pub inbox: PathBuf,
    pub archive: PathBuf,
    pub failed: PathBuf,
}

impl<'a> Site<'a> {
    /// The office's own local folders.
    pub fn local(o: &'a Office) -> Site<'a> {
        Site::new(
            "a local folder",
            move |rel, bytes| {
                o.drop_file(rel, bytes);
            },
            o.path("inbox"),
            o.path("inbox"),
            o.path("archive"),
            o.path("failed"),
        )
    }

    /// `put(inbox-relative name, bytes)` writes a file as a clerk does.
    pub fn new(
        name: &'static str,
        put: impl Fn(&str, &[u8]) + 'a,
        configured_inbox: PathBuf,
        inbox: PathBuf,
        archive: PathBuf,
        failed: PathBuf,
    ) -> Site<'a> {
        Site {
            name,
            put: Box::new(put),
            configured_inbox,
            inbox,
            archive,
            failed,
        }
    }

    /// A PDF and its sidecar named `name`, dropped as a clerk does; returns the PDF's SHA-256.
    pub fn bundle(&self, name: &str) -> String {
        let doc = pdf(name);
        (self.put)(&format!("{name}.pdf"), &doc);
        (self.put)(
            &format!("{name}.yaml"),
            format!("caption: notice {name}\n").as_bytes(),
        );
        sha256(&doc)
    }

    /// How many receipts the archive holds.
    pub fn receipts(&self) -> usize {
        files_under(&self.archive)
            .iter()
            .filter(|f| f.ends_with(".receipt.yaml"))
            .count()
    }

    /// Whether `d` has said that it holds the lease of this site's inbox (not of another inbox
    /// of the config, such as `inbox/scanner`).
    pub fn active_here(&self, d: &Daemon) -> bool {
        let inbox = format!("inbox={} ", self.configured_inbox.display());
        d.log()
            .lines()
            .any(|l| l.contains(ACTIVE) && l.contains(&inbox))
    }
}

/// The receipts of a kill -9 scenario's bundles: what is wrong with them, if anything.
struct Receipts {
    /// Bundles whose files are in the archive without a receipt.
    missing: Vec<String>,
    /// Receipts beyond the first of a bundle (`NAME (2).receipt.yaml`).
    extra: Vec<String>,
    /// Files left in the inbox (travelling receipts in a work folder).
    left: Vec<String>,
}

impl Receipts {
    fn of<'n>(site: &Site, names: impl Iterator<Item = &'n String>) -> Receipts {
        let archive = files_under(&site.archive);
        let name_of = |f: &str| f.rsplit('/').next().unwrap_or(f).to_string();
        let mut missing: Vec<String> = names
            .filter(|n| {
                !archive
                    .iter()
                    .any(|f| name_of(f) == format!("{n}.receipt.yaml"))
            })
            .cloned()
            .collect();
        missing.sort();
        let extra = archive
            .iter()
            .map(|f| name_of(f))
            .filter(|f| f.ends_with(").receipt.yaml"))
            .collect();
        Receipts {
            missing,
            extra,
            left: files_under(&site.inbox),
        }
    }

    fn exact(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.left.is_empty()
    }
}

impl std::fmt::Display for Receipts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "archived without a receipt: {:?}, second receipts: {:?}, left in the inbox: {:?}",
            self.missing, self.extra, self.left
        )
    }
}

/// Whether `cond` comes to hold within `limit` (polled every 20 ms).
fn holds_within(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Prints a figure on the process's stderr, so that it shows without `--nocapture`.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Two servers; the active one is killed with SIGKILL in the middle of a backlog of 20 bundles
/// to one channel. The standby takes the inbox over and finishes: every bundle posted, none in
/// failed/, the inbox empty. `o` is a fresh office of this site whose config has
/// [`LEASE_TIMEOUT_LINE`].
pub fn kill_the_active_server_mid_backlog(o: &Office, site: &Site) {
    let second = o.second_server("standby");
    // Paced (time compressed 20 times): the backlog takes about a second, so that the kill lands
    // in its middle.
    o.set_env("DROPCAST_PACING_SCALE", "0.05");
    o.edit_config("pacing: false", "pacing: true");
    let mut a = o.run();
    wait_until(LONG, "the first server active", || site.active_here(&a));
    let b = o.run_as(&second);
    b.wait_log(STANDBY, LONG);
    let mut names = std::collections::HashMap::new();
    for i in 0..BUNDLES {
        let name = format!("k{i:02}");
        names.insert(site.bundle(&name), name);
    }
    let mut expected: Vec<String> = names.keys().cloned().collect();
    expected.sort();
    o.bot.wait_until(LONG, "some posts", |r| {
        r.iter().filter(|r| r.method == "sendDocument").count() >= 5
    });
    let killed = Instant::now();
    a.signal(libc::SIGKILL);
    a.wait_exit(LONG);
    wait_until(LONG, "the standby active", || site.active_here(&b));
    let took = killed.elapsed();

    // Every bundle posted, and every file of the clerks out of the inbox and in the archive.
    let clerks = |files: Vec<String>| -> Vec<String> {
        files
            .into_iter()
            .filter(|f| !f.ends_with(".receipt.yaml"))
            .collect()
    };
    let done = || {
        let mut got = o.documents_posted();
        got.dedup();
        got == expected
            && clerks(files_under(&site.archive)).len() == 2 * BUNDLES
            && clerks(files_under(&site.inbox)).is_empty()
    };
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < LONG,
            "{}: not every bundle posted and archived: {} posts, inbox {:?}, archive {:?}\n\
             --- killed server ---\n{}\n--- standby ---\n{}",
            site.name,
            o.documents_posted().len(),
            files_under(&site.inbox),
            files_under(&site.archive),
            a.log(),
            b.log()
        );
        // The poll interval of a wait with a deadline, not a pause to let things happen.
        std::thread::sleep(Duration::from_millis(50));
    }
    // A receipt is named when its batch is flushed, right after the batch's files are moved,
    // and the one that travelled in the work folder is removed.
    holds_within(Duration::from_secs(5), || {
        site.receipts() == BUNDLES && files_under(&site.inbox).is_empty()
    });
    let receipts = Receipts::of(site, names.values());
    let posted = o.documents_posted();
    let mut twice: Vec<&str> = posted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| names[&w[0]].as_str())
        .collect();
    twice.sort();
    twice.dedup();
    say(&format!(
        "{}: kill -9 of the active server: the standby active {took:?} later (the owner ran on \
         this machine and is gone); {} posts for {BUNDLES} bundles, posted twice: {twice:?}; \
         {receipts}",
        site.name,
        posted.len()
    ));
    if !receipts.exact() && std::env::var_os("TAKEOVER_LOGS").is_some() {
        say(&format!(
            "--- killed ---\n{}\n--- standby ---\n{}",
            a.log(),
            b.log()
        ));
    }
    assert!(posted.len() >= BUNDLES);
    // At most the bundle whose request was in flight goes out twice (one channel here): the
    // sent log in the work folder tells the standby what the killed server posted, even in the
    // moment before its travelling receipt was written.
    assert!(
        posted.len() <= BUNDLES + 1,
        "{}: more than the one bundle in flight posted twice: {twice:?}",
        site.name
    );
    // Every bundle archived with exactly one receipt, nothing left in the inbox: a kill between
    // the archive's moves and the naming of its receipts is finished by the new owner
    // (`spool::settle_posted`), and what the dead owner's file server carries out after the
    // takeover is adopted at the new owner's next look.
    assert!(
        receipts.exact(),
        "{}: {receipts}\n--- killed server ---\n{}\n--- standby ---\n{}",
        site.name,
        a.log(),
        b.log()
    );
    let failed = files_under(&site.failed);
    assert!(failed.is_empty(), "{}: {failed:?}", site.name);
    o.bot.assert_clean();
}

/// Two servers; the active one is frozen (SIGSTOP) past `lease_timeout`. The standby takes over
/// (no sooner than `lease_timeout`) and posts what is dropped meanwhile; woken (SIGCONT), the old
/// owner finds its lease taken and touches nothing; no bundle is posted twice. `o` as for
/// [`kill_the_active_server_mid_backlog`].
pub fn freeze_the_owner_past_lease_timeout(o: &Office, site: &Site) {
    let second = o.second_server("standby");
    let a = o.run();
    wait_until(LONG, "the first server active", || site.active_here(&a));
    let mut b = o.run_as(&second);
    b.wait_log(STANDBY, LONG);

    let frozen = Instant::now();
    a.signal(libc::SIGSTOP);
    b.wait_log(TAKING_OVER, LONG);
    wait_until(LONG, "the standby active", || site.active_here(&b));
    let took = frozen.elapsed();
    say(&format!(
        "{}: takeover of a frozen owner: {took:?} after SIGSTOP (lease_timeout {LEASE_TIMEOUT:?}, \
         a look every {:?})",
        site.name,
        LEASE_TIMEOUT / 6
    ));
    assert!(
        took >= LEASE_TIMEOUT,
        "{}: taken over before lease_timeout: {took:?}",
        site.name
    );
    let first = site.bundle("while-frozen");
    wait_until(LONG, "posted by the new owner", || {
        o.documents_posted() == vec![first.clone()]
    });
    a.signal(libc::SIGCONT);
    a.wait_log(TAKEN, LONG);
    let later = site.bundle("after-the-thaw");
    wait_until(LONG, "both archived", || site.receipts() == 2);
    wait_until(LONG, "the inbox empty", || {
        files_under(&site.inbox).is_empty()
    });
    let mut expected = vec![first, later];
    expected.sort();
    assert_eq!(o.documents_posted(), expected, "{}", site.name);
    assert!(
        !a.log().contains("ready to post"),
        "{}: the frozen owner took a bundle:\n{}",
        site.name,
        a.log()
    );
    let failed = files_under(&site.failed);
    assert!(failed.is_empty(), "{}: {failed:?}", site.name);
    b.signal(libc::SIGTERM);
    b.wait_exit(LONG);
    o.bot.assert_clean();
}
