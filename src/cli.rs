//! The command line: `run`, `once`, `check`, with exit codes 0 (success), 1 (some bundle failed),
//! 2 (bad usage or config).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Config};
use crate::pipeline::{self, Options};

/// dropcast turns a shared office folder into a Telegram channel.
#[derive(Debug, Parser)]
#[command(name = "dropcast", version, about, long_about = None)]
pub struct Cli {
    /// Log format: human-readable lines, or JSON for log shippers. Filter with RUST_LOG.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch the inboxes and post until SIGINT/SIGTERM.
    Run {
        /// Config file (default: $DROPCAST_CONFIG, else ./dropcast.yaml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print each post as it would be sent; call no Telegram method, move nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Post what is in the inboxes now, then exit.
    Once {
        /// Config file (default: $DROPCAST_CONFIG, else ./dropcast.yaml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print each post as it would be sent; call no Telegram method, move nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check the token, the channels, the bot's rights, the folders, the journal, where the config
    /// and the token are: each ok, a warning, or why not.
    Doctor {
        /// Config file (default: $DROPCAST_CONFIG, else ./dropcast.yaml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Show what is waiting, scheduled, retrying, failed, and the last posts.
    Status {
        /// Config file (default: $DROPCAST_CONFIG, else ./dropcast.yaml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Lay out the shared folders (inbox/, archive/, failed/, scheduled/ in DIR), and write a
    /// commented dropcast.yaml and an empty token file (mode 600) outside them, in the config
    /// folder. Never overwrites anything.
    Init {
        /// The shared folder to set up (created if missing): what the clerks see.
        dir: PathBuf,
        /// Where the config and the token go, never inside DIR (default: /etc/dropcast as root,
        /// else $XDG_CONFIG_HOME/dropcast or ~/.config/dropcast).
        #[arg(long, value_name = "DIR2")]
        config_dir: Option<PathBuf>,
        /// The clerks' language: of the reports, the receipts and the templates of sidecars
        /// put next to the inbox (`modelli/` in Italian, `templates/` in English).
        #[arg(long, value_enum, default_value = "it")]
        language: InitLanguage,
    },
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
    /// Validate the config and the given sidecars; post nothing.
    Check {
        /// Config file (default: $DROPCAST_CONFIG, else ./dropcast.yaml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Sidecar files to validate.
        files: Vec<PathBuf>,
    },
    /// Internal: renders a preview for the daemon, which runs it with a time limit and a memory
    /// cap (`preview::render_isolated`); writes the JPEG or the reason there is none to stdout.
    #[command(name = "__render", hide = true)]
    Render {
        source: crate::preview::Source,
        size: crate::preview::Size,
        path: PathBuf,
    },
    /// Internal: a long-lived renderer for the daemon (`render_pool`), answering requests on
    /// stdin until it closes.
    #[command(name = "__render-worker", hide = true)]
    RenderWorker,
}

/// Sets up logging to stderr.
pub fn init_logging(format: LogFormat) {
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // notify logs at INFO each watch it fails to drop, "not a real error" in its own words: every
    // bundle's work folder is one. Shown only when RUST_LOG names notify.
    if !asked.contains("notify")
        && let Ok(quiet) = "notify=warn".parse()
    {
        filter = filter.add_directive(quiet);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load(flag: Option<&Path>) -> Result<Config, ExitCode> {
    let path = config::locate(flag);
    config::load(&path).map_err(|e| {
        eprintln!("dropcast: {}", crate::redact::redact(&e.to_string()));
        ExitCode::from(2)
    })
}

/// Runs a parsed command line.
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run { config, dry_run } => daemon(
            config.as_deref(),
            Options {
                once: false,
                dry_run,
            },
        ),
        Command::Once { config, dry_run } => daemon(
            config.as_deref(),
            Options {
                once: true,
                dry_run,
            },
        ),
        Command::Check { config, files } => check(config.as_deref(), &files),
        Command::Render { source, size, path } => crate::preview::child_main(&path, source, size),
        Command::RenderWorker => crate::render_pool::worker_main(),
        Command::Init {
            dir,
            config_dir,
            language,
        } => init(&dir, config_dir.as_deref(), language),
        Command::Doctor { config } => doctor(config.as_deref()),
        Command::Status { config, json } => status(config.as_deref(), json),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "dropcast", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("dropcast: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The tokio runtime of a command (`doctor` needs one thread, the daemon several); a failure
/// to start one is said once and exits 1.
fn runtime(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, ExitCode> {
    builder.enable_all().build().map_err(|e| {
        eprintln!("dropcast: cannot start: {e}");
        ExitCode::from(1)
    })
}

fn doctor(flag: Option<&Path>) -> ExitCode {
    let config = match load(flag) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rt = match runtime(tokio::runtime::Builder::new_current_thread()) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let checks = rt.block_on(crate::doctor::run(&config));
    print!("{}", crate::redact::redact(&crate::doctor::render(&checks)));
    if checks.iter().all(crate::doctor::Check::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn status(flag: Option<&Path>, json: bool) -> ExitCode {
    let config = match load(flag) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match crate::status::read(&config) {
        Ok(s) if json => {
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(s) => {
            print!("{}", crate::status::render(&s));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dropcast: {e}");
            ExitCode::from(1)
        }
    }
}

/// The config `init` writes; `__NAME__` marks where its paths go.
const CONFIG_TEMPLATE: &str = include_str!("templates/dropcast.yaml");

/// Lays out the shared folders in `dir`, and the config and the token file in the config
/// folder, outside them: whoever can open the share must not read the token.
/// `init --language`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitLanguage {
    It,
    En,
}

/// The sidecar templates `init` puts next to the inbox, by language: (file name, text).
const TEMPLATES_IT: &[(&str, &str)] = &[
    ("LEGGIMI.txt", include_str!("templates/it/LEGGIMI.txt")),
    ("avviso.yaml", include_str!("templates/it/avviso.yaml")),
    (
        "solo-testo.yaml",
        include_str!("templates/it/solo-testo.yaml"),
    ),
    ("album.yaml", include_str!("templates/it/album.yaml")),
    (
        "programmato.yaml",
        include_str!("templates/it/programmato.yaml"),
    ),
    ("allerta.yaml", include_str!("templates/it/allerta.yaml")),
    (
        "due-canali.yaml",
        include_str!("templates/it/due-canali.yaml"),
    ),
    (
        "anteprima-pagina.yaml",
        include_str!("templates/it/anteprima-pagina.yaml"),
    ),
    (
        "correzione.yaml",
        include_str!("templates/it/correzione.yaml"),
    ),
    ("ritiro.yaml", include_str!("templates/it/ritiro.yaml")),
];
const TEMPLATES_EN: &[(&str, &str)] = &[
    ("README.txt", include_str!("templates/en/README.txt")),
    ("notice.yaml", include_str!("templates/en/notice.yaml")),
    (
        "text-only.yaml",
        include_str!("templates/en/text-only.yaml"),
    ),
    ("album.yaml", include_str!("templates/en/album.yaml")),
    (
        "scheduled.yaml",
        include_str!("templates/en/scheduled.yaml"),
    ),
    ("alert.yaml", include_str!("templates/en/alert.yaml")),
    (
        "two-channels.yaml",
        include_str!("templates/en/two-channels.yaml"),
    ),
    (
        "page-preview.yaml",
        include_str!("templates/en/page-preview.yaml"),
    ),
    (
        "correction.yaml",
        include_str!("templates/en/correction.yaml"),
    ),
    (
        "retraction.yaml",
        include_str!("templates/en/retraction.yaml"),
    ),
];

/// Puts the sidecar templates next to the inbox (`DIR/modelli/` or `DIR/templates/`), never
/// over a file that is there; returns what it made.
fn write_templates(dir: &Path, language: InitLanguage) -> std::io::Result<Vec<String>> {
    let (folder, files) = match language {
        InitLanguage::It => ("modelli", TEMPLATES_IT),
        InitLanguage::En => ("templates", TEMPLATES_EN),
    };
    let folder = dir.join(folder);
    std::fs::create_dir_all(&folder)?;
    let mut made = Vec::new();
    for (name, text) in files {
        let path = folder.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, text.as_bytes())?;
                made.push(path.display().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(made)
}

fn init(dir: &Path, config_dir: Option<&Path>, language: InitLanguage) -> ExitCode {
    let Some(config_dir) = config_dir
        .map(Path::to_path_buf)
        .or_else(config::default_config_dir)
    else {
        eprintln!(
            "dropcast: cannot tell where the config goes (HOME is not set): give --config-dir"
        );
        return ExitCode::from(2);
    };
    let mut made = Vec::new();
    for p in ["inbox", "archive", "failed", "scheduled"]
        .map(|sub| dir.join(sub))
        .into_iter()
        .chain([config_dir.clone()])
    {
        if !p.is_dir() {
            if let Err(e) = std::fs::create_dir_all(&p) {
                eprintln!("dropcast: cannot create {}: {e}", p.display());
                return ExitCode::from(1);
            }
            made.push(format!("{}/", p.display()));
        }
    }
    // The config names the folders by absolute path: it lives elsewhere.
    let real = |p: &Path| {
        std::fs::canonicalize(p)
            .map_err(|e| format!("cannot resolve {}: {e}", p.display()))
            .and_then(|r| match r.to_str() {
                Some(_) => Ok(r),
                None => Err(format!("{} is not valid UTF-8", r.display())),
            })
    };
    let (dir, config_dir) = match (real(dir), real(&config_dir)) {
        (Ok(d), Ok(c)) => (d, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("dropcast: {e}");
            return ExitCode::from(1);
        }
    };
    let config = config_dir.join("dropcast.yaml");
    let token = config_dir.join("token");
    let mut kept = Vec::new();
    for (path, bytes) in [
        (
            &config,
            fill_template(&dir, &token, &config::default_state_dir(&config_dir)).replace(
                "\nlanguage: it ",
                match language {
                    InitLanguage::It => "\nlanguage: it ",
                    InitLanguage::En => "\nlanguage: en ",
                },
            ),
        ),
        (&token, String::new()),
    ] {
        match create_private(path, bytes.as_bytes()) {
            Ok(true) => made.push(path.display().to_string()),
            Ok(false) => kept.push(path.display().to_string()),
            Err(e) => {
                eprintln!("dropcast: cannot write {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
    }
    match write_templates(&dir, language) {
        Ok(templates) => made.extend(templates),
        Err(e) => {
            eprintln!("dropcast: cannot write the templates next to the inbox: {e}");
            return ExitCode::from(1);
        }
    }
    for m in &made {
        println!("created {m}");
    }
    for k in &kept {
        println!("kept the existing {k} (init never overwrites)");
    }
    for w in init_warnings(&dir, &config, &token) {
        eprintln!("warning: {w}");
    }
    let c = config.display();
    let t = token.display();
    println!(
        "\nNext steps:\n\
         1. Put the bot token from @BotFather into {t}, readable by dropcast alone (`chmod 600 {t}`; init made it so). Never put it in {d}: everyone who can open the share could read it.\n\
         2. Write your channel in {c} (`news: \"@your_channel\"`) and make the bot an admin there with the right to post.\n\
         3. Run `dropcast doctor --config {c}`, then `dropcast run --config {c}` (or install examples/dropcast.service).",
        d = dir.display()
    );
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        println!(
            "   If dropcast runs as its own user (User=dropcast in examples/dropcast.service), give it the two files: `chown dropcast {c} {t}`."
        );
    }
    ExitCode::SUCCESS
}

/// The config template with the paths of this office: the folders in `dir`, the token file, the
/// journal's folder.
fn fill_template(dir: &Path, token: &Path, state_dir: &Path) -> String {
    // Double-quoted (JSON's escapes are YAML's), with `$` doubled so that `${…}` expansion leaves
    // the path alone.
    let yaml = |p: &Path| {
        serde_json::to_string(&p.to_string_lossy().replace('$', "$$")).unwrap_or_default()
    };
    CONFIG_TEMPLATE
        .replace("__TOKEN_FILE__", &yaml(token))
        .replace("__INBOX__", &yaml(&dir.join("inbox")))
        .replace("__SCANNER__", &yaml(&dir.join("inbox").join("scanner")))
        .replace("__ARCHIVE__", &yaml(&dir.join("archive")))
        .replace("__FAILED__", &yaml(&dir.join("failed")))
        .replace("__SCHEDULED__", &yaml(&dir.join("scheduled")))
        .replace("__STATE_DIR__", &yaml(state_dir))
}

/// Creates `path` holding `bytes`, readable and writable by its owner alone. `Ok(false)` when
/// it exists already: it is never overwritten.
fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(bytes)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// What `init` should say about where the config and token are (the folders given to it may be
/// inside the share), and about a config or token an older `init` left in the share.
fn init_warnings(dir: &Path, config: &Path, token: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let (inbox, archive, failed, scheduled) = (
        dir.join("inbox"),
        dir.join("archive"),
        dir.join("failed"),
        dir.join("scheduled"),
    );
    let shared = config::shared_folders(
        &[&inbox],
        &[
            ("archive", &archive),
            ("failed", &failed),
            ("scheduled", &scheduled),
        ],
    );
    let mut out = Vec::new();
    for (secret, file) in [
        (config::Secret::Config { holds_token: false }, config),
        (config::Secret::TokenFile, token),
    ] {
        let mode = std::fs::metadata(file).ok().map(|m| m.permissions().mode());
        out.extend(config::placement_rule(secret, file, mode, &shared));
    }
    for old in [dir.join("dropcast.yaml"), dir.join("token")] {
        if old.exists() && old != config && old != token {
            out.push(format!(
                "{} is in the shared folder, where everyone who can open the share can read it: move what you need from it into {} and delete it",
                old.display(),
                config.parent().unwrap_or(config).display()
            ));
        }
    }
    out
}

/// Says where the config and the token should not be ([`config::placement_warnings`]).
fn warn_placement(config: &Config) {
    for w in config::placement_warnings(config) {
        tracing::warn!("{w}");
    }
}

fn daemon(flag: Option<&Path>, opts: Options) -> ExitCode {
    let config = match load(flag) {
        Ok(c) => Arc::new(c),
        Err(code) => return code,
    };
    warn_placement(&config);
    let rt = match runtime(tokio::runtime::Builder::new_multi_thread()) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let config_path = config.file.clone();
    let reload = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reload_flag = reload.clone();
    let result = rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                match wait_for_signal().await {
                    Signal::Stop => break,
                    // SIGHUP: a config that does not validate is refused and the running one
                    // stays; a good one is taken by a clean stop and a fresh start (the journal
                    // resumes every post), so no work is dropped.
                    Signal::Reload if opts.once => {}
                    Signal::Reload => match config::load(&config_path) {
                        Ok(_) => {
                            tracing::info!(
                                "reloading the config: stopping cleanly, then starting again"
                            );
                            reload_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                            break;
                        }
                        Err(e) => tracing::error!(
                            error = %crate::redact::redact(&e.to_string()),
                            "the new config has errors: keeping the running one"
                        ),
                    },
                }
            }
            tracing::info!("stopping: finishing or abandoning the request in flight");
            let _ = tx.send(true);
            wait_for_signal().await;
            tracing::warn!("second signal: exiting at once");
            std::process::exit(130);
        });
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let leases = Arc::new(if opts.dry_run {
            crate::lease::Leases::off(&config)
        } else {
            crate::lease::Leases::new(&config)
        });
        let share = crate::share::Share::new(&config).with_leases(leases.clone());
        let share = Arc::new(if opts.dry_run {
            share.without_memory()
        } else {
            share
        });
        if let Some(addr) = config.http_listen.filter(|_| !opts.once) {
            let web = crate::web::Sources {
                config: config.clone(),
                metrics: metrics.clone(),
                share: share.clone(),
                leases: leases.clone(),
            };
            match crate::web::serve(addr, web, rx.clone()).await {
                Ok(bound) => tracing::info!(address = %bound, "status page at http://{bound}/"),
                Err(e) => {
                    return Err(pipeline::PipelineError::Http { addr, source: e });
                }
            }
        }
        if opts.once && !opts.dry_run && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            tokio::spawn(progress(metrics.clone()));
        }
        pipeline::run(config, opts, metrics, share, leases, rx).await
    });
    if reload.load(std::sync::atomic::Ordering::SeqCst) && result.is_ok() {
        rt.shutdown_timeout(std::time::Duration::from_secs(2));
        return restart();
    }
    // Tasks blocked in file IO must not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(summary) => {
            if opts.once {
                if !opts.dry_run && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    println!();
                }
                let verb = if opts.dry_run { "would post" } else { "posted" };
                println!(
                    "{verb} {}, failed {}, still waiting {}",
                    summary.posted, summary.failed, summary.left
                );
            }
            // `run` stopping cleanly succeeds; refused bundles are in failed/ with their reports.
            if opts.once && (summary.failed > 0 || summary.left > 0) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("dropcast: {}", crate::redact::redact(&e.to_string()));
            match e {
                pipeline::PipelineError::Token(_) => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}

/// A one-line progress display for `once` on a terminal: a large backlog is not a silent wait.
async fn progress(m: Arc<crate::metrics::Metrics>) {
    use std::io::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let line = format!(
            "\r{} posted, {} failed, {} in the queue, {} messages sent ",
            m.bundles_archived.load(Relaxed),
            m.bundles_failed.load(Relaxed) + m.bundles_refused.load(Relaxed),
            m.queue_depth.load(Relaxed).max(0),
            m.messages_sent.load(Relaxed),
        );
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

enum Signal {
    Stop,
    Reload,
}

async fn wait_for_signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return Signal::Stop;
    };
    tokio::select! {
        _ = term.recv() => Signal::Stop,
        _ = tokio::signal::ctrl_c() => Signal::Stop,
        _ = hup.recv() => Signal::Reload,
    }
}

/// Replaces this process with a fresh `dropcast` with the same arguments (same pid, so systemd
/// keeps tracking it).
fn restart() -> ExitCode {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .ok()
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(std::env::args_os().next().unwrap_or_default()));
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!("dropcast: cannot restart after the config reload: {err}");
    ExitCode::from(1)
}

fn check(flag: Option<&Path>, files: &[PathBuf]) -> ExitCode {
    let config = match load(flag) {
        Ok(c) => c,
        Err(code) => return code,
    };
    warn_placement(&config);
    println!(
        "ok {} ({})",
        config.file.display(),
        crate::messages::check::config(config.language)
    );
    let mut failed = false;
    for f in files {
        match check_sidecar(f, &config) {
            Ok(post) => println!("ok {}: {}", f.display(), post.trim_end()),
            Err(mistakes) => {
                failed = true;
                for m in mistakes {
                    println!("{}: {m}", f.display());
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Checks a sidecar as the daemon would: in the inbox the daemon would take it from (the most
/// specific), with the media file the daemon would pair it with and its attachments if they are
/// next to it, so that album rules, content, sizes and the caption are all checked. Says what
/// the post would be and where it would go, or every mistake, one per line, in the config's
/// language.
fn check_sidecar(path: &Path, config: &Config) -> Result<String, Vec<String>> {
    use crate::bundle::Kind;
    use crate::messages::Problem;
    let lang = config.language;
    // A sidecar's mistakes one per line; any other problem as its report says it.
    let mistakes = |p: &Problem| -> Vec<String> {
        match p {
            Problem::BadSidecar { errors, .. } if !errors.is_empty() => {
                errors.iter().map(|e| e.render(lang)).collect()
            }
            _ => {
                let r = p.report(lang);
                vec![format!("{}: {}", r.what.trim_end_matches('.'), r.why)]
            }
        }
    };
    let filter = crate::bundle::Filter::new(&config.accept, &config.ignore);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| vec![crate::messages::check::bad_name(lang).to_owned()])?;
    let (sidecar, _) = crate::prepare::read_sidecar(path, config).map_err(|p| mistakes(&p))?;
    let names: Vec<String> = std::fs::read_dir(dir)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let media = names
        .iter()
        .filter(|n| {
            crate::pairing::sidecar_of(n, |s| names.iter().any(|m| m == s)).as_deref() == Some(name)
        })
        .find_map(|n| match filter.classify(n) {
            Kind::Media(ty) => Some((dir.join(n), ty)),
            _ => None,
        });
    let mut attachments = Vec::new();
    for a in &sidecar.attachments {
        match filter.classify(a) {
            Kind::Media(ty) if dir.join(a).is_file() => attachments.push((dir.join(a), ty)),
            Kind::Media(_) => {
                return Err(vec![crate::messages::check::attachment_missing(
                    lang, a, dir,
                )]);
            }
            _ => return Err(vec![crate::messages::check::attachment_not_media(lang, a)]),
        }
    }
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let inbox = crate::pairing::inbox_of(&crate::watch::roots(config), &abs).unwrap_or(0);
    let candidate = crate::prepare::Candidate {
        inbox,
        media,
        sidecar: Some(path.to_path_buf()),
        attachments,
        refuse: None,
    };
    match crate::prepare::prepare(&candidate, config)
        .and_then(|p| crate::preparer::find_post_read_only(config, p))
    {
        Ok(p) => Ok(format!(
            "{} {}",
            crate::messages::check::would(config.language, p.correction.is_some()),
            crate::prepare::describe(&p, config.language, config)
        )),
        // A correction is written right; whether its post is there is the journal's to say,
        // on the server that made the post.
        Err(crate::prepare::Rejected::Refused(crate::prepare::Refusal {
            problem: crate::messages::Problem::CannotChange { post, kind, why },
            ..
        })) if *why == crate::change::CannotChange::NotOurs => Ok(
            crate::messages::check::not_ours(config.language, kind, &post),
        ),
        Err(crate::prepare::Rejected::Refused(r)) => Err(mistakes(&r.problem)),
        Err(crate::prepare::Rejected::SettleAgain { name, .. }) => {
            Err(vec![crate::messages::check::still_changing(
                config.language,
                &name,
            )])
        }
    }
}
