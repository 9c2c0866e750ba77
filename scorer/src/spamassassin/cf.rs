//! Reading SpamAssassin's rule files (`*.cf`) into rule definitions, as SpamAssassin's own
//! `Conf` parser does: comments, `ifplugin` / `if` blocks, rule lines with their `score`,
//! `describe` and `tflags`, and the ReplaceTags plugin's templates. Pure: text in,
//! definitions out; compiling them is [`super::engine`]'s work.

use std::collections::{BTreeMap, HashMap};

/// The plugins a stock SpamAssassin loads (Debian's 4.0.1: `loadplugin` in
/// `/etc/spamassassin/*.pre`), and URLShortener. The rule files are read as that
/// SpamAssassin reads them: `ifplugin` blocks of these plugins are taken and their
/// `if !plugin(...)` alternatives are not. That matters beyond the plugins' own rules: with
/// DKIM and SPF loaded, `__NOT_SPOOFED` is `SPF_PASS || DKIM_VALID || ...`, where without
/// them any DKIM-Signature header would do. Eval functions that need the network (DNS
/// lists, Razor, Pyzor, DKIM and SPF results, Bayes) or that are not implemented cannot
/// run: `scorer rules check` lists them, and metas count them 0, as `spamassassin -L` does
/// offline.
pub const LOADED_PLUGINS: &[&str] = &[
    "Mail::SpamAssassin::Plugin::AskDNS",
    "Mail::SpamAssassin::Plugin::AutoLearnThreshold",
    "Mail::SpamAssassin::Plugin::Bayes",
    "Mail::SpamAssassin::Plugin::BodyEval",
    "Mail::SpamAssassin::Plugin::Check",
    "Mail::SpamAssassin::Plugin::DKIM",
    "Mail::SpamAssassin::Plugin::DMARC",
    "Mail::SpamAssassin::Plugin::DNSEval",
    "Mail::SpamAssassin::Plugin::FreeMail",
    "Mail::SpamAssassin::Plugin::HTMLEval",
    "Mail::SpamAssassin::Plugin::HTTPSMismatch",
    "Mail::SpamAssassin::Plugin::HashBL",
    "Mail::SpamAssassin::Plugin::HeaderEval",
    "Mail::SpamAssassin::Plugin::ImageInfo",
    "Mail::SpamAssassin::Plugin::MIMEEval",
    "Mail::SpamAssassin::Plugin::MIMEHeader",
    "Mail::SpamAssassin::Plugin::Pyzor",
    "Mail::SpamAssassin::Plugin::Razor2",
    "Mail::SpamAssassin::Plugin::RelayEval",
    "Mail::SpamAssassin::Plugin::ReplaceTags",
    "Mail::SpamAssassin::Plugin::SPF",
    "Mail::SpamAssassin::Plugin::SpamCop",
    "Mail::SpamAssassin::Plugin::URIDNSBL",
    "Mail::SpamAssassin::Plugin::URIDetail",
    "Mail::SpamAssassin::Plugin::URIEval",
    "Mail::SpamAssassin::Plugin::URLShortener",
    "Mail::SpamAssassin::Plugin::VBounce",
    "Mail::SpamAssassin::Plugin::WLBLEval",
    "Mail::SpamAssassin::Plugin::WelcomeListSubject",
];

/// The SpamAssassin version the rule files' `if (version >= N)` blocks are read for.
pub const EMULATED_VERSION: f64 = 4.000001;

/// What kind of test a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleType {
    Header,
    Body,
    RawBody,
    Full,
    Uri,
    MimeHeader,
    Meta,
}

impl RuleType {
    fn from_keyword(keyword: &str) -> Option<RuleType> {
        Some(match keyword {
            "header" => RuleType::Header,
            "body" => RuleType::Body,
            "rawbody" => RuleType::RawBody,
            "full" => RuleType::Full,
            "uri" => RuleType::Uri,
            "mimeheader" => RuleType::MimeHeader,
            "meta" => RuleType::Meta,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::Header => "header",
            RuleType::Body => "body",
            RuleType::RawBody => "rawbody",
            RuleType::Full => "full",
            RuleType::Uri => "uri",
            RuleType::MimeHeader => "mimeheader",
            RuleType::Meta => "meta",
        }
    }
}

/// One rule as the files define it (the last definition of a name wins, as in
/// SpamAssassin).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub name: String,
    pub rule_type: RuleType,
    /// Everything after the name, with ReplaceTags templates already expanded.
    pub definition: String,
    /// The file it came from, for `scorer rules check`.
    pub file: String,
}

