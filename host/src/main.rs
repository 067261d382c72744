//! `citadel`: the command line of the Citadel host — `serve` for the city,
//! `admin` for its operators, `keys` and `app` for partner companies.

mod cli;

use citadel_host::{gateway, Citadel, HostConfig};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use cli::admin::AdminAction;
use cli::config::ConfigAction;
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
    Serve(Box<ServeArgs>),
    /// Check a configuration file for `citadel serve --config` without serving.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
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
    /// Download a consistent backup of a running host's embedded store
    /// (writes wait while it is taken, reads go on), checked before it is
    /// kept. A host on PostgreSQL refuses: use the database's own tools.
    Backup {
        /// The host's address.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "CITADEL_SERVER")]
        server: String,
        /// An operator token.
        #[arg(long, env = "CITADEL_OPERATOR_TOKEN", hide_env_values = true)]
        token: String,
        /// The file to write (it must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into a new or empty data dir, checking the file's
    /// checksum first and the restored counts after; then start a host
    /// with `citadel serve --data-dir DIR`.
    Restore {
        /// A file written by `citadel backup`.
        file: PathBuf,
        /// The data dir to restore into (it must not exist or be empty).
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Copy a stopped host's embedded (sled) store into an empty PostgreSQL
    /// database and verify the copy; exits non-zero on any difference.
    Migrate {
        /// The data dir of the host to copy (its store is `DIR/db`); stop
        /// the host first.
        #[arg(long, value_name = "DIR")]
        from_data_dir: PathBuf,
        /// The empty PostgreSQL database to copy into:
        /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
        #[arg(
            long = "to",
            value_name = "URL",
            env = "CITADEL_DATABASE_URL",
            hide_env_values = true
        )]
        database_url: String,
    },
}

