//! The clerk's sidecar YAML, parsed and validated.
//!
//! A sidecar is read in three passes over the same text, each cheap and bounded:
//!
//! 1. bytes: size, encoding, BOM, control characters, and a cap on `[` and `{`;
//! 2. shape: anchors, aliases and tags are refused and nesting is bounded, on a probe copy of the
//!    text where every `&` became `*` (see [`check_shape`]); syntax errors are explained here;
//! 3. meaning: each key and value is checked by a visitor while serde_yaml still knows where it
//!    is, so that every error carries the line and column of the key or value it is about.
//!
//! Errors are written for the clerk who dropped the file, not for a programmer: they say what is
//! wrong in plain words and, where a likely fix exists, give it as a hint.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, EnumAccess, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::post::{Button, ChangeKind, ChangeRequest, Format, Preview, PublishAt, SendAs, Sidecar};

/// A sidecar needs a few lines; anything this big is a wrong file or an attack.
pub const MAX_SIDECAR_BYTES: usize = 64 * 1024;

/// The sidecar's own structure is at most 4 levels deep (buttons → row → button → text); the
/// margin is for clearer errors ("a list where a text was expected") instead of "too deep".
const MAX_DEPTH: usize = 8;
/// libyaml's time grows with the square of the flow nesting (`[[[[…`: 2 s for 64 KB). Real
/// nesting can never exceed the number of openers, so counting them all, even inside quotes
/// and comments where they open nothing, is a bound no text can get around. A real sidecar
/// with 100 buttons and a few links stays well below.
const MAX_BRACKETS: usize = 256;
const MAX_BUTTONS_PER_ROW: usize = 8;
const MAX_BUTTONS: usize = 100;
const MAX_BUTTON_TEXT_CHARS: usize = 64;

/// Albums are posted since the second release; the switch stays for a build without them.
const ALBUMS_SUPPORTED: bool = true;

/// What the sidecar may refer to, from the config.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub channel_aliases: &'a [String],
}

/// Why a sidecar was refused, and where.
///
/// Displays as `line 3, column 1: unknown key `captoin` (did you mean `caption`?)`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct SidecarError {
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl SidecarError {
    fn render(&self) -> String {
        let mut out = match (self.line, self.column) {
            (Some(line), Some(column)) => format!("line {line}, column {column}: "),
            (Some(line), None) => format!("line {line}: "),
            _ => String::new(),
        };
        out.push_str(&self.message);
        if let Some(hint) = &self.hint {
            out.push_str(" (");
            out.push_str(hint);
            out.push(')');
        }
        out
    }

    fn new(position: Option<(usize, usize)>, problem: Problem) -> Self {
        SidecarError {
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            message: problem.message,
            hint: problem.hint,
        }
    }
}

/// Parses and validates a sidecar. An empty sidecar (or one with only comments) means "all
/// defaults".
pub fn parse(bytes: &[u8], rules: &Rules) -> Result<Sidecar, SidecarError> {
    let text = decode(bytes)?;
    check_characters(text)?;
    check_brackets(text)?;
    check_shape(text)?;
    let ctx = Ctx::new(text, rules.channel_aliases);
    let sidecar = run(&ctx, Top)?;
    check_together(text, &sidecar)?;
    Ok(sidecar)
}

