//! The SMTP session state machine: commands in, replies and actions out. No I/O here;
//! [`crate::connection`] drives it over a socket.

use crate::tenancy::Tenancy;
use smtp_proto::{EhloResponse, Request};
use std::borrow::Cow;
use std::sync::Arc;

/// A reply: code, enhanced status code and text (multi-line for EHLO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub esc: [u8; 3],
    pub text: String,
    /// Pre-formatted multi-line reply (EHLO), written instead of code/esc/text.
    pub raw: Option<Vec<u8>>,
}

impl Reply {
    pub fn new(code: u16, esc: [u8; 3], text: impl Into<String>) -> Self {
        Reply { code, esc, text: text.into(), raw: None }
    }

    /// Appends the reply as it goes on the wire.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match &self.raw {
            Some(raw) => out.extend_from_slice(raw),
            None => {
                let r = smtp_proto::Response::new(self.code, self.esc[0], self.esc[1], self.esc[2], &self.text);
                // Writing into a Vec cannot fail.
                let _ = r.write(out);
            }
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }
}

/// What the connection must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write the reply and read the next command.
    Reply(Reply),
    /// Write the 354 reply, then receive message data with [`crate::smtp::data`].
    StartData(Reply),
    /// Write the reply and close the connection.
    Close(Reply),
    /// Write the 220 reply, drop anything the client sent after STARTTLS (RFC 3207: it
    /// must not be acted on), and start the TLS handshake.
    StartTls(Reply),
    /// BDAT (RFC 3030): read exactly `size` bytes into the transaction's content; after
    /// it, call [`Session::chunk_received`] (or [`Session::finish_data`] when `last`).
    ReadChunk { size: usize, last: bool },
    /// BDAT out of sequence: the chunk must still be read (the client sends it anyway) and
    /// dropped; then write the reply.
    DiscardChunk { size: usize, reply: Reply },
}

/// Limits and addressing the session enforces.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub hostname: String,
    pub max_message_size: usize,
    pub max_recipients: usize,
    /// Which tenant each journal address delivers to.
    pub tenancy: Tenancy,
    /// Whether STARTTLS is offered (a certificate is configured).
    pub starttls: bool,
}

/// A transaction ready for its data: the envelope and the tenant its recipients name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub sender: String,
    pub recipients: Vec<String>,
    pub tenant: String,
    /// Sent to a submission address: a user's report, not a journal copy.
    pub submission: Option<proto::SubmittedAs>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Connected, no HELO/EHLO yet.
    Connected,
    /// Greeted, no transaction.
    Idle,
    /// MAIL FROM accepted.
    Mail { sender: String },
    /// At least one RCPT TO accepted.
    Rcpt { envelope: Envelope },
    /// DATA accepted; the connection is receiving the content.
    Data { envelope: Envelope },
    /// BDAT chunks are arriving; `received` bytes so far.
    Chunking { envelope: Envelope, received: usize },
}

pub struct Session {
    config: Arc<SessionConfig>,
    state: State,
    helo: String,
    /// The session runs over TLS (after STARTTLS).
    tls: bool,
}

pub fn greeting(hostname: &str) -> Reply {
    Reply::new(220, [0, 0, 0], format!("{hostname} ESMTP Postern journal receiver ready")).without_esc()
}

impl Reply {
    /// The greeting carries no enhanced code (RFC 2034 applies after EHLO).
    fn without_esc(mut self) -> Self {
        let mut raw = Vec::new();
        raw.extend_from_slice(format!("{} {}\r\n", self.code, self.text).as_bytes());
        self.raw = Some(raw);
        self
    }
}

pub fn shutting_down() -> Reply {
    Reply::new(421, [4, 3, 2], "Service shutting down, try again later")
}

pub fn too_many_connections() -> Reply {
    Reply::new(421, [4, 7, 0], "Too many connections, try again later")
}

/// A new session while ingest cannot store mail (NATS unreachable for a while).
pub fn not_ready() -> Reply {
    Reply::new(421, [4, 3, 0], "Service not ready: the message store is unreachable, try again later")
}

