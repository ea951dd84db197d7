//! The previews' benchmark (issue 14): the thumbnail of a typical one-page notice and of the first
//! page of a 45 MB scanned PDF, in this process (`preview::render`) and isolated (the release
//! binary's `__render` child, through `preview::render_isolated_with`), with the child's CPU and
//! peak RSS. See BENCHMARKS.md, "Previews".
//!
//! ```sh
//! cargo bench --bench preview                 # the full form, about a minute
//! BENCH_SHORT=1 cargo bench --bench preview   # the CI smoke form: fewer repetitions, no target asserted
//! ```
//!
//! The isolated renderings are made from a fresh process (this bench binary run as `--child`),
//! so that `getrusage(RUSAGE_CHILDREN)` there is the render children's alone: a child's
//! `ru_maxrss` starts from the memory of the process that forked it, and this bench holds the
//! 45 MB test file.

#[path = "../tests/common/corpus.rs"]
mod corpus;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dropcast::preview::{Limits, Size, Source, render, render_isolated_with};

const BIN: &str = env!("CARGO_BIN_EXE_dropcast");

/// Targets of issue 14 (not asserted in the short form).
const NOTICE_CPU_MS: f64 = 150.0;
const SCAN_WALL_MS: f64 = 1000.0;
const SCAN_RSS_MB: f64 = 60.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2..]);
    }
    let short = std::env::var("BENCH_SHORT").is_ok_and(|v| !v.is_empty() && v != "0");
    let reps = if short { 3 } else { 20 };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dropcast-bench-preview");
    std::fs::create_dir_all(&dir).unwrap();
    println!("dropcast previews benchmark: {BIN}");
    println!("machine: {}", machine());
    println!(
        "form: {} ({reps} repetitions)\n",
        if short { "short (smoke)" } else { "full" }
    );
    let mut missed = Vec::new();

    let notice = corpus::text_pdf();
    let notice_path = dir.join("notice.pdf");
    std::fs::write(&notice_path, &notice).unwrap();
    println!(
        "notice: one A4 page of Helvetica text, {} bytes",
        notice.len()
    );
    for size in [Size::Thumbnail, Size::Page] {
        let (cpu, wall, p) = in_process(&notice, Source::Pdf, size, reps);
        println!(
            "  {:9} in-process: {cpu:6.1} ms CPU, {wall:6.1} ms wall (median of {reps}), {}x{}, {} bytes",
            size.as_str(),
            p.0,
            p.1,
            p.2
        );
        let iso = isolated(&notice_path, Source::Pdf, size, reps);
        println!(
            "  {:9} isolated:   {:6.1} ms CPU, {:6.1} ms wall (mean of {reps}, process start included), peak RSS {:.1} MB",
            size.as_str(),
            iso.cpu_ms,
            iso.wall_ms,
            iso.rss_mb
        );
        if size == Size::Thumbnail && iso.cpu_ms > NOTICE_CPU_MS {
            missed.push(format!(
                "notice thumbnail {:.1} ms CPU > {NOTICE_CPU_MS} ms",
                iso.cpu_ms
            ));
        }
    }

    // A scanner's PDF: A4 pages at 300 dpi in colour, one JPEG each, to about 45 MB.
    let page = corpus::scan_jpeg(2480, 3508, 1, 75).len();
    let pages = (45_000_000 / page).max(1) + 1;
    let scan = corpus::scanned_pdf(pages, 2480, 3508, 75);
    let scan_path = dir.join("scan-45mb.pdf");
    std::fs::write(&scan_path, &scan).unwrap();
    println!(
        "\nscan: {pages} A4 pages at 300 dpi (2480x3508 colour JPEG, {} kB each), {:.1} MB",
        page / 1000,
        scan.len() as f64 / 1e6
    );
    let scan_reps = reps.min(5);
    for size in [Size::Thumbnail, Size::Page] {
        let (cpu, wall, p) = in_process(&scan, Source::Pdf, size, scan_reps);
        println!(
            "  {:9} in-process: {cpu:6.1} ms CPU, {wall:6.1} ms wall (median of {scan_reps}), {}x{}, {} bytes",
            size.as_str(),
            p.0,
            p.1,
            p.2
        );
        let iso = isolated(&scan_path, Source::Pdf, size, scan_reps);
        println!(
            "  {:9} isolated:   {:6.1} ms CPU, {:6.1} ms wall (mean of {scan_reps}), peak RSS {:.1} MB",
            size.as_str(),
            iso.cpu_ms,
            iso.wall_ms,
            iso.rss_mb
        );
        if size == Size::Thumbnail {
            if iso.wall_ms > SCAN_WALL_MS {
                missed.push(format!(
                    "scan thumbnail {:.0} ms > {SCAN_WALL_MS} ms",
                    iso.wall_ms
                ));
            }
            if iso.rss_mb > SCAN_RSS_MB {
                missed.push(format!(
                    "scan thumbnail peak RSS {:.1} MB > {SCAN_RSS_MB} MB",
                    iso.rss_mb
                ));
            }
        }
    }
    drop(scan);

    // The same page at 200 dpi, and a scanner's bilevel G4 TIFF at 200 dpi.
    let scan200 = corpus::scanned_pdf(1, 1654, 2339, 75);
    let scan200_path = dir.join("scan-200dpi.pdf");
    std::fs::write(&scan200_path, &scan200).unwrap();
    let tiff = corpus::scanner_tiff(1654, 2339);
    let tiff_path = dir.join("scan-g4.tif");
    std::fs::write(&tiff_path, &tiff).unwrap();
    for (name, bytes, path, source) in [
        (
            "A4 200 dpi colour JPEG in a PDF",
            &scan200,
            &scan200_path,
            Source::Pdf,
        ),
        (
            "A4 200 dpi bilevel G4 TIFF",
            &tiff,
            &tiff_path,
            Source::Tiff,
        ),
    ] {
        println!("\n{name}: {} kB", bytes.len() / 1000);
        let (cpu, wall, p) = in_process(bytes, source, Size::Thumbnail, reps);
        println!(
            "  thumbnail in-process: {cpu:6.1} ms CPU, {wall:6.1} ms wall, {}x{}, {} bytes",
            p.0, p.1, p.2
        );
        let iso = isolated(path, source, Size::Thumbnail, reps);
        println!(
            "  thumbnail isolated:   {:6.1} ms CPU, {:6.1} ms wall, peak RSS {:.1} MB",
            iso.cpu_ms, iso.wall_ms, iso.rss_mb
        );
    }

    if missed.is_empty() {
        println!("\nevery target met");
    } else {
        println!("\nmissed: {}", missed.join("; "));
        if !short {
            std::process::exit(1);
        }
    }
}

