//! The IT person's `dropcast.yaml`: parsed, expanded (`${VAR}`, `token_file`, relative paths) and
//! validated once, so that the rest of dropcast only ever sees a config that makes sense.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::token::Token;

/// A config that could not be used. Names the key and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// How a folder treats media files that arrive without a sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SidecarPolicy {
    /// Wait for the sidecar; after `sidecar_timeout` the file goes to `failed/`.
    Required,
    /// Scanner folders: after `sidecar_wait` post with the folder's default caption.
    Optional,
}

/// How the inbox is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// Native events plus rescans; also polls on network filesystems.
    Auto,
    /// Native events plus rescans only.
    Native,
    /// Polling only, every `poll_interval`.
    Poll,
}

/// What to do with a request that was in flight when dropcast stopped or timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Uncertain {
    Resend,
    Fail,
}

/// The language of receipts and error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    It,
}

/// One watched folder.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub path: PathBuf,
    /// Alias or chat reference of the default channel; `None` means the only configured channel.
    pub channel: Option<String>,
    pub recursive: bool,
    /// Subfolder name → channel alias.
    pub channels: BTreeMap<String, String>,
    pub sidecar: SidecarPolicy,
    pub sidecar_wait: Duration,
    pub sidecar_timeout: Duration,
    /// Default caption template: `{stem}`, `{date}`, `{time}`.
    pub caption: String,
    /// What PDFs, TIFFs and images sent as documents show, unless a sidecar says otherwise.
    pub preview: crate::post::Preview,
}

/// Watching and settling.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub mode: WatchMode,
    pub poll_interval: Duration,
    /// A file is complete once its size and mtime have not changed for this long, measured from
    /// the last change dropcast observed (not from the mtime, which copies preserve).
    pub settle: Duration,
    pub rescan_interval: Duration,
}

/// The validated config.
#[derive(Clone)]
pub struct Config {
    pub file: PathBuf,
    pub token: Token,
    pub api_url: String,
    pub local_files: bool,
    pub pacing: bool,
    /// How long a request may take (uploads get twice this plus time for their size).
    pub request_timeout: Duration,
    /// Multiplies Telegram's rate windows (1 s, 1 min): 1.0 in production. Tests compress time
    /// with `DROPCAST_PACING_SCALE` so that a burst of 50 posts is checked in seconds.
    pub pacing_scale: f64,
    /// Alias → chat reference (`@username` or numeric id as text).
    pub channels: BTreeMap<String, String>,
    pub inboxes: Vec<Inbox>,
    /// Extra extensions (lowercase, no dot) sent as documents.
    pub accept: Vec<String>,
    pub ignore: Vec<String>,
    pub archive: PathBuf,
    pub failed: PathBuf,
    pub scheduled: PathBuf,
    pub state_dir: PathBuf,
    pub watch: Watch,
    pub duplicate_window: Duration,
    pub uncertain: Uncertain,
    /// How long another dropcast's lease on an inbox must stand still (its counter unchanged, on
    /// this machine's own clock) before this one takes the inbox over. See `lease.rs`.
    pub lease_timeout: Duration,
    pub timezone: jiff::tz::TimeZone,
    pub timezone_name: String,
    pub language: Language,
    /// The status page, `/metrics` and `/healthz`; `None` (the default) means off.
    pub http_listen: Option<std::net::SocketAddr>,
    /// The token is written in the config itself (not `${VAR}` or `token_file`).
    pub literal_token: bool,
    /// The file the token was read from (`token_file`), if it came from one.
    pub token_file: Option<PathBuf>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("file", &self.file)
            .field("token", &self.token)
            .field("api_url", &self.api_url)
            .field("channels", &self.channels)
            .field("inboxes", &self.inboxes)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Resolves a channel reference (alias, `@username`, numeric id) to the chat reference sent to
    /// Telegram, or `None` when it is an unknown alias.
    pub fn resolve_channel(&self, reference: &str) -> Option<String> {
        if let Some(chat) = self.channels.get(reference) {
            return Some(chat.clone());
        }
        if is_chat_reference(reference) {
            return Some(reference.to_string());
        }
        None
    }

    /// The channel aliases, for sidecar validation.
    pub fn aliases(&self) -> Vec<String> {
        self.channels.keys().cloned().collect()
    }

    /// The folders dropcast writes to; never treated as input even when they live inside an inbox.
    pub fn own_folders(&self) -> [&Path; 4] {
        [
            &self.archive,
            &self.failed,
            &self.scheduled,
            &self.state_dir,
        ]
    }
}

