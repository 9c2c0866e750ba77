//! A real nats-server with JetStream: free port, fresh store folder, killed on drop.

use crate::{free_port, wait_for_port};
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    tls: Option<Tls>,
}

/// The users file every server here includes: the repository's own, so that each test's
/// components run with exactly the permissions a deployment gives them.
pub fn users_conf() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../nats-users.conf"))
}

/// Copies [`users_conf`] into `dir`, beside a server config written there (nats-server reads
/// an include relative to the including file); returns the name to include.
fn copy_users_conf(dir: &Path) -> Result<&'static Path> {
    std::fs::copy(users_conf(), dir.join("nats-users.conf")).context("copying nats-users.conf")?;
    Ok(Path::new("nats-users.conf"))
}

/// The NATS keys of this test process (one set, made on first use, trusted by every server
/// it starts): each component's seed file and the public keys nats-server is given.
pub fn keys() -> Result<&'static admin::nats_keys::KeySet> {
    static KEYS: std::sync::OnceLock<Result<admin::nats_keys::KeySet, String>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let tmp = std::env::temp_dir();
        // Folders of earlier test processes that are gone.
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("postern-nats-keys-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("postern-nats-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        admin::nats_keys::ensure(&dir, false)
            .map_err(|e| format!("making the tests' NATS keys in {}: {e}", dir.display()))
    })
    .as_ref()
    .map_err(|e| anyhow::anyhow!(e.clone()))
}

/// The seed file of `component` (`ingest`, `scorer`, `projector`, `remediator`, `admin`).
pub fn seed_file(component: &str) -> Result<PathBuf> {
    Ok(keys()?.seed_file(component))
}

/// The component a binary of the workspace connects to NATS as, when it is one.
pub fn component_of(binary: &str) -> Option<&'static str> {
    admin::nats_keys::COMPONENTS.into_iter().find(|c| *c == binary)
}

/// A self-signed CA and a certificate for 127.0.0.1 / localhost it signed, for a server
/// that requires TLS.
struct Tls {
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Tls {
    fn make(dir: &Path) -> Result<Tls> {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Postern test CA");
        let ca = ca_params.self_signed(&ca_key)?;
        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "nats-server");
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);
        let cert = params.signed_by(&server_key, &issuer)?;
        let tls =
            Tls { ca_file: dir.join("ca.pem"), cert_file: dir.join("server.pem"), key_file: dir.join("server.key") };
        std::fs::write(&tls.ca_file, ca.pem())?;
        std::fs::write(&tls.cert_file, cert.pem())?;
        std::fs::write(&tls.key_file, server_key.serialize_pem())?;
        Ok(tls)
    }

    fn conf(&self) -> String {
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 5\n}}\n",
            self.cert_file.display(),
            self.key_file.display()
        )
    }

    /// The `tls` block inside `cluster { }`: mutual TLS between nodes, each node presenting
    /// the certificate and accepting only peers whose certificate the CA signed.
    fn route_conf(&self) -> String {
        format!(
            "  tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    ca_file: \"{}\"\n    verify: true\n    timeout: 5\n  }}\n",
            self.cert_file.display(),
            self.key_file.display(),
            self.ca_file.display()
        )
    }
}

/// The server release every test runs against (scripts/setup.sh installs it).
pub const NATS_SERVER_VERSION: &str = "2.15.1";

/// When JetStream writes to disk, hence what its PubAck (and so ingest's 250) promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The server's default: written to the page cache, fsynced every 2 minutes. A crash of
    /// the process loses nothing; a power loss can lose what was acknowledged.
    Fast,
    /// `sync_interval: always`: the PubAck comes after fsync.
    Durable,
}

