//! The token classifier: SPAM and phishing evidence from what a message says, learned from
//! labelled messages.
//!
//! Tokens come from what the sender wrote (subject, From name and domain, body text with
//! HTML reduced to text, link hosts, attachment types), never from transport headers
//! (Received, relays, ids): those describe where a message travelled, and a classifier
//! that learned them would learn the mailbox a corpus was collected in.
//!
//! The model is a table of per-class message counts for each token. Learning adds a
//! message's tokens once each, unlearning subtracts exactly what learning added, so a model
//! folded from training events can always be rebuilt, and a withdrawn example leaves no
//! trace. Scoring is Gary Robinson's per-token probabilities with Fisher's chi-square
//! combining, as SpamBayes does it: first "junk" (spam and phishing) against ham, then,
//! for junk, phishing against spam.

use mail_parser::{Message, MimeHeaders};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The classes a labelled message can teach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Ham,
    Spam,
    Phish,
    /// Wanted bulk mail: newsletters the recipient asked for. Wanted, like ham, but it
    /// weighs [`BULK_WEIGHT`] of a ham message on the wanted side.
    Bulk,
}

impl Class {
    fn index(self) -> usize {
        self as usize
    }
}

/// A token, as the model keys it: XXH3 of its text.
pub type TokenHash = u64;

fn hash_token(text: &str) -> TokenHash {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// The distinct tokens of one message: their hashes, sorted (so learning is
/// order-independent), and their text, kept for evidence ("the clues").
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    /// (hash, start, end) into `text`, sorted by hash, one per hash.
    tokens: Vec<(TokenHash, u32, u32)>,
    text: String,
    /// Words of body text seen (with repeats): a message with almost none is no evidence.
    pub body_words: usize,
}

impl PartialEq for TokenSet {
    fn eq(&self, other: &Self) -> bool {
        self.hashes().eq(other.hashes())
    }
}

impl Eq for TokenSet {}

impl TokenSet {
    pub fn hashes(&self) -> impl Iterator<Item = TokenHash> + '_ {
        self.tokens.iter().map(|(h, _, _)| *h)
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.text_of(hash_token(token)).is_some_and(|t| t == token)
    }

    pub fn text_of(&self, hash: TokenHash) -> Option<&str> {
        let i = self.tokens.binary_search_by_key(&hash, |(h, _, _)| *h).ok()?;
        let (_, start, end) = self.tokens[i];
        // A set kept without its texts (`without_text`) knows the hash only.
        if start == end {
            return None;
        }
        self.text.get(start as usize..end as usize)
    }

    /// The same set without the texts (what a learner keeps to unlearn an example).
    pub fn without_text(&self) -> TokenSet {
        TokenSet {
            tokens: self.tokens.iter().map(|(h, _, _)| (*h, 0, 0)).collect(),
            text: String::new(),
            body_words: self.body_words,
        }
    }
}

/// Collects tokens into one text arena: no allocation per token.
struct Collector {
    spans: Vec<(TokenHash, u32, u32)>,
    text: String,
}

impl Collector {
    /// Adds the concatenation of `parts` as one token (lower-cased when `lower`).
    fn add(&mut self, parts: &[&str], lower: bool) {
        if self.spans.len() >= MAX_TOKENS * 4 {
            return;
        }
        let start = self.text.len();
        for part in parts {
            if lower && !part.is_ascii() {
                self.text.extend(part.chars().flat_map(char::to_lowercase));
            } else if lower {
                self.text.extend(part.bytes().map(|b| char::from(b.to_ascii_lowercase())));
            } else {
                self.text.push_str(part);
            }
        }
        let hash = hash_token(&self.text[start..]);
        self.spans.push((hash, start as u32, self.text.len() as u32));
    }

    fn finish(mut self) -> TokenSet {
        self.spans.sort_unstable_by_key(|(h, start, _)| (*h, *start));
        self.spans.dedup_by_key(|(h, _, _)| *h);
        // Beyond the cap, a deterministic subset (by hash) stays.
        self.spans.truncate(MAX_TOKENS);
        TokenSet { tokens: self.spans, text: self.text, body_words: 0 }
    }
}

