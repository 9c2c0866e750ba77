//! The checks. Each check reads the [`ScoreContext`] and adds detections to it; none does
//! I/O. [`crate::verdict`] turns the detections into a disposition.

pub mod alignment;
pub mod attachments;
pub mod bulk;
pub mod content;
pub mod content_classifier;
pub mod context;
pub mod domain;
pub mod encrypted;
pub mod impersonation;
pub mod links;
pub mod new_domain;

pub use context::{MessageFacts, ScoreContext};

/// Runs every check in a fixed order (the order of detections in the verdict).
pub fn run_all(ctx: &mut ScoreContext<'_>) {
    bulk::check(ctx);
    alignment::check(ctx);
    attachments::check(ctx);
    encrypted::check(ctx);
    links::check(ctx);
    new_domain::check(ctx);
    impersonation::check(ctx);
    content_classifier::check(ctx);
}
