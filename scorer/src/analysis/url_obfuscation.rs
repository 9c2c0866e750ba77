//! URL obfuscation: links written to hide where they go. A user name before the host
//! (`https://paypal.com@evil.example/`), a host written as a hexadecimal, octal or
//! single decimal number (`http://0xC0A80001/`, `http://3232235777/`), a host with many
//! labels (`login.microsoft.com.secure.verify.evil.example`), percent-encoded host
//! characters, and `data:` URIs as link targets. Evidence for the learned combination.
//!
//! One form is a verdict of its own (SUSPICIOUS), `link_user_name_as_host`: the user name
//! before the host is itself written as a host name, and either the real host is a bare IP
//! address or the user name is a brand's own domain (`brands.tsv`), as in
//! `https://microsoft.com@198.51.100.23/doc`. That is the semantic attack of RFC 3986
//! section 7.6: the reader sees a host that the link does not go to, and browsers warn
//! about such links. Mail that means well has no use for it.

use super::ScoreContext;
use super::brand_impersonation::{Brand, brands_for, owned};

pub const OBFUSCATED_URL: &str = "obfuscated_url";
pub const LINK_USER_NAME_AS_HOST: &str = "link_user_name_as_host";

/// More labels than this in a host name is a sign of obfuscation.
pub const MAX_LABELS: usize = 5;

/// The authority (`user@host:port`) of an http(s) URL, lower case.
fn authority(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"))?;
    Some(rest.split(['/', '?', '#']).next().unwrap_or("").to_owned())
}

/// A host without its `:port`.
fn without_port(host: &str) -> &str {
    host.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(host, |(h, _)| h)
}

/// Why a URL is obfuscated, if it is.
pub fn obfuscation(url: &str) -> Option<&'static str> {
    if url.trim().to_ascii_lowercase().starts_with("data:") {
        return Some("a data: URI as the link target");
    }
    let authority = authority(url)?;
    if authority.contains('@') {
        return Some("a user name before the host");
    }
    let host = without_port(&authority);
    if host.contains('%') {
        return Some("percent-encoded characters in the host");
    }
    if host.starts_with("0x") && host.len() > 2 && host[2..].chars().all(|c| c.is_ascii_hexdigit() || c == '.') {
        return Some("the host as a hexadecimal number");
    }
    if !host.is_empty() && host.chars().all(|c| c.is_ascii_digit()) && host.len() >= 8 {
        return Some("the host as one decimal number");
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() == 4
        && labels.iter().all(|l| l.len() > 1 && l.starts_with('0') && l.chars().all(|c| c.is_ascii_digit()))
    {
        return Some("the host as octal numbers");
    }
    if labels.len() > MAX_LABELS && !labels.iter().all(|l| l.chars().all(|c| c.is_ascii_digit())) {
        return Some("many labels in the host");
    }
    None
}

/// The user name before the host and the host, when a user name is written as a host name
/// (two or more labels of letters, digits and hyphens, the last one letters) and either the
/// real host is a bare IP address (dotted, or one hexadecimal or decimal number) or the user
/// name belongs to a brand of `brands` while the real host does not.
pub fn user_name_as_host(url: &str, brands: &[Brand]) -> Option<(String, String)> {
    let authority = authority(url)?;
    let (user, host) = authority.rsplit_once('@')?;
    let user = user.split(':').next().unwrap_or("").trim_end_matches('.');
    let host = without_port(host);
    let labels: Vec<&str> = user.split('.').collect();
    let host_like = labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if !host_like || host.is_empty() {
        return None;
    }
    let bare_ip = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok()
        || (host.starts_with("0x") && host.len() > 2 && host[2..].chars().all(|c| c.is_ascii_hexdigit()))
        || (host.len() >= 8 && host.chars().all(|c| c.is_ascii_digit()));
    let brand_shown = brands.iter().any(|b| owned(b, user) && !owned(b, host));
    (bare_ip || brand_shown).then(|| (user.to_owned(), host.to_owned()))
}

