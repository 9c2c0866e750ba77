//! The compiled rule set and its run over one message.
//!
//! Body, raw-body, full and URI rules are matched once over their text (lines joined by
//! newlines, `^`/`$` per line), not line by line. Hyperscan ([`multimatch`]) keeps that
//! cheap, as in rspamd: every pattern of a text (the body's, the raw body's, ..., each
//! header's) is compiled into one database in prefiltering mode, one scan of the text says
//! which patterns can match, and only those run with `regex` or `fancy-regex` (for the
//! matched text, counts, and exactness where Hyperscan widened a pattern). A pattern left
//! out of the databases (too long, or one Hyperscan refuses), and every pattern while the
//! databases are not compiled yet, waits instead behind the literal prefilter when its
//! matches need one of a few literals (found by `regex-syntax`'s literal extractor): one
//! Aho-Corasick automaton per text ([`super::prefilter`]).

use super::cf::{RuleDef, RuleFiles, RuleType};
use super::evals::{self, EvalCall, EvalContext};
use super::meta::{self, Expr};
use super::perl_regex::{self, Compiled, PatternError};
use super::prefilter::{self, Plan, PrefilterError, PrefilterReport, Prefilters};
use super::relays::RelayList;
use super::views::MessageView;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What a header rule reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderTarget {
    /// One header by name, with SpamAssassin's modifier.
    Named {
        name: String,
        modifier: Modifier,
    },
    /// Every header, `Name: value` lines.
    All,
    /// `ALL:raw`: the header block as written (folds and spacing kept).
    AllRaw,
    /// To and Cc; with `:addr`, their addresses, one a line (SpamAssassin 4's header
    /// rules read every value `get` returns, joined by line ends).
    ToCc {
        addresses: bool,
    },
    /// Message-Id and its resent / X- variants.
    MessageId,
    EnvelopeFrom,
    /// `X-Spam-Relays-*`: SpamAssassin's relay analysis.
    Relays(RelayList),
    /// `ALL-TRUSTED` / `ALL-INTERNAL` (false) and `ALL-UNTRUSTED` / `ALL-EXTERNAL` (true):
    /// the header lines the trusted relays added, or those the others may have, split at
    /// the relay analysis's boundary.
    RelayedHeaders {
        untrusted: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modifier {
    Decoded,
    Raw,
    Addr,
    Name,
    Host,
    First,
    Last,
}

#[derive(Debug, Clone)]
enum Test {
    Header {
        target: HeaderTarget,
        negate: bool,
        re: Compiled,
        if_unset: Option<String>,
    },
    Exists(String),
    /// A body, rawbody, full or uri pattern (which text it reads, the rule's type says).
    Text(Compiled),
    MimeHeader {
        name: String,
        negate: bool,
        re: Compiled,
    },
    Eval(EvalCall),
    Meta(Expr),
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    test: Test,
    score: f64,
    describe: String,
    /// `tflags multiple`: count matches, up to this many.
    max_hits: usize,
    /// Where its points count when SpamAssassin decides whether to autolearn.
    autolearn: AutolearnArea,
}

/// Where a rule's points count in SpamAssassin's autolearning (`_get_autolearn_points`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum AutolearnArea {
    /// `tflags noautolearn`, `userconf` or `learn` (GTUBE, the block and welcome lists, Bayes):
    /// not counted at all.
    Ignored,
    /// A header rule (or a header eval): header points.
    Head,
    /// A body, rawbody, uri or mimeheader rule: body points.
    Body,
    /// A meta: its points split between header and body in the proportion of the header and
    /// body rules it reads (each share rounded to 0.001, as SpamAssassin's `sprintf`).
    Meta { head_share: f64 },
    /// A `full` rule, or a meta that reads no header or body rule: counted in the total only.
    Neither,
}

/// A message's points as SpamAssassin's autolearning counts them (score set 0: no Bayes, no
/// network tests): every rule that hit once, without those flagged `noautolearn`,
/// `userconf` or `learn`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AutolearnPoints {
    pub total: f64,
    pub head: f64,
    pub body: f64,
}

/// The description of a rule whose files give none.
pub const NO_DESCRIPTION: &str = "no description in the rule files";

/// SpamAssassin's AutoLearnThreshold asks for this many header points and this many body
/// points besides the threshold, so that no one kind of evidence teaches alone.
pub const AUTOLEARN_MIN_HEAD_POINTS: f64 = 3.0;
pub const AUTOLEARN_MIN_BODY_POINTS: f64 = 3.0;

/// A rule the engine cannot run, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    pub name: String,
    pub rule_type: RuleType,
    pub file: String,
    pub reason: String,
}

/// One rule that hit.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit {
    pub name: String,
    pub score: f64,
    pub describe: String,
    /// What it matched, for pattern rules (clipped).
    pub matched: Option<String>,
}

/// The pattern rules of one text, behind the literal prefilter.
#[derive(Debug, Default)]
struct Scope {
    /// Every rule of the text: what runs without Hyperscan's databases.
    every: LiteralFilter,
    /// The rules outside its Hyperscan plan: with the databases, Hyperscan's scan answers
    /// for the others, and a second search for their literals would only repeat it.
    outside_plan: LiteralFilter,
    /// Its Hyperscan plan in [`RuleSet::plans`].
    plan: Option<usize>,
}

/// Rules behind one Aho-Corasick automaton of the literals their matches need.
#[derive(Debug, Default)]
struct LiteralFilter {
    /// Rule indexes that run every time (no necessary literal, or no automaton).
    always: Vec<usize>,
    automaton: Option<aho_corasick::AhoCorasick>,
    /// Automaton pattern id -> rule indexes.
    by_literal: Vec<Vec<usize>>,
}

impl LiteralFilter {
    /// A filter of `entries` (rule index, the literals one of which each match holds) and
    /// of rules that always run.
    fn new(entries: &[(usize, Vec<Vec<u8>>)], always: Vec<usize>) -> LiteralFilter {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut by_literal: Vec<Vec<usize>> = Vec::new();
        let mut position: HashMap<Vec<u8>, usize> = HashMap::new();
        for (rule, literals) in entries {
            for l in literals {
                let id = *position.entry(l.clone()).or_insert_with(|| {
                    patterns.push(l.clone());
                    by_literal.push(Vec::new());
                    patterns.len() - 1
                });
                if !by_literal[id].contains(rule) {
                    by_literal[id].push(*rule);
                }
            }
        }
        let mut filter = LiteralFilter { always, automaton: None, by_literal: Vec::new() };
        if patterns.is_empty() {
            return filter;
        }
        match aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build(&patterns) {
            Ok(ac) => {
                filter.automaton = Some(ac);
                filter.by_literal = by_literal;
            }
            Err(_) => filter.always.extend(entries.iter().map(|(r, _)| *r)),
        }
        filter
    }

    /// Whether the automaton stands in front of any rule.
    fn filters(&self) -> bool {
        self.automaton.is_some()
    }

    /// The rules `text` lets through, added to `candidates`.
    fn candidates(&self, text: &[u8], candidates: &mut Vec<usize>) {
        candidates.extend(&self.always);
        if let Some(ac) = &self.automaton {
            let mut seen = vec![false; self.by_literal.len()];
            for m in ac.find_overlapping_iter(text) {
                let id = m.pattern().as_usize();
                if !seen[id] {
                    seen[id] = true;
                    candidates.extend(&self.by_literal[id]);
                }
            }
        }
    }

    /// Every rule behind the filter (sorted).
    fn every(&self) -> Vec<usize> {
        let mut every: Vec<usize> = self.always.iter().chain(self.by_literal.iter().flatten()).copied().collect();
        every.sort_unstable();
        every.dedup();
        every
    }
}

/// Header rules that read one header target (prefiltered together by Hyperscan).
#[derive(Debug)]
struct HeaderGroup {
    target: HeaderTarget,
    /// Every rule of the group, in rule order.
    rules: Vec<usize>,
    /// Its Hyperscan plan in [`RuleSet::plans`].
    plan: usize,
}

/// Rules read from a folder of `.cf` files, compiled.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// `exists:` rules.
    exists: Vec<usize>,
    header_groups: Vec<HeaderGroup>,
    evals: Vec<usize>,
    /// Meta rules in an order where every meta comes after the metas it reads, each with
    /// its expression over rule indexes (None: a rule that cannot run, which counts 0).
    metas: Vec<(usize, Expr<Option<usize>>)>,
    /// Rule index -> its place in `metas`, for metas that run.
    meta_position: Vec<Option<usize>>,
    /// By place in `metas`: the rules the meta reads, and whether it is true when every one
    /// of them is 0 (`!__A`, `__A < 1`). A meta that is false then, whose rules are all known
    /// to be 0 in a message, is 0 without evaluating it: few rules hit a message, so most
    /// metas are skipped.
    meta_inputs: Vec<(Vec<usize>, bool)>,
    body: Scope,
    /// Body rules flagged `nosubject`: run over the body without the subject line.
    body_without_subject: Vec<usize>,
    rawbody: Scope,
    full: Scope,
    uri: Scope,
    /// Hyperscan's plan for each text (the scopes and header groups hold their index).
    plans: Vec<Plan>,
    /// By plan: the text it scans (`body`; a header's as the engine reads its target,
    /// `header Named { name: "From", modifier: Addr }`), for `scorer rules profile`.
    plan_texts: Vec<String>,
    /// The databases, once loaded or compiled ([`RuleSet::prepare_prefilters`]).
    prefilters: std::sync::OnceLock<Prefilters>,
    mime: Vec<usize>,
    freemail_domains: Vec<String>,
    url_shorteners: Vec<String>,
    address_lists: std::collections::BTreeMap<String, Vec<String>>,
    uri_host_lists: std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>>,
    pub unsupported: Vec<Unsupported>,
    /// Compiled with fancy-regex (look-around, back-references).
    pub fancy: Vec<String>,
    /// Settings in the files this reader does not know (listed, not silently skipped).
    pub unknown_lines: Vec<String>,
    /// Metas that read a rule no file defines (meta, name): the name counts 0.
    pub undefined_reads: Vec<(String, String)>,
    /// Pattern rules behind the literal prefilter (for `scorer rules check`).
    pub prefiltered: usize,
    /// Pattern rules in Hyperscan's databases.
    pub in_hyperscan: usize,
    /// Of those, the ones held as they are (not widened): their match needs no
    /// confirmation when only metas read it.
    pub exact_in_hyperscan: usize,
    /// Pattern rules left out of Hyperscan's databases, with the reason.
    pub not_in_hyperscan: Vec<(String, String)>,
    /// Rules not run because nothing reads their outcome ([`idle_rules`]).
    pub idle: usize,
    /// Rule name -> index in `rules`.
    by_name: HashMap<String, usize>,
    /// `required_score`.
    required_score: f64,
    /// `bayes_auto_learn_threshold_spam`, None when `bayes_auto_learn 0`.
    auto_learn_threshold_spam: Option<f64>,
    /// `util_rb_tld`.
    valid_tlds: HashSet<String>,
}

