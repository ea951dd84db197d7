//! Disks and files that misbehave: an archive on another filesystem, an archive that cannot be
//! written, a disk that fills up during the copy, and inbox files replaced or deleted while
//! dropcast is working on them. In every case: nothing lost (the multiset of SHA-256 of the user's
//! files is the same before and after), nothing overwritten, the error named in the log, the
//! daemon still running, and nothing posted twice.
//!
//! These tests mount tmpfs filesystems and watch opens with fanotify, so they need root
//! (CAP_SYS_ADMIN) on Linux. Where that is missing they say so loudly on stderr and return.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::fake_bot::Fault;
use common::*;

const LONG: Duration = Duration::from_secs(30);
const NEWS: i64 = -1001234567890;

// ---------------------------------------------------------------------------------------------
// Helpers: tmpfs mounts, fanotify, the user's files
// ---------------------------------------------------------------------------------------------

fn skip(why: &str) {
    common::skip(why, "root (CAP_SYS_ADMIN) on Linux");
}

fn mount_tmpfs(target: &Path, flags: libc::c_ulong, data: &str) -> std::io::Result<()> {
    let t = CString::new(target.as_os_str().as_bytes()).unwrap();
    let d = CString::new(data).unwrap();
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            t.as_ptr(),
            c"tmpfs".as_ptr(),
            flags,
            d.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A tmpfs mounted for one test; unmounted when dropped, also when the test panics. Declare it
/// after the `Office` (so it goes first) and before the `Daemon`.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs with `options` (`size=64k`) at `path`, read-only if asked; `None` (after
    /// saying so) where mounting is not allowed.
    fn mount(path: &Path, options: &str, read_only: bool) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let flags = if read_only { libc::MS_RDONLY } else { 0 };
        match mount_tmpfs(path, flags, options) {
            Ok(()) => Some(Tmpfs {
                path: path.to_path_buf(),
            }),
            Err(e) => {
                skip(&format!("cannot mount a tmpfs at {}: {e}", path.display()));
                None
            }
        }
    }

    /// Changes the mount's options in place (`size=10m`, read-only or not); files stay.
    fn remount(&self, options: &str, read_only: bool) {
        let flags = libc::MS_REMOUNT | if read_only { libc::MS_RDONLY } else { 0 };
        mount_tmpfs(&self.path, flags, options)
            .unwrap_or_else(|e| panic!("cannot remount {}: {e}", self.path.display()));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let p = CString::new(self.path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path; a busy mount is detached instead, so none outlives the test.
        unsafe {
            if libc::umount2(p.as_ptr(), 0) != 0 {
                libc::umount2(p.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

/// Holds a process's `open` of one file (fanotify permission events) so that the test can
/// change the inbox at the exact moment dropcast is between two steps.
struct OpenGate {
    fd: libc::c_int,
}

impl OpenGate {
    /// Starts watching opens of `file` (its inode: a file renamed over it is not watched).
    fn on(file: &Path) -> Option<OpenGate> {
        // SAFETY: plain syscalls with valid arguments; the fd is owned by the gate.
        let fd = unsafe {
            libc::fanotify_init(
                libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC,
                libc::O_RDONLY as libc::c_uint,
            )
        };
        if fd < 0 {
            skip(&format!(
                "fanotify_init: {}",
                std::io::Error::last_os_error()
            ));
            return None;
        }
        let gate = OpenGate { fd };
        let c = CString::new(file.as_os_str().as_bytes()).unwrap();
        // SAFETY: as above.
        let rc = unsafe {
            libc::fanotify_mark(
                fd,
                libc::FAN_MARK_ADD,
                libc::FAN_OPEN_PERM,
                libc::AT_FDCWD,
                c.as_ptr(),
            )
        };
        if rc != 0 {
            skip(&format!(
                "fanotify_mark(FAN_OPEN_PERM): {} (kernel without \
                 CONFIG_FANOTIFY_ACCESS_PERMISSIONS?)",
                std::io::Error::last_os_error()
            ));
            return None;
        }
        Some(gate)
    }

    /// Lets every open through, until one by `pid` arrives while `ready()` holds: that one waits
    /// while `meanwhile` runs, then goes through. Panics at `limit`.
    fn hold_one(
        &self,
        pid: u32,
        ready: impl Fn() -> bool,
        meanwhile: impl FnOnce(),
        limit: Duration,
    ) {
        let start = Instant::now();
        let mut meanwhile = Some(meanwhile);
        let mut buf = [0u64; 512];
        while meanwhile.is_some() {
            assert!(
                start.elapsed() < limit,
                "dropcast did not open the watched file after it settled within {limit:?}"
            );
            let mut pfd = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 50) } <= 0 {
                continue;
            }
            // SAFETY: reading into a buffer we own, aligned for the event records.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), 4096) };
            assert!(n > 0, "fanotify read: {}", std::io::Error::last_os_error());
            let bytes = n as usize;
            let mut at = 0usize;
            while at + std::mem::size_of::<libc::fanotify_event_metadata>() <= bytes {
                // SAFETY: the kernel wrote whole records; `at` is 8-aligned (event_len is).
                let ev: libc::fanotify_event_metadata = unsafe {
                    std::ptr::read_unaligned(
                        (buf.as_ptr() as *const u8)
                            .add(at)
                            .cast::<libc::fanotify_event_metadata>(),
                    )
                };
                at += ev.event_len as usize;
                if ev.mask & libc::FAN_OPEN_PERM != 0
                    && ev.pid as u32 == pid
                    && meanwhile.is_some()
                    && ready()
                {
                    (meanwhile.take().unwrap())();
                }
                self.allow(ev.fd);
            }
        }
    }

    fn allow(&self, event_fd: libc::c_int) {
        if event_fd < 0 {
            return;
        }
        let r = libc::fanotify_response {
            fd: event_fd,
            response: libc::FAN_ALLOW,
        };
        // SAFETY: writing a response record; closing the event's own fd.
        unsafe {
            libc::write(
                self.fd,
                (&r as *const libc::fanotify_response).cast(),
                std::mem::size_of::<libc::fanotify_response>(),
            );
            libc::close(event_fd);
        }
    }
}

impl Drop for OpenGate {
    fn drop(&mut self) {
        // Closing the group lets every open still waiting go through.
        // SAFETY: our own fd.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// A PDF of exactly `len` bytes whose content depends on `seed`.
fn big_pdf(seed: u64, len: usize) -> Vec<u8> {
    let mut v = format!("%PDF-1.4\n% seed {seed}\n").into_bytes();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len.saturating_sub(6) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x >> 32) as u8);
    }
    v.extend_from_slice(b"%%EOF\n");
    v.truncate(len);
    v
}

fn is_ours(name: &str) -> bool {
    (name.contains(".receipt") && name.ends_with(".yaml"))
        || (name.contains(".error") && name.ends_with(".txt"))
        // A receipt or report still under its temporary name: a snapshot taken while the
        // finisher writes one would otherwise count it as a user's file.
        || (name.starts_with(".dropcast-") && name.ends_with(".tmp"))
        // A work folder's sent log, a scheduled bundle's record (see src/sentlog.rs).
        || name == ".sent"
        || (name.starts_with(".sent.") && name.ends_with(".json"))
        || name == "bundle.json"
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

/// Every user file in the office's folders (inbox with its work folder, archive, failed,
/// scheduled) with its SHA-256; dropcast's own receipts and reports are left out.
fn user_files(o: &Office) -> Vec<(String, PathBuf)> {
    let mut paths = Vec::new();
    for folder in ["inbox", "archive", "failed", "scheduled"] {
        walk(&o.path(folder), &mut paths);
    }
    let mut out: Vec<(String, PathBuf)> = paths
        .into_iter()
        .filter(|p| !is_ours(&p.file_name().unwrap().to_string_lossy()) && !is_lease(p))
        .map(|p| (sha256(&std::fs::read(&p).unwrap()), p))
        .collect();
    out.sort();
    out
}

fn listing(files: &[(String, PathBuf)], o: &Office) -> String {
    files
        .iter()
        .map(|(sha, p)| {
            format!(
                "  {} {}",
                &sha[..12],
                p.strip_prefix(o.dir.path()).unwrap_or(p).display()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Nothing lost, nothing overwritten: the same multiset of contents as `before`.
fn assert_nothing_lost(o: &Office, before: &[(String, PathBuf)]) {
    let after = user_files(o);
    let a: Vec<&String> = after.iter().map(|(s, _)| s).collect();
    let b: Vec<&String> = before.iter().map(|(s, _)| s).collect();
    assert_eq!(
        a,
        b,
        "the user's files changed\nbefore:\n{}\nafter:\n{}",
        listing(before, o),
        listing(&after, o)
    );
}

/// The files in the hidden work folders of the inbox.
fn in_work_folder(o: &Office) -> Vec<(String, PathBuf)> {
    user_files(o)
        .into_iter()
        .filter(|(_, p)| p.starts_with(o.inbox(".dropcast")))
        .collect()
}

/// `files:` of a receipt: (name, sha256).
fn receipt_files(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let v: serde_yaml::Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}\n{text}", path.display()));
    v["files"]
        .as_sequence()
        .unwrap_or_else(|| panic!("no files in {}:\n{text}", path.display()))
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_string(),
                f["sha256"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn dev(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().dev()
}

fn count_requests(o: &Office, method: &str) -> usize {
    o.bot
        .requests()
        .iter()
        .filter(|r| r.method == method)
        .count()
}

fn assert_running(d: &mut Daemon) {
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "dropcast stopped:\n{}",
        d.log()
    );
}

// ---------------------------------------------------------------------------------------------
// 1. The archive on another filesystem
// ---------------------------------------------------------------------------------------------

#[test]
fn an_archive_on_another_filesystem_gets_every_file_byte_for_byte() {
    let o = Office::new();
    let Some(_archive) = Tmpfs::mount(&o.path("archive"), "size=16m", false) else {
        return;
    };
    assert_ne!(
        dev(&o.path("inbox")),
        dev(&o.path("archive")),
        "the archive must be on another filesystem for this test"
    );
    let doc = big_pdf(1, 700_000);
    let photo = png(800, 600);
    o.drop_file("notice.pdf", &doc);
    o.drop_file("notice.yaml", b"caption: Notice\n");
    o.drop_file("square.png", &photo);
    o.drop_file("square.yaml", b"caption: Square\n");
    o.drop_file("roads.yaml", b"text: Via Roma is closed\n");
    let before = user_files(&o);

    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));

    let posts = o.bot.posts();
    assert_eq!(posts.len(), 3, "{posts:#?}");
    let month = o.archive_month();
    for (name, bytes) in [("notice.pdf", &doc), ("square.png", &photo)] {
        assert_eq!(
            &std::fs::read(month.join(name)).unwrap(),
            bytes,
            "{name} changed on the way"
        );
    }
    let receipt = receipt_files(&month.join("notice.receipt.yaml"));
    assert!(
        receipt.contains(&("notice.pdf".to_string(), sha256(&doc))),
        "{receipt:?}"
    );
    let doc_post = posts.iter().find(|p| p.method == "sendDocument").unwrap();
    assert_eq!(doc_post.file("document").unwrap().sha256, sha256(&doc));
    assert!(
        in_work_folder(&o).is_empty() && o.files("inbox").is_empty(),
        "left in the inbox: {:?}",
        o.files("inbox")
    );
    assert!(!text(&out).contains("cannot move"), "{}", text(&out));
    assert_nothing_lost(&o, &before);
    o.bot.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// 2. The archive cannot be written
// ---------------------------------------------------------------------------------------------

#[test]
fn an_archive_on_a_read_only_filesystem_keeps_the_files_until_it_is_writable() {
    let o = Office::new();
    let Some(archive) = Tmpfs::mount(&o.path("archive"), "size=16m", true) else {
        return;
    };
    let a = big_pdf(21, 50_000);
    o.drop_file("a.pdf", &a);
    o.drop_file("a.yaml", b"caption: first\n");
    let mut before = user_files(&o);
    let mut d = o.run();

    o.bot.wait_for_posts(1, LONG);
    d.wait_log("cannot move the bundle yet", LONG);
    let log = d.log();
    assert!(log.contains("Read-only file system"), "{log}");
    assert!(
        log.contains(&o.path("archive").display().to_string()),
        "the log does not name the archive folder:\n{log}"
    );
    // The posted files wait, untouched, in the work folder.
    let waiting = in_work_folder(&o);
    assert_eq!(waiting.len(), 2, "{}", listing(&waiting, &o));
    assert!(waiting.iter().any(|(s, _)| *s == sha256(&a)));

    // The daemon goes on posting while the archive is broken.
    let b = big_pdf(22, 50_000);
    o.drop_file("b.pdf", &b);
    o.drop_file("b.yaml", b"caption: second\n");
    before.extend(
        user_files(&o)
            .into_iter()
            .filter(|(s, _)| *s == sha256(&b) || *s == sha256(b"caption: second\n")),
    );
    before.sort();
    o.bot.wait_for_posts(2, LONG);
    wait_until(
        LONG,
        "both bundles in the work folder, and b failed to move too",
        || {
            in_work_folder(&o).len() == 4
                && d.log()
                    .lines()
                    .any(|l| l.contains("cannot move the bundle yet") && l.contains("bundle=b.pdf"))
        },
    );
    assert_running(&mut d);

    archive.remount("size=16m", false);
    let fixed = Instant::now();
    let month = o.archive_month();
    wait_until(LONG, "both bundles archived", || {
        month.join("a.receipt.yaml").exists() && month.join("b.receipt.yaml").exists()
    });
    eprintln!(
        "read-only archive: archived {:?} after it became writable",
        fixed.elapsed()
    );
    assert_eq!(std::fs::read(month.join("a.pdf")).unwrap(), a);
    assert_eq!(std::fs::read(month.join("b.pdf")).unwrap(), b);
    assert_eq!(
        count_requests(&o, "sendDocument"),
        2,
        "a bundle was posted again"
    );
    assert_eq!(o.bot.chat_messages(NEWS).len(), 2);
    assert!(in_work_folder(&o).is_empty());
    assert_nothing_lost(&o, &before);
    assert_running(&mut d);
    o.bot.assert_clean();
}

#[test]
fn a_file_in_the_way_of_the_archive_folder_keeps_the_bundle_until_it_is_removed() {
    let o = Office::new();
    let doc = big_pdf(23, 30_000);
    o.drop_file("notice.pdf", &doc);
    o.drop_file("notice.yaml", b"caption: blocked\n");
    let before = user_files(&o);
    // A file named like this year's folder: archive/YYYY/MM cannot be created.
    let year = o.archive_month().parent().unwrap().to_path_buf();
    std::fs::create_dir_all(o.path("archive")).unwrap();
    std::fs::write(&year, b"not a folder").unwrap();
    let mut d = o.run();

    o.bot.wait_for_posts(1, LONG);
    d.wait_log("cannot move the bundle yet", LONG);
    let log = d.log();
    assert!(
        log.contains(&year.display().to_string()),
        "the log does not name {}:\n{log}",
        year.display()
    );
    assert_eq!(in_work_folder(&o).len(), 2);
    assert_eq!(std::fs::read(&year).unwrap(), b"not a folder");
    assert_running(&mut d);

    std::fs::remove_file(&year).unwrap();
    let fixed = Instant::now();
    let month = o.archive_month();
    wait_until(LONG, "the bundle archived", || {
        month.join("notice.receipt.yaml").exists()
    });
    eprintln!(
        "blocked archive: archived {:?} after the file was removed",
        fixed.elapsed()
    );
    assert_eq!(std::fs::read(month.join("notice.pdf")).unwrap(), doc);
    assert_eq!(count_requests(&o, "sendDocument"), 1);
    assert_nothing_lost(&o, &before);
    assert_running(&mut d);
}

// ---------------------------------------------------------------------------------------------
// 3. The disk fills up
// ---------------------------------------------------------------------------------------------

#[test]
fn a_full_archive_disk_leaves_no_partial_copy_and_keeps_the_original() {
    let o = Office::new();
    let Some(archive) = Tmpfs::mount(&o.path("archive"), "size=64k", false) else {
        return;
    };
    let doc = big_pdf(3, 200_000);
    o.drop_file("notice.pdf", &doc);
    o.drop_file("notice.yaml", b"caption: too big for the archive\n");
    let before = user_files(&o);
    let mut d = o.run();

    o.bot.wait_for_posts(1, LONG);
    d.wait_log("cannot move the bundle yet", LONG);
    let log = d.log();
    assert!(log.contains("No space left on device"), "{log}");
    // No partial copy in the archive; the original, whole, in the work folder.
    assert!(
        o.files("archive").is_empty(),
        "a partial copy was left: {:?}",
        o.files("archive")
    );
    let waiting = in_work_folder(&o);
    assert!(
        waiting.iter().any(|(s, _)| *s == sha256(&doc)),
        "{}",
        listing(&waiting, &o)
    );
    assert_running(&mut d);

    archive.remount("size=10m", false);
    let fixed = Instant::now();
    let month = o.archive_month();
    wait_until(LONG, "the bundle archived", || {
        month.join("notice.receipt.yaml").exists()
    });
    eprintln!(
        "full archive: archived {:?} after it was enlarged",
        fixed.elapsed()
    );
    assert_eq!(std::fs::read(month.join("notice.pdf")).unwrap(), doc);
    let receipt = receipt_files(&month.join("notice.receipt.yaml"));
    assert!(
        receipt.contains(&("notice.pdf".to_string(), sha256(&doc))),
        "{receipt:?}"
    );
    assert_eq!(count_requests(&o, "sendDocument"), 1, "posted again");
    assert_nothing_lost(&o, &before);
    assert_running(&mut d);
}

#[test]
fn a_receipt_that_does_not_fit_is_written_once_there_is_room_and_names_the_files() {
    let o = Office::new();
    // The files fill the 64 KiB exactly (15 pages + 1): the receipt is what does not fit.
    let Some(archive) = Tmpfs::mount(&o.path("archive"), "size=64k", false) else {
        return;
    };
    let doc = big_pdf(4, 15 * 4096);
    o.drop_file("notice.pdf", &doc);
    o.drop_file("notice.yaml", b"caption: receipt\n");
    let before = user_files(&o);
    let mut d = o.run();

    o.bot.wait_for_posts(1, LONG);
    d.wait_log("cannot move the bundle yet", LONG);
    assert!(d.log().contains("No space left on device"), "{}", d.log());
    // Let the finisher try a few times while the disk is full (1 s, then 2 s).
    let tries = || d.log().matches("cannot move the bundle yet").count();
    wait_until(LONG, "three attempts", || tries() >= 3);
    assert_running(&mut d);

    archive.remount("size=10m", false);
    let month = o.archive_month();
    wait_until(LONG, "the bundle archived with a receipt", || {
        in_work_folder(&o).is_empty()
            && o.files("archive").iter().any(|f| {
                f.contains(".receipt")
                    && std::fs::metadata(o.path("archive").join(f)).is_ok_and(|m| m.len() > 0)
            })
    });
    let receipts: Vec<String> = o
        .files("archive")
        .into_iter()
        .filter(|f| f.contains(".receipt"))
        .collect();
    // One receipt, complete, under the bundle's name, naming the files as they are archived.
    assert_eq!(
        receipts.len(),
        1,
        "empty or extra receipts were left: {receipts:?} in {:?}",
        o.files("archive")
    );
    let files = receipt_files(&month.join("notice.receipt.yaml"));
    for (name, sha) in &files {
        let archived = std::fs::read(month.join(name))
            .unwrap_or_else(|e| panic!("the receipt names {name}, which is not there: {e}"));
        assert_eq!(&sha256(&archived), sha, "{name}");
    }
    assert_eq!(std::fs::read(month.join("notice.pdf")).unwrap(), doc);
    assert_eq!(count_requests(&o, "sendDocument"), 1);
    assert_nothing_lost(&o, &before);
}

// ---------------------------------------------------------------------------------------------
// 4. Inbox files that change under dropcast's feet
// ---------------------------------------------------------------------------------------------

/// The files of all bundles in the archive month agree with their receipts, and each upload
/// carries the bytes that were archived under its name.
fn assert_receipts_tell_the_truth(o: &Office) {
    let month = o.archive_month();
    for f in o.files(&month.strip_prefix(o.dir.path()).unwrap().to_string_lossy()) {
        if !f.ends_with(".receipt.yaml") {
            continue;
        }
        for (name, sha) in receipt_files(&month.join(&f)) {
            let bytes = std::fs::read(month.join(&name)).unwrap();
            assert_eq!(
                sha256(&bytes),
                sha,
                "{f} says {name} has SHA-256 {sha}, but the archived {name} is {}",
                sha256(&bytes)
            );
        }
    }
}

#[test]
fn a_new_file_with_the_name_of_one_in_flight_is_a_separate_post() {
    let o = Office::new();
    o.edit_config("pacing: false", "pacing: false\n  timeout: 1s");
    o.bot.fail_next("sendDocument", Fault::Hang);
    let first = big_pdf(41, 20_000);
    let second = big_pdf(42, 20_000);
    o.drop_file("notice.pdf", &first);
    o.drop_file("notice.yaml", b"caption: first\n");
    let mut d = o.run();

    wait_until(LONG, "a hung upload", || {
        o.bot.requests().iter().any(|r| r.status == 0)
    });
    let waiting = in_work_folder(&o);
    assert!(
        waiting.iter().any(|(s, _)| *s == sha256(&first)),
        "the bundle in flight is not in the work folder:\n{}",
        listing(&waiting, &o)
    );
    // A clerk drops a corrected notice under the same name while the first is in flight.
    o.drop_file("notice.pdf", &second);
    o.drop_file("notice.yaml", b"caption: second\n");
    let before = user_files(&o);

    let month = o.archive_month();
    wait_until(LONG, "both archived", || {
        month.join("notice.receipt.yaml").exists() && month.join("notice (2).receipt.yaml").exists()
    });
    let posts = o.bot.posts();
    let sent: Vec<(String, Option<&str>)> = posts
        .iter()
        .map(|p| {
            (
                p.file("document").unwrap().sha256.clone(),
                p.field("caption"),
            )
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            (sha256(&first), Some("first")),
            (sha256(&second), Some("second"))
        ],
        "each notice once, in order, with its own caption"
    );
    assert_eq!(o.bot.chat_messages(NEWS).len(), 2);
    assert_eq!(std::fs::read(month.join("notice.pdf")).unwrap(), first);
    assert_eq!(std::fs::read(month.join("notice (2).pdf")).unwrap(), second);
    assert_eq!(
        std::fs::read(month.join("notice (2).yaml")).unwrap(),
        b"caption: second\n"
    );
    assert_receipts_tell_the_truth(&o);
    assert_nothing_lost(&o, &before);
    assert_running(&mut d);
    o.bot.assert_clean();
}

#[test]
fn an_identical_copy_dropped_while_the_first_is_in_flight_is_refused_as_a_duplicate() {
    let o = Office::new();
    o.edit_config("pacing: false", "pacing: false\n  timeout: 1s");
    o.bot.fail_next("sendDocument", Fault::Hang);
    let doc = big_pdf(43, 20_000);
    o.drop_file("notice.pdf", &doc);
    o.drop_file("notice.yaml", b"caption: first\n");
    let mut d = o.run();
    wait_until(LONG, "a hung upload", || {
        o.bot.requests().iter().any(|r| r.status == 0)
    });
    // The clerk, seeing nothing in the channel yet, drops the same notice again.
    o.drop_file("notice.pdf", &doc);
    o.drop_file("notice.yaml", b"caption: again\n");
    let before = user_files(&o);

    let month = o.archive_month();
    wait_until(LONG, "the first archived and the copy finished", || {
        month.join("notice.receipt.yaml").exists()
            && (o.path("failed/notice.error.txt").exists()
                || month.join("notice (2).receipt.yaml").exists())
    });
    let posts = o.bot.posts();
    assert_eq!(
        posts.len(),
        1,
        "the same PDF was posted {} times ({} messages in the channel), captions {:?}",
        posts.len(),
        o.bot.chat_messages(NEWS).len(),
        posts.iter().map(|p| p.field("caption")).collect::<Vec<_>>()
    );
    let report = std::fs::read_to_string(o.path("failed/notice.error.txt")).unwrap();
    assert!(report.contains("repost: true"), "{report}");
    assert_nothing_lost(&o, &before);
    assert_running(&mut d);
}

#[test]
fn a_file_replaced_while_settling_posts_only_the_final_content() {
    // Polling only, so that nothing but the stat at each poll and at the end of the window can
    // notice the change; the replacement has the same size and modification time, only the inode
    // differs.
    let o = Office::with("watch: {mode: poll, poll_interval: 100ms, settle: 1s}\n");
    let d = o.run();
    d.wait_log("watching", LONG);
    let first = big_pdf(44, 30_000);
    let last = big_pdf(45, 30_000);
    let p = o.drop_file("notice.pdf", &first);
    o.drop_file("notice.yaml", b"caption: final\n");
    let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
    // The clerk's corrected copy replaces the first one halfway through the settle window.
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !d.log().contains("settled file="),
        "this machine is too slow for the scenario: a file settled before it was replaced"
    );
    let staged = o.path("staged.pdf");
    std::fs::write(&staged, &last).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&staged)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::rename(&staged, &p).unwrap();
    let before = user_files(&o);

    let month = o.archive_month();
    wait_until(LONG, "archived", || {
        month.join("notice.receipt.yaml").exists()
    });
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0].file("document").unwrap().sha256, sha256(&last));
    assert_eq!(std::fs::read(month.join("notice.pdf")).unwrap(), last);
    assert_receipts_tell_the_truth(&o);
    assert_nothing_lost(&o, &before);
}

/// Drops a bundle, then holds dropcast's first open of `notice.pdf` after it settled (the one
/// that hashes it before the move into the work folder) while `meanwhile` changes the inbox.
fn between_settle_and_move(o: &Office, meanwhile: impl FnOnce()) -> Option<Daemon> {
    o.drop_file("notice.pdf", &big_pdf(46, 40_000));
    o.drop_file("notice.yaml", b"caption: racing\n");
    let gate = OpenGate::on(&o.inbox("notice.pdf"))?;
    let d = o.run();
    let pid = d.child.id();
    let settled = || {
        d.log()
            .lines()
            .any(|l| l.contains("settled") && l.contains("inbox/notice.pdf"))
    };
    gate.hold_one(pid, settled, meanwhile, LONG);
    drop(gate);
    Some(d)
}

#[test]
fn a_file_replaced_between_settling_and_the_move_is_never_posted_with_the_wrong_receipt() {
    let o = Office::with("watch: {settle: 300ms, rescan_interval: 5m}\n");
    let replacement = big_pdf(47, 40_000);
    let Some(mut d) = between_settle_and_move(&o, || {
        let staged = o.path("staged.pdf");
        std::fs::write(&staged, &replacement).unwrap();
        std::fs::rename(&staged, o.inbox("notice.pdf")).unwrap();
    }) else {
        return;
    };
    let before = user_files(&o);

    let month = o.archive_month();
    wait_until(LONG, "archived", || {
        month.join("notice.receipt.yaml").exists()
    });
    let posts = o.bot.posts();
    for p in &posts {
        assert_eq!(
            p.file("document").map(|u| u.sha256.clone()),
            Some(sha256(&replacement)),
            "the post carries other bytes than the file in the inbox"
        );
    }
    assert_eq!(
        std::fs::read(month.join("notice.pdf")).unwrap(),
        replacement
    );
    assert_receipts_tell_the_truth(&o);
    assert_nothing_lost(&o, &before);
    assert_running(&mut d);
}

/// The names on the `Files:` line of an error report.
fn report_files(report: &str) -> Vec<String> {
    report
        .lines()
        .find_map(|l| l.strip_prefix("Files:"))
        .map(|l| l.split(',').map(|n| n.trim().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn a_file_deleted_between_settling_and_the_move_fails_the_bundle_as_a_whole() {
    // The clerk dropped a PDF with its caption, then deleted the PDF just as dropcast took the
    // bundle. Nothing was posted yet, so nothing is posted: not the PDF, and not its caption
    // alone as a text post. The sidecar goes to failed/ next to the report, which names the file
    // that vanished; a report never lists files that are somewhere else.
    let o = Office::with("watch: {settle: 300ms, rescan_interval: 5m}\n");
    let Some(mut d) = between_settle_and_move(&o, || {
        std::fs::remove_file(o.inbox("notice.pdf")).unwrap();
    }) else {
        return;
    };
    let before = user_files(&o);
    wait_until(LONG, "the bundle finished", || {
        o.path("failed/notice.error.txt").exists()
            && !o.inbox("notice.yaml").exists()
            && in_work_folder(&o).is_empty()
    });
    let log = d.log();
    assert!(
        log.contains("notice.pdf")
            && (log.contains("No such file") || log.contains("removed from the inbox")),
        "the log does not say that notice.pdf vanished:\n{log}"
    );
    let posts: Vec<(String, Option<String>)> = o
        .bot
        .posts()
        .iter()
        .map(|p| {
            (
                p.method.clone(),
                p.field("text").or(p.field("caption")).map(String::from),
            )
        })
        .collect();
    assert!(
        posts.is_empty(),
        "a bundle whose PDF was deleted before posting was posted anyway: {posts:?}; archive: \
         {:?}",
        o.files("archive")
    );
    let report = std::fs::read_to_string(o.path("failed/notice.error.txt")).unwrap();
    for name in report_files(&report) {
        assert!(
            name == "notice.pdf" || o.path("failed").join(&name).exists(),
            "the report lists {name}, which is not in failed/ (failed: {:?}, archive: {:?}):\n\
             {report}",
            o.files("failed"),
            o.files("archive")
        );
    }
    assert_nothing_lost(&o, &before);
    assert_running(&mut d);
}
