//! What SpamAssassin's rules look at, made from one parsed message: headers (decoded and
//! raw), the rendered body (the subject, then every text part with HTML reduced to text,
//! whitespace folded, one paragraph a line), the raw body (decoded parts as written), the
//! whole message, the URIs, and the MIME parts' headers.

use crate::classifier::clip;
use mail_parser::{HeaderValue, Message, MimeHeaders, PartType};
use std::collections::HashMap;

/// SpamAssassin's `body_part_scan_size`: the most of one part that body rules read.
pub const PART_SCAN_SIZE: usize = 50_000;
/// The most of the raw message that `full` rules read.
pub const FULL_SCAN_SIZE: usize = 512 * 1024;
/// The most URIs taken from one message.
pub const MAX_URIS: usize = 500;
/// How deep attached messages are read for their text (a message in a message in ...).
const MAX_ATTACHED_DEPTH: usize = 8;

/// The leaf parts of `message` in order, an attached message's (`message/rfc822`) in its
/// place: SpamAssassin's `find_parts(qr/./, 1)` descends into them, so their text is part of
/// the body its rules read (a phish forwarded as an attachment is read, not only the note
/// around it). Not past [`MAX_ATTACHED_DEPTH`].
fn leaf_parts<'m, 'x>(message: &'m Message<'x>, depth: usize, out: &mut Vec<&'m mail_parser::MessagePart<'x>>) {
    for part in &message.parts {
        match &part.body {
            PartType::Message(attached) if depth < MAX_ATTACHED_DEPTH => leaf_parts(attached, depth + 1, out),
            _ => out.push(part),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HeaderField {
    /// Lower case.
    pub name: String,
    /// As the message writes it (the `ALL` pseudo-header shows it so: several rules tell
    /// `from:` from `From:`).
    pub written_name: String,
    /// Unfolded, RFC 2047 words decoded where mail-parser decodes them.
    pub decoded: String,
    /// Unfolded, as written.
    pub raw: String,
    /// The unfolded bytes when they are not UTF-8 (`raw` then has replacement characters):
    /// the illegal-characters checks count bytes.
    pub raw_bytes: Option<Vec<u8>>,
    /// The addresses it holds (address headers only): (display name, address).
    pub addresses: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct MessageView {
    pub headers: Vec<HeaderField>,
    /// The rendered body: paragraphs joined by `\n`.
    pub body: Vec<u8>,
    /// The decoded text parts as written (HTML tags kept), lines joined by `\n`.
    pub rawbody: Vec<u8>,
    /// The message as received (at most [`FULL_SCAN_SIZE`]), with LF line ends.
    pub full: Vec<u8>,
    /// The URIs, one a line.
    pub uris: Vec<u8>,
    pub uri_list: Vec<String>,
    /// Every MIME part's headers: (lower-case name, unfolded raw value).
    pub mime_headers: Vec<(String, String)>,
    /// The HTML parts, as written.
    pub html: Vec<String>,
    /// Each HTML part's tag balance (HTML.pm's `inside`).
    pub html_tags: Vec<super::html_render::TagBalance>,
    /// Each HTML part's titles (HTML.pm's `title`).
    pub html_titles: Vec<Vec<String>>,
    /// Content types of the leaf parts, lower case, with their transfer encodings.
    pub parts: Vec<PartSummary>,
    pub envelope_from: String,
    /// Length of the rendered text without the subject.
    pub body_length: usize,
    /// Bytes of the message after its header section (SpamAssassin's
    /// `pristine_body_length`, which BodyEval's `check_body_length` reads). For a multipart
    /// that [`crate::parse::parse_message`] closed, the delimiters it added count too.
    pub pristine_body_length: usize,
    /// The Received headers as SpamAssassin's relay analysis reads them.
    pub relays: super::relays::Relays,
    /// The longest encoded line of any base64-encoded part, attached messages' parts
    /// included, as MIMEEval's `_check_base64_length` measures it ([`base64_line_length`]).
    pub base64_line_length: usize,
    /// [`MessageView::uppercase_percent`], once computed.
    uppercase: std::sync::OnceLock<Option<f64>>,
    /// Some text/plain part that calls itself US-ASCII (or names no charset) holds other
    /// bytes as written: MIMEEval's `mime_ascii_text_illegal`.
    pub ascii_text_illegal: bool,
}

/// MIMEEval's test of a leaf part: text/plain (or no Content-Type) with charset US-ASCII
/// or none, and in its body as written a NUL, a carriage return that does not end a line
/// (SpamAssassin reads CRLF as LF) or a byte above 127. Read on the message's own parts;
/// SpamAssassin also reads an attached message's (no corpus file differs: 23 hits in both).
fn ascii_text_illegal(raw_message: &[u8], part: &mail_parser::MessagePart<'_>) -> bool {
    let plain = part.content_type().is_none_or(|c| {
        c.ctype().eq_ignore_ascii_case("text") && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("plain"))
    });
    let ascii =
        part.content_type().and_then(|c| c.attribute("charset")).is_none_or(|c| c.eq_ignore_ascii_case("us-ascii"));
    if !plain || !ascii {
        return false;
    }
    let Some(body) = raw_message.get(part.offset_body as usize..part.offset_end as usize) else { return false };
    // A carriage return at the very end is the first half of the line end before the
    // boundary (or the message's end), cut off with the part.
    !body.is_ascii()
        || memchr::memchr(0, body).is_some()
        || memchr::memchr_iter(b'\r', body).any(|i| body.get(i + 1).is_some_and(|next| *next != b'\n'))
}

#[derive(Debug, Clone, Default)]
pub struct PartSummary {
    pub content_type: String,
    pub transfer_encoding: String,
    pub charset: String,
    pub is_attachment: bool,
    /// Content-Disposition's type, lower case ("" when there is none).
    pub disposition: String,
}

/// The longest line of the base64-encoded parts' bodies as written, counting its line feed
/// (SpamAssassin reads lines with CRLF turned into LF), in the message and the messages
/// attached to it (SpamAssassin's `find_parts` descends into them); `application/ics`
/// parts, which calendar invitations write with long lines, aside.
pub fn base64_line_length(message: &Message<'_>) -> usize {
    message
        .parts
        .iter()
        .map(|part| match &part.body {
            PartType::Message(attached) => base64_line_length(attached),
            _ => part_base64_line_length(message.raw_message(), part),
        })
        .max()
        .unwrap_or(0)
}

fn part_base64_line_length(raw_message: &[u8], part: &mail_parser::MessagePart<'_>) -> usize {
    let base64 = part.content_transfer_encoding().is_some_and(|c| c.trim().eq_ignore_ascii_case("base64"));
    let ics = part.content_type().is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case("application") && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("ics"))
    });
    if !base64 || ics {
        return 0;
    }
    let Some(body) = raw_message.get(part.offset_body as usize..part.offset_end as usize) else { return 0 };
    // An attachment may be megabytes: line feeds found with memchr, not byte by byte.
    let mut longest = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', body) {
        let line = &body[start..end];
        longest = longest.max(line.strip_suffix(b"\r").unwrap_or(line).len() + 1);
        start = end + 1;
    }
    longest.max(body.len() - start)
}

