//! The learned combination: every detection, SpamAssassin's rule score and the token
//! classifier's two probabilities weighed by logistic regression, instead of hand-set
//! cutoffs and corroboration rules.
//!
//! Two models over one feature vector: `unwanted` (spam or phish against wanted mail, clean
//! and bulk) and `phish` (phish against spam, among unwanted mail). A message is
//! `combined_phish` (SUSPICIOUS) or `combined_spam` (SPAM) when `unwanted` reaches the
//! model's threshold; which of the two, `phish` says. The threshold is chosen under leave
//! one source out on the training data: at most [`TARGET_CLEAN_FALSE_POSITIVES`] of each
//! source's clean mail, scored by a model trained without that source, reaches it.
//!
//! The shipped model (`scorer/model/combination.json`, embedded in the binary) is a product
//! asset like SpamAssassin's score sets: made by `scorer model train`, which records the
//! command and the corpus manifest's digest in the file; `scorer eval --group-by source`
//! trains one per left-out source to measure it honestly.

use crate::analysis::{
    abused_tld, alignment, attachments, brand_impersonation, impersonation, link_hosting, links, lures,
    risky_attachments, snowshoe, spamassassin_rules, url_obfuscation,
};
use crate::classifier::ContentScore;
use proto::Detection;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const COMBINED_SPAM: &str = "combined_spam";
pub const COMBINED_PHISH: &str = "combined_phish";

/// The file format this code reads.
pub const FORMAT: &str = "postern-combination/1";
/// The model shipped with this build.
pub const SHIPPED: &str = include_str!("../model/combination.json");
/// The threshold is set so that at most this share of the training set's clean mail
/// reaches it.
pub const TARGET_CLEAN_FALSE_POSITIVES: f64 = 0.004;
/// The threshold is never below this probability.
pub const MIN_THRESHOLD: f64 = 0.5;

/// SpamAssassin's score sum also enters as steps: 1 when the sum reaches each of these.
/// A logistic regression weighs the sum linearly, but the sum's meaning is not linear (a
/// message at 5, SpamAssassin's own cut-off, is far likelier spam than one at 2.5, while
/// 25 says little more than 12); the steps let the model learn that shape. They are
/// evenly spread around SpamAssassin's `required_score` of 5, not chosen on the corpus.
pub const SA_SCORE_STEPS: &[f64] = &[2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];

/// Detections that enter the model as 0/1 features, by name. The bulk-mail headers
/// (List-Unsubscribe, Precedence, an email service provider's) are not among them: they say
/// how a message was sent, which newsletters and spammers share, and as features they taught
/// the model each source's mixture of the two (leave one source out: 37.4% caught at 0.6% of
/// clean with them, 38.5% at 0.5% without). BULK is still their disposition when the
/// combination does not flag the message.
pub const INDICATORS: &[&str] = &[
    links::LINK_TEXT_MISMATCH,
    links::LINK_IP_HOST,
    links::LINK_SHORTENER,
    links::CREDENTIAL_FORM,
    links::HOMOGRAPH_URL,
    alignment::FROM_ENVELOPE_DIFFERS,
    alignment::REPLY_TO_DIFFERS,
    alignment::DISPLAY_NAME_ADDRESS,
    alignment::DKIM_FAIL,
    alignment::SPF_FAIL,
    alignment::ARC_FAIL,
    attachments::EXECUTABLE_ATTACHMENT,
    attachments::OFFICE_MACRO,
    impersonation::BEC_IMPERSONATION,
    impersonation::LOOKALIKE_DOMAIN,
    brand_impersonation::BRAND_IMPERSONATION,
    link_hosting::RISKY_LINK_HOST,
    url_obfuscation::OBFUSCATED_URL,
    risky_attachments::RISKY_ATTACHMENT,
    lures::CREDENTIAL_LURE,
    lures::PAYMENT_LURE,
    abused_tld::SENDER_ABUSED_TLD,
    abused_tld::LINK_ABUSED_TLD,
    brand_impersonation::BRAND_LINK_SPOOF,
    snowshoe::SNOWSHOE_CAMPAIGN,
];

