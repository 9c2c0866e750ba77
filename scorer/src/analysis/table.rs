//! The data tables the checks read (`scorer/data/*.tsv`): one row a line, columns
//! separated by tabs, `#` comment lines and blank lines skipped.

/// The rows of a table, each split into its trimmed columns.
pub fn rows(text: &str) -> impl Iterator<Item = Vec<&str>> + '_ {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::trim).collect())
}

/// A table of hosts, each with a second column (a kind, a name): rows `host<TAB>value`,
/// hosts lower case.
pub fn host_rows(text: &str) -> Vec<(String, String)> {
    rows(text).filter_map(|c| Some((c.first()?.to_ascii_lowercase(), c.get(1).unwrap_or(&"").to_string()))).collect()
}

/// The value of the row `host` falls under: the host itself or a subdomain of the entry.
pub fn host_entry<'t>(table: &'t [(String, String)], host: &str) -> Option<&'t str> {
    let host = host.to_ascii_lowercase();
    table.iter().find(|(entry, _)| super::domain::is_within(&host, entry)).map(|(_, value)| value.as_str())
}

/// Test support: the detections one check adds to a message.
#[cfg(test)]
pub fn detections_of(raw: &str, check: fn(&mut super::ScoreContext<'_>)) -> Vec<proto::Detection> {
    detections_with(raw, &super::MessageFacts::default(), check)
}

/// Test support: the detections one check adds to a message scored for a tenant whose
/// policy is `policy_toml`.
#[cfg(test)]
pub fn detections_for_tenant(
    raw: &str,
    policy_toml: &str,
    check: fn(&mut super::ScoreContext<'_>),
) -> Vec<proto::Detection> {
    use crate::policy::PolicyFile;
    let policy = crate::policy::TenantPolicy::from_toml(policy_toml).expect("a test policy parses");
    let facts = super::MessageFacts {
        policy: Some(std::sync::Arc::new(policy.compile().expect("a test policy compiles"))),
        ..Default::default()
    };
    detections_with(raw, &facts, check)
}

/// Test support: the detections one check adds to a message whose DKIM signature of
/// `dkim_domain` verified.
#[cfg(test)]
pub fn detections_signed(
    raw: &str,
    dkim_domain: &str,
    check: fn(&mut super::ScoreContext<'_>),
) -> Vec<proto::Detection> {
    let facts = super::MessageFacts {
        auth: Some(crate::auth::AuthResults {
            dkim: vec![crate::auth::DkimCheck {
                domain: dkim_domain.into(),
                outcome: crate::auth::Outcome::Pass,
                reason: None,
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    detections_with(raw, &facts, check)
}

/// The detections `check` adds to `raw` scored with `facts`.
#[cfg(test)]
fn detections_with(
    raw: &str,
    facts: &super::MessageFacts,
    check: fn(&mut super::ScoreContext<'_>),
) -> Vec<proto::Detection> {
    let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).expect("a test message parses");
    let mut ctx = super::ScoreContext::new(&message, facts);
    check(&mut ctx);
    ctx.detections
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_match_themselves_and_their_subdomains_only() {
        let table = super::host_rows("# h\nweb.app\tfree_hosting\nExample.COM\tx\n");
        assert_eq!(super::host_entry(&table, "login.web.app"), Some("free_hosting"));
        assert_eq!(super::host_entry(&table, "WEB.APP"), Some("free_hosting"));
        assert_eq!(super::host_entry(&table, "notweb.app"), None);
        assert_eq!(super::host_entry(&table, "a.example.com"), Some("x"));
        assert_eq!(super::host_entry(&table, "example.com.evil.example"), None);
    }

    #[test]
    fn no_data_table_repeats_a_row() {
        let tables = [
            ("scam_phrases.tsv", include_str!("../../data/scam_phrases.tsv")),
            ("lures.tsv", include_str!("../../data/lures.tsv")),
            ("greetings.tsv", include_str!("../../data/greetings.tsv")),
            ("greeting_addressees.tsv", include_str!("../../data/greeting_addressees.tsv")),
            ("brands.tsv", include_str!("../../data/brands.tsv")),
            ("link_hosts.tsv", include_str!("../../data/link_hosts.tsv")),
            ("link_rewriters.tsv", include_str!("../../data/link_rewriters.tsv")),
            ("government_domains.tsv", include_str!("../../data/government_domains.tsv")),
            ("abused_tlds.tsv", include_str!("../../data/abused_tlds.tsv")),
            ("advertisement_labels.tsv", include_str!("../../data/advertisement_labels.tsv")),
            ("attachment_types.tsv", include_str!("../../data/attachment_types.tsv")),
            ("brand_sender_words.tsv", include_str!("../../data/brand_sender_words.tsv")),
            ("mailbox_providers.tsv", include_str!("../../data/mailbox_providers.tsv")),
            ("callback_lures.tsv", include_str!("../../data/callback_lures.tsv")),
        ];
        for (name, text) in tables {
            let mut seen = std::collections::HashSet::new();
            for row in super::rows(text) {
                let key = row.join("\t").to_lowercase();
                assert!(seen.insert(key.clone()), "{name} repeats the row {key:?}");
            }
        }
    }

    #[test]
    fn rows_skip_comments_and_blank_lines() {
        let rows: Vec<Vec<&str>> = super::rows("# head\n\na\tb \n  # more\nc\n").collect();
        assert_eq!(rows, vec![vec!["a", "b"], vec!["c"]]);
    }
}
