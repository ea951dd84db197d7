//! `dropcast doctor`: one line per check, `ok` or what is wrong and how to fix it.

use std::path::Path;

use crate::config::Config;
use crate::telegram::{Client, TelegramError};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub what: String,
    pub detail: String,
}

impl Check {
    fn ok(what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            ok: true,
            what: what.into(),
            detail: detail.into(),
        }
    }

    fn fail(what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            ok: false,
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Below this, `archive` and `failed` are reported as nearly full.
const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

/// Runs every check against Telegram and the filesystem.
pub async fn run(config: &Config) -> Vec<Check> {
    let mut out = vec![Check::ok("config", config.file.display().to_string())];
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
                out.push(Check::ok(
                    what,
                    format!("\"{}\": the bot is an admin and can post; {pin}", info.title),
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
            match free_bytes(parent).filter(|_| check_space) {
                Some(free) if free < MIN_FREE_BYTES => Check::fail(
                    what,
                    format!(
                        "does not exist yet, and its disk has only {} MB free",
                        free / (1024 * 1024)
                    ),
                ),
                Some(free) => Check::ok(
                    what,
                    format!(
                        "does not exist yet; dropcast creates it ({} MB free)",
                        free / (1024 * 1024)
                    ),
                ),
                None => Check::ok(what, "does not exist yet; dropcast creates it"),
            }
        } else {
            Check::fail(what, "does not exist (is the share mounted?)")
        };
    }
    let probe = path.join(format!(".dropcast-doctor-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => return Check::fail(what, format!("not writable: {e}")),
    }
    if check_space && let Some(free) = free_bytes(path) {
        if free < MIN_FREE_BYTES {
            return Check::fail(
                what,
                format!(
                    "only {} MB free: make room, or posts wait unarchived",
                    free / (1024 * 1024)
                ),
            );
        }
        return Check::ok(what, format!("writable, {} MB free", free / (1024 * 1024)));
    }
    Check::ok(what, "writable")
}

fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid path and st a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
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
            format!(
                "{} {}: {}\n",
                if c.ok { "ok  " } else { "FAIL" },
                c.what,
                c.detail
            )
        })
        .collect()
}
