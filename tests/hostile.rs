//! Bad and hostile input, corpus-driven: broken and malicious sidecars, hostile file names and
//! file types, fake content, and a daemon that must keep running through all of it.
//!
//! Every case ends one of two ways: its bundle is in `failed/` with a `NAME.error.txt` a clerk
//! can read, or (junk, links, FIFOs) it is left untouched. Throughout, dropcast never reads
//! outside the inbox, never stops, and never deletes or alters a file: every file that went in
//! is, byte for byte, somewhere in `inbox/`, `failed/`, `archive/` or `scheduled/` afterwards.
//!
//! Assertions are collected per test ([`Findings`]) so that one run lists every broken case.

mod common;

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::fake_bot::{Fault, Recorded};
use common::*;

const LONG: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Helpers

/// Failed expectations, collected so that a test reports all of them at once.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn finish(self, context: &str) {
        assert!(
            self.0.is_empty(),
            "{} problem(s):\n- {}\n\n{context}",
            self.0.len(),
            self.0.join("\n- ")
        );
    }
}

/// What a snapshot records of one directory entry: a regular file by content, a symlink by its
/// target, a FIFO as such.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    File(String),
    Link(PathBuf),
    Fifo,
}

/// The multiset of everything under the office's four folders, with where each item was.
type Snapshot = BTreeMap<Item, Vec<PathBuf>>;

fn snapshot(o: &Office) -> Snapshot {
    let mut out = Snapshot::new();
    for dir in ["inbox", "failed", "archive", "scheduled"] {
        snapshot_dir(&o.path(dir), &mut out);
    }
    out
}

/// Walks `dir` without following symlinks.
fn snapshot_dir(dir: &Path, out: &mut Snapshot) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let ft = meta.file_type();
        let item = if ft.is_dir() {
            snapshot_dir(&p, out);
            continue;
        } else if ft.is_symlink() {
            Item::Link(std::fs::read_link(&p).unwrap_or_default())
        } else if ft.is_file() {
            Item::File(sha256(&std::fs::read(&p).unwrap_or_default()))
        } else {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_fifo() {
                Item::Fifo
            } else {
                continue;
            }
        };
        out.entry(item).or_default().push(p);
    }
}

/// Every item of `before` is still there afterwards, as many times (dropcast's receipts and
/// reports come on top).
fn check_nothing_lost(f: &mut Findings, before: &Snapshot, o: &Office) {
    let after = snapshot(o);
    for (item, places) in before {
        let now = after.get(item).map_or(0, Vec::len);
        f.check(now >= places.len(), || {
            format!(
                "LOST: {item:?} was at {places:?}; now {now} cop(ies) in inbox/failed/archive/scheduled"
            )
        });
    }
}

/// `dropcast once` with its output in a file of the office. (The harness's `Office::once` pipes
/// the output and reads the pipes only after exit: past 64 KB of log, dropcast blocks writing
/// and never exits.) A run past the deadline is killed and reported, not a panic.
fn once(o: &Office) -> Output {
    let mut n = 0;
    let log = loop {
        let p = o.path(&format!("hostile-once-{n}.log"));
        if !p.exists() {
            break p;
        }
        n += 1;
    };
    let file = std::fs::File::create(&log).unwrap();
    let mut child = std::process::Command::new(BIN)
        .arg("once")
        .arg("--config")
        .arg(&o.config)
        .current_dir(o.dir.path())
        .env("RUST_LOG", "debug")
        .env_remove("DROPCAST_CONFIG")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        // The poll interval of a wait with a deadline, not a pause to let things happen.
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&log).unwrap_or_default(),
        stderr: Vec::new(),
    }
}

/// Polls `cond` until it holds or `limit` passes; no panic.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        // The poll interval of a wait with a deadline, not a pause to let things happen.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

/// Removes the FIFOs this test made (wherever dropcast left them), so that the harness's
/// token scan, which reads every file, does not block on one.
fn remove_fifos(dir: &Path) {
    use std::os::unix::fs::FileTypeExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            remove_fifos(&e.path());
        } else if ft.is_fifo() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// Writes a file under the inbox by raw name bytes (names that are not UTF-8).
