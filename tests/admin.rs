//! The IT person's commands: init, doctor, status, completions, man.

mod common;

use common::fake_bot::FakeBot;
use common::*;

/// Runs `dropcast init SHARE --config-dir ETC`.
fn init(share: &std::path::Path, etc: &std::path::Path) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("init")
        .arg(share)
        .arg("--config-dir")
        .arg(etc)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_lays_out_the_share_keeps_config_and_token_off_it_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (share, etc) = (dir.path().join("share"), dir.path().join("etc/dropcast"));
    let out = init(&share, &etc);
    assert!(out.status.success(), "{}", text(&out));
    // The share holds the four folders and nothing else: no config, no token.
    let mut found: Vec<String> = std::fs::read_dir(&share)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(
        found,
        ["archive", "failed", "inbox", "modelli", "scheduled"]
    );
    // The clerks' templates, in the default language (Italian), next to the inbox.
    assert!(share.join("modelli/avviso.yaml").is_file());
    for sub in found.iter().filter(|s| *s != "modelli") {
        assert_eq!(
            std::fs::read_dir(share.join(sub)).unwrap().count(),
            0,
            "{sub}"
        );
    }
    // The config and an empty token file, readable by their owner alone.
    let (config, token) = (etc.join("dropcast.yaml"), etc.join("token"));
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&token), 0o600);
    assert_eq!(std::fs::read(&token).unwrap(), b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let t = token.display().to_string();
    assert!(
        stdout.contains("Next steps")
            && stdout.contains(&format!("1. Put the bot token from @BotFather into {t}"))
            && stdout.contains(&format!("chmod 600 {t}"))
            && stdout.contains("3. Run `dropcast doctor"),
        "{stdout}"
    );
    // Where init puts things is nothing to warn about.
    assert!(!text(&out).contains("warning"), "{}", text(&out));

    std::fs::write(&config, "my own config\n").unwrap();
    std::fs::write(&token, "my token\n").unwrap();
    let out = init(&share, &etc);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("kept the existing {}", config.display()))
            && stdout.contains(&format!("kept the existing {t}")),
        "{stdout}"
    );
    assert!(!stdout.contains("created"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "my own config\n");
    assert_eq!(std::fs::read_to_string(&token).unwrap(), "my token\n");
}

