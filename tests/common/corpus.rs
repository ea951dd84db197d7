//! Real-world shaped PDFs and TIFFs, written here so that the tests, the benchmark and the
//! fuzzer's seeds need no committed binaries and no tool: a notice in Helvetica, scans (DCT and
//! CCITT G4 images), a landscape and a rotated page, a password-protected PDF, damaged ones, a
//! scanner's G4 TIFF and LZW, Deflate and PackBits TIFFs (one multi-page).
//!
//! Included with `#[path]` by `tests/preview.rs` and `benches/preview.rs`.

#![allow(dead_code)]

use std::io::Cursor;

/// A PDF from its objects' bodies (object `n` is `objects[n - 1]`; object 1 is the catalog),
/// with a correct cross-reference table and `trailer_extra` added to the trailer dictionary.
pub(crate) fn pdf_with(objects: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

pub(crate) fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    pdf_with(objects, "")
}

/// A stream object.
pub(crate) fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

/// One page, `page_extra` added to its dictionary (`/Rotate 90`), `resources` its resources,
/// then `more` objects from number 5 on (number 4 is the content stream).
fn one_page(
    media: [u32; 2],
    page_extra: &str,
    resources: &str,
    content: &[u8],
    more: Vec<Vec<u8>>,
) -> Vec<Vec<u8>> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources {resources} /Contents 4 0 R {page_extra} >>",
            media[0], media[1]
        )
        .into_bytes(),
        stream("", content),
    ];
    objects.extend(more);
    objects
}

/// The text of a typical one-page notice: a title, a rule, paragraphs in Helvetica.
fn notice_content(width: u32, height: u32) -> Vec<u8> {
    let mut c = String::new();
    let top = height - 72;
    c.push_str(&format!(
        "BT /F2 22 Tf 72 {top} Td (Avviso al pubblico) Tj ET\n"
    ));
    c.push_str(&format!(
        "2 w 72 {} m {} {} l S\n",
        top - 12,
        width - 72,
        top - 12
    ));
    let lines = [
        "Si comunica che gli uffici comunali resteranno chiusi",
        "lunedi 8 dicembre per la festa dell'Immacolata.",
        "Le pratiche urgenti possono essere presentate",
        "allo sportello polifunzionale di via Roma 12,",
        "aperto dalle 9:00 alle 12:00.",
        "",
        "Per informazioni: ufficio relazioni con il pubblico,",
        "telefono 0123 456789, urp@comune.example.it.",
    ];
    let mut y = top - 48;
    for line in lines {
        c.push_str(&format!("BT /F1 12 Tf 72 {y} Td ({line}) Tj ET\n"));
        y -= 18;
    }
    c.push_str(
        "BT /F1 10 Tf 72 72 Td (Il responsabile del servizio) Tj ET
",
    );
    c.into_bytes()
}

const FONTS: &str = "<< /Font << /F1 5 0 R /F2 6 0 R >> >>";

fn fonts() -> Vec<Vec<u8>> {
    vec![
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ]
}

/// A one-page A4 notice in Helvetica (standard fonts, not embedded).
pub(crate) fn text_pdf() -> Vec<u8> {
    pdf(&one_page(
        [595, 842],
        "",
        FONTS,
        &notice_content(595, 842),
        fonts(),
    ))
}

/// The notice on an A4 page turned sideways by its MediaBox (wider than tall).
pub(crate) fn landscape_pdf() -> Vec<u8> {
    pdf(&one_page(
        [842, 595],
        "",
        FONTS,
        &notice_content(842, 595),
        fonts(),
    ))
}

/// A portrait page shown turned by `/Rotate 90`: a viewer shows it wider than tall.
pub(crate) fn rotated_pdf() -> Vec<u8> {
    pdf(&one_page(
        [595, 842],
        "/Rotate 90",
        FONTS,
        &notice_content(595, 842),
        fonts(),
    ))
}

/// A page of a scan: `w` × `h` grey, with dark "lines of text" and paper noise (deterministic).
pub(crate) fn scan_pixels(w: u32, h: u32, seed: u32) -> image::RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    image::RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 12) as u8;
        let ink = is_ink(x, y, w, h);
        let v = if ink { 30 + noise } else { 232 + noise };
        image::Rgb([v, v, v.saturating_sub(6)])
    })
}

