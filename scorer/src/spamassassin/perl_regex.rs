//! Perl regular expressions, as SpamAssassin's rules write them, for Rust's engines:
//! `regex` (bytes, linear time) where the pattern allows, `fancy-regex` where it needs
//! look-around, back-references or atomic groups. What neither can take is an error that
//! `scorer rules check` lists.

use thiserror::Error;

/// Why a rule's pattern cannot run.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PatternError {
    /// The `/.../flags` or `m{...}flags` around the pattern is missing or malformed.
    #[error("not a /pattern/: {0}")]
    Delimiters(String),
    /// A Perl construct neither engine has (`\G`, `\K`, code blocks, ...).
    #[error("unsupported Perl construct {0}")]
    Unsupported(String),
    /// Both engines refused the translated pattern.
    #[error("does not compile: {0}")]
    Compile(String),
}

/// A pattern split from its delimiters.
#[derive(Debug, Clone, PartialEq)]
pub struct PerlPattern {
    pub source: String,
    pub flags: String,
}

/// Splits `/re/flags` or `m{re}flags` (any delimiter after `m`); returns the pattern and
/// what follows the flags (a header rule's `[if-unset: ...]`).
pub fn split_delimited(text: &str) -> Result<(PerlPattern, String), PatternError> {
    let text = text.trim();
    let (open, body) = if let Some(rest) = text.strip_prefix('/') {
        ('/', rest)
    } else if let Some(rest) = text.strip_prefix('m') {
        let c = rest.chars().next().ok_or_else(|| PatternError::Delimiters(text.to_owned()))?;
        if c.is_alphanumeric() || c.is_whitespace() {
            return Err(PatternError::Delimiters(text.to_owned()));
        }
        (c, &rest[c.len_utf8()..])
    } else {
        return Err(PatternError::Delimiters(text.to_owned()));
    };
    let close = match open {
        '{' => '}',
        '(' => ')',
        '[' => ']',
        '<' => '>',
        c => c,
    };
    // The closing delimiter is the last unescaped one followed only by flags and, for
    // header rules, an `[if-unset: ...]`.
    let bytes: Vec<(usize, char)> = body.char_indices().collect();
    let mut candidates = Vec::new();
    let mut escaped = false;
    for &(i, c) in &bytes {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == close {
            candidates.push(i);
        }
    }
    for &end in candidates.iter().rev() {
        let after = &body[end + close.len_utf8()..];
        let flags: String = after.chars().take_while(|c| c.is_ascii_lowercase()).collect();
        let rest = after[flags.len()..].trim();
        if rest.is_empty() || rest.starts_with('[') {
            return Ok((PerlPattern { source: body[..end].to_owned(), flags }, rest.to_owned()));
        }
    }
    Err(PatternError::Delimiters(text.to_owned()))
}

/// The translation of a Perl pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// For `regex::bytes` (Unicode off: `\xNN` is a byte, as in Perl on bytes).
    pub pattern: String,
    /// Needs fancy-regex: look-around, back-references, atomic groups, possessive
    /// quantifiers.
    pub fancy: bool,
    /// Has a back-reference (`\1`): fancy-regex's seek approximates those poorly.
    pub backreference: bool,
}

