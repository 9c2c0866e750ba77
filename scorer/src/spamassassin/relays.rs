//! SpamAssassin's relay analysis: the Received headers read into relays, split into
//! trusted and untrusted, as the `X-Spam-Relays-*` pseudo-headers that about a hundred of
//! its rules read (`RDNS_NONE`, `RDNS_DYNAMIC`, `ALL_TRUSTED`, `NO_RELAYS` ...).
//!
//! As SpamAssassin infers trust without DNS (the scorer runs offline, as `spamassassin -L`
//! does): from the top, relays from private addresses or with an authenticated submission
//! (`with ESMTPA` ...) are trusted, and every relay from the first other one on is
//! untrusted; the trusted ones count as internal, the others as external (`spamassassin -D
//! received-header` says "trusted? yes internal? yes" of a leading private relay). The
//! scorer's `trusted_relays` (the tenant's own servers and its mail provider's, whose
//! Received headers a journal copy carries above the sender's) are trusted too, as
//! SpamAssassin's `trusted_networks` are, which it then also takes for `internal_networks`:
//! without them the first of a mail provider's hops, on a public address, would be read as
//! the sender, and `RDNS_NONE`, `RDNS_DYNAMIC` and the `HELO_*` rules would judge the
//! provider's servers instead of the sender's. The Received headers are read by mail-parser; a header that names a sending
//! host but no address is unparseable, one that names no sending host (`by ...` only, a
//! `(qmail ... invoked ...)` note) is ignored, as SpamAssassin does.

use mail_parser::{HeaderValue, Host, Message};
use std::net::IpAddr;

/// One handover, as SpamAssassin writes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Relay {
    pub ip: String,
    /// The sender's reverse DNS as the receiving MTA recorded it ("" when it found none).
    pub rdns: String,
    pub helo: String,
    pub by: String,
    pub ident: String,
    pub id: String,
    /// The authenticated submission's protocol (`ESMTPA` ...), "" when none.
    pub auth: String,
    pub private: bool,
}