/// `$POSTERN_NATS_SERVER`, else the release setup installs (/usr/local/bin/nats-server),
/// else the first on PATH; it must report version 2.15 (Debian's 2.9 cannot fsync before it
/// acknowledges, and the durability tests would pass for the wrong reason).
pub fn nats_server_binary() -> Result<PathBuf> {
    static FOUND: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let path = std::env::var_os("POSTERN_NATS_SERVER")
                .map(PathBuf::from)
                .or_else(|| Some(PathBuf::from("/usr/local/bin/nats-server")).filter(|p| p.is_file()))
                .or_else(|| which("nats-server"))
                .ok_or_else(|| "nats-server is not installed: run `just setup` (scripts/setup.sh) first".to_owned())?;
            let out = Command::new(&path)
                .arg("--version")
                .output()
                .map_err(|e| format!("running {} --version: {e}", path.display()))?;
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let wanted = NATS_SERVER_VERSION.rsplit_once('.').map_or(NATS_SERVER_VERSION, |(minor, _)| minor);
            if !version.starts_with(&format!("nats-server: v{wanted}.")) {
                return Err(format!(
                    "{} reports {version:?}; the tests need nats-server {NATS_SERVER_VERSION}: run `just setup` \
                     (or point POSTERN_NATS_SERVER at it)",
                    path.display()
                ));
            }
            Ok(path)
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Starts nats-server on `dir/<name>.conf`, its log appended to `dir/<name>.log`, with the
/// components' public keys in its environment.
fn spawn_server(dir: &Path, name: &str) -> Result<Child> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{name}.log")))?;
    Command::new(nats_server_binary()?)
        .arg("-c")
        .arg(dir.join(format!("{name}.conf")))
        .envs(keys()?.server_env())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting nats-server {name}"))
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

impl NatsServer {
    /// A server with the default durability (`fast`, the server's own default).
    pub fn start() -> Result<Self> {
        Self::start_with(Durability::Fast)
    }

    pub fn start_with(durability: Durability) -> Result<Self> {
        Self::start_configured(durability, "8GB")
    }

    /// A server whose JetStream store may hold only `max_file_store` (`"2MB"`): for tests of
    /// a full store. (nats-server can raise the limit by a reload, not lower it.)
    pub fn start_with_file_store(max_file_store: &str) -> Result<Self> {
        Self::start_configured(Durability::Fast, max_file_store)
    }

    /// A server that requires TLS from every client, with a certificate signed by a CA made
    /// for it ([`NatsServer::tls_ca_file`]).
    pub fn start_tls() -> Result<Self> {
        Self::start_inner(Durability::Fast, "8GB", true)
    }

    fn start_configured(durability: Durability, max_file_store: &str) -> Result<Self> {
        Self::start_inner(durability, max_file_store, false)
    }

    fn start_inner(durability: Durability, max_file_store: &str, tls: bool) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("postern-nats-").tempdir()?;
        let tls = if tls { Some(Tls::make(dir.path())?) } else { None };
        let mut server = NatsServer { child: None, port: free_port(), dir, tls };
        let conf = format!(
            "listen: 127.0.0.1:{port}\nmax_payload: 8MB\ninclude \"{users}\"\n{tls}jetstream {{\n  store_dir: \"{store}\"\n  max_memory_store: 256MB\n  max_file_store: {max_file_store}\n{sync}}}\n",
            port = server.port,
            users = copy_users_conf(server.dir.path())?.display(),
            tls = server.tls.as_ref().map(Tls::conf).unwrap_or_default(),
            store = server.dir.path().join("store").display(),
            sync = match durability {
                Durability::Fast => "",
                Durability::Durable => "  sync_interval: always\n",
            }
        );
        std::fs::write(server.dir.path().join("nats.conf"), conf)?;
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        self.child = Some(spawn_server(self.dir.path(), "nats")?);
        wait_for_port(self.addr(), Duration::from_secs(10)).context("nats-server did not start")?;
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The CA that signed the server's certificate, when it requires TLS.
    pub fn tls_ca_file(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_file.as_path())
    }

    /// Stops the server (SIGKILL: as abrupt as an outage). The store is kept.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("nats-server is still running");
        }
        self.spawn()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }

    /// Raises JetStream's `max_file_store` (`"8GB"`) in the config and reloads the running
    /// server (SIGHUP), as an operator would when the store ran full; returns once the server
    /// logged the reload, fails when it refused it (it refuses to lower the limit).
    pub fn set_max_file_store(&self, limit: &str) -> Result<()> {
        let path = self.dir.path().join("nats.conf");
        let conf = std::fs::read_to_string(&path)?;
        let changed: Vec<String> = conf
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("max_file_store:") {
                    format!("  max_file_store: {limit}")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        std::fs::write(&path, changed.join("\n") + "\n")?;
        let pid = self.child.as_ref().context("nats-server is not running")?.id();
        let before = self.log().len();
        let status = Command::new("kill").arg("-HUP").arg(pid.to_string()).status()?;
        if !status.success() {
            bail!("kill -HUP {pid}: {status}");
        }
        crate::eventually(Duration::from_secs(10), "nats-server reloads its configuration", || {
            let log = self.log();
            let new = log.get(before..).unwrap_or_default();
            if new.contains("[ERR]") && new.contains("reload") {
                bail!("nats-server refused the reload: {new}");
            }
            Ok(new.contains("Reloaded server configuration").then_some(()))
        })
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// One node of a [`NatsCluster`].
struct Node {
    name: String,
    port: u16,
    route_port: u16,
    child: Option<Child>,
}

/// A three-node JetStream cluster on loopback: free client and route ports, a fresh store
/// per node, each node killed on drop.
pub struct NatsCluster {
    nodes: Vec<Node>,
    dir: TempDir,
    /// Routes between nodes over mutual TLS ([`NatsCluster::start_with_route_tls`]).
    route_tls: Option<Tls>,
    /// Servers started by [`NatsCluster::start_outsider`], killed on drop.
    outsiders: Vec<Child>,
}

impl NatsCluster {
    /// Three nodes (`n1`, `n2`, `n3`) with routes to each other; returns once JetStream
    /// answers through every node (the meta leader is elected).
    pub fn start(durability: Durability) -> Result<Self> {
        Self::start_inner(durability, false)
    }

    /// As [`NatsCluster::start`], with the routes between nodes over mutual TLS: each node
    /// presents a certificate from a CA made for the cluster and accepts only peers with one.
    pub fn start_with_route_tls(durability: Durability) -> Result<Self> {
        Self::start_inner(durability, true)
    }

    fn start_inner(durability: Durability, route_tls: bool) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("postern-cluster-").tempdir()?;
        let route_tls = if route_tls { Some(Tls::make(dir.path())?) } else { None };
        let route_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<String> = route_ports.iter().map(|p| format!("nats-route://127.0.0.1:{p}")).collect();
        let mut nodes = Vec::new();
        for (i, route_port) in route_ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let port = free_port();
            let conf = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\nmax_payload: 8MB\ninclude \"{users}\"\n\
                 jetstream {{\n  store_dir: \"{store}\"\n  max_memory_store: 256MB\n  max_file_store: 8GB\n{sync}}}\n\
                 cluster {{\n  name: postern-test\n  listen: 127.0.0.1:{route_port}\n  routes: [{routes}]\n{tls}}}\n",
                users = copy_users_conf(dir.path())?.display(),
                store = dir.path().join(&name).display(),
                sync = match durability {
                    Durability::Fast => "",
                    Durability::Durable => "  sync_interval: always\n",
                },
                routes = routes.join(", "),
                tls = route_tls.as_ref().map(Tls::route_conf).unwrap_or_default(),
            );
            std::fs::write(dir.path().join(format!("{name}.conf")), conf)?;
            nodes.push(Node { name, port, route_port: *route_port, child: None });
        }
        let mut cluster = NatsCluster { nodes, dir, route_tls, outsiders: Vec::new() };
        for i in 0..3 {
            cluster.spawn(i)?;
        }
        for node in &cluster.nodes {
            wait_for_port(SocketAddr::from(([127, 0, 0, 1], node.port)), Duration::from_secs(10))
                .with_context(|| format!("nats-server {} did not start", node.name))?;
        }
        cluster.wait_ready()?;
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        self.nodes[i].child = Some(spawn_server(self.dir.path(), &self.nodes[i].name)?);
        Ok(())
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.nodes.iter().position(|n| n.name == name).with_context(|| format!("no node named {name}"))
    }

    /// The running nodes' process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(|n| n.child.as_ref().map(Child::id)).collect()
    }

    /// The nodes' client URLs, comma-separated: what the services' `nats_url` takes.
    pub fn url(&self) -> String {
        self.nodes.iter().map(|n| format!("nats://127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",")
    }

    /// Waits until JetStream answers through each running node.
    pub fn wait_ready(&self) -> Result<()> {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let url = format!("nats://127.0.0.1:{}", node.port);
            crate::eventually(Duration::from_secs(30), &format!("JetStream answers through {}", node.name), || {
                Ok(crate::jetstream::account_ready(&url).unwrap_or(false).then_some(()))
            })?;
        }
        Ok(())
    }

    /// SIGKILL to one node (`"n2"`): as abrupt as a lost machine. Its store is kept.
    pub fn kill(&mut self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts a killed node again with its store; returns once it listens.
    pub fn restart(&mut self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        if self.nodes[i].child.is_some() {
            bail!("nats-server {name} is still running");
        }
        self.spawn(i)?;
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], self.nodes[i].port)), Duration::from_secs(10))
            .with_context(|| format!("nats-server {name} did not come back"))
    }

    /// Starts a fourth server, `outsider`, that tries to join the cluster with routes to
    /// every node but without the cluster's route TLS (and without JetStream); returns its
    /// client URL. Its log is `log_of("outsider")`.
    pub fn start_outsider(&mut self) -> Result<String> {
        let port = free_port();
        let routes: Vec<String> =
            self.nodes.iter().map(|n| n.route_port).map(|p| format!("nats-route://127.0.0.1:{p}")).collect();
        let conf = format!(
            "server_name: outsider\nlisten: 127.0.0.1:{port}\ninclude \"{users}\"\n\
             cluster {{\n  name: postern-test\n  listen: 127.0.0.1:{route_port}\n  routes: [{routes}]\n}}\n",
            users = copy_users_conf(self.dir.path())?.display(),
            route_port = free_port(),
            routes = routes.join(", "),
        );
        std::fs::write(self.dir.path().join("outsider.conf"), conf)?;
        self.outsiders.push(spawn_server(self.dir.path(), "outsider")?);
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(10))
            .context("the outsider nats-server did not start")?;
        Ok(format!("nats://127.0.0.1:{port}"))
    }

    /// Whether the routes use TLS.
    pub fn has_route_tls(&self) -> bool {
        self.route_tls.is_some()
    }

    /// The whole log of one server (`"n1"`, `"outsider"`).
    pub fn log_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Every node's log (the last lines), for failure messages.
    pub fn log(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(self.dir.path().join(format!("{}.log", n.name))).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!("--- nats {} ---\n{}", n.name, lines[lines.len().saturating_sub(15)..].join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for mut child in self.outsiders.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