/// Where the "text" of a synthetic page is: a border, then rows of words.
fn is_ink(x: u32, y: u32, w: u32, h: u32) -> bool {
    let m = w / 12;
    if x < m || x >= w - m || y < m || y >= h - m {
        return false;
    }
    let border = x < m + 3 || x >= w - m - 3 || y < m + 3 || y >= h - m - 3;
    let line = (y - m) % (h / 30).max(4);
    let in_line = line > 2 && line < (h / 30).max(4) * 2 / 3;
    let word = !((x / (w / 40).max(2)) * 7 + (y / (h / 30).max(4)) * 3).is_multiple_of(5);
    border || (in_line && word && y > h / 8)
}

/// A JPEG of a scanned page.
pub(crate) fn scan_jpeg(w: u32, h: u32, seed: u32, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&scan_pixels(w, h, seed))
        .unwrap();
    out
}

/// A scanner's PDF: `pages` A4 pages, each a DCT (JPEG) image of `w` × `h` (the same JPEG on every
/// page after the first, so that a large file is quick to make).
pub(crate) fn scanned_pdf(pages: usize, w: u32, h: u32, quality: u8) -> Vec<u8> {
    let first = scan_jpeg(w, h, 1, quality);
    let rest = if pages > 1 {
        scan_jpeg(w, h, 2, quality)
    } else {
        Vec::new()
    };
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 3 + 3 * i)).collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        )
        .into_bytes(),
    ];
    for i in 0..pages {
        let n = 3 + 3 * i;
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im0 {} 0 R >> >> /Contents {} 0 R >>",
                n + 2,
                n + 1
            )
            .into_bytes(),
        );
        objects.push(stream("", b"q 595 0 0 842 0 0 cm /Im0 Do Q"));
        let jpeg = if i == 0 { &first } else { &rest };
        objects.push(stream(
            &format!("/Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode"),
            jpeg,
        ));
    }
    pdf(&objects)
}

/// A bilevel page (true = black), the layout of [`scan_pixels`].
pub(crate) fn bilevel(w: u32, h: u32) -> Vec<Vec<bool>> {
    (0..h)
        .map(|y| (0..w).map(|x| is_ink(x, y, w, h)).collect())
        .collect()
}

/// CCITT group 4 (T.6) data of a bilevel page.
pub(crate) fn g4(page: &[Vec<bool>]) -> Vec<u8> {
    use fax::{Color, VecWriter, encoder::Encoder};
    let width = page.first().map_or(0, |r| r.len()) as u16;
    let mut encoder = Encoder::new(VecWriter::new());
    for row in page {
        let pels = row
            .iter()
            .map(|&b| if b { Color::Black } else { Color::White });
        encoder.encode_line(pels, width).unwrap();
    }
    encoder.finish().unwrap().finish()
}

/// A fax-style scan in a PDF: one page, a CCITT G4 image of `w` × `h`.
pub(crate) fn ccitt_pdf(w: u32, h: u32) -> Vec<u8> {
    let data = g4(&bilevel(w, h));
    pdf(&one_page(
        [595, 842],
        "",
        "<< /XObject << /Im0 5 0 R >> >>",
        b"q 595 0 0 842 0 0 cm /Im0 Do Q",
        vec![stream(
            &format!(
                "/Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns {w} /Rows {h} >>"
            ),
            &data,
        )],
    ))
}

/// The notice behind the standard security handler (RC4, 128 bit) with a user password: the
/// /U entry matches no empty password, so a reader must ask for one.
pub(crate) fn encrypted_pdf() -> Vec<u8> {
    let o = "<".to_string() + &"3c".repeat(32) + ">";
    let u = "<".to_string() + &"a5".repeat(32) + ">";
    let mut objects = one_page([595, 842], "", FONTS, &notice_content(595, 842), fonts());
    objects.push(
        format!("<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 /O {o} /U {u} >>")
            .into_bytes(),
    );
    pdf_with(
        &objects,
        "/Encrypt 7 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]",
    )
}