/// The names of the feature vector, in order.
pub fn feature_names() -> Vec<String> {
    let mut names: Vec<String> =
        ["sa_score", "sa_positive_hits", "classifier_spam", "classifier_phish"].iter().map(|s| s.to_string()).collect();
    names.extend(SA_SCORE_STEPS.iter().map(|step| format!("sa_score_at_least_{step}")));
    names.extend(INDICATORS.iter().map(|s| s.to_string()));
    names
}

/// The feature vector of a message: from its detections (before the combination's own)
/// and the classifier's score, when it gave one. When it gave none (too few words or
/// tokens), its two probabilities are an even 0.5 and nothing else says so: a feature that
/// marked the silence (`classifier_silent`, until `postern-model/44`) learnt that short
/// messages in the training sources are mostly spam, and made the lack of evidence
/// evidence (+1.0 to the log-odds of SpamAssassin's bodyless test messages); leave one
/// source out, 80.0% caught without it against 79.2% with it, clean flagged 0.78% both.
pub fn features(detections: &[Detection], content: Option<&ContentScore>) -> Vec<f64> {
    let sa = spamassassin_rules::total_score(detections).clamp(-10.0, 25.0);
    let positive =
        detections.iter().filter(|d| d.name.starts_with(spamassassin_rules::PREFIX) && d.score_milli > 0).count();
    let mut x =
        vec![sa, (positive as f64).min(20.0), content.map_or(0.5, |c| c.spam), content.map_or(0.5, |c| c.phish)];
    x.extend(SA_SCORE_STEPS.iter().map(|step| if sa >= *step { 1.0 } else { 0.0 }));
    x.extend(INDICATORS.iter().map(|name| if detections.iter().any(|d| d.name == *name) { 1.0 } else { 0.0 }));
    x
}

