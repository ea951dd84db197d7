//! The sentences of error reports in `failed/`, receipts in `archive/` and `dropcast check`, in
//! English and Italian. A sidecar's mistakes are worded next to the parser that finds them
//! (sidecar.rs), a caption's markup mistakes next to the renderer (render.rs); every sentence of
//! all of them is in one document for review, `docs/SENTENCES.md`, which a test here keeps
//! equal to what the code says.

use crate::config::Language;

/// Why a bundle was refused or could not be posted. Each variant knows what happened, why, and
/// what the clerk can do about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Problem {
    /// The sidecar could not be read as dropcast's YAML: every mistake, where and what, in
    /// both languages. `detail` is what a dropcast before issue 15 stored instead (English
    /// text); a journal row of then still reads.
    BadSidecar {
        file: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        errors: Vec<crate::sidecar::SidecarError>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
    },
    /// A media file waited for its sidecar for too long.
    SidecarMissing { file: String, waited: String },
    /// The file's content does not match its extension.
    WrongContent { file: String, expected: String },
    /// The file is empty.
    EmptyFile { file: String },
    /// The file is larger than Telegram accepts.
    TooLarge {
        file: String,
        size_mb: u64,
        limit_mb: u64,
    },
    /// A sidecar with nothing to post: no caption and no media file.
    NothingToPost { file: String },
    /// The caption does not fit in Telegram's limits even when split.
    CaptionProblem {
        file: String,
        detail: String,
        /// The detail in Italian (absent in problems journaled before it was written).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail_it: Option<Box<str>>,
    },
    /// The same files were already posted to that channel recently.
    Duplicate { channel: String, link: String },
    /// Telegram refused the post for good.
    Refused {
        channel: String,
        description: String,
    },
    /// A request was in flight when dropcast stopped, and `uncertain: fail` is set.
    Uncertain { channel: String },
    /// A file named in `attachments:` is not in the folder.
    AttachmentMissing { file: String, attachment: String },
    /// A file named in `attachments:` is not a PDF, an image or an accepted type.
    AttachmentNotMedia { file: String, attachment: String },
    /// Telegram stopped in the middle of an album: some items may be in the channel already.
    AlbumInterrupted { channel: String },
    /// The clerk removed a scheduled bundle's file from `scheduled/`.
    Cancelled { file: String, removed: String },
    /// The media file is a link, a FIFO or a device, not a regular file.
    NotRegular { file: String },
    /// The file name is not valid text (not UTF-8: an old encoding).
    BadName { file: String },
    /// The file could not be read, or vanished, before it was posted.
    Unreadable {
        file: String,
        detail: String,
        /// The detail in Italian (absent in problems journaled before it was written: the
        /// Italian report then says only that the file could not be read).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail_it: Option<Box<str>>,
    },
    /// A correction (`edit:`, `delete:`, `unpin:`) of the post `post` cannot be made.
    CannotChange {
        post: String,
        kind: crate::post::ChangeKind,
        why: Box<crate::change::CannotChange>,
    },
}

