//! IMAP (RFC 9051 / 3501): log in as the mailbox (an administrator's master login, as
//! Dovecot and most servers offer, fills `{mailbox}` into the login), find the message in
//! INBOX by its Message-ID header, and MOVE it (RFC 6851) to the action's folder, or,
//! where the server has no MOVE, COPY it, flag it `\Deleted` and EXPUNGE (UID EXPUNGE,
//! RFC 4315, when offered, so nothing else the user deleted goes with it).
//!
//! The protocol state is kept apart from the connection: [`Response`] parsing and command
//! building are pure; [`Session`] does the I/O.

use super::{AdapterError, MOVED_TO, MailboxAdapter, MoveOutcome, target_folder};
use proto::RemediationAction;
use serde::Deserialize;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// `host:port` of the IMAP server (plain IMAP: keep it on a trusted network).
    pub address: String,
    /// The login, with `{mailbox}` replaced by the mailbox address (Dovecot master users:
    /// `"{mailbox}*postern"`).
    #[serde(default = "default_login")]
    pub login: String,
    pub password: String,
    /// How long one command may take.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_login() -> String {
    "{mailbox}".to_owned()
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// An IMAP string argument: quoted, with `\` and `"` escaped; refused if it holds a line
/// break (which would end the command).
pub fn quoted(s: &str) -> Result<String, AdapterError> {
    if s.contains(['\r', '\n']) {
        return Err(AdapterError::Permanent(format!("{s:?} holds a line break")));
    }
    Ok(format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// The end of a tagged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// OK, NO or BAD.
    pub status: String,
    pub text: String,
    /// The untagged lines before it.
    pub untagged: Vec<String>,
}

impl Response {
    pub fn ok(&self) -> bool {
        self.status == "OK"
    }

    /// UIDs from `* SEARCH` lines.
    pub fn search_uids(&self) -> Vec<u32> {
        self.untagged
            .iter()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|rest| rest.split_whitespace().filter_map(|n| n.parse().ok()))
            .collect()
    }

    /// Capabilities from `* CAPABILITY` lines (or the OK's `[CAPABILITY ...]` code).
    pub fn capabilities(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .untagged
            .iter()
            .filter_map(|l| l.strip_prefix("* CAPABILITY"))
            .flat_map(|rest| rest.split_whitespace().map(str::to_ascii_uppercase))
            .collect();
        if let Some(code) = self.text.strip_prefix("[CAPABILITY ").and_then(|t| t.split(']').next()) {
            out.extend(code.split_whitespace().map(str::to_ascii_uppercase));
        }
        out
    }
}

/// Parses a tagged status line (`a3 OK done`), or None for untagged / other tags.
pub fn parse_tagged(line: &str, tag: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix(tag)?.strip_prefix(' ')?;
    let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((status.to_ascii_uppercase(), text.to_owned()))
}

struct Session {
    reader: BufReader<TcpStream>,
    next: u32,
    timeout: Duration,
}

impl Session {
    async fn connect(address: &str, timeout: Duration) -> Result<Self, AdapterError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| AdapterError::Temporary(format!("connecting to {address}: timed out")))?
            .map_err(|e| AdapterError::Temporary(format!("connecting to {address}: {e}")))?;
        let mut session = Session { reader: BufReader::new(stream), next: 1, timeout };
        let greeting = session.line().await?;
        if !greeting.starts_with("* OK") && !greeting.starts_with("* PREAUTH") {
            return Err(AdapterError::Temporary(format!("greeting: {greeting}")));
        }
        Ok(session)
    }

    async fn line(&mut self) -> Result<String, AdapterError> {
        let mut line = String::new();
        let n = tokio::time::timeout(self.timeout, self.reader.read_line(&mut line))
            .await
            .map_err(|_| AdapterError::Temporary("the server did not answer in time".into()))?
            .map_err(|e| AdapterError::Temporary(format!("reading: {e}")))?;
        if n == 0 {
            return Err(AdapterError::Temporary("the server closed the connection".into()));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    async fn command(&mut self, command: &str) -> Result<Response, AdapterError> {
        let tag = format!("p{}", self.next);
        self.next += 1;
        let stream = self.reader.get_mut();
        stream
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .map_err(|e| AdapterError::Temporary(format!("writing: {e}")))?;
        let mut untagged = Vec::new();
        loop {
            let line = self.line().await?;
            if let Some((status, text)) = parse_tagged(&line, &tag) {
                return Ok(Response { status, text, untagged });
            }
            untagged.push(line);
        }
    }
}

pub struct ImapAdapter {
    pub config: ImapConfig,
}

impl MailboxAdapter for ImapAdapter {
    async fn remediate(
        &self,
        mailbox: &str,
        message_id: &str,
        action: RemediationAction,
    ) -> Result<MoveOutcome, AdapterError> {
        let c = &self.config;
        let mut s = Session::connect(&c.address, c.timeout).await?;
        let login = c.login.replace("{mailbox}", mailbox);
        let r = s.command(&format!("LOGIN {} {}", quoted(&login)?, quoted(&c.password)?)).await?;
        if !r.ok() {
            return Err(AdapterError::Permanent(format!("login as {login} refused: {}", r.text)));
        }
        let caps = s.command("CAPABILITY").await?.capabilities();
        if action == RemediationAction::Restore {
            let outcome = restore(&mut s, &caps, message_id).await?;
            let _ = s.command("LOGOUT").await;
            return Ok(outcome);
        }
        let r = s.command("SELECT INBOX").await?;
        if !r.ok() {
            return Err(AdapterError::Permanent(format!("SELECT INBOX: {}", r.text)));
        }
        let r = s.command(&format!("UID SEARCH HEADER Message-ID {}", quoted(message_id)?)).await?;
        if !r.ok() {
            return Err(AdapterError::Temporary(format!("SEARCH: {}", r.text)));
        }
        let uids = r.search_uids();
        if uids.is_empty() {
            // Already where the action puts it: an earlier attempt that moved it and was
            // stopped before it could record the outcome (a killed remediator), or the user.
            // The mailbox is as asked, so the outcome is DONE, not NOT_FOUND.
            let outcome = match target_folder(action) {
                Some(folder) if found_in(&mut s, folder, message_id).await? => {
                    MoveOutcome::Done(format!("already in {folder}"))
                }
                _ => MoveOutcome::NotFound,
            };
            let _ = s.command("LOGOUT").await;
            return Ok(outcome);
        }
        let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let detail = match target_folder(action) {
            Some(folder) => {
                // CREATE fails harmlessly when the folder exists.
                let _ = s.command(&format!("CREATE {}", quoted(folder)?)).await?;
                format!("moved to {folder} ({})", move_uids(&mut s, &caps, &set, folder).await?)
            }
            None => {
                expunge(&mut s, &set, &caps).await?;
                "deleted".to_owned()
            }
        };
        let _ = s.command("LOGOUT").await;
        Ok(MoveOutcome::Done(detail))
    }
}

/// Moves the messages `set` (UIDs of the selected folder) to `folder`, flags and all: MOVE,
/// or COPY + `\Deleted` + EXPUNGE where the server has no MOVE. Returns which was used.
async fn move_uids(s: &mut Session, caps: &[String], set: &str, folder: &str) -> Result<&'static str, AdapterError> {
    if caps.iter().any(|c| c == "MOVE") {
        let r = s.command(&format!("UID MOVE {set} {}", quoted(folder)?)).await?;
        if !r.ok() {
            return Err(AdapterError::Temporary(format!("MOVE: {}", r.text)));
        }
        Ok("MOVE")
    } else {
        let r = s.command(&format!("UID COPY {set} {}", quoted(folder)?)).await?;
        if !r.ok() {
            return Err(AdapterError::Temporary(format!("COPY: {}", r.text)));
        }
        expunge(s, set, caps).await?;
        Ok("COPY, STORE \\Deleted, EXPUNGE")
    }
}

