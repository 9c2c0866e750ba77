//! `scorer eval`: scores a folder of `.eml` files with no NATS, and measures the verdicts
//! against labels: from a manifest (`MANIFEST.tsv`: `file` and `label` columns, as the
//! corpus has), or from the layout `DIR/<label>/*.eml`.

use crate::analysis::MessageFacts;
use crate::auth::{Authenticator, Delivery};
use crate::classifier::{Class, TokenModel, TokenSet};
use crate::score::{Verdict, score};
use proto::{Attribute, Disposition};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

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

/// Reads a manifest: a TSV with a header naming `file` and `label` columns.
pub fn read_manifest(path: &Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or_else(|| format!("{}: empty", path.display()))?.split('\t').collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| format!("{}: no {name:?} column", path.display()))
    };
    let (file_col, label_col) = (col("file")?, col("label")?);
    let mut labels = HashMap::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(label)) = (fields.get(file_col), fields.get(label_col)) else {
            return Err(format!("{}: line {} has too few columns", path.display(), n + 2));
        };
        labels.insert(file.to_string(), label.to_string());
    }
    Ok(labels)
}

/// The envelope sender a stored message implies: its Return-Path, as delivery wrote it.
pub fn facts_from_stored_message(raw: &[u8]) -> MessageFacts {
    let envelope_sender = mail_parser::MessageParser::new()
        .parse_headers(raw)
        .and_then(|m| m.header_raw("Return-Path").map(|v| v.trim().trim_matches(['<', '>']).trim().to_owned()))
        .unwrap_or_default();
    MessageFacts { envelope_sender, ..Default::default() }
}

/// A message file of the corpus, with its label.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// Path relative to the corpus folder, with `/` separators.
    pub file: String,
    pub label: Option<String>,
    pub raw: Vec<u8>,
}

/// Reads every `.eml` below `corpus` with its label: from `manifest` when given, else the
/// first folder of its path.
pub fn load_corpus(corpus: &Path, manifest: Option<&HashMap<String, String>>) -> std::io::Result<Vec<CorpusFile>> {
    let mut out = Vec::new();
    for path in find_messages(corpus)? {
        let raw = std::fs::read(&path)?;
        let relative = path.strip_prefix(corpus).unwrap_or(&path);
        let file = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let label = match manifest {
            Some(m) => m.get(&file).cloned(),
            None => (relative.components().count() > 1)
                .then(|| relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()))
                .flatten(),
        };
        out.push(CorpusFile { file, label, raw });
    }
    Ok(out)
}

/// What a corpus label teaches the token classifier: clean and bulk mail is ham (wanted
/// mail), spam is spam, phish is phishing; other labels teach nothing.
pub fn class_of_label(label: &str) -> Option<Class> {
    match label {
        "clean" | "bulk" => Some(Class::Ham),
        "spam" => Some(Class::Spam),
        "phish" => Some(Class::Phish),
        _ => None,
    }
}

/// The tokens of a labelled file that teaches something, else None.
pub fn training_example(file: &CorpusFile) -> Option<(Class, TokenSet)> {
    let class = class_of_label(file.label.as_deref()?)?;
    let message = mail_parser::MessageParser::default().parse(&file.raw)?;
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

/// Cross-validation: model `i` is trained on every file outside fold `i`, so
/// `models[fold_of(file, k)]` never saw `file`.
pub fn fold_models(files: &[CorpusFile], folds: u32) -> Vec<std::sync::Arc<TokenModel>> {
    let examples: Vec<(u32, Option<(Class, TokenSet)>)> =
        files.iter().map(|f| (fold_of(&f.file, folds), training_example(f))).collect();
    (0..folds)
        .map(|fold| {
            let mut model = TokenModel::default();
            for (_, example) in examples.iter().filter(|(f, _)| *f != fold) {
                if let Some((class, tokens)) = example {
                    model.learn(*class, tokens);
                }
            }
            std::sync::Arc::new(model)
        })
        .collect()
}

/// Scores one file, authenticating it with `auth` (offline: a DNS fixture at most).
pub async fn score_file(
    file: &CorpusFile,
    auth: &Authenticator,
    domain_ages: Option<std::sync::Arc<crate::analysis::new_domain::DomainAges>>,
    token_models: Vec<std::sync::Arc<TokenModel>>,
) -> Scored {
    let mut facts = facts_from_stored_message(&file.raw);
    let delivery = Delivery { mail_from: &facts.envelope_sender, trusted: &[] };
    facts.auth = Some(auth.authenticate(&file.raw, &delivery).await);
    facts.now = proto::Timestamp::now();
    facts.domain_ages = domain_ages;
    facts.token_models = token_models;
    let verdict = score(&file.raw, &facts);
    Scored { file: file.file.clone(), label: file.label.clone(), verdict }
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
    /// Spam and phish given anything but NONE.
    pub spam_phish_caught: Option<f64>,
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
    summary.spam_phish_caught = share(&["spam", "phish"], &|v| v.disposition != Disposition::None);
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
            scored.push(score_file(f, &auth, None, Vec::new()).await);
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
        std::fs::write(dir.join("MANIFEST.tsv"), "file\tlabel\textra\nclean/b.eml\tspoof\tx\n").unwrap();
        let manifest = read_manifest(&dir.join("MANIFEST.tsv")).unwrap();
        let files = load_corpus(&dir, Some(&manifest)).unwrap();
        let label = |name: &str| files.iter().find(|f| f.file == name).unwrap().label.clone();
        assert_eq!(label("clean/b.eml").as_deref(), Some("spoof"));
        assert_eq!(label("clean/c.eml"), None);
        std::fs::write(dir.join("BAD.tsv"), "name\tlabel\n").unwrap();
        assert!(read_manifest(&dir.join("BAD.tsv")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("postern-eval-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
