//! Gmail API: find a message by `rfc822msgid:` and change its labels (`INBOX` removed,
//! `SPAM` or `TRASH` or a quarantine label added), or delete it. Built here, sent with a
//! domain-wide delegated service account token (`gmail.modify`); unit tested for shape.

use super::graph::{Request, encode};
use proto::RemediationAction;

pub const GMAIL: &str = "https://gmail.googleapis.com/gmail/v1";

pub fn find(mailbox: &str, message_id: &str) -> Request {
    let q = format!("rfc822msgid:{}", message_id.trim_matches(['<', '>']));
    Request { method: "GET", url: format!("{GMAIL}/users/{}/messages?q={}", encode(mailbox), encode(&q)), body: None }
}

/// `quarantine_label`: the id of the tenant's quarantine label.
pub fn remediate(mailbox: &str, gmail_id: &str, action: RemediationAction, quarantine_label: &str) -> Request {
    let base = format!("{GMAIL}/users/{}/messages/{}", encode(mailbox), encode(gmail_id));
    let modify = |add: &str| Request {
        method: "POST",
        url: format!("{base}/modify"),
        body: Some(serde_json::json!({ "addLabelIds": [add], "removeLabelIds": ["INBOX"] })),
    };
    match action {
        RemediationAction::MoveToJunk => modify("SPAM"),
        RemediationAction::Quarantine => modify(quarantine_label),
        RemediationAction::MoveToTrash | RemediationAction::SoftDelete => {
            Request { method: "POST", url: format!("{base}/trash"), body: None }
        }
        RemediationAction::HardDelete => Request { method: "DELETE", url: base, body: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_shapes_gmail_takes() {
        let f = find("bob@corp.example", "<abc@x.example>");
        assert_eq!(
            f.url,
            "https://gmail.googleapis.com/gmail/v1/users/bob%40corp.example/messages?q=rfc822msgid%3Aabc%40x.example"
        );
        let j = remediate("bob@corp.example", "18c", RemediationAction::MoveToJunk, "Label_9");
        assert_eq!(j.url, "https://gmail.googleapis.com/gmail/v1/users/bob%40corp.example/messages/18c/modify");
        assert_eq!(j.body.unwrap(), serde_json::json!({"addLabelIds": ["SPAM"], "removeLabelIds": ["INBOX"]}));
        assert_eq!(
            remediate("b", "1", RemediationAction::Quarantine, "Label_9").body.unwrap()["addLabelIds"][0],
            "Label_9"
        );
        assert!(remediate("b", "1", RemediationAction::SoftDelete, "L").url.ends_with("/trash"));
        assert_eq!(remediate("b", "1", RemediationAction::HardDelete, "L").method, "DELETE");
    }
}
