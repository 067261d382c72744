//! A citizen's right to their own data: everything the host keeps of them
//! gathered into one document (export), and all of it erased that the law
//! does not make the city keep (erasure: payments and the audit log stay).

use crate::audit::{messages, AuditLog, AuditRecord, Event};
use crate::capabilities::notify;
use crate::citizen::{Citizen, Position};
use crate::identity::pairwise::Pairwise;
use crate::identity::sessions::Sessions;
use crate::localized::Localized;
use crate::store::{
    ConsentRecord, ErasedRecords, InboxMessage, KvSpace, SessionRecord, Store, StoreError,
};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Keys read or erased per listing of a citizen's space in an app.
const KEYS_PER_PAGE: usize = 500;

/// Downloads a citizen may make in [`EXPORT_WINDOW_MS`]: each reads every
/// app's storage of theirs, so a script cannot make the host do it in a loop.
pub const EXPORTS_PER_WINDOW: usize = 10;
const EXPORT_WINDOW_MS: u64 = 60 * 60 * 1000;
const _: () = assert!(EXPORT_WINDOW_MS <= crate::store::MAX_RATE_WINDOW_MS);
/// Audit records an export lists at most (the newest).
pub const AUDIT_RECORDS_IN_EXPORT: usize = 1_000;
/// Listings of each app's storage of the citizen an erasure makes at most,
/// until one comes back empty. A write for the citizen lands only while
/// their session is live (`store::Through`), so one pass finds all; the
/// others are for a host of an earlier release in a rolling upgrade, whose
/// writes do not check.
const ERASE_PASSES: usize = 3;
/// An unfinished erasure is left this long to the request that began it
/// before [`PersonalDataRights::finish_unfinished`] takes it over.
pub const FINISH_AFTER: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The key of the rate limit on `citizen`'s downloads.
fn export_window(citizen: &str) -> String {
    format!("export\0{citizen}")
}

/// Why an export was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "your data was downloaded {EXPORTS_PER_WINDOW} times within the hour: try again in {0} s"
    )]
    TooOften(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the host keeps of one citizen (payments aside: the gateway adds them).
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalData {
    /// Unix milliseconds.
    pub exported_at: u64,
    /// The citizen as the identity provider gave them.
    pub citizen: Citizen,
    /// Consents given to apps, by app then scope.
    pub consents: Vec<ConsentRecord>,
    /// Messages from apps, oldest first.
    pub inbox: Vec<InboxMessage>,
    /// The last position the device reported, if still kept (expired or not).
    pub location: Option<Position>,
    /// The citizen's sign-ins the host still keeps, oldest first.
    pub sessions: Vec<SignIn>,
    /// Each app that holds data of the citizen or can reach them.
    pub apps: Vec<AppData>,
    /// What the city's audit log says of the citizen (by the id each app
    /// knows them by): consents given and revoked, payments, and host calls
    /// apps were refused while serving them. Newest first, at most
    /// [`AUDIT_RECORDS_IN_EXPORT`]; an erasure leaves them, as the city must
    /// keep its log.
    pub audit: Vec<AuditRecord>,
    /// The catalogue's sentence, in Vietnamese and English, of each message
    /// code in `audit`; fill its `{name}`s from the record's parameters.
    pub audit_texts: BTreeMap<String, Localized>,
}

/// One sign-in of the citizen (a device or browser holding a session).
#[derive(Debug, Serialize, ToSchema)]
pub struct SignIn {
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds; past it, the session is refused and soon forgotten.
    pub expires: u64,
}

/// What one app holds of the citizen through the host.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppData {
    pub app: String,
    /// The id the app knows the citizen by (different in every app).
    pub pairwise_id: String,
    /// Whether the app can send the citizen messages by that id.
    pub linked: bool,
    /// The citizen's own keys in the app's storage, in key order.
    pub entries: Vec<AppEntry>,
}

/// One key of a citizen's storage in an app.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppEntry {
    pub key: String,
    /// The value, when it is text (UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value in hex, when it is not text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_hex: Option<String>,
}

impl AppEntry {
    fn new(key: String, value: Vec<u8>) -> Self {
        match String::from_utf8(value) {
            Ok(text) => AppEntry {
                key,
                value: Some(text),
                value_hex: None,
            },
            Err(bytes) => AppEntry {
                key,
                value: None,
                value_hex: Some(hex::encode(bytes.into_bytes())),
            },
        }
    }
}

/// What an erasure removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Erasure {
    /// Records of the identity store, by kind.
    pub records: ErasedRecords,
    /// Keys removed from the citizen's storage in apps.
    pub app_keys: usize,
    /// The apps whose storage held some of them.
    pub apps: Vec<String>,
    /// Whether the apps' storage is erased too. When not (the store failed
    /// after the identity records went), the host finishes it within
    /// minutes, and `app_keys` and `apps` are empty.
    pub finished: bool,
}

