//! A message that says next to nothing and carries a document or a picture under a
//! machine-made random name (`LM8YPSXGUUNL.pdf`, `3TAPQ2UWB24N8O5B0PLLV.jpg`): the lure is
//! in the file (an "invoice" with a phone number to call, a QR code, a link), where a
//! filter's words cannot read it, and the phishing kit names each copy at random so that no
//! two carry the same name. People name their files in words (`Invoice_1037531.pdf`,
//! `scan 2024-12-04.pdf`); cameras and phones by date and counter (`IMG_0412.JPG`,
//! `IMG-20180928-WA0035.jpg`); neither mixes capital letters and digits at random. A
//! message with words of its own (a letter with its attachment) is not this, nor mail from
//! the tenant's own or trusted domains. SUSPICIOUS.

use super::ScoreContext;
use super::content::extension;

pub const RANDOM_NAMED_ATTACHMENT: &str = "random_named_attachment";

/// Documents and pictures: what such a lure is sent as.
const LURE_FILE_TYPES: &[&str] = &[
    "pdf", "jpg", "jpeg", "png", "gif", "heic", "tif", "tiff", "bmp", "webp", "doc", "docx", "xls", "xlsx", "odt",
    "rtf",
];

/// The most words (white-space separated tokens with a letter) in the message's longest
/// text for it to say next to nothing. A covering letter says more.
pub const MAX_WORDS: usize = 40;

/// A random run is at least this long.
const MIN_RANDOM_RUN: usize = 10;

/// Whether a file name's stem holds a run of capital letters and digits, at least
/// [`MIN_RANDOM_RUN`] long, that switches between letters and digits at least twice
/// (`3TAPQ2UWB24N8O5B0PLLV`): no word and no counter. `INVOICE-00012345` (a word, a number)
/// and `LGHMS5688576011` (a prefix and a number) are not, nor a run of hexadecimal digits
/// only (`0305E82C3301`, a GUID's or a hash's, which systems name their files by).
pub fn is_random_name(name: &str) -> bool {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    stem.split(|c: char| !c.is_ascii_alphanumeric()).any(|run| {
        if run.len() < MIN_RANDOM_RUN || !run.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
            return false;
        }
        if run.chars().all(|c| c.is_ascii_hexdigit()) {
            return false;
        }
        let bytes = run.as_bytes();
        let switches = bytes.windows(2).filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit()).count();
        switches >= 2
    })
}

fn says_next_to_nothing(ctx: &ScoreContext<'_>) -> bool {
    ctx.body_texts()
        .iter()
        .flatten()
        .map(|text| text.split_whitespace().filter(|t| t.chars().any(char::is_alphabetic)).count())
        .max()
        .unwrap_or(0)
        <= MAX_WORDS
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    if ctx.from_domain().is_some_and(|d| ctx.own_or_trusted(&d)) {
        return;
    }
    let random: Vec<String> = ctx
        .message
        .attachments()
        .filter_map(|part| mail_parser::MimeHeaders::attachment_name(part).map(str::to_owned))
        .filter(|name| extension(name).is_some_and(|ext| LURE_FILE_TYPES.contains(&ext.as_str())))
        .filter(|name| is_random_name(name))
        .collect();
    if random.is_empty() || !says_next_to_nothing(ctx) {
        return;
    }
    ctx.add(
        RANDOM_NAMED_ATTACHMENT,
        0,
        format!(
            "a message of at most {MAX_WORDS} words whose content is a file under a random name: {}",
            random.iter().take(3).map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::table::{detections_for_tenant, detections_of};

    fn with_attachment(subject: &str, body: &str, name: &str, content_type: &str) -> String {
        format!(
            "From: Mullen Landrum <mullenlandrum55@mail.example>\r\nTo: user@corp.example\r\nSubject: {subject}\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n--b\r\nContent-Type: {content_type}; name=\"{name}\"\r\n\
Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
        )
    }

    #[test]
    fn random_names_and_names_people_and_cameras_give() {
        for random in ["LM8YPSXGUUNL.pdf", "3TAPQ2UWB24N8O5B0PLLV.jpg", "D1WNW29NG-Y3EFOK2C279UML-AVI3ENHI9YYB6KO.pdf"]
        {
            assert!(is_random_name(random), "{random}");
        }
        for named in [
            "Invoice_1037531.pdf",
            "INVOICE-00012345.pdf",
            "IMG-20180928-WA0035.jpg",
            "IMG_0412.JPG",
            "LGHMS5688576011.pdf",
            "scan 2024-12-04.pdf",
            "3f2504e04f8911d39a0c0305e82c3301.pdf",
            "3F2504E0-4F89-11D3-9A0C-0305E82C3301.pdf",
            "SKMBT_C22024120410320.pdf",
            "ABC12.pdf",
        ] {
            assert!(!is_random_name(named), "{named}");
        }
    }

    #[test]
    fn a_wordless_message_with_a_randomly_named_document() {
        let raw = with_attachment(
            "Invoice",
            "Your ID: YVBXIETH/73287398 Ref: 5168193995",
            "3TAPQ2UWB24N8O5B0PLLV.jpg",
            "application/octet-stream",
        );
        let d = detections_of(&raw, check);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, RANDOM_NAMED_ATTACHMENT);
        assert!(d[0].evidence.contains("\"3TAPQ2UWB24N8O5B0PLLV.jpg\""), "{d:?}");
    }

    #[test]
    fn a_letter_a_named_file_another_type_or_an_own_domain_is_not() {
        let letter = "Dear Ms Okafor, as agreed on the phone this morning I attach the scanned delivery note \
for the pallets that reached your Leeds warehouse on Tuesday. Two of the twelve crates were damaged in transit; \
the driver signed for them and our insurer has the photographs. Could your team confirm the count and tell me \
whether you want replacements sent this week or a credit on the next invoice? Kind regards, Mullen";
        assert!(
            detections_of(&with_attachment("Delivery note", letter, "LM8YPSXGUUNL.pdf", "application/pdf"), check)
                .is_empty()
        );
        assert!(
            detections_of(&with_attachment("Invoice", "attached", "Invoice_1037531.pdf", "application/pdf"), check)
                .is_empty()
        );
        assert!(
            detections_of(&with_attachment("build", "attached", "LM8YPSXGUUNL.zip", "application/zip"), check)
                .is_empty()
        );
        let own = with_attachment("Invoice", "attached", "LM8YPSXGUUNL.pdf", "application/pdf");
        assert!(detections_for_tenant(&own, "own_domains = [\"mail.example\"]", check).is_empty());
    }
}