/// A TIFF as a scanner writes it: bilevel, CCITT group 4, WhiteIsZero, 200 dpi.
pub(crate) fn scanner_tiff(w: u32, h: u32) -> Vec<u8> {
    fax::tiff::wrap(&g4(&bilevel(w, h)), w, h)
}

/// The kinds of compression a TIFF encoder here can write.
#[derive(Clone, Copy)]
pub(crate) enum Tiff {
    Lzw,
    Deflate,
    PackBits,
}

/// An RGB TIFF of a scanned page (a second, smaller page when `multi`).
pub(crate) fn tiff(kind: Tiff, w: u32, h: u32, multi: bool) -> Vec<u8> {
    use tiff::encoder::{Compression, DeflateLevel, TiffEncoder, colortype};
    let compression = match kind {
        Tiff::Lzw => Compression::Lzw,
        Tiff::Deflate => Compression::Deflate(DeflateLevel::Balanced),
        Tiff::PackBits => Compression::Packbits,
    };
    let mut out = Cursor::new(Vec::new());
    {
        let mut encoder = TiffEncoder::new(&mut out)
            .unwrap()
            .with_compression(compression);
        let page = scan_pixels(w, h, 3);
        encoder
            .write_image::<colortype::RGB8>(w, h, page.as_raw())
            .unwrap();
        if multi {
            // The second page is landscape and dark: a preview of it would show.
            let second = image::RgbImage::from_pixel(h / 2, w / 4, image::Rgb([10, 10, 10]));
            encoder
                .write_image::<colortype::RGB8>(h / 2, w / 4, second.as_raw())
                .unwrap();
        }
    }
    out.into_inner()
}

/// A deterministic stream of variations of `seed` (bit flips, byte changes, truncations,
/// splices, repeated blocks), for the robustness test and the fuzzer's seeds.
pub(crate) struct Mutator {
    state: u64,
}

impl Mutator {
    pub(crate) fn new(seed: u64) -> Self {
        Mutator {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One variation of `input`, with 1 to 8 changes.
    pub(crate) fn mutate(&mut self, input: &[u8], others: &[&[u8]]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(8) {
            if out.is_empty() {
                out.push(self.next() as u8);
            }
            let at = self.below(out.len());
            match self.below(7) {
                0 => out[at] ^= 1 << self.below(8),
                1 => out[at] = self.next() as u8,
                2 => out.truncate(at),
                3 => {
                    let n = self.below(64).min(out.len() - at);
                    out.drain(at..at + n);
                }
                4 => {
                    let other = others[self.below(others.len())];
                    let from = self.below(other.len());
                    let n = self.below(256).min(other.len() - from);
                    out.splice(at..at, other[from..from + n].iter().copied());
                }
                5 => {
                    let n = self.below(32).min(out.len() - at);
                    let block = out[at..at + n].to_vec();
                    for _ in 0..self.below(16) {
                        out.splice(at..at, block.iter().copied());
                    }
                }
                _ => {
                    // Numbers are what parsers trust: make one huge, zero or negative.
                    let digits: &[u8] = match self.below(4) {
                        0 => b"99999999",
                        1 => b"0",
                        2 => b"-1",
                        _ => b"4294967295",
                    };
                    if let Some(p) = out[at..].iter().position(|b| b.is_ascii_digit()) {
                        let s = at + p;
                        let e = s + out[s..].iter().take_while(|b| b.is_ascii_digit()).count();
                        out.splice(s..e, digits.iter().copied());
                    }
                }
            }
        }
        out
    }
}

/// A TIFF whose header says `w` × `h` grey pixels, uncompressed, in one strip, followed by 10 kB
/// of them: a decoder allocates the whole image before it finds the data short.
pub(crate) fn tiff_claiming(w: u32, h: u32) -> Vec<u8> {
    // (tag, type: 3 short or 4 long, value)
    let entries: [(u16, u16, u32); 9] = [
        (256, 4, w),
        (257, 4, h),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 200),
        (277, 3, 1),
        (278, 4, h),
        (279, 4, w.saturating_mul(h)),
    ];
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        if kind == 3 {
            out.extend_from_slice(&(value as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.resize(200, 0);
    out.extend((0..10_240u32).map(|i| i as u8));
    out
}