/// Where a rule's points count for autolearning, from its type, its flags and (for a meta)
/// the types of the rules it reads, as SpamAssassin's `_get_autolearn_points` and
/// `_get_autolearn_testtype` sort them. `autolearn_header` / `autolearn_body` force one.
fn autolearn_area(files: &RuleFiles, def: &RuleDef, tflags: &[String], test: &Test) -> AutolearnArea {
    let flagged = |f: &str| tflags.iter().any(|t| t == f);
    if flagged("noautolearn") || flagged("userconf") || flagged("learn") {
        return AutolearnArea::Ignored;
    }
    if flagged("autolearn_header") {
        return AutolearnArea::Head;
    }
    if flagged("autolearn_body") {
        return AutolearnArea::Body;
    }
    fn kind(rule_type: RuleType) -> Option<bool> {
        // Some(true): header; Some(false): body; None: neither (full, meta).
        match rule_type {
            RuleType::Header => Some(true),
            RuleType::Body | RuleType::RawBody | RuleType::Uri | RuleType::MimeHeader => Some(false),
            RuleType::Full | RuleType::Meta => None,
        }
    }
    match (def.rule_type, test) {
        (RuleType::Meta, Test::Meta(expr)) => {
            let mut names = Vec::new();
            expr.names(&mut names);
            names.sort();
            names.dedup();
            let (mut head, mut body) = (0usize, 0usize);
            for name in &names {
                match files.rules.get(name).and_then(|d| kind(d.rule_type)) {
                    Some(true) => head += 1,
                    Some(false) => body += 1,
                    None => {}
                }
            }
            if head + body == 0 {
                AutolearnArea::Neither
            } else {
                AutolearnArea::Meta { head_share: head as f64 / (head + body) as f64 }
            }
        }
        (other, _) => match kind(other) {
            Some(true) => AutolearnArea::Head,
            Some(false) => AutolearnArea::Body,
            None => AutolearnArea::Neither,
        },
    }
}

/// Pseudo-headers SpamAssassin computes from the relay chain that this engine does not
/// build (the `X-Spam-Relays-*` lists and the `ALL-*` header sets it does: [`super::relays`]).
const RELAY_PSEUDO_HEADERS: &[&str] = &["X-Spam-Last-External-IP"];

/// Why a rule cannot run (listed by `scorer rules check`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unrunnable {
    #[error("pseudo-header {0} (SpamAssassin's relay analysis) is not built")]
    PseudoHeader(String),
    #[error("header modifier :{0}")]
    Modifier(String),
    #[error("an eval in a meta")]
    EvalInMeta,
    #[error(transparent)]
    EvalSyntax(#[from] evals::EvalSyntaxError),
    #[error("eval function {0} is not implemented")]
    EvalMissing(String),
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error(transparent)]
    Meta(#[from] meta::MetaError),
    #[error("{0}")]
    Syntax(&'static str),
}

fn parse_target(spec: &str) -> Result<HeaderTarget, Unrunnable> {
    let (name, modifier) = match spec.split_once(':') {
        Some((n, m)) => (n, Some(m)),
        None => (spec, None),
    };
    if let Some(list) = RelayList::from_pseudo_header(name) {
        return Ok(HeaderTarget::Relays(list));
    }
    // No network is configured internal apart from the trusted ones (as SpamAssassin does
    // then), so ALL-INTERNAL is ALL-TRUSTED and ALL-EXTERNAL is ALL-UNTRUSTED.
    match name {
        "ALL-TRUSTED" | "ALL-INTERNAL" => return Ok(HeaderTarget::RelayedHeaders { untrusted: false }),
        "ALL-UNTRUSTED" | "ALL-EXTERNAL" => return Ok(HeaderTarget::RelayedHeaders { untrusted: true }),
        _ => {}
    }
    if RELAY_PSEUDO_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return Err(Unrunnable::PseudoHeader(name.to_owned()));
    }
    let modifier = match modifier {
        None => Modifier::Decoded,
        Some("raw") => Modifier::Raw,
        Some("addr") => Modifier::Addr,
        Some("name") => Modifier::Name,
        Some("host") | Some("domain") => Modifier::Host,
        Some("first") => Modifier::First,
        Some("last") => Modifier::Last,
        Some(other) => return Err(Unrunnable::Modifier(other.to_owned())),
    };
    Ok(match name {
        "ALL" if modifier == Modifier::Raw => HeaderTarget::AllRaw,
        "ALL" => HeaderTarget::All,
        "ToCc" => match modifier {
            Modifier::Decoded => HeaderTarget::ToCc { addresses: false },
            Modifier::Addr => HeaderTarget::ToCc { addresses: true },
            _ => return Err(Unrunnable::Modifier(format!("{} on ToCc", format!("{modifier:?}").to_ascii_lowercase()))),
        },
        "MESSAGEID" => HeaderTarget::MessageId,
        "EnvelopeFrom" => HeaderTarget::EnvelopeFrom,
        n => HeaderTarget::Named { name: n.to_owned(), modifier },
    })
}

/// The literals every match of a pattern must begin (or end) with, lower case, when they
/// are few and long enough to be worth a prefilter. Found on the pattern's relaxed form
/// ([`perl_regex::relax`]), so fancy patterns get a prefilter too.
/// Shorter literals occur in nearly every text: no use as a prefilter.
const MIN_LITERAL: usize = 4;

fn necessary_literals(source: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let relaxed = perl_regex::relax(source, false);
    let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(&relaxed).ok()?;
    let extract = |kind: ExtractKind| -> Option<Vec<Vec<u8>>> {
        let mut extractor = Extractor::new();
        extractor.kind(kind).limit_class(10).limit_repeat(4).limit_literal_len(24).limit_total(200);
        let seq = extractor.extract(&hir);
        let literals = seq.literals()?;
        if literals.is_empty() || literals.iter().any(|l| l.as_bytes().len() < MIN_LITERAL) {
            return None;
        }
        let mut out: Vec<Vec<u8>> = literals.iter().map(|l| l.as_bytes().to_ascii_lowercase()).collect();
        out.sort();
        out.dedup();
        Some(out)
    };
    match (extract(ExtractKind::Prefix), extract(ExtractKind::Suffix)) {
        (Some(p), Some(s)) => Some(if shortest_literal(&s) > shortest_literal(&p) { s } else { p }),
        // Neither end is literal (`\b(?:your?|winning)\s...`): a literal inside that
        // every match holds will do as well.
        (p, s) => p.or(s).or_else(|| required_literals(&hir).filter(|set| shortest_literal(set) >= MIN_LITERAL)),
    }
}

/// The length of a literal set's shortest literal: how selective it is as a prefilter.
fn shortest_literal(set: &[Vec<u8>]) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

/// At most this many literals in a set (alternations and case variants multiply).
const MAX_REQUIRED_LITERALS: usize = 32;

/// Literals, lower case, one of which occurs in the text of every match of `hir`; None when
/// nothing is certain. A concatenation's runs of literals and small classes are joined
/// (`free\s?(?:gift|offer)` requires "free" and one of "gift" / "offer"), and of all the
/// sets a concatenation requires, the one whose shortest literal is longest is kept.
fn required_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::HirKind;
    let better = |a: Option<Vec<Vec<u8>>>, b: Option<Vec<Vec<u8>>>| -> Option<Vec<Vec<u8>>> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if shortest_literal(&b) > shortest_literal(&a) { b } else { a }),
            (a, b) => a.or(b),
        }
    };
    match hir.kind() {
        HirKind::Literal(lit) => Some(vec![lit.0.to_ascii_lowercase()]),
        HirKind::Class(_) => class_bytes(hir).map(|bytes| bytes.into_iter().map(|b| vec![b]).collect()),
        HirKind::Capture(c) => required_literals(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required_literals(&r.sub),
        HirKind::Alternation(branches) => {
            let mut all: Vec<Vec<u8>> = Vec::new();
            for b in branches {
                all.extend(required_literals(b)?);
                if all.len() > MAX_REQUIRED_LITERALS {
                    return None;
                }
            }
            all.sort();
            all.dedup();
            Some(all)
        }
        HirKind::Concat(parts) => {
            let mut best: Option<Vec<Vec<u8>>> = None;
            // The run of adjacent literal parts being joined.
            let mut run: Option<Vec<Vec<u8>>> = None;
            for part in parts {
                // Literals and small classes join the run; anything else ends it.
                let piece = match part.kind() {
                    HirKind::Literal(_) | HirKind::Class(_) => required_literals(part),
                    _ => None,
                };
                match piece {
                    Some(piece) => {
                        run = match run.take() {
                            None => Some(piece),
                            Some(prefixes) if prefixes.len() * piece.len() > MAX_REQUIRED_LITERALS => {
                                // Too many variants: keep what was joined so far, start over.
                                best = better(best, Some(prefixes));
                                Some(piece)
                            }
                            Some(prefixes) => Some(
                                prefixes
                                    .iter()
                                    .flat_map(|p| piece.iter().map(move |q| [p.as_slice(), q].concat()))
                                    .collect(),
                            ),
                        };
                    }
                    None => {
                        best = better(best, run.take());
                        best = better(best, required_literals(part));
                    }
                }
            }
            better(best, run)
        }
        _ => None,
    }
}

/// The bytes of a class of at most four bytes once ASCII case is folded (`[Ee]`, `[-_.]`),
/// lower case; None for larger classes.
fn class_bytes(hir: &regex_syntax::hir::Hir) -> Option<Vec<u8>> {
    use regex_syntax::hir::{Class, HirKind};
    let HirKind::Class(class) = hir.kind() else { return None };
    let mut bytes: Vec<u8> = Vec::new();
    match class {
        Class::Bytes(c) => {
            for range in c.iter() {
                if usize::from(range.end() - range.start()) >= 8 {
                    return None;
                }
                bytes.extend((range.start()..=range.end()).map(|b| b.to_ascii_lowercase()));
            }
        }
        Class::Unicode(c) => {
            for range in c.iter() {
                let (start, end) = (u32::from(range.start()), u32::from(range.end()));
                if end > 0x7f || end - start >= 8 {
                    return None;
                }
                bytes.extend((start..=end).map(|b| (b as u8).to_ascii_lowercase()));
            }
        }
    }
    bytes.sort_unstable();
    bytes.dedup();
    (bytes.len() <= 4).then_some(bytes)
}

