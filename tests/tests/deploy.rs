//! The systemd units in `deploy/systemd/`: systemd itself reads each one without a warning
//! (`systemd-analyze verify`, with the binaries' install path pointed at the built ones),
//! and each service's command line is one its binary accepts (the same arguments with
//! `--help` added exit 0: a renamed flag or subcommand fails here).

use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL_DIR: &str = "/opt/postern/bin/";

fn units() -> Result<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd");
    let mut units: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| dir.display().to_string())?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    units.retain(|p| p.extension().is_some_and(|e| e == "service"));
    units.sort();
    Ok(units)
}

fn exec_start(unit: &str) -> Option<&str> {
    unit.lines().find_map(|l| l.strip_prefix("ExecStart="))
}

#[test]
fn every_component_has_a_unit_that_restarts_it() -> Result<()> {
    let units = units()?;
    let names: Vec<String> = units.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in [
        "postern-nats.service",
        "postern-ingest.service",
        "postern-scorer@.service",
        "postern-projector.service",
        "postern-remediator.service",
    ] {
        ensure!(names.iter().any(|n| n == expected), "deploy/systemd has no {expected}: {names:?}");
    }
    for path in &units {
        let text = std::fs::read_to_string(path)?;
        for line in ["Restart=on-failure", "User=postern", "KillSignal=SIGTERM"] {
            ensure!(text.lines().any(|l| l == line), "{}: no {line}", path.display());
        }
    }
    Ok(())
}

#[test]
fn systemd_reads_every_unit_without_a_warning() -> Result<()> {
    let bin_dir = testkit::bin_dir()?;
    let scratch = tempfile::tempdir()?;
    let mut copies = Vec::new();
    for path in units()? {
        let text = std::fs::read_to_string(&path)?.replace(INSTALL_DIR, &format!("{}/", bin_dir.display()));
        let copy = scratch.path().join(path.file_name().unwrap());
        std::fs::write(&copy, text)?;
        copies.push(copy);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(&copies)
        .output()
        .context("systemd-analyze (Debian's systemd package)")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {}\n{stderr}", out.status);

    // The check is real: a misspelt setting and a missing binary are reported.
    let broken = scratch.path().join("postern-broken.service");
    std::fs::write(
        &broken,
        "[Unit]\nDescription=broken\n[Service]\nExecStart=/nonexistent/ingest run\nRestart=sometimes\n",
    )?;
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&broken).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success() && stderr.contains("not executable") && stderr.contains("restart"), "{stderr}");
    Ok(())
}

#[test]
fn each_unit_runs_its_binary_with_arguments_it_accepts() -> Result<()> {
    for path in units()? {
        let text = std::fs::read_to_string(&path)?;
        let command = exec_start(&text).with_context(|| format!("{}: no ExecStart", path.display()))?;
        let mut words = command.split_whitespace();
        let program = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        let binary = match program.strip_prefix(INSTALL_DIR) {
            Some(name) => testkit::bin(name)?,
            None if program == "/usr/local/bin/nats-server" => {
                // The server's own config check of the repository's durable config, which
                // the unit's /etc/postern/nats.conf is a copy of.
                let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nats.conf");
                // It names each component's public key through the environment (nats-users.conf).
                let out = Command::new(program)
                    .arg("-t")
                    .arg("-c")
                    .arg(&conf)
                    .envs(testkit::nats::keys()?.server_env())
                    .output()?;
                ensure!(out.status.success(), "nats-server -t -c nats.conf: {}", String::from_utf8_lossy(&out.stderr));
                continue;
            }
            None => bail!("{}: ExecStart runs {program}, not a Postern binary under {INSTALL_DIR}", path.display()),
        };
        let out = Command::new(&binary).args(&args).arg("--help").output()?;
        ensure!(
            out.status.success(),
            "{}: `{} --help` is refused: {}",
            path.display(),
            command,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