pub fn too_many_connections_from_ip() -> Reply {
    Reply::new(421, [4, 7, 0], "Too many connections from your address, try again later")
}

pub fn network_not_allowed(ip: std::net::IpAddr) -> Reply {
    Reply::new(554, [5, 7, 1], format!("{ip} is not allowed to deliver journal mail here"))
}

pub fn timeout() -> Reply {
    Reply::new(421, [4, 4, 2], "Timeout waiting for input, closing connection")
}

pub fn line_too_long() -> Reply {
    Reply::new(500, [5, 5, 6], "Line too long")
}

impl Session {
    pub fn new(config: Arc<SessionConfig>) -> Self {
        Session { config, state: State::Connected, helo: String::new(), tls: false }
    }

    /// The session that starts after a STARTTLS handshake: nothing carries over from
    /// before it (RFC 3207 4.2), the client greets again.
    pub fn after_tls(config: Arc<SessionConfig>) -> Self {
        Session { config, state: State::Connected, helo: String::new(), tls: true }
    }

    pub fn tls(&self) -> bool {
        self.tls
    }

    pub fn helo(&self) -> &str {
        &self.helo
    }

    /// The reply to a line the protocol crate could not parse.
    pub fn parse_error(&self, error: smtp_proto::Error) -> Action {
        use smtp_proto::Error as E;
        let reply = match error {
            E::UnknownCommand => Reply::new(500, [5, 5, 1], "Unknown command"),
            E::InvalidSenderAddress => Reply::new(501, [5, 1, 7], "Bad sender address syntax"),
            E::InvalidRecipientAddress => Reply::new(501, [5, 1, 3], "Bad recipient address syntax"),
            E::SyntaxError { syntax } => Reply::new(501, [5, 5, 4], format!("Syntax: {syntax}")),
            E::InvalidParameter { param } => Reply::new(501, [5, 5, 4], format!("Invalid parameter {param}")),
            E::UnsupportedParameter { param } => Reply::new(504, [5, 5, 4], format!("Unsupported parameter {param}")),
            E::ResponseTooLong => line_too_long(),
            E::NeedsMoreData { .. } | E::InvalidResponse { .. } => {
                Reply::new(500, [5, 5, 2], "Syntax error, command unrecognized")
            }
        };
        Action::Reply(reply)
    }

