//! Faults from Telegram: every bundle ends posted exactly once (or in `failed/` for permanent
//! errors, in plain words), in order per channel, with backoff that never hammers the server.

mod common;

use std::time::Duration;

use common::fake_bot::Fault;
use common::*;

const LONG: Duration = Duration::from_secs(40);
const NEWS: i64 = -1001234567890;

fn bundle(o: &Office, name: &str) {
    o.drop_file(&format!("{name}.pdf"), &pdf(name));
    o.drop_file(
        &format!("{name}.yaml"),
        format!("caption: {name}\n").as_bytes(),
    );
}

#[test]
fn server_errors_are_retried_with_growing_pauses_and_post_once() {
    let o = Office::new();
    o.bot.fail_next(
        "sendDocument",
        Fault::Status(500, "Internal Server Error".into()),
    );
    o.bot
        .fail_next("sendDocument", Fault::Status(502, "Bad Gateway".into()));
    o.bot
        .fail_next("sendDocument", Fault::Status(502, "Bad Gateway".into()));
    bundle(&o, "a");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let sends: Vec<_> = o
        .bot
        .requests()
        .into_iter()
        .filter(|r| r.method == "sendDocument")
        .collect();
    assert_eq!(sends.len(), 4, "three failures, one success, nothing more");
    // Backoff: 1 s, 2 s, 4 s between attempts.
    for (i, min) in [(1, 1.0), (2, 2.0), (3, 4.0)] {
        let gap = (sends[i].at - sends[i - 1].at).as_secs_f64();
        assert!(
            gap >= min * 0.95,
            "attempt {i} came {gap:.2}s after the previous one"
        );
    }
    assert_eq!(o.bot.chat_messages(NEWS).len(), 1);
}

#[test]
fn an_unreachable_telegram_is_not_hammered() {
    let o = Office::new();
    for _ in 0..20 {
        o.bot
            .fail_next("sendMessage", Fault::Status(502, "Bad Gateway".into()));
    }
    let d = o.run();
    d.wait_log("watching", LONG);
    o.drop_file("a.yaml", b"text: hello\n");
    wait_until(LONG, "three attempts", || {
        o.bot
            .requests()
            .iter()
            .filter(|r| r.method == "sendMessage")
            .count()
            >= 3
    });
    let sends: Vec<_> = o
        .bot
        .requests()
        .into_iter()
        .filter(|r| r.method == "sendMessage")
        .collect();
    let span = sends.last().unwrap().at - sends[0].at;
    // Three attempts take at least 1 s + 2 s: never a tight loop.
    assert!(span >= Duration::from_millis(2900), "{span:?}");
    assert!(o.bot.posts().is_empty());
    drop(d);
}

#[test]
fn a_request_that_never_answers_is_resent_by_default() {
    let o = Office::new();
    o.edit_config("pacing: false", "pacing: false\n  timeout: 1s");
    o.bot.fail_next("sendDocument", Fault::Hang);
    bundle(&o, "a");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        o.bot
            .requests()
            .iter()
            .filter(|r| r.method == "sendDocument")
            .count(),
        2
    );
    assert_eq!(o.bot.chat_messages(NEWS).len(), 1);
}

#[test]
fn a_request_that_never_answers_goes_to_failed_with_uncertain_fail() {
    let o = Office::with("uncertain: fail\nwatch: {settle: 300ms}\n");
    o.edit_config("pacing: false", "pacing: false\n  timeout: 1s");
    o.bot.fail_next("sendDocument", Fault::Hang);
    bundle(&o, "a");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        o.bot
            .requests()
            .iter()
            .filter(|r| r.method == "sendDocument")
            .count(),
        1
    );
    let report = std::fs::read_to_string(o.path("failed/a.error.txt")).unwrap();
    assert!(
        report.contains("not certain that the post reached"),
        "{report}"
    );
    assert!(report.contains("Look at the channel"), "{report}");
}

#[test]
fn not_enough_rights_is_explained_in_plain_words() {
    let o = Office::with("language: it\nwatch: {settle: 300ms}\n");
    o.bot.fail_next(
        "sendDocument",
        Fault::Status(
            400,
            "Bad Request: not enough rights to send documents to the chat".into(),
        ),
    );
    bundle(&o, "a");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1));
    let report = std::fs::read_to_string(o.path("failed/a.error.txt")).unwrap();
    assert!(
        report.contains("non ha il permesso di pubblicare"),
        "{report}"
    );
    assert!(report.contains("not enough rights"), "{report}");
    assert_eq!(std::fs::read(o.path("failed/a.pdf")).unwrap(), pdf("a"));
}

