//! The disposition rule: which detections lead to which disposition. One table, read top
//! to bottom; when several rows match, the disposition with the highest precedence wins
//! (MALICIOUS > SUSPICIOUS > SPOOF > SPAM > BULK > NONE). The tenant's policy then has
//! the last word (trusted, blocked, acceptable senders, exempt recipients): see
//! [`crate::policy`].

use crate::analysis::{
    advertisement_label, alignment, attachment_link, attachment_name, attachments, brand_impersonation, bulk,
    callback_lure, content_classifier, disguised_text, from_field, greeting, hidden_text, image_only, impersonation,
    link_hosting, links, lures, new_domain, recipient_in_link, recipient_in_subject, spamassassin_rules,
    url_obfuscation,
};
use crate::combine;
use proto::{Detection, Disposition};

/// Part of every disposition's derived event id: change it whenever a rule or check
/// changes what a message would be given.
pub const RULES_VERSION: &str = "postern-rules/125";

/// Detection name -> the disposition it leads to.
pub const RULES: &[(&str, Disposition)] = &[
    (attachments::EXECUTABLE_ATTACHMENT, Disposition::Malicious),
    (attachments::OFFICE_MACRO, Disposition::Suspicious),
    (links::CREDENTIAL_FORM, Disposition::Suspicious),
    (links::LINK_IP_DECEPTIVE, Disposition::Suspicious),
    (links::GOVERNMENT_LINK_SPOOF, Disposition::Suspicious),
    (links::LINK_TO_MACHINE, Disposition::Suspicious),
    (links::SENDER_LINK_SPOOF, Disposition::Suspicious),
    (attachment_link::FAKE_ATTACHMENT_LINK, Disposition::Suspicious),
    (attachment_name::RANDOM_NAMED_ATTACHMENT, Disposition::Suspicious),
    (links::HOMOGRAPH_URL, Disposition::Suspicious),
    (brand_impersonation::BRAND_LINK_SPOOF, Disposition::Suspicious),
    (brand_impersonation::BRAND_DISPLAY_NAME, Disposition::Suspicious),
    (brand_impersonation::BRAND_SENDER_IP_LINK, Disposition::Suspicious),
    (brand_impersonation::BRAND_SENDER_FOREIGN_LINK, Disposition::Suspicious),
    (brand_impersonation::BRAND_LOOKALIKE_HOST, Disposition::Suspicious),
    (link_hosting::STORAGE_WEB_PAGE, Disposition::Suspicious),
    (lures::BRAND_LURE, Disposition::Suspicious),
    (callback_lure::CALLBACK_LURE, Disposition::Suspicious),
    (brand_impersonation::BRAND_MASKED_NAME, Disposition::Suspicious),
    (link_hosting::HOSTED_LURE, Disposition::Suspicious),
    (link_hosting::LURE_TO_ADDRESS, Disposition::Suspicious),
    (recipient_in_link::RECIPIENT_IN_LINK, Disposition::Suspicious),
    (url_obfuscation::LINK_USER_NAME_AS_HOST, Disposition::Suspicious),
    (new_domain::NEW_DOMAIN_SENDER_STRONG, Disposition::Suspicious),
    (new_domain::NEW_DOMAIN_LINK_STRONG, Disposition::Suspicious),
    (impersonation::BEC_IMPERSONATION, Disposition::Suspicious),
    (impersonation::LOOKALIKE_DOMAIN, Disposition::Suspicious),
    (content_classifier::CONTENT_PHISH, Disposition::Suspicious),
    (combine::COMBINED_PHISH, Disposition::Suspicious),
    (alignment::DMARC_FAIL, Disposition::Spoof),
    (from_field::AMBIGUOUS_FROM, Disposition::Spoof),
    (alignment::FROM_ENVELOPE_MISALIGNED, Disposition::Spoof),
    (alignment::DISPLAY_NAME_ADDRESS, Disposition::Spoof),
    (alignment::REPLY_TO_MISALIGNED, Disposition::Spoof),
    (alignment::DMARC_FAIL_ENFORCED, Disposition::Spam),
    (content_classifier::CONTENT_SPAM, Disposition::Spam),
    (disguised_text::DISGUISED_TEXT, Disposition::Spam),
    (hidden_text::HIDDEN_FILLER_TEXT, Disposition::Spam),
    (image_only::IMAGE_ONLY_LINK, Disposition::Spam),
    (lures::SCAM_LURE, Disposition::Spam),
    (lures::BRAND_GIFT_LURE, Disposition::Spam),
    (spamassassin_rules::SPAMASSASSIN_DECISIVE, Disposition::Spam),
    (advertisement_label::UNSOLICITED_ADVERTISEMENT_LABEL, Disposition::Spam),
    (greeting::GREETING_BY_ADDRESS, Disposition::Spam),
    (recipient_in_subject::RECIPIENT_IN_SUBJECT, Disposition::Spam),
    (combine::COMBINED_SPAM, Disposition::Spam),
    (bulk::LIST_UNSUBSCRIBE, Disposition::Bulk),
    (bulk::PRECEDENCE_BULK, Disposition::Bulk),
    (bulk::ESP_BULK, Disposition::Bulk),
    (advertisement_label::ADVERTISEMENT_LABEL, Disposition::Bulk),
];

pub fn decide(detections: &[Detection]) -> Disposition {
    decide_without(detections, &[])
}

/// The disposition when detections leading to the `ignored` dispositions do not count (an
/// acceptable sender's mail is never SPAM, SPOOF or BULK).
pub fn decide_without(detections: &[Detection], ignored: &[Disposition]) -> Disposition {
    RULES
        .iter()
        .filter(|(_, disposition)| !ignored.contains(disposition))
        .filter(|(name, _)| detections.iter().any(|d| d.name == *name))
        .map(|&(_, disposition)| disposition)
        .min()
        .unwrap_or(Disposition::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(name: &str) -> Detection {
        Detection { name: name.into(), score_milli: 1, evidence: String::new() }
    }

    #[test]
    fn precedence_decides() {
        assert_eq!(decide(&[]), Disposition::None);
        assert_eq!(decide(&[det("unrelated")]), Disposition::None);
        assert_eq!(decide(&[det(bulk::LIST_UNSUBSCRIBE)]), Disposition::Bulk);
        assert_eq!(
            decide(&[det(bulk::LIST_UNSUBSCRIBE), det(alignment::FROM_ENVELOPE_MISALIGNED)]),
            Disposition::Spoof
        );
    }
}
