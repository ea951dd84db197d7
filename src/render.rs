//! Markdown, HTML and plain captions turned into what Telegram accepts.
//!
//! Telegram's HTML parse mode takes a small subset of HTML and refuses the whole request ("can't
//! parse entities") on anything else, so every caption passes through here before it goes out:
//! markdown is converted and everything that is not markup is escaped, html is checked against the
//! subset, plain text is left alone. [`split`] cuts a text that is too long into several messages
//! without breaking the markup, and [`visible_len`] measures text the way Telegram does.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, LinkType, Options, Parser, Tag, TagEnd};

use crate::post::{Format, Rendered};

/// Telegram's limit for a media caption, in UTF-16 code units after entity parsing.
pub const CAPTION_LIMIT: usize = 1024;
/// Telegram's limit for a text message, in UTF-16 code units after entity parsing.
pub const TEXT_LIMIT: usize = 4096;

const HTML: &str = "HTML";

/// Why a caption cannot be sent as written. Byte offsets count from 0 in the caption as the clerk
/// wrote it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RenderError {
    #[error("html not allowed by Telegram: `{tag}` at byte {at}")]
    NotAllowed { tag: String, at: usize },
    #[error("`<br>` at byte {at} is not allowed by Telegram: write a newline instead")]
    LineBreak { at: usize },
    #[error("`<{tag}/>` at byte {at} is not allowed by Telegram: write `<{tag}>…</{tag}>`")]
    SelfClosing { tag: String, at: usize },
    #[error("attribute `{attr}` of `<{tag}>` at byte {at} is not allowed by Telegram")]
    Attribute {
        tag: String,
        attr: String,
        at: usize,
    },
    #[error("`<{tag}>` at byte {at} needs a `{attr}` attribute")]
    MissingAttribute {
        tag: String,
        attr: &'static str,
        at: usize,
    },
    #[error("attribute `{attr}` of `<{tag}>` at byte {at} must be {expected}")]
    BadAttribute {
        tag: String,
        attr: String,
        at: usize,
        expected: &'static str,
    },
    #[error("`<{tag}>` at byte {at} is not allowed inside `<{parent}>` by Telegram")]
    Nested {
        tag: String,
        parent: String,
        at: usize,
    },
    #[error("bare `<` at byte {at}: write `&lt;` for a literal `<`")]
    BareLessThan { at: usize },
    #[error("malformed tag at byte {at}: finish it with `>` or write `&lt;` for a literal `<`")]
    MalformedTag { at: usize },
    #[error("bare `&` at byte {at}: write `&amp;` for a literal `&`")]
    BareAmpersand { at: usize },
    #[error(
        "entity `{entity}` at byte {at} is not allowed by Telegram: use `&lt;`, `&gt;`, `&amp;`, `&quot;` or a numeric one like `&#169;`"
    )]
    UnknownEntity { entity: String, at: usize },
    #[error("entity `{entity}` at byte {at} is not a valid character")]
    BadCharacter { entity: String, at: usize },
    #[error("unbalanced `<{tag}>` at byte {at}: it is never closed")]
    Unclosed { tag: String, at: usize },
    #[error("unbalanced `</{tag}>` at byte {at}: no `<{tag}>` is open")]
    Unopened { tag: String, at: usize },
    #[error(
        "misnested `</{tag}>` at byte {at}: `<{open}>` from byte {open_at} must be closed first"
    )]
    Misnested {
        tag: String,
        at: usize,
        open: String,
        open_at: usize,
    },
}

impl RenderError {
    /// The same in Italian, for a report in the clerk's language (`Display` is English, for
    /// logs and English reports).
    pub fn italian(&self) -> String {
        use RenderError as E;
        let expected_it = |e: &str| match e {
            "a url" => "un indirizzo web".to_string(),
            "an http, https, tg or mailto link" => {
                "un link che comincia con http, https, tg o mailto".to_string()
            }
            "absent outside `<pre>`" => "assente fuori da `<pre>`".to_string(),
            "a number" => "un numero".to_string(),
            other => other.to_string(),
        };
        match self {
            E::NotAllowed { tag, at } => {
                format!("Telegram non accetta il codice html `{tag}` (alla posizione {at})")
            }
            E::LineBreak { at } => format!(
                "Telegram non accetta `<br>` (alla posizione {at}): vai semplicemente a capo"
            ),
            E::SelfClosing { tag, at } => format!(
                "Telegram non accetta `<{tag}/>` (alla posizione {at}): scrivi `<{tag}>…</{tag}>`"
            ),
            E::Attribute { tag, attr, at } => format!(
                "Telegram non accetta l'attributo `{attr}` di `<{tag}>` (alla posizione {at})"
            ),
            E::MissingAttribute { tag, attr, at } => {
                format!("a `<{tag}>` (alla posizione {at}) manca l'attributo `{attr}`")
            }
            E::BadAttribute {
                tag,
                attr,
                at,
                expected,
            } => format!(
                "l'attributo `{attr}` di `<{tag}>` (alla posizione {at}) deve essere {}",
                expected_it(expected)
            ),
            E::Nested { tag, parent, at } => {
                format!("Telegram non accetta `<{tag}>` dentro `<{parent}>` (alla posizione {at})")
            }
            E::BareLessThan { at } => format!(
                "un `<` da solo (alla posizione {at}): per scrivere il simbolo `<` usa `&lt;`"
            ),
            E::MalformedTag { at } => format!(
                "un codice html non finito (alla posizione {at}): chiudilo con `>`, oppure per il simbolo `<` usa `&lt;`"
            ),
            E::BareAmpersand { at } => format!(
                "una `&` da sola (alla posizione {at}): per scrivere il simbolo `&` usa `&amp;`"
            ),
            E::UnknownEntity { entity, at } => format!(
                "Telegram non accetta `{entity}` (alla posizione {at}): usa `&lt;`, `&gt;`, `&amp;`, `&quot;` o un codice numerico come `&#169;`"
            ),
            E::BadCharacter { entity, at } => {
                format!("`{entity}` (alla posizione {at}) non è un carattere valido")
            }
            E::Unclosed { tag, at } => {
                format!("`<{tag}>` (alla posizione {at}) si apre e non si chiude mai")
            }
            E::Unopened { tag, at } => {
                format!("`</{tag}>` (alla posizione {at}) chiude un `<{tag}>` che non è aperto")
            }
            E::Misnested {
                tag,
                at,
                open,
                open_at,
            } => format!(
                "`</{tag}>` (alla posizione {at}) arriva prima della chiusura di `<{open}>` (aperto alla posizione {open_at}): chiudi prima `<{open}>`"
            ),
        }
    }
}

/// Source text as the clerk wrote it → Telegram-ready text.
///
/// Markdown never fails: whatever markdown cannot express comes out as escaped text. Html is
/// checked, not repaired, because guessing what a clerk meant by broken markup would post
/// something nobody wrote. Surrounding whitespace is trimmed for every format, as Telegram does.
pub fn render(source: &str, format: Format) -> Result<Rendered, RenderError> {
    Ok(match format {
        Format::Markdown => Rendered {
            text: markdown_to_html(source),
            parse_mode: Some(HTML.to_string()),
        },
        Format::Html => {
            validate_html(source)?;
            Rendered {
                text: source.trim().to_string(),
                parse_mode: Some(HTML.to_string()),
            }
        }
        Format::Plain => Rendered {
            text: source.trim().to_string(),
            parse_mode: None,
        },
    })
}

/// The text a reader sees: tags stripped, entities decoded, surrounding whitespace trimmed.
pub fn visible_text(r: &Rendered) -> String {
    let text: String = tokens(r)
        .iter()
        .filter_map(|t| match t {
            Tok::Char { ch, .. } => Some(*ch),
            _ => None,
        })
        .collect();
    text.trim().to_string()
}

/// Length as Telegram counts it: after entity parsing (tags stripped, entities decoded), in UTF-16
/// code units, after trimming surrounding whitespace.
pub fn visible_len(r: &Rendered) -> usize {
    let toks = tokens(r);
    let text: String = toks
        .iter()
        .filter_map(|t| match t {
            Tok::Char { ch, .. } => Some(*ch),
            _ => None,
        })
        .collect();
    text.trim().encode_utf16().count()
}

