//! The only module that speaks the Bot API: requests, streamed uploads, and what an answer means.
//!
//! Everything else in dropcast hands over an [`OutMessage`] and gets back a [`Sent`] or a
//! [`TelegramError`] that says whether trying again can help. Nothing outside this file knows a
//! Bot API field name.
//!
//! **Architecture Invariant:** the bot token never leaves this module except inside the request
//! URL. Every error is built from [`reqwest::Error::without_url`] and every description is scrubbed
//! of the token before it is stored, because a proxy's error page may echo the request path.
//!
//! **Architecture Invariant:** the filesystem is touched only to stream an upload from disk; a
//! file is never read whole into memory. With a Local Bot API server
//! ([`Client::with_local_files`]) files are not even opened: the server reads them by path.

use std::fmt::{self, Write as _};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;

use crate::post::{AlbumItem, Button, MediaKind, OutMessage, Rendered, SendOptions, Target};
use crate::token::Token;

/// How long to wait for a TCP (and TLS) connection to the Bot API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request limit for the small JSON methods.
const JSON_TIMEOUT: Duration = Duration::from_secs(30);
/// Fixed part of an upload's limit; the rest grows with the file (see [`upload_timeout`]).
const UPLOAD_BASE_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest upload rate we still wait for, in bytes per second: a 50 MB PDF gets about 4 minutes.
const UPLOAD_MIN_RATE: u64 = 256 * 1024;
/// `sendMediaGroup` takes 2 to 10 items.
const ALBUM_ITEMS: std::ops::RangeInclusive<usize> = 2..=10;
/// Bot API answers are a few KB; anything longer is not an answer we can use.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Chunk size when streaming a file from disk.
const UPLOAD_CHUNK: usize = 64 * 1024;
/// When a 429 says neither `retry_after` nor "retry after N".
const DEFAULT_RETRY_AFTER: u64 = 5;

/// Telegram's limits for a photo (`sendPhoto`): larger or odder images must go as documents.
const PHOTO_MAX_BYTES: u64 = 10 * 1024 * 1024;
const PHOTO_MAX_SIDES: u64 = 10_000;
const PHOTO_MAX_RATIO: u64 = 20;

/// What `getMe` says about the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotInfo {
    pub id: i64,
    pub username: String,
}

/// A chat as `getChat` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatInfo {
    pub id: i64,
    /// `channel`, `supergroup`, `group` or `private`.
    pub kind: String,
    pub title: String,
    pub username: Option<String>,
}

/// A member's standing in a chat, as `getChatMember` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// `creator`, `administrator`, `member`, `restricted`, `left` or `kicked`.
    pub status: String,
    pub can_post_messages: bool,
    pub can_pin_messages: bool,
    pub can_edit_messages: bool,
    /// Others' messages too: a bot deletes its own posts without it (Bot API, `deleteMessage`).
    pub can_delete_messages: bool,
}

/// A message Telegram created.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub message_id: i64,
    pub chat_id: i64,
    pub chat_username: Option<String>,
}

impl Sent {
    /// A link to the message: `https://t.me/<username>/<id>` for public channels,
    /// `https://t.me/c/<id without the -100 prefix>/<id>` for private ones.
    ///
    /// Chats whose id lacks the `-100` prefix (basic groups, users) have no real message links;
    /// they get the `/c/` form with the absolute id, which at least names the chat.
    pub fn link(&self) -> String {
        match &self.chat_username {
            Some(username) if !username.is_empty() => {
                format!("https://t.me/{username}/{}", self.message_id)
            }
            _ => {
                let id = self.chat_id.to_string();
                let internal = id
                    .strip_prefix("-100")
                    .or_else(|| id.strip_prefix('-'))
                    .unwrap_or(&id);
                format!("https://t.me/c/{internal}/{}", self.message_id)
            }
        }
    }
}

/// Why a request did not produce what we asked for, sorted by what the caller should do next.
///
/// Descriptions never contain the bot token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    /// Telegram asked us to wait (429, or a 400 whose description says "retry after N").
    #[error("telegram asked to wait {seconds} s: {description}")]
    RetryAfter { seconds: u64, description: String },
    /// Worth retrying later: network errors, timeouts, 5xx, unparseable answers.
    #[error("telegram is unreachable or answered badly: {description}")]
    Transient { description: String },
    /// Retrying cannot help: 400/403/404 with Telegram's description (e.g. "Bad Request: chat
    /// not found", "Forbidden: bot is not a member of the channel chat"); 401 token refused.
    ///
    /// `code` is 0 when the request never reached Telegram: an invalid `api_url`, or a file that
    /// cannot be opened.
    #[error("telegram refused the request ({code}): {description}")]
    Permanent { code: u16, description: String },
}

impl TelegramError {
    /// Whether Telegram refused an image as a photo; the caller then sends it as a document.
    pub fn is_photo_rejected(&self) -> bool {
        const MARKERS: [&str; 4] = [
            "PHOTO_INVALID_DIMENSIONS",
            "PHOTO_INVALID",
            "IMAGE_PROCESS_FAILED",
            "PHOTO_SAVE_FILE_INVALID",
        ];
        let description = self.description();
        MARKERS.iter().any(|marker| description.contains(marker))
    }

    fn description(&self) -> &str {
        match self {
            TelegramError::RetryAfter { description, .. }
            | TelegramError::Transient { description }
            | TelegramError::Permanent { description, .. } => description,
        }
    }

    fn scrubbed(self, token: &Token) -> TelegramError {
        match self {
            TelegramError::RetryAfter {
                seconds,
                description,
            } => TelegramError::RetryAfter {
                seconds,
                description: token.scrub(&description),
            },
            TelegramError::Transient { description } => TelegramError::Transient {
                description: token.scrub(&description),
            },
            TelegramError::Permanent { code, description } => TelegramError::Permanent {
                code,
                description: token.scrub(&description),
            },
        }
    }
}

/// A Bot API client for one bot. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    inner: Arc<Inner>,
    /// Files go to a Local Bot API server by path instead of being uploaded.
    local_files: bool,
    /// The time allowed for a request without an upload; uploads get twice this plus time for
    /// their size. A request that takes longer is abandoned (and may or may not have posted).
    timeout: Duration,
}

struct Inner {
    /// `api_url` without a trailing slash.
    base: String,
    token: Token,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.inner.base)
            .field("token", &self.inner.token)
            .field("local_files", &self.local_files)
            .finish()
    }
}

