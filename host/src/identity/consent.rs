//! Consent: the citizen's own decisions about personal scopes, kept per
//! (citizen, app, scope) with the time and the manifest's purpose text —
//! which scopes may be consented to, giving, listing and revoking, each audited.

use super::citizens::Citizen;
use super::pairwise::PairwiseKey;
use super::sessions::SessionKey;
use crate::audit::{messages, AuditLog, Event};
use crate::runtime::AppContext;
use crate::store::{Store, StoreError};

pub use crate::store::ConsentRecord;

/// Why a consent was not given or revoked. Nothing changes when it is.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("name at least one scope to consent to")]
    NoScopes,
    #[error("`{0}` is not a personal scope; consent applies to the identity.* scopes (not identity.roles, which the city's grant alone covers) and location")]
    NotPersonal(String),
    #[error("{app} does not request `{scope}`")]
    NotRequested { app: String, scope: String },
    #[error("you have no such consent for `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Check that there is a scope and that each is a personal scope `app` requests.
pub fn check_scopes(app: &AppContext, scopes: &[String]) -> Result<(), ConsentError> {
    if scopes.is_empty() {
        return Err(ConsentError::NoScopes);
    }
    for scope in scopes {
        if !crate::capabilities::needs_consent(scope) {
            return Err(ConsentError::NotPersonal(scope.clone()));
        }
        if !app.requested.contains(scope) {
            return Err(ConsentError::NotRequested {
                app: app.id.clone(),
                scope: scope.clone(),
            });
        }
    }
    Ok(())
}

