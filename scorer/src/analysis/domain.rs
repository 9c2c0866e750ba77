//! Domain helpers: the domain of an address and a domain's organizational domain.
//!
//! The organizational domain here is an approximation of the Public Suffix List: the last
//! two labels, or three where the second-level label is a common registry suffix under a
//! two-letter country code (`example.co.uk`). It errs towards treating domains as related.

/// The lower-cased domain of an address (`Name <user@Example.COM>` -> `example.com`).
pub fn domain_of(address: &str) -> Option<String> {
    let address = address.trim();
    let inner = match (address.rfind('<'), address.rfind('>')) {
        (Some(a), Some(b)) if a < b => &address[a + 1..b],
        _ => address,
    };
    let (_, domain) = inner.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.').to_lowercase();
    (!domain.is_empty() && !domain.contains(char::is_whitespace)).then_some(domain)
}

const SECOND_LEVEL: [&str; 12] = ["co", "com", "net", "org", "gov", "gob", "gouv", "ac", "edu", "ne", "or", "go"];

pub fn organizational_domain(domain: &str) -> &str {
    // Read from the end, without splitting the whole name: it runs for every brand domain
    // against every host of a message.
    let mut dots = domain.rmatch_indices('.').map(|(at, _)| at);
    let (Some(last), Some(second)) = (dots.next(), dots.next()) else { return domain };
    let tld = &domain[last + 1..];
    let sld = &domain[second + 1..last];
    if !(tld.len() == 2 && SECOND_LEVEL.contains(&sld)) {
        return &domain[second + 1..];
    }
    dots.next().map_or(domain, |third| &domain[third + 1..])
}

/// Whether `name` is `domain` itself or a name under it (`mail.example.com` under
/// `example.com`; not `badexample.com`), without building the `.domain` suffix.
pub fn is_within(name: &str, domain: &str) -> bool {
    name.strip_suffix(domain).is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

/// DMARC relaxed alignment: the two domains share an organizational domain.
pub fn aligned(a: &str, b: &str) -> bool {
    organizational_domain(a) == organizational_domain(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn government_suffixes_are_registries() {
        assert_eq!(organizational_domain("www.interior.gob.es"), "interior.gob.es");
        assert!(!aligned("interior.gob.es", "agenciatributaria.gob.es"));
        assert_eq!(organizational_domain("impots.gouv.fr"), "impots.gouv.fr");
    }

    #[test]
    fn domains_of_addresses() {
        assert_eq!(domain_of("Alice <Alice@Mail.Example.COM>").as_deref(), Some("mail.example.com"));
        assert_eq!(domain_of("bob@example.org").as_deref(), Some("example.org"));
        assert_eq!(domain_of("no-at-sign"), None);
        assert_eq!(domain_of(""), None);
    }

    #[test]
    fn organizational_domains() {
        assert_eq!(organizational_domain("mail.example.com"), "example.com");
        assert_eq!(organizational_domain("example.com"), "example.com");
        assert_eq!(organizational_domain("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(organizational_domain("localhost"), "localhost");
        assert_eq!(organizational_domain("example.co.uk"), "example.co.uk");
        assert_eq!(organizational_domain("co.uk"), "co.uk");
        assert_eq!(organizational_domain("www.example.co"), "example.co");
        assert_eq!(organizational_domain(""), "");
        assert!(aligned("bounces.example.com", "example.com"));
        assert!(is_within("example.com", "example.com") && is_within("mail.example.com", "example.com"));
        assert!(!is_within("badexample.com", "example.com") && !is_within("example.com", "mail.example.com"));
        assert!(!aligned("example.net", "example.com"));
    }
}
