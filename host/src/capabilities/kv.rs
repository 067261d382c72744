//! Capability `kv`: the app's key-value storage, app-wide (`kv`) and per
//! citizen (`citizen-kv`, since 1.1). Owns its manifest name, the interfaces
//! it covers, key, value and quota rules, and both interfaces' host calls.
//! An app names keys only inside its own spaces; a citizen's space is keyed
//! by the signed-in citizen's pairwise id, never by anything the guest says.

use super::bindings::citadel::miniapp::citizen_kv::{self as citizen_wit, CitizenKvError};
use super::bindings::citadel::miniapp::kv::{self as wit, KeyPage, KvError};
use super::Capability;
use crate::localized::Text;
use crate::runtime::RequestState;
use crate::store::{self, KvSpace, KvWrite, StoreError};
use wasmtime::component::{HasSelf, Linker};

pub const NAME: &str = "kv";
/// The app-wide and per-citizen contract interfaces.
const INTERFACE: &str = "kv";
const CITIZEN_INTERFACE: &str = "citizen-kv";

pub const CAPABILITY: Capability = Capability {
    name: NAME,
    interfaces: &[INTERFACE, CITIZEN_INTERFACE],
    label: Text::new("Dữ liệu của ứng dụng", "The app's data"),
    summary: Text::new(
        "lưu và đọc dữ liệu riêng của ứng dụng, chung và theo từng công dân",
        "store and read the app's own data, app-wide and per citizen",
    ),
};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most keys one `list-keys` call returns.
pub const MAX_LIST: u32 = 1000;

pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<RequestState>>(linker, |state| state)?;
    citizen_wit::add_to_linker::<_, HasSelf<RequestState>>(linker, |state| state)
}

/// Why a kv call failed, before it is told to the guest in its interface's terms.
enum Failure {
    NotSignedIn,
    Denied,
    InvalidKey(String),
    ValueTooLarge,
    QuotaExceeded(String),
    Unavailable,
}

fn unavailable(e: StoreError) -> Failure {
    match e {
        // The citizen's session ended (an erasure, a sign-out) while the
        // request was under way: nothing was written for them.
        StoreError::SessionEnded => Failure::NotSignedIn,
        e => {
            tracing::error!(error = %e, "kv host call failed");
            Failure::Unavailable
        }
    }
}

const UNAVAILABLE: &str = "the app's storage is unavailable; try again";

impl From<Failure> for KvError {
    fn from(failure: Failure) -> Self {
        match failure {
            // App-wide calls never ask for a citizen.
            Failure::Denied | Failure::NotSignedIn => KvError::Denied(NAME.into()),
            Failure::InvalidKey(why) => KvError::InvalidKey(why),
            Failure::ValueTooLarge => KvError::ValueTooLarge(MAX_VALUE_BYTES as u64),
            Failure::QuotaExceeded(which) => KvError::QuotaExceeded(which),
            Failure::Unavailable => KvError::Unavailable(UNAVAILABLE.into()),
        }
    }
}

impl From<Failure> for CitizenKvError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::NotSignedIn => CitizenKvError::NotSignedIn,
            Failure::Denied => CitizenKvError::Denied(NAME.into()),
            Failure::InvalidKey(why) => CitizenKvError::InvalidKey(why),
            Failure::ValueTooLarge => CitizenKvError::ValueTooLarge(MAX_VALUE_BYTES as u64),
            Failure::QuotaExceeded(which) => CitizenKvError::QuotaExceeded(which),
            Failure::Unavailable => CitizenKvError::Unavailable(UNAVAILABLE.into()),
        }
    }
}

fn check_key(key: &str) -> Result<(), Failure> {
    if key.is_empty() {
        return Err(Failure::InvalidKey("a key must not be empty".into()));
    }
    check_key_length("a key", key)
}

/// A key, or what a listing names of one (its prefix, the key to list
/// after), is at most [`MAX_KEY_BYTES`]: nothing longer goes to the store.
fn check_key_length(what: &str, text: &str) -> Result<(), Failure> {
    if text.len() > MAX_KEY_BYTES {
        return Err(Failure::InvalidKey(format!(
            "{what} must be at most {MAX_KEY_BYTES} bytes; this one has {}",
            text.len()
        )));
    }
    Ok(())
}

