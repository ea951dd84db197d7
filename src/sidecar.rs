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
//! wrong in plain words and, where a likely fix exists, give it as a hint, in English and in
//! Italian. Pass 3 names every mistake at once (see [`parse`]). Every key has an Italian twin,
//! and values and dates are read as an Italian clerk writes them too (`sì`, `31/12/2026 ore 10`).

use std::cell::Cell;
use std::fmt;

use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, EnumAccess, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::config::Language;
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

/// A sentence for the clerk, in English and in Italian.
///
/// Sidecar errors are written in both languages when they are found, so that a report written
/// later (after a restart, from the journal) is in whatever language the config says then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Said {
    pub en: String,
    pub it: String,
}

impl Said {
    pub fn new(en: impl Into<String>, it: impl Into<String>) -> Self {
        Said {
            en: en.into(),
            it: it.into(),
        }
    }

    pub fn get(&self, lang: Language) -> &str {
        match lang {
            Language::En => &self.en,
            Language::It => &self.it,
        }
    }
}

/// Why a sidecar was refused, and where.
///
/// Displays (for logs, always in English) as `line 3, column 1: unknown key `captoin` (did you
/// mean `caption`?)`; [`SidecarError::render`] gives it in the clerk's language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{}", self.render(Language::En))]
pub struct SidecarError {
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: Said,
    /// Boxed: an error travels in `Result`s, and most have no hint.
    pub hint: Option<Box<Said>>,
}

impl SidecarError {
    /// `line 3, column 1: …` / `riga 3, colonna 1: …`, with the hint in brackets.
    pub fn render(&self, lang: Language) -> String {
        let (line_word, column_word) = match lang {
            Language::En => ("line", "column"),
            Language::It => ("riga", "colonna"),
        };
        let mut out = match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{line_word} {line}, {column_word} {column}: "),
            (Some(line), None) => format!("{line_word} {line}: "),
            _ => String::new(),
        };
        out.push_str(self.message.get(lang));
        if let Some(hint) = &self.hint {
            out.push_str(" (");
            out.push_str(hint.get(lang));
            out.push(')');
        }
        out
    }

    fn new(position: Option<(usize, usize)>, problem: Problem) -> Self {
        SidecarError {
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            message: problem.message,
            hint: problem.hint.map(Box::new),
        }
    }

    /// A sidecar file larger than any sidecar may be, seen before it is read.
    pub fn too_large(kb: u64) -> Self {
        let max = MAX_SIDECAR_BYTES / 1024;
        SidecarError::new(
            None,
            Problem::new(
                format!("the file is {kb} KB; a sidecar may be at most {max} KB"),
                format!(
                    "il file è di {kb} KB; un file di istruzioni può essere al massimo di {max} KB"
                ),
            ),
        )
    }

    /// Buttons and `attachments` together: Telegram shows no buttons under an album.
    pub fn buttons_under_album() -> Self {
        SidecarError::new(
            None,
            Problem::new(
                "Telegram cannot show buttons under an album (a post with `attachments`)",
                "Telegram non può mostrare pulsanti sotto un album (un post con `allegati`)",
            ),
        )
    }

    /// Neither the sidecar nor the folder names a channel.
    pub fn no_channel() -> Self {
        SidecarError::new(
            None,
            Problem::new(
                "no channel to post to",
                "non c'è un canale su cui pubblicare",
            ),
        )
    }

    /// `pin_until` is not after the time the post goes out (`when` as the clerk reads it).
    pub fn pin_ends_too_soon(when: &str) -> Self {
        SidecarError::new(
            None,
            Problem::new(
                format!("`pin_until` ({when}) is before the post goes out"),
                format!("`fissa_fino_al` ({when}) viene prima dell'uscita del post"),
            ),
        )
    }
}

/// Parses and validates a sidecar. An empty sidecar (or one with only comments) means "all
/// defaults".
///
/// A sidecar that is not YAML has one error (where the reading stopped); otherwise every
/// mistake is named, in the order they are in the file: each key that is unknown or said
/// twice, each value that is wrong (in a list or group, each wrong single value, such as a
/// channel or a button's link, up to the first element that is itself a list or group with a
/// mistake, such as a button without `url`), and each key that does not belong with the others.
pub fn parse(bytes: &[u8], rules: &Rules) -> Result<Sidecar, Vec<SidecarError>> {
    let text = decode(bytes).map_err(|e| vec![e])?;
    check_characters(text).map_err(|e| vec![e])?;
    check_brackets(text).map_err(|e| vec![e])?;
    check_shape(text).map_err(|e| vec![e])?;
    let mut read = read_all(text, rules.channel_aliases).map_err(|e| vec![e])?;
    read.errors.extend(check_together(text, &read));
    if read.errors.is_empty() {
        return Ok(read.sidecar);
    }
    read.errors.sort_by_key(|e| (e.line, e.column));
    Err(read.errors)
}

/// The keys that make sense only together, or not together: a correction (`edit:`, `delete:`,
/// `unpin:`) takes only what it can change, `replace:` only goes with `edit:`, `pin_until:` only
/// with `pin: true`. Each error points at a key that does not belong; a key whose value is
/// wrong has its own error already and is not judged here.
fn check_together(text: &str, read: &Read) -> Vec<SidecarError> {
    let at = |name: &str, problem: Problem| {
        SidecarError::new(locate_key(text, name).map(|line| (line, 1)), problem)
    };
    let written = |key: Key| read.keys.iter().find(|w| w.key == key).map(|w| w.name);
    let mut errors = Vec::new();
    let change = read
        .keys
        .iter()
        .find(|w| matches!(w.key, Key::Edit | Key::Delete | Key::Unpin));
    if let Some(&Written {
        key: kind,
        name: verb,
    }) = change
    {
        // What each kind of correction may say besides the post it names.
        let allowed: &[Key] = match kind {
            Key::Edit => &[
                Key::Caption,
                Key::Text,
                Key::Format,
                Key::Buttons,
                Key::LinkPreview,
                Key::SendAs,
                Key::Replace,
            ],
            _ => &[],
        };
        for &Written { key, name } in &read.keys {
            if key == kind || allowed.contains(&key) {
                continue;
            }
            let verbs = matches!(key, Key::Edit | Key::Delete | Key::Unpin);
            let problem = if verbs {
                Problem::new(
                    format!(
                        "`{verb}` and `{name}` cannot be in one sidecar: one sidecar makes one change"
                    ),
                    format!(
                        "`{verb}` e `{name}` non possono stare nello stesso file .yaml: ogni file fa una sola modifica"
                    ),
                )
            } else {
                Problem::new(
                    format!("`{name}` has no place in a sidecar that says `{verb}`"),
                    format!("`{name}` non c'entra in un file .yaml che dice `{verb}`"),
                )
            };
            let problem = match (kind, key) {
                (_, Key::Edit | Key::Delete | Key::Unpin) => problem.hint(
                    "drop one sidecar for each change",
                    "metti un file .yaml per ogni modifica",
                ),
                (Key::Edit, Key::Channel) => problem.hint(
                    "a link names the channel already; a file name names every channel the post went to",
                    "il link indica già il canale; il nome di un file indica tutti i canali su cui è uscito il post",
                ),
                (Key::Edit, Key::PublishAt) => problem.hint(
                    "a correction goes out at once; to change a post that waits in scheduled/, delete its file there and drop the corrected bundle again",
                    "una correzione esce subito; per cambiare un post che aspetta in scheduled/, elimina lì il suo file e rimetti nella cartella inbox il post corretto",
                ),
                (Key::Edit, _) => problem.hint(
                    "a correction can change the caption, the buttons and the file; remove the line",
                    "una correzione può cambiare il testo, i pulsanti e il file; togli la riga",
                ),
                _ => problem.hint(
                    format!("a `{verb}` sidecar needs only the `{verb}:` line; remove this one"),
                    format!("a un file .yaml con `{verb}` basta la riga `{verb}:`; togli questa"),
                ),
            };
            errors.push(at(name, problem));
        }
    } else if let Some(name) = written(Key::Replace) {
        let edit = Key::Edit.like(name);
        errors.push(at(
            name,
            Problem::new(
                format!("`{name}` names a file of a post to correct, and there is no `{edit}`"),
                format!("`{name}` indica un file di un post da correggere, e manca `{edit}`"),
            )
            .hint(
                format!("add `{edit}:` with the link of the post, or remove the line"),
                format!("aggiungi `{edit}:` con il link del post, oppure togli la riga"),
            ),
        ));
    }
    if let Some(name) = written(Key::PinUntil)
        && !read.sidecar.pin
        && !read.bad.contains(&Key::Pin)
        && !read.bad.contains(&Key::PinUntil)
    {
        let pin = Key::Pin.like(name);
        let yes = if pin == "pin" { "true" } else { "sì" };
        errors.push(at(
            name,
            Problem::new(
                format!("`{name}` says when a pin ends, and the post is not pinned"),
                format!(
                    "`{name}` dice fino a quando il post resta fissato, ma il post non è fissato"
                ),
            )
            .hint(
                format!("add `{pin}: {yes}`, or remove the line"),
                format!("aggiungi `{pin}: {yes}`, oppure togli la riga"),
            ),
        ));
    }
    errors
}

// ---------------------------------------------------------------------------------------------
// Pass 1: bytes

fn decode(bytes: &[u8]) -> Result<&str, SidecarError> {
    if bytes.len() > MAX_SIDECAR_BYTES {
        let kb = bytes.len().div_ceil(1024);
        return Err(SidecarError::new(
            None,
            Problem::new(
                format!(
                    "the sidecar is {kb} KB; at most {} KB is allowed",
                    MAX_SIDECAR_BYTES / 1024
                ),
                format!(
                    "il file .yaml è di {kb} KB; il massimo è {} KB",
                    MAX_SIDECAR_BYTES / 1024
                ),
            )
            .hint(
                "a sidecar needs only a few lines: is this the right file?",
                "bastano poche righe: è proprio il file giusto?",
            ),
        ));
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(SidecarError::new(
            Some((1, 1)),
            Problem::new(
                "the sidecar is saved as UTF-16 text",
                "il file .yaml è salvato come testo UTF-16",
            )
            .hint("save it as UTF-8", "salvalo con la codifica UTF-8"),
        ));
    }
    // The BOM is what Windows editors put first; it is not part of the YAML.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|err| {
        let valid = std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or_default();
        SidecarError::new(
            Some(end_position(valid)),
            Problem::new(
                "the sidecar is not valid UTF-8 text",
                "il file .yaml non è un testo UTF-8 valido",
            )
            .hint("save it as UTF-8", "salvalo con la codifica UTF-8"),
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
            Problem::new(
                format!(
                    "the sidecar contains an invisible control character (U+{:04X})",
                    u32::from(c)
                ),
                format!(
                    "il file .yaml contiene un carattere di controllo invisibile (U+{:04X})",
                    u32::from(c)
                ),
            )
            .hint(
                "delete this line and type it again",
                "cancella questa riga e riscrivila a mano",
            ),
        )),
    }
}

