//! ingest as an SMTP server, against clients nobody here wrote (swaks with STARTTLS) and
//! against deliberate abuse over a bare socket: every limit answers with its reply code
//! and nothing accepted is lost.

use anyhow::{Result, ensure};
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use testkit::pipeline::{JOURNAL, Pipeline};
use testkit::raw_smtp::RawSmtp;
use testkit::smtp::{Outgoing, message, send_with_swaks};

fn greeted(addr: SocketAddr) -> Result<RawSmtp> {
    let mut c = RawSmtp::connect(addr)?;
    ensure!(c.reply()?.code == 220);
    ensure!(c.command("EHLO abuse.test")?.code == 250);
    Ok(c)
}

#[test]
fn starttls_with_swaks() -> Result<()> {
    let certs = tempfile::tempdir()?;
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let args = [OsStr::new("generate-cert"), "--cert".as_ref(), cert.as_os_str(), "--key".as_ref(), key.as_os_str()];
    testkit::cli::run("ingest", &args, &[])?.ok()?;
    let p = Pipeline::start_with(&format!("[tls]\ncert = \"{}\"\nkey = \"{}\"\n", cert.display(), key.display()))?;
    let over_tls = message("tls-1@example.com", "a@example.com", "b@corp.example", "Over TLS", "");
    let out = send_with_swaks(p.smtp, &Outgoing::to_journal("a@example.com", over_tls), &["--tls"])?;
    ensure!(out.contains("TLS started"), "swaks did not start TLS:\n{out}");
    ensure!(out.contains("250 2.0.0 OK: queued as"), "{out}");
    p.wait_for_checkpoints(1, 1, Duration::from_secs(30))?;
    ensure!(p.traces("tls-1@example.com")?.len() == 1);
    Ok(())
}

