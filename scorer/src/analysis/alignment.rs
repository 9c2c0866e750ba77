//! SPOOF evidence: the header From domain is not aligned (DMARC relaxed) with anything
//! that vouches for it: the envelope sender, a DKIM signature's `d=`, or a `Sender:`
//! header that itself aligns with the envelope (on-behalf-of sending). Mailing-list mail
//! (`List-Id` or `List-Post`, RFC 2919 / 2369) is resent by the list under its own
//! envelope by design and is not compared.
//!
//! DKIM signatures count as verified by mail-auth ([`crate::auth`]) when authentication
//! ran; SPF and DMARC results are not used yet.

use super::ScoreContext;
use super::domain::{aligned, domain_of};
use crate::auth::{DmarcPolicy, Outcome, Result3};

/// The From domain is not aligned with the envelope, no signature vouches for it, and
/// authentication failed (SPF fails or a DKIM signature does not verify): SPOOF.
pub const FROM_ENVELOPE_MISALIGNED: &str = "from_envelope_misaligned";
/// The same misalignment without a failed check (none could run, or none failed):
/// evidence only. Without DNS, and in much legitimate mail (mailing services, forwarders),
/// this is all that can be seen, so alone it decides nothing.
pub const FROM_ENVELOPE_DIFFERS: &str = "from_envelope_differs";
/// Replies go to another organization than the From domain: evidence (BEC uses it).
pub const REPLY_TO_DIFFERS: &str = "reply_to_differs";
/// The same, and authentication failed: SPOOF.
pub const REPLY_TO_MISALIGNED: &str = "reply_to_misaligned";
pub const DISPLAY_NAME_ADDRESS: &str = "display_name_address";
pub const DKIM_FAIL: &str = "dkim_fail";
/// DMARC fails and the domain asks for reject or quarantine: SPAM (DESIGN.md).
pub const DMARC_FAIL_ENFORCED: &str = "dmarc_fail_enforced";
/// DMARC fails under a monitoring policy (p=none): SPOOF.
pub const DMARC_FAIL: &str = "dmarc_fail";
pub const SPF_FAIL: &str = "spf_fail";
/// The ARC chain a forwarder sealed does not validate: evidence.
pub const ARC_FAIL: &str = "arc_fail";

pub fn check(ctx: &mut ScoreContext<'_>) {
    display_name_carries_another_address(ctx);
    envelope_alignment(ctx);
    reply_to_alignment(ctx);
    dkim_failures(ctx);
    spf_and_dmarc(ctx);
}

fn spf_and_dmarc(ctx: &mut ScoreContext<'_>) {
    let Some(auth) = ctx.facts.auth.clone() else { return };
    if let Some(arc) = &auth.arc
        && matches!(arc.outcome, Outcome::Fail | Outcome::PermError)
    {
        ctx.add(
            ARC_FAIL,
            1000,
            format!(
                "the ARC chain ({} instance(s)) does not validate: {}",
                arc.instances,
                arc.reason.as_deref().unwrap_or("failed")
            ),
        );
    }
    if let Some(spf) = &auth.spf
        && spf.outcome == Result3::Fail
    {
        ctx.add(SPF_FAIL, 2000, format!("SPF fails for {} from {}", spf.domain, spf.ip));
    }
    if let Some(dmarc) = &auth.dmarc
        && dmarc.outcome == Result3::Fail
    {
        let (name, score) = match dmarc.policy {
            DmarcPolicy::Reject | DmarcPolicy::Quarantine => (DMARC_FAIL_ENFORCED, 7000),
            DmarcPolicy::None => (DMARC_FAIL, 5000),
        };
        ctx.add(name, score, format!("DMARC fails for {} (policy {:?})", dmarc.domain, dmarc.policy));
    }
}

/// Evidence of signatures that do not verify (changed in transit, or forged).
fn dkim_failures(ctx: &mut ScoreContext<'_>) {
    let failed: Vec<String> = ctx
        .facts
        .auth
        .iter()
        .flat_map(|a| &a.dkim)
        .filter(|c| matches!(c.outcome, Outcome::Fail | Outcome::PermError))
        .map(|c| format!("d={} ({})", c.domain, c.reason.as_deref().unwrap_or("failed")))
        .collect();
    if !failed.is_empty() {
        ctx.add(DKIM_FAIL, 1000, format!("DKIM signature does not verify: {}", failed.join("; ")));
    }
}

/// `"ceo@bank.example" <x@freemail.example>`: the name shows an address of another domain
/// than the one the mail is from. (Mailing lists that write "alice@x via List" are exempt.)
fn display_name_carries_another_address(ctx: &mut ScoreContext<'_>) {
    let Some(from) = ctx.message.from().and_then(|a| a.first()) else { return };
    let (Some(name), Some(domain)) = (from.name(), from.address().and_then(domain_of)) else { return };
    if is_list_mail(ctx) {
        return;
    }
    let shown = name
        .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '(' | ')' | '<' | '>' | ','))
        .filter(|w| w.contains('@'))
        .find_map(domain_of)
        // `hyatt@mozilla` is a name, not an address.
        .filter(|d| d.contains('.') && !d.ends_with('.'));
    if let Some(shown) = shown
        && !aligned(&shown, &domain)
    {
        ctx.add(
            DISPLAY_NAME_ADDRESS,
            6000,
            format!("the From name shows an address at {shown} but the mail is from {domain}"),
        );
    }
}

