//! An image's width and height from its header alone (PNG, JPEG, GIF, WebP), without decoding
//! it, so that `prepare` can tell whether Telegram will take the image as a photo.
//!
//! **Architecture Invariant:** reads at most 64 KB of a file, through positioned reads with a
//! budget, so a hostile header cannot make it read more; never follows a symlink; a header it
//! cannot make sense of is `None`, not an error.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// [`image_dimensions`] reads at most this many bytes of a file.
const HEADER_READ_BUDGET: u64 = 64 * 1024;

/// The (width, height) of an image, from its header only (no decoding), for
/// [`crate::telegram::photo_acceptable`]: PNG, JPEG (SOF markers), GIF, WebP (VP8, VP8L, VP8X).
/// `None` when the header can't be read or the format is another one.
///
/// Reads at most 64 KB. A JPEG is walked segment by segment with seeks, so a large EXIF or XMP
/// block before the frame header costs a few bytes, not its size.
pub fn image_dimensions(path: &Path) -> io::Result<Option<(u32, u32)>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    dimensions_of(file)
}

fn dimensions_of<R: Read + Seek>(reader: R) -> io::Result<Option<(u32, u32)>> {
    let mut source = Source {
        inner: reader,
        budget: HEADER_READ_BUDGET,
    };
    let mut head = [0u8; 32];
    let n = source.read_up_to(0, &mut head)?;
    let head = &head[..n];
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(png_dimensions(head));
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Ok(gif_dimensions(head));
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Ok(webp_dimensions(head));
    }
    if head.starts_with(&[0xFF, 0xD8]) {
        return jpeg_dimensions(&mut source);
    }
    Ok(None)
}

/// Positioned reads with a budget, so hostile input cannot make us read much.
struct Source<R> {
    inner: R,
    budget: u64,
}

impl<R: Read + Seek> Source<R> {
    /// Fills as much of `buf` as the file holds from `offset`; returns how many bytes.
    fn read_up_to(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.budget).unwrap_or(usize::MAX));
        self.inner.seek(SeekFrom::Start(offset))?;
        let mut filled = 0;
        while filled < want {
            match self.inner.read(&mut buf[filled..want]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.budget -= filled as u64;
        Ok(filled)
    }

    /// Reads exactly `buf.len()` bytes at `offset`; false when the file or the budget ends first.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<bool> {
        Ok(self.read_up_to(offset, buf)? == buf.len())
    }
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u32::from(u16::from_be_bytes([s[0], s[1]])))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u32::from(u16::from_le_bytes([s[0], s[1]])))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], 0]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// PNG: signature, then the IHDR chunk (length, "IHDR", width, height, big-endian).
fn png_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    if head.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((be32(head, 16)?, be32(head, 20)?))
}

/// GIF: "GIF8?a", then the logical screen's width and height, little-endian.
fn gif_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    Some((le16(head, 6)?, le16(head, 8)?))
}

/// WebP: "RIFF" size "WEBP", then the first chunk's fourcc and size; its data starts at 20.
fn webp_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    let data = 20;
    match head.get(12..16)? {
        // Lossy: a 3-byte frame tag, the start code, then 14-bit width and height.
        b"VP8 " => {
            if head.get(data + 3..data + 6)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            Some((
                le16(head, data + 6)? & 0x3FFF,
                le16(head, data + 8)? & 0x3FFF,
            ))
        }
        // Lossless: signature 0x2F, then width-1 and height-1 packed in 14 bits each.
        b"VP8L" => {
            if *head.get(data)? != 0x2F {
                return None;
            }
            let b = head.get(data + 1..data + 5)?;
            let (b0, b1, b2, b3) = (
                u32::from(b[0]),
                u32::from(b[1]),
                u32::from(b[2]),
                u32::from(b[3]),
            );
            let w = 1 + (b0 | (b1 & 0x3F) << 8);
            let h = 1 + ((b1 >> 6) | b2 << 2 | (b3 & 0x0F) << 10);
            Some((w, h))
        }
        // Extended: flags and reserved bytes, then canvas width-1 and height-1 in 24 bits each.
        b"VP8X" => Some((1 + le24(head, data + 4)?, 1 + le24(head, data + 7)?)),
        _ => None,
    }
}

