//! A strict fake of the Telegram Bot API for dropcast's integration tests: it answers like
//! `api.telegram.org` and records every way a request breaks the published spec.
//!
//! # Using it
//!
//! ```ignore
//! let bot = FakeBot::builder("123:abc").channel("@town_news", -1001234567890).start();
//! // run dropcast with `bot.url()` as its Bot API root, then:
//! let posts = bot.wait_for_posts(1, Duration::from_secs(10));
//! assert_eq!(posts[0].method, "sendDocument");
//! bot.assert_clean();
//! ```
//!
//! The API is synchronous because the tests drive the real `dropcast` binary with
//! `std::process`; the server runs on its own thread with its own tokio runtime, bound to
//! `127.0.0.1:0`, and stops when the `FakeBot` is dropped.
//!
//! # What counts as a violation
//!
//! A violation is a request that breaks a rule the Bot API publishes: the schema in
//! `tests/data/api.min.json` (methods, parameters, types, required fields, `attach://`
//! references), the limits its descriptions state (text 1-4096 and captions 0-1024 characters
//! after entities parsing, photos of at most 10 MB with width + height <= 10000 and a ratio of at
//! most 20, uploads of at most 50 MB, albums of 2-10 items where documents and audio files only go
//! with their own kind), and Telegram's HTML. Such a request is refused with the error Telegram
//! gives (or, where Telegram would quietly accept it, a `400 Bad Request` that says what is
//! wrong). Answers that depend on the world rather than on the request's shape (wrong token, chat
//! not found, message to pin not found, an unknown `file_id`, an upload that is no image, faults
//! queued with [`FakeBot::fail_next`]) are given like Telegram gives them but are not violations:
//! dropcast meets them in production and must handle them.
//!
//! # Flood limits
//!
//! With [`FakeBotBuilder::rate_limits`] the fake enforces Telegram's published flood limits:
//! per chat 1 message per second and 20 per minute, and 30 messages per second across chats,
//! every window multiplied by the scale. Every message a request creates counts (an album of N
//! counts N) at the moment the request is accepted; requests refused, faulted or creating no
//! message (getMe, getChat, getChatMember, pinChatMessage, ...) count nothing. A request whose
//! messages do not fit is answered `429 Too Many Requests: retry after N` like Telegram, with N
//! the real seconds until they fit, rounded up, at least 1. An album larger than a limit (3
//! photos against 1 per second) fits when that limit's window is empty, as Telegram lets one
//! album through and makes the next message wait. Refusals are no violation, since dropcast
//! handles them, but [`FakeBot::count_429`] lets a test assert that a paced client meets none.
//!
//! # Deliberately stricter than Telegram
//!
//! Telegram forgives some mistakes that would still be bugs in dropcast, so the fake refuses them:
//! unknown parameters (Telegram ignores them), a bare `&` that starts no entity and named
//! entities other than `&lt;` `&gt;` `&amp;` `&quot;` (Telegram shows them literally), attributes
//! the HTML formatting options do not list (Telegram ignores them), Booleans other than
//! `true`/`false`, JSON `null` values (Telegram reads the text "null"), a `parse_mode` other than
//! exactly `HTML`, `MarkdownV2` or `Markdown`, a method name spelled in another case, multipart
//! parts without a filename that carry a file, and albums of a single item. Markdown is not
//! parsed: with a Markdown `parse_mode` the raw text is counted.
//!
//! # Telling clients apart
//!
//! A client whose Bot API root is [`FakeBot::url_via`]`(name)` (`http://127.0.0.1:PORT/via/NAME`)
//! is answered as any other, and its requests are recorded with [`Recorded::via`] `Some(NAME)`:
//! a test that runs several dropcasts at once (a standby server, one run after another) can tell
//! whose request each one was. Telegram has no such prefix; a reverse proxy in front of a Local
//! Bot API server may.
//!
//! # Local Bot API server
//!
//! With [`FakeBotBuilder::local_server`] the fake answers like a self-hosted `telegram-bot-api`
//! started with `--local`. Besides uploads (still accepted), an InputFile parameter (`document`,
//! `photo`, `animation`, ...) or a file field of an InputMedia (`media`, `thumbnail`, ...) may
//! then be `file:///absolute/path` (or `file://localhost/absolute/path`), percent-encoded, in
//! any kind of body. The fake decodes the path and reads the file from disk as the request
//! arrives, hashing it as it streams like an upload, and records it in [`Recorded::files`] as an
//! [`Upload`] whose [`Upload::local_path`] is the decoded path and whose `file_name` is the
//! file's name on disk. Its `field` is the parameter's name (`document`) for a top-level
//! parameter; for an InputMedia it is the item's position, `media[0]` for the first item's
//! `media` and `media[0].thumbnail` for its other file fields (the path the schema check names
//! it by, since the fake cannot know what attach name a client would have picked).
//!
//! The limits are the local server's: a file of at most 2000 MB (TDLib's 2000 << 20 bytes),
//! uploaded or named by path, instead of 50 MB; a larger one is refused with
//! `400 Bad Request: file is too big`, TDLib's "File is too big" as the Bot API server words it
//! (a path is refused from its size on disk, without reading it). A photo is still limited to
//! 10 MB, which Telegram's servers enforce. All of these refusals are violations, and so are
//! these, which dropcast must not send:
//! - a path that does not exist or is no regular file: `400 Bad Request: file not found` (the
//!   real server's wording varies with its version; the fake says what it found in the
//!   violation);
//! - a `file:` URI that is no absolute `file:///` path, has a `%` that starts no `%XX`, or a raw
//!   character a URI path may not hold (space, `#`, `?`, `"`, `\`, non-ASCII, controls), which the
//!   real server may read differently: `400 Bad Request: wrong file identifier/HTTP URL
//!   specified` (stricter than Telegram).
//!
//! Without `local_server()` a `file:` URI anywhere a file goes is refused as before, with
//! `400 Bad Request: wrong file identifier/HTTP URL specified`, and is a violation: the public
//! Bot API never reads the sender's disk.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::IntoFuture;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/api.min.json");

/// Telegram's limit for files bots upload; api.telegram.org's nginx refuses larger requests.
const MAX_UPLOAD: u64 = 50 * 1024 * 1024;
/// A Local Bot API server's limit for files, uploaded or named by path: TDLib's 2000 << 20.
const LOCAL_MAX_FILE: u64 = 2000 * 1024 * 1024;
/// The sendPhoto limit, in TDLib's binary megabytes.
const MAX_PHOTO: u64 = 10 * 1024 * 1024;
/// Past this the fake stops reading, so a runaway client cannot fill the disk or the test's time.
const BODY_CAP: u64 = 64 * 1024 * 1024;
/// [`BODY_CAP`] for a Local Bot API server: its file limit plus the same slack.
const LOCAL_BODY_CAP: u64 = LOCAL_MAX_FILE + (BODY_CAP - MAX_UPLOAD);
/// How much of a file named by `file://` the fake reads at a time.
const LOCAL_READ_CHUNK: usize = 256 * 1024;
/// Enough of the start of an upload for the PNG, GIF and WebP headers (JPEG is scanned as it streams).
const HEAD_KEEP: usize = 64 * 1024;
/// A multipart part without a filename larger than this cannot be a sensible text parameter.
const MAX_TEXT_PART: usize = 1024 * 1024;
/// Bodies other than multipart are parameters only; this is far above any legitimate one.
const MAX_PLAIN_BODY: usize = 16 * 1024 * 1024;

const DEFAULT_BOT_USERNAME: &str = "dropcast_test_bot";

// ---------------------------------------------------------------------------------------------
// The public face
// ---------------------------------------------------------------------------------------------

/// A fault to inject into the next request for a method: it is answered instead of the real
/// answer, before any limit is checked (schema violations of that request are still recorded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `429` with `parameters.retry_after`, as Telegram's flood control answers.
    RetryAfter(u64),
    /// Any status with this description, as `{"ok":false,"error_code":..,"description":..}`;
    /// `502` and `504` come as nginx's HTML page instead, as they do from api.telegram.org.
    Status(u16, String),
    /// Accept the request and never answer, until the fake is dropped.
    Hang,
    /// Cut the connection instead of answering, as a reset or a dying proxy does: the client
    /// gets no answer and nothing is posted.
    Reset,
    /// For `sendMediaGroup`, what Telegram does when flood control strikes mid-album: the
    /// album is checked as usual, its first `sent` items (at most all) become messages, which
    /// count against the flood limits, and the answer is
    /// `400 Bad Request: Too Many Requests: retry after <retry_after>`. An album refused for its
    /// own shape gets that refusal instead and posts nothing; other methods get the 400 only.
    AlbumPartial { sent: usize, retry_after: u64 },
    /// Carry the request out as usual (the message is posted when it arrives), but answer only
    /// after this long: a post that is going out while something else happens.
    SlowAnswer(Duration),
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The method as the spec spells it, or as sent when the spec has no such method.
    pub method: String,
    pub token_ok: bool,
    /// The chat as the test set it up: `@username` as registered for a public channel (even
    /// when dropcast addressed it by its numeric id, as it does once `getChat` resolved it, and
    /// after a rename), the numeric id for a private one; `chat_id` as sent for an unknown chat.
    pub chat_id: Option<String>,
    /// `chat_id` exactly as sent.
    pub chat_id_sent: Option<String>,
    /// Parameters that are not files, as text (JSON bodies: strings unquoted, other values as
    /// JSON text).
    pub fields: BTreeMap<String, String>,
    /// Multipart file parts, in the order they came; then, with
    /// [`FakeBotBuilder::local_server`], the files named by `file://` URI, by parameter name and
    /// album items in order (see the module docs for their `field`).
    pub files: Vec<Upload>,
    /// The thumbnails that came with its files, as Telegram takes them (see [`Thumbnail`]).
    pub thumbnails: Vec<Thumbnail>,
    /// What the fake answered; 0 when it did not (a hang, or a client that went away).
    pub status: u16,
    /// Messages this request created, in order.
    pub message_ids: Vec<i64>,
    /// When the request arrived.
    pub at: Instant,
    /// The body the fake answered: JSON, nginx's page as a string, or `Null` when it did not.
    pub response: Value,
    /// The client's name, when its root URL was [`FakeBot::url_via`]`(name)`.
    pub via: Option<String>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The upload in the multipart part named `field`, or the file read from disk for the
    /// parameter `field` (`document`, `media[1]`, ...).
    pub fn file(&self, field: &str) -> Option<&Upload> {
        self.files.iter().find(|upload| upload.field == field)
    }

    /// `description` of an error answer.
    pub fn description(&self) -> Option<&str> {
        self.response.get("description").and_then(Value::as_str)
    }
}

/// A multipart file part, or a file a Local Bot API server read from disk, hashed as it
/// streamed by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The part's name; for a file named by `file://`, the parameter (`document`) or the
    /// InputMedia's position (`media[0]`, `media[0].thumbnail`).
    pub field: String,
    /// The part's filename; for a file named by `file://`, its name on disk.
    pub file_name: Option<String>,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    /// For a file named by `file://` (only with [`FakeBotBuilder::local_server`]): the decoded
    /// path it was read from. `None` for an upload.
    pub local_path: Option<String>,
}

/// A message that exists in a chat, as [`FakeBot::chat_messages`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    pub message_id: i64,
    pub kind: MessageKind,
    /// The text or caption as the message shows it (after entities parsing and trimming).
    pub text: Option<String>,
    /// For a file: the sha256 of the upload it came from (also when sent again by `file_id`);
    /// `None` for text and for files sent by URL.
    pub sha256: Option<String>,
    pub file_name: Option<String>,
    pub media_group_id: Option<String>,
}

/// A message the fake posted, as the channel shows it now: after every edit Telegram accepted,
/// and, once deleted, as it last was (with `deleted` set). See [`FakeBot::message`].
#[derive(Clone, Debug, PartialEq)]
pub struct FakeMessage {
    pub chat_id: i64,
    pub message_id: i64,
    /// The method that posted it (`sendMessage`, `sendDocument`, `sendMediaGroup`, ...).
    pub method: String,
    /// What it shows now (an `editMessageMedia` may have changed it).
    pub kind: MessageKind,
    /// The text or caption as the message shows it (after entities parsing and trimming).
    pub text: Option<String>,
    /// The entities the message shows (`entities` or `caption_entities` of the Message):
    /// parsed from the HTML, or as the request gave them.
    pub entities: Vec<Value>,
    /// The text or caption as the request that last set it sent it, before parsing.
    pub sent_text: Option<String>,
    /// The `parse_mode` of that request.
    pub parse_mode: Option<String>,
    /// The inline keyboard the message shows (`{"inline_keyboard": [...]}`), if any.
    pub reply_markup: Option<Value>,
    /// For a file: the sha256 of the upload it came from (also when sent again by `file_id`);
    /// `None` for text and for files sent by URL.
    pub sha256: Option<String>,
    pub file_name: Option<String>,
    /// The `file_id` the fake gave the file it shows.
    pub file_id: Option<String>,
    pub media_group_id: Option<String>,
    pub pinned: bool,
    pub deleted: bool,
    /// When Telegram dates it; [`FakeBot::age_messages`] moves it back.
    pub sent_at: SystemTime,
    /// When the last accepted edit was made.
    pub edited_at: Option<SystemTime>,
    /// How many edits Telegram accepted (a refused or "not modified" one is no edit).
    pub edits: u32,
}

