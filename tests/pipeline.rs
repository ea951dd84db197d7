//! The way a file travels, end to end: the real binary, a temporary office, the strict fake Bot
//! API.

mod common;

use std::time::Duration;

use common::fake_bot::Fault;
use common::*;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn pdf_with_sidecar_is_posted_then_archived_with_a_receipt() {
    let o = Office::new();
    let bytes = pdf("notice");
    o.drop_file("notice.pdf", &bytes);
    o.drop_file(
        "notice.yaml",
        b"caption: |\n  **Orange alert** from 14:00 & schools <close> at 13:00.\nsilent: true\n",
    );

    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));

    let posts = o.bot.posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let p = &posts[0];
    assert_eq!(p.method, "sendDocument");
    assert_eq!(p.chat_id.as_deref(), Some("@town_news"));
    assert_eq!(
        p.field("caption"),
        Some("<b>Orange alert</b> from 14:00 &amp; schools &lt;close&gt; at 13:00.")
    );
    assert_eq!(p.field("parse_mode"), Some("HTML"));
    assert_eq!(p.field("disable_notification"), Some("true"));
    let upload = p.file("document").expect("the PDF was uploaded");
    assert_eq!(upload.sha256, sha256(&bytes));
    assert_eq!(upload.file_name.as_deref(), Some("notice.pdf"));
    o.bot.assert_clean();

    let month = o.archive_month();
    assert_eq!(std::fs::read(month.join("notice.pdf")).unwrap(), bytes);
    assert!(month.join("notice.yaml").exists());
    let receipt = std::fs::read_to_string(month.join("notice.receipt.yaml")).unwrap();
    assert!(receipt.contains("https://t.me/town_news/1"), "{receipt}");
    assert!(receipt.contains(&sha256(&bytes)), "{receipt}");
    assert!(o.files("inbox").is_empty(), "inbox: {:?}", o.files("inbox"));
    assert!(o.files("failed").is_empty());
    o.assert_token_never_written();
}

#[test]
fn photo_and_text_posts() {
    let o = Office::new();
    let image = png(800, 600);
    o.drop_file("square.png", &image);
    o.drop_file("square.yaml", b"caption: Piazza _Garibaldi_\n");
    o.drop_file(
        "roads.yaml",
        b"text: \"Via Roma is closed until Friday.\"\nlink_preview: false\n",
    );
    // Too tall for a photo (ratio over 20): goes as a document.
    o.drop_file("banner.png", &png(100, 2500));
    o.drop_file("banner.yaml", b"caption: banner\n");

    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 3, "{posts:#?}");
    let photo = posts
        .iter()
        .find(|p| p.method == "sendPhoto")
        .expect("a photo");
    assert_eq!(photo.field("caption"), Some("Piazza <i>Garibaldi</i>"));
    assert_eq!(photo.file("photo").unwrap().sha256, sha256(&image));
    let text_post = posts
        .iter()
        .find(|p| p.method == "sendMessage")
        .expect("a text post");
    assert_eq!(
        text_post.field("text"),
        Some("Via Roma is closed until Friday.")
    );
    assert!(
        text_post
            .field("link_preview_options")
            .unwrap()
            .contains("\"is_disabled\":true")
    );
    let doc = posts
        .iter()
        .find(|p| p.method == "sendDocument")
        .expect("the banner as a document");
    assert_eq!(
        doc.file("document").unwrap().file_name.as_deref(),
        Some("banner.png")
    );
    o.bot.assert_clean();
    let month = o.archive_month();
    for f in [
        "square.png",
        "square.yaml",
        "roads.yaml",
        "roads.receipt.yaml",
        "banner.png",
    ] {
        assert!(
            month.join(f).exists(),
            "{f} not archived: {:?}",
            o.files("archive")
        );
    }
}

