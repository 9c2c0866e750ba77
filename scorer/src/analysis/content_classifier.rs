//! SPAM and phishing evidence from the token classifier ([`crate::classifier`]), when a
//! trained model is loaded: at or above the spam cutoff against ham, `content_phish` when
//! the message reads like phishing, else `content_spam` when it reads like spam.

use super::ScoreContext;
use crate::classifier::{self, TokenModel};

pub const CONTENT_SPAM: &str = "content_spam";
pub const CONTENT_PHISH: &str = "content_phish";
/// Between the ham and spam cutoffs: evidence only (SpamBayes' "unsure").
pub const CONTENT_UNSURE: &str = "content_unsure";

/// SpamBayes' default spam cutoff (a tenant's policy may set its own).
pub const JUNK_CUTOFF: f64 = 0.90;
/// SpamBayes' default ham cutoff: below it the classifier says nothing.
pub const HAM_CUTOFF: f64 = 0.20;

pub fn check(ctx: &mut ScoreContext<'_>) {
    let models: Vec<&TokenModel> = ctx.facts.token_models.iter().map(|m| m.as_ref()).collect();
    if models.is_empty() {
        return;
    }
    let tokens = classifier::tokenize(ctx.message);
    let Some(score) = classifier::classify(&models, &tokens) else { return };
    let cutoff = ctx.facts.policy.as_ref().map_or(JUNK_CUTOFF, |p| p.policy.thresholds.content_spam);
    let strongest = score.spam.max(score.phish);
    let name = if strongest < HAM_CUTOFF {
        return;
    } else if score.phish >= cutoff {
        CONTENT_PHISH
    } else if score.spam >= cutoff {
        CONTENT_SPAM
    } else {
        CONTENT_UNSURE
    };
    ctx.add(
        name,
        (strongest * 10_000.0) as i32,
        format!(
            "token classifier: spam {:.3}, phishing {:.3}; clues: {}",
            score.spam,
            score.phish,
            score.clues.join(", ")
        ),
    );
}
