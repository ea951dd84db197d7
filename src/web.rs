//! The optional, read-only status page (`/`), Prometheus metrics (`/metrics`) and health check
//! (`/healthz`), on `http.listen`. One server-rendered page that refreshes itself: no front-end
//! build, no scripts, no button that changes anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::share::Share;
use crate::status::{self, Status};

/// What the page shows, besides the journal it reads.
#[derive(Clone)]
pub struct Sources {
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// The configured folders as the daemon last saw them.
    pub share: Arc<Share>,
    /// Which inboxes this dropcast posts from, and which it stands by for.
    pub leases: Arc<crate::lease::Leases>,
}

type App = Sources;

/// Binds `addr` and serves until `shutdown` turns true. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    app: Sources,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .with_state(app);
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "the status page stopped");
        }
    });
    Ok(bound)
}

async fn healthz(State(app): State<App>) -> Response {
    // Healthy while the journal can be read: the one thing without which nothing works.
    let config = app.config.clone();
    let ok = tokio::task::spawn_blocking(move || {
        !config.state_dir.join(crate::journal::FILE_NAME).exists()
            || crate::journal::JournalReader::open(&config.state_dir).is_ok()
    })
    .await
    .unwrap_or(false);
    let away = app.share.away();
    if !ok {
        (StatusCode::SERVICE_UNAVAILABLE, "journal unavailable\n").into_response()
    } else if !away.is_empty() {
        let each: Vec<String> = away
            .iter()
            .map(|a| format!("{} {}: {}\n", a.role, a.path.display(), a.why))
            .collect();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("folders away, work waits:\n{}", each.concat()),
        )
            .into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn metrics_text(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        format!("{}{}", app.metrics.prometheus(), lease_metrics(&app.leases)),
    )
        .into_response()
}

/// `dropcast_lease_active{inbox="…"} 1` where this dropcast posts, 0 where it stands by.
fn lease_metrics(leases: &crate::lease::Leases) -> String {
    let mut out = String::from(
        "# HELP dropcast_lease_active Whether this dropcast holds the inbox's lease (1) or stands by (0).\n# TYPE dropcast_lease_active gauge\n",
    );
    for r in leases.report() {
        let active = matches!(r.role, crate::lease::Role::Active { .. });
        let inbox = r
            .inbox
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        out.push_str(&format!(
            "dropcast_lease_active{{inbox=\"{inbox}\"}} {}\n",
            u8::from(active)
        ));
    }
    out
}

