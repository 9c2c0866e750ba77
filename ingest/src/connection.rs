//! One SMTP connection: reads commands and data from any `AsyncRead + AsyncWrite`, drives
//! the [`Session`] state machine, and stores accepted messages through a [`RawMailSink`].
//! Replies are batched as RFC 2920 (PIPELINING) allows: written when no further complete
//! command is buffered, before 354, and before closing.

use crate::accept::{Peer, accept};
use crate::publisher::RawMailSink;
use crate::smtp::data::DataReceiver;
use crate::smtp::session::{self, Action, Reply, Session, SessionConfig};
use proto::{TenantId, Timestamp, field, subject};
use smtp_proto::Request;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};
use ulid::Ulid;

const READ_CHUNK: usize = 64 * 1024;

/// What every connection shares.
pub struct ConnectionContext<S> {
    pub session: Arc<SessionConfig>,
    pub sink: S,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    /// Cancelled at shutdown: idle sessions get 421 at their next command boundary.
    pub shutdown: CancellationToken,
    /// Present when STARTTLS is offered.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Bodies larger than this go to the Object Store instead of inline.
    pub inline_limit: usize,
    /// Longest command line accepted.
    pub max_command_line: usize,
    pub metrics: Arc<crate::metrics::IngestMetrics>,
}

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one connection to its end. I/O errors end the connection; nothing that was
/// acknowledged with 250 depends on this connection any more.
pub async fn serve<IO, S>(io: IO, peer_addr: String, ctx: Arc<ConnectionContext<S>>) -> io::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    S: RawMailSink,
{
    let mut conn = Connection::new(io, Session::new(ctx.session.clone()), peer_addr, ctx.clone());
    conn.say(&session::greeting(&ctx.session.hostname));
    match conn.run().await? {
        End::Closed => Ok(()),
        End::StartTls => {
            let Some(acceptor) = ctx.tls.clone() else {
                return Err(io::Error::other("STARTTLS accepted without a certificate"));
            };
            let Connection { io, peer_addr, .. } = conn;
            let tls = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(io))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
            debug!("TLS established");
            // No greeting after the handshake: the client speaks first (EHLO).
            let mut secured = Connection::new(tls, Session::after_tls(ctx.session.clone()), peer_addr, ctx);
            match secured.run().await? {
                End::Closed => Ok(()),
                End::StartTls => Err(io::Error::other("STARTTLS inside TLS")),
            }
        }
    }
}

/// How a connection's command loop ended.
enum End {
    Closed,
    /// The client asked for TLS; the caller does the handshake.
    StartTls,
}

struct Connection<IO, S> {
    io: IO,
    input: Vec<u8>,
    /// Start of the unprocessed part of `input`.
    pos: usize,
    output: Vec<u8>,
    /// The content of the BDAT transaction in progress.
    chunks: Vec<u8>,
    session: Session,
    peer_addr: String,
    ctx: Arc<ConnectionContext<S>>,
}

enum Next {
    Continue,
    Close,
    StartTls,
}

impl<IO: AsyncRead + AsyncWrite + Unpin, S: RawMailSink> Connection<IO, S> {
    fn new(io: IO, session: Session, peer_addr: String, ctx: Arc<ConnectionContext<S>>) -> Self {
        Connection {
            io,
            input: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            output: Vec::with_capacity(1024),
            chunks: Vec::new(),
            session,
            peer_addr,
            ctx,
        }
    }