/// Export and erasure over the store.
#[derive(Clone)]
pub struct PersonalDataRights {
    store: Store,
    pairwise: Pairwise,
    sessions: Sessions,
    audit: AuditLog,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl PersonalDataRights {
    pub fn new(store: Store, pairwise: Pairwise, sessions: Sessions, audit: AuditLog) -> Self {
        PersonalDataRights {
            store,
            pairwise,
            sessions,
            audit,
        }
    }

    /// Every app the host knows (live or not): the places a citizen's
    /// data can be, each with the id it knows them by.
    async fn places(&self, citizen: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .store
            .apps
            .apps()
            .await?
            .into_iter()
            .map(|app| {
                let pairwise_id = self.pairwise.pairwise_id(&app.id, citizen);
                (app.id, pairwise_id)
            })
            .collect())
    }

    /// Every key of `space`, in order (as many as the app's quota holds).
    async fn keys_in(&self, space: KvSpace<'_>) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .kv
                .list(space, "", after.as_deref(), KEYS_PER_PAGE)
                .await?;
            keys.extend(page.keys);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Everything the host keeps of `citizen`, payments aside; at most
    /// [`EXPORTS_PER_WINDOW`] an hour, counted across hosts.
    pub async fn export(&self, citizen: &Citizen) -> Result<PersonalData, ExportError> {
        let taken = self
            .store
            .limits
            .take(
                &export_window(&citizen.id),
                EXPORTS_PER_WINDOW,
                EXPORT_WINDOW_MS,
                now_ms(),
            )
            .await?;
        if let Err(wait_ms) = taken {
            return Err(ExportError::TooOften(wait_ms.div_ceil(1000).max(1)));
        }
        let identity = &self.store.identity;
        let places = self.places(&citizen.id).await?;
        let pairwise_ids: Vec<String> = places.iter().map(|(_, id)| id.clone()).collect();
        let audit = self
            .store
            .audit
            .naming(&pairwise_ids, AUDIT_RECORDS_IN_EXPORT)
            .await?;
        let mut apps = Vec::new();
        for (app, pairwise_id) in places {
            let space = KvSpace::Citizen {
                app: &app,
                pairwise_id: &pairwise_id,
            };
            let mut entries = Vec::new();
            for key in self.keys_in(space).await? {
                // A key the app deleted since the listing is simply gone.
                if let Some(value) = self.store.kv.get(space, &key).await? {
                    entries.push(AppEntry::new(key, value));
                }
            }
            let linked = identity
                .pairwise_citizen(&app, &pairwise_id)
                .await?
                .as_deref()
                == Some(citizen.id.as_str());
            if linked || !entries.is_empty() {
                apps.push(AppData {
                    app,
                    pairwise_id,
                    linked,
                    entries,
                });
            }
        }
        let location = identity.location(&citizen.id).await?.map(|l| Position {
            lat: l.lat,
            lon: l.lon,
            accuracy_m: l.accuracy_m,
            at: l.at,
        });
        Ok(PersonalData {
            exported_at: now_ms(),
            citizen: citizen.clone(),
            consents: identity.consents(&citizen.id).await?,
            inbox: identity.inbox_since(&citizen.id, 0).await?,
            location,
            sessions: identity
                .sessions_of(&citizen.id)
                .await?
                .into_iter()
                .map(|session| SignIn {
                    created: session.created,
                    expires: session.expires,
                })
                .collect(),
            apps,
            audit_texts: crate::audit::texts_of(&audit),
            audit,
        })
    }

    /// Erase what the host keeps of `citizen`, payments and the audit log
    /// aside. The identity records go first, in one write that also records
    /// the erasure as unfinished: every session ends there, so no device of
    /// theirs adds data while the apps' storage is erased. That follows at
    /// once; if it fails, or the host stops, the erasure stays recorded and
    /// [`PersonalDataRights::finish_unfinished`] finishes it on any host
    /// (`finished` says which). Audited either way.
    pub async fn erase(&self, citizen: &str) -> Result<Erasure, StoreError> {
        let began = now_ms();
        let places = self.places(citizen).await?;
        let records = self
            .store
            .identity
            .erase_citizen(citizen, &places, began)
            .await?;
        self.sessions.end_cached_of(citizen);
        self.pairwise.forget_remembered();
        let in_apps = self.erase_from_apps(citizen, &places, began).await;
        let message = match &in_apps {
            Ok(in_apps) => messages::CITIZEN_DATA_ERASED
                .with("keys", in_apps.keys)
                .with("apps", in_apps.apps.len()),
            Err(e) => {
                tracing::warn!(error = %e, "an erasure's app storage waits for the store; the host finishes it");
                messages::CITIZEN_DATA_ERASING.message()
            }
        };
        self.audit
            .record(Event {
                kind: "citizen-data-erased",
                actor: "citizen".into(),
                message: Some(
                    message
                        .with("sessions", records.sessions)
                        .with("consents", records.consents)
                        .with("messages", records.inbox_messages),
                ),
                ..Event::default()
            })
            .await;
        let finished = in_apps.is_ok();
        let in_apps = in_apps.unwrap_or_default();
        Ok(Erasure {
            records,
            app_keys: in_apps.keys,
            apps: in_apps.apps,
            finished,
        })
    }

    /// Finish the erasures that began at least [`FINISH_AFTER`] ago and
    /// have not finished (a failure, or a host that stopped, on any host):
    /// what apps keep of each citizen. Each is audited; returns how many.
    /// The metric `citadel_erasures_unfinished` follows what is left.
    pub async fn finish_unfinished(&self) -> Result<usize, StoreError> {
        let before = now_ms().saturating_sub(FINISH_AFTER.as_millis() as u64);
        let unfinished = self.store.identity.unfinished_erasures().await?;
        crate::telemetry::unfinished_erasures(unfinished.len());
        let mut finished = 0;
        for (citizen, began) in unfinished.iter() {
            if *began > before {
                break;
            }
            self.finish(citizen, *began).await?;
            finished += 1;
            crate::telemetry::unfinished_erasures(unfinished.len() - finished);
        }
        Ok(finished)
    }

    /// Open a session for `citizen` who just signed in, keeping the
    /// identity provider's fields of them if `keep_profile`; returns its
    /// token and record. An erasure of their data that has not finished is
    /// finished first (no session opens before), so that nothing they do in
    /// the new session is erased with it.
    pub async fn open_session(
        &self,
        citizen: &Citizen,
        keep_profile: bool,
    ) -> Result<(String, SessionRecord), StoreError> {
        let open = || async {
            if keep_profile {
                self.sessions.create_with_profile(citizen).await
            } else {
                self.sessions.create(&citizen.id).await
            }
        };
        match open().await {
            Err(StoreError::ErasureUnfinished) => {
                let unfinished = self.store.identity.unfinished_erasures().await?;
                if let Some((_, began)) = unfinished.iter().find(|(id, _)| *id == citizen.id) {
                    self.finish(&citizen.id, *began).await?;
                }
                open().await
            }
            opened => opened,
        }
    }

    /// Erase what apps keep of `citizen` for the erasure that began at
    /// `began`, and audit it as finished by the host (unless it was found
    /// finished already).
    async fn finish(&self, citizen: &str, began: u64) -> Result<(), StoreError> {
        let places = self.places(citizen).await?;
        let in_apps = self.erase_from_apps(citizen, &places, began).await?;
        if in_apps.finished_elsewhere {
            return Ok(());
        }
        self.audit
            .record(Event {
                kind: "citizen-data-erased",
                actor: "host".into(),
                message: Some(
                    messages::CITIZEN_DATA_ERASURE_FINISHED
                        .with("keys", in_apps.keys)
                        .with("apps", in_apps.apps.len()),
                ),
                ..Event::default()
            })
            .await;
        Ok(())
    }

    /// The erasure's second part: the citizen's storage in every app of
    /// `places`, the host's rate-limit windows of theirs, and once more
    /// their identity records; then the erasure that began at `began` is
    /// recorded as finished. Each step can be repeated.
    async fn erase_from_apps(
        &self,
        citizen: &str,
        places: &[(String, String)],
        began: u64,
    ) -> Result<ErasedInApps, StoreError> {
        let mut windows: Vec<String> = places
            .iter()
            .map(|(app, _)| notify::rate_window(app, citizen))
            .collect();
        windows.push(export_window(citizen));
        self.store.limits.forget(&windows).await?;
        let identity = &self.store.identity;
        let mut erased_in_apps = ErasedInApps::default();
        for (app, pairwise_id) in places {
            let space = KvSpace::Citizen { app, pairwise_id };
            let mut erased = 0;
            for _ in 0..ERASE_PASSES {
                let keys = self.keys_in(space).await?;
                if keys.is_empty() {
                    break;
                }
                for key in keys {
                    // Each key only while the erasure is unfinished: once it
                    // is finished (by another host, or at a sign-in), a
                    // session may have opened, and what apps hold is new.
                    match identity.erase_app_key(citizen, began, space, &key).await? {
                        Some(removed) => erased += usize::from(removed),
                        None => {
                            erased_in_apps.finished_elsewhere = true;
                            return Ok(erased_in_apps);
                        }
                    }
                }
            }
            if erased > 0 {
                erased_in_apps.keys += erased;
                erased_in_apps.apps.push(app.clone());
            }
        }
        self.store.kv.sync().await?;
        // Once more the identity records: a write for the citizen lands only
        // while their session (or an app's link to them) is live, so none
        // should have come since the sessions ended, but a host of an
        // earlier release in a rolling upgrade does not check.
        let again = self
            .store
            .identity
            .erase_citizen_again(citizen, places, began)
            .await?;
        if again.is_none() {
            erased_in_apps.finished_elsewhere = true;
            return Ok(erased_in_apps);
        }
        self.pairwise.forget_remembered();
        self.store.identity.erasure_finished(citizen, began).await?;
        Ok(erased_in_apps)
    }
}

/// What an erasure removed from apps' storage.
#[derive(Default)]
struct ErasedInApps {
    keys: usize,
    apps: Vec<String>,
    /// It was found finished (by another host, or at a sign-in) and left
    /// there.
    finished_elsewhere: bool,
}
