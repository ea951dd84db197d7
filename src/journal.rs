//! The journal: one SQLite file in `state_dir` that records every bundle, every file's SHA-256,
//! every delivery and every message sent. It is what makes a restart (even after `kill -9`) safe.
//!
//! Writes come in batches, one transaction (and one flush) each: the preparer enters a batch of
//! bundles with [`Journal::insert_bundles`]; a sender records its deliveries' progress as a list
//! of [`Write`]s made durable by [`Journal::commit`] (the answer to one request goes with the
//! `Begin` of the next when that follows at once); the finisher marks a batch of moved bundles
//! done with [`Journal::mark_done_all`]. [`Journal`] is the daemon's handle; [`JournalReader`]
//! is a read-only one for `status`, the status page and `/healthz`.
//!
//! Architecture Invariant: only this module knows SQL. A message is recorded as `in_flight`
//! before its request, and as sent with its ids in the first commit after the answer, before
//! any other request goes out, so a message the journal knows was sent is never sent again. A
//! [`JournalReader`] never writes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, ToSql, params};

use crate::post::{ChangeKind, OutMessage, SendOptions, Target};

pub const FILE_NAME: &str = "journal.sqlite";
const SCHEMA_VERSION: i64 = 1;

/// The journal cannot be used; dropcast stops rather than start from an empty one.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "journal {path} is damaged ({detail}); move it aside and restore a backup, or start a new journal knowing that posts already made may be repeated"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "journal {path} is missing but {marker} says one existed; restore it, or delete the marker to start a new journal knowing that posts already made may be repeated"
    )]
    Missing { path: PathBuf, marker: PathBuf },
    #[error("journal {path} does not exist yet: dropcast creates it when it first runs")]
    Absent { path: PathBuf },
    #[error("cannot create state folder {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal record is unreadable: {0}")]
    Decode(String),
}

/// Where a bundle is in its life. The journal stores it as text; only this module reads and
/// writes that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleState {
    /// Waiting in `scheduled/` for its publish time.
    Scheduled,
    /// Its deliveries may go out, or have all ended and its files wait to be moved.
    Ready,
    /// Refused before it was ready: its files went straight to `failed/`.
    Refused,
    /// Every delivery ended; its files are in `archive/`.
    Archived,
    /// A delivery failed; its files are in `failed/`.
    Failed,
    /// A clerk removed one of its files from `scheduled/`.
    Cancelled,
    /// Another dropcast took its inbox over and finished it: its files left this one's work
    /// folder (or `scheduled/`) while this one stood by.
    HandedOver,
}

impl BundleState {
    const ALL: [BundleState; 7] = [
        BundleState::Scheduled,
        BundleState::Ready,
        BundleState::Refused,
        BundleState::Archived,
        BundleState::Failed,
        BundleState::Cancelled,
        BundleState::HandedOver,
    ];

    fn as_str(self) -> &'static str {
        match self {
            BundleState::Scheduled => "scheduled",
            BundleState::Ready => "ready",
            BundleState::Refused => "refused",
            BundleState::Archived => "archived",
            BundleState::Failed => "failed",
            BundleState::Cancelled => "cancelled",
            BundleState::HandedOver => "handed_over",
        }
    }

    fn parse(s: &str) -> Option<BundleState> {
        BundleState::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

impl std::fmt::Display for BundleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for BundleState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for BundleState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<BundleState> {
        let s = value.as_str()?;
        BundleState::parse(s)
            .ok_or_else(|| FromSqlError::Other(format!("unknown bundle state {s:?}").into()))
    }
}

/// What one post consists of: the requests in order and the options for all of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub messages: Vec<OutMessage>,
    pub options: SendOptions,
    pub pin: bool,
    /// When the pin ends (seconds since the epoch): `pin_until:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_until: Option<i64>,
    /// Files that go without a preview, and why (for the receipt).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preview_notes: Vec<String>,
}

/// A file of a bundle: where the clerk dropped it, where it waits, and what it contained.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    pub original: PathBuf,
    pub work: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// A bundle that is ready to post.
#[derive(Debug, Clone)]
pub struct NewBundle {
    pub name: String,
    pub files: Vec<FileRecord>,
    pub plan: Plan,
    /// Identifies "the same files" for duplicate detection.
    pub digest: String,
    /// Chat references, one delivery each.
    pub chats: Vec<String>,
    pub repost: bool,
    /// Seconds since the epoch: the bundle waits in `scheduled/` until then.
    pub publish_at: Option<i64>,
    /// A correction: one delivery per post it changes (instead of one per chat), each with its
    /// own requests.
    pub changes: Vec<NewChange>,
}

/// One channel's part of a correction: the post's delivery it changes, and how.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub chat: String,
    pub target: DeliveryId,
    pub kind: ChangeKind,
    pub plan: Plan,
    /// What changes, old → new, for the post's receipt (`change::Note` as JSON).
    pub note: String,
}

/// A post that went out, as a correction needs it: one channel's delivery of one bundle.
#[derive(Debug, Clone)]
pub struct PostRecord {
    pub delivery_id: DeliveryId,
    pub bundle_id: BundleId,
    pub bundle: String,
    pub bundle_state: BundleState,
    pub chat: String,
    pub plan: Plan,
    pub messages: Vec<SentMessage>,
    /// When its first message went out (seconds since the epoch).
    pub sent_at: Option<i64>,
    /// Whether every message of it went out (`sent`), or it is still being posted.
    pub complete: bool,
    /// Where its receipt is in the archive.
    pub receipt: Option<PathBuf>,
    /// The corrections made or waiting, oldest first.
    pub changes: Vec<PastChange>,
    /// When it is scheduled to go out, while it waits in `scheduled/`.
    pub publish_at: Option<i64>,
}

/// A correction of a post, as the journal holds it.
#[derive(Debug, Clone)]
pub struct PastChange {
    pub kind: ChangeKind,
    pub plan: Plan,
    /// Done (`sent`), failed, or still to do.
    pub state: String,
    pub bundle: String,
}

/// What a post link or file name finds in the journal.
#[derive(Debug, Clone)]
pub enum Found {
    /// The post in each channel it went to (a link: one; a file name: every channel).
    Posts(Vec<PostRecord>),
    /// No post of dropcast's: the link names another message, or an unknown channel.
    Nothing,
    /// A file name several archived posts had; their receipts.
    Ambiguous(Vec<PathBuf>),
}

/// A correction as `status` shows it.
#[derive(Debug, Clone)]
pub struct RecentChange {
    pub bundle: String,
    pub note: String,
    pub state: String,
    pub at: i64,
}

/// A pin that ends at a set time (`pin_until:`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PinEnd {
    pub delivery_id: DeliveryId,
    pub bundle: String,
    pub chat: String,
    pub message_id: i64,
    pub link: String,
    pub until: i64,
    pub state: String,
    pub error: Option<String>,
}

/// A bundle's id in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct BundleId(pub i64);

/// The id of one delivery (one bundle to one channel) in the journal: a type of its own, so that
/// it is never mixed up with a bundle's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct DeliveryId(pub i64);

