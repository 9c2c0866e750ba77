use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Postern's operator commands.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make the NATS credentials of a deployment: a user nkey per component (ingest, scorer,
    /// projector, remediator, admin). Writes <DIR>/<component>.nk (the seed: secret, mode
    /// 0600; give each component only its own, by `nats_nkey_file` or
    /// POSTERN_NATS_NKEY_FILE) and <DIR>/public-keys.env (the public keys: nats-server's
    /// environment, read by nats-users.conf). Keys already there are kept, so running it
    /// again changes nothing.
    NatsKeys {
        /// Where the keys go.
        #[arg(long, default_value = "var/nats-keys")]
        dir: PathBuf,
        /// Replace every key (restart nats-server and every component afterwards).
        #[arg(long)]
        renew: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::NatsKeys { dir, renew } => match admin::nats_keys::ensure(&dir, renew) {
            Ok(set) => {
                for key in &set.keys {
                    let what = if key.created { "made" } else { "kept" };
                    println!("{what} {} ({})", set.seed_file(key.component).display(), key.public_key);
                }
                println!("public keys for nats-server: {}", dir.join(admin::nats_keys::PUBLIC_KEYS_FILE).display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("postern nats-keys: {}", runtime::error_chain(&e));
                ExitCode::from(1)
            }
        },
    }
}
