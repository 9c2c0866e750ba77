//! Credential and payment lures: the phrases of `scorer/data/lures.tsv` (account
//! suspended, verify, password expiry, delivery failed, invoice, payment declined, ... in
//! the main languages of the corpus) in the subject and the body text, matched by one
//! Aho-Corasick automaton. Two distinct phrases of a kind make the detection; evidence for
//! the learned combination.
//!
//! Scams, the same way: the phrases of `scorer/data/scam_phrases.tsv` (advance-fee fraud,
//! lottery, investment, sextortion, loan fraud and the other kinds its header lists); two
//! distinct phrases of one kind make `scam_lure`, a verdict (SPAM) of its own. One phrase of
//! the survey-reward scam's bait (`lures.tsv`'s `gift` kind) in a message that claims a
//! brand it is not from makes `brand_gift_lure` (SPAM).

use super::ScoreContext;
use std::sync::LazyLock;

pub const CREDENTIAL_LURE: &str = "credential_lure";
pub const PAYMENT_LURE: &str = "payment_lure";
pub const SCAM_LURE: &str = "scam_lure";
/// A verdict (SPAM): one phrase of the survey-reward scam's bait (the `gift` kind of
/// `lures.tsv`: "complimentary", "you've been selected", "45-second survey") in a message that claims a
/// brand whose domains neither its From nor its links are
/// ([`super::brand_impersonation::BRAND_IMPERSONATION`], or the body's opening line,
/// [`super::brand_impersonation::BRAND_HEADING`]): a retailer's gift that the retailer does
/// not send. A brand's own offer, or a newsletter's that links to the brand,
/// is not this.
pub const BRAND_GIFT_LURE: &str = "brand_gift_lure";
/// A verdict (SUSPICIOUS): a credential or payment lure (two phrases of a kind) in a
/// message that claims a brand whose domains neither its From nor its links are
/// ([`super::brand_impersonation::BRAND_IMPERSONATION`], or the body's opening line,
/// [`super::brand_impersonation::BRAND_HEADING`]): the card company's locked
/// account, the tax office's unpaid tax, sent by someone else. The brand's own mail, or a
/// mention beside a link to the brand, is no impersonation and so not this.
pub const BRAND_LURE: &str = "brand_lure";
/// The lure table's kind that [`BRAND_GIFT_LURE`] reads.
const GIFT_KIND: &str = "gift";

/// Distinct phrases of a kind a message needs.
pub const MIN_PHRASES: usize = 2;
/// The most body text read.
const MAX_TEXT: usize = 64 * 1024;

/// A table of phrases by kind, found by one automaton.
struct PhraseTable {
    /// (kind, language, phrase)
    rows: Vec<(String, String, String)>,
    /// The kinds, in the table's order.
    kinds: Vec<String>,
    automaton: aho_corasick::AhoCorasick,
}

impl PhraseTable {
    /// Rows `kind<TAB>language<TAB>phrase`.
    fn new(tsv: &str) -> PhraseTable {
        let rows: Vec<(String, String, String)> = super::table::rows(tsv)
            .filter_map(|c| Some((c.first()?.to_string(), c.get(1)?.to_string(), c.get(2)?.to_lowercase())))
            .collect();
        let mut kinds: Vec<String> = Vec::new();
        for (kind, _, _) in &rows {
            if !kinds.contains(kind) {
                kinds.push(kind.clone());
            }
        }
        let automaton = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            // A DFA: a few hundred phrases make one of a few MB, and it reads every body.
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(rows.iter().map(|(_, _, p)| p.as_str()))
            // The phrases are a few hundred short strings: building cannot exceed any limit.
            .expect("a phrase table builds");
        PhraseTable { rows, kinds, automaton }
    }