/// Everything read from a rule folder.
#[derive(Debug, Clone, Default)]
pub struct RuleFiles {
    pub rules: BTreeMap<String, RuleDef>,
    /// `score NAME s0 [s1 s2 s3]`: the first score set (no Bayes, no network tests), the one
    /// that fits an engine with neither.
    pub scores: HashMap<String, f64>,
    pub describe: HashMap<String, String>,
    pub tflags: HashMap<String, Vec<String>>,
    /// `freemail_domains` entries (lower case, may hold `*` wildcards).
    pub freemail_domains: Vec<String>,
    /// `url_shortener` hosts.
    pub url_shorteners: Vec<String>,
    /// `enlist_addrlist (LIST) pattern...`: address patterns per list name (lower case, `*`
    /// any characters, `?` one), read by `check_from_in_list(LIST)` and
    /// `check_replyto_in_list(LIST)`.
    pub address_lists: BTreeMap<String, Vec<String>>,
    /// `enlist_uri_host (LIST) host...`: per list name, host or domain names (lower case)
    /// and their verdict (false for a `!host` exception), read by
    /// `check_uri_host_listed(LIST)`; `delist_uri_host` takes names out again.
    pub uri_host_lists: BTreeMap<String, BTreeMap<String, bool>>,
    /// Lines that are neither understood nor deliberately ignored, with file and line.
    pub unknown_lines: Vec<String>,
    /// `util_rb_tld`: the top-level domains SpamAssassin knows (lower case); an address
    /// written in the text is a URI only with one of them.
    pub valid_tlds: std::collections::HashSet<String>,
    /// `required_score`: the score at which SpamAssassin calls a message spam (None: its
    /// default, [`DEFAULT_REQUIRED_SCORE`]).
    pub required_score: Option<f64>,
    /// `bayes_auto_learn 0|1` (None: its default, on).
    pub auto_learn: Option<bool>,
    /// `bayes_auto_learn_threshold_spam` (None: its default,
    /// [`DEFAULT_AUTO_LEARN_THRESHOLD_SPAM`]).
    pub auto_learn_threshold_spam: Option<f64>,
}

/// SpamAssassin's default `required_score`.
pub const DEFAULT_REQUIRED_SCORE: f64 = 5.0;
/// SpamAssassin's default `bayes_auto_learn_threshold_spam`.
pub const DEFAULT_AUTO_LEARN_THRESHOLD_SPAM: f64 = 12.0;

/// `(LIST) items...`, as the list settings write it: the list's name and the rest.
fn parenthesized_list(rest: &str) -> Option<(&str, &str)> {
    rest.trim().strip_prefix('(').and_then(|r| r.split_once(')'))
}