impl Client {
    /// `api_url` is like `https://api.telegram.org` or `http://127.0.0.1:8081` (a Local Bot API
    /// server); a trailing slash is tolerated.
    pub fn new(api_url: &str, token: Token) -> Result<Client, TelegramError> {
        let base = api_url.trim_end_matches('/').to_owned();
        let invalid = |why: &str| TelegramError::Permanent {
            code: 0,
            description: token.scrub(&format!("invalid api_url {base:?}: {why}")),
        };
        let url = reqwest::Url::parse(&base).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a query or fragment cannot be part of it"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirect would carry the token-bearing path somewhere we did not choose.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dropcast/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TelegramError::Permanent {
                code: 0,
                description: token.scrub(&error_chain(&e.without_url())),
            })?;
        Ok(Client {
            http,
            inner: Arc::new(Inner { base, token }),
            local_files: false,
            timeout: JSON_TIMEOUT,
        })
    }

    /// For a Local Bot API server started with `--local`: when `on`, files are not uploaded but
    /// named by `file://` path, which the server reads itself (no 50 MB limit, no upload time).
    ///
    /// The server must see dropcast's files under the same absolute paths. Telegram then shows
    /// each file under its name on disk: [`OutMessage`]'s `file_name` cannot travel in a path.
    pub fn with_local_files(self, on: bool) -> Client {
        Client {
            local_files: on,
            ..self
        }
    }

    /// Sets the request timeout (default 30 s); see [`Client`]'s `timeout` field.
    pub fn with_timeout(self, timeout: Duration) -> Client {
        Client { timeout, ..self }
    }

    /// Checks the token and says who the bot is.
    pub async fn get_me(&self) -> Result<BotInfo, TelegramError> {
        let result = self.call_json("getMe", &json!({})).await?;
        let user: UserDe = parse_result(result)?;
        Ok(BotInfo {
            id: user.id,
            username: user.username.unwrap_or_default(),
        })
    }

    /// Sends one message of a post to `chat` (numeric id like "-1001234567890" or "@username"),
    /// returns what Telegram created: one [`Sent`] per message, in order (an album makes several).
    ///
    /// Requests that cannot be right (an album of the wrong size or with an animation, a relative
    /// path for a Local Bot API server, a file that cannot be opened) fail with `Permanent` code 0
    /// before anything is sent.
    pub async fn send(
        &self,
        chat: &str,
        msg: &OutMessage,
        opts: SendOptions,
    ) -> Result<Vec<Sent>, TelegramError> {
        let request = self.request(chat, msg, opts).await?;
        let result = self.execute(request).await?;
        match msg {
            OutMessage::Album { items } => {
                let messages: Vec<MessageDe> = parse_result(result)?;
                if messages.len() != items.len() {
                    // Already posted: resending would duplicate it, so keep what Telegram says.
                    tracing::warn!(
                        items = items.len(),
                        messages = messages.len(),
                        "telegram made a different number of album messages than items sent"
                    );
                }
                Ok(messages.into_iter().map(MessageDe::into_sent).collect())
            }
            OutMessage::Text { .. } | OutMessage::Media { .. } => {
                let message: MessageDe = parse_result(result)?;
                Ok(vec![message.into_sent()])
            }
            // A change answers with the message (edits) or `true`; either way what changed is
            // the message named, which the caller knows.
            _ => Ok(Vec::new()),
        }
    }

    /// Sends a request that changes a message that went out (an edit, a deletion, an unpin).
    /// What changes nothing is done already: Telegram's "message is not modified" for an edit,
    /// "message to delete not found" for a deletion (a person deleted it, or an earlier request
    /// whose answer was lost did), and `CHAT_NOT_MODIFIED` for an unpin of a message that is
    /// not pinned.
    pub async fn change(
        &self,
        chat: &str,
        msg: &OutMessage,
        opts: SendOptions,
    ) -> Result<(), TelegramError> {
        match self.send(chat, msg, opts).await {
            Ok(_) => Ok(()),
            Err(TelegramError::Permanent { description, .. })
                if already_done(msg, &description) =>
            {
                tracing::debug!(%description, "the change was there already");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Pins a message; `silent` asks Telegram not to notify about it.
    pub async fn pin(
        &self,
        chat: &str,
        message_id: i64,
        silent: bool,
    ) -> Result<(), TelegramError> {
        let result = self
            .call_json("pinChatMessage", &pin_body(chat, message_id, silent))
            .await?;
        match result {
            Value::Bool(true) => Ok(()),
            other => Err(TelegramError::Transient {
                description: format!("pinChatMessage answered {other} instead of true"),
            }),
        }
    }

    /// What Telegram knows about a chat (`getChat`).
    pub async fn get_chat(&self, chat: &str) -> Result<ChatInfo, TelegramError> {
        let mut body = Map::new();
        body.insert("chat_id".into(), chat_id_value(chat));
        let result = self.call_json("getChat", &Value::Object(body)).await?;
        let c: ChatInfoDe = parse_result(result)?;
        Ok(ChatInfo {
            id: c.id,
            kind: c.kind,
            title: c.title.unwrap_or_default(),
            username: c.username,
        })
    }

    /// The bot's (or any user's) standing in a chat (`getChatMember`).
    pub async fn get_chat_member(
        &self,
        chat: &str,
        user_id: i64,
    ) -> Result<MemberInfo, TelegramError> {
        let mut body = Map::new();
        body.insert("chat_id".into(), chat_id_value(chat));
        body.insert("user_id".into(), Value::from(user_id));
        let result = self
            .call_json("getChatMember", &Value::Object(body))
            .await?;
        let m: MemberDe = parse_result(result)?;
        Ok(MemberInfo {
            status: m.status,
            can_post_messages: m.can_post_messages.unwrap_or(false),
            can_pin_messages: m.can_pin_messages.unwrap_or(false),
            can_edit_messages: m.can_edit_messages.unwrap_or(false),
            can_delete_messages: m.can_delete_messages.unwrap_or(false),
        })
    }

    fn url(&self, method: &str) -> String {
        format!(
            "{}/bot{}/{method}",
            self.inner.base,
            self.inner.token.expose()
        )
    }

    async fn call_json(&self, method: &str, body: &Value) -> Result<Value, TelegramError> {
        self.execute(self.json_request(method, body, self.timeout))
            .await
    }

    /// The request that sends `msg`. Files to upload are opened here and streamed when the
    /// request is executed.
    async fn request(
        &self,
        chat: &str,
        msg: &OutMessage,
        opts: SendOptions,
    ) -> Result<reqwest::RequestBuilder, TelegramError> {
        match msg {
            OutMessage::Text {
                text,
                link_preview,
                buttons,
            } => {
                let body = message_body(chat, text, *link_preview, buttons, opts);
                Ok(self.json_request("sendMessage", &body, self.timeout))
            }
            OutMessage::Media {
                kind,
                path,
                file_name,
                caption,
                buttons,
                thumbnail,
            } => {
                let (method, file_field) = media_method(*kind);
                let mut fields = media_fields(chat, caption.as_ref(), buttons, opts);
                let mut files = Vec::new();
                let mut total: u64 = 0;
                if *kind == MediaKind::Document
                    && let Some((part, len)) = self.thumbnail_part(thumbnail.as_deref()).await
                {
                    fields.push(("thumbnail", Value::from(format!("attach://{THUMB}0"))));
                    files.push((format!("{THUMB}0"), part));
                    total += len;
                }
                if self.local_files {
                    fields.push((file_field, Value::from(self.local_uri(path)?)));
                    if files.is_empty() {
                        let body = json_object(fields);
                        return Ok(self.json_request(method, &body, self.timeout * 4));
                    }
                    // A thumbnail is never taken by path: it goes as an upload of its own.
                    return Ok(self.multipart_request(method, fields, files, total));
                }
                let (part, len) = self.file_part(path, file_name).await?;
                files.insert(0, (file_field.to_owned(), part));
                Ok(self.multipart_request(method, fields, files, total + len))
            }
            OutMessage::Album { items } => {
                let mut files = Vec::with_capacity(items.len() * 2);
                let mut total: u64 = 0;
                let mut thumbs = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let thumb = if item.kind == MediaKind::Document {
                        self.thumbnail_part(item.thumbnail.as_deref()).await
                    } else {
                        None
                    };
                    thumbs.push(thumb.is_some());
                    if let Some((part, len)) = thumb {
                        files.push((format!("{THUMB}{i}"), part));
                        total += len;
                    }
                }
                let mut media = if self.local_files {
                    album_media(items, |_, item| self.local_uri(&item.path))?
                } else {
                    album_media(items, |i, _| Ok(format!("attach://{}", attach_name(i))))?
                };
                for (i, m) in media.iter_mut().enumerate() {
                    if thumbs[i]
                        && let Value::Object(map) = m
                    {
                        map.insert(
                            "thumbnail".into(),
                            Value::from(format!("attach://{THUMB}{i}")),
                        );
                    }
                }
                let fields = album_fields(chat, media, opts);
                if self.local_files {
                    if files.is_empty() {
                        let body = json_object(fields);
                        return Ok(self.json_request("sendMediaGroup", &body, self.timeout * 4));
                    }
                    return Ok(self.multipart_request("sendMediaGroup", fields, files, total));
                }
                for (i, item) in items.iter().enumerate() {
                    let (part, len) = self.file_part(&item.path, &item.file_name).await?;
                    total = total.saturating_add(len);
                    files.push((attach_name(i), part));
                }
                Ok(self.multipart_request("sendMediaGroup", fields, files, total))
            }
            OutMessage::EditText {
                target,
                text,
                link_preview,
                buttons,
            } => {
                let mut body = message_body(chat, text, *link_preview, &[], SendOptions::default());
                edit_fields(&mut body, target, buttons);
                Ok(self.json_request("editMessageText", &body, self.timeout))
            }
            OutMessage::EditCaption {
                target,
                caption,
                buttons,
            } => {
                let mut fields = vec![("chat_id", chat_id_value(chat))];
                push_caption(&mut fields, caption.as_ref());
                let mut body = json_object(fields);
                edit_fields(&mut body, target, buttons);
                Ok(self.json_request("editMessageCaption", &body, self.timeout))
            }
            OutMessage::EditButtons { target, buttons } => {
                let mut body = json_object(vec![("chat_id", chat_id_value(chat))]);
                edit_fields(&mut body, target, buttons);
                Ok(self.json_request("editMessageReplyMarkup", &body, self.timeout))
            }
            OutMessage::EditMedia {
                target,
                kind,
                path,
                file_name,
                caption,
                buttons,
            } => {
                let item = AlbumItem {
                    kind: *kind,
                    path: path.clone(),
                    file_name: file_name.clone(),
                    caption: caption.clone(),
                    thumbnail: None,
                };
                let refer = if self.local_files {
                    self.local_uri(path)?
                } else {
                    format!("attach://{}", attach_name(0))
                };
                let media = input_media(&item, refer);
                let mut body =
                    json_object(vec![("chat_id", chat_id_value(chat)), ("media", media)]);
                edit_fields(&mut body, target, buttons);
                let Value::Object(map) = body else {
                    unreachable!("json_object makes an object")
                };
                let fields: Vec<(&'static str, Value)> =
                    ["chat_id", "message_id", "media", "reply_markup"]
                        .into_iter()
                        .filter_map(|k| map.get(k).map(|v| (k, v.clone())))
                        .collect();
                if self.local_files {
                    let body = json_object(fields);
                    return Ok(self.json_request("editMessageMedia", &body, self.timeout * 4));
                }
                let (part, len) = self.file_part(path, file_name).await?;
                let files = vec![(attach_name(0), part)];
                Ok(self.multipart_request("editMessageMedia", fields, files, len))
            }
            OutMessage::Delete { target } => {
                let body = json!({
                    "chat_id": chat_id_value(chat),
                    "message_id": target.message_id,
                });
                Ok(self.json_request("deleteMessage", &body, self.timeout))
            }
            OutMessage::Unpin { target } => {
                let body = json!({
                    "chat_id": chat_id_value(chat),
                    "message_id": target.message_id,
                });
                Ok(self.json_request("unpinChatMessage", &body, self.timeout))
            }
        }
    }

    fn json_request(
        &self,
        method: &str,
        body: &Value,
        timeout: Duration,
    ) -> reqwest::RequestBuilder {
        tracing::debug!(method, "telegram request");
        self.http.post(self.url(method)).timeout(timeout).json(body)
    }

    /// A multipart request: `fields` as text parts, then `files` (`bytes` long in all).
    fn multipart_request(
        &self,
        method: &str,
        fields: Vec<(&'static str, Value)>,
        files: Vec<(String, reqwest::multipart::Part)>,
        bytes: u64,
    ) -> reqwest::RequestBuilder {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name, form_text(value));
        }
        for (name, part) in files {
            form = form.part(name, part);
        }
        tracing::debug!(method, bytes, "telegram upload");
        self.http
            .post(self.url(method))
            .timeout(upload_timeout(bytes) - UPLOAD_BASE_TIMEOUT + self.timeout * 2)
            .multipart(form)
    }

    /// A file part streamed from disk with a known length (so the request has a Content-Length),
    /// and that length.
    async fn file_part(
        &self,
        path: &Path,
        file_name: &str,
    ) -> Result<(reqwest::multipart::Part, u64), TelegramError> {
        let cannot_open = |e: io::Error| TelegramError::Permanent {
            code: 0,
            description: self
                .inner
                .token
                .scrub(&format!("cannot open {}: {e}", path.display())),
        };
        // Never follow a symlink, never block on a FIFO or device: only a regular file goes.
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .await
            .map_err(cannot_open)?;
        let meta = file.metadata().await.map_err(cannot_open)?;
        if !meta.is_file() {
            return Err(cannot_open(io::Error::other("not a regular file")));
        }
        let len = meta.len();
        // `take` keeps the body at the announced length even if the file grows meanwhile; a file
        // that shrinks makes the request fail, which is transient.
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), UPLOAD_CHUNK);
        let body = reqwest::Body::wrap_stream(stream);
        let shown_name = wire_file_name(file_name, path);
        let mime = mime_guess::from_path(&shown_name)
            .first()
            .or_else(|| mime_guess::from_path(path).first())
            .unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM);
        let part = reqwest::multipart::Part::stream_with_length(body, len)
            .file_name(shown_name)
            .mime_str(mime.as_ref())
            .map_err(|e| TelegramError::Permanent {
                code: 0,
                description: error_chain(&e.without_url()),
            })?;
        Ok((part, len))
    }

    /// A thumbnail's upload, or nothing: a preview that cannot be read now (its cache removed)
    /// makes the post go without one, never fail.
    async fn thumbnail_part(&self, path: Option<&Path>) -> Option<(reqwest::multipart::Part, u64)> {
        let path = path?;
        match self.file_part(path, "thumbnail.jpg").await {
            Ok(part) => Some(part),
            Err(e) => {
                tracing::warn!(error = %e, "the preview cannot be read: the file goes without it");
                None
            }
        }
    }

    /// `path` as a Local Bot API server takes it.
    fn local_uri(&self, path: &Path) -> Result<String, TelegramError> {
        file_uri(path).ok_or_else(|| TelegramError::Permanent {
            code: 0,
            description: self.inner.token.scrub(&format!(
                "a local Bot API server needs an absolute path, not {}",
                path.display()
            )),
        })
    }

    async fn execute(&self, request: reqwest::RequestBuilder) -> Result<Value, TelegramError> {
        let token = &self.inner.token;
        let response = request
            .send()
            .await
            .map_err(|e| network_error(e).scrubbed(token))?;
        let status = response.status().as_u16();
        let body = read_answer(response)
            .await
            .map_err(|e| network_error(e).scrubbed(token))?;
        let outcome = classify(status, &body).map_err(|e| e.scrubbed(token));
        if let Err(e) = &outcome {
            tracing::debug!(status, error = %e, "telegram said no");
        }
        outcome
    }
}