#[test]
fn abuse_gets_the_right_replies_and_loses_nothing() -> Result<()> {
    let p = Pipeline::start_with(
        "max_recipients = 2\nmax_message_size = 1048576\nmax_connections_per_ip = 4\ncommand_timeout = \"2s\"\n\
         data_timeout = \"2s\"\nmax_command_line = 512\n\
         journal_patterns = [\"{tenant}@journal.test\"]\n\
         [journal_addresses]\n\"journal@postern.localhost\" = \"default\"\n\"j2@postern.localhost\" = \"default\"\n\
         \"j3@postern.localhost\" = \"default\"\n",
    )?;

    // Commands out of order.
    let mut c = RawSmtp::connect(p.smtp)?;
    ensure!(c.reply()?.code == 220);
    ensure!(c.command("MAIL FROM:<a@b.example>")?.code == 503, "MAIL before EHLO");
    ensure!(c.command("EHLO abuse.test")?.code == 250);
    ensure!(c.command("DATA")?.code == 503, "DATA without MAIL");
    ensure!(c.command("MAIL FROM:<a@b.example>")?.code == 250);
    ensure!(c.command("DATA")?.code == 503, "DATA without RCPT");
    ensure!(c.command("RCPT TO:<stranger@elsewhere.example>")?.code == 550);
    ensure!(c.command("BOGUS command")?.code == 500);
    ensure!(c.command("MAIL FROM:<a@b.example> SIZE=99999999")?.code == 503, "nested MAIL");
    ensure!(c.command("RSET")?.code == 250);
    ensure!(c.command("MAIL FROM:<a@b.example> SIZE=99999999")?.code == 552, "declared size over the limit");

    // Too many recipients (max 2), and one tenant per transaction.
    ensure!(c.command("MAIL FROM:<a@b.example>")?.code == 250);
    ensure!(c.command("RCPT TO:<journal@postern.localhost>")?.code == 250);
    let r = c.command("RCPT TO:<acme@journal.test>")?;
    ensure!(r.code == 452 && r.text().contains("4.5.3"), "another tenant's address: {r:?}");
    ensure!(c.command("RCPT TO:<j2@postern.localhost>")?.code == 250);
    let r = c.command("RCPT TO:<j3@postern.localhost>")?;
    ensure!(r.code == 452 && r.text().contains("4.5.3"), "third recipient: {r:?}");
    ensure!(c.command("RSET")?.code == 250);

    // Bare LF does not end DATA; NUL bytes travel untouched; dot-stuffing is undone.
    ensure!(c.command("MAIL FROM:<a@b.example>")?.code == 250);
    ensure!(c.command(&format!("RCPT TO:<{JOURNAL}>"))?.code == 250);
    ensure!(c.command("DATA")?.code == 354);
    c.send(b"Message-ID: <abuse-bare-lf@example.com>\r\nSubject: nul \x00 here\r\n\r\nline\n.\nstill data\r\n..dot\r\n.\r\n")?;
    let stored = c.reply()?;
    ensure!(stored.code == 250, "bare LF message: {stored:?}");

    // BDAT (CHUNKING): two chunks, stored as sent, no dot-unstuffing.
    ensure!(c.command("MAIL FROM:<a@b.example>")?.code == 250);
    ensure!(c.command(&format!("RCPT TO:<{JOURNAL}>"))?.code == 250);
    let first = b"Message-ID: <abuse-bdat@example.com>\r\nSubject: chunked\r\n\r\n";
    let second = b"..not unstuffed\r\n";
    c.send(format!("BDAT {}\r\n", first.len()).as_bytes())?;
    c.send(first)?;
    ensure!(c.reply()?.code == 250);
    c.send(format!("BDAT {} LAST\r\n", second.len()).as_bytes())?;
    c.send(second)?;
    let r = c.reply()?;
    ensure!(r.code == 250 && r.text().contains("queued as"), "BDAT LAST: {r:?}");

    // A 10 MB header line: read to the end, refused with 552, the session goes on.
    ensure!(c.command("MAIL FROM:<a@b.example>")?.code == 250);
    ensure!(c.command(&format!("RCPT TO:<{JOURNAL}>"))?.code == 250);
    ensure!(c.command("DATA")?.code == 354);
    let mut huge = b"X-Huge: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    huge.extend_from_slice(b"\r\n\r\nbody\r\n.\r\n");
    c.send(&huge)?;
    let r = c.reply()?;
    ensure!(r.code == 552 && r.text().contains("5.3.4"), "{r:?}");
    ensure!(c.command("NOOP")?.code == 250, "session continues after 552");

    // A complete command line over max_command_line gets 500 5.5.6; the session goes on.
    let r = c.command(&format!("NOOP {}", "x".repeat(600)))?;
    ensure!(r.code == 500 && r.text().contains("5.5.6"), "{r:?}");
    ensure!(c.command("NOOP")?.code == 250);

    // A command line far over the limit, never ending, closes the connection with 500.
    let mut long = vec![b'N'; 100_000];
    long.extend_from_slice(b"\r\n");
    c.send(&long)?;
    let r = c.reply()?;
    ensure!(r.code == 500, "{r:?}");

    // Connections per client address. The server frees the slot of the connection it just
    // closed when that session's task ends, so each of the four is retried until served.
    ensure!(c.is_closed(), "the connection closed after the endless line");
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(testkit::eventually(Duration::from_secs(10), "a connection slot", || Ok(greeted(p.smtp).ok()))?);
    }
    let mut extra = RawSmtp::connect(p.smtp)?;
    let r = extra.reply()?;
    ensure!(r.code == 421, "fifth connection: {r:?}");
    drop(held);

    // A silent client is dropped after command_timeout with 421. (The server frees the
    // per-address slots of the closed connections as it notices they closed.)
    let mut silent = testkit::eventually(Duration::from_secs(10), "per-address slots released", || {
        let mut s = RawSmtp::connect(p.smtp)?;
        Ok((s.reply()?.code == 220).then_some(s))
    })?;
    let started = Instant::now();
    let r = silent.reply()?;
    ensure!(r.code == 421 && started.elapsed() >= Duration::from_millis(1500), "{r:?} after {:?}", started.elapsed());

    // A slow client within the timeout is served: one byte every 50 ms.
    let mut slow = RawSmtp::connect(p.smtp)?;
    ensure!(slow.reply()?.code == 220);
    for b in b"EHLO slow.test\r\n" {
        slow.send(&[*b])?;
        std::thread::sleep(Duration::from_millis(50));
    }
    ensure!(slow.reply()?.code == 250);

    // A client that stalls in DATA is dropped after data_timeout; nothing is stored.
    let mut stalled = greeted(p.smtp)?;
    ensure!(stalled.command("MAIL FROM:<a@b.example>")?.code == 250);
    ensure!(stalled.command(&format!("RCPT TO:<{JOURNAL}>"))?.code == 250);
    ensure!(stalled.command("DATA")?.code == 354);
    stalled.send(b"Message-ID: <abuse-stalled@example.com>\r\n\r\nhalf a message")?;
    let started = Instant::now();
    let r = stalled.reply()?;
    ensure!(r.code == 421 && r.text().contains("4.4.2"), "stalled in DATA: {r:?}");
    ensure!(stalled.is_closed(), "the stalled session is closed");
    ensure!(started.elapsed() >= Duration::from_millis(1500), "closed after {:?}", started.elapsed());

    // The two accepted messages are in the view, exactly once each, and ingest is still up.
    p.wait_for_checkpoints(2, 2, Duration::from_secs(30))?;
    for id in ["abuse-bare-lf@example.com", "abuse-bdat@example.com"] {
        let t = p.traces(id)?;
        ensure!(t.len() == 1 && t[0]["copies"] == 1, "{id}: {t:?}");
    }
    ensure!(p.traces("abuse-stalled@example.com")?.is_empty());
    let raw = testkit::jetstream::read_stream(&p.nats.url(), "MAIL_RAW")?;
    ensure!(raw.len() == 2, "{} raw events", raw.len());
    let body = b"Subject: nul \x00 here\r\n\r\nline\n.\nstill data\r\n.dot\r\n";
    ensure!(raw[0].payload.windows(body.len()).any(|w| w == body), "stored bytes differ");
    let chunked = b"Subject: chunked\r\n\r\n..not unstuffed\r\n";
    ensure!(raw[1].payload.windows(chunked.len()).any(|w| w == chunked), "BDAT bytes differ");
    Ok(())
}

