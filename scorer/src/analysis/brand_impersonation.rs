//! Brand impersonation: the display name or the subject claims a commonly impersonated
//! brand (the table `scorer/data/brands.tsv`, extended or overridden by the tenant's
//! policy) while the From domain and every link domain belong to none of that brand's own
//! domains. Evidence for the learned combination: a retailer's newsletter that names a
//! brand is not this, since its links and From are its own or the brand's.
//!
//! `brand_link_spoof`: a link's visible text shows one of a brand's own domains
//! (`www.paypal.com`) while the link goes to a host that is none of that brand's: the
//! oldest trick of credential phishing. A brand's own mail, links to the sender's own site
//! and links through click trackers and mail gateways' rewriters
//! (`scorer/data/link_rewriters.tsv`) are not counted. SUSPICIOUS, as a link that shows a domain and goes to a bare IP
//! address is ([`super::links::LINK_IP_DECEPTIVE`]).
//!
//! `brand_display_name`: the display name is the brand and nothing else a person or a
//! partner would add (`scorer/data/brand_sender_words.tsv`), From and the links none of its.
//! `brand_sender_ip_link`: From is the brand's own domain (not a mailbox provider's) and a
//! link goes to a bare public IP address. `brand_sender_foreign_link`: From is the brand's
//! own domain, unauthenticated, no link goes to the brand and one goes to a host that is no
//! brand's, tracker's, sender's or mailing list's. All three SUSPICIOUS.

use super::ScoreContext;
use super::domain::{domain_of, organizational_domain};
use std::borrow::Cow;
use std::sync::LazyLock;

pub const BRAND_IMPERSONATION: &str = "brand_impersonation";
pub const BRAND_LINK_SPOOF: &str = "brand_link_spoof";
/// The display name is the brand itself (its name and words a brand's sender name adds,
/// `scorer/data/brand_sender_words.tsv`) and neither From nor any link is the brand's.
pub const BRAND_DISPLAY_NAME: &str = "brand_display_name";

/// From is a brand's own domain, or a government's (`scorer/data/government_domains.tsv`),
/// yet a link goes to a bare public IP address: the brand's or the agency's own mail never
/// does, a forged From does (offline, or where the domain's DMARC is not enforced, nothing
/// else tells the forgery).
pub const BRAND_SENDER_IP_LINK: &str = "brand_sender_ip_link";

/// From is a brand's own domain (not a mailbox provider's) and nothing authenticates it,
/// no link goes to the brand, and a link goes to a host that is no brand's, no click
/// tracker's and not the sender's: a forged brand sender sending its reader elsewhere.
pub const BRAND_SENDER_FOREIGN_LINK: &str = "brand_sender_foreign_link";

/// The display name or subject writes a brand's name with lookalike characters (`BIueCross`
/// with a capital I, `C0STC0` with zeros) and From is not the brand's: a sender hiding the
/// brand's name from filters while showing it to the reader. No one writes their own or a
/// partner's name that way.
pub const BRAND_MASKED_NAME: &str = "brand_masked_name";

/// A message that claims a brand, and a host of its (the From domain, where a link sends
/// the reader) dressed up as the brand's: the brand's domain name as a word of the host
/// beside others (`afip.gob.ar.com`, `amazon-wqbz.shop`, `paypay-secure.example`) while the
/// host is none of the brand's.
pub const BRAND_LOOKALIKE_HOST: &str = "brand_lookalike_host";

/// Evidence, no verdict alone and no feature of the combination: the body's opening line
/// (the heading a template puts above the message: "Tractor Supply Co. | Your Mesh Trailer
/// Gift") names a brand whose domains neither the From nor any link is, and neither the
/// display name nor the subject claims one. A shop's or a magazine's newsletter names
/// brands in its heading too; [`super::lures::BRAND_GIFT_LURE`] reads it beside the
/// survey-reward bait.
pub const BRAND_HEADING: &str = "brand_heading";

/// The most of the opening line read for a brand's name.
const HEADING_CHARS: usize = 120;

/// Words a brand's own sender name adds to the brand's name, lower case.
static SENDER_WORDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    super::table::rows(include_str!("../../data/brand_sender_words.tsv"))
        .filter_map(|cols| cols.first().map(|w| w.to_lowercase()))
        .collect()
});

/// Whether the display name presents the sender as the brand: with the brand's names taken
/// out, nothing but sender words, numbers and punctuation is left.
fn names_only_the_brand(display: &str, brand: &Brand) -> bool {
    let mut rest = display.to_owned();
    // Longer names first: "microsoft 365" before "microsoft".
    let mut names: Vec<&String> = brand.names.iter().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        rest = rest.replace(name.as_str(), " ");
    }
    rest.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
        .all(|w| SENDER_WORDS.iter().any(|s| s == w))
}

/// A brand, the names it goes by (lower case) and its own domains (lower case).
#[derive(Debug, Clone, PartialEq)]
pub struct Brand {
    pub name: String,
    pub names: Vec<String>,
    pub domains: Vec<String>,
}

/// Parses the table: `brand<TAB>names<TAB>domains`, `#` comments.
pub fn parse_table(text: &str) -> Vec<Brand> {
    super::table::rows(text)
        .filter_map(|cols| {
            let list = |i: usize| -> Vec<String> {
                cols.get(i)
                    .unwrap_or(&"")
                    .split(',')
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            let (names, domains) = (list(1), list(2));
            (!names.is_empty()).then(|| Brand { name: cols[0].to_owned(), names, domains })
        })
        .collect()
}

/// The shipped table.
pub static BRANDS: LazyLock<Vec<Brand>> = LazyLock::new(|| parse_table(include_str!("../../data/brands.tsv")));

/// Every name of the shipped table in one automaton, each pattern with its brand's place in
/// the table: a text is read once for all of them instead of once for each name.
static BRAND_NAMES: LazyLock<(aho_corasick::AhoCorasick, Vec<usize>)> = LazyLock::new(|| {
    let (names, owners): (Vec<&str>, Vec<usize>) =
        BRANDS.iter().enumerate().flat_map(|(i, brand)| brand.names.iter().map(move |name| (name.as_str(), i))).unzip();
    (aho_corasick::AhoCorasick::new(names).expect("the brand names build an automaton"), owners)
});

/// The brands whose names occur in any of `texts` (lower case), in the table's order: those
/// a claim can be about. Every brand when the table is not the shipped one (a tenant's brands
/// added), which the automaton does not cover.
fn brands_named_in<'b>(brands: &'b [Brand], texts: &[&str]) -> Vec<&'b Brand> {
    if !std::ptr::eq(brands, BRANDS.as_slice()) {
        return brands.iter().collect();
    }
    let (automaton, owners) = &*BRAND_NAMES;
    let mut named = vec![false; brands.len()];
    for text in texts {
        for found in automaton.find_overlapping_iter(*text) {
            named[owners[found.pattern().as_usize()]] = true;
        }
    }
    brands.iter().zip(named).filter(|(_, named)| *named).map(|(brand, _)| brand).collect()
}