/// Settings that mean nothing to this engine (reporting, learning, network lists,
/// translations, the welcome list of senders) and are skipped on purpose.
const IGNORED_KEYWORDS: &[&str] = &[
    "lang",
    "priority",
    "reuse",
    "test",
    "bayes_ignore_header",
    "def_whitelist_auth",
    "def_welcomelist_auth",
    "def_whitelist_from_dkim",
    "def_welcomelist_from_dkim",
    "def_whitelist_from_rcvd",
    "def_welcomelist_from_rcvd",
    "whitelist_from_rcvd",
    "welcomelist_from_rcvd",
    "util_rb_2tld",
    "util_rb_3tld",
    "uridnsbl_skip_domain",
    "adsp_override",
    "report",
    "clear_report_template",
    "report_contact",
    "report_safe",
    "unsafe_report",
    "clear_unsafe_report_template",
    "add_header",
    "clear_headers",
    "remove_header",
    "loadplugin",
    "tryplugin",
    "redirector_pattern",
    "dns_available",
    "dns_server",
    "rbl_timeout",
    "uridnsbl",
    "urirhsbl",
    "urirhssub",
    "uridnssub",
    "askdns",
    "hashbl_acl",
    "hashbl_ignore",
    "freemail_whitelist",
    "freemail_welcomelist",
    "freemail_import_whitelist_auth",
    "freemail_import_welcomelist_auth",
    "freemail_import_def_whitelist_auth",
    "freemail_import_def_welcomelist_auth",
    "util_rb_tld_ignore",
    "envelope_sender_header",
    "bayes_auto_learn_threshold_nonspam",
    "ok_locales",
    "ok_languages",
    "normalize_charset",
    "body_part_scan_size",
    "rawbody_part_scan_size",
    "shortcircuit",
    "shortcircuit_spam_score",
    "shortcircuit_ham_score",
    "url_shortener_cache_type",
    "url_shortener_cache_dsn",
    "url_shortener_loginfo",
    "url_shortener_max_redirects",
    "dcc_path",
    "razor_config",
    "pyzor_path",
    "textcat_max_languages",
    "textcat_optimal_ngrams",
    "textcat_max_ngrams",
    "textcat_acceptable_score",
    "inactive_languages",
    "whitelist_auth",
    "welcomelist_auth",
    "whitelist_from",
    "welcomelist_from",
    "blacklist_from",
    "blocklist_from",
    "unwhitelist_from",
    "unwelcomelist_from",
    "whitelist_to",
    "welcomelist_to",
    "more_spam_to",
    "all_spam_to",
    "whitelist_subject",
    "welcomelist_subject",
    "blacklist_subject",
    "blocklist_subject",
    "dkim_minimum_key_bits",
    "whitelist_bounce_relays",
    "welcomelist_bounce_relays",
    "pdfinfo_max_pages",
    "trusted_networks",
    "internal_networks",
    "msa_networks",
    "clear_trusted_networks",
    "clear_internal_networks",
    "trusted_domains",
    "uri_block_cc",
    "uri_block_cont",
    "uri_country_db_path",
    "country_db_path",
    "asn_lookup",
    "asn_prefix",
    "clear_asn_lookups",
    "rbl_headers",
    "clear_report_template",
    "report_charset",
    "use_bayes",
    "use_razor2",
    "use_pyzor",
    "use_dcc",
    "use_auto_whitelist",
    "use_auto_welcomelist",
    "skip_rbl_checks",
    "dns_query_restriction",
    "originating_ip_headers",
    "uri_detail",
    "blacklist_uri_host",
    "blocklist_uri_host",
    "whitelist_uri_host",
    "welcomelist_uri_host",
    "hashbl_email_domain_alias",
    "hashbl_email_regex",
    "hashbl_email_welcomelist",
    "hashbl_email_whitelist",
    "replace_start",
    "replace_end",
    "version_tag",
    "uri_country",
    "check_rbl_ignore_domains",
    "dkim_timeout",
    "spf_timeout",
    "spf_received_header",
    "ignore_received_spf_header",
    "use_newest_received_spf_header",
    "def_whitelist_from_spf",
    "def_welcomelist_from_spf",
    "whitelist_from_spf",
    "welcomelist_from_spf",
    "whitelist_from_dkim",
    "welcomelist_from_dkim",
    "unwhitelist_from_dkim",
    "unwelcomelist_from_dkim",
    "dns_local_ports_avoid",
    "clear_originating_ip_headers",
    "clear_util_rb",
    "require_version",
    "url_shortener_get",
];

/// ReplaceTags' templates: `replace_tag`, `replace_pre`, `replace_inter`, `replace_post`.
#[derive(Debug, Default)]
struct ReplaceTags {
    tags: HashMap<String, String>,
    pre: HashMap<String, String>,
    inter: HashMap<String, String>,
    post: HashMap<String, String>,
    rules: Vec<String>,
}

