//! The remediator's Microsoft Graph and Gmail adapters, built from a tenant's configuration
//! as the remediator builds them, over HTTP against a local stand-in
//! (`testkit::mailbox_api`) that signs in and answers as Microsoft's and Google's published
//! API descriptions say and refuses every request they do not describe: sign-in with a
//! client secret, a certificate assertion, a service account's delegated JWT; find by
//! Message-ID; quarantine (folder or label found or created once per mailbox), junk, trash,
//! permanent delete; and the failures the services give: an expired token (signed in again
//! once), throttling (Retry-After kept), a forbidden mailbox and an unknown user
//! (permanent, with the service's reason), a wrong secret. Then the whole loop through the
//! servers: a team reclassification quarantines the message in a Graph mailbox.

use anyhow::{Context, Result, ensure};
use proto::RemediationAction::{HardDelete, MoveToJunk, MoveToTrash, Quarantine, Restore};
use remediator::adapter::signin::{JwtSigner, ServiceAccount, certificate_thumbprint};
use remediator::adapter::{AdapterError, MailboxAdapter, MoveOutcome};
use remediator::tenants::{TenantAdapter, TenantMailboxes};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use testkit::mailbox_api::{GoogleAccount, MailboxApi, MicrosoftAccount};
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, send_with_smtplib};

fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl").args(args).output().context("running openssl")?;
    ensure!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// An app certificate and its RSA key (PKCS#8), as an Entra app registration takes.
fn certificate(dir: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = (dir.join("app.pem"), dir.join("app.key"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=postern-remediator",
        "-keyout",
        key.to_str().context("path")?,
        "-out",
        cert.to_str().context("path")?,
    ])?;
    Ok((cert, key))
}

fn adapter(toml_text: &str) -> Result<TenantAdapter> {
    let mailboxes: TenantMailboxes = toml::from_str(toml_text)?;
    Ok(mailboxes.adapter("acme")?)
}

fn graph_config(api: &MailboxApi, secret_line: &str) -> String {
    format!(
        "[graph]\ntenant_id = \"contoso\"\nclient_id = \"app-1\"\n{secret_line}\ngraph_url = \"{}\"\nlogin_url = \"{}\"\n",
        api.graph_url(),
        api.login_url()
    )
}

