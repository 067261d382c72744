//! # citadel-host — the host of the Citadel city super-app
//!
//! Citizens use one gateway; partner companies publish mini-apps as sandboxed
//! WebAssembly components; the city operates this host. A map of the crate:
//!
//! - [`gateway`]: the axum routers and the one place host errors become HTTP;
//!   it reaches the store only through the registry, identity and payments.
//! - [`registry`]: manifests, publishing, the live version of each app;
//!   publishers, their signing keys and API keys.
//! - [`identity`]: citizens, sessions, consent, pairwise ids, frame tokens,
//!   locations; operator and publisher credentials.
//! - [`payments`]: intents, citizen confirmation, the double-entry ledger.
//! - [`tasks`]: background work — payment-hook delivery, the expiry sweep.
//! - [`capabilities`]: one module per capability — manifest name, upload-time
//!   import check, host calls — and the registry listing them.
//! - [`runtime`]: the wasmtime engine (pooling, epochs), the compile cache,
//!   a fresh instance per request under the app's limits.
//! - [`audit`]: the audit log's events and queries.
//! - [`store`]: persistence behind async traits split by concern (apps, kv,
//!   identity, ledger, audit, rate limits), bundled as [`store::Store`];
//!   durable on return (group commit); sled by default.
//! - [`localized`]: text in Vietnamese and English; [`citizen`]: the
//!   citizen records a request carries.
//! - [`geo`]: the city's map data. [`telemetry`]: Prometheus metrics per app.
//! - [`samples`]: the sample mini-apps built into the binary.
//!
//! [`Citadel`] ties them together, and [`Readiness`] says where it is in
//! its life (starting, ready, shutting down) for `/readyz`; `main.rs` is the
//! `citadel` CLI.

/// Every binary that links the host (the `citadel` CLI, tests, benchmarks)
/// allocates with mimalloc: see docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod audit;
mod calendar;
pub mod capabilities;
pub mod citizen;
pub mod gateway;
pub mod geo;
pub mod identity;
pub mod localized;
pub mod payments;
pub mod public_url;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod tasks;
pub mod telemetry;

/// The sample mini-apps (`manifests/*.toml` with their components), built by
/// `build.rs` and embedded so `citadel serve` works from any directory.
pub mod samples {
    include!(concat!(env!("OUT_DIR"), "/samples.rs"));

    /// Where the build put a mini-app's component (tests and benchmarks use
    /// this for the test-only apps that are not embedded).
    pub fn built_component(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CITADEL_MINIAPPS_DIR")).join(format!("{name}.wasm"))
    }
}

use registry::Registry;
use runtime::{Runtime, RuntimeConfig};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::Store;

pub use store::backup::BackupError;
/// A storage failure, as every layer above the store passes it up (the
/// gateway answers it with 503).
pub use store::StoreError;

/// How to run a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The host's own files: `cache/` (precompiled components), and `db/`
    /// (sled) unless `database_url` is set.
    pub data_dir: PathBuf,
    /// PostgreSQL shared by every host (`postgres://…`); `None`: sled in
    /// `data_dir`.
    pub database_url: Option<String>,
    /// Instances that may run at once across all apps.
    pub max_instances: u32,
    /// The share of `max_instances` one app may hold at once, in percent.
    pub app_share_percent: u32,
    /// Compiled components kept in memory at once (each holds a file
    /// descriptor and some memory); the least recently used beyond it are
    /// loaded again on their next request.
    pub max_loaded_components: usize,
    /// Connections, header and body timeouts at the listener.
    pub listener: gateway::ListenerLimits,
    /// Install the sample mini-apps when the data dir holds no app.
    pub install_samples: bool,
    /// An operator token to accept (`CITADEL_OPERATOR_TOKEN`); without one, a
    /// host with no operator writes a new token to `<data_dir>/operator-token`.
    pub operator_token: Option<String>,
    /// Development mode (`citadel serve --dev`): citizens sign in as the
    /// development provider's demo citizens, and the demo wallet (seeded
    /// balances from `city:demo-issuance`, operator top-ups) pays. Off by
    /// default: a production host has neither.
    pub development: bool,
    /// The bearer token `/metrics` asks for (besides any operator token);
    /// `None` leaves `/metrics` open, as a scraper on a private network expects.
    pub metrics_token: Option<String>,
    /// Let mini-apps' granted `http:` origins resolve to loopback. Tests
    /// only (a local server stands in for a partner's API); no CLI flag sets it.
    pub allow_loopback_for_tests: bool,
    /// Amount bounds, intent lifetime, the demo wallet and payment providers.
    pub payments: payments::PaymentsConfig,
    /// The city's own map data directory; the built-in Huế set if none.
    pub city_data: Option<PathBuf>,
    /// The map tile URL template map apps may use.
    pub tile_url: Option<String>,
    /// How long the listener keeps accepting after the shutdown signal, with
    /// `/readyz` already answering 503, so a load balancer sees the host
    /// leave before it stops taking connections. Zero (the default) stops
    /// accepting at once, as before `/readyz` existed.
    pub shutdown_grace: Duration,
    /// Precompiled components shared by the hosts of one machine, read when
    /// the data dir's own cache misses and filled after each compile
    /// (`CITADEL_SHARED_COMPILE_CACHE`; the workspace's `.cargo/config.toml`
    /// sets it for tests and benchmarks, so a large component — a
    /// TypeScript sample embeds a JS engine — compiles once per machine, not
    /// once per test host). Only a directory this host's operator alone can
    /// write: its files are loaded as compiled code.
    pub shared_compile_cache: Option<PathBuf>,
    /// Citizens sign in with this OpenID provider; the development
    /// provider's demo citizens are then off, even in development mode.
    pub oidc: Option<identity::oidc::OidcConfig>,
    /// Where citizens reach the host (`https://app.hue.gov.vn`); without
    /// it, the origin of the OpenID redirect URL, if any. See
    /// [`public_url`].
    pub public_url: Option<public_url::PublicUrl>,
}

