//! `just up`'s script (scripts/up.sh) as a user runs it, on free ports and a temp folder: the
//! pipeline comes up, a scorer killed with kill -9 is restarted by the supervisor while the
//! others go on (mail sent afterwards is scored), and SIGTERM stops everything cleanly.
//! `just up-cluster` (`up.sh --cluster`) the same way on the ports of nats-cluster/: three
//! nodes and two scorers come up, a node killed with kill -9 is restarted while mail goes on.

use anyhow::{Context, Result, bail, ensure};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
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
        let mut names: Vec<String> = std::fs::read_dir(self.var.join("log"))
            .map(|d| {
                d.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".log").map(str::to_owned)).collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
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

/// Starts up.sh (with `args`) on free SMTP and HTTP ports in `dir`; returns once the
/// projector's API answers.
fn start_up(dir: &Path, args: &[&str], smtp: SocketAddr, http: SocketAddr) -> Result<UpScript> {
    let var = dir.join("var");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::fs::File::create(dir.join("up.out"))?;
    let child = Command::new("bash")
        .arg(repo.join("scripts/up.sh"))
        .args(args)
        .process_group(0)
        .env("POSTERN_VAR_DIR", &var)
        .env("POSTERN_BIN_DIR", testkit::bin_dir()?)
        .env("POSTERN_NATS_PORT", free_port().to_string())
        .env("POSTERN_NATS_DURABILITY", "fast")
        .env("POSTERN_INGEST_LISTEN", smtp.to_string())
        .env("POSTERN_HTTP_LISTEN", http.to_string())
        .env("POSTERN_INGEST_OPS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("POSTERN_SCORER_OPS_PORT", free_port().to_string())
        .stdout(output.try_clone()?)
        .stderr(output)
        .spawn()
        .context("starting scripts/up.sh")?;
    let up = UpScript { child: Some(child), var };
    eventually(Duration::from_secs(90), "the projector's API answers", || {
        Ok(get_json(http, "/api/v1/health").ok().filter(|(status, _)| *status == 200).map(|_| ()))
    })
    .with_context(|| {
        format!("{}\n--- up.out\n{}", up.logs(), std::fs::read_to_string(dir.join("up.out")).unwrap_or_default())
    })?;
    Ok(up)
}

/// Sends one message through `smtp` (again after a 451, as an MTA would: a cluster refuses
/// while it elects a new leader) and waits until the projector at `http` shows it scored.
fn send_and_see(smtp: SocketAddr, http: SocketAddr, id: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sent = send_with_smtplib(
            smtp,
            &[Outgoing::to_journal("a@example.com", message(id, "a@example.com", "b@example.org", "hello", ""))],
        )?;
        match sent[0].code {
            250 => break,
            451 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            _ => bail!("{id}: {:?}", sent[0]),
        }
    }
    eventually(Duration::from_secs(60), "the message is scored and in the views", || {
        let (status, body) = get_json(http, &format!("/api/v1/messages?message_id={}", encode(&format!("<{id}>"))))?;
        ensure!(status == 200, "search answered {status}: {body}");
        let found = body["messages"].as_array().and_then(|m| m.first()).cloned();
        Ok(found.filter(|m| !m["disposition"].is_null()))
    })
    .map(|_| ())
}

/// How up.sh is told to stop.
enum Stop {
    /// SIGTERM to the script, as systemd or a supervisor sends it.
    Term,
    /// SIGINT to its whole process group, as Ctrl-C in a terminal sends it.
    CtrlC,
}

