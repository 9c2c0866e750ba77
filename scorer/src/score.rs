//! Scoring one message: parse, run the checks, decide. Pure: no I/O, no clock.

use crate::analysis::{self, MessageFacts, ScoreContext};
use crate::verdict;
use mail_parser::Address;
use proto::{Attribute, Detection, Disposition, HeaderSummary};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub disposition: Disposition,
    pub attributes: Vec<Attribute>,
    pub detections: Vec<Detection>,
    pub headers: HeaderSummary,
    /// The message's text fingerprinted, for the scorer's campaign memory to keep
    /// ([`crate::campaign`]); none for a text too short or a reply.
    pub fingerprint: Option<crate::campaign::Fingerprint>,
}

pub const NO_HEADERS: &str = "no_headers";
pub const ANALYSIS_FAILED: &str = "analysis_failed";

/// A panic inside the parser or a check (a bug, which real mail can find), caught while
/// scoring one message, with the panic's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scoring panicked: {0}")]
pub struct ScoringPanicked(pub String);

/// Scores one message, a panic caught and returned. The worker retries such a message and
/// dead-letters it after its last delivery but one, with the panic as the reason.
/// `failpoints` (honoured by builds with debug assertions only, see [`failpoint`]) lets a
/// test message make scoring panic or crash the process.
pub fn try_score(raw: &[u8], facts: &MessageFacts, failpoints: bool) -> Result<Verdict, ScoringPanicked> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if failpoints {
            failpoint::before_scoring(raw);
        }
        score_unguarded(raw, facts)
    }))
    .map_err(|panic| ScoringPanicked(panic_message(panic.as_ref()).unwrap_or_else(|| "unknown panic".to_owned())))
}

/// The message a caught panic carries (`panic!("...")` with or without arguments), if any.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> Option<String> {
    panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned())
}

/// Scores one message for an evaluation: a panic becomes a NONE verdict with the failure
/// as its evidence (`analysis_failed`), so one bad file does not stop a corpus run.
pub fn score(raw: &[u8], facts: &MessageFacts) -> Verdict {
    match try_score(raw, facts, false) {
        Ok(verdict) => verdict,
        Err(ScoringPanicked(reason)) => Verdict {
            disposition: Disposition::None,
            attributes: Vec::new(),
            detections: vec![Detection {
                name: ANALYSIS_FAILED.into(),
                score_milli: 0,
                evidence: format!("analysis failed: {reason}"),
            }],
            headers: HeaderSummary::default(),
            fingerprint: None,
        },
    }
}

/// What the checks found in a message, before the learned combination and the policy:
/// a verdict is [`finish`]ed from it. Split so that an evaluation can score the same
/// analysis with another classifier or combination model (see [`crate::eval`]).
#[derive(Debug, Clone)]
pub struct Analysis {
    pub detections: Vec<Detection>,
    pub attributes: Vec<Attribute>,
    pub headers: HeaderSummary,
    /// The token classifier's score, when it gave one.
    pub content: Option<crate::classifier::ContentScore>,
    /// The From address (lower case), for the policy.
    pub from_address: Option<String>,
    /// No header could be parsed: nothing more is decided.
    pub unparsable: bool,
    /// The message's text fingerprinted ([`crate::analysis::snowshoe`]).
    pub fingerprint: Option<crate::campaign::Fingerprint>,
}

/// Test builds' failpoints: a message carrying `X-Postern-Failpoint: score-panic` makes
/// scoring panic, one with `score-abort` aborts the process (as a stack overflow in a
/// parser would, which no `catch_unwind` stops). Builds without debug assertions (release,
/// what is deployed) contain neither, and the scorer's config refuses `failpoints = true`.
pub mod failpoint {
    pub const SCORE_PANIC: &[u8] = b"X-Postern-Failpoint: score-panic";
    pub const SCORE_ABORT: &[u8] = b"X-Postern-Failpoint: score-abort";

    fn carries(raw: &[u8], marker: &[u8]) -> bool {
        raw.windows(marker.len()).any(|w| w == marker)
    }

    pub fn before_scoring(raw: &[u8]) {
        if cfg!(debug_assertions) {
            if carries(raw, SCORE_PANIC) {
                panic!("failpoint score-panic");
            }
            if carries(raw, SCORE_ABORT) {
                eprintln!("failpoint score-abort: aborting the process");
                std::process::abort();
            }
        }
    }
}

