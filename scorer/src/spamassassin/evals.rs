//! The eval functions of SpamAssassin's plugins that this engine runs natively (the ones
//! that need no network, chosen by how often the stock rules use them). A rule calling any
//! other function is listed as unsupported by `scorer rules check`.

use super::views::MessageView;

/// An eval call: the function and its arguments (quotes removed).
#[derive(Debug, Clone)]
pub struct EvalCall {
    pub function: EvalFunction,
    pub args: Vec<String>,
    /// A regular expression argument, compiled once (check_freemail_header's second).
    pub pattern: Option<regex::Regex>,
    /// A comparison argument, read once (html_tag_balance's second).
    pub comparison: Option<Comparison>,
}

impl PartialEq for EvalCall {
    fn eq(&self, other: &Self) -> bool {
        self.function == other.function && self.args == other.args
    }
}

/// The implemented functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalFunction {
    MissingToHeader,
    HeaderCountRange,
    SubjectIsAllCaps,
    IllegalChars,
    ShiftedDate,
    FreemailFrom,
    FreemailHeader,
    FreemailReplyTo,
    ForMime,
    MimeHtmlOnly,
    MimeHtml,
    HtmlEval,
    HtmlRange,
    HtmlTextMatch,
    HtmlTagExists,
    HtmlTest,
    HtmlImageOnly,
    HtmlTagBalance,
    BodyLength,
    ForUppercase,
    TvdVerticalWords,
    ShortUrl,
    AllTrusted,
    NoRelays,
    RelaysUnparseable,
    FromInList,
    ReplyToInList,
    OutlookMessageId,
    HeloIpMismatch,
    ForgedYahooReceived,
    SortedRecipients,
    SimilarRecipients,
    ToInSubject,
    UnresolvedTemplate,
    EnvelopeFromMatchesFrom,
    RatwareEnvelopeFrom,
    RatwareNameId,
    MailFromMatchesRelay,
    UriHostListed,
    UriHostInBlocklist,
    UriHostInWelcomelist,
    Base64Length,
    HttpsHttpMismatch,
    HtmlTitleSubjectRatio,
    AsciiTextIllegal,
}

/// The tests of MIMEEval's `check_for_mime` this engine runs (`mime_base64_blanks`:
/// SpamAssassin no longer computes it, never true there either).
const MIME_TESTS: &[&str] = &[
    "mime_attachment",
    "mime_bad_iso_charset",
    "mime_base64_blanks",
    "mime_base64_count",
    "mime_base64_encoded_text",
    "mime_faraway_charset",
    "mime_qp_count",
];
/// The HTML.pm results of `html_test` this engine computes.
const HTML_TESTS: &[&str] = &["html", "embeds", "form_action_mailto"];

impl EvalFunction {
    /// Whether this engine runs the function with these arguments: a test it does not
    /// compute makes the rule one `scorer rules check` lists, not a rule that never hits.
    fn runs_with(self, args: &[String]) -> bool {
        let first = args.first().map(String::as_str).unwrap_or("");
        match self {
            EvalFunction::ForMime => MIME_TESTS.contains(&first),
            EvalFunction::HtmlTest => HTML_TESTS.contains(&first),
            // HTML.pm's results other than the source's length (font sizes, obfuscation,
            // extra closing tags ...) are not computed.
            EvalFunction::HtmlEval | EvalFunction::HtmlRange => first == "length",
            // Of HTML.pm's text lists the comments, the anchors and the titles are kept.
            EvalFunction::HtmlTextMatch => matches!(first, "comment" | "anchor" | "title"),
            EvalFunction::ToInSubject => matches!(first, "user" | "address"),
            // As HTMLEval: a tag name of letters and digits, and a comparison it can read.
            EvalFunction::HtmlTagBalance => {
                !first.is_empty()
                    && first.bytes().all(|b| b.is_ascii_alphanumeric())
                    && args.get(1).and_then(|e| Comparison::parse(e)).is_some()
            }
            _ => true,
        }
    }

    pub fn from_name(name: &str) -> Option<EvalFunction> {
        use EvalFunction::*;
        Some(match name {
            "check_for_missing_to_header" => MissingToHeader,
            "check_header_count_range" => HeaderCountRange,
            "subject_is_all_caps" => SubjectIsAllCaps,
            "check_illegal_chars" => IllegalChars,
            "check_for_shifted_date" => ShiftedDate,
            "check_freemail_from" => FreemailFrom,
            "check_freemail_header" => FreemailHeader,
            "check_freemail_replyto" => FreemailReplyTo,
            "check_for_mime" => ForMime,
            "check_for_mime_html_only" => MimeHtmlOnly,
            "check_for_mime_html" => MimeHtml,
            "html_eval" => HtmlEval,
            "html_range" => HtmlRange,
            "html_text_match" => HtmlTextMatch,
            "html_tag_exists" => HtmlTagExists,
            "html_test" => HtmlTest,
            "html_image_only" => HtmlImageOnly,
            "html_tag_balance" => HtmlTagBalance,
            "tvd_vertical_words" => TvdVerticalWords,
            "check_body_length" => BodyLength,
            "check_for_uppercase" => ForUppercase,
            "short_url" => ShortUrl,
            "check_all_trusted" => AllTrusted,
            "check_no_relays" => NoRelays,
            "check_relays_unparseable" => RelaysUnparseable,
            "check_from_in_list" => FromInList,
            "check_replyto_in_list" => ReplyToInList,
            "check_outlook_message_id" => OutlookMessageId,
            "helo_ip_mismatch" => HeloIpMismatch,
            "check_for_forged_yahoo_received_headers" => ForgedYahooReceived,
            "sorted_recipients" => SortedRecipients,
            "similar_recipients" => SimilarRecipients,
            "check_for_to_in_subject" => ToInSubject,
            "check_unresolved_template" => UnresolvedTemplate,
            "check_for_matching_env_and_hdr_from" => EnvelopeFromMatchesFrom,
            "check_ratware_envelope_from" => RatwareEnvelopeFrom,
            "check_ratware_name_id" => RatwareNameId,
            "check_mailfrom_matches_rcvd" => MailFromMatchesRelay,
            "check_uri_host_listed" => UriHostListed,
            "check_uri_host_in_blocklist" | "check_uri_host_in_blacklist" => UriHostInBlocklist,
            "check_uri_host_in_welcomelist" | "check_uri_host_in_whitelist" => UriHostInWelcomelist,
            "check_base64_length" => Base64Length,
            "check_https_http_mismatch" => HttpsHttpMismatch,
            "html_title_subject_ratio" => HtmlTitleSubjectRatio,
            "check_for_ascii_text_illegal" => AsciiTextIllegal,
            _ => return None,
        })
    }
}

/// HTMLEval's `html_tag_balance` expression (`'!= 0'`, `'> 1'`): an operator and a
/// whole number, which it hands to Perl's `eval` after the tag's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comparison {
    operator: ComparisonOperator,
    value: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ComparisonOperator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    /// None for anything but `OP N` (OP one of `== != < <= > >=`).
    pub fn parse(expression: &str) -> Option<Comparison> {
        use ComparisonOperator::*;
        let e = expression.trim();
        let (operator, rest) = [("==", Equal), ("!=", NotEqual), ("<=", LessOrEqual), (">=", GreaterOrEqual)]
            .into_iter()
            .chain([("<", Less), (">", Greater)])
            .find_map(|(text, op)| e.strip_prefix(text).map(|rest| (op, rest)))?;
        let value = rest.trim().parse::<i64>().ok()?;
        Some(Comparison { operator, value })
    }

    pub fn holds(self, count: i64) -> bool {
        use ComparisonOperator::*;
        match self.operator {
            Equal => count == self.value,
            NotEqual => count != self.value,
            Less => count < self.value,
            LessOrEqual => count <= self.value,
            Greater => count > self.value,
            GreaterOrEqual => count >= self.value,
        }
    }
}

/// The names of US-ASCII that MIMEEval's `mime_base64_encoded_text` looks for in a charset.
const US_ASCII_NAMES: &[&str] = &[
    "us-ascii",
    "ansi_x3.4-1968",
    "iso-ir-6",
    "ansi_x3.4-1986",
    "iso_646.irv:1991",
    "ascii",
    "iso646-us",
    "us",
    "ibm367",
    "cp367",
    "csascii",
];

/// A rule's `eval:` text that is not a call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalSyntaxError {
    #[error("not an eval: {0}")]
    NotEval(String),
    #[error("unclosed call: {0}")]
    Unclosed(String),
}

/// Parses `eval:name(args)`: Ok(None) for a function this engine does not have.
pub fn parse_call(text: &str) -> Result<Option<EvalCall>, EvalSyntaxError> {
    let text = text.trim().strip_prefix("eval:").ok_or_else(|| EvalSyntaxError::NotEval(text.to_owned()))?;
    let (name, args) = match text.split_once('(') {
        Some((n, a)) => {
            (n.trim(), a.trim_end().strip_suffix(')').ok_or_else(|| EvalSyntaxError::Unclosed(text.to_owned()))?)
        }
        None => (text.trim(), ""),
    };
    let Some(function) = EvalFunction::from_name(name) else { return Ok(None) };
    let args = split_args(args);
    if !function.runs_with(&args) {
        return Ok(None);
    }
    let pattern = match function {
        EvalFunction::FreemailHeader => args.get(1).and_then(|p| regex::Regex::new(p).ok()),
        EvalFunction::HtmlTextMatch => match args.get(1).map(|p| regex::Regex::new(p)) {
            Some(Ok(pattern)) => Some(pattern),
            // A pattern this engine cannot take: the rule is listed, not silently 0.
            _ => return Ok(None),
        },
        _ => None,
    };
    let comparison = match function {
        EvalFunction::HtmlTagBalance => args.get(1).and_then(|e| Comparison::parse(e)),
        _ => None,
    };
    Ok(Some(EvalCall { function, args, pattern, comparison }))
}

fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in args.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                out.push(current.trim().to_owned());
                current.clear();
            }
            (_, c) => current.push(c),
        }
    }
    if !current.trim().is_empty() || !out.is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// What an eval function may consult besides the message.
pub struct EvalContext<'a> {
    pub freemail_domains: &'a [String],
    pub url_shorteners: &'a [String],
    /// `enlist_addrlist` lists by name.
    pub address_lists: &'a std::collections::BTreeMap<String, Vec<String>>,
    /// `enlist_uri_host` lists by name: host or domain -> listed (false: an exception).
    pub uri_host_lists: &'a std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>>,
    /// Seconds between the Date header and the newest Received time (None: unknown).
    pub date_diff: Option<i64>,
}

/// `min <= value < max` for the first two arguments, either of which may be `'undef'`
/// (no bound), as HeaderEval's range tests read them.
fn within(args: &[String], value: f64) -> bool {
    let bound = |i: usize| args.get(i).filter(|s| s.as_str() != "undef").and_then(|s| s.parse::<f64>().ok());
    bound(0).is_none_or(|min| value >= min) && bound(1).is_none_or(|max| value < max)
}