/// The whole-request limit for uploading `len` bytes.
fn upload_timeout(len: u64) -> Duration {
    UPLOAD_BASE_TIMEOUT + Duration::from_secs(len / UPLOAD_MIN_RATE)
}

/// Reads an answer body, stopping at [`MAX_ANSWER_BYTES`] (the cut answer then fails to parse).
async fn read_answer(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failure below HTTP: connection, TLS, timeout, broken body. Always worth retrying, except a
/// request that could not even be built.
fn network_error(e: reqwest::Error) -> TelegramError {
    let e = e.without_url();
    let chain = error_chain(&e);
    if e.is_builder() {
        TelegramError::Permanent {
            code: 0,
            description: chain,
        }
    } else if e.is_timeout() {
        TelegramError::Transient {
            description: format!("timed out: {chain}"),
        }
    } else {
        TelegramError::Transient { description: chain }
    }
}

/// `error: cause: cause's cause`, so "error sending request" says which connection failed how.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

// ===== the wire format =====

/// `chat_id` is "Integer or String": numeric ids go as numbers, `@username` as a string.
fn chat_id_value(chat: &str) -> Value {
    match chat.parse::<i64>() {
        Ok(id) => Value::from(id),
        Err(_) => Value::from(chat),
    }
}

/// `InlineKeyboardMarkup` with one URL button per [`Button`]; `None` when there is no button.
fn reply_markup(buttons: &[Vec<Button>]) -> Option<Value> {
    let rows: Vec<Value> = buttons
        .iter()
        .filter(|row| !row.is_empty())
        .map(|row| {
            row.iter()
                .map(|b| json!({ "text": b.text, "url": b.url }))
                .collect()
        })
        .collect();
    if rows.is_empty() {
        None
    } else {
        Some(json!({ "inline_keyboard": rows }))
    }
}

/// The JSON body of `sendMessage`.
fn message_body(
    chat: &str,
    text: &Rendered,
    link_preview: Option<bool>,
    buttons: &[Vec<Button>],
    opts: SendOptions,
) -> Value {
    let mut body = Map::new();
    body.insert("chat_id".into(), chat_id_value(chat));
    body.insert("text".into(), Value::from(text.text.as_str()));
    if let Some(mode) = &text.parse_mode {
        body.insert("parse_mode".into(), Value::from(mode.as_str()));
    }
    if link_preview == Some(false) {
        body.insert(
            "link_preview_options".into(),
            json!({ "is_disabled": true }),
        );
    }
    if let Some(markup) = reply_markup(buttons) {
        body.insert("reply_markup".into(), markup);
    }
    if opts.silent {
        body.insert("disable_notification".into(), Value::Bool(true));
    }
    if opts.protect {
        body.insert("protect_content".into(), Value::Bool(true));
    }
    Value::Object(body)
}

/// The method that sends one file of `kind`, and the field that carries the file.
fn media_method(kind: MediaKind) -> (&'static str, &'static str) {
    match kind {
        MediaKind::Document => ("sendDocument", "document"),
        MediaKind::Photo => ("sendPhoto", "photo"),
        MediaKind::Animation => ("sendAnimation", "animation"),
    }
}

/// The fields of `sendDocument` / `sendPhoto` / `sendAnimation` but the file, in order; the
/// caller adds the file (a multipart part, or a path for a Local Bot API server).
fn media_fields(
    chat: &str,
    caption: Option<&Rendered>,
    buttons: &[Vec<Button>],
    opts: SendOptions,
) -> Vec<(&'static str, Value)> {
    let mut fields = vec![("chat_id", chat_id_value(chat))];
    push_caption(&mut fields, caption);
    if let Some(markup) = reply_markup(buttons) {
        fields.push(("reply_markup", markup));
    }
    push_options(&mut fields, opts);
    fields
}

/// The fields of `sendMediaGroup`, in order; `media` comes from [`album_media`]. Albums carry
/// no buttons: `sendMediaGroup` has no `reply_markup`.
fn album_fields(chat: &str, media: Vec<Value>, opts: SendOptions) -> Vec<(&'static str, Value)> {
    let mut fields = vec![
        ("chat_id", chat_id_value(chat)),
        ("media", Value::Array(media)),
    ];
    push_options(&mut fields, opts);
    fields
}

/// The `InputMediaPhoto` / `InputMediaDocument` array of an album, each item's file named by
/// `refer(index, item)` (`attach://file0`, or a `file://` path).
///
/// Checks what Telegram would refuse anyway, so that nothing is sent: 2 to 10 items, and no
/// animation (`sendMediaGroup` takes none). Whether photos and documents are mixed is the
/// caller's business.
fn album_media(
    items: &[AlbumItem],
    refer: impl Fn(usize, &AlbumItem) -> Result<String, TelegramError>,
) -> Result<Vec<Value>, TelegramError> {
    let refuse = |description: String| TelegramError::Permanent {
        code: 0,
        description,
    };
    if !ALBUM_ITEMS.contains(&items.len()) {
        return Err(refuse(format!(
            "an album takes {} to {} files, not {}",
            ALBUM_ITEMS.start(),
            ALBUM_ITEMS.end(),
            items.len()
        )));
    }
    let mut media = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let kind = match item.kind {
            MediaKind::Photo => "photo",
            MediaKind::Document => "document",
            MediaKind::Animation => {
                return Err(refuse(format!(
                    "an animation cannot be part of an album ({})",
                    item.file_name
                )));
            }
        };
        let mut fields = vec![
            ("type", Value::from(kind)),
            ("media", Value::from(refer(i, item)?)),
        ];
        push_caption(&mut fields, item.caption.as_ref());
        media.push(json_object(fields));
    }
    Ok(media)
}

/// One `InputMedia*` object: a file of an album, or the new file of `editMessageMedia`.
fn input_media(item: &AlbumItem, refer: String) -> Value {
    let kind = match item.kind {
        MediaKind::Photo => "photo",
        MediaKind::Document => "document",
        MediaKind::Animation => "animation",
    };
    let mut fields = vec![("type", Value::from(kind)), ("media", Value::from(refer))];
    push_caption(&mut fields, item.caption.as_ref());
    json_object(fields)
}

/// What every edit request adds: the message it edits, and the buttons it shows afterwards
/// (Telegram removes the buttons of a message whose edit does not repeat them).
fn edit_fields(body: &mut Value, target: &Target, buttons: &[Vec<Button>]) {
    if let Value::Object(map) = body {
        map.insert("message_id".into(), Value::from(target.message_id));
        if let Some(markup) = reply_markup(buttons) {
            map.insert("reply_markup".into(), markup);
        }
    }
}

/// Whether Telegram's refusal of a change says the change is there already (see
/// [`Client::change`]).
fn already_done(msg: &OutMessage, description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    match msg {
        OutMessage::EditText { .. }
        | OutMessage::EditCaption { .. }
        | OutMessage::EditButtons { .. }
        | OutMessage::EditMedia { .. } => d.contains("message is not modified"),
        OutMessage::Delete { .. } => d.contains("message to delete not found"),
        OutMessage::Unpin { .. } => {
            d.contains("chat_not_modified") || d.contains("message to unpin not found")
        }
        _ => false,
    }
}

/// The multipart name of a thumbnail (`thumb0`, the `index`th item's in an album).
const THUMB: &str = "thumb";

/// The multipart name of an album's `index`th file.
fn attach_name(index: usize) -> String {
    format!("file{index}")
}