/// At most this many distinct tokens are taken from one message.
pub const MAX_TOKENS: usize = 6000;
/// At most this much body text is read from one message.
const MAX_TEXT: usize = 256 * 1024;

pub fn tokenize(message: &Message<'_>) -> TokenSet {
    let texts: Vec<_> = crate::html_text::body_texts(message);
    tokenize_with_texts(message, &texts)
}

/// [`tokenize`] with the message's body texts already rendered
/// ([`crate::html_text::body_text`] of each text body part, in order), as the checks'
/// context holds them: an HTML part is rendered once a message, not again here.
pub fn tokenize_with_texts(message: &Message<'_>, body_texts: &[Option<std::borrow::Cow<'_, str>>]) -> TokenSet {
    use crate::analysis::domain::{domain_of, organizational_domain};
    let mut out = Collector { spans: Vec::with_capacity(1024), text: String::with_capacity(16 * 1024) };
    // A list's subject tag and footer are the list's words, not the sender's.
    let list = crate::list_copy::ListCopy::of(message);
    if let Some(subject) = message.subject() {
        let subject = list.as_ref().map_or(std::borrow::Cow::Borrowed(subject), |l| l.subject_without_tag(subject));
        for w in words(&subject) {
            out.add(&["s:", w.text()], true);
        }
    }
    if let Some(from) = message.from().and_then(|a| a.first()) {
        if let Some(name) = from.name() {
            for w in words(name) {
                out.add(&["n:", w.text()], true);
            }
        }
        if let Some(address) = from.address() {
            // Sender and domain reputation: what this address and its organization have
            // been labelled before.
            out.add(&["fa:", address], true);
            if let Some(domain) = domain_of(address) {
                out.add(&["fd:", organizational_domain(&domain)], false);
            }
        }
    }
    let mut text_len = 0;
    let mut body_words = 0;
    for text in body_texts.iter().flatten() {
        if text_len >= MAX_TEXT {
            break;
        }
        let text = clip(text, MAX_TEXT - text_len);
        text_len += text.len();
        let text = list.as_ref().map_or(text, |l| l.text_without_footer(text));
        let mut previous: Option<Word<'_>> = None;
        for w in words(text) {
            if let Some(p) = previous {
                out.add(&[p.text(), " ", w.text()], true);
            }
            out.add(&[w.text()], true);
            body_words += 1;
            previous = Some(w);
        }
        for host in crate::analysis::links::hosts_in(text) {
            out.add(&["u:", organizational_domain(&host)], false);
        }
    }
    for html in message.html_bodies().filter_map(|p| p.text_contents()) {
        let html = clip(html, MAX_TEXT);
        let html = list.as_ref().map_or(html, |l| l.text_without_footer(html));
        for host in crate::analysis::links::hosts_in(html) {
            out.add(&["u:", organizational_domain(&host)], false);
        }
    }
    // How the message was made, not where it went. (Mailer names and charsets are left
    // out: they date a corpus more than they tell spam from ham.)
    for (name, token) in [("Message-ID", "no-has:message-id"), ("Date", "no-has:date"), ("To", "no-has:to")] {
        if !message.headers().iter().any(|h| h.name().eq_ignore_ascii_case(name)) {
            out.add(&[token], false);
        }
    }
    if let Some(reply_to) = message.reply_to().and_then(|a| a.first()).and_then(|a| a.address()) {
        out.add(&["has:reply-to"], false);
        if let Some(domain) = domain_of(reply_to) {
            out.add(&["rd:", organizational_domain(&domain)], false);
        }
    }
    for part in message.parts.iter() {
        if let Some(cte) = part.content_transfer_encoding() {
            out.add(&["cte:", cte], true);
        }
        if let Some(ct) = part.content_type() {
            out.add(&["ct:", ct.ctype(), "/", ct.subtype().unwrap_or("")], true);
        }
        if let Some(ext) = part.attachment_name().and_then(crate::analysis::content::extension) {
            out.add(&["a:", &ext], false);
        }
    }
    let mut tokens = out.finish();
    tokens.body_words = body_words;
    tokens
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A word as the classifier counts it.
#[derive(Debug, Clone, Copy)]
enum Word<'a> {
    /// 3 to 20 letters or digits (not only digits), as written (lower-cased when added).
    Text(&'a str),
    /// An amount of money.
    Money,
    /// A run of three exclamation marks.
    Shouting,
}

impl<'a> Word<'a> {
    fn text(self) -> &'a str {
        match self {
            Word::Text(t) => t,
            Word::Money => "$money",
            Word::Shouting => "!!!",
        }
    }
}

