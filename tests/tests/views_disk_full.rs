//! The projector's disk full: its views live on a small tmpfs that the test fills. The fold's
//! write fails; the projector logs the file system's error, keeps its API up and answers
//! 503 `not_ready` with the reason on /api/v1/health, while ingest and the scorer go on
//! taking and scoring mail into JetStream. When space returns, the projector (not
//! restarted) folds again from the checkpoint stored with its last written batch, health is
//! 200 again, and every message reaches the views with its disposition: nothing is lost,
//! nothing folded twice.

use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use testkit::nats::NatsServer;
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, message, send_with_smtplib};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    at: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs> {
        let dir = tempfile::Builder::new().prefix("postern-tmpfs-").tempdir()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .context("mount (the test runs as root, as CI does)")?;
        if !status.success() {
            bail!("mount -t tmpfs: {status} (the test needs root)");
        }
        Ok(Tmpfs { at: dir.path().to_owned(), _dir: dir })
    }

    /// Fills the file system with one file until nothing is left; returns its path.
    fn fill(&self) -> Result<PathBuf> {
        use std::io::Write;
        let path = self.at.join("filler");
        let mut file = std::fs::File::create(&path)?;
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match file.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => return Err(e.into()),
            }
        }
        let _ = file.flush();
        Ok(path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

fn sized(i: usize) -> (String, Outgoing) {
    let id = format!("views-full-{i}@test.example");
    let mut data = message(&id, "sender@test.example", "user@corp.example", &format!("minutes {i}"), "");
    for line in 0..200 {
        data.extend_from_slice(format!("line {line} of the minutes of the weekly meeting, as written.\r\n").as_bytes());
    }
    (id, Outgoing::to_journal("sender@test.example", data))
}

fn has_disposition(p: &Pipeline, id: &str) -> Result<Option<()>> {
    Ok(p.traces(id)?.into_iter().next().filter(|t| !t["disposition"].is_null()).map(|_| ()))
}

#[test]
fn a_full_disk_stops_the_fold_and_it_resumes_from_its_checkpoint() -> Result<()> {
    let fs = Tmpfs::mount("64m")?;
    let views = fs.at.join("views");
    let mut p = Pipeline::start_with_views_at(NatsServer::start()?, "", "", Some(Path::new(&views)))?;
    let projector_pid = p.projector.pid();
    let first: Vec<(String, Outgoing)> = (0..5).map(sized).collect();
    let out = send_with_smtplib(p.smtp, &first.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>())?;
    ensure!(out.iter().all(|o| o.code == 250), "{out:?}");
    for (id, _) in &first {
        testkit::eventually(Duration::from_secs(60), &format!("{id} in the views"), || has_disposition(&p, id))
            .with_context(|| p.logs())?;
    }

    // Health, watched from now on: the not-ready spells may be short, since reopening the
    // views frees what RocksDB had written of its log, and the fold goes on until it is full
    // again.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (http, watching) = (p.http, watching.clone());
        std::thread::spawn(move || {
            let mut first_not_ready = None;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((503, body)) = testkit::http::get_json(http, "/api/v1/health") {
                    first_not_ready.get_or_insert(body);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            first_not_ready
        })
    };
    let filler = fs.fill()?;
    let batch: Vec<(String, Outgoing)> = (5..400).map(sized).collect();
    let out = send_with_smtplib(p.smtp, &batch.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>())?;
    ensure!(
        out.iter().all(|o| o.code == 250),
        "ingest does not depend on the views' disk: {:?}",
        out.iter().find(|o| o.code != 250)
    );
    // The fold cannot write: health says so, with the reason; the projector keeps running.
    testkit::eventually(Duration::from_secs(60), "the fold fails on the full disk", || {
        Ok(p.projector.log().contains("the views are not ready; reopening").then_some(()))
    })
    .with_context(|| p.logs())?;
    std::thread::sleep(Duration::from_millis(500));
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let health = watcher.join().expect("the health watcher").context("health never answered 503")?;
    ensure!(health["status"] == "not_ready", "{health}");
    let reason = health["reason"].as_str().unwrap_or_default();
    ensure!(reason.contains("No space left on device"), "health must say why: {health}");
    eprintln!("projector not ready: {reason}");
    let log = p.projector.log();
    ensure!(log.lines().any(|l| l.contains("No space left on device")), "the log must say why too:\n{log}");
    ensure!(p.projector.is_running(), "the projector keeps running:\n{log}");
    // The views answer, or, while the projector is reopening them, say so with a 503.
    let (status, body) = testkit::http::get_json(p.http, "/api/v1/search?limit=10")?;
    ensure!(status == 200 || (status == 503 && body["error"]["code"] == "unavailable"), "search: {status} {body}");
    ensure!(p.ingest.is_running() && p.scorer.is_running(), "ingest and the scorer go on:\n{}", p.logs());

    // Space again: the projector folds again from its stored checkpoint by itself.
    std::fs::remove_file(&filler)?;
    testkit::eventually(Duration::from_secs(120), "health is ok again", || {
        let (status, _) = testkit::http::get_json(p.http, "/api/v1/health")?;
        Ok((status == 200).then_some(()))
    })
    .with_context(|| p.logs())?;
    for (id, _) in first.iter().chain(&batch) {
        testkit::eventually(Duration::from_secs(120), &format!("{id} in the views"), || has_disposition(&p, id))
            .with_context(|| p.logs())?;
    }
    let (status, page) = testkit::http::get_json(p.http, "/api/v1/search?limit=1000")?;
    ensure!(status == 200, "search: {status} {page}");
    let ids: Vec<&str> =
        page["messages"].as_array().into_iter().flatten().filter_map(|m| m["postern_id"].as_str()).collect();
    let distinct: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    ensure!(
        ids.len() == 400 && distinct.len() == 400,
        "the views list {} records of {} messages, not 400",
        ids.len(),
        distinct.len()
    );
    ensure!(
        p.projector.is_running() && p.projector.pid() == projector_pid,
        "the same projector process folded it all, without a restart"
    );
    Ok(())
}
