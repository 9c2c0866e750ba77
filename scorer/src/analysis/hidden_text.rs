//! Hidden filler text: an HTML body that hides a block of prose the reader never sees
//! (`visibility:collapse; height:0`, `display:none`, `font-size:0`, `opacity:0`, a
//! zero-height box with `overflow:hidden`), written in words the visible text does not use:
//! sentences of a personal letter ("I meant to reply earlier, but the afternoon got away
//! from me...") under a brand's gift offer, there to make a filter's word counts read as
//! personal mail (hash-busting, "salad"). Newsletters hide text too, for other reasons and
//! in another shape: a preheader (a line or two, then invisible padding) and the copy of a
//! block laid out for another screen size (the same words as the visible one); neither
//! reaches [`MIN_NOVEL_WORDS`] words that the visible text lacks. CSS is read as it
//! inherits: `display:none`, `opacity:0` and a zero-height clipped box hide everything
//! inside; `font-size` and `visibility` are the nearest declaration's (a template's
//! `font-size:0` container around cells that set their own size hides nothing). Only
//! inline `style` attributes and the `hidden` attribute are read; conditional comments
//! (Outlook's `<!--[if mso]>`) are comments. Not in mail from the tenant's own or trusted
//! domains. SPAM.

use super::ScoreContext;
use std::collections::HashSet;
use std::sync::LazyLock;

pub const HIDDEN_FILLER_TEXT: &str = "hidden_filler_text";

/// Hidden words (three letters or more) absent from the visible text that make filler.
pub const MIN_NOVEL_WORDS: usize = 40;
/// The most HTML read of a part.
const MAX_HTML: usize = 512 * 1024;
/// The deepest element nesting followed (deeper elements inherit the last one's state).
const MAX_DEPTH: usize = 512;

/// Elements that have no end tag.
const VOID: &[&str] =
    &["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"];
/// Elements whose content is never shown as text.
const RAW: &[&str] = &["script", "style", "title", "head", "template", "noscript"];

/// What an element's inline style says about showing its content.
#[derive(Debug, Clone)]
struct Element<'h> {
    /// The tag name as written.
    name: &'h str,
    /// `display:none`, `opacity:0`, the `hidden` attribute, or a zero-height clipped box.
    hides: bool,
    /// The element's own `font-size`, when it declares one: whether it is zero.
    font_size_zero: Option<bool>,
    /// The element's own `visibility`, when it declares one: whether it hides.
    invisible: Option<bool>,
}

/// The value of the last declaration of `property` in an inline style, lower case,
/// `!important` dropped.
fn declared(style: &str, property: &str) -> Option<String> {
    style
        .split(';')
        .filter_map(|d| d.split_once(':'))
        .rfind(|(name, _)| name.trim().eq_ignore_ascii_case(property))
        .map(|(_, value)| value.trim().to_ascii_lowercase().replace("!important", "").trim().to_owned())
}

/// Whether a CSS length is zero (`0`, `0px`, `0.0em`...).
fn zero_length(value: &str) -> bool {
    let number = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
    !number.is_empty() && number.chars().all(|c| c == '0' || c == '.') && number.contains('0')
}

fn element<'h>(name: &'h str, tag: &str) -> Element<'h> {
    // Most elements have no style: no attribute to read.
    let style = if super::content::contains_ignore_case(tag.as_bytes(), b"style") {
        super::links::attribute(tag, "style").unwrap_or_default()
    } else {
        String::new()
    };
    let clipped_to_nothing = declared(&style, "overflow").is_some_and(|o| o == "hidden")
        && (declared(&style, "max-height").is_some_and(|h| zero_length(&h))
            || declared(&style, "height").is_some_and(|h| zero_length(&h)));
    let hidden_attribute = has_attribute_named(tag, "hidden");
    Element {
        name,
        hides: declared(&style, "display").is_some_and(|d| d == "none")
            || declared(&style, "opacity").is_some_and(|o| zero_length(&o))
            || clipped_to_nothing
            || hidden_attribute,
        font_size_zero: declared(&style, "font-size").map(|f| zero_length(&f)),
        invisible: declared(&style, "visibility").map(|v| v == "hidden" || v == "collapse"),
    }
}

