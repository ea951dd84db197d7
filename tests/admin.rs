//! The IT person's commands: init, doctor, status, completions, man.

mod common;

use common::fake_bot::FakeBot;
use common::*;

#[test]
fn init_sets_up_a_folder_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office");
    let out = std::process::Command::new(BIN)
        .arg("init")
        .arg(&office)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for sub in ["inbox", "archive", "failed", "scheduled"] {
        assert!(office.join(sub).is_dir(), "{sub}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Next steps") && stdout.contains("3. Run `dropcast doctor"),
        "{stdout}"
    );
    let config = office.join("dropcast.yaml");
    std::fs::write(&config, "my own config\n").unwrap();
    let out = std::process::Command::new(BIN)
        .arg("init")
        .arg(&office)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept the existing"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "my own config\n");
}

#[test]
fn the_config_init_writes_works_once_token_and_channel_are_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office");
    assert!(
        std::process::Command::new(BIN)
            .arg("init")
            .arg(&office)
            .status()
            .unwrap()
            .success()
    );
    let config = office.join("dropcast.yaml");
    // Without a token it says exactly what is missing.
    let out = std::process::Command::new(BIN)
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("token_file"), "{}", text(&out));
    std::fs::write(office.join("token"), format!("{TOKEN}\n")).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
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
