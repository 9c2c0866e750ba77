//! Hyperscan in front of the pattern rules, as rspamd runs SpamAssassin's rules: every
//! pattern of one text (the body's, the raw body's, the full message's, the URIs', each
//! header's) is compiled into one database, and one scan of the text says which patterns
//! can match; only those run with `regex` or `fancy-regex`.
//!
//! A pattern Hyperscan takes as it is (no look-around, back-reference or atomic group, no
//! counted repeat over 1,000) goes in unchanged, and its match in the scan is the pattern's
//! match: a rule only metas read is answered by the scan alone, as rspamd trusts Hyperscan
//! for the patterns it supports (a reported rule still runs, for the text it matched). The
//! others go in widened: prefiltering mode (Hyperscan approximates back-references and
//! look-around by something wider) and long counted repeats opened
//! ([`super::perl_regex::open_long_repeats`]), so a pattern's database entry matches
//! wherever the pattern does, and may match where it does not. Either way hits are the same
//! as with every pattern run, which `scorer rules verify` checks message by message. A pattern
//! Hyperscan refuses, or one too long to compile in reasonable time, stays with the
//! literal prefilter.
//!
//! Compiling SpamAssassin's ~1,500 patterns takes Hyperscan tens of seconds, too long for
//! every start of every process: `scorer rules compile` compiles them once into a cache
//! folder (one file per database, named by a hash of the library version and the
//! patterns, so new rules or a new library never read a stale file), as `sa-compile` does
//! for SpamAssassin and rspamd's `hs_helper` for rspamd. A rule set loads the cached
//! databases when every one is there, and otherwise runs with the literal prefilter alone
//! (the same hits, slower) and says so.

use super::perl_regex;
use multimatch::{Database, Flags, Pattern, Scratch};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A pattern that is more than [`MAX_WRITTEN_OUT`] long and more than
/// [`MAX_REPEAT_GROWTH`] times its written size once its counted repeats of groups are
/// written out ([`perl_regex::written_out_size`]) stays with the literal prefilter:
/// SpamAssassin's form lists (`__FILL_THIS_FORM_*`: 2,168 to 22,550 long written out, 4.5 to
/// 15 times), which Hyperscan takes seconds each to compile (0.5 to 14 s alone, here) and
/// then mostly refuses as too large. Long patterns without such repeats go in: the
/// `FUZZY_*` spellings (up to 12,000 characters of classes, at most 3 times and 1,903
/// written out) and the freemail address lists compile in a fraction of a second each; a
/// short repeat of a group (`(?:<br>\s*){30}`) is no burden either.
pub const MAX_WRITTEN_OUT: f64 = 2_000.0;
/// See [`MAX_WRITTEN_OUT`].
pub const MAX_REPEAT_GROWTH: f64 = 4.0;

/// A pattern Hyperscan cannot take as it is and that is more than this long written out
/// goes in as its leading items up to this size ([`perl_regex::leading_items`]), not
/// widened whole: prefiltering mode reduces SpamAssassin's longest `FUZZY_*` spellings
/// (`FUZZY_PHENT`, `FUZZY_PHARMACY`, `T_TVD_FUZZY_SECURITIES`: a look-ahead, then 8 to 11
/// letters of 400 to 1,000 characters of spellings each, 1,151 to 1,903 written out) to
/// an engine that scanned 20 KB of text in about 195 us each, where their first six
/// letters, taken as they are, scan it in 11 to 30 us. Their rules then run where those
/// letters match.
pub const MAX_WIDENED_WRITTEN_OUT: f64 = 1_000.0;

/// Counted repeats past this are opened for Hyperscan.
const REPEAT_LIMIT: usize = 16;