impl FakeMessage {
    /// The shorter view [`FakeBot::chat_messages`] gives.
    fn summary(&self) -> ChatMessage {
        ChatMessage {
            message_id: self.message_id,
            kind: self.kind,
            text: self.text.clone(),
            sha256: self.sha256.clone(),
            file_name: self.file_name.clone(),
            media_group_id: self.media_group_id.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Text,
    Photo,
    Document,
    Animation,
    Video,
    Audio,
    /// A message of a method the fake does not model (sendLocation, ...).
    Other,
}

/// Configures the bot and the channels it may post to.
#[derive(Clone, Debug)]
pub struct FakeBotBuilder {
    token: String,
    bot_username: String,
    channels: Vec<Channel>,
    flood_scale: Option<f64>,
    local: bool,
    withheld_rights: Vec<String>,
}

impl FakeBotBuilder {
    /// A public channel; `username` with or without the `@`.
    pub fn channel(mut self, username: &str, id: i64) -> Self {
        let username = username.trim_start_matches('@').to_owned();
        self.channels.push(Channel {
            id,
            title: title_of(&username),
            username: Some(username),
        });
        self
    }

    /// A private channel, reachable by its numeric id only.
    pub fn channel_private(mut self, id: i64) -> Self {
        self.channels.push(Channel {
            id,
            title: format!("Private channel {id}"),
            username: None,
        });
        self
    }

    pub fn bot_username(mut self, username: &str) -> Self {
        self.bot_username = username.trim_start_matches('@').to_owned();
        self
    }

    /// Enforces Telegram's flood limits (see the module docs) with every window multiplied by
    /// `scale`: at 0.05 a chat takes 1 message per 50 ms and 20 per 3 s, and all chats together
    /// 30 per 50 ms. The `retry_after` of a refusal stays in real seconds, at least 1.
    pub fn rate_limits(mut self, scale: f64) -> Self {
        assert!(
            scale.is_finite() && scale > 0.0,
            "fake bot: the rate limit scale must be a positive number, got {scale}"
        );
        self.flood_scale = Some(scale);
        self
    }

    /// Answers like a Local Bot API server started with `--local`: files may be named by
    /// `file:///absolute/path` and may be 2000 MB (see the module docs).
    pub fn local_server(mut self) -> Self {
        self.local = true;
        self
    }

    /// The bot is an admin without this right (`can_delete_messages`, `can_edit_messages`...)
    /// in every channel, as `getChatMember` tells it. Only the answer changes: the fake does not
    /// refuse the methods the right would be needed for.
    pub fn withhold_right(mut self, right: &str) -> Self {
        self.withheld_rights.push(right.to_owned());
        self
    }

    pub fn start(self) -> FakeBot {
        // Parse the spec before serving so a broken spec fails the test here, not in a handler.
        spec();
        let channels = if self.channels.is_empty() {
            FakeBot::builder(&self.token)
                .channel("@town_news", -1001234567890)
                .channel("@town_alerts", -1001111111111)
                .channels
        } else {
            self.channels
        };
        let shared = Arc::new(Shared {
            bot: Bot {
                id: bot_id_of(&self.token),
                username: self.bot_username,
                withheld_rights: self.withheld_rights,
            },
            token: self.token,
            local: self.local,
            world: Mutex::new(World {
                chats: channels
                    .into_iter()
                    .map(|channel| ChatState {
                        registered: channel
                            .username
                            .as_ref()
                            .map_or_else(|| channel.id.to_string(), |u| format!("@{u}")),
                        channel,
                        next_message_id: 1,
                        messages: BTreeMap::new(),
                    })
                    .collect(),
                flood: self.flood_scale.map(Flood::new),
                ..World::default()
            }),
            changed: Condvar::new(),
        });
        // Bound here, synchronously, so the port accepts connections as soon as start returns.
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("fake bot: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("fake bot: make the listener non-blocking");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("fake bot: local address")
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .fallback(handle)
            // Uploads may be 50 MB and more; the handler counts and caps the bytes itself.
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name("fake-bot".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake bot: tokio runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("fake bot: tokio listener");
                    tokio::select! {
                        served = axum::serve(listener, app).into_future() => {
                            if let Err(error) = served {
                                eprintln!("fake bot: server stopped: {error}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                // Not a graceful shutdown on purpose: hanging requests and half-sent uploads
                // must not keep the test waiting.
                runtime.shutdown_background();
            })
            .expect("fake bot: spawn the server thread");
        FakeBot {
            shared,
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

/// The fake server; dropping it stops the server.
pub struct FakeBot {
    shared: Arc<Shared>,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeBot {
    /// A fake with the default channels `@town_news` (-1001234567890) and `@town_alerts`
    /// (-1001111111111).
    pub fn start(token: &str) -> FakeBot {
        Self::builder(token).start()
    }

    pub fn builder(token: &str) -> FakeBotBuilder {
        FakeBotBuilder {
            token: token.to_owned(),
            bot_username: DEFAULT_BOT_USERNAME.to_owned(),
            channels: Vec::new(),
            flood_scale: None,
            local: false,
            withheld_rights: Vec::new(),
        }
    }

    /// `http://127.0.0.1:PORT`; clients append `/bot<TOKEN>/<method>`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// `http://127.0.0.1:PORT/via/NAME`: the same fake, recording `name` in [`Recorded::via`] of
    /// every request sent through it. `name` is one path segment.
    pub fn url_via(&self, name: &str) -> String {
        assert!(
            !name.is_empty() && !name.contains(['/', '?', '#', '%']),
            "fake bot: {name:?} is not one path segment"
        );
        format!("{}/via/{name}", self.url)
    }

    /// Every request, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Successful `send*` requests only (`sendChatAction` posts nothing, so it is left out).
    pub fn posts(&self) -> Vec<Recorded> {
        posts_of(&self.shared.lock().requests)
    }

    /// Every message that exists in the chat with this id, oldest first: those of successful
    /// sends and of partly sent albums, less the deleted ones. Panics for a chat the fake lacks.
    pub fn chat_messages(&self, chat_id: i64) -> Vec<ChatMessage> {
        self.with_chat(chat_id, |chat| {
            chat.messages
                .values()
                .filter(|m| !m.shown.deleted)
                .map(|m| m.shown.summary())
                .collect()
        })
    }

    /// The message `message_id` of the chat as it is now: edited, pinned, or deleted (then it
    /// says so and shows what it last showed). `None` for a message the fake never posted there.
    /// Panics for a chat the fake lacks.
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<FakeMessage> {
        self.with_chat(chat_id, |chat| {
            chat.messages.get(&message_id).map(|m| m.shown.clone())
        })
    }

    /// Every message the fake posted in the chat, deleted ones included, oldest first.
    pub fn messages(&self, chat_id: i64) -> Vec<FakeMessage> {
        self.with_chat(chat_id, |chat| {
            chat.messages.values().map(|m| m.shown.clone()).collect()
        })
    }

    /// The ids of the messages pinned in the chat now, in ascending order (a channel may pin
    /// several; Telegram shows the most recent one on top).
    pub fn pinned(&self, chat_id: i64) -> Vec<i64> {
        self.with_chat(chat_id, |chat| {
            chat.messages
                .values()
                .filter(|m| m.shown.pinned)
                .map(|m| m.shown.message_id)
                .collect()
        })
    }

    /// Makes every message of every chat `by` older, as if it had been sent that much earlier:
    /// a test reaches Telegram's 48-hour limit on deletions without waiting.
    pub fn age_messages(&self, by: Duration) {
        let mut world = self.shared.lock();
        for chat in &mut world.chats {
            for message in chat.messages.values_mut() {
                message.age(by);
            }
        }
    }

    /// Makes one message `by` older. Panics for a chat or message the fake lacks.
    pub fn age_message(&self, chat_id: i64, message_id: i64, by: Duration) {
        let mut world = self.shared.lock();
        let Some(index) = world.chats.iter().position(|c| c.channel.id == chat_id) else {
            drop(world);
            panic!("fake bot: no chat {chat_id}");
        };
        let Some(message) = world.chats[index].messages.get_mut(&message_id) else {
            drop(world);
            panic!("fake bot: chat {chat_id} has no message {message_id}");
        };
        message.age(by);
    }

    /// Renames a public channel, as its owner can in the Telegram app: from now on it is
    /// `@new_username` (with or without the `@`); `@old` answers "chat not found", and the
    /// numeric id keeps working. Panics for a chat the fake lacks or a name another chat has.
    pub fn rename_channel(&self, chat_id: i64, new_username: &str) {
        let new_username = new_username.trim_start_matches('@').to_owned();
        let mut world = self.shared.lock();
        let taken = world.chats.iter().any(|c| {
            c.channel.id != chat_id
                && c.channel
                    .username
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(&new_username))
        });
        let Some(chat) = world.chats.iter_mut().find(|c| c.channel.id == chat_id) else {
            drop(world);
            panic!("fake bot: no chat {chat_id}");
        };
        if taken {
            drop(world);
            panic!("fake bot: @{new_username} belongs to another chat");
        }
        chat.channel.username = Some(new_username);
    }

    /// The chat's `@username` now, without the `@`; `None` for a private channel. Panics for a
    /// chat the fake lacks.
    pub fn channel_username(&self, chat_id: i64) -> Option<String> {
        self.with_chat(chat_id, |chat| chat.channel.username.clone())
    }

    /// `f` of the chat with this id; panics for a chat the fake lacks.
    fn with_chat<T>(&self, chat_id: i64, f: impl FnOnce(&ChatState) -> T) -> T {
        let world = self.shared.lock();
        match world.chats.iter().find(|c| c.channel.id == chat_id) {
            Some(chat) => f(chat),
            None => {
                let known: Vec<i64> = world.chats.iter().map(|c| c.channel.id).collect();
                drop(world);
                panic!("fake bot: no chat {chat_id}; it has {known:?}");
            }
        }
    }

    /// Every request to `method` (as the spec spells it), in arrival order, whatever the answer.
    pub fn requests_for(&self, method: &str) -> Vec<Recorded> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    }

    /// How many requests the flood limits refused with `429` (faults queued with
    /// [`FakeBot::fail_next`] are not counted); always 0 without
    /// [`FakeBotBuilder::rate_limits`].
    pub fn count_429(&self) -> usize {
        self.shared
            .lock()
            .flood
            .as_ref()
            .map_or(0, |flood| flood.refused)
    }

    /// Every way a request broke the spec, each naming the request.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// Panics listing the violations and the requests, if there is any violation.
    pub fn assert_clean(&self) {
        let world = self.shared.lock();
        if world.violations.is_empty() {
            return;
        }
        let report = format!(
            "the fake Bot API saw {} violation(s):\n  {}\n{}",
            world.violations.len(),
            world.violations.join("\n  "),
            describe(&world.requests)
        );
        drop(world);
        panic!("{report}");
    }

    /// Queues `fault` for the next request to `method` (any case; `"*"` for any method). Faults
    /// are used once each, in the order they were queued.
    pub fn fail_next(&self, method: &str, fault: Fault) {
        self.shared
            .lock()
            .faults
            .push_back((method.to_owned(), fault));
    }

    /// Waits until at least `n` posts have succeeded and returns all of them; panics at the
    /// deadline, saying what the fake has seen.
    pub fn wait_for_posts(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        self.wait_until(timeout, &format!("{n} successful post(s)"), |requests| {
            posts_of(requests).len() >= n
        });
        self.posts()
    }

    /// Waits until `cond` holds for the requests seen so far; panics at the deadline with
    /// `what` and a description of every request.
    pub fn wait_until(&self, timeout: Duration, what: &str, cond: impl Fn(&[Recorded]) -> bool) {
        let deadline = Instant::now() + timeout;
        let mut world = self.shared.lock();
        loop {
            if cond(&world.requests) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                let report = format!(
                    "timed out after {timeout:?} waiting for {what}\n{}\nviolations so far: {:?}",
                    describe(&world.requests),
                    world.violations
                );
                // Unlocked before panicking so the mutex is not poisoned for Drop and others.
                drop(world);
                panic!("{report}");
            }
            world = self
                .shared
                .changed
                .wait_timeout(world, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for FakeBot {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be gone; there is nothing to do about it then.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn posts_of(requests: &[Recorded]) -> Vec<Recorded> {
    requests
        .iter()
        .filter(|r| r.status == 200 && r.method.starts_with("send") && r.method != "sendChatAction")
        .cloned()
        .collect()
}

/// One line per request, for panic messages.
fn describe(requests: &[Recorded]) -> String {
    if requests.is_empty() {
        return "the fake Bot API has received no request".to_owned();
    }
    let mut out = format!(
        "the fake Bot API has received {} request(s):",
        requests.len()
    );
    for (index, r) in requests.iter().enumerate() {
        let fields: Vec<String> = r
            .fields
            .iter()
            .map(|(name, value)| format!("{name}={}", shorten(value, 60)))
            .collect();
        let files: Vec<String> = r
            .files
            .iter()
            .map(|f| {
                format!(
                    "{}={}({} bytes{})",
                    f.field,
                    f.file_name.as_deref().unwrap_or("-"),
                    f.size,
                    if f.local_path.is_some() {
                        ", from disk"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        out.push_str(&format!(
            "\n  #{index} {} -> {}{} {} {}",
            r.method,
            r.status,
            r.description()
                .map(|d| format!(" {d:?}"))
                .unwrap_or_default(),
            fields.join(" "),
            files.join(" ")
        ));
    }
    out
}

/// `text` quoted, cut after `max` characters.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        format!("{text:?}")
    } else {
        format!("{:?}...", clip(text, max))
    }
}

/// `text` cut after `max` characters.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

fn title_of(username: &str) -> String {
    username
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Telegram tokens start with the bot's id; other tokens get a fixed one.
fn bot_id_of(token: &str) -> i64 {
    token
        .split(':')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or(7_000_000_001)
}

// ---------------------------------------------------------------------------------------------
// State shared between the test thread and the server
// ---------------------------------------------------------------------------------------------

struct Shared {
    token: String,
    /// Whether the fake answers like a Local Bot API server.
    local: bool,
    bot: Bot,
    world: Mutex<World>,
    /// Notified after every request is recorded, for the waits.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, World> {
        // A panicking test must not turn every later call into a second, confusing panic.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Bot {
    id: i64,
    username: String,
    /// Admin rights `getChatMember` answers as false (see `FakeBotBuilder::withhold_right`).
    withheld_rights: Vec<String>,
}

impl Bot {
    fn user(&self) -> Value {
        json!({
            "id": self.id,
            "is_bot": true,
            "first_name": "Dropcast",
            "username": self.username,
            "can_join_groups": false,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
        })
    }
}

#[derive(Clone, Debug)]
struct Channel {
    id: i64,
    username: Option<String>,
    title: String,
}

#[derive(Default)]
struct World {
    requests: Vec<Recorded>,
    violations: Vec<String>,
    faults: VecDeque<(String, Fault)>,
    chats: Vec<ChatState>,
    /// Every file the fake has handed out an id for, so files can be sent again by `file_id`.
    files: HashMap<String, StoredFile>,
    next_file: u64,
    next_album: u64,
    /// `None` unless the builder asked for rate limits.
    flood: Option<Flood>,
}

struct ChatState {
    /// How the test named it: `@username` as first registered, or the id.
    registered: String,
    channel: Channel,
    next_message_id: i64,
    messages: BTreeMap<i64, StoredMessage>,
}

/// A message as the fake keeps it: the Message object Telegram would return for it now, and
/// the public view derived from it.
struct StoredMessage {
    shown: FakeMessage,
    /// The Message object, without its `chat` and `sender_chat`, which are the chat's as it is
    /// when the message is returned (a renamed channel shows its new name).
    json: Map<String, Value>,
    /// The file it shows, if any.
    file: Option<StoredFile>,
}

/// What a request said about a message besides its content: kept in [`FakeMessage`].
#[derive(Default)]
struct Meta {
    method: String,
    parse_mode: Option<String>,
    sent_text: Option<String>,
    reply_markup: Option<Value>,
}

/// The keys of a Message that hold what it shows: its text or media and their caption.
const CONTENT_KEYS: &[&str] = &[
    "text",
    "entities",
    "link_preview_options",
    "photo",
    "document",
    "animation",
    "video",
    "audio",
    "caption",
    "caption_entities",
    "show_caption_above_media",
    "has_media_spoiler",
];

/// Telegram's rule for deletions by bots in channels (TDLib's `can_delete_channel_message`).
const DELETE_LIMIT: Duration = Duration::from_secs(48 * 3600);

impl StoredMessage {
    /// Derives the public view from the Message object and the file.
    fn sync(&mut self) {
        let json = &self.json;
        let shown = &mut self.shown;
        let string = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
        shown.kind = match self.file.as_ref() {
            Some(file) => message_kind(file.kind),
            None if json.contains_key("text") => MessageKind::Text,
            None => MessageKind::Other,
        };
        shown.text = string("text").or_else(|| string("caption"));
        shown.entities = json
            .get("entities")
            .or_else(|| json.get("caption_entities"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        shown.reply_markup = json.get("reply_markup").cloned();
        shown.sha256 = self.file.as_ref().and_then(|f| f.sha256.clone());
        shown.file_name = self.file.as_ref().and_then(|f| f.name.clone());
        shown.file_id = self.file.as_ref().map(|f| f.file_id.clone());
        shown.media_group_id = string("media_group_id");
    }

    fn age(&mut self, by: Duration) {
        self.shown.sent_at = self.shown.sent_at.checked_sub(by).unwrap_or(UNIX_EPOCH);
        self.json
            .insert("date".into(), json!(unix_of(self.shown.sent_at)));
    }

    /// The Message object as Telegram returns it now, in `chat`.
    fn message(&self, chat: &ChatState) -> Value {
        let mut message = Value::Object(self.json.clone());
        message["chat"] = chat.chat();
        message["sender_chat"] = chat.chat();
        message
    }

    /// Not deleted: what Telegram can still find.
    fn live(&self) -> bool {
        !self.shown.deleted
    }
}

/// Telegram's flood limits at scale 1: (messages, window, whether the limit is per chat).
const FLOOD_LIMITS: [(usize, Duration, bool); 3] = [
    (1, Duration::from_secs(1), true),
    (20, Duration::from_secs(60), true),
    (30, Duration::from_secs(1), false),
];

/// The messages accepted lately, to enforce the flood limits.
struct Flood {
    scale: f64,
    /// (when it was accepted, chat id), one entry per message, oldest first.
    sent: VecDeque<(Instant, i64)>,
    /// Requests refused with 429.
    refused: usize,
}

impl Flood {
    fn new(scale: f64) -> Flood {
        Flood {
            scale,
            sent: VecDeque::new(),
            refused: 0,
        }
    }

    /// How long until `n` more messages to `chat` fit every limit; zero when they fit now.
    fn wait(&mut self, chat: i64, n: usize, now: Instant) -> Duration {
        let longest = FLOOD_LIMITS
            .iter()
            .map(|(_, window, _)| window.mul_f64(self.scale))
            .max()
            .unwrap_or_default();
        while self
            .sent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= longest)
        {
            self.sent.pop_front();
        }
        let mut wait = Duration::ZERO;
        for (limit, window, per_chat) in FLOOD_LIMITS {
            let window = window.mul_f64(self.scale);
            let recent: Vec<Instant> = self
                .sent
                .iter()
                .filter(|(at, to)| (!per_chat || *to == chat) && now.duration_since(*at) < window)
                .map(|(at, _)| *at)
                .collect();
            // An album larger than the limit goes through an empty window, as on Telegram.
            let room = limit.max(n) - n;
            if recent.len() > room {
                // The messages that must leave the window first; the last of them frees it.
                let leaving = recent[recent.len() - room - 1];
                wait = wait.max((leaving + window).saturating_duration_since(now));
            }
        }
        wait
    }

    fn record(&mut self, chat: i64, n: usize, now: Instant) {
        self.sent.extend(std::iter::repeat_n((now, chat), n));
    }
}

impl ChatState {
    fn chat(&self) -> Value {
        let mut chat =
            json!({"id": self.channel.id, "type": "channel", "title": self.channel.title});
        if let Some(username) = &self.channel.username {
            chat["username"] = json!(username);
        }
        chat
    }

    fn full_info(&self) -> Value {
        let mut info = self.chat();
        info["accent_color_id"] = json!(0);
        info["max_reaction_count"] = json!(11);
        info["accepted_gift_types"] = json!({
            "unlimited_gifts": false,
            "limited_gifts": false,
            "unique_gifts": false,
            "premium_subscription": false,
            "gifts_from_channels": false,
        });
        if let Some(pinned) = self.latest_pinned() {
            info["pinned_message"] = self.messages[&pinned].message(self);
        }
        info
    }

    /// The most recent pinned message by sending date, as Telegram picks it for
    /// `ChatFullInfo.pinned_message` and for `unpinChatMessage` without `message_id`.
    fn latest_pinned(&self) -> Option<i64> {
        self.messages
            .values()
            .filter(|m| m.shown.pinned)
            .max_by_key(|m| (m.shown.sent_at, m.shown.message_id))
            .map(|m| m.shown.message_id)
    }

    /// The message `id` if Telegram can still find it (it was posted and is not deleted).
    fn live(&self, id: i64) -> Option<&StoredMessage> {
        self.messages.get(&id).filter(|m| m.live())
    }
}

impl World {
    /// `chat_id` as Telegram reads it: the numeric id, or `@username` in any case.
    fn chat_index(&self, chat_id: &str) -> Option<usize> {
        if let Ok(id) = chat_id.parse::<i64>() {
            return self.chats.iter().position(|c| c.channel.id == id);
        }
        let username = chat_id.strip_prefix('@')?;
        self.chats.iter().position(|c| {
            c.channel
                .username
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(username))
        })
    }

    fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|(m, _)| m == "*" || m.eq_ignore_ascii_case(method))?;
        self.faults.remove(index).map(|(_, fault)| fault)
    }

    fn new_file(
        &mut self,
        kind: MediaKind,
        name: Option<String>,
        size: u64,
        dims: Option<(u32, u32)>,
        sha256: Option<String>,
    ) -> StoredFile {
        self.next_file += 1;
        let n = self.next_file;
        let file = StoredFile {
            kind,
            file_id: format!("fake-{}-{n}", kind.word()),
            unique_id: format!("fakeu{n}"),
            name,
            size,
            dims,
            sha256,
        };
        self.files.insert(file.file_id.clone(), file.clone());
        file
    }

    /// Accepts `n` messages to the chat, or refuses them as Telegram's flood control does.
    fn admit(&mut self, chat: usize, n: usize) -> Result<(), Refusal> {
        let id = self.chats[chat].channel.id;
        let Some(flood) = &mut self.flood else {
            return Ok(());
        };
        let now = Instant::now();
        let wait = flood.wait(id, n, now);
        if wait.is_zero() {
            flood.record(id, n, now);
            return Ok(());
        }
        flood.refused += 1;
        let seconds = (wait.as_secs_f64().ceil() as u64).max(1);
        Err(Refusal {
            code: 429,
            description: format!("Too Many Requests: retry after {seconds}"),
            violation: false,
            retry_after: Some(seconds),
            detail: None,
        })
    }

    /// Counts `n` messages against the flood limits without asking whether they fit.
    fn count_sent(&mut self, chat: usize, n: usize) {
        let id = self.chats[chat].channel.id;
        if let Some(flood) = &mut self.flood {
            flood.record(id, n, Instant::now());
        }
    }

    /// Creates a message in the chat; `content` is what the message shows besides the
    /// envelope, `file` what it shows it from, `meta` what the request said besides.
    fn post(
        &mut self,
        chat: usize,
        content: Map<String, Value>,
        file: Option<&StoredFile>,
        meta: Meta,
        made: &mut Vec<i64>,
    ) -> Value {
        let state = &mut self.chats[chat];
        let id = state.next_message_id;
        state.next_message_id += 1;
        let now = SystemTime::now();
        let mut json = Map::new();
        json.insert("message_id".into(), json!(id));
        json.insert("date".into(), json!(unix_of(now)));
        json.extend(content);
        // Only an inline keyboard stays with a channel post.
        if let Some(markup) = shown_markup(meta.reply_markup) {
            json.insert("reply_markup".into(), markup);
        }
        let mut stored = StoredMessage {
            shown: FakeMessage {
                chat_id: state.channel.id,
                message_id: id,
                method: meta.method,
                kind: MessageKind::Other,
                text: None,
                entities: Vec::new(),
                sent_text: meta.sent_text,
                parse_mode: meta.parse_mode,
                reply_markup: None,
                sha256: None,
                file_name: None,
                file_id: None,
                media_group_id: None,
                pinned: false,
                deleted: false,
                sent_at: now,
                edited_at: None,
                edits: 0,
            },
            json,
            file: file.cloned(),
        };
        stored.sync();
        let message = stored.message(state);
        state.messages.insert(id, stored);
        made.push(id);
        message
    }
}

/// An inline keyboard as a message shows it: an empty one is none.
fn shown_markup(markup: Option<Value>) -> Option<Value> {
    markup.filter(|m| {
        m.get("inline_keyboard")
            .and_then(Value::as_array)
            .is_some_and(|rows| !rows.is_empty())
    })
}

fn unix_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Clone, Debug)]
struct StoredFile {
    kind: MediaKind,
    file_id: String,
    unique_id: String,
    name: Option<String>,
    size: u64,
    dims: Option<(u32, u32)>,
    /// Of the upload it came from; `None` for a file fetched by URL.
    sha256: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MediaKind {
    Photo,
    Document,
    Animation,
    Video,
    Audio,
    LivePhoto,
}

impl MediaKind {
    /// The kinds an `InputMedia*` `type` names.
    fn of_input_media(kind: &str) -> MediaKind {
        match kind {
            "photo" => MediaKind::Photo,
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            "animation" => MediaKind::Animation,
            "live_photo" => MediaKind::LivePhoto,
            _ => MediaKind::Document,
        }
    }

    fn word(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Document => "document",
            MediaKind::Animation => "animation",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::LivePhoto => "live_photo",
        }
    }

    /// TDLib's name for the kind, as its "can't use file of type X as Y" errors spell it.
    fn tdlib_name(self) -> &'static str {
        match self {
            MediaKind::Photo => "Photo",
            MediaKind::Document => "Document",
            MediaKind::Animation => "Animation",
            MediaKind::Video => "Video",
            MediaKind::Audio => "Audio",
            MediaKind::LivePhoto => "LivePhoto",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP: routing, reading parameters, answering
// ---------------------------------------------------------------------------------------------

enum Route {
    Bot { token: String, method: String },
    Other(String),
}

impl Route {
    fn of(path: &str) -> Route {
        path.strip_prefix("/bot")
            .and_then(|rest| rest.split_once('/'))
            .map(|(token, method)| Route::Bot {
                token: token.to_owned(),
                method: method.to_owned(),
            })
            .unwrap_or_else(|| Route::Other(path.to_owned()))
    }
}

/// `/via/NAME/rest` → (`NAME`, `/rest`): the name a client was given by [`FakeBot::url_via`].
fn split_via(path: &str) -> (Option<String>, &str) {
    path.strip_prefix("/via/")
        .and_then(|rest| rest.split_once('/'))
        .map_or((None, path), |(name, rest)| {
            (Some(name.to_owned()), &path[path.len() - rest.len() - 1..])
        })
}

enum Outcome {
    Answer(u16, Value),
    Html(u16, String),
    Hang,
    /// Cut the connection: headers, then a body that breaks off.
    Reset,
    /// The client went away before the request was complete: nobody to answer.
    Gone,
}

fn ok(result: Value) -> Outcome {
    Outcome::Answer(200, json!({"ok": true, "result": result}))
}

fn error(code: u16, description: &str) -> Outcome {
    Outcome::Answer(
        code,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

/// An error answer that tells the client how long to wait, as flood control answers.
fn retry_after(code: u16, description: &str, seconds: u64) -> Outcome {
    Outcome::Answer(
        code,
        json!({
            "ok": false,
            "error_code": code,
            "description": description,
            "parameters": {"retry_after": seconds},
        }),
    )
}

impl Fault {
    fn outcome(&self) -> Outcome {
        match self {
            Fault::RetryAfter(seconds) => retry_after(
                429,
                &format!("Too Many Requests: retry after {seconds}"),
                *seconds,
            ),
            Fault::AlbumPartial {
                retry_after: seconds,
                ..
            } => album_cut_short(*seconds).outcome(),
            Fault::Status(code @ (502 | 504), description) => Outcome::Html(
                *code,
                format!(
                    "<html>\r\n<head><title>{code} {description}</title></head>\r\n<body>\r\n\
                     <center><h1>{code} {description}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n\
                     </body>\r\n</html>\r\n"
                ),
            ),
            Fault::Status(code, description) => error(*code, description),
            Fault::Hang => Outcome::Hang,
            Fault::Reset => Outcome::Reset,
            // Taken before the request is decided (`Shared::take_slow`); never answered here.
            Fault::SlowAnswer(_) => error(500, "fake_bot bug: a slow answer decided as a fault"),
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let at = Instant::now();
    let (via, path) = split_via(request.uri().path());
    let route = Route::of(path);
    let mut incoming = read_params(request, shared.local).await;
    shared.read_local_files(&route, &mut incoming).await;
    let slow = shared.take_slow(&route);
    let outcome = shared.answer(at, &route, via, incoming);
    if let Some(d) = slow {
        tokio::time::sleep(d).await;
    }
    match outcome {
        Outcome::Answer(code, body) => (status_code(code), axum::Json(body)).into_response(),
        Outcome::Html(code, page) => (
            status_code(code),
            [(header::CONTENT_TYPE, "text/html")],
            page,
        )
            .into_response(),
        Outcome::Hang => std::future::pending().await,
        Outcome::Reset => {
            let broken = futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::other("connection reset by the fake"))
            });
            (
                [(header::CONTENT_LENGTH, "100")],
                axum::body::Body::from_stream(broken),
            )
                .into_response()
        }
        Outcome::Gone => StatusCode::BAD_REQUEST.into_response(),
    }
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The parameters of one request, from the query string and whichever body it has.
#[derive(Default)]
struct Incoming {
    fields: BTreeMap<String, String>,
    files: Vec<FilePart>,
    /// Ways the request's own encoding is wrong (violations).
    problems: Vec<String>,
    /// A file part over the upload limit, or a body over the cap: (part, bytes seen).
    oversized: Option<(String, u64)>,
    /// The client went away mid-body.
    aborted: bool,
    /// `file:` URIs the fake could not or would not read, in parameter order.
    local_refusals: Vec<LocalRefusal>,
}

/// Why a file named by `file:` URI was not read; every one is a violation.
struct LocalRefusal {
    /// The answer's description, without `Bad Request: `.
    description: String,
    /// What the fake found, for the violation.
    detail: String,
}

struct FilePart {
    upload: Upload,
    /// Width and height from the image header; `None` when the bytes are no image the fake reads.
    image: Option<(u32, u32)>,
    /// Whether it starts like a JPEG (SOI marker).
    jpeg: bool,
}

/// A thumbnail that came with a file (`thumbnail` of sendDocument, or of an InputMedia), as
/// Telegram would show it: an uploaded JPEG of at most 320×320 and under 200 kB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail {
    /// Whose: `thumbnail` (the request's file) or `media[N]` (an album's item).
    pub of: String,
    pub upload: Upload,
    pub width: u32,
    pub height: u32,
}

/// Telegram's rules for a thumbnail ("JPEG, less than 200 kB, width and height at most 320,
/// ignored if not uploaded using multipart/form-data"). Telegram ignores one that breaks them
/// without a word, so a file goes out as a bare icon: each is a violation here.
fn thumbnails(incoming: &Incoming) -> (Vec<Thumbnail>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut check = |of: String, value: &str| {
        let Some(name) = value.strip_prefix("attach://") else {
            problems.push(format!(
                "{of}: the thumbnail {value:?} is not an upload (attach://): Telegram ignores it"
            ));
            return;
        };
        let Some(part) = incoming.file(name) else {
            return; // the schema check names the missing part
        };
        let (w, h) = part.image.unwrap_or((0, 0));
        if !part.jpeg || part.image.is_none() {
            problems.push(format!(
                "{of}: the thumbnail is not a JPEG: Telegram ignores it"
            ));
        } else if w > 320 || h > 320 {
            problems.push(format!(
                "{of}: the thumbnail is {w}x{h}, over 320 px: Telegram ignores it"
            ));
        } else if part.upload.size >= 200 * 1024 {
            problems.push(format!(
                "{of}: the thumbnail is {} bytes, not under 200 kB: Telegram ignores it",
                part.upload.size
            ));
        } else {
            found.push(Thumbnail {
                of,
                upload: part.upload.clone(),
                width: w,
                height: h,
            });
        }
    };
    if let Some(value) = incoming.fields.get("thumbnail") {
        check("thumbnail".into(), value);
    }
    if let Some(media) = incoming
        .fields
        .get("media")
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
    {
        let items = match media {
            Value::Array(items) => items,
            other => vec![other],
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(value) = item.get("thumbnail").and_then(Value::as_str) {
                check(format!("media[{i}]"), value);
            }
        }
    }
    (found, problems)
}

impl Incoming {
    fn put(&mut self, name: String, value: String) {
        if self.fields.contains_key(&name) || self.file(&name).is_some() {
            self.problems
                .push(format!("parameter \"{name}\" is given more than once"));
        }
        self.fields.insert(name, value);
    }

    /// The multipart part `name`.
    fn file(&self, name: &str) -> Option<&FilePart> {
        self.files
            .iter()
            .find(|f| f.upload.field == name && f.upload.local_path.is_none())
    }

    /// The file read from disk for the parameter or InputMedia position `name`.
    fn local(&self, name: &str) -> Option<&FilePart> {
        self.files
            .iter()
            .find(|f| f.upload.field == name && f.upload.local_path.is_some())
    }

    fn body_error(&mut self, error: MultipartError) {
        // axum reports a body that stopped arriving as a server error and a malformed one as a
        // client error; only the latter is the client's fault.
        if error.status() == StatusCode::INTERNAL_SERVER_ERROR {
            self.aborted = true;
        } else {
            self.problems.push(format!(
                "the multipart body is malformed: {}",
                error.body_text()
            ));
        }
    }

    fn add_part(&mut self, name: String, file_name: Option<String>, sink: PartSink) {
        if name.is_empty() {
            self.problems
                .push("a multipart part has no name".to_owned());
        }
        let mut sink = sink;
        if file_name.is_none() {
            if let Some(text) = sink
                .text
                .take()
                .and_then(|bytes| String::from_utf8(bytes).ok())
            {
                self.put(name, text);
                return;
            }
            // Telegram takes a part without a filename for a text parameter, so this upload
            // would arrive as garbage text: the client forgot the filename.
            self.problems.push(format!(
                "multipart part \"{name}\" carries {} bytes of binary data but no filename; \
                 Telegram reads such a part as a text parameter, not as a file",
                sink.size
            ));
        }
        if self.fields.contains_key(&name) || self.file(&name).is_some() {
            self.problems
                .push(format!("parameter \"{name}\" is given more than once"));
        }
        self.files.push(sink.finish(name, file_name, None));
    }
}

async fn read_params(request: Request, local: bool) -> Incoming {
    let mut incoming = Incoming::default();
    if let Some(query) = request.uri().query() {
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            incoming.put(name.into_owned(), value.into_owned());
        }
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    if mime == "multipart/form-data" {
        read_multipart(request, &mut incoming, local).await;
        return incoming;
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_PLAIN_BODY).await {
        Ok(body) => body,
        Err(_) => {
            incoming.problems.push(format!(
                "a {mime} body over {MAX_PLAIN_BODY} bytes, or one that broke off"
            ));
            return incoming;
        }
    };
    match mime.as_str() {
        "application/json" => read_json(&body, &mut incoming),
        "application/x-www-form-urlencoded" => {
            for (name, value) in form_urlencoded::parse(&body) {
                incoming.put(name.into_owned(), value.into_owned());
            }
        }
        _ if body.is_empty() => {}
        "" => incoming
            .problems
            .push("the request has a body but no Content-Type".to_owned()),
        other => incoming.problems.push(format!(
            "Content-Type {other} is none of application/json, application/x-www-form-urlencoded, multipart/form-data"
        )),
    }
    incoming
}

fn read_json(body: &[u8], incoming: &mut Incoming) {
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        Ok(other) => {
            incoming.problems.push(format!(
                "the JSON body is not an object: {}",
                clip(&other.to_string(), 80)
            ));
            return;
        }
        Err(e) => {
            incoming
                .problems
                .push(format!("the JSON body does not parse: {e}"));
            return;
        }
    };
    for (name, value) in object {
        match value {
            Value::Null => incoming.problems.push(format!(
                "parameter \"{name}\" is null; Telegram reads the text \"null\", leave it out instead"
            )),
            Value::String(text) => incoming.put(name, text),
            other => incoming.put(name, other.to_string()),
        }
    }
}

/// Reads the parts; `local` raises the limits to a Local Bot API server's.
async fn read_multipart(request: Request, incoming: &mut Incoming, local: bool) {
    let (max_file, body_cap) = if local {
        (LOCAL_MAX_FILE, LOCAL_BODY_CAP)
    } else {
        (MAX_UPLOAD, BODY_CAP)
    };
    let mut multipart = match Multipart::from_request(request, &()).await {
        Ok(multipart) => multipart,
        Err(e) => {
            incoming
                .problems
                .push(format!("the multipart body has no usable boundary: {e}"));
            return;
        }
    };
    let mut total = 0u64;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return,
            Err(e) => return incoming.body_error(e),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let mut sink = PartSink::new(file_name.is_none());
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    total += chunk.len() as u64;
                    sink.feed(&chunk);
                    if total > body_cap {
                        incoming.oversized = Some((name, sink.size));
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => return incoming.body_error(e),
            }
        }
        if sink.size > max_file && incoming.oversized.is_none() {
            incoming.oversized = Some((name.clone(), sink.size));
        }
        incoming.add_part(name, file_name, sink);
    }
}

/// Takes one multipart part chunk by chunk: hashes it, counts it, keeps its first 64 KB for
/// the image header, and keeps it whole only while it may still be a text parameter.
struct PartSink {
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    jpeg: JpegScan,
    text: Option<Vec<u8>>,
}

impl PartSink {
    fn new(may_be_text: bool) -> PartSink {
        PartSink {
            hasher: Sha256::new(),
            size: 0,
            head: Vec::new(),
            jpeg: JpegScan::default(),
            text: may_be_text.then(Vec::new),
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        let room = HEAD_KEEP.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.jpeg.feed(chunk);
        if let Some(text) = &mut self.text {
            if text.len() + chunk.len() <= MAX_TEXT_PART {
                text.extend_from_slice(chunk);
            } else {
                self.text = None;
            }
        }
    }

    /// The file it took, as `field`; `local_path` for a file read from disk.
    fn finish(
        self,
        field: String,
        file_name: Option<String>,
        local_path: Option<String>,
    ) -> FilePart {
        FilePart {
            image: image_dimensions(&self.head, &self.jpeg),
            jpeg: self.head.starts_with(&[0xFF, 0xD8, 0xFF]),
            upload: Upload {
                field,
                file_name,
                size: self.size,
                sha256: hex::encode(self.hasher.finalize()),
                local_path,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files named by `file://` URI (Local Bot API server)
// ---------------------------------------------------------------------------------------------

impl Shared {
    /// Finds the `file:` URIs where the request's method takes files and, as a Local Bot API
    /// server, reads them into `incoming.files`; a public server reads none and refuses them.
    async fn read_local_files(&self, route: &Route, incoming: &mut Incoming) {
        let Route::Bot { token, method } = route else {
            return;
        };
        let spec = spec();
        let Some(method) = spec.method(method) else {
            return;
        };
        if *token != self.token || incoming.aborted {
            return;
        }
        for (field, uri) in file_uris(spec, method, &incoming.fields) {
            if !self.local {
                incoming.local_refusals.push(LocalRefusal {
                    description: "wrong file identifier/HTTP URL specified".to_owned(),
                    detail: format!(
                        "{field} is {}; only a Local Bot API server reads files from disk \
                         (FakeBotBuilder::local_server), api.telegram.org takes uploads",
                        shorten(&uri, 120)
                    ),
                });
                continue;
            }
            match read_local_file(field, &uri).await {
                Ok(part) => incoming.files.push(part),
                Err(refusal) => incoming.local_refusals.push(refusal),
            }
        }
    }
}

/// (where, URI) for every `file:` string where `method` takes a file: a parameter of type
/// InputFile, or a file field (`media`, `thumbnail`, ...) of the objects in a structured one.
fn file_uris(
    spec: &Spec,
    method: &MethodSpec,
    fields: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (name, value) in fields {
        let Some(field) = method.field(name) else {
            continue;
        };
        if field.types.iter().any(|t| t == "InputFile") {
            if value.starts_with("file:") {
                found.push((name.clone(), value.clone()));
            }
            continue;
        }
        if field.types.iter().all(|t| is_scalar(t)) {
            continue;
        }
        let Ok(json) = serde_json::from_str::<Value>(value) else {
            continue;
        };
        let objects: Vec<(String, &Map<String, Value>)> = match &json {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| Some((format!("{name}[{index}]"), item.as_object()?)))
                .collect(),
            Value::Object(object) => vec![(name.clone(), object)],
            _ => Vec::new(),
        };
        for (at, object) in objects {
            for (key, item) in object {
                let Some(uri) = item.as_str().filter(|s| s.starts_with("file:")) else {
                    continue;
                };
                if !spec.takes_files(key) {
                    continue;
                }
                let position = if key == "media" {
                    at.clone()
                } else {
                    format!("{at}.{key}")
                };
                found.push((position, uri.to_owned()));
            }
        }
    }
    found
}

/// Reads the file `uri` names as a Local Bot API server does: from disk, streaming, refusing it
/// past the local limit.
async fn read_local_file(field: String, uri: &str) -> Result<FilePart, LocalRefusal> {
    use std::os::unix::ffi::OsStrExt;
    use tokio::io::AsyncReadExt;

    let path = local_path_of(uri).map_err(|detail| LocalRefusal {
        description: "wrong file identifier/HTTP URL specified".to_owned(),
        detail: format!("{field} is {}: {detail}", shorten(uri, 120)),
    })?;
    let shown = path.display().to_string();
    let not_found = |why: String| LocalRefusal {
        description: "file not found".to_owned(),
        detail: format!("{field} names {shown:?}, which {why}"),
    };
    let too_big = |size: u64| LocalRefusal {
        description: "file is too big".to_owned(),
        detail: format!(
            "{field} names {shown:?} of {size} bytes, over the local server's {LOCAL_MAX_FILE}"
        ),
    };
    let metadata = tokio::fs::metadata(&path)
        .await
        .map_err(|e| not_found(format!("cannot be read: {e}")))?;
    if !metadata.is_file() {
        return Err(not_found("is no regular file".to_owned()));
    }
    if metadata.len() > LOCAL_MAX_FILE {
        return Err(too_big(metadata.len()));
    }
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| not_found(format!("cannot be opened: {e}")))?;
    let mut sink = PartSink::new(false);
    let mut buffer = vec![0u8; LOCAL_READ_CHUNK];
    loop {
        let read = file
            .read(&mut buffer)
            .await
            .map_err(|e| not_found(format!("cannot be read: {e}")))?;
        if read == 0 {
            break;
        }
        sink.feed(&buffer[..read]);
        if sink.size > LOCAL_MAX_FILE {
            // It grew while being read.
            return Err(too_big(sink.size));
        }
    }
    let file_name = path
        .file_name()
        .map(|name| String::from_utf8_lossy(name.as_bytes()).into_owned());
    Ok(sink.finish(field, file_name, Some(shown)))
}

/// The absolute path a `file:///path` or `file://localhost/path` URI names, percent-decoded;
/// otherwise what is wrong with it. Only what RFC 3986 lets a path hold may appear raw.
fn local_path_of(uri: &str) -> Result<std::path::PathBuf, String> {
    use std::os::unix::ffi::OsStringExt;

    let Some(rest) = uri.strip_prefix("file://") else {
        return Err("not a file:// URI; a local server wants file:///absolute/path".to_owned());
    };
    let encoded = match rest.strip_prefix("localhost") {
        Some(path) if path.starts_with('/') => path,
        _ if rest.starts_with('/') => rest,
        _ => {
            let host = rest.split('/').next().unwrap_or_default();
            return Err(format!(
                "it names the host {host:?} rather than an absolute path; \
                 a local server wants file:///absolute/path"
            ));
        }
    };
    let bytes = encoded.as_bytes();
    let mut path = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let escape = encoded
                .get(i + 1..i + 3)
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(hex) = escape else {
                return Err(format!(
                    "the '%' at byte {i} of the path starts no %XX escape; encode it as %25"
                ));
            };
            let decoded = u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            if decoded == 0 {
                return Err(format!("the path holds a NUL byte (%00) at byte {i}"));
            }
            path.push(decoded);
            i += 3;
            continue;
        }
        if !(byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte)) {
            let shown = encoded[i..].chars().next().unwrap_or_default();
            return Err(format!(
                "the path holds a raw {shown:?} at byte {i}; a URI must percent-encode it"
            ));
        }
        path.push(byte);
        i += 1;
    }
    Ok(std::path::PathBuf::from(std::ffi::OsString::from_vec(path)))
}

// ---------------------------------------------------------------------------------------------
// Deciding the answer
// ---------------------------------------------------------------------------------------------

/// A refusal of a request that got past the schema.
struct Refusal {
    code: u16,
    description: String,
    /// Whether the request broke a published rule (see the module docs).
    violation: bool,
    /// `parameters.retry_after` of the answer.
    retry_after: Option<u64>,
    /// For a violation: what the fake found, beyond the answer's words.
    detail: Option<String>,
}

impl Refusal {
    fn outcome(&self) -> Outcome {
        match self.retry_after {
            Some(seconds) => retry_after(self.code, &self.description, seconds),
            None => error(self.code, &self.description),
        }
    }
}

/// Telegram refuses it, but the request was within the spec.
fn refused(description: impl Into<String>) -> Refusal {
    Refusal {
        code: 400,
        description: format!("Bad Request: {}", description.into()),
        violation: false,
        retry_after: None,
        detail: None,
    }
}

/// How Telegram answers an album that flood control cut short.
fn album_cut_short(seconds: u64) -> Refusal {
    Refusal {
        retry_after: Some(seconds),
        ..refused(format!("Too Many Requests: retry after {seconds}"))
    }
}

/// Telegram refuses it and the request broke a published rule.
fn broken(description: impl Into<String>) -> Refusal {
    Refusal {
        violation: true,
        ..refused(description)
    }
}

/// Methods whose answers the fake builds as Telegram would; their results are checked against
/// the spec too, so a mistake in the fake shows up as a violation instead of misleading dropcast.
const MODELLED: &[&str] = &[
    "getMe",
    "getChat",
    "getChatMember",
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "sendAnimation",
    "sendMediaGroup",
    "sendVideo",
    "sendAudio",
    "pinChatMessage",
    "unpinChatMessage",
    "unpinAllChatMessages",
    "deleteMessage",
    "deleteMessages",
    "editMessageText",
    "editMessageCaption",
    "editMessageReplyMarkup",
    "editMessageMedia",
];

impl Shared {
    /// A [`Fault::SlowAnswer`] queued next for this request's method, taken out of the queue.
    fn take_slow(&self, route: &Route) -> Option<Duration> {
        let Route::Bot { method, .. } = route else {
            return None;
        };
        let mut world = self.lock();
        let index = world
            .faults
            .iter()
            .position(|(m, _)| m == "*" || m.eq_ignore_ascii_case(method))?;
        match world.faults[index] {
            (_, Fault::SlowAnswer(d)) => {
                world.faults.remove(index);
                Some(d)
            }
            _ => None,
        }
    }

    fn answer(
        &self,
        at: Instant,
        route: &Route,
        via: Option<String>,
        incoming: Incoming,
    ) -> Outcome {
        let mut world = self.lock();
        let index = world.requests.len();
        let mut flags = Vec::new();
        let mut made = Vec::new();
        let outcome = self.decide(&mut world, route, &incoming, &mut flags, &mut made);
        let (token_ok, method) = match route {
            Route::Bot { token, method } => (
                *token == self.token,
                spec()
                    .method(method)
                    .map_or_else(|| method.clone(), |m| m.name.clone()),
            ),
            Route::Other(path) => (false, path.clone()),
        };
        let (status, response) = match &outcome {
            Outcome::Answer(code, body) => (*code, body.clone()),
            Outcome::Html(code, page) => (*code, Value::String(page.clone())),
            Outcome::Hang | Outcome::Reset | Outcome::Gone => (0, Value::Null),
        };
        let (thumbnails, thumbnail_problems) = thumbnails(&incoming);
        for flag in flags.into_iter().chain(thumbnail_problems) {
            world
                .violations
                .push(format!("request #{index} {method}: {flag}"));
        }
        let chat_id_sent = incoming.fields.get("chat_id").cloned();
        let chat_id = chat_id_sent.as_deref().map(|c| {
            world
                .chat_index(c)
                .map_or_else(|| c.to_string(), |i| world.chats[i].registered.clone())
        });
        world.requests.push(Recorded {
            chat_id,
            chat_id_sent,
            method,
            token_ok,
            fields: incoming.fields,
            files: incoming.files.into_iter().map(|f| f.upload).collect(),
            thumbnails,
            status,
            message_ids: made,
            at,
            response,
            via,
        });
        drop(world);
        self.changed.notify_all();
        outcome
    }

    fn decide(
        &self,
        world: &mut World,
        route: &Route,
        incoming: &Incoming,
        flags: &mut Vec<String>,
        made: &mut Vec<i64>,
    ) -> Outcome {
        if incoming.aborted {
            return Outcome::Gone;
        }
        // api.telegram.org's nginx refuses an oversized upload before the Bot API reads a thing.
        if let Some((part, size)) = &incoming.oversized {
            if self.local {
                flags.push(format!(
                    "multipart part \"{part}\" is over {LOCAL_MAX_FILE} bytes ({size} read), the local server's file limit"
                ));
                return error(400, "Bad Request: file is too big");
            }
            flags.push(format!(
                "multipart part \"{part}\" is over {MAX_UPLOAD} bytes ({size} read), the upload limit for bots"
            ));
            return error(413, "Request Entity Too Large");
        }
        let (token, sent) = match route {
            Route::Bot { token, method } => (token, method),
            Route::Other(path) => {
                flags.push(format!("{path} is not a /bot<token>/<method> path"));
                return error(404, "Not Found");
            }
        };
        if *token != self.token {
            return error(401, "Unauthorized");
        }
        let spec = spec();
        let Some(method) = spec.method(sent) else {
            flags.push(format!("there is no method \"{sent}\" in the Bot API"));
            return error(404, "Not Found");
        };
        if method.name != *sent {
            flags.push(format!(
                "method spelled \"{sent}\" instead of \"{}\" (Telegram forgives the case; dropcast should not rely on it)",
                method.name
            ));
        }
        flags.extend(incoming.problems.iter().cloned());
        let schema = check_params(spec, method, incoming);
        flags.extend(schema.iter().cloned());
        // A partial album needs the album, so it is carried out (short) rather than answered.
        let mut cut = None;
        match world.take_fault(&method.name) {
            Some(Fault::AlbumPartial { sent, retry_after }) if method.name == "sendMediaGroup" => {
                cut = Some((sent, retry_after));
            }
            Some(fault) => return fault.outcome(),
            None => {}
        }
        if let Some(first) = incoming.problems.first().or(schema.first()) {
            return error(400, &format!("Bad Request: {first}"));
        }
        match self.perform(world, method, incoming, cut, made) {
            Ok(result) => {
                if MODELLED.contains(&method.name.as_str()) {
                    let mut checker = Checker::new(spec);
                    checker.any_of(&result, &method.returns, "result");
                    for problem in checker.problems {
                        flags.push(format!(
                            "fake_bot bug, its own answer breaks the spec: {problem}"
                        ));
                    }
                }
                ok(result)
            }
            Err(refusal) => {
                if refusal.violation {
                    let reason = refusal.description.trim_start_matches("Bad Request: ");
                    flags.push(match &refusal.detail {
                        Some(detail) => format!("{reason} ({detail})"),
                        None => reason.to_owned(),
                    });
                }
                refusal.outcome()
            }
        }
    }

    /// Carries out a request that passed the schema: the checks that need the world or the
    /// limits, then the effect. `cut` is a queued [`Fault::AlbumPartial`]: (sent, retry_after).
    fn perform(
        &self,
        world: &mut World,
        method: &MethodSpec,
        incoming: &Incoming,
        cut: Option<(usize, u64)>,
        made: &mut Vec<i64>,
    ) -> Result<Value, Refusal> {
        let chat = match incoming.fields.get("chat_id") {
            Some(chat_id) if method.field("chat_id").is_some() => Some(
                world
                    .chat_index(chat_id)
                    .ok_or_else(|| refused("chat not found"))?,
            ),
            _ => None,
        };
        // The server reads the files before it sends anything.
        if let Some(local) = incoming.local_refusals.first() {
            return Err(Refusal {
                detail: Some(local.detail.clone()),
                ..broken(local.description.clone())
            });
        }
        let parse_mode = incoming.fields.get("parse_mode").map(String::as_str);
        let given = |key: &str| {
            incoming
                .fields
                .get(key)
                .and_then(|entities| serde_json::from_str::<Value>(entities).ok())
        };
        let text = match incoming.fields.get("text") {
            // Other methods' `text` (answerCallbackQuery, ...) has other limits.
            Some(text) if matches!(method.name.as_str(), "sendMessage" | "editMessageText") => {
                Some(format_text(
                    text,
                    parse_mode,
                    given("entities").as_ref(),
                    TextKind::Text,
                )?)
            }
            _ => None,
        };
        let caption = match incoming.fields.get("caption") {
            Some(caption) if method.field("caption").is_some() => Some(format_text(
                caption,
                parse_mode,
                given("caption_entities").as_ref(),
                TextKind::Caption,
            )?),
            _ => None,
        };
        if let (Some(mode), None, None) = (parse_mode, &text, &caption) {
            check_parse_mode(mode)?;
        }
        let meta = || Meta {
            method: method.name.clone(),
            parse_mode: parse_mode.map(str::to_owned),
            sent_text: incoming
                .fields
                .get("text")
                .or_else(|| incoming.fields.get("caption"))
                .cloned(),
            reply_markup: given("reply_markup"),
        };
        match method.name.as_str() {
            "getMe" => Ok(self.bot.user()),
            "getChat" => Ok(world.chats[need(chat)?].full_info()),
            "getChatMember" => {
                need(chat)?;
                let user_id: i64 = incoming
                    .fields
                    .get("user_id")
                    .and_then(|id| id.parse().ok())
                    .unwrap_or_default();
                Ok(self.member(user_id))
            }
            "sendMessage" => {
                let text = text.ok_or_else(|| broken("message text is empty"))?;
                let chat = need(chat)?;
                let mut content = Map::new();
                text.put(&mut content, "text", "entities");
                world.admit(chat, 1)?;
                Ok(world.post(chat, content, None, meta(), made))
            }
            "sendPhoto" | "sendDocument" | "sendAnimation" | "sendVideo" | "sendAudio" => {
                let (field, kind) = match method.name.as_str() {
                    "sendPhoto" => ("photo", MediaKind::Photo),
                    "sendDocument" => ("document", MediaKind::Document),
                    "sendVideo" => ("video", MediaKind::Video),
                    "sendAudio" => ("audio", MediaKind::Audio),
                    _ => ("animation", MediaKind::Animation),
                };
                let part = incoming
                    .file(field)
                    .or_else(|| {
                        incoming
                            .fields
                            .get(field)
                            .and_then(|value| value.strip_prefix("attach://"))
                            .and_then(|name| incoming.file(name))
                    })
                    .or_else(|| incoming.local(field));
                let file = match part {
                    Some(part) => store_upload(world, part, kind)?,
                    None => {
                        let value = incoming
                            .fields
                            .get(field)
                            .ok_or_else(|| broken(format!("there is no {field} in the request")))?;
                        file_by_reference(world, value, kind)?
                    }
                };
                let chat = need(chat)?;
                let mut content = media_content(&file);
                if let Some(caption) = caption {
                    caption.put(&mut content, "caption", "caption_entities");
                }
                world.admit(chat, 1)?;
                Ok(world.post(chat, content, Some(&file), meta(), made))
            }
            "sendMediaGroup" => self.send_media_group(world, need(chat)?, incoming, cut, made),
            "pinChatMessage" => {
                let chat = &mut world.chats[need(chat)?];
                let id = message_id_of(incoming);
                let message = chat
                    .messages
                    .get_mut(&id)
                    .filter(|m| m.live())
                    .ok_or_else(|| refused("message to pin not found"))?;
                message.shown.pinned = true;
                Ok(json!(true))
            }
            "unpinChatMessage" => unpin(&mut world.chats[need(chat)?], incoming),
            "unpinAllChatMessages" => {
                for message in world.chats[need(chat)?].messages.values_mut() {
                    message.shown.pinned = false;
                }
                Ok(json!(true))
            }
            "deleteMessage" => {
                let chat = &mut world.chats[need(chat)?];
                let id = message_id_of(incoming);
                if chat.live(id).is_none() {
                    return Err(refused("message to delete not found"));
                }
                delete(chat, &[id])
            }
            "deleteMessages" => delete_many(&mut world.chats[need(chat)?], incoming),
            "editMessageText"
            | "editMessageCaption"
            | "editMessageReplyMarkup"
            | "editMessageMedia" => edit(world, &method.name, chat, incoming, text, caption),
            _ => generic_result(world, method, chat, text, caption, made),
        }
    }

    fn member(&self, user_id: i64) -> Value {
        if user_id == self.bot.id {
            let mut member = json!({
                "status": "administrator",
                "user": self.bot.user(),
                "can_be_edited": false,
                "is_anonymous": false,
                "can_manage_chat": true,
                "can_delete_messages": true,
                "can_manage_video_chats": true,
                "can_restrict_members": true,
                "can_promote_members": false,
                "can_change_info": true,
                "can_invite_users": true,
                "can_post_stories": true,
                "can_edit_stories": true,
                "can_delete_stories": true,
                "can_post_messages": true,
                "can_edit_messages": true,
            });
            for right in &self.bot.withheld_rights {
                let slot = member
                    .get_mut(right.as_str())
                    .unwrap_or_else(|| panic!("fake bot: no admin right called {right:?}"));
                *slot = json!(false);
            }
            member
        } else {
            json!({
                "status": "left",
                "user": {"id": user_id, "is_bot": false, "first_name": "Someone"},
            })
        }
    }

    /// Posts an album; with `cut` = (sent, retry_after), only its first `sent` items, answering
    /// as flood control does.
    fn send_media_group(
        &self,
        world: &mut World,
        chat: usize,
        incoming: &Incoming,
        cut: Option<(usize, u64)>,
        made: &mut Vec<i64>,
    ) -> Result<Value, Refusal> {
        let items: Vec<Value> = incoming
            .fields
            .get("media")
            .and_then(|media| serde_json::from_str(media).ok())
            .unwrap_or_default();
        if items.is_empty() {
            return Err(broken("there are no messages to send"));
        }
        if items.len() > 10 {
            return Err(broken("too many messages to send as an album"));
        }
        if items.len() < 2 {
            // Telegram would post a lone item outside any album; the spec asks for 2-10.
            return Err(broken("media must include 2-10 items"));
        }
        let kinds: Vec<&str> = items
            .iter()
            .map(|item| item.get("type").and_then(Value::as_str).unwrap_or(""))
            .collect();
        for lonely in ["document", "audio"] {
            if kinds.contains(&lonely) && kinds.iter().any(|kind| *kind != lonely) {
                return Err(broken(format!(
                    "{lonely} can't be mixed with other media types"
                )));
            }
        }
        // Everything is checked before the first message, so a refused album posts nothing.
        let mut prepared = Vec::new();
        for (index, (item, kind)) in items.iter().zip(&kinds).enumerate() {
            let kind = MediaKind::of_input_media(kind);
            let parse_mode = item.get("parse_mode").and_then(Value::as_str);
            let caption = match item.get("caption").and_then(Value::as_str) {
                Some(caption) => Some(format_text(
                    caption,
                    parse_mode,
                    item.get("caption_entities"),
                    TextKind::Caption,
                )?),
                None => {
                    if let Some(mode) = parse_mode {
                        check_parse_mode(mode)?;
                    }
                    None
                }
            };
            let meta = Meta {
                method: "sendMediaGroup".to_owned(),
                parse_mode: parse_mode.map(str::to_owned),
                sent_text: item
                    .get("caption")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                reply_markup: None,
            };
            let media = item.get("media").and_then(Value::as_str).unwrap_or("");
            let file = match media
                .strip_prefix("attach://")
                .and_then(|name| incoming.file(name))
                .or_else(|| incoming.local(&format!("media[{index}]")))
            {
                Some(part) => store_upload(world, part, kind)?,
                None => file_by_reference(world, media, kind)?,
            };
            prepared.push((file, caption, meta));
        }
        // A fault comes before the limits, but the messages it lets through count.
        let posted = match cut {
            Some((sent, _)) => {
                let sent = sent.min(prepared.len());
                world.count_sent(chat, sent);
                sent
            }
            None => {
                world.admit(chat, prepared.len())?;
                prepared.len()
            }
        };
        world.next_album += 1;
        let album = (13_000_000_000_000_000u64 + world.next_album).to_string();
        let mut messages = Vec::new();
        for (file, caption, meta) in prepared.into_iter().take(posted) {
            let mut content = media_content(&file);
            content.insert("media_group_id".into(), json!(album));
            if let Some(caption) = caption {
                caption.put(&mut content, "caption", "caption_entities");
            }
            messages.push(world.post(chat, content, Some(&file), meta, made));
        }
        match cut {
            Some((_, seconds)) => Err(album_cut_short(seconds)),
            None => Ok(Value::Array(messages)),
        }
    }
}

fn need(chat: Option<usize>) -> Result<usize, Refusal> {
    // The schema makes chat_id required almost wherever it exists; the edit methods take an
    // inline_message_id instead, which dropcast has no use for.
    chat.ok_or_else(|| broken("chat_id is empty"))
}

/// `message_id` as the Bot API server reads it: 0, which names no message, when it is missing.
fn message_id_of(incoming: &Incoming) -> i64 {
    incoming
        .fields
        .get("message_id")
        .and_then(|id| id.parse().ok())
        .unwrap_or_default()
}

/// `unpinChatMessage`: the message named, or else the most recent pinned one.
fn unpin(chat: &mut ChatState, incoming: &Incoming) -> Result<Value, Refusal> {
    let id = match message_id_of(incoming) {
        // The Bot API server asks TDLib for the chat's pinned message (getChatPinnedMessage).
        0 => chat
            .latest_pinned()
            .ok_or_else(|| refused("message to unpin not found"))?,
        id => {
            let message = chat
                .live(id)
                .ok_or_else(|| refused("message to unpin not found"))?;
            if !message.shown.pinned {
                // TDLib sends messages.updatePinnedMessage and passes its error on; Telegram
                // lists CHAT_NOT_MODIFIED among that method's errors, for a change that
                // changes nothing.
                return Err(refused("CHAT_NOT_MODIFIED"));
            }
            id
        }
    };
    if let Some(message) = chat.messages.get_mut(&id) {
        message.shown.pinned = false;
    }
    Ok(json!(true))
}

/// Deletes messages that exist, all or none: a message older than 48 hours cannot be deleted
/// by a bot in a channel (TDLib's `can_delete_channel_message`, whose refusal the Bot API server
/// words "message can't be deleted"). Deleting a pinned message unpins it.
fn delete(chat: &mut ChatState, ids: &[i64]) -> Result<Value, Refusal> {
    let now = SystemTime::now();
    for id in ids {
        if let Some(message) = chat.live(*id)
            && now
                .duration_since(message.shown.sent_at)
                .is_ok_and(|age| age >= DELETE_LIMIT)
        {
            return Err(refused("message can't be deleted"));
        }
    }
    for id in ids {
        if let Some(message) = chat.messages.get_mut(id).filter(|m| m.live()) {
            message.shown.deleted = true;
            message.shown.pinned = false;
        }
    }
    Ok(json!(true))
}

/// `deleteMessages`: 1-100 ids; those Telegram cannot find are skipped.
fn delete_many(chat: &mut ChatState, incoming: &Incoming) -> Result<Value, Refusal> {
    let ids: Vec<i64> = incoming
        .fields
        .get("message_ids")
        .and_then(|ids| serde_json::from_str(ids).ok())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(broken("message identifiers are not specified"));
    }
    if ids.len() > 100 {
        return Err(broken("too many message identifiers specified"));
    }
    delete(chat, &ids)
}

/// The edit methods, for a message in a chat (`chat_id` and `message_id`). `text` and
/// `caption` are the request's, already parsed and checked against the limits.
fn edit(
    world: &mut World,
    method: &str,
    chat: Option<usize>,
    incoming: &Incoming,
    text: Option<Formatted>,
    caption: Option<Formatted>,
) -> Result<Value, Refusal> {
    if incoming.fields.contains_key("inline_message_id") {
        // The fake knows no inline message, so Telegram would not find this one either.
        return Err(Refusal {
            detail: Some(
                "inline_message_id names a message sent through inline mode; dropcast edits \
                 its channel posts by chat_id and message_id, and the fake models no inline \
                 messages"
                    .to_owned(),
            ),
            ..broken("MESSAGE_ID_INVALID")
        });
    }
    let chat = need(chat)?;
    let id = message_id_of(incoming);
    if id == 0 {
        return Err(Refusal {
            detail: Some("message_id is missing, and no inline_message_id replaces it".to_owned()),
            ..broken("message to edit not found")
        });
    }
    let reply_markup = shown_markup(
        incoming
            .fields
            .get("reply_markup")
            .and_then(|markup| serde_json::from_str(markup).ok()),
    );
    let old = world.chats[chat]
        .live(id)
        .ok_or_else(|| refused("message to edit not found"))?;
    let old_kind = old.shown.kind;
    let in_album = old.shown.media_group_id.is_some();
    let mut json = old.json.clone();
    let mut file = old.file.clone();
    let mut parse_mode = old.shown.parse_mode.clone();
    let mut sent_text = old.shown.sent_text.clone();
    let mode = || incoming.fields.get("parse_mode").cloned();
    match method {
        "editMessageText" => {
            if incoming.fields.contains_key("rich_message") {
                return Err(broken(
                    "rich messages are not modelled by the fake, and dropcast sends none",
                ));
            }
            let text = text.ok_or_else(|| broken("message text is empty"))?;
            if old_kind != MessageKind::Text {
                return Err(refused("there is no text in the message to edit"));
            }
            json.remove("text");
            json.remove("entities");
            text.put(&mut json, "text", "entities");
            parse_mode = mode();
            sent_text = incoming.fields.get("text").cloned();
        }
        "editMessageCaption" => {
            if !is_media(old_kind) {
                return Err(refused("there is no caption in the message to edit"));
            }
            json.remove("caption");
            json.remove("caption_entities");
            // No caption removes the caption.
            if let Some(caption) = caption {
                caption.put(&mut json, "caption", "caption_entities");
            }
            parse_mode = mode();
            sent_text = incoming.fields.get("caption").cloned();
        }
        "editMessageMedia" => {
            let media: Value = incoming
                .fields
                .get("media")
                .and_then(|media| serde_json::from_str(media).ok())
                .unwrap_or_default();
            let kind =
                MediaKind::of_input_media(media.get("type").and_then(Value::as_str).unwrap_or(""));
            let item_mode = media.get("parse_mode").and_then(Value::as_str);
            let new_caption = match media.get("caption").and_then(Value::as_str) {
                Some(caption) => Some(format_text(
                    caption,
                    item_mode,
                    media.get("caption_entities"),
                    TextKind::Caption,
                )?),
                None => {
                    check_parse_mode(item_mode.unwrap_or(""))?;
                    None
                }
            };
            if old_kind == MessageKind::Other {
                return Err(refused("message media can't be edited"));
            }
            // TDLib's edit_message_media: an album keeps to the kinds an album may hold, and
            // a document or audio album to its own kind.
            if in_album && message_kind(kind) != old_kind {
                if !matches!(
                    kind,
                    MediaKind::Photo
                        | MediaKind::LivePhoto
                        | MediaKind::Video
                        | MediaKind::Document
                        | MediaKind::Audio
                ) {
                    return Err(refused("message content type can't be used in an album"));
                }
                let lonely =
                    |k: MessageKind| matches!(k, MessageKind::Document | MessageKind::Audio);
                if lonely(old_kind) || lonely(message_kind(kind)) {
                    return Err(refused("can't change media type in the album"));
                }
            }
            let value = media.get("media").and_then(Value::as_str).unwrap_or("");
            let new_file = match value
                .strip_prefix("attach://")
                .and_then(|name| incoming.file(name))
                .or_else(|| incoming.local("media"))
            {
                Some(part) => store_upload(world, part, kind)?,
                None => file_by_reference(world, value, kind)?,
            };
            for key in CONTENT_KEYS {
                json.remove(*key);
            }
            json.extend(media_content(&new_file));
            // The new media's caption replaces the old one; none removes it.
            if let Some(caption) = new_caption {
                caption.put(&mut json, "caption", "caption_entities");
            }
            parse_mode = item_mode.map(str::to_owned);
            sent_text = media
                .get("caption")
                .and_then(Value::as_str)
                .map(str::to_owned);
            file = Some(new_file);
        }
        // editMessageReplyMarkup changes the keyboard only.
        _ => {}
    }
    // Every edit sets the keyboard: none removes it.
    json.remove("reply_markup");
    if let Some(markup) = reply_markup {
        json.insert("reply_markup".into(), markup);
    }
    let state = &mut world.chats[chat];
    let Some(stored) = state.messages.get_mut(&id) else {
        return Err(refused("message to edit not found"));
    };
    if json == stored.json {
        return Err(refused(
            "message is not modified: specified new message content and reply markup are \
             exactly the same as a current content and reply markup of the message",
        ));
    }
    let now = SystemTime::now();
    json.insert("edit_date".into(), json!(unix_of(now)));
    stored.json = json;
    stored.file = file;
    stored.shown.parse_mode = parse_mode;
    stored.shown.sent_text = sent_text;
    stored.shown.edited_at = Some(now);
    stored.shown.edits += 1;
    stored.sync();
    let state = &world.chats[chat];
    Ok(state.messages[&id].message(state))
}

fn is_media(kind: MessageKind) -> bool {
    matches!(
        kind,
        MessageKind::Photo
            | MessageKind::Document
            | MessageKind::Animation
            | MessageKind::Video
            | MessageKind::Audio
    )
}

fn message_kind(kind: MediaKind) -> MessageKind {
    match kind {
        MediaKind::Photo | MediaKind::LivePhoto => MessageKind::Photo,
        MediaKind::Document => MessageKind::Document,
        MediaKind::Animation => MessageKind::Animation,
        MediaKind::Video => MessageKind::Video,
        MediaKind::Audio => MessageKind::Audio,
    }
}

/// Methods the fake does not model: a message when the method returns one, else a plain answer.
fn generic_result(
    world: &mut World,
    method: &MethodSpec,
    chat: Option<usize>,
    text: Option<Formatted>,
    caption: Option<Formatted>,
    made: &mut Vec<i64>,
) -> Result<Value, Refusal> {
    // Edits of kinds the fake does not model (live locations, ...) create nothing.
    let creates = !method.name.starts_with("edit") && !method.name.starts_with("stop");
    Ok(match (method.returns.first().map(String::as_str), chat) {
        (Some("Message"), Some(chat)) if creates => {
            let mut content = Map::new();
            if let Some(text) = text {
                text.put(&mut content, "text", "entities");
            }
            if let Some(caption) = caption {
                caption.put(&mut content, "caption", "caption_entities");
            }
            world.admit(chat, 1)?;
            let meta = Meta {
                method: method.name.clone(),
                ..Meta::default()
            };
            world.post(chat, content, None, meta, made)
        }
        (Some(returns), _) if returns.starts_with("Array of") => json!([]),
        _ => json!(true),
    })
}

/// A fresh upload, checked as Telegram checks the kind it is sent as.
fn store_upload(
    world: &mut World,
    part: &FilePart,
    kind: MediaKind,
) -> Result<StoredFile, Refusal> {
    let size = part.upload.size;
    if size == 0 {
        return Err(refused("file must be non-empty"));
    }
    if matches!(kind, MediaKind::Photo) {
        if size > MAX_PHOTO {
            return Err(broken(format!(
                "file of size {size} bytes is too big for a photo; the maximum size is {MAX_PHOTO} bytes"
            )));
        }
        let Some((width, height)) = part.image else {
            return Err(refused("IMAGE_PROCESS_FAILED"));
        };
        let (long, short) = (width.max(height), width.min(height));
        if short == 0 || u64::from(width) + u64::from(height) > 10_000 || long > short * 20 {
            return Err(broken("PHOTO_INVALID_DIMENSIONS"));
        }
    }
    Ok(world.new_file(
        kind,
        part.upload.file_name.clone(),
        size,
        part.image,
        Some(part.upload.sha256.clone()),
    ))
}

/// A file named by text: an HTTP URL Telegram would fetch, or a `file_id` the fake handed out.
fn file_by_reference(
    world: &mut World,
    value: &str,
    kind: MediaKind,
) -> Result<StoredFile, Refusal> {
    if value.starts_with("http://") || value.starts_with("https://") {
        let name = value
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let dims = matches!(
            kind,
            MediaKind::Photo | MediaKind::Animation | MediaKind::Video
        )
        .then_some((800, 600));
        return Ok(world.new_file(kind, name, 1024, dims, None));
    }
    // A photo's sizes are named after the photo ("<file_id>-s<n>"), and any of them sends it.
    let stored = world.files.get(value).or_else(|| {
        let (photo, size) = value.rsplit_once("-s")?;
        size.parse::<u32>().ok()?;
        world.files.get(photo)
    });
    let Some(file) = stored.cloned() else {
        return Err(refused("wrong file identifier/HTTP URL specified"));
    };
    // TDLib keeps photos apart from every other kind; other kinds share the document class.
    if (file.kind == MediaKind::Photo) != (kind == MediaKind::Photo) {
        return Err(refused(format!(
            "can't use file of type {} as {}",
            file.kind.tdlib_name(),
            kind.tdlib_name()
        )));
    }
    Ok(StoredFile { kind, ..file })
}

/// What a message shows for a file, as Telegram builds it.
fn media_content(file: &StoredFile) -> Map<String, Value> {
    let mut content = Map::new();
    let (width, height) = file.dims.unwrap_or((0, 0));
    let mut described = json!({
        "file_id": file.file_id,
        "file_unique_id": file.unique_id,
        "file_size": file.size,
    });
    if let Some(name) = &file.name {
        described["file_name"] = json!(name);
        described["mime_type"] = json!(mime_of(name));
    }
    match file.kind {
        MediaKind::Photo | MediaKind::LivePhoto => {
            content.insert(
                "photo".into(),
                Value::Array(photo_sizes(file, width, height)),
            );
        }
        MediaKind::Document => {
            content.insert("document".into(), described);
        }
        MediaKind::Animation => {
            // Telegram shows an animation both as itself and as the document it came as.
            content.insert("document".into(), described.clone());
            described["width"] = json!(width);
            described["height"] = json!(height);
            described["duration"] = json!(0);
            content.insert("animation".into(), described);
        }
        MediaKind::Video => {
            described["width"] = json!(width);
            described["height"] = json!(height);
            described["duration"] = json!(0);
            content.insert("video".into(), described);
        }
        MediaKind::Audio => {
            described["duration"] = json!(0);
            content.insert("audio".into(), described);
        }
    }
    content
}

/// The sizes Telegram makes of a photo: thumbnails, then the photo scaled to at most 2560 px.
fn photo_sizes(file: &StoredFile, width: u32, height: u32) -> Vec<Value> {
    let long = width.max(height).max(1);
    let mut sides: Vec<u32> = [90, 320, 800, 1280]
        .into_iter()
        .filter(|side| *side < long)
        .collect();
    sides.push(long.min(2560));
    sides
        .into_iter()
        .enumerate()
        .map(|(index, side)| {
            let scale = f64::from(side) / f64::from(long);
            let w = (f64::from(width) * scale).round().max(1.0) as u32;
            let h = (f64::from(height) * scale).round().max(1.0) as u32;
            let bytes = (file.size as f64 * scale * scale).round() as u64;
            json!({
                "file_id": format!("{}-s{index}", file.file_id),
                "file_unique_id": format!("{}s{index}", file.unique_id),
                "width": w,
                "height": h,
                "file_size": bytes.max(1),
            })
        })
        .collect()
}

fn mime_of(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "txt" | "md" => "text/plain",
        "mp4" => "video/mp4",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

// ---------------------------------------------------------------------------------------------
// Text, captions and Telegram's HTML
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum TextKind {
    Text,
    Caption,
}

fn check_parse_mode(mode: &str) -> Result<(), Refusal> {
    match mode {
        "" | "HTML" | "MarkdownV2" | "Markdown" => Ok(()),
        _ => Err(broken("unsupported parse_mode")),
    }
}

/// Parses `value` as Telegram does for `parse_mode` and checks the length limits, which
/// Telegram counts in UTF-16 code units after entities parsing and trimming.
/// Without a `parse_mode`, the entities `given` in `entities` or `caption_entities` (a JSON
/// array the schema check has seen) are what the message shows.
fn format_text(
    value: &str,
    parse_mode: Option<&str>,
    given: Option<&Value>,
    kind: TextKind,
) -> Result<Formatted, Refusal> {
    check_parse_mode(parse_mode.unwrap_or(""))?;
    let parsed = match parse_mode {
        Some("HTML") => {
            parse_html(value).map_err(|reason| broken(format!("can't parse entities: {reason}")))?
        }
        Some(mode) if !mode.is_empty() => Formatted {
            text: value.to_owned(),
            entities: Vec::new(),
        },
        _ => Formatted {
            text: value.to_owned(),
            entities: given.map(entities_of).unwrap_or_default(),
        },
    };
    let formatted = parsed.trimmed();
    let length = formatted.text.encode_utf16().count();
    match kind {
        TextKind::Text if length == 0 => Err(broken("message text is empty")),
        TextKind::Text if length > 4096 => Err(broken("message is too long")),
        TextKind::Caption if length > 1024 => Err(broken("message caption is too long")),
        _ => Ok(formatted),
    }
}

/// The entity types a message shows as given; others (`text_mention`, with its user) are left
/// out of [`FakeMessage::entities`].
const GIVEN_ENTITY_KINDS: &[&str] = &[
    "mention",
    "hashtag",
    "cashtag",
    "bot_command",
    "url",
    "email",
    "phone_number",
    "bold",
    "italic",
    "underline",
    "strikethrough",
    "spoiler",
    "blockquote",
    "expandable_blockquote",
    "code",
    "pre",
    "text_link",
    "custom_emoji",
];

/// Entities given as a JSON array of MessageEntity.
fn entities_of(given: &Value) -> Vec<Entity> {
    let Some(items) = given.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let name = item.get("type")?.as_str()?;
            let kind = *GIVEN_ENTITY_KINDS.iter().find(|k| **k == name)?;
            let offset = usize::try_from(item.get("offset")?.as_u64()?).ok()?;
            let length = usize::try_from(item.get("length")?.as_u64()?).ok()?;
            let key = match kind {
                "text_link" => Some("url"),
                "pre" => Some("language"),
                "custom_emoji" => Some("custom_emoji_id"),
                _ => None,
            };
            let extra = key.and_then(|key| {
                item.get(key)
                    .and_then(Value::as_str)
                    .map(|value| (key, value.to_owned()))
            });
            Some(Entity {
                kind,
                offset,
                length,
                extra,
            })
        })
        .collect()
}

/// Text after entities parsing, with the entities Telegram would report.
struct Formatted {
    text: String,
    entities: Vec<Entity>,
}

#[derive(Clone)]
struct Entity {
    kind: &'static str,
    /// UTF-16 code units, like Telegram's offsets.
    offset: usize,
    length: usize,
    /// `url`, `language` or `custom_emoji_id`.
    extra: Option<(&'static str, String)>,
}

impl Formatted {
    /// Telegram strips leading and trailing whitespace and shortens the entities with it.
    fn trimmed(self) -> Formatted {
        let lead = self.text.len() - self.text.trim_start().len();
        let lead16 = self.text[..lead].encode_utf16().count();
        let text = self.text.trim().to_owned();
        let length16 = text.encode_utf16().count();
        let mut entities: Vec<Entity> = self
            .entities
            .into_iter()
            .filter_map(|entity| {
                let start = entity.offset.saturating_sub(lead16).min(length16);
                let end = (entity.offset + entity.length)
                    .saturating_sub(lead16)
                    .min(length16);
                (end > start).then_some(Entity {
                    offset: start,
                    length: end - start,
                    ..entity
                })
            })
            .collect();
        entities.sort_by(|a, b| a.offset.cmp(&b.offset).then(b.length.cmp(&a.length)));
        Formatted { text, entities }
    }

    fn put(self, content: &mut Map<String, Value>, text_key: &str, entities_key: &str) {
        if !self.entities.is_empty() {
            let entities: Vec<Value> = self
                .entities
                .iter()
                .map(|e| {
                    let mut entity =
                        json!({"type": e.kind, "offset": e.offset, "length": e.length});
                    if let Some((key, value)) = &e.extra {
                        entity[*key] = json!(value);
                    }
                    entity
                })
                .collect();
            content.insert(entities_key.to_owned(), Value::Array(entities));
        }
        if !self.text.is_empty() {
            content.insert(text_key.to_owned(), Value::String(self.text));
        }
    }
}

struct OpenTag {
    name: String,
    /// href, language, emoji id, or "expandable".
    argument: Option<String>,
    /// UTF-16 offset in the output where the tag's content starts.
    start: usize,
}

/// Telegram's HTML, parsed the way TDLib does it (same error wording), but stricter where
/// TDLib forgives (see the module docs).
fn parse_html(source: &str) -> Result<Formatted, String> {
    let bytes = source.as_bytes();
    let mut text = String::new();
    let mut utf16 = 0usize;
    let mut open: Vec<OpenTag> = Vec::new();
    let mut entities: Vec<Entity> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'&' => {
                let (ch, len) = decode_entity(&source[i..]).ok_or_else(|| {
                    format!(
                        "Character '&' at byte offset {i} starts no HTML entity; escape it as \"&amp;\""
                    )
                })?;
                text.push(ch);
                utf16 += ch.len_utf16();
                i += len;
            }
            b'<' if bytes.get(i + 1) == Some(&b'/') => {
                let start = i;
                i += 2;
                let name_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                let name = source[name_start..i].to_ascii_lowercase();
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) != Some(&b'>') {
                    return Err(format!("Unclosed end tag at byte offset {start}"));
                }
                i += 1;
                let Some(tag) = open.pop() else {
                    return Err(format!("Unexpected end tag at byte offset {start}"));
                };
                if !name.is_empty() && name != tag.name {
                    return Err(format!(
                        "Unmatched end tag at byte offset {start}, expected \"</{}>\", found \"</{name}>\"",
                        tag.name
                    ));
                }
                close_tag(tag, utf16, &text, &mut entities)?;
            }
            b'<' => {
                let (tag, next) = parse_start_tag(source, i, utf16)?;
                open.push(tag);
                i = next;
            }
            _ => {
                let next = source[i..].find(['<', '&']).map_or(bytes.len(), |k| i + k);
                let run = &source[i..next];
                text.push_str(run);
                utf16 += run.encode_utf16().count();
                i = next;
            }
        }
    }
    if let Some(tag) = open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            tag.name
        ));
    }
    Ok(Formatted { text, entities })
}

const HTML_TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
    "tg-emoji",
];

/// Parses the start tag at `start` (a `<`); returns it and the offset after its `>`.
fn parse_start_tag(source: &str, start: usize, utf16: usize) -> Result<(OpenTag, usize), String> {
    let bytes = source.as_bytes();
    let unclosed = || format!("Unclosed start tag at byte offset {start}");
    let mut i = start + 1;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
        i += 1;
    }
    if i >= bytes.len() {
        return Err(unclosed());
    }
    let name = source[start + 1..i].to_ascii_lowercase();
    if !HTML_TAGS.contains(&name.as_str()) {
        return Err(format!(
            "Unsupported start tag \"{name}\" at byte offset {start}"
        ));
    }
    let mut attributes: Vec<(String, Option<String>)> = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            None => return Err(unclosed()),
            Some(b'>') => {
                i += 1;
                break;
            }
            Some(_) => {}
        }
        let attribute_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"=>/\"'".contains(&bytes[i]) {
            i += 1;
        }
        let attribute = source[attribute_start..i].to_ascii_lowercase();
        if attribute.is_empty() {
            return Err(format!(
                "Empty attribute name in the tag \"{name}\" at byte offset {start}"
            ));
        }
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            if i >= bytes.len() {
                return Err(unclosed());
            }
            attributes.push((attribute, None));
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let Some(&quote) = bytes.get(i) else {
            return Err(unclosed());
        };
        let value = if quote == b'"' || quote == b'\'' {
            i += 1;
            let mut value = String::new();
            loop {
                match bytes.get(i) {
                    None => return Err(unclosed()),
                    Some(&b) if b == quote => {
                        i += 1;
                        break;
                    }
                    Some(b'&') => {
                        let (ch, len) = decode_entity(&source[i..]).ok_or_else(|| {
                            format!("Character '&' at byte offset {i} starts no HTML entity; escape it as \"&amp;\"")
                        })?;
                        value.push(ch);
                        i += len;
                    }
                    Some(_) => {
                        let next = source[i..]
                            .find([quote as char, '&'])
                            .map_or(bytes.len(), |k| i + k);
                        value.push_str(&source[i..next]);
                        i = next;
                    }
                }
            }
            value
        } else {
            let token_start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'-')
            {
                i += 1;
            }
            if i >= bytes.len() {
                return Err(unclosed());
            }
            if !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                return Err(format!("Unexpected end of name token at byte offset {i}"));
            }
            source[token_start..i].to_ascii_lowercase()
        };
        attributes.push((attribute, Some(value)));
    }
    let argument = tag_argument(&name, attributes, start)?;
    Ok((
        OpenTag {
            name,
            argument,
            start: utf16,
        },
        i,
    ))
}

