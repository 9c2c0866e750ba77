//! `scorer eval`: scores a folder of `.eml` files with no NATS, and measures the verdicts
//! against labels: from a manifest (`MANIFEST.tsv`: `file` and `label` columns, and the
//! `source_repo` column that groups files by where they came from), or from the layout
//! `DIR/<label>/*.eml`.
//!
//! Generalization is measured by leave-one-group-out ([`leave_one_group_out`]): each source
//! is scored by a token classifier and a combination model that never saw it. Random folds
//! mix every source into every fold and so measure memory of the sources; they are kept
//! for comparison only.

use crate::analysis::MessageFacts;
use crate::auth::{Authenticator, Delivery};
use crate::classifier::{Class, TokenModel, TokenSet};
use crate::combine::{self, CombinationModel, Example, Provenance};
use crate::score::{Analysis, Verdict, analyze, finish, score};
use proto::{Attribute, Disposition};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Problems reading a corpus: the command reports them and exits non-zero.
#[derive(Debug, Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
}

/// One scored file.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Path relative to the corpus folder, with `/` separators.
    pub file: String,
    /// Its label, when the manifest or the folder layout gives one.
    pub label: Option<String>,
    pub verdict: Verdict,
}

/// What a label expects of a verdict. The corpus's labels and their expected outcomes
/// (see its README); `malformed` only has to be scored without error.
pub fn is_hit(label: &str, verdict: &Verdict) -> Option<bool> {
    use Disposition::*;
    let d = verdict.disposition;
    Some(match label {
        "clean" => matches!(d, None | Bulk),
        "bulk" => d == Bulk,
        "spam" => d == Spam,
        "phish" => matches!(d, Malicious | Suspicious),
        "spoof" => d == Spoof,
        "encrypted" => verdict.attributes.contains(&Attribute::Encrypted),
        "malformed" => true,
        _ => return Option::None,
    })
}

/// Every `.eml` below `dir`, sorted, so runs are comparable.
pub fn find_messages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml")) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One manifest row.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    pub label: String,
    /// The `source_repo` column, when the manifest has one.
    pub source: Option<String>,
}

/// A corpus manifest: file (relative path) -> label and source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifest {
    pub entries: HashMap<String, ManifestEntry>,
}

/// Reads a manifest: a TSV with a header naming `file` and `label` columns (and optionally
/// `source_repo`).
pub fn read_manifest(path: &Path) -> Result<Manifest, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read { path: path.to_owned(), source })?;
    let bad = |reason: String| EvalError::Manifest { path: path.to_owned(), reason };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or_else(|| bad("empty".into()))?.split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let file_col = col("file").ok_or_else(|| bad("no \"file\" column".into()))?;
    let label_col = col("label").ok_or_else(|| bad("no \"label\" column".into()))?;
    let source_col = col("source_repo");
    let mut entries = HashMap::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(label)) = (fields.get(file_col), fields.get(label_col)) else {
            return Err(bad(format!("line {} has too few columns", n + 2)));
        };
        let source = source_col.and_then(|c| fields.get(c)).map(|s| s.to_string()).filter(|s| !s.is_empty());
        entries.insert(file.to_string(), ManifestEntry { label: label.to_string(), source });
    }
    Ok(Manifest { entries })
}

/// The source of a file without a manifest source: the prefix of its file name before the
/// first `-`, `_` or `.` (`sapc-00123.eml` -> `sapc`).
pub fn source_prefix(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    let prefix = name.split(['-', '_', '.']).next().unwrap_or(name);
    if prefix.is_empty() { name.to_owned() } else { prefix.to_owned() }
}

/// The envelope sender a stored message implies: its Return-Path, as delivery wrote it.
pub fn facts_from_stored_message(raw: &[u8]) -> MessageFacts {
    let envelope_sender = mail_parser::MessageParser::new()
        .parse_headers(raw)
        .and_then(|m| m.header_raw("Return-Path").map(|v| v.trim().trim_matches(['<', '>']).trim().to_owned()))
        .unwrap_or_default();
    MessageFacts { envelope_sender, ..Default::default() }
}

