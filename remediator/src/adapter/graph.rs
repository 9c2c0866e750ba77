//! Microsoft Graph: the requests that find a message by its Internet Message-ID in a
//! user's mailbox and move it (`POST /users/{id}/messages/{message}/move` with a
//! well-known folder name) or delete it. Built here, sent by an HTTP client with an
//! application token (`Mail.ReadWrite`); no test here can reach Graph, so the shapes are
//! what is tested.

use super::target_folder;
use proto::RemediationAction;

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
mod tests {
    use super::*;

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
