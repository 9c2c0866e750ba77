//! Links and forms: links to raw IP addresses, links whose visible text names another
//! domain than the one they go to, forms that ask for a password (HTML bodies), and
//! homograph hosts (any URL in the text or HTML).

use super::ScoreContext;
use super::domain::aligned;
use mail_parser::MimeHeaders;

/// A link to a raw public IP address, or to a host named after one
/// (`61-30-80-157.static.example.net`): evidence (newsletters do it too); with content the
/// classifier is unsure of, it corroborates ([`super::content_classifier`]). Private,
/// loopback and link-local addresses are nobody's page (a lab device, a router).
pub const LINK_IP_HOST: &str = "link_ip_host";
/// A link whose text shows a domain, or names one among its words, but which goes to a
/// raw public IP address: SUSPICIOUS.
pub const LINK_IP_DECEPTIVE: &str = "link_ip_deceptive";
/// A link whose text shows a government's domain (`www.receita.fazenda.gov.br`,
/// `www.ncua.gov`; `scorer/data/government_domains.tsv`) and which goes to a host that is
/// no government's, no click tracker's or link rewriter's (GovDelivery's among them) and
/// not the sender's own site: a tax or licensing notice sending its reader elsewhere.
/// SUSPICIOUS.
pub const GOVERNMENT_LINK_SPOOF: &str = "government_link_spoof";
/// A link to a machine, not to a site: a host named after its address
/// (`61-30-80-157.static.tfn.net.tw`, `ec2-18-231-189-155...amazonaws.com`), a cloud or VPS
/// provider's default name for a rented virtual machine (`cloud_machine` in
/// `link_hosts.tsv`: `<name>.<region>.cloudapp.azure.com`, `vmi2891319.contaboserver.net`)
/// or a free dynamic-DNS name for a machine on a home or rented connection (`dynamic_dns`:
/// `x.is-an-artist.com`, `x.servehumour.com`), or a link to a port no web site uses
/// (`http://shop.example:5000/`; not 80, 443 or their registered alternates 8080 and 8443,
/// not a private address). Not for links to the From's own organization, nor in mail from
/// the tenant's own or trusted domains or to their hosts. A business links to its own name; a
/// phishing kit on a machine rented by the hour has none. SUSPICIOUS. A bare address alone
/// is not: newsletters of the early 2000s linked to them (one in SpamAssassin's hard ham
/// does).
pub const LINK_TO_MACHINE: &str = "link_to_machine";
pub const LINK_TEXT_MISMATCH: &str = "link_text_mismatch";
/// A link's text shows the From domain's own address, and the link goes to a host that is
/// neither of the From's organization nor a click tracker or link rewriter
/// (`link_rewriters.tsv`): a sender that claims a domain shows it to the reader and sends
/// them elsewhere (`www.ncua.gov` over `dwe.fcu-account-verify.com`). SUSPICIOUS. Not for
/// a mailbox provider's From (anyone can have one).
pub const SENDER_LINK_SPOOF: &str = "sender_link_spoof";
pub const CREDENTIAL_FORM: &str = "credential_form";
/// A link host whose letters imitate another's (mixed scripts, often behind punycode):
/// `xn--youtue-tg7b.com` is `youtuḅe.com`.
pub const HOMOGRAPH_URL: &str = "homograph_url";

/// A link through a URL shortener hides where it goes: evidence (and a corroborating sign
/// for the classifier).
pub const LINK_SHORTENER: &str = "link_shortener";

/// Public URL shorteners.
const SHORTENERS: [&str; 24] = [
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "goo.gl",
    "t.co",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "t.ly",
    "v.gd",
    "bl.ink",
    "short.io",
    "s.id",
    "soo.gd",
    "clck.ru",
    "qr.ae",
    "lnkd.in",
    "tr.im",
    "x.co",
];