#[test]
fn junk_is_left_alone() {
    let o = Office::new();
    let junk = [
        "Thumbs.db",
        "desktop.ini",
        ".DS_Store",
        "~$notice.pdf",
        "draft.pdf.part",
        "download.pdf.crdownload",
        "._notice.pdf",
        "notes.txt",
        "scan.tmp",
    ];
    for j in junk {
        o.drop_file(j, b"junk");
    }
    o.drop_file("notice.pdf", &pdf("n"));
    o.drop_file("notice.yaml", b"caption: hi\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(o.bot.posts().len(), 1);
    let mut left = o.files("inbox");
    left.retain(|f| !f.starts_with(".dropcast"));
    let mut expected: Vec<String> = junk.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(left, expected);
    for j in junk {
        assert_eq!(std::fs::read(o.inbox(j)).unwrap(), b"junk");
    }
}

#[test]
fn a_bad_sidecar_goes_to_failed_with_a_readable_report() {
    let o = Office::with("language: it\nwatch: {settle: 300ms}\n");
    o.drop_file("notice.pdf", &pdf("n"));
    o.drop_file("notice.yaml", b"captoin: hello\n");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(o.bot.posts().is_empty());
    assert_eq!(
        o.files("failed"),
        vec!["notice.error.txt", "notice.pdf", "notice.yaml"]
    );
    let report = std::fs::read_to_string(o.path("failed/notice.error.txt")).unwrap();
    assert!(report.contains("captoin"), "{report}");
    assert!(report.contains("caption"), "{report}");
    // Before issue 15 the detail of an Italian report was English ("line 1").
    assert!(report.contains("riga 1, colonna 1"), "{report}");
    assert!(report.contains("Come rimediare"), "{report}");
    assert_eq!(
        std::fs::read(o.path("failed/notice.pdf")).unwrap(),
        pdf("n")
    );
}

#[test]
fn a_fake_pdf_is_refused_with_that_reason() {
    let o = Office::new();
    o.drop_file("notice.pdf", b"<html>not a pdf</html>");
    o.drop_file("notice.yaml", b"caption: hi\n");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1));
    let report = std::fs::read_to_string(o.path("failed/notice.error.txt")).unwrap();
    assert!(report.contains("is not really a PDF"), "{report}");
}

#[test]
fn a_name_clash_in_the_archive_never_overwrites() {
    let o = Office::new();
    let month = o.archive_month();
    std::fs::create_dir_all(&month).unwrap();
    std::fs::write(month.join("notice.pdf"), b"last month's notice").unwrap();
    std::fs::write(month.join("notice.receipt.yaml"), b"old receipt").unwrap();
    o.drop_file("notice.pdf", &pdf("new"));
    o.drop_file("notice.yaml", b"caption: new\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read(month.join("notice.pdf")).unwrap(),
        b"last month's notice"
    );
    assert_eq!(
        std::fs::read(month.join("notice.receipt.yaml")).unwrap(),
        b"old receipt"
    );
    assert_eq!(
        std::fs::read(month.join("notice (2).pdf")).unwrap(),
        pdf("new")
    );
    assert!(month.join("notice (2).yaml").exists());
    let receipt = std::fs::read_to_string(month.join("notice (2).receipt.yaml")).unwrap();
    assert!(receipt.contains("notice (2).pdf"), "{receipt}");
}

#[test]
fn the_same_files_are_not_posted_twice_unless_asked() {
    let o = Office::new();
    o.drop_file("notice.pdf", &pdf("same"));
    o.drop_file("notice.yaml", b"caption: first\n");
    assert!(o.once().status.success());
    o.drop_file("again.pdf", &pdf("same"));
    o.drop_file("again.yaml", b"caption: second\n");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(o.bot.posts().len(), 1);
    let report = std::fs::read_to_string(o.path("failed/again.error.txt")).unwrap();
    assert!(report.contains("https://t.me/town_news/1"), "{report}");
    assert!(report.contains("repost: true"), "{report}");

    o.drop_file("third.pdf", &pdf("same"));
    o.drop_file("third.yaml", b"caption: third\nrepost: true\n");
    assert!(o.once().status.success());
    assert_eq!(o.bot.posts().len(), 2);
}

