//! dropcast on a real SMB share: smbd on 127.0.0.1, the share mounted with smbnetfs (FUSE over
//! libsmbclient), files written by `smbclient` as a clerk's Windows PC writes them
//! (`tests/common/smb.rs`). Where the machine cannot run them, the tests say SKIPPED loudly.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::smb::Smb;
use common::takeover::{self, LEASE_TIMEOUT_LINE};
use common::*;

const LONG: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);
const SETTLE: Duration = Duration::from_millis(300);
/// What going through SMB may add beyond `poll_interval + settle`: smbnetfs caches attributes
/// for 1 s, and every stat, open, read and move is a round trip through smbnetfs's helper
/// process and smbd. Measured here at 0.4 s from the put to the post before the quiet window on
/// polled shares grew by 1 s; the rest is room for a loaded machine.
const SMB_MARGIN: Duration = Duration::from_secs(2);
/// How much longer than `settle` a file must look quiet on a polled share (src/watcher.rs).
const ATTRIBUTE_CACHE: Duration = Duration::from_secs(1);

fn watch() -> String {
    format!(
        "watch: {{settle: {}ms, poll_interval: {}ms, rescan_interval: 5m}}\n",
        SETTLE.as_millis(),
        POLL.as_millis()
    )
}

#[test]
fn a_bundle_put_on_the_share_by_another_pc_is_posted_once_and_archived() {
    let Some(smb) = Smb::start() else {
        return;
    };
    let o = smb.office(&watch());
    let d = o.run();
    d.wait_log("network filesystem detected (FUSE)", LONG);

    let doc = pdf("from a clerk's PC");
    let sidecar = b"caption: put through SMB\n";
    smb.put("inbox/notice.pdf", &doc);
    smb.put("inbox/notice.yaml", sidecar);
    let put = Instant::now();
    let posts = o.bot.wait_for_posts(1, LONG);
    let took = posts[0].at.duration_since(put);
    // Said on the process's stderr, so that it shows without --nocapture.
    let _ = writeln!(
        std::io::stderr(),
        "SMB share (smbd + smbnetfs), mode auto: posted {took:?} after the put returned \
         (poll_interval {POLL:?}, settle {SETTLE:?})"
    );
    assert!(
        took <= POLL + SETTLE + ATTRIBUTE_CACHE + SMB_MARGIN,
        "posted only {took:?} after the put:\n{}",
        d.log()
    );
    assert_eq!(posts[0].method, "sendDocument");
    assert_eq!(posts[0].file("document").unwrap().sha256, sha256(&doc));
    assert_eq!(posts[0].field("caption"), Some("put through SMB"));

    // Archived on the server's disk, byte for byte, with its receipt.
    let month = archive_month_in(&smb.served().join("archive"));
    wait_until(LONG, "the receipt on the server", || {
        month.join("notice.receipt.yaml").exists()
    });
    assert_eq!(std::fs::read(month.join("notice.pdf")).unwrap(), doc);
    assert_eq!(std::fs::read(month.join("notice.yaml")).unwrap(), sidecar);
    let receipt = std::fs::read_to_string(month.join("notice.receipt.yaml")).unwrap();
    assert!(receipt.contains("https://t.me/town_news/1"), "{receipt}");
    // Nothing of the clerk's is left in the inbox (the receipt that travelled in the work folder
    // goes once the archive's is written), and it went out once.
    wait_until(LONG, "the inbox and its work folder empty", || {
        files_under(&smb.served().join("inbox")).is_empty()
    });
    assert_eq!(o.bot.posts().len(), 1);
    o.bot.assert_clean();
    o.assert_token_never_written();
}