/// The writing systems a word boundary can fall between without a space: Japanese and
/// Chinese run words together, and a change of script is where one ends (`楽天カード|から`,
/// `Amazon|お客様`), while `ライオン` does not hold the word `イオン`.
#[derive(PartialEq)]
enum Script {
    Hiragana,
    Katakana,
    Han,
    Hangul,
    Other,
}

fn script(c: char) -> Script {
    match c {
        '\u{3040}'..='\u{309f}' => Script::Hiragana,
        '\u{30a0}'..='\u{30ff}' | '\u{31f0}'..='\u{31ff}' | '\u{ff66}'..='\u{ff9f}' => Script::Katakana,
        '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' => Script::Han,
        '\u{ac00}'..='\u{d7af}' => Script::Hangul,
        _ => Script::Other,
    }
}

/// `text` with the letters that spammers swap for lookalikes put back, so that a brand's
/// name written `C0STC0`, `BIueCross` or `PayPa1` is read as the name: inside a word of
/// letters, a capital `I` before a lower-case letter is an `l` (`PoIicy`), and a `0` or a
/// `1` next to letters on both sides, or ending a word of letters, is an `o` or an `l`
/// (`Micr0soft`, `C0STC0`). Digits among digits (`$100`, `Win10`, `H2O`) stay as they are.
pub(crate) fn unmask_lookalikes(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| matches!(b, b'I' | b'0' | b'1')) {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let letter = |i: Option<usize>| i.and_then(|i| chars.get(i)).is_some_and(|c| c.is_alphabetic());
    let out: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let (before, after) = (i.checked_sub(1), i + 1);
            let at_word_end = chars.get(after).is_none_or(|c| !c.is_alphanumeric());
            let letters_before = i >= 2 && letter(Some(i - 1)) && letter(Some(i - 2));
            match c {
                'I' if letter(before) && chars.get(after).is_some_and(|c| c.is_lowercase()) => 'l',
                '0' | '1' if letter(before) && (letter(Some(after)) || (at_word_end && letters_before)) => {
                    // In the case of the letter before it: `C0STC0`, `Micr0soft`.
                    let upper = before.and_then(|i| chars.get(i)).is_some_and(|c| c.is_uppercase());
                    match (c, upper) {
                        ('0', true) => 'O',
                        ('0', false) => 'o',
                        (_, true) => 'L',
                        (_, false) => 'l',
                    }
                }
                _ => c,
            }
        })
        .collect();
    Cow::Owned(out)
}

/// Whether `name` occurs in `text` (lower case) as whole words: next to a character that is
/// no letter or digit, or one of another script.
fn mentions(text: &str, name: &str) -> bool {
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().next_back()) else { return false };
    let apart = |neighbour: Option<char>, edge: char| {
        neighbour.is_none_or(|c| !c.is_alphanumeric() || script(c) != script(edge))
    };
    text.match_indices(name)
        .any(|(i, _)| apart(text[..i].chars().next_back(), first) && apart(text[i + name.len()..].chars().next(), last))
}

/// Whether `domain` is one of the brand's own (or a subdomain of one).
pub(crate) fn owned(brand: &Brand, domain: &str) -> bool {
    let organization = organizational_domain(domain);
    brand.domains.iter().any(|d| super::domain::is_within(domain, d) || organizational_domain(d) == organization)
}

/// The shipped table with the tenant's brands added (a tenant's entry replaces the shipped
/// one of the same name); the shipped table itself, not a copy, when the tenant adds none.
pub(crate) fn brands_for(ctx: &ScoreContext<'_>) -> Cow<'static, [Brand]> {
    let tenant_brands = match ctx.facts.policy.as_ref().map(|p| &p.policy.brands) {
        Some(brands) if !brands.is_empty() => brands,
        _ => return Cow::Borrowed(BRANDS.as_slice()),
    };
    let table = BRANDS.iter().filter(|b| !tenant_brands.iter().any(|t| t.name.eq_ignore_ascii_case(&b.name)));
    Cow::Owned(
        table
            .cloned()
            .chain(tenant_brands.iter().map(|t| Brand {
                name: t.name.clone(),
                names: t.names.iter().map(|n| n.to_lowercase()).collect(),
                domains: t.domains.iter().map(|d| d.to_lowercase()).collect(),
            }))
            .collect(),
    )
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let brands = brands_for(ctx);
    claimed_from_elsewhere(ctx, &brands);
    heading_claimed_from_elsewhere(ctx, &brands);
    link_text_spoofs(ctx, &brands);
    brand_sender_links_to_an_address(ctx, &brands);
    brand_sender_links_elsewhere(ctx, &brands);
}

/// [`BRAND_HEADING`]: the first line of the first body text that holds a letter or digit,
/// when it names a brand the From and the links are none of.
fn heading_claimed_from_elsewhere(ctx: &mut ScoreContext<'_>, brands: &[Brand]) {
    if ctx.fired(BRAND_IMPERSONATION) {
        return;
    }
    let texts = ctx.body_texts();
    let Some(heading) = texts
        .iter()
        .flatten()
        .next()
        .and_then(|text| text.lines().map(str::trim).find(|l| l.chars().any(char::is_alphanumeric)))
    else {
        return;
    };
    let heading: String = heading.chars().take(HEADING_CHARS).collect();
    let lower = unmask_lookalikes(&heading).to_lowercase();
    let from_domain = ctx.from_domain();
    let links = ctx.link_hosts();
    let claimed = brands_named_in(brands, &[&lower]).into_iter().find_map(|brand| {
        let name = brand.names.iter().find(|n| mentions(&lower, n))?;
        let from_is_brands = from_domain.as_deref().is_some_and(|d| owned(brand, d) && !is_mailbox_provider(d));
        (!from_is_brands && !links.iter().any(|h| owned(brand, h))).then_some((brand, name))
    });
    if let Some((brand, name)) = claimed {
        let detail = format!(
            "the body's opening line {heading:?} names {} ({name:?}) but From is {}, and no link goes to the brand",
            brand.name,
            from_domain.as_deref().unwrap_or("(none)")
        );
        ctx.add(BRAND_HEADING, 0, detail);
    }
}

/// The hosts a mailing list names in its List-* headers (its archive, its options page,
/// the List-Id's domain): the footer a list adds links there, not the sender.
fn list_hosts(ctx: &ScoreContext<'_>) -> Vec<String> {
    let mut hosts = Vec::new();
    for (_, value) in ctx.raw_headers_where(|n| n.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("list-"))) {
        hosts.extend(super::links::hosts_in(&value));
    }
    hosts.extend(crate::list_copy::ListCopy::of(ctx.message).and_then(|list| list.id().map(str::to_owned)));
    hosts
}

