//! A subject that names the recipient's own address ("Business proposal for
//! jane@corp.example", "HELLO FRIEND users@lists.example.org", "Verify Email:
//! jane@corp.example"): a mass mailing that knows nothing of its reader but the address it
//! sends to, as [`super::greeting`]'s greeting by address. People write a name or a topic.
//! An organization that does name the account in a subject ("Security alert for
//! jane@gmail.example") signs its mail, so the check is for mail nothing authenticates,
//! and not for the tenant's own or trusted domains. A calendar invitation's subject names
//! its attendees and is not this; nor is a subject that is the address and nothing else (a
//! test message to a list).

use super::ScoreContext;
use mail_parser::MimeHeaders;

/// A verdict (SPAM): the subject names a recipient's address, and nothing authenticates
/// the From.
pub const RECIPIENT_IN_SUBJECT: &str = "recipient_in_subject";

pub fn check(ctx: &mut ScoreContext<'_>) {
    let Some(subject) = ctx.message.subject() else { return };
    let lower = subject.to_lowercase();
    let recipients = ctx.recipient_addresses();
    let Some(recipient) = recipients.iter().find(|r| names_address(&lower, r)) else { return };
    if carries_invitation(ctx.message) {
        return;
    }
    if ctx.from_domain().is_some_and(|d| ctx.vouched_for(&d) || ctx.own_or_trusted(&d)) {
        return;
    }
    let shown: String = subject.chars().take(120).collect();
    ctx.add(
        RECIPIENT_IN_SUBJECT,
        0,
        format!("the subject names the recipient's address {recipient}: {shown:?}, and nothing authenticates the From"),
    );
}

/// Whether `subject` (lower case) holds `address` as a whole address, beside at least one
/// word of its own.
fn names_address(subject: &str, address: &str) -> bool {
    let part_of_address = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '@');
    let mut rest_has_word = false;
    let mut found = false;
    let mut last = 0;
    for (start, _) in subject.match_indices(address) {
        let end = start + address.len();
        let before = subject[..start].chars().next_back();
        let after = subject[end..].chars().next();
        // A trailing dot ends a sentence, not the address.
        let after_is_address = after.is_some_and(|c| part_of_address(c) && c != '.');
        if before.is_some_and(part_of_address) || after_is_address {
            continue;
        }
        found = true;
        rest_has_word |= has_word(&subject[last..start]);
        last = end;
    }
    found && (rest_has_word || has_word(&subject[last..]))
}

/// Two letters in a row outside a list's subject tag (`[Osst-users]`).
fn has_word(text: &str) -> bool {
    let mut depth = 0usize;
    let mut run = 0usize;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        run = if depth == 0 && c.is_alphabetic() { run + 1 } else { 0 };
        if run >= 2 {
            return true;
        }
    }
    false
}

/// Whether a part is a calendar invitation (`text/calendar`, `application/ics` or an `.ics`
/// file).
fn carries_invitation(message: &mail_parser::Message<'_>) -> bool {
    message.parts.iter().any(|part| {
        let calendar_type = part.content_type().is_some_and(|ct| {
            let (kind, sub) = (ct.ctype(), ct.subtype().unwrap_or(""));
            (kind.eq_ignore_ascii_case("text") && sub.eq_ignore_ascii_case("calendar"))
                || (kind.eq_ignore_ascii_case("application") && sub.eq_ignore_ascii_case("ics"))
        });
        calendar_type || part.attachment_name().is_some_and(|n| n.to_ascii_lowercase().ends_with(".ics"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn a_subject_naming_the_recipients_address_is_spam() {
        let d = run(
            "From: Damian <kit@questair.example>\r\nTo: users@lists.example.org\r\nSubject: [Users] Business proposal for users@lists.example.org\r\n\r\nHello\r\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, RECIPIENT_IN_SUBJECT);
        assert!(d[0].evidence.contains("users@lists.example.org"), "{d:?}");
        assert_eq!(crate::verdict::decide(&d), proto::Disposition::Spam);
        let cjk = "From: a@x.example\r\nTo: Jane <Jane@Corp.example>\r\nSubject: =?UTF-8?B?5YWo5paw5YWs5Y+4?=jane@corp.example\r\n\r\nx\r\n";
        assert_eq!(run(cjk).len(), 1, "an address run on after Chinese text, case folded");
        let sentence =
            "From: a@x.example\r\nTo: jane@corp.example\r\nSubject: Verify Email: jane@corp.example.\r\n\r\nx\r\n";
        assert_eq!(run(sentence).len(), 1, "a full stop after the address");
    }

    #[test]
    fn another_address_a_longer_one_or_the_address_alone_is_not() {
        let other = "From: a@x.example\r\nTo: jane@corp.example\r\nSubject: write to help@x.example\r\n\r\nx\r\n";
        assert!(run(other).is_empty(), "an address that is no recipient's");
        let longer =
            "From: a@x.example\r\nTo: jane@corp.example\r\nSubject: about mary.jane@corp.example.org\r\n\r\nx\r\n";
        assert!(run(longer).is_empty(), "the recipient's address inside a longer one");
        let alone =
            "From: a@x.example\r\nTo: list@lists.example.org\r\nSubject: [List] list@lists.example.org\r\n\r\nx\r\n";
        assert!(run(alone).is_empty(), "the address and a list tag only: a test message");
    }

    #[test]
    fn an_invitation_or_authenticated_mail_may_name_the_recipient() {
        let invite = "From: a@x.example\r\nTo: jane@corp.example\r\nSubject: Invitation: Lunch @ Fri 12:30 (jane@corp.example)\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nJoin us\r\n--b\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n";
        assert!(run(invite).is_empty());
        let raw = "From: Accounts <no-reply@accounts.example>\r\nTo: jane@corp.example\r\nSubject: Security alert for jane@corp.example\r\n\r\nA new sign-in.\r\n";
        assert_eq!(run(raw).len(), 1, "unauthenticated: the verdict");
        let signed = crate::analysis::table::detections_signed(raw, "mail.accounts.example", check);
        assert!(signed.is_empty(), "DKIM of the From's organization vouches: {signed:?}");
    }
}
