//! The wasmtime runtime: one `Engine` (component model, pooling allocator,
//! epoch interruption), compile-once with an on-disk cache of precompiled
//! components, and a fresh instance per request under the app's limits.
//! Owns nothing about routing, identity or storage policy, and knows no
//! capability by name: the host's capabilities plug in through
//! [`HostCapabilities`].

mod body;
mod cache;
pub mod cpu;
mod guest_io;
pub mod limits;
mod resident;
pub mod shape;
mod state;
mod whole;

pub use guest_io::{host_log_lines, one_line};
pub use resident::LazyComponent;
pub use state::{
    AppContext, Caller, DenialRecorder, HostCallBudgetExceeded, RequestState, SignedIn,
    HOST_CALL_BUDGET, MAX_FIELDS_BYTES, MAX_RESOURCES,
};

use body::CappedBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use limits::{Limits, LimitsSpec};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{Error as HttpError, WasiHttpHooks, WasiHttpView};

/// How often the epoch advances; the granularity of deadlines and of yielding
/// a busy guest's thread back to other requests.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks a request runs before its first yield: two, so that it has run at
/// least one whole tick (a request that merely started just before a tick
/// is not sent to the back of the run queue: that made the slowest 1 % of
/// short requests wait a whole queue round) and at most two.
const FIRST_SLICE_TICKS: u64 = 2;

/// Unused slots kept warm for their last module (wasmtime's default: 100).
const WARM_SLOTS: u32 = 16;

/// Bytes of each pooled memory and table kept resident between requests.
const KEEP_RESIDENT: usize = 2 << 20;

/// Request bodies all requests together may hold in memory before their
/// instance runs, in KiB; past it a request gets `host_busy`.
const BODY_BUDGET_KIB: usize = 256 * 1024;
/// Longest pause between two parts of a request body.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time any body may take, plus one second per this many bytes received.
const BODY_BASE_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_MIN_BYTES_PER_SECOND: u64 = 64 * 1024;

/// When a body that began at `started` and has brought `received` bytes so
/// far is too slow: it must keep pace as it arrives, not only by the end of
/// the size it declared, or a client declaring 64 MiB and sending a byte
/// every few seconds would hold its connection for 17 minutes.
fn body_too_slow_at(started: Instant, received: usize) -> Instant {
    started
        + BODY_BASE_TIMEOUT
        + Duration::from_secs_f64(received as f64 / BODY_MIN_BYTES_PER_SECOND as f64)
}

/// A response body up to this size (announced by Content-Length) is
/// collected before the head is sent, so it leaves in one write.
const BUFFERED_RESPONSE: u64 = 64 * 1024;

/// Sizing of the runtime.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Where precompiled components are cached.
    pub cache_dir: PathBuf,
    /// Precompiled components shared with the other hosts of this machine
    /// (see `HostConfig::shared_compile_cache`).
    pub shared_cache_dir: Option<PathBuf>,
    /// Instances that may run at once across all apps (pool size).
    pub max_instances: u32,
    /// The share of `max_instances` one app may hold at once, in percent: a
    /// manifest may not ask for more `max_concurrency`, and none gets more.
    pub app_share_percent: u32,
    /// The host's capabilities.
    pub capabilities: Arc<dyn HostCapabilities>,
    /// Compiled components kept in memory at once; past it the least
    /// recently used is dropped, and loaded again on its next request.
    pub max_loaded_components: usize,
}

/// What the host's capabilities give the runtime: their host calls, the
/// upload check of a component's imports, and each request's capability
/// state. A capability is one module of `capabilities/`; the runtime sees
/// them only through this.
pub trait HostCapabilities: Send + Sync + 'static {
    /// Add every capability's host calls to `linker`.
    fn add_to_linker(&self, linker: &mut Linker<RequestState>) -> wasmtime::Result<()>;
    /// Check that each of a component's imports is provided and covered by
    /// a capability its manifest requests.
    fn check_imports(&self, imports: &[&str], requested: &[String]) -> Result<(), ImportError>;
    /// A new request's capability state — typed values the host calls read
    /// back with [`RequestState::capability`] — and the hooks that decide
    /// its outbound HTTP.
    fn request_state(
        &self,
        app: &Arc<AppContext>,
        denials: &DenialRecorder,
    ) -> (http::Extensions, Box<dyn WasiHttpHooks>);
}