/// The purpose `app`'s manifest gives for `scope`, in `locale` (Vietnamese
/// unless English); empty if none.
pub fn purpose(app: &AppContext, scope: &str, locale: &str) -> String {
    app.purposes
        .get(scope)
        .map(|text| {
            if locale == "en" {
                text.en.clone()
            } else {
                text.vi.clone()
            }
        })
        .unwrap_or_default()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Citizens' consents over the store; the audit log names the citizen only
/// by the app's pairwise id.
#[derive(Clone)]
pub struct Consents {
    store: Store,
    audit: AuditLog,
    pairwise: PairwiseKey,
}

impl Consents {
    pub fn new(store: Store, audit: AuditLog, pairwise: PairwiseKey) -> Self {
        Consents {
            store,
            audit,
            pairwise,
        }
    }

    /// `citizen` consents to `scopes` of `app` (checked with
    /// [`check_scopes`]), each with the purpose shown in their locale, in
    /// a write that lands only while `session` (the one they came with;
    /// `None` for the host's own) is live; returns the
    /// records kept.
    pub async fn give(
        &self,
        citizen: &Citizen,
        app: &AppContext,
        scopes: &[String],
        session: Option<&SessionKey>,
    ) -> Result<Vec<ConsentRecord>, ConsentError> {
        check_scopes(app, scopes)?;
        // A scope named twice is consented to once.
        let scopes: std::collections::BTreeSet<&String> = scopes.iter().collect();
        let pairwise_id = self.pairwise.pairwise_id(&app.id, &citizen.id);
        let granted_at = now();
        let records: Vec<ConsentRecord> = scopes
            .iter()
            .map(|scope| ConsentRecord {
                app: app.id.clone(),
                scope: scope.to_string(),
                purpose: purpose(app, scope, &citizen.locale),
                granted_at,
            })
            .collect();
        // Every scope asked for, or none.
        self.store
            .identity
            .put_consents(&citizen.id, &records, session.map(SessionKey::through))
            .await?;
        for record in &records {
            self.audit
                .record(Event {
                    kind: "consent",
                    actor: "citizen".into(),
                    app: Some(app.id.clone()),
                    version: Some(app.version.to_string()),
                    capability: Some(record.scope.clone()),
                    pairwise_id: Some(pairwise_id.clone()),
                    message: Some(messages::CONSENT_GIVEN.with("purpose", &record.purpose)),
                    ..Event::default()
                })
                .await;
        }
        Ok(records)
    }

    /// Every consent `citizen` has given, by app then scope; one kept from
    /// before a scope stopped needing consent (`identity.roles`) is no
    /// longer a consent and is left out.
    pub async fn list(&self, citizen: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        let mut consents = self.store.identity.consents(citizen).await?;
        consents.retain(|c| crate::capabilities::needs_consent(&c.scope));
        Ok(consents)
    }

    /// `citizen` revokes their consent to `app` for `scope`, or for every
    /// scope without one; returns how many were revoked (`NotFound` if none).
    pub async fn revoke(
        &self,
        citizen: &str,
        app: &str,
        scope: Option<&str>,
    ) -> Result<usize, ConsentError> {
        // Every record (those of scopes no longer consented to as well), in
        // one write.
        let revoked = self
            .store
            .identity
            .delete_consents(citizen, app, scope)
            .await?;
        if revoked.is_empty() {
            return Err(ConsentError::NotFound(app.to_string()));
        }
        let pairwise_id = self.pairwise.pairwise_id(app, citizen);
        for scope in &revoked {
            self.audit
                .record(Event {
                    kind: "consent-revoked",
                    actor: "citizen".into(),
                    app: Some(app.to_string()),
                    capability: Some(scope.clone()),
                    pairwise_id: Some(pairwise_id.clone()),
                    message: Some(messages::CONSENT_REVOKED.message()),
                    ..Event::default()
                })
                .await;
        }
        Ok(revoked.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditQuery;
    use crate::registry::manifest::Localized;
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::{Arc, RwLock};

    fn text(vi: &str, en: &str) -> Localized {
        Localized {
            vi: vi.into(),
            en: en.into(),
        }
    }

    fn app(store: &Store, audit: &AuditLog) -> AppContext {
        AppContext {
            id: "tours".into(),
            version: semver::Version::new(1, 2, 0),
            publisher: "hue-tours".into(),
            name: text("Tour", "Tours"),
            description: text("", ""),
            category: String::new(),
            icon: String::new(),
            purposes: BTreeMap::from([(
                "identity.phone".to_string(),
                text("Gọi xác nhận", "To confirm by phone"),
            )]),
            payment_hook: None,
            requested: vec![
                "identity.phone".into(),
                "identity.roles".into(),
                "location".into(),
                "kv".into(),
            ],
            granted: Arc::new(RwLock::new(BTreeSet::new())),
            limits: crate::runtime::limits::LimitsSpec::default().resolve(),
            lookups: Arc::new(tokio::sync::Semaphore::new(1)),
            store: store.clone(),
            audit: audit.clone(),
        }
    }

    fn citizen(locale: &str) -> Citizen {
        Citizen {
            id: "c-lan".into(),
            name: "Lan".into(),
            phone: String::new(),
            national_id: String::new(),
            address: String::new(),
            birth_date: String::new(),
            locale: locale.into(),
            roles: Vec::new(),
        }
    }

    #[tokio::test]
    async fn only_requested_personal_scopes_can_be_consented_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::sled(dir.path()).unwrap();
        let audit = AuditLog::new(store.clone());
        let app = app(&store, &audit);
        let consents = Consents::new(
            store.clone(),
            audit.clone(),
            PairwiseKey::load_or_create(&store).await.unwrap(),
        );
        let lan = citizen("en");
        for (scopes, wanted) in [
            (vec![], "NoScopes"),
            (vec!["kv".to_string()], "NotPersonal"),
            (vec!["identity.name".to_string()], "NotRequested"),
        ] {
            let e = consents.give(&lan, &app, &scopes, None).await.unwrap_err();
            assert!(format!("{e:?}").starts_with(wanted), "{e:?}");
        }
        assert!(consents.list("c-lan").await.unwrap().is_empty());

        let given = consents
            .give(
                &lan,
                &app,
                &["identity.phone".into(), "location".into()],
                None,
            )
            .await
            .unwrap();
        assert_eq!(given[0].purpose, "To confirm by phone");
        assert_eq!(given[1].purpose, "");
        assert_eq!(consents.list("c-lan").await.unwrap(), given);
        // A scope named twice is given once (PostgreSQL refuses a row twice
        // in one statement).
        let twice = consents
            .give(&lan, &app, &["location".into(), "location".into()], None)
            .await
            .unwrap();
        assert_eq!(twice.len(), 1);
        assert_eq!(
            purpose(&app, "identity.phone", &citizen("vi").locale),
            "Gọi xác nhận"
        );

        assert_eq!(
            consents
                .revoke("c-lan", "tours", Some("location"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(consents.revoke("c-lan", "tours", None).await.unwrap(), 1);
        assert!(matches!(
            consents.revoke("c-lan", "tours", None).await,
            Err(ConsentError::NotFound(app)) if app == "tours"
        ));

        let kinds: Vec<(String, Option<String>)> = audit
            .query(&AuditQuery::default())
            .await
            .unwrap()
            .records
            .into_iter()
            .map(|r| (r.kind, r.capability))
            .collect();
        let expected = [
            ("consent", "identity.phone"),
            ("consent", "location"),
            ("consent", "location"),
            ("consent-revoked", "location"),
            ("consent-revoked", "identity.phone"),
        ]
        .map(|(k, c)| (k.to_string(), Some(c.to_string())));
        assert_eq!(kinds, expected);
    }

    #[tokio::test]
    async fn staff_roles_are_no_consent_to_give_or_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::sled(dir.path()).unwrap();
        let audit = AuditLog::new(store.clone());
        let app = app(&store, &audit);
        let consents = Consents::new(
            store.clone(),
            audit.clone(),
            PairwiseKey::load_or_create(&store).await.unwrap(),
        );
        let e = consents
            .give(&citizen("vi"), &app, &["identity.roles".into()], None)
            .await
            .unwrap_err();
        assert!(matches!(e, ConsentError::NotPersonal(ref s) if s == "identity.roles"));
        // One kept from before roles stopped needing consent is not listed,
        // and revoking the app's consents clears it.
        let stale = ConsentRecord {
            app: "tours".into(),
            scope: "identity.roles".into(),
            purpose: String::new(),
            granted_at: 1,
        };
        store
            .identity
            .put_consents("c-lan", std::slice::from_ref(&stale), None)
            .await
            .unwrap();
        assert!(consents.list("c-lan").await.unwrap().is_empty());
        assert_eq!(consents.revoke("c-lan", "tours", None).await.unwrap(), 1);
        assert!(store.identity.consents("c-lan").await.unwrap().is_empty());
    }
}