/// The one attribute each tag may carry, checked; any other attribute is refused.
fn tag_argument(
    name: &str,
    attributes: Vec<(String, Option<String>)>,
    start: usize,
) -> Result<Option<String>, String> {
    let mut argument = None;
    for (attribute, value) in attributes {
        match (name, attribute.as_str(), value) {
            ("a", "href", Some(url)) => argument = Some(url),
            ("code", "class", Some(class)) if class.starts_with("language-") => {
                argument = Some(class["language-".len()..].to_owned());
            }
            ("span", "class", Some(class)) if class == "tg-spoiler" => argument = Some(class),
            ("tg-emoji", "emoji-id", Some(id)) => argument = Some(id),
            ("blockquote", "expandable", None) => argument = Some("expandable".to_owned()),
            (_, attribute, _) => {
                return Err(format!(
                    "Unsupported attribute \"{attribute}\" in the tag \"{name}\" at byte offset {start}"
                ));
            }
        }
    }
    if name == "span" && argument.is_none() {
        return Err(format!(
            "Tag \"span\" must have class \"tg-spoiler\" at byte offset {start}"
        ));
    }
    if name == "tg-emoji"
        && !argument
            .as_deref()
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("Invalid custom emoji identifier specified".to_owned());
    }
    Ok(argument)
}