    /// The distinct phrases of each kind found in `text` (normalised): (kind, phrases),
    /// every kind of the table in its order.
    fn find(&self, text: &str) -> Vec<(&str, Vec<String>)> {
        let mut found: Vec<(&str, Vec<String>)> = self.kinds.iter().map(|k| (k.as_str(), Vec::new())).collect();
        for m in self.automaton.find_iter(text) {
            let (kind, _, phrase) = &self.rows[m.pattern().as_usize()];
            // Whole words only, where the script separates words by spaces: a phrase that
            // begins (ends) with a CJK character may stand right after (before) another
            // one, and one that begins (ends) with a sign (`$`, `%`) next to anything.
            let before = text[..m.start()].chars().next_back();
            let after = text[m.end()..].chars().next();
            let bounded = |edge: Option<char>| edge.is_some_and(|c| c.is_alphanumeric() && !is_cjk(c));
            if (bounded(phrase.chars().next()) && before.is_some_and(char::is_alphanumeric))
                || (bounded(phrase.chars().next_back()) && after.is_some_and(char::is_alphanumeric))
            {
                continue;
            }
            // A phrase and its spelling without accents ("infração de trânsito", "infracao
            // de transito") are one phrase written twice, not two.
            if let Some((_, list)) = found.iter_mut().find(|(k, _)| k == kind)
                && !list.iter().any(|p| without_accents(p) == without_accents(phrase))
            {
                list.push(phrase.clone());
            }
        }
        found
    }
}

static LURES: LazyLock<PhraseTable> = LazyLock::new(|| PhraseTable::new(include_str!("../../data/lures.tsv")));
static SCAMS: LazyLock<PhraseTable> = LazyLock::new(|| PhraseTable::new(include_str!("../../data/scam_phrases.tsv")));

/// `text` with the accents of Latin letters taken off (`ç` -> `c`, `ã` -> `a`), lower case
/// as the table is.
fn without_accents(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            other => other,
        })
        .collect()
}

/// The lowered text with white space folded to single spaces. A capital `I` right after a
/// small letter is read as the `l` it stands in for ("compIimentary", "SpeciaI"): no word
/// is written so, and the swap hides a phrase from a filter's words.
fn normalise(text: &str, out: &mut String) {
    let mut space = false;
    let mut after_small = false;
    for c in text.chars() {
        // ASCII, most of most mail, without the Unicode tables.
        let white = if c.is_ascii() { c.is_ascii_whitespace() || c == '\u{b}' } else { c.is_whitespace() };
        if white {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            if c == 'I' && after_small {
                out.push('l');
            } else if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        }
        after_small = c.is_ascii_lowercase();
        if out.len() >= MAX_TEXT {
            break;
        }
    }
    out.push(' ');
}

/// The distinct credential and payment lure phrases found in `text` (normalised):
/// (detection name, phrases); the survey-reward bait's (the `gift` kind) last, under
/// [`GIFT_KIND`].
fn find(text: &str) -> Vec<(&'static str, Vec<String>)> {
    let mut found = LURES.find(text);
    let mut take =
        |kind: &str| found.iter_mut().find(|(k, _)| *k == kind).map(|(_, p)| std::mem::take(p)).unwrap_or_default();
    vec![(CREDENTIAL_LURE, take("credential")), (PAYMENT_LURE, take("payment")), (GIFT_KIND, take(GIFT_KIND))]
}

/// Han, hiragana and katakana (full and half width): scripts written without spaces.
fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{ff66}'..='\u{ff9f}')
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let mut text = String::new();
    normalise(ctx.message.subject().unwrap_or(""), &mut text);
    for body in ctx.body_texts().iter().flatten() {
        if text.len() >= MAX_TEXT {
            break;
        }
        normalise(body, &mut text);
    }
    let mut gift = Vec::new();
    let mut lured = None;
    for (name, phrases) in find(&text) {
        if name == GIFT_KIND {
            gift = phrases;
        } else if phrases.len() >= MIN_PHRASES {
            let evidence = format!("{} lure phrases: {}", phrases.len(), shown(&phrases));
            lured.get_or_insert_with(|| evidence.clone());
            ctx.add(name, 0, evidence);
        }
    }
    let impersonation = ctx.detection(super::brand_impersonation::BRAND_IMPERSONATION).map(|d| d.evidence.clone());
    let heading = ctx.detection(super::brand_impersonation::BRAND_HEADING).map(|d| d.evidence.clone());
    if let (Some(lure), Some(claim)) = (&lured, impersonation.as_ref().or(heading.as_ref())) {
        ctx.add(BRAND_LURE, 0, format!("{claim}; and {lure}"));
    }
    let claims_a_brand = impersonation.is_some() || heading.is_some();
    if !gift.is_empty() && claims_a_brand {
        ctx.add(
            BRAND_GIFT_LURE,
            0,
            format!("a gift or reward offered in the name of a brand the sender is not: {}", shown(&gift)),
        );
    }
    let scams: Vec<String> = SCAMS
        .find(&text)
        .into_iter()
        .filter(|(_, phrases)| phrases.len() >= MIN_PHRASES)
        .map(|(kind, phrases)| format!("{kind}: {} phrases: {}", phrases.len(), shown(&phrases)))
        .collect();
    if !scams.is_empty() {
        ctx.add(SCAM_LURE, 0, scams.join("; "));
    }
}

