//! Hidden filler text: an HTML body that hides a block of prose the reader never sees
//! (`visibility:collapse; height:0`, `display:none`, `font-size:0`, `opacity:0`, a
//! zero-height box with `overflow:hidden`, text coloured as its background: white on white),
//! written in words the visible text does not use:
//! sentences of a personal letter ("I meant to reply earlier, but the afternoon got away
//! from me...") under a brand's gift offer, there to make a filter's word counts read as
//! personal mail (hash-busting, "salad"). Newsletters hide text too, for other reasons and
//! in another shape: a preheader (a line or two, then invisible padding) and the copy of a
//! block laid out for another screen size (the same words as the visible one); neither
//! reaches [`MIN_NOVEL_WORDS`] words that the visible text lacks. CSS is read as it
//! inherits: `display:none`, `opacity:0` and a zero-height clipped box hide everything
//! inside; `font-size` and `visibility` are the nearest declaration's (a template's
//! `font-size:0` container around cells that set their own size hides nothing). Colours
//! are read as SpamAssassin's HTML.pm reads them for `HTML_FONT_LOW_CONTRAST`: the text's
//! (`color`, `<font color>`, `<body text>`) against the background's (`background-color`,
//! the `background` shorthand, `bgcolor`; white where none is declared), the nearest
//! declaration of each, hidden when their brightness-weighted distance is under HTML.pm's
//! 12; a background image, or a colour this reader does not know, shows the text, and so
//! does every colour of a part whose stylesheet paints a background other than white (a
//! class may darken what the inline styles leave white). Only inline `style` attributes,
//! those attributes and the `hidden` attribute are read; conditional comments (Outlook's
//! `<!--[if mso]>`) are comments. Not in mail from the tenant's own or trusted domains.
//! SPAM.

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
    /// The text colour the element declares, if any.
    color: Option<Paint>,
    /// The background the element declares, if any (a transparent one declares none).
    backdrop: Option<Paint>,
}

/// A colour as the check reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Paint {
    Rgb([u8; 3]),
    Transparent,
    /// An image, a gradient, a keyword or a name this reader does not know: anything
    /// may be drawn there, so text on it counts as shown.
    Unknown,
}

/// SpamAssassin's HTML.pm: text whose colour is this close to its background's (the RGB
/// difference weighted by each channel's share of brightness, at most 191) is "very
/// difficult to read" (`HTML_FONT_LOW_CONTRAST`).
const LOW_CONTRAST_DISTANCE: f64 = 12.0;

/// The colour names of `scorer/data/css_named_colors.tsv`.
static NAMED_COLORS: LazyLock<std::collections::HashMap<&'static str, [u8; 3]>> = LazyLock::new(|| {
    super::table::rows(include_str!("../../data/css_named_colors.tsv"))
        .filter_map(|row| Some((*row.first()?, hex_rgb(row.get(1)?.strip_prefix('#')?)?)))
        .collect()
});

/// `rrggbb` or `rgb` in hex.
fn hex_rgb(hex: &str) -> Option<[u8; 3]> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |s: &str| u8::from_str_radix(s, 16).ok();
    match hex.len() {
        6 => Some([channel(&hex[0..2])?, channel(&hex[2..4])?, channel(&hex[4..6])?]),
        3 => {
            let doubled = |i: usize| channel(&hex[i..=i].repeat(2));
            Some([doubled(0)?, doubled(1)?, doubled(2)?])
        }
        _ => None,
    }
}

