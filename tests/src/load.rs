//! Steady SMTP load from Python's smtplib, retrying as an MTA does: a 4xx reply or a broken
//! connection means "send it again later". Loopback only, bounded in count and time.

use anyhow::{Context, Result, ensure};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Sends every message at a steady rate, each until it gets a 250 or the deadline passes;
/// writes one JSON line per message to a file (not to a pipe nobody reads until the end: its
/// buffer would fill and stop the sender): its index, the Postern id of its 250 (or null),
/// how many tries it took, the reply codes of the refused tries, how many tries ended in a
/// broken connection, and when the 250 came (seconds since the Unix epoch).
const SENDER: &str = r#"
import json, smtplib, sys, time
host, port, count, seconds, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
results, rcpt, tag, lines = open(sys.argv[6], "w"), sys.argv[7], sys.argv[8], int(sys.argv[9])
extra = sys.argv[10] if len(sys.argv) > 10 else ""
start = time.time()
deadline = start + seconds
conn = None
# The body is the same for every message, written with CRLF and no line that starts with a
# dot: built once and sent as it is after DATA's 354 (smtplib's data() would scan each
# message again for line ends and dots: measured against smtp-sink, 0.58 ms of CPU a 20 KB
# message that way, 0.33 this way).
body = ("line of a message under load\r\n" * lines).encode()
for i in range(count):
    time.sleep(max(0.0, start + i / rate - time.time()))
    msg = ("From: %s@load.example\r\nTo: user@corp.example\r\nSubject: %s %d\r\n"
           "Message-ID: <%s-%d@load.example>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n%s\r\n" % (tag, tag, i, tag, i, extra)).encode() + body
    tries, queued, refusals, broken, at = 0, None, [], 0, None
    while queued is None and time.time() < deadline:
        tries += 1
        try:
            if conn is None:
                conn = smtplib.SMTP(host, port, timeout=30)
                conn.ehlo("load.localhost")
            conn.mail("%s@load.example" % tag)
            conn.rcpt(rcpt)
            code, reply = conn.docmd("DATA")
            if code != 354:
                raise smtplib.SMTPDataError(code, reply)
            conn.send(msg + b".\r\n")
            code, reply = conn.getreply()
            if code == 250:
                at = time.time()
                queued = reply.decode().rsplit(" ", 1)[-1]
            else:
                refusals.append(code)
                conn.rset()
                time.sleep(0.2)
        except smtplib.SMTPResponseException as e:
            refusals.append(e.smtp_code)
            try:
                conn.rset()
            except Exception:
                conn = None
            time.sleep(0.2)
        except Exception:
            broken += 1
            try:
                conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.2)
    results.write(json.dumps({"i": i, "queued": queued, "tries": tries, "refusals": refusals, "broken": broken, "at": at}) + "\n")
    results.flush()
results.close()
"#;

/// What became of one message.
#[derive(Debug, Clone)]
pub struct Sent {
    pub index: usize,
    /// The Postern id of the 250, or None when it was never accepted.
    pub queued: Option<String>,
    pub tries: u64,
    /// Reply codes of the refused tries (451 while the store cannot acknowledge).
    pub refusals: Vec<u16>,
    /// Tries that ended in a broken connection (ingest killed, say).
    pub broken: u64,
    /// When the 250 came, in seconds since the Unix epoch.
    pub accepted_at: Option<f64>,
}

/// What a [`SteadyLoad`] offers: `count` messages of about `bytes` each to `rcpt`, at `rate`
/// per second, each tried until it is accepted or `seconds` have passed since the start.
/// The Message-IDs are `<{tag}-{i}@load.example>`.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    pub rcpt: &'a str,
    pub tag: &'a str,
    pub count: usize,
    pub rate: u32,
    pub seconds: u64,
    pub bytes: usize,
    /// Header lines (each ending in CRLF) added to every message: a `List-Unsubscribe`
    /// makes them newsletters, say.
    pub headers: &'a str,
}

impl<'a> Offer<'a> {
    /// `count` messages of 1,300 bytes to the local journal address at `rate` per second,
    /// within `seconds`.
    pub fn new(tag: &'a str, count: usize, rate: u32, seconds: u64) -> Self {
        Offer { rcpt: crate::pipeline::JOURNAL, tag, count, rate, seconds, bytes: 1_300, headers: "" }
    }
}

/// The running sender.
pub struct SteadyLoad {
    child: Child,
    results: PathBuf,
    count: usize,
}

impl SteadyLoad {
    /// Offers `offer.count` messages to `smtp` as `offer` says; results go to `results` (a
    /// JSONL file).
    pub fn start(smtp: SocketAddr, offer: &Offer<'_>, results: &Path) -> Result<Self> {
        let Offer { rcpt, tag, count, rate, seconds, bytes, headers } = *offer;
        ensure!(headers.is_empty() || headers.ends_with("\r\n"), "each header line ends in CRLF");
        // The headers take about 180 bytes; each body line 30.
        let lines = (bytes.saturating_sub(180 + headers.len()) / 30).max(1);
        ensure!(count as u64 <= seconds * u64::from(rate), "{count} messages at {rate}/s do not fit in {seconds} s");
        let child = Command::new("python3")
            .arg("-c")
            .arg(SENDER)
            .arg(smtp.ip().to_string())
            .arg(smtp.port().to_string())
            .arg(count.to_string())
            .arg(seconds.to_string())
            .arg(rate.to_string())
            .arg(results)
            .arg(rcpt)
            .arg(tag)
            .arg(lines.to_string())
            .arg(headers)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("python3 (smtplib)")?;
        Ok(SteadyLoad { child, results: results.to_owned(), count })
    }

    pub fn is_running(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// How many messages have been reported so far (accepted or given up).
    pub fn reported(&self) -> usize {
        std::fs::read_to_string(&self.results).map(|t| t.lines().count()).unwrap_or(0)
    }

    /// Waits for the sender to finish and reads what became of every message.
    pub fn finish(self) -> Result<Vec<Sent>> {
        let out = self.child.wait_with_output()?;
        ensure!(out.status.success(), "the sender failed: {}", String::from_utf8_lossy(&out.stderr));
        let sent: Vec<Sent> = std::fs::read_to_string(&self.results)?
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)?;
                Ok(Sent {
                    index: v["i"].as_u64().unwrap_or(0) as usize,
                    queued: v["queued"].as_str().map(str::to_owned),
                    tries: v["tries"].as_u64().unwrap_or(0),
                    refusals: v["refusals"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|c| c.as_u64().map(|c| c as u16)).collect())
                        .unwrap_or_default(),
                    broken: v["broken"].as_u64().unwrap_or(0),
                    accepted_at: v["at"].as_f64(),
                })
            })
            .collect::<Result<_>>()?;
        ensure!(sent.len() == self.count, "{} of {} messages reported", sent.len(), self.count);
        Ok(sent)
    }
}
