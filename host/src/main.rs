//! `citadel`: the command line of the Citadel host.

use citadel_host::{gateway, Citadel, HostConfig};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "citadel",
    version,
    about = "Citadel — the host of a city super-app"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway. On an empty data dir, installs the sample mini-apps first.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "CITADEL_LISTEN")]
        listen: SocketAddr,
        /// Where the host keeps its database and compiled components.
        #[arg(long, default_value = "data", env = "CITADEL_DATA_DIR")]
        data_dir: PathBuf,
        /// Instances that may run at once across all apps.
        #[arg(long, default_value_t = 200)]
        max_instances: u32,
        /// Do not install the sample mini-apps into an empty data dir.
        #[arg(long)]
        no_samples: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,cranelift=warn,wasmtime=warn".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    match Cli::parse().command {
        Command::Serve {
            listen,
            data_dir,
            max_instances,
            no_samples,
        } => {
            let config = HostConfig {
                max_instances,
                install_samples: !no_samples,
                ..HostConfig::new(data_dir)
            };
            let citadel = Citadel::open(&config)?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            tracing::info!(
                address = %listener.local_addr()?,
                apps = citadel.registry.apps().len(),
                "citadel is serving"
            );
            gateway::serve(citadel, listener, shutdown_signal()).await?;
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down; letting in-flight requests finish");
}