/// A message file of the corpus, with its label and source.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// Path relative to the corpus folder, with `/` separators.
    pub file: String,
    pub label: Option<String>,
    /// Where it came from: the manifest's `source_repo`, else [`source_prefix`].
    pub source: String,
    pub raw: Vec<u8>,
}

/// Reads every `.eml` below `corpus` with its label: from `manifest` when given, else the
/// first folder of its path.
pub fn load_corpus(corpus: &Path, manifest: Option<&Manifest>) -> Result<Vec<CorpusFile>, EvalError> {
    let read_error = |path: &Path| {
        let path = path.to_owned();
        move |source| EvalError::Read { path, source }
    };
    let mut out = Vec::new();
    for path in find_messages(corpus).map_err(read_error(corpus))? {
        let raw = std::fs::read(&path).map_err(read_error(&path))?;
        let relative = path.strip_prefix(corpus).unwrap_or(&path);
        let file = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let entry = manifest.and_then(|m| m.entries.get(&file));
        let label = match manifest {
            Some(_) => entry.map(|e| e.label.clone()),
            None => (relative.components().count() > 1)
                .then(|| relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()))
                .flatten(),
        };
        let source = entry.and_then(|e| e.source.clone()).unwrap_or_else(|| source_prefix(&file));
        out.push(CorpusFile { file, label, source, raw });
    }
    Ok(out)
}

/// What a corpus label teaches the token classifier: clean mail is ham, bulk is bulk
/// (wanted, weighed lightly: [`crate::classifier::BULK_WEIGHT`]), spam is spam, phish is
/// phishing; other labels teach nothing.
pub fn class_of_label(label: &str) -> Option<Class> {
    match label {
        "clean" => Some(Class::Ham),
        "bulk" => Some(Class::Bulk),
        "spam" => Some(Class::Spam),
        "phish" => Some(Class::Phish),
        _ => None,
    }
}

/// The tokens of a labelled file that teaches something, else None.
pub fn training_example(file: &CorpusFile) -> Option<(Class, TokenSet)> {
    let class = class_of_label(file.label.as_deref()?)?;
    let message = crate::parse::parse_message(&file.raw)?;
    Some((class, crate::classifier::tokenize(&message)))
}

/// Which of `folds` cross-validation folds a file is in: a stable hash of its path, so a
/// run is repeatable and a file never moves between folds.
pub fn fold_of(file: &str, folds: u32) -> u32 {
    let hash = file.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % u64::from(folds.max(1))) as u32
}

/// A model trained on every labelled file that teaches something.
pub fn train_on(files: &[CorpusFile]) -> TokenModel {
    let mut model = TokenModel::default();
    files.iter().filter_map(training_example).for_each(|(class, tokens)| model.learn(class, &tokens));
    model
}

/// What scores besides the checks and the token classifier: the operator's domain ages,
/// SpamAssassin's rules and the learned combination.
#[derive(Debug, Clone, Default)]
pub struct Detectors {
    pub domain_ages: Option<Arc<crate::analysis::new_domain::DomainAges>>,
    pub spamassassin: Option<Arc<crate::spamassassin::RuleSet>>,
    pub combination: Option<Arc<CombinationModel>>,
    /// The campaign memory ([`crate::campaign`]) each file is compared with and then
    /// remembered in, arriving when its Date header says (None: no file is compared with
    /// earlier ones). [`prepare`] reads each group as a tenant of its own; [`score_file`]
    /// reads every file as one tenant's.
    pub campaigns: Option<Arc<std::sync::RwLock<crate::campaign::CampaignMemory>>>,
    /// The configuration's `trusted_relays` (none for the corpus, whose sources were
    /// received by servers nobody configured here).
    pub trusted_relays: Arc<Vec<proto::net::Network>>,
}

/// The campaign memory a corpus run reads its groups with: the scorer's default window, every
/// file kept (a corpus is read once, in the order its mail was sent). `scorer eval` and
/// `scorer model train` both take it, so the shipped combination learns from the same
/// `snowshoe_campaign` hits that leave one source out is measured with (until
/// `postern-model/53` training read the corpus with no memory, the feature never fired
/// there, and the shipped model gave it no weight).
pub fn corpus_campaign_memory() -> Arc<std::sync::RwLock<crate::campaign::CampaignMemory>> {
    Arc::new(std::sync::RwLock::new(crate::campaign::CampaignMemory::for_stored_files(
        crate::config::Config::default().campaign_window,
    )))
}