/// Counted repeats up to this stay as they are in an unwidened pattern (Hyperscan's
/// bounded-repeat engines take SpamAssassin's `[^>]{0,80}` gaps in stride; compiling every
/// database took the same 9 s with this as with 16).
const EXACT_REPEAT_LIMIT: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum PrefilterError {
    #[error("Hyperscan: {0}")]
    Hyperscan(#[from] multimatch::Error),
    #[error("{doing} {path}")]
    Cache {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: not a Hyperscan database this version wrote (delete it and run `scorer rules compile`)")]
    BadCacheFile(PathBuf),
}

/// The patterns of one text, as Hyperscan gets them.
#[derive(Debug)]
pub(super) struct Plan {
    /// Pattern id -> rule index.
    pub rules: Vec<usize>,
    patterns: Vec<Pattern>,
    /// By pattern id: compiled as the pattern itself, not widened, so a match is the
    /// pattern's match and needs no confirmation.
    exact: Vec<bool>,
    /// Hash of the library version and the patterns: the cache file's name.
    key: u64,
}

impl Plan {
    /// Each pattern as Hyperscan gets it, with its rule's index.
    pub fn patterns(&self) -> impl Iterator<Item = (usize, &Pattern)> {
        self.rules.iter().copied().zip(&self.patterns)
    }

    /// A plan of `(rule index, translated pattern)`; also returns the rules left with the
    /// literal prefilter, with the reason.
    pub fn new(entries: &[(usize, String)]) -> (Plan, Vec<(usize, String)>) {
        let mut rules = Vec::new();
        let mut patterns = Vec::new();
        let mut exact = Vec::new();
        let mut left = Vec::new();
        for (rule, source) in entries {
            let written_out = perl_regex::written_out_size(source);
            // Too large written out: the form lists.
            if let Some((once, out)) = written_out
                && out > MAX_WRITTEN_OUT
                && out > MAX_REPEAT_GROWTH * once
            {
                left.push((
                    *rule,
                    format!(
                        "{out} long with its repeated groups written out, {:.1} times its size (slow to compile)",
                        out / once
                    ),
                ));
                continue;
            }
            // As it is, where Hyperscan takes it without widening: no long counted repeat
            // to open, and nothing only prefiltering mode accepts (look-around,
            // back-references, atomic groups).
            if let Some(unwidened) = as_it_is(source) {
                rules.push(*rule);
                patterns.push(unwidened);
                exact.push(true);
                continue;
            }
            // Too long to widen well: its leading items stand in for it, where Hyperscan
            // takes them as they are (else the whole pattern is widened, as below).
            let stand_in = written_out
                .is_some_and(|(_, out)| out > MAX_WIDENED_WRITTEN_OUT)
                .then(|| perl_regex::leading_items(source, MAX_WIDENED_WRITTEN_OUT))
                .flatten();
            if let Some(lead) = stand_in.as_deref().and_then(as_it_is) {
                rules.push(*rule);
                patterns.push(lead);
                exact.push(false);
                continue;
            }
            let widened = |p: &str| hyperscan_pattern(&perl_regex::open_long_repeats(p, REPEAT_LIMIT), Mode::Prefilter);
            let prefiltered = widened(source);
            let pattern = match multimatch::check(&prefiltered) {
                Ok(()) => Ok(prefiltered),
                // What Hyperscan refuses even in prefiltering mode (anchors inside
                // groups, ...) it may take in the relaxed form, a superset in plain syntax.
                Err(reason) => {
                    let relaxed = widened(&perl_regex::relax(source, true));
                    multimatch::check(&relaxed).map(|()| relaxed).map_err(|_| reason)
                }
            };
            match pattern {
                Ok(p) => {
                    rules.push(*rule);
                    patterns.push(p);
                    exact.push(false);
                }
                Err(reason) => left.push((*rule, reason)),
            }
        }
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(multimatch::version().as_bytes());
        for p in &patterns {
            hasher.update(&p.flags.bits().to_le_bytes());
            hasher.update(p.expression.as_bytes());
            hasher.update(&[0]);
        }
        (Plan { rules, patterns, exact, key: hasher.digest() }, left)
    }

    /// How many patterns the database holds as they are.
    pub fn exact_count(&self) -> usize {
        self.exact.iter().filter(|e| **e).count()
    }

    fn cache_file(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{:016x}.hsdb", self.key))
    }

    /// The database from the cache folder, if it is there.
    fn load(&self, dir: &Path) -> Result<Option<Compiled>, PrefilterError> {
        let path = self.cache_file(dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(PrefilterError::Cache { doing: "reading", path, source }),
        };
        Compiled::from_bytes(&bytes, self).map(Some).ok_or(PrefilterError::BadCacheFile(path))
    }

    /// Compiles the database and writes it to the cache folder (atomically: a temporary
    /// file renamed).
    fn compile(&self, dir: &Path) -> Result<Compiled, PrefilterError> {
        let compiled = Database::compile(&self.patterns)?;
        let refused: Vec<u32> = compiled.rejected.iter().map(|r| r.index as u32).collect();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(CACHE_MAGIC);
        bytes.extend_from_slice(&(refused.len() as u32).to_le_bytes());
        for id in &refused {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        if let Some(db) = &compiled.database {
            bytes.extend_from_slice(&db.serialize()?);
        }
        let path = self.cache_file(dir);
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        let io = |doing, path: &Path| {
            let path = path.to_owned();
            move |source| PrefilterError::Cache { doing, path, source }
        };
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        std::fs::write(&temporary, &bytes).map_err(io("writing", &temporary))?;
        std::fs::rename(&temporary, &path).map_err(io("renaming to", &path))?;
        Ok(Compiled::new(compiled.database, &refused, self))
    }
}

const CACHE_MAGIC: &[u8; 8] = b"PHSDB\x00\x00\x01";

/// One text's database, as compiled or loaded.
#[derive(Debug)]
struct Compiled {
    database: Option<Database>,
    /// Rule indexes the database answers for (sorted): its patterns less any the compiler
    /// refused.
    covered: Vec<usize>,
    /// The plan's rules the database does not answer for (sorted): they always run.
    uncovered: Vec<usize>,
    /// Covered rules whose pattern the database holds unwidened (sorted): a match is the
    /// pattern's.
    exact: Vec<usize>,
}

impl Compiled {
    fn new(database: Option<Database>, refused: &[u32], plan: &Plan) -> Compiled {
        let mut covered: Vec<usize> = plan
            .rules
            .iter()
            .enumerate()
            .filter(|(id, _)| database.is_some() && !refused.contains(&(*id as u32)))
            .map(|(_, r)| *r)
            .collect();
        covered.sort_unstable();
        let mut uncovered: Vec<usize> =
            plan.rules.iter().copied().filter(|r| covered.binary_search(r).is_err()).collect();
        uncovered.sort_unstable();
        let mut exact: Vec<usize> = plan
            .rules
            .iter()
            .zip(&plan.exact)
            .filter(|(r, exact)| **exact && covered.binary_search(r).is_ok())
            .map(|(r, _)| *r)
            .collect();
        exact.sort_unstable();
        Compiled { database, covered, uncovered, exact }
    }

    fn from_bytes(bytes: &[u8], plan: &Plan) -> Option<Compiled> {
        let rest = bytes.strip_prefix(CACHE_MAGIC.as_slice())?;
        let count = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let ids = rest.get(4..4 + 4 * count)?;
        let refused: Vec<u32> = ids.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let db_bytes = &rest[4 + 4 * count..];
        let database = if db_bytes.is_empty() { None } else { Some(Database::deserialize(db_bytes).ok()?) };
        if database.as_ref().is_some_and(|d| d.pattern_count() != plan.patterns.len()) {
            return None;
        }
        Some(Compiled::new(database, &refused, plan))
    }
}

/// Every text's database, and scratch spaces for scanning them.
#[derive(Debug)]
pub(super) struct Prefilters {
    compiled: Vec<Compiled>,
    /// None when no text has a database (a rule set whose patterns Hyperscan all refused).
    prototype: Option<Scratch>,
    free: Mutex<Vec<Scratch>>,
}

impl Prefilters {
    fn new(compiled: Vec<Compiled>) -> Result<Prefilters, PrefilterError> {
        let databases: Vec<&Database> = compiled.iter().filter_map(|c| c.database.as_ref()).collect();
        let prototype = if databases.is_empty() { None } else { Some(Scratch::new(databases)?) };
        Ok(Prefilters { compiled, prototype, free: Mutex::new(Vec::new()) })
    }

    /// A scratch space for one run (the prototype is only ever cloned, never scanned with).
    pub fn take_scratch(&self) -> Option<Scratch> {
        let prototype = self.prototype.as_ref()?;
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        reused.or_else(|| prototype.try_clone().ok())
    }

    pub fn give_scratch(&self, scratch: Scratch) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(scratch);
    }

    /// Scans `text` with plan `index`'s database: the rules whose pattern may match, and
    /// whether `rule` is one the database answers for. None: no database, or the scan
    /// failed (then every rule must run).
    pub fn scan(&self, index: usize, plan: &Plan, text: &[u8], scratch: &mut Scratch) -> Option<Scanned<'_>> {
        let compiled = &self.compiled[index];
        let database = compiled.database.as_ref()?;
        let mut ids = Vec::new();
        if let Err(e) = database.scan(text, scratch, &mut ids) {
            tracing::warn!(error = %e, "Hyperscan scan failed; running every rule of the text");
            return None;
        }
        let mut matched: Vec<usize> = ids.into_iter().map(|id| plan.rules[id as usize]).collect();
        matched.sort_unstable();
        Some(Scanned { matched, covered: &compiled.covered, uncovered: &compiled.uncovered, exact: &compiled.exact })
    }
}

/// One scan's answer.
pub(super) struct Scanned<'p> {
    matched: Vec<usize>,
    covered: &'p [usize],
    uncovered: &'p [usize],
    exact: &'p [usize],
}

