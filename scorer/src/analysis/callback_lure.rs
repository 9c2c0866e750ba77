//! Callback phishing ("telephone-oriented attack delivery"): a charge the reader never made
//! (an invoice, a renewal, an order: `Invoice and details enclosed`, `If you do not
//! recognize this charge`) and a phone number presented as the support or billing line to
//! call about it (`Phone Support: +1(983) 220-2512`). Nobody who calls reaches the company:
//! a "support agent" asks for the card number or for remote access to "process the refund".
//! The message carries no link for a link check to read, and its words are a real
//! receipt's, so the words alone do not make it: a shop's own receipt also gives its
//! support line. What a shop's receipt never is: sent to a crowd (ten or more addresses of
//! five or more domains in To and Cc, or to undisclosed recipients: a charge concerns one
//! customer), or in the name of a brand whose domains neither its From nor its links are
//! ([`super::brand_impersonation::BRAND_IMPERSONATION`]). The phrases are the table
//! `scorer/data/callback_lures.tsv`. Not in mail from the tenant's own or trusted domains.
//! SUSPICIOUS.

use super::ScoreContext;
use std::collections::BTreeSet;
use std::sync::LazyLock;

pub const CALLBACK_LURE: &str = "callback_lure";

/// The characters before a phone number read for the line's name.
const LINE_WINDOW: usize = 60;
/// A crowd: at least this many addresses in To and Cc...
pub const CROWD_ADDRESSES: usize = 10;
/// ... of at least this many domains.
pub const CROWD_DOMAINS: usize = 5;
/// The most text read.
const MAX_TEXT: usize = 64 * 1024;

/// (kind, phrase), phrases lower case.
static PHRASES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    super::table::rows(include_str!("../../data/callback_lures.tsv"))
        .filter_map(|c| Some((c.first()?.to_string(), without_hyphens(&c.get(2)?.to_lowercase()))))
        .collect()
});

/// Hyphens read as spaces, in the phrases and the text they are looked for in: `help-desk`,
/// `toll-free` and `auto-renew` are written both ways.
fn without_hyphens(text: &str) -> String {
    text.replace('-', " ")
}

/// A North American number (`+1 (855) 818-0035`, `888.315.3816`, `1-800-555-0123`) or an
/// international one written with its country code (`+44 20 7946 0958`).
static PHONE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?:\+?1[\s.\-]?)?\(?[2-9]\d{2}\)?[\s.\-]{0,2}\d{3}[\s.\-]\d{4}|\+\d{1,3}[\s.\-]?\(?\d{1,4}\)?(?:[\s.\-]?\d{2,4}){2,4}",
    )
    .expect("the phone pattern compiles")
});

/// Whether `phrase` occurs in `text` as whole words.
fn has_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn phrases_of<'t>(kind: &'t str) -> impl Iterator<Item = &'static str> + 't {
    PHRASES.iter().filter(move |(k, _)| k == kind).map(|(_, p)| p.as_str())
}