/// At most five phrases, quoted.
fn shown(phrases: &[String]) -> String {
    phrases.iter().take(5).map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    /// `raw` makes `scam_lure` with evidence that starts with `evidence_prefix` (its kind and
    /// how many phrases).
    #[track_caller]
    fn assert_scam_lure(raw: &str, evidence_prefix: &str) {
        let d = run(raw);
        assert!(d.iter().any(|d| d.name == SCAM_LURE && d.evidence.starts_with(evidence_prefix)), "{d:?}");
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
    fn two_phrases_of_one_scam_make_a_scam_lure() {
        let d = run(
            "Subject: Urgent\r\n\r\nI am a barrister. My late client left a fund; as his next of kin\r\n            you will receive the sum of $10,500,000.\r\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, SCAM_LURE);
        assert!(d[0].evidence.starts_with("advance_fee: 4 phrases"), "{d:?}");
        assert!(d[0].evidence.contains("\"sum of $\""), "a sign may stand next to a digit: {d:?}");
        // Two kinds, one phrase each, are not one scam; nor is a phrase inside a word.
        assert!(run("Subject: x\r\n\r\nOur lottery night needs a business loan.\r\n").is_empty());
        assert!(run("Subject: x\r\n\r\nThe beneficiary field; the lotteryless barristers.\r\n").is_empty());
        // The translated rows: the German widow's letter.
        assert_scam_lure(
            "Subject: Spende\r\n\r\nIm Gedenken an meinen verstorbenen Ehemann; ich habe nur noch wenige Wochen zu leben.\r\n",
            "advance_fee: 2 phrases",
        );
        // Business-opportunity fraud: two of its phrases, not a remote-work policy's one.
        assert_scam_lure(
            "Subject: Extra income\r\n\r\nBe your own boss: work at home, build your downline.\r\n",
            "business_opportunity: 4 phrases",
        );
        assert!(
            run("Subject: Policy\r\n\r\nStaff working from home may work from home or work at home on Fridays.\r\n")
                .is_empty()
        );
        // Chinese, written without spaces: the fake-invoice offer.
        assert_scam_lure(
            "Subject: 代开发票\r\n\r\n您好！我公司有增值税发票代开；税点优惠，微信同号\r\n",
            "invoice_fraud:",
        );
        // Romance fraud is a kind of its own.
        assert_scam_lure(
            "Subject: Hello dear\r\n\r\nYou may be the man of my dreams and my future partner. Attached is my picture.\r\n",
            "romance: 3 phrases",
        );
        // A stock tip and a survey reward; an honest analyst's note names a price target only.
        assert_scam_lure(
            "Subject: Hot stock\r\n\r\nFor immediate release: STRONG BUY. Stock symbol: CBYI (OTCBB).\r\n",
            "stock_promotion:",
        );
        assert!(run("Subject: Research\r\n\r\nWe keep our price target; the shares look undervalued.\r\n").is_empty());
        assert_scam_lure(
            "Subject: Your reward\r\n\r\nA gift has been set aside for you: take the 45-second survey.\r\n",
            "gift_scam: 2 phrases",
        );
        assert!(
            run("Subject: Upgrade\r\n\r\nYou've been selected for a complimentary upgrade: claim your reward.\r\n")
                .is_empty(),
            "an airline's or a loyalty programme's words"
        );
        assert!(
            run("Subject: Feedback\r\n\r\nAn exclusive invitation: a short survey about your stay.\r\n").is_empty(),
            "a customer-research invitation"
        );
        // The fake purchase inquiry and the overseas factory's cold pitch; a real buyer's
        // purchase order with its delivery time and payment terms is neither.
        assert_scam_lure(
            "Subject: New Order Enquiry\r\n\r\nDear Sir, we got your contact online and are interested in your products.\r\nKindly send your price list; we will place a trial order.\r\n",
            "purchase_inquiry: 4 phrases",
        );
        assert_scam_lure(
            "Subject: CNC parts\r\n\r\nWe are a leading manufacturer of CNC parts: factory price, free samples and OEM service.\r\n",
            "supplier_pitch: 4 phrases",
        );
        assert!(
            run("Subject: PO 4711\r\n\r\nAttached is our purchase order; delivery time 3 weeks, payment terms net 30.\r\n")
                .is_empty(),
            "a buyer's own purchase order"
        );
        assert!(
            run("Subject: RFQ 2231\r\n\r\nRequest for quotation: please quote your best price for 500 units of the M8 valve, CIF Hamburg; MOQ?\r\n")
                .is_empty(),
            "a buyer's request for quotation names what it wants"
        );
        // Search-ranking and funding-broker pitches, and Chinese foreign-trade marketing
        // (written without spaces).
        assert_scam_lure(
            "Subject: Your website\r\n\r\nI came across your website: it is not visible on Google. We put you on the first page of Google.\r\n",
            "seo_pitch: 3 phrases",
        );
        assert_scam_lure(
            "Subject: Funding\r\n\r\nOur clients are looking to invest in viable projects at an annual return of 3%.\r\n",
            "investor_pitch: 3 phrases",
        );
        assert_scam_lure(
            "Subject: 外贸\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n海关数据帮您开发客户，加微信了解\r\n",
            "trade_marketing: 4 phrases",
        );
        assert!(
            run("Subject: Re: site\r\n\r\nThe SEO services page is up; see the new backlinks report.\r\n").is_empty(),
            "an agency's own words"
        );
    }

    /// The detections of this check after brand_impersonation's, whose brand claims it
    /// reads (it runs first in the scorer too).
    fn with_brand_claims(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, |ctx| {
            crate::analysis::brand_impersonation::check(ctx);
            check(ctx);
        })
    }

    #[test]
    fn a_brands_gift_from_someone_else_is_a_brand_gift_lure() {
        let d = with_brand_claims(
            "From: TS Co <team@funnyspee.example>\r\nSubject: Tractor Supply is allocating you a complimentary generator\r\n\r\nClaim it at http://offer.funnyspee.example/x\r\n",
        );
        assert!(d.iter().any(|d| d.name == BRAND_GIFT_LURE), "{d:?}");
        let d = with_brand_claims(
            "From: Shop <news@tractorsupply.com>\r\nSubject: Tractor Supply: complimentary shipping\r\n\r\nhttps://www.tractorsupply.com/sale\r\n",
        );
        assert!(!d.iter().any(|d| d.name == BRAND_GIFT_LURE), "the brand's own offer: {d:?}");
        let d = with_brand_claims("From: a@x.example\r\nSubject: Your complimentary upgrade\r\n\r\nno brand here\r\n");
        assert!(d.is_empty(), "a gift phrase and no brand claimed: {d:?}");
        // The claim in the body's heading, above the bait.
        let heading = "From: TSC Member Perks <tsc@dizzycube.example>\r\nSubject: Your trailer is on hold\r\n\r\n\r\n  \
Tractor Supply Co. | Your Mesh Trailer Gift\r\nTake the 60-second survey: http://www.dizzycube.example/h\r\n";
        let d = with_brand_claims(heading);
        assert!(d.iter().any(|d| d.name == crate::analysis::brand_impersonation::BRAND_HEADING), "{d:?}");
        assert!(d.iter().any(|d| d.name == BRAND_GIFT_LURE), "{d:?}");
        // The brand's heading alone, a newsletter's: evidence, no verdict.
        let d = with_brand_claims(&heading.replace("Take the 60-second survey", "Read more"));
        assert!(!d.iter().any(|d| d.name == BRAND_GIFT_LURE), "{d:?}");
        // The heading of the brand's own mail.
        let d = with_brand_claims(&heading.replace("dizzycube.example", "tractorsupply.com"));
        assert!(!d.iter().any(|d| d.name == BRAND_GIFT_LURE), "{d:?}");
    }

    #[test]
    fn a_lure_in_a_brands_name_from_someone_else_is_a_brand_lure() {
        let phish = "From: MyJcbs <snu@myjcbs.example>\r\nSubject: \u{304a}\u{5ba2}\u{69d8}\u{306e}JCB\u{30a2}\u{30ab}\u{30a6}\u{30f3}\u{30c8}\r\n\r\n\
\u{30a2}\u{30ab}\u{30a6}\u{30f3}\u{30c8}\u{304c}\u{30ed}\u{30c3}\u{30af}\u{3055}\u{308c}\u{3066}\u{3044}\u{307e}\u{3059}\u{3002}\
\u{5236}\u{9650}\u{3092}\u{89e3}\u{9664}: http://policeofficer.hqds.example\r\n";
        let d = with_brand_claims(phish);
        let found = d.iter().find(|d| d.name == BRAND_LURE).unwrap_or_else(|| panic!("{d:?}"));
        assert!(found.evidence.contains("claims JCB") && found.evidence.contains("lure phrases"), "{found:?}");
        // The same words from the brand's own domain: a lure, no impersonation, no verdict.
        let own = with_brand_claims(&phish.replace("snu@myjcbs.example", "info@jcb.co.jp"));
        assert!(own.iter().any(|d| d.name == CREDENTIAL_LURE), "{own:?}");
        assert!(!own.iter().any(|d| d.name == BRAND_LURE), "{own:?}");
        // The brand named by the body's opening line rather than the display name or subject.
        let heading = "From: Lists Message Center <rachelle@hmlca.example>\r\nSubject: Access re-activation\r\n\r\n\
Webmail\r\nYour password has expired. Update your password to keep your mailbox: http://hmlca.example/w\r\n";
        let d = with_brand_claims(heading);
        let found = d.iter().find(|d| d.name == BRAND_LURE).unwrap_or_else(|| panic!("{d:?}"));
        assert!(
            found.evidence.contains("opening line \"Webmail\"") && found.evidence.contains("lure phrases"),
            "{found:?}"
        );
        let one_phrase = with_brand_claims(&heading.replace(" Update your password to keep your mailbox:", ""));
        assert!(!one_phrase.iter().any(|d| d.name == BRAND_LURE), "{one_phrase:?}");
    }

    #[test]
    fn a_capital_i_for_a_small_l_is_read_as_l() {
        let mut text = String::new();
        normalise("Your compIimentary SpeciaI Invite, I said, McIntosh IBM", &mut text);
        assert_eq!(text, "your complimentary special invite, i said, mclntosh ibm ");
        let mut text = String::new();
        normalise("Receive a compIimentary generator", &mut text);
        assert!(
            find(&text).iter().any(|(kind, p)| *kind == GIFT_KIND && p.contains(&"complimentary".to_owned())),
            "{text}"
        );
    }

    #[test]
    fn a_phrase_and_its_spelling_without_accents_count_once() {
        let d = run("Subject: Aviso\r\n\r\nInfração de trânsito registrada (infracao de transito)\r\n");
        assert!(d.is_empty(), "one phrase, twice: {d:?}");
        let d = run("Subject: Aviso\r\n\r\nInfração de trânsito: multa de trânsito em aberto\r\n");
        assert!(d.iter().any(|d| d.name == PAYMENT_LURE), "{d:?}");
    }

    #[test]
    fn one_phrase_or_a_word_inside_another_is_not_a_lure() {
        assert!(run("Subject: Meeting\r\n\r\nThe refund policy is on the wiki.\r\n").is_empty());
        assert!(run("Subject: x\r\n\r\nrefunds and walletless renewals\r\n").is_empty());
    }
}
