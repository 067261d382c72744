//! The publishing lifecycle: a publisher uploads a signed package (checked
//! in full before anything is stored, and compiled without holding up the
//! operator's steps), the city reviews it (approve with grants, or reject
//! with a reason), rolls it out to a share of callers, completes or rolls
//! back, suspends and resumes. Every step is one store transaction, audited,
//! and never recompiles (the cache serves promotions).

use super::grants::{checked_grant, granted_names};
use super::package::{self, PackageError};
use super::{check_new_version, unix_seconds, AppSlot, GrantError, InstallError, Registry};
use crate::audit::{messages, AuditMessage, Event};
use crate::registry::manifest::{Manifest, ManifestError, PlaceholderText};
use crate::runtime::LiveApp;
use crate::store::{
    AppRecord, AppSnapshot, PublisherRecord, StoreError, VersionRecord, VersionState,
};
use semver::Version;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Versions of an app kept; older ones that no longer serve are pruned.
pub const KEPT_VERSIONS: usize = 10;

/// Why an upload was refused. Nothing is stored when it is.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(
        "the package is signed by {public_key}, which is not a current signing key of \
         publisher `{publisher}`: ask the city's operator to register it with \
         `citadel admin add-signing-key {publisher} {public_key}`, or package with a key \
         the city registered"
    )]
    UnknownSigningKey {
        publisher: String,
        public_key: String,
    },
    #[error("the manifest names publisher `{manifest}`, but the API key belongs to `{caller}`")]
    PublisherMismatch { manifest: String, caller: String },
    #[error("the app id `{app}` belongs to another publisher")]
    AppNotOwned { app: String },
    #[error(transparent)]
    Placeholders(#[from] PlaceholderText),
    /// A check every new version passes, uploaded or installed.
    #[error(transparent)]
    Refused(#[from] InstallError),
}

impl From<ManifestError> for UploadError {
    fn from(e: ManifestError) -> Self {
        UploadError::Refused(e.into())
    }
}

impl From<StoreError> for UploadError {
    fn from(e: StoreError) -> Self {
        UploadError::Refused(e.into())
    }
}

/// Why a review, rollout or state change was refused. Nothing changes when it is.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("there is no app `{0}`")]
    AppNotFound(String),
    #[error("{app} has no version {version}")]
    VersionNotFound { app: String, version: String },
    #[error("{app} {version} is {state}; it cannot be {action}: {next_step}")]
    WrongState {
        app: String,
        version: String,
        state: String,
        action: &'static str,
        /// Why the state stops it, and what to do instead.
        next_step: String,
    },
    #[error(
        "{app} has no live version yet, so a canary of {version} would leave every other \
         citizen without the app: put its first version live for everyone with \
         `citadel admin rollout {app} {version} 100`"
    )]
    CanaryNeedsLiveVersion { app: String, version: String },
    #[error(
        "{app} is rolling out {canary}; complete it first with \
         `citadel admin rollout {app} {canary} 100` or withdraw it with \
         `citadel admin rollback {app}`"
    )]
    CanaryInProgress { app: String, canary: String },
    #[error("the percentage must be 1 to 100, not {0}")]
    BadPercent(u8),
    #[error("{0} has no earlier live version to roll back to")]
    NothingToRollBack(String),
    #[error("{0} is not suspended")]
    NotSuspended(String),
    #[error("a reason must be 1 to 500 characters")]
    BadReason,
    #[error(transparent)]
    Grant(#[from] GrantError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn state_name(state: VersionState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// What a version's state means for the next step, and the command that
/// takes it (for a refused review, rollout or withdrawal).
fn next_step(record: &AppRecord, version: &VersionRecord) -> String {
    let (app, name) = (&version.app, &version.version);
    let publish_anew =
        "raise `version` in manifest.toml, then build, package and publish it as a new version";
    match version.state {
        VersionState::InReview => {
            format!("approve it first with `citadel admin approve {app} {name} CAPABILITY…`")
        }
        VersionState::Approved => format!(
            "it is approved already; roll it out with `citadel admin rollout {app} {name} PERCENT`"
        ),
        VersionState::Rejected => format!(
            "the city rejected it ({}); fix what the reason says, then {publish_anew}",
            version.reason.as_deref().unwrap_or("no reason given")
        ),
        VersionState::Withdrawn => format!("its publisher withdrew it; {publish_anew}"),
        VersionState::Canary => format!(
            "it is serving a share of citizens already; complete it with \
             `citadel admin rollout {app} {name} 100` or withdraw it with \
             `citadel admin rollback {app}`"
        ),
        VersionState::Live => format!(
            "it is live for everyone already; `citadel admin rollback {app}` returns to the \
             version live before it"
        ),
        VersionState::Retired
            if record.canary.is_none() && record.previous.as_deref() == Some(name) =>
        {
            format!(
                "a retired version served once and was replaced or rolled back; it is the \
                 version live before the current one, so `citadel admin rollback {app}` \
                 brings it back"
            )
        }
        VersionState::Retired => format!(
            "a retired version served once and was replaced or rolled back, and does not \
             serve again; to serve this code, {publish_anew}"
        ),
    }
}

fn check_reason(reason: &str) -> Result<(), LifecycleError> {
    let length = reason.trim().chars().count();
    if length == 0 || length > 500 {
        return Err(LifecycleError::BadReason);
    }
    Ok(())
}

impl Registry {
    /// Accept a publisher's package for review: layout, manifest (with no
    /// placeholder text left for citizens to see), signature
    /// by a current key of `publisher`, ownership of the app id, a strictly
    /// newer version, the contract, the import check and a compile — all
    /// before anything is stored. The new version is `in-review`. The
    /// compile runs outside the lock on changes (a large component would
    /// hold up every review, rollout and suspension); ownership and newness
    /// are checked again under it, just before the write.
    pub async fn submit(
        &self,
        publisher: &PublisherRecord,
        bytes: &[u8],
    ) -> Result<VersionRecord, UploadError> {
        let package = package::parse(bytes)?;
        let manifest = Manifest::parse("manifest.toml", &package.manifest_text)?;
        manifest.check_publishable("manifest.toml")?;
        let signer = package.verify()?;
        signed_by_a_current_key(publisher, signer)?;
        if manifest.publisher != publisher.id {
            return Err(UploadError::PublisherMismatch {
                manifest: manifest.publisher.clone(),
                caller: publisher.id.clone(),
            });
        }
        // Refused early, before the compile; checked again under the lock.
        self.check_claim(&manifest, publisher).await?;
        let sha256 = hex::encode(Sha256::digest(&package.component));
        // Compiles (once, into the cache) and runs the import check.
        self.prepare(
            &manifest,
            &package.component,
            &sha256,
            crate::runtime::Admission::NewVersion,
        )
        .await?;
        let _change = self.lock_changes().await;
        // The compile took a while: a key revoked meanwhile signs nothing.
        let still_signed = match self.store.apps.publisher(&publisher.id).await {
            Ok(Some(now)) => signed_by_a_current_key(&now, signer),
            Ok(None) => Err(UploadError::UnknownSigningKey {
                publisher: publisher.id.clone(),
                public_key: signer.to_string(),
            }),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = still_signed {
            self.forget_unreferenced(&sha256).await;
            return Err(e);
        }
        let read = match self.check_claim(&manifest, publisher).await {
            Ok(read) => read,
            Err(e) => {
                self.forget_unreferenced(&sha256).await;
                return Err(e);
            }
        };
        let now = unix_seconds();
        let record = read.app.clone().unwrap_or_else(|| AppRecord {
            id: manifest.id.clone(),
            publisher: publisher.id.clone(),
            ..AppRecord::default()
        });
        let version = VersionRecord {
            app: manifest.id.clone(),
            version: manifest.version.to_string(),
            publisher: publisher.id.clone(),
            manifest: package.manifest_text.clone(),
            component_sha256: sha256.clone(),
            state: VersionState::InReview,
            reason: None,
            uploaded_at: now,
            changed_at: now,
            changed_by: format!("publisher:{}", publisher.id),
            grants: None,
        };
        // The version, its blob (unless another version holds it already)
        // and the blob's reference are written in one transaction.
        let stored = self
            .store
            .apps
            .commit_app_over(
                &read,
                &record,
                std::slice::from_ref(&version),
                &[&package.component],
            )
            .await;
        if let Err(e @ StoreError::ChangedMeanwhile { .. }) = stored {
            // Another change to the app (on another host) came first:
            // nothing was written, and what it wrote stays.
            self.forget_unreferenced(&sha256).await;
            return Err(e.into());
        }
        if let Err(StoreError::ComponentChanged { .. }) = stored {
            // Another upload of this version (on another host) was stored
            // first, with other bytes: it stays, and this one is refused.
            self.forget_unreferenced(&sha256).await;
            return Err(InstallError::VersionNotNewer {
                app: manifest.id.clone(),
                offered: manifest.version.clone(),
                newest: manifest.version.clone(),
            }
            .into());
        }
        if let Err(e) = stored {
            // Nothing half-written: the version goes with its reference
            // (only if it is this upload's, as written: another host's is
            // left alone); the blob and the precompiled file only if no
            // other version holds them.
            let written = AppSnapshot {
                app: Some(record.clone()),
                versions: vec![version.clone()],
            };
            match self
                .store
                .apps
                .delete_version_over(&written, &version.app, &version.version)
                .await
            {
                Ok(_) | Err(StoreError::ChangedMeanwhile { .. }) => {}
                Err(e) => tracing::error!(error = %e, "a failed upload could not be taken back"),
            }
            self.forget_unreferenced(&sha256).await;
            return Err(e.into());
        }
        self.audit
            .record(Event {
                kind: "upload",
                actor: version.changed_by.clone(),
                app: Some(version.app.clone()),
                version: Some(version.version.clone()),
                message: Some(messages::UPLOADED.with("sha256", &sha256)),
                ..Event::default()
            })
            .await;
        if self.slot(&record.id).is_none() {
            self.swap_in(AppSlot {
                record,
                live: None,
                canary: None,
            });
        }
        self.prune(&manifest.id).await?;
        Ok(version)
    }

    /// The records of the app `manifest` names, as read for the upload:
    /// refused unless `publisher` owns the app (or nobody does yet) and the
    /// manifest's version is newer than each of its versions.
    async fn check_claim(
        &self,
        manifest: &Manifest,
        publisher: &PublisherRecord,
    ) -> Result<AppSnapshot, UploadError> {
        let read = self.store.apps.snapshot(&manifest.id).await?;
        if read
            .app
            .as_ref()
            .is_some_and(|app| app.publisher != publisher.id)
        {
            return Err(UploadError::AppNotOwned {
                app: manifest.id.clone(),
            });
        }
        check_new_version(manifest, &read.versions)?;
        Ok(read)
    }

    /// Every version of `app`, newest first.
    pub async fn versions(&self, app: &str) -> Result<Vec<VersionRecord>, LifecycleError> {
        if self.store.apps.app(app).await?.is_none() {
            return Err(LifecycleError::AppNotFound(app.to_string()));
        }
        let mut versions = self.store.apps.versions(app).await?;
        versions.sort_by_key(|v| std::cmp::Reverse(Version::parse(&v.version).ok()));
        Ok(versions)
    }

    /// Versions waiting for review, across apps.
    pub async fn review_queue(&self) -> Result<Vec<VersionRecord>, StoreError> {
        let mut queue = Vec::new();
        for app in self.store.apps.apps().await? {
            queue.extend(
                self.store
                    .apps
                    .versions(&app.id)
                    .await?
                    .into_iter()
                    .filter(|v| v.state == VersionState::InReview),
            );
        }
        queue.sort_by_key(|v| v.uploaded_at);
        Ok(queue)
    }

    /// The app's records as read for a change (its writes go over them),
    /// its record, and one of its versions.
    async fn find(
        &self,
        app: &str,
        version: &str,
    ) -> Result<(AppSnapshot, AppRecord, VersionRecord), LifecycleError> {
        let (read, record) = self.read_app(app).await?;
        let found =
            read.version(app, version)
                .cloned()
                .ok_or_else(|| LifecycleError::VersionNotFound {
                    app: app.to_string(),
                    version: version.to_string(),
                })?;
        Ok((read, record, found))
    }

    /// The app's records as read for a change, and its record.
    async fn read_app(&self, app: &str) -> Result<(AppSnapshot, AppRecord), LifecycleError> {
        let read = self.store.apps.snapshot(app).await?;
        let record = read
            .app
            .clone()
            .ok_or_else(|| LifecycleError::AppNotFound(app.to_string()))?;
        Ok((read, record))
    }

    fn expect_state(
        record: &AppRecord,
        version: &VersionRecord,
        allowed: &[VersionState],
        action: &'static str,
    ) -> Result<(), LifecycleError> {
        if allowed.contains(&version.state) {
            Ok(())
        } else {
            Err(LifecycleError::WrongState {
                app: version.app.clone(),
                version: version.version.clone(),
                state: state_name(version.state),
                action,
                next_step: next_step(record, version),
            })
        }
    }

    fn transition(version: &mut VersionRecord, state: VersionState, actor: &str) {
        version.state = state;
        version.changed_at = unix_seconds();
        version.changed_by = actor.to_string();
    }

    async fn audit_step(
        &self,
        kind: &'static str,
        actor: &str,
        app: &str,
        version: &str,
        message: AuditMessage,
    ) {
        self.audit
            .record(Event {
                kind,
                actor: actor.to_string(),
                app: Some(app.to_string()),
                version: Some(version.to_string()),
                message: Some(message),
                ..Event::default()
            })
            .await;
    }

    /// Approve a version in review, granting it `capabilities` (a subset of
    /// what it requests). They are this version's: what serves now keeps
    /// its own until this version is rolled out.
    pub async fn approve(
        &self,
        app: &str,
        version: &str,
        capabilities: Vec<String>,
        actor: &str,
    ) -> Result<VersionRecord, LifecycleError> {
        let _change = self.lock_changes().await;
        let (read, record, mut found) = self.find(app, version).await?;
        Self::expect_state(&record, &found, &[VersionState::InReview], "approved")?;
        let manifest =
            Manifest::parse("stored manifest", &found.manifest).map_err(InstallError::from)?;
        let before = granted_names(&found.grants);
        found.grants = Some(checked_grant(
            app,
            &manifest.version,
            capabilities,
            &manifest.capabilities,
            actor,
        )?);
        Self::transition(&mut found, VersionState::Approved, actor);
        self.store
            .apps
            .commit_app_over(&read, &record, std::slice::from_ref(&found), &[])
            .await?;
        self.audit_grant_change(&found, &before, actor).await;
        self.audit_step("approve", actor, app, version, messages::APPROVED.message())
            .await;
        Ok(found)
    }

    /// Reject a version in review, with a reason for the publisher.
    pub async fn reject(
        &self,
        app: &str,
        version: &str,
        reason: &str,
        actor: &str,
    ) -> Result<VersionRecord, LifecycleError> {
        check_reason(reason)?;
        let _change = self.lock_changes().await;
        let (read, record, mut found) = self.find(app, version).await?;
        Self::expect_state(&record, &found, &[VersionState::InReview], "rejected")?;
        Self::transition(&mut found, VersionState::Rejected, actor);
        found.reason = Some(reason.trim().to_string());
        self.store
            .apps
            .commit_app_over(&read, &record, std::slice::from_ref(&found), &[])
            .await?;
        self.audit_step(
            "reject",
            actor,
            app,
            version,
            messages::REJECTED.with("reason", reason.trim()),
        )
        .await;
        Ok(found)
    }

    /// The publisher takes back a version that is not live yet.
    pub async fn withdraw(
        &self,
        app: &str,
        version: &str,
        actor: &str,
    ) -> Result<VersionRecord, LifecycleError> {
        let _change = self.lock_changes().await;
        let (read, record, mut found) = self.find(app, version).await?;
        Self::expect_state(
            &record,
            &found,
            &[VersionState::InReview, VersionState::Approved],
            "withdrawn",
        )?;
        Self::transition(&mut found, VersionState::Withdrawn, actor);
        self.store
            .apps
            .commit_app_over(&read, &record, std::slice::from_ref(&found), &[])
            .await?;
        self.audit_step(
            "withdraw",
            actor,
            app,
            version,
            messages::WITHDRAWN.message(),
        )
        .await;
        Ok(found)
    }

    /// Serve an approved version to `percent` of callers (stable buckets);
    /// 100 completes the rollout: it becomes live for everyone.
    pub async fn rollout(
        &self,
        app: &str,
        version: &str,
        percent: u8,
        actor: &str,
    ) -> Result<AppRecord, LifecycleError> {
        if percent == 0 || percent > 100 {
            return Err(LifecycleError::BadPercent(percent));
        }
        let _change = self.lock_changes().await;
        let (read, mut record, mut found) = self.find(app, version).await?;
        Self::expect_state(
            &record,
            &found,
            &[VersionState::Approved, VersionState::Canary],
            "rolled out",
        )?;
        if let Some(canary) = record.canary.as_ref().filter(|c| *c != version) {
            return Err(LifecycleError::CanaryInProgress {
                app: app.to_string(),
                canary: canary.clone(),
            });
        }
        if percent < 100 && record.live.is_none() {
            return Err(LifecycleError::CanaryNeedsLiveVersion {
                app: app.to_string(),
                version: version.to_string(),
            });
        }
        let prepared = self.load(&found).await?;
        let mut changed = Vec::new();
        let slot = self.slot(app);
        let (live, canary) = if percent == 100 {
            if let Some(old) = record.live.take() {
                if let Some(mut old) = read.version(app, &old).cloned() {
                    Self::transition(&mut old, VersionState::Retired, actor);
                    changed.push(old);
                }
                record.previous = Some(old);
            }
            record.live = Some(version.to_string());
            record.canary = None;
            record.canary_percent = 0;
            Self::transition(&mut found, VersionState::Live, actor);
            (Some(prepared), None)
        } else {
            record.canary = Some(version.to_string());
            record.canary_percent = percent;
            Self::transition(&mut found, VersionState::Canary, actor);
            let live = self
                .prepared_or_stored(slot.as_deref(), &record, &read.versions, &record.live)
                .await;
            (live, Some(prepared))
        };
        changed.push(found);
        self.store
            .apps
            .commit_app_over(&read, &record, &changed, &[])
            .await?;
        self.audit_step(
            "rollout",
            actor,
            app,
            version,
            if percent == 100 {
                messages::LIVE_FOR_EVERYONE.message()
            } else {
                messages::CANARY.with("percent", percent)
            },
        )
        .await;
        self.swap_in(AppSlot {
            record: record.clone(),
            live,
            canary,
        });
        Ok(record)
    }

    /// Undo the last step at once for every new request: a canary is
    /// withdrawn, or else the live version gives way to the previous one.
    pub async fn rollback(&self, app: &str, actor: &str) -> Result<AppRecord, LifecycleError> {
        let _change = self.lock_changes().await;
        let (read, mut record) = self.read_app(app).await?;
        let by_name = |name: &str| read.version(app, name).cloned();
        let slot = self.slot(app);
        let mut changed = Vec::new();
        let (rolled_back, live): (String, Option<Arc<LiveApp>>) =
            if let Some(canary) = record.canary.take() {
                record.canary_percent = 0;
                if let Some(mut version) = by_name(&canary) {
                    Self::transition(&mut version, VersionState::Retired, actor);
                    changed.push(version);
                }
                let live = self
                    .prepared_or_stored(slot.as_deref(), &record, &read.versions, &record.live)
                    .await;
                (canary, live)
            } else {
                let previous = record
                    .previous
                    .take()
                    .ok_or_else(|| LifecycleError::NothingToRollBack(app.to_string()))?;
                let mut restored =
                    by_name(&previous).ok_or_else(|| LifecycleError::VersionNotFound {
                        app: app.to_string(),
                        version: previous.clone(),
                    })?;
                let prepared = self.load(&restored).await?;
                let current = record.live.replace(previous.clone()).unwrap_or_default();
                if let Some(mut version) = by_name(&current) {
                    Self::transition(&mut version, VersionState::Retired, actor);
                    changed.push(version);
                }
                Self::transition(&mut restored, VersionState::Live, actor);
                changed.push(restored);
                (current, Some(prepared))
            };
        self.store
            .apps
            .commit_app_over(&read, &record, &changed, &[])
            .await?;
        self.audit_step(
            "rollback",
            actor,
            app,
            &rolled_back,
            match record.live.as_deref() {
                Some(live) => messages::ROLLED_BACK.with("live", live),
                None => messages::ROLLED_BACK_TO_NONE.message(),
            },
        )
        .await;
        self.swap_in(AppSlot {
            record: record.clone(),
            live,
            canary: None,
        });
        Ok(record)
    }

    /// Suspend (with a reason shown to citizens) or resume an app.
    pub async fn set_suspended(
        &self,
        app: &str,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<AppRecord, LifecycleError> {
        if let Some(reason) = reason {
            check_reason(reason)?;
        }
        let _change = self.lock_changes().await;
        let (read, mut record) = self.read_app(app).await?;
        if reason.is_none() && record.suspended.is_none() {
            return Err(LifecycleError::NotSuspended(app.to_string()));
        }
        record.suspended = reason.map(|r| r.trim().to_string());
        self.store
            .apps
            .commit_app_over(&read, &record, &[], &[])
            .await?;
        let (kind, message) = match reason {
            Some(reason) => ("suspend", messages::SUSPENDED.with("reason", reason.trim())),
            None => ("resume", messages::RESUMED.message()),
        };
        self.audit
            .record(Event {
                kind,
                actor: actor.to_string(),
                app: Some(app.to_string()),
                message: Some(message),
                ..Event::default()
            })
            .await;
        let slot = self.slot(app);
        self.swap_in(AppSlot {
            record: record.clone(),
            live: self
                .prepared_or_stored(slot.as_deref(), &record, &read.versions, &record.live)
                .await,
            canary: self
                .prepared_or_stored(slot.as_deref(), &record, &read.versions, &record.canary)
                .await,
        });
        Ok(record)
    }

    /// Keep the newest `KEPT_VERSIONS` versions, plus any that serve or may
    /// be rolled back to; forget the rest. A blob (and its precompiled file)
    /// goes only with the last version of any app that references it.
    async fn prune(&self, app: &str) -> Result<(), StoreError> {
        let read = self.store.apps.snapshot(app).await?;
        let Some(record) = read.app.clone() else {
            return Ok(());
        };
        let mut versions = read.versions.clone();
        versions.sort_by_key(|v| std::cmp::Reverse(Version::parse(&v.version).ok()));
        let keep = |v: &VersionRecord| {
            [&record.live, &record.previous, &record.canary]
                .iter()
                .any(|serving| serving.as_deref() == Some(v.version.as_str()))
        };
        let old = &versions[versions.len().min(KEPT_VERSIONS)..];
        for version in old.iter().filter(|v| !keep(v)) {
            // Only while nothing changed since the read (on another host, a
            // rollout may have made this version live): else the next
            // upload prunes.
            match self
                .store
                .apps
                .delete_version_over(&read, app, &version.version)
                .await
            {
                Ok(Some(unreferenced)) => self.runtime.forget(&unreferenced),
                Ok(None) => {}
                Err(StoreError::ChangedMeanwhile { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The package is signed by one of `publisher`'s keys that is not revoked.
fn signed_by_a_current_key(publisher: &PublisherRecord, signer: &str) -> Result<(), UploadError> {
    let current = publisher
        .signing_keys
        .iter()
        .any(|k| k.public_key == signer && k.revoked.is_none());
    if current {
        Ok(())
    } else {
        Err(UploadError::UnknownSigningKey {
            publisher: publisher.id.clone(),
            public_key: signer.to_string(),
        })
    }
}
