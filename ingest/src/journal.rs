//! Journal formats: what arrived, and how to get the original message and its real
//! recipients out of it. Pure: bytes in, [`Unwrapped`] out.
//!
//! - Exchange / Microsoft 365 envelope journal reports (`X-MS-Journal-Report`, or Exchange
//!   2003's `Content-Identifier: ExJournalReport`): a text part of `Field: value` lines and
//!   the original as a `message/rfc822` attachment in any transfer encoding. The original
//!   comes out byte for byte; the recipients are the report's To / Cc / Bcc / Recipient
//!   lines (the address before `, Expanded:` / `, Forwarded:`).
//! - Google Workspace BCC / routing copies: the message itself; `X-Gm-Original-To` names
//!   the original recipient; `X-Gm-Spam` / `X-Gm-Phishy` are Google's verdicts.
//! - Plain BCC: the message itself; the recipients are its To and Cc.
//!
//! A report that cannot be unwrapped is kept whole and flagged, never dropped.

use mail_parser::{Address, Encoding, Message, MessageParser, MimeHeaders, PartType};
use proto::JournalFormat;
use std::borrow::Cow;

/// The result of reading one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrapped<'a> {
    pub format: JournalFormat,
    /// The original message: what is stored and scored.
    pub original: Cow<'a, [u8]>,
    /// The original's envelope sender, where the journal format names it.
    pub sender: Option<String>,
    /// The original's real recipients, lower-case, in order of first appearance.
    pub recipients: Vec<String>,
    /// The Message-ID of what is stored (the original; the whole report when it could not
    /// be unwrapped), brackets removed.
    pub message_id: Option<String>,
    pub gmail_spam: Option<bool>,
    pub gmail_phishy: Option<bool>,
    /// Why a journal report could not be unwrapped (format `UnwrapFailed`).
    pub problem: Option<String>,
}

impl<'a> Unwrapped<'a> {
    fn as_is(format: JournalFormat, message: &'a [u8]) -> Self {
        Unwrapped {
            format,
            original: Cow::Borrowed(message),
            sender: None,
            recipients: Vec::new(),
            message_id: None,
            gmail_spam: None,
            gmail_phishy: None,
            problem: None,
        }
    }
}

/// Reads a received message as whichever journal format it is.
pub fn unwrap(message: &[u8]) -> Unwrapped<'_> {
    let parser = MessageParser::new();
    let Some(headers) = parser.parse_headers(message) else {
        return Unwrapped::as_is(JournalFormat::PlainBcc, message);
    };
    let is_exchange = headers.header_raw("X-MS-Journal-Report").is_some()
        || headers.header_raw("Content-Identifier").is_some_and(|v| v.trim().eq_ignore_ascii_case("ExJournalReport"));
    let message_id = headers.message_id().map(str::to_owned);
    if is_exchange {
        return unwrap_exchange(message, message_id);
    }
    if let Some(original_to) = headers.header_raw("X-Gm-Original-To") {
        let mut u = Unwrapped { message_id, ..Unwrapped::as_is(JournalFormat::GoogleBcc, message) };
        push_addresses_from_text(original_to, &mut u.recipients);
        u.gmail_spam = headers.header_raw("X-Gm-Spam").and_then(flag);
        u.gmail_phishy = headers.header_raw("X-Gm-Phishy").and_then(flag);
        return u;
    }
    let mut u = Unwrapped { message_id, ..Unwrapped::as_is(JournalFormat::PlainBcc, message) };
    for list in [headers.to(), headers.cc()].into_iter().flatten() {
        push_addresses(list, &mut u.recipients);
    }
    u
}

