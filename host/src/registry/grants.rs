//! What the city grants each version: checked against what the version
//! requests, stored with the version (approval sets it; the operator may
//! change it while the version serves), audited one capability at a time,
//! and shared with the version's instances, which check it at every host call.

use super::manifest::Manifest;
use super::{unix_seconds, Registry};
use crate::audit::{messages, Event};
use crate::store::{GrantRecord, StoreError, VersionRecord};
use semver::Version;
use std::collections::BTreeSet;

/// Why a change of grants was refused. Nothing changes when it is.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("there is no app `{0}`")]
    AppNotFound(String),
    #[error("{app} has no version {version}")]
    VersionNotFound { app: String, version: String },
    #[error(
        "{app} {version} was never approved, so it has no grants to change: approve it with \
         `citadel admin approve {app} {version} CAPABILITY…`"
    )]
    NotApproved { app: String, version: String },
    #[error("{0}")]
    UnknownCapability(String),
    #[error("{app} {version} does not request `{capability}`; an app can only be granted what its manifest requests ({requested})")]
    NotRequested {
        app: String,
        version: Version,
        capability: String,
        requested: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a change of grants changes each version it reaches.
enum GrantChange {
    /// Each gets these (those it requests), and no others.
    Replace(Vec<String>),
    /// Each gets those of `grant` it requests, and loses `revoke`.
    Adjust {
        grant: Vec<String>,
        revoke: Vec<String>,
    },
}

/// The capabilities `grants` names (none when nothing was granted).
pub(crate) fn granted_names(grants: &Option<GrantRecord>) -> BTreeSet<String> {
    grants
        .iter()
        .flat_map(|g| g.capabilities.iter().cloned())
        .collect()
}

/// A grant of `capabilities` to `version` of `app`, by `actor`: each must be
/// a capability the host knows and one of `requested`.
pub(crate) fn checked_grant(
    app: &str,
    version: &Version,
    capabilities: Vec<String>,
    requested: &[String],
    actor: &str,
) -> Result<GrantRecord, GrantError> {
    let wanted: BTreeSet<String> = capabilities.into_iter().collect();
    for capability in &wanted {
        crate::capabilities::check_name(capability).map_err(GrantError::UnknownCapability)?;
        if !requested.contains(capability) {
            return Err(GrantError::NotRequested {
                app: app.to_string(),
                version: version.clone(),
                capability: capability.clone(),
                requested: requested.join(", "),
            });
        }
    }
    Ok(GrantRecord {
        capabilities: wanted.into_iter().collect(),
        by: actor.to_string(),
        at: unix_seconds(),
    })
}

/// A stored version's manifest, read again (it was checked at upload).
fn stored_manifest(version: &VersionRecord) -> Result<Manifest, StoreError> {
    Manifest::parse("stored manifest", &version.manifest).map_err(|e| StoreError::Corrupt {
        key: format!("versions/{}/{}", version.app, version.version),
        reason: e.to_string(),
    })
}

impl Registry {
    /// What the city granted the versions serving `app` (live and canary).
    pub fn grants(&self, app: &str) -> Result<BTreeSet<String>, GrantError> {
        let slot = self
            .slot(app)
            .ok_or_else(|| GrantError::AppNotFound(app.to_string()))?;
        Ok(slot
            .live
            .iter()
            .chain(slot.canary.iter())
            .flat_map(|serving| serving.context.granted_now())
            .collect())
    }

    /// Replace what `only` (a version of `app` that passed review) is
    /// granted or, without it, what the versions serving `app` (live and
    /// canary) are. Each capability must be known and requested by one of
    /// them; each gets those it requests. Durable, audited, and in force
    /// from the next host call. Other versions keep their own.
    pub async fn set_grants(
        &self,
        app: &str,
        only: Option<&str>,
        capabilities: Vec<String>,
        actor: &str,
    ) -> Result<BTreeSet<String>, GrantError> {
        self.change_grants(app, only, GrantChange::Replace(capabilities), actor)
            .await
    }

    /// Add `grant` to and take `revoke` from what each version serving
    /// `app` is granted, in one step over what the store holds: each
    /// version gets those of `grant` it requests (each must be requested by
    /// one of them), and keeps the rest of its own.
    pub async fn adjust_grants(
        &self,
        app: &str,
        grant: Vec<String>,
        revoke: Vec<String>,
        actor: &str,
    ) -> Result<BTreeSet<String>, GrantError> {
        self.change_grants(app, None, GrantChange::Adjust { grant, revoke }, actor)
            .await
    }

    async fn change_grants(
        &self,
        app: &str,
        only: Option<&str>,
        change: GrantChange,
        actor: &str,
    ) -> Result<BTreeSet<String>, GrantError> {
        let _change = self.lock_changes().await;
        let not_found = || GrantError::AppNotFound(app.to_string());
        let read = self.store.apps.snapshot(app).await?;
        let record = read.app.clone().ok_or_else(not_found)?;
        let versions = &read.versions;
        let names: Vec<&String> = match only {
            Some(name) => {
                let version = versions.iter().find(|v| v.version == name).ok_or_else(|| {
                    GrantError::VersionNotFound {
                        app: app.to_string(),
                        version: name.to_string(),
                    }
                })?;
                if !version.state.passed_review() {
                    return Err(GrantError::NotApproved {
                        app: app.to_string(),
                        version: name.to_string(),
                    });
                }
                vec![&version.version]
            }
            None => record.live.iter().chain(record.canary.iter()).collect(),
        };
        let mut serving = Vec::new();
        for name in names {
            if let Some(version) = versions.iter().find(|v| &v.version == name) {
                serving.push((version.clone(), stored_manifest(version)?));
            }
        }
        let Some((_, first)) = serving.first() else {
            return Err(not_found());
        };
        let mut requested: Vec<String> = serving
            .iter()
            .flat_map(|(_, manifest)| manifest.capabilities.iter().cloned())
            .collect();
        requested.sort();
        requested.dedup();
        let (given, revoke) = match change {
            GrantChange::Replace(capabilities) => (capabilities, None),
            GrantChange::Adjust { grant, revoke } => (grant, Some(revoke)),
        };
        let wanted = checked_grant(app, &first.version, given, &requested, actor)?;
        for capability in revoke.iter().flatten() {
            crate::capabilities::check_name(capability).map_err(GrantError::UnknownCapability)?;
        }
        let mut before = Vec::new();
        let mut changed = Vec::new();
        for (mut version, manifest) in serving {
            let had = granted_names(&version.grants);
            let asked = wanted
                .capabilities
                .iter()
                .filter(|c| manifest.capabilities.contains(c))
                .cloned();
            let now: BTreeSet<String> = match &revoke {
                None => asked.collect(),
                Some(revoke) => had
                    .iter()
                    .cloned()
                    .chain(asked)
                    .filter(|c| !revoke.contains(c))
                    .collect(),
            };
            // An adjustment leaves a version it does not change as it was.
            if revoke.is_some() && now == had {
                continue;
            }
            version.grants = Some(GrantRecord {
                capabilities: now.into_iter().collect(),
                ..wanted.clone()
            });
            before.push(had);
            changed.push(version);
        }
        if !changed.is_empty() {
            self.store
                .apps
                .commit_app_over(&read, &record, &changed, &[])
                .await?;
        }
        for (version, before) in changed.iter().zip(&before) {
            self.audit_grant_change(version, before, actor).await;
        }
        self.share_grants(app, &changed);
        self.grants(app)
    }

    /// One audit record for each capability `version` was granted or lost,
    /// against what it had (`before`).
    pub(super) async fn audit_grant_change(
        &self,
        version: &VersionRecord,
        before: &BTreeSet<String>,
        actor: &str,
    ) {
        let after = granted_names(&version.grants);
        let added: Vec<&String> = after.difference(before).collect();
        let removed: Vec<&String> = before.difference(&after).collect();
        for (kind, sentence, changed) in [
            ("grant", messages::GRANTED, &added),
            ("revoke", messages::REVOKED, &removed),
        ] {
            for capability in changed.iter() {
                self.audit
                    .record(Event {
                        kind,
                        actor: actor.to_string(),
                        app: Some(version.app.clone()),
                        version: Some(version.version.clone()),
                        capability: Some(capability.to_string()),
                        message: Some(sentence.with("capability", capability)),
                        ..Event::default()
                    })
                    .await;
            }
        }
    }

    /// Give this host's serving instances of `app` the grants `stored` (the
    /// versions as the store has them) says they have, from their next host
    /// call on.
    pub(super) fn share_grants(&self, app: &str, stored: &[VersionRecord]) {
        let Some(slot) = self.slot(app) else {
            return;
        };
        for serving in slot.live.iter().chain(slot.canary.iter()) {
            let name = serving.context.version.to_string();
            if let Some(version) = stored.iter().find(|v| v.version == name) {
                let granted = granted_names(&version.grants);
                if serving.context.granted_now() != granted {
                    tracing::info!(%app, version = %name, grants = ?granted, "grants changed");
                    serving.context.grant(granted);
                }
            }
        }
    }
}
