//! The repository's nats-server configs (`just up`'s nats.conf and nats-fast.conf) run on the
//! pinned server and do what they say: the running server reports `sync_always` in durable
//! mode only. (The pipeline's outage-under-load test runs on a durable server.)

use anyhow::{Context, Result, ensure};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::nats::nats_server_binary;
use testkit::{free_port, wait_for_port};

/// Starts the server with a repository config, on free ports and a temp store, and returns
/// what its monitoring endpoint says of JetStream's config.
fn jetstream_config_of(conf: &str) -> Result<serde_json::Value> {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(conf);
    let dir = tempfile::Builder::new().prefix("postern-nats-conf-").tempdir()?;
    // As scripts/up.sh does: the store moved to a folder of its own (the server refuses -sd
    // beside the file's store_dir); address and ports as flags.
    let text = std::fs::read_to_string(&conf).with_context(|| conf.display().to_string())?;
    let store_line = "store_dir: \"var/nats\"";
    ensure!(text.contains(store_line), "{} has no {store_line}", conf.display());
    let copy = dir.path().join("nats.conf");
    std::fs::write(&copy, text.replace(store_line, &format!("store_dir: \"{}\"", dir.path().join("store").display())))?;
    // Its users (an include beside it) and their public keys (the environment).
    std::fs::copy(testkit::nats::users_conf(), dir.path().join("nats-users.conf"))?;
    let (port, monitor) = (free_port(), free_port());
    let mut child = Command::new(nats_server_binary()?)
        .arg("-c")
        .arg(&copy)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-m", &monitor.to_string()])
        .envs(testkit::nats::keys()?.server_env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nats-server")?;
    let result = (|| {
        let addr = SocketAddr::from(([127, 0, 0, 1], monitor));
        wait_for_port(addr, Duration::from_secs(10)).with_context(|| format!("{} did not start", conf.display()))?;
        // The monitoring endpoint answers chunked; Python's urllib reads it.
        let out = Command::new("python3")
            .args([
                "-c",
                "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
            ])
            .arg(format!("http://{addr}/varz"))
            .output()
            .context("running python3")?;
        ensure!(out.status.success(), "GET /varz: {}", String::from_utf8_lossy(&out.stderr));
        let varz: serde_json::Value = serde_json::from_slice(&out.stdout).context("/varz is not JSON")?;
        Ok(varz["jetstream"]["config"].clone())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[test]
fn nats_conf_is_durable_and_nats_fast_conf_is_not() -> Result<()> {
    let durable = jetstream_config_of("nats.conf")?;
    ensure!(durable["sync_always"] == true, "nats.conf: {durable}");
    let fast = jetstream_config_of("nats-fast.conf")?;
    ensure!(fast["sync_always"] != true, "nats-fast.conf: {fast}");
    ensure!(fast["max_storage"] == durable["max_storage"], "the two differ only in sync: {fast} vs {durable}");
    Ok(())
}
