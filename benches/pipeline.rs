//! dropcast's benchmark (issue 6): the release binary against the strict fake Bot API on
//! 127.0.0.1, with pacing off, and the shell script an admin would write instead
//! (`bench/baseline.sh`) against the same fake. See BENCHMARKS.md for what each figure means.
//!
//! ```sh
//! cargo bench --bench pipeline                 # the full form, about 3.5 minutes
//! BENCH_SHORT=1 cargo bench --bench pipeline   # the CI smoke form: small, no time asserted
//! BENCH_BUNDLES=2000 cargo bench --bench pipeline
//! BENCH_ONLY=backlog,latency cargo bench --bench pipeline   # some measurements only
//! BENCH_DIR=/mnt/disk cargo bench --bench pipeline          # where the offices are made
//! ```
//!
//! Child CPU and peak RSS come from `wait4(2)`'s `rusage` (for the baseline, bash plus every
//! `curl`, `sed` and `mv` it waited for); CPU over a window of a running daemon from
//! `/proc/PID/stat`. Post times are the fake's arrival times, on the same monotonic clock as the
//! writes.

#[path = "../tests/common/fake_bot.rs"]
mod fake_bot;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_bot::FakeBot;

/// The release binary: `cargo bench` builds the crate's binary in the bench profile (which
/// inherits `release`) and tells the bench where it is. `BENCH_BIN` overrides it (a build with
/// debug info, for profiling).
const BIN: &str = env!("CARGO_BIN_EXE_dropcast");
const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/baseline.sh");
const TOKEN: &str = "123456789:AAH-bench_token-0123456789abcdefghijk";
const CHANNEL: &str = "@town_news";
const CHANNEL_ID: i64 = -1001234567890;

fn bin() -> String {
    std::env::var("BENCH_BIN").unwrap_or_else(|_| BIN.to_owned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--launch") {
        launcher(&args[2..]);
    }
    let s = Settings::from_env();
    println!("dropcast benchmark: {}", bin());
    println!("{}", machine(&s.root));
    println!(
        "form: {} ({} bundles, old share of {} files, idle inbox of {} files, idle window {:?})\n",
        if s.short { "short (smoke)" } else { "full" },
        s.bundles,
        s.share_files,
        s.idle_files,
        s.idle_window
    );
    let mut rows = Rows::default();
    let total = Instant::now();
    let parts: [(&str, Part); 5] = [
        ("backlog", backlog),
        ("memory", memory),
        ("share", large_share),
        ("latency", latency),
        ("idle", idle),
    ];
    for (name, part) in parts {
        if s.wants(name) {
            let t = Instant::now();
            part(&s, &mut rows);
            // Write back what the part left, so that the next part's fsyncs do not wait for it.
            // SAFETY: sync(2) has no preconditions.
            unsafe { libc::sync() };
            println!("   ({name}: {:.0} s)", t.elapsed().as_secs_f64());
        }
    }
    let t = Instant::now();
    let n = empty_trash();
    println!(
        "   (deleted {n} offices in {:.0} s)",
        t.elapsed().as_secs_f64()
    );
    println!("\n{}", rows.table());
    println!("total time {:.0} s", total.elapsed().as_secs_f64());
    let missed = rows.missed();
    if missed.is_empty() {
        println!("every target met");
    } else if s.short {
        println!(
            "short form: times are not asserted (missed: {})",
            missed.join(", ")
        );
    } else {
        println!("MISSED: {}", missed.join(", "));
        std::process::exit(1);
    }
}

/// One measurement: it adds its rows.
type Part = fn(&Settings, &mut Rows);

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

struct Settings {
    short: bool,
    bundles: usize,
    share_files: usize,
    idle_files: usize,
    idle_window: Duration,
    latency_bundles: usize,
    poll_samples: usize,
    root: PathBuf,
    only: Option<Vec<String>>,
}

impl Settings {
    fn from_env() -> Settings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let short = var("BENCH_SHORT").is_some_and(|v| v != "0");
        let bundles = var("BENCH_BUNDLES")
            .map(|v| v.parse().expect("BENCH_BUNDLES must be a number"))
            .unwrap_or(if short { 300 } else { 5000 });
        Settings {
            short,
            bundles,
            share_files: if short { 10_000 } else { 100_000 },
            idle_files: if short { 2_000 } else { 10_000 },
            idle_window: Duration::from_secs(if short { 5 } else { 60 }),
            latency_bundles: if short { 30 } else { 200 },
            poll_samples: if short { 2 } else { 5 },
            root: var("BENCH_DIR")
                .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from),
            only: var("BENCH_ONLY").map(|v| v.split(',').map(|s| s.trim().to_owned()).collect()),
        }
    }

    fn wants(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == part))
    }
}

// ---------------------------------------------------------------------------------------------
// 1 + 2. Backlog throughput, and the admin's script on the same bundles
// ---------------------------------------------------------------------------------------------

