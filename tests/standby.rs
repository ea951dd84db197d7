//! One share, one poster (issue 12): two dropcasts on one share, each with its own journal, as
//! during a server migration or with a standby server. Exactly one posts from an inbox at a time;
//! the other stands by, touches nothing, and takes over when the first dies or freezes; work left
//! in a work folder is adopted (a travelling receipt: archived without a second post). The kill -9
//! and freeze scenarios are written once in `tests/common/takeover.rs` and run here on a local
//! folder and on a FUSE share (bindfs), and in tests/smb.rs on a real SMB share.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::takeover::{self, LEASE_TIMEOUT_LINE, Site};
use common::*;

const LONG: Duration = Duration::from_secs(40);

fn office() -> Office {
    Office::with(&format!(
        "watch: {{settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}}\n{LEASE_TIMEOUT_LINE}"
    ))
}

fn bundle(o: &Office, name: &str) -> Vec<u8> {
    let doc = pdf(name);
    o.drop_file(&format!("{name}.pdf"), &doc);
    o.drop_file(
        &format!("{name}.yaml"),
        format!("caption: notice {name}\n").as_bytes(),
    );
    doc
}

fn archived_receipts(o: &Office) -> usize {
    o.files("archive")
        .iter()
        .filter(|f| f.ends_with(".receipt.yaml"))
        .count()
}

#[test]
fn two_servers_on_one_share_post_every_bundle_exactly_once() {
    let o = office();
    let (_a, b) = o.two_servers();
    let mut expected: Vec<String> = (0..20)
        .map(|i| sha256(&bundle(&o, &format!("n{i:02}"))))
        .collect();
    expected.sort();
    wait_until(LONG, "20 bundles archived", || archived_receipts(&o) == 20);
    assert_eq!(o.documents_posted(), expected, "posted twice or not at all");
    assert!(
        o.files("failed").is_empty(),
        "{:?}\n{}",
        o.files("failed"),
        b.log()
    );
    assert!(
        !b.log().contains("ready to post"),
        "the standby took a bundle:\n{}",
        b.log()
    );
    let status = text(&o.cmd(&["status"]));
    assert!(status.contains("active on"), "{status}");
    o.bot.assert_clean();
}

#[test]
fn the_standby_finishes_the_work_when_the_active_server_is_killed() {
    let o = office();
    takeover::kill_the_active_server_mid_backlog(&o, &Site::local(&o));
}

#[test]
fn the_standby_finishes_the_work_when_the_active_server_on_a_fuse_share_is_killed() {
    let o = office();
    let Some(share) = common::bindfs::Share::mount(&o) else {
        return;
    };
    takeover::kill_the_active_server_mid_backlog(&o, &share.site(&o));
}

#[test]
fn a_frozen_owner_finds_its_lease_taken_and_touches_nothing() {
    let o = office();
    takeover::freeze_the_owner_past_lease_timeout(&o, &Site::local(&o));
}

#[test]
fn a_frozen_owner_on_a_fuse_share_finds_its_lease_taken_and_touches_nothing() {
    let o = office();
    let Some(share) = common::bindfs::Share::mount(&o) else {
        return;
    };
    takeover::freeze_the_owner_past_lease_timeout(&o, &share.site(&o));
}

