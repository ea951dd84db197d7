//! When the share goes away (issue 11): a network share unmounted, a folder renamed away, a share
//! missing at start. dropcast pauses what needs the folder, writes nothing anywhere meanwhile (no
//! receipt, no report, no folder under an empty mount point), and resumes by itself when the
//! folder is back: what was posted is archived with no second post, what was settling is taken.
//!
//! The share is bindfs (a real FUSE mount, unmounted and mounted again); see
//! `tests/common/bindfs.rs`. Where it cannot run, the test says SKIPPED loudly.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::bindfs::Share;
use common::fake_bot::Fault;
use common::*;

const LONG: Duration = Duration::from_secs(30);

/// An office whose inbox, archive, failed and scheduled folders all live on one share mounted at
/// `share/`, as a town hall's server mounts the office's NAS. The NAS's own disk is `nas/`.
fn office_on_a_share(o: &Office) -> Option<Share> {
    let nas = o.path("nas");
    for folder in ["inbox/scanner", "archive", "failed", "scheduled"] {
        std::fs::create_dir_all(nas.join(folder)).unwrap();
    }
    let share = Share::mount_at(&nas, &o.path("share"))?;
    on_share_config(o);
    Some(share)
}

fn on_share_config(o: &Office) {
    o.edit_config("path: inbox\n", "path: share/inbox\n");
    o.edit_config("path: inbox/scanner", "path: share/inbox/scanner");
    o.edit_config("archive: archive", "archive: share/archive");
    o.edit_config("failed: failed", "failed: share/failed");
    o.edit_config("scheduled: scheduled", "scheduled: share/scheduled");
}

fn office() -> Office {
    Office::with("watch: {settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}\n")
}

/// `archive/YYYY/MM` of now, under `archive`.
fn month_in(o: &Office, archive: &Path) -> PathBuf {
    archive.join(o.archive_month().strip_prefix(o.path("archive")).unwrap())
}

