//! Running the project's own command-line tools (`scorer`, `projector`, `ingest`) as an
//! operator would: the built binary, arguments, the environment that points it at the
//! servers of a test; the exit status and both output streams kept for the assertions.

use anyhow::{Context, Result, bail};
use std::ffi::OsStr;

/// How one command ended.
#[derive(Debug, Clone)]
pub struct CliRun {
    pub command: String,
    pub success: bool,
    /// The exit code (None when a signal ended it).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// Standard output and standard error together, for messages that may be on either.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Standard output of a command that must succeed; an error with all it said otherwise.
    pub fn ok(self) -> Result<String> {
        if !self.success {
            bail!("`{}` failed ({:?}): {}{}", self.command, self.code, self.stdout, self.stderr);
        }
        Ok(self.stdout)
    }

    /// The JSON a command printed (`--json`), of a command that must succeed.
    pub fn json(self) -> Result<serde_json::Value> {
        let command = self.command.clone();
        let stdout = self.ok()?;
        serde_json::from_str(&stdout).with_context(|| format!("`{command}` did not print JSON: {stdout}"))
    }
}

/// Runs the built `binary` with `args` and the environment variables `env`.
pub fn run<S: AsRef<OsStr>>(binary: &str, args: &[S], env: &[(&str, &str)]) -> Result<CliRun> {
    let mut command = std::process::Command::new(crate::bin(binary)?);
    command.args(args);
    // The operator's commands (policies, training, replays) run with the admin key; `env`
    // may name another.
    command.env(proto::cluster::ENV_NKEY_FILE, crate::nats::seed_file("admin")?);
    for (k, v) in env {
        command.env(k, v);
    }
    let shown = std::iter::once(binary.to_owned())
        .chain(args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let out = command.output().with_context(|| format!("running {shown}"))?;
    Ok(CliRun {
        command: shown,
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