/// The report of a correction that cannot be made: what, why, and how to fix it.
fn change_report(
    it: bool,
    post: &str,
    kind: crate::post::ChangeKind,
    why: &crate::change::CannotChange,
) -> (String, String, String) {
    use crate::change::CannotChange as C;
    use crate::post::ChangeKind as K;
    let what = match (kind, it) {
        (K::Edit, false) => format!("The post {post} was not corrected."),
        (K::Edit, true) => format!("Il post {post} non è stato corretto."),
        (K::Delete, false) => format!("The post {post} was not deleted."),
        (K::Delete, true) => format!("Il post {post} non è stato eliminato."),
        (K::Unpin, false) => format!("The post {post} was not unpinned."),
        (K::Unpin, true) => format!("Il post {post} non è stato sbloccato."),
    };
    let link_hint_en = "Copy the post's link from its receipt in the archive (the line `link:`), or in Telegram (right-click the post, \"Copy link\"), put it in the .yaml file and drop it into the inbox again.";
    let link_hint_it = "Copia il link del post dalla sua ricevuta nell'archivio (la riga `link:`), oppure in Telegram (clic destro sul post, \"Copia link\"), mettilo nel file .yaml e rimettilo nella cartella inbox.";
    let list = |names: &[String]| names.join(", ");
    let (why, fix) = match (why, it) {
        (C::NotOurs, false) => (
            "dropcast can change only the posts it made itself, and it has no post with this link or name. The link may point to a message posted by hand, or to another channel.".to_string(),
            link_hint_en.to_string(),
        ),
        (C::NotOurs, true) => (
            "dropcast può modificare solo i post che ha pubblicato lui, e non ne ha nessuno con questo link o nome. Il link potrebbe indicare un messaggio pubblicato a mano, o un altro canale.".to_string(),
            link_hint_it.to_string(),
        ),
        (C::Ambiguous { receipts }, false) => (
            format!("Several posts in the archive have this file name: {}.", list(receipts)),
            format!("Name the post by its link instead. {link_hint_en}"),
        ),
        (C::Ambiguous { receipts }, true) => (
            format!("Nell'archivio ci sono più post con questo nome di file: {}.", list(receipts)),
            format!("Indica il post con il suo link. {link_hint_it}"),
        ),
        (C::Scheduled { .. }, false) => (
            "The post has not gone out yet: it waits in the scheduled folder.".to_string(),
            "Delete its file from the scheduled folder (that cancels it), then drop the corrected post into the inbox as a new post.".to_string(),
        ),
        (C::Scheduled { .. }, true) => (
            "Il post non è ancora uscito: è in attesa nella cartella scheduled.".to_string(),
            "Elimina il suo file dalla cartella scheduled (così viene annullato), poi metti nella cartella inbox il post corretto come post nuovo.".to_string(),
        ),
        (C::NotOut, false) => (
            "The post is still being posted, or did not go out whole.".to_string(),
            "Wait until its receipt is in the archive, then drop the .yaml file into the inbox again.".to_string(),
        ),
        (C::NotOut, true) => (
            "Il post è ancora in pubblicazione, oppure non è uscito per intero.".to_string(),
            "Aspetta che la sua ricevuta sia nell'archivio, poi rimetti il file .yaml nella cartella inbox.".to_string(),
        ),
        (C::Deleted, false) => (
            "The post was deleted from the channel already.".to_string(),
            "Nothing to do. To publish it again, drop it into the inbox as a new post.".to_string(),
        ),
        (C::Deleted, true) => (
            "Il post è già stato eliminato dal canale.".to_string(),
            "Non serve fare nulla. Per pubblicarlo di nuovo, mettilo nella cartella inbox come post nuovo.".to_string(),
        ),
        (C::TooOldToDelete { .. }, false) => (
            "Telegram lets a bot delete a post in a channel only within 48 hours after it went out, and this one is older.".to_string(),
            "Correct it instead: a .yaml file with `edit:` and the post's link, and a caption such as \"CANCELLED: …\" (`caption: \"CANCELLED: the meeting of 3 December will not take place\"`). An administrator can still delete it by hand in the Telegram app.".to_string(),
        ),
        (C::TooOldToDelete { .. }, true) => (
            "Telegram permette a un bot di eliminare un post di un canale solo entro 48 ore dalla pubblicazione, e questo è più vecchio.".to_string(),
            "Correggilo invece: un file .yaml con `correggi:` e il link del post, e una didascalia come \"ANNULLATO: …\" (`didascalia: \"ANNULLATO: la riunione del 3 dicembre non si terrà\"`). Un amministratore può ancora eliminarlo a mano nell'app di Telegram.".to_string(),
        ),
        (C::CaptionTooLong { len, limit }, false) => (
            format!("The new caption is {len} characters long after formatting; under a file Telegram shows at most {limit}. A new post would be split, a correction cannot be."),
            format!("Shorten the caption to {limit} characters at most, and drop the .yaml file into the inbox again."),
        ),
        (C::CaptionTooLong { len, limit }, true) => (
            format!("Il nuovo testo è lungo {len} caratteri dopo la formattazione; sotto un file Telegram ne mostra al massimo {limit}. Un post nuovo verrebbe diviso, una correzione no."),
            format!("Accorcia il testo a {limit} caratteri al massimo, e rimetti il file .yaml nella cartella inbox."),
        ),
        (C::TextParts { had, needs }, false) => (
            format!("The post's text went out as {had} message(s), and the new text needs {needs}. A correction can change messages, not add or remove them."),
            "Write a text of about the same length, or delete the post and publish it again.".to_string(),
        ),
        (C::TextParts { had, needs }, true) => (
            format!("Il testo del post è uscito in {had} messaggi, e il nuovo testo ne richiede {needs}. Una correzione può cambiare i messaggi, non aggiungerne o toglierne."),
            "Scrivi un testo di lunghezza simile, oppure elimina il post e pubblicalo di nuovo.".to_string(),
        ),
        (C::EmptyText, false) => (
            "The new text is empty, and a text post cannot be left without text.".to_string(),
            "To remove the post, use `delete:` with its link instead of `edit:`.".to_string(),
        ),
        (C::EmptyText, true) => (
            "Il nuovo testo è vuoto, e un post di solo testo non può restare senza testo.".to_string(),
            "Per togliere il post usa `elimina:` con il suo link al posto di `correggi:`.".to_string(),
        ),
        (C::NoFileToReplace, false) => (
            "The post is only text: Telegram cannot add a file to a text message.".to_string(),
            "Drop only the .yaml file to correct the text, or delete the post and publish it again with the file.".to_string(),
        ),
        (C::NoFileToReplace, true) => (
            "Il post è solo testo: Telegram non permette di aggiungere un file a un messaggio di testo.".to_string(),
            "Metti solo il file .yaml per correggere il testo, oppure elimina il post e pubblicalo di nuovo con il file.".to_string(),
        ),
        (C::WhichFile { names }, false) => (
            format!("The post has several files ({}), and the .yaml file does not say which one the new file replaces.", list(names)),
            "Add a line `replace: NAME` with the name of the file to replace, and drop both files into the inbox again.".to_string(),
        ),
        (C::WhichFile { names }, true) => (
            format!("Il post ha più file ({}), e il file .yaml non dice quale va sostituito dal nuovo.", list(names)),
            "Aggiungi una riga `replace: NOME` con il nome del file da sostituire, e rimetti entrambi i file nella cartella inbox.".to_string(),
        ),
        (C::NoSuchFile { name, names }, false) => (
            format!("The post has no file named {name}; its files are {}.", list(names)),
            "Write one of those names after `replace:`, and drop both files into the inbox again.".to_string(),
        ),
        (C::NoSuchFile { name, names }, true) => (
            format!("Il post non ha un file di nome {name}; i suoi file sono {}.", list(names)),
            "Scrivi uno di questi nomi dopo `sostituisci:`, e rimetti entrambi i file nella cartella inbox.".to_string(),
        ),
        (C::WrongKind { was, file }, false) => (
            format!("The file to replace is shown as a {was}, and {file} cannot be one: Telegram keeps the kind of a post's file (a photo stays a photo)."),
            "Use an image of the same kind (JPEG or PNG for a photo, GIF for an animation), or delete the post and publish it again.".to_string(),
        ),
        (C::WrongKind { was, file }, true) => (
            format!("Il file da sostituire è mostrato come {}, e {file} non può esserlo: Telegram mantiene il tipo del file di un post (una foto resta una foto).", match was.as_str() { "photo" => "foto", "animation" => "animazione", _ => "documento" }),
            "Usa un'immagine dello stesso tipo (JPEG o PNG per una foto, GIF per un'animazione), oppure elimina il post e pubblicalo di nuovo.".to_string(),
        ),
        (C::ButtonsUnderAlbum, false) => (
            "The post is an album, and Telegram shows no buttons under an album.".to_string(),
            "Remove `buttons:` from the .yaml file, or put the links in the caption.".to_string(),
        ),
        (C::ButtonsUnderAlbum, true) => (
            "Il post è un album, e Telegram non mostra pulsanti sotto un album.".to_string(),
            "Togli `buttons:` dal file .yaml, oppure metti i link nel testo.".to_string(),
        ),
        (C::NothingToChange, false) => (
            "The .yaml file says `edit:` but nothing to change.".to_string(),
            "Add the new `caption:`, new `buttons:`, or a file with the same name that replaces the post's file, and drop it into the inbox again.".to_string(),
        ),
        (C::NothingToChange, true) => (
            "Il file .yaml dice `correggi:` ma nulla da cambiare.".to_string(),
            "Aggiungi la nuova `didascalia:`, i nuovi `pulsanti:`, oppure un file con lo stesso nome che sostituisca quello del post, e rimettilo nella cartella inbox.".to_string(),
        ),
        (C::FileWithoutEdit { file }, false) => (
            format!("{file} came with a .yaml file that does not correct the post, so it has nowhere to go."),
            "To replace the post's file use `edit:`; to delete or unpin, drop only the .yaml file.".to_string(),
        ),
        (C::FileWithoutEdit { file }, true) => (
            format!("{file} è arrivato con un file .yaml che non corregge il post, quindi non ha dove andare."),
            "Per sostituire il file del post usa `correggi:`; per eliminare o sbloccare, metti solo il file .yaml.".to_string(),
        ),
    };
    (what, why, fix)
}

/// A report names at most this many mistakes of one sidecar; the clerk sees the others once
/// these are corrected.
const MAX_SIDECAR_MISTAKES: usize = 10;

/// Several mistakes of one sidecar, one per line, in the order they are in the file; the text
/// starts with a line break, so that the list begins on a line of its own.
fn sidecar_mistakes(lang: Language, errors: &[crate::sidecar::SidecarError]) -> String {
    let mut out = String::new();
    for e in errors.iter().take(MAX_SIDECAR_MISTAKES) {
        out.push_str("\n  - ");
        out.push_str(&e.render(lang));
    }
    let more = errors.len().saturating_sub(MAX_SIDECAR_MISTAKES);
    if more > 0 {
        out.push_str(&match lang {
            Language::En => format!("\n  - and {more} more (correct these first)"),
            Language::It => format!("\n  - e altri {more} (correggi prima questi)"),
        });
    }
    out
}

/// A report for a clerk: what happened, why, and how to fix it.
pub struct Report {
    pub what: String,
    pub why: String,
    pub fix: String,
}