/// `init` puts the clerks' templates next to the inbox in its language (`--language en`:
/// `templates/`; Italian, the default: `modelli/`, with Italian keys, values and dates), writes
/// `language:`, and every template passes `check` with the config it wrote.
#[test]
fn the_templates_init_writes_pass_check() {
    for (language, folder, photos) in [
        ("en", "templates", ["market-2.jpg", "market-3.jpg"]),
        ("it", "modelli", ["mercatino-2.jpg", "mercatino-3.jpg"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (share, etc) = (dir.path().join("share"), dir.path().join("etc"));
        let out = std::process::Command::new(BIN)
            .arg("init")
            .arg(&share)
            .args(["--config-dir"])
            .arg(&etc)
            .args(["--language", language])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let config = etc.join("dropcast.yaml");
        let written = std::fs::read_to_string(&config).unwrap();
        assert!(
            written.contains(&format!("\nlanguage: {language} ")),
            "{written}"
        );
        std::fs::write(etc.join("token"), format!("{TOKEN}\n")).unwrap();
        let templates: Vec<std::path::PathBuf> = std::fs::read_dir(share.join(folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        assert_eq!(templates.len(), 9, "{templates:?}");
        // The album's template names the photos that go with it: a clerk drops them next to it.
        for photo in photos {
            std::fs::write(
                share.join(folder).join(photo),
                b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xD9",
            )
            .unwrap();
        }
        let out = std::process::Command::new(BIN)
            .args(["check", "--config"])
            .arg(&config)
            .args(&templates)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{language}: {}", text(&out));
        assert_eq!(
            text(&out).matches("\nok ").count(),
            9,
            "{language}: {}",
            text(&out)
        );
    }
}

#[test]
fn the_config_init_writes_works_once_token_and_channel_are_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    let (share, etc) = (dir.path().join("share"), dir.path().join("etc"));
    assert!(init(&share, &etc).status.success());
    let config = etc.join("dropcast.yaml");
    let check = || {
        std::process::Command::new(BIN)
            .args(["check", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    // Without a token it says exactly what is missing, and where.
    let out = check();
    assert_eq!(out.status.code(), Some(2));
    let token = std::fs::canonicalize(&etc).unwrap().join("token");
    assert!(
        text(&out).contains(&format!(
            "`token_file`: {} is empty: put the bot token",
            token.display()
        )),
        "{}",
        text(&out)
    );
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let out = check();
    assert!(out.status.success(), "{}", text(&out));
    // Writing the token kept it private, and the config names the share's folders by their
    // absolute paths: nothing to warn about.
    assert!(!text(&out).contains("WARN"), "{}", text(&out));
    let yaml = std::fs::read_to_string(&config).unwrap();
    let share = std::fs::canonicalize(&share).unwrap();
    for folder in ["inbox", "archive", "failed", "scheduled"] {
        let line = format!("\"{}\"", share.join(folder).display());
        assert!(yaml.contains(&line), "no {line} in:\n{yaml}");
    }
    assert!(!yaml.contains("__"), "a placeholder is left:\n{yaml}");
}

#[test]
fn init_warns_when_the_config_folder_is_in_the_share_or_an_old_init_left_files_there() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    // What the init of before issue 11 left in the share.
    std::fs::write(share.join("dropcast.yaml"), "old\n").unwrap();
    std::fs::write(share.join("token"), "old\n").unwrap();
    let out = init(&share, &share.join("conf"));
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let share = std::fs::canonicalize(&share).unwrap();
    for needle in [
        format!(
            "warning: the config {}/conf/dropcast.yaml is inside {}, the folder that holds the inbox",
            share.display(),
            share.display()
        ),
        format!(
            "warning: the token file {}/conf/token is inside {}",
            share.display(),
            share.display()
        ),
        format!(
            "warning: {}/dropcast.yaml is in the shared folder",
            share.display()
        ),
        format!("warning: {}/token is in the shared folder", share.display()),
    ] {
        assert!(stderr.contains(&needle), "no {needle:?} in:\n{stderr}");
    }
    assert_eq!(stderr.matches("warning:").count(), 4, "{stderr}");
}

#[test]
fn doctor_checks_token_channels_folders_and_journal() {
    let o = Office::new();
    let out = o.cmd(&["doctor"]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("ok   token: the bot is @dropcast_test_bot"),
        "{report}"
    );
    assert!(
        report.contains("ok   channel news (@town_news)"),
        "{report}"
    );
    assert!(report.contains("can post"), "{report}");
    assert!(
        report.contains("watching") && report.contains("kernel events"),
        "{report}"
    );
    assert!(report.contains("ok   journal: none yet"), "{report}");
    assert!(report.contains("MB free"), "{report}");
    o.assert_token_never_written();
}

/// The right to delete others' messages is reported, not required: Telegram lets a bot delete its
/// own posts with the right to post, which is all `delete:` sidecars need (issue 13).
#[test]
fn doctor_reports_the_right_to_delete_others_messages_without_failing() {
    let line_of = |report: &str| {
        report
            .lines()
            .find(|l| l.starts_with("ok   channel news (@town_news)"))
            .unwrap_or_else(|| panic!("no ok line for the news channel:\n{report}"))
            .to_owned()
    };
    let o = Office::new();
    let out = o.cmd(&["doctor"]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        line_of(&report).ends_with("; can pin; can delete"),
        "{report}"
    );

    let o = Office::with_bot(
        Office::bot().withhold_right("can_delete_messages").start(),
        "",
    );
    let out = o.cmd(&["doctor"]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        line_of(&report).ends_with(
            "; can pin; can delete only its own posts (enough for `delete:`; posts an earlier \
             bot made need \"Delete messages of others\")"
        ),
        "{report}"
    );
    assert!(!report.contains("FAIL"), "{report}");
}

/// The test office keeps its config and token next to the inbox, as `init` did before issue 11:
/// `doctor` warns (and still passes), and `run` warns at start. Moved out and made private,
/// nothing is said.
#[test]
fn doctor_and_run_warn_about_a_config_or_token_that_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let o = Office::new();
    let (config, token) = (
        std::fs::canonicalize(&o.config).unwrap(),
        std::fs::canonicalize(o.path("token")).unwrap(),
    );
    let office = config.parent().unwrap().display().to_string();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o664)).unwrap();
    let out = o.cmd(&["doctor"]);
    let report = text(&out);
    assert!(
        out.status.success(),
        "a warning must not fail doctor:\n{report}"
    );
    let warnings: Vec<&str> = report.lines().filter(|l| l.starts_with("WARN")).collect();
    let expected = [
        format!(
            "WARN config and token: the config {} is inside {office}, the folder that holds the inbox:",
            config.display()
        ),
        format!(
            "WARN config and token: the config {} can be changed by other users (mode 664)",
            config.display()
        ),
        format!(
            "WARN config and token: the token file {} is inside {office}, the folder that holds the inbox: whoever can open the share can read the bot token",
            token.display()
        ),
        format!(
            "WARN config and token: the token file {} can be read by other users (mode 644): run `chmod 600 {}`",
            token.display(),
            token.display()
        ),
    ];
    assert_eq!(warnings.len(), expected.len(), "{report}");
    for (w, e) in warnings.iter().zip(&expected) {
        assert!(w.starts_with(e.as_str()), "{w:?} is not {e:?}");
    }

    // `run` says the same at start, as warnings in its log.
    let d = o.run();
    d.wait_log(
        "can be read by other users (mode 644)",
        std::time::Duration::from_secs(30),
    );
    let log = d.log();
    assert_eq!(log.matches(" WARN ").count(), 4, "{log}");
    drop(d);

    // Moved out of the office folder, readable by dropcast alone: nothing to say.
    let etc = tempfile::tempdir().unwrap();
    let (new_config, new_token) = (etc.path().join("dropcast.yaml"), etc.path().join("token"));
    let text_of = std::fs::read_to_string(&config).unwrap();
    let moved = text_of
        .replace(
            "token_file: token",
            &format!("token_file: {}", new_token.display()),
        )
        .replace("path: inbox", &format!("path: {office}/inbox"))
        .replace("archive: archive", &format!("archive: {office}/archive"))
        .replace("failed: failed", &format!("failed: {office}/failed"))
        .replace(
            "scheduled: scheduled",
            &format!("scheduled: {office}/scheduled"),
        )
        .replace("state_dir: state", &format!("state_dir: {office}/state"));
    std::fs::write(&new_config, moved).unwrap();
    std::fs::copy(&token, &new_token).unwrap();
    for f in [&new_config, &new_token] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = std::process::Command::new(BIN)
        .arg("doctor")
        .arg("--config")
        .arg(&new_config)
        .output()
        .unwrap();
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(!report.contains("WARN"), "{report}");
    assert!(report.contains("ok   inbox "), "{report}");
}

#[test]
fn doctor_says_what_is_wrong() {
    let bot = FakeBot::start("111111:another-token-entirely-aaaaaaaaaaaaaaaa");
    let o = Office::with_bot(bot, "");
    let out = o.cmd(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("FAIL token: Telegram refused the token"),
        "{}",
        text(&out)
    );

    let o = Office::new();
    o.edit_config("private: -1009876543210", "private: \"@gone_channel\"");
    std::fs::remove_dir_all(o.path("inbox")).unwrap();
    let out = o.cmd(&["doctor"]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL channel private (@gone_channel)"),
        "{report}"
    );
    assert!(
        report.contains("does not exist (is the share mounted?)"),
        "{report}"
    );
    o.assert_token_never_written();
}

#[test]
fn status_shows_waiting_scheduled_failed_and_recent_posts() {
    let o = Office::new();
    o.drop_file("posted.yaml", b"text: posted\n");
    o.drop_file("bad.yaml", b"captoin: x\n");
    o.drop_file(
        "later.yaml",
        format!("text: later\npublish_at: {}\n", local_in(3600)).as_bytes(),
    );
    o.drop_file("orphan.pdf", &pdf("o"));
    o.once();
    let out = o.cmd(&["status"]);
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(s.contains("orphan.pdf: waiting for its sidecar"), "{s}");
    assert!(
        s.contains("Scheduled (1)") && s.contains("later.yaml at "),
        "{s}"
    );
    assert!(
        s.contains("Failed (latest) (1)") && s.contains("bad.yaml"),
        "{s}"
    );
    assert!(s.contains("https://t.me/town_news/1"), "{s}");
    let out = o.cmd(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scheduled"].as_array().unwrap().len(), 1);
    assert_eq!(v["recent"][0]["link"], "https://t.me/town_news/1");
    assert_eq!(v["waiting"][0]["file"], "orphan.pdf");
}

/// `status` only reads the journal (issue 10), also when no daemon runs: the last one closed
/// the journal cleanly and removed its WAL, which a read-only reader needs SQLite to make again.
#[test]
fn status_without_a_daemon_only_reads_the_journal() {
    let o = Office::new();
    o.drop_file("posted.yaml", b"text: posted\n");
    assert!(o.once().status.success());
    let before = o.journal_fingerprint();
    assert!(before[0].1.is_some(), "{before:?}");
    assert_eq!(
        before[1].1, None,
        "the journal was closed cleanly: {before:?}"
    );
    for _ in 0..3 {
        let out = o.cmd(&["status"]);
        let s = text(&out);
        assert!(out.status.success(), "{s}");
        assert!(s.contains("https://t.me/town_news/1"), "{s}");
    }
    assert_eq!(o.journal_fingerprint()[0], before[0]);
    // What SQLite left for the reader is no obstacle to the next run.
    o.drop_file("next.yaml", b"text: next\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert!(o.archive_month().join("next.receipt.yaml").exists());
}

#[test]
fn completions_and_man_page_come_from_the_command_definitions() {
    let out = std::process::Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let bash = String::from_utf8_lossy(&out.stdout);
    assert!(
        bash.contains("doctor") && bash.contains("--dry-run"),
        "{bash}"
    );
    let out = std::process::Command::new(BIN).arg("man").output().unwrap();
    let man = String::from_utf8_lossy(&out.stdout);
    assert!(
        man.contains(".TH dropcast") && man.contains("status"),
        "{man}"
    );
}

#[test]
fn logs_tell_each_event_in_one_line_and_json_on_request() {
    let o = Office::new();
    o.drop_file("a.yaml", b"text: hello\n");
    o.drop_file("bad.yaml", b"captoin: x\n");
    o.set_env("RUST_LOG", "info");
    let out = o.cmd(&["--log-format", "json", "once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut events = Vec::new();
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        events.push(
            v["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        if v["fields"]["message"] == "posted" {
            assert_eq!(v["fields"]["link"], "https://t.me/town_news/1", "{line}");
        }
        if v["fields"]["message"] == "refused: moving to failed/" {
            assert!(
                v["fields"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("unknown key"),
                "{line}"
            );
        }
    }
    for e in [
        "seen",
        "settled",
        "ready to post",
        "posted",
        "archived",
        "refused: moving to failed/",
    ] {
        assert!(events.iter().any(|x| x == e), "no {e:?} in {events:?}");
    }
    // RUST_LOG filters as usual.
    let o = Office::new();
    o.drop_file("a.yaml", b"text: hello\n");
    o.set_env("RUST_LOG", "warn");
    let out = o.once();
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("posted"),
        "{}",
        text(&out)
    );
}

#[test]
fn once_shows_progress_on_a_terminal_only() {
    let o = Office::new();
    for i in 0..5 {
        o.drop_file(&format!("n{i}.yaml"), format!("text: n{i}\n").as_bytes());
    }
    // `script` gives dropcast a terminal as stdout.
    let cmd = format!("{BIN} once --config {}", o.config.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("in the queue") && shown.contains('\r'),
        "{shown}"
    );
    assert!(shown.contains("posted 5, failed 0"), "{shown}");
    // Not on a pipe.
    o.drop_file("more.yaml", b"text: more\n");
    let out = o.once();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("in the queue"));
}

/// `run`, `check` and `status` agree on which inbox and which bundle a file belongs to. Before
/// issue 10, `status` listed a file of a nested inbox twice (once as the outer inbox's) and
/// `check` took the first inbox holding a file instead of the most specific one.
#[test]
fn run_check_and_status_agree_on_a_nested_inbox_and_on_sidecar_names() {
    let o = Office::new();
    // `inbox/scanner` is an inbox of its own inside `inbox`: channel alerts, sidecar optional.
    o.drop_file("scanner/note.yaml", b"text: from the scanner folder\n");
    o.drop_file("scanner/scan.pdf", &pdf("s"));
    // `x.pdf.yaml` is the sidecar of `x.pdf` (its first choice); `x.yaml` is a text post.
    o.drop_file("x.pdf", &pdf("x"));
    o.drop_file("x.pdf.yaml", b"caption: the notice\n");
    o.drop_file("x.yaml", b"text: a text post\n");

    let status = text(&o.cmd(&["status"]));
    assert_eq!(status.matches("scan.pdf").count(), 1, "{status}");
    assert!(status.contains("scan.pdf: settling"), "{status}");
    assert!(status.contains("x.pdf: settling"), "{status}");

    let path = |rel: &str| o.inbox(rel).display().to_string();
    let (note, xpdf, x) = (
        path("scanner/note.yaml"),
        path("x.pdf.yaml"),
        path("x.yaml"),
    );
    let out = o.cmd(&["check", &note, &xpdf, &x]);
    let check = text(&out);
    assert!(out.status.success(), "{check}");
    assert!(
        check.contains("would post note.yaml → @town_alerts"),
        "{check}"
    );
    assert!(check.contains("would post x.pdf → @town_news"), "{check}");
    assert!(
        check.contains("sendDocument: x.pdf with caption: the notice"),
        "{check}"
    );
    assert!(check.contains("would post x.yaml → @town_news"), "{check}");

    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    let sent = |chat: &str, method: &str, field: &str, value: &str| {
        posts.iter().any(|p| {
            p.chat_id.as_deref() == Some(chat)
                && p.method == method
                && p.field(field) == Some(value)
        })
    };
    assert!(
        sent(
            "@town_alerts",
            "sendMessage",
            "text",
            "from the scanner folder"
        ),
        "{posts:#?}"
    );
    assert!(
        sent("@town_alerts", "sendDocument", "caption", "Scan scan"),
        "{posts:#?}"
    );
    assert!(
        sent("@town_news", "sendDocument", "caption", "the notice"),
        "{posts:#?}"
    );
    assert!(
        sent("@town_news", "sendMessage", "text", "a text post"),
        "{posts:#?}"
    );
    assert_eq!(posts.len(), 4, "{posts:#?}");
    o.bot.assert_clean();
}
