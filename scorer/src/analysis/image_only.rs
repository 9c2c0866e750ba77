//! A message that says nothing in words of its own: its HTML is a picture that links out,
//! and no text part holds a word beyond the subject's and its links' (a link, at most, a
//! headline that is itself the link, and "unsubscribe"). Every word a reader could not
//! click is the sender's: a greeting, a sentence, a footer; an ad unit has none. Snowshoe
//! spam is sent this way: the offer is in the image, where a filter's words cannot read
//! it, the text/plain alternative is the link alone (`http://mitolyns.sa.com/aquVjq4...`),
//! and the sending domain is new every day. A person who shares a link writes the link
//! as text, not behind a picture; a newsletter laid out as one image still carries its
//! footer (the sender's address, why the reader gets it) in words. A message with an
//! attachment is not this (the words may be in the file), nor mail from the tenant's own or
//! trusted domains. A DKIM signature of the From's domain does not exempt it: snowshoe
//! domains are registered, and sign their mail, to be thrown away. SPAM.

use super::ScoreContext;
use std::collections::HashSet;

pub const IMAGE_ONLY_LINK: &str = "image_only_link";

/// Words a link-only message carries besides its link: a client's or a list tool's
/// navigation ("view online", "click here", "unsubscribe"), not the sender's words.
const NAVIGATION_WORDS: &[&str] = &["unsubscribe", "click", "here", "view", "online", "browser", "web", "version"];

/// The most HTML searched for a linked image.
const MAX_HTML: usize = 256 * 1024;

pub fn check(ctx: &mut ScoreContext<'_>) {
    let message = ctx.message;
    if message.attachments().next().is_some() {
        return;
    }
    let Some(host) = message.html_bodies().filter_map(|p| p.text_contents()).find_map(linked_image_host) else {
        return;
    };
    if ctx.from_domain().is_some_and(|d| ctx.own_or_trusted(&d)) {
        return;
    }
    let subject_words: HashSet<String> = words(message.subject().unwrap_or("")).collect();
    // The words a reader can click (link text), and each HTML part's text without them.
    let mut link_words: HashSet<String> = HashSet::new();
    let mut link_text = String::new();
    let mut unlinked_html = Vec::new();
    for html in message.html_bodies().filter_map(|p| p.text_contents()) {
        let html = crate::classifier::clip(html, MAX_HTML);
        let (outside, inside) = split_link_text(html);
        for text in inside {
            link_words.extend(words(&text));
            if link_text.len() < 80 {
                link_text.push_str(text.trim());
                link_text.push(' ');
            }
        }
        unlinked_html.push(outside);
    }
    let beyond_subject = |w: &String| !subject_words.contains(w) && !NAVIGATION_WORDS.contains(&w.as_str());
    let own_word = |w: &String| beyond_subject(w) && !link_words.contains(w);
    let says_something = message.text_bodies().any(|part| match &part.body {
        mail_parser::PartType::Text(text) => {
            text.split_whitespace().filter(|token| !is_link(token)).flat_map(words).any(|w| own_word(&w))
        }
        _ => false,
    }) || unlinked_html.iter().any(|html| {
        crate::html_text::html_to_text(html)
            .split_whitespace()
            .filter(|token| !is_link(token))
            .flat_map(words)
            .any(|w| beyond_subject(&w))
    });
    if !says_something {
        let evidence = match link_text.split_whitespace().collect::<Vec<_>>().join(" ") {
            headline if headline.is_empty() => {
                format!("no word in the message beyond its subject: a picture that links to {host}")
            }
            headline => format!(
                "no word in the message beyond its subject and its links' text ({:?}): a picture that links to {host}",
                headline.chars().take(80).collect::<String>()
            ),
        };
        ctx.add(IMAGE_ONLY_LINK, 0, evidence);
    }
}

/// `html` without the inner HTML of its links, and the text of each link.
fn split_link_text(html: &str) -> (String, Vec<String>) {
    let mut outside = String::with_capacity(html.len());
    let mut inside = Vec::new();
    let mut at = 0;
    for (_, inner) in super::links::anchor_spans(html) {
        let (Some(before), Some(link)) = (html.get(at..inner.start), html.get(inner.clone())) else { continue };
        outside.push_str(before);
        inside.push(crate::html_text::html_to_text(link));
        at = inner.end;
    }
    outside.push_str(&html[at..]);
    (outside, inside)
}

/// The host of the first link in `html` that wraps an image (`<a href="https://x/..."><img
/// ...></a>`), lower case.
fn linked_image_host(html: &str) -> Option<String> {
    let html = crate::classifier::clip(html, MAX_HTML);
    super::links::anchor_parts(html).into_iter().find_map(|(href, inner)| {
        if !inner.to_ascii_lowercase().contains("<img") {
            return None;
        }
        let host = super::links::host_of(&href)?;
        host.contains('.').then_some(host)
    })
}

fn is_link(token: &str) -> bool {
    let lower = token.trim_start_matches(['<', '(', '[', '"']).to_ascii_lowercase();
    lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("www.")
        || lower.starts_with("mailto:")
}