/// Splits into messages of at most `limit` visible length each: at paragraph boundaries first,
/// then sentence, then word boundaries, then hard cut (never inside a UTF-16 surrogate pair, an
/// HTML entity, or a tag). Formatting stays valid: a tag open at a cut is closed at the end of the
/// part and reopened at the start of the next. Empty parts are dropped.
///
/// A part always holds at least one character, or splitting would never end: with a `limit`
/// below 2, a character outside the BMP (with 0, any character) goes out alone, over the limit.
pub fn split(r: &Rendered, limit: usize) -> Vec<Rendered> {
    let toks = tokens(r);
    // Cuts are chosen on visible characters only, so tags and entities can never be cut.
    let chars: Vec<(usize, char)> = toks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Tok::Char { ch, .. } => Some((i, *ch)),
            _ => None,
        })
        .collect();
    let visible: Vec<char> = chars.iter().map(|&(_, ch)| ch).collect();

    let mut parts = Vec::new();
    let mut stack: Vec<(&str, &str)> = Vec::new();
    let mut done = 0;
    for Range { start, end } in cut(&visible, limit) {
        // Tags between two parts: closing ones finish the part before, opening ones start the next.
        let mut first = chars[start].0;
        while first > done && matches!(toks[first - 1], Tok::Open { .. }) {
            first -= 1;
        }
        let mut last = chars[end - 1].0 + 1;
        while matches!(toks.get(last), Some(Tok::Close { .. })) {
            last += 1;
        }
        for t in &toks[done..first] {
            apply(&mut stack, t);
        }
        let mut text: String = stack.iter().map(|(_, raw)| *raw).collect();
        for t in &toks[first..last] {
            text.push_str(t.raw());
            apply(&mut stack, t);
        }
        for (name, _) in stack.iter().rev() {
            text.push_str(&format!("</{name}>"));
        }
        parts.push(Rendered {
            text,
            parse_mode: r.parse_mode.clone(),
        });
        done = last;
    }
    parts
}

// ---------------------------------------------------------------------------------------------
// Markdown

fn markdown_to_html(source: &str) -> String {
    // Clerks on Windows save CRLF; a stray `\r` would end up inside `<pre>` and in counts.
    let source = source.replace("\r\n", "\n").replace('\r', "\n");
    let mut w = Writer {
        src: &source,
        out: String::new(),
        pending: None,
        implicit: false,
        in_leaf: false,
        last_inline_end: 0,
        indent: Vec::new(),
        lists: Vec::new(),
        depth: Depth::default(),
        links: Vec::new(),
        code: None,
    };
    for (event, range) in Parser::new_ext(&source, Options::ENABLE_STRIKETHROUGH).into_offset_iter()
    {
        w.event(event, range);
    }
    w.out.trim().to_string()
}

/// How many times each style is open. Only the outermost one writes its tag: nested
/// `<b><b>` or `<blockquote><blockquote>` say nothing more and Telegram refuses nested quotes.
#[derive(Default)]
struct Depth {
    bold: u32,
    italic: u32,
    strike: u32,
    quote: u32,
}

struct Writer<'s> {
    src: &'s str,
    out: String,
    /// Where the last finished block ended in the source, while its separator is not yet written.
    pending: Option<usize>,
    /// Inline content outside any paragraph (a tight list item) is a block of its own.
    implicit: bool,
    /// Inside a paragraph, heading, code or html block, whose separator is already written.
    in_leaf: bool,
    /// Where the inline content read so far ends in the source: the end of an implicit block.
    last_inline_end: usize,
    /// Width of each open list item's marker: continuation lines line up under its text.
    indent: Vec<usize>,
    /// The next number of each open list, `None` for bullets.
    lists: Vec<Option<u64>>,
    depth: Depth,
    /// For each open link or image: the output length after its `<a>` and its url, if it wrote one.
    links: Vec<Option<(usize, String)>>,
    /// The text of the code block being read, and whether it has a language.
    code: Option<(String, bool)>,
}

impl Writer<'_> {
    fn event(&mut self, event: Event<'_>, range: Range<usize>) {
        match event {
            Event::Start(tag) => self.start(tag, range),
            Event::End(tag) => self.end(tag, range),
            Event::Text(t) => {
                if let Some((code, _)) = &mut self.code {
                    code.push_str(&t);
                } else {
                    self.inline(&range);
                    self.text(&t);
                }
            }
            Event::Code(t) => {
                self.inline(&range);
                // Telegram does not let code sit inside a link.
                if self.in_link() {
                    self.text(&t);
                } else {
                    self.out.push_str("<code>");
                    escape_into(&mut self.out, &t);
                    self.out.push_str("</code>");
                }
            }
            Event::Html(t)
            | Event::InlineHtml(t)
            | Event::InlineMath(t)
            | Event::DisplayMath(t) => {
                self.inline(&range);
                self.text(&t);
            }
            Event::FootnoteReference(label) => {
                self.inline(&range);
                self.text(&format!("[^{label}]"));
            }
            Event::TaskListMarker(done) => {
                self.inline(&range);
                self.text(if done { "[x] " } else { "[ ] " });
            }
            Event::SoftBreak | Event::HardBreak => {
                self.inline(&range);
                self.newline();
            }
            Event::Rule => {
                self.block_start(range.start);
                self.out.push_str("———");
                self.block_end(range.end);
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>, range: Range<usize>) {
        match tag {
            Tag::Paragraph | Tag::HtmlBlock => {
                self.block_start(range.start);
                self.in_leaf = true;
            }
            Tag::Heading { .. } => {
                self.block_start(range.start);
                self.in_leaf = true;
                open(&mut self.out, &mut self.depth.bold, "b");
            }
            Tag::BlockQuote(_) => {
                self.block_start(range.start);
                open(&mut self.out, &mut self.depth.quote, "blockquote");
                self.pending = None;
            }
            Tag::CodeBlock(kind) => {
                self.block_start(range.start);
                self.in_leaf = true;
                self.out.push_str("<pre>");
                let lang = match &kind {
                    CodeBlockKind::Fenced(info) => info
                        .split(|c: char| c.is_whitespace() || c == ',')
                        .next()
                        .filter(|l| !l.is_empty()),
                    CodeBlockKind::Indented => None,
                };
                if let Some(lang) = lang {
                    self.out.push_str("<code class=\"language-");
                    escape_attr_into(&mut self.out, lang);
                    self.out.push_str("\">");
                }
                self.code = Some((String::new(), lang.is_some()));
            }
            Tag::List(first) => {
                self.close_implicit();
                self.lists.push(first);
            }
            Tag::Item => {
                self.block_start(range.start);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let marker = format!("{n}. ");
                        *n += 1;
                        marker
                    }
                    _ => "• ".to_string(),
                };
                self.out.push_str(&marker);
                self.indent.push(marker.chars().count());
                self.pending = None;
            }
            Tag::Emphasis => {
                self.inline(&range);
                open(&mut self.out, &mut self.depth.italic, "i");
            }
            Tag::Strong => {
                self.inline(&range);
                open(&mut self.out, &mut self.depth.bold, "b");
            }
            Tag::Strikethrough => {
                self.inline(&range);
                open(&mut self.out, &mut self.depth.strike, "s");
            }
            Tag::Link {
                link_type,
                dest_url,
                ..
            }
            | Tag::Image {
                link_type,
                dest_url,
                ..
            } => {
                self.inline(&range);
                let url = if link_type == LinkType::Email {
                    format!("mailto:{dest_url}")
                } else {
                    dest_url.to_string()
                };
                // A link inside a link (an image inside one) keeps only the outer one.
                if !self.in_link() && allowed_url(&url) {
                    self.out.push_str("<a href=\"");
                    escape_attr_into(&mut self.out, &url);
                    self.out.push_str("\">");
                    self.links.push(Some((self.out.len(), url)));
                } else {
                    self.links.push(None);
                }
            }
            // Not enabled in the parser options: footnotes, tables, definition lists, metadata,
            // super- and subscript.
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd, range: Range<usize>) {
        match tag {
            TagEnd::Paragraph => {
                self.in_leaf = false;
                self.block_end(range.end);
            }
            TagEnd::Heading(_) => {
                close(&mut self.out, &mut self.depth.bold, "b");
                self.in_leaf = false;
                self.block_end(range.end);
            }
            TagEnd::HtmlBlock => {
                // Each html line comes with its line break; the block separator adds its own.
                self.out.truncate(self.out.trim_end().len());
                self.in_leaf = false;
                self.block_end(range.end);
            }
            TagEnd::BlockQuote(_) => {
                self.close_implicit();
                close(&mut self.out, &mut self.depth.quote, "blockquote");
                self.block_end(range.end);
            }
            TagEnd::CodeBlock => {
                let (code, lang) = self.code.take().unwrap_or_default();
                escape_into(&mut self.out, code.strip_suffix('\n').unwrap_or(&code));
                if lang {
                    self.out.push_str("</code>");
                }
                self.out.push_str("</pre>");
                self.in_leaf = false;
                self.block_end(range.end);
            }
            TagEnd::List(_) => {
                self.close_implicit();
                self.lists.pop();
                self.block_end(range.end);
            }
            TagEnd::Item => {
                self.close_implicit();
                self.indent.pop();
                self.block_end(range.end);
            }
            TagEnd::Emphasis => close(&mut self.out, &mut self.depth.italic, "i"),
            TagEnd::Strong => close(&mut self.out, &mut self.depth.bold, "b"),
            TagEnd::Strikethrough => close(&mut self.out, &mut self.depth.strike, "s"),
            TagEnd::Link | TagEnd::Image => {
                if let Some(Some((len, url))) = self.links.pop() {
                    // Telegram drops a link without text; the clerk still wants it seen.
                    if self.out[len..].trim().is_empty() {
                        self.out.truncate(len);
                        self.text(&url);
                    }
                    self.out.push_str("</a>");
                }
            }
            _ => {}
        }
    }

    fn in_link(&self) -> bool {
        self.links.iter().any(Option::is_some)
    }

    fn inline(&mut self, range: &Range<usize>) {
        if !self.in_leaf && !self.implicit {
            self.block_start(range.start);
            self.implicit = true;
        }
        self.last_inline_end = self.last_inline_end.max(range.end);
    }

    fn close_implicit(&mut self) {
        if self.implicit {
            self.implicit = false;
            self.pending = Some(self.last_inline_end);
        }
    }

    /// Separates a block from the one before: a blank line if the clerk left one, else a line
    /// break, so that a list written right under its title stays right under it.
    fn block_start(&mut self, start: usize) {
        self.close_implicit();
        if let Some(prev_end) = self.pending.take() {
            self.out.truncate(self.out.trim_end_matches(' ').len());
            self.out.push('\n');
            if blank_line_between(self.src, prev_end, start) {
                self.out.push('\n');
            }
            self.push_indent();
        }
    }

    fn block_end(&mut self, end: usize) {
        self.close_implicit();
        self.pending = Some(end);
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.push_indent();
    }

    fn push_indent(&mut self) {
        let width: usize = self.indent.iter().sum();
        self.out.extend(std::iter::repeat_n(' ', width));
    }

    fn text(&mut self, text: &str) {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.newline();
            }
            escape_into(&mut self.out, line);
        }
    }
}

