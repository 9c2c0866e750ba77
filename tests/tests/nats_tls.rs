//! TLS between the components and NATS (`nats_tls_ca_file`): on a server that requires TLS
//! with a certificate from a CA of its own, the pipeline works when each component is given
//! that CA, and a client that does not trust the CA cannot connect.

use anyhow::{Context, Result};
use std::time::Duration;
use testkit::nats::{Durability, NatsCluster, NatsServer, seed_file};
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, send_with_smtplib};

#[test]
fn the_pipeline_talks_to_nats_over_tls_with_the_ca_it_is_given() -> Result<()> {
    let nats = NatsServer::start_tls()?;
    let ca = nats.tls_ca_file().context("a TLS server has a CA")?.to_owned();
    let url = nats.url();

    // Without the CA (the system's roots only), or without TLS at all: no connection.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let seed = seed_file("admin")?;
        let access = proto::connect::NatsAccess { nkey_file: Some(&seed), tls_ca_file: None };
        let refused = proto::connect::options("admin", access)?
            .connection_timeout(Duration::from_secs(3))
            .connect(url.as_str())
            .await;
        anyhow::ensure!(refused.is_err(), "a client that does not trust the server's CA connected");
        let access = proto::connect::NatsAccess { nkey_file: Some(&seed), tls_ca_file: Some(&ca) };
        let client = proto::connect::options("admin", access)?
            .connection_timeout(Duration::from_secs(3))
            .connect(url.as_str())
            .await
            .context("the operator connects over TLS with the CA")?;
        anyhow::ensure!(client.server_info().tls_required, "the server did not ask for TLS");
        Ok(())
    })?;

    let line = format!("nats_tls_ca_file = \"{}\"\n", ca.display());
    let p = Pipeline::start_on_configured(nats, &line, &format!("ack_wait = \"10s\"\n{line}"), &line)?;
    let outcome = send_with_smtplib(
        p.smtp,
        &[Outgoing::to_journal(
            "alice@example.org",
            b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: over TLS\r\nMessage-ID: <tls-1@example.org>\r\n\r\nhello\r\n"
                .to_vec(),
        )],
    )?;
    assert_eq!(outcome[0].code, 250, "{outcome:?}");
    testkit::eventually(Duration::from_secs(30), "the message is scored and folded over TLS", || {
        Ok(p.traces("<tls-1@example.org>")?.into_iter().next().filter(|t| !t["disposition"].is_null()))
    })
    .with_context(|| p.logs())?;
    Ok(())
}

/// Routes between the nodes of a cluster over mutual TLS (nats-server's `cluster { tls { …
/// verify: true } }`, as `nats-cluster/` documents): the nodes form the cluster (JetStream's
/// meta leader, a stream on three replicas, messages that cross from node to node), and a
/// server without the cluster's certificates that tries to join gets no route: what is
/// published through it reaches no subscriber on the cluster.
#[test]
fn cluster_routes_run_over_mutual_tls_and_a_server_without_it_cannot_join() -> Result<()> {
    let mut cluster = NatsCluster::start_with_route_tls(Durability::Fast)?;
    anyhow::ensure!(cluster.has_route_tls());
    let urls: Vec<String> = cluster.url().split(',').map(str::to_owned).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = testkit::jetstream::connect(&cluster.url()).await?;
        let js = async_nats::jetstream::new(client);
        let mut stream = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "ROUTE_TLS".to_owned(),
                subjects: vec!["route.tls.stored".to_owned()],
                num_replicas: 3,
                ..Default::default()
            })
            .await
            .context("a stream on three replicas")?;
        js.publish("route.tls.stored", "kept on three nodes".into()).await?.await.context("the PubAck")?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let replicas = stream.info().await?.cluster.clone().unwrap_or_default().replicas;
            if replicas.len() == 2 && replicas.iter().all(|r| r.current && !r.offline) {
                break;
            }
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "the replicas are not current: {replicas:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok::<_, anyhow::Error>(())
    })
    .with_context(|| cluster.log())?;

    let outsider = cluster.start_outsider()?;
    // Give the outsider time to try its routes (it retries every second).
    std::thread::sleep(Duration::from_secs(3));
    rt.block_on(async {
        let on_n1 = testkit::jetstream::connect(&urls[0]).await?;
        let mut inbox = on_n1.subscribe("route.tls.ping").await?;
        on_n1.flush().await?;
        // Through n3: crosses the TLS routes to n1's subscriber.
        let via_n3 = testkit::jetstream::connect(&urls[2]).await?;
        via_n3.publish("route.tls.ping", "from n3".into()).await?;
        via_n3.flush().await?;
        let got = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut inbox))
            .await
            .context("a message from n3 did not reach n1 over the TLS routes")?
            .context("subscription ended")?;
        anyhow::ensure!(got.payload.as_ref() == b"from n3");
        // Through the outsider: no route, so nothing arrives.
        let via_outsider = testkit::jetstream::connect(&outsider).await?;
        via_outsider.publish("route.tls.ping", "from outside".into()).await?;
        via_outsider.flush().await?;
        let leaked = tokio::time::timeout(Duration::from_secs(3), futures::StreamExt::next(&mut inbox)).await;
        anyhow::ensure!(leaked.is_err(), "a server without the cluster's TLS joined: {leaked:?}");
        Ok::<_, anyhow::Error>(())
    })
    .with_context(|| format!("{}\n--- outsider ---\n{}", cluster.log(), cluster.log_of("outsider")))?;
    let refused = cluster.log_of("n1") + &cluster.log_of("n2") + &cluster.log_of("n3");
    anyhow::ensure!(
        refused.contains("TLS route handshake error"),
        "no node logged refusing the outsider's plain route:\n{refused}"
    );
    Ok(())
}
