//! The whole pipeline on loopback: nats-server, ingest, scorer and projector, each a real
//! process with its own config file in a temp folder.

use crate::http::{encode, get_json};
use crate::nats::{Durability, NatsCluster, NatsServer};
use crate::process::Service;
use crate::{eventually, free_port, wait_for_port};
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::time::Duration;
use tempfile::TempDir;

/// The journal address of the local defaults (tenant `default`).
pub const JOURNAL: &str = "journal@postern.localhost";

/// The projector's `tokens = [...]` line for `(tenant, role, token)` triples: each token
/// stored by its SHA-256 (hex, as `projector::api::token_hash` writes it), named
/// `<tenant>-<role>`.
pub fn tokens_config(tokens: &[(&str, &str, &str)]) -> String {
    let sha256 = |token: &str| -> String {
        ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let entries: Vec<String> = tokens
        .iter()
        .map(|(tenant, role, token)| {
            format!(
                "{{ tenant = \"{tenant}\", sha256 = \"{}\", name = \"{tenant}-{role}\", role = \"{role}\" }}",
                sha256(token)
            )
        })
        .collect();
    format!("tokens = [{}]\n", entries.join(", "))
}

pub struct Pipeline {
    pub smtp: SocketAddr,
    pub http: SocketAddr,
    pub ingest: Service,
    pub scorer: Service,
    pub projector: Service,
    pub nats: NatsServer,
    pub dir: TempDir,
}

/// The services of one pipeline, started by [`launch`].
struct Launched {
    smtp: SocketAddr,
    http: SocketAddr,
    ingest: Service,
    scorers: Vec<Service>,
    projector: Service,
}

/// Extra lines for each service's config file.
#[derive(Default, Clone, Copy)]
struct Extra<'a> {
    ingest: &'a str,
    scorer: &'a str,
    projector: &'a str,
}

/// Writes the services' config files into `dir` (NATS at `nats_url`, streams on `replicas`
/// nodes) and starts ingest, `scorers` scorers and the projector; returns once ingest and
/// the projector listen.
fn launch(
    dir: &std::path::Path,
    nats_url: &str,
    replicas: usize,
    scorers: usize,
    extra: Extra,
    views: Option<&std::path::Path>,
) -> Result<Launched> {
    let Extra { ingest: ingest_extra, scorer: scorer_extra, projector: projector_extra } = extra;
    let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let path = |name: &str| dir.join(name).display().to_string();
    std::fs::write(
        path("ingest.toml"),
        format!(
            "listen = \"{smtp}\"\nnats_url = \"{nats_url}\"\nreplicas = {replicas}\npublish_timeout = \"5s\"\n{ingest_extra}"
        ),
    )?;
    // Tests never use the network: authentication is offline (every lookup a temporary
    // error).
    std::fs::write(
        path("scorer.toml"),
        format!(
            "nats_url = \"{nats_url}\"\nreplicas = {replicas}\ndns = \"offline\"\n{}",
            if scorer_extra.is_empty() { "ack_wait = \"10s\"\n" } else { scorer_extra }
        ),
    )?;
    std::fs::write(
        path("projector.toml"),
        format!(
            "nats_url = \"{nats_url}\"\nreplicas = {replicas}\ndb_path = \"{}\"\nhttp_listen = \"{http}\"\n{projector_extra}",
            views.map_or_else(|| path("views"), |v| v.display().to_string())
        ),
    )?;
    let ingest = Service::start("ingest", "ingest", &["--config", &path("ingest.toml")], dir)?;
    wait_for_port(smtp, Duration::from_secs(40))
        .with_context(|| format!("ingest did not listen:\n{}", ingest.log()))?;
    let scorers = (1..=scorers)
        .map(|i| {
            let name = if scorers == 1 { "scorer".to_owned() } else { format!("scorer-{i}") };
            Service::start(&name, "scorer", &["--config", &path("scorer.toml"), "run"], dir)
        })
        .collect::<Result<Vec<_>>>()?;
    let projector = Service::start("projector", "projector", &["serve", "--config", &path("projector.toml")], dir)?;
    wait_for_port(http, Duration::from_secs(20))
        .with_context(|| format!("projector did not listen:\n{}", projector.log()))?;
    Ok(Launched { smtp, http, ingest, scorers, projector })
}