fn open(out: &mut String, depth: &mut u32, tag: &str) {
    if *depth == 0 {
        out.push_str(&format!("<{tag}>"));
    }
    *depth += 1;
}

fn close(out: &mut String, depth: &mut u32, tag: &str) {
    if *depth == 1 {
        out.push_str(&format!("</{tag}>"));
    }
    *depth = depth.saturating_sub(1);
}

/// Whether a blank line separates the end of one block from the start of the next. Lines holding
/// only blockquote markers count as blank: that is how a clerk leaves a blank line in a quote.
fn blank_line_between(src: &str, prev_end: usize, next_start: usize) -> bool {
    let end = next_start.min(src.len());
    let head = src[..prev_end.min(end)].trim_end_matches(|c: char| c.is_whitespace() || c == '>');
    let mut lines: Vec<&str> = src[head.len()..end].split('\n').collect();
    // The first piece is the rest of the block's last line, the last the start of the next block.
    lines.pop();
    lines.iter().skip(1).any(|l| {
        l.trim_matches(|c: char| c.is_whitespace() || c == '>')
            .is_empty()
    })
}

/// Only schemes a channel reader can safely open; anything else (`javascript:`, relative paths,
/// `file:`) would be refused by Telegram or is not meant for a public post.
fn allowed_url(url: &str) -> bool {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => rest
            .strip_prefix("//")
            .is_some_and(|host| !host.is_empty() && !host.starts_with('/')),
        "tg" | "mailto" => !rest.is_empty(),
        _ => false,
    }
}

fn escape_into(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(ch),
        }
    }
}

fn escape_attr_into(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("&quot;"),
            _ => escape_into(out, ch.encode_utf8(&mut [0; 4])),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Telegram's HTML subset

/// The tags Telegram's HTML parse mode knows; synonyms (`strong` for `b`) included.
#[rustfmt::skip]
const TAGS: &[&str] = &[
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote",
    "tg-spoiler", "span", "tg-emoji",
];

#[derive(Debug)]
struct Attr {
    name: String,
    /// Entities decoded; `None` for a bare attribute like `expandable`.
    value: Option<String>,
}

/// One piece of Telegram HTML: a visible character (raw, or one entity), or a tag.
#[derive(Debug)]
enum Tok<'a> {
    Char {
        raw: &'a str,
        ch: char,
    },
    Open {
        name: String,
        raw: &'a str,
        at: usize,
        attrs: Vec<Attr>,
        self_closing: bool,
    },
    Close {
        name: String,
        raw: &'a str,
        at: usize,
    },
}

impl<'a> Tok<'a> {
    fn raw(&self) -> &'a str {
        match self {
            Tok::Char { raw, .. } | Tok::Open { raw, .. } | Tok::Close { raw, .. } => raw,
        }
    }
}

/// The pieces of a rendered text. Text that claims to be HTML but does not tokenize is taken as
/// characters, so that measuring and splitting never fail; [`render`] never produces such text.
fn tokens(r: &Rendered) -> Vec<Tok<'_>> {
    let is_html = r
        .parse_mode
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case(HTML));
    is_html
        .then(|| tokenize(&r.text).ok())
        .flatten()
        .unwrap_or_else(|| plain_tokens(&r.text))
}

fn plain_tokens(text: &str) -> Vec<Tok<'_>> {
    text.char_indices()
        .map(|(i, ch)| Tok::Char {
            raw: &text[i..i + ch.len_utf8()],
            ch,
        })
        .collect()
}

/// Splits HTML into characters and tags, refusing what Telegram's parser cannot read. Which tags
/// and attributes are allowed is [`validate_html`]'s business.
fn tokenize(html: &str) -> Result<Vec<Tok<'_>>, RenderError> {
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(ch) = html[i..].chars().next() {
        let end = match ch {
            '<' => {
                let (tok, end) = parse_tag(html, i)?;
                toks.push(tok);
                end
            }
            '&' => {
                let (ch, end) = parse_entity(html, i)?;
                toks.push(Tok::Char {
                    raw: &html[i..end],
                    ch,
                });
                end
            }
            _ => {
                let end = i + ch.len_utf8();
                toks.push(Tok::Char {
                    raw: &html[i..end],
                    ch,
                });
                end
            }
        };
        i = end;
    }
    Ok(toks)
}

