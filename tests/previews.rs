//! Previews (PRODUCT.md, "Previews"): a PDF, a TIFF or an image sent as a document goes with a
//! thumbnail of its first page that dropcast renders itself; `preview: page` posts the first page
//! as a photo first; a file that cannot be rendered is posted all the same, and its receipt says
//! why. The real binary against the strict fake Bot API, which checks every thumbnail as
//! Telegram does (an uploaded JPEG, at most 320 px, under 200 kB).

mod common;
#[path = "common/corpus.rs"]
mod corpus;

use common::*;

/// A one-page notice (A4, `landscape` turns it) with `text` in Helvetica and a black bar, so
/// that each test's files differ (the same file twice would be a duplicate).
fn page_pdf(text: &str, landscape: bool) -> Vec<u8> {
    let (w, h) = if landscape { (842, 595) } else { (595, 842) };
    let content = format!(
        "BT /F1 36 Tf 60 {} Td ({}) Tj ET\n0 0 0 rg 60 {} 400 40 re f\n",
        h - 120,
        text.replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)"),
        h - 220
    );
    corpus::pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Contents 4 0 R \
             /Resources << /Font << /F1 5 0 R >> >> >>"
        )
        .into_bytes(),
        corpus::stream("", content.as_bytes()),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ])
}

const NEWS: i64 = -1001234567890;

