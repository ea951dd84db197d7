//! One share, one poster: a lease per inbox, in `INBOX/.dropcast/lease`. The owner (host, pid,
//! an instance id) advances a counter in it every `lease_timeout / 6` by writing a temporary file
//! and renaming it over the lease (this works on SMB and NFS, where `flock` cannot be trusted). A
//! second dropcast that finds a live lease stands by: it touches nothing in that inbox. It takes
//! the inbox over when the counter has not moved for `lease_timeout` as measured by its *own*
//! monotonic clock (clocks of different machines are never compared), with a fencing number one
//! higher than the old owner's. An owner reads its lease again before every batch of moves out of
//! the inbox and stops acting on the inbox at once when it finds it taken.
//!
//! The window leases cannot close: an owner frozen for longer than `lease_timeout` (a VM paused,
//! `SIGSTOP`) that wakes in the middle of a step may finish that one step before it reads the
//! lease again. dropcast narrows it by reading the lease right before each irreversible step (a
//! batch of moves, each request to Telegram) and by writing its fencing number into the receipt
//! that travels with each posted bundle, so that whoever comes later can tell under whose lease
//! the work in a folder was done.
//!
//! Architecture Invariant: no file of an inbox is moved, and no request is made for a bundle of
//! an inbox, unless this dropcast holds the inbox's lease.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Config;

/// What the lease file holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lease {
    pub host: String,
    pub pid: u32,
    pub instance: String,
    /// Advanced by the owner every few seconds: a standby watches it move.
    pub counter: u64,
    /// One higher at every takeover: written into the owner's work folder names.
    pub fence: u64,
    /// The owner stopped cleanly and handed the inbox on: no need to wait for the timeout.
    #[serde(default)]
    pub released: bool,
    /// Which running system the owner's pid belongs to (boot id and pid namespace): only there
    /// does "its pid is gone" mean the owner is gone.
    #[serde(default)]
    pub machine: String,
}

/// Who this dropcast is, for the lease.
#[derive(Debug, Clone)]
pub struct Me {
    pub host: String,
    pub pid: u32,
    pub instance: String,
    /// The boot id of the kernel and the pid namespace this process runs in.
    pub machine: String,
}

impl Me {
    pub fn new() -> Me {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let pid = std::process::id();
        let nanos = jiff::Timestamp::now().as_nanosecond();
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        let pidns = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Me {
            instance: format!("{:x}", (nanos as u64) ^ ((pid as u64) << 40)),
            host,
            pid,
            machine: if boot.trim().is_empty() || pidns.is_empty() {
                String::new()
            } else {
                format!("{}/{pidns}", boot.trim())
            },
        }
    }

    fn lease(&self, counter: u64, fence: u64) -> Lease {
        Lease {
            host: self.host.clone(),
            pid: self.pid,
            instance: self.instance.clone(),
            counter,
            fence,
            released: false,
            machine: self.machine.clone(),
        }
    }
}

impl Default for Me {
    fn default() -> Self {
        Me::new()
    }
}

/// This dropcast's part in one inbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Role {
    /// Not decided yet (the first look, or a lease written and not confirmed).
    Starting,
    /// This dropcast holds the lease, with this fencing number.
    Active { fence: u64 },
    /// Another dropcast holds it: this one touches nothing here.
    Standby { host: String, pid: u32 },
}

struct InboxLease {
    path: PathBuf,
    role: Role,
    /// The fencing number of the last lease seen, for the next one.
    last_fence: u64,
    /// The other owner's counter and when (on our clock) it was first seen at that value.
    watched: Option<(String, u64, Instant)>,
    /// Written by us and waiting to be confirmed on the next look.
    written: Option<Lease>,
    /// Active, and announced to the watcher ([`Leases::announce`]): its work adopted and this
    /// journal's own files back in their work folders.
    announced: bool,
}

/// A line of the reports: which inbox, and who posts from it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeaseReport {
    pub inbox: PathBuf,
    pub role: Role,
}