fn brand_sender_links_elsewhere(ctx: &mut ScoreContext<'_>, brands: &[Brand]) {
    let Some((from, brand)) = brand_sender(ctx, brands) else { return };
    if ctx.vouched_for(&from) {
        return;
    }
    let hosts = ctx.linked_hosts().to_vec();
    // A forged brand sender sends its reader to a host dressed up as the brand
    // (`paypal.server4566.com`) beside the brand's own links (its logo, its privacy page).
    if let Some((host, word)) = hosts.iter().find_map(|h| dressed_as(brand, h).map(|w| (h, w))) {
        let detail = format!(
            "From is {from}, {}'s own domain, unauthenticated, and a link goes to {host}, which wears its name ({word:?}) without being one of the brand's domains",
            brand.name
        );
        ctx.add(BRAND_LOOKALIKE_HOST, 0, detail);
        return;
    }
    // Or to a page on someone else's host filed under the brand's name
    // (`pautacreativa.com.mx/signin.ebay.com/...`, `mjbconsulting.com/~maxim/.SignIn/eBay/`).
    let list = list_hosts(ctx);
    let dressed_path = ctx.linked_urls().iter().find_map(|url| {
        let host = super::links::host_of(url)?;
        let foreign = host.contains('.')
            && !brands.iter().any(|b| owned(b, &host))
            && rewriter_of(&host).is_none()
            && !super::domain::aligned(&from, &host)
            && !list.iter().any(|l| super::domain::aligned(l, &host));
        foreign.then(|| path_wears(brand, url).map(|word| (url.clone(), word))).flatten()
    });
    if let Some((url, word)) = dressed_path {
        let url = crate::classifier::clip(&url, 120);
        let detail = format!(
            "From is {from}, {}'s own domain, unauthenticated, and a link goes to {url}, a page filed under its name ({word:?}) on a host that is none of the brand's",
            brand.name
        );
        ctx.add(BRAND_LOOKALIKE_HOST, 0, detail);
        return;
    }
    if hosts.iter().any(|h| owned(brand, h)) {
        return;
    }
    let elsewhere = hosts.iter().find(|h| {
        h.contains('.')
            && h.parse::<std::net::IpAddr>().is_err()
            && !brands.iter().any(|b| owned(b, h))
            && rewriter_of(h).is_none()
            && !super::domain::aligned(&from, h)
            && !list.iter().any(|l| super::domain::aligned(l, h))
    });
    if let Some(host) = elsewhere {
        let detail = format!(
            "From is {from}, {}'s own domain, unauthenticated; no link goes to the brand, one goes to {host}",
            brand.name
        );
        ctx.add(BRAND_SENDER_FOREIGN_LINK, 0, detail);
    }
}

/// Domains where anyone can get a mailbox (`scorer/data/mailbox_providers.tsv`).
static MAILBOX_PROVIDERS: LazyLock<Vec<(String, String)>> =
    LazyLock::new(|| super::table::host_rows(include_str!("../../data/mailbox_providers.tsv")));

/// The brand's domain name (`afip` of `afip.gob.ar`; `paypay` of `paypay-bank.co.jp`) when
/// `host` wears it as a word of its own beside other words: in a subdomain
/// (`afip.gob.com`, `yodobashi-shop.evil.example`) or hyphenated into the registered name
/// (`amazon-wqbz.shop`). A registered name that is the brand's name itself under another
/// suffix (`mastercard.us`, `wetransfer.fr`) is most likely the brand's own, and a name
/// inside a longer word (`pineapple`, `purchase`) is no claim: neither counts. Nor does a
/// brand's own host or a click tracker's.
fn dressed_as(brand: &Brand, host: &str) -> Option<String> {
    if BRANDS.iter().any(|b| owned(b, host)) || owned(brand, host) || rewriter_of(host).is_some() {
        return None;
    }
    let registered = organizational_domain(host);
    let registered_name = registered.split('.').next().unwrap_or("");
    let subdomain = host.strip_suffix(registered).unwrap_or("");
    let words: Vec<&str> =
        subdomain.split(['.', '-']).chain(registered_name.split('-')).filter(|w| !w.is_empty()).collect();
    brand
        .domains
        .iter()
        .filter_map(|d| organizational_domain(d).split('.').next())
        .filter(|name| name.len() >= 3 && *name != registered_name)
        .find(|name| {
            // A hyphenated name ("paypay-bank") is worn by its first word.
            let first = name.split('-').next().unwrap_or(name);
            first.len() >= 3 && words.contains(&first)
        })
        .map(str::to_owned)
}