/// The words of a text: runs of two letters or more, lower case.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic()).filter(|w| w.chars().nth(1).is_some()).map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::table::{detections_for_tenant, detections_of};

    const SNOWSHOE: &str = "From: \"Soda Water\" <soda_water@mitolyns.example>\r\nSubject: ever try the soda water diet?\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
http://mitolyns.example/aquVjq4lI-bIgD502exTWIfd8j7\r\n\r\n\r\nhttp://[Unsubscribe]]\r\n--b\r\nContent-Type: text/html\r\n\r\n\
<html><head><title>soda</title></head><body><a href=\"http://mitolyns.example/aquVjq4lI\"><img src=\"http://mitolyns.example/i.jpg\"></a>\
<br><a href=\"http://mitolyns.example/u\">Unsubscribe</a></body></html>\r\n--b--\r\n";

    #[test]
    fn a_picture_that_links_out_and_no_word() {
        let d = detections_of(SNOWSHOE, check);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, IMAGE_ONLY_LINK);
        assert!(d[0].evidence.contains("mitolyns.example"), "{d:?}");
    }

    #[test]
    fn words_an_attachment_or_a_plain_link_are_not_this() {
        // A word of the sender's own beside the picture.
        let worded = SNOWSHOE.replace("<br><a href", "<p>Our spring menu is here.</p><a href");
        assert!(detections_of(&worded, check).is_empty());
        // A shared link, written as text, not behind a picture.
        let shared = "From: bob@corp.example\r\nSubject: look\r\nContent-Type: text/html\r\n\r\n\
<a href=\"https://news.example/story\">https://news.example/story</a>\r\n";
        assert!(detections_of(shared, check).is_empty());
        // An attachment may hold the words.
        let attached = "From: a@corp.example\r\nSubject: scan\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/html\r\n\r\n\
<a href=\"https://x.example/\"><img src=\"https://x.example/i.png\"></a>\r\n--m\r\n\
Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\nJVBER\r\n--m--\r\n";
        assert!(detections_of(attached, check).is_empty());
        // The tenant's own domain.
        let own = detections_for_tenant(SNOWSHOE, "own_domains = [\"mitolyns.example\"]\n", check);
        assert!(own.is_empty(), "{own:?}");
    }

    /// The ad-unit shape: a headline that is itself the link, and the picture.
    const HEADLINE_AD: &str = "From: \"DietMiracle\" <keto@shop.example>\r\nSubject: Truth About Keto\r\n\
MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<html><head><title>50% Off Light Sockets</title>\
<style>.btn { color: #fff }</style></head><body>\r\n<a href=\"https://track.example/swdiu\" class=\"btn\">\r\n\
50 lbs in 28 days: the pill that melts belly fat\r\n</a>\r\n<div class=\"image-box\"><a href=\"https://track.example/swdiu\">\
<img src=\"https://cdn.example/i.jpg\"></a></div>\r\n</body></html>\r\n";

    #[test]
    fn a_picture_whose_only_words_are_its_links() {
        let d = detections_of(HEADLINE_AD, check);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].evidence.contains("50 lbs in 28 days"), "{d:?}");
        assert!(d[0].evidence.contains("track.example"), "{d:?}");
        // A word the reader cannot click is the sender's own.
        let footer = HEADLINE_AD.replace("</div>", "</div><p>Sent by Shop Inc, 12 Harbour Road</p>");
        assert!(detections_of(&footer, check).is_empty());
        // The text alternative may repeat the headline, not add to it.
        let alternative = |plain: &str| {
            HEADLINE_AD.replace(
                "Content-Type: text/html\r\n\r\n",
                &format!("Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n{plain}\r\n--b\r\nContent-Type: text/html\r\n\r\n"),
            ) + "--b--\r\n"
        };
        assert_eq!(detections_of(&alternative("50 lbs in 28 days https://track.example/swdiu"), check).len(), 1);
        assert!(detections_of(&alternative("Hi Jane, the photos from Sunday"), check).is_empty());
        let (outside, inside) = split_link_text("<p>a <a href=\"x\">b <i>c</i></a> d</p><a href=\"y\">e");
        assert_eq!(outside, "<p>a <a href=\"x\"></a> d</p><a href=\"y\">");
        assert_eq!(inside.iter().map(|t| t.trim()).collect::<Vec<_>>(), vec!["b c", "e"]);
    }

    #[test]
    fn subject_and_navigation_words_do_not_count() {
        let html = "<a href=\"https://x.example/\"><img src=\"i.png\" alt=\"\"></a> Click here to view online";
        assert_eq!(linked_image_host(html).as_deref(), Some("x.example"));
        assert!(linked_image_host("<a href=\"https://x.example/\">text</a><img src=\"i.png\">").is_none());
        // Wrapped after `<a`, never closed (as snowshoe templates write it).
        assert_eq!(
            linked_image_host("<a\r\n style=\"c\" href=\"http://y.example/c\r\n\" >\r\n<img src=\"i.png\">").as_deref(),
            Some("y.example")
        );
        assert!(linked_image_host("<abbr>x</abbr>").is_none());
    }
}