impl HostConfig {
    /// Defaults for a data dir.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            data_dir: data_dir.into(),
            database_url: None,
            max_instances: 200,
            app_share_percent: 25,
            max_loaded_components: 256,
            listener: gateway::ListenerLimits::default(),
            install_samples: true,
            operator_token: None,
            development: false,
            metrics_token: None,
            allow_loopback_for_tests: false,
            payments: payments::PaymentsConfig::default(),
            city_data: None,
            tile_url: None,
            shutdown_grace: Duration::ZERO,
            shared_compile_cache: std::env::var_os("CITADEL_SHARED_COMPILE_CACHE")
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from),
            oidc: None,
            public_url: None,
        }
    }
}

/// Where a host is in its life, as `/readyz` reports it to a load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// [`Citadel::open`] has not finished: store, city data or registry not
    /// loaded yet.
    Starting,
    /// Open: new requests are welcome.
    Ready,
    /// The shutdown signal arrived: requests in flight finish, new ones
    /// should go to another host.
    ShuttingDown,
}

impl Phase {
    /// `starting`, `ready` or `shutting_down`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::ShuttingDown => "shutting_down",
        }
    }
}

/// What [`Citadel::open`] loads before a host can be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The store is open (sled opened, or PostgreSQL connected and migrated).
    Store,
    /// The city's map data is loaded.
    City,
    /// The registry is open: every app's serving versions were read (their
    /// components load on first request).
    Registry,
}

impl Part {
    /// Every part, in the order `open` loads them.
    pub const ALL: [Part; 3] = [Part::City, Part::Store, Part::Registry];

    /// `store`, `city` or `registry`.
    pub fn name(self) -> &'static str {
        match self {
            Part::Store => "store",
            Part::City => "city",
            Part::Registry => "registry",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Part::Store => 1,
            Part::City => 2,
            Part::Registry => 4,
        }
    }
}

/// A host's phase and the parts it has loaded: [`Citadel::open`] marks each
/// part and then the host ready; the gateway turns it to shutting down when
/// the shutdown signal arrives, before the listener stops accepting.
#[derive(Debug)]
pub struct Readiness {
    phase: tokio::sync::watch::Sender<Phase>,
    loaded: AtomicU8,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness::new()
    }
}

impl Readiness {
    /// Starting, nothing loaded.
    pub fn new() -> Self {
        Readiness {
            phase: tokio::sync::watch::Sender::new(Phase::Starting),
            loaded: AtomicU8::new(0),
        }
    }

    /// The phase now.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Every change of phase from now on (tests wait on it rather than poll).
    pub fn watch(&self) -> tokio::sync::watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// `part` is loaded.
    pub fn loaded(&self, part: Part) {
        self.loaded.fetch_or(part.bit(), Ordering::AcqRel);
    }

    /// Whether `part` is loaded.
    pub fn is_loaded(&self, part: Part) -> bool {
        self.loaded.load(Ordering::Acquire) & part.bit() != 0
    }

