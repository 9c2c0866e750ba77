//! `just up`'s script (scripts/up.sh) as a user runs it, on free ports and a temp folder: the
//! pipeline comes up, a scorer killed with kill -9 is restarted by the supervisor while the
//! others go on (mail sent afterwards is scored), and SIGTERM stops everything cleanly.

use anyhow::{Context, Result, bail, ensure};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::http::{encode, get_json};
use testkit::smtp::{Outgoing, message, send_with_smtplib};
use testkit::{eventually, free_port};

struct UpScript {
    child: Option<Child>,
    var: PathBuf,
}

impl UpScript {
    fn pid_of(&self, name: &str) -> Result<u32> {
        let text = std::fs::read_to_string(self.var.join("run").join(format!("{name}.pid")))
            .with_context(|| format!("{name}.pid\n{}", self.logs()))?;
        text.trim().parse().with_context(|| format!("{name}.pid holds {text:?}"))
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["up", "nats", "ingest", "scorer", "projector"] {
            let log = std::fs::read_to_string(self.var.join("log").join(format!("{name}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            out += &format!("--- {name}.log (last lines)\n");
            for line in tail.iter().rev() {
                out += line;
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for UpScript {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = signal("TERM", child.id());
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(name: &str, pid: u32) -> Result<bool> {
    Ok(Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).stderr(Stdio::null()).status()?.success())
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(false)
}

#[test]
fn up_restarts_a_killed_scorer_and_stops_everything_on_sigterm() -> Result<()> {
    let dir = tempfile::Builder::new().prefix("postern-up-").tempdir()?;
    let var = dir.path().join("var");
    let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::fs::File::create(dir.path().join("up.out"))?;
    let child = Command::new("bash")
        .arg(repo.join("scripts/up.sh"))
        .env("POSTERN_VAR_DIR", &var)
        .env("POSTERN_BIN_DIR", testkit::bin_dir()?)
        .env("POSTERN_NATS_PORT", free_port().to_string())
        .env("POSTERN_INGEST_LISTEN", smtp.to_string())
        .env("POSTERN_HTTP_LISTEN", http.to_string())
        .stdout(output.try_clone()?)
        .stderr(output)
        .spawn()
        .context("starting scripts/up.sh")?;
    let mut up = UpScript { child: Some(child), var };

    eventually(Duration::from_secs(60), "the projector's API answers", || {
        Ok(get_json(http, "/api/v1/health").ok().filter(|(status, _)| *status == 200).map(|_| ()))
    })
    .with_context(|| up.logs())?;
    let send_and_see = |id: &str| -> Result<()> {
        let sent = send_with_smtplib(
            smtp,
            &[Outgoing::to_journal("a@example.com", message(id, "a@example.com", "b@example.org", "hello", ""))],
        )?;
        ensure!(sent[0].code == 250, "{:?}", sent[0]);
        eventually(Duration::from_secs(60), "the message is scored and in the views", || {
            let (status, body) =
                get_json(http, &format!("/api/v1/messages?message_id={}", encode(&format!("<{id}>"))))?;
            ensure!(status == 200, "search answered {status}: {body}");
            let found = body["messages"].as_array().and_then(|m| m.first()).cloned();
            Ok(found.filter(|m| !m["disposition"].is_null()))
        })
        .map(|_| ())
    };
    send_and_see("before@up.test").with_context(|| up.logs())?;

    let (nats, ingest, projector) = (up.pid_of("nats")?, up.pid_of("ingest")?, up.pid_of("projector")?);
    let scorer = up.pid_of("scorer")?;
    ensure!(signal("KILL", scorer)?, "kill -9 {scorer}");
    let restarted = eventually(Duration::from_secs(30), "the supervisor starts a new scorer", || {
        Ok(up.pid_of("scorer").ok().filter(|pid| *pid != scorer && alive(*pid)))
    })
    .with_context(|| up.logs())?;
    let up_log = std::fs::read_to_string(up.var.join("log/up.log"))?;
    ensure!(up_log.contains(&format!("scorer (pid {scorer}) exited with status 137")), "{up_log}");
    for (name, pid) in [("nats", nats), ("ingest", ingest), ("projector", projector)] {
        ensure!(alive(pid) && up.pid_of(name)? == pid, "{name} must go on untouched\n{}", up.logs());
    }
    send_and_see("after@up.test").with_context(|| up.logs())?;

    let mut child = up.child.take().context("up.sh")?;
    ensure!(signal("TERM", child.id())?, "kill -TERM up.sh");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("up.sh did not stop within 60 s of SIGTERM\n{}", up.logs());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    ensure!(status.success(), "up.sh exited with {status}\n{}", up.logs());
    for (name, pid) in [("nats", nats), ("ingest", ingest), ("projector", projector), ("scorer", restarted)] {
        ensure!(!alive(pid), "{name} (pid {pid}) still runs after up.sh stopped");
    }
    Ok(())
}