#[test]
fn doctor_on_the_share_leaves_no_file_behind_and_calls_unknown_space_unknown() {
    let Some(smb) = Smb::start() else {
        return;
    };
    let o = smb.office("");
    let out = o.cmd(&["doctor"]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    let share = smb.share();
    for folder in ["inbox", "archive", "failed", "scheduled"] {
        let line = format!("ok   {folder} {}: writable", share.join(folder).display());
        assert!(report.contains(&line), "no {line:?} in:\n{report}");
    }
    // smbnetfs reports no sizes at all (f_blocks == 0): not a full disk.
    assert_eq!(
        report.matches("free space unknown").count(),
        2,
        "archive and failed:\n{report}"
    );
    assert!(!report.contains("FAIL"), "{report}");
    // The office's config and token are local and mode 600: nothing to warn about.
    assert!(!report.contains("WARN"), "{report}");
    // SMB refuses to remove a file that is still open; doctor's probes must all be gone.
    assert_eq!(files_under(&smb.served()), Vec::<String>::new(), "{report}");
}

#[test]
fn the_server_can_go_away_and_come_back_under_the_mount() {
    // The harness's outage, which the tests of a vanishing share rely on: while smbd is down
    // the mount fails (it does not serve stale contents), and it serves again once smbd is back.
    let Some(mut smb) = Smb::start() else {
        return;
    };
    smb.mkdir("inbox");
    smb.put("inbox/before.txt", b"before");
    let inbox: PathBuf = smb.share().join("inbox");
    assert_eq!(std::fs::read(inbox.join("before.txt")).unwrap(), b"before");

    smb.stop_server();
    wait_until(LONG, "the mount to fail while smbd is down", || {
        std::fs::read_dir(&inbox).is_err()
    });
    smb.start_server();
    smb.put("inbox/after.txt", b"after");
    wait_until(
        LONG,
        "the mount to show the file put after the outage",
        || std::fs::read(inbox.join("after.txt")).is_ok_and(|b| b == b"after"),
    );
    assert_eq!(std::fs::read(inbox.join("before.txt")).unwrap(), b"before");
}

/// The office's file server goes down while a post is going out (smbd stopped: the mount answers
/// EIO), and comes back: the post is archived on the server once it is back, with no second post
/// and no report; a bundle put just before the outage is posted after it (issue 11).
#[test]
fn the_file_server_going_down_mid_post_holds_the_bundle_until_it_is_back() {
    let Some(mut smb) = Smb::start() else {
        return;
    };
    let o = smb.office(&watch());
    o.bot.fail_next(
        "sendDocument",
        common::fake_bot::Fault::SlowAnswer(Duration::from_secs(2)),
    );
    let d = o.run();
    d.wait_log("network filesystem detected (FUSE)", LONG);
    let doc = pdf("school closed");
    smb.put("inbox/closure.pdf", &doc);
    smb.put("inbox/closure.yaml", b"caption: schools closed tomorrow\n");
    o.bot.wait_until(LONG, "the post arrives", |r| {
        r.iter().any(|r| r.method == "sendDocument")
    });
    let later = pdf("bus timetable");
    smb.put("inbox/bus.pdf", &later);
    smb.put("inbox/bus.yaml", b"caption: new bus timetable\n");
    smb.stop_server();

    d.wait_log("a folder is away", LONG);
    d.wait_log("the bundle waits for the share to come back", LONG);
    let status = text(&o.cmd(&["status"]));
    assert!(status.contains("Folders away"), "{status}");

    smb.start_server();
    let month = archive_month_in(&smb.served().join("archive"));
    wait_until(LONG, "both bundles archived on the server", || {
        month.join("closure.receipt.yaml").exists() && month.join("bus.receipt.yaml").exists()
    });
    assert_eq!(std::fs::read(month.join("closure.pdf")).unwrap(), doc);
    assert_eq!(std::fs::read(month.join("bus.pdf")).unwrap(), later);
    let posted = |sha: &str| {
        o.bot
            .requests()
            .iter()
            .filter(|r| r.method == "sendDocument" && r.status == 200)
            .filter(|r| r.file("document").is_some_and(|f| f.sha256 == sha))
            .count()
    };
    assert_eq!(posted(&sha256(&doc)), 1, "{}", d.log());
    assert_eq!(posted(&sha256(&later)), 1, "{}", d.log());
    assert_eq!(
        files_under(&smb.served().join("failed")),
        Vec::<String>::new(),
        "a report for an outage:\n{}",
        d.log()
    );
    wait_until(LONG, "the inbox and its work folder empty", || {
        files_under(&smb.served().join("inbox")).is_empty()
    });
    o.bot.assert_clean();
}

/// Two servers on one real SMB share (issue 12): the lease is a file renamed into place through
/// SMB; one posts, the other stands by, and every bundle goes out exactly once.
#[test]
fn two_servers_on_one_smb_share_post_every_bundle_exactly_once() {
    let Some(smb) = Smb::start() else {
        return;
    };
    let o = smb.office(&format!("{}{LEASE_TIMEOUT_LINE}", watch()));
    let (a, b) = o.two_servers();
    let mut expected = Vec::new();
    for i in 0..10 {
        let doc = pdf(&format!("smb {i}"));
        smb.put(&format!("inbox/m{i:02}.pdf"), &doc);
        smb.put(&format!("inbox/m{i:02}.yaml"), b"caption: through SMB\n");
        expected.push(sha256(&doc));
    }
    expected.sort();
    let month = archive_month_in(&smb.served().join("archive"));
    let receipts = || {
        std::fs::read_dir(&month)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".receipt.yaml"))
                    .count()
            })
            .unwrap_or(0)
    };
    let start = Instant::now();
    while receipts() < 10 {
        assert!(
            start.elapsed() < LONG,
            "{} of 10 bundles archived on the server; inbox {:?}\n{}\n{}",
            receipts(),
            files_under(&smb.served().join("inbox")),
            a.log(),
            b.log()
        );
        // The poll interval of a wait with a deadline.
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(o.documents_posted(), expected, "{}\n{}", a.log(), b.log());
    assert!(!b.log().contains("ready to post"), "{}", b.log());
    assert_eq!(
        files_under(&smb.served().join("failed")),
        Vec::<String>::new()
    );
    o.bot.assert_clean();
}

/// The active server killed with kill -9 in the middle of a backlog on the SMB share: the standby
/// finishes it (issue 12; the scenario is in tests/common/takeover.rs).
#[test]
fn the_standby_finishes_the_work_when_the_active_server_on_an_smb_share_is_killed() {
    let Some(smb) = Smb::start() else {
        return;
    };
    let o = smb.office(&format!("{}{LEASE_TIMEOUT_LINE}", watch()));
    takeover::kill_the_active_server_mid_backlog(&o, &smb.site());
}

/// An owner frozen past lease_timeout on the SMB share: the standby takes over; woken, the old
/// owner finds its lease taken through SMB and touches nothing.
#[test]
fn a_frozen_owner_on_an_smb_share_finds_its_lease_taken_and_touches_nothing() {
    let Some(smb) = Smb::start() else {
        return;
    };
    let o = smb.office(&format!("{}{LEASE_TIMEOUT_LINE}", watch()));
    takeover::freeze_the_owner_past_lease_timeout(&o, &smb.site());
}
