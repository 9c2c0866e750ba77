//! Mailbox adapters: how one message is moved out of one mailbox. The worker speaks only
//! to [`MailboxAdapter`]: IMAP (tested against a real Dovecot), Microsoft Graph and Gmail
//! (over [`http::ApiClient`], signed in as [`signin`] describes; tested against a local
//! server that answers as the services' published API descriptions say, since no test here
//! can reach the services).

pub mod gmail;
pub mod graph;
pub mod http;
pub mod imap;
pub mod signin;

use proto::RemediationAction;

/// What happened in the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// Moved (or deleted); `detail` says where.
    Done(String),
    /// No message with that Message-ID in the inbox, nor in the folder the action moves to
    /// (deleted, or moved elsewhere by the user). A message already in that folder (an
    /// earlier attempt moved it and was stopped before it recorded the outcome) is `Done`.
    NotFound,
}

#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// Worth trying again later (connection refused, timeout, server busy).
    #[error("temporary: {0}")]
    Temporary(String),
    /// Trying again will not help (authentication refused, mailbox does not exist).
    #[error("permanent: {0}")]
    Permanent(String),
    /// The service is throttling (HTTP 429, 503) and said when to come back.
    #[error("throttled for {after:?}: {detail}")]
    RetryAfter { after: std::time::Duration, detail: String },
}

/// One HTTP request of the Graph or Gmail adapter, as an HTTP client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub body: Option<serde_json::Value>,
}

/// Sends a request on behalf of `mailbox` (whose token it needs) and returns the status and
/// the JSON body (null when empty). Throttling and sign-in are the transport's business.
#[allow(async_fn_in_trait)]
pub trait HttpTransport {
    async fn send(&self, mailbox: &str, request: &Request) -> Result<(u16, serde_json::Value), AdapterError>;
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

/// Maps an HTTP status to an adapter error (None: success).
pub fn status_error(status: u16, what: &str, body: &serde_json::Value) -> Option<AdapterError> {
    let detail = || format!("{what}: HTTP {status}: {}", http::service_message(body));
    match status {
        200..=299 => None,
        408 | 429 | 500..=599 => Some(AdapterError::Temporary(detail())),
        _ => Some(AdapterError::Permanent(detail())),
    }
}

/// Sends `request` and returns the body of a 2xx answer (else the mapped error).
pub(crate) async fn call(
    transport: &impl HttpTransport,
    mailbox: &str,
    what: &str,
    request: &Request,
) -> Result<serde_json::Value, AdapterError> {
    let (status, body) = transport.send(mailbox, request).await?;
    match status_error(status, what, &body) {
        Some(e) => Err(e),
        None => Ok(body),
    }
}

/// The `id` of each entry of `body[list]`.
pub(crate) fn ids(body: &serde_json::Value, list: &str) -> Vec<String> {
    body[list].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect()
}

/// The folder an action moves to (`None`: the message is deleted; a release moves back to
/// the inbox).
pub fn target_folder(action: RemediationAction) -> Option<&'static str> {
    match action {
        RemediationAction::MoveToJunk => Some("Junk"),
        RemediationAction::MoveToTrash | RemediationAction::SoftDelete => Some("Trash"),
        RemediationAction::Quarantine => Some("Quarantine"),
        RemediationAction::HardDelete => None,
        RemediationAction::Restore => Some("INBOX"),
    }
}

/// The IMAP folders Postern moves mail to: where a release looks for it.
pub const MOVED_TO: [&str; 3] = ["Quarantine", "Junk", "Trash"];

#[allow(async_fn_in_trait)]
pub trait MailboxAdapter {
    /// Moves the message with `message_id` (RFC 5322, with angle brackets) out of the
    /// inbox of `mailbox` as `action` says, or, for `Restore`, back into it.
    async fn remediate(
        &self,
        mailbox: &str,
        message_id: &str,
        action: RemediationAction,
    ) -> Result<MoveOutcome, AdapterError>;
}

/// An id per mailbox (its quarantine folder's or label's), looked up once.
#[derive(Default)]
pub(crate) struct PerMailbox(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl PerMailbox {
    /// The id of `what` in `mailbox`, if it exists: cached, else found by `find` (`pick`
    /// reads it from the answer).
    pub(crate) async fn found(
        &self,
        transport: &impl HttpTransport,
        mailbox: &str,
        what: &str,
        find: Request,
        pick: impl Fn(&serde_json::Value) -> Option<String>,
    ) -> Result<Option<String>, AdapterError> {
        if let Some(id) = self.0.lock().expect("per-mailbox ids lock").get(mailbox) {
            return Ok(Some(id.clone()));
        }
        let found = pick(&call(transport, mailbox, &format!("find the {what}"), &find).await?);
        if let Some(id) = &found {
            self.0.lock().expect("per-mailbox ids lock").insert(mailbox.to_owned(), id.clone());
        }
        Ok(found)
    }

    /// The id of `what` in `mailbox`: [`PerMailbox::found`], else made by `create` (its
    /// answer's `id`).
    pub(crate) async fn found_or_created(
        &self,
        transport: &impl HttpTransport,
        mailbox: &str,
        what: &str,
        find: Request,
        pick: impl Fn(&serde_json::Value) -> Option<String>,
        create: Request,
    ) -> Result<String, AdapterError> {
        let id = match self.found(transport, mailbox, what, find, pick).await? {
            Some(id) => id,
            None => {
                let made = call(transport, mailbox, &format!("create the {what}"), &create).await?;
                tracing::info!(mailbox, what, "created");
                made["id"]
                    .as_str()
                    .ok_or_else(|| AdapterError::Temporary(format!("the created {what} has no id")))?
                    .to_owned()
            }
        };
        self.0.lock().expect("per-mailbox ids lock").insert(mailbox.to_owned(), id.clone());
        Ok(id)
    }
}
