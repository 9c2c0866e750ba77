//! Postern's test harness: a real `nats-server` with JetStream per test, the three
//! services as real processes, and SMTP clients nobody here wrote (Python's smtplib, swaks).
//!
//! It depends on none of our crates: it drives the built binaries, as an operator would.
//! `just test` builds them first (`cargo build --workspace --bins`).

pub mod cli;
pub mod dovecot;
pub mod forwards;
pub mod http;
pub mod jetstream;
pub mod journal;
pub mod load;
pub mod mailbox_api;
pub mod nats;
pub mod pipeline;
pub mod process;
pub mod raw_smtp;
pub mod smtp;

use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    // Below the kernel's ephemeral range (32768 and up by default): a port `bind(:0)` gives
    // is an ephemeral one, which every outgoing connection of the suite draws from too, so
    // one could take it between this check and the server's own bind. Each process starts
    // at a random place in the range and moves on, so two tests rarely try the same port.
    const LOW: u32 = 20_000;
    const HIGH: u32 = 32_000;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        (h.finish() % u64::from(HIGH - LOW)) as u32
    });
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()))
        .unwrap_or(32_768);
    if ephemeral_low >= HIGH {
        for _ in 0..(HIGH - LOW) {
            let offset = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let port = (LOW + (start + offset) % (HIGH - LOW)) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port on 127.0.0.1")
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listening on {addr} after {timeout:?}")
}

/// Polls `check` until it returns Ok(Some(_)) or the time is up.
pub fn eventually<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(match last_error {
                Some(e) => e.context(format!("{what}: not reached within {timeout:?}")),
                None => anyhow::anyhow!("{what}: not reached within {timeout:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The folder the workspace's binaries are built into (`target/debug`, or the profile
/// the tests run under), found from the test executable's own path.
pub fn bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("POSTERN_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().context("locating the test executable")?;
    // Tests run from target/<profile>/deps/<test-binary>; testkit's own binaries (the
    // benchmarks) from target/<profile>/<binary>.
    let mut dir = exe.parent().context("the executable has no folder")?;
    if dir.ends_with("deps") {
        dir = dir.parent().context("deps has no parent folder")?;
    }
    Ok(dir.to_path_buf())
}

/// A built binary of the workspace, or a clear error saying how to build it.
pub fn bin(name: &str) -> Result<PathBuf> {
    let path = bin_dir()?.join(name);
    if !path.is_file() {
        bail!("{} is not built; run `cargo build --workspace --bins` first (`just test` does)", path.display());
    }
    Ok(path)
}

/// The labelled corpus, if this machine has it: `POSTERN_CORPUS` or `../shared/corpus`.
pub fn corpus_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("POSTERN_CORPUS") {
        let p = PathBuf::from(dir);
        return p.is_dir().then_some(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    p.is_dir().then_some(p)
}
