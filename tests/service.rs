//! Running as a service: the systemd unit verifies, SIGHUP reloads the config without losing
//! work, and a config with errors is refused on reload.

mod common;

use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn the_systemd_unit_verifies() {
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze is not installed (Debian package `systemd`)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/dropcast.service"
    ))
    .unwrap()
    .replace("/usr/local/bin/dropcast", BIN);
    let path = dir.path().join("dropcast.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    for must in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ReadWritePaths=",
        "User=dropcast",
    ] {
        assert!(
            std::fs::read_to_string(&path).unwrap().contains(must),
            "{must}"
        );
    }
}

#[test]
fn sighup_reloads_the_config_without_losing_work() {
    let o = Office::new();
    let d = o.run();
    d.wait_log("watching", LONG);
    o.drop_file("one.yaml", b"text: one\n");
    o.bot.wait_for_posts(1, LONG);
    // A config with an error is refused; the daemon keeps running with the old one.
    let good = std::fs::read_to_string(&o.config).unwrap();
    std::fs::write(&o.config, good.replace("channel: news", "channel: newz")).unwrap();
    d.signal(libc::SIGHUP);
    d.wait_log("keeping the running one", LONG);
    // A good new config: the inbox now posts to the alerts channel.
    std::fs::write(
        &o.config,
        good.replacen("channel: news", "channel: alerts", 1),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    d.wait_log("reloading the config", LONG);
    wait_until(LONG, "the restarted daemon watching", || {
        d.log().matches("watching").count() >= 4
    });
    o.drop_file("two.yaml", b"text: two\n");
    let posts = o.bot.wait_for_posts(2, LONG);
    assert_eq!(posts[0].chat_id.as_deref(), Some("@town_news"));
    assert_eq!(posts[1].chat_id.as_deref(), Some("@town_alerts"));
    assert_eq!(posts[1].field("text"), Some("two"));
}
