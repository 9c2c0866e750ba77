//! Journal fixtures, composed here: no public Exchange journal report or Google copy
//! exists as a data file. The layout follows Microsoft's envelope journal report: a
//! `text/plain` part of `Field: value` lines and the original as `message/rfc822`.

/// Transfer encodings an Exchange report may use for the attached original.
pub const ENCODINGS: [&str; 4] = ["7bit", "8bit", "binary", "base64"];

/// An Exchange / Microsoft 365 envelope journal report wrapping `original`.
/// `recipient_lines` are the report's recipient lines, e.g. `To: bob@corp.example` or
/// `To: erin@corp.example, Expanded: team@corp.example`.
pub fn exchange_report(original: &[u8], encoding: &str, sender: &str, recipient_lines: &[&str]) -> Vec<u8> {
    let boundary = "----=_JournalReport_7f3a";
    let mut out = format!(
        "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.example>\r\n\
To: journal@postern.localhost\r\nSubject: Journal report\r\nX-MS-Journal-Report:\r\n\
Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <journal-report-{encoding}@corp.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
--{boundary}\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
Sender: {sender}\r\nSubject: (see attached)\r\n{}\r\n\r\n\
--{boundary}\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n",
        recipient_lines.join("\r\n"),
    )
    .into_bytes();
    match encoding {
        "base64" => {
            let b64 = base64(original);
            for line in b64.as_bytes().chunks(76) {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        }
        _ => {
            out.extend_from_slice(original);
            out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        }
    }
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for j in 0..4 {
            s.push(if j <= chunk.len() { T[((n >> (18 - 6 * j)) & 63) as usize] as char } else { '=' });
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