fn close_tag(
    tag: OpenTag,
    utf16: usize,
    text: &str,
    entities: &mut Vec<Entity>,
) -> Result<(), String> {
    let length = utf16 - tag.start;
    if length == 0 {
        // Telegram drops empty entities silently.
        return Ok(());
    }
    let entity = |kind: &'static str, extra: Option<(&'static str, String)>| Entity {
        kind,
        offset: tag.start,
        length,
        extra,
    };
    let made = match tag.name.as_str() {
        "b" | "strong" => entity("bold", None),
        "i" | "em" => entity("italic", None),
        "u" | "ins" => entity("underline", None),
        "s" | "strike" | "del" => entity("strikethrough", None),
        "tg-spoiler" | "span" => entity("spoiler", None),
        "tg-emoji" => entity(
            "custom_emoji",
            tag.argument.map(|id| ("custom_emoji_id", id)),
        ),
        "blockquote" if tag.argument.is_some() => entity("expandable_blockquote", None),
        "blockquote" => entity("blockquote", None),
        "a" => {
            // Without href Telegram links the text itself.
            let url = tag.argument.unwrap_or_else(|| {
                let units: Vec<u16> = text.encode_utf16().skip(tag.start).collect();
                String::from_utf16_lossy(&units)
            });
            entity("text_link", Some(("url", url)))
        }
        "code" => entity("code", tag.argument.map(|language| ("language", language))),
        "pre" => {
            // <pre><code class="language-x"> is one pre entity with a language.
            if let Some(last) = entities.last_mut()
                && last.kind == "code"
                && last.offset == tag.start
                && last.length == length
            {
                last.kind = "pre";
                return Ok(());
            }
            entity("pre", None)
        }
        other => return Err(format!("Unsupported start tag \"{other}\"")),
    };
    entities.push(made);
    Ok(())
}

