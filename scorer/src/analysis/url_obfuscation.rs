//! URL obfuscation: links written to hide where they go. A user name before the host
//! (`https://paypal.com@evil.example/`), a host written as a hexadecimal, octal or
//! single decimal number (`http://0xC0A80001/`, `http://3232235777/`), a host with many
//! labels (`login.microsoft.com.secure.verify.evil.example`), percent-encoded host
//! characters, and `data:` URIs as link targets. Evidence for the learned combination.

use super::ScoreContext;

pub const OBFUSCATED_URL: &str = "obfuscated_url";

/// More labels than this in a host name is a sign of obfuscation.
pub const MAX_LABELS: usize = 5;

/// Why a URL is obfuscated, if it is.
pub fn obfuscation(url: &str) -> Option<&'static str> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("data:") {
        return Some("a data: URI as the link target");
    }
    let rest = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Some("a user name before the host");
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(authority, |(h, _)| h);
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
    let found: Vec<(String, &str)> =
        urls(ctx).into_iter().filter_map(|u| obfuscation(&u).map(|why| (u, why))).take(3).collect();
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
    fn finds_them_in_html_links() {
        let raw = "From: a@b.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://accounts.google.com@phish.example/x\">Google</a>\r\n";
        let d = crate::analysis::table::detections_of(raw, check);
        assert_eq!(d.len(), 1);
        assert!(d[0].evidence.starts_with("a user name before the host"), "{d:?}");
    }
}
