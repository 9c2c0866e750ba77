//! Every route of the API (the projector's own list, `projector::api::ROUTES`, which the
//! router enforces and refuses any route missing from) called by every kind of caller: no
//! token, an unknown token, another tenant's admin, and a viewer, an analyst and an admin of
//! the tenant. Each answer is checked (401 without a known token, 403 below the route's role,
//! 404 for the other tenant's ids, else what the route does), and no answer to the other
//! tenant carries this tenant's message. An analyst cannot accept a submission; an admin
//! can, but not one of their own. Through the real servers.

use anyhow::{Context, Result, ensure};
use projector::api::{Access, ROUTES};
use projector::config::Role;
use std::time::Duration;
use testkit::http::{encode, request};
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, send_with_smtplib};

const SUBJECT: &str = "Quarterly numbers for the board";

fn message() -> Vec<u8> {
    format!(
        "From: CFO <cfo@corp.example>\r\nTo: board@corp.example\r\nSubject: {SUBJECT}\r\n\
Message-ID: <roles-1@corp.example>\r\nDate: Thu, 03 Dec 2026 09:00:00 +0000\r\n\r\nThe numbers are attached.\r\n"
    )
    .into_bytes()
}

/// A caller: its token, and what it is.
struct Who {
    name: &'static str,
    token: Option<&'static str>,
    /// The tenant's role, or None: no token, an unknown one, or another tenant's.
    role: Option<Role>,
    other_tenant: bool,
}