fn num(args: &[String], i: usize, default: f64) -> f64 {
    optional_num(args, i).unwrap_or(default)
}

/// Argument `i` as a number, if there is one.
fn optional_num(args: &[String], i: usize) -> Option<f64> {
    args.get(i).and_then(|a| a.trim().parse().ok())
}

/// The comments of an HTML source, `<!--` through the first `-->` (or the end), skipping the
/// content of `<style>` and `<script>` elements, which HTML::Parser reads as text.
fn html_comments(html: &str) -> impl Iterator<Item = &str> + '_ {
    let bytes = html.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(open) = memchr::memchr(b'<', &bytes[at..]).map(|i| at + i) {
            let rest = &bytes[open..];
            if rest.starts_with(b"<!--") {
                let end = memchr::memmem::find(&rest[4..], b"-->").map_or(bytes.len(), |i| open + 4 + i + 3);
                at = end;
                return html.get(open..end);
            }
            at = open + 1;
            for element in ["style", "script"] {
                let named = rest.get(1..1 + element.len()).is_some_and(|n| n.eq_ignore_ascii_case(element.as_bytes()));
                let ends_name =
                    rest.get(1 + element.len()).is_none_or(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/');
                if named && ends_name {
                    // Past the element's closing tag (`</style`, any case), or to the end.
                    at = crate::html_text::end_tag(&html[open..], element)
                        .map_or(bytes.len(), |i| open + i + 2 + element.len());
                }
            }
        }
        at = bytes.len();
        None
    })
}

/// HTML.pm's `anchor` texts: for each `<a>` element (with a target or not), the text in
/// it, tags left out (a style sheet's or a script's content too), with `<img>\n` where an
/// image stands, as HTML.pm writes it (`__HTML_LINK_IMAGE` looks for that). An anchor ends
/// at its `</a>` or at the next `<a>`; entities are not decoded. At most
/// [`MAX_ANCHORS`].
fn html_anchors(html: &str) -> Vec<String> {
    let bytes = html.as_bytes();
    let mut anchors = Vec::new();
    let mut current: Option<String> = None;
    let mut at = 0;
    while let Some(open) = memchr::memchr(b'<', &bytes[at..]).map(|i| at + i) {
        if let Some(text) = current.as_mut() {
            text.push_str(&html[at..open]);
        }
        let rest = &bytes[open..];
        if rest.starts_with(b"<!--") {
            at = memchr::memmem::find(&rest[4..], b"-->").map_or(bytes.len(), |i| open + 4 + i + 3);
            continue;
        }
        let closing = rest.get(1) == Some(&b'/');
        let name_start = open + 1 + usize::from(closing);
        let name_len = bytes[name_start..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        let name = &html[name_start..name_start + name_len];
        at = memchr::memchr(b'>', &bytes[open..]).map_or(bytes.len(), |i| open + i + 1);
        if name.eq_ignore_ascii_case("a") {
            anchors.extend(current.take());
            if !closing {
                current = Some(String::new());
            }
        } else if name.eq_ignore_ascii_case("img") && !closing {
            if let Some(text) = current.as_mut() {
                text.push_str("<img>\n");
            }
        } else if !closing && (name.eq_ignore_ascii_case("style") || name.eq_ignore_ascii_case("script")) {
            at = past_end_tag(html, at, name);
        }
        if anchors.len() >= MAX_ANCHORS {
            return anchors;
        }
    }
    if let Some(mut text) = current {
        text.push_str(&html[at.min(html.len())..]);
        anchors.push(text);
    }
    anchors
}

/// Where a `<style>` or `<script>` element whose start tag ends at `after_tag` ends: just
/// past its end tag (`</style ...>`, any case), or at the end of `html` when it has none.
fn past_end_tag(html: &str, after_tag: usize, element: &str) -> usize {
    crate::html_text::end_tag(&html[after_tag..], element)
        .and_then(|i| memchr::memchr(b'>', &html.as_bytes()[after_tag + i..]).map(|j| after_tag + i + j + 1))
        .unwrap_or(html.len())
}

/// The most anchors [`html_anchors`] reads from one HTML part.
const MAX_ANCHORS: usize = 1000;

/// HTMLEval's `html_eval` comparison, `OP NUMBER` (`<`, `<=`, `>`, `>=`, `==`, `!=`);
/// anything else, which SpamAssassin refuses too, never holds.
fn compare(value: f64, comparison: &str) -> bool {
    let comparison = comparison.trim();
    let split = comparison.find(|c: char| !matches!(c, '<' | '>' | '=' | '!')).unwrap_or(comparison.len());
    let (operator, number) = comparison.split_at(split);
    let Ok(number) = number.trim().parse::<f64>() else { return false };
    match operator {
        "<" => value < number,
        "<=" => value <= number,
        ">" => value > number,
        ">=" => value >= number,
        "==" => value == number,
        "!=" => value != number,
        _ => false,
    }
}

/// The registered domain of `host` (lower case), if it is a domain with a dot, as
/// SpamAssassin's `trim_domain` and `is_domain_valid` take it.
fn registered_domain(host: &str) -> Option<String> {
    let domain = crate::analysis::domain::organizational_domain(&host.to_ascii_lowercase()).to_owned();
    domain.contains('.').then_some(domain)
}

/// SpamAssassin's FreeMail plugin's test: the address's domain is a `freemail_domains`
/// entry, exact or with its wildcards (`*`: any characters but a dot, `?`: one
/// character; `yahoo.*` is yahoo.com, not mail.yahoo.com), and the address is none of the
/// role addresses the plugin never counts (abuse@, support@, undisclosed-recipients@ ...).
pub fn is_freemail(domains: &[String], address: &str) -> bool {
    let address = address.trim().to_ascii_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else { return false };
    if local.is_empty() || domain.is_empty() || FREEMAIL_ROLE_ADDRESS.is_match(&address) {
        return false;
    }
    domains.iter().any(|d| wildcard_matches(d.as_bytes(), domain.as_bytes()))
}

/// The plugin's built-in list of addresses that are not a person's (`$email_whitelist`
/// in FreeMail.pm, as written there).
static FREEMAIL_ROLE_ADDRESS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"^(?:abuse|support|sales|info|helpdesk|contact|kontakt|(?:post|host|domain)master|undisclosed.*|request-[a-f0-9]{16}|bounced?-|[a-f0-9]{8}(?:\.[a-f0-9]{8}|-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})|.+=.+=.+)@",
    )
    .expect("a valid pattern")
});

/// `*` matches a run of characters without a dot, `?` any one character.
fn wildcard_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            for i in 0..=text.len() {
                if wildcard_matches(rest, &text[i..]) {
                    return true;
                }
                if text.get(i) == Some(&b'.') {
                    return false;
                }
            }
            false
        }
        Some((b'?', rest)) => !text.is_empty() && wildcard_matches(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && wildcard_matches(rest, &text[1..]),
    }
}

/// WLBLEval's list test: the address (lower case) matches one of the list's patterns, in
/// which `*` stands for any characters (dots too) and `?` for one, anchored at both ends.
pub fn in_address_list(patterns: &[String], address: &str) -> bool {
    let address = address.trim().to_lowercase();
    !address.is_empty() && patterns.iter().any(|p| glob_matches(p.as_bytes(), address.as_bytes()))
}

/// Iterative, going back only to the last `*`: at most pattern length x text length steps,
/// however many stars a pattern has and however long a crafted address is.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                last_star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                Some((star, from)) => {
                    p = star + 1;
                    t = from + 1;
                    last_star = Some((star, from + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// PerMsgStatus's `all_from_addrs`: the first Resent-From address when there is one, else
/// the From addresses and the envelope senders' (Envelope-Sender, Resent-Sender,
/// X-Envelope-From, the envelope's), runs of dots squeezed to one.
fn all_from_addresses(view: &MessageView) -> Vec<String> {
    let resent: Vec<String> = header_addresses(view, "resent-from").into_iter().filter(|a| !a.is_empty()).collect();
    let addresses = if let Some(first) = resent.into_iter().next() {
        vec![first]
    } else {
        ["from", "envelope-sender", "resent-sender", "x-envelope-from", "EnvelopeFrom"]
            .iter()
            .flat_map(|name| header_addresses(view, name))
            .filter(|a| !a.is_empty())
            .collect()
    };
    addresses
        .into_iter()
        .map(|a| {
            let mut squeezed = String::with_capacity(a.len());
            for c in a.chars() {
                if !(c == '.' && squeezed.ends_with('.')) {
                    squeezed.push(c);
                }
            }
            squeezed
        })
        .collect()
}

fn header_addresses(view: &MessageView, name: &str) -> Vec<String> {
    if name.eq_ignore_ascii_case("EnvelopeFrom") {
        return vec![view.envelope_from.clone()];
    }
    view.header_fields(name)
        .flat_map(|h| {
            if h.addresses.is_empty() {
                vec![h.raw.trim_matches(['<', '>']).to_owned()]
            } else {
                h.addresses.iter().map(|(_, a)| a.clone()).collect()
            }
        })
        .collect()
}

/// SpamAssassin's `Name:addr`: the first address of the header ("" when there is none).
/// HTTPSMismatch's test on one HTML part: each link target with text (an http(s) one, not
/// to an address) counts; a hit is a text showing `https://` and a host whose registered
/// domain (an address as it is) is not the target's.
fn https_http_mismatch(html: &str, min: f64, max: Option<f64>) -> bool {
    static SHOWN: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)https://([^\s/:?#]+)").expect("a fixed pattern"));
    static TARGET: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)^https?://([^/:?#]+)").expect("a fixed pattern"));
    // SpamAssassin keys the anchors by target: each target once, with every text it has,
    // white space too (a picture's link with a line break beside it counts; one with
    // nothing but the picture does not), and a style sheet or script is no text.
    let mut targets: Vec<(String, Vec<String>)> = Vec::new();
    for (href, inner) in crate::analysis::links::anchor_parts(html) {
        let text = text_outside_tags(inner);
        if text.is_empty() {
            continue;
        }
        match targets.iter_mut().find(|(h, _)| *h == href) {
            Some((_, texts)) => texts.push(text),
            None => targets.push((href, vec![text])),
        }
    }
    let mut hit = false;
    let mut anchors = 0.0;
    for (href, texts) in &targets {
        let Some(host) = TARGET.captures(href).and_then(|c| c.get(1)) else { continue };
        if host.as_str().parse::<std::net::Ipv4Addr>().is_ok() {
            continue;
        }
        let Some(target) = registered_domain(host.as_str()) else { continue };
        anchors += 1.0;
        hit |= texts.iter().any(|text| {
            SHOWN.captures(text).and_then(|c| c.get(1)).is_some_and(|shown| {
                let shown = shown.as_str();
                let domain = match shown.parse::<std::net::IpAddr>() {
                    Ok(_) => Some(shown.to_owned()),
                    Err(_) => registered_domain(shown),
                };
                domain.is_some_and(|d| d != target)
            })
        });
    }
    hit && anchors >= min && max.is_none_or(|max| anchors < max)
}

