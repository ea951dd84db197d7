//! The invariants of ARCHITECTURE.md that the source itself can show: which module may speak SQL,
//! the Bot API, move and remove files, or start a process, and that every file says what it is
//! for. A change that breaks one fails here with the file and line, before a reviewer has to
//! notice it.

use std::path::{Path, PathBuf};

fn sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p: PathBuf| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(
        out.len() > 20,
        "the sources were not found in {}",
        dir.display()
    );
    out
}

/// The code before its `#[cfg(test)]` module: tests may do what the module itself must not.
fn code(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

/// Every line (file:line) of a non-test source outside `allowed` that contains one of `needles`.
fn offenders(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, text) in sources() {
        if allowed.contains(&name.as_str()) {
            continue;
        }
        for (i, line) in code(&text).lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            if needles.iter().any(|n| line.contains(n)) {
                out.push(format!("src/{name}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    out
}

#[test]
fn only_the_journal_knows_sql() {
    let found = offenders(
        &[
            "SELECT ",
            "INSERT INTO",
            "UPDATE bundles",
            "DELETE FROM",
            "rusqlite::",
        ],
        &["journal.rs"],
    );
    assert!(
        found.is_empty(),
        "SQL outside src/journal.rs:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_telegram_client_speaks_http_and_bot_api_json() {
    let found = offenders(&["reqwest", "multipart"], &["telegram.rs"]);
    assert!(
        found.is_empty(),
        "Bot API outside src/telegram.rs:\n{}",
        found.join("\n")
    );
}

/// Only spool moves or removes a file or a folder. One exception, removing only what dropcast
/// itself made: doctor's probe file.
#[test]
fn only_spool_moves_or_removes_files() {
    let found = offenders(
        &[
            "fs::rename",
            "remove_file",
            "remove_dir_all",
            "fs::copy",
            "renameat",
        ],
        &["spool.rs", "doctor.rs"],
    );
    assert!(
        found.is_empty(),
        "files moved or removed outside src/spool.rs:\n{}",
        found.join("\n")
    );
    let dirs = offenders(&["remove_dir("], &["spool.rs"]);
    assert!(
        dirs.is_empty(),
        "folders removed outside spool:\n{}",
        dirs.join("\n")
    );
}

/// dropcast starts no other program: `cli` restarts itself after a config reload, and `preview`
/// and `render_pool` run dropcast itself (`__render`, `__render-worker`) to render with a time
/// limit and a memory cap.
#[test]
fn only_cli_and_the_renderers_start_processes() {
    let found = offenders(
        &["Command::new", "process::Command", "fork(", "execv"],
        &["cli.rs", "preview.rs", "render_pool.rs"],
    );
    assert!(
        found.is_empty(),
        "processes started outside src/cli.rs, src/preview.rs and src/render_pool.rs:\n{}",
        found.join("\n")
    );
}

/// The web server and `status` open the journal read-only (see `tests/web.rs` for the proof
/// that a refresh writes nothing).
#[test]
fn the_readers_never_open_the_journal_for_writing() {
    for name in ["web.rs", "status.rs"] {
        let (_, text) = sources().into_iter().find(|(n, _)| n == name).unwrap();
        assert!(
            !code(&text).contains("Journal::open"),
            "src/{name} opens the journal for writing"
        );
    }
}

#[test]
fn every_file_says_what_it_is_for() {
    for (name, text) in sources() {
        assert!(
            text.starts_with("//!"),
            "src/{name} does not open with a `//!` line"
        );
    }
}