/// Translates the pattern body and flags. `multiline` adds `(?m)` (SpamAssassin matches
/// body rules line by line; the engine matches once over the lines joined by newlines, so
/// `^` and `$` must mean line starts and ends).
pub fn translate(p: &PerlPattern, multiline: bool) -> Result<Translated, PatternError> {
    let mut flags = String::new();
    for f in p.flags.chars() {
        match f {
            'i' | 's' | 'm' | 'x' if !flags.contains(f) => flags.push(f),
            // Repeats; g, o: no meaning for a test; others are rare and harmless to drop.
            _ => {}
        }
    }
    if multiline && !flags.contains('m') {
        flags.push('m');
    }
    let mut out = String::with_capacity(p.source.len() + 16);
    if !flags.is_empty() {
        out.push_str(&format!("(?{flags})"));
    }
    let mut fancy = false;
    let mut backreference = false;
    let chars: Vec<char> = p.source.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    // Position in the class (to know whether `]` is literal, and where ranges are).
    let mut class_len = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&n) = chars.get(i + 1) else {
                out.push_str("\\\\");
                i += 1;
                continue;
            };
            i += 2;
            match n {
                'd' | 'D' | 'w' | 'W' | 's' | 'S' | 'n' | 'r' | 't' | 'f' => {
                    out.push('\\');
                    out.push(n);
                }
                'b' | 'B' | 'A' | 'z' if !in_class => {
                    out.push('\\');
                    out.push(n);
                }
                'b' => out.push_str("\\x08"),
                'Z' => out.push_str(if in_class { "Z" } else { "(?:\\n?\\z)" }),
                'x' => {
                    out.push_str("\\x");
                    // \x{...} or up to two hex digits (Perl allows one).
                    if chars.get(i) == Some(&'{') {
                        let end = chars[i..].iter().position(|&c| c == '}').map(|p| p + i);
                        let Some(end) = end else { return Err(PatternError::Unsupported("\\x{".into())) };
                        let hex: String = chars[i + 1..end].iter().collect();
                        out.push_str(&format!("{{{}}}", hex.trim()));
                        i = end + 1;
                    } else {
                        let hex: String = chars[i..].iter().take(2).take_while(|c| c.is_ascii_hexdigit()).collect();
                        i += hex.len();
                        out.push_str(&format!("{:0>2}", if hex.is_empty() { "0" } else { &hex }));
                    }
                }
                'e' => out.push_str("\\x1b"),
                'a' => out.push_str("\\x07"),
                'h' => out.push_str(if in_class { "\\t " } else { "[\\t ]" }),
                'H' if !in_class => out.push_str("[^\\t ]"),
                'v' => out.push_str(if in_class { "\\n\\x0b\\x0c\\r" } else { "[\\n\\x0b\\x0c\\r]" }),
                'V' if !in_class => out.push_str("[^\\n\\x0b\\x0c\\r]"),
                'R' if !in_class => out.push_str("(?:\\r\\n|\\n|\\r)"),
                'N' if !in_class => out.push_str("[^\\n]"),
                '0'..='7' if n == '0' || in_class => {
                    // Octal: \0, \012.
                    let mut digits = String::from(n);
                    while digits.len() < 3 && chars.get(i).is_some_and(|c| ('0'..='7').contains(c)) {
                        digits.push(chars[i]);
                        i += 1;
                    }
                    let value = u32::from_str_radix(&digits, 8).unwrap_or(0);
                    out.push_str(&format!("\\x{value:02x}"));
                }
                '1'..='9' => {
                    fancy = true;
                    backreference = true;
                    out.push('\\');
                    out.push(n);
                }
                'Q' => {
                    let mut literal = String::new();
                    while i < chars.len() && !(chars[i] == '\\' && chars.get(i + 1) == Some(&'E')) {
                        literal.push(chars[i]);
                        i += 1;
                    }
                    i += 2;
                    out.push_str(&regex_syntax::escape(&literal));
                }
                'E' => {}
                'G' | 'K' | 'c' | 'C' | 'X' | 'g' | 'k' | 'p' | 'P' | 'l' | 'u' | 'L' | 'U' => {
                    return Err(PatternError::Unsupported(format!("\\{n}")));
                }
                c if c.is_ascii_alphanumeric() => out.push(c),
                c => push_literal(&mut out, c, in_class),
            }
            if in_class {
                class_len += 1;
            }
            continue;
        }
        if in_class {
            match c {
                ']' if class_len > 0 => {
                    in_class = false;
                    out.push(']');
                }
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class [:alpha:] stays as it is.
                    let end = (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']');
                    match end {
                        Some(end) => {
                            out.extend(&chars[i..end + 2]);
                            i = end + 1;
                        }
                        None => out.push_str("\\["),
                    }
                }
                '-' if chars.get(i + 1) == Some(&'-') || chars.get(i + 1) == Some(&']') || class_len == 0 => {
                    out.push_str("\\-")
                }
                '-' if out.ends_with('-') => out.push_str("\\-"),
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                ']' => out.push_str("\\]"),
                '^' if class_len == 0 && out.ends_with('[') => {
                    out.push('^');
                    i += 1;
                    continue;
                }
                c => out.push(c),
            }
            class_len += 1;
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                class_len = 0;
                out.push('[');
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(3).collect();
                if rest.starts_with('=') || rest.starts_with('!') || rest.starts_with("<=") || rest.starts_with("<!") {
                    fancy = true;
                    out.push_str("(?");
                    i += 2;
                    continue;
                }
                if rest.starts_with('>') {
                    fancy = true;
                    out.push_str("(?>");
                    i += 3;
                    continue;
                }
                if rest.starts_with('#') {
                    // A comment group.
                    let end = chars[i..].iter().position(|&c| c == ')').map(|p| p + i).unwrap_or(chars.len() - 1);
                    i = end + 1;
                    continue;
                }
                if rest.starts_with('{') || rest.starts_with("?{") || rest.starts_with('^') || rest.starts_with('|') {
                    return Err(PatternError::Unsupported(format!("(?{rest}")));
                }
                out.push_str("(?");
                i += 2;
                continue;
            }
            '*' | '+' | '?' | '}' if chars.get(i + 1) == Some(&'+') => {
                // Possessive quantifier.
                fancy = true;
                out.push(c);
                out.push('+');
                i += 2;
                continue;
            }
            '{' => {
                // A quantifier only when it is one: {n}, {n,}, {n,m}; else a literal brace.
                let end = chars[i + 1..].iter().position(|&c| c == '}').map(|p| p + i + 1);
                let is_quantifier = end.is_some_and(|end| {
                    let inner: String = chars[i + 1..end].iter().collect();
                    let mut parts = inner.splitn(2, ',');
                    let first = parts.next().unwrap_or("");
                    !first.is_empty()
                        && first.chars().all(|c| c.is_ascii_digit())
                        && parts.next().is_none_or(|s| s.chars().all(|c| c.is_ascii_digit()))
                });
                if is_quantifier && !out.is_empty() {
                    out.push('{');
                } else {
                    out.push_str("\\{");
                }
            }
            '}' => {
                // Closing a quantifier we opened, else a literal.
                let open = out.rfind('{');
                let closing = open.is_some_and(|o| {
                    (o == 0 || !out[..o].ends_with('\\'))
                        && out[o + 1..].chars().all(|c| c.is_ascii_digit() || c == ',')
                });
                if closing {
                    out.push('}');
                } else {
                    out.push_str("\\}");
                }
            }
            '$' => {
                // Perl interpolates `$name`; rules do not use that, so it is the anchor.
                out.push('$');
            }
            c if !c.is_ascii() => {
                // A literal non-ASCII character: its UTF-8 bytes.
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            '<' | '>' => out.push(c),
            c => out.push(c),
        }
        i += 1;
    }
    if in_class {
        return Err(PatternError::Compile("unterminated character class".into()));
    }
    Ok(Translated { pattern: out, fancy, backreference })
}

