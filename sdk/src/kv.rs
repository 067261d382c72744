//! App-scoped key-value storage (capability `kv`). Keys are UTF-8 strings;
//! values are bytes, with JSON helpers. Each app sees only its own keys.

use crate::bindings::citadel::miniapp::kv as host;
use crate::Result;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use host::{KeyPage, KvError};

/// Page size used by [`keys`].
const PAGE: u32 = 1000;

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    host::get(key)
}

/// Store `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
    host::set(key, value)
}

/// Remove `key`; true if it existed.
pub fn delete(key: &str) -> Result<bool, KvError> {
    host::delete(key)
}

/// Store `value` under `key` only if it holds exactly `expected` now
/// (`None`: only if absent), atomically (contract 1.3). False if another
/// request changed it first.
pub fn compare_and_swap(key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool, KvError> {
    host::compare_and_swap(key, expected, value)
}

/// Store `value` as JSON under `key` only if the key is absent; false if it
/// exists (e.g. "this ticket was already used").
pub fn insert_new_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<bool> {
    Ok(host::compare_and_swap(key, None, &encode(key, value)?)?)
}

/// Attempts [`update_json`] makes before giving up with 409.
const UPDATE_ATTEMPTS: usize = 16;

/// Read-modify-write `key` as JSON without losing a concurrent write:
/// `change` gets the current value (if any) and returns the new one, or an
/// error that leaves the key as it was. If another request wrote the key in
/// between, `change` runs again on the fresh value.
pub fn update_json<T, F>(key: &str, mut change: F) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> Result<T>,
{
    for _ in 0..UPDATE_ATTEMPTS {
        let current = host::get(key)?;
        let decoded = current
            .as_deref()
            .map(|bytes| decode(key, bytes))
            .transpose()?;
        let next = change(decoded)?;
        if host::compare_and_swap(key, current.as_deref(), &encode(key, &next)?)? {
            return Ok(next);
        }
    }
    Err(crate::Error::new(
        409,
        "write_conflict",
        format!("`{key}` kept changing under this request; try again"),
    ))
}

/// The next number of the counter `key` (1, 2, 3, …), taken atomically
/// by the host in one step (contract 1.4): concurrent requests never get the
/// same number. Use it for ids and counts instead of reading and writing the
/// counter in two steps.
pub fn next_number(key: &str) -> Result<u64> {
    Ok(increment(key, 1)?)
}

/// Add `by` to the counter `key` atomically; the new value (contract 1.4).
pub fn increment(key: &str, by: u64) -> Result<u64, KvError> {
    host::increment(key, by)
}

/// One page of keys starting with `prefix`, after `after` (exclusive).
pub fn list_keys(prefix: &str, after: Option<&str>, limit: u32) -> Result<KeyPage, KvError> {
    host::list_keys(prefix, after, limit)
}

/// Every key starting with `prefix`, in order (reads page after page).
pub fn keys(prefix: &str) -> Result<Vec<String>, KvError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = host::list_keys(prefix, after.as_deref(), PAGE)?;
        all.extend(page.keys);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

/// The JSON value stored under `key`, if any.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    host::get(key)?.map(|bytes| decode(key, &bytes)).transpose()
}

/// Store `value` as JSON under `key`.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<()> {
    host::set(key, &encode(key, value)?)?;
    Ok(())
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        crate::Error::internal(format!("stored value under `{key}` is not valid JSON: {e}"))
    })
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| crate::Error::internal(format!("could not serialise `{key}`: {e}")))
}

/// The signed-in citizen's own keys in this app (contract 1.1): invisible
/// to other citizens. Same calls as the app-wide store.
pub mod citizen {
    use crate::bindings::citadel::miniapp::citizen_kv as host;
    use crate::Result;
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    pub use host::CitizenKvError;

    /// The value stored under `key` for the signed-in citizen, if any.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, CitizenKvError> {
        host::get(key)
    }

    /// Store `value` under `key` for the signed-in citizen.
    pub fn set(key: &str, value: &[u8]) -> Result<(), CitizenKvError> {
        host::set(key, value)
    }

    /// Remove `key`; true if it existed.
    pub fn delete(key: &str) -> Result<bool, CitizenKvError> {
        host::delete(key)
    }

    /// One page of the citizen's keys starting with `prefix`, after `after`.
    pub fn list_keys(
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<super::KeyPage, CitizenKvError> {
        host::list_keys(prefix, after, limit)
    }

    /// As [`super::compare_and_swap`], in the citizen's namespace.
    pub fn compare_and_swap(
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, CitizenKvError> {
        host::compare_and_swap(key, expected, value)
    }

    /// As [`super::increment`], in the citizen's namespace.
    pub fn increment(key: &str, by: u64) -> Result<u64, CitizenKvError> {
        host::increment(key, by)
    }

    /// The JSON value stored under `key` for the citizen, if any.
    pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
        host::get(key)?
            .map(|bytes| super::decode(key, &bytes))
            .transpose()
    }

    /// Store `value` as JSON under `key` for the citizen.
    pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<()> {
        host::set(key, &super::encode(key, value)?)?;
        Ok(())
    }
}
