//! File content recognition shared by the attachment and encryption checks: magic bytes,
//! ZIP member names and flags, OLE (Office 97-2003 / encrypted OOXML) streams, PDF.

/// What a file's bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Windows PE (`MZ`).
    Pe,
    Elf,
    MachO,
    Zip,
    /// OLE compound file (Office 97-2003, MSI, encrypted OOXML).
    Ole,
    Pdf,
    Other,
}

pub fn kind(bytes: &[u8]) -> Kind {
    match bytes {
        [b'M', b'Z', ..] => Kind::Pe,
        [0x7f, b'E', b'L', b'F', ..] => Kind::Elf,
        [0xfe, 0xed, 0xfa, 0xce | 0xcf, ..] | [0xce | 0xcf, 0xfa, 0xed, 0xfe, ..] | [0xca, 0xfe, 0xba, 0xbe, ..] => {
            Kind::MachO
        }
        [b'P', b'K', 3, 4, ..] => Kind::Zip,
        [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, ..] => Kind::Ole,
        _ if bytes.starts_with(b"%PDF-") => Kind::Pdf,
        _ => Kind::Other,
    }
}

/// A part's decoded bytes. Where mail-parser left a base64 body undecoded (seen with
/// real mail), it is decoded here, leniently, but only when that reveals a file type we
/// recognise: text that merely looks like base64 is never decoded twice.
pub fn part_bytes<'a>(part: &'a mail_parser::MessagePart<'_>) -> std::borrow::Cow<'a, [u8]> {
    let bytes = part.contents();
    if kind(bytes) == Kind::Other && looks_like_base64(bytes) {
        let reveals_a_file =
            lenient_base64(&bytes[..bytes.len().min(64)]).is_some_and(|head| kind(&head) != Kind::Other);
        if reveals_a_file && let Some(all) = lenient_base64(bytes) {
            return std::borrow::Cow::Owned(all);
        }
    }
    std::borrow::Cow::Borrowed(bytes)
}

fn looks_like_base64(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    !head.is_empty()
        && head
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n' | b' ' | b'\t'))
}

/// Base64 that skips white space and stops at padding or the first foreign byte.
fn lenient_base64(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => break,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// One member of a ZIP archive, read from its local file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipMember {
    pub name: String,
    /// General purpose flag bit 0: the member is encrypted (password-protected archive).
    pub encrypted: bool,
}

/// The members of a ZIP archive (at most 4096), from its local file headers. Damaged
/// archives give what could be read.
pub fn zip_members(bytes: &[u8]) -> Vec<ZipMember> {
    let mut out = Vec::new();
    let mut at = 0;
    while out.len() < 4096 {
        let Some(pos) = find(&bytes[at..], b"PK\x03\x04") else { break };
        let h = at + pos;
        let Some(header) = bytes.get(h..h + 30) else { break };
        let flags = u16::from_le_bytes([header[6], header[7]]);
        let name_len = usize::from(u16::from_le_bytes([header[26], header[27]]));
        let Some(name) = bytes.get(h + 30..h + 30 + name_len) else { break };
        out.push(ZipMember { name: String::from_utf8_lossy(name).into_owned(), encrypted: flags & 1 == 1 });
        at = h + 30 + name_len;
    }
    out
}

/// Whether an OLE file holds a stream or storage of this name (directory entries are
/// UTF-16LE).
pub fn ole_has_entry(bytes: &[u8], name: &str) -> bool {
    let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    find(bytes, &utf16).is_some()
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The extension of a file name, lower-case, without the dot.
pub fn extension(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.rsplit_once('.').map(|(_, e)| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_with(name: &str, flags: u16) -> Vec<u8> {
        let mut z = b"PK\x03\x04\x14\x00".to_vec();
        z.extend_from_slice(&flags.to_le_bytes());
        z.extend_from_slice(&[0u8; 18]);
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z.extend_from_slice(name.as_bytes());
        z
    }

    #[test]
    fn lenient_base64_decodes() {
        assert_eq!(lenient_base64(b"JVBE\r\nRi0x").as_deref(), Some(&b"%PDF-1"[..]));
        assert_eq!(lenient_base64(b"Zm9vYg==").as_deref(), Some(&b"foob"[..]));
        assert!(looks_like_base64(b"QUJD\r\n"));
        assert!(!looks_like_base64(b"%PDF-1.5"));
    }

    #[test]
    fn kinds_zip_and_ole() {
        assert_eq!(kind(b"MZ\x90\x00"), Kind::Pe);
        assert_eq!(kind(b"\x7fELF\x02"), Kind::Elf);
        assert_eq!(kind(&[0xcf, 0xfa, 0xed, 0xfe]), Kind::MachO);
        assert_eq!(kind(b"%PDF-1.7"), Kind::Pdf);
        assert_eq!(kind(b"hello"), Kind::Other);
        let mut z = zip_with("invoice.exe", 1);
        z.extend(zip_with("word/vbaProject.bin", 0));
        assert_eq!(kind(&z), Kind::Zip);
        let members = zip_members(&z);
        assert_eq!(members.len(), 2);
        assert_eq!(members[0], ZipMember { name: "invoice.exe".into(), encrypted: true });
        assert!(!members[1].encrypted);
        assert!(zip_members(b"PK\x03\x04short").is_empty());
        let ole = [
            &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1][..],
            &"_VBA_PROJECT".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<_>>(),
        ]
        .concat();
        assert!(ole_has_entry(&ole, "_VBA_PROJECT"));
        assert!(!ole_has_entry(&ole, "EncryptedPackage"));
        assert_eq!(extension("a/b/Invoice.PDF.exe").as_deref(), Some("exe"));
        assert_eq!(extension("noext"), None);
    }
}
