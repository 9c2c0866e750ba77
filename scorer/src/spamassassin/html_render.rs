//! The text of an HTML part as SpamAssassin renders it for its body rules (HTML.pm on
//! HTML::Parser), which differs from mail-parser's rendering in what makes a paragraph:
//!
//! - `<p>`, `<hr>`, `<blockquote>`, `<pre>`, `<listing>`, `<plaintext>`, `<xmp>` and
//!   `<title>` (start and end tags alike) are a blank line, so the text on either side is in
//!   another paragraph (another line of the text the body rules read); `<br>` and `<div>`
//!   a line feed (two in a row make a paragraph); `<li>`, `<td>`, `<th>`, `<dt>`, `<dd>`,
//!   `<embed>` and `<h1>`..`<h6>` a space. mail-parser ends a line only at `<br>` and
//!   `</p>`, so a whole HTML part was one paragraph: `^` and `$` in body rules, and rules
//!   such as `__BODY_TEXT_LINE` (`/^\s*\S/`, counted), saw one line where SpamAssassin
//!   sees many;
//! - the title is shown, as is the text of `<textarea>`, `<iframe>` and `<xmp>` (read
//!   literally, tags and all); `<script>` and `<style>` hold none;
//! - markup as HTML::Parser reads it: a comment ends at the first `-->` (one without ends
//!   at the next `>`), `</` not followed by a letter opens a comment, a `<` not followed by
//!   a letter, `/`, `!` or `?` is text, a tag cut off by the end of the part is not shown,
//!   quoted attribute values may hold `>`; entities are decoded as HTML::Parser decodes
//!   them, with HTML::Entities' table (`scorer/data/html_entities.tsv`; `&nbsp;` is a
//!   space), a name without its `;` as the longest one it knows.
//!
//! In the text between tags each run of white space is one space, so a line break of the
//! source never ends a line; the view then folds what the tags put in (a blank line
//! between two texts is a paragraph break, any other run one space) as SpamAssassin does
//! after rendering.

/// Renders `html` as HTML.pm's `get_rendered_text` does (visible and invisible text alike).
pub fn render(html: &str) -> String {
    render_with_tags(html).text
}

/// An HTML part as HTML.pm leaves it: the rendered text, the tag balance, and the text of
/// each `<title>` that is closed (HTML.pm's `title` list; entities decoded, each run of
/// white space one space, where HTML.pm keeps the runs: a title's length can differ by its
/// extra white space).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub text: String,
    pub tags: TagBalance,
    pub titles: Vec<String>,
}

/// HTML.pm's `inside` counts: for each tag name seen (lower case), start tags minus end
/// tags, never below 0 (an end tag without its start is dropped), as `html_tag` keeps them
/// and HTMLEval's `html_tag_balance` reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagBalance(Vec<(String, i64)>);

impl TagBalance {
    /// The count for `name` (lower case), None when no such tag was seen.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, count)| *count)
    }

    fn add(&mut self, name: &str, step: i64) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count = (*count + step).max(0),
            None => self.0.push((name.to_owned(), step.max(0))),
        }
    }

    /// HTML.pm at the end of a part: an unclosed `<style>` or `<script>` is closed.
    fn close(&mut self, name: &str) {
        if let Some((_, count)) = self.0.iter_mut().find(|(n, _)| n == name) {
            *count = 0;
        }
    }
}