fn unfold_bytes(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !out.is_empty() && !line.is_empty() {
            // Folding whitespace stays as one space at most.
            if !line.starts_with(b" ") && !line.starts_with(b"\t") {
                out.push(b' ');
            }
        }
        out.extend_from_slice(line);
    }
    out.trim_ascii().to_vec()
}

/// One header field as written: where its name starts, the name, the value's bytes
/// (folded lines included).
struct RawField<'m> {
    offset: usize,
    name: &'m str,
    value: &'m [u8],
}

/// The header fields of a header block, in order, as SpamAssassin reads them: a line
/// `Name: value`, continued by lines that start with white space; lines that are neither
/// are skipped. Ends at the first empty line.
fn raw_fields(block: &[u8]) -> Vec<RawField<'_>> {
    let mut fields: Vec<RawField<'_>> = Vec::new();
    let mut at = 0;
    while at < block.len() {
        let end = block[at..].iter().position(|&b| b == b'\n').map_or(block.len(), |p| at + p + 1);
        let line = &block[at..end];
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            break;
        }
        if content[0] == b' ' || content[0] == b'\t' {
            if let Some(last) = fields.last_mut() {
                let value_start = last.value.as_ptr() as usize - block.as_ptr() as usize;
                last.value = &block[value_start..at + content.len()];
            }
        } else if let Some(colon) = content.iter().position(|&b| b == b':')
            && let Ok(name) = std::str::from_utf8(&content[..colon])
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic())
        {
            fields.push(RawField { offset: at, name, value: &block[at + colon + 1..at + content.len()] });
        }
        at = end;
    }
    fields
}

/// A header value as written, unfolded, with RFC 2047 encoded words decoded.
fn decode_encoded_words(raw: &str) -> String {
    if !raw.contains("=?") {
        return raw.to_owned();
    }
    // mail-parser decodes the encoded words of an unstructured field: read it as a Subject.
    let field = format!("Subject: {raw}\r\n\r\n");
    mail_parser::MessageParser::default()
        .parse(field.as_bytes())
        .and_then(|m| m.subject().map(str::to_owned))
        .unwrap_or_else(|| raw.to_owned())
}

fn decoded_text(value: &HeaderValue<'_>, raw: &str) -> String {
    match value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(list) => list.join(", "),
        // An address field as written, its encoded words decoded, as SpamAssassin's `get`
        // gives it (`<user@example.com>` keeps its brackets, a name its own quoting): rules
        // such as `__TO_NO_ARROWS_R` (`To !~ /(?:>$|>,)/`) read the brackets.
        HeaderValue::Address(_) => decode_encoded_words(raw),
        _ => raw.to_owned(),
    }
}

