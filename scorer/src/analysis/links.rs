//! Links and forms in HTML bodies: links to raw IP addresses, links whose visible text
//! names another domain than the one they go to, and forms that ask for a password.

use super::ScoreContext;
use super::domain::aligned;

pub const LINK_IP_HOST: &str = "link_ip_host";
pub const LINK_TEXT_MISMATCH: &str = "link_text_mismatch";
pub const CREDENTIAL_FORM: &str = "credential_form";

pub fn check(ctx: &mut ScoreContext<'_>) {
    let htmls: Vec<String> = ctx.message.html_bodies().filter_map(|p| p.text_contents().map(str::to_owned)).collect();
    for html in &htmls {
        let lower = html.to_ascii_lowercase();
        let asks_password =
            lower.contains("type=\"password\"") || lower.contains("type='password'") || lower.contains("type=password");
        if lower.contains("<form") && asks_password && !ctx.fired(CREDENTIAL_FORM) {
            ctx.add(CREDENTIAL_FORM, 8_000, "an HTML form asks for a password");
        }
        for (href, text) in anchors(html) {
            let Some(host) = host_of(&href) else { continue };
            if host.parse::<std::net::IpAddr>().is_ok() && !ctx.fired(LINK_IP_HOST) {
                ctx.add(LINK_IP_HOST, 5_000, format!("link to an IP address: {}", clip(&href)));
            }
            if let Some(shown) = domain_in_text(&text)
                && !aligned(&shown, &host)
                && !ctx.fired(LINK_TEXT_MISMATCH)
            {
                ctx.add(LINK_TEXT_MISMATCH, 2_000, format!("link text shows {shown} but goes to {host}"));
            }
        }
    }
}

/// (href, visible text) of each `<a href=...>...</a>`, from a forgiving scan.
fn anchors(html: &str) -> Vec<(String, String)> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(pos) = lower[at..].find("<a ") {
        let start = at + pos;
        let Some(tag_end) = lower[start..].find('>').map(|e| start + e) else { break };
        let tag = &html[start..tag_end];
        let close = lower[tag_end..].find("</a>").map(|e| tag_end + e).unwrap_or(tag_end + 1);
        if let Some(href) = attribute(tag, "href") {
            let text = strip_tags(html.get(tag_end + 1..close).unwrap_or(""));
            out.push((href, text));
        }
        at = tag_end + 1;
        if out.len() > 500 {
            break;
        }
    }
    out
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let pos = lower.find(&format!("{name}="))? + name.len() + 1;
    let rest = &tag[pos..];
    let value = match rest.chars().next()? {
        q @ ('"' | '\'') => rest[1..].split(q).next()?,
        _ => rest.split(|c: char| c.is_whitespace() || c == '>').next()?,
    };
    Some(value.trim().to_owned())
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// The host of an http(s) URL, lower-case.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.trim().strip_prefix("http://").or_else(|| url.trim().strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host =
        if host.starts_with('[') { host.trim_start_matches('[').split(']').next()? } else { host.split(':').next()? };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// A domain that visible link text presents as the destination (`www.bank.com`,
/// `https://bank.com/login`), if it looks like one.
fn domain_in_text(text: &str) -> Option<String> {
    let t = text.trim();
    if t.contains(char::is_whitespace) || t.len() > 200 {
        return None;
    }
    let host = host_of(t).or_else(|| {
        let h = t.split(['/', '?', '#']).next()?.to_ascii_lowercase();
        (h.starts_with("www.") && h.contains('.')).then_some(h)
    })?;
    (host.contains('.') && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')).then_some(host)
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_hosts_and_shown_domains() {
        let html = r#"<p><A HREF="http://192.0.2.7/login">https://bank.example/login</a> <a href='https://news.example/x'>read</a></p>"#;
        let a = anchors(html);
        assert_eq!(a.len(), 2);
        assert_eq!(host_of(&a[0].0).as_deref(), Some("192.0.2.7"));
        assert_eq!(domain_in_text(&a[0].1).as_deref(), Some("bank.example"));
        assert_eq!(domain_in_text("read more"), None);
        assert_eq!(domain_in_text("www.Shop.example"), Some("www.shop.example".into()));
        assert_eq!(host_of("https://user@[2001:db8::1]:8443/x").as_deref(), Some("2001:db8::1"));
        assert_eq!(host_of("mailto:a@b"), None);
    }
}
