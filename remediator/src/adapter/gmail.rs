//! Gmail API: find a message by `rfc822msgid:` and change its labels (`INBOX` removed,
//! `SPAM` or `TRASH` or a quarantine label added), or delete it. [`GmailAdapter`] is a
//! [`MailboxAdapter`] over the same [`HttpTransport`] as Graph's (a domain-wide delegated
//! service account token, `gmail.modify`); unit tested with a scripted transport.

use super::graph::{HttpTransport, Request, encode};
use super::{AdapterError, MailboxAdapter, MoveOutcome};
use proto::RemediationAction;

pub struct GmailAdapter<T> {
    pub transport: T,
    /// The id of the tenant's quarantine label.
    pub quarantine_label: String,
}

impl<T: HttpTransport> MailboxAdapter for GmailAdapter<T> {
    async fn remediate(
        &self,
        mailbox: &str,
        message_id: &str,
        action: RemediationAction,
    ) -> Result<MoveOutcome, AdapterError> {
        super::graph::find_then_act(&self.transport, &find(mailbox, message_id), "messages", "Gmail", action, |id| {
            remediate(mailbox, id, action, &self.quarantine_label)
        })
        .await
    }
}

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

    #[tokio::test]
    async fn the_adapter_finds_then_relabels() {
        use crate::adapter::graph::tests::Scripted;
        let t =
            Scripted::new(vec![(200, serde_json::json!({"messages": [{"id": "18c"}]})), (200, serde_json::json!({}))]);
        let a = GmailAdapter { transport: t, quarantine_label: "Label_9".into() };
        assert!(matches!(
            a.remediate("bob@corp.example", "<m@x>", RemediationAction::Quarantine).await.unwrap(),
            MoveOutcome::Done(_)
        ));
        let sent = a.transport.sent.lock().unwrap().clone();
        assert_eq!(sent[1].body.as_ref().unwrap()["addLabelIds"][0], "Label_9");
        let empty =
            GmailAdapter { transport: Scripted::new(vec![(200, serde_json::json!({}))]), quarantine_label: "L".into() };
        assert_eq!(empty.remediate("b", "<m@x>", RemediationAction::MoveToJunk).await.unwrap(), MoveOutcome::NotFound);
    }
}