fn check_brackets(text: &str) -> Result<(), SidecarError> {
    let mut openers = text.match_indices(['[', '{']);
    match openers.nth(MAX_BRACKETS) {
        None => Ok(()),
        Some((at, _)) => Err(SidecarError::new(
            Some(end_position(&text[..at])),
            Problem::new(
                format!("the sidecar has more than {MAX_BRACKETS} `[` and `{{`"),
                format!("il file .yaml contiene più di {MAX_BRACKETS} `[` e `{{`"),
            )
            .hint(
                "a sidecar needs far fewer: is this the right file?",
                "ne bastano molte meno: è proprio il file giusto?",
            ),
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
            Problem::new(
                "tabs are not allowed for indentation, use spaces",
                "per rientrare le righe non si può usare il tasto Tab: usa gli spazi",
            ),
        )
    } else if problem.starts_with("deserializing from YAML containing more than one document") {
        (
            second_document_line(text).map(|line| (line, 1)),
            Problem::new(
                "the sidecar holds more than one YAML document",
                "il file .yaml contiene più di un documento YAML",
            )
            .hint(
                "keep one sidecar per file and remove the extra `---` or `...` line",
                "tieni un solo documento per file e togli la riga `---` o `...` in più",
            ),
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
            Problem::new(
                "inside double quotes, `\\` starts a special code",
                "tra virgolette doppie, `\\` introduce un codice speciale",
            )
            .hint(
                "use single quotes, or write `\\\\` for a backslash",
                "usa le virgolette semplici, oppure scrivi `\\\\` per una barra rovesciata",
            ),
        )
    } else if problem == "found character that cannot start any token" {
        let first = at_here.unwrap_or('?');
        let value = here.map(|(line, column)| rest_of_line(text, line, column));
        let hint = match value {
            Some(value) if !value.is_empty() && !value.contains('"') => Said::new(
                format!("put it in quotes: \"{value}\""),
                format!("mettilo tra virgolette: \"{value}\""),
            ),
            _ => Said::new("put the value in quotes", "metti il valore tra virgolette"),
        };
        let first = match first {
            '`' => Said::new("a backquote (`)", "un accento grave (`)"),
            other => Said::new(format!("`{other}`"), format!("`{other}`")),
        };
        (
            here,
            Problem::new(
                format!("a value cannot start with {}", first.en),
                format!("un valore non può cominciare con {}", first.it),
            )
            .said_hint(Some(hint)),
        )
    } else if problem == "mapping values are not allowed in this context" {
        (
            here,
            Problem::new("unexpected `:` here", "qui non ci si aspetta un `:`").hint(
                "if the text contains `: `, put the whole value in quotes; a new key must start \
                 in the same column as the other keys",
                "se il testo contiene `: `, mettilo tutto tra virgolette; una nuova chiave deve \
                 cominciare nella stessa colonna delle altre",
            ),
        )
    } else if problem.starts_with("did not find expected key")
        && here.is_some_and(|(line, column)| rest_of_line(text, line, column).starts_with(':'))
    {
        (
            here,
            Problem::new(
                "a `:` has no key before it",
                "prima di questo `:` manca la chiave",
            )
            .hint("write `key: value`", "scrivi `chiave: valore`"),
        )
    } else if problem.starts_with("did not find expected key")
        || problem.starts_with("did not find expected '-' indicator")
    {
        (
            here,
            Problem::new(
                "this line is not indented like the lines around it",
                "questa riga non è rientrata come quelle vicine",
            )
            .hint(
                "keys at the same level must start in the same column",
                "le chiavi dello stesso livello devono cominciare nella stessa colonna",
            ),
        )
    } else if problem == "block sequence entries are not allowed in this context" {
        (
            here,
            Problem::new(
                "a `- ` list item is in the wrong place",
                "un elemento di elenco `- ` è nel posto sbagliato",
            )
            .hint(
                "put the list on the lines below its key, indented",
                "scrivi l'elenco nelle righe sotto la sua chiave, rientrato",
            ),
        )
    } else if problem == "could not find expected ':'" {
        (
            context,
            Problem::new("this line has no `:`", "in questa riga manca il `:`")
                .hint("write `key: value`", "scrivi `chiave: valore`"),
        )
    } else if problem == "found unexpected end of stream" && shown.contains("quoted scalar") {
        (
            opened,
            Problem::new(
                "a quote opens here and is never closed",
                "qui si aprono le virgolette e non si chiudono più",
            ),
        )
    } else if problem.starts_with("did not find expected ',' or ']'") {
        (
            opened,
            Problem::new(
                "a list opened with `[` is not closed with `]`",
                "un elenco aperto con `[` non è chiuso con `]`",
            ),
        )
    } else if problem.starts_with("did not find expected ',' or '}'") {
        (
            opened,
            Problem::new(
                "a group opened with `{` is not closed with `}`",
                "un gruppo aperto con `{` non è chiuso con `}`",
            ),
        )
    } else if shown.contains("while scanning a tag") || problem == "found undefined tag handle" {
        // `caption: !!! ALLERTA !!!`: YAML reads a leading `!` as a type tag.
        (
            context,
            Problem::new(
                "a value cannot start with `!`",
                "un valore non può cominciare con `!`",
            )
            .hint("put the value in quotes", "metti il valore tra virgolette"),
        )
    } else if shown.contains("while scanning a block scalar") {
        (
            context,
            Problem::new(
                "after `|` or `>` the text must start on the next line",
                "dopo `|` o `>` il testo deve cominciare nella riga sotto",
            )
            .hint(
                "write the text on the lines below, indented",
                "scrivi il testo nelle righe sotto, rientrato",
            ),
        )
    } else if problem == "found unexpected document indicator" {
        (
            here,
            Problem::new(
                "a line starting with `---` or `...` inside quotes ends the file for YAML",
                "una riga che comincia con `---` o `...` tra virgolette per YAML chiude il file",
            )
            .hint(
                "indent that line, or write the text after `|` on the lines below",
                "rientra quella riga, oppure scrivi il testo dopo `|` nelle righe sotto",
            ),
        )
    } else if problem == "did not find expected node content" {
        (
            here,
            Problem::new("a value is missing here", "qui manca un valore").hint(
                "write the value, or remove the `,` or `-` left alone there",
                "scrivi il valore, oppure togli la `,` o il `-` rimasti lì da soli",
            ),
        )
    } else {
        // What libyaml says is English and technical: the clerk gets where, and what to check.
        (
            here,
            Problem::new(
                format!("this is not valid YAML: {problem}"),
                "qui il testo non è scritto come YAML lo vuole".to_owned(),
            )
            .hint(
                "check the indentation and the quotes",
                "controlla i rientri e le virgolette",
            ),
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
    // Tags too: a `!` that starts a node is one, and its word would vanish from the value. In
    // the probe it is a backquote, which cannot start a node (and is text anywhere else a `!`
    // is), so libyaml stops at it. `!!str`, which only says "this is text", stays.
    let probe = without_tags(&text.replace('&', "*"));
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
                    Ok(()) if position.and_then(|(l, c)| char_at(text, l, c)) == Some('!') => {
                        SidecarError::new(position, tags_refused())
                    }
                    Ok(()) => SidecarError::new(position, anchors_refused(text, position)),
                },
            }
        })
}

/// `text` with every `!` a backquote, but those of `!!str ` (same length, lines and columns).
fn without_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut keep = 0;
    for (i, c) in text.char_indices() {
        if keep > 0 {
            keep -= 1;
            out.push(c);
        } else if c == '!'
            && text[i..].starts_with("!!str")
            && text[i + 5..].starts_with(|c: char| c.is_ascii_whitespace())
        {
            keep = 4;
            out.push(c);
        } else if c == '!' {
            out.push('`');
        } else {
            out.push(c);
        }
    }
    out
}

/// A value that starts with `!`: YAML reads the word as a type tag and drops it from the text
/// (`!!! ALLERTA METEO !!!` would be posted as "ALLERTA METEO !!!").
fn tags_refused() -> Problem {
    Problem::new(
        "a value cannot start with `!`: YAML reads `!word` as a tag, not as text",
        "un valore non può cominciare con `!`: YAML legge `!parola` come un'etichetta, non come testo",
    )
    .hint("put the value in quotes", "metti il valore tra virgolette")
}

fn anchors_refused(text: &str, at: Option<(usize, usize)>) -> Problem {
    let first = at.and_then(|(line, column)| char_at(text, line, column));
    let (en, it) = match first {
        Some('&') => (
            "YAML anchors (`&name`) are not allowed in a sidecar",
            "nel file .yaml non si possono usare gli ancoraggi YAML (`&nome`)",
        ),
        Some('*') => (
            "YAML aliases (`*name`) are not allowed in a sidecar",
            "nel file .yaml non si possono usare i rimandi YAML (`*nome`)",
        ),
        _ => (
            "YAML anchors and aliases (`&name`, `*name`) are not allowed in a sidecar",
            "nel file .yaml non si possono usare ancoraggi e rimandi YAML (`&nome`, `*nome`)",
        ),
    };
    // Most often this is text that happens to start with `*`, like Markdown's `**bold**`.
    let value = at.map(|(line, column)| rest_of_line(text, line, column));
    let hint = match value {
        Some(value) if first.is_some() && !value.is_empty() && !value.contains('"') => Said::new(
            format!("write each value out in full; if this is text, put it in quotes: \"{value}\""),
            format!(
                "scrivi ogni valore per intero; se è un testo, mettilo tra virgolette: \"{value}\""
            ),
        ),
        _ => Said::new(
            "write each value out in full; text that starts with `*` or `&` needs quotes",
            "scrivi ogni valore per intero; un testo che comincia con `*` o `&` va tra virgolette",
        ),
    };
    Problem::new(en, it).said_hint(Some(hint))
}

/// Visits every node of the probe once, keys included.
struct Walk {
    depth: usize,
}