impl Problem {
    /// The problem as the journal stores it: JSON, so that a report written after a restart is
    /// still in the configured language.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| self.summary())
    }

    /// Reads a problem written by [`Problem::to_json`]; older or foreign text becomes an
    /// "unreadable" problem.
    pub fn from_json(s: &str) -> Problem {
        serde_json::from_str(s).unwrap_or_else(|_| Problem::Unreadable {
            file: String::new(),
            detail: s.to_string(),
            detail_it: None,
        })
    }

    /// `file` could not be read or moved, `en` and `it` saying why.
    pub fn unreadable(
        file: impl Into<String>,
        en: impl Into<String>,
        it: impl Into<String>,
    ) -> Self {
        Problem::Unreadable {
            file: file.into(),
            detail: en.into(),
            detail_it: Some(it.into().into_boxed_str()),
        }
    }

    /// `file` could not be read or moved because of `error` (`detail` as logged, in English).
    pub fn unreadable_io(
        file: impl Into<String>,
        detail: String,
        error: std::io::ErrorKind,
    ) -> Self {
        use std::io::ErrorKind as K;
        let it = match error {
            K::NotFound => "il file non c'è più: è stato tolto o spostato",
            K::PermissionDenied => "dropcast non ha il permesso di leggerlo",
            K::StorageFull => "il disco è pieno",
            K::InvalidData | K::InvalidInput => "il contenuto non si può leggere",
            K::TimedOut => "la cartella condivisa non ha risposto in tempo",
            _ => "il sistema non è riuscito a leggerlo",
        };
        Problem::Unreadable {
            file: file.into(),
            detail,
            detail_it: Some(it.into()),
        }
    }

    /// One line for logs and summaries (always English: logs are for the IT person).
    pub fn summary(&self) -> String {
        let r = self.report(Language::En);
        // A list of mistakes becomes one line.
        let why: Vec<&str> = r
            .why
            .lines()
            .map(|l| l.trim().trim_start_matches("- "))
            .filter(|l| !l.is_empty())
            .collect();
        format!("{}: {}", r.what.trim_end_matches('.'), why.join("; "))
    }

    pub fn report(&self, lang: Language) -> Report {
        let it = lang == Language::It;
        let (what, why, fix) = match self {
            Problem::CannotChange { post, kind, why } => change_report(it, post, *kind, why),
            Problem::BadSidecar {
                file,
                errors,
                detail,
            } => {
                let many = errors.len() > 1;
                (
                    match (it, many) {
                        (true, false) => format!("Il file di istruzioni {file} contiene un errore."),
                        (false, false) => format!("The instructions file {file} has a mistake."),
                        (true, true) => format!(
                            "Il file di istruzioni {file} contiene {} errori.",
                            errors.len()
                        ),
                        (false, true) => {
                            format!("The instructions file {file} has {} mistakes.", errors.len())
                        }
                    },
                    match errors.as_slice() {
                        [] => detail.clone(),
                        [one] => one.render(lang),
                        many => sidecar_mistakes(lang, many),
                    },
                    match (it, many) {
                        (true, false) => "Correggi il punto indicato (le righe contano da 1), poi rimetti nella cartella inbox sia il file da pubblicare sia il file .yaml.".to_string(),
                        (false, false) => "Correct the place named above (lines count from 1), then drop both the file to post and the .yaml file into the inbox again.".to_string(),
                        (true, true) => "Correggi ogni punto indicato (le righe contano da 1), poi rimetti nella cartella inbox sia il file da pubblicare sia il file .yaml.".to_string(),
                        (false, true) => "Correct each place named above (lines count from 1), then drop both the file to post and the .yaml file into the inbox again.".to_string(),
                    },
                )
            }
            Problem::SidecarMissing { file, waited } => (
                if it {
                    format!("{file} non è stato pubblicato: manca il suo file di istruzioni.")
                } else {
                    format!("{file} was not posted: its instructions file never arrived.")
                },
                if it {
                    format!(
                        "In questa cartella ogni file da pubblicare ha bisogno di un file .yaml con lo stesso nome. Ho atteso {waited}."
                    )
                } else {
                    format!(
                        "In this folder every file to post needs a .yaml file with the same name. dropcast waited {waited}."
                    )
                },
                if it {
                    let stem = crate::bundle::stem(file);
                    format!(
                        "Crea {stem}.yaml (per esempio con la riga: didascalia: \"Il testo del post\") e rimetti nella cartella inbox entrambi i file."
                    )
                } else {
                    let stem = crate::bundle::stem(file);
                    format!(
                        "Write {stem}.yaml (for example with the line: caption: \"The text of the post\") and drop both files into the inbox again."
                    )
                },
            ),
            Problem::WrongContent { file, expected } => (
                if it {
                    format!("{file} non è un vero {expected}.")
                } else {
                    format!("{file} is not really a {expected}.")
                },
                if it {
                    format!(
                        "Il nome finisce come un {expected}, ma il contenuto del file è diverso: forse è danneggiato o è stato rinominato."
                    )
                } else {
                    format!(
                        "Its name says {expected}, but its content is something else: it may be damaged or renamed."
                    )
                },
                if it {
                    format!(
                        "Esporta o salva di nuovo il documento come {expected} e rimettilo nella cartella inbox."
                    )
                } else {
                    format!(
                        "Export or save the document again as a {expected} and drop it into the inbox again."
                    )
                },
            ),
            Problem::EmptyFile { file } => (
                if it {
                    format!("{file} è vuoto.")
                } else {
                    format!("{file} is empty.")
                },
                if it {
                    "Il file non contiene nulla (0 byte): forse la copia non è riuscita."
                        .to_string()
                } else {
                    "The file contains nothing (0 bytes): the copy may have failed.".to_string()
                },
                if it {
                    "Copia di nuovo il file originale nella cartella inbox.".to_string()
                } else {
                    "Copy the original file into the inbox again.".to_string()
                },
            ),
            Problem::TooLarge {
                file,
                size_mb,
                limit_mb,
            } => (
                if it {
                    format!("{file} è troppo grande per Telegram.")
                } else {
                    format!("{file} is too large for Telegram.")
                },
                if it {
                    format!("Il file pesa {size_mb} MB; Telegram accetta al massimo {limit_mb} MB.")
                } else {
                    format!("The file is {size_mb} MB; Telegram accepts at most {limit_mb} MB.")
                },
                if it {
                    "Riduci il file (per esempio esportando il PDF a qualità più bassa) o dividilo, poi rimettilo nella cartella inbox.".to_string()
                } else {
                    "Make the file smaller (for example export the PDF at a lower quality) or split it, then drop it into the inbox again.".to_string()
                },
            ),
            Problem::NothingToPost { file } => (
                if it {
                    format!("{file} non dice cosa pubblicare.")
                } else {
                    format!("{file} does not say what to post.")
                },
                if it {
                    "Non c'è un file da pubblicare con lo stesso nome e il file di istruzioni non ha un testo (didascalia).".to_string()
                } else {
                    "There is no file to post with the same name, and the instructions have no text (caption).".to_string()
                },
                if it {
                    "Aggiungi una riga didascalia: \"…\" per un post di solo testo, oppure metti nella cartella inbox anche il PDF o l'immagine con lo stesso nome.".to_string()
                } else {
                    "Add a line caption: \"…\" for a text-only post, or drop the PDF or image with the same name together with it.".to_string()
                },
            ),
            Problem::CaptionProblem {
                file,
                detail,
                detail_it,
            } => (
                if it {
                    format!("Il testo di {file} non può essere pubblicato così.")
                } else {
                    format!("The text in {file} cannot be posted as it is.")
                },
                match detail_it {
                    Some(d) if it => d.to_string(),
                    _ => detail.clone(),
                },
                if it {
                    "Correggi il testo e rimetti i file nella cartella inbox.".to_string()
                } else {
                    "Correct the text and drop the files into the inbox again.".to_string()
                },
            ),
            Problem::Duplicate { channel, link } => (
                if it {
                    format!("Gli stessi file sono già stati pubblicati su {channel}.")
                } else {
                    format!("The same files were already posted to {channel}.")
                },
                if it {
                    format!("Il post precedente è qui: {link}")
                } else {
                    format!("The earlier post is here: {link}")
                },
                if it {
                    "Se vuoi davvero pubblicarli di nuovo, aggiungi la riga ripubblica: sì al file .yaml e rimetti i file nella cartella inbox.".to_string()
                } else {
                    "If you really want to post them again, add the line repost: true to the .yaml file and drop the files into the inbox again.".to_string()
                },
            ),
            Problem::Refused {
                channel,
                description,
            } => (
                if it {
                    format!("Telegram ha rifiutato il post per {channel}.")
                } else {
                    format!("Telegram refused the post for {channel}.")
                },
                telegram_in_words(description, it),
                if it {
                    "Se il problema riguarda il canale o il bot, avvisa il referente informatico; poi rimetti i file nella cartella inbox.".to_string()
                } else {
                    "If the problem is with the channel or the bot, tell your IT contact; then drop the files into the inbox again.".to_string()
                },
            ),
            Problem::Uncertain { channel } => (
                if it {
                    format!("Non è certo che il post sia arrivato su {channel}.")
                } else {
                    format!("It is not certain that the post reached {channel}.")
                },
                if it {
                    "dropcast si è fermato (o la rete si è interrotta) mentre inviava il post, e la configurazione chiede di non reinviare nel dubbio.".to_string()
                } else {
                    "dropcast stopped (or the network failed) while it was sending the post, and the configuration says not to send again when in doubt.".to_string()
                },
                if it {
                    "Guarda il canale: se il post non c'è, rimetti i file nella cartella inbox."
                        .to_string()
                } else {
                    "Look at the channel: if the post is not there, drop the files into the inbox again.".to_string()
                },
            ),
            Problem::AttachmentMissing { file, attachment } => (
                if it {
                    format!("{file} chiede di allegare {attachment}, che non è nella cartella.")
                } else {
                    format!("{file} asks to attach {attachment}, which is not in the folder.")
                },
                if it {
                    "Gli allegati devono essere nella stessa cartella del file .yaml, con il nome scritto esattamente uguale (maiuscole comprese).".to_string()
                } else {
                    "Attachments must be in the same folder as the .yaml file, with the name written exactly the same (capital letters too).".to_string()
                },
                if it {
                    "Correggi il nome in attachments: oppure aggiungi il file, poi rimetti tutti i file nella cartella inbox.".to_string()
                } else {
                    "Correct the name under attachments: or add the file, then drop all the files into the inbox again.".to_string()
                },
            ),
            Problem::AttachmentNotMedia { file, attachment } => (
                if it {
                    format!("{file} chiede di allegare {attachment}, che non si può pubblicare.")
                } else {
                    format!("{file} asks to attach {attachment}, which cannot be posted.")
                },
                if it {
                    "Si possono allegare PDF e immagini (jpg, png, webp, gif) e i tipi elencati in accept: nella configurazione.".to_string()
                } else {
                    "PDFs and images (jpg, png, webp, gif) can be attached, and the types listed under accept: in the configuration.".to_string()
                },
                if it {
                    "Converti il file in PDF o toglilo da attachments:, poi rimetti i file nella cartella inbox.".to_string()
                } else {
                    "Convert the file to PDF or remove it from attachments:, then drop the files into the inbox again.".to_string()
                },
            ),
            Problem::AlbumInterrupted { channel } => (
                if it {
                    format!("Telegram ha interrotto l'album a metà su {channel}.")
                } else {
                    format!("Telegram stopped in the middle of the album on {channel}.")
                },
                if it {
                    "Telegram ha chiesto di rallentare mentre pubblicava l'album, e alcune immagini potrebbero essere già nel canale. Per non pubblicarle due volte, dropcast non ha ripetuto l'album.".to_string()
                } else {
                    "Telegram asked to slow down while posting the album, and some of its items may already be in the channel. So as not to post them twice, dropcast did not send the album again.".to_string()
                },
                if it {
                    "Guarda il canale: rimetti nella cartella inbox solo i file che mancano, con il loro file .yaml.".to_string()
                } else {
                    "Look at the channel: drop into the inbox only the files that are missing, with their .yaml file.".to_string()
                },
            ),
            Problem::Cancelled { file, removed } => (
                if it {
                    format!("La pubblicazione programmata di {file} è stata annullata.")
                } else {
                    format!("The scheduled post of {file} was cancelled.")
                },
                if it {
                    format!("{removed} è stato tolto dalla cartella scheduled.")
                } else {
                    format!("{removed} was removed from the scheduled folder.")
                },
                if it {
                    "Per pubblicarlo comunque, rimetti tutti i file nella cartella inbox."
                        .to_string()
                } else {
                    "To post it after all, drop all its files into the inbox again.".to_string()
                },
            ),
            Problem::NotRegular { file } => (
                if it {
                    format!("{file} non è un file normale.")
                } else {
                    format!("{file} is not an ordinary file.")
                },
                if it {
                    "È un collegamento (link), una coda o un dispositivo: per sicurezza dropcast pubblica solo file veri che si trovano nella cartella.".to_string()
                } else {
                    "It is a shortcut (link), a pipe or a device: for safety dropcast posts only real files that are in the folder itself.".to_string()
                },
                if it {
                    "Copia nella cartella inbox il file vero al posto del collegamento, insieme al suo .yaml.".to_string()
                } else {
                    "Copy the real file into the inbox instead of the shortcut, together with its .yaml.".to_string()
                },
            ),
            Problem::BadName { file } => (
                if it {
                    format!("Il nome del file {file} non si può leggere.")
                } else {
                    format!("The name of the file {file} cannot be read.")
                },
                if it {
                    "Il nome contiene caratteri scritti con una vecchia codifica (non UTF-8), che Telegram e dropcast non possono mostrare.".to_string()
                } else {
                    "The name contains characters written in an old encoding (not UTF-8), which Telegram and dropcast cannot show.".to_string()
                },
                if it {
                    "Rinomina il file (e il suo .yaml) usando lettere semplici, poi rimettili nella cartella inbox.".to_string()
                } else {
                    "Rename the file (and its .yaml) with plain letters, then drop them into the inbox again.".to_string()
                },
            ),
            Problem::Unreadable {
                file,
                detail,
                detail_it,
            } => (
                if it {
                    format!("{file} non si può leggere.")
                } else {
                    format!("{file} could not be read.")
                },
                match (it, detail_it) {
                    (true, Some(d)) => d.to_string(),
                    (true, None) => "Il file non si è potuto leggere.".to_string(),
                    (false, _) => detail.clone(),
                },
                if it {
                    "Copia di nuovo il file nella cartella inbox; se succede ancora, avvisa il referente informatico.".to_string()
                } else {
                    "Copy the file into the inbox again; if it happens again, tell your IT contact."
                        .to_string()
                },
            ),
        };
        Report { what, why, fix }
    }
}