/// The words of a text; an amount of money is the word `$money`, and a run of three
/// exclamation marks the word `!!!`, as spam leans on both.
fn words(text: &str) -> impl Iterator<Item = Word<'_>> + '_ {
    let shouting = text.contains("!!!").then_some(Word::Shouting);
    text.split(|c: char| !(c.is_alphanumeric() || c == '$' || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter_map(|w| {
            if let Some(amount) = w.strip_prefix('$') {
                return amount.starts_with(|c: char| c.is_ascii_digit()).then_some(Word::Money);
            }
            if w.len() < 3 || w.contains('$') || w.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n = if w.is_ascii() { w.len() } else { w.chars().count() };
            (3..=20).contains(&n).then_some(Word::Text(w))
        })
        .chain(shouting)
}

/// Keys are already hashes: the map uses them as they are.
#[derive(Default, Clone, Copy)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Per-class message counts, overall and per token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenModel {
    messages: [u32; 4],
    tokens: HashMap<TokenHash, [u32; 4], BuildHasherDefault<PassThrough>>,
}

/// How much a bulk example counts on the wanted side, against 1 for a ham example.
/// Newsletters are wanted mail, but they are written in marketing's words, which spam
/// shares: counted like personal mail, they taught the classifier that "join", "fight",
/// "support" and "online" are signs of ham, and spam read as ham (leave one source out:
/// 2002 spam scored as ham when newsletters were most of the wanted mail). Not counted at
/// all, the commercial mail people want reads as spam. A tenth keeps their vocabulary from
/// outvoting personal mail and still lets a word seen only in newsletters count as wanted.
/// Chosen among 0, 0.1, 0.3 and 1 on the leave-one-source-out figures (see the README).
pub const BULK_WEIGHT: f64 = 0.1;

/// The classifier gives no opinion before it has seen this many messages of each side.
pub const MIN_TRAINING: u32 = 10;
/// SpamBayes' defaults: unknown-word strength and prior.
const STRENGTH: f64 = 0.45;
const PRIOR: f64 = 0.5;
/// Only tokens at least this far from 0.5 take part; at most this many.
const MIN_DISTANCE: f64 = 0.1;
const MAX_CLUES: usize = 150;

impl TokenModel {
    pub fn learn(&mut self, class: Class, tokens: &TokenSet) {
        self.messages[class.index()] += 1;
        for t in tokens.hashes() {
            self.tokens.entry(t).or_default()[class.index()] += 1;
        }
    }

    /// Takes back exactly what [`TokenModel::learn`] added for the same tokens. Returns
    /// false (and changes nothing) if the model never held such an example.
    pub fn unlearn(&mut self, class: Class, tokens: &TokenSet) -> bool {
        let i = class.index();
        if self.messages[i] == 0 || tokens.hashes().any(|t| self.tokens.get(&t).is_none_or(|c| c[i] == 0)) {
            return false;
        }
        self.messages[i] -= 1;
        for t in tokens.hashes() {
            if let Some(counts) = self.tokens.get_mut(&t) {
                counts[i] -= 1;
                if counts == &[0, 0, 0, 0] {
                    self.tokens.remove(&t);
                }
            }
        }
        true
    }

    pub fn messages(&self, class: Class) -> u32 {
        self.messages[class.index()]
    }

    fn counts(&self, token: TokenHash) -> [u32; 4] {
        self.tokens.get(&token).copied().unwrap_or_default()
    }
}

/// What the classifier makes of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentScore {
    /// Spam against ham: 0 (like ham) to 1 (like spam).
    pub spam: f64,
    /// Phishing against ham: 0 (like ham) to 1 (like phishing).
    pub phish: f64,
    /// The tokens that pulled hardest towards the stronger of the two, strongest first.
    pub clues: Vec<String>,
    /// How many tokens took part in the stronger of the two.
    pub evidence_tokens: usize,
}

