//! Previews on real-world shaped files (`common/corpus.rs`): each is rendered, or refused with the
//! reason a receipt will give; a rendered one is a JPEG of the right size that shows something.
//! Then the isolated form: the real binary's `__render`, its time limit, its memory cap, and a
//! robustness run over mutated files.

#[path = "common/corpus.rs"]
mod corpus;

use std::path::Path;
use std::time::{Duration, Instant};

use dropcast::preview::{Limits, NoPreview, Preview, Size, Source, render, render_isolated_with};

/// What a rendering should give: a JPEG whose longer side is `side` (at most), wider than tall
/// or not, with pixels that differ.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Portrait,
    Landscape,
}

/// Checks a preview: JPEG magic, dimensions as said and as decoded, within the size's limits,
/// the shape kept, not blank.
fn check_preview(p: &Preview, size: Size, shape: Shape, name: &str) {
    assert_eq!(&p.jpeg[..3], &[0xFF, 0xD8, 0xFF], "{name}: not a JPEG");
    let decoded = image::load_from_memory_with_format(&p.jpeg, image::ImageFormat::Jpeg)
        .unwrap_or_else(|e| panic!("{name}: the JPEG does not decode: {e}"));
    assert_eq!(
        (decoded.width(), decoded.height()),
        (p.width, p.height),
        "{name}: sizes differ"
    );
    let long = p.width.max(p.height);
    match size {
        Size::Thumbnail => {
            assert!(long <= 320, "{name}: {}x{} is over 320", p.width, p.height);
            assert!(p.jpeg.len() < 200_000, "{name}: {} bytes", p.jpeg.len());
        }
        Size::Page => {
            assert!(
                long <= 2560,
                "{name}: {}x{} is over 2560",
                p.width,
                p.height
            );
            assert!(p.width + p.height <= 10_000, "{name}");
            assert!(p.jpeg.len() < 10_000_000, "{name}: {} bytes", p.jpeg.len());
        }
    }
    let ratio = f64::from(long) / f64::from(p.width.min(p.height));
    assert!(ratio <= 20.0, "{name}: ratio {ratio}");
    match shape {
        Shape::Portrait => assert!(
            p.height > p.width,
            "{name}: {}x{} is not portrait",
            p.width,
            p.height
        ),
        Shape::Landscape => assert!(
            p.width > p.height,
            "{name}: {}x{} is not landscape",
            p.width,
            p.height
        ),
    }
    let luma = decoded.to_luma8();
    let (min, max) = luma
        .pixels()
        .fold((255u8, 0u8), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
    assert!(
        max - min > 100,
        "{name}: looks blank (luminance {min}..{max})"
    );
}

fn ok(bytes: &[u8], source: Source, size: Size, shape: Shape, name: &str) -> Preview {
    let p = render(bytes, source, size).unwrap_or_else(|e| panic!("{name}: no preview: {e}"));
    check_preview(&p, size, shape, name);
    p
}

fn refused(bytes: &[u8], source: Source, expected: &str, name: &str) {
    match render(bytes, source, Size::Thumbnail) {
        Ok(p) => panic!(
            "{name}: rendered {}x{}, expected {expected:?}",
            p.width, p.height
        ),
        Err(NoPreview(why)) => assert!(
            why.contains(expected),
            "{name}: {why:?} does not say {expected:?}"
        ),
    }
}

#[test]
fn a_text_pdf_in_standard_fonts() {
    let p = ok(
        &corpus::text_pdf(),
        Source::Pdf,
        Size::Thumbnail,
        Shape::Portrait,
        "text",
    );
    // A4 is 595 x 842 points: 226 x 320.
    assert_eq!((p.width, p.height), (226, 320));
}

#[test]
fn a_landscape_page_is_wider_than_tall() {
    let p = ok(
        &corpus::landscape_pdf(),
        Source::Pdf,
        Size::Thumbnail,
        Shape::Landscape,
        "landscape",
    );
    assert_eq!((p.width, p.height), (320, 226));
}

#[test]
fn a_rotated_page_is_shown_as_a_viewer_shows_it() {
    let p = ok(
        &corpus::rotated_pdf(),
        Source::Pdf,
        Size::Thumbnail,
        Shape::Landscape,
        "rotated",
    );
    assert_eq!((p.width, p.height), (320, 226));
}

#[test]
fn scanned_pdfs_with_jpeg_and_ccitt_images() {
    ok(
        &corpus::scanned_pdf(2, 620, 877, 70),
        Source::Pdf,
        Size::Thumbnail,
        Shape::Portrait,
        "dct",
    );
    ok(
        &corpus::ccitt_pdf(827, 1169),
        Source::Pdf,
        Size::Thumbnail,
        Shape::Portrait,
        "ccitt",
    );
}

#[test]
fn the_page_as_a_photo_is_about_2048_pixels() {
    let p = ok(
        &corpus::text_pdf(),
        Source::Pdf,
        Size::Page,
        Shape::Portrait,
        "text page",
    );
    assert_eq!((p.width, p.height), (1447, 2048));
    let p = ok(
        &corpus::rotated_pdf(),
        Source::Pdf,
        Size::Page,
        Shape::Landscape,
        "rotated page",
    );
    assert_eq!((p.width, p.height), (2048, 1447));
    // A raster smaller than 2048 is not enlarged.
    let p = ok(
        &corpus::scanner_tiff(827, 1169),
        Source::Tiff,
        Size::Page,
        Shape::Portrait,
        "tiff page",
    );
    assert_eq!((p.width, p.height), (827, 1169));
}

#[test]
fn an_encrypted_pdf_has_no_preview_and_says_why() {
    refused(
        &corpus::encrypted_pdf(),
        Source::Pdf,
        "the PDF is encrypted",
        "encrypted",
    );
}

/// Encrypted with an empty user password ("protected" against printing or copying): every viewer
/// opens it without asking, so it has a preview. Made by `tests/data/corpus/make_owner_only.py`.
#[test]
fn a_pdf_encrypted_without_a_user_password_is_shown() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/corpus/owner-only-rc4.pdf"
    ))
    .unwrap();
    ok(
        &bytes,
        Source::Pdf,
        Size::Thumbnail,
        Shape::Portrait,
        "owner-only",
    );
}

