//! Previews: the first page of a PDF, a TIFF or an image, rendered by dropcast itself into a JPEG
//! (a thumbnail for a document, or the page as a photo for `preview: page`).
//!
//! Two entries. [`render`] renders in this process and turns a panic into [`NoPreview`]: for the
//! isolated child, the tests, the fuzzer and the benchmark. [`render_isolated`] is the daemon's:
//! it runs `dropcast __render` (this same executable, [`child_main`]) on the file, with a wall-clock
//! limit and a cap on the child's address space, so that a page that never ends, a file that asks
//! for gigabytes, a stack overflow or an abort in a decoder costs the post its preview and nothing
//! else.
//!
//! The renderers: `hayro` for PDF (pure Rust; it decodes the Flate, DCT, CCITT fax, JBIG2 and
//! JPEG 2000 images scanners write; it reads PDFs encrypted with an empty user password, as every
//! viewer does, and refuses those that need a password); the `image` crate for TIFF (its `tiff`
//! decoder: baseline, LZW, Deflate, PackBits, CCITT group 3/4, JPEG; the first page of a
//! multi-page file) and for JPEG, PNG, WebP and GIF (first frame).
//!
//! **Architecture Invariant:** never writes a file; the only process it starts is dropcast itself
//! (`__render`), and it never leaves it running past the time limit; every way a rendering can go
//! wrong ends as a [`NoPreview`] with a sentence for the receipt.

use std::io::{Cursor, Read};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hayro::hayro_interpret::util::TransformExt;
use hayro::hayro_interpret::{InterpreterSettings, InterpreterWarning};
use hayro::hayro_syntax::{DecryptionError, LoadPdfError, Pdf, PdfData};
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::vello_cpu::{Pixmap, RasterizerSettings, RenderContext, Resources, TargetInit};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

/// What to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The document's thumbnail: JPEG, at most 320 px on the longer side, under 200 kB.
    Thumbnail,
    /// The first page as a photo (`preview: page`): JPEG, about 2048 px on the longer side (a PDF
    /// page is rendered at that size; a raster is never enlarged), within Telegram's photo limits.
    Page,
}

/// What kind of file it is (the plumbing knows it from the extension and the content check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Pdf,
    /// TIFF, the first page.
    Tiff,
    /// JPEG, PNG, WebP or GIF (first frame) going as a document.
    Image,
}

/// A rendered preview: a baseline JPEG and its size in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Why there is no preview, in plain English for a receipt ("the PDF is encrypted", "the file is
/// damaged: ...", "rendering took longer than 5 s", "rendering needed more than 256 MB", "the
/// renderer failed").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoPreview(pub String);

impl NoPreview {
    fn new(why: impl Into<String>) -> Self {
        NoPreview(why.into())
    }
}

/// The bounds of an isolated rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time from start to the JPEG; the child is killed after it.
    pub time: Duration,
    /// The child's address space (`RLIMIT_AS`): a cap on memory that includes the executable's
    /// own mappings (about 40 MB for dropcast), not only the heap.
    pub memory_bytes: u64,
}

impl Default for Limits {
    /// 5 s and 256 MB: a typical page takes well under 0.2 s and 30 MB (BENCHMARKS.md, "Previews").
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(5),
            memory_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Source {
    /// The name on the `__render` command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Pdf => "pdf",
            Source::Tiff => "tiff",
            Source::Image => "image",
        }
    }
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Source::Pdf, Source::Tiff, Source::Image]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown source {s:?} (pdf, tiff or image)"))
    }
}

impl Size {
    /// The name on the `__render` command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Size::Thumbnail => "thumbnail",
            Size::Page => "page",
        }
    }

    /// The longer side to aim at.
    fn side(self) -> u32 {
        match self {
            Size::Thumbnail => 320,
            Size::Page => 2048,
        }
    }

    /// The JPEG must be smaller than this many bytes (Telegram: thumbnail under 200 kB, photo
    /// under 10 MB).
    fn max_bytes(self) -> usize {
        match self {
            Size::Thumbnail => 200 * 1000,
            Size::Page => 10 * 1000 * 1000,
        }
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Size::Thumbnail, Size::Page]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown size {s:?} (thumbnail or page)"))
    }
}

