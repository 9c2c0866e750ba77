//! The labelled corpus, scored whole: every file gets a verdict without a parser failure
//! or a panic, and the leave-one-source-out figures (each source scored by a classifier and
//! a combination model that never saw it, as `scorer eval --group-by source` prints them)
//! do not fall below the floors here: a little under what the code reaches, so that a
//! change that makes detection worse on unseen mail fails. The targets (clean
//! false positives at most 1%, spam + phish caught at least 85%) and the measured figures
//! are in the README.

use scorer::eval::{self, CorpusFile, Detectors};
use std::sync::Arc;

/// Regression floors (leave one source out, over the whole corpus), a little under what the
/// code reaches (measured on 2026-12-07 with postern-rules/125 and postern-model/52: a sender that presents
/// itself as a brand or masks the brand's name, hosts dressed as the claimed brand or
/// linked from a forged brand sender, a link that shows the sender's or a government's
/// domain and goes elsewhere, a page filed under a forged brand sender's name on someone
/// else's host, lures sent to hosts anyone can publish on or to bare addresses, web pages
/// in storage buckets, a lure in a brand's name from someone else, a charge and a line to
/// call about it sent to a crowd, a wordless message whose content is a randomly named file,
/// links to a machine (an address's name, a rented VM's, dynamic DNS, an odd port, a form
/// posting to a bare address), a
/// forged agency linking to a bare address, the recipient's address as a
/// link's fragment or in the subject, links dressed as attached files, hidden filler text (by CSS or by its colour),
/// a picture that links out with no word beside it but its links', disguised subjects and sender names,
/// scam phrases (fake purchase inquiries, factories' and search-ranking cold pitches,
/// funding brokers and foreign-trade marketing among them), a brand's gift from someone
/// else, GTUBE, labels of unsolicited
/// advertising, greetings by address, ambiguous From fields, programs in RAR archives,
/// more of SpamAssassin's eval functions run natively (HeaderEval's, WLBLEval's, MIMEEval's,
/// HTTPSMismatch's, HTMLEval's comments and anchors), ReplaceTags' nested tags, address
/// fields read as written, multiparts read when their closing delimiter is missing, a
/// combination that does not take the classifier's silence for evidence, HTML rendered as
/// SpamAssassin renders it, attached messages' text read, capitals counted as MIMEEval
/// counts them, HTML tag balance and spacing as HTMLEval and BodyEval count them, and
/// each left-out source scored in the order its mail was sent (its Date headers) with
/// autolearning and a memory of its earlier texts (the same text from other sender domains
/// within a week), as a deployed scorer meets it: clean flagged 0.78%, spam + phish caught
/// 82.0%, spam 74.0%, phish 92.8%; spam and phish
/// trade a point or two as the out-of-source threshold moves). The targets: clean flagged
/// at most 1% (met, and held here), caught at least 85% (not met yet).
const MAX_CLEAN_FALSE_POSITIVES: f64 = 0.010;
const MIN_SPAM_PHISH_CAUGHT: f64 = 0.80;
const MIN_SPAM_CAUGHT: f64 = 0.70;
const MIN_PHISH_CAUGHT: f64 = 0.89;

fn corpus() -> Option<Vec<CorpusFile>> {
    let Some(dir) = testkit::corpus_dir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the corpus is missing (POSTERN_CORPUS or ../shared/corpus)"
        );
        eprintln!("SKIPPED: no corpus (set POSTERN_CORPUS or put it at ../shared/corpus)");
        return None;
    };
    let manifest = eval::read_manifest(&dir.join("MANIFEST.tsv")).expect("the corpus manifest");
    Some(eval::load_corpus(&dir, Some(&manifest)).expect("reading the corpus"))
}

fn offline() -> scorer::auth::Authenticator {
    // Offline authentication: no DNS fixture, every lookup a temporary error.
    scorer::auth::Authenticator::offline(scorer::auth::TxtRecords::default()).unwrap()
}

fn detectors() -> Detectors {
    let detection =
        scorer::config::Config::default().detection().expect("SpamAssassin's rules (scripts/setup.sh installs them)");
    Detectors {
        domain_ages: None,
        spamassassin: detection.spamassassin,
        combination: detection.combination,
        ..Default::default()
    }
}

#[tokio::test]
async fn every_corpus_message_is_scored_without_failure() {
    let Some(files) = corpus() else { return };
    assert!(files.len() > 2000, "{} files", files.len());
    let auth = offline();
    let detectors = detectors();
    // With a trained model, so the classifier runs on every file too.
    let model = Arc::new(eval::train_on(&files));
    for file in &files {
        let scored = eval::score_file(file, &auth, &detectors, vec![model.clone()]).await;
        assert!(
            !scored.verdict.detections.iter().any(|d| d.name == scorer::score::ANALYSIS_FAILED),
            "{}: {:?}",
            scored.file,
            scored.verdict.detections
        );
    }
}

