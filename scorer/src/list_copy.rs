//! What a mailing list adds to the copies it resends, so that the token classifier reads
//! what the sender wrote and not the list's furniture.
//!
//! A list (Mailman, Sympa, Google Groups...) resends a post with a subject tag
//! (`[Osst-users] ...`) and a footer (an underscore rule, "<name> mailing list", the
//! list's address and its options page), often as a MIME part of its own. Both are the
//! same on every copy of every post to that list, spam or not; a classifier that learned
//! them would learn which lists a corpus came from (a discussion list's footer as "ham"),
//! and a spam run through any list would then read as that list's discussion. RFC 2919's
//! `List-Id` and RFC 2369's `List-Post` say a message is such a copy and name the list.

use mail_parser::Message;

/// A footer is only looked for in this many bytes at the end of a text.
const FOOTER_WINDOW: usize = 1200;
/// A rule line of at least this many underscores opens a list footer (Mailman's is 47).
const MIN_RULE: usize = 20;
/// Phrases that list footers carry (besides the list's own names).
const FOOTER_PHRASES: &[&str] = &[
    "mailing list",
    "to unsubscribe",
    "unsubscribe from this group",
    "you received this message because you are subscribed to",
    "listinfo",
];

/// The names a list copy carries: the List-Id's label and domain, the List-Post address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCopy {
    /// The List-Id's identifier, lower-cased: `osst-users.lists.sourceforge.net`.
    id: Option<String>,
    /// The posting address from List-Post, lower-cased: `osst-users@lists.sourceforge.net`.
    post: Option<String>,
}

impl ListCopy {
    /// The List-Id's identifier, lower-cased (`osst-users.lists.sourceforge.net`).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The list a message was resent by, when it carries List-Id or List-Post.
    pub fn of(message: &Message<'_>) -> Option<ListCopy> {
        let raw = |name: &str| {
            message
                .headers()
                .iter()
                .find(|h| h.name().eq_ignore_ascii_case(name))
                .and_then(|h| crate::raw_header::raw_value(message.raw_message(), h).map(String::from_utf8_lossy))
        };
        let id = raw("List-Id").and_then(|v| {
            let inner = v.rsplit_once('<').and_then(|(_, rest)| rest.split_once('>')).map_or(v.as_ref(), |(id, _)| id);
            let inner = inner.trim().to_ascii_lowercase();
            (!inner.is_empty() && !inner.contains(char::is_whitespace)).then_some(inner)
        });
        let post = raw("List-Post").and_then(|v| {
            let lower = v.to_ascii_lowercase();
            let start = lower.find("mailto:")? + "mailto:".len();
            let address: String =
                lower[start..].chars().take_while(|c| !matches!(c, '>' | '?' | ',' | ' ' | '\r' | '\n')).collect();
            address.contains('@').then_some(address)
        });
        (id.is_some() || post.is_some()).then_some(ListCopy { id, post })
    }

