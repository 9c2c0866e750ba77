//! Microsoft Graph: find a message by its Internet Message-ID in a user's mailbox, then move
//! it (`POST /users/{id}/messages/{message}/microsoft.graph.move` with `DestinationId`, as
//! Graph's metadata names the parameter) or delete it (`microsoft.graph.permanentDelete`).
//! Junk and trash are well-known folder names; a quarantine folder is not (no well-known
//! name exists for it), so it is looked up by its display name among the mailbox's top-level
//! folders and created when missing, and addressed by its id.

use super::{AdapterError, HttpTransport, MailboxAdapter, MoveOutcome, PerMailbox, Request, call, encode, ids};
use proto::RemediationAction;

/// Graph v1.0's address.
pub const GRAPH: &str = "https://graph.microsoft.com/v1.0";

pub struct GraphAdapter<T> {
    pub transport: T,
    /// Graph's address ([`GRAPH`]; a local server in tests).
    pub base: String,
    /// The display name of the quarantine folder (created at the top of a mailbox when
    /// missing).
    pub quarantine_folder: String,
    /// Each mailbox's quarantine folder id, once known.
    folder_ids: PerMailbox,
}

impl<T> GraphAdapter<T> {
    pub fn new(transport: T, base: &str, quarantine_folder: &str) -> Self {
        GraphAdapter {
            transport,
            base: base.trim_end_matches('/').to_owned(),
            quarantine_folder: quarantine_folder.to_owned(),
            folder_ids: PerMailbox::default(),
        }
    }
}

impl<T: HttpTransport> GraphAdapter<T> {
    /// The id of `mailbox`'s quarantine folder, found or created.
    async fn quarantine_id(&self, mailbox: &str) -> Result<String, AdapterError> {
        let find = find_folder(&self.base, mailbox, &self.quarantine_folder);
        let create = create_folder(&self.base, mailbox, &self.quarantine_folder);
        let pick = |found: &serde_json::Value| ids(found, "value").into_iter().next();
        self.folder_ids.found_or_created(&self.transport, mailbox, "quarantine folder", find, pick, create).await
    }
}

impl<T: HttpTransport> MailboxAdapter for GraphAdapter<T> {
    async fn remediate(
        &self,
        mailbox: &str,
        message_id: &str,
        action: RemediationAction,
    ) -> Result<MoveOutcome, AdapterError> {
        let found = call(&self.transport, mailbox, "find", &find(&self.base, mailbox, message_id)).await?;
        let messages = ids(&found, "value");
        if messages.is_empty() {
            return Ok(MoveOutcome::NotFound);
        }
        let destination = match action {
            RemediationAction::HardDelete => None,
            RemediationAction::MoveToJunk => Some("junkemail".to_owned()),
            RemediationAction::MoveToTrash | RemediationAction::SoftDelete => Some("deleteditems".to_owned()),
            RemediationAction::Quarantine => Some(self.quarantine_id(mailbox).await?),
            // A release: back to the inbox, wherever it is now.
            RemediationAction::Restore => Some("inbox".to_owned()),
        };
        for id in &messages {
            let request = match &destination {
                Some(folder) => move_to(&self.base, mailbox, id, folder),
                None => permanent_delete(&self.base, mailbox, id),
            };
            call(&self.transport, mailbox, action.as_str(), &request).await?;
        }
        let place = match action {
            RemediationAction::HardDelete => "deleted permanently".to_owned(),
            RemediationAction::Quarantine => format!("moved to {}", self.quarantine_folder),
            RemediationAction::Restore => "moved back to the inbox".to_owned(),
            _ => format!("moved to {}", destination.unwrap_or_default()),
        };
        Ok(MoveOutcome::Done(format!("{} message(s) {place} through Graph", messages.len())))
    }
}

/// Finds the message: `$filter=internetMessageId eq '<id>'` (quotes doubled, as OData
/// wants), only its id. Every folder of the mailbox is searched.
pub fn find(base: &str, mailbox: &str, message_id: &str) -> Request {
    let filter = format!("internetMessageId eq '{}'", message_id.replace('\'', "''"));
    Request {
        method: "GET",
        url: format!("{base}/users/{}/messages?$filter={}&$select=id", encode(mailbox), encode(&filter)),
        body: None,
    }
}

/// Moves the message Graph calls `graph_id` to `folder` (an id or a well-known name).
pub fn move_to(base: &str, mailbox: &str, graph_id: &str, folder: &str) -> Request {
    Request {
        method: "POST",
        url: format!("{base}/users/{}/messages/{}/microsoft.graph.move", encode(mailbox), encode(graph_id)),
        body: Some(serde_json::json!({ "DestinationId": folder })),
    }
}

/// Deletes the message for good (not recoverable by the user).
pub fn permanent_delete(base: &str, mailbox: &str, graph_id: &str) -> Request {
    Request {
        method: "POST",
        url: format!("{base}/users/{}/messages/{}/microsoft.graph.permanentDelete", encode(mailbox), encode(graph_id)),
        body: None,
    }
}