impl ReplaceTags {
    /// Expands `<TAG>` runs in `re` as the plugin does: each tag becomes pre + tag + post,
    /// consecutive tags are joined by inter; `<pre X>`, `<inter X>`, `<post X>` choose
    /// which template applies for this rule. A tag's value may hold other tags
    /// (`NUM_NOT_DATE_IP` is `<NUM_NOT_DATE>` and a look-ahead): the plugin goes over the
    /// pattern again, up to five more times, with no template (they were taken off on the
    /// first pass), while a replacement brought a tag in.
    fn expand(&self, re: &str) -> String {
        let mut re = re.to_owned();
        let mut take = |kind: &str, table: &HashMap<String, String>| -> String {
            let open = format!("<{kind} ");
            let Some(start) = re.find(&open) else { return String::new() };
            let Some(len) = re[start..].find('>') else { return String::new() };
            let name = re[start + open.len()..start + len].to_owned();
            re.replace_range(start..start + len + 1, "");
            table.get(&name).cloned().unwrap_or_default()
        };
        let pre = take("pre", &self.pre);
        let inter = take("inter", &self.inter);
        let post = take("post", &self.post);
        let (mut out, mut nested) = self.replace_tags(&re, &pre, &inter, &post);
        for _ in 0..5 {
            if !nested {
                break;
            }
            (out, nested) = self.replace_tags(&out, "", "", "");
        }
        out
    }

    /// One pass of [`ReplaceTags::expand`]: the pattern with its known tags replaced, and
    /// whether a replacement held another tag.
    fn replace_tags(&self, re: &str, pre: &str, inter: &str, post: &str) -> (String, bool) {
        let mut out = String::with_capacity(re.len() * 4);
        let mut nested = false;
        let mut rest = re;
        let mut previous_was_tag = false;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<')
                && let Some(end) = after.find('>')
                && let Some(value) = self.tags.get(&after[..end])
            {
                if previous_was_tag {
                    out.push_str(inter);
                }
                out.push_str(pre);
                out.push_str(value);
                out.push_str(post);
                nested |= value.split('<').skip(1).any(|tail| tail.find('>').is_some_and(|end| end > 0));
                rest = &after[end + 1..];
                previous_was_tag = true;
                continue;
            }
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
            previous_was_tag = false;
        }
        (out, nested)
    }
}

