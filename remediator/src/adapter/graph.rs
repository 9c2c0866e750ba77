//! Microsoft Graph: the requests that find a message by its Internet Message-ID in a
//! user's mailbox and move it (`POST /users/{id}/messages/{message}/move` with a
//! well-known folder name) or delete it. [`GraphAdapter`] is a [`MailboxAdapter`] over an
//! [`HttpTransport`] (the HTTP client with an application token, `Mail.ReadWrite`); no test
//! here can reach Graph, so the requests and the answers' handling are what is tested.

use super::{AdapterError, MailboxAdapter, MoveOutcome, target_folder};
use proto::RemediationAction;

/// Sends a request and returns the status and the JSON body (null when empty).
#[allow(async_fn_in_trait)]
pub trait HttpTransport {
    async fn send(&self, request: &Request) -> Result<(u16, serde_json::Value), AdapterError>;
}

/// Maps an HTTP status to an adapter error (None: success).
pub fn status_error(status: u16, what: &str, body: &serde_json::Value) -> Option<AdapterError> {
    let detail = || format!("{what}: HTTP {status}: {}", body["error"]["message"].as_str().unwrap_or(""));
    match status {
        200..=299 => None,
        408 | 429 | 500..=599 => Some(AdapterError::Temporary(detail())),
        _ => Some(AdapterError::Permanent(detail())),
    }
}

pub struct GraphAdapter<T> {
    pub transport: T,
}

impl<T: HttpTransport> MailboxAdapter for GraphAdapter<T> {
    async fn remediate(
        &self,
        mailbox: &str,
        message_id: &str,
        action: RemediationAction,
    ) -> Result<MoveOutcome, AdapterError> {
        find_then_act(&self.transport, &find(mailbox, message_id), "value", "Graph", action, |id| {
            remediate(mailbox, id, action)
        })
        .await
    }
}

/// The shape both HTTP APIs share: one request lists the matching messages (their ids in
/// `list[].id`), then one request per message acts on it.
pub(crate) async fn find_then_act(
    transport: &impl HttpTransport,
    find: &Request,
    list: &str,
    service: &str,
    action: RemediationAction,
    act: impl Fn(&str) -> Request,
) -> Result<MoveOutcome, AdapterError> {
    let (status, body) = transport.send(find).await?;
    if let Some(e) = status_error(status, "find", &body) {
        return Err(e);
    }
    let ids: Vec<String> =
        body[list].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect();
    if ids.is_empty() {
        return Ok(MoveOutcome::NotFound);
    }
    for id in &ids {
        let (status, body) = transport.send(&act(id)).await?;
        if let Some(e) = status_error(status, action.as_str(), &body) {
            return Err(e);
        }
    }
    Ok(MoveOutcome::Done(format!("{} {} message(s) through {service}", action.as_str(), ids.len())))
}

pub const GRAPH: &str = "https://graph.microsoft.com/v1.0";

/// One HTTP request, as an HTTP client would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub body: Option<serde_json::Value>,
}

/// Percent-encodes for a URL path segment or query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Finds the message: `$filter=internetMessageId eq '<id>'` (quotes doubled, as OData
/// wants), only its id.
pub fn find(mailbox: &str, message_id: &str) -> Request {
    let filter = format!("internetMessageId eq '{}'", message_id.replace('\'', "''"));
    Request {
        method: "GET",
        url: format!("{GRAPH}/users/{}/messages?$filter={}&$select=id", encode(mailbox), encode(&filter)),
        body: None,
    }
}

/// Moves (or, for a hard delete, permanently deletes) the message Graph calls `graph_id`.
pub fn remediate(mailbox: &str, graph_id: &str, action: RemediationAction) -> Request {
    let base = format!("{GRAPH}/users/{}/messages/{}", encode(mailbox), encode(graph_id));
    match (action, target_folder(action)) {
        (RemediationAction::HardDelete, _) | (_, None) => {
            Request { method: "POST", url: format!("{base}/permanentDelete"), body: None }
        }
        (RemediationAction::MoveToTrash | RemediationAction::SoftDelete, _) => Request {
            method: "POST",
            url: format!("{base}/move"),
            body: Some(serde_json::json!({ "destinationId": "deleteditems" })),
        },
        (RemediationAction::MoveToJunk, _) => Request {
            method: "POST",
            url: format!("{base}/move"),
            body: Some(serde_json::json!({ "destinationId": "junkemail" })),
        },
        // No well-known quarantine folder in a user's mailbox: a folder the tenant creates.
        (RemediationAction::Quarantine, Some(folder)) => Request {
            method: "POST",
            url: format!("{base}/move"),
            body: Some(serde_json::json!({ "destinationId": folder })),
        },
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
        async fn send(&self, request: &Request) -> Result<(u16, serde_json::Value), AdapterError> {
            self.sent.lock().unwrap().push(request.clone());
            let mut answers = self.answers.lock().unwrap();
            if answers.is_empty() {
                return Err(AdapterError::Temporary("no answer scripted".into()));
            }
            Ok(answers.remove(0))
        }
    }

    #[tokio::test]
    async fn the_adapter_finds_then_moves_and_maps_answers() {
        let t =
            Scripted::new(vec![(200, serde_json::json!({"value": [{"id": "AAMk"}]})), (201, serde_json::json!({}))]);
        let a = GraphAdapter { transport: t };
        let out = a.remediate("bob@corp.example", "<m@x>", RemediationAction::Quarantine).await.unwrap();
        assert!(matches!(out, MoveOutcome::Done(_)));
        let sent = a.transport.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        assert!(sent[1].url.ends_with("/messages/AAMk/move"));
        let none = GraphAdapter { transport: Scripted::new(vec![(200, serde_json::json!({"value": []}))]) };
        assert_eq!(none.remediate("b", "<m@x>", RemediationAction::MoveToJunk).await.unwrap(), MoveOutcome::NotFound);
        let throttled = GraphAdapter { transport: Scripted::new(vec![(429, serde_json::json!({}))]) };
        assert!(matches!(
            throttled.remediate("b", "<m@x>", RemediationAction::MoveToJunk).await,
            Err(AdapterError::Temporary(_))
        ));
        let forbidden = GraphAdapter {
            transport: Scripted::new(vec![(403, serde_json::json!({"error": {"message": "Access is denied"}}))]),
        };
        match forbidden.remediate("b", "<m@x>", RemediationAction::MoveToJunk).await {
            Err(AdapterError::Permanent(m)) => assert!(m.contains("Access is denied")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_have_the_shapes_graph_takes() {
        let f = find("bob@corp.example", "<o'brien@x.example>");
        assert_eq!(f.method, "GET");
        assert_eq!(
            f.url,
            "https://graph.microsoft.com/v1.0/users/bob%40corp.example/messages?$filter=internetMessageId%20eq%20%27%3Co%27%27brien%40x.example%3E%27&$select=id"
        );
        let m = remediate("bob@corp.example", "AAMk=", RemediationAction::MoveToJunk);
        assert_eq!(m.url, "https://graph.microsoft.com/v1.0/users/bob%40corp.example/messages/AAMk%3D/move");
        assert_eq!(m.body, Some(serde_json::json!({"destinationId": "junkemail"})));
        assert_eq!(remediate("b", "i", RemediationAction::SoftDelete).body.unwrap()["destinationId"], "deleteditems");
        assert_eq!(remediate("b", "i", RemediationAction::Quarantine).body.unwrap()["destinationId"], "Quarantine");
        let d = remediate("b", "i", RemediationAction::HardDelete);
        assert!(d.url.ends_with("/messages/i/permanentDelete") && d.body.is_none());
    }
}