/// Bundles are taken into the journal in batches; two copies of the same files in one batch
/// must still be caught (the journal does not know the first one yet when the second is checked).
#[test]
fn two_copies_dropped_together_are_posted_once() {
    let o = Office::new();
    for name in ["a", "b", "c"] {
        o.drop_file(&format!("{name}.pdf"), &pdf("same"));
        o.drop_file(&format!("{name}.yaml"), b"caption: hello\n");
    }
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(o.bot.posts().len(), 1);
    let reports: Vec<String> = ["b", "c"]
        .iter()
        .map(|n| std::fs::read_to_string(o.path(&format!("failed/{n}.error.txt"))).unwrap())
        .collect();
    for r in &reports {
        // Refused once the first is in the journal: while it is posted, or after, with its link.
        assert!(
            r.contains("being posted right now") || r.contains("https://t.me/town_news/1"),
            "{r}"
        );
    }
}

#[test]
fn dry_run_posts_nothing_and_moves_nothing() {
    let o = Office::new();
    o.drop_file("notice.pdf", &pdf("n"));
    o.drop_file("notice.yaml", b"caption: '**hi**'\n");
    let out = o.cmd(&["once", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sendDocument: notice.pdf with caption: <b>hi</b>"),
        "{stdout}"
    );
    assert!(o.bot.requests().is_empty());
    assert_eq!(o.files("inbox"), vec!["notice.pdf", "notice.yaml"]);
    assert!(!o.path("state").exists(), "dry run wrote a journal");
}

#[test]
fn a_long_caption_goes_first_as_text_then_the_document() {
    let o = Office::new();
    let para = "The town council meets on Monday to discuss the road works. ".repeat(10);
    let caption = format!("{para}\n\n{para}\n\n{para}");
    assert!(caption.len() > 1024);
    o.drop_file("council.pdf", &pdf("c"));
    o.drop_file(
        "council.yaml",
        format!("caption: |\n  {}\n", caption.replace('\n', "\n  ")).as_bytes(),
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    assert_eq!(posts.last().unwrap().method, "sendDocument");
    assert_eq!(posts.last().unwrap().field("caption"), None);
    assert!(posts.len() >= 2);
    let receipt = std::fs::read_to_string(o.archive_month().join("council.receipt.yaml")).unwrap();
    for p in &posts {
        assert!(
            receipt.contains(&format!("town_news/{}", p.message_ids[0])),
            "{receipt}"
        );
    }
    o.bot.assert_clean();
}

#[test]
fn subfolders_route_to_their_channel() {
    let o = Office::new();
    o.drop_file("meteo/alert.pdf", &pdf("a"));
    o.drop_file("meteo/alert.yaml", b"caption: storm\n");
    o.drop_file(
        "other.yaml",
        b"caption: to the private channel\nchannel: private\n",
    );
    assert!(o.once().status.success());
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 2);
    let alert = posts.iter().find(|p| p.method == "sendDocument").unwrap();
    assert_eq!(alert.chat_id.as_deref(), Some("@town_alerts"));
    let private = posts.iter().find(|p| p.method == "sendMessage").unwrap();
    assert_eq!(private.chat_id.as_deref(), Some("-1009876543210"));
    let receipt = std::fs::read_to_string(o.archive_month().join("other.receipt.yaml")).unwrap();
    assert!(receipt.contains("https://t.me/c/9876543210/1"), "{receipt}");
}

/// A public channel renamed after dropcast first posted keeps receiving posts: `@town_news` was
/// resolved to its id with `getChat` once, and the journal remembers it (the old name now gives
/// "chat not found").
#[test]
fn a_renamed_public_channel_keeps_receiving_posts() {
    let o = Office::new();
    o.drop_file("first.pdf", &pdf("first"));
    o.drop_file("first.yaml", b"caption: before the rename\n");
    assert!(o.once().status.success());
    o.bot.rename_channel(-1001234567890, "city_news");
    o.drop_file("second.pdf", &pdf("second"));
    o.drop_file("second.yaml", b"caption: after the rename\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let docs: Vec<_> = o
        .bot
        .requests_for("sendDocument")
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(docs.len(), 2);
    assert!(
        docs.iter()
            .all(|r| r.chat_id_sent.as_deref() == Some("-1001234567890")),
        "{docs:#?}"
    );
    // Resolved once: the second run asked only for the channel it had not resolved yet, if any.
    let asked_news = o
        .bot
        .requests_for("getChat")
        .into_iter()
        .filter(|r| r.chat_id_sent.as_deref() == Some("@town_news"))
        .count();
    assert_eq!(asked_news, 1);
    o.bot.assert_clean();
}

/// A clerk makes a new folder and fills it at once: the files may be written before the kernel
/// watches the folder, and their events are lost. They are posted within seconds all the same,
/// not at the next rescan (5 minutes here). Before the fix, 4 folders of 10 waited.
#[test]
fn files_written_into_a_folder_made_that_moment_are_posted_at_once() {
    let o = Office::new();
    let d = o.run();
    d.wait_log("watching", Duration::from_secs(20));
    let n = 6;
    for i in 0..n {
        let dir = o.path("inbox").join(format!("office{i}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(format!("n{i}.pdf")), pdf(&format!("n{i}"))).unwrap();
        std::fs::write(dir.join(format!("n{i}.yaml")), b"caption: new folder\n").unwrap();
    }
    let posted = || {
        o.bot
            .requests()
            .iter()
            .filter(|r| r.method == "sendDocument")
            .count()
    };
    let start = std::time::Instant::now();
    while posted() < n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} of {n} posted\n{}",
            posted(),
            d.log()
        );
        // The poll interval of a wait with a deadline, not a pause to let things happen.
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn telegram_asking_to_wait_is_obeyed() {
    let o = Office::new();
    o.bot.fail_next("sendDocument", Fault::RetryAfter(1));
    o.drop_file("notice.pdf", &pdf("n"));
    o.drop_file("notice.yaml", b"caption: hi\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let sends: Vec<_> = o
        .bot
        .requests()
        .into_iter()
        .filter(|r| r.method == "sendDocument")
        .collect();
    assert_eq!(sends.len(), 2, "one refused, one accepted");
    assert!(sends[1].at - sends[0].at >= Duration::from_secs(1));
    assert_eq!(o.bot.posts().len(), 1);
}

#[test]
fn a_permanent_refusal_goes_to_failed_in_plain_words() {
    let o = Office::new();
    o.bot.fail_next(
        "sendDocument",
        Fault::Status(400, "Bad Request: chat not found".into()),
    );
    o.drop_file("notice.pdf", &pdf("n"));
    o.drop_file("notice.yaml", b"caption: hi\n");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = std::fs::read_to_string(o.path("failed/notice.error.txt")).unwrap();
    assert!(
        report.contains("does not exist, or the bot is not in it"),
        "{report}"
    );
    assert_eq!(
        std::fs::read(o.path("failed/notice.pdf")).unwrap(),
        pdf("n")
    );
    assert!(o.files("archive").is_empty());
}

#[test]
fn sidecar_before_and_after_the_media_file() {
    let o = Office::with("watch: {settle: 500ms, rescan_interval: 5m}\n");
    let mut d = o.run();
    d.wait_log("watching", LONG);
    // The sidecar first, the PDF right after.
    o.drop_file("first.yaml", b"caption: sidecar came first\n");
    o.drop_file("first.pdf", &pdf("first"));
    o.bot.wait_for_posts(1, LONG);
    // The PDF first; its sidecar only once the PDF has long settled.
    o.drop_file("second.pdf", &pdf("second"));
    d.wait_log("inbox/second.pdf", LONG);
    o.drop_file("second.yaml", b"caption: sidecar came after\n");
    let posts = o.bot.wait_for_posts(2, LONG);
    assert_eq!(posts.len(), 2, "{posts:#?}");
    assert_eq!(posts[0].field("caption"), Some("sidecar came first"));
    assert_eq!(posts[1].field("caption"), Some("sidecar came after"));
    assert!(posts.iter().all(|p| p.method == "sendDocument"));
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(5)).success());
}

#[test]
fn a_slowly_written_pdf_is_never_posted_half_written() {
    let o = Office::with("watch: {settle: 1s, rescan_interval: 5m}\n");
    let d = o.run();
    d.wait_log("watching", LONG);
    o.drop_file("scan.yaml", b"caption: slow scanner\n");
    // A scanner writing 2 KB every half second for 20 seconds: the pauses are the point.
    let path = o.inbox("scan.pdf");
    let mut full = Vec::new();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        let head = pdf("slow");
        f.write_all(&head).unwrap();
        full.extend_from_slice(&head);
        for i in 0..40u32 {
            let chunk = vec![b'a' + (i % 26) as u8; 2048];
            f.write_all(&chunk).unwrap();
            f.flush().unwrap();
            full.extend_from_slice(&chunk);
            std::thread::sleep(Duration::from_millis(500));
            assert!(
                o.bot.posts().is_empty(),
                "posted while being written (after {i} chunks)"
            );
        }
    }
    let posts = o.bot.wait_for_posts(1, LONG);
    assert_eq!(posts.len(), 1);
    let up = posts[0].file("document").unwrap();
    assert_eq!(up.size, full.len() as u64);
    assert_eq!(up.sha256, sha256(&full));
}

#[test]
fn poll_mode_picks_up_files() {
    let o = Office::with("watch: {mode: poll, poll_interval: 300ms, settle: 300ms}\n");
    let d = o.run();
    d.wait_log("polling every 0.3s", LONG);
    o.drop_file("notice.pdf", &pdf("poll"));
    o.drop_file("notice.yaml", b"caption: polled\n");
    let posts = o.bot.wait_for_posts(1, LONG);
    assert_eq!(posts[0].field("caption"), Some("polled"));
    wait_until(LONG, "archived", || {
        o.archive_month().join("notice.receipt.yaml").exists()
    });
}

#[test]
fn a_restart_after_kill_posts_nothing_twice() {
    let o = Office::with("watch: {settle: 200ms}\n");
    let drop_bundle = |i: usize| {
        o.drop_file(&format!("n{i}.pdf"), &pdf(&format!("n{i}")));
        o.drop_file(
            &format!("n{i}.yaml"),
            format!("caption: notice {i}\n").as_bytes(),
        );
    };
    drop_bundle(0);
    drop_bundle(1);
    let mut d = o.run();
    o.bot.wait_for_posts(2, LONG);
    // The next upload never gets an answer: dropcast is killed while it is in flight.
    o.bot.fail_next("sendDocument", Fault::Hang);
    drop_bundle(2);
    drop_bundle(3);
    wait_until(LONG, "a hung request", || {
        o.bot.requests().iter().any(|r| r.status == 0)
    });
    d.signal(libc::SIGKILL);
    d.wait_exit(Duration::from_secs(5));

    let d2 = o.run();
    wait_until(LONG, "every bundle archived", || {
        (0..4).all(|i| {
            o.archive_month()
                .join(format!("n{i}.receipt.yaml"))
                .exists()
        })
    });
    drop(d2);
    // Each bundle was accepted by Telegram exactly once: the two posted before the kill were
    // not sent again, and the one in flight was sent again (`uncertain: resend`).
    let mut shas: Vec<String> = o
        .bot
        .posts()
        .iter()
        .map(|p| p.file("document").unwrap().sha256.clone())
        .collect();
    shas.sort();
    let mut expected: Vec<String> = (0..4).map(|i| sha256(&pdf(&format!("n{i}")))).collect();
    expected.sort();
    assert_eq!(shas, expected);
    o.assert_token_never_written();
}

#[test]
fn sigterm_stops_within_seconds() {
    let o = Office::new();
    let mut d = o.run();
    d.wait_log("watching", LONG);
    let start = std::time::Instant::now();
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(5)).success());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_config_error_names_the_key_and_line_and_exits_2() {
    let o = Office::new();
    std::fs::write(&o.config, format!("telegram:\n  token: \"{TOKEN}\"\n  api_url: {}\nchannels: {{news: \"@town_news\"}}\ninboxes: [{{path: inbox}}]\nwatch: {{setle: 3s}}\n", o.bot.url())).unwrap();
    let out = o.once();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("setle") && err.contains("line 6"), "{err}");
    assert!(!err.contains(TOKEN));
}