/// `caption` and `parse_mode`, unless the caption is empty.
fn push_caption(fields: &mut Vec<(&'static str, Value)>, caption: Option<&Rendered>) {
    if let Some(caption) = caption.filter(|c| !c.text.is_empty()) {
        fields.push(("caption", Value::from(caption.text.as_str())));
        if let Some(mode) = &caption.parse_mode {
            fields.push(("parse_mode", Value::from(mode.as_str())));
        }
    }
}

fn push_options(fields: &mut Vec<(&'static str, Value)>, opts: SendOptions) {
    if opts.silent {
        fields.push(("disable_notification", Value::Bool(true)));
    }
    if opts.protect {
        fields.push(("protect_content", Value::Bool(true)));
    }
}

fn json_object(fields: Vec<(&'static str, Value)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    )
}

/// A field's value as a multipart text part: strings as they are, everything else (numbers,
/// booleans, objects, arrays) as JSON, which is how the Bot API reads form fields.
fn form_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// `file:///absolute/path` for a Local Bot API server, or `None` for a relative path.
///
/// Every byte but ASCII letters, digits and `/-._~` is percent-encoded, UTF-8 or not. The server
/// decodes `%XX`; encoding this much (rather than `Url::from_file_path`, which leaves `+`, `;`,
/// `[` and others as they are) means no decoder can read a name differently, e.g. `+` as a space.
fn file_uri(path: &Path) -> Option<String> {
    if !path.is_absolute() {
        return None;
    }
    let mut uri = String::from("file://");
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            let _ = write!(uri, "%{byte:02X}");
        }
    }
    Some(uri)
}

/// The JSON body of `pinChatMessage`.
fn pin_body(chat: &str, message_id: i64, silent: bool) -> Value {
    let mut body = Map::new();
    body.insert("chat_id".into(), chat_id_value(chat));
    body.insert("message_id".into(), Value::from(message_id));
    if silent {
        body.insert("disable_notification".into(), Value::Bool(true));
    }
    Value::Object(body)
}

/// The file name put in the multipart header. reqwest escapes quotes but lets CR/LF through as
/// raw bytes, and a Linux file name may contain them: they would break the part's headers.
fn wire_file_name(file_name: &str, path: &Path) -> String {
    let name = if file_name.trim().is_empty() {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned())
    } else {
        file_name.to_owned()
    };
    name.chars()
        .map(|c| match c {
            c if c.is_control() => '_',
            '"' => '\'',
            '\\' => '_',
            c => c,
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct AnswerDe {
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ParametersDe>,
}

#[derive(serde::Deserialize)]
struct ParametersDe {
    #[serde(default)]
    retry_after: Option<u64>,
}

#[derive(serde::Deserialize)]
struct MessageDe {
    message_id: i64,
    chat: ChatDe,
}

impl MessageDe {
    fn into_sent(self) -> Sent {
        Sent {
            message_id: self.message_id,
            chat_id: self.chat.id,
            chat_username: self.chat.username,
        }
    }
}

#[derive(serde::Deserialize)]
struct ChatDe {
    id: i64,
    #[serde(default)]
    username: Option<String>,
}

#[derive(serde::Deserialize)]
struct ChatInfoDe {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(serde::Deserialize)]
struct MemberDe {
    status: String,
    #[serde(default)]
    can_post_messages: Option<bool>,
    #[serde(default)]
    can_pin_messages: Option<bool>,
    #[serde(default)]
    can_edit_messages: Option<bool>,
    #[serde(default)]
    can_delete_messages: Option<bool>,
}

#[derive(serde::Deserialize)]
struct UserDe {
    id: i64,
    #[serde(default)]
    username: Option<String>,
}

fn parse_result<T: serde::de::DeserializeOwned>(result: Value) -> Result<T, TelegramError> {
    serde_json::from_value(result).map_err(|e| TelegramError::Transient {
        description: format!("unexpected result from telegram: {e}"),
    })
}

/// What an HTTP answer from the Bot API means: the `result` on success, else what to do next.
///
/// The body decides when it parses (Telegram's `error_code` equals the HTTP status); the HTTP
/// status decides only when the body is not a Bot API answer, e.g. a proxy's error page.
fn classify(status: u16, body: &[u8]) -> Result<Value, TelegramError> {
    let answer = match serde_json::from_slice::<AnswerDe>(body) {
        Ok(answer) => answer,
        Err(_) => {
            let description = format!("HTTP {status}, not a Bot API answer: {}", snippet(body));
            return Err(if status == 429 {
                TelegramError::RetryAfter {
                    seconds: DEFAULT_RETRY_AFTER,
                    description,
                }
            } else {
                TelegramError::Transient { description }
            });
        }
    };
    if answer.ok {
        return answer.result.ok_or_else(|| TelegramError::Transient {
            description: format!("HTTP {status}, ok answer without a result"),
        });
    }
    let code = answer
        .error_code
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..=599).contains(c))
        .unwrap_or(status);
    let description = answer
        .description
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("error {code} without a description"));
    let retry_after = answer
        .parameters
        .and_then(|p| p.retry_after)
        .or_else(|| parse_retry_after(&description));
    Err(match (code, retry_after) {
        (_, Some(seconds)) if (400..=499).contains(&code) => TelegramError::RetryAfter {
            seconds,
            description,
        },
        (429, None) => TelegramError::RetryAfter {
            seconds: DEFAULT_RETRY_AFTER,
            description,
        },
        (400..=499, None) => TelegramError::Permanent { code, description },
        _ => TelegramError::Transient {
            description: format!("error {code}: {description}"),
        },
    })
}

/// The N of "retry after N" anywhere in `description`, ignoring case.
fn parse_retry_after(description: &str) -> Option<u64> {
    const NEEDLE: &str = "retry after";
    let lower = description.to_ascii_lowercase();
    lower.match_indices(NEEDLE).find_map(|(at, _)| {
        let rest = lower[at + NEEDLE.len()..].trim_start();
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        // Absurdly many digits: wait as long as we can rather than not at all.
        Some(rest[..digits].parse::<u64>().unwrap_or(u64::MAX))
    })
}

/// The start of a non-API answer, on one line, for the error description.
fn snippet(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(4 * MAX_CHARS)]);
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return "empty answer".to_owned();
    }
    let line = words.join(" ");
    match line.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

// ===== photo or document =====