impl Relay {
    /// `[ ip=... rdns=... helo=... by=... ident=... envfrom= intl=0 id=... auth=... msa=0 ]`.
    pub fn as_string(&self) -> String {
        format!(
            "[ ip={} rdns={} helo={} by={} ident={} envfrom= intl=0 id={} auth={} msa=0 ]",
            self.ip, self.rdns, self.helo, self.by, self.ident, self.id, self.auth
        )
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Relays {
    pub trusted: Vec<Relay>,
    pub untrusted: Vec<Relay>,
    pub unparseable: usize,
    /// How many Received fields, from the top, were read while every relay so far was
    /// trusted (those that name no relay or cannot be parsed included): SpamAssassin's
    /// `last_trusted_relay_index` + 1, where the `ALL-*` pseudo-headers split.
    pub trusted_received: usize,
}

/// The relay lists the pseudo-headers name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayList {
    Trusted,
    Untrusted,
    Internal,
    External,
}

impl RelayList {
    pub fn from_pseudo_header(name: &str) -> Option<RelayList> {
        Some(match name.to_ascii_lowercase().as_str() {
            "x-spam-relays-trusted" => RelayList::Trusted,
            "x-spam-relays-untrusted" => RelayList::Untrusted,
            "x-spam-relays-internal" => RelayList::Internal,
            "x-spam-relays-external" => RelayList::External,
            _ => return None,
        })
    }
}

impl Relays {
    /// The relays of `message`; those from `trusted` networks count as trusted (see the
    /// module's note).
    pub fn from_message(message: &Message<'_>, trusted: &[proto::net::Network]) -> Relays {
        let raw_message = message.raw_message();
        let mut relays = Relays::default();
        let mut in_trusted = true;
        for header in message.headers().iter().filter(|h| h.name().eq_ignore_ascii_case("received")) {
            let raw = crate::raw_header::raw_value(raw_message, header)
                .map(|b| String::from_utf8_lossy(b).split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            // A mail fetcher's handover (fetchmail's `with POP3` / `with IMAP`) is no relay;
            // found while every relay so far is trusted, it restarts the parse, as
            // SpamAssassin's found_pop_fetcher_sig: what came before it was the fetching side.
            if raw.contains("with POP3") || raw.contains("with IMAP") {
                if in_trusted {
                    relays.trusted.clear();
                    relays.trusted_received += 1;
                }
                continue;
            }
            let relay = match (qmail_relay(&raw), header.value()) {
                (Some(relay), _) => Handover::Relay(relay),
                (None, HeaderValue::Received(received)) => read_relay(received, &raw),
                (None, _) => read_unparsed(&raw),
            };
            let relay = match relay {
                Handover::Ignored => {
                    relays.trusted_received += usize::from(in_trusted);
                    continue;
                }
                Handover::Unparseable => {
                    relays.unparseable += 1;
                    relays.trusted_received += usize::from(in_trusted);
                    continue;
                }
                Handover::Relay(relay) => relay,
            };
            let configured = || relay.ip.parse::<IpAddr>().is_ok_and(|ip| proto::net::any_contains(trusted, ip));
            if in_trusted && !relay.private && relay.auth.is_empty() && !configured() {
                in_trusted = false;
            }
            if in_trusted {
                relays.trusted.push(relay);
                relays.trusted_received += 1;
            } else {
                relays.untrusted.push(relay);
            }
        }
        relays
    }

    /// The pseudo-header's value.
    pub fn pseudo_header(&self, list: RelayList) -> String {
        let joined = |relays: &mut dyn Iterator<Item = &Relay>| -> String {
            relays.map(Relay::as_string).collect::<Vec<_>>().join(" ")
        };
        // No network is configured internal: the trusted relays are the internal ones.
        match list {
            RelayList::Trusted | RelayList::Internal => joined(&mut self.trusted.iter()),
            RelayList::Untrusted | RelayList::External => joined(&mut self.untrusted.iter()),
        }
    }
}

enum Handover {
    Ignored,
    Unparseable,
    Relay(Relay),
}

fn read_relay(received: &mail_parser::Received<'_>, raw: &str) -> Handover {
    let Some(from) = &received.from else { return read_unparsed(raw) };
    // `from HOST by HOST with|via|for|(...` or `from HOST by HOST ;`, the sending host a
    // name: handovers SpamAssassin knows it cannot use (an address further on, as in
    // `via smtpd (for x [193.120.211.219])`, is not the sender's), ignored.
    let words: Vec<&str> = raw.split(' ').collect();
    let sender_is_address = words.get(1).is_some_and(|w| w.trim_matches(['[', ']']).parse::<IpAddr>().is_ok());
    if words.len() >= 4 && words[2] == "by" && !sender_is_address && (words[0] != "from" || known_unusable(&words)) {
        return Handover::Ignored;
    }
    // SpamAssassin needs the receiving host: `from 213.110.155.140 by ; date` is unparseable.
    if raw.starts_with("from ") && (!raw.contains(" by ") || raw.contains(" by ;")) {
        return Handover::Unparseable;
    }
    let ip = received.from_ip.or(match from {
        Host::IpAddr(ip) => Some(*ip),
        Host::Name(_) => None,
    });
    // SpamAssassin reads the formats it cannot use before it looks for any bracketed address.
    let ip = match ip {
        Some(ip) => ip,
        None => match read_unparsed(raw) {
            Handover::Ignored => match bracketed_ip(raw) {
                Some(ip) => ip,
                None => return Handover::Ignored,
            },
            unreadable => return unreadable,
        },
    };
    let host = |h: &Host<'_>| match h {
        Host::Name(n) => n.to_string(),
        Host::IpAddr(ip) => ip.to_string(),
    };
    // mail-parser leaves out Postfix's `(ident@rdns [ip])`: read from the comment then.
    let comment = host_comment(raw);
    let rdns = received.from_iprev.as_deref().or(comment.map(|(_, rdns)| rdns)).unwrap_or("").trim_end_matches('.');
    let ident = comment
        .and_then(|(ident, _)| ident)
        .or(received.ident.as_deref().map(|i| i.split('@').next().unwrap_or(i)))
        .unwrap_or("");
    // An authenticated submission: `with ESMTPA`, `ESMTPSA`, `LMTPA` ... (the protocol names
    // that end in A), or webmail's `with HTTP` and Earthlink's / Exim's `with ASMTP`.
    let auth = match received.with.map(|protocol| format!("{protocol:?}")) {
        Some(protocol) if protocol.ends_with('A') => protocol,
        _ => ["HTTP", "ASMTP"]
            .into_iter()
            .find(|name| raw.contains(&format!(" with {name}")))
            .unwrap_or_default()
            .to_owned(),
    };
    Handover::Relay(Relay {
        ip: sanitize(&ip.to_string()),
        rdns: if rdns.eq_ignore_ascii_case("unknown") { String::new() } else { sanitize(rdns) },
        // An address literal is written in brackets, which SpamAssassin's sanitizing turns
        // into `!1.2.3.4!`.
        helo: sanitize(&match (&received.helo, from) {
            (Some(helo), _) => host(helo),
            (None, Host::IpAddr(ip)) if raw.starts_with("from [") => format!("[{ip}]"),
            (None, from) => host(from),
        }),
        by: sanitize(received.by.as_ref().map(host).unwrap_or_default().trim_end_matches(';')),
        ident: sanitize(ident),
        id: sanitize(received.id.as_deref().unwrap_or("")),
        auth,
        private: is_private(ip),
    })
}

/// qmail's formats, as SpamAssassin's Received.pm reads them: `from RDNS (HELO helo)
/// (ident@ip) by HOST ... with SMTP`, the HELO part only when it differed from the reverse
/// DNS (so the name after `from` is both then), the address in parentheses without the
/// name in front that Postfix and sendmail write, and the protocol `SMTP` or `QMQP` (not
/// `ESMTP`, not followed by ` id `: those are sendmail's lines); `from unknown` means no
/// reverse DNS. mail-parser reads the name after `from` as the HELO and finds no reverse DNS.
fn qmail_relay(raw: &str) -> Option<Relay> {
    static QMAIL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^from (\S+)(?: \((?:HELO|EHLO) ([^ ()]*)\))? \((\S*@)?\[?([0-9A-Fa-f:.]+)\]?\)(?: \(envelope-sender <\S+>\))? by (\S+)(?: \(.+\))* with (.*)$",
        )
        .expect("a valid pattern")
    });
    let c = QMAIL.captures(raw)?;
    // `with (.* )?(SMTP|QMQP)(?! id )`: the protocol word right after `with ` or a space.
    let protocol = &c[6];
    let qmail_protocol = ["SMTP", "QMQP"].iter().any(|word| {
        protocol.match_indices(word).any(|(i, _)| {
            (i == 0 || protocol.as_bytes()[i - 1] == b' ') && !protocol[i + word.len()..].starts_with(" id ")
        })
    });
    if !qmail_protocol {
        return None;
    }
    let ip: IpAddr = c[4].parse().ok()?;
    let name = &c[1];
    let rdns = if name.eq_ignore_ascii_case("unknown") { "" } else { name };
    Some(Relay {
        ip: sanitize(&ip.to_string()),
        rdns: sanitize(rdns),
        helo: sanitize(c.get(2).map_or(name, |helo| helo.as_str())),
        by: sanitize(c[5].trim_end_matches(';')),
        ident: sanitize(c.get(3).map_or("", |ident| ident.as_str().trim_end_matches('@'))),
        id: String::new(),
        auth: String::new(),
        private: is_private(ip),
    })
}