/// JPEG: walk the marker segments from SOI until a start-of-frame, whose header holds
/// precision, height and width.
fn jpeg_dimensions<R: Read + Seek>(source: &mut Source<R>) -> io::Result<Option<(u32, u32)>> {
    /// Real files reach the frame header within a dozen segments.
    const MAX_STEPS: usize = 1024;
    let mut pos: u64 = 2;
    for _ in 0..MAX_STEPS {
        let mut marker = [0u8; 2];
        if !source.read_exact_at(pos, &mut marker)? || marker[0] != 0xFF {
            return Ok(None);
        }
        match marker[1] {
            // Fill byte: the marker starts one byte later.
            0xFF => pos += 1,
            // Markers without a length.
            0x01 | 0xD0..=0xD8 => pos += 2,
            // End of image, or image data, before any frame header.
            0xD9 | 0xDA => return Ok(None),
            // Start of frame (every coding process; C4, C8 and CC are other tables).
            0xC0..=0xCF if !matches!(marker[1], 0xC4 | 0xC8 | 0xCC) => {
                let mut frame = [0u8; 7];
                if !source.read_exact_at(pos + 2, &mut frame)? {
                    return Ok(None);
                }
                let (Some(height), Some(width)) = (be16(&frame, 3), be16(&frame, 5)) else {
                    return Ok(None);
                };
                return Ok(Some((width, height)));
            }
            _ => {
                let mut len = [0u8; 2];
                if !source.read_exact_at(pos + 2, &mut len)? {
                    return Ok(None);
                }
                let len = u16::from_be_bytes(len);
                if len < 2 {
                    return Ok(None);
                }
                pos += 2 + u64::from(len);
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    fn dims(bytes: &[u8]) -> Option<(u32, u32)> {
        dimensions_of(Cursor::new(bytes.to_vec())).unwrap()
    }

    pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF]);
        b
    }

    pub(crate) fn gif(w: u16, h: u16) -> Vec<u8> {
        let mut b = b"GIF89a".to_vec();
        b.extend_from_slice(&w.to_le_bytes());
        b.extend_from_slice(&h.to_le_bytes());
        b.extend_from_slice(&[0xF7, 0, 0]);
        b
    }

    fn riff(chunk: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&(4 + 8 + data.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WEBP");
        b.extend_from_slice(chunk);
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    fn webp_lossy(w: u16, h: u16) -> Vec<u8> {
        let mut data = vec![0x30, 0x01, 0x00, 0x9D, 0x01, 0x2A];
        data.extend_from_slice(&w.to_le_bytes());
        data.extend_from_slice(&h.to_le_bytes());
        data.extend_from_slice(&[0; 8]);
        riff(b"VP8 ", &data)
    }

    fn webp_lossless(w: u32, h: u32) -> Vec<u8> {
        let bits = (w - 1) | (h - 1) << 14;
        let mut data = vec![0x2F];
        data.extend_from_slice(&bits.to_le_bytes());
        data.extend_from_slice(&[0; 8]);
        riff(b"VP8L", &data)
    }

    fn webp_extended(w: u32, h: u32) -> Vec<u8> {
        let mut data = vec![0x10, 0, 0, 0];
        data.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
        data.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
        riff(b"VP8X", &data)
    }

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0xFF, marker];
        b.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
        b.extend_from_slice(payload);
        b
    }

    fn sof(marker: u8, w: u16, h: u16) -> Vec<u8> {
        let mut payload = vec![8];
        payload.extend_from_slice(&h.to_be_bytes());
        payload.extend_from_slice(&w.to_be_bytes());
        payload.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        segment(marker, &payload)
    }

    fn jpeg(before_frame: &[&[u8]], frame: Vec<u8>) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        for s in before_frame {
            b.extend_from_slice(s);
        }
        b.extend_from_slice(&frame);
        b.extend_from_slice(&segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]));
        b.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD9]);
        b
    }

    #[test]
    fn image_headers() {
        assert_eq!(dims(&png(1920, 1080)), Some((1920, 1080)));
        assert_eq!(dims(&png(u32::MAX, 1)), Some((u32::MAX, 1)));
        assert_eq!(dims(&gif(320, 200)), Some((320, 200)));
        assert_eq!(dims(&webp_lossy(640, 480)), Some((640, 480)));
        assert_eq!(dims(&webp_lossless(1, 1)), Some((1, 1)));
        assert_eq!(dims(&webp_lossless(16384, 16384)), Some((16384, 16384)));
        assert_eq!(dims(&webp_lossless(1000, 750)), Some((1000, 750)));
        assert_eq!(dims(&webp_extended(4000, 3000)), Some((4000, 3000)));
        assert_eq!(dims(&webp_extended(1 << 24, 1)), Some((1 << 24, 1)));

        let app0 = segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        let dqt = segment(0xDB, &[0; 65]);
        let dht = segment(0xC4, &[0; 30]);
        assert_eq!(dims(&jpeg(&[&app0], sof(0xC0, 800, 600))), Some((800, 600)));
        assert_eq!(dims(&jpeg(&[&app0, &dqt], sof(0xC2, 3, 4))), Some((3, 4)));
        // DHT (C4) is not a frame header even though it is in the C0..CF range.
        assert_eq!(dims(&jpeg(&[&dht, &dqt], sof(0xC1, 5, 6))), Some((5, 6)));
        // Fill bytes and a restart marker before a segment.
        let fill = vec![0xFF, 0xFF, 0xFF, 0xD0];
        assert_eq!(dims(&jpeg(&[&fill, &app0], sof(0xC0, 7, 8))), Some((7, 8)));
    }

    #[test]
    fn jpeg_frame_after_big_metadata() {
        // Phone photos carry EXIF and XMP blocks of up to 64 KB each before the frame header:
        // seeking past them keeps us under the read budget.
        let exif = segment(0xE1, &vec![0xAB; 65_000]);
        let xmp = segment(0xE1, &vec![0xCD; 65_000]);
        let file = jpeg(&[&exif, &xmp], sof(0xC0, 4032, 3024));
        let mut source = Source {
            inner: Cursor::new(file),
            budget: HEADER_READ_BUDGET,
        };
        assert_eq!(jpeg_dimensions(&mut source).unwrap(), Some((4032, 3024)));
        assert!(HEADER_READ_BUDGET - source.budget < 100);
    }

    #[test]
    fn truncated_and_garbage_headers() {
        let good = [
            png(10, 20),
            gif(10, 20),
            webp_lossy(10, 20),
            webp_lossless(10, 20),
            webp_extended(10, 20),
            jpeg(&[&segment(0xE0, &[0; 14])], sof(0xC0, 10, 20)),
        ];
        for file in &good {
            assert_eq!(dims(file), Some((10, 20)));
            for cut in 0..file.len() {
                // Whatever is missing, no panic; a header cut short is unreadable.
                let got = dims(&file[..cut]);
                assert!(
                    got.is_none() || got == Some((10, 20)),
                    "cut at {cut}: {got:?}"
                );
            }
        }

        assert_eq!(dims(b""), None);
        assert_eq!(dims(b"%PDF-1.7\n"), None);
        assert_eq!(dims(b"hello, world, this is not an image"), None);
        assert_eq!(dims(&[0xFF; 100_000]), None);
        assert_eq!(dims(&[0; 100]), None);
        // PNG whose first chunk is not IHDR.
        let mut bad_png = png(1, 1);
        bad_png[12..16].copy_from_slice(b"IDAT");
        assert_eq!(dims(&bad_png), None);
        // WebP with an unknown chunk or a broken signature.
        assert_eq!(dims(&riff(b"ALPH", &[0; 20])), None);
        let mut bad_lossy = webp_lossy(1, 1);
        bad_lossy[23] = 0;
        assert_eq!(dims(&bad_lossy), None);
        let mut bad_lossless = webp_lossless(1, 1);
        bad_lossless[20] = 0;
        assert_eq!(dims(&bad_lossless), None);
        // JPEG: a segment length below 2, garbage where a marker should be, SOS or EOI before
        // any frame, and an endless chain of empty segments.
        assert_eq!(
            dims(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0, 0, 0, 0]),
            None
        );
        assert_eq!(dims(&[0xFF, 0xD8, 0x12, 0x34, 0, 0]), None);
        assert_eq!(dims(&jpeg(&[], segment(0xDA, &[0; 4]))), None);
        assert_eq!(dims(&[0xFF, 0xD8, 0xFF, 0xD9]), None);
        let mut endless = vec![0xFF, 0xD8];
        for _ in 0..20_000 {
            endless.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x02]);
        }
        assert_eq!(dims(&endless), None);
    }

    #[test]
    fn image_dimensions_reads_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        std::fs::write(&path, png(64, 32)).unwrap();
        assert_eq!(image_dimensions(&path).unwrap(), Some((64, 32)));
        assert!(image_dimensions(&dir.path().join("missing.png")).is_err());
    }
}