/// The brand's domain or name when a URL's path (not its query: a click tracker's target)
/// wears it: one of the brand's domains as a path segment or the end of one
/// (`/signin.ebay.com/`), or one of its one-word names (four letters or more) as a whole
/// segment (`/eBay/`).
fn path_wears(brand: &Brand, url: &str) -> Option<String> {
    let path = super::links::path_of(url).to_ascii_lowercase();
    path.split('/').filter(|segment| !segment.is_empty()).find_map(|segment| {
        let domain = brand.domains.iter().find(|d| d.contains('.') && super::domain::is_within(segment, d));
        let name = || {
            brand
                .names
                .iter()
                .find(|n| n.len() >= 4 && n.chars().all(|c| c.is_ascii_alphanumeric()) && segment == n.as_str())
        };
        domain.or_else(name).cloned()
    })
}

pub(super) fn is_mailbox_provider(domain: &str) -> bool {
    super::table::host_entry(&MAILBOX_PROVIDERS, domain).is_some()
}

/// The From domain and the brand it belongs to, unless it is a mailbox provider's (a
/// person's address, not the brand's mail).
fn brand_sender<'b>(ctx: &ScoreContext<'_>, brands: &'b [Brand]) -> Option<(String, &'b Brand)> {
    let from = ctx.from_domain()?;
    if is_mailbox_provider(&from) {
        return None;
    }
    let brand = brands.iter().find(|b| !b.domains.is_empty() && owned(b, &from))?;
    Some((from, brand))
}

fn brand_sender_links_to_an_address(ctx: &mut ScoreContext<'_>, brands: &[Brand]) {
    let sender = match brand_sender(ctx, brands) {
        Some((from, brand)) => Some((from, format!("{}'s own domain", brand.name))),
        None => ctx
            .from_domain()
            .filter(|d| super::links::is_government(d))
            .map(|d| (d, "a government's domain".to_owned())),
    };
    let Some((from, whose)) = sender else { return };
    let address = ctx
        .link_hosts()
        .iter()
        .filter_map(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok())
        .find(|ip| !crate::auth::is_internal(*ip));
    if let Some(address) = address {
        ctx.add(
            BRAND_SENDER_IP_LINK,
            0,
            format!("From is {from}, {whose}, yet a link goes to the bare address {address}"),
        );
    }
}

/// Email service providers' click trackers and mail gateways' link rewriters
/// (`scorer/data/link_rewriters.tsv`): (host, who), lower case.
static LINK_REWRITERS: LazyLock<Vec<(String, String)>> =
    LazyLock::new(|| super::table::host_rows(include_str!("../../data/link_rewriters.tsv")));

/// Who rewrote a link to `host`, when it is a click tracker or a gateway's rewriter.
pub(super) fn rewriter_of(host: &str) -> Option<&'static str> {
    super::table::host_entry(&LINK_REWRITERS, host)
}

/// A link's text shows a brand's own domain; the link goes elsewhere.
/// Not a spoof: the brand's own mail (From is the brand's, and DKIM or DMARC says so), a link to the sender's own site (a newsletter's
/// "find us on facebook.com" through its own redirector), to another brand's own domain (a
/// link to google.com that shows zoom.us is odd, but it sends nobody to a phishing page), or
/// through a click tracker or a mail gateway's link rewriter (`link_rewriters.tsv`).
fn link_text_spoofs(ctx: &mut ScoreContext<'_>, brands: &[Brand]) {
    let from_domain = ctx.from_domain();
    for (href, text) in ctx.anchors().iter() {
        let (Some(shown), Some(host)) = (super::links::domain_in_text(text), super::links::host_of(href)) else {
            continue;
        };
        let (shown_name, host_name) = (registered_name(&shown), registered_name(&host));
        let Some(brand) = brands.iter().find(|b| owned(b, &shown) || named_elsewhere(b, shown_name)) else {
            continue;
        };
        if brands.iter().any(|b| owned(b, &host) || named_elsewhere(b, host_name))
            || from_domain.as_deref().is_some_and(|f| super::domain::aligned(f, &host))
            || from_domain.as_deref().is_some_and(|f| owned(brand, f) && ctx.vouched_for(f))
            || rewriter_of(&host).is_some()
        {
            continue;
        }
        ctx.add(
            BRAND_LINK_SPOOF,
            0,
            format!("a link shows {shown} ({}) but goes to {host}, none of the brand's domains", brand.name),
        );
        return;
    }
}

/// The name a domain is registered under, without its suffix (`mastercard` of
/// `www.mastercard.co.jp`).
fn registered_name(domain: &str) -> &str {
    organizational_domain(domain).split('.').next().unwrap_or("")
}

/// Whether `name` (a domain's [`registered_name`]) is one of the brand's domain names, as
/// registered under another suffix (`mastercard.co.jp` for `mastercard.com`, `amazon.de`
/// for `amazon.com`): a brand's site in another country, as a link's text shows it. Names
/// under four letters are too common to tell (`hp`, `ups`, `dhl` are words or other
/// companies' names elsewhere).
fn named_elsewhere(brand: &Brand, name: &str) -> bool {
    name.len() >= 4 && brand.domains.iter().any(|d| registered_name(d) == name)
}