#[test]
fn a_damaged_pdf_has_no_preview_and_says_why() {
    refused(
        b"%PDF-1.7\nthis is not a pdf at all",
        Source::Pdf,
        "the file is damaged",
        "garbage",
    );
    refused(b"", Source::Pdf, "the file is damaged", "empty");
    // Cut before the page's content: nothing to show, never a white square.
    let text = corpus::text_pdf();
    let cut = text.windows(6).position(|w| w == b"stream").unwrap();
    match render(&text[..cut], Source::Pdf, Size::Thumbnail) {
        Err(NoPreview(why)) => assert!(!why.is_empty()),
        Ok(p) => check_preview(&p, Size::Thumbnail, Shape::Portrait, "cut"),
    }
    // Cut halfway through the file: what a viewer recovers, or a reason.
    match render(&text[..text.len() * 2 / 3], Source::Pdf, Size::Thumbnail) {
        Err(NoPreview(why)) => assert!(!why.is_empty()),
        Ok(p) => check_preview(&p, Size::Thumbnail, Shape::Portrait, "half"),
    }
}

#[test]
fn tiffs_from_scanners_and_in_every_baseline_compression() {
    let p = ok(
        &corpus::scanner_tiff(827, 1169),
        Source::Tiff,
        Size::Thumbnail,
        Shape::Portrait,
        "g4",
    );
    assert_eq!((p.width, p.height), (226, 320));
    for (kind, name) in [
        (corpus::Tiff::Lzw, "lzw"),
        (corpus::Tiff::Deflate, "deflate"),
        (corpus::Tiff::PackBits, "packbits"),
    ] {
        ok(
            &corpus::tiff(kind, 413, 584, false),
            Source::Tiff,
            Size::Thumbnail,
            Shape::Portrait,
            name,
        );
    }
}

#[test]
fn a_multi_page_tiff_shows_its_first_page() {
    // The second page is landscape and black: a portrait thumbnail with light pixels is page 1.
    let p = ok(
        &corpus::tiff(corpus::Tiff::Lzw, 413, 584, true),
        Source::Tiff,
        Size::Thumbnail,
        Shape::Portrait,
        "multi",
    );
    let decoded = image::load_from_memory(&p.jpeg).unwrap().to_luma8();
    let mean =
        decoded.pixels().map(|p| u64::from(p[0])).sum::<u64>() / u64::from(p.width * p.height);
    assert!(mean > 128, "mean luminance {mean}: not the first page");
}