/// Stops up.sh; it must exit 0 within a minute.
fn stop_up(up: &mut UpScript, how: Stop) -> Result<()> {
    let mut child = up.child.take().context("up.sh")?;
    match how {
        Stop::Term => ensure!(signal("TERM", child.id())?, "kill -TERM up.sh"),
        // up.sh was started as the leader of its own process group; make sure of it before
        // signalling the group (never the test runner's).
        Stop::CtrlC => {
            let pid = child.id();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
            let group: u32 = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(2))
                .and_then(|g| g.parse().ok())
                .context("the process group in /proc/PID/stat")?;
            ensure!(group == pid, "up.sh (pid {pid}) is not the leader of its process group ({group})");
            ensure!(
                Command::new("kill").args(["-s", "INT", "--", &format!("-{pid}")]).status()?.success(),
                "kill -s INT -- -{pid}"
            );
        }
    }
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
    Ok(())
}

#[test]
fn up_restarts_a_killed_scorer_and_stops_everything_on_sigterm() -> Result<()> {
    let dir = tempfile::Builder::new().prefix("postern-up-").tempdir()?;
    let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut up = start_up(dir.path(), &[], smtp, http)?;
    let send_and_see = |id: &str| send_and_see(smtp, http, id);
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

    stop_up(&mut up, Stop::Term)?;
    for (name, pid) in [("nats", nats), ("ingest", ingest), ("projector", projector), ("scorer", restarted)] {
        ensure!(!alive(pid), "{name} (pid {pid}) still runs after up.sh stopped");
    }
    Ok(())
}

#[test]
fn up_cluster_runs_three_nodes_and_two_scorers_and_restarts_a_killed_node() -> Result<()> {
    // The cluster's ports are nats-cluster/'s; nothing else in the suite uses them (tests
    // take ports from the ephemeral range), but a `just up-cluster` left running would.
    for port in [4222, 4223, 4224, 6222, 6223, 6224] {
        ensure!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} is in use: stop the running `just up` / `just up-cluster` before the tests"
        );
    }
    let dir = tempfile::Builder::new().prefix("postern-up-cluster-").tempdir()?;
    let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut up = start_up(dir.path(), &["--cluster"], smtp, http)?;
    send_and_see(smtp, http, "first@up-cluster.test").with_context(|| up.logs())?;

    let pids: Vec<(&str, u32)> = ["nats-n1", "nats-n2", "nats-n3", "ingest", "scorer-1", "scorer-2", "projector"]
        .into_iter()
        .map(|name| Ok((name, up.pid_of(name)?)))
        .collect::<Result<_>>()?;
    for (name, pid) in &pids {
        ensure!(alive(*pid), "{name} (pid {pid}) is not running\n{}", up.logs());
    }
    // Both scorers have started (a scorer still starting when a node goes exits and is
    // restarted by the supervisor: its start does not yet retry through an election).
    for scorer in ["scorer-1", "scorer-2"] {
        eventually(Duration::from_secs(60), &format!("{scorer} consumes"), || {
            let log = std::fs::read_to_string(up.var.join("log").join(format!("{scorer}.log"))).unwrap_or_default();
            Ok(log.contains("scorer consuming MAIL_RAW").then_some(()))
        })
        .with_context(|| up.logs())?;
    }
    let node = pids[0].1;
    ensure!(signal("KILL", node)?, "kill -9 {node}");
    eventually(Duration::from_secs(30), "the supervisor starts nats-n1 again", || {
        Ok(up.pid_of("nats-n1").ok().filter(|pid| *pid != node && alive(*pid)))
    })
    .with_context(|| up.logs())?;
    send_and_see(smtp, http, "after-node-kill@up-cluster.test").with_context(|| up.logs())?;
    for (name, pid) in &pids[1..] {
        ensure!(alive(*pid) && up.pid_of(name)? == *pid, "{name} must go on untouched\n{}", up.logs());
    }
    let restarted_node = up.pid_of("nats-n1")?;
    // Ctrl-C, as in a terminal: every process stops, none is left running.
    stop_up(&mut up, Stop::CtrlC)?;
    for (name, pid) in pids[1..].iter().chain(&[("nats-n1", restarted_node)]) {
        ensure!(!alive(*pid), "{name} (pid {pid}) still runs after up.sh stopped");
    }
    Ok(())
}