impl RuleSet {
    /// Compiles what [`super::cf`] read. Never fails as a whole: a rule that cannot run is
    /// listed in [`RuleSet::unsupported`].
    pub fn compile(files: &RuleFiles) -> RuleSet {
        let mut set = RuleSet {
            rules: Vec::new(),
            exists: Vec::new(),
            header_groups: Vec::new(),
            evals: Vec::new(),
            metas: Vec::new(),
            meta_position: Vec::new(),
            meta_inputs: Vec::new(),
            body: Scope::default(),
            body_without_subject: Vec::new(),
            rawbody: Scope::default(),
            full: Scope::default(),
            uri: Scope::default(),
            plans: Vec::new(),
            plan_texts: Vec::new(),
            prefilters: std::sync::OnceLock::new(),
            mime: Vec::new(),
            freemail_domains: files.freemail_domains.clone(),
            url_shorteners: files.url_shorteners.clone(),
            address_lists: files.address_lists.clone(),
            uri_host_lists: files.uri_host_lists.clone(),
            unsupported: Vec::new(),
            fancy: Vec::new(),
            unknown_lines: files.unknown_lines.clone(),
            undefined_reads: Vec::new(),
            prefiltered: 0,
            in_hyperscan: 0,
            exact_in_hyperscan: 0,
            not_in_hyperscan: Vec::new(),
            idle: 0,
            by_name: HashMap::new(),
            required_score: files.required_score.unwrap_or(super::cf::DEFAULT_REQUIRED_SCORE),
            valid_tlds: files.valid_tlds.clone(),
            auto_learn_threshold_spam: (files.auto_learn != Some(false))
                .then(|| files.auto_learn_threshold_spam.unwrap_or(super::cf::DEFAULT_AUTO_LEARN_THRESHOLD_SPAM)),
        };
        // Per rule type: (rule index, the literals one of which a text must hold for it).
        type LiteralSets = HashMap<RuleType, Vec<(usize, Vec<Vec<u8>>)>>;
        let mut literal_sets: LiteralSets = HashMap::new();
        // The patterns of each text: (rule index, pattern as translated).
        let mut text_patterns: HashMap<RuleType, Vec<(usize, String)>> = HashMap::new();
        let mut header_patterns: Vec<(HeaderTarget, Vec<(usize, String)>)> = Vec::new();
        let mut meta_rules: Vec<usize> = Vec::new();
        let idle = idle_rules(files);
        for def in files.rules.values() {
            let tflags = files.tflags.get(&def.name).cloned().unwrap_or_default();
            // As SpamAssassin's Check plugin: an eval rule flagged `net` is skipped in a score
            // set without network tests (it would ask the network); metas and patterns flagged
            // `net` (or inheriting the flag from what they read) still run, their network
            // dependencies counting 0, as in `spamassassin -L`.
            if tflags.iter().any(|f| f == "net") && def.definition.trim_start().starts_with("eval:") {
                set.unsupported.push(unsupported(def, "a network test (tflags net)".into()));
                continue;
            }
            let max_hits = if tflags.iter().any(|f| f == "multiple") {
                tflags.iter().find_map(|f| f.strip_prefix("maxhits=")).and_then(|n| n.parse().ok()).unwrap_or(1000)
            } else {
                1
            };
            if idle.contains(def.name.as_str()) {
                set.idle += 1;
                continue;
            }
            let score = score_of(files, def);
            let (test, source) = match compile_test(def) {
                Ok(t) => t,
                Err(reason) => {
                    set.unsupported.push(unsupported(def, reason.to_string()));
                    continue;
                }
            };
            let index = set.rules.len();
            match &test {
                Test::Header { re, .. } | Test::MimeHeader { re, .. } if re.is_fancy() => {
                    set.fancy.push(def.name.clone())
                }
                Test::Text(re) => {
                    if re.is_fancy() {
                        set.fancy.push(def.name.clone());
                    }
                    let without_subject = def.rule_type == RuleType::Body && tflags.iter().any(|f| f == "nosubject");
                    if without_subject {
                        // Few rules, over a text of their own: they run every time.
                        set.body_without_subject.push(index);
                    } else {
                        match source.as_deref().and_then(necessary_literals) {
                            Some(literals) => literal_sets.entry(def.rule_type).or_default().push((index, literals)),
                            None => set.scope_mut(def.rule_type).every.always.push(index),
                        }
                        if let Some(pattern) = source.clone() {
                            text_patterns.entry(def.rule_type).or_default().push((index, pattern));
                        }
                    }
                }
                _ => {}
            }
            match &test {
                Test::Header { target, .. } => {
                    let pattern = source.unwrap_or_default();
                    match header_patterns.iter_mut().find(|(t, _)| t == target) {
                        Some((_, list)) => list.push((index, pattern)),
                        None => header_patterns.push((target.clone(), vec![(index, pattern)])),
                    }
                }
                Test::Exists(_) => set.exists.push(index),
                Test::Eval(_) => set.evals.push(index),
                Test::Meta(_) => meta_rules.push(index),
                Test::MimeHeader { .. } => set.mime.push(index),
                _ => {}
            }
            // Some scored rules have no `describe` line (`HTML_TITLE_SUBJ_DIFF`): their hits'
            // evidence says so rather than end at the colon.
            let describe = files
                .describe
                .get(&def.name)
                .filter(|d| !d.trim().is_empty())
                .cloned()
                .unwrap_or_else(|| NO_DESCRIPTION.to_owned());
            let autolearn = autolearn_area(files, def, &tflags, &test);
            set.by_name.insert(def.name.clone(), index);
            set.rules.push(Rule { name: def.name.clone(), test, score, describe, max_hits, autolearn });
        }
        for (rule_type, entries) in &literal_sets {
            let scope = set.scope_mut(*rule_type);
            let always = std::mem::take(&mut scope.every.always);
            scope.every = LiteralFilter::new(entries, always);
            if scope.every.filters() {
                set.prefiltered += entries.len();
            }
        }
        set.plan_prefilters(text_patterns, header_patterns);
        for rule_type in [RuleType::Body, RuleType::RawBody, RuleType::Full, RuleType::Uri] {
            let Some(plan) = set.scope_mut(rule_type).plan else { continue };
            let in_plan: HashSet<usize> = set.plans[plan].rules.iter().copied().collect();
            let entries: Vec<(usize, Vec<Vec<u8>>)> = literal_sets
                .get(&rule_type)
                .map(|e| e.iter().filter(|(r, _)| !in_plan.contains(r)).cloned().collect())
                .unwrap_or_default();
            let scope = set.scope_mut(rule_type);
            let always = scope.every.always.iter().copied().filter(|r| !in_plan.contains(r)).collect();
            scope.outside_plan = LiteralFilter::new(&entries, always);
        }
        set.order_metas(files, meta_rules);
        set
    }

    /// Completes the view's URIs with what needs the rule files' knowledge: the addresses
    /// written in the text whose domain ends in a top-level domain they know (`util_rb_tld`),
    /// as `mailto:` URIs, as SpamAssassin's `_process_text_uri_list` adds them (its
    /// `is_domain_valid`).
    pub fn complete_view(&self, view: &mut MessageView) {
        let valid = |host: &str| {
            host.rsplit_once('.').is_some_and(|(_, tld)| self.valid_tlds.contains(&tld.to_ascii_lowercase()))
        };
        view.add_text_addresses(valid);
    }

    /// The points of `hits` as SpamAssassin's autolearning counts them.
    pub fn autolearn_points(&self, hits: &[RuleHit]) -> AutolearnPoints {
        let mut points = AutolearnPoints::default();
        for hit in hits {
            let Some(rule) = self.by_name.get(&hit.name).map(|i| &self.rules[*i]) else { continue };
            if rule.score == 0.0 {
                continue;
            }
            match rule.autolearn {
                AutolearnArea::Ignored => continue,
                AutolearnArea::Head => points.head += rule.score,
                AutolearnArea::Body => points.body += rule.score,
                AutolearnArea::Meta { head_share } => {
                    let round = |v: f64| (v * 1000.0).round() / 1000.0;
                    points.head += round(rule.score * head_share);
                    points.body += round(rule.score * (1.0 - head_share));
                }
                AutolearnArea::Neither => {}
            }
            points.total += rule.score;
        }
        points.total = (points.total * 1000.0).round() / 1000.0;
        points
    }

    /// SpamAssassin's AutoLearnThreshold, its spam side: whether a message with these hits
    /// would be learned as spam, and its points. It is when autolearning is on
    /// (`bayes_auto_learn`), its points reach `bayes_auto_learn_threshold_spam` (12 by
    /// default), with at least 3 of them from header rules and 3 from body rules, and its
    /// score reaches `required_score`. (SpamAssassin's further check, that Bayes did not
    /// say ham, has nothing to read here: Bayes is not among the rules this engine runs.
    /// Its ham side, points under 0.1, is not taken: measured on the corpus, mail that
    /// SpamAssassin's rules miss entirely is too often spam to be taught as ham.)
    pub fn autolearns_as_spam(&self, hits: &[RuleHit]) -> Option<AutolearnPoints> {
        let threshold = self.auto_learn_threshold_spam?;
        let points = self.autolearn_points(hits);
        let score: f64 = hits.iter().map(|h| h.score).sum();
        (points.total >= threshold
            && points.head >= AUTOLEARN_MIN_HEAD_POINTS
            && points.body >= AUTOLEARN_MIN_BODY_POINTS
            && score >= self.required_score)
            .then_some(points)
    }

    /// Hyperscan's plan for each text's patterns ([`prefilter::Plan`]); the databases are
    /// loaded or compiled by [`RuleSet::prepare_prefilters`].
    fn plan_prefilters(
        &mut self,
        text_patterns: HashMap<RuleType, Vec<(usize, String)>>,
        header_patterns: Vec<(HeaderTarget, Vec<(usize, String)>)>,
    ) {
        let mut text_patterns: Vec<_> = text_patterns.into_iter().collect();
        text_patterns.sort_by_key(|(t, _)| t.as_str());
        for (rule_type, entries) in text_patterns {
            let plan = self.add_plan(&entries, rule_type.as_str().to_owned());
            self.scope_mut(rule_type).plan = Some(plan);
        }
        for (target, entries) in header_patterns {
            let plan = self.add_plan(&entries, format!("header {target:?}"));
            let rules = entries.iter().map(|(i, _)| *i).collect();
            self.header_groups.push(HeaderGroup { target, rules, plan });
        }
    }

    /// Plans one text's patterns; returns the plan's index in [`RuleSet::plans`].
    fn add_plan(&mut self, entries: &[(usize, String)], text: String) -> usize {
        self.plan_texts.push(text);
        let (plan, left) = Plan::new(entries);
        self.in_hyperscan += plan.rules.len();
        self.exact_in_hyperscan += plan.exact_count();
        for (rule, reason) in left {
            self.not_in_hyperscan.push((self.rules[rule].name.clone(), reason));
        }
        self.plans.push(plan);
        self.plans.len() - 1
    }

    /// Loads Hyperscan's databases from the cache folder `dir`, compiling and caching any
    /// that are missing when `compile` is set (tens of seconds for SpamAssassin's rules:
    /// `scorer rules compile`). Until every database is there, the rules run with the
    /// literal prefilter alone: the same hits, slower.
    pub fn prepare_prefilters(&self, dir: &Path, compile: bool) -> Result<PrefilterReport, PrefilterError> {
        if self.prefilters.get().is_some() {
            let patterns = self.plans.iter().map(|p| p.rules.len()).sum();
            return Ok(PrefilterReport {
                databases: self.plans.len(),
                loaded: self.plans.len(),
                compiled: 0,
                patterns,
                cache: dir.to_owned(),
            });
        }
        let (prefilters, report) = prefilter::prepare(&self.plans, dir, compile)?;
        if let Some(p) = prefilters {
            // A concurrent call may have set it first: the same databases.
            let _ = self.prefilters.set(p);
        }
        Ok(report)
    }