/// Telegram refuses a photo whose sides differ more than 20 times.
const MAX_RATIO: f64 = 20.0;
/// The largest image the raster decoders may allocate, in bytes: a 300 dpi A3 colour scan is
/// about 52 MB as RGB; past this the file is refused before anything is allocated.
const MAX_DECODE_BYTES: u64 = 160 * 1024 * 1024;
/// JPEG qualities tried in turn until the result fits its size.
const QUALITIES: [u8; 6] = [85, 75, 65, 50, 35, 20];

/// Renders the first page of `bytes` in this process. A panic in a decoder or the renderer is
/// caught and becomes "the renderer failed"; time and memory are not bounded here (that is
/// [`render_isolated`]'s work).
pub fn render(bytes: &[u8], source: Source, size: Size) -> Result<Preview, NoPreview> {
    render_shared(Arc::new(bytes.to_vec()), source, size)
}

/// [`render`] of the file at `path`, mapped rather than read (see [`Mapped`]): what the
/// renderer processes use.
pub fn render_file(path: &Path, source: Source, size: Size) -> Result<Preview, NoPreview> {
    Mapped::open(path).and_then(|data| render_shared(Arc::new(data), source, size))
}

/// [`render`] over bytes the PDF renderer can keep without a copy (a mapped file in the child).
fn render_shared<D>(data: Arc<D>, source: Source, size: Size) -> Result<Preview, NoPreview>
where
    D: AsRef<[u8]> + Send + Sync + 'static,
{
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let image = match source {
            Source::Pdf => pdf_first_page(PdfData::from(data), size)?,
            Source::Tiff | Source::Image => raster(data.as_ref().as_ref(), source, size)?,
        };
        finish(image, size)
    }));
    caught.unwrap_or_else(|_| Err(NoPreview::new("the renderer failed")))
}

/// The first page of a PDF, rendered so that its longer side is `size`'s side, on white.
fn pdf_first_page(data: PdfData, size: Size) -> Result<RgbImage, NoPreview> {
    let pdf = Pdf::new(data).map_err(|e| match e {
        LoadPdfError::Decryption(DecryptionError::PasswordProtected) => {
            NoPreview::new("the PDF is encrypted")
        }
        LoadPdfError::Decryption(DecryptionError::UnsupportedAlgorithm) => {
            NoPreview::new("the PDF is encrypted in a way dropcast cannot read")
        }
        LoadPdfError::Decryption(_) => {
            NoPreview::new("the file is damaged: the PDF's encryption is broken")
        }
        LoadPdfError::Invalid => NoPreview::new("the file is damaged: it is not a readable PDF"),
    })?;
    let page = pdf
        .pages()
        .first()
        .ok_or_else(|| NoPreview::new("the file is damaged: the PDF has no pages"))?;
    // Points, after /Rotate and the crop box: what a viewer shows.
    let (w, h) = page.render_dimensions();
    let (w, h) = (f64::from(w), f64::from(h));
    if !(w.is_finite() && h.is_finite() && w >= 1.0 && h >= 1.0) {
        return Err(NoPreview::new(
            "the file is damaged: the first page has no size",
        ));
    }
    let (pw, ph) = fit(w, h, size, size.side())?;
    draw(page, pw, ph)
}