/// Scores tokens against the sum of the given models (a shared model and a tenant's own):
/// two verdicts, spam against wanted mail and phishing against wanted mail, so neither kind
/// of junk dilutes the other's vocabulary; wanted mail is ham and bulk, a bulk example
/// weighing [`BULK_WEIGHT`]. None while the models together have seen too few wanted
/// messages, or too few of both kinds of junk, to judge.
pub fn classify(models: &[&TokenModel], tokens: &TokenSet) -> Option<ContentScore> {
    let total = |c: Class| models.iter().map(|m| m.messages(c)).sum::<u32>();
    let (ham, bulk, spam, phish) = (total(Class::Ham), total(Class::Bulk), total(Class::Spam), total(Class::Phish));
    if ham + bulk < MIN_TRAINING || (spam < MIN_TRAINING && phish < MIN_TRAINING) {
        return None;
    }
    let wanted = f64::from(ham) + BULK_WEIGHT * f64::from(bulk);
    let counts = |t: TokenHash| {
        models.iter().fold([0u32; 4], |mut acc, m| {
            let c = m.counts(t);
            (0..4).for_each(|i| acc[i] += c[i]);
            acc
        })
    };
    let mut spam_clues = Vec::new();
    let mut phish_clues = Vec::new();
    for t in tokens.hashes() {
        let [h, s, p, b] = counts(t);
        let good = f64::from(h) + BULK_WEIGHT * f64::from(b);
        if h + b + s > 0 {
            spam_clues.push((robinson(good, wanted, s, spam), t));
        }
        if h + b + p > 0 {
            phish_clues.push((robinson(good, wanted, p, phish), t));
        }
    }
    let (spam_score, spam_top, spam_n) = if spam >= MIN_TRAINING { combine(spam_clues) } else { (0.0, Vec::new(), 0) };
    let (phish_score, phish_top, phish_n) =
        if phish >= MIN_TRAINING { combine(phish_clues) } else { (0.0, Vec::new(), 0) };
    let (top, evidence_tokens) = if phish_score > spam_score { (phish_top, phish_n) } else { (spam_top, spam_n) };
    let clues = top.into_iter().filter_map(|h| tokens.text_of(h).map(str::to_owned)).collect();
    Some(ContentScore { spam: spam_score, phish: phish_score, clues, evidence_tokens })
}

/// Robinson's f(w): the probability that a message with this token is of the "bad" side,
/// from the share of each side's messages that carry it, pulled towards 0.5 when rare.
fn robinson(good: f64, good_total: f64, bad: u32, bad_total: u32) -> f64 {
    let good_ratio = good / good_total.max(1.0);
    let bad_ratio = f64::from(bad) / f64::from(bad_total.max(1));
    let p = if good_ratio + bad_ratio == 0.0 { PRIOR } else { bad_ratio / (good_ratio + bad_ratio) };
    let n = good + f64::from(bad);
    (STRENGTH * PRIOR + n * p) / (STRENGTH + n)
}

/// Fisher/Robinson chi-square combining of the most telling probabilities: the indicator
/// (1 + S - H) / 2. Also the tokens that pulled most towards "bad".
fn combine(mut clues: Vec<(f64, TokenHash)>) -> (f64, Vec<TokenHash>, usize) {
    clues.retain(|(p, _)| (p - 0.5).abs() >= MIN_DISTANCE);
    clues.sort_by(|a, b| (b.0 - 0.5).abs().total_cmp(&(a.0 - 0.5).abs()).then_with(|| a.1.cmp(&b.1)));
    clues.truncate(MAX_CLUES);
    if clues.is_empty() {
        return (0.5, Vec::new(), 0);
    }
    let n = clues.len();
    let (mut ln_bad, mut ln_good) = (0.0f64, 0.0f64);
    for (p, _) in &clues {
        let p = p.clamp(1e-6, 1.0 - 1e-6);
        ln_good += (1.0 - p).ln();
        ln_bad += p.ln();
    }
    let s = 1.0 - chi2_q(-2.0 * ln_good, 2 * n);
    let h = 1.0 - chi2_q(-2.0 * ln_bad, 2 * n);
    let indicator = (1.0 + s - h) / 2.0;
    let top = clues.iter().filter(|(p, _)| *p > 0.5).take(6).map(|(_, t)| *t).collect();
    (indicator, top, n)
}