/// A CSS or HTML attribute colour: a name, `#rgb`, `#rrggbb` (`#rrggbbaa`, transparent at
/// alpha 0; the `#` may be missing, as browsers and HTML.pm forgive in attributes),
/// `rgb()` / `rgba()` in numbers or percentages, `transparent`. None for what is no colour.
fn parse_color(value: &str) -> Option<Paint> {
    let value = value.trim().to_ascii_lowercase().replace("!important", "");
    let value = value.trim();
    if value == "transparent" {
        return Some(Paint::Transparent);
    }
    if let Some(rgb) = NAMED_COLORS.get(value) {
        return Some(Paint::Rgb(*rgb));
    }
    let hex = value.strip_prefix('#').unwrap_or(value);
    if hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(if &hex[6..] == "00" { Paint::Transparent } else { Paint::Rgb(hex_rgb(&hex[..6])?) });
    }
    if let Some(rgb) = hex_rgb(hex) {
        return Some(Paint::Rgb(rgb));
    }
    let inner = value.strip_prefix("rgba(").or_else(|| value.strip_prefix("rgb("))?.strip_suffix(')')?;
    let parts: Vec<&str> = inner.split([',', '/', ' ']).map(str::trim).filter(|p| !p.is_empty()).collect();
    let number = |p: &str| -> Option<f64> {
        match p.strip_suffix('%') {
            Some(percent) => percent.parse::<f64>().ok().map(|v| v * 255.0 / 100.0),
            None => p.parse::<f64>().ok(),
        }
    };
    let channel = |p: &str| number(p).map(|v| v.clamp(0.0, 255.0).round() as u8);
    match parts.as_slice() {
        [r, g, b] => Some(Paint::Rgb([channel(r)?, channel(g)?, channel(b)?])),
        [r, g, b, alpha] => {
            let alpha = match alpha.strip_suffix('%') {
                Some(percent) => percent.parse::<f64>().ok()? / 100.0,
                None => alpha.parse::<f64>().ok()?,
            };
            Some(if alpha <= 0.0 { Paint::Transparent } else { Paint::Rgb([channel(r)?, channel(g)?, channel(b)?]) })
        }
        _ => Some(Paint::Unknown),
    }
}

/// The colour a text colour declaration gives: what is no colour (`inherit`, a variable)
/// is one this reader does not know.
fn text_paint(value: &str) -> Paint {
    parse_color(value).unwrap_or(Paint::Unknown)
}