fn microsoft(secret: Option<&str>, certificate: Option<(Vec<u8>, Vec<u8>)>) -> MicrosoftAccount {
    MicrosoftAccount {
        tenant: "contoso".into(),
        client_id: "app-1".into(),
        client_secret: secret.map(str::to_owned),
        certificate,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

#[test]
fn graph_signs_in_finds_moves_deletes_and_fails_as_graph_does() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let api = MailboxApi::start(Some(microsoft(Some("s3cret-value"), None)), None)?;
    let secret = dir.path().join("graph-secret");
    std::fs::write(&secret, "s3cret-value\n")?;
    let graph = adapter(&graph_config(&api, &format!("client_secret_file = \"{}\"", secret.display())))?;
    for id in
        ["<q1@x.example>", "<q2@x.example>", "<j1@x.example>", "<t1@x.example>", "<d1@x.example>", "<e1@x.example>"]
    {
        api.deliver("bob@corp.example", id);
    }
    api.add_user("carol@corp.example");
    api.forbid("carol@corp.example");
    let bob = "bob@corp.example";
    runtime()?.block_on(async {
        // Quarantine: the folder is created once, then found (cached) for the next message.
        for id in ["<q1@x.example>", "<q2@x.example>"] {
            let out = graph.remediate(bob, id, Quarantine).await?;
            ensure!(matches!(&out, MoveOutcome::Done(d) if d.contains("moved to Quarantine")), "{out:?}");
            ensure!(
                api.whereabouts(bob, id).map(|w| w.0) == Some("Quarantine".into()),
                "{:?}",
                api.whereabouts(bob, id)
            );
        }
        let creates = api.calls().iter().filter(|c| c.starts_with("POST") && c.ends_with("/mailFolders")).count();
        ensure!(creates == 1, "the quarantine folder was created {creates} times: {:?}", api.calls());
        graph.remediate(bob, "<j1@x.example>", MoveToJunk).await?;
        ensure!(api.whereabouts(bob, "<j1@x.example>").map(|w| w.0) == Some("junkemail".into()));
        graph.remediate(bob, "<t1@x.example>", MoveToTrash).await?;
        ensure!(api.whereabouts(bob, "<t1@x.example>").map(|w| w.0) == Some("deleteditems".into()));
        graph.remediate(bob, "<d1@x.example>", HardDelete).await?;
        ensure!(api.whereabouts(bob, "<d1@x.example>").is_none(), "permanently deleted");
        ensure!(graph.remediate(bob, "<nowhere@x.example>", MoveToJunk).await? == MoveOutcome::NotFound);
        // A release puts a quarantined message back in the inbox.
        graph.remediate(bob, "<q1@x.example>", Restore).await?;
        ensure!(api.whereabouts(bob, "<q1@x.example>").map(|w| w.0) == Some("inbox".into()));

        // The token expires: one 401, a new sign-in, the same request again.
        ensure!(api.token_requests() == 1, "one token for the tenant, cached: {}", api.token_requests());
        api.expire_tokens();
        graph.remediate(bob, "<e1@x.example>", MoveToJunk).await?;
        ensure!(api.token_requests() == 2, "signed in again once: {}", api.token_requests());

        // Throttled: temporary, with the service's Retry-After.
        api.throttle_next(7);
        match graph.remediate(bob, "<e1@x.example>", MoveToJunk).await {
            Err(AdapterError::RetryAfter { after, .. }) => ensure!(after == Duration::from_secs(7), "{after:?}"),
            other => anyhow::bail!("throttling gave {other:?}"),
        }
        // Forbidden and unknown mailboxes: permanent, with Graph's reason.
        match graph.remediate("carol@corp.example", "<q1@x.example>", MoveToJunk).await {
            Err(AdapterError::Permanent(m)) => ensure!(m.contains("HTTP 403") && m.contains("Access is denied"), "{m}"),
            other => anyhow::bail!("forbidden gave {other:?}"),
        }
        match graph.remediate("dave@corp.example", "<q1@x.example>", MoveToJunk).await {
            Err(AdapterError::Permanent(m)) => ensure!(m.contains("HTTP 404") && m.contains("is invalid"), "{m}"),
            other => anyhow::bail!("unknown user gave {other:?}"),
        }
        Ok(())
    })?;
    ensure!(api.violations().is_empty(), "requests the description does not allow: {:?}", api.violations());

    // A wrong secret: permanent, with the identity platform's reason and not the secret.
    std::fs::write(&secret, "not-the-secret\n")?;
    let wrong = adapter(&graph_config(&api, &format!("client_secret_file = \"{}\"", secret.display())))?;
    match runtime()?.block_on(wrong.remediate(bob, "<q1@x.example>", MoveToJunk)) {
        Err(AdapterError::Permanent(m)) => {
            ensure!(m.contains("invalid_client") && m.contains("AADSTS7000215") && !m.contains("not-the-secret"), "{m}")
        }
        other => anyhow::bail!("a wrong secret gave {other:?}"),
    }
    Ok(())
}

#[test]
fn graph_signs_in_with_a_certificate_assertion() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (cert, key) = certificate(dir.path())?;
    let public_key = JwtSigner::from_pem(&std::fs::read(&key)?, &key)?.public_key_der();
    let api = MailboxApi::start(Some(microsoft(None, Some((public_key, certificate_thumbprint(&cert)?)))), None)?;
    let graph = adapter(&graph_config(
        &api,
        &format!("certificate_file = \"{}\"\nprivate_key_file = \"{}\"", cert.display(), key.display()),
    ))?;
    api.deliver("bob@corp.example", "<c1@x.example>");
    let out = runtime()?.block_on(graph.remediate("bob@corp.example", "<c1@x.example>", Quarantine))?;
    ensure!(matches!(out, MoveOutcome::Done(_)), "{out:?}");
    ensure!(api.token_requests() == 1 && api.violations().is_empty(), "{:?}", api.violations());
    Ok(())
}

