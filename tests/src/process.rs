//! The services as child processes, each with its config file and log in a temp folder.

use crate::bin;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Service {
    pub name: String,
    /// Where it serves `/metrics`, `/health` and `/ready` (ingest, a scorer, the remediator:
    /// a free port of its own; the projector serves them on its API's address).
    pub ops: Option<std::net::SocketAddr>,
    child: Option<Child>,
    program: PathBuf,
    args: Vec<String>,
    /// Environment variables of its own (a secret a config names by variable, say).
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Service {
    /// Starts `binary` with `args`; stdout and stderr go to `<log_dir>/<name>.log`.
    pub fn start(name: &str, binary: &str, args: &[&str], log_dir: &Path) -> Result<Self> {
        Self::start_with_env(name, binary, args, log_dir, &[])
    }

    /// As [`Service::start`], with `env` in the process's environment.
    pub fn start_with_env(
        name: &str,
        binary: &str,
        args: &[&str],
        log_dir: &Path,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let mut service = Service {
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            name: name.to_owned(),
            child: None,
            program: bin(binary)?,
            args: args.iter().map(|s| s.to_string()).collect(),
            log: log_dir.join(format!("{name}.log")),
            ops: matches!(binary, "ingest" | "scorer" | "remediator")
                .then(|| std::net::SocketAddr::from(([127, 0, 0, 1], crate::free_port()))),
        };
        service.spawn()?;
        Ok(service)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut command = Command::new(&self.program);
        // Each service connects as its own NATS user, as in a deployment.
        let name = self.program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(component) = crate::nats::component_of(&name) {
            command.env(proto::cluster::ENV_NKEY_FILE, crate::nats::seed_file(component)?);
        }
        if let Some(ops) = self.ops {
            command.env("POSTERN_OPS_LISTEN", ops.to_string());
        }
        let child = command
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(&self.args)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: the process gets no chance to clean up, as in a crash.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, then waits up to `timeout` for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self, timeout: Duration) -> Result<bool> {
        self.signal_term()?;
        self.wait_exit(timeout)
    }

    /// Sends SIGTERM and returns at once (the service starts its graceful shutdown).
    pub fn signal_term(&self) -> Result<()> {
        if let Some(child) = &self.child {
            // kill(1) sends the signal; the harness has no libc binding of its own.
            Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit (killing it then); whether it exited 0.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<bool> {
        let Some(mut child) = self.child.take() else { return Ok(true) };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status.success());
            }
            if Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// CPU seconds (user + system) the process has used so far, from /proc.
    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds_of(self.pid().context("not running")?)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// CPU seconds (user + system) process `pid` has used so far, from /proc.
pub fn cpu_seconds_of(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').context("malformed /proc stat")?.1.split_whitespace().collect();
    let ticks: f64 =
        fields.get(11..13).context("short /proc stat")?.iter().map(|f| f.parse::<f64>().unwrap_or(0.0)).sum();
    // The kernel's USER_HZ: 100 on Linux (sysconf(_SC_CLK_TCK); the harness has no libc).
    Ok(ticks / 100.0)
}
