//! The commands that read a labelled corpus: `eval` (and its reports), `bench`, `model
//! train`, and `train` (which publishes it as training events).

use super::{CliError, connect};
use proto::Disposition;
use std::path::{Path, PathBuf};

/// How `scorer eval` trains the classifier and the combination.
pub(super) enum EvalMode {
    /// The classifier trained on another folder; the shipped (or --model) combination.
    Trained(PathBuf),
    /// Leave one source out (classifier and combination per left-out source).
    BySource,
    /// K random folds by a hash of the path (for comparison only).
    Folds(u32),
    /// No classifier; the shipped (or --model) combination.
    Untrained,
}

/// What `scorer eval` does when not told: leave one source out when --corpus is the
/// development corpus, else train on the development corpus when there is one.
pub(super) fn default_mode(corpus: &Path) -> EvalMode {
    let dev =
        std::env::var_os("POSTERN_CORPUS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("../shared/corpus"));
    match (dev.canonicalize(), corpus.canonicalize()) {
        (Ok(dev), Ok(corpus)) if dev == corpus => EvalMode::BySource,
        (Ok(dev), _) if dev.is_dir() => EvalMode::Trained(dev),
        _ => EvalMode::Untrained,
    }
}

pub(super) struct EvalOptions {
    pub(super) labels: Option<PathBuf>,
    pub(super) dns: Option<PathBuf>,
    pub(super) domain_ages: Option<PathBuf>,
    pub(super) mode: EvalMode,
    pub(super) json: bool,
    pub(super) rules_dir: PathBuf,
    pub(super) hyperscan_cache: PathBuf,
    pub(super) no_spamassassin: bool,
    pub(super) model: Option<PathBuf>,
    pub(super) features_out: Option<PathBuf>,
    /// Score each group's files in order with autolearning, as a deployed scorer does.
    pub(super) autolearn: bool,
    /// Compare each group's files with its earlier ones ([`crate::campaign`]), as a deployed
    /// scorer's campaign memory does.
    pub(super) campaigns: bool,
    /// The configuration's `trusted_relays`.
    pub(super) trusted_relays: Vec<proto::net::Network>,
}

/// A labelled folder: its files, and the manifest they were labelled by.
fn labelled(
    flag: &'static str,
    dir: &Path,
    labels: Option<&Path>,
) -> Result<(Option<PathBuf>, Vec<crate::eval::CorpusFile>), CliError> {
    use crate::eval;
    if !dir.is_dir() {
        return Err(CliError::NotAFolder { flag, path: dir.to_owned() });
    }
    // The folder's own manifest is used when present and no other is named.
    let manifest_path = labels.map(|p| p.to_path_buf()).or_else(|| {
        let p = dir.join("MANIFEST.tsv");
        p.is_file().then_some(p)
    });
    let manifest = manifest_path.as_deref().map(eval::read_manifest).transpose()?;
    let files = eval::load_corpus(dir, manifest.as_ref())?;
    if files.is_empty() {
        return Err(CliError::NoMessages { flag, path: dir.to_owned() });
    }
    Ok((manifest_path, files))
}

fn load_model(path: Option<&Path>) -> Result<crate::combine::CombinationModel, CliError> {
    use crate::combine::CombinationModel;
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(CliError::file("reading", p))?;
            CombinationModel::from_json(&text).map_err(|source| CliError::ModelFile { path: p.to_owned(), source })
        }
        None => Ok(CombinationModel::shipped()?),
    }
}

