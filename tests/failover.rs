//! After a failover (issue 12): a bundle from an inbox subfolder keeps its channel when the new
//! owner adopts it, a server restarted with the journal it had before the failover does not act
//! on it (nothing posted again, nothing in failed/), and such a server's recovery never takes a
//! clerk's new file of the same name for the old one. Two real `dropcast run`s on one share,
//! killed with SIGKILL while a request hangs at the fake Bot API (`Fault::Hang`: nothing is
//! posted by the hung request, so every post can be counted exactly).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::fake_bot::Fault;
use common::takeover::{ACTIVE, LEASE_TIMEOUT_LINE, STANDBY, Site};
use common::*;

/// Room for a loaded 2-core machine shared with other test runs.
const LONG: Duration = Duration::from_secs(40);

const HANDED_OVER_AT_START: &str = "another dropcast held this inbox since this one last did";

fn office() -> Office {
    Office::with(&format!(
        "watch: {{settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}}\n{LEASE_TIMEOUT_LINE}"
    ))
}

/// A (this office's config, journal `state/`) active and B (journal `state-standby/`) standing
/// by, on the office's inbox.
fn two_servers(o: &Office) -> (Daemon, Daemon) {
    let second = o.second_server("standby");
    let a = o.run();
    wait_for(o, "A active", &[&a], || Site::local(o).active_here(&a));
    let b = o.run_as(&second);
    b.wait_log(STANDBY, LONG);
    (a, b)
}

/// A PDF and its sidecar (`yaml` as the sidecar's text) at `rel` (inbox-relative, no
/// extension); returns the PDF's SHA-256.
fn bundle(o: &Office, rel: &str, seed: &str, yaml: &str) -> String {
    let doc = pdf(seed);
    o.drop_file(&format!("{rel}.pdf"), &doc);
    o.drop_file(&format!("{rel}.yaml"), yaml.as_bytes());
    sha256(&doc)
}

/// The office's channel a request's `chat_id` names, by its `@username` or its numeric id (a
/// dropcast that resolved the channel with `getChat` posts to the id): `news`, `alerts`, or the
/// `chat_id` itself.
fn channel(chat_id: &str) -> String {
    match chat_id {
        "@town_news" | "-1001234567890" => "news".into(),
        "@town_alerts" | "-1001111111111" => "alerts".into(),
        other => other.into(),
    }
}