/// `report_message_id`: the report's own, for a report that is stored whole.
fn unwrap_exchange(message: &[u8], report_message_id: Option<String>) -> Unwrapped<'_> {
    let failed = |problem: &str| Unwrapped {
        problem: Some(problem.to_owned()),
        message_id: report_message_id.clone(),
        ..Unwrapped::as_is(JournalFormat::UnwrapFailed, message)
    };
    let Some(report) = MessageParser::new().parse(message) else {
        return failed("journal report could not be parsed");
    };
    // The first message/rfc822 part below the report's root is the original.
    let attached = report.parts.iter().skip(1).find_map(|p| match &p.body {
        PartType::Message(inner) => Some((p, inner)),
        _ => None,
    });
    let Some((part, original)) = attached else {
        return failed("journal report has no message/rfc822 part");
    };
    // Unencoded (7bit, 8bit, binary), the original is the part's body as it stands in the
    // report, up to the report's own boundary: sliced here rather than taken from the
    // parser's nested message, which a broken MIME structure inside the original could
    // stretch or cut. Encoded, it is the decoded body.
    let original_bytes = match part.encoding {
        Encoding::None => {
            let boundary = report.root_part().content_type().and_then(|ct| ct.attribute("boundary"));
            match boundary.and_then(|b| body_before_delimiter(message, part.offset_body as usize, b)) {
                Some(bytes) => bytes.to_vec(),
                None => return failed("the attached original's end (the report's boundary) was not found"),
            }
        }
        _ => original.raw_message().to_vec(),
    };
    let fields = report_fields(&report);
    let mut recipients = Vec::new();
    let mut sender = None;
    for (name, value) in &fields {
        match name.as_str() {
            "sender" => sender = first_address(value),
            "to" | "cc" | "bcc" | "recipient" | "recipients" => {
                // `addr` or `addr, Expanded: list` or `addr, Forwarded: from`.
                let first = value.split(", Expanded:").next().unwrap_or(value);
                let first = first.split(", Forwarded:").next().unwrap_or(first);
                push_addresses_from_text(first, &mut recipients);
            }
            _ => {}
        }
    }
    if recipients.is_empty() {
        // A report without recipient lines: fall back to the original's own headers.
        for list in [original.to(), original.cc()].into_iter().flatten() {
            push_addresses(list, &mut recipients);
        }
    }
    Unwrapped {
        format: JournalFormat::ExchangeEnvelope,
        original: Cow::Owned(original_bytes),
        sender,
        recipients,
        message_id: original.message_id().map(str::to_owned),
        gmail_spam: None,
        gmail_phishy: None,
        problem: None,
    }
}