    async fn run(&mut self) -> io::Result<End> {
        self.flush().await?;
        loop {
            // Answer every complete command already buffered.
            while let Some(end) = self.input[self.pos..].iter().position(|&b| b == b'\n') {
                let line_end = self.pos + end + 1;
                match self.command(line_end).await? {
                    Next::Continue => {}
                    Next::Close => {
                        self.flush().await?;
                        return Ok(End::Closed);
                    }
                    Next::StartTls => {
                        self.flush().await?;
                        // Commands pipelined behind STARTTLS were sent in the clear: drop them.
                        self.input.clear();
                        self.pos = 0;
                        return Ok(End::StartTls);
                    }
                }
                if self.ctx.shutdown.is_cancelled() {
                    return self.close_with(session::shutting_down()).await;
                }
            }
            self.compact();
            if self.input.len() > self.ctx.max_command_line {
                return self.close_with(session::line_too_long()).await;
            }
            self.flush().await?;
            let read = tokio::select! {
                r = tokio::time::timeout(self.ctx.command_timeout, read_more(&mut self.io, &mut self.input)) => r,
                _ = self.ctx.shutdown.cancelled() => {
                    return self.close_with(session::shutting_down()).await;
                }
            };
            match read {
                Err(_elapsed) => return self.close_with(session::timeout()).await,
                Ok(Ok(0)) => return Ok(End::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
            }
        }
    }

    /// Handles the command line `input[pos..line_end]`.
    async fn command(&mut self, line_end: usize) -> io::Result<Next> {
        let line = &self.input[self.pos..line_end];
        let action = if line.len() > self.ctx.max_command_line {
            Action::Reply(session::line_too_long())
        } else {
            match Request::parse(&mut line.iter()) {
                Ok(request) => self.session.handle(request),
                Err(e) => self.session.parse_error(e),
            }
        };
        self.pos = line_end;
        match action {
            Action::Reply(reply) => {
                self.say(&reply);
                Ok(Next::Continue)
            }
            Action::Close(reply) => {
                self.say(&reply);
                Ok(Next::Close)
            }
            Action::StartTls(reply) => {
                self.say(&reply);
                Ok(Next::StartTls)
            }
            Action::StartData(reply) => {
                self.say(&reply);
                self.flush().await?;
                let reply = match self.receive_data().await? {
                    Some(message) => self.store(message).await,
                    None => {
                        self.session.finish_data();
                        session::message_too_large(self.ctx.session.max_message_size)
                    }
                };
                self.say(&reply);
                Ok(Next::Continue)
            }
            Action::ReadChunk { size, last } => {
                let limit = self.ctx.session.max_message_size;
                // Past the limit the bytes are read and dropped; the session answers 552.
                let keep = self.chunks.len() + size <= limit;
                self.read_chunk(size, keep).await?;
                let reply = if !last {
                    let reply = self.session.chunk_received(size);
                    if !reply.is_positive() {
                        self.chunks.clear();
                    }
                    reply
                } else if keep {
                    let message = std::mem::take(&mut self.chunks);
                    self.store(message).await
                } else {
                    self.chunks.clear();
                    self.session.finish_data();
                    session::message_too_large(limit)
                };
                self.say(&reply);
                Ok(Next::Continue)
            }
            Action::DiscardChunk { size, reply } => {
                self.read_chunk(size, false).await?;
                self.say(&reply);
                Ok(Next::Continue)
            }
        }
    }

    /// Reads exactly `size` bytes of a BDAT chunk (buffered bytes first) into `chunks`,
    /// or drops them. Shutdown does not interrupt a chunk.
    async fn read_chunk(&mut self, size: usize, keep: bool) -> io::Result<()> {
        let mut left = size;
        loop {
            let available = (self.input.len() - self.pos).min(left);
            if keep {
                self.chunks.extend_from_slice(&self.input[self.pos..self.pos + available]);
            }
            self.pos += available;
            left -= available;
            if left == 0 {
                return Ok(());
            }
            self.compact();
            let Some(n) = self.read_data().await? else { return Err(self.timed_out("BDAT").await) };
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in BDAT"));
            }
        }
    }

