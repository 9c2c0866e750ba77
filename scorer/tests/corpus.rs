//! The labelled corpus, scored whole: every file gets a verdict without a parser failure
//! or a panic. The accuracy figures come from `scorer eval --corpus`.

#[tokio::test]
async fn every_corpus_message_is_scored_without_failure() {
    let Some(dir) = testkit::corpus_dir() else {
        eprintln!("SKIPPED: no corpus (set POSTERN_CORPUS or put it at ../shared/corpus)");
        return;
    };
    let files = scorer::eval::find_messages(&dir).expect("reading the corpus");
    assert!(files.len() > 1000, "{} files", files.len());
    // Offline authentication: no DNS fixture, every lookup a temporary error.
    let auth = scorer::auth::Authenticator::offline(scorer::auth::TxtRecords::default()).unwrap();
    for path in &files {
        let scored = scorer::eval::score_file(&dir, path, None, &auth, None).await.expect("reading a corpus file");
        assert!(
            !scored.verdict.detections.iter().any(|d| d.name == scorer::score::ANALYSIS_FAILED),
            "{}: {:?}",
            scored.file,
            scored.verdict.detections
        );
    }
}