#[test]
fn faults_keep_the_order_of_a_channel() {
    let o = Office::new();
    let d = o.run();
    d.wait_log("watching", LONG);
    o.bot.fail_next("sendDocument", Fault::RetryAfter(1));
    o.bot
        .fail_next("sendDocument", Fault::Status(502, "Bad Gateway".into()));
    // Bundles complete in this order, one after the other.
    for name in ["first", "second", "third"] {
        bundle(&o, name);
        d.wait_log(&format!("bundle={name}.pdf"), LONG);
    }
    o.bot.wait_for_posts(3, LONG);
    let captions: Vec<String> = o
        .bot
        .chat_messages(NEWS)
        .iter()
        .map(|m| m.text.clone().unwrap_or_default())
        .collect();
    assert_eq!(captions, vec!["first", "second", "third"]);
}

#[test]
fn a_restart_resumes_a_post_that_was_being_retried() {
    let o = Office::new();
    for _ in 0..3 {
        o.bot
            .fail_next("sendDocument", Fault::Status(502, "Bad Gateway".into()));
    }
    bundle(&o, "a");
    let mut d = o.run();
    wait_until(LONG, "a first failed attempt", || {
        o.bot.requests().iter().any(|r| r.method == "sendDocument")
    });
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(5)).success());
    // The bundle waits in the work folder, recorded in the journal.
    assert!(
        o.files("inbox").iter().any(|f| f.starts_with(".dropcast/")),
        "{:?}",
        o.files("inbox")
    );
    let _d2 = o.run();
    wait_until(LONG, "archived", || {
        o.archive_month().join("a.receipt.yaml").exists()
    });
    assert_eq!(o.bot.chat_messages(NEWS).len(), 1);
}

#[test]
fn sigterm_during_an_upload_stops_within_seconds_and_the_post_goes_out_after_restart() {
    let o = Office::new();
    o.bot.fail_next("sendDocument", Fault::Hang);
    let mut big = pdf("big");
    big.resize(8 * 1024 * 1024, b'x');
    o.drop_file("big.pdf", &big);
    o.drop_file("big.yaml", b"caption: big\n");
    let mut d = o.run();
    wait_until(LONG, "the upload in flight", || {
        o.bot
            .requests()
            .iter()
            .any(|r| r.method == "sendDocument" && r.status == 0)
    });
    let start = std::time::Instant::now();
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(5)).success(), "{}", d.log());
    assert!(start.elapsed() < Duration::from_secs(5));
    // Nothing half-archived: the bundle waits, whole, in the work folder.
    assert!(o.files("archive").is_empty(), "{:?}", o.files("archive"));
    let waiting: Vec<String> = o
        .files("inbox")
        .into_iter()
        .filter(|f| f.starts_with(".dropcast/") && !f.contains("/.sent"))
        .collect();
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(o.bot.chat_messages(NEWS).len(), 1);
    assert_eq!(
        std::fs::read(o.archive_month().join("big.pdf")).unwrap(),
        big
    );
}

#[test]
fn a_connection_reset_is_retried_and_posts_once() {
    let o = Office::new();
    o.bot.fail_next("sendDocument", Fault::Reset);
    o.bot.fail_next("sendDocument", Fault::Reset);
    bundle(&o, "a");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        o.bot
            .requests()
            .iter()
            .filter(|r| r.method == "sendDocument")
            .count(),
        3
    );
    assert_eq!(o.bot.chat_messages(NEWS).len(), 1);
}

#[test]
fn a_missing_or_damaged_journal_stops_dropcast_with_an_explanation() {
    let o = Office::new();
    bundle(&o, "a");
    assert!(o.once().status.success());
    // Damaged: garbage where the journal was.
    let journal = o.path("state/journal.sqlite");
    std::fs::write(&journal, vec![0x42u8; 8192]).unwrap();
    let _ = std::fs::remove_file(o.path("state/journal.sqlite-wal"));
    let _ = std::fs::remove_file(o.path("state/journal.sqlite-shm"));
    bundle(&o, "b");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("is damaged"), "{}", text(&out));
    // Missing: dropcast does not start over from an empty journal (that could repost).
    std::fs::remove_file(&journal).unwrap();
    let out = o.once();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("is missing"), "{}", text(&out));
    assert_eq!(
        o.bot.chat_messages(NEWS).len(),
        1,
        "nothing posted without a journal"
    );
    assert!(
        o.inbox("b.pdf").exists(),
        "the new bundle waits in the inbox"
    );
}
