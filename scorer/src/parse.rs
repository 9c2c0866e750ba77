//! Parsing a message for the checks: mail-parser, with the one repair that mail needs and
//! mail-parser 0.11 does not make.
//!
//! A multipart whose closing delimiter (`--BOUNDARY--`) never comes, as in spam written by
//! hand-rolled ratware and in truncated copies, is still read part by part by mail clients
//! and by SpamAssassin; mail-parser 0.11 reads the parts too, but leaves the last one as it
//! was written: its transfer encoding not undone and its type taken as text/plain, so an
//! HTML part in base64 reached every check as lines of base64 (8 of the 2002 corpus's spam).
//! Such a message is parsed again with the missing delimiters added at its end, innermost
//! first. The raw message that is stored, digested and shown is never changed.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// Parses `raw`; None when mail-parser finds no header at all.
pub fn parse_message(raw: &[u8]) -> Option<Message<'_>> {
    let message = MessageParser::default().parse(raw)?;
    let unclosed = unclosed_boundaries(&message, raw);
    if unclosed.is_empty() {
        return Some(message);
    }
    let line_end: &[u8] = if memchr::memmem::find(raw, b"\r\n").is_some() { b"\r\n" } else { b"\n" };
    let mut closed = raw.to_vec();
    // The innermost multipart comes last in the part list: its delimiter goes first.
    for boundary in unclosed.iter().rev() {
        if !closed.ends_with(line_end) {
            closed.extend_from_slice(line_end);
        }
        closed.extend_from_slice(b"--");
        closed.extend_from_slice(boundary.as_bytes());
        closed.extend_from_slice(b"--");
        closed.extend_from_slice(line_end);
    }
    match MessageParser::default().parse(&closed) {
        Some(repaired) => Some(repaired.into_owned()),
        None => Some(message),
    }
}

/// The boundaries of the message's multiparts whose closing delimiter is nowhere in `raw`,
/// outermost first.
fn unclosed_boundaries(message: &Message<'_>, raw: &[u8]) -> Vec<String> {
    message
        .parts
        .iter()
        .filter(|part| matches!(part.body, PartType::Multipart(_)))
        .filter_map(|part| part.content_type()?.attribute("boundary"))
        .filter(|boundary| !boundary.is_empty())
        .filter(|boundary| {
            let closing = format!("--{boundary}--");
            memchr::memmem::find(raw, closing.as_bytes()).is_none()
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::PartType;

    fn html_of(message: &Message<'_>) -> Option<String> {
        message.parts.iter().find_map(|part| match &part.body {
            PartType::Html(html) => Some(html.to_string()),
            _ => None,
        })
    }

    const BASE64_HTML: &str = "PGh0bWw+aGVsbG8gd29ybGQ8L2h0bWw+";

    #[test]
    fn a_multipart_without_its_closing_delimiter_is_decoded() {
        let raw = format!(
            "Subject: x\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/html\n\
             Content-Transfer-Encoding: base64\n\n\n{BASE64_HTML}\n"
        );
        // What mail-parser 0.11 makes of it alone: the part as written, read as text.
        let plain = MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert_eq!(html_of(&plain), None);
        let message = parse_message(raw.as_bytes()).unwrap();
        assert_eq!(html_of(&message).as_deref(), Some("<html>hello world</html>"));
        assert_eq!(message.subject(), Some("x"));
    }

    #[test]
    fn nested_multiparts_are_closed_innermost_first() {
        let raw = format!(
            "Subject: x\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n\
             Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n--inner\r\n\
             Content-Type: text/plain\r\n\r\nhello world\r\n--inner\r\nContent-Type: text/html\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{BASE64_HTML}\r\n"
        );
        let message = parse_message(raw.as_bytes()).unwrap();
        assert_eq!(html_of(&message).as_deref(), Some("<html>hello world</html>"));
        assert_eq!(message.body_text(0).as_deref(), Some("hello world"));
    }

    #[test]
    fn a_well_formed_message_is_parsed_once_as_written() {
        let raw = format!(
            "Subject: x\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/html\n\
             Content-Transfer-Encoding: base64\n\n{BASE64_HTML}\n--b1--\n"
        );
        let message = parse_message(raw.as_bytes()).unwrap();
        assert_eq!(html_of(&message).as_deref(), Some("<html>hello world</html>"));
        // Borrowed from the input, not a repaired copy.
        assert_eq!(message.raw_message().as_ptr(), raw.as_ptr());
    }
}
