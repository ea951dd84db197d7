//! The status page, `/metrics` and `/healthz`, read by a real headless browser while bundles flow.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

fn office_with_page() -> (Office, u16) {
    let port = free_port();
    let o = Office::with(&format!(
        "http: {{listen: \"127.0.0.1:{port}\"}}\nwatch: {{settle: 300ms}}\n"
    ));
    (o, port)
}

#[test]
fn metrics_and_healthz() {
    let (o, port) = office_with_page();
    let d = o.run();
    d.wait_log("status page at", LONG);
    o.drop_file("a.pdf", &pdf("a"));
    o.drop_file("a.yaml", b"caption: a\n");
    o.drop_file("bad.yaml", b"captoin: x\n");
    wait_until(LONG, "archived", || {
        o.archive_month().join("a.receipt.yaml").exists()
    });
    wait_until(LONG, "refused", || o.path("failed/bad.error.txt").exists());
    let (status, body) = http_get(port, "/healthz");
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "ok\n");
    let (status, metrics) = http_get(port, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert!(
        metrics.contains("dropcast_messages_sent_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dropcast_bundles_total{outcome=\"archived\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dropcast_bundles_total{outcome=\"refused\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("dropcast_upload_bytes_total {}\n", pdf("a").len())),
        "{metrics}"
    );
    assert!(
        !metrics.contains("dropcast_last_post_timestamp_seconds 0\n"),
        "{metrics}"
    );
    // Read-only: nothing but GET is served.
    let (status, _) = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut t = String::new();
        s.read_to_string(&mut t).unwrap();
        (t.lines().next().unwrap_or("").to_string(), ())
    };
    assert!(status.contains("405"), "{status}");
    o.assert_token_never_written();
}

/// The page and `/healthz` only read the journal (issue 10): they used to open it for writing,
/// which set it up, checked the whole file and wrote a row, so every refresh wrote and flushed.
#[test]
fn refreshing_the_page_and_healthz_writes_nothing_to_the_journal() {
    let (o, port) = office_with_page();
    let d = o.run();
    d.wait_log("status page at", LONG);
    // A refusal and a post, so the page reads every section; the refusal is recorded before the
    // post is entered (one preparer), and the post's last journal write comes before its count.
    o.drop_file("bad.yaml", b"captoin: x\n");
    wait_until(LONG, "the refusal", || {
        o.path("failed/bad.error.txt").exists()
    });
    o.drop_file("posted.yaml", b"text: road works on Via Roma\n");
    wait_until(LONG, "the post recorded", || {
        http_get(port, "/metrics")
            .1
            .contains("dropcast_bundles_total{outcome=\"archived\"} 1\n")
    });
    let before = o.journal_fingerprint();
    assert!(
        before.iter().all(|(_, f)| f.is_some()),
        "the daemon holds the journal open: {before:?}"
    );
    for _ in 0..50 {
        let (status, html) = http_get(port, "/");
        assert!(status.contains("200"), "{status}");
        assert!(
            html.contains("<b>posted.yaml</b>") && html.contains("<b>bad.yaml</b>"),
            "{html}"
        );
        let (status, body) = http_get(port, "/healthz");
        assert!(status.contains("200"), "{status}");
        assert_eq!(body, "ok\n");
    }
    assert_eq!(o.journal_fingerprint(), before);
}

#[test]
fn the_status_page_in_a_headless_browser_while_bundles_flow() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("SKIPPED: no headless Chromium (Debian package `chromium`; .ci/run installs it)");
        return;
    };
    let (o, port) = office_with_page();
    let d = o.run();
    d.wait_log("status page at", LONG);
    o.drop_file("posted.yaml", b"text: road works on Via Roma\n");
    o.drop_file("orphan.pdf", &pdf("orphan"));
    o.drop_file("bad.yaml", b"captoin: x\n");
    o.drop_file(
        "later.yaml",
        format!("text: later\npublish_at: {}\n", local_in(3600)).as_bytes(),
    );
    wait_until(LONG, "the post", || {
        o.archive_month().join("posted.receipt.yaml").exists()
    });
    wait_until(LONG, "the refusal", || {
        o.path("failed/bad.error.txt").exists()
    });
    wait_until(LONG, "the schedule", || {
        o.path("scheduled/later.yaml").exists()
    });

    let profile = tempfile::tempdir().unwrap();
    let browser = |extra: &[&str]| {
        let mut c = Command::new(chromium);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("http://127.0.0.1:{port}/"));
        c.output().unwrap()
    };
    let dom = browser(&["--dump-dom"]);
    assert!(dom.status.success(), "{}", text(&dom));
    let html = String::from_utf8_lossy(&dom.stdout);
    // What a person sees: each section with its items, the link to the post, the refresh.
    assert!(html.contains("Everything is flowing."), "{html}");
    assert!(
        html.contains("<b>orphan.pdf</b> <span>waiting for its sidecar"),
        "{html}"
    );
    assert!(html.contains("<b>later.yaml</b> <span>at "), "{html}");
    assert!(
        html.contains("<b>bad.yaml</b>") && html.contains("unknown key"),
        "{html}"
    );
    assert!(html.contains("href=\"https://t.me/town_news/1\""), "{html}");
    assert!(html.contains("http-equiv=\"refresh\""), "{html}");
    assert!(html.contains("name=\"viewport\""), "{html}");
    // A phone-sized screenshot for the docs.
    let shot = o.path("status-page.png");
    let out = browser(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=412,900",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5000,
        "{} bytes",
        png.len()
    );
    if std::env::var_os("DROPCAST_UPDATE_SCREENSHOT").is_some() {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")).unwrap();
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status-page.png"),
            &png,
        )
        .unwrap();
    }
}