#[tokio::test]
async fn leave_one_source_out_holds_its_floors() {
    let Some(mut files) = corpus() else { return };
    files.retain(|f| f.label.is_some());
    let auth = offline();
    let prepared = eval::prepare(&files, &auth, &detectors(), &|f| f.source.clone()).await;
    let sources: std::collections::BTreeSet<&str> = prepared.iter().map(|p| p.group.as_str()).collect();
    assert!(sources.len() >= 8, "grouped by source: {sources:?}");
    let summary = eval::summarize(&eval::leave_one_group_out(&prepared, true, true, true));
    let fp = summary.clean_false_positive_rate.unwrap();
    let caught = summary.spam_phish_caught.unwrap();
    let (spam, phish) = (summary.spam_caught.unwrap(), summary.phish_caught.unwrap());
    eprintln!(
        "leave one source out: clean false positives {:.2}%, spam + phish caught {:.1}% (spam {:.1}%, phish {:.1}%)",
        fp * 100.0,
        caught * 100.0,
        spam * 100.0,
        phish * 100.0
    );
    assert!(
        fp <= MAX_CLEAN_FALSE_POSITIVES,
        "clean false positives rose to {:.2}%: {:?}",
        fp * 100.0,
        summary.confusion["clean"]
    );
    assert!(caught >= MIN_SPAM_PHISH_CAUGHT, "spam + phish caught fell to {:.1}%", caught * 100.0);
    assert!(spam >= MIN_SPAM_CAUGHT, "spam caught fell to {:.1}%", spam * 100.0);
    assert!(phish >= MIN_PHISH_CAUGHT, "phish caught fell to {:.1}%", phish * 100.0);
}

/// Header-only and nearly empty messages get no opinion from the classifier, however it
/// was trained: a verdict needs evidence.
#[tokio::test]
async fn nearly_empty_messages_get_no_classifier_verdict() {
    let Some(files) = corpus() else { return };
    let model = Arc::new(eval::train_on(&files));
    let auth = offline();
    let detectors = Detectors::default();
    let fragments = [
        "From: Billing <billing@pay-center.example>\r\nSubject: Your account is suspended verify password invoice payment now urgent\r\n\r\n",
        "From: x@y.example\r\nSubject: re\r\nTo: a@b.example\r\n\r\nok thanks\r\n",
        "Subject: Verify your account now\r\n\r\n",
    ];
    for (i, raw) in fragments.iter().enumerate() {
        let file = CorpusFile {
            file: format!("fragment-{i}.eml"),
            label: None,
            source: "test".into(),
            raw: raw.as_bytes().to_vec(),
        };
        let scored = eval::score_file(&file, &auth, &detectors, vec![model.clone()]).await;
        assert!(
            !scored.verdict.detections.iter().any(|d| d.name.starts_with("content_")),
            "{raw:?}: {:?}",
            scored.verdict.detections
        );
    }
    // The corpus's own nearly empty messages too (fewer body words than the classifier needs).
    let nearly_empty = |f: &&CorpusFile| {
        scorer::parse::parse_message(&f.raw).is_some_and(|m| {
            scorer::classifier::tokenize(&m).body_words < scorer::analysis::content_classifier::MIN_BODY_WORDS
        })
    };
    let empties: Vec<&CorpusFile> = files.iter().filter(nearly_empty).collect();
    assert!(!empties.is_empty(), "the corpus has header-only fragments");
    for file in empties {
        let scored = eval::score_file(file, &auth, &detectors, vec![model.clone()]).await;
        assert!(!scored.verdict.detections.iter().any(|d| d.name.starts_with("content_")), "{}", file.file);
    }
}

/// Hyperscan's databases and the literal prefilter only skip rules that cannot match: on
/// every corpus message the hits are those of every pattern run (as `scorer rules verify`
/// checks from the command line). The databases are compiled here, into a temporary cache.
#[test]
fn the_prefilters_change_no_rule_hit_on_the_corpus() {
    use scorer::spamassassin::{self, views::MessageView};
    let Some(files) = corpus() else { return };
    let loaded =
        spamassassin::load(std::path::Path::new(spamassassin::DEFAULT_RULES_DIR)).expect("SpamAssassin's rules");
    let cache = tempfile::tempdir().unwrap();
    let report = loaded.rules.prepare_prefilters(cache.path(), true).expect("compiling Hyperscan's databases");
    assert!(loaded.rules.hyperscan_active(), "{report:?}");
    assert!(report.patterns > 1000, "{report:?}");
    let (mut hits, mut differing) = (0, Vec::new());
    for file in &files {
        let Some(message) = scorer::parse::parse_message(&file.raw) else { continue };
        let view = MessageView::new(&message, "", &[]);
        let date_diff = spamassassin::dates::date_diff(&view);
        let every = loaded.rules.run_every_pattern(&view, date_diff);
        hits += every.len();
        if loaded.rules.run(&view, date_diff) != every {
            differing.push(file.file.clone());
        }
    }
    assert!(hits > 10_000, "{hits} hits: the rules ran");
    assert!(differing.is_empty(), "the prefilters changed the hits of {differing:?}");
}