/// The upper tail of the chi-square distribution with an even number of degrees of freedom.
fn chi2_q(x2: f64, dof: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..dof / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn toks(raw: &str) -> TokenSet {
        tokenize(&MessageParser::default().parse(raw.as_bytes()).unwrap())
    }

    #[test]
    fn tokens_come_from_content_not_transport() {
        let t = toks(
            "Received: from relay.corpus-owner.example\r\nFrom: \"PayPal Service\" <service@mail.paypal.example>\r\n\
Subject: Verify your account\r\nContent-Type: text/html\r\n\r\n<p>Please <b>verify</b> at \
<a href=\"http://login.evil.example/x\">here</a> $100 now!!!</p>\r\n",
        );
        for expected in [
            "s:verify",
            "s:account",
            "n:paypal",
            "fd:paypal.example",
            "please",
            "verify",
            "u:evil.example",
            "$money",
            "!!!",
        ] {
            assert!(t.contains(expected), "{expected} missing from {t:?}");
        }
        assert!(t.contains("please verify"), "word pairs");
        assert!(!t.text.contains("corpus-owner") && !t.text.contains("relay"), "{t:?}");
    }

    #[test]
    fn a_list_copys_tag_and_footer_are_not_tokens() {
        let t = toks(
            "From: buyer@shop.example\r\nSubject: [Osst-users] New order enquiry\r\n\
List-Id: <osst-users.lists.sourceforge.net>\r\nList-Post: <mailto:osst-users@lists.sourceforge.net>\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
Kindly quote your best price for the attached order.\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
_______________________________________________\r\nOsst-users mailing list\r\n\
Osst-users@lists.sourceforge.net\r\nhttps://lists.sourceforge.net/lists/listinfo/osst-users\r\n--b--\r\n",
        );
        for expected in ["s:order", "s:enquiry", "kindly", "best price"] {
            assert!(t.contains(expected), "{expected} missing from {t:?}");
        }
        for list_word in ["s:osst", "s:users", "mailing", "listinfo", "u:sourceforge.net"] {
            assert!(!t.contains(list_word), "{list_word} is the list's, not the sender's: {t:?}");
        }
        // Without list headers, the same words are the sender's.
        let plain =
            toks("Subject: [Osst-users] hi\r\n\r\nhello\r\n___________________________\r\nsome mailing list\r\n");
        assert!(plain.contains("s:osst") && plain.contains("mailing"), "{plain:?}");
    }

    #[test]
    fn bulk_mail_is_wanted_but_weighs_a_tenth_of_ham() {
        let newsletter = |i: usize| toks(&format!("Subject: news {i}\r\n\r\njoin our exclusive offer today\r\n"));
        let (mut as_ham, mut as_bulk) = (trained(), trained());
        for i in 0..40 {
            as_ham.learn(Class::Ham, &newsletter(i));
            as_bulk.learn(Class::Bulk, &newsletter(i));
        }
        // Spam written in the newsletters' words.
        for i in 0..20 {
            let spam = toks(&format!("Subject: deal {i}\r\n\r\nexclusive offer today buy now\r\n"));
            as_ham.learn(Class::Spam, &spam);
            as_bulk.learn(Class::Spam, &spam);
        }
        let marketing_spam = toks("Subject: exclusive offer\r\n\r\nexclusive offer today\r\n");
        let when_ham = classify(&[&as_ham], &marketing_spam).unwrap();
        let when_bulk = classify(&[&as_bulk], &marketing_spam).unwrap();
        assert!(when_ham.spam <= 0.5, "forty newsletters counted as ham outvote the spam words: {when_ham:?}");
        assert!(when_bulk.spam > 0.9, "weighed a tenth, they do not: {when_bulk:?}");
        let letter = classify(&[&as_bulk], &newsletter(99)).unwrap();
        assert!(letter.spam < 0.5, "a newsletter still reads as wanted: {letter:?}");
        // Bulk alone is enough wanted mail to judge by.
        let mut only_bulk = TokenModel::default();
        for i in 0..20 {
            only_bulk.learn(Class::Bulk, &newsletter(i));
            only_bulk.learn(Class::Spam, &toks(&format!("Subject: pills {i}\r\n\r\nbuy cheap pills\r\n")));
        }
        assert!(classify(&[&only_bulk], &marketing_spam).is_some());
    }

    #[test]
    fn chi_square_tail() {
        assert!((chi2_q(0.0, 4) - 1.0).abs() < 1e-12);
        // P(chi2(2) > 2 ln 20) = 1/20.
        assert!((chi2_q(2.0 * 20f64.ln(), 2) - 0.05).abs() < 1e-12);
    }

    fn trained() -> TokenModel {
        let mut m = TokenModel::default();
        for i in 0..20 {
            m.learn(
                Class::Ham,
                &toks(&format!("Subject: meeting notes {i}\r\n\r\nthe agenda for our project review\r\n")),
            );
            m.learn(Class::Spam, &toks(&format!("Subject: cheap pills {i}\r\n\r\nbuy viagra now cheap offer\r\n")));
            m.learn(Class::Phish, &toks(&format!("Subject: account {i}\r\n\r\nverify your password suspended\r\n")));
        }
        m
    }

    #[test]
    fn learns_separates_and_unlearns_exactly() {
        assert_eq!(classify(&[&TokenModel::default()], &toks("Subject: x\r\n\r\ny\r\n")), None);
        let mut m = trained();
        let ham = classify(&[&m], &toks("Subject: project agenda\r\n\r\nreview meeting\r\n")).unwrap();
        assert!(ham.spam < 0.2 && ham.phish < 0.2, "{ham:?}");
        let spam = classify(&[&m], &toks("Subject: cheap offer\r\n\r\nbuy pills\r\n")).unwrap();
        assert!(spam.spam > 0.9 && spam.phish <= 0.5, "{spam:?}");
        let phish = classify(&[&m], &toks("Subject: account suspended\r\n\r\nverify password\r\n")).unwrap();
        assert!(phish.phish > 0.9 && phish.spam <= 0.5, "{phish:?}");
        assert!(phish.clues.iter().any(|c| c == "verify" || c == "password"), "{phish:?}");

        let before = m.clone();
        let extra = toks("Subject: unusual\r\n\r\nsomething completely different\r\n");
        m.learn(Class::Spam, &extra);
        assert_ne!(m, before);
        assert!(m.unlearn(Class::Spam, &extra));
        assert_eq!(m, before, "unlearning restores the model exactly");
        assert!(!m.unlearn(Class::Phish, &extra), "never learned: nothing to take back");
        assert_eq!(m, before);
    }

    #[test]
    fn a_set_kept_without_text_scores_the_same_and_names_no_clues() {
        let m = trained();
        let t = toks("Subject: account suspended\r\n\r\nverify password\r\n");
        let full = classify(&[&m], &t).unwrap();
        let bare = classify(&[&m], &t.without_text()).unwrap();
        assert_eq!((full.spam, full.phish, full.evidence_tokens), (bare.spam, bare.phish, bare.evidence_tokens));
        assert!(!full.clues.is_empty(), "{full:?}");
        assert!(bare.clues.is_empty(), "no empty strings for clues: {bare:?}");
    }

    #[test]
    fn models_add_up() {
        let shared = trained();
        let mut tenant = TokenModel::default();
        for _ in 0..30 {
            tenant.learn(Class::Spam, &toks("Subject: agenda\r\n\r\nproject review\r\n"));
        }
        let t = toks("Subject: project agenda\r\n\r\nreview meeting\r\n");
        let alone = classify(&[&shared], &t).unwrap();
        let both = classify(&[&shared, &tenant], &t).unwrap();
        assert!(both.spam > alone.spam, "{alone:?} {both:?}");
    }
}
