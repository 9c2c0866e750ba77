//! Scoring one message: parse, run the checks, decide. Pure: no I/O, no clock.

use crate::analysis::{self, MessageFacts, ScoreContext};
use crate::verdict;
use mail_parser::{Address, MessageParser};
use proto::{Attribute, Detection, Disposition, HeaderSummary};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub disposition: Disposition,
    pub attributes: Vec<Attribute>,
    pub detections: Vec<Detection>,
    pub headers: HeaderSummary,
}

pub const NO_HEADERS: &str = "no_headers";
pub const ANALYSIS_FAILED: &str = "analysis_failed";

/// Scores one message. A panic inside the parser or a check (a bug, which real mail can
/// find) is caught here: the message still gets a verdict, with the failure as evidence,
/// instead of being redelivered until it is dead-lettered.
pub fn score(raw: &[u8], facts: &MessageFacts) -> Verdict {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| score_unguarded(raw, facts))) {
        Ok(verdict) => verdict,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Verdict {
                disposition: Disposition::None,
                attributes: Vec::new(),
                detections: vec![Detection {
                    name: ANALYSIS_FAILED.into(),
                    score_milli: 0,
                    evidence: format!("analysis failed: {reason}"),
                }],
                headers: HeaderSummary::default(),
            }
        }
    }
}

fn score_unguarded(raw: &[u8], facts: &MessageFacts) -> Verdict {
    let Some(message) = MessageParser::default().parse(raw) else {
        // mail-parser finds no header at all: nothing to judge, recorded as such.
        return Verdict {
            disposition: Disposition::None,
            attributes: Vec::new(),
            detections: vec![Detection {
                name: NO_HEADERS.into(),
                score_milli: 0,
                evidence: "no RFC 5322 header could be parsed".into(),
            }],
            headers: HeaderSummary::default(),
        };
    };
    let mut ctx = ScoreContext::new(&message, facts);
    analysis::run_all(&mut ctx);
    let detections = ctx.detections;
    Verdict {
        disposition: verdict::decide(&detections),
        attributes: Vec::new(),
        detections,
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

fn addresses(list: Option<&Address<'_>>) -> Vec<String> {
    list.map(|l| l.iter().filter_map(|a| a.address()).map(str::to_lowercase).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(sender: &str) -> MessageFacts {
        MessageFacts { envelope_sender: sender.into() }
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
    fn misaligned_unsigned_mail_is_spoof_with_evidence() {
        let v = score(b"From: ceo@bank.example\r\n\r\npay now\r\n", &facts("x@attacker.example"));
        assert_eq!(v.disposition, Disposition::Spoof);
        assert!(v.detections[0].evidence.contains("bank.example"));
        assert!(v.detections[0].evidence.contains("attacker.example"));
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

    #[test]
    fn bytes_without_headers_are_scored_not_failed() {
        let v = score(b"", &facts(""));
        assert_eq!(v.disposition, Disposition::None);
        let v = score(&[0xff, 0xfe, 0x00, 0x01], &facts(""));
        assert_eq!(v.disposition, Disposition::None);
    }
}
