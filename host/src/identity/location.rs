//! Where citizens' devices last said they were. The shell reports a position
//! (`PUT /api/v1/me/location`); it is kept in the store for a short time
//! (so it survives a restart and every host sees it) and reaches an app only
//! through the consented `location` capability.

use super::sessions::SessionKey;
use crate::store::{LocationRecord, Store, StoreError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a reported position stays usable.
pub const MAX_AGE: Duration = Duration::from_secs(30 * 60);

pub use crate::citizen::Position;

/// The last position of each citizen, in the store.
#[derive(Clone)]
pub struct Positions {
    store: Store,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Positions {
    pub fn new(store: Store) -> Self {
        Positions { store }
    }

    /// Record a position, only while `session` (the one the citizen came
    /// with) is live; the caller checked the coordinates.
    pub async fn report(
        &self,
        citizen: &str,
        lat: f64,
        lon: f64,
        accuracy_m: Option<f64>,
        session: Option<&SessionKey>,
    ) -> Result<Position, StoreError> {
        let at = now_ms();
        let record = LocationRecord {
            lat,
            lon,
            accuracy_m,
            at,
            expires: at + MAX_AGE.as_millis() as u64,
        };
        self.store
            .identity
            .put_location(citizen, &record, session.map(SessionKey::through))
            .await?;
        Ok(Position {
            lat,
            lon,
            accuracy_m,
            at,
        })
    }

    /// Forget the citizen's position (the shell stops sharing it, or sign-out).
    pub async fn forget(&self, citizen: &str) -> Result<(), StoreError> {
        self.store.identity.delete_location(citizen).await?;
        Ok(())
    }

    /// The citizen's position if it is recent.
    pub async fn current(&self, citizen: &str) -> Result<Option<Position>, StoreError> {
        Ok(self
            .store
            .identity
            .location(citizen)
            .await?
            .filter(|record| record.expires > now_ms())
            .map(|record| Position {
                lat: record.lat,
                lon: record.lon,
                accuracy_m: record.accuracy_m,
                at: record.at,
            }))
    }
}