/// A logistic regression over standardised features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub bias: f64,
    pub weights: Vec<f64>,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Logistic {
    /// Each feature's contribution to the log-odds.
    pub fn contributions(&self, x: &[f64]) -> Vec<f64> {
        x.iter().enumerate().map(|(i, v)| self.weights[i] * (v - self.mean[i]) / self.scale[i]).collect()
    }

    pub fn probability(&self, x: &[f64]) -> f64 {
        sigmoid(self.bias + self.contributions(x).iter().sum::<f64>())
    }

    /// Fits by full-batch gradient descent with L2 regularisation; `positive[i]` is the
    /// label of `xs[i]`. Deterministic.
    pub fn fit(xs: &[Vec<f64>], positive: &[bool], l2: f64) -> Logistic {
        let n = xs.len().max(1) as f64;
        let dims = xs.first().map_or(0, Vec::len);
        let mean: Vec<f64> = (0..dims).map(|j| xs.iter().map(|x| x[j]).sum::<f64>() / n).collect();
        let scale: Vec<f64> = (0..dims)
            .map(|j| {
                let var = xs.iter().map(|x| (x[j] - mean[j]).powi(2)).sum::<f64>() / n;
                if var > 1e-12 { var.sqrt() } else { 1.0 }
            })
            .collect();
        let z: Vec<Vec<f64>> = xs.iter().map(|x| (0..dims).map(|j| (x[j] - mean[j]) / scale[j]).collect()).collect();
        let positives = positive.iter().filter(|p| **p).count() as f64;
        let mut w = vec![0.0; dims];
        let mut b = ((positives + 1.0) / (n - positives + 1.0)).ln();
        let rate = 0.5;
        for _ in 0..1500 {
            let mut gw = vec![0.0; dims];
            let mut gb = 0.0;
            for (zi, &yi) in z.iter().zip(positive) {
                let p = sigmoid(b + zi.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>());
                let err = p - if yi { 1.0 } else { 0.0 };
                gb += err;
                for j in 0..dims {
                    gw[j] += err * zi[j];
                }
            }
            b -= rate * gb / n;
            for j in 0..dims {
                w[j] -= rate * (gw[j] / n + l2 * w[j]);
            }
        }
        Logistic { bias: b, weights: w, mean, scale }
    }
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Provenance {
    /// The command that reproduces the file.
    pub command: String,
    /// SHA-256 of the corpus's MANIFEST.tsv.
    pub corpus_manifest_sha256: String,
    /// Digest of the SpamAssassin rule files the features were computed with.
    pub spamassassin_rules_digest: String,
    pub messages: usize,
    pub clean_messages: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombinationModel {
    pub format: String,
    /// Named in the rules version of every disposition it decides.
    pub version: String,
    pub features: Vec<String>,
    pub unwanted: Logistic,
    pub phish: Logistic,
    pub threshold: f64,
    pub provenance: Provenance,
}

#[derive(Debug, Error)]
pub enum ModelError {
    /// The file is not JSON of this shape: refused at start.
    #[error("combination model: {0}")]
    Parse(#[from] serde_json::Error),
    /// Another format, or features this build does not compute: refused at start.
    #[error("combination model: {0}")]
    Incompatible(String),
}

/// What the combination makes of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    pub unwanted: f64,
    pub phish: f64,
    /// (feature, contribution to the unwanted log-odds), largest first, non-zero only.
    pub top: Vec<(String, f64)>,
}

impl CombinationModel {
    pub fn from_json(text: &str) -> Result<CombinationModel, ModelError> {
        let model: CombinationModel = serde_json::from_str(text)?;
        if model.format != FORMAT {
            return Err(ModelError::Incompatible(format!("format {:?}, this build reads {FORMAT:?}", model.format)));
        }
        if model.features != feature_names() {
            return Err(ModelError::Incompatible(
                "its features are not the ones this build computes: retrain it with `scorer model train`".into(),
            ));
        }
        let dims = model.features.len();
        for l in [&model.unwanted, &model.phish] {
            if l.weights.len() != dims || l.mean.len() != dims || l.scale.len() != dims {
                return Err(ModelError::Incompatible("weights do not match the features".into()));
            }
        }
        Ok(model)
    }

    pub fn shipped() -> Result<CombinationModel, ModelError> {
        CombinationModel::from_json(SHIPPED)
    }

    /// The features the model cannot weigh: constant over its training set (a detection
    /// that never fired there, such as `dkim_fail` on a corpus scored offline), so their
    /// weight stayed exactly 0. Their own verdicts (a SPOOF for a failed DKIM signature
    /// with a misaligned From, say) and evidence still apply; the combination counts them
    /// for nothing until a training set has them.
    pub fn unweighed_features(&self) -> Vec<&str> {
        self.features.iter().zip(&self.unwanted.weights).filter(|(_, w)| **w == 0.0).map(|(f, _)| f.as_str()).collect()
    }

    pub fn combine(&self, x: &[f64]) -> Combined {
        let contributions = self.unwanted.contributions(x);
        let mut top: Vec<(String, f64)> =
            self.features.iter().cloned().zip(contributions).filter(|(_, c)| c.abs() >= 0.05).collect();
        top.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        top.truncate(6);
        Combined { unwanted: self.unwanted.probability(x), phish: self.phish.probability(x), top }
    }

    /// The combination's detection, if it reaches the threshold.
    pub fn decide(&self, detections: &[Detection], content: Option<&ContentScore>) -> Option<Detection> {
        let x = features(detections, content);
        let c = self.combine(&x);
        if c.unwanted < self.threshold {
            return None;
        }
        let name = if c.phish >= 0.5 { COMBINED_PHISH } else { COMBINED_SPAM };
        let why: Vec<String> = c.top.iter().map(|(f, v)| format!("{f} {v:+.2}")).collect();
        Some(Detection {
            name: name.to_owned(),
            score_milli: (c.unwanted * 10_000.0) as i32,
            evidence: format!(
                "learned combination {}: unwanted {:.3} (threshold {:.3}), phishing {:.3}; contributions: {}",
                self.version,
                c.unwanted,
                self.threshold,
                c.phish,
                why.join(", ")
            ),
        })
    }
}

/// A labelled training example for the combination.
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Vec<f64>,
    pub unwanted: bool,
    pub phish: bool,
    /// Clean mail (the threshold is set on it; bulk is wanted but not clean).
    pub clean: bool,
    /// Where it came from (its source): the threshold is set on predictions for each
    /// group by a model that never saw it.
    pub group: String,
}

fn fit_unwanted<'e>(examples: impl Iterator<Item = &'e Example>) -> Logistic {
    let (xs, ys): (Vec<Vec<f64>>, Vec<bool>) = examples.map(|e| (e.features.clone(), e.unwanted)).unzip();
    Logistic::fit(&xs, &ys, 1e-3)
}