    /// Whether Hyperscan's databases are in use.
    pub fn hyperscan_active(&self) -> bool {
        self.prefilters.get().is_some()
    }

    fn scope_mut(&mut self, rule_type: RuleType) -> &mut Scope {
        match rule_type {
            RuleType::Body => &mut self.body,
            RuleType::RawBody => &mut self.rawbody,
            RuleType::Full => &mut self.full,
            _ => &mut self.uri,
        }
    }

    /// Orders the metas so that each comes after the metas it reads; a meta in a cycle is
    /// unsupported. A name no file defines counts 0, as in SpamAssassin 4 (its parser
    /// notes "meta test has undefined dependency" and evaluates the meta with the name as
    /// 0); those reads are listed in [`RuleSet::undefined_reads`].
    fn order_metas(&mut self, files: &RuleFiles, meta_rules: Vec<usize>) {
        let index: HashMap<String, usize> = self.rules.iter().enumerate().map(|(i, r)| (r.name.clone(), i)).collect();
        let unsupported_names: HashSet<String> = self.unsupported.iter().map(|u| u.name.clone()).collect();
        for &m in &meta_rules {
            let Test::Meta(expr) = &self.rules[m].test else { continue };
            let mut names = Vec::new();
            expr.names(&mut names);
            for name in names {
                if !index.contains_key(&name) && !unsupported_names.contains(&name) {
                    self.undefined_reads.push((self.rules[m].name.clone(), name));
                }
            }
        }
        self.undefined_reads.sort();
        self.undefined_reads.dedup();
        let mut order = Vec::new();
        let mut state: HashMap<usize, u8> = HashMap::new();
        for &m in &meta_rules {
            if !self.visit(m, &index, &mut state, &mut order) {
                let def = &files.rules[&self.rules[m].name];
                if !self.unsupported.iter().any(|u| u.name == def.name) {
                    self.unsupported.push(unsupported(def, "part of a cycle of metas".into()));
                }
            }
        }
        // Each meta's `&&` / `||` chains with the operands whose outcome is known first (metas
        // before the metas that read them, so each one's costliness is known when read): a
        // pattern that only metas read runs when a meta asks for it, and a chain that fails on
        // a rule already known never asks.
        let mut costly: Vec<bool> = self.rules.iter().map(|rule| self.runs_when_asked(rule)).collect();
        let mut metas = Vec::new();
        for m in order {
            let Test::Meta(expr) = &self.rules[m].test else { continue };
            let resolved = expr.resolve(&|name: &String| index.get(name).copied());
            let (reordered, any_costly) =
                resolved.cheapest_first(&|leaf: &Option<usize>| leaf.is_some_and(|j| costly[j]));
            costly[m] = any_costly;
            metas.push((m, reordered));
        }
        self.meta_inputs = metas
            .iter()
            .map(|(_, expr)| {
                let mut leaves = Vec::new();
                expr.names(&mut leaves);
                let mut reads: Vec<usize> = leaves.into_iter().flatten().collect();
                reads.sort_unstable();
                reads.dedup();
                (reads, expr.eval(&mut |_| 0.0) != 0.0)
            })
            .collect();
        self.metas = metas;
        self.meta_position = vec![None; self.rules.len()];
        for (position, (m, _)) in self.metas.iter().enumerate() {
            self.meta_position[*m] = Some(position);
        }
    }

    /// Whether reading a rule's outcome may cost a meta a search: a pattern that only metas
    /// read runs when one asks for it; every other outcome is known before any meta is
    /// counted.
    fn runs_when_asked(&self, rule: &Rule) -> bool {
        matches!(rule.test, Test::Header { .. } | Test::Text(_)) && self.deferrable_rule(rule)
    }

    /// Whether a rule only feeds metas (a `__` rule, or one scored 0): never reported as a
    /// hit, so its pattern need not be confirmed until a meta asks for it, and most never do.
    fn deferrable(&self, i: usize) -> bool {
        self.deferrable_rule(&self.rules[i])
    }

    fn deferrable_rule(&self, rule: &Rule) -> bool {
        rule.name.starts_with("__") || rule.score == 0.0
    }

    fn visit(
        &self,
        m: usize,
        index: &HashMap<String, usize>,
        state: &mut HashMap<usize, u8>,
        order: &mut Vec<usize>,
    ) -> bool {
        match state.get(&m) {
            Some(2) => return true,
            Some(1) => return false,
            _ => {}
        }
        state.insert(m, 1);
        let mut ok = true;
        if let Test::Meta(expr) = &self.rules[m].test {
            let mut names = Vec::new();
            expr.names(&mut names);
            for n in names {
                if let Some(&d) = index.get(&n)
                    && matches!(self.rules[d].test, Test::Meta(_))
                {
                    ok &= self.visit(d, index, state, order);
                }
            }
        }
        state.insert(m, 2);
        if ok {
            order.push(m);
        }
        ok
    }

    /// How many rules run (metas included).
    pub fn len(&self) -> usize {
        self.rules.len() - (self.rules.iter().filter(|r| matches!(r.test, Test::Meta(_))).count() - self.metas.len())
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Runs every rule over the message; returns the hits of scored rules (not the `__`
    /// sub-rules, not rules scored 0), in rule-name order.
    pub fn run(&self, view: &MessageView, date_diff: Option<i64>) -> Vec<RuleHit> {
        self.run_profiled(view, date_diff, &mut None)
    }

    /// The rules' names by index (for [`RuleSet::run_profiled`]'s costs).
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// The patterns of the database that scans `text` (as [`RuleSet::scanned_texts`] names
    /// it), each with its rule's name, as Hyperscan gets them.
    pub fn scanned_patterns(&self, text: &str) -> Vec<(&str, &multimatch::Pattern)> {
        let Some(plan) = self.plan_texts.iter().position(|t| t == text) else { return Vec::new() };
        self.plans[plan].patterns().map(|(rule, pattern)| (self.rules[rule].name.as_str(), pattern)).collect()
    }

    /// The texts Hyperscan's databases scan, in the order of their slots in
    /// [`RuleSet::run_profiled`]'s costs.
    pub fn scanned_texts(&self) -> impl Iterator<Item = &str> {
        self.plan_texts.iter().map(String::as_str)
    }

    /// [`RuleSet::run`], adding each rule's time to `costs` (indexed as
    /// [`RuleSet::rule_names`], then the time of each database's scans, indexed as
    /// [`RuleSet::scanned_texts`]) when given: what `scorer rules profile` reports.
    pub fn run_profiled(
        &self,
        view: &MessageView,
        date_diff: Option<i64>,
        costs: &mut Option<Vec<std::time::Duration>>,
    ) -> Vec<RuleHit> {
        self.run_with(view, date_diff, costs, Prefilter::Hyperscan)
    }

    /// [`RuleSet::run`] without the prefilter: every pattern runs on its text. The same
    /// hits, slower: what `scorer rules verify` compares with.
    pub fn run_every_pattern(&self, view: &MessageView, date_diff: Option<i64>) -> Vec<RuleHit> {
        self.run_with(view, date_diff, &mut None, Prefilter::Off)
    }

    fn run_with(
        &self,
        view: &MessageView,
        date_diff: Option<i64>,
        costs: &mut Option<Vec<std::time::Duration>>,
        prefilter: Prefilter,
    ) -> Vec<RuleHit> {
        if let Some(c) = costs.as_mut() {
            // One slot per rule, then one per database for Hyperscan's scans.
            c.resize(self.rules.len() + self.plans.len(), std::time::Duration::ZERO);
        }
        let mut timer = Timer { costs, started: None };
        let mut counts = vec![0.0f64; self.rules.len()];
        let mut matched: Vec<Option<String>> = vec![None; self.rules.len()];
        let prefilters = match prefilter {
            Prefilter::Hyperscan => self.prefilters.get(),
            Prefilter::Off => None,
        };
        let mut scratch = prefilters.and_then(Prefilters::take_scratch);
        // Hyperscan's answer for one text (None: every candidate runs).
        let mut scan = |plan: Option<usize>, text: &[u8], timer: &mut Timer<'_>| {
            let (prefilters, scratch, index) = (prefilters?, scratch.as_mut()?, plan?);
            timer.start();
            let scanned = prefilters.scan(index, &self.plans[index], text, scratch);
            timer.stop(self.rules.len() + index);
            scanned
        };
        for &i in &self.exists {
            timer.start();
            if let Test::Exists(name) = &self.rules[i].test {
                // exists: takes the pseudo-headers too (ToCc, MESSAGEID, EnvelopeFrom).
                let found = match parse_target(name) {
                    Ok(HeaderTarget::Named { name, .. }) => view.header_fields(&name).next().is_some(),
                    Ok(target) => header_value(view, &target).is_some(),
                    Err(_) => false,
                };
                counts[i] = if found { 1.0 } else { 0.0 };
            }
            timer.stop(i);
        }
        // Rules that only feed metas, whose pattern may match: confirmed when a meta asks.
        let mut deferred: Vec<Option<Deferred<'_>>> = vec![None; self.rules.len()];
        let header_values: Vec<Option<String>> =
            self.header_groups.iter().map(|group| header_value(view, &group.target)).collect();
        for (group, value) in self.header_groups.iter().zip(&header_values) {
            // A header the message lacks: each rule reads its `if-unset` text, or nothing
            // (which the scan of the empty text answers for).
            let scanned = scan(Some(group.plan), value.as_deref().unwrap_or("").as_bytes(), &mut timer);
            for &i in &group.rules {
                let Test::Header { negate, re, if_unset, .. } = &self.rules[i].test else { continue };
                let text: &str = value.as_deref().or(if_unset.as_deref()).unwrap_or("");
                let reads_scanned_text = value.is_some() || if_unset.is_none();
                let may_match = !reads_scanned_text || scanned.as_ref().is_none_or(|s| s.must_run(i));
                if !may_match {
                    counts[i] = if *negate { 1.0 } else { 0.0 };
                    continue;
                }
                if self.deferrable(i) {
                    if reads_scanned_text && scanned.as_ref().is_some_and(|s| s.matched_exactly(i)) {
                        counts[i] = if *negate { 0.0 } else { 1.0 };
                    } else {
                        deferred[i] = Some(Deferred::Header(text));
                    }
                    continue;
                }
                timer.start();
                let found = re.find(text.as_bytes());
                let hit = found.is_some() != *negate;
                counts[i] = if hit { 1.0 } else { 0.0 };
                matched[i] = found.filter(|_| hit).map(|(s, e)| clip_text(&text.as_bytes()[s..e]));
                timer.stop(i);
            }
        }
        let ctx = EvalContext {
            freemail_domains: &self.freemail_domains,
            url_shorteners: &self.url_shorteners,
            address_lists: &self.address_lists,
            uri_host_lists: &self.uri_host_lists,
            date_diff,
        };
        for &i in &self.evals {
            if let Test::Eval(call) = &self.rules[i].test {
                timer.start();
                counts[i] = evals::run(call, view, &ctx);
                timer.stop(i);
            }
        }
        for &i in &self.mime {
            if let Test::MimeHeader { name, negate, re } = &self.rules[i].test {
                let any = view
                    .mime_headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .any(|(_, v)| re.find(v.as_bytes()).is_some());
                counts[i] = if any != *negate { 1.0 } else { 0.0 };
            }
        }
        for (scope, text) in [
            (&self.body, &view.body),
            (&self.rawbody, &view.rawbody),
            (&self.full, &view.full),
            (&self.uri, &view.uris),
        ] {
            if text.is_empty() {
                continue;
            }
            // Each prefilter answers "cannot match" only where the pattern cannot: Hyperscan's
            // scan for the rules of its database, the literal prefilter for the others.
            let scanned = scan(scope.plan, text, &mut timer);
            let mut candidates = Vec::new();
            match (&scanned, prefilter) {
                (Some(scanned), _) => {
                    candidates.extend(scanned.candidates());
                    scope.outside_plan.candidates(text, &mut candidates);
                }
                (None, Prefilter::Hyperscan) => scope.every.candidates(text, &mut candidates),
                (None, Prefilter::Off) => candidates.extend(scope.every.every()),
            }
            candidates.sort_unstable();
            candidates.dedup();
            for i in candidates {
                if self.deferrable(i) {
                    // Hyperscan's own match, when it holds the pattern unwidened, is the
                    // pattern's; a count (tflags multiple) still needs the regex.
                    let known = self.rules[i].max_hits <= 1 && scanned.as_ref().is_some_and(|s| s.matched_exactly(i));
                    if known {
                        counts[i] = 1.0;
                    } else {
                        deferred[i] = Some(Deferred::Text(text));
                    }
                } else {
                    self.run_text_rule(i, text, &mut counts, &mut matched, &mut timer);
                }
            }
        }
        if let (Some(prefilters), Some(scratch)) = (prefilters, scratch) {
            prefilters.give_scratch(scratch);
        }
        let without_subject = &view.body[view.body.len().saturating_sub(view.body_length)..];
        for &i in &self.body_without_subject {
            self.run_text_rule(i, without_subject, &mut counts, &mut matched, &mut timer);
        }
        // Which outcomes may be nonzero: a rule that hit or whose pattern may match, a meta
        // true when its rules are 0, or one that reads an outcome that may be nonzero.
        let mut may_hit: Vec<bool> =
            counts.iter().zip(&deferred).map(|(count, deferred)| *count != 0.0 || deferred.is_some()).collect();
        for ((m, _), (reads, true_at_zero)) in self.metas.iter().zip(&self.meta_inputs) {
            may_hit[*m] = *true_at_zero || reads.iter().any(|&r| may_hit[r]);
        }
        // Metas from those whose outcome is reported; each reads what it needs, confirming
        // deferred patterns and evaluating the metas it reads on demand (Perl's && and ||
        // short-circuit, so many never are).
        let mut lazy = LazyValues {
            set: self,
            counts: &mut counts,
            deferred,
            may_hit,
            meta_done: vec![false; self.metas.len()],
            timer: &mut timer,
        };
        for (i, _) in &self.metas {
            if !self.deferrable(*i) {
                lazy.value(*i);
            }
        }
        let mut hits: Vec<RuleHit> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(i, _)| counts[*i] > 0.0 && !self.deferrable(*i))
            .map(|(i, r)| RuleHit {
                name: r.name.clone(),
                score: r.score * if r.max_hits > 1 { counts[i] } else { 1.0 },
                describe: r.describe.clone(),
                matched: matched[i].take(),
            })
            .collect();
        hits.sort_by(|a, b| a.name.cmp(&b.name));
        hits
    }

