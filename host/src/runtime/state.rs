//! The per-request store data (`RequestState`): WASI and wasi:http contexts,
//! the memory limiter, and the app context that capabilities read. Built fresh
//! for every request; nothing in it outlives the request.

use super::guest_io::GuestOutput;
use super::limits::{Limits, RequestLimiter};
use crate::audit::{messages, AuditLog, AuditMessage, Event};
use crate::citizen::{Citizen, Position, SessionKey};
use crate::localized::Localized;
use crate::store::Store;
use semver::Version;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// What the host knows about the app version serving a request.
pub struct AppContext {
    pub id: String,
    pub version: Version,
    /// The publisher's id, from the manifest.
    pub publisher: String,
    /// Display names, from the manifest.
    pub name: Localized,
    /// What the app does, its catalogue category and icon, from the manifest.
    pub description: Localized,
    pub category: String,
    pub icon: String,
    /// Why the app needs each personal scope, from the manifest.
    pub purposes: BTreeMap<String, Localized>,
    /// The route told about the app's payments, from the manifest.
    pub payment_hook: Option<String>,
    /// What this version's manifest requests.
    pub requested: Vec<String>,
    /// What the city granted this version; shared with the registry, so a
    /// change holds from the next host call without a restart.
    pub granted: Arc<RwLock<BTreeSet<String>>>,
    pub limits: Limits,
    /// The app's name look-ups at once, shared by its versions
    /// (`capabilities::http`).
    pub lookups: Arc<tokio::sync::Semaphore>,
    pub store: Store,
    pub audit: AuditLog,
}

impl AppContext {
    /// Effective = requested ∩ granted.
    pub fn has_capability(&self, name: &str) -> bool {
        self.requested.iter().any(|c| c == name)
            && self
                .granted
                .read()
                .is_ok_and(|granted| granted.contains(name))
    }

    /// What the city grants this version now.
    pub fn granted_now(&self) -> BTreeSet<String> {
        self.granted.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// Replace what the city grants this version, from the next host call.
    pub fn grant(&self, capabilities: BTreeSet<String>) {
        if let Ok(mut granted) = self.granted.write() {
            *granted = capabilities;
        }
    }
}

/// The citizen signed in for a request, as the host knows them.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub citizen: Citizen,
    /// Their pairwise id for the app being called.
    pub pairwise_id: String,
    /// Where their device last said it was, if recently.
    pub position: Option<Position>,
    /// The session the request came with (the sha256 of its token; for an
    /// app in the shell's frame, the session the frame was opened from).
    /// What the request writes to the citizen's space lands only while it
    /// is live.
    pub session: SessionKey,
}

/// On whose behalf a request runs.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub request_id: String,
    pub citizen: Option<SignedIn>,
}

/// Host calls one request may make to one interface; the next one traps.
/// Far above what any real page needs (a page with 100 kv reads is large),
/// far below what a loop can do to the audit log, the store or the logs.
pub const HOST_CALL_BUDGET: u32 = 5_000;

/// Resources (fields, bodies, streams, outgoing requests, …) one request may
/// hold at once; the next one traps. Each lives in the host's memory, outside
/// the guest's memory limit. A page that makes its 50 outbound calls holds a
/// few hundred.
pub const MAX_RESOURCES: usize = 1_000;

/// Bytes of names and values one set of HTTP fields may hold (wasmtime's
/// default is 128 KiB). With [`MAX_RESOURCES`] this bounds what a guest can
/// pile up in the host's memory through header maps to 32 MiB a request.
pub const MAX_FIELDS_BYTES: usize = 32 * 1024;