/// The stream sequences the projector at `http` has folded up to: (MAIL_RAW, MAIL_EVENTS).
pub fn checkpoints(http: SocketAddr) -> Result<(u64, u64)> {
    let (status, body) = get_json(http, "/api/v1/health")?;
    if status != 200 {
        bail!("health answered {status}: {body}");
    }
    let c = &body["checkpoints"];
    Ok((c["MAIL_RAW"].as_u64().unwrap_or(0), c["MAIL_EVENTS"].as_u64().unwrap_or(0)))
}

/// Every message the projector at `http` has for this Message-ID (tenant `default`).
pub fn traces(http: SocketAddr, message_id: &str) -> Result<Vec<serde_json::Value>> {
    let (status, body) = get_json(http, &format!("/api/v1/messages?message_id={}", encode(message_id)))?;
    if status != 200 {
        bail!("search answered {status}: {body}");
    }
    Ok(body["messages"].as_array().cloned().unwrap_or_default())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The pipeline on a three-node JetStream cluster: every stream and bucket on three
/// replicas, ingest, two scorers on the shared consumer, the projector.
pub struct ClusterPipeline {
    pub smtp: SocketAddr,
    pub http: SocketAddr,
    pub ingest: Service,
    pub scorers: Vec<Service>,
    pub projector: Service,
    pub cluster: NatsCluster,
    pub dir: TempDir,
}

impl ClusterPipeline {
    pub fn start(durability: Durability) -> Result<Self> {
        Self::start_with_scorer_config(durability, "")
    }

    /// The same, with extra lines in the scorers' config file (`failpoints = true`, say).
    pub fn start_with_scorer_config(durability: Durability, scorer_extra: &str) -> Result<Self> {
        let cluster = NatsCluster::start(durability)?;
        let dir = tempfile::Builder::new().prefix("postern-pipeline-").tempdir()?;
        let extra = Extra { scorer: scorer_extra, ..Extra::default() };
        let Launched { smtp, http, ingest, scorers, projector } =
            launch(dir.path(), &cluster.url(), 3, 2, extra, None)?;
        Ok(ClusterPipeline { smtp, http, ingest, scorers, projector, cluster, dir })
    }

    /// All service logs and the nodes' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = format!("--- ingest ---\n{}\n", tail(&self.ingest.log(), 30));
        for s in &self.scorers {
            out += &format!("--- {} ---\n{}\n", s.name, tail(&s.log(), 30));
        }
        out += &format!("--- projector ---\n{}\n{}", tail(&self.projector.log(), 30), self.cluster.log());
        out
    }
}

impl Pipeline {
    pub fn start() -> Result<Self> {
        Self::start_with("")
    }

    /// Starts with extra lines for ingest's config file.
    pub fn start_with(ingest_extra: &str) -> Result<Self> {
        Self::start_configured(ingest_extra, "")
    }

    /// Starts with extra lines for ingest's and the projector's config files.
    pub fn start_configured(ingest_extra: &str, projector_extra: &str) -> Result<Self> {
        Self::start_on(NatsServer::start()?, ingest_extra, projector_extra)
    }

    /// Starts with these lines as the scorer's config (after its NATS and DNS settings;
    /// in place of the default `ack_wait = "10s"`).
    pub fn start_with_scorer_config(scorer_extra: &str) -> Result<Self> {
        Self::start_on_with_scorer_config(NatsServer::start()?, scorer_extra)
    }

    /// As [`Pipeline::start_with_scorer_config`], on a server the caller chose.
    pub fn start_on_with_scorer_config(nats: NatsServer, scorer_extra: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("postern-pipeline-").tempdir()?;
        let Launched { smtp, http, ingest, mut scorers, projector } =
            launch(dir.path(), &nats.url(), 1, 1, Extra { scorer: scorer_extra, ..Extra::default() }, None)?;
        let scorer = scorers.pop().context("one scorer was started")?;
        Ok(Pipeline { smtp, http, ingest, scorer, projector, nats, dir })
    }

    /// Starts on a server the caller chose, with extra lines for each service's config file
    /// (ingest, scorer, projector; an empty scorer part keeps its default `ack_wait`).
    pub fn start_on_configured(nats: NatsServer, ingest: &str, scorer: &str, projector: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("postern-pipeline-").tempdir()?;
        let Launched { smtp, http, ingest, mut scorers, projector } =
            launch(dir.path(), &nats.url(), 1, 1, Extra { ingest, scorer, projector }, None)?;
        let scorer = scorers.pop().context("one scorer was started")?;
        Ok(Pipeline { smtp, http, ingest, scorer, projector, nats, dir })
    }

