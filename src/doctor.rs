//! `dropcast doctor`: one line per check, `ok`, `WARN` (works, but change it) or `FAIL` with what
//! is wrong and how to fix it.

use std::path::Path;

use crate::config::Config;
use crate::telegram::{Client, TelegramError};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub level: Level,
    pub what: String,
    pub detail: String,
}

/// How a check came out. Only `Fail` makes `doctor` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works, but should be changed: dropcast runs all the same.
    Warn,
    Fail,
}

impl Check {
    fn ok(what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(Level::Ok, what, detail)
    }

    fn warn(what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(Level::Warn, what, detail)
    }

    fn fail(what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(Level::Fail, what, detail)
    }

    fn new(level: Level, what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            level,
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Whether dropcast can work with this as it is (a warning passes).
    pub fn passed(&self) -> bool {
        self.level != Level::Fail
    }
}

/// Below this, `archive` and `failed` are reported as nearly full.
const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

/// Runs every check against Telegram and the filesystem.
pub async fn run(config: &Config) -> Vec<Check> {
    let mut out = vec![Check::ok("config", config.file.display().to_string())];
    // Where the config and the token are, and who may read them: warnings, since dropcast
    // works all the same, but each one says what to change.
    out.extend(
        crate::config::placement_warnings(config)
            .into_iter()
            .map(|w| Check::warn("config and token", w)),
    );
    out.extend(telegram(config).await);
    for inbox in &config.inboxes {
        out.push(folder("inbox", &inbox.path, false));
        let plan = crate::watch::plan(
            config.watch.mode,
            crate::watch::filesystem_kind(&inbox.path),
            config.watch.poll_interval,
        );
        out.push(Check::ok(
            format!("watching {}", inbox.path.display()),
            plan.reason,
        ));
    }
    for (name, path) in [
        ("archive", &config.archive),
        ("failed", &config.failed),
        ("scheduled", &config.scheduled),
        ("state_dir", &config.state_dir),
    ] {
        out.push(folder(name, path, matches!(name, "archive" | "failed")));
    }
    // A folder that is there, but no longer the kind dropcast verified (the empty mount point
    // of a share that is not mounted): the daemon waits for it.
    for away in crate::share::look(config)
        .into_iter()
        .filter(|a| a.path.is_dir())
    {
        out.push(Check::fail(
            format!("{} {}", away.role, away.path.display()),
            format!(
                "{}: dropcast waits until the share is mounted again",
                away.why
            ),
        ));
    }
    out.push(journal(config));
    out
}

async fn telegram(config: &Config) -> Vec<Check> {
    let client = match Client::new(&config.api_url, config.token.clone()) {
        Ok(c) => c.with_timeout(config.request_timeout),
        Err(e) => return vec![Check::fail("telegram", e.to_string())],
    };
    let me = match client.get_me().await {
        Ok(me) => me,
        Err(
            e @ TelegramError::Permanent {
                code: 401 | 404, ..
            },
        ) => {
            return vec![Check::fail(
                "token",
                format!("Telegram refused the token ({e}); get it again from @BotFather (/token)"),
            )];
        }
        Err(e) => {
            return vec![Check::fail(
                "token",
                format!("cannot reach Telegram at {}: {e}", config.api_url),
            )];
        }
    };
    let mut out = vec![Check::ok("token", format!("the bot is @{}", me.username))];
    for (alias, chat) in &config.channels {
        let what = format!("channel {alias} ({chat})");
        let info = match client.get_chat(chat).await {
            Ok(i) => i,
            Err(e) => {
                out.push(Check::fail(
                    what,
                    format!("{e}; check the id or @username, and add the bot to the channel"),
                ));
                continue;
            }
        };
        match client.get_chat_member(chat, me.id).await {
            Ok(m) if m.status == "creator" => {
                out.push(Check::ok(what, format!("\"{}\": the bot owns it", info.title)))
            }
            Ok(m) if m.status == "administrator" && (m.can_post_messages || info.kind != "channel") => {
                let pin = if m.can_pin_messages || info.kind == "channel" && m.can_edit_messages {
                    "can pin"
                } else {
                    "cannot pin (needed only for `pin: true`)"
                };
                // Telegram lets a bot delete its own posts with the right to post (Bot API,
                // deleteMessage); deleting others' messages matters only for posts an earlier bot
                // made, when the config's token was changed to another bot.
                let delete = if m.can_delete_messages {
                    "can delete".to_owned()
                } else {
                    format!(
                        "can delete only its own posts (enough for `delete:`; posts an earlier \
                         bot made need \"{}\")",
                        if info.kind == "channel" {
                            "Delete messages of others"
                        } else {
                            "Delete messages"
                        }
                    )
                };
                out.push(Check::ok(
                    what,
                    format!(
                        "\"{}\": the bot is an admin and can post; {pin}; {delete}",
                        info.title
                    ),
                ))
            }
            Ok(m) if m.status == "administrator" => out.push(Check::fail(
                what,
                format!(
                    "\"{}\": the bot is an admin without the right to post: give it \"Post messages\"",
                    info.title
                ),
            )),
            Ok(m) => out.push(Check::fail(
                what,
                format!(
                    "\"{}\": the bot is {} there: make it an administrator with \"Post messages\"",
                    info.title, m.status
                ),
            )),
            Err(e) => out.push(Check::fail(what, e.to_string())),
        }
    }
    out
}

fn folder(name: &str, path: &Path, check_space: bool) -> Check {
    let what = format!("{name} {}", path.display());
    if !path.is_dir() {
        let parent = path.parent().filter(|p| p.is_dir());
        return if let Some(parent) = parent
            && name != "inbox"
        {
            match free_space(parent).filter(|_| check_space) {
                Some(space) if space.too_low() => Check::fail(
                    what,
                    format!("does not exist yet, and its disk has only {space}"),
                ),
                Some(space) => Check::ok(
                    what,
                    format!("does not exist yet; dropcast creates it ({space})"),
                ),
                None => Check::ok(what, "does not exist yet; dropcast creates it"),
            }
        } else {
            Check::fail(what, "does not exist (is the share mounted?)")
        };
    }
    if let Err(e) = probe(path) {
        return Check::fail(what, e);
    }
    match free_space(path).filter(|_| check_space) {
        Some(space) if space.too_low() => Check::fail(
            what,
            format!("only {space}: make room, or posts wait unarchived"),
        ),
        Some(space) => Check::ok(what, format!("writable, {space}")),
        None => Check::ok(what, "writable"),
    }
}

/// Creates a probe file in `dir`, closes it, and removes it. On SMB a file that is still open
/// cannot be removed (EBUSY), and a FUSE client may close it on the server only just after
/// `close` returned, so a busy remove is tried again for a moment. A probe that stays is
/// reported: it is a file left in a clerk's folder, and dropcast must be able to remove files
/// there too.
fn probe(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".dropcast-doctor-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("not writable: {e}"))?;
    drop(file);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match std::fs::remove_file(&probe) {
            Ok(()) => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => {
                return Err(format!(
                    "writable, but doctor's test file {} could not be removed ({e}): remove it \
                     by hand, and check that dropcast may delete files here",
                    probe.display()
                ));
            }
        }
    }
}