fn score_unguarded(raw: &[u8], facts: &MessageFacts) -> Verdict {
    finish(analyze(raw, facts), facts)
}

/// Runs every check over the message.
pub fn analyze(raw: &[u8], facts: &MessageFacts) -> Analysis {
    let Some(message) = crate::parse::parse_message(raw) else {
        // mail-parser finds no header at all: nothing to judge, recorded as such.
        return Analysis {
            detections: vec![Detection {
                name: NO_HEADERS.into(),
                score_milli: 0,
                evidence: "no RFC 5322 header could be parsed".into(),
            }],
            attributes: Vec::new(),
            headers: HeaderSummary::default(),
            content: None,
            from_address: None,
            unparsable: true,
            fingerprint: None,
        };
    };
    let mut ctx = ScoreContext::new(&message, facts);
    analysis::run_all(&mut ctx);
    if let Some(note) = repeated_message_ids(&message) {
        ctx.detections.push(note);
    }
    Analysis {
        detections: ctx.detections,
        attributes: ctx.attributes,
        content: ctx.content,
        fingerprint: ctx.fingerprint,
        from_address: message.from().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_lowercase),
        unparsable: false,
        headers: HeaderSummary {
            from: message.from().and_then(|a| a.first()).map(|a| match (a.name(), a.address()) {
                (Some(name), Some(addr)) => format!("{name} <{addr}>"),
                (None, Some(addr)) => addr.to_owned(),
                (Some(name), None) => name.to_owned(),
                (None, None) => String::new(),
            }),
            subject: message.subject().map(str::to_owned),
            date: message.date().map(|d| d.to_rfc3339()),
            to: addresses(message.to()),
        },
    }
}

/// A note (score 0: it changes no verdict) for a message with several Message-ID headers:
/// which ones, and the one Postern files it under (mail-parser's choice, as ingest's, which
/// derives the Postern id from it). swaks, for one, adds a `Message-Id` of its own beside a
/// `Message-ID` given with `--header`.
fn repeated_message_ids(message: &mail_parser::Message<'_>) -> Option<Detection> {
    let all: Vec<String> = message
        .headers()
        .iter()
        .filter(|h| h.name == mail_parser::HeaderName::MessageId)
        .map(|h| h.value.as_text().map_or_else(|| "(unreadable)".to_owned(), |t| format!("<{t}>")))
        .collect();
    if all.len() < 2 {
        return None;
    }
    let filed = message.message_id().map_or_else(|| "none of them".to_owned(), |id| format!("<{id}>"));
    Some(Detection {
        name: MESSAGE_ID_REPEATED.into(),
        score_milli: 0,
        evidence: format!("{} Message-ID headers ({}); filed under {filed}", all.len(), all.join(", ")),
    })
}

/// The note's name.
pub const MESSAGE_ID_REPEATED: &str = "message_id_repeated";

/// The verdict: the learned combination weighs the detections (when a model is loaded),
/// the disposition table decides, the tenant's policy has the last word.
pub fn finish(analysis: Analysis, facts: &MessageFacts) -> Verdict {
    let Analysis { mut detections, mut attributes, headers, content, from_address, unparsable, fingerprint } = analysis;
    if unparsable {
        return Verdict { disposition: Disposition::None, attributes, detections, headers, fingerprint };
    }
    if let Some(model) = &facts.combination
        && let Some(combined) = model.decide(&detections, content.as_ref())
    {
        detections.push(combined);
    }
    let mut disposition = verdict::decide(&detections);
    if let Some(policy) = &facts.policy {
        disposition = apply_policy(policy, from_address, facts, disposition, &mut detections, &mut attributes);
    }
    attributes.sort();
    Verdict { disposition, attributes, detections, headers, fingerprint }
}

