//! The projector's Prometheus metrics (served on its API listener's `/metrics`, see
//! `runtime::ops`).

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use runtime::ops::register;

pub struct ProjectorMetrics {
    /// Events committed into the views, by stream (folded, or passed over as already folded
    /// or rejected).
    pub folded: IntCounterVec,
    /// A stream's last sequence minus the views' checkpoint of it.
    pub fold_lag: IntGaugeVec,
    /// Time to fold and commit one batch.
    pub batch_seconds: Histogram,
    /// API requests, by route and status.
    pub http_requests: IntCounterVec,
    /// API request latency, by route.
    pub http_seconds: HistogramVec,
}

impl ProjectorMetrics {
    pub fn new(registry: &Registry) -> Self {
        ProjectorMetrics {
            folded: register(
                registry,
                IntCounterVec::new(
                    Opts::new("postern_projector_events_folded_total", "Events committed into the views, by stream"),
                    &["stream"],
                )
                .expect("metric"),
            ),
            fold_lag: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "postern_projector_fold_lag_events",
                        "A stream's last sequence minus the views' checkpoint of it",
                    ),
                    &["stream"],
                )
                .expect("metric"),
            ),
            batch_seconds: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new("postern_projector_batch_seconds", "Time to fold and commit one batch")
                        .buckets(runtime::ops::seconds_buckets()),
                )
                .expect("metric"),
            ),
            http_requests: register(
                registry,
                IntCounterVec::new(
                    Opts::new("postern_projector_http_requests_total", "API requests, by route and status"),
                    &["route", "status"],
                )
                .expect("metric"),
            ),
            http_seconds: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new("postern_projector_http_request_seconds", "API request latency, by route")
                        .buckets(runtime::ops::seconds_buckets()),
                    &["route"],
                )
                .expect("metric"),
            ),
        }
    }
}