/// [`render`], with the part's [`TagBalance`] and titles.
pub fn render_with_tags(html: &str) -> Rendered {
    let mut balance = TagBalance::default();
    let mut titles = Vec::new();
    // HTML.pm's own rewrites before parsing: `&nbsp;` as a space, `<br/>` as `<br>` (the
    // parser would read the tag's name as `br/`), curly double quotes as straight ones.
    let html = if html.contains("&nbsp;") || html.contains(['\u{201C}', '\u{201D}']) {
        std::borrow::Cow::Owned(html.replace("&nbsp;", " ").replace(['\u{201C}', '\u{201D}'], "\""))
    } else {
        std::borrow::Cow::Borrowed(html)
    };
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len() / 2);
    let mut at = 0;
    while at < bytes.len() {
        let Some(open) = memchr::memchr(b'<', &bytes[at..]).map(|i| at + i) else {
            push_text(&mut out, &html[at..]);
            break;
        };
        push_text(&mut out, &html[at..open]);
        let next = bytes.get(open + 1).copied();
        at = match next {
            Some(b'!') if bytes[open..].starts_with(b"<!--") => {
                // A comment: to the first `-->`, or, without one, to the next `>`.
                match memchr::memmem::find(&bytes[open + 4..], b"-->") {
                    Some(i) => open + 4 + i + 3,
                    None => memchr::memchr(b'>', &bytes[open + 4..]).map_or(bytes.len(), |i| open + 4 + i + 1),
                }
            }
            Some(b'!') if bytes[open..].starts_with(b"<![CDATA[") => {
                // A marked section: its content is text.
                let start = open + 9;
                let end = memchr::memmem::find(&bytes[start..], b"]]>").map_or(bytes.len(), |i| start + i);
                push_text(&mut out, &html[start..end]);
                (end + 3).min(bytes.len())
            }
            // A declaration (`<!doctype ...>`), a processing instruction, or `</` without a
            // name (read as a comment): nothing shown.
            Some(b'!' | b'?') => {
                if bytes.get(open + 2..open + 9).is_some_and(|d| d.eq_ignore_ascii_case(b"doctype")) {
                    // HTML.pm's `html_declaration` records it (at 0).
                    balance.add("!doctype", 0);
                }
                past_gt(bytes, open + 2)
            }
            Some(b'/') if !bytes.get(open + 2).is_some_and(u8::is_ascii_alphabetic) => past_gt(bytes, open + 2),
            Some(b'/') => {
                let (name, end) = tag(&html, open + 2);
                if end > bytes.len() {
                    break;
                }
                balance.add(&name, -1);
                whitespace(&mut out, &name);
                end
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let (name, end) = tag(&html, open + 1);
                if end > bytes.len() {
                    // Cut off by the end of the part: not shown.
                    break;
                }
                balance.add(&name, 1);
                whitespace(&mut out, &name);
                if let Some(shown) = literal_element(&name) {
                    let content_end = literal_end(&html, end, &name);
                    let shown_from = out.len();
                    if shown {
                        push_text(&mut out, &html[end..content_end]);
                    }
                    // A title (always shown, after the blank line its tag puts in) is the text
                    // just pushed. One that never ends has no text for HTML.pm (checked with
                    // SpamAssassin 4.0.1: `<title>` and a long text to the part's end gives no
                    // HTML_TITLE_SUBJ_DIFF).
                    if name == "title" && content_end < html.len() {
                        titles.push(out[shown_from..].to_owned());
                    }
                    content_end
                } else {
                    end
                }
            }
            // `<` and anything else: text.
            _ => {
                push_text(&mut out, "<");
                open + 1
            }
        };
    }
    // HTML.pm closes an unclosed `<style>` or `<script>` at the end of the part.
    balance.close("style");
    balance.close("script");
    Rendered { text: out, tags: balance, titles }
}

/// HTML.pm's `html_whitespace`: what a start or end tag of `name` puts in the text.
fn whitespace(out: &mut String, name: &str) {
    let shown = match name {
        "br" | "div" => "\n",
        "li" | "th" | "td" | "dt" | "dd" | "embed" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => " ",
        "p" | "hr" | "blockquote" | "pre" | "listing" | "plaintext" | "xmp" | "title" => "\n\n",
        _ => return,
    };
    out.push_str(shown);
}

/// Elements whose content HTML::Parser reads literally, as one text, up to their end tag:
/// Some(whether HTML.pm shows it). `<script>` and `<style>` hold no text that shows.
fn literal_element(name: &str) -> Option<bool> {
    match name {
        "script" | "style" => Some(false),
        "title" | "textarea" | "iframe" | "xmp" | "plaintext" => Some(true),
        _ => None,
    }
}

/// Where the literal content that starts at `from` ends: at `</name` (any case) followed by
/// white space, `/` or `>`; the end of the part when there is none.
fn literal_end(html: &str, from: usize, name: &str) -> usize {
    let bytes = html.as_bytes();
    let mut at = from;
    while let Some(i) = memchr::memmem::find(&bytes[at..], b"</") {
        let start = at + i;
        let after = start + 2 + name.len();
        if bytes.get(start + 2..after).is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            && bytes.get(after).is_none_or(|c| c.is_ascii_whitespace() || matches!(c, b'>' | b'/'))
        {
            return start;
        }
        at = start + 2;
    }
    bytes.len()
}

