//! The sent log: what a sender tells the share about each request, next to the files it sends.
//!
//! The journal is local to one server; a dropcast that adopts another's work folder (a standby
//! after a takeover, a new server with an empty journal) sees only the share. So before each
//! request a sender writes a `begin` line into the work folder, and after Telegram's answer a
//! `sent` line with the messages it created. The adopter then knows, for each bundle
//! and channel, what went out (never posted again), what was in flight (`uncertain`), and what
//! was never begun (posted without doubt). The log is made with the work folder, so an empty log
//! means that nothing in that folder was begun.
//!
//! Each line is a small file of its own, `.sent.SEQUENCE.json`, made new and never written
//! again; the empty `.sent` made with the folder says that the log is kept there. Not one file
//! appended to: over SMB (smbnetfs) appending to a file that was written before stalls for
//! seconds and then fails with EIO, and the stall holds up the lease's renewal with it, while
//! making a new file is what every receipt already does. A kill -9 right after a line is written
//! loses nothing (the kernel or the share's server holds it); a power cut may lose the last
//! lines, which leaves a request looking in flight or never begun, the same as the travelling
//! receipt's window before this log existed. Never flushed to disk: it narrows a window, and the
//! journal stays the record.
//!
//! A bundle waiting in `scheduled/` has no work folder: a hidden record folder
//! `scheduled/.dropcast/FIRST_FILE/` holds what it is ([`ScheduledRecord`]) and its log.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::journal::SentMessage;

/// The mark that a folder keeps a log: hidden, like everything dropcast keeps there. Each line
/// is a file next to it, `.sent.SEQUENCE.json`.
pub const MARK: &str = ".sent";

/// Whether a file in a work folder or record folder is one of dropcast's records there: the
/// sent log, or where files came from ([`record_origins`]).
pub fn is_log_file(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".json"))
            .is_some_and(|seq| !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()))
    };
    name == MARK || numbered(".sent.") || numbered(".from.")
}

/// Records, before they move into `work_dir` (`INBOX/.dropcast/BATCH/`), which of a bundle's
/// files were dropped in a subfolder of the inbox: a dropcast adopting the folder puts them back
/// there, so that they keep their channel (`channels: {meteo: alerts}`). Nothing is written for
/// files dropped in the inbox itself, the usual case. `files`: (name in the work folder, where
/// it was dropped).
pub fn record_origins(work_dir: &Path, files: &[(&OsStr, &Path)]) -> std::io::Result<()> {
    let Some(inbox) = work_dir.parent().and_then(Path::parent) else {
        return Ok(());
    };
    let from: HashMap<String, String> = files
        .iter()
        .filter_map(|(name, original)| {
            let dir = original.parent()?.strip_prefix(inbox).ok()?;
            (!dir.as_os_str().is_empty()).then(|| {
                (
                    name.to_string_lossy().into_owned(),
                    dir.to_string_lossy().into_owned(),
                )
            })
        })
        .collect();
    if from.is_empty() {
        return Ok(());
    }
    let text = serde_json::to_vec(&from).map_err(std::io::Error::other)?;
    let name = format!(".from.{:020}.json", next_sequence());
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(work_dir.join(name))?
        .write_all(&text)
}

/// Where the files of `work_dir` were dropped, by name: the subfolder of the inbox, relative to
/// it (files not named were dropped in the inbox itself).
pub fn origins(work_dir: &Path) -> HashMap<String, PathBuf> {
    let mut out = HashMap::new();
    for e in std::fs::read_dir(work_dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        if !(is_log_file(&name) && name.to_string_lossy().starts_with(".from.")) {
            continue;
        }
        let Ok(text) = std::fs::read(e.path()) else {
            continue;
        };
        if let Ok(from) = serde_json::from_slice::<HashMap<String, String>>(&text) {
            out.extend(from.into_iter().map(|(n, d)| (n, PathBuf::from(d))));
        }
    }
    out
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Line {
    /// The bundle's files as named in the work folder.
    pub files: Vec<String>,
    /// Identifies the bundle by content: [`key`] of its files' SHA-256.
    pub key: String,
    /// The channel as the config or the sidecar names it.
    pub chat: String,
    /// Which request of the bundle's plan.
    pub index: usize,
    pub event: Event,
    /// The lease's fencing token the sender acted under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The request is about to go out.
    Begin,
    /// Telegram accepted it and created these messages.
    Sent { messages: Vec<SentMessage> },
}

/// A bundle's identity across servers: its files' SHA-256, sorted (the same files make the same
/// bundle whatever their names became on the way back into the inbox).
pub fn key<'a>(sha256: impl Iterator<Item = &'a str>) -> String {
    let mut all: Vec<&str> = sha256.collect();
    all.sort_unstable();
    all.join(",")
}

