//! Links to hosts where anyone can publish under the host's name: free web hosting, form
//! builders, storage buckets, IPFS gateways, dynamic DNS, tunnels and cloud providers' default
//! names for a rented machine or app (the table
//! `scorer/data/link_hosts.tsv`). Phishing kits live there because the host's reputation
//! is good. Evidence for the learned combination. Only where a reader is sent counts
//! (anchors, URLs in text), not a newsletter's pictures kept in a storage bucket.

use super::ScoreContext;
use std::sync::LazyLock;

pub const RISKY_LINK_HOST: &str = "risky_link_host";
/// A link to such a host in a message that lures for credentials or claims a brand: the
/// shape of today's credential phish (a verdict, not only evidence).
pub const HOSTED_LURE: &str = "hosted_lure";
/// A credential or payment lure in a message that links to a bare public IP address (or a
/// host named after its address, [`super::links::LINK_IP_HOST`]): the account to verify or
/// the bill to pay is on a machine with no name. A business asks its customers to sign in
/// or pay at its own name; an address is evidence alone (a 2002 newsletter linked to one),
/// the pair a verdict (SUSPICIOUS).
pub const LURE_TO_ADDRESS: &str = "lure_to_address";
/// A link to a web page kept in a storage bucket (`https://x.blob.core.windows.net/a/b.html`,
/// `storage.googleapis.com/.../index.htm`): a bucket serves files, and the file a mail
/// sends its reader to there is a page only when someone is hosting a site where no site
/// should be, as phishing kits do for the bucket's name and certificate. A newsletter's
/// pictures and a shared PDF in a bucket are not this. A verdict (SUSPICIOUS).
pub const STORAGE_WEB_PAGE: &str = "storage_web_page";
/// The table's kind for storage buckets.
const STORAGE: &str = "storage";
/// What a web page's file name ends with.
const WEB_PAGE_ENDINGS: &[&str] = &[".html", ".htm", ".shtml", ".xhtml", ".php", ".svg"];

/// The table's kind for a cloud provider's default name of a rented virtual machine
/// ([`super::links::LINK_TO_MACHINE`]).
pub const CLOUD_MACHINE: &str = "cloud_machine";
/// The table's kind for a dynamic-DNS provider's free names (also
/// [`super::links::LINK_TO_MACHINE`]).
pub const DYNAMIC_DNS: &str = "dynamic_dns";

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

/// The kind of the row a host is a name *under*: a subdomain of the entry other than `www`
/// (`x9.is-an-artist.com`), not the entry itself, which is often the provider's own site
/// (`www.no-ip.com`, `duckdns.org`).
pub fn kind_of_name_under(host: &str) -> Option<&'static str> {
    let host = host.to_ascii_lowercase();
    LINK_HOSTS
        .iter()
        .find(|(entry, _)| host.strip_suffix(entry.as_str()).is_some_and(|rest| rest.ends_with('.') && rest != "www."))
        .map(|(_, kind)| kind.as_str())
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let page = ctx.linked_urls().iter().find(|url| is_storage_web_page(url)).cloned();
    if let Some(url) = page {
        let url = crate::classifier::clip(&url, 160);
        ctx.add(STORAGE_WEB_PAGE, 0, format!("a link to a web page kept in a storage bucket: {url}"));
    }
    let found: Vec<(String, &str)> =
        ctx.linked_hosts().iter().filter_map(|h| kind_of(h).map(|k| (h.clone(), k))).take(5).collect();
    if found.is_empty() {
        return;
    }
    let list: Vec<String> = found.iter().map(|(h, k)| format!("{h} ({k})")).collect();
    ctx.add(RISKY_LINK_HOST, 0, format!("links to hosts anyone can publish on: {}", list.join(", ")));
}

/// Whether `url` names a web page (by its file name) on a storage bucket's host.
fn is_storage_web_page(url: &str) -> bool {
    let Some(host) = super::links::host_of(url) else { return false };
    if kind_of(&host) != Some(STORAGE) {
        return false;
    }
    let path = super::links::path_of(url).to_ascii_lowercase();
    WEB_PAGE_ENDINGS.iter().any(|ending| path.ends_with(ending))
}

