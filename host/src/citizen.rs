//! A citizen as the host carries them through a request: the identity
//! provider's profile, the session the request came with and the device's
//! last reported position. Plain records, a leaf of the crate: identity
//! fills them, the runtime carries them, the capabilities read them.

use serde::{Deserialize, Serialize};

/// A staff role in a city unit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Role {
    pub unit: String,
    pub role: String,
}

/// A citizen as the identity provider knows them. Never handed to a mini-app
/// as is: apps see a pairwise id, and personal fields only with consent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Citizen {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub national_id: String,
    pub address: String,
    pub birth_date: String,
    pub locale: String,
    pub roles: Vec<Role>,
}

/// A position a citizen's device reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    /// Unix milliseconds when the host received it.
    pub at: u64,
}

/// A citizen's session as the store keeps it: the sha256 (hex) of its
/// token. A request's token is hashed once, where it arrives
/// (`SessionKey::of`, in `identity::sessions`); what is done for the session
/// past that point (a write made for it, a frame opened from it, its end)
/// names it by this key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionKey(String);

impl SessionKey {
    /// A key already hashed: from a token by `SessionKey::of`, or as the
    /// store gave it (a frame's parent session).
    pub(crate) fn hashed(sha256: String) -> SessionKey {
        SessionKey(sha256)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
