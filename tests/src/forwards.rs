//! Submission mails built the way mail clients build them, for tests of users' reports:
//! Outlook's and Gmail's "forward as attachment" (the original as a `message/rfc822` part,
//! 7bit in Outlook's, base64 in Gmail's) and inline forwards (Gmail's
//! `---------- Forwarded message ---------` block, Outlook's `From: / Sent: / Subject:`).

/// Outlook's "Forward as attachment" of `original` by `user`.
pub fn outlook_as_attachment(user: &str, to: &str, subject: &str, original: &str) -> Vec<u8> {
    format!(
        "From: {user}\r\nTo: {to}\r\nSubject: FW: {subject}\r\nMessage-ID: <fwd-{}@corp.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"_004_outlook_\"\r\n\r\n\
--_004_outlook_\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\nThis looks like phishing.\r\n\r\n\
--_004_outlook_\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment;\r\n\tcreation-date=\"Tue, 01 Dec 2026 10:00:00 GMT\"\r\n\r\n\
{original}\r\n--_004_outlook_--\r\n",
        ulid::Ulid::new()
    )
    .into_bytes()
}

/// Gmail's "Forward as attachment" of `original` by `user` (an .eml part in base64).
pub fn gmail_as_attachment(user: &str, to: &str, subject: &str, original: &str) -> Vec<u8> {
    let encoded = crate::journal::base64(original.as_bytes());
    let wrapped: Vec<String> = encoded.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    format!(
        "From: {user}\r\nTo: {to}\r\nSubject: Fwd: {subject}\r\nMessage-ID: <CA{}@mail.gmail.com>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"000000000000gmail\"\r\n\r\n\
--000000000000gmail\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n\r\n\
--000000000000gmail\r\nContent-Type: message/rfc822; name=\"{subject}.eml\"\r\n\
Content-Disposition: attachment; filename=\"{subject}.eml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
{}\r\n--000000000000gmail--\r\n",
        ulid::Ulid::new(),
        wrapped.join("\r\n")
    )
    .into_bytes()
}

/// Gmail's inline forward of a message from `from` with `subject`.
pub fn gmail_inline(user: &str, to: &str, from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {user}\r\nTo: {to}\r\nSubject: Fwd: {subject}\r\nMessage-ID: <CA{}@mail.gmail.com>\r\n\
Content-Type: text/plain; charset=\"UTF-8\"\r\n\r\nsee below\r\n\r\n---------- Forwarded message ---------\r\n\
From: Sender <{from}>\r\nDate: Tue, Dec 1, 2026 at 9:00 AM\r\nSubject: {subject}\r\nTo: <bob@corp.example>\r\n\r\n\r\nBuy now.\r\n",
        ulid::Ulid::new()
    )
    .into_bytes()
}

/// Outlook's inline forward of a message from `from` with `subject`.
pub fn outlook_inline(user: &str, to: &str, from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {user}\r\nTo: {to}\r\nSubject: FW: {subject}\r\nMessage-ID: <fwd-{}@corp.example>\r\n\r\n\
________________________________\r\nFrom: Sender <{from}>\r\nSent: Tuesday, December 1, 2026 9:00 AM\r\nTo: Bob\r\n\
Subject: {subject}\r\n\r\nClick here.\r\n",
        ulid::Ulid::new()
    )
    .into_bytes()
}