/// A bundle the owner had seen but not yet taken when it froze: the new owner posts it, once.
#[test]
fn a_bundle_waiting_in_the_inbox_when_the_owner_froze_is_posted_by_the_new_owner() {
    const SETTLE: Duration = Duration::from_secs(2);
    let o = Office::with(&format!(
        "watch: {{settle: 2s, poll_interval: 200ms, rescan_interval: 6s}}\n{LEASE_TIMEOUT_LINE}"
    ));
    let second = o.second_server("standby");
    let a = o.run();
    a.wait_log(takeover::ACTIVE, LONG);
    let mut b = o.run_as(&second);
    b.wait_log(takeover::STANDBY, LONG);
    let doc = bundle(&o, "waiting");
    // Seen, and frozen well within its settle window: the bundle is still in the inbox.
    a.wait_log("waiting.yaml", LONG);
    a.signal(libc::SIGSTOP);
    wait_until(LONG, "the standby active", || {
        Site::local(&o).active_here(&b)
    });
    let active = Instant::now();
    wait_until(LONG, "posted by the new owner", || {
        o.documents_posted() == vec![sha256(&doc)]
    });
    let took = active.elapsed();
    let _ = writeln!(
        std::io::stderr(),
        "a bundle waiting at the takeover: posted {took:?} after the new owner became active \
         (settle {SETTLE:?}, rescan_interval 6 s)"
    );
    // The new owner looks at the inbox as it becomes active, not at its next rescan (6 s): a
    // change of role missed by the watcher (it was busy with another event) failed this.
    assert!(
        took < SETTLE + Duration::from_secs(1),
        "{took:?}\n{}",
        b.log()
    );
    a.signal(libc::SIGCONT);
    a.wait_log(takeover::TAKEN, LONG);
    wait_until(LONG, "archived", || archived_receipts(&o) == 1);
    assert_eq!(o.documents_posted(), vec![sha256(&doc)]);
    assert!(!a.log().contains("ready to post"), "{}", a.log());
    b.signal(libc::SIGTERM);
    b.wait_exit(LONG);
    o.bot.assert_clean();
}

/// A new server with an empty journal on an old share: the old one left two bundles in its work
/// folder, one posted (its receipt travelled with it), one whose request may have been in
/// flight (no receipt).
#[test]
fn an_empty_journal_adopts_the_work_folder_an_old_server_left() {
    let o = office();
    let work = o.inbox(".dropcast/1700000000-0");
    std::fs::create_dir_all(&work).unwrap();
    let posted = pdf("posted before the old server died");
    std::fs::write(work.join("posted.pdf"), &posted).unwrap();
    std::fs::write(work.join("posted.yaml"), b"caption: posted\n").unwrap();
    std::fs::write(
        work.join("posted.receipt.yaml"),
        format!(
            "# dropcast: \"posted.pdf\" was posted. This is the receipt.\nbundle: posted.pdf\n\
             posted_at: 2026-12-01T10:00:00+01:00\nchannels:\n- channel: news (@town_news)\n  \
             link: https://t.me/town_news/7\n  message_ids: [7]\n  links: [https://t.me/town_news/7]\n\
             files:\n- name: posted.pdf\n  sha256: {}\n  bytes: {}\n- name: posted.yaml\n  \
             sha256: x\n  bytes: 16\n",
            sha256(&posted),
            posted.len()
        ),
    )
    .unwrap();
    let uncertain = pdf("in flight when the old server died");
    std::fs::write(work.join("maybe.pdf"), &uncertain).unwrap();
    std::fs::write(work.join("maybe.yaml"), b"caption: maybe\n").unwrap();

    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let month = o.archive_month();
    assert!(month.join("posted.pdf").exists() && month.join("posted.receipt.yaml").exists());
    assert_eq!(std::fs::read(month.join("posted.pdf")).unwrap(), posted);
    // Posted once before: not again. The uncertain one: again (uncertain: resend).
    assert_eq!(o.documents_posted(), vec![sha256(&uncertain)]);
    assert!(month.join("maybe.receipt.yaml").exists());
    // Nothing left in the inbox or its work folders (the lease is dropcast's own).
    assert!(o.files("inbox").is_empty(), "{:?}", o.files("inbox"));
    o.bot.assert_clean();
}