    /// Receives DATA content up to the end-of-data line: the message, or None when it
    /// was over the size limit (read to the end and dropped). Shutdown does not interrupt
    /// this: a transaction in DATA is allowed to finish.
    async fn receive_data(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut data = DataReceiver::new(self.ctx.session.max_message_size);
        let fed = data.feed(&self.input[self.pos..]);
        self.pos += fed.consumed;
        let mut done = fed.done;
        while !done {
            self.compact();
            let start = self.input.len();
            let Some(n) = self.read_data().await? else {
                self.session.finish_data();
                return Err(self.timed_out("DATA").await);
            };
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in DATA"));
            }
            let fed = data.feed(&self.input[start..]);
            // Bytes after the end of data stay buffered as pipelined commands.
            self.pos = start + fed.consumed;
            done = fed.done;
        }
        Ok((!data.too_large()).then(|| data.into_message()))
    }

    /// Stores a complete message of the current transaction and gives the reply to it:
    /// 250 after JetStream's acknowledgement, 451 otherwise.
    async fn store(&mut self, message: Vec<u8>) -> Reply {
        let Some(envelope) = self.session.finish_data() else {
            return Reply::new(503, [5, 5, 1], "Bad sequence of commands");
        };
        let tenant = match TenantId::new(&envelope.tenant) {
            Ok(t) => t,
            // Tenants are validated when the config loads; this cannot happen unless the
            // config validation is bypassed. Refuse temporarily rather than lose mail.
            Err(e) => {
                warn!(error = %e, "invalid tenant in configuration");
                return session::storage_unavailable();
            }
        };
        self.ctx.metrics.message_bytes.observe(message.len() as f64);
        let peer = Peer { addr: self.peer_addr.clone(), helo: self.session.helo().to_owned(), tls: self.session.tls() };
        let accepted = accept(&envelope, &tenant, &peer, message, Timestamp::now(), Ulid::new(), self.ctx.inline_limit);
        let postern_id = accepted.envelope.postern_id.clone();
        let span = info_span!(
            "smtp_txn",
            { field::MESSAGE_ID } = %postern_id,
            { field::EVENT_ID } = %accepted.envelope.event_id
        );
        async {
            let payload = proto::encode(&accepted.envelope, &accepted.event);
            let subject = subject::subject_for(accepted.envelope.event_type, &tenant);
            let size = payload.len();
            let publishing = self.ctx.metrics.publish_seconds.start_timer();
            let stored = self.ctx.sink.store(subject, accepted.dedup_id, payload, accepted.object).await;
            publishing.observe_duration();
            match stored {
                Ok(()) => {
                    self.ctx.metrics.stored.inc();
                    info!(tenant = %tenant, bytes = size, "message stored");
                    session::stored(postern_id.as_str())
                }
                Err(e) => {
                    warn!(error = %e, "message not stored; answered 451, the client will retry");
                    session::storage_unavailable()
                }
            }
        }
        .instrument(span)
        .await
    }

    /// A client stalled inside DATA or BDAT: 421 (best effort), and the connection ends.
    async fn timed_out(&mut self, phase: &str) -> io::Error {
        self.say(&session::timeout());
        let _ = self.flush().await;
        io::Error::new(io::ErrorKind::TimedOut, format!("timeout in {phase}"))
    }

    /// Writes a reply to the output buffer, counted by its code.
    fn say(&mut self, reply: &Reply) {
        self.ctx.metrics.reply(reply);
        reply.write_to(&mut self.output);
    }

    async fn close_with(&mut self, reply: Reply) -> io::Result<End> {
        debug!(code = reply.code, "closing connection");
        self.say(&reply);
        self.flush().await?;
        self.io.shutdown().await.ok();
        Ok(End::Closed)
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// Waits up to `data_timeout` for more of a message's bytes (None: none came), after
    /// sending the replies still buffered: a client that ends the connection while the
    /// server waits (in DATA, or for a BDAT chunk after a message was queued) has them.
    async fn read_data(&mut self) -> io::Result<Option<usize>> {
        self.flush().await?;
        match tokio::time::timeout(self.ctx.data_timeout, read_more(&mut self.io, &mut self.input)).await {
            Err(_elapsed) => Ok(None),
            Ok(read) => read.map(Some),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            self.io.write_all(&self.output).await?;
            self.io.flush().await?;
            self.output.clear();
        }
        Ok(())
    }
}

