//! Snowshoe campaigns through the real servers: the scorers remember the text of the mail
//! they scored (MAIL_FINGERPRINTS), and a later message with the same text from another
//! sender domain carries `snowshoe_campaign`, naming the domain it came from before; the
//! same text from the same domain, a reply quoting it and an unrelated text do not. A
//! scorer restarted in between (its memory gone) remembers from the stream. Copies sent
//! together, and scored together, find each other, and each counts once.

use anyhow::{Context, Result, bail, ensure};
use std::time::Duration;
use testkit::pipeline::Pipeline;

const OFFER: &str = "Protect the home before the next repair bill shows up. One major breakdown can cost \
hundreds or more. A comprehensive home warranty plan helps cover many of the systems and appliances your home \
depends on every day. Major systems and appliances, fewer surprise expenses, straightforward protection and a \
fast quote process. Get my free quote and review plan options in just a few steps.";

const TONER: &str = "Buongiorno, vi scriviamo per proporvi le nostre cartucce toner compatibili per tutte \
le stampanti laser, con garanzia di due anni e spedizione gratuita in ventiquattro ore. Offriamo prezzi \
riservati alle aziende e un campione gratuito su richiesta. Rispondete a questa mail per ricevere il listino \
aggiornato con tutte le offerte del mese.";

const MINUTES: &str = "The board met on Tuesday and agreed the budget for the coming year. The treasurer \
reported that the accounts are in order and the auditors raised no questions. The next meeting will discuss the \
new office lease and the hiring plan for the support team, and the minutes will follow next week.";

fn message(domain: &str, id: &str, extra_header: &str, text: &str) -> Vec<u8> {
    format!(
        "From: K Johnson <k.johnson@{domain}>\r\nTo: user@corp.example\r\nSubject: Every repair in your home\r\n\
Message-ID: <{id}>\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\n{extra_header}Content-Type: text/plain\r\n\r\n{text}\r\n"
    )
    .into_bytes()
}

/// Sends one message and waits for its disposition; returns its trace.
fn scored(p: &Pipeline, domain: &str, id: &str, extra_header: &str, text: &str) -> Result<serde_json::Value> {
    let outcome = testkit::smtp::send_with_smtplib(
        p.smtp,
        &[testkit::smtp::Outgoing::to_journal(&format!("bounce@{domain}"), message(domain, id, extra_header, text))],
    )?;
    if outcome[0].code != 250 {
        bail!("{id}: {} {}", outcome[0].code, outcome[0].text);
    }
    testkit::eventually(Duration::from_secs(30), &format!("{id} is scored"), || {
        Ok(p.traces(id)?.into_iter().next().filter(|t| !t["disposition"].is_null()))
    })
    .with_context(|| p.logs())
}