/// hayro's rendering of `page` at `pw` × `ph` pixels, on white.
fn draw(
    page: &hayro::hayro_syntax::page::Page<'_>,
    pw: u32,
    ph: u32,
) -> Result<RgbImage, NoPreview> {
    let (w, h) = page.render_dimensions();
    let (w, h) = (f64::from(w), f64::from(h));
    let transform = hayro::kurbo::Affine::scale_non_uniform(f64::from(pw) / w, f64::from(ph) / h)
        * page.initial_transform(true).to_kurbo();
    // `fit` keeps both sides within 2048, so they fit the renderer's u16.
    let (cw, ch) = (pw as u16, ph as u16);
    let mut ctx = RenderContext::new(cw, ch);
    let cache = hayro::RenderCache::new();
    let failed = Arc::new(AtomicBool::new(false));
    let settings = InterpreterSettings {
        warning_sink: {
            let failed = failed.clone();
            Arc::new(move |w| {
                if matches!(w, InterpreterWarning::ImageDecodeFailure) {
                    failed.store(true, Ordering::Relaxed);
                }
            })
        },
        ..InterpreterSettings::default()
    };
    hayro::render_into(
        page,
        &cache,
        &settings,
        &hayro::RenderSettings::default(),
        &mut ctx,
        transform,
    );
    ctx.flush();
    let mut pixmap = Pixmap::new(cw, ch);
    ctx.render_with(
        &mut pixmap,
        &mut Resources::default(),
        RasterizerSettings {
            target_init: TargetInit::Clear(WHITE),
            ..Default::default()
        },
    );
    // A page without its scan, or with a hole where a picture was, says less than the file icon
    // (and is wrong).
    if failed.load(Ordering::Relaxed) {
        return Err(NoPreview::new(
            "the file is damaged: an image on the first page cannot be decoded",
        ));
    }
    // The background is opaque white, so premultiplied and straight alpha are the same: the
    // alpha byte is dropped.
    let rgb: Vec<u8> = pixmap
        .data_as_u8_slice()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    RgbImage::from_raw(pw, ph, rgb)
        .ok_or_else(|| NoPreview::new("the renderer failed: the page's pixels are missing"))
}

/// The size in pixels of a preview of a `w` × `h` page whose longer side becomes `side`, or why
/// it cannot be one.
fn fit(w: f64, h: f64, size: Size, side: u32) -> Result<(u32, u32), NoPreview> {
    let long = w.max(h);
    if size == Size::Page && long / w.min(h) > MAX_RATIO {
        return Err(NoPreview::new(
            "the page is too long and narrow to post as a photo",
        ));
    }
    let scale = f64::from(side) / long;
    let px = |v: f64| ((v * scale).round() as u32).clamp(1, side);
    Ok((px(w), px(h)))
}

/// A TIFF's first page, or an image's first frame, turned as its orientation says.
fn raster(bytes: &[u8], source: Source, size: Size) -> Result<RgbImage, NoPreview> {
    let reader = ImageReader::new(Cursor::new(bytes));
    let mut reader = match source {
        Source::Tiff => {
            let mut r = reader;
            r.set_format(ImageFormat::Tiff);
            r
        }
        _ => reader
            .with_guessed_format()
            .map_err(|e| NoPreview::new(format!("the file is damaged: {e}")))?,
    };
    match reader.format() {
        Some(
            ImageFormat::Tiff
            | ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::WebP
            | ImageFormat::Gif,
        ) => {}
        _ => return Err(NoPreview::new("the image's format is not supported")),
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    // image's limits bound the decoders' own buffers, not the image they return: a TIFF header
    // that claims 600 GB of pixels got as far as allocating them (found by fuzz/thumbnail).
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(image_error(image::ImageError::Limits(
            image::error::LimitError::from_kind(image::error::LimitErrorKind::InsufficientMemory),
        )));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    if let Some(o) = orientation {
        image.apply_orientation(o);
    }
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return Err(NoPreview::new(
            "the file is damaged: the image has no pixels",
        ));
    }
    // A raster is made smaller, never larger.
    let side = size.side().min(w.max(h));
    let (tw, th) = fit(f64::from(w), f64::from(h), size, side)?;
    if (tw, th) != (w, h) {
        image = image.thumbnail_exact(tw, th);
    }
    Ok(on_white(image))
}