/// Whether the start tag has an attribute called `name` (`<div hidden>`, `hidden=""`),
/// not counting words inside quoted values (`title="the hidden gem"`).
fn has_attribute_named(tag: &str, name: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut word_start: Option<usize> = None;
    let is_name = |word: &str| word.eq_ignore_ascii_case(name);
    for (i, c) in tag.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => {
                quote = Some(c);
                word_start = None;
            }
            c if c.is_whitespace() || matches!(c, '=' | '>' | '/' | '<') => {
                if let Some(start) = word_start.take()
                    && is_name(&tag[start..i])
                {
                    return true;
                }
            }
            _ => {
                word_start.get_or_insert(i);
            }
        }
    }
    false
}

/// What an HTML part must hold for any of its text to be hidden by an inline style or the
/// `hidden` attribute: without one of these, nothing is read.
static HIDING_MARKERS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(["none", "hidden", "collapse", "opacity", "font-size:0", "font-size: 0", "height:0", "height: 0"])
        .expect("a handful of literals build")
});

/// Whether text inside `stack` is hidden.
fn hidden(stack: &[Element<'_>]) -> bool {
    stack.iter().any(|e| e.hides)
        || stack.iter().rev().find_map(|e| e.font_size_zero).unwrap_or(false)
        || stack.iter().rev().find_map(|e| e.invisible).unwrap_or(false)
}

/// The text of `html` split into what is hidden and what is shown (character references
/// left as written; [`words`] skips them).
pub fn split_text(html: &str) -> (String, String) {
    let html = crate::classifier::clip(html, MAX_HTML);
    let (mut hidden_text, mut shown_text) = (String::new(), String::new());
    let mut stack: Vec<Element<'_>> = Vec::new();
    let mut at = 0;
    while at < html.len() {
        let Some(lt) = html[at..].find('<').map(|i| i + at) else {
            push_text(&stack, &html[at..], &mut hidden_text, &mut shown_text);
            break;
        };
        push_text(&stack, &html[at..lt], &mut hidden_text, &mut shown_text);
        let rest = &html[lt..];
        if rest.starts_with("<!--") {
            at = rest.find("-->").map_or(html.len(), |i| lt + i + 3);
            continue;
        }
        let Some(gt) = tag_end(rest).map(|i| lt + i) else { break };
        let tag = &html[lt..=gt];
        at = gt + 1;
        let closing = tag.starts_with("</");
        let after_bracket = tag.trim_start_matches(['<', '/']);
        let name_len = after_bracket.bytes().take_while(|b| b.is_ascii_alphanumeric()).count();
        let name = &after_bracket[..name_len];
        if name.is_empty() {
            continue;
        }
        let is = |list: &[&str]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
        if closing {
            if let Some(open) = stack.iter().rposition(|e| e.name.eq_ignore_ascii_case(name)) {
                stack.truncate(open);
            }
            continue;
        }
        if is(RAW) {
            at = closing_tag(&html[at..], name).map_or(html.len(), |i| at + i);
            continue;
        }
        if is(VOID) || tag.ends_with("/>") || stack.len() >= MAX_DEPTH {
            continue;
        }
        stack.push(element(name, tag));
    }
    (hidden_text, shown_text)
}

/// Where the end tag of `name` (`</style`, any case) starts in `rest`.
pub(crate) fn closing_tag(rest: &str, name: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    let mut from = 0;
    while let Some(i) = rest[from..].find("</").map(|i| i + from) {
        let candidate = bytes.get(i + 2..i + 2 + name.len())?;
        if candidate.eq_ignore_ascii_case(name.as_bytes()) {
            return Some(i);
        }
        from = i + 2;
    }
    None
}

/// The index of the `>` that ends the tag `rest` starts with (quoted values may hold `>`).
fn tag_end(rest: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in rest.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            (None, '<') => return Some(i.saturating_sub(1)),
            _ => {}
        }
    }
    None
}