    /// Ready, if every part is loaded and the host is not shutting down;
    /// whether it is ready now.
    pub fn ready(&self) -> bool {
        let all = Part::ALL.iter().all(|part| self.is_loaded(*part));
        self.phase.send_if_modified(|phase| {
            let becomes_ready = all && *phase == Phase::Starting;
            if becomes_ready {
                *phase = Phase::Ready;
            }
            becomes_ready
        });
        self.phase() == Phase::Ready
    }

    /// Shutting down, for good: `/readyz` answers 503 from now on.
    pub fn shutting_down(&self) {
        self.phase.send_replace(Phase::ShuttingDown);
    }
}

/// A running host: store, runtime and registry. The gateway reaches the
/// store only through the registry, identity and payments values here.
pub struct Citadel {
    pub store: Store,
    pub identity: Arc<dyn identity::citizens::IdentityProvider>,
    /// Operator tokens and publisher API keys.
    pub credentials: identity::Credentials,
    pub sessions: identity::sessions::Sessions,
    pub pairwise: identity::pairwise::Pairwise,
    pub consents: identity::consent::Consents,
    pub inbox: identity::inbox::Inbox,
    /// A citizen's export and erasure of their own data.
    pub personal_data: identity::personal_data::PersonalDataRights,
    pub audit: audit::AuditLog,
    pub payments: Arc<payments::Payments>,
    pub positions: identity::location::Positions,
    pub frames: identity::frames::Frames,
    pub runtime: Arc<Runtime>,
    /// The capabilities the runtime serves (and the outbound-HTTP rules).
    pub capabilities: Arc<capabilities::Capabilities>,
    pub registry: Arc<Registry>,
    /// Development mode: demo citizens and the demo wallet (see [`HostConfig::development`]).
    pub development: bool,
    /// What `/metrics` asks for, if anything (see [`HostConfig::metrics_token`]).
    pub metrics_token: Option<String>,
    /// Connection cap and timeouts of the listener.
    pub listener: gateway::ListenerLimits,
    /// Starting, ready or shutting down, and what is loaded (`/readyz`).
    pub readiness: Arc<Readiness>,
    /// Accepting after the shutdown signal (see [`HostConfig::shutdown_grace`]).
    pub shutdown_grace: Duration,
    /// Where the host keeps its files (a backup's body is written here
    /// before it is sent).
    pub data_dir: std::path::PathBuf,
    /// The OpenID provider citizens sign in with, if one is configured.
    pub oidc: Option<Arc<identity::oidc::OidcProvider>>,
    /// Where citizens reach the host, if known (see [`HostConfig::public_url`]).
    pub public_url: Option<public_url::PublicUrl>,
}

/// The host secret that signs OpenID Connect login cookies.
const OIDC_COOKIE_KEY: &str = "oidc-login-cookie-key";

impl Citadel {
    /// A consistent backup of the embedded store, taken while the host
    /// serves (see [`store::backup`]); refused on PostgreSQL.
    pub async fn take_backup(&self) -> Result<store::backup::TakenBackup, BackupError> {
        store::backup::take(self.store.snapshot.as_ref(), &self.data_dir).await
    }

    /// The citizen a session belongs to: the fields their OpenID provider
    /// gave at sign-in, kept with the session, or the host's own provider's
    /// citizen.
    pub fn citizen_of(&self, session: &store::SessionRecord) -> Option<citizen::Citizen> {
        session
            .profile
            .clone()
            .or_else(|| self.identity.citizen(&session.citizen_id))
    }