/// Just past the next `>` at or after `from`, or the end of the text.
fn past_gt(bytes: &[u8], from: usize) -> usize {
    memchr::memchr(b'>', bytes.get(from..).unwrap_or_default()).map_or(bytes.len(), |i| from + i + 1)
}

/// A tag whose name starts at `from`: its name, lower case (up to white space or `>`, as
/// HTML::Parser reads it), and where it ends, just past its `>` (an attribute value in
/// quotes may hold one). Past the end of the text when it has no `>`.
fn tag(html: &str, from: usize) -> (String, usize) {
    let bytes = html.as_bytes();
    let name_end =
        bytes[from..].iter().position(|c| c.is_ascii_whitespace() || *c == b'>').map_or(bytes.len(), |i| from + i);
    let mut name = html[from..name_end].to_ascii_lowercase();
    if bytes.get(name_end) == Some(&b'>') && name.len() > 1 && name.ends_with('/') {
        // `<br/>`: HTML.pm rewrites it as `<br>` before parsing.
        name.pop();
    }
    let mut at = name_end;
    let mut after_equals = false;
    while at < bytes.len() {
        match bytes[at] {
            b'>' => return (name, at + 1),
            b'=' => after_equals = true,
            quote @ (b'"' | b'\'') if after_equals => {
                match memchr::memchr(quote, &bytes[at + 1..]) {
                    Some(i) => at += i + 1,
                    // An unclosed quote: the tag ends at the next `>` after all.
                    None => return (name, past_gt(bytes, at + 1)),
                }
                after_equals = false;
            }
            c if c.is_ascii_whitespace() => {}
            _ => after_equals = false,
        }
        at += 1;
    }
    (name, bytes.len() + 1)
}

/// Text between tags, its entities decoded and each run of HTML white space (space, tab,
/// line feed, carriage return, form feed, vertical tab) one space, as HTML.pm's
/// `display_text` writes it: a line break in the source is never one in the text.
fn push_text(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(amp) = memchr::memchr(b'&', &bytes[at..]).map(|i| at + i) {
        push_spaced(out, &text[at..amp]);
        let (decoded, end) = entity(text, amp);
        match decoded {
            Some(c) if is_html_space(c) => push_spaced(out, " "),
            Some(c) => out.push(c),
            None => out.push('&'),
        }
        at = end;
    }
    push_spaced(out, &text[at..]);
}

fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c' | '\x0b')
}

fn push_spaced(out: &mut String, text: &str) {
    for c in text.chars() {
        if !is_html_space(c) {
            out.push(c);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
}

/// HTML::Entities' table (`scorer/data/html_entities.tsv`): name (with its `;` when it needs
/// one) -> character.
static ENTITIES: std::sync::LazyLock<std::collections::HashMap<&'static str, char>> = std::sync::LazyLock::new(|| {
    crate::analysis::table::rows(include_str!("../../data/html_entities.tsv"))
        .filter_map(|row| Some((*row.first()?, char::from_u32(row.get(1)?.parse().ok()?)?)))
        .collect()
});

