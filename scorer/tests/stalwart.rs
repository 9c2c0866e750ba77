//! Stalwart's spam-filter test cases (corpus `vectors/stalwart-antispam/*.test`) whose tags
//! name something Postern detects. Each case gives parameters (envelope, authentication
//! results), an `expect` line with every tag Stalwart sets, and the message. For each tag
//! below, the case expects it exactly when our detection fires, both ways; cases whose tags
//! we do not map are scored too (no failure, no panic).

use scorer::analysis::MessageFacts;
use scorer::auth::{AuthResults, DkimCheck, DmarcCheck, DmarcPolicy, Outcome, Result3, SpfCheck};
use std::collections::BTreeSet;

/// Stalwart tag -> our detection. Where Stalwart splits what one detection of ours covers,
/// every tag of the split maps to it (a DKIM signature that fails or is broken; a DMARC
/// failure under reject or quarantine; a Reply-To to another domain, which Stalwart names
/// REPLYTO_EQ_TO_ADDR instead when it is the recipient's own address).
const MAPPED: &[(&str, &str)] = &[
    ("SPOOF_DISPLAY_NAME", "display_name_address"),
    ("HAS_LIST_UNSUB", "list_unsubscribe"),
    ("PHISHING", "link_text_mismatch"),
    ("HOMOGRAPH_URL", "homograph_url"),
    ("REPLYTO_DOM_NEQ_FROM_DOM", "reply_to_differs"),
    ("SPF_FAIL", "spf_fail"),
    ("DKIM_REJECT", "dkim_fail"),
    ("DKIM_PERMFAIL", "dkim_fail"),
    ("REPLYTO_EQ_TO_ADDR", "reply_to_differs"),
    ("DMARC_POLICY_REJECT", "dmarc_fail_enforced"),
    ("DMARC_POLICY_QUARANTINE", "dmarc_fail_enforced"),
];

/// Cases where Stalwart's tags disagree with themselves or stand for something else, with
/// the reason: (file, case index, tag).
const EXCLUDED: &[(&str, usize, &str, &str)] = &[
    (
        "recipient.test",
        19,
        "HAS_LIST_UNSUB",
        "Stalwart reports INFO_TO_INFO_LU in its place when info@ writes to info@; we report the header",
    ),
    (
        "replyto.test",
        5,
        "HAS_LIST_UNSUB",
        "an unbracketed address is not counted here, while headers.test#8 counts the value `1`; we count every List-Unsubscribe header",
    ),
];

struct Case {
    file: String,
    index: usize,
    params: Vec<(String, String)>,
    expect: BTreeSet<String>,
    message: String,
}

fn cases(dir: &std::path::Path) -> Vec<Case> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for (index, chunk) in text.split("<!-- NEXT TEST -->").enumerate() {
            let chunk = chunk.trim_start_matches(['\r', '\n']);
            let Some(expect_at) = chunk.find("expect") else { continue };
            let (head, rest) = chunk.split_at(expect_at);
            let (expect_line, message) = rest.split_once('\n').unwrap_or((rest, ""));
            let params = head
                .lines()
                .filter_map(|l| l.split_once(' ').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
                .collect();
            out.push(Case {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                index,
                params,
                expect: expect_line.split_whitespace().skip(1).map(str::to_owned).collect(),
                message: message.trim_start_matches(['\r', '\n']).replace("\r\n", "\n").replace('\n', "\r\n"),
            });
        }
    }
    out
}

fn facts(case: &Case) -> MessageFacts {
    let param = |k: &str| case.params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let envelope_sender = param("envelope_from").unwrap_or("").to_owned();
    let from_domain = mail_parser::MessageParser::default()
        .parse(case.message.as_bytes())
        .and_then(|m| m.from().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_lowercase))
        .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_owned()))
        .unwrap_or_else(|| "unknown.example".into());
    let result3 = |v: &str| match v {
        "pass" => Result3::Pass,
        "fail" => Result3::Fail,
        "softfail" => Result3::SoftFail,
        "neutral" => Result3::Neutral,
        "temperror" => Result3::TempError,
        "permerror" => Result3::PermError,
        _ => Result3::None,
    };
    let outcome = |v: &str| match v {
        "pass" => Outcome::Pass,
        "fail" => Outcome::Fail,
        "temperror" => Outcome::TempError,
        "permerror" => Outcome::PermError,
        _ => Outcome::Neutral,
    };
    let any_auth = ["spf.result", "dkim.result", "dmarc.result"].iter().any(|k| param(k).is_some());
    let auth = any_auth.then(|| AuthResults {
        spf: param("spf.result").map(|r| SpfCheck {
            ip: param("remote_ip").and_then(|ip| ip.parse().ok()).unwrap_or([192, 0, 2, 1].into()),
            domain: envelope_sender.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default(),
            outcome: result3(r),
        }),
        dkim: param("dkim.result")
            .map(|r| {
                vec![DkimCheck {
                    domain: param("dkim.domains").unwrap_or(&from_domain).to_owned(),
                    outcome: outcome(r),
                    reason: None,
                }]
            })
            .unwrap_or_default(),
        dmarc: param("dmarc.result").map(|r| DmarcCheck {
            domain: from_domain.clone(),
            outcome: result3(r),
            policy: match param("dmarc.policy") {
                Some("reject") => DmarcPolicy::Reject,
                Some("quarantine") => DmarcPolicy::Quarantine,
                _ => DmarcPolicy::None,
            },
        }),
        arc: None,
    });
    MessageFacts { envelope_sender, auth, ..Default::default() }
}

#[test]
fn stalwart_spam_filter_cases_agree_on_the_mapped_tags() {
    let Some(dir) = testkit::corpus_dir().map(|d| d.join("vectors/stalwart-antispam")).filter(|d| d.is_dir()) else {
        eprintln!("SKIPPED: no corpus vectors (set POSTERN_CORPUS or put the corpus at ../shared/corpus)");
        return;
    };
    let cases = cases(&dir);
    assert!(cases.len() > 200, "{} cases", cases.len());
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for case in &cases {
        let verdict = scorer::score::score(case.message.as_bytes(), &facts(case));
        let fired: BTreeSet<&str> = verdict.detections.iter().map(|d| d.name.as_str()).collect();
        for (tag, detection) in MAPPED {
            // Tags that map to one detection are judged once, at the first of them.
            if MAPPED.iter().find(|(_, d)| d == detection).map(|(t, _)| t) != Some(tag) {
                continue;
            }
            let expected = MAPPED.iter().filter(|(_, d)| d == detection).any(|(t, _)| case.expect.contains(*t));
            if EXCLUDED.iter().any(|(f, i, t, _)| *f == case.file && *i == case.index && t == tag) {
                continue;
            }
            let actual = fired.contains(detection);
            if expected || actual {
                checked += 1;
            }
            if expected != actual {
                disagreements.push(format!(
                    "{}#{}: {tag} expected {expected}, {detection} fired {actual}; detections {:?}",
                    case.file, case.index, fired
                ));
            }
        }
    }
    eprintln!("{} cases, {checked} mapped tag checks", cases.len());
    assert!(checked >= 25, "only {checked} mapped checks");
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
}