/// A handover without a sending address, as SpamAssassin 4.0.1's Received.pm treats it
/// (checked with `spamassassin -D received-header`): a line that does not start with
/// `from` is no handover; `from HOST by HOST ;` and `from HOST by HOST with|via|for|(...`
/// are handovers it knows it cannot use, ignored; `from HOST by ;` (no receiving host) and
/// other `from HOST by HOST ...` lines are unparseable. Other shapes are ignored (its long
/// list of known local formats is not ported).
fn read_unparsed(raw: &str) -> Handover {
    let words: Vec<&str> = raw.split(' ').collect();
    if words.len() < 3 || words[0] != "from" || words[2] != "by" || known_unusable(&words) {
        Handover::Ignored
    } else {
        Handover::Unparseable
    }
}

/// `from HOST by HOST ;` or `from HOST by HOST with|via|for|(...` (the words of a Received
/// header): a handover SpamAssassin knows it cannot use. Not `from HOST by ;`, which has no
/// receiving host.
fn known_unusable(words: &[&str]) -> bool {
    let Some(by) = words.get(3).filter(|by| !by.is_empty() && !by.starts_with(';')) else { return false };
    words[0] == "from"
        && words[2] == "by"
        && (by.ends_with(';')
            || words
                .get(4)
                .is_some_and(|w| w.starts_with(';') || w.starts_with('(') || ["with", "via", "for"].contains(w)))
}