/// The leases of this dropcast's inboxes.
pub struct Leases {
    /// A dry run holds no lease and writes none: every inbox counts as its own.
    off: bool,
    me: Me,
    timeout: Duration,
    inboxes: Mutex<Vec<InboxLease>>,
    /// Counts the changes of role: the watcher rescans at each. A watch channel and not a
    /// `Notify`: a change made while the watcher is busy elsewhere is still seen at its next
    /// wait (`notify_waiters` keeps nothing for a waiter that comes later).
    changes: tokio::sync::watch::Sender<u64>,
    /// Told (once per takeover, after the adoption of the inboxes gained) so that the preparer
    /// starts again the deliveries of this dropcast's own journal that it had to leave.
    pub regained: tokio::sync::Notify,
}

/// Where an inbox's lease lives.
pub fn lease_path(inbox: &Path) -> PathBuf {
    inbox.join(".dropcast").join("lease")
}

/// Reads a lease file; `None` when there is none (or it cannot be read as one: a half-written
/// file cannot exist, since leases are renamed into place).
pub fn read(inbox: &Path) -> Option<Lease> {
    read_lease(inbox).ok().flatten()
}

/// Reads a lease file: `Ok(None)` when there is none, `Err` when it cannot be read now (a share
/// reconnecting, a file that is not a lease): not knowing is never a reason to act.
fn read_lease(inbox: &Path) -> Result<Option<Lease>, ()> {
    match std::fs::read(lease_path(inbox)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| ()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(_) => Err(()),
    }
}

impl Leases {
    pub fn new(config: &Config) -> Leases {
        Leases::with(
            config.inboxes.iter().map(|i| i.path.clone()).collect(),
            config.lease_timeout,
            Me::new(),
        )
    }

    pub fn with(inboxes: Vec<PathBuf>, timeout: Duration, me: Me) -> Leases {
        Leases {
            off: false,
            me,
            timeout,
            inboxes: Mutex::new(
                inboxes
                    .into_iter()
                    .map(|path| InboxLease {
                        path,
                        role: Role::Starting,
                        last_fence: 0,
                        watched: None,
                        written: None,
                        announced: false,
                    })
                    .collect(),
            ),
            changes: tokio::sync::watch::Sender::new(0),
            regained: tokio::sync::Notify::new(),
        }
    }

    /// Leases that are never taken nor written (`--dry-run`).
    pub fn off(config: &Config) -> Leases {
        Leases {
            off: true,
            ..Leases::new(config)
        }
    }

