//! Every kind of post a town's office makes: albums, schedules, buttons, pins, several channels,
//! pacing. The real binary against the strict fake Bot API.

mod common;

use std::time::{Duration, Instant};

use common::fake_bot::Fault;
use common::*;

const LONG: Duration = Duration::from_secs(30);
const NEWS: i64 = -1001234567890;
const ALERTS: i64 = -1001111111111;

#[test]
fn three_photos_make_one_album_with_the_caption_on_the_first() {
    let o = Office::new();
    let (a, b, c) = (png(400, 300), png(300, 400), png(500, 500));
    o.drop_file("festa.png", &a);
    o.drop_file("festa-2.png", &b);
    o.drop_file("festa-3.png", &c);
    o.drop_file(
        "festa.yaml",
        b"caption: '**Festa** in piazza'\nattachments: [festa-2.png, festa-3.png]\nsilent: true\n",
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let album = &posts[0];
    assert_eq!(album.method, "sendMediaGroup");
    assert_eq!(album.field("disable_notification"), Some("true"));
    let media: serde_json::Value = serde_json::from_str(album.field("media").unwrap()).unwrap();
    let items = media.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i["type"] == "photo"));
    assert_eq!(items[0]["caption"], "<b>Festa</b> in piazza");
    assert!(items[1].get("caption").is_none());
    let shas: Vec<&str> = album.files.iter().map(|f| f.sha256.as_str()).collect();
    assert_eq!(shas, vec![sha256(&a), sha256(&b), sha256(&c)]);
    o.bot.assert_clean();
    let receipt = std::fs::read_to_string(o.archive_month().join("festa.receipt.yaml")).unwrap();
    for id in &album.message_ids {
        assert!(
            receipt.contains(&format!("https://t.me/town_news/{id}")),
            "{receipt}"
        );
    }
    for f in ["festa.png", "festa-2.png", "festa-3.png", "festa.yaml"] {
        assert!(o.archive_month().join(f).exists(), "{f}");
    }
}

