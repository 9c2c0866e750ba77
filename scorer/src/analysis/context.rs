//! What the checks read and write.

use mail_parser::Message;
use proto::{Attribute, Detection};

/// Facts about the delivery that are not in the message itself.
#[derive(Debug, Clone, Default)]
pub struct MessageFacts {
    /// The envelope sender of the original message (empty for the null sender or unknown).
    pub envelope_sender: String,
    /// DKIM, SPF and DMARC results, when authentication ran (None: it did not).
    pub auth: Option<crate::auth::AuthResults>,
    /// When the message is scored: domain ages are measured to this instant.
    pub now: proto::Timestamp,
    /// The operator's domain registration table, when one is loaded.
    pub domain_ages: Option<std::sync::Arc<crate::analysis::new_domain::DomainAges>>,
    /// Token classifier models whose counts add up (shared, then the tenant's own); none:
    /// the classifier gives no opinion.
    pub token_models: Vec<std::sync::Arc<crate::classifier::TokenModel>>,
    /// The original recipients (from the journal report), for exempt recipients.
    pub recipients: Vec<String>,
    /// SpamAssassin's rules, compiled; none: they are not run.
    pub spamassassin: Option<std::sync::Arc<crate::spamassassin::RuleSet>>,
    /// The learned combination of every detection; none: only the disposition table.
    pub combination: Option<std::sync::Arc<crate::combine::CombinationModel>>,
    /// The tenant's policy; none: the defaults.
    pub policy: Option<std::sync::Arc<crate::policy::CompiledPolicy>>,
    /// The operator's `trusted_relays`: servers whose Received headers are trusted (for SPF's
    /// first external hop and SpamAssassin's relay analysis).
    pub trusted_relays: std::sync::Arc<Vec<proto::net::Network>>,
    /// The scorer's memory of the tenant's recent mail, for [`super::snowshoe`]; none: no
    /// message is compared with earlier ones.
    pub campaigns: Option<crate::campaign::CampaignScope>,
}

/// The most link hosts the checks look at in one message.
pub const MAX_LINK_HOSTS: usize = 200;

pub struct ScoreContext<'m> {
    pub message: &'m Message<'m>,
    pub facts: &'m MessageFacts,
    pub detections: Vec<Detection>,
    pub attributes: Vec<Attribute>,
    /// The token classifier's score, when it gave one (a feature of the combination).
    pub content: Option<crate::classifier::ContentScore>,
    /// The message's text fingerprinted ([`super::snowshoe`]), for the memory to keep once
    /// it is scored.
    pub fingerprint: Option<crate::campaign::Fingerprint>,
    /// Found once, for every check that looks at links.
    link_hosts: std::cell::OnceCell<Vec<String>>,
    linked_urls: std::cell::OnceCell<Vec<String>>,
    linked_hosts: std::cell::OnceCell<Vec<String>>,
    form_actions: std::cell::OnceCell<Vec<String>>,
    /// The anchors of the HTML parts, (href, text), read once for the checks that look at
    /// them (shared, so a check may add detections while it walks them).
    anchors: std::cell::OnceCell<std::rc::Rc<[(String, String)]>>,
    /// The message as SpamAssassin's rules see it (its URIs serve other checks too), made
    /// once when first asked for.
    view: std::cell::OnceCell<crate::spamassassin::views::MessageView>,
    /// The body texts, HTML rendered once for every check that reads them.
    body_texts: std::cell::OnceCell<std::rc::Rc<[Option<std::borrow::Cow<'m, str>>]>>,
}

impl<'m> ScoreContext<'m> {
    pub fn new(message: &'m Message<'m>, facts: &'m MessageFacts) -> Self {
        ScoreContext {
            message,
            facts,
            detections: Vec::new(),
            attributes: Vec::new(),
            content: None,
            fingerprint: None,
            link_hosts: std::cell::OnceCell::new(),
            linked_urls: std::cell::OnceCell::new(),
            linked_hosts: std::cell::OnceCell::new(),
            form_actions: std::cell::OnceCell::new(),
            anchors: std::cell::OnceCell::new(),
            view: std::cell::OnceCell::new(),
            body_texts: std::cell::OnceCell::new(),
        }
    }

