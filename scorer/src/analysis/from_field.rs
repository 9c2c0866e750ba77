//! A From field that mail software can read two ways: the attacks of "Composition Kills"
//! (Chen et al., USENIX Security 2020) make the address that DMARC checks differ from the
//! one the reader sees, with two From fields, a `From` line without its colon, white space
//! before the colon, several mailboxes in one From, or an obsolete source route
//! (`<@relay.example:ceo@corp.example>`). RFC 5322 allows exactly one From field; RFC 7489
//! (6.6.1) lets receivers reject mail with several From addresses. Nobody's mail software
//! writes these; a message that has one is built to deceive a parser.

use super::ScoreContext;

/// A verdict (SPOOF): the From field is ambiguous.
pub const AMBIGUOUS_FROM: &str = "ambiguous_from";

/// What makes the From field of this header block ambiguous, if anything.
pub fn ambiguities(header_block: &[u8]) -> Vec<&'static str> {
    let text = String::from_utf8_lossy(header_block);
    let mut found = Vec::new();
    let mut fields = 0;
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.starts_with([' ', '\t']) || line.is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if name.trim_end().eq_ignore_ascii_case("from") => {
                fields += 1;
                if name.len() != name.trim_end().len() {
                    found.push("white space before the From field's colon");
                }
                if route_in(value) {
                    found.push("an obsolete source route in the From address");
                }
            }
            // An mbox separator ("From sender@example.org Mon Jan  1 ...") is not this: only
            // a line that is the bare word.
            _ if line.trim().eq_ignore_ascii_case("from") => found.push("a From line without its colon"),
            _ => {}
        }
    }
    if fields > 1 {
        found.push("more than one From field");
    }
    found.dedup();
    found
}

/// `<@relay.example,@other.example:user@host>`: RFC 5322's obsolete route before the address.
fn route_in(value: &str) -> bool {
    value
        .split('<')
        .skip(1)
        .any(|inside| inside.trim_start().starts_with('@') && inside.split('>').next().is_some_and(|a| a.contains(':')))
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let mut found = ambiguities(crate::raw_header::header_block(ctx.message));
    let mailboxes = ctx.message.from().map_or(0, |a| a.iter().count());
    if mailboxes > 1 {
        found.push("several mailboxes in one From field");
    }
    if !found.is_empty() {
        ctx.add(AMBIGUOUS_FROM, 0, format!("the From field can be read two ways: {}", found.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    const REST: &str = "Subject: Fwd:\r\nTo: <jane@corp.example>\r\n\r\nhello\r\n";

    #[test]
    fn the_composition_kills_from_fields_are_spoof() {
        let two = run(&format!("From: <any@attack.example>\r\nFrom: <admin@legitimate.example>\r\n{REST}"));
        assert_eq!(two.len(), 1, "{two:?}");
        assert!(two[0].evidence.contains("more than one From field"), "{two:?}");
        assert_eq!(crate::verdict::decide(&two), proto::Disposition::Spoof);
        let spaced = run(&format!("From: <any@attack.example>\r\nFrom : <admin@legitimate.example>\r\n{REST}"));
        assert!(spaced[0].evidence.contains("white space before the From field's colon"), "{spaced:?}");
        let bare = run(&format!("From\r\nFrom: <admin@legitimate.example>\r\n{REST}"));
        assert!(bare[0].evidence.contains("a From line without its colon"), "{bare:?}");
        let several = run(&format!(
            "From: <any@attack.example>, <any2@attack.example>\r\nSender: <admin@legitimate.example>\r\n{REST}"
        ));
        assert!(several[0].evidence.contains("several mailboxes in one From field"), "{several:?}");
        let routed = run(&format!("From: <@legitimate.example,@corp.example:ceo@attack.example>\r\n{REST}"));
        assert!(routed[0].evidence.contains("source route"), "{routed:?}");
    }

    #[test]
    fn ordinary_from_fields_are_not() {
        for from in [
            "From: Jane Doe <jane@corp.example>",
            "From: \"Doe, Jane\" <jane@corp.example>",
            "From: jane@corp.example (Jane: at home)",
            "FROM: <jane@corp.example>",
            "From: =?UTF-8?Q?Jos=C3=A9?= <jose@corp.example>",
        ] {
            assert!(run(&format!("{from}\r\n{REST}")).is_empty(), "{from}");
        }
        // An mbox separator before the header, a folded From, a body line "From".
        assert!(ambiguities(b"From sender@example.org Mon Jan  1 00:00:00 2024\r\nFrom: <a@b.example>\r\n").is_empty());
        assert!(run(&format!("From: Jane\r\n Doe <jane@corp.example>\r\n{REST}")).is_empty());
        assert!(run("From: <a@b.example>\r\nSubject: x\r\n\r\nFrom\r\nFrom: <c@d.example>\r\n").is_empty());
    }
}
