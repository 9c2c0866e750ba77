//! A link that carries the recipient's own address as its fragment
//! (`https://host.example/login.html#victim@corp.example`, or the address in base64): the
//! way a credential phishing page fills in its login form (the page reads the fragment in
//! the browser, so the address never reaches a server log or a URL scanner). SpamAssassin
//! has the same idea in `GB_CUSTOM_HTM_URI`. A newsletter's unsubscribe or tracking link
//! names the subscriber in its query (`?email=`), not as the whole fragment, and a web
//! application's route (`#/reset?email=...`) holds more than the address: neither counts.
//! SUSPICIOUS.

use super::ScoreContext;
use base64::Engine;

pub const RECIPIENT_IN_LINK: &str = "recipient_in_link";

/// The most links looked at.
const MAX_LINKS: usize = 200;

pub fn check(ctx: &mut ScoreContext<'_>) {
    let recipients = ctx.recipient_addresses();
    if recipients.is_empty() {
        return;
    }
    let found = ctx.view().uri_list.iter().take(MAX_LINKS).find_map(|uri| {
        let (_, fragment) = uri.split_once('#')?;
        let address = fragment_address(fragment)?;
        recipients.iter().find(|r| **r == address).map(|r| (uri.clone(), r.clone()))
    });
    if let Some((uri, recipient)) = found {
        let shown: String = uri.chars().take(120).collect();
        ctx.add(
            RECIPIENT_IN_LINK,
            0,
            format!("a link carries the recipient's address {recipient} as its fragment: {shown}"),
        );
    }
}

/// The address a fragment is, lower case: the fragment itself (percent-decoded; a leading
/// `/` or `!` of a route aside) when it is one address, or its base64 decoding when that is.
fn fragment_address(fragment: &str) -> Option<String> {
    let fragment = fragment.trim().trim_start_matches(['/', '!']);
    let plain = percent_decoded(fragment).to_ascii_lowercase();
    if is_address(&plain) {
        return Some(plain);
    }
    let unpadded = fragment.trim_end_matches('=');
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(unpadded)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?.to_ascii_lowercase();
    is_address(&decoded).then_some(decoded)
}

/// One address and nothing else: a local part and a dotted domain, no spaces or separators.
fn is_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "@.-_+".contains(c))
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b))) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(to: &str, body: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(
            &format!(
                "From: it@help.example\r\nTo: {to}\r\nSubject: Pending messages\r\nContent-Type: text/html\r\n\r\n{body}\r\n"
            ),
            check,
        )
    }

    #[test]
    fn the_recipients_address_as_a_links_fragment_is_a_phishing_page_filling_its_form() {
        let d = run(
            "Victim <victim@corp.example>",
            "<a href=\"https://x.example/owa/index.html#victim@corp.example\">Review</a>",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].evidence.contains("victim@corp.example as its fragment"), "{d:?}");
        // Base64 (dmljdGltQGNvcnAuZXhhbXBsZQ== is victim@corp.example), percent-encoded, a route.
        for href in [
            "https://x.example/#dmljdGltQGNvcnAuZXhhbXBsZQ==",
            "https://x.example/#dmljdGltQGNvcnAuZXhhbXBsZQ",
            "https://x.example/a#victim%40corp.example",
            "https://x.example/a#/VICTIM@corp.example",
        ] {
            assert_eq!(run("victim@corp.example", &format!("<a href=\"{href}\">x</a>")).len(), 1, "{href}");
        }
    }

    #[test]
    fn a_subscriber_named_in_a_query_or_someone_elses_address_is_not() {
        for href in [
            "https://esp.example/unsubscribe?email=victim@corp.example",
            "https://app.example/#/reset?email=victim@corp.example",
            "https://x.example/#other@corp.example",
            "https://x.example/#section-2",
            "https://x.example/page",
        ] {
            assert!(run("victim@corp.example", &format!("<a href=\"{href}\">x</a>")).is_empty(), "{href}");
        }
    }

    #[test]
    fn fragments_are_read_as_one_address_or_none() {
        assert_eq!(fragment_address("a%2Bb@c.example").as_deref(), Some("a+b@c.example"));
        assert_eq!(fragment_address("top"), None);
        assert_eq!(fragment_address("a@b"), None, "no dotted domain");
        assert_eq!(fragment_address("x y@c.example"), None);
    }
}
