//! Gmail API: find a message by `rfc822msgid:` and change its labels (`INBOX` removed,
//! `SPAM` or a quarantine label added), trash it, or delete it. The quarantine label is
//! looked up by name among the user's labels and created when missing. Requests go out as
//! the mailbox's user (a domain-wide delegated service account signs in as each user).

use super::{AdapterError, HttpTransport, MailboxAdapter, MoveOutcome, PerMailbox, Request, call, encode, ids};
use proto::RemediationAction;

/// Gmail's address; paths start with `gmail/v1/`.
pub const GMAIL: &str = "https://gmail.googleapis.com";

pub struct GmailAdapter<T> {
    pub transport: T,
    /// Gmail's address ([`GMAIL`]; a local server in tests).
    pub base: String,
    /// The name of the quarantine label (created when missing).
    pub quarantine_label: String,
    /// Each mailbox's quarantine label id, once known.
    label_ids: PerMailbox,
}

impl<T> GmailAdapter<T> {
    pub fn new(transport: T, base: &str, quarantine_label: &str) -> Self {
        GmailAdapter {
            transport,
            base: base.trim_end_matches('/').to_owned(),
            quarantine_label: quarantine_label.to_owned(),
            label_ids: PerMailbox::default(),
        }
    }
}

impl<T: HttpTransport> GmailAdapter<T> {
    /// The id of the quarantine label in a `labels.list` answer.
    fn pick_quarantine(&self, labels: &serde_json::Value) -> Option<String> {
        let mut all = labels["labels"].as_array().into_iter().flatten();
        all.find(|l| l["name"].as_str() == Some(self.quarantine_label.as_str()))
            .and_then(|l| l["id"].as_str().map(str::to_owned))
    }

    /// The id of `mailbox`'s quarantine label, found or created.
    async fn quarantine_id(&self, mailbox: &str) -> Result<String, AdapterError> {
        let (find, create) =
            (list_labels(&self.base, mailbox), create_label(&self.base, mailbox, &self.quarantine_label));
        let pick = |labels: &serde_json::Value| self.pick_quarantine(labels);
        self.label_ids.found_or_created(&self.transport, mailbox, "quarantine label", find, pick, create).await
    }

    /// The id of `mailbox`'s quarantine label when it has one (a release takes it off; it
    /// need not create one to do so).
    async fn existing_quarantine_id(&self, mailbox: &str) -> Result<Option<String>, AdapterError> {
        let pick = |labels: &serde_json::Value| self.pick_quarantine(labels);
        self.label_ids.found(&self.transport, mailbox, "quarantine label", list_labels(&self.base, mailbox), pick).await
    }
}

impl<T: HttpTransport> MailboxAdapter for GmailAdapter<T> {
    async fn remediate(
        &self,
        mailbox: &str,
        message_id: &str,
        action: RemediationAction,
    ) -> Result<MoveOutcome, AdapterError> {
        let found = call(&self.transport, mailbox, "find", &find(&self.base, mailbox, message_id)).await?;
        let messages = ids(&found, "messages");
        if messages.is_empty() {
            return Ok(MoveOutcome::NotFound);
        }
        let label = match action {
            RemediationAction::Quarantine => Some(self.quarantine_id(mailbox).await?),
            RemediationAction::Restore => self.existing_quarantine_id(mailbox).await?,
            RemediationAction::MoveToJunk => Some("SPAM".to_owned()),
            _ => None,
        };
        for id in &messages {
            if action == RemediationAction::Restore {
                // Out of the trash first (a no-op for a message that is not there).
                call(&self.transport, mailbox, "untrash", &untrash(&self.base, mailbox, id)).await?;
            }
            call(
                &self.transport,
                mailbox,
                action.as_str(),
                &remediate(&self.base, mailbox, id, action, label.as_deref()),
            )
            .await?;
        }
        let place = match action {
            RemediationAction::Quarantine => format!("labelled {}", self.quarantine_label),
            RemediationAction::MoveToJunk => "labelled SPAM".to_owned(),
            RemediationAction::MoveToTrash | RemediationAction::SoftDelete => "trashed".to_owned(),
            RemediationAction::HardDelete => "deleted permanently".to_owned(),
            RemediationAction::Restore => "back in INBOX".to_owned(),
        };
        Ok(MoveOutcome::Done(format!("{} message(s) {place} through Gmail", messages.len())))
    }
}

/// Finds the message by its Message-ID, spam and trash included (a message an earlier
/// attempt moved is found there, and acting on it again changes nothing).
pub fn find(base: &str, mailbox: &str, message_id: &str) -> Request {
    let q = format!("rfc822msgid:{}", message_id.trim_matches(['<', '>']));
    Request {
        method: "GET",
        url: format!("{base}/gmail/v1/users/{}/messages?q={}&includeSpamTrash=true", encode(mailbox), encode(&q)),
        body: None,
    }
}

