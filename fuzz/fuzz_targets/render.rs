//! Fuzzes `render::render`, `visible_len` and `split`: Markdown and plain text always render,
//! Markdown always comes out as HTML Telegram accepts, and splitting keeps every part valid,
//! within the limit, and every visible character.
//!
//! Input: two bytes (little-endian) choosing the limit, then the caption (lossy UTF-8). The same
//! caption is rendered as Markdown, HTML and plain text, and each result is split twice: at
//! `1 + n % 5000` and at the small `1 + n % 40`, where cuts actually happen.

#![no_main]

use dropcast::post::{Format, Rendered};
use dropcast::render::{render, split, visible_len};
use libfuzzer_sys::fuzz_target;

const MAX_LIMIT: usize = 5000;

fuzz_target!(|data: &[u8]| {
    let (n, source) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => return,
    };
    let source = String::from_utf8_lossy(source);
    let limits = [1 + n % MAX_LIMIT, 1 + n % 40];

    let markdown =
        render(&source, Format::Markdown).unwrap_or_else(|err| panic!("markdown refused: {err}"));
    assert_eq!(markdown.parse_mode.as_deref(), Some("HTML"));
    let again = render(&markdown.text, Format::Html)
        .unwrap_or_else(|err| panic!("markdown gave html Telegram refuses: {err}\n{markdown:?}"));
    assert_eq!(again, markdown, "rendered markdown is not trimmed");
    check_rendered(&markdown, &limits);

    let plain = render(&source, Format::Plain).unwrap_or_else(|err| panic!("plain refused: {err}"));
    assert_eq!(plain.parse_mode, None);
    assert_eq!(plain.text, source.trim());
    check_rendered(&plain, &limits);

    match render(&source, Format::Html) {
        Ok(html) => {
            assert_eq!(html.text, source.trim());
            check_rendered(&html, &limits);
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
});

fn check_rendered(r: &Rendered, limits: &[usize]) {
    let is_html = r.parse_mode.is_some();
    let visible = visible_text(r);
    assert_eq!(
        visible_len(r),
        visible.trim().encode_utf16().count(),
        "visible_len disagrees with the decoded text {visible:?} of {r:?}"
    );
    let all: String = visible.chars().filter(|c| !c.is_whitespace()).collect();

    for &limit in limits {
        let parts = split(r, limit);
        for part in &parts {
            assert_eq!(part.parse_mode, r.parse_mode, "{part:?}");
            if is_html && let Err(err) = render(&part.text, Format::Html) {
                panic!("part refused: {err}\n{part:?}\nof {r:?}, limit {limit}");
            }
            let shown = visible_text(part);
            let shown = shown.trim();
            let len = visible_len(part);
            assert_eq!(len, shown.encode_utf16().count(), "{part:?}");
            assert!(len > 0, "empty part {part:?} of {r:?}, limit {limit}");
            // split's doc: with a limit below 2, a character outside the BMP goes out alone.
            let lone_wide = limit < 2 && shown.chars().count() == 1 && len == 2;
            assert!(
                len <= limit || lone_wide,
                "part {part:?} is {len} long, limit {limit}, of {r:?}"
            );
        }
        let joined: String = parts
            .iter()
            .flat_map(|p| visible_text(p).chars().collect::<Vec<_>>())
            .filter(|c| !c.is_whitespace())
            .collect();
        assert_eq!(
            joined, all,
            "characters lost or added, limit {limit}, {r:?}"
        );
        if visible_len(r) <= limit {
            assert!(
                parts.len() <= 1,
                "{r:?} fits in {limit} but is split: {parts:?}"
            );
        }
    }
}

/// The text Telegram shows for `r`: tags dropped, entities decoded. Written apart from render.rs
/// on purpose, so that `visible_len` is checked against a second reading; `r` must be valid.
fn visible_text(r: &Rendered) -> String {
    if r.parse_mode.is_none() {
        return r.text.clone();
    }
    let text = r.text.as_str();
    let mut out = String::new();
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        match ch {
            '<' => {
                // Quotes appear in a valid tag only around attribute values.
                let mut quote = None;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| match quote {
                        Some(q) => {
                            if c == q {
                                quote = None;
                            }
                            false
                        }
                        None if c == '"' || c == '\'' => {
                            quote = Some(c);
                            false
                        }
                        None => c == '>',
                    })
                    .map(|(i, _)| i)
                    .unwrap_or_else(|| panic!("unfinished tag in {text:?}"));
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest
                    .find(';')
                    .unwrap_or_else(|| panic!("unfinished entity in {text:?}"));
                let name = &rest[1..end];
                let number = |digits: &str, radix| {
                    u32::from_str_radix(digits, radix)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or_else(|| panic!("entity {name:?} in {text:?}"))
                };
                out.push(match name {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    _ => match name.strip_prefix('#') {
                        Some(hex) if hex.starts_with(['x', 'X']) => number(&hex[1..], 16),
                        Some(decimal) => number(decimal, 10),
                        None => panic!("entity {name:?} in {text:?}"),
                    },
                });
                rest = &rest[end + 1..];
            }
            _ => {
                out.push(ch);
                rest = &rest[ch.len_utf8()..];
            }
        }
    }
    out
}
