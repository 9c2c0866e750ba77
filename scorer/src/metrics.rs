//! The scorer's Prometheus metrics (served on `/metrics`, see `runtime::ops`).

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};
use runtime::ops::register;

pub struct ScorerMetrics {
    /// Dispositions stored, by disposition.
    pub scored: IntCounterVec,
    /// Time to score a message and store its disposition.
    pub scoring_seconds: Histogram,
    /// Raw events dead-lettered, by reason (`RejectKind`).
    pub dead_letters: IntCounterVec,
    /// Messages of MAIL_RAW the shared consumer has not delivered yet, as of this process's
    /// last delivery.
    pub consumer_pending: IntGauge,
    /// Messages taught to their tenant's classifier as spam by autolearning, by outcome
    /// (`stored`, `failed`).
    pub autolearned: IntCounterVec,
}

impl ScorerMetrics {
    pub fn new(registry: &Registry) -> Self {
        ScorerMetrics {
            scored: register(
                registry,
                IntCounterVec::new(
                    Opts::new("postern_scorer_messages_scored_total", "Dispositions stored, by disposition"),
                    &["disposition"],
                )
                .expect("metric"),
            ),
            scoring_seconds: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "postern_scorer_scoring_seconds",
                        "Time to score a message and store its disposition",
                    )
                    .buckets(runtime::ops::seconds_buckets()),
                )
                .expect("metric"),
            ),
            dead_letters: register(
                registry,
                IntCounterVec::new(
                    Opts::new("postern_scorer_dead_letters_total", "Raw events dead-lettered, by reason"),
                    &["reason"],
                )
                .expect("metric"),
            ),
            consumer_pending: register(
                registry,
                IntGauge::new(
                    "postern_scorer_consumer_pending_messages",
                    "MAIL_RAW messages the shared consumer has not delivered yet (at the last delivery)",
                )
                .expect("metric"),
            ),
            autolearned: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "postern_scorer_autolearned_total",
                        "Messages taught to their tenant's classifier as spam by autolearning, by outcome",
                    ),
                    &["outcome"],
                )
                .expect("metric"),
            ),
        }
    }
}