/// Which space a call works in.
#[derive(Clone, Copy)]
enum Scope {
    App,
    Citizen,
}

impl RequestState {
    /// The space a call may use, after the capability check.
    fn kv_space(&self, scope: Scope) -> Result<KvSpace<'_>, Failure> {
        self.kv_space_for_writes(scope).map(|(space, _)| space)
    }

    /// The space a call may use, and the session its writes are made for
    /// (a citizen's space: theirs, so that nothing lands once it ended).
    fn kv_space_for_writes(&self, scope: Scope) -> Result<(KvSpace<'_>, Option<&str>), Failure> {
        if !self.app.has_capability(NAME) {
            self.record_denial(NAME, crate::audit::messages::DENIED_NOT_GRANTED.message());
            return Err(Failure::Denied);
        }
        match scope {
            Scope::App => Ok((KvSpace::App(&self.app.id), None)),
            Scope::Citizen => match &self.citizen {
                Some(signed_in) => Ok((
                    KvSpace::Citizen {
                        app: &self.app.id,
                        pairwise_id: &signed_in.pairwise_id,
                    },
                    Some(signed_in.session.as_str()),
                )),
                None => Err(Failure::NotSignedIn),
            },
        }
    }

    async fn kv_get(&mut self, scope: Scope, key: String) -> Result<Option<Vec<u8>>, Failure> {
        let space = self.kv_space(scope)?;
        check_key(&key)?;
        self.app
            .store
            .kv
            .get(space, &key)
            .await
            .map_err(unavailable)
    }

    async fn kv_set(&mut self, scope: Scope, key: String, value: Vec<u8>) -> Result<(), Failure> {
        self.kv_write(scope, key, None, value).await.map(|_| ())
    }

    async fn kv_swap(
        &mut self,
        scope: Scope,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, Failure> {
        self.kv_write(scope, key, Some(expected), value).await
    }

    /// A write, unconditional (`condition` none) or only over `expected`
    /// (compare-and-swap); true if it was written.
    async fn kv_write(
        &mut self,
        scope: Scope,
        key: String,
        condition: Option<Option<Vec<u8>>>,
        value: Vec<u8>,
    ) -> Result<bool, Failure> {
        let (space, for_session) = self.kv_space_for_writes(scope)?;
        check_key(&key)?;
        // The value expected by a compare-and-swap is bounded as a value is:
        // nothing larger is stored, and nothing larger goes to the store.
        let expected_len = condition
            .as_ref()
            .and_then(|e| e.as_ref())
            .map_or(0, Vec::len);
        if value.len() > MAX_VALUE_BYTES || expected_len > MAX_VALUE_BYTES {
            return Err(Failure::ValueTooLarge);
        }
        let quota = self.app.limits.kv_quota_bytes;
        let write = match &condition {
            None => KvWrite::Set(&value),
            Some(expected) => KvWrite::Swap {
                expected: expected.as_deref(),
                value: &value,
            },
        };
        // Durable before the response: the runtime syncs the request's
        // deferred writes once, so a request's many writes share one commit.
        let outcome = self
            .deferred_write(self.app.store.kv.write_deferred(
                space,
                &key,
                write,
                quota,
                for_session,
            ))
            .await;
        match outcome.map_err(unavailable)? {
            Ok(written) => Ok(written),
            Err(store::QuotaExceeded { used, quota }) => Err(Failure::QuotaExceeded(format!(
                "the app stores {used} bytes of its {quota}-byte quota; this write does not fit"
            ))),
        }
    }

    /// Add `by` to a counter atomically, in one store step; the new value.
    async fn kv_increment(&mut self, scope: Scope, key: String, by: u64) -> Result<u64, Failure> {
        let (space, for_session) = self.kv_space_for_writes(scope)?;
        check_key(&key)?;
        let quota = self.app.limits.kv_quota_bytes;
        let outcome = self
            .deferred_write(self.app.store.kv.increment_deferred(
                space,
                &key,
                by,
                quota,
                for_session,
            ))
            .await
            .map_err(unavailable)?;
        match outcome {
            Ok(next) => Ok(next),
            Err(store::CounterRefusal::NotACounter) => Err(Failure::InvalidKey(format!(
                "`{key}` holds a value that is not a counter (decimal digits)"
            ))),
            Err(store::CounterRefusal::Overflow) => Err(Failure::InvalidKey(format!(
                "`{key}` would pass the largest counter value"
            ))),
            Err(store::CounterRefusal::Quota(store::QuotaExceeded { used, quota })) => {
                Err(Failure::QuotaExceeded(format!(
                    "the app stores {used} bytes of its {quota}-byte quota; this write does not fit"
                )))
            }
        }
    }

    async fn kv_delete(&mut self, scope: Scope, key: String) -> Result<bool, Failure> {
        let (space, for_session) = self.kv_space_for_writes(scope)?;
        check_key(&key)?;
        let deleted = self
            .deferred_write(self.app.store.kv.write_deferred(
                space,
                &key,
                KvWrite::Delete,
                u64::MAX,
                for_session,
            ))
            .await
            .map_err(unavailable)?;
        Ok(deleted.unwrap_or(false))
    }

    async fn kv_list(
        &mut self,
        scope: Scope,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, Failure> {
        let space = self.kv_space(scope)?;
        check_key_length("a prefix", &prefix)?;
        if let Some(after) = &after {
            check_key_length("the key to list after", after)?;
        }
        let page = self
            .app
            .store
            .kv
            .list(
                space,
                &prefix,
                after.as_deref(),
                limit.clamp(1, MAX_LIST) as usize,
            )
            .await
            .map_err(unavailable)?;
        Ok(KeyPage {
            keys: page.keys,
            next: page.next,
        })
    }
}

impl wit::Host for RequestState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        self.host_call(INTERFACE)?;
        Ok(self.kv_get(Scope::App, key).await.map_err(KvError::from))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        self.host_call(INTERFACE)?;
        Ok({
            self.kv_set(Scope::App, key, value)
                .await
                .map_err(KvError::from)
        })
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, KvError>> {
        self.host_call(INTERFACE)?;
        Ok(self.kv_delete(Scope::App, key).await.map_err(KvError::from))
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<KeyPage, KvError>> {
        self.host_call(INTERFACE)?;
        Ok({
            self.kv_list(Scope::App, prefix, after, limit)
                .await
                .map_err(KvError::from)
        })
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, KvError>> {
        self.host_call(INTERFACE)?;
        Ok({
            self.kv_swap(Scope::App, key, expected, value)
                .await
                .map_err(KvError::from)
        })
    }

    async fn increment(&mut self, key: String, by: u64) -> wasmtime::Result<Result<u64, KvError>> {
        self.host_call(INTERFACE)?;
        Ok(self
            .kv_increment(Scope::App, key, by)
            .await
            .map_err(KvError::from))
    }
}

impl citizen_wit::Host for RequestState {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, CitizenKvError>> {
        self.host_call(CITIZEN_INTERFACE)?;
        Ok({
            self.kv_get(Scope::Citizen, key)
                .await
                .map_err(CitizenKvError::from)
        })
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), CitizenKvError>> {
        self.host_call(CITIZEN_INTERFACE)?;
        Ok({
            self.kv_set(Scope::Citizen, key, value)
                .await
                .map_err(CitizenKvError::from)
        })
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, CitizenKvError>> {
        self.host_call(CITIZEN_INTERFACE)?;
        Ok({
            self.kv_delete(Scope::Citizen, key)
                .await
                .map_err(CitizenKvError::from)
        })
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<KeyPage, CitizenKvError>> {
        self.host_call(CITIZEN_INTERFACE)?;
        Ok({
            self.kv_list(Scope::Citizen, prefix, after, limit)
                .await
                .map_err(CitizenKvError::from)
        })
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, CitizenKvError>> {
        self.host_call(CITIZEN_INTERFACE)?;
        Ok({
            self.kv_swap(Scope::Citizen, key, expected, value)
                .await
                .map_err(CitizenKvError::from)
        })
    }

    async fn increment(
        &mut self,
        key: String,
        by: u64,
    ) -> wasmtime::Result<Result<u64, CitizenKvError>> {
        self.host_call(CITIZEN_INTERFACE)?;
        Ok(self
            .kv_increment(Scope::Citizen, key, by)
            .await
            .map_err(CitizenKvError::from))
    }
}
