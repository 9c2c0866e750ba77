//! `scorer eval`: scores a folder of `.eml` files with no NATS and counts dispositions,
//! per label where the folder is laid out as `DIR/<label>/*.eml`.

use crate::analysis::MessageFacts;
use crate::score::{Verdict, score};
use proto::Disposition;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One scored file.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Path relative to the corpus folder, with `/` separators.
    pub file: String,
    /// The first folder of `file`, when there is one.
    pub label: Option<String>,
    pub verdict: Verdict,
}

/// Every `.eml` below `dir`, sorted, so runs are comparable.
pub fn find_messages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml")) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The envelope sender a stored message implies: its Return-Path, as delivery wrote it.
pub fn facts_from_stored_message(raw: &[u8]) -> MessageFacts {
    let envelope_sender = mail_parser::MessageParser::new()
        .parse_headers(raw)
        .and_then(|m| m.header_raw("Return-Path").map(|v| v.trim().trim_matches(['<', '>']).trim().to_owned()))
        .unwrap_or_default();
    MessageFacts { envelope_sender }
}

pub fn score_file(corpus: &Path, path: &Path) -> std::io::Result<Scored> {
    let raw = std::fs::read(path)?;
    let relative = path.strip_prefix(corpus).unwrap_or(path);
    let file = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    let label = (relative.components().count() > 1)
        .then(|| relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()))
        .flatten();
    let verdict = score(&raw, &facts_from_stored_message(&raw));
    Ok(Scored { file, label, verdict })
}

/// Counts: label (or `-`) -> disposition -> number of files.
pub fn count(scored: &[Scored]) -> BTreeMap<String, BTreeMap<Disposition, usize>> {
    let mut table: BTreeMap<String, BTreeMap<Disposition, usize>> = BTreeMap::new();
    for s in scored {
        let label = s.label.clone().unwrap_or_else(|| "-".to_owned());
        *table.entry(label).or_default().entry(s.verdict.disposition).or_default() += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_a_labelled_folder() {
        let dir = tempdir();
        std::fs::create_dir_all(dir.join("bulk")).unwrap();
        std::fs::write(dir.join("bulk/a.eml"), b"From: n@shop.example\r\nList-Unsubscribe: <mailto:u@shop.example>\r\n\r\nx").unwrap();
        std::fs::write(dir.join("top.eml"), b"Return-Path: <x@evil.example>\r\nFrom: ceo@bank.example\r\n\r\nx").unwrap();
        std::fs::write(dir.join("notes.txt"), b"ignored").unwrap();
        let files = find_messages(&dir).unwrap();
        assert_eq!(files.len(), 2);
        let scored: Vec<Scored> = files.iter().map(|p| score_file(&dir, p).unwrap()).collect();
        let table = count(&scored);
        assert_eq!(table["bulk"][&Disposition::Bulk], 1);
        assert_eq!(table["-"][&Disposition::Spoof], 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("postern-eval-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
