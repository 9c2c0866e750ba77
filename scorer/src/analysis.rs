//! The checks. Each check reads the [`ScoreContext`] and adds detections to it; none does
//! I/O. [`crate::verdict`] turns the detections into a disposition.

pub mod abused_tld;
pub mod advertisement_label;
pub mod alignment;
pub mod attachment_link;
pub mod attachment_name;
pub mod attachments;
pub mod brand_impersonation;
pub mod bulk;
pub mod callback_lure;
pub mod content;
pub mod content_classifier;
pub mod context;
pub mod disguised_text;
pub mod domain;
pub mod encrypted;
pub mod from_field;
pub mod greeting;
pub mod hidden_text;
pub mod image_only;
pub mod impersonation;
pub mod link_hosting;
pub mod links;
pub mod lures;
pub mod new_domain;
pub mod recipient_in_link;
pub mod recipient_in_subject;
pub mod risky_attachments;
pub mod snowshoe;
pub mod spamassassin_rules;
pub mod table;
pub mod url_obfuscation;

pub use context::{MessageFacts, ScoreContext};

/// Runs every check in a fixed order (the order of detections in the verdict).
pub fn run_all(ctx: &mut ScoreContext<'_>) {
    bulk::check(ctx);
    alignment::check(ctx);
    from_field::check(ctx);
    attachments::check(ctx);
    encrypted::check(ctx);
    links::check(ctx);
    attachment_link::check(ctx);
    new_domain::check(ctx);
    impersonation::check(ctx);
    brand_impersonation::check(ctx);
    link_hosting::check(ctx);
    abused_tld::check(ctx);
    url_obfuscation::check(ctx);
    risky_attachments::check(ctx);
    attachment_name::check(ctx);
    lures::check(ctx);
    callback_lure::check(ctx);
    disguised_text::check(ctx);
    hidden_text::check(ctx);
    image_only::check(ctx);
    advertisement_label::check(ctx);
    greeting::check(ctx);
    recipient_in_link::check(ctx);
    recipient_in_subject::check(ctx);
    snowshoe::check(ctx);
    link_hosting::corroborate(ctx);
    spamassassin_rules::check(ctx);
    content_classifier::check(ctx);
}