fn campaign_evidence(trace: &serde_json::Value) -> Option<String> {
    trace["detections"]
        .as_array()?
        .iter()
        .find(|d| d["name"] == "snowshoe_campaign")
        .map(|d| d["evidence"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn the_same_text_from_a_second_sender_domain_is_a_campaign() -> Result<()> {
    let p = Pipeline::start()?;
    let first = scored(&p, "tabletlist.example", "first@tabletlist.example", "", OFFER)?;
    ensure!(campaign_evidence(&first).is_none(), "the first copy: {first}\n{}", p.logs());
    let same_domain = scored(&p, "mail.tabletlist.example", "again@tabletlist.example", "", OFFER)?;
    ensure!(campaign_evidence(&same_domain).is_none(), "the same domain again: {same_domain}");
    let reply = scored(
        &p,
        "weddingflare.example",
        "reply@weddingflare.example",
        "In-Reply-To: <first@tabletlist.example>\r\n",
        OFFER,
    )?;
    ensure!(campaign_evidence(&reply).is_none(), "a reply: {reply}");
    let unrelated = scored(&p, "board.example", "minutes@board.example", "", MINUTES)?;
    ensure!(campaign_evidence(&unrelated).is_none(), "another text: {unrelated}");

    // The fingerprints are in the stream: three, one for each message with a long enough
    // text that is no reply (junk is added after this count).
    testkit::eventually(Duration::from_secs(10), "MAIL_FINGERPRINTS holds 3", || {
        let (messages, _) = testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_FINGERPRINTS")?;
        Ok((messages == 3).then_some(()))
    })?;
    // Something on the stream that is no fingerprint: skipped and counted by the scorer that
    // folds it, which goes on.
    testkit::jetstream::publish(&p.nats.url(), "mail.fingerprint.default", &[], b"not a fingerprint")?;
    // A scorer started now remembers what the one before it scored.
    let mut p = p;
    p.scorer.restart()?;
    let second = scored(&p, "weddingflare.example", "second@weddingflare.example", "", OFFER)?;
    let evidence = campaign_evidence(&second);
    ensure!(
        evidence.as_deref()
            == Some(
                "the same text (32 of 32 fuzzy shingles) came from 1 other sender domain before: tabletlist.example (2 earlier messages)"
            ),
        "the second domain: {second}\n{}",
        p.logs()
    );
    // The restarted scorer counts what it did: the mark, the fingerprint it stored, the junk
    // it skipped, and the
    // three texts it remembers (from the stream: the offer from tabletlist.example, its two
    // copies one entry, and the minutes; then the offer from weddingflare.example).
    let ops = p.scorer.ops.context("the scorer serves /metrics")?;
    testkit::eventually(Duration::from_secs(10), "the scorer's campaign metrics", || {
        let answer = testkit::http::request(ops, "GET", "/metrics", None, None)?;
        let text = String::from_utf8(answer.body)?;
        let has = |line: &str| text.lines().any(|l| l == line);
        Ok((has("postern_scorer_snowshoe_campaigns_total 1")
            && has("postern_scorer_fingerprints_total{outcome=\"stored\"} 1")
            && has("postern_scorer_campaign_memory_fingerprints 3")
            && has("postern_scorer_fingerprints_refused_total 1"))
        .then_some(()))
    })
    .with_context(|| {
        let answer = testkit::http::request(ops, "GET", "/metrics", None, None).ok();
        let text = answer.map(|a| String::from_utf8_lossy(&a.body).into_owned()).unwrap_or_default();
        text.lines().filter(|l| l.contains("campaign") || l.contains("fingerprint")).collect::<Vec<_>>().join("\n")
    })?;
    Ok(())
}

#[test]
fn copies_sent_together_find_each_other_and_count_once() -> Result<()> {
    let p = Pipeline::start()?;
    // Four copies from four domains in one SMTP session: scored at once by the scorer's
    // threads, before any fingerprint has come back from the stream.
    let domains = ["toner-uno.example", "toner-due.example", "toner-tre.example", "toner-quattro.example"];
    let outgoing: Vec<testkit::smtp::Outgoing> = domains
        .iter()
        .map(|d| {
            testkit::smtp::Outgoing::to_journal(&format!("bounce@{d}"), message(d, &format!("offer@{d}"), "", TONER))
        })
        .collect();
    let outcomes = testkit::smtp::send_with_smtplib(p.smtp, &outgoing)?;
    ensure!(outcomes.iter().all(|o| o.code == 250), "{outcomes:?}");
    let mut marked = 0;
    for d in domains {
        let id = format!("offer@{d}");
        let trace = testkit::eventually(Duration::from_secs(30), &format!("{id} is scored"), || {
            Ok(p.traces(&id)?.into_iter().next().filter(|t| !t["disposition"].is_null()))
        })
        .with_context(|| p.logs())?;
        marked += usize::from(campaign_evidence(&trace).is_some());
    }
    // Whichever was scored first found nothing; each later one found those before it.
    ensure!(marked == 3, "{marked} of 4 copies marked\n{}", p.logs());
    // Once the stream has brought the four back, a fifth domain finds four messages: the
    // scorer's own copies were not counted a second time.
    testkit::eventually(Duration::from_secs(10), "MAIL_FINGERPRINTS holds 4", || {
        let (messages, _) = testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_FINGERPRINTS")?;
        Ok((messages == 4).then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(1));
    let fifth = scored(&p, "toner-cinque.example", "offer@toner-cinque.example", "", TONER)?;
    ensure!(
        campaign_evidence(&fifth).as_deref()
            == Some(
                "the same text (32 of 32 fuzzy shingles) came from 4 other sender domains before: toner-due.example, toner-quattro.example, toner-tre.example, toner-uno.example"
            ),
        "the fifth domain: {fifth}\n{}",
        p.logs()
    );
    Ok(())
}
