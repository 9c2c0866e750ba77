//! SPAM and phishing evidence from the token classifier ([`crate::classifier`]), when a
//! trained model is loaded: at or above the cutoff against ham, `content_phish` when the
//! message reads like phishing, else `content_spam` when it reads like spam. Between the
//! unsure mark (0.5) and the cutoff the classifier decides only when an independent sign
//! corroborates it (a link whose text shows another domain, a link to a raw IP address or
//! through a URL shortener, an envelope or a Reply-To of another organization); else it is
//! `content_unsure`
//! evidence.

use super::ScoreContext;
use crate::classifier::{self, TokenModel};

pub const CONTENT_SPAM: &str = "content_spam";
pub const CONTENT_PHISH: &str = "content_phish";
/// Between the ham and spam cutoffs: evidence only (SpamBayes' "unsure").
pub const CONTENT_UNSURE: &str = "content_unsure";

/// The cutoff (a tenant's policy may set its own). SpamBayes uses 0.90; measured on the
/// corpus by cross-validation, 0.80 with corroboration below it catches more at the same
/// false positives.
pub const JUNK_CUTOFF: f64 = 0.80;
/// From here to the cutoff, the classifier decides when corroborated.
pub const UNSURE_MARK: f64 = 0.50;
/// The signs that corroborate an unsure classifier.
const CORROBORATING: [&str; 5] = [
    super::links::LINK_TEXT_MISMATCH,
    super::links::LINK_IP_HOST,
    super::links::LINK_SHORTENER,
    super::alignment::FROM_ENVELOPE_DIFFERS,
    super::alignment::REPLY_TO_DIFFERS,
];
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
    if strongest < HAM_CUTOFF {
        return;
    }
    let corroboration = CORROBORATING.iter().find(|name| ctx.fired(name));
    let decides = strongest >= cutoff || (strongest >= UNSURE_MARK.min(cutoff) && corroboration.is_some());
    let name = match (decides, score.phish >= score.spam) {
        (false, _) => CONTENT_UNSURE,
        (true, true) => CONTENT_PHISH,
        (true, false) => CONTENT_SPAM,
    };
    let corroborated = match corroboration {
        Some(sign) if decides && strongest < cutoff => {
            format!(" (below the cutoff {cutoff:.2}, corroborated by {sign})")
        }
        _ => String::new(),
    };
    ctx.add(
        name,
        (strongest * 10_000.0) as i32,
        format!(
            "token classifier: spam {:.3}, phishing {:.3} from {} tokens{corroborated}; clues: {}",
            score.spam,
            score.phish,
            score.evidence_tokens,
            score.clues.join(", ")
        ),
    );
}