/// The entity at the start of `s` (which starts with `&`): the four Telegram names, or a
/// numeric reference. Returns the character and the entity's length in bytes.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let end = s.find(';')?;
    let body = &s[1..end];
    let ch = match body {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = body.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) if !hex.is_empty() && hex.len() <= 8 => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                Some(_) => return None,
                None if !number.is_empty()
                    && number.len() <= 10
                    && number.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    number.parse().ok()?
                }
                None => return None,
            };
            char::from_u32(code).filter(|c| *c != '\0')?
        }
    };
    Some((ch, end + 1))
}

// ---------------------------------------------------------------------------------------------
// Image headers
// ---------------------------------------------------------------------------------------------

/// Width and height from the header of a PNG, GIF, WebP or JPEG; `None` for anything else.
fn image_dimensions(head: &[u8], jpeg: &JpegScan) -> Option<(u32, u32)> {
    let be32 = |at: usize| Some(u32::from_be_bytes(head.get(at..at + 4)?.try_into().ok()?));
    let le16 = |at: usize| {
        Some(u32::from(u16::from_le_bytes(
            head.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let le24 = |at: usize| {
        let b = head.get(at..at + 3)?;
        Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
    };
    if head.starts_with(b"\x89PNG\r\n\x1a\n") && head.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some((le16(6)?, le16(8)?));
    }
    if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        return match head.get(12..16)? {
            b"VP8 " if head.get(23..26) == Some(&[0x9d, 0x01, 0x2a]) => {
                Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff))
            }
            b"VP8L" if head.get(20) == Some(&0x2f) => {
                let bits = u32::from_le_bytes(head.get(21..25)?.try_into().ok()?);
                Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        };
    }
    jpeg.dims
}

/// Finds a JPEG's SOF marker as the bytes stream by, skipping segments without keeping them:
/// EXIF and ICC segments can push the SOF past any fixed-size head.
#[derive(Default)]
struct JpegScan {
    state: JpegState,
    pending: Vec<u8>,
    dims: Option<(u32, u32)>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum JpegState {
    /// Expecting the SOI marker.
    #[default]
    Start,
    /// Expecting a marker (0xFF, then its code).
    Marker,
    /// Expecting a segment's two length bytes.
    Length,
    /// Inside a segment that does not matter.
    Skip(u64),
    /// Expecting length, precision, height and width of a SOF segment.
    Frame,
    Done,
}

impl JpegScan {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                JpegState::Done => return,
                JpegState::Skip(left) => {
                    let step = left.min(data.len() as u64);
                    data = &data[step as usize..];
                    self.state = if left == step {
                        JpegState::Marker
                    } else {
                        JpegState::Skip(left - step)
                    };
                }
                _ => {
                    self.step(data[0]);
                    data = &data[1..];
                }
            }
        }
    }

    fn step(&mut self, byte: u8) {
        self.pending.push(byte);
        let pending = &self.pending;
        let have = pending.len();
        let next = match self.state {
            JpegState::Start if have < 2 => return,
            JpegState::Start if pending[..] == [0xFF, 0xD8] => JpegState::Marker,
            JpegState::Start => JpegState::Done,
            JpegState::Marker if pending[0] != 0xFF => JpegState::Done,
            JpegState::Marker if have < 2 => return,
            // 0xFF may repeat as fill before the marker code.
            JpegState::Marker if byte == 0xFF => {
                self.pending.truncate(1);
                return;
            }
            JpegState::Marker => match byte {
                0x01 | 0xD0..=0xD8 => JpegState::Marker,
                // A scan or the end before any frame header: not an image Telegram can read.
                0xD9 | 0xDA => JpegState::Done,
                0xC0..=0xCF if !matches!(byte, 0xC4 | 0xC8 | 0xCC) => JpegState::Frame,
                _ => JpegState::Length,
            },
            JpegState::Length if have < 2 => return,
            JpegState::Length => match u16::from_be_bytes([pending[0], pending[1]]) {
                0..=1 => JpegState::Done,
                2 => JpegState::Marker,
                length => JpegState::Skip(u64::from(length) - 2),
            },
            JpegState::Frame if have < 7 => return,
            JpegState::Frame => {
                let height = u16::from_be_bytes([pending[3], pending[4]]);
                let width = u16::from_be_bytes([pending[5], pending[6]]);
                self.dims = Some((u32::from(width), u32::from(height)));
                JpegState::Done
            }
            JpegState::Skip(_) | JpegState::Done => self.state,
        };
        self.state = next;
        self.pending.clear();
    }
}