fn asks_password(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    lower.contains("<form")
        && (lower.contains("type=\"password\"") || lower.contains("type='password'") || lower.contains("type=password"))
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    homographs(ctx);
    shorteners(ctx);
    // A credential form in an attached HTML page (opened locally, it posts anywhere).
    for part in ctx.message.attachments() {
        let name = part.attachment_name().unwrap_or("").to_owned();
        let is_html = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("text") && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("html"))
        }) || super::content::extension(&name)
            .is_some_and(|e| matches!(e.as_str(), "htm" | "html" | "shtml" | "xhtml"));
        if is_html
            && asks_password(&String::from_utf8_lossy(&super::content::part_bytes(part)))
            && !ctx.fired(CREDENTIAL_FORM)
        {
            ctx.add(CREDENTIAL_FORM, 8_000, format!("the attached page {name:?} has a form that asks for a password"));
        }
    }
    let named = ctx.linked_hosts().iter().find_map(|h| address_named(h).map(|a| (h.clone(), a)));
    if let Some((host, address)) = named
        && !ctx.fired(LINK_IP_HOST)
    {
        ctx.add(LINK_IP_HOST, 3_000, format!("link to {host}, a machine named after its address {address}"));
    }
    if let Some(evidence) = machine_link(ctx) {
        ctx.add(LINK_TO_MACHINE, 7_000, evidence);
    }
    let message = ctx.message;
    if !ctx.fired(CREDENTIAL_FORM) && message.html_bodies().filter_map(|p| p.text_contents()).any(asks_password) {
        ctx.add(CREDENTIAL_FORM, 8_000, "an HTML form asks for a password");
    }
    let brands = super::brand_impersonation::brands_for(ctx);
    let from_domain = ctx.from_domain();
    for (href, text) in ctx.anchors().iter() {
        let Some(host) = host_of(href) else { continue };
        let public_address = public_address(&host);
        if public_address && !ctx.fired(LINK_IP_HOST) {
            ctx.add(LINK_IP_HOST, 3_000, format!("link to an IP address: {}", clip(href)));
        }
        // A bare address behind words that name a site (`Consultar Documento
        // {sefaz.gov.br}`) deceives as a link whose whole text is the site's name does.
        let shown_whole = domain_in_text(text);
        if public_address
            && shown_whole.is_none()
            && !ctx.fired(LINK_IP_DECEPTIVE)
            && let Some(shown) = domain_named_in_text(text)
        {
            ctx.add(LINK_IP_DECEPTIVE, 7_000, format!("link text names {shown} but goes to the address {host}"));
        }
        if let Some(shown) = shown_whole
            && !aligned(&shown, &host)
        {
            // An email service provider's click tracker or a gateway's link rewriter stands
            // between every link's text and its target in the mail that goes through it,
            // and a sender's own tracker (`e.mktg.torrid.com` for torrid.com) in its own;
            // but a commonly impersonated brand's domain shown over a link to the sender's
            // own site still counts.
            let rewritten = super::brand_impersonation::rewriter_of(&host).is_some();
            let own_tracker = from_domain.as_deref().is_some_and(|from| aligned(from, &host))
                && !brands.iter().any(|b| super::brand_impersonation::owned(b, &shown));
            if !ctx.fired(LINK_TEXT_MISMATCH) && !rewritten && !own_tracker {
                ctx.add(LINK_TEXT_MISMATCH, 2_000, format!("link text shows {shown} but goes to {host}"));
            }
            let shows_the_senders = from_domain.as_deref().is_some_and(|from| {
                aligned(from, &shown) && !aligned(from, &host) && !super::brand_impersonation::is_mailbox_provider(from)
            });
            if shows_the_senders && !rewritten && !ctx.fired(SENDER_LINK_SPOOF) {
                let from = from_domain.as_deref().unwrap_or_default();
                ctx.add(
                    SENDER_LINK_SPOOF,
                    7_000,
                    format!("link text shows {shown}, the sender's {from}, but goes to {host}"),
                );
            }
            let senders_own = from_domain.as_deref().is_some_and(|from| aligned(from, &host));
            if is_government(&shown)
                && !is_government(&host)
                && !rewritten
                && !senders_own
                && !ctx.fired(GOVERNMENT_LINK_SPOOF)
            {
                ctx.add(
                    GOVERNMENT_LINK_SPOOF,
                    7_000,
                    format!("link text shows {shown}, a government's domain, but goes to {host}"),
                );
            }
            if public_address && !ctx.fired(LINK_IP_DECEPTIVE) {
                ctx.add(LINK_IP_DECEPTIVE, 7_000, format!("link text shows {shown} but goes to the address {host}"));
            }
        }
    }
}

/// Government domain suffixes (`scorer/data/government_domains.tsv`), lower case;
/// `NAME.*` kept as `NAME.` (NAME under any two-letter country code).
static GOVERNMENT_DOMAINS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    super::table::rows(include_str!("../../data/government_domains.tsv"))
        .filter_map(|c| c.first().map(|s| s.trim_end_matches('*').to_ascii_lowercase()))
        .collect()
});

/// Whether `host` is under a government domain suffix.
pub(super) fn is_government(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    GOVERNMENT_DOMAINS.iter().any(|entry| match entry.strip_suffix('.') {
        // `gov.` : `<...>.gov.<cc>` with a two-letter country code.
        Some(name) => host.rsplit_once('.').is_some_and(|(rest, cc)| {
            cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_lowercase()) && super::domain::is_within(rest, name)
        }),
        None => super::domain::is_within(&host, entry),
    })
}

/// [`LINK_TO_MACHINE`]'s evidence: the first link to a machine (or a form posting to one by
/// its bare address), not counting links to the
/// From's own organization (a hosting company's mail about its customer's server), and none
/// in mail from or to the tenant's own or trusted domains' machines (its intranet tools,
/// its deployments).
fn machine_link(ctx: &ScoreContext<'_>) -> Option<String> {
    let from = ctx.from_domain();
    if from.as_deref().is_some_and(|f| ctx.own_or_trusted(f)) {
        return None;
    }
    let foreign = |host: &str| !ctx.own_or_trusted(host) && !from.as_deref().is_some_and(|f| aligned(f, host));
    let hosts: Vec<&String> = ctx.linked_hosts().iter().filter(|h| foreign(h)).collect();
    if let Some((host, address)) = hosts.iter().find_map(|h| address_named(h).map(|a| (h, a))) {
        return Some(format!("link to {host}, a machine named after its address {address}"));
    }
    let rented = hosts.iter().find_map(|h| match super::link_hosting::kind_of_name_under(h) {
        Some(super::link_hosting::CLOUD_MACHINE) => Some((h, "a provider's default name for a rented machine")),
        Some(super::link_hosting::DYNAMIC_DNS) => Some((h, "a free dynamic-DNS name for a machine")),
        _ => None,
    });
    if let Some((host, what)) = rented {
        return Some(format!("link to {host}, {what}"));
    }
    // A form that sends what the reader types to a bare address: no site, and no one a
    // reader could name, receives it (a link to one is only evidence; a form asks for more
    // than a click).
    let form_target = ctx
        .form_actions()
        .iter()
        .find_map(|action| host_of(action).filter(|h| public_address(h) && foreign(h)).map(|h| (h, action)));
    if let Some((host, action)) = form_target {
        return Some(format!("a form sends what the reader types to {host}, a bare address: {}", clip(action)));
    }
    // A port no web site uses, in an anchor or a URL in a text body.
    ctx.linked_urls().iter().find_map(|url| {
        let (host, port) = (host_of(url)?, port_of(url)?);
        (!web_port_or_internal(&host, port) && foreign(&host))
            .then(|| format!("link to {host} on port {port}, a service on a machine, not a web site"))
    })
}

