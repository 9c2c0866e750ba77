//! Links to hosts where anyone can publish under the host's name: free web hosting, form
//! builders, storage buckets, IPFS gateways, dynamic DNS and tunnels (the table
//! `scorer/data/link_hosts.tsv`). Phishing kits live there because the host's reputation
//! is good. Evidence for the learned combination. Only where a reader is sent counts
//! (anchors, URLs in text), not a newsletter's pictures kept in a storage bucket.

use super::ScoreContext;
use std::sync::LazyLock;

pub const RISKY_LINK_HOST: &str = "risky_link_host";

/// (host, kind) rows of the table, lower case.
pub static LINK_HOSTS: LazyLock<Vec<(String, String)>> =
    LazyLock::new(|| parse_table(include_str!("../../data/link_hosts.tsv")));

pub fn parse_table(text: &str) -> Vec<(String, String)> {
    super::table::host_rows(text)
}

/// The table row a host falls under (the host itself or a subdomain of the entry).
pub fn kind_of(host: &str) -> Option<&'static str> {
    super::table::host_entry(&LINK_HOSTS, host)
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let found: Vec<(String, &str)> =
        ctx.linked_hosts().iter().filter_map(|h| kind_of(h).map(|k| (h.clone(), k))).take(5).collect();
    if found.is_empty() {
        return;
    }
    let list: Vec<String> = found.iter().map(|(h, k)| format!("{h} ({k})")).collect();
    ctx.add(RISKY_LINK_HOST, 0, format!("links to hosts anyone can publish on: {}", list.join(", ")));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn finds_hosting_forms_buckets_ipfs_and_dynamic_dns() {
        assert_eq!(kind_of("login-office.web.app"), Some("free_hosting"));
        assert_eq!(kind_of("forms.gle"), Some("form_builder"));
        assert_eq!(kind_of("bucket.s3.amazonaws.com"), Some("storage"));
        assert_eq!(kind_of("bafybeigdyrzt.ipfs.dweb.link"), Some("ipfs"));
        assert_eq!(kind_of("mail-box.duckdns.org"), Some("dynamic_dns"));
        assert_eq!(kind_of("notweb.app.example"), None);
        assert_eq!(kind_of("example.com"), None);
        let d = run(
            "From: it@corp.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://storage.googleapis.com/x/login.html\">Open</a>\r\n",
        );
        assert_eq!(d.len(), 1);
        assert!(d[0].evidence.contains("storage.googleapis.com (storage)"), "{d:?}");
        assert!(run("From: a@b.example\r\n\r\nsee https://www.example.com/\r\n").is_empty());
        let pictures = "From: news@shop.example\r\nContent-Type: text/html\r\n\r\n\
<img src=\"https://shop-assets.s3.amazonaws.com/banner.png\"><a href=\"https://shop.example/sale\">Sale</a>\r\n";
        assert!(run(pictures).is_empty(), "an image in a bucket sends nobody anywhere");
        let text = run("From: it@corp.example\r\n\r\nSign in: https://mailbox-update.pages.dev/x\r\n");
        assert!(text.len() == 1 && text[0].evidence.contains("pages.dev"), "{text:?}");
    }
}