/// A guest used up its host-call budget for an interface: the call traps.
#[derive(Debug, thiserror::Error)]
#[error("the app made more than {HOST_CALL_BUDGET} `{0}` host calls in one request")]
pub struct HostCallBudgetExceeded(pub &'static str);

/// Records a request's refused host calls: the first refusal of each
/// capability is logged, audited and counted at once; repeats are only
/// counted, and written as one record with their number when the request
/// ends — so a guest refused in a loop writes two audit records, not 100,000.
#[derive(Clone)]
pub struct DenialRecorder {
    inner: Arc<DenialLog>,
}

struct DenialLog {
    app: Arc<AppContext>,
    request_id: String,
    pairwise_id: Option<String>,
    /// Per capability: (metric label, repeats after the first).
    seen: std::sync::Mutex<BTreeMap<String, (String, u64)>>,
}

impl DenialRecorder {
    fn new(app: Arc<AppContext>, request_id: String, pairwise_id: Option<String>) -> Self {
        DenialRecorder {
            inner: Arc::new(DenialLog {
                app,
                request_id,
                pairwise_id,
                seen: std::sync::Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The id of the request whose refusals this records.
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    /// A host call was refused for lack of `capability`: log, audit, count.
    /// `metric_label` is the capability as counted (bounded for `http:`);
    /// `why` is from the audit catalogue (`messages::DENIED_*`).
    pub fn record(&self, capability: &str, metric_label: &str, why: AuditMessage) {
        let first = match self.inner.seen.lock() {
            Ok(mut seen) => match seen.get_mut(capability) {
                Some(entry) => {
                    entry.1 += 1;
                    false
                }
                None => {
                    seen.insert(capability.to_string(), (metric_label.to_string(), 0));
                    true
                }
            },
            Err(_) => false,
        };
        if first {
            self.inner.write(capability, metric_label, why, 1);
        }
    }
}

impl DenialLog {
    /// Log, audit and count `count` refusals; a repeat's record says how
    /// many (its reason is the first record's of the same request).
    fn write(&self, capability: &str, metric_label: &str, why: AuditMessage, count: u64) {
        if super::guest_io::host_log_lines().allow() {
            tracing::warn!(
                app = %self.app.id,
                version = %self.app.version,
                request_id = %self.request_id,
                capability,
                why = %why.code,
                count,
                "host call denied"
            );
        }
        self.app.audit.record_in_background(Event {
            kind: "denial",
            actor: "app".into(),
            app: Some(self.app.id.clone()),
            version: Some(self.app.version.to_string()),
            capability: Some(capability.to_string()),
            pairwise_id: self.pairwise_id.clone(),
            request_id: Some(self.request_id.clone()),
            message: Some(why),
            ..Event::default()
        });
        crate::telemetry::denials(&self.app.id, metric_label, count);
    }
}

impl Drop for DenialLog {
    fn drop(&mut self) {
        let seen = std::mem::take(self.seen.get_mut().unwrap_or_else(|p| p.into_inner()));
        for (capability, (label, repeats)) in seen {
            if repeats > 0 {
                let again = messages::DENIED_AGAIN.with("count", repeats);
                self.write(&capability, &label, again, repeats);
            }
        }
    }
}

/// How many host calls a request made, per interface.
#[derive(Default)]
struct HostCalls {
    counts: Vec<(&'static str, u32)>,
}

impl HostCalls {
    fn spend(&mut self, interface: &'static str) -> Result<(), HostCallBudgetExceeded> {
        let count = match self.counts.iter_mut().find(|(name, _)| *name == interface) {
            Some((_, count)) => count,
            None => {
                self.counts.push((interface, 0));
                &mut self.counts.last_mut().expect("just pushed").1
            }
        };
        *count += 1;
        if *count > HOST_CALL_BUDGET {
            Err(HostCallBudgetExceeded(interface))
        } else {
            Ok(())
        }
    }
}

/// A request's deferred store writes and how many are known durable. Each
/// party that must not answer before them (the response path, the
/// instance's end) syncs the store for what it has itself seen written —
/// never relying on a sync another party started, which may still be
/// running — and records the count once its own sync has completed.
#[derive(Default)]
pub struct DeferredWrites {
    written: AtomicU64,
    durable: AtomicU64,
}

impl DeferredWrites {
    fn record(&self) {
        self.written.fetch_add(1, Ordering::AcqRel);
    }

    /// Make every write recorded so far durable through `store`, unless a
    /// completed sync already covers them.
    pub async fn make_durable(&self, store: &crate::store::Store) -> Result<(), String> {
        let written = self.written.load(Ordering::Acquire);
        if written <= self.durable.load(Ordering::Acquire) {
            return Ok(());
        }
        store.kv.sync().await.map_err(|e| e.to_string())?;
        self.durable.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }
}

/// The data of one request's wasmtime `Store`.
pub struct RequestState {
    pub(crate) app: Arc<AppContext>,
    pub(crate) request_id: String,
    pub(crate) citizen: Option<SignedIn>,
    /// Each capability's state for this request, by type.
    capabilities: http::Extensions,
    deferred: Arc<DeferredWrites>,
    pub(crate) limiter: RequestLimiter,
    pub(crate) log_lines: u32,
    denials: DenialRecorder,
    host_calls: HostCalls,
    /// Built on the guest's first WASI call: most requests to an app that
    /// exports the one-call `handler` make none.
    wasi: Option<WasiCtx>,
    http: WasiHttpCtx,
    hooks: Box<dyn WasiHttpHooks>,
    table: ResourceTable,
}

impl RequestState {
    pub(crate) fn new(
        app: Arc<AppContext>,
        caller: Caller,
        capabilities: &dyn super::HostCapabilities,
        deferred: Arc<DeferredWrites>,
    ) -> Self {
        let Caller {
            request_id,
            citizen,
        } = caller;
        let denials = DenialRecorder::new(
            app.clone(),
            request_id.clone(),
            citizen.as_ref().map(|c| c.pairwise_id.clone()),
        );
        let (capabilities, hooks) = capabilities.request_state(&app, &denials);
        RequestState {
            limiter: RequestLimiter::new(app.limits.memory_bytes),
            log_lines: 0,
            host_calls: HostCalls::default(),
            hooks,
            app,
            request_id,
            citizen,
            capabilities,
            denials,
            wasi: None,
            http: {
                let mut http = WasiHttpCtx::new();
                http.set_field_size_limit(MAX_FIELDS_BYTES);
                http
            },
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_RESOURCES);
                table
            },
            deferred,
        }
    }

    /// A capability's state for this request (put there by
    /// [`super::HostCapabilities::request_state`]).
    pub(crate) fn capability<T: Clone + Send + Sync + 'static>(&self) -> Option<&T> {
        self.capabilities.get::<T>()
    }

    /// Run `write`, a store write that does not wait for durability, and
    /// count it for the runtime, which makes it durable before the answer
    /// (or, for a write after the answer was set, before the instance ends).
    /// Counted once done: a sync that ran while it was under way did not
    /// cover it.
    pub(crate) fn deferred_write<W: std::future::Future>(
        &self,
        write: W,
    ) -> impl std::future::Future<Output = W::Output> {
        let deferred = self.deferred.clone();
        async move {
            let done = write.await;
            deferred.record();
            done
        }
    }

    /// Count one host call to `interface`; past the request's budget the
    /// call traps (every host call starts with this).
    pub(crate) fn spend(&mut self, interface: &'static str) -> wasmtime::Result<()> {
        self.host_calls
            .spend(interface)
            .map_err(wasmtime::Error::new)
    }

    /// The start of every host call: spend one call of `interface`'s budget
    /// (trapping past it).
    pub(crate) fn host_call(&mut self, interface: &'static str) -> wasmtime::Result<()> {
        self.spend(interface)
    }

    /// A host call was refused for lack of `capability`: log, audit, count
    /// (`why` from the audit catalogue).
    pub(crate) fn record_denial(&self, capability: &str, why: AuditMessage) {
        self.denials.record(capability, capability, why);
    }
}

/// The guest's WASI, locked down: no preopened directory, no network, empty
/// environment and arguments; stdout and stderr go to the host's logs.
fn locked_down_wasi(app: &str, request_id: &str) -> WasiCtx {
    let output = |stream| GuestOutput::new(app, request_id, stream);
    WasiCtx::builder()
        .stdout(output("stdout"))
        .stderr(output("stderr"))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self
            .wasi
            .get_or_insert_with(|| locked_down_wasi(&self.app.id, &self.request_id));
        WasiCtxView {
            ctx: wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: self.hooks.as_mut(),
        }
    }
}
