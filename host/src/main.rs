//! `citadel`: the command line of the Citadel host — `serve` for the city,
//! `admin` for its operators, `keys` and `app` for partner companies.

mod cli;

use citadel_host::{gateway, Citadel, HostConfig};
use clap::{Parser, Subcommand};
use cli::admin::AdminAction;
use cli::partner::{AppAction, KeysAction};
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
        /// Refuse the development sign-in with demo citizens (production).
        #[arg(long, env = "CITADEL_NO_DEV_IDENTITY")]
        no_dev_identity: bool,
        /// A directory with the city's own map data (`wards.geojson`,
        /// `places.geojson`, `units.json`, `routing.json`) instead of the
        /// Huế set built in.
        #[arg(long, env = "CITADEL_CITY_DATA")]
        city_data: Option<PathBuf>,
        /// A map tile URL template (`https://…/{z}/{x}/{y}.png`) that map
        /// mini-apps may draw under their places.
        #[arg(long, env = "CITADEL_TILE_URL")]
        tile_url: Option<String>,
    },
    /// Operate a running host: apps, grants, publishers, reviews, rollouts, the audit log.
    Admin {
        /// The host's address.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "CITADEL_SERVER")]
        server: String,
        /// An operator token (see `<data-dir>/operator-token` on a new host).
        #[arg(long, env = "CITADEL_OPERATOR_TOKEN", hide_env_values = true)]
        token: String,
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Package-signing keys (partners).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Create, build, package and publish a mini-app (partners).
    App {
        #[command(subcommand)]
        action: AppAction,
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
            no_dev_identity,
            city_data,
            tile_url,
        } => {
            let config = HostConfig {
                max_instances,
                install_samples: !no_samples,
                operator_token: std::env::var("CITADEL_OPERATOR_TOKEN").ok(),
                development_identity: !no_dev_identity,
                city_data,
                tile_url,
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
        Command::Admin {
            server,
            token,
            action,
        } => cli::admin::run(&server, &token, action).await?,
        Command::Keys { action } => cli::partner::keys(action)?,
        Command::App { action } => cli::partner::app(action).await?,
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