/// Whether `host` is an IP address a reader could be sent to from anywhere: not a private,
/// loopback or link-local one (`http://192.168.10.2/` in a list's discussion of a lab
/// device is no page on someone else's server).
fn public_address(host: &str) -> bool {
    host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| !crate::auth::is_internal(ip))
}

/// The IPv4 address a host name is made of, left of its registered domain
/// (`61-30-80-157.static.tfn.net.tw`, `93.182.153.160.host.secureserver.net`): the name an
/// access provider or a hosting company gives a machine (a home connection, an unconfigured
/// server), not a site's. A link there sends the reader to a machine, as a bare address does.
fn address_named(host: &str) -> Option<std::net::Ipv4Addr> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let registered = super::domain::organizational_domain(host);
    let machine = host.strip_suffix(registered)?.trim_end_matches('.');
    let bytes = machine.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        // A run of numbers begins a label or follows a separator that no number precedes
        // (`ec2-54-12-3-4`: not `2-54-12-3`; `1-2-3-4-5`: no address at all).
        let begins_run = start == 0
            || (matches!(bytes[start - 1], b'-' | b'.') && {
                let before = &bytes[..start - 1];
                let token = &before[before.iter().rposition(|b| matches!(b, b'-' | b'.')).map_or(0, |i| i + 1)..];
                token.is_empty() || !token.iter().all(u8::is_ascii_digit)
            });
        if bytes[start].is_ascii_digit() && begins_run {
            let mut octets = Vec::with_capacity(4);
            let mut at = start;
            while octets.len() < 4 {
                let end = (at..bytes.len()).find(|&i| !bytes[i].is_ascii_digit()).unwrap_or(bytes.len());
                let Ok(octet) = machine[at..end].parse::<u8>() else { break };
                octets.push(octet);
                if octets.len() == 4 {
                    let runs_on = matches!(bytes.get(end), Some(b'-' | b'.'))
                        && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
                    let address = std::net::Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]);
                    if !runs_on && !crate::auth::is_internal(address.into()) {
                        return Some(address);
                    }
                    break;
                }
                if !matches!(bytes.get(end), Some(b'-' | b'.')) || !bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
                    break;
                }
                at = end + 1;
            }
        }
        start += 1;
    }
    None
}

fn shorteners(ctx: &mut ScoreContext<'_>) {
    let found = ctx.link_hosts().iter().find(|h| SHORTENERS.contains(&h.trim_start_matches("www."))).cloned();
    if let Some(host) = found {
        ctx.add(LINK_SHORTENER, 2_000, format!("link through the URL shortener {host}"));
    }
}

fn homographs(ctx: &mut ScoreContext<'_>) {
    let found = ctx.link_hosts().iter().find_map(|host| {
        let unicode = idna::domain_to_unicode(host).0;
        let label = unicode.split('.').find(|l| mixes_scripts(l))?.to_owned();
        Some(format!("link host {host} reads {unicode}: {label:?} mixes look-alike letters"))
    });
    if let Some(evidence) = found {
        ctx.add(HOMOGRAPH_URL, 7_000, evidence);
    }
}

/// ASCII letters together with letters that imitate them: Cyrillic, Greek, IPA, small
/// capitals, fullwidth forms, and the dotted Latin letters of U+1E00-U+1E9F. (Accented
/// Latin-1 letters and Vietnamese are ordinary in internationalized names.)
fn mixes_scripts(label: &str) -> bool {
    let imitating = |c: char| matches!(c as u32, 0x0250..=0x02AF | 0x0370..=0x03FF | 0x0400..=0x052F | 0x1D00..=0x1D7F | 0x1E00..=0x1E9F | 0xFF00..=0xFFEF);
    label.chars().any(|c| c.is_ascii_alphabetic()) && label.chars().any(imitating)
}

/// (href, visible text) of each `<a href=...>...</a>`, from a forgiving scan.
pub(crate) fn anchors(html: &str) -> Vec<(String, String)> {
    anchor_parts(html).into_iter().map(|(href, inner)| (href, strip_tags(inner))).collect()
}

/// (href, inner HTML) of each `<a href=...>...</a>`, from a forgiving scan: the start tag
/// is `<a` and any white space (`<a\r\n href=`, as some senders wrap it), the inner HTML runs
/// to the next `</a>`, or, for an anchor not closed before the next one opens, to that one
/// or the end (as far as a browser makes it a link). At most 500 anchors.
pub(crate) fn anchor_parts(html: &str) -> Vec<(String, &str)> {
    anchor_spans(html).into_iter().map(|(href, inner)| (href, html.get(inner).unwrap_or(""))).collect()
}

/// [`anchor_parts`] with each link's inner HTML as a byte range of `html`.
pub(crate) fn anchor_spans(html: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let lower = html.to_ascii_lowercase();
    let unrendered = unrendered(&lower);
    let mut out = Vec::new();
    let mut at = 0;
    for start in start_tags(&lower, "a").filter(|&i| rendered(&unrendered, i)) {
        if start < at {
            continue;
        }
        let Some(tag_end) = lower[start..].find('>').map(|e| start + e) else { break };
        let tag = &html[start..tag_end];
        let next = start_tags(&lower[tag_end..], "a")
            .map(|e| tag_end + e)
            .find(|&i| rendered(&unrendered, i))
            .unwrap_or(lower.len());
        let close = crate::html_text::end_tag(&lower[tag_end..next], "a").map_or(next, |e| tag_end + e);
        if let Some(href) = attribute(tag, "href") {
            out.push((href, (tag_end + 1).min(close)..close));
        }
        at = tag_end + 1;
        if out.len() > 500 {
            break;
        }
    }
    out
}