/// RGB, with any transparency laid over white (a transparent PNG would otherwise turn black).
fn on_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(p[3]);
        for c in 0..3 {
            o[c] = ((u16::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

fn image_error(e: image::ImageError) -> NoPreview {
    use image::ImageError as E;
    match e {
        E::Limits(_) => NoPreview::new(format!(
            "the image is too large to preview (more than {} MB once decoded)",
            MAX_DECODE_BYTES / (1024 * 1024)
        )),
        E::Unsupported(e) => NoPreview::new(format!("the file is not supported: {e}")),
        E::Decoding(e) => NoPreview::new(format!("the file is damaged: {e}")),
        E::IoError(e) => NoPreview::new(format!("the file is damaged: {e}")),
        e => NoPreview::new(format!("the file is damaged: {e}")),
    }
}

/// The JPEG of a rendered page, at the highest quality of [`QUALITIES`] that fits the size's
/// budget; a page of one colour is no preview (a white square says less than the file icon).
fn finish(image: RgbImage, size: Size) -> Result<Preview, NoPreview> {
    let first = image.pixels().next().copied();
    if image.pixels().all(|p| Some(*p) == first) {
        return Err(NoPreview::new("the first page is blank"));
    }
    let (width, height) = image.dimensions();
    let mut jpeg = Vec::new();
    for quality in QUALITIES {
        jpeg.clear();
        JpegEncoder::new_with_quality(&mut jpeg, quality)
            .encode_image(&image)
            .map_err(|e| NoPreview::new(format!("the renderer failed: {e}")))?;
        if jpeg.len() < size.max_bytes() {
            return Ok(Preview {
                jpeg,
                width,
                height,
            });
        }
    }
    Err(NoPreview::new(format!(
        "the preview does not fit in {} kB",
        size.max_bytes() / 1000
    )))
}

// ---------------------------------------------------------------------------------------------
// Isolation: the child process.

/// The hidden subcommand that renders in a child: `dropcast __render SOURCE SIZE PATH`.
pub const SUBCOMMAND: &str = "__render";
/// The child's exit status when it rendered nothing; its stdout is then the reason.
const EXIT_NO_PREVIEW: u8 = 3;

/// `dropcast __render SOURCE SIZE PATH`: renders `path` and writes to stdout either the preview
/// (exit 0: width and height as two little-endian u32, then the JPEG) or the reason there is none
/// (exit 3: one line of UTF-8). Any other end (a signal, another status) is the parent's to
/// explain. The parent has already capped the address space and the core size (`pre_exec`).
pub fn child_main(path: &Path, source: Source, size: Size) -> ExitCode {
    use std::io::Write;
    let result = render_file(path, source, size);
    let mut out = std::io::stdout().lock();
    let (bytes, code) = match result {
        Ok(p) => {
            let mut bytes = Vec::with_capacity(8 + p.jpeg.len());
            bytes.extend_from_slice(&p.width.to_le_bytes());
            bytes.extend_from_slice(&p.height.to_le_bytes());
            bytes.extend_from_slice(&p.jpeg);
            (bytes, ExitCode::SUCCESS)
        }
        Err(e) => (e.0.into_bytes(), ExitCode::from(EXIT_NO_PREVIEW)),
    };
    match out.write_all(&bytes).and_then(|()| out.flush()) {
        Ok(()) => code,
        Err(_) => ExitCode::FAILURE,
    }
}

/// A file mapped read-only, so that the renderer touches only the pages of the file it reads: the
/// first page of a 45 MB scan costs a few hundred kB of memory, not 45 MB. A file cut shorter
/// while mapped kills the child with SIGBUS, which the parent reports as "the renderer failed".
///
/// It is mapped in pieces of [`MAP_PIECE`] (or more for a huge file), side by side: the kernel
/// maps a whole large folio of the page cache at a fault, up to the end of the mapping it falls
/// in, so one mapping of the whole file grew the child by 44 MB while hayro read a few bytes
/// of each of a 45 MB scan's 54 pages (about 30 faults); pieces bound each fault to its piece.
struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

// The mapping is read-only and private: sharing it between threads shares immutable bytes.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Mapped {
    fn open(path: &Path) -> Result<Mapped, NoPreview> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let unreadable =
            |e: std::io::Error| NoPreview::new(format!("the file cannot be read: {e}"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(unreadable)?;
        let meta = file.metadata().map_err(unreadable)?;
        if !meta.is_file() {
            return Err(NoPreview::new(
                "the file cannot be read: not a regular file",
            ));
        }
        let len = usize::try_from(meta.len())
            .map_err(|_| NoPreview::new("the file is too large to read"))?;
        if len == 0 {
            return Err(NoPreview::new("the file is empty"));
        }
        // SAFETY: a fresh inaccessible anonymous reservation; checked, and from here on owned
        // by `mapped`, whose `drop` unmaps it whole.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(unreadable(std::io::Error::last_os_error()));
        }
        let mapped = Mapped { ptr, len };
        // A bounded number of pieces (a process may hold about 65,000 mappings).
        let piece = MAP_PIECE.max((len / MAX_PIECES).next_multiple_of(MAP_PIECE));
        let mut offset = 0;
        while offset < len {
            let n = piece.min(len - offset);
            // SAFETY: replaces a part of the reservation above (MAP_FIXED inside a range this
            // process mapped and owns) with a private read-only mapping of the open file at the
            // same offset; `offset` is a multiple of the page size. The fd may be closed after.
            let piece_ptr = unsafe {
                libc::mmap(
                    ptr.cast::<u8>().add(offset).cast(),
                    n,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_FIXED,
                    file.as_raw_fd(),
                    offset as libc::off_t,
                )
            };
            if piece_ptr == libc::MAP_FAILED {
                return Err(unreadable(std::io::Error::last_os_error()));
            }
            offset += n;
        }
        Ok(mapped)
    }
}

/// The size of a piece of a mapped file (a multiple of every page size Linux uses on 4 kB
/// systems, and of 64 kB ones).
const MAP_PIECE: usize = 64 * 1024;
/// At most this many pieces per file: larger files get larger pieces.
const MAX_PIECES: usize = 8192;

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Isolation: the parent.

/// The daemon's entry: renders `path` in a child process of dropcast itself
/// ([`std::env::current_exe`], `__render`), killed after `limits.time`, its address space capped
/// at `limits.memory_bytes`. Blocking (it waits for the child): run it on the blocking pool.
pub fn render_isolated(
    path: &Path,
    source: Source,
    size: Size,
    limits: &Limits,
) -> Result<Preview, NoPreview> {
    let exe = std::env::current_exe()
        .map_err(|e| NoPreview::new(format!("the renderer could not start: {e}")))?;
    render_isolated_with(&exe, path, source, size, limits)
}

/// [`render_isolated`] with the dropcast executable named: for tests and benchmarks, whose own
/// executable is not dropcast (`env!("CARGO_BIN_EXE_dropcast")`).
pub fn render_isolated_with(
    exe: &Path,
    path: &Path,
    source: Source,
    size: Size,
    limits: &Limits,
) -> Result<Preview, NoPreview> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut command = Command::new(exe);
    command
        .arg(SUBCOMMAND)
        .arg(source.as_str())
        .arg(size.as_str())
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "0");
    // The child maps the file (`Mapped`): its length counts in the address space but is not
    // memory the renderer asks for, so the cap is the limit plus the file.
    let file_len = std::fs::metadata(path).map_or(0, |m| m.len());
    let memory = limits.memory_bytes;
    let address_space = memory.saturating_add(file_len);
    // SAFETY: between fork and exec only setrlimit is called, which is async-signal-safe and
    // allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let cap = |resource, value: u64| {
                let limit = libc::rlimit {
                    rlim_cur: value as libc::rlim_t,
                    rlim_max: value as libc::rlim_t,
                };
                if libc::setrlimit(resource, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            cap(libc::RLIMIT_AS, address_space)?;
            // An abort on the memory cap must not leave a core file in the working folder.
            cap(libc::RLIMIT_CORE, 0)
        });
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| NoPreview::new(format!("the renderer could not start: {e}")))?;
    // Read both pipes while waiting, so that a child writing a large JPEG never blocks on a full
    // pipe. stdout is bounded by the largest photo; stderr only keeps its start.
    let stdout = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let limit = Size::Page.max_bytes() as u64 + 1024;
            let _ = out.take(limit).read_to_end(&mut buf);
            buf
        })
    });
    let stderr = child.stderr.take().map(|err| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut err = err;
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if kept.len() < 4096 {
                    kept.extend_from_slice(&chunk[..n]);
                }
            }
            kept
        })
    });
    let deadline = started + limits.time;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NoPreview::new(format!(
                    "rendering took longer than {}",
                    seconds(limits.time)
                )));
            }
            Ok(None) => {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NoPreview::new(format!("the renderer failed: {e}")));
            }
        }
    };
    let out = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
    let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    let err = String::from_utf8_lossy(&err);
    match status.code() {
        Some(0) => decode_child_output(out),
        Some(code) if code == i32::from(EXIT_NO_PREVIEW) => {
            Err(NoPreview(String::from_utf8_lossy(&out).into_owned()))
        }
        // Rust's allocator aborts with "memory allocation of N bytes failed"; the loader, when
        // the cap leaves no room for the program itself, fails to map it (status 127, or SIGSEGV
        // before any output).
        _ if out_of_memory(&err, status.signal()) => Err(NoPreview::new(format!(
            "rendering needed more than {} MB",
            memory / (1024 * 1024)
        ))),
        _ => {
            let signal = status
                .signal()
                .map(|s| format!(" (signal {s})"))
                .unwrap_or_default();
            tracing::debug!(status = %status, stderr = %err, "the renderer's child failed");
            Err(NoPreview::new(format!("the renderer failed{signal}")))
        }
    }
}