/// `citadel serve`'s options. Each may also be set in the `--config` file;
/// `cli::config::merge` fills in the file's values under the environment's
/// and the command line's.
#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML file with any of the options below, named as the flags with
    /// `_` for `-` (`max_instances = 400`, `payment_providers = ["…"]`,
    /// `database_url_file = "/etc/citadel/database-url"`). The environment
    /// and the command line win over it; it wins over the defaults. An
    /// unknown key or a wrong type is refused. `citadel config check FILE`
    /// checks one.
    #[arg(long, value_name = "FILE", env = "CITADEL_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "CITADEL_LISTEN")]
    listen: SocketAddr,
    /// Where the host keeps its compiled components, and its database
    /// unless `--database-url` names one.
    #[arg(long, default_value = "data", env = "CITADEL_DATA_DIR")]
    data_dir: PathBuf,
    /// PostgreSQL (15 or newer) to keep every host's state in:
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`. Hosts pointed at one
    /// database serve the same apps, citizens and money. Without it, the
    /// embedded store under `--data-dir` (one host).
    #[arg(long, env = "CITADEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A file holding the PostgreSQL URL (it embeds a password), instead of
    /// `--database-url`; read and trimmed at start.
    #[arg(long, value_name = "FILE", env = "CITADEL_DATABASE_URL_FILE")]
    database_url_file: Option<PathBuf>,
    /// Instances that may run at once across all apps.
    #[arg(long, default_value_t = 200, env = "CITADEL_MAX_INSTANCES")]
    max_instances: u32,
    /// The share of `--max-instances` one app may hold at once, in
    /// percent; a manifest may not ask for more `max_concurrency`.
    #[arg(long, default_value_t = 25, env = "CITADEL_APP_SHARE_PERCENT", value_parser = clap::value_parser!(u32).range(1..=100))]
    app_share_percent: u32,
    /// Compiled components kept in memory at once. Each holds a file
    /// descriptor and some memory; past it the least recently used app is
    /// loaded again (from its precompiled file, in milliseconds) on its
    /// next request.
    #[arg(long, default_value_t = 256, env = "CITADEL_MAX_LOADED_COMPONENTS", value_parser = clap::value_parser!(u64).range(1..))]
    max_loaded_components: u64,
    /// Connections the listener keeps open at once; past it new clients
    /// wait in the kernel's backlog.
    #[arg(long, default_value_t = 1024, env = "CITADEL_MAX_CONNECTIONS")]
    max_connections: usize,
    /// Seconds a client has to send a request's head (and the longest
    /// an idle keep-alive connection is kept).
    #[arg(long, default_value_t = 10, env = "CITADEL_HEADER_TIMEOUT_SECS")]
    header_timeout_secs: u64,
    /// Seconds between a shutdown signal and the listener closing: `/readyz`
    /// answers 503 at once, so a load balancer stops sending new requests
    /// while this host still accepts them; then in-flight requests finish.
    #[arg(long, default_value_t = 0, env = "CITADEL_SHUTDOWN_GRACE_SECS")]
    shutdown_grace_secs: u64,
    /// Do not install the sample mini-apps into an empty data dir.
    #[arg(long)]
    no_samples: bool,
    /// Development mode: demo citizens sign in from the shell, and the
    /// demo wallet (5,000,000 ₫ each, operator top-ups) pays. Without it
    /// the host has neither: citizens need a real identity provider and
    /// payments a configured provider.
    #[arg(long, env = "CITADEL_DEV")]
    dev: bool,
    /// A file holding the bearer token `/metrics` asks for (an operator
    /// token works too). Without it (or CITADEL_METRICS_TOKEN), `/metrics`
    /// is open to anyone who reaches the host.
    #[arg(long, value_name = "FILE")]
    metrics_token_file: Option<PathBuf>,
    /// A file holding an operator token to accept, instead of
    /// CITADEL_OPERATOR_TOKEN.
    #[arg(long, value_name = "FILE", env = "CITADEL_OPERATOR_TOKEN_FILE")]
    operator_token_file: Option<PathBuf>,
    /// A payment provider: `NAME=SECRET_FILE,CHECKOUT_URL[,REFUND_URL]` —
    /// its name (the webhook path `/api/v1/payments/webhooks/NAME`), a file
    /// with its HMAC webhook secret, where citizens are sent to pay, and
    /// where the host sends refunds (signed the same way; without it, its
    /// payments are refunded at the provider, not by apps).
    /// Repeatable; in the environment, separate several with `;`.
    #[arg(
        long = "payment-provider",
        value_name = "NAME=SECRET_FILE,CHECKOUT_URL[,REFUND_URL]",
        env = "CITADEL_PAYMENT_PROVIDERS",
        value_delimiter = ';'
    )]
    payment_providers: Vec<String>,
    /// A directory with the city's own map data (`wards.geojson`,
    /// `places.geojson`, `units.json`, `routing.json`) instead of the
    /// Huế set built in.
    #[arg(long, env = "CITADEL_CITY_DATA")]
    city_data: Option<PathBuf>,
    /// A map tile URL template (`https://…/{z}/{x}/{y}.png`) that map
    /// mini-apps may draw under their places.
    #[arg(long, env = "CITADEL_TILE_URL")]
    tile_url: Option<String>,
    /// Where citizens reach this host, as they type it
    /// (`https://app.hue.gov.vn`). Over https every cookie the host sets is
    /// `Secure`; only pages of this origin may act with a citizen's cookie;
    /// payment providers send citizens back to it; the OpenID redirect URL
    /// defaults to its `/auth/oidc/callback`. Without it, the OpenID
    /// redirect URL's origin stands for it, if one is set.
    #[arg(long, value_name = "URL", env = "CITADEL_PUBLIC_URL")]
    public_url: Option<String>,
    /// The issuer URL of the OpenID provider citizens sign in with (the
    /// city's SSO or the national e-ID gateway); its discovery document is
    /// `ISSUER/.well-known/openid-configuration`. With it, the development
    /// provider's demo citizens are off.
    #[arg(long, value_name = "URL", env = "CITADEL_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// The client id the provider registered for this host.
    #[arg(long, value_name = "ID", env = "CITADEL_OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// A file holding the client secret (or CITADEL_OIDC_CLIENT_SECRET);
    /// never logged.
    #[arg(long, value_name = "FILE", env = "CITADEL_OIDC_CLIENT_SECRET_FILE")]
    oidc_client_secret_file: Option<PathBuf>,
    /// This host's callback as the provider registered it:
    /// `https://HOST/auth/oidc/callback`.
    #[arg(long, value_name = "URL", env = "CITADEL_OIDC_REDIRECT_URL")]
    oidc_redirect_url: Option<String>,
    /// The scopes to ask for, separated by spaces (`openid` is always
    /// asked).
    #[arg(
        long,
        value_name = "SCOPES",
        default_value = "openid profile phone address",
        env = "CITADEL_OIDC_SCOPES"
    )]
    oidc_scopes: String,
    /// Which claim holds each personal field, over the standard ones:
    /// `field=claim,…` with fields name, phone, national_id, address,
    /// birth_date, roles, locale; a dotted claim reads into an object
    /// (`address=address.formatted`).
    #[arg(
        long,
        value_name = "FIELD=CLAIM,…",
        default_value = "",
        env = "CITADEL_OIDC_CLAIMS"
    )]
    oidc_claims: String,
    /// How log lines look on stdout: `text` for people, `json` (one
    /// object per line, the event's fields at the top level) for a log
    /// pipeline.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "CITADEL_LOG_FORMAT")]
    log_format: LogFormat,
}