/// The facts of a stored file, authenticated with `auth` (offline: a DNS fixture at most).
pub async fn facts_for(file: &CorpusFile, auth: &Authenticator, detectors: &Detectors) -> MessageFacts {
    let mut facts = facts_from_stored_message(&file.raw);
    let delivery = Delivery { mail_from: &facts.envelope_sender, trusted: &detectors.trusted_relays };
    facts.auth = Some(auth.authenticate(&file.raw, &delivery).await);
    facts.trusted_relays = detectors.trusted_relays.clone();
    facts.now = proto::Timestamp::now();
    facts.domain_ages = detectors.domain_ages.clone();
    facts.spamassassin = detectors.spamassassin.clone();
    facts.combination = detectors.combination.clone();
    facts
}

/// Scores one file as the scorer would.
pub async fn score_file(
    file: &CorpusFile,
    auth: &Authenticator,
    detectors: &Detectors,
    token_models: Vec<Arc<TokenModel>>,
) -> Scored {
    let mut facts = facts_for(file, auth, detectors).await;
    facts.token_models = token_models;
    // The Date header is read only where there is a memory to place the file in.
    facts.campaigns = detectors.campaigns.as_ref().map(|memory| {
        let arrived_ms = arrival_ms(&file.raw).unwrap_or_else(|| crate::campaign::at_ms(facts.now));
        campaign_scope(memory, arrived_ms, "corpus")
    });
    let verdict = score(&file.raw, &facts);
    if let (Some(scope), Some(fingerprint)) = (&facts.campaigns, &verdict.fingerprint) {
        scope.observe(fingerprint.clone(), scope.arrived_ms.unwrap_or_default());
    }
    Scored { file: file.file.clone(), label: file.label.clone(), verdict }
}

/// A stored file's place in the campaign `memory`: `tenant`'s, arriving at `arrived_ms` (its
/// Date header, the corpus's only clue to it; a file without one arrives "now"), so that a
/// text sent again more than the window later is no match, as in a deployment.
fn campaign_scope(
    memory: &Arc<std::sync::RwLock<crate::campaign::CampaignMemory>>,
    arrived_ms: i64,
    tenant: &str,
) -> crate::campaign::CampaignScope {
    crate::campaign::CampaignScope {
        tenant: Arc::from(tenant),
        memory: memory.clone(),
        arrived_ms: Some(arrived_ms),
        published_as: None,
    }
}

/// When a stored file's Date header says it was sent, in milliseconds (None: no Date).
/// The headers alone: a second parse of the whole message would cost the bench a
/// twentieth of its time.
fn arrival_ms(raw: &[u8]) -> Option<i64> {
    mail_parser::MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| m.date().map(|d| d.to_timestamp().saturating_mul(1000)))
}

/// A file analysed once (every check, SpamAssassin's rules, no classifier, no combination),
/// with its tokens: what a leave-one-group-out run scores again and again with other models.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub file: String,
    pub label: Option<String>,
    pub group: String,
    pub analysis: Analysis,
    pub facts: MessageFacts,
    /// The classifier's tokens (None: no header could be parsed).
    pub tokens: Option<TokenSet>,
    /// What the file teaches (None: its label teaches nothing).
    pub class: Option<Class>,
}