macro_rules! sql_id {
    ($t:ident) => {
        impl rusqlite::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }
        impl rusqlite::types::FromSql for $t {
            fn column_result(
                v: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                i64::column_result(v).map($t)
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
sql_id!(BundleId);
sql_id!(DeliveryId);

/// A bundle waiting in `scheduled/`.
#[derive(Debug, Clone)]
pub struct Scheduled {
    pub bundle_id: BundleId,
    pub name: String,
    pub publish_at: i64,
    pub files: Vec<FileRecord>,
}

/// A message that Telegram accepted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SentMessage {
    /// Which request of the plan.
    pub index: usize,
    /// Which message of that request (albums create several).
    pub part: usize,
    pub message_id: i64,
    pub chat_id: i64,
    pub link: String,
}

/// One channel's delivery of one bundle, as the sender needs it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: DeliveryId,
    pub bundle_id: BundleId,
    pub chat: String,
    pub plan: Plan,
    pub sent: Vec<SentMessage>,
    /// The index of a message whose request was in flight when dropcast stopped.
    pub in_flight: Option<usize>,
    pub pin_done: bool,
    /// Whether the bundle still waits to be posted by this dropcast (not handed over).
    pub bundle_ready: bool,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum DeliveryOutcome {
    Sent,
    Failed(String),
}

/// A bundle whose deliveries are all finished, and whose files still have to be moved.
#[derive(Debug, Clone)]
pub struct Finished {
    pub bundle_id: BundleId,
    pub name: String,
    pub files: Vec<FileRecord>,
    pub deliveries: Vec<FinishedDelivery>,
    /// A correction's changes, for the receipts of the posts they changed.
    pub changes: Vec<ChangeDone>,
    /// Files that went without a preview, and why (`Plan::preview_notes`).
    pub preview_notes: Vec<String>,
}

/// One channel's part of a correction that ended.
#[derive(Debug, Clone)]
pub struct ChangeDone {
    /// The correction's delivery.
    pub id: DeliveryId,
    pub done: bool,
    /// The receipt of the post it changed, in the archive.
    pub receipt: Option<PathBuf>,
    /// `change::Note` as JSON.
    pub note: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FinishedDelivery {
    pub chat: String,
    pub outcome: DeliveryOutcome,
    pub messages: Vec<SentMessage>,
    pub pin_error: Option<String>,
    pub sent_at: Option<i64>,
}

/// id, chat, state, problem, pin state, finished at.
type DeliveryRow = (
    DeliveryId,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// An open delivery that has failed at least once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Retrying {
    pub bundle: String,
    pub chat: String,
    pub attempts: i64,
    pub last_error: String,
}

/// A bundle that ended in `failed/` or was cancelled.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    pub bundle: String,
    pub state: BundleState,
    pub problem: String,
    pub at: i64,
}

/// A post that went out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Posted {
    pub bundle: String,
    pub chat: String,
    pub link: String,
    pub at: i64,
}

/// A write to a delivery's record. A sender may keep the writes that follow an answer and commit
/// them with the `Begin` of its next request, so that back-to-back posts cost one flush each; it
/// commits them at once whenever it would otherwise wait (pacing, a retry, an empty queue).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// The request for message `index` is about to go out.
    Begin {
        delivery_id: DeliveryId,
        index: usize,
    },
    /// Telegram accepted the request: the messages it created.
    Sent {
        delivery_id: DeliveryId,
        messages: Vec<SentMessage>,
    },
    /// The request failed and nothing was posted.
    AttemptError {
        delivery_id: DeliveryId,
        error: String,
    },
    /// The pin worked (`None`) or failed.
    Pin {
        delivery_id: DeliveryId,
        error: Option<String>,
    },
    /// The delivery ended.
    Finish {
        delivery_id: DeliveryId,
        outcome: DeliveryOutcome,
    },
    /// The post's pin ends at `until` (`pin_until:`): the unpin waits in the journal.
    PinEnds {
        delivery_id: DeliveryId,
        chat: String,
        target: Target,
        until: i64,
    },
}

impl Write {
    /// The delivery this write is about.
    pub fn delivery_id(&self) -> DeliveryId {
        match self {
            Write::Begin { delivery_id, .. }
            | Write::Sent { delivery_id, .. }
            | Write::AttemptError { delivery_id, .. }
            | Write::Pin { delivery_id, .. }
            | Write::Finish { delivery_id, .. }
            | Write::PinEnds { delivery_id, .. } => *delivery_id,
        }
    }
}

/// The journal, for the daemon. Cheap to share behind an `Arc`; every call is one short
/// transaction. It reads everything a [`JournalReader`] reads (through `Deref`), so the read
/// queries exist once.
pub struct Journal {
    reader: JournalReader,
}

/// The journal opened read-only, for the reports (`status`, the status page, `/healthz`): SQLite
/// refuses every write on its connection, and its methods only read. It never creates, sets up or
/// upgrades a journal, so a refresh of the page never writes or flushes anything.
pub struct JournalReader {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::ops::Deref for Journal {
    type Target = JournalReader;