/// Link targets written in the message: the URIs SpamAssassin's view holds (HTML
/// attributes and URLs in the text), and `data:` targets, which are no http links.
fn urls(ctx: &ScoreContext<'_>) -> Vec<String> {
    let view = ctx.view();
    let mut out = view.uri_list.clone();
    if view.html.iter().any(|html| {
        let lower = html.to_ascii_lowercase();
        lower.contains("href=\"data:") || lower.contains("href='data:") || lower.contains("src=\"data:text/html")
    }) {
        out.push("data:".to_owned());
    }
    out
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let urls = urls(ctx);
    let brands = brands_for(ctx);
    if let Some((user, host)) = urls.iter().find_map(|u| user_name_as_host(u, &brands)) {
        ctx.add(LINK_USER_NAME_AS_HOST, 0, format!("a link shows {user} as its user name but goes to {host}"));
    }
    let found: Vec<(String, &str)> =
        urls.into_iter().filter_map(|u| obfuscation(&u).map(|why| (u, why))).take(3).collect();
    if let Some((url, why)) = found.first() {
        let url: String = url.chars().take(80).collect();
        ctx.add(
            OBFUSCATED_URL,
            0,
            format!(
                "{why}: {url}{}",
                if found.len() > 1 { format!(" (and {} more)", found.len() - 1) } else { String::new() }
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_tricks() {
        assert_eq!(obfuscation("https://www.paypal.com@evil.example/login"), Some("a user name before the host"));
        assert_eq!(obfuscation("http://0xC0A80001/x"), Some("the host as a hexadecimal number"));
        assert_eq!(obfuscation("http://3232235777/x"), Some("the host as one decimal number"));
        assert_eq!(obfuscation("http://0300.0250.0001.0001/"), Some("the host as octal numbers"));
        assert_eq!(
            obfuscation("https://login.microsoft.com.secure.verify.evil.example/"),
            Some("many labels in the host")
        );
        assert_eq!(obfuscation("http://%65vil.example/"), Some("percent-encoded characters in the host"));
        assert_eq!(obfuscation("data:text/html;base64,PHNjcmlwdD4="), Some("a data: URI as the link target"));
        assert_eq!(obfuscation("https://www.example.com/a@b?c=d"), None, "an @ in the path is fine");
        assert_eq!(obfuscation("https://mail.example.co.uk:8443/x"), None);
        assert_eq!(obfuscation("http://192.0.2.1/x"), None, "a dotted IP has its own check");
    }

    #[test]
    fn a_user_name_written_as_a_host_deceives_only_before_an_ip_or_as_a_brand() {
        let brands = &*crate::analysis::brand_impersonation::BRANDS;
        assert_eq!(
            user_name_as_host("https://microsoft.com@198.51.100.23/doc/view", brands),
            Some(("microsoft.com".into(), "198.51.100.23".into()))
        );
        assert_eq!(
            user_name_as_host("http://secure.example.org@3232235777/", brands),
            Some(("secure.example.org".into(), "3232235777".into()))
        );
        assert_eq!(
            user_name_as_host("https://www.paypal.com:login@evil.example/x", brands),
            Some(("www.paypal.com".into(), "evil.example".into()))
        );
        assert_eq!(user_name_as_host("https://www.paypal.com@paypal.com/", brands), None, "the brand's own host");
        assert_eq!(user_name_as_host("http://www.emailon@cid.com", brands), None, "no brand, no IP: evidence only");
        assert_eq!(user_name_as_host("https://alice@192.0.2.7/", brands), None, "a plain user name");
        assert_eq!(user_name_as_host("https://www.example.com/a@b", brands), None, "an @ in the path");
    }

    #[test]
    fn finds_them_in_html_links() {
        let raw = "From: a@b.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://accounts.google.com@phish.example/x\">Google</a>\r\n";
        let d = crate::analysis::table::detections_of(raw, check);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].name, LINK_USER_NAME_AS_HOST);
        assert_eq!(d[0].evidence, "a link shows accounts.google.com as its user name but goes to phish.example");
        assert!(d[1].evidence.starts_with("a user name before the host"), "{d:?}");
    }
}
