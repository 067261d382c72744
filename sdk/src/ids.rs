//! Identifiers and codes for an app's records: time-sortable ids for kv
//! keys (`PA-…`, `HS-…`) and unguessable codes for tickets and links, from
//! the WASI random source through std's randomly keyed hasher.

use std::hash::{BuildHasher, Hasher};

const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Milliseconds since the Unix epoch (the host's clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// 64 random bits.
fn random() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn base36(mut n: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    out.into_iter().map(char::from).collect()
}

/// A new id: `prefix`, a dash, 9 base-36 digits of the time and 5 random
/// ones, so ids sort by creation and two made in the same millisecond differ.
pub fn sortable(prefix: &str) -> String {
    format!(
        "{prefix}-{}{}",
        base36(now_ms(), 9),
        base36(random() % 36u64.pow(5), 5)
    )
}

/// Whether `id` has the shape `sortable(prefix)` gives (anything else, such
/// as `../x`, is not an id of this kind).
pub fn is_sortable(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|rest| {
            rest.len() == 14
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        })
}

/// An unguessable code of `len` base-36 characters (about 5.2 bits each).
pub fn code(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let chunk = base36(random() % 36u64.pow(12), 12);
        out.push_str(&chunk[..12.min(len - out.len())]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_have_a_checkable_shape() {
        let first = sortable("HS");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = sortable("HS");
        assert!(first < second);
        assert!(is_sortable("HS", &first), "{first}");
        assert!(!is_sortable("PA", &first));
        assert!(!is_sortable("HS", "HS-../../etc"));
    }

    #[test]
    fn codes_differ_and_have_the_asked_length() {
        let a = code(16);
        assert_eq!(a.len(), 16);
        assert_ne!(a, code(16));
    }
}