/// The text of an HTML fragment: tags left out, and what `<style>` and `<script>` elements
/// hold.
fn text_outside_tags(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut text = String::new();
    let mut at = 0;
    while at < html.len() {
        let Some(open) = html[at..].find('<').map(|i| at + i) else {
            text.push_str(&html[at..]);
            break;
        };
        text.push_str(&html[at..open]);
        let close = html[open..].find('>').map_or(html.len(), |i| open + i + 1);
        at = close;
        for element in ["style", "script"] {
            let opens = bytes
                .get(open + 1..open + 1 + element.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(element.as_bytes()))
                && !bytes.get(open + 1 + element.len()).is_some_and(u8::is_ascii_alphanumeric);
            if opens {
                at = past_end_tag(html, close, element);
            }
        }
    }
    text
}

/// WLBLEval's `_check_uri_host_listed` for one list: some URI's host (mailto: aside), or
/// the nearest domain above it that the list names, is listed and not excepted. An address
/// literal or IPv4 host is looked up as it is.
fn uri_host_listed(view: &MessageView, listed: &std::collections::BTreeMap<String, bool>) -> bool {
    view.uri_list.iter().filter_map(|uri| uri_host(uri)).any(|host| {
        let literal = host.parse::<std::net::IpAddr>().is_ok();
        let mut keys: Vec<&str> = vec![host.as_str()];
        if !literal {
            let mut rest = host.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                keys.push(parent);
                rest = parent;
            }
            // As Perl's sanity limit: at most the last eleven names.
            let excess = keys.len().saturating_sub(11);
            keys.drain(..excess);
        }
        keys.iter().find_map(|key| listed.get(*key)).copied().unwrap_or(false)
    })
}