/// The tenant's policy has the last word (see [`crate::policy`] for the order).
fn apply_policy(
    policy: &crate::policy::CompiledPolicy,
    from: Option<String>,
    facts: &MessageFacts,
    decided: Disposition,
    detections: &mut Vec<Detection>,
    attributes: &mut Vec<Attribute>,
) -> Disposition {
    use crate::policy::{PolicyMatch, Sender};
    let sender = Sender {
        addresses: from.iter().cloned().chain(std::iter::once(facts.envelope_sender.to_lowercase())).collect(),
        ip: facts.auth.as_ref().and_then(|a| a.spf.as_ref()).map(|s| s.ip),
        from_domain: from.as_deref().and_then(crate::analysis::domain::domain_of),
        auth: facts.auth.as_ref(),
    };
    let note = |detections: &mut Vec<Detection>, name: &str, evidence: String| {
        detections.push(Detection { name: name.to_owned(), score_milli: 0, evidence });
    };
    match policy.decide(&sender, &facts.recipients) {
        None => decided,
        Some(PolicyMatch::ExemptRecipients(entry)) => {
            note(detections, "policy_exempt_recipient", format!("every recipient is exempt ({entry}); was {decided}"));
            Disposition::None
        }
        Some(PolicyMatch::Trusted(entry)) => {
            note(detections, "policy_trusted_sender", format!("trusted sender {entry}; was {decided}"));
            Disposition::None
        }
        Some(PolicyMatch::Blocked(entry)) => {
            note(detections, "policy_blocked_sender", format!("blocked sender {entry}"));
            if !attributes.contains(&Attribute::CustomBlockList) {
                attributes.push(Attribute::CustomBlockList);
            }
            Disposition::Malicious
        }
        Some(PolicyMatch::Acceptable(entry)) => {
            let d = verdict::decide_without(detections, &[Disposition::Spoof, Disposition::Spam, Disposition::Bulk]);
            if d != decided {
                note(detections, "policy_acceptable_sender", format!("acceptable sender {entry}; was {decided}"));
            }
            d
        }
    }
}