/// Byte ranges of lower-cased HTML that a browser does not read as markup, in order:
/// comments (`<!-- ... -->`, Outlook's `<!--[if mso]>` blocks among them) and what
/// `<style>` and `<script>` elements hold. An anchor written there is no link (SpamAssassin's
/// HTML parser skips them too). At most 1,000 ranges; past them the rest reads as markup.
fn unrendered(lower: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(open) = lower[at..].find('<').map(|i| at + i) {
        let rest = &lower[open + 1..];
        let raw_text = ["style", "script"].into_iter().find(|name| {
            rest.strip_prefix(name)
                .is_some_and(|after| after.starts_with(|c: char| c.is_ascii_whitespace() || c == '>'))
        });
        let end = if rest.starts_with("!--") {
            lower[open + 4..].find("-->").map_or(lower.len(), |e| open + 4 + e + 3)
        } else if let Some(name) = raw_text {
            crate::html_text::end_tag(&lower[open..], name).map_or(lower.len(), |e| open + e)
        } else {
            at = open + 1;
            continue;
        };
        out.push(open..end);
        at = end.max(open + 1);
        if out.len() >= 1000 {
            break;
        }
    }
    out
}

/// Whether byte `i` lies outside every one of the (ordered) `unrendered` ranges.
fn rendered(unrendered: &[std::ops::Range<usize>], i: usize) -> bool {
    let after = unrendered.partition_point(|r| r.end <= i);
    unrendered.get(after).is_none_or(|r| !r.contains(&i))
}

/// The http(s) targets of the HTML's forms (`<form action="...">`): where what a reader
/// types in goes. At most 20.
pub(super) fn form_actions(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let unrendered = unrendered(&lower);
    let mut out = Vec::new();
    for start in start_tags(&lower, "form").filter(|&i| rendered(&unrendered, i)) {
        let Some(tag_end) = lower[start..].find('>').map(|e| start + e) else { break };
        if let Some(action) = attribute(&html[start..tag_end], "action").filter(|a| host_of(a).is_some()) {
            out.push(action);
        }
        if out.len() >= 20 {
            break;
        }
    }
    out
}

/// The path of a URL as written, without its query or fragment (`/a/b.html` of
/// `https://x.example/a/b.html?u=1`; empty when there is none).
pub(super) fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("", |i| &rest[i..]).split(['?', '#']).next().unwrap_or("")
}

/// Where each start tag of element `name` (lower case) begins in lower-case HTML: `<name`
/// and white space (`<a href`, `<a\r\nhref`, `<form\tmethod`), not a longer name (`<abbr`,
/// `<formula>`).
fn start_tags<'h>(lower: &'h str, name: &'h str) -> impl Iterator<Item = usize> + 'h {
    lower.match_indices('<').map(|(i, _)| i).filter(move |&i| {
        lower[i + 1..].strip_prefix(name).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_whitespace()))
    })
}

/// The value of attribute `name` in a start tag as written (`href`, `style`), trimmed: the
/// first attribute of that name ([`tag_attributes`]), `None` when it has no value.
pub(super) fn attribute(tag: &str, name: &str) -> Option<String> {
    tag_attributes(tag)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value)
        .map(|v| v.trim().to_owned())
}

/// Whether a start tag has an attribute called `name`, with or without a value (`<div
/// hidden>`, `hidden=""`).
pub(super) fn has_attribute(tag: &str, name: &str) -> bool {
    tag_attributes(tag).any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// The attributes of a start tag (`<a href="x" hidden>`, with or without its `>`), as the
/// HTML tokenizer reads them: a name runs to white space, `/`, `>` or `=`; a value follows
/// `=` (white space allowed around it), quoted or bare. So `bgcolor=` is no `color`, a bare
/// `class=hidden` is no `hidden` attribute, and words inside a quoted value
/// (`title="the href=x"`) are no attributes.
pub(super) fn tag_attributes(tag: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let bytes = tag.as_bytes();
    let space = |b: u8| b.is_ascii_whitespace();
    // Past `<` and the element's name.
    let mut i = usize::from(bytes.first() == Some(&b'<'));
    while i < bytes.len() && !space(bytes[i]) && !matches!(bytes[i], b'/' | b'>') {
        i += 1;
    }
    std::iter::from_fn(move || {
        while i < bytes.len() && (space(bytes[i]) || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' {
            return None;
        }
        let name_start = i;
        // A name may begin with `=` (the tokenizer keeps it), never end at one.
        i += 1;
        while i < bytes.len() && !space(bytes[i]) && !matches!(bytes[i], b'/' | b'>' | b'=') {
            i += 1;
        }
        let name = &tag[name_start..i];
        let mut after = i;
        while after < bytes.len() && space(bytes[after]) {
            after += 1;
        }
        if bytes.get(after) != Some(&b'=') {
            return Some((name, None));
        }
        i = after + 1;
        while i < bytes.len() && space(bytes[i]) {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let start = i + 1;
                let end = tag[start..].find(char::from(quote)).map_or(tag.len(), |e| start + e);
                i = (end + 1).min(tag.len());
                &tag[start..end]
            }
            _ => {
                let start = i;
                while i < bytes.len() && !space(bytes[i]) && bytes[i] != b'>' {
                    i += 1;
                }
                &tag[start..i]
            }
        };
        Some((name, Some(value)))
    })
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// Hosts of http(s) URLs in text (or HTML attribute values).
pub fn hosts_in(text: &str) -> Vec<String> {
    urls_in(text).iter().filter_map(|url| host_of(url)).collect()
}

/// The http(s) URLs written in `text`, lower-case (at most 200).
pub(super) fn urls_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut at = 0;
    while let Some(pos) = lower[at..].find("http") {
        let start = at + pos;
        let rest = &lower[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '(' | ')'))
            .unwrap_or(rest.len());
        if host_of(&rest[..end]).is_some() {
            out.push(rest[..end].to_owned());
        }
        at = start + 4;
        if out.len() >= 200 {
            break;
        }
    }
    out
}