/// The host of a URI with an authority (`scheme://[user@]host[:port]/...`), lower case,
/// without the brackets of an address literal; None for `mailto:` and the like.
fn uri_host(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = match host.strip_prefix('[') {
        Some(literal) => literal.split(']').next()?,
        None => host.split(':').next()?,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

fn first_address(view: &MessageView, name: &str) -> String {
    header_addresses(view, name).into_iter().next().unwrap_or_default()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Perl's `\b` between two characters (None: the text's edge): a word character on one
/// side and not on the other.
fn word_boundary(before: Option<char>, after: Option<char>) -> bool {
    before.is_some_and(is_word_char) != after.is_some_and(is_word_char)
}

/// HeaderEval's `check_for_to_in_subject`: `address`, the To address in the subject as a
/// word; `user`, the subject is the To's user name, or starts with it and a mark
/// (`bob: your invoice`), or is `Re: bob`, or `, bob!`.
fn to_in_subject(view: &MessageView, test: &str) -> bool {
    let to = first_address(view, "to");
    if to.is_empty() {
        return false;
    }
    let subject = view.header_fields("subject").next().map_or("", |h| h.decoded.as_str());
    let subject = subject.strip_suffix('\n').unwrap_or(subject);
    let lower = subject.to_lowercase();
    if test == "address" {
        let to = to.to_lowercase();
        return lower.match_indices(to.as_str()).any(|(at, _)| {
            word_boundary(lower[..at].chars().next_back(), to.chars().next())
                && word_boundary(to.chars().next_back(), lower[at + to.len()..].chars().next())
        });
    }
    let user = to.split('@').next().unwrap_or_default();
    if user.is_empty() {
        return false;
    }
    let user_lower = user.to_lowercase();
    let is_mark = |c: char| ",:;!?-".contains(c);
    // `Re: bob`, `Fw: dear bob` (one word between)
    let reply = ["re:", "fw:"].iter().any(|prefix| {
        lower.strip_prefix(prefix).is_some_and(|rest| {
            let rest = rest.trim_start();
            rest == user_lower
                || rest.split_once(char::is_whitespace).is_some_and(|(word, after)| {
                    !word.is_empty() && word.chars().all(is_word_char) && after.trim_start() == user_lower
                })
        })
    });
    // `bob: your invoice`, `bob, ...`: the user name as written, case and all
    let marked = subject.strip_prefix(user).is_some_and(|rest| {
        let mut chars = rest.trim_start().chars();
        chars.next().is_some_and(is_mark) && chars.next().is_none_or(char::is_whitespace)
    });
    let alone = lower == user_lower;
    let addressed = lower.strip_prefix(',').is_some_and(|rest| {
        rest.trim_start().strip_prefix(user_lower.as_str()).is_some_and(|r| {
            let mut chars = r.chars();
            chars.next().is_some_and(is_mark) && chars.next().is_none()
        })
    });
    reply || marked || alone || addressed
}

/// Runs one call: the hit count (0 or 1).
pub fn run(call: &EvalCall, view: &MessageView, ctx: &EvalContext<'_>) -> f64 {
    use EvalFunction::*;
    let a = &call.args;
    let truth = |b: bool| if b { 1.0 } else { 0.0 };
    truth(match call.function {
        // HeaderEval: neither To nor Apparently-To is there. A field that is there with
        // nothing after its colon does not count as missing: SpamAssassin's `get` keeps its
        // line end, so the value is not empty.
        MissingToHeader => view.header_fields("to").chain(view.header_fields("apparently-to")).next().is_none(),
        HeaderCountRange => {
            let name = a.first().map(String::as_str).unwrap_or("");
            let n = view.header_fields(name).count() as f64;
            n >= num(a, 1, 0.0) && n <= num(a, 2, f64::MAX)
        }
        SubjectIsAllCaps => {
            let subject = view.header_fields("subject").next().map(|h| h.decoded.clone()).unwrap_or_default();
            let words = subject.split_whitespace().count();
            // As HeaderEval: at least two words of letters, none lower case.
            words > 1
                && subject.chars().any(|c| c.is_alphabetic())
                && !subject.chars().any(|c| c.is_lowercase())
                && subject.chars().filter(|c| c.is_alphabetic()).count() >= 10
        }
        IllegalChars => {
            illegal_chars(view, a.first().map(String::as_str).unwrap_or(""), num(a, 1, 0.0), num(a, 2, 1.0))
        }
        ShiftedDate => match ctx.date_diff {
            None => false,
            Some(diff) => within(a, diff as f64 / 3600.0),
        },
        FreemailFrom => header_addresses(view, "from").iter().any(|addr| is_freemail(ctx.freemail_domains, addr)),
        FreemailHeader => {
            let name = a.first().map(String::as_str).unwrap_or("");
            header_addresses(view, name).iter().any(|addr| {
                is_freemail(ctx.freemail_domains, addr) && call.pattern.as_ref().is_none_or(|re| re.is_match(addr))
            })
        }
        FreemailReplyTo => {
            // A Reply-To (or, for 'reply', a body address) at a freemail domain other than
            // the From's.
            let from: Vec<String> = header_addresses(view, "from");
            let reply: Vec<String> = header_addresses(view, "reply-to");
            reply.iter().any(|r| {
                is_freemail(ctx.freemail_domains, r)
                    && !from.iter().any(|f| f.eq_ignore_ascii_case(r))
                    && (a.first().is_some_and(|m| m == "replyto") || !from.is_empty())
            })
        }
        ForMime => match a.first().map(String::as_str).unwrap_or("") {
            "mime_attachment" => view.parts.iter().any(|p| p.disposition.contains("attachment")),
            // An ISO charset name that is neither ISO-8859-n nor ISO-2022-JP/KR.
            "mime_bad_iso_charset" => view.parts.iter().any(|p| {
                static BAD_ISO: std::sync::LazyLock<[regex::Regex; 2]> = std::sync::LazyLock::new(|| {
                    [r"(?i)iso-\S+-\S+\b", r"(?i)iso-(?:8859-\d{1,2}|2022-(?:jp|kr))\b"]
                        .map(|p| regex::Regex::new(p).expect("a fixed pattern"))
                });
                BAD_ISO[0].is_match(&p.charset) && !BAD_ISO[1].is_match(&p.charset)
            }),
            "mime_base64_count" => view.parts.iter().any(|p| p.transfer_encoding == "base64"),
            "mime_qp_count" => view.parts.iter().any(|p| p.transfer_encoding == "quoted-printable"),
            // As MIMEEval: ASCII text (no charset, or an US-ASCII name) that needs no base64
            // yet has it, in a part without Content-Disposition attachment or inline.
            "mime_base64_encoded_text" => view.parts.iter().any(|p| {
                p.transfer_encoding.contains("base64")
                    && p.content_type.starts_with("text")
                    && (p.charset.is_empty() || US_ASCII_NAMES.iter().any(|n| p.charset.contains(n)))
                    && !(p.disposition.starts_with("attachment") || p.disposition.starts_with("inline"))
            }),
            // Set only when `ok_locales` names locales: SpamAssassin's default, `all`, allows
            // every charset; this engine keeps that default (an `ok_locales` line in the
            // rule files is read and not applied).
            "mime_faraway_charset" => false,
            _ => false,
        },
        // HTMLEval on the `length` result, which HTML.pm sets to the length of each HTML
        // part's decoded source in characters (not bytes: checked with SpamAssassin on 599
        // characters written in 1,099 bytes of UTF-8): `html_eval` when some part's length
        // satisfies the comparison (`< 384`), `html_range` when some part's is above the
        // minimum and at most the maximum (`inf` or none: no maximum).
        HtmlEval => {
            let comparison = a.get(1).map(String::as_str).unwrap_or("");
            view.html.iter().any(|html| compare(html.chars().count() as f64, comparison))
        }
        HtmlRange => {
            let min = num(a, 1, 0.0);
            let max = optional_num(a, 2);
            view.html
                .iter()
                .map(|html| html.chars().count() as f64)
                .any(|length| length > min && max.is_none_or(|max| length <= max))
        }
        // HTMLEval: some HTML comment (`<!-- ... -->`, as HTML::Parser reports it: not inside
        // a style sheet or a script) matches the pattern (`<!.*?>`, whose `.` stops at a line
        // end, as Perl's does); or some anchor's text (`anchor`, [`html_anchors`]); or some
        // title (`title`: `__HTML_TITLE_120`).
        HtmlTextMatch => call.pattern.as_ref().is_some_and(|pattern| match a.first().map(String::as_str) {
            Some("title") => view.html_titles.iter().flatten().any(|title| pattern.is_match(title)),
            Some("anchor") => view.html.iter().any(|html| html_anchors(html).iter().any(|text| pattern.is_match(text))),
            _ => view.html.iter().any(|html| html_comments(html).any(|c| pattern.is_match(c))),
        }),
        // MIMEEval: a text/plain part whose charset is US-ASCII or unnamed has, as written
        // (before its transfer encoding is undone), a NUL, a carriage return outside a line
        // end, or a byte above 127 ([`MessageView::ascii_text_illegal`]).
        AsciiTextIllegal => view.ascii_text_illegal,
        // HTMLEval: some HTML part has a title more than the argument times as long as the
        // Subject (as SpamAssassin's `get` gives it: with its line feed; bytes, as there).
        // No Subject, no hit.
        HtmlTitleSubjectRatio => {
            let subject: usize = view.header_fields("subject").map(|h| h.decoded.len() + 1).sum();
            let ratio = num(a, 0, 0.0);
            subject > 0
                && view.html_titles.iter().any(|titles| {
                    titles
                        .iter()
                        .filter(|t| !t.is_empty() && t.as_str() != "0")
                        .any(|t| t.len() as f64 / subject as f64 > ratio)
                })
        }
        // MIMEEval: some part, attached or not, is text/html (`__MIME_HTML`, which
        // `FORGED_OUTLOOK_TAGS` and `RATWARE_NO_RDNS` read).
        MimeHtml => view.parts.iter().any(|p| p.content_type == "text/html"),
        MimeHtmlOnly => {
            let texts: Vec<&str> = view
                .parts
                .iter()
                .filter(|p| p.content_type.starts_with("text/") && !p.is_attachment)
                .map(|p| p.content_type.as_str())
                .collect();
            !texts.is_empty() && texts.iter().all(|t| *t == "text/html")
        }
        // HTMLEval: HTML.pm counts a tag in `inside` at its start tag or its end tag, so a
        // lone `</html>` makes `html` exist too (checked with SpamAssassin: a text/html part
        // with no `<html>` and a closing `</html>` hits `__TAG_EXISTS_HTML`).
        HtmlTagExists => {
            let name = a.first().map(String::as_str).unwrap_or("").to_ascii_lowercase();
            let (start, end) = (format!("<{name}"), format!("</{name}"));
            view.html.iter().any(|h| {
                let lower = h.to_ascii_lowercase();
                [&start, &end].iter().any(|tag| {
                    lower.match_indices(tag.as_str()).any(|(i, _)| {
                        lower
                            .as_bytes()
                            .get(i + tag.len())
                            .is_none_or(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
                    })
                })
            })
        }
        HtmlTest => match a.first().map(String::as_str).unwrap_or("") {
            "html" => !view.html.is_empty(),
            "embeds" => view.html.iter().any(|h| {
                let l = h.to_ascii_lowercase();
                l.contains("<embed") || l.contains("<object") || l.contains("<applet")
            }),
            "form_action_mailto" => view.html.iter().any(|h| h.to_ascii_lowercase().contains("action=\"mailto:")),
            _ => false,
        },
        // As SpamAssassin's HTMLEval: some HTML part that has an <img> tag and whose length
        // (of the HTML as written, tags included: what HTML.pm's parse counts) lies in
        // (min, max]. Not the rendered text of the whole message.
        // The length first: seven rules ask, and only a part in range is worth lower-casing.
        HtmlImageOnly => view.html.iter().any(|h| {
            let len = h.len() as f64;
            len > num(a, 0, 0.0) && len <= num(a, 1, f64::MAX) && h.to_ascii_lowercase().contains("<img")
        }),
        // BodyEval: the raw body's bytes (everything after the header section, MIME
        // structure and encodings included), at most the argument: `__KAM_BODY_LENGTH_LT_128`
        // holds for a body of 128 bytes too, as in SpamAssassin.
        BodyLength => (view.pristine_body_length as f64) <= num(a, 0, 0.0),
        // HTMLEval: some HTML part in which the tag was seen and whose count of start tags
        // less end tags (HTML.pm's `inside`) compares as asked.
        HtmlTagBalance => {
            let tag = a.first().map(String::as_str).unwrap_or("");
            call.comparison.is_some_and(|c| view.html_tags.iter().any(|tags| tags.get(tag).is_some_and(|n| c.holds(n))))
        }
        // BodyEval: the highest share of spaces among the body's lines (`>= min && < max`).
        TvdVerticalWords => view.vertical_words_percent().is_some_and(|pct| {
            let max = num(a, 1, 101.0);
            pct >= num(a, 0, 0.0) && pct < if max >= 100.0 { 101.0 } else { max }
        }),
        ForUppercase => {
            // `> min && <= max`, as MIMEEval compares.
            view.uppercase_percent().is_some_and(|upper| upper > num(a, 0, 0.0) && upper <= num(a, 1, 100.0))
        }
        ShortUrl => view.uri_list.iter().any(|u| {
            let host = u
                .split("://")
                .nth(1)
                .unwrap_or("")
                .split(['/', '?', '#', ':'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            ctx.url_shorteners.contains(&host)
        }),
        // As HeaderEval: every relay trusted (and at least one), none at all, or a Received
        // header with a sending host but no address.
        AllTrusted => {
            !view.relays.trusted.is_empty() && view.relays.untrusted.is_empty() && view.relays.unparseable == 0
        }
        NoRelays => view.relays.trusted.is_empty() && view.relays.untrusted.is_empty() && view.relays.unparseable == 0,
        RelaysUnparseable => view.relays.unparseable > 0,
        // WLBLEval: a From address (all_from_addrs) or the first Reply-To address in the
        // named `enlist_addrlist`; an unknown list is no hit.
        FromInList => ctx
            .address_lists
            .get(a.first().map(String::as_str).unwrap_or(""))
            .is_some_and(|list| all_from_addresses(view).iter().any(|address| in_address_list(list, address))),
        ReplyToInList => ctx.address_lists.get(a.first().map(String::as_str).unwrap_or("")).is_some_and(|list| {
            header_addresses(view, "reply-to").first().is_some_and(|address| in_address_list(list, address))
        }),
        OutlookMessageId => outlook_message_id_is_fake(view),
        ToInSubject => to_in_subject(view, a.first().map(String::as_str).unwrap_or("")),
        // HeaderEval: a line of the header block with a `%TEMPLATE` a mass mailer left
        // unfilled, unless it is the first line of a header that quotes people's text (To,
        // Subject, ...); as there, each line as written, a fold's continuation on its own.
        UnresolvedTemplate => {
            const QUOTING: &[&str] = &[
                "x-vms-to",
                "x-uidl",
                "x-face",
                "to",
                "cc",
                "from",
                "subject",
                "references",
                "in-reply-to",
                "message-id",
                "x-message-id",
                "resent-message-id",
                "x-original-message-id",
            ];
            view.header_block().split(|b| *b == b'\n').any(|line| {
                let template = line.windows(3).any(|w| {
                    w[0] == b'%'
                        && w[1].is_ascii_uppercase()
                        && (w[2].is_ascii_uppercase() || matches!(w[2], b'_' | b'-'))
                });
                let quoting = QUOTING.iter().any(|name| {
                    line.len() > name.len()
                        && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                        && line[name.len()] == b':'
                });
                template && !quoting
            })
        }
        // HeaderEval: the envelope sender is the From address (case aside; two empty ones
        // are equal too, as there).
        EnvelopeFromMatchesFrom => {
            first_address(view, "EnvelopeFrom").eq_ignore_ascii_case(&first_address(view, "from"))
        }
        // Ratware: the envelope sender spells the recipient's domain and user
        // (`example.com.bob@...` for bob@example.com), an SRS address aside.
        RatwareEnvelopeFrom => {
            let (to, envelope) = (first_address(view, "to"), first_address(view, "EnvelopeFrom").to_ascii_lowercase());
            let srs = envelope.len() > 4
                && envelope.starts_with("srs")
                && envelope.as_bytes()[3].is_ascii_digit()
                && matches!(envelope.as_bytes()[4], b'=' | b'+' | b'-');
            match to.split_once('@') {
                Some((user, domain)) if !srs && !envelope.is_empty() && !user.is_empty() => {
                    let user = user.to_ascii_lowercase();
                    registered_domain(domain).is_some_and(|domain| {
                        envelope.match_indices(domain.as_str()).any(|(at, _)| {
                            let mut chars = envelope[at + domain.len()..].chars();
                            word_boundary(envelope[..at].chars().next_back(), domain.chars().next())
                                && chars.next().is_some_and(|c| c != '\n')
                                && chars.as_str().strip_prefix(user.as_str()).is_some_and(|r| r.starts_with('@'))
                        })
                    })
                }
                _ => false,
            }
        }
        // WLBLEval: the envelope sender's registered domain is that of the reverse DNS of the
        // first untrusted relay, or, when every relay is trusted, of one of them.
        MailFromMatchesRelay => {
            let sender = first_address(view, "EnvelopeFrom").to_ascii_lowercase();
            let domain = sender.rsplit_once('@').map(|(_, d)| d).filter(|d| d.contains('.'));
            let relays: Vec<&super::relays::Relay> = match view.relays.untrusted.first() {
                Some(first) => vec![first],
                None => view.relays.trusted.iter().collect(),
            };
            domain.is_some_and(|domain| {
                let organization = crate::analysis::domain::organizational_domain(domain);
                relays.iter().filter(|relay| !relay.rdns.is_empty()).any(|relay| {
                    crate::analysis::domain::organizational_domain(&relay.rdns.to_ascii_lowercase()) == organization
                })
            })
        }
        // MIMEEval: the longest line of any base64-encoded part (its line feed counted) is
        // at least the first argument (Perl reads a missing one as 0) and, when there is a
        // second, at most that.
        Base64Length => {
            let longest = view.base64_line_length as f64;
            longest >= num(a, 0, 0.0) && optional_num(a, 1).is_none_or(|max| longest <= max)
        }
        // HTTPSMismatch: in some HTML part, a link's text shows `https://` and a domain other
        // than the one the link goes to, among at least the first argument (Perl's `||= 1`)
        // and fewer than the second of links with text.
        HttpsHttpMismatch => {
            let min = Some(num(a, 0, 0.0)).filter(|m| *m != 0.0).unwrap_or(1.0);
            view.html.iter().any(|html| https_http_mismatch(html, min, optional_num(a, 1)))
        }
        // WLBLEval: a URI's host, or a domain it is under, is on the named `enlist_uri_host`
        // list (the nearest name listed decides, so `!ok.example` excepts a host from a
        // listed `example`). BLOCK and WELCOME are the lists SpamAssassin's
        // `blocklist_uri_host` and `welcomelist_uri_host` fill; those settings are left to
        // the tenant's policy here, so only `enlist_uri_host (BLOCK) ...` lines fill them.
        UriHostListed | UriHostInBlocklist | UriHostInWelcomelist => {
            let list = match call.function {
                UriHostInBlocklist => "BLOCK",
                UriHostInWelcomelist => "WELCOME",
                _ => a.first().map(String::as_str).unwrap_or(""),
            };
            ctx.uri_host_lists.get(list).is_some_and(|listed| uri_host_listed(view, listed))
        }
        // Ratware: a Message-ID of 28 capitals, a dot and an address, which the From shows
        // behind a quoted display name (`"Sales" <address>`).
        RatwareNameId => view.message_ids().any(|ids| {
            ids.match_indices('<').any(|(at, _)| {
                let id = &ids[at + 1..];
                let bytes = id.as_bytes();
                let Some(end) = id.find('>') else { return false };
                if end <= 29 || !bytes[..28].iter().all(u8::is_ascii_uppercase) || bytes[28] != b'.' {
                    return false;
                }
                let shown = format!("<{}>", &id[29..end]);
                view.header_fields("from").any(|from| {
                    from.raw.match_indices(shown.as_str()).any(|(at, _)| {
                        let before = from.raw[..at].trim_end();
                        before
                            .strip_suffix('"')
                            .and_then(|name| name.rfind('"').map(|open| open + 1 < name.len()))
                            .unwrap_or(false)
                    })
                })
            })
        }),
        // RelayEval: an untrusted relay said HELO with a public IPv4 address outside the
        // /24 of the address it connected from.
        HeloIpMismatch => view.relays.untrusted.iter().any(|relay| {
            let public_v4 = |s: &str| {
                s.parse::<std::net::Ipv4Addr>().ok().filter(|ip| !super::relays::is_private(std::net::IpAddr::V4(*ip)))
            };
            match (public_v4(&relay.helo), public_v4(&relay.ip)) {
                (Some(helo), Some(ip)) => helo != ip && helo.octets()[..3] != ip.octets()[..3],
                _ => false,
            }
        }),
        ForgedYahooReceived => forged_yahoo_received(view),
        SortedRecipients => {
            let addresses = recipients(view);
            let mut sorted = addresses.clone();
            sorted.sort();
            addresses.len() >= SORTED_RECIPIENTS && addresses == sorted
        }
        SimilarRecipients => within(a, recipients_similarity(&recipients(view))),
    })
}

/// HeaderEval's `check_illegal_chars`: the header as written (`ALL`: the whole header
/// block) holds at least `count` bytes that RFC 2045 does not allow there (non-ASCII, C0
/// controls but TAB, LF and CR), and at least `ratio` of its length. Valid UTF-8 without
/// controls is legal (SpamAssassin 4); one cent, pound or registered sign in a Subject is
/// forgiven.
fn illegal_chars(view: &MessageView, name: &str, ratio: f64, count: f64) -> bool {
    let text: std::borrow::Cow<'_, [u8]> = if name == "ALL" {
        view.header_block().into()
    } else {
        let mut text = Vec::new();
        for h in view.header_fields(name) {
            text.extend_from_slice(h.raw_bytes.as_deref().unwrap_or(h.raw.as_bytes()));
            text.push(b'\n');
        }
        text.into()
    };
    if !text.iter().any(|b| !b.is_ascii_whitespace()) {
        return false;
    }
    let is_control = |b: &u8| matches!(b, 0x00..=0x08 | 0x0b | 0x0c | 0x0e..=0x1f);
    if !text.is_ascii() && std::str::from_utf8(&text).is_ok() && !text.iter().any(is_control) {
        return false;
    }
    let mut illegal = text.iter().filter(|b| is_control(b) || **b >= 0x7f).count();
    if illegal > 0 && name.eq_ignore_ascii_case("subject") {
        let exempt = text.iter().filter(|b| matches!(b, 0xa2 | 0xa3 | 0xae)).count();
        if exempt == 1 {
            illegal -= 1;
        }
    }
    illegal as f64 / text.len() as f64 >= ratio && illegal as f64 >= count
}

/// HeaderEval's `check_for_forged_yahoo_received_headers`: From a yahoo.com address, yet
/// no Received line Yahoo's own servers write (webmail, SMTP submission, groups, its
/// mailers) and no relay whose reverse DNS is Yahoo's.
fn forged_yahoo_received(view: &MessageView) -> bool {
    static YAHOO_OWN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(concat!(
            r"by web\S+\.mail\S*\.yahoo\.com via HTTP",
            r"|by sonic\S+\.consmr\.mail\S*\.yahoo\.com with HTTP",
            r"|by smtp\S+\.yahoo\.com with SMTP",
            r"|from \[[0-9a-fA-F.:]+\] by \S+\.(?:groups|scd|dcn)\.yahoo\.com with NNFMP",
            r"|by \w+\.\w+\.yahoo\.com \(\d+\.\d+\.\d+/\d+\.\d+\.\d+\)(?: with ESMTP)? id \w+",
        ))
        .expect("a fixed pattern")
    });
    static YAHOO_RDNS: std::sync::LazyLock<[regex::Regex; 2]> = std::sync::LazyLock::new(|| {
        [r" rdns=\S+\.yahoo\.com ", r"^[^\]]+ rdns=\S+\.yahoo\.com "]
            .map(|p| regex::Regex::new(p).expect("a fixed pattern"))
    });
    let Some(from) = header_addresses(view, "from").into_iter().next() else { return false };
    if !from.to_ascii_lowercase().ends_with("yahoo.com") {
        return false;
    }
    let mut received = view.joined("received");
    let resent = |name: &str| view.header_fields(name).any(|h| !h.decoded.is_empty());
    if resent("resent-from") && resent("resent-to") {
        let x_received = view.joined("x-received");
        if !x_received.is_empty() {
            received = x_received;
        }
    }
    let received = received.split_whitespace().collect::<Vec<_>>().join(" ");
    let trusted = view.relays.pseudo_header(super::relays::RelayList::Trusted);
    let untrusted = view.relays.pseudo_header(super::relays::RelayList::Untrusted);
    if YAHOO_RDNS[0].is_match(&trusted) || YAHOO_RDNS[1].is_match(&untrusted) || YAHOO_OWN.is_match(&received) {
        return false;
    }
    // Yahoo's "mail this story to a friend".
    let news_to_a_friend =
        YAHOO_NEWS_MAILER.is_match(&received) && from.to_ascii_lowercase().ends_with("@reply.yahoo.com");
    !news_to_a_friend && !gated_through_received_header_remover(view)
}

static YAHOO_NEWS_MAILER: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"\bmailer\d+\.bulk\.scd\.yahoo\.com\b").expect("a fixed pattern"));

