//! Messages in the repository with what the scorer must make of them, in Stalwart's style:
//! `fixtures/NAME.eml` and beside it `fixtures/NAME.expect`, lines of
//! `disposition: D` (required), `detections: a, b` (each must be among the verdict's),
//! `absent: c, d` (none may be), `attributes: A, B` (each must be set). They run on every
//! clone (no corpus needed), through the scorer as it ships: offline authentication,
//! SpamAssassin's rules (installed by scripts/setup.sh), the shipped combination model, and
//! no token model (a fresh deployment's classifier has been taught nothing).

use scorer::eval::{self, CorpusFile, Detectors};
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
struct Expectation {
    disposition: String,
    detections: Vec<String>,
    absent: Vec<String>,
    attributes: Vec<String>,
}

fn list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn read_expectation(path: &Path) -> Expectation {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Expectation::default();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#')) {
        let (key, value) =
            line.split_once(':').unwrap_or_else(|| panic!("{}:{}: not `key: value`", path.display(), n + 1));
        match key.trim() {
            "disposition" => out.disposition = value.trim().to_owned(),
            "detections" => out.detections = list(value),
            "absent" => out.absent = list(value),
            "attributes" => out.attributes = list(value),
            other => panic!("{}:{}: unknown key {other}", path.display(), n + 1),
        }
    }
    assert!(!out.disposition.is_empty(), "{}: no disposition line", path.display());
    out
}

fn fixtures() -> Vec<(PathBuf, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&dir)
        .expect("scorer/tests/fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|eml| {
            let expect = eml.with_extension("expect");
            assert!(expect.exists(), "{} has no .expect beside it", eml.display());
            (eml, expect)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn every_fixture_gets_what_its_expectation_says() {
    let detection = scorer::config::Config::default()
        .detection()
        .expect("SpamAssassin's rules (scripts/setup.sh installs them) and the shipped model");
    let detectors = Detectors {
        domain_ages: None,
        spamassassin: detection.spamassassin,
        combination: detection.combination,
        ..Default::default()
    };
    let auth = scorer::auth::Authenticator::offline(scorer::auth::TxtRecords::default()).unwrap();
    let all = fixtures();
    assert!(all.len() >= 16, "{} fixtures", all.len());
    let mut failures = Vec::new();
    for (eml, expect) in &all {
        let expected = read_expectation(expect);
        let file = CorpusFile {
            file: eml.file_name().unwrap().to_string_lossy().into_owned(),
            label: None,
            source: "fixtures".into(),
            raw: std::fs::read(eml).unwrap(),
        };
        let verdict = eval::score_file(&file, &auth, &detectors, Vec::new()).await.verdict;
        let names: Vec<&str> = verdict.detections.iter().map(|d| d.name.as_str()).collect();
        let attributes: Vec<String> = verdict.attributes.iter().map(|a| a.to_string()).collect();
        let mut problems = Vec::new();
        if verdict.disposition.as_str() != expected.disposition {
            problems.push(format!("disposition {} (expected {})", verdict.disposition.as_str(), expected.disposition));
        }
        for d in &expected.detections {
            if !names.contains(&d.as_str()) {
                problems.push(format!("no detection {d}"));
            }
        }
        for d in &expected.absent {
            if names.contains(&d.as_str()) {
                problems.push(format!("detection {d}, which must be absent"));
            }
        }
        for a in &expected.attributes {
            if !attributes.contains(a) {
                problems.push(format!("no attribute {a}"));
            }
        }
        if !problems.is_empty() {
            let non_rule: Vec<&&str> = names.iter().filter(|n| !n.starts_with("sa:")).collect();
            failures.push(format!(
                "{}: {} (detections {non_rule:?}, attributes {attributes:?})",
                file.file,
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures:\n{}", failures.len(), all.len(), failures.join("\n"));
}