/// `@username` or a numeric chat id.
pub fn is_chat_reference(s: &str) -> bool {
    if let Some(name) = s.strip_prefix('@') {
        return (5..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 20 && digits.chars().all(|c| c.is_ascii_digit())
}

/// Finds the config: `--config`, else `$DROPCAST_CONFIG`, else `./dropcast.yaml`.
pub fn locate(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("DROPCAST_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("dropcast.yaml"),
    }
}

/// Reads and validates the config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path, &|name| std::env::var(name).ok())
}

/// Parses config text; `env` looks up `${VAR}`. `path` is where the text came from: relative
/// paths are relative to its folder.
pub fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let cx = Cx {
        text,
        path,
        env,
        base: std::fs::canonicalize(&base).unwrap_or(base),
    };
    let raw: Raw = serde_yaml::from_str(text).map_err(|e| cx.invalid(describe_yaml_error(&e)))?;
    let telegram = raw
        .telegram
        .ok_or_else(|| cx.invalid("`telegram` is missing: it holds the bot token".into()))?;
    let (token, token_file) = cx.token(&telegram)?;
    let api_url = cx.api_url(&telegram)?;
    let channels = cx.channels(raw.channels.unwrap_or_default())?;
    let inboxes = cx.inboxes(raw.inboxes.unwrap_or_default(), &channels)?;
    let watch = cx.watch(raw.watch.unwrap_or_default())?;
    let timezone_name = raw.timezone.unwrap_or_else(|| "UTC".into());
    let timezone = jiff::tz::TimeZone::get(&timezone_name).map_err(|_| {
        cx.invalid(format!(
            "{}: unknown time zone `{timezone_name}`; write a name such as Europe/Rome",
            cx.at("timezone")
        ))
    })?;
    let accept = raw
        .accept
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.trim_start_matches('.').to_ascii_lowercase())
        .collect();
    for pattern in raw.ignore.iter().flatten() {
        if let Err(e) = globset::Glob::new(pattern) {
            return Err(cx.invalid(format!(
                "{}: `{pattern}` is not a valid pattern: {e}",
                cx.at("ignore")
            )));
        }
    }

    Ok(Config {
        file: path.to_path_buf(),
        token: Token::new(token),
        api_url,
        local_files: telegram.local_files.unwrap_or(false),
        pacing: telegram.pacing.unwrap_or(true),
        request_timeout: telegram
            .timeout
            .map_or(Duration::from_secs(30), |d| d.0)
            .max(Duration::from_millis(100)),
        pacing_scale: env("DROPCAST_PACING_SCALE")
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|f| *f > 0.0 && *f <= 1.0)
            .unwrap_or(1.0),
        channels,
        inboxes,
        accept,
        ignore: raw.ignore.unwrap_or_default(),
        archive: cx.folder("archive", raw.archive, "archive")?,
        failed: cx.folder("failed", raw.failed, "failed")?,
        scheduled: cx.folder("scheduled", raw.scheduled, "scheduled")?,
        state_dir: cx.folder("state_dir", raw.state_dir, "state")?,
        watch,
        duplicate_window: raw
            .duplicate_window
            .map_or(Duration::from_secs(30 * 86400), |d| d.0),
        uncertain: raw.uncertain.unwrap_or(Uncertain::Resend),
        lease_timeout: raw
            .lease_timeout
            .map_or(Duration::from_secs(30), |d| d.0)
            .max(Duration::from_millis(500)),
        timezone,
        timezone_name,
        language: raw.language.unwrap_or(Language::En),
        literal_token: telegram.token.as_deref().is_some_and(|t| !t.contains("${")),
        token_file,
        http_listen: raw.http.map(|h| cx.listen(&h.listen)).transpose()?,
    })
}

/// What reading one config file needs at every step: its text (to name lines), its place
/// (relative paths), the environment (`${VAR}`).
struct Cx<'a> {
    text: &'a str,
    path: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    base: PathBuf,
}

