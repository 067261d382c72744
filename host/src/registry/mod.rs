//! The registry of mini-apps: every uploaded version and its state, and the
//! versions serving each app — live, and a canary for a stable share of
//! callers — swapped atomically so in-flight requests finish on the version
//! they began with. Reads every app at start-up from the store, loading
//! each component from the compile cache on its first request. The publishing lifecycle (upload,
//! review, rollout, rollback) lives in `lifecycle.rs`, the publishers and
//! their keys in `publishers.rs`.

mod grants;
mod lifecycle;
pub mod manifest;
pub mod package;
pub mod publishers;

pub use crate::store::{AppRecord, VersionRecord, VersionState};
pub use grants::GrantError;
pub use lifecycle::{LifecycleError, UploadError, KEPT_VERSIONS};
pub use publishers::{PublisherError, Publishers};

use crate::audit::{messages, AuditLog, Event};
use crate::runtime::{
    Admission, AppContext, AppShare, LazyComponent, LiveApp, PrepareError, Runtime,
};
use crate::store::{AppChange, GrantRecord, Store, StoreError};
use manifest::{Manifest, ManifestError};
use semver::Version;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Why a direct install (the host's samples, an operator's install) was
/// refused. Nothing is stored when it is.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "{app} {offered} is not newer than its version {newest}: raise `version` in \
         manifest.toml to {} or higher, then build, package and publish again",
        next_patch(.newest)
    )]
    VersionNotNewer {
        app: String,
        offered: Version,
        newest: Version,
    },
    #[error("the manifest needs contract {required}, but this host provides {provided}")]
    ContractUnsupported {
        required: semver::VersionReq,
        provided: Version,
    },
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Grant(#[from] GrantError),
    #[error("a sample's publisher could not be registered: {0}")]
    SamplePublisher(#[from] PublisherError),
}

/// The publishers of the samples built into the host, with the names
/// citizens see.
const SAMPLE_PUBLISHERS: &[(&str, &str)] = &[
    ("citadel-samples", "Citadel (ứng dụng mẫu)"),
    ("hue-city", "UBND thành phố Huế"),
    ("hue-digital-map", "Bản đồ số thành phố Huế"),
    (
        "hue-ioc",
        "Trung tâm Giám sát, điều hành đô thị thông minh Huế",
    ),
    ("huetourist", "Trung tâm Bảo tồn Di tích Cố đô Huế"),
    ("huewaco", "Công ty CP Cấp nước Thừa Thiên Huế"),
    ("baidoxe-hue", "Trung tâm Quản lý bãi đỗ xe thành phố Huế"),
];

impl InstallError {
    /// Whether the component needs a contract this host does not provide.
    pub fn is_contract(&self) -> bool {
        matches!(
            self,
            InstallError::ContractUnsupported { .. }
                | InstallError::Prepare(PrepareError::Imports(
                    crate::capabilities::ImportError::ContractUnsupported { .. }
                ))
        )
    }
}

/// The versions serving one app.
#[derive(Debug, Clone)]
pub struct AppSlot {
    pub record: AppRecord,
    pub live: Option<Arc<LiveApp>>,
    pub canary: Option<Arc<LiveApp>>,
}

impl AppSlot {
    /// Whether this slot is `record` and serves the versions it names.
    fn serves(&self, record: &AppRecord) -> bool {
        let name = |app: &Option<Arc<LiveApp>>| app.as_ref().map(|a| a.context.version.to_string());
        self.record == *record
            && name(&self.live) == record.live
            && name(&self.canary) == record.canary
    }
}

/// Which version answers a caller.
pub enum Route {
    Serve {
        app: Arc<LiveApp>,
        /// The bucket drawn for an anonymous caller who had none while the
        /// app has a canary: the gateway sets it as a cookie, so the caller
        /// stays on the version it got. Outside a canary nobody needs one.
        new_bucket: Option<String>,
    },
    /// The operator suspended the app; the reason.
    Suspended(String),
    NotFound,
}

/// Buckets of the rollout: a caller is in the canary when its bucket is
/// below `percent × 100`.
const BUCKETS: u64 = 10_000;

/// A caller's stable rollout bucket for `app`, from their pairwise id (or an
/// anonymous caller's bucket cookie): the same for every version, so raising
/// the percentage only ever adds callers to the canary.
pub fn bucket(app: &str, caller: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(b"citadel-rollout\0")
        .chain_update(app.as_bytes())
        .chain_update(b"\0")
        .chain_update(caller.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// Every app and the versions serving it.
pub struct Registry {
    store: Store,
    audit: AuditLog,
    publishers: Publishers,
    runtime: Arc<Runtime>,
    slots: RwLock<BTreeMap<String, Arc<AppSlot>>>,
    /// Each app's share of the host, given to every version of it.
    shares: RwLock<BTreeMap<String, Arc<AppShare>>>,
    /// Serialises changes of app and version records (read, check, write).
    changes: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Load every app from `store`. Nothing is compiled or loaded: each
    /// serving version's component is loaded (from the compile cache) on
    /// its first request, so start-up stays quick and memory and
    /// descriptors stay bounded however many apps are installed. A version
    /// whose stored manifest cannot be read is logged and left out.
    pub async fn open(store: Store, runtime: Arc<Runtime>) -> Result<Self, StoreError> {
        let audit = AuditLog::new(store.clone());
        let registry = Registry {
            publishers: Publishers::new(store.clone(), audit.clone()),
            audit,
            store,
            runtime,
            slots: RwLock::new(BTreeMap::new()),
            shares: RwLock::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
        };
        for record in registry.store.apps.apps().await? {
            let versions = registry.store.apps.versions(&record.id).await?;
            let slot = AppSlot {
                live: registry.serving(&record, &versions, &record.live).await,
                canary: registry.serving(&record, &versions, &record.canary).await,
                record,
            };
            registry.swap_in(slot);
        }
        Ok(registry)
    }

    /// The serving version `version` of `record`, its component loaded on
    /// its first request; `None` (logged) when it cannot serve.
    async fn serving(
        &self,
        record: &AppRecord,
        versions: &[VersionRecord],
        version: &Option<String>,
    ) -> Option<Arc<LiveApp>> {
        let version = version.as_ref()?;
        let stored = versions.iter().find(|v| &v.version == version)?;
        match self.unloaded(stored).await {
            Ok(app) => Some(app),
            Err(e) => {
                tracing::error!(app = %record.id, %version, error = %e, "a serving version could not be loaded");
                None
            }
        }
    }

    /// Version `name` of `record`'s app, ready to serve: the one this host
    /// prepared already (in `slot`), else the stored one (`versions`), its
    /// component loaded on its first request.
    pub(super) async fn prepared_or_stored(
        &self,
        slot: Option<&AppSlot>,
        record: &AppRecord,
        versions: &[VersionRecord],
        name: &Option<String>,
    ) -> Option<Arc<LiveApp>> {
        let wanted = name.as_ref()?;
        let prepared = slot
            .into_iter()
            .flat_map(|slot| slot.live.iter().chain(slot.canary.iter()))
            .find(|app| &app.context.version.to_string() == wanted);
        match prepared {
            Some(prepared) => Some(prepared.clone()),
            None => self.serving(record, versions, name).await,
        }
    }

    /// A stored version ready to serve, its component not loaded yet.
    async fn unloaded(&self, version: &VersionRecord) -> Result<Arc<LiveApp>, InstallError> {
        let manifest = Manifest::parse(
            &format!("{} {} (stored)", version.app, version.version),
            &version.manifest,
        )?;
        let component = Arc::new(LazyComponent::unloaded(version.component_sha256.clone()));
        Ok(Arc::new(LiveApp::new(
            self.context(&manifest, &version.grants),
            component,
            self.share_of(&manifest.id),
        )))
    }

    /// A stored version ready to serve, its component loaded now: a
    /// rollout or rollback that cannot load is refused here, not on the
    /// version's first request.
    async fn load(&self, version: &VersionRecord) -> Result<Arc<LiveApp>, InstallError> {
        let app = self.unloaded(version).await?;
        self.runtime.component(&app).await?;
        Ok(app)
    }

    /// Check, compile and link a new version's component.
    async fn prepare(
        &self,
        manifest: &Manifest,
        bytes: &[u8],
        sha256: &str,
        admission: Admission,
    ) -> Result<Arc<LiveApp>, InstallError> {
        // Compiling takes seconds of CPU: off the async workers.
        let pre = {
            let runtime = self.runtime.clone();
            let (bytes, sha256) = (bytes.to_vec(), sha256.to_string());
            let (requested, limits) = (manifest.capabilities.clone(), manifest.limits.clone());
            tokio::task::spawn_blocking(move || {
                runtime.prepare(&bytes, &sha256, &requested, &limits, admission)
            })
            .await
            .map_err(|e| PrepareError::Compile(format!("the compile task failed: {e}")))??
        };
        // A new version is granted nothing until it is approved (or, when
        // installed, takes what the version it replaces had).
        Ok(Arc::new(LiveApp::new(
            self.context(manifest, &None),
            self.runtime.resident(sha256, pre),
            self.share_of(&manifest.id),
        )))
    }

    /// `app`'s share of the host: every version of it draws on the same.
    fn share_of(&self, app: &str) -> Arc<AppShare> {
        // Nothing panics holding this lock; a poisoned one is used as it is.
        let shares = self.shares.read().unwrap_or_else(|p| p.into_inner());
        if let Some(share) = shares.get(app) {
            return share.clone();
        }
        drop(shares);
        self.shares
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(app.to_string())
            .or_insert_with(|| self.runtime.new_app_share())
            .clone()
    }

    /// What a version's instances see of their app.
    fn context(&self, manifest: &Manifest, grants: &Option<GrantRecord>) -> AppContext {
        AppContext {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
            publisher: manifest.publisher.clone(),
            name: manifest.name.clone(),
            description: manifest.description.clone(),
            category: manifest.category.clone(),
            icon: manifest.icon.clone(),
            purposes: manifest.purposes.clone(),
            payment_hook: manifest.payment_hook.clone(),
            requested: manifest.capabilities.clone(),
            granted: Arc::new(RwLock::new(grants::granted_names(grants))),
            limits: self.runtime.limits(&manifest.limits),
            lookups: self.share_of(&manifest.id).lookups(),
            store: self.store.clone(),
            audit: self.audit.clone(),
        }
    }

    /// Install a version and make it live at once, without review: the
    /// host's own samples, or an operator installing by hand. Validation,
    /// compilation and the import check all happen before anything is
    /// written (the compile outside the lock on changes, so it holds up no
    /// review or rollout); the records are durable before this returns.
    pub async fn install(
        &self,
        manifest_file: &str,
        manifest_text: &str,
        component: &[u8],
    ) -> Result<Arc<LiveApp>, InstallError> {
        let manifest = Manifest::parse(manifest_file, manifest_text)?;
        check_new_version(&manifest, &self.store.apps.versions(&manifest.id).await?)?;
        let sha256 = hex::encode(Sha256::digest(component));
        let app = self
            .prepare(&manifest, component, &sha256, Admission::NewVersion)
            .await?;
        let _change = self.lock_changes().await;
        let (record, version) = match self
            .install_prepared(
                &manifest,
                (manifest_file, manifest_text),
                component,
                &sha256,
            )
            .await
        {
            Ok(installed) => installed,
            Err(e) => {
                self.forget_unreferenced(&sha256).await;
                return Err(e);
            }
        };
        app.context.grant(grants::granted_names(&version.grants));
        self.swap_in(AppSlot {
            record,
            live: Some(app.clone()),
            canary: None,
        });
        tracing::info!(app = %manifest.id, version = %manifest.version, "installed");
        Ok(app)
    }

    /// The writing half of `install`, under the lock on changes: the
    /// version is live in the store, granted what the version live before
    /// it was and it requests; returns the app's record and the version's.
    async fn install_prepared(
        &self,
        manifest: &Manifest,
        (manifest_file, manifest_text): (&str, &str),
        component: &[u8],
        sha256: &str,
    ) -> Result<(AppRecord, VersionRecord), InstallError> {
        // Checked again: another change may have added a version meanwhile.
        let read = self.store.apps.snapshot(&manifest.id).await?;
        let mut versions = read.versions.clone();
        check_new_version(manifest, &versions)?;
        let now = unix_seconds();
        let mut record = read.app.clone().unwrap_or_else(|| AppRecord {
            id: manifest.id.clone(),
            publisher: manifest.publisher.clone(),
            ..AppRecord::default()
        });
        let replaced = versions
            .iter()
            .find(|v| record.live.as_deref() == Some(v.version.as_str()));
        let grants = replaced
            .and_then(|old| old.grants.clone())
            .map(|old| GrantRecord {
                capabilities: old
                    .capabilities
                    .into_iter()
                    .filter(|c| manifest.capabilities.contains(c))
                    .collect(),
                by: "host".into(),
                at: now,
            });
        let mut changed = Vec::new();
        for old in versions.iter_mut() {
            if matches!(old.state, VersionState::Live | VersionState::Canary) {
                old.state = VersionState::Retired;
                old.changed_at = now;
                old.changed_by = "host".into();
                changed.push(old.clone());
            }
        }
        let installed = VersionRecord {
            app: manifest.id.clone(),
            version: manifest.version.to_string(),
            publisher: manifest.publisher.clone(),
            manifest: manifest_text.to_string(),
            component_sha256: sha256.to_string(),
            state: VersionState::Live,
            reason: None,
            uploaded_at: now,
            changed_at: now,
            changed_by: "host".into(),
            grants,
        };
        changed.push(installed.clone());
        record.previous = record.live.take();
        record.live = Some(manifest.version.to_string());
        record.canary = None;
        record.canary_percent = 0;
        self.store
            .apps
            .commit_app_over(&read, &record, &changed, &[component])
            .await?;
        self.audit
            .record(Event {
                kind: "install",
                actor: "host".into(),
                app: Some(manifest.id.clone()),
                version: Some(manifest.version.to_string()),
                message: Some(messages::INSTALLED.with("file", manifest_file)),
                ..Event::default()
            })
            .await;
        Ok((record, installed))
    }

    /// Delete the precompiled form of `sha256` unless a stored version
    /// references it. Called under the lock on changes, after a new version
    /// compiled but was not written.
    async fn forget_unreferenced(&self, sha256: &str) {
        match self.store.apps.blob_refs(sha256).await {
            Ok(0) => self.runtime.forget(sha256),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%sha256, error = %e, "a precompiled file is kept: its references could not be read")
            }
        }
    }

    /// Install the sample mini-apps built into this binary, granting each
    /// what it requests (they are the city's own), and register their
    /// publishers by name, so citizens see who provides each.
    pub async fn install_samples(&self) -> Result<(), InstallError> {
        for (id, name) in SAMPLE_PUBLISHERS {
            if self.publishers.get(id).await?.is_none() {
                self.publishers
                    .register_without_key(id, name, "host")
                    .await?;
            }
        }
        for (file, manifest, component) in crate::samples::SAMPLES {
            let app = self.install(file, manifest, component).await?;
            let requested = app.context.requested.clone();
            self.set_grants(&app.context.id, None, requested, "host")
                .await?;
        }
        Ok(())
    }

    async fn lock_changes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }

    /// The publishers and their keys.
    pub fn publishers(&self) -> &Publishers {
        &self.publishers
    }

    /// The stored record of `app` (whether or not a version serves).
    pub async fn app_record(&self, app: &str) -> Result<Option<AppRecord>, StoreError> {
        self.store.apps.app(app).await
    }

    /// The stored record of every app the host knows, even one with no
    /// live version yet.
    pub async fn app_records(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.store.apps.apps().await
    }

    /// The versions serving `app`.
    pub fn slot(&self, app: &str) -> Option<Arc<AppSlot>> {
        self.slots.read().ok()?.get(app).cloned()
    }

    /// The live version of `app` (the one outside any canary).
    pub fn live(&self, app: &str) -> Option<Arc<LiveApp>> {
        self.slot(app)?.live.clone()
    }

    /// The version that answers `caller` (a pairwise id or an anonymous
    /// bucket cookie). While the app has a canary, a caller without either
    /// is given a new random bucket; otherwise every caller gets the live
    /// version.
    pub fn route(&self, app: &str, caller: Option<&str>) -> Route {
        let Some(slot) = self.slot(app) else {
            return Route::NotFound;
        };
        if let Some(reason) = &slot.record.suspended {
            return Route::Suspended(reason.clone());
        }
        let mut new_bucket = None;
        if let Some(canary) = &slot.canary {
            let caller = match caller {
                Some(caller) => caller,
                None => new_bucket.insert(hex::encode(rand::random::<[u8; 16]>())),
            };
            if bucket(app, caller) < u64::from(slot.record.canary_percent) * (BUCKETS / 100) {
                return Route::Serve {
                    app: canary.clone(),
                    new_bucket,
                };
            }
        }
        match &slot.live {
            Some(live) => Route::Serve {
                app: live.clone(),
                new_bucket,
            },
            None => Route::NotFound,
        }
    }

    /// Every app with a live version.
    pub fn apps(&self) -> Vec<Arc<LiveApp>> {
        self.slots
            .read()
            .map(|slots| slots.values().filter_map(|s| s.live.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether any app is known.
    pub fn is_empty(&self) -> bool {
        self.slots.read().map(|s| s.is_empty()).unwrap_or(true)
    }

    /// Keep this host's view of the registry — serving versions, canaries,
    /// suspensions, grants — in step with the store's change feed, so a
    /// change made through another host (or written to a shared store)
    /// holds here too. Ends when the registry or the store goes.
    pub fn follow_changes(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        use tokio::sync::broadcast::error::RecvError;
        let mut changes = self.store.apps.changes();
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let change = changes.recv().await;
                let Some(registry) = registry.upgrade() else {
                    break;
                };
                match change {
                    Ok(AppChange::App(app)) => registry.refresh_app(&app).await,
                    Ok(
                        AppChange::Publisher(_)
                        | AppChange::SessionEnded(_)
                        | AppChange::CitizenErased,
                    ) => {}
                    Ok(AppChange::Everything) | Err(RecvError::Lagged(_)) => {
                        tracing::warn!("registry changes were missed; reloading every app");
                        let ids: Vec<String> = match registry.store.apps.apps().await {
                            Ok(apps) => apps.into_iter().map(|a| a.id).collect(),
                            Err(e) => {
                                tracing::error!(error = %e, "the registry cannot be reloaded");
                                continue;
                            }
                        };
                        for app in ids {
                            registry.refresh_app(&app).await;
                        }
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// Bring `app`'s serving versions and their grants in line with the
    /// store, keeping the versions already prepared here.
    async fn refresh_app(&self, app: &str) {
        let _change = self.lock_changes().await;
        let record = match self.store.apps.app(app).await {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(%app, error = %e, "a changed app could not be read");
                return;
            }
        };
        let versions = match self.store.apps.versions(app).await {
            Ok(versions) => versions,
            Err(e) => {
                tracing::error!(%app, error = %e, "a changed app's versions could not be read");
                return;
            }
        };
        // Grants change without the app's record changing.
        self.share_grants(app, &versions);
        let current = self.slot(app);
        if current.as_ref().is_some_and(|slot| slot.serves(&record)) {
            return; // this host made the change, or already saw it
        }
        let current = current.as_deref();
        let live = self
            .prepared_or_stored(current, &record, &versions, &record.live)
            .await;
        let canary = self
            .prepared_or_stored(current, &record, &versions, &record.canary)
            .await;
        tracing::info!(%app, live = ?record.live, canary = ?record.canary, "app changed in the store");
        self.swap_in(AppSlot {
            record,
            live,
            canary,
        });
    }

    fn swap_in(&self, slot: AppSlot) {
        if let Ok(mut slots) = self.slots.write() {
            slots.insert(slot.record.id.clone(), Arc::new(slot));
        }
    }
}

/// What every new version must be: for a contract this host provides, and
/// newer than each earlier version of its app.
fn check_new_version(manifest: &Manifest, versions: &[VersionRecord]) -> Result<(), InstallError> {
    let provided = crate::capabilities::contract_version();
    if !manifest.contract.matches(&provided) {
        return Err(InstallError::ContractUnsupported {
            required: manifest.contract.clone(),
            provided,
        });
    }
    // By semver precedence, which ignores build metadata: `1.0.0+r2` is
    // `1.0.0` again, not a newer version.
    let newest = versions
        .iter()
        .filter_map(|v| Version::parse(&v.version).ok())
        .max_by(Version::cmp_precedence);
    match newest {
        Some(newest) if manifest.version.cmp_precedence(&newest).is_le() => {
            Err(InstallError::VersionNotNewer {
                app: manifest.id.clone(),
                offered: manifest.version.clone(),
                newest,
            })
        }
        _ => Ok(()),
    }
}

/// The smallest plain version after `version`: its patch raised.
fn next_patch(version: &Version) -> Version {
    Version::new(
        version.major,
        version.minor,
        version.patch.saturating_add(1),
    )
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
