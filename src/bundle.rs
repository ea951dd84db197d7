//! Which files belong together: media files and their sidecars, junk to leave alone, and the
//! pairing rules. Pure functions over names; the pipeline feeds them what it sees on disk.

use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};

/// A file type dropcast posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MediaType {
    Pdf,
    Jpeg,
    Png,
    Webp,
    Gif,
    /// A scanner's TIFF (`.tif`, `.tiff`): always a document (Telegram shows no TIFF photo),
    /// with a preview of its first page.
    Tiff,
    /// An extension from the config's `accept:`, sent as a document without content checks.
    Accepted,
}

impl MediaType {
    pub fn is_image(self) -> bool {
        matches!(
            self,
            MediaType::Jpeg | MediaType::Png | MediaType::Webp | MediaType::Gif
        )
    }

    /// What a clerk would call it, for reports.
    pub fn label(self) -> &'static str {
        match self {
            MediaType::Pdf => "PDF",
            MediaType::Jpeg => "JPEG image",
            MediaType::Png => "PNG image",
            MediaType::Webp => "WebP image",
            MediaType::Gif => "GIF image",
            MediaType::Tiff => "TIFF image",
            MediaType::Accepted => "document",
        }
    }

    /// Whether the first bytes of the file match the type its name claims.
    pub fn matches_content(self, head: &[u8]) -> bool {
        match self {
            // PDF readers accept the header within the first 1024 bytes.
            MediaType::Pdf => head.windows(5).take(1024).any(|w| w == b"%PDF-"),
            MediaType::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            MediaType::Png => head.starts_with(b"\x89PNG\r\n\x1a\n"),
            MediaType::Webp => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
            MediaType::Gif => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
            // Little-endian `II*\0` or big-endian `MM\0*` (BigTIFF: 43 instead of 42).
            MediaType::Tiff => [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]
                .iter()
                .any(|m| head.starts_with(*m)),
            MediaType::Accepted => true,
        }
    }
}

/// What a file in the inbox is to dropcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Media(MediaType),
    Sidecar,
    /// Not for dropcast: junk, temporary files, unknown extensions.
    Ignored,
}

/// Junk and temporary files of office tools, copiers, NAS boxes and sync tools, plus the
/// config's `ignore:` patterns.
pub struct Filter {
    accept: Vec<String>,
    ignore: GlobSet,
}

const JUNK_NAMES: &[&str] = &[
    "thumbs.db",
    "desktop.ini",
    "@eadir",
    "#recycle",
    ".ds_store",
    ".stfolder",
];
const JUNK_SUFFIXES: &[&str] = &[
    ".tmp",
    ".part",
    ".crdownload",
    ".partial",
    ".download",
    ".swp",
    "~",
];