/// Why a component's imports were refused at install.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("the component imports `{import}`, which needs contract {needed}; this host provides {provided}")]
    ContractUnsupported {
        import: String,
        needed: String,
        /// The contract package and version this host provides.
        provided: String,
    },
    #[error("the component imports interfaces its manifest does not request: {}", describe_uncovered(.0))]
    NotRequested(Vec<(String, &'static str)>),
    #[error("the component imports `{0}`, which this host does not provide to mini-apps")]
    NotProvided(String),
}

fn describe_uncovered(missing: &[(String, &'static str)]) -> String {
    missing
        .iter()
        .map(|(import, capability)| format!("`{import}` (needs capability `{capability}`)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a component could not be prepared for serving.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("the component is not valid or could not be compiled: {0}")]
    Compile(String),
    #[error(transparent)]
    Imports(#[from] ImportError),
    #[error("the component cannot be linked against this host: {0}")]
    Link(String),
    #[error("the precompiled cache could not be written: {0}")]
    Cache(String),
    #[error(transparent)]
    Shape(#[from] shape::ShapeError),
    #[error("limits.max_concurrency = {asked} is above this host's share per app of {share} concurrent instances ({percent} % of {max_instances}); ask for at most {share}")]
    ConcurrencyAboveShare {
        asked: u32,
        share: u32,
        percent: u32,
        max_instances: u32,
    },
}

/// Why a component is being prepared: a new version must fit this host's
/// bounds as they are; a stored one is served within them (its concurrency
/// clamped to today's share) so an operator shrinking the pool breaks no app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    NewVersion,
    Stored,
}

/// Why a request to a guest failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("the request body is larger than this app's limit of {0} bytes")]
    RequestTooLarge(u64),
    #[error("the request body did not arrive in time ({0})")]
    RequestBodyTimeout(&'static str),
    #[error("the request body could not be read: {0}")]
    RequestBodyFailed(String),
    #[error(transparent)]
    HostCallBudget(#[from] HostCallBudgetExceeded),
    #[error("the app's response is larger than its limit of {0} bytes")]
    ResponseTooLarge(u64),
    #[error("the app did not answer within its deadline of {0:?}")]
    Deadline(Duration),
    #[error("the app ran out of its memory limit of {0} bytes")]
    OutOfMemory(usize),
    #[error("the app trapped: {0}")]
    Trap(String),
    #[error("the app finished without sending a response")]
    NoResponse,
    #[error("the app's answer is not valid HTTP: {0}")]
    InvalidAnswer(String),
    #[error("the app is serving its maximum of {0} concurrent requests")]
    AppBusy(u32),
    #[error("storage could not make the app's writes durable: {0}")]
    Storage(String),
    #[error("the host is at its instance capacity")]
    HostBusy,
    #[error("the app's component could not be loaded: {0}")]
    Unavailable(String),
}

impl InvokeError {
    /// The metric label of a guest's own failure; `None` for host-side refusals.
    pub fn guest_failure_kind(&self) -> Option<&'static str> {
        match self {
            InvokeError::Deadline(_) => Some("timeout"),
            InvokeError::OutOfMemory(_) => Some("out_of_memory"),
            InvokeError::Trap(_)
            | InvokeError::NoResponse
            | InvokeError::InvalidAnswer(_)
            | InvokeError::HostCallBudget(_) => Some("trap"),
            _ => None,
        }
    }
}

/// A component linked and ready to instantiate: served through the
/// contract's one-call `handler` when it exports it, else through wasi:http.
#[derive(Clone)]
pub enum Prepared {
    /// The one-call `handler` (contract 1.5.0 and later).
    Whole(InstancePre<RequestState>, whole::HandlerIndices),
    /// `wasi:http/incoming-handler`, for a component without `handler` (built
    /// before 1.5.0, or a TypeScript app that exports only `incomingHandler`).
    WasiHttp(ProxyPre<RequestState>),
}

/// One app version ready to serve: its context, its component (loaded on
/// the first request that needs it) and its concurrency limit.
pub struct LiveApp {
    pub context: Arc<AppContext>,
    pub component: Arc<LazyComponent>,
    /// This version's own requests at once (its manifest's `max_concurrency`).
    permits: Arc<Semaphore>,
    /// What the app may take of the host, shared with its other versions.
    share: Arc<AppShare>,
    /// The version, as the header the app and the citizen see.
    pub version_header: http::HeaderValue,
    /// The app's request metrics.
    pub metrics: crate::telemetry::AppMetrics,
}

impl std::fmt::Debug for LiveApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveApp")
            .field("id", &self.context.id)
            .field("version", &self.context.version)
            .finish_non_exhaustive()
    }
}

/// Outbound name look-ups one app may have under way at once, all its
/// versions together (`capabilities::http` also bounds the host's).
pub const MAX_LOOKUPS_PER_APP: usize = 8;

/// What one app may take of this host, whichever of its versions serve (a
/// canary and the live version draw on the same): its share of the
/// instance pool and of the CPU.
pub struct AppShare {
    /// The app's instances at once, across its versions.
    instances: Arc<Semaphore>,
    /// The size of `instances`.
    size: u32,
    /// Slices of CPU-bound work the app's requests may run at once.
    cpu: Arc<Semaphore>,
    /// The app's CPU time per window, charged by every poll of its instances;
    /// binding while another app wants the CPU.
    cpu_budget: Arc<cpu::CpuBudget>,
    /// Its outbound name look-ups at once.
    lookups: Arc<Semaphore>,
}

impl AppShare {
    /// The app's outbound name look-ups at once, for its versions' contexts.
    pub fn lookups(&self) -> Arc<Semaphore> {
        self.lookups.clone()
    }
}

impl LiveApp {
    /// `context.limits` should come from [`Runtime::limits`], which bounds
    /// the app's concurrency by its share of the pool; `share` is the app's
    /// ([`Runtime::new_app_share`]), the same for each of its versions.
    pub fn new(context: AppContext, component: Arc<LazyComponent>, share: Arc<AppShare>) -> Self {
        let permits = Arc::new(Semaphore::new(context.limits.max_concurrency as usize));
        let version_header = http::HeaderValue::from_str(&context.version.to_string())
            .unwrap_or_else(|_| http::HeaderValue::from_static("invalid"));
        LiveApp {
            version_header,
            metrics: crate::telemetry::AppMetrics::new(&context.id),
            context: Arc::new(context),
            component,
            permits,
            share,
        }
    }
}

/// The engine, the linker with every capability, and the compile cache.
pub struct Runtime {
    engine: Engine,
    /// Instances running now across all apps; a request waits here (up to
    /// its deadline) rather than failing when the pool is momentarily full.
    instance_slots: Arc<Semaphore>,
    /// The apps wanting the CPU now, against which each app's quota binds.
    cpu_demand: Arc<cpu::CpuDemand>,
    /// Request bodies held in memory before their instance runs, in KiB.
    body_budget: Arc<Semaphore>,
    /// Instances one app may hold at once.
    app_share: u32,
    app_share_percent: u32,
    max_instances: u32,
    linker: Linker<RequestState>,
    cache: cache::CompileCache,
    capabilities: Arc<dyn HostCapabilities>,
    stop_ticker: Arc<AtomicBool>,
    /// Instances still running, some after their response head went out.
    instances: TaskTracker,
    /// The compiled components in memory now.
    resident: resident::ResidentSet,
    /// Components being loaded at once (a missing precompiled file means a
    /// compile: seconds of CPU each).
    load_slots: Semaphore,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Release);
    }
}

impl Runtime {
    /// Build the engine and linker, and start the epoch ticker.
    pub fn new(config: &RuntimeConfig) -> anyhow::Result<Self> {
        // Every component is bounded in shape (checked at upload, enforced
        // again by the pool), so `max_instances` requests of the largest
        // allowed shape always fit: no app can empty the pool by its shape.
        let instances = config.max_instances.max(1);
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_component_instances(instances)
            .max_core_instances_per_component(shape::MAX_CORE_INSTANCES)
            .max_memories_per_component(shape::MAX_MEMORIES)
            .max_tables_per_component(shape::MAX_TABLES)
            .total_core_instances(instances.saturating_mul(shape::MAX_CORE_INSTANCES))
            .total_memories(instances.saturating_mul(shape::MAX_MEMORIES))
            .total_tables(instances.saturating_mul(shape::MAX_TABLES))
            .table_elements(shape::MAX_TABLE_ELEMENTS as usize)
            .total_stacks(instances)
            // Slots keep some memory resident after use; reuse the warm ones
            // first, so the slots ever used stay close to the most instances
            // running at once and the host's memory stays flat for days.
            .max_unused_warm_slots(WARM_SLOTS)
            .max_memory_size((limits::MAX_MEMORY_MIB << 20) as usize)
            // Reset the pages a request dirtied with memset (found with
            // PAGEMAP_SCAN where the kernel has it) instead of madvise: no
            // TLB shootdown and no page faults on the slot's next use.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut wasm = Config::new();
        wasm.epoch_interruption(true)
            // A trap's backtrace is for the publisher's logs; a guest that
            // recurses 100,000 frames deep must not make the host walk them all.
            .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32))
            .wasm_component_model(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&wasm).map_err(anyhow_from_wasmtime)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow_from_wasmtime)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow_from_wasmtime)?;
        config
            .capabilities
            .add_to_linker(&mut linker)
            .map_err(anyhow_from_wasmtime)?;

        let stop_ticker = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.weak();
        let stop = stop_ticker.clone();
        std::thread::Builder::new()
            .name("citadel-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;

        let percent = config.app_share_percent.clamp(1, 100);
        Ok(Runtime {
            instance_slots: Arc::new(Semaphore::new(instances as usize)),
            cpu_demand: Arc::default(),
            body_budget: Arc::new(Semaphore::new(BODY_BUDGET_KIB)),
            app_share: (instances * percent / 100).max(1),
            app_share_percent: percent,
            max_instances: instances,
            cache: cache::CompileCache::new(
                config.cache_dir.clone(),
                config.shared_cache_dir.clone(),
                &engine,
            )?,
            capabilities: config.capabilities.clone(),
            engine,
            linker,
            stop_ticker,
            instances: TaskTracker::new(),
            resident: resident::ResidentSet::new(config.max_loaded_components),
            load_slots: Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from)),
        })
    }

    /// Stop taking instances and wait for the running ones to finish (each
    /// ends by its deadline at the latest). Called once, at shutdown.
    pub async fn drain(&self) {
        self.instances.close();
        self.instances.wait().await;
    }

    /// Forget the precompiled form of a component no version uses any more.
    pub fn forget(&self, sha256: &str) {
        self.cache.forget(sha256);
    }

    /// How many components this runtime compiled (not loaded from cache).
    pub fn compile_count(&self) -> u64 {
        self.cache.compile_count()
    }

    /// Instances one app may hold at once on this host.
    pub fn app_share(&self) -> u32 {
        self.app_share
    }

    /// A share of this host for one app, to give each of its versions.
    pub fn new_app_share(&self) -> Arc<AppShare> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Arc::new(AppShare {
            instances: Arc::new(Semaphore::new(self.app_share as usize)),
            size: self.app_share,
            cpu: Arc::new(Semaphore::new((cores / 2).max(1))),
            cpu_budget: Arc::new(cpu::CpuBudget::half_the_machine(self.cpu_demand.clone())),
            lookups: Arc::new(Semaphore::new(MAX_LOOKUPS_PER_APP)),
        })
    }

    /// Instances running now, across every app.
    pub fn instances_running(&self) -> usize {
        (self.max_instances as usize).saturating_sub(self.instance_slots.available_permits())
    }

    /// The effective limits of a manifest's `[limits]` on this host: its
    /// concurrency never above the app's share of the pool.
    pub fn limits(&self, spec: &LimitsSpec) -> Limits {
        let mut limits = spec.resolve();
        limits.max_concurrency = limits.max_concurrency.min(self.app_share);
        limits
    }

    /// Check a component's static shape and its manifest's limits against
    /// this host's bounds, compile it (or load it from the cache), check its
    /// imports against the requested capabilities and link it.
    pub fn prepare(
        &self,
        bytes: &[u8],
        sha256: &str,
        requested: &[String],
        limits: &LimitsSpec,
        admission: Admission,
    ) -> Result<Prepared, PrepareError> {
        if admission == Admission::NewVersion {
            if let Some(asked) = limits.max_concurrency.filter(|&c| c > self.app_share) {
                return Err(PrepareError::ConcurrencyAboveShare {
                    asked,
                    share: self.app_share,
                    percent: self.app_share_percent,
                    max_instances: self.max_instances,
                });
            }
        }
        self.compile_checked(
            bytes,
            sha256,
            requested,
            limits.resolve().memory_bytes as u64,
        )
    }

    fn compile_checked(
        &self,
        bytes: &[u8],
        sha256: &str,
        requested: &[String],
        memory_bytes: u64,
    ) -> Result<Prepared, PrepareError> {
        let shape = shape::of_component(bytes).map_err(|e| match e {
            // Bytes that are no component at all are an invalid component.
            shape::ShapeError::Unreadable(why) => PrepareError::Compile(why),
            other => PrepareError::Shape(other),
        })?;
        shape.check(memory_bytes)?;
        self.cache
            .load_or_compile(&self.engine, bytes, sha256, |component| {
                self.link(component, requested)
            })
    }

    fn link(&self, component: &Component, requested: &[String]) -> Result<Prepared, PrepareError> {
        self.check_imports(component, requested)?;
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| PrepareError::Link(format!("{e:#}")))?;
        if let Some(handler) = whole::find(component, &pre)? {
            return Ok(Prepared::Whole(pre, handler));
        }
        let proxy = ProxyPre::new(pre).map_err(|e| {
            PrepareError::Link(format!(
                "the component must export {} or wasi:http/incoming-handler: {e:#}",
                whole::HANDLER_EXPORT
            ))
        })?;
        Ok(Prepared::WasiHttp(proxy))
    }

    /// A component just prepared, counted among those in memory.
    pub fn resident(&self, sha256: &str, pre: Prepared) -> Arc<LazyComponent> {
        let component = Arc::new(LazyComponent::unloaded(sha256.to_string()));
        self.resident.admit(&component, pre);
        component
    }

    /// Compiled components in memory now, loaded since start, and dropped
    /// to make room.
    pub fn resident_counts(&self) -> (usize, u64, u64) {
        let (loads, evictions) = self.resident.counts();
        (self.resident.len(), loads, evictions)
    }

    /// The component of `app`, loaded when it is not in memory: from its
    /// precompiled file (its shape and imports were checked when it was
    /// admitted, and the pool and limiter bound every instance anyway), or,
    /// when there is none (a host upgrade changed the engine), compiled
    /// again from the stored component with every check.
    pub async fn component(self: &Arc<Self>, app: &LiveApp) -> Result<Prepared, PrepareError> {
        let lazy = &app.component;
        if let Some(pre) = lazy.get() {
            return Ok(pre);
        }
        let _loading = lazy.loading.lock().await;
        if let Some(pre) = lazy.get() {
            return Ok(pre);
        }
        let _slot = self
            .load_slots
            .acquire()
            .await
            .map_err(|e| PrepareError::Cache(e.to_string()))?;
        let (sha256, requested) = (lazy.sha256.clone(), app.context.requested.clone());
        let precompiled = self
            .off_thread(move |runtime| {
                runtime.cache.load(&runtime.engine, &sha256, |component| {
                    runtime.link(component, &requested)
                })
            })
            .await?;
        let pre = match precompiled {
            Some(pre) => pre,
            None => {
                let bytes = app
                    .context
                    .store
                    .apps
                    .blob(&lazy.sha256)
                    .await
                    .map_err(|e| PrepareError::Cache(e.to_string()))?
                    .ok_or_else(|| {
                        PrepareError::Cache(format!("the component {} is missing", lazy.sha256))
                    })?;
                let (sha256, requested) = (lazy.sha256.clone(), app.context.requested.clone());
                let memory_bytes = app.context.limits.memory_bytes as u64;
                self.off_thread(move |runtime| {
                    runtime.compile_checked(&bytes, &sha256, &requested, memory_bytes)
                })
                .await?
            }
        };
        self.resident.admit(lazy, pre.clone());
        Ok(pre)
    }

    /// `work` on a blocking thread: loading and compiling take the CPU for
    /// milliseconds to seconds, never an async worker's.
    async fn off_thread<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Runtime) -> Result<T, PrepareError> + Send + 'static,
    ) -> Result<T, PrepareError> {
        let runtime = self.clone();
        tokio::task::spawn_blocking(move || work(&runtime))
            .await
            .map_err(|e| PrepareError::Compile(format!("the load task failed: {e}")))?
    }

    fn check_imports(
        &self,
        component: &Component,
        requested: &[String],
    ) -> Result<(), PrepareError> {
        let ty = component.component_type();
        let names: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.capabilities.check_imports(&names, requested)?;
        Ok(())
    }

    /// Serve one request with a fresh instance of `app`, within its limits.
    /// The guest's kv writes are written at once and made durable together
    /// (one store commit) before the response head — and again before a
    /// buffered body — is returned, so the answer never runs ahead of its data.
    pub async fn handle(
        self: &Arc<Self>,
        app: &LiveApp,
        request: http::Request<axum::body::Body>,
        caller: Caller,
    ) -> Result<http::Response<HyperOutgoingBody>, InvokeError> {
        let limits = app.context.limits;
        // The whole body arrives before an instance or a slot is taken: a
        // slow client holds a connection and some buffered bytes, never a
        // share of the pool that other apps need.
        let (parts, body) = request.into_parts();
        let (body, body_permit) = self
            .read_body(&parts.headers, body, limits.max_request_body)
            .await?;
        let pre = self
            .component(app)
            .await
            .map_err(|e| InvokeError::Unavailable(e.to_string()))?;
        let started = Instant::now();
        self.resident.touch(&app.component, started);
        let deadline = started + limits.timeout;
        let app_permits = (
            acquire(app, deadline).await?,
            app.share.cpu_budget.wants_cpu(),
        );
        app.share.cpu_budget.wait_turn(deadline).await;
        if Instant::now() >= deadline {
            return Err(InvokeError::Deadline(limits.timeout));
        }
        let slot = match tokio::time::timeout_at(
            deadline.into(),
            self.instance_slots.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(slot)) => slot,
            _ => return Err(InvokeError::HostBusy),
        };

        let deferred = Arc::new(state::DeferredWrites::default());
        let mut store = Store::new(
            &self.engine,
            RequestState::new(
                app.context.clone(),
                caller,
                self.capabilities.as_ref(),
                deferred.clone(),
            ),
        );
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(FIRST_SLICE_TICKS);
        // A request still running after its first slice is CPU-bound:
        // between ticks it gives the thread back (to the back of the run queue: a plain
        // self-wake would land in tokio's LIFO slot and run it again at
        // once), and it runs its next slice only holding one of its app's
        // CPU slots — so one app's busy guests share a bounded part of the
        // machine and never starve other apps or the gateway.
        let cpu = app.share.cpu.clone();
        let cpu_budget = app.share.cpu_budget.clone();
        let cpu_slot: Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>> = Arc::default();
        store.epoch_deadline_callback(move |_| {
            let slot = cpu_slot.clone();
            if let Ok(mut held) = slot.lock() {
                held.take();
            }
            if Instant::now() >= deadline {
                return Ok(UpdateDeadline::Interrupt);
            }
            let cpu = cpu.clone();
            let cpu_budget = cpu_budget.clone();
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    cpu_budget.wait_turn(deadline).await;
                    let acquired =
                        tokio::time::timeout_at(deadline.into(), cpu.acquire_owned()).await;
                    if let (Ok(Ok(permit)), Ok(mut held)) = (acquired, slot.lock()) {
                        *held = Some(permit);
                    }
                }),
            ))
        });

        let memory_cap = limits.memory_bytes;
        let timeout = limits.timeout;
        let charged_to = app.share.cpu_budget.clone();
        let permits = (app_permits, slot);
        let proxy = match pre {
            Prepared::WasiHttp(proxy) => proxy,
            Prepared::Whole(pre, handler) => {
                // The whole request in, the whole answer out: the instance's
                // writes are durable before the answer exists.
                let is_head = parts.method == http::Method::HEAD;
                let request = whole::request(&parts, body);
                let (task_deferred, task_store) = (deferred, app.context.store.clone());
                let mut instance = Inline::new(self.instances.track_future(cpu::Charged::new(
                    async move {
                        drop(body_permit);
                        let run = whole::call(&pre, &handler, &mut store, &request);
                        let outcome = match tokio::time::timeout_at(deadline.into(), run).await {
                            Err(_elapsed) => Err(InvokeError::Deadline(timeout)),
                            Ok(Ok(answer)) => Ok(answer),
                            Ok(Err(error)) => {
                                Err(classify(&error, store.data(), memory_cap, timeout))
                            }
                        };
                        drop(store);
                        drop(permits);
                        task_deferred
                            .make_durable(&task_store)
                            .await
                            .map_err(InvokeError::Storage)?;
                        outcome
                    },
                    charged_to,
                )));
                let answer = instance
                    .finish()
                    .await
                    .unwrap_or(Err(InvokeError::NoResponse))?;
                return whole::response(answer, is_head, limits.max_response_body);
            }
        };

        let scheme = scheme_of(&parts.uri);
        let request = http::Request::from_parts(
            parts,
            http_body_util::Full::new(body)
                .map_err(|never: std::convert::Infallible| -> HttpError { match never {} }),
        );
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let data = store.data_mut();
        let wasi_request = data
            .http()
            .new_incoming_request(scheme, request)
            .map_err(|e| InvokeError::Trap(format!("{e:#}")))?;
        let out = data
            .http()
            .new_response_outparam(sender)
            .map_err(|e| InvokeError::Trap(format!("{e:#}")))?;
        let (task_deferred, task_store) = (deferred.clone(), app.context.store.clone());
        let mut instance = Inline::new(self.instances.track_future(cpu::Charged::new(
            async move {
                drop(body_permit);
                let run = async {
                    let proxy = proxy.instantiate_async(&mut store).await?;
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, wasi_request, out)
                        .await
                };
                let outcome = match tokio::time::timeout_at(deadline.into(), run).await {
                    Err(_elapsed) => Err(InvokeError::Deadline(timeout)),
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(classify(&error, store.data(), memory_cap, timeout)),
                };
                // The instance's tear-down is the app's work too.
                drop(store);
                // The app's slots go back before any wait on the disk.
                drop(permits);
                // Writes made after the response head went out (usually
                // none: the response path's own sync already covers them).
                if let Err(e) = task_deferred.make_durable(&task_store).await {
                    tracing::error!(error = %e, "an app's late writes could not be made durable");
                }
                outcome
            },
            charged_to,
        )));

        let response = match instance.until(receiver).await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                return Err(InvokeError::Trap(format!(
                    "the app answered with an error: {code:?}"
                )))
            }
            // The instance dropped its response without setting it.
            Err(_) => {
                return Err(match instance.finish().await {
                    Some(Err(error)) => error,
                    _ => InvokeError::NoResponse,
                })
            }
        };
        deferred
            .make_durable(&app.context.store)
            .await
            .map_err(InvokeError::Storage)?;
        let announced = content_length(response.headers());
        if announced.is_some_and(|len| len > limits.max_response_body) {
            return Err(InvokeError::ResponseTooLarge(limits.max_response_body));
        }
        if announced.is_some_and(|len| len <= BUFFERED_RESPONSE) {
            let (parts, body) = response.into_parts();
            let collect = tokio::time::timeout_at(deadline.into(), body.collect());
            let bytes = match instance.until(collect).await {
                Err(_elapsed) => return Err(InvokeError::Deadline(limits.timeout)),
                Ok(Err(e)) => {
                    return Err(InvokeError::Trap(format!(
                        "the response body failed: {e:?}"
                    )))
                }
                Ok(Ok(collected)) => collected.to_bytes(),
            };
            deferred
                .make_durable(&app.context.store)
                .await
                .map_err(InvokeError::Storage)?;
            let body = http_body_util::Full::new(bytes)
                .map_err(|never| match never {})
                .boxed_unsync();
            return Ok(http::Response::from_parts(parts, body));
        }
        let exceeded = Arc::new(AtomicBool::new(false));
        Ok(response.map(|body| {
            CappedBody::new(body, limits.max_response_body, exceeded, |limit| {
                HttpError::HttpResponseBodySize(Some(limit))
            })
            .boxed_unsync()
        }))
    }
}