#[test]
fn clients_outside_the_allowed_networks_get_554() -> Result<()> {
    let p = Pipeline::start_with("allowed_networks = [\"10.0.0.0/8\"]\n")?;
    let mut c = RawSmtp::connect(p.smtp)?;
    let r = c.reply()?;
    ensure!(r.code == 554 && r.text().contains("5.7.1"), "{r:?}");
    ensure!(c.is_closed(), "the connection is closed after 554");
    Ok(())
}

#[test]
fn connections_over_max_connections_get_421() -> Result<()> {
    let p = Pipeline::start_with("max_connections = 2\n")?;
    let held: Vec<RawSmtp> = (0..2).map(|_| greeted(p.smtp)).collect::<Result<_>>()?;
    let mut third = RawSmtp::connect(p.smtp)?;
    let r = third.reply()?;
    ensure!(r.code == 421 && r.text().contains("4.7.0"), "{r:?}");
    ensure!(third.is_closed());
    drop(held);
    testkit::eventually(Duration::from_secs(10), "a place is free again", || {
        let mut c = RawSmtp::connect(p.smtp)?;
        Ok((c.reply()?.code == 220).then_some(()))
    })
}

#[test]
fn shutdown_lets_data_finish_and_tells_idle_sessions_421() -> Result<()> {
    let mut p = Pipeline::start()?;
    let mut idle = greeted(p.smtp)?;
    let mut busy = greeted(p.smtp)?;
    ensure!(busy.command("MAIL FROM:<a@b.example>")?.code == 250);
    ensure!(busy.command(&format!("RCPT TO:<{JOURNAL}>"))?.code == 250);
    ensure!(busy.command("DATA")?.code == 354);
    busy.send(b"Message-ID: <in-flight@example.com>\r\nSubject: half\r\n\r\nfirst half\r\n")?;

    // SIGTERM while one session is in DATA and another is idle.
    p.ingest.signal_term()?;
    let r = idle.reply()?;
    ensure!(r.code == 421, "idle session: {r:?}");
    busy.send(b"second half\r\n.\r\n")?;
    let r = busy.reply()?;
    ensure!(r.code == 250, "in-flight transaction: {r:?}");
    let after = busy.command("NOOP")?;
    ensure!(after.code == 421, "after its transaction the busy session is closed too: {after:?}");
    ensure!(p.ingest.wait_exit(Duration::from_secs(20))?, "ingest exited cleanly:\n{}", p.logs());
    p.wait_for_checkpoints(1, 1, Duration::from_secs(30))?;
    ensure!(p.traces("in-flight@example.com")?.len() == 1);
    Ok(())
}

#[test]
fn large_messages_go_through_the_object_store_up_to_40_mib() -> Result<()> {
    use testkit::smtp::send_with_smtplib;
    let p = Pipeline::start()?;
    let sizes = [20 * 1024, (1 << 20) - 4096, (1 << 20) + 1, 5 << 20, 40 << 20];
    let mut sent = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let mut data = message(&format!("large-{i}@example.com"), "a@example.com", "b@corp.example", "Large", "");
        // Fill to the size with base64-like lines, as an attachment would be.
        let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n";
        while data.len() + line.len() + 2 <= *size {
            data.extend_from_slice(line);
        }
        // Exactly `size` bytes: the last line takes up the rest.
        data.extend(std::iter::repeat_n(b'A', size - data.len() - 2));
        data.extend_from_slice(b"\r\n");
        sent.push(data);
    }
    let outgoing: Vec<Outgoing> = sent.iter().map(|d| Outgoing::to_journal("a@example.com", d.clone())).collect();
    for (i, o) in send_with_smtplib(p.smtp, &outgoing)?.iter().enumerate() {
        ensure!(o.code == 250, "message of {} bytes: {o:?}", sent[i].len());
    }
    p.wait_for_checkpoints(5, 5, Duration::from_secs(120))?;
    for i in 0..sizes.len() {
        let t = p.traces(&format!("large-{i}@example.com"))?;
        ensure!(t.len() == 1 && t[0]["disposition"] == "NONE", "large-{i}: {t:?}");
    }
    // The three above the 1 MiB inline limit are objects, byte for byte; the rest inline.
    let objects = testkit::jetstream::objects(&p.nats.url(), "MAIL_RAW_BODIES")?;
    ensure!(objects.len() == 3, "{} objects", objects.len());
    for data in &sent[2..] {
        ensure!(objects.iter().any(|(_, bytes)| bytes == data), "a {}-byte message is not stored as sent", data.len());
    }
    let raw = testkit::jetstream::read_stream(&p.nats.url(), "MAIL_RAW")?;
    for (m, data) in raw.iter().zip(&sent).take(2) {
        ensure!(m.payload.windows(data.len()).any(|w| w == data.as_slice()), "inline body differs");
    }
    Ok(())
}