/// Analyses every file once. `group_of` names each file's group (its source, or a fold).
pub async fn prepare(
    files: &[CorpusFile],
    auth: &Authenticator,
    detectors: &Detectors,
    group_of: &dyn Fn(&CorpusFile) -> String,
) -> Vec<Prepared> {
    let mut out = Vec::with_capacity(files.len());
    // Each group is one tenant's stream, read in the order its mail arrived (its Date
    // headers; a file without one last, as if it came now; then by name): the campaign
    // memory meets each file after those sent before it, and a leave-one-group-out run's
    // autolearning learns from them in the same order. (Read in file order, a source's
    // clean mail came before all of its spam, `clean/` before `spam/`, and nothing learned
    // from the spam could ever touch the clean mail.)
    let now = proto::Timestamp::now();
    let mut order: Vec<(i64, &CorpusFile)> =
        files.iter().map(|file| (arrival_ms(&file.raw).unwrap_or(crate::campaign::at_ms(now)), file)).collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.file.cmp(&b.1.file)));
    for (arrived_ms, file) in order {
        let group = group_of(file);
        let mut facts = facts_for(file, auth, detectors).await;
        facts.combination = None;
        facts.campaigns = detectors.campaigns.as_ref().map(|memory| campaign_scope(memory, arrived_ms, &group));
        let mut analysis = analyze(&file.raw, &facts);
        if let (Some(scope), Some(fingerprint)) = (facts.campaigns.take(), analysis.fingerprint.take()) {
            scope.observe(fingerprint, scope.arrived_ms.unwrap_or_default());
        }
        out.push(Prepared {
            file: file.file.clone(),
            label: file.label.clone(),
            group,
            analysis,
            facts,
            tokens: crate::parse::parse_message(&file.raw).map(|m| crate::classifier::tokenize(&m).without_text()),
            class: file.label.as_deref().and_then(class_of_label),
        });
    }
    out
}

/// The analysis with the classifier's opinion added, as [`crate::analysis::content_classifier`]
/// adds it when the scorer holds `model`.
fn with_classifier(p: &Prepared, model: Option<&TokenModel>) -> Analysis {
    let mut analysis = p.analysis.clone();
    // Every file is classified, as the scorer would, whether or not its label teaches.
    let (Some(model), Some(tokens)) = (model, &p.tokens) else { return analysis };
    if let Some(score) = crate::classifier::classify(&[model], tokens)
        && let Some(detection) = crate::analysis::content_classifier::detection(
            &score,
            tokens.body_words,
            crate::analysis::content_classifier::JUNK_CUTOFF,
        )
    {
        analysis.detections.push(detection);
        analysis.content = Some(score);
    }
    analysis
}

/// A training example for the combination, from an analysis.
fn combination_example(p: &Prepared, analysis: &Analysis) -> Option<Example> {
    let label = p.label.as_deref()?;
    let (unwanted, phish, clean) = match label {
        "clean" => (false, false, true),
        "bulk" => (false, false, false),
        "spam" => (true, false, false),
        "phish" => (true, true, false),
        _ => return None,
    };
    Some(Example {
        features: combine::features(&analysis.detections, analysis.content.as_ref()),
        unwanted,
        phish,
        clean,
        group: p.group.clone(),
    })
}

fn model_without(full: &TokenModel, prepared: &[Prepared], groups: &[&str]) -> TokenModel {
    let mut model = full.clone();
    for p in prepared.iter().filter(|p| groups.contains(&p.group.as_str())) {
        if let (Some(class), Some(tokens)) = (p.class, &p.tokens) {
            model.unlearn(class, tokens);
        }
    }
    model
}

/// The combination's training examples from every group but `excluded`: each group's
/// classifier features come from a model trained without that group (and without
/// `excluded`), so the combination learns how far the classifier carries to unseen mail.
pub fn combination_examples(prepared: &[Prepared], full: Option<&TokenModel>, excluded: Option<&str>) -> Vec<Example> {
    let groups: BTreeSet<&str> = prepared.iter().map(|p| p.group.as_str()).filter(|g| Some(*g) != excluded).collect();
    let mut out = Vec::new();
    for group in groups {
        let leave_out: Vec<&str> = excluded.into_iter().chain(std::iter::once(group)).collect();
        let model = full.map(|f| model_without(f, prepared, &leave_out));
        for p in prepared.iter().filter(|p| p.group == group) {
            let analysis = with_classifier(p, model.as_ref());
            out.extend(combination_example(p, &analysis));
        }
    }
    out
}

/// The token model of every labelled prepared file.
pub fn full_model(prepared: &[Prepared]) -> TokenModel {
    let mut model = TokenModel::default();
    for p in prepared {
        if let (Some(class), Some(tokens)) = (p.class, &p.tokens) {
            model.learn(class, tokens);
        }
    }
    model
}