/// Trains both models on the examples, and sets the threshold under leave one group out:
/// each group's clean mail is scored by a model trained without that group, and the
/// threshold is the lowest that at most [`TARGET_CLEAN_FALSE_POSITIVES`] of those scores
/// reach. (With one group only, on the model's own scores.)
pub fn train(examples: &[Example], version: &str, provenance: Provenance) -> CombinationModel {
    let unwanted = fit_unwanted(examples.iter());
    let groups: std::collections::BTreeSet<&str> = examples.iter().map(|e| e.group.as_str()).collect();
    let mut clean: Vec<f64> = Vec::new();
    if groups.len() > 1 {
        for group in groups {
            let without = fit_unwanted(examples.iter().filter(|e| e.group != group));
            clean.extend(
                examples.iter().filter(|e| e.clean && e.group == group).map(|e| without.probability(&e.features)),
            );
        }
    } else {
        clean.extend(examples.iter().filter(|e| e.clean).map(|e| unwanted.probability(&e.features)));
    }
    let junk: Vec<&Example> = examples.iter().filter(|e| e.unwanted).collect();
    let phish = Logistic::fit(
        &junk.iter().map(|e| e.features.clone()).collect::<Vec<_>>(),
        &junk.iter().map(|e| e.phish).collect::<Vec<_>>(),
        1e-3,
    );
    clean.sort_by(|a, b| b.total_cmp(a));
    // The highest threshold index allowed: at most TARGET of clean at or above it.
    let allowed = (clean.len() as f64 * TARGET_CLEAN_FALSE_POSITIVES).floor() as usize;
    let threshold = clean.get(allowed).map_or(MIN_THRESHOLD, |p| (p + 1e-9).max(MIN_THRESHOLD)).min(0.999);
    CombinationModel {
        format: FORMAT.to_owned(),
        version: version.to_owned(),
        features: feature_names(),
        unwanted,
        phish,
        threshold,
        provenance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(name: &str, score: i32) -> Detection {
        Detection { name: name.into(), score_milli: score, evidence: String::new() }
    }

    #[test]
    fn the_shipped_model_loads_and_matches_the_features() {
        let model = CombinationModel::shipped().expect("the shipped model");
        assert_eq!(model.features, feature_names());
        assert!(model.threshold >= MIN_THRESHOLD && model.threshold < 1.0);
        assert!(!model.provenance.command.is_empty() && !model.provenance.corpus_manifest_sha256.is_empty());
        // Trained as `scorer eval` reads the corpus, with a campaign memory: a model trained
        // without one never saw `snowshoe_campaign` fire and gives it no weight (as
        // `postern-model/52` and earlier did), so the check would count for nothing.
        let at = model.features.iter().position(|f| f == snowshoe::SNOWSHOE_CAMPAIGN).expect("a feature");
        assert!(model.unwanted.weights[at] > 0.0, "snowshoe_campaign weighs {}", model.unwanted.weights[at]);
    }

    #[test]
    fn features_read_detections_and_the_classifier() {
        let detections = [det("sa:A", 2500), det("sa:B", -1000), det("sa:C", 1000), det(links::LINK_SHORTENER, 0)];
        let content = ContentScore { spam: 0.9, phish: 0.2, clues: Vec::new(), evidence_tokens: 40 };
        let x = features(&detections, Some(&content));
        let names = feature_names();
        let at = |n: &str| x[names.iter().position(|f| f == n).unwrap()];
        assert_eq!(at("sa_score"), 2.5);
        assert_eq!(at("sa_positive_hits"), 2.0);
        assert_eq!(at("sa_score_at_least_2"), 1.0, "2.5 reaches the step at 2");
        assert_eq!(at("sa_score_at_least_3"), 0.0, "and not the one at 3");
        assert_eq!(at("sa_score_at_least_10"), 0.0);
        assert_eq!(at("classifier_spam"), 0.9);
        assert_eq!(at(links::LINK_SHORTENER), 1.0);
        assert_eq!(at(links::LINK_IP_HOST), 0.0);
        // No opinion is an even one: nothing says that the classifier was silent, so a
        // message too short for it is judged on the other evidence alone.
        let silent = features(&[], None);
        assert_eq!(
            (silent[names.iter().position(|f| f == "classifier_spam").unwrap()], silent.len()),
            (0.5, names.len())
        );
        assert!(!names.iter().any(|n| n.contains("silent")));
    }

    #[test]
    fn learns_separates_and_explains() {
        // Unwanted mail has a high rule score; phish has a credential lure too.
        let mut examples = Vec::new();
        for i in 0..200 {
            let wobble = f64::from(i % 7) * 0.3;
            let mut clean = features(&[det("sa:X", ((wobble - 1.0) * 1000.0) as i32)], None);
            clean[2] = 0.1;
            let group = format!("g{}", i % 2);
            examples.push(Example {
                features: clean,
                unwanted: false,
                phish: false,
                clean: true,
                group: group.clone(),
            });
            let spam = features(&[det("sa:X", ((6.0 + wobble) * 1000.0) as i32)], None);
            examples.push(Example { features: spam, unwanted: true, phish: false, clean: false, group: group.clone() });
            let phish =
                features(&[det("sa:X", ((4.0 + wobble) * 1000.0) as i32), det(links::CREDENTIAL_FORM, 0)], None);
            examples.push(Example { features: phish, unwanted: true, phish: true, clean: false, group });
        }
        let model = train(&examples, "test-1", Provenance::default());
        let json = serde_json::to_string(&model).unwrap();
        assert_eq!(CombinationModel::from_json(&json).unwrap(), model, "round trip");
        let spam = model.decide(&[det("sa:X", 7000)], None).expect("spam is unwanted");
        assert_eq!(spam.name, COMBINED_SPAM);
        assert!(spam.evidence.contains("sa_score +"), "{}", spam.evidence);
        let phish = model.decide(&[det("sa:X", 5000), det(links::CREDENTIAL_FORM, 0)], None).expect("phish");
        assert_eq!(phish.name, COMBINED_PHISH);
        assert_eq!(model.decide(&[det("sa:X", -500)], None), None, "clean stays clean");
        // A detection no training example had cannot be weighed, and is named as such.
        let unweighed = model.unweighed_features();
        assert!(unweighed.contains(&links::LINK_SHORTENER), "{unweighed:?}");
        assert!(!unweighed.contains(&links::CREDENTIAL_FORM) && !unweighed.contains(&"sa_score"), "{unweighed:?}");
        let mut other = model.clone();
        other.features.pop();
        assert!(CombinationModel::from_json(&serde_json::to_string(&other).unwrap()).is_err());
    }
}