impl Filter {
    pub fn new(accept: &[String], ignore: &[String]) -> Filter {
        let mut b = GlobSetBuilder::new();
        for p in ignore {
            // Validated in the config; a pattern matches a name anywhere or a relative path.
            if let Ok(g) = Glob::new(p) {
                b.add(g);
            }
            if !p.contains('/')
                && let Ok(g) = Glob::new(&format!("**/{p}"))
            {
                b.add(g);
            }
        }
        Filter {
            accept: accept.to_vec(),
            ignore: b.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }

    /// Whether a file or folder name is junk that dropcast never looks at.
    pub fn is_junk(name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        name.starts_with('.')
            || name.starts_with("~$")
            || name.starts_with("._")
            || JUNK_NAMES.contains(&lower.as_str())
            || JUNK_SUFFIXES.iter().any(|s| lower.ends_with(s))
    }

    /// Whether the config's `ignore:` patterns match this path relative to the inbox.
    pub fn is_ignored(&self, relative: &str) -> bool {
        self.ignore.is_match(relative)
    }

    /// Classifies a file by its name (`relative` is its path inside the inbox).
    pub fn classify(&self, relative: &str) -> Kind {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        if Self::is_junk(name) || self.is_ignored(relative) {
            return Kind::Ignored;
        }
        self.by_extension(name)
    }

    /// What a file name's extension alone makes it (no junk or `ignore:` check): a cheap first
    /// look for scans of big folders full of other files.
    pub fn by_extension(&self, name: &str) -> Kind {
        let Some((_, ext)) = name.rsplit_once('.') else {
            return Kind::Ignored;
        };
        let ext = ext.to_ascii_lowercase();
        match ext.as_str() {
            "yaml" | "yml" => Kind::Sidecar,
            "pdf" => Kind::Media(MediaType::Pdf),
            "jpg" | "jpeg" => Kind::Media(MediaType::Jpeg),
            "png" => Kind::Media(MediaType::Png),
            "webp" => Kind::Media(MediaType::Webp),
            "gif" => Kind::Media(MediaType::Gif),
            "tif" | "tiff" => Kind::Media(MediaType::Tiff),
            e if self.accept.iter().any(|a| a == e) => Kind::Media(MediaType::Accepted),
            _ => Kind::Ignored,
        }
    }
}

/// The media file that a junk name is still being downloaded or copied into
/// (`notice.pdf.part`, `notice.pdf.crdownload`…: `notice.pdf`), which its sidecar must wait for.
pub fn partial_media<'a>(name: &'a str, filter: &Filter) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    JUNK_SUFFIXES
        .iter()
        .filter(|s| **s != "~")
        .find_map(|s| lower.strip_suffix(s).map(|rest| &name[..rest.len()]))
        .filter(|rest| matches!(filter.classify(rest), Kind::Media(_)))
}

/// The names a media file's sidecar may have: `NAME.yaml`, `NAME.yml`, `NAME.pdf.yaml`,
/// `NAME.pdf.yml`, in the order they are preferred.
pub fn sidecar_names(media: &str) -> Vec<String> {
    let stem = media.rsplit_once('.').map_or(media, |(s, _)| s);
    vec![
        format!("{media}.yaml"),
        format!("{media}.yml"),
        format!("{stem}.yaml"),
        format!("{stem}.yml"),
    ]
}

/// The stem that names a bundle and its companion files (receipt, report): `notice.pdf` →
/// `notice`; a lone sidecar names the bundle by itself, so only `.yaml` goes: `notice.yaml` →
/// `notice`, `v1.2.yaml` → `v1.2`, `memo.pdf.yaml` → `memo.pdf`. Pairing does not use stems: a
/// media file's sidecar is found by [`sidecar_names`] (see `pairing::sidecar_of`).
pub fn stem(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    if let Some(rest) = [".yaml", ".yml"]
        .iter()
        .find_map(|s| lower.strip_suffix(s))
        .filter(|rest| !rest.is_empty())
    {
        return &name[..rest.len()];
    }
    match name.rfind('.') {
        Some(0) | None => name,
        Some(i) => &name[..i],
    }
}