fn address_list(value: &HeaderValue<'_>) -> Vec<(String, String)> {
    match value {
        HeaderValue::Address(a) => a
            .iter()
            .map(|addr| (addr.name().unwrap_or("").to_owned(), addr.address().unwrap_or("").to_owned()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Maximum length of a line of SpamAssassin's body array (`MAX_BODY_LINE_LENGTH`).
const MAX_BODY_LINE_LENGTH: usize = 2048;

/// The lines of SpamAssassin's body array (`split_into_array_of_short_lines`): each with
/// its line feed, one longer than [`MAX_BODY_LINE_LENGTH`] cut just after its last space
/// within that length (or at that length when it has none there).
fn sa_body_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split_inclusive(|b| *b == b'\n').flat_map(|mut line| {
        let mut pieces = Vec::new();
        while line.len() > MAX_BODY_LINE_LENGTH {
            // Perl's rindex($line, ' ', 2048) + 1: a space at 2048 itself counts.
            let cut =
                line[..=MAX_BODY_LINE_LENGTH].iter().rposition(|b| *b == b' ').map_or(MAX_BODY_LINE_LENGTH, |i| i + 1);
            pieces.push(&line[..cut]);
            line = &line[cut..];
        }
        pieces.push(line);
        pieces
    })
}

/// SpamAssassin's whitespace handling of rendered text: blank-line runs become paragraph
/// breaks, every other run of white space one space.
pub(crate) fn fold_paragraphs(text: &str, out: &mut String) {
    let mut pending_space = false;
    let mut newlines = 0usize;
    for c in text.chars() {
        if c == '\n' {
            newlines += 1;
            pending_space = true;
        } else if c.is_whitespace() {
            pending_space = true;
        } else {
            if newlines >= 2 {
                out.push('\n');
            } else if pending_space && !out.is_empty() && !out.ends_with('\n') {
                out.push(' ');
            }
            newlines = 0;
            pending_space = false;
            out.push(c);
        }
    }
}

/// `/\S\s+\S/`: white space with something else on both sides.
fn has_inner_space(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.contains(char::is_whitespace)
}

/// `/^(?:[A-Za-z0-9+\/=]{60,76} ){2}/`: a line of leftover base64 (a forwarded message's).
fn starts_with_base64_words(line: &str) -> bool {
    let mut rest = line.as_bytes();
    for _ in 0..2 {
        let word = rest.iter().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')).count();
        if !(60..=76).contains(&word) || rest.get(word) != Some(&b' ') {
            return false;
        }
        rest = &rest[word + 1..];
    }
    true
}

/// MIMEEval's `get_charset_from_ct_line`: the `charset=` of a Content-Type value.
fn charset_of_content_type(value: &str) -> Option<&str> {
    let lower = value.to_ascii_lowercase();
    let at = lower.find("charset=")? + "charset=".len();
    let rest = &value[at..];
    let charset = match rest.chars().next()? {
        quote @ ('"' | '\'') => rest[1..].split(quote).next()?,
        _ => rest.split(char::is_whitespace).next()?,
    };
    Some(charset)
}

/// Constants.pm's `CHARSETS_LIKELY_TO_FP_AS_CAPS`, the whole charset name matched.
fn charset_likely_to_look_like_capitals(charset: &str) -> bool {
    let lower = charset.to_ascii_lowercase();
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    !lower.is_empty()
        && lower.chars().all(allowed)
        && ["koi", "jp", "jis", "euc", "gb", "big5", "isoir", "cp1251", "windows-1251", "georgianps", "pt154", "tis"]
            .iter()
            .any(|marker| lower.contains(marker))
}

impl MessageView {
    /// MIMEEval's `check_for_uppercase` measure: among the rendered body's lines (the subject
    /// first) that have a space between two other characters and do not start with two
    /// base64-looking words, the share of `A-Z` among `A-Z`, `a-z` and `0-9` (digits count as
    /// lower case, as there: "date" and "mail" in capitals are not shouting), in percent.
    /// None when those lines hold fewer than 200 characters, or when the message's or a
    /// part's charset is one SpamAssassin expects to look like capitals (KOI8, the Japanese,
    /// Chinese and Cyrillic code pages: `CHARSETS_LIKELY_TO_FP_AS_CAPS`). Counted once
    /// (three rules ask).
    pub fn uppercase_percent(&self) -> Option<f64> {
        *self.uppercase.get_or_init(|| {
            let top_charset = self.header_fields("content-type").next().and_then(|h| charset_of_content_type(&h.raw));
            let charsets = top_charset.into_iter().chain(self.parts.iter().map(|p| p.charset.as_str()));
            if charsets.into_iter().any(charset_likely_to_look_like_capitals) {
                return None;
            }
            let body = String::from_utf8_lossy(&self.body);
            let (mut length, mut lower, mut upper) = (0usize, 0usize, 0usize);
            let lines: Vec<&str> = body.split('\n').collect();
            for (i, line) in lines.iter().enumerate() {
                if !has_inner_space(line) || starts_with_base64_words(line) {
                    continue;
                }
                // SpamAssassin's lines keep their line feed (all but the last).
                length += line.chars().count() + usize::from(i + 1 < lines.len());
                lower += line.bytes().filter(|b| b.is_ascii_lowercase() || b.is_ascii_digit()).count();
                upper += line.bytes().filter(u8::is_ascii_uppercase).count();
            }
            if length < 200 {
                return None;
            }
            Some(if upper + lower == 0 { 0.0 } else { upper as f64 / (upper + lower) as f64 * 100.0 })
        })
    }

    /// BodyEval's `tvd_vertical_words`: over the body's lines (the subject's too) longer
    /// than 5 bytes, the highest share of spaces, in percent of the other bytes (100 when
    /// spaces are the majority), rounded down; None when no line is that long. A text
    /// written one letter a line, or with a space between letters, scores high. The lines
    /// as SpamAssassin's body array holds them: each with its line feed (a byte that is not
    /// a space), and one longer than 2,048 bytes cut after its last space before that.
    pub fn vertical_words_percent(&self) -> Option<f64> {
        let mut highest: Option<usize> = None;
        for line in sa_body_lines(&self.body) {
            if line.len() <= 5 {
                continue;
            }
            let spaces = line.iter().filter(|b| **b == b' ').count();
            let others = line.len() - spaces;
            let pct = if spaces > others || others == 0 { 100 } else { 100 * spaces / others };
            highest = Some(highest.map_or(pct, |h| h.max(pct)));
        }
        highest.map(|pct| pct as f64)
    }

    /// Adds the addresses written in the body text as `mailto:` URIs, as SpamAssassin's
    /// `_process_text_uri_list` finds them (its Thunderbird-like pattern: an address runs
    /// between delimiters such as white space, quotes, brackets and commas; a trailing
    /// punctuation run is dropped, as is everything from a `)` on; `mail:` / `email:` /
    /// `skype:` before it is not part of it; its domain needs a dot), when `valid_domain`
    /// holds for its domain (SpamAssassin: the domain ends in a TLD of `util_rb_tld`).
    /// Addresses inside an `http://`, `https://`, `ftp://` or `www.` URL are the URL's.
    pub fn add_text_addresses(&mut self, valid_domain: impl Fn(&str) -> bool) {
        let before = self.uri_list.len();
        for line in self.body.split(|b| *b == b'\n') {
            for uri in text_addresses(line) {
                let host = uri.split_once('@').map_or("", |(_, h)| h);
                let host = host.split(['?', '&', '>']).next().unwrap_or("");
                let host = host.trim_end_matches("%20");
                if uri.starts_with("http://") || valid_domain(host) {
                    push_uri(&mut self.uri_list, &uri);
                }
            }
        }
        if self.uri_list.len() != before {
            self.uris = self.uri_list.join("\n").into_bytes();
        }
    }

    /// The message as the rules see it; relays from `trusted_relays` are trusted
    /// ([`super::relays`]).
    pub fn new(message: &Message<'_>, envelope_from: &str, trusted_relays: &[proto::net::Network]) -> MessageView {
        let raw_message = message.raw_message();
        let mut view = MessageView {
            envelope_from: envelope_from.to_owned(),
            relays: super::relays::Relays::from_message(message, trusted_relays),
            base64_line_length: base64_line_length(message),
            ..Default::default()
        };
        // The fields as written (mail-parser drops some it cannot parse, such as a
        // Message-ID without `@`, and keeps structured values in parsed form); its parse
        // gives the addresses.
        let parsed: HashMap<u32, &mail_parser::Header<'_>> =
            message.headers().iter().map(|h| (h.offset_field, h)).collect();
        for field in raw_fields(crate::raw_header::header_block(message)) {
            let unfolded = unfold_bytes(field.value);
            let (raw, raw_bytes) = match String::from_utf8(unfolded) {
                Ok(text) => (text, None),
                Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(e.into_bytes())),
            };
            view.headers.push(HeaderField {
                name: field.name.to_ascii_lowercase(),
                written_name: field.name.to_owned(),
                // As mail-parser decodes it (an address field as written, its encoded
                // words decoded); a field it dropped, as written. A known difference from
                // SpamAssassin:
                // Message-ID, References and In-Reply-To come without their angle
                // brackets, so rules that need them (`MSGID_RANDY`, `MSGID_NOFQDN1`) do not
                // hit; read as written they do, and SpamAssassin's own test ham then scores
                // as spam (README, "Evaluation": measured, not yet changed).
                decoded: parsed
                    .get(&(field.offset as u32))
                    .map_or_else(|| decode_encoded_words(&raw), |h| decoded_text(h.value(), &raw)),
                addresses: parsed.get(&(field.offset as u32)).map(|h| address_list(h.value())).unwrap_or_default(),
                raw,
                raw_bytes,
            });
        }
        // Rendered body: the subject line, then the text parts, attached messages' too.
        let mut leaves = Vec::new();
        leaf_parts(message, 0, &mut leaves);
        let mut text = String::new();
        for part in leaves.iter().copied() {
            let rendered = match &part.body {
                PartType::Text(t) => Some(t.to_string()),
                PartType::Html(h) => {
                    let rendered = super::html_render::render_with_tags(h);
                    view.html_tags.push(rendered.tags);
                    view.html_titles.push(rendered.titles);
                    Some(rendered.text)
                }
                _ => None,
            };
            if part.is_message() || part.attachment_name().is_some() && rendered.is_none() {
                continue;
            }
            if let Some(r) = rendered {
                // Parts are paragraphs apart (SpamAssassin adds a newline after each part's
                // own final one).
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(clip(&r, PART_SCAN_SIZE));
            }
        }
        let mut body = String::with_capacity(text.len() + 128);
        body.push_str(message.subject().unwrap_or(""));
        body.push('\n');
        let subject_len = body.len();
        fold_paragraphs(&text, &mut body);
        view.body_length = body.len() - subject_len;
        view.pristine_body_length = raw_message.len() - crate::raw_header::header_block(message).len();
        view.body = body.into_bytes();
        // Raw body: text parts as decoded, HTML as written (attached messages' too).
        let mut rawbody = String::new();
        for part in leaves.iter().copied() {
            let t = match &part.body {
                PartType::Text(t) => t.as_ref(),
                PartType::Html(h) => {
                    view.html.push(h.to_string());
                    h.as_ref()
                }
                _ => continue,
            };
            if !rawbody.is_empty() {
                rawbody.push('\n');
            }
            rawbody.push_str(clip(t, PART_SCAN_SIZE));
        }
        view.rawbody = rawbody.replace("\r\n", "\n").into_bytes();
        // Line ends as SpamAssassin reads a message: LF.
        let full = &raw_message[..raw_message.len().min(FULL_SCAN_SIZE)];
        view.full = Vec::with_capacity(full.len());
        for (i, &b) in full.iter().enumerate() {
            if !(b == b'\r' && full.get(i + 1) == Some(&b'\n')) {
                view.full.push(b);
            }
        }
        // URIs: link targets of the HTML parts and addresses written in the text.
        for html in &view.html {
            extract_html_uris(html, &mut view.uri_list);
        }
        extract_text_uris(&String::from_utf8_lossy(&view.body), &mut view.uri_list);
        view.uri_list.truncate(MAX_URIS);
        view.uris = view.uri_list.join("\n").into_bytes();
        for part in message.parts.iter() {
            for h in part.headers.iter() {
                let raw = crate::raw_header::raw_value(raw_message, h)
                    .map(|b| String::from_utf8_lossy(&unfold_bytes(b)).into_owned())
                    .unwrap_or_default();
                view.mime_headers.push((h.name().to_ascii_lowercase(), raw));
            }
            if matches!(part.body, PartType::Multipart(_)) {
                continue;
            }
            view.ascii_text_illegal |= ascii_text_illegal(raw_message, part);
            let ct = part.content_type();
            let disposition = part.content_disposition().map(|d| d.ctype().to_ascii_lowercase()).unwrap_or_default();
            view.parts.push(PartSummary {
                content_type: ct
                    .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")).to_ascii_lowercase())
                    .unwrap_or_else(|| "text/plain".to_owned()),
                transfer_encoding: part.content_transfer_encoding().unwrap_or("7bit").to_ascii_lowercase(),
                charset: ct.and_then(|c| c.attribute("charset")).unwrap_or("").to_ascii_lowercase(),
                is_attachment: part.attachment_name().is_some() || disposition == "attachment",
                disposition,
            });
        }
        view
    }

    /// Every instance of a header (name compared without case).
    /// The `MESSAGEID` pseudo-header's values, in SpamAssassin's order (mailing lists move
    /// the original Message-ID to one of the others): X-Message-Id, Resent-Message-Id,
    /// X-Original-Message-ID, Message-Id; as written (with their angle brackets).
    pub fn message_ids(&self) -> impl Iterator<Item = &str> + '_ {
        ["x-message-id", "resent-message-id", "x-original-message-id", "message-id"]
            .into_iter()
            .flat_map(|n| self.header_fields(n))
            .map(|h| h.raw.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The header block as written (folds and spacing kept, LF line ends): `ALL:raw`.
    pub fn header_block(&self) -> &[u8] {
        let end = self.full.windows(2).position(|w| w == b"\n\n").map_or(self.full.len(), |i| i + 1);
        &self.full[..end]
    }

    /// Every field of a name, decoded, one a line: what SpamAssassin's `$pms->get(NAME)`
    /// gives in scalar context ("" when there is none).
    pub fn joined(&self, name: &str) -> String {
        self.header_fields(name).map(|h| h.decoded.as_str()).collect::<Vec<_>>().join("\n")
    }

    pub fn header_fields<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a HeaderField> + 'a {
        self.headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name))
    }
}