/// The entity at `amp` as HTML::Parser decodes it: its character and where it ends, or
/// None and just past the `&` when there is none. `&#65;`, `&#x41;` (the `;` optional, a
/// code point of 0 or past Unicode's not decoded, a surrogate the replacement character);
/// a name, case-sensitive, with its `;`, or, without one, the longest prefix of the run of
/// letters and digits that HTML::Entities decodes bare (`&eacutex` is `éx`, `&Alpha` stays).
fn entity(text: &str, amp: usize) -> (Option<char>, usize) {
    let bytes = text.as_bytes();
    if bytes.get(amp + 1) == Some(&b'#') {
        let hex = matches!(bytes.get(amp + 2), Some(b'x' | b'X'));
        let start = amp + 2 + usize::from(hex);
        let digits = bytes[start.min(bytes.len())..]
            .iter()
            .take_while(|c| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() })
            .count();
        let code = u32::from_str_radix(&text[start.min(text.len())..start + digits], if hex { 16 } else { 10 }).ok();
        return match code {
            Some(code) if digits > 0 && code != 0 && code <= 0x10FFFF => {
                let end = start + digits + usize::from(bytes.get(start + digits) == Some(&b';'));
                (Some(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)), end)
            }
            _ => (None, amp + 1),
        };
    }
    let start = amp + 1;
    let run = bytes[start..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    let name = &text[start..start + run];
    if bytes.get(start + run) == Some(&b';') {
        let with_semicolon = &text[start..start + run + 1];
        if let Some(&c) = ENTITIES.get(with_semicolon).or_else(|| ENTITIES.get(name)) {
            return (Some(c), start + run + 1);
        }
    }
    (2..=run)
        .rev()
        .find_map(|len| ENTITIES.get(&name[..len]).map(|&c| (Some(c), start + len)))
        .unwrap_or((None, amp + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paragraphs(html: &str) -> Vec<String> {
        let mut folded = String::new();
        super::super::views::fold_paragraphs(&render(html), &mut folded);
        folded.trim_start_matches('\n').split('\n').map(str::to_owned).collect()
    }

    #[test]
    fn block_elements_make_paragraphs_as_html_pm_does() {
        let html = "<html><head><title>Offer</title></head><body><div><h2>Big\nnews</h2>\
<p>Dear customer,</p><p>Save <b>50%</b> today</p><ul><li>one</li><li>two</li></ul>\
<div>a</div><div>b</div>line<br>end</body></html>";
        // As SpamAssassin 4.0.1 renders it (`get_decoded_stripped_body_text_array`): one
        // line feed between `two` and `a` (the `<div>`'s) is a space.
        assert_eq!(
            paragraphs(html),
            ["Offer", "Big news", "Dear customer,", "Save 50% today", "one two a", "b line end"]
        );
    }

    #[test]
    fn markup_as_html_parser_reads_it() {
        // Script and style hold no text; a title, a textarea and an iframe are read
        // literally; a comment without `-->` ends at the next `>`; `<` before a space or a
        // digit is text; a quoted `>` does not end a tag; a tag cut off is not shown.
        let html = "<style>p{}<b>x</b></style><script>var a='<p>';</script>a <3 b<!-- c <i>d\
<a title=\"x>y\">e</a><![CDATA[ f ]]><!doctype html><?php g ?></ h><textarea>i<b>j</textarea>k<b";
        assert_eq!(paragraphs(html), ["a <3 bde f i<b>jk"], "as SpamAssassin 4.0.1 renders it");
    }

    #[test]
    fn tag_balance_as_html_pm_counts_it() {
        let tags = render_with_tags(
            "<!DOCTYPE html><HTML><Body><center><center>x</center></td><!-- <head> --><br/><script>a</script><style>b",
        )
        .tags;
        assert_eq!(tags.get("center"), Some(1));
        assert_eq!(tags.get("body"), Some(1));
        assert_eq!(tags.get("html"), Some(1));
        // An end tag without its start: seen, at 0 (not below).
        assert_eq!(tags.get("td"), Some(0));
        assert_eq!(tags.get("br"), Some(1));
        // Tags in a comment are not tags; an unclosed <style> is closed at the end.
        assert_eq!(tags.get("head"), None);
        assert_eq!(tags.get("script"), Some(0));
        assert_eq!(tags.get("style"), Some(0));
        assert_eq!(tags.get("!doctype"), Some(0));
    }

    #[test]
    fn entities_with_and_without_semicolons() {
        assert_eq!(render("a&nbsp;b &amp; &lt &#65;&#x42; &bogus; &copy;"), "a b & < AB &bogus; \u{a9}");
        // As HTML::Parser 3.81 decodes them (the same text through it in Perl).
        assert_eq!(
            render(
                "&copyd &amp1 &#65x &ltx &#x41g &AMP; &Amp; &#0; &#1114112; &#55296; &Alpha &Alpha; &eacutex &#X41; &#x; &#"
            ),
            "\u{a9}d &1 Ax <x Ag &AMP; &Amp; &#0; &#1114112; \u{fffd} &Alpha \u{391} \u{e9}x A &#x; &#"
        );
        assert_eq!(render("<p>x</p>"), "\n\nx\n\n");
        assert_eq!(render("<br/>s<BR />t"), "\ns\nt");
    }
}
