//! Which tenant a journal address delivers to: exact addresses first, then patterns such
//! as `{tenant}@journal.example.com`, where the local part names the tenant.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Tenancy {
    /// Lower-case address -> tenant.
    addresses: BTreeMap<String, String>,
    /// Lower-case domains of `{tenant}@domain` patterns.
    pattern_domains: Vec<String>,
    /// Lower-case submission address -> (tenant, what users report there).
    submissions: BTreeMap<String, (String, proto::SubmittedAs)>,
}

/// Where a recipient address delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub tenant: String,
    /// A submission address: users report messages there. None: a journal address.
    pub submission: Option<proto::SubmittedAs>,
}

pub const TENANT_PLACEHOLDER: &str = "{tenant}";

/// A journal pattern that is not `{tenant}@domain`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal pattern {0:?}: expected {TENANT_PLACEHOLDER}@domain")]
pub struct BadJournalPattern(pub String);

impl Tenancy {
    /// Builds the lookup; addresses must be lower-case, tenants valid, patterns of the form
    /// `{tenant}@domain`.
    pub fn new(addresses: BTreeMap<String, String>, patterns: &[String]) -> Result<Self, BadJournalPattern> {
        let mut pattern_domains = Vec::new();
        for p in patterns {
            let domain = p
                .trim()
                .to_lowercase()
                .strip_prefix(&format!("{TENANT_PLACEHOLDER}@"))
                .map(str::to_owned)
                .filter(|d| !d.is_empty() && !d.contains(['@', '{', '}']))
                .ok_or_else(|| BadJournalPattern(p.clone()))?;
            pattern_domains.push(domain);
        }
        Ok(Tenancy { addresses, pattern_domains, submissions: BTreeMap::new() })
    }

    /// With the tenants' submission addresses (lower-case).
    pub fn with_submissions(mut self, submissions: BTreeMap<String, (String, proto::SubmittedAs)>) -> Self {
        self.submissions = submissions;
        self
    }

    /// Where `address` delivers: a submission address, else a journal address.
    pub fn route_for(&self, address: &str) -> Option<Route> {
        let normalized = address.trim().to_lowercase();
        if let Some((tenant, kind)) = self.submissions.get(&normalized) {
            return Some(Route { tenant: tenant.clone(), submission: Some(*kind) });
        }
        self.tenant_for(&normalized).map(|tenant| Route { tenant, submission: None })
    }

    pub fn tenant_for(&self, address: &str) -> Option<String> {
        let address = address.trim().to_lowercase();
        if let Some(t) = self.addresses.get(&address) {
            return Some(t.clone());
        }
        let (local, domain) = address.rsplit_once('@')?;
        if self.pattern_domains.iter().any(|d| d == domain) && proto::TenantId::customer(local).is_ok() {
            return Some(local.to_owned());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_then_patterns() {
        let t = Tenancy::new(
            BTreeMap::from([("journal@postern.localhost".into(), "default".into())]),
            &["{tenant}@journal.example.com".into()],
        )
        .unwrap();
        assert_eq!(t.tenant_for("Journal@Postern.Localhost").as_deref(), Some("default"));
        assert_eq!(t.tenant_for("acme-corp@journal.example.com").as_deref(), Some("acme-corp"));
        assert_eq!(t.tenant_for("Acme@Journal.Example.com").as_deref(), Some("acme"));
        assert_eq!(t.tenant_for("bad.name@journal.example.com"), None);
        assert_eq!(t.tenant_for("_shared@journal.example.com"), None, "a reserved name is no tenant");
        assert_eq!(t.tenant_for("acme@other.example.com"), None);
        assert!(Tenancy::new(BTreeMap::new(), &["x@journal.example.com".into()]).is_err());
        assert!(Tenancy::new(BTreeMap::new(), &["{tenant}@".into()]).is_err());
    }
}