fn backlog(s: &Settings, rows: &mut Rows) {
    let n = s.bundles;
    // Every PDF gets a thumbnail since issue 14, whose budget is for that backlog; the targets
    // of the first benchmark (and the baseline script, which renders nothing) are for posting
    // alone, measured with `preview: none`.
    println!(
        "== backlog with thumbnails: {n} bundles (one-page notice + sidecar) in the inbox, `once` until all are archived"
    );
    let (run, office) = backlog_once(&s.root, n, Previews::On);
    let steady = steady_rate(&office.bot, n);
    let thumbnails: usize = office.bot.posts().iter().map(|r| r.thumbnails.len()).sum();
    println!(
        "   dropcast: {:.2} s, {:.0} bundles/s ({:.0}/s first to last post), {:.3} ms CPU/bundle, peak RSS {:.1} MB, {thumbnails} thumbnails",
        run.wall.as_secs_f64(),
        n as f64 / run.wall.as_secs_f64(),
        steady,
        run.cpu_ms() / n as f64,
        run.rss_mb()
    );
    assert_eq!(
        thumbnails, n,
        "every notice should have gone with its thumbnail"
    );
    drop(office);
    rows.push(Row::higher(
        "P",
        &format!("backlog with thumbnails, {n} bundles (process start to exit)"),
        n as f64 / run.wall.as_secs_f64(),
        300.0,
        "bundles/s",
        "—".into(),
    ));
    rows.push(Row::info(
        "P",
        "backlog with thumbnails, first post to last post",
        format!("{steady:.0} bundles/s"),
    ));
    rows.push(Row::info(
        "P",
        "CPU per bundle with its thumbnail (renderers included)",
        format!("{:.2} ms", run.cpu_ms() / n as f64),
    ));

    println!("== backlog without previews (`preview: none`): the same {n} bundles");
    let (run, office) = backlog_once(&s.root, n, Previews::Off);
    let steady = steady_rate(&office.bot, n);
    println!(
        "   dropcast: {:.2} s, {:.0} bundles/s ({:.0}/s first to last post), {:.3} ms CPU/bundle, peak RSS {:.1} MB",
        run.wall.as_secs_f64(),
        n as f64 / run.wall.as_secs_f64(),
        steady,
        run.cpu_ms() / n as f64,
        run.rss_mb()
    );
    drop(office);

    let base = if std::env::var("BENCH_BASELINE").is_ok_and(|v| v == "0") {
        println!("   baseline: skipped (BENCH_BASELINE=0)");
        None
    } else if which("curl") {
        Some(baseline_run(&s.root, n))
    } else {
        println!("   baseline: SKIPPED (no curl)");
        None
    };

    let rate = n as f64 / run.wall.as_secs_f64();
    let base_rate = base.as_ref().map(|b| n as f64 / b.wall.as_secs_f64());
    let fmt_base = |f: &dyn Fn(&Usage) -> String| base.as_ref().map_or("—".into(), f);
    rows.push(Row::higher(
        "1",
        &format!("backlog without previews, {n} bundles (process start to exit)"),
        rate,
        500.0,
        "bundles/s",
        fmt_base(&|b| format!("{:.0} bundles/s", n as f64 / b.wall.as_secs_f64())),
    ));
    rows.push(Row::info(
        "1",
        "backlog without previews, first post to last post",
        format!("{steady:.0} bundles/s"),
    ));
    rows.push(Row::lower(
        "1",
        "CPU per bundle without previews (user + sys, whole run)",
        run.cpu_ms() / n as f64,
        2.0,
        "ms",
        fmt_base(&|b| format!("{:.2} ms", b.cpu_ms() / n as f64)),
    ));
    rows.push(Row::info(
        "1",
        "peak RSS during the backlog without previews",
        format!("{:.1} MB", run.rss_mb()),
    ));
    if let Some(base_rate) = base_rate {
        rows.push(Row::higher(
            "2",
            "throughput ratio dropcast / baseline script",
            rate / base_rate,
            10.0,
            "×",
            format!("{base_rate:.0} bundles/s"),
        ));
    }

    // How fast can one client post to this fake at all, one request after the other (as
    // dropcast's sender does for a channel)? A ceiling for the throughput figures above.
    let ceiling = fake_ceiling(if s.short { 200 } else { 2000 });
    println!(
        "   the fake's ceiling: {ceiling:.0} sequential sendDocument/s from one in-process client"
    );
    rows.push(Row::info(
        "1",
        "diagnostic: the fake Bot API's ceiling, one sequential client",
        format!("{ceiling:.0} requests/s"),
    ));

    // The same backlog with the office on tmpfs: fsync costs nothing there, so the difference is
    // what the disk's flushes cost (a diagnostic, not a target).
    let shm = Path::new("/dev/shm");
    let wanted = std::env::var("BENCH_TMPFS").map_or(!s.short, |v| v != "0");
    if wanted && shm.is_dir() && fs_type(&s.root) != "tmpfs" {
        println!(
            "== backlog without previews again on tmpfs (/dev/shm): the same work without the disk's fsync latency"
        );
        let (run, office) = backlog_once(shm, n, Previews::Off);
        let steady = steady_rate(&office.bot, n);
        println!(
            "   dropcast on tmpfs: {:.2} s, {:.0} bundles/s ({:.0}/s first to last post), {:.3} ms CPU/bundle",
            run.wall.as_secs_f64(),
            n as f64 / run.wall.as_secs_f64(),
            steady,
            run.cpu_ms() / n as f64
        );
        rows.push(Row::info(
            "1",
            "diagnostic: the backlog without previews on tmpfs (no fsync latency)",
            format!(
                "{:.0} bundles/s, {:.3} ms CPU/bundle",
                n as f64 / run.wall.as_secs_f64(),
                run.cpu_ms() / n as f64
            ),
        ));
    }
}

/// A backlog has waited in the inbox: its files are on disk before the clock starts, for dropcast
/// and the baseline alike (else the first flush of the run writes back the whole backlog).
fn written_back() {
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
}

#[derive(Clone, Copy, PartialEq)]
enum Previews {
    /// The default: a thumbnail for every PDF.
    On,
    /// `preview: none` on the inbox.
    Off,
}