    /// The names a subject tag or a footer may use for this list: the List-Id's first
    /// label (`osst-users`) and the posting address's local part.
    fn names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        if let Some(id) = &self.id
            && let Some(label) = id.split('.').next()
            && label.len() >= 2
        {
            names.push(label);
        }
        if let Some(post) = &self.post
            && let Some((local, _)) = post.split_once('@')
            && local.len() >= 2
        {
            names.push(local);
        }
        names
    }

    /// The subject without the list's tag: `Re: [Osst-users] Offer` gives `Re:  Offer`.
    /// A bracketed tag is the list's when it names the list (case aside); other brackets
    /// stay.
    pub fn subject_without_tag<'a>(&self, subject: &'a str) -> std::borrow::Cow<'a, str> {
        let names = self.names();
        let mut rest = subject;
        let mut out = String::new();
        while let Some(open) = rest.find('[') {
            let Some(close) = rest[open..].find(']').map(|c| open + c) else { break };
            let tag = rest[open + 1..close].trim();
            if names.iter().any(|n| tag.eq_ignore_ascii_case(n)) {
                out.push_str(&rest[..open]);
                rest = &rest[close + 1..];
                return std::borrow::Cow::Owned(out + rest);
            }
            out.push_str(&rest[..=close]);
            rest = &rest[close + 1..];
        }
        std::borrow::Cow::Borrowed(subject)
    }

    /// The text without the list's footer: from the last underscore rule in the text's
    /// final [`FOOTER_WINDOW`] bytes, when what follows it names the list or reads as a
    /// footer. A text that is only a footer (a MIME part the list added) becomes empty.
    pub fn text_without_footer<'a>(&self, text: &'a str) -> &'a str {
        let mut window_start = text.len().saturating_sub(FOOTER_WINDOW);
        while !text.is_char_boundary(window_start) {
            window_start -= 1;
        }
        let names = self.names();
        let mut cut = None;
        let mut offset = window_start;
        for line in text[window_start..].split_inclusive('\n') {
            let trimmed = line.trim();
            if trimmed.len() >= MIN_RULE && trimmed.bytes().all(|b| b == b'_') {
                cut = Some(offset);
            }
            offset += line.len();
        }
        let Some(cut) = cut else { return text };
        let footer = text[cut..].to_lowercase();
        let names_list = names.iter().any(|n| footer.contains(n))
            || self.post.as_deref().is_some_and(|p| footer.contains(p))
            || self.id.as_deref().is_some_and(|id| footer.contains(id));
        if names_list || FOOTER_PHRASES.iter().any(|p| footer.contains(p)) { &text[..cut] } else { text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn copy_of(raw: &str) -> Option<ListCopy> {
        let message = MessageParser::default().parse(raw.as_bytes()).expect("parses");
        ListCopy::of(&message)
    }

    const MAILMAN2: &str = "From: someone@example.org\r\nSubject: [Osst-users] New Order Enquiry\r\n\
List-Id: <osst-users.lists.sourceforge.net>\r\nList-Post: <mailto:osst-users@lists.sourceforge.net>\r\n\r\nhi\r\n";

    #[test]
    fn a_list_copy_is_known_by_its_list_headers() {
        let list = copy_of(MAILMAN2).expect("a list copy");
        assert_eq!(list.id.as_deref(), Some("osst-users.lists.sourceforge.net"));
        assert_eq!(list.post.as_deref(), Some("osst-users@lists.sourceforge.net"));
        let described =
            copy_of("From: a@b.example\r\nList-Id: USRP-related discussion <usrp-users.lists.ettus.com>\r\n\r\nx\r\n")
                .expect("a list copy");
        assert_eq!(described.id.as_deref(), Some("usrp-users.lists.ettus.com"));
        assert_eq!(copy_of("From: a@b.example\r\nSubject: [Osst-users] hi\r\n\r\nx\r\n"), None);
    }

    #[test]
    fn the_subject_tag_goes_and_other_brackets_stay() {
        let list = copy_of(MAILMAN2).expect("a list copy");
        assert_eq!(list.subject_without_tag("[Osst-users] New Order Enquiry"), " New Order Enquiry");
        assert_eq!(list.subject_without_tag("Re: [OSST-USERS] [URGENT] pay"), "Re:  [URGENT] pay");
        assert_eq!(list.subject_without_tag("[URGENT] invoice [PDF]"), "[URGENT] invoice [PDF]");
        assert_eq!(list.subject_without_tag("[unclosed tag"), "[unclosed tag");
    }

    #[test]
    fn mailman_footers_go_whether_a_part_of_their_own_or_appended() {
        let list = copy_of(MAILMAN2).expect("a list copy");
        let part = "_______________________________________________\nOsst-users mailing list\n\
Osst-users@lists.sourceforge.net\nhttps://lists.sourceforge.net/lists/listinfo/osst-users\n";
        assert_eq!(list.text_without_footer(part), "");
        let appended = format!("Kindly send your best offer.\n\n{part}");
        assert_eq!(list.text_without_footer(&appended), "Kindly send your best offer.\n\n");
        let mailman3 = "Thanks!\n_______________________________________________\n\
USRP-users mailing list -- usrp-users@lists.ettus.com\nTo unsubscribe send an email to usrp-users-leave@lists.ettus.com\n";
        assert_eq!(list.text_without_footer(mailman3), "Thanks!\n");
    }

    #[test]
    fn a_rule_the_sender_wrote_stays() {
        let list = copy_of(MAILMAN2).expect("a list copy");
        let signature = "See the table:\n______________________\n| a | b |\nregards, Ann\n";
        assert_eq!(list.text_without_footer(signature), signature);
        let early = format!("{}\n{}\nmailing list\n", "_".repeat(30), "long text. ".repeat(200));
        assert_eq!(list.text_without_footer(&early), early, "a rule far from the end is not a footer");
    }
}