#[test]
fn images_sent_as_documents() {
    let scan = corpus::scan_pixels(900, 600, 5);
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(scan.clone())
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    ok(
        &png,
        Source::Image,
        Size::Thumbnail,
        Shape::Landscape,
        "png",
    );
    ok(
        &corpus::scan_jpeg(600, 900, 6, 80),
        Source::Image,
        Size::Thumbnail,
        Shape::Portrait,
        "jpeg",
    );
    // A transparent PNG lies on white, not on black.
    let clear = image::RgbaImage::from_fn(400, 200, |x, _| {
        image::Rgba([0, 0, 0, if x < 200 { 0 } else { 255 }])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(clear)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let p = ok(
        &png,
        Source::Image,
        Size::Thumbnail,
        Shape::Landscape,
        "transparent",
    );
    let decoded = image::load_from_memory(&p.jpeg).unwrap().to_luma8();
    assert!(
        decoded.get_pixel(10, 10)[0] > 240,
        "the transparent half is not white"
    );
    refused(
        b"BM not an image we take",
        Source::Image,
        "not supported",
        "bmp",
    );
}

#[test]
fn a_blank_page_is_no_preview() {
    let blank = corpus::pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec(),
    ]);
    refused(&blank, Source::Pdf, "blank", "blank");
}

// ---------------------------------------------------------------------------------------------
// Isolated: the real binary.

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_dropcast"))
}

fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn isolated_rendering_gives_the_same_preview() {
    let dir = tempfile::tempdir().unwrap();
    let text = corpus::text_pdf();
    let path = file(&dir, "avviso.pdf", &text);
    let isolated = render_isolated_with(
        exe(),
        &path,
        Source::Pdf,
        Size::Thumbnail,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        isolated,
        render(&text, Source::Pdf, Size::Thumbnail).unwrap()
    );
    let tiff = file(&dir, "scan.tif", &corpus::scanner_tiff(827, 1169));
    let p =
        render_isolated_with(exe(), &tiff, Source::Tiff, Size::Page, &Limits::default()).unwrap();
    check_preview(&p, Size::Page, Shape::Portrait, "isolated tiff");
    let enc = file(&dir, "secret.pdf", &corpus::encrypted_pdf());
    assert_eq!(
        render_isolated_with(
            exe(),
            &enc,
            Source::Pdf,
            Size::Thumbnail,
            &Limits::default()
        ),
        Err(NoPreview("the PDF is encrypted".into()))
    );
    let missing = dir.path().join("gone.pdf");
    let err = render_isolated_with(
        exe(),
        &missing,
        Source::Pdf,
        Size::Thumbnail,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(err.0.starts_with("the file cannot be read"), "{err}");
}

/// A page of two million strokes (a small file: the content stream is deflated): longer than
/// any limit worth having, so the child is killed at the limit.
fn slow_pdf() -> Vec<u8> {
    use std::io::Write;
    let mut block = Vec::new();
    for x in 0..590u32 {
        block.extend_from_slice(format!("{x} 0 m {} 842 l S\n", 595 - x).as_bytes());
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    for _ in 0..3400 {
        z.write_all(&block).unwrap();
    }
    let data = z.finish().unwrap();
    corpus::pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>".to_vec(),
        corpus::stream("/Filter /FlateDecode", &data),
    ])
}

#[test]
fn a_page_that_takes_too_long_is_abandoned_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "slow.pdf", &slow_pdf());
    // Room enough that only the time can stop it: with the default 256 MB, a fast machine
    // reached the memory cap first (a clean CI build).
    let limits = Limits {
        time: Duration::from_millis(700),
        memory_bytes: 8 * 1024 * 1024 * 1024,
    };
    let started = Instant::now();
    let err = render_isolated_with(exe(), &path, Source::Pdf, Size::Page, &limits).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.0, "rendering took longer than 700 ms");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