#[test]
fn images_and_pdfs_split_into_a_photo_album_then_a_document_album() {
    let o = Office::new();
    o.drop_file(
        "lavori.yaml",
        b"text: Road works, the plans\nattachments: [map.png, plan-1.pdf, photo.jpg, plan-2.pdf]\n",
    );
    o.drop_file("map.png", &png(800, 600));
    o.drop_file("plan-1.pdf", &pdf("p1"));
    o.drop_file("photo.jpg", b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xC0\x00\x11\x08\x01\x00\x01\x00\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xFF\xD9");
    o.drop_file("plan-2.pdf", &pdf("p2"));
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 2, "{posts:#?}");
    let kinds = |i: usize| -> Vec<String> {
        let media: serde_json::Value =
            serde_json::from_str(posts[i].field("media").unwrap()).unwrap();
        media
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["type"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kinds(0), vec!["photo", "photo"]);
    assert_eq!(kinds(1), vec!["document", "document"]);
    let first: serde_json::Value = serde_json::from_str(posts[0].field("media").unwrap()).unwrap();
    assert_eq!(first[0]["caption"], "Road works, the plans");
    let second: serde_json::Value = serde_json::from_str(posts[1].field("media").unwrap()).unwrap();
    assert!(second[0].get("caption").is_none());
    o.bot.assert_clean();
}

#[test]
fn more_than_ten_files_become_several_albums_in_order() {
    let o = Office::new();
    let names: Vec<String> = (1..=12).map(|i| format!("page-{i:02}.pdf")).collect();
    for n in &names {
        o.drop_file(n, &pdf(n));
    }
    let list = names[1..].join(", ");
    o.drop_file(
        "page-01.yaml",
        format!("caption: Minutes of the council\nattachments: [{list}]\n").as_bytes(),
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    assert_eq!(
        posts.iter().map(|p| p.method.as_str()).collect::<Vec<_>>(),
        vec!["sendMediaGroup", "sendMediaGroup"]
    );
    let sent: Vec<String> = posts
        .iter()
        .flat_map(|p| p.files.iter().map(|f| f.sha256.clone()))
        .collect();
    let expected: Vec<String> = names.iter().map(|n| sha256(&pdf(n))).collect();
    assert_eq!(sent, expected, "all twelve, in order");
    assert_eq!(posts[0].files.len(), 10);
    o.bot.assert_clean();
}

#[test]
fn buttons_on_an_album_are_refused_before_sending() {
    let o = Office::new();
    o.drop_file("a.png", &png(10, 10));
    o.drop_file("b.png", &png(10, 10));
    let sidecar = o.drop_file(
        "a.yaml",
        b"caption: x\nattachments: [b.png]\nbuttons: [{text: More, url: 'https://example.org'}]\n",
    );
    let out = o.cmd(&["check", sidecar.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("cannot show buttons under an album"),
        "{}",
        text(&out)
    );
    let out = o.once();
    assert_eq!(out.status.code(), Some(1));
    assert!(o.bot.posts().is_empty());
    let report = std::fs::read_to_string(o.path("failed/a.error.txt")).unwrap();
    assert!(
        report.contains("cannot show buttons under an album"),
        "{report}"
    );
    assert_eq!(
        o.files("failed"),
        vec!["a.error.txt", "a.png", "a.yaml", "b.png"]
    );
}

#[test]
fn an_attachment_that_never_comes_fails_after_the_timeout() {
    let o = Office::new();
    o.edit_config(
        "channels: {meteo: alerts}\n",
        "channels: {meteo: alerts}\n    sidecar_timeout: 1s\n",
    );
    let d = o.run();
    d.wait_log("watching", LONG);
    o.drop_file("a.png", &png(10, 10));
    o.drop_file("a.yaml", b"caption: x\nattachments: [missing.png]\n");
    wait_until(LONG, "a.error.txt", || {
        o.path("failed/a.error.txt").exists()
    });
    let report = std::fs::read_to_string(o.path("failed/a.error.txt")).unwrap();
    assert!(report.contains("missing.png"), "{report}");
    assert!(o.bot.posts().is_empty());
}

#[test]
fn an_album_cut_short_by_telegram_is_not_sent_again() {
    let o = Office::new();
    o.bot.fail_next(
        "sendMediaGroup",
        Fault::AlbumPartial {
            sent: 2,
            retry_after: 1,
        },
    );
    for i in 1..=4 {
        o.drop_file(&format!("p{i}.png"), &png(100 + i, 100));
    }
    o.drop_file(
        "p1.yaml",
        b"caption: album\nattachments: [p2.png, p3.png, p4.png]\n",
    );
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Two items reached the channel; none was posted twice.
    let in_channel = o.bot.chat_messages(NEWS);
    assert_eq!(in_channel.len(), 2, "{in_channel:#?}");
    let report = std::fs::read_to_string(o.path("failed/p1.error.txt")).unwrap();
    assert!(report.contains("middle of the album"), "{report}");
}

#[test]
fn a_gif_goes_as_an_animation() {
    let o = Office::new();
    o.drop_file("fireworks.gif", &gif(320, 240));
    o.drop_file("fireworks.yaml", b"caption: tonight\n");
    assert!(o.once().status.success());
    let posts = o.bot.posts();
    assert_eq!(posts[0].method, "sendAnimation");
    assert!(posts[0].file("animation").is_some());
    o.bot.assert_clean();
}

#[test]
fn buttons_protect_preview_and_pin() {
    let o = Office::new();
    o.drop_file(
        "alert.yaml",
        b"text: 'Orange alert: https://example.org/a'\nprotect: true\nlink_preview: false\npin: true\nsilent: true\n\
          buttons:\n  - [{text: Details, url: 'https://example.org/alert'}, {text: Map, url: 'https://example.org/map'}]\n  - {text: App, url: 'tg://resolve?domain=town'}\n",
    );
    assert!(o.once().status.success());
    let reqs = o.bot.requests();
    let post = reqs.iter().find(|r| r.method == "sendMessage").unwrap();
    assert_eq!(post.field("protect_content"), Some("true"));
    assert_eq!(post.field("disable_notification"), Some("true"));
    let markup: serde_json::Value =
        serde_json::from_str(post.field("reply_markup").unwrap()).unwrap();
    assert_eq!(markup["inline_keyboard"][0][1]["text"], "Map");
    assert_eq!(
        markup["inline_keyboard"][1][0]["url"],
        "tg://resolve?domain=town"
    );
    let pin = reqs
        .iter()
        .find(|r| r.method == "pinChatMessage")
        .expect("pinned");
    assert_eq!(
        pin.field("message_id"),
        Some(post.message_ids[0].to_string().as_str())
    );
    assert!(pin.at > post.at);
    o.bot.assert_clean();
}

#[test]
fn a_pin_that_fails_is_reported_and_the_post_stays() {
    let o = Office::new();
    o.bot.fail_next(
        "pinChatMessage",
        Fault::Status(
            400,
            "Bad Request: not enough rights to manage pinned messages in the chat".into(),
        ),
    );
    o.drop_file("alert.yaml", b"text: pinned alert\npin: true\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let receipt = std::fs::read_to_string(o.archive_month().join("alert.receipt.yaml")).unwrap();
    assert!(receipt.contains("pinned: false"), "{receipt}");
    assert!(receipt.contains("not enough rights"), "{receipt}");
}

#[test]
fn several_channels_each_get_the_post_once() {
    let o = Office::new();
    // The alerts channel fails once with a transient error: only it is retried.
    o.bot
        .fail_next("*", Fault::Status(502, "Bad Gateway".into()));
    o.drop_file("storm.pdf", &pdf("storm"));
    o.drop_file(
        "storm.yaml",
        b"caption: storm\nchannel: [news, alerts, private]\n",
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    // One bundle, however many channels ended it.
    assert!(text(&out).contains("posted 1, failed 0"), "{}", text(&out));
    for chat in [NEWS, ALERTS, -1009876543210] {
        assert_eq!(o.bot.chat_messages(chat).len(), 1, "chat {chat}");
    }
    let receipt = std::fs::read_to_string(o.archive_month().join("storm.receipt.yaml")).unwrap();
    assert!(receipt.contains("https://t.me/town_news/1"), "{receipt}");
    assert!(receipt.contains("https://t.me/town_alerts/1"), "{receipt}");
    assert!(receipt.contains("https://t.me/c/9876543210/1"), "{receipt}");
}

#[test]
fn a_channel_that_refuses_does_not_undo_the_others() {
    let o = Office::new();
    o.drop_file(
        "storm.yaml",
        b"caption: storm\nchannel: [news, '@gone_channel']\n",
    );
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(o.bot.chat_messages(NEWS).len(), 1);
    let report = std::fs::read_to_string(o.path("failed/storm.error.txt")).unwrap();
    assert!(report.contains("do not post it to them again"), "{report}");
    assert!(report.contains("https://t.me/town_news/1"), "{report}");
}

#[test]
fn a_scheduled_post_waits_in_scheduled_then_goes_out_on_time() {
    let o = Office::new();
    let d = o.run();
    d.wait_log("watching", LONG);
    let at = local_in(4);
    o.drop_file("event.pdf", &pdf("event"));
    o.drop_file(
        "event.yaml",
        format!("caption: tonight\npublish_at: {at}\n").as_bytes(),
    );
    wait_until(LONG, "the bundle in scheduled/", || {
        o.path("scheduled/event.pdf").exists()
    });
    assert!(o.bot.posts().is_empty());
    let posts = o.bot.wait_for_posts(1, LONG);
    let due = jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%S", &at)
        .unwrap()
        .in_tz("Europe/Rome")
        .unwrap()
        .timestamp();
    let now = jiff::Timestamp::now();
    assert!(now >= due, "posted before its time");
    assert!(
        now.duration_since(due) < jiff::SignedDuration::from_secs(3),
        "late: {now} vs {due}"
    );
    assert_eq!(posts[0].field("caption"), Some("tonight"));
    wait_until(LONG, "archived", || {
        o.archive_month().join("event.receipt.yaml").exists()
    });
    // The bundle's record in scheduled/ goes a moment after its receipt is named (once the
    // journal says it is done): looking at once raced with it.
    wait_until(LONG, "scheduled/ emptied", || {
        o.files("scheduled").is_empty()
    });
    // The clerks' folder stays, empty, for the next scheduled post (it was once removed as if
    // it were the bundle's own work folder).
    assert!(o.path("scheduled").is_dir());
}

#[test]
fn a_scheduled_time_missed_while_down_goes_out_at_start() {
    let o = Office::new();
    let mut d = o.run();
    d.wait_log("watching", LONG);
    o.drop_file(
        "event.yaml",
        format!("text: missed\npublish_at: {}\n", local_in(3)).as_bytes(),
    );
    wait_until(LONG, "scheduled", || {
        o.path("scheduled/event.yaml").exists()
    });
    d.signal(libc::SIGTERM);
    d.wait_exit(Duration::from_secs(5));
    wait_until(LONG, "the time to pass", || {
        std::fs::read_to_string(o.path("scheduled/event.yaml"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("publish_at: ").map(str::to_string))
            })
            .is_some_and(|at| local_in(0) > at)
    });
    assert!(o.bot.posts().is_empty());
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(o.bot.posts().len(), 1);
    assert_eq!(o.bot.posts()[0].field("text"), Some("missed"));
}

#[test]
fn deleting_a_scheduled_file_cancels_the_post() {
    let o = Office::new();
    let d = o.run();
    d.wait_log("watching", LONG);
    o.drop_file("event.pdf", &pdf("e"));
    o.drop_file(
        "event.yaml",
        format!("caption: never\npublish_at: {}\n", local_in(3600)).as_bytes(),
    );
    wait_until(LONG, "scheduled", || o.path("scheduled/event.pdf").exists());
    std::fs::remove_file(o.path("scheduled/event.pdf")).unwrap();
    wait_until(LONG, "the cancellation report", || {
        o.path("failed/event.error.txt").exists()
    });
    let report = std::fs::read_to_string(o.path("failed/event.error.txt")).unwrap();
    assert!(report.contains("was cancelled"), "{report}");
    assert!(o.path("failed/event.yaml").exists(), "the rest is kept");
    assert!(o.bot.posts().is_empty());
    d.wait_log("scheduled post cancelled", LONG);
}

#[test]
fn a_past_publish_time_posts_now() {
    let o = Office::new();
    o.drop_file("old.yaml", b"text: late\npublish_at: 2020-01-01 08:00\n");
    assert!(o.once().status.success());
    assert_eq!(o.bot.posts().len(), 1);
    assert!(!o.path("scheduled/old.yaml").exists());
}

#[test]
fn a_burst_of_fifty_goes_out_in_order_without_a_single_429() {
    // Telegram's limits (1 per second and 20 per minute per channel) with time 20 times faster.
    let o = Office::paced(0.05, "watch: {settle: 200ms}\n");
    for i in 0..50 {
        o.drop_file(
            &format!("n{i:02}.yaml"),
            format!("text: notice {i}\n").as_bytes(),
        );
    }
    let start = Instant::now();
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(o.bot.count_429(), 0);
    let texts: Vec<String> = o
        .bot
        .posts()
        .iter()
        .map(|p| p.field("text").unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..50).map(|i| format!("notice {i}")).collect();
    assert_eq!(texts, expected);
    // 50 messages at 20 per (scaled) minute need at least two full windows.
    assert!(
        start.elapsed() >= Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn nasty_markdown_is_always_valid_telegram_html() {
    let o = Office::new();
    let nasty = [
        "a < b && c > d",
        "* lone star",
        "**unbalanced bold",
        "_snake_case_name_ and 2*3*4",
        "emoji 👩‍👩‍👧 and 𝕏 non-BMP",
        "[link](https://example.org/a_(b)?x=1&y=2) and <https://example.org/?q=a&b>",
        "> quote\n\n# Heading\n\n- one\n- two\n\n1. first\n\n`code <b>` ~~gone~~",
        "<script>alert(1)</script> &amp; &nbsp; &#x1F600;",
    ];
    for (i, n) in nasty.iter().enumerate() {
        let yaml = format!("text: {}\n", serde_json::to_string(n).unwrap());
        o.drop_file(&format!("t{i}.yaml"), yaml.as_bytes());
    }
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(o.bot.posts().len(), nasty.len());
    o.bot.assert_clean();
}

#[test]
fn invalid_html_is_caught_by_check() {
    let o = Office::new();
    let bad = o.drop_file(
        "bad.yaml",
        b"format: html\ntext: '<b>bold <i>both</b></i>'\n",
    );
    let out = o.cmd(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).to_lowercase().contains("<i>") || text(&out).contains("misnested"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_local_bot_api_server_gets_files_by_path_up_to_2000_mb() {
    let o = Office::with_bot(
        Office::bot().local_server().start(),
        "watch: {settle: 300ms}\n",
    );
    o.edit_config("pacing: false", "pacing: false\n  local_files: true");
    // 60 MB: over the public API's 50 MB, fine for a local server. Sparse, so it costs no disk.
    let path = o.drop_file("big notice.pdf", &pdf("local"));
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(60 * 1024 * 1024).unwrap();
    drop(f);
    let bytes = std::fs::read(&path).unwrap();
    o.drop_file("big notice.yaml", b"caption: local\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    let doc = posts[0].file("document").expect("the document");
    assert!(
        doc.local_path
            .as_deref()
            .is_some_and(|p| p.contains("/.dropcast/")),
        "{doc:?}"
    );
    assert_eq!(doc.sha256, sha256(&bytes));
    o.bot.assert_clean();
    assert!(o.archive_month().join("big notice.pdf").exists());
}

#[test]
fn over_50_mb_is_refused_without_a_local_server() {
    let o = Office::new();
    let path = o.drop_file("huge.pdf", &pdf("huge"));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(51 * 1024 * 1024)
        .unwrap();
    o.drop_file("huge.yaml", b"caption: huge\n");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1));
    // Nothing but the look at the bot and its channels (no upload begun).
    assert!(
        o.bot
            .requests()
            .iter()
            .all(|r| r.method == "getMe" || r.method == "getChat")
    );
    let report = std::fs::read_to_string(o.path("failed/huge.error.txt")).unwrap();
    assert!(
        report.contains("51 MB") && report.contains("50 MB"),
        "{report}"
    );
}

#[test]
fn a_photo_telegram_refuses_goes_again_as_a_document_once() {
    let o = Office::new();
    // Forced to a photo although it is far too tall: Telegram answers PHOTO_INVALID_DIMENSIONS.
    o.drop_file("tall.png", &png(100, 2500));
    o.drop_file("tall.yaml", b"caption: tall\nsend_as: photo\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let methods: Vec<String> = o
        .bot
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .filter(|m| m != "getMe" && m != "getChat")
        .collect();
    assert_eq!(methods, vec!["sendPhoto", "sendDocument"]);
    assert_eq!(o.bot.chat_messages(NEWS).len(), 1);
}