/// Leave-one-group-out: every group is scored by a classifier trained on the other groups
/// and (with `combine`) a combination model trained and thresholded on them too, never on
/// itself. `classifier`: false scores with rules alone (no token classifier anywhere).
/// `autolearn`: as a deployed scorer does ([`crate::autolearn`]), the group's files are
/// scored in order and each one the scorer would autolearn as spam is taught to the group's
/// classifier before the next is scored (from the scorer's own verdict: no label of the
/// group is read).
pub fn leave_one_group_out(
    prepared: &[Prepared],
    classifier: bool,
    combine_models: bool,
    autolearn: bool,
) -> Vec<Scored> {
    let full = classifier.then(|| full_model(prepared));
    let groups: BTreeSet<&str> = prepared.iter().map(|p| p.group.as_str()).collect();
    let mut scored = Vec::with_capacity(prepared.len());
    for group in groups {
        let model = full.as_ref().map(|f| model_without(f, prepared, &[group]));
        let combination = combine_models.then(|| {
            let examples = combination_examples(prepared, full.as_ref(), Some(group));
            Arc::new(combine::train(&examples, &format!("loso-without-{group}"), Provenance::default()))
        });
        let mut model = model;
        for p in prepared.iter().filter(|p| p.group == group) {
            let analysis = with_classifier(p, model.as_ref());
            let mut facts = p.facts.clone();
            facts.combination = combination.clone();
            let verdict = finish(analysis, &facts);
            if autolearn
                && let (Some(model), Some(tokens), Some(label)) =
                    (model.as_mut(), &p.tokens, crate::autolearn::label_for(&verdict))
            {
                model.learn(crate::learner::class_of(label), tokens);
            }
            scored.push(Scored { file: p.file.clone(), label: p.label.clone(), verdict });
        }
    }
    scored.sort_by(|a, b| a.file.cmp(&b.file));
    scored
}

/// The shipped combination model: trained on every group, each group's classifier features
/// from a model that never saw it.
pub fn train_combination(prepared: &[Prepared], version: &str, provenance: Provenance) -> CombinationModel {
    let full = full_model(prepared);
    let examples = combination_examples(prepared, Some(&full), None);
    let provenance = Provenance {
        messages: examples.len(),
        clean_messages: examples.iter().filter(|e| e.clean).count(),
        ..provenance
    };
    combine::train(&examples, version, provenance)
}

/// The classifier's opinion in a feature table: spam, phishing, informative tokens (None:
/// no opinion, too few training messages).
pub type ClassifierCell = Option<(f64, f64, usize)>;

/// One row of `scorer eval --features-out`: what a combination model could be trained on,
/// for research outside the scorer (another learner, other features) under the same
/// leave-one-source-out discipline.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureRow {
    pub file: String,
    pub label: Option<String>,
    pub group: String,
    /// Every detection before the classifier and the combination: (name, score_milli).
    pub detections: Vec<(String, i32)>,
    pub body_words: usize,
    /// group G -> the classifier's opinion from a model trained without G and without this
    /// row's own group (G = the row's own group: the leave-one-source-out opinion). A
    /// combination trained for left-out group G uses, for its training rows, the cell
    /// under G; the left-out rows use their own group's cell.
    pub classifier: BTreeMap<String, ClassifierCell>,
}

/// The feature table of a prepared corpus (see [`FeatureRow`]).
pub fn feature_table(prepared: &[Prepared]) -> Vec<FeatureRow> {
    let full = full_model(prepared);
    let groups: Vec<&str> = prepared.iter().map(|p| p.group.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut rows: Vec<FeatureRow> = prepared
        .iter()
        .map(|p| FeatureRow {
            file: p.file.clone(),
            label: p.label.clone(),
            group: p.group.clone(),
            detections: p.analysis.detections.iter().map(|d| (d.name.clone(), d.score_milli)).collect(),
            body_words: p.tokens.as_ref().map_or(0, |t| t.body_words),
            classifier: BTreeMap::new(),
        })
        .collect();
    for (i, own) in groups.iter().enumerate() {
        for other in &groups[i..] {
            let model = model_without(&full, prepared, &[own, other]);
            for (p, row) in prepared.iter().zip(rows.iter_mut()) {
                let key = if p.group == *own {
                    other
                } else if p.group == *other {
                    own
                } else {
                    continue;
                };
                let cell = p
                    .tokens
                    .as_ref()
                    .and_then(|t| crate::classifier::classify(&[&model], t))
                    .map(|c| (c.spam, c.phish, c.evidence_tokens));
                row.classifier.insert(key.to_string(), cell);
            }
        }
    }
    rows
}

/// How one label fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelScore {
    pub messages: usize,
    pub hits: usize,
    /// Of the labelled messages whose verdict this label would count as its own, the
    /// share that carry this label (None when no message got such a verdict).
    pub precision: Option<f64>,
    /// Share of this label's messages with the expected verdict.
    pub recall: f64,
}