pub(super) async fn eval(corpus: &Path, options: &EvalOptions) -> Result<(), CliError> {
    use crate::auth::{Authenticator, TxtRecords};
    use crate::eval;
    use std::sync::Arc;
    let json = options.json;
    let ages =
        options.domain_ages.as_deref().map(crate::analysis::new_domain::DomainAges::load).transpose()?.map(Arc::new);
    let records = options.dns.as_deref().map(TxtRecords::load).transpose()?.unwrap_or_default();
    let auth = Authenticator::offline(records)?;
    let (manifest_path, mut files) = labelled("--corpus", corpus, options.labels.as_deref())?;
    if matches!(options.mode, EvalMode::BySource | EvalMode::Folds(_)) {
        // Grouped runs train on the corpus itself: files without a label teach nothing and
        // are measured against nothing.
        files.retain(|f| f.label.is_some());
    }
    let spamassassin = if options.no_spamassassin {
        None
    } else {
        let loaded = crate::spamassassin::load_prepared(&options.rules_dir, &options.hyperscan_cache)?;
        eprintln!(
            "SpamAssassin rules: {} from {} files in {} ({} cannot run: `scorer rules check`)",
            loaded.rules.len(),
            loaded.files,
            loaded.dir.display(),
            loaded.rules.unsupported.len()
        );
        Some(Arc::new(loaded.rules))
    };
    let mut detectors = eval::Detectors {
        domain_ages: ages,
        spamassassin,
        combination: None,
        campaigns: options.campaigns.then(eval::corpus_campaign_memory),
        trusted_relays: Arc::new(options.trusted_relays.clone()),
    };
    let started = std::time::Instant::now();
    let (description, scored, rules_alone) = match &options.mode {
        EvalMode::Trained(dir) => {
            let (_, training) = labelled("--train", dir, None)?;
            detectors.combination = Some(Arc::new(load_model(options.model.as_deref())?));
            let model = Arc::new(eval::train_on(&training));
            let mut scored = Vec::with_capacity(files.len());
            for file in &files {
                scored.push(eval::score_file(file, &auth, &detectors, vec![model.clone()]).await);
            }
            (format!("token classifier trained on {}; shipped combination", dir.display()), scored, None)
        }
        EvalMode::Untrained => {
            detectors.combination = Some(Arc::new(load_model(options.model.as_deref())?));
            let mut scored = Vec::with_capacity(files.len());
            for file in &files {
                scored.push(eval::score_file(file, &auth, &detectors, Vec::new()).await);
            }
            ("token classifier untrained (no opinion); shipped combination".to_owned(), scored, None)
        }
        EvalMode::BySource => {
            let prepared = eval::prepare(&files, &auth, &detectors, &|f| f.source.clone()).await;
            if let Some(path) = &options.features_out {
                let mut out = String::new();
                for row in eval::feature_table(&prepared) {
                    out.push_str(&serde_json::to_string(&row)?);
                    out.push('\n');
                }
                std::fs::write(path, out).map_err(CliError::file("writing --features-out", path))?;
                eprintln!("feature table written to {}", path.display());
            }
            let scored = eval::leave_one_group_out(&prepared, true, true, options.autolearn);
            let alone = eval::leave_one_group_out(&prepared, false, true, false);
            (
                "leave one source out: each source scored by a classifier and a combination trained on the other sources"
                    .to_owned(),
                scored,
                Some(alone),
            )
        }
        EvalMode::Folds(k) => {
            let k = *k;
            let prepared = eval::prepare(&files, &auth, &detectors, &|f| eval::fold_of(&f.file, k).to_string()).await;
            let scored = eval::leave_one_group_out(&prepared, true, true, options.autolearn);
            (
                format!("{k} random folds (sources mixed into every fold: a measure of memory, for comparison only)"),
                scored,
                None,
            )
        }
    };
    let summary = eval::summarize(&scored);
    let source_of: std::collections::HashMap<&str, &str> =
        files.iter().map(|f| (f.file.as_str(), f.source.as_str())).collect();
    let mut per_source: std::collections::BTreeMap<String, Vec<eval::Scored>> = Default::default();
    for s in &scored {
        per_source
            .entry(source_of.get(s.file.as_str()).copied().unwrap_or("-").to_owned())
            .or_default()
            .push(s.clone());
    }
    let per_source: std::collections::BTreeMap<String, eval::Summary> =
        per_source.into_iter().map(|(k, v)| (k, eval::summarize(&v))).collect();
    if json {
        for s in &scored {
            let line = serde_json::json!({
                "file": s.file,
                "label": s.label,
                "source": source_of.get(s.file.as_str()),
                "disposition": s.verdict.disposition.as_str(),
                "attributes": s.verdict.attributes.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "detections": s.verdict.detections.iter().map(|d| serde_json::json!({
                    "name": d.name, "score": f64::from(d.score_milli) / 1000.0, "evidence": d.evidence,
                })).collect::<Vec<_>>(),
            });
            println!("{line}");
        }
        println!(
            "{}",
            serde_json::json!({
                "summary": summary,
                "per_source": per_source,
                "rules_alone": rules_alone.as_deref().map(eval::summarize),
                "mode": description,
            })
        );
        return Ok(());
    }
    match &manifest_path {
        Some(p) => println!("labels from {}", p.display()),
        None => println!("labels from the folder layout"),
    }
    println!("{description}");
    print_confusion(&summary);
    println!("{} messages scored in {:.1} s", summary.messages, started.elapsed().as_secs_f64());
    print_rates("overall", &summary);
    if matches!(options.mode, EvalMode::BySource) {
        println!();
        println!(
            "{:<58}{:>6}{:>12}{:>11}{:>11}{:>11}",
            "source (left out)", "files", "clean FP", "spam", "phish", "bulk"
        );
        for (source, s) in &per_source {
            let pct = |v: Option<f64>| v.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "-".into());
            let count = |label: &str| s.labels.get(label).map_or(0, |l| l.messages);
            let cell = |label: &str, v: Option<f64>| {
                if count(label) == 0 { "-".to_owned() } else { format!("{} of {}", pct(v), count(label)) }
            };
            println!(
                "{:<58}{:>6}{:>12}{:>11}{:>11}{:>11}",
                source,
                s.messages,
                cell("clean", s.clean_false_positive_rate),
                pct(s.spam_caught),
                pct(s.phish_caught),
                pct(s.labels.get("bulk").map(|l| l.recall))
            );
        }
        if let Some(alone) = &rules_alone {
            println!();
            print_rates("rules alone (no classifier; combination left-one-source-out)", &eval::summarize(alone));
        }
    }
    Ok(())
}