/// Every document Telegram accepted, as (channel, SHA-256), sorted.
fn documents_by_chat(o: &Office) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = o
        .bot
        .requests()
        .iter()
        .filter(|r| r.method == "sendDocument" && r.status == 200)
        .map(|r| {
            (
                channel(r.chat_id.as_deref().unwrap_or_default()),
                r.file("document")
                    .map(|f| f.sha256.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Whether a `sendDocument` is hanging at the fake (accepted, never answered).
fn a_request_hangs(o: &Office) -> bool {
    o.bot
        .requests()
        .iter()
        .any(|r| r.method == "sendDocument" && r.status == 0)
}

/// The clerks' files still in the inbox itself (not taken into a work folder, not the leases).
fn not_taken(o: &Office) -> Vec<String> {
    o.files("inbox")
        .into_iter()
        .filter(|f| !f.starts_with(".dropcast/"))
        .collect()
}

/// The hidden files of the inbox's work folders whose names start with `prefix`.
fn work_records(o: &Office, prefix: &str) -> Vec<PathBuf> {
    o.files("inbox")
        .into_iter()
        .filter(|f| f.starts_with(".dropcast/"))
        .filter(|f| {
            f.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .map(|f| o.inbox(&f))
        .collect()
}

/// Whether a work folder's sent log says that `file`'s bundle went out to the channel `chat`.
fn logged_as_sent(o: &Office, file: &str, chat: &str) -> bool {
    work_records(o, ".sent.").iter().any(|p| {
        let Ok(bytes) = std::fs::read(p) else {
            return false;
        };
        // A line being written does not parse yet: looked at again at the next poll.
        let Ok(line) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return false;
        };
        line["chat"].as_str().is_some_and(|c| channel(c) == chat)
            && line["event"].get("sent").is_some()
            && line["files"]
                .as_array()
                .is_some_and(|f| f.iter().any(|n| n == file))
    })
}

/// Every file in failed/ with the text of its reports.
fn failed_reports(o: &Office) -> String {
    o.files("failed")
        .iter()
        .map(|f| {
            if f.ends_with(".error.txt") {
                let report = std::fs::read_to_string(o.path("failed").join(f));
                format!("{f}:\n{}", report.unwrap_or_default())
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Moves the file `name` from the inbox's work folder (there must be exactly one) back to where
/// it was dropped, as a dropcast adopting that folder does.
fn put_back_into_inbox(o: &Office, a: &Daemon, name: &str) {
    let in_work: Vec<String> = o
        .files("inbox")
        .into_iter()
        .filter(|f| f.starts_with(".dropcast/") && f.ends_with(&format!("/{name}")))
        .collect();
    assert_eq!(in_work.len(), 1, "{:?}\n{}", o.files("inbox"), a.log());
    std::fs::rename(o.inbox(&in_work[0]), o.inbox(name)).unwrap();
}

fn receipts(o: &Office) -> Vec<String> {
    o.files("archive")
        .into_iter()
        .filter(|f| f.ends_with(".receipt.yaml"))
        .collect()
}

/// [`wait_until`], saying at the deadline what the office holds, what the fake saw and what
/// each server logged.
fn wait_for(o: &Office, what: &str, servers: &[&Daemon], cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        if start.elapsed() > LONG {
            let requests: Vec<String> = o
                .bot
                .requests()
                .iter()
                .map(|r| format!("{} {:?} {}", r.method, r.chat_id, r.status))
                .collect();
            let logs: Vec<String> = servers.iter().map(|d| d.log()).collect();
            panic!(
                "timed out after {LONG:?} waiting for {what}\ninbox {:?}\narchive {:?}\n\
                 failed {:?}\nrequests {requests:?}\n--- server ---\n{}",
                o.files("inbox"),
                o.files("archive"),
                o.files("failed"),
                logs.join("\n--- next server ---\n")
            );
        }
        // The poll interval of a wait with a deadline, not a pause to let things happen.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(a: &mut Daemon) {
    a.signal(libc::SIGKILL);
    a.wait_exit(LONG);
}

/// A clean stop: the server hands its leases on.
fn stop(d: &mut Daemon) {
    d.signal(libc::SIGTERM);
    let status = d.wait_exit(LONG);
    assert!(status.success(), "{status:?}\n{}", d.log());
}

fn logs(a: &Daemon, b: &Daemon) -> String {
    format!("--- A ---\n{}\n--- B ---\n{}", a.log(), b.log())
}

/// A bundle dropped in `inbox/meteo/` (routed to the alerts channel) is taken by A into its work
/// folder, which records where the files came from; A is killed while its request hangs. The
/// standby adopts the folder and puts the files back into `inbox/meteo/`, not into the inbox
/// itself: the bundle goes out once, to alerts and never to news, and is archived.
#[test]
fn an_adopted_bundle_from_a_subfolder_keeps_its_channel() {
    let o = office();
    o.bot.fail_next("sendDocument", Fault::Hang);
    // The office's subfolder is there before the servers start, as `dropcast init` or the IT
    // person made it (files written at once into a folder created while dropcast runs can be
    // missed by its kernel events until the next rescan: not what this test is about).
    std::fs::create_dir_all(o.inbox("meteo")).unwrap();
    let (mut a, mut b) = two_servers(&o);
    let storm = bundle(&o, "meteo/storm", "storm", "caption: storm warning\n");
    wait_for(&o, "A's request hanging", &[&a], || a_request_hangs(&o));
    let hung = o.bot.requests();
    let hung = hung.iter().find(|r| r.status == 0).unwrap();
    assert_eq!(
        hung.chat_id.as_deref().map(channel).as_deref(),
        Some("alerts"),
        "{}",
        a.log()
    );
    // What A recorded in its work folder of where the files came from (B removes the folder
    // when it adopts it): checked at the end.
    let records: Vec<serde_json::Value> = work_records(&o, ".from.")
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();

    kill(&mut a);
    wait_for(&o, "B active", &[&a, &b], || {
        Site::local(&o).active_here(&b)
    });
    wait_for(&o, "the alert archived", &[&a, &b], || {
        !receipts(&o).is_empty()
    });
    wait_for(&o, "the inbox empty", &[&a, &b], || {
        o.files("inbox").is_empty()
    });
    assert_eq!(
        documents_by_chat(&o),
        vec![("alerts".to_string(), storm.clone())],
        "{}",
        logs(&a, &b)
    );
    assert!(
        !o.bot.requests().iter().any(|r| r.method.starts_with("send")
            && r.chat_id.as_deref().map(channel).as_deref() == Some("news")),
        "a post (even a refused one) to the inbox's own channel\n{}",
        logs(&a, &b)
    );
    let month = o.archive_month();
    assert_eq!(
        std::fs::read(month.join("storm.pdf")).unwrap(),
        pdf("storm")
    );
    let receipt = std::fs::read_to_string(month.join("storm.receipt.yaml")).unwrap();
    assert!(receipt.contains("town_alerts"), "{receipt}");
    assert!(o.files("failed").is_empty(), "{}", failed_reports(&o));
    // It was dropcast itself that wrote the record, before the files moved: `meteo` for both.
    assert_eq!(
        records,
        vec![serde_json::json!({"storm.pdf": "meteo", "storm.yaml": "meteo"})],
        "{}",
        logs(&a, &b)
    );
    stop(&mut b);
    o.bot.assert_clean();
}

/// The same from a work folder an old server left, as a new server with an empty journal finds
/// it: its `.from` record names the subfolder of some files only. Those go back into
/// `inbox/meteo/` (alerts); the others, and those whose record points outside the inbox, into
/// the inbox itself (news): a record on the share never moves a file out of the inbox.
#[test]
fn an_empty_journal_puts_adopted_files_back_into_their_subfolder() {
    let o = office();
    std::fs::create_dir_all(o.inbox("meteo")).unwrap();
    let work = o.inbox(".dropcast/1700000000-0");
    std::fs::create_dir_all(&work).unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(work.join(name), bytes).unwrap();
    put("x.pdf", &pdf("x from meteo"));
    put("x.yaml", b"caption: from meteo\n");
    put("y.pdf", &pdf("y from the inbox"));
    put("y.yaml", b"caption: from the inbox\n");
    put("z.pdf", &pdf("z claims failed"));
    put("z.yaml", b"caption: a record pointing outside\n");
    // The sent log's mark, with no line: nothing of the folder was begun.
    put(".sent", b"");
    put(
        ".from.01700000000000000000.json",
        br#"{"x.pdf":"meteo","x.yaml":"meteo","z.pdf":"../failed","z.yaml":"../failed"}"#,
    );

    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let mut expected = vec![
        ("alerts".to_string(), sha256(&pdf("x from meteo"))),
        ("news".to_string(), sha256(&pdf("y from the inbox"))),
        ("news".to_string(), sha256(&pdf("z claims failed"))),
    ];
    expected.sort();
    assert_eq!(documents_by_chat(&o), expected, "{}", text(&out));
    let month = o.archive_month();
    for n in ["x", "y", "z"] {
        assert!(
            month.join(format!("{n}.receipt.yaml")).exists(),
            "{n}: {:?}",
            o.files("archive")
        );
    }
    assert!(o.files("failed").is_empty(), "{:?}", o.files("failed"));
    assert!(o.files("inbox").is_empty(), "{:?}", o.files("inbox"));
    o.bot.assert_clean();
}

/// What the failover scenario of the next two tests leaves behind.
struct Backlog {
    /// (chat, SHA-256) of every post each bundle needs, sorted.
    expected: Vec<(String, String)>,
}

/// A posts part of a backlog to two channels and is killed with the rest in its journal and
/// work folders: `n0`'s request (news) hangs, so `n1`..`n3` (news) wait behind it; `a0`..`a2`
/// (alerts) are posted and archived; `both` (news and alerts) went out to alerts only. B takes
/// over and finishes everything, then stops cleanly (handing the lease on). Each post is
/// checked to have gone out exactly once (the hung request posted nothing).
fn backlog_finished_by_the_standby(o: &Office) -> Backlog {
    o.bot.fail_next("sendDocument", Fault::Hang);
    let (mut a, mut b) = two_servers(o);
    let mut expected = Vec::new();
    let news = |sha: String| ("news".to_string(), sha);
    let alerts = |sha: String| ("alerts".to_string(), sha);
    expected.push(news(bundle(o, "n0", "n0", "caption: first\n")));
    wait_for(o, "n0's request hanging", &[&a], || a_request_hangs(o));
    for i in 1..4 {
        let n = format!("n{i}");
        expected.push(news(bundle(o, &n, &n, "caption: behind n0\n")));
    }
    for i in 0..3 {
        let n = format!("a{i}");
        expected.push(alerts(bundle(
            o,
            &n,
            &n,
            "caption: alert\nchannel: alerts\n",
        )));
    }
    let both = bundle(
        o,
        "both",
        "both",
        "caption: both\nchannel: [news, alerts]\n",
    );
    expected.push(news(both.clone()));
    expected.push(alerts(both));
    expected.sort();
    wait_for(o, "A took every bundle, posted the alerts", &[&a], || {
        not_taken(o).is_empty() && receipts(o).len() == 3 && logged_as_sent(o, "both.pdf", "alerts")
    });
    // Nothing of the news channel went out: A's journal holds five deliveries still to do.
    assert!(
        !documents_by_chat(o).iter().any(|(c, _)| c == "news"),
        "{}",
        a.log()
    );
    kill(&mut a);
    wait_for(o, "B active", &[&a, &b], || Site::local(o).active_here(&b));
    wait_for(o, "B finished the backlog", &[&a, &b], || {
        receipts(o).len() == 8 && o.files("inbox").is_empty()
    });
    assert_eq!(documents_by_chat(o), expected, "{}", logs(&a, &b));
    assert!(o.files("failed").is_empty(), "{:?}", o.files("failed"));
    stop(&mut b);
    Backlog { expected }
}

/// A server restarted with the journal it had when it was killed, after the standby finished
/// its work: it says another dropcast held the inbox, and posts nothing of that journal again,
/// and reports nothing in failed/ (it used to resume its deliveries and fail each, "cannot
/// open"); a bundle dropped afterwards it posts as usual.
#[test]
fn a_server_restarted_after_a_failover_does_not_act_on_its_old_journal() {
    let o = office();
    let Backlog { mut expected } = backlog_finished_by_the_standby(&o);
    let mut a = o.run();
    wait_for(&o, "A active", &[&a], || Site::local(&o).active_here(&a));
    // A bundle behind whatever A's journal would still send to news: once it is archived, the
    // old deliveries would have gone out before it.
    expected.push((
        "news".to_string(),
        bundle(&o, "after", "after", "caption: after the restart\n"),
    ));
    expected.sort();
    wait_for(&o, "the new bundle archived", &[&a], || {
        o.archive_month().join("after.receipt.yaml").exists()
    });
    assert_eq!(documents_by_chat(&o), expected, "{}", a.log());
    assert!(
        o.files("failed").is_empty(),
        "{}\n{}",
        failed_reports(&o),
        a.log()
    );
    assert!(
        !a.log()
            .contains("resumed a bundle interrupted by a restart"),
        "{}",
        a.log()
    );
    wait_for(&o, "the inbox empty", &[&a], || o.files("inbox").is_empty());
    assert_eq!(receipts(&o).len(), 9, "{:?}", receipts(&o));
    assert!(a.log().contains(HANDED_OVER_AT_START), "{}", a.log());
    stop(&mut a);
    o.bot.assert_clean();
}

/// After the failover, with both servers stopped, a clerk drops a new `n1.pdf` and `n1.yaml`
/// (other content) where A's old bundle `n1` was dropped. A, restarted with its old journal,
/// must not take the new files for its old bundle (into its old work folder, under the old
/// post): they are a new bundle, posted with their own content and caption, and archived.
#[test]
fn a_restarted_server_does_not_take_a_clerks_new_file_for_its_old_one() {
    let o = office();
    let Backlog { mut expected } = backlog_finished_by_the_standby(&o);
    let new = bundle(&o, "n1", "n1, the second version", "caption: corrected\n");
    expected.push(("news".to_string(), new.clone()));
    expected.sort();
    let mut a = o.run();
    a.wait_log(ACTIVE, LONG);
    wait_for(&o, "the new n1 posted", &[&a], || {
        documents_by_chat(&o).len() == expected.len()
    });
    wait_for(&o, "the new n1 archived", &[&a], || receipts(&o).len() == 9);
    wait_for(&o, "the inbox empty", &[&a], || o.files("inbox").is_empty());
    assert_eq!(documents_by_chat(&o), expected, "{}", a.log());
    let post = o
        .bot
        .requests()
        .into_iter()
        .find(|r| r.status == 200 && r.file("document").is_some_and(|f| f.sha256 == new))
        .unwrap();
    assert_eq!(post.field("caption"), Some("corrected"), "{}", a.log());
    // The new version is in the archive next to the old one (9 receipts: one per bundle).
    let archived: Vec<Vec<u8>> = o
        .files("archive")
        .iter()
        .filter(|f| f.ends_with(".pdf") && f.rsplit('/').next().unwrap().starts_with("n1"))
        .map(|f| std::fs::read(o.path("archive").join(f)).unwrap())
        .collect();
    assert_eq!(archived.len(), 2, "{:?}", o.files("archive"));
    assert!(archived.contains(&pdf("n1, the second version")));
    assert!(archived.contains(&pdf("n1")));
    assert!(
        !a.log()
            .contains("resumed a bundle interrupted by a restart"),
        "{}",
        a.log()
    );
    // Nor is A's old bundle `n1` (posted and archived by B) reported in failed/ because its
    // files are not where A's journal left them.
    assert!(
        o.files("failed").is_empty(),
        "{}\n{}",
        failed_reports(&o),
        a.log()
    );
    stop(&mut a);
    o.bot.assert_clean();
}

/// The soak's text posts refused as duplicates of themselves (seed 1796434397778842694): B took
/// the inbox over from a frozen A and began to put A's work folder back into the inbox, was frozen
/// itself in the middle, and A took the inbox back and put its own bundles back into their work
/// folders. B then woke up and moved the rest of A's work folder (text posts, last in name order)
/// into the inbox before it found its lease taken. A took those sidecars as new bundles and
/// refused each as a duplicate of its own bundle ("it is being posted right now"), whose file
/// they were: into failed/, never posted. Here A alone holds the inbox, a text post waits for
/// Telegram's `retry_after`, and its sidecar is moved from A's work folder back to where it was
/// dropped, as B did: A puts it back into its work folder, posts it once, and refuses nothing.
#[test]
fn a_bundle_of_this_journal_put_back_into_the_inbox_is_taken_back_not_refused() {
    let o = office();
    o.bot.fail_next("sendMessage", Fault::RetryAfter(5));
    let mut a = o.run();
    wait_for(&o, "A active", &[&a], || Site::local(&o).active_here(&a));
    o.drop_file("t1.yaml", b"text: A text post for everyone\n");
    wait_for(&o, "the text post told to retry after 5 s", &[&a], || {
        o.bot
            .requests()
            .iter()
            .any(|r| r.method == "sendMessage" && r.status == 429)
    });
    // What the other dropcast, woken up, does before it finds its lease taken.
    put_back_into_inbox(&o, &a, "t1.yaml");
    wait_for(&o, "t1.yaml taken from the inbox", &[&a], || {
        not_taken(&o).is_empty()
    });
    wait_for(&o, "the text post archived or failed", &[&a], || {
        receipts(&o).len() == 1 || !o.files("failed").is_empty()
    });
    assert!(
        o.files("failed").is_empty(),
        "{}\n{}",
        failed_reports(&o),
        a.log()
    );
    let posted: Vec<String> = o
        .bot
        .requests()
        .iter()
        .filter(|r| r.method == "sendMessage" && r.status == 200)
        .map(|r| r.field("text").unwrap_or_default().to_string())
        .collect();
    assert_eq!(posted, ["A text post for everyone"], "{}", a.log());
    assert!(!a.log().contains("refused"), "{}", a.log());
    stop(&mut a);
    o.bot.assert_clean();
}

/// A dropcast frozen in the middle of adopting a bundle wakes up after the other one had it back
/// and was posting it, and moves the one file it was about to move back into the inbox before
/// it finds its lease taken: here `moved` of `notice.pdf` and `notice.yaml`. The owner takes that
/// file back into the work folder and posts the bundle once; neither half is posted or refused
/// on its own (the soak found the PDF missing at the retry: "cannot open", failed/).
fn a_file_put_back_during_a_retry(moved: &str, taken_back_by: &str) {
    let o = office();
    o.bot.fail_next("sendDocument", Fault::RetryAfter(4));
    let mut a = o.run();
    wait_for(&o, "A active", &[&a], || Site::local(&o).active_here(&a));
    let sha = bundle(&o, "notice", "split", "caption: The notice\n");
    wait_for(&o, "the post told to retry after 4 s", &[&a], || {
        o.bot
            .requests()
            .iter()
            .any(|r| r.method == "sendDocument" && r.status == 429)
    });
    put_back_into_inbox(&o, &a, moved);
    wait_for(&o, "the bundle archived or failed", &[&a], || {
        receipts(&o).len() == 1 || !o.files("failed").is_empty()
    });
    assert!(
        o.files("failed").is_empty(),
        "{}\n{}",
        failed_reports(&o),
        a.log()
    );
    assert_eq!(
        documents_by_chat(&o),
        [("news".to_string(), sha)],
        "{}",
        a.log()
    );
    let texts = o
        .bot
        .requests()
        .iter()
        .filter(|r| r.method == "sendMessage")
        .count();
    assert_eq!(texts, 0, "the sidecar was posted on its own\n{}", a.log());
    assert!(not_taken(&o).is_empty(), "{:?}", o.files("inbox"));
    assert!(a.log().contains(taken_back_by), "{}", a.log());
    let archived = o.files("archive");
    assert!(
        ["notice.pdf", "notice.yaml"]
            .iter()
            .all(|n| archived.iter().any(|f| f.ends_with(&format!("/{n}")))),
        "{archived:?}"
    );
    stop(&mut a);
    o.bot.assert_clean();
}

#[test]
fn a_pdf_put_back_into_the_inbox_during_a_retry_is_taken_back_and_posted_once() {
    // A PDF alone waits for its sidecar (`sidecar_wait`, 30 s): the retry meets it first.
    a_file_put_back_during_a_retry(
        "notice.pdf",
        "a file of the post was put back into the inbox by another dropcast",
    );
}

#[test]
fn a_sidecar_put_back_into_the_inbox_during_a_retry_is_taken_back_not_posted_alone() {
    // The retry needs only the PDF: the watcher meets the sidecar.
    a_file_put_back_during_a_retry(
        "notice.yaml",
        "a bundle of this journal that another dropcast put back into the inbox",
    );
}