fn parse_tag(html: &str, at: usize) -> Result<(Tok<'_>, usize), RenderError> {
    let b = html.as_bytes();
    let mut i = at + 1;
    let closing = b.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return Err(RenderError::BareLessThan { at });
    }
    let name_start = i;
    while b
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
    {
        i += 1;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    let skip_ws = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    if closing {
        i = skip_ws(i);
        return match b.get(i) {
            Some(b'>') => Ok((
                Tok::Close {
                    name,
                    raw: &html[at..=i],
                    at,
                },
                i + 1,
            )),
            _ => Err(RenderError::MalformedTag { at }),
        };
    }
    let mut attrs = Vec::new();
    loop {
        i = skip_ws(i);
        let self_closing = match (b.get(i), b.get(i + 1)) {
            (Some(b'>'), _) => false,
            (Some(b'/'), Some(b'>')) => {
                i += 1;
                true
            }
            (Some(c), _) if c.is_ascii_alphabetic() || *c == b'_' => {
                let attr_start = i;
                while b
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || b"_-:.".contains(c))
                {
                    i += 1;
                }
                let attr = html[attr_start..i].to_ascii_lowercase();
                let after = skip_ws(i);
                let value = if b.get(after) == Some(&b'=') {
                    let (value, end) = parse_attr_value(html, skip_ws(after + 1), at)?;
                    i = end;
                    Some(value)
                } else {
                    None
                };
                attrs.push(Attr { name: attr, value });
                continue;
            }
            _ => return Err(RenderError::MalformedTag { at }),
        };
        let tok = Tok::Open {
            name,
            raw: &html[at..=i],
            at,
            attrs,
            self_closing,
        };
        return Ok((tok, i + 1));
    }
}

/// Reads a quoted or bare attribute value starting at `i`; returns it decoded and where it ends.
fn parse_attr_value(html: &str, i: usize, tag_at: usize) -> Result<(String, usize), RenderError> {
    let b = html.as_bytes();
    let (start, end, next) = match b.get(i) {
        Some(&q @ (b'"' | b'\'')) => {
            let len = html[i + 1..]
                .find(q as char)
                .ok_or(RenderError::MalformedTag { at: tag_at })?;
            (i + 1, i + 1 + len, i + 2 + len)
        }
        _ => {
            let mut end = i;
            while b
                .get(end)
                .is_some_and(|c| !c.is_ascii_whitespace() && !b"\"'<>=`".contains(c))
            {
                end += 1;
            }
            if end == i {
                return Err(RenderError::MalformedTag { at: tag_at });
            }
            (i, end, end)
        }
    };
    let mut value = String::new();
    let mut j = start;
    while let Some(ch) = html[j..end].chars().next() {
        if ch == '&' {
            let (ch, after) = parse_entity(&html[..end], j)?;
            value.push(ch);
            j = after;
        } else {
            value.push(ch);
            j += ch.len_utf8();
        }
    }
    Ok((value, next))
}

/// Reads the entity at `at` (which holds `&`); returns its character and where it ends.
fn parse_entity(html: &str, at: usize) -> Result<(char, usize), RenderError> {
    let rest = &html[at + 1..];
    let bare = RenderError::BareAmpersand { at };
    if let Some(num) = rest.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        let len = digits
            .bytes()
            .take_while(|c| c.is_ascii_digit() || (radix == 16 && c.is_ascii_hexdigit()))
            .count();
        if len == 0 || digits.as_bytes().get(len) != Some(&b';') {
            return Err(bare);
        }
        let end = at + 1 + (rest.len() - digits.len()) + len + 1;
        let ch = u32::from_str_radix(&digits[..len], radix)
            .ok()
            .filter(|&n| n != 0)
            .and_then(char::from_u32);
        return match ch {
            Some(ch) => Ok((ch, end)),
            None => Err(RenderError::BadCharacter {
                entity: html[at..end].to_string(),
                at,
            }),
        };
    }
    let len = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if len == 0 || rest.as_bytes().get(len) != Some(&b';') {
        return Err(bare);
    }
    let end = at + len + 2;
    let ch = match &rest[..len] {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            return Err(RenderError::UnknownEntity {
                entity: html[at..end].to_string(),
                at,
            });
        }
    };
    Ok((ch, end))
}

/// Checks text against Telegram's HTML subset: the tags and attributes it knows, properly nested
/// and closed, only the entities it decodes, and no nesting Telegram forbids (anything inside
/// code, a link in a link, a quote in a quote).
fn validate_html(html: &str) -> Result<(), RenderError> {
    let mut open: Vec<(&str, usize)> = Vec::new();
    let toks = tokenize(html)?;
    for tok in &toks {
        match tok {
            Tok::Char { .. } => {}
            Tok::Open {
                name,
                at,
                attrs,
                self_closing,
                ..
            } => {
                check_open(name, *at, attrs, &open)?;
                if *self_closing {
                    return Err(RenderError::SelfClosing {
                        tag: name.clone(),
                        at: *at,
                    });
                }
                open.push((name, *at));
            }
            Tok::Close { name, at, .. } => {
                let at = *at;
                if name == "br" {
                    return Err(RenderError::LineBreak { at });
                }
                if !TAGS.contains(&name.as_str()) {
                    let tag = format!("</{name}>");
                    return Err(RenderError::NotAllowed { tag, at });
                }
                match open.last() {
                    Some((top, _)) if top == name => {
                        open.pop();
                    }
                    Some(&(top, open_at)) if open.iter().any(|(n, _)| n == name) => {
                        return Err(RenderError::Misnested {
                            tag: name.clone(),
                            at,
                            open: top.to_string(),
                            open_at,
                        });
                    }
                    _ => {
                        let tag = name.clone();
                        return Err(RenderError::Unopened { tag, at });
                    }
                }
            }
        }
    }
    match open.last() {
        Some(&(tag, at)) => Err(RenderError::Unclosed {
            tag: tag.to_string(),
            at,
        }),
        None => Ok(()),
    }
}