async fn read_more<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + READ_CHUNK, 0);
    let r = io.read(&mut buf[start..]).await;
    buf.truncate(start + *r.as_ref().unwrap_or(&0));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PublishError;
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use tokio::io::duplex;

    /// (subject, payload) of each stored event.
    type Stored = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    /// An in-memory sink for the state machine's tests (the pipeline tests use JetStream).
    #[derive(Clone, Default)]
    struct MemorySink {
        stored: Stored,
        fail: bool,
    }

    impl RawMailSink for MemorySink {
        async fn store(
            &self,
            subject: String,
            _id: String,
            payload: Vec<u8>,
            _object: Option<(String, Vec<u8>)>,
        ) -> Result<(), PublishError> {
            if self.fail {
                return Err(PublishError::Publish("down".into()));
            }
            self.stored.lock().unwrap().push((subject, payload));
            Ok(())
        }
    }

    fn ctx(sink: MemorySink) -> Arc<ConnectionContext<MemorySink>> {
        Arc::new(ConnectionContext {
            session: Arc::new(SessionConfig {
                hostname: "postern.test".into(),
                max_message_size: 1000,
                max_recipients: 10,
                tenancy: crate::tenancy::Tenancy::new(
                    BTreeMap::from([("journal@postern.localhost".into(), "default".into())]),
                    &[],
                )
                .unwrap(),
                starttls: false,
            }),
            sink,
            command_timeout: Duration::from_secs(5),
            data_timeout: Duration::from_secs(5),
            shutdown: CancellationToken::new(),
            tls: None,
            inline_limit: 1 << 20,
            max_command_line: 4096,
            metrics: Arc::new(crate::metrics::IngestMetrics::new(&prometheus::Registry::new())),
        })
    }

    async fn converse(sink: MemorySink, client_bytes: &[u8]) -> String {
        let (client, server) = duplex(1 << 20);
        let ctx = ctx(sink);
        let task = tokio::spawn(async move { serve(server, "127.0.0.1:9".into(), ctx).await });
        let (mut rd, mut wr) = tokio::io::split(client);
        wr.write_all(client_bytes).await.unwrap();
        let mut out = Vec::new();
        rd.read_to_end(&mut out).await.unwrap();
        task.await.unwrap().unwrap();
        String::from_utf8(out).unwrap()
    }

    fn codes(transcript: &str) -> Vec<&str> {
        transcript.lines().filter(|l| l.as_bytes().get(3) == Some(&b' ')).map(|l| &l[..3]).collect()
    }

    #[tokio::test]
    async fn pipelined_transaction_is_stored_and_answered_in_order() {
        let sink = MemorySink::default();
        let t = converse(
            sink.clone(),
            b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<journal@postern.localhost>\r\nDATA\r\n\
Message-ID: <x@y>\r\n\r\n..body\r\n.\r\nQUIT\r\n",
        )
        .await;
        assert_eq!(codes(&t), vec!["220", "250", "250", "250", "354", "250", "221"], "{t}");
        let stored = sink.stored.lock().unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].0, "mail.raw.default");
        let (_, event) = proto::decode(&stored[0].1).unwrap();
        let proto::Event::RawMailReceived(raw) = event else { panic!() };
        assert_eq!(raw.inline_body(), Some(&b"Message-ID: <x@y>\r\n\r\n.body\r\n"[..]));
        assert_eq!(raw.envelope_sender, "a@example.com");
    }

    #[tokio::test]
    async fn bdat_transactions_are_stored_byte_for_byte() {
        let sink = MemorySink::default();
        let t = converse(
            sink.clone(),
            b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<journal@postern.localhost>\r\nBDAT 12\r\nSubject: x\r\nBDAT 3 LAST\r\n.\r\nBDAT 3 LAST\r\nabcQUIT\r\n",
        )
        .await;
        assert_eq!(codes(&t), vec!["220", "250", "250", "250", "250", "250", "503", "221"], "{t}");
        let stored = sink.stored.lock().unwrap();
        let (_, event) = proto::decode(&stored[0].1).unwrap();
        let proto::Event::RawMailReceived(raw) = event else { panic!() };
        // No dot-unstuffing in BDAT: the bytes are the message.
        assert_eq!(raw.inline_body(), Some(&b"Subject: x\r\n.\r\n"[..]));
    }

    #[tokio::test]
    async fn storage_failure_is_451_and_the_session_goes_on() {
        let sink = MemorySink { fail: true, ..Default::default() };
        let t = converse(
            sink,
            b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<journal@postern.localhost>\r\nDATA\r\nx\r\n.\r\nNOOP\r\nQUIT\r\n",
        )
        .await;
        assert_eq!(codes(&t), vec!["220", "250", "250", "250", "354", "451", "250", "221"], "{t}");
        assert!(t.contains("451 4.3.0"));
    }

    #[tokio::test]
    async fn oversized_data_is_552_and_not_stored() {
        let sink = MemorySink::default();
        let mut input = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<journal@postern.localhost>\r\nDATA\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3000));
        input.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
        let t = converse(sink.clone(), &input).await;
        assert!(t.contains("552 5.3.4"), "{t}");
        assert!(sink.stored.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_huge_command_line_closes_with_500() {
        let mut input = b"EHLO ".to_vec();
        input.extend(std::iter::repeat_n(b'a', 100_000));
        let t = converse(MemorySink::default(), &input).await;
        assert!(t.contains("500 5.5.6"), "{t}");
    }

    #[tokio::test]
    async fn shutdown_gets_421_at_a_command_boundary() {
        let (client, server) = duplex(1 << 16);
        let ctx = ctx(MemorySink::default());
        let token = ctx.shutdown.clone();
        let task = tokio::spawn(async move { serve(server, "p".into(), ctx).await });
        let (mut rd, mut wr) = tokio::io::split(client);
        wr.write_all(b"EHLO c\r\n").await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut seen = String::new();
        while !seen.contains("ENHANCEDSTATUSCODES") {
            let n = rd.read(&mut buf).await.unwrap();
            seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        token.cancel();
        let mut rest = Vec::new();
        rd.read_to_end(&mut rest).await.unwrap();
        assert!(String::from_utf8(rest).unwrap().starts_with("421 4.3.2"));
        task.await.unwrap().unwrap();
    }
}