#[test]
fn a_pdf_goes_with_a_thumbnail_of_its_first_page() {
    let o = Office::new();
    o.drop_file("avviso.pdf", &page_pdf("Avviso TARI 2026", false));
    o.drop_file("avviso.yaml", b"caption: Avviso\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].method, "sendDocument");
    let thumbs = &posts[0].thumbnails;
    assert_eq!(thumbs.len(), 1, "{posts:#?}");
    let t = &thumbs[0];
    assert!(t.width.max(t.height) <= 320 && t.width < t.height, "{t:?}");
    assert!(t.upload.size < 200 * 1024);
    o.bot.assert_clean();
    let receipt = std::fs::read_to_string(o.archive_month().join("avviso.receipt.yaml")).unwrap();
    assert!(!receipt.contains("no_preview"), "{receipt}");
}

#[test]
fn preview_page_posts_the_first_page_as_a_photo_then_the_pdf() {
    let o = Office::new();
    o.drop_file("orari.pdf", &page_pdf("Orari uffici", true));
    o.drop_file(
        "orari.yaml",
        b"caption: Nuovi orari\npreview: page\nbuttons: [{text: Sito, url: \"https://example.org\"}]\n",
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    let methods: Vec<&str> = posts.iter().map(|p| p.method.as_str()).collect();
    assert_eq!(methods, vec!["sendPhoto", "sendDocument"]);
    assert_eq!(posts[0].field("caption"), Some("Nuovi orari"));
    assert!(posts[1].field("caption").is_none());
    assert!(
        posts[1].field("reply_markup").is_some(),
        "buttons under the last"
    );
    let messages = o.bot.messages(NEWS);
    assert_eq!(messages.len(), 2);
    assert_eq!(posts[1].thumbnails.len(), 1);
    let receipt = std::fs::read_to_string(o.archive_month().join("orari.receipt.yaml")).unwrap();
    for m in &messages {
        assert!(
            receipt.contains(&format!("https://t.me/town_news/{}", m.message_id)),
            "{receipt}"
        );
    }
    o.bot.assert_clean();
}

#[test]
fn a_scanner_tiff_is_accepted_and_goes_as_a_document_with_a_thumbnail() {
    let o = Office::new();
    o.drop_file("scanner/scan-0001.tif", &corpus::scanner_tiff(800, 1100));
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 1, "{}", text(&out));
    assert_eq!(posts[0].method, "sendDocument");
    assert_eq!(posts[0].thumbnails.len(), 1);
    o.bot.assert_clean();
}

#[test]
fn a_pdf_that_cannot_be_rendered_is_posted_without_a_preview_and_the_receipt_says_why() {
    let o = Office::new();
    let mut damaged = page_pdf("Delibera", false);
    damaged.truncate(120);
    o.drop_file("delibera.pdf", &damaged);
    o.drop_file("delibera.yaml", b"caption: Delibera\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].thumbnails.is_empty());
    assert!(posts[0].field("thumbnail").is_none());
    let receipt = std::fs::read_to_string(o.archive_month().join("delibera.receipt.yaml")).unwrap();
    assert!(receipt.contains("no_preview:"), "{receipt}");
    o.bot.assert_clean();
}

#[test]
fn documents_in_an_album_each_have_their_thumbnail_and_none_turns_them_off() {
    let o = Office::new();
    o.drop_file("bando.pdf", &page_pdf("Bando", false));
    o.drop_file("allegato.pdf", &page_pdf("Allegato A", false));
    o.drop_file(
        "bando.yaml",
        b"caption: Bando di concorso\nattachments: [allegato.pdf]\n",
    );
    assert!(o.once().status.success());
    let posts = o.bot.posts();
    assert_eq!(posts[0].method, "sendMediaGroup");
    let of: Vec<&str> = posts[0].thumbnails.iter().map(|t| t.of.as_str()).collect();
    assert_eq!(of, vec!["media[0]", "media[1]"]);

    o.drop_file("senza.pdf", &page_pdf("Senza anteprima", false));
    o.drop_file("senza.yaml", b"caption: x\npreview: none\n");
    assert!(o.once().status.success());
    let last = o.bot.posts().pop().unwrap();
    assert!(last.thumbnails.is_empty());
    o.bot.assert_clean();
}

/// With a Local Bot API server the file goes by path, and its thumbnail as an upload all the
/// same: Telegram ignores a thumbnail that is not one.
#[test]
fn with_a_local_bot_api_server_the_thumbnail_is_still_uploaded() {
    let o = Office::with_bot(
        Office::bot().local_server().start(),
        "watch: {settle: 300ms}\n",
    );
    o.edit_config("pacing: false", "pacing: false\n  local_files: true");
    o.drop_file("locale.pdf", &page_pdf("Locale", false));
    o.drop_file("locale.yaml", b"caption: local\n");
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    let doc = posts[0].file("document").expect("the document");
    assert!(doc.local_path.is_some(), "{doc:?}");
    assert_eq!(posts[0].thumbnails.len(), 1, "{posts:#?}");
    assert!(posts[0].thumbnails[0].upload.local_path.is_none());
    o.bot.assert_clean();
}

/// The renderer workers: a pool serves many requests; a request over its time limit gets "no
/// preview"; a worker that cannot even start (its memory cap below what the program needs) is
/// "no preview" too, and another pool is unharmed by either.
#[test]
fn renderer_workers_serve_many_requests_within_their_limits() {
    use dropcast::preview::{Limits, Size, Source};
    use dropcast::render_pool::Pool;
    let dir = tempfile::tempdir().unwrap();
    let notice = dir.path().join("notice.pdf");
    std::fs::write(&notice, page_pdf("Avviso", false)).unwrap();
    let exe = Some(std::path::PathBuf::from(BIN));

    let pool = Pool::new(exe.clone(), Limits::default());
    for _ in 0..20 {
        let p = pool.render(&notice, Source::Pdf, Size::Thumbnail).unwrap();
        assert!(p.jpeg.starts_with(&[0xFF, 0xD8]) && p.width.max(p.height) <= 320);
    }

    let hurried = Pool::new(
        exe.clone(),
        Limits {
            time: std::time::Duration::from_millis(1),
            ..Limits::default()
        },
    );
    let why = hurried
        .render(&notice, Source::Pdf, Size::Page)
        .unwrap_err();
    assert!(why.0.contains("took longer"), "{why}");

    let starved = Pool::new(
        exe,
        Limits {
            memory_bytes: 4 * 1024 * 1024,
            ..Limits::default()
        },
    );
    assert!(
        starved
            .render(&notice, Source::Pdf, Size::Thumbnail)
            .is_err()
    );
    // The first pool is still fine.
    assert!(pool.render(&notice, Source::Pdf, Size::Thumbnail).is_ok());
}

/// The receipt says why there is no preview in the clerk's language.
#[test]
fn an_italian_receipt_says_why_there_is_no_preview_in_italian() {
    let o = Office::with(
        "watch: {settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}\nlanguage: it\n",
    );
    let mut damaged = page_pdf("Delibera", false);
    damaged.truncate(120);
    o.drop_file("delibera.pdf", &damaged);
    o.drop_file("delibera.yaml", b"caption: Delibera\n");
    assert!(o.once().status.success());
    let receipt = std::fs::read_to_string(o.archive_month().join("delibera.receipt.yaml")).unwrap();
    assert!(
        receipt.contains("no_preview: il file è danneggiato"),
        "{receipt}"
    );
}
