//! Text disguised to get past filters: a subject or sender name written in styled letters
//! (Unicode's mathematical alphabets, 𝗙𝗿𝗲𝗲 𝗢𝗳𝗳𝗲𝗿), decorated with runs of arrows
//! (➠➠➠, ⇧⇧⇧), or with invisible characters between its letters (F​r​e​e). The words a
//! filter looks for are not there as written; people who write to each other, and the
//! senders of newsletters, have no reason for it (a single emoji or arrow is not this).
//! Also a sender's name or a subject padded with runs of spaces (`Insurify   <x@...>`,
//! `Cheap Auto Insurance Quotes     `), as written in the header: what a filter's header
//! pattern expects is pushed apart, and the address out of a narrow client's view.

use super::ScoreContext;

pub const DISGUISED_TEXT: &str = "disguised_text";

/// How many of one kind of character make a disguise.
pub const MIN_CHARACTERS: usize = 3;

/// A run of this many spaces or tabs, after the first word, pads a name or a subject.
pub const MIN_PADDING: usize = 3;

/// Letters and digits of the Mathematical Alphanumeric Symbols block (bold, italic,
/// script, monospace, double-struck Latin and Greek, styled digits).
fn styled_letter(c: char) -> bool {
    ('\u{1D400}'..='\u{1D7FF}').contains(&c)
}

/// Arrows of Unicode's arrow blocks, and the dingbat arrows.
fn arrow(c: char) -> bool {
    matches!(c, '\u{2190}'..='\u{21FF}' | '\u{2794}'..='\u{27BF}' | '\u{27F0}'..='\u{27FF}' | '\u{2900}'..='\u{297F}' | '\u{2B00}'..='\u{2BFF}')
}

/// Characters that show nothing (zero-width space and non-joiner, word joiner, soft hyphen,
/// the byte-order mark, the grapheme joiner, invisible operators). The zero-width joiner is
/// not among them: emoji sequences use it.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{034F}' | '\u{2061}'..='\u{2064}')
}

/// What disguises `text`, if anything.
pub fn disguise(text: &str) -> Option<&'static str> {
    let count = |f: fn(char) -> bool| text.chars().filter(|c| f(*c)).count();
    if count(styled_letter) >= MIN_CHARACTERS {
        Some("letters in a styled Unicode alphabet")
    } else if count(arrow) >= MIN_CHARACTERS {
        Some("runs of arrows")
    } else if count(invisible) >= MIN_CHARACTERS {
        Some("invisible characters between the letters")
    } else {
        None
    }
}

/// Whether a header value as written (each fold read as one space) has a run of
/// [`MIN_PADDING`] spaces or tabs after its first word that a reader sees. Leading spaces
/// (some mailers align header values) do not count, nor white space between two encoded
/// words, which RFC 2047 has decoders drop.
pub fn padded(raw_value: &str) -> bool {
    let text = raw_value.trim_start();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b' ' && bytes[i] != b'\t' {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        let between_encoded_words = text[..start].ends_with("?=") && text[i..].starts_with("=?");
        if i - start >= MIN_PADDING && !between_encoded_words {
            return true;
        }
    }
    false
}

