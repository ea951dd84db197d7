//! Network shares, where the kernel sends no events for files written by other machines. The
//! share is simulated with bindfs (a FUSE filesystem) mounted on the inbox: files written into
//! the folder underneath, as a clerk's PC writes to an SMB share, raise no inotify event on the
//! mount point, and their attributes are cached for a second, as SMB and NFS clients do.
//!
//! Needs root and the `bindfs` package (Debian: `apt-get install bindfs`, which brings `fuse`).
//! Where either is missing the tests say so loudly on stderr and return.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::bindfs::Share;
use common::*;

const LONG: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);
const SETTLE: Duration = Duration::from_millis(500);
/// What picking a file up may take beyond `poll_interval + settle`: the pass that pairs it,
/// preparing, the journal, the move through FUSE, and the upload to the fake. Measured here at
/// about 0.1 s; the rest is room for a loaded CI machine.
const MARGIN: Duration = Duration::from_millis(700);
/// How much longer than `settle` a file must look quiet on a polled share.
const ATTRIBUTE_CACHE: Duration = Duration::from_secs(1);

/// The SHA-256 of every user file in the office's folders, sorted; dropcast's receipts and
/// reports left out.
fn user_files(o: &Office) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), out);
            } else if !is_lease(&e.path()) {
                out.push(e.path());
            }
        }
    }
    let mut paths = Vec::new();
    for folder in ["inbox", "archive", "failed", "scheduled"] {
        walk(&o.path(folder), &mut paths);
    }
    let mut out: Vec<String> = paths
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            // Receipts and reports, and a work folder's own records (its sent log, where its
            // files came from), which go with the folder a moment after the archiving.
            !(n.contains(".receipt")
                || n.contains(".error")
                || n.starts_with(".sent")
                || n.starts_with(".from."))
        })
        .map(|p| sha256(&std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn config(mode: &str, rescan: &str) -> String {
    format!(
        "watch: {{mode: {mode}, poll_interval: {}ms, settle: {}ms, rescan_interval: {rescan}}}\n",
        POLL.as_millis(),
        SETTLE.as_millis()
    )
}

#[test]
fn auto_mode_polls_a_fuse_share_and_posts_within_poll_plus_settle() {
    let o = Office::with(&config("auto", "5m"));
    let Some(share) = Share::mount(&o) else {
        return;
    };
    let d = o.run();
    d.wait_log(
        "network filesystem detected (FUSE): polling every 0.5s",
        LONG,
    );

    let doc = pdf("from another PC");
    let start = Instant::now();
    share.write("notice.pdf", &doc);
    share.write("notice.yaml", b"caption: from the share\n");
    let posts = o.bot.wait_for_posts(1, LONG);
    let took = posts[0].at.duration_since(start);
    eprintln!(
        "FUSE share, mode auto: posted {took:?} after the write (poll_interval {POLL:?} + settle \
         {SETTLE:?} + attribute cache {ATTRIBUTE_CACHE:?} + margin {MARGIN:?})"
    );
    // On a polled share the quiet window is 1 s longer than `settle` (the client's attribute
    // cache, see src/watcher.rs).
    assert!(
        took <= POLL + SETTLE + ATTRIBUTE_CACHE + MARGIN,
        "posted only after {took:?}:\n{}",
        d.log()
    );
    assert_eq!(posts[0].file("document").unwrap().sha256, sha256(&doc));
    let month = o.archive_month();
    wait_until(LONG, "archived", || {
        month.join("notice.receipt.yaml").exists()
    });
    assert_eq!(std::fs::read(month.join("notice.pdf")).unwrap(), doc);
    let mut expected = vec![sha256(&doc), sha256(b"caption: from the share\n")];
    expected.sort();
    assert_eq!(user_files(&o), expected);
}

#[test]
fn native_mode_misses_writes_on_a_fuse_share_until_the_rescan() {
    // The control for the test above: with events alone, the same write is not seen within
    // poll_interval + settle, only at the periodic rescan. That proves the share sends no events.
    let rescan = Duration::from_secs(4);
    let o = Office::with(&config("native", "4s"));
    let Some(share) = Share::mount(&o) else {
        return;
    };
    // Found by the scan at start, so that we know that scan is over.
    share.write("probe.pdf", &pdf("probe"));
    share.write("probe.yaml", b"caption: probe\n");
    let started = Instant::now();
    let d = o.run();
    d.wait_log("mode: native", LONG);
    o.bot.wait_for_posts(1, LONG);

    let doc = pdf("unseen");
    let written = Instant::now();
    share.write("notice.pdf", &doc);
    share.write("notice.yaml", b"caption: unseen\n");
    let window = POLL + SETTLE + MARGIN;
    while written.elapsed() < window {
        assert_eq!(
            o.bot.posts().len(),
            1,
            "mode native saw a write made underneath the FUSE mount after {:?}: the share does \
             send events, so this simulation proves nothing",
            written.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let posts = o.bot.wait_for_posts(2, LONG);
    let took = posts[1].at.duration_since(written);
    let since_start = posts[1].at.duration_since(started);
    eprintln!(
        "FUSE share, mode native: not posted within {window:?}; posted {took:?} after the write, \
         {since_start:?} after start (rescan_interval {rescan:?})"
    );
    assert!(since_start >= rescan, "posted before the first rescan");
    assert_eq!(posts[1].file("document").unwrap().sha256, sha256(&doc));
}

#[test]
fn a_slow_writer_on_a_share_with_cached_attributes_is_never_posted_half_written() {
    // A scanner on another machine writes a PDF in chunks, 250 ms apart, into the share. The FUSE
    // client caches the file's size and time for 1 s (bindfs's default; SMB's `actimeo` default
    // is 1 s too), longer than `settle`. Whatever dropcast reads must be the whole file.
    let o = Office::with(&config("auto", "5m"));
    let Some(share) = Share::mount(&o) else {
        return;
    };
    let d = o.run();
    d.wait_log("network filesystem detected (FUSE)", LONG);
    share.write("scan.yaml", b"caption: scanned\n");
    let mut whole = pdf("scan");
    whole.extend(std::iter::repeat_n(b'x', 64 * 1024));
    let chunks: Vec<&[u8]> = whole.chunks(whole.len() / 10 + 1).collect();
    let mut f = std::fs::File::create(share.under.join("scan.pdf")).unwrap();
    for c in &chunks {
        f.write_all(c).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(f);

    let month = o.archive_month();
    wait_until(LONG, "archived", || {
        month.join("scan.receipt.yaml").exists()
    });
    let uploads: Vec<u64> = o
        .bot
        .posts()
        .iter()
        .filter_map(|p| p.file("document"))
        .map(|u| u.size)
        .collect();
    let archived = std::fs::metadata(month.join("scan.pdf")).map(|m| m.len());
    let mut expected = vec![sha256(&whole), sha256(b"caption: scanned\n")];
    expected.sort();
    let found = user_files(&o);
    let facts = format!(
        "uploads of {uploads:?} bytes, archive/…/scan.pdf has {archived:?} bytes, the whole scan \
         has {} bytes and is {}",
        whole.len(),
        if found.contains(&sha256(&whole)) {
            "kept"
        } else {
            "nowhere (lost)"
        }
    );
    assert!(
        uploads.iter().all(|&n| n == whole.len() as u64),
        "a half-written scan was posted: {facts}\n{}",
        d.log()
    );
    assert_eq!(found, expected, "{facts}");
}