/// The shape of the host's log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum LogFormat {
    /// One human-readable line per event: time, level, target, message, `key=value` fields.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`
    /// and the event's fields beside them.
    Json,
}

/// Send log lines to stdout in `format`. Lines (one access record per
/// request among them) are formatted on the request's thread and written by
/// a background thread, in batches: a request never waits on the terminal
/// or the journal. Nothing is dropped (a full queue makes the logger wait);
/// the returned guard flushes the queue when dropped, at exit. The access
/// record skips `tracing`'s formatter (`gateway::write_access_records_to`),
/// unless the lines are coloured for a terminal.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, flush_at_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("citadel-log")
        .finish(std::io::BufWriter::with_capacity(
            64 << 10,
            std::io::stdout(),
        ));
    let ansi = format == LogFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stdout());
    if !ansi {
        gateway::write_access_records_to(writer.clone(), format == LogFormat::Json);
    }
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,cranelift=warn,wasmtime=warn".into()),
        )
        .with_writer(writer);
    match format {
        LogFormat::Text => subscriber.with_ansi(ansi).init(),
        LogFormat::Json => subscriber
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .init(),
    }
    flush_at_exit
}

/// Run the command. A refusal or failure is one line on stderr, `error:`
/// and its causes, and exit code 1 — never a backtrace, whatever
/// `RUST_BACKTRACE` says (the message names the fix).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let (Command::Serve(args), Some(given)) =
        (&mut cli.command, matches.subcommand_matches("serve"))
    {
        // The configuration file's values where neither the environment nor
        // a flag gave one; a bad file stops here, before anything starts.
        cli::config::merge(args, given, &env_var)?;
    }
    let log_format = match &cli.command {
        Command::Serve(args) => args.log_format,
        _ => LogFormat::Text,
    };
    let _log_flush_at_exit = init_logging(log_format);
    match cli.command {
        Command::Serve(args) => {
            let secrets = cli::config::Secrets::read(&args, &env_var)?;
            let ServeArgs {
                config: config_file,
                listen,
                data_dir,
                max_instances,
                app_share_percent,
                max_loaded_components,
                max_connections,
                header_timeout_secs,
                shutdown_grace_secs,
                no_samples,
                dev,
                city_data,
                tile_url,
                // Read into `secrets`.
                public_url: _,
                oidc_issuer: _,
                oidc_client_id: _,
                oidc_client_secret_file: _,
                oidc_redirect_url: _,
                oidc_scopes: _,
                oidc_claims: _,
                database_url: _,
                database_url_file: _,
                metrics_token_file: _,
                operator_token_file: _,
                payment_providers: _,
                log_format: _,
            } = *args;
            let defaults = HostConfig::new(data_dir);
            let config = HostConfig {
                max_instances,
                app_share_percent,
                max_loaded_components: usize::try_from(max_loaded_components).unwrap_or(usize::MAX),
                listener: citadel_host::gateway::ListenerLimits {
                    max_connections,
                    header_read_timeout: std::time::Duration::from_secs(header_timeout_secs.max(1)),
                },
                database_url: secrets.database_url,
                install_samples: !no_samples,
                operator_token: secrets.operator_token,
                development: dev,
                payments: citadel_host::payments::PaymentsConfig {
                    providers: secrets.providers,
                    ..defaults.payments.clone()
                },
                metrics_token: secrets.metrics_token,
                city_data,
                tile_url,
                shutdown_grace: std::time::Duration::from_secs(shutdown_grace_secs),
                oidc: secrets.oidc,
                public_url: secrets.public_url,
                ..defaults
            };
            if config.development {
                tracing::warn!(
                    "development mode (--dev): demo citizens sign in without a password and the \
                     demo wallet pays with test money; never run a city's host like this"
                );
            } else {
                tracing::info!(
                    "production mode: no demo citizens, no demo wallet (start with --dev for them)"
                );
            }
            if let Some(path) = &config_file {
                tracing::info!(
                    path = %path.display(),
                    "options from the configuration file (the environment and flags win over it)"
                );
            }
            if config.metrics_token.is_none() {
                tracing::warn!(
                    "/metrics is open to anyone who reaches this host; require a token with \
                     --metrics-token-file FILE or CITADEL_METRICS_TOKEN"
                );
            }
            cli::serve::raise_descriptor_limit();
            let citadel = Citadel::open(&config).await?;
            match &citadel.public_url {
                Some(public) => tracing::info!(public_url = %public, "citizens reach this host at"),
                None if !config.development => tracing::warn!(
                    "no public URL: cookies are not marked Secure, and payment providers are \
                     given a path, not an address, to send citizens back to; set --public-url \
                     or CITADEL_PUBLIC_URL to the https address citizens use"
                ),
                None => {}
            }
            tracing::info!(
                max_instances = config.max_instances,
                per_app = citadel.runtime.app_share(),
                max_connections = config.listener.max_connections,
                header_timeout_secs = config.listener.header_read_timeout.as_secs(),
                "limits: instances in the pool, the most one app may hold, open connections"
            );
            // Catch SIGTERM and Ctrl-C before the address is announced, so a
            // stop sent as soon as the host says it serves is a graceful one.
            let shutdown = shutdown_signal()?;
            let listener = citadel_host::gateway::bind(listen)?;
            tracing::info!(
                address = %listener.local_addr()?,
                apps = citadel.registry.apps().len(),
                "citadel is serving"
            );
            gateway::serve(citadel, listener, shutdown).await?;
        }
        Command::Admin {
            server,
            token,
            action,
        } => cli::admin::run(&server, &token, action).await?,
        Command::Config { action } => cli::config::run(action)?,
        Command::Keys { action } => cli::partner::keys(action)?,
        Command::App { action } => cli::partner::app(action).await?,
        Command::Backup { server, token, out } => {
            let manifest = cli::backup::download(&server, &token, &out).await?;
            println!("backup written to {}", out.display());
            println!("{}", cli::backup::describe(&manifest));
        }
        Command::Restore { file, data_dir } => {
            let manifest = cli::backup::restore(&file, &data_dir)?;
            println!("restored into {}", data_dir.display());
            println!("{}", cli::backup::describe(&manifest));
        }
        Command::Migrate {
            from_data_dir,
            database_url,
        } => {
            use citadel_host::store::migrate;
            println!(
                "migrating {} into {}",
                from_data_dir.display(),
                migrate::redacted(&database_url)
            );
            let report = migrate::migrate(&from_data_dir, &database_url).await?;
            println!("{report}");
        }
    }
    Ok(())
}

/// An environment variable's value, if set (and valid UTF-8).
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Resolves at the first Ctrl-C or SIGTERM. Both handlers are installed
/// now, not when the future is first polled.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutting down; letting in-flight requests finish");
    })
}