/// The same on a network share (bindfs, no events, attributes cached), where `flock` could not be
/// trusted: the lease is only files renamed into place.
#[test]
fn two_servers_on_a_fuse_share_post_every_bundle_exactly_once() {
    let o = office();
    let Some(share) = common::bindfs::Share::mount(&o) else {
        return;
    };
    let (a, b) = o.two_servers();
    let mut expected = Vec::new();
    for i in 0..20 {
        let doc = pdf(&format!("share {i}"));
        share.write(&format!("s{i:02}.pdf"), &doc);
        share.write(&format!("s{i:02}.yaml"), b"caption: from the share\n");
        expected.push(sha256(&doc));
    }
    expected.sort();
    let start = std::time::Instant::now();
    while archived_receipts(&o) < 20 {
        assert!(
            start.elapsed() < LONG,
            "{} of 20 bundles archived, inbox {:?}\n--- first ---\n{}\n--- second ---\n{}",
            archived_receipts(&o),
            o.files("inbox"),
            a.log(),
            b.log()
        );
        // The poll interval of a wait with a deadline, not a pause to let things happen.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(o.documents_posted(), expected);
    assert!(o.files("failed").is_empty());
    assert!(!b.log().contains("ready to post"), "{}", b.log());
    o.bot.assert_clean();
}

/// One line of a sent log as a sender writes it (see src/sentlog.rs).
fn log_line(
    files: &[(&str, &[u8])],
    chat: &str,
    index: usize,
    sent: Option<(i64, &str)>,
) -> String {
    let mut shas: Vec<String> = files.iter().map(|(_, b)| sha256(b)).collect();
    shas.sort();
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let event = match sent {
        None => serde_json::json!("begin"),
        Some((id, link)) => serde_json::json!({"sent": {"messages": [
            {"index": index, "part": 0, "message_id": id, "chat_id": -1001234567890i64, "link": link}
        ]}}),
    };
    let line = serde_json::json!({
        "files": names, "key": shas.join(","), "chat": chat, "index": index, "event": event,
    });
    line.to_string()
}

/// A server killed with bundles in its work folder that its finisher had not reached: the sent
/// log its senders wrote says, per bundle and channel, what went out, what was in flight and
/// what never began. A new server with an empty journal (and `uncertain: fail`) posts only what
/// never began, fails only what was in flight, and archives the rest with the links of the
/// first post.
#[test]
fn an_empty_journal_finishes_what_the_sent_log_says_was_begun() {
    let o = Office::with(
        "watch: {settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}\nuncertain: fail\n",
    );
    let work = o.inbox(".dropcast/1700000000-0");
    std::fs::create_dir_all(&work).unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(work.join(name), bytes).unwrap();
    let (done, half, flight, fresh) = (pdf("done"), pdf("half"), pdf("flight"), pdf("fresh"));
    let done_y = b"caption: sent before the kill\n".as_slice();
    let half_y = b"caption: half\nchannel: [news, alerts]\n".as_slice();
    let flight_y = b"caption: in flight at the kill\n".as_slice();
    let fresh_y = b"caption: never begun\n".as_slice();
    for (n, b) in [
        ("done.pdf", done.as_slice()),
        ("done.yaml", done_y),
        ("half.pdf", &half),
        ("half.yaml", half_y),
        ("flight.pdf", &flight),
        ("flight.yaml", flight_y),
        ("fresh.pdf", &fresh),
        ("fresh.yaml", fresh_y),
    ] {
        put(n, b);
    }
    let done_f = [("done.pdf", done.as_slice()), ("done.yaml", done_y)];
    let half_f = [("half.pdf", half.as_slice()), ("half.yaml", half_y)];
    let flight_f = [("flight.pdf", flight.as_slice()), ("flight.yaml", flight_y)];
    let log = [
        log_line(&done_f, "@town_news", 0, None),
        log_line(
            &done_f,
            "@town_news",
            0,
            Some((41, "https://t.me/town_news/41")),
        ),
        log_line(&half_f, "@town_news", 0, None),
        log_line(
            &half_f,
            "@town_news",
            0,
            Some((42, "https://t.me/town_news/42")),
        ),
        log_line(&flight_f, "@town_news", 0, None),
    ];
    // The log as the old server's senders wrote it: a mark, then one file per line, in order.
    put(".sent", b"");
    for (i, line) in log.iter().enumerate() {
        put(
            &format!(".sent.{:020}.json", 1_700_000_000_000_000_000u64 + i as u64),
            line.as_bytes(),
        );
    }
    // A work folder the old server had emptied, killed before it removed it: only its log.
    let emptied = o.inbox(".dropcast/1700000000-1");
    std::fs::create_dir_all(&emptied).unwrap();
    std::fs::write(emptied.join(".sent"), b"").unwrap();
    std::fs::write(
        emptied.join(".sent.01700000000000000000.json"),
        log_line(&done_f, "@town_news", 0, None),
    )
    .unwrap();

    let out = o.once();
    let month = o.archive_month();
    let posted: Vec<(String, String)> = o
        .bot
        .requests()
        .iter()
        .filter(|r| r.method == "sendDocument" && r.status == 200)
        .map(|r| {
            (
                r.chat_id.clone().unwrap_or_default(),
                r.file("document").unwrap().sha256.clone(),
            )
        })
        .collect();
    let mut expected = vec![
        ("@town_alerts".to_string(), sha256(&half)),
        ("@town_news".to_string(), sha256(&fresh)),
    ];
    expected.sort();
    let mut got = posted.clone();
    got.sort();
    assert_eq!(got, expected, "{}", text(&out));

    let receipt = |n: &str| std::fs::read_to_string(month.join(n)).unwrap();
    assert!(receipt("done.receipt.yaml").contains("https://t.me/town_news/41"));
    let half_r = receipt("half.receipt.yaml");
    assert!(half_r.contains("https://t.me/town_news/42"), "{half_r}");
    assert!(half_r.contains("town_alerts"), "{half_r}");
    assert!(month.join("fresh.receipt.yaml").exists());
    assert_eq!(std::fs::read(month.join("done.pdf")).unwrap(), done);

    let failed = o.files("failed");
    assert!(failed.contains(&"flight.pdf".to_string()), "{failed:?}");
    let report = std::fs::read_to_string(o.path("failed/flight.error.txt")).unwrap();
    assert!(report.contains("not certain"), "{report}");
    assert_eq!(failed.len(), 3, "{failed:?}");
    // The work folders and their logs are gone; the inbox holds nothing.
    assert!(o.files("inbox").is_empty(), "{:?}", o.files("inbox"));
    assert!(!emptied.exists() && !work.exists());
    o.bot.assert_clean();
}

/// Bundles the killed server scheduled: the standby does not know them from its journal, but
/// their records in `scheduled/.dropcast/` tell it. The one still waiting is scheduled again and
/// goes out at its time, not before, once; the one a clerk cancelled (a file removed from
/// `scheduled/`) goes to failed/ with the cancellation report.
#[test]
fn scheduled_posts_keep_their_time_when_the_standby_takes_over() {
    let o = office();
    let second = o.second_server("standby");
    let mut a = o.run();
    a.wait_log("active: this dropcast holds the lease", LONG);
    let b = o.run_as(&second);
    b.wait_log("standby: another dropcast posts from this inbox", LONG);
    let at = local_in(5);
    let later = pdf("later");
    o.drop_file("later.pdf", &later);
    o.drop_file(
        "later.yaml",
        format!("caption: at its time\npublish_at: {at}\n").as_bytes(),
    );
    o.drop_file("cancel.pdf", &pdf("cancel"));
    o.drop_file(
        "cancel.yaml",
        format!("caption: cancelled\npublish_at: {}\n", local_in(3600)).as_bytes(),
    );
    wait_until(LONG, "both in scheduled/", || {
        o.path("scheduled/later.yaml").exists() && o.path("scheduled/cancel.yaml").exists()
    });
    a.signal(libc::SIGKILL);
    a.wait_exit(LONG);
    std::fs::remove_file(o.path("scheduled/cancel.pdf")).unwrap();
    b.wait_log("adopted a post another dropcast scheduled", LONG);
    wait_until(LONG, "the cancelled post in failed/", || {
        o.path("failed/cancel.error.txt").exists()
    });
    let report = std::fs::read_to_string(o.path("failed/cancel.error.txt")).unwrap();
    assert!(report.contains("cancel.pdf"), "{report}");
    wait_until(LONG, "scheduled again", || {
        o.path("scheduled/later.pdf").exists()
    });
    assert!(o.bot.posts().is_empty(), "posted before its time");
    let posts = o.bot.wait_for_posts(1, LONG);
    let due = jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%S", &at)
        .unwrap()
        .in_tz("Europe/Rome")
        .unwrap()
        .timestamp();
    assert!(jiff::Timestamp::now() >= due, "posted before its time");
    assert_eq!(posts[0].field("caption"), Some("at its time"));
    wait_until(LONG, "archived", || {
        o.archive_month().join("later.receipt.yaml").exists()
    });
    assert_eq!(o.documents_posted(), vec![sha256(&later)]);
    // The bundle's record in scheduled/ goes a moment after its receipt is named (once the
    // journal says it is done): looking at once raced with it under load.
    wait_until(LONG, "scheduled/ emptied", || {
        o.files("scheduled").is_empty()
    });
    assert!(o.files("inbox").is_empty(), "{:?}", o.files("inbox"));
    o.bot.assert_clean();
}

/// The server that lost the inbox (frozen past its lease, with a request in flight and a backlog
/// in its work folder) gets it back when the other stops: the bundles its journal still holds
/// were finished by the other meanwhile, and are neither posted again nor reported in failed/;
/// what comes next it posts.
#[test]
fn the_old_owner_takes_the_inbox_back_without_posting_again() {
    let o = office();
    let second = o.second_server("standby");
    o.bot.fail_next(
        "sendDocument",
        common::fake_bot::Fault::SlowAnswer(Duration::from_secs(3)),
    );
    let a = o.run();
    a.wait_log("active: this dropcast holds the lease", LONG);
    let mut b = o.run_as(&second);
    b.wait_log("standby: another dropcast posts from this inbox", LONG);
    let mut expected: Vec<String> = (0..6)
        .map(|i| sha256(&bundle(&o, &format!("f{i:02}"))))
        .collect();
    o.bot.wait_until(LONG, "the first post in flight", |r| {
        r.iter().any(|r| r.method == "sendDocument")
    });
    a.signal(libc::SIGSTOP);
    b.wait_log("active: this dropcast holds the lease", LONG);
    let start = Instant::now();
    while archived_receipts(&o) < 6 {
        assert!(
            start.elapsed() < LONG,
            "the backlog not archived by the new owner: {} receipts, inbox {:?}\n--- frozen ---\n{}\n--- new owner ---\n{}",
            archived_receipts(&o),
            o.files("inbox"),
            a.log(),
            b.log()
        );
        // The poll interval of a wait with a deadline.
        std::thread::sleep(Duration::from_millis(50));
    }
    a.signal(libc::SIGCONT);
    a.wait_log(
        "the lease of this inbox was taken: stopping at once; standby",
        LONG,
    );
    b.signal(libc::SIGTERM);
    b.wait_exit(LONG);
    a.wait_log("finished by another dropcast while this one stood by", LONG);
    expected.push(sha256(&bundle(&o, "after")));
    expected.sort();
    wait_until(LONG, "the new bundle archived", || {
        archived_receipts(&o) == 7
    });
    let mut posted = o.documents_posted();
    let all = posted.len();
    posted.dedup();
    assert_eq!(posted, expected);
    // The request in flight at the freeze, posted again by the new owner (uncertain: resend).
    assert!(all <= 8, "{all} posts for 7 bundles\n{}", a.log());
    assert!(
        o.files("failed").is_empty(),
        "{:?}\n{}",
        o.files("failed"),
        a.log()
    );
    wait_until(LONG, "the inbox empty", || {
        o.files("inbox").iter().all(|f| is_lease_name(f))
    });
    o.bot.assert_clean();
}

fn is_lease_name(rel: &str) -> bool {
    is_lease(std::path::Path::new(rel))
}