fn push_uri(out: &mut Vec<String>, uri: &str) {
    let uri = uri.trim().trim_matches(['"', '\'', '<', '>']).replace("&amp;", "&");
    if uri.is_empty() || out.len() >= MAX_URIS {
        return;
    }
    let lower = uri.to_ascii_lowercase();
    let uri = if lower.starts_with("www.") {
        format!("http://{uri}")
    } else if lower.starts_with("ftp.") {
        format!("ftp://{uri}")
    } else {
        uri
    };
    if !out.contains(&uri) {
        out.push(uri);
    }
}

/// `href`, `src` and `action` attribute values.
fn extract_html_uris(html: &str, out: &mut Vec<String>) {
    let lower = html.to_ascii_lowercase();
    for attribute in ["href", "src", "action", "background"] {
        let mut from = 0;
        while let Some(found) = lower[from..].find(attribute) {
            let start = from + found + attribute.len();
            from = start;
            let rest = &html[start..];
            let rest_trim = rest.trim_start();
            let Some(after_eq) = rest_trim.strip_prefix('=') else { continue };
            let value = after_eq.trim_start();
            let (quote, value) = match value.chars().next() {
                Some(q @ ('"' | '\'')) => (Some(q), &value[1..]),
                _ => (None, value),
            };
            let end = match quote {
                Some(q) => value.find(q),
                None => value.find(|c: char| c.is_whitespace() || c == '>'),
            }
            .unwrap_or(value.len().min(2048));
            let uri = &value[..end.min(2048)];
            let l = uri.to_ascii_lowercase();
            if l.starts_with("http") || l.starts_with("www.") || l.starts_with("ftp") || l.starts_with("mailto:") {
                push_uri(out, uri);
            }
        }
    }
}