// ---------------------------------------------------------------------------------------------
// The spec and the schema check
// ---------------------------------------------------------------------------------------------

struct Spec {
    methods: HashMap<String, MethodSpec>,
    /// Lowercase name to the spec's spelling, since Telegram matches method names in any case.
    lowercase: HashMap<String, String>,
    types: HashMap<String, TypeSpec>,
}

struct MethodSpec {
    name: String,
    fields: Vec<FieldSpec>,
    returns: Vec<String>,
}

impl MethodSpec {
    fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }
}

struct FieldSpec {
    name: String,
    types: Vec<String>,
    required: bool,
    /// The description allows `attach://<name>` here.
    takes_attach: bool,
}

enum TypeSpec {
    Object {
        fields: Vec<FieldSpec>,
        /// For members of a union: the field and value that pick this type (`type` = `photo`).
        discriminator: Option<(String, String)>,
    },
    Union(Vec<String>),
}

#[derive(Deserialize)]
struct RawSpec {
    methods: HashMap<String, RawEntry>,
    types: HashMap<String, RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    name: String,
    #[serde(default)]
    fields: Vec<RawField>,
    #[serde(default)]
    subtypes: Vec<String>,
    #[serde(default)]
    subtype_of: Vec<String>,
    #[serde(default)]
    returns: Vec<String>,
}

