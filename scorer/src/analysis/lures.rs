//! Credential and payment lures: the phrases of `scorer/data/lures.tsv` (account
//! suspended, verify, password expiry, delivery failed, invoice, payment declined, ... in
//! the main languages of the corpus) in the subject and the body text, matched by one
//! Aho-Corasick automaton. Two distinct phrases of a kind make the detection; evidence for
//! the learned combination.

use super::ScoreContext;
use std::sync::LazyLock;

pub const CREDENTIAL_LURE: &str = "credential_lure";
pub const PAYMENT_LURE: &str = "payment_lure";

/// Distinct phrases of a kind a message needs.
pub const MIN_PHRASES: usize = 2;
/// The most body text read.
const MAX_TEXT: usize = 64 * 1024;

struct Lures {
    /// (kind, language, phrase)
    rows: Vec<(String, String, String)>,
    automaton: aho_corasick::AhoCorasick,
}

static LURES: LazyLock<Lures> = LazyLock::new(|| {
    let rows: Vec<(String, String, String)> = super::table::rows(include_str!("../../data/lures.tsv"))
        .filter_map(|c| Some((c.first()?.to_string(), c.get(1)?.to_string(), c.get(2)?.to_lowercase())))
        .collect();
    let automaton = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(rows.iter().map(|(_, _, p)| p.as_str()))
        // The phrases are a few hundred short strings: building cannot exceed any limit.
        .expect("the lure table builds");
    Lures { rows, automaton }
});

/// The lowered text with white space folded to single spaces.
fn normalise(text: &str, out: &mut String) {
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        }
        if out.len() >= MAX_TEXT {
            break;
        }
    }
    out.push(' ');
}

/// The distinct phrases of each kind found in `text`: (kind, phrases).
pub fn find(text: &str) -> Vec<(&'static str, Vec<String>)> {
    let lures = &*LURES;
    let mut credential: Vec<String> = Vec::new();
    let mut payment: Vec<String> = Vec::new();
    for m in lures.automaton.find_iter(text) {
        let (kind, _, phrase) = &lures.rows[m.pattern().as_usize()];
        // Whole words only, where the script separates words by spaces: a phrase that
        // begins (ends) with a CJK character may stand right after (before) another one.
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        let first = phrase.chars().next().is_some_and(is_cjk);
        let last = phrase.chars().next_back().is_some_and(is_cjk);
        if (!first && before.is_some_and(char::is_alphanumeric)) || (!last && after.is_some_and(char::is_alphanumeric))
        {
            continue;
        }
        let list = if kind == "credential" { &mut credential } else { &mut payment };
        if !list.contains(phrase) {
            list.push(phrase.clone());
        }
    }
    vec![(CREDENTIAL_LURE, credential), (PAYMENT_LURE, payment)]
}

/// Han, hiragana and katakana (full and half width): scripts written without spaces.
fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{ff66}'..='\u{ff9f}')
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let mut text = String::new();
    normalise(ctx.message.subject().unwrap_or(""), &mut text);
    for i in 0..ctx.message.text_body.len().max(ctx.message.html_body.len()) {
        if text.len() >= MAX_TEXT {
            break;
        }
        if let Some(body) = ctx.message.body_text(i) {
            normalise(&body, &mut text);
        }
    }
    for (name, phrases) in find(&text) {
        if phrases.len() >= MIN_PHRASES {
            let shown: Vec<String> = phrases.iter().take(5).map(|p| format!("{p:?}")).collect();
            ctx.add(name, 0, format!("{} lure phrases: {}", phrases.len(), shown.join(", ")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn credential_and_payment_lures_in_several_languages() {
        let d = run(
            "Subject: Security alert\r\n\r\nUnusual sign-in activity. Verify your\r\n  account within 24 hours.\r\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, CREDENTIAL_LURE);
        assert!(d[0].evidence.contains("\"verify your account\""), "white space folded: {d:?}");
        let d = run("Subject: Rechnung\r\n\r\nIhre Zahlung fehlgeschlagen. Bitte aktualisieren.\r\n");
        assert_eq!(d[0].name, PAYMENT_LURE, "{d:?}");
        let d = run("Subject: Votre compte a été suspendu\r\n\r\nVeuillez vérifier votre compte.\r\n");
        assert_eq!(d[0].name, CREDENTIAL_LURE, "{d:?}");
    }

    #[test]
    fn phrases_in_scripts_without_spaces_match_inside_running_text() {
        let d = run(
            "Subject: =?UTF-8?B?44OR44K544Ov44O844OJ5YaN6Kit5a6a44Gu44GU6YCj57Wh?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
お客様のアカウントで不正なログインを検知しました。本人確認のため24時間以内にログインしてください。\r\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, CREDENTIAL_LURE);
        assert!(d[0].evidence.contains("不正なログイン") && d[0].evidence.contains("本人確認"), "{d:?}");
        let d =
            run("Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n您的账户异常，请立即完成身份验证。\r\n");
        assert_eq!(d.len(), 1, "{d:?}");
        // One phrase alone is still not enough.
        assert!(
            run("Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n本人確認の書類をお送りします。\r\n")
                .is_empty()
        );
    }

    #[test]
    fn one_phrase_or_a_word_inside_another_is_not_a_lure() {
        assert!(run("Subject: Meeting\r\n\r\nThe refund policy is on the wiki.\r\n").is_empty());
        assert!(run("Subject: x\r\n\r\nrefunds and walletless renewals\r\n").is_empty());
    }
}