/// The keys that make sense only together, or not together: a correction (`edit:`, `delete:`,
/// `unpin:`) takes only what it can change, `replace:` only goes with `edit:`, `pin_until:` only
/// with `pin: true`. The error points at the key that does not belong.
fn check_together(text: &str, s: &Sidecar) -> Result<(), SidecarError> {
    let at = |key: &str, problem: Problem| {
        SidecarError::new(locate_key(text, key).map(|line| (line, 1)), problem)
    };
    let present = |key: &str| locate_key(text, key).is_some();
    if let Some(change) = &s.change {
        let verb = change.kind.key();
        // What each kind of correction may say besides the post it names.
        let allowed: &[&str] = match change.kind {
            ChangeKind::Edit => &[
                "caption",
                "text",
                "format",
                "buttons",
                "link_preview",
                "send_as",
                "replace",
            ],
            ChangeKind::Delete | ChangeKind::Unpin => &[],
        };
        for (name, _) in KEYS.iter() {
            if *name == verb || allowed.contains(name) || !present(name) {
                continue;
            }
            let what = match *name {
                "edit" | "delete" | "unpin" => format!(
                    "`{verb}` and `{name}` cannot be in one sidecar: one sidecar makes one change"
                ),
                _ => format!("`{name}` has no place in a sidecar that says `{verb}`"),
            };
            let hint = match (change.kind, *name) {
                (_, "edit" | "delete" | "unpin") => {
                    "drop one sidecar for each change".to_owned()
                }
                (ChangeKind::Edit, "channel") => {
                    "a link names the channel already; a file name names every channel the post went to".to_owned()
                }
                (ChangeKind::Edit, "publish_at") => {
                    "a correction goes out at once; to change a post that waits in scheduled/, delete its file there and drop the corrected bundle again".to_owned()
                }
                (ChangeKind::Edit, _) => format!(
                    "a correction can change {}; remove the line",
                    "the caption, the buttons and the file"
                ),
                _ => format!("a `{verb}` sidecar needs only the `{verb}:` line; remove this one"),
            };
            return Err(at(name, Problem::new(what).hint(hint)));
        }
    } else if s.replace.is_some() {
        return Err(at(
            "replace",
            Problem::new("`replace` names a file of a post to correct, and there is no `edit`")
                .hint("add `edit:` with the link of the post, or remove the line"),
        ));
    }
    if s.pin_until.is_some() && !s.pin {
        return Err(at(
            "pin_until",
            Problem::new("`pin_until` says when a pin ends, and the post is not pinned")
                .hint("add `pin: true`, or remove the line"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pass 1: bytes

fn decode(bytes: &[u8]) -> Result<&str, SidecarError> {
    if bytes.len() > MAX_SIDECAR_BYTES {
        let kb = bytes.len().div_ceil(1024);
        return Err(SidecarError::new(
            None,
            Problem::new(format!(
                "the sidecar is {kb} KB; at most {} KB is allowed",
                MAX_SIDECAR_BYTES / 1024
            ))
            .hint("a sidecar needs only a few lines: is this the right file?"),
        ));
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(SidecarError::new(
            Some((1, 1)),
            Problem::new("the sidecar is saved as UTF-16 text").hint("save it as UTF-8"),
        ));
    }
    // The BOM is what Windows editors put first; it is not part of the YAML.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|err| {
        let valid = std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or_default();
        SidecarError::new(
            Some(end_position(valid)),
            Problem::new("the sidecar is not valid UTF-8 text").hint("save it as UTF-8"),
        )
    })
}

/// libyaml refuses these too, but reports them without a usable position.
fn check_characters(text: &str) -> Result<(), SidecarError> {
    let bad = |c: char| {
        matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}')
            || matches!(c, '\u{80}'..='\u{9f}' if c != '\u{85}')
            || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    match text.char_indices().find(|&(_, c)| bad(c)) {
        None => Ok(()),
        Some((at, c)) => Err(SidecarError::new(
            Some(end_position(&text[..at])),
            Problem::new(format!(
                "the sidecar contains an invisible control character (U+{:04X})",
                u32::from(c)
            ))
            .hint("delete this line and type it again"),
        )),
    }
}

fn check_brackets(text: &str) -> Result<(), SidecarError> {
    let mut openers = text.match_indices(['[', '{']);
    match openers.nth(MAX_BRACKETS) {
        None => Ok(()),
        Some((at, _)) => Err(SidecarError::new(
            Some(end_position(&text[..at])),
            Problem::new(format!(
                "the sidecar has more than {MAX_BRACKETS} `[` and `{{`"
            ))
            .hint("a sidecar needs far fewer: is this the right file?"),
        )),
    }
}

/// The 1-based line and column just after `prefix`, counted the way libyaml counts them.
fn end_position(prefix: &str) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    let mut chars = prefix.chars().peekable();
    while let Some(c) = chars.next() {
        let crlf = c == '\r' && chars.peek() == Some(&'\n');
        if (c == '\n' || c == '\r') && !crlf {
            line += 1;
            column = 1;
        } else if !crlf {
            column += 1;
        }
    }
    (line, column)
}

// ---------------------------------------------------------------------------------------------
// Syntax

/// `IgnoredAny` walks libyaml's events without following aliases, so this is linear even for
/// an alias bomb.
fn check_syntax(text: &str) -> Result<(), SidecarError> {
    IgnoredAny::deserialize(serde_yaml::Deserializer::from_str(text))
        .map(|_| ())
        .map_err(|err| syntax_error(text, &err))
}

/// Turns libyaml's and serde_yaml's words into the clerk's.
fn syntax_error(text: &str, err: &serde_yaml::Error) -> SidecarError {
    let shown = err.to_string();
    let problem = shown
        .split(" at line ")
        .next()
        .and_then(|s| s.split(" at position ").next())
        .and_then(|s| s.split(", while ").next())
        .unwrap_or(&shown);
    let here = location(err);
    // libyaml's context ("while scanning a quoted scalar at line 1 column 10") points at where
    // the broken thing started, which is where the clerk must look.
    let context = shown
        .split_once(", while ")
        .and_then(|(_, context)| mark_in(context))
        .or(here);
    // Where an unclosed quote or bracket opened. serde_yaml leaves the context's position out
    // when it is line 1, column 1 (or equal to the problem's, which for an unclosed opener, always
    // before the end, cannot be): found by fuzzing.
    let opened = shown
        .split_once(", while ")
        .map(|(_, context)| mark_in(context).unwrap_or((1, 1)))
        .or(here);
    let at_here = here.and_then(|(line, column)| char_at(text, line, column));

    let (position, problem) = if at_here == Some('\t') || problem.contains("tab character") {
        (
            here,
            Problem::new("tabs are not allowed for indentation, use spaces"),
        )
    } else if problem.starts_with("deserializing from YAML containing more than one document") {
        (
            second_document_line(text).map(|line| (line, 1)),
            Problem::new("the sidecar holds more than one YAML document")
                .hint("keep one sidecar per file and remove the extra `---` or `...` line"),
        )
    } else if problem == "unknown anchor" {
        (here, anchors_refused(text, here))
    } else if shown.contains("while scanning an alias")
        || shown.contains("while scanning an anchor")
    {
        // `**Bold** text`: Markdown that YAML reads as an alias named "" or "Bold".
        (context, anchors_refused(text, context))
    } else if shown.contains("while parsing a quoted scalar")
        && (problem.contains("escape") || problem.contains("hexadecimal"))
    {
        (
            here,
            Problem::new("inside double quotes, `\\` starts a special code")
                .hint("use single quotes, or write `\\\\` for a backslash"),
        )
    } else if problem == "found character that cannot start any token" {
        let first = at_here.unwrap_or('?');
        let value = here.map(|(line, column)| rest_of_line(text, line, column));
        let hint = match value {
            Some(value) if !value.is_empty() && !value.contains('"') => {
                format!("put it in quotes: \"{value}\"")
            }
            _ => "put the value in quotes".to_owned(),
        };
        let first = match first {
            '`' => "a backquote (`)".to_owned(),
            other => format!("`{other}`"),
        };
        (
            here,
            Problem::new(format!("a value cannot start with {first}")).hint(hint),
        )
    } else if problem == "mapping values are not allowed in this context" {
        (
            here,
            Problem::new("unexpected `:` here").hint(
                "if the text contains `: `, put the whole value in quotes; a new key must start \
                 in the same column as the other keys",
            ),
        )
    } else if problem.starts_with("did not find expected key")
        && here.is_some_and(|(line, column)| rest_of_line(text, line, column).starts_with(':'))
    {
        (
            here,
            Problem::new("a `:` has no key before it").hint("write `key: value`"),
        )
    } else if problem.starts_with("did not find expected key")
        || problem.starts_with("did not find expected '-' indicator")
    {
        (
            here,
            Problem::new("this line is not indented like the lines around it")
                .hint("keys at the same level must start in the same column"),
        )
    } else if problem == "block sequence entries are not allowed in this context" {
        (
            here,
            Problem::new("a `- ` list item is in the wrong place")
                .hint("put the list on the lines below its key, indented"),
        )
    } else if problem == "could not find expected ':'" {
        (
            context,
            Problem::new("this line has no `:`").hint("write `key: value`"),
        )
    } else if problem == "found unexpected end of stream" && shown.contains("quoted scalar") {
        (
            opened,
            Problem::new("a quote opens here and is never closed"),
        )
    } else if problem.starts_with("did not find expected ',' or ']'") {
        (
            opened,
            Problem::new("a list opened with `[` is not closed with `]`"),
        )
    } else if problem.starts_with("did not find expected ',' or '}'") {
        (
            opened,
            Problem::new("a group opened with `{` is not closed with `}`"),
        )
    } else {
        (
            here,
            Problem::new(format!("this is not valid YAML: {problem}"))
                .hint("check the indentation and the quotes"),
        )
    };
    SidecarError::new(position, problem)
}

/// The first " at line L column C" in a piece of libyaml's message.
fn mark_in(s: &str) -> Option<(usize, usize)> {
    let (_, rest) = s.split_once(" at line ")?;
    let (line, rest) = rest.split_once(" column ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.parse().ok()?, column.parse().ok()?))
}

fn char_at(text: &str, line: usize, column: usize) -> Option<char> {
    text.split('\n')
        .nth(line.checked_sub(1)?)?
        .chars()
        .nth(column.checked_sub(1)?)
}

/// What the clerk wrote from a position to the end of the line, without a trailing comment.
fn rest_of_line(text: &str, line: usize, column: usize) -> String {
    let Some(whole) = text.split('\n').nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let rest: String = whole.chars().skip(column.saturating_sub(1)).collect();
    let rest = rest.split(" #").next().unwrap_or_default();
    rest.trim().to_owned()
}

/// serde_yaml reports a second document without a position; find its `---` the way libyaml
/// would: a marker at column 1 after the first document has begun.
fn second_document_line(text: &str) -> Option<usize> {
    let mut started = false;
    let mut ended = false;
    for (index, line) in text.lines().enumerate() {
        let marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|rest| rest.chars().next().is_none_or(char::is_whitespace))
        };
        let content = !line.trim().is_empty()
            && !line.trim_start().starts_with('#')
            && !line.starts_with('%');
        if marker("---") {
            if started {
                return Some(index + 1);
            }
            started = true;
        } else if marker("...") {
            ended = started;
        } else if content {
            if ended {
                return Some(index + 1);
            }
            started = true;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Pass 2: shape

/// Refuses anchors, aliases and tags, and bounds the nesting, without ever expanding an alias.
///
/// serde_yaml follows aliases as it deserializes; its only guard is a "repetition limit" that
/// stops the classic billion laughs but lets a 25 KB document expand into 25 million values,
/// and there is no public way to see an alias before it is followed. So the walk runs on a
/// probe copy of the text where every `&` became `*`: a `&` is an anchor only where a node can
/// start, and a `*` is valid everywhere else a `&` is (inside plain, quoted and block scalars,
/// comments, tags). The probe therefore has no anchors at all, and every alias or former anchor
/// in it is an alias to nothing, which libyaml's loader rejects at its position before anything
/// is deserialized. When the probe fails for any other reason than the walk's own checks, the
/// text itself is read once more, without following aliases: if it is valid YAML, the probe can
/// only have failed at an anchor or an alias. Same length, same lines and columns.
fn check_shape(text: &str) -> Result<(), SidecarError> {
    let probe = text.replace('&', "*");
    let ctx = Ctx::new(&probe, &[]);
    let de = serde_yaml::Deserializer::from_str(&probe);
    node(&ctx, Walk { depth: 0 })
        .deserialize(de)
        .map_err(|err| {
            let position = location(&err);
            match ctx.problem.take() {
                Some(problem) => SidecarError::new(position, problem),
                None => match check_syntax(text) {
                    Err(syntax) => syntax,
                    Ok(()) => SidecarError::new(position, anchors_refused(text, position)),
                },
            }
        })
}

fn anchors_refused(text: &str, at: Option<(usize, usize)>) -> Problem {
    let first = at.and_then(|(line, column)| char_at(text, line, column));
    let what = match first {
        Some('&') => "YAML anchors (`&name`) are not allowed in a sidecar",
        Some('*') => "YAML aliases (`*name`) are not allowed in a sidecar",
        _ => "YAML anchors and aliases (`&name`, `*name`) are not allowed in a sidecar",
    };
    // Most often this is text that happens to start with `*`, like Markdown's `**bold**`.
    let value = at.map(|(line, column)| rest_of_line(text, line, column));
    let hint = match value {
        Some(value) if first.is_some() && !value.is_empty() && !value.contains('"') => {
            format!("write each value out in full; if this is text, put it in quotes: \"{value}\"")
        }
        _ => {
            "write each value out in full; text that starts with `*` or `&` needs quotes".to_owned()
        }
    };
    Problem::new(what).hint(hint)
}

/// Visits every node of the probe once, keys included.
struct Walk {
    depth: usize,
}

impl Walk {
    fn enter(&self) -> Result<Walk, Problem> {
        if self.depth >= MAX_DEPTH {
            return Err(Problem::new(format!(
                "the sidecar is nested more than {MAX_DEPTH} levels deep"
            ))
            .hint("a sidecar needs at most 4 levels, as in `buttons`"));
        }
        Ok(Walk {
            depth: self.depth + 1,
        })
    }
}

impl Check for Walk {
    type Out = ();

    fn scalar(self, found: Found<'_>) -> Result<(), Problem> {
        match found {
            Found::Tagged => Err(Problem::new(
                "YAML tags like `!name` are not allowed in a sidecar",
            )
            .hint("remove the `!` word before the value, or put the value in quotes")),
            _ => Ok(()),
        }
    }

    fn list<'de, A: SeqAccess<'de>>(self, ctx: &Ctx<'_>, mut seq: A) -> Result<(), A::Error> {
        let inner = self.enter().map_err(|p| ctx.fail(p))?;
        while seq
            .next_element_seed(node(ctx, Walk { depth: inner.depth }))?
            .is_some()
        {}
        Ok(())
    }

    fn map<'de, A: MapAccess<'de>>(self, ctx: &Ctx<'_>, mut map: A) -> Result<(), A::Error> {
        let inner = self.enter().map_err(|p| ctx.fail(p))?;
        while map
            .next_key_seed(node(ctx, Walk { depth: inner.depth }))?
            .is_some()
        {
            map.next_value_seed(node(ctx, Walk { depth: inner.depth }))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The machinery shared by passes 2 and 3

/// A problem found by a check, before it knows its position.
#[derive(Debug, Clone, PartialEq)]
struct Problem {
    message: String,
    hint: Option<String>,
}

impl Problem {
    fn new(message: impl Into<String>) -> Self {
        Problem {
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

/// What a check sees of one YAML node.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Found<'v> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'v str),
    List,
    Map,
    Tagged,
}

/// `"yes"`, `42`, `a list`: how a clerk would name what they wrote.
fn describe(found: Found<'_>) -> String {
    match found {
        Found::Null => "empty".to_owned(),
        Found::Bool(b) => b.to_string(),
        Found::Int(i) => i.to_string(),
        Found::Float(f) => f.to_string(),
        Found::Str(s) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("{:?}", short + "…")
            } else {
                format!("{s:?}")
            }
        }
        Found::List => "a list".to_owned(),
        Found::Map => "a group of `key: value` lines".to_owned(),
        Found::Tagged => "a tagged value".to_owned(),
    }
}

/// State shared by the checks of one pass.
///
/// serde_yaml's errors carry only a string, and attach the position of the node whose visitor
/// failed; the structured problem travels beside the error in `problem` instead of being
/// squeezed into (and parsed back out of) that string.
struct Ctx<'c> {
    text: &'c str,
    aliases: &'c [String],
    problem: Cell<Option<Problem>>,
}

impl<'c> Ctx<'c> {
    fn new(text: &'c str, aliases: &'c [String]) -> Self {
        Ctx {
            text,
            aliases,
            problem: Cell::new(None),
        }
    }

    fn fail<E: de::Error>(&self, problem: Problem) -> E {
        self.problem.set(Some(problem));
        E::custom("invalid sidecar")
    }
}

/// Deserializes the whole text with `check` and turns a failure into a positioned error.
fn run<C: Check>(ctx: &Ctx<'_>, check: C) -> Result<C::Out, SidecarError> {
    let de = serde_yaml::Deserializer::from_str(ctx.text);
    node(ctx, check).deserialize(de).map_err(|err| {
        let position = location(&err);
        match ctx.problem.take() {
            Some(problem) => SidecarError::new(position, problem),
            None => syntax_error(ctx.text, &err),
        }
    })
}

fn location(err: &serde_yaml::Error) -> Option<(usize, usize)> {
    err.location().map(|l| (l.line(), l.column()))
}

/// What one YAML node must be. A single visitor, [`Node`], hands scalars, lists and mappings to
/// it; a check that does not expect a list or a mapping says so through `scalar`.
trait Check: Sized {
    type Out;

    fn scalar(self, found: Found<'_>) -> Result<Self::Out, Problem>;

    fn list<'de, A: SeqAccess<'de>>(self, ctx: &Ctx<'_>, _seq: A) -> Result<Self::Out, A::Error> {
        Err(ctx.fail(refused(self.scalar(Found::List))))
    }

    fn map<'de, A: MapAccess<'de>>(self, ctx: &Ctx<'_>, _map: A) -> Result<Self::Out, A::Error> {
        Err(ctx.fail(refused(self.scalar(Found::Map))))
    }
}

/// A check accepted a list or a mapping through `scalar` without reading it: a bug here, not in
/// the sidecar, but it must still be an error, because the elements were not read.
fn refused<T>(result: Result<T, Problem>) -> Problem {
    result
        .err()
        .unwrap_or_else(|| Problem::new("this value cannot be read here"))
}

struct Node<'c, C> {
    ctx: &'c Ctx<'c>,
    check: C,
}

fn node<'c, C: Check>(ctx: &'c Ctx<'c>, check: C) -> Node<'c, C> {
    Node { ctx, check }
}

impl<C: Check> Node<'_, C> {
    fn found<E: de::Error>(self, found: Found<'_>) -> Result<C::Out, E> {
        let ctx = self.ctx;
        self.check.scalar(found).map_err(|p| ctx.fail(p))
    }
}

impl<'de, C: Check> DeserializeSeed<'de> for Node<'_, C> {
    type Value = C::Out;

    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<C::Out, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de, C: Check> Visitor<'de> for Node<'_, C> {
    type Value = C::Out;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sidecar value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<C::Out, E> {
        self.found(Found::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<C::Out, E> {
        self.found(Found::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<C::Out, E> {
        self.found(Found::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<C::Out, E> {
        self.found(Found::Int(v.into()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<C::Out, E> {
        match i128::try_from(v) {
            Ok(v) => self.found(Found::Int(v)),
            Err(_) => self.found(Found::Float(v as f64)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<C::Out, E> {
        self.found(Found::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<C::Out, E> {
        self.found(Found::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<C::Out, E> {
        self.found(Found::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<C::Out, E> {
        self.found(Found::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<C::Out, A::Error> {
        self.check.list(self.ctx, seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<C::Out, A::Error> {
        self.check.map(self.ctx, map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, _data: A) -> Result<C::Out, A::Error> {
        self.found(Found::Tagged)
    }
}

/// A check for a node that must be a scalar.
struct Leaf<F>(F);

fn leaf<'c, T, F>(ctx: &'c Ctx<'c>, check: F) -> Node<'c, Leaf<F>>
where
    F: FnOnce(Found<'_>) -> Result<T, Problem>,
{
    node(ctx, Leaf(check))
}

impl<T, F> Check for Leaf<F>
where
    F: FnOnce(Found<'_>) -> Result<T, Problem>,
{
    type Out = T;

    fn scalar(self, found: Found<'_>) -> Result<T, Problem> {
        (self.0)(found)
    }
}

/// The line of the first top-level key `name`, found by failing on purpose when it is reached:
/// a failure is the only place serde_yaml tells a position.
fn locate_key(text: &str, name: &str) -> Option<usize> {
    struct FindKey<'n>(&'n str);

    impl Check for FindKey<'_> {
        type Out = ();

        fn scalar(self, _found: Found<'_>) -> Result<(), Problem> {
            Ok(())
        }

        fn map<'de, A: MapAccess<'de>>(self, ctx: &Ctx<'_>, mut map: A) -> Result<(), A::Error> {
            let name = self.0;
            let is_it = |found: Found<'_>| match found {
                Found::Str(key) if key == name => Err(Problem::new("found")),
                _ => Ok(()),
            };
            while map.next_key_seed(leaf(ctx, is_it))?.is_some() {
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }

    let ctx = Ctx::new(text, &[]);
    run(&ctx, FindKey(name)).err()?.line
}

// ---------------------------------------------------------------------------------------------
// Pass 3: meaning

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Channel,
    Caption,
    Text,
    Format,
    Silent,
    Pin,
    Protect,
    Repost,
    LinkPreview,
    SendAs,
    Buttons,
    Attachments,
    PublishAt,
    PinUntil,
    Edit,
    Delete,
    Unpin,
    Replace,
    Preview,
}

const KEYS: [(&str, Key); 19] = [
    ("channel", Key::Channel),
    ("caption", Key::Caption),
    ("text", Key::Text),
    ("format", Key::Format),
    ("silent", Key::Silent),
    ("pin", Key::Pin),
    ("protect", Key::Protect),
    ("repost", Key::Repost),
    ("link_preview", Key::LinkPreview),
    ("send_as", Key::SendAs),
    ("buttons", Key::Buttons),
    ("attachments", Key::Attachments),
    ("publish_at", Key::PublishAt),
    ("pin_until", Key::PinUntil),
    ("edit", Key::Edit),
    ("delete", Key::Delete),
    ("unpin", Key::Unpin),
    ("replace", Key::Replace),
    ("preview", Key::Preview),
];

/// Words a clerk (or someone who knows the Bot API) may write for a key.
const KEY_SYNONYMS: &[(&str, &str)] = &[
    ("title", "caption"),
    ("message", "caption"),
    ("description", "caption"),
    ("body", "caption"),
    ("chat", "channel"),
    ("channels", "channel"),
    ("to", "channel"),
    ("chat_id", "channel"),
    ("button", "buttons"),
    ("reply_markup", "buttons"),
    ("attachment", "attachments"),
    ("files", "attachments"),
    ("file", "attachments"),
    ("album", "attachments"),
    ("silence", "silent"),
    ("quiet", "silent"),
    ("mute", "silent"),
    ("disable_notification", "silent"),
    ("schedule", "publish_at"),
    ("publish", "publish_at"),
    ("date", "publish_at"),
    ("when", "publish_at"),
    ("time", "publish_at"),
    ("parse_mode", "format"),
    ("web_preview", "link_preview"),
    ("thumbnail", "preview"),
    ("thumb", "preview"),
    ("disable_web_page_preview", "link_preview"),
    ("protect_content", "protect"),
    ("pinned", "pin"),
    ("type", "send_as"),
    ("correct", "edit"),
    ("correction", "edit"),
    ("fix", "edit"),
    ("update", "edit"),
    ("remove", "delete"),
    ("retract", "delete"),
    ("unpublish", "delete"),
    ("unpin_at", "pin_until"),
    ("pin_till", "pin_until"),
    ("unpin_after", "pin_until"),
    ("replaces", "replace"),
];

impl Key {
    fn name(self) -> &'static str {
        KEYS.iter()
            .find(|(_, key)| *key == self)
            .map_or("?", |(name, _)| name)
    }
}

struct Top;

impl Check for Top {
    type Out = Sidecar;

    fn scalar(self, found: Found<'_>) -> Result<Sidecar, Problem> {
        let hint = match found {
            Found::Null => return Ok(Sidecar::default()),
            Found::List => "remove the `- ` at the start of the lines",
            _ => "write one setting per line, like `caption: Hello`",
        };
        Err(Problem::new(format!(
            "a sidecar must be made of `key: value` lines, not {}",
            describe_top(found)
        ))
        .hint(hint))
    }

    fn map<'de, A: MapAccess<'de>>(self, ctx: &Ctx<'_>, mut map: A) -> Result<Sidecar, A::Error> {
        let mut sidecar = Sidecar::default();
        let mut seen: Vec<Key> = Vec::new();
        while let Some(key) = map.next_key_seed(leaf(ctx, |f| top_key(ctx, f, &seen)))? {
            seen.push(key);
            let name = key.name();
            match key {
                Key::Channel => {
                    sidecar.channels = map.next_value_seed(node(ctx, Channels(ctx.aliases)))?
                }
                Key::Caption | Key::Text => {
                    sidecar.caption =
                        Some(map.next_value_seed(leaf(ctx, |f| text_value(name, f)))?);
                }
                Key::Format => sidecar.format = map.next_value_seed(leaf(ctx, format_value))?,
                Key::Silent => {
                    sidecar.silent = map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?
                }
                Key::Pin => {
                    sidecar.pin = map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?
                }
                Key::Protect => {
                    sidecar.protect = map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?;
                }
                Key::Repost => {
                    sidecar.repost = map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?
                }
                Key::LinkPreview => {
                    sidecar.link_preview =
                        Some(map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?);
                }
                Key::SendAs => sidecar.send_as = map.next_value_seed(leaf(ctx, send_as_value))?,
                Key::Buttons => sidecar.buttons = map.next_value_seed(node(ctx, Buttons))?,
                Key::Attachments => {
                    sidecar.attachments = map.next_value_seed(node(ctx, Attachments))?;
                }
                Key::PublishAt => {
                    sidecar.publish_at =
                        Some(map.next_value_seed(leaf(ctx, |f| time_value(name, f)))?);
                }
                Key::PinUntil => {
                    sidecar.pin_until =
                        Some(map.next_value_seed(leaf(ctx, |f| time_value(name, f)))?);
                }
                Key::Edit | Key::Delete | Key::Unpin => {
                    let kind = match key {
                        Key::Edit => ChangeKind::Edit,
                        Key::Delete => ChangeKind::Delete,
                        _ => ChangeKind::Unpin,
                    };
                    let (target, written) =
                        map.next_value_seed(leaf(ctx, |f| post_value(name, f)))?;
                    if sidecar.change.is_none() {
                        sidecar.change = Some(ChangeRequest {
                            kind,
                            target,
                            written,
                        });
                    }
                }
                Key::Replace => {
                    sidecar.replace = Some(map.next_value_seed(leaf(ctx, replace_value))?);
                }
                Key::Preview => {
                    sidecar.preview = Some(map.next_value_seed(leaf(ctx, preview_value))?);
                }
            }
            if key == Key::Buttons {
                sidecar.buttons_given = true;
            }
        }
        Ok(sidecar)
    }
}

fn describe_top(found: Found<'_>) -> String {
    match found {
        Found::Str(_) | Found::Bool(_) | Found::Int(_) | Found::Float(_) => {
            format!("a single value ({})", describe(found))
        }
        _ => describe(found),
    }
}

fn top_key(ctx: &Ctx<'_>, found: Found<'_>, seen: &[Key]) -> Result<Key, Problem> {
    let known = KEYS.map(|(name, _)| name);
    let name = match found {
        Found::Str(name) => name,
        Found::Null => {
            return Err(Problem::new("a `:` has no key before it")
                .hint(format!("the keys are {}", known.join(", "))));
        }
        Found::Bool(_) | Found::Int(_) | Found::Float(_) => {
            return Err(Problem::new(format!("unknown key `{}`", describe(found)))
                .hint(format!("the keys are {}", known.join(", "))));
        }
        other => {
            return Err(
                Problem::new(format!("a key must be a word, not {}", describe(other)))
                    .hint(format!("the keys are {}", known.join(", "))),
            );
        }
    };
    let Some(&(_, key)) = KEYS.iter().find(|(known, _)| *known == name) else {
        let hint = match closest(name, known, KEY_SYNONYMS) {
            Some(key) => format!("did you mean `{key}`?"),
            None => format!("the keys are {}", known.join(", ")),
        };
        return Err(Problem::new(format!("unknown key `{}`", shorten(name))).hint(hint));
    };
    let earlier = |prefix: &str, name: &str| match locate_key(ctx.text, name) {
        Some(line) => format!("{prefix}{line}"),
        None => String::new(),
    };
    if seen.contains(&key) {
        return Err(Problem::new(format!(
            "`{name}` is written twice{}",
            earlier(", first on line ", name)
        ))
        .hint("keep only one"));
    }
    let twin = match key {
        Key::Caption => Some(Key::Text),
        Key::Text => Some(Key::Caption),
        _ => None,
    };
    if let Some(twin) = twin.filter(|twin| seen.contains(twin)) {
        let other = twin.name();
        return Err(Problem::new(format!(
            "`{name}` and `{other}` mean the same thing, and `{other}` is already there{}",
            earlier(" on line ", other)
        ))
        .hint("keep only one of them"));
    }
    Ok(key)
}

/// A clerk's word fit to be quoted back in a message: short, and with control characters
/// (which double-quote escapes like `"\x01"` can produce) made visible.
fn shorten(s: &str) -> String {
    let mut short: String = s
        .chars()
        .take(40)
        .flat_map(|c| {
            let visible = if c.is_control() {
                c.escape_debug().collect()
            } else {
                c.to_string()
            };
            visible.chars().collect::<Vec<_>>()
        })
        .collect();
    if s.chars().count() > 40 {
        short.push('…');
    }
    short
}

/// "`silent` must be true or false, not "yes"", or "`silent` is empty; …".
fn wrong(key: &str, expected: &str, found: Found<'_>) -> Problem {
    match found {
        Found::Null => Problem::new(format!("`{key}` is empty; it must be {expected}"))
            .hint("write a value after the `:`, or remove the line"),
        _ => Problem::new(format!(
            "`{key}` must be {expected}, not {}",
            describe(found)
        )),
    }
}

fn text_value(key: &str, found: Found<'_>) -> Result<String, Problem> {
    let hint = match found {
        Found::Str(s) => return Ok(s.to_owned()),
        Found::Null => return Err(wrong(key, "text", found)),
        Found::Bool(_) | Found::Int(_) | Found::Float(_) => "put it in quotes",
        Found::List => "for several lines write `|` after the `:` and indent the lines below",
        Found::Map => "if the text contains `: `, put all of it in quotes",
        Found::Tagged => "put it in quotes",
    };
    Err(wrong(key, "text", found).hint(hint))
}

fn flag_value(key: &str, found: Found<'_>) -> Result<bool, Problem> {
    let hint = match found {
        Found::Bool(b) => return Ok(b),
        Found::Null => return Err(wrong(key, "true or false", found)),
        Found::Str(s) if matches!(s.to_ascii_lowercase().as_str(), "true" | "false") => {
            "write true or false without quotes"
        }
        _ => "write true or false",
    };
    Err(wrong(key, "true or false", found).hint(hint))
}

fn format_value(found: Found<'_>) -> Result<Format, Problem> {
    const SYNONYMS: &[(&str, &str)] = &[
        ("md", "markdown"),
        ("markdownv2", "markdown"),
        ("markdown_v2", "markdown"),
        ("htm", "html"),
        ("text", "plain"),
        ("txt", "plain"),
        ("none", "plain"),
        ("raw", "plain"),
        ("testo", "plain"),
    ];
    choice("format", found, &["markdown", "html", "plain"], SYNONYMS)
        .map(|i| [Format::Markdown, Format::Html, Format::Plain][i])
}

fn send_as_value(found: Found<'_>) -> Result<SendAs, Problem> {
    const SYNONYMS: &[(&str, &str)] = &[
        ("image", "photo"),
        ("picture", "photo"),
        ("img", "photo"),
        ("foto", "photo"),
        ("immagine", "photo"),
        ("file", "document"),
        ("doc", "document"),
        ("documento", "document"),
        ("pdf", "document"),
        ("default", "auto"),
        ("automatic", "auto"),
    ];
    choice("send_as", found, &["auto", "photo", "document"], SYNONYMS)
        .map(|i| [SendAs::Auto, SendAs::Photo, SendAs::Document][i])
}

fn preview_value(found: Found<'_>) -> Result<Preview, Problem> {
    const SYNONYMS: &[(&str, &str)] = &[
        ("thumb", "thumbnail"),
        ("small", "thumbnail"),
        ("miniatura", "thumbnail"),
        ("first_page", "page"),
        ("photo", "page"),
        ("pagina", "page"),
        ("no", "none"),
        ("off", "none"),
        ("false", "none"),
        ("nessuna", "none"),
    ];
    if let Found::Bool(false) = found {
        return Ok(Preview::None);
    }
    choice("preview", found, &["thumbnail", "page", "none"], SYNONYMS)
        .map(|i| [Preview::Thumbnail, Preview::Page, Preview::None][i])
}

/// One of a few words, in any case; the index of the word.
fn choice(
    key: &str,
    found: Found<'_>,
    words: &[&'static str],
    synonyms: &[(&str, &'static str)],
) -> Result<usize, Problem> {
    let expected = match words {
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => String::new(),
    };
    if let Found::Str(s) = found {
        if let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case(s)) {
            return Ok(i);
        }
        let hint =
            closest(s, words.iter().copied(), synonyms).map(|w| format!("did you mean `{w}`?"));
        return Err(wrong(key, &expected, found).maybe_hint(hint));
    }
    Err(wrong(key, &expected, found))
}

/// A post named by its link or its file name in the archive (see change.rs).
fn post_value(key: &str, found: Found<'_>) -> Result<(crate::change::PostRef, String), Problem> {
    let expected = "the link of a post, like https://t.me/town_news/123";
    let Found::Str(text) = found else {
        return Err(wrong(key, expected, found).hint(
            "copy the link from the post's receipt, or from Telegram (right-click the post, \"Copy link\")",
        ));
    };
    crate::change::parse(text)
        .map(|target| (target, text.trim().to_owned()))
        .map_err(|crate::change::NotAPost(why)| {
            Problem::new(format!("`{key}` must name a post: {why}")).hint(
                "copy the link from the post's receipt, or from Telegram (right-click the post, \"Copy link\"); or write the file's name as it is in the archive",
            )
        })
}

/// The name of a file of an album (`replace: page2.jpg`): a name, not a path.
fn replace_value(found: Found<'_>) -> Result<String, Problem> {
    let Found::Str(text) = found else {
        return Err(wrong("replace", "the name of a file of the post", found));
    };
    let text = text.trim();
    if text.is_empty() || text.contains(['/', '\\']) || text == ".." {
        return Err(Problem::new(format!(
            "`replace` must be the name of a file of the post, not \"{}\"",
            shorten(text)
        ))
        .hint("write only the file's name, like page2.jpg"));
    }
    Ok(text.to_owned())
}

fn time_value(key: &str, found: Found<'_>) -> Result<PublishAt, Problem> {
    let expected = "a date and time like 2026-11-28 08:00";
    let Found::Str(text) = found else {
        return Err(wrong(key, expected, found));
    };
    let text = text.trim();
    // An offset (or Z) makes it an exact instant; without one it is the office's wall clock.
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(PublishAt::Exact(ts.as_second()));
    }
    let has_time = text.len() > 10
        && text
            .as_bytes()
            .get(10)
            .is_some_and(|c| *c == b' ' || *c == b'T' || *c == b't');
    match text.parse::<jiff::civil::DateTime>() {
        Ok(dt) if has_time => Ok(PublishAt::Local(
            dt.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
        )),
        Ok(_) => Err(Problem::new(format!(
            "`{key}` needs a time too, not only the date \"{}\"",
            shorten(text)
        ))
        .hint(format!("for example {text} 08:00"))),
        Err(_) => Err(wrong(key, expected, found).hint(
            "write the date as year-month-day and the time as hours:minutes, e.g. 2026-11-28 08:00",
        )),
    }
}

// channel

struct Channels<'a>(&'a [String]);

impl Check for Channels<'_> {
    type Out = Vec<String>;

    fn scalar(self, found: Found<'_>) -> Result<Vec<String>, Problem> {
        Ok(vec![channel(self.0, found, &[])?])
    }

    fn list<'de, A: SeqAccess<'de>>(
        self,
        ctx: &Ctx<'_>,
        mut seq: A,
    ) -> Result<Vec<String>, A::Error> {
        let aliases = self.0;
        let mut channels: Vec<String> = Vec::new();
        while let Some(one) =
            seq.next_element_seed(leaf(ctx, |f| channel(aliases, f, &channels)))?
        {
            channels.push(one);
        }
        if channels.is_empty() {
            return Err(ctx.fail(Problem::new("`channel` is an empty list").hint(
                "name at least one channel, or remove the line to use the folder's channel",
            )));
        }
        Ok(channels)
    }
}

/// One channel reference, as the clerk wrote it (ids in their canonical form).
fn channel(aliases: &[String], found: Found<'_>, earlier: &[String]) -> Result<String, Problem> {
    const EXPECTED: &str = "a channel name, an @username or a numeric chat id";
    let reference = match found {
        Found::Int(id) if id != 0 && i64::try_from(id).is_ok() => id.to_string(),
        Found::Str(s) if aliases.iter().any(|a| a == s) => s.to_owned(),
        Found::Str(s) if s.starts_with('@') => {
            if !is_username(&s[1..]) {
                return Err(Problem::new(format!(
                    "`{}` is not a valid Telegram username",
                    shorten(s)
                ))
                .hint(
                    "5 to 32 letters, digits or underscores after the @, starting with a letter",
                ));
            }
            s.to_owned()
        }
        Found::Str(s) => match s.parse::<i64>() {
            Ok(id) if id != 0 => id.to_string(),
            _ => return Err(unknown_channel(aliases, s)),
        },
        Found::List => {
            return Err(wrong("channel", EXPECTED, found)
                .hint("write the channels in one list, like [news, alerts]"));
        }
        _ => return Err(wrong("channel", EXPECTED, found)),
    };
    // Usernames are case-insensitive on Telegram.
    let same = |other: &String| {
        other == &reference
            || (reference.starts_with('@') && other.eq_ignore_ascii_case(&reference))
    };
    if earlier.iter().any(same) {
        return Err(
            Problem::new(format!("channel `{reference}` is listed twice")).hint("keep only one"),
        );
    }
    Ok(reference)
}

fn unknown_channel(aliases: &[String], name: &str) -> Problem {
    let message = if aliases.is_empty() {
        format!(
            "unknown channel `{}`: the config names no channels",
            shorten(name)
        )
    } else {
        format!(
            "unknown channel `{}`: the config has {}",
            shorten(name),
            aliases.join(", ")
        )
    };
    let hint = match closest(name, aliases.iter().map(String::as_str), &[]) {
        Some(alias) => format!("did you mean `{alias}`?"),
        None if is_username(name) => format!("for a public channel write \"@{name}\""),
        None => {
            "write a channel name from the config, an @username or a numeric chat id".to_owned()
        }
    };
    Problem::new(message).hint(hint)
}

/// Telegram's rule: 5 to 32 characters of letters, digits and underscores, starting with a
/// letter.
fn is_username(name: &str) -> bool {
    (5..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// buttons

struct Buttons;

impl Check for Buttons {
    type Out = Vec<Vec<Button>>;

    fn scalar(self, found: Found<'_>) -> Result<Vec<Vec<Button>>, Problem> {
        let problem = wrong("buttons", "a list of buttons", found);
        Err(match found {
            Found::Map => problem
                .hint("start each button with `- `, like `- {text: Details, url: https://…}`"),
            Found::Null => problem,
            _ => problem.hint("write each button as `- {text: Details, url: https://…}`"),
        })
    }

    fn list<'de, A: SeqAccess<'de>>(
        self,
        ctx: &Ctx<'_>,
        mut seq: A,
    ) -> Result<Vec<Vec<Button>>, A::Error> {
        let mut rows = Vec::new();
        let mut total = 0;
        while let Some(row) = seq.next_element_seed(node(ctx, Row { total: &mut total }))? {
            rows.push(row);
        }
        Ok(rows)
    }
}

/// An element of `buttons`: a row (a list of buttons) or a single button on its own row.
struct Row<'t> {
    total: &'t mut usize,
}

impl Check for Row<'_> {
    type Out = Vec<Button>;

    fn scalar(self, found: Found<'_>) -> Result<Vec<Button>, Problem> {
        Err(not_a_button(found))
    }

    fn list<'de, A: SeqAccess<'de>>(
        self,
        ctx: &Ctx<'_>,
        mut seq: A,
    ) -> Result<Vec<Button>, A::Error> {
        let mut row = Vec::new();
        while let Some(button) = seq.next_element_seed(node(
            ctx,
            OneButton {
                in_row: row.len(),
                total: &mut *self.total,
            },
        ))? {
            row.push(button);
        }
        if row.is_empty() {
            return Err(ctx.fail(
                Problem::new("a row of buttons is empty").hint("add a button or remove the row"),
            ));
        }
        Ok(row)
    }

    fn map<'de, A: MapAccess<'de>>(self, ctx: &Ctx<'_>, map: A) -> Result<Vec<Button>, A::Error> {
        Ok(vec![read_button(ctx, map, 0, self.total)?])
    }
}

struct OneButton<'t> {
    in_row: usize,
    total: &'t mut usize,
}

impl Check for OneButton<'_> {
    type Out = Button;

    fn scalar(self, found: Found<'_>) -> Result<Button, Problem> {
        Err(not_a_button(found))
    }

    fn map<'de, A: MapAccess<'de>>(self, ctx: &Ctx<'_>, map: A) -> Result<Button, A::Error> {
        read_button(ctx, map, self.in_row, self.total)
    }
}

fn not_a_button(found: Found<'_>) -> Problem {
    Problem::new(format!(
        "a button must be written as `{{text: …, url: …}}`, not {}",
        describe(found)
    ))
    .hint("like `- {text: Details, url: https://example.org}`")
}

#[derive(Clone, Copy, PartialEq)]
enum ButtonKey {
    Text,
    Url,
}

fn read_button<'de, A: MapAccess<'de>>(
    ctx: &Ctx<'_>,
    mut map: A,
    in_row: usize,
    total: &mut usize,
) -> Result<Button, A::Error> {
    // Counted before the button is read, so the error points at the button that is one too
    // many.
    if in_row >= MAX_BUTTONS_PER_ROW {
        return Err(ctx.fail(
            Problem::new(format!("a row has more than {MAX_BUTTONS_PER_ROW} buttons"))
                .hint("start a new row with `- `"),
        ));
    }
    if *total >= MAX_BUTTONS {
        return Err(ctx.fail(Problem::new(format!(
            "there are more than {MAX_BUTTONS} buttons"
        ))));
    }
    *total += 1;
    let mut text: Option<String> = None;
    let mut url: Option<String> = None;
    loop {
        let seen = (text.is_some(), url.is_some());
        let Some(key) = map.next_key_seed(leaf(ctx, |f| button_key(f, seen)))? else {
            break;
        };
        match key {
            ButtonKey::Text => text = Some(map.next_value_seed(leaf(ctx, button_text))?),
            ButtonKey::Url => url = Some(map.next_value_seed(leaf(ctx, button_url))?),
        }
    }
    match (text, url) {
        (Some(text), Some(url)) => Ok(Button { text, url }),
        (None, _) => Err(ctx.fail(
            Problem::new("a button has no `text`")
                .hint("write `text: ` and the words on the button"),
        )),
        (Some(_), None) => Err(ctx.fail(
            Problem::new("a button has no `url`").hint("write `url: ` and the link it opens"),
        )),
    }
}

fn button_key(found: Found<'_>, (has_text, has_url): (bool, bool)) -> Result<ButtonKey, Problem> {
    const SYNONYMS: &[(&str, &str)] = &[
        ("label", "text"),
        ("title", "text"),
        ("caption", "text"),
        ("name", "text"),
        ("testo", "text"),
        ("link", "url"),
        ("href", "url"),
        ("uri", "url"),
        ("address", "url"),
        ("indirizzo", "url"),
    ];
    let key = match found {
        Found::Str("text") if has_text => "text",
        Found::Str("url") if has_url => "url",
        Found::Str("text") => return Ok(ButtonKey::Text),
        Found::Str("url") => return Ok(ButtonKey::Url),
        Found::Str(other) => {
            let hint = match closest(other, ["text", "url"], SYNONYMS) {
                Some(key) => format!("did you mean `{key}`?"),
                None => "a button has only `text` and `url`".to_owned(),
            };
            return Err(
                Problem::new(format!("unknown key `{}` in a button", shorten(other))).hint(hint),
            );
        }
        other => {
            return Err(
                Problem::new(format!("unknown key `{}` in a button", describe(other)))
                    .hint("a button has only `text` and `url`"),
            );
        }
    };
    Err(Problem::new(format!("a button has `{key}` twice")).hint("keep only one"))
}

fn button_text(found: Found<'_>) -> Result<String, Problem> {
    let Found::Str(text) = found else {
        let problem = wrong("text", "the words on the button", found);
        return Err(match found {
            Found::Null => problem,
            _ => problem.hint("put it in quotes"),
        });
    };
    if text.trim().is_empty() {
        return Err(Problem::new("a button's `text` is empty"));
    }
    let chars = text.chars().count();
    if chars > MAX_BUTTON_TEXT_CHARS {
        return Err(Problem::new(format!(
            "a button's `text` has {chars} characters; at most {MAX_BUTTON_TEXT_CHARS} are allowed"
        )));
    }
    Ok(text.to_owned())
}

fn button_url(found: Found<'_>) -> Result<String, Problem> {
    const EXPECTED: &str = "a link starting with https://, http:// or tg://";
    let Found::Str(url) = found else {
        return Err(wrong("url", EXPECTED, found));
    };
    let after_scheme = ["https://", "http://", "tg://"].iter().find_map(|scheme| {
        let head = url.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &url[scheme.len()..])
    });
    let Some(rest) = after_scheme else {
        let problem = wrong("url", EXPECTED, found);
        let looks_like_a_site = !url.contains("://") && url.contains('.') && !url.contains(' ');
        return Err(if looks_like_a_site {
            problem.hint(format!("write \"https://{url}\""))
        } else {
            problem
        });
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            Problem::new(format!("the link {} contains spaces", describe(found)))
                .hint("write spaces in a link as %20"),
        );
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    if host.is_empty() {
        return Err(Problem::new(format!(
            "the link {} has no site name after `//`",
            describe(found)
        )));
    }
    Ok(url.to_owned())
}

// attachments

struct Attachments;

impl Check for Attachments {
    type Out = Vec<String>;

    fn scalar(self, found: Found<'_>) -> Result<Vec<String>, Problem> {
        let names = vec![file_name(found, &[])?];
        albums_supported(&names)?;
        Ok(names)
    }

    fn list<'de, A: SeqAccess<'de>>(
        self,
        ctx: &Ctx<'_>,
        mut seq: A,
    ) -> Result<Vec<String>, A::Error> {
        let mut names: Vec<String> = Vec::new();
        while let Some(name) = seq.next_element_seed(leaf(ctx, |f| file_name(f, &names)))? {
            names.push(name);
        }
        albums_supported(&names).map_err(|p| ctx.fail(p))?;
        Ok(names)
    }
}

fn albums_supported(names: &[String]) -> Result<(), Problem> {
    if ALBUMS_SUPPORTED || names.is_empty() {
        return Ok(());
    }
    Err(Problem::new(
        "`attachments` (albums) are not supported yet: post each file with its own sidecar",
    ))
}

/// A name of a file next to the sidecar: nothing that could reach another folder.
fn file_name(found: Found<'_>, earlier: &[String]) -> Result<String, Problem> {
    let Found::Str(name) = found else {
        let problem = wrong("attachments", "file names", found);
        return Err(match found {
            Found::Int(_) | Found::Float(_) | Found::Bool(_) => problem.hint("put it in quotes"),
            _ => problem,
        });
    };
    let drive = name.as_bytes().get(1) == Some(&b':')
        && name.starts_with(|c: char| c.is_ascii_alphabetic());
    let bad = name.trim().is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
        || drive;
    if bad {
        let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
        let problem = Problem::new(format!(
            "attachments must be file names in the same folder, not {}",
            describe(found)
        ));
        return Err(
            if last.is_empty() || last == ".." || last == "." || last == name {
                problem
            } else {
                problem.hint(format!(
                    "put the file next to the sidecar and write only \"{last}\""
                ))
            },
        );
    }
    if earlier.iter().any(|e| e == name) {
        return Err(Problem::new(format!(
            "`{}` is listed twice in `attachments`",
            shorten(name)
        ))
        .hint("keep only one"));
    }
    Ok(name.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Suggestions

/// The word the clerk most likely meant: the same word in another case or spelling (`-` or a
/// space for `_`), a known synonym, or the nearest word within a small edit distance.
fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    synonyms: &[(&str, &'a str)],
) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let normal: String = word
        .trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(&normal)) {
        return Some(exact);
    }
    if let Some((_, target)) = synonyms.iter().find(|(s, _)| *s == normal) {
        return Some(target);
    }
    // A long word is nobody's typo of a short key, and the distance is quadratic.
    if normal.chars().count() > 64 {
        return None;
    }
    let limit = if normal.chars().count() <= 3 { 1 } else { 2 };
    candidates
        .iter()
        .map(|c| (edit_distance(&normal, &c.to_ascii_lowercase()), *c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Damerau-Levenshtein distance, optimal string alignment variant: insertions, deletions,
/// substitutions and swaps of two neighbours each cost 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const KEY_LIST: &str = "channel, caption, text, format, silent, pin, protect, repost, \
                            link_preview, send_as, buttons, attachments, publish_at, \
                            pin_until, edit, delete, unpin, replace, preview";

    fn outcome(bytes: &[u8]) -> String {
        let aliases = ["news", "alerts", "notizie"].map(String::from);
        let rules = Rules {
            channel_aliases: &aliases,
        };
        match parse(bytes, &rules) {
            Ok(sidecar) => summary(&sidecar),
            Err(err) => format!("error: {err}"),
        }
    }

    /// `ok` and the fields that differ from the defaults, or `error: ` and the error as shown.
    fn summary(s: &Sidecar) -> String {
        let mut parts = vec!["ok".to_owned()];
        if !s.channels.is_empty() {
            parts.push(format!("channels={:?}", s.channels));
        }
        if let Some(caption) = &s.caption {
            parts.push(format!("caption={caption:?}"));
        }
        if s.format != Format::default() {
            parts.push(format!("format={:?}", s.format));
        }
        for (name, on) in [
            ("silent", s.silent),
            ("pin", s.pin),
            ("protect", s.protect),
            ("repost", s.repost),
        ] {
            if on {
                parts.push(name.to_owned());
            }
        }
        if let Some(preview) = s.link_preview {
            parts.push(format!("link_preview={preview}"));
        }
        if s.send_as != SendAs::default() {
            parts.push(format!("send_as={:?}", s.send_as));
        }
        if !s.buttons.is_empty() {
            let rows: Vec<String> = s
                .buttons
                .iter()
                .map(|row| {
                    let buttons: Vec<String> = row
                        .iter()
                        .map(|b| format!("{} {}", b.text, b.url))
                        .collect();
                    format!("[{}]", buttons.join(", "))
                })
                .collect();
            parts.push(format!("buttons={}", rows.concat()));
        }
        if !s.attachments.is_empty() {
            parts.push(format!("attachments={:?}", s.attachments));
        }
        if let Some(at) = &s.publish_at {
            parts.push(format!("publish_at={at:?}"));
        }
        if let Some(at) = &s.pin_until {
            parts.push(format!("pin_until={at:?}"));
        }
        if let Some(c) = &s.change {
            parts.push(format!("{}={:?}", c.kind.key(), c.target));
        }
        if let Some(r) = &s.replace {
            parts.push(format!("replace={r:?}"));
        }
        parts.join(" ")
    }

    #[test]
    fn corrections_name_a_post_and_take_only_what_they_can_change() {
        check(
            "edit: https://t.me/town_news/12\ncaption: New\n",
            r#"ok caption="New" edit=Public { username: "town_news", message_id: 12 }"#,
        );
        check(
            "delete: notice (2).pdf\n",
            r#"ok delete=File("notice (2).pdf")"#,
        );
        check(
            "unpin: https://t.me/c/1234567890/5?single\n",
            "ok unpin=Private { chat_id: -1001234567890, message_id: 5 }",
        );
        check(
            "edit: https://t.me/town_news/12\nreplace: page2.jpg\n",
            r#"ok edit=Public { username: "town_news", message_id: 12 } replace="page2.jpg""#,
        );
        check(
            "edit: https://t.me/town_news\n",
            "error: line 1, column 7: `edit` must name a post: `https://t.me/town_news` is a link to \
             the channel, not to one of its posts: open the post in Telegram and use \"Copy link\" \
             (copy the link from the post's receipt, or from Telegram (right-click the post, \"Copy \
             link\"); or write the file's name as it is in the archive)",
        );
        check(
            "delete: https://t.me/town_news/12\ncaption: x\n",
            "error: line 2, column 1: `caption` has no place in a sidecar that says `delete` (a \
             `delete` sidecar needs only the `delete:` line; remove this one)",
        );
        check(
            "edit: https://t.me/town_news/12\nunpin: https://t.me/town_news/12\n",
            "error: line 2, column 1: `edit` and `unpin` cannot be in one sidecar: one sidecar \
             makes one change (drop one sidecar for each change)",
        );
        check(
            "edit: https://t.me/town_news/12\npublish_at: 2026-12-01 10:00\n",
            "error: line 2, column 1: `publish_at` has no place in a sidecar that says `edit` (a \
             correction goes out at once; to change a post that waits in scheduled/, delete its \
             file there and drop the corrected bundle again)",
        );
        check(
            "replace: a.jpg\n",
            "error: line 1, column 1: `replace` names a file of a post to correct, and there is \
             no `edit` (add `edit:` with the link of the post, or remove the line)",
        );
        check(
            "edit: https://t.me/town_news/12\nreplace: ../a.jpg\n",
            "error: line 2, column 10: `replace` must be the name of a file of the post, not \
             \"../a.jpg\" (write only the file's name, like page2.jpg)",
        );
    }

    #[test]
    fn a_pin_that_ends() {
        check(
            "pin: true\npin_until: 2026-12-02 23:59\n",
            r#"ok pin pin_until=Local("2026-12-02T23:59:00")"#,
        );
        check(
            "pin_until: 2026-12-02 23:59\n",
            "error: line 1, column 1: `pin_until` says when a pin ends, and the post is not \
             pinned (add `pin: true`, or remove the line)",
        );
        check(
            "pin: true\npin_until: 2026-12-02\n",
            "error: line 2, column 12: `pin_until` needs a time too, not only the date \
             \"2026-12-02\" (for example 2026-12-02 08:00)",
        );
    }

    #[track_caller]
    fn check(yaml: &str, expected: &str) {
        check_bytes(yaml.as_bytes(), expected);
    }

    #[track_caller]
    fn check_bytes(bytes: &[u8], expected: &str) {
        let shown = String::from_utf8_lossy(bytes);
        assert_eq!(outcome(bytes), expected, "sidecar:\n{shown}");
    }

    #[track_caller]
    fn check_fast(yaml: &str, expected: &str) {
        let start = Instant::now();
        check(yaml, expected);
        let took = start.elapsed();
        assert!(took < Duration::from_millis(100), "took {took:?}");
    }

    #[test]
    fn empty_means_all_defaults() {
        check("", "ok");
        check("\n\n   \n", "ok");
        check("# only\n# comments\n", "ok");
        check("---\n", "ok");
        check("---\n# nothing\n...\n", "ok");
        check("~\n", "ok");
    }

    #[test]
    fn bytes() {
        check_bytes(b"\xEF\xBB\xBFcaption: Ciao\n", r#"ok caption="Ciao""#);
        check_bytes(
            b"\xEF\xBB\xBFcaptoin: x\n",
            "error: line 1, column 1: unknown key `captoin` (did you mean `caption`?)",
        );
        check(
            "caption: Ciao\r\nsilent: true\r\n",
            r#"ok caption="Ciao" silent"#,
        );
        check("caption: |\r\n  a\r\n  b\r\n", r#"ok caption="a\nb\n""#);
        check(
            "caption: x\r\nsilent: yes\r\n",
            r#"error: line 2, column 9: `silent` must be true or false, not "yes" (write true or false)"#,
        );
        check_bytes(
            b"caption: x\nsilent: \xE0 true\n",
            "error: line 2, column 9: the sidecar is not valid UTF-8 text (save it as UTF-8)",
        );
        check_bytes(
            b"\xFF\xFEc\0a\0",
            "error: line 1, column 1: the sidecar is saved as UTF-16 text (save it as UTF-8)",
        );
        check(
            "caption: a\u{1}b\n",
            "error: line 1, column 11: the sidecar contains an invisible control character (U+0001) (delete this line and type it again)",
        );
        check(
            "caption: a\0b\n",
            "error: line 1, column 11: the sidecar contains an invisible control character (U+0000) (delete this line and type it again)",
        );
    }

    #[test]
    fn size_limit() {
        let comments = |size: usize| "#".repeat(size - 1) + "\n";
        check(&comments(MAX_SIDECAR_BYTES), "ok");
        check(
            &comments(MAX_SIDECAR_BYTES + 1),
            "error: the sidecar is 65 KB; at most 64 KB is allowed (a sidecar needs only a few lines: is this the right file?)",
        );
        check_fast(
            &format!("caption: {}\n", "a".repeat(100 * 1024 - 10)),
            "error: the sidecar is 100 KB; at most 64 KB is allowed (a sidecar needs only a few lines: is this the right file?)",
        );
    }

    #[test]
    fn columns_count_characters() {
        check(
            "{caption: è, silent: yes}\n",
            r#"error: line 1, column 22: `silent` must be true or false, not "yes" (write true or false)"#,
        );
        check(
            "{caption: 🌧️, silent: yes}\n",
            r#"error: line 1, column 23: `silent` must be true or false, not "yes" (write true or false)"#,
        );
        check(
            "caption: \"è\"\nchannel: \"\\x01x\"\n",
            "error: line 2, column 10: unknown channel `\\u{1}x`: the config has news, alerts, notizie (write a channel name from the config, an @username or a numeric chat id)",
        );
        check(
            &format!("{}: x\n", "k".repeat(50)),
            &format!(
                "error: line 1, column 1: unknown key `{}…` (the keys are {KEY_LIST})",
                "k".repeat(40)
            ),
        );
    }

    #[test]
    fn top_level_is_a_mapping() {
        check(
            "- caption: x\n",
            "error: line 1, column 1: a sidecar must be made of `key: value` lines, not a list (remove the `- ` at the start of the lines)",
        );
        check(
            "Hello\n",
            r#"error: line 1, column 1: a sidecar must be made of `key: value` lines, not a single value ("Hello") (write one setting per line, like `caption: Hello`)"#,
        );
        check(
            "42\n",
            "error: line 1, column 1: a sidecar must be made of `key: value` lines, not a single value (42) (write one setting per line, like `caption: Hello`)",
        );
        check("  caption: x\n  silent: true\n", r#"ok caption="x" silent"#);
    }

    #[test]
    fn unknown_keys() {
        let hint = |line: usize, column: usize, key: &str, meant: &str| {
            format!(
                "error: line {line}, column {column}: unknown key `{key}` (did you mean `{meant}`?)"
            )
        };
        for (key, meant) in [
            ("captoin", "caption"),
            ("capton", "caption"),
            ("Caption", "caption"),
            ("CAPTION", "caption"),
            ("title", "caption"),
            ("message", "caption"),
            ("description", "caption"),
            ("body", "caption"),
            ("chanel", "channel"),
            ("chat", "channel"),
            ("channels", "channel"),
            ("to", "channel"),
            ("button", "buttons"),
            ("attachment", "attachments"),
            ("files", "attachments"),
            ("silence", "silent"),
            ("quiet", "silent"),
            ("mute", "silent"),
            ("schedule", "publish_at"),
            ("publish", "publish_at"),
            ("date", "publish_at"),
            ("when", "publish_at"),
            ("publishAt", "publish_at"),
            ("publish-at", "publish_at"),
            ("link preview", "link_preview"),
            ("sendas", "send_as"),
            ("fromat", "format"),
            ("pinn", "pin"),
            ("protected", "protect"),
            ("parse_mode", "format"),
        ] {
            check(&format!("{key}: x\n"), &hint(1, 1, key, meant));
        }
        check(
            "silent: true\npin: true\ncaptoin: x\n",
            &hint(3, 1, "captoin", "caption"),
        );
        check(
            "  silent: true\n  captoin: x\n",
            &hint(2, 3, "captoin", "caption"),
        );
        check(
            "{silent: true, captoin: x}\n",
            &hint(1, 16, "captoin", "caption"),
        );
        check(
            "colour: red\n",
            &format!("error: line 1, column 1: unknown key `colour` (the keys are {KEY_LIST})"),
        );
        check(
            "1: x\n",
            &format!("error: line 1, column 1: unknown key `1` (the keys are {KEY_LIST})"),
        );
        check(
            "[a]: x\n",
            &format!(
                "error: line 1, column 1: a key must be a word, not a list (the keys are {KEY_LIST})"
            ),
        );
        check(
            ": x\n",
            "error: line 1, column 1: a `:` has no key before it (write `key: value`)",
        );
        check(
            "~: x\n",
            &format!(
                "error: line 1, column 1: a `:` has no key before it (the keys are {KEY_LIST})"
            ),
        );
        check(
            "<<: {caption: x}\n",
            &format!("error: line 1, column 1: unknown key `<<` (the keys are {KEY_LIST})"),
        );
    }

    #[test]
    fn duplicate_keys() {
        check(
            "caption: a\ncaption: b\n",
            "error: line 2, column 1: `caption` is written twice, first on line 1 (keep only one)",
        );
        check(
            "silent: true\npin: true\n\nsilent: false\n",
            "error: line 4, column 1: `silent` is written twice, first on line 1 (keep only one)",
        );
        check(
            "{pin: true, pin: true}\n",
            "error: line 1, column 13: `pin` is written twice, first on line 1 (keep only one)",
        );
    }

    #[test]
    fn caption_and_text() {
        check("caption: Ciao\n", r#"ok caption="Ciao""#);
        check("text: Ciao\n", r#"ok caption="Ciao""#);
        check("caption: ''\n", r#"ok caption="""#);
        check("caption: \"\"\n", r#"ok caption="""#);
        check(
            "caption: |\n  line one\n  line two\n",
            r#"ok caption="line one\nline two\n""#,
        );
        check("caption: >\n  one\n  two\n", r#"ok caption="one two\n""#);
        check("caption: \"42\"\n", r#"ok caption="42""#);
        check(
            "caption: Tom & Jerry *ok*\n",
            r#"ok caption="Tom & Jerry *ok*""#,
        );
        check(
            "caption: 42\n",
            "error: line 1, column 10: `caption` must be text, not 42 (put it in quotes)",
        );
        check(
            "caption: 1.5\n",
            "error: line 1, column 10: `caption` must be text, not 1.5 (put it in quotes)",
        );
        check(
            "text: true\n",
            "error: line 1, column 7: `text` must be text, not true (put it in quotes)",
        );
        check(
            "caption:\n",
            "error: line 1, column 9: `caption` is empty; it must be text (write a value after the `:`, or remove the line)",
        );
        check(
            "caption: [a, b]\n",
            "error: line 1, column 10: `caption` must be text, not a list (for several lines write `|` after the `:` and indent the lines below)",
        );
        check(
            "caption:\n  a: b\n",
            "error: line 2, column 3: `caption` must be text, not a group of `key: value` lines (if the text contains `: `, put all of it in quotes)",
        );
        check(
            "caption: a\ntext: b\n",
            "error: line 2, column 1: `text` and `caption` mean the same thing, and `caption` is already there on line 1 (keep only one of them)",
        );
        check(
            "text: a\n\ncaption: b\n",
            "error: line 3, column 1: `caption` and `text` mean the same thing, and `text` is already there on line 1 (keep only one of them)",
        );
    }

    #[test]
    fn format() {
        check("format: markdown\n", "ok");
        check("format: html\n", "ok format=Html");
        check("format: plain\n", "ok format=Plain");
        check("format: HTML\n", "ok format=Html");
        check(
            "format: md\n",
            r#"error: line 1, column 9: `format` must be markdown, html or plain, not "md" (did you mean `markdown`?)"#,
        );
        check(
            "format: htlm\n",
            r#"error: line 1, column 9: `format` must be markdown, html or plain, not "htlm" (did you mean `html`?)"#,
        );
        check(
            "format: text\n",
            r#"error: line 1, column 9: `format` must be markdown, html or plain, not "text" (did you mean `plain`?)"#,
        );
        check(
            "format: rtf\n",
            r#"error: line 1, column 9: `format` must be markdown, html or plain, not "rtf""#,
        );
        check(
            "format: 1\n",
            "error: line 1, column 9: `format` must be markdown, html or plain, not 1",
        );
        check(
            "format:\n",
            "error: line 1, column 8: `format` is empty; it must be markdown, html or plain (write a value after the `:`, or remove the line)",
        );
    }

    #[test]
    fn booleans() {
        check(
            "silent: true\npin: true\nprotect: true\nrepost: true\nlink_preview: true\n",
            "ok silent pin protect repost link_preview=true",
        );
        check(
            "silent: false\npin: false\nprotect: false\nrepost: false\nlink_preview: false\n",
            "ok link_preview=false",
        );
        check("silent: True\n", "ok silent");
        for key in ["silent", "pin", "protect", "repost", "link_preview"] {
            let column = key.len() + 3;
            check(
                &format!("{key}: yes\n"),
                &format!(
                    r#"error: line 1, column {column}: `{key}` must be true or false, not "yes" (write true or false)"#
                ),
            );
        }
        check(
            "silent: no\n",
            r#"error: line 1, column 9: `silent` must be true or false, not "no" (write true or false)"#,
        );
        check(
            "silent: on\n",
            r#"error: line 1, column 9: `silent` must be true or false, not "on" (write true or false)"#,
        );
        check(
            "silent: sì\n",
            r#"error: line 1, column 9: `silent` must be true or false, not "sì" (write true or false)"#,
        );
        check(
            "silent: \"true\"\n",
            r#"error: line 1, column 9: `silent` must be true or false, not "true" (write true or false without quotes)"#,
        );
        check(
            "silent: 1\n",
            "error: line 1, column 9: `silent` must be true or false, not 1 (write true or false)",
        );
        check(
            "silent: [true]\n",
            "error: line 1, column 9: `silent` must be true or false, not a list (write true or false)",
        );
        check(
            "silent:\n",
            "error: line 1, column 8: `silent` is empty; it must be true or false (write a value after the `:`, or remove the line)",
        );
    }

    #[test]
    fn send_as() {
        check("send_as: auto\n", "ok");
        check("send_as: photo\n", "ok send_as=Photo");
        check("send_as: document\n", "ok send_as=Document");
        check("send_as: Document\n", "ok send_as=Document");
        check(
            "send_as: foto\n",
            r#"error: line 1, column 10: `send_as` must be auto, photo or document, not "foto" (did you mean `photo`?)"#,
        );
        check(
            "send_as: file\n",
            r#"error: line 1, column 10: `send_as` must be auto, photo or document, not "file" (did you mean `document`?)"#,
        );
        check(
            "send_as: true\n",
            "error: line 1, column 10: `send_as` must be auto, photo or document, not true",
        );
    }

    #[test]
    fn channel() {
        check("channel: news\n", r#"ok channels=["news"]"#);
        check(
            "channel: [news, alerts]\n",
            r#"ok channels=["news", "alerts"]"#,
        );
        check(
            "channel:\n  - news\n  - \"@town_news\"\n",
            r#"ok channels=["news", "@town_news"]"#,
        );
        check("channel: '@Town_News'\n", r#"ok channels=["@Town_News"]"#);
        check(
            "channel: -1001234567890\n",
            r#"ok channels=["-1001234567890"]"#,
        );
        check(
            "channel: '-1001234567890'\n",
            r#"ok channels=["-1001234567890"]"#,
        );
        check(
            "channel: [news, -1001234567890]\n",
            r#"ok channels=["news", "-1001234567890"]"#,
        );
        check(
            "channel: newz\n",
            "error: line 1, column 10: unknown channel `newz`: the config has news, alerts, notizie (did you mean `news`?)",
        );
        check(
            "channel: News\n",
            "error: line 1, column 10: unknown channel `News`: the config has news, alerts, notizie (did you mean `news`?)",
        );
        check(
            "channel: [news, alert]\n",
            "error: line 1, column 17: unknown channel `alert`: the config has news, alerts, notizie (did you mean `alerts`?)",
        );
        check(
            "channel: town_news\n",
            r#"error: line 1, column 10: unknown channel `town_news`: the config has news, alerts, notizie (for a public channel write "@town_news")"#,
        );
        check(
            "channel: 'a b'\n",
            "error: line 1, column 10: unknown channel `a b`: the config has news, alerts, notizie (write a channel name from the config, an @username or a numeric chat id)",
        );
        check(
            "channel: '@abc'\n",
            "error: line 1, column 10: `@abc` is not a valid Telegram username (5 to 32 letters, digits or underscores after the @, starting with a letter)",
        );
        check(
            "channel: '@1town'\n",
            "error: line 1, column 10: `@1town` is not a valid Telegram username (5 to 32 letters, digits or underscores after the @, starting with a letter)",
        );
        check(
            "channel: '@town-news'\n",
            "error: line 1, column 10: `@town-news` is not a valid Telegram username (5 to 32 letters, digits or underscores after the @, starting with a letter)",
        );
        check(
            &format!("channel: '@a{}'\n", "b".repeat(32)),
            &format!(
                "error: line 1, column 10: `@a{}` is not a valid Telegram username (5 to 32 letters, digits or underscores after the @, starting with a letter)",
                "b".repeat(32)
            ),
        );
        check(
            "channel: @town_news\n",
            r#"error: line 1, column 10: a value cannot start with `@` (put it in quotes: "@town_news")"#,
        );
        check(
            "channel: [news, alerts, news]\n",
            "error: line 1, column 25: channel `news` is listed twice (keep only one)",
        );
        check(
            "channel: ['@town_news', '@Town_News']\n",
            "error: line 1, column 25: channel `@Town_News` is listed twice (keep only one)",
        );
        check(
            "channel: [-100123, '-100123']\n",
            "error: line 1, column 20: channel `-100123` is listed twice (keep only one)",
        );
        check(
            "channel: []\n",
            "error: line 1, column 10: `channel` is an empty list (name at least one channel, or remove the line to use the folder's channel)",
        );
        check(
            "channel:\n",
            "error: line 1, column 9: `channel` is empty; it must be a channel name, an @username or a numeric chat id (write a value after the `:`, or remove the line)",
        );
        check(
            "channel: 0\n",
            "error: line 1, column 10: `channel` must be a channel name, an @username or a numeric chat id, not 0",
        );
        check(
            "channel: 1.5\n",
            "error: line 1, column 10: `channel` must be a channel name, an @username or a numeric chat id, not 1.5",
        );
        check(
            "channel: true\n",
            "error: line 1, column 10: `channel` must be a channel name, an @username or a numeric chat id, not true",
        );
        check(
            "channel: [[news]]\n",
            "error: line 1, column 11: `channel` must be a channel name, an @username or a numeric chat id, not a list (write the channels in one list, like [news, alerts])",
        );
        check(
            "channel: {news: true}\n",
            "error: line 1, column 10: `channel` must be a channel name, an @username or a numeric chat id, not a group of `key: value` lines",
        );
    }

    #[test]
    fn channel_without_aliases_in_the_config() {
        let rules = Rules {
            channel_aliases: &[],
        };
        let err = parse(b"channel: news\n", &rules).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1, column 10: unknown channel `news`: the config names no channels \
             (write a channel name from the config, an @username or a numeric chat id)"
        );
        assert_eq!((err.line, err.column), (Some(1), Some(10)));
        assert!(parse(b"channel: '@town_news'\n", &rules).is_ok());
    }

    #[test]
    fn buttons() {
        let url = "https://example.org/a";
        check(
            &format!("buttons:\n  - [{{text: Details, url: \"{url}\"}}]\n"),
            &format!("ok buttons=[Details {url}]"),
        );
        check(
            &format!(
                "buttons:\n  - {{text: Details, url: \"{url}\"}}\n  - {{text: Map, url: \"tg://resolve?domain=x\"}}\n"
            ),
            &format!("ok buttons=[Details {url}][Map tg://resolve?domain=x]"),
        );
        check(
            "buttons:\n  - text: A\n    url: http://a.org\n",
            "ok buttons=[A http://a.org]",
        );
        check(
            "buttons:\n  - - text: A\n      url: https://a.org\n    - text: B\n      url: https://b.org\n",
            "ok buttons=[A https://a.org, B https://b.org]",
        );
        check(
            "buttons: [[{text: A, url: 'https://a.org'}, {text: B, url: 'https://b.org'}], {text: C, url: 'https://c.org'}]\n",
            "ok buttons=[A https://a.org, B https://b.org][C https://c.org]",
        );
        check(
            "buttons: [{text: A & B, url: 'https://x.org/?a=1&b=2'}]\n",
            "ok buttons=[A & B https://x.org/?a=1&b=2]",
        );
        check("buttons: []\n", "ok");
        check(
            "buttons:\n",
            "error: line 1, column 9: `buttons` is empty; it must be a list of buttons (write a value after the `:`, or remove the line)",
        );
        check(
            "buttons: {text: A, url: 'https://a.org'}\n",
            "error: line 1, column 10: `buttons` must be a list of buttons, not a group of `key: value` lines (start each button with `- `, like `- {text: Details, url: https://…}`)",
        );
        check(
            "buttons: https://a.org\n",
            r#"error: line 1, column 10: `buttons` must be a list of buttons, not "https://a.org" (write each button as `- {text: Details, url: https://…}`)"#,
        );
        check(
            "buttons:\n  - https://a.org\n",
            r#"error: line 2, column 5: a button must be written as `{text: …, url: …}`, not "https://a.org" (like `- {text: Details, url: https://example.org}`)"#,
        );
        check(
            "buttons:\n  - [[{text: A, url: 'https://a.org'}]]\n",
            "error: line 2, column 6: a button must be written as `{text: …, url: …}`, not a list (like `- {text: Details, url: https://example.org}`)",
        );
        check(
            "buttons:\n  - []\n",
            "error: line 2, column 5: a row of buttons is empty (add a button or remove the row)",
        );
        check(
            "buttons:\n  - {text: A}\n",
            "error: line 2, column 5: a button has no `url` (write `url: ` and the link it opens)",
        );
        check(
            "buttons:\n  - {url: 'https://a.org'}\n",
            "error: line 2, column 5: a button has no `text` (write `text: ` and the words on the button)",
        );
        check(
            "buttons:\n  - {txt: A, url: 'https://a.org'}\n",
            "error: line 2, column 6: unknown key `txt` in a button (did you mean `text`?)",
        );
        check(
            "buttons:\n  - {text: A, link: 'https://a.org'}\n",
            "error: line 2, column 15: unknown key `link` in a button (did you mean `url`?)",
        );
        check(
            "buttons:\n  - {text: A, url: 'https://a.org', colour: red}\n",
            "error: line 2, column 37: unknown key `colour` in a button (a button has only `text` and `url`)",
        );
        check(
            "buttons:\n  - {text: A, text: B, url: 'https://a.org'}\n",
            "error: line 2, column 15: a button has `text` twice (keep only one)",
        );
    }

    #[test]
    fn button_text_and_url() {
        let button =
            |text: &str, url: &str| format!("buttons:\n  - {{text: {text}, url: {url}}}\n");
        check(
            &button("''", "'https://a.org'"),
            "error: line 2, column 12: a button's `text` is empty",
        );
        check(
            &button("'  '", "'https://a.org'"),
            "error: line 2, column 12: a button's `text` is empty",
        );
        check(
            &button(&"x".repeat(64), "'https://a.org'"),
            &format!("ok buttons=[{} https://a.org]", "x".repeat(64)),
        );
        check(
            &button(&"é".repeat(64), "'https://a.org'"),
            &format!("ok buttons=[{} https://a.org]", "é".repeat(64)),
        );
        check(
            &button(&"x".repeat(65), "'https://a.org'"),
            "error: line 2, column 12: a button's `text` has 65 characters; at most 64 are allowed",
        );
        check(
            &button("42", "'https://a.org'"),
            "error: line 2, column 12: `text` must be the words on the button, not 42 (put it in quotes)",
        );
        check(
            &button("A", "www.a.org"),
            r#"error: line 2, column 20: `url` must be a link starting with https://, http:// or tg://, not "www.a.org" (write "https://www.a.org")"#,
        );
        check(
            &button("A", "'ftp://a.org/x'"),
            r#"error: line 2, column 20: `url` must be a link starting with https://, http:// or tg://, not "ftp://a.org/x""#,
        );
        check(
            &button("A", "'javascript:alert(1)'"),
            r#"error: line 2, column 20: `url` must be a link starting with https://, http:// or tg://, not "javascript:alert(1)""#,
        );
        check(
            &button("A", "'https://'"),
            r#"error: line 2, column 20: the link "https://" has no site name after `//`"#,
        );
        check(
            &button("A", "'https:///path'"),
            r#"error: line 2, column 20: the link "https:///path" has no site name after `//`"#,
        );
        check(
            &button("A", "'tg://'"),
            r#"error: line 2, column 20: the link "tg://" has no site name after `//`"#,
        );
        check(
            &button("A", "'https://a.org/a b'"),
            r#"error: line 2, column 20: the link "https://a.org/a b" contains spaces (write spaces in a link as %20)"#,
        );
        check(
            &button("A", "5"),
            "error: line 2, column 20: `url` must be a link starting with https://, http:// or tg://, not 5",
        );
        check(
            &button("A", "'HTTPS://A.ORG'"),
            "ok buttons=[A HTTPS://A.ORG]",
        );
    }

    #[test]
    fn button_limits() {
        let row = |n: usize| {
            let buttons: Vec<String> = (0..n)
                .map(|i| format!("{{text: b{i}, url: 'https://a.org'}}"))
                .collect();
            format!("  - [{}]\n", buttons.join(", "))
        };
        let eight = format!("buttons:\n{}", row(8));
        assert!(
            outcome(eight.as_bytes()).starts_with("ok buttons=[b0 "),
            "{}",
            outcome(eight.as_bytes())
        );
        let nine = format!("buttons:\n{}", row(9));
        let ninth_column = nine.lines().nth(1).unwrap().rfind('{').unwrap() + 1;
        check(
            &nine,
            &format!(
                "error: line 2, column {ninth_column}: a row has more than 8 buttons (start a new row with `- `)"
            ),
        );
        let hundred = format!("buttons:\n{}", row(5).repeat(20));
        assert!(outcome(hundred.as_bytes()).starts_with("ok "));
        let more = format!("{hundred}  - {{text: last, url: 'https://a.org'}}\n");
        check(
            &more,
            "error: line 22, column 5: there are more than 100 buttons",
        );
    }

    #[test]
    fn attachments() {
        check("attachments: []\n", "ok");
        check(
            "attachments: [page2.jpg]\n",
            r#"ok attachments=["page2.jpg"]"#,
        );
        check(
            "attachments: page2.jpg\n",
            r#"ok attachments=["page2.jpg"]"#,
        );
        check(
            "attachments:\n  - page2.jpg\n  - page3.jpg\n",
            r#"ok attachments=["page2.jpg", "page3.jpg"]"#,
        );
        let refused = "attachments must be file names in the same folder";
        check(
            "attachments: [../secret.pdf]\n",
            &format!(
                r#"error: line 1, column 15: {refused}, not "../secret.pdf" (put the file next to the sidecar and write only "secret.pdf")"#
            ),
        );
        check(
            "attachments: [sub/page2.jpg]\n",
            &format!(
                r#"error: line 1, column 15: {refused}, not "sub/page2.jpg" (put the file next to the sidecar and write only "page2.jpg")"#
            ),
        );
        check(
            "attachments: ['sub\\page2.jpg']\n",
            &format!(
                r#"error: line 1, column 15: {refused}, not "sub\\page2.jpg" (put the file next to the sidecar and write only "page2.jpg")"#
            ),
        );
        check(
            "attachments: [/etc/passwd]\n",
            &format!(
                r#"error: line 1, column 15: {refused}, not "/etc/passwd" (put the file next to the sidecar and write only "passwd")"#
            ),
        );
        check(
            "attachments: ['C:x.pdf']\n",
            &format!(r#"error: line 1, column 15: {refused}, not "C:x.pdf""#),
        );
        check(
            "attachments: [..]\n",
            &format!(r#"error: line 1, column 15: {refused}, not "..""#),
        );
        check(
            "attachments: [.]\n",
            &format!(r#"error: line 1, column 15: {refused}, not ".""#),
        );
        check(
            "attachments: ['']\n",
            &format!(r#"error: line 1, column 15: {refused}, not """#),
        );
        check(
            "attachments: ['a\\0b']\n",
            &format!(
                r#"error: line 1, column 15: {refused}, not "a\\0b" (put the file next to the sidecar and write only "0b")"#
            ),
        );
        check(
            "attachments: [\"a\\0b\"]\n",
            &format!(r#"error: line 1, column 15: {refused}, not "a\0b""#),
        );
        check(
            "attachments: [\"a\\tb\"]\n",
            &format!(r#"error: line 1, column 15: {refused}, not "a\tb""#),
        );
        check(
            "attachments: [a.pdf, b.pdf, a.pdf]\n",
            "error: line 1, column 29: `a.pdf` is listed twice in `attachments` (keep only one)",
        );
        check(
            "attachments: [2024]\n",
            "error: line 1, column 15: `attachments` must be file names, not 2024 (put it in quotes)",
        );
        check(
            "attachments:\n",
            "error: line 1, column 13: `attachments` is empty; it must be file names (write a value after the `:`, or remove the line)",
        );
    }

    #[test]
    fn attachments_are_validated_for_when_albums_come() {
        assert_eq!(
            file_name(Found::Str("page2.jpg"), &[]),
            Ok("page2.jpg".to_owned())
        );
        assert_eq!(
            file_name(Found::Str("pagina 2 (copia).jpg"), &[]),
            Ok("pagina 2 (copia).jpg".to_owned())
        );
        assert_eq!(
            file_name(Found::Str("a..b.pdf"), &[]),
            Ok("a..b.pdf".to_owned())
        );
        assert!(file_name(Found::Str("a.pdf"), &["a.pdf".to_owned()]).is_err());
        assert!(albums_supported(&[]).is_ok());
    }

    #[test]
    fn publish_at() {
        check(
            "publish_at: 2026-11-28 08:00\n",
            r#"ok publish_at=Local("2026-11-28T08:00:00")"#,
        );
        check(
            "publish_at: 2026-11-28T08:00:30\n",
            r#"ok publish_at=Local("2026-11-28T08:00:30")"#,
        );
        check(
            "publish_at: '2026-11-28T08:00:00+01:00'\n",
            "ok publish_at=Exact(1795849200)",
        );
        check(
            "publish_at: 2026-11-28T07:00:00Z\n",
            "ok publish_at=Exact(1795849200)",
        );
        check(
            "publish_at: 2026-11-28\n",
            "error: line 1, column 13: `publish_at` needs a time too, not only the date \"2026-11-28\" (for example 2026-11-28 08:00)",
        );
        check(
            "publish_at: 28/11/2026 08:00\n",
            "error: line 1, column 13: `publish_at` must be a date and time like 2026-11-28 08:00, not \"28/11/2026 08:00\" (write the date as year-month-day and the time as hours:minutes, e.g. 2026-11-28 08:00)",
        );
        check(
            "publish_at: 2026\n",
            "error: line 1, column 13: `publish_at` must be a date and time like 2026-11-28 08:00, not 2026",
        );
        check(
            "publish_at: [a]\n",
            "error: line 1, column 13: `publish_at` must be a date and time like 2026-11-28 08:00, not a list",
        );
        check(
            "publish_at:\n",
            "error: line 1, column 12: `publish_at` is empty; it must be a date and time like 2026-11-28 08:00 (write a value after the `:`, or remove the line)",
        );
    }

    /// The classic "billion laughs": a billion strings from a few hundred bytes.
    #[test]
    fn billion_laughs_fails_fast() {
        let mut yaml = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            yaml.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        yaml.push_str("caption: *a9\n");
        check_fast(
            &yaml,
            r#"error: line 1, column 5: YAML anchors (`&name`) are not allowed in a sidecar (write each value out in full; if this is text, put it in quotes: "&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]")"#,
        );
    }

    /// Regression: serde_yaml's own repetition limit lets this 25 KB document expand into 25
    /// million values (26 s in a release build when read into a `serde_yaml::Value`).
    #[test]
    fn quadratic_alias_bomb_fails_fast() {
        let yaml = format!(
            "caption: x\nsilent: &a [{}x]\npin: [{}*a]\n",
            "x,".repeat(5000),
            "*a,".repeat(5000)
        );
        let expected =
            "error: line 2, column 9: YAML anchors (`&name`) are not allowed in a sidecar";
        let start = Instant::now();
        assert!(outcome(yaml.as_bytes()).starts_with(expected));
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn anchors_aliases_and_tags() {
        let refused_anchor = "YAML anchors (`&name`) are not allowed in a sidecar";
        let refused_alias = "YAML aliases (`*name`) are not allowed in a sidecar";
        check(
            "caption: &c Ciao\n",
            &format!(
                r#"error: line 1, column 10: {refused_anchor} (write each value out in full; if this is text, put it in quotes: "&c Ciao")"#
            ),
        );
        check(
            "base: &base\n  silent: true\ncaption: *base\n",
            &format!(
                r#"error: line 1, column 7: {refused_anchor} (write each value out in full; if this is text, put it in quotes: "&base")"#
            ),
        );
        check(
            "&k caption: x\n",
            &format!(
                r#"error: line 1, column 1: {refused_anchor} (write each value out in full; if this is text, put it in quotes: "&k caption: x")"#
            ),
        );
        check(
            "caption: *c\n",
            &format!(
                r#"error: line 1, column 10: {refused_alias} (write each value out in full; if this is text, put it in quotes: "*c")"#
            ),
        );
        check(
            "caption: x\nsilent: true\n<<: *base\n",
            &format!(
                r#"error: line 3, column 5: {refused_alias} (write each value out in full; if this is text, put it in quotes: "*base")"#
            ),
        );
        // Markdown that YAML reads as an alias.
        check(
            "caption: **Avviso** importante\n",
            &format!(
                r#"error: line 1, column 10: {refused_alias} (write each value out in full; if this is text, put it in quotes: "**Avviso** importante")"#
            ),
        );
        check(
            "caption: *Avviso*\n",
            &format!(
                r#"error: line 1, column 10: {refused_alias} (write each value out in full; if this is text, put it in quotes: "*Avviso*")"#
            ),
        );
        check(
            "caption: '**Avviso** importante'\n",
            r#"ok caption="**Avviso** importante""#,
        );
        check(
            "caption: |\n  **Avviso** & *nota*\n  * uno\n  & due\n",
            r#"ok caption="**Avviso** & *nota*\n* uno\n& due\n""#,
        );
        check(
            "caption: Avviso\n  * uno & due\n",
            r#"ok caption="Avviso * uno & due""#,
        );
        check("caption: \"&a *b\" # &c *d\n", r#"ok caption="&a *b""#);
        check(
            "caption: !foo x\n",
            "error: line 1, column 10: YAML tags like `!name` are not allowed in a sidecar (remove the `!` word before the value, or put the value in quotes)",
        );
        check("caption: !!str 42\n", r#"ok caption="42""#);
    }

    #[test]
    fn nesting_depth() {
        let too_deep = "the sidecar is nested more than 8 levels deep (a sidecar needs at most 4 levels, as in `buttons`)";
        let nested =
            |levels: usize| format!("a: {}1{}\n", "[".repeat(levels - 1), "]".repeat(levels - 1));
        check(
            &nested(8),
            &format!("error: line 1, column 1: unknown key `a` (the keys are {KEY_LIST})"),
        );
        check(&nested(9), &format!("error: line 1, column 11: {too_deep}"));
        check(
            &nested(200),
            &format!("error: line 1, column 11: {too_deep}"),
        );
        check(
            "buttons:\n  - - - - - - - - x\n",
            &format!("error: line 2, column 17: {too_deep}"),
        );
        check_fast(
            &format!("a: {}x\n", "- ".repeat(30_000)),
            "error: line 1, column 4: a `- ` list item is in the wrong place (put the list on the lines below its key, indented)",
        );
        let indented: String = (0..300)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        check_fast(&indented, &format!("error: line 9, column 9: {too_deep}"));
    }

    /// Regression: libyaml took 2 s (release build) on 64 KB of `[`.
    #[test]
    fn brackets_are_capped() {
        let too_many = "the sidecar has more than 256 `[` and `{` (a sidecar needs far fewer: is this the right file?)";
        check_fast(
            &format!("caption: {}\n", "[".repeat(60_000)),
            &format!("error: line 1, column 266: {too_many}"),
        );
        check_fast(
            &format!("caption: {}\n", "{".repeat(60_000)),
            &format!("error: line 1, column 266: {too_many}"),
        );
        check_fast(
            &format!("a: {}1{}\n", "[".repeat(20_000), "]".repeat(20_000)),
            &format!("error: line 1, column 260: {too_many}"),
        );
        let links = |n: usize| format!("caption: |\n{}", "  [link](https://a.org)\n".repeat(n));
        assert!(outcome(links(256).as_bytes()).starts_with("ok caption="));
        check(
            &links(257),
            &format!("error: line 258, column 3: {too_many}"),
        );
    }

    #[test]
    fn multiple_documents() {
        let refused = "the sidecar holds more than one YAML document (keep one sidecar per file and remove the extra `---` or `...` line)";
        check(
            "caption: x\n---\nsilent: true\n",
            &format!("error: line 2, column 1: {refused}"),
        );
        check(
            "---\ncaption: x\n---\nsilent: true\n",
            &format!("error: line 3, column 1: {refused}"),
        );
        check(
            "caption: x\n...\nsilent: true\n",
            &format!("error: line 3, column 1: {refused}"),
        );
        check("# intro\n---\ncaption: x\n", r#"ok caption="x""#);
        check("caption: x\n...\n", r#"ok caption="x""#);
        check("caption: |\n  ---\n  x\n", r#"ok caption="---\nx\n""#);
    }

    #[test]
    fn tabs() {
        let tabs = "tabs are not allowed for indentation, use spaces";
        check(
            "caption: x\n\tsilent: true\n",
            &format!("error: line 2, column 1: {tabs}"),
        );
        check(
            "\tcaption: x\n",
            &format!("error: line 1, column 1: {tabs}"),
        );
        check(
            "buttons:\n\t- {text: A, url: 'https://a.org'}\n",
            &format!("error: line 2, column 1: {tabs}"),
        );
        check(
            "caption: |\n  a\n\tb\n",
            &format!("error: line 3, column 1: {tabs}"),
        );
        check(
            "caption: a\n\tb\n",
            &format!("error: line 2, column 1: {tabs}"),
        );
        check("caption: |\n  a\n  \tb\n", r#"ok caption="a\n\tb\n""#);
        check("caption:\tx\n", r#"ok caption="x""#);
    }

    #[test]
    fn syntax_errors_in_plain_words() {
        check(
            "caption: \"Ciao\nsilent: true\n",
            "error: line 1, column 10: a quote opens here and is never closed",
        );
        check(
            "caption: Nota: importante\n",
            "error: line 1, column 14: unexpected `:` here (if the text contains `: `, put the whole value in quotes; a new key must start in the same column as the other keys)",
        );
        check(
            "caption: x\n  silent: true\n",
            "error: line 2, column 9: unexpected `:` here (if the text contains `: `, put the whole value in quotes; a new key must start in the same column as the other keys)",
        );
        check(
            "channel:\n  - news\n - alerts\n",
            "error: line 3, column 2: this line is not indented like the lines around it (keys at the same level must start in the same column)",
        );
        check(
            "caption: x\nsilent\n",
            "error: line 2, column 1: this line has no `:` (write `key: value`)",
        );
        // Found by fuzzing: an opener that is the very first character was reported at the end.
        check(
            "\"a\n",
            "error: line 1, column 1: a quote opens here and is never closed",
        );
        check(
            "\"caption: Ciao\nsilent: true\n",
            "error: line 1, column 1: a quote opens here and is never closed",
        );
        check(
            "[a\n",
            "error: line 1, column 1: a list opened with `[` is not closed with `]`",
        );
        check(
            "channel: [news, alerts\n",
            "error: line 1, column 10: a list opened with `[` is not closed with `]`",
        );
        check(
            "buttons: [{text: A, url: 'https://a.org'\n",
            "error: line 1, column 11: a group opened with `{` is not closed with `}`",
        );
        check(
            "caption: - item\n",
            "error: line 1, column 10: a `- ` list item is in the wrong place (put the list on the lines below its key, indented)",
        );
        check(
            "caption: `x`\n",
            r#"error: line 1, column 10: a value cannot start with a backquote (`) (put it in quotes: "`x`")"#,
        );
        check(
            "caption: \"C:\\temp\\x.pdf\"\n",
            r#"error: line 1, column 20: inside double quotes, `\` starts a special code (use single quotes, or write `\\` for a backslash)"#,
        );
        check(
            "caption: 'C:\\temp\\x.pdf'\n",
            r#"ok caption="C:\\temp\\x.pdf""#,
        );
    }

    #[test]
    fn error_display_and_fields() {
        let err = parse(
            b"silent: true\npin: true\ncaptoin: x\n",
            &Rules {
                channel_aliases: &[],
            },
        )
        .unwrap_err();
        assert_eq!(
            err,
            SidecarError {
                line: Some(3),
                column: Some(1),
                message: "unknown key `captoin`".to_owned(),
                hint: Some("did you mean `caption`?".to_owned()),
            }
        );
        assert_eq!(
            err.to_string(),
            "line 3, column 1: unknown key `captoin` (did you mean `caption`?)"
        );
        let bare = SidecarError {
            line: None,
            column: None,
            message: "m".to_owned(),
            hint: None,
        };
        assert_eq!(bare.to_string(), "m");
        let line_only = SidecarError {
            line: Some(2),
            column: None,
            message: "m".to_owned(),
            hint: Some("h".to_owned()),
        };
        assert_eq!(line_only.to_string(), "line 2: m (h)");
    }

    #[test]
    fn edit_distances() {
        for (a, b, distance) in [
            ("", "", 0),
            ("caption", "caption", 0),
            ("captoin", "caption", 1),
            ("capton", "caption", 1),
            ("captions", "caption", 1),
            ("cpation", "caption", 1),
            ("kaptin", "caption", 2),
            ("abc", "", 3),
            ("ñews", "news", 1),
        ] {
            assert_eq!(edit_distance(a, b), distance, "{a} → {b}");
        }
        assert_eq!(closest("x", ["pin", "text"], &[]), None);
        assert_eq!(closest("pni", ["pin", "text"], &[]), Some("pin"));
        assert_eq!(closest(&"a".repeat(1000), ["pin"], &[]), None);
    }

    #[test]
    fn realistic_italian_sidecar() {
        let yaml = "\u{feff}# Avviso del Comune di Castelfranco 🌧️\r\n\
            channel: [notizie, \"@comune_castelfranco\"]\r\n\
            caption: |\r\n\
            \x20 **Allerta meteo arancione** dalle 14:00 di oggi 🚨\r\n\
            \x20 Le scuole chiudono alle 13:00: più informazioni sul sito.\r\n\
            \x20 * Protezione civile & volontari\r\n\
            format: markdown\r\n\
            silent: false\r\n\
            pin: true\r\n\
            link_preview: false\r\n\
            buttons:\r\n\
            \x20 - [{text: \"Dettagli 📄\", url: \"https://comune.example.it/allerta?a=1&b=2\"}, {text: Mappa, url: \"https://comune.example.it/mappa\"}]\r\n\
            \x20 - {text: Canale regionale, url: \"tg://resolve?domain=protezionecivile\"}\r\n";
        check(
            yaml,
            "ok channels=[\"notizie\", \"@comune_castelfranco\"] \
             caption=\"**Allerta meteo arancione** dalle 14:00 di oggi 🚨\\nLe scuole chiudono alle 13:00: più informazioni sul sito.\\n* Protezione civile & volontari\\n\" \
             pin link_preview=false \
             buttons=[Dettagli 📄 https://comune.example.it/allerta?a=1&b=2, Mappa https://comune.example.it/mappa][Canale regionale tg://resolve?domain=protezionecivile]",
        );
        let typo = yaml.replace("pin: true", "pinned: sì");
        check(
            &typo,
            "error: line 9, column 1: unknown key `pinned` (did you mean `pin`?)",
        );
        let accents = yaml.replace("format: markdown", "formato: markdown");
        check(
            &accents,
            "error: line 7, column 1: unknown key `formato` (did you mean `format`?)",
        );
        let emoji_column = yaml.replace("silent: false", "silent: 🔇");
        check(
            &emoji_column,
            r#"error: line 8, column 9: `silent` must be true or false, not "🔇" (write true or false)"#,
        );
    }
}