    /// How often the owner advances its counter, and a standby looks.
    pub fn interval(&self) -> Duration {
        (self.timeout / 6).max(Duration::from_millis(100))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<InboxLease>> {
        self.inboxes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this dropcast holds the lease of the most specific inbox holding `path`, as of the
    /// last look (no file read: for the senders' every request).
    pub fn holds(&self, path: &Path) -> bool {
        if self.off {
            return true;
        }
        most_specific(&self.lock(), path).is_none_or(|i| matches!(i.role, Role::Active { .. }))
    }

    /// Whether the watcher may look at `path`: this dropcast holds the lease of its inbox and has
    /// announced it ([`Leases::announce`]). Between the two, the adoption puts files back into the
    /// inbox and `recover` moves this journal's own ones back into their work folders: the
    /// watcher taking them meanwhile would take a file being moved away as a new bundle (refused:
    /// it cannot be read), or this journal's own bundle as a duplicate of itself.
    pub fn announced(&self, path: &Path) -> bool {
        if self.off {
            return true;
        }
        most_specific(&self.lock(), path)
            .is_none_or(|i| i.announced && matches!(i.role, Role::Active { .. }))
    }

    /// The fencing number of the inbox holding `path`, when this dropcast holds its lease.
    pub fn fence(&self, path: &Path) -> Option<u64> {
        self.lock()
            .iter()
            .filter(|i| path.starts_with(&i.path))
            .max_by_key(|i| i.path.as_os_str().len())
            .and_then(|i| match i.role {
                Role::Active { fence } => Some(fence),
                _ => None,
            })
    }

    /// Reads the lease of every inbox holding one of `paths` again, once each: true when all are
    /// still ours.
    pub fn confirm_all<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> bool {
        if self.off {
            return true;
        }
        let inboxes: std::collections::BTreeSet<PathBuf> = {
            let known = self.lock();
            paths
                .into_iter()
                .filter_map(|p| {
                    known
                        .iter()
                        .filter(|i| p.starts_with(&i.path))
                        .max_by_key(|i| i.path.as_os_str().len())
                        .map(|i| i.path.clone())
                })
                .collect()
        };
        inboxes.iter().all(|i| self.confirm(i))
    }

    /// Reads the lease of the inbox holding `path` again, right before an irreversible step:
    /// true when it is still ours. A lease found taken makes this dropcast stand by at once.
    pub fn confirm(&self, path: &Path) -> bool {
        if self.off {
            return true;
        }
        let mut inboxes = self.lock();
        let Some(i) = inboxes
            .iter_mut()
            .filter(|i| path.starts_with(&i.path))
            .max_by_key(|i| i.path.as_os_str().len())
        else {
            return true;
        };
        if !matches!(i.role, Role::Active { .. }) {
            return false;
        }
        match read_lease(&i.path) {
            Ok(Some(l)) if l.instance == self.me.instance => true,
            // Cannot tell now: do not act, but do not give the inbox up either.
            Err(()) => false,
            // No lease file at all: on SMB a rename over a file can show it missing for a
            // moment. Not a reason to act, nor to give up.
            Ok(None) => false,
            Ok(other) => {
                self.lose(i, other);
                false
            }
        }
    }

    /// A lease with an older fencing number than this dropcast's over its own: the dropcast it
    /// took the inbox from was frozen between reading its lease and renewing it, and renewed it
    /// on waking. This one keeps the inbox (its lease is written again, and that one finds it
    /// taken at its next look): otherwise both would have acted on their own view, the woken one
    /// with a journal the other's adoption had overtaken.
    fn outlive(&self, i: &mut InboxLease, stale: &Lease, fence: u64) {
        tracing::warn!(inbox = %i.path.display(), other = %stale.host, other_fence = stale.fence, fence, "a dropcast woken from a freeze wrote its older lease over this one's: keeping the inbox");
        let next = self.me.lease(stale.counter.max(1) + 1, fence);
        if let Err(e) = write(&i.path, &next, &self.me) {
            tracing::warn!(inbox = %i.path.display(), error = %e, "cannot write the lease again");
        }
        if !matches!(i.role, Role::Active { .. }) {
            // A claim a stale write overtook: confirmed at the next look, as any claim.
            i.written = Some(next);
        }
    }

    fn lose(&self, i: &mut InboxLease, now: Option<Lease>) {
        let (host, pid) = now
            .as_ref()
            .map_or(("?".to_string(), 0), |l| (l.host.clone(), l.pid));
        tracing::warn!(inbox = %i.path.display(), active_on = %host, "the lease of this inbox was taken: stopping at once; standby");
        i.role = Role::Standby { host, pid };
        i.watched = now.map(|l| (l.instance, l.counter, Instant::now()));
        self.bump();
    }

    /// The inboxes this dropcast holds, as of the last look.
    pub fn held(&self) -> Vec<PathBuf> {
        self.lock()
            .iter()
            .filter(|i| self.off || matches!(i.role, Role::Active { .. }))
            .map(|i| i.path.clone())
            .collect()
    }

    /// Tells of every change of role from now on.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Tells the watcher that this dropcast became active on inboxes, once their work folders
    /// are adopted and its own files put back where they wait.
    pub fn announce(&self) {
        for i in self.lock().iter_mut() {
            i.announced = matches!(i.role, Role::Active { .. });
        }
        self.bump();
    }

    fn bump(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// One look at every inbox: renew ours, watch the others, take over a dead one, confirm what
    /// we wrote last time. Returns the inboxes this dropcast has just become active on (their
    /// work folders are to be adopted).
    pub fn tick(&self, share: &crate::share::Share) -> Vec<PathBuf> {
        self.look(&|p: &Path| share.check(p).is_ok())
    }

    fn look(&self, here: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
        let mut gained = Vec::new();
        if self.off {
            return gained;
        }
        let mut inboxes = self.lock();
        for i in inboxes.iter_mut() {
            // An inbox that is away: nothing to hold, nothing to write (no lease under an
            // empty mount point).
            if !here(&i.path) {
                continue;
            }
            let Ok(found) = read_lease(&i.path) else {
                // Unreadable now (a share reconnecting): nothing changes until it can be read.
                continue;
            };
            if let Some(mine) = i.written.take() {
                // Two that wrote at once: the rename that came last won; the other stands by.
                match &found {
                    Some(l) if l.instance == self.me.instance => {
                        tracing::info!(inbox = %i.path.display(), fence = mine.fence, "active: this dropcast holds the lease of the inbox");
                        i.role = Role::Active { fence: mine.fence };
                        i.watched = None;
                        i.announced = false;
                        // Told once the caller has adopted the inbox's work (`announce`): the
                        // watcher must not take files that the adoption puts back meanwhile.
                        gained.push(i.path.clone());
                    }
                    Some(l) if l.fence < mine.fence => self.outlive(i, l, mine.fence),
                    _ => self.lose(i, found.clone()),
                }
                continue;
            }
            match (&i.role, found) {
                (Role::Active { fence }, Some(l)) if l.instance == self.me.instance => {
                    let next = self.me.lease(l.counter + 1, *fence);
                    if let Err(e) = write(&i.path, &next, &self.me) {
                        tracing::warn!(inbox = %i.path.display(), error = %e, "cannot renew the lease");
                    }
                }
                (Role::Active { fence }, None) => {
                    // Ours, and its file missing for a moment (a rename on SMB): written again.
                    let fence = *fence;
                    if let Err(e) = write(&i.path, &self.me.lease(1, fence), &self.me) {
                        tracing::warn!(inbox = %i.path.display(), error = %e, "cannot renew the lease");
                    }
                }
                (Role::Active { fence }, Some(l)) if l.fence < *fence => {
                    let fence = *fence;
                    self.outlive(i, &l, fence)
                }
                (Role::Active { .. }, other) => self.lose(i, other),
                (_, None) if i.watched.is_none() => {
                    // Nobody has held it since this dropcast looks: take it (confirmed at the
                    // next look).
                    self.claim(i, 1);
                }
                (_, None) => {
                    // A lease was there and its file is missing now: the same as a lease that
                    // stands still (a file renamed over on SMB can look missing for a moment).
                    let since = i.watched.as_ref().map_or(Instant::now(), |w| w.2);
                    if since.elapsed() >= self.timeout {
                        self.claim(i, i.last_fence + 1);
                    }
                }
                (_, Some(l)) if l.instance == self.me.instance => {
                    // Our own lease from before a restart of this same instance: cannot happen
                    // (a new instance id each start); treat as someone else's.
                    self.claim(i, l.fence + 1);
                }
                (_, Some(l)) if l.released => self.claim(i, l.fence + 1),
                (_, Some(l))
                    if !l.machine.is_empty()
                        && l.machine == self.me.machine
                        && (l.pid == self.me.pid || !alive(l.pid)) =>
                {
                    // Its owner ran on this machine and is gone (killed, crashed): nothing to
                    // wait for, as no clock or machine has to be trusted for that.
                    tracing::info!(inbox = %i.path.display(), pid = l.pid, "the lease's owner ran here and is gone: taking the inbox at once");
                    self.claim(i, l.fence + 1);
                }
                (_, Some(l)) => self.watch(i, l),
            }
        }
        gained
    }

    /// Another dropcast's lease: stand by while its counter moves; take over once it has stood
    /// still for the timeout on our own clock.
    fn watch(&self, i: &mut InboxLease, l: Lease) {
        let now = Instant::now();
        i.last_fence = l.fence;
        let moved = match &i.watched {
            Some((instance, counter, _)) => *instance != l.instance || *counter != l.counter,
            None => true,
        };
        if moved {
            if i.role
                != (Role::Standby {
                    host: l.host.clone(),
                    pid: l.pid,
                })
            {
                tracing::info!(inbox = %i.path.display(), active_on = %l.host, pid = l.pid, "standby: another dropcast posts from this inbox");
                i.role = Role::Standby {
                    host: l.host.clone(),
                    pid: l.pid,
                };
                self.bump();
            }
            i.watched = Some((l.instance.clone(), l.counter, now));
            return;
        }
        let since = i.watched.as_ref().map_or(now, |(_, _, t)| *t);
        if now.duration_since(since) >= self.timeout {
            tracing::warn!(inbox = %i.path.display(), was_on = %l.host, "the active dropcast's lease has not moved for lease_timeout: taking over");
            self.claim(i, l.fence + 1);
        }
    }

    fn claim(&self, i: &mut InboxLease, fence: u64) {
        let mine = self.me.lease(0, fence);
        match write(&i.path, &mine, &self.me) {
            Ok(()) => i.written = Some(mine),
            Err(e) => {
                tracing::warn!(inbox = %i.path.display(), error = %e, "cannot write the lease")
            }
        }
    }

    /// A clean stop hands the inboxes on: a standby takes over at its next look.
    pub fn release(&self) {
        if self.off {
            return;
        }
        let inboxes = self.lock();
        for i in inboxes.iter() {
            if let (Role::Active { fence }, Some(l)) = (&i.role, read(&i.path))
                && l.instance == self.me.instance
            {
                let mut done = self.me.lease(l.counter + 1, *fence);
                done.released = true;
                let _ = write(&i.path, &done, &self.me);
            }
        }
    }

    /// Who posts from each inbox, for the log, `status`, the page and `/metrics`.
    pub fn report(&self) -> Vec<LeaseReport> {
        self.lock()
            .iter()
            .map(|i| LeaseReport {
                inbox: i.path.clone(),
                role: i.role.clone(),
            })
            .collect()
    }

    /// Whether every inbox has its role decided (active or standby).
    pub fn settled(&self) -> bool {
        self.off || self.lock().iter().all(|i| i.role != Role::Starting)
    }
}

/// Whether a process of this machine is alive (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name in parentheses: `Z` (zombie) or `X` (dead).
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// The inbox `path` belongs to: the most specific one holding it.
fn most_specific<'a>(inboxes: &'a [InboxLease], path: &Path) -> Option<&'a InboxLease> {
    inboxes
        .iter()
        .filter(|i| path.starts_with(&i.path))
        .max_by_key(|i| i.path.as_os_str().len())
}

/// Writes a lease: a temporary file of this instance, renamed over the lease.
fn write(inbox: &Path, lease: &Lease, me: &Me) -> std::io::Result<()> {
    let dir = inbox.join(".dropcast");
    if !dir.is_dir() {
        crate::spool::make_dirs_within(inbox, &dir).map_err(|e| e.source)?;
    }
    let tmp = dir.join(format!(".lease-{}.tmp", me.instance));
    let text = serde_json::to_vec(lease).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    crate::spool::replace_own_file(&tmp, &lease_path(inbox))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(name: &str) -> Me {
        Me {
            host: name.into(),
            pid: 1,
            instance: name.into(),
            machine: format!("machine-{name}"),
        }
    }

    #[test]
    fn the_first_takes_the_inbox_the_second_stands_by_and_takes_over_when_it_stands_still() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().to_path_buf();
        let t = Duration::from_millis(300);
        let a = Leases::with(vec![inbox.clone()], t, me("a"));
        let b = Leases::with(vec![inbox.clone()], t, me("b"));
        assert!(a.look(&|p| p.is_dir()).is_empty());
        assert_eq!(a.look(&|p| p.is_dir()), vec![inbox.clone()]);
        assert!(a.holds(&inbox.join("x.pdf")));
        b.look(&|p| p.is_dir());
        assert_eq!(
            b.report()[0].role,
            Role::Standby {
                host: "a".into(),
                pid: 1
            }
        );
        assert!(!b.holds(&inbox.join("x.pdf")));
        // While a renews, b never takes over, however long it waits.
        let start = Instant::now();
        while start.elapsed() < t * 2 {
            a.look(&|p| p.is_dir());
            assert!(b.look(&|p| p.is_dir()).is_empty());
            std::thread::sleep(Duration::from_millis(20));
        }
        // a stops renewing (frozen or dead): after the timeout b writes, then confirms.
        let frozen = Instant::now();
        let mut gained = Vec::new();
        while gained.is_empty() {
            gained = b.look(&|p| p.is_dir());
            assert!(frozen.elapsed() < t * 4, "no takeover");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(frozen.elapsed() >= t);
        assert_eq!(b.fence(&inbox), Some(2));
        // a wakes up: its next look (or its check before a move) finds the lease taken.
        assert!(!a.confirm(&inbox.join("x.pdf")));
        assert!(!a.holds(&inbox.join("x.pdf")));
    }

    /// An owner frozen between reading its lease and renewing it wakes after another took the
    /// inbox over, and renames its renewal (with its older fencing number) over the new lease.
    /// The new owner keeps the inbox; the woken one finds it taken.
    #[test]
    fn a_woken_owner_renewing_an_old_lease_does_not_take_the_inbox_back() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().to_path_buf();
        let t = Duration::from_millis(200);
        let a = Leases::with(vec![inbox.clone()], t, me("a"));
        let b = Leases::with(vec![inbox.clone()], t, me("b"));
        a.look(&|p| p.is_dir());
        a.look(&|p| p.is_dir());
        b.look(&|p| p.is_dir());
        // a read its lease (fence 1), then froze; b takes over with fence 2.
        let a_read = read_lease(&inbox).unwrap().unwrap();
        let start = Instant::now();
        while b.look(&|p| p.is_dir()).is_empty() {
            assert!(start.elapsed() < t * 4, "no takeover");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(b.fence(&inbox), Some(2));
        // a wakes and renames its renewal into place.
        write(&inbox, &me("a").lease(a_read.counter + 1, 1), &me("a")).unwrap();
        // b's next look keeps the inbox and writes its lease again...
        assert!(b.look(&|p| p.is_dir()).is_empty());
        assert!(b.holds(&inbox.join("x.pdf")));
        assert_eq!(read_lease(&inbox).unwrap().unwrap().instance, "b");
        // ...which a finds at its next look: it stands by.
        a.look(&|p| p.is_dir());
        assert!(!a.holds(&inbox.join("x.pdf")));
        assert!(b.holds(&inbox.join("x.pdf")));
    }

    #[test]
    fn a_clean_stop_hands_the_inbox_on_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().to_path_buf();
        let a = Leases::with(vec![inbox.clone()], Duration::from_secs(60), me("a"));
        let b = Leases::with(vec![inbox.clone()], Duration::from_secs(60), me("b"));
        a.look(&|p| p.is_dir());
        a.look(&|p| p.is_dir());
        b.look(&|p| p.is_dir());
        a.release();
        b.look(&|p| p.is_dir());
        assert_eq!(b.look(&|p| p.is_dir()), vec![inbox.clone()]);
        assert_eq!(b.fence(&inbox), Some(2));
    }
}