/// `http(s)://...` and `www....` written in text.
fn extract_text_uris(text: &str, out: &mut Vec<String>) {
    let lower = text.to_ascii_lowercase();
    for scheme in ["http://", "https://", "www."] {
        let mut from = 0;
        while let Some(found) = lower[from..].find(scheme) {
            let start = from + found;
            if scheme == "www." && start > 0 && !lower.as_bytes()[start - 1].is_ascii_whitespace() {
                from = start + scheme.len();
                continue;
            }
            let end = text[start..]
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | ')' | ']'))
                .map_or(text.len(), |e| start + e);
            push_uri(out, text[start..end].trim_end_matches(['.', ',', ';']));
            from = end.max(start + scheme.len());
        }
    }
}

/// Ends an address written in text (SpamAssassin's `$tbirdenddelimemail`): white space,
/// `><"`}]{[|`, ESC, no-break space, `,`, `(`, `'`, and any byte outside ASCII.
fn ends_address(b: u8) -> bool {
    b.is_ascii_whitespace() || b"><\"`}]{[|,(\'\x1b".contains(&b) || b >= 0x80
}

/// May precede a URI in text (SpamAssassin's `$tbirdstartdelim`).
fn starts_uri_after(b: u8) -> bool {
    b.is_ascii_whitespace() || b"><\"'`,{[(|\x1b".contains(&b) || b == 0xa0
}