fn check_open(
    name: &str,
    at: usize,
    attrs: &[Attr],
    open: &[(&str, usize)],
) -> Result<(), RenderError> {
    if name == "br" {
        return Err(RenderError::LineBreak { at });
    }
    if !TAGS.contains(&name) {
        let tag = format!("<{name}>");
        return Err(RenderError::NotAllowed { tag, at });
    }
    let parent = open.last().map(|(n, _)| *n);
    let nested = |parent: &str| RenderError::Nested {
        tag: name.to_string(),
        parent: parent.to_string(),
        at,
    };
    for &(outer, _) in open {
        let forbidden = match outer {
            "code" => true,
            // The only thing a `<pre>` holds is the `<code>` that names its language.
            "pre" => !(name == "code" && parent == Some("pre")),
            "a" => matches!(name, "a" | "code" | "pre"),
            "blockquote" => name == "blockquote",
            _ => false,
        };
        if forbidden {
            return Err(nested(outer));
        }
    }

    let allowed: &[&str] = match name {
        "a" => &["href"],
        "code" => &["class"],
        "blockquote" => &["expandable"],
        "span" => &["class"],
        "tg-emoji" => &["emoji-id"],
        _ => &[],
    };
    if let Some(attr) = attrs.iter().find(|a| !allowed.contains(&a.name.as_str())) {
        return Err(RenderError::Attribute {
            tag: name.to_string(),
            attr: attr.name.clone(),
            at,
        });
    }
    let value = |attr: &str| {
        attrs
            .iter()
            .find(|a| a.name == attr)
            .map(|a| a.value.as_deref().unwrap_or(""))
    };
    let bad = |attr: &str, expected| RenderError::BadAttribute {
        tag: name.to_string(),
        attr: attr.to_string(),
        at,
        expected,
    };
    let missing = |attr| RenderError::MissingAttribute {
        tag: name.to_string(),
        attr,
        at,
    };
    match name {
        "a" => match value("href") {
            None => return Err(missing("href")),
            Some("") => return Err(bad("href", "a url")),
            // The value is still entity-encoded here; `&amp;` in a query is fine.
            Some(url) if !allowed_url(&url.replace("&amp;", "&").replace("&quot;", "\"")) => {
                return Err(bad("href", "an http, https, tg or mailto link"));
            }
            Some(_) => {}
        },
        "code" => match value("class") {
            Some(_) if parent != Some("pre") => {
                return Err(bad("class", "absent outside `<pre>`"));
            }
            Some(class) if class.strip_prefix("language-").is_none_or(str::is_empty) => {
                return Err(bad("class", "`language-…`"));
            }
            _ => {}
        },
        "span" => match value("class") {
            None => return Err(missing("class=\"tg-spoiler\"")),
            Some("tg-spoiler") => {}
            Some(_) => return Err(bad("class", "`tg-spoiler`")),
        },
        "tg-emoji" => match value("emoji-id") {
            None => return Err(missing("emoji-id")),
            Some(id) if id.is_empty() || !id.bytes().all(|c| c.is_ascii_digit()) => {
                return Err(bad("emoji-id", "a number"));
            }
            Some(_) => {}
        },
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Splitting

/// Chooses the parts of `chars` (the visible text), as ranges that start and end with a
/// non-whitespace character and are at most `limit` UTF-16 units long.
fn cut(chars: &[char], limit: usize) -> Vec<Range<usize>> {
    let mut prefix = Vec::with_capacity(chars.len() + 1);
    prefix.push(0);
    for ch in chars {
        prefix.push(prefix.last().unwrap_or(&0) + ch.len_utf16());
    }
    let ws = |i: usize| chars[i].is_whitespace();
    let mut parts = Vec::new();
    let mut start = 0;
    loop {
        while start < chars.len() && ws(start) {
            start += 1;
        }
        if start == chars.len() {
            return parts;
        }
        let mut end = chars.len();
        while ws(end - 1) {
            end -= 1;
        }
        if prefix[end] - prefix[start] <= limit {
            parts.push(start..end);
            return parts;
        }
        let fits = prefix.partition_point(|&p| p <= prefix[start] + limit) - 1;
        // A part holds at least one character, even one wider than the limit.
        let max = fits.max(start + 1);
        let at = if max >= end {
            end
        } else {
            best_cut(chars, start, max)
        };
        let mut last = at;
        while ws(last - 1) {
            last -= 1;
        }
        parts.push(start..last);
        start = at;
    }
}

/// The best place to end a part that starts at `start` and may end at `max` at the latest:
/// the last paragraph break, else the last sentence or line end, else the last space, else `max`.
fn best_cut(chars: &[char], start: usize, max: usize) -> usize {
    let mut sentence = None;
    let mut word = None;
    for at in (start + 1..=max).rev() {
        if chars[at - 1].is_whitespace() || !chars[at].is_whitespace() {
            continue;
        }
        let newlines = chars[at..]
            .iter()
            .take_while(|c| c.is_whitespace())
            .filter(|&&c| c == '\n')
            .count();
        if newlines >= 2 {
            return at;
        }
        if sentence.is_none() && (newlines == 1 || ends_sentence(&chars[start..at])) {
            sentence = Some(at);
        }
        word = word.or(Some(at));
    }
    sentence.or(word).unwrap_or_else(|| {
        // Keep what renders as one symbol together when there is room to step back.
        let mut at = max;
        while at > start + 1 && (joins_previous(chars[at]) || chars[at - 1] == '\u{200D}') {
            at -= 1;
        }
        at
    })
}

fn ends_sentence(text: &[char]) -> bool {
    let closers = ['"', '\'', ')', ']', '»', '”', '’', '*', '_'];
    let end = text.iter().rposition(|c| !closers.contains(c));
    end.is_some_and(|i| matches!(text[i], '.' | '!' | '?' | '…' | '。' | '！' | '？'))
}

/// Characters that modify the one before: a cut just before them splits a visible symbol.
fn joins_previous(ch: char) -> bool {
    matches!(ch,
        '\u{0300}'..='\u{036F}'
        | '\u{200D}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0020}'..='\u{E007F}')
}

fn apply<'a>(stack: &mut Vec<(&'a str, &'a str)>, tok: &'a Tok<'a>) {
    match tok {
        Tok::Open {
            name,
            raw,
            self_closing: false,
            ..
        } => stack.push((name, raw)),
        Tok::Close { name, .. } => {
            if let Some(i) = stack.iter().rposition(|(open, _)| open == name) {
                stack.remove(i);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(text: &str) -> Rendered {
        Rendered {
            text: text.to_string(),
            parse_mode: Some(HTML.to_string()),
        }
    }

    #[track_caller]
    fn check(markdown: &str, expected_html: &str) {
        let rendered = render(markdown, Format::Markdown).unwrap();
        assert_eq!(rendered.text, expected_html, "markdown: {markdown:?}");
        assert_eq!(rendered.parse_mode.as_deref(), Some("HTML"));
        assert_eq!(
            validate_html(&rendered.text),
            Ok(()),
            "output: {expected_html:?}"
        );
    }

    /// `expected` is the error message, or empty when the html is accepted.
    #[track_caller]
    fn check_html(source: &str, expected: &str) {
        match render(source, Format::Html) {
            Ok(r) => {
                assert_eq!(expected, "", "html: {source:?} accepted");
                assert_eq!(r.text, source.trim());
                assert_eq!(r.parse_mode.as_deref(), Some("HTML"));
            }
            Err(e) => {
                assert_eq!(e.to_string(), expected, "html: {source:?}");
                // Every refusal reads in Italian too, with no English left in it.
                let it = e.italian();
                let english = crate::messages::english_words_in(&it);
                assert!(english.is_empty(), "{english:?} in: {it}");
                assert_ne!(it, expected);
            }
        }
    }

    #[track_caller]
    fn check_len(text: &str, expected: usize) {
        assert_eq!(visible_len(&html(text)), expected, "html: {text:?}");
    }

    #[track_caller]
    fn check_split(text: &str, limit: usize, expected: &[&str]) {
        let parts = split(&html(text), limit);
        let got: Vec<&str> = parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(got, expected, "html: {text:?}, limit {limit}");
        for part in &parts {
            assert_eq!(validate_html(&part.text), Ok(()), "part: {:?}", part.text);
            assert!(visible_len(part) <= limit, "part: {:?}", part.text);
        }
    }

    // Markdown: inline styles

    #[test]
    fn empty() {
        check("", "");
        check("  \n\n ", "");
    }

    #[test]
    fn plain_text_trimmed() {
        check("  hello  ", "hello");
    }

    #[test]
    fn bold() {
        check("**bold**", "<b>bold</b>");
        check("__bold__", "<b>bold</b>");
    }

    #[test]
    fn italic() {
        check("*it*", "<i>it</i>");
        check("_it_", "<i>it</i>");
    }

    #[test]
    fn bold_italic() {
        check("***both***", "<i><b>both</b></i>");
        check("**a *b* c**", "<b>a <i>b</i> c</b>");
    }

    #[test]
    fn nested_bold_written_once() {
        check("**a __b__ c**", "<b>a b c</b>");
    }

    #[test]
    fn strikethrough() {
        check("~~gone~~", "<s>gone</s>");
    }

    #[test]
    fn inline_code() {
        check("`a<b & c`", "<code>a&lt;b &amp; c</code>");
        check("**bold `x`**", "<b>bold <code>x</code></b>");
    }

    #[test]
    fn lone_markers_stay_text() {
        check("a * b", "a * b");
        check("**bold", "**bold");
        check("bold**", "bold**");
        check("~~s", "~~s");
        check("`open", "`open");
        check("[link", "[link");
        check("_", "_");
    }

    #[test]
    fn underscores_inside_words() {
        check("snake_case_name", "snake_case_name");
        check("a_b and c_d", "a_b and c_d");
    }

    #[test]
    fn escaped_markers() {
        check(r"\*not italic\*", "*not italic*");
        check(r"\<b\>", "&lt;b&gt;");
    }

    #[test]
    fn special_characters_escaped() {
        check("a < b & c > d", "a &lt; b &amp; c &gt; d");
        check("<", "&lt;");
        check("&", "&amp;");
        check("AT&T", "AT&amp;T");
        check("\"quoted\" 'single'", "\"quoted\" 'single'");
    }

    #[test]
    fn markdown_entities_decoded_then_escaped() {
        check("&amp; &lt;", "&amp; &lt;");
        check("&copy; &#128512;", "© 😀");
        check("&bogus;", "&amp;bogus;");
    }

    #[test]
    fn emoji_and_non_bmp() {
        check("😀 **ciao** 😀", "😀 <b>ciao</b> 😀");
        check("𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢");
        check("👩‍👩‍👧 🇮🇹", "👩‍👩‍👧 🇮🇹");
    }

    // Markdown: links and images

    #[test]
    fn links() {
        check(
            "[site](https://example.org)",
            r#"<a href="https://example.org">site</a>"#,
        );
        check(
            "[s](http://example.org/x)",
            r#"<a href="http://example.org/x">s</a>"#,
        );
        check(
            "[me](tg://resolve?domain=town)",
            r#"<a href="tg://resolve?domain=town">me</a>"#,
        );
        check(
            "[mail](mailto:info@example.org)",
            r#"<a href="mailto:info@example.org">mail</a>"#,
        );
    }

    #[test]
    fn link_with_parentheses_and_ampersand() {
        check(
            "[x](https://example.org/a_(b)?x=1&y=2)",
            r#"<a href="https://example.org/a_(b)?x=1&amp;y=2">x</a>"#,
        );
    }

    #[test]
    fn link_quote_escaped() {
        check(
            r#"[x](https://example.org/a"b)"#,
            r#"<a href="https://example.org/a&quot;b">x</a>"#,
        );
    }

    #[test]
    fn link_title_dropped() {
        check(
            r#"[x](https://example.org "Title")"#,
            r#"<a href="https://example.org">x</a>"#,
        );
    }

    #[test]
    fn link_text_styled() {
        check(
            "[**big** deal](https://example.org)",
            r#"<a href="https://example.org"><b>big</b> deal</a>"#,
        );
        check(
            "[`code`](https://example.org)",
            r#"<a href="https://example.org">code</a>"#,
        );
    }

    #[test]
    fn disallowed_links_become_text() {
        check("[x](javascript:alert(1))", "x");
        check("[x](/relative/path)", "x");
        check("[x](file:///etc/passwd)", "x");
        check("[x](ftp://example.org)", "x");
        check("[x](https://)", "x");
        check("[x](<https://a b>)", "x");
    }

    #[test]
    fn empty_link_text_shows_url() {
        check(
            "[](https://example.org)",
            r#"<a href="https://example.org">https://example.org</a>"#,
        );
    }

    #[test]
    fn reference_links() {
        check(
            "[x][r]\n\n[r]: https://example.org",
            r#"<a href="https://example.org">x</a>"#,
        );
        check("[x][missing]", "[x][missing]");
    }

    #[test]
    fn autolinks() {
        check(
            "<https://example.org/?a=1&b=2>",
            r#"<a href="https://example.org/?a=1&amp;b=2">https://example.org/?a=1&amp;b=2</a>"#,
        );
        check(
            "<info@example.org>",
            r#"<a href="mailto:info@example.org">info@example.org</a>"#,
        );
        check("<ftp://example.org>", "ftp://example.org");
    }

    #[test]
    fn bare_urls_stay_text() {
        check(
            "https://example.org/?a=1&b=2",
            "https://example.org/?a=1&amp;b=2",
        );
    }

    #[test]
    fn images() {
        check(
            "![map](https://example.org/map.png)",
            r#"<a href="https://example.org/map.png">map</a>"#,
        );
        check("![map](map.png)", "map");
        check(
            "[![img](https://example.org/i.png)](https://example.org)",
            r#"<a href="https://example.org">img</a>"#,
        );
    }

    // Markdown: blocks

    #[test]
    fn soft_breaks_kept() {
        check("line one\nline two", "line one\nline two");
        check("line one\r\nline two", "line one\nline two");
    }

    #[test]
    fn hard_breaks() {
        check("a  \nb", "a\nb");
        check("a\\\nb", "a\nb");
    }

    #[test]
    fn paragraphs() {
        check("one\n\ntwo", "one\n\ntwo");
        check("one\n\n\n\ntwo", "one\n\ntwo");
    }

    #[test]
    fn headings() {
        check("# Title", "<b>Title</b>");
        check("### Title", "<b>Title</b>");
        check("# Title\n\nText", "<b>Title</b>\n\nText");
        check("# Title\nText", "<b>Title</b>\nText");
        check("Title\n=====\n\nText", "<b>Title</b>\n\nText");
        check("# A **b** c", "<b>A b c</b>");
        check("# *A*", "<b><i>A</i></b>");
    }

    #[test]
    fn blockquotes() {
        check("> quote", "<blockquote>quote</blockquote>");
        check("> a\n> b", "<blockquote>a\nb</blockquote>");
        check("> a\n>\n> b", "<blockquote>a\n\nb</blockquote>");
        check(
            "before\n\n> q\n\nafter",
            "before\n\n<blockquote>q</blockquote>\n\nafter",
        );
    }

    #[test]
    fn nested_blockquotes_flattened() {
        check("> a\n> > b", "<blockquote>a\nb</blockquote>");
    }

    #[test]
    fn unordered_lists() {
        check("- a\n- b", "• a\n• b");
        check("* a\n* b", "• a\n• b");
        check("+ **a**", "• <b>a</b>");
    }

    #[test]
    fn ordered_lists() {
        check("1. a\n2. b", "1. a\n2. b");
        check("3. a\n4. b", "3. a\n4. b");
        check("1. a\n1. b\n1. c", "1. a\n2. b\n3. c");
    }

    #[test]
    fn nested_lists_indented() {
        check("- a\n  - b\n- c", "• a\n  • b\n• c");
        check("1. a\n   - b", "1. a\n   • b");
        check("- a\n  - b\n    - c", "• a\n  • b\n    • c");
    }

    #[test]
    fn list_item_continuation_indented() {
        check("- one\n  two", "• one\n  two");
    }

    #[test]
    fn loose_lists_keep_blank_lines() {
        check("- a\n\n- b", "• a\n\n• b");
    }

    #[test]
    fn list_under_its_title() {
        check(
            "Bring:\n- ID card\n- tax code",
            "Bring:\n• ID card\n• tax code",
        );
        check("Bring:\n\n- ID card", "Bring:\n\n• ID card");
        check("- a\n\nafter", "• a\n\nafter");
    }

    #[test]
    fn code_blocks() {
        check("```\ncode <x>\n```", "<pre>code &lt;x&gt;</pre>");
        check(
            "```rust\nfn main() {}\n```",
            "<pre><code class=\"language-rust\">fn main() {}</code></pre>",
        );
        check("    indented\n    code", "<pre>indented\ncode</pre>");
        check("text\n```\nx\n```", "text\n<pre>x</pre>");
        check("```\n**not bold**\n```", "<pre>**not bold**</pre>");
    }

    #[test]
    fn code_block_in_quote() {
        check("> ```\n> x\n> ```", "<blockquote><pre>x</pre></blockquote>");
    }

    #[test]
    fn code_language_escaped() {
        check(
            "```a\"b\nx\n```",
            "<pre><code class=\"language-a&quot;b\">x</code></pre>",
        );
    }

    #[test]
    fn raw_html_escaped() {
        check("<b>hi</b>", "&lt;b&gt;hi&lt;/b&gt;");
        check(
            "a <script>x</script> b",
            "a &lt;script&gt;x&lt;/script&gt; b",
        );
        check("<div>\nblock\n</div>", "&lt;div&gt;\nblock\n&lt;/div&gt;");
        check("<!-- note -->", "&lt;!-- note --&gt;");
        check("x <br> y", "x &lt;br&gt; y");
    }

    #[test]
    fn thematic_break() {
        check("a\n\n---\n\nb", "a\n\n———\n\nb");
        check("***", "———");
    }

    #[test]
    fn sidecar_example() {
        check(
            "**Orange weather alert** from 14:00 today. Schools close at 13:00.\n",
            "<b>Orange weather alert</b> from 14:00 today. Schools close at 13:00.",
        );
    }

    // Html

    #[test]
    fn html_accepted() {
        for source in [
            "",
            "plain",
            "<b>b</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>i</ins>",
            "<s>s</s> <strike>s</strike> <del>d</del>",
            r#"<a href="https://example.org/?a=1&amp;b=2">x</a>"#,
            "<a href='https://example.org'>x</a>",
            "<a href=https://example.org>x</a>",
            "<code>x</code>",
            "<pre>x</pre>",
            r#"<pre><code class="language-python">x</code></pre>"#,
            "<blockquote>q</blockquote>",
            "<blockquote expandable>q</blockquote>",
            "<tg-spoiler>s</tg-spoiler>",
            r#"<span class="tg-spoiler">s</span>"#,
            r#"<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>"#,
            "&lt; &gt; &amp; &quot; &#169; &#xA9; &#X1F600;",
            "a > b",
            "<b>bold <i>italic <u>under</u></i></b>",
            "<blockquote><b>q</b> <a href=\"https://x.org\">l</a><pre>p</pre></blockquote>",
            "<B>upper</B>",
            "<b >spaced</b >",
            "  <b>trimmed</b>\n",
        ] {
            check_html(source, "");
        }
    }

    #[test]
    fn html_unknown_tags() {
        check_html(
            "<script>x</script>",
            "html not allowed by Telegram: `<script>` at byte 0",
        );
        check_html(
            "x</div>",
            "html not allowed by Telegram: `</div>` at byte 1",
        );
        check_html("<p>x</p>", "html not allowed by Telegram: `<p>` at byte 0");
    }

    #[test]
    fn html_line_break() {
        let msg = "`<br>` at byte 1 is not allowed by Telegram: write a newline instead";
        check_html("a<br>b", msg);
        check_html("a<br/>b", msg);
        check_html("a<BR />b", msg);
        check_html("a</br>b", msg);
    }

    #[test]
    fn html_self_closing() {
        check_html(
            "<b/>",
            "`<b/>` at byte 0 is not allowed by Telegram: write `<b>…</b>`",
        );
    }

    #[test]
    fn html_bare_less_than() {
        let msg = "bare `<` at byte 2: write `&lt;` for a literal `<`";
        check_html("a < b", msg);
        check_html("I <3 you", msg);
        check_html("x </ b>", msg);
        check_html(
            "<!-- c -->",
            "bare `<` at byte 0: write `&lt;` for a literal `<`",
        );
    }

    #[test]
    fn html_malformed_tags() {
        let msg = |at| {
            format!(
                "malformed tag at byte {at}: finish it with `>` or write `&lt;` for a literal `<`"
            )
        };
        check_html("a<b", &msg(1));
        check_html("x <b and more", &msg(2));
        check_html(r#"<a href="x>y</a>"#, &msg(0));
        check_html("<a href=>y</a>", &msg(0));
        check_html("<b x=1 %>y</b>", &msg(0));
    }

    #[test]
    fn html_bare_ampersand() {
        let msg = |at| format!("bare `&` at byte {at}: write `&amp;` for a literal `&`");
        check_html("a & b", &msg(2));
        check_html("AT&T", &msg(2));
        check_html("&amp", &msg(0));
        check_html("&#;", &msg(0));
        check_html("&#12a;", &msg(0));
        check_html(r#"<a href="https://x.org/?a=1&b=2">x</a>"#, &msg(27));
    }

    #[test]
    fn html_entities() {
        let unknown = |e: &str, at| {
            format!(
                "entity `{e}` at byte {at} is not allowed by Telegram: use `&lt;`, `&gt;`, `&amp;`, `&quot;` or a numeric one like `&#169;`"
            )
        };
        check_html("&nbsp;", &unknown("&nbsp;", 0));
        check_html("x &AMP;", &unknown("&AMP;", 2));
        let invalid = |e: &str| format!("entity `{e}` at byte 0 is not a valid character");
        check_html("&#0;", &invalid("&#0;"));
        check_html("&#xD800;", &invalid("&#xD800;"));
        check_html("&#99999999999;", &invalid("&#99999999999;"));
    }

    #[test]
    fn html_unbalanced() {
        check_html("<b>x", "unbalanced `<b>` at byte 0: it is never closed");
        check_html(
            "<b><i>x</i>",
            "unbalanced `<b>` at byte 0: it is never closed",
        );
        check_html("x</b>", "unbalanced `</b>` at byte 1: no `<b>` is open");
        check_html(
            "<b>x</strong>",
            "unbalanced `</strong>` at byte 4: no `<strong>` is open",
        );
    }

    #[test]
    fn html_misnested() {
        check_html(
            "<b><i>x</b></i>",
            "misnested `</b>` at byte 7: `<i>` from byte 3 must be closed first",
        );
    }

    #[test]
    fn html_attributes() {
        check_html(
            r#"<b class="x">x</b>"#,
            "attribute `class` of `<b>` at byte 0 is not allowed by Telegram",
        );
        check_html(
            r#"<a href="https://x.org" target="_blank">x</a>"#,
            "attribute `target` of `<a>` at byte 0 is not allowed by Telegram",
        );
        check_html(
            r#"<pre class="language-x">x</pre>"#,
            "attribute `class` of `<pre>` at byte 0 is not allowed by Telegram",
        );
        check_html("<a>x</a>", "`<a>` at byte 0 needs a `href` attribute");
        check_html(
            r#"<a href="">x</a>"#,
            "attribute `href` of `<a>` at byte 0 must be a url",
        );
        check_html(
            "<span>x</span>",
            "`<span>` at byte 0 needs a `class=\"tg-spoiler\"` attribute",
        );
        check_html(
            r#"<span class="red">x</span>"#,
            "attribute `class` of `<span>` at byte 0 must be `tg-spoiler`",
        );
        check_html(
            r#"<code class="language-rust">x</code>"#,
            "attribute `class` of `<code>` at byte 0 must be absent outside `<pre>`",
        );
        check_html(
            r#"<pre><code class="rust">x</code></pre>"#,
            "attribute `class` of `<code>` at byte 5 must be `language-…`",
        );
        check_html(
            "<tg-emoji>👍</tg-emoji>",
            "`<tg-emoji>` at byte 0 needs a `emoji-id` attribute",
        );
        check_html(
            r#"<tg-emoji emoji-id="abc">👍</tg-emoji>"#,
            "attribute `emoji-id` of `<tg-emoji>` at byte 0 must be a number",
        );
    }

    #[test]
    fn html_forbidden_nesting() {
        let msg = |tag: &str, parent: &str, at| {
            format!("`<{tag}>` at byte {at} is not allowed inside `<{parent}>` by Telegram")
        };
        check_html("<code><b>x</b></code>", &msg("b", "code", 6));
        check_html("<pre><b>x</b></pre>", &msg("b", "pre", 5));
        check_html("<pre><i><code>x</code></i></pre>", &msg("i", "pre", 5));
        check_html(
            r#"<a href="https://x.org"><a href="https://y.org">x</a></a>"#,
            &msg("a", "a", 24),
        );
        check_html(
            r#"<a href="https://x.org"><code>x</code></a>"#,
            &msg("code", "a", 24),
        );
        check_html(
            "<blockquote><blockquote>x</blockquote></blockquote>",
            &msg("blockquote", "blockquote", 12),
        );
    }

    #[test]
    fn html_links_must_be_safe_to_open() {
        for bad in [
            r#"<a href="javascript:alert(1)">x</a>"#,
            r#"<a href="JavaScript:x">x</a>"#,
            r#"<a href="file:///etc/passwd">x</a>"#,
            r#"<a href="/relative">x</a>"#,
        ] {
            let err = validate_html(bad).unwrap_err().to_string();
            assert!(err.contains("http, https, tg or mailto"), "{bad}: {err}");
        }
        for good in [
            r#"<a href="https://example.org/?a=1&amp;b=2">x</a>"#,
            r#"<a href="tg://resolve?domain=town">x</a>"#,
            r#"<a href="mailto:info@example.org">x</a>"#,
        ] {
            assert!(validate_html(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn html_errors_carry_positions() {
        assert_eq!(
            validate_html("ok <script>"),
            Err(RenderError::NotAllowed {
                tag: "<script>".into(),
                at: 3
            })
        );
    }

    // Plain

    #[test]
    fn plain_unchanged() {
        let r = render("  <b>a & b</b> **x**\n", Format::Plain).unwrap();
        assert_eq!(
            r,
            Rendered {
                text: "<b>a & b</b> **x**".into(),
                parse_mode: None
            }
        );
        assert_eq!(render("", Format::Plain).unwrap().text, "");
        assert_eq!(render("", Format::Html).unwrap().text, "");
    }

    // visible_len

    #[test]
    fn visible_len_counts_what_telegram_counts() {
        check_len("", 0);
        check_len("abc", 3);
        check_len("<b>abc</b>", 3);
        check_len(r#"<a href="https://example.org/long">x</a>"#, 1);
        check_len("&amp;", 1);
        check_len("&lt;&gt;&quot;&#169;", 4);
        check_len("😀", 2);
        check_len("&#x1F600;", 2);
        check_len("  \n<b> a </b>\n ", 1);
        check_len("è", 1);
    }

    #[test]
    fn visible_len_plain_is_raw() {
        let r = Rendered {
            text: " <b>&amp;</b> ".into(),
            parse_mode: None,
        };
        assert_eq!(visible_len(&r), 12);
    }

    // split

    #[test]
    fn split_short_text_is_one_part() {
        check_split("<b>hello</b>", 100, &["<b>hello</b>"]);
        check_split("hello", 5, &["hello"]);
    }

    #[test]
    fn split_empty_gives_nothing() {
        check_split("", 10, &[]);
        check_split(" \n\n ", 10, &[]);
    }

    #[test]
    fn split_packs_paragraphs() {
        check_split("aaa\n\nbbb\n\nccc", 8, &["aaa\n\nbbb", "ccc"]);
        check_split("aaa\n\nbbb\n\nccc", 13, &["aaa\n\nbbb\n\nccc"]);
        check_split("aa\n\nbbbbbb\n\ncc", 7, &["aa", "bbbbbb", "cc"]);
    }

    #[test]
    fn split_paragraph_before_sentence() {
        check_split("One. Two.\n\nThree.", 14, &["One. Two.", "Three."]);
    }

    #[test]
    fn split_at_sentences() {
        check_split(
            "One two. Three four. Five.",
            21,
            &["One two. Three four.", "Five."],
        );
        check_split("Really? Yes! Fine.", 13, &["Really? Yes!", "Fine."]);
        check_split(
            "He said \"stop.\" Then left.",
            16,
            &["He said \"stop.\"", "Then left."],
        );
    }

    #[test]
    fn split_at_lines_before_words() {
        check_split("• one two\n• three", 12, &["• one two", "• three"]);
    }

    #[test]
    fn split_at_words() {
        check_split("aaa bbb ccc ddd", 8, &["aaa bbb", "ccc ddd"]);
        check_split("aaa bbb ccc ddd", 10, &["aaa bbb", "ccc ddd"]);
    }

    #[test]
    fn split_hard_cut() {
        check_split("abcdefghij", 4, &["abcd", "efgh", "ij"]);
    }

    #[test]
    fn split_never_cuts_entities() {
        check_split("&amp;&amp;&amp;", 2, &["&amp;&amp;", "&amp;"]);
    }

    #[test]
    fn split_never_cuts_surrogate_pairs() {
        check_split("😀😀😀", 3, &["😀", "😀", "😀"]);
        check_split("a😀", 2, &["a", "😀"]);
    }

    #[test]
    fn split_keeps_joined_symbols() {
        check_split("ab👍🏽", 4, &["ab", "👍🏽"]);
    }

    #[test]
    fn split_closes_and_reopens_tags() {
        check_split("<b>aaa bbb</b>", 4, &["<b>aaa</b>", "<b>bbb</b>"]);
        check_split(
            r#"<a href="https://x.org"><i>one two</i></a> three"#,
            5,
            &[
                r#"<a href="https://x.org"><i>one</i></a>"#,
                r#"<a href="https://x.org"><i>two</i></a>"#,
                "three",
            ],
        );
        check_split(
            "<pre><code class=\"language-sh\">ls\n\nrm</code></pre>",
            3,
            &[
                "<pre><code class=\"language-sh\">ls</code></pre>",
                "<pre><code class=\"language-sh\">rm</code></pre>",
            ],
        );
    }

    #[test]
    fn split_tags_at_the_cut_go_with_their_text() {
        check_split("<b>aaa</b>\n\n<i>bbb</i>", 4, &["<b>aaa</b>", "<i>bbb</i>"]);
        check_split("aaa <b>bbb</b>", 4, &["aaa", "<b>bbb</b>"]);
    }

    #[test]
    fn split_limit_below_one_character() {
        let texts = |text: &str, limit| -> Vec<String> {
            split(&html(text), limit)
                .into_iter()
                .map(|p| p.text)
                .collect()
        };
        assert_eq!(texts("😀", 1), ["😀"]);
        assert_eq!(texts("a😀b", 1), ["a", "😀", "b"]);
        assert_eq!(texts("ab", 0), ["a", "b"]);
    }

    #[test]
    fn split_plain_text() {
        let r = Rendered {
            text: "a <b> c".into(),
            parse_mode: None,
        };
        let texts: Vec<String> = split(&r, 3).into_iter().map(|p| p.text).collect();
        assert_eq!(texts, ["a", "<b>", "c"]);
    }

    #[test]
    fn split_long_caption_into_messages() {
        let paragraph = "Lorem ipsum dolor sit amet. ".repeat(30);
        let source = [paragraph.as_str(); 8].join("\n\n");
        let r = render(&source, Format::Markdown).unwrap();
        let parts = split(&r, TEXT_LIMIT);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| visible_len(p) <= TEXT_LIMIT));
    }

    /// xorshift64*: deterministic, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn non_ws(r: &Rendered) -> String {
        tokens(r)
            .iter()
            .filter_map(|t| match t {
                Tok::Char { ch, .. } if !ch.is_whitespace() => Some(*ch),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn random_markdown_renders_and_splits_validly() {
        // Every character of the nasty set, plus pieces that make whole constructs.
        const CHARS: &str = "*_~[]()<>&`#-1.\nab😀 ";
        #[rustfmt::skip]
        const PIECES: &[&str] = &[
            "a", "b", " ", "\n\n", "> ", "    ", "](https://x.org/a_(b)?c=1&d=2)", "](javascript:x)",
            "![", "\\", "!", "<https://x.org>", "```", "&amp;", "<b>", "e\u{301}", "\n- ", "\n1. ",
            "\n  - ", "# ", "**", "~~", "\n> > ", "\r\n", "<x@y.z>",
        ];
        let mut alphabet: Vec<String> = CHARS.chars().map(String::from).collect();
        alphabet.extend(PIECES.iter().map(|p| p.to_string()));
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..2000 {
            let source: String = (0..rng.below(60))
                .map(|_| alphabet[rng.below(alphabet.len())].as_str())
                .collect();
            let rendered = render(&source, Format::Markdown).unwrap();
            assert_eq!(
                validate_html(&rendered.text),
                Ok(()),
                "case {case}: {source:?} → {:?}",
                rendered.text
            );
            let limit = 2 + rng.below(30);
            let parts = split(&rendered, limit);
            for part in &parts {
                assert_eq!(
                    validate_html(&part.text),
                    Ok(()),
                    "case {case}: {source:?} → {:?}",
                    part.text
                );
                let len = visible_len(part);
                assert!(
                    (1..=limit).contains(&len),
                    "case {case}: {:?} is {len} long, limit {limit}",
                    part.text
                );
            }
            let joined: String = parts.iter().map(non_ws).collect();
            assert_eq!(joined, non_ws(&rendered), "case {case}: {source:?}");
            if visible_len(&rendered) <= limit {
                assert!(parts.len() <= 1, "case {case}: {source:?}");
            }
        }
    }

    #[test]
    fn random_plain_splits_within_limit() {
        const ALPHABET: &[&str] = &["a", "b", " ", "\n", ".", "😀", "&", "<"];
        let mut rng = Rng(42);
        for case in 0..500 {
            let text: String = (0..rng.below(200))
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            let r = render(&text, Format::Plain).unwrap();
            let limit = 2 + rng.below(20);
            let parts = split(&r, limit);
            for part in &parts {
                assert_eq!(part.parse_mode, None);
                assert!(
                    (1..=limit).contains(&visible_len(part)),
                    "case {case}: {part:?}"
                );
            }
            let joined: String = parts.iter().map(non_ws).collect();
            assert_eq!(joined, non_ws(&r), "case {case}");
        }
    }
}