/// Every file below `dir`, relative to it.
fn files_below(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(base, &e.path(), out);
            } else if !is_lease(&e.path()) {
                out.push(e.path().strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn sends(o: &Office, sha: &str) -> usize {
    o.documents_posted().iter().filter(|s| *s == sha).count()
}

/// The bug this pins (issue 11): the share vanished while a post was going out; the finisher
/// took "the file is gone" for "I moved it before a crash", wrote a receipt into an
/// `archive/YYYY/MM/` it created under the empty mount point, marked the bundle done, and left
/// its sidecar in the share's work folder for ever.
#[test]
fn a_post_going_out_when_the_share_goes_away_is_archived_once_it_is_back() {
    let o = office();
    let Some(share) = office_on_a_share(&o) else {
        return;
    };
    o.bot
        .fail_next("sendDocument", Fault::SlowAnswer(Duration::from_secs(2)));
    let d = o.run();
    d.wait_log("watching", LONG);
    let notice = pdf("road works");
    share.write("inbox/notice.pdf", &notice);
    share.write("inbox/notice.yaml", b"caption: road works on Main Street\n");
    o.bot.wait_until(LONG, "the post arrives", |r| {
        r.iter().any(|r| r.method == "sendDocument")
    });
    // Another clerk's bundle is still settling when the share goes.
    let later = pdf("market");
    share.write("inbox/market.pdf", &later);
    share.write("inbox/market.yaml", b"caption: market on Saturday\n");
    share.unmount();

    d.wait_log("a folder is away", LONG);
    d.wait_log("the bundle waits for the share to come back", LONG);
    assert!(
        files_below(&o.path("share")).is_empty(),
        "written under the empty mount point: {:?}\n{}",
        files_below(&o.path("share")),
        d.log()
    );
    assert!(!o.path("share/archive").exists());

    share.remount();
    let nas = o.path("nas");
    let month = month_in(&o, &nas.join("archive"));
    wait_until(LONG, "both bundles archived", || {
        month.join("notice.receipt.yaml").exists() && month.join("market.receipt.yaml").exists()
    });
    assert_eq!(std::fs::read(month.join("notice.pdf")).unwrap(), notice);
    assert_eq!(std::fs::read(month.join("market.pdf")).unwrap(), later);
    assert_eq!(sends(&o, &sha256(&notice)), 1, "posted twice:\n{}", d.log());
    assert_eq!(sends(&o, &sha256(&later)), 1);
    assert!(
        files_below(&nas.join("failed")).is_empty(),
        "a report for an outage"
    );
    // The receipt that travelled in the work folder goes once the archive's is named, and the
    // emptied work folder with it: a moment after the archive's receipt appears.
    let clean = || {
        files_below(&nas.join("inbox"))
            .iter()
            .all(|f| f == "scanner")
    };
    let start = std::time::Instant::now();
    while !clean() {
        assert!(
            start.elapsed() < LONG,
            "left in the inbox or its work folder: {:?}\n{}",
            files_below(&nas.join("inbox")),
            d.log()
        );
        // The poll interval of a wait with a deadline, not a pause to let things happen.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(files_below(&nas.join("inbox/.dropcast")).is_empty());
    assert!(d.log().contains("work resumes"), "{}", d.log());
    o.bot.assert_clean();
}

/// A folder renamed away (a colleague tidying the share) and back: nothing is archived into a
/// new folder of the same name meanwhile, and nothing is reported.
#[test]
fn an_archive_renamed_away_and_back_holds_the_post_until_it_is_back() {
    let o = office();
    std::fs::rename(o.path("archive"), o.path("archive.away")).unwrap();
    // Away from the start: `run` waits, and says so where the IT person looks.
    let d = o.run();
    d.wait_log("a folder is away", LONG);
    let status = text(&o.cmd(&["status"]));
    assert!(
        status.contains("Folders away") && status.contains("archive"),
        "{status}"
    );
    std::fs::rename(o.path("archive.away"), o.path("archive")).unwrap();
    d.wait_log("connected to telegram", LONG);

    // Renamed away while a post goes out.
    o.bot
        .fail_next("sendDocument", Fault::SlowAnswer(Duration::from_secs(1)));
    let doc = pdf("deadline");
    o.drop_file("deadline.pdf", &doc);
    o.drop_file("deadline.yaml", b"caption: tax deadline\n");
    o.bot.wait_until(LONG, "the post arrives", |r| {
        r.iter().any(|r| r.method == "sendDocument")
    });
    std::fs::rename(o.path("archive"), o.path("archive.away")).unwrap();
    d.wait_log("the bundle waits for the share to come back", LONG);
    assert!(
        !o.path("archive").exists(),
        "dropcast made a new archive folder"
    );
    assert!(files_below(&o.path("failed")).is_empty());
    // The receipt travels with the bundle: its work folder alone says it was posted, and where.
    let waiting = files_below(&o.inbox(".dropcast"));
    let receipt = waiting
        .iter()
        .find(|f| f.ends_with("deadline.receipt.yaml"))
        .unwrap_or_else(|| panic!("no receipt in the work folder: {waiting:?}"));
    let text = std::fs::read_to_string(o.inbox(".dropcast").join(receipt)).unwrap();
    assert!(text.contains("https://t.me/town_news/1"), "{text}");
    assert!(text.contains(&sha256(&doc)), "{text}");
    // Under which lease it was posted (issue 12's fencing number).
    assert!(text.contains("fence: 1"), "{text}");

    std::fs::rename(o.path("archive.away"), o.path("archive")).unwrap();
    let month = o.archive_month();
    wait_until(LONG, "archived", || {
        month.join("deadline.receipt.yaml").exists()
    });
    wait_until(LONG, "the work folder empty", || {
        files_below(&o.inbox(".dropcast")).is_empty()
    });
    assert_eq!(sends(&o, &sha256(&doc)), 1);
    assert!(files_below(&o.path("failed")).is_empty());
    o.bot.assert_clean();
}

/// The share is not mounted when dropcast starts: `once` says what is missing and fails, `run`
/// waits (status and `/healthz` say why), and nothing is created under the empty mount point.
#[test]
fn a_share_missing_at_start_is_waited_for_by_run_and_reported_by_once() {
    let port = free_port();
    let o = Office::with(&format!(
        "http: {{listen: \"127.0.0.1:{port}\"}}\n\
         watch: {{settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}}\n"
    ));
    let nas = o.path("nas");
    for folder in ["inbox/scanner", "archive", "failed", "scheduled"] {
        std::fs::create_dir_all(nas.join(folder)).unwrap();
    }
    // The empty mount point, as an unmounted share leaves it.
    std::fs::create_dir_all(o.path("share")).unwrap();
    on_share_config(&o);

    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    for folder in ["inbox", "archive", "failed", "scheduled"] {
        assert!(
            said.contains(&format!("{folder} ")),
            "{folder} not named:\n{said}"
        );
    }
    assert!(said.contains("is the share mounted?"), "{said}");
    assert!(
        files_below(&o.path("share")).is_empty(),
        "once created {:?}",
        files_below(&o.path("share"))
    );
    assert!(std::fs::read_dir(o.path("share")).unwrap().next().is_none());

    let d = o.run();
    d.wait_log("status page at", LONG);
    d.wait_log("a folder is away", LONG);
    let (status, body) = http_get(port, "/healthz");
    assert!(status.contains("503"), "{status} {body}");
    assert!(body.contains("share/inbox"), "{body}");
    let (_, page) = http_get(port, "/");
    assert!(page.contains("Waiting for the share"), "{page}");
    assert!(std::fs::read_dir(o.path("share")).unwrap().next().is_none());

    let Some(share) = Share::mount_at(&nas, &o.path("share")) else {
        return;
    };
    d.wait_log("connected to telegram", LONG);
    let doc = pdf("alert");
    share.write("inbox/alert.pdf", &doc);
    share.write("inbox/alert.yaml", b"caption: weather alert\n");
    let month = month_in(&o, &nas.join("archive"));
    wait_until(LONG, "archived", || {
        month.join("alert.receipt.yaml").exists()
    });
    let (status, _) = http_get(port, "/healthz");
    assert!(status.contains("200"), "{status}");
    assert_eq!(sends(&o, &sha256(&doc)), 1);
    o.bot.assert_clean();
}

/// The inbox is itself the mount point: unmounted, it is an empty local folder at the same path.
/// dropcast remembers what it verified (`state/folders.json`), so it does not take that folder
/// for an empty inbox: `doctor` and `status` say so, `once` fails, and it works again once the
/// share is back.
#[test]
fn an_empty_mount_point_is_not_taken_for_the_inbox() {
    let o = office();
    let Some(share) = Share::mount(&o) else {
        return;
    };
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert!(o.path("state/folders.json").exists());
    share.unmount();

    let doctor = text(&o.cmd(&["doctor"]));
    assert!(
        doctor.contains("FAIL") && doctor.contains("not the folder dropcast knows"),
        "{doctor}"
    );
    let status = text(&o.cmd(&["status"]));
    assert!(status.contains("Folders away"), "{status}");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not the folder dropcast knows"),
        "{}",
        text(&out)
    );
    assert!(files_below(&o.path("inbox")).is_empty());

    share.remount();
    let doc = pdf("after the remount");
    share.write("notice.pdf", &doc);
    share.write("notice.yaml", b"caption: back\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sends(&o, &sha256(&doc)), 1);
    o.bot.assert_clean();
}

/// A `scheduled/` that goes away is not a clerk removing the files: nothing is cancelled, and the
/// post keeps its time when the folder is back (found by review: every scheduled post was
/// cancelled, silently, when the share went away).
#[test]
fn a_scheduled_folder_that_goes_away_cancels_nothing() {
    let o = office();
    let d = o.run();
    d.wait_log("connected to telegram", LONG);
    o.drop_file(
        "later.yaml",
        format!(
            "text: town council on Monday\npublish_at: {}\n",
            local_in(3600)
        )
        .as_bytes(),
    );
    d.wait_log("scheduled: waiting in scheduled/", LONG);
    std::fs::rename(o.path("scheduled"), o.path("scheduled.away")).unwrap();
    d.wait_log("the scheduled post waits for its folder to come back", LONG);
    std::fs::rename(o.path("scheduled.away"), o.path("scheduled")).unwrap();
    d.wait_log("work resumes", LONG);
    let status = text(&o.cmd(&["status"]));
    assert!(status.contains("Scheduled (1)"), "{status}");
    assert!(!status.contains("cancelled"), "{status}");
    assert!(o.files("failed").is_empty());
    // What a clerk sees in `scheduled/` (its hidden record for another server aside).
    let visible: Vec<String> = o
        .files("scheduled")
        .into_iter()
        .filter(|f| !f.starts_with(".dropcast/"))
        .collect();
    assert_eq!(visible, vec!["later.yaml"]);
    assert!(o.bot.posts().is_empty());
}
