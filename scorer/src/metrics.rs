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
    /// Scored messages' text fingerprints published for every scorer's campaign memory, by
    /// outcome (`stored`, `failed`: remembered by this scorer alone).
    pub fingerprints: IntCounterVec,
    /// Messages marked `snowshoe_campaign` (the same text from other sender domains).
    pub snowshoe_campaigns: prometheus::IntCounter,
    /// Texts in this scorer's campaign memory, over every tenant.
    pub campaign_memory: IntGauge,
    /// Messages on MAIL_FINGERPRINTS that are no tenant's fingerprint: skipped and logged.
    pub fingerprints_refused: prometheus::IntCounter,
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
            fingerprints: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "postern_scorer_fingerprints_total",
                        "Scored messages' text fingerprints published for the scorers' campaign memory, by outcome",
                    ),
                    &["outcome"],
                )
                .expect("metric"),
            ),
            fingerprints_refused: register(
                registry,
                prometheus::IntCounter::new(
                    "postern_scorer_fingerprints_refused_total",
                    "Messages on MAIL_FINGERPRINTS that are no tenant's fingerprint (a bad subject or payload): skipped and logged",
                )
                .expect("metric"),
            ),
            snowshoe_campaigns: register(
                registry,
                prometheus::IntCounter::new(
                    "postern_scorer_snowshoe_campaigns_total",
                    "Messages whose text came from other sender domains before (snowshoe_campaign)",
                )
                .expect("metric"),
            ),
            campaign_memory: register(
                registry,
                IntGauge::new(
                    "postern_scorer_campaign_memory_fingerprints",
                    "Texts in this scorer's campaign memory over every tenant (the copies of one text from one sender domain count once)",
                )
                .expect("metric"),
            ),
        }
    }
}