/// The background a `background-color` or `background` declaration paints: None for none
/// (`background: none`, a transparent colour: the parent's shows through).
fn backdrop_paint(value: &str) -> Option<Paint> {
    let lower = value.to_ascii_lowercase();
    if lower.contains("url(") || lower.contains("gradient(") || lower.contains("var(") {
        return Some(Paint::Unknown);
    }
    // The shorthand's colour is one of its words (`#fff no-repeat`, `rgb(0, 0, 0) top`):
    // brackets kept whole.
    let mut words = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in lower.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 => {
                words.push(&lower[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    words.push(&lower[start..]);
    let colors: Vec<Paint> = words.iter().filter(|w| !w.is_empty()).filter_map(|w| parse_color(w)).collect();
    match colors.as_slice() {
        [] if words.iter().all(|w| w.is_empty() || matches!(*w, "none" | "initial" | "unset")) => None,
        [] => Some(Paint::Unknown),
        [Paint::Transparent] => None,
        [paint] => Some(*paint),
        _ => Some(Paint::Unknown),
    }
}

/// HTML.pm's low-contrast test: text and background colours closer than
/// [`LOW_CONTRAST_DISTANCE`].
fn low_contrast(text: [u8; 3], background: [u8; 3]) -> bool {
    let d = |i: usize, weight: f64| weight * (f64::from(text[i]) - f64::from(background[i]));
    (d(0, 0.2126).powi(2) + d(1, 0.7152).powi(2) + d(2, 0.0722).powi(2)).sqrt() < LOW_CONTRAST_DISTANCE
}

/// Whether a stylesheet (`<style>`) in `html` paints a background other than white: a
/// class may then set what the inline styles do not, and colours prove nothing.
fn stylesheet_paints_background(html: &str) -> bool {
    let mut at = 0;
    while let Some(open) = find_ignore_case(&html[at..], "<style").map(|i| i + at) {
        let content_start = html[open..].find('>').map_or(html.len(), |i| open + i + 1);
        let content_end =
            crate::html_text::end_tag(&html[content_start..], "style").map_or(html.len(), |i| content_start + i);
        let sheet = &html[content_start..content_end];
        for (i, _) in sheet.match_indices(['b', 'B']) {
            let rest = &sheet[i..];
            if !rest.get(..10).is_some_and(|w| w.eq_ignore_ascii_case("background")) {
                continue;
            }
            let Some(colon) = rest.find(':') else { continue };
            let property = &rest[..colon];
            if !property.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                continue;
            }
            let value = rest[colon + 1..].split([';', '}']).next().unwrap_or("");
            let paint =
                if property.eq_ignore_ascii_case("background") || property.eq_ignore_ascii_case("background-color") {
                    backdrop_paint(value)
                } else {
                    Some(Paint::Unknown)
                };
            match paint {
                None => {}
                Some(Paint::Rgb(rgb)) if low_contrast(rgb, [255, 255, 255]) => {}
                Some(_) => return true,
            }
        }
        at = content_end.max(open + 1);
    }
    false
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The value of the last declaration of `property` in an inline style, lower case,
/// `!important` dropped.
fn declared(style: &str, property: &str) -> Option<String> {
    declared_last(style, &[property]).map(|(_, value)| value)
}

/// The last declaration of any of `properties` in an inline style: which of them (its
/// index) and its value, lower case, without `!important`.
fn declared_last(style: &str, properties: &[&str]) -> Option<(usize, String)> {
    style.split(';').filter_map(|d| d.split_once(':')).rev().find_map(|(name, value)| {
        let which = properties.iter().position(|p| name.trim().eq_ignore_ascii_case(p))?;
        Some((which, value.trim().to_ascii_lowercase().replace("!important", "").trim().to_owned()))
    })
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
    let hidden_attribute = super::links::has_attribute(tag, "hidden");
    // Most elements have no colour attribute either.
    let may_colour = [b"color".as_slice(), b"background", b"text"]
        .iter()
        .any(|word| super::content::contains_ignore_case(tag.as_bytes(), word));
    let attribute = |attribute: &str| if may_colour { super::links::attribute(tag, attribute) } else { None };
    let color = declared(&style, "color")
        .or_else(|| if name.eq_ignore_ascii_case("font") { attribute("color") } else { None })
        .or_else(|| if name.eq_ignore_ascii_case("body") { attribute("text") } else { None })
        .map(|value| text_paint(&value));
    // The later of `background-color` and the `background` shorthand wins, as in CSS.
    let backdrop = match declared_last(&style, &["background-color", "background"]) {
        Some((0, color)) => parse_color(&color).filter(|p| *p != Paint::Transparent),
        Some((_, shorthand)) => backdrop_paint(&shorthand),
        None => None,
    }
    .or_else(|| if attribute("background").is_some() { Some(Paint::Unknown) } else { None })
    .or_else(|| attribute("bgcolor").and_then(|value| parse_color(&value)).filter(|p| *p != Paint::Transparent));
    Element {
        name,
        hides: declared(&style, "display").is_some_and(|d| d == "none")
            || declared(&style, "opacity").is_some_and(|o| zero_length(&o))
            || clipped_to_nothing
            || hidden_attribute,
        font_size_zero: declared(&style, "font-size").map(|f| zero_length(&f)),
        invisible: declared(&style, "visibility").map(|v| v == "hidden" || v == "collapse"),
        color,
        backdrop,
    }
}

/// What an HTML part must hold for any of its text to be hidden by an inline style or the
/// `hidden` attribute: without one of these, nothing is read.
static HIDING_MARKERS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build([
            "none",
            "hidden",
            "collapse",
            "opacity",
            "font-size:0",
            "font-size: 0",
            "height:0",
            "height: 0",
            "color",
            "text=",
        ])
        .expect("a handful of literals build")
});

/// Whether text inside `stack` is hidden; its colours are read when `colors_tell`.
fn hidden(stack: &[Element<'_>], colors_tell: bool) -> bool {
    stack.iter().any(|e| e.hides)
        || stack.iter().rev().find_map(|e| e.font_size_zero).unwrap_or(false)
        || stack.iter().rev().find_map(|e| e.invisible).unwrap_or(false)
        || colors_tell && coloured_as_background(stack)
}

/// Whether the nearest text colour is transparent or too close to the nearest background.
fn coloured_as_background(stack: &[Element<'_>]) -> bool {
    let text = stack.iter().rev().find_map(|e| e.color).unwrap_or(Paint::Rgb([0, 0, 0]));
    let background = stack.iter().rev().find_map(|e| e.backdrop).unwrap_or(Paint::Rgb([255, 255, 255]));
    match (text, background) {
        (Paint::Transparent, _) => true,
        (Paint::Rgb(text), Paint::Rgb(background)) => low_contrast(text, background),
        _ => false,
    }
}

/// The text of `html` split into what is hidden and what is shown (character references
/// left as written; [`words`] skips them).
pub fn split_text(html: &str) -> (String, String) {
    let html = crate::classifier::clip(html, MAX_HTML);
    let colors_tell = !stylesheet_paints_background(html);
    let (mut hidden_text, mut shown_text) = (String::new(), String::new());
    let mut stack: Vec<Element<'_>> = Vec::new();
    let mut at = 0;
    while at < html.len() {
        let Some(lt) = html[at..].find('<').map(|i| i + at) else {
            push_text(&stack, colors_tell, &html[at..], &mut hidden_text, &mut shown_text);
            break;
        };
        push_text(&stack, colors_tell, &html[at..lt], &mut hidden_text, &mut shown_text);
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
            at = crate::html_text::end_tag(&html[at..], name).map_or(html.len(), |i| at + i);
            continue;
        }
        if is(VOID) || tag.ends_with("/>") || stack.len() >= MAX_DEPTH {
            continue;
        }
        stack.push(element(name, tag));
    }
    (hidden_text, shown_text)
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

fn push_text(stack: &[Element<'_>], colors_tell: bool, text: &str, hidden_text: &mut String, shown_text: &mut String) {
    if text.trim().is_empty() {
        return;
    }
    let out = if hidden(stack, colors_tell) { hidden_text } else { shown_text };
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
        let bare_class = html(&format!("<p class=hidden>{LETTER}</p>"));
        assert!(run(&bare_class).is_empty(), "a bare value is no attribute of that name");
        let closed = html(&format!("<span style=\"display:none\">Hi</span><p>{LETTER}</p>"));
        assert!(run(&closed).is_empty(), "text after a hidden element's end is shown");
    }

    #[test]
    fn text_coloured_as_its_background_is_hidden() {
        for hidden in [
            format!("<span style=\"color:#FFFFFF; font-size:10px;\">{LETTER}</span>"),
            format!("<font color=white>{LETTER}</font>"),
            format!("<p style=\"color: rgb(250, 250, 250)\">{LETTER}</p>"),
            format!("<td bgcolor=\"#000000\"><span style=\"color:#010101\">{LETTER}</span></td>"),
            format!("<div style=\"background:#1a1a1a no-repeat\"><font color=\"#1b1b1b\">{LETTER}</font></div>"),
            format!("<p style=\"color:transparent\">{LETTER}</p>"),
            format!("<p style=\"color:rgba(0,0,0,0)\">{LETTER}</p>"),
            format!("<body text=\"#ffffff\"><p>{LETTER}</p></body>"),
        ] {
            let raw = html(&format!(
                "<center><a href=\"https://loans.example/\">Online loans up to $5,000</a></center>{hidden}"
            ));
            let d = run(&raw);
            assert_eq!(d.len(), 1, "{hidden}: {d:?}");
            assert!(d[0].evidence.contains("I meant to reply"), "{d:?}");
        }
    }

    #[test]
    fn text_on_a_background_of_another_colour_an_image_or_a_stylesheet_is_shown() {
        for shown in [
            format!("<td bgcolor=\"#1a73e8\"><span style=\"color:#ffffff\">{LETTER}</span></td>"),
            format!("<body bgcolor=black text=white><p>{LETTER}</p></body>"),
            format!(
                "<td style=\"background:url(https://cdn.example/hero.jpg) #ffffff\"><p style=\"color:#fff\">{LETTER}</p></td>"
            ),
            format!("<td background=\"https://cdn.example/hero.jpg\"><p style=\"color:#fff\">{LETTER}</p></td>"),
            format!("<div style=\"background-color:#222\"><p style=\"color:#eee\">{LETTER}</p></div>"),
            format!("<p style=\"color:var(--ink)\">{LETTER}</p>"),
            format!("<p style=\"color:#777777\">{LETTER}</p>"),
            format!("<div style=\"background:none\"><p style=\"color:#333\">{LETTER}</p></div>"),
            format!("<p bgcolor=\"#fff\" title=\"color=white\">{LETTER}</p>"),
        ] {
            assert!(run(&html(&shown)).is_empty(), "{shown}");
        }
        // A stylesheet may paint what the inline styles leave white: a dark theme.
        let themed = html(&format!(
            "<style>.card {{ background-color: #101820; }}</style><div class=\"card\"><p style=\"color:#ffffff\">{LETTER}</p></div>"
        ));
        assert!(run(&themed).is_empty(), "a stylesheet's background");
        let white_sheet = html(&format!(
            "<style>body {{ background: #ffffff; }} a {{ color: #06c }}</style><p style=\"color:#ffffff\">{LETTER}</p><p>Offer</p>"
        ));
        assert_eq!(run(&white_sheet).len(), 1, "a white stylesheet background hides white text as the default does");
    }

    #[test]
    fn colours_parse_as_html_pm_and_css_write_them() {
        assert_eq!(parse_color("#FFF"), Some(Paint::Rgb([255, 255, 255])));
        assert_eq!(parse_color("ffcc99"), Some(Paint::Rgb([255, 204, 153])));
        assert_eq!(parse_color(" WhiteSmoke !important"), Some(Paint::Rgb([245, 245, 245])));
        assert_eq!(parse_color("rgb(100%, 0%, 50%)"), Some(Paint::Rgb([255, 0, 128])));
        assert_eq!(parse_color("rgb(10 20 30 / 0)"), Some(Paint::Transparent));
        assert_eq!(parse_color("#ffffff00"), Some(Paint::Transparent));
        assert_eq!(parse_color("rgba(1, 2, 3, 0.5)"), Some(Paint::Rgb([1, 2, 3])));
        assert_eq!(parse_color("rgb(1, 2)"), Some(Paint::Unknown));
        assert_eq!(parse_color("inherit"), None);
        assert_eq!(backdrop_paint("#000 url(x.png)"), Some(Paint::Unknown));
        assert_eq!(backdrop_paint("rgb(0, 0, 0) top left no-repeat"), Some(Paint::Rgb([0, 0, 0])));
        assert_eq!(backdrop_paint("none"), None);
        assert_eq!(backdrop_paint("transparent"), None);
        assert_eq!(backdrop_paint("inherit"), Some(Paint::Unknown));
        let later = |style: &str| element("div", &format!("<div style=\"{style}\">")).backdrop;
        assert_eq!(later("background:#000; background-color:#fff"), Some(Paint::Rgb([255, 255, 255])));
        assert_eq!(later("background-color:#fff; background:#000 no-repeat"), Some(Paint::Rgb([0, 0, 0])));
        assert_eq!(later("background-color:#fff; background:none"), None, "the shorthand resets the colour");
        // HTML.pm's distance: 11 steps of grey below white is under 12, 17 is not.
        assert!(low_contrast([255, 255, 255], [244, 244, 244]));
        assert!(!low_contrast([255, 255, 255], [238, 238, 238]));
        assert!(low_contrast([0, 0, 120], [0, 0, 0]), "dark blue on black: blue weighs 0.0722 of brightness");
        assert!(!low_contrast([0, 0, 255], [0, 0, 0]));
        assert!(!low_contrast([0, 255, 0], [0, 0, 0]));
    }

    #[test]
    fn words_skip_character_references() {
        assert_eq!(words("&zwnj;&nbsp;Hello &amp; goodbye&#8203;now"), vec!["hello", "goodbye", "now"]);
    }
}
