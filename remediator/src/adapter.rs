//! Mailbox adapters: how one message is moved out of one mailbox. The worker speaks only
//! to [`MailboxAdapter`]; IMAP is the one this project runs against a real server (Dovecot
//! in the tests); Microsoft Graph and Gmail build the requests their APIs take (unit
//! tested: no test here can reach them).

pub mod gmail;
pub mod graph;
pub mod imap;

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
}

/// The folder an action moves to (`None`: the message is deleted).
pub fn target_folder(action: RemediationAction) -> Option<&'static str> {
    match action {
        RemediationAction::MoveToJunk => Some("Junk"),
        RemediationAction::MoveToTrash | RemediationAction::SoftDelete => Some("Trash"),
        RemediationAction::Quarantine => Some("Quarantine"),
        RemediationAction::HardDelete => None,
    }
}

#[allow(async_fn_in_trait)]
pub trait MailboxAdapter {
    /// Moves the message with `message_id` (RFC 5322, with angle brackets) out of the
    /// inbox of `mailbox` as `action` says.
    async fn remediate(
        &self,
        mailbox: &str,
        message_id: &str,
        action: RemediationAction,
    ) -> Result<MoveOutcome, AdapterError>;
}
