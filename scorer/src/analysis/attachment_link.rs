//! A link dressed as an attached file: its visible text is a document's or an archive's
//! file name (`CURRICULO .docx 31 KB`, `NFe352309213879_procNFe.pdf`,
//! `Descargar todo como.zip`, or the `.xml` a Brazilian electronic invoice, NF-e, comes
//! as: `00000022851985000016042514522851985.xml`), and it goes to a web page that is no such file on a host
//! that is neither the sender's, nor a commonly impersonated brand's own (its file-sharing
//! service: OneDrive, Google Drive, Dropbox, WeTransfer... are in `brands.tsv`), nor a click
//! tracker's or a mail gateway's link rewriter. The reader expects a download and gets a
//! login page or a dropper: a phishing kit's fake attachment. A sender's own file server,
//! a shared document on a known service and a link straight to the file (`.../cv.pdf`)
//! are not this. Not in mail from the tenant's own or trusted domains, nor to their hosts.
//! SUSPICIOUS.

use super::ScoreContext;
use super::domain::aligned;
use std::sync::LazyLock;

pub const FAKE_ATTACHMENT_LINK: &str = "fake_attachment_link";

/// A file name with a document's or an archive's extension, as a word of its own (a space
/// may stand before the dot: `CURRICULO .docx`); an extension alone (`Download (.pdf)`) is
/// a newsletter's note on the format, not a file.
static FILE_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)(?:^|[\s(\[])[^\s/\\:()\[\]]{1,80}?\s?\.(pdf|docx?|docm|xlsx?|xlsm|pptx?|odt|ods|rtf|xml|zip|rar|7z)(?:$|[\s)\],;(~])",
    )
    .expect("the file-name pattern compiles")
});

/// The extension a link's text (its white space folded) shows as a file's (lower case),
/// when the text is a file name and not an address or a URL.
fn shown_extension(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("://") || lower.contains("www.") || lower.contains('@') {
        return None;
    }
    FILE_NAME.captures(text).and_then(|c| c.get(1)).map(|e| e.as_str().to_ascii_lowercase())
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let from = ctx.from_domain();
    if from.as_deref().is_some_and(|f| ctx.own_or_trusted(f)) {
        return;
    }
    let brands = super::brand_impersonation::brands_for(ctx);
    let found = ctx.anchors().iter().find_map(|(href, text)| {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let extension = shown_extension(&text)?;
        let lower_href = href.to_ascii_lowercase();
        if !(lower_href.starts_with("http://") || lower_href.starts_with("https://")) {
            return None;
        }
        let host = super::links::host_of(href)?;
        let path = lower_href.split(['?', '#']).next().unwrap_or("");
        let the_file = path.ends_with(&format!(".{extension}"));
        let known = from.as_deref().is_some_and(|f| aligned(f, &host))
            || ctx.own_or_trusted(&host)
            || brands.iter().any(|b| super::brand_impersonation::owned(b, &host))
            || super::brand_impersonation::rewriter_of(&host).is_some();
        (!the_file && !known).then(|| {
            let shown: String = text.chars().take(80).collect();
            format!("the link {shown:?} shows a .{extension} file but goes to a page on {host}")
        })
    });
    if let Some(evidence) = found {
        ctx.add(FAKE_ATTACHMENT_LINK, 7_000, evidence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    fn html(from: &str, body: &str) -> String {
        format!("From: {from}\r\nTo: jane@corp.example\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n{body}\r\n")
    }

    #[test]
    fn a_file_name_over_a_link_to_a_page_elsewhere_is_suspicious() {
        let d = run(&html(
            "Geiza <rh@affidavits.example>",
            "segue, meu Currículo <a href=\"http://20.92.83.19/coordena\">CURRICULO .docx 31 KB</a>",
        ));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, FAKE_ATTACHMENT_LINK);
        assert!(d[0].evidence.contains(".docx") && d[0].evidence.contains("20.92.83.19"), "{d:?}");
        assert_eq!(crate::verdict::decide(&d), proto::Disposition::Suspicious);
        let zip = html(
            "a@x.example",
            "<a href=\"https://re8a.is-an-artist.example:5000/?hash=1\">Descargar todo como.zip</a>",
        );
        assert_eq!(run(&zip).len(), 1, "an archive");
        assert_eq!(shown_extension("RE-9292866849228Factura.pdf(~51 KB)").as_deref(), Some("pdf"));
        assert_eq!(shown_extension("Ver documento 5336912653530.pdf (656,86 KB)").as_deref(), Some("pdf"));
        let nfe = html(
            "jackeline@abremi.example",
            "Baixe a NFSe : <a href=\"https://is.gd/UodKRQ?00000022851985\">00000022851985000016042514522851985.xml</a> (411,9 kb)",
        );
        assert_eq!(run(&nfe).len(), 1, "an electronic invoice's XML");
    }

    #[test]
    fn the_file_itself_the_senders_site_a_known_service_or_a_url_is_not() {
        let direct = html("a@x.example", "<a href=\"https://files.other.example/docs/cv.pdf?dl=1\">cv.pdf</a>");
        assert!(run(&direct).is_empty(), "a link straight to the file");
        let own = html(
            "Billing <billing@shop.example>",
            "<a href=\"https://portal.shop.example/invoice/7\">invoice-7.pdf</a>",
        );
        assert!(run(&own).is_empty(), "the sender's own site");
        let drive = html(
            "bob@partner.example",
            "<a href=\"https://contoso-my.sharepoint.com/:b:/g/personal/x\">Budget 2026.xlsx</a>",
        );
        assert!(run(&drive).is_empty(), "a brand's own file-sharing service");
        let url = html("a@x.example", "<a href=\"https://elsewhere.example/r\">https://kb.example/file.pdf</a>");
        assert!(run(&url).is_empty(), "a URL shown as text is link_text_mismatch's business");
        let words = html("a@x.example", "<a href=\"https://elsewhere.example/r\">Read our PDF guide</a>");
        assert!(run(&words).is_empty(), "the word PDF is no file name");
        let format = html("a@x.example", "<a href=\"https://elsewhere.example/r\">Annual report (.pdf)</a>");
        assert!(run(&format).is_empty(), "an extension alone is no file name");
        let raw = html("it@corp.example", "<a href=\"https://files.elsewhere.example/x\">policy.docx</a>");
        let d = crate::analysis::table::detections_for_tenant(&raw, "own_domains = [\"corp.example\"]\n", check);
        assert!(d.is_empty(), "the tenant's own mail: {d:?}");
    }
}