/// Telegram's terse descriptions, in words a clerk understands.
fn telegram_in_words(description: &str, it: bool) -> String {
    let d = description.to_ascii_lowercase();
    let plain = if d.contains("chat not found") {
        Some(if it {
            "Il canale non esiste o il bot non ne fa parte."
        } else {
            "The channel does not exist, or the bot is not in it."
        })
    } else if d.contains("not enough rights")
        || d.contains("not an administrator")
        || d.contains("forbidden")
    {
        Some(if it {
            "Il bot non ha il permesso di pubblicare in questo canale (deve essere amministratore con il diritto di pubblicare)."
        } else {
            "The bot is not allowed to post in this channel (it must be an administrator with the right to post)."
        })
    } else if d.contains("too long") {
        Some(if it {
            "Il testo è troppo lungo per Telegram."
        } else {
            "The text is too long for Telegram."
        })
    } else if d.contains("unauthorized") {
        Some(if it {
            "Telegram non riconosce il bot: il token configurato non è valido."
        } else {
            "Telegram does not recognise the bot: the configured token is not valid."
        })
    } else {
        None
    };
    // Telegram's own words are English in every language: quoted, as said.
    match plain {
        Some(p) if it => format!("{p} (Telegram: \"{description}\")"),
        Some(p) => format!("{p} (Telegram: {description})"),
        None if it => format!("Risposta di Telegram: \"{description}\""),
        None => format!("Telegram answered: {description}"),
    }
}

