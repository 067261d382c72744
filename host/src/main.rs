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
        /// Refuse the development sign-in with demo citizens (production).
        #[arg(long, env = "CITADEL_NO_DEV_IDENTITY")]
        no_dev_identity: bool,
    },
    /// Operate a running host: apps, grants, publishers, the audit log.
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
}

#[derive(Subcommand)]
enum AdminAction {
    /// List installed apps with requested, granted and effective capabilities.
    Apps,
    /// Grant capabilities an app requests.
    Grant {
        app: String,
        #[arg(required = true)]
        capabilities: Vec<String>,
    },
    /// Revoke granted capabilities; holds from the app's next host call.
    Revoke {
        app: String,
        #[arg(required = true)]
        capabilities: Vec<String>,
    },
    /// List registered publishers.
    Publishers,
    /// Register a publisher and print its first API key (shown once).
    AddPublisher {
        /// The slug its manifests name in `publisher`.
        id: String,
        /// The company's name.
        name: String,
    },
    /// Issue another API key to a publisher (rotation).
    IssueKey { publisher: String },
    /// Read the audit log, oldest first.
    Audit {
        #[arg(long)]
        app: Option<String>,
        /// e.g. denial, grant, revoke, install
        #[arg(long)]
        kind: Option<String>,
        /// Only records after this sequence number (the previous page's `next`).
        #[arg(long)]
        after: Option<u64>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
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
        } => {
            let config = HostConfig {
                max_instances,
                install_samples: !no_samples,
                operator_token: std::env::var("CITADEL_OPERATOR_TOKEN").ok(),
                development_identity: !no_dev_identity,
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
        } => admin(&server, &token, action).await?,
    }
    Ok(())
}

/// Run one operator action against a host's API and print its JSON answer.
async fn admin(server: &str, token: &str, action: AdminAction) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1/operator{path}", server.trim_end_matches('/'));
    let request = match action {
        AdminAction::Apps => client.get(api("/apps")),
        AdminAction::Publishers => client.get(api("/publishers")),
        AdminAction::AddPublisher { id, name } => client
            .post(api("/publishers"))
            .json(&serde_json::json!({ "id": id, "name": name })),
        AdminAction::IssueKey { publisher } => {
            client.post(api(&format!("/publishers/{publisher}/keys")))
        }
        AdminAction::Audit {
            app,
            kind,
            after,
            limit,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(app.map(|a| ("app", a)));
            query.extend(kind.map(|k| ("kind", k)));
            query.extend(after.map(|a| ("after", a.to_string())));
            client.get(api("/audit")).query(&query)
        }
        AdminAction::Grant { app, capabilities } => {
            change_grants(&client, &api, token, &app, capabilities, true).await?
        }
        AdminAction::Revoke { app, capabilities } => {
            change_grants(&client, &api, token, &app, capabilities, false).await?
        }
    };
    let answer = send(request.bearer_auth(token)).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// The request that adds (`granting`) or removes `capabilities` from what `app` holds.
async fn change_grants(
    client: &reqwest::Client,
    api: &impl Fn(&str) -> String,
    token: &str,
    app: &str,
    capabilities: Vec<String>,
    granting: bool,
) -> anyhow::Result<reqwest::RequestBuilder> {
    let current: serde_json::Value = send(
        client
            .get(api(&format!("/apps/{app}/grants")))
            .bearer_auth(token),
    )
    .await?;
    let mut granted: std::collections::BTreeSet<String> = current["granted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(String::from))
        .collect();
    for capability in capabilities {
        if granting {
            granted.insert(capability);
        } else {
            granted.remove(&capability);
        }
    }
    Ok(client
        .put(api(&format!("/apps/{app}/grants")))
        .json(&serde_json::json!({ "capabilities": granted })))
}

/// Send `request`; a JSON error answer becomes an error naming its code and message.
async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<serde_json::Value> {
    let response = request.send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if status.is_success() {
        Ok(body)
    } else {
        anyhow::bail!(
            "{status}: {} ({})",
            body["error"]["message"].as_str().unwrap_or("no message"),
            body["error"]["code"].as_str().unwrap_or("no code")
        )
    }
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