fn print_confusion(summary: &crate::eval::Summary) {
    print!("{:<12}", "label");
    for d in Disposition::ALL {
        print!("{:>11}", d.as_str());
    }
    println!("{:>8}{:>11}{:>9}", "total", "precision", "recall");
    for (label, row) in &summary.confusion {
        print!("{label:<12}");
        for d in Disposition::ALL {
            print!("{:>11}", row.get(d.as_str()).copied().unwrap_or(0));
        }
        print!("{:>8}", row.values().sum::<usize>());
        match summary.labels.get(label) {
            Some(s) => println!(
                "{:>11}{:>9}",
                s.precision.map(|p| format!("{:.1}%", p * 100.0)).unwrap_or_else(|| "-".into()),
                format!("{:.1}%", s.recall * 100.0)
            ),
            None => println!(),
        }
    }
}

fn print_rates(title: &str, summary: &crate::eval::Summary) {
    let pct = |v: Option<f64>| v.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "-".into());
    println!(
        "{title}: clean flagged (false positives) {}, spam + phish caught {} (spam {}, phish {}; caught = MALICIOUS, SUSPICIOUS, SPOOF or SPAM){}",
        pct(summary.clean_false_positive_rate),
        pct(summary.spam_phish_caught),
        pct(summary.spam_caught),
        pct(summary.phish_caught),
        summary
            .labels
            .get("encrypted")
            .map(|e| format!("; encrypted flagged {:.1}%", e.recall * 100.0))
            .unwrap_or_default()
    );
}

/// CPU seconds this thread has used (Linux: /proc/thread-self/stat, clock ticks of 10 ms).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