#[test]
fn a_refused_token_exits_2_without_printing_it() {
    let bot = common::fake_bot::FakeBot::start("111111:the-real-token-is-something-else-entirely");
    let o = Office::with_bot(bot, "");
    o.drop_file("notice.yaml", b"caption: hi\n");
    let out = o.once();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("refused the bot token"),
        "{}",
        text(&out)
    );
    o.assert_token_never_written();
}

#[test]
fn check_reports_sidecar_errors() {
    let o = Office::new();
    let good = o.drop_file("good.yaml", b"caption: fine\n");
    let bad = o.drop_file("bad.yaml", b"caption: fine\nchannel: newz\n");
    let out = o.cmd(&["check", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok ") && stdout.contains("good.yaml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("newz") && stdout.contains("line 2"),
        "{stdout}"
    );
    assert!(o.bot.requests().is_empty());
}

#[test]
fn a_scanner_folder_posts_lone_pdfs_with_its_default_caption() {
    let o = Office::new();
    std::fs::create_dir_all(o.inbox("scanner")).unwrap();
    let d = o.run();
    d.wait_log("watching", LONG);
    o.drop_file("scanner/delibera 42.pdf", &pdf("scan"));
    let posts = o.bot.wait_for_posts(1, LONG);
    assert_eq!(posts[0].chat_id.as_deref(), Some("@town_alerts"));
    assert_eq!(posts[0].field("caption"), Some("Scan delibera 42"));
    // It waited `sidecar_wait` (1 s) for a sidecar that might still come.
    let seen = d.log().find("inbox/scanner/delibera 42.pdf").is_some();
    assert!(seen, "{}", d.log());
    wait_until(LONG, "archived", || {
        o.archive_month().join("delibera 42.receipt.yaml").exists()
    });
}

#[test]
fn a_lone_pdf_in_a_required_folder_waits_and_stays() {
    let o = Office::new();
    o.drop_file("orphan.pdf", &pdf("o"));
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("still waiting 1"), "{}", text(&out));
    assert!(o.bot.posts().is_empty());
    assert_eq!(o.files("inbox"), vec!["orphan.pdf"]);
}