fn addresses(list: Option<&Address<'_>>) -> Vec<String> {
    list.map(|l| l.iter().filter_map(|a| a.address()).map(str::to_lowercase).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::Attribute;

    fn facts(sender: &str) -> MessageFacts {
        MessageFacts { envelope_sender: sender.into(), ..Default::default() }
    }

    #[test]
    fn a_panic_while_scoring_is_returned_and_failpoints_need_asking() {
        let poison = b"From: a@example.com\r\nX-Postern-Failpoint: score-panic\r\nSubject: x\r\n\r\nhi\r\n";
        // Without failpoints the marker is just a header.
        assert_eq!(try_score(poison, &facts("a@example.com"), false).unwrap().disposition, Disposition::None);
        let asked = try_score(poison, &facts("a@example.com"), true);
        if cfg!(debug_assertions) {
            assert_eq!(asked.unwrap_err(), ScoringPanicked("failpoint score-panic".into()));
        } else {
            // Release builds (what is deployed) contain no failpoint, even when asked.
            assert_eq!(asked.unwrap().disposition, Disposition::None, "a release build honoured a failpoint");
        }
        // An evaluation turns the panic into evidence instead.
        let std::result::Result::Ok(v) = std::panic::catch_unwind(|| score(poison, &facts("a@example.com"))) else {
            panic!("score must not panic")
        };
        assert!(v.detections.iter().all(|d| d.name != ANALYSIS_FAILED), "no failpoint without asking: {v:?}");
    }

    #[test]
    fn several_message_ids_are_named_with_the_one_the_message_is_filed_under() {
        let twice = b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nMessage-Id: <swaks@vm>\r\n\
Message-ID: <hello@example.com>\r\nSubject: Lunch\r\n\r\nhi\r\n";
        let v = score(twice, &facts("alice@example.com"));
        let note = v.detections.iter().find(|d| d.name == MESSAGE_ID_REPEATED).expect("the note");
        let filed = mail_parser::MessageParser::default().parse(&twice[..]).unwrap().message_id().unwrap().to_owned();
        assert_eq!(
            note.evidence,
            format!("2 Message-ID headers (<swaks@vm>, <hello@example.com>); filed under <{filed}>")
        );
        assert_eq!((note.score_milli, v.disposition), (0, Disposition::None), "a note changes no verdict");
        let once = b"From: a@example.com\r\nMessage-ID: <one@example.com>\r\nSubject: x\r\n\r\nhi\r\n";
        assert!(score(once, &facts("a@example.com")).detections.iter().all(|d| d.name != MESSAGE_ID_REPEATED));
    }

    #[test]
    fn plain_aligned_mail_is_none() {
        let v = score(
            b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Lunch\r\n\r\nhi\r\n",
            &facts("alice@mail.example.com"),
        );
        assert_eq!(v.disposition, Disposition::None);
        assert_eq!(v.headers.subject.as_deref(), Some("Lunch"));
        assert_eq!(v.headers.from.as_deref(), Some("Alice <alice@example.com>"));
        assert_eq!(v.headers.to, vec!["bob@example.org"]);
    }

    #[test]
    fn newsletters_are_bulk() {
        let v = score(
            b"From: news@shop.example\r\nList-Unsubscribe: <mailto:u@shop.example>\r\n\r\nsale\r\n",
            &facts("bounce@shop.example"),
        );
        assert_eq!(v.disposition, Disposition::Bulk);
        let v = score(b"From: a@shop.example\r\nPrecedence: bulk\r\n\r\nx\r\n", &facts("a@shop.example"));
        assert_eq!(v.disposition, Disposition::Bulk);
    }

    #[test]
    fn misalignment_is_spoof_only_when_authentication_failed() {
        use crate::auth::{AuthResults, Result3, SpfCheck};
        let msg = b"From: ceo@bank.example\r\n\r\npay now\r\n";
        // Nothing could be checked: evidence, no verdict.
        let v = score(msg, &facts("x@attacker.example"));
        assert_eq!(v.disposition, Disposition::None);
        assert_eq!(v.detections[0].name, "from_envelope_differs");
        assert!(v.detections[0].evidence.contains("bank.example"));
        assert!(v.detections[0].evidence.contains("attacker.example"));
        let failed = MessageFacts {
            envelope_sender: "x@attacker.example".into(),
            auth: Some(AuthResults {
                spf: Some(SpfCheck {
                    domain: "attacker.example".into(),
                    ip: "192.0.2.1".parse().unwrap(),
                    outcome: Result3::Fail,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = score(msg, &failed);
        assert_eq!(v.disposition, Disposition::Spoof, "{v:?}");
        assert!(v.detections.iter().any(|d| d.name == "from_envelope_misaligned" && d.evidence.contains("SPF fails")));
    }

    #[test]
    fn verified_dkim_decides_alignment() {
        use crate::auth::{DkimCheck, Outcome};
        let msg = b"DKIM-Signature: v=1; d=bank.example; s=s; b=x\r\nFrom: ceo@bank.example\r\n\r\nhi\r\n";
        let with = |outcome| MessageFacts {
            envelope_sender: "bounces@esp.example".into(),
            auth: Some(crate::auth::AuthResults {
                dkim: vec![DkimCheck { domain: "bank.example".into(), outcome, reason: None }],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(score(msg, &with(Outcome::Pass)).disposition, Disposition::None);
        // DNS unavailable says nothing against the signature.
        assert_eq!(score(msg, &with(Outcome::TempError)).disposition, Disposition::None);
        // A signature that does not verify vouches for nothing.
        let failed = score(msg, &with(Outcome::Fail));
        assert_eq!(failed.disposition, Disposition::Spoof);
        assert!(failed.detections.iter().any(|d| d.name == "dkim_fail"));
    }

    #[test]
    fn dmarc_failures_follow_the_published_policy() {
        use crate::auth::{AuthResults, DmarcCheck, DmarcPolicy, Result3};
        let msg = b"From: ceo@bank.example\r\n\r\nhi\r\n";
        let with = |outcome, policy| MessageFacts {
            envelope_sender: "x@bank.example".into(),
            auth: Some(AuthResults {
                dmarc: Some(DmarcCheck { domain: "bank.example".into(), outcome, policy }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(score(msg, &with(Result3::Fail, DmarcPolicy::Reject)).disposition, Disposition::Spam);
        assert_eq!(score(msg, &with(Result3::Fail, DmarcPolicy::Quarantine)).disposition, Disposition::Spam);
        assert_eq!(score(msg, &with(Result3::Fail, DmarcPolicy::None)).disposition, Disposition::Spoof);
        assert_eq!(score(msg, &with(Result3::Pass, DmarcPolicy::Reject)).disposition, Disposition::None);
        // A DMARC pass settles alignment even when the envelope is elsewhere.
        let mut passed = with(Result3::Pass, DmarcPolicy::Reject);
        passed.envelope_sender = "bounce@esp.example".into();
        assert_eq!(score(msg, &passed).disposition, Disposition::None);
    }

    #[test]
    fn new_domains_by_the_operators_table() {
        use crate::analysis::new_domain::DomainAges;
        let ages = std::sync::Arc::new(
            DomainAges::parse(
                "fresh.example,2026-11-20\nmonth.example,2026-11-01\nold.example,2001-01-01\nlink.example,2026-11-21\n",
            )
            .unwrap(),
        );
        // 2026-11-22T10:00:00Z
        let at = |sender: &str| MessageFacts {
            envelope_sender: sender.into(),
            now: proto::Timestamp(1_795_341_600_000),
            domain_ages: Some(ages.clone()),
            ..Default::default()
        };
        let v = score(b"From: a@fresh.example\r\n\r\nhi\r\n", &at("a@fresh.example"));
        assert_eq!(v.disposition, Disposition::Suspicious, "{v:?}");
        assert!(v.attributes.contains(&Attribute::NewDomainSender("2026-11-20".into())));
        let v = score(b"From: a@month.example\r\n\r\nhi\r\n", &at("a@month.example"));
        assert_eq!(v.disposition, Disposition::None);
        assert!(v.attributes.contains(&Attribute::NewDomainSender("2026-11-01".into())));
        let v = score(b"From: a@old.example\r\n\r\nsee https://www.link.example/x\r\n", &at("a@old.example"));
        assert_eq!(v.disposition, Disposition::Suspicious, "{v:?}");
        assert_eq!(v.attributes, vec![Attribute::NewDomainLink("2026-11-21".into())]);
    }

    #[test]
    fn a_display_name_with_another_address_is_spoof() {
        let v = score(
            b"From: \"ceo@bank.example\" <boss1234@freemail.example>\r\n\r\npay\r\n",
            &facts("boss1234@freemail.example"),
        );
        assert_eq!(v.disposition, Disposition::Spoof);
        assert!(v.detections.iter().any(|d| d.name == "display_name_address"));
        let v = score(
            b"From: \"Alice (alice@home.example)\" <alice@home.example>\r\n\r\nhi\r\n",
            &facts("alice@home.example"),
        );
        assert_eq!(v.disposition, Disposition::None);
    }

    #[test]
    fn dkim_or_list_sender_alignment_is_not_spoof() {
        let v = score(
            b"DKIM-Signature: v=1; d=bank.example; s=s; b=x\r\nFrom: ceo@bank.example\r\n\r\nhi\r\n",
            &facts("bounces@esp.example"),
        );
        assert_eq!(v.disposition, Disposition::None);
        let v = score(
            b"Sender: list-owner@lists.example\r\nFrom: someone@home.example\r\n\r\nhi\r\n",
            &facts("list-bounces@lists.example"),
        );
        assert_eq!(v.disposition, Disposition::None);
        // Mailing-list mail is resent under the list's envelope.
        let v = score(
            b"List-Id: <talk.lists.example>\r\nFrom: someone@home.example\r\n\r\nhi\r\n",
            &facts("talk-bounces@lists.example"),
        );
        assert_eq!(v.disposition, Disposition::None);
        // The null sender (a bounce) is not compared.
        let v = score(b"From: mailer-daemon@x.example\r\n\r\nbounce\r\n", &facts(""));
        assert_eq!(v.disposition, Disposition::None);
    }

    fn with_policy(sender: &str, recipients: &[&str]) -> MessageFacts {
        use crate::policy::PolicyFile;
        let policy = crate::policy::TenantPolicy::from_toml(include_str!("../policy.example.toml")).unwrap();
        MessageFacts {
            envelope_sender: sender.into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            policy: Some(std::sync::Arc::new(policy.compile().unwrap())),
            ..Default::default()
        }
    }

    #[test]
    fn the_tenant_policy_has_the_last_word() {
        let to = ["bob@corp.example"];
        let v = score(b"From: x@mail.known-bad.example\r\n\r\nhi\r\n", &with_policy("x@mail.known-bad.example", &to));
        assert_eq!(v.disposition, Disposition::Malicious);
        assert!(v.attributes.contains(&Attribute::CustomBlockList));
        assert!(v.detections.iter().any(|d| d.name == "policy_blocked_sender"));
        // Acceptable: a newsletter is not BULK, but a password form still is SUSPICIOUS.
        let news = b"From: n@newsletter.example\r\nList-Unsubscribe: <mailto:u@newsletter.example>\r\n\r\nnews\r\n";
        assert_eq!(score(news, &with_policy("n@newsletter.example", &to)).disposition, Disposition::None);
        let form =
            b"From: n@newsletter.example\r\nContent-Type: text/html\r\n\r\n<form><input type=password></form>\r\n";
        assert_eq!(score(form, &with_policy("n@newsletter.example", &to)).disposition, Disposition::Suspicious);
        // Exempt only when every recipient is.
        let bad = b"From: x@known-bad.example\r\n\r\nhi\r\n";
        assert_eq!(
            score(bad, &with_policy("x@known-bad.example", &["abuse@corp.example"])).disposition,
            Disposition::None
        );
        assert_eq!(
            score(bad, &with_policy("x@known-bad.example", &["abuse@corp.example", "bob@corp.example"])).disposition,
            Disposition::Malicious
        );
        // Trusted with verify_sender: not honoured unauthenticated (the display name spoof stands).
        let trusted = b"From: \"ceo@bank.example\" <alerts@partner.example>\r\n\r\nhi\r\n";
        assert_eq!(score(trusted, &with_policy("alerts@partner.example", &to)).disposition, Disposition::Spoof);
    }

    #[test]
    fn bec_and_lookalikes_from_the_policy() {
        let to = ["bob@corp.example"];
        let v = score(
            b"From: \"Jane D0e\" <jane.doe.ceo@freemail.example>\r\nSubject: wire today\r\n\r\nurgent\r\n",
            &with_policy("jane.doe.ceo@freemail.example", &to),
        );
        assert_eq!(v.disposition, Disposition::Suspicious, "{v:?}");
        assert!(v.attributes.contains(&Attribute::Bec));
        // Her real address, or the tenant's own domain, is not impersonation.
        let real = b"From: \"Jane Doe\" <jane.doe@corp.example>\r\n\r\nhi\r\n";
        assert_eq!(score(real, &with_policy("jane.doe@corp.example", &to)).disposition, Disposition::None);
        // The address imitated on another domain.
        let v =
            score(b"From: jane.doe@c0rp-mail.example\r\n\r\nhi\r\n", &with_policy("jane.doe@c0rp-mail.example", &to));
        assert!(v.attributes.contains(&Attribute::Bec), "{v:?}");
        // A lookalike of the tenant's domain, and a punycode one.
        let v = score(b"From: it@corp.exarnple\r\n\r\nreset\r\n", &with_policy("it@corp.exarnple", &to));
        assert!(v.detections.iter().any(|d| d.name == "lookalike_domain"), "{v:?}");
        let v = score(
            b"From: it@corp.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://login.xn--prtner-3nf.example/\">login</a>\r\n",
            &with_policy("it@corp.example", &to),
        );
        assert!(
            v.detections
                .iter()
                .any(|d| d.name == "lookalike_domain"
                    && d.evidence.contains("(pаrtner.example) looks like partner.example")),
            "{v:?}"
        );
        // Trusted domains themselves are never lookalikes.
        let v = score(b"From: a@partner.example\r\n\r\nhi\r\n", &with_policy("a@partner.example", &to));
        assert_eq!(v.disposition, Disposition::None);
    }

    #[test]
    fn esp_marketing_is_bulk_and_receipts_are_not() {
        let marketing =
            b"From: deals@shop.example\r\nX-SG-EID: abc\r\n\r\nBig sale! Unsubscribe here: https://shop.example/u\r\n";
        let v = score(marketing, &facts("bounce@shop.example"));
        assert_eq!(v.disposition, Disposition::Bulk);
        assert!(v.detections.iter().any(|d| d.name == "esp_bulk" && d.evidence.contains("X-SG-EID")));
        let receipt = b"From: orders@shop.example\r\nX-SG-EID: abc\r\n\r\nYour order 123 has shipped.\r\n";
        assert_eq!(score(receipt, &facts("bounce@shop.example")).disposition, Disposition::None);
    }

    #[test]
    fn shorteners_and_attached_credential_pages() {
        let v = score(b"From: a@example.com\r\n\r\nsee https://bit.ly/3xyz now\r\n", &facts("a@example.com"));
        assert!(v.detections.iter().any(|d| d.name == "link_shortener" && d.evidence.contains("bit.ly")));
        assert_eq!(v.disposition, Disposition::None, "a shortener alone is evidence");
        let page = b"<html><form action=\"https://x.example/p\"><input type=\"password\" name=\"p\"></form></html>";
        let v = score(&with_attachment("Invoice.html", "text/html", page), &facts("a@example.com"));
        assert_eq!(v.disposition, Disposition::Suspicious, "{v:?}");
        assert!(v.detections.iter().any(|d| d.name == "credential_form" && d.evidence.contains("Invoice.html")));
    }

    #[test]
    fn reply_to_elsewhere_is_spoof_only_with_failed_authentication() {
        use crate::auth::{AuthResults, DkimCheck, Outcome};
        let msg = b"From: ceo@bank.example\r\nReply-To: ceo.bank@freemail.example\r\nDKIM-Signature: v=1; d=bank.example; s=s; b=x\r\n\r\nwire\r\n";
        let v = score(msg, &facts("ceo@bank.example"));
        assert_eq!(v.disposition, Disposition::None);
        assert!(v.detections.iter().any(|d| d.name == "reply_to_differs"));
        let failed = MessageFacts {
            envelope_sender: "ceo@bank.example".into(),
            auth: Some(AuthResults {
                dkim: vec![DkimCheck { domain: "bank.example".into(), outcome: Outcome::Fail, reason: None }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = score(msg, &failed);
        assert_eq!(v.disposition, Disposition::Spoof, "{v:?}");
        assert!(v.detections.iter().any(|d| d.name == "reply_to_misaligned"));
    }

    #[test]
    fn bytes_without_headers_are_scored_not_failed() {
        let v = score(b"", &facts(""));
        assert_eq!(v.disposition, Disposition::None);
        let v = score(&[0xff, 0xfe, 0x00, 0x01], &facts(""));
        assert_eq!(v.disposition, Disposition::None);
    }

    fn with_attachment(name: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
        format!(
            "From: a@example.com\r\nTo: b@corp.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
--b\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            testkit::journal::base64(bytes)
        )
        .into_bytes()
    }

    #[test]
    fn executables_are_malicious_and_flagged() {
        let v = score(
            &with_attachment("invoice.pdf", "application/pdf", b"MZ\x90\x00\x03\x00\x00\x00"),
            &facts("a@example.com"),
        );
        assert_eq!(v.disposition, Disposition::Malicious);
        assert!(v.attributes.contains(&Attribute::Executable));
        assert!(v.detections.iter().any(|d| d.evidence.contains("invoice.pdf")));
    }

    #[test]
    fn encrypted_content_gets_the_attribute() {
        let mut zip = b"PK\x03\x04\x14\x00\x01\x00".to_vec();
        zip.extend_from_slice(&[0u8; 18]);
        zip.extend_from_slice(&8u16.to_le_bytes());
        zip.extend_from_slice(&[0, 0]);
        zip.extend_from_slice(b"data.txt");
        let v = score(&with_attachment("secret.zip", "application/zip", &zip), &facts("a@example.com"));
        assert!(v.attributes.contains(&Attribute::Encrypted), "{v:?}");
        assert_eq!(v.disposition, Disposition::None);
        let pgp = b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e\"\r\n\r\n--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--e\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQEM\r\n-----END PGP MESSAGE-----\r\n--e--\r\n";
        assert!(score(pgp, &facts("a@example.com")).attributes.contains(&Attribute::Encrypted));
        let smime = b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n";
        assert!(score(smime, &facts("a@example.com")).attributes.contains(&Attribute::Encrypted));
    }

    #[test]
    fn password_forms_and_ip_links_are_suspicious() {
        let html = b"From: it@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<form action=\"https://x.example/p\"><input type=\"password\" name=\"p\"></form>\r\n";
        let v = score(html, &facts("it@example.com"));
        assert_eq!(v.disposition, Disposition::Suspicious);
        let link = b"From: it@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<a href=\"http://198.51.100.4/login\">https://bank.example/login</a>\r\n";
        let v = score(link, &facts("it@example.com"));
        assert_eq!(v.disposition, Disposition::Suspicious);
        assert!(v.detections.iter().any(|d| d.name == "link_text_mismatch"));
    }
}