impl Cx<'_> {
    fn invalid(&self, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            message: crate::redact::redact(&message),
        }
    }

    /// A key as an error names it: with its line when it is in the file.
    fn at(&self, key: &str) -> String {
        match find_key_line(self.text, key) {
            Some(line) => format!("line {line}: `{key}`"),
            None => format!("`{key}`"),
        }
    }

    fn expand(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        expand_vars(value, self.env).map_err(|var| {
            self.invalid(format!(
                "{}: environment variable {var} is not set",
                self.at(key)
            ))
        })
    }

    fn path_of(&self, key: &str, value: &str) -> Result<PathBuf, ConfigError> {
        let value = self.expand(key, value)?;
        if value.trim().is_empty() {
            return Err(self.invalid(format!("{}: the path is empty", self.at(key))));
        }
        let p = PathBuf::from(value);
        Ok(if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        })
    }

    fn folder(
        &self,
        key: &str,
        value: Option<String>,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        match value {
            Some(v) => self.path_of(key, &v),
            None => Ok(self.base.join(default)),
        }
    }

    /// The token, and the file it was read from.
    fn token(&self, telegram: &RawTelegram) -> Result<(String, Option<PathBuf>), ConfigError> {
        let (token, file) = match (&telegram.token, &telegram.token_file) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(format!(
                    "{}: give either `token` or `token_file`, not both",
                    self.at("token_file")
                )));
            }
            (Some(t), None) => (self.expand("token", t)?.trim().to_string(), None),
            (None, Some(f)) => {
                let file = self.path_of("token_file", f)?;
                let token = std::fs::read_to_string(&file)
                    .map_err(|e| {
                        self.invalid(format!(
                            "{}: cannot read {}: {e}",
                            self.at("token_file"),
                            file.display()
                        ))
                    })?
                    .trim()
                    .to_string();
                if token.is_empty() {
                    return Err(self.invalid(format!(
                        "{}: {} is empty: put the bot token from @BotFather into it",
                        self.at("token_file"),
                        file.display()
                    )));
                }
                (token, Some(file))
            }
            (None, None) => {
                return Err(self.invalid(format!(
                    "{}: set `token_file` (a file holding the bot token) or `token: ${{TELEGRAM_BOT_TOKEN}}`",
                    self.at("telegram")
                )));
            }
        };
        if token.is_empty() {
            return Err(self.invalid(format!("{}: the bot token is empty", self.at("token"))));
        }
        if token.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(self.invalid(format!(
                "{}: the bot token contains spaces or slashes; it looks like 123456:ABC-DEF…",
                self.at("token")
            )));
        }
        Ok((token, file))
    }

    fn api_url(&self, telegram: &RawTelegram) -> Result<String, ConfigError> {
        let api_url = self
            .expand(
                "api_url",
                telegram
                    .api_url
                    .as_deref()
                    .unwrap_or("https://api.telegram.org"),
            )?
            .trim_end_matches('/')
            .to_string();
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Err(self.invalid(format!(
                "{}: must start with http:// or https://",
                self.at("api_url")
            )));
        }
        Ok(api_url)
    }

    fn channels(
        &self,
        raw: BTreeMap<String, ChatValue>,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut channels = BTreeMap::new();
        for (alias, chat) in raw {
            let chat = match chat {
                ChatValue::Int(i) => i.to_string(),
                ChatValue::Str(s) => self.expand(&alias, &s)?.trim().to_string(),
            };
            if !is_chat_reference(&chat) {
                return Err(self.invalid(format!(
                    "{}: `{chat}` is not a channel: write \"@username\" or the numeric id such as -1001234567890",
                    self.at(&alias)
                )));
            }
            channels.insert(alias, chat);
        }
        Ok(channels)
    }

    fn check_channel(
        &self,
        channels: &BTreeMap<String, String>,
        key: &str,
        reference: &str,
    ) -> Result<(), ConfigError> {
        if channels.contains_key(reference) || is_chat_reference(reference) {
            return Ok(());
        }
        let known: Vec<&str> = channels.keys().map(String::as_str).collect();
        Err(self.invalid(format!(
            "{}: unknown channel `{reference}`; the channels are: {}",
            self.at(key),
            if known.is_empty() {
                "(none: add them under `channels`)".to_string()
            } else {
                known.join(", ")
            }
        )))
    }

    fn inboxes(
        &self,
        raw: Vec<RawInbox>,
        channels: &BTreeMap<String, String>,
    ) -> Result<Vec<Inbox>, ConfigError> {
        if raw.is_empty() {
            return Err(self.invalid(
                "`inboxes` is missing: list at least one folder to watch, e.g. `inboxes: [{path: inbox, channel: news}]`"
                    .into(),
            ));
        }
        let mut inboxes = Vec::new();
        for ri in raw {
            let channel = match ri.channel {
                Some(c) => {
                    self.check_channel(channels, "channel", &c)?;
                    Some(c)
                }
                None if channels.len() == 1 => None,
                None => {
                    return Err(self.invalid(format!(
                        "{}: this inbox needs a `channel` (there are {} channels to choose from)",
                        self.at("path"),
                        channels.len()
                    )));
                }
            };
            for c in ri.channels.values() {
                self.check_channel(channels, "channels", c)?;
            }
            inboxes.push(Inbox {
                path: self.path_of("path", &ri.path)?,
                channel,
                recursive: ri.recursive.unwrap_or(true),
                channels: ri.channels,
                sidecar: ri.sidecar.unwrap_or(SidecarPolicy::Required),
                sidecar_wait: ri.sidecar_wait.map_or(Duration::from_secs(30), |d| d.0),
                sidecar_timeout: ri
                    .sidecar_timeout
                    .map_or(Duration::from_secs(3600), |d| d.0),
                caption: ri.caption.unwrap_or_else(|| "{stem}".into()),
                preview: ri.preview.unwrap_or_default(),
            });
        }
        Ok(inboxes)
    }

    fn watch(&self, raw: RawWatch) -> Result<Watch, ConfigError> {
        let watch = Watch {
            mode: raw.mode.unwrap_or(WatchMode::Auto),
            poll_interval: raw.poll_interval.map_or(Duration::from_secs(5), |d| d.0),
            settle: raw.settle.map_or(Duration::from_secs(3), |d| d.0),
            rescan_interval: raw
                .rescan_interval
                .map_or(Duration::from_secs(300), |d| d.0),
        };
        if watch.poll_interval.is_zero() || watch.rescan_interval.is_zero() {
            return Err(self.invalid(format!(
                "{}: intervals must be longer than zero",
                self.at("watch")
            )));
        }
        Ok(watch)
    }

    /// `http.listen`: `:8080` or `8080` alone means the loopback address: the page is for this
    /// server.
    fn listen(&self, value: &str) -> Result<std::net::SocketAddr, ConfigError> {
        let l = self.expand("listen", value)?;
        let full = match l.strip_prefix(':') {
            Some(port) => format!("127.0.0.1:{port}"),
            None if l.chars().all(|c| c.is_ascii_digit()) => format!("127.0.0.1:{l}"),
            None => l.clone(),
        };
        full.parse().map_err(|_| {
            self.invalid(format!(
                "{}: `{l}` is not an address; write it like 127.0.0.1:8080",
                self.at("listen")
            ))
        })
    }
}