/// Runs after the link, lure and brand checks: [`HOSTED_LURE`] when a risky link host
/// comes with a credential lure or a brand claim, [`LURE_TO_ADDRESS`] when a link to an
/// address comes with a credential or payment lure.
pub fn corroborate(ctx: &mut ScoreContext<'_>) {
    let has = |name: &str| ctx.detection(name);
    let pair = |found: Option<(&proto::Detection, &proto::Detection)>| {
        found.map(|(link, lure)| format!("{}; and {}", link.evidence, lure.evidence))
    };
    let lure_to_address = pair(
        has(super::links::LINK_IP_HOST)
            .zip(has(super::lures::CREDENTIAL_LURE).or_else(|| has(super::lures::PAYMENT_LURE))),
    );
    let hosted_lure = pair(
        has(RISKY_LINK_HOST)
            .zip(has(super::lures::CREDENTIAL_LURE).or_else(|| has(super::brand_impersonation::BRAND_IMPERSONATION))),
    );
    if let Some(evidence) = lure_to_address {
        ctx.add(LURE_TO_ADDRESS, 0, evidence);
    }
    if let Some(evidence) = hosted_lure {
        ctx.add(HOSTED_LURE, 0, evidence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn a_web_page_in_a_storage_bucket_is_a_verdict() {
        let linking = |href: &str| {
            run(&format!(
                "From: Mail <mail3@yes35.example>\r\nSubject: Nota fiscal\r\nContent-Type: text/html\r\n\r\n<a href=\"{href}\">Visualizar</a>\r\n"
            ))
        };
        let d = linking("https://insolvency4850.blob.core.windows.net/documentary/confidentiality.html?x=1");
        assert!(d.iter().any(|d| d.name == STORAGE_WEB_PAGE && d.evidence.contains("confidentiality.html")), "{d:?}");
        assert!(d.iter().any(|d| d.name == RISKY_LINK_HOST), "{d:?}");
        // A shared file, a picture, the provider's own site: evidence at most.
        for href in [
            "https://storage.googleapis.com/bucket/report.pdf",
            "https://x.r2.dev/banner.png",
            "https://azure.microsoft.com/en-us/products/storage/blobs/index.html",
        ] {
            assert!(!linking(href).iter().any(|d| d.name == STORAGE_WEB_PAGE), "{href}");
        }
    }

    #[test]
    fn a_lure_or_a_brand_claim_sending_readers_to_such_a_host_is_a_verdict() {
        let all = |raw: &str| {
            crate::analysis::table::detections_of(raw, |ctx| {
                crate::analysis::brand_impersonation::check(ctx);
                check(ctx);
                crate::analysis::lures::check(ctx);
                corroborate(ctx);
            })
        };
        let lure = "From: it@corp.example\r\nSubject: Password expiry\r\nContent-Type: text/html\r\n\r\n\
Your password expires today. Verify your account: <a href=\"https://mailbox-keep.web.app/\">Keep password</a>\r\n";
        let d = all(lure);
        let verdict = d.iter().find(|d| d.name == HOSTED_LURE).expect("a lure and a free host");
        assert!(verdict.evidence.contains("mailbox-keep.web.app") && verdict.evidence.contains("lure phrases"));
        let brand = "From: \"Microsoft 365\" <it@corp.example>\r\nSubject: Files\r\nContent-Type: text/html\r\n\r\n\
<a href=\"https://storage.googleapis.com/x/index.html\">Open shared files</a>\r\n";
        assert!(all(brand).iter().any(|d| d.name == HOSTED_LURE));
        // A lure that sends the reader to a bare address.
        let address = "From: service@bank.example\r\nSubject: Account blocked\r\nContent-Type: text/html\r\n\r\n\
Unusual activity: we had to block your account. Verify your account: <a href=\"http://203.0.113.7/bank/\">Restore access</a>\r\n";
        let both = |raw: &str| {
            crate::analysis::table::detections_of(raw, |ctx| {
                crate::analysis::links::check(ctx);
                crate::analysis::lures::check(ctx);
                corroborate(ctx);
            })
        };
        let d = both(address);
        assert!(d.iter().any(|d| d.name == LURE_TO_ADDRESS && d.evidence.contains("203.0.113.7")), "{d:?}");
        // The address without a lure, or the lure at a private address (a lab device): no.
        let no_lure = address.replace("Unusual activity", "News").replace("Verify your account", "See the");
        assert!(!both(&no_lure).iter().any(|d| d.name == LURE_TO_ADDRESS));
        assert!(!both(&address.replace("203.0.113.7", "192.168.1.7")).iter().any(|d| d.name == LURE_TO_ADDRESS));
        // Either alone is evidence only.
        let host_only = "From: a@b.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://forms.gle/x\">Sign up for the picnic</a>\r\n";
        assert!(!all(host_only).iter().any(|d| d.name == HOSTED_LURE));
        let lure_only = lure.replace("mailbox-keep.web.app", "corp.example");
        assert!(!all(&lure_only).iter().any(|d| d.name == HOSTED_LURE));
    }

    #[test]
    fn finds_hosting_forms_buckets_ipfs_and_dynamic_dns() {
        assert_eq!(kind_of("login-office.web.app"), Some("free_hosting"));
        assert_eq!(kind_of("forms.gle"), Some("form_builder"));
        assert_eq!(kind_of("bucket.s3.amazonaws.com"), Some("storage"));
        assert_eq!(kind_of("bafybeigdyrzt.ipfs.dweb.link"), Some("ipfs"));
        assert_eq!(kind_of("mail-box.duckdns.org"), Some("dynamic_dns"));
        assert_eq!(kind_of("nfe-emitida.brazilsouth.cloudapp.azure.com"), Some(CLOUD_MACHINE));
        assert_eq!(kind_of("ec2-3-14-15-92.us-east-2.compute.amazonaws.com"), Some(CLOUD_MACHINE));
        assert_eq!(kind_of("billing-api-x7.a.run.app"), Some("cloud_app"));
        assert_eq!(kind_of("notweb.app.example"), None);
        assert_eq!(kind_of("example.com"), None);
        let d = run(
            "From: it@corp.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://storage.googleapis.com/x/login.html\">Open</a>\r\n",
        );
        assert_eq!(d.len(), 2, "a page in a bucket is also a storage_web_page: {d:?}");
        assert_eq!(d[0].name, STORAGE_WEB_PAGE);
        assert!(d[1].evidence.contains("storage.googleapis.com (storage)"), "{d:?}");
        assert!(run("From: a@b.example\r\n\r\nsee https://www.example.com/\r\n").is_empty());
        let pictures = "From: news@shop.example\r\nContent-Type: text/html\r\n\r\n\
<img src=\"https://shop-assets.s3.amazonaws.com/banner.png\"><a href=\"https://shop.example/sale\">Sale</a>\r\n";
        assert!(run(pictures).is_empty(), "an image in a bucket sends nobody anywhere");
        let text = run("From: it@corp.example\r\n\r\nSign in: https://mailbox-update.pages.dev/x\r\n");
        assert!(text.len() == 1 && text[0].evidence.contains("pages.dev"), "{text:?}");
    }
}
