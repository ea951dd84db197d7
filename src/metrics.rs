//! Counters for the status page and `/metrics`: what happened since the daemon started.
//!
//! Plain atomics, updated where things happen and read by the web server; nothing here blocks.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Everything `/metrics` reports.
#[derive(Debug, Default)]
pub struct Metrics {
    pub bundles_archived: AtomicU64,
    pub bundles_failed: AtomicU64,
    pub bundles_refused: AtomicU64,
    pub bundles_scheduled: AtomicU64,
    pub messages_sent: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    pub upload_bytes: AtomicU64,
    /// Deliveries waiting or in progress.
    pub queue_depth: AtomicI64,
    /// Unix seconds of the last message Telegram accepted; 0 before the first.
    pub last_post: AtomicI64,
    /// Unix seconds when the daemon started.
    pub started: AtomicI64,
    /// `once`: bundles still waiting when the run ends (for a sidecar, or for Telegram to come
    /// back). Not exported: a daemon has no end to count at.
    pub bundles_left: AtomicU64,
}

impl Metrics {
    /// What a run did, as `once` reports it. In a dry run, `archived` and `refused` count what
    /// would have been posted and refused.
    pub fn summary(&self) -> crate::pipeline::Summary {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        crate::pipeline::Summary {
            posted: g(&self.bundles_archived),
            failed: g(&self.bundles_failed) + g(&self.bundles_refused),
            left: g(&self.bundles_left),
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        out.push_str("# HELP dropcast_bundles_total Bundles by how they ended.\n# TYPE dropcast_bundles_total counter\n");
        for (outcome, c) in [
            ("archived", &self.bundles_archived),
            ("failed", &self.bundles_failed),
            ("refused", &self.bundles_refused),
            ("scheduled", &self.bundles_scheduled),
        ] {
            out.push_str(&format!(
                "dropcast_bundles_total{{outcome=\"{outcome}\"}} {}\n",
                g(c)
            ));
        }
        for (name, help, c) in [
            (
                "dropcast_messages_sent_total",
                "Messages Telegram accepted.",
                &self.messages_sent,
            ),
            (
                "dropcast_retries_total",
                "Requests that failed and were retried.",
                &self.retries,
            ),
            (
                "dropcast_rate_limited_total",
                "Answers asking to slow down (429 or retry after).",
                &self.rate_limited,
            ),
            (
                "dropcast_upload_bytes_total",
                "Bytes of files sent.",
                &self.upload_bytes,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                g(c)
            ));
        }
        out.push_str(&format!(
            "# HELP dropcast_queue_depth Deliveries waiting or in progress.\n# TYPE dropcast_queue_depth gauge\ndropcast_queue_depth {}\n",
            self.queue_depth.load(Ordering::Relaxed).max(0)
        ));
        out.push_str(&format!(
            "# HELP dropcast_last_post_timestamp_seconds When Telegram last accepted a message (0: never).\n# TYPE dropcast_last_post_timestamp_seconds gauge\ndropcast_last_post_timestamp_seconds {}\n",
            self.last_post.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "# HELP dropcast_start_timestamp_seconds When the daemon started.\n# TYPE dropcast_start_timestamp_seconds gauge\ndropcast_start_timestamp_seconds {}\n",
            self.started.load(Ordering::Relaxed)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_format() {
        let m = Metrics::default();
        Metrics::add(&m.messages_sent, 3);
        Metrics::add(&m.bundles_archived, 2);
        let text = m.prometheus();
        assert!(text.contains("dropcast_messages_sent_total 3\n"), "{text}");
        assert!(
            text.contains("dropcast_bundles_total{outcome=\"archived\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE dropcast_queue_depth gauge\n"),
            "{text}"
        );
        // Every sample line is `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