/// CPU and wall milliseconds (medians) of `render` in this process, and the last preview's
/// width, height and bytes.
fn in_process(
    bytes: &[u8],
    source: Source,
    size: Size,
    reps: usize,
) -> (f64, f64, (u32, u32, usize)) {
    let mut cpus = Vec::new();
    let mut walls = Vec::new();
    let mut last = (0, 0, 0);
    for _ in 0..reps {
        let (c0, w0) = (thread_cpu(), Instant::now());
        let p = render(bytes, source, size).expect("the benchmark's files render");
        walls.push(w0.elapsed());
        cpus.push(thread_cpu() - c0);
        last = (p.width, p.height, p.jpeg.len());
    }
    (ms(median(&mut cpus)), ms(median(&mut walls)), last)
}

struct Isolated {
    cpu_ms: f64,
    wall_ms: f64,
    rss_mb: f64,
}

/// `reps` isolated renderings from a fresh process: the children's mean CPU and wall, their
/// highest peak RSS.
fn isolated(path: &Path, source: Source, size: Size, reps: usize) -> Isolated {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--child",
            &path.to_string_lossy(),
            source.as_str(),
            size.as_str(),
            &reps.to_string(),
        ])
        .output()
        .expect("run the bench's child");
    assert!(
        out.status.success(),
        "the child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    Isolated {
        cpu_ms: v[0],
        wall_ms: v[1],
        rss_mb: v[2],
    }
}

/// `--child PATH SOURCE SIZE REPS`: renders isolated REPS times with the default limits and
/// prints "cpu_ms wall_ms maxrss_mb" of the render children.
fn child(args: &[String]) -> ! {
    let path = Path::new(&args[0]);
    let source: Source = args[1].parse().unwrap();
    let size: Size = args[2].parse().unwrap();
    let reps: usize = args[3].parse().unwrap();
    let started = Instant::now();
    for _ in 0..reps {
        render_isolated_with(Path::new(BIN), path, source, size, &Limits::default())
            .expect("the benchmark's files render isolated");
    }
    let wall = started.elapsed() / reps as u32;
    // SAFETY: rusage is plain data, filled in by getrusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    let cpu_ms = (us(ru.ru_utime) + us(ru.ru_stime)) / 1000.0 / reps as f64;
    println!(
        "{cpu_ms:.2} {:.2} {:.2}",
        ms(wall),
        ru.ru_maxrss as f64 / 1024.0
    );
    std::process::exit(0)
}

fn thread_cpu() -> Duration {
    // SAFETY: timespec is plain data; a valid clock id and out-pointer.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("{cpus} CPUs ({model}), load average {}", load.join(" "))
}