fn out_of_memory(stderr: &str, signal: Option<i32>) -> bool {
    stderr.contains("memory allocation of")
        || stderr.contains("failed to map segment")
        || stderr.contains("Cannot allocate memory")
        || (signal == Some(libc::SIGSEGV) && stderr.is_empty())
}

/// The child's stdout after exit 0: width, height, JPEG.
fn decode_child_output(out: Vec<u8>) -> Result<Preview, NoPreview> {
    let broken = || NoPreview::new("the renderer failed: its answer is incomplete");
    if out.len() < 8 + 3 || out[8..11] != [0xFF, 0xD8, 0xFF] {
        return Err(broken());
    }
    let word = |i: usize| u32::from_le_bytes([out[i], out[i + 1], out[i + 2], out[i + 3]]);
    let (width, height) = (word(0), word(4));
    Ok(Preview {
        jpeg: out[8..].to_vec(),
        width,
        height,
    })
}

/// "5 s", "500 ms", "1.5 s": a limit as the receipt says it.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    //! The pure parts. The corpus tests are in `tests/preview.rs`.

    use super::*;

    #[test]
    fn fit_keeps_the_shape_and_the_longer_side() {
        let check = |w: f64, h: f64, size: Size, side: u32, expected: Result<(u32, u32), &str>| {
            assert_eq!(
                fit(w, h, size, side).map_err(|e| e.0),
                expected.map_err(str::to_owned),
                "{w}x{h} {size:?} {side}"
            );
        };
        check(595.0, 842.0, Size::Thumbnail, 320, Ok((226, 320)));
        check(842.0, 595.0, Size::Thumbnail, 320, Ok((320, 226)));
        check(595.0, 842.0, Size::Page, 2048, Ok((1447, 2048)));
        // A receipt roll: a sliver of a thumbnail, never zero pixels wide...
        check(10.0, 5000.0, Size::Thumbnail, 320, Ok((1, 320)));
        // ...and no photo, which Telegram would refuse.
        check(
            10.0,
            5000.0,
            Size::Page,
            2048,
            Err("the page is too long and narrow to post as a photo"),
        );
        check(100.0, 2000.0, Size::Page, 2048, Ok((102, 2048)));
    }

    #[test]
    fn names_on_the_command_line_go_both_ways() {
        for s in [Source::Pdf, Source::Tiff, Source::Image] {
            assert_eq!(s.as_str().parse::<Source>(), Ok(s));
        }
        for s in [Size::Thumbnail, Size::Page] {
            assert_eq!(s.as_str().parse::<Size>(), Ok(s));
        }
        assert!("png".parse::<Source>().is_err());
    }

    #[test]
    fn limits_as_the_receipt_says_them() {
        assert_eq!(seconds(Duration::from_secs(5)), "5 s");
        assert_eq!(seconds(Duration::from_millis(700)), "700 ms");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5 s");
    }

    #[test]
    fn the_childs_answer_is_checked() {
        let mut out = 226u32.to_le_bytes().to_vec();
        out.extend_from_slice(&320u32.to_le_bytes());
        out.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
        let p = decode_child_output(out.clone()).unwrap();
        assert_eq!((p.width, p.height, p.jpeg.len()), (226, 320, 4));
        assert!(decode_child_output(out[..9].to_vec()).is_err());
        assert!(decode_child_output(b"the PDF is encrypted".to_vec()).is_err());
    }
}