/// The display name or the subject claims a brand; From and the links are none of its.
fn claimed_from_elsewhere(ctx: &mut ScoreContext<'_>, brands: &[Brand]) {
    let from = ctx.message.from().and_then(|a| a.first());
    let display_written = from.and_then(|a| a.name()).unwrap_or("");
    let display = unmask_lookalikes(display_written).to_lowercase();
    let subject_written = ctx.message.subject().unwrap_or("");
    let subject = unmask_lookalikes(subject_written).to_lowercase();
    let from_domain = from.and_then(|a| a.address()).and_then(domain_of);
    let links: Vec<String> = ctx.link_hosts().to_vec();
    for brand in brands_named_in(brands, &[&display, &subject]) {
        // The display name first, by any of the brand's names: "MyJCB" with "JCB" in the
        // subject is a sender presenting itself as the brand, not a subject that mentions it.
        let claim =
            |place: &'static str, text: &str| brand.names.iter().find(|n| mentions(text, n)).map(|n| (place, n));
        let Some((place, name)) = claim("display name", &display).or_else(|| claim("subject", &subject)) else {
            continue;
        };
        // The brand's own mail: From is one of its domains, and not a mailbox anyone can
        // have there ("Microsoft <no-reply@outlook.com>" is a person's, or a forger's).
        if from_domain.as_deref().is_some_and(|d| owned(brand, d) && !is_mailbox_provider(d)) {
            continue;
        }
        // An email service provider's shared domain (`brand@sparkpostmail.com`) is how some
        // brands' own newsletters come: it does not tell the brand from someone else.
        let via_provider = from_domain.as_deref().and_then(rewriter_of);
        let presents_as_brand = place == "display name"
            && !brand.domains.is_empty()
            && via_provider.is_none()
            && names_only_the_brand(&display, brand);
        // Where a reader is sent, not the pictures (a deal newsletter shows the brand's own).
        let lookalike =
            from_domain.iter().chain(ctx.linked_hosts()).find_map(|h| dressed_as(brand, h).map(|w| (h.clone(), w)));
        // A link to the brand's own site excuses a mention (a shop's "pay with PayPal"), not
        // a sender that presents itself as the brand, nor one whose address or links wear
        // the brand's name on a host that is not the brand's: a phish copied from the
        // brand's mail keeps the brand's help and logo links beside its own.
        if !presents_as_brand && lookalike.is_none() && links.iter().any(|h| owned(brand, h)) {
            continue;
        }
        let foreign: Vec<&str> = links.iter().filter(|h| !owned(brand, h)).map(String::as_str).take(3).collect();
        let elsewhere = match (foreign.is_empty(), links.len() > foreign.len()) {
            (true, _) => String::new(),
            (false, false) => format!(", links to {}", foreign.join(", ")),
            (false, true) => format!(", links to {} besides the brand's own site", foreign.join(", ")),
        };
        let from_shown = from_domain.as_deref().unwrap_or("(none)");
        let written = if place == "display name" { display_written } else { subject_written };
        let masked = if mentions(&written.to_lowercase(), name) { "" } else { " (written with lookalike characters)" };
        let not_the_brands = if from_domain.as_deref().is_some_and(is_mailbox_provider) {
            "a mailbox anyone can have".to_owned()
        } else if let Some(provider) = via_provider {
            format!("{provider}'s shared sending domain")
        } else {
            "none of the brand's domains".to_owned()
        };
        let claim = format!(
            "the {place} claims {} ({name:?}){masked} but From is {from_shown}, {not_the_brands}{elsewhere}",
            brand.name
        );
        if !masked.is_empty() && !ctx.fired(BRAND_MASKED_NAME) {
            ctx.add(BRAND_MASKED_NAME, 0, format!("{written:?}: {claim}"));
        }
        ctx.add(BRAND_IMPERSONATION, 0, claim);
        if let Some((host, word)) = lookalike {
            ctx.add(
                BRAND_LOOKALIKE_HOST,
                0,
                format!(
                    "the {place} claims {} and {host} wears its name ({word:?}) without being one of the brand's domains",
                    brand.name
                ),
            );
        }
        // A brand with no domains of its own ("Webmail") cannot be told from its senders.
        if presents_as_brand {
            ctx.add(
                BRAND_DISPLAY_NAME,
                0,
                format!(
                    "the sender's name {display_written:?} presents it as {} but From is {from_shown}, {not_the_brands}{elsewhere}",
                    brand.name
                ),
            );
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn a_brand_claimed_from_elsewhere_is_impersonation() {
        let d =
            run("From: \"Microsoft 365 Security\" <alert@secure-mail-center.example>\r\nSubject: Action required\r\n\
Content-Type: text/html\r\n\r\n<a href=\"https://login-verify.example/o365\">Sign in</a>\r\n");
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].evidence.contains("claims Microsoft") && d[0].evidence.contains("secure-mail-center.example"));
        assert_eq!(d[1].name, BRAND_DISPLAY_NAME);
        assert!(d[1].evidence.contains("\"Microsoft 365 Security\" presents it as Microsoft"), "{d:?}");
        let d = run("From: support@help-desk.example\r\nSubject: Your PayPal account is limited\r\n\r\nhello\r\n");
        assert!(d[0].evidence.contains("subject claims PayPal"), "{d:?}");
    }

    #[test]
    fn a_link_to_the_brand_does_not_excuse_a_link_dressed_as_it() {
        let phish = "From: \"Amazons.co.jp\" <amozon-account-update@joibvd.example>\r\nSubject: Amazon\u{30d7}\u{30e9}\u{30a4}\u{30e0}\r\n\
Content-Type: text/html\r\n\r\n<a href=\"https://www.amazon.co.jp/\">amazon.co.jp</a> <a href=\"https://amazon-urgents.shop/x\">login</a>\r\n";
        let d = run(phish);
        assert!(
            d.iter().any(|d| d.name == BRAND_IMPERSONATION && d.evidence.contains("subject claims Amazon")),
            "{d:?}"
        );
        assert!(
            d.iter().any(|d| d.name == BRAND_LOOKALIKE_HOST && d.evidence.contains("amazon-urgents.shop")),
            "{d:?}"
        );
        // The brand's link alone still excuses the mention (a shop's "pay with Amazon Pay").
        let d = run(&phish.replace("https://amazon-urgents.shop/x", "https://shop.example/x"));
        assert!(!d.iter().any(|d| d.name == BRAND_IMPERSONATION), "{d:?}");
    }

    #[test]
    fn lookalike_letters_are_read_as_the_letters_they_stand_for() {
        assert_eq!(unmask_lookalikes("C0STC0 member"), "COSTCO member");
        assert_eq!(unmask_lookalikes("BIueCross Ins. PoIicy"), "BlueCross Ins. Policy");
        assert_eq!(unmask_lookalikes("AcETooIs"), "AcETools");
        assert_eq!(unmask_lookalikes("Micr0soft Supp0rt PayPa1"), "Microsoft Support PayPal");
        // Numbers stay numbers; a capital I that begins a word or stands alone stays.
        for text in ["$100 off Win10", "H2O", "Win 1", "Item 10", "IBM", "Q1 2024 in B2B"] {
            assert_eq!(unmask_lookalikes(text), text, "{text}");
        }
        assert!(matches!(unmask_lookalikes("no lookalikes here"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_brand_written_with_lookalikes_is_claimed() {
        let d = run(
            "From: C0STC0 member <cstcmember@pisoyalquiler.example>\r\nSubject: Your coverage has lapsed\r\n\r\nhello\r\n",
        );
        assert!(d.iter().any(|d| d.name == BRAND_DISPLAY_NAME), "{d:?}");
        assert!(d[0].evidence.contains("claims Costco") && d[0].evidence.contains("lookalike characters"), "{d:?}");
        let d = run(
            "From: Plan News <news@plans.example>\r\nSubject: See options as your BIue Cross pIan changes\r\n\r\nhello\r\n",
        );
        let impersonation = d.iter().find(|d| d.name == BRAND_IMPERSONATION).expect("a claim");
        assert!(impersonation.evidence.contains("subject claims Blue Cross Blue Shield"), "{d:?}");
        // Masking the name is a verdict of its own, whatever else the message does.
        let masked = d.iter().find(|d| d.name == BRAND_MASKED_NAME).expect("a masked brand name");
        assert!(masked.evidence.starts_with("\"See options as your BIue Cross pIan changes\": the subject"), "{d:?}");
        // Written plainly, no lookalike is mentioned and nothing is masked.
        let d = run("From: Costco <x@deals.example>\r\nSubject: hi\r\n\r\nhello\r\n");
        assert!(!d[0].evidence.contains("lookalike"), "{d:?}");
        assert!(!d.iter().any(|d| d.name == BRAND_MASKED_NAME), "{d:?}");
    }

    #[test]
    fn a_forged_brand_sender_linking_to_a_host_dressed_as_the_brand_is_a_lookalike() {
        let d =
            run("From: \"PayPal\" <service@paypal.com>\r\nSubject: Your Account\r\nContent-Type: text/html\r\n\r\n\
<img src=\"http://www.paypal.com/logo.gif\"><a href=\"http://paypal.server4566.example/webscr\">Log in</a> \
<a href=\"http://www.paypal.com/privacy\">Privacy</a>\r\n");
        let found = d.iter().find(|d| d.name == BRAND_LOOKALIKE_HOST).expect("a lookalike host");
        assert!(found.evidence.contains("paypal.server4566.example"), "{d:?}");
        // The brand's own links alone: nothing.
        let d =
            run("From: \"PayPal\" <service@paypal.com>\r\nSubject: Your Account\r\nContent-Type: text/html\r\n\r\n\
<a href=\"http://www.paypal.com/privacy\">Privacy</a>\r\n");
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn a_forged_brand_sender_linking_to_a_page_filed_under_the_brand_is_a_lookalike() {
        let phish = |href: &str| {
            run(&format!(
                "From: \"eBay\" <aw-confirm@ebay.com>\r\nSubject: Account\r\nContent-Type: text/html\r\n\r\n\
<a href=\"http://pages.ebay.com/help/policies/privacy-policy.html\">Privacy</a> <a href=\"{href}\">Sign in</a>\r\n"
            ))
        };
        for href in [
            "http://dns.pautacreativa.example/signin.ebay.com/saw-cgi/eBayISAPIdllSignIn.php",
            "http://server1.mjbconsulting.example/~maxim/cgi-bin/.SignIn/eBay/acounts/",
        ] {
            let d = phish(href);
            let found = d.iter().find(|d| d.name == BRAND_LOOKALIKE_HOST).unwrap_or_else(|| panic!("{href}: {d:?}"));
            assert!(found.evidence.contains("a page filed under its name"), "{d:?}");
        }
        // The brand's page on a social network, a tracker's target in the query, a name
        // inside a longer segment: none is a page filed under the brand.
        for href in [
            "https://twitter.com/eBay?utm_source=email",
            "http://click.example/r?u=http://www.ebay.com/",
            "http://shop.example/ebay-deals/",
        ] {
            assert!(!phish(href).iter().any(|d| d.name == BRAND_LOOKALIKE_HOST), "{href}");
        }
    }

    #[test]
    fn a_brand_through_an_email_service_providers_domain_is_no_verdict() {
        let d = run("From: \"Disney+\" <disneyplus@sparkpostmail.com>\r\nSubject: New this week\r\n\r\nhello\r\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].evidence.contains("SparkPost's shared sending domain"), "{d:?}");
    }

    #[test]
    fn a_sender_name_that_is_only_the_brand_is_a_verdict() {
        let named = |display: &str, from: &str| {
            run(&format!("From: \"{display}\" <{from}>\r\nSubject: Notice\r\n\r\nhello\r\n"))
                .into_iter()
                .any(|d| d.name == BRAND_DISPLAY_NAME)
        };
        assert!(named("PayPal", "service@secure-help.example"));
        assert!(named("Accounts PayPal", "x@isp.example"));
        assert!(named("Amazon.co.jp", "info@mnjzw.example"));
        assert!(named("DHL Express 2025", "track@parcel-news.example"));
        assert!(named("Microsoft 365 Security Alerts", "alerts@m365-secure.example"));
        assert!(named("Amazon カスタマーセンター", "no-reply@shop.example"));
        assert!(named("Welcome To Blue Cross", "welcometobluecross@garden.example"));
        assert!(named("Your Free Oral-B Kit", "rewards@cookfest.example"));
        // Any other word makes it a person's or a partner's name.
        assert!(!named("Chase Smith", "chase.smith@gmail.com"));
        assert!(!named("Amazon Benefits at Fidelity", "benefits@mail.fidelity.example"));
        // The brand's own domain, and a "brand" with no domains of its own.
        assert!(!named("PayPal", "service@paypal.com"));
        assert!(!named("Apple Card Support", "no_reply@post.applecard.apple"));
        assert!(!named("Webmail", "admin@company.example"));
        // A mailbox anyone can have at the brand's mail service is not the brand's mail.
        assert!(named("Microsoft", "no-reply@outlook.com"));
        assert!(!named("Microsoft", "account-security-noreply@accountprotection.microsoft.com"));
        // A copy of the brand's mail keeps the brand's own links beside the phishing one.
        let copied = run("From: NetFlix <casapaulo@shop.example>\r\nSubject: Payment declined\r\n\
Content-Type: text/html\r\n\r\n<a href=\"https://help.netflix.com/\">Help</a>\
<a href=\"http://click-mail.verify.example/x\">Update payment</a>\r\n");
        let verdict = copied.iter().find(|d| d.name == BRAND_DISPLAY_NAME).expect("a copy with the brand's links");
        assert!(
            verdict.evidence.contains("links to click-mail.verify.example besides the brand's own site"),
            "{verdict:?}"
        );
        // The sender's name is read first, by every name of the brand: a subject naming the
        // brand otherwise ("JCB") does not hide a sender named "MyJCB".
        let both = run("From: \"MyJCB\" <admin@linefg.example>\r\nSubject: JCB card locked\r\n\r\nhi\r\n");
        let verdict = both.iter().find(|d| d.name == BRAND_DISPLAY_NAME).expect("the sender's name is the brand's");
        assert!(verdict.evidence.contains("\"MyJCB\" presents it as JCB"), "{verdict:?}");
        // A brand named in the subject only is evidence, not this verdict.
        let subject_only = run("From: a@news.example\r\nSubject: PayPal\r\n\r\nhi\r\n");
        assert!(!subject_only.iter().any(|d| d.name == BRAND_DISPLAY_NAME), "{subject_only:?}");
    }

    #[test]
    fn a_brand_sender_linking_to_a_bare_address_is_a_verdict() {
        let found = |from: &str, href: &str| {
            run(&format!(
                "From: {from}\r\nSubject: Your account\r\nContent-Type: text/html\r\n\r\n<a href=\"{href}\">Click here</a>\r\n"
            ))
            .into_iter()
            .find(|d| d.name == BRAND_SENDER_IP_LINK)
        };
        let d = found("aw-confirm@ebay.com", "http://198.51.100.23/ws/eBayISAPI.dll").expect("a forged eBay sender");
        assert!(d.evidence.contains("ebay.com, eBay's own domain, yet a link goes to the bare address 198.51.100.23"));
        assert!(found("service@paypal.com", "https://www.paypal.com/signin").is_none(), "the brand's own link");
        assert!(found("router@home.example", "http://198.51.100.23/admin").is_none(), "not a brand's From");
        assert!(found("service@paypal.com", "http://10.1.2.3/intranet").is_none(), "a private address");
        // A mailbox anyone can have at a brand's domain is a person's mail, not the brand's.
        assert!(found("someone@hotmail.com", "http://198.51.100.23/photos").is_none());
        assert!(found("someone@yahoo.co.jp", "http://198.51.100.23/photos").is_none());
        // A government's domain is no one's mailbox either.
        let d = found("administration@ncua.gov", "http://200.161.153.172/login/get.php").expect("a forged agency");
        assert!(
            d.evidence.contains("ncua.gov, a government's domain, yet a link goes to the bare address 200.161.153.172")
        );
        assert!(found("refunds@hmrc.gov.uk", "https://www.gov.uk/").is_none(), "a name, not an address");
    }

    #[test]
    fn a_brand_sender_that_links_only_elsewhere_is_a_verdict() {
        let found = |from: &str, body: &str| {
            run(&format!("From: {from}\r\nSubject: Your account\r\nContent-Type: text/html\r\n\r\n{body}\r\n"))
                .into_iter()
                .find(|d| d.name == BRAND_SENDER_FOREIGN_LINK)
        };
        let phish = "<a href=\"http://mailsrv.verify-account.example/pp/\">Confirm your account</a>";
        let d = found("service@paypal.com", phish).expect("a forged PayPal sender linking elsewhere");
        assert!(d.evidence.contains("no link goes to the brand, one goes to mailsrv.verify-account.example"), "{d:?}");
        // The brand's own link, a click tracker, another brand's site, the sender's own host.
        let own = format!("{phish}<a href=\"https://www.paypal.com/help\">Help</a>");
        assert!(found("service@paypal.com", &own).is_none());
        assert!(found("service@paypal.com", "<a href=\"https://u1.ct.sendgrid.net/ls/click?x\">Go</a>").is_none());
        assert!(found("service@paypal.com", "<a href=\"https://www.facebook.com/paypal\">Like us</a>").is_none());
        assert!(found("news@amazon.com", "<a href=\"https://news.amazon.com/x\">News</a>").is_none());
        // A mailing list's own footer link is the list's, not the sender's.
        let footer = run("From: service@paypal.com\r\nList-Id: <users.lists.example.org>\r\n\
Content-Type: text/html\r\n\r\n<a href=\"https://lists.example.org/listinfo/users\">list</a>\r\n");
        assert!(!footer.iter().any(|d| d.name == BRAND_SENDER_FOREIGN_LINK), "{footer:?}");
        // A person's mailbox at a brand's domain, and a sender that is no brand.
        assert!(found("someone@gmail.com", phish).is_none());
        assert!(found("news@shop.example", phish).is_none());
    }

    #[test]
    fn a_host_dressed_as_the_claimed_brand_is_a_verdict() {
        let found = |from: &str, subject: &str, href: &str| {
            run(&format!(
                "From: {from}\r\nSubject: {subject}\r\nContent-Type: text/html\r\n\r\n<a href=\"{href}\">Open</a>\r\n"
            ))
            .into_iter()
            .find(|d| d.name == BRAND_LOOKALIKE_HOST)
        };
        let d = found("AFIP Contacto <contacto@afip.gob.ar.com>", "Factura", "https://x.example/a")
            .expect("a From domain that wears the brand's name");
        assert!(d.evidence.contains("afip.gob.ar.com wears its name (\"afip\")"), "{d:?}");
        assert!(found("shop@deals.example", "Your Amazon order", "https://amazon-wqbz.shop/track").is_some());
        // The brand's own hosts, its name under another suffix, its name inside a longer word,
        // a host that names nothing of the brand, no claim at all.
        assert!(found("a@b.example", "Your Amazon order", "https://www.amazon.co.jp/x").is_none());
        assert!(found("a@b.example", "Your Mastercard", "https://www.mastercard.us/x").is_none());
        assert!(found("a@b.example", "Your Amazon order", "https://amazonsupport.example/x").is_none());
        assert!(found("a@b.example", "Apple pie", "https://pineapple-shop.example/x").is_none());
        assert!(found("a@b.example", "Your Amazon order", "https://track.example/x").is_none());
        assert!(found("a@b.example", "Hello", "https://amazon-wqbz.shop/track").is_none());
        // Short names only as a whole word: "jcb" in "jcbamford" is not JCB.
        assert!(found("a@b.example", "JCB card notice", "https://jcbamford.example/").is_none());
        assert!(found("a@b.example", "JCB card notice", "https://my-jcb.example/").is_some());
    }

    #[test]
    fn the_brand_itself_and_its_partners_are_not() {
        assert!(run("From: \"PayPal\" <service@paypal.com>\r\nSubject: Receipt\r\n\r\nthanks\r\n").is_empty());
        // A shop's mail that names a brand but links to the brand's own site.
        let partner = "From: \"Shop News\" <news@shop.example>\r\nSubject: Pay with PayPal today\r\n\
Content-Type: text/html\r\n\r\n<a href=\"https://www.paypal.com/x\">PayPal</a>\r\n";
        assert!(run(partner).is_empty());
        // Words that merely contain a brand name are not a claim.
        assert!(run("From: a@b.example\r\nSubject: groups and teamsters\r\n\r\nhi\r\n").is_empty());
        // In scripts written without spaces, a change of script ends a word.
        assert!(mentions("amazonお客様", "amazon"));
        assert!(mentions("楽天カードからのお知らせ", "楽天カード"));
        assert!(!mentions("ライオン", "イオン"));
        assert!(!mentions("microsoft365", "microsoft"));
    }

    #[test]
    fn a_link_that_shows_a_brand_and_goes_elsewhere_is_a_spoof() {
        let spoof = |shown: &str, href: &str| {
            run(&format!(
                "From: service@mail-center.example\r\nSubject: Your account\r\nContent-Type: text/html\r\n\r\n\
<p>Log in at <a href=\"{href}\">{shown}</a></p>\r\n"
            ))
            .into_iter()
            .find(|d| d.name == BRAND_LINK_SPOOF)
        };
        let d =
            spoof("https://www.paypal.com/signin", "http://203.0.113.9/pp/login.php").expect("an IP behind paypal.com");
        assert!(d.evidence.contains("shows www.paypal.com (PayPal) but goes to 203.0.113.9"), "{d:?}");
        assert!(spoof("www.ebay.com", "https://signin-ebay.example/ws").is_some());
        // The brand's name under another country's suffix is its site there.
        assert!(spoof("www.mastercard.co.jp", "https://contreot.dxwenva.example/jp").is_some());
        assert!(spoof("www.paypal.com", "https://www.paypal.de/signin").is_none());
        // The brand's own hosts, under any of its domains, are no spoof.
        assert!(spoof("www.paypal.com", "https://www.paypal.com/signin").is_none());
        assert!(spoof("paypal.com", "https://email.paypal-communication.com/track").is_none());
        // A domain that belongs to no brand in the table, or text that shows no domain.
        assert!(spoof("www.shop.example", "https://click.esp.example/1").is_none());
        assert!(spoof("Sign in to PayPal", "https://login.example/x").is_none());
        // An address shown as a link's text is not a link to that domain.
        assert!(spoof("someone@gmail.com", "https://tracker.example/c").is_none());
        // The sender's own site, and another brand's own domain, are no phishing page.
        assert!(spoof("facebook.com", "https://www.mail-center.example/fb").is_none());
        assert!(spoof("us06web.zoom.us", "https://www.google.com/url?q=x").is_none());
        // Click tracking and gateways' link rewriting stand between text and target.
        assert!(spoof("facebook.com", "https://u123.ct.sendgrid.net/ls/click?upn=x").is_none());
        assert!(spoof("www.paypal.com", "https://urldefense.com/v3/__https://www.paypal.com__").is_none());
        assert_eq!(rewriter_of("EU.Safelinks.Protection.Outlook.com"), Some("Microsoft Defender"));
        // The brand's own mail linking through its own mail provider: not a spoof once DKIM
        // vouches for the From; unauthenticated, it is what a forged phish looks like.
        let raw = "From: service@paypal.com\r\nContent-Type: text/html\r\n\r\n\
<a href=\"https://click.mail-provider.example/1\">www.paypal.com</a>\r\n";
        assert!(run(raw).iter().any(|d| d.name == BRAND_LINK_SPOOF), "a forged From is no pass");
        let signed = crate::analysis::table::detections_signed(raw, "paypal.com", check);
        assert!(!signed.iter().any(|d| d.name == BRAND_LINK_SPOOF), "{signed:?}");
    }

    #[test]
    fn the_table_parses() {
        let t = parse_table("# c\nAcme\tacme, acme corp\tacme.example,acme.test\nEmpty\t\t\n");
        assert_eq!(
            t,
            vec![Brand {
                name: "Acme".into(),
                names: vec!["acme".into(), "acme corp".into()],
                domains: vec!["acme.example".into(), "acme.test".into()]
            }]
        );
        assert!(BRANDS.len() > 40);
    }
}