/// The full text of `NAME.error.txt`.
pub fn error_report(
    lang: Language,
    bundle: &str,
    problems: &[Problem],
    delivered: &[(String, String)],
    files: &[String],
    when: &str,
) -> String {
    let it = lang == Language::It;
    let mut out = String::new();
    out.push_str(&if it {
        format!("dropcast non ha potuto pubblicare \"{bundle}\".\n\n")
    } else {
        format!("dropcast could not post \"{bundle}\".\n\n")
    });
    for p in problems {
        let r = p.report(lang);
        let (w, y, f) = if it {
            ("Cosa è successo", "Perché", "Come rimediare")
        } else {
            ("What happened", "Why", "How to fix it")
        };
        // A list of mistakes begins on the line after its label.
        let gap = if r.why.starts_with('\n') { "" } else { " " };
        out.push_str(&format!(
            "{w}: {}\n{y}:{gap}{}\n{f}: {}\n\n",
            r.what, r.why, r.fix
        ));
    }
    if !delivered.is_empty() {
        out.push_str(if it {
            "Questi canali hanno già ricevuto il post (non rimetterlo per loro):\n"
        } else {
            "These channels did get the post (do not post it to them again):\n"
        });
        for (channel, link) in delivered {
            out.push_str(&format!("  {channel}: {link}\n"));
        }
        out.push('\n');
    }
    out.push_str(if it { "File: " } else { "Files: " });
    out.push_str(&files.join(", "));
    out.push('\n');
    out.push_str(if it { "Data: " } else { "Time: " });
    out.push_str(when);
    out.push('\n');
    out
}

/// The report of a bundle refused or failed now: its files by their names in `failed/`, the time
/// in the config's timezone and language. The one place where a report is put together.
pub fn report_now(
    config: &crate::config::Config,
    bundle: &str,
    problems: &[Problem],
    delivered: &[(String, String)],
    files: &[(std::path::PathBuf, std::ffi::OsString)],
) -> String {
    let names: Vec<String> = files
        .iter()
        .map(|(_, n)| n.to_string_lossy().into_owned())
        .collect();
    let when = jiff::Timestamp::now()
        .to_zoned_datetime(config.timezone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string();
    error_report(config.language, bundle, problems, delivered, &names, &when)
}

/// The comment that opens a receipt.
/// Why a file went without a preview, for its receipt, in the clerk's language: the renderer
/// says it in English (`preview::NoPreview`); Italian gets the sense of it, without technical
/// detail.
pub fn no_preview(lang: Language, why: &str) -> String {
    if lang == Language::En {
        return why.to_string();
    }
    const IT: &[(&str, &str)] = &[
        ("the pdf is encrypted", "il PDF è protetto da password"),
        ("the file is damaged", "il file è danneggiato"),
        (
            "the file is not supported",
            "il tipo di file non è supportato",
        ),
        (
            "the image's format is not supported",
            "il tipo di immagine non è supportato",
        ),
        ("the first page is blank", "la prima pagina è bianca"),
        ("the file is empty", "il file è vuoto"),
        ("the file is too large", "il file è troppo grande"),
        (
            "rendering took longer",
            "la prima pagina richiedeva troppo tempo",
        ),
        (
            "rendering needed more",
            "la prima pagina richiedeva troppa memoria",
        ),
        (
            "the bundle's previews took too long",
            "le anteprime del post richiedevano troppo tempo",
        ),
        (
            "the file could not be read",
            "il file non si è potuto leggere",
        ),
        ("the file cannot be read", "il file non si è potuto leggere"),
    ];
    let lower = why.to_ascii_lowercase();
    IT.iter()
        .find(|(en, _)| lower.starts_with(en))
        .map_or("l'anteprima non si è potuta disegnare", |(_, it)| *it)
        .to_string()
}

/// The words `check` (and `--dry-run`) use to say what a sidecar would do. English keeps the
/// Bot API's method names, which the IT person looks for; Italian says it in the office's words.
pub mod check {
    use crate::config::Language;
    use crate::post::{ChangeKind, MediaKind};

    /// `ok FILE: would post …` / `ok FILE: verrebbe pubblicato …`, or `… change …`.
    pub fn would(lang: Language, change: bool) -> &'static str {
        match (lang, change) {
            (Language::En, false) => "would post",
            (Language::En, true) => "would change",
            (Language::It, false) => "verrebbe pubblicato",
            (Language::It, true) => "cambierebbe",
        }
    }

    /// The config itself was read: `ok dropcast.yaml (config)`.
    pub fn config(lang: Language) -> &'static str {
        match lang {
            Language::En => "config",
            Language::It => "configurazione",
        }
    }

    /// When a scheduled post goes out, `when` in the office's time.
    pub fn scheduled(lang: Language, when: &jiff::ZonedDateTime) -> String {
        match lang {
            Language::En => format!(
                "scheduled for {} (waits in scheduled/ until then)",
                when.strftime("%Y-%m-%d %H:%M %Z")
            ),
            Language::It => format!(
                "programmato per il {} (aspetta in scheduled/ fino ad allora)",
                when.strftime("%d/%m/%Y alle %H:%M")
            ),
        }
    }

    /// What one message is: a text, a file of a kind, an album.
    pub fn message(lang: Language, kind: Option<MediaKind>) -> &'static str {
        match (lang, kind) {
            (Language::En, None) => "sendMessage",
            (Language::En, Some(MediaKind::Document)) => "sendDocument",
            (Language::En, Some(MediaKind::Photo)) => "sendPhoto",
            (Language::En, Some(MediaKind::Animation)) => "sendAnimation",
            (Language::It, None) => "testo",
            (Language::It, Some(MediaKind::Document)) => "documento",
            (Language::It, Some(MediaKind::Photo)) => "foto",
            (Language::It, Some(MediaKind::Animation)) => "animazione",
        }
    }

    pub fn album(lang: Language) -> &'static str {
        match lang {
            Language::En => "sendMediaGroup",
            Language::It => "album",
        }
    }

    pub fn with_caption(lang: Language) -> &'static str {
        match lang {
            Language::En => "with caption",
            Language::It => "con didascalia",
        }
    }

    /// `silent: true, protect: false, pin: true`, in the sidecar's own words.
    pub fn options(lang: Language, silent: bool, protect: bool, pin: bool) -> String {
        match lang {
            Language::En => format!("silent: {silent}, protect: {protect}, pin: {pin}"),
            Language::It => {
                let yes = |b: bool| if b { "sì" } else { "no" };
                format!(
                    "silenzioso: {}, proteggi: {}, fissa: {}",
                    yes(silent),
                    yes(protect),
                    yes(pin)
                )
            }
        }
    }

    /// A correction's key as the clerk writes it.
    pub fn change_key(lang: Language, kind: ChangeKind) -> &'static str {
        match (lang, kind) {
            (Language::En, k) => k.key(),
            (Language::It, ChangeKind::Edit) => "correggi",
            (Language::It, ChangeKind::Delete) => "elimina",
            (Language::It, ChangeKind::Unpin) => "sblocca",
        }
    }

    /// What a correction changes (change.rs's `NoteLine::what`).
    pub fn changed(lang: Language, what: &str) -> String {
        if lang == Language::En {
            return what.to_string();
        }
        match what {
            "text" => "testo",
            "caption" => "didascalia",
            "buttons" => "pulsanti",
            "file" => "file",
            "deleted" => "eliminato",
            "unpinned" => "non più fissato",
            other => other,
        }
        .to_string()
    }

    /// What an edit shows where there was nothing, or leaves nothing.
    pub fn none(lang: Language) -> &'static str {
        match lang {
            Language::En => "(none)",
            Language::It => "(niente)",
        }
    }

    /// A file that changed while `check` read it: still being copied.
    pub fn still_changing(lang: Language, name: &str) -> String {
        match lang {
            Language::En => {
                format!(
                    "{name} changed while it was read: it is still being copied, check it again in a moment"
                )
            }
            Language::It => format!(
                "{name} è cambiato mentre veniva letto: la copia non è finita, controllalo di nuovo tra poco"
            ),
        }
    }

    /// A sidecar whose own name is not text (an old encoding).
    pub fn bad_name(lang: Language) -> &'static str {
        match lang {
            Language::En => "the file name is not valid text",
            Language::It => "il nome del file non è un testo valido",
        }
    }

    /// An attachment the sidecar names that is not next to it.
    pub fn attachment_missing(lang: Language, name: &str, dir: &std::path::Path) -> String {
        match lang {
            Language::En => format!("attachment {name} is not in the folder {}", dir.display()),
            Language::It => format!("l'allegato {name} non è nella cartella {}", dir.display()),
        }
    }

    /// An attachment that is not a kind of file dropcast posts.
    pub fn attachment_not_media(lang: Language, name: &str) -> String {
        match lang {
            Language::En => format!("attachment {name} is not a file dropcast can post"),
            Language::It => format!("l'allegato {name} non è un file che dropcast può pubblicare"),
        }
    }

    /// A correction whose post this dropcast's journal does not hold.
    pub fn not_ours(lang: Language, kind: ChangeKind, post: &str) -> String {
        match lang {
            Language::En => format!(
                "{} {post} (the post is not in this dropcast's journal: it can be changed only by the dropcast that made it)",
                match kind {
                    ChangeKind::Edit => "would correct",
                    ChangeKind::Delete => "would delete",
                    ChangeKind::Unpin => "would unpin",
                }
            ),
            Language::It => format!(
                "{} {post} (il post non è nel registro di questo dropcast: può cambiarlo solo il dropcast che l'ha pubblicato)",
                match kind {
                    ChangeKind::Edit => "correggerebbe",
                    ChangeKind::Delete => "eliminerebbe",
                    ChangeKind::Unpin => "sbloccherebbe",
                }
            ),
        }
    }
}

