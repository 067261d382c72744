//! The registry of installed mini-apps: installs a version (manifest check,
//! blob, compile, record — all or nothing), reloads them at start-up from the
//! store and the compile cache, and holds the live version of each app,
//! swapped atomically so in-flight requests finish on the version they began with.

pub mod manifest;

use crate::audit::{AuditLog, Event};
use crate::runtime::{AppContext, LiveApp, PrepareError, Runtime};
use crate::store::{AppRecord, GrantRecord, Store, StoreError};
use manifest::{Manifest, ManifestError};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

/// Why an install was refused. Nothing is stored when it is.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{app} {offered} is not newer than the installed version {installed}")]
    VersionNotNewer {
        app: String,
        offered: semver::Version,
        installed: semver::Version,
    },
    #[error("the manifest needs contract {required}, but this host provides {provided}")]
    ContractUnsupported {
        required: semver::VersionReq,
        provided: semver::Version,
    },
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Grant(#[from] GrantError),
}

/// Why a change of grants was refused. Nothing changes when it is.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("there is no app `{0}`")]
    AppNotFound(String),
    #[error("{0}")]
    UnknownCapability(String),
    #[error("{app} {version} does not request `{capability}`; an app can only be granted what its manifest requests ({requested})")]
    NotRequested {
        app: String,
        version: semver::Version,
        capability: String,
        requested: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The installed apps and their live versions.
pub struct Registry {
    store: Arc<dyn Store>,
    audit: AuditLog,
    runtime: Arc<Runtime>,
    live: RwLock<BTreeMap<String, Arc<LiveApp>>>,
    grants: RwLock<BTreeMap<String, Arc<RwLock<BTreeSet<String>>>>>,
}

impl Registry {
    /// Load every installed app from `store`, preparing each from the compile
    /// cache. An app that can no longer be prepared is logged and skipped.
    pub fn open(store: Arc<dyn Store>, runtime: Arc<Runtime>) -> Result<Self, StoreError> {
        let registry = Registry {
            audit: AuditLog::new(store.clone()),
            store,
            runtime,
            live: RwLock::new(BTreeMap::new()),
            grants: RwLock::new(BTreeMap::new()),
        };
        for record in registry.store.apps()? {
            match registry.load(&record) {
                Ok(app) => registry.swap_in(app),
                Err(e) => {
                    tracing::error!(app = %record.id, error = %e, "installed app could not be loaded")
                }
            }
        }
        Ok(registry)
    }

    fn load(&self, record: &AppRecord) -> Result<Arc<LiveApp>, InstallError> {
        let manifest = Manifest::parse(&format!("{} (stored)", record.id), &record.manifest)?;
        let bytes =
            self.store
                .blob(&record.component_sha256)?
                .ok_or_else(|| StoreError::Corrupt {
                    key: record.component_sha256.clone(),
                    reason: "the component blob is missing".into(),
                })?;
        self.prepare(&manifest, &bytes, &record.component_sha256)
    }

    fn prepare(
        &self,
        manifest: &Manifest,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<Arc<LiveApp>, InstallError> {
        let pre = self
            .runtime
            .prepare(bytes, sha256, &manifest.capabilities)?;
        let context = AppContext {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
            publisher: manifest.publisher.clone(),
            name: manifest.name.clone(),
            purposes: manifest.purposes.clone(),
            requested: manifest.capabilities.clone(),
            granted: self.granted_set(&manifest.id)?,
            limits: manifest.limits(),
            store: self.store.clone(),
            audit: self.audit.clone(),
        };
        Ok(Arc::new(LiveApp::new(context, pre)))
    }

    /// Install a version of an app from its manifest and component, and make
    /// it live. Validation, compilation and the import check all happen before
    /// anything is written; the record is durable before this returns.
    pub fn install(
        &self,
        manifest_file: &str,
        manifest_text: &str,
        component: &[u8],
    ) -> Result<Arc<LiveApp>, InstallError> {
        let manifest = Manifest::parse(manifest_file, manifest_text)?;
        let provided = crate::capabilities::contract_version();
        if !manifest.contract.matches(&provided) {
            return Err(InstallError::ContractUnsupported {
                required: manifest.contract.clone(),
                provided,
            });
        }
        if let Some(current) = self.live(&manifest.id) {
            if manifest.version <= current.context.version {
                return Err(InstallError::VersionNotNewer {
                    app: manifest.id.clone(),
                    offered: manifest.version.clone(),
                    installed: current.context.version.clone(),
                });
            }
        }
        let sha256 = hex::encode(Sha256::digest(component));
        let app = self.prepare(&manifest, component, &sha256)?;
        self.store.put_blob(component)?;
        self.store.put_app(&AppRecord {
            id: manifest.id.clone(),
            manifest: manifest_text.to_string(),
            component_sha256: sha256,
            installed_at: unix_seconds(),
        })?;
        self.audit.record(Event {
            kind: "install",
            actor: "host".into(),
            app: Some(manifest.id.clone()),
            version: Some(manifest.version.to_string()),
            detail: format!("installed from {manifest_file}"),
            ..Event::default()
        });
        self.store.flush()?;
        self.swap_in(app.clone());
        tracing::info!(app = %manifest.id, version = %manifest.version, "installed");
        Ok(app)
    }

    /// Install the sample mini-apps built into this binary, granting each
    /// what it requests (they are the city's own).
    pub fn install_samples(&self) -> Result<(), InstallError> {
        for (file, manifest, component) in crate::samples::SAMPLES {
            let app = self.install(file, manifest, component)?;
            let requested = app.context.requested.clone();
            self.set_grants(&app.context.id, requested, "host")?;
        }
        Ok(())
    }

    /// The shared grant set of `app`, loaded from the store the first time.
    fn granted_set(&self, app: &str) -> Result<Arc<RwLock<BTreeSet<String>>>, StoreError> {
        if let Some(set) = self.grants.read().ok().and_then(|g| g.get(app).cloned()) {
            return Ok(set);
        }
        let stored: BTreeSet<String> = self
            .store
            .grants(app)?
            .map(|g| g.capabilities.into_iter().collect())
            .unwrap_or_default();
        let mut grants = self
            .grants
            .write()
            .map_err(|_| StoreError::Backend("grant table poisoned".into()))?;
        Ok(grants
            .entry(app.to_string())
            .or_insert_with(|| Arc::new(RwLock::new(stored)))
            .clone())
    }

    /// What the operator granted `app`.
    pub fn grants(&self, app: &str) -> Result<BTreeSet<String>, GrantError> {
        self.live(app)
            .ok_or_else(|| GrantError::AppNotFound(app.to_string()))?;
        let set = self.granted_set(app)?;
        let granted = set.read().map(|g| g.clone()).unwrap_or_default();
        Ok(granted)
    }

    /// Replace what `app` is granted. Each capability must be known and
    /// requested by the live version. Durable, audited, and in force from
    /// the next host call.
    pub fn set_grants(
        &self,
        app: &str,
        capabilities: Vec<String>,
        actor: &str,
    ) -> Result<BTreeSet<String>, GrantError> {
        let live = self
            .live(app)
            .ok_or_else(|| GrantError::AppNotFound(app.to_string()))?;
        let wanted: BTreeSet<String> = capabilities.into_iter().collect();
        for capability in &wanted {
            crate::capabilities::check_name(capability).map_err(GrantError::UnknownCapability)?;
            if !live.context.requested.contains(capability) {
                return Err(GrantError::NotRequested {
                    app: app.to_string(),
                    version: live.context.version.clone(),
                    capability: capability.clone(),
                    requested: live.context.requested.join(", "),
                });
            }
        }
        let set = self.granted_set(app)?;
        let before = set.read().map(|g| g.clone()).unwrap_or_default();
        self.store.put_grants(
            app,
            &GrantRecord {
                capabilities: wanted.iter().cloned().collect(),
                by: actor.to_string(),
                at: unix_seconds(),
            },
        )?;
        let added: Vec<&String> = wanted.difference(&before).collect();
        let removed: Vec<&String> = before.difference(&wanted).collect();
        for (kind, changed) in [("grant", &added), ("revoke", &removed)] {
            for capability in changed.iter() {
                self.audit.record(Event {
                    kind,
                    actor: actor.to_string(),
                    app: Some(app.to_string()),
                    version: Some(live.context.version.to_string()),
                    capability: Some(capability.to_string()),
                    detail: format!("{kind} `{capability}`"),
                    ..Event::default()
                });
            }
        }
        self.store.flush()?;
        if let Ok(mut granted) = set.write() {
            *granted = wanted.clone();
        }
        Ok(wanted)
    }

    /// The live version of `app`.
    pub fn live(&self, app: &str) -> Option<Arc<LiveApp>> {
        self.live.read().ok()?.get(app).cloned()
    }

    /// Every live app, by id.
    pub fn apps(&self) -> Vec<Arc<LiveApp>> {
        self.live
            .read()
            .map(|live| live.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether any app is installed.
    pub fn is_empty(&self) -> bool {
        self.live.read().map(|live| live.is_empty()).unwrap_or(true)
    }

    fn swap_in(&self, app: Arc<LiveApp>) {
        if let Ok(mut live) = self.live.write() {
            live.insert(app.context.id.clone(), app);
        }
    }
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