/// An instance run in its request's own task (no task spawn, no wake-up
/// from another task) until the request has its answer. What is left of
/// it then — a body still streaming, a guest still running, or a client
/// gone — goes on in a task of its own, so it still ends by its deadline
/// and makes its late writes durable.
struct Inline<T: Send + 'static, F: Future<Output = Result<T, InvokeError>> + Send + 'static> {
    running: Option<Pin<Box<F>>>,
    outcome: Option<Result<T, InvokeError>>,
}

impl<T: Send + 'static, F: Future<Output = Result<T, InvokeError>> + Send + 'static> Inline<T, F> {
    fn new(instance: F) -> Self {
        Inline {
            running: Some(Box::pin(instance)),
            outcome: None,
        }
    }

    /// Run the instance until `wanted` is ready.
    async fn until<W>(&mut self, wanted: impl Future<Output = W>) -> W {
        tokio::pin!(wanted);
        if let Some(running) = self.running.as_mut() {
            let finished = tokio::select! {
                biased;
                outcome = running.as_mut() => outcome,
                value = &mut wanted => return value,
            };
            self.running = None;
            self.outcome = Some(finished);
        }
        wanted.await
    }

    /// Run the instance to its end; how it ended (`None` once told).
    async fn finish(&mut self) -> Option<Result<T, InvokeError>> {
        if let Some(running) = self.running.take() {
            self.outcome = Some(running.await);
        }
        self.outcome.take()
    }
}

