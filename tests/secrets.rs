//! The bot token is a secret: it appears in no output, log line, receipt, error report or
//! journal, whatever command runs and whatever fails.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::fake_bot::{FakeBot, Fault};
use common::*;

#[test]
fn the_token_is_never_written_by_any_command_or_failure() {
    let o = Office::new();
    // Posts that succeed, are refused by the sidecar, by the content, by Telegram, time out.
    o.drop_file("ok.pdf", &pdf("ok"));
    o.drop_file("ok.yaml", b"caption: fine\npin: true\n");
    o.drop_file("bad.yaml", b"captoin: x\n");
    o.drop_file("fake.pdf", b"<html>");
    o.drop_file("fake.yaml", b"caption: fake\n");
    o.drop_file("refused.yaml", b"text: refused\nchannel: alerts\n");
    o.bot.fail_next(
        "sendMessage",
        Fault::Status(
            403,
            "Forbidden: bot is not a member of the channel chat".into(),
        ),
    );
    o.bot.fail_next(
        "pinChatMessage",
        Fault::Status(400, "Bad Request: not enough rights".into()),
    );
    o.bot
        .fail_next("sendDocument", Fault::Status(502, "Bad Gateway".into()));
    let runs = [
        o.cmd(&["once", "--dry-run"]),
        o.once(),
        o.cmd(&["check", o.inbox("x.yaml").to_str().unwrap()]),
        o.cmd(&["check"]),
        o.cmd(&["--log-format", "json", "once"]),
        o.cmd(&["run", "--dry-run", "--nonsense"]),
    ];
    assert!(runs.iter().any(|r| r.status.code() == Some(1)));
    // A daemon that is stopped.
    let mut d = o.run();
    d.wait_log("watching", Duration::from_secs(30));
    d.signal(libc::SIGTERM);
    d.wait_exit(Duration::from_secs(5));
    // Telegram unreachable: errors carry URLs, which must not carry the token.
    o.edit_config(&o.bot.url(), "http://127.0.0.1:9");
    o.drop_file("later.yaml", b"text: later\n");
    o.edit_config("pacing: false", "pacing: false\n  timeout: 1s");
    let unreachable = o.once();
    assert!(
        text(&unreachable).contains("unreachable"),
        "{}",
        text(&unreachable)
    );
    // A broken config that quotes the token.
    std::fs::write(
        &o.config,
        format!("telegram: {{token: \"{TOKEN}\", api_url: 7}}\ninboxes: [[\n"),
    )
    .unwrap();
    let broken = o.once();
    assert_eq!(broken.status.code(), Some(2));
    assert!(!o.files("archive").is_empty() && !o.files("failed").is_empty());
    assert!(o.path("state/journal.sqlite").exists());
    o.assert_token_never_written();
}

#[test]
fn a_token_telegram_refuses_is_not_printed() {
    let bot = FakeBot::start("111111:another-token-entirely-aaaaaaaaaaaaaaaa");
    let o = Office::with_bot(bot, "");
    let out = o.once();
    assert_eq!(out.status.code(), Some(2));
    o.assert_token_never_written();
}

#[test]
fn a_literal_token_in_a_config_others_can_read_gets_a_warning() {
    let o = Office::new();
    o.edit_config("token_file: token", &format!("token: \"{TOKEN}\""));
    std::fs::set_permissions(&o.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = o.cmd(&["check"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("chmod 600"), "{}", text(&out));
    std::fs::set_permissions(&o.config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = o.cmd(&["check"]);
    assert!(!text(&out).contains("chmod 600"), "{}", text(&out));
    o.assert_token_never_written();
}