/// The display-name part of a raw From value: what comes before the `<address>`, if any.
fn display_part(raw_from: &str) -> Option<&str> {
    raw_from.rfind('<').map(|i| &raw_from[..i]).filter(|name| !name.trim().is_empty())
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let padded_name = ctx.raw_header_as_written("From").as_deref().and_then(display_part).is_some_and(padded);
    let padded_subject = ctx.raw_header_as_written("Subject").as_deref().is_some_and(padded);
    if padded_name || padded_subject {
        let place = if padded_name { "sender's name" } else { "subject" };
        ctx.add(DISGUISED_TEXT, 0, format!("the {place} is padded with runs of spaces"));
        return;
    }
    let subject = ctx.message.subject().unwrap_or("");
    let name = ctx.message.from().and_then(|a| a.first()).and_then(|a| a.name()).unwrap_or("");
    let found = [("subject", subject), ("sender's name", name)]
        .into_iter()
        .find_map(|(place, text)| disguise(text).map(|why| (place, why, text)));
    if let Some((place, why, text)) = found {
        let shown: String = text.chars().filter(|c| !invisible(*c)).take(60).collect();
        let evidence = format!("the {place} is written in {why}: {shown:?}");
        ctx.add(DISGUISED_TEXT, 0, evidence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn styled_letters_arrow_runs_and_invisible_characters_disguise() {
        assert_eq!(disguise("𝗟𝗮𝘀𝘁 𝗰𝗵𝗮𝗻𝗰𝗲: 50% OFF"), Some("letters in a styled Unicode alphabet"));
        assert_eq!(disguise("➠➠➠ Stay Warm in Style"), Some("runs of arrows"));
        assert_eq!(disguise("⇑⇑⇑ Rates As Low As $30"), Some("runs of arrows"));
        assert_eq!(disguise("D\u{200B}r\u{200B}i\u{200B}v\u{200B}e"), Some("invisible characters between the letters"));
        let d = run(
            "From: =?UTF-8?B?8J2XmfCdl7/wnZey8J2XsiDwnZei8J2Xs/Cdl7PwnZey8J2Xvw==?= <a@b.example>\r\nSubject: Hi\r\n\r\nx\r\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].evidence.starts_with("the sender's name is written in letters in a styled Unicode alphabet"),
            "{d:?}"
        );
        let d = run("From: a@b.example\r\nSubject: =?UTF-8?Q?D=E2=80=8Br=E2=80=8Bi=E2=80=8Bv=E2=80=8Be?=\r\n\r\nx\r\n");
        assert!(d[0].evidence.contains("\"Drive\""), "shown without the invisible characters: {d:?}");
    }

    #[test]
    fn a_name_or_subject_padded_with_spaces_is_a_disguise() {
        let d = run("From: Insurify   <offers@car-refurbished.example>\r\nSubject: Quotes\r\n\r\nx\r\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].evidence.contains("sender's name is padded"), "{d:?}");
        let d = run("From: a@b.example\r\nSubject: Cheap Auto Insurance Quotes     \r\n\r\nx\r\n");
        assert!(d[0].evidence.contains("subject is padded"), "{d:?}");
        let d = run("From:   =?UTF-8?B?4qy5?=Pros   <x@y.example>\r\n\r\nx\r\n");
        assert_eq!(d.len(), 1, "after an encoded word: {d:?}");
        // Between two encoded words the spaces are not shown (RFC 2047).
        assert!(run("From: a@b.example\r\nSubject: =?utf-8?Q?_omre?=     =?utf-8?q?je?=\r\n\r\nx\r\n").is_empty());
        // Aligned header values, one space before the address, a folded subject, a quoted name.
        for raw in [
            "From:     Jane Doe <jane@corp.example>\r\nSubject:    Lunch\r\n\r\nx\r\n",
            "From: \"Doe, Jane\" <jane@corp.example>\r\nSubject: a long subject\r\n that folds\r\n\r\nx\r\n",
            "From: \"A Very Long Display Name\"\r\n        <jane@corp.example>\r\nSubject: folded\r\n\t    deep\r\n\r\nx\r\n",
            "From: jane@corp.example\r\nSubject: Re:  two  spaces\r\n\r\nx\r\n",
        ] {
            assert!(run(raw).is_empty(), "{raw}");
        }
        assert!(padded("Insurify   ") && !padded("   Jane Doe ") && !padded("Jane  Doe"));
    }

    #[test]
    fn an_emoji_or_an_arrow_is_not_a_disguise() {
        assert_eq!(disguise("Announcement ➡\u{FE0F} $20 off + free shipping"), None);
        assert_eq!(disguise("Grateful for you ❤\u{FE0F} ✨"), None);
        assert_eq!(disguise("Family 👨\u{200D}👩\u{200D}👧\u{200D}👦 photos"), None, "emoji joiners");
        assert_eq!(disguise("Prices ↑ and ↓ this week"), None);
        assert_eq!(disguise("Re: the x → y mapping"), None);
        assert!(run("From: Ann <a@b.example>\r\nSubject: Lunch?\r\n\r\nx\r\n").is_empty());
    }
}