#[test]
fn every_route_answers_every_caller_as_its_role_allows() -> Result<()> {
    let tokens = [
        ("default", "viewer", "pst_roles_viewer"),
        ("default", "analyst", "pst_roles_analyst"),
        ("default", "admin", "pst_roles_admin"),
        ("other", "admin", "pst_roles_other_admin"),
    ];
    let config = testkit::pipeline::tokens_config(&tokens);
    let submission_address = "[submission_addresses.\"phish@corp.example\"]\ntenant = \"default\"\nkind = \"phish\"\n";
    let p = Pipeline::start_configured(submission_address, &config)?;
    let o = send_with_smtplib(p.smtp, &[Outgoing::to_journal("cfo@corp.example", message())])?;
    ensure!(o[0].code == 250, "{o:?}");
    let admin = Some("pst_roles_admin");
    let id = testkit::eventually(Duration::from_secs(30), "the message is folded", || {
        let path = format!("/api/v1/messages?message_id={}", encode("roles-1@corp.example"));
        let answer = request(p.http, "GET", &path, admin, None)?;
        Ok(answer.json()?["messages"][0]["postern_id"].as_str().map(str::to_owned))
    })?;
    // A pending USER submission, for the resolve route.
    let submit = serde_json::json!({"postern_id": id, "disposition": "SPAM", "type": "user"});
    let answer = request(p.http, "POST", "/api/v1/reclassifications", Some("pst_roles_analyst"), Some(&submit))?;
    ensure!(answer.status == 201, "{}", String::from_utf8_lossy(&answer.body));
    let submission = answer.json()?["submission_id"].as_str().context("submission id")?.to_owned();
    // A user's report by mail (of a message Postern never received: it stays unmatched),
    // for the submissions' routes.
    let report = testkit::forwards::outlook_as_attachment(
        "board@corp.example",
        "phish@corp.example",
        "Gift cards",
        "From: ceo@lookalike.example\r\nSubject: Gift cards\r\nMessage-ID: <roles-never@lookalike.example>\r\n\r\nBuy them.\r\n",
    );
    let o = send_with_smtplib(
        p.smtp,
        &[Outgoing {
            mail_from: "board@corp.example".into(),
            rcpt_to: vec!["phish@corp.example".into()],
            data: report,
        }],
    )?;
    ensure!(o[0].code == 250, "{o:?}");
    let mail_submission = testkit::eventually(Duration::from_secs(30), "the report is folded", || {
        let answer = request(p.http, "GET", "/api/v1/submissions", admin, None)?;
        Ok(answer.json()?["submissions"][0]["submission_id"].as_str().map(str::to_owned))
    })?;

    let callers = [
        Who { name: "no token", token: None, role: None, other_tenant: false },
        Who { name: "an unknown token", token: Some("pst_nobody"), role: None, other_tenant: false },
        Who { name: "the other tenant's admin", token: Some("pst_roles_other_admin"), role: None, other_tenant: true },
        Who { name: "a viewer", token: Some("pst_roles_viewer"), role: Some(Role::Viewer), other_tenant: false },
        Who { name: "an analyst", token: Some("pst_roles_analyst"), role: Some(Role::Analyst), other_tenant: false },
        Who { name: "an admin", token: Some("pst_roles_admin"), role: Some(Role::Admin), other_tenant: false },
    ];
    let mut tried = 0;
    let mut refused = 0;
    for (method, route, access) in ROUTES {
        let submission_id = if route.starts_with("/api/v1/submissions/") { &mail_submission } else { &submission };
        let path = route.replace("{postern_id}", &id).replace("{submission_id}", submission_id);
        let path = if path.ends_with("/api/v1/messages") {
            format!("{path}?message_id={}", encode("roles-1@corp.example"))
        } else {
            path
        };
        // A withdrawal, so that an analyst may: the submission is still pending for each.
        let body = match (*method, *route) {
            ("POST", "/api/v1/reclassifications") => Some(submit.clone()),
            ("POST", "/api/v1/messages/{postern_id}/release") => Some(serde_json::json!({"comment": "walk"})),
            ("POST", _) => Some(serde_json::json!({"outcome": "withdraw", "comment": "walk"})),
            _ => None,
        };
        for who in &callers {
            let answer = request(p.http, method, &path, who.token, body.as_ref())?;
            let text = String::from_utf8_lossy(&answer.body).into_owned();
            let what = format!("{method} {route} by {}: {} {text}", who.name, answer.status);
            tried += 1;
            let expected: &[u16] = match (access, who.role, who.other_tenant) {
                (Access::Public, _, _) => &[200],
                (_, None, false) => &[401],
                // Another tenant's ids do not exist for it; its lists hold only its own.
                (_, None, true) => &[200, 201, 404, 409],
                (Access::AtLeast(needed), Some(role), _) if role < *needed => &[403],
                // Allowed: what the route does (a repeated submission is 409, a
                // submission already withdrawn too, and a release of a message that
                // was never moved).
                (Access::AtLeast(_), Some(_), _) => &[200, 201, 202, 409],
            };
            ensure!(expected.contains(&answer.status), "{what} (expected one of {expected:?})");
            if [401, 403].contains(&answer.status) {
                refused += 1;
            }
            if answer.status >= 400 {
                ensure!(answer.json()?["error"]["code"].is_string(), "errors are JSON: {what}");
            }
            // (An error may repeat the id the caller sent; nothing of the message itself.)
            if who.other_tenant {
                let leaked = [SUBJECT, "cfo@corp.example", "board@corp.example", "numbers are attached"];
                ensure!(!leaked.iter().any(|l| text.contains(l)), "the other tenant saw this one's mail: {what}");
            }
        }
    }
    println!(
        "api roles: {} routes x {} callers = {tried} calls, {refused} refused (401/403)",
        ROUTES.len(),
        callers.len()
    );

    // Deciding is an admin's: an analyst may not accept, an admin may.
    let resolve = format!("/api/v1/reclassifications/{submission}/resolve");
    let fresh = serde_json::json!({"postern_id": id, "disposition": "MALICIOUS", "type": "user"});
    let answer = request(p.http, "POST", "/api/v1/reclassifications", Some("pst_roles_analyst"), Some(&fresh))?;
    ensure!(answer.status == 201, "{}", String::from_utf8_lossy(&answer.body));
    let second = answer.json()?["submission_id"].as_str().context("submission id")?.to_owned();
    let resolve_second = resolve.replace(&submission, &second);
    let accept = serde_json::json!({"outcome": "accept"});
    let answer = request(p.http, "POST", &resolve_second, Some("pst_roles_analyst"), Some(&accept))?;
    ensure!(answer.status == 403, "an analyst accepted: {}", answer.status);
    let answer = request(p.http, "POST", &resolve_second, Some("pst_roles_admin"), Some(&accept))?;
    ensure!(answer.status == 200, "{}", String::from_utf8_lossy(&answer.body));
    let decided = answer.json()?;
    ensure!(decided["status"] == "ACCEPTED" && decided["final_disposition"] == "MALICIOUS", "{decided}");

    // Four eyes: an admin's own submission is decided by someone else.
    let own = serde_json::json!({"postern_id": id, "disposition": "BULK", "type": "user"});
    let answer = request(p.http, "POST", "/api/v1/reclassifications", admin, Some(&own))?;
    ensure!(answer.status == 201, "{}", String::from_utf8_lossy(&answer.body));
    let third = answer.json()?["submission_id"].as_str().context("submission id")?.to_owned();
    let answer = request(p.http, "POST", &resolve.replace(&submission, &third), admin, Some(&accept))?;
    let body = answer.json()?;
    ensure!(answer.status == 403 && body["error"]["message"].to_string().contains("asked by default-admin"), "{body}");

    // The audit trail (an admin's): the policy change and every reclassification, newest
    // first, each with who; through the CLI with the admin's token.
    let policy = p.dir.path().join("policy.toml");
    std::fs::write(&policy, "review_team_submissions = true\n")?;
    p.cli("scorer", &["policy", "set", "--tenant", "default", policy.to_str().context("path")?])?.ok()?;
    let api = format!("http://{}", p.http);
    let env = [("POSTERN_API", api.as_str()), ("POSTERN_TOKEN", "pst_roles_admin")];
    let trail = testkit::eventually(Duration::from_secs(30), "the policy change in the audit trail", || {
        let trail = testkit::cli::run("projector", &["audit", "--json"], &env)?.json()?;
        let has_policy = trail["entries"].as_array().is_some_and(|e| e.iter().any(|e| e["kind"] == "policy_changed"));
        Ok(has_policy.then_some(trail))
    })?;
    let entries = trail["entries"].as_array().context("entries")?;
    let said = |kind: &str, who: &str, what: &str| {
        entries
            .iter()
            .any(|e| e["kind"] == kind && e["who"] == who && e["what"].as_str().is_some_and(|w| w.contains(what)))
    };
    ensure!(entries[0]["kind"] == "policy_changed", "newest first: {trail}");
    ensure!(said("reclassification_submitted", "default-analyst", "NONE -> SPAM"), "{trail}");
    ensure!(
        said("reclassification_resolved", "default-analyst", &format!("WITHDRAWN submission {submission}")),
        "{trail}"
    );
    ensure!(said("reclassification_resolved", "default-admin", &format!("ACCEPTED submission {second}")), "{trail}");
    ensure!(said("reclassification_submitted", "default-admin", "MALICIOUS -> BULK"), "{trail}");
    // Every API write says where it came from (this test's loopback connections); a policy
    // change, made by the CLI over NATS, has no address.
    for e in entries {
        let from = e["from"].as_str();
        if e["kind"] == "policy_changed" {
            ensure!(from.is_none(), "{e}");
        } else {
            ensure!(from.is_some_and(|f| f.starts_with("127.0.0.1:")), "an API write without its address: {e}");
        }
    }
    let table = testkit::cli::run("projector", &["audit"], &env)?;
    ensure!(table.success && table.stdout.contains("FROM") && table.stdout.contains("127.0.0.1:"), "{}", table.text());
    let times: Vec<&str> = entries.iter().filter_map(|e| e["at"].as_str()).collect();
    ensure!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let viewer = [("POSTERN_API", api.as_str()), ("POSTERN_TOKEN", "pst_roles_viewer")];
    let refused = testkit::cli::run("projector", &["audit"], &viewer)?;
    ensure!(!refused.success && refused.stderr.contains("403"), "a viewer read the audit trail: {}", refused.text());
    Ok(())
}

