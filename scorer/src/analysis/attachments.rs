//! Attachments: executables recognised by their content (PE, ELF, Mach-O), scripts and
//! other executable types by name, double extensions, an executable's name under a
//! compressor's (`invoice.scr.xz`), the same inside ZIP and RAR archives, and Office
//! documents with macros (OLE VBA projects, OOXML `vbaProject.bin`, .docm/.xlsm).

use super::ScoreContext;
use super::content::{self, Kind, extension};
use proto::Attribute;

pub const EXECUTABLE_ATTACHMENT: &str = "executable_attachment";
pub const OFFICE_MACRO: &str = "office_macro";

/// Extensions Windows (and mail clients) run or open as programs.
const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "exe",
    "scr",
    "com",
    "pif",
    "cpl",
    "msi",
    "msp",
    "dll",
    "bat",
    "cmd",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "hta",
    "ps1",
    "psm1",
    "lnk",
    "jar",
    "reg",
    "sct",
    "chm",
    "iso",
    "img",
    "vhd",
    "appx",
    "msix",
    "application",
];
const MACRO_EXTENSIONS: &[&str] = &["docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppam", "ppsm", "sldm"];
/// Archives and single-file compressors: `name.scr.xz` unpacks to `name.scr`.
const COMPRESSED_EXTENSIONS: &[&str] =
    &["zip", "rar", "7z", "gz", "xz", "bz2", "lz", "lzma", "zst", "z", "tgz", "cab", "arj", "ace", "lzh"];
/// What a double extension pretends to be.
const DOCUMENT_EXTENSIONS: &[&str] =
    &["pdf", "doc", "docx", "xls", "xlsx", "txt", "jpg", "png", "zip", "rtf", "htm", "html"];

pub fn check(ctx: &mut ScoreContext<'_>) {
    let mut findings: Vec<(&'static str, String)> = Vec::new();
    for part in ctx.message.attachments() {
        let name = mail_parser::MimeHeaders::attachment_name(part).unwrap_or("(unnamed)").to_owned();
        inspect(&name, &content::part_bytes(part), 0, &mut findings);
    }
    let mut executable = false;
    for (name, evidence) in findings {
        executable |= name == EXECUTABLE_ATTACHMENT;
        if !ctx.fired(name) {
            ctx.add(name, if name == EXECUTABLE_ATTACHMENT { 10_000 } else { 6_000 }, evidence);
        }
    }
    if executable {
        ctx.attribute(Attribute::Executable);
    }
}

fn inspect(name: &str, bytes: &[u8], depth: usize, findings: &mut Vec<(&'static str, String)>) {
    let ext = extension(name);
    match content::kind(bytes) {
        Kind::Pe | Kind::Elf | Kind::MachO => {
            findings.push((EXECUTABLE_ATTACHMENT, format!("{name}: an executable program by its content")));
        }
        Kind::Zip => {
            let members = content::zip_members(bytes);
            if members.iter().any(|m| m.name.ends_with("vbaProject.bin")) {
                findings.push((OFFICE_MACRO, format!("{name}: Office document with a VBA project")));
            }
            if depth < 2 {
                for m in members.iter().filter(|m| !m.name.ends_with('/')) {
                    if let Some(e) = extension(&m.name).filter(|e| EXECUTABLE_EXTENSIONS.contains(&e.as_str())) {
                        findings.push((EXECUTABLE_ATTACHMENT, format!("{name} contains {} (.{e})", m.name)));
                    }
                }
            }
        }
        Kind::Rar if depth < 2 => {
            for member in content::rar_members(bytes) {
                if let Some(e) = extension(&member).filter(|e| EXECUTABLE_EXTENSIONS.contains(&e.as_str())) {
                    findings.push((EXECUTABLE_ATTACHMENT, format!("{name} contains {member} (.{e})")));
                }
            }
        }
        Kind::Ole if content::ole_has_entry(bytes, "_VBA_PROJECT") || content::ole_has_entry(bytes, "VBA") => {
            findings.push((OFFICE_MACRO, format!("{name}: Office 97-2003 document with VBA macros")));
        }
        _ => {}
    }
    if let Some(e) = &ext {
        if EXECUTABLE_EXTENSIONS.contains(&e.as_str()) {
            findings.push((EXECUTABLE_ATTACHMENT, format!("{name}: executable file type .{e}")));
        } else if MACRO_EXTENSIONS.contains(&e.as_str()) {
            findings.push((OFFICE_MACRO, format!("{name}: macro-enabled Office file type .{e}")));
        }
        // invoice.pdf.exe
        let stem = name.trim_end_matches(|c| c != '.').trim_end_matches('.');
        if let Some(inner) = extension(stem)
            && DOCUMENT_EXTENSIONS.contains(&inner.as_str())
            && EXECUTABLE_EXTENSIONS.contains(&e.as_str())
        {
            findings.push((EXECUTABLE_ATTACHMENT, format!("{name}: double extension .{inner}.{e}")));
        }
        // invoice.scr.xz, photo.exe.zip: what the archive or compressor gives back is a program.
        if let Some(inner) = extension(stem)
            && COMPRESSED_EXTENSIONS.contains(&e.as_str())
            && EXECUTABLE_EXTENSIONS.contains(&inner.as_str())
        {
            findings.push((EXECUTABLE_ATTACHMENT, format!("{name}: a compressed .{inner} (.{inner}.{e})")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(name: &str, bytes: &[u8]) -> Vec<&'static str> {
        let mut f = Vec::new();
        inspect(name, bytes, 0, &mut f);
        f.into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn recognises_programs_scripts_and_macros() {
        assert_eq!(findings("report.pdf", b"MZ\x90\x00"), vec![EXECUTABLE_ATTACHMENT]);
        assert!(findings("invoice.pdf.exe", b"plain").contains(&EXECUTABLE_ATTACHMENT));
        assert_eq!(findings("run.js", b"var x"), vec![EXECUTABLE_ATTACHMENT]);
        assert_eq!(findings("budget.xlsm", b"PK\x03\x04"), vec![OFFICE_MACRO]);
        assert!(findings("photo.jpg", b"\xff\xd8\xff").is_empty());
        assert!(findings("notes.txt", b"hello").is_empty());
    }

    #[test]
    fn programs_compressed_or_in_rar_archives() {
        // A compressor's extension after a program's: what it unpacks to is the program.
        assert_eq!(findings("файл.scr.xz", b"BZh91AY&SY"), vec![EXECUTABLE_ATTACHMENT]);
        assert_eq!(findings("photo.exe.zip", b"not really a zip"), vec![EXECUTABLE_ATTACHMENT]);
        assert!(findings("backup.tar.gz", b"\x1f\x8b").is_empty());
        assert!(findings("site.html.gz", b"\x1f\x8b").is_empty());
        // A RAR archive, whatever its name says, holding a program.
        let rar = content::test_rar4("06.12.2017.scr");
        assert_eq!(findings("06.12.2017.gz", &rar), vec![EXECUTABLE_ATTACHMENT]);
        assert!(findings("photos.rar", &content::test_rar4("beach.jpg")).is_empty());
    }
}