pub fn receipt_header(lang: Language, bundle: &str) -> String {
    match lang {
        Language::It => format!("# dropcast: \"{bundle}\" è stato pubblicato. Ricevuta.\n"),
        Language::En => format!("# dropcast: \"{bundle}\" was posted. This is the receipt.\n"),
    }
}

/// Words that give an English sentence away in a text meant to be Italian. Values the clerk
/// wrote (in quotes) and YAML (in backquotes) may be anything. For the tests that walk every
/// sentence in both languages.
#[cfg(test)]
const ENGLISH: &[&str] = &[
    "line", "column", "unknown", "expected", "must", "key", "value", "true", "false", "the", "is",
    "not", "and", "or", "did", "you", "write", "sidecar", "empty", "twice", "list", "button",
    "buttons", "channel", "should", "only", "with", "without", "has", "there", "for", "example",
    "remove", "put", "quotes", "keep", "one", "correct", "add", "caption", "edit", "delete",
    "replace", "repost", "file's", "post's", "was", "were", "cannot", "will",
];

#[cfg(test)]
pub(crate) fn english_words_in(italian: &str) -> Vec<String> {
    // Drop what is quoted: `…` and "…".
    let mut prose = String::new();
    let mut inside: Option<char> = None;
    for c in italian.chars() {
        match inside {
            Some(close) if c == close => inside = None,
            Some(_) => {}
            None if c == '`' || c == '"' => inside = Some(c),
            None => prose.push(c),
        }
    }
    prose
        .split(|c: char| !c.is_alphabetic() && c != '\'')
        .map(str::to_lowercase)
        .filter(|w| ENGLISH.contains(&w.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The journal keeps problems as this JSON; text that is not (an older dropcast's, a
    /// person's) still reads as a problem.
    #[test]
    fn problems_through_the_journal() {
        let p = Problem::Refused {
            channel: "@town_news".into(),
            description: "Bad Request: chat not found".into(),
        };
        assert_eq!(
            p.to_json(),
            r#"{"Refused":{"channel":"@town_news","description":"Bad Request: chat not found"}}"#
        );
        assert_eq!(Problem::from_json(&p.to_json()), p);
        assert_eq!(
            Problem::from_json("chat not found"),
            Problem::Unreadable {
                file: String::new(),
                detail: "chat not found".into(),
                detail_it: None,
            }
        );
    }

    /// A sidecar's mistakes travel through the journal in both languages; a row written before
    /// issue 15 (English `detail`) still reads.
    #[test]
    fn sidecar_mistakes_through_the_journal() {
        let rules = crate::sidecar::Rules {
            channel_aliases: &[],
        };
        let errors = crate::sidecar::parse(b"capton: x\nsilent: forse\n", &rules).unwrap_err();
        let p = Problem::BadSidecar {
            file: "a.yaml".into(),
            errors,
            detail: String::new(),
        };
        assert_eq!(Problem::from_json(&p.to_json()), p);
        let old = Problem::from_json(
            r#"{"BadSidecar":{"file":"a.yaml","detail":"line 1, column 1: unknown key `x`"}}"#,
        );
        assert_eq!(
            old,
            Problem::BadSidecar {
                file: "a.yaml".into(),
                errors: Vec::new(),
                detail: "line 1, column 1: unknown key `x`".into(),
            }
        );
        assert_eq!(
            old.report(Language::It).why,
            "line 1, column 1: unknown key `x`"
        );
        let it = p.report(Language::It);
        assert_eq!(it.what, "Il file di istruzioni a.yaml contiene 2 errori.");
        assert_eq!(
            it.why,
            "\n  - riga 1, colonna 1: la chiave `capton` non esiste (forse intendevi `didascalia` (o `caption`)?)\
             \n  - riga 2, colonna 9: `silent` deve essere sì o no, non \"forse\" (scrivi sì o no)"
        );
        assert_eq!(
            p.summary(),
            "The instructions file a.yaml has 2 mistakes: line 1, column 1: unknown key `capton` \
             (did you mean `caption`?); line 2, column 9: `silent` must be true or false, not \
             \"forse\" (write true or false)"
        );
    }

    /// A report names the first ten mistakes of a sidecar, in file order, and counts the rest.
    #[test]
    fn at_most_ten_mistakes_in_a_report() {
        let rules = crate::sidecar::Rules {
            channel_aliases: &[],
        };
        let yaml: String = (1..=13).map(|i| format!("k{i}: x\n")).collect();
        let errors = crate::sidecar::parse(yaml.as_bytes(), &rules).unwrap_err();
        assert_eq!(errors.len(), 13);
        let p = Problem::BadSidecar {
            file: "a.yaml".into(),
            errors,
            detail: String::new(),
        };
        let text = error_report(
            Language::It,
            "a",
            std::slice::from_ref(&p),
            &[],
            &["a.yaml".into()],
            "oggi",
        );
        assert!(
            text.contains("Perché:\n  - riga 1, colonna 1: la chiave `k1`"),
            "{text}"
        );
        assert!(
            text.contains("  - riga 10, colonna 1: la chiave `k10`"),
            "{text}"
        );
        assert!(!text.contains("`k11`"), "{text}");
        assert!(text.contains("\n  - e altri 3 (correggi prima questi)\nCome rimediare: Correggi ogni punto indicato"), "{text}");
        let text = error_report(Language::En, "a", &[p], &[], &["a.yaml".into()], "today");
        assert!(
            text.contains(
                "\n  - and 3 more (correct these first)\nHow to fix it: Correct each place"
            ),
            "{text}"
        );
    }

    #[test]
    fn no_preview_reads_in_italian() {
        assert_eq!(
            no_preview(Language::It, "the PDF is encrypted"),
            "il PDF è protetto da password"
        );
        assert_eq!(
            no_preview(Language::It, "the file is damaged: xref broken"),
            "il file è danneggiato"
        );
        assert_eq!(
            no_preview(Language::It, "the renderer failed: boom"),
            "l'anteprima non si è potuta disegnare"
        );
        assert_eq!(
            no_preview(Language::En, "the PDF is encrypted"),
            "the PDF is encrypted"
        );
    }

    /// `docs/SENTENCES.md`: every sentence a clerk can read, in English and in Italian, in one
    /// document for whoever reviews the wording: the sentences live next to the code that finds
    /// each case, and this test walks them all (the same walks as the tests above) and fails
    /// when the document differs. `DROPCAST_WRITE_SENTENCES=1 cargo test --lib sentences`
    /// writes it again.
    #[test]
    fn the_catalogue_of_sentences_is_up_to_date() {
        use std::fmt::Write as _;
        let mut doc = String::from(
            "# Every sentence a clerk can read\n\n\
             Generated by `cargo test --lib sentences` (`DROPCAST_WRITE_SENTENCES=1` writes it \
             again) from the cases the tests walk: what `failed/` reports, receipts, and \
             `dropcast check` say, in English (`en`) and in Italian (`it`, with `language: it`). \
             For a native speaker to review; a change of wording is made in the code, next to \
             the case (`src/sidecar.rs`, `src/messages.rs`, `src/render.rs`, `src/change.rs`).\n",
        );
        let pair = |doc: &mut String, en: &str, it: &str| {
            let _ = writeln!(doc, "- en: {}\n- it: {}\n", en.trim(), it.trim());
        };

        doc.push_str("\n## Mistakes in a sidecar (`.yaml`)\n\n");
        let aliases = ["news", "alerts", "notizie"].map(String::from);
        let rules = crate::sidecar::Rules {
            channel_aliases: &aliases,
        };
        for sidecar in crate::sidecar::tests::every_kind_of_mistake() {
            let shown: String = String::from_utf8_lossy(&sidecar)
                .chars()
                .take(60)
                .collect::<String>()
                .escape_debug()
                .to_string();
            let Err(errors) = crate::sidecar::parse(&sidecar, &rules) else {
                continue;
            };
            let _ = writeln!(doc, "### `{}`\n", shown.replace('`', "'"));
            for e in errors {
                pair(&mut doc, &e.render(Language::En), &e.render(Language::It));
            }
        }

        doc.push_str("## Reports in `failed/` (what happened, why, how to fix it)\n\n");
        for p in every_problem() {
            let (en, it) = (p.report(Language::En), p.report(Language::It));
            let _ = writeln!(doc, "### {}\n", en.what);
            pair(&mut doc, &en.what, &it.what);
            pair(&mut doc, &en.why, &it.why);
            pair(&mut doc, &en.fix, &it.fix);
        }

        doc.push_str("## A caption's HTML that Telegram would refuse\n\n");
        for html in [
            "<u>x</u><font>x</font>",
            "a<br>b",
            "<b/>",
            "<b class=\"x\">x</b>",
            "<a>x</a>",
            "<a href=\"ftp://x\">x</a>",
            "<a href=\"https://a.org\"><a href=\"https://b.org\">x</a></a>",
            "a < b",
            "<b",
            "a & b",
            "&nbsp;",
            "&#0;",
            "<b>x",
            "x</b>",
            "<b><i>x</b></i>",
        ] {
            if let Err(e) = crate::render::render(html, crate::post::Format::Html) {
                let _ = writeln!(doc, "### `{html}`\n");
                pair(&mut doc, &e.to_string(), &e.italian());
            }
        }

        doc.push_str("## A correction whose link names no post\n\n");
        for value in [
            "",
            "https://t.me/town_news",
            "https://t.me/town_news/abc",
            "https://t.me/c/abc/5",
            "https://example.com/town_news/12",
            "../notice.pdf",
        ] {
            if let Err(crate::change::NotAPost(why)) = crate::change::parse(value) {
                pair(&mut doc, &why.en, &why.it);
            }
        }

        doc.push_str("## What `dropcast check` says a sidecar would do\n\n");
        let when = jiff::Timestamp::from_second(4_102_477_200)
            .unwrap()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC);
        let kinds = [
            None,
            Some(crate::post::MediaKind::Document),
            Some(crate::post::MediaKind::Photo),
            Some(crate::post::MediaKind::Animation),
        ];
        let said = |f: &dyn Fn(Language) -> String| (f(Language::En), f(Language::It));
        let mut all: Vec<(String, String)> = vec![
            said(&|l| check::config(l).into()),
            said(&|l| check::would(l, false).into()),
            said(&|l| check::would(l, true).into()),
            said(&|l| check::scheduled(l, &when)),
            said(&|l| check::album(l).into()),
            said(&|l| check::with_caption(l).into()),
            said(&|l| check::options(l, true, false, true)),
            said(&|l| check::none(l).into()),
        ];
        for k in kinds {
            all.push(said(&|l| check::message(l, k).into()));
        }
        for kind in [
            crate::post::ChangeKind::Edit,
            crate::post::ChangeKind::Delete,
            crate::post::ChangeKind::Unpin,
        ] {
            all.push(said(&|l| check::change_key(l, kind).into()));
            all.push(said(&|l| {
                check::not_ours(l, kind, "https://t.me/town_news/5")
            }));
        }
        for what in ["text", "caption", "buttons", "file", "deleted", "unpinned"] {
            all.push(said(&|l| check::changed(l, what)));
        }
        all.push(said(&|l| check::bad_name(l).into()));
        all.push(said(&|l| check::still_changing(l, "notice.pdf")));
        all.push(said(&|l| {
            check::attachment_missing(l, "page2.jpg", std::path::Path::new("/srv/share/inbox"))
        }));
        all.push(said(&|l| check::attachment_not_media(l, "notes.txt")));
        for (en, it) in &all {
            pair(&mut doc, en, it);
        }

        doc.push_str("## Receipts in `archive/`\n\n");
        pair(
            &mut doc,
            &receipt_header(Language::En, "notice.pdf"),
            &receipt_header(Language::It, "notice.pdf"),
        );
        for why in [
            "the PDF is encrypted",
            "the file is damaged: it is not a readable PDF",
            "the file is not supported",
            "the image's format is not supported",
            "the first page is blank",
            "the file is empty",
            "the file is too large to read",
            "rendering took longer than 5 s",
            "rendering needed more than 256 MB",
            "the bundle's previews took too long",
            "the file could not be read",
            "something else",
        ] {
            pair(
                &mut doc,
                &no_preview(Language::En, why),
                &no_preview(Language::It, why),
            );
        }

        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SENTENCES.md");
        if std::env::var_os("DROPCAST_WRITE_SENTENCES").is_some() {
            std::fs::write(&path, &doc).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == doc,
            "docs/SENTENCES.md is not the catalogue of today's sentences: run \
             DROPCAST_WRITE_SENTENCES=1 cargo test --lib sentences, and review the difference"
        );
    }

    /// One problem of every kind (every kind of correction refused, too).
    fn every_problem() -> Vec<Problem> {
        use crate::change::CannotChange as C;
        let change = |why: C| Problem::CannotChange {
            post: "https://t.me/town_news/5".into(),
            kind: crate::post::ChangeKind::Edit,
            why: Box::new(why),
        };
        let names = || vec!["a.jpg".to_string(), "b.jpg".to_string()];
        vec![
            Problem::BadSidecar {
                file: "a.yaml".into(),
                errors: crate::sidecar::parse(
                    b"capton: x\n",
                    &crate::sidecar::Rules {
                        channel_aliases: &[],
                    },
                )
                .unwrap_err(),
                detail: "line 1, column 1: unknown key `capton`".into(),
            },
            Problem::SidecarMissing {
                file: "a.pdf".into(),
                waited: "1h".into(),
            },
            Problem::WrongContent {
                file: "a.pdf".into(),
                expected: "PDF".into(),
            },
            Problem::EmptyFile {
                file: "a.pdf".into(),
            },
            Problem::TooLarge {
                file: "a.pdf".into(),
                size_mb: 60,
                limit_mb: 50,
            },
            Problem::NothingToPost {
                file: "a.yaml".into(),
            },
            Problem::CaptionProblem {
                file: "a.yaml".into(),
                detail: "unbalanced `<b>` at byte 0: it is never closed".into(),
                detail_it: Some("`<b>` (alla posizione 0) si apre e non si chiude mai".into()),
            },
            Problem::Duplicate {
                channel: "news".into(),
                link: "https://t.me/x/1".into(),
            },
            Problem::Refused {
                channel: "news".into(),
                description: "Bad Request: chat not found".into(),
            },
            Problem::Uncertain {
                channel: "news".into(),
            },
            Problem::AttachmentMissing {
                file: "a.yaml".into(),
                attachment: "b.pdf".into(),
            },
            Problem::AttachmentNotMedia {
                file: "a.yaml".into(),
                attachment: "b.txt".into(),
            },
            Problem::AlbumInterrupted {
                channel: "news".into(),
            },
            Problem::Cancelled {
                file: "a.pdf".into(),
                removed: "a.yaml".into(),
            },
            Problem::NotRegular {
                file: "a.pdf".into(),
            },
            Problem::BadName {
                file: "a?.pdf".into(),
            },
            Problem::unreadable_io(
                "a.pdf",
                "No such file or directory (os error 2)".into(),
                std::io::ErrorKind::NotFound,
            ),
            Problem::Unreadable {
                file: "a.pdf".into(),
                detail: "journaled before Italian details".into(),
                detail_it: None,
            },
            change(C::NotOurs),
            change(C::Ambiguous {
                receipts: vec!["2026/12/a.receipt.yaml".into()],
            }),
            change(C::Scheduled { at: Some(0) }),
            change(C::NotOut),
            change(C::Deleted),
            change(C::TooOldToDelete { sent_at: 0 }),
            change(C::CaptionTooLong {
                len: 1100,
                limit: 1024,
            }),
            change(C::TextParts { had: 1, needs: 2 }),
            change(C::EmptyText),
            change(C::NoFileToReplace),
            change(C::WhichFile { names: names() }),
            change(C::NoSuchFile {
                name: "c.jpg".into(),
                names: names(),
            }),
            change(C::WrongKind {
                was: "photo".into(),
                file: "a.pdf".into(),
            }),
            change(C::ButtonsUnderAlbum),
            change(C::NothingToChange),
            change(C::FileWithoutEdit {
                file: "a.pdf".into(),
            }),
        ]
    }

    #[test]
    fn every_problem_reads_in_both_languages() {
        use crate::change::CannotChange as C;
        let all = every_problem();
        // Every kind is in the list: a new one fails to compile here until it is added.
        let kinds: std::collections::HashSet<&str> = all
            .iter()
            .map(|p| match p {
                Problem::BadSidecar { .. } => "BadSidecar",
                Problem::SidecarMissing { .. } => "SidecarMissing",
                Problem::WrongContent { .. } => "WrongContent",
                Problem::EmptyFile { .. } => "EmptyFile",
                Problem::TooLarge { .. } => "TooLarge",
                Problem::NothingToPost { .. } => "NothingToPost",
                Problem::CaptionProblem { .. } => "CaptionProblem",
                Problem::Duplicate { .. } => "Duplicate",
                Problem::Refused { .. } => "Refused",
                Problem::Uncertain { .. } => "Uncertain",
                Problem::AttachmentMissing { .. } => "AttachmentMissing",
                Problem::AttachmentNotMedia { .. } => "AttachmentNotMedia",
                Problem::AlbumInterrupted { .. } => "AlbumInterrupted",
                Problem::Cancelled { .. } => "Cancelled",
                Problem::NotRegular { .. } => "NotRegular",
                Problem::BadName { .. } => "BadName",
                Problem::Unreadable { .. } => "Unreadable",
                Problem::CannotChange { why, .. } => match **why {
                    C::NotOurs => "NotOurs",
                    C::Ambiguous { .. } => "Ambiguous",
                    C::Scheduled { .. } => "Scheduled",
                    C::NotOut => "NotOut",
                    C::Deleted => "Deleted",
                    C::TooOldToDelete { .. } => "TooOldToDelete",
                    C::CaptionTooLong { .. } => "CaptionTooLong",
                    C::TextParts { .. } => "TextParts",
                    C::EmptyText => "EmptyText",
                    C::NoFileToReplace => "NoFileToReplace",
                    C::WhichFile { .. } => "WhichFile",
                    C::NoSuchFile { .. } => "NoSuchFile",
                    C::WrongKind { .. } => "WrongKind",
                    C::ButtonsUnderAlbum => "ButtonsUnderAlbum",
                    C::NothingToChange => "NothingToChange",
                    C::FileWithoutEdit { .. } => "FileWithoutEdit",
                },
            })
            .collect();
        // As many as the arms of the match above: each kind is in the list.
        assert_eq!(kinds.len(), 33, "{kinds:?}");
        let mut bad = Vec::new();
        for p in &all {
            let (en, it) = (p.report(Language::En), p.report(Language::It));
            for r in [&en, &it] {
                assert!(
                    !r.what.is_empty() && !r.why.is_empty() && !r.fix.is_empty(),
                    "{p:?}"
                );
            }
            for (e, i) in [(&en.what, &it.what), (&en.why, &it.why), (&en.fix, &it.fix)] {
                if e == i {
                    bad.push(format!("not translated: {e}"));
                }
                let english = english_words_in(i);
                if !english.is_empty() {
                    bad.push(format!("English words {english:?} in: {i}"));
                }
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
        let text = error_report(
            Language::It,
            "a.pdf",
            &all[..1],
            &[],
            &["a.pdf".into()],
            "2026-11-27 10:00",
        );
        assert!(text.contains("Come rimediare"), "{text}");
        let text = Problem::Refused {
            channel: "news".into(),
            description: "Bad Request: chat not found".into(),
        }
        .report(Language::En)
        .why;
        assert!(text.contains("does not exist"), "{text}");
    }
}