    pub fn handle(&mut self, request: Request<Cow<'_, str>>) -> Action {
        match request {
            Request::Ehlo { host } => {
                self.helo = host.into_owned();
                self.state = State::Idle;
                Action::Reply(self.ehlo_reply())
            }
            Request::Helo { host } => {
                self.helo = host.into_owned();
                self.state = State::Idle;
                Action::Reply(Reply::new(250, [2, 0, 0], self.config.hostname.clone()).without_esc())
            }
            Request::Lhlo { .. } => Action::Reply(Reply::new(500, [5, 5, 1], "LHLO is for LMTP; use EHLO")),
            Request::Mail { from } => self.mail(from.address.as_ref(), from.size),
            Request::Rcpt { to } => self.rcpt(to.address.as_ref()),
            Request::Data => self.data(),
            Request::Rset => {
                if self.state != State::Connected {
                    self.state = State::Idle;
                }
                Action::Reply(Reply::new(250, [2, 0, 0], "Reset OK"))
            }
            Request::Noop { .. } => Action::Reply(Reply::new(250, [2, 0, 0], "OK")),
            Request::Quit => Action::Close(Reply::new(221, [2, 0, 0], "Bye")),
            Request::Vrfy { .. } => {
                Action::Reply(Reply::new(252, [2, 5, 2], "Cannot VRFY user, but will accept message"))
            }
            Request::Help { .. } => Action::Reply(Reply::new(
                214,
                [2, 0, 0],
                "Postern journal receiver: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT",
            )),
            Request::Expn { .. } => Action::Reply(Reply::new(502, [5, 5, 1], "EXPN not available")),
            Request::Bdat { chunk_size, is_last } => self.bdat(chunk_size, is_last),
            Request::StartTls => self.starttls(),
            Request::Auth { .. } | Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                Action::Reply(Reply::new(502, [5, 5, 1], "Command not implemented"))
            }
        }
    }

    fn ehlo_reply(&self) -> Reply {
        let mut ehlo = EhloResponse::new(self.config.hostname.as_str());
        ehlo.capabilities = smtp_proto::EXT_PIPELINING
            | smtp_proto::EXT_SIZE
            | smtp_proto::EXT_8BIT_MIME
            | smtp_proto::EXT_SMTP_UTF8
            | smtp_proto::EXT_ENHANCED_STATUS_CODES
            | smtp_proto::EXT_CHUNKING;
        if self.config.starttls && !self.tls {
            ehlo.capabilities |= smtp_proto::EXT_START_TLS;
        }
        ehlo.size = self.config.max_message_size;
        let mut raw = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = ehlo.write(&mut raw);
        Reply { code: 250, esc: [2, 0, 0], text: String::new(), raw: Some(raw) }
    }

    fn mail(&mut self, address: &str, declared_size: usize) -> Action {
        match self.state {
            State::Connected => {
                return Action::Reply(Reply::new(503, [5, 5, 1], "Send HELO/EHLO first"));
            }
            State::Idle => {}
            _ => return Action::Reply(Reply::new(503, [5, 5, 1], "Nested MAIL command")),
        }
        if declared_size > self.config.max_message_size {
            return Action::Reply(Reply::new(
                552,
                [5, 3, 4],
                format!("Message size exceeds the limit of {} bytes", self.config.max_message_size),
            ));
        }
        self.state = State::Mail { sender: address.to_owned() };
        Action::Reply(Reply::new(250, [2, 1, 0], "Sender OK"))
    }

    fn rcpt(&mut self, address: &str) -> Action {
        let normalized = address.trim().to_lowercase();
        let route = self.config.tenancy.route_for(&normalized);
        match &mut self.state {
            State::Connected | State::Idle => Action::Reply(Reply::new(503, [5, 5, 1], "Send MAIL first")),
            State::Data { .. } | State::Chunking { .. } => {
                Action::Reply(Reply::new(503, [5, 5, 1], "Bad sequence of commands"))
            }
            State::Mail { sender } => match route {
                None => Action::Reply(unknown_journal_address(address)),
                Some(route) => {
                    let envelope = Envelope {
                        sender: std::mem::take(sender),
                        recipients: vec![normalized],
                        tenant: route.tenant,
                        submission: route.submission,
                    };
                    self.state = State::Rcpt { envelope };
                    Action::Reply(Reply::new(250, [2, 1, 5], "Recipient OK"))
                }
            },
            State::Rcpt { envelope } => match route {
                None => Action::Reply(unknown_journal_address(address)),
                Some(_) if envelope.recipients.len() >= self.config.max_recipients => {
                    Action::Reply(Reply::new(452, [4, 5, 3], "Too many recipients"))
                }
                Some(route) if route.tenant != envelope.tenant => Action::Reply(Reply::new(
                    452,
                    [4, 5, 3],
                    "Journal address of another tenant: send it in a separate transaction",
                )),
                Some(route) if route.submission != envelope.submission => Action::Reply(Reply::new(
                    452,
                    [4, 5, 3],
                    "Journal and submission addresses (or phish and spam ones) go in separate transactions",
                )),
                Some(_) => {
                    if !envelope.recipients.contains(&normalized) {
                        envelope.recipients.push(normalized);
                    }
                    Action::Reply(Reply::new(250, [2, 1, 5], "Recipient OK"))
                }
            },
        }
    }

    fn data(&mut self) -> Action {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Rcpt { envelope } => {
                self.state = State::Data { envelope };
                Action::StartData(Reply::new(354, [0, 0, 0], "End data with <CR><LF>.<CR><LF>").without_esc())
            }
            State::Connected => {
                self.state = State::Connected;
                Action::Reply(Reply::new(503, [5, 5, 1], "Send HELO/EHLO first"))
            }
            other @ State::Mail { .. } => {
                self.state = other;
                Action::Reply(Reply::new(503, [5, 5, 1], "Need RCPT before DATA"))
            }
            State::Idle => Action::Reply(Reply::new(503, [5, 5, 1], "Need MAIL before DATA")),
            other @ (State::Data { .. } | State::Chunking { .. }) => {
                self.state = other;
                Action::Reply(Reply::new(503, [5, 5, 1], "Bad sequence of commands"))
            }
        }
    }

    fn starttls(&mut self) -> Action {
        if self.tls {
            return Action::Reply(Reply::new(503, [5, 5, 1], "TLS is already active"));
        }
        if !self.config.starttls {
            return Action::Reply(Reply::new(454, [4, 7, 0], "TLS not available"));
        }
        if self.state == State::Connected {
            return Action::Reply(Reply::new(503, [5, 5, 1], "Send EHLO first"));
        }
        self.state = State::Connected;
        Action::StartTls(Reply::new(220, [2, 0, 0], "Ready to start TLS"))
    }

    fn bdat(&mut self, size: usize, last: bool) -> Action {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Rcpt { envelope } => {
                self.state = State::Chunking { envelope, received: 0 };
                Action::ReadChunk { size, last }
            }
            chunking @ State::Chunking { .. } => {
                self.state = chunking;
                Action::ReadChunk { size, last }
            }
            other => {
                let text = match other {
                    State::Connected => "Send HELO/EHLO first",
                    State::Idle => "Need MAIL before BDAT",
                    _ => "Need RCPT before BDAT",
                };
                self.state = other;
                Action::DiscardChunk { size, reply: Reply::new(503, [5, 5, 1], text) }
            }
        }
    }

    /// A non-last BDAT chunk of `size` bytes was read. Over the size limit the
    /// transaction ends with 552 and later chunks are discarded with 503.
    pub fn chunk_received(&mut self, size: usize) -> Reply {
        let limit = self.config.max_message_size;
        match &mut self.state {
            State::Chunking { received, .. } => {
                *received += size;
                if *received > limit {
                    self.state = State::Idle;
                    message_too_large(limit)
                } else {
                    Reply::new(250, [2, 0, 0], format!("{size} octets received"))
                }
            }
            _ => Reply::new(503, [5, 5, 1], "Bad sequence of commands"),
        }
    }

    /// The envelope of the transaction whose data is being received. The transaction
    /// ends (back to idle) whatever the outcome: the connection reports the reply.
    pub fn finish_data(&mut self) -> Option<Envelope> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Data { envelope } | State::Chunking { envelope, .. } => Some(envelope),
            other => {
                self.state = other;
                None
            }
        }
    }
}

