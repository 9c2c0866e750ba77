//! The remediator's Prometheus metrics (served on `/metrics`, see `runtime::ops`).

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use runtime::ops::register;

pub struct RemediatorMetrics {
    /// Mailbox outcomes recorded, by outcome (DONE, NOT_FOUND, FAILED).
    pub outcomes: IntCounterVec,
    /// Remediation events dead-lettered (undecodable, or on another tenant's subject).
    pub dead_letters: IntCounter,
}

impl RemediatorMetrics {
    pub fn new(registry: &Registry) -> Self {
        RemediatorMetrics {
            outcomes: register(
                registry,
                IntCounterVec::new(
                    Opts::new("postern_remediator_outcomes_total", "Mailbox outcomes recorded, by outcome"),
                    &["outcome"],
                )
                .expect("metric"),
            ),
            dead_letters: register(
                registry,
                IntCounter::new("postern_remediator_dead_letters_total", "Remediation events dead-lettered")
                    .expect("metric"),
            ),
        }
    }
}