/// A superset of a translated pattern in plain `regex` syntax: look-arounds become
/// optional groups, back-references any text, atomic groups and possessive quantifiers
/// ordinary ones. Whatever the original matches, this matches too, so a text this does
/// not match cannot match the original (the multi-pattern prefilter runs these), and the
/// literals its matches need the original's need too. `keep_case`: false also drops
/// case-insensitivity (for literal extraction, compared without ASCII case anyway).
pub fn relax(pattern: &str, keep_case: bool) -> String {
    #[derive(PartialEq)]
    enum Group {
        Plain,
        Lookaround,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut stack: Vec<Group> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let n = chars.get(i + 1).copied().unwrap_or('\\');
                if n.is_ascii_digit() && n != '0' {
                    out.push_str("(?s:.*?)");
                    i += 2;
                    continue;
                }
                out.push(c);
                out.push(n);
                i += 2;
            }
            '[' => {
                // Copy the class through its closing bracket.
                let start = i;
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    i += 1;
                }
                while i < chars.len() && chars[i] != ']' {
                    if chars[i] == '\\' {
                        i += 1;
                    } else if chars[i] == '[' && chars.get(i + 1) == Some(&':') {
                        while i + 1 < chars.len() && !(chars[i] == ':' && chars[i + 1] == ']') {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.extend(&chars[start..i.min(chars.len())]);
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(3).collect();
                if rest.starts_with('=') || rest.starts_with('!') {
                    stack.push(Group::Lookaround);
                    out.push_str("(?:");
                    i += 3;
                } else if rest.starts_with("<=") || rest.starts_with("<!") {
                    stack.push(Group::Lookaround);
                    out.push_str("(?:");
                    i += 4;
                } else if rest.starts_with('>') {
                    stack.push(Group::Plain);
                    out.push_str("(?:");
                    i += 3;
                } else if rest.starts_with('<') || rest.starts_with('P') || rest.starts_with(':') {
                    stack.push(Group::Plain);
                    out.push_str("(?");
                    i += 2;
                } else {
                    // Inline flags: (?ims) or (?ims:...), without i.
                    let end = chars[i + 2..].iter().position(|c| *c == ')' || *c == ':').map(|p| p + i + 2);
                    let Some(end) = end else {
                        out.push('(');
                        i += 1;
                        continue;
                    };
                    let flags: String = chars[i + 2..end].iter().filter(|c| keep_case || **c != 'i').collect();
                    let group = chars[end] == ':';
                    if group {
                        stack.push(Group::Plain);
                    }
                    match (flags.trim_start_matches('-').is_empty(), group) {
                        (true, true) => out.push_str("(?:"),
                        (true, false) => {}
                        (false, true) => out.push_str(&format!("(?{flags}:")),
                        (false, false) => out.push_str(&format!("(?{flags})")),
                    }
                    i = end + 1;
                }
            }
            '(' => {
                stack.push(Group::Plain);
                out.push('(');
                i += 1;
            }
            ')' => {
                out.push_str(if stack.pop() == Some(Group::Lookaround) { ")?" } else { ")" });
                i += 1;
            }
            '+' if i > 0 && matches!(chars[i - 1], '*' | '+' | '?' | '}') && !out.ends_with("\\") => {
                // A possessive quantifier's mark.
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn push_literal(out: &mut String, c: char, in_class: bool) {
    if in_class {
        match c {
            '[' | ']' | '\\' | '-' | '^' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if !c.is_ascii() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    } else if c == ' ' {
        // `\ ` is a space even under /x.
        out.push_str("\\x20");
    } else if c.is_ascii() {
        out.push_str(&regex_syntax::escape(&c.to_string()));
    } else {
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
}

/// A compiled pattern: linear-time bytes regex, or fancy-regex (backtracking, bounded).
#[derive(Debug, Clone)]
pub enum Compiled {
    Bytes(regex::bytes::Regex),
    Fancy(Box<FancyPattern>),
}

/// A pattern only fancy-regex can match, with linear-time regexes that say where it cannot.
#[derive(Debug, Clone)]
pub struct FancyPattern {
    re: fancy_regex::Regex,
    /// The relaxed form ([`relax`]): a text it does not match is no match, and the
    /// backtracking engine never runs on it.
    precheck: Option<ScanRegex>,
    /// For back-references: the pattern's leading part ([`leading_part`]), else its relaxed
    /// form. The pattern is tried, anchored, only where a match of that starts (every
    /// match of the pattern starts with one), each try with its own
    /// backtracking budget, as Perl tries every start without a budget. Without it
    /// fancy-regex would start its machine at every byte, and those starts would spend the
    /// one budget of a search: on long texts it gave up before reaching the match.
    starts: Option<ScanRegex>,
}

/// A linear-time regex for prechecks and starts, without `regex`'s reverse-inner-literal
/// strategy: on texts with many of the inner literal (`font` in HTML) that strategy
/// notices it has turned quadratic and answers with the PikeVM over the whole text, a
/// hundred times slower than the lazy DFA (10% of the rules' instructions under
/// callgrind). A prefix literal still gets its prefilter.
#[derive(Debug, Clone)]
struct ScanRegex(regex_automata::meta::Regex);

impl ScanRegex {
    fn new(pattern: &str) -> Option<ScanRegex> {
        use regex_automata::{MatchKind, meta, util::prefilter::Prefilter, util::syntax};
        let syntax = syntax::Config::new().unicode(false).utf8(false);
        let hir = syntax::parse_with(pattern, &syntax).ok()?;
        let config = meta::Config::new()
            .match_kind(MatchKind::LeftmostFirst)
            .utf8_empty(false)
            .auto_prefilter(false)
            .prefilter(Prefilter::from_hir_prefix(MatchKind::LeftmostFirst, &hir))
            .which_captures(regex_automata::nfa::thompson::WhichCaptures::Implicit)
            .nfa_size_limit(Some(4 << 20))
            .hybrid_cache_capacity(2 << 20);
        meta::Builder::new().configure(config).build_from_hir(&hir).ok().map(ScanRegex)
    }

    fn is_match(&self, text: &[u8]) -> bool {
        self.0.is_match(text)
    }

    /// Where the first match at or after `at` starts.
    fn start_at(&self, text: &[u8], at: usize) -> Option<usize> {
        self.0.search(&regex_automata::Input::new(text).range(at..)).map(|m| m.start())
    }
}

/// How much a fancy-regex may backtrack on one text before it gives up (a non-match):
/// SpamAssassin's look-around rules over long bodies would otherwise cost milliseconds.
/// Back-reference patterns with [`FancyPattern::starts`] have [`START_BACKTRACK_LIMIT`].
const BACKTRACK_LIMIT: usize = 20_000;

/// How many starts a back-reference pattern is tried at in one text before it gives up:
/// a bound on the cost of a message crafted with thousands of them.
const MAX_STARTS_TRIED: usize = 256;

/// A back-reference pattern's budget on one start, and how many starts may spend all of
/// theirs before it gives up on the text: together the budget a whole-text search has.
const START_BACKTRACK_LIMIT: usize = 5_000;
const MAX_STARTS_GIVEN_UP: usize = 4;

/// The lazy DFA's cache for a pattern: [`LONG_PATTERN_DFA_CACHE`] for one longer than
/// [`LONG_PATTERN`], 2 MiB for the others. The cache fills as states are made, so the
/// limit costs memory only where a pattern needs the states.
fn dfa_cache_limit(pattern: &str) -> usize {
    if pattern.len() > LONG_PATTERN { LONG_PATTERN_DFA_CACHE } else { 2 << 20 }
}

/// Patterns longer than this many bytes get [`LONG_PATTERN_DFA_CACHE`].
const LONG_PATTERN: usize = 500;

/// SpamAssassin's form lists (`__FILL_THIS_FORM_LONG2`: five repeats of an alternation of
/// about 3,000 characters) thrash a 2 MiB cache, and the DFA starts over again and again:
/// `scorer rules profile` on the corpus, the two binaries alternated, 234 us a message in
/// `__FILL_THIS_FORM_LONG2` with 2 MiB against 93-121 with this.
const LONG_PATTERN_DFA_CACHE: usize = 16 << 20;

fn bytes_regex(pattern: &str) -> Option<regex::bytes::Regex> {
    regex::bytes::RegexBuilder::new(&format!("(?-u){pattern}"))
        .size_limit(4 << 20)
        .dfa_size_limit(dfa_cache_limit(pattern))
        .build()
        .ok()
}

impl Compiled {
    pub fn new(t: &Translated) -> Result<Compiled, PatternError> {
        // Some Perl patterns are valid only with Unicode on (a class of non-ASCII
        // characters): those fall through to fancy-regex.
        if !t.fancy
            && let Some(re) = bytes_regex(&t.pattern)
        {
            return Ok(Compiled::Bytes(re));
        }
        let relaxed = relax(&t.pattern, true);
        // Too big for `regex` (counted repeats of counted repeats): with open repeats.
        let mut precheck = ScanRegex::new(&loosen_counted_repeats(&relaxed));
        let starts = if t.backreference {
            // The relaxed form's matches start where the pattern's can, too.
            leading_part(&t.pattern)
                .and_then(|lead| ScanRegex::new(&loosen_counted_repeats(&lead)))
                .or_else(|| precheck.take())
        } else {
            None
        };
        fancy_regex::RegexBuilder::new(&t.pattern)
            .backtrack_limit(if starts.is_some() { START_BACKTRACK_LIMIT } else { BACKTRACK_LIMIT })
            // Seek: jump to the positions where a match can start (fancy-regex's own
            // over-approximation, run by regex-automata) instead of trying every byte.
            // Not for back-references: their approximation matches nearly everywhere and
            // costs more than it skips (measured with `scorer rules profile`); the leading
            // part does that job for them.
            .seek(!t.backreference)
            .build()
            .map(|re| Compiled::Fancy(Box::new(FancyPattern { re, precheck, starts })))
            .map_err(|e| PatternError::Compile(e.to_string().lines().next().unwrap_or("").to_owned()))
    }

    /// The first match in `text`: its byte range.
    pub fn find(&self, text: &[u8]) -> Option<(usize, usize)> {
        match self {
            Compiled::Bytes(re) => re.find(text).map(|m| (m.start(), m.end())),
            Compiled::Fancy(f) if f.precheck.as_ref().is_some_and(|p| !p.is_match(text)) => None,
            Compiled::Fancy(f) => f.find_from(text, 0),
        }
    }

    /// How many non-overlapping matches, at most `max`.
    pub fn count(&self, text: &[u8], max: usize) -> usize {
        match self {
            Compiled::Bytes(re) => re.find_iter(text).take(max).count(),
            Compiled::Fancy(f) if f.precheck.as_ref().is_some_and(|p| !p.is_match(text)) => 0,
            Compiled::Fancy(f) => {
                let mut n = 0;
                let mut from = 0;
                while n < max {
                    let Some((start, end)) = f.find_from(text, from) else { break };
                    n += 1;
                    from = if end > start { end } else { end + 1 };
                    if from > text.len() {
                        break;
                    }
                }
                n
            }
        }
    }

    pub fn is_fancy(&self) -> bool {
        matches!(self, Compiled::Fancy(..))
    }
}

impl FancyPattern {
    /// The first match starting at or after `from`; a backtracking limit reached is no
    /// match.
    fn find_from(&self, text: &[u8], from: usize) -> Option<(usize, usize)> {
        let Some(starts) = &self.starts else {
            return self.re.find_from_pos(text, from).ok().flatten().map(|m| (m.start(), m.end()));
        };
        let mut at = from;
        let mut given_up = 0;
        for _ in 0..MAX_STARTS_TRIED {
            let start = starts.start_at(text, at)?;
            let input = fancy_regex::RegexInput::new(text).from_pos(start).anchored(true);
            match self.re.find_input(input) {
                Ok(Some(m)) => return Some((m.start(), m.end())),
                Ok(None) => {}
                Err(_) => {
                    given_up += 1;
                    if given_up == MAX_STARTS_GIVEN_UP {
                        return None;
                    }
                }
            }
            at = start + 1;
            if at > text.len() {
                return None;
            }
        }
        None
    }
}

/// Counted repeats over 16 made open (`[^<]{0,1024}` to `[^<]{0,}`): a superset that
/// `regex` can compile where repeats of repeats would unroll past its size limit.
pub fn loosen_counted_repeats(pattern: &str) -> String {
    open_repeats_over(pattern, 16, false)
}

/// Every counted repeat that may count past `limit` made open from at most `limit`
/// (`{0,1024}` to `{0,}`, `{40}` to `{16,}` with a limit of 16): a superset that Hyperscan
/// compiles in seconds where the counts would unroll into minutes.
pub fn open_long_repeats(pattern: &str, limit: usize) -> String {
    open_repeats_over(pattern, limit, true)
}

/// `{lo,hi}` with `hi` over `limit` becomes `{lo,}`; with `exact_too`, `{n}` and `{n,}` with
/// `n` over `limit` become `{limit,}`, and `lo` over `limit` is lowered to it.
fn open_repeats_over(pattern: &str, limit: usize, exact_too: bool) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.char_indices().peekable();
    let mut in_class = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` or `^]` right after the bracket is a member.
                if let Some(&(_, '^')) = chars.peek() {
                    out.push('^');
                    chars.next();
                }
                if let Some(&(_, ']')) = chars.peek() {
                    out.push(']');
                    chars.next();
                }
            }
            '[' if pattern[i..].starts_with("[:") => {
                let end = pattern[i..].find(":]").map_or(pattern.len(), |e| i + e + 2);
                out.push_str(&pattern[i..end]);
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '{' if !in_class => {
                let end = pattern[i..].find('}').map(|e| i + e);
                // (lo, hi: None for open, end)
                let bounds = end.and_then(|end| {
                    let inner = &pattern[i + 1..end];
                    match inner.split_once(',') {
                        Some((lo, "")) if exact_too => Some((lo.parse::<usize>().ok()?, None, end)),
                        Some((lo, hi)) => Some((lo.parse::<usize>().ok()?, Some(hi.parse::<usize>().ok()?), end)),
                        None if exact_too => {
                            let n = inner.parse::<usize>().ok()?;
                            Some((n, Some(n), end))
                        }
                        None => None,
                    }
                });
                match bounds {
                    Some((lo, hi, end)) if hi.unwrap_or(lo) > limit => {
                        let lo = if exact_too { lo.min(limit) } else { lo };
                        out.push_str(&format!("{{{lo},}}"));
                        while chars.peek().is_some_and(|&(j, _)| j <= end) {
                            chars.next();
                        }
                    }
                    _ => out.push(c),
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A pattern's size (in characters, classes and `.`s) as written, and with its counted
/// repeats of groups written out (`(?:a|b){5}` as five copies of the group; a repeated
/// character, class or `.` counts once either way). Hyperscan compiles a counted repeat of
/// a group as that many copies: SpamAssassin's form lists (five repeats of a
/// 500-character alternation of form fields, 4.5 to 15 times larger written out) take it
/// seconds each to compile, and it refuses most of them as too large after the work. None
/// when fancy-regex cannot parse the pattern.
pub fn written_out_size(pattern: &str) -> Option<(f64, f64)> {
    use fancy_regex::Expr;
    /// At most this many copies of a repeated group are counted; an open repeat counts as
    /// its minimum and one more.
    const MAX_COPIES: usize = 1000;
    fn size(e: &Expr, written_out: bool) -> f64 {
        match e {
            Expr::Literal { val, .. } => val.chars().count() as f64,
            Expr::Concat(children) | Expr::Alt(children) => children.iter().map(|c| size(c, written_out)).sum(),
            Expr::Group(child) => size(child, written_out),
            Expr::LookAround(child, _) | Expr::AtomicGroup(child) => size(child, written_out),
            Expr::Repeat { child, lo, hi, .. } => {
                let once = size(child, written_out);
                let single = matches!(**child, Expr::Literal { .. } | Expr::Any { .. } | Expr::Delegate { .. });
                if !written_out || single {
                    once
                } else {
                    let copies = if *hi == usize::MAX { lo.saturating_add(1) } else { (*hi).max(1) };
                    once * copies.min(MAX_COPIES) as f64
                }
            }
            _ => 1.0,
        }
    }
    let tree = Expr::parse_tree(pattern).ok()?;
    let once = size(&tree.expr, false);
    (once > 0.0).then(|| (once, size(&tree.expr, true)))
}

/// The leading part of a pattern in plain `regex` syntax: its top-level items before the
/// first that only fancy-regex can match (a back-reference, a look-around, an atomic
/// group) or that repeats a group without bound (which would make the part's matches run
/// on, and its search cost, to the end of the text). Every match of the pattern starts
/// with a match of this part. None when there is no such part (a top-level alternation, a
/// pattern that starts with a look-behind) or the pattern uses `/x`.
pub fn leading_part(pattern: &str) -> Option<String> {
    use fancy_regex::{Assertion, Expr};
    fn plain(e: &Expr) -> bool {
        match e {
            Expr::Empty | Expr::Any { .. } | Expr::Literal { .. } | Expr::Delegate { .. } => true,
            Expr::Assertion(a) => matches!(
                a,
                Assertion::StartText
                    | Assertion::EndText
                    | Assertion::StartLine { crlf: false }
                    | Assertion::EndLine { crlf: false }
                    | Assertion::WordBoundary
                    | Assertion::NotWordBoundary
            ),
            Expr::Concat(children) | Expr::Alt(children) => children.iter().all(plain),
            Expr::Group(child) => plain(child),
            Expr::Repeat { child, .. } => plain(child),
            _ => false,
        }
    }
    fn unbounded_group_repeat(e: &Expr) -> bool {
        matches!(e, Expr::Repeat { child, hi: usize::MAX, .. }
            if matches!(**child, Expr::Concat(_) | Expr::Alt(_) | Expr::Group(_)))
    }
    if pattern.starts_with("(?") && pattern[2..].split(')').next().is_some_and(|flags| flags.contains('x')) {
        return None;
    }
    let tree = Expr::parse_tree(pattern).ok()?;
    let items: Vec<&Expr> = match &tree.expr {
        Expr::Concat(children) => children.iter().collect(),
        other => vec![other],
    };
    let mut lead = String::new();
    for item in items {
        if !plain(item) || unbounded_group_repeat(item) {
            break;
        }
        item.to_str(&mut lead, 2);
    }
    // fancy-regex writes a byte escape (`\xc0`) back as the character (`À`), which read
    // without Unicode is that character's UTF-8 bytes: another pattern. No such part.
    if !lead.is_ascii() {
        return None;
    }
    // A part that can match nothing would start everywhere.
    let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(&lead).ok()?;
    (hir.properties().minimum_len() >= Some(1)).then_some(lead)
}

/// The top-level items of a translated pattern, as written (each atom with its
/// quantifier: a character or escape, a class, a group): None when the pattern is an
/// alternation at its top level or does not parse as a whole.
fn top_level_items(pattern: &str) -> Option<Vec<&str>> {
    let bytes = pattern.as_bytes();
    // The end of the escape at `i` (a backslash): `\xHH`, `\x{...}`, `\p{..}`, or one character.
    let escape_end = |i: usize| -> usize {
        match bytes.get(i + 1) {
            Some(b'x' | b'p' | b'P') if bytes.get(i + 2) == Some(&b'{') => {
                pattern[i..].find('}').map_or(bytes.len(), |e| i + e + 1)
            }
            Some(b'x') => (i + 4).min(bytes.len()),
            Some(_) => i + 1 + pattern[i + 1..].chars().next().map_or(1, char::len_utf8),
            None => bytes.len(),
        }
    };
    // The end of the class opening at `i`: a `]` or `^]` right after the bracket is a
    // member, `[:alpha:]` is one, escapes are skipped.
    let class_end = |mut i: usize| -> Option<usize> {
        i += 1;
        if bytes.get(i) == Some(&b'^') {
            i += 1;
        }
        if bytes.get(i) == Some(&b']') {
            i += 1;
        }
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i = escape_end(i),
                b'[' if bytes.get(i + 1) == Some(&b':') => i = pattern[i..].find(":]").map(|e| i + e + 2)?,
                b']' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    };
    let mut items = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        i = match bytes[i] {
            b'\\' => escape_end(i),
            b'[' => class_end(i)?,
            b'(' => {
                let mut depth = 0usize;
                let mut j = i;
                loop {
                    match *bytes.get(j)? {
                        b'\\' => j = escape_end(j),
                        b'[' => j = class_end(j)?,
                        b'(' => {
                            depth += 1;
                            j += 1;
                        }
                        b')' => {
                            depth -= 1;
                            j += 1;
                            if depth == 0 {
                                break j;
                            }
                        }
                        _ => j += 1,
                    }
                }
            }
            b'|' | b')' => return None,
            _ => i + pattern[i..].chars().next().map_or(1, char::len_utf8),
        };
        // Its quantifier, lazy or possessive.
        loop {
            match bytes.get(i) {
                Some(b'?' | b'*' | b'+') => i += 1,
                Some(b'{')
                    if pattern[i + 1..].split_once('}').is_some_and(|(inner, _)| {
                        !inner.is_empty() && inner.chars().all(|c| c.is_ascii_digit() || c == ',')
                    }) =>
                {
                    i += pattern[i..].find('}').map_or(1, |e| e + 1);
                }
                _ => break,
            }
        }
        items.push(&pattern[start..i.min(bytes.len())]);
    }
    Some(items)
}

/// The longest run of a translated pattern's first top-level items, its look-arounds left
/// out, that is at most `max_written_out` long written out ([`written_out_size`]): every
/// match of the pattern holds a match of it, so it can stand in for a pattern too large
/// for Hyperscan. A leading flag group (`(?i)`) stays. None when there is no such run (a
/// top-level alternation, a first item over the size) or it is the whole pattern.
pub fn leading_items(pattern: &str, max_written_out: f64) -> Option<String> {
    let is_lookaround = |item: &str| ["(?=", "(?!", "(?<=", "(?<!"].iter().any(|open| item.starts_with(open));
    let is_flags = |item: &str| {
        item.strip_prefix("(?")
            .and_then(|rest| rest.strip_suffix(')'))
            .is_some_and(|flags| !flags.is_empty() && flags.chars().all(|c| c.is_ascii_alphabetic() || c == '-'))
    };
    let items = top_level_items(pattern)?;
    let mut kept = items.iter().copied().filter(|item| !is_lookaround(item)).peekable();
    let flags = kept.next_if(|item| is_flags(item)).unwrap_or("");
    let mut lead = String::new();
    let mut taken = 0;
    for item in kept {
        let longer = format!("{lead}{item}");
        if written_out_size(&longer).is_none_or(|(_, out)| out > max_written_out) {
            break;
        }
        lead = longer;
        taken += 1;
    }
    (taken > 0 && taken + usize::from(!flags.is_empty()) < items.len()).then(|| format!("{flags}{lead}"))
}

/// Compiles a `/re/flags` text.
pub fn compile(text: &str, multiline: bool) -> Result<(Compiled, String), PatternError> {
    let (pattern, rest) = split_delimited(text)?;
    let translated = translate(&pattern, multiline)?;
    Ok((Compiled::new(&translated)?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(re: &str, text: &str) -> bool {
        compile(re, false).unwrap().0.find(text.as_bytes()).is_some()
    }

    #[test]
    fn relaxed_patterns_are_supersets_in_plain_syntax() {
        assert_eq!(relax("(?i)foo(?!bar)baz", false), "foo(?:bar)?baz");
        assert_eq!(relax("(?i)foo(?!bar)baz", true), "(?i)foo(?:bar)?baz");
        assert_eq!(relax("(?im)(?<=x)y(a)\\1", false), "(?m)(?:x)?y(a)(?s:.*?)");
        assert_eq!(relax("(?>ab)c*+[)(]", false), "(?:ab)c*[)(]");
        assert_eq!(relax("(?i:free)\\(x\\)", false), "(?:free)\\(x\\)");
        assert!(regex::Regex::new(&relax("(?i)a(?=b)", true)).is_ok());
    }

    #[test]
    fn leading_parts_stop_before_what_only_fancy_regex_matches() {
        let lead = |p: &str| leading_part(&translate(&split_delimited(p).unwrap().0, false).unwrap().pattern);
        assert_eq!(lead(r"/^From:\s+(\S+)\s(?=.{1,9}^\1$)/sm").as_deref(), Some("(?m:^)From:\\s+(\\S+)\\s"));
        assert_eq!(lead(r"/\nFrom: (\w+)\n+(?:[^\n]+\n+)*To: \1/").as_deref(), Some("\\nFrom: (\\w+)\\n+"));
        assert_eq!(lead(r"/(?<!x)(a)\1/"), None, "a look-behind first");
        assert_eq!(lead(r"/\s*(a*)\1/"), None, "a part that can match nothing");
        assert_eq!(lead(r"/a(b)\1|c/"), None, "a top-level alternation");
        assert_eq!(lead(r"/\xc0\s(a)\1/"), None, "a byte escape, which fancy-regex writes back as a character");
    }

    #[test]
    fn leading_items_stand_in_for_a_pattern_too_long_written_out() {
        // As SpamAssassin's FUZZY_* spellings: a look-ahead, then each letter's spellings.
        let letter = |c: char| format!("(?:[{c}{}]|[\\xc3][\\x80-\\x85]|&\\#(?:1|2)\\d;)", c.to_ascii_uppercase());
        let spelled: Vec<String> = "pharmacy".chars().map(|c| format!("{}{{1,2}}", letter(c))).collect();
        let pattern = format!("(?i)(?!pharmacy){}", spelled.join("\\W?"));
        let items = top_level_items(&pattern).unwrap();
        assert_eq!(items.len(), 2 + 8 + 7, "{items:?}");
        assert_eq!(items[1], "(?!pharmacy)");
        assert_eq!(items[3], "\\W?");
        let (_, out) = written_out_size(&pattern).unwrap();
        let lead = leading_items(&pattern, out / 2.0).unwrap();
        assert!(lead.starts_with("(?i)(?:[pP]"), "{lead}");
        assert!(!lead.contains("(?!"), "no look-around: {lead}");
        assert!(written_out_size(&lead).unwrap().1 <= out / 2.0);
        // Every text the pattern matches, the leading items match.
        let (full, part) = (fancy_regex::Regex::new(&pattern).unwrap(), fancy_regex::Regex::new(&lead).unwrap());
        for text in ["buy PH-ARMACY now", "ph\u{c3}\u{80}rmacy", "ppharrmmacy", "pharmacy"] {
            if full.is_match(text).unwrap() {
                assert!(part.is_match(text).unwrap(), "{text}");
            }
        }
        assert!(full.is_match("ppharrmmacy").unwrap());
        // Nothing to stand in: an alternation, a first item over the size, the whole pattern.
        assert_eq!(leading_items("ab|cd", 10.0), None);
        assert_eq!(leading_items("(?:abcdef)x", 3.0), None);
        assert_eq!(leading_items("(?i)abc", 10.0), None);
        assert_eq!(leading_items("(?i)(?:abcdef)x", 3.0), None, "the flags alone are no pattern");
        // Classes, escapes and quantifiers as written.
        assert_eq!(
            top_level_items(r"[]a(]\x{41}b{2,3}?[[:alpha:]x]+(a|[)])\(c").unwrap(),
            vec!["[]a(]", r"\x{41}", "b{2,3}?", "[[:alpha:]x]+", "(a|[)])", r"\(", "c"]
        );
        assert_eq!(top_level_items("a{x}").unwrap(), vec!["a", "{", "x", "}"], "not a quantifier");
        assert_eq!(top_level_items("(ab"), None);
    }

    #[test]
    fn repeated_groups_are_measured_written_out() {
        // A repeated class counts once; a repeated group as its copies.
        assert_eq!(written_out_size(r"[a-z]{1,100}x"), Some((2.0, 2.0)));
        assert_eq!(written_out_size(r"(?:ab|cd){5}"), Some((4.0, 20.0)));
        assert_eq!(written_out_size(r"(?:a(?:bc){2}){3}"), Some((3.0, 15.0)), "nested repeats multiply");
        assert_eq!(written_out_size(r"(?:ab)+"), Some((2.0, 4.0)), "an open repeat: its minimum and one more");
        assert_eq!(written_out_size(r"(?:ab)*x"), Some((3.0, 3.0)));
        assert_eq!(written_out_size(r"(?:ab"), None, "unparsable");
    }

    #[test]
    fn counted_repeats_loosen_outside_classes() {
        assert_eq!(
            loosen_counted_repeats(r"(?:[^<]{0,1024}<[^>]{1,9}>){0,99}a{2}"),
            r"(?:[^<]{0,}<[^>]{1,9}>){0,}a{2}"
        );
        assert_eq!(loosen_counted_repeats(r"\{0,100}[{0,100}][]{]x{3,17}"), r"\{0,100}[{0,100}][]{]x{3,}");
        assert_eq!(loosen_counted_repeats(r"[[:alpha:]]{1,20}"), r"[[:alpha:]]{1,}");
    }

    #[test]
    fn back_references_are_tried_at_every_start_however_long_the_text() {
        // Past the backtracking budget's worth of bytes, where a search that starts its
        // machine at every byte gave up.
        let text = format!("{}xabab", "y".repeat(50_000));
        assert!(matches(r"/x(ab)\1/", &text));
        assert!(!matches(r"/x(ab)\1c/", &text));
        let (re, _) = compile(r"/x(a)\1/", false).unwrap();
        assert_eq!(re.count(b"xaa xab xaa xaaa", 5), 3);
    }

    #[test]
    fn delimiters_and_flags() {
        let (p, rest) = split_delimited("/a\\/b/i [if-unset: x]").unwrap();
        assert_eq!(p, PerlPattern { source: "a\\/b".into(), flags: "i".into() });
        assert_eq!(rest, "[if-unset: x]");
        let (p, _) = split_delimited("m{^https?://x}i").unwrap();
        assert_eq!(p.source, "^https?://x");
        let (p, _) = split_delimited("m!a/b!").unwrap();
        assert_eq!(p.source, "a/b");
        assert!(split_delimited("eval:foo()").is_err());
    }

    #[test]
    fn perl_features_translate() {
        assert!(matches(r"/free\s+money/i", "Get FREE   money"));
        assert!(matches(r"/\<b\>/", "<b>"), "\\< is a literal in Perl");
        assert!(matches(r"/a{2}/", "xaa"));
        assert!(matches(r"/a{x/", "a{x"), "a brace that is no quantifier is literal");
        assert!(matches(r"/[\s\d_*\$\%(),.:;?!}{\[\]|\/?^\#~\xa1`'+-]/", "~"));
        assert!(matches(r"/[[]/", "["));
        assert!(matches(r"/\xe2\x80\x8b/", "zero\u{200b}width"), "byte escapes match UTF-8");
        assert!(matches(r"/grün/", "grün"));
        assert!(matches(r"/foo(?!bar)/", "foobaz"));
        assert!(!matches(r"/foo(?!bar)/", "foobar"));
        assert!(matches(r"/(a)\1/", "xaa"));
        assert!(matches(r"/end\Z/", "the end\n"));
        assert!(matches(r"/\Qa.b\E/", "a.b"));
        assert!(!matches(r"/\Qa.b\E/", "axb"));
        assert!(matches(r"/a(?#comment)b/", "ab"));
        assert!(matches(r"/x\h+y/", "x \ty"));
        assert!(matches(r"/[^]a]/", "b"));
        assert!(compile(r"/\Gfoo/", false).is_err());
        let (re, _) = compile(r"/^line$/", true).unwrap();
        assert!(re.find(b"first\nline\nlast").is_some(), "multiline anchors");
        assert_eq!(re.count(b"line\nline\nline", 2), 2);
    }
}