/// The work folder a bundle's files wait in, when they wait in one (not `scheduled/`).
pub fn work_folder(first_file: &Path) -> Option<&Path> {
    let dir = first_file.parent()?;
    (dir.parent().and_then(Path::file_name) == Some(OsStr::new(".dropcast"))).then_some(dir)
}

/// Where the sender of a bundle logs: its work folder, or for a bundle in `scheduled/` the
/// folder of its [`ScheduledRecord`] when it has one.
pub fn log_dir(first_file: &Path) -> Option<PathBuf> {
    if let Some(dir) = work_folder(first_file) {
        return Some(dir.to_path_buf());
    }
    let record = record_dir(first_file)?;
    record.is_dir().then_some(record)
}

/// The folder of the record of a bundle waiting in `scheduled/`, named after its first file
/// there (names in `scheduled/` are unique while bundles wait).
pub fn record_dir(first_file: &Path) -> Option<PathBuf> {
    Some(
        first_file
            .parent()?
            .join(".dropcast")
            .join(first_file.file_name()?),
    )
}

/// What a bundle waiting in `scheduled/` is, for a dropcast that does not know it (a standby
/// after a takeover, a new server): which of its files are there, where each came from, and
/// their content. The publish time is the sidecar's: the bundle goes back where it came from
/// and is scheduled again from it, keeping its time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScheduledRecord {
    pub bundle: String,
    pub files: Vec<RecordedFile>,
    pub publish_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordedFile {
    /// Its path in `scheduled/`.
    pub scheduled: PathBuf,
    /// Where the clerk dropped it.
    pub original: PathBuf,
    pub sha256: String,
}

/// The record's file name in its folder.
pub const RECORD: &str = "bundle.json";

/// Reads the record in `dir`.
pub fn read_record(dir: &Path) -> Option<ScheduledRecord> {
    serde_json::from_slice(&std::fs::read(dir.join(RECORD)).ok()?).ok()
}

/// Marks a new work folder as keeping a log (kept if it is there already): from then on the
/// folder says what of it was begun.
pub fn create(work_dir: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(work_dir.join(MARK))
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes one line, as a new file whose name sorts after every line this process wrote before.
/// An error means the line is not there.
pub fn append(work_dir: &Path, line: &Line) -> std::io::Result<()> {
    let text = serde_json::to_vec(line).map_err(std::io::Error::other)?;
    let name = format!(".sent.{:020}.json", next_sequence());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(work_dir.join(name))?;
    // A line cut short by a crash does not parse, and is skipped on reading.
    file.write_all(&text)
}

/// Writes into the log of a bundle's new work folder what the journal carried over for it from
/// an adopted folder's log (see `journal::carry`): what went out, and a request that was in
/// flight. Without this, a dropcast adopting the new folder in turn would not know what went out
/// before, and would post it again.
pub fn carry_over(
    files: &[crate::journal::FileRecord],
    chat: &str,
    sent: &[SentMessage],
    in_flight: Option<usize>,
    fence: Option<u64>,
) -> std::io::Result<()> {
    let Some(dir) = files.first().and_then(|f| log_dir(&f.work)) else {
        return Ok(());
    };
    let line = |index: usize, event: Event| Line {
        files: files
            .iter()
            .map(|f| crate::bundle::file_name_of(&f.work))
            .collect(),
        key: key(files.iter().map(|f| f.sha256.as_str())),
        chat: chat.to_string(),
        index,
        event,
        fence,
    };
    let mut indexes: Vec<usize> = sent.iter().map(|m| m.index).collect();
    indexes.dedup();
    for index in indexes {
        let messages = sent.iter().filter(|m| m.index == index).cloned().collect();
        append(&dir, &line(index, Event::Sent { messages }))?;
    }
    if let Some(index) = in_flight {
        append(&dir, &line(index, Event::Begin))?;
    }
    Ok(())
}

/// Nanoseconds since the epoch, strictly increasing within the process: the lines of one folder
/// are written by one process at a time (the lease holder's), so their names sort in the order
/// they were written.
fn next_sequence() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(0);
    now.max(previous + 1)
}