/// The evaluation of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub messages: usize,
    /// label -> disposition -> messages (unlabelled files under "-").
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    pub labels: BTreeMap<String, LabelScore>,
    /// Clean messages given anything but NONE or BULK.
    pub clean_false_positive_rate: Option<f64>,
    /// Spam and phish given a threat or spam verdict (MALICIOUS, SUSPICIOUS, SPOOF, SPAM;
    /// not BULK, not NONE).
    pub spam_phish_caught: Option<f64>,
    /// The same for spam alone and phish alone.
    pub spam_caught: Option<f64>,
    pub phish_caught: Option<f64>,
}

/// A threat or spam verdict: what "caught" means.
pub fn is_caught(d: Disposition) -> bool {
    matches!(d, Disposition::Malicious | Disposition::Suspicious | Disposition::Spoof | Disposition::Spam)
}

pub fn summarize(scored: &[Scored]) -> Summary {
    let mut summary = Summary { messages: scored.len(), ..Default::default() };
    for s in scored {
        let label = s.label.clone().unwrap_or_else(|| "-".to_owned());
        *summary.confusion.entry(label).or_default().entry(s.verdict.disposition.as_str().to_owned()).or_default() += 1;
    }
    let labels: Vec<String> =
        scored.iter().filter_map(|s| s.label.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    for label in labels {
        let mine: Vec<&Scored> = scored.iter().filter(|s| s.label.as_deref() == Some(&label)).collect();
        let Some(_) = mine.first().and_then(|s| is_hit(&label, &s.verdict)) else { continue };
        let hits = mine.iter().filter(|s| is_hit(&label, &s.verdict) == Some(true)).count();
        let claimed = scored.iter().filter(|s| s.label.is_some() && is_hit(&label, &s.verdict) == Some(true)).count();
        summary.labels.insert(
            label.clone(),
            LabelScore {
                messages: mine.len(),
                hits,
                precision: (claimed > 0 && label != "malformed").then(|| hits as f64 / claimed as f64),
                recall: hits as f64 / mine.len() as f64,
            },
        );
    }
    let share = |labels: &[&str], bad: &dyn Fn(&Verdict) -> bool| {
        let set: Vec<&Scored> =
            scored.iter().filter(|s| s.label.as_deref().is_some_and(|l| labels.contains(&l))).collect();
        (!set.is_empty()).then(|| set.iter().filter(|s| bad(&s.verdict)).count() as f64 / set.len() as f64)
    };
    summary.clean_false_positive_rate =
        share(&["clean"], &|v| !matches!(v.disposition, Disposition::None | Disposition::Bulk));
    summary.spam_phish_caught = share(&["spam", "phish"], &|v| is_caught(v.disposition));
    summary.spam_caught = share(&["spam"], &|v| is_caught(v.disposition));
    summary.phish_caught = share(&["phish"], &|v| is_caught(v.disposition));
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TxtRecords;

    fn offline() -> Authenticator {
        Authenticator::offline(TxtRecords::default()).unwrap()
    }

    #[tokio::test]
    async fn scores_a_labelled_folder_and_a_manifest() {
        let auth = offline();
        let dir = tempdir();
        std::fs::create_dir_all(dir.join("bulk")).unwrap();
        std::fs::create_dir_all(dir.join("clean")).unwrap();
        std::fs::write(
            dir.join("bulk/a.eml"),
            b"From: n@shop.example\r\nList-Unsubscribe: <mailto:u@shop.example>\r\n\r\nx",
        )
        .unwrap();
        std::fs::write(dir.join("clean/b.eml"), b"From: \"ceo@bank.example\" <x@evil.example>\r\n\r\nx").unwrap();
        std::fs::write(dir.join("clean/c.eml"), b"From: a@b.example\r\n\r\nx").unwrap();
        std::fs::write(dir.join("notes.txt"), b"ignored").unwrap();
        let files = load_corpus(&dir, None).unwrap();
        assert_eq!(files.len(), 3);
        let mut scored = Vec::new();
        for f in &files {
            scored.push(score_file(f, &auth, &Detectors::default(), Vec::new()).await);
        }
        let s = summarize(&scored);
        assert_eq!(s.confusion["bulk"]["BULK"], 1);
        assert_eq!(s.confusion["clean"]["SPOOF"], 1);
        assert_eq!(s.labels["clean"].recall, 0.5);
        assert_eq!(s.clean_false_positive_rate, Some(0.5));
        assert_eq!(s.labels["bulk"].precision, Some(1.0));
        // Clean counts NONE and BULK as its own: the bulk message makes it 1 of 2.
        assert_eq!(s.labels["clean"].precision, Some(0.5), "{s:?}");

        // A manifest overrides the folders.
        std::fs::write(
            dir.join("MANIFEST.tsv"),
            "file\tlabel\tsource_repo\nclean/b.eml\tspoof\tacme/tests\nclean/c.eml\tclean\t\n",
        )
        .unwrap();
        let manifest = read_manifest(&dir.join("MANIFEST.tsv")).unwrap();
        let files = load_corpus(&dir, Some(&manifest)).unwrap();
        let file = |name: &str| files.iter().find(|f| f.file == name).unwrap().clone();
        assert_eq!(file("clean/b.eml").label.as_deref(), Some("spoof"));
        assert_eq!(file("clean/b.eml").source, "acme/tests", "the manifest names the source");
        assert_eq!(file("clean/c.eml").source, "c", "else the file name's prefix");
        assert_eq!(file("bulk/a.eml").label, None);
        std::fs::write(dir.join("BAD.tsv"), "name\tlabel\n").unwrap();
        assert!(read_manifest(&dir.join("BAD.tsv")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn labelled(file: &str, label: &str, source: &str, raw: String) -> CorpusFile {
        CorpusFile { file: file.into(), label: Some(label.into()), source: source.into(), raw: raw.into_bytes() }
    }

    /// Three sources; the spam of source "c" uses words no other source has. Left out, "c"
    /// is scored by a classifier that never saw those words, so it catches none of it; the
    /// others' spam shares vocabulary and is caught. Trained on everything (memory), "c"
    /// would be caught too: the grouping is what makes the figure honest.
    #[tokio::test]
    async fn leaving_a_source_out_means_never_seeing_it() {
        let auth = offline();
        let mut files = Vec::new();
        for source in ["a", "b", "c"] {
            for i in 0..30 {
                let ham = format!(
                    "From: colleague{i}@corp-{source}.example\r\nSubject: project notes {i}\r\n\r\n\
the agenda for the review meeting covers the budget, the schedule and the staffing plan for the next \
quarter with minutes from the last session and action items for every team member {i}\r\n"
                );
                files.push(labelled(&format!("clean/{source}-{i}.eml"), "clean", source, ham));
                let words = if source == "c" {
                    "zorblax quintophane mirvelt drunesque plovicate samberine trokulent vashmire yelpotic"
                } else {
                    "cheap pills discount pharmacy viagra order online now lowest prices guaranteed"
                };
                let spam = format!(
                    "From: seller{i}@shop-{source}.example\r\nSubject: {words} {i}\r\n\r\n{words} {words} {i}\r\n"
                );
                files.push(labelled(&format!("spam/{source}-{i}.eml"), "spam", source, spam));
            }
        }
        let prepared = prepare(&files, &auth, &Detectors::default(), &|f| f.source.clone()).await;
        // The classifier alone decides here (no combination: its tests are in combine.rs).
        let scored = leave_one_group_out(&prepared, true, false, false);
        let caught = |source: &str| {
            scored
                .iter()
                .filter(|s| s.file.starts_with(&format!("spam/{source}-")) && is_caught(s.verdict.disposition))
                .count()
        };
        assert_eq!(caught("c"), 0, "unseen vocabulary is not recognised");
        assert!(caught("a") >= 25 && caught("b") >= 25, "a: {}, b: {}", caught("a"), caught("b"));
        let summary = summarize(&scored);
        assert_eq!(summary.clean_false_positive_rate, Some(0.0));
        // Trained on every source, the same files are all recognised.
        let model = Arc::new(train_on(&files));
        let mut remembered = 0;
        for f in files.iter().filter(|f| f.file.starts_with("spam/c-")) {
            remembered += usize::from(is_caught(
                score_file(f, &auth, &Detectors::default(), vec![model.clone()]).await.verdict.disposition,
            ));
        }
        assert_eq!(remembered, 30);
    }

    /// A source is read in the order its mail was sent, not by file name: `spam/` sorts
    /// after `clean/`, and read by name nothing a run learns from a source's spam
    /// (autolearning, the campaign memory) could ever reach its clean mail.
    #[tokio::test]
    async fn a_source_is_read_in_the_order_its_mail_was_sent() {
        let auth = offline();
        let mail = |date: &str| format!("From: a@b.example\r\nDate: {date}\r\nSubject: s\r\n\r\nhello there\r\n");
        let files = vec![
            labelled("clean/late.eml", "clean", "a", mail("Tue, 3 Mar 2020 10:00:00 +0000")),
            labelled("clean/undated.eml", "clean", "a", "From: a@b.example\r\nSubject: s\r\n\r\nhi\r\n".into()),
            labelled("spam/early.eml", "spam", "a", mail("Sun, 1 Mar 2020 10:00:00 +0000")),
            // The same moment: by name.
            labelled("spam/middle-2.eml", "spam", "a", mail("Mon, 2 Mar 2020 11:00:00 +0100")),
            labelled("spam/middle-1.eml", "spam", "a", mail("Mon, 2 Mar 2020 10:00:00 +0000")),
        ];
        let prepared = prepare(&files, &auth, &Detectors::default(), &|f| f.source.clone()).await;
        let order: Vec<&str> = prepared.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(
            order,
            ["spam/early.eml", "spam/middle-1.eml", "spam/middle-2.eml", "clean/late.eml", "clean/undated.eml"]
        );
    }

    /// The feature table: every row has the classifier's opinion for every group, and the
    /// cell under a row's own group is what a model trained without that group says.
    #[tokio::test]
    async fn the_feature_table_holds_each_pair_of_sources_opinions() {
        let auth = offline();
        let mut files = Vec::new();
        for source in ["a", "b", "c"] {
            for i in 0..15 {
                let ham = format!(
                    "From: colleague{i}@corp-{source}.example\r\nSubject: notes {i}\r\n\r\n\
the agenda for the review meeting covers the budget and the schedule for the next quarter {i}\r\n"
                );
                files.push(labelled(&format!("clean/{source}-{i}.eml"), "clean", source, ham));
                let spam = format!(
                    "From: seller{i}@shop-{source}.example\r\nSubject: cheap pills {i}\r\n\r\n\
cheap pills discount pharmacy order online now lowest prices guaranteed {i}\r\n"
                );
                files.push(labelled(&format!("spam/{source}-{i}.eml"), "spam", source, spam));
            }
        }
        let prepared = prepare(&files, &auth, &Detectors::default(), &|f| f.source.clone()).await;
        let rows = feature_table(&prepared);
        assert_eq!(rows.len(), files.len());
        let full = full_model(&prepared);
        for (row, p) in rows.iter().zip(&prepared) {
            let keys: Vec<&str> = row.classifier.keys().map(String::as_str).collect();
            assert_eq!(keys, ["a", "b", "c"], "{}", row.file);
            let own = model_without(&full, &prepared, &[&p.group]);
            let expected = crate::classifier::classify(&[&own], p.tokens.as_ref().unwrap())
                .map(|c| (c.spam, c.phish, c.evidence_tokens));
            assert_eq!(row.classifier[&p.group], expected, "{}", row.file);
            assert!(row.body_words >= 8, "{}", row.file);
        }
        assert!(rows.iter().filter(|r| r.label.as_deref() == Some("spam")).all(|r| r.classifier["a"].is_some()));
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("postern-eval-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