    /// On PostgreSQL, a query that says whether the database answers now
    /// (for `/readyz`); `None` on the embedded store, which is in-process.
    pub fn database_ping(
        &self,
    ) -> Option<impl std::future::Future<Output = Result<(), StoreError>> + '_> {
        (self.store.backend() == store::Backend::Postgres).then(|| self.store.ping())
    }

    /// Open the data dir, load installed apps (compiling nothing that is
    /// cached), and install the samples into an empty data dir if asked.
    /// The host is ready (`/readyz`) once this returns.
    pub async fn open(config: &HostConfig) -> anyhow::Result<Arc<Citadel>> {
        let public_url = public_url::resolve(
            config.public_url.as_ref(),
            config.oidc.as_ref().map(|oidc| oidc.redirect_url.as_str()),
        )?;
        let readiness = Arc::new(Readiness::new());
        // The recorder first: each app registers its metrics once, as it
        // goes live.
        crate::telemetry::handle();
        let city = match &config.city_data {
            Some(dir) => geo::City::from_dir(dir)?,
            None => geo::City::embedded()?,
        }
        .with_tile_url(config.tile_url.clone())?;
        readiness.loaded(Part::City);
        let store = match &config.database_url {
            Some(url) => Store::postgres(url).await?,
            None => Store::sled(&config.data_dir.join("db"))?,
        };
        readiness.loaded(Part::Store);
        let audit = audit::AuditLog::new(store.clone());
        // The demo wallet pays only in development mode, whatever the
        // payments configuration says.
        let payments_config = payments::PaymentsConfig {
            demo_wallet: config.payments.demo_wallet && config.development,
            ..config.payments.clone()
        };
        let payments = Arc::new(payments::Payments::new(
            store.clone(),
            audit.clone(),
            payments_config,
            public_url.clone(),
        ));
        let capabilities = Arc::new(capabilities::Capabilities::new(
            payments.clone(),
            Arc::new(city),
            config.allow_loopback_for_tests,
        ));
        let runtime = Arc::new(Runtime::new(&RuntimeConfig {
            cache_dir: config.data_dir.join("cache"),
            shared_cache_dir: config.shared_compile_cache.clone(),
            max_instances: config.max_instances,
            app_share_percent: config.app_share_percent,
            max_loaded_components: config.max_loaded_components,
            capabilities: capabilities.clone(),
        })?);
        match identity::bootstrap_operator(
            &store,
            &config.data_dir,
            config.operator_token.as_deref(),
        )
        .await?
        {
            identity::Bootstrapped::Written(path) => {
                tracing::info!(path = %path.display(), "first operator token written");
            }
            identity::Bootstrapped::Configured { id } => {
                tracing::info!(token_id = %id, "operator token from the environment or its file accepted");
            }
            identity::Bootstrapped::ConfiguredButRevoked { id } => {
                tracing::warn!(
                    token_id = %id,
                    "the operator token in CITADEL_OPERATOR_TOKEN was revoked and is refused; \
                     use a token issued with `citadel admin issue-operator-token`"
                );
            }
            identity::Bootstrapped::Nothing => {}
        }
        if let Some(token) = &config.metrics_token {
            anyhow::ensure!(
                token.trim().len() >= 16,
                "the metrics token must be at least 16 characters"
            );
        }
        let registry = Arc::new(Registry::open(store.clone(), runtime.clone()).await?);
        registry.follow_changes();
        if config.install_samples && registry.is_empty() {
            registry.install_samples().await?;
        }
        readiness.loaded(Part::Registry);
        let oidc = match &config.oidc {
            Some(oidc) => {
                // Every host of one store signs and opens the same login cookies.
                let key = store
                    .identity
                    .host_secret(OIDC_COOKIE_KEY, rand::random::<[u8; 32]>().to_vec())
                    .await?;
                let provider = identity::oidc::OidcProvider::new(oidc.clone(), key)
                    .map_err(|e| anyhow::anyhow!("OpenID Connect: {e}"))?;
                tracing::info!(issuer = %oidc.issuer, "citizens sign in with the OpenID provider");
                Some(Arc::new(provider))
            }
            None => None,
        };
        let identity: Arc<dyn identity::citizens::IdentityProvider> = match &oidc {
            Some(provider) => provider.clone(),
            None if config.development => {
                Arc::new(identity::citizens::DevelopmentProvider::default())
            }
            None => Arc::new(identity::citizens::NoProvider),
        };
        let pairwise = identity::pairwise::Pairwise::load_or_create(&store).await?;
        let sessions =
            identity::sessions::Sessions::new(store.clone(), identity::sessions::DEFAULT_TTL);
        readiness.ready();
        Ok(Arc::new(Citadel {
            listener: config.listener,
            readiness,
            shutdown_grace: config.shutdown_grace,
            data_dir: config.data_dir.clone(),
            oidc,
            public_url,
            identity,
            payments,
            positions: identity::location::Positions::new(store.clone()),
            frames: identity::frames::Frames::new(store.clone()),
            credentials: identity::Credentials::new(store.clone(), audit.clone()),
            consents: identity::consent::Consents::new(
                store.clone(),
                audit.clone(),
                pairwise.key().clone(),
            ),
            inbox: identity::inbox::Inbox::new(store.clone()),
            personal_data: identity::personal_data::PersonalDataRights::new(
                store.clone(),
                pairwise.clone(),
                sessions.clone(),
                audit.clone(),
            ),
            sessions,
            pairwise,
            audit,
            store,
            runtime,
            capabilities,
            registry,
            development: config.development,
            metrics_token: config.metrics_token.as_ref().map(|t| t.trim().to_string()),
        }))
    }
}
