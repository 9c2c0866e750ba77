//! TLS between the components and NATS (`nats_tls_ca_file`): on a server that requires TLS
//! with a certificate from a CA of its own, the pipeline works when each component is given
//! that CA, and a client that does not trust the CA cannot connect.

use anyhow::{Context, Result};
use std::time::Duration;
use testkit::nats::{NatsServer, seed_file};
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