/// HeaderEval's `gated_through_received_hdr_remover`: the Received lines cannot be read
/// for forgeries when there are none, or when an ezmlm list or MSN groups removed them.
fn gated_through_received_header_remover(view: &MessageView) -> bool {
    if view.header_fields("received").next().is_none() {
        return true;
    }
    static EZMLM: std::sync::LazyLock<[regex::Regex; 3]> = std::sync::LazyLock::new(|| {
        [
            r"(?m)^contact \S+@\S+; run by ezmlm$",
            r"(?m)^mailing list \S+@\S+",
            r"qmail \d+ invoked (?:from network|by .{3,20})\); \d+ ... \d+",
        ]
        .map(|p| regex::Regex::new(p).expect("a fixed pattern"))
    });
    let received = view.joined("received");
    (EZMLM[0].is_match(&view.joined("mailing-list"))
        && EZMLM[1].is_match(&view.joined("delivered-to"))
        && EZMLM[2].is_match(&received))
        || MSN_GROUPS.is_match(&received)
}

static MSN_GROUPS: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"from groups\.msn\.com \(\S+\.msn\.com ").expect("a fixed pattern"));

/// HeaderEval's `_check_recipients` constants ("best experimentally derived values").
const SORTED_RECIPIENTS: usize = 7;
const SIMILAR_RECIPIENTS: usize = 5;
const SIMILAR_PREFIX: usize = 2;

/// The recipients `_check_recipients` compares: To and Cc's addresses (Bcc's too while they
/// are fewer than five), repeats next to each other dropped, at most 256.
fn recipients(view: &MessageView) -> Vec<String> {
    let mut inputs = [header_addresses(view, "to"), header_addresses(view, "cc")].concat();
    if inputs.len() < SIMILAR_RECIPIENTS {
        inputs.extend(header_addresses(view, "bcc"));
    }
    let mut out: Vec<String> = Vec::new();
    // Perl's `while (my $current = shift @inputs)` stops at an empty address.
    for address in inputs.into_iter().take_while(|a| !a.is_empty() && a != "0") {
        if out.last().is_none_or(|previous| !previous.eq_ignore_ascii_case(&address)) {
            out.push(address);
        }
        if out.len() == 256 {
            break;
        }
    }
    out
}

/// The share of recipient pairs whose user names start alike, or whose different host
/// names do (two characters each): spam's generated address lists.
fn recipients_similarity(addresses: &[String]) -> f64 {
    if addresses.len() < SIMILAR_RECIPIENTS {
        return 0.0;
    }
    let prefix = |s: &str| s.chars().take(SIMILAR_PREFIX).collect::<String>();
    let users: Vec<String> = addresses.iter().map(|a| prefix(a)).collect();
    let hosts: Vec<&str> = addresses.iter().map(|a| a.split_once('@').map_or("", |(_, h)| h)).collect();
    let host_prefixes: Vec<String> = hosts.iter().map(|h| prefix(h)).collect();
    let (mut hits, mut pairs) = (0usize, 0usize);
    for i in 0..addresses.len() {
        for j in i + 1..addresses.len() {
            hits += usize::from(users[i] == users[j]);
            hits += usize::from(host_prefixes[i] == host_prefixes[j] && hosts[i] != hosts[j]);
            pairs += 1;
        }
    }
    hits as f64 / pairs as f64
}