    /// The rendered views of the message ([`crate::spamassassin::views`]).
    pub fn view(&self) -> &crate::spamassassin::views::MessageView {
        self.view.get_or_init(|| {
            let mut view = crate::spamassassin::views::MessageView::new(
                self.message,
                &self.facts.envelope_sender,
                &self.facts.trusted_relays,
            );
            if let Some(rules) = &self.facts.spamassassin {
                rules.complete_view(&mut view);
            }
            view
        })
    }

    /// Hosts of the http(s) URLs in every HTML and text body, each once, in order of
    /// appearance (at most [`MAX_LINK_HOSTS`]).
    pub fn link_hosts(&self) -> &[String] {
        self.link_hosts.get_or_init(|| {
            let mut out: Vec<String> = Vec::new();
            let bodies = self.message.html_bodies().chain(self.message.text_bodies()).filter_map(|p| p.text_contents());
            for body in bodies {
                for host in super::links::hosts_in(body) {
                    if out.len() < MAX_LINK_HOSTS && !out.contains(&host) {
                        out.push(host);
                    }
                }
            }
            out
        })
    }

    /// The URLs the message's links send a reader to, in order: anchors' hrefs in the HTML
    /// parts (as written), then its forms' targets (where what the reader types goes), then
    /// http(s) URLs in the text parts (lower-case); not images, style
    /// sheets or XML namespaces, which say nothing about where a reader is sent (a
    /// newsletter's pictures in a storage bucket).
    pub fn linked_urls(&self) -> &[String] {
        self.linked_urls.get_or_init(|| {
            let mut urls: Vec<String> = self.anchors().iter().map(|(href, _)| href.clone()).collect();
            urls.extend_from_slice(self.form_actions());
            for text in self.message.text_bodies().filter(|p| !p.is_text_html()).filter_map(|p| p.text_contents()) {
                urls.extend(super::links::urls_in(text));
            }
            urls
        })
    }

    /// The http(s) targets of the HTML parts' forms, in order ([`super::links::form_actions`]),
    /// read once for the link list and the check of forms posting to an address.
    pub fn form_actions(&self) -> &[String] {
        self.form_actions.get_or_init(|| {
            self.message.html_bodies().filter_map(|p| p.text_contents()).flat_map(super::links::form_actions).collect()
        })
    }

    /// The hosts of [`Self::linked_urls`], sorted, each once.
    pub fn linked_hosts(&self) -> &[String] {
        self.linked_hosts.get_or_init(|| {
            let mut hosts: Vec<String> =
                self.linked_urls().iter().filter_map(|url| super::links::host_of(url)).collect();
            hosts.sort();
            hosts.dedup();
            hosts
        })
    }

