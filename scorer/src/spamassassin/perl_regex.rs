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
    /// With the relaxed form ([`relax`]) as a linear-time precheck: a text it does not
    /// match is no match, and the backtracking engine never runs on it.
    Fancy(Box<fancy_regex::Regex>, Option<regex::bytes::Regex>),
}

/// How much a fancy-regex may backtrack on one text before it gives up (a non-match):
/// SpamAssassin's look-around rules over long bodies would otherwise cost milliseconds.
const BACKTRACK_LIMIT: usize = 20_000;

impl Compiled {
    pub fn new(t: &Translated) -> Result<Compiled, PatternError> {
        if !t.fancy {
            match regex::bytes::RegexBuilder::new(&format!("(?-u){}", t.pattern))
                .size_limit(4 << 20)
                .dfa_size_limit(2 << 20)
                .build()
            {
                Ok(re) => return Ok(Compiled::Bytes(re)),
                Err(_) => {
                    // Some Perl patterns are valid only with Unicode on (a class of non-ASCII
                    // characters); fancy-regex tries them below.
                }
            }
        }
        let precheck = regex::bytes::RegexBuilder::new(&format!("(?-u){}", relax(&t.pattern, true)))
            .size_limit(4 << 20)
            .dfa_size_limit(2 << 20)
            .build()
            .ok();
        fancy_regex::RegexBuilder::new(&t.pattern)
            .backtrack_limit(BACKTRACK_LIMIT)
            // Seek: jump to the positions where a match can start (fancy-regex's own
            // over-approximation, run by regex-automata) instead of trying every byte.
            // Not for back-references: their approximation matches nearly everywhere and
            // costs more than it skips (measured with `scorer rules profile`).
            .seek(!t.backreference)
            .build()
            .map(|re| Compiled::Fancy(Box::new(re), precheck))
            .map_err(|e| PatternError::Compile(e.to_string().lines().next().unwrap_or("").to_owned()))
    }

    /// The first match in `text`: its byte range.
    pub fn find(&self, text: &[u8]) -> Option<(usize, usize)> {
        match self {
            Compiled::Bytes(re) => re.find(text).map(|m| (m.start(), m.end())),
            Compiled::Fancy(_, Some(precheck)) if !precheck.is_match(text) => None,
            // A backtracking limit reached is no match.
            Compiled::Fancy(re, _) => re.find(text).ok().flatten().map(|m| (m.start(), m.end())),
        }
    }

    /// How many non-overlapping matches, at most `max`.
    pub fn count(&self, text: &[u8], max: usize) -> usize {
        match self {
            Compiled::Bytes(re) => re.find_iter(text).take(max).count(),
            Compiled::Fancy(_, Some(precheck)) if !precheck.is_match(text) => 0,
            Compiled::Fancy(re, _) => re.find_iter(text).take(max).filter(|m| m.is_ok()).count(),
        }
    }

    pub fn is_fancy(&self) -> bool {
        matches!(self, Compiled::Fancy(..))
    }
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