/// A line of a rule file as text: UTF-8 as it is; any other byte (a Latin-1 rule) as a
/// `\xNN` escape, which is what the byte in a Perl regex means.
pub fn line_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 16);
            for &b in bytes {
                if b.is_ascii() {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

/// Removes a comment: everything from an unescaped `#`; then `\#` means `#`.
fn strip_comment(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut end = bytes.len();
    for i in 0..bytes.len() {
        if bytes[i] == b'#' && (i == 0 || bytes[i - 1] != b'\\') {
            end = i;
            break;
        }
    }
    line[..end].replace("\\#", "#").trim().to_owned()
}

/// Evaluates an `if` condition: `version >= N`, `can(X)`, `plugin(X)`, `!`, `&&`, `||`,
/// parentheses. Unknown terms are false.
fn condition_holds(expr: &str) -> bool {
    let tokens = condition_tokens(expr);
    let mut pos = 0;
    let value = condition_or(&tokens, &mut pos);
    value && pos == tokens.len()
}

fn condition_tokens(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if "()!".contains(c) && !(c == '!' && chars.get(i + 1) == Some(&'=')) {
            out.push(c.to_string());
            i += 1;
        } else if i + 1 < chars.len()
            && ["&&", "||", ">=", "<=", "==", "!="].contains(&format!("{c}{}", chars[i + 1]).as_str())
        {
            out.push(format!("{c}{}", chars[i + 1]));
            i += 2;
        } else if c == '>' || c == '<' {
            out.push(c.to_string());
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_:.".contains(chars[i])) {
                i += 1;
            }
            if i == start {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    out
}

fn condition_or(t: &[String], pos: &mut usize) -> bool {
    let mut v = condition_and(t, pos);
    while t.get(*pos).is_some_and(|x| x == "||") {
        *pos += 1;
        let r = condition_and(t, pos);
        v = v || r;
    }
    v
}

fn condition_and(t: &[String], pos: &mut usize) -> bool {
    let mut v = condition_unary(t, pos);
    while t.get(*pos).is_some_and(|x| x == "&&") {
        *pos += 1;
        let r = condition_unary(t, pos);
        v = v && r;
    }
    v
}

fn condition_unary(t: &[String], pos: &mut usize) -> bool {
    match t.get(*pos).map(String::as_str) {
        Some("!") => {
            *pos += 1;
            !condition_unary(t, pos)
        }
        Some("(") => {
            *pos += 1;
            let v = condition_or(t, pos);
            if t.get(*pos).is_some_and(|x| x == ")") {
                *pos += 1;
            }
            v
        }
        Some("version") => {
            *pos += 1;
            let op = t.get(*pos).cloned().unwrap_or_default();
            *pos += 1;
            let n: f64 = t.get(*pos).and_then(|n| n.parse().ok()).unwrap_or(f64::MAX);
            *pos += 1;
            match op.as_str() {
                ">=" => EMULATED_VERSION >= n,
                ">" => EMULATED_VERSION > n,
                "<=" => EMULATED_VERSION <= n,
                "<" => EMULATED_VERSION < n,
                "==" => EMULATED_VERSION == n,
                "!=" => EMULATED_VERSION != n,
                _ => false,
            }
        }
        Some(f @ ("can" | "plugin")) => {
            let is_plugin = f == "plugin";
            *pos += 1;
            let mut name = String::new();
            if t.get(*pos).is_some_and(|x| x == "(") {
                *pos += 1;
                while let Some(x) = t.get(*pos) {
                    *pos += 1;
                    if x == ")" {
                        break;
                    }
                    name.push_str(x);
                }
            }
            if is_plugin {
                LOADED_PLUGINS.contains(&name.as_str())
            } else {
                // Features of the configuration language: this reader has the ones the
                // stock rules ask for, and none of the compatibility switches.
                !name.contains("compat_")
            }
        }
        Some(_) => {
            *pos += 1;
            false
        }
        None => false,
    }
}

/// Reads the text of one rule file into `out` (later files override earlier ones).
pub fn read_file(name: &str, bytes: &[u8], out: &mut RuleFiles) {
    let mut replace = ReplaceTags::default();
    read_into(name, bytes, out, &mut replace);
    expand_templates(out, &replace);
}

/// Reads several files in order (SpamAssassin reads a folder's `*.cf` sorted by name),
/// with one ReplaceTags table across them.
pub fn read_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> RuleFiles {
    let mut out = RuleFiles::default();
    let mut replace = ReplaceTags::default();
    for (name, bytes) in files {
        read_into(name, bytes, &mut out, &mut replace);
    }
    expand_templates(&mut out, &replace);
    out
}

fn expand_templates(out: &mut RuleFiles, replace: &ReplaceTags) {
    for name in &replace.rules {
        if let Some(rule) = out.rules.get_mut(name) {
            rule.definition = replace.expand(&rule.definition);
        }
    }
}

fn read_into(file: &str, bytes: &[u8], out: &mut RuleFiles, replace: &mut ReplaceTags) {
    // A stack of "is this block active"; a line counts only when every level is.
    let mut active: Vec<bool> = Vec::new();
    for (n, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = strip_comment(&line_text(raw_line));
        if line.is_empty() {
            continue;
        }
        let (keyword, rest) = match line.split_once(|c: char| c.is_whitespace()) {
            Some((k, r)) => (k.to_ascii_lowercase(), r.trim().to_owned()),
            None => (line.to_ascii_lowercase(), String::new()),
        };
        match keyword.as_str() {
            "ifplugin" => {
                active.push(LOADED_PLUGINS.contains(&rest.split_whitespace().next().unwrap_or("")));
                continue;
            }
            "if" => {
                active.push(condition_holds(&rest));
                continue;
            }
            "else" => {
                if let Some(top) = active.last_mut() {
                    *top = !*top;
                }
                continue;
            }
            "endif" => {
                active.pop();
                continue;
            }
            _ => {}
        }
        if active.iter().any(|a| !a) {
            continue;
        }
        let first_word = |s: &str| s.split_whitespace().next().unwrap_or("").to_owned();
        let after_first = |s: &str| s.split_once(|c: char| c.is_whitespace()).map(|(_, r)| r.trim().to_owned());
        if let Some(rule_type) = RuleType::from_keyword(&keyword) {
            let name = first_word(&rest);
            let definition = after_first(&rest).unwrap_or_default();
            if !name.is_empty() {
                out.rules.insert(name.clone(), RuleDef { name, rule_type, definition, file: file.to_owned() });
            }
            continue;
        }
        match keyword.as_str() {
            "score" => {
                let name = first_word(&rest);
                let values: Vec<f64> = after_first(&rest)
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|v| v.trim_start_matches('(').trim_end_matches(')').parse().ok())
                    .collect();
                if let Some(first) = values.first() {
                    out.scores.insert(name, *first);
                }
            }
            "describe" => {
                let name = first_word(&rest);
                out.describe.insert(name, after_first(&rest).unwrap_or_default());
            }
            "tflags" => {
                let name = first_word(&rest);
                out.tflags.insert(
                    name,
                    after_first(&rest).unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
                );
            }
            "replace_tag" | "replace_pre" | "replace_inter" | "replace_post" => {
                let name = first_word(&rest);
                let value = after_first(&rest).unwrap_or_default();
                let table = match keyword.as_str() {
                    "replace_tag" => &mut replace.tags,
                    "replace_pre" => &mut replace.pre,
                    "replace_inter" => &mut replace.inter,
                    _ => &mut replace.post,
                };
                table.insert(name, value);
            }
            "replace_rules" => replace.rules.extend(rest.split_whitespace().map(str::to_owned)),
            "required_score" | "bayes_auto_learn_threshold_spam" => match rest.trim().parse::<f64>() {
                Ok(value) if value.is_finite() => {
                    if keyword == "required_score" {
                        out.required_score = Some(value);
                    } else {
                        out.auto_learn_threshold_spam = Some(value);
                    }
                }
                _ => out.unknown_lines.push(format!("{file}:{}: {} (not a number)", n + 1, keyword)),
            },
            "util_rb_tld" => out.valid_tlds.extend(rest.split_whitespace().map(str::to_ascii_lowercase)),
            "bayes_auto_learn" => match rest.trim() {
                "0" => out.auto_learn = Some(false),
                "1" => out.auto_learn = Some(true),
                _ => out.unknown_lines.push(format!("{file}:{}: {} (not 0 or 1)", n + 1, keyword)),
            },
            "freemail_domains" => out.freemail_domains.extend(rest.split_whitespace().map(str::to_ascii_lowercase)),
            "url_shortener" => out.url_shorteners.extend(rest.split_whitespace().map(str::to_ascii_lowercase)),
            "enlist_addrlist" => match parenthesized_list(&rest) {
                Some((list, patterns)) if !list.trim().is_empty() && !patterns.trim().is_empty() => out
                    .address_lists
                    .entry(list.trim().to_owned())
                    .or_default()
                    .extend(patterns.split_whitespace().map(str::to_lowercase)),
                _ => out.unknown_lines.push(format!("{file}:{}: {} (not `(LIST) address...`)", n + 1, keyword)),
            },
            // As Conf.pm: `(LIST) host...`, a `!` before a host an exception; delisting
            // without a list name takes the hosts out of every list.
            "enlist_uri_host" => match parenthesized_list(&rest) {
                Some((list, hosts)) if !hosts.trim().is_empty() => {
                    let list = out.uri_host_lists.entry(list.to_owned()).or_default();
                    for host in hosts.split_whitespace().map(str::to_lowercase) {
                        match host.strip_prefix('!') {
                            Some(exception) => list.insert(exception.to_owned(), false),
                            None => list.insert(host, true),
                        };
                    }
                }
                _ => out.unknown_lines.push(format!("{file}:{}: {} (not `(LIST) host...`)", n + 1, keyword)),
            },
            "delist_uri_host" => {
                let (lists, hosts) = match parenthesized_list(&rest) {
                    Some((list, hosts)) => (vec![list.to_owned()], hosts),
                    None => (out.uri_host_lists.keys().cloned().collect(), rest.as_str()),
                };
                for host in hosts.split_whitespace().map(str::to_lowercase) {
                    for list in &lists {
                        if let Some(list) = out.uri_host_lists.get_mut(list) {
                            list.remove(&host);
                        }
                    }
                }
            }
            k if IGNORED_KEYWORDS.contains(&k) => {}
            _ => out.unknown_lines.push(format!("{file}:{}: {}", n + 1, keyword)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rules_scores_and_blocks() {
        let cf = br#"
# a comment
header   SUBJ_FREE   Subject =~ /free\#1/i   # trailing comment
describe SUBJ_FREE   Subject says free
score    SUBJ_FREE   1.5 2.0 1.0 1.2
body     __BODY_X    /click here/
tflags   __BODY_X    multiple maxhits=3
meta     META_X      SUBJ_FREE && __BODY_X
ifplugin Mail::SpamAssassin::Plugin::DCC
header   DCC_X       eval:check_dcc()
endif
ifplugin Mail::SpamAssassin::Plugin::MIMEEval
if (version >= 3.004000)
rawbody  RAW_Y       /<iframe/i
else
rawbody  RAW_OLD     /old/
endif
endif
if !plugin(Mail::SpamAssassin::Plugin::FreeMail)
body NOT_LOADED /x/
endif
freemail_domains gmail.com *.freemail.example
enlist_addrlist (PAYPAL) *@paypal.com *@*.PayPal.com
enlist_addrlist (PAYPAL) service@paypal.example
enlist_uri_host (SUSP) top XYZ !ok.xyz gone.example
delist_uri_host (SUSP) gone.example
bogus_setting 1
"#;
        let mut files = RuleFiles::default();
        read_file("10_test.cf", cf, &mut files);
        assert_eq!(files.rules["SUBJ_FREE"].definition, "Subject =~ /free#1/i");
        assert_eq!(files.rules["SUBJ_FREE"].rule_type, RuleType::Header);
        assert_eq!(files.scores["SUBJ_FREE"], 1.5, "the first score set");
        assert_eq!(files.describe["SUBJ_FREE"], "Subject says free");
        assert_eq!(files.tflags["__BODY_X"], vec!["multiple", "maxhits=3"]);
        assert_eq!(files.rules["META_X"].definition, "SUBJ_FREE && __BODY_X");
        assert!(!files.rules.contains_key("DCC_X"), "a plugin a stock SpamAssassin does not load defines nothing");
        assert!(files.rules.contains_key("RAW_Y"));
        assert!(!files.rules.contains_key("RAW_OLD"));
        assert!(!files.rules.contains_key("NOT_LOADED"));
        assert_eq!(files.freemail_domains, vec!["gmail.com", "*.freemail.example"]);
        assert_eq!(files.address_lists["PAYPAL"], vec!["*@paypal.com", "*@*.paypal.com", "service@paypal.example"]);
        let susp: Vec<(&str, bool)> = files.uri_host_lists["SUSP"].iter().map(|(h, v)| (h.as_str(), *v)).collect();
        assert_eq!(
            susp,
            vec![("ok.xyz", false), ("top", true), ("xyz", true)],
            "lower case, exceptions kept, delisted gone"
        );
        assert_eq!(files.unknown_lines, vec!["10_test.cf:27: bogus_setting"]);
    }

    #[test]
    fn replace_tags_expand_like_the_plugin() {
        let cf = b"replace_tag V (?:v|\\\\/)\nreplace_tag I [il1]\nreplace_inter W2 \\W{0,2}\nreplace_post P2 {1,2}\n\
body FUZZY /<inter W2><post P2>\\b<V><I>x<I>/i\nreplace_rules FUZZY\n";
        let files = read_files([("25_replace.cf", cf.as_slice())]);
        assert_eq!(files.rules["FUZZY"].definition, r"/\b(?:v|\\/){1,2}\W{0,2}[il1]{1,2}x[il1]{1,2}/i");
        // A tag in a tag's value is replaced on the next pass, with no template
        // (SpamAssassin's NUM_NOT_DATE_IP holds <NUM_NOT_DATE>; checked with SpamAssassin:
        // `__LOTSA_MONEY_01` matches "$1,499.99").
        let cf = b"replace_tag NUM [1-9](?!\\d\\.)
replace_tag NUM_IP <NUM>(?!\\.0)
replace_tag C \\$
replace_post P2 {1,2}
body MONEY /<post P2><C><NUM_IP>\\d/
replace_rules MONEY
";
        let files = read_files([("72_active.cf", cf.as_slice())]);
        assert_eq!(files.rules["MONEY"].definition, r"/\${1,2}[1-9](?!\d\.)(?!\.0){1,2}\d/");
    }

    #[test]
    fn latin1_bytes_become_escapes() {
        assert_eq!(line_text(b"body X /gr\xfcn/"), r"body X /gr\xfcn/");
        assert_eq!(line_text("body X /grün/".as_bytes()), "body X /grün/");
    }
}
