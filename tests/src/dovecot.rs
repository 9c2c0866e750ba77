//! A real Dovecot IMAP server (Debian's dovecot-imapd) for the remediation tests: a fresh
//! folder, a free port on 127.0.0.1, plaintext logins (loopback only), the given users
//! with Maildirs, and a master user `postern` (logins `user*postern`) as an administrator
//! would give a remediation service. Mail is owned by `nobody`. Killed on drop.
//!
//! Mailboxes are filled and read with Python's imaplib (a client nobody here wrote).

use crate::process::Service;
use crate::{free_port, wait_for_port};
use anyhow::{Context, Result, ensure};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub const MASTER: &str = "postern";
pub const MASTER_PASSWORD: &str = "master-secret";
pub const USER_PASSWORD: &str = "user-secret";

pub struct Dovecot {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
}

impl Dovecot {
    /// `with_move`: whether the server advertises MOVE (without it, clients copy, flag
    /// `\Deleted` and expunge).
    pub fn start(users: &[&str], with_move: bool) -> Result<Self> {
        ensure!(std::path::Path::new("/usr/sbin/dovecot").is_file(), "dovecot is not installed: run `just setup`");
        let dir = tempfile::Builder::new().prefix("postern-dovecot-").tempdir()?;
        let d = dir.path();
        // Mail processes run as nobody: they must reach the mail folder.
        Command::new("chmod").arg("755").arg(d).status()?;
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        Command::new("chown").args(["nobody:nogroup"]).arg(d.join("mail")).status()?;
        let users_file: String = users.iter().map(|u| format!("{u}:{{PLAIN}}{USER_PASSWORD}\n")).collect();
        std::fs::write(d.join("users.passwd"), users_file)?;
        std::fs::write(d.join("master.passwd"), format!("{MASTER}:{{PLAIN}}{MASTER_PASSWORD}\n"))?;
        let port = free_port();
        let capability = if with_move {
            String::new()
        } else {
            // The usual post-login capabilities, without MOVE.
            "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS NAMESPACE CHILDREN\n"
                .to_owned()
        };
        let conf = format!(
            r#"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_master_user_separator = *
first_valid_uid = 100
last_valid_uid = 0
default_login_user = nobody
default_internal_user = nobody
mail_location = maildir:{d}/mail/%u/Maildir
{capability}service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
passdb {{
  driver = passwd-file
  master = yes
  args = {d}/master.passwd
  pass = yes
}}
passdb {{
  driver = passwd-file
  args = {d}/users.passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%u
}}
"#,
            d = d.display()
        );
        std::fs::write(d.join("dovecot.conf"), conf)?;
        let mut server = Dovecot { child: None, port, dir };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        let child = Command::new("/usr/sbin/dovecot")
            .arg("-F")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dovecot")?;
        self.child = Some(child);
        wait_for_port(self.addr(), Duration::from_secs(15))
            .with_context(|| format!("dovecot did not start:\n{}", self.log()))
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() {
                if std::time::Instant::now() > deadline {
                    child.kill()?;
                    child.wait()?;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Its port must be free before a restart.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(self.addr()).is_ok() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Starts the remediator against this server, on the JetStream at `nats_url` with its
    /// bucket on `replicas` nodes (config file and log in `dir`): master-user logins, quick
    /// retries (200 ms doubling to 1 s, 10 attempts).
    pub fn start_remediator(&self, dir: &std::path::Path, nats_url: &str, replicas: usize) -> Result<Service> {
        let config = dir.join("remediator.toml");
        std::fs::write(
            &config,
            format!(
                "nats_url = \"{nats_url}\"\nreplicas = {replicas}\nmax_attempts = 10\nbackoff = \"200ms\"\nbackoff_max = \"1s\"\nack_wait = \"20s\"\n\
                 [tenants.default.imap]\naddress = \"{}\"\nlogin = \"{{mailbox}}*{MASTER}\"\npassword = \"{MASTER_PASSWORD}\"\ntimeout = \"5s\"\n",
                self.addr()
            ),
        )?;
        Service::start("remediator", "remediator", &["--config", config.to_str().context("config path")?], dir)
    }

    /// Puts a message into a user's INBOX (IMAP APPEND as that user).
    pub fn deliver(&self, user: &str, message: &[u8]) -> Result<()> {
        self.deliver_to(user, "INBOX", message)
    }

    /// Puts a message into one of a user's folders, creating the folder if need be.
    pub fn deliver_to(&self, user: &str, folder: &str, message: &[u8]) -> Result<()> {
        let script = r#"
import imaplib, sys
port, user, password, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, password)
if folder != "INBOX":
    m.create('"%s"' % folder)
typ, _ = m.append('"%s"' % folder, None, None, sys.stdin.buffer.read())
assert typ == "OK", typ
m.logout()
"#;
        run_python(script, &[&self.port.to_string(), user, USER_PASSWORD, folder], message)?;
        Ok(())
    }

    /// The Message-IDs in each of a user's folders: (folder, message ids).
    pub fn folders(&self, user: &str) -> Result<Vec<(String, Vec<String>)>> {
        let script = r#"
import imaplib, json, sys, email
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, password)
out = []
typ, boxes = m.list()
for line in boxes:
    name = line.decode().rsplit(' ', 1)[1].strip('"')
    m.select('"%s"' % name, readonly=True)
    typ, data = m.search(None, "ALL")
    ids = []
    for num in data[0].split():
        typ, msg = m.fetch(num, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        header = email.message_from_bytes(msg[0][1])
        ids.append((header.get("Message-ID") or "").strip())
    out.append([name, ids])
m.logout()
print(json.dumps(out))
"#;
        let out = run_python(script, &[&self.port.to_string(), user, USER_PASSWORD], b"")?;
        let parsed: Vec<(String, Vec<String>)> = serde_json::from_str(out.trim()).context("imaplib listing")?;
        Ok(parsed)
    }
}

impl Dovecot {
    /// Sets `flag` (`\\Flagged`, `$Important`) on the messages with `message_id` in one of
    /// a user's folders (as the user's mail client would).
    pub fn add_flag(&self, user: &str, folder: &str, message_id: &str, flag: &str) -> Result<()> {
        let script = r#"
import imaplib, sys
port, user, password, folder, mid, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, password)
m.select('"%s"' % folder)
typ, data = m.search(None, "HEADER", "Message-ID", '"%s"' % mid)
for num in data[0].split():
    typ, _ = m.store(num, "+FLAGS", "(%s)" % flag)
    assert typ == "OK", typ
m.logout()
"#;
        run_python(script, &[&self.port.to_string(), user, USER_PASSWORD, folder, message_id, flag], b"")?;
        Ok(())
    }

    /// The flags of each message with `message_id` in one of a user's folders.
    pub fn flags(&self, user: &str, folder: &str, message_id: &str) -> Result<Vec<Vec<String>>> {
        let script = r#"
import imaplib, json, sys
port, user, password, folder, mid = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, password)
m.select('"%s"' % folder, readonly=True)
typ, data = m.search(None, "HEADER", "Message-ID", '"%s"' % mid)
out = []
for num in data[0].split():
    typ, fetched = m.fetch(num, "(FLAGS)")
    out.append([f.decode() for f in imaplib.ParseFlags(fetched[0])])
m.logout()
print(json.dumps(out))
"#;
        let out = run_python(script, &[&self.port.to_string(), user, USER_PASSWORD, folder, message_id], b"")?;
        serde_json::from_str(out.trim()).context("imaplib flags")
    }
}

fn run_python(script: &str, args: &[&str], stdin: &[u8]) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running python3 (imaplib)")?;
    child.stdin.take().context("stdin")?.write_all(stdin)?;
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "imaplib failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