/// The top-level folder called `name`.
pub fn find_folder(base: &str, mailbox: &str, name: &str) -> Request {
    let filter = format!("displayName eq '{}'", name.replace('\'', "''"));
    Request {
        method: "GET",
        url: format!("{base}/users/{}/mailFolders?$filter={}&$select=id", encode(mailbox), encode(&filter)),
        body: None,
    }
}

/// Creates a top-level folder called `name`.
pub fn create_folder(base: &str, mailbox: &str, name: &str) -> Request {
    Request {
        method: "POST",
        url: format!("{base}/users/{}/mailFolders", encode(mailbox)),
        body: Some(serde_json::json!({ "displayName": name, "isHidden": false })),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A transport that answers from a script and records what it was sent.
    pub struct Scripted {
        pub answers: Mutex<Vec<(u16, serde_json::Value)>>,
        pub sent: Mutex<Vec<Request>>,
    }

    impl Scripted {
        pub fn new(answers: Vec<(u16, serde_json::Value)>) -> Self {
            Scripted { answers: Mutex::new(answers), sent: Mutex::new(Vec::new()) }
        }
    }

    impl HttpTransport for Scripted {
        async fn send(&self, _mailbox: &str, request: &Request) -> Result<(u16, serde_json::Value), AdapterError> {
            self.sent.lock().unwrap().push(request.clone());
            let mut answers = self.answers.lock().unwrap();
            if answers.is_empty() {
                return Err(AdapterError::Temporary("no answer scripted".into()));
            }
            Ok(answers.remove(0))
        }
    }

    fn adapter(answers: Vec<(u16, serde_json::Value)>) -> GraphAdapter<Scripted> {
        GraphAdapter::new(Scripted::new(answers), GRAPH, "Quarantine")
    }

    #[tokio::test]
    async fn the_adapter_finds_then_moves_and_maps_answers() {
        let a = adapter(vec![(200, serde_json::json!({"value": [{"id": "AAMk"}]})), (201, serde_json::json!({}))]);
        let out = a.remediate("bob@corp.example", "<m@x>", RemediationAction::MoveToJunk).await.unwrap();
        assert!(matches!(out, MoveOutcome::Done(_)));
        let sent = a.transport.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        assert!(sent[1].url.ends_with("/messages/AAMk/microsoft.graph.move"));
        let none = adapter(vec![(200, serde_json::json!({"value": []}))]);
        assert_eq!(none.remediate("b", "<m@x>", RemediationAction::MoveToJunk).await.unwrap(), MoveOutcome::NotFound);
        let unavailable = adapter(vec![(500, serde_json::json!({}))]);
        assert!(matches!(
            unavailable.remediate("b", "<m@x>", RemediationAction::MoveToJunk).await,
            Err(AdapterError::Temporary(_))
        ));
        let forbidden = adapter(vec![(403, serde_json::json!({"error": {"message": "Access is denied"}}))]);
        match forbidden.remediate("b", "<m@x>", RemediationAction::MoveToJunk).await {
            Err(AdapterError::Permanent(m)) => assert!(m.contains("Access is denied")),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn quarantine_finds_or_creates_its_folder_once_per_mailbox() {
        let a = adapter(vec![
            (200, serde_json::json!({"value": [{"id": "m1"}]})),
            (200, serde_json::json!({"value": []})),
            (201, serde_json::json!({"id": "F-Q", "displayName": "Quarantine"})),
            (201, serde_json::json!({"id": "m1"})),
            (200, serde_json::json!({"value": [{"id": "m2"}]})),
            (201, serde_json::json!({"id": "m2"})),
        ]);
        for m in ["<1@x>", "<2@x>"] {
            assert!(matches!(
                a.remediate("bob@corp.example", m, RemediationAction::Quarantine).await,
                Ok(MoveOutcome::Done(_))
            ));
        }
        let sent = a.transport.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 6, "{sent:?}");
        assert_eq!(sent[2].method, "POST");
        assert!(sent[2].url.ends_with("/users/bob%40corp.example/mailFolders"));
        assert_eq!(sent[3].body, Some(serde_json::json!({"DestinationId": "F-Q"})));
        assert_eq!(sent[5].body, Some(serde_json::json!({"DestinationId": "F-Q"})));
    }

    #[test]
    fn requests_have_the_shapes_graph_takes() {
        let f = find(GRAPH, "bob@corp.example", "<o'brien@x.example>");
        assert_eq!(f.method, "GET");
        assert_eq!(
            f.url,
            "https://graph.microsoft.com/v1.0/users/bob%40corp.example/messages?$filter=internetMessageId%20eq%20%27%3Co%27%27brien%40x.example%3E%27&$select=id"
        );
        let m = move_to(GRAPH, "bob@corp.example", "AAMk=", "junkemail");
        assert_eq!(
            m.url,
            "https://graph.microsoft.com/v1.0/users/bob%40corp.example/messages/AAMk%3D/microsoft.graph.move"
        );
        assert_eq!(m.body, Some(serde_json::json!({"DestinationId": "junkemail"})));
        let d = permanent_delete(GRAPH, "b", "i");
        assert!(d.url.ends_with("/messages/i/microsoft.graph.permanentDelete") && d.body.is_none());
    }
}
