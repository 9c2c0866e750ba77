//! A bare SMTP line client over TCP, for the abuse tests: it sends whatever bytes a test
//! wants, broken ones included, and reads replies as the server wrote them.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct RawSmtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// One (possibly multi-line) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

impl RawSmtp {
    pub fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(RawSmtp { reader: BufReader::new(stream.try_clone()?), writer: stream })
    }

    pub fn set_read_timeout(&self, timeout: Duration) -> Result<()> {
        Ok(self.writer.set_read_timeout(Some(timeout))?)
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer.write_all(bytes)?;
        Ok(self.writer.flush()?)
    }

    /// Sends one command line (CRLF appended) and reads the reply.
    pub fn command(&mut self, line: &str) -> Result<Reply> {
        self.send(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    pub fn reply(&mut self) -> Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).context("reading a reply")?;
            if n == 0 {
                bail!("connection closed (after {lines:?})");
            }
            let line = line.trim_end().to_owned();
            let code: u16 =
                line.get(..3).and_then(|c| c.parse().ok()).with_context(|| format!("bad reply line {line:?}"))?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// True when the server has closed the connection (reads end of stream).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = String::new();
        matches!(self.reader.read_line(&mut buf), Ok(0))
    }
}