    fn deref(&self) -> &JournalReader {
        &self.reader
    }
}

/// A row of `idx, part, message_id, chat_id, link` (the `messages` table).
fn sent_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<SentMessage> {
    Ok(SentMessage {
        index: r.get::<_, i64>(0)? as usize,
        part: r.get::<_, i64>(1)? as usize,
        message_id: r.get(2)?,
        chat_id: r.get(3)?,
        link: r.get(4)?,
    })
}

fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

fn bytes_path(b: Vec<u8>) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&b))
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl JournalReader {
    /// Opens the journal in `state_dir` read-only. A missing journal is an error (it is never
    /// created here); so is a file that is not a journal, or one of another schema version.
    pub fn open(state_dir: &Path) -> Result<JournalReader, JournalError> {
        let path = state_dir.join(FILE_NAME);
        if !path.exists() {
            return Err(JournalError::Absent { path });
        }
        // Without CREATE, SQLite cannot make an empty journal should the file vanish now.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .and_then(|c| {
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                Ok(c)
            })
            .map_err(|source| JournalError::Sqlite {
                path: path.clone(),
                source,
            })?;
        let reader = JournalReader {
            path,
            conn: Mutex::new(conn),
        };
        reader.check_version()?;
        Ok(reader)
    }

    /// Reads the schema version: the one read that tells a journal from any other file (the
    /// whole-file `quick_check` is the daemon's, at its start).
    fn check_version(&self) -> Result<(), JournalError> {
        let corrupt = |detail: String| JournalError::Corrupt {
            path: self.path.clone(),
            detail,
        };
        let version: Option<i64> = self
            .with(|c| {
                c.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                    r.get(0)
                })
                .optional()
            })
            .map_err(|e| match e {
                JournalError::Sqlite { source, .. }
                    if matches!(
                        source.sqlite_error_code(),
                        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
                    ) =>
                {
                    corrupt(source.to_string())
                }
                e => e,
            })?;
        match version {
            Some(v) if v != SCHEMA_VERSION => Err(corrupt(format!(
                "schema version {v}, this dropcast knows {SCHEMA_VERSION}"
            ))),
            _ => Ok(()),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    /// The post a link or an archive file name names (see change.rs). Only posts of dropcast's
    /// own: a message a correction changed, or any other message, names none.
    pub fn find_post(&self, target: &crate::change::PostRef) -> Result<Found, JournalError> {
        use crate::change::PostRef;
        let deliveries: Vec<DeliveryId> = match target {
            PostRef::Private {
                chat_id,
                message_id,
            } => self
                .post_by_message(*chat_id, *message_id)?
                .into_iter()
                .collect(),
            PostRef::Public {
                username,
                message_id,
            } => {
                let chat_id: Option<i64> = self.with(|c| {
                    c.query_row(
                        "SELECT id FROM chat_usernames WHERE username = ?1
                         UNION ALL SELECT id FROM chats WHERE name = '@' || ?1 COLLATE NOCASE LIMIT 1",
                        params![username],
                        |r| r.get(0),
                    )
                    .optional()
                })?;
                match chat_id {
                    Some(chat_id) => self.post_by_message(chat_id, *message_id)?.into_iter().collect(),
                    // A channel dropcast never resolved by name (configured by its id): its
                    // posts' links carry the name it had then.
                    None => self.with(|c| {
                        let suffix = format!("/{}/{message_id}", username.to_ascii_lowercase());
                        let mut st = c.prepare_cached(
                            "SELECT m.delivery_id, m.link FROM messages m
                             WHERE m.message_id = ?1
                             AND NOT EXISTS (SELECT 1 FROM changes x WHERE x.delivery_id = m.delivery_id)",
                        )?;
                        let rows = st.query_map(params![message_id], |r| {
                            Ok((r.get::<_, DeliveryId>(0)?, r.get::<_, String>(1)?))
                        })?;
                        let mut out = Vec::new();
                        for row in rows {
                            let (id, link) = row?;
                            if link.to_ascii_lowercase().ends_with(&suffix) {
                                out.push(id);
                            }
                        }
                        out.truncate(1);
                        Ok(out)
                    })?,
                }
            }
            PostRef::File(name) => return self.post_by_file(name),
        };
        if deliveries.is_empty() {
            return Ok(Found::Nothing);
        }
        let posts = deliveries
            .into_iter()
            .map(|id| self.post_record(id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Found::Posts(posts))
    }

    /// The delivery of dropcast's that made message `message_id` in chat `chat_id`.
    fn post_by_message(
        &self,
        chat_id: i64,
        message_id: i64,
    ) -> Result<Option<DeliveryId>, JournalError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT m.delivery_id FROM messages m
                 WHERE m.message_id = ?2 AND m.chat_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM changes x WHERE x.delivery_id = m.delivery_id)
                 LIMIT 1",
            )?
            .query_row(params![chat_id, message_id], |r| r.get(0))
            .optional()
        })
    }

    /// The post whose bundle is `name` in the archive (`notice.pdf`, `notice (2).pdf`): the one
    /// bundle of that name whose archived files carry that very name, or, for a post not in the
    /// archive yet, the one bundle of that name scheduled or being posted.
    fn post_by_file(&self, name: &str) -> Result<Found, JournalError> {
        let (base, _) = crate::change::split_numbered(name);
        let rows: Vec<(BundleId, String, BundleState, Option<Vec<u8>>)> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, name, state, location FROM bundles
                 WHERE name IN (?1, ?2) AND state IN ('archived', 'ready', 'scheduled')
                 AND EXISTS (SELECT 1 FROM deliveries d WHERE d.bundle_id = bundles.id
                             AND NOT EXISTS (SELECT 1 FROM changes x WHERE x.delivery_id = d.id))
                 ORDER BY id",
            )?;
            st.query_map(params![base, name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })?;
        let mut archived = Vec::new();
        let mut waiting = Vec::new();
        for (id, bundle, state, location) in rows {
            match (state, location) {
                (BundleState::Archived, Some(receipt)) => {
                    let receipt = bytes_path(receipt);
                    if crate::change::archived_name(&bundle, &receipt).as_deref() == Some(name) {
                        archived.push((id, receipt));
                    }
                }
                (BundleState::Ready | BundleState::Scheduled, _) if bundle == name => {
                    waiting.push(id)
                }
                _ => {}
            }
        }
        let ids: Vec<BundleId> = match (archived.len(), waiting.len()) {
            (1, _) => vec![archived[0].0],
            (0, 1) => waiting,
            (0, 0) => return Ok(Found::Nothing),
            _ if archived.len() > 1 => {
                return Ok(Found::Ambiguous(
                    archived.into_iter().map(|(_, r)| r).collect(),
                ));
            }
            _ => return Ok(Found::Ambiguous(Vec::new())),
        };
        let deliveries: Vec<DeliveryId> = self.with(|c| {
            let mut st =
                c.prepare_cached("SELECT id FROM deliveries WHERE bundle_id = ?1 ORDER BY id")?;
            st.query_map(params![ids[0]], |r| r.get(0))?.collect()
        })?;
        let posts = deliveries
            .into_iter()
            .map(|id| self.post_record(id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Found::Posts(posts))
    }

    /// One delivery as a correction sees it: its plan, its messages, its corrections so far.
    fn post_record(&self, id: DeliveryId) -> Result<PostRecord, JournalError> {
        #[allow(clippy::type_complexity)]
        let (bundle_id, bundle, bundle_state, chat, plan, state, location, publish_at): (
            BundleId,
            String,
            BundleState,
            String,
            String,
            String,
            Option<Vec<u8>>,
            Option<i64>,
        ) = self.with(|c| {
            c.prepare_cached(
                "SELECT b.id, b.name, b.state, d.chat, COALESCE(d.plan, b.plan), d.state, b.location, b.publish_at
                 FROM deliveries d JOIN bundles b ON b.id = d.bundle_id WHERE d.id = ?1",
            )?
            .query_row(params![id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
        })?;
        let decode = |text: &str| -> Result<Plan, JournalError> {
            serde_json::from_str(text).map_err(|e| JournalError::Decode(e.to_string()))
        };
        let plan = decode(&plan)?;
        let messages = self.messages(id)?;
        let sent_at: Option<i64> = self.with(|c| {
            c.prepare_cached("SELECT MIN(sent_at) FROM messages WHERE delivery_id = ?1")?
                .query_row(params![id], |r| r.get(0))
        })?;
        let rows: Vec<(String, String, String, String)> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT x.kind, d.plan, d.state, b.name FROM changes x
                 JOIN deliveries d ON d.id = x.delivery_id JOIN bundles b ON b.id = d.bundle_id
                 WHERE x.target = ?1 ORDER BY x.delivery_id",
            )?;
            st.query_map(params![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })?;
        let mut changes = Vec::new();
        for (kind, plan, state, bundle) in rows {
            let kind = match kind.as_str() {
                "edit" => ChangeKind::Edit,
                "delete" => ChangeKind::Delete,
                _ => ChangeKind::Unpin,
            };
            changes.push(PastChange {
                kind,
                plan: decode(&plan)?,
                state,
                bundle,
            });
        }
        let receipt = (bundle_state == BundleState::Archived)
            .then(|| location.map(bytes_path))
            .flatten();
        Ok(PostRecord {
            delivery_id: id,
            bundle_id,
            bundle,
            bundle_state,
            chat,
            plan,
            messages,
            sent_at,
            complete: state == "sent",
            receipt,
            changes,
            publish_at,
        })
    }

    fn messages(&self, delivery_id: DeliveryId) -> Result<Vec<SentMessage>, JournalError> {
        self.with(|c| {
            let mut st = c.prepare_cached(MESSAGES)?;
            st.query_map(params![delivery_id], sent_message)?.collect()
        })
    }

    /// The latest corrections, newest first: the correction's bundle, what it did (`change::Note`
    /// as JSON), its state (`sent`: done), when it ended.
    pub fn recent_changes(&self, limit: usize) -> Result<Vec<RecentChange>, JournalError> {
        self.with(|c| {
            let exists: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'changes')",
                [],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(Vec::new());
            }
            let mut st = c.prepare_cached(
                "SELECT b.name, x.note, d.state, d.finished_at, b.created_at FROM changes x
                 JOIN deliveries d ON d.id = x.delivery_id JOIN bundles b ON b.id = d.bundle_id
                 ORDER BY x.delivery_id DESC LIMIT ?1",
            )?;
            st.query_map(params![limit as i64], |r| {
                Ok(RecentChange {
                    bundle: r.get(0)?,
                    note: r.get(1)?,
                    state: r.get(2)?,
                    at: r.get::<_, Option<i64>>(3)?.unwrap_or(r.get(4)?),
                })
            })?
            .collect()
        })
    }

    /// The pins that end at a set time and have not ended yet, soonest first.
    pub fn pin_ends(&self) -> Result<Vec<PinEnd>, JournalError> {
        self.with(|c| {
            // A journal older than corrections has no such table: no pin ends.
            let exists: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'pin_ends')",
                [],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(Vec::new());
            }
            let mut st = c.prepare_cached(
                "SELECT p.delivery_id, b.name, p.chat, p.message_id, p.link, p.until, p.state, p.error
                 FROM pin_ends p JOIN deliveries d ON d.id = p.delivery_id JOIN bundles b ON b.id = d.bundle_id
                 WHERE p.state IN ('waiting', 'in_flight', 'failed') ORDER BY p.until",
            )?;
            st.query_map([], |r| {
                Ok(PinEnd {
                    delivery_id: r.get(0)?,
                    bundle: r.get(1)?,
                    chat: r.get(2)?,
                    message_id: r.get(3)?,
                    link: r.get(4)?,
                    until: r.get(5)?,
                    state: r.get(6)?,
                    error: r.get(7)?,
                })
            })?
            .collect()
        })
    }

    /// Bundles waiting for their publish time, earliest first.
    pub fn scheduled(&self) -> Result<Vec<Scheduled>, JournalError> {
        let rows: Vec<(BundleId, String, i64)> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, name, publish_at FROM bundles WHERE state = 'scheduled' ORDER BY publish_at, id",
            )?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })?;
        rows.into_iter()
            .map(|(bundle_id, name, publish_at)| {
                Ok(Scheduled {
                    bundle_id,
                    name,
                    publish_at,
                    files: self.files(bundle_id)?,
                })
            })
            .collect()
    }

    /// The files of one bundle: where each came from and where it waits.
    pub fn files(&self, bundle_id: BundleId) -> Result<Vec<FileRecord>, JournalError> {
        self.with(|c| {
            let mut st = c.prepare_cached(FILES_OF_BUNDLE)?;
            st.query_map(params![bundle_id], |r| {
                Ok(FileRecord {
                    original: bytes_path(r.get(0)?),
                    work: bytes_path(r.get(1)?),
                    sha256: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect()
        })
    }

    /// Deliveries that failed at least once and are still open: (bundle, chat, attempts, last error).
    pub fn retrying(&self) -> Result<Vec<Retrying>, JournalError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT b.name, d.chat, d.attempts, COALESCE(d.last_error, '') FROM deliveries d
                 JOIN bundles b ON b.id = d.bundle_id
                 WHERE d.state IN ('pending', 'in_flight') AND b.state = 'ready' AND d.last_error IS NOT NULL
                 ORDER BY d.id",
            )?;
            st.query_map([], |r| {
                Ok(Retrying {
                    bundle: r.get(0)?,
                    chat: r.get(1)?,
                    attempts: r.get(2)?,
                    last_error: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    /// The most recent bundles that went to `failed/` (or were cancelled), newest first:
    /// (name, state, problem as stored, when).
    pub fn recent_failures(&self, limit: usize) -> Result<Vec<Failure>, JournalError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT b.name, b.state, COALESCE(b.problem,
                        (SELECT d.problem FROM deliveries d WHERE d.bundle_id = b.id AND d.problem IS NOT NULL LIMIT 1), ''),
                        COALESCE(b.done_at, b.created_at)
                 FROM bundles b WHERE b.state IN ('failed', 'refused', 'cancelled')
                 ORDER BY COALESCE(b.done_at, b.created_at) DESC, b.id DESC LIMIT ?1",
            )?;
            st.query_map(params![limit as i64], |r| {
                Ok(Failure {
                    bundle: r.get(0)?,
                    state: r.get(1)?,
                    problem: r.get(2)?,
                    at: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    /// The most recent messages sent, newest first: (bundle, chat, link, when).
    pub fn recent_posts(&self, limit: usize) -> Result<Vec<Posted>, JournalError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT b.name, d.chat, m.link, m.sent_at FROM messages m
                 JOIN deliveries d ON d.id = m.delivery_id JOIN bundles b ON b.id = d.bundle_id
                 WHERE m.idx = (SELECT MIN(idx) FROM messages x WHERE x.delivery_id = m.delivery_id) AND m.part = 0
                 ORDER BY m.sent_at DESC, m.rowid DESC LIMIT ?1",
            )?;
            st.query_map(params![limit as i64], |r| {
                Ok(Posted {
                    bundle: r.get(0)?,
                    chat: r.get(1)?,
                    link: r.get(2)?,
                    at: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    /// Counts of bundles by state, for summaries.
    pub fn counts(&self) -> Result<Vec<(BundleState, i64)>, JournalError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT state, COUNT(*) FROM bundles GROUP BY state ORDER BY state",
            )?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })
    }
}

impl Journal {
    /// Opens (or creates) the journal in `state_dir`. A damaged or vanished journal is an error,
    /// never silently replaced by an empty one.
    pub fn open(state_dir: &Path) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(state_dir).map_err(|source| JournalError::StateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(FILE_NAME);
        let marker = state_dir.join("journal.created");
        if !path.exists() && marker.exists() {
            return Err(JournalError::Missing { path, marker });
        }
        let sql = |source| JournalError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(sql)?;
        let corrupt = |e: rusqlite::Error| JournalError::Corrupt {
            path: path.clone(),
            detail: e.to_string(),
        };
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        // Room for every statement dropcast uses, so that none is parsed again per bundle (the
        // default of 16 is fewer than there are, and they evicted each other).
        conn.set_prepared_statement_cache_capacity(64);
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(corrupt)?;
        if check != "ok" {
            return Err(JournalError::Corrupt {
                path: path.clone(),
                detail: check,
            });
        }
        // WAL with synchronous=FULL: every commit is on disk before we act on it (a message
        // recorded as sent survives a power cut), and readers (`status`) never block the daemon.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )
        .map_err(corrupt)?;
        conn.execute_batch(SCHEMA).map_err(corrupt)?;
        // Journals made before corrections existed: a delivery's own plan (a correction's).
        let has_plan: bool = conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM pragma_table_info('deliveries') WHERE name = 'plan')",
                [],
                |r| r.get(0),
            )
            .map_err(corrupt)?;
        if !has_plan {
            conn.execute_batch("ALTER TABLE deliveries ADD COLUMN plan TEXT")
                .map_err(corrupt)?;
        }
        let version: i64 = conn
            .query_row(
                "INSERT INTO meta(key, value) VALUES ('schema', ?1)
                 ON CONFLICT(key) DO UPDATE SET key = key RETURNING value",
                params![SCHEMA_VERSION],
                |r| r.get(0),
            )
            .map_err(corrupt)?;
        if version != SCHEMA_VERSION {
            return Err(JournalError::Corrupt {
                path,
                detail: format!("schema version {version}, this dropcast knows {SCHEMA_VERSION}"),
            });
        }
        if !marker.exists() {
            let _ = std::fs::write(
                &marker,
                "dropcast keeps its journal next to this file; if the journal vanishes, dropcast refuses to start\n",
            );
        }
        Ok(Journal {
            reader: JournalReader {
                path,
                conn: Mutex::new(conn),
            },
        })
    }

    /// Records several ready bundles in one transaction (one flush for a whole batch).
    pub fn insert_bundles(&self, bundles: &[NewBundle]) -> Result<Vec<BundleId>, JournalError> {
        let plans = bundles
            .iter()
            .map(|b| serde_json::to_string(&b.plan))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| JournalError::Decode(e.to_string()))?;
        self.with(|c| {
            let tx = c.transaction()?;
            let any_carried: bool = tx
                .prepare_cached("SELECT EXISTS(SELECT 1 FROM carried)")?
                .query_row([], |r| r.get(0))?;
            let mut ids = Vec::with_capacity(bundles.len());
            for (b, plan) in bundles.iter().zip(plans) {
                tx.prepare_cached(
                    "INSERT INTO bundles(name, state, plan, digest, repost, created_at, publish_at)
                     VALUES (?1, ?6, ?2, ?3, ?4, ?5, ?7)",
                )?
                .execute(params![
                    b.name,
                    plan,
                    b.digest,
                    b.repost,
                    now(),
                    if b.publish_at.is_some() {
                        BundleState::Scheduled
                    } else {
                        BundleState::Ready
                    },
                    b.publish_at
                ])?;
                let id = tx.last_insert_rowid();
                for f in &b.files {
                    tx.prepare_cached(
                        "INSERT INTO files(bundle_id, original, work, sha256, size) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![id, path_bytes(&f.original), path_bytes(&f.work), f.sha256, f.size as i64])?;
                }
                for change in &b.changes {
                    let plan = serde_json::to_string(&change.plan)
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                    tx.prepare_cached(
                        "INSERT INTO deliveries(bundle_id, chat, state, plan) VALUES (?1, ?2, 'pending', ?3)",
                    )?
                    .execute(params![id, change.chat, plan])?;
                    tx.prepare_cached(
                        "INSERT INTO changes(delivery_id, target, kind, note) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![
                        tx.last_insert_rowid(),
                        change.target,
                        change.kind.key(),
                        change.note
                    ])?;
                }
                for chat in b.chats.iter().filter(|_| b.changes.is_empty()) {
                    tx.prepare_cached(
                        "INSERT INTO deliveries(bundle_id, chat, state) VALUES (?1, ?2, 'pending')",
                    )?
                    .execute(params![id, chat])?;
                    if any_carried {
                        take_carried(&tx, b, chat, tx.last_insert_rowid())?;
                    }
                }
                ids.push(BundleId(id));
            }
            tx.commit()?;
            Ok(ids)
        })
    }

    /// Remembers what another dropcast's sent log says it did with bundles it left, until the
    /// same files are entered again (see [`Journal::insert_bundles`]). What nobody claimed in
    /// 90 days is forgotten.
    pub fn carry(
        &self,
        carried: &std::collections::HashMap<(String, String), crate::sentlog::Carried>,
    ) -> Result<(), JournalError> {
        let rows = carried
            .iter()
            .map(|((key, chat), c)| Ok((key, chat, serde_json::to_string(&c.sent)?, c.in_flight)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| JournalError::Decode(e.to_string()))?;
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM carried WHERE created_at < ?1",
                params![now() - 90 * 86_400],
            )?;
            for (key, chat, sent, in_flight) in rows {
                tx.execute(
                    "INSERT OR REPLACE INTO carried(key, chat, sent, in_flight, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key, chat, sent, in_flight.map(|i| i as i64), now()],
                )?;
            }
            tx.commit()
        })
    }

    /// A scheduled bundle's time has come: its deliveries may start.
    pub fn release(&self, bundle_id: BundleId) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "UPDATE bundles SET state = 'ready' WHERE id = ?1 AND state = 'scheduled'",
                params![bundle_id],
            )
            .map(|_| ())
        })
    }

    /// A scheduled bundle was cancelled (its files were removed from `scheduled/`).
    pub fn cancel(&self, bundle_id: BundleId, problem: &str) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE bundles SET state = 'cancelled', problem = ?2, done_at = ?3 WHERE id = ?1",
                params![bundle_id, problem, now()],
            )?;
            tx.execute(
                "UPDATE deliveries SET state = 'cancelled', finished_at = ?2 WHERE bundle_id = ?1 AND state IN ('pending', 'in_flight')",
                params![bundle_id, now()],
            )?;
            tx.commit()
        })
    }

    /// Records a bundle refused before it was ready (it goes straight to `failed/`).
    pub fn insert_refused(
        &self,
        name: &str,
        files: &[FileRecord],
        problem: &str,
    ) -> Result<i64, JournalError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO bundles(name, state, plan, digest, repost, created_at, problem)
                 VALUES (?1, 'refused', '{}', '', 0, ?2, ?3)",
                params![name, now(), problem],
            )?;
            let id = tx.last_insert_rowid();
            for f in files {
                tx.execute(
                    "INSERT INTO files(bundle_id, original, work, sha256, size) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, path_bytes(&f.original), path_bytes(&f.work), f.sha256, f.size as i64],
                )?;
            }
            tx.commit()?;
            Ok(id)
        })
    }

    /// Remembers what `getChat` said of the channel the config names `name` (`@town_news`).
    pub fn remember_chat(
        &self,
        name: &str,
        id: i64,
        username: Option<&str>,
    ) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO chats(name, id, resolved_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET id = excluded.id, resolved_at = excluded.resolved_at",
                params![name, id, now()],
            )?;
            for u in [name.strip_prefix('@'), username].into_iter().flatten() {
                tx.execute(
                    "INSERT INTO chat_usernames(username, id) VALUES (?1, ?2)
                     ON CONFLICT(username) DO UPDATE SET id = excluded.id",
                    params![u, id],
                )?;
            }
            tx.commit()
        })
    }

    /// The numeric id of the channel the config names `name`, once resolved.
    pub fn chat_id_of(&self, name: &str) -> Result<Option<i64>, JournalError> {
        self.with(|c| {
            c.query_row("SELECT id FROM chats WHERE name = ?1", params![name], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// The channel a public name (without `@`) belonged to when dropcast saw it, current or old.
    pub fn chat_by_username(&self, username: &str) -> Result<Option<i64>, JournalError> {
        self.with(|c| {
            c.query_row(
                "SELECT id FROM chat_usernames WHERE username = ?1",
                params![username],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Whether what another dropcast's sent log said of this bundle (by [`crate::sentlog::key`])
    /// waits to be taken: it is the same bundle coming back into the inbox after an adoption.
    pub fn is_carried(&self, key: &str) -> Result<bool, JournalError> {
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM carried WHERE key = ?1)",
                params![key],
                |r| r.get(0),
            )
        })
    }

    /// The link of an earlier post of the same files to the same chat within the window.
    pub fn find_duplicate(
        &self,
        chat: &str,
        digest: &str,
        since: i64,
    ) -> Result<Option<String>, JournalError> {
        self.with(|c| {
            c.query_row(
                // CROSS JOIN keeps bundles as the outer loop, so the digest index finds the few
                // bundles with these files instead of every delivery ever made to the channel.
                DUPLICATE,
                params![chat, digest, since],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Deliveries not finished yet, oldest bundle first.
    pub fn open_deliveries(&self) -> Result<Vec<Delivery>, JournalError> {
        let ids: Vec<DeliveryId> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT d.id FROM deliveries d JOIN bundles b ON b.id = d.bundle_id
                 WHERE d.state IN ('pending', 'in_flight') AND b.state = 'ready'
                 ORDER BY d.bundle_id, d.id",
            )?;
            st.query_map([], |r| r.get(0))?.collect()
        })?;
        ids.into_iter().map(|id| self.delivery(id)).collect()
    }

    /// One delivery with its progress.
    pub fn delivery(&self, id: DeliveryId) -> Result<Delivery, JournalError> {
        let (bundle_id, chat, plan, in_flight, pin_done, bundle_ready): (
            BundleId,
            String,
            String,
            Option<i64>,
            bool,
            bool,
        ) = self.with(|c| {
            c.query_row(DELIVERY, params![id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
        })?;
        let plan: Plan =
            serde_json::from_str(&plan).map_err(|e| JournalError::Decode(e.to_string()))?;
        let sent = self.messages(id)?;
        Ok(Delivery {
            id,
            bundle_id,
            chat,
            plan,
            sent,
            in_flight: in_flight.map(|i| i as usize),
            pin_done,
            bundle_ready,
        })
    }

    /// The deliveries of one bundle that are still open, as (id, chat).
    pub fn deliveries_of(
        &self,
        bundle_id: BundleId,
    ) -> Result<Vec<(DeliveryId, String)>, JournalError> {
        self.with(|c| {
            let mut st = c.prepare_cached(OPEN_OF_BUNDLE)?;
            st.query_map(params![bundle_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
    }

    /// Ends every open delivery of a bundle with the same problem (its files are gone).
    pub fn fail_open_deliveries(
        &self,
        bundle_id: BundleId,
        problem: &str,
    ) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "UPDATE deliveries SET state = 'failed', problem = ?2, in_flight = NULL, finished_at = ?3
                 WHERE bundle_id = ?1 AND state IN ('pending', 'in_flight')",
                params![bundle_id, problem, now()],
            )
            .map(|_| ())
        })
    }

    /// Makes `writes` durable in one transaction, in order, and empties the list. On an error
    /// nothing of them is written and the list is kept.
    pub fn commit(&self, writes: &mut Vec<Write>) -> Result<(), JournalError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.with(|c| {
            let tx = c.transaction()?;
            for w in writes.iter() {
                match w {
                    Write::Begin { delivery_id, index } => {
                        tx.prepare_cached(
                            "UPDATE deliveries SET state = 'in_flight', in_flight = ?2, attempts = attempts + 1 WHERE id = ?1",
                        )?
                        .execute(params![delivery_id, *index as i64])?;
                    }
                    Write::Sent {
                        delivery_id,
                        messages,
                    } => {
                        for m in messages {
                            tx.prepare_cached(
                                "INSERT INTO messages(delivery_id, idx, part, message_id, chat_id, link, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            )?
                            .execute(params![delivery_id, m.index as i64, m.part as i64, m.message_id, m.chat_id, m.link, now()])?;
                        }
                        tx.prepare_cached(
                            "UPDATE deliveries SET state = 'pending', in_flight = NULL WHERE id = ?1",
                        )?
                        .execute(params![delivery_id])?;
                    }
                    Write::AttemptError { delivery_id, error } => {
                        tx.prepare_cached(
                            "UPDATE deliveries SET state = 'pending', in_flight = NULL, last_error = ?2 WHERE id = ?1",
                        )?
                        .execute(params![delivery_id, error])?;
                    }
                    Write::Pin { delivery_id, error } => {
                        tx.prepare_cached("UPDATE deliveries SET pin_state = ?2 WHERE id = ?1")?
                            .execute(params![delivery_id, error.as_deref().unwrap_or("ok")])?;
                    }
                    Write::Finish {
                        delivery_id,
                        outcome,
                    } => {
                        let (state, problem) = match outcome {
                            DeliveryOutcome::Sent => ("sent", None),
                            DeliveryOutcome::Failed(p) => ("failed", Some(p.as_str())),
                        };
                        tx.prepare_cached(
                            "UPDATE deliveries SET state = ?2, problem = ?3, in_flight = NULL, finished_at = ?4 WHERE id = ?1",
                        )?
                        .execute(params![delivery_id, state, problem, now()])?;
                        if *outcome == DeliveryOutcome::Sent {
                            // A post deleted or unpinned has no pin left to end.
                            tx.prepare_cached(
                                "UPDATE pin_ends SET state = 'cancelled', done_at = ?2
                                 WHERE state = 'waiting' AND delivery_id IN
                                 (SELECT target FROM changes WHERE delivery_id = ?1 AND kind IN ('delete', 'unpin'))",
                            )?
                            .execute(params![delivery_id, now()])?;
                        }
                    }
                    Write::PinEnds {
                        delivery_id,
                        chat,
                        target,
                        until,
                    } => {
                        tx.prepare_cached(
                            "INSERT INTO pin_ends(delivery_id, chat, message_id, chat_id, link, until, state)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'waiting') ON CONFLICT(delivery_id) DO NOTHING",
                        )?
                        .execute(params![delivery_id, chat, target.message_id, target.chat_id, target.link, until])?;
                    }
                }
            }
            tx.commit()
        })?;
        writes.clear();
        Ok(())
    }

    /// Those of `ids` whose deliveries have all ended but whose files have not been moved yet.
    pub fn finished_among(&self, ids: &[BundleId]) -> Result<Vec<Finished>, JournalError> {
        let ids: Vec<BundleId> = self.with(|c| {
            let mut st = c.prepare_cached(FINISHED_ONE)?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(id) = st.query_row(params![id], |r| r.get(0)).optional()? {
                    out.push(id);
                }
            }
            Ok(out)
        })?;
        ids.into_iter().map(|id| self.finished(id)).collect()
    }

    /// Bundles whose deliveries have all ended but whose files have not been moved yet.
    pub fn finished_bundles(&self) -> Result<Vec<Finished>, JournalError> {
        let ids: Vec<BundleId> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT b.id FROM bundles b WHERE b.state = 'ready' AND NOT EXISTS
                 (SELECT 1 FROM deliveries d WHERE d.bundle_id = b.id AND d.state NOT IN ('sent', 'failed'))
                 ORDER BY b.id",
            )?;
            st.query_map([], |r| r.get(0))?.collect()
        })?;
        ids.into_iter().map(|id| self.finished(id)).collect()
    }

    fn finished(&self, bundle_id: BundleId) -> Result<Finished, JournalError> {
        let name: String =
            self.with(|c| c.query_row(BUNDLE_NAME, params![bundle_id], |r| r.get(0)))?;
        let files = self.files(bundle_id)?;
        let rows: Vec<DeliveryRow> = self.with(|c| {
            let mut st = c.prepare_cached(DELIVERIES_OF_BUNDLE)?;
            st.query_map(params![bundle_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect()
        })?;
        let mut deliveries = Vec::new();
        for (id, chat, state, problem, pin, finished_at) in rows {
            deliveries.push(FinishedDelivery {
                chat,
                outcome: if state == "sent" {
                    DeliveryOutcome::Sent
                } else {
                    DeliveryOutcome::Failed(problem.unwrap_or_default())
                },
                messages: self.messages(id)?,
                pin_error: pin.filter(|p| p != "ok"),
                sent_at: finished_at,
            });
        }
        let changes = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT x.delivery_id, d.state = 'sent', tb.location, tb.state = 'archived', x.note
                 FROM deliveries d JOIN changes x ON x.delivery_id = d.id
                 JOIN deliveries td ON td.id = x.target JOIN bundles tb ON tb.id = td.bundle_id
                 WHERE d.bundle_id = ?1 ORDER BY d.id",
            )?;
            st.query_map(params![bundle_id], |r| {
                let location: Option<Vec<u8>> = r.get(2)?;
                let archived: bool = r.get(3)?;
                Ok(ChangeDone {
                    id: r.get(0)?,
                    done: r.get(1)?,
                    receipt: location.filter(|_| archived).map(bytes_path),
                    note: r.get(4)?,
                })
            })?
            .collect()
        })?;
        let preview_notes = self
            .with(|c| {
                c.prepare_cached("SELECT plan FROM bundles WHERE id = ?1")?
                    .query_row(params![bundle_id], |r| r.get::<_, String>(0))
            })
            .ok()
            .and_then(|plan| serde_json::from_str::<Plan>(&plan).ok())
            .map(|plan| plan.preview_notes)
            .unwrap_or_default();
        Ok(Finished {
            bundle_id,
            name,
            files,
            deliveries,
            changes,
            preview_notes,
        })
    }

    /// Several bundles' files are in `archive/` or `failed/` now (`Archived` or `Failed`): one
    /// transaction for a batch.
    pub fn mark_done_all(
        &self,
        done: &[(BundleId, BundleState, &Path)],
    ) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for (bundle_id, state, location) in done {
                tx.prepare_cached(
                    "UPDATE bundles SET state = ?2, location = ?3, done_at = ?4 WHERE id = ?1",
                )?
                .execute(params![
                    bundle_id,
                    state,
                    path_bytes(location),
                    now()
                ])?;
            }
            tx.commit()
        })
    }

    /// The unpin of a pin that ends is about to be requested (`in_flight`: after a crash it is
    /// requested again, which is harmless).
    pub fn pin_end_begin(&self, id: DeliveryId) -> Result<(), JournalError> {
        self.with(|c| {
            c.prepare_cached("UPDATE pin_ends SET state = 'in_flight' WHERE delivery_id = ?1")?
                .execute(params![id])
                .map(|_| ())
        })
    }

    /// The unpin of a pin that ends is done (`None`), or failed for good.
    pub fn pin_end_done(&self, id: DeliveryId, error: Option<&str>) -> Result<(), JournalError> {
        self.with(|c| {
            c.prepare_cached(
                "UPDATE pin_ends SET state = ?2, error = ?3, done_at = ?4 WHERE delivery_id = ?1",
            )?
            .execute(params![
                id,
                if error.is_some() { "failed" } else { "done" },
                error,
                now()
            ])
            .map(|_| ())
        })
    }

    /// An unpin that could not be made now (network, rate limit): due again at `at`.
    pub fn pin_end_later(&self, id: DeliveryId, at: i64, error: &str) -> Result<(), JournalError> {
        self.with(|c| {
            c.prepare_cached(
                "UPDATE pin_ends SET state = 'waiting', until = ?2, error = ?3 WHERE delivery_id = ?1",
            )?
            .execute(params![id, at, error])
            .map(|_| ())
        })
    }

    /// Records that another dropcast finished these bundles (see [`BundleState::HandedOver`]):
    /// their open deliveries end, and nothing of them is moved or reported here.
    pub fn hand_over(&self, ids: &[BundleId]) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for id in ids {
                tx.execute(
                    "UPDATE bundles SET state = 'handed_over', done_at = ?2 WHERE id = ?1 AND state IN ('ready', 'scheduled')",
                    params![id, now()],
                )?;
            }
            tx.commit()
        })
    }

    /// The fencing number under which this journal last held the lease of `inbox` (see
    /// lease.rs): a higher one at the next start means that another dropcast held it between.
    pub fn held_fence(&self, inbox: &Path) -> Result<Option<u64>, JournalError> {
        let key = format!("fence:{}", inbox.display());
        self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
        })
        .map(|v| v.map(|f| u64::try_from(f).unwrap_or(0)))
    }

    /// Remembers that this journal holds the lease of `inbox` under `fence`.
    pub fn record_fence(&self, inbox: &Path, fence: u64) -> Result<(), JournalError> {
        let key = format!("fence:{}", inbox.display());
        let fence = i64::try_from(fence).unwrap_or(i64::MAX);
        self.with(|c| {
            c.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, fence],
            )
            .map(drop)
        })
    }

    /// The bundles waiting (ready or scheduled) with a file dropped at `original`, with their
    /// files.
    pub fn waiting_with_original(
        &self,
        original: &Path,
    ) -> Result<Vec<(BundleId, Vec<FileRecord>)>, JournalError> {
        let ids: Vec<BundleId> = self.with(|c| {
            let mut st = c.prepare_cached(WAITING_WITH_ORIGINAL)?;
            st.query_map(params![path_bytes(original)], |r| r.get(0))?
                .collect()
        })?;
        ids.into_iter()
            .map(|id| Ok((id, self.files(id)?)))
            .collect()
    }

    /// The bundles waiting (ready or scheduled) with their files.
    pub fn waiting_bundles(&self) -> Result<Vec<(BundleId, Vec<FileRecord>)>, JournalError> {
        let ids: Vec<BundleId> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id FROM bundles WHERE state IN ('ready', 'scheduled') ORDER BY id",
            )?;
            st.query_map([], |r| r.get(0))?.collect()
        })?;
        ids.into_iter()
            .map(|id| Ok((id, self.files(id)?)))
            .collect()
    }

    /// Every file the journal holds in a work folder (bundles not archived or failed yet).
    pub fn waiting_files(&self) -> Result<Vec<FileRecord>, JournalError> {
        let ids: Vec<BundleId> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id FROM bundles WHERE state IN ('ready', 'scheduled') ORDER BY id",
            )?;
            st.query_map([], |r| r.get(0))?.collect()
        })?;
        let mut all = Vec::new();
        for id in ids {
            all.extend(self.files(id)?);
        }
        Ok(all)
    }
}