/// A release: every copy in the folders Postern moves to goes back to INBOX. None there but
/// one in INBOX (a release carried out before, or the user's doing) is DONE.
async fn restore(s: &mut Session, caps: &[String], message_id: &str) -> Result<MoveOutcome, AdapterError> {
    let mut moved = Vec::new();
    for folder in MOVED_TO {
        if !s.command(&format!("SELECT {}", quoted(folder)?)).await?.ok() {
            continue;
        }
        let r = s.command(&format!("UID SEARCH HEADER Message-ID {}", quoted(message_id)?)).await?;
        if !r.ok() {
            return Err(AdapterError::Temporary(format!("SEARCH {folder}: {}", r.text)));
        }
        let uids = r.search_uids();
        if uids.is_empty() {
            continue;
        }
        let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        move_uids(s, caps, &set, "INBOX").await?;
        moved.push(folder);
    }
    if !moved.is_empty() {
        return Ok(MoveOutcome::Done(format!("moved back to INBOX from {}", moved.join(", "))));
    }
    Ok(if found_in(s, "INBOX", message_id).await? {
        MoveOutcome::Done("already in INBOX".to_owned())
    } else {
        MoveOutcome::NotFound
    })
}

/// Whether `folder` holds a message with `message_id` (read-only: EXAMINE). A folder that
/// does not exist holds nothing.
async fn found_in(s: &mut Session, folder: &str, message_id: &str) -> Result<bool, AdapterError> {
    if !s.command(&format!("EXAMINE {}", quoted(folder)?)).await?.ok() {
        return Ok(false);
    }
    let r = s.command(&format!("UID SEARCH HEADER Message-ID {}", quoted(message_id)?)).await?;
    if !r.ok() {
        return Err(AdapterError::Temporary(format!("SEARCH {folder}: {}", r.text)));
    }
    Ok(!r.search_uids().is_empty())
}

async fn expunge(s: &mut Session, set: &str, caps: &[String]) -> Result<(), AdapterError> {
    let r = s.command(&format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)")).await?;
    if !r.ok() {
        return Err(AdapterError::Temporary(format!("STORE: {}", r.text)));
    }
    let cmd = if caps.iter().any(|c| c == "UIDPLUS") { format!("UID EXPUNGE {set}") } else { "EXPUNGE".to_owned() };
    let r = s.command(&cmd).await?;
    if !r.ok() {
        return Err(AdapterError::Temporary(format!("EXPUNGE: {}", r.text)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_parsing() {
        assert_eq!(quoted("a\"b\\c").unwrap(), "\"a\\\"b\\\\c\"");
        assert!(quoted("x\r\nA1 DELETE INBOX").is_err(), "no command injection through a Message-ID");
        assert_eq!(parse_tagged("p3 OK [READ-WRITE] done", "p3"), Some(("OK".into(), "[READ-WRITE] done".into())));
        assert_eq!(parse_tagged("p31 OK x", "p3"), None);
        assert_eq!(parse_tagged("* 3 EXISTS", "p3"), None);
        let r = Response {
            status: "OK".into(),
            text: "[CAPABILITY IMAP4rev1 UIDPLUS] ok".into(),
            untagged: vec!["* SEARCH 4 9".into(), "* CAPABILITY IMAP4rev1 MOVE".into(), "* SEARCH".into()],
        };
        assert_eq!(r.search_uids(), vec![4, 9]);
        assert!(r.capabilities().contains(&"MOVE".to_owned()));
        assert!(r.capabilities().contains(&"UIDPLUS".to_owned()));
    }
}
