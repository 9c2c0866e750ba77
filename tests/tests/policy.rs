//! Per-tenant policies through the real servers: `scorer policy` validates and stores a
//! policy in the KV bucket, the running scorer applies it within seconds with no restart,
//! and a policy that does not validate is refused with the reason and changes nothing.

use anyhow::{Result, ensure};
use testkit::pipeline::Pipeline;

fn policy_cli(p: &Pipeline, args: &[&str]) -> Result<(bool, String)> {
    let args: Vec<&str> = std::iter::once("policy").chain(args.iter().copied()).collect();
    let run = p.cli("scorer", &args)?;
    Ok((run.success, run.text()))
}

fn blocked_mail(i: usize, message_id: &str) -> Vec<u8> {
    format!(
        "From: Billing <billing{i}@known-bad.example>\r\nTo: bob@corp.example\r\nSubject: Invoice {i}\r\n\
Message-ID: <{message_id}>\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n\r\nPlease find the invoice.\r\n"
    )
    .into_bytes()
}

#[test]
fn a_policy_applies_without_restart_and_a_bad_one_is_refused() -> Result<()> {
    let p = Pipeline::start()?;
    let dir = tempfile::tempdir()?;
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "own_domains = [\"corp.example\"]\nblocked_senders = [{ pattern = \"known-bad.example\", type = \"DOMAIN\", comment = \"fraud\" }]\n",
    )?;
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "blocked_senders = [{ pattern = \"(unclosed\", type = \"REGEX\" }]\n")?;

    // Refused with the reason, offline and when storing; nothing is stored.
    let (ok, text) = policy_cli(&p, &["validate", bad.to_str().unwrap()])?;
    ensure!(!ok && text.contains("blocked_senders[0].pattern: bad regex"), "{text}");
    let (ok, text) = policy_cli(&p, &["set", "--tenant", "default", bad.to_str().unwrap()])?;
    ensure!(!ok && text.contains("bad regex"), "{text}");
    let (ok, text) = policy_cli(&p, &["show", "--tenant", "default"])?;
    ensure!(ok && text.contains("has no policy"), "{text}");
    let (ok, text) = policy_cli(&p, &["set", "--tenant", "Not A Tenant", good.to_str().unwrap()])?;
    ensure!(!ok && text.contains("--tenant"), "{text}");

    // No policy: the sender is nobody in particular.
    p.send_until("bounce@known-bad.example", 0, "NONE", blocked_mail)?;

    let (ok, text) = policy_cli(&p, &["set", "--tenant", "default", good.to_str().unwrap()])?;
    ensure!(ok && text.contains("stored"), "{text}");
    let blocked = p.send_until("bounce@known-bad.example", 1000, "MALICIOUS", blocked_mail)?;
    ensure!(blocked["attributes"].to_string().contains("CUSTOM_BLOCK_LIST"), "{blocked}");
    ensure!(blocked["detections"].to_string().contains("policy_blocked_sender"), "{blocked}");
    let (ok, text) = policy_cli(&p, &["show", "--tenant", "default"])?;
    ensure!(ok && text.contains("known-bad.example") && text.contains("fraud"), "{text}");

    let (ok, text) = policy_cli(&p, &["delete", "--tenant", "default"])?;
    ensure!(ok, "{text}");
    p.send_until("bounce@known-bad.example", 2000, "NONE", blocked_mail)?;
    Ok(())
}