fn push_text(stack: &[Element<'_>], text: &str, hidden_text: &mut String, shown_text: &mut String) {
    if text.trim().is_empty() {
        return;
    }
    let out = if hidden(stack) { hidden_text } else { shown_text };
    out.push_str(text);
    out.push(' ');
}

/// The words of `text` of three letters or more, lower case (character references such as
/// `&zwnj;` are not words).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_reference = false;
    for c in text.chars() {
        if c == '&' {
            in_reference = true;
        }
        if c.is_alphabetic() && !in_reference {
            word.extend(c.to_lowercase());
            continue;
        }
        if c == ';' || !c.is_alphanumeric() && c != '#' && c != '&' {
            in_reference = false;
        }
        if word.chars().count() >= 3 {
            out.push(std::mem::take(&mut word));
        }
        word.clear();
    }
    if word.chars().count() >= 3 {
        out.push(word);
    }
    out
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    if ctx.from_domain().is_some_and(|d| ctx.own_or_trusted(&d)) {
        return;
    }
    let (mut hidden_text, mut shown_text) = (String::new(), String::new());
    for html in ctx.message.html_bodies().filter_map(|p| p.text_contents()) {
        if !HIDING_MARKERS.is_match(html) {
            continue;
        }
        let (h, s) = split_text(html);
        hidden_text.push_str(&h);
        shown_text.push_str(&s);
    }
    // A preheader's line or two: too few words to be filler, whatever the visible text.
    let hidden_words = words(&hidden_text);
    if hidden_words.len() < MIN_NOVEL_WORDS {
        return;
    }
    let shown: HashSet<String> = words(&shown_text).into_iter().collect();
    let novel: Vec<String> = hidden_words.into_iter().filter(|w| !shown.contains(w)).collect();
    if novel.len() >= MIN_NOVEL_WORDS {
        let opening: String = hidden_text.split_whitespace().take(14).collect::<Vec<_>>().join(" ");
        ctx.add(
            HIDDEN_FILLER_TEXT,
            0,
            format!(
                "{} hidden words the visible text does not use, opening {:?}",
                novel.len(),
                opening.chars().take(120).collect::<String>()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    fn html(body: &str) -> String {
        format!("From: Ace <ace@offers.example>\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n{body}\r\n")
    }

    const LETTER: &str = "I meant to reply earlier, but the afternoon got away from me and I just sat down again. \
        I did end up taking the longer path through the park, and it was absolutely the right decision because it \
        cleared my head for the rest of the day. The air felt cooler than I expected, and there were only a few \
        people out, so everything seemed unusually calm. I also listened to that playlist you sent.";

    #[test]
    fn a_hidden_letter_under_an_offer_is_filler() {
        let raw = html(&format!(
            "<div style=\"visibility:collapse; height:0; width:0;\">{LETTER}</div><p>Ace Hardware: claim your $100 reward</p>"
        ));
        let d = run(&raw);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, HIDDEN_FILLER_TEXT);
        assert!(d[0].evidence.contains("I meant to reply"), "{d:?}");
        assert_eq!(crate::verdict::decide(&d), proto::Disposition::Spam);
        for style in ["display: none !important", "font-size:0px", "opacity:0", "max-height:0;overflow:hidden"] {
            let raw =
                html(&format!("<table><tr><td style=\"{style}\"><span>{LETTER}</span></td></tr></table><p>Offer</p>"));
            assert_eq!(run(&raw).len(), 1, "{style}");
        }
    }

    #[test]
    fn a_preheader_a_copy_for_another_screen_or_a_zero_font_container_is_not() {
        let preheader = html(&format!(
            "<div style=\"display:none;max-height:0;overflow:hidden\">Up to 40% off this weekend{}</div><p>{LETTER}</p>",
            "&zwnj;&nbsp;".repeat(200)
        ));
        assert!(run(&preheader).is_empty(), "a short preheader and its padding");
        let mobile = html(&format!("<div class=\"mobile\" style=\"display:none\">{LETTER}</div><div>{LETTER}</div>"));
        assert!(run(&mobile).is_empty(), "the same words shown in the desktop copy");
        let template = html(&format!("<div style=\"font-size:0\"><div style=\"font-size:14px\">{LETTER}</div></div>"));
        assert!(run(&template).is_empty(), "a child sets its own size: shown");
        let conditional = html(&format!(
            "<!--[if mso]><table style=\"opacity:0\"><tr><td><![endif]--><p>{LETTER}</p><!--[if mso]></td></tr></table><![endif]-->"
        ));
        assert!(run(&conditional).is_empty(), "Outlook's conditional comment is a comment");
        let title = html(&format!("<p title=\"the hidden gem\">{LETTER}</p>"));
        assert!(run(&title).is_empty(), "a word inside an attribute's value is no attribute");
        assert!(has_attribute_named("<div class=\"x\" hidden>", "hidden"));
        assert!(has_attribute_named("<div hidden=\"\">", "hidden"));
        assert!(!has_attribute_named("<div data-hidden=\"1\">", "hidden"));
        let closed = html(&format!("<span style=\"display:none\">Hi</span><p>{LETTER}</p>"));
        assert!(run(&closed).is_empty(), "text after a hidden element's end is shown");
    }

    #[test]
    fn words_skip_character_references() {
        assert_eq!(words("&zwnj;&nbsp;Hello &amp; goodbye&#8203;now"), vec!["hello", "goodbye", "now"]);
    }
}