impl Walk {
    fn enter(&self) -> Result<Walk, Problem> {
        if self.depth >= MAX_DEPTH {
            return Err(Problem::new(
                format!("the sidecar is nested more than {MAX_DEPTH} levels deep"),
                format!("il file .yaml ha più di {MAX_DEPTH} livelli uno dentro l'altro"),
            )
            .hint(
                "a sidecar needs at most 4 levels, as in `buttons`",
                "ne bastano al massimo 4, come in `pulsanti`",
            ));
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
            Found::Tagged => Err(tags_refused()),
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
    message: Said,
    hint: Option<Said>,
}

impl Problem {
    fn new(en: impl Into<String>, it: impl Into<String>) -> Self {
        Problem {
            message: Said::new(en, it),
            hint: None,
        }
    }

    fn hint(mut self, en: impl Into<String>, it: impl Into<String>) -> Self {
        self.hint = Some(Said::new(en, it));
        self
    }

    fn said_hint(mut self, hint: Option<Said>) -> Self {
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

/// `"yes"`, `42`, `a list`: how a clerk would name what they wrote. In Italian a bare `true`
/// or `42` is in backquotes, so that it reads as the value written, not as a word.
fn describe(found: Found<'_>) -> Said {
    let same = |s: String| Said::new(s.clone(), s);
    let value = |s: String| Said::new(s.clone(), format!("`{s}`"));
    match found {
        Found::Null => Said::new("empty", "vuoto"),
        Found::Bool(b) => value(b.to_string()),
        Found::Int(i) => value(i.to_string()),
        Found::Float(f) => value(f.to_string()),
        Found::Str(s) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                same(format!("{:?}", short + "…"))
            } else {
                same(format!("{s:?}"))
            }
        }
        Found::List => Said::new("a list", "un elenco"),
        Found::Map => Said::new(
            "a group of `key: value` lines",
            "un gruppo di righe `chiave: valore`",
        ),
        Found::Tagged => Said::new("a tagged value", "un valore con un'etichetta `!`"),
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
    /// A list or a group failed before its end: the reader is still inside it.
    dirty: Cell<bool>,
    /// Why [`Top`] stopped reading, and what it had read until then.
    abort: Cell<Option<Skip>>,
    partial: Cell<Option<Read>>,
    /// Mistakes in single values inside a list or a group (a channel of a list, a button's
    /// link), set aside so that the reading goes on to the next one.
    aside: std::cell::RefCell<Vec<SidecarError>>,
}

/// What [`Ctx::keep`] did with a value.
enum Kept<T> {
    Read(T),
    /// The value was wrong, and its error set aside.
    Aside,
}

impl<T> Kept<T> {
    fn into_option(self) -> Option<T> {
        match self {
            Kept::Read(value) => Some(value),
            Kept::Aside => None,
        }
    }
}

impl<'c> Ctx<'c> {
    fn new(text: &'c str, aliases: &'c [String]) -> Self {
        Ctx {
            text,
            aliases,
            problem: Cell::new(None),
            dirty: Cell::new(false),
            abort: Cell::new(None),
            partial: Cell::new(None),
            aside: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// A single value (a scalar, read whole) that was wrong: its error is set aside and the
    /// reading goes on. A list or a group that failed leaves the reader inside it: that stops.
    fn keep<T, E: fmt::Display>(&self, read: Result<T, E>) -> Result<Kept<T>, E> {
        match read {
            Ok(value) => Ok(Kept::Read(value)),
            Err(err) if !self.dirty.get() => {
                let error = self.error(&err);
                self.aside.borrow_mut().push(error);
                Ok(Kept::Aside)
            }
            Err(err) => Err(err),
        }
    }

    fn fail<E: de::Error>(&self, problem: Problem) -> E {
        self.problem.set(Some(problem));
        E::custom("invalid sidecar")
    }

    /// The error a failed check left, with its position. Inside a visitor the error's type is
    /// the deserializer's, unnamed: serde_yaml writes the position last in its text, and
    /// leaves it out when it is line 1, column 1.
    fn error(&self, err: &impl fmt::Display) -> SidecarError {
        let shown = err.to_string();
        let position = match shown.rsplit_once(" at line ") {
            Some((_, mark)) => mark_in(&format!(" at line {mark}")),
            None => Some((1, 1)),
        };
        let problem = self.problem.take().unwrap_or_else(|| {
            Problem::new(
                "this value cannot be read here",
                "qui questo valore non si può leggere",
            )
        });
        SidecarError::new(position, problem)
    }

    /// Stops the reading at the entry `index` of the top mapping, to be read again without it.
    /// The errors of this entry already in `read` go with it, to come back in file order.
    fn stop<E>(&self, mut read: Read, index: usize, whole: bool, error: SidecarError, err: E) -> E {
        let mut errors = read.errors.split_off(read.errors_before_entry);
        errors.push(error);
        self.abort.set(Some(Skip {
            index,
            whole,
            errors,
        }));
        self.partial.set(Some(read));
        err
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
    result.err().unwrap_or_else(|| {
        Problem::new(
            "this value cannot be read here",
            "qui questo valore non si può leggere",
        )
    })
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
        let ctx = self.ctx;
        self.check
            .list(ctx, seq)
            .inspect_err(|_| ctx.dirty.set(true))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<C::Out, A::Error> {
        let ctx = self.ctx;
        self.check
            .map(ctx, map)
            .inspect_err(|_| ctx.dirty.set(true))
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
            while map.next_key_seed(node(ctx, IsKey(self.0)))?.is_some() {
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }

    /// Fails at the key `name`; any other key, even a list or a group, is passed over.
    struct IsKey<'n>(&'n str);

    impl Check for IsKey<'_> {
        type Out = ();

        fn scalar(self, found: Found<'_>) -> Result<(), Problem> {
            match found {
                Found::Str(key) if key == self.0 => Err(Problem::new("found", "trovata")),
                _ => Ok(()),
            }
        }

        // serde_yaml wants every element read.
        fn list<'de, A: SeqAccess<'de>>(self, _ctx: &Ctx<'_>, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(())
        }

        fn map<'de, A: MapAccess<'de>>(self, _ctx: &Ctx<'_>, mut map: A) -> Result<(), A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
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

/// Every key by its English and its Italian name. Both names work in either language.
const KEYS: [(Key, &str, &str); 19] = [
    (Key::Channel, "channel", "canale"),
    (Key::Caption, "caption", "didascalia"),
    (Key::Text, "text", "testo"),
    (Key::Format, "format", "formato"),
    (Key::Silent, "silent", "silenzioso"),
    (Key::Pin, "pin", "fissa"),
    (Key::Protect, "protect", "proteggi"),
    (Key::Repost, "repost", "ripubblica"),
    (Key::LinkPreview, "link_preview", "anteprima_link"),
    (Key::SendAs, "send_as", "invia_come"),
    (Key::Buttons, "buttons", "pulsanti"),
    (Key::Attachments, "attachments", "allegati"),
    (Key::PublishAt, "publish_at", "pubblica_il"),
    (Key::PinUntil, "pin_until", "fissa_fino_al"),
    (Key::Edit, "edit", "correggi"),
    (Key::Delete, "delete", "elimina"),
    (Key::Unpin, "unpin", "sblocca"),
    (Key::Replace, "replace", "sostituisci"),
    (Key::Preview, "preview", "anteprima"),
];

/// Words a clerk (or someone who knows the Bot API) may write for a key, and the key's name
/// they most likely meant (in the same language as the word).
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
    ("titolo", "didascalia"),
    ("messaggio", "didascalia"),
    ("descrizione", "didascalia"),
    ("canali", "canale"),
    ("pulsante", "pulsanti"),
    ("bottoni", "pulsanti"),
    ("bottone", "pulsanti"),
    ("allegato", "allegati"),
    ("data", "pubblica_il"),
    ("quando", "pubblica_il"),
    ("pubblica", "pubblica_il"),
    ("pubblicazione", "pubblica_il"),
    ("muto", "silenzioso"),
    ("silenziosa", "silenzioso"),
    ("fissato", "fissa"),
    ("fissa_fino", "fissa_fino_al"),
    ("modifica", "correggi"),
    ("cancella", "elimina"),
    ("sostituisce", "sostituisci"),
];

impl Key {
    fn names(self) -> (&'static str, &'static str) {
        KEYS.iter()
            .find(|(key, _, _)| *key == self)
            .map_or(("?", "?"), |(_, en, it)| (*en, *it))
    }

    /// The key's name in the same language as `written` (the name of some key as the clerk
    /// wrote it), so that a hint speaks the clerk's vocabulary.
    fn like(self, written: &str) -> &'static str {
        let italian = KEYS.iter().any(|(_, _, it)| *it == written);
        let (en, it) = self.names();
        if italian { it } else { en }
    }

    /// `caption` and `text` (and their Italian names) are one setting.
    fn meaning(self) -> Key {
        match self {
            Key::Text => Key::Caption,
            other => other,
        }
    }
}

/// A key as the clerk wrote it: which one, and by which of its names.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Written {
    key: Key,
    name: &'static str,
}

/// What pass 3 read: the sidecar as far as it could be read, the keys as written, and the
/// mistakes in the order they are in the file.
#[derive(Debug, Default)]
struct Read {
    sidecar: Sidecar,
    /// Every key read, by the name it was written with (not a key said twice).
    keys: Vec<Written>,
    /// The keys whose value is wrong: the checks across keys do not judge them.
    bad: Vec<Key>,
    errors: Vec<SidecarError>,
    /// How many of `errors` were found before the entry being read.
    errors_before_entry: usize,
}

/// An entry of the top mapping that was wrong in a way that left the reader inside it (a list
/// or a group with a mistake in it): the next reading skips it and takes its error as found.
#[derive(Debug, Clone)]
struct Skip {
    /// Its place among the entries of the top mapping.
    index: usize,
    /// The key itself is wrong (a list or a group where a key should be).
    whole: bool,
    /// The mistake that stopped the reading, and those set aside before it in the same value.
    errors: Vec<SidecarError>,
}

/// A reading stops at a list or group with a mistake in it; each new reading skips the ones
/// found so far. A sidecar has few lists, but a hostile one can have a thousand: past this many
/// readings, the mistakes found so far are the answer.
const MAX_READINGS: usize = 20;

/// Reads the whole text with [`Top`] as many times as it takes to find every mistake.
fn read_all(text: &str, aliases: &[String]) -> Result<Read, SidecarError> {
    let mut skip: Vec<Skip> = Vec::new();
    loop {
        let ctx = Ctx::new(text, aliases);
        let outcome = run(&ctx, Top { skip: &skip });
        let aborted = ctx.abort.take();
        match (outcome, aborted) {
            (Ok(read), _) => return Ok(read),
            (Err(_), Some(abort)) if skip.len() + 1 >= MAX_READINGS => {
                let mut read = ctx.partial.take().unwrap_or_default();
                read.errors.extend(abort.errors);
                return Ok(read);
            }
            (Err(_), Some(abort)) if !skip.iter().any(|s| s.index == abort.index) => {
                skip.push(abort);
            }
            (Err(error), _) => return Err(error),
        }
    }
}

struct Top<'s> {
    skip: &'s [Skip],
}

impl Check for Top<'_> {
    type Out = Read;

    fn scalar(self, found: Found<'_>) -> Result<Read, Problem> {
        let hint = match found {
            Found::Null => return Ok(Read::default()),
            Found::List => Said::new(
                "remove the `- ` at the start of the lines",
                "togli il `- ` all'inizio delle righe",
            ),
            _ => Said::new(
                "write one setting per line, like `caption: Hello`",
                "scrivi un'impostazione per riga, come `didascalia: Buongiorno`",
            ),
        };
        let what = describe_top(found);
        Err(Problem::new(
            format!(
                "a sidecar must be made of `key: value` lines, not {}",
                what.en
            ),
            format!(
                "il file .yaml deve essere fatto di righe `chiave: valore`, non di {}",
                what.it
            ),
        )
        .said_hint(Some(hint)))
    }

    fn map<'de, A: MapAccess<'de>>(self, ctx: &Ctx<'_>, mut map: A) -> Result<Read, A::Error> {
        let mut read = Read::default();
        let mut index = 0;
        loop {
            read.errors_before_entry = read.errors.len();
            let skip = self.skip.iter().find(|s| s.index == index);
            if let Some(skip) = skip.filter(|s| s.whole) {
                if map.next_key::<IgnoredAny>()?.is_none() {
                    break;
                }
                map.next_value::<IgnoredAny>()?;
                read.errors.extend(skip.errors.iter().cloned());
                index += 1;
                continue;
            }
            ctx.dirty.set(false);
            let written = match map.next_key_seed(leaf(ctx, |f| top_key(ctx, f, &read.keys))) {
                Ok(None) => break,
                Ok(Some(written)) => written,
                Err(err) => {
                    let error = ctx.error(&err);
                    if ctx.dirty.get() {
                        return Err(ctx.stop(read, index, true, error, err));
                    }
                    read.errors.push(error);
                    map.next_value::<IgnoredAny>()?;
                    index += 1;
                    continue;
                }
            };
            read.keys.push(written);
            if let Some(skip) = skip {
                map.next_value::<IgnoredAny>()?;
                read.errors.extend(skip.errors.iter().cloned());
                read.bad.push(written.key);
                index += 1;
                continue;
            }
            ctx.dirty.set(false);
            let value = read_value(ctx, &mut map, written, &mut read.sidecar);
            let aside: Vec<SidecarError> = ctx.aside.borrow_mut().drain(..).collect();
            if !aside.is_empty() {
                read.bad.push(written.key);
            }
            read.errors.extend(aside);
            if let Err(err) = value {
                let error = ctx.error(&err);
                read.bad.push(written.key);
                if ctx.dirty.get() {
                    return Err(ctx.stop(read, index, false, error, err));
                }
                read.errors.push(error);
            }
            index += 1;
        }
        Ok(read)
    }
}

/// Reads the value of one key into the sidecar.
fn read_value<'de, A: MapAccess<'de>>(
    ctx: &Ctx<'_>,
    map: &mut A,
    written: Written,
    sidecar: &mut Sidecar,
) -> Result<(), A::Error> {
    let name = written.name;
    match written.key {
        Key::Channel => {
            sidecar.channels = map.next_value_seed(node(ctx, Channels(ctx.aliases, name)))?
        }
        Key::Caption | Key::Text => {
            sidecar.caption = Some(map.next_value_seed(leaf(ctx, |f| text_value(name, f)))?);
        }
        Key::Format => {
            sidecar.format = map.next_value_seed(leaf(ctx, |f| format_value(name, f)))?
        }
        Key::Silent => sidecar.silent = map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?,
        Key::Pin => sidecar.pin = map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?,
        Key::Protect => {
            sidecar.protect = map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?;
        }
        Key::Repost => sidecar.repost = map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?,
        Key::LinkPreview => {
            sidecar.link_preview = Some(map.next_value_seed(leaf(ctx, |f| flag_value(name, f)))?);
        }
        Key::SendAs => {
            sidecar.send_as = map.next_value_seed(leaf(ctx, |f| send_as_value(name, f)))?
        }
        Key::Buttons => {
            sidecar.buttons = map.next_value_seed(node(ctx, Buttons(name)))?;
            sidecar.buttons_given = true;
        }
        Key::Attachments => {
            sidecar.attachments = map.next_value_seed(node(ctx, Attachments(name)))?;
        }
        Key::PublishAt => {
            sidecar.publish_at = Some(map.next_value_seed(leaf(ctx, |f| time_value(name, f)))?);
        }
        Key::PinUntil => {
            sidecar.pin_until = Some(map.next_value_seed(leaf(ctx, |f| time_value(name, f)))?);
        }
        Key::Edit | Key::Delete | Key::Unpin => {
            let kind = match written.key {
                Key::Edit => ChangeKind::Edit,
                Key::Delete => ChangeKind::Delete,
                _ => ChangeKind::Unpin,
            };
            let (target, text) = map.next_value_seed(leaf(ctx, |f| post_value(name, f)))?;
            if sidecar.change.is_none() {
                sidecar.change = Some(ChangeRequest {
                    kind,
                    target,
                    written: text,
                });
            }
        }
        Key::Replace => {
            sidecar.replace = Some(map.next_value_seed(leaf(ctx, |f| replace_value(name, f)))?);
        }
        Key::Preview => {
            sidecar.preview = Some(map.next_value_seed(leaf(ctx, |f| preview_value(name, f)))?);
        }
    }
    Ok(())
}

fn describe_top(found: Found<'_>) -> Said {
    let what = describe(found);
    match found {
        Found::Str(_) | Found::Bool(_) | Found::Int(_) | Found::Float(_) => Said::new(
            format!("a single value ({})", what.en),
            format!("un valore solo ({})", what.it),
        ),
        Found::List => Said::new("a list", "un elenco"),
        _ => what,
    }
}

/// "the keys are channel, caption, …" / "le chiavi sono canale, didascalia, …".
fn the_keys() -> Said {
    let en: Vec<&str> = KEYS.iter().map(|(_, en, _)| *en).collect();
    let it: Vec<&str> = KEYS.iter().map(|(_, _, it)| *it).collect();
    Said::new(
        format!("the keys are {}", en.join(", ")),
        format!("le chiavi sono {}", it.join(", ")),
    )
}

fn top_key(ctx: &Ctx<'_>, found: Found<'_>, seen: &[Written]) -> Result<Written, Problem> {
    let name = match found {
        Found::Str(name) => name,
        Found::Null => {
            return Err(Problem::new(
                "a `:` has no key before it",
                "prima di questo `:` manca la chiave",
            )
            .said_hint(Some(the_keys())));
        }
        Found::Bool(_) | Found::Int(_) | Found::Float(_) => {
            let what = describe(found);
            return Err(Problem::new(
                format!("unknown key `{}`", what.en),
                format!("la chiave `{}` non esiste", what.en),
            )
            .said_hint(Some(the_keys())));
        }
        other => {
            let what = describe(other);
            return Err(Problem::new(
                format!("a key must be a word, not {}", what.en),
                format!("una chiave deve essere una parola, non {}", what.it),
            )
            .said_hint(Some(the_keys())));
        }
    };
    let Some(&(key, en, it)) = KEYS.iter().find(|(_, en, it)| *en == name || *it == name) else {
        return Err(unknown_key(name));
    };
    let written = Written {
        key,
        name: if en == name { en } else { it },
    };
    let earlier = |name: &str| locate_key(ctx.text, name);
    if let Some(first) = seen.iter().find(|w| w.key.meaning() == key.meaning()) {
        let other = first.name;
        let line = earlier(other);
        let (line_en, line_it) = match line {
            Some(line) => (
                format!(", first on line {line}"),
                format!(", la prima volta alla riga {line}"),
            ),
            None => (String::new(), String::new()),
        };
        if other == written.name {
            return Err(Problem::new(
                format!("`{name}` is written twice{line_en}"),
                format!("`{name}` compare due volte{line_it}"),
            )
            .hint("keep only one", "tieni una sola delle due righe"));
        }
        let (there_en, there_it) = match line {
            Some(line) => (format!(" on line {line}"), format!(" alla riga {line}")),
            None => (String::new(), String::new()),
        };
        return Err(Problem::new(
            format!("`{name}` and `{other}` mean the same thing, and `{other}` is already there{there_en}"),
            format!("`{name}` e `{other}` vogliono dire la stessa cosa, e `{other}` c'è già{there_it}"),
        )
        .hint("keep only one of them", "tieni una sola delle due righe"));
    }
    Ok(written)
}

/// `captoin` → "did you mean `caption`?"; in Italian the key's Italian name comes first, and
/// the name the clerk came close to is named too when it is the other one.
fn unknown_key(name: &str) -> Problem {
    let every = KEYS.iter().flat_map(|(_, en, it)| [*en, *it]);
    let hint = match closest(name, every, KEY_SYNONYMS) {
        Some(meant) => {
            let (_, en, it) = KEYS
                .iter()
                .find(|(_, en, it)| *en == meant || *it == meant)
                .copied()
                .unwrap_or((Key::Caption, meant, meant));
            if meant == en {
                Said::new(
                    format!("did you mean `{en}`?"),
                    format!("forse intendevi `{it}` (o `{en}`)?"),
                )
            } else {
                Said::new(
                    format!("did you mean `{en}` (or `{it}`)?"),
                    format!("forse intendevi `{it}`?"),
                )
            }
        }
        None => the_keys(),
    };
    let short = shorten(name);
    Problem::new(
        format!("unknown key `{short}`"),
        format!("la chiave `{short}` non esiste"),
    )
    .said_hint(Some(hint))
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
fn wrong(key: &str, expected: &Said, found: Found<'_>) -> Problem {
    match found {
        Found::Null => Problem::new(
            format!("`{key}` is empty; it must be {}", expected.en),
            format!("manca il valore di `{key}`: deve essere {}", expected.it),
        )
        .hint(
            "write a value after the `:`, or remove the line",
            "scrivi un valore dopo i due punti, oppure togli la riga",
        ),
        _ => {
            let what = describe(found);
            Problem::new(
                format!("`{key}` must be {}, not {}", expected.en, what.en),
                format!("`{key}` deve essere {}, non {}", expected.it, what.it),
            )
        }
    }
}

fn text_value(key: &str, found: Found<'_>) -> Result<String, Problem> {
    let expected = Said::new("text", "un testo");
    let quotes = Said::new("put it in quotes", "mettilo tra virgolette");
    let hint = match found {
        Found::Str(s) => return Ok(s.to_owned()),
        Found::Null => return Err(wrong(key, &expected, found)),
        Found::Bool(_) | Found::Int(_) | Found::Float(_) | Found::Tagged => quotes,
        Found::List => Said::new(
            "for several lines write `|` after the `:` and indent the lines below",
            "per più righe scrivi `|` dopo i due punti e rientra le righe sotto",
        ),
        Found::Map => Said::new(
            "if the text contains `: `, put all of it in quotes",
            "se il testo contiene `: `, mettilo tutto tra virgolette",
        ),
    };
    Err(wrong(key, &expected, found).said_hint(Some(hint)))
}

/// `true`/`false`, and as an Italian clerk writes them: sì, si, no, vero, falso.
fn flag_value(key: &str, found: Found<'_>) -> Result<bool, Problem> {
    let expected = Said::new("true or false", "sì o no");
    let hint = match found {
        Found::Bool(b) => return Ok(b),
        Found::Str(s) => match s.trim().to_lowercase().as_str() {
            "sì" | "si" | "vero" => return Ok(true),
            "no" | "falso" => return Ok(false),
            "true" | "false" => Said::new(
                "write true or false without quotes",
                "scrivi sì o no senza virgolette",
            ),
            _ => Said::new("write true or false", "scrivi sì o no"),
        },
        Found::Null => return Err(wrong(key, &expected, found)),
        _ => Said::new("write true or false", "scrivi sì o no"),
    };
    Err(wrong(key, &expected, found).said_hint(Some(hint)))
}

fn format_value(key: &str, found: Found<'_>) -> Result<Format, Problem> {
    const SYNONYMS: &[(&str, &str)] = &[
        ("md", "markdown"),
        ("markdownv2", "markdown"),
        ("markdown_v2", "markdown"),
        ("htm", "html"),
        ("text", "plain"),
        ("txt", "plain"),
        ("none", "plain"),
        ("raw", "plain"),
        ("testo", "semplice"),
        ("normale", "semplice"),
    ];
    let words = [
        ("markdown", "markdown"),
        ("html", "html"),
        ("plain", "semplice"),
    ];
    choice(key, found, &words, SYNONYMS).map(|i| [Format::Markdown, Format::Html, Format::Plain][i])
}

fn send_as_value(key: &str, found: Found<'_>) -> Result<SendAs, Problem> {
    const SYNONYMS: &[(&str, &str)] = &[
        ("image", "photo"),
        ("picture", "photo"),
        ("img", "photo"),
        ("immagine", "foto"),
        ("file", "document"),
        ("doc", "document"),
        ("pdf", "document"),
        ("default", "auto"),
        ("automatic", "auto"),
        ("automatico", "auto"),
    ];
    let words = [
        ("auto", "auto"),
        ("photo", "foto"),
        ("document", "documento"),
    ];
    choice(key, found, &words, SYNONYMS).map(|i| [SendAs::Auto, SendAs::Photo, SendAs::Document][i])
}

fn preview_value(key: &str, found: Found<'_>) -> Result<Preview, Problem> {
    const SYNONYMS: &[(&str, &str)] = &[
        ("thumb", "thumbnail"),
        ("small", "thumbnail"),
        ("first_page", "page"),
        ("photo", "page"),
        ("no", "none"),
        ("off", "none"),
        ("false", "none"),
        ("prima_pagina", "pagina"),
        ("foto", "pagina"),
        ("nessuno", "nessuna"),
    ];
    if let Found::Bool(false) = found {
        return Ok(Preview::None);
    }
    let words = [
        ("thumbnail", "miniatura"),
        ("page", "pagina"),
        ("none", "nessuna"),
    ];
    choice(key, found, &words, SYNONYMS)
        .map(|i| [Preview::Thumbnail, Preview::Page, Preview::None][i])
}

/// One of a few words (each by its English and its Italian form), in any case; the index of
/// the word.
fn choice(
    key: &str,
    found: Found<'_>,
    words: &[(&'static str, &'static str)],
    synonyms: &[(&str, &'static str)],
) -> Result<usize, Problem> {
    let list = |pick: fn(&(&'static str, &'static str)) -> &'static str, or: &str| {
        let names: Vec<&str> = words.iter().map(pick).collect();
        match names.as_slice() {
            [init @ .., last] => format!("{} {or} {last}", init.join(", ")),
            [] => String::new(),
        }
    };
    let expected = Said::new(list(|w| w.0, "or"), list(|w| w.1, "o"));
    if let Found::Str(s) = found {
        let s = s.trim();
        let is = |w: &&(&str, &str)| w.0.eq_ignore_ascii_case(s) || w.1.eq_ignore_ascii_case(s);
        if let Some(i) = words.iter().position(|w| is(&w)) {
            return Ok(i);
        }
        let every = words.iter().flat_map(|(en, it)| [*en, *it]);
        let hint = closest(s, every, synonyms).and_then(|meant| {
            let (en, it) = words.iter().find(|(en, it)| *en == meant || *it == meant)?;
            Some(Said::new(
                format!("did you mean `{en}`?"),
                format!("forse intendevi `{it}`?"),
            ))
        });
        return Err(wrong(key, &expected, found).said_hint(hint));
    }
    Err(wrong(key, &expected, found))
}

/// A post named by its link or its file name in the archive (see change.rs).
fn post_value(key: &str, found: Found<'_>) -> Result<(crate::change::PostRef, String), Problem> {
    let expected = Said::new(
        "the link of a post, like https://t.me/town_news/123",
        "il link di un post, come https://t.me/notizie_comune/123",
    );
    let Found::Str(text) = found else {
        return Err(wrong(key, &expected, found).hint(
            "copy the link from the post's receipt, or from Telegram (right-click the post, \"Copy link\")",
            "copia il link dalla ricevuta del post, oppure da Telegram (clic destro sul post, \"Copia link\")",
        ));
    };
    crate::change::parse(text)
        .map(|target| (target, text.trim().to_owned()))
        .map_err(|crate::change::NotAPost(why)| {
            Problem::new(
                format!("`{key}` must name a post: {}", why.en),
                format!("`{key}` deve indicare un post: {}", why.it),
            )
            .hint(
                "copy the link from the post's receipt, or from Telegram (right-click the post, \"Copy link\"); or write the file's name as it is in the archive",
                "copia il link dalla ricevuta del post, oppure da Telegram (clic destro sul post, \"Copia link\"); oppure scrivi il nome del file com'è nell'archivio",
            )
        })
}

/// The name of a file of an album (`replace: page2.jpg`): a name, not a path.
fn replace_value(key: &str, found: Found<'_>) -> Result<String, Problem> {
    let Found::Str(text) = found else {
        let expected = Said::new(
            "the name of a file of the post",
            "il nome di un file del post",
        );
        return Err(wrong(key, &expected, found));
    };
    let text = text.trim();
    if text.is_empty() || text.contains(['/', '\\']) || text == ".." {
        let short = shorten(text);
        return Err(Problem::new(
            format!("`{key}` must be the name of a file of the post, not \"{short}\""),
            format!("`{key}` deve essere il nome di un file del post, non \"{short}\""),
        )
        .hint(
            "write only the file's name, like page2.jpg",
            "scrivi solo il nome del file, come pagina2.jpg",
        ));
    }
    Ok(text.to_owned())
}

/// A moment: RFC 3339 (an exact instant), `2026-11-28 08:00`, or as an Italian office writes
/// it: `28/11/2026 08:00`, `28/11/2026 8.30`, `28/11/2026 ore 8` (the office's wall clock).
/// Nothing is guessed: a date with `/` is always day/month/year, with the year in full.
fn time_value(key: &str, found: Found<'_>) -> Result<PublishAt, Problem> {
    let expected = Said::new(
        "a date and time like 2026-11-28 08:00",
        "una data e un'ora come 28/11/2026 08:00",
    );
    let Found::Str(text) = found else {
        return Err(wrong(key, &expected, found));
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
    let local =
        |dt: jiff::civil::DateTime| PublishAt::Local(dt.strftime("%Y-%m-%dT%H:%M:%S").to_string());
    match text.parse::<jiff::civil::DateTime>() {
        Ok(dt) if has_time => return Ok(local(dt)),
        Ok(_) => return Err(no_time(key, text)),
        Err(_) => {}
    }
    match day_first(key, text) {
        Some(result) => result.map(local),
        None => Err(wrong(key, &expected, found).hint(
            "write the date as year-month-day and the time as hours:minutes, e.g. 2026-11-28 08:00",
            "scrivi la data come giorno/mese/anno e l'ora come ore:minuti, per esempio 28/11/2026 08:00",
        )),
    }
}

fn no_time(key: &str, date: &str) -> Problem {
    let short = shorten(date);
    Problem::new(
        format!("`{key}` needs a time too, not only the date \"{short}\""),
        format!("`{key}` ha bisogno anche dell'ora, non solo della data \"{short}\""),
    )
    .hint(
        format!("for example {short} 08:00"),
        format!("per esempio {short} 08:00"),
    )
}

/// `31/12/2026 10:00`, `31/12/2026 10.30`, `31/12/2026 ore 10`; `None` when the text does not
/// begin with a date written with `/`.
fn day_first(key: &str, text: &str) -> Option<Result<jiff::civil::DateTime, Problem>> {
    let (date, time) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let parts: Vec<&str> = date.split('/').collect();
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit());
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    if !(digits(a) && digits(b) && digits(c)) {
        return None;
    }
    let short = shorten(date);
    if a.len() == 4 && b.len() <= 2 && c.len() <= 2 {
        return Some(Err(Problem::new(
            format!("`{key}`: a date with `/` is read as day/month/year, and \"{short}\" begins with the year"),
            format!("`{key}`: una data con `/` si legge giorno/mese/anno, e \"{short}\" comincia con l'anno"),
        )
        .hint(
            format!("write it day first, like {c}/{b}/{a}, or as {a}-{b:0>2}-{c:0>2}"),
            format!("scrivila cominciando dal giorno, come {c}/{b}/{a}, oppure come {a}-{b:0>2}-{c:0>2}"),
        )));
    }
    if a.len() > 2 || b.len() > 2 {
        return None;
    }
    if c.len() == 2 {
        return Some(Err(Problem::new(
            format!("`{key}` has a year of two digits: \"{short}\""),
            format!("in `{key}` l'anno ha due cifre: \"{short}\""),
        )
        .hint(
            format!("write the year in full, like {a}/{b}/20{c}"),
            format!("scrivi l'anno per intero, come {a}/{b}/20{c}"),
        )));
    }
    if c.len() != 4 {
        return None;
    }
    let number = |s: &str| s.parse::<i8>().unwrap_or(0);
    let year: i16 = c.parse().unwrap_or(0);
    let Ok(day) = jiff::civil::Date::new(year, number(b), number(a)) else {
        return Some(Err(Problem::new(
            format!("`{key}`: there is no such day as \"{short}\" (day/month/year)"),
            format!("`{key}`: il giorno \"{short}\" non esiste (giorno/mese/anno)"),
        )
        .hint(
            "check the day and the month",
            "controlla il giorno e il mese",
        )));
    };
    let time = time.trim();
    if time.is_empty() {
        return Some(Err(no_time(key, date)));
    }
    let (said_ore, clock) = match time.split_once(char::is_whitespace) {
        Some((ore, rest)) if ore.eq_ignore_ascii_case("ore") => (true, rest.trim()),
        _ => (false, time),
    };
    Some(
        clock_time(clock, said_ore)
            .map(|t| day.to_datetime(t))
            .ok_or_else(|| {
                let clock = shorten(clock);
                Problem::new(
                    format!("`{key}`: \"{clock}\" is not a time of day"),
                    format!("`{key}`: \"{clock}\" non è un'ora del giorno"),
                )
                .hint(
                    format!("write hours and minutes, like {short} 08:00"),
                    format!("scrivi ore e minuti, come {short} 08:00 oppure {short} ore 8"),
                )
            }),
    )
}

/// `10:00`, `10.30`, `8:05:30`; a bare hour (`10`) only after `ore`.
fn clock_time(text: &str, said_ore: bool) -> Option<jiff::civil::Time> {
    let parts: Vec<&str> = text.split([':', '.']).collect();
    let number = |s: &str, max: i8| -> Option<i8> {
        if s.is_empty() || s.len() > 2 || !s.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse::<i8>().ok().filter(|n| *n <= max)
    };
    let (hour, minute, second) = match parts.as_slice() {
        [h] if said_ore => (number(h, 23)?, 0, 0),
        [h, m] if m.len() == 2 => (number(h, 23)?, number(m, 59)?, 0),
        [h, m, s] if m.len() == 2 && s.len() == 2 => {
            (number(h, 23)?, number(m, 59)?, number(s, 59)?)
        }
        _ => return None,
    };
    jiff::civil::Time::new(hour, minute, second, 0).ok()
}

// channel

struct Channels<'a>(&'a [String], &'static str);

fn channel_expected() -> Said {
    Said::new(
        "a channel name, an @username or a numeric chat id",
        "il nome di un canale, un @nomeutente o il numero di una chat",
    )
}

impl Check for Channels<'_> {
    type Out = Vec<String>;

    fn scalar(self, found: Found<'_>) -> Result<Vec<String>, Problem> {
        Ok(vec![channel(self.0, self.1, found, &[])?])
    }

    fn list<'de, A: SeqAccess<'de>>(
        self,
        ctx: &Ctx<'_>,
        mut seq: A,
    ) -> Result<Vec<String>, A::Error> {
        let Channels(aliases, key) = self;
        let mut channels: Vec<String> = Vec::new();
        let mut any = false;
        loop {
            let one = seq.next_element_seed(leaf(ctx, |f| channel(aliases, key, f, &channels)));
            match ctx.keep(one)? {
                Kept::Read(Some(one)) => channels.push(one),
                Kept::Read(None) => break,
                Kept::Aside => {}
            }
            any = true;
        }
        if !any {
            return Err(ctx.fail(
                Problem::new(
                    format!("`{key}` is an empty list"),
                    format!("`{key}` è un elenco vuoto"),
                )
                .hint(
                    "name at least one channel, or remove the line to use the folder's channel",
                    "indica almeno un canale, oppure togli la riga per usare il canale della cartella",
                ),
            ));
        }
        Ok(channels)
    }
}

/// One channel reference, as the clerk wrote it (ids in their canonical form).
fn channel(
    aliases: &[String],
    key: &str,
    found: Found<'_>,
    earlier: &[String],
) -> Result<String, Problem> {
    let reference = match found {
        Found::Int(id) if id != 0 && i64::try_from(id).is_ok() => id.to_string(),
        Found::Str(s) if aliases.iter().any(|a| a == s) => s.to_owned(),
        Found::Str(s) if s.starts_with('@') => {
            if !is_username(&s[1..]) {
                let short = shorten(s);
                return Err(Problem::new(
                    format!("`{short}` is not a valid Telegram username"),
                    format!("`{short}` non è un nome utente Telegram valido"),
                )
                .hint(
                    "5 to 32 letters, digits or underscores after the @, starting with a letter",
                    "dopo la @ servono da 5 a 32 lettere, cifre o trattini bassi, e la prima deve essere una lettera",
                ));
            }
            s.to_owned()
        }
        Found::Str(s) => match s.parse::<i64>() {
            Ok(id) if id != 0 => id.to_string(),
            _ => return Err(unknown_channel(aliases, s)),
        },
        Found::List => {
            return Err(wrong(key, &channel_expected(), found).hint(
                "write the channels in one list, like [news, alerts]",
                "scrivi i canali in un solo elenco, come [notizie, avvisi]",
            ));
        }
        _ => return Err(wrong(key, &channel_expected(), found)),
    };
    // Usernames are case-insensitive on Telegram.
    let same = |other: &String| {
        other == &reference
            || (reference.starts_with('@') && other.eq_ignore_ascii_case(&reference))
    };
    if earlier.iter().any(same) {
        return Err(Problem::new(
            format!("channel `{reference}` is listed twice"),
            format!("il canale `{reference}` compare due volte"),
        )
        .hint("keep only one", "tienine uno solo"));
    }
    Ok(reference)
}

fn unknown_channel(aliases: &[String], name: &str) -> Problem {
    let short = shorten(name);
    let problem = if aliases.is_empty() {
        Problem::new(
            format!("unknown channel `{short}`: the config names no channels"),
            format!(
                "il canale `{short}` non si conosce: la configurazione non nomina nessun canale"
            ),
        )
    } else {
        let list = aliases.join(", ");
        Problem::new(
            format!("unknown channel `{short}`: the config has {list}"),
            format!("il canale `{short}` non si conosce: nella configurazione ci sono {list}"),
        )
    };
    let hint = match closest(name, aliases.iter().map(String::as_str), &[]) {
        Some(alias) => Said::new(
            format!("did you mean `{alias}`?"),
            format!("forse intendevi `{alias}`?"),
        ),
        None if is_username(name) => Said::new(
            format!("for a public channel write \"@{name}\""),
            format!("per un canale pubblico scrivi \"@{name}\""),
        ),
        None => Said::new(
            "write a channel name from the config, an @username or a numeric chat id",
            "scrivi il nome di un canale della configurazione, un @nomeutente o il numero di una chat",
        ),
    };
    problem.said_hint(Some(hint))
}

/// Telegram's rule: 5 to 32 characters of letters, digits and underscores, starting with a
/// letter.
fn is_username(name: &str) -> bool {
    (5..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// buttons

struct Buttons(&'static str);

impl Check for Buttons {
    type Out = Vec<Vec<Button>>;

    fn scalar(self, found: Found<'_>) -> Result<Vec<Vec<Button>>, Problem> {
        let expected = Said::new("a list of buttons", "un elenco di pulsanti");
        let problem = wrong(self.0, &expected, found);
        Err(match found {
            Found::Map => problem.hint(
                "start each button with `- `, like `- {text: Details, url: https://…}`",
                "comincia ogni pulsante con `- `, come `- {testo: Dettagli, url: https://…}`",
            ),
            Found::Null => problem,
            _ => problem.hint(
                "write each button as `- {text: Details, url: https://…}`",
                "scrivi ogni pulsante così: `- {testo: Dettagli, url: https://…}`",
            ),
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
                Problem::new("a row of buttons is empty", "una fila di pulsanti è vuota").hint(
                    "add a button or remove the row",
                    "aggiungi un pulsante oppure togli la fila",
                ),
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
    let what = describe(found);
    Problem::new(
        format!(
            "a button must be written as `{{text: …, url: …}}`, not {}",
            what.en
        ),
        format!(
            "un pulsante si scrive `{{testo: …, url: …}}`, non {}",
            what.it
        ),
    )
    .hint(
        "like `- {text: Details, url: https://example.org}`",
        "come `- {testo: Dettagli, url: https://example.org}`",
    )
}

/// A button's keys, by the name written: `text` or `testo`, and `url`.
#[derive(Clone, Copy, PartialEq)]
enum ButtonKey {
    Text(&'static str),
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
            Problem::new(
                format!("a row has more than {MAX_BUTTONS_PER_ROW} buttons"),
                format!("una fila ha più di {MAX_BUTTONS_PER_ROW} pulsanti"),
            )
            .hint(
                "start a new row with `- `",
                "comincia una nuova fila con `- `",
            ),
        ));
    }
    if *total >= MAX_BUTTONS {
        return Err(ctx.fail(Problem::new(
            format!("there are more than {MAX_BUTTONS} buttons"),
            format!("ci sono più di {MAX_BUTTONS} pulsanti"),
        )));
    }
    *total += 1;
    let mut text: Option<String> = None;
    let mut text_key: Option<&'static str> = None;
    let mut url: Option<String> = None;
    let mut url_key = false;
    let aside_before = ctx.aside.borrow().len();
    loop {
        let seen = (text_key, url_key);
        let key = ctx.keep(map.next_key_seed(leaf(ctx, |f| button_key(f, seen))))?;
        let key = match key {
            Kept::Read(Some(key)) => key,
            Kept::Read(None) => break,
            Kept::Aside => {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
        };
        match key {
            ButtonKey::Text(name) => {
                text_key = Some(name);
                let read = ctx.keep(map.next_value_seed(leaf(ctx, |f| button_text(name, f))))?;
                text = read.into_option();
            }
            ButtonKey::Url => {
                url_key = true;
                url = ctx
                    .keep(map.next_value_seed(leaf(ctx, button_url)))?
                    .into_option();
            }
        }
    }
    match (text, url) {
        (Some(text), Some(url)) => Ok(Button { text, url }),
        // A mistake in the text or the link is already set aside.
        _ if (text_key.is_some() && url_key) || ctx.aside.borrow().len() > aside_before => {
            Ok(Button {
                text: String::new(),
                url: String::new(),
            })
        }
        (None, _) => Err(ctx.fail(
            Problem::new("a button has no `text`", "a un pulsante manca `testo`").hint(
                "write `text: ` and the words on the button",
                "scrivi `testo: ` e le parole del pulsante",
            ),
        )),
        (Some(_), None) => Err(ctx.fail(
            Problem::new("a button has no `url`", "a un pulsante manca `url`").hint(
                "write `url: ` and the link it opens",
                "scrivi `url: ` e il link che apre",
            ),
        )),
    }
}

fn button_key(
    found: Found<'_>,
    (text_key, has_url): (Option<&'static str>, bool),
) -> Result<ButtonKey, Problem> {
    const SYNONYMS: &[(&str, &str)] = &[
        ("label", "text"),
        ("title", "text"),
        ("caption", "text"),
        ("name", "text"),
        ("titolo", "testo"),
        ("etichetta", "testo"),
        ("nome", "testo"),
        ("link", "url"),
        ("href", "url"),
        ("uri", "url"),
        ("address", "url"),
        ("indirizzo", "url"),
        ("collegamento", "url"),
    ];
    let only = Said::new(
        "a button has only `text` and `url`",
        "un pulsante ha solo `testo` e `url`",
    );
    let key: &'static str = match found {
        Found::Str(name @ ("text" | "testo")) => {
            let name = if name == "text" { "text" } else { "testo" };
            match text_key {
                None => return Ok(ButtonKey::Text(name)),
                Some(first) if first != name => {
                    return Err(Problem::new(
                        format!("a button has both `{first}` and `{name}`, which mean the same thing"),
                        format!("un pulsante ha sia `{first}` sia `{name}`, che vogliono dire la stessa cosa"),
                    )
                    .hint("keep only one", "tienine uno solo"));
                }
                Some(_) => name,
            }
        }
        Found::Str("url") if has_url => "url",
        Found::Str("url") => return Ok(ButtonKey::Url),
        Found::Str(other) => {
            let hint = match closest(other, ["text", "testo", "url"], SYNONYMS) {
                Some("testo") => Said::new("did you mean `text`?", "forse intendevi `testo`?"),
                Some("text") => Said::new(
                    "did you mean `text`?",
                    "forse intendevi `testo` (o `text`)?",
                ),
                Some(_) => Said::new("did you mean `url`?", "forse intendevi `url`?"),
                None => only,
            };
            let short = shorten(other);
            return Err(Problem::new(
                format!("unknown key `{short}` in a button"),
                format!("in un pulsante la chiave `{short}` non esiste"),
            )
            .said_hint(Some(hint)));
        }
        other => {
            let what = describe(other);
            return Err(Problem::new(
                format!("unknown key `{}` in a button", what.en),
                format!("in un pulsante la chiave `{}` non esiste", what.en),
            )
            .said_hint(Some(only)));
        }
    };
    Err(Problem::new(
        format!("a button has `{key}` twice"),
        format!("un pulsante ha `{key}` due volte"),
    )
    .hint("keep only one", "tienine uno solo"))
}

fn button_text(key: &str, found: Found<'_>) -> Result<String, Problem> {
    let Found::Str(text) = found else {
        let expected = Said::new("the words on the button", "il testo del pulsante");
        let problem = wrong(key, &expected, found);
        return Err(match found {
            Found::Null => problem,
            _ => problem.hint("put it in quotes", "mettilo tra virgolette"),
        });
    };
    if text.trim().is_empty() {
        return Err(Problem::new(
            format!("a button's `{key}` is empty"),
            format!("il `{key}` di un pulsante è vuoto"),
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_BUTTON_TEXT_CHARS {
        return Err(Problem::new(
            format!(
                "a button's `{key}` has {chars} characters; at most {MAX_BUTTON_TEXT_CHARS} are allowed"
            ),
            format!(
                "il `{key}` di un pulsante ha {chars} caratteri; il massimo è {MAX_BUTTON_TEXT_CHARS}"
            ),
        ));
    }
    Ok(text.to_owned())
}

fn button_url(found: Found<'_>) -> Result<String, Problem> {
    let expected = Said::new(
        "a link starting with https://, http:// or tg://",
        "un link che comincia con https://, http:// o tg://",
    );
    let Found::Str(url) = found else {
        return Err(wrong("url", &expected, found));
    };
    let after_scheme = ["https://", "http://", "tg://"].iter().find_map(|scheme| {
        let head = url.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &url[scheme.len()..])
    });
    let Some(rest) = after_scheme else {
        let problem = wrong("url", &expected, found);
        let looks_like_a_site = !url.contains("://") && url.contains('.') && !url.contains(' ');
        return Err(if looks_like_a_site {
            problem.hint(
                format!("write \"https://{url}\""),
                format!("scrivi \"https://{url}\""),
            )
        } else {
            problem
        });
    };
    let link = describe(found).en;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Problem::new(
            format!("the link {link} contains spaces"),
            format!("il link {link} contiene spazi"),
        )
        .hint(
            "write spaces in a link as %20",
            "in un link scrivi gli spazi come %20",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    if host.is_empty() {
        return Err(Problem::new(
            format!("the link {link} has no site name after `//`"),
            format!("nel link {link} manca il nome del sito dopo `//`"),
        ));
    }
    Ok(url.to_owned())
}

// attachments

struct Attachments(&'static str);

impl Check for Attachments {
    type Out = Vec<String>;

    fn scalar(self, found: Found<'_>) -> Result<Vec<String>, Problem> {
        let names = vec![file_name(self.0, found, &[])?];
        albums_supported(&names)?;
        Ok(names)
    }

    fn list<'de, A: SeqAccess<'de>>(
        self,
        ctx: &Ctx<'_>,
        mut seq: A,
    ) -> Result<Vec<String>, A::Error> {
        let key = self.0;
        let mut names: Vec<String> = Vec::new();
        loop {
            let name = seq.next_element_seed(leaf(ctx, |f| file_name(key, f, &names)));
            match ctx.keep(name)? {
                Kept::Read(Some(name)) => names.push(name),
                Kept::Read(None) => break,
                Kept::Aside => {}
            }
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
        "gli album (`allegati`) non sono ancora possibili: pubblica ogni file con il suo file .yaml",
    ))
}

/// A name of a file next to the sidecar: nothing that could reach another folder.
fn file_name(key: &str, found: Found<'_>, earlier: &[String]) -> Result<String, Problem> {
    let Found::Str(name) = found else {
        let expected = Said::new("file names", "un elenco di nomi di file");
        let problem = wrong(key, &expected, found);
        return Err(match found {
            Found::Int(_) | Found::Float(_) | Found::Bool(_) => {
                problem.hint("put it in quotes", "mettilo tra virgolette")
            }
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
        let what = describe(found).en;
        let problem = Problem::new(
            format!("attachments must be file names in the same folder, not {what}"),
            format!("gli allegati devono essere nomi di file della stessa cartella, non {what}"),
        );
        return Err(
            if last.is_empty() || last == ".." || last == "." || last == name {
                problem
            } else {
                problem.hint(
                    format!("put the file next to the sidecar and write only \"{last}\""),
                    format!("metti il file accanto al file .yaml e scrivi solo \"{last}\""),
                )
            },
        );
    }
    if earlier.iter().any(|e| e == name) {
        let short = shorten(name);
        return Err(Problem::new(
            format!("`{short}` is listed twice in `{key}`"),
            format!("`{short}` compare due volte in `{key}`"),
        )
        .hint("keep only one", "tienine uno solo"));
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
pub(crate) mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const KEY_LIST: &str = "channel, caption, text, format, silent, pin, protect, repost, \
                            link_preview, send_as, buttons, attachments, publish_at, \
                            pin_until, edit, delete, unpin, replace, preview";

    fn outcome(bytes: &[u8]) -> String {
        outcome_in(Language::En, bytes)
    }

    /// `ok …` (see [`summary`]), or each error on its own line, as the clerk reads it in `lang`.
    fn outcome_in(lang: Language, bytes: &[u8]) -> String {
        let aliases = ["news", "alerts", "notizie"].map(String::from);
        let rules = Rules {
            channel_aliases: &aliases,
        };
        match parse(bytes, &rules) {
            Ok(sidecar) => summary(&sidecar),
            Err(errors) => {
                let word = match lang {
                    Language::En => "error",
                    Language::It => "errore",
                };
                let lines: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{word}: {}", e.render(lang)))
                    .collect();
                lines.join("\n")
            }
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
        check("silent: no\n", "ok");
        check(
            "silent: on\n",
            r#"error: line 1, column 9: `silent` must be true or false, not "on" (write true or false)"#,
        );
        check("silent: sì\n", "ok silent");
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
        check("send_as: foto\n", "ok send_as=Photo");
        check(
            "send_as: fotto\n",
            r#"error: line 1, column 10: `send_as` must be auto, photo or document, not "fotto" (did you mean `photo`?)"#,
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
        let err = parse(b"channel: news\n", &rules).unwrap_err().remove(0);
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
            file_name("attachments", Found::Str("page2.jpg"), &[]),
            Ok("page2.jpg".to_owned())
        );
        assert_eq!(
            file_name("attachments", Found::Str("pagina 2 (copia).jpg"), &[]),
            Ok("pagina 2 (copia).jpg".to_owned())
        );
        assert_eq!(
            file_name("attachments", Found::Str("a..b.pdf"), &[]),
            Ok("a..b.pdf".to_owned())
        );
        assert!(file_name("attachments", Found::Str("a.pdf"), &["a.pdf".to_owned()]).is_err());
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
            r#"ok publish_at=Local("2026-11-28T08:00:00")"#,
        );
        check(
            "publish_at: 28.11.2026 08:00\n",
            "error: line 1, column 13: `publish_at` must be a date and time like 2026-11-28 08:00, not \"28.11.2026 08:00\" (write the date as year-month-day and the time as hours:minutes, e.g. 2026-11-28 08:00)",
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
        let shown = outcome(yaml.as_bytes());
        assert!(shown.starts_with(expected), "{shown}");
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
            "error: line 1, column 10: a value cannot start with `!`: YAML reads `!word` as a tag, not as text (put the value in quotes)",
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
        check(
            "caption: !!! ALLERTA METEO !!!\n",
            "error: line 1, column 10: a value cannot start with `!`: YAML reads `!word` as a tag, not as text (put the value in quotes)",
        );
        check(
            "buttons: [{text: !Vai, url: 'https://a.org'}]\n",
            "error: line 1, column 18: a value cannot start with `!`: YAML reads `!word` as a tag, not as text (put the value in quotes)",
        );
        check(
            "caption: Attenzione! Strada chiusa!\n",
            r#"ok caption="Attenzione! Strada chiusa!""#,
        );
        check(
            "caption: \"!!! ALLERTA METEO !!!\"\n",
            r#"ok caption="!!! ALLERTA METEO !!!""#,
        );
        check(
            "caption: |x\n  testo\n",
            "error: line 1, column 10: after `|` or `>` the text must start on the next line (write the text on the lines below, indented)",
        );
        check(
            "caption: \"Avviso\n---\nfine\"\n",
            "error: line 2, column 1: a line starting with `---` or `...` inside quotes ends the file for YAML (indent that line, or write the text after `|` on the lines below)",
        );
        check(
            "channel: [news, , alerts]\n",
            "error: line 1, column 17: a value is missing here (write the value, or remove the `,` or `-` left alone there)",
        );
    }

    #[test]
    fn error_display_and_fields() {
        let errors = parse(
            b"silent: true\npin: true\ncaptoin: x\n",
            &Rules {
                channel_aliases: &[],
            },
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [SidecarError {
                line: Some(3),
                column: Some(1),
                message: Said::new("unknown key `captoin`", "la chiave `captoin` non esiste"),
                hint: Some(Box::new(Said::new(
                    "did you mean `caption`?",
                    "forse intendevi `didascalia` (o `caption`)?"
                ))),
            }]
        );
        assert_eq!(
            errors[0].to_string(),
            "line 3, column 1: unknown key `captoin` (did you mean `caption`?)"
        );
        assert_eq!(
            errors[0].render(Language::It),
            "riga 3, colonna 1: la chiave `captoin` non esiste (forse intendevi `didascalia` (o `caption`)?)"
        );
        let bare = SidecarError {
            line: None,
            column: None,
            message: Said::new("m", "n"),
            hint: None,
        };
        assert_eq!(bare.to_string(), "m");
        assert_eq!(bare.render(Language::It), "n");
        let line_only = SidecarError {
            line: Some(2),
            column: None,
            message: Said::new("m", "n"),
            hint: Some(Box::new(Said::new("h", "i"))),
        };
        assert_eq!(line_only.to_string(), "line 2: m (h)");
        assert_eq!(line_only.render(Language::It), "riga 2: n (i)");
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
        let accents = yaml.replace("format: markdown", "formatto: markdown");
        check(
            &accents,
            "error: line 7, column 1: unknown key `formatto` (did you mean `format` (or `formato`)?)",
        );
        let emoji_column = yaml.replace("silent: false", "silent: 🔇");
        check(
            &emoji_column,
            r#"error: line 8, column 9: `silent` must be true or false, not "🔇" (write true or false)"#,
        );
    }

    #[track_caller]
    fn check_it(yaml: &str, expected: &str) {
        assert_eq!(
            outcome_in(Language::It, yaml.as_bytes()),
            expected,
            "sidecar:\n{yaml}"
        );
    }

    /// One sidecar for each mistake the parser can name (and the errors `prepare` makes), so
    /// that none of them is left in English in an Italian report.
    pub(crate) fn every_kind_of_mistake() -> Vec<Vec<u8>> {
        let text = |s: &str| s.as_bytes().to_vec();
        let mut all: Vec<Vec<u8>> = [
            // Bytes and syntax.
            "caption: a\u{1}b\n",
            "caption: x\n\tsilent: true\n",
            "caption: x\n---\nsilent: true\n",
            "caption: \"C:\\temp\\x.pdf\"\n",
            "caption: `x`\n",
            "channel: @town_news\n",
            "caption: Nota: importante\n",
            ": x\n",
            "channel:\n  - news\n - alerts\n",
            "caption: - item\n",
            "caption: x\nsilent\n",
            "caption: \"Ciao\nsilent: true\n",
            "channel: [news, alerts\n",
            "buttons: [{text: A, url: 'https://a.org'}\n",
            "caption: |x\n  testo\n",
            "caption: \"Avviso\n---\nfine\"\n",
            "channel: [news, , alerts]\n",
            "caption: x\n%YAML 1.2\n",
            "caption: !<x y\n",
            // Shape.
            "caption: &c Ciao\n",
            "caption: *c\n",
            "caption: **Avviso** importante\n",
            "caption: !foo x\n",
            "didascalia: !!! ALLERTA METEO !!!\n",
            "a: [[[[[[[[[1]]]]]]]]]\n",
            "- caption: x\n",
            "Hello\n",
            // Keys.
            "captoin: x\n",
            "didascalai: x\n",
            "colour: red\n",
            "1: x\n",
            "[a]: x\n",
            "~: x\n",
            "caption: a\ncaption: b\n",
            "caption: a\ntext: b\n",
            "channel: news\ncanale: alerts\n",
            // Values.
            "caption: 42\n",
            "caption: [a, b]\n",
            "caption:\n  a: b\n",
            "caption:\n",
            "silent: yes\n",
            "silent: \"true\"\n",
            "silent: [true]\n",
            "format: htlm\n",
            "format: rtf\n",
            "send_as: fotto\n",
            "preview: pagine\n",
            "edit: 42\n",
            "edit: ''\n",
            "edit: https://t.me/town_news\n",
            "edit: https://t.me/town_news/abc\n",
            "edit: https://t.me/c/abc/12\n",
            "delete: a/b.pdf\n",
            "edit: https://t.me/town_news/1\nreplace: 4\n",
            "edit: https://t.me/town_news/1\nreplace: ../a.jpg\n",
            // Keys that do not go together.
            "delete: https://t.me/town_news/12\ncaption: x\n",
            "edit: https://t.me/town_news/12\nunpin: https://t.me/town_news/12\n",
            "edit: https://t.me/town_news/12\nchannel: news\n",
            "edit: https://t.me/town_news/12\npublish_at: 2026-12-01 10:00\n",
            "edit: https://t.me/town_news/12\nsilent: true\n",
            "replace: a.jpg\n",
            "pin_until: 2026-12-02 23:59\n",
            "fissa_fino_al: 2026-12-02 23:59\n",
            // Dates.
            "publish_at: 12\n",
            "publish_at: 2026-11-28\n",
            "publish_at: domani\n",
            "publish_at: 2026/12/11 10:00\n",
            "publish_at: 31/12/26 10:00\n",
            "publish_at: 31/02/2026 10:00\n",
            "publish_at: 31/12/2026 25:00\n",
            "publish_at: 31/12/2026\n",
            // Channels.
            "channel: '@abc'\n",
            "channel: newz\n",
            "channel: town_news\n",
            "channel: 'a b'\n",
            "channel: [[news]]\n",
            "channel: [news, news]\n",
            "channel: []\n",
            "channel: 0\n",
            // Buttons.
            "buttons: {text: A, url: 'https://a.org'}\n",
            "buttons: https://a.org\n",
            "buttons:\n",
            "buttons:\n  - https://a.org\n",
            "buttons:\n  - []\n",
            "buttons:\n  - {text: A}\n",
            "buttons:\n  - {url: 'https://a.org'}\n",
            "buttons:\n  - {txt: A, url: 'https://a.org'}\n",
            "buttons:\n  - {text: A, url: 'https://a.org', colour: red}\n",
            "buttons:\n  - {1: A, url: 'https://a.org'}\n",
            "buttons:\n  - {text: A, text: B, url: 'https://a.org'}\n",
            "buttons:\n  - {text: A, testo: B, url: 'https://a.org'}\n",
            "buttons:\n  - {text: '', url: 'https://a.org'}\n",
            "buttons:\n  - {text: 42, url: 'https://a.org'}\n",
            "buttons:\n  - {text: A, url: www.a.org}\n",
            "buttons:\n  - {text: A, url: 'ftp://a.org'}\n",
            "buttons:\n  - {text: A, url: 'https://'}\n",
            "buttons:\n  - {text: A, url: 'https://a.org/a b'}\n",
            // Attachments.
            "attachments: [2024]\n",
            "attachments: [../secret.pdf]\n",
            "attachments: [a.pdf, a.pdf]\n",
            "attachments:\n",
        ]
        .iter()
        .map(|s| text(s))
        .collect();
        all.push(
            format!(
                "buttons:\n  - [{}]\n",
                "{text: b, url: 'https://a.org'}, ".repeat(9)
            )
            .into_bytes(),
        );
        all.push(
            format!(
                "buttons:\n{}",
                "  - {text: b, url: 'https://a.org'}\n".repeat(101)
            )
            .into_bytes(),
        );
        all.push(
            format!(
                "buttons:\n  - {{text: {}, url: 'https://a.org'}}\n",
                "x".repeat(65)
            )
            .into_bytes(),
        );
        all.push(format!("caption: {}\n", "[".repeat(300)).into_bytes());
        all.push(format!("caption: {}\n", "a".repeat(MAX_SIDECAR_BYTES)).into_bytes());
        all.push(b"\xFF\xFEc\0a\0".to_vec());
        all.push(b"caption: x\nsilent: \xE0 true\n".to_vec());
        all
    }

    #[test]
    fn every_mistake_reads_in_both_languages() {
        use crate::messages::english_words_in;
        let aliases = ["news", "alerts", "notizie"].map(String::from);
        let rules = Rules {
            channel_aliases: &aliases,
        };
        let mut errors = vec![
            SidecarError::too_large(70),
            SidecarError::buttons_under_album(),
            SidecarError::no_channel(),
            SidecarError::pin_ends_too_soon("2026-12-01 10:00"),
        ];
        for sidecar in every_kind_of_mistake() {
            let shown = String::from_utf8_lossy(&sidecar)
                .chars()
                .take(80)
                .collect::<String>();
            match parse(&sidecar, &rules) {
                Ok(_) => panic!("no mistake in:\n{shown}"),
                Err(found) => errors.extend(found),
            }
        }
        let mut bad = Vec::new();
        for e in &errors {
            let (en, it) = (e.render(Language::En), e.render(Language::It));
            assert_eq!(en, e.to_string());
            if en == it || it.is_empty() {
                bad.push(format!("not translated: {en}"));
            }
            let english = english_words_in(&it);
            if !english.is_empty() {
                bad.push(format!("English words {english:?} in: {it}"));
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
        assert!(english_words_in("riga 1: `true` non \"is\"").is_empty());
        assert_eq!(english_words_in("line 1: the key"), ["line", "the", "key"]);
    }

    #[test]
    fn mistakes_in_italian() {
        check_it(
            "capton: \"Avviso\"\nsilent: si\n",
            "errore: riga 1, colonna 1: la chiave `capton` non esiste (forse intendevi `didascalia` (o `caption`)?)",
        );
        check_it(
            "didascalai: x\n",
            "errore: riga 1, colonna 1: la chiave `didascalai` non esiste (forse intendevi `didascalia`?)",
        );
        check_it(
            "silenzioso: forse\n",
            r#"errore: riga 1, colonna 13: `silenzioso` deve essere sì o no, non "forse" (scrivi sì o no)"#,
        );
        check_it(
            "silent: 1\n",
            "errore: riga 1, colonna 9: `silent` deve essere sì o no, non `1` (scrivi sì o no)",
        );
        check_it(
            "didascalia:\n",
            "errore: riga 1, colonna 12: manca il valore di `didascalia`: deve essere un testo (scrivi un valore dopo i due punti, oppure togli la riga)",
        );
        check_it(
            "formato: htlm\n",
            r#"errore: riga 1, colonna 10: `formato` deve essere markdown, html o semplice, non "htlm" (forse intendevi `html`?)"#,
        );
        check_it(
            "invia_come: fotto\n",
            r#"errore: riga 1, colonna 13: `invia_come` deve essere auto, foto o documento, non "fotto" (forse intendevi `foto`?)"#,
        );
        check_it(
            "canale: newz\n",
            "errore: riga 1, colonna 9: il canale `newz` non si conosce: nella configurazione ci sono news, alerts, notizie (forse intendevi `news`?)",
        );
        check_it(
            "didascalia: a\ntesto: b\n",
            "errore: riga 2, colonna 1: `testo` e `didascalia` vogliono dire la stessa cosa, e `didascalia` c'è già alla riga 1 (tieni una sola delle due righe)",
        );
        check_it(
            "caption: a\ncaption: b\n",
            "errore: riga 2, colonna 1: `caption` compare due volte, la prima volta alla riga 1 (tieni una sola delle due righe)",
        );
        check_it(
            "pulsanti:\n  - {testo: A}\n",
            "errore: riga 2, colonna 5: a un pulsante manca `url` (scrivi `url: ` e il link che apre)",
        );
        check_it(
            "fissa_fino_al: 02/12/2026 23:59\n",
            "errore: riga 1, colonna 1: `fissa_fino_al` dice fino a quando il post resta fissato, ma il post non è fissato (aggiungi `fissa: sì`, oppure togli la riga)",
        );
        check_it(
            "elimina: https://t.me/town_news/12\ndidascalia: x\n",
            "errore: riga 2, colonna 1: `didascalia` non c'entra in un file .yaml che dice `elimina` (a un file .yaml con `elimina` basta la riga `elimina:`; togli questa)",
        );
        check_it(
            "sostituisci: a.jpg\n",
            "errore: riga 1, colonna 1: `sostituisci` indica un file di un post da correggere, e manca `correggi` (aggiungi `correggi:` con il link del post, oppure togli la riga)",
        );
        check_it(
            "correggi: https://t.me/town_news\n",
            "errore: riga 1, colonna 11: `correggi` deve indicare un post: `https://t.me/town_news` è il link del canale, non di un suo post: apri il post in Telegram e usa \"Copia link\" (copia il link dalla ricevuta del post, oppure da Telegram (clic destro sul post, \"Copia link\"); oppure scrivi il nome del file com'è nell'archivio)",
        );
        check_it(
            "caption: x\n\tsilent: true\n",
            "errore: riga 2, colonna 1: per rientrare le righe non si può usare il tasto Tab: usa gli spazi",
        );
    }

    #[test]
    fn every_mistake_at_once() {
        // The issue's sidecar: both mistakes, in file order.
        check(
            "capton: \"Avviso\"\nsilent: forse\n",
            "error: line 1, column 1: unknown key `capton` (did you mean `caption`?)\n\
             error: line 2, column 9: `silent` must be true or false, not \"forse\" (write true or false)",
        );
        // Every wrong single value in a list or a group; a list or group in it with a mistake
        // (a button without `url`) is the last mistake of that key; then the keys after it.
        check(
            "channel: [news, newz, alertz]\nbuttons:\n  - {text: A}\n  - {text: B}\npin: 2\n",
            "error: line 1, column 17: unknown channel `newz`: the config has news, alerts, notizie (did you mean `news`?)\n\
             error: line 1, column 23: unknown channel `alertz`: the config has news, alerts, notizie (did you mean `alerts`?)\n\
             error: line 3, column 5: a button has no `url` (write `url: ` and the link it opens)\n\
             error: line 5, column 6: `pin` must be true or false, not 2 (write true or false)",
        );
        check(
            "buttons:\n  - {text: A, url: www.a.org}\n  - {txt: B, url: 'https://b.org'}\n  \
             - [{text: C, url: 'ftp://c'}, {text: '', url: 'https://d.org'}]\n  - {text: E}\n  - {text: F}\n\
             attachments: [a.pdf, ../b.pdf, a.pdf]\n",
            "error: line 2, column 20: `url` must be a link starting with https://, http:// or tg://, not \"www.a.org\" (write \"https://www.a.org\")\n\
             error: line 3, column 6: unknown key `txt` in a button (did you mean `text`?)\n\
             error: line 4, column 21: `url` must be a link starting with https://, http:// or tg://, not \"ftp://c\"\n\
             error: line 4, column 40: a button's `text` is empty\n\
             error: line 5, column 5: a button has no `url` (write `url: ` and the link it opens)\n\
             error: line 7, column 22: attachments must be file names in the same folder, not \"../b.pdf\" (put the file next to the sidecar and write only \"b.pdf\")\n\
             error: line 7, column 32: `a.pdf` is listed twice in `attachments` (keep only one)",
        );
        // A key that is a list, unknown keys, a key said twice.
        check(
            "[a]: x\ncolour: red\ncaption: a\ncaption: b\nformat: md\n",
            &format!(
                "error: line 1, column 1: a key must be a word, not a list (the keys are {KEY_LIST})\n\
                 error: line 2, column 1: unknown key `colour` (the keys are {KEY_LIST})\n\
                 error: line 4, column 1: `caption` is written twice, first on line 3 (keep only one)\n\
                 error: line 5, column 9: `format` must be markdown, html or plain, not \"md\" (did you mean `markdown`?)"
            ),
        );
        // The checks across keys add theirs, in file order; a key whose value is wrong is not
        // judged again.
        check(
            "delete: https://t.me/town_news/12\ncaption: x\nsilent: maybe\n",
            "error: line 2, column 1: `caption` has no place in a sidecar that says `delete` (a `delete` sidecar needs only the `delete:` line; remove this one)\n\
             error: line 3, column 1: `silent` has no place in a sidecar that says `delete` (a `delete` sidecar needs only the `delete:` line; remove this one)\n\
             error: line 3, column 9: `silent` must be true or false, not \"maybe\" (write true or false)",
        );
        check(
            "pin: yes\npin_until: 2026-12-02 23:59\n",
            r#"error: line 1, column 6: `pin` must be true or false, not "yes" (write true or false)"#,
        );
        check(
            "edit: https://t.me/town_news\nreplace: a.jpg\n",
            "error: line 1, column 7: `edit` must name a post: `https://t.me/town_news` is a link to \
             the channel, not to one of its posts: open the post in Telegram and use \"Copy link\" \
             (copy the link from the post's receipt, or from Telegram (right-click the post, \"Copy \
             link\"); or write the file's name as it is in the archive)",
        );
        // YAML that does not parse is one mistake: where the reading stopped.
        check(
            "capton: x\ncaption: \"Ciao\nsilent: true\n",
            "error: line 2, column 10: a quote opens here and is never closed",
        );
        // A hostile sidecar with a thousand wrong lists is answered quickly.
        let many = "? - a\n: x\n".repeat(1000);
        let start = Instant::now();
        let shown = outcome(many.as_bytes());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
        assert_eq!(shown.lines().count(), MAX_READINGS, "{shown}");
        let many = "colour: red\n".repeat(1000);
        assert_eq!(outcome(many.as_bytes()).lines().count(), 1000);
    }

    #[test]
    fn italian_keys_and_values() {
        check(
            "canale: [notizie, news]\ndidascalia: Avviso\nformato: semplice\nsilenzioso: sì\n\
             fissa: si\nproteggi: vero\nripubblica: Sì\nanteprima_link: no\ninvia_come: documento\n\
             allegati: [p2.jpg]\npubblica_il: 31/12/2026 10:00\nanteprima: pagina\n",
            r#"ok channels=["notizie", "news"] caption="Avviso" format=Plain silent pin protect repost link_preview=false send_as=Document attachments=["p2.jpg"] publish_at=Local("2026-12-31T10:00:00")"#,
        );
        check("testo: Ciao\nsilenzioso: falso\n", r#"ok caption="Ciao""#);
        check(
            "pulsanti:\n  - {testo: Dettagli, url: 'https://a.org'}\n",
            "ok buttons=[Dettagli https://a.org]",
        );
        check("invia_come: foto\n", "ok send_as=Photo");
        check(
            "fissa: sì\nfissa_fino_al: 2/1/2027 ore 9\n",
            r#"ok pin pin_until=Local("2027-01-02T09:00:00")"#,
        );
        check(
            "correggi: https://t.me/town_news/12\ndidascalia: Nuovo\nsostituisci: p2.jpg\n",
            r#"ok caption="Nuovo" edit=Public { username: "town_news", message_id: 12 } replace="p2.jpg""#,
        );
        check(
            "elimina: https://t.me/town_news/12\n",
            r#"ok delete=Public { username: "town_news", message_id: 12 }"#,
        );
        check(
            "sblocca: https://t.me/town_news/12\n",
            r#"ok unpin=Public { username: "town_news", message_id: 12 }"#,
        );
        for (value, preview) in [
            ("pagina", "Page"),
            ("miniatura", "Thumbnail"),
            ("nessuna", "None"),
            ("page", "Page"),
        ] {
            let sidecar = parse(
                format!("anteprima: {value}\n").as_bytes(),
                &Rules {
                    channel_aliases: &[],
                },
            )
            .unwrap();
            assert_eq!(format!("{:?}", sidecar.preview), format!("Some({preview})"));
        }
        // A key with its Italian twin is said twice.
        check(
            "channel: news\ncanale: alerts\n",
            "error: line 2, column 1: `canale` and `channel` mean the same thing, and `channel` is already there on line 1 (keep only one of them)",
        );
        check(
            "testo: a\ncaption: b\n",
            "error: line 2, column 1: `caption` and `testo` mean the same thing, and `testo` is already there on line 1 (keep only one of them)",
        );
        check(
            "silenzioso: sì\nsilent: true\n",
            "error: line 2, column 1: `silent` and `silenzioso` mean the same thing, and `silenzioso` is already there on line 1 (keep only one of them)",
        );
        check(
            "buttons:\n  - {text: A, testo: B, url: 'https://a.org'}\n",
            "error: line 2, column 15: a button has both `text` and `testo`, which mean the same thing (keep only one)",
        );
        check(
            "edit: https://t.me/town_news/12\ncorreggi: https://t.me/town_news/12\n",
            "error: line 2, column 1: `correggi` and `edit` mean the same thing, and `edit` is already there on line 1 (keep only one of them)",
        );
    }

    #[test]
    fn italian_dates() {
        for (written, local) in [
            ("31/12/2026 10:00", "2026-12-31T10:00:00"),
            ("31/12/2026 ore 10", "2026-12-31T10:00:00"),
            ("31/12/2026 ORE 10", "2026-12-31T10:00:00"),
            ("31/12/2026 10.30", "2026-12-31T10:30:00"),
            ("31/12/2026 ore 10.30", "2026-12-31T10:30:00"),
            ("31/12/2026 ore 10:30", "2026-12-31T10:30:00"),
            ("1/2/2027 8:05", "2027-02-01T08:05:00"),
            ("12/11/2026 08:00:30", "2026-11-12T08:00:30"),
            ("2026-11-12 08:00", "2026-11-12T08:00:00"),
        ] {
            check(
                &format!("pubblica_il: {written}\n"),
                &format!("ok publish_at=Local({local:?})"),
            );
        }
        check(
            "publish_at: '2026-11-28T08:00:00+01:00'\n",
            "ok publish_at=Exact(1795849200)",
        );
        check(
            "pubblica_il: 2026/12/11 10:00\n",
            "error: line 1, column 14: `pubblica_il`: a date with `/` is read as day/month/year, and \"2026/12/11\" begins with the year (write it day first, like 11/12/2026, or as 2026-12-11)",
        );
        check_it(
            "pubblica_il: 2026/12/11 10:00\n",
            "errore: riga 1, colonna 14: `pubblica_il`: una data con `/` si legge giorno/mese/anno, e \"2026/12/11\" comincia con l'anno (scrivila cominciando dal giorno, come 11/12/2026, oppure come 2026-12-11)",
        );
        check_it(
            "pubblica_il: 31/12/26 10:00\n",
            "errore: riga 1, colonna 14: in `pubblica_il` l'anno ha due cifre: \"31/12/26\" (scrivi l'anno per intero, come 31/12/2026)",
        );
        check_it(
            "pubblica_il: 31/02/2026 10:00\n",
            "errore: riga 1, colonna 14: `pubblica_il`: il giorno \"31/02/2026\" non esiste (giorno/mese/anno) (controlla il giorno e il mese)",
        );
        check_it(
            "pubblica_il: 31/12/2026\n",
            "errore: riga 1, colonna 14: `pubblica_il` ha bisogno anche dell'ora, non solo della data \"31/12/2026\" (per esempio 31/12/2026 08:00)",
        );
        check_it(
            "pubblica_il: 31/12/2026 10\n",
            "errore: riga 1, colonna 14: `pubblica_il`: \"10\" non è un'ora del giorno (scrivi ore e minuti, come 31/12/2026 08:00 oppure 31/12/2026 ore 8)",
        );
        check_it(
            "pubblica_il: 31/12/2026 ore 24\n",
            "errore: riga 1, colonna 14: `pubblica_il`: \"24\" non è un'ora del giorno (scrivi ore e minuti, come 31/12/2026 08:00 oppure 31/12/2026 ore 8)",
        );
        check_it(
            "pubblica_il: domani\n",
            r#"errore: riga 1, colonna 14: `pubblica_il` deve essere una data e un'ora come 28/11/2026 08:00, non "domani" (scrivi la data come giorno/mese/anno e l'ora come ore:minuti, per esempio 28/11/2026 08:00)"#,
        );
    }
}
