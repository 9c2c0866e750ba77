//! What the binaries say when they cannot do what they are asked: one line on stderr that
//! names the argument, file or server and the cause (each once), and a non-zero exit (2 for
//! a failure; 1 where the command ran and its answer is "no"). Arguments and files are
//! checked before any server is asked. No server runs here: NATS_URL points at a port
//! nothing listens on, so a command that should not need NATS shows it does not.

use anyhow::{Result, ensure};
use testkit::cli::{CliRun, run};

/// Runs `binary` with NATS_URL at a closed loopback port; returns the run and the URL.
fn offline(binary: &str, args: &[&str]) -> Result<(CliRun, String)> {
    let nats = format!("nats://127.0.0.1:{}", testkit::free_port());
    Ok((run(binary, args, &[("NATS_URL", nats.as_str())])?, nats))
}

/// One line of stderr, starting with the binary's name and holding every `parts`.
fn fails_with(run: &CliRun, code: i32, prefix: &str, parts: &[&str]) -> Result<()> {
    ensure!(run.code == Some(code), "`{}` exited {:?}, not {code}: {}", run.command, run.code, run.text());
    ensure!(run.stderr.starts_with(prefix), "`{}`: {}", run.command, run.stderr);
    for part in parts {
        ensure!(run.stderr.contains(part), "`{}` does not say {part:?}: {}", run.command, run.stderr);
        ensure!(run.stderr.matches(part).count() == 1, "`{}` says {part:?} twice: {}", run.command, run.stderr);
    }
    Ok(())
}

#[test]
fn the_scorer_names_what_is_wrong_and_checks_arguments_before_it_connects() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    let (r, _) = offline("scorer", &["policy", "show", "--tenant", "Not A Tenant"])?;
    fails_with(&r, 2, "scorer: --tenant: ", &["invalid tenant \"Not A Tenant\""])?;
    ensure!(!r.stderr.contains("NATS"), "the tenant is checked before NATS is asked: {}", r.stderr);

    let (r, nats) = offline("scorer", &["policy", "show", "--tenant", "acme"])?;
    fails_with(&r, 2, "scorer: ", &[&format!("connecting to NATS at {nats}"), "refused"])?;

    std::fs::write(path("bad-policy.toml"), "blocked_senders = [{ pattern = \"(unclosed\", type = \"REGEX\" }]\n")?;
    let (r, _) = offline("scorer", &["policy", "set", "--tenant", "acme", &path("bad-policy.toml")])?;
    fails_with(&r, 2, "scorer: ", &["bad-policy.toml: 1 problem(s):", "blocked_senders[0].pattern: bad regex"])?;
    ensure!(!r.stderr.contains("NATS"), "the file is checked before NATS is asked: {}", r.stderr);

    std::fs::write(path("bad.toml"), "nats_url = \n")?;
    let (r, _) = offline("scorer", &["-c", &path("bad.toml"), "rules", "check"])?;
    fails_with(&r, 2, "scorer: loading configuration: cannot parse config ", &["bad.toml", "TOML parse error"])?;

    let (r, _) = offline("scorer", &["eval", "--corpus", &path("missing"), "--untrained", "--no-spamassassin"])?;
    fails_with(&r, 2, "scorer: --corpus ", &["missing: not a folder"])?;
    std::fs::create_dir(path("empty"))?;
    let (r, _) = offline("scorer", &["eval", "--corpus", &path("empty"), "--untrained", "--no-spamassassin"])?;
    fails_with(&r, 2, "scorer: --corpus ", &["empty: no .eml files below it"])?;
    let (r, _) = offline("scorer", &["eval", "--corpus", &path("empty"), "--train", &path("empty"), "--folds", "3"])?;
    fails_with(&r, 2, "scorer: ", &["--train and --folds exclude each other"])?;

    std::fs::create_dir(path("unlabelled"))?;
    std::fs::write(path("unlabelled/a.eml"), "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n")?;
    let (r, _) = offline(
        "scorer",
        &["model", "train", "--corpus", &path("unlabelled"), "--out", &path("m.json"), "--version", "t"],
    )?;
    fails_with(&r, 2, "scorer: --corpus ", &["no MANIFEST.tsv (its digest goes in the model)"])?;
    ensure!(!dir.path().join("m.json").exists(), "no model is written");

    // A rule folder that is read and has no rule that runs: the answer is "no", exit 1.
    std::fs::create_dir(path("rules"))?;
    std::fs::write(path("rules/10_empty.cf"), "# nothing here\n")?;
    let (r, _) = offline("scorer", &["rules", "check", "--rules", &path("rules")])?;
    fails_with(&r, 1, "scorer: no rule of ", &["rules can run"])?;
    let (r, _) = offline("scorer", &["rules", "check", "--rules", &path("missing")])?;
    fails_with(&r, 2, "scorer: reading SpamAssassin rules from ", &["missing"])?;
    Ok(())
}

#[test]
fn ingest_and_the_remediator_name_the_file_and_the_cause() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    let (r, _) = offline("ingest", &["generate-cert", "--cert", &path("tls/cert.pem"), "--key", &path("tls/key.pem")])?;
    ensure!(r.success && r.stdout.contains("self-signed for postern.localhost"), "{}", r.text());
    let (r, _) = offline("ingest", &["generate-cert", "--cert", &path("tls"), "--key", &path("k.pem")])?;
    fails_with(&r, 2, "ingest: writing ", &["tls: Is a directory"])?;

    std::fs::write(path("ingest.toml"), "listen = 25\n")?;
    let (r, _) = offline("ingest", &["-c", &path("ingest.toml")])?;
    fails_with(&r, 2, "ingest: loading configuration: cannot parse config ", &["ingest.toml"])?;

    std::fs::write(path("reserved.toml"), "[journal_addresses]\n\"journal@corp.example\" = \"_shared\"\n")?;
    let (r, _) = offline("ingest", &["-c", &path("reserved.toml")])?;
    fails_with(&r, 2, "ingest: loading configuration: invalid config: journal address ", &["\"_shared\" is reserved"])?;

    let (r, _) = offline("remediator", &["-c", &path("missing.toml")])?;
    fails_with(&r, 2, "remediator: loading configuration: cannot read config ", &["missing.toml", "No such file"])?;
    Ok(())
}