/// What a file that `placement_rule` looks at holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The config: it says where the token is and where posts go (`api_url`), and may hold the
    /// token itself.
    Config { holds_token: bool },
    /// The file holding the bot token.
    TokenFile,
}

/// A folder clerks can open, and how a warning names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFolder {
    pub path: PathBuf,
    pub name: String,
}

/// The folders whoever uses the share can read: each inbox and the folder that holds it (the
/// share, usually; not when that is `/`), archive, failed and scheduled.
pub fn shared_folders(inboxes: &[&Path], others: &[(&str, &Path)]) -> Vec<SharedFolder> {
    let mut out: Vec<SharedFolder> = inboxes
        .iter()
        .map(|p| SharedFolder {
            path: p.to_path_buf(),
            name: format!("the inbox {}", p.display()),
        })
        .collect();
    out.extend(others.iter().map(|(name, p)| SharedFolder {
        path: p.to_path_buf(),
        name: format!("the {name} folder {}", p.display()),
    }));
    for inbox in inboxes {
        if let Some(parent) = inbox.parent().filter(|p| p.parent().is_some()) {
            out.push(SharedFolder {
                path: parent.to_path_buf(),
                name: format!("{}, the folder that holds the inbox", parent.display()),
            });
        }
    }
    out
}

/// The rule, pure: a line for each way people other than dropcast could read or change `file`
/// (`mode` is its permission bits, when known). Clerks can read the share; whoever reads the
/// token can post as the bot, and whoever changes the config can send the token elsewhere
/// (`api_url`). `file` and the folders must be absolute and resolved alike.
pub fn placement_rule(
    secret: Secret,
    file: &Path,
    mode: Option<u32>,
    shared: &[SharedFolder],
) -> Vec<String> {
    let (what, risk) = match secret {
        Secret::TokenFile => (
            "the token file",
            "whoever can open the share can read the bot token and post as the bot",
        ),
        Secret::Config { holds_token: true } => (
            "the config",
            "whoever can open the share can read the bot token in it and post as the bot",
        ),
        Secret::Config { holds_token: false } => (
            "the config",
            "whoever can open the share can read it, and may be able to change where the token goes",
        ),
    };
    let f = file.display();
    let mut out = Vec::new();
    // The deepest folder holding it is the one to name: the inbox rather than the share.
    let inside = shared
        .iter()
        .filter(|s| file.starts_with(&s.path))
        .max_by_key(|s| s.path.components().count());
    if let Some(folder) = inside {
        out.push(format!(
            "{what} {f} is inside {}: {risk}; move it out of the shared folders (e.g. to /etc/dropcast/)",
            folder.name
        ));
    }
    let Some(mode) = mode.map(|m| m & 0o777) else {
        return out;
    };
    if mode & 0o022 != 0 {
        out.push(format!(
            "{what} {f} can be changed by other users (mode {mode:03o}): run `chmod 600 {f}`"
        ));
    } else if mode & 0o044 != 0 {
        out.push(match secret {
            Secret::Config { holds_token: true } => format!(
                "the config holds the bot token and other users can read it (mode {mode:03o}): run `chmod 600 {f}`, or move the token to `token_file`"
            ),
            _ => format!(
                "{what} {f} can be read by other users (mode {mode:03o}): run `chmod 600 {f}`"
            ),
        });
    }
    out
}

