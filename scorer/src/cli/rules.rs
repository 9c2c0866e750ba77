//! `scorer rules`: what of a SpamAssassin rule folder runs, and what its rules cost.

use super::CliError;
use std::path::Path;

pub(super) fn check(dir: &Path, hyperscan_cache: &Path, verbose: bool) -> Result<(), CliError> {
    let loaded = crate::spamassassin::load(dir)?;
    let rules = &loaded.rules;
    println!("{}: {} rule files (digest {})", loaded.dir.display(), loaded.files, loaded.digest);
    println!(
        "{} rules run ({} patterns behind the literal prefilter, {} in Hyperscan's databases ({} as they are, whose match needs no second run; the others widened), {} with fancy-regex); {} cannot run; {} idle (scored 0 and read by no scored meta: their outcome changes nothing, so they are not run)",
        rules.len(),
        rules.prefiltered,
        rules.in_hyperscan,
        rules.exact_in_hyperscan,
        rules.fancy.len(),
        rules.unsupported.len(),
        rules.idle
    );
    match rules.prepare_prefilters(hyperscan_cache, false) {
        Ok(report) => println!(
            "Hyperscan {}: {} of {} databases compiled in {}{}",
            multimatch::version(),
            report.loaded,
            report.databases,
            hyperscan_cache.display(),
            if rules.hyperscan_active() { "" } else { " (run `scorer rules compile`)" }
        ),
        // The rules still run (with the literal prefilter alone): a note, not a failure.
        Err(e) => println!("Hyperscan {}: {e}", multimatch::version()),
    }
    if !rules.not_in_hyperscan.is_empty() {
        println!("{} patterns left out of Hyperscan (the literal prefilter alone):", rules.not_in_hyperscan.len());
        for (name, reason) in rules.not_in_hyperscan.iter().take(if verbose { usize::MAX } else { 10 }) {
            println!("  {name}: {reason}");
        }
    }
    let mut by_reason: std::collections::BTreeMap<String, Vec<&crate::spamassassin::engine::Unsupported>> =
        Default::default();
    for u in &rules.unsupported {
        // Group by the reason's kind: its text up to the first detail.
        let kind = u.reason.split([':', '(']).next().unwrap_or(&u.reason).trim().to_owned();
        by_reason.entry(kind).or_default().push(u);
    }
    println!("cannot run, by reason:");
    for (reason, list) in &by_reason {
        println!("  {:>5}  {reason}", list.len());
        if verbose {
            for u in list {
                println!("           {} ({} in {}): {}", u.name, u.rule_type.as_str(), u.file, u.reason);
            }
        }
    }
    if !rules.undefined_reads.is_empty() {
        let names: std::collections::BTreeSet<&str> = rules.undefined_reads.iter().map(|(_, n)| n.as_str()).collect();
        println!(
            "{} metas read {} names no file defines (they count 0 there, as in SpamAssassin):",
            rules.undefined_reads.iter().map(|(m, _)| m).collect::<std::collections::BTreeSet<_>>().len(),
            names.len()
        );
        if verbose {
            for (meta, name) in &rules.undefined_reads {
                println!("  {meta} reads {name}");
            }
        } else {
            println!("  {}", names.into_iter().collect::<Vec<_>>().join(" "));
        }
    }
    if !rules.unknown_lines.is_empty() {
        println!("{} settings this reader does not know (skipped):", rules.unknown_lines.len());
        for line in rules.unknown_lines.iter().take(if verbose { usize::MAX } else { 10 }) {
            println!("  {line}");
        }
    }
    if rules.is_empty() {
        return Err(CliError::NoRuleRuns(dir.to_owned()));
    }
    Ok(())
}

