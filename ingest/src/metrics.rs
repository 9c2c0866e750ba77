//! ingest's Prometheus metrics (served on `/metrics`, see `runtime::ops`).

use crate::smtp::session::Reply;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use runtime::ops::register;

pub struct IngestMetrics {
    /// Connections accepted by TCP (served or refused).
    pub sessions: IntCounter,
    /// Every reply written, by code (greetings and refusals included).
    pub replies: IntCounterVec,
    /// Messages stored (a 250 to their DATA or last BDAT).
    pub stored: IntCounter,
    /// Size of each message received complete (before it is stored or refused).
    pub message_bytes: Histogram,
    /// From handing a message to JetStream to its acknowledgement (or failure).
    pub publish_seconds: Histogram,
}

impl IngestMetrics {
    pub fn new(registry: &Registry) -> Self {
        let sizes = prometheus::exponential_buckets(1024.0, 4.0, 10).expect("valid buckets");
        IngestMetrics {
            sessions: register(
                registry,
                IntCounter::new("postern_ingest_smtp_sessions_total", "SMTP connections accepted").expect("metric"),
            ),
            replies: register(
                registry,
                IntCounterVec::new(
                    Opts::new("postern_ingest_smtp_replies_total", "SMTP replies sent, by code"),
                    &["code"],
                )
                .expect("metric"),
            ),
            stored: register(
                registry,
                IntCounter::new("postern_ingest_messages_stored_total", "Messages stored in MAIL_RAW and answered 250")
                    .expect("metric"),
            ),
            message_bytes: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new("postern_ingest_message_size_bytes", "Size of each message received")
                        .buckets(sizes),
                )
                .expect("metric"),
            ),
            publish_seconds: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "postern_ingest_publish_seconds",
                        "Time from handing a message to JetStream to its acknowledgement",
                    )
                    .buckets(runtime::ops::seconds_buckets()),
                )
                .expect("metric"),
            ),
        }
    }

    /// Counts a reply about to be written.
    pub fn reply(&self, reply: &Reply) {
        self.replies.with_label_values(&[&reply.code.to_string()]).inc();
    }
}
