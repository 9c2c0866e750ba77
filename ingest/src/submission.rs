//! A user's submission mail: a message forwarded to a submission address (`phish@…`,
//! `spam@…`), as an attachment (Outlook's and Gmail's "forward as attachment":
//! a `message/rfc822` part) or inline (a forwarded header block in the text: Gmail's
//! `---------- Forwarded message ---------`, Outlook's `From: … Sent: … Subject: …`).
//! Pure: bytes in, what the mail says of the reported message out.

use mail_parser::{Address, MessageParser, PartType};
use proto::ReportedMessage;

/// What a submission mail says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The submission mail's own Message-ID.
    pub message_id: Option<String>,
    /// Who forwarded it: the forward's From address, lower-case.
    pub forwarded_by: Option<String>,
    pub reported: ReportedMessage,
    /// The message came as a `message/rfc822` attachment.
    pub attached: bool,
}

/// Reads a submission mail.
pub fn read(mail: &[u8]) -> Submission {
    let Some(message) = MessageParser::new().parse(mail) else {
        return Submission {
            message_id: None,
            forwarded_by: None,
            reported: ReportedMessage::default(),
            attached: false,
        };
    };
    let message_id = message.message_id().map(str::to_owned).filter(|id| !id.trim().is_empty());
    let forwarded_by = message.from().and_then(first_address);
    // Forward as attachment: the first message/rfc822 part.
    if let Some(inner) = message.parts.iter().skip(1).find_map(|p| match &p.body {
        PartType::Message(inner) => Some(inner),
        _ => None,
    }) {
        let raw = inner.raw_message();
        let reported = ReportedMessage {
            message_id: inner.message_id().map(|id| id.trim().trim_matches(['<', '>']).to_owned()),
            from: inner.from().and_then(first_address),
            subject: inner.subject().map(|s| s.trim().to_owned()),
            digest: Some(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(raw))),
        };
        return Submission { message_id, forwarded_by, reported, attached: true };
    }
    let text = message.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    Submission { message_id, forwarded_by, reported: inline_forward(&text), attached: false }
}

/// The forwarded header block of an inline forward: the first `From:` line and the
/// `Subject:` and `Message-ID:` lines after it, before the block's first blank line.
fn inline_forward(text: &str) -> ReportedMessage {
    let mut reported = ReportedMessage::default();
    let mut in_block = false;
    for line in text.lines() {
        // Quoted forwards (`> From: …`) keep their marker off.
        let line = line.trim_start_matches(['>', ' ']).trim_end();
        let Some((name, value)) = line.split_once(':') else {
            if in_block && line.is_empty() && reported.subject.is_some() {
                break;
            }
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "from" | "von" | "de" if !in_block => {
                reported.from = address_in(value);
                in_block = reported.from.is_some();
            }
            "subject" | "betreff" | "objet" | "asunto" if in_block => reported.subject = Some(value.to_owned()),
            "message-id" if in_block => reported.message_id = Some(value.trim_matches(['<', '>']).to_owned()),
            _ => {}
        }
    }
    reported
}

/// The address in `Name <a@b>`, `"Name" <a@b>`, `a@b` or `Name [mailto:a@b]`, lower-case.
fn address_in(value: &str) -> Option<String> {
    let candidate = match (value.rfind('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value
            .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '(' | ')' | '"'))
            .find(|w| w.contains('@'))
            .unwrap_or(""),
    };
    let candidate = candidate.trim().trim_start_matches("mailto:").to_ascii_lowercase();
    (candidate.contains('@') && !candidate.starts_with('@') && !candidate.ends_with('@')).then_some(candidate)
}

fn first_address(address: &Address<'_>) -> Option<String> {
    address.first().and_then(|a| a.address()).map(|a| a.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHISH: &str = "From: \"PayPal\" <service@paypa1-secure.example>\r\nTo: bob@corp.example\r\n\
Subject: Your account is limited\r\nMessage-ID: <phish-1@paypa1-secure.example>\r\n\
Date: Tue, 01 Dec 2026 09:00:00 +0000\r\n\r\nVerify your account now.\r\n";

    #[test]
    fn outlook_and_gmail_attachments_give_the_original() {
        use testkit::forwards;
        let (bob, to, subject) = ("Bob Example <bob@corp.example>", "phish@corp.example", "Your account is limited");
        for mail in [
            forwards::outlook_as_attachment(bob, to, subject, PHISH),
            forwards::gmail_as_attachment(bob, to, subject, PHISH),
        ] {
            let s = read(&mail);
            assert!(s.attached, "{s:?}");
            assert_eq!(s.forwarded_by.as_deref(), Some("bob@corp.example"));
            assert_eq!(s.reported.message_id.as_deref(), Some("phish-1@paypa1-secure.example"));
            assert_eq!(s.reported.from.as_deref(), Some("service@paypa1-secure.example"));
            assert_eq!(s.reported.subject.as_deref(), Some("Your account is limited"));
            assert_eq!(s.reported.digest.as_ref().map(String::len), Some(32));
        }
    }

    #[test]
    fn inline_forwards_give_the_forwarded_header_block() {
        let s = read(&testkit::forwards::gmail_inline(
            "Bob <bob@corp.example>",
            "spam@corp.example",
            "deals@watches.example",
            "Cheap watches",
        ));
        assert!(!s.attached);
        assert_eq!(s.reported.from.as_deref(), Some("deals@watches.example"));
        assert_eq!(s.reported.subject.as_deref(), Some("Cheap watches"));
        assert_eq!(s.reported.message_id, None);
        let outlook = testkit::forwards::outlook_inline(
            "bob@corp.example",
            "phish@corp.example",
            "payroll@hr-update.example",
            "Update your direct deposit",
        );
        let s = read(&outlook);
        assert_eq!(s.reported.from.as_deref(), Some("payroll@hr-update.example"));
        assert_eq!(s.reported.subject.as_deref(), Some("Update your direct deposit"));
    }

    #[test]
    fn a_mail_that_forwards_nothing_reports_nothing() {
        let s = read(b"From: bob@corp.example\r\nSubject: hello\r\n\r\nno forward here\r\n");
        assert_eq!(s.reported, ReportedMessage::default());
        assert_eq!(address_in("Name [mailto:A@B.example]").as_deref(), Some("a@b.example"));
        assert_eq!(address_in("no address"), None);
    }
}