/// The request that carries out `action` on the message Gmail calls `gmail_id`; `label` is
/// the label a move adds (SPAM, or the quarantine label's id), or, for a release, the
/// quarantine label's id that it takes off with SPAM.
pub fn remediate(base: &str, mailbox: &str, gmail_id: &str, action: RemediationAction, label: Option<&str>) -> Request {
    let message = format!("{base}/gmail/v1/users/{}/messages/{}", encode(mailbox), encode(gmail_id));
    match (action, label) {
        (RemediationAction::MoveToJunk | RemediationAction::Quarantine, Some(label)) => Request {
            method: "POST",
            url: format!("{message}/modify"),
            body: Some(serde_json::json!({ "addLabelIds": [label], "removeLabelIds": ["INBOX"] })),
        },
        (RemediationAction::Restore, label) => {
            let mut off = vec!["SPAM"];
            off.extend(label);
            Request {
                method: "POST",
                url: format!("{message}/modify"),
                body: Some(serde_json::json!({ "addLabelIds": ["INBOX"], "removeLabelIds": off })),
            }
        }
        (RemediationAction::HardDelete, _) => Request { method: "DELETE", url: message, body: None },
        _ => Request { method: "POST", url: format!("{message}/trash"), body: None },
    }
}

/// Takes the message out of the trash.
pub fn untrash(base: &str, mailbox: &str, gmail_id: &str) -> Request {
    Request {
        method: "POST",
        url: format!("{base}/gmail/v1/users/{}/messages/{}/untrash", encode(mailbox), encode(gmail_id)),
        body: None,
    }
}

pub fn list_labels(base: &str, mailbox: &str) -> Request {
    Request { method: "GET", url: format!("{base}/gmail/v1/users/{}/labels", encode(mailbox)), body: None }
}

pub fn create_label(base: &str, mailbox: &str, name: &str) -> Request {
    Request {
        method: "POST",
        url: format!("{base}/gmail/v1/users/{}/labels", encode(mailbox)),
        body: Some(
            serde_json::json!({ "name": name, "labelListVisibility": "labelShow", "messageListVisibility": "show" }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::graph::tests::Scripted;

    #[test]
    fn requests_have_the_shapes_gmail_takes() {
        let f = find(GMAIL, "bob@corp.example", "<abc@x.example>");
        assert_eq!(
            f.url,
            "https://gmail.googleapis.com/gmail/v1/users/bob%40corp.example/messages?q=rfc822msgid%3Aabc%40x.example&includeSpamTrash=true"
        );
        let j = remediate(GMAIL, "bob@corp.example", "18c", RemediationAction::MoveToJunk, Some("SPAM"));
        assert_eq!(j.url, "https://gmail.googleapis.com/gmail/v1/users/bob%40corp.example/messages/18c/modify");
        assert_eq!(j.body.unwrap(), serde_json::json!({"addLabelIds": ["SPAM"], "removeLabelIds": ["INBOX"]}));
        assert!(remediate(GMAIL, "b", "1", RemediationAction::SoftDelete, None).url.ends_with("/trash"));
        assert_eq!(remediate(GMAIL, "b", "1", RemediationAction::HardDelete, None).method, "DELETE");
    }

    #[tokio::test]
    async fn the_adapter_finds_then_relabels_creating_the_quarantine_label() {
        let t = Scripted::new(vec![
            (200, serde_json::json!({"messages": [{"id": "18c", "threadId": "18c"}]})),
            (200, serde_json::json!({"labels": [{"id": "INBOX", "name": "INBOX"}]})),
            (200, serde_json::json!({"id": "Label_9", "name": "Quarantine"})),
            (200, serde_json::json!({"id": "18c"})),
        ]);
        let a = GmailAdapter::new(t, GMAIL, "Quarantine");
        assert!(matches!(
            a.remediate("bob@corp.example", "<m@x>", RemediationAction::Quarantine).await.unwrap(),
            MoveOutcome::Done(_)
        ));
        let sent = a.transport.sent.lock().unwrap().clone();
        assert_eq!(sent[2].body.as_ref().unwrap()["name"], "Quarantine");
        assert_eq!(sent[3].body.as_ref().unwrap()["addLabelIds"][0], "Label_9");
        let empty =
            GmailAdapter::new(Scripted::new(vec![(200, serde_json::json!({"resultSizeEstimate": 0}))]), GMAIL, "Q");
        assert_eq!(empty.remediate("b", "<m@x>", RemediationAction::MoveToJunk).await.unwrap(), MoveOutcome::NotFound);
    }
}