/// HeaderEval's `check_outlook_message_id`: a Message-ID in Outlook Express's form
/// (`<xxxxTTTTTTTT$xxxxxxxx$xxxxxxxx@`) carries a time stamp; spamware that imitates the
/// form writes one that fits neither the Date nor the Received time (250 units, about 30
/// hours, of slack). As in SpamAssassin, the Received time is read from all the Received
/// lines as one date (in practice the newest one's), and an unreadable date counts as 0.
fn outlook_message_id_is_fake(view: &MessageView) -> bool {
    static OUTLOOK_ID: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^<[0-9a-f]{4}([0-9a-f]{8})\$[0-9a-f]{8}\$[0-9a-f]{8}@").expect("a fixed pattern")
    });
    let Some(first_id) = view.message_ids().next() else { return false };
    let Some(token) = OUTLOOK_ID.captures(first_id).and_then(|c| i64::from_str_radix(&c[1], 16).ok()) else {
        return false;
    };
    const UNITS_PER_SECOND: f64 = 0.0023283064365387;
    const UNITS_AT_EPOCH: f64 = 27111902.8329849;
    const SLACK: i64 = 250;
    let fits = |time: i64| (token - (time as f64 * UNITS_PER_SECOND + UNITS_AT_EPOCH) as i64).abs() < SLACK;
    !fits(super::dates::parse_rfc822_date(&view.joined("date")).unwrap_or(0))
        && !fits(super::dates::parse_rfc822_date(&view.joined("received")).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_balance_comparisons_as_perl_would_evaluate_them() {
        let c = |e: &str| Comparison::parse(e);
        assert!(c("!= 0").unwrap().holds(2) && !c("!= 0").unwrap().holds(0));
        assert!(c("> 1").unwrap().holds(2) && !c(">1").unwrap().holds(1));
        assert!(c(">= 1").unwrap().holds(1) && c("<= -1").unwrap().holds(-3) && c("==2").unwrap().holds(2));
        assert!(c("< 3").unwrap().holds(2) && !c("< 3").unwrap().holds(3));
        for bad in ["", "0", "!= x", "= 0", "!= 0; system(1)", "=> 1"] {
            assert_eq!(c(bad), None, "{bad:?}");
        }
    }

    fn view(raw: &str) -> MessageView {
        let m = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        MessageView::new(&m, "bounce@mailer.example", &[])
    }

    fn ctx() -> EvalContext<'static> {
        static FREEMAIL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
            vec![
                "gmail.example".to_owned(),
                "*.free.example".to_owned(),
                "yahoo.*".to_owned(),
                "yahoo.co*.*".to_owned(),
            ]
        });
        static SHORT: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| vec!["bit.ly".to_owned()]);
        static LISTS: std::sync::LazyLock<std::collections::BTreeMap<String, Vec<String>>> =
            std::sync::LazyLock::new(|| {
                [
                    ("PAYPAL".to_owned(), vec!["*@paypal.com".to_owned(), "*@*.paypal.com".to_owned()]),
                    ("SUSP_NTLD".to_owned(), vec!["*@*.top".to_owned(), "*@*.xyz".to_owned()]),
                ]
                .into_iter()
                .collect()
            });
        type HostLists = std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>>;
        static HOSTS: std::sync::LazyLock<HostLists> = std::sync::LazyLock::new(|| {
            let susp = [("top", true), ("xyz", true), ("ok.xyz", false), ("198.51.100.9", true)];
            [("SUSP_URI_NTLD".to_owned(), susp.iter().map(|(h, v)| (h.to_string(), *v)).collect())]
                .into_iter()
                .collect()
        });
        EvalContext {
            freemail_domains: &FREEMAIL,
            url_shorteners: &SHORT,
            address_lists: &LISTS,
            uri_host_lists: &HOSTS,
            date_diff: Some(-7 * 3600),
        }
    }

    fn hit(call: &str, raw: &str) -> bool {
        let call = parse_call(call).unwrap().unwrap();
        run(&call, &view(raw), &ctx()) > 0.0
    }

    #[test]
    fn titles_and_ascii_text_as_spamassassin_reads_them() {
        let html = |subject: &str, body: &str| {
            format!("Subject: {subject}\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n{body}\r\n")
        };
        let title = "<html><head><title>this is a long title &amp; it goes on and on for a while</title></head>\
<body>hello world</body></html>";
        // 52 characters of title against "Hi there" and its line feed (9): above 3.5 times.
        // SpamAssassin 4.0.1 hits HTML_TITLE_SUBJ_DIFF on this message, and not on the same
        // text after an unclosed `<title>`.
        assert!(hit("eval:html_title_subject_ratio('3.5')", &html("Hi there", title)));
        assert!(!hit("eval:html_title_subject_ratio('3.5')", &html("A subject as long as the title is", title)));
        let unclosed = "<html><body>hello world</body></html>\r\n<title>\r\n<div>this is a long text that \
follows an unclosed title tag and goes on and on for a while</div>";
        assert!(!hit("eval:html_title_subject_ratio('3.5')", &html("Hi there", unclosed)));
        assert!(!hit("eval:html_title_subject_ratio('3.5')", &format!("Content-Type: text/html\r\n\r\n{title}")));
        assert!(hit("eval:html_text_match('title', '&\\s+it')", &html("Hi there", title)), "entities decoded");
        assert!(!hit("eval:html_text_match('title', '.{120}')", &html("Hi there", title)));

        let ascii = "eval:check_for_ascii_text_illegal()";
        assert!(hit(ascii, "Subject: x\r\n\r\nCaf\u{e9} au lait\r\n"), "no Content-Type: text/plain, US-ASCII");
        assert!(hit(ascii, "Content-Type: text/plain; charset=US-ASCII\r\n\r\nCaf\u{e9}\r\n"));
        assert!(hit(ascii, "Content-Type: text/plain\r\n\r\na\rb\r\n"), "a carriage return alone");
        assert!(!hit(ascii, "Content-Type: text/plain\r\n\r\nplain text\r\nin lines\r\n"));
        assert!(!hit(ascii, "Content-Type: text/plain; charset=utf-8\r\n\r\nCaf\u{e9}\r\n"));
        assert!(!hit(ascii, "Content-Type: text/html\r\n\r\n<p>Caf\u{e9}</p>\r\n"));
        // As written: quoted-printable keeps the part's bytes ASCII.
        assert!(!hit(
            ascii,
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9\r\n"
        ));
    }

    #[test]
    fn calls_parse() {
        assert_eq!(
            parse_call("eval:check_header_count_range('Content-Type','2','999')").unwrap().unwrap().args,
            vec!["Content-Type", "2", "999"]
        );
        assert_eq!(parse_call("eval:check_rbl('a','b')").unwrap(), None, "a network test is not ours");
        assert!(parse_call("check_for_mime(x)").is_err());
    }

    #[test]
    fn address_lists_as_wlbleval_reads_them() {
        // From, or the envelope sender (MessageView's is bounce@mailer.example), in the list.
        assert!(hit("eval:check_from_in_list('PAYPAL')", "From: service@PayPal.com\r\n\r\nx"));
        assert!(hit("eval:check_from_in_list('PAYPAL')", "From: Pay Pal <a@intl.paypal.com>\r\n\r\nx"));
        assert!(!hit("eval:check_from_in_list('PAYPAL')", "From: a@paypal.com.evil.example\r\n\r\nx"));
        // `*` crosses dots here, unlike FreeMail's wildcards.
        assert!(hit("eval:check_from_in_list('SUSP_NTLD')", "From: a@mail.shop.top\r\n\r\nx"));
        // A Resent-From replaces the From.
        assert!(!hit(
            "eval:check_from_in_list('PAYPAL')",
            "Resent-From: r@forwarder.example\r\nFrom: a@paypal.com\r\n\r\nx"
        ));
        assert!(!hit("eval:check_from_in_list('NO_SUCH_LIST')", "From: a@paypal.com\r\n\r\nx"));
        assert!(in_address_list(&["*@*.top".into()], "a@b.c.top"));
        assert!(in_address_list(&["a?c@*".into()], "abc@x"));
        assert!(!in_address_list(&["*@*.top".into()], "a@top"));
        assert!(!in_address_list(&["*@*.top".into()], &format!("{}@x.topx", "a".repeat(100_000))));
        assert!(hit("eval:check_replyto_in_list('SUSP_NTLD')", "From: a@b.example\r\nReply-To: x@y.xyz\r\n\r\nx"));
        assert!(!hit("eval:check_replyto_in_list('SUSP_NTLD')", "From: a@b.xyz\r\n\r\nx"));
    }

    #[test]
    fn functions_hit_what_they_should() {
        assert!(hit("eval:check_for_missing_to_header()", "From: a@b.example\r\n\r\nx"));
        assert!(!hit("eval:check_for_missing_to_header()", "From: a@b.example\r\nTo: c@d.example\r\n\r\nx"));
        assert!(!hit("eval:check_for_missing_to_header()", "From: a@b.example\r\nTo:\r\n\r\nx"));
        assert!(!hit("eval:check_for_missing_to_header()", "From: a@b.example\r\nApparently-To: c@d.example\r\n\r\nx"));
        assert!(hit("eval:subject_is_all_caps()", "Subject: BUY CHEAP WATCHES NOW\r\n\r\nx"));
        assert!(!hit("eval:subject_is_all_caps()", "Subject: Buy cheap watches\r\n\r\nx"));
        assert!(hit("eval:check_freemail_from()", "From: x@mail.free.example\r\n\r\nx"));
        // SpamAssassin's wildcards: `*` stops at a dot.
        assert!(hit("eval:check_freemail_from()", "From: sb55@yahoo.com\r\n\r\nx"));
        assert!(hit("eval:check_freemail_from()", "From: sb55@YAHOO.co.uk\r\n\r\nx"));
        assert!(!hit("eval:check_freemail_from()", "From: sb55@mail.yahoo.com\r\n\r\nx"));
        assert!(!hit("eval:check_freemail_from()", "From: x@free.example\r\n\r\nx"));
        // Role addresses never count.
        assert!(!hit("eval:check_freemail_from()", "From: support@gmail.example\r\n\r\nx"));
        assert!(!hit("eval:check_freemail_from()", "From: undisclosed-recipients@yahoo.com\r\n\r\nx"));
        assert!(!hit("eval:check_freemail_from()", "From: x@corp.example\r\n\r\nx"));
        assert!(hit("eval:check_freemail_header('Reply-To', '\\d@')", "Reply-To: bob12@gmail.example\r\n\r\nx"));
        assert!(hit("eval:check_for_shifted_date('-12', '-6')", "From: a@b.example\r\n\r\nx"));
        assert!(!hit("eval:check_for_shifted_date('-6', '-3')", "From: a@b.example\r\n\r\nx"));
        let html = "Content-Type: text/html\r\n\r\n<html><body>Open now<img src=\"http://x.example/a.gif\"><iframe src=x></iframe></body></html>";
        assert!(hit("eval:check_for_mime_html_only()", html));
        assert!(hit("eval:check_for_mime_html()", html));
        // The HTML source's length: this part's is 91 bytes.
        assert!(hit("eval:html_eval('length', '< 384')", html));
        assert!(!hit("eval:html_eval('length', '> 384')", html));
        assert!(!hit("eval:html_eval('length', 'system(1)')", html));
        assert!(hit("eval:html_range('length', '0', '1024')", html));
        assert!(!hit("eval:html_range('length', '1024', '1536')", html));
        assert!(hit("eval:html_range('length', '90', 'inf')", html));
        assert!(!hit("eval:html_range('length', '91', 'inf')", html));
        assert!(!hit("eval:html_range('length', '0', '1024')", "Content-Type: text/plain\r\n\r\nno markup"));
        // Characters, not bytes: 599 of them in 1,099 bytes (SpamAssassin: HTML_SHORT_LINK_IMG_1).
        let accented = format!(
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<html><body>\
             <a href=\"http://x.example/\"><img src=\"http://x.example/a.png\"></a><p>{}</p></body></html>",
            "\u{e9}".repeat(500)
        );
        assert!(hit("eval:html_range('length', '0', '1024')", &accented));
        assert_eq!(parse_call("eval:html_range('max_size', '4', '5')").unwrap(), None, "a result not computed");
        // Comments, as HTML::Parser reports them: not inside a style sheet or a script.
        let commented = "Content-Type: text/html\r\n\r\n<html><style><!-- p {} --></style>\
                         <!-- saved from url=(0022)http://internet.e-mail -->\r\n<p>hi</p></html>";
        assert!(hit("eval:html_text_match('comment', '<!-- saved from url=\\(\\d{4}\\)')", commented));
        assert!(hit("eval:html_text_match('comment', '<!.*?>')", commented));
        let styled = "Content-Type: text/html\r\n\r\n<style type=\"text/css\"><!-- p {} --></style><p>hi</p>";
        assert!(!hit("eval:html_text_match('comment', '<!.*?>')", styled));
        // A comment whose first line has no `>`: Perl's `.` stops at the line end too.
        let multiline = "Content-Type: text/html\r\n\r\n<p>hi</p><!--\r\nnote\r\n-->";
        assert!(!hit("eval:html_text_match('comment', '<!.*?>')", multiline));
        assert!(hit("eval:html_text_match('comment', 'note')", multiline));
        assert_eq!(parse_call("eval:html_text_match('script', 'x')").unwrap(), None, "scripts are not kept");
        // Anchors, as HTML.pm keeps them: an image inside a link is written `<img>`.
        let linked_image = "Content-Type: text/html\r\n\r\n<p>Offer</p><a href=\"http://x.example/\">\
                            <IMG src=\"http://x.example/a.png\"></a><a href=\"http://y.example/\">more</a>";
        assert!(hit("eval:html_text_match('anchor', '<img>')", linked_image));
        assert!(hit("eval:html_text_match('anchor', '^more$')", linked_image));
        let image_beside_link = "Content-Type: text/html\r\n\r\n<a href=\"http://x.example/\">go</a>\
                                 <img src=\"http://x.example/a.png\"><a href=\"#\"><script>'<img>'</script>\
                                 <!-- <img> --></a>";
        assert!(!hit("eval:html_text_match('anchor', '<img>')", image_beside_link));
        assert!(hit("eval:html_text_match('anchor', '^go$')", image_beside_link));
        assert!(!hit("eval:check_for_mime_html()", "Content-Type: text/plain\r\n\r\nno markup"));
        let alternative = "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
                           hi\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b--\r\n";
        assert!(hit("eval:check_for_mime_html()", alternative));
        assert!(!hit("eval:check_for_mime_html_only()", alternative));
        assert!(hit("eval:html_tag_exists('iframe')", html));
        // check_body_length: the raw body's bytes, at most the argument (SpamAssassin's
        // pristine_body_length), MIME structure included, not the rendered text.
        let body_of = |n: usize| format!("Subject: s\r\n\r\n{}", "x".repeat(n));
        assert!(hit("eval:check_body_length('128')", &body_of(128)));
        assert!(!hit("eval:check_body_length('128')", &body_of(129)));
        let audio_only = format!(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: audio/basic\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            "6u75/fv38enj4+Lk5+fs8/3+eHdzb21oY2FgXV1eXFpZWVteY2v66eTd29fV1dfa3N3e3t/f".repeat(3)
        );
        assert!(!hit("eval:check_body_length('128')", &audio_only), "no text, but 300 bytes of body");
        assert!(hit("eval:check_body_length('512')", &audio_only));
        let closed_only = "Content-Type: text/html\r\n\r\n<font>Dear customer</font>\r\n</html>";
        assert!(hit("eval:html_tag_exists('html')", closed_only), "an end tag counts, as in HTML.pm");
        assert!(!hit("eval:html_tag_exists('body')", closed_only));
        assert!(!hit("eval:html_tag_exists('htm')", closed_only));
        assert!(!hit("eval:html_tag_exists('bgsound')", html));
        assert!(hit("eval:html_image_only('0000','0400')", html));
        assert!(!hit("eval:html_image_only('0000','0400')", "Content-Type: text/html\r\n\r\n<p>no image</p>"));
        assert!(hit(
            "eval:html_image_only('0000','0400')",
            "Content-Type: text/html\r\n\r\n<img src=\"http://x.example/a.gif\">"
        ));
        let long_html =
            format!("Content-Type: text/html\r\n\r\n<div style=\"{}\">hi</div><img src=a.gif>", "x".repeat(900));
        assert!(hit("eval:html_image_only('0800','1200')", &long_html), "tags count, as in SpamAssassin's HTML.pm");
        assert!(!hit("eval:html_image_only('0000','0400')", &long_html));
        let b64 = |ct: &str, cd: &str| {
            format!("Content-Type: {ct}\r\n{cd}Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n")
        };
        assert!(hit("eval:check_for_mime('mime_base64_encoded_text')", &b64("text/plain; charset=us-ascii", "")));
        assert!(hit("eval:check_for_mime('mime_base64_encoded_text')", &b64("text/plain", "")));
        assert!(
            !hit("eval:check_for_mime('mime_base64_encoded_text')", &b64("text/plain; charset=utf-8", "")),
            "UTF-8 text may need base64"
        );
        assert!(!hit(
            "eval:check_for_mime('mime_base64_encoded_text')",
            &b64("text/plain", "Content-Disposition: inline\r\n")
        ));
        assert!(hit("eval:short_url()", "From: a@b.example\r\n\r\nsee https://bit.ly/x"));
        assert!(hit("eval:check_header_count_range('Received','2','9')", "Received: a\r\nReceived: b\r\n\r\nx"));
    }

    #[test]
    fn an_outlook_message_id_must_fit_the_date_or_the_received_time() {
        let call = parse_call("eval:check_outlook_message_id()").unwrap().unwrap();
        let hit = |headers: &str| run(&call, &view(&format!("{headers}\r\n\r\nbody")), &ctx()) > 0.0;
        let date = "Date: Sun, 01 Sep 2002 12:00:00 +0000";
        let received = "Received: from a by b; Sun, 01 Sep 2002 12:00:00 +0000";
        // 01c251af is that noon in Outlook Express's units.
        assert!(!hit(&format!("{received}\r\n{date}\r\nMessage-ID: <000001c251af$0000abcd$00001234@pc>")));
        // Days off from both: spamware imitating the form.
        assert!(hit(&format!("{received}\r\n{date}\r\nMessage-ID: <000001c26537$0000abcd$00001234@pc>")));
        // Off from the Date but fitting the Received time: a wrong clock, not a fake.
        let later = "Date: Sun, 08 Sep 2002 12:00:00 +0000";
        assert!(!hit(&format!("{received}\r\n{later}\r\nMessage-ID: <000001c251af$0000abcd$00001234@pc>")));
        // Another form, or the form in a header SpamAssassin reads after an earlier one.
        assert!(!hit(&format!("{received}\r\n{date}\r\nMessage-ID: <20020901.abc@pc.example>")));
        assert!(!hit(&format!(
            "{received}\r\n{date}\r\nX-Message-Id: <list-1@lists.example>\r\nMessage-ID: <000001c26537$0000abcd$00001234@pc>"
        )));
    }

    #[test]
    fn illegal_characters_are_raw_bytes_and_valid_utf8_is_legal() {
        let call = parse_call("eval:check_illegal_chars('Subject','0.00','2')").unwrap().unwrap();
        let hit = |raw: &[u8]| {
            let m = mail_parser::MessageParser::default().parse(raw).unwrap();
            run(&call, &MessageView::new(&m, "", &[]), &ctx()) > 0.0
        };
        // 8-bit Latin-1 written into the header: two illegal bytes.
        assert!(hit(b"From: a@b.example\r\nSubject: caf\xe9 cr\xe8me\r\n\r\nx"));
        // The same words in UTF-8 (SMTPUTF8 style): legal in SpamAssassin 4.
        assert!(!hit("From: a@b.example\r\nSubject: café crème\r\n\r\nx".as_bytes()));
        // One pound sign is forgiven, so one more byte is too few.
        assert!(!hit(b"From: a@b.example\r\nSubject: only \xa3 5 and \xe9\r\n\r\nx"));
        assert!(!hit(b"From: a@b.example\r\nSubject: plain\r\n\r\nx"));
        let all = parse_call("eval:check_illegal_chars('ALL','0.010','2')").unwrap().unwrap();
        let m = mail_parser::MessageParser::default()
            .parse(b"From: a@b.example\r\nX-Note: \x01\x02\r\nSubject: s\r\n\r\nx".as_slice())
            .unwrap();
        assert!(run(&all, &MessageView::new(&m, "", &[]), &ctx()) > 0.0, "controls in any header, X- ones too");
    }

    #[test]
    fn helo_ip_mismatch_and_forged_yahoo_received() {
        let mismatch = parse_call("eval:helo_ip_mismatch()").unwrap().unwrap();
        let yahoo = parse_call("eval:check_for_forged_yahoo_received_headers()").unwrap().unwrap();
        let hit = |call: &EvalCall, raw: &str| run(call, &view(raw), &ctx()) > 0.0;
        let from_other_net = "Received: from [203.0.113.9] (helo=198.51.100.7) by mx.example.org with esmtp; Mon, 1 Jan 2024 12:00:00 +0000\r\n";
        let from_same_24 = "Received: from [203.0.113.9] (helo=203.0.113.200) by mx.example.org with esmtp; Mon, 1 Jan 2024 12:00:00 +0000\r\n";
        assert!(hit(&mismatch, &format!("{from_other_net}From: a@b.example\r\n\r\nx")));
        assert!(!hit(&mismatch, &format!("{from_same_24}From: a@b.example\r\n\r\nx")));
        // From yahoo.com through someone else's relays only.
        assert!(hit(&yahoo, &format!("{from_other_net}From: someone@yahoo.com\r\n\r\nx")));
        // Yahoo's own submission, or no Received line to judge: no forgery.
        let by_yahoo =
            "Received: from [203.0.113.9] by smtp101.mail.yahoo.com with SMTP; Mon, 1 Jan 2024 12:00:00 +0000\r\n";
        assert!(!hit(&yahoo, &format!("{from_other_net}{by_yahoo}From: someone@yahoo.com\r\n\r\nx")));
        assert!(!hit(&yahoo, "From: someone@yahoo.com\r\n\r\nx"));
        assert!(!hit(&yahoo, &format!("{from_other_net}From: someone@example.org\r\n\r\nx")));
    }

    #[test]
    fn the_envelope_senders_domain_and_the_relays() {
        let call = parse_call("eval:check_mailfrom_matches_rcvd()").unwrap().unwrap();
        let date = "Mon, 1 Jan 2024 12:00:00 +0000";
        let relay = |rdns: &str| {
            format!(
                "Received: from mail.sender.example ({rdns} [203.0.113.9]) by mx.example.org (Postfix) with ESMTP id 4B1C2; {date}\r\nFrom: a@b.example\r\n\r\nx"
            )
        };
        let with = |sender: &str, raw: &str| {
            let m = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
            run(&call, &MessageView::new(&m, sender, &[]), &ctx()) > 0.0
        };
        assert!(with("bounce@news.mailer.example", &relay("out7.mailer.example")));
        assert!(!with("bounce@mailer.example", &relay("dsl-203-0-113-9.isp.example")));
        assert!(!with("", &relay("out7.mailer.example")), "no envelope sender");
        assert!(!with("bounce@mailer.example", "From: a@b.example\r\n\r\nx"), "no relay");
    }

    #[test]
    fn sorted_and_similar_recipient_lists() {
        let sorted = parse_call("eval:sorted_recipients()").unwrap().unwrap();
        let similar = parse_call("eval:similar_recipients('0.65','undef')").unwrap().unwrap();
        let hit = |call: &EvalCall, to: &str| {
            run(call, &view(&format!("From: a@b.example\r\nTo: {to}\r\n\r\nx")), &ctx()) > 0.0
        };
        let seven_sorted =
            "aa@x.example, ab@x.example, ac@y.example, ad@y.example, ba@z.example, bb@z.example, bc@z.example";
        assert!(hit(&sorted, seven_sorted));
        assert!(!hit(
            &sorted,
            "zz@x.example, ab@x.example, ac@y.example, ad@y.example, ba@z.example, bb@z.example, bc@z.example"
        ));
        assert!(!hit(&sorted, "aa@x.example, ab@x.example, ac@y.example"), "fewer than seven");
        // Generated lists: the same first letters over and over.
        assert!(hit(
            &similar,
            "jo1@mail1.example, jo2@mail2.example, jo3@mail3.example, jo4@mail4.example, jo5@mail5.example"
        ));
        assert!(!hit(&similar, "alice@a.example, bob@b.example, carol@c.example, dave@d.example, erin@e.example"));
    }

    #[test]
    fn recipient_in_subject_as_headereval_reads_it() {
        let user = "eval:check_for_to_in_subject('user')";
        let msg = |subject: &str| format!("To: bob@corp.example\r\nSubject: {subject}\r\n\r\nx");
        assert!(hit(user, &msg("bob, your mailbox is full")));
        assert!(hit(user, &msg("bob: invoice 4471")));
        assert!(hit(user, &msg("BOB")), "alone, case aside");
        assert!(hit(user, &msg("Re: bob")));
        assert!(hit(user, &msg("Fw: dear bob")));
        assert!(hit(user, &msg(", bob!")));
        assert!(!hit(user, &msg("BOB, your mailbox")), "a marked name keeps its case");
        assert!(!hit(user, &msg("bobcat sightings")));
        assert!(!hit(user, &msg("minutes for bob, alice and carol")));
        assert!(!hit(user, &msg("bob,fix this")), "the mark is followed by a space or the end");
        let address = "eval:check_for_to_in_subject('address')";
        assert!(hit(address, &msg("Account of bob@corp.example suspended")));
        assert!(!hit(address, &msg("xbob@corp.example")));
        assert!(!hit(user, "Subject: bob\r\n\r\nx"), "no To");
        assert!(parse_call("eval:check_for_to_in_subject('other')").unwrap().is_none());
    }

    #[test]
    fn unresolved_templates_and_envelope_comparisons() {
        let template = "eval:check_unresolved_template()";
        assert!(hit(template, "X-Mailer: %MAILER_NAME\r\n\r\nx"));
        assert!(hit(template, "List-Unsubscribe:\r\n <mailto:%UNSUB_ADDR>\r\n\r\nx"), "folded");
        assert!(!hit(template, "Subject: 100%FREE\r\n\r\nx"), "a header that quotes people's text");
        assert!(!hit(template, "X-Note: 50% off\r\n\r\nx"));
        assert!(
            hit(template, "Subject: Your order\r\n %FIRSTNAME, it shipped\r\n\r\nx"),
            "a fold's continuation is a line of its own, whatever header it continues"
        );
        // MessageView's envelope sender here is bounce@mailer.example.
        let matching = "eval:check_for_matching_env_and_hdr_from()";
        assert!(hit(matching, "From: Bounce <BOUNCE@mailer.example>\r\n\r\nx"));
        assert!(!hit(matching, "From: a@b.example\r\n\r\nx"));
        assert!(
            parse_call("eval:check_equal_from_domains()").unwrap().is_none(),
            "left out: unscored in Debian's files, it weighs SpamAssassin's default 1.0"
        );
    }

    #[test]
    fn ratware_signs() {
        let name_id = "eval:check_ratware_name_id()";
        assert!(hit(
            name_id,
            "Message-ID: <ABCDEFGHIJKLMNOPQRSTUVWXYZAB.sales@shop.example>\r\nFrom: \"Sales\" <sales@shop.example>\r\n\r\nx"
        ));
        assert!(!hit(
            name_id,
            "Message-ID: <ABCDEFGHIJKLMNOPQRSTUVWXYZAB.sales@shop.example>\r\nFrom: Sales <sales@shop.example>\r\n\r\nx"
        ));
        assert!(!hit(name_id, "Message-ID: <abc.sales@shop.example>\r\nFrom: \"Sales\" <sales@shop.example>\r\n\r\nx"));
        assert!(hit(
            name_id,
            "Message-ID: <ABCDEFGHIJKLMNOPQRSTUVWXYZAB.sales@shop.example>\r\nFrom: Shop \"Sales\"  <sales@shop.example>\r\n\r\nx"
        ));
        let m = mail_parser::MessageParser::default().parse(b"To: Bob@Corp.example\r\n\r\nx".as_slice()).unwrap();
        let envelope = parse_call("eval:check_ratware_envelope_from()").unwrap().unwrap();
        let with = |sender: &str| run(&envelope, &MessageView::new(&m, sender, &[]), &ctx()) > 0.0;
        assert!(with("corp.example.bob@bulk.example"), "the recipient's domain and user, spelled out");
        assert!(with("mail.corp.example-bob@bulk.example"));
        assert!(!with("SRS0=ab=cd=corp.example.bob@forwarder.example"), "a forwarder's SRS address");
        assert!(!with("bounce@mailer.example"));
        assert!(!with("xcorp.example.bob@bulk.example"), "the domain starts a word");
    }

    /// Whether the eval `rule` hits a message whose one part is the HTML `body`.
    fn hits_html(rule: &str, body: &str) -> bool {
        let call = parse_call(rule).unwrap().unwrap();
        run(&call, &view(&format!("From: a@b.example\r\nContent-Type: text/html\r\n\r\n{body}\r\n")), &ctx()) > 0.0
    }

    #[test]
    fn uri_hosts_are_looked_up_with_the_domains_above_them() {
        let hit = |body: &str| hits_html("eval:check_uri_host_listed('SUSP_URI_NTLD')", body);
        assert!(hit("<a href=\"https://login.account.shop.top/x\">x</a>"), "a host under a listed TLD");
        assert!(hit("<a href=\"HTTP://User@Promo.XYZ:8080/\">x</a>"), "case, user and port aside");
        assert!(!hit("<a href=\"https://www.ok.xyz/\">x</a>"), "the nearest listed name excepts it");
        assert!(!hit("<a href=\"https://top.example/\">x</a>"), "a label, not the domain above");
        assert!(!hit("<a href=\"mailto:x@shop.top\">x</a>"), "mailto: is skipped");
        assert!(hit("<a href=\"http://198.51.100.9/a\">x</a>"), "an address looked up as it is");
        let unknown = parse_call("eval:check_uri_host_listed('NO_SUCH_LIST')").unwrap().unwrap();
        let v = view("Content-Type: text/html\r\n\r\n<a href=\"https://a.top/\">x</a>\r\n");
        assert_eq!(run(&unknown, &v, &ctx()), 0.0, "a list nobody enlisted hosts in");
        let blocked = parse_call("eval:check_uri_host_in_blocklist()").unwrap().unwrap();
        assert_eq!(run(&blocked, &v, &ctx()), 0.0, "BLOCK is empty here");
        assert_eq!(uri_host("ftp://[2001:db8::1]:21/f"), Some("2001:db8::1".to_owned()));
    }

    #[test]
    fn base64_line_length_counts_the_line_feed_as_spamassassin_reads_it() {
        let part = |line: &str, ending: &str, ctype: &str| {
            view(&format!(
                "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: {ctype}\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{line}{ending}{line}{ending}--b--\r\n"
            ))
        };
        let range = parse_call("eval:check_base64_length('78','79')").unwrap().unwrap();
        let long = parse_call("eval:check_base64_length('79')").unwrap().unwrap();
        let hits = |v: &MessageView| (run(&range, v, &ctx()) > 0.0, run(&long, v, &ctx()) > 0.0);
        // RFC 2045's 76 characters: 77 with the line feed, with CRLF or LF alike.
        assert_eq!(hits(&part(&"A".repeat(76), "\r\n", "text/plain")), (false, false));
        assert_eq!(hits(&part(&"A".repeat(76), "\n", "text/plain")), (false, false));
        assert_eq!(hits(&part(&"A".repeat(77), "\n", "text/plain")), (true, false), "78 with the feed");
        assert_eq!(hits(&part(&"A".repeat(78), "\r\n", "text/plain")), (true, true), "79: both");
        assert_eq!(hits(&part(&"A".repeat(200), "\r\n", "image/png")), (false, true));
        assert_eq!(hits(&part(&"A".repeat(200), "\r\n", "application/ics")), (false, false), "invitations aside");
    }

    #[test]
    fn a_link_text_showing_https_and_another_domain_is_a_mismatch() {
        let hit = |body: &str| hits_html("eval:check_https_http_mismatch('1','10')", body);
        assert!(hit("<a href=\"http://baboz-njeryz.example/\">https://www.bank.example/</a>"));
        assert!(hit("<a href=\"https://x.attacker.example/login\">Sign in: https://bank.example</a>"));
        assert!(
            !hit("<a href=\"http://www.bank.example/a\">https://online.bank.example/</a>"),
            "the same registered domain"
        );
        assert!(
            !hit("<a href=\"http://198.51.100.7/\">https://bank.example/</a>"),
            "a target address is another rule's"
        );
        assert!(!hit("<a href=\"http://shop.example/\">www.bank.example</a>"), "no https:// shown");
        assert!(hit("<a href=\"http://shop.example/\">https://198.51.100.7/</a>"), "an address shown stays as it is");
        let many: String =
            (0..10).map(|i| format!("<a href=\"http://l{i}.example/\">https://bank.example/</a>")).collect();
        assert!(!hit(&many), "ten links with text: past the rule's limit of fewer than ten");
        let pictures: String =
            (0..9).map(|i| format!("<a href=\"http://l{i}.example/\">\r\n<img src=\"p.png\"></a>")).collect();
        let shown = "<a href=\"http://x.example/\">https://bank.example/</a>";
        assert!(!hit(&format!("{pictures}{shown}")), "a picture's link with a line break beside it counts");
        let bare: String =
            (0..9).map(|i| format!("<a href=\"http://l{i}.example/\"><img src=\"p.png\"></a>")).collect();
        assert!(hit(&format!("{bare}{shown}")), "one with nothing but the picture does not");
        let styled = "<a href=\"http://x.example/\"><style>@import url(https://fonts.example/c);</style>Shop</a>";
        assert!(!hit(styled), "a style sheet is no text");
        assert_eq!(text_outside_tags("a<b>b</b><script>x()</script>c<style>s</style >d"), "abcd");
    }
}
