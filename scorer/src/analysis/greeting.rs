//! A letter that greets its reader by e-mail address ("Dear jane@corp.example,", "Hello
//! users@lists.example.org"): a mass mailing that knows nothing of the reader but the
//! address it sends to. People write a name or nothing; an organization's own mail
//! greeting by address comes authenticated (DKIM or DMARC vouches for its From) or from the
//! tenant's own domains, and is not this. Greeting and address stand on one line: "Hello,"
//! above "bob@corp.example shared a file with you" is a notification's sentence, not a
//! greeting. The greeting words are `scorer/data/greetings.tsv`.

use super::ScoreContext;
use std::sync::LazyLock;

/// A verdict (SPAM): the opening of the text greets the reader by address, and nothing
/// authenticates the From.
pub const GREETING_BY_ADDRESS: &str = "greeting_by_address";

/// A greeting is looked for in this many characters at the start of the rendered text (a
/// newsletter's hidden preheader may come first).
const OPENING_CHARS: usize = 1000;

/// A greeting word, perhaps a generic word for the reader ("customer", "cliente"), then at
/// most punctuation and space on the same line, then an address.
static GREETING: LazyLock<regex::Regex> = LazyLock::new(|| {
    let words = |table: &str| -> String {
        let words: Vec<String> = super::table::rows(table)
            .filter_map(|c| c.get(1).map(|w| regex::escape(w).replace(' ', r"[ \t]+")))
            .collect();
        words.join("|")
    };
    regex::Regex::new(&format!(
        r"(?i)\b(?:{})(?:[ \t]+(?:{})\b)?[ \t,:]{{1,4}}<?([a-z0-9._%+-]{{1,64}}@[a-z0-9-]{{1,63}}(?:\.[a-z0-9-]{{1,63}})+)",
        words(include_str!("../../data/greetings.tsv")),
        words(include_str!("../../data/greeting_addressees.tsv")),
    ))
    .expect("the greeting pattern compiles")
});

/// The greeting and the address it names, when `text` opens with one.
pub fn greeting_in(text: &str) -> Option<(&str, &str)> {
    let end = text.char_indices().nth(OPENING_CHARS).map_or(text.len(), |(i, _)| i);
    let found = GREETING.captures(&text[..end])?;
    Some((found.get(0)?.as_str(), found.get(1)?.as_str()))
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let bodies = ctx.body_texts();
    let Some(Some(text)) = bodies.first() else { return };
    let Some((greeting, _)) = greeting_in(text) else { return };
    if ctx.from_domain().is_some_and(|d| ctx.vouched_for(&d) || ctx.own_or_trusted(&d)) {
        return;
    }
    let shown: String = greeting.split_whitespace().collect::<Vec<_>>().join(" ");
    ctx.add(
        GREETING_BY_ADDRESS,
        0,
        format!("the text greets its reader by address: {shown:?}, and nothing authenticates the From"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn a_greeting_by_address_is_spam() {
        let d = run(
            "From: Support <help@x.example>\r\nTo: jane@corp.example\r\nSubject: Account\r\n\r\nDear jane@corp.example,\r\nYour mailbox is almost full.\r\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, GREETING_BY_ADDRESS);
        assert!(d[0].evidence.contains("\"Dear jane@corp.example\""), "{d:?}");
        assert_eq!(crate::verdict::decide(&d), proto::Disposition::Spam);
        let html = "From: a@x.example\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>&lt;users@lists.example.org&gt;</b>,</p><p>Offer inside</p>\r\n";
        assert_eq!(run(html).len(), 1, "in HTML, the address in angle brackets");
        assert_eq!(
            greeting_in("Estimado cliente, jane@corp.example").map(|(_, address)| address),
            Some("jane@corp.example"),
            "a generic word for the reader between greeting and address"
        );
        assert!(greeting_in("Dear valued  customer: jane@corp.example").is_some());
        assert!(greeting_in("账户安全警告 尊敬的 jane@corp.example ：").is_some());
        assert!(greeting_in("Dear Jane jane@corp.example").is_none(), "a name is no generic word");
        assert!(greeting_in("Hello clients jane@corp.example").is_none(), "whole words only");
        assert_eq!(
            greeting_in("Olá prezado@cliente.example.com.br"),
            Some(("Olá prezado@cliente.example.com.br", "prezado@cliente.example.com.br"))
        );
    }

    #[test]
    fn a_name_an_address_elsewhere_or_a_greeting_far_down_is_not() {
        assert!(
            run("From: a@x.example\r\n\r\nDear Jane,\r\nwrite to help@x.example if you need anything.\r\n").is_empty()
        );
        assert!(run("From: a@x.example\r\n\r\nHi all, the list moved to users@lists.example.org.\r\n").is_empty());
        assert!(greeting_in("children's hiking club: hi").is_none());
        let far = format!("{}\r\nHello jane@corp.example", "news ".repeat(300));
        assert!(greeting_in(&far).is_none(), "only the opening of the text is read");
        assert!(greeting_in("Thanks! Chi@corp.example").is_none(), "a word inside another is no greeting");
        assert!(
            greeting_in("Hello,\r\nbob@corp.example shared a file with you").is_none(),
            "a notification's sentence below a greeting"
        );
    }

    #[test]
    fn an_organization_s_authenticated_mail_may_greet_by_address() {
        let raw = "From: Team <team@saas.example>\r\n\r\nHi jane@corp.example, your trial ends on Friday.\r\n";
        assert_eq!(run(raw).len(), 1, "unauthenticated: the verdict");
        let signed = crate::analysis::table::detections_signed(raw, "mail.saas.example", check);
        assert!(signed.is_empty(), "DKIM of the From's organization vouches: {signed:?}");
        // The tenant's own systems (journal copies of internal mail are seldom signed).
        let own = crate::analysis::table::detections_for_tenant(raw, "own_domains = [\"saas.example\"]\n", check);
        assert!(own.is_empty(), "an own domain: {own:?}");
    }
}