    /// Starts on a server the caller chose (a durable one, say).
    pub fn start_on(nats: NatsServer, ingest_extra: &str, projector_extra: &str) -> Result<Self> {
        Self::start_with_views_at(nats, ingest_extra, projector_extra, None)
    }

    /// As [`Pipeline::start_on`], with the projector's views in `views` (a small file
    /// system, say) instead of the pipeline's temp folder.
    pub fn start_with_views_at(
        nats: NatsServer,
        ingest_extra: &str,
        projector_extra: &str,
        views: Option<&std::path::Path>,
    ) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("postern-pipeline-").tempdir()?;
        let launched = launch(
            dir.path(),
            &nats.url(),
            1,
            1,
            Extra { ingest: ingest_extra, scorer: "", projector: projector_extra },
            views,
        )?;
        let Launched { smtp, http, ingest, mut scorers, projector } = launched;
        let scorer = scorers.pop().context("one scorer was started")?;
        Ok(Pipeline { smtp, http, ingest, scorer, projector, nats, dir })
    }

    /// The stream sequences the projector has folded up to: (MAIL_RAW, MAIL_EVENTS).
    pub fn checkpoints(&self) -> Result<(u64, u64)> {
        checkpoints(self.http)
    }

    /// Waits until the projector has folded at least these sequences.
    pub fn wait_for_checkpoints(&self, raw: u64, events: u64, timeout: Duration) -> Result<()> {
        eventually(timeout, &format!("projector checkpoints reach ({raw}, {events})"), || {
            let (r, e) = self.checkpoints()?;
            Ok((r >= raw && e >= events).then_some(()))
        })
        .with_context(|| self.logs())
    }

    /// Every message the projector has for this Message-ID (tenant `default`).
    pub fn traces(&self, message_id: &str) -> Result<Vec<serde_json::Value>> {
        traces(self.http, message_id)
    }

    /// Sends a new message (`make(i, message_id)`, i counting up from `first`) every few
    /// hundred milliseconds until one is scored `expected`, for changes that apply "within
    /// seconds" (policies, training); returns that message's trace. Fails after 30 s.
    pub fn send_until(
        &self,
        mail_from: &str,
        first: usize,
        expected: &str,
        make: impl Fn(usize, &str) -> Vec<u8>,
    ) -> Result<serde_json::Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        for i in first.. {
            let id = format!("until-{i}@{}", mail_from.rsplit('@').next().unwrap_or("test.example"));
            let outcome = crate::smtp::send_with_smtplib(
                self.smtp,
                &[crate::smtp::Outgoing::to_journal(mail_from, make(i, &id))],
            )?;
            if outcome[0].code != 250 {
                bail!("message {id}: {} {}", outcome[0].code, outcome[0].text);
            }
            let trace = eventually(Duration::from_secs(30), &format!("{id} is scored"), || {
                Ok(self.traces(&id)?.into_iter().next().filter(|t| !t["disposition"].is_null()))
            })
            .with_context(|| self.logs())?;
            if trace["disposition"] == expected {
                return Ok(trace);
            }
            if std::time::Instant::now() > deadline {
                bail!("no message became {expected} within 30 s; the last: {trace}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        unreachable!("the loop ends by returning")
    }

    /// Runs one of the project's tools against this pipeline (`NATS_URL` and
    /// `POSTERN_API` point at its servers).
    pub fn cli<S: AsRef<std::ffi::OsStr>>(&self, binary: &str, args: &[S]) -> Result<crate::cli::CliRun> {
        let (nats, api) = (self.nats.url(), format!("http://{}", self.http));
        crate::cli::run(binary, args, &[("NATS_URL", nats.as_str()), ("POSTERN_API", api.as_str())])
    }

    pub fn projector_restart(&mut self) -> Result<()> {
        self.projector.restart()?;
        wait_for_port(self.http, Duration::from_secs(20))
            .with_context(|| format!("projector did not come back:\n{}", self.projector.log()))
    }

    /// All service logs, for failure messages.
    pub fn logs(&self) -> String {
        let tail = |s: &str| tail(s, 40);
        format!(
            "--- ingest ---\n{}\n--- scorer ---\n{}\n--- projector ---\n{}\n--- nats ---\n{}",
            tail(&self.ingest.log()),
            tail(&self.scorer.log()),
            tail(&self.projector.log()),
            tail(&self.nats.log())
        )
    }
}
