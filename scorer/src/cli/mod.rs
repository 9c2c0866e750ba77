//! The `scorer` command line as a library: the subcommands (parsed by clap in
//! `main.rs`) and what each does. Every failure is a [`CliError`]; `main.rs` prints it
//! with its causes and exits 2 (1 where a command's answer is "no", see
//! [`CliError::exit_code`]).

mod corpus;
mod policy;
mod rules;

use crate::combine::ModelError;
use crate::config::Layered;
use crate::error::{ConfigError, DataFileError, ResolverError, RunError, SetupError};
use crate::eval::EvalError;
use crate::policy::PolicyError;
use crate::spamassassin::RulesError;
use crate::train::TrainError;
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// Why a command did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments do not say what to do.
    #[error("{0}")]
    Usage(String),
    #[error("--tenant")]
    Tenant(#[source] proto::error::IdError),
    #[error("loading configuration")]
    Config(#[from] ConfigError),
    #[error("scorer failed")]
    Run(#[from] RunError),
    #[error(transparent)]
    Corpus(#[from] EvalError),
    #[error("{flag} {path}: not a folder")]
    NotAFolder { flag: &'static str, path: PathBuf },
    #[error("{flag} {path}: no .eml files below it")]
    NoMessages { flag: &'static str, path: PathBuf },
    #[error("--corpus {0}: no MANIFEST.tsv (its digest goes in the model)")]
    NoManifest(PathBuf),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Prefilter(#[from] crate::spamassassin::prefilter::PrefilterError),
    /// `scorer rules verify` found messages where the prefilter changed the hits.
    #[error("the prefilter changed the hits of {0} messages")]
    PrefilterDiffers(usize),
    /// The rule folder was read, and none of its rules can run.
    #[error("no rule of {0} can run")]
    NoRuleRuns(PathBuf),
    #[error(transparent)]
    DataFile(#[from] DataFileError),
    #[error(transparent)]
    Resolver(#[from] ResolverError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{path}")]
    ModelFile {
        path: PathBuf,
        #[source]
        source: ModelError,
    },
    #[error("{doing} {path}")]
    File {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    NatsAccess(#[from] proto::connect::AccessError),
    #[error("connecting to NATS at {url}: {refused}")]
    NatsRefused { url: String, refused: proto::connect::Refused },
    #[error("connecting to NATS at {url}")]
    Nats {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("{file}")]
    Policy {
        file: PathBuf,
        #[source]
        source: PolicyError,
    },
    /// A policy file with entries that do not check out: every problem, one per line.
    #[error("{file}: {} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    PolicyInvalid { file: PathBuf, problems: Vec<String> },
    /// Reading, storing or deleting in the policies bucket.
    #[error("{what}")]
    PolicyBucket {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the stored policy is not readable")]
    StoredPolicy(#[source] serde_json::Error),
    #[error("printing the policy")]
    PrintPolicy(#[source] toml::ser::Error),
    #[error("publishing the PolicyChanged audit event")]
    Audit(#[source] proto::publish::PublishError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("writing JSON")]
    Json(#[from] serde_json::Error),
}

impl CliError {
    /// 1 when the command ran and its answer is "no" (no rule can run), 2 for every failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::NoRuleRuns(_) => 1,
            _ => 2,
        }
    }

    fn file(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.to_owned();
        move |source| CliError::File { doing, path, source }
    }
}

#[derive(Subcommand)]
pub enum Command {
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
        /// DIR/<label>/*.eml; clean teaches ham, bulk bulk, spam spam, phish phishing), as
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
        /// With --group-by or --folds: no autolearning. By default each left-out group's
        /// files are scored in the order they were sent (their Date headers; undated ones
        /// last, then by name) and the spam the scorer is sure of (SpamAssassin's
        /// autolearn threshold and a spam verdict) teaches the group's classifier before the
        /// next file, as a deployed scorer's `autolearn = true` does; no label is read.
        #[arg(long)]
        no_autolearn: bool,
        /// No campaign memory: by default each group's files are read in the order they were
        /// sent and a file whose text an earlier file of the group sent from another domain
        /// carries `snowshoe_campaign`, as a deployed scorer's memory of the tenant's mail
        /// gives it.
        #[arg(long)]
        no_campaigns: bool,
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
    /// into its token classifier: clean teaches ham, bulk bulk, spam spam, phish phishing. The
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
pub enum GroupBy {
    Source,
}

#[derive(Subcommand)]
pub enum RulesAction {
    /// Read a rule folder: how many rules of each type run, which are prefiltered (by
    /// literals, by Hyperscan, and whether its databases are compiled) or need fancy-regex,
    /// and every rule that cannot run with the reason (exit 1 if none runs).
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
        /// Also time each pattern of one Hyperscan database alone (`body`, `rawbody`, `full`,
        /// `uri`: each compiled into a database of its own and scanned over every message's
        /// text): which patterns make that database's scans slow.
        #[arg(long, value_name = "TEXT", value_parser = rules::EACH_PATTERN_TEXTS)]
        each_pattern: Option<String>,
    },
    /// Compile the rules' patterns into Hyperscan's databases, once, in the cache folder
    /// (hyperscan_cache, /var/cache/postern/hyperscan): tens of seconds; every scorer
    /// started afterwards loads them in milliseconds. Databases already cached for these
    /// rules are kept. Run it after installing or updating the rules.
    Compile {
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
    },
    /// Run the rules over every .eml below DIR twice, with Hyperscan's prefilter and with
    /// every pattern run, and list each message where the hits differ (exit 1 if any does).
    Verify {
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        #[arg(long)]
        corpus: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ModelAction {
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
pub enum PolicyAction {
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

/// Runs `command` (`scorer run` when none) with the configuration file `config` (the
/// defaults when none); `shutdown` stops `scorer run`, which drains before it returns.
pub async fn run(
    config: Option<&Path>,
    command: Option<Command>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let load = || crate::config::Config::load(config);
    match command.unwrap_or(Command::Run) {
        Command::Run => crate::run(load()?, shutdown).await?,
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
            no_autolearn,
            no_campaigns,
        } => {
            if train.is_some() && folds.is_some() {
                return Err(CliError::Usage(
                    "--train and --folds exclude each other: --folds trains on the corpus itself".to_owned(),
                ));
            }
            let mode = match (train, folds, group_by, untrained) {
                (Some(dir), _, _, _) => corpus::EvalMode::Trained(dir),
                (None, Some(k), _, _) => corpus::EvalMode::Folds(k),
                (None, None, Some(GroupBy::Source), _) => corpus::EvalMode::BySource,
                (None, None, None, true) => corpus::EvalMode::Untrained,
                (None, None, None, false) => corpus::default_mode(&corpus),
            };
            let config = load()?;
            let trusted_relays = config.trusted_relays()?;
            let rules_dir = sa_rules.unwrap_or(config.spamassassin_rules);
            let hyperscan_cache = config.hyperscan_cache;
            let options = corpus::EvalOptions {
                labels,
                dns,
                domain_ages,
                mode,
                json,
                rules_dir,
                hyperscan_cache,
                no_spamassassin,
                model,
                features_out,
                autolearn: !no_autolearn,
                campaigns: !no_campaigns,
                trusted_relays,
            };
            corpus::eval(&corpus, &options).await?
        }
        Command::Rules { action: RulesAction::Profile { rules, corpus, top, each_pattern } } => {
            let config = load()?;
            let rules = rules.unwrap_or(config.spamassassin_rules);
            rules::profile(&rules, &config.hyperscan_cache, &corpus, top, each_pattern.as_deref())?;
        }
        Command::Rules { action: RulesAction::Verify { rules, corpus } } => {
            let config = load()?;
            rules::verify(&rules.unwrap_or(config.spamassassin_rules), &config.hyperscan_cache, &corpus)?
        }
        Command::Rules { action: RulesAction::Compile { rules } } => {
            let config = load()?;
            rules::compile(&rules.unwrap_or(config.spamassassin_rules), &config.hyperscan_cache)?
        }
        Command::Rules { action: RulesAction::Check { rules, verbose } } => {
            let config = load()?;
            rules::check(&rules.unwrap_or(config.spamassassin_rules), &config.hyperscan_cache, verbose)?
        }
        Command::Model { action: ModelAction::Train { corpus, out, version, sa_rules } } => {
            corpus::model_train(&corpus, &out, &version, &sa_rules.unwrap_or(load()?.spamassassin_rules)).await?
        }
        Command::Bench { corpus, seconds } => corpus::bench(&load()?, &corpus, seconds).await?,
        Command::Policy { action } => policy::run(config, action).await?,
        Command::Train { corpus, labels, tenant, withdraw } => {
            corpus::train(&load()?, &corpus, labels.as_deref(), tenant.as_deref(), withdraw).await?
        }
    }
    Ok(())
}

/// A NATS connection for a one-shot command: fails within seconds when NATS is not there.
async fn connect(config: &crate::config::Config, name: &str) -> Result<async_nats::Client, CliError> {
    proto::connect::options("scorer", config.nats_access())?
        .name(name)
        .connection_timeout(std::time::Duration::from_secs(5))
        .connect(proto::cluster::server_urls(&config.nats_url))
        .await
        .map_err(|source| match proto::connect::refused(&source, config.nats_nkey_file.as_deref()) {
            Some(refused) => CliError::NatsRefused { url: config.nats_url.clone(), refused },
            None => CliError::Nats { url: config.nats_url.clone(), source },
        })
}

/// The tenant a `--tenant` names (a customer's: a reserved name such as `_shared` is refused).
fn tenant_id(name: &str) -> Result<proto::TenantId, CliError> {
    proto::TenantId::customer(name).map_err(CliError::Tenant)
}
