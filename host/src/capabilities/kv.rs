//! Capability `kv`: app-scoped key-value storage. Owns its manifest name, the
//! interface it covers, key and value rules, and the host calls. An app can
//! only ever name keys inside its own namespace (the store keeps one tree per app).

use super::bindings::citadel::miniapp::kv::{self as wit, KeyPage, KvError};
use super::Capability;
use crate::runtime::RequestState;
use crate::store::StoreError;
use wasmtime::component::{HasSelf, Linker};

pub const NAME: &str = "kv";

pub const CAPABILITY: Capability = Capability {
    name: NAME,
    interfaces: &["kv"],
    summary: "store and read the app's own data",
};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most keys one `list-keys` call returns.
pub const MAX_LIST: u32 = 1000;

pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<RequestState>>(linker, |state| state)
}

fn unavailable(e: StoreError) -> KvError {
    tracing::error!(error = %e, "kv host call failed");
    KvError::Unavailable("the app's storage is unavailable; try again".into())
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() {
        return Err(KvError::InvalidKey("a key must not be empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::InvalidKey(format!(
            "a key must be at most {MAX_KEY_BYTES} bytes; this one has {}",
            key.len()
        )));
    }
    Ok(())
}

impl RequestState {
    fn kv_allowed(&mut self) -> Result<(), KvError> {
        if self.app.has_capability(NAME) {
            Ok(())
        } else {
            self.record_denial(NAME);
            Err(KvError::Denied(NAME.into()))
        }
    }
}

impl wit::Host for RequestState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.kv_allowed()?;
        check_key(&key)?;
        self.app
            .store
            .kv_get(&self.app.id, &key)
            .map_err(unavailable)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.kv_allowed()?;
        check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::ValueTooLarge(MAX_VALUE_BYTES as u64));
        }
        self.app
            .store
            .kv_set(&self.app.id, &key, &value)
            .map_err(unavailable)?;
        self.mark_unflushed();
        Ok(())
    }

    fn delete(&mut self, key: String) -> Result<bool, KvError> {
        self.kv_allowed()?;
        check_key(&key)?;
        let existed = self
            .app
            .store
            .kv_delete(&self.app.id, &key)
            .map_err(unavailable)?;
        self.mark_unflushed();
        Ok(existed)
    }

    fn list_keys(
        &mut self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        self.kv_allowed()?;
        let page = self
            .app
            .store
            .kv_list(
                &self.app.id,
                &prefix,
                after.as_deref(),
                limit.clamp(1, MAX_LIST) as usize,
            )
            .map_err(unavailable)?;
        Ok(KeyPage {
            keys: page.keys,
            next: page.next,
        })
    }
}