#[test]
fn a_file_that_needs_more_memory_than_the_cap_is_no_preview() {
    let dir = tempfile::tempdir().unwrap();
    // 72 MB of grey once decoded (twice that while decoding), under the decoders' own 160 MB
    // limit.
    let path = file(&dir, "big.tif", &corpus::tiff_claiming(8_000, 9_000));
    let capped = Limits {
        memory_bytes: 96 * 1024 * 1024,
        ..Limits::default()
    };
    let err =
        render_isolated_with(exe(), &path, Source::Tiff, Size::Thumbnail, &capped).unwrap_err();
    assert_eq!(err.0, "rendering needed more than 96 MB");
    // With room, the decoder gets as far as the missing pixels: the cap was the reason.
    let roomy = Limits {
        memory_bytes: 1024 * 1024 * 1024,
        ..Limits::default()
    };
    let err =
        render_isolated_with(exe(), &path, Source::Tiff, Size::Thumbnail, &roomy).unwrap_err();
    assert!(err.0.starts_with("the file is damaged"), "{err}");
    // A cap too small for dropcast itself to start says the same, not "failed".
    let tiny = Limits {
        memory_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    let text = file(&dir, "avviso.pdf", &corpus::text_pdf());
    let err = render_isolated_with(exe(), &text, Source::Pdf, Size::Thumbnail, &tiny).unwrap_err();
    assert_eq!(err.0, "rendering needed more than 8 MB");
    // A 200 dpi A4 colour scan fits the default cap.
    let scan = file(&dir, "scan.pdf", &corpus::scanned_pdf(1, 1654, 2339, 60));
    let p = render_isolated_with(
        exe(),
        &scan,
        Source::Pdf,
        Size::Thumbnail,
        &Limits::default(),
    )
    .unwrap();
    check_preview(
        &p,
        Size::Thumbnail,
        Shape::Portrait,
        "scan under the default cap",
    );
}

/// Mutated corpus files through the isolated renderer: every one ends as a preview or a reason
/// within the limit (plus the start of a process), none escapes. `PREVIEW_ROBUSTNESS_CASES`
/// sets the count (default 60; fuzz/README.md reports a run of thousands), `PREVIEW_ROBUSTNESS_SEED`
/// the mutator's seed; `PREVIEW_WRITE_SEEDS=DIR` also writes the unmutated files there as the
/// fuzzer's seeds.
#[test]
fn mutated_files_never_escape_the_isolated_renderer() {
    let cases: usize = std::env::var("PREVIEW_ROBUSTNESS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let seeds: Vec<(Vec<u8>, Source)> = vec![
        (corpus::text_pdf(), Source::Pdf),
        (corpus::rotated_pdf(), Source::Pdf),
        (corpus::scanned_pdf(1, 310, 438, 60), Source::Pdf),
        (corpus::ccitt_pdf(413, 584), Source::Pdf),
        (corpus::encrypted_pdf(), Source::Pdf),
        (corpus::scanner_tiff(413, 584), Source::Tiff),
        (
            corpus::tiff(corpus::Tiff::Lzw, 200, 280, true),
            Source::Tiff,
        ),
        (
            corpus::tiff(corpus::Tiff::Deflate, 200, 280, false),
            Source::Tiff,
        ),
        (
            corpus::tiff(corpus::Tiff::PackBits, 200, 280, false),
            Source::Tiff,
        ),
    ];
    // The fuzzer's seeds (fuzz/corpus/thumbnail/): its first byte chooses the source.
    if let Ok(dir) = std::env::var("PREVIEW_WRITE_SEEDS") {
        for (i, (bytes, source)) in seeds.iter().enumerate() {
            let first = if *source == Source::Pdf { 0u8 } else { 1 };
            std::fs::write(
                format!("{dir}/seed-{i}"),
                [&[first], bytes.as_slice()].concat(),
            )
            .unwrap();
        }
    }
    let all: Vec<&[u8]> = seeds.iter().map(|(b, _)| b.as_slice()).collect();
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        time: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut mutator = corpus::Mutator::new(
        std::env::var("PREVIEW_ROBUSTNESS_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(14),
    );
    let (mut rendered, mut reasons) = (0, std::collections::BTreeMap::<String, usize>::new());
    let mut slowest = Duration::ZERO;
    for case in 0..cases {
        let (seed, source) = &seeds[case % seeds.len()];
        let bytes = mutator.mutate(seed, &all);
        let path = file(&dir, "case", &bytes);
        let started = Instant::now();
        let result = render_isolated_with(exe(), &path, *source, Size::Thumbnail, &limits);
        let took = started.elapsed();
        slowest = slowest.max(took);
        assert!(
            took < limits.time + Duration::from_secs(1),
            "case {case} took {took:?}"
        );
        match result {
            Ok(p) => {
                assert_eq!(&p.jpeg[..3], &[0xFF, 0xD8, 0xFF]);
                assert!(p.width.max(p.height) <= 320 && p.jpeg.len() < 200_000);
                rendered += 1;
            }
            Err(NoPreview(why)) => {
                assert!(!why.is_empty(), "case {case}: an empty reason");
                let kind = why.split(':').next().unwrap_or_default().to_string();
                *reasons.entry(kind).or_default() += 1;
            }
        }
    }
    eprintln!("{cases} cases: {rendered} rendered, slowest {slowest:?}, no preview: {reasons:?}");
}

/// Found by `fuzz/thumbnail` (`fuzz/regressions/thumbnail/tiff-claims-600-gb`): a TIFF header
/// claiming 600 GB of pixels was allocated in full despite the decoder's limits, an abort
/// in-process.
#[test]
fn a_tiff_claiming_an_enormous_image_is_refused_before_any_allocation() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/regressions/thumbnail/tiff-claims-600-gb"
    ))
    .unwrap();
    // The fuzzer's first byte chose the source (odd: TIFF).
    refused(&bytes[1..], Source::Tiff, "too large", "600 GB");
    refused(
        &corpus::tiff_claiming(100_000, 100_000),
        Source::Tiff,
        "too large",
        "10 GB",
    );
}