/// Warnings about where the config and the token file are and who may read them
/// ([`placement_rule`], on the files as they are now). Said by `run`, `once`, `check` and
/// `doctor`; never fatal.
pub fn placement_warnings(config: &Config) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    // Compared resolved, so that a symlinked share or a relative `--config` cannot hide a file.
    let real = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let inboxes: Vec<PathBuf> = config.inboxes.iter().map(|i| real(&i.path)).collect();
    let others = [
        ("archive", real(&config.archive)),
        ("failed", real(&config.failed)),
        ("scheduled", real(&config.scheduled)),
    ];
    let shared = shared_folders(
        &inboxes.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        &others
            .iter()
            .map(|(n, p)| (*n, p.as_path()))
            .collect::<Vec<_>>(),
    );
    let mut files = vec![(
        Secret::Config {
            holds_token: config.literal_token,
        },
        &config.file,
    )];
    if let Some(token_file) = &config.token_file {
        files.push((Secret::TokenFile, token_file));
    }
    files
        .into_iter()
        .flat_map(|(secret, file)| {
            let mode = std::fs::metadata(file).ok().map(|m| m.permissions().mode());
            placement_rule(secret, &real(file), mode, &shared)
        })
        .collect()
}

/// Where `init` puts the config and the token when not told: `/etc/dropcast` for root, else
/// the user's config folder (`$XDG_CONFIG_HOME/dropcast`, or `~/.config/dropcast`).
pub fn default_config_dir() -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    config_dir_for(
        root,
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// [`default_config_dir`]'s rule, pure. XDG says a relative `XDG_CONFIG_HOME` is to be ignored.
fn config_dir_for(
    root: bool,
    xdg_config_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    if root {
        return Some(PathBuf::from("/etc/dropcast"));
    }
    if let Some(xdg) = xdg_config_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        return Some(xdg.join("dropcast"));
    }
    home.map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|h| h.join(".config/dropcast"))
}

/// The journal's folder `init` writes into a new config: `/var/lib/dropcast` for root (what
/// the systemd unit's `StateDirectory` makes), else `state` next to the config. Never the share.
pub fn default_state_dir(config_dir: &Path) -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/var/lib/dropcast")
    } else {
        config_dir.join("state")
    }
}

/// Expands `${VAR}` and `${VAR:-default}` from `env`; `$$` is a literal `$`. Returns the name of an unset variable.
pub fn expand_vars(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                out.push_str(&rest[i..]);
                return Ok(out);
            };
            let inner = &body[..end];
            let value = match inner.split_once(":-") {
                Some((name, default)) => env(name)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| default.to_string()),
                None => env(inner).ok_or_else(|| inner.to_string())?,
            };
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The line (1-based) of the first `key:` in the text, for errors found after parsing.
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    let is_key_at = |line: &str, i: usize| {
        let before = line[..i].trim_end_matches('"').chars().next_back();
        let after = line[i + key.len()..].trim_start_matches('"').trim_start();
        before.is_none_or(|c| matches!(c, ' ' | '{' | ',' | '-')) && after.starts_with(':')
    };
    text.lines()
        .position(|line| {
            let code = line.split(" #").next().unwrap_or(line);
            code.match_indices(key).any(|(i, _)| is_key_at(code, i))
        })
        .map(|i| i + 1)
}

/// serde_yaml's message with its location, in words an IT person reads easily.
fn describe_yaml_error(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    // serde_yaml already says "KEY: MESSAGE at line L column C"; unknown fields list the valid keys.
    msg.replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
}