/// The free space of a folder's filesystem, as `statvfs` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FreeSpace {
    Bytes(u64),
    /// The filesystem reports no size at all (`f_blocks == 0`), as smbnetfs and other FUSE
    /// network shares do: nobody knows, which is not the same as full.
    Unknown,
}

impl FreeSpace {
    /// The rule, from `statvfs`'s `f_blocks`, `f_bavail` and `f_frsize`.
    fn from_statvfs(blocks: u64, available: u64, fragment_size: u64) -> FreeSpace {
        if blocks == 0 {
            FreeSpace::Unknown
        } else {
            FreeSpace::Bytes(available.saturating_mul(fragment_size))
        }
    }

    /// Whether posts could soon wait unarchived for want of room.
    fn too_low(self) -> bool {
        matches!(self, FreeSpace::Bytes(b) if b < MIN_FREE_BYTES)
    }
}

impl std::fmt::Display for FreeSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FreeSpace::Bytes(b) => write!(f, "{} MB free", b / (1024 * 1024)),
            FreeSpace::Unknown => f.write_str("free space unknown (the share does not report it)"),
        }
    }
}

fn free_space(path: &Path) -> Option<FreeSpace> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid path and st a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(FreeSpace::from_statvfs(
        st.f_blocks as u64,
        st.f_bavail as u64,
        st.f_frsize as u64,
    ))
}

fn journal(config: &Config) -> Check {
    let path = config.state_dir.join(crate::journal::FILE_NAME);
    if !path.exists() && !config.state_dir.join("journal.created").exists() {
        return Check::ok("journal", "none yet; created at the first run");
    }
    match crate::journal::Journal::open(&config.state_dir) {
        Ok(j) => {
            let counts = j
                .counts()
                .map(|c| {
                    c.iter()
                        .map(|(state, n)| format!("{n} {state}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            Check::ok(
                "journal",
                format!(
                    "healthy ({})",
                    if counts.is_empty() {
                        "empty".into()
                    } else {
                        counts
                    }
                ),
            )
        }
        Err(e) => Check::fail("journal", e.to_string()),
    }
}

/// The report: one line per check.
pub fn render(checks: &[Check]) -> String {
    checks
        .iter()
        .map(|c| {
            let level = match c.level {
                Level::Ok => "ok  ",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            format!("{level} {}: {}\n", c.what, c.detail)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_from_statvfs() {
        let check = |blocks, available, fragment, expected: FreeSpace, low: bool| {
            let space = FreeSpace::from_statvfs(blocks, available, fragment);
            assert_eq!(space, expected, "{blocks} {available} {fragment}");
            assert_eq!(space.too_low(), low, "{space}");
        };
        // smbnetfs: no sizes at all. Unknown, not full.
        check(0, 0, 4096, FreeSpace::Unknown, false);
        check(0, 0, 0, FreeSpace::Unknown, false);
        // A real disk that is full, nearly full, and roomy.
        check(1000, 0, 4096, FreeSpace::Bytes(0), true);
        check(1 << 20, 25_599, 4096, FreeSpace::Bytes(25_599 * 4096), true);
        check(
            1 << 20,
            25_600,
            4096,
            FreeSpace::Bytes(MIN_FREE_BYTES),
            false,
        );
        check(1, u64::MAX, 4096, FreeSpace::Bytes(u64::MAX), false);
        assert_eq!(FreeSpace::Bytes(150 << 20).to_string(), "150 MB free");
        assert!(
            FreeSpace::Unknown
                .to_string()
                .starts_with("free space unknown")
        );
    }

    #[test]
    fn the_probe_leaves_nothing_behind_and_says_why_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe(dir.path()), Ok(()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let missing = dir.path().join("gone");
        assert!(probe(&missing).unwrap_err().starts_with("not writable: "));
    }
}
