//! A header's value as the message wrote it (folded, undecoded): the bytes between the
//! colon and the line end that mail-parser's offsets point at. Checks that must see what
//! was written (Received clauses, List-Id, SpamAssassin's `:raw` headers) read it here.

use mail_parser::Header;

/// The message's header block as written: everything before the root part's body (the whole
/// message when mail-parser found no part).
pub fn header_block<'r>(message: &'r mail_parser::Message<'_>) -> &'r [u8] {
    let raw = message.raw_message();
    let end = message.parts.first().map_or(raw.len(), |p| p.offset_body as usize);
    &raw[..end.min(raw.len())]
}

/// The raw value of `header` within `raw_message` (the message it was parsed from); None
/// when the offsets fall outside it.
pub fn raw_value<'r>(raw_message: &'r [u8], header: &Header<'_>) -> Option<&'r [u8]> {
    raw_message.get(header.offset_start as usize..header.offset_end as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_value_as_written() {
        let raw = b"Subject: =?UTF-8?Q?caf=C3=A9?=\r\n  and more\r\nList-Id: Users <users.example.org>\r\n\r\nbody\r\n";
        let message = mail_parser::MessageParser::default().parse(&raw[..]).unwrap();
        let value = |name: &str| {
            let header = message.headers().iter().find(|h| h.name().eq_ignore_ascii_case(name)).unwrap();
            String::from_utf8_lossy(raw_value(raw, header).unwrap()).into_owned()
        };
        assert_eq!(value("Subject"), " =?UTF-8?Q?caf=C3=A9?=\r\n  and more\r\n");
        assert_eq!(value("List-Id"), " Users <users.example.org>\r\n");
    }
}