    fn run_text_rule(
        &self,
        i: usize,
        text: &[u8],
        counts: &mut [f64],
        matched: &mut [Option<String>],
        timer: &mut Timer<'_>,
    ) {
        let rule = &self.rules[i];
        let Test::Text(re) = &rule.test else { return };
        timer.start();
        if let Some((start, end)) = re.find(text) {
            counts[i] = if rule.max_hits > 1 { re.count(text, rule.max_hits) as f64 } else { 1.0 };
            matched[i] = Some(clip_text(&text[start..end]));
        }
        timer.stop(i);
    }
}

/// A pattern not yet confirmed, and the text it reads.
#[derive(Debug, Clone, Copy)]
enum Deferred<'t> {
    Header(&'t str),
    Text(&'t [u8]),
}

/// Rule outcomes computed on demand: deferred patterns confirmed and metas evaluated when
/// first read, then remembered.
struct LazyValues<'r, 't, 'c> {
    set: &'r RuleSet,
    counts: &'r mut [f64],
    deferred: Vec<Option<Deferred<'t>>>,
    /// By rule: whether its outcome may be nonzero (false: it is 0, without evaluating it).
    may_hit: Vec<bool>,
    /// By place in [`RuleSet::metas`]: evaluated already.
    meta_done: Vec<bool>,
    timer: &'r mut Timer<'c>,
}

impl LazyValues<'_, '_, '_> {
    fn value(&mut self, i: usize) -> f64 {
        let set = self.set;
        if let Some(deferred) = self.deferred[i].take() {
            self.timer.start();
            self.counts[i] = match (&set.rules[i].test, deferred) {
                (Test::Header { negate, re, .. }, Deferred::Header(text)) => {
                    f64::from(u8::from(re.find(text.as_bytes()).is_some() != *negate))
                }
                (Test::Text(re), Deferred::Text(text)) => {
                    let rule = &set.rules[i];
                    match re.find(text) {
                        Some(_) if rule.max_hits > 1 => re.count(text, rule.max_hits) as f64,
                        Some(_) => 1.0,
                        None => 0.0,
                    }
                }
                _ => 0.0,
            };
            self.timer.stop(i);
        } else if let Some(position) = set.meta_position[i]
            && !self.meta_done[position]
            && self.may_hit[i]
        {
            // Marked first: a meta never reads itself (cycles are refused at compile time).
            self.meta_done[position] = true;
            let expr = &set.metas[position].1;
            let value = expr.eval(&mut |rule: &Option<usize>| rule.map_or(0.0, |j| self.value(j)));
            self.counts[i] = if value != 0.0 { 1.0 } else { 0.0 };
        }
        self.counts[i]
    }
}

#[derive(Debug, Clone, Copy)]
enum Prefilter {
    Hyperscan,
    Off,
}

/// Times rules when costs are wanted; nothing otherwise.
struct Timer<'c> {
    costs: &'c mut Option<Vec<std::time::Duration>>,
    started: Option<std::time::Instant>,
}

impl Timer<'_> {
    fn start(&mut self) {
        if self.costs.is_some() {
            self.started = Some(std::time::Instant::now());
        }
    }

    /// Adds the time since [`Timer::start`] to a slot: a rule's, or a database's scans'.
    fn stop(&mut self, slot: usize) {
        if let (Some(costs), Some(started)) = (self.costs.as_mut(), self.started.take()) {
            costs[slot] += started.elapsed();
        }
    }
}

fn clip_text(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s: String = s.chars().take(60).collect();
    s.replace('\n', " ")
}

