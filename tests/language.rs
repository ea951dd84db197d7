//! The clerk's language (issue 15): with `language: it` a sidecar can be written with Italian
//! keys, values and dates, and a report names every mistake of a sidecar at once, in Italian.
//! The real binary against the strict fake Bot API.

mod common;

use common::*;

const NEWS: i64 = -1001234567890;

fn italian_office() -> Office {
    Office::with(
        "watch: {settle: 300ms, poll_interval: 200ms, rescan_interval: 5m}\nlanguage: it\n",
    )
}

/// The issue's sidecar, with a second mistake: before issue 15 the report named only the first,
/// in English ("line 1, column 1: unknown key `capton`").
#[test]
fn a_report_names_every_mistake_in_italian() {
    let o = italian_office();
    o.drop_file("avviso.pdf", &pdf("a"));
    o.drop_file("avviso.yaml", b"capton: \"Avviso\"\nsilenzioso: forse\n");
    let out = o.once();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(o.bot.posts().is_empty());
    let report = std::fs::read_to_string(o.path("failed/avviso.error.txt")).unwrap();
    let expected = "Cosa è successo: Il file di istruzioni avviso.yaml contiene 2 errori.\n\
        Perché:\n  \
        - riga 1, colonna 1: la chiave `capton` non esiste (forse intendevi `didascalia` (o `caption`)?)\n  \
        - riga 2, colonna 13: `silenzioso` deve essere sì o no, non \"forse\" (scrivi sì o no)\n\
        Come rimediare: Correggi ogni punto indicato";
    assert!(report.contains(expected), "{report}");
    for english in ["line", "column", "unknown", "must", "did you mean"] {
        assert!(!report.contains(english), "{english:?} in:\n{report}");
    }
    // `check` says the same, one mistake per line.
    let sidecar = o.path("failed/avviso.yaml").display().to_string();
    let out = o.cmd(&["check", &sidecar]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "{sidecar}: riga 1, colonna 1: la chiave `capton` non esiste"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{sidecar}: riga 2, colonna 13: `silenzioso` deve essere sì o no"
        )),
        "{stdout}"
    );
}

/// The issue's own sidecar: `silent: si` is Italian for true now, and `capton` is the one
/// mistake.
#[test]
fn the_issues_sidecar_has_one_mistake_left() {
    let o = italian_office();
    o.drop_file("avviso.pdf", &pdf("a"));
    o.drop_file("avviso.yaml", b"capton: \"Avviso\"\nsilent: si\n");
    assert_eq!(o.once().status.code(), Some(1));
    let report = std::fs::read_to_string(o.path("failed/avviso.error.txt")).unwrap();
    assert!(
        report.contains(
            "Perché: riga 1, colonna 1: la chiave `capton` non esiste (forse intendevi `didascalia` (o `caption`)?)\n"
        ),
        "{report}"
    );
    assert!(report.contains("contiene un errore."), "{report}");
}