impl<T: Send + 'static, F: Future<Output = Result<T, InvokeError>> + Send + 'static> Drop
    for Inline<T, F>
{
    fn drop(&mut self) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        // A guest that has just finished its body usually returns at once.
        if futures::FutureExt::now_or_never(&mut running).is_some() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(running);
        }
    }
}

impl Runtime {
    /// Read a request's whole body, at most `limit` bytes, within
    /// [`BODY_IDLE_TIMEOUT`] between chunks and a total time that grows with
    /// its size; its bytes count against the host's body budget until the
    /// returned permit is dropped.
    async fn read_body(
        &self,
        headers: &http::HeaderMap,
        mut body: axum::body::Body,
        limit: u64,
    ) -> Result<(Bytes, Option<OwnedSemaphorePermit>), InvokeError> {
        use http_body::Body as _;
        if body.is_end_stream() {
            return Ok((Bytes::new(), None));
        }
        let announced = content_length(headers);
        if announced.is_some_and(|length| length > limit) {
            return Err(InvokeError::RequestTooLarge(limit));
        }
        let started = Instant::now();
        let mut held: Option<OwnedSemaphorePermit> = None;
        let mut held_kib: u64 = 0;
        let mut collected = bytes::BytesMut::new();
        loop {
            let too_slow = body_too_slow_at(started, collected.len());
            let idle_deadline = (Instant::now() + BODY_IDLE_TIMEOUT).min(too_slow);
            let frame = match tokio::time::timeout_at(idle_deadline.into(), body.frame()).await {
                Err(_) if Instant::now() >= too_slow => {
                    return Err(InvokeError::RequestBodyTimeout(
                        "the body arrived more slowly than 64 KiB a second",
                    ))
                }
                Err(_) => {
                    return Err(InvokeError::RequestBodyTimeout(
                        "no part of the body arrived for 5 seconds",
                    ))
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(InvokeError::RequestBodyFailed(e.to_string())),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if collected.len() as u64 + data.len() as u64 > limit {
                return Err(InvokeError::RequestTooLarge(limit));
            }
            collected.extend_from_slice(&data);
            let needed_kib = (collected.len() as u64).div_ceil(1024);
            if needed_kib > held_kib {
                let more =
                    u32::try_from(needed_kib - held_kib).map_err(|_| InvokeError::HostBusy)?;
                let permit = self
                    .body_budget
                    .clone()
                    .try_acquire_many_owned(more)
                    .map_err(|_| InvokeError::HostBusy)?;
                match held.as_mut() {
                    Some(held) => held.merge(permit),
                    None => held = Some(permit),
                }
                held_kib = needed_kib;
            }
        }
        Ok((collected.freeze(), held))
    }
}

/// A place for one more request of `app`, by `deadline`: one of its
/// version's own, and one of the app's share of the host.
async fn acquire(
    app: &LiveApp,
    deadline: Instant,
) -> Result<[OwnedSemaphorePermit; 2], InvokeError> {
    let within = |semaphore: &Arc<Semaphore>| {
        tokio::time::timeout_at(deadline.into(), semaphore.clone().acquire_owned())
    };
    let Ok(Ok(version)) = within(&app.permits).await else {
        return Err(InvokeError::AppBusy(app.context.limits.max_concurrency));
    };
    let Ok(Ok(share)) = within(&app.share.instances).await else {
        return Err(InvokeError::AppBusy(app.share.size));
    };
    Ok([version, share])
}

/// The scheme the guest is told: the one of the address the gateway gives
/// (the public URL's when the host has one), else `http`.
fn scheme_of(uri: &http::Uri) -> Scheme {
    if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        Scheme::Https
    } else {
        Scheme::Http
    }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Turn a wasmtime error from instantiating or running a guest into the
/// request's failure.
fn classify(
    error: &wasmtime::Error,
    state: &RequestState,
    memory_cap: usize,
    timeout: Duration,
) -> InvokeError {
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return InvokeError::HostBusy;
    }
    if state.limiter.exhausted() {
        return InvokeError::OutOfMemory(memory_cap);
    }
    if let Some(budget) = error.downcast_ref::<HostCallBudgetExceeded>() {
        return InvokeError::HostCallBudget(HostCallBudgetExceeded(budget.0));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => InvokeError::Deadline(timeout),
        Some(trap) => InvokeError::Trap(trap.to_string()),
        None => InvokeError::Trap(format!("{error:#}")),
    }
}

fn anyhow_from_wasmtime(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}

/// Bytes of a response body already collected (used by tests and benchmarks).
pub async fn collect_body(body: HyperOutgoingBody) -> Result<Bytes, HttpError> {
    Ok(body.collect().await?.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_is_told_the_scheme_of_the_address_it_is_given() {
        let scheme = |uri: &str| scheme_of(&uri.parse().unwrap());
        assert!(matches!(
            scheme("https://citadel.hue.gov.vn/a"),
            Scheme::Https
        ));
        assert!(matches!(scheme("http://localhost/a"), Scheme::Http));
        assert!(matches!(scheme("/a"), Scheme::Http));
    }

    #[test]
    fn a_body_keeps_pace_as_it_arrives() {
        let started = Instant::now();
        // Ten seconds of grace, then 64 KiB a second on average so far.
        assert_eq!(body_too_slow_at(started, 0), started + BODY_BASE_TIMEOUT);
        assert_eq!(
            body_too_slow_at(started, 640 * 1024),
            started + BODY_BASE_TIMEOUT + Duration::from_secs(10)
        );
        // A trickle that declared 64 MiB has no more time than its bytes
        // earn: a byte every 4.9 seconds is cut off after about 10 seconds,
        // not after the 17 minutes its declared size would allow.
        let trickled = body_too_slow_at(started, 3);
        assert!(trickled < started + BODY_BASE_TIMEOUT + Duration::from_millis(1));
        assert_eq!(
            BODY_MIN_BYTES_PER_SECOND,
            64 * 1024,
            "the refusal says 64 KiB"
        );
    }
}
