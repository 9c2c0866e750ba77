//! The token classifier ([`crate::classifier`]), when a trained model is loaded. Its two
//! probabilities are features of the learned combination ([`crate::combine`]), which
//! decides how much they count on mail like the message at hand; here they are recorded
//! as `content_score` evidence.
//!
//! On its own the classifier decides only when it is all but certain (the tenant's
//! `thresholds.content_spam`, default 0.99): `content_phish` or `content_spam`. That keeps
//! what a tenant teaches by reclassification effective at once, whatever the combination
//! makes of the rest.
//!
//! A verdict needs evidence: with fewer than [`MIN_BODY_WORDS`] words of body text
//! (header-only fragments, nearly empty messages) or fewer than [`MIN_EVIDENCE_TOKENS`]
//! informative tokens, the classifier gives no opinion at all.

use super::ScoreContext;
use crate::classifier::{self, TokenModel};

pub const CONTENT_SPAM: &str = "content_spam";
pub const CONTENT_PHISH: &str = "content_phish";
/// Below the cutoff: the probabilities, as evidence.
pub const CONTENT_SCORE: &str = "content_score";

/// The default cutoff for the classifier alone (a tenant's policy may set its own).
pub const JUNK_CUTOFF: f64 = proto::policy::DEFAULT_CONTENT_SPAM;
/// Fewer informative tokens than this (tokens at least 0.1 from neutral): no opinion.
pub const MIN_EVIDENCE_TOKENS: usize = 15;
/// Fewer words of body text than this: no opinion (the subject and sender alone are not
/// enough to judge by).
pub const MIN_BODY_WORDS: usize = 8;

pub fn check(ctx: &mut ScoreContext<'_>) {
    let models: Vec<&TokenModel> = ctx.facts.token_models.iter().map(|m| m.as_ref()).collect();
    if models.is_empty() {
        return;
    }
    let tokens = classifier::tokenize_with_texts(ctx.message, &ctx.body_texts());
    let Some(score) = classifier::classify(&models, &tokens) else { return };
    let cutoff = ctx.facts.policy.as_ref().map_or(JUNK_CUTOFF, |p| p.policy.thresholds.content_spam);
    if let Some(detection) = detection(&score, tokens.body_words, cutoff) {
        ctx.detections.push(detection);
        ctx.content = Some(score);
    }
}

/// The classifier's detection for a score, or None when it had too little evidence to
/// say anything (then it is no feature either).
pub fn detection(score: &classifier::ContentScore, body_words: usize, cutoff: f64) -> Option<proto::Detection> {
    if score.evidence_tokens < MIN_EVIDENCE_TOKENS || body_words < MIN_BODY_WORDS {
        return None;
    }
    let strongest = score.spam.max(score.phish);
    let name = match (strongest >= cutoff, score.phish >= score.spam) {
        (false, _) => CONTENT_SCORE,
        (true, true) => CONTENT_PHISH,
        (true, false) => CONTENT_SPAM,
    };
    Some(proto::Detection {
        name: name.to_owned(),
        score_milli: (strongest * 10_000.0) as i32,
        evidence: format!(
            "token classifier: spam {:.3}, phishing {:.3} from {} tokens (cutoff {cutoff:.2}){}",
            score.spam,
            score.phish,
            score.evidence_tokens,
            if score.clues.is_empty() { String::new() } else { format!("; clues: {}", score.clues.join(", ")) }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::ContentScore;

    fn score(spam: f64, phish: f64, tokens: usize) -> ContentScore {
        ContentScore { spam, phish, clues: vec!["cheap".into()], evidence_tokens: tokens }
    }

    #[test]
    fn decides_alone_only_when_all_but_certain() {
        assert_eq!(detection(&score(0.995, 0.2, 40), 50, JUNK_CUTOFF).unwrap().name, CONTENT_SPAM);
        assert_eq!(detection(&score(0.3, 0.999, 40), 50, JUNK_CUTOFF).unwrap().name, CONTENT_PHISH);
        let evidence = detection(&score(0.9, 0.2, 40), 50, JUNK_CUTOFF).unwrap();
        assert_eq!(evidence.name, CONTENT_SCORE);
        assert!(evidence.evidence.contains("spam 0.900"), "{}", evidence.evidence);
    }

    #[test]
    fn too_few_tokens_is_no_opinion() {
        // Two missing headers alone once made a "phishing 0.898 from 2 tokens".
        assert_eq!(detection(&score(0.2, 0.898, 2), 50, JUNK_CUTOFF), None);
        assert_eq!(detection(&score(1.0, 0.2, MIN_EVIDENCE_TOKENS - 1), 50, JUNK_CUTOFF), None);
        // A header-only fragment: many subject tokens, no body.
        assert_eq!(detection(&score(1.0, 0.2, 40), 0, JUNK_CUTOFF), None);
        assert_eq!(detection(&score(1.0, 0.2, 40), MIN_BODY_WORDS - 1, JUNK_CUTOFF), None);
    }
}