/// A path's file name as text (lossy), for reports and logs.
pub fn file_name_of(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What to do with a settled media file that has no sidecar yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lone {
    /// Keep waiting until the given instant.
    Wait(Instant),
    /// Post it with the folder's default caption (`sidecar: optional`).
    PostWithDefaults,
    /// Give up: the sidecar is overdue (`sidecar: required`).
    Refuse,
}

/// The sidecar rule for a lone media file that was first seen at `first_seen`.
pub fn lone_media(
    required: bool,
    wait: Duration,
    timeout: Duration,
    first_seen: Instant,
    settled_at: Instant,
    now: Instant,
) -> Lone {
    if required {
        let deadline = first_seen + timeout;
        if now >= deadline {
            Lone::Refuse
        } else {
            Lone::Wait(deadline)
        }
    } else {
        let deadline = settled_at.max(first_seen + wait);
        if now >= deadline {
            Lone::PostWithDefaults
        } else {
            Lone::Wait(deadline)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: Kind) {
        let f = Filter::new(&["docx".into()], &["*.bak".into(), "drafts/**".into()]);
        assert_eq!(f.classify(name), expected, "{name}");
    }

    #[test]
    fn classification() {
        check("notice.pdf", Kind::Media(MediaType::Pdf));
        check("NOTICE.PDF", Kind::Media(MediaType::Pdf));
        check("photo.JPG", Kind::Media(MediaType::Jpeg));
        check("a/b/photo.jpeg", Kind::Media(MediaType::Jpeg));
        check("x.png", Kind::Media(MediaType::Png));
        check("x.webp", Kind::Media(MediaType::Webp));
        check("scan-0001.TIF", Kind::Media(MediaType::Tiff));
        check("scan.tiff", Kind::Media(MediaType::Tiff));
        check("x.gif", Kind::Media(MediaType::Gif));
        check("letter.docx", Kind::Media(MediaType::Accepted));
        check("notice.yaml", Kind::Sidecar);
        check("notice.pdf.yml", Kind::Sidecar);
        check("notes.txt", Kind::Ignored);
        check("README", Kind::Ignored);
        check(".hidden.pdf", Kind::Ignored);
        check("~$notice.pdf", Kind::Ignored);
        check("notice.pdf.part", Kind::Ignored);
        check("notice.pdf.crdownload", Kind::Ignored);
        check("notice.tmp", Kind::Ignored);
        check(".~lock.notice.odt#", Kind::Ignored);
        check("Thumbs.db", Kind::Ignored);
        check("desktop.ini", Kind::Ignored);
        check(".DS_Store", Kind::Ignored);
        check("._notice.pdf", Kind::Ignored);
        check("old.pdf.bak", Kind::Ignored);
        check("sub/old.bak", Kind::Ignored);
        check("drafts/notice.pdf", Kind::Ignored);
    }

    #[test]
    fn partial_downloads_of_media() {
        let f = Filter::new(&[], &[]);
        assert_eq!(partial_media("notice.pdf.part", &f), Some("notice.pdf"));
        assert_eq!(
            partial_media("notice.PDF.crdownload", &f),
            Some("notice.PDF")
        );
        assert_eq!(partial_media("memo.yaml~", &f), None);
        assert_eq!(partial_media("memo.txt.tmp", &f), None);
        assert_eq!(partial_media("notice.pdf", &f), None);
    }

    #[test]
    fn magic_bytes() {
        assert!(MediaType::Pdf.matches_content(b"%PDF-1.7\n"));
        assert!(MediaType::Pdf.matches_content(b"\xef\xbb\xbf%PDF-1.4"));
        assert!(!MediaType::Pdf.matches_content(b"<html>"));
        assert!(!MediaType::Pdf.matches_content(b""));
        assert!(MediaType::Png.matches_content(b"\x89PNG\r\n\x1a\n...."));
        assert!(!MediaType::Png.matches_content(b"\xFF\xD8\xFF"));
        assert!(MediaType::Jpeg.matches_content(b"\xFF\xD8\xFF\xE0"));
        assert!(MediaType::Webp.matches_content(b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(MediaType::Tiff.matches_content(b"II*\0\x08\0\0\0"));
        assert!(MediaType::Tiff.matches_content(b"MM\0*\0\0\0\x08"));
        assert!(!MediaType::Tiff.matches_content(b"%PDF-1.4"));
        assert!(MediaType::Gif.matches_content(b"GIF89a"));
    }

    #[test]
    fn sidecar_pairing_names() {
        assert_eq!(
            sidecar_names("notice.pdf"),
            vec![
                "notice.pdf.yaml",
                "notice.pdf.yml",
                "notice.yaml",
                "notice.yml"
            ]
        );
    }

    #[test]
    fn lone_media_rules() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(
            lone_media(true, s(30), s(3600), t0, t0, t0 + s(10)),
            Lone::Wait(t0 + s(3600))
        );
        assert_eq!(
            lone_media(true, s(30), s(3600), t0, t0, t0 + s(3600)),
            Lone::Refuse
        );
        assert_eq!(
            lone_media(false, s(30), s(3600), t0, t0 + s(3), t0 + s(10)),
            Lone::Wait(t0 + s(30))
        );
        assert_eq!(
            lone_media(false, s(30), s(3600), t0, t0 + s(3), t0 + s(30)),
            Lone::PostWithDefaults
        );
    }
}
