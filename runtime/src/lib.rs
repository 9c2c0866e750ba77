//! What every Postern process does the same way at its edges, so that each binary's
//! `main.rs` only parses its arguments and calls its library:
//! - [`init_logging`]: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as
//!   text (colours only on a terminal) or as JSON lines for log collectors;
//! - [`shutdown_signal`]: completes on SIGINT or SIGTERM, for graceful shutdown;
//! - [`config_file`]: a component's TOML configuration over its defaults;
//! - [`error_chain`]: an error and its causes on one line, each text once;
//! - [`ops`]: `/metrics`, `/health` and `/ready`;
//! - [`http`]: serving a router so that every answer is JSON, the HTTP server's own too.
//!
//! Depends on nothing of Postern's; the services use it, and it knows none of them.

pub mod config_file;
pub mod http;
pub mod ops;

/// Logs to stderr: `RUST_LOG`'s filter (default `info`), text or JSON lines.
pub fn init_logging(json: bool) {
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
///
/// # Panics
/// When the SIGTERM handler cannot be installed (no signal support: not a Unix process).
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown signal received");
}

/// An error and its causes, as one line: `loading configuration: cannot read config x.toml:
/// No such file or directory`. A cause whose text the line already holds is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("loading configuration")]
        Wrapped(#[source] Inner),
        #[error("reading rules: {0}")]
        Repeats(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x.toml")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(
            error_chain(&Outer::Wrapped(Inner(io()))),
            "loading configuration: cannot read x.toml: no such file"
        );
        // A message that already carries its cause's text does not get it twice.
        assert_eq!(error_chain(&Outer::Repeats(Inner(io()))), "reading rules: cannot read x.toml: no such file");
    }
}