pub(super) async fn bench(config: &crate::config::Config, corpus: &Path, seconds: u64) -> Result<(), CliError> {
    use crate::eval;
    let (_, files) = labelled("--corpus", corpus, None)?;
    let model = std::sync::Arc::new(eval::train_on(&files));
    let detection = config.detection()?;
    let detectors = eval::Detectors {
        domain_ages: None,
        spamassassin: detection.spamassassin.clone(),
        combination: detection.combination.clone(),
        // As the scorer remembers what it scored: the files' texts once (their copies in
        // later passes merge into the same entries), each compared with the others'.
        campaigns: (!config.campaign_window.is_zero()).then(|| {
            std::sync::Arc::new(std::sync::RwLock::new(crate::campaign::CampaignMemory::for_stored_files(
                config.campaign_window,
            )))
        }),
        trusted_relays: std::sync::Arc::new(config.trusted_relays()?),
    };
    let auth = crate::auth::Authenticator::offline(crate::auth::TxtRecords::default())?;
    let bytes: usize = files.iter().map(|f| f.raw.len()).sum();
    // One warm-up pass, then whole passes until the time is up.
    for f in &files {
        eval::score_file(f, &auth, &detectors, vec![model.clone()]).await;
    }
    let cpu_start = thread_cpu_seconds().unwrap_or(0.0);
    let started = std::time::Instant::now();
    let mut passes = 0u64;
    while passes == 0 || started.elapsed().as_secs() < seconds {
        for f in &files {
            std::hint::black_box(eval::score_file(f, &auth, &detectors, vec![model.clone()]).await);
        }
        passes += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds().map(|c| c - cpu_start).filter(|c| *c > 0.0).unwrap_or(wall);
    let messages = passes * files.len() as u64;
    let per_cpu = messages as f64 / cpu;
    println!(
        "scorer: {messages} messages ({} files x {passes}) in {wall:.2} s wall, {cpu:.2} s CPU on one thread: {per_cpu:.0} msg/s per core, {:.1} MB/s",
        files.len(),
        (bytes as f64 * passes as f64) / cpu / 1e6
    );
    println!(
        "{}",
        serde_json::json!({ "scorer_msgs_per_s": per_cpu.round(), "messages": messages, "cpu_s": cpu, "wall_s": wall })
    );
    Ok(())
}

pub(super) async fn model_train(corpus: &Path, out: &Path, version: &str, rules_dir: &Path) -> Result<(), CliError> {
    use crate::eval;
    use std::sync::Arc;
    let (manifest_path, files) = labelled("--corpus", corpus, None)?;
    let manifest_sha256 = match &manifest_path {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(CliError::file("reading", p))?;
            ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
        }
        None => return Err(CliError::NoManifest(corpus.to_owned())),
    };
    let loaded = crate::spamassassin::load(rules_dir)?;
    let digest = loaded.digest.clone();
    // As `scorer eval` reads the corpus: each source a tenant of its own, in the order its
    // mail was sent, with a campaign memory.
    let detectors = eval::Detectors {
        spamassassin: Some(Arc::new(loaded.rules)),
        campaigns: Some(eval::corpus_campaign_memory()),
        ..Default::default()
    };
    let auth = crate::auth::Authenticator::offline(crate::auth::TxtRecords::default())?;
    let prepared = eval::prepare(&files, &auth, &detectors, &|f| f.source.clone()).await;
    let provenance = crate::combine::Provenance {
        command: format!(
            "scorer model train --corpus <corpus> --out {} --version {version} (corpus: the development corpus, rules: {})",
            out.display(),
            rules_dir.display()
        ),
        corpus_manifest_sha256: manifest_sha256,
        spamassassin_rules_digest: digest,
        ..Default::default()
    };
    let model = eval::train_combination(&prepared, version, provenance);
    let mut text = serde_json::to_string_pretty(&model)?;
    text.push('\n');
    std::fs::write(out, text).map_err(CliError::file("writing", out))?;
    println!(
        "{}: combination {version} from {} examples ({} clean); threshold {:.4}",
        out.display(),
        model.provenance.messages,
        model.provenance.clean_messages,
        model.threshold
    );
    let unweighed = model.unweighed_features();
    if !unweighed.is_empty() {
        println!(
            "the same in every training example (never seen there), so the combination weighs them 0 (their own verdicts and evidence still apply): {}",
            unweighed.join(", ")
        );
    }
    Ok(())
}

pub(super) async fn train(
    config: &crate::config::Config,
    corpus: &Path,
    labels: Option<&Path>,
    tenant: Option<&str>,
    withdraw: bool,
) -> Result<(), CliError> {
    let scope = match tenant {
        Some(tenant) => super::tenant_id(tenant)?,
        None => proto::TenantId::new(proto::subject::TRAINING_SHARED_SCOPE).map_err(CliError::Tenant)?,
    };
    let (_, files) = labelled("--corpus", corpus, labels)?;
    let client = connect(config, "postern-scorer-train").await?;
    let js = async_nats::jetstream::new(client.clone());
    let started = std::time::Instant::now();
    let report = crate::train::publish(&js, &files, &scope, withdraw, config.replicas).await?;
    client.flush().await.ok();
    println!(
        "{} {} {} events to mail.training.{scope} in {:.1} s ({} files teach nothing, {} too large)",
        if withdraw { "withdrew" } else { "published" },
        report.published,
        if withdraw { "LabelWithdrawn" } else { "MessageLabelled" },
        started.elapsed().as_secs_f64(),
        report.unlabelled,
        report.too_large
    );
    Ok(())
}
