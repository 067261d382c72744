//! The per-request store data (`RequestState`): WASI and wasi:http contexts,
//! the memory limiter, and the app context that capabilities read. Built fresh
//! for every request; nothing in it outlives the request.

use super::guest_io::GuestOutput;
use super::limits::{Limits, MemoryLimiter};
use crate::audit::{AuditLog, Event};
use crate::capabilities::http::{OutboundHooks, OutboundPolicy};
use crate::identity::citizens::Citizen;
use crate::registry::manifest::Localized;
use crate::store::Store;
use semver::Version;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

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
    /// What the operator granted the app; shared with the registry, so a
    /// change holds from the next host call without a restart.
    pub granted: Arc<RwLock<BTreeSet<String>>>,
    pub limits: Limits,
    pub store: Arc<dyn Store>,
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
}

/// The citizen signed in for a request, as the host knows them.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub citizen: Citizen,
    /// Their pairwise id for the app being called.
    pub pairwise_id: String,
    /// Where their device last said it was, if recently.
    pub position: Option<crate::identity::location::Position>,
}

/// On whose behalf a request runs.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub request_id: String,
    pub citizen: Option<SignedIn>,
}

/// Who a host call is for, as the audit log and metrics record a denial.
#[derive(Clone)]
pub struct DenialRecorder {
    app: Arc<AppContext>,
    request_id: String,
    pairwise_id: Option<String>,
}

impl DenialRecorder {
    /// A host call was refused for lack of `capability`: log, audit, count.
    /// `metric_label` is the capability as counted (bounded for `http:`).
    pub fn record(&self, capability: &str, metric_label: &str, why: &str) {
        tracing::warn!(
            app = %self.app.id,
            version = %self.app.version,
            request_id = %self.request_id,
            capability,
            why,
            "host call denied"
        );
        self.app.audit.record(Event {
            kind: "denial",
            actor: "app".into(),
            app: Some(self.app.id.clone()),
            version: Some(self.app.version.to_string()),
            capability: Some(capability.to_string()),
            pairwise_id: self.pairwise_id.clone(),
            request_id: Some(self.request_id.clone()),
            detail: why.to_string(),
        });
        crate::telemetry::denial(&self.app.id, metric_label);
    }
}

/// The data of one request's wasmtime `Store`.
pub struct RequestState {
    pub(crate) app: Arc<AppContext>,
    pub(crate) request_id: String,
    pub(crate) citizen: Option<SignedIn>,
    pub(crate) payments: Option<Arc<crate::payments::Payments>>,
    pub(crate) city: Arc<crate::geo::City>,
    pub(crate) limiter: MemoryLimiter,
    denials: DenialRecorder,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    table: ResourceTable,
    unflushed: Arc<AtomicBool>,
}

impl RequestState {
    pub(crate) fn new(
        app: Arc<AppContext>,
        caller: Caller,
        outbound: Arc<OutboundPolicy>,
        payments: Option<Arc<crate::payments::Payments>>,
        city: Arc<crate::geo::City>,
        unflushed: Arc<AtomicBool>,
    ) -> Self {
        let Caller {
            request_id,
            citizen,
        } = caller;
        let output = |stream| GuestOutput::new(&app.id, &request_id, stream);
        // Locked down: no preopened directory, no network, empty environment
        // and arguments; stdout and stderr go to the host's logs.
        let wasi = WasiCtx::builder()
            .stdout(output("stdout"))
            .stderr(output("stderr"))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let denials = DenialRecorder {
            app: app.clone(),
            request_id: request_id.clone(),
            pairwise_id: citizen.as_ref().map(|c| c.pairwise_id.clone()),
        };
        RequestState {
            limiter: MemoryLimiter::new(app.limits.memory_bytes),
            hooks: OutboundHooks::new(app.clone(), outbound, denials.clone()),
            app,
            request_id,
            citizen,
            payments,
            city,
            denials,
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            unflushed,
        }
    }

    /// A host call wrote to the store; the gateway flushes before answering.
    pub(crate) fn mark_unflushed(&self) {
        self.unflushed.store(true, Ordering::Release);
    }

    /// A host call was refused for lack of `capability`: log, audit, count.
    pub(crate) fn record_denial(&self, capability: &str, why: &str) {
        self.denials.record(capability, capability, why);
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