#[test]
fn a_post_written_with_italian_keys_and_values_goes_out() {
    let o = italian_office();
    o.drop_file("festa.pdf", &pdf("f"));
    o.drop_file(
        "festa.yaml",
        "canale: news\ndidascalia: \"**Festa** in piazza\"\nsilenzioso: sì\nfissa: si\n\
         proteggi: vero\ninvia_come: documento\nanteprima: nessuna\n\
         pulsanti:\n  - {testo: Programma, url: \"https://comune.example.it/festa\"}\n"
            .as_bytes(),
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    let posts = o.bot.posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let post = &posts[0];
    assert_eq!(post.method, "sendDocument");
    assert_eq!(post.field("caption"), Some("<b>Festa</b> in piazza"));
    assert_eq!(post.field("disable_notification"), Some("true"));
    assert_eq!(post.field("protect_content"), Some("true"));
    assert!(
        post.field("reply_markup").unwrap().contains("Programma"),
        "{post:#?}"
    );
    assert!(post.file("thumbnail").is_none(), "anteprima: nessuna");
    assert_eq!(o.bot.pinned(NEWS).len(), 1);
    o.bot.assert_clean();
    assert!(o.archive_month().join("festa.receipt.yaml").exists());
}

#[test]
fn an_italian_date_schedules_the_post() {
    let o = italian_office();
    o.drop_file("concerto.pdf", &pdf("c"));
    o.drop_file(
        "concerto.yaml",
        b"didascalia: Concerto di Capodanno\npubblica_il: 31/12/2099 ore 10\n",
    );
    let out = o.once();
    assert!(out.status.success(), "{}", text(&out));
    assert!(o.bot.posts().is_empty());
    assert!(
        o.path("scheduled/concerto.pdf").exists(),
        "{:?}",
        o.files("scheduled")
    );
    assert!(o.path("scheduled/concerto.yaml").exists());
    assert!(o.files("failed").is_empty(), "{:?}", o.files("failed"));
}

#[test]
fn a_key_with_its_italian_twin_is_said_twice() {
    let o = italian_office();
    o.drop_file("doppio.yaml", b"caption: Primo\ndidascalia: Secondo\n");
    assert_eq!(o.once().status.code(), Some(1));
    assert!(o.bot.posts().is_empty());
    let report = std::fs::read_to_string(o.path("failed/doppio.error.txt")).unwrap();
    assert!(
        report.contains(
            "Perché: riga 2, colonna 1: `didascalia` e `caption` vogliono dire la stessa cosa, \
             e `caption` c'è già alla riga 1 (tieni una sola delle due righe)"
        ),
        "{report}"
    );
}

/// English keys and values keep working with `language: it`, and Italian ones with `en`; an
/// English office reads its mistakes in English.
#[test]
fn both_vocabularies_work_in_both_languages() {
    let o = Office::new();
    o.drop_file("a.yaml", b"testo: Ciao\nsilenzioso: no\n");
    o.drop_file("b.yaml", b"text: hello\nsilent: maybe\npin: 2\n");
    assert_eq!(o.once().status.code(), Some(1));
    assert_eq!(o.bot.posts().len(), 1);
    let report = std::fs::read_to_string(o.path("failed/b.error.txt")).unwrap();
    assert!(
        report.contains(
            "What happened: The instructions file b.yaml has 2 mistakes.\nWhy:\n  \
             - line 2, column 9: `silent` must be true or false, not \"maybe\" (write true or false)\n  \
             - line 3, column 6: `pin` must be true or false, not 2 (write true or false)\n"
        ),
        "{report}"
    );
    let o = italian_office();
    o.drop_file("a.yaml", b"text: hello\nsilent: true\n");
    assert!(o.once().status.success());
    assert_eq!(o.bot.posts().len(), 1);
}

/// `check` says in the clerk's language what a sidecar would do, not only what is wrong: the
/// kind of post, its caption, the time in the office's clock, the options, and a correction of
/// a post that this dropcast's journal does not hold.
#[test]
fn check_says_what_would_happen_in_italian() {
    let o = italian_office();
    o.drop_file("avviso.pdf", &pdf("a"));
    o.drop_file(
        "avviso.yaml",
        "didascalia: Avviso alla cittadinanza\npubblica_il: 31/12/2099 ore 10\nsilenzioso: sì\n"
            .as_bytes(),
    );
    o.drop_file(
        "correzione.yaml",
        b"correggi: https://t.me/town_news/5\ndidascalia: Avviso corretto\n",
    );
    let post = o.inbox("avviso.yaml").display().to_string();
    let fix = o.inbox("correzione.yaml").display().to_string();
    let out = o.cmd(&["check", &post, &fix]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for said in [
        "(configurazione)".to_string(),
        format!("ok {post}: verrebbe pubblicato avviso.pdf → "),
        "  programmato per il 31/12/2099 alle 10:00 (aspetta in scheduled/ fino ad allora)".into(),
        "  documento: avviso.pdf con didascalia: Avviso alla cittadinanza".into(),
        "  silenzioso: sì, proteggi: no, fissa: no".into(),
        format!(
            "ok {fix}: correggerebbe https://t.me/town_news/5 (il post non è nel registro di \
             questo dropcast"
        ),
    ] {
        assert!(stdout.contains(&said), "{said:?} not in:\n{stdout}");
    }
    for english in [
        "would",
        "scheduled for",
        "with caption",
        "send",
        "silent",
        "config)",
    ] {
        assert!(!stdout.contains(english), "{english:?} in:\n{stdout}");
    }
    assert!(o.bot.requests().is_empty());
    // `--dry-run` is the IT person's: English, with the Bot API's method names.
    let out = o.cmd(&["once", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("would post avviso.pdf → ")
            && stdout.contains("  sendDocument: avviso.pdf with caption: Avviso alla cittadinanza"),
        "{}",
        text(&out)
    );
}
