//! The analyst's console in a real browser. The pipeline runs with tokens for a viewer, an
//! analyst and an admin of one tenant and an admin of another; a clean message, a phish, a
//! newsletter and a message whose subject is a spreadsheet formula arrive over SMTP; then `tests/console/console.test.mjs` drives Debian's
//! chromium with Playwright (playwright-core) through sign-in, email activity,
//! investigation (by keyboard, bookmark, CSV), a message's detections and headers, a
//! reclassification by keyboard, a USER submission accepted by the admin from the queue, a
//! viewer without write controls (and the API refusing the write), a CSRF-less write
//! refused, the tenant's policy and its history, and the other tenant seeing nothing; axe-core checks every view (no serious or
//! critical violation). Screenshots (1280x800 and 390x844) and axe's report go to
//! `target/console-screenshots/`.

use anyhow::{Context, Result, ensure};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use testkit::http::{encode, request};
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, send_with_smtplib};

const TOKENS: [(&str, &str, &str); 4] = [
    ("default", "viewer", "pst_console_viewer"),
    ("default", "analyst", "pst_console_analyst"),
    ("default", "admin", "pst_console_admin"),
    ("other", "admin", "pst_console_other_admin"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_console_works_in_a_real_browser() -> Result<()> {
    let browser_tests = repo().join("tests/console");
    ensure!(
        browser_tests.join("node_modules/playwright-core").is_dir()
            && browser_tests.join("node_modules/axe-core").is_dir(),
        "playwright-core and axe-core are not installed in tests/console (bash scripts/setup.sh does it)"
    );
    let chromium = PathBuf::from("/usr/bin/chromium");
    ensure!(chromium.exists(), "Debian's chromium is not installed (bash scripts/setup.sh does it)");

    let config = testkit::pipeline::tokens_config(&TOKENS);
    let p = Pipeline::start_configured("", &config)?;
    let fixtures = repo().join("scorer/tests/fixtures");
    let mut outgoing = Vec::new();
    for (name, sender) in [
        ("personal_reply", "bob@partner.example"),
        ("brand_text_other_link", "service@mailer-notices.example"),
        ("newsletter_list_unsubscribe", "news@gardening-weekly.example"),
    ] {
        let data = std::fs::read(fixtures.join(format!("{name}.eml"))).with_context(|| format!("fixture {name}"))?;
        outgoing.push(Outgoing::to_journal(sender, data));
    }
    // A subject a spreadsheet would run as a formula: the CSV export must defuse it.
    outgoing.push(Outgoing::to_journal(
        "formula@partner.example",
        b"From: Formula <formula@partner.example>\r\nTo: Alice Example <alice@corp.example>\r\n\
Subject: =HYPERLINK(\"http://evil.example/\",\"Open\")\r\nMessage-ID: <formula-1@fixtures.example>\r\n\
Date: Tue, 01 Dec 2026 09:30:00 +0000\r\n\r\nSee the sheet.\r\n"
            .to_vec(),
    ));
    let sent = send_with_smtplib(p.smtp, &outgoing)?;
    ensure!(sent.iter().all(|o| o.code == 250), "{sent:?}");
    let admin = Some(TOKENS[2].2);
    for message_id in [
        "personal-1@fixtures.example",
        "brand-1@fixtures.example",
        "news-1@fixtures.example",
        "formula-1@fixtures.example",
    ] {
        testkit::eventually(Duration::from_secs(60), "each message is scored and folded", || {
            let answer =
                request(p.http, "GET", &format!("/api/v1/messages?message_id={}", encode(message_id)), admin, None)?;
            Ok(answer.json()?["messages"][0]["disposition"].as_str().map(str::to_owned))
        })?;
    }

    // A policy, for the policy page: set as an operator would.
    let policy = p.dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "own_domains = [\"corp.example\"]\nblocked_senders = [{ pattern = \"known-bad.example\", type = \"DOMAIN\", comment = \"fraud\" }]\n",
    )?;
    let set = p.cli("scorer", &["policy", "set", "--tenant", "default", policy.to_str().context("path")?])?;
    ensure!(set.success, "{}", set.text());
    testkit::eventually(Duration::from_secs(30), "the policy change is folded", || {
        let answer = request(p.http, "GET", "/api/v1/policy", admin, None)?;
        let json = answer.json()?;
        Ok(json["history"].as_array().filter(|h| !h.is_empty()).map(|_| ()))
    })?;

    let screenshots = repo().join("target/console-screenshots");
    let output = Command::new("node")
        .arg(browser_tests.join("console.test.mjs"))
        .current_dir(&browser_tests)
        .env("CONSOLE_URL", format!("http://{}", p.http))
        .env("TOKEN_VIEWER", TOKENS[0].2)
        .env("TOKEN_ANALYST", TOKENS[1].2)
        .env("TOKEN_ADMIN", TOKENS[2].2)
        .env("TOKEN_OTHER", TOKENS[3].2)
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &chromium)
        .output()
        .context("running node")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    ensure!(output.status.success(), "the browser test failed ({}):\n{stdout}\n{stderr}", output.status);
    ensure!(stdout.contains("steps passed"), "the browser test did not finish:\n{stdout}");
    for shot in
        ["sign-in-desktop", "activity-desktop", "investigation-desktop", "message-phish-desktop", "activity-narrow"]
    {
        let path = screenshots.join(format!("{shot}.png"));
        ensure!(std::fs::metadata(&path).map(|m| m.len() > 1000).unwrap_or(false), "no screenshot {}", path.display());
    }
    Ok(())
}
