//! SMTP clients nobody here wrote: Python's smtplib and swaks.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// One message to send: envelope and the raw RFC 5322 bytes (CRLF line ends).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

impl Outgoing {
    /// A copy for the local journal address (tenant `default`).
    pub fn to_journal(mail_from: &str, data: Vec<u8>) -> Self {
        Outgoing { mail_from: mail_from.to_owned(), rcpt_to: vec![crate::pipeline::JOURNAL.to_owned()], data }
    }
}

/// The reply the server gave to the end of one message's DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: u16,
    pub text: String,
}

/// A simple message with a given Message-ID.
pub fn message(message_id: &str, from: &str, to: &str, subject: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n{extra_headers}\r\n\
Hello,\r\n.this line starts with a dot\r\nRegards\r\n"
    )
    .into_bytes()
}

const SMTPLIB_SENDER: &str = r#"
import base64, json, smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
messages = json.load(sys.stdin)
out = []
s = smtplib.SMTP(host, port, timeout=60)
s.ehlo("testkit.localhost")
for m in messages:
    try:
        refused = s.sendmail(m["mail_from"], m["rcpt_to"], base64.b64decode(m["data_b64"]))
        out.append({"code": 250, "text": "ok"})
    except smtplib.SMTPResponseException as e:
        out.append({"code": e.smtp_code, "text": e.smtp_error.decode("utf-8", "replace")})
        s.rset()
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        out.append({"code": code, "text": text.decode("utf-8", "replace")})
        s.rset()
s.quit()
json.dump(out, sys.stdout)
"#;

/// Sends every message over one connection with Python's smtplib; returns each outcome.
pub fn send_with_smtplib(addr: SocketAddr, messages: &[Outgoing]) -> Result<Vec<Outcome>> {
    let payload = serde_json::Value::Array(
        messages
            .iter()
            .map(|m| {
                serde_json::json!({"mail_from": m.mail_from, "rcpt_to": m.rcpt_to, "data_b64": crate::journal::base64(&m.data)})
            })
            .collect(),
    );
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SMTPLIB_SENDER)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting python3 (smtplib)")?;
    child.stdin.take().context("stdin")?.write_all(payload.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("smtplib sender failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let results: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).context("smtplib output")?;
    Ok(results
        .into_iter()
        .map(|r| Outcome {
            code: r["code"].as_u64().unwrap_or(0) as u16,
            text: r["text"].as_str().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// Sends one message with swaks; returns its whole transcript (swaks exits non-zero when
/// the server refuses, which is reported as an error with the transcript).
pub fn send_with_swaks(addr: SocketAddr, message: &Outgoing, extra_args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("swaks");
    cmd.arg("--server")
        .arg(addr.ip().to_string())
        .arg("--port")
        .arg(addr.port().to_string())
        .arg("--from")
        .arg(&message.mail_from)
        .arg("--helo")
        .arg("swaks.testkit.localhost")
        .arg("--data")
        .arg("-")
        .args(extra_args);
    for rcpt in &message.rcpt_to {
        cmd.arg("--to").arg(rcpt);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting swaks (install it with scripts/setup.sh)")?;
    child.stdin.take().context("stdin")?.write_all(&message.data)?;
    let output = child.wait_with_output()?;
    let transcript = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("swaks failed ({}):\n{transcript}", output.status);
    }
    Ok(transcript)
}

/// What Postfix's `smtp-source -v` saw: the ids of the messages answered 250 ("queued as
/// X") and the replies of those refused at the end of DATA.
#[derive(Debug, Default)]
pub struct SourceRun {
    pub accepted: Vec<String>,
    /// Replies to the end of DATA that were not 250.
    pub refused: Vec<String>,
    /// Any other warning or error smtp-source reported.
    pub other_errors: Vec<String>,
    pub output: String,
}

/// Runs `smtp-source -v -A` with `args` (message count, sessions, size...) against `addr`.
pub fn run_smtp_source(addr: SocketAddr, args: &[&str]) -> Result<SourceRun> {
    let smtp_source = ["/usr/sbin/smtp-source", "/usr/bin/smtp-source"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .context("smtp-source is not installed (Debian package postfix; run scripts/setup.sh)")?;
    let output = Command::new(smtp_source)
        .arg("-v")
        .arg("-A")
        .args(args)
        .arg(format!("{}:{}", addr.ip(), addr.port()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .context("running smtp-source")?;
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut run = SourceRun::default();
    for line in text.lines() {
        // Lines read "<program path>: <text>"; sessions interleave, so each outcome is
        // taken from a line that names it: the 250 reply with its id, or smtp-source's
        // own warning for any refusal.
        let Some((_, rest)) = line.split_once("smtp-source: ") else { continue };
        if let Some(id) = rest.strip_prefix("<<< 250 2.0.0 OK: queued as ") {
            run.accepted.push(id.trim().to_owned());
        } else if let Some(reply) = rest.strip_prefix("warning: end of data rejected: ") {
            run.refused.push(reply.to_owned());
        } else if rest.starts_with("warning: ") || rest.starts_with("fatal: ") {
            run.other_errors.push(rest.to_owned());
        }
    }
    run.output = text;
    Ok(run)
}

/// Postfix's smtp-sink on a free loopback port: accepts every message and drops it (the
/// no-work ceiling of this machine for SMTP). Killed on drop.
pub struct SmtpSink {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl SmtpSink {
    pub fn start() -> Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], crate::free_port()));
        // It must not run as root.
        let child = Command::new("smtp-sink")
            .args(["-u", "nobody", "-c"])
            .arg(format!("{}:{}", addr.ip(), addr.port()))
            .arg("1024")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting smtp-sink (Debian package postfix)")?;
        let sink = SmtpSink { addr, child };
        crate::wait_for_port(addr, std::time::Duration::from_secs(10))?;
        Ok(sink)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