#[derive(Deserialize)]
struct RawField {
    name: String,
    types: Vec<String>,
    required: bool,
    #[serde(default)]
    description: String,
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC_PATH)
            .unwrap_or_else(|e| panic!("fake bot: can't read {SPEC_PATH}: {e}"));
        let raw: RawSpec = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("fake bot: can't parse {SPEC_PATH}: {e}"));
        Spec::from_raw(raw)
    })
}

impl Spec {
    fn from_raw(raw: RawSpec) -> Spec {
        let fields_of = |raw: Vec<RawField>| -> Vec<FieldSpec> {
            raw.into_iter()
                .map(|f| FieldSpec {
                    takes_attach: f.description.contains("attach://"),
                    name: f.name,
                    types: f.types,
                    required: f.required,
                })
                .collect()
        };
        let methods: HashMap<String, MethodSpec> = raw
            .methods
            .into_values()
            .map(|m| {
                let method = MethodSpec {
                    name: m.name.clone(),
                    fields: fields_of(m.fields),
                    returns: m.returns,
                };
                (m.name, method)
            })
            .collect();
        let lowercase = methods
            .keys()
            .map(|name| (name.to_ascii_lowercase(), name.clone()))
            .collect();
        let types = raw
            .types
            .into_values()
            .map(|t| {
                let spec = if t.subtypes.is_empty() {
                    let discriminator = if t.subtype_of.is_empty() {
                        None
                    } else {
                        t.fields.iter().find_map(|f| {
                            (f.types == ["String"])
                                .then(|| discriminator_value(&f.description))
                                .flatten()
                                .map(|value| (f.name.clone(), value))
                        })
                    };
                    TypeSpec::Object {
                        fields: fields_of(t.fields),
                        discriminator,
                    }
                } else {
                    TypeSpec::Union(t.subtypes)
                };
                (t.name, spec)
            })
            .collect();
        Spec {
            methods,
            lowercase,
            types,
        }
    }

