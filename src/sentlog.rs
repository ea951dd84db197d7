//! The sent log: what a sender tells the share about each request, next to the files it sends.
//!
//! The journal is local to one server; a dropcast that adopts another's work folder (a standby
//! after a takeover, a new server with an empty journal) sees only the share. So before each
//! request a sender appends a `begin` line to `WORK_FOLDER/.sent.jsonl`, and after Telegram's
//! answer a `sent` line with the messages it created. The adopter then knows, for each bundle
//! and channel, what went out (never posted again), what was in flight (`uncertain`), and what
//! was never begun (posted without doubt). The log is made with the work folder, so an empty log
//! means that nothing in that folder was begun.
//!
//! One line is one `write` at the end of the file, opened and closed again: a kill -9 right
//! after it loses nothing (the kernel or the share's server holds it); a power cut may lose the
//! last lines, which leaves a request looking in flight or never begun, the same as the travelling
//! receipt's window before this log existed. Never flushed to disk: it narrows a window, and
//! the journal stays the record.
//!
//! A bundle waiting in `scheduled/` has no work folder: a hidden record folder
//! `scheduled/.dropcast/FIRST_FILE/` holds what it is ([`ScheduledRecord`]) and its log.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Seek as _, Write as _};
use std::path::{Path, PathBuf};

use crate::journal::SentMessage;

/// The log's name in a work folder: hidden, like everything dropcast keeps there.
pub const FILE_NAME: &str = ".sent.jsonl";

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

/// Makes an empty log in a new work folder (kept if there is one): from then on the folder says
/// what of it was begun.
pub fn create(work_dir: &Path) -> std::io::Result<()> {
    open(work_dir).map(drop)
}

/// Appends one line. An error means the line is not there.
pub fn append(work_dir: &Path, line: &Line) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(line).map_err(std::io::Error::other)?;
    text.push(b'\n');
    // Not `O_APPEND`: smbnetfs (FUSE over SMB) refuses it. The senders of one process take
    // turns instead (only the lease holder writes in an inbox's work folders).
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let mut file = open(work_dir)?;
    file.seek(std::io::SeekFrom::End(0))?;
    // One write: a line is there whole or not at all (a torn last line is skipped on reading).
    file.write_all(&text)
}

fn open(work_dir: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(work_dir.join(FILE_NAME))
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
    let text = std::fs::read(work_dir.join(FILE_NAME)).ok()?;
    Some(
        text.split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect(),
    )
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

/// The path of the log in a work folder.
pub fn path(work_dir: &Path) -> PathBuf {
    work_dir.join(FILE_NAME)
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
        std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .unwrap()
            .write_all(b"{\"files\":[\"a.p")
            .unwrap();
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
