//! A subject that labels the message as advertising, as laws asked senders to
//! (`scorer/data/advertisement_labels.tsv`): "ADV:" under US state laws of 1998-2003,
//! "未承諾広告※" (unsolicited advertisement) under Japan's 2002 act, "(광고)" under South
//! Korea's. A label of unsolicited advertising is the sender's own word that nobody asked
//! for the message (SPAM); a label that all advertising carries, consented to or not, makes
//! the message BULK.

use super::ScoreContext;
use std::sync::LazyLock;

/// The subject's label says the advertising was unsolicited (SPAM).
pub const UNSOLICITED_ADVERTISEMENT_LABEL: &str = "unsolicited_advertisement_label";
/// The subject's label says the message is advertising (BULK).
pub const ADVERTISEMENT_LABEL: &str = "advertisement_label";

/// How many reply or forward prefixes and list tags are looked past.
const MAX_PREFIXES: usize = 5;

/// (kind, label lower case, law) rows of the table.
static LABELS: LazyLock<Vec<(String, String, String)>> = LazyLock::new(|| {
    super::table::rows(include_str!("../../data/advertisement_labels.tsv"))
        .filter_map(|c| Some((c.first()?.to_string(), c.get(1)?.to_lowercase(), c.get(2).unwrap_or(&"").to_string())))
        .collect()
});

/// The subject without the reply and forward prefixes (`Re:`, `Fwd:`, `AW:`...) and
/// mailing list tags (`[ILUG]`) that come before what the sender wrote.
fn without_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim_start();
    for _ in 0..MAX_PREFIXES {
        let lower = rest.get(..4).unwrap_or(rest).to_ascii_lowercase();
        let skipped = if rest.starts_with('[') {
            rest.find(']').map(|end| end + 1)
        } else if ["re:", "fw:", "aw:", "wg:", "sv:"].iter().any(|p| lower.starts_with(p)) {
            Some(3)
        } else if lower.starts_with("fwd:") {
            Some(4)
        } else {
            None
        };
        match skipped {
            Some(n) => rest = rest[n..].trim_start(),
            None => break,
        }
    }
    rest
}

/// The table row whose label opens `subject`.
fn label_of(subject: &str) -> Option<&'static (String, String, String)> {
    let opening = without_prefixes(subject).to_lowercase();
    LABELS.iter().find(|(_, label, _)| opening.starts_with(label.as_str()))
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let Some(subject) = ctx.message.subject() else { return };
    let Some((kind, label, law)) = label_of(subject) else { return };
    let name = if kind == "unsolicited" { UNSOLICITED_ADVERTISEMENT_LABEL } else { ADVERTISEMENT_LABEL };
    let shown: String = subject.chars().take(60).collect();
    ctx.add(
        name,
        0,
        format!("the subject {shown:?} opens with {label:?}, the label of {kind} advertising under {law}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn a_label_of_unsolicited_advertising_is_spam_and_one_of_advertising_is_bulk() {
        let d = run("From: a@b.example\r\nSubject: ADV: Lowest life insurance rates available!\r\n\r\nx\r\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, UNSOLICITED_ADVERTISEMENT_LABEL);
        assert!(
            d[0].evidence.contains("opens with \"adv:\", the label of unsolicited advertising under US state laws"),
            "{d:?}"
        );
        assert_eq!(crate::verdict::decide(&d), proto::Disposition::Spam);
        // After a list's tag and a forward, in any case.
        let d = run("From: a@b.example\r\nSubject: [ILUG] Fwd: Adv: Mortgage Quotes Fast\r\n\r\nx\r\n");
        assert_eq!(d[0].name, UNSOLICITED_ADVERTISEMENT_LABEL, "{d:?}");
        // Japanese, encoded as mail sends it.
        let d = run("From: a@b.example\r\nSubject: =?UTF-8?B?5pyq5om/6Ku+5bqD5ZGK4oC744GK55+l44KJ44Gb?=\r\n\r\nx\r\n");
        assert_eq!(d[0].name, UNSOLICITED_ADVERTISEMENT_LABEL, "{d:?}");
        // Korean advertising, consented to or not: BULK.
        let d = run("From: a@b.example\r\nSubject: =?UTF-8?B?KOq0keqzoCkg7Iug7KCc7ZKIIOyViOuCtA==?=\r\n\r\nx\r\n");
        assert_eq!(d[0].name, ADVERTISEMENT_LABEL, "{d:?}");
        assert_eq!(crate::verdict::decide(&d), proto::Disposition::Bulk);
    }

    #[test]
    fn the_label_must_open_the_subject() {
        for subject in [
            "Advice: bring a jacket",
            "Adversarial examples, a reading list",
            "Re: the ADV: label laws",
            "ADVANCE notice",
        ] {
            let raw = format!("From: a@b.example\r\nSubject: {subject}\r\n\r\nx\r\n");
            assert!(run(&raw).is_empty(), "{subject}");
        }
        assert!(run("From: a@b.example\r\n\r\nno subject\r\n").is_empty());
        assert_eq!(without_prefixes("Re: RE: [list] Fw: hello"), "hello");
    }
}