    /// Whether some object's field named `key` takes a file (`media`, `thumbnail`, ...).
    fn takes_files(&self, key: &str) -> bool {
        self.types.values().any(|ty| match ty {
            TypeSpec::Object { fields, .. } => fields.iter().any(|f| {
                f.name == key && (f.takes_attach || f.types.iter().any(|t| t == "InputFile"))
            }),
            TypeSpec::Union(_) => false,
        })
    }

    fn method(&self, name: &str) -> Option<&MethodSpec> {
        self.methods.get(name).or_else(|| {
            self.lowercase
                .get(&name.to_ascii_lowercase())
                .and_then(|canonical| self.methods.get(canonical))
        })
    }
}

/// The value a union member's tag must have, from descriptions like "Type of the media, must
/// be photo" or "Type of the reaction, always \"emoji\"".
fn discriminator_value(description: &str) -> Option<String> {
    let description = description.trim_end().trim_end_matches('.');
    let (head, word) = description.rsplit_once(' ')?;
    let word = word.trim_matches('"');
    let tagged = head.ends_with("must be") || head.ends_with("always");
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (tagged && plain).then(|| word.to_owned())
}

fn is_scalar(ty: &str) -> bool {
    matches!(ty, "Integer" | "Float" | "Boolean" | "String" | "InputFile")
}

/// Every way the request's parameters break the method's schema, in Telegram-like wording.
fn check_params(spec: &Spec, method: &MethodSpec, incoming: &Incoming) -> Vec<String> {
    let mut checker = Checker::new(spec);
    for (name, value) in &incoming.fields {
        match method.field(name) {
            None => checker
                .problems
                .push(format!("unknown parameter \"{name}\" for {}", method.name)),
            Some(field) => checker.text_param(name, value, &field.types),
        }
    }
    // Files read from disk are named by parameters, which are checked as text.
    let parts = || {
        incoming
            .files
            .iter()
            .filter(|f| f.upload.local_path.is_none())
    };
    for part in parts() {
        let name = &part.upload.field;
        if let Some(field) = method.field(name)
            && !field.types.iter().any(|t| t == "InputFile")
        {
            checker.problems.push(format!(
                "parameter \"{name}\" must be {}, got a file",
                field.types.join(" or ")
            ));
        }
    }
    for field in method.fields.iter().filter(|f| f.required) {
        if !incoming.fields.contains_key(&field.name) && incoming.file(&field.name).is_none() {
            checker.problems.push(missing(&field.name, &field.types));
        }
    }
    for (path, name) in &checker.refs {
        if incoming.file(name).is_none() {
            let what = if path.contains('[') || path.contains('.') {
                "can't parse InputMedia: media not found"
            } else {
                "wrong file identifier/HTTP URL specified"
            };
            checker.problems.push(format!(
                "{what} ({path} is attach://{name} but no multipart part is named \"{name}\")"
            ));
        }
    }
    for part in parts() {
        let name = &part.upload.field;
        if method.field(name).is_none() && !checker.refs.iter().any(|(_, r)| r == name) {
            checker.problems.push(format!(
                "multipart part \"{name}\" is not a parameter of {} and no attach:// names it",
                method.name
            ));
        }
    }
    checker.problems
}

/// Telegram's words for the parameters it names when they are missing, else a plain statement.
fn missing(name: &str, types: &[String]) -> String {
    match name {
        "text" => "message text is empty".to_owned(),
        "chat_id" => "chat_id is empty".to_owned(),
        _ if types.iter().any(|t| t == "InputFile") => format!("there is no {name} in the request"),
        _ => format!("parameter \"{name}\" is required"),
    }
}

/// Checks values against spec types, collecting problems and the `attach://` names it meets.
struct Checker<'s> {
    spec: &'s Spec,
    problems: Vec<String>,
    /// (where, part name) for every `attach://` seen.
    refs: Vec<(String, String)>,
}

impl<'s> Checker<'s> {
    fn new(spec: &'s Spec) -> Checker<'s> {
        Checker {
            spec,
            problems: Vec::new(),
            refs: Vec::new(),
        }
    }

    /// A top-level parameter, which travels as text: numbers and Booleans as text, objects and
    /// arrays as JSON.
    fn text_param(&mut self, name: &str, value: &str, types: &[String]) {
        if types.iter().any(|t| t == "InputFile")
            && let Some(part) = value.strip_prefix("attach://")
        {
            self.refs.push((name.to_owned(), part.to_owned()));
            return;
        }
        let scalar_ok = types.iter().any(|t| match t.as_str() {
            "String" | "InputFile" => true,
            "Integer" => value.parse::<i64>().is_ok(),
            "Float" => value.parse::<f64>().is_ok_and(f64::is_finite),
            "Boolean" => value == "true" || value == "false",
            _ => false,
        });
        if scalar_ok {
            return;
        }
        let structured: Vec<String> = types.iter().filter(|t| !is_scalar(t)).cloned().collect();
        if structured.is_empty() {
            self.problems.push(format!(
                "parameter \"{name}\" must be {}, got {}",
                types.join(" or "),
                shorten(value, 80)
            ));
            return;
        }
        match serde_json::from_str::<Value>(value) {
            Ok(json) => self.any_of(&json, &structured, name),
            Err(e) => self.problems.push(format!(
                "parameter \"{name}\" must be a JSON-serialized {}, but it does not parse ({e}): {}",
                types.join(" or "),
                shorten(value, 80)
            )),
        }
    }

    /// Passes if `value` is any of `types`; otherwise reports the closest one's problems.
    fn any_of(&mut self, value: &Value, types: &[String], path: &str) {
        if let [only] = types {
            return self.value(value, only, path);
        }
        // The spec writes "Array of A or B" as several array types; an array mixing A and B
        // is what it means (an album of photos and videos), so check element by element.
        let elements: Option<Vec<String>> = types
            .iter()
            .map(|t| t.strip_prefix("Array of ").map(str::to_owned))
            .collect();
        if let Some(elements) = elements {
            let Some(items) = value.as_array() else {
                return self.problem(
                    path,
                    &format!("an array of {}", elements.join(" or ")),
                    value,
                );
            };
            for (index, item) in items.iter().enumerate() {
                self.any_of(item, &elements, &format!("{path}[{index}]"));
            }
            return;
        }
        if !self.by_tag(value, None, types, path) {
            self.best_of(value, types, path);
        }
    }

    /// Passes if `value` is any of `types`; otherwise reports the problems of the one it comes
    /// closest to.
    fn best_of(&mut self, value: &Value, types: &[String], path: &str) {
        let mut best: Option<Checker> = None;
        for ty in types {
            let mut attempt = Checker::new(self.spec);
            attempt.value(value, ty, path);
            if attempt.problems.is_empty() {
                self.refs.extend(attempt.refs);
                return;
            }
            if best
                .as_ref()
                .is_none_or(|b| attempt.problems.len() < b.problems.len())
            {
                best = Some(attempt);
            }
        }
        if let Some(best) = best {
            self.problems.push(format!(
                "{path} is none of {}; closest: {}",
                types.join(", "),
                best.problems.join("; ")
            ));
        }
    }

    fn value(&mut self, value: &Value, ty: &str, path: &str) {
        if let Some(element) = ty.strip_prefix("Array of ") {
            let Some(items) = value.as_array() else {
                return self.problem(path, ty, value);
            };
            for (index, item) in items.iter().enumerate() {
                self.value(item, element, &format!("{path}[{index}]"));
            }
            return;
        }
        let fits = match ty {
            "Integer" => value.is_i64() || value.is_u64(),
            "Float" => value.is_number(),
            "Boolean" => value.is_boolean(),
            "String" | "InputFile" => value.is_string(),
            _ => {
                let spec = self.spec;
                match spec.types.get(ty) {
                    Some(TypeSpec::Object {
                        fields,
                        discriminator,
                    }) => self.object(value, ty, fields, discriminator.as_ref(), path),
                    Some(TypeSpec::Union(members)) => self.union(value, ty, members, path),
                    None => self.problems.push(format!(
                        "{path}: the spec has no type {ty} (a fake_bot bug)"
                    )),
                }
                return;
            }
        };
        if !fits {
            self.problem(path, ty, value);
        }
    }

    fn problem(&mut self, path: &str, expected: &str, got: &Value) {
        self.problems.push(format!(
            "{path} must be {expected}, got {}",
            clip(&got.to_string(), 80)
        ));
    }

    fn object(
        &mut self,
        value: &Value,
        ty: &str,
        fields: &[FieldSpec],
        discriminator: Option<&(String, String)>,
        path: &str,
    ) {
        let Some(object) = value.as_object() else {
            return self.problem(path, &format!("a JSON object ({ty})"), value);
        };
        if let Some((tag, expected)) = discriminator
            && object.get(tag).and_then(Value::as_str) != Some(expected.as_str())
        {
            self.problems
                .push(format!("{path}.{tag} must be \"{expected}\" in {ty}"));
        }
        for (key, item) in object {
            let inner = format!("{path}.{key}");
            let Some(field) = fields.iter().find(|f| f.name == *key) else {
                self.problems
                    .push(format!("{inner} is not a field of {ty}"));
                continue;
            };
            if item.is_null() {
                self.problems
                    .push(format!("{inner} is null; leave it out instead"));
                continue;
            }
            if field.takes_attach
                && let Some(part) = item.as_str().and_then(|s| s.strip_prefix("attach://"))
            {
                self.refs.push((inner.clone(), part.to_owned()));
            }
            self.any_of(item, &field.types, &inner);
        }
        for field in fields.iter().filter(|f| f.required) {
            if !object.contains_key(&field.name) {
                self.problems
                    .push(format!("{path}.{} is required in {ty}", field.name));
            }
        }
    }

    /// A union member is picked by its tag (`type`, `status`, `source`) when the members have
    /// one; otherwise the value must fit one of them.
    fn union(&mut self, value: &Value, ty: &str, members: &[String], path: &str) {
        if !self.by_tag(value, Some(ty), members, path) {
            self.any_of(value, members, path);
        }
    }

    /// When `value` is an object and `members` are tagged objects, checks it against the members
    /// its tag picks, so the problem reported is the tag or that member's, not the closest
    /// guess. Returns whether it could pick that way.
    fn by_tag(
        &mut self,
        value: &Value,
        union: Option<&str>,
        members: &[String],
        path: &str,
    ) -> bool {
        let Some(object) = value.as_object() else {
            return false;
        };
        let spec = self.spec;
        let tagged: Vec<(&String, &String, &String)> = members
            .iter()
            .filter_map(|member| match spec.types.get(member) {
                Some(TypeSpec::Object {
                    discriminator: Some((tag, expected)),
                    ..
                }) => Some((member, tag, expected)),
                _ => None,
            })
            .collect();
        let Some((_, tag, _)) = tagged.first() else {
            return false;
        };
        let got = object.get(tag.as_str()).and_then(Value::as_str);
        let matching: Vec<String> = tagged
            .iter()
            .filter(|(_, t, expected)| {
                object.get(t.as_str()).and_then(Value::as_str) == Some(expected.as_str())
            })
            .map(|(member, _, _)| (*member).clone())
            .collect();
        if matching.is_empty() {
            let allowed: Vec<&str> = tagged.iter().map(|(_, _, e)| e.as_str()).collect();
            let of = union.map(|name| format!(" for {name}")).unwrap_or_default();
            let got = got.map_or_else(|| "nothing".to_owned(), |g| format!("{g:?}"));
            self.problems.push(format!(
                "{path}.{tag} must be one of {}{of}, got {got}",
                allowed.join(", ")
            ));
        } else if let [only] = &matching[..] {
            self.value(value, only, path);
        } else {
            self.best_of(value, &matching, path);
        }
        true
    }
}