async fn page(State(app): State<App>) -> Response {
    let config = app.config.clone();
    let status = tokio::task::spawn_blocking(move || status::read(&config)).await;
    match status {
        Ok(Ok(mut s)) => {
            // The daemon's own view: it knows which folder it verified, and when one went away,
            // and which inboxes it posts from.
            s.away = app.share.away();
            s.leases = app.leases.report();
            Html(render(&s, &app.metrics, &app.config)).into_response()
        }
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(format!(
                "<!doctype html><meta charset=utf-8><title>dropcast</title><p>The journal cannot be read: {}</p>",
                escape(&e.to_string())
            )),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page, as a person on a phone should see it.
fn render(s: &Status, m: &Metrics, config: &Config) -> String {
    let last = m.last_post.load(Ordering::Relaxed);
    let last_post = if last == 0 {
        "none since start".to_string()
    } else {
        jiff::Timestamp::from_second(last)
            .map(|t| {
                t.to_zoned_datetime(config.timezone.clone())
                    .strftime("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let healthy = s.retrying.is_empty() && s.away.is_empty();
    let mut out = String::new();
    out.push_str(&format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=refresh content=5><title>dropcast status</title><style>{CSS}</style></head><body>\
         <h1>dropcast</h1><p class=\"summary {cls}\" id=summary>{summary}</p>\
         <p class=meta>Last post: <b id=last-post>{last_post}</b> · sent since start: <b id=sent>{sent}</b> · \
         queue: <b id=queue>{queue}</b> · this page refreshes every 5 s</p>",
        cls = if healthy { "ok" } else { "warn" },
        summary = if healthy {
            "Everything is flowing.".to_string()
        } else if !s.away.is_empty() {
            format!(
                "Waiting for the share: {} folder(s) cannot be reached. Nothing is lost; work resumes when they are back.",
                s.away.len()
            )
        } else {
            format!("{} post(s) are being retried.", s.retrying.len())
        },
        sent = m.messages_sent.load(Ordering::Relaxed),
        queue = m.queue_depth.load(Ordering::Relaxed).max(0),
    ));
    let mut section = |id: &str, title: &str, rows: Vec<String>| {
        out.push_str(&format!(
            "<section id={id}><h2>{title} <span class=count>{}</span></h2>",
            rows.len()
        ));
        if rows.is_empty() {
            out.push_str("<p class=empty>none</p>");
        } else {
            out.push_str("<ul>");
            for r in rows {
                out.push_str(&format!("<li>{r}</li>"));
            }
            out.push_str("</ul>");
        }
        out.push_str("</section>");
    };
    for (id, title, rows) in share_rows(s) {
        section(id, title, rows);
    }
    section(
        "waiting",
        "Waiting in the inbox",
        s.waiting
            .iter()
            .map(|w| format!("<b>{}</b> <span>{}</span>", escape(&w.file), escape(&w.why)))
            .collect(),
    );
    section(
        "scheduled",
        "Scheduled",
        s.scheduled
            .iter()
            .map(|p| {
                format!(
                    "<b>{}</b> <span>at {}</span>",
                    escape(&p.bundle),
                    escape(&p.publish_at)
                )
            })
            .collect(),
    );
    section(
        "retrying",
        "Retrying",
        s.retrying
            .iter()
            .map(|r| {
                format!(
                    "<b>{}</b> → {} <span>{} attempts; last error: {}</span>",
                    escape(&r.bundle),
                    escape(&r.chat),
                    r.attempts,
                    escape(&r.last_error)
                )
            })
            .collect(),
    );
    section(
        "failed",
        "Failed",
        s.failed
            .iter()
            .map(|f| {
                format!(
                    "<b>{}</b> <span>{}: {}</span>",
                    escape(&f.bundle),
                    escape(&f.at),
                    escape(&f.reason)
                )
            })
            .collect(),
    );
    section(
        "recent",
        "Recent posts",
        s.recent
            .iter()
            .map(|p| {
                format!(
                    "<b>{}</b> <span>{} → {}</span> <a href=\"{}\">{}</a>",
                    escape(&p.bundle),
                    escape(&p.at),
                    escape(&p.channel),
                    escape(&p.link),
                    escape(&p.link)
                )
            })
            .collect(),
    );
    if !s.pins_ending.is_empty() {
        section(
            "pins",
            "Pins that end by themselves",
            s.pins_ending
                .iter()
                .map(|p| {
                    format!(
                        "<b>{}</b> <span>{} unpinned at {}{}</span> <a href=\"{}\">{}</a>",
                        escape(&p.bundle),
                        escape(&p.channel),
                        escape(&p.until),
                        escape(
                            &p.error
                                .as_deref()
                                .map(|e| format!(" (could not: {e})"))
                                .unwrap_or_default()
                        ),
                        escape(&p.link),
                        escape(&p.link)
                    )
                })
                .collect(),
        );
    }
    if !s.changes.is_empty() {
        section(
            "changes",
            "Changes to posts",
            s.changes
                .iter()
                .map(|c| {
                    let what: Vec<&str> = c.changed.iter().map(|l| l.what.as_str()).collect();
                    format!(
                        "<b>{}</b> <span>{} {} → {}: {} ({})</span> <a href=\"{}\">{}</a>",
                        escape(&c.bundle),
                        escape(&c.at),
                        c.change.key(),
                        escape(&c.channel),
                        escape(&what.join(", ")),
                        escape(&c.state),
                        escape(&c.link),
                        escape(&c.link)
                    )
                })
                .collect(),
        );
    }
    out.push_str("</body></html>\n");
    out
}

/// The sections about the share, shown only when there is something to say: the inboxes this
/// dropcast stands by for, and the folders that are away.
fn share_rows(s: &Status) -> Vec<(&'static str, &'static str, Vec<String>)> {
    let mut out = Vec::new();
    let standby: Vec<String> = s
        .leases
        .iter()
        .filter_map(|l| match &l.role {
            crate::lease::Role::Standby { host, pid } => Some(format!(
                "<b>{}</b> <span>standby, active on {} (pid {pid})</span>",
                escape(&l.inbox.display().to_string()),
                escape(host)
            )),
            _ => None,
        })
        .collect();
    if !standby.is_empty() {
        out.push(("standby", "Standby (another dropcast posts)", standby));
    }
    if !s.away.is_empty() {
        let rows = s
            .away
            .iter()
            .map(|a| {
                format!(
                    "<b>{} {}</b> <span>{}</span>",
                    escape(a.role),
                    escape(&a.path.display().to_string()),
                    escape(&a.why)
                )
            })
            .collect();
        out.push(("away", "Folders away", rows));
    }
    out
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:48rem;padding:1rem;color:#222}\
h1{margin:.2rem 0}h2{font-size:1.1rem;margin:1.2rem 0 .4rem;border-bottom:1px solid #ddd}\
.count{color:#666;font-weight:normal}.summary{padding:.6rem;border-radius:.4rem;font-weight:bold}\
.ok{background:#e6f4ea;color:#1e6b35}.warn{background:#fff4e5;color:#8a4b00}.meta{color:#555;font-size:.9rem}\
ul{list-style:none;padding:0;margin:0}li{padding:.4rem 0;border-bottom:1px solid #f0f0f0;overflow-wrap:anywhere}\
li span{color:#555;display:block;font-size:.9rem}.empty{color:#888}a{color:#0b57d0}";