impl Scanned<'_> {
    /// The plan's rules that must run: those whose pattern may match, and those the
    /// database does not answer for.
    pub fn candidates(&self) -> impl Iterator<Item = usize> + '_ {
        self.matched.iter().chain(self.uncovered).copied()
    }

    /// Whether `rule` must run: its pattern may match, or the database does not answer
    /// for it.
    pub fn must_run(&self, rule: usize) -> bool {
        self.matched.binary_search(&rule).is_ok() || self.covered.binary_search(&rule).is_err()
    }

    /// Whether `rule`'s pattern matched, as the database's unwidened copy of it says: no
    /// need to run it to know (only to find what it matched, or how often).
    pub fn matched_exactly(&self, rule: usize) -> bool {
        self.exact.binary_search(&rule).is_ok() && self.matched.binary_search(&rule).is_ok()
    }
}

/// What loading or compiling the databases did.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefilterReport {
    pub databases: usize,
    pub loaded: usize,
    pub compiled: usize,
    pub patterns: usize,
    pub cache: PathBuf,
}

/// Loads every plan's database from `dir`, compiling (and caching) the missing ones when
/// `compile` is set. Returns the prefilters when every database is there.
pub(super) fn prepare(
    plans: &[Plan],
    dir: &Path,
    compile: bool,
) -> Result<(Option<Prefilters>, PrefilterReport), PrefilterError> {
    let mut report = PrefilterReport {
        databases: plans.len(),
        loaded: 0,
        compiled: 0,
        patterns: plans.iter().map(|p| p.patterns.len()).sum(),
        cache: dir.to_owned(),
    };
    let mut all = Vec::with_capacity(plans.len());
    for plan in plans {
        if plan.patterns.is_empty() {
            // Nothing to compile or cache.
            all.push(Compiled { database: None, covered: Vec::new(), uncovered: Vec::new(), exact: Vec::new() });
            report.loaded += 1;
            continue;
        }
        match plan.load(dir)? {
            Some(c) => {
                report.loaded += 1;
                all.push(c);
            }
            None if compile => {
                all.push(plan.compile(dir)?);
                report.compiled += 1;
            }
            None => return Ok((None, report)),
        }
    }
    Ok((Some(Prefilters::new(all)?), report))
}