/// A duration written `500ms`, `3s`, `5m`, `1h`, `30d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `500ms`, `3s`, `5m`, `1h`, `30d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || format!("`{s}` is not a duration; write it like 500ms, 3s, 5m, 1h or 30d");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms).map(Duration::from_millis).ok_or_else(bad)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    telegram: Option<RawTelegram>,
    channels: Option<BTreeMap<String, ChatValue>>,
    inboxes: Option<Vec<RawInbox>>,
    accept: Option<Vec<String>>,
    ignore: Option<Vec<String>>,
    archive: Option<String>,
    failed: Option<String>,
    scheduled: Option<String>,
    state_dir: Option<String>,
    watch: Option<RawWatch>,
    duplicate_window: Option<Dur>,
    uncertain: Option<Uncertain>,
    lease_timeout: Option<Dur>,
    timezone: Option<String>,
    language: Option<Language>,
    http: Option<RawHttp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelegram {
    token: Option<String>,
    token_file: Option<String>,
    api_url: Option<String>,
    local_files: Option<bool>,
    pacing: Option<bool>,
    timeout: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ChatValue {
    Int(i64),
    Str(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInbox {
    path: String,
    channel: Option<String>,
    recursive: Option<bool>,
    #[serde(default)]
    channels: BTreeMap<String, String>,
    sidecar: Option<SidecarPolicy>,
    sidecar_wait: Option<Dur>,
    sidecar_timeout: Option<Dur>,
    caption: Option<String>,
    preview: Option<crate::post::Preview>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    mode: Option<WatchMode>,
    poll_interval: Option<Dur>,
    settle: Option<Dur>,
    rescan_interval: Option<Dur>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789".into()),
            "HOME_DIR" => Some("/srv".into()),
            _ => None,
        }
    }

    fn parse_ok(text: &str) -> Config {
        parse(text, Path::new("/etc/dropcast/dropcast.yaml"), &env).unwrap()
    }

    fn check_err(text: &str, expected: &[&str]) {
        let err = parse(text, Path::new("/etc/dropcast/dropcast.yaml"), &env)
            .unwrap_err()
            .to_string();
        for e in expected {
            assert!(err.contains(e), "error {err:?} lacks {e:?}");
        }
        assert!(!err.contains("ABCdefGHI"), "token leaked: {err}");
    }

    const MINIMAL: &str = "telegram: {token: \"${TOKEN}\"}\nchannels: {news: \"@town_news\"}\ninboxes: [{path: inbox}]\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse_ok(MINIMAL);
        assert_eq!(c.api_url, "https://api.telegram.org");
        assert_eq!(c.inboxes[0].path, Path::new("/etc/dropcast/inbox"));
        assert_eq!(c.archive, Path::new("/etc/dropcast/archive"));
        assert_eq!(c.watch.settle, Duration::from_secs(3));
        assert_eq!(c.inboxes[0].sidecar, SidecarPolicy::Required);
        assert_eq!(c.inboxes[0].sidecar_timeout, Duration::from_secs(3600));
        assert_eq!(c.duplicate_window, Duration::from_secs(30 * 86400));
        assert_eq!(c.resolve_channel("news").as_deref(), Some("@town_news"));
        assert_eq!(c.resolve_channel("nope"), None);
        assert_eq!(c.resolve_channel("-100123").as_deref(), Some("-100123"));
        assert!(!format!("{c:?}").contains("ABCdef"));
    }

    #[test]
    fn full_config() {
        let c = parse_ok(
            "telegram:\n  token: ${TOKEN}\n  api_url: http://127.0.0.1:8081/\n  pacing: false\n\
             channels:\n  news: \"@town_news\"\n  alerts: -1001234567890\n\
             inboxes:\n  - path: ${HOME_DIR}/inbox\n    channel: news\n    channels: {meteo: alerts}\n    sidecar: optional\n    sidecar_wait: 500ms\n\
             archive: /srv/archive\nwatch: {mode: poll, poll_interval: 2s, settle: 1s, rescan_interval: 5m}\n\
             duplicate_window: 7d\nuncertain: fail\ntimezone: Europe/Rome\nlanguage: it\naccept: [.DOCX]\n",
        );
        assert_eq!(c.api_url, "http://127.0.0.1:8081");
        assert_eq!(c.channels["alerts"], "-1001234567890");
        assert_eq!(c.inboxes[0].path, Path::new("/srv/inbox"));
        assert_eq!(c.inboxes[0].sidecar_wait, Duration::from_millis(500));
        assert_eq!(c.watch.mode, WatchMode::Poll);
        assert_eq!(c.uncertain, Uncertain::Fail);
        assert_eq!(c.language, Language::It);
        assert_eq!(c.accept, vec!["docx"]);
        assert!(!c.pacing);
        assert_eq!(c.http_listen, None);
        let with = |l: &str| {
            parse_ok(&format!("{MINIMAL}http: {{listen: \"{l}\"}}\n"))
                .http_listen
                .unwrap()
                .to_string()
        };
        assert_eq!(with(":8080"), "127.0.0.1:8080");
        assert_eq!(with("9090"), "127.0.0.1:9090");
        assert_eq!(with("0.0.0.0:80"), "0.0.0.0:80");
        check_err(
            &format!("{MINIMAL}http: {{listen: nowhere}}\n"),
            &["not an address", "line 4"],
        );
    }

    #[test]
    fn errors_name_key_and_line() {
        check_err(
            &format!("{MINIMAL}watch: {{settle: 3x}}\n"),
            &["watch", "3x", "line 4"],
        );
        check_err(
            &format!("{MINIMAL}archiv: /srv\n"),
            &["unknown key `archiv`", "line 4"],
        );
        check_err(
            "telegram: {token: \"${NOPE}\"}\nchannels: {news: \"@town_news\"}\ninboxes: [{path: inbox}]\n",
            &["NOPE", "line 1"],
        );
        check_err(
            "telegram: {token: \"${TOKEN}\"}\nchannels: {news: \"@town_news\"}\ninboxes: [{path: inbox, channel: newz}]\n",
            &["unknown channel `newz`", "news", "line 3"],
        );
        check_err(
            "telegram: {token: \"${TOKEN}\"}\nchannels: {news: \"town news\"}\ninboxes: [{path: inbox}]\n",
            &["is not a channel", "line 2"],
        );
        check_err(
            "channels: {news: \"@town_news\"}\ninboxes: [{path: inbox}]\n",
            &["`telegram` is missing"],
        );
        check_err(
            "telegram: {token: \"${TOKEN}\"}\nchannels: {news: \"@town_news\"}\n",
            &["`inboxes` is missing"],
        );
        check_err(
            &format!("{MINIMAL}timezone: Mars/Olympus\n"),
            &["unknown time zone", "line 4"],
        );
        check_err(
            "telegram: {token: \"${TOKEN}\"}\nchannels: {a: \"@town_news\", b: \"@town_alerts\"}\ninboxes: [{path: inbox}]\n",
            &["needs a `channel`"],
        );
        check_err(
            "telegram: {token: \"123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789\", toke: 1}\nchannels: {news: \"@town_news\"}\ninboxes: [{path: inbox}]\n",
            &["unknown key `toke`"],
        );
    }

    #[test]
    fn durations() {
        for (s, ms) in [
            ("500ms", 500),
            ("3s", 3000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("30d", 2_592_000_000),
        ] {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        for s in [
            "",
            "3",
            "s",
            "3 sec",
            "-1s",
            "1.5s",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }

    #[test]
    fn var_expansion() {
        let e = |s: &str| expand_vars(s, &env);
        assert_eq!(e("${HOME_DIR}/x").unwrap(), "/srv/x");
        assert_eq!(e("a$$b").unwrap(), "a$b");
        assert_eq!(e("$HOME_DIR").unwrap(), "$HOME_DIR");
        assert_eq!(e("${UNSET}").unwrap_err(), "UNSET");
        assert_eq!(e("${open").unwrap(), "${open");
        assert_eq!(e("${UNSET:-fallback}").unwrap(), "fallback");
        assert_eq!(e("${HOME_DIR:-fallback}").unwrap(), "/srv");
    }

    fn shared() -> Vec<SharedFolder> {
        shared_folders(
            &[Path::new("/srv/share/inbox"), Path::new("/inbox")],
            &[
                ("archive", Path::new("/srv/archive")),
                ("failed", Path::new("/srv/share/failed")),
                ("scheduled", Path::new("/srv/share/inbox/scheduled")),
            ],
        )
    }

    /// One placement case: the warnings, each checked by the words it must hold.
    fn check_placement(secret: Secret, file: &str, mode: Option<u32>, expected: &[&[&str]]) {
        let got = placement_rule(secret, Path::new(file), mode, &shared());
        assert_eq!(got.len(), expected.len(), "{file} {mode:?}: {got:#?}");
        for (line, words) in got.iter().zip(expected) {
            for w in *words {
                assert!(line.contains(w), "{file} {mode:?}: {line:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn shared_folders_are_the_inboxes_their_parents_and_dropcasts_folders() {
        let names: Vec<(String, String)> = shared()
            .into_iter()
            .map(|s| (s.path.display().to_string(), s.name))
            .collect();
        let paths: Vec<&str> = names.iter().map(|(p, _)| p.as_str()).collect();
        // `/inbox`'s parent is `/`: taking it would make every file "inside the share".
        assert_eq!(
            paths,
            [
                "/srv/share/inbox",
                "/inbox",
                "/srv/archive",
                "/srv/share/failed",
                "/srv/share/inbox/scheduled",
                "/srv/share"
            ]
        );
        assert_eq!(names[5].1, "/srv/share, the folder that holds the inbox");
    }

    #[test]
    fn placement_of_the_config_and_the_token() {
        let config = Secret::Config { holds_token: false };
        let literal = Secret::Config { holds_token: true };
        let token = Secret::TokenFile;
        // Where init puts them, readable by dropcast alone: nothing to say.
        check_placement(config, "/etc/dropcast/dropcast.yaml", Some(0o100600), &[]);
        check_placement(token, "/etc/dropcast/token", Some(0o400), &[]);
        check_placement(token, "/home/it/.config/dropcast/token", None, &[]);
        // In the share, next to the inbox (the old `init`'s layout).
        check_placement(
            token,
            "/srv/share/token",
            Some(0o600),
            &[&[
                "the token file /srv/share/token is inside /srv/share, the folder that holds the inbox",
                "post as the bot",
                "move it out",
            ]],
        );
        check_placement(
            config,
            "/srv/share/dropcast.yaml",
            Some(0o600),
            &[&[
                "the config /srv/share/dropcast.yaml is inside /srv/share,",
                "change where the token goes",
            ]],
        );
        // Anywhere under it, in an inbox, in dropcast's own folders: the most specific is named.
        check_placement(
            token,
            "/srv/share/it/secret/token",
            Some(0o600),
            &[&["inside /srv/share,"]],
        );
        check_placement(
            token,
            "/srv/share/inbox/token",
            Some(0o600),
            &[&["inside the inbox /srv/share/inbox:"]],
        );
        check_placement(
            token,
            "/srv/share/inbox/scheduled/t",
            Some(0o600),
            &[&["inside the scheduled folder /srv/share/inbox/scheduled:"]],
        );
        check_placement(
            literal,
            "/srv/archive/2026/dropcast.yaml",
            Some(0o600),
            &[&[
                "inside the archive folder /srv/archive:",
                "read the bot token in it",
            ]],
        );
        check_placement(
            token,
            "/srv/share/failed/token",
            Some(0o600),
            &[&["the failed folder /srv/share/failed"]],
        );
        // Folders compare by component, not by text; an inbox at the root has no parent taken.
        check_placement(token, "/srv/share2/token", Some(0o600), &[]);
        check_placement(token, "/srv/sharetoken", Some(0o600), &[]);
        check_placement(token, "/etc/token", Some(0o600), &[]);
        check_placement(
            token,
            "/inbox/token",
            Some(0o600),
            &[&["inside the inbox /inbox:"]],
        );
        // Who else may read or change them.
        check_placement(
            token,
            "/etc/dropcast/token",
            Some(0o100644),
            &[&[
                "can be read by other users (mode 644)",
                "chmod 600 /etc/dropcast/token",
            ]],
        );
        check_placement(token, "/etc/dropcast/token", Some(0o640), &[&["mode 640"]]);
        check_placement(
            config,
            "/etc/dropcast/dropcast.yaml",
            Some(0o604),
            &[&["the config /etc/dropcast/dropcast.yaml can be read by other users"]],
        );
        check_placement(
            config,
            "/etc/dropcast/dropcast.yaml",
            Some(0o620),
            &[&["can be changed by other users (mode 620)"]],
        );
        check_placement(
            token,
            "/etc/dropcast/token",
            Some(0o666),
            &[&["can be changed by other users (mode 666)"]],
        );
        check_placement(
            literal,
            "/etc/dropcast/dropcast.yaml",
            Some(0o644),
            &[&[
                "the config holds the bot token and other users can read it",
                "chmod 600",
            ]],
        );
        // Execute bits and the owner's own bits are nobody else's business.
        check_placement(token, "/etc/dropcast/token", Some(0o711), &[]);
        // Both at once.
        check_placement(
            token,
            "/srv/share/token",
            Some(0o644),
            &[&["inside"], &["can be read"]],
        );
    }

    #[test]
    fn default_config_dir() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            config_dir_for(true, os("/x"), os("/home/it")),
            Some(PathBuf::from("/etc/dropcast"))
        );
        assert_eq!(
            config_dir_for(false, os("/x/conf"), os("/home/it")),
            Some(PathBuf::from("/x/conf/dropcast"))
        );
        assert_eq!(
            config_dir_for(false, os("relative"), os("/home/it")),
            Some(PathBuf::from("/home/it/.config/dropcast"))
        );
        assert_eq!(
            config_dir_for(false, None, os("/home/it")),
            Some(PathBuf::from("/home/it/.config/dropcast"))
        );
        assert_eq!(config_dir_for(false, None, os("")), None);
        assert_eq!(config_dir_for(false, None, None), None);
    }

    #[test]
    fn the_token_file_is_remembered_and_an_empty_one_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("dropcast.yaml");
        let text = "telegram: {token_file: token}\nchannels: {news: \"@town_news\"}\ninboxes: [{path: inbox}]\n";
        std::fs::write(dir.path().join("token"), "\n").unwrap();
        let err = parse(text, &config, &env).unwrap_err().to_string();
        assert!(
            err.contains("line 1: `token_file`")
                && err.contains("token is empty: put the bot token"),
            "{err}"
        );
        std::fs::write(dir.path().join("token"), "123456:ABCdef\n").unwrap();
        let c = parse(text, &config, &env).unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(c.token_file, Some(real.join("token")));
        assert!(!c.literal_token);
        assert_eq!(parse_ok(MINIMAL).token_file, None);
    }

    #[test]
    fn chat_references() {
        for ok in ["@town_news", "-1001234567890", "12345"] {
            assert!(is_chat_reference(ok), "{ok}");
        }
        for bad in ["town", "@abc", "@1abcde", "-", "@town news", ""] {
            assert!(!is_chat_reference(bad), "{bad}");
        }
    }
}