/// The first phone number in `text` (lower case, white space folded) presented as a
/// support or billing line: (the line's words, the number).
fn support_line(text: &str) -> Option<(&'static str, String)> {
    PHONE.find_iter(text).find_map(|number| {
        // Not the tail of a longer run of digits (an order or tracking number).
        if text[..number.start()].chars().next_back().is_some_and(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut from = number.start().saturating_sub(LINE_WINDOW);
        while !text.is_char_boundary(from) {
            from += 1;
        }
        let before = without_hyphens(&text[from..number.start()]);
        phrases_of("line").find(|line| has_phrase(&before, line)).map(|line| (line, number.as_str().trim().to_owned()))
    })
}

/// Why the message reads as a mailing to many rather than one customer's charge.
fn sent_to_a_crowd(ctx: &ScoreContext<'_>) -> Option<String> {
    let mut addresses = Vec::new();
    for list in [ctx.message.to(), ctx.message.cc()].into_iter().flatten() {
        addresses.extend(list.iter().filter_map(|a| a.address()).map(str::to_ascii_lowercase));
    }
    let named = addresses.iter().filter(|a| a.contains('@') && !a.starts_with("undisclosed")).count();
    if named == 0 {
        return Some("sent to undisclosed recipients".to_owned());
    }
    let domains: BTreeSet<&str> = addresses.iter().filter_map(|a| a.rsplit_once('@').map(|(_, d)| d)).collect();
    (addresses.len() >= CROWD_ADDRESSES && domains.len() >= CROWD_DOMAINS)
        .then(|| format!("sent to {} addresses of {} domains", addresses.len(), domains.len()))
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    if ctx.from_domain().is_some_and(|d| ctx.own_or_trusted(&d)) {
        return;
    }
    let mut text = crate::classifier::clip(ctx.message.subject().unwrap_or(""), MAX_TEXT).to_lowercase();
    for body in ctx.body_texts().iter().flatten() {
        if text.len() >= MAX_TEXT {
            break;
        }
        text.push(' ');
        text.push_str(&crate::classifier::clip(body, MAX_TEXT - text.len()).to_lowercase());
    }
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some((line, number)) = support_line(&text) else { return };
    let words = without_hyphens(&text);
    let Some(charge) = phrases_of("charge").find(|c| has_phrase(&words, c)) else { return };
    let claim = ctx.detection(super::brand_impersonation::BRAND_IMPERSONATION).map(|d| d.evidence.clone());
    let Some(why) = sent_to_a_crowd(ctx).or(claim) else { return };
    ctx.add(CALLBACK_LURE, 0, format!("a charge ({charge:?}) and a line to call about it ({line:?}: {number}); {why}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::table::{detections_for_tenant, detections_of};

    fn message(to: &str, body: &str) -> String {
        format!(
            "From: Evan Uggen <evan.uggen@indiannation.example>\r\nTo: {to}\r\nSubject: Hello\r\n\
Content-Type: text/plain\r\n\r\n{body}\r\n"
        )
    }

    fn crowd() -> String {
        (0..12).map(|i| format!("m{i}@d{}.example", i % 6)).collect::<Vec<_>>().join(", ")
    }

    const TOAD: &str =
        "Hello, please find your invoice attached for your records. 2025-11-05-Customer Help Line: (888) 315-3816";

    #[test]
    fn a_charge_and_a_line_to_call_sent_to_a_crowd() {
        let d = detections_of(&message(&crowd(), TOAD), check);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, CALLBACK_LURE);
        assert!(d[0].evidence.contains("(888) 315-3816"), "{d:?}");
        assert!(d[0].evidence.contains("12 addresses of 6 domains"), "{d:?}");
        let undisclosed = detections_of(&message("undisclosed-recipients:;", TOAD), check);
        assert!(undisclosed[0].evidence.contains("undisclosed recipients"), "{undisclosed:?}");
        let international = "Your subscription was renewed. To cancel call +44 20 7946 0958 today.";
        assert_eq!(detections_of(&message(&crowd(), international), check).len(), 1);
    }

    #[test]
    fn a_shops_receipt_to_its_customer_is_not() {
        // One customer, the same words: a real receipt gives its support line too.
        assert!(detections_of(&message("jane@corp.example", TOAD), check).is_empty());
        // No line's words before the number (a tracking number, an order number).
        let tracking = "Your order 4471-555-0123 ships today; tracking 885769618402.";
        assert!(detections_of(&message(&crowd(), tracking), check).is_empty());
        // A support line without a charge.
        let event = "Join the call: support line 212-555-0199, passcode 4411.";
        assert!(detections_of(&message(&crowd(), event), check).is_empty());
        // The tenant's own domain.
        let own = detections_for_tenant(&message(&crowd(), TOAD), "own_domains = [\"indiannation.example\"]\n", check);
        assert!(own.is_empty());
    }

    #[test]
    fn only_the_first_64_kib_of_text_are_read() {
        let filler = "lorem ipsum dolor sit amet ".repeat(40_000);
        assert_eq!(detections_of(&message(&crowd(), &format!("{TOAD} {filler}")), check).len(), 1);
        assert!(detections_of(&message(&crowd(), &format!("{filler} {TOAD}")), check).is_empty());
    }

    #[test]
    fn phrases_are_whole_words_and_numbers_whole() {
        assert!(has_phrase("call us at", "call us"));
        assert_eq!(support_line("help-desk +1 (808) 320-4073").map(|(line, _)| line), Some("help desk"));
        assert!(!has_phrase("recall usual", "call us"));
        assert!(support_line("order 12345 555-0123").is_none());
        assert_eq!(support_line("billing support: 1-800-555-0123").map(|(_, n)| n), Some("1-800-555-0123".to_owned()));
    }
}
