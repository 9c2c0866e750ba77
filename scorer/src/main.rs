use anyhow::Context;
use clap::{Parser, Subcommand};
use proto::Disposition;
use std::path::PathBuf;

/// Postern's scorer: a stateless worker on the shared durable consumer of MAIL_RAW.
///
/// `scorer run` (the default) parses each raw message, runs the checks, publishes a
/// DispositionAssigned event to MAIL_EVENTS and acks the raw event only after that publish
/// is acknowledged. Run as many as you like; they share the work.
/// `scorer eval --corpus DIR` scores a folder of .eml files offline (no NATS).
///
/// Environment: NATS_URL overrides nats_url, POSTERN_DNS (system or offline) overrides dns;
/// RUST_LOG sets the log filter (default "info").
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// TOML configuration file (see scorer/scorer.example.toml).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Write logs as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume MAIL_RAW and publish dispositions (the default).
    Run,
    /// Score every .eml below DIR without NATS: disposition counts per label, a confusion
    /// matrix, per-label precision and recall, the false-positive and catch rates.
    Eval {
        /// Folder of .eml files.
        #[arg(long)]
        corpus: PathBuf,
        /// Labels: a TSV with `file` (relative to --corpus) and `label` columns. Default:
        /// DIR/MANIFEST.tsv when present, else the folder layout DIR/<label>/*.eml.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// One JSON object per message, then a summary object.
        #[arg(long)]
        json: bool,
        /// DNS fixture (`name value` lines) for authentication; eval never uses the network.
        #[arg(long)]
        dns: Option<PathBuf>,
        /// Domain registration table (`domain,YYYY-MM-DD`); ages are measured to now.
        #[arg(long)]
        domain_ages: Option<PathBuf>,
        /// Train the token classifier on this labelled folder first (MANIFEST.tsv or
        /// DIR/<label>/*.eml; clean and bulk teach ham, spam spam, phish phishing), as
        /// `scorer train` would through training events.
        ///
        /// Default: the development corpus (POSTERN_CORPUS, else ../shared/corpus) when it
        /// is another folder than --corpus; when it is --corpus itself, --folds 5.
        #[arg(long, value_name = "DIR")]
        train: Option<PathBuf>,
        /// Cross-validate the token classifier on --corpus itself: split it into K folds by
        /// a hash of each path; every file is scored by a model trained on the other folds
        /// (never on itself).
        #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(2..=20))]
        folds: Option<u32>,
        /// No token classifier at all (it gives no opinion).
        #[arg(long, conflicts_with_all = ["train", "folds", "group_by"])]
        untrained: bool,
        /// Leave one group out: `source` (the manifest's source_repo column, else the file
        /// name's prefix). Each source is scored by a token classifier and a combination
        /// model trained on every other source, never on itself: the figure that says how
        /// the scorer does on mail it has never seen. Also prints the figures with rules
        /// alone (no classifier). The default when --corpus is the development corpus.
        #[arg(long, value_enum, conflicts_with_all = ["train", "folds"])]
        group_by: Option<GroupBy>,
        /// SpamAssassin's rule folder (default: the scorer's default, /usr/share/spamassassin).
        #[arg(long, value_name = "DIR")]
        sa_rules: Option<PathBuf>,
        /// Do not run SpamAssassin's rules.
        #[arg(long)]
        no_spamassassin: bool,
        /// The combination model for --train / --untrained runs (default: the shipped one).
        /// With --group-by and --folds a model is trained for each left-out group instead.
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        /// With --group-by source: also write the feature table (one JSON object per file:
        /// its detections, and the token classifier's opinion from a model trained without
        /// each pair of sources) to FILE, for research on the combination outside the scorer.
        #[arg(long, value_name = "FILE", requires = "group_by")]
        features_out: Option<PathBuf>,
    },
    /// SpamAssassin's rules: `check` reads the folder and lists what runs and what cannot.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// The learned combination model: `train` makes it from a labelled corpus.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Per-tenant policies in the KV bucket POSTERN_POLICIES, which every scorer watches:
    /// a change applies within moments, no restart. Policy files are TOML (see
    /// scorer/policy.example.toml); they are validated before anything is stored.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Scoring throughput on one thread: every .eml below DIR, authenticated offline and
    /// scored with a token model trained on DIR's labels, repeated for at least --seconds.
    /// Prints messages per CPU second (and per wall second); the last line is JSON.
    Bench {
        #[arg(long)]
        corpus: PathBuf,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Publish a labelled corpus as training events (MAIL_TRAINING) that every scorer folds
    /// into its token classifier: clean and bulk teach ham, spam spam, phish phishing. The
    /// same message published again teaches once; --withdraw takes the examples back.
    Train {
        /// Folder of .eml files, labelled by DIR/MANIFEST.tsv, --labels or DIR/<label>/*.eml.
        #[arg(long)]
        corpus: PathBuf,
        #[arg(long)]
        labels: Option<PathBuf>,
        /// The tenant whose classifier learns (default: the shared scope every tenant adds
        /// to its own).
        #[arg(long)]
        tenant: Option<String>,
        /// Publish LabelWithdrawn events for these files instead.
        #[arg(long)]
        withdraw: bool,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum GroupBy {
    Source,
}

#[derive(Subcommand)]
enum RulesAction {
    /// Read a rule folder: how many rules of each type run, which are prefiltered or need
    /// fancy-regex, and every rule that cannot run with the reason (exit 1 if none runs).
    Check {
        /// Default: the configured spamassassin_rules (/usr/share/spamassassin).
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// List every unsupported rule, not only the counts per reason.
        #[arg(long)]
        verbose: bool,
    },
    /// Run the rules over every .eml below DIR and list the rules that cost the most time.
    Profile {
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        #[arg(long)]
        corpus: PathBuf,
        /// How many rules to list.
        #[arg(long, default_value_t = 25)]
        top: usize,
    },
}

#[derive(Subcommand)]
enum ModelAction {
    /// Train the combination model on a labelled corpus (each source's classifier features
    /// from a classifier that never saw that source) and write it as JSON, with the
    /// command and the corpus manifest's digest that reproduce it.
    Train {
        #[arg(long)]
        corpus: PathBuf,
        /// Where to write the model (the shipped one: scorer/model/combination.json).
        #[arg(long)]
        out: PathBuf,
        /// The model's version, named in every disposition's rules version.
        #[arg(long)]
        version: String,
        #[arg(long, value_name = "DIR")]
        sa_rules: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Check a policy file and print what is wrong with it (no NATS).
    Validate { file: PathBuf },
    /// Validate a policy file and store it as the tenant's policy.
    Set {
        #[arg(long)]
        tenant: String,
        file: PathBuf,
    },
    /// Print the tenant's policy (TOML), or say that it has none.
    Show {
        #[arg(long)]
        tenant: String,
    },
    /// Remove the tenant's policy (the defaults apply).
    Delete {
        #[arg(long)]
        tenant: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run_cli().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scorer: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run_cli() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = scorer::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
            scorer::run(config, shutdown_signal()).await.context("scorer failed")?;
        }
        Command::Eval {
            corpus,
            labels,
            json,
            dns,
            domain_ages,
            train,
            folds,
            untrained,
            group_by,
            sa_rules,
            no_spamassassin,
            model,
            features_out,
        } => {
            if train.is_some() && folds.is_some() {
                anyhow::bail!("--train and --folds exclude each other: --folds trains on the corpus itself");
            }
            let mode = match (train, folds, group_by, untrained) {
                (Some(dir), _, _, _) => EvalMode::Trained(dir),
                (None, Some(k), _, _) => EvalMode::Folds(k),
                (None, None, Some(GroupBy::Source), _) => EvalMode::BySource,
                (None, None, None, true) => EvalMode::Untrained,
                (None, None, None, false) => default_mode(&corpus),
            };
            let config = scorer::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
            let rules_dir = sa_rules.unwrap_or(config.spamassassin_rules.clone());
            let options =
                EvalOptions { labels, dns, domain_ages, mode, json, rules_dir, no_spamassassin, model, features_out };
            eval(&corpus, &options).await?
        }
        Command::Rules { action: RulesAction::Profile { rules, corpus, top } } => {
            let config = scorer::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
            rules_profile(&rules.unwrap_or(config.spamassassin_rules), &corpus, top)?
        }
        Command::Rules { action: RulesAction::Check { rules, verbose } } => {
            let config = scorer::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
            rules_check(&rules.unwrap_or(config.spamassassin_rules), verbose)?
        }
        Command::Model { action: ModelAction::Train { corpus, out, version, sa_rules } } => {
            let config = scorer::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
            model_train(&corpus, &out, &version, &sa_rules.unwrap_or(config.spamassassin_rules)).await?
        }
        Command::Bench { corpus, seconds } => bench(cli.config.as_deref(), &corpus, seconds).await?,
        Command::Policy { action } => policy(cli.config.as_deref(), action).await?,
        Command::Train { corpus, labels, tenant, withdraw } => {
            let config = scorer::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
            train(&config, &corpus, labels.as_deref(), tenant.as_deref(), withdraw).await?
        }
    }
    Ok(())
}

/// CPU seconds this thread has used (Linux: /proc/thread-self/stat, clock ticks of 10 ms).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

async fn bench(config: Option<&std::path::Path>, corpus: &std::path::Path, seconds: u64) -> anyhow::Result<()> {
    use scorer::eval;
    let manifest_path = corpus.join("MANIFEST.tsv");
    let manifest = manifest_path.is_file().then(|| eval::read_manifest(&manifest_path)).transpose()?;
    let files = eval::load_corpus(corpus, manifest.as_ref())?;
    if files.is_empty() {
        anyhow::bail!("no .eml files below {}", corpus.display());
    }
    let model = std::sync::Arc::new(eval::train_on(&files));
    let config = scorer::config::Config::load(config).context("loading configuration")?;
    let detection = config.detection()?;
    let detectors = eval::Detectors {
        domain_ages: None,
        spamassassin: detection.spamassassin.clone(),
        combination: detection.combination.clone(),
    };
    let auth = scorer::auth::Authenticator::offline(scorer::auth::TxtRecords::default())?;
    let bytes: usize = files.iter().map(|f| f.raw.len()).sum();
    // One warm-up pass, then whole passes until the time is up.
    for f in &files {
        eval::score_file(f, &auth, &detectors, vec![model.clone()]).await;
    }
    let cpu_start = thread_cpu_seconds().unwrap_or(0.0);
    let started = std::time::Instant::now();
    let mut passes = 0u64;
    while passes == 0 || started.elapsed().as_secs() < seconds {
        for f in &files {
            std::hint::black_box(eval::score_file(f, &auth, &detectors, vec![model.clone()]).await);
        }
        passes += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds().map(|c| c - cpu_start).filter(|c| *c > 0.0).unwrap_or(wall);
    let messages = passes * files.len() as u64;
    let per_cpu = messages as f64 / cpu;
    println!(
        "scorer: {messages} messages ({} files x {passes}) in {wall:.2} s wall, {cpu:.2} s CPU on one thread: {per_cpu:.0} msg/s per core, {:.1} MB/s",
        files.len(),
        (bytes as f64 * passes as f64) / cpu / 1e6
    );
    println!(
        "{}",
        serde_json::json!({ "scorer_msgs_per_s": per_cpu.round(), "messages": messages, "cpu_s": cpu, "wall_s": wall })
    );
    Ok(())
}

/// The audit record of a policy change: a PolicyChanged event on MAIL_EVENTS.
async fn audit_policy_change(
    js: &async_nats::jetstream::Context,
    tenant: &proto::TenantId,
    revision: u64,
    json: Option<&[u8]>,
    summary: String,
    replicas: usize,
) -> anyhow::Result<()> {
    use proto::{Envelope, Event, EventType, PolicyChanged, PosternId, Timestamp};
    scorer::worker::ensure_events_stream(js, replicas).await?;
    let now = Timestamp::now();
    let digest = json
        .map(|j| ring::digest::digest(&ring::digest::SHA256, j).as_ref().iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default();
    let changed_by = std::env::var("USER").unwrap_or_else(|_| "scorer-cli".to_owned());
    let envelope = Envelope {
        event_id: ulid::Ulid::new(),
        event_type: EventType::PolicyChanged,
        schema: EventType::PolicyChanged.current_schema(),
        postern_id: PosternId::from_message_id(tenant, &format!("policy-change-{}-{revision}", now.millis())),
        tenant: tenant.clone(),
        causation_id: None,
        occurred_at: now,
        producer: concat!("scorer-policy/", env!("CARGO_PKG_VERSION")).to_owned(),
    };
    let event = Event::PolicyChanged(PolicyChanged { changed_by, revision, policy_digest: digest, summary });
    proto::publish::publish(js, &envelope, &event, None).await.context("publishing the PolicyChanged audit event")?;
    Ok(())
}

/// A NATS connection for a one-shot command: fails within seconds when NATS is not there.
async fn connect(config: &scorer::config::Config, name: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(std::time::Duration::from_secs(5))
        .connect(proto::cluster::server_urls(&config.nats_url))
        .await
        .with_context(|| format!("connecting to NATS at {}", config.nats_url))
}

fn read_policy(file: &std::path::Path) -> anyhow::Result<scorer::policy::TenantPolicy> {
    use scorer::policy::{PolicyError, PolicyFile, TenantPolicy};
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let policy = TenantPolicy::from_toml(&text).with_context(|| file.display().to_string())?;
    match policy.clone().compile() {
        Ok(_) => {}
        Err(PolicyError::Invalid(problems)) => {
            anyhow::bail!("{}: {} problem(s):\n  {}", file.display(), problems.len(), problems.join("\n  "))
        }
        Err(e) => return Err(anyhow::Error::new(e).context(file.display().to_string())),
    }
    Ok(policy)
}

async fn policy(config: Option<&std::path::Path>, action: PolicyAction) -> anyhow::Result<()> {
    if let PolicyAction::Validate { file } = &action {
        read_policy(file)?;
        println!("{}: valid", file.display());
        return Ok(());
    }
    let config = scorer::config::Config::load(config).context("loading configuration")?;
    let client = connect(&config, "postern-scorer-policy").await?;
    let js = async_nats::jetstream::new(client);
    let kv = scorer::policy::policies_bucket(&js, config.replicas).await?;
    let tenant_of = |t: &str| proto::TenantId::new(t).map_err(|e| anyhow::anyhow!("--tenant: {e}"));
    match action {
        PolicyAction::Validate { .. } => unreachable!("handled above"),
        PolicyAction::Set { tenant, file } => {
            let tenant = tenant_of(&tenant)?;
            let policy = read_policy(&file)?;
            let json = serde_json::to_vec(&policy)?;
            let revision = kv
                .put(tenant.as_str(), json.clone().into())
                .await
                .with_context(|| format!("storing the policy of {tenant}"))?;
            let summary = format!(
                "{} own domain(s), {} trusted domain(s), {} trusted / {} acceptable / {} blocked sender(s), {} exempt recipient(s), {} registry entr(ies)",
                policy.own_domains.len(),
                policy.trusted_domains.len(),
                policy.trusted_senders.len(),
                policy.acceptable_senders.len(),
                policy.blocked_senders.len(),
                policy.exempt_recipients.len(),
                policy.impersonation.len()
            );
            audit_policy_change(&js, &tenant, revision, Some(&json), summary, config.replicas).await?;
            println!("policy of {tenant} stored (revision {revision}); scorers apply it within seconds");
        }
        PolicyAction::Show { tenant } => {
            let tenant = tenant_of(&tenant)?;
            match kv.get(tenant.as_str()).await.with_context(|| format!("reading the policy of {tenant}"))? {
                Some(bytes) => {
                    let policy: scorer::policy::TenantPolicy =
                        serde_json::from_slice(&bytes).context("the stored policy is not readable")?;
                    print!("{}", toml::to_string_pretty(&policy)?);
                }
                None => println!("# {tenant} has no policy: the defaults apply"),
            }
        }
        PolicyAction::Delete { tenant } => {
            let tenant = tenant_of(&tenant)?;
            kv.delete(tenant.as_str()).await.with_context(|| format!("deleting the policy of {tenant}"))?;
            audit_policy_change(
                &js,
                &tenant,
                0,
                None,
                "policy deleted; the defaults apply".to_owned(),
                config.replicas,
            )
            .await?;
            println!("policy of {tenant} deleted; the defaults apply");
        }
    }
    Ok(())
}

async fn train(
    config: &scorer::config::Config,
    corpus: &std::path::Path,
    labels: Option<&std::path::Path>,
    tenant: Option<&str>,
    withdraw: bool,
) -> anyhow::Result<()> {
    let scope = proto::TenantId::new(tenant.unwrap_or(proto::subject::TRAINING_SHARED_SCOPE))
        .map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
    if !corpus.is_dir() {
        anyhow::bail!("--corpus {}: not a folder", corpus.display());
    }
    let manifest_path = labels.map(|p| p.to_path_buf()).or_else(|| {
        let p = corpus.join("MANIFEST.tsv");
        p.is_file().then_some(p)
    });
    let manifest = manifest_path.as_deref().map(scorer::eval::read_manifest).transpose()?;
    let files = scorer::eval::load_corpus(corpus, manifest.as_ref())?;
    let client = connect(config, "postern-scorer-train").await?;
    let js = async_nats::jetstream::new(client.clone());
    let started = std::time::Instant::now();
    let report = scorer::train::publish(&js, &files, &scope, withdraw, config.replicas).await?;
    client.flush().await.ok();
    println!(
        "{} {} {} events to mail.training.{scope} in {:.1} s ({} files teach nothing, {} too large)",
        if withdraw { "withdrew" } else { "published" },
        report.published,
        if withdraw { "LabelWithdrawn" } else { "MessageLabelled" },
        started.elapsed().as_secs_f64(),
        report.unlabelled,
        report.too_large
    );
    Ok(())
}

/// How `scorer eval` trains the classifier and the combination.
enum EvalMode {
    /// The classifier trained on another folder; the shipped (or --model) combination.
    Trained(PathBuf),
    /// Leave one source out (classifier and combination per left-out source).
    BySource,
    /// K random folds by a hash of the path (for comparison only).
    Folds(u32),
    /// No classifier; the shipped (or --model) combination.
    Untrained,
}

/// What `scorer eval` does when not told: leave one source out when --corpus is the
/// development corpus, else train on the development corpus when there is one.
fn default_mode(corpus: &std::path::Path) -> EvalMode {
    let dev =
        std::env::var_os("POSTERN_CORPUS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("../shared/corpus"));
    match (dev.canonicalize(), corpus.canonicalize()) {
        (Ok(dev), Ok(corpus)) if dev == corpus => EvalMode::BySource,
        (Ok(dev), _) if dev.is_dir() => EvalMode::Trained(dev),
        _ => EvalMode::Untrained,
    }
}

struct EvalOptions {
    labels: Option<PathBuf>,
    dns: Option<PathBuf>,
    domain_ages: Option<PathBuf>,
    mode: EvalMode,
    json: bool,
    rules_dir: PathBuf,
    no_spamassassin: bool,
    model: Option<PathBuf>,
    features_out: Option<PathBuf>,
}

/// A labelled folder: its files, and the manifest they were labelled by.
fn labelled(
    dir: &std::path::Path,
    labels: Option<&std::path::Path>,
) -> anyhow::Result<(Option<PathBuf>, Vec<scorer::eval::CorpusFile>)> {
    use scorer::eval;
    if !dir.is_dir() {
        anyhow::bail!("{}: not a folder", dir.display());
    }
    // The folder's own manifest is used when present and no other is named.
    let manifest_path = labels.map(|p| p.to_path_buf()).or_else(|| {
        let p = dir.join("MANIFEST.tsv");
        p.is_file().then_some(p)
    });
    let manifest = manifest_path.as_deref().map(eval::read_manifest).transpose()?;
    let files = eval::load_corpus(dir, manifest.as_ref())?;
    if files.is_empty() {
        anyhow::bail!("no .eml files below {}", dir.display());
    }
    Ok((manifest_path, files))
}

fn load_model(path: Option<&std::path::Path>) -> anyhow::Result<scorer::combine::CombinationModel> {
    use scorer::combine::CombinationModel;
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            CombinationModel::from_json(&text).with_context(|| p.display().to_string())
        }
        None => Ok(CombinationModel::shipped()?),
    }
}

async fn eval(corpus: &std::path::Path, options: &EvalOptions) -> anyhow::Result<()> {
    use scorer::auth::{Authenticator, TxtRecords};
    use scorer::eval;
    use std::sync::Arc;
    let json = options.json;
    let ages =
        options.domain_ages.as_deref().map(scorer::analysis::new_domain::DomainAges::load).transpose()?.map(Arc::new);
    let records = options.dns.as_deref().map(TxtRecords::load).transpose()?.unwrap_or_default();
    let auth = Authenticator::offline(records)?;
    let (manifest_path, mut files) = labelled(corpus, options.labels.as_deref()).context("--corpus")?;
    if matches!(options.mode, EvalMode::BySource | EvalMode::Folds(_)) {
        // Grouped runs train on the corpus itself: files without a label teach nothing and
        // are measured against nothing.
        files.retain(|f| f.label.is_some());
    }
    let spamassassin = if options.no_spamassassin {
        None
    } else {
        let loaded = scorer::spamassassin::load(&options.rules_dir)?;
        eprintln!(
            "SpamAssassin rules: {} from {} files in {} ({} cannot run: `scorer rules check`)",
            loaded.rules.len(),
            loaded.files,
            loaded.dir.display(),
            loaded.rules.unsupported.len()
        );
        Some(Arc::new(loaded.rules))
    };
    let mut detectors = eval::Detectors { domain_ages: ages, spamassassin, combination: None };
    let started = std::time::Instant::now();
    let (description, scored, rules_alone) = match &options.mode {
        EvalMode::Trained(dir) => {
            let (_, training) = labelled(dir, None).context("--train")?;
            detectors.combination = Some(Arc::new(load_model(options.model.as_deref())?));
            let model = Arc::new(eval::train_on(&training));
            let mut scored = Vec::with_capacity(files.len());
            for file in &files {
                scored.push(eval::score_file(file, &auth, &detectors, vec![model.clone()]).await);
            }
            (format!("token classifier trained on {}; shipped combination", dir.display()), scored, None)
        }
        EvalMode::Untrained => {
            detectors.combination = Some(Arc::new(load_model(options.model.as_deref())?));
            let mut scored = Vec::with_capacity(files.len());
            for file in &files {
                scored.push(eval::score_file(file, &auth, &detectors, Vec::new()).await);
            }
            ("token classifier untrained (no opinion); shipped combination".to_owned(), scored, None)
        }
        EvalMode::BySource => {
            let prepared = eval::prepare(&files, &auth, &detectors, &|f| f.source.clone()).await;
            if let Some(path) = &options.features_out {
                let mut out = String::new();
                for row in eval::feature_table(&prepared) {
                    out.push_str(&serde_json::to_string(&row)?);
                    out.push('\n');
                }
                std::fs::write(path, out).with_context(|| format!("--features-out {}", path.display()))?;
                eprintln!("feature table written to {}", path.display());
            }
            let scored = eval::leave_one_group_out(&prepared, true, true);
            let alone = eval::leave_one_group_out(&prepared, false, true);
            (
                "leave one source out: each source scored by a classifier and a combination trained on the other sources"
                    .to_owned(),
                scored,
                Some(alone),
            )
        }
        EvalMode::Folds(k) => {
            let k = *k;
            let prepared = eval::prepare(&files, &auth, &detectors, &|f| eval::fold_of(&f.file, k).to_string()).await;
            let scored = eval::leave_one_group_out(&prepared, true, true);
            (
                format!("{k} random folds (sources mixed into every fold: a measure of memory, for comparison only)"),
                scored,
                None,
            )
        }
    };
    let summary = eval::summarize(&scored);
    let source_of: std::collections::HashMap<&str, &str> =
        files.iter().map(|f| (f.file.as_str(), f.source.as_str())).collect();
    let mut per_source: std::collections::BTreeMap<String, Vec<eval::Scored>> = Default::default();
    for s in &scored {
        per_source
            .entry(source_of.get(s.file.as_str()).copied().unwrap_or("-").to_owned())
            .or_default()
            .push(s.clone());
    }
    let per_source: std::collections::BTreeMap<String, eval::Summary> =
        per_source.into_iter().map(|(k, v)| (k, eval::summarize(&v))).collect();
    if json {
        for s in &scored {
            let line = serde_json::json!({
                "file": s.file,
                "label": s.label,
                "source": source_of.get(s.file.as_str()),
                "disposition": s.verdict.disposition.as_str(),
                "attributes": s.verdict.attributes.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "detections": s.verdict.detections.iter().map(|d| serde_json::json!({
                    "name": d.name, "score": f64::from(d.score_milli) / 1000.0, "evidence": d.evidence,
                })).collect::<Vec<_>>(),
            });
            println!("{line}");
        }
        println!(
            "{}",
            serde_json::json!({
                "summary": summary,
                "per_source": per_source,
                "rules_alone": rules_alone.as_deref().map(eval::summarize),
                "mode": description,
            })
        );
        return Ok(());
    }
    match &manifest_path {
        Some(p) => println!("labels from {}", p.display()),
        None => println!("labels from the folder layout"),
    }
    println!("{description}");
    print_confusion(&summary);
    println!("{} messages scored in {:.1} s", summary.messages, started.elapsed().as_secs_f64());
    print_rates("overall", &summary);
    if matches!(options.mode, EvalMode::BySource) {
        println!();
        println!(
            "{:<58}{:>6}{:>12}{:>11}{:>11}{:>11}",
            "source (left out)", "files", "clean FP", "spam", "phish", "bulk"
        );
        for (source, s) in &per_source {
            let pct = |v: Option<f64>| v.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "-".into());
            let count = |label: &str| s.labels.get(label).map_or(0, |l| l.messages);
            let cell = |label: &str, v: Option<f64>| {
                if count(label) == 0 { "-".to_owned() } else { format!("{} of {}", pct(v), count(label)) }
            };
            println!(
                "{:<58}{:>6}{:>12}{:>11}{:>11}{:>11}",
                source,
                s.messages,
                cell("clean", s.clean_false_positive_rate),
                pct(s.spam_caught),
                pct(s.phish_caught),
                pct(s.labels.get("bulk").map(|l| l.recall))
            );
        }
        if let Some(alone) = &rules_alone {
            println!();
            print_rates("rules alone (no classifier; combination left-one-source-out)", &eval::summarize(alone));
        }
    }
    Ok(())
}

fn print_confusion(summary: &scorer::eval::Summary) {
    print!("{:<12}", "label");
    for d in Disposition::ALL {
        print!("{:>11}", d.as_str());
    }
    println!("{:>8}{:>11}{:>9}", "total", "precision", "recall");
    for (label, row) in &summary.confusion {
        print!("{label:<12}");
        for d in Disposition::ALL {
            print!("{:>11}", row.get(d.as_str()).copied().unwrap_or(0));
        }
        print!("{:>8}", row.values().sum::<usize>());
        match summary.labels.get(label) {
            Some(s) => println!(
                "{:>11}{:>9}",
                s.precision.map(|p| format!("{:.1}%", p * 100.0)).unwrap_or_else(|| "-".into()),
                format!("{:.1}%", s.recall * 100.0)
            ),
            None => println!(),
        }
    }
}

fn print_rates(title: &str, summary: &scorer::eval::Summary) {
    let pct = |v: Option<f64>| v.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "-".into());
    println!(
        "{title}: clean flagged (false positives) {}, spam + phish caught {} (spam {}, phish {}; caught = MALICIOUS, SUSPICIOUS, SPOOF or SPAM){}",
        pct(summary.clean_false_positive_rate),
        pct(summary.spam_phish_caught),
        pct(summary.spam_caught),
        pct(summary.phish_caught),
        summary
            .labels
            .get("encrypted")
            .map(|e| format!("; encrypted flagged {:.1}%", e.recall * 100.0))
            .unwrap_or_default()
    );
}

fn rules_check(dir: &std::path::Path, verbose: bool) -> anyhow::Result<()> {
    let loaded = scorer::spamassassin::load(dir)?;
    let rules = &loaded.rules;
    println!("{}: {} rule files (digest {})", loaded.dir.display(), loaded.files, loaded.digest);
    println!(
        "{} rules run ({} behind the literal prefilter, {} with fancy-regex); {} cannot run",
        rules.len(),
        rules.prefiltered,
        rules.fancy.len(),
        rules.unsupported.len()
    );
    let mut by_reason: std::collections::BTreeMap<String, Vec<&scorer::spamassassin::engine::Unsupported>> =
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
    if !rules.unknown_lines.is_empty() {
        println!("{} settings this reader does not know (skipped):", rules.unknown_lines.len());
        for line in rules.unknown_lines.iter().take(if verbose { usize::MAX } else { 10 }) {
            println!("  {line}");
        }
    }
    if rules.is_empty() {
        anyhow::bail!("no rule of {} can run", dir.display());
    }
    Ok(())
}

fn rules_profile(dir: &std::path::Path, corpus: &std::path::Path, top: usize) -> anyhow::Result<()> {
    use scorer::spamassassin::{self, views::MessageView};
    let loaded = spamassassin::load(dir)?;
    let files = scorer::eval::find_messages(corpus).with_context(|| format!("reading {}", corpus.display()))?;
    let mut costs = Some(Vec::new());
    let started = std::time::Instant::now();
    let mut views = std::time::Duration::ZERO;
    for path in &files {
        let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let Some(message) = mail_parser::MessageParser::default().parse(&raw) else { continue };
        let t = std::time::Instant::now();
        let view = MessageView::new(&message, "");
        views += t.elapsed();
        loaded.rules.run_profiled(&view, spamassassin::date_diff(&message), &mut costs);
    }
    let total = started.elapsed();
    let costs = costs.unwrap_or_default();
    let mut ranked: Vec<(&str, std::time::Duration)> = loaded.rules.rule_names().zip(costs.iter().copied()).collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / files.len().max(1) as f64;
    println!(
        "{} messages in {:.2} s: {:.0} us per message ({:.0} us rendering the views, {:.0} us in rules)",
        files.len(),
        total.as_secs_f64(),
        per(total),
        per(views),
        per(costs.iter().sum())
    );
    for (name, cost) in ranked.into_iter().take(top) {
        println!("{:>10.1} us  {name}", per(cost));
    }
    Ok(())
}

async fn model_train(
    corpus: &std::path::Path,
    out: &std::path::Path,
    version: &str,
    rules_dir: &std::path::Path,
) -> anyhow::Result<()> {
    use scorer::eval;
    use std::sync::Arc;
    let (manifest_path, files) = labelled(corpus, None).context("--corpus")?;
    let manifest_sha256 = match &manifest_path {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
        }
        None => anyhow::bail!("--corpus {}: no MANIFEST.tsv (its digest goes in the model)", corpus.display()),
    };
    let loaded = scorer::spamassassin::load(rules_dir)?;
    let digest = loaded.digest.clone();
    let detectors = eval::Detectors { spamassassin: Some(Arc::new(loaded.rules)), ..Default::default() };
    let auth = scorer::auth::Authenticator::offline(scorer::auth::TxtRecords::default())?;
    let prepared = eval::prepare(&files, &auth, &detectors, &|f| f.source.clone()).await;
    let provenance = scorer::combine::Provenance {
        command: format!(
            "scorer model train --corpus <corpus> --out {} --version {version} (corpus: the development corpus, rules: {})",
            out.display(),
            rules_dir.display()
        ),
        corpus_manifest_sha256: manifest_sha256,
        spamassassin_rules_digest: digest,
        ..Default::default()
    };
    let model = eval::train_combination(&prepared, version, provenance);
    let mut text = serde_json::to_string_pretty(&model)?;
    text.push('\n');
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: combination {version} from {} examples ({} clean); threshold {:.4}",
        out.display(),
        model.provenance.messages,
        model.provenance.clean_messages,
        model.threshold
    );
    Ok(())
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal; log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown signal received");
}