/// What one channel's delivery of one bundle had done according to the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Carried {
    /// The messages Telegram created, request by request.
    pub sent: Vec<SentMessage>,
    /// A request that began and has no answer: it may or may not have been posted.
    pub in_flight: Option<usize>,
}

/// The log of a work folder, `None` when it has none (made by a dropcast from before the log,
/// or the log could not be made): then nothing is known of what was begun there.
pub fn read(work_dir: &Path) -> Option<Vec<Line>> {
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(work_dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| is_log_file(n) && !n.to_string_lossy().starts_with(".from."))
        .collect();
    if names.is_empty() {
        return None;
    }
    names.sort();
    Some(
        names
            .iter()
            .filter(|n| n.as_os_str() != MARK)
            .filter_map(|n| std::fs::read(work_dir.join(n)).ok())
            .filter_map(|text| serde_json::from_slice(&text).ok())
            .collect(),
    )
}

/// The log's files in a folder, to remove with it.
pub fn files(work_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(work_dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| is_log_file(&e.file_name()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// What the lines say per bundle (by key) and channel. A request counts as in flight only when
/// it began after the last answer.
pub fn carried(lines: &[Line]) -> HashMap<(String, String), Carried> {
    let mut out: HashMap<(String, String), Carried> = HashMap::new();
    for l in lines {
        let c = out.entry((l.key.clone(), l.chat.clone())).or_default();
        match &l.event {
            Event::Begin => c.in_flight = Some(l.index),
            Event::Sent { messages } => {
                c.sent.retain(|m| m.index != l.index);
                c.sent.extend(messages.iter().cloned());
                if c.in_flight == Some(l.index) {
                    c.in_flight = None;
                }
            }
        }
    }
    out
}

/// The bundles (by key) whose files are all among `names`: the lines of bundles that left the
/// folder already (archived with their travelling receipt) are not carried.
pub fn keys_of(lines: &[Line], names: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = lines
        .iter()
        .filter(|l| l.files.iter().all(|f| names.contains(f)))
        .map(|l| l.key.clone())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(index: usize, id: i64) -> SentMessage {
        SentMessage {
            index,
            part: 0,
            message_id: id,
            chat_id: -100,
            link: format!("https://t.me/c/100/{id}"),
        }
    }

    fn line(chat: &str, index: usize, event: Event) -> Line {
        Line {
            files: vec!["a.pdf".into(), "a.yaml".into()],
            key: key(["bb", "aa"].into_iter()),
            chat: chat.into(),
            index,
            event,
            fence: Some(3),
        }
    }

    #[test]
    fn the_log_tells_sent_from_in_flight_from_never_begun() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path()).unwrap();
        assert_eq!(
            read(dir.path()),
            Some(Vec::new()),
            "an empty log: nothing begun"
        );
        let lines = [
            line("@news", 0, Event::Begin),
            line(
                "@news",
                0,
                Event::Sent {
                    messages: vec![msg(0, 7)],
                },
            ),
            line("@news", 1, Event::Begin),
            line("@other", 0, Event::Begin),
            line(
                "@other",
                0,
                Event::Sent {
                    messages: vec![msg(0, 9)],
                },
            ),
        ];
        for l in &lines {
            append(dir.path(), l).unwrap();
        }
        // A line torn by a crash in the middle of a write is skipped.
        std::fs::write(
            dir.path()
                .join(format!(".sent.{:020}.json", next_sequence())),
            b"{\"files\":[\"a.p",
        )
        .unwrap();
        assert!(
            files(dir.path())
                .iter()
                .all(|f| is_log_file(f.file_name().unwrap()))
        );
        assert_eq!(files(dir.path()).len(), lines.len() + 2);
        assert!(!is_log_file(OsStr::new(".sent.x.json")));
        assert!(!is_log_file(OsStr::new("a.sent.1.json")));
        let read = read(dir.path()).unwrap();
        assert_eq!(read, lines);
        let c = carried(&read);
        let news = &c[&("aa,bb".to_string(), "@news".to_string())];
        assert_eq!(news.sent, vec![msg(0, 7)]);
        assert_eq!(news.in_flight, Some(1));
        let other = &c[&("aa,bb".to_string(), "@other".to_string())];
        assert_eq!(other.in_flight, None);
        assert_eq!(other.sent, vec![msg(0, 9)]);
        assert_eq!(
            keys_of(&read, &["a.pdf".into(), "a.yaml".into()]),
            vec!["aa,bb"]
        );
        assert!(keys_of(&read, &["a.pdf".into()]).is_empty());
    }

    #[test]
    fn a_folder_without_a_log_says_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
    }
}