/// Whether Telegram accepts an image of `size` bytes and `dims` (width, height) as a photo: at
/// most 10 MB, width + height at most 10000, ratio at most 20. Unknown dimensions are not
/// accepted: such an image goes as a document rather than risk a refusal. `prepare` reads the
/// dimensions with [`crate::image_header::image_dimensions`].
pub fn photo_acceptable(size: u64, dims: Option<(u32, u32)>) -> bool {
    let Some((w, h)) = dims else {
        return false;
    };
    let (w, h) = (u64::from(w), u64::from(h));
    size <= PHOTO_MAX_BYTES
        && w > 0
        && h > 0
        && w + h <= PHOTO_MAX_SIDES
        && w.max(h) <= PHOTO_MAX_RATIO * w.min(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_header::tests::{gif, png};

    const TOKEN: &str = "123456789:AAE-secret_TOKEN-value";

    fn token() -> Token {
        Token::new(TOKEN.to_owned())
    }

    fn assert_no_token(text: &str) {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains("secret_TOKEN"), "token leaked: {text}");
    }

    // ----- classification -----

    fn check(status: u16, body: &str, expected: Result<Value, TelegramError>) {
        assert_eq!(
            classify(status, body.as_bytes()),
            expected,
            "{status} {body}"
        );
    }

    fn retry(seconds: u64, description: &str) -> Result<Value, TelegramError> {
        Err(TelegramError::RetryAfter {
            seconds,
            description: description.to_owned(),
        })
    }

    fn transient(description: &str) -> Result<Value, TelegramError> {
        Err(TelegramError::Transient {
            description: description.to_owned(),
        })
    }

    fn permanent(code: u16, description: &str) -> Result<Value, TelegramError> {
        Err(TelegramError::Permanent {
            code,
            description: description.to_owned(),
        })
    }

    #[test]
    fn classify_answers() {
        check(200, r#"{"ok":true,"result":true}"#, Ok(json!(true)));
        check(
            200,
            r#"{"ok":true,"result":{"message_id":5}}"#,
            Ok(json!({"message_id": 5})),
        );
        check(
            200,
            r#"{"ok":true}"#,
            transient("HTTP 200, ok answer without a result"),
        );

        // 429: parameters first, then the description, then a default.
        check(
            429,
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}"#,
            retry(35, "Too Many Requests: retry after 35"),
        );
        check(
            429,
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 12"}"#,
            retry(12, "Too Many Requests: retry after 12"),
        );
        check(
            429,
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests"}"#,
            retry(5, "Too Many Requests"),
        );
        check(
            429,
            r#"{"ok":false,"error_code":429,"description":"x","parameters":{}}"#,
            retry(5, "x"),
        );
        check(
            429,
            "<html>slow down</html>",
            retry(5, "HTTP 429, not a Bot API answer: <html>slow down</html>"),
        );

        // A 400 that is really a rate limit (happens inside albums).
        check(
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: Too Many Requests: Retry After 7"}"#,
            retry(7, "Bad Request: Too Many Requests: Retry After 7"),
        );
        check(
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: retry after soon"}"#,
            permanent(400, "Bad Request: retry after soon"),
        );

        // Permanent refusals keep Telegram's words.
        check(
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
            permanent(400, "Bad Request: chat not found"),
        );
        check(
            403,
            r#"{"ok":false,"error_code":403,"description":"Forbidden: bot is not a member of the channel chat"}"#,
            permanent(403, "Forbidden: bot is not a member of the channel chat"),
        );
        check(
            401,
            r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
            permanent(401, "Unauthorized"),
        );
        check(
            404,
            r#"{"ok":false,"error_code":404,"description":"Not Found"}"#,
            permanent(404, "Not Found"),
        );
        check(
            400,
            r#"{"ok":false,"error_code":400}"#,
            permanent(400, "error 400 without a description"),
        );
        // The body's error_code wins; a missing or absurd one falls back to the HTTP status.
        check(
            200,
            r#"{"ok":false,"error_code":403,"description":"Forbidden"}"#,
            permanent(403, "Forbidden"),
        );
        check(
            403,
            r#"{"ok":false,"error_code":99999,"description":"Forbidden"}"#,
            permanent(403, "Forbidden"),
        );
        check(
            400,
            r#"{"ok":false,"description":"Bad Request: PHOTO_INVALID_DIMENSIONS"}"#,
            permanent(400, "Bad Request: PHOTO_INVALID_DIMENSIONS"),
        );

        // Server trouble and garbage are worth retrying.
        check(
            500,
            r#"{"ok":false,"error_code":500,"description":"Internal Server Error"}"#,
            transient("error 500: Internal Server Error"),
        );
        check(
            502,
            "<html>\n<body>Bad   Gateway</body>\n</html>",
            transient("HTTP 502, not a Bot API answer: <html> <body>Bad Gateway</body> </html>"),
        );
        check(
            200,
            "",
            transient("HTTP 200, not a Bot API answer: empty answer"),
        );
        check(
            200,
            "[1,2]",
            transient("HTTP 200, not a Bot API answer: [1,2]"),
        );
        check(
            404,
            "404 page not found",
            transient("HTTP 404, not a Bot API answer: 404 page not found"),
        );
        check(
            200,
            r#"{"ok":false,"error_code":200,"description":"odd"}"#,
            transient("error 200: odd"),
        );
    }

    #[test]
    fn long_garbage_is_cut() {
        let body = "x".repeat(10_000);
        let Err(TelegramError::Transient { description }) = classify(503, body.as_bytes()) else {
            panic!("expected transient");
        };
        assert!(description.len() < 300, "{description}");
        assert!(description.ends_with('…'));
    }

    #[test]
    fn retry_after_in_descriptions() {
        let cases: [(&str, Option<u64>); 8] = [
            ("Too Many Requests: retry after 35", Some(35)),
            ("RETRY AFTER 1", Some(1)),
            ("retry after   9 seconds", Some(9)),
            ("retry after x, then retry after 4", Some(4)),
            ("retry after", None),
            ("retry afterwards", None),
            ("please retry later", None),
            ("retry after 99999999999999999999999", Some(u64::MAX)),
        ];
        for (description, expected) in cases {
            assert_eq!(parse_retry_after(description), expected, "{description}");
        }
    }

    #[test]
    fn photo_rejections() {
        let refused = |d: &str| TelegramError::Permanent {
            code: 400,
            description: d.to_owned(),
        };
        assert!(refused("Bad Request: PHOTO_INVALID_DIMENSIONS").is_photo_rejected());
        assert!(refused("Bad Request: IMAGE_PROCESS_FAILED").is_photo_rejected());
        assert!(refused("Bad Request: PHOTO_SAVE_FILE_INVALID").is_photo_rejected());
        assert!(refused("Bad Request: PHOTO_INVALID").is_photo_rejected());
        assert!(!refused("Bad Request: chat not found").is_photo_rejected());
        assert!(
            !TelegramError::Transient {
                description: "timed out".into()
            }
            .is_photo_rejected()
        );
    }

    // ----- links -----

    #[test]
    fn links() {
        let sent = |chat_id, username: Option<&str>| Sent {
            message_id: 42,
            chat_id,
            chat_username: username.map(str::to_owned),
        };
        assert_eq!(
            sent(-1001234567890, Some("comune_news")).link(),
            "https://t.me/comune_news/42"
        );
        assert_eq!(
            sent(-1001234567890, None).link(),
            "https://t.me/c/1234567890/42"
        );
        assert_eq!(
            sent(-1001234567890, Some("")).link(),
            "https://t.me/c/1234567890/42"
        );
        assert_eq!(sent(-4567, None).link(), "https://t.me/c/4567/42");
        assert_eq!(sent(777, None).link(), "https://t.me/c/777/42");
    }

    // ----- the token -----

    #[test]
    fn token_never_printed() {
        let t = token();
        let client = Client::new("https://api.telegram.org/", t.clone()).unwrap();
        assert_no_token(&format!("{client:?}"));
        assert_eq!(
            client.url("getMe"),
            format!("https://api.telegram.org/bot{TOKEN}/getMe")
        );
    }

    #[test]
    fn errors_are_scrubbed() {
        let t = token();
        let e = TelegramError::Permanent {
            code: 404,
            description: format!("no route for /bot{TOKEN}/x"),
        }
        .scrubbed(&t);
        assert_eq!(
            e,
            TelegramError::Permanent {
                code: 404,
                description: "no route for /bot***/x".into()
            }
        );
    }

    #[test]
    fn invalid_api_urls() {
        for url in [
            "",
            "api.telegram.org",
            "ftp://x",
            "https://x/?q=1",
            "https://x/#f",
        ] {
            match Client::new(url, token()) {
                Err(TelegramError::Permanent { code: 0, .. }) => {}
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(Client::new("http://127.0.0.1:8081", token()).is_ok());
        assert!(Client::new("https://example.org/telegram/", token()).is_ok());
    }

    #[test]
    fn upload_timeouts() {
        assert_eq!(upload_timeout(0), Duration::from_secs(60));
        assert_eq!(upload_timeout(256 * 1024 - 1), Duration::from_secs(60));
        assert_eq!(
            upload_timeout(50 * 1024 * 1024),
            Duration::from_secs(60 + 200)
        );
    }

    // ----- the wire format, checked against the published spec -----

    fn spec() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/api.min.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn spec_fields(spec: &Value, section: &str, name: &str) -> Vec<String> {
        spec[section][name]["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("{section}.{name} not in the spec"))
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    }

    fn assert_known(spec: &Value, section: &str, name: &str, keys: &[&str]) {
        let known = spec_fields(spec, section, name);
        for key in keys {
            assert!(known.iter().any(|k| k == key), "{name} has no field {key}");
        }
    }

    fn html(text: &str) -> Rendered {
        Rendered {
            text: text.to_owned(),
            parse_mode: Some("HTML".to_owned()),
        }
    }

    fn buttons() -> Vec<Vec<Button>> {
        vec![
            vec![Button {
                text: "Albo".into(),
                url: "https://comune.example/albo".into(),
            }],
            vec![],
        ]
    }

    const ALL: SendOptions = SendOptions {
        silent: true,
        protect: true,
    };

    #[test]
    fn message_bodies() {
        let plain = Rendered {
            text: "hi".into(),
            parse_mode: None,
        };
        assert_eq!(
            message_body("@comune", &plain, None, &[], SendOptions::default()),
            json!({"chat_id": "@comune", "text": "hi"})
        );
        assert_eq!(
            message_body(
                "-1001234567890",
                &plain,
                Some(true),
                &[vec![]],
                SendOptions::default()
            ),
            json!({"chat_id": -1001234567890_i64, "text": "hi"})
        );
        assert_eq!(
            message_body("-100123", &html("<b>hi</b>"), Some(false), &buttons(), ALL),
            json!({
                "chat_id": -100123,
                "text": "<b>hi</b>",
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
                "reply_markup": {"inline_keyboard": [[{"text": "Albo", "url": "https://comune.example/albo"}]]},
                "disable_notification": true,
                "protect_content": true,
            })
        );
        assert_eq!(
            pin_body("-100123", 9, true),
            json!({"chat_id": -100123, "message_id": 9, "disable_notification": true})
        );
        assert_eq!(
            pin_body("@c", 9, false),
            json!({"chat_id": "@c", "message_id": 9})
        );
    }

    #[test]
    fn media_field_values() {
        assert_eq!(
            media_fields("-100123", None, &[], SendOptions::default()),
            vec![("chat_id", json!(-100123))]
        );
        let empty = Rendered {
            text: String::new(),
            parse_mode: Some("HTML".into()),
        };
        assert_eq!(
            media_fields("@c", Some(&empty), &[vec![]], SendOptions::default()),
            vec![("chat_id", json!("@c"))]
        );
        let fields = media_fields("@c", Some(&html("<i>x</i>")), &buttons(), ALL);
        let markup =
            json!({"inline_keyboard": [[{"text": "Albo", "url": "https://comune.example/albo"}]]});
        assert_eq!(
            fields,
            vec![
                ("chat_id", json!("@c")),
                ("caption", json!("<i>x</i>")),
                ("parse_mode", json!("HTML")),
                ("reply_markup", markup),
                ("disable_notification", json!(true)),
                ("protect_content", json!(true)),
            ]
        );
    }

    #[test]
    fn form_texts() {
        assert_eq!(form_text(json!("@c")), "@c");
        assert_eq!(form_text(json!("a \"b\"")), "a \"b\"");
        assert_eq!(form_text(json!(-1001234567890_i64)), "-1001234567890");
        assert_eq!(form_text(json!(true)), "true");
        assert_eq!(
            form_text(json!({"inline_keyboard": [[{"text": "A", "url": "https://x"}]]})),
            r#"{"inline_keyboard":[[{"text":"A","url":"https://x"}]]}"#
        );
        assert_eq!(
            form_text(json!([{"type": "document", "media": "attach://file0"}])),
            r#"[{"media":"attach://file0","type":"document"}]"#
        );
    }

    fn album_item(kind: MediaKind, path: &str, caption: Option<Rendered>) -> AlbumItem {
        AlbumItem {
            kind,
            path: path.into(),
            file_name: Path::new(path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            thumbnail: None,
            caption,
        }
    }

    fn attach(i: usize, _: &AlbumItem) -> Result<String, TelegramError> {
        Ok(format!("attach://{}", attach_name(i)))
    }

    #[test]
    fn album_media_values() {
        let items = [
            album_item(MediaKind::Photo, "/w/a.jpg", Some(html("<b>Foto</b>"))),
            album_item(MediaKind::Photo, "/w/b.jpg", None),
            album_item(
                MediaKind::Document,
                "/w/c.pdf",
                Some(Rendered {
                    text: "plain".into(),
                    parse_mode: None,
                }),
            ),
            album_item(
                MediaKind::Document,
                "/w/d.pdf",
                Some(Rendered {
                    text: String::new(),
                    parse_mode: Some("HTML".into()),
                }),
            ),
        ];
        assert_eq!(
            album_media(&items, attach).unwrap(),
            vec![
                json!({"type": "photo", "media": "attach://file0", "caption": "<b>Foto</b>", "parse_mode": "HTML"}),
                json!({"type": "photo", "media": "attach://file1"}),
                json!({"type": "document", "media": "attach://file2", "caption": "plain"}),
                json!({"type": "document", "media": "attach://file3"}),
            ]
        );
        let media = album_media(&items[..2], attach).unwrap();
        assert_eq!(
            json_object(album_fields("-100123", media.clone(), ALL)),
            json!({
                "chat_id": -100123,
                "media": media,
                "disable_notification": true,
                "protect_content": true,
            })
        );
        assert_eq!(
            json_object(album_fields("@c", media.clone(), SendOptions::default())),
            json!({"chat_id": "@c", "media": media})
        );
    }

    #[test]
    fn albums_telegram_would_refuse() {
        let doc = |i: usize| album_item(MediaKind::Document, &format!("/w/{i}.pdf"), None);
        let sizes: Vec<(usize, bool)> = (0..=12)
            .map(|n| {
                let items: Vec<AlbumItem> = (0..n).map(doc).collect();
                (n, album_media(&items, attach).is_ok())
            })
            .collect();
        for (n, ok) in sizes {
            assert_eq!(ok, (2..=10).contains(&n), "{n} items");
        }
        let one = album_media(&[doc(0)], attach).unwrap_err();
        assert_eq!(
            one,
            TelegramError::Permanent {
                code: 0,
                description: "an album takes 2 to 10 files, not 1".into()
            }
        );

        let with_gif = [
            doc(0),
            album_item(MediaKind::Animation, "/w/giro.gif", None),
        ];
        assert_eq!(
            album_media(&with_gif, attach).unwrap_err(),
            TelegramError::Permanent {
                code: 0,
                description: "an animation cannot be part of an album (giro.gif)".into()
            }
        );
        // A reference that cannot be made fails the album.
        let unnamed = TelegramError::Permanent {
            code: 0,
            description: "no name".into(),
        };
        assert_eq!(
            album_media(&[doc(0), doc(1)], |_, _| Err(unnamed.clone())),
            Err(unnamed)
        );
    }

    #[test]
    fn file_uris() {
        let cases: [(&str, Option<&str>); 9] = [
            ("/tmp/a b.pdf", Some("file:///tmp/a%20b.pdf")),
            (
                "/srv/inbox/.dropcast/x-1/Verbale_n.3~v2.pdf",
                Some("file:///srv/inbox/.dropcast/x-1/Verbale_n.3~v2.pdf"),
            ),
            ("/a/città.pdf", Some("file:///a/citt%C3%A0.pdf")),
            (
                "/a/50%+#?&;=[x].pdf",
                Some("file:///a/50%25%2B%23%3F%26%3B%3D%5Bx%5D.pdf"),
            ),
            (
                "/a/'q' \"d\"\\.pdf",
                Some("file:///a/%27q%27%20%22d%22%5C.pdf"),
            ),
            ("/", Some("file:///")),
            ("tmp/a.pdf", None),
            ("./a.pdf", None),
            ("", None),
        ];
        for (path, expected) in cases {
            assert_eq!(file_uri(Path::new(path)).as_deref(), expected, "{path}");
        }
        // Names that are not UTF-8 go byte by byte.
        let raw = std::ffi::OsStr::from_bytes(b"/a/\xFFz\n.pdf");
        assert_eq!(
            file_uri(Path::new(raw)).as_deref(),
            Some("file:///a/%FFz%0A.pdf")
        );
    }

    #[test]
    fn every_field_is_in_the_spec() {
        let spec = spec();
        let body = message_body("-100123", &html("x"), Some(false), &buttons(), ALL);
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_known(&spec, "methods", "sendMessage", &keys);
        assert_known(&spec, "types", "LinkPreviewOptions", &["is_disabled"]);
        assert_known(&spec, "types", "InlineKeyboardMarkup", &["inline_keyboard"]);
        assert_known(&spec, "types", "InlineKeyboardButton", &["text", "url"]);

        let pin = pin_body("-100123", 1, true);
        let keys: Vec<&str> = pin
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_known(&spec, "methods", "pinChatMessage", &keys);

        let fields = media_fields("@c", Some(&html("x")), &buttons(), ALL);
        let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        for kind in [MediaKind::Document, MediaKind::Photo, MediaKind::Animation] {
            let (method, file_field) = media_method(kind);
            assert_known(
                &spec,
                "methods",
                method,
                &[&names[..], &[file_field]].concat(),
            );
        }

        let items = [
            album_item(MediaKind::Photo, "/w/a.jpg", Some(html("x"))),
            album_item(MediaKind::Document, "/w/b.pdf", Some(html("x"))),
        ];
        let media = album_media(&items, attach).unwrap();
        for (item, input_media) in media.iter().zip(["InputMediaPhoto", "InputMediaDocument"]) {
            let keys: Vec<&str> = item
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys.len(), 4, "{item}");
            assert_known(&spec, "types", input_media, &keys);
        }
        let fields = album_fields("@c", media, ALL);
        let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        assert_known(&spec, "methods", "sendMediaGroup", &names);

        assert_known(&spec, "types", "Message", &["message_id", "chat"]);
        assert_known(&spec, "types", "Chat", &["id", "username"]);
        assert_known(&spec, "types", "User", &["id", "username"]);
        assert_known(&spec, "types", "ResponseParameters", &["retry_after"]);
        assert!(spec["methods"]["getMe"].is_object());
    }

    #[test]
    fn file_names_on_the_wire() {
        let path = Path::new("/inbox/verbale.pdf");
        assert_eq!(wire_file_name("Verbale n. 3.pdf", path), "Verbale n. 3.pdf");
        assert_eq!(wire_file_name("città.pdf", path), "città.pdf");
        assert_eq!(wire_file_name("a\r\nb\"c\\d.pdf", path), "a__b'c_d.pdf");
        assert_eq!(wire_file_name("  ", path), "verbale.pdf");
        assert_eq!(wire_file_name("", Path::new("/")), "file");
    }

    // ----- photo or document -----

    #[test]
    fn photo_limits() {
        const MB10: u64 = 10 * 1024 * 1024;
        assert!(photo_acceptable(MB10, Some((1000, 1000))));
        assert!(!photo_acceptable(MB10 + 1, Some((1000, 1000))));
        assert!(photo_acceptable(0, Some((5000, 5000))));
        assert!(!photo_acceptable(0, Some((5000, 5001))));
        assert!(photo_acceptable(0, Some((200, 4000))));
        assert!(photo_acceptable(0, Some((4000, 200))));
        assert!(!photo_acceptable(0, Some((199, 4000))));
        assert!(!photo_acceptable(0, Some((4000, 199))));
        assert!(photo_acceptable(0, Some((1, 20))));
        assert!(!photo_acceptable(0, Some((1, 21))));
        assert!(!photo_acceptable(0, Some((0, 10))));
        assert!(!photo_acceptable(0, Some((10, 0))));
        assert!(!photo_acceptable(100, None));
        assert!(!photo_acceptable(0, Some((u32::MAX, u32::MAX))));
    }

    // ----- over HTTP, against 127.0.0.1 -----

    /// A server that answers every request with `status` and `body`, where `{path}` is replaced
    /// by the request path (as a careless proxy's error page would).
    async fn canned(status: &'static str, body: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    let head_end = loop {
                        let n = stream.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buf[..n]);
                        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while request.len() < head_end + length {
                        let n = stream.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        request.extend_from_slice(&buf[..n]);
                    }
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let body = body.replace("{path}", &path);
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn post_text() -> OutMessage {
        OutMessage::Text {
            text: html("<b>Avviso</b>"),
            link_preview: Some(false),
            buttons: buttons(),
        }
    }

    #[tokio::test]
    async fn a_429_becomes_retry_after() {
        let url = canned(
            "429 Too Many Requests",
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#,
        )
        .await;
        let client = Client::new(&url, token()).unwrap();
        let err = client
            .send("-100123", &post_text(), SendOptions::default())
            .await
            .unwrap_err();
        assert_eq!(
            err,
            TelegramError::RetryAfter {
                seconds: 7,
                description: "Too Many Requests: retry after 7".into()
            }
        );
    }

    #[tokio::test]
    async fn no_error_shows_the_token() {
        let mut errors = Vec::new();

        // Transient: connection refused on a port nobody listens on.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let client = Client::new(&format!("http://127.0.0.1:{port}"), token()).unwrap();
        errors.push(client.get_me().await.unwrap_err());
        errors.push(client.pin("@c", 1, true).await.unwrap_err());
        errors.push(
            client
                .send("@c", &post_text(), SendOptions::default())
                .await
                .unwrap_err(),
        );

        // Transient: a proxy page that echoes the path.
        let url = canned("502 Bad Gateway", "<h1>no upstream for {path}</h1>").await;
        let client = Client::new(&url, token()).unwrap();
        errors.push(client.get_me().await.unwrap_err());

        // Permanent and RetryAfter, with descriptions that contain the path.
        let url = canned(
            "404 Not Found",
            r#"{"ok":false,"error_code":404,"description":"Not Found: {path}"}"#,
        )
        .await;
        let client = Client::new(&url, token()).unwrap();
        errors.push(client.get_me().await.unwrap_err());
        let url = canned(
            "429 Too Many Requests",
            r#"{"ok":false,"error_code":429,"description":"slow down {path}"}"#,
        )
        .await;
        let client = Client::new(&url, token()).unwrap();
        errors.push(client.get_me().await.unwrap_err());

        // Permanent code 0: the file is missing.
        let missing = OutMessage::Media {
            kind: MediaKind::Document,
            path: format!("/nonexistent/{TOKEN}.pdf").into(),
            file_name: "x.pdf".into(),
            caption: None,
            buttons: vec![],
            thumbnail: None,
        };
        errors.push(
            client
                .send("@c", &missing, SendOptions::default())
                .await
                .unwrap_err(),
        );

        let kinds: Vec<&str> = errors
            .iter()
            .map(|e| match e {
                TelegramError::RetryAfter { .. } => "retry",
                TelegramError::Transient { .. } => "transient",
                TelegramError::Permanent { .. } => "permanent",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "transient",
                "transient",
                "transient",
                "transient",
                "permanent",
                "retry",
                "permanent"
            ]
        );
        for e in &errors {
            assert_no_token(&format!("{e}"));
            assert_no_token(&format!("{e:?}"));
        }
        let TelegramError::Transient { description } = &errors[0] else {
            unreachable!()
        };
        assert!(
            description.contains("error sending request"),
            "{description}"
        );
        assert!(
            format!("{}", errors[3]).contains("/bot***/getMe"),
            "{}",
            errors[3]
        );
    }

    mod fake {
        //! A small Bot API stand-in built on axum that records what it received.

        use axum::extract::{FromRequest, Multipart, Request, State};
        use axum::http::header;
        use serde_json::{Value, json};
        use tokio::sync::mpsc;

        #[derive(Debug)]
        pub(super) struct Part {
            pub name: String,
            pub file_name: Option<String>,
            pub content_type: Option<String>,
            pub data: Vec<u8>,
        }

        #[derive(Debug)]
        pub(super) struct Received {
            pub path: String,
            pub content_length: Option<u64>,
            pub chunked: bool,
            pub body_len: u64,
            pub json: Option<Value>,
            pub parts: Vec<Part>,
        }

        pub(super) async fn start() -> (String, mpsc::UnboundedReceiver<Received>) {
            let (tx, rx) = mpsc::unbounded_channel();
            let app = axum::Router::new().fallback(handle).with_state(tx);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            (format!("http://{addr}"), rx)
        }

        async fn handle(
            State(tx): State<mpsc::UnboundedSender<Received>>,
            request: Request,
        ) -> axum::Json<Value> {
            let (parts, body) = request.into_parts();
            let path = parts.uri.path().to_owned();
            let content_length = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok());
            let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
            let is_multipart = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("multipart/form-data"));
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let mut received = Received {
                path: path.clone(),
                content_length,
                chunked,
                body_len: bytes.len() as u64,
                json: None,
                parts: vec![],
            };
            if is_multipart {
                let request = Request::from_parts(parts, axum::body::Body::from(bytes));
                let mut form = Multipart::from_request(request, &()).await.unwrap();
                while let Some(field) = form.next_field().await.unwrap() {
                    let name = field.name().unwrap_or_default().to_owned();
                    let file_name = field.file_name().map(str::to_owned);
                    let content_type = field.content_type().map(str::to_owned);
                    let data = field.bytes().await.unwrap().to_vec();
                    received.parts.push(Part {
                        name,
                        file_name,
                        content_type,
                        data,
                    });
                }
            } else {
                received.json = serde_json::from_slice(&bytes).ok();
            }
            let message = |message_id: usize| {
                json!({
                    "message_id": message_id,
                    "date": 1700000000,
                    "chat": {"id": -1001234567890_i64, "type": "channel", "title": "Comune", "username": "comune_news"},
                    "text": "x"
                })
            };
            // An album answers one message per item of `media`, numbered from 321.
            let album_items = path.ends_with("/sendMediaGroup").then(|| {
                let media = match &received.json {
                    Some(body) => body["media"].clone(),
                    None => received
                        .parts
                        .iter()
                        .find(|p| p.name == "media")
                        .and_then(|p| serde_json::from_slice(&p.data).ok())
                        .unwrap_or_default(),
                };
                media.as_array().map_or(0, Vec::len)
            });
            tx.send(received).unwrap();
            if path.ends_with("/pinChatMessage") {
                return axum::Json(json!({"ok": true, "result": true}));
            }
            if let Some(n) = album_items {
                let messages: Vec<Value> = (0..n).map(|i| message(321 + i)).collect();
                return axum::Json(json!({"ok": true, "result": messages}));
            }
            axum::Json(json!({"ok": true, "result": message(321)}))
        }
    }

    #[tokio::test]
    async fn text_and_pin_round_trip() {
        let (url, mut rx) = fake::start().await;
        let client = Client::new(&format!("{url}/"), token()).unwrap();
        let sent = client
            .send("-1001234567890", &post_text(), ALL)
            .await
            .unwrap();
        assert_eq!(
            sent,
            [Sent {
                message_id: 321,
                chat_id: -1001234567890,
                chat_username: Some("comune_news".into())
            }]
        );
        assert_eq!(sent[0].link(), "https://t.me/comune_news/321");
        let got = rx.recv().await.unwrap();
        assert_eq!(got.path, format!("/bot{TOKEN}/sendMessage"));
        assert_eq!(
            got.json.unwrap(),
            message_body(
                "-1001234567890",
                &html("<b>Avviso</b>"),
                Some(false),
                &buttons(),
                ALL
            )
        );

        client.pin("-1001234567890", 321, true).await.unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got.path, format!("/bot{TOKEN}/pinChatMessage"));
        assert_eq!(
            got.json.unwrap(),
            json!({"chat_id": -1001234567890_i64, "message_id": 321, "disable_notification": true})
        );
    }

    #[tokio::test]
    async fn upload_is_streamed_with_a_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload.bin");
        let content: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();

        let (url, mut rx) = fake::start().await;
        let client = Client::new(&url, token()).unwrap();
        let msg = OutMessage::Media {
            kind: MediaKind::Document,
            path: path.clone(),
            file_name: "Delibera \"12\".pdf".into(),
            caption: Some(html("<b>Delibera</b>")),
            buttons: buttons(),
            thumbnail: None,
        };
        let sent = client.send("@comune_news", &msg, ALL).await.unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].message_id, 321);

        let got = rx.recv().await.unwrap();
        assert_eq!(got.path, format!("/bot{TOKEN}/sendDocument"));
        assert!(
            !got.chunked,
            "upload went chunked, without a Content-Length"
        );
        assert_eq!(got.content_length, Some(got.body_len));
        let names: Vec<&str> = got.parts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "chat_id",
                "caption",
                "parse_mode",
                "reply_markup",
                "disable_notification",
                "protect_content",
                "document"
            ]
        );
        assert_eq!(got.parts[0].data, b"@comune_news");
        assert_eq!(got.parts[1].data, b"<b>Delibera</b>");
        let file = got.parts.last().unwrap();
        assert_eq!(file.name, "document");
        assert_eq!(file.file_name.as_deref(), Some("Delibera '12'.pdf"));
        assert_eq!(file.content_type.as_deref(), Some("application/pdf"));
        assert!(file.data == content, "uploaded bytes differ");

        // A photo goes to sendPhoto under "photo", with the image's type.
        let photo_path = dir.path().join("p.png");
        std::fs::write(&photo_path, png(10, 10)).unwrap();
        let msg = OutMessage::Media {
            kind: MediaKind::Photo,
            path: photo_path,
            file_name: "foto.png".into(),
            caption: None,
            buttons: vec![],
            thumbnail: None,
        };
        client
            .send("-100123", &msg, SendOptions::default())
            .await
            .unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got.path, format!("/bot{TOKEN}/sendPhoto"));
        let names: Vec<&str> = got.parts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["chat_id", "photo"]);
        assert_eq!(got.parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(got.parts[1].data, png(10, 10));
    }

    fn sent(message_id: i64) -> Sent {
        Sent {
            message_id,
            chat_id: -1001234567890,
            chat_username: Some("comune_news".into()),
        }
    }

    fn part_names(got: &fake::Received) -> Vec<&str> {
        got.parts.iter().map(|p| p.name.as_str()).collect()
    }

    #[tokio::test]
    async fn album_is_one_multipart_request() {
        let dir = tempfile::tempdir().unwrap();
        let contents: Vec<Vec<u8>> = (0..3u32)
            .map(|n| {
                (0..100_000 + n * 7_000)
                    .map(|i| (i * 7 + n) as u8)
                    .collect()
            })
            .collect();
        let mut items = Vec::new();
        for (n, content) in contents.iter().enumerate() {
            let path = dir.path().join(format!("allegato {n}.pdf"));
            std::fs::write(&path, content).unwrap();
            items.push(AlbumItem {
                kind: MediaKind::Document,
                path,
                file_name: format!("Allegato {n}.pdf"),
                caption: (n == 0).then(|| html("<b>Bando</b>")),
                thumbnail: None,
            });
        }

        let (url, mut rx) = fake::start().await;
        let client = Client::new(&url, token()).unwrap();
        let msg = OutMessage::Album { items };
        let sent_messages = client.send("-1001234567890", &msg, ALL).await.unwrap();
        assert_eq!(sent_messages, [sent(321), sent(322), sent(323)]);

        let got = rx.recv().await.unwrap();
        assert!(rx.try_recv().is_err(), "an album is one request");
        assert_eq!(got.path, format!("/bot{TOKEN}/sendMediaGroup"));
        assert!(!got.chunked, "album went chunked, without a Content-Length");
        assert_eq!(got.content_length, Some(got.body_len));
        assert_eq!(
            part_names(&got),
            [
                "chat_id",
                "media",
                "disable_notification",
                "protect_content",
                "file0",
                "file1",
                "file2"
            ]
        );
        assert_eq!(got.parts[0].data, b"-1001234567890");
        let media: Value = serde_json::from_slice(&got.parts[1].data).unwrap();
        assert_eq!(
            media,
            json!([
                {"type": "document", "media": "attach://file0", "caption": "<b>Bando</b>", "parse_mode": "HTML"},
                {"type": "document", "media": "attach://file1"},
                {"type": "document", "media": "attach://file2"},
            ])
        );
        assert_eq!(got.parts[2].data, b"true");
        assert_eq!(got.parts[3].data, b"true");
        for (n, content) in contents.iter().enumerate() {
            let file = &got.parts[4 + n];
            assert_eq!(
                file.file_name.as_deref(),
                Some(format!("Allegato {n}.pdf").as_str())
            );
            assert_eq!(file.content_type.as_deref(), Some("application/pdf"));
            assert!(file.data == *content, "file{n}: uploaded bytes differ");
        }

        // A photo album, without options: no option fields, the images' types.
        let photos: Vec<AlbumItem> = (0..2)
            .map(|n| {
                let path = dir.path().join(format!("p{n}.png"));
                std::fs::write(&path, png(10 + n, 10)).unwrap();
                AlbumItem {
                    kind: MediaKind::Photo,
                    path,
                    file_name: format!("foto{n}.png"),
                    caption: None,
                    thumbnail: None,
                }
            })
            .collect();
        let msg = OutMessage::Album { items: photos };
        let sent_messages = client
            .send("@comune_news", &msg, SendOptions::default())
            .await
            .unwrap();
        assert_eq!(sent_messages, [sent(321), sent(322)]);
        let got = rx.recv().await.unwrap();
        assert_eq!(part_names(&got), ["chat_id", "media", "file0", "file1"]);
        assert_eq!(got.parts[0].data, b"@comune_news");
        let media: Value = serde_json::from_slice(&got.parts[1].data).unwrap();
        assert_eq!(
            media,
            json!([
                {"type": "photo", "media": "attach://file0"},
                {"type": "photo", "media": "attach://file1"},
            ])
        );
        assert_eq!(got.parts[2].content_type.as_deref(), Some("image/png"));
        assert_eq!(got.parts[3].data, png(11, 10));
    }

    #[tokio::test]
    async fn albums_telegram_would_refuse_are_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pdf");
        std::fs::write(&path, b"%PDF-1.7\n").unwrap();
        let doc = || AlbumItem {
            kind: MediaKind::Document,
            path: path.clone(),
            file_name: "a.pdf".into(),
            caption: None,
            thumbnail: None,
        };
        let gif = AlbumItem {
            kind: MediaKind::Animation,
            path: path.clone(),
            file_name: "a.gif".into(),
            caption: None,
            thumbnail: None,
        };
        let (url, mut rx) = fake::start().await;
        let client = Client::new(&url, token()).unwrap();
        for items in [
            vec![],
            vec![doc()],
            vec![doc(); 11],
            vec![doc(), gif.clone()],
        ] {
            let n = items.len();
            for client in [client.clone(), client.clone().with_local_files(true)] {
                let msg = OutMessage::Album {
                    items: items.clone(),
                };
                match client.send("@c", &msg, SendOptions::default()).await {
                    Err(TelegramError::Permanent { code: 0, .. }) => {}
                    other => panic!("{n} items: {other:?}"),
                }
            }
        }
        // A missing file fails the album before anything is sent.
        let msg = OutMessage::Album {
            items: vec![
                doc(),
                AlbumItem {
                    path: dir.path().join("missing.pdf"),
                    ..doc()
                },
            ],
        };
        let err = client
            .send("@c", &msg, SendOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TelegramError::Permanent { code: 0, description } if description.contains("missing.pdf")),
            "{err:?}"
        );
        // The fake answers every request it gets: this one reaches it, the others did not.
        let ok = OutMessage::Album {
            items: vec![doc(), doc()],
        };
        client
            .send("@c", &ok, SendOptions::default())
            .await
            .unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got.path, format!("/bot{TOKEN}/sendMediaGroup"));
        assert!(rx.try_recv().is_err(), "a refused album reached the server");
    }

    #[tokio::test]
    async fn a_400_retry_after_on_an_album_becomes_retry_after() {
        let dir = tempfile::tempdir().unwrap();
        let items: Vec<AlbumItem> = (0..2)
            .map(|n| {
                let path = dir.path().join(format!("{n}.jpg"));
                std::fs::write(&path, vec![n as u8; 50_000]).unwrap();
                AlbumItem {
                    kind: MediaKind::Photo,
                    path,
                    file_name: format!("{n}.jpg"),
                    caption: None,
                    thumbnail: None,
                }
            })
            .collect();
        let url = canned(
            "400 Bad Request",
            r#"{"ok":false,"error_code":400,"description":"Bad Request: Too Many Requests: retry after 7"}"#,
        )
        .await;
        let client = Client::new(&url, token()).unwrap();
        let err = client
            .send("-100123", &OutMessage::Album { items }, ALL)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            TelegramError::RetryAfter {
                seconds: 7,
                description: "Bad Request: Too Many Requests: retry after 7".into()
            }
        );
    }

    #[tokio::test]
    async fn animation_goes_to_send_animation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("giro.gif");
        let mut content = gif(320, 200);
        content.extend((0..70_000u32).map(|i| (i % 253) as u8));
        std::fs::write(&path, &content).unwrap();

        let (url, mut rx) = fake::start().await;
        let client = Client::new(&url, token()).unwrap();
        let msg = OutMessage::Media {
            kind: MediaKind::Animation,
            path,
            file_name: "Giro d'Italia.gif".into(),
            caption: Some(html("<i>Passaggio</i>")),
            buttons: buttons(),
            thumbnail: None,
        };
        let sent_messages = client.send("-1001234567890", &msg, ALL).await.unwrap();
        assert_eq!(sent_messages, [sent(321)]);

        let got = rx.recv().await.unwrap();
        assert_eq!(got.path, format!("/bot{TOKEN}/sendAnimation"));
        assert_eq!(got.content_length, Some(got.body_len));
        assert_eq!(
            part_names(&got),
            [
                "chat_id",
                "caption",
                "parse_mode",
                "reply_markup",
                "disable_notification",
                "protect_content",
                "animation"
            ]
        );
        assert_eq!(got.parts[1].data, b"<i>Passaggio</i>");
        assert_eq!(got.parts[2].data, b"HTML");
        let markup: Value = serde_json::from_slice(&got.parts[3].data).unwrap();
        assert_eq!(markup, reply_markup(&buttons()).unwrap());
        let file = got.parts.last().unwrap();
        assert_eq!(file.file_name.as_deref(), Some("Giro d'Italia.gif"));
        assert_eq!(file.content_type.as_deref(), Some("image/gif"));
        assert!(file.data == content, "uploaded bytes differ");
    }

    #[tokio::test]
    async fn local_files_are_sent_by_path_in_json() {
        let (url, mut rx) = fake::start().await;
        let client = Client::new(&url, token()).unwrap().with_local_files(true);
        assert!(format!("{client:?}").contains("local_files: true"));

        // No file is opened: these paths do not exist here, only on the server's side.
        let msg = OutMessage::Media {
            kind: MediaKind::Document,
            path: "/tmp/a b.pdf".into(),
            file_name: "ignored.pdf".into(),
            caption: Some(html("<b>Delibera</b>")),
            buttons: buttons(),
            thumbnail: None,
        };
        let sent_messages = client.send("-1001234567890", &msg, ALL).await.unwrap();
        assert_eq!(sent_messages, [sent(321)]);
        let got = rx.recv().await.unwrap();
        assert_eq!(got.path, format!("/bot{TOKEN}/sendDocument"));
        assert!(got.parts.is_empty(), "local files went as multipart");
        assert_eq!(
            got.json.unwrap(),
            json!({
                "chat_id": -1001234567890_i64,
                "caption": "<b>Delibera</b>",
                "parse_mode": "HTML",
                "reply_markup": reply_markup(&buttons()).unwrap(),
                "disable_notification": true,
                "protect_content": true,
                "document": "file:///tmp/a%20b.pdf",
            })
        );

        let msg = OutMessage::Media {
            kind: MediaKind::Animation,
            path: "/srv/giro.gif".into(),
            file_name: "giro.gif".into(),
            caption: None,
            buttons: vec![],
            thumbnail: None,
        };
        client
            .send("@c", &msg, SendOptions::default())
            .await
            .unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got.path, format!("/bot{TOKEN}/sendAnimation"));
        assert_eq!(
            got.json.unwrap(),
            json!({"chat_id": "@c", "animation": "file:///srv/giro.gif"})
        );

        let msg = OutMessage::Album {
            items: vec![
                album_item(MediaKind::Photo, "/srv/in/a 1.jpg", Some(html("<b>x</b>"))),
                album_item(MediaKind::Photo, "/srv/in/b.jpg", None),
            ],
        };
        let sent_messages = client.send("@c", &msg, ALL).await.unwrap();
        assert_eq!(sent_messages, [sent(321), sent(322)]);
        let got = rx.recv().await.unwrap();
        assert_eq!(got.path, format!("/bot{TOKEN}/sendMediaGroup"));
        assert!(got.parts.is_empty(), "local files went as multipart");
        assert_eq!(
            got.json.unwrap(),
            json!({
                "chat_id": "@c",
                "media": [
                    {"type": "photo", "media": "file:///srv/in/a%201.jpg", "caption": "<b>x</b>", "parse_mode": "HTML"},
                    {"type": "photo", "media": "file:///srv/in/b.jpg"},
                ],
                "disable_notification": true,
                "protect_content": true,
            })
        );

        // A relative path cannot be named to the server: refused before sending.
        let relative = OutMessage::Media {
            kind: MediaKind::Document,
            path: "inbox/a.pdf".into(),
            file_name: "a.pdf".into(),
            caption: None,
            buttons: vec![],
            thumbnail: None,
        };
        let err = client
            .send("@c", &relative, SendOptions::default())
            .await
            .unwrap_err();
        assert_eq!(
            err,
            TelegramError::Permanent {
                code: 0,
                description: "a local Bot API server needs an absolute path, not inbox/a.pdf"
                    .into()
            }
        );
        let relative_album = OutMessage::Album {
            items: vec![
                album_item(MediaKind::Document, "/srv/a.pdf", None),
                album_item(MediaKind::Document, "b.pdf", None),
            ],
        };
        assert!(matches!(
            client
                .send("@c", &relative_album, SendOptions::default())
                .await,
            Err(TelegramError::Permanent { code: 0, .. })
        ));
        assert!(
            rx.try_recv().is_err(),
            "a refused request reached the server"
        );
    }

    #[tokio::test]
    async fn request_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pdf");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(3 * UPLOAD_MIN_RATE * 10)
            .unwrap();
        let small = dir.path().join("small.pdf");
        std::fs::write(&small, vec![0; 1000]).unwrap();
        let doc = |path: &Path| OutMessage::Media {
            kind: MediaKind::Document,
            path: path.to_owned(),
            file_name: "x.pdf".into(),
            caption: None,
            buttons: vec![],
            thumbnail: None,
        };
        let album = OutMessage::Album {
            items: [&big, &small, &big]
                .iter()
                .map(|p| AlbumItem {
                    kind: MediaKind::Document,
                    path: p.to_path_buf(),
                    file_name: "x.pdf".into(),
                    caption: None,
                    thumbnail: None,
                })
                .collect(),
        };
        let uploads = Client::new("http://127.0.0.1:9", token()).unwrap();
        let local = uploads.clone().with_local_files(true);
        let cases = [
            (&uploads, post_text(), JSON_TIMEOUT),
            (&uploads, doc(&small), Duration::from_secs(60)),
            (&uploads, doc(&big), Duration::from_secs(60 + 30)),
            // The whole album counts: 60 s + (30 + 0 + 30) s.
            (&uploads, album, Duration::from_secs(60 + 60)),
            (&local, post_text(), JSON_TIMEOUT),
            (&local, doc(&big), JSON_TIMEOUT * 4),
        ];
        for (client, msg, expected) in cases {
            let request = client
                .request("@c", &msg, SendOptions::default())
                .await
                .unwrap()
                .build()
                .unwrap();
            assert_eq!(request.timeout(), Some(&expected), "{msg:?}");
        }
        let album = OutMessage::Album {
            items: vec![
                album_item(MediaKind::Document, "/srv/a.pdf", None),
                album_item(MediaKind::Document, "/srv/b.pdf", None),
            ],
        };
        let request = local
            .request("@c", &album, SendOptions::default())
            .await
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(request.timeout(), Some(&(JSON_TIMEOUT * 4)));
    }
}