#[test]
fn a_lone_pdf_goes_to_failed_after_the_sidecar_timeout() {
    let o = Office::new();
    let text = std::fs::read_to_string(&o.config).unwrap();
    std::fs::write(
        &o.config,
        text.replace(
            "channels: {meteo: alerts}\n",
            "channels: {meteo: alerts}\n    sidecar_timeout: 1s\n",
        ),
    )
    .unwrap();
    let d = o.run();
    d.wait_log("watching", LONG);
    o.drop_file("orphan.pdf", &pdf("o"));
    wait_until(LONG, "orphan in failed/", || {
        o.path("failed/orphan.error.txt").exists()
    });
    let report = std::fs::read_to_string(o.path("failed/orphan.error.txt")).unwrap();
    assert!(report.contains("orphan.yaml"), "{report}");
    assert_eq!(
        std::fs::read(o.path("failed/orphan.pdf")).unwrap(),
        pdf("o")
    );
    assert!(o.bot.posts().is_empty());
}

/// Every bundle's work folder is watched (it is inside the inbox) and dropped again when it is
/// removed; notify logged that at INFO, one line per bundle, which buried the real log.
#[test]
fn native_watching_does_not_log_a_line_per_work_folder() {
    let o = Office::with("watch: {mode: native, settle: 300ms, rescan_interval: 5m}\n");
    let mut d = o.run();
    d.wait_log("watching", LONG);
    for i in 0..3 {
        o.drop_file(&format!("n{i}.pdf"), &pdf(&format!("n{i}")));
        o.drop_file(&format!("n{i}.yaml"), b"caption: hi\n");
        wait_until(LONG, "the bundle archived", || {
            o.archive_month()
                .join(format!("n{i}.receipt.yaml"))
                .exists()
        });
    }
    d.signal(libc::SIGTERM);
    d.wait_exit(LONG);
    let log = d.log();
    assert!(!log.contains("watch descriptor"), "{log}");
}
