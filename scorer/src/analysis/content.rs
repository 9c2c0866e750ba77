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
    /// RAR archive, format 4 (`Rar!\x1a\x07\x00`) or 5 (`Rar!\x1a\x07\x01\x00`).
    Rar,
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
        [b'R', b'a', b'r', b'!', 0x1a, 0x07, ..] => Kind::Rar,
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

/// The names of the files in a RAR archive (at most 4096), from its file headers (format 4
/// and 5; archives whose headers are encrypted show none). Damaged archives give what could
/// be read.
pub fn rar_members(bytes: &[u8]) -> Vec<String> {
    const RAR4: &[u8] = b"Rar!\x1a\x07\x00";
    const RAR5: &[u8] = b"Rar!\x1a\x07\x01\x00";
    let mut names = Vec::new();
    if let Some(mut at) = bytes.starts_with(RAR5).then_some(RAR5.len()) {
        // Blocks: CRC32, header size (vint), then the header: type, flags, [extra size],
        // [data size], and for a file header (type 2) file flags, unpacked size,
        // attributes, [mtime], [CRC32], compression, host OS, name length, name.
        while names.len() < 4096 {
            let Some((size, after_size)) = vint(bytes, at + 4) else { break };
            let Some(end) = after_size.checked_add(usize::try_from(size).unwrap_or(usize::MAX)) else { break };
            let Some((kind, p)) = vint(bytes, after_size) else { break };
            let Some((flags, mut p)) = vint(bytes, p) else { break };
            if flags & 1 != 0 {
                let Some((_, q)) = vint(bytes, p) else { break };
                p = q;
            }
            let mut data = 0u64;
            if flags & 2 != 0 {
                let Some((d, q)) = vint(bytes, p) else { break };
                data = d;
                p = q;
            }
            if kind == 2 {
                let Some(name) = (|| {
                    let (file_flags, p) = vint(bytes, p)?;
                    let (_, p) = vint(bytes, p)?;
                    let (_, mut p) = vint(bytes, p)?;
                    p += 4 * usize::from(file_flags & 2 != 0) + 4 * usize::from(file_flags & 4 != 0);
                    let (_, p) = vint(bytes, p)?;
                    let (_, p) = vint(bytes, p)?;
                    let (len, p) = vint(bytes, p)?;
                    bytes.get(p..p.checked_add(usize::try_from(len).ok()?)?)
                })() else {
                    break;
                };
                names.push(String::from_utf8_lossy(name).into_owned());
            }
            let Some(next) = end.checked_add(usize::try_from(data).unwrap_or(usize::MAX)) else { break };
            if kind == 5 || next <= at {
                break;
            }
            at = next;
        }
    } else if bytes.starts_with(RAR4) {
        // Blocks: CRC16, type, flags (u16), header size (u16), [added size (u32) when flags
        // has 0x8000]; a file header (0x74) has the packed size, then 21 bytes, the name's
        // length at 26 and the name at 32 (40 with 64-bit sizes, flags 0x100).
        let mut at = RAR4.len();
        while names.len() < 4096 {
            let Some(header) = bytes.get(at..at + 7) else { break };
            let kind = header[2];
            let flags = u16::from_le_bytes([header[3], header[4]]);
            let size = usize::from(u16::from_le_bytes([header[5], header[6]]));
            let added = if flags & 0x8000 != 0 || kind == 0x74 {
                bytes.get(at + 7..at + 11).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            } else {
                0
            };
            if kind == 0x74 {
                let Some(len) = bytes.get(at + 26..at + 28).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
                else {
                    break;
                };
                let start = at + if flags & 0x100 != 0 { 40 } else { 32 };
                let Some(name) = bytes.get(start..start + len) else { break };
                // A Unicode name follows the ASCII one after a NUL.
                let ascii = name.split(|&b| b == 0).next().unwrap_or(name);
                names.push(String::from_utf8_lossy(ascii).into_owned());
            }
            if size < 7 || kind == 0x7b {
                break;
            }
            at += size + added;
        }
    }
    names
}

/// A RAR5 variable-length integer at `at`: 7 bits a byte, low first; the value and where
/// the next field starts.
fn vint(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.get(at..)?.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, at + i + 1));
        }
    }
    None
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

/// Whether `haystack` holds `needle`, ASCII letters in any case.
pub fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// The extension of a file name, lower-case, without the dot.
pub fn extension(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.rsplit_once('.').map(|(_, e)| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty())
}

/// Test support: a RAR4 archive holding one file `name` (marker, archive header, file
/// header, its data, end of archive).
#[cfg(test)]
pub(crate) fn test_rar4(name: &str) -> Vec<u8> {
    let mut b = b"Rar!\x1a\x07\x00".to_vec();
    b.extend([0xcf, 0x90, 0x73, 0x00, 0x00, 0x0d, 0x00, 0, 0, 0, 0, 0, 0]);
    let size = 32 + name.len() as u16;
    b.extend([0, 0, 0x74, 0x20, 0x80]);
    b.extend(size.to_le_bytes());
    b.extend(1u32.to_le_bytes()); // packed size
    b.extend(1u32.to_le_bytes()); // unpacked size
    b.extend([0u8; 11]); // host OS, CRC, time, version, method
    b.extend((name.len() as u16).to_le_bytes());
    b.extend([0u8; 4]); // attributes
    b.extend(name.as_bytes());
    b.push(b'x'); // the packed data
    b.extend([0xc4, 0x3d, 0x7b, 0x00, 0x40, 0x07, 0x00]); // end of archive
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A RAR5 archive holding one file `name` (signature, main header, file header, end).
    fn rar5(name: &str) -> Vec<u8> {
        let block = |fields: &[u8]| {
            let mut b = vec![0, 0, 0, 0, fields.len() as u8];
            b.extend(fields);
            b
        };
        let mut b = b"Rar!\x1a\x07\x01\x00".to_vec();
        b.extend(block(&[1, 0, 0])); // main header: type 1, no flags, archive flags 0
        // File header: type 2, flags 2 (data size follows), data size 1, file flags 4
        // (CRC32), unpacked size 1, attributes 0, CRC32, compression 0, host 0, name.
        let mut file = vec![2, 2, 1, 4, 1, 0, 0, 0, 0, 0, 0, 0, name.len() as u8];
        file.extend(name.as_bytes());
        b.extend(block(&file));
        b.push(b'x');
        b.extend(block(&[5, 0, 0]));
        b
    }

    #[test]
    fn rar_archives_list_their_files() {
        assert_eq!(kind(&test_rar4("a.exe")), Kind::Rar);
        assert_eq!(rar_members(&test_rar4("invoice.exe")), vec!["invoice.exe"]);
        assert_eq!(kind(&rar5("a.exe")), Kind::Rar);
        assert_eq!(rar_members(&rar5("scan 2024.scr")), vec!["scan 2024.scr"]);
        // Damaged or cut short: what could be read, and no panic.
        let whole = test_rar4("invoice.exe");
        for cut in 0..whole.len() {
            let _ = rar_members(&whole[..cut]);
        }
        let whole = rar5("invoice.exe");
        for cut in 0..whole.len() {
            let _ = rar_members(&whole[..cut]);
        }
        assert!(rar_members(b"Rar!\x1a\x07\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").is_empty());
    }

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