fn drop_raw(o: &Office, name: &[u8], bytes: &[u8]) -> PathBuf {
    let p = o.path("inbox").join(OsStr::from_bytes(name));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A report a clerk can read: plain words, not a programmer's debug output, not a dump.
fn check_clerk_readable(f: &mut Findings, case: &str, report: &str) {
    const JARGON: &[&str] = &[
        "panicked",
        "RUST_BACKTRACE",
        "Os {",
        "Error {",
        "kind: ",
        "Some(",
        "None,",
        "\\u{",
        "serde",
        "libyaml",
        "invalid type:",
        "unwrap",
        "src/",
        "errno",
    ];
    f.check(!report.trim().is_empty(), || {
        format!("{case}: the error report is empty")
    });
    for j in JARGON {
        f.check(!report.contains(j), || {
            format!("{case}: the error report contains programmer jargon {j:?}:\n{report}")
        });
    }
    f.check(report.len() < 16 * 1024, || {
        format!(
            "{case}: the error report is {} bytes: it dumps the input",
            report.len()
        )
    });
}

/// The process ended by itself, without a panic, with 0 or 1.
fn check_exit(f: &mut Findings, out: &Output) {
    let all = text(out);
    f.check(matches!(out.status.code(), Some(0 | 1)), || {
        format!(
            "once exited with {:?} (killed: did not finish within 60 s?):\n{}",
            out.status,
            tail(&all)
        )
    });
    f.check(!all.contains("panicked"), || {
        format!("dropcast panicked:\n{}", tail(&all))
    });
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn uploaded(posts: &[Recorded], sha: &str) -> bool {
    posts
        .iter()
        .any(|p| p.files.iter().any(|u| u.sha256 == sha))
}

fn read_lossy(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

/// Files in the archive month whose text contains `needle` (a file's SHA-256 in hex: only its
/// receipt has it), whatever their names.
fn receipts_with(o: &Office, needle: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(o.archive_month()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| read_lossy(p).contains(needle))
        .collect()
}

/// A receipt is there for the file with this hash, and is named `….receipt.yaml`.
fn check_receipt(f: &mut Findings, o: &Office, label: &str, sha: &str) {
    let found = receipts_with(o, sha);
    f.check(!found.is_empty(), || {
        format!(
            "[{label}]: posted, but no receipt in the archive; {}",
            listing(o)
        )
    });
    for r in found {
        let name = r
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        f.check(name.ends_with(".receipt.yaml"), || {
            format!("[{label}]: the receipt is named {name:?}, not NAME.receipt.yaml")
        });
    }
}

/// Error reports in `failed/` whose text contains `needle`.
fn reports_with(o: &Office, needle: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(o.path("failed")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.as_os_str().as_bytes().ends_with(b".txt"))
        .filter(|p| read_lossy(p).contains(needle))
        .collect()
}

fn listing(o: &Office) -> String {
    let short = |dir: &str| -> Vec<String> {
        o.files(dir)
            .into_iter()
            .map(|n| {
                if n.chars().count() > 60 {
                    format!("{}…", n.chars().take(60).collect::<String>())
                } else {
                    n
                }
            })
            .collect()
    };
    format!(
        "inbox: {:?}\nfailed: {:?}\narchive: {:?}",
        short("inbox"),
        short("failed"),
        short("archive")
    )
}

// ---------------------------------------------------------------------------------------------
// The corpus

#[derive(Debug, Clone)]
enum Expect {
    /// In `failed/` with a report containing these words (case-insensitive), never posted.
    Fail(&'static [&'static str]),
    /// Posted and archived with a receipt; with `Some`, the media post's caption is exactly it.
    Post(Option<&'static str>),
    /// Posted, or refused with a report: a judgement call, but never stuck, lost or silent.
    Either,
}

/// One bundle: an optional media file and an optional sidecar, named `STEM.ext`.
struct Case {
    stem: String,
    what: &'static str,
    sidecar: Option<Vec<u8>>,
    media: Option<(String, Vec<u8>)>,
    expect: Expect,
}

impl Case {
    /// A sidecar paired with a small valid PDF, distinct per case.
    fn with_pdf(stem: &str, what: &'static str, sidecar: impl Into<Vec<u8>>, e: Expect) -> Case {
        Case {
            stem: stem.into(),
            what,
            sidecar: Some(sidecar.into()),
            media: Some((format!("{stem}.pdf"), pdf(stem))),
            expect: e,
        }
    }

    /// A sidecar alone.
    fn lone(stem: &str, what: &'static str, sidecar: impl Into<Vec<u8>>, e: Expect) -> Case {
        Case {
            stem: stem.into(),
            what,
            sidecar: Some(sidecar.into()),
            media: None,
            expect: e,
        }
    }

    /// A media file (any name, any bytes) with an optional sidecar `STEM.yaml`.
    fn media(
        stem: &str,
        ext: &str,
        what: &'static str,
        bytes: Vec<u8>,
        sidecar: Option<&[u8]>,
        e: Expect,
    ) -> Case {
        Case {
            stem: stem.into(),
            what,
            sidecar: sidecar.map(<[u8]>::to_vec),
            media: Some((format!("{stem}.{ext}"), bytes)),
            expect: e,
        }
    }

    fn label(&self) -> String {
        format!("[{}] {}", self.stem, self.what)
    }

    fn drop_into(&self, o: &Office) {
        if let Some((name, bytes)) = &self.media {
            o.drop_file(name, bytes);
        }
        if let Some(s) = &self.sidecar {
            o.drop_file(&format!("{}.yaml", self.stem), s);
        }
    }

    /// The files of the bundle: (name, bytes).
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut v = Vec::new();
        if let Some(m) = &self.media {
            v.push(m.clone());
        }
        if let Some(s) = &self.sidecar {
            v.push((format!("{}.yaml", self.stem), s.clone()));
        }
        v
    }
}

fn check_case(f: &mut Findings, o: &Office, c: &Case, posts: &[Recorded]) {
    let label = c.label();
    let month = o.archive_month();
    let report_path = o.path(&format!("failed/{}.error.txt", c.stem));
    let receipt_path = month.join(format!("{}.receipt.yaml", c.stem));
    let failed = report_path.exists();
    let posted = receipt_path.exists();
    let media_sha = c.media.as_ref().map(|(_, b)| sha256(b));
    let media_uploaded = media_sha.as_deref().is_some_and(|s| uploaded(posts, s));
    let where_now = || {
        let mut places = Vec::new();
        for (name, _) in c.files() {
            for dir in ["inbox", "failed"] {
                if o.path(dir).join(&name).exists() {
                    places.push(format!("{dir}/{name}"));
                }
            }
            if month.join(&name).exists() {
                places.push(format!("archive/{name}"));
            }
        }
        places.join(", ")
    };
    let report = read_lossy(&report_path);
    let in_folder = |dir: &Path| {
        c.files()
            .iter()
            .all(|(name, bytes)| std::fs::read(dir.join(name)).is_ok_and(|now| &now == bytes))
    };

    match &c.expect {
        Expect::Fail(words) => {
            f.check(failed && !posted && !media_uploaded, || {
                format!(
                    "{label}: expected failed/ with a report; got failed={failed} posted={posted} \
                     uploaded={media_uploaded}; files now at: {}",
                    where_now()
                )
            });
            if failed {
                f.check(in_folder(&o.path("failed")), || {
                    format!(
                        "{label}: the bundle's files are not in failed/ byte for byte: {}",
                        where_now()
                    )
                });
                f.check(report.contains(&c.stem), || {
                    format!("{label}: the report does not name the file:\n{report}")
                });
                let lower = report.to_lowercase();
                for w in *words {
                    f.check(lower.contains(&w.to_lowercase()), || {
                        format!("{label}: the report does not say {w:?}:\n{report}")
                    });
                }
                check_clerk_readable(f, &label, &report);
            }
        }
        Expect::Post(caption) => {
            f.check(posted && !failed, || {
                let why = if failed {
                    format!("\nits report:\n{report}")
                } else {
                    String::new()
                };
                format!(
                    "{label}: expected posted and archived; got failed={failed} posted={posted} \
                     uploaded={media_uploaded}; files now at: {}{why}",
                    where_now()
                )
            });
            if let Some(sha) = &media_sha {
                f.check(media_uploaded, || {
                    format!("{label}: the media file was never uploaded")
                });
                if let Some(want) = caption {
                    let got = posts
                        .iter()
                        .find(|p| p.files.iter().any(|u| &u.sha256 == sha))
                        .and_then(|p| p.field("caption"));
                    f.check(got == Some(*want), || {
                        format!("{label}: caption {got:?}, expected {want:?}")
                    });
                }
            }
            if posted {
                f.check(in_folder(&month), || {
                    format!(
                        "{label}: the archive does not hold the files byte for byte: {}",
                        where_now()
                    )
                });
            }
        }
        Expect::Either => {
            f.check(posted != failed, || {
                format!(
                    "{label}: expected posted, or refused with a report; got failed={failed} \
                     posted={posted}; files now at: {}",
                    where_now()
                )
            });
            if failed {
                check_clerk_readable(f, &label, &report);
            }
            // What dropcast chose, for whoever reads the test output.
            let why = report.lines().find(|l| l.starts_with("Why:")).unwrap_or("");
            eprintln!("{label}: posted={posted} refused={failed} {why}");
        }
    }
}

/// `caption: |` with `text` indented below.
fn block_caption(text: &str) -> Vec<u8> {
    format!("caption: |\n  {}\n", text.replace('\n', "\n  ")).into_bytes()
}

/// Paragraphs of plain prose, about `chars` characters in all.
fn prose(chars: usize) -> String {
    let sentence = "The council meets on Monday about the road works near the school. ";
    let para = sentence.repeat(8);
    let mut out = String::new();
    let mut i = 0;
    while out.len() < chars {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&format!("{i}. {para}"));
        i += 1;
    }
    out
}

fn billion_laughs() -> Vec<u8> {
    let mut s = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let (prev, name) = (w[0], w[1]);
        let refs = vec![format!("*{prev}"); 9].join(",");
        s.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    s.push_str("caption: *i\n");
    s.into_bytes()
}

fn utf16le(s: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xFE];
    for u in s.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

fn jpeg_bytes() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    v.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    // SOF0: 8 bits, 600 x 800, 3 components.
    v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x02, 0x58, 0x03, 0x20, 0x03]);
    v.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    v.extend_from_slice(&[0u8; 64]);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