#[test]
fn gmail_signs_in_as_each_user_relabels_trashes_deletes_and_fails_as_gmail_does() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("rsa.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key.to_str().context("path")?,
    ])?;
    // The key file is written once the stand-in's address (its token_uri) is known.
    let key_file = dir.path().join("service-account.json");
    let write_key_file = |token_uri: &str| -> Result<()> {
        let json = serde_json::json!({
            "type": "service_account",
            "project_id": "postern-test",
            "private_key_id": "0123456789abcdef",
            "private_key": std::fs::read_to_string(&key)?,
            "client_email": "postern@postern-test.iam.gserviceaccount.com",
            "client_id": "100000000000000000001",
            "token_uri": token_uri,
        });
        std::fs::write(&key_file, json.to_string())?;
        Ok(())
    };
    write_key_file("https://oauth2.googleapis.com/token")?;
    let public_key = ServiceAccount::from_key_file(&key_file)?.signer.public_key_der();
    let api = MailboxApi::start(
        None,
        Some(GoogleAccount { client_email: "postern@postern-test.iam.gserviceaccount.com".into(), public_key }),
    )?;
    write_key_file(&api.google_token_url())?;
    let gmail = adapter(&format!(
        "[gmail]\nservice_account_file = \"{}\"\ngmail_url = \"{}\"\n",
        key_file.display(),
        api.gmail_url()
    ))?;
    let (bob, erin) = ("bob@corp.example", "erin@corp.example");
    for id in ["<q1@x.example>", "<q2@x.example>", "<j1@x.example>", "<t1@x.example>", "<d1@x.example>"] {
        api.deliver(bob, id);
    }
    api.deliver(erin, "<q1@x.example>");
    api.add_user("carol@corp.example");
    api.forbid("carol@corp.example");
    runtime()?.block_on(async {
        for id in ["<q1@x.example>", "<q2@x.example>"] {
            gmail.remediate(bob, id, Quarantine).await?;
            let labels = api.whereabouts(bob, id).context("kept")?.1;
            ensure!(labels.contains(&"Quarantine".to_owned()) && !labels.contains(&"INBOX".to_owned()), "{labels:?}");
        }
        let creates = api.calls().iter().filter(|c| c.starts_with("POST") && c.ends_with("/labels")).count();
        ensure!(creates == 1, "the quarantine label was created {creates} times");
        gmail.remediate(bob, "<j1@x.example>", MoveToJunk).await?;
        ensure!(api.whereabouts(bob, "<j1@x.example>").context("kept")?.1.contains(&"SPAM".to_owned()));
        gmail.remediate(bob, "<t1@x.example>", MoveToTrash).await?;
        ensure!(api.whereabouts(bob, "<t1@x.example>").context("kept")?.1.contains(&"TRASH".to_owned()));
        gmail.remediate(bob, "<d1@x.example>", HardDelete).await?;
        ensure!(api.whereabouts(bob, "<d1@x.example>").is_none());
        // Already in spam: found again (spam and trash are searched) and left there.
        ensure!(matches!(gmail.remediate(bob, "<j1@x.example>", MoveToJunk).await?, MoveOutcome::Done(_)));
        ensure!(gmail.remediate(bob, "<nowhere@x.example>", MoveToJunk).await? == MoveOutcome::NotFound);
        // Releases: out of quarantine, out of the trash, back in INBOX.
        for id in ["<q2@x.example>", "<t1@x.example>"] {
            gmail.remediate(bob, id, Restore).await?;
            let labels = api.whereabouts(bob, id).context("kept")?.1;
            ensure!(
                labels.contains(&"INBOX".to_owned()) && !labels.iter().any(|l| l == "Quarantine" || l == "TRASH"),
                "{id}: {labels:?}"
            );
        }
        // Each user's mailbox takes a token of its own (the service account acts as the user).
        ensure!(api.token_requests() == 1, "{}", api.token_requests());
        gmail.remediate(erin, "<q1@x.example>", Quarantine).await?;
        ensure!(api.token_requests() == 2, "{}", api.token_requests());
        api.expire_tokens();
        gmail.remediate(erin, "<q1@x.example>", MoveToTrash).await?;
        ensure!(api.token_requests() == 3, "signed in again once: {}", api.token_requests());
        api.throttle_next(3);
        match gmail.remediate(bob, "<q1@x.example>", MoveToJunk).await {
            Err(AdapterError::RetryAfter { after, .. }) => ensure!(after == Duration::from_secs(3)),
            other => anyhow::bail!("throttling gave {other:?}"),
        }
        match gmail.remediate("carol@corp.example", "<q1@x.example>", MoveToJunk).await {
            Err(AdapterError::Permanent(m)) => ensure!(m.contains("HTTP 403"), "{m}"),
            other => anyhow::bail!("forbidden gave {other:?}"),
        }
        Ok(())
    })?;
    ensure!(api.violations().is_empty(), "requests the discovery document does not allow: {:?}", api.violations());
    Ok(())
}