/// A translated pattern as Hyperscan takes it unwidened, if it does: no counted repeat
/// over [`EXACT_REPEAT_LIMIT`] and nothing only prefiltering mode accepts.
fn as_it_is(translated: &str) -> Option<Pattern> {
    let pattern = hyperscan_pattern(translated, Mode::Exact);
    (perl_regex::open_long_repeats(translated, EXACT_REPEAT_LIMIT) == translated && multimatch::check(&pattern).is_ok())
        .then_some(pattern)
}

/// How Hyperscan takes a pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// As it is: a match is the pattern's.
    Exact,
    /// Prefiltering mode: approximations of what Hyperscan lacks, a match only a candidate.
    Prefilter,
}

/// A translated pattern ([`perl_regex::translate`]) for Hyperscan: its leading `(?ims)`
/// group as flags, matched once per scan.
fn hyperscan_pattern(translated: &str, mode: Mode) -> Pattern {
    let mut flags = match mode {
        Mode::Exact => Flags::SINGLEMATCH,
        Mode::Prefilter => Flags::SINGLEMATCH | Flags::PREFILTER,
    };
    let mut expression = translated;
    if let Some(rest) = translated.strip_prefix("(?")
        && let Some(end) = rest.find(')')
        && !rest[..end].is_empty()
        && rest[..end].chars().all(|c| matches!(c, 'i' | 'm' | 's'))
    {
        for c in rest[..end].chars() {
            flags = flags
                | match c {
                    'i' => Flags::CASELESS,
                    'm' => Flags::MULTILINE,
                    _ => Flags::DOTALL,
                };
        }
        expression = &rest[end + 1..];
    }
    Pattern { expression: expression.to_owned(), flags }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_flags_become_hyperscan_flags_and_long_repeats_open() {
        let p = hyperscan_pattern("(?im)^free\\s{1,3}gift", Mode::Prefilter);
        assert_eq!(p.expression, "^free\\s{1,3}gift");
        assert_eq!(p.flags, Flags::SINGLEMATCH | Flags::PREFILTER | Flags::CASELESS | Flags::MULTILINE);
        let p = hyperscan_pattern("(?s)a.b", Mode::Exact);
        assert_eq!(p.flags, Flags::SINGLEMATCH | Flags::DOTALL);
        assert_eq!(
            perl_regex::open_long_repeats("<a[^>]{0,2048}>x{40}y{20,}z{2,5}", 16),
            "<a[^>]{0,}>x{16,}y{16,}z{2,5}"
        );
        assert_eq!(
            perl_regex::loosen_counted_repeats("x{40}y{0,99}"),
            "x{40}y{0,}",
            "the regex precheck keeps exact counts"
        );
    }

    #[test]
    fn a_long_repeat_of_a_long_group_stays_out_and_a_long_pattern_of_classes_goes_in() {
        // As SpamAssassin's form lists: five repeats of a long alternation of words.
        let words: Vec<String> = (0..60).map(|i| format!("field{i:02}")).collect();
        let form_list = format!("(?i)(?:(?:{})\\s?:\\s*){{5}}", words.join("|"));
        // As the FUZZY_* spellings: thousands of characters of classes, no repeated group.
        let spelling = (0..400).map(|_| "[vV\\\\/]").collect::<String>();
        let (plan, left) = Plan::new(&[(1, form_list), (2, spelling)]);
        assert_eq!(plan.rules, vec![2]);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, 1);
        assert!(left[0].1.contains("5.0 times its size"), "{left:?}");
    }

    #[test]
    fn a_long_spelling_with_a_look_ahead_goes_in_as_its_leading_items() {
        // As SpamAssassin's FUZZY_PHENT: a look-ahead, then eleven letters, each any of
        // many spellings (here 41 a letter: over 1,000 long written out).
        let letter = |c: char| {
            let spellings: Vec<String> =
                (0..40).map(|i| format!("[{c}{}]{}", c.to_ascii_uppercase(), i % 10)).collect();
            format!("(?:[{c}{}]|{})", c.to_ascii_uppercase(), spellings.join("|"))
        };
        let spelled: Vec<String> = "phentermine".chars().map(|c| format!("{}{{1,2}}", letter(c))).collect();
        let pattern = format!("(?i)(?!phentermine){}", spelled.join("\\W?"));
        assert!(perl_regex::written_out_size(&pattern).unwrap().1 > MAX_WIDENED_WRITTEN_OUT);
        let (plan, left) = Plan::new(&[(4, pattern)]);
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(plan.rules, vec![4]);
        assert_eq!(plan.exact_count(), 0, "a match of its leading items is only a candidate");
        let p = &plan.patterns[0];
        assert_eq!(p.flags, Flags::SINGLEMATCH | Flags::CASELESS, "taken as it is, not in prefiltering mode");
        assert!(!p.expression.contains("(?!"), "{}", &p.expression[..80]);
        assert!(p.expression.starts_with("(?:[pP]|"));
        let dir = tempfile::tempdir().unwrap();
        let (prefilters, _) = prepare(std::slice::from_ref(&plan), dir.path(), true).unwrap();
        let prefilters = prefilters.unwrap();
        let mut scratch = prefilters.take_scratch().unwrap();
        for (text, may_match) in [("cheap P-H-E-N-T-E-R-M-I-N-E", true), ("phenomenal", false), ("hello", false)] {
            let scanned = prefilters.scan(0, &plan, text.as_bytes(), &mut scratch).unwrap();
            assert_eq!(scanned.must_run(4), may_match, "{text}");
        }
    }

    #[test]
    fn a_plan_is_cached_by_its_key_and_a_bad_file_is_a_clear_error() {
        let entries = vec![(7, "(?i)verify\\s+your\\s+account".to_owned()), (9, "(?i)x*".to_owned())];
        let (plan, left) = Plan::new(&entries);
        assert_eq!(plan.rules, vec![7]);
        assert_eq!(left.len(), 1, "{left:?}");
        let dir = tempfile::tempdir().unwrap();
        let (none, report) = prepare(std::slice::from_ref(&plan), dir.path(), false).unwrap();
        assert!(none.is_none() && report.loaded == 0, "nothing cached yet: {report:?}");
        let (some, report) = prepare(std::slice::from_ref(&plan), dir.path(), true).unwrap();
        assert_eq!((report.compiled, report.loaded), (1, 0));
        let prefilters = some.unwrap();
        let (again, report) = prepare(std::slice::from_ref(&plan), dir.path(), false).unwrap();
        assert_eq!((report.compiled, report.loaded), (0, 1), "the second start reads the cache");
        let mut scratch = again.as_ref().unwrap().take_scratch().unwrap();
        let scanned = again.as_ref().unwrap().scan(0, &plan, b"Please VERIFY your  account", &mut scratch).unwrap();
        assert!(scanned.must_run(7));
        assert!(scanned.must_run(9), "a rule the database does not answer for always runs");
        let scanned = prefilters.scan(0, &plan, b"hello", &mut scratch).unwrap();
        assert!(!scanned.must_run(7));
        let (empty, _) = Plan::new(&[(3, "(?i)a*".to_owned())]);
        let (prefilters, report) = prepare(std::slice::from_ref(&empty), dir.path(), false).unwrap();
        assert_eq!(report.patterns, 0);
        assert!(prefilters.unwrap().take_scratch().is_none(), "no database, no scratch, no error");
        std::fs::write(plan.cache_file(dir.path()), b"garbage").unwrap();
        let e = prepare(std::slice::from_ref(&plan), dir.path(), false).unwrap_err();
        assert!(e.to_string().contains("scorer rules compile"), "{e}");
    }
}