fn is_list_mail(ctx: &ScoreContext<'_>) -> bool {
    ctx.header_text("List-Id").is_some() || ctx.header_text("List-Post").is_some()
}

fn envelope_alignment(ctx: &mut ScoreContext<'_>) {
    let Some(from_domain) = ctx.from_domain() else {
        return;
    };
    if is_list_mail(ctx) {
        return;
    }
    // The null sender (bounces) and an unknown envelope give nothing to compare.
    let Some(envelope_domain) = domain_of(&ctx.facts.envelope_sender) else {
        return;
    };
    if aligned(&from_domain, &envelope_domain) {
        return;
    }
    // DMARC decided (pass or fail): the heuristic has nothing to add.
    if ctx
        .facts
        .auth
        .as_ref()
        .and_then(|a| a.dmarc.as_ref())
        .is_some_and(|d| matches!(d.outcome, Result3::Pass | Result3::Fail))
    {
        return;
    }
    let dkim_domains: Vec<String> = match ctx.facts.auth.as_ref().map(|a| &a.dkim) {
        // Verified: a passing signature vouches, and so does one that DNS could not check
        // (a temporary error says nothing against it); a failing one does not.
        Some(checks) => checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Pass | Outcome::TempError))
            .map(|c| c.domain.clone())
            .collect(),
        // Not verified: the signatures' claims.
        None => ctx.raw_headers("DKIM-Signature").iter().filter_map(|sig| dkim_tag(sig, "d")).collect(),
    };
    if dkim_domains.iter().any(|d| aligned(d, &from_domain)) {
        return;
    }
    let sender_vouches =
        ctx.raw_headers("Sender").iter().filter_map(|s| domain_of(s)).any(|d| aligned(&d, &envelope_domain));
    if sender_vouches {
        return;
    }
    let failed = authentication_failures(ctx);
    let evidence = format!(
        "From domain {from_domain} is not aligned with the envelope sender domain {envelope_domain}{}{}",
        if dkim_domains.is_empty() {
            " and there is no DKIM signature".to_owned()
        } else {
            format!(" nor with DKIM d={}", dkim_domains.join(","))
        },
        if failed.is_empty() { String::new() } else { format!("; {}", failed.join("; ")) }
    );
    if failed.is_empty() {
        ctx.add(FROM_ENVELOPE_DIFFERS, 1000, evidence);
    } else {
        ctx.add(FROM_ENVELOPE_MISALIGNED, 5000, evidence);
    }
}

/// The checks that failed outright (not the ones that could not run).
fn authentication_failures(ctx: &ScoreContext<'_>) -> Vec<String> {
    let Some(auth) = &ctx.facts.auth else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(spf) = auth.spf.as_ref().filter(|s| s.outcome == Result3::Fail) {
        out.push(format!("SPF fails for {}", spf.domain));
    }
    for dkim in auth.dkim.iter().filter(|c| matches!(c.outcome, Outcome::Fail | Outcome::PermError)) {
        out.push(format!("DKIM d={} does not verify", dkim.domain));
    }
    out
}

fn reply_to_alignment(ctx: &mut ScoreContext<'_>) {
    let from = ctx.from_domain();
    let reply_to = ctx.message.reply_to().and_then(|a| a.first()).and_then(|a| a.address()).and_then(domain_of);
    if let (Some(from), Some(reply_to)) = (from, reply_to)
        && !aligned(&from, &reply_to)
        && !is_list_mail(ctx)
    {
        let failed = authentication_failures(ctx);
        if failed.is_empty() {
            ctx.add(REPLY_TO_DIFFERS, 1000, format!("replies go to {reply_to}, the mail is from {from}"));
        } else {
            ctx.add(
                REPLY_TO_MISALIGNED,
                5000,
                format!("replies go to {reply_to}, the mail is from {from}; {}", failed.join("; ")),
            );
        }
    }
}

/// The value of a tag in a DKIM-Signature header (`d=example.com;`), lower-cased.
fn dkim_tag(signature: &str, tag: &str) -> Option<String> {
    signature.split(';').find_map(|part| {
        let (name, value) = part.split_once('=')?;
        (name.trim().eq_ignore_ascii_case(tag))
            .then(|| value.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkim_tags() {
        let sig = "v=1; a=rsa-sha256; d=Example.COM; s=sel;\r\n\th=from:to; b=abc";
        assert_eq!(dkim_tag(sig, "d").as_deref(), Some("example.com"));
        assert_eq!(dkim_tag(sig, "s").as_deref(), Some("sel"));
        assert_eq!(dkim_tag(sig, "x"), None);
    }
}
