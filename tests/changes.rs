//! Changing a post after it went out (PRODUCT.md, "Changing a post after it went out"): a clerk
//! corrects, retracts or unpins a post with a bundle, the same way it was posted. The real
//! binary against the strict fake Bot API, which keeps every message as the channel shows it.

mod common;

use std::time::Duration;

use common::*;

const NEWS: i64 = -1001234567890;
const ALERTS: i64 = -1001111111111;

/// Posts `notice.pdf` with `sidecar` and returns its message id in the news channel.
fn post_notice(o: &Office, sidecar: &str) -> i64 {
    o.drop_file("notice.pdf", &pdf(sidecar));
    o.drop_file("notice.yaml", sidecar.as_bytes());
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    *posts.last().unwrap().message_ids.first().unwrap()
}

fn receipt(o: &Office, name: &str) -> String {
    std::fs::read_to_string(o.archive_month().join(name)).unwrap()
}

/// The one report in `failed/`.
fn report(o: &Office) -> String {
    let reports: Vec<String> = o
        .files("failed")
        .into_iter()
        .filter(|f| f.ends_with(".error.txt"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    std::fs::read_to_string(o.path("failed").join(&reports[0])).unwrap()
}

#[test]
fn a_correction_by_its_link_changes_the_caption_keeps_the_buttons_and_the_receipt_says_so() {
    let o = Office::new();
    let id = post_notice(
        &o,
        "caption: Waste collection on **Monday**\nbuttons: [{text: Calendar, url: \"https://example.org/cal\"}]\n",
    );
    let before = receipt(&o, "notice.receipt.yaml");
    let link = format!("https://t.me/town_news/{id}");
    assert!(before.contains(&link), "{before}");

    o.drop_file(
        "fix.yaml",
        format!("edit: {link}\ncaption: Waste collection on **Tuesday**\n").as_bytes(),
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));

    let m = o.bot.message(NEWS, id).unwrap();
    assert_eq!(m.text.as_deref(), Some("Waste collection on Tuesday"));
    assert_eq!(m.edits, 1);
    // Telegram drops the buttons of a message whose edit does not repeat them: dropcast repeats.
    let markup = m.reply_markup.expect("the buttons are still there");
    assert_eq!(markup["inline_keyboard"][0][0]["text"], "Calendar");
    assert_eq!(o.bot.requests_for("editMessageCaption").len(), 1);
    assert_eq!(o.bot.posts().len(), 1, "nothing posted anew");
    o.bot.assert_clean();

    // The correction is archived with its own receipt; the post's receipt gains an entry and
    // keeps everything it held.
    assert!(o.archive_month().join("fix.yaml").exists());
    let own = receipt(&o, "fix.receipt.yaml");
    assert!(own.contains(&link), "{own}");
    let after = receipt(&o, "notice.receipt.yaml");
    assert!(after.starts_with(&before), "{before}\n---\n{after}");
    let tail = &after[before.len()..];
    assert!(tail.starts_with("edits:\n"), "{tail}");
    for needed in [
        "change: edit",
        "by: fix.yaml",
        "what: caption",
        "old: Waste collection on Monday",
        "new: Waste collection on Tuesday",
    ] {
        assert!(tail.contains(needed), "{needed}: {tail}");
    }
    let parsed: serde_yaml::Value = serde_yaml::from_str(&after).unwrap();
    assert_eq!(parsed["edits"].as_sequence().unwrap().len(), 1);
    assert!(o.files("failed").is_empty(), "{:?}", o.files("failed"));
}

#[test]
fn every_way_of_naming_the_post_finds_it_and_an_old_channel_name_still_works() {
    let o = Office::new();
    let id = post_notice(&o, "caption: First\n");
    // The channel gets a new public name; the link in the receipt has the old one.
    o.bot.rename_channel(NEWS, "@comune_news");
    let steps = [
        format!("edit: https://t.me/town_news/{id}\ncaption: Second\n"),
        format!("edit: https://t.me/comune_news/{id}?single\ncaption: Third\n"),
        format!("edit: t.me/c/1234567890/{id}\ncaption: Fourth\n"),
        "edit: notice.pdf\ncaption: Fifth\n".to_string(),
        format!("edit: \"http://telegram.me/comune_news/{id}\"\ncaption: Sixth\n"),
    ];
    for (n, sidecar) in steps.iter().enumerate() {
        o.drop_file(&format!("fix{n}.yaml"), sidecar.as_bytes());
        let out = o.once();
        assert!(out.status.success(), "{sidecar}: {}", text(&out));
        assert!(
            o.files("failed").is_empty(),
            "{sidecar}: {:?}",
            o.files("failed")
        );
    }
    let m = o.bot.message(NEWS, id).unwrap();
    assert_eq!(m.text.as_deref(), Some("Sixth"));
    assert_eq!(m.edits, 5);
    let after = receipt(&o, "notice.receipt.yaml");
    let parsed: serde_yaml::Value = serde_yaml::from_str(&after).unwrap();
    assert_eq!(parsed["edits"].as_sequence().unwrap().len(), 5, "{after}");
    o.bot.assert_clean();
}

#[test]
fn a_correction_that_changes_nothing_is_a_success() {
    let o = Office::new();
    let id = post_notice(&o, "caption: Same words\n");
    o.drop_file(
        "fix.yaml",
        format!("edit: https://t.me/town_news/{id}\ncaption: Same words\n").as_bytes(),
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(o.bot.requests_for("editMessageCaption").len(), 1);
    assert_eq!(o.bot.message(NEWS, id).unwrap().edits, 0);
    assert!(o.files("failed").is_empty(), "{:?}", o.files("failed"));
    assert!(o.archive_month().join("fix.receipt.yaml").exists());
}

#[test]
fn a_new_file_replaces_the_one_it_names_in_an_album_and_the_caption_stays() {
    let o = Office::new();
    let (a, b, c) = (png(400, 300), png(300, 400), png(500, 500));
    o.drop_file("festa.png", &a);
    o.drop_file("festa-2.png", &b);
    o.drop_file(
        "festa.yaml",
        b"caption: '**Festa** in piazza'\nattachments: [festa-2.png]\n",
    );
    assert!(o.once().status.success());
    let ids = o.bot.posts()[0].message_ids.clone();
    assert_eq!(ids.len(), 2);

    // Without `replace:` dropcast cannot know which of the two the new image replaces.
    o.drop_file("fix.png", &c);
    o.drop_file(
        "fix.yaml",
        format!("edit: https://t.me/town_news/{}\n", ids[0]).as_bytes(),
    );
    assert!(!o.once().status.success());
    let r = report(&o);
    assert!(r.contains("replace: NAME"), "{r}");
    assert!(r.contains("festa.png, festa-2.png"), "{r}");

    o.drop_file("fix2.png", &c);
    o.drop_file(
        "fix2.yaml",
        format!(
            "edit: https://t.me/town_news/{}\nreplace: festa-2.png\n",
            ids[0]
        )
        .as_bytes(),
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let edits = o.bot.requests_for("editMessageMedia");
    assert_eq!(edits.len(), 1);
    let second = o.bot.message(NEWS, ids[1]).unwrap();
    assert_eq!(second.sha256.as_deref(), Some(sha256(&c).as_str()));
    let first = o.bot.message(NEWS, ids[0]).unwrap();
    assert_eq!(first.sha256.as_deref(), Some(sha256(&a).as_str()));
    assert_eq!(first.text.as_deref(), Some("Festa in piazza"));
    let after = receipt(&o, "festa.receipt.yaml");
    assert!(after.contains("what: file"), "{after}");
    assert!(after.contains("old: festa-2.png"), "{after}");
    assert!(after.contains("new: fix2.png"), "{after}");
    o.bot.assert_clean();
}

#[test]
fn a_retraction_deletes_every_message_of_the_post_and_its_pin() {
    let o = Office::new();
    // A caption too long for a file goes first as text: the post is two messages.
    let long = "Avviso importante. ".repeat(80);
    let id = post_notice(&o, &format!("caption: \"{long}\"\npin: true\n"));
    let messages = o.bot.messages(NEWS);
    assert_eq!(messages.len(), 2);
    assert!(!o.bot.pinned(NEWS).is_empty());
    o.drop_file(
        "ritiro.yaml",
        format!(
            "delete: https://t.me/town_news/{}\n",
            messages[1].message_id
        )
        .as_bytes(),
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert!(o.bot.messages(NEWS).iter().all(|m| m.deleted));
    assert!(o.bot.pinned(NEWS).is_empty());
    assert_eq!(o.bot.requests_for("deleteMessage").len(), 2);
    let after = receipt(&o, "notice.receipt.yaml");
    assert!(after.contains("change: delete"), "{after}");

    // The post is gone: a correction of it is refused, and says why.
    o.drop_file(
        "fix.yaml",
        format!("edit: https://t.me/town_news/{id}\ncaption: x\n").as_bytes(),
    );
    assert!(!o.once().status.success());
    let r = report(&o);
    assert!(r.contains("deleted from the channel already"), "{r}");
    o.bot.assert_clean();
}

#[test]
fn telegram_refusing_a_deletion_past_48_hours_gets_a_report_that_says_what_to_do() {
    let o = Office::with(
        "watch: {settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}\nlanguage: it\n",
    );
    let id = post_notice(&o, "caption: Consiglio comunale il 3 dicembre\n");
    // The journal's clock says 2 minutes; Telegram's says 49 hours (clocks differ).
    o.bot.age_messages(Duration::from_secs(49 * 3600));
    o.drop_file(
        "annulla.yaml",
        format!("delete: https://t.me/town_news/{id}\n").as_bytes(),
    );
    assert!(!o.once().status.success());
    assert!(!o.bot.message(NEWS, id).unwrap().deleted);
    let r = report(&o);
    assert!(r.contains("entro 48 ore"), "{r}");
    assert!(r.contains("ANNULLATO"), "{r}");
    // With `language: it` the report names the keys as an Italian clerk writes them.
    assert!(r.contains("`correggi:`"), "{r}");
    assert!(o.path("failed").join("annulla.yaml").exists());
    let after = receipt(&o, "notice.receipt.yaml");
    assert!(!after.contains("edits:"), "{after}");
}

#[test]
fn only_posts_of_dropcast_can_be_changed_and_the_reports_say_why() {
    let o = Office::new();
    let id = post_notice(&o, "caption: A notice\n");
    // Another message of the channel (posted by hand), another channel, a name never archived.
    for (n, target) in [
        format!("https://t.me/town_news/{}", id + 1000),
        format!("https://t.me/town_alerts/{id}"),
        "https://t.me/c/555/3".to_string(),
        "nothing.pdf".to_string(),
    ]
    .iter()
    .enumerate()
    {
        o.drop_file(
            &format!("x{n}.yaml"),
            format!("edit: {target}\ncaption: y\n").as_bytes(),
        );
    }
    assert!(!o.once().status.success());
    let reports: Vec<String> = o
        .files("failed")
        .into_iter()
        .filter(|f| f.ends_with(".error.txt"))
        .collect();
    assert_eq!(reports.len(), 4, "{reports:?}");
    for r in reports {
        let r = std::fs::read_to_string(o.path("failed").join(r)).unwrap();
        assert!(r.contains("only the posts it made itself"), "{r}");
    }
    assert!(o.bot.requests_for("editMessageCaption").is_empty());
    assert_eq!(o.bot.message(NEWS, id).unwrap().edits, 0);
    let _ = ALERTS;
}

#[test]
fn a_caption_that_no_longer_fits_under_the_file_is_refused_not_split() {
    let o = Office::new();
    let id = post_notice(&o, "caption: Short\n");
    let long = "parola ".repeat(200);
    o.drop_file(
        "fix.yaml",
        format!("edit: https://t.me/town_news/{id}\ncaption: \"{long}\"\n").as_bytes(),
    );
    assert!(!o.once().status.success());
    let r = report(&o);
    assert!(r.contains("1024"), "{r}");
    assert_eq!(
        o.bot.message(NEWS, id).unwrap().text.as_deref(),
        Some("Short")
    );
    assert!(o.bot.requests_for("editMessageCaption").is_empty());
}

#[test]
fn unpin_now_and_a_pin_that_ends_by_itself_after_a_restart() {
    let o = Office::new();
    // Ends in 4 s: posted and pinned by `once`, unpinned by the daemon started afterwards.
    let until = local_in(4);
    let id = post_notice(
        &o,
        &format!("caption: Allerta meteo\npin: true\npin_until: {until}\n"),
    );
    assert_eq!(o.bot.pinned(NEWS), vec![id]);
    let status = text(&o.cmd(&["status"]));
    let pins = status
        .split("Pins that end by themselves (1)\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        pins.lines()
            .next()
            .unwrap()
            .contains(&format!("https://t.me/town_news/{id} unpinned at")),
        "{status}"
    );
    let d = o.run();
    wait_until(Duration::from_secs(15), "the pin ends", || {
        o.bot.pinned(NEWS).is_empty()
    });
    assert_eq!(
        o.bot.requests_for("unpinChatMessage").len(),
        1,
        "{}",
        d.log()
    );
    drop(d);

    // `unpin:` unpins now.
    let second = post_notice(&o, "caption: Seconda allerta\npin: true\n");
    assert_eq!(o.bot.pinned(NEWS), vec![second]);
    o.drop_file(
        "sblocca.yaml",
        format!("unpin: https://t.me/town_news/{second}\n").as_bytes(),
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert!(o.bot.pinned(NEWS).is_empty());
    o.bot.assert_clean();
}

#[test]
fn a_correction_for_a_post_still_in_scheduled_is_refused_with_the_way_to_do_it() {
    let o = Office::new();
    o.drop_file("notice.pdf", &pdf("later"));
    o.drop_file(
        "notice.yaml",
        format!("caption: Later\npublish_at: {}\n", local_in(3600)).as_bytes(),
    );
    assert!(o.once().status.success());
    assert!(o.path("scheduled").join("notice.pdf").exists());
    o.drop_file("fix.yaml", b"edit: notice.pdf\ncaption: Sooner\n");
    assert!(!o.once().status.success());
    let r = report(&o);
    assert!(r.contains("scheduled folder"), "{r}");
    assert!(o.bot.posts().is_empty());
}

#[test]
fn check_and_dry_run_show_what_a_correction_would_change_and_status_lists_what_changed() {
    let o = Office::new();
    let id = post_notice(&o, "caption: Old words\n");
    let fix = o.drop_file(
        "fix.yaml",
        format!("edit: https://t.me/town_news/{id}\ncaption: New words\n").as_bytes(),
    );
    let checked = o.cmd(&["check", fix.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", text(&checked));
    let shown = text(&checked);
    assert!(
        shown.contains("caption: \"Old words\" → \"New words\""),
        "{shown}"
    );
    let dry = o.cmd(&["once", "--dry-run"]);
    let shown = text(&dry);
    assert!(shown.contains("would change fix.yaml"), "{shown}");
    assert!(
        shown.contains("caption: \"Old words\" → \"New words\""),
        "{shown}"
    );
    assert!(o.bot.requests_for("editMessageCaption").is_empty());
    assert!(fix.exists(), "a dry run moves nothing");

    assert!(o.once().status.success());
    let json = o.cmd(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let change = &v["changes"][0];
    assert_eq!(change["change"], "edit", "{v:#}");
    assert_eq!(change["bundle"], "fix.yaml");
    assert_eq!(change["state"], "done");
    assert_eq!(change["link"], format!("https://t.me/town_news/{id}"));
    assert_eq!(change["changed"][0]["new"], "New words");
}

/// A deletion whose request was in flight when dropcast was killed is asked again at the next
/// start (`uncertain: resend`): the message is gone already, which counts as done, so the
/// retraction is archived and recorded once, with no report.
#[test]
fn a_deletion_in_flight_at_a_crash_is_made_again_and_counts_as_done() {
    let o = Office::new();
    let id = post_notice(&o, "caption: To be withdrawn\n");
    o.bot.fail_next(
        "deleteMessage",
        common::fake_bot::Fault::SlowAnswer(Duration::from_secs(30)),
    );
    o.drop_file(
        "ritiro.yaml",
        format!("delete: https://t.me/town_news/{id}\n").as_bytes(),
    );
    let mut d = o.run();
    wait_until(Duration::from_secs(20), "the message is deleted", || {
        o.bot.message(NEWS, id).is_some_and(|m| m.deleted)
    });
    d.signal(libc::SIGKILL);
    d.wait_exit(Duration::from_secs(10));
    assert!(!o.archive_month().join("ritiro.yaml").exists());

    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(o.bot.requests_for("deleteMessage").len(), 2);
    assert!(o.archive_month().join("ritiro.receipt.yaml").exists());
    assert!(o.files("failed").is_empty(), "{:?}", o.files("failed"));
    let after = receipt(&o, "notice.receipt.yaml");
    let parsed: serde_yaml::Value = serde_yaml::from_str(&after).unwrap();
    assert_eq!(parsed["edits"].as_sequence().unwrap().len(), 1, "{after}");
    o.bot.assert_clean();
}

/// A file name names the post in every channel it went to; new buttons alone are an
/// `editMessageReplyMarkup`, and `buttons: []` removes them.
#[test]
fn a_file_name_corrects_every_channel_and_buttons_change_alone() {
    let o = Office::new();
    o.drop_file("orari.pdf", &pdf("orari"));
    o.drop_file(
        "orari.yaml",
        b"caption: Opening hours\nchannel: [news, alerts]\nbuttons: [{text: Old, url: \"https://example.org/old\"}]\n",
    );
    assert!(o.once().status.success());
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 2);
    let ids: Vec<(i64, i64)> = vec![
        (NEWS, o.bot.messages(NEWS)[0].message_id),
        (ALERTS, o.bot.messages(ALERTS)[0].message_id),
    ];

    o.drop_file(
        "fix.yaml",
        b"edit: orari.pdf\nbuttons: [{text: New, url: \"https://example.org/new\"}]\n",
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(o.bot.requests_for("editMessageReplyMarkup").len(), 2);
    for (chat, id) in &ids {
        let m = o.bot.message(*chat, *id).unwrap();
        assert_eq!(
            m.reply_markup.unwrap()["inline_keyboard"][0][0]["text"],
            "New"
        );
        assert_eq!(m.text.as_deref(), Some("Opening hours"));
    }
    let after = receipt(&o, "orari.receipt.yaml");
    let parsed: serde_yaml::Value = serde_yaml::from_str(&after).unwrap();
    assert_eq!(parsed["edits"].as_sequence().unwrap().len(), 2, "{after}");

    o.drop_file("fix2.yaml", b"edit: orari.pdf\nbuttons: []\n");
    assert!(o.once().status.success());
    for (chat, id) in &ids {
        assert!(o.bot.message(*chat, *id).unwrap().reply_markup.is_none());
    }
    o.bot.assert_clean();
}

/// A post deleted before its pin ends has no pin left to end: no unpin is asked for later, and
/// the status page showed the pin that would end while it waited.
#[test]
fn a_pin_that_would_end_is_shown_on_the_page_and_a_deletion_cancels_it() {
    let port = free_port();
    let o = Office::with(&format!(
        "http: {{listen: \"127.0.0.1:{port}\"}}\nwatch: {{settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}}\n"
    ));
    let until = local_in(6);
    let id = post_notice(
        &o,
        &format!("caption: Allerta\npin: true\npin_until: {until}\n"),
    );
    let d = o.run();
    d.wait_log("status page at", Duration::from_secs(20));
    let (_, html) = http_get(port, "/");
    let pins = html
        .split("Pins that end by themselves")
        .nth(1)
        .unwrap_or_else(|| panic!("{html}"));
    assert!(
        pins.contains(&format!("https://t.me/town_news/{id}")),
        "{html}"
    );
    o.drop_file(
        "ritiro.yaml",
        format!("delete: https://t.me/town_news/{id}\n").as_bytes(),
    );
    wait_until(
        Duration::from_secs(20),
        "the retraction is archived",
        || o.archive_month().join("ritiro.receipt.yaml").exists(),
    );
    assert!(o.bot.message(NEWS, id).unwrap().deleted);
    // The journal cancelled the pin's end with the deletion.
    let (_, html) = http_get(port, "/");
    assert!(!html.contains("Pins that end by themselves"), "{html}");
    // Past the pin's end, and a little more (the schedule check looks every 2 s at most): no
    // unpin is asked for a message that is gone.
    wait_until(Duration::from_secs(20), "the pin's time passes", || {
        jiff::Timestamp::now().as_second()
            > until
                .parse::<jiff::civil::DateTime>()
                .unwrap()
                .in_tz("Europe/Rome")
                .unwrap()
                .timestamp()
                .as_second()
                + 3
    });
    let (_, html) = http_get(port, "/");
    assert!(!html.contains("Pins that end by themselves"), "{html}");
    assert!(
        o.bot.requests_for("unpinChatMessage").is_empty(),
        "{}",
        d.log()
    );
    o.bot.assert_clean();
}