/// Runs `once` on a fresh backlog of `n` bundles in an office under `root`; checks that every
/// bundle was posted once, cleanly, and archived.
fn backlog_once(root: &Path, n: usize, previews: Previews) -> (Usage, Office) {
    let office = Office::new(root);
    office.write_config("watch: {mode: native, settle: 500ms, rescan_interval: 5m}\n");
    if previews == Previews::Off {
        office.edit_config(
            "    channel: news\n",
            "    channel: news\n    preview: none\n",
        );
    }
    office.drop_bundles("notice", n);
    written_back();
    let run = office.run_to_end(&["once"], Duration::from_secs(900));
    assert_eq!(
        run.status,
        0,
        "`dropcast once` failed:\n{}",
        office.log_tail()
    );
    office.check_all_posted(n);
    let archived = count_files(&office.path("archive"), ".pdf");
    assert_eq!(archived, n, "not every bundle was archived");
    let left = count_files(&office.path("inbox"), "");
    assert_eq!(left, 0, "files left in the inbox");
    (run, office)
}

/// Posts per second between the first and the last post the fake received.
fn steady_rate(bot: &FakeBot, n: usize) -> f64 {
    let posts = bot.posts();
    match (posts.first(), posts.last()) {
        (Some(a), Some(b)) if n > 1 => (n - 1) as f64 / (b.at - a.at).as_secs_f64(),
        _ => f64::NAN,
    }
}

/// Sequential `sendDocument` requests per second that the fake answers to one reqwest client
/// in this process (the same 4 KB PDF and caption as the bundles).
fn fake_ceiling(n: usize) -> f64 {
    let bot = FakeBot::builder(TOKEN).channel(CHANNEL, CHANNEL_ID).start();
    let url = format!("{}/bot{TOKEN}/sendDocument", bot.url());
    let pdf = pdf_of_size(1, 4096);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for i in 0..n {
            let document = reqwest::multipart::Part::bytes(pdf.clone())
                .file_name(format!("ceiling-{i}.pdf"))
                .mime_str("application/pdf")
                .unwrap();
            let form = reqwest::multipart::Form::new()
                .text("chat_id", CHANNEL)
                .text(
                    "caption",
                    sidecar(i).trim_start_matches("caption: ").to_owned(),
                )
                .part("document", document);
            let answer = client.post(&url).multipart(form).send().await.unwrap();
            assert!(answer.status().is_success(), "the fake refused: {answer:?}");
            answer.bytes().await.unwrap();
        }
    });
    let rate = n as f64 / start.elapsed().as_secs_f64();
    bot.assert_clean();
    rate
}

fn baseline_run(root: &Path, n: usize) -> Usage {
    println!("== baseline: the same {n} bundles posted by bench/baseline.sh (bash, curl -F, mv)");
    let office = Office::new(root);
    office.drop_bundles("notice", n);
    written_back();
    let start = Instant::now();
    let mut bash = Command::new("bash");
    bash.arg(BASELINE)
        .arg(office.path("inbox"))
        .arg(office.path("archive"))
        .env("TELEGRAM_API", office.bot.url())
        .env("TELEGRAM_TOKEN", TOKEN)
        .env("TELEGRAM_CHAT", CHANNEL);
    let run = Launched::start(bash, &office.path("baseline.log"), &office.path("baseline"))
        .wait(start, Duration::from_secs(1800));
    let log = std::fs::read_to_string(office.path("baseline.log")).unwrap_or_default();
    assert_eq!(run.status, 0, "the baseline script failed:\n{log}");
    office.check_all_posted(n);
    assert_eq!(count_files(&office.path("archive"), ".pdf"), n);
    println!(
        "   baseline: {:.2} s, {:.0} bundles/s, {:.3} ms CPU/bundle (bash + curl + sed + mv)",
        run.wall.as_secs_f64(),
        n as f64 / run.wall.as_secs_f64(),
        run.cpu_ms() / n as f64
    );
    run
}

// ---------------------------------------------------------------------------------------------
// 3. Memory
// ---------------------------------------------------------------------------------------------

fn memory(s: &Settings, rows: &mut Rows) {
    println!(
        "== memory: peak RSS with nothing to do, uploading a 45 MB PDF, holding waiting bundles"
    );
    // The floor: one small bundle.
    let office = Office::new(&s.root);
    office.write_config("watch: {mode: native, settle: 200ms}\n");
    office.drop_bundles("small", 1);
    let floor = office.run_to_end(&["once"], Duration::from_secs(60));
    assert_eq!(floor.status, 0, "{}", office.log_tail());
    office.check_all_posted(1);
    drop(office);

    let office = Office::new(&s.root);
    office.write_config("watch: {mode: native, settle: 200ms}\n");
    let size = 45 * 1024 * 1024;
    std::fs::write(office.path("inbox/budget-2026.pdf"), pdf_of_size(7, size)).unwrap();
    std::fs::write(
        office.path("inbox/budget-2026.yaml"),
        "caption: The 2026 budget, as approved by the council.\n",
    )
    .unwrap();
    let big = office.run_to_end(&["once"], Duration::from_secs(120));
    assert_eq!(big.status, 0, "{}", office.log_tail());
    office.check_all_posted(1);
    let upload = office.bot.posts()[0].files[0].clone();
    assert_eq!(
        upload.size, size as u64,
        "the fake did not get the whole PDF"
    );
    println!(
        "   one small bundle: peak RSS {:.1} MB; a 45 MB PDF: peak RSS {:.1} MB, {:.2} s, {:.0} ms CPU",
        floor.rss_mb(),
        big.rss_mb(),
        big.wall.as_secs_f64(),
        big.cpu_ms()
    );
    drop(office);
    rows.push(Row::lower(
        "3",
        "peak RSS uploading a 45 MB PDF (`once`)",
        big.rss_mb(),
        30.0,
        "MB",
        "—".into(),
    ));

    // Waiting bundles: a backlog entered into the journal and the work folder, queued for a
    // channel that dropcast paces for real (1 message/s, 20/min): they wait for hours.
    let n = s.bundles;
    let office = Office::new(&s.root);
    office.write_config("watch: {mode: native, settle: 500ms, rescan_interval: 5m}\n");
    office.edit_config("pacing: false", "pacing: true");
    office.drop_bundles("queued", n);
    let start = Instant::now();
    let child = office.spawn(&["run"]);
    let pid = child.pid;
    let entered = wait_for(Duration::from_secs(900), || {
        list_names(&office.path("inbox"))
            .iter()
            .all(|name| name == ".dropcast")
    });
    assert!(
        entered,
        "the bundles were not all taken in:\n{}",
        office.log_tail()
    );
    let took = start.elapsed();
    // Let the queue sit a moment, as it would for hours.
    std::thread::sleep(Duration::from_secs(2));
    let (hwm, now_rss) = proc_rss_kb(pid);
    let posted = office.bot.posts().len();
    signal(pid, libc::SIGTERM);
    let run = child.wait(start, Duration::from_secs(60));
    let waiting = n - posted;
    println!(
        "   {n} bundles taken in {:.1} s; {posted} posted (paced), {waiting} waiting: RSS {:.1} MB now, peak {:.1} MB (wait4 {:.1} MB)",
        took.as_secs_f64(),
        now_rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        run.rss_mb()
    );
    office.bot.assert_clean();
    rows.push(Row::lower(
        "3",
        &format!("peak RSS holding {waiting} waiting bundles (`run`, paced)"),
        run.rss_mb(),
        60.0,
        "MB",
        "—".into(),
    ));
    rows.push(Row::info(
        "3",
        "peak RSS of `once` with one small bundle (floor)",
        format!("{:.1} MB", floor.rss_mb()),
    ));
}