/// The port an http(s) URL names, when it names one (`http://x.example:5000/` -> 5000).
fn port_of(url: &str) -> Option<u16> {
    let rest = url.trim().strip_prefix("http://").or_else(|| url.trim().strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let after_host = if host_port.starts_with('[') { host_port.split_once(']')?.1 } else { host_port };
    after_host.rsplit_once(':')?.1.parse().ok()
}

/// Whether a link to `host` on `port` goes to a web site: the web's ports and their
/// registered alternates (IANA's http-alt and https-alt), or a host no reader outside could
/// reach anyway (a private address, a name without a dot: a lab device, an intranet tool).
fn web_port_or_internal(host: &str, port: u16) -> bool {
    matches!(port, 80 | 443 | 8080 | 8443)
        || !host.contains('.')
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(crate::auth::is_internal)
}

/// The host of an http(s) URL, lower-case.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.trim().strip_prefix("http://").or_else(|| url.trim().strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host =
        if host.starts_with('[') { host.trim_start_matches('[').split(']').next()? } else { host.split(':').next()? };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// A domain that visible link text presents as the destination (`www.bank.com`,
/// `https://bank.com/login`), if it looks like one.
pub(super) fn domain_in_text(text: &str) -> Option<String> {
    let t = text.trim();
    if t.contains(char::is_whitespace) || t.len() > 200 {
        return None;
    }
    let host = host_of(t).or_else(|| {
        let h = t.split(['/', '?', '#']).next()?.to_ascii_lowercase();
        // `www.bank.example`, or `bank.example/login`: a name with a letters-only suffix.
        let tld = h.rsplit('.').next()?;
        let looks_like_a_domain =
            h.contains('.') && (2..=24).contains(&tld.len()) && tld.chars().all(|c| c.is_ascii_alphabetic());
        // (A bare name with a query, `google.com/url?...`, is a redirector's address shown.)
        (h.starts_with("www.") || (looks_like_a_domain && !t.contains('?'))).then_some(h)
    })?;
    if is_file_name(&host) {
        return None;
    }
    (host.contains('.') && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')).then_some(host)
}

/// A domain named among a link text's words (`Consultar Documento {sefaz.gov.br}`): the
/// first word, brackets and punctuation around it trimmed, that [`domain_in_text`] reads as
/// a domain, and that is not a file's name (`CURRICULO .docx`, `invoice.pdf`).
fn domain_named_in_text(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || "{}()[]<>\"'".contains(c))
        .map(|word| word.trim_end_matches([',', ';', ':', '.', '!', '?']))
        .filter(|word| word.contains('.') && !word.starts_with('.'))
        .find_map(domain_in_text)
}

/// `invoice.pdf`, `Report.docx`: a file's name, not a domain, though it is written like one
/// (no such top-level domains; `.zip` and `.mov` are real ones, and count as domains).
fn is_file_name(name: &str) -> bool {
    const FILE_EXTENSIONS: &[&str] = &[
        "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "rar", "txt", "xml", "htm", "html", "php", "jpg", "png",
        "gif",
    ];
    name.rsplit_once('.').is_some_and(|(_, ext)| FILE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_comments_styles_and_scripts_are_no_links() {
        let html = "<!-- <a href=\"https://old.example/\">old</a> --><style>/* <a href=\"https://css.example/\"> */ a{color:red}</style>\
<!--[if mso]><a href=\"https://outlook.example/\">Outlook only</a><![endif]-->\
<a href=\"https://shown.example/\">shown <!-- <a href=\"https://inner.example/\"> --> text</a>\
<script>document.write('<a href=\"https://script.example/\">')</script><form action=\"https://post.example/x\"></form>\
<!-- <form action=\"https://hidden-form.example/x\"> -->";
        let parts = anchor_parts(html);
        assert_eq!(parts.len(), 1, "{parts:?}");
        assert_eq!(parts[0].0, "https://shown.example/");
        assert!(
            parts[0].1.starts_with("shown") && parts[0].1.ends_with(" text"),
            "a comment inside does not end it: {parts:?}"
        );
        assert_eq!(form_actions(html), vec!["https://post.example/x".to_owned()]);
        assert_eq!(unrendered("<!-- never closed <a href=x>").len(), 1, "an unclosed comment runs to the end");
        assert!(rendered(&unrendered("<p><!--x--></p>"), 0) && !rendered(&unrendered("<p><!--x--></p>"), 5));
    }

    #[test]
    fn a_start_tag_is_read_attribute_by_attribute() {
        let attributes: Vec<_> =
            tag_attributes("<td bgcolor=#ffcc99 title=\"a color=red\"\r\n  Color = 'blue' nowrap/").collect();
        assert_eq!(
            attributes,
            vec![
                ("bgcolor", Some("#ffcc99")),
                ("title", Some("a color=red")),
                ("Color", Some("blue")),
                ("nowrap", None)
            ]
        );
        assert_eq!(attribute("<td bgcolor=\"#ffcc99\" color='red'>", "color").as_deref(), Some("red"));
        assert_eq!(attribute("<td bgcolor=#ffcc99>", "color"), None, "bgcolor is not color");
        assert_eq!(
            attribute("<a data-href=\"x\" href = \" https://a.example/ \">", "href").as_deref(),
            Some("https://a.example/")
        );
        assert_eq!(attribute("<a title=\"href=https://b.example\">", "href"), None, "inside a value");
        assert_eq!(
            attribute("<a href=\"https://a.example\" href=\"https://b.example\"", "href").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(
            attribute("<a href=\"https://a.example", "href").as_deref(),
            Some("https://a.example"),
            "unclosed quote"
        );
        assert!(has_attribute("<div class=\"x\" hidden>", "hidden"));
        assert!(has_attribute("<div hidden=\"\">", "hidden"));
        assert!(!has_attribute("<div data-hidden=\"1\">", "hidden"));
        assert!(!has_attribute("<div class=hidden>", "hidden"));
        assert!(!has_attribute("<hidden class=x>", "hidden"), "the element's name is no attribute");
    }

    /// The link checks' detections for an HTML body.
    fn run(body: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(
            &format!("From: a@b.example\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n{body}\r\n"),
            check,
        )
    }

    #[test]
    fn a_link_to_a_private_address_is_no_link_to_an_ip_host() {
        let d = run(
            "<a href=\"http://192.168.10.2/status\">http://usrp.example/status</a> <a href=\"http://10.0.0.1/\">router</a>",
        );
        assert!(!d.iter().any(|d| d.name == LINK_IP_HOST || d.name == LINK_IP_DECEPTIVE), "{d:?}");
        let d = run("<a href=\"http://203.0.113.9/login\">https://bank.example/login</a>");
        assert!(d.iter().any(|d| d.name == LINK_IP_HOST), "{d:?}");
        assert!(d.iter().any(|d| d.name == LINK_IP_DECEPTIVE), "{d:?}");
        // The site named among the link's words.
        let d = run("<a href=\"http://104.41.34.108/nf/nfe.html\">Consultar Documento {sefaz.gov.br}</a>");
        let found = d.iter().find(|d| d.name == LINK_IP_DECEPTIVE).unwrap_or_else(|| panic!("{d:?}"));
        assert!(found.evidence.contains("names sefaz.gov.br"), "{found:?}");
        // Words that name no site over an address stay evidence.
        let d = run("<a href=\"http://203.0.113.9/photos\">See the photos. Thanks!</a>");
        assert!(!d.iter().any(|d| d.name == LINK_IP_DECEPTIVE), "{d:?}");
        let d = run(
            "<a href=\"http://203.0.113.9/cv\">CURRICULO .docx 31 KB</a> <a href=\"http://203.0.113.9/i\">the invoice.pdf here</a>",
        );
        assert!(!d.iter().any(|d| d.name == LINK_IP_DECEPTIVE), "a file's name is no site's: {d:?}");
    }

    #[test]
    fn a_government_domain_over_a_link_elsewhere_is_a_verdict() {
        assert!(is_government("www.receita.fazenda.gov.br") && is_government("www.ncua.gov"));
        assert!(is_government("www.interior.gob.es") && is_government("impots.gouv.fr"));
        assert!(is_government("www.nta.go.jp") && is_government("canada.gc.ca"));
        assert!(!is_government("gov.example.com") && !is_government("govdelivery.com") && !is_government("go.com"));
        let mail = |from: &str, body: &str| {
            crate::analysis::table::detections_of(
                &format!("From: {from}\r\nSubject: Nota fiscal\r\nContent-Type: text/html\r\n\r\n{body}\r\n"),
                check,
            )
        };
        let spoof = "<a href=\"https://lojasmonteirosa.example/nf\">nfse.capital.sp.gov.br</a>";
        let d = mail("nfe@shop.example", spoof);
        assert!(d.iter().any(|d| d.name == GOVERNMENT_LINK_SPOOF && d.evidence.contains("lojasmonteirosa")), "{d:?}");
        // Through GovDelivery's rewriter, to another government's site, or the sender's own.
        let rewritten = "<a href=\"https://lnks.gd/l/eyJhbGci\">www.doh.wa.gov</a>";
        assert!(!mail("news@doh.wa.gov", rewritten).iter().any(|d| d.name == GOVERNMENT_LINK_SPOOF));
        let other_government = "<a href=\"https://www.treasury.gov/x\">www.irs.gov</a>";
        assert!(!mail("a@b.example", other_government).iter().any(|d| d.name == GOVERNMENT_LINK_SPOOF));
        let own = "<a href=\"https://www.cpa-firm.example/irs-deadlines\">www.irs.gov</a>";
        assert!(!mail("news@cpa-firm.example", own).iter().any(|d| d.name == GOVERNMENT_LINK_SPOOF));
    }

    #[test]
    fn a_link_that_shows_the_senders_domain_and_goes_elsewhere_is_a_verdict() {
        let mail = |from: &str, body: &str| {
            crate::analysis::table::detections_of(
                &format!("From: {from}\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n{body}\r\n"),
                check,
            )
        };
        let spoof = |from: &str, body: &str| mail(from, body).into_iter().find(|d| d.name == SENDER_LINK_SPOOF);
        let d = spoof(
            "acc-validity@ncua.gov",
            "<a href=\"http://dwe.fcu-account-verify.com/ncua/\">https://www.ncua.gov/account</a>",
        )
        .expect("the sender's domain shown over another's link");
        assert!(
            d.evidence.contains("www.ncua.gov, the sender's ncua.gov, but goes to dwe.fcu-account-verify.com"),
            "{d:?}"
        );
        // Its own tracker, an email service provider's, another domain shown, or a mailbox
        // anyone can have: none is.
        let own = "<a href=\"https://click.e.shop.example/x\">www.shop.example</a>";
        assert!(spoof("news@shop.example", own).is_none());
        let esp = "<a href=\"https://shop.us1.list-manage.com/track/click?u=1\">www.shop.example</a>";
        assert!(spoof("news@shop.example", esp).is_none());
        let other = "<a href=\"https://elsewhere.example/\">www.partner.example</a>";
        assert!(spoof("news@shop.example", other).is_none());
        assert!(spoof("jo@gmail.com", "<a href=\"https://x.example/\">www.gmail.com</a>").is_none());
    }

    #[test]
    fn a_link_to_a_machine_by_its_providers_name_is_a_verdict() {
        let machine = |body: &str| run(body).into_iter().find(|d| d.name == LINK_TO_MACHINE).map(|d| d.evidence);
        let evidence = machine("<a href=\"https://nfe-emitida.brazilsouth.cloudapp.azure.com/nf\">Baixar nota</a>")
            .expect("an Azure VM's default name");
        assert!(evidence.contains("nfe-emitida.brazilsouth.cloudapp.azure.com"), "{evidence}");
        let evidence = machine("<a href=\"http://ec2-18-231-189-155.sa-east-1.compute.amazonaws.com/x\">Ver</a>")
            .expect("an EC2 machine");
        assert!(evidence.contains("named after its address 18.231.189.155"), "{evidence}");
        assert!(machine("<a href=\"http://80-219-219-193.dclient.hispeed.ch/bank/\">Log in</a>").is_some());
        let evidence =
            machine("<a href=\"http://vmi2891319.contaboserver.net/factura\">Ver factura</a>").expect("a VPS");
        assert!(evidence.contains("default name for a rented machine"), "{evidence}");
        let evidence = machine("<a href=\"http://x9.is-an-artist.com:5000/\">Multa</a>").expect("dynamic DNS");
        assert!(evidence.contains("dynamic-DNS"), "{evidence}");
        let evidence = machine("<a href=\"http://citas.example:2324/login\">Entrar</a>").expect("an odd port");
        assert!(evidence.contains("citas.example on port 2324"), "{evidence}");
        // The web's ports and their alternates, and addresses no outsider reaches, are not.
        assert_eq!(machine("<a href=\"https://shop.example:443/\">Shop</a>"), None);
        assert_eq!(machine("<a href=\"http://build.example:8080/job/1\">Build</a>"), None);
        assert_eq!(machine("<a href=\"http://192.168.10.2:5000/\">Device</a>"), None);
        assert_eq!(machine("<a href=\"http://grafana:3000/d/x\">Dashboard</a>"), None);
        // The tenant's own intranet tools neither.
        let raw = "From: ci@corp.example\r\nContent-Type: text/html\r\n\r\n<a href=\"http://ci.corp.example:3000/\">CI</a>\r\n";
        let d = crate::analysis::table::detections_for_tenant(raw, "own_domains = [\"corp.example\"]\n", check);
        assert!(!d.iter().any(|d| d.name == LINK_TO_MACHINE), "{d:?}");
        assert!(machine("<a href=\"http://ci.corp.example:3000/\">CI</a>").is_some(), "another's is");
        // A hosting company's own mail about its customer's server.
        let raw = "From: robot@your-server.de\r\nContent-Type: text/html\r\n\r\n<a href=\"http://static.1.2.3.4.clients.your-server.de/\">server</a>\r\n";
        let d = crate::analysis::table::detections_of(raw, check);
        assert!(address_named("static.1.2.3.4.clients.your-server.de").is_some());
        assert!(!d.iter().any(|d| d.name == LINK_TO_MACHINE), "{d:?}");
        assert_eq!(port_of("http://user:pw@[2001:db8::1]:8000/x"), Some(8000));
        assert_eq!(port_of("http://[2001:db8::1]/x"), None);
        // A form that posts to a bare address sends the reader's answers to a machine.
        let evidence = machine(
            "<form method=post action=\"http://203.0.113.103/response/response.asp\"><input name=phone></form>",
        )
        .expect("a form to a bare address");
        assert!(evidence.contains("a form sends what the reader types to 203.0.113.103"), "{evidence}");
        assert_eq!(machine("<form action=\"http://192.168.1.1/apply.cgi\"><input name=x></form>"), None);
        assert_eq!(machine("<form action=\"https://www.search.example/redirect\"><input name=q></form>"), None);
        // A bare address is evidence only; an app platform's default name, or a site's own
        // name, is no machine.
        assert_eq!(machine("<a href=\"http://63.147.65.2/antiques\">Antiques</a>"), None);
        assert_eq!(machine("<a href=\"https://billing-x7.a.run.app/\">Pay</a>"), None);
        assert_eq!(machine("<a href=\"https://www.example.com/\">Home</a>"), None);
        // A dynamic-DNS provider's own site is a site.
        assert_eq!(
            machine("<a href=\"https://www.no-ip.com/\">No-IP</a> <a href=\"https://duckdns.org/\">Duck DNS</a>"),
            None
        );
    }

    #[test]
    fn a_host_named_after_its_address_is_a_machine() {
        let named = |h: &str| address_named(h).map(|a| a.to_string());
        assert_eq!(named("61-30-80-157.static.tfn.net.tw").as_deref(), Some("61.30.80.157"));
        assert_eq!(named("93.182.153.160.host.secureserver.net").as_deref(), Some("93.182.153.160"));
        assert_eq!(named("ec2-54-12-3-4.compute-1.amazonaws.com").as_deref(), Some("54.12.3.4"));
        assert_eq!(named("host-80-219-219-193.dclient.hispeed.ch").as_deref(), Some("80.219.219.193"));
        // Not an address: too few numbers, a number over 255, one run on into a fifth, or
        // the numbers in the registered name (a brand may be called that).
        for host in [
            "www.example.com",
            "a1-2-3.cdn.example",
            "300-1-2-3.isp.example",
            "1-2-3-4-5.isp.example",
            "news.1-2-3-4.com",
            "192.0.2.7",
            "v1.2.3.4x.example",
        ] {
            assert_eq!(named(host), None, "{host}");
        }
        assert_eq!(named("ip-10-0-0-12.ec2.internal.example"), None, "a private address");
        let d = crate::analysis::table::detections_of(
            "From: a@b.example\r\nSubject: x\r\n\r\nsee http://61-30-80-157.static.tfn.net.tw/index.php now\r\n",
            check,
        );
        assert!(
            d.iter().any(|d| d.name == LINK_IP_HOST && d.evidence.contains("named after its address 61.30.80.157")),
            "{d:?}"
        );
    }

    #[test]
    fn anchors_hosts_and_shown_domains() {
        let html = r#"<p><A HREF="http://192.0.2.7/login">https://bank.example/login</a> <a href='https://news.example/x'>read</a></p>"#;
        let a = anchors(html);
        assert_eq!(a.len(), 2);
        assert_eq!(host_of(&a[0].0).as_deref(), Some("192.0.2.7"));
        assert_eq!(domain_in_text(&a[0].1).as_deref(), Some("bank.example"));
        assert_eq!(domain_in_text("read more"), None);
        assert_eq!(domain_in_text("domain2.com/otherquery").as_deref(), Some("domain2.com"));
        assert_eq!(domain_in_text("v2.0"), None);
        assert_eq!(domain_in_text("Invoice_0412.pdf"), None, "a file's name");
        assert_eq!(domain_in_text("report.docx"), None);
        assert_eq!(domain_in_text("claim.zip").as_deref(), Some("claim.zip"), ".zip is a top-level domain");
        assert!(mixes_scripts("youtuḅe"));
        assert!(mixes_scripts("pаypal"), "Cyrillic а");
        assert!(!mixes_scripts("münchen"));
        assert!(!mixes_scripts("пример"), "all Cyrillic is one script");
        assert_eq!(domain_in_text("www.Shop.example"), Some("www.shop.example".into()));
        assert_eq!(host_of("https://user@[2001:db8::1]:8443/x").as_deref(), Some("2001:db8::1"));
        assert_eq!(host_of("mailto:a@b"), None);
    }

    #[test]
    fn form_targets_are_where_a_reader_is_sent() {
        let html = "<FORM\r\n method=post action=\"http://dns.pautacreativa.example/signin.ebay.com/x.php\"><input name=pass></form>\
<form action=\"/local\"></form><formula>";
        assert_eq!(form_actions(html), vec!["http://dns.pautacreativa.example/signin.ebay.com/x.php".to_owned()]);
        let raw = format!("From: a@b.example\r\nContent-Type: text/html\r\n\r\n{html}\r\n");
        let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        let facts = crate::analysis::MessageFacts::default();
        let ctx = crate::analysis::ScoreContext::new(&message, &facts);
        assert_eq!(ctx.linked_hosts(), ["dns.pautacreativa.example".to_owned()]);
    }

    #[test]
    fn anchors_wrapped_over_lines_and_never_closed() {
        // A start tag broken after `<a` is still an anchor; `<abbr>` and `<area>` are not.
        let html =
            "<a\r\nhref=\"http://192.0.2.7/x\">www.bank.example</a><abbr>b</abbr><area href=\"http://m.example/\">";
        let a = anchors(html);
        assert_eq!(a, vec![("http://192.0.2.7/x".to_owned(), "www.bank.example".to_owned())]);
        // An anchor never closed runs to the next anchor, or to the end.
        let html = "<a href=\"http://a.example/\"><img src=i.png>\r\n<a\thref=\"http://b.example/\">two</a>";
        let parts = anchor_parts(html);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], ("http://a.example/".to_owned(), "<img src=i.png>\r\n"));
        assert_eq!(parts[1].1, "two");
        assert_eq!(anchor_parts("<a href=\"http://a.example/\">to the end")[0].1, "to the end");
        // An end tag with white space before its `>` closes the anchor, as browsers read it.
        let html =
            "<A \r\nhref=\"http://a.example/\">Visit</A\r\n\r\n><p>Dear Aj,</p><a href=\"http://b.example/\">b</a >";
        let parts = anchor_parts(html);
        assert_eq!(parts[0].1, "Visit");
        assert_eq!(parts[1].1, "b");
    }

    fn mismatches(from: &str, href: &str, text: &str) -> Vec<String> {
        let raw = format!("From: {from}\r\nContent-Type: text/html\r\n\r\n<a href=\"{href}\">{text}</a>\r\n");
        crate::analysis::table::detections_of(&raw, check)
            .into_iter()
            .filter(|d| d.name == LINK_TEXT_MISMATCH)
            .map(|d| d.evidence)
            .collect()
    }

    #[test]
    fn a_link_whose_text_shows_another_domain_unless_a_tracker_stands_between() {
        let found = mismatches("news@shop.example", "https://evil.example/login", "www.bank.example");
        assert_eq!(found, ["link text shows www.bank.example but goes to evil.example"]);
        assert!(
            mismatches("news@shop.example", "https://u123.ct.sendgrid.net/ls/click?x", "www.shop.example").is_empty()
        );
        assert!(
            mismatches("deals@torrid.example", "https://e.mktg.torrid.example/c?x", "gifts.cashstar.example")
                .is_empty(),
            "the sender's own click tracker"
        );
        let brand = mismatches("news@shop.example", "https://click.shop.example/c?x", "www.paypal.com");
        assert_eq!(brand.len(), 1, "a brand's domain over a link to the sender's own site still counts: {brand:?}");
    }
}
