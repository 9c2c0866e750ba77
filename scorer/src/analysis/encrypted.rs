//! ENCRYPTED: content the scorer cannot read. S/MIME enveloped data, PGP/MIME and inline
//! PGP, password-protected ZIP archives, encrypted PDF and encrypted Office documents.

use super::ScoreContext;
use super::content::{self, Kind};
use mail_parser::{MessagePart, MimeHeaders};
use proto::Attribute;

pub const ENCRYPTED_CONTENT: &str = "encrypted_content";

pub fn check(ctx: &mut ScoreContext<'_>) {
    let mut evidence = None;
    for part in &ctx.message.parts {
        if let Some(e) = encrypted_part(part) {
            evidence = Some(e);
            break;
        }
    }
    if let Some(e) = evidence {
        ctx.add(ENCRYPTED_CONTENT, 0, e);
        ctx.attribute(Attribute::Encrypted);
    }
}

fn encrypted_part(part: &MessagePart<'_>) -> Option<String> {
    let name = part.attachment_name().unwrap_or("");
    if let Some(ct) = part.content_type() {
        let full = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase();
        match full.as_str() {
            "multipart/encrypted" => return Some("PGP/MIME (multipart/encrypted)".into()),
            "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
                let smime_type = ct.attribute("smime-type").unwrap_or("").to_ascii_lowercase();
                if smime_type != "signed-data" && smime_type != "certs-only" {
                    return Some(format!("S/MIME enveloped data ({full})"));
                }
                // Opaque signed data carries its content inside the PKCS#7 structure as
                // plain octets: a MIME entity that may itself be enveloped.
                let inner = content::part_bytes(part);
                let inner = inner.as_ref();
                if smime_type == "signed-data" && content::contains_ignore_case(inner, b"smime-type=enveloped-data") {
                    return Some("S/MIME enveloped data inside opaque signed data".into());
                }
            }
            "application/pgp-encrypted" => return Some("PGP encrypted part".into()),
            _ => {}
        }
    }
    let decoded = content::part_bytes(part);
    let bytes = decoded.as_ref();
    if content::find(bytes, b"-----BEGIN PGP MESSAGE-----").is_some() {
        return Some("inline PGP message".into());
    }
    match content::kind(bytes) {
        Kind::Zip => {
            let members = content::zip_members(bytes);
            members.iter().find(|m| m.encrypted).map(|m| format!("password-protected archive {name} ({})", m.name))
        }
        _ if is_pdf(bytes) && content::find(bytes, b"/Encrypt").is_some() => Some(format!("encrypted PDF {name}")),
        Kind::Ole
            if content::ole_has_entry(bytes, "EncryptedPackage") || content::ole_has_entry(bytes, "EncryptionInfo") =>
        {
            Some(format!("encrypted Office document {name}"))
        }
        _ => None,
    }
}

/// A PDF: `%PDF-` within the first KiB (readers accept leading bytes).
fn is_pdf(bytes: &[u8]) -> bool {
    content::kind(bytes) == Kind::Pdf || content::find(&bytes[..bytes.len().min(1024)], b"%PDF-").is_some()
}