/// The whole loop: a message reaches bob's Microsoft 365 mailbox and Postern; the team
/// reclassifies it MALICIOUS; the tenant's policy says quarantine; the remediator, given
/// only the Graph tenant's configuration, moves it into bob's quarantine folder through
/// the stand-in, and the trace records DONE. With `release_on_withdraw` in the policy, the
/// team's withdrawal puts it back in the inbox.
#[test]
fn a_team_reclassification_quarantines_the_message_in_a_graph_mailbox() -> Result<()> {
    let p = Pipeline::start()?;
    let api = MailboxApi::start(Some(microsoft(Some("s3cret-value"), None)), None)?;
    api.deliver("bob@corp.example", "<graph-1@vendor.example>");
    let config = p.dir.path().join("remediator.toml");
    std::fs::write(
        &config,
        format!(
            "nats_url = \"{}\"\nbackoff = \"200ms\"\nbackoff_max = \"1s\"\nack_wait = \"20s\"\n[tenants.default.graph]\n\
             tenant_id = \"contoso\"\nclient_id = \"app-1\"\nclient_secret_env = \"POSTERN_TEST_GRAPH_SECRET\"\n\
             graph_url = \"{}\"\nlogin_url = \"{}\"\n",
            p.nats.url(),
            api.graph_url(),
            api.login_url()
        ),
    )?;
    let remediator = testkit::process::Service::start_with_env(
        "remediator",
        "remediator",
        &["--config", config.to_str().context("path")?],
        p.dir.path(),
        &[("POSTERN_TEST_GRAPH_SECRET", "s3cret-value")],
    )?;
    let policy = p.dir.path().join("policy.toml");
    std::fs::write(&policy, "auto_remediate = true\n[actions]\nMALICIOUS = \"quarantine\"\n")?;
    p.cli("scorer", &["policy", "set", "--tenant", "default", policy.to_str().context("path")?])?.ok()?;
    let sent = send_with_smtplib(
        p.smtp,
        &[Outgoing::to_journal(
            "bob@corp.example",
            b"From: Billing <billing@vendor.example>\r\nTo: bob@corp.example\r\nSubject: Invoice\r\nMessage-ID: <graph-1@vendor.example>\r\n\r\nPlease pay.\r\n".to_vec(),
        )],
    )?;
    ensure!(sent[0].code == 250, "{sent:?}");
    testkit::eventually(Duration::from_secs(30), "the message is scored", || {
        Ok(p.traces("graph-1@vendor.example")?.into_iter().next().filter(|t| !t["disposition"].is_null()))
    })?;
    let submitted: serde_json::Value = serde_json::from_str(
        &p.cli(
            "projector",
            &[
                "reclassify",
                "--message-id",
                "graph-1@vendor.example",
                "--disposition",
                "MALICIOUS",
                "--type",
                "team",
                "--json",
            ],
        )?
        .ok()?,
    )?;
    let submission = submitted["submission_id"].as_str().context("a submission id")?.to_owned();
    let outcome = testkit::eventually(Duration::from_secs(30), "the remediation outcome is in the trace", || {
        let trace = p.traces("graph-1@vendor.example")?.into_iter().next().context("no trace")?;
        Ok(trace["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["event_type"] == "RemediationCompleted")
            .map(|e| e["summary"].as_str().unwrap_or_default().to_owned()))
    })
    .with_context(|| remediator.log())?;
    ensure!(outcome.contains("DONE") && outcome.contains("Graph"), "{outcome}");
    ensure!(
        api.whereabouts("bob@corp.example", "<graph-1@vendor.example>").map(|w| w.0) == Some("Quarantine".into()),
        "{:?}",
        api.whereabouts("bob@corp.example", "<graph-1@vendor.example>")
    );

    // The tenant's policy releases on withdrawal: the team withdraws its verdict, and the
    // message goes back to bob's inbox without anyone asking for the release.
    std::fs::write(
        &policy,
        "auto_remediate = true\nrelease_on_withdraw = true\n[actions]\nMALICIOUS = \"quarantine\"\n",
    )?;
    p.cli("scorer", &["policy", "set", "--tenant", "default", policy.to_str().context("path")?])?.ok()?;
    let withdrawn: serde_json::Value =
        serde_json::from_str(&p.cli("projector", &["resolve", &submission, "--outcome", "withdraw", "--json"])?.ok()?)?;
    ensure!(withdrawn["remediation"]["action"] == "restore" && withdrawn["release"].is_null(), "{withdrawn}");
    testkit::eventually(Duration::from_secs(30), "bob's copy is back in the inbox", || {
        Ok((api.whereabouts("bob@corp.example", "<graph-1@vendor.example>").map(|w| w.0) == Some("inbox".into()))
            .then_some(()))
    })
    .with_context(|| remediator.log())?;
    ensure!(api.violations().is_empty(), "{:?}", api.violations());
    ensure!(!remediator.log().contains("s3cret-value"), "the secret is in the remediator's log");
    Ok(())
}