/// A token that asks faster than `rate_limit_per_minute` gets 429 with `Retry-After`; another
/// token of the same tenant is not slowed by it.
#[test]
fn a_token_over_its_rate_limit_is_told_when_to_come_back() -> Result<()> {
    let entry = |name: &str, token: &str| {
        format!(
            "{{ tenant = \"default\", sha256 = \"{}\", name = \"{name}\", role = \"viewer\" }}",
            projector::api::token_hash(token)
        )
    };
    let config =
        format!("rate_limit_per_minute = 5\ntokens = [{}, {}]\n", entry("fast", "pst_fast"), entry("calm", "pst_calm"));
    let submission_address = "[submission_addresses.\"phish@corp.example\"]\ntenant = \"default\"\nkind = \"phish\"\n";
    let p = Pipeline::start_configured(submission_address, &config)?;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(request(p.http, "GET", "/api/v1/search", Some("pst_fast"), None)?);
    }
    let codes: Vec<u16> = statuses.iter().map(|a| a.status).collect();
    ensure!(codes[..5].iter().all(|c| *c == 200) && codes[5..].iter().all(|c| *c == 429), "{codes:?}");
    let limited = &statuses[5];
    let retry: u64 = limited.header("retry-after").context("Retry-After")?.parse()?;
    ensure!((1..=12).contains(&retry), "Retry-After {retry}");
    ensure!(limited.json()?["error"]["code"] == "rate_limited", "{}", limited.json()?);
    ensure!(request(p.http, "GET", "/api/v1/search", Some("pst_calm"), None)?.status == 200, "another token");
    Ok(())
}