fn unknown_journal_address(address: &str) -> Reply {
    Reply::new(550, [5, 1, 1], format!("<{address}>: not a journal address of this receiver"))
}

/// The reply for a message that was stored: 250 with Postern's id for it.
pub fn stored(postern_id: &str) -> Reply {
    Reply::new(250, [2, 0, 0], format!("OK: queued as {postern_id}"))
}

/// The reply for data over the size limit.
pub fn message_too_large(limit: usize) -> Reply {
    Reply::new(552, [5, 3, 4], format!("Message size exceeds the limit of {limit} bytes"))
}

/// The reply when the message could not be stored: the client keeps it and retries.
pub fn storage_unavailable() -> Reply {
    Reply::new(451, [4, 3, 0], "Temporary failure storing the message, try again later")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(Arc::new(SessionConfig {
            hostname: "postern.test".into(),
            max_message_size: 1000,
            max_recipients: 2,
            tenancy: Tenancy::new(
                std::collections::BTreeMap::from([
                    ("journal@postern.localhost".into(), "default".into()),
                    ("j2@postern.localhost".into(), "default".into()),
                    ("j3@postern.localhost".into(), "default".into()),
                ]),
                &["{tenant}@journal.test".into()],
            )
            .unwrap()
            .with_submissions(std::collections::BTreeMap::from([
                ("phish@corp.test".into(), ("default".into(), proto::SubmittedAs::Phish)),
                ("spam@corp.test".into(), ("default".into(), proto::SubmittedAs::Spam)),
            ])),
            starttls: true,
        }))
    }

    #[test]
    fn submission_and_journal_addresses_go_in_separate_transactions() {
        let mut s = session();
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<bob@corp.test>");
        assert_eq!(code(&send(&mut s, "RCPT TO:<Phish@Corp.Test>")), (250, [2, 1, 5]));
        assert_eq!(code(&send(&mut s, "RCPT TO:<journal@postern.localhost>")), (452, [4, 5, 3]));
        assert_eq!(code(&send(&mut s, "RCPT TO:<spam@corp.test>")), (452, [4, 5, 3]));
        let Action::StartData(_) = send(&mut s, "DATA") else { panic!("DATA") };
        let State::Data { envelope } = &s.state else { panic!("{:?}", s.state) };
        assert_eq!(envelope.submission, Some(proto::SubmittedAs::Phish));
        assert_eq!(envelope.recipients, vec!["phish@corp.test"]);
    }

    fn send(s: &mut Session, line: &str) -> Action {
        let line = format!("{line}\r\n");
        match Request::parse(&mut line.as_bytes().iter()) {
            Ok(req) => s.handle(req),
            Err(e) => s.parse_error(e),
        }
    }

    fn code(a: &Action) -> (u16, [u8; 3]) {
        match a {
            Action::Reply(r) | Action::StartData(r) | Action::Close(r) | Action::DiscardChunk { reply: r, .. } => {
                (r.code, r.esc)
            }
            Action::ReadChunk { .. } => (0, [0, 0, 0]),
            Action::StartTls(r) => (r.code, r.esc),
        }
    }

    #[test]
    fn starttls_resets_and_is_offered_once() {
        let mut s = session();
        assert_eq!(code(&send(&mut s, "STARTTLS")), (503, [5, 5, 1]));
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b>");
        assert_eq!(code(&send(&mut s, "STARTTLS")), (220, [2, 0, 0]));
        // Nothing carries over: the client must greet again.
        assert_eq!(code(&send(&mut s, "RCPT TO:<journal@postern.localhost>")), (503, [5, 5, 1]));
        let mut after = Session::after_tls(s.config.clone());
        let Action::Reply(ehlo) = send(&mut after, "EHLO x") else { panic!() };
        assert!(!String::from_utf8(ehlo.raw.unwrap()).unwrap().contains("STARTTLS"));
        assert_eq!(code(&send(&mut after, "STARTTLS")), (503, [5, 5, 1]));
    }

    #[test]
    fn bdat_chunks_a_transaction() {
        let mut s = session();
        assert!(matches!(send(&mut s, "BDAT 10"), Action::DiscardChunk { size: 10, .. }));
        send(&mut s, "EHLO x");
        assert!(matches!(send(&mut s, "BDAT 10 LAST"), Action::DiscardChunk { size: 10, .. }));
        send(&mut s, "MAIL FROM:<a@b>");
        send(&mut s, "RCPT TO:<journal@postern.localhost>");
        assert_eq!(send(&mut s, "BDAT 600"), Action::ReadChunk { size: 600, last: false });
        assert_eq!(s.chunk_received(600).code, 250);
        assert_eq!(code(&send(&mut s, "DATA")), (503, [5, 5, 1]));
        assert_eq!(send(&mut s, "BDAT 300 LAST"), Action::ReadChunk { size: 300, last: true });
        assert!(s.finish_data().is_some());
    }

    #[test]
    fn bdat_over_the_limit_ends_the_transaction() {
        let mut s = session();
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b>");
        send(&mut s, "RCPT TO:<journal@postern.localhost>");
        send(&mut s, "BDAT 800");
        assert_eq!(s.chunk_received(800).code, 250);
        send(&mut s, "BDAT 800");
        assert_eq!(s.chunk_received(800).esc, [5, 3, 4]);
        assert!(matches!(send(&mut s, "BDAT 5 LAST"), Action::DiscardChunk { .. }));
    }

    #[test]
    fn a_whole_transaction() {
        let mut s = session();
        let a = send(&mut s, "EHLO client.example");
        let Action::Reply(r) = &a else { panic!() };
        let text = String::from_utf8(r.raw.clone().unwrap()).unwrap();
        for ext in ["PIPELINING", "SIZE 1000", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS"] {
            assert!(text.contains(ext), "{ext} missing in {text}");
        }
        assert_eq!(s.helo(), "client.example");
        assert_eq!(code(&send(&mut s, "MAIL FROM:<a@example.com> SIZE=500")), (250, [2, 1, 0]));
        assert_eq!(code(&send(&mut s, "RCPT TO:<Journal@Postern.Localhost>")), (250, [2, 1, 5]));
        assert!(matches!(send(&mut s, "DATA"), Action::StartData(_)));
        let env = s.finish_data().unwrap();
        assert_eq!(env.sender, "a@example.com");
        assert_eq!(env.recipients, vec!["journal@postern.localhost"]);
        assert_eq!(env.tenant, "default");
        // Back to idle: a new transaction may start.
        assert_eq!(code(&send(&mut s, "MAIL FROM:<>")), (250, [2, 1, 0]));
        assert!(matches!(send(&mut s, "QUIT"), Action::Close(_)));
    }

    #[test]
    fn sequence_errors() {
        let mut s = session();
        assert_eq!(code(&send(&mut s, "MAIL FROM:<a@b>")), (503, [5, 5, 1]));
        assert_eq!(code(&send(&mut s, "DATA")), (503, [5, 5, 1]));
        send(&mut s, "HELO x");
        assert_eq!(code(&send(&mut s, "RCPT TO:<journal@postern.localhost>")), (503, [5, 5, 1]));
        assert_eq!(code(&send(&mut s, "DATA")), (503, [5, 5, 1]));
        send(&mut s, "MAIL FROM:<a@b>");
        assert_eq!(code(&send(&mut s, "MAIL FROM:<a@b>")), (503, [5, 5, 1]));
        assert_eq!(code(&send(&mut s, "DATA")), (503, [5, 5, 1]));
        assert_eq!(code(&send(&mut s, "RSET")), (250, [2, 0, 0]));
        assert_eq!(code(&send(&mut s, "RCPT TO:<journal@postern.localhost>")), (503, [5, 5, 1]));
        assert!(s.finish_data().is_none());
    }

    #[test]
    fn limits_and_addresses() {
        let mut s = session();
        send(&mut s, "EHLO x");
        assert_eq!(code(&send(&mut s, "MAIL FROM:<a@b> SIZE=1001")), (552, [5, 3, 4]));
        send(&mut s, "MAIL FROM:<a@b>");
        assert_eq!(code(&send(&mut s, "RCPT TO:<someone@else.example>")), (550, [5, 1, 1]));
        assert_eq!(code(&send(&mut s, "RCPT TO:<journal@postern.localhost>")), (250, [2, 1, 5]));
        assert_eq!(code(&send(&mut s, "RCPT TO:<acme@journal.test>")), (452, [4, 5, 3]));
        assert_eq!(code(&send(&mut s, "RCPT TO:<j2@postern.localhost>")), (250, [2, 1, 5]));
        assert_eq!(code(&send(&mut s, "RCPT TO:<j3@postern.localhost>")), (452, [4, 5, 3]));
    }

    #[test]
    fn syntax_errors_get_5xx_with_text() {
        let mut s = session();
        assert_eq!(code(&send(&mut s, "FOO bar")).0, 500);
        send(&mut s, "EHLO x");
        assert_eq!(code(&send(&mut s, "MAIL FROM:<a@b> BOGUS=1")).0 / 100, 5);
        assert_eq!(code(&send(&mut s, "MAIL FROM:not-an-address")).0 / 100, 5);
    }

    #[test]
    fn reply_wire_format() {
        let mut out = Vec::new();
        stored("abc").write_to(&mut out);
        assert_eq!(out, b"250 2.0.0 OK: queued as abc\r\n");
        let mut out = Vec::new();
        greeting("h").write_to(&mut out);
        assert_eq!(out, b"220 h ESMTP Postern journal receiver ready\r\n");
    }
}