/// A new delivery takes over what another dropcast did of it (the same files to the same
/// channel): its messages count as sent, and a request it left in flight as in flight here.
fn take_carried(
    tx: &rusqlite::Transaction<'_>,
    b: &NewBundle,
    chat: &str,
    delivery_id: i64,
) -> rusqlite::Result<()> {
    let key = crate::sentlog::key(b.files.iter().map(|f| f.sha256.as_str()));
    let found: Option<(String, Option<i64>)> = tx
        .prepare_cached(
            "DELETE FROM carried WHERE key = ?1 AND chat = ?2 RETURNING sent, in_flight",
        )?
        .query_row(params![key, chat], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((sent, in_flight)) = found else {
        return Ok(());
    };
    let mut sent: Vec<SentMessage> = serde_json::from_str(&sent).unwrap_or_default();
    // What this very journal posted of these files to this chat before it handed the bundle over:
    // a server that froze in the middle of a request, and woke to record Telegram's answer after
    // the other had adopted the work folder (the share's log then says only "in flight"), gets
    // the bundle back through the other's work folder. Its own record is the answer.
    let own: Vec<SentMessage> = tx
        .prepare_cached(CARRIED_HERE)?
        .query_map(
            params![b.digest, chat, now() - CARRIED_HERE_WITHIN],
            sent_message,
        )?
        .collect::<rusqlite::Result<_>>()?;
    for m in own {
        if !sent.iter().any(|s| s.index == m.index && s.part == m.part) {
            sent.push(m);
        }
    }
    let in_flight = in_flight.filter(|i| !sent.iter().any(|m| m.index as i64 == *i));
    for m in &sent {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO messages(delivery_id, idx, part, message_id, chat_id, link, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![delivery_id, m.index as i64, m.part as i64, m.message_id, m.chat_id, m.link, now()])?;
    }
    if let Some(index) = in_flight {
        tx.prepare_cached(
            "UPDATE deliveries SET state = 'in_flight', in_flight = ?2, attempts = 1 WHERE id = ?1",
        )?
        .execute(params![delivery_id, index])?;
    }
    Ok(())
}

const DUPLICATE: &str = "SELECT COALESCE((SELECT link FROM messages m WHERE m.delivery_id = d.id ORDER BY idx, part LIMIT 1), '')
    FROM bundles b CROSS JOIN deliveries d ON d.bundle_id = b.id
    WHERE d.chat = ?1 AND b.digest = ?2
    AND ((d.state = 'sent' AND d.finished_at >= ?3)
    OR (d.state IN ('pending', 'in_flight') AND b.state IN ('ready', 'scheduled')))
    ORDER BY d.finished_at DESC NULLS FIRST LIMIT 1";
/// The messages of the latest bundle of these files handed over to this chat within the last
/// hour: the same bundle coming back, not an earlier post of the same files (`repost: true`).
const CARRIED_HERE: &str = "SELECT m.idx, m.part, m.message_id, m.chat_id, m.link FROM messages m
    WHERE m.delivery_id = (SELECT d.id FROM bundles b JOIN deliveries d ON d.bundle_id = b.id
        WHERE b.digest = ?1 AND b.state = 'handed_over' AND d.chat = ?2 AND b.done_at >= ?3
        ORDER BY b.done_at DESC, b.id DESC LIMIT 1)
    ORDER BY m.idx, m.part";
/// How long after a bundle was handed over its coming back is taken for the same bundle.
const CARRIED_HERE_WITHIN: i64 = 3600;
const WAITING_WITH_ORIGINAL: &str =
    "SELECT DISTINCT b.id FROM files f JOIN bundles b ON b.id = f.bundle_id
    WHERE f.original = ?1 AND b.state IN ('ready', 'scheduled') ORDER BY b.id";
const DELIVERY: &str =
    "SELECT d.bundle_id, d.chat, COALESCE(d.plan, b.plan), d.in_flight, d.pin_state IS NOT NULL, b.state = 'ready'
    FROM deliveries d JOIN bundles b ON b.id = d.bundle_id WHERE d.id = ?1";
const MESSAGES: &str = "SELECT idx, part, message_id, chat_id, link FROM messages WHERE delivery_id = ?1 ORDER BY idx, part";
const OPEN_OF_BUNDLE: &str = "SELECT id, chat FROM deliveries WHERE bundle_id = ?1 AND state IN ('pending', 'in_flight') ORDER BY id";
const FINISHED_ONE: &str =
    "SELECT b.id FROM bundles b WHERE b.id = ?1 AND b.state = 'ready' AND NOT EXISTS
    (SELECT 1 FROM deliveries d WHERE d.bundle_id = b.id AND d.state NOT IN ('sent', 'failed'))";
const BUNDLE_NAME: &str = "SELECT name FROM bundles WHERE id = ?1";
const DELIVERIES_OF_BUNDLE: &str = "SELECT id, chat, state, problem, pin_state, finished_at FROM deliveries WHERE bundle_id = ?1 ORDER BY id";
const FILES_OF_BUNDLE: &str =
    "SELECT original, work, sha256, size FROM files WHERE bundle_id = ?1 ORDER BY id";

/// The queries made once per bundle (or per delivery): each must use an index.
#[cfg(test)]
const PER_BUNDLE_QUERIES: &[&str] = &[
    DUPLICATE,
    CARRIED_HERE,
    WAITING_WITH_ORIGINAL,
    DELIVERY,
    MESSAGES,
    OPEN_OF_BUNDLE,
    FINISHED_ONE,
    BUNDLE_NAME,
    DELIVERIES_OF_BUNDLE,
    FILES_OF_BUNDLE,
];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value ANY) STRICT;
CREATE TABLE IF NOT EXISTS bundles(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL,          -- scheduled | ready | refused | archived | failed | cancelled
    publish_at INTEGER,
    plan TEXT NOT NULL,
    digest TEXT NOT NULL,
    repost INTEGER NOT NULL,
    problem TEXT,
    location BLOB,
    created_at INTEGER NOT NULL,
    done_at INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY,
    bundle_id INTEGER NOT NULL REFERENCES bundles(id),
    original BLOB NOT NULL,
    work BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS deliveries(
    id INTEGER PRIMARY KEY,
    bundle_id INTEGER NOT NULL REFERENCES bundles(id),
    chat TEXT NOT NULL,
    state TEXT NOT NULL,          -- pending | in_flight | sent | failed
    in_flight INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    problem TEXT,
    pin_state TEXT,
    finished_at INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS messages(
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    idx INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    link TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    part INTEGER NOT NULL,
    PRIMARY KEY(delivery_id, idx, part)
) STRICT;
-- What another dropcast's sent log says it posted of a bundle it left (see sentlog.rs): taken
-- over by the delivery of the same files to the same channel when they are entered again.
CREATE TABLE IF NOT EXISTS carried(
    key TEXT NOT NULL,
    chat TEXT NOT NULL,
    sent TEXT NOT NULL,
    in_flight INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY(key, chat)
) STRICT;
-- A channel named `@name` in the config, as `getChat` resolved it once: posts go to the numeric
-- id, so that a renamed public channel keeps working.
CREATE TABLE IF NOT EXISTS chats(
    name TEXT PRIMARY KEY,
    id INTEGER NOT NULL,
    resolved_at INTEGER NOT NULL
) STRICT;
-- Every public name a channel was seen under (links written with an old name still resolve).
CREATE TABLE IF NOT EXISTS chat_usernames(
    username TEXT PRIMARY KEY COLLATE NOCASE,
    id INTEGER NOT NULL
) STRICT;
-- A correction's delivery (`edit:`, `delete:`, `unpin:`) and the post's delivery it changes;
-- `note` says what changes, old → new, for the receipts.
CREATE TABLE IF NOT EXISTS changes(
    delivery_id INTEGER PRIMARY KEY REFERENCES deliveries(id),
    target INTEGER NOT NULL REFERENCES deliveries(id),
    kind TEXT NOT NULL,           -- edit | delete | unpin
    note TEXT NOT NULL
) STRICT;
-- A pin that ends at a set time (`pin_until:`), until it is unpinned.
CREATE TABLE IF NOT EXISTS pin_ends(
    delivery_id INTEGER PRIMARY KEY REFERENCES deliveries(id),
    chat TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    link TEXT NOT NULL,
    until INTEGER NOT NULL,
    state TEXT NOT NULL,          -- waiting | in_flight | done | failed | cancelled
    error TEXT,
    done_at INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS changes_target ON changes(target);
CREATE INDEX IF NOT EXISTS pin_ends_due ON pin_ends(state, until);
CREATE INDEX IF NOT EXISTS messages_message ON messages(message_id);
CREATE INDEX IF NOT EXISTS bundles_name ON bundles(name);
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries(state, bundle_id);
CREATE INDEX IF NOT EXISTS deliveries_dup ON deliveries(chat, finished_at);
CREATE INDEX IF NOT EXISTS deliveries_bundle ON deliveries(bundle_id);
CREATE INDEX IF NOT EXISTS files_bundle ON files(bundle_id);
CREATE INDEX IF NOT EXISTS files_original ON files(original);
CREATE INDEX IF NOT EXISTS bundles_state ON bundles(state);
CREATE INDEX IF NOT EXISTS bundles_digest ON bundles(digest);
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::{MediaKind, Rendered};

    fn bundle(digest: &str) -> NewBundle {
        NewBundle {
            name: "notice.pdf".into(),
            files: vec![FileRecord {
                original: PathBuf::from("/in/notice.pdf"),
                work: PathBuf::from("/in/.dropcast/1/notice.pdf"),
                sha256: "ab".repeat(32),
                size: 10,
            }],
            plan: Plan {
                messages: vec![OutMessage::Media {
                    kind: MediaKind::Document,
                    path: PathBuf::from("/in/.dropcast/1/notice.pdf"),
                    file_name: "notice.pdf".into(),
                    caption: Some(Rendered {
                        text: "<b>hi</b>".into(),
                        parse_mode: Some("HTML".into()),
                    }),
                    buttons: vec![],
                    thumbnail: None,
                }],
                options: SendOptions::default(),
                pin: false,
                pin_until: None,
                preview_notes: Vec::new(),
            },
            digest: digest.into(),
            chats: vec!["@town_news".into(), "-100222".into()],
            repost: false,
            publish_at: None,
            changes: Vec::new(),
        }
    }

    fn sent(index: usize, id: i64) -> SentMessage {
        SentMessage {
            index,
            part: 0,
            message_id: id,
            chat_id: -1001,
            link: format!("https://t.me/town_news/{id}"),
        }
    }

    /// Records one bundle, as the preparer records a batch.
    fn insert(j: &Journal, b: NewBundle) -> BundleId {
        j.insert_bundles(&[b]).unwrap()[0]
    }

    /// Commits one write alone, as a sender does before it waits.
    fn write(j: &Journal, w: Write) {
        j.commit(&mut vec![w]).unwrap();
    }

    #[test]
    fn delivery_lifecycle_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let id = insert(&j, bundle("d1"));
        let open = j.open_deliveries().unwrap();
        assert_eq!(open.len(), 2);
        assert_eq!(open[0].bundle_id, id);
        write(
            &j,
            Write::Begin {
                delivery_id: open[0].id,
                index: 0,
            },
        );
        drop(j);

        // A crash while the request was in flight: the message is uncertain after the restart.
        let j = Journal::open(dir.path()).unwrap();
        let d = j.delivery(open[0].id).unwrap();
        assert_eq!(d.in_flight, Some(0));
        write(
            &j,
            Write::Sent {
                delivery_id: d.id,
                messages: vec![sent(0, 42)],
            },
        );
        write(
            &j,
            Write::Finish {
                delivery_id: d.id,
                outcome: DeliveryOutcome::Sent,
            },
        );
        assert!(
            j.finished_bundles().unwrap().is_empty(),
            "one delivery still open"
        );
        write(
            &j,
            Write::Finish {
                delivery_id: open[1].id,
                outcome: DeliveryOutcome::Failed("chat not found".into()),
            },
        );
        let fin = j.finished_bundles().unwrap();
        assert_eq!(fin.len(), 1);
        assert_eq!(fin[0].deliveries[0].messages, vec![sent(0, 42)]);
        assert_eq!(
            fin[0].deliveries[1].outcome,
            DeliveryOutcome::Failed("chat not found".into())
        );
        assert_eq!(
            j.find_duplicate("@town_news", "d1", 0).unwrap().as_deref(),
            Some("https://t.me/town_news/42")
        );
        assert_eq!(j.find_duplicate("-100222", "d1", 0).unwrap(), None);
        assert_eq!(j.find_duplicate("@town_news", "d2", 0).unwrap(), None);
        assert_eq!(
            j.find_duplicate("@town_news", "d1", now() + 10).unwrap(),
            None
        );
        j.mark_done_all(&[(id, BundleState::Archived, Path::new("/archive/2026/11"))])
            .unwrap();
        assert!(j.finished_bundles().unwrap().is_empty());
        assert!(j.open_deliveries().unwrap().is_empty());
    }

    /// A server froze in the middle of a request and recorded Telegram's answer when it woke,
    /// after the other server had adopted the work folder, whose log then said "in flight". The
    /// bundle came back to it through the other's work folder (handed over here, carried from
    /// there): its own record of the post is the answer, and the post is not sent again (the
    /// two-server soak found it posted twice by the same server).
    #[test]
    fn a_bundle_handed_over_and_carried_back_keeps_what_this_journal_posted() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let first = insert(&j, bundle("d1"));
        let open = j.open_deliveries().unwrap();
        let news = open.iter().find(|d| d.chat == "@town_news").unwrap().id;
        write(
            &j,
            Write::Sent {
                delivery_id: news,
                messages: vec![sent(0, 42)],
            },
        );
        write(
            &j,
            Write::Finish {
                delivery_id: news,
                outcome: DeliveryOutcome::Sent,
            },
        );
        j.hand_over(&[first]).unwrap();
        let b = bundle("d1");
        let key = crate::sentlog::key(b.files.iter().map(|f| f.sha256.as_str()));
        let in_flight = crate::sentlog::Carried {
            sent: vec![],
            in_flight: Some(0),
        };
        let carried = ["@town_news", "-100222"]
            .map(|chat| ((key.clone(), chat.to_string()), in_flight.clone()))
            .into_iter()
            .collect();
        j.carry(&carried).unwrap();
        insert(&j, b);
        let again = j.open_deliveries().unwrap();
        let news = again.iter().find(|d| d.chat == "@town_news").unwrap();
        assert_eq!(news.sent, vec![sent(0, 42)]);
        assert_eq!(news.in_flight, None);
        // The other channel's request was not answered here: it stays in flight (`uncertain`).
        let other = again.iter().find(|d| d.chat == "-100222").unwrap();
        assert!(other.sent.is_empty());
        assert_eq!(other.in_flight, Some(0));

        // An earlier post of the same files (`repost: true`), handed over two hours ago, is not
        // the bundle coming back: its messages do not count for a new one.
        j.with(|c| {
            c.execute(
                "UPDATE bundles SET done_at = done_at - 7200 WHERE state = 'handed_over'",
                [],
            )
        })
        .unwrap();
        j.carry(&carried).unwrap();
        let third = insert(&j, bundle("d1"));
        let open = j.open_deliveries().unwrap();
        let news = open
            .iter()
            .find(|d| d.bundle_id == third && d.chat == "@town_news")
            .unwrap();
        assert!(news.sent.is_empty(), "{:?}", news.sent);
        assert_eq!(news.in_flight, Some(0));
    }

    /// The text stored for each state is the one earlier journals hold.
    #[test]
    fn bundle_states_as_stored() {
        let stored: Vec<&str> = BundleState::ALL.iter().map(|b| b.as_str()).collect();
        assert_eq!(
            stored,
            [
                "scheduled",
                "ready",
                "refused",
                "archived",
                "failed",
                "cancelled",
                "handed_over"
            ]
        );
        for b in BundleState::ALL {
            assert_eq!(BundleState::parse(b.as_str()), Some(b));
            assert_eq!(b.to_string(), b.as_str());
        }
        assert_eq!(BundleState::parse("sent"), None);
    }

    #[test]
    fn scheduled_bundles_wait_until_released_or_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let a = insert(
            &j,
            NewBundle {
                publish_at: Some(2000),
                ..bundle("a")
            },
        );
        let b = insert(
            &j,
            NewBundle {
                publish_at: Some(1000),
                ..bundle("b")
            },
        );
        assert!(
            j.open_deliveries().unwrap().is_empty(),
            "scheduled bundles are not sent"
        );
        let s = j.scheduled().unwrap();
        assert_eq!(
            s.iter().map(|s| s.bundle_id).collect::<Vec<_>>(),
            vec![b, a]
        );
        j.release(b).unwrap();
        assert_eq!(j.open_deliveries().unwrap().len(), 2);
        j.cancel(a, "removed").unwrap();
        assert_eq!(j.scheduled().unwrap().len(), 0);
        assert!(
            j.finished_bundles().unwrap().is_empty(),
            "a cancelled bundle is not finished"
        );
        assert_eq!(
            j.counts().unwrap(),
            vec![(BundleState::Cancelled, 1), (BundleState::Ready, 1)]
        );
    }

    /// The queries made once per bundle must find their rows through an index: a scan of a
    /// table that grows with every bundle makes a backlog quadratic (it did: files by bundle,
    /// deliveries by bundle, duplicates by channel).
    #[test]
    fn per_bundle_queries_never_scan_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let plans: Vec<(String, String)> = j
            .with(|c| {
                let mut out = Vec::new();
                for sql in PER_BUNDLE_QUERIES {
                    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let n = st.parameter_count();
                    let args: Vec<i64> = vec![0; n];
                    let rows: Vec<String> = st
                        .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?
                        .collect::<Result<_, _>>()?;
                    out.push((sql.to_string(), rows.join("; ")));
                }
                Ok(out)
            })
            .unwrap();
        for (sql, plan) in plans {
            // Searching deliveries by channel is a search, but of every post ever made there.
            if sql == DUPLICATE {
                assert!(plan.contains("bundles_digest"), "{plan}");
            }
            assert!(
                !plan.contains("SCAN"),
                "a per-bundle query scans a table:\n{sql}\n{plan}"
            );
        }
    }

    #[test]
    fn missing_journal_is_refused_not_recreated() {
        let dir = tempfile::tempdir().unwrap();
        drop(Journal::open(dir.path()).unwrap());
        std::fs::remove_file(dir.path().join(FILE_NAME)).unwrap();
        let err = Journal::open(dir.path()).err().unwrap();
        assert!(matches!(err, JournalError::Missing { .. }), "{err}");
    }

    /// What `status` and the status page open: it reads what the daemon wrote, refuses to write,
    /// and leaves the journal's data as it was, with the daemon running or stopped.
    #[test]
    fn reader_reads_and_never_writes() {
        let dir = tempfile::tempdir().unwrap();
        let err = JournalReader::open(dir.path()).err().unwrap();
        assert!(matches!(err, JournalError::Absent { .. }), "{err}");
        assert!(
            !dir.path().join(FILE_NAME).exists(),
            "a reader created a journal"
        );

        let j = Journal::open(dir.path()).unwrap();
        j.insert_bundles(&[NewBundle {
            publish_at: Some(1000),
            ..bundle("a")
        }])
        .unwrap();
        let data = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
        let before = (data(FILE_NAME), data("journal.sqlite-wal"));
        // While the daemon holds the journal open.
        let r = JournalReader::open(dir.path()).unwrap();
        assert_eq!(r.scheduled().unwrap().len(), 1);
        let write = r.with(|c| c.execute("DELETE FROM bundles", []));
        assert!(write.is_err(), "a reader could write");
        assert_eq!(before, (data(FILE_NAME), data("journal.sqlite-wal")));
        drop(r);

        // The daemon stopped: its last close folded the WAL into the file and removed it. SQLite
        // makes an empty WAL and its index again for the reader, to agree with a daemon that may
        // start meanwhile; the data stays as it was.
        drop(j);
        assert!(!dir.path().join("journal.sqlite-wal").exists());
        let before = data(FILE_NAME);
        let r = JournalReader::open(dir.path()).unwrap();
        assert_eq!(r.scheduled().unwrap().len(), 1);
        assert_eq!(r.counts().unwrap().len(), 1);
        drop(r);
        assert_eq!(before, data(FILE_NAME));
        assert_eq!(data("journal.sqlite-wal"), b"");
        // And the daemon starts as usual after a reader.
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.scheduled().unwrap().len(), 1);
    }

    #[test]
    fn reader_refuses_what_is_not_a_journal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![0x42u8; 8192]).unwrap();
        let err = JournalReader::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert_eq!(
            std::fs::read(dir.path().join(FILE_NAME)).unwrap(),
            vec![0x42u8; 8192]
        );
    }

    #[test]
    fn corrupt_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![0x42u8; 8192]).unwrap();
        let err = Journal::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
