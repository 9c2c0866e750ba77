//! The labelled corpus, scored whole: every file gets a verdict without a parser failure
//! or a panic, and the cross-validated accuracy meets the targets (clean false positives at
//! most 1%, spam and phish caught at least 90%; the tables come from
//! `scorer eval --corpus DIR`, which cross-validates with 5 folds by default).

use scorer::eval::{self, CorpusFile};

fn corpus() -> Option<Vec<CorpusFile>> {
    let Some(dir) = testkit::corpus_dir() else {
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

#[tokio::test]
async fn every_corpus_message_is_scored_without_failure() {
    let Some(files) = corpus() else { return };
    assert!(files.len() > 1000, "{} files", files.len());
    let auth = offline();
    // With a trained model, so the classifier runs on every file too.
    let model = std::sync::Arc::new(eval::train_on(&files));
    for file in &files {
        let scored = eval::score_file(file, &auth, None, vec![model.clone()]).await;
        assert!(
            !scored.verdict.detections.iter().any(|d| d.name == scorer::score::ANALYSIS_FAILED),
            "{}: {:?}",
            scored.file,
            scored.verdict.detections
        );
    }
}

#[tokio::test]
async fn cross_validated_accuracy_holds() {
    let Some(files) = corpus() else { return };
    let auth = offline();
    let models = eval::fold_models(&files, 5);
    let mut scored = Vec::new();
    for file in &files {
        let model = models[eval::fold_of(&file.file, 5) as usize].clone();
        scored.push(eval::score_file(file, &auth, None, vec![model]).await);
    }
    let summary = eval::summarize(&scored);
    let fp = summary.clean_false_positive_rate.unwrap();
    let caught = summary.spam_phish_caught.unwrap();
    eprintln!("clean false positives {:.1}%, spam+phish caught {:.1}%", fp * 100.0, caught * 100.0);
    assert!(fp <= 0.01, "clean false positives rose to {:.1}%: {:?}", fp * 100.0, summary.confusion["clean"]);
    assert!(caught >= 0.90, "spam+phish caught fell to {:.1}%", caught * 100.0);
}