/// The addresses written in one line of body text, as SpamAssassin's text URI pattern finds
/// them, each as the URI it makes (`mailto:user@host`, or `http://...` for one with a `/`
/// before its `@`); their domains still to be checked.
fn text_addresses(line: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_previous = 0;
    for at in memchr::memchr_iter(b'@', line) {
        if at < after_previous {
            continue;
        }
        let mut start = at;
        while start > 0 && !ends_address(line[start - 1]) && line[start - 1] != b'@' {
            start -= 1;
        }
        // The match starts at a word boundary or after a start delimiter.
        while start < at
            && !(start == 0
                || starts_uri_after(line[start - 1])
                || line[start].is_ascii_alphanumeric()
                || line[start] == b'_')
        {
            start += 1;
        }
        let mut end = at + 1;
        while end < line.len() && !ends_address(line[end]) && end - at <= 251 {
            end += 1;
        }
        if start == at || at - start > 251 || end == at + 1 {
            continue;
        }
        after_previous = end;
        let token = String::from_utf8_lossy(&line[start..end]).into_owned();
        // A URL's own `@` (the knownscheme alternative matches first there).
        if ["http://", "https://", "ftp://", "www.", "ftp."]
            .iter()
            .any(|s| token.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)))
        {
            continue;
        }
        // As Thunderbird: `)` ends it when no `(` precedes; a trailing punctuation run goes.
        let mut raw = token.split(')').next().unwrap_or("").to_owned();
        let kept = raw.trim_end_matches(|c: char| "-~!@#^&*()_+=:;'?,.".contains(c)).len();
        raw.truncate(kept);
        let lower = raw.to_ascii_lowercase();
        if !raw.contains('@') || lower.starts_with("cid:") || lower.starts_with("mid:") {
            continue;
        }
        if lower.starts_with("mailto:") {
            out.push(raw);
            continue;
        }
        // A `/` with something between it and a later `@` (`/\/.+\@/`): a path, made http://.
        if raw.find('/').is_some_and(|slash| raw[slash + 1..].find('@').is_some_and(|at| at > 0)) {
            out.push(format!("http://{raw}"));
            continue;
        }
        let (_, domain) = raw.split_once('@').unwrap_or_default();
        if domain.len() < 2 || !domain[1..].contains('.') || raw.contains("&nbsp;") {
            continue;
        }
        // `mail:`, `email:`, `e-mail:`, `skype:` before the address are not part of it.
        let mut address = raw.as_str();
        // `^(?:skype|e?-?mail)?:+`
        for prefix in ["skype", "e-mail", "email", "-mail", "mail", ""] {
            if lower.starts_with(prefix) && raw[prefix.len()..].starts_with(':') {
                address = raw[prefix.len()..].trim_start_matches(':');
                break;
            }
        }
        out.push(format!("mailto:{address}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn addresses_in_text_as_spamassassins_text_uri_pattern_finds_them() {
        let found = |line: &str| text_addresses(line.as_bytes());
        assert_eq!(found("write to unsubscribe@lists.example.com today"), ["mailto:unsubscribe@lists.example.com"]);
        // A `mail:` label and a trailing comma or full stop are not part of it.
        assert_eq!(found("Email:john@corp.example.org, or call"), ["mailto:john@corp.example.org"]);
        assert_eq!(found("(see bob@shop.example.net)."), ["mailto:bob@shop.example.net"]);
        assert_eq!(found("mailto:a@b.example.org?subject=remove"), ["mailto:a@b.example.org?subject=remove"]);
        // A URL's own `@`, a word without a dot after it, a content id: none.
        assert!(found("http://track.example.com/u?e=a@b.com and www.x.com/a@b.com").is_empty());
        assert!(found("Buy Vi@gra now").is_empty());
        assert!(found("[cid:image001.png@01D4986E.E3459640]").is_empty());
        // A `/` before the `@`: a path, not an address (SpamAssassin makes it http://).
        assert_eq!(found("see foo/bar@baz.example.com"), ["http://foo/bar@baz.example.com"]);
        assert_eq!(
            found("two: a@x.example.com; b@y.example.com"),
            ["mailto:a@x.example.com", "mailto:b@y.example.com"]
        );
    }

    #[test]
    fn text_addresses_join_the_uris_when_their_domain_is_valid() {
        let raw = b"From: a@b.example\r\nSubject: list\r\n\r\nTo leave, write to leave@lists.example.com or x@y.invalidtld\r\n";
        let message = MessageParser::default().parse(raw.as_slice()).unwrap();
        let mut view = MessageView::new(&message, "", &[]);
        assert!(!view.uri_list.iter().any(|u| u.starts_with("mailto:")));
        view.add_text_addresses(|host| host.ends_with(".com"));
        assert_eq!(view.uri_list, ["mailto:leave@lists.example.com"]);
        assert_eq!(view.uris, b"mailto:leave@lists.example.com");
    }

    #[test]
    fn keeps_every_field_as_written_even_those_the_parser_drops() {
        // mail-parser drops a Message-ID without `@`; SpamAssassin's rules still see it
        // (MISSING_MID must not fire, MSGID_SHORT may).
        // (mail-parser 0.11 drops it with LF line ends, as mail is often stored.)
        let raw = b"Received: from a\n\tby b; Mon, 19 Feb 2001 13:57:29 +0000\nnot a header line\n\
DATE: 18 Feb 01 12:29:13 AM\nMessage-ID: <9PS291LhupY>\nSubject: =?utf-8?q?Gro=C3=9Fe?=\n  sale\n\n\
body: not a header\n";
        let message = MessageParser::default().parse(raw.as_slice()).unwrap();
        let view = MessageView::new(&message, "", &[]);
        let names: Vec<&str> = view.headers.iter().map(|h| h.written_name.as_str()).collect();
        assert_eq!(names, ["Received", "DATE", "Message-ID", "Subject"]);
        let id = view.header_fields("message-id").next().expect("the dropped field is there");
        assert_eq!((id.raw.as_str(), id.decoded.as_str()), ("<9PS291LhupY>", "<9PS291LhupY>"));
        assert_eq!(view.header_fields("received").next().unwrap().raw, "from a\tby b; Mon, 19 Feb 2001 13:57:29 +0000");
        assert_eq!(view.header_fields("subject").next().unwrap().decoded, "Gro\u{df}e sale");
        assert_eq!(decode_encoded_words("=?utf-8?q?Gro=C3=9Fe?= <a@b>"), "Gro\u{df}e <a@b>");
    }

    #[test]
    fn address_fields_read_as_written_with_their_words_decoded() {
        // SpamAssassin's `get('To')`: brackets and the sender's own quoting kept
        // (`__TO_NO_ARROWS_R`, `To !~ /(?:>$|>,)/`, reads them); the addresses themselves
        // are still parsed for `:addr`.
        let raw = b"From: =?utf-8?q?Gro=C3=9Fe_Shop?= <deals@shop.example>\r\nTo: <user@corp.example>\r\n\
Cc: 'Pat' <pat@corp.example>, bob@corp.example\r\n\r\nhi\r\n";
        let message = MessageParser::default().parse(raw.as_slice()).unwrap();
        let view = MessageView::new(&message, "", &[]);
        let decoded = |name: &str| view.header_fields(name).next().unwrap().decoded.clone();
        assert_eq!(decoded("to"), "<user@corp.example>");
        assert_eq!(decoded("from"), "Gro\u{df}e Shop <deals@shop.example>");
        assert_eq!(decoded("cc"), "'Pat' <pat@corp.example>, bob@corp.example");
        let cc = view.header_fields("cc").next().unwrap();
        let addresses: Vec<&str> = cc.addresses.iter().map(|(_, a)| a.as_str()).collect();
        assert_eq!(addresses, ["pat@corp.example", "bob@corp.example"]);
    }

    #[test]
    fn renders_like_spamassassin() {
        let raw = b"From: \"Shop\" <deals@shop.example>\r\nSubject: =?utf-8?q?Gro=C3=9Fe?= sale\r\n\
X-Long: one\r\n  two\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nBuy   now\r\nat www.shop.example/x.\r\n\r\n\r\nSecond  paragraph\r\n--b\r\n\
Content-Type: text/html\r\n\r\n<p>Click <a href=\"https://t.example/c?a=1&amp;b=2\">here</a></p>\r\n--b--\r\n";
        let message = MessageParser::default().parse(raw.as_slice()).unwrap();
        let view = MessageView::new(&message, "bounce@shop.example", &[]);
        let body = String::from_utf8(view.body.clone()).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines[0], "Große sale", "the subject comes first, decoded");
        assert_eq!(lines[1], "Buy now at www.shop.example/x.");
        assert_eq!(lines[2], "Second paragraph");
        assert!(lines[3].contains("Click here"), "{lines:?}");
        assert!(!body.contains("<a"), "HTML rendered");
        assert!(String::from_utf8_lossy(&view.rawbody).contains("<a href"), "rawbody keeps the tags");
        assert_eq!(view.uri_list, vec!["https://t.example/c?a=1&b=2", "http://www.shop.example/x"]);
        let long: Vec<&HeaderField> = view.header_fields("x-long").collect();
        assert_eq!(long[0].raw, "one  two");
        let from: Vec<&HeaderField> = view.header_fields("From").collect();
        assert_eq!(from[0].addresses, vec![("Shop".to_owned(), "deals@shop.example".to_owned())]);
        assert_eq!(view.parts.len(), 2);
        assert!(view.mime_headers.iter().any(|(n, v)| n == "content-type" && v == "text/html"));
    }

    #[test]
    fn uppercase_share_as_mimeeval_counts_it() {
        let view_of = |content_type: &str, body: &str| {
            let raw = format!("Subject: hi\r\nContent-Type: {content_type}\r\n\r\n{body}\r\n");
            let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
            MessageView::new(&message, "", &[])
        };
        // 60 capitals, 60 digits and 40 lower-case letters in 211 characters: digits count
        // as lower case (60 / 160); the subject, one word, is not counted.
        let shouting = format!("{}\r\n\r\n{}", "ABCDEFGHIJ 1234567890 ".repeat(6), "x ".repeat(40));
        let share = view_of("text/plain", &shouting).uppercase_percent().unwrap();
        assert!((share - 37.5).abs() < 0.01, "{share}");
        // A line without an inner space does not count: the 150 capitals are left out, and
        // the 48 characters left are too few.
        let one_word = format!("{}\r\n\r\n{}", "A".repeat(150), "a b".repeat(16));
        assert_eq!(view_of("text/plain", &one_word).uppercase_percent(), None);
        // Leftover base64 lines are skipped; Japanese and Cyrillic charsets never count.
        let base64 = format!("{} {} END\r\n\r\n{}", "QUJD".repeat(16), "REVG".repeat(16), "x y ".repeat(60));
        let counted = view_of("text/plain", &base64).uppercase_percent().unwrap();
        assert!(counted < 1.0, "the base64 words' capitals are not counted: {counted}");
        assert_eq!(view_of("text/plain; charset=\"ISO-2022-JP\"", &shouting).uppercase_percent(), None);
        assert_eq!(view_of("text/plain; charset=koi8-r", &shouting).uppercase_percent(), None);
        assert!(view_of("text/plain; charset=utf-8", &shouting).uppercase_percent().is_some());
    }

    #[test]
    fn an_attached_message_is_read_as_spamassassin_reads_it() {
        // A phish forwarded as an attachment: SpamAssassin 4.0.1's body text is the
        // subject, the note, then the attached message's body (not its subject).
        let raw = b"From: a@b.example\r\nSubject: Fwd: check this\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nSee the attached.\r\n\
--XX\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"phish.eml\"\r\n\r\n\
From: bank@evil.example\r\nSubject: Verify your account\r\nContent-Type: text/html\r\n\r\n\
<p>Your account is suspended.</p><p>Click here</p>\r\n--XX--\r\n";
        let message = MessageParser::default().parse(raw.as_slice()).unwrap();
        let view = MessageView::new(&message, "", &[]);
        let body = String::from_utf8(view.body.clone()).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines, ["Fwd: check this", "See the attached.", "Your account is suspended.", "Click here"]);
        assert!(String::from_utf8_lossy(&view.rawbody).contains("<p>Click here</p>"));
        assert_eq!(view.html.len(), 1, "the attached message's HTML part is read by the HTML checks too");
    }

    #[test]
    fn an_html_part_is_paragraphs_as_spamassassin_renders_it() {
        // foff-milter's Ally Bank newsletter, cut down: SpamAssassin's body array holds the
        // title and each block element's text apart (three or more lines, so
        // `__BODY_TEXT_LINE < 3` and `BODY_URI_ONLY` do not hold); source line breaks are
        // spaces, `<br>` alone is a space too. The title's blank line before it leaves an
        // empty line after the subject, as in SpamAssassin's array.
        let raw = b"Subject: Referral rewards\r\nContent-Type: text/html\r\n\r\n<html><head><title>Ally Bank\r\n\
Referral</title></head><body><div><h2>Enhanced Rewards</h2><p>Dear Valued\r\nCustomer,</p><ul><li>Earn \
<strong>$250</strong></li><li>Faster</li></ul><p>Sincerely,<br>The Team</p></div></body></html>\r\n";
        let message = MessageParser::default().parse(raw.as_slice()).unwrap();
        let view = MessageView::new(&message, "", &[]);
        let body = String::from_utf8(view.body.clone()).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(
            lines,
            [
                "Referral rewards",
                "",
                "Ally Bank Referral",
                "Enhanced Rewards",
                "Dear Valued Customer,",
                "Earn $250 Faster",
                "Sincerely, The Team"
            ]
        );
    }
}