fn sidecar_corpus() -> Vec<Case> {
    use Expect::*;
    macro_rules! p {
        ($($a:expr),* $(,)?) => { Case::with_pdf($($a),*) };
    }
    macro_rules! l {
        ($($a:expr),* $(,)?) => { Case::lone($($a),*) };
    }
    let line: &[&str] = &["line "];
    vec![
        // Invalid YAML.
        p!(
            "yaml-open-quote",
            "an unclosed quote",
            "caption: \"hello\nsilent: true\n",
            Fail(line),
        ),
        p!(
            "yaml-indent",
            "bad indentation",
            "caption: a\n  silent: true\n b: c\n",
            Fail(line),
        ),
        p!(
            "yaml-open-flow",
            "an unclosed `[`",
            "buttons: [{text: a, url: \"https://example.org\"}\n",
            Fail(line),
        ),
        p!(
            "yaml-colon",
            "`: ` inside a plain value",
            "caption: Meeting: 10:00 room: 4\n",
            Fail(line),
        ),
        p!(
            "yaml-markdown-star",
            "a value starting with `**`",
            "caption: **Alert** today\n",
            Fail(&["line ", "quote"]),
        ),
        p!(
            "yaml-backquote",
            "a value starting with a backquote",
            "caption: `code`\n",
            Fail(line),
        ),
        // Wrong types, key by key.
        p!(
            "type-channel-bool",
            "channel: true",
            "channel: true\n",
            Fail(&["line ", "channel"]),
        ),
        p!(
            "type-channel-map",
            "channel: a mapping",
            "channel: {a: b}\n",
            Fail(&["channel"]),
        ),
        p!(
            "type-channel-empty",
            "channel: []",
            "channel: []\n",
            Fail(&["channel"]),
        ),
        p!(
            "type-channel-zero",
            "channel: 0",
            "channel: 0\n",
            Fail(&["channel"]),
        ),
        p!(
            "type-caption-int",
            "caption: 42",
            "caption: 42\n",
            Fail(&["caption"]),
        ),
        p!(
            "type-caption-list",
            "caption: a list",
            "caption: [a, b]\n",
            Fail(&["caption"]),
        ),
        p!(
            "type-caption-map",
            "caption: a mapping",
            "caption: {a: b}\n",
            Fail(&["caption"]),
        ),
        p!(
            "type-caption-null",
            "caption: (empty)",
            "caption:\n",
            Fail(&["caption"]),
        ),
        p!(
            "type-format-int",
            "format: 5",
            "format: 5\n",
            Fail(&["format"]),
        ),
        p!(
            "type-format-word",
            "format: markdownx",
            "format: markdownx\n",
            Fail(&["format"]),
        ),
        p!(
            "type-silent-str",
            "silent: \"yes\"",
            "silent: \"yes\"\n",
            Fail(&["silent"]),
        ),
        p!(
            "type-silent-yes",
            "silent: yes (YAML 1.1 boolean)",
            "silent: yes\n",
            Fail(&["silent"]),
        ),
        p!("type-pin-int", "pin: 1", "pin: 1\n", Fail(&["pin"])),
        p!(
            "type-protect-list",
            "protect: []",
            "protect: []\n",
            Fail(&["protect"]),
        ),
        p!(
            "type-repost-str",
            "repost: \"true\"",
            "repost: \"true\"\n",
            Fail(&["repost"]),
        ),
        p!(
            "type-preview-word",
            "link_preview: maybe",
            "link_preview: maybe\n",
            Fail(&["link_preview"]),
        ),
        p!(
            "type-send-as",
            "send_as: video",
            "send_as: video\n",
            Fail(&["send_as"]),
        ),
        p!(
            "type-buttons-str",
            "buttons: a string",
            "buttons: \"https://example.org\"\n",
            Fail(&["buttons"]),
        ),
        p!(
            "type-buttons-nourl",
            "a button without url",
            "buttons: [[{text: a}]]\n",
            Fail(&["url"]),
        ),
        p!(
            "type-buttons-emptyrow",
            "an empty row of buttons",
            "buttons: [[]]\n",
            Fail(&["row"]),
        ),
        p!(
            "type-attach-int",
            "attachments: 5",
            "attachments: 5\n",
            Fail(&["attachments"]),
        ),
        p!(
            "type-attach-map",
            "attachments: a mapping",
            "attachments: {a: b}\n",
            Fail(&["attachments"]),
        ),
        p!(
            "type-publish-int",
            "publish_at: 12",
            "publish_at: 12\n",
            Fail(&["publish_at"]),
        ),
        // Unknown and repeated keys.
        p!(
            "key-misspelt",
            "captoin",
            "captoin: hi\n",
            Fail(&["captoin", "caption", "line "]),
        ),
        p!(
            "key-capital",
            "Caption",
            "Caption: hi\n",
            Fail(&["Caption"]),
        ),
        p!(
            "key-unknown",
            "foo: bar",
            "caption: hi\nfoo: bar\n",
            Fail(&["foo", "line 2"]),
        ),
        p!("key-number", "1: x", "1: x\n", Fail(&["line "])),
        p!(
            "key-long",
            "an unknown 10 KB key",
            format!("{}: x\n", "k".repeat(10_000)),
            Fail(&["line 1"]),
        ),
        p!(
            "key-duplicate",
            "caption twice",
            "caption: a\ncaption: b\n",
            Fail(&["twice", "line 2"]),
        ),
        p!(
            "key-caption-text",
            "caption and text",
            "caption: a\ntext: b\n",
            Fail(&["text"]),
        ),
        // Documents and shapes.
        p!(
            "doc-multiple",
            "two YAML documents",
            "caption: a\n---\ncaption: b\n",
            Fail(&["document"]),
        ),
        p!(
            "doc-list",
            "a top-level list",
            "- caption: a\n",
            Fail(&["key: value"]),
        ),
        p!(
            "doc-scalar",
            "a top-level scalar",
            "hello world\n",
            Fail(&["key: value"]),
        ),
        p!(
            "doc-markers",
            "--- and ... around one document",
            "---\ncaption: markers\n...\n",
            Post(Some("markers")),
        ),
        p!(
            "doc-comment",
            "a trailing comment",
            "caption: commented # not this\n",
            Post(Some("commented")),
        ),
        // Bombs and sizes.
        p!(
            "bomb-laughs",
            "billion laughs",
            billion_laughs(),
            Fail(&["anchor"]),
        ),
        p!(
            "bomb-alias",
            "one anchor and one alias",
            "caption: &c hi\ntext: *c\n",
            Fail(&["anchor"]),
        ),
        p!(
            "bomb-tag",
            "a YAML tag",
            "caption: !!binary aGVsbG8=\n",
            Either,
        ),
        p!(
            "bomb-custom-tag",
            "a custom YAML tag",
            "caption: !foo bar\n",
            Fail(&["tag"])
        ),
        p!(
            "size-10mb",
            "a 10 MB sidecar",
            [b"caption: ".as_slice(), &vec![b'a'; 10 << 20], b"\n"].concat(),
            Fail(&["KB"]),
        ),
        p!(
            "size-65k",
            "a sidecar just over 64 KB",
            [b"caption: ".as_slice(), &vec![b'a'; 65 * 1024], b"\n"].concat(),
            Fail(&["KB"]),
        ),
        p!(
            "deep-flow-300",
            "300 nested `[`",
            format!("buttons: {}{}\n", "[".repeat(300), "]".repeat(300)),
            Fail(&["["]),
        ),
        p!(
            "deep-flow-20",
            "20 nested `[`",
            format!("buttons: {}{}\n", "[".repeat(20), "]".repeat(20)),
            Fail(&["nested"]),
        ),
        p!(
            "deep-block",
            "50 nested mappings",
            (0..50)
                .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
                .collect::<String>()
                + &" ".repeat(50)
                + "x\n",
            Fail(&["nested"]),
        ),
        // Encodings and characters.
        p!(
            "enc-latin1",
            "invalid UTF-8 (Latin-1)",
            b"caption: caff\xe8 pronto\n".to_vec(),
            Fail(&["UTF-8"]),
        ),
        p!(
            "enc-utf16",
            "UTF-16 with BOM",
            utf16le("caption: hi\n"),
            Fail(&["UTF-16"]),
        ),
        p!(
            "enc-bom",
            "UTF-8 BOM (valid)",
            b"\xEF\xBB\xBFcaption: with BOM\n".to_vec(),
            Post(Some("with BOM")),
        ),
        p!(
            "enc-crlf",
            "CRLF line ends (valid)",
            "caption: windows\r\nsilent: true\r\n",
            Post(Some("windows")),
        ),
        p!(
            "enc-tab-indent",
            "a tab as indentation",
            "buttons:\n\t- {text: a, url: \"https://example.org\"}\n",
            Fail(&["tab"]),
        ),
        p!(
            "enc-tab-inside",
            "a tab inside a quoted caption (valid)",
            "caption: \"a\tb\"\n",
            Post(Some("a\tb")),
        ),
        p!(
            "enc-bell",
            "a control character",
            b"caption: bell\x07here\n".to_vec(),
            Fail(&["control"]),
        ),
        p!(
            "enc-nul-escape",
            "a NUL written as \\0",
            "caption: \"nul\\0here\"\n",
            Either,
        ),
        p!(
            "enc-esc-escape",
            "an ESC written as \\e",
            "caption: \"esc\\e[31mred\"\n",
            Either,
        ),
        // Channels.
        p!(
            "chan-alias",
            "an unknown channel alias",
            "channel: newz\n",
            Fail(&["newz", "news", "line "]),
        ),
        p!(
            "chan-username",
            "a channel the bot is not in",
            "channel: \"@nobody_here_123\"\n",
            Fail(&["does not exist"]),
        ),
        p!(
            "chan-id",
            "an unknown numeric channel",
            "channel: -1005555555555\n",
            Fail(&["does not exist"]),
        ),
        p!(
            "chan-twice",
            "the same channel twice",
            "channel: [news, news]\n",
            Fail(&["twice"]),
        ),
        p!(
            "chan-bad-username",
            "an invalid @username",
            "channel: \"@a\"\n",
            Fail(&["username"]),
        ),
        // Attachments that reach elsewhere.
        p!(
            "att-dotdot",
            "attachments: ../x",
            "attachments: [\"../x.pdf\"]\n",
            Fail(&["attachments"]),
        ),
        p!(
            "att-absolute",
            "attachments: /etc/passwd",
            "attachments: [/etc/passwd]\n",
            Fail(&["attachments"]),
        ),
        p!(
            "att-sub",
            "attachments: sub/x",
            "attachments: [sub/x.pdf]\n",
            Fail(&["attachments"]),
        ),
        p!(
            "att-nul",
            "an attachment name with a NUL",
            "attachments: [\"a\\0b.pdf\"]\n",
            Fail(&["attachments"]),
        ),
        p!(
            "att-backslash",
            "attachments: ..\\x",
            "attachments: ['..\\x.pdf']\n",
            Fail(&["attachments"]),
        ),
        p!(
            "att-drive",
            "attachments: C:x",
            "attachments: [\"C:x.pdf\"]\n",
            Fail(&["attachments"]),
        ),
        p!(
            "att-dot",
            "attachments: ..",
            "attachments: [\"..\"]\n",
            Fail(&["attachments"]),
        ),
        p!(
            "att-twice",
            "the same attachment twice",
            "attachments: [p1.jpg, p1.jpg]\n",
            Fail(&["twice"]),
        ),
        p!(
            "att-not-media",
            "an attachment that is no media",
            "attachments: [notes.txt]\n",
            Fail(&["notes.txt"]),
        ),
        p!(
            "att-own-sidecar",
            "the sidecar attaches itself",
            "attachments: [att-own-sidecar.yaml]\n",
            Fail(&["att-own-sidecar.yaml"]),
        ),
        p!(
            "att-self",
            "the sidecar attaches its own media file",
            "attachments: [att-self.pdf]\n",
            Either,
        ),
        // Formatting.
        p!(
            "html-unclosed",
            "format: html, unclosed tag",
            "format: html\ncaption: \"<b>unclosed\"\n",
            Fail(&["<b>"]),
        ),
        p!(
            "html-script",
            "format: html, <script>",
            "format: html\ncaption: \"<script>alert(1)</script>\"\n",
            Fail(&["script"]),
        ),
        p!(
            "html-js-href",
            "format: html, javascript: link",
            "format: html\ncaption: '<a href=\"javascript:alert(1)\">x</a>'\n",
            Either,
        ),
        p!(
            "html-bare-amp",
            "format: html, bare &",
            "format: html\ncaption: \"fish & chips\"\n",
            Fail(&["&"]),
        ),
        p!(
            "md-js-link",
            "markdown javascript: link",
            "caption: \"[click](javascript:alert(1))\"\n",
            Either,
        ),
        p!(
            "md-html-injection",
            "markdown with raw HTML (escaped)",
            "caption: \"<b>not bold</b> & <i>\"\n",
            Post(Some("&lt;b&gt;not bold&lt;/b&gt; &amp; &lt;i&gt;")),
        ),
        // Buttons.
        p!(
            "btn-javascript",
            "a javascript: button",
            "buttons: [{text: x, url: \"javascript:alert(1)\"}]\n",
            Fail(&["url"]),
        ),
        p!(
            "btn-data",
            "a data: button",
            "buttons: [{text: x, url: \"data:text/html,<script>alert(1)</script>\"}]\n",
            Fail(&["url"]),
        ),
        p!(
            "btn-file",
            "a file: button",
            "buttons: [{text: x, url: \"file:///etc/passwd\"}]\n",
            Fail(&["url"]),
        ),
        p!(
            "btn-nohost",
            "a button to https://",
            "buttons: [{text: x, url: \"https://\"}]\n",
            Fail(&["link"]),
        ),
        p!(
            "btn-space",
            "a button link with a space",
            "buttons: [{text: x, url: \"https://exa mple.org\"}]\n",
            Fail(&["link"]),
        ),
        p!(
            "btn-9-in-row",
            "nine buttons in a row",
            format!(
                "buttons:\n  - [{}]\n",
                ["{text: b, url: \"https://example.org\"}"; 9].join(", ")
            ),
            Fail(&["8"]),
        ),
        p!(
            "btn-long-text",
            "a 100-character button text",
            format!(
                "buttons: [{{text: {}, url: \"https://example.org\"}}]\n",
                "b".repeat(100)
            ),
            Fail(&["64"]),
        ),
        // Dates.
        p!(
            "date-word",
            "publish_at: tomorrow",
            "publish_at: tomorrow\n",
            Fail(&["publish_at"]),
        ),
        p!(
            "date-feb30",
            "publish_at: 30 February",
            "publish_at: 2026-02-30 08:00\n",
            Fail(&["publish_at"]),
        ),
        p!(
            "date-only",
            "publish_at without a time",
            "publish_at: 2026-11-28\n",
            Fail(&["publish_at"]),
        ),
        p!(
            "date-garbage",
            "publish_at: 25:61",
            "publish_at: \"2026-13-01 25:61\"\n",
            Fail(&["publish_at"]),
        ),
        p!(
            "date-past",
            "publish_at in the past (posts now)",
            "caption: late\npublish_at: 2001-01-01 08:00\n",
            Post(Some("late")),
        ),
        // Empty and nothing to post.
        p!(
            "empty-with-pdf",
            "an empty sidecar with a PDF (valid)",
            "",
            Post(None),
        ),
        p!("null-with-pdf", "`~` with a PDF (valid)", "~\n", Post(None)),
        l!(
            "lone-empty",
            "a lone empty sidecar",
            "",
            Fail(&["does not say what to post"]),
        ),
        l!(
            "lone-comment",
            "a lone sidecar of comments",
            "# just a comment\n",
            Fail(&["does not say what to post"]),
        ),
        l!(
            "lone-blank-caption",
            "a lone sidecar with a blank caption",
            "caption: \"   \"\n",
            Fail(&["does not say what to post"]),
        ),
        l!(
            "lone-no-caption",
            "a lone sidecar without caption",
            "silent: true\n",
            Fail(&["does not say what to post"]),
        ),
        // Long captions.
        l!(
            "long-58k",
            "a 58,000-character text post (split)",
            block_caption(&prose(58_000)),
            Post(None),
        ),
        l!(
            "long-100k",
            "a 100,000-character text post (split, or refused for its size)",
            block_caption(&prose(100_000)),
            Either,
        ),
        p!(
            "long-5k-media",
            "a 5,000-character caption on a PDF",
            block_caption(&prose(5_000)),
            Post(None),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// 1. Bad sidecars, through one `once` run

#[test]
fn a_corpus_of_bad_sidecars_each_ends_in_failed_with_a_report_or_is_posted() {
    let o = Office::new();
    let corpus = sidecar_corpus();
    assert!(corpus.len() >= 50, "{} cases", corpus.len());
    for c in &corpus {
        c.drop_into(&o);
    }
    o.drop_file("notes.txt", b"not for dropcast");
    let before = snapshot(&o);

    let start = Instant::now();
    let out = once(&o);
    let took = start.elapsed();

    let mut f = Findings::default();
    check_exit(&mut f, &out);
    f.check(took < Duration::from_secs(20), || {
        format!("once took {took:?} for {} bundles", corpus.len())
    });
    let posts = o.bot.posts();
    for c in &corpus {
        check_case(&mut f, &o, c, &posts);
    }
    // The long text post went out in pieces Telegram accepts.
    let long_receipt = o.archive_month().join("long-58k.receipt.yaml");
    if long_receipt.exists() {
        let links = read_lossy(&long_receipt).matches("t.me/town_news/").count();
        f.check(links >= 15, || {
            format!("[long-58k]: the receipt lists {links} links, expected at least 15 messages")
        });
    }
    let long_report = o.path("failed/long-100k.error.txt");
    if long_report.exists() {
        let report = read_lossy(&long_report);
        f.check(report.contains("KB"), || {
            format!("[long-100k]: refused, but the report does not explain the size:\n{report}")
        });
    }
    // Nothing posted carries a javascript: link.
    for p in &posts {
        for (k, v) in &p.fields {
            f.check(!v.to_lowercase().contains("javascript:"), || {
                format!("a post's {k} carries a javascript: link: {v}")
            });
        }
    }
    f.check(
        std::fs::read(o.inbox("notes.txt")).is_ok_and(|b| b == b"not for dropcast"),
        || "notes.txt (junk) did not stay untouched in the inbox".into(),
    );
    f.check(o.bot.violations().is_empty(), || {
        format!("the fake Bot API saw violations: {:?}", o.bot.violations())
    });
    check_nothing_lost(&mut f, &before, &o);
    o.assert_token_never_written();
    f.finish(&format!("{}\n{}", listing(&o), tail(&text(&out))));
}

// ---------------------------------------------------------------------------------------------
// 2. Hostile names and file types

#[test]
fn hostile_names_and_file_types() {
    let o = Office::new();
    let outside = o.path("outside");
    std::fs::create_dir_all(outside.join("dir")).unwrap();
    // Valid files outside the inbox: if dropcast followed a link, content checks would pass.
    let secret = pdf("SECRET outside the inbox");
    std::fs::write(outside.join("secret.pdf"), &secret).unwrap();
    std::fs::write(outside.join("dir/d.pdf"), pdf("outside dir")).unwrap();
    std::fs::write(outside.join("dir/d.yaml"), b"caption: from outside\n").unwrap();
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();

    // Links and FIFOs.
    symlink(Path::new("/etc/passwd"), &o.inbox("notice.pdf"));
    o.drop_file("notice.yaml", b"caption: a link to /etc/passwd\n");
    symlink(&outside.join("secret.pdf"), &o.inbox("leak.pdf"));
    o.drop_file("leak.yaml", b"caption: a link to a PDF outside\n");
    symlink(&outside.join("dir"), &o.inbox("linked"));
    symlink(Path::new("/etc"), &o.inbox("etc"));
    mkfifo(&o.inbox("x.pdf"));
    o.drop_file("x.yaml", b"caption: a FIFO\n");
    mkfifo(&o.inbox("fifo-alone.pdf"));
    o.drop_file("fifo-side.pdf", &pdf("fifo-side"));
    mkfifo(&o.inbox("fifo-side.yaml"));
    o.drop_file("album.pdf", &pdf("album"));
    o.drop_file(
        "album.yaml",
        b"caption: album\nattachments: [outside.pdf]\n",
    );
    symlink(&outside.join("secret.pdf"), &o.inbox("outside.pdf"));
    std::fs::create_dir_all(o.inbox("folder.pdf")).unwrap();
    o.drop_file("folder.yaml", b"caption: a folder named like a PDF\n");

    // Names.
    let named: &[(&str, &str)] = &[
        ("two\nlines", "newline"),
        ("a..b", "dots"),
        ("-rf", "dash"),
        ("$(touch pwned)", "shell"),
        ("back\\slash", "backslash"),
        ("quote\"d'", "quotes"),
    ];
    for (stem, tag) in named {
        o.drop_file(&format!("{stem}.pdf"), &pdf(tag));
        o.drop_file(
            &format!("{stem}.yaml"),
            format!("caption: name {tag}\n").as_bytes(),
        );
    }
    // Not UTF-8 (Latin-1 "caffè"), as an old Windows share may deliver.
    drop_raw(&o, b"caff\xe8.pdf", &pdf("latin1"));
    drop_raw(&o, b"caff\xe8.yaml", b"caption: latin1 name\n");
    // NAME_MAX: a 254-byte PDF with its 255-byte sidecar; a 255-byte PDF in the scanner folder
    // (no room for a sidecar); and a 254-byte name already in the archive (so ` (2)` would
    // need 258 bytes).
    let long = "n".repeat(250);
    o.drop_file(&format!("{long}.pdf"), &pdf("long"));
    o.drop_file(&format!("{long}.yaml"), b"caption: long name\n");
    let longest = "m".repeat(251);
    o.drop_file(&format!("scanner/{longest}.pdf"), &pdf("longest"));
    // A 250-byte stem whose sidecar is wrong: `STEM.error.txt` would need 260 bytes.
    let refused = "f".repeat(250);
    o.drop_file(&format!("{refused}.pdf"), &pdf("refused long"));
    o.drop_file(&format!("{refused}.yaml"), b"captoin: long and wrong\n");
    let clash = "k".repeat(250);
    let month = o.archive_month();
    std::fs::create_dir_all(&month).unwrap();
    std::fs::write(month.join(format!("{clash}.pdf")), b"last month's file").unwrap();
    o.drop_file(&format!("{clash}.pdf"), &pdf("clash"));
    o.drop_file(&format!("{clash}.yaml"), b"caption: clash\n");
    // An editor's backup next to a text post.
    o.drop_file("memo.yaml", b"caption: memo with an editor backup\n");
    o.drop_file("memo.yaml~", b"caption: old memo\n");

    let before = snapshot(&o);
    let mut outside_before = Snapshot::new();
    snapshot_dir(&outside, &mut outside_before);

    let start = Instant::now();
    let out = once(&o);
    let took = start.elapsed();
    let mut f = Findings::default();
    check_exit(&mut f, &out);
    f.check(took < Duration::from_secs(20), || {
        format!("once took {took:?}: a FIFO or link made it wait")
    });
    let posts = o.bot.posts();

    // Nothing from outside was posted or quoted.
    for (what, sha) in [
        ("/etc/passwd", sha256(&passwd)),
        ("outside/secret.pdf", sha256(&secret)),
        ("outside/dir/d.pdf", sha256(&pdf("outside dir"))),
    ] {
        f.check(!uploaded(&posts, &sha), || {
            format!("SECURITY: {what} was uploaded to Telegram")
        });
    }
    for p in &posts {
        let caption = p.field("caption").or(p.field("text")).unwrap_or_default();
        f.check(caption != "from outside", || {
            "SECURITY: a sidecar from a symlinked folder outside the inbox was posted".into()
        });
    }
    f.check(reports_with(&o, "root:x:0").is_empty(), || {
        "SECURITY: an error report quotes /etc/passwd".into()
    });
    let mut outside_after = Snapshot::new();
    snapshot_dir(&outside, &mut outside_after);
    f.check(outside_after == outside_before, || {
        format!("files outside the inbox changed: {outside_before:?} -> {outside_after:?}")
    });

    // A link, a FIFO or a folder posing as the media file: never posted; the sidecar either
    // waits untouched in the inbox or is refused with a report that names the media file.
    for (stem, media) in [
        ("notice", "notice.pdf"),
        ("leak", "leak.pdf"),
        ("x", "x.pdf"),
        ("folder", "folder.pdf"),
        ("album", "outside.pdf"),
    ] {
        let report = o.path(&format!("failed/{stem}.error.txt"));
        let waiting = o.inbox(&format!("{stem}.yaml")).exists();
        let receipt = month.join(format!("{stem}.receipt.yaml")).exists();
        f.check(!receipt, || {
            format!("[{stem}]: posted although {media} is not a regular file")
        });
        f.check(waiting != report.exists(), || {
            format!(
                "[{stem}]: expected its sidecar waiting in the inbox or refused with a report; \
                 waiting={waiting} report={}",
                report.exists()
            )
        });
        if report.exists() {
            let r = read_lossy(&report);
            f.check(r.contains(media), || {
                format!("[{stem}]: the report does not name {media}:\n{r}")
            });
            check_clerk_readable(&mut f, stem, &r);
        }
    }
    // Junk-like special files are left alone.
    for name in ["fifo-alone.pdf", "fifo-side.yaml", "linked", "etc"] {
        f.check(std::fs::symlink_metadata(o.inbox(name)).is_ok(), || {
            format!("[{name}]: a link or FIFO was moved out of the inbox")
        });
    }
    f.check(o.inbox("fifo-side.pdf").exists(), || {
        "[fifo-side]: a PDF whose sidecar is a FIFO did not wait in the inbox".into()
    });

    // Odd but legitimate names are posted, with a receipt.
    for (stem, tag) in named {
        let sha = sha256(&pdf(tag));
        f.check(uploaded(&posts, &sha), || {
            format!(
                "[{stem:?}]: a legitimate name was not posted; {}",
                listing(&o)
            )
        });
        check_receipt(&mut f, &o, &format!("{stem:?}"), &sha);
    }
    f.check(
        !o.path("pwned").exists() && !o.inbox("pwned").exists(),
        || "SECURITY: a file name was run by a shell".into(),
    );
    // The Latin-1 name: posted, or refused with a report; not silently ignored forever.
    let latin_posted = uploaded(&posts, &sha256(&pdf("latin1")));
    let latin_report = reports_with(&o, "caff");
    f.check(latin_posted || !latin_report.is_empty(), || {
        format!(
            "[caff\\xe8.pdf]: a bundle whose name is not UTF-8 was neither posted nor refused \
             (silently ignored); {}",
            listing(&o)
        )
    });
    // NAME_MAX.
    for (label, tag) in [
        ("254-byte name + 255-byte sidecar", "long"),
        ("255-byte name in the scanner folder", "longest"),
        ("254-byte name already in the archive", "clash"),
    ] {
        let sha = sha256(&pdf(tag));
        f.check(uploaded(&posts, &sha), || format!("[{label}]: not posted"));
        let in_archive = before_in(&o.path("archive"), &sha);
        f.check(in_archive, || {
            format!("[{label}]: the file is not in the archive; {}", listing(&o))
        });
        check_receipt(&mut f, &o, label, &sha);
    }
    f.check(
        std::fs::read(month.join(format!("{clash}.pdf"))).is_ok_and(|b| b == b"last month's file"),
        || "[clash]: last month's file was overwritten".into(),
    );
    let refused_files = [
        (format!("{refused}.pdf"), pdf("refused long")),
        (
            format!("{refused}.yaml"),
            b"captoin: long and wrong\n".to_vec(),
        ),
    ];
    f.check(
        refused_files.iter().all(|(name, bytes)| {
            std::fs::read(o.path("failed").join(name)).is_ok_and(|b| &b == bytes)
        }),
        || {
            format!(
                "[250-byte name, bad sidecar]: the files are not in failed/; {}",
                listing(&o)
            )
        },
    );
    f.check(!reports_with(&o, "captoin").is_empty(), || {
        format!(
            "[250-byte name, bad sidecar]: no error report in failed/ (NAME.error.txt needs 260 \
             bytes); {}",
            listing(&o)
        )
    });
    // The editor backup must not block the text post, and stays as junk.
    f.check(month.join("memo.receipt.yaml").exists(), || {
        format!(
            "[memo]: a text post next to its editor backup memo.yaml~ was not posted; {}",
            listing(&o)
        )
    });
    f.check(o.inbox("memo.yaml~").exists(), || {
        "[memo]: the editor backup memo.yaml~ was moved".into()
    });

    f.check(o.bot.violations().is_empty(), || {
        format!("the fake Bot API saw violations: {:?}", o.bot.violations())
    });
    check_nothing_lost(&mut f, &before, &o);
    remove_fifos(o.dir.path());
    o.assert_token_never_written();
    f.finish(&format!("{}\n{}", listing(&o), tail(&text(&out))));
}

/// Whether a file with this hash is anywhere under `dir`.
fn before_in(dir: &Path, sha: &str) -> bool {
    let mut s = Snapshot::new();
    snapshot_dir(dir, &mut s);
    s.contains_key(&Item::File(sha.to_string()))
}

// ---------------------------------------------------------------------------------------------
// 3. Fake content

#[test]
fn fake_content_is_refused_and_odd_real_content_is_posted() {
    use Expect::*;
    let o = Office::new();
    let y: Option<&[u8]> = Some(b"caption: content\n");
    let mut png_header = b"\x89PNG\r\n\x1a\n".to_vec();
    png_header.extend_from_slice(&[0, 0, 0, 13]);
    let mut late_pdf = vec![b' '; 500];
    late_pdf.extend_from_slice(&pdf("late header"));
    let mut wav = b"RIFF\x24\0\0\0WAVEfmt ".to_vec();
    wav.extend_from_slice(&[0u8; 32]);
    let cases = vec![
        Case::media(
            "html-as-pdf",
            "pdf",
            "a .pdf that is HTML",
            b"<html><body>not a pdf</body></html>".to_vec(),
            y,
            Fail(&["is not really a PDF"]),
        ),
        Case::media(
            "jpeg-as-png",
            "png",
            "a .png that is a JPEG",
            [jpeg_bytes(), vec![0]].concat(),
            y,
            Fail(&["is not really a PNG"]),
        ),
        Case::media(
            "png-as-gif",
            "gif",
            "a .gif that is a PNG",
            png(100, 100),
            y,
            Fail(&["GIF"]),
        ),
        Case::media(
            "wav-as-webp",
            "webp",
            "a .webp that is a WAV",
            wav,
            y,
            Fail(&["WebP"]),
        ),
        Case::media(
            "exe-as-jpg",
            "jpg",
            "a .jpg that is an executable",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec(),
            y,
            Fail(&["JPEG"]),
        ),
        Case::media(
            "zero-pdf",
            "pdf",
            "a zero-byte PDF",
            Vec::new(),
            y,
            Fail(&["empty"]),
        ),
        Case::media(
            "zero-both",
            "pdf",
            "a zero-byte PDF with a zero-byte sidecar",
            Vec::new(),
            Some(b""),
            Fail(&["empty"]),
        ),
        Case::media(
            "zero-png",
            "png",
            "a zero-byte PNG",
            Vec::new(),
            y,
            Fail(&["empty"]),
        ),
        Case::media(
            "trunc-png",
            "png",
            "a truncated PNG (signature and a length only)",
            png_header,
            y,
            Post(None),
        ),
        Case::media(
            "trunc-jpg",
            "jpg",
            "a truncated JPEG (3 bytes)",
            vec![0xFF, 0xD8, 0xFF],
            y,
            Post(None),
        ),
        Case::media(
            "huge-png",
            "png",
            "a PNG header claiming 100000x100000",
            png(100_000, 100_000),
            y,
            Post(None),
        ),
        Case::media(
            "real-jpeg",
            "jpg",
            "a real JPEG header",
            jpeg_bytes(),
            y,
            Post(None),
        ),
        Case::media(
            "late-pdf",
            "pdf",
            "%PDF- after 500 bytes of junk (readers accept)",
            late_pdf,
            y,
            Post(None),
        ),
        Case::media(
            "upper",
            "PDF",
            "a .PDF in capitals",
            pdf("upper"),
            y,
            Post(None),
        ),
    ];
    for c in &cases {
        c.drop_into(&o);
    }
    let before = snapshot(&o);
    let out = once(&o);
    let mut f = Findings::default();
    check_exit(&mut f, &out);
    let posts = o.bot.posts();
    for c in &cases {
        check_case(&mut f, &o, c, &posts);
    }
    f.check(o.bot.violations().is_empty(), || {
        format!("the fake Bot API saw violations: {:?}", o.bot.violations())
    });
    check_nothing_lost(&mut f, &before, &o);
    o.assert_token_never_written();
    f.finish(&format!("{}\n{}", listing(&o), tail(&text(&out))));
}

// ---------------------------------------------------------------------------------------------
// 4. The daemon keeps running

#[test]
fn the_daemon_survives_hostile_bundles_and_still_posts_a_good_one() {
    let o = Office::new();
    o.edit_config(
        "channels: {meteo: alerts}\n",
        "channels: {meteo: alerts}\n    sidecar_timeout: 2s\n",
    );
    let outside = o.path("outside");
    std::fs::create_dir_all(outside.join("dir")).unwrap();
    let secret = pdf("SECRET for the daemon");
    std::fs::write(outside.join("secret.pdf"), &secret).unwrap();
    // A link to a folder outside the inbox, there when dropcast starts watching.
    symlink(&outside.join("dir"), &o.inbox("linked"));

    let mut d = o.run();
    d.wait_log("watching", LONG);

    o.drop_file("bomb.pdf", &pdf("bomb"));
    o.drop_file("bomb.yaml", &billion_laughs());
    o.drop_file("big.pdf", &pdf("big"));
    o.drop_file(
        "big.yaml",
        &[b"caption: ".as_slice(), &vec![b'a'; 10 << 20], b"\n"].concat(),
    );
    o.drop_file("latin.yaml", b"caption: caff\xe8\n");
    o.drop_file(
        "deep.yaml",
        format!("buttons: {}\n", "[".repeat(5000)).as_bytes(),
    );
    mkfifo(&o.inbox("ff.pdf"));
    o.drop_file("ff.yaml", b"caption: a FIFO\n");
    symlink(&outside.join("secret.pdf"), &o.inbox("sl.pdf"));
    o.drop_file("sl.yaml", b"caption: a link\n");
    std::fs::create_dir_all(o.inbox("dd.pdf")).unwrap();
    o.drop_file("dd.yaml", b"caption: a folder\n");
    o.drop_file("self.pdf", &pdf("self"));
    o.drop_file("self.yaml", b"caption: self\nattachments: [self.pdf]\n");
    o.drop_file("memo.yaml", b"caption: memo\n");
    o.drop_file("memo.yaml~", b"caption: old memo\n");
    // Written through the link: the kernel reports it under inbox/linked/.
    let leak = pdf("SECRET in a linked folder");
    std::fs::write(outside.join("dir/leak.pdf"), &leak).unwrap();
    std::fs::write(
        outside.join("dir/leak.yaml"),
        b"caption: leaked through a link\n",
    )
    .unwrap();
    // Last, a good bundle.
    let good = pdf("good");
    o.drop_file("good.pdf", &good);
    o.drop_file("good.yaml", b"caption: the good one\n");

    let mut f = Findings::default();
    let posted_good = eventually(LONG, || uploaded(&o.bot.posts(), &sha256(&good)));
    f.check(posted_good, || "the good bundle was not posted".into());
    f.check(
        eventually(LONG, || {
            o.archive_month().join("good.receipt.yaml").exists()
        }),
        || "the good bundle was not archived".into(),
    );

    let failed = |stem: &str| o.path(&format!("failed/{stem}.error.txt")).exists();
    let refused_now = ["bomb", "big", "latin", "deep"];
    let refused_after_timeout = ["ff", "sl", "dd"];
    // One deadline for all: the sidecar timeout (2 s) plus a generous margin.
    eventually(Duration::from_secs(8), || {
        refused_now
            .iter()
            .chain(&refused_after_timeout)
            .all(|s| failed(s))
            && o.archive_month().join("memo.receipt.yaml").exists()
            && (failed("self") || o.archive_month().join("self.receipt.yaml").exists())
    });
    for s in refused_now {
        f.check(failed(s), || format!("[{s}]: not in failed/ with a report"));
    }
    for s in refused_after_timeout {
        f.check(failed(s), || {
            format!(
                "[{s}]: its media file is not a regular file; after sidecar_timeout (2 s) the \
                 bundle should be in failed/ with a report, but it still waits; {}",
                listing(&o)
            )
        });
    }
    f.check(
        failed("self") || o.archive_month().join("self.receipt.yaml").exists(),
        || "[self]: a sidecar attaching its own media file is stuck forever (neither posted nor refused)".into(),
    );
    f.check(o.archive_month().join("memo.receipt.yaml").exists(), || {
        "[memo]: a text post next to its editor backup memo.yaml~ is stuck forever".into()
    });
    let posts = o.bot.posts();
    f.check(!uploaded(&posts, &sha256(&secret)), || {
        "SECURITY: a file outside the inbox (through sl.pdf, a link to it) was uploaded".into()
    });
    f.check(!uploaded(&posts, &sha256(&leak)), || {
        "SECURITY: a file outside the inbox (in a folder that inbox/linked links to) was uploaded"
            .into()
    });
    f.check(
        !posts
            .iter()
            .any(|p| p.field("caption") == Some("leaked through a link")),
        || "SECURITY: a sidecar outside the inbox (in a linked folder) was posted".into(),
    );
    f.check(
        outside.join("dir/leak.pdf").exists() && outside.join("dir/leak.yaml").exists(),
        || "SECURITY: files outside the inbox were moved".into(),
    );
    f.check(d.child.try_wait().unwrap().is_none(), || {
        format!("dropcast stopped:\n{}", tail(&d.log()))
    });
    d.signal(libc::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(5));
    f.check(status.success(), || {
        format!("exit after SIGTERM: {status:?}")
    });
    f.check(!d.log().contains("panicked"), || {
        format!("dropcast panicked:\n{}", tail(&d.log()))
    });
    remove_fifos(o.dir.path());
    o.assert_token_never_written();
    f.finish(&format!("{}\n{}", listing(&o), tail(&d.log())));
}

// ---------------------------------------------------------------------------------------------
// 5. The work folder is in the clerks' share too

/// Makes the first upload fail transiently; during the backoff, replaces the file in the work
/// folder (inbox/.dropcast/…) with `swap`, then returns the daemon and the moved-away original.
fn swap_during_retry(o: &Office, swap: impl FnOnce(&Path)) -> (Daemon, Vec<u8>) {
    o.bot.fail_next(
        "sendDocument",
        Fault::Status(500, "Internal Server Error".into()),
    );
    let original = pdf("original");
    o.drop_file("notice.pdf", &original);
    o.drop_file("notice.yaml", b"caption: notice\n");
    let d = o.run();
    o.bot.wait_until(LONG, "a failed upload", |r| {
        r.iter()
            .any(|r| r.method == "sendDocument" && r.status == 500)
    });
    let work = std::fs::read_dir(o.inbox(".dropcast"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("notice.pdf"))
        .find(|p| p.exists())
        .expect("the PDF in the work folder");
    std::fs::rename(&work, o.path("kept.pdf")).unwrap();
    swap(&work);
    (d, original)
}

#[test]
fn a_link_swapped_into_the_work_folder_is_never_followed() {
    let o = Office::new();
    let secret = pdf("SECRET swapped in");
    std::fs::write(o.path("secret.pdf"), &secret).unwrap();
    let secret_path = o.path("secret.pdf");
    let (d, original) = swap_during_retry(&o, |work| symlink(&secret_path, work));
    let mut f = Findings::default();
    // The retry comes after about 1 s; give it a few.
    eventually(Duration::from_secs(6), || {
        o.bot
            .requests()
            .iter()
            .filter(|r| r.method == "sendDocument")
            .count()
            >= 2
            || o.path("failed/notice.error.txt").exists()
    });
    let posts = o.bot.posts();
    f.check(!uploaded(&posts, &sha256(&secret)), || {
        "SECURITY: the retry followed a symlink placed in inbox/.dropcast/ and uploaded a file \
         outside the inbox"
            .into()
    });
    f.check(
        posts
            .iter()
            .all(|p| p.files.iter().all(|u| u.sha256 == sha256(&original))),
        || "a file other than the one hashed at preparation was uploaded".into(),
    );
    f.check(
        std::fs::read(&secret_path).is_ok_and(|b| b == secret),
        || "the outside file changed".into(),
    );
    drop(d);
    o.assert_token_never_written();
    f.finish(&listing(&o));
}

#[test]
fn a_fifo_swapped_into_the_work_folder_does_not_stall_the_channel() {
    let o = Office::new();
    let (d, _) = swap_during_retry(&o, mkfifo);
    // The retry opens the FIFO; then a good bundle for the same channel.
    eventually(Duration::from_secs(3), || {
        o.bot
            .requests()
            .iter()
            .filter(|r| r.method == "sendDocument")
            .count()
            >= 2
    });
    let good = pdf("after the fifo");
    o.drop_file("good.pdf", &good);
    o.drop_file("good.yaml", b"caption: after the fifo\n");
    let mut f = Findings::default();
    f.check(
        eventually(Duration::from_secs(10), || {
            uploaded(&o.bot.posts(), &sha256(&good))
        }),
        || {
            format!(
                "a FIFO in the work folder stalled the channel: the next good bundle was not \
                 posted within 10 s\n{}",
                tail(&d.log())
            )
        },
    );
    drop(d);
    remove_fifos(o.dir.path());
    o.assert_token_never_written();
    f.finish(&listing(&o));
}
