//! NATS least privilege (nats-users.conf, the repository's own file): a client without a
//! known key is refused; each component, connected with its own key as the component does,
//! is refused by the server (a permissions violation it reports to the client) for what
//! is not its work, the shared training scope included; the operator's key may teach it;
//! and a pipeline whose services each run with their own key does its work without a
//! single violation in the server's log; an operator's command without a key is told which
//! key to give.

use anyhow::{Context, Result, bail};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::nats::{NatsServer, seed_file};
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, send_with_smtplib};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

/// A connection as `component` (its key and inbox prefix) that keeps the errors the server
/// reports to it.
struct Connected {
    client: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
}

async fn connect_as(url: &str, component: &str) -> Result<Connected> {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let seed = seed_file(component)?;
    let access = proto::connect::NatsAccess { nkey_file: Some(&seed), tls_ca_file: None };
    let client = proto::connect::options(component, access)?
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let seen = seen.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    seen.lock().unwrap().push(e.to_string());
                }
            }
        })
        .connect(url)
        .await
        .with_context(|| format!("connecting as {component}"))?;
    Ok(Connected { client, errors })
}

#[derive(Clone, Copy, Debug)]
enum Try {
    Publish(&'static str),
    Subscribe(&'static str),
}

impl Connected {
    /// Does `what` and returns the server's permissions violation for it, if it reports one
    /// within two seconds (a flush first makes sure the server has read the request).
    async fn violation(&self, what: Try) -> Result<Option<String>> {
        let (verb, subject) = match what {
            Try::Publish(subject) => {
                self.client.publish(subject, "probe".into()).await?;
                ("Publish", subject)
            }
            Try::Subscribe(subject) => {
                // The subscription itself is kept open until the check is done.
                let sub = self.client.subscribe(subject).await?;
                std::mem::forget(sub);
                ("Subscription", subject)
            }
        };
        let _ = self.client.flush().await;
        let wanted = format!("Permissions Violation for {verb} to \"{subject}\"");
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Some(e) = self.errors.lock().unwrap().iter().find(|e| e.contains(&wanted)) {
                return Ok(Some(e.clone()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(None)
    }
}

/// What each component must not do: a publish or a subscription outside its work.
const REFUSED: &[(&str, &[Try])] = &[
    (
        "ingest",
        &[
            Try::Subscribe("mail.raw.>"),
            Try::Subscribe("_INBOX_scorer.>"),
            Try::Publish("mail.disposition.default"),
            Try::Publish("mail.training._shared"),
            Try::Publish("$JS.API.STREAM.MSG.GET.MAIL_RAW"),
            Try::Publish("$JS.API.STREAM.PURGE.MAIL_RAW"),
            Try::Publish("$JS.API.STREAM.DELETE.MAIL_RAW"),
            Try::Publish("$JS.API.DIRECT.GET.OBJ_MAIL_RAW_BODIES.$O.MAIL_RAW_BODIES.C.chunk"),
        ],
    ),
    (
        "scorer",
        &[
            Try::Subscribe("mail.>"),
            Try::Publish("mail.raw.default"),
            Try::Publish("mail.training._shared"),
            Try::Publish("mail.policy.default"),
            Try::Publish("$KV.POSTERN_POLICIES.default"),
            Try::Publish("mail.reclassification.default"),
            Try::Publish("$JS.API.STREAM.DELETE.MAIL_EVENTS"),
            Try::Publish("$JS.API.CONSUMER.MSG.NEXT.MAIL_EVENTS.remediator"),
        ],
    ),
    (
        "projector",
        &[
            Try::Subscribe("mail.raw.>"),
            Try::Subscribe("_INBOX_ingest.>"),
            Try::Publish("mail.training._shared"),
            Try::Publish("mail.disposition.default"),
            Try::Publish("mail.raw.default"),
            Try::Publish("mail.policy.default"),
            Try::Publish("$KV.POSTERN_POLICIES.default"),
            Try::Publish("$JS.API.STREAM.PURGE.MAIL_RAW"),
            Try::Publish("$JS.API.CONSUMER.MSG.NEXT.MAIL_EVENTS.remediator"),
            Try::Publish("$JS.API.CONSUMER.DELETE.MAIL_RAW.scorer"),
            Try::Publish("$JS.API.CONSUMER.DURABLE.CREATE.MAIL_EVENTS.remediator"),
        ],
    ),
    (
        "remediator",
        &[
            Try::Subscribe("mail.>"),
            Try::Subscribe("_INBOX_projector.>"),
            Try::Publish("mail.disposition.default"),
            Try::Publish("mail.training.default"),
            Try::Publish("mail.reclassification.default"),
            Try::Publish("$JS.API.STREAM.MSG.GET.MAIL_RAW"),
            Try::Publish("$JS.API.CONSUMER.MSG.NEXT.MAIL_RAW.scorer"),
            Try::Publish("$KV.POSTERN_POLICIES.default"),
        ],
    ),
];

#[test]
fn a_client_without_a_known_key_is_refused() -> Result<()> {
    let nats = NatsServer::start()?;
    runtime().block_on(async {
        let anonymous =
            async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(3)).connect(nats.url()).await;
        let e = anonymous.err().context("a client without credentials was let in")?;
        assert!(e.to_string().to_lowercase().contains("authorization"), "{e}");

        let dir = tempfile::tempdir()?;
        let stranger = dir.path().join("stranger.nk");
        std::fs::write(&stranger, nkeys::KeyPair::new_user().seed().context("a seed")?)?;
        let access = proto::connect::NatsAccess { nkey_file: Some(&stranger), tls_ca_file: None };
        let e = proto::connect::options("scorer", access)?
            .connection_timeout(Duration::from_secs(3))
            .connect(nats.url())
            .await
            .err()
            .context("a key the server does not know was let in")?;
        assert!(e.to_string().to_lowercase().contains("authorization"), "{e}");
        Ok(())
    })
}

#[test]
fn each_component_is_refused_what_is_not_its_work() -> Result<()> {
    let nats = NatsServer::start()?;
    let mut tried = 0;
    runtime().block_on(async {
        for (component, refused) in REFUSED {
            let connected = connect_as(&nats.url(), component).await?;
            for what in *refused {
                if connected.violation(*what).await?.is_none() {
                    bail!("{component} was not refused {what:?}; the server reported {:?}", connected.errors);
                }
                tried += 1;
            }
        }
        // The operator may teach the shared scope, and a component its own work: no violation.
        let admin = connect_as(&nats.url(), "admin").await?;
        for allowed in [Try::Publish("mail.training._shared"), Try::Subscribe("mail.raw.>")] {
            if let Some(e) = admin.violation(allowed).await? {
                bail!("admin was refused {allowed:?}: {e}");
            }
        }
        let projector = connect_as(&nats.url(), "projector").await?;
        for allowed in [Try::Publish("mail.training.default"), Try::Subscribe("_INBOX_projector.x")] {
            if let Some(e) = projector.violation(allowed).await? {
                bail!("projector was refused {allowed:?}: {e}");
            }
        }
        // A scorer teaches its tenants' classifiers the spam it autolearns (not the shared scope).
        let scorer = connect_as(&nats.url(), "scorer").await?;
        if let Some(e) = scorer.violation(Try::Publish("mail.training.default")).await? {
            bail!("scorer was refused its autolearned examples: {e}");
        }
        Ok(())
    })?;
    assert_eq!(tried, REFUSED.iter().map(|(_, r)| r.len()).sum::<usize>());
    // The server logs what it refused (what the pipeline test below looks for).
    assert!(nats.log().contains("Violation"), "{}", nats.log());
    Ok(())
}

#[test]
fn the_pipeline_does_its_work_with_each_components_own_key_and_no_violation() -> Result<()> {
    let p = Pipeline::start()?;
    let outcome = send_with_smtplib(
        p.smtp,
        &[Outgoing::to_journal(
            "alice@example.org",
            b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: least privilege\r\nMessage-ID: <perm-1@example.org>\r\n\r\nhello\r\n"
                .to_vec(),
        )],
    )?;
    assert_eq!(outcome[0].code, 250, "{outcome:?}");
    testkit::eventually(Duration::from_secs(30), "the message is scored and folded", || {
        Ok(p.traces("<perm-1@example.org>")?.into_iter().next().filter(|t| !t["disposition"].is_null()))
    })
    .with_context(|| p.logs())?;
    let log = p.nats.log();
    assert!(!log.contains("Violation"), "the server refused a component its normal work:\n{log}");

    // An operator's command without a key is refused, and told which key to give.
    let nats = p.nats.url();
    let bare = testkit::cli::run(
        "scorer",
        &["policy", "show", "--tenant", "default"],
        &[("NATS_URL", nats.as_str()), ("POSTERN_NATS_NKEY_FILE", "")],
    )?;
    assert_eq!(bare.code, Some(2), "{}", bare.text());
    assert!(
        bare.stderr.contains("give this component its NATS key") && bare.stderr.contains("admin.nk"),
        "{}",
        bare.text()
    );
    Ok(())
}
