//! Projectors past one machine: two shard projectors (`shard = "1/2"`, `"2/2"`) and the
//! pipeline's unsharded one fold the same streams. Every tenant is held by exactly one shard;
//! the other answers 421 naming it; for every tenant, the shard that holds it and the
//! unsharded projector verify equal key by key (`projector verify --tenant`), and the other
//! shard holds none of its keys. Views folded for one shard refuse to serve as another.

use anyhow::{Context, Result, ensure};
use std::net::SocketAddr;
use std::time::Duration;
use testkit::http::get_json;
use testkit::jetstream::stream_counts;
use testkit::pipeline::{Pipeline, checkpoints};
use testkit::process::Service;
use testkit::smtp::{Outgoing, message, send_with_smtplib};
use testkit::{free_port, wait_for_port};

const TENANTS: [&str; 8] = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"];

struct ShardProjector {
    name: String,
    http: SocketAddr,
    db: std::path::PathBuf,
    config: std::path::PathBuf,
    service: Service,
}

fn start_shard(p: &Pipeline, shard: &str) -> Result<ShardProjector> {
    let name = format!("projector-{}", shard.replace('/', "of"));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let db = p.dir.path().join(format!("views-{name}"));
    let config = p.dir.path().join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "nats_url = \"{}\"\ndb_path = \"{}\"\nhttp_listen = \"{http}\"\nshard = \"{shard}\"\n",
            p.nats.url(),
            db.display()
        ),
    )?;
    let service =
        Service::start(&name, "projector", &["serve", "--config", config.to_str().context("path")?], p.dir.path())?;
    wait_for_port(http, Duration::from_secs(20)).with_context(|| service.log())?;
    Ok(ShardProjector { name, http, db, config, service })
}

fn verify(p: &Pipeline, tenant: &str, left: &std::path::Path, right: &std::path::Path) -> Result<(bool, String)> {
    let args =
        [std::ffi::OsStr::new("verify"), "--tenant".as_ref(), tenant.as_ref(), left.as_os_str(), right.as_os_str()];
    let run = p.cli("projector", &args)?;
    Ok((run.success, run.text()))
}

#[test]
fn two_shards_hold_every_tenant_once_and_equal_the_unsharded_views() -> Result<()> {
    let mut p = Pipeline::start_with("journal_patterns = [\"{tenant}@journal.test\"]\n")?;
    let mut shards = [start_shard(&p, "1/2")?, start_shard(&p, "2/2")?];

    for (t, tenant) in TENANTS.iter().enumerate() {
        let journal = format!("{tenant}@journal.test");
        let batch: Vec<Outgoing> = (0..4)
            .map(|i| {
                let id = format!("m{i}-{tenant}@shards.test");
                let data =
                    message(&id, &format!("sender{t}@example.com"), "user@corp.example", &format!("hello {i}"), "");
                Outgoing { mail_from: format!("sender{t}@example.com"), rcpt_to: vec![journal.clone()], data }
            })
            .collect();
        let out = send_with_smtplib(p.smtp, &batch)?;
        ensure!(out.iter().all(|o| o.code == 250), "{tenant}: {out:?}");
    }
    // Dispositions for all 32, then every projector folded both streams to their ends.
    let url = p.nats.url();
    testkit::eventually(Duration::from_secs(60), "32 dispositions", || {
        Ok((stream_counts(&url, "MAIL_EVENTS")?.0 >= 32).then_some(()))
    })
    .with_context(|| p.logs())?;
    let ends = (stream_counts(&url, "MAIL_RAW")?.1, stream_counts(&url, "MAIL_EVENTS")?.1);
    for http in [p.http, shards[0].http, shards[1].http] {
        testkit::eventually(Duration::from_secs(60), &format!("the projector on {http} folds both streams"), || {
            let (r, e) = checkpoints(http)?;
            Ok((r >= ends.0 && e >= ends.1).then_some(()))
        })
        .with_context(|| format!("{}\n{}\n{}", p.logs(), shards[0].service.log(), shards[1].service.log()))?;
    }
    let (_, health) = get_json(shards[0].http, "/api/v1/health")?;
    ensure!(health["shard"] == "1/2", "{health}");

    let mut held = [0usize; 2];
    for tenant in TENANTS {
        let answers: Vec<(u16, serde_json::Value)> = shards
            .iter()
            .map(|s| get_json(s.http, &format!("/api/v1/search?tenant={tenant}&limit=100")))
            .collect::<Result<_>>()?;
        let owners: Vec<usize> = (0..2).filter(|&i| answers[i].0 == 200).collect();
        ensure!(owners.len() == 1, "{tenant}: exactly one shard holds it: {answers:?}");
        let (owner, other) = (owners[0], 1 - owners[0]);
        held[owner] += 1;
        let found = answers[owner].1["messages"].as_array().map_or(0, Vec::len);
        ensure!(found == 4, "{tenant}: its shard lists {found} messages, not 4");
        let refusal = &answers[other];
        ensure!(
            refusal.0 == 421
                && refusal.1["error"]["code"] == "wrong_shard"
                && refusal.1["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&format!("shard {}/2", owner + 1))),
            "{tenant}: the other shard names the one that holds it: {refusal:?}"
        );
        // Key for key, the owner's views of the tenant are the unsharded projector's.
        let unsharded = p.dir.path().join("views");
        let (same, text) = verify(&p, tenant, &unsharded, &shards[owner].db)?;
        ensure!(
            same && text.starts_with("identical"),
            "{tenant}: {} differs from the unsharded views:\n{text}",
            shards[owner].name
        );
        let (same, text) = verify(&p, tenant, &unsharded, &shards[other].db)?;
        ensure!(
            !same && text.contains("differences"),
            "{tenant}: {} must hold none of its keys:\n{text}",
            shards[other].name
        );
    }
    ensure!(held[0] > 0 && held[1] > 0, "both shards hold tenants: {held:?}");

    // Views folded as 1/2 refuse to serve as 2/2.
    ensure!(shards[0].service.terminate(Duration::from_secs(30))?, "shard 1/2 stops cleanly");
    let text = std::fs::read_to_string(&shards[0].config)?.replace("shard = \"1/2\"", "shard = \"2/2\"");
    std::fs::write(&shards[0].config, text)?;
    let config = shards[0].config.to_str().context("config path")?;
    let out = testkit::cli::run("projector", &["serve", "--config", config], &[("RUST_LOG", "warn")])?;
    let text = out.text();
    ensure!(
        !out.success && text.contains("the views hold the tenants of shard 1/2, the configuration says 2/2"),
        "{text}"
    );
    p.projector.terminate(Duration::from_secs(30))?;
    Ok(())
}