pub(super) fn compile(dir: &Path, hyperscan_cache: &Path) -> Result<(), CliError> {
    let loaded = crate::spamassassin::load(dir)?;
    let started = std::time::Instant::now();
    let report = loaded.rules.prepare_prefilters(hyperscan_cache, true)?;
    println!(
        "{}: {} patterns in {} Hyperscan databases in {} ({} compiled, {} already there) in {:.1} s",
        loaded.dir.display(),
        report.patterns,
        report.databases,
        hyperscan_cache.display(),
        report.compiled,
        report.loaded,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Times the rules over every message below `corpus`; with `each_pattern` (`body`,
/// `rawbody`, `full`, `uri`), also each pattern of the database that scans that text, alone
/// ([`profile_patterns`]), over the same messages' texts.
pub(super) fn profile(
    dir: &Path,
    hyperscan_cache: &Path,
    corpus: &Path,
    top: usize,
    each_pattern: Option<&str>,
) -> Result<(), CliError> {
    use crate::spamassassin::{self, views::MessageView};
    let loaded = spamassassin::load_prepared(dir, hyperscan_cache)?;
    // Checked before anything runs.
    let patterns = match each_pattern {
        Some(text) if !EACH_PATTERN_TEXTS.contains(&text) => {
            return Err(CliError::Usage(format!("--each-pattern reads body, rawbody, full or uri, not {text:?}")));
        }
        Some(text) => {
            let patterns = loaded.rules.scanned_patterns(text);
            if patterns.is_empty() {
                return Err(CliError::Usage(format!(
                    "no pattern rule reads the {text} through Hyperscan in these rules"
                )));
            }
            Some((text, patterns))
        }
        None => None,
    };
    println!("Hyperscan databases {}", if loaded.rules.hyperscan_active() { "in use" } else { "not compiled" });
    let files = crate::eval::find_messages(corpus).map_err(CliError::file("reading", corpus))?;
    let mut costs = Some(Vec::new());
    let mut texts: Vec<Vec<u8>> = Vec::new();
    let started = std::time::Instant::now();
    let mut views = std::time::Duration::ZERO;
    for path in &files {
        let raw = std::fs::read(path).map_err(CliError::file("reading", path))?;
        let Some(message) = crate::parse::parse_message(&raw) else { continue };
        let t = std::time::Instant::now();
        let mut view = MessageView::new(&message, "", &[]);
        loaded.rules.complete_view(&mut view);
        views += t.elapsed();
        loaded.rules.run_profiled(&view, spamassassin::dates::date_diff(&view), &mut costs);
        // The text the timed database scans (the name is one of EACH_PATTERN_TEXTS).
        if let Some((text, _)) = &patterns {
            texts.push(match *text {
                "body" => view.body,
                "rawbody" => view.rawbody,
                "full" => view.full,
                _ => view.uris,
            });
        }
    }
    let total = started.elapsed();
    let costs = costs.unwrap_or_default();
    let rules = loaded.rules.rule_names().count();
    let (rule_costs, scan_costs) = costs.split_at(rules.min(costs.len()));
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / files.len().max(1) as f64;
    println!(
        "{} messages in {:.2} s: {:.0} us per message ({:.0} us rendering the views, {:.0} us in rules, of which {:.0} us in Hyperscan's scans)",
        files.len(),
        total.as_secs_f64(),
        per(total),
        per(views),
        per(costs.iter().sum()),
        per(scan_costs.iter().sum())
    );
    print_costliest(loaded.rules.rule_names().zip(rule_costs.iter().copied()), files.len(), top);
    if !scan_costs.is_empty() {
        println!("Hyperscan's scans, by the text each database reads ({} databases):", scan_costs.len());
        print_costliest(loaded.rules.scanned_texts().zip(scan_costs.iter().copied()), files.len(), top.min(10));
    }
    if let Some((text, patterns)) = patterns {
        profile_patterns(&patterns, &texts, text, top)?;
    }
    Ok(())
}

/// The texts `--each-pattern` takes: those a Hyperscan database scans whole.
pub(super) const EACH_PATTERN_TEXTS: [&str; 4] = ["body", "rawbody", "full", "uri"];

/// Each of `patterns` (the database that scans `text`) compiled alone and scanned over
/// `texts`: the slowest `top`, in microseconds a message.
fn profile_patterns(
    patterns: &[(&str, &multimatch::Pattern)],
    texts: &[Vec<u8>],
    text: &str,
    top: usize,
) -> Result<(), CliError> {
    let mut costs = Vec::new();
    for &(rule, pattern) in patterns {
        let Some(database) = multimatch::Database::compile(std::slice::from_ref(pattern)).ok().and_then(|c| c.database)
        else {
            continue;
        };
        let mut scratch = multimatch::Scratch::new([&database]).map_err(|e| CliError::Usage(e.to_string()))?;
        let mut matched = Vec::new();
        let started = std::time::Instant::now();
        for t in texts {
            matched.clear();
            database.scan(t, &mut scratch, &mut matched).map_err(|e| CliError::Usage(e.to_string()))?;
        }
        costs.push((rule, started.elapsed()));
    }
    let all: std::time::Duration = costs.iter().map(|c| c.1).sum();
    println!(
        "{} patterns of the {text} database, each alone over {} messages: {:.0} us a message in all",
        costs.len(),
        texts.len(),
        all.as_secs_f64() * 1e6 / texts.len().max(1) as f64
    );
    print_costliest(costs.into_iter(), texts.len(), top);
    Ok(())
}

/// The `top` costliest of `costs`, most first, in microseconds a message of `messages`.
fn print_costliest<'n>(costs: impl Iterator<Item = (&'n str, std::time::Duration)>, messages: usize, top: usize) {
    let mut ranked: Vec<_> = costs.collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (name, cost) in ranked.into_iter().take(top) {
        println!("{:>10.1} us  {name}", cost.as_secs_f64() * 1e6 / messages.max(1) as f64);
    }
}

pub(super) fn verify(dir: &Path, hyperscan_cache: &Path, corpus: &Path) -> Result<(), CliError> {
    use crate::spamassassin::{self, views::MessageView};
    let loaded = spamassassin::load(dir)?;
    // The databases are compiled if they are not cached: what is verified is the prefilter
    // the scorer runs with.
    loaded.rules.prepare_prefilters(hyperscan_cache, true)?;
    let files = crate::eval::find_messages(corpus).map_err(CliError::file("reading", corpus))?;
    let mut differing = 0;
    let mut hits = 0;
    for path in &files {
        let raw = std::fs::read(path).map_err(CliError::file("reading", path))?;
        let Some(message) = crate::parse::parse_message(&raw) else { continue };
        let view = MessageView::new(&message, "", &[]);
        let date_diff = spamassassin::dates::date_diff(&view);
        let filtered = loaded.rules.run(&view, date_diff);
        let every = loaded.rules.run_every_pattern(&view, date_diff);
        hits += every.len();
        if filtered != every {
            differing += 1;
            let names = |h: &[spamassassin::RuleHit]| h.iter().map(|h| h.name.clone()).collect::<Vec<_>>();
            println!("{}: prefiltered {:?}, every pattern {:?}", path.display(), names(&filtered), names(&every));
        }
    }
    println!(
        "{} messages, {} hits with every pattern run; {} messages where the prefilters (literals and Hyperscan) changed the hits",
        files.len(),
        hits,
        differing
    );
    if differing > 0 {
        return Err(CliError::PrefilterDiffers(differing));
    }
    Ok(())
}