// ---------------------------------------------------------------------------------------------
// 4. A large old share in the inbox, polled
// ---------------------------------------------------------------------------------------------

fn large_share(s: &Settings, rows: &mut Rows) {
    let files = s.share_files;
    let poll = Duration::from_secs(2);
    let settle = Duration::from_secs(1);
    println!(
        "== large folder: {files} files not for dropcast in the inbox, mode: poll every {poll:?}, settle {settle:?}"
    );
    let office = Office::new(&s.root);
    let (inbox, dirs, made) = share_inbox(&s.root, files);
    office.write_config_at(
        &inbox,
        "watch: {mode: poll, poll_interval: 2s, settle: 1s, rescan_interval: 5m}\n",
    );
    println!("   the share: {made} files in {dirs} folders");
    let child = office.spawn(&["run"]);
    let pid = child.pid;
    office.wait_log("watching", Duration::from_secs(30));
    // The first scan and start-up are done well within a poll interval.
    std::thread::sleep(poll + Duration::from_millis(500));

    // Count scans as bursts of CPU between idle gaps, sampling /proc every 10 ms.
    let window = poll * if s.short { 3 } else { 10 };
    let bursts = cpu_bursts(pid, window, poll / 2);
    let scans = bursts.len().max(1);
    let total: Duration = bursts.iter().sum();
    let per_scan = total.as_secs_f64() * 1000.0 / scans as f64;
    let worst = bursts.iter().max().copied().unwrap_or_default();
    println!(
        "   {scans} rescans in {:.0} s: {per_scan:.1} ms CPU each on average, worst {:.0} ms",
        window.as_secs_f64(),
        worst.as_secs_f64() * 1000.0
    );

    // New bundles dropped at different moments of the poll cycle.
    let mut latencies = Vec::new();
    for i in 0..s.poll_samples {
        // Spread the drops over the cycle: 0, 0.4, 0.8, 1.2, 1.6 s after a rough phase.
        std::thread::sleep(poll.mul_f64(i as f64 / s.poll_samples as f64 + 0.1));
        let name = format!("new-{i}");
        let written = office.drop_bundle(&name, i);
        let at = office.wait_post(&format!("{name}.pdf"), Duration::from_secs(30));
        latencies.push(at - written);
    }
    let worst_latency = latencies.iter().max().copied().unwrap_or_default();
    println!(
        "   new bundle to post: {}",
        latencies
            .iter()
            .map(|l| format!("{:.2} s", l.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    signal(pid, libc::SIGTERM);
    let run = child.wait(Instant::now(), Duration::from_secs(30));
    office.bot.assert_clean();
    rows.push(Row::lower(
        "4",
        &format!("CPU per rescan of {made} entries (`mode: poll`)"),
        per_scan,
        // 150 ms per 100,000 entries; the short form's smaller share gets its share of it.
        150.0 * made as f64 / 100_000.0,
        "ms",
        "—".into(),
    ));
    let limit = poll + settle + Duration::from_secs(1);
    rows.push(Row::lower(
        "4",
        &format!(
            "new bundle to post in that share, worst of {} (poll 2 s, settle 1 s)",
            latencies.len()
        ),
        worst_latency.as_secs_f64(),
        limit.as_secs_f64(),
        "s",
        "—".into(),
    ));
    rows.push(Row::info(
        "4",
        "peak RSS tracking that share",
        format!("{:.1} MB", run.rss_mb()),
    ));
}

/// Samples the process's CPU time every 10 ms for `window`; returns the CPU of each burst,
/// bursts being separated by at least `gap` without any CPU used.
fn cpu_bursts(pid: i32, window: Duration, gap: Duration) -> Vec<Duration> {
    let end = Instant::now() + window;
    let mut last = proc_cpu(pid);
    let mut last_busy: Option<Instant> = None;
    let mut bursts: Vec<Duration> = Vec::new();
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
        let now = proc_cpu(pid);
        let used = now.saturating_sub(last);
        last = now;
        if used.is_zero() {
            continue;
        }
        let t = Instant::now();
        match (last_busy, bursts.last_mut()) {
            (Some(b), Some(cur)) if t - b < gap => *cur += used,
            _ => bursts.push(used),
        }
        last_busy = Some(t);
    }
    bursts
}

// ---------------------------------------------------------------------------------------------
// 5. Latency, native events
// ---------------------------------------------------------------------------------------------

fn latency(s: &Settings, rows: &mut Rows) {
    let n = s.latency_bundles;
    let spacing = Duration::from_millis(100);
    println!(
        "== latency: settle 1s, mode: native, {n} bundles dropped {spacing:?} apart, last byte written to post received"
    );
    let office = Office::new(&s.root);
    office.write_config("watch: {mode: native, settle: 1s, rescan_interval: 5m}\n");
    let child = office.spawn(&["run"]);
    let pid = child.pid;
    office.wait_log("watching", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    let mut written = HashMap::new();
    let start = Instant::now();
    for i in 0..n {
        let name = format!("lat-{i:04}");
        written.insert(format!("{name}.pdf"), office.drop_bundle(&name, i));
        let next = start + spacing * (i as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    office.bot.wait_until(
        Duration::from_secs(120),
        &format!("{n} posts"),
        |requests| {
            requests
                .iter()
                .filter(|r| r.status == 200 && r.method == "sendDocument")
                .count()
                >= n
        },
    );
    let mut by_name: Vec<(Duration, String)> = office
        .bot
        .posts()
        .iter()
        .map(|p| {
            let name = p.files[0].file_name.clone().unwrap_or_default();
            (p.at - written[&name], name)
        })
        .collect();
    assert_eq!(by_name.len(), n, "every bundle posted exactly once");
    by_name.sort();
    let slowest: Vec<String> = by_name
        .iter()
        .rev()
        .take(5)
        .map(|(l, name)| format!("{name} {:.0} ms", l.as_secs_f64() * 1000.0))
        .collect();
    println!("   slowest: {}", slowest.join(", "));
    let lat: Vec<Duration> = by_name.into_iter().map(|(l, _)| l).collect();
    signal(pid, libc::SIGTERM);
    let _ = child.wait(Instant::now(), Duration::from_secs(30));
    office.bot.assert_clean();
    let pct = |p: f64| lat[((p * n as f64).ceil() as usize).clamp(1, n) - 1].as_secs_f64() * 1000.0;
    let (p50, p99, max) = (pct(0.50), pct(0.99), lat[n - 1].as_secs_f64() * 1000.0);
    println!("   p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms");
    rows.push(Row::info(
        "5",
        "latency p50 (settle 1 s)",
        format!("{p50:.0} ms"),
    ));
    rows.push(Row::lower(
        "5",
        &format!("latency p99 over {n} bundles (settle 1 s)"),
        p99,
        1100.0,
        "ms",
        "—".into(),
    ));
}

// ---------------------------------------------------------------------------------------------
// 6. Idle
// ---------------------------------------------------------------------------------------------

fn idle(s: &Settings, rows: &mut Rows) {
    let files = s.idle_files;
    let window = s.idle_window;
    println!("== idle: `run`, mode: native, an inbox of {files} files, CPU over {window:?}");
    let office = Office::new(&s.root);
    let (inbox, dirs, made) = share_inbox(&s.root, files);
    office.write_config_at(
        &inbox,
        "watch: {mode: native, settle: 3s, rescan_interval: 5m}\n",
    );
    let start = Instant::now();
    let child = office.spawn(&["run"]);
    let pid = child.pid;
    office.wait_log("watching", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    let before = proc_cpu(pid);
    std::thread::sleep(window);
    let used = proc_cpu(pid).saturating_sub(before);
    signal(pid, libc::SIGTERM);
    let run = child.wait(start, Duration::from_secs(30));
    let share = used.as_secs_f64() / window.as_secs_f64() * 100.0;
    println!(
        "   {made} files in {dirs} folders: {:.0} ms CPU in {:.0} s = {share:.3} % of a core (whole run {:.0} ms, start-up included)",
        used.as_secs_f64() * 1000.0,
        window.as_secs_f64(),
        run.cpu_ms()
    );
    rows.push(Row::lower(
        "6",
        &format!(
            "idle CPU, {made} files, native, over {:.0} s",
            window.as_secs_f64()
        ),
        share,
        0.5,
        "% of a core",
        "—".into(),
    ));
    rows.push(Row::info(
        "6",
        "idle: the whole run, start-up and first scan included (an upper bound)",
        format!(
            "{:.0} ms CPU in {:.0} s = {:.3} % of a core",
            run.cpu_ms(),
            run.wall.as_secs_f64(),
            run.cpu_ms() / 10.0 / run.wall.as_secs_f64()
        ),
    ));
}

// ---------------------------------------------------------------------------------------------
// The office
// ---------------------------------------------------------------------------------------------

/// Offices are deleted at the end of the bench, not when a measurement is done with them:
/// deleting thousands of files slows what comes next (on ext4 without a journal, as on the
/// machine in BENCHMARKS.md, every new inode is checked against the recently deleted ones for
/// 60 s and more, which made creating dropcast's receipts and work folders several times dearer).
static TRASH: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Deletes the offices of the bench; returns how many.
fn empty_trash() -> usize {
    let dirs: Vec<PathBuf> = TRASH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .drain(..)
        .collect();
    for dir in &dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
    dirs.len()
}

/// A temporary office: inbox, archive, state, a token file, and a fake Telegram.
struct Office {
    dir: PathBuf,
    bot: FakeBot,
    runs: std::cell::Cell<usize>,
    /// The inbox the config names.
    inbox: std::cell::RefCell<PathBuf>,
}

impl Office {
    fn new(root: &Path) -> Office {
        let dir = tempfile::Builder::new()
            .prefix("dropcast-bench-")
            .tempdir_in(root)
            .expect("create the bench office")
            .keep();
        if keep_offices() {
            println!("   office kept: {}", dir.display());
        }
        // The folders `dropcast init` lays out: dropcast itself creates none of them.
        for folder in ["inbox", "archive", "failed", "scheduled"] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
        }
        std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
        let bot = FakeBot::builder(TOKEN).channel(CHANNEL, CHANNEL_ID).start();
        let inbox = dir.join("inbox").into();
        Office {
            dir,
            bot,
            runs: Default::default(),
            inbox,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn config(&self) -> PathBuf {
        self.path("dropcast.yaml")
    }

    /// The bench config: pacing off (bench-only), one inbox, one channel, plus `extra`.
    fn write_config(&self, extra: &str) {
        self.write_config_at(&self.path("inbox"), extra);
    }

    /// The same with the inbox somewhere else.
    fn write_config_at(&self, inbox: &Path, extra: &str) {
        let text = format!(
            "telegram:\n  token_file: token\n  api_url: {}\n  pacing: false\n\
             channels:\n  news: \"{CHANNEL}\"\n\
             inboxes:\n  - path: \"{}\"\n    channel: news\n\
             archive: archive\nfailed: failed\nscheduled: scheduled\nstate_dir: state\n\
             timezone: Europe/Rome\nlanguage: en\n{extra}",
            self.bot.url(),
            inbox.display()
        );
        std::fs::write(self.config(), text).unwrap();
        *self.inbox.borrow_mut() = inbox.to_path_buf();
    }

    fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.config()).unwrap();
        assert!(text.contains(from));
        std::fs::write(self.config(), text.replacen(from, to, 1)).unwrap();
    }

    /// Writes `n` bundles `PREFIX-00001.pdf` + `.yaml` into the inbox.
    fn drop_bundles(&self, prefix: &str, n: usize) {
        for i in 0..n {
            self.drop_bundle(&format!("{prefix}-{i:05}"), i);
        }
    }

    /// Writes one bundle (the PDF, then its sidecar); returns when the last byte was written.
    fn drop_bundle(&self, name: &str, seed: usize) -> Instant {
        let dir = self.inbox.borrow().clone();
        assert!(
            dir.is_absolute() && dir.is_dir(),
            "no inbox at {}",
            dir.display()
        );
        std::fs::write(dir.join(format!("{name}.pdf")), pdf_of_size(seed, 4096)).unwrap();
        std::fs::write(dir.join(format!("{name}.yaml")), sidecar(seed)).unwrap();
        Instant::now()
    }

    fn spawn(&self, args: &[&str]) -> Launched {
        // `BENCH_WRAP="perf record -g -o /tmp/p.data --"` runs dropcast under a profiler (the
        // figures then include the profiler's own cost).
        let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
        let mut words: Vec<String> = wrap.split_whitespace().map(str::to_owned).collect();
        words.push(bin());
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..])
            .args(args)
            .arg("--config")
            .arg(self.config())
            .current_dir(&self.dir)
            .env_remove("RUST_LOG")
            .env_remove("DROPCAST_CONFIG")
            .env_remove("DROPCAST_PACING_SCALE");
        let n = self.runs.get();
        self.runs.set(n + 1);
        Launched::start(
            cmd,
            &self.path("dropcast.log"),
            &self.path(&format!("run-{n}")),
        )
    }

    fn run_to_end(&self, args: &[&str], limit: Duration) -> Usage {
        let start = Instant::now();
        self.spawn(args).wait(start, limit)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("dropcast.log")).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn wait_log(&self, needle: &str, limit: Duration) {
        assert!(
            wait_for(limit, || self.log().contains(needle)),
            "no {needle:?} in the log:\n{}",
            self.log_tail()
        );
    }

    /// Waits for the post of the PDF named `file`; returns when the fake received it.
    fn wait_post(&self, file: &str, limit: Duration) -> Instant {
        let is_it = |r: &fake_bot::Recorded| {
            r.status == 200
                && r.files
                    .first()
                    .is_some_and(|f| f.file_name.as_deref() == Some(file))
        };
        self.bot
            .wait_until(limit, &format!("the post of {file}"), |requests| {
                requests.iter().any(is_it)
            });
        self.bot
            .requests()
            .iter()
            .find(|r| is_it(r))
            .map(|r| r.at)
            .unwrap()
    }

    /// Every bundle posted exactly once, as a document, with no Bot API violation.
    fn check_all_posted(&self, n: usize) {
        self.bot.assert_clean();
        let posts = self.bot.posts();
        assert_eq!(posts.len(), n, "posts: expected {n}");
        let mut names: Vec<String> = posts
            .iter()
            .filter_map(|p| p.files.first().and_then(|f| f.file_name.clone()))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(
            names.len(),
            n,
            "a bundle was posted twice or without its file"
        );
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        if keep_offices() {
            return;
        }
        TRASH
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(self.dir.clone());
        if std::thread::panicking() {
            empty_trash();
        }
    }
}

/// `BENCH_KEEP=1` keeps every office (logs, journal, archive) for a look afterwards.
fn keep_offices() -> bool {
    std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1")
}

/// A real one-page notice (A4, Helvetica text: what dropcast renders a thumbnail of) of exactly
/// `size` bytes, distinct per `seed`: incompressible comment lines fill it up before the objects.
fn pdf_of_size(seed: usize, size: usize) -> Vec<u8> {
    let content = format!(
        "BT /F1 24 Tf 60 760 Td (Comune di Esempio) Tj ET\n\
         BT /F1 14 Tf 60 720 Td (Avviso n. {seed}) Tj ET\n\
         BT /F1 11 Tf 60 690 Td (La prima rata scade il 16 dicembre.) Tj ET\n\
         0 0 0 rg 60 660 475 2 re f\n"
    );
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let head = format!("%PDF-1.4\n% notice {seed}\n");
    let build = |filler: usize| -> Vec<u8> {
        let mut v = head.clone().into_bytes();
        // Filler that does not compress: a xorshift stream, as printable comment lines.
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed as u64;
        let start = v.len();
        while v.len() - start < filler {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (v.len() - start) % 80 == 0 {
                v.extend_from_slice(b"\n%");
            } else {
                v.push(b'!' + (x % 90) as u8);
            }
        }
        v.truncate(start + filler);
        v.push(b'\n');
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(v.len());
            v.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = v.len();
        v.extend_from_slice(b"xref\n0 6\n0000000000 65535 f \n");
        for o in offsets {
            v.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        v.extend_from_slice(
            format!("trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
        );
        v
    };
    let bare = build(0).len();
    let mut filler = size.saturating_sub(bare);
    // The filler's length moves `startxref` by a digit or two: settle on the exact size.
    for _ in 0..3 {
        let got = build(filler).len();
        if got == size {
            break;
        }
        filler = (filler + size).saturating_sub(got);
    }
    build(filler)
}

fn sidecar(seed: usize) -> String {
    format!(
        "caption: Notice {seed} - the registry office is **closed on Friday afternoon**; \
         the new opening hours are in the attached PDF.\n"
    )
}

/// An inbox holding an old share of `files` files, made once and kept in
/// `ROOT/dropcast-bench-share-FILES/` (deleting 100,000 files takes over a minute on some disks);
/// what a run leaves there (dropcast's `.dropcast/` work folder, a bundle) is removed before use.
/// Returns (inbox, folders, files).
fn share_inbox(root: &Path, files: usize) -> (PathBuf, usize, usize) {
    let dir = root.join(format!("dropcast-bench-share-{files}"));
    let done = root.join(format!("dropcast-bench-share-{files}.done"));
    let counts = |text: &str| -> Option<(usize, usize)> {
        let (a, b) = text.trim().split_once(' ')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let (dirs, made) = match std::fs::read_to_string(&done).ok().and_then(|t| counts(&t)) {
        Some(c) => c,
        None => {
            let t = Instant::now();
            let _ = std::fs::remove_dir_all(&dir);
            let (dirs, made) = old_share(&dir, files);
            std::fs::write(&done, format!("{dirs} {made}\n")).unwrap();
            println!(
                "   made the share once ({made} files in {dirs} folders, {:.1} s), kept in {}",
                t.elapsed().as_secs_f64(),
                dir.display()
            );
            (dirs, made)
        }
    };
    for name in list_names(&dir) {
        if !name.starts_with("archivio ") {
            let p = dir.join(&name);
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    }
    (dir, dirs, made)
}

/// An old share: `files` files no bundle rule takes (office documents), 100 to a folder, in a
/// tree `YEAR/DEPARTMENT/`. Returns (folders, files).
fn old_share(inbox: &Path, files: usize) -> (usize, usize) {
    const EXT: [&str; 8] = ["docx", "xlsx", "doc", "odt", "txt", "msg", "zip", "xml"];
    const DEPT: [&str; 10] = [
        "anagrafe",
        "tributi",
        "ufficio tecnico",
        "segreteria",
        "protocollo",
        "servizi sociali",
        "polizia locale",
        "ragioneria",
        "scuola",
        "cultura",
    ];
    let mut made = 0;
    let mut dirs = 0;
    let mut year = 1998;
    while made < files {
        for dept in DEPT {
            if made >= files {
                break;
            }
            let dir = inbox.join(format!("archivio {year}")).join(dept);
            std::fs::create_dir_all(&dir).unwrap();
            dirs += 1;
            for k in 0..100.min(files - made) {
                let name = format!("pratica {year}-{k:03}.{}", EXT[(made + k) % EXT.len()]);
                std::fs::write(dir.join(name), b"old office document\n").unwrap();
            }
            made += 100.min(files - made);
        }
        year += 1;
    }
    (dirs, made)
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

struct Usage {
    wall: Duration,
    cpu: Duration,
    max_rss_kb: u64,
    /// The exit code, or 128 + the signal.
    status: i32,
}

impl Usage {
    fn cpu_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0
    }

    fn rss_mb(&self) -> f64 {
        self.max_rss_kb as f64 / 1024.0
    }
}

/// A program started by the launcher (this bench binary run as `--launch REPORT PROGRAM
/// ARGS…`), so that its peak RSS is its own. A child's `ru_maxrss` starts from the memory of the
/// process that spawned it (at `exec` the kernel folds the old address space's high-water mark
/// into the new program's), and the bench, holding the fake's records and a 45 MB test file,
/// is larger than dropcast; the launcher is a fresh process of about 2 MB.
struct Launched {
    launcher: Child,
    /// The program's own pid (for signals and /proc).
    pid: i32,
    report: PathBuf,
}

impl Launched {
    /// Starts `cmd` (its program, arguments, environment and folder) via the launcher, with
    /// stdin empty and stdout and stderr appended to `log`.
    fn start(cmd: Command, log: &Path, report: &Path) -> Launched {
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut launcher = Command::new(exe);
        launcher.arg("--launch").arg(report).arg(cmd.get_program());
        launcher.args(cmd.get_args());
        if let Some(dir) = cmd.get_current_dir() {
            launcher.current_dir(dir);
        }
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => launcher.env(k, v),
                None => launcher.env_remove(k),
            };
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the log");
        // The program inherits these from the launcher.
        let launcher = launcher
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the launcher");
        let pid_file = report.with_extension("pid");
        let mut pid = 0;
        let found = wait_for(Duration::from_secs(10), || {
            pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            pid > 0
        });
        assert!(found, "the launcher did not start the program");
        Launched {
            launcher,
            pid,
            report: report.to_path_buf(),
        }
    }

    /// Waits for the program to end, killing it if it runs `limit` more; its wall time counts
    /// from `start`.
    fn wait(mut self, start: Instant, limit: Duration) -> Usage {
        let deadline = Instant::now() + limit;
        let mut killed = false;
        let status = loop {
            if let Some(status) = self.launcher.try_wait().expect("wait for the launcher") {
                break status;
            }
            if !killed && Instant::now() > deadline {
                signal(self.pid, libc::SIGKILL);
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let wall = start.elapsed();
        assert!(!killed, "the process did not finish within {limit:?}");
        let report = std::fs::read_to_string(&self.report).expect("the launcher's report");
        let v: Vec<u64> = report
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        Usage {
            wall,
            cpu: Duration::from_micros(v[0] + v[1]),
            max_rss_kb: v[2],
            status: status.code().unwrap_or(128),
        }
    }
}

/// The launcher: runs the program, writes its pid to REPORT.pid, waits for it with `wait4`,
/// writes "user_us system_us maxrss_kb" to REPORT, and exits with its status.
fn launcher(args: &[String]) -> ! {
    let report = PathBuf::from(&args[0]);
    let child = Command::new(&args[1])
        .args(&args[2..])
        .spawn()
        .expect("launcher: start the program");
    let pid = child.id() as libc::pid_t;
    std::fs::write(report.with_extension("pid"), pid.to_string()).unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data, filled in by wait4.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    std::fs::write(
        &report,
        format!("{} {} {}\n", us(ru.ru_utime), us(ru.ru_stime), ru.ru_maxrss),
    )
    .unwrap();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    std::process::exit(code)
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on our own, not yet reaped, child.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// User + system CPU of a running process, all threads, from /proc/PID/stat.
fn proc_cpu(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos((ticks(14) + ticks(15)) * 1_000_000_000 / hz)
}

/// (VmHWM, VmRSS) in kB from /proc/PID/status.
fn proc_rss_kb(pid: i32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn which(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn list_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Files under `dir` (recursively) whose name ends with `suffix`, dropcast's work folders left
/// out.
fn count_files(dir: &Path, suffix: &str) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            if name != ".dropcast" {
                n += count_files(&e.path(), suffix);
            }
        } else if name.ends_with(suffix) {
            n += 1;
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------
// The machine and the table
// ---------------------------------------------------------------------------------------------

fn machine(root: &Path) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut s = String::new();
    let _ = write!(
        s,
        "machine: {cpus} CPUs ({model}), {mem_gb:.1} GB RAM, Linux {}, offices in {} ({})",
        kernel.trim(),
        root.display(),
        fs_type(root)
    );
    s
}

/// The filesystem type of a folder, by statfs magic.
fn fs_type(path: &Path) -> &'static str {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return "unknown";
    };
    // SAFETY: a valid path and a properly sized out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return "unknown";
    }
    match st.f_type as u32 {
        0xEF53 => "ext4",
        0x0102_1994 => "tmpfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        _ => "other",
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    Met,
    Missed,
    Info,
}

struct Row {
    item: String,
    what: String,
    figure: String,
    target: String,
    baseline: String,
    verdict: Verdict,
}

impl Row {
    fn higher(item: &str, what: &str, v: f64, target: f64, unit: &str, baseline: String) -> Row {
        Row::with(item, what, v, target, unit, baseline, v >= target, "≥")
    }

    fn lower(item: &str, what: &str, v: f64, target: f64, unit: &str, baseline: String) -> Row {
        Row::with(item, what, v, target, unit, baseline, v <= target, "≤")
    }

    #[allow(clippy::too_many_arguments)]
    fn with(
        item: &str,
        what: &str,
        v: f64,
        target: f64,
        unit: &str,
        baseline: String,
        met: bool,
        op: &str,
    ) -> Row {
        let digits = match v.abs() {
            a if a < 10.0 => 2,
            a if a < 100.0 => 1,
            _ => 0,
        };
        let sep = if unit == "×" { "" } else { " " };
        Row {
            item: item.into(),
            what: what.into(),
            figure: format!("{v:.digits$}{sep}{unit}"),
            target: format!("{op} {target}{sep}{unit}"),
            baseline,
            verdict: if met { Verdict::Met } else { Verdict::Missed },
        }
    }

    fn info(item: &str, what: &str, figure: String) -> Row {
        Row {
            item: item.into(),
            what: what.into(),
            figure,
            target: "—".into(),
            baseline: "—".into(),
            verdict: Verdict::Info,
        }
    }
}

#[derive(Default)]
struct Rows(Vec<Row>);

impl Rows {
    fn push(&mut self, r: Row) {
        self.0.push(r);
    }

    fn missed(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|r| r.verdict == Verdict::Missed)
            .map(|r| format!("{} {}", r.item, r.what))
            .collect()
    }

    /// A Markdown table, as BENCHMARKS.md shows it.
    fn table(&self) -> String {
        let mut s = String::from(
            "| # | measure | dropcast | target | baseline script | verdict |\n|---|---|---|---|---|---|\n",
        );
        for r in &self.0 {
            let verdict = match r.verdict {
                Verdict::Met => "met",
                Verdict::Missed => "**MISSED**",
                Verdict::Info => "",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                r.item, r.what, r.figure, r.target, r.baseline, verdict
            );
        }
        s
    }
}
