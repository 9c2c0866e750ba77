//! Attachments that deliver phishing pages or malware and that ordinary business mail
//! seldom carries (the table `scorer/data/attachment_types.tsv`): HTML or SVG files that
//! post a form, run script or redirect; OneNote files; Windows shortcut files; disk images
//! beyond the ones the attachments check already calls executable; and archives whose
//! password the body gives (so that no scanner can open them). Evidence for the learned
//! combination.

use super::ScoreContext;
use super::content::{self, extension};
use mail_parser::MimeHeaders;
use std::sync::LazyLock;

pub const RISKY_ATTACHMENT: &str = "risky_attachment";

/// (extension, kind) rows, lower case.
pub static ATTACHMENT_TYPES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    super::table::rows(include_str!("../../data/attachment_types.tsv"))
        .filter_map(|cols| Some((cols.first()?.to_lowercase(), cols.get(1)?.to_string())))
        .collect()
});

fn kind_of(ext: &str) -> Option<&'static str> {
    ATTACHMENT_TYPES.iter().find(|(e, _)| e == ext).map(|(_, k)| k.as_str())
}

/// What an HTML or SVG page does that a document has no reason to: post a form, run
/// script, or send the browser elsewhere.
pub fn active_markup(bytes: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512 * 1024)]).to_ascii_lowercase();
    if text.contains("<form") {
        Some("posts a form")
    } else if text.contains("http-equiv=\"refresh\"")
        || text.contains("http-equiv=refresh")
        || text.contains("http-equiv='refresh'")
    {
        Some("redirects (meta refresh)")
    } else if text.contains("window.location")
        || text.contains("document.location")
        || text.contains("location.href")
        || text.contains("location.replace")
    {
        Some("redirects (script)")
    } else if text.contains("<script") || text.contains("javascript:") || text.contains(" onload=") {
        Some("runs script")
    } else {
        None
    }
}

/// Words that give an archive's password in the body, in the corpus's main languages.
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passcode",
    "passwort",
    "kennwort",
    "mot de passe",
    "contraseña",
    "senha",
    "wachtwoord",
    "hasło",
    "parola",
];

fn body_gives_password(ctx: &ScoreContext<'_>) -> bool {
    ctx.body_texts().iter().flatten().any(|t| {
        let lower = t.to_lowercase();
        PASSWORD_WORDS.iter().any(|w| {
            lower.match_indices(w).any(|(at, _)| {
                // "password: 1234", "password is abc123": something follows closely.
                let after: String = lower[at + w.len()..].chars().take(24).collect();
                after.trim_start_matches([' ', ':', '-', '=']).starts_with(|c: char| c.is_alphanumeric())
                    && (after.contains(':') || after.contains(" is ") || after.contains('='))
            })
        })
    })
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let mut findings: Vec<String> = Vec::new();
    let mut archives = Vec::new();
    for part in ctx.message.attachments() {
        let name = part.attachment_name().unwrap_or("").to_owned();
        let Some(ext) = extension(&name) else { continue };
        match kind_of(&ext) {
            Some("markup_page") => {
                if let Some(what) = active_markup(&content::part_bytes(part)) {
                    findings.push(format!("{name}: an attached page that {what}"));
                }
            }
            Some("archive") => archives.push(name),
            Some(kind) => findings.push(format!("{name}: {}", kind.replace('_', " "))),
            None => {}
        }
    }
    if !archives.is_empty() && body_gives_password(ctx) {
        findings.push(format!("{}: an archive whose password the body gives", archives.join(", ")));
    }
    if !findings.is_empty() {
        ctx.add(RISKY_ATTACHMENT, 0, findings.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_attachment(body: &str, name: &str, content_type: &str, bytes: &[u8]) -> String {
        format!(
            "From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n--b\r\nContent-Type: {content_type}; name=\"{name}\"\r\n\
Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            testkit::journal::base64(bytes)
        )
    }

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn active_pages_onenote_and_password_archives() {
        let svg =
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>window.location="https://x.example/"</script></svg>"#;
        let d = run(&with_attachment("see attached", "fax.svg", "image/svg+xml", svg));
        assert!(d[0].evidence.contains("fax.svg: an attached page that redirects (script)"), "{d:?}");
        let form = b"<html><form action=\"https://x.example/p\"><input name=u></form></html>";
        let d = run(&with_attachment("invoice", "Remittance.htm", "text/html", form));
        assert!(d[0].evidence.contains("posts a form"), "{d:?}");
        let d = run(&with_attachment("notes", "Invoice.one", "application/octet-stream", b"\xe4\x52\x5c\x7b"));
        assert!(d[0].evidence.contains("Invoice.one: onenote"), "{d:?}");
        let d = run(&with_attachment("The archive password: 7781", "docs.zip", "application/zip", b"PK\x03\x04"));
        assert!(d[0].evidence.contains("docs.zip: an archive whose password the body gives"), "{d:?}");
    }

    #[test]
    fn ordinary_attachments_are_not() {
        assert!(run(&with_attachment("the report", "report.zip", "application/zip", b"PK\x03\x04")).is_empty());
        let page = b"<html><body><h1>Minutes</h1><p>Agreed.</p></body></html>";
        assert!(run(&with_attachment("minutes", "minutes.html", "text/html", page)).is_empty());
        assert!(
            run(&with_attachment("Reset your password in the portal.", "a.zip", "application/zip", b"PK")).is_empty()
        );
    }
}