    /// The recipients' addresses, lower case, each once: the journal report's, then To and
    /// Cc.
    pub fn recipient_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = self.facts.recipients.iter().map(|r| r.to_ascii_lowercase()).collect();
        for list in [self.message.to(), self.message.cc()].into_iter().flatten() {
            for address in list.iter().filter_map(|a| a.address()) {
                let address = address.to_ascii_lowercase();
                if address.contains('@') && !out.contains(&address) {
                    out.push(address);
                }
            }
        }
        out
    }

    /// Whether `domain` is one of the tenant's own or trusted domains (its policy's
    /// `own_domains` and `trusted_domains`, subdomains included).
    pub fn own_or_trusted(&self, domain: &str) -> bool {
        self.facts.policy.as_ref().is_some_and(|p| p.is_own_domain(domain) || p.is_trusted_domain(domain))
    }

    /// Every anchor of the HTML parts, (href, text), in part order ([`super::links::anchors`]).
    pub fn anchors(&self) -> std::rc::Rc<[(String, String)]> {
        self.anchors
            .get_or_init(|| {
                self.message.html_bodies().filter_map(|p| p.text_contents()).flat_map(super::links::anchors).collect()
            })
            .clone()
    }

    /// Every body text of the message, in order ([`crate::html_text::body_text`]: text/plain
    /// as written, text/html rendered; `None` for a body part that is neither), rendered
    /// once for every check that reads them.
    pub fn body_texts(&self) -> std::rc::Rc<[Option<std::borrow::Cow<'m, str>>]> {
        self.body_texts.get_or_init(|| crate::html_text::body_texts(self.message)).clone()
    }

    pub fn add(&mut self, name: &str, score_milli: i32, evidence: impl Into<String>) {
        self.detections.push(Detection { name: name.to_owned(), score_milli, evidence: evidence.into() });
    }

    /// Adds an attribute once.
    pub fn attribute(&mut self, attribute: Attribute) {
        if !self.attributes.contains(&attribute) {
            self.attributes.push(attribute);
        }
    }

    pub fn fired(&self, name: &str) -> bool {
        self.detection(name).is_some()
    }

    /// The first detection of that name so far, for a check that builds on it.
    pub fn detection(&self, name: &str) -> Option<&Detection> {
        self.detections.iter().find(|d| d.name == name)
    }

    /// The first value of a header as text, trimmed (raw, not decoded).
    pub fn header_text(&self, name: &'m str) -> Option<&'m str> {
        self.message.header_raw(name).map(str::trim)
    }

    /// Every value of a header, in order, as raw text (unfolded, not decoded).
    pub fn raw_headers(&self, name: &str) -> Vec<String> {
        self.raw_headers_where(|n| n.eq_ignore_ascii_case(name)).into_iter().map(|(_, v)| v).collect()
    }

    /// The first value of a header as written, nothing trimmed (a value's trailing spaces are
    /// evidence too), each fold (a line break and the indentation after it, however deep)
    /// read as one space.
    pub fn raw_header_as_written(&self, name: &str) -> Option<String> {
        let raw = self.message.raw_message();
        let header = self.message.headers().iter().find(|h| h.name().eq_ignore_ascii_case(name))?;
        let value = String::from_utf8_lossy(crate::raw_header::raw_value(raw, header)?).into_owned();
        let mut out = String::with_capacity(value.len());
        let mut lines = value.split('\n');
        out.push_str(lines.next().unwrap_or("").trim_end_matches('\r'));
        for line in lines {
            let content = line.trim_end_matches('\r').trim_start_matches([' ', '\t']);
            if !content.is_empty() {
                out.push(' ');
                out.push_str(content);
            }
        }
        Some(out)
    }

    /// (name, raw value) of every header whose name `wanted` accepts, in order, unfolded.
    pub fn raw_headers_where(&self, wanted: impl Fn(&str) -> bool) -> Vec<(&'m str, String)> {
        let raw = self.message.raw_message();
        self.message
            .headers()
            .iter()
            .filter(|h| wanted(h.name()))
            .filter_map(|h| Some((h.name(), crate::raw_header::raw_value(raw, h)?)))
            .map(|(n, b)| (n, String::from_utf8_lossy(b).replace(['\r', '\n'], "").trim().to_owned()))
            .collect()
    }

    /// The domain of the first From address, lower case.
    pub fn from_domain(&self) -> Option<String> {
        self.message.from().and_then(|a| a.first()).and_then(|a| a.address()).and_then(super::domain::domain_of)
    }

    /// Whether DKIM (a verified signature of the From's organization) or DMARC vouches for
    /// `from_domain`. Unauthenticated (offline, or no signature), a From is only what the
    /// sender wrote: a forged phish shows the same.
    pub fn vouched_for(&self, from_domain: &str) -> bool {
        self.facts.auth.as_ref().is_some_and(|a| a.vouches_for(from_domain))
    }
}