/// A header's text as a header rule sees it; None when the message has no such header.
pub fn header_value(view: &MessageView, target: &HeaderTarget) -> Option<String> {
    match target {
        HeaderTarget::All => Some(view.headers.iter().fold(String::new(), |mut all, field| {
            push_header_line(&mut all, field);
            all
        })),
        HeaderTarget::AllRaw => Some(String::from_utf8_lossy(view.header_block()).into_owned()),
        HeaderTarget::ToCc { addresses: false } => {
            let v: Vec<&str> =
                view.header_fields("to").chain(view.header_fields("cc")).map(|h| h.decoded.as_str()).collect();
            (!v.is_empty()).then(|| v.join(", "))
        }
        HeaderTarget::ToCc { addresses: true } => {
            let fields: Vec<&super::views::HeaderField> =
                view.header_fields("to").chain(view.header_fields("cc")).collect();
            (!fields.is_empty()).then(|| {
                fields.iter().flat_map(|f| f.addresses.iter().map(|(_, a)| a.as_str())).collect::<Vec<_>>().join("\n")
            })
        }
        HeaderTarget::MessageId => {
            let v: Vec<&str> = view.message_ids().collect();
            (!v.is_empty()).then(|| v.join("\n"))
        }
        HeaderTarget::EnvelopeFrom => (!view.envelope_from.is_empty()).then(|| view.envelope_from.clone()),
        // Always set, empty when there is no such relay (as SpamAssassin's metadata is).
        HeaderTarget::Relays(list) => Some(view.relays.pseudo_header(*list)),
        HeaderTarget::RelayedHeaders { untrusted } => relayed_headers(view, *untrusted),
        HeaderTarget::Named { name, modifier } => {
            let fields: Vec<&super::views::HeaderField> = view.header_fields(name).collect();
            if fields.is_empty() {
                return None;
            }
            let first_address = |f: &super::views::HeaderField| f.addresses.first().cloned();
            Some(match modifier {
                Modifier::Decoded => fields.iter().map(|f| f.decoded.as_str()).collect::<Vec<_>>().join("\n"),
                Modifier::Raw => fields.iter().map(|f| f.raw.as_str()).collect::<Vec<_>>().join("\n"),
                Modifier::First => fields[0].decoded.clone(),
                Modifier::Last => fields[fields.len() - 1].decoded.clone(),
                Modifier::Addr => first_address(fields[0])
                    .map(|(_, a)| a)
                    .unwrap_or_else(|| fields[0].raw.trim_matches(['<', '>']).to_owned()),
                Modifier::Name => first_address(fields[0]).map(|(n, _)| n).unwrap_or_default(),
                Modifier::Host => first_address(fields[0])
                    .and_then(|(_, a)| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
                    .unwrap_or_default(),
            })
        }
    }
}

/// A header field as the `ALL` pseudo-headers hold it: `Name: value` and a line feed.
fn push_header_line(out: &mut String, field: &super::views::HeaderField) {
    out.push_str(&field.written_name);
    out.push_str(": ");
    out.push_str(&field.raw);
    out.push('\n');
}

/// SpamAssassin's `get_all_hdrs_in_rcvd_index_range` for the `ALL-*` pseudo-headers: the
/// header lines (`Name: value`, top down) from the first Received field the trusted part of
/// the relay analysis did not read to the end (untrusted), or from the top through that
/// field (trusted), as SpamAssassin takes them. None when that is nothing.
fn relayed_headers(view: &MessageView, untrusted: bool) -> Option<String> {
    let boundary = view.relays.trusted_received;
    let mut received = 0usize;
    let mut out = String::new();
    for field in &view.headers {
        // The index this field's lines are at: Received fields count from 1 here.
        if field.name == "received" {
            received += 1;
        }
        let at_or_past = received > boundary;
        if at_or_past || !untrusted {
            push_header_line(&mut out, field);
        }
        if at_or_past && !untrusted {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A rule's score: as SpamAssassin, a rule without a score line scores 1 (0.01 for T_ test
/// rules), negative for `tflags nice`.
fn score_of(files: &RuleFiles, def: &RuleDef) -> f64 {
    let nice = files.tflags.get(&def.name).is_some_and(|flags| flags.iter().any(|f| f == "nice"));
    files.scores.get(&def.name).copied().unwrap_or_else(|| default_score(&def.name) * if nice { -1.0 } else { 1.0 })
}

/// Rules whose outcome nothing reads: scored 0 (so never a hit) and read by no meta that
/// is scored or read, in turn, by one that is. Running them would change no hit, only
/// cost time (a sixth of the rules, many of them `__` parts of metas scored 0 in the
/// first score set).
fn idle_rules(files: &RuleFiles) -> HashSet<&str> {
    let mut live: HashSet<&str> =
        files.rules.values().filter(|d| score_of(files, d) != 0.0).map(|d| d.name.as_str()).collect();
    let mut pending: Vec<&str> = live.iter().copied().collect();
    while let Some(name) = pending.pop() {
        let Some(def) = files.rules.get(name) else { continue };
        if def.rule_type != RuleType::Meta {
            continue;
        }
        // A meta that does not parse cannot run (it is listed as such): it reads nothing.
        let mut reads = Vec::new();
        if let Ok(expr) = meta::parse(&def.definition) {
            expr.names(&mut reads);
        }
        for name in reads {
            if let Some((read, _)) = files.rules.get_key_value(&name)
                && live.insert(read.as_str())
            {
                pending.push(read.as_str());
            }
        }
    }
    files.rules.keys().map(String::as_str).filter(|name| !live.contains(name)).collect()
}

fn default_score(name: &str) -> f64 {
    if name.starts_with("__") {
        0.0
    } else if name.starts_with("T_") {
        0.01
    } else {
        1.0
    }
}

fn unsupported(def: &RuleDef, reason: String) -> Unsupported {
    Unsupported { name: def.name.clone(), rule_type: def.rule_type, file: def.file.clone(), reason }
}

/// Compiles one definition; also returns the translated pattern of a body, rawbody, full,
/// uri or header pattern rule (for the prefilter).
fn compile_test(def: &RuleDef) -> Result<(Test, Option<String>), Unrunnable> {
    let d = def.definition.trim();
    if d.starts_with("eval:") {
        if def.rule_type == RuleType::Meta {
            return Err(Unrunnable::EvalInMeta);
        }
        return match evals::parse_call(d)? {
            Some(call) => Ok((Test::Eval(call), None)),
            None => {
                let call = d.trim_start_matches("eval:").trim();
                let function = call.split('(').next().unwrap_or("").trim();
                // A known function with a test it does not compute: name the call.
                let what = if evals::EvalFunction::from_name(function).is_some() { call } else { function };
                Err(Unrunnable::EvalMissing(what.to_owned()))
            }
        };
    }
    let pattern_rule = |multiline: bool| -> Result<(Compiled, String), Unrunnable> {
        let (p, _) = perl_regex::split_delimited(d)?;
        let t = perl_regex::translate(&p, multiline)?;
        let compiled = Compiled::new(&t)?;
        Ok((compiled, t.pattern))
    };
    Ok(match def.rule_type {
        RuleType::Meta => (Test::Meta(meta::parse(d)?), None),
        RuleType::Body | RuleType::RawBody | RuleType::Uri | RuleType::Full => {
            // Body, rawbody and uri texts are lines: ^ and $ per line.
            let (re, s) = pattern_rule(def.rule_type != RuleType::Full)?;
            (Test::Text(re), Some(s))
        }
        RuleType::Header | RuleType::MimeHeader => {
            if let Some(name) = d.strip_prefix("exists:") {
                return Ok((Test::Exists(name.trim().to_owned()), None));
            }
            let (spec, rest) =
                d.split_once(char::is_whitespace).ok_or(Unrunnable::Syntax("no header name and pattern"))?;
            let rest = rest.trim();
            let (negate, pattern) = if let Some(p) = rest.strip_prefix("=~") {
                (false, p.trim())
            } else if let Some(p) = rest.strip_prefix("!~") {
                (true, p.trim())
            } else {
                return Err(Unrunnable::Syntax("expected =~ or !~ after the header name"));
            };
            let (parsed, after) = perl_regex::split_delimited(pattern)?;
            let translated = perl_regex::translate(&parsed, false)?;
            let re = Compiled::new(&translated)?;
            let if_unset = after
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .and_then(|a| a.trim().strip_prefix("if-unset:"))
                .map(|v| v.trim().to_owned());
            if def.rule_type == RuleType::MimeHeader {
                let name = spec.split(':').next().unwrap_or(spec).to_owned();
                (Test::MimeHeader { name, negate, re }, None)
            } else {
                (Test::Header { target: parse_target(spec)?, negate, re, if_unset }, Some(translated.pattern))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spamassassin::cf;

    fn set(cf: &str) -> RuleSet {
        RuleSet::compile(&cf::read_files([("test.cf", cf.as_bytes())]))
    }

    fn hits(set: &RuleSet, raw: &str) -> Vec<String> {
        let m = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        set.run(&MessageView::new(&m, "bounce@x.example", &[]), None).into_iter().map(|h| h.name).collect()
    }

    /// The hits with Hyperscan's prefilter and with every pattern run.
    fn both_ways(set: &RuleSet, raw: &str) -> (Vec<RuleHit>, Vec<RuleHit>) {
        let m = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        let view = MessageView::new(&m, "bounce@x.example", &[]);
        (set.run(&view, None), set.run_every_pattern(&view, None))
    }

    #[test]
    fn all_trusted_and_all_external_split_the_header_at_the_relay_analysis() {
        // SpamAssassin's __DOS_RELAYED_EXT: two Received fields among the external headers.
        let rules = set(r#"
header RELAYED_EXT ALL-EXTERNAL =~ /(?:^|\n)[Rr][eE][cC][eE][iI][vV][eE][dD]:\s.+\n[Rr][eE][cC][eE][iI][vV][eE][dD]:\s/s
header EXT_HAS_TOP ALL-EXTERNAL =~ /^X-Top:/m
header TRUSTED_HAS_TOP ALL-TRUSTED =~ /^X-Top:/m
header TRUSTED_HAS_FIRST_EXTERNAL ALL-INTERNAL =~ /198\.51\.100\.7/
header TRUSTED_HAS_SECOND_EXTERNAL ALL-TRUSTED =~ /203\.0\.113\.9/
"#);
        let internal = "Received: from mx.corp.example (mx.corp.example [10.0.0.2]) by store.corp.example \
                        with ESMTP id A1; Mon, 1 Jan 2024 00:00:02 +0000\r\n";
        let first = "Received: from relay.isp.example (relay.isp.example [198.51.100.7]) by mx.corp.example \
                     with ESMTP id B2; Mon, 1 Jan 2024 00:00:01 +0000\r\n";
        let second = "Received: from pc.home.example (pc.home.example [203.0.113.9]) by relay.isp.example \
                      with ESMTP id C3; Mon, 1 Jan 2024 00:00:00 +0000\r\n";
        let tail = "From: a@b.example\r\nSubject: hi\r\n\r\nx\r\n";
        let twice = hits(&rules, &format!("X-Top: 1\r\n{internal}{first}{second}{tail}"));
        assert_eq!(twice, ["RELAYED_EXT", "TRUSTED_HAS_FIRST_EXTERNAL", "TRUSTED_HAS_TOP"]);
        // One external hop: no second Received field among the external headers.
        let once = hits(&rules, &format!("X-Top: 1\r\n{internal}{first}{tail}"));
        assert_eq!(once, ["TRUSTED_HAS_FIRST_EXTERNAL", "TRUSTED_HAS_TOP"]);
    }

    #[test]
    fn hyperscan_prefilters_every_kind_of_pattern_without_changing_a_hit() {
        // Five repeats of a long alternation, as SpamAssassin's form lists: too large for
        // Hyperscan written out, it stays behind the literal prefilter ("offer").
        let long_alternation = (0..200).map(|i| format!("w{i}")).collect::<Vec<_>>().join("|");
        let rules = set(&r#"
body LONG_OFFER /\b(?:(?:LONG_PLACEHOLDER)\s+){5}offer\b/i
body BACKREF /\b(\w{4,})\s+\1\b/i
body LOOKAHEAD /\bpassword(?!\s+reset)/i
body COUNTED /\bfree\b/i
tflags COUNTED multiple maxhits=3
body PLAIN_LINE /^click here$/im
rawbody RAW_TAG /<a\s[^>]{0,200}href=.?https?:/i
uri URI_IP /^https?:\/\/\d+\.\d+\.\d+\.\d+/
full FULL_HDR /^X-Mailer: bulk/m
header SUBJ_WIN Subject =~ /\bwin(?:ner)?\b/i
header SUBJ_NOT_HELLO Subject !~ /hello/
header MAILER_UNSET X-Mailer =~ /^none$/ [if-unset: none]
header FROM_NAME From:name =~ /(?<!Mr\. )Smith/
header EMPTY_OK Subject =~ /x*/
"#
        .replace("LONG_PLACEHOLDER", &long_alternation));
        let cache = tempfile::tempdir().unwrap();
        let report = rules.prepare_prefilters(cache.path(), true).unwrap();
        assert!(rules.hyperscan_active(), "{report:?}");
        assert_eq!(rules.in_hyperscan, 11, "every pattern but the empty one, in {} databases", report.databases);
        assert_eq!(
            rules.not_in_hyperscan.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            vec!["LONG_OFFER", "EMPTY_OK"],
            "a pattern too large to compile quickly, or one that matches the empty string, stays with the literal prefilter"
        );
        // With the databases, only the rule outside them waits for its literal.
        let long_offer = rules.rule_names().position(|n| n == "LONG_OFFER").unwrap();
        assert_eq!(rules.body.outside_plan.every(), vec![long_offer]);
        assert!(rules.body.outside_plan.filters() && rules.body.every.every().len() > 1);
        let spam = "From: Jane Smith <j@x.example>\r\nSubject: You are a winner\r\nX-Mailer: bulk 1\r\n\
            Content-Type: text/html\r\n\r\n<p>free free free free offer offer, your password now, w1 w2 w3 w4 w77 offer</p>\
            <p>click here</p><a href=\"http://192.0.2.1/x\">link</a>\r\n";
        let ham = "From: Mr. Smith <s@x.example>\r\nSubject: hello\r\n\r\nhello hello, the password reset is done.\r\n\r\nclick here\r\n";
        for message in [spam, ham] {
            let (filtered, every) = both_ways(&rules, message);
            assert_eq!(filtered, every);
        }
        let (spam_hits, _) = both_ways(&rules, spam);
        let names: Vec<&str> = spam_hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "BACKREF",
                "COUNTED",
                "EMPTY_OK",
                "FROM_NAME",
                "FULL_HDR",
                "LONG_OFFER",
                "LOOKAHEAD",
                // `<p>click here</p>` is a line of its own, as SpamAssassin renders it.
                "PLAIN_LINE",
                "RAW_TAG",
                "SUBJ_NOT_HELLO",
                "SUBJ_WIN",
                "URI_IP"
            ]
        );
        let counted = spam_hits.iter().find(|h| h.name == "COUNTED").unwrap();
        assert_eq!(counted.score, 3.0, "tflags multiple counts up to maxhits");
        let (ham_hits, _) = both_ways(&rules, ham);
        let names: Vec<&str> = ham_hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["BACKREF", "EMPTY_OK", "MAILER_UNSET", "PLAIN_LINE"],
            "hello hello; no X-Mailer: its if-unset text; a line of its own"
        );
    }

    #[test]
    fn metas_read_hyperscans_exact_matches_as_the_patterns_would() {
        // Meta-only rules whose pattern Hyperscan holds as it is: a match in the scan is the
        // rule's outcome, not run again; the widened ones (look-around, a long repeat, a
        // count) still run. Each meta must come out as with every pattern run.
        let rules = set(r#"
header __SUBJ_WIN Subject =~ /\bwin(?:ner)?\b/i
header __SUBJ_NOT_HELLO Subject !~ /^hello/i
header __MAILER_UNSET X-Mailer =~ /^none$/ [if-unset: none]
body __PRIZE /\bprize\b/i
body __CLAIM_NOW /\bclaim(?!\s+form)/i
rawbody __BIG_GAP /<p>[^<]{0,3000}free/i
body __FREE /\bfree\b/i
tflags __FREE multiple maxhits=4
uri __IP_LINK /^https?:\/\/\d+\.\d+\.\d+\.\d+/
meta WINNER_PRIZE __SUBJ_WIN && __PRIZE
meta NOT_HELLO_CLAIM __SUBJ_NOT_HELLO && __CLAIM_NOW
meta NO_MAILER_GAP __MAILER_UNSET && __BIG_GAP
meta FREE_TWICE __FREE > 1
meta IP_LINK_PRIZE __IP_LINK && __PRIZE
"#);
        assert_eq!(
            (rules.in_hyperscan, rules.exact_in_hyperscan),
            (8, 6),
            "all but the look-ahead and the 3,000-character gap held as they are"
        );
        let cache = tempfile::tempdir().unwrap();
        rules.prepare_prefilters(cache.path(), true).unwrap();
        assert!(rules.hyperscan_active());
        let winner = "From: a@x.example\r\nSubject: You are a winner\r\nContent-Type: text/html\r\n\r\n\
            <p>Your prize is free, free to claim now</p><a href=\"http://192.0.2.1/x\">prize</a>\r\n";
        let hello =
            "From: a@x.example\r\nSubject: hello\r\nX-Mailer: mutt\r\n\r\nclaim form for the prize, free once\r\n";
        for (message, expected) in [
            (winner, vec!["FREE_TWICE", "IP_LINK_PRIZE", "NOT_HELLO_CLAIM", "NO_MAILER_GAP", "WINNER_PRIZE"]),
            (hello, vec![]),
        ] {
            let (filtered, every) = both_ways(&rules, message);
            assert_eq!(filtered, every);
            let names: Vec<&str> = filtered.iter().map(|h| h.name.as_str()).collect();
            assert_eq!(names, expected);
        }
    }

    #[test]
    fn all_raw_is_the_header_block_as_written_and_nosubject_rules_skip_the_subject() {
        let rules = set("header MISSPACED ALL:raw =~ /^(?:Subject|From):\\S/ism\n\
             header SPACED ALL =~ /^From:\\S/ism\n\
             body __NONEMPTY /\\S/\ntflags __NONEMPTY nosubject\n\
             meta EMPTY !__NONEMPTY\n\
             body __ANY_TEXT /\\S/\nmeta NO_TEXT !__ANY_TEXT\n");
        // `From:x` as written: ALL:raw shows it, ALL (name, colon, space, value) does not.
        let found = hits(&rules, "From:a@b.example\r\nSubject: hello there\r\n\r\n");
        assert!(found.contains(&"MISSPACED".to_owned()), "{found:?}");
        assert!(!found.contains(&"SPACED".to_owned()), "{found:?}");
        // A subject and no body: empty for the nosubject rule, not for the others.
        assert!(found.contains(&"EMPTY".to_owned()), "{found:?}");
        assert!(!found.contains(&"NO_TEXT".to_owned()), "{found:?}");
        let found = hits(&rules, "From: a@b.example\r\nSubject: hello\r\n\r\nsome text\r\n");
        assert!(!found.contains(&"MISSPACED".to_owned()) && !found.contains(&"EMPTY".to_owned()), "{found:?}");
    }

    #[test]
    fn tag_balance_is_read_per_html_part_as_html_eval_reads_it() {
        let rules = set("body __CENTER eval:html_tag_balance('center', '!= 0')\n\
             meta CENTER __CENTER\n\
             body BODY_OPEN eval:html_tag_balance('body', '!= 0')\n\
             body HEAD_CLOSED eval:html_tag_balance('head', '== 0')\n\
             body ODD eval:html_tag_balance('center', 'system(1)')\n");
        assert!(rules.unsupported.iter().any(|u| u.name == "ODD"), "an expression it cannot read is listed");
        let html = |body: &str| format!("From: a@b.example\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n{body}\r\n");
        // A <center> never closed; the body closed; <head> never there (no count at all).
        let found = hits(&rules, &html("<html><body><center><b>Offer</b></body></html>"));
        assert!(found.contains(&"CENTER".to_owned()) && !found.contains(&"BODY_OPEN".to_owned()), "{found:?}");
        assert!(!found.contains(&"HEAD_CLOSED".to_owned()), "{found:?}");
        // Balanced, and an extra end tag is dropped at 0 rather than counted below it.
        let found = hits(&rules, &html("<html><head></head><body><center>x</center></center>y</body>"));
        assert!(!found.contains(&"CENTER".to_owned()) && found.contains(&"HEAD_CLOSED".to_owned()), "{found:?}");
        // A body left open; tags in a comment do not count; plain text has no HTML at all.
        let found = hits(&rules, &html("<body><!-- <center> -->text"));
        assert!(found.contains(&"BODY_OPEN".to_owned()) && !found.contains(&"CENTER".to_owned()), "{found:?}");
        let found = hits(&rules, "From: a@b.example\r\nSubject: s\r\n\r\n<center>not html\r\n");
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn vertical_words_is_the_highest_share_of_spaces_in_a_line() {
        let rules = set("body __TVD eval:tvd_vertical_words('0','10')\nmeta TVD __TVD\n\
             body SPACED eval:tvd_vertical_words('30','101')\n");
        let plain = |body: &str| format!("From: a@b.example\r\nSubject: Hi\r\n\r\n{body}\r\n");
        // Words run together (3 spaces against 58 other bytes, the line feed among them: 5%).
        let found = hits(&rules, &plain("Pleaseclick-thelinkbelow toclaimyour giftcard.now.ok forfree"));
        assert!(found.contains(&"TVD".to_owned()) && !found.contains(&"SPACED".to_owned()), "{found:?}");
        // Ordinary prose: about one space in six bytes, 17% and more.
        let found = hits(&rules, &plain("Thank you for the notes from the meeting on Tuesday."));
        assert!(!found.contains(&"TVD".to_owned()), "{found:?}");
        // Letters spaced out: spaces are the majority, 100.
        let found = hits(&rules, &plain("F R E E  M O N E Y  N O W"));
        assert!(found.contains(&"SPACED".to_owned()), "{found:?}");
        // No line longer than 5 bytes, the subject's included: no value at all.
        let found = hits(&rules, "From: a@b.example\r\nSubject: Hi\r\n\r\nok\r\n");
        assert!(!found.contains(&"TVD".to_owned()) && !found.contains(&"SPACED".to_owned()), "{found:?}");
    }

    #[test]
    fn an_address_in_the_text_is_a_uri_when_its_tld_is_known() {
        // KHOP_UNSUB_EMAIL's parts: an unsubscribe address counts as an unsubscribe link when
        // SpamAssassin's text URIs hold it as mailto:, which needs its TLD in util_rb_tld.
        let cf = "uri __UNSUB_LINK /unsubscribe/i\nbody __UNSUB_EMAIL /unsubscribe\\S*\\@/i\n\
             meta UNSUB_BY_MAIL !__UNSUB_LINK && __UNSUB_EMAIL\nscore UNSUB_BY_MAIL 1\n";
        let raw = "From: a@b.example\r\nSubject: news\r\n\r\nTo leave, write to unsubscribe@lists.example.com\r\n";
        let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        for (tlds, hits_meta) in [("util_rb_tld com org\n", false), ("util_rb_tld org\n", true)] {
            let rules = set(&format!("{cf}{tlds}"));
            let mut view = MessageView::new(&message, "", &[]);
            rules.complete_view(&mut view);
            let names: Vec<String> = rules.run(&view, None).into_iter().map(|h| h.name).collect();
            assert_eq!(names.contains(&"UNSUB_BY_MAIL".to_owned()), hits_meta, "{tlds}: {names:?}");
        }
    }

    #[test]
    fn autolearn_points_are_counted_as_spamassassin_counts_them() {
        let cf = "header FROM_ODD From =~ /odd/\nscore FROM_ODD 4\n\
             header SUBJ_PILLS Subject =~ /pills/\nscore SUBJ_PILLS 1\n\
             body BUY /buy now/\nscore BUY 5\n\
             body MONEY /lots of money/\nscore MONEY 7\n\
             uri URI_IP m{^http://\\d+\\.}\nscore URI_IP 1\n\
             meta BOTH FROM_ODD && BUY && URI_IP\nscore BOTH 3\n\
             full FULL_X /X-Odd: yes/\nscore FULL_X 2\n\
             body TEST_STRING /XJS\\*C4JDBQADN1/\nscore TEST_STRING 100\ntflags TEST_STRING userconf noautolearn\n\
             body __INFO /buy/\n";
        let rules = set(cf);
        let raw = "From: odd@x.example\r\nSubject: pills\r\nX-Odd: yes\r\n\r\nbuy now at http://192.0.2.1/ XJS*C4JDBQADN1\r\n";
        let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        let view = MessageView::new(&message, "", &[]);
        let hits = rules.run(&view, None);
        let points = rules.autolearn_points(&hits);
        // Header 4 + 1, body 5 + 1 (uri), the meta's 3 split by what it reads (one header
        // rule, two body rules: 1 and 2), the full rule only in the total, the test string
        // (noautolearn) nowhere.
        assert!((points.head - 6.0).abs() < 1e-9 && (points.body - 8.0).abs() < 1e-9, "{points:?}");
        assert!((points.total - 16.0).abs() < 1e-9, "{points:?}");
        assert_eq!(rules.autolearns_as_spam(&hits), Some(points));
        // Under the threshold the files set, or with autolearning off there: nothing.
        let higher = set(&format!("{cf}bayes_auto_learn_threshold_spam 20\n"));
        assert_eq!(higher.autolearns_as_spam(&higher.run(&view, None)), None);
        let off = set(&format!("{cf}bayes_auto_learn 0\n"));
        assert_eq!(off.autolearns_as_spam(&off.run(&view, None)), None);
        // Points enough, but fewer than 3 of them from header rules: not learned.
        let body_only =
            "From: a@x.example\r\nSubject: hi\r\nX-Odd: yes\r\n\r\nbuy now at http://192.0.2.1/, lots of money\r\n";
        let message = mail_parser::MessageParser::default().parse(body_only.as_bytes()).unwrap();
        let view = MessageView::new(&message, "", &[]);
        let hits = rules.run(&view, None);
        let points = rules.autolearn_points(&hits);
        assert!(points.total >= 12.0 && points.head < AUTOLEARN_MIN_HEAD_POINTS, "{points:?}");
        assert_eq!(rules.autolearns_as_spam(&hits), None);
    }

    #[test]
    fn an_eval_test_the_engine_does_not_compute_is_listed_not_silently_false() {
        let rules = set("body LOW_CONTRAST eval:html_test('font_low_contrast')\n\
             body HTML eval:html_test('html')\n\
             rawbody QP_LONG eval:check_for_mime('mime_qp_long_line')\n\
             body ATTACHED eval:check_for_mime('mime_attachment')\n");
        let reasons: Vec<(String, String)> =
            rules.unsupported.iter().map(|u| (u.name.clone(), u.reason.clone())).collect();
        assert!(
            reasons.iter().any(|(n, r)| n == "LOW_CONTRAST" && r.contains("html_test('font_low_contrast')")),
            "{reasons:?}"
        );
        assert!(reasons.iter().any(|(n, _)| n == "QP_LONG"), "{reasons:?}");
        assert!(!reasons.iter().any(|(n, _)| n == "HTML" || n == "ATTACHED"), "{reasons:?}");
    }

    #[test]
    fn every_rule_type_runs() {
        let rules = set(r#"
header SUBJ_WIN Subject =~ /\bwinner\b/i
score SUBJ_WIN 2.0
header NO_DATE Date !~ /./ [if-unset: ]
header HAS_XM exists:X-Mailer
header FROM_FREE From:addr =~ /\@freemail\.example$/
body   BODY_CLICK /click here/i
rawbody RAW_IFRAME /<iframe/i
full   FULL_X /^X-Odd: yes$/m
uri    URI_IP m{^https?://\d+\.\d+\.\d+\.\d+}
mimeheader MIME_EXE Content-Type =~ /\.exe/i
body   __A /alpha/
body   __B /beta/
meta   META_AB __A && __B
meta   META_NOT __A && !__B
meta   META_LATER META_AB && SUBJ_WIN
meta   META_MISSING __A && NOT_DEFINED_ANYWHERE
meta   META_NOT_MISSING __A && !NOT_DEFINED_ANYWHERE
header ZERO Subject =~ /winner/
score  ZERO 0
header RELAYS X-Spam-Last-External-IP =~ /x/
header EVAL_NET eval:check_rbl('a','b.')
body   BAD_RE /\Gx/
"#);
        let found = hits(
            &rules,
            "From: Bob <bob@freemail.example>\r\nSubject: You are a WINNER\r\nX-Odd: yes\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
<p>Click   here: <a href=\"http://192.0.2.1/x\">x</a> alpha beta</p><iframe src=x></iframe>\r\n--b\r\n\
Content-Type: application/octet-stream; name=\"a.exe\"\r\n\r\nMZ\r\n--b--\r\n",
        );
        assert_eq!(
            found,
            vec![
                "BODY_CLICK",
                "FROM_FREE",
                "FULL_X",
                "META_AB",
                "META_LATER",
                "META_NOT_MISSING",
                "MIME_EXE",
                "NO_DATE",
                "RAW_IFRAME",
                "SUBJ_WIN",
                "URI_IP"
            ]
        );
        let reasons: Vec<(&str, &str)> =
            rules.unsupported.iter().map(|u| (u.name.as_str(), u.reason.as_str())).collect();
        for name in ["RELAYS", "EVAL_NET", "BAD_RE"] {
            assert!(reasons.iter().any(|(n, _)| *n == name), "{name} listed as unsupported: {reasons:?}");
        }
        // A name no file defines counts 0, as SpamAssassin 4.0.1 counts it (checked with
        // `spamassassin -t --cf='meta T __A && !UNDEFINED'`, which hits).
        assert_eq!(
            rules.undefined_reads,
            vec![
                ("META_MISSING".to_owned(), "NOT_DEFINED_ANYWHERE".to_owned()),
                ("META_NOT_MISSING".to_owned(), "NOT_DEFINED_ANYWHERE".to_owned())
            ]
        );
        assert!(rules.prefiltered >= 3, "patterns wait behind Hyperscan");
        let quiet = hits(
            &rules,
            "From: a@corp.example\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: hello\r\n\r\nbeta only\r\n",
        );
        assert!(quiet.is_empty(), "{quiet:?}");
    }

    #[test]
    fn pseudo_headers_exist_and_nice_rules_score_below_zero() {
        let rules = set(
            "header __TOCC exists:ToCc\nmeta HAS_TOCC __TOCC\nheader NICE_LIST exists:List-Id\ntflags NICE_LIST nice\n",
        );
        let m = mail_parser::MessageParser::default()
            .parse(b"Cc: x@y.example\r\nList-Id: <l.example>\r\n\r\nhi\r\n".as_slice())
            .unwrap();
        let hits = rules.run(&MessageView::new(&m, "", &[]), None);
        let scores: Vec<(&str, f64)> = hits.iter().map(|h| (h.name.as_str(), h.score)).collect();
        assert_eq!(scores, vec![("HAS_TOCC", 1.0), ("NICE_LIST", -1.0)]);
    }

    #[test]
    fn to_cc_addr_reads_the_addresses() {
        // SpamAssassin's APOSTROPHE_TOCC: an address with an apostrophe, not a quoted name.
        let rules = set("header APOSTROPHE_TOCC ToCc:addr =~ /'/\nheader SECOND ToCc:addr =~ /^c@d\\.example$/m\n");
        assert!(hits(&rules, "To: \"'ilug@linux.ie'\" <ilug@linux.ie>\r\n\r\nx\r\n").is_empty());
        assert_eq!(
            hits(&rules, "To: a@b.example\r\nCc: Pat <o'brien@x.example>, c@d.example\r\n\r\nx\r\n"),
            vec!["APOSTROPHE_TOCC", "SECOND"]
        );
    }

    #[test]
    fn all_headers_keep_the_names_as_written() {
        let rules = set("header LCASE ALL =~ /\\n(?:from|subject):/sm\nheader UPPER ALL =~ /^Subject: hi$/m\n");
        assert_eq!(hits(&rules, "From: a@b.example\r\nSubject: hi\r\n\r\nx\r\n"), vec!["UPPER"]);
        assert_eq!(hits(&rules, "To: c@d.example\r\nsubject: hi\r\n\r\nx\r\n"), vec!["LCASE"]);
    }

    #[test]
    fn rules_whose_outcome_nothing_reads_are_not_run() {
        let rules = set("body __READ /cheap/i\n\
body __UNREAD /cheap/i\n\
body __READ_BY_IDLE /cheap/i\n\
meta IDLE_META __READ_BY_IDLE\nscore IDLE_META 0\n\
meta SCORED_META __READ && !__ABSENT\nscore SCORED_META 2.0\n\
body ZERO /cheap/i\nscore ZERO 0\n\
body PLAIN /cheap/i\n");
        // __UNREAD, ZERO, IDLE_META and what only it reads; SCORED_META, __READ and PLAIN run.
        assert_eq!(rules.idle, 4);
        assert_eq!(rules.len(), 3);
        assert_eq!(hits(&rules, "Subject: x\r\n\r\ncheap pills\r\n"), vec!["PLAIN", "SCORED_META"]);
    }

    #[test]
    fn metas_whose_rules_are_all_zero_are_skipped_unless_true_at_zero() {
        let rules = set("body __CHEAP /cheap/i\n\
body __PILLS /pills/i\n\
meta __EITHER __CHEAP || __PILLS\n\
meta NEITHER !__EITHER\nscore NEITHER 0.5\n\
meta FEW (__CHEAP + __PILLS) < 1\nscore FEW 0.1\n\
meta BOTH __EITHER && __CHEAP && __PILLS\nscore BOTH 2.0\n\
meta UNDEFINED_READ __NO_SUCH_RULE || __PILLS\nscore UNDEFINED_READ 1.0\n");
        // Nothing hits: the metas true when their rules are 0 are still evaluated.
        assert_eq!(hits(&rules, "Subject: x\r\n\r\nminutes of the meeting\r\n"), vec!["FEW", "NEITHER"]);
        // A hit makes every meta above it evaluated, through a meta in between.
        assert_eq!(hits(&rules, "Subject: x\r\n\r\ncheap pills\r\n"), vec!["BOTH", "UNDEFINED_READ"]);
        assert_eq!(hits(&rules, "Subject: x\r\n\r\npills\r\n"), vec!["UNDEFINED_READ"]);
    }

    #[test]
    fn patterns_that_only_feed_metas_run_when_a_meta_asks() {
        let rules = set("body __CHEAP /cheap/i\n\
body __PILLS /pills/i\n\
header __NOT_HELLO Subject !~ /hello/i\n\
meta CHEAP_PILLS __CHEAP && __PILLS\nscore CHEAP_PILLS 2.0\n\
meta PILLS_NOT_HELLO __PILLS && __NOT_HELLO\nscore PILLS_NOT_HELLO 1.0\n");
        let run = |raw: &str| {
            let m = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
            let mut costs = Some(Vec::new());
            let hits: Vec<String> = rules
                .run_profiled(&MessageView::new(&m, "bounce@x.example", &[]), None, &mut costs)
                .into_iter()
                .map(|h| h.name)
                .collect();
            let costs = costs.unwrap();
            let ran = |name: &str| {
                let i = rules.rule_names().position(|n| n == name).unwrap();
                costs[i] > std::time::Duration::ZERO
            };
            (hits, ran("__PILLS"), ran("__NOT_HELLO"))
        };
        // PILLS_NOT_HELLO reads __PILLS first: its pattern is confirmed, and hits; the
        // subject then keeps the meta from hitting.
        let (hits, pills_ran, _) = run("Subject: hello\r\n\r\nsome pills\r\n");
        assert!(hits.is_empty(), "{hits:?}");
        assert!(pills_ran);
        let (hits, _, _) = run("Subject: offer\r\n\r\ncheap pills\r\n");
        assert_eq!(hits, vec!["CHEAP_PILLS", "PILLS_NOT_HELLO"]);
        // Nothing for the prefilter to let through: nothing is confirmed, nothing hits.
        let (hits, pills_ran, not_hello_ran) = run("Subject: offer\r\n\r\nnothing to see\r\n");
        assert!(hits.is_empty(), "{hits:?}");
        assert!(!pills_ran, "the prefilter answered for __PILLS");
        // __PILLS is false without being run, so the && never asks for __NOT_HELLO.
        assert!(!not_hello_ran, "a pattern no meta needed was confirmed");
    }

    #[test]
    fn multiple_counts_and_scores() {
        let rules = set("body MANY /buy/i\ntflags MANY multiple maxhits=3\nscore MANY 0.5\n");
        let m = mail_parser::MessageParser::default()
            .parse(b"Subject: x\r\n\r\nbuy buy buy buy buy\r\n".as_slice())
            .unwrap();
        let hits = rules.run(&MessageView::new(&m, "", &[]), None);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].score, 1.5);
        assert_eq!(hits[0].matched.as_deref(), Some("buy"));
    }
}