/// The `Field: value` lines of the report's first text part, names lower-cased.
fn report_fields(report: &Message<'_>) -> Vec<(String, String)> {
    let text = report.parts.iter().skip(1).find_map(|p| match &p.body {
        PartType::Text(t) => Some(t.as_ref()),
        _ => None,
    });
    let Some(text) = text else { return Vec::new() };
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim();
            (!name.is_empty() && !name.contains(' ')).then(|| (name.to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect()
}

/// The bytes from `start` to the next delimiter line `--boundary` (RFC 2046 5.1.1: the
/// line break before the delimiter belongs to it).
fn body_before_delimiter<'a>(message: &'a [u8], start: usize, boundary: &str) -> Option<&'a [u8]> {
    let body = message.get(start..)?;
    let delimiter = format!("--{boundary}");
    let mut from = 0;
    while let Some(pos) = find(&body[from..], delimiter.as_bytes()) {
        let at = from + pos;
        let line_start = at == 0 || body[at - 1] == b'\n';
        let after = body.get(at + delimiter.len()..).unwrap_or_default();
        let whole = after.is_empty() || matches!(after[0], b'\r' | b'\n' | b' ' | b'\t' | b'-');
        if line_start && whole {
            let end = if at == 0 {
                0
            } else if at >= 2 && body[at - 2] == b'\r' {
                at - 2
            } else {
                at - 1
            };
            return Some(&body[..end]);
        }
        from = at + 1;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn flag(v: &str) -> Option<bool> {
    match v.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

fn first_address(text: &str) -> Option<String> {
    let mut out = Vec::new();
    push_addresses_from_text(text, &mut out);
    out.into_iter().next()
}

/// Addresses in free text: `a@b`, `<a@b>`, `Name <a@b>`, comma-separated.
fn push_addresses_from_text(text: &str, out: &mut Vec<String>) {
    for item in text.split([',', ';']) {
        let item = item.trim();
        let addr = match (item.rfind('<'), item.rfind('>')) {
            (Some(a), Some(b)) if a < b => &item[a + 1..b],
            _ => item,
        };
        push_one(addr, out);
    }
}

fn push_addresses(list: &Address<'_>, out: &mut Vec<String>) {
    for addr in list.iter() {
        if let Some(a) = addr.address() {
            push_one(a, out);
        }
    }
}

fn push_one(addr: &str, out: &mut Vec<String>) {
    let a = addr.trim().to_lowercase();
    if a.contains('@') && !a.contains(char::is_whitespace) && !out.contains(&a) {
        out.push(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@corp.example\r\nSubject: Hi\r\nMessage-ID: <orig-1@example.com>\r\n\r\nHello Bob\r\n";

    fn report(encoding: &str, original: &[u8], lines: &str) -> Vec<u8> {
        let body: Vec<u8> = match encoding {
            "base64" => testkit::journal::base64(original).into_bytes(),
            _ => original.to_vec(),
        };
        let mut out = format!(
            "From: Microsoft Exchange <journal@corp.example>\r\nTo: journal@postern.localhost\r\n\
Subject: Hi\r\nX-MS-Journal-Report:\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"rep\"\r\n\r\n--rep\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
{lines}\r\n--rep\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\r\n--rep--\r\n");
        out
    }

    const LINES: &str = "Sender: alice@example.com\r\nSubject: Hi\r\nMessage-Id: <orig-1@example.com>\r\n\
To: bob@corp.example\r\nCc: Carol <carol@corp.example>\r\nBcc: dave@corp.example\r\n\
To: erin@corp.example, Expanded: team@corp.example\r\nRecipient: frank@corp.example, Forwarded: bob@corp.example\r\n";

    #[test]
    fn exchange_reports_unwrap_byte_for_byte_in_every_encoding() {
        for encoding in ["7bit", "8bit", "binary", "base64"] {
            let r = report(encoding, ORIGINAL, LINES);
            let u = unwrap(&r);
            assert_eq!(u.format, JournalFormat::ExchangeEnvelope, "{encoding}");
            assert_eq!(u.original.as_ref(), ORIGINAL, "{encoding}: {:?}", String::from_utf8_lossy(&u.original));
            assert_eq!(u.sender.as_deref(), Some("alice@example.com"));
            assert_eq!(u.message_id.as_deref(), Some("orig-1@example.com"));
            assert_eq!(
                u.recipients,
                vec![
                    "bob@corp.example",
                    "carol@corp.example",
                    "dave@corp.example",
                    "erin@corp.example",
                    "frank@corp.example"
                ]
            );
        }
    }

    #[test]
    fn a_broken_original_comes_out_whole() {
        // An unterminated multipart inside the original must not stretch or cut it.
        let broken: &[u8] = b"From: a@b.example\nMessage-ID: <m@b>\nContent-Type: multipart/mixed; boundary=\"in\"\n\n--in\nContent-Type: text/plain\n\nno end\n";
        for encoding in ["7bit", "base64"] {
            let r = report(encoding, broken, LINES);
            let u = unwrap(&r);
            assert_eq!(u.format, JournalFormat::ExchangeEnvelope);
            assert_eq!(u.original.as_ref(), broken, "{encoding}");
        }
    }

    #[test]
    fn delimiters_are_found_only_at_line_starts() {
        let m = b"xx--b not\r\n--bx\r\nbody\r\n--b--\r\n";
        assert_eq!(body_before_delimiter(m, 0, "b"), Some(&b"xx--b not\r\n--bx\r\nbody"[..]));
        assert_eq!(body_before_delimiter(b"--b\r\n", 0, "b"), Some(&b""[..]));
        assert_eq!(body_before_delimiter(b"no delimiter", 0, "b"), None);
    }

    #[test]
    fn exchange_2003_reports_are_recognised() {
        let r = report("7bit", ORIGINAL, LINES);
        let r = String::from_utf8(r)
            .unwrap()
            .replace("X-MS-Journal-Report:\r\n", "Content-Identifier: ExJournalReport\r\n");
        assert_eq!(unwrap(r.as_bytes()).format, JournalFormat::ExchangeEnvelope);
    }

    #[test]
    fn a_report_without_the_original_is_kept_whole_and_flagged() {
        let r = b"X-MS-Journal-Report:\r\nContent-Type: text/plain\r\n\r\nSender: a@b.example\r\n".to_vec();
        let u = unwrap(&r);
        assert_eq!(u.format, JournalFormat::UnwrapFailed);
        assert_eq!(u.original.as_ref(), r.as_slice());
        assert!(u.problem.unwrap().contains("message/rfc822"));
    }

    #[test]
    fn google_copies_carry_the_original_recipient_and_verdicts() {
        let m = b"X-Gm-Original-To: Bob@Corp.example\r\nX-Gm-Spam: 0\r\nX-Gm-Phishy: 1\r\nFrom: a@b.example\r\nTo: list@corp.example\r\n\r\nx\r\n";
        let u = unwrap(m);
        assert_eq!(u.format, JournalFormat::GoogleBcc);
        assert_eq!(u.recipients, vec!["bob@corp.example"]);
        assert_eq!((u.gmail_spam, u.gmail_phishy), (Some(false), Some(true)));
        assert_eq!(u.original.as_ref(), m.as_slice());
    }

    #[test]
    fn plain_copies_take_to_and_cc() {
        let m = b"From: a@b.example\r\nTo: X <x@corp.example>, y@corp.example\r\nCc: z@corp.example\r\n\r\nx\r\n";
        let u = unwrap(m);
        assert_eq!(u.format, JournalFormat::PlainBcc);
        assert_eq!(u.recipients, vec!["x@corp.example", "y@corp.example", "z@corp.example"]);
    }

    #[test]
    fn garbage_is_plain_and_whole() {
        for m in [
            &b""[..],
            b"\x00\xff\xfe",
            b"X-MS-Journal-Report:\r\n\r\n",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        ] {
            let u = unwrap(m);
            assert_eq!(u.original.as_ref(), m);
        }
    }
}
