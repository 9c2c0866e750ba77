//! The text an HTML part shows, as mail-parser renders it, with its comments closed where
//! HTML closes them.
//!
//! mail-parser's `html_to_text` (0.11) ends a comment only at a `>` after exactly two
//! dashes, counting the opener's own: a comment closed by more (`<!----- note ----->`,
//! common in newsletter templates) or an empty one (`<!---->`) never ends, and everything
//! after it (the whole visible text of the message) is read as comment. HTML ends a comment
//! at the first `-->` whatever comes before it. [`html_to_text`] rewrites such comments'
//! ends (`<!----- note -->`; a comment's content is never shown) and leaves every other
//! byte as written; a message without them is not copied.

use mail_parser::{Message, PartType};
use std::borrow::Cow;

/// The text `html` shows, read by mail-parser after [`comments_closed`].
pub fn html_to_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(&comments_closed(html))
}

/// Where the first end tag of element `name` starts in `html` (any case): `</name` followed
/// by white space, `/`, `>` or the end of the text, as HTML ends a tag name, so `</a>` and
/// `</A\r\n>` (as some templates wrap it) and not `</abbr>`.
pub fn end_tag(html: &str, name: &str) -> Option<usize> {
    let bytes = html.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&bytes[from..], b"</").map(|i| i + from) {
        let after = i + 2 + name.len();
        if bytes.get(i + 2..after).is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            && bytes.get(after).is_none_or(|b| b.is_ascii_whitespace() || matches!(b, b'/' | b'>'))
        {
            return Some(i);
        }
        from = i + 2;
    }
    None
}

/// Every body text of the message, in order ([`body_text`] of each; `None` for a body part
/// that is neither text nor HTML).
pub fn body_texts<'m, T: FromIterator<Option<Cow<'m, str>>>>(message: &'m Message<'_>) -> T {
    (0..message.text_body.len()).map(|i| body_text(message, i)).collect()
}

/// Body text `i` of the message (text/plain as written, text/html rendered), as
/// mail-parser's `Message::body_text` gives it, with HTML comments read as HTML ends them.
pub fn body_text<'m>(message: &'m Message<'_>, i: usize) -> Option<Cow<'m, str>> {
    let part = message.parts.get(*message.text_body.get(i)? as usize)?;
    match &part.body {
        PartType::Text(text) => Some(Cow::Borrowed(text.as_ref())),
        PartType::Html(html) => Some(Cow::Owned(html_to_text(html))),
        _ => None,
    }
}

/// `html` with every comment ending in ` -->` after its last character that is not a
/// dash, where mail-parser would not see its end; unchanged (borrowed) when none needs it.
pub fn comments_closed(html: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(open) = html[from..].find("<!--").map(|i| i + from) {
        let content_start = open + 4;
        let Some(close) = html[content_start..].find("-->").map(|i| i + content_start) else { break };
        let content = &html[content_start..close];
        // mail-parser counts the dashes right before `>` since the last other character,
        // the opener's two included: it sees the end when there are exactly two.
        let needs_rewrite = content.is_empty() || content.ends_with('-');
        if needs_rewrite {
            let out = out.get_or_insert_with(|| String::with_capacity(html.len() + 16));
            out.push_str(&html[copied..content_start]);
            out.push_str(content.trim_end_matches('-'));
            out.push_str(" -->");
            copied = close + 3;
        }
        from = close + 3;
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut out) => {
            out.push_str(&html[copied..]);
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_end_tag_is_its_name_then_a_space_a_slash_or_the_bracket() {
        use super::end_tag;
        assert_eq!(end_tag("<abbr>x</abbr></a>", "a"), Some(14));
        assert_eq!(end_tag("x</A\r\n>", "a"), Some(1), "any case, white space before the bracket");
        assert_eq!(end_tag("body { }</STYLE>", "style"), Some(8));
        assert_eq!(end_tag("x</styles></style/>", "style"), Some(10));
        assert_eq!(end_tag("x</script", "script"), Some(1), "cut off at the end of the text");
        assert_eq!(end_tag("x</scrip", "script"), None);
        assert_eq!(end_tag("no end", "a"), None);
    }

    use super::*;

    #[test]
    fn a_comment_closed_by_more_dashes_ends_there() {
        let html = "<html><head><style>p{}</style></head><body><!----- header -----><p>Shop our jeans</p>\
<!----><p>Free shipping</p></body></html>";
        // mail-parser alone reads the rest as comment.
        assert!(!mail_parser::decoders::html::html_to_text(html).contains("jeans"));
        let text = html_to_text(html);
        assert!(text.contains("Shop our jeans") && text.contains("Free shipping"), "{text:?}");
        assert!(!text.contains("header"), "{text:?}");
    }

    #[test]
    fn ordinary_comments_are_left_as_written() {
        let html = "<p>a</p><!-- note --><!--[if mso]><table><![endif]--><p>b</p> arrows ---> stay";
        assert!(matches!(comments_closed(html), Cow::Borrowed(_)));
        assert_eq!(comments_closed("<!-- unterminated"), "<!-- unterminated");
        assert_eq!(comments_closed("x<!--a--->y<!---->z"), "x<!--a -->y<!-- -->z");
    }

    #[test]
    fn body_text_renders_html_parts_with_their_comments_closed() {
        let raw = "From: a@b.example\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n<!----- x -----><p>Visible words</p>\r\n";
        let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert!(body_text(&message, 0).is_some_and(|t| t.contains("Visible words")));
        assert!(message.body_text(0).is_some_and(|t| !t.contains("Visible words")), "mail-parser's own");
    }
}