/// `from HELO (ident@rdns [ip])` or `from HELO (rdns [ip])`: (ident, rdns).
fn host_comment(raw: &str) -> Option<(Option<&str>, &str)> {
    let (_, comment) = raw.strip_prefix("from ")?.split_once(" (")?;
    let (token, rest) = comment.split_once(' ')?;
    if !rest.starts_with('[') {
        return None;
    }
    Some(match token.split_once('@') {
        Some((ident, rdns)) => (Some(ident), rdns),
        None => (None, token),
    })
}

fn bracketed_ip(raw: &str) -> Option<IpAddr> {
    raw.split('[').skip(1).find_map(|rest| rest.split(']').next().and_then(|s| s.trim().parse().ok()))
}

/// SpamAssassin replaces characters that would break the pseudo-header's syntax by `!`.
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_whitespace() || "\0#[]()<>|".contains(c) { '!' } else { c }).collect()
}

/// Not on the public internet: SpamAssassin's IP_PRIVATE. The scorer's own notion of an
/// internal address ([`crate::auth::is_internal`]: RFC 1918, loopback, link local, IPv6
/// unique local), and the ranges SpamAssassin adds: shared address space (100.64/10),
/// IETF protocol assignments (192.0.0/24) and IPv6 link local.
pub fn is_private(ip: IpAddr) -> bool {
    crate::auth::is_internal(ip)
        || match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                (o[0] == 100 && (64..128).contains(&o[1])) || (o[0] == 192 && o[1] == 0 && o[2] == 0)
            }
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn relays(headers: &str) -> Relays {
        relays_trusting(headers, &[])
    }

    fn relays_trusting(headers: &str, trusted: &[&str]) -> Relays {
        let raw = format!("{headers}Subject: x\n\nbody\n");
        let trusted: Vec<proto::net::Network> = trusted.iter().map(|n| n.parse().expect("a network")).collect();
        Relays::from_message(&MessageParser::default().parse(raw.as_bytes()).unwrap(), &trusted)
    }

    #[test]
    fn reads_handovers_as_spamassassin_writes_them() {
        // SpamAssassin 4.0.1 (`spamassassin -D received-header -L`) on these two headers:
        // [ ip=193.120.211.219 rdns=mail.webnote.net helo=webnote.net by=mail.netnoteinc.com
        //   ident= envfrom= intl=0 id=09C18114095 auth= msa=0 ], untrusted.
        let r = relays(
            "Received: from webnote.net (mail.webnote.net [193.120.211.219])\n\
             \tby mail.netnoteinc.com (Postfix) with ESMTP id 09C18114095\n\
             \tfor <jm7@netnoteinc.com>; Mon, 19 Feb 2001 13:57:29 +0000 (GMT)\n\
             Received: from netsvr.Internet (USR-157-050.dr.cgocable.ca [24.226.157.50] (may be forged))\n\
             \tby webnote.net (8.9.3/8.9.3) with ESMTP id IAA29903\n\
             \tfor <jm7@netnoteinc.com>; Sun, 18 Feb 2001 08:28:16 GMT\n",
        );
        assert!(r.trusted.is_empty(), "no DNS: the first public relay is already untrusted");
        assert_eq!(
            r.pseudo_header(RelayList::Untrusted),
            "[ ip=193.120.211.219 rdns=mail.webnote.net helo=webnote.net by=mail.netnoteinc.com ident= envfrom= \
             intl=0 id=09C18114095 auth= msa=0 ] [ ip=24.226.157.50 rdns=USR-157-050.dr.cgocable.ca \
             helo=netsvr.Internet by=webnote.net ident= envfrom= intl=0 id=IAA29903 auth= msa=0 ]"
        );
        assert_eq!(r.pseudo_header(RelayList::External), r.pseudo_header(RelayList::Untrusted));
        assert_eq!(r.pseudo_header(RelayList::Internal), "");
    }

    #[test]
    fn configured_trusted_relays_are_trusted_as_trusted_networks_are() {
        // A journal copy: the tenant's mail provider received the message on a public
        // address and handed it on inside its own network, also on public addresses.
        let journal = "Received: from gw.provider.example (gw.provider.example [192.0.2.20]) by \
             store.provider.example with ESMTPS id P2; Mon, 1 Dec 2025 10:00:02 +0000\n\
             Received: from mx.provider.example (mx.provider.example [192.0.2.10]) by \
             gw.provider.example with ESMTPS id P1; Mon, 1 Dec 2025 10:00:01 +0000\n\
             Received: from sender-pc (unknown [198.51.100.7]) by mx.provider.example with SMTP id S1; \
             Mon, 1 Dec 2025 10:00:00 +0000\n";
        let untrusting = relays(journal);
        assert!(untrusting.trusted.is_empty(), "unconfigured: the provider's first hop reads as the sender");
        assert!(untrusting.pseudo_header(RelayList::Untrusted).starts_with("[ ip=192.0.2.20 "));
        let trusting = relays_trusting(journal, &["192.0.2.0/24"]);
        let trusted: Vec<&str> = trusting.trusted.iter().map(|r| r.ip.as_str()).collect();
        assert_eq!(trusted, ["192.0.2.20", "192.0.2.10"]);
        assert_eq!(
            trusting.pseudo_header(RelayList::External),
            "[ ip=198.51.100.7 rdns= helo=sender-pc by=mx.provider.example ident= envfrom= intl=0 id=S1 auth= msa=0 ]",
            "the sender's handover is the first external one, as RDNS_NONE and the HELO rules read it"
        );
        assert_eq!(trusting.pseudo_header(RelayList::Internal), trusting.pseudo_header(RelayList::Trusted));
        // Trust stops at the first relay outside them: one further down is not trusted again.
        let below = relays_trusting(journal, &["192.0.2.20/32", "198.51.100.0/24"]);
        assert_eq!(below.trusted.len(), 1);
        assert_eq!(below.untrusted.len(), 2);
    }

    #[test]
    fn private_and_authenticated_relays_are_trusted_until_the_first_other() {
        let r = relays(
            "Received: from mx.corp.example (mx.corp.example [10.0.0.5]) by store.corp.example with ESMTP id A1; \
             Mon, 1 Dec 2025 10:00:02 +0000\n\
             Received: from laptop (host.isp.example [203.0.113.9]) by mx.corp.example with ESMTPSA id B2; \
             Mon, 1 Dec 2025 10:00:01 +0000\n\
             Received: from unknown (unknown [198.51.100.7]) by relay.example with SMTP id C3; \
             Mon, 1 Dec 2025 10:00:00 +0000\n\
             Received: (qmail 27981 invoked by uid 225); 1 Dec 2025 09:59:59 -0000\n\
             Received: by mail.example with local id D4; Mon, 1 Dec 2025 09:59:58 +0000\n",
        );
        assert_eq!(r.trusted.len(), 2);
        assert!(r.trusted[0].private);
        assert_eq!(r.trusted[1].auth, "ESMTPSA");
        assert_eq!(r.untrusted.len(), 1);
        assert_eq!(r.untrusted[0].rdns, "", "`unknown` is no reverse DNS");
        assert!(r.pseudo_header(RelayList::Untrusted).starts_with("[ ip=198.51.100.7 rdns= helo=unknown "));
        assert_eq!(r.unparseable, 0, "notes without a sending host are ignored");
        let unreadable = relays(
            "Received: from root by bounce.example with local (PHPMailer); Thu, 24 Oct 2019 00:05:10 +0000\n\
             Received: from virtual-access.org by bolero.conactive.com ; Thu, 20 Feb 2003 23:32:58 +0100\n\
             Received: from MATT_LINUX by hippo.star.co.uk via smtpd (for x [193.120.211.219]) with SMTP; 3 Jul 2002\n",
        );
        // SpamAssassin 4.0.1 ignores all three (it knows it cannot use them) ...
        assert_eq!(unreadable.unparseable, 0, "{unreadable:?}");
        assert!(unreadable.untrusted.is_empty() && unreadable.trusted.is_empty());
        // ... and cannot read these: no receiving host, and a bare `from A by B`.
        let unparseable = relays(
            "Received: from 213.110.155.140 by ; Thu, 28 Jul 2005 15:53:31 -0700\n\
             Received: from fwd08.sul.t-online.de by mailout11.sul.t-online.com id 17z2ST; Wed, 09 Oct 2002\n",
        );
        assert_eq!(unparseable.unparseable, 2, "{unparseable:?}");
        assert!(unparseable.untrusted.is_empty());
        // SpamAssassin 4.0.1 on qmail's formats: [ ip=216.162.64.150 rdns=mail.axess.com
        // helo=mail.axess.com by=newmail.axess.com ... ] and [ ip=209.89.116.254 rdns=
        // helo=tribute.ca by=newmail.axess.com ... ].
        let qmail = relays(
            "Received: from mail.axess.com (216.162.64.150)\n  by newmail.axess.com with SMTP; 23 Aug 2002 07:25:39 -0000\n\
             Received: from unknown (HELO tribute.ca) (209.89.116.254)\n  by newmail.axess.com with SMTP; 23 Aug 2002 07:25:04 -0000\n",
        );
        assert_eq!(
            qmail.pseudo_header(RelayList::Untrusted),
            "[ ip=216.162.64.150 rdns=mail.axess.com helo=mail.axess.com by=newmail.axess.com ident= envfrom= \
             intl=0 id= auth= msa=0 ] [ ip=209.89.116.254 rdns= helo=tribute.ca by=newmail.axess.com ident= \
             envfrom= intl=0 id= auth= msa=0 ]"
        );
        // SpamAssassin 4.0.1 skips fetchmail's handover and starts again below it.
        let fetched = relays(
            "Received: from localhost (localhost.localdomain [127.0.0.1]) by stinkpad.jmason.org (Postfix) \
             with ESMTP id 3AF5610710 for <jm@localhost>; Fri, 7 Dec 2001 10:47:43 +1100 (EST)\n\
             Received: from dogma.slashnull.org [212.17.35.15] by localhost with IMAP (fetchmail-5.7.4) for \
             jm@localhost (single-drop); Fri, 07 Dec 2001 10:47:44 +1100 (EST)\n\
             Received: from usw-sf-list1.sourceforge.net (usw-sf-fw2.sourceforge.net [216.136.171.252]) by \
             dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id fB69MYV12654; Thu, 6 Dec 2001 09:22:34 GMT\n",
        );
        assert!(fetched.trusted.is_empty(), "the relay above the fetcher is dropped");
        assert_eq!(fetched.untrusted.len(), 1);
        assert_eq!(fetched.untrusted[0].rdns, "usw-sf-fw2.sourceforge.net");
        let sendmail = relays(
            "Received: from xent.com ([64.161.22.236]) by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id \
             g7MKBTZ22948 for <a@b.example>; Thu, 22 Aug 2002 21:11:29 +0100\n",
        );
        assert_eq!(sendmail.untrusted[0].rdns, "", "sendmail's `from HELO ([ip])` with ESMTP: no reverse DNS");
        let postfix = relays(
            "Received: from lugh.tuatha.org (postfix@lugh.tuatha.org [194.125.145.45]) by dogma.slashnull.org \
             (8.11.6/8.11.6) with ESMTP id g98A7PK10544; Tue, 8 Oct 2002 11:07:26 +0100\n",
        );
        assert_eq!(
            (postfix.untrusted[0].ident.as_str(), postfix.untrusted[0].rdns.as_str()),
            ("postfix", "lugh.tuatha.org")
        );
        let literal =
            relays("Received: from [203.0.113.9] by mx.example with SMTP id E5; Mon, 1 Dec 2025 10:00:00 +0000\n");
        assert_eq!(literal.untrusted[0].helo, "!203.0.113.9!", "as SpamAssassin writes an address literal");
        assert_eq!(r.pseudo_header(RelayList::Internal), r.pseudo_header(RelayList::Trusted));
        assert_eq!(r.pseudo_header(RelayList::External), r.pseudo_header(RelayList::Untrusted));
        assert_eq!(relays("").pseudo_header(RelayList::External), "");
    }
}
