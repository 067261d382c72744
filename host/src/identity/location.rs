//! Where citizens' devices last said they were. The shell reports a position
//! (`PUT /api/v1/me/location`); it is kept in memory only, for a short time,
//! and reaches an app only through the consented `location` capability.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a reported position stays usable.
pub const MAX_AGE: Duration = Duration::from_secs(30 * 60);

/// A position a citizen's device reported.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    /// Unix milliseconds when the host received it.
    pub at: u64,
}

/// The last position of each citizen, by citizen id.
#[derive(Default)]
pub struct Positions {
    latest: Mutex<HashMap<String, Position>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Positions {
    /// Record a position; the caller checked the coordinates.
    pub fn report(&self, citizen: &str, lat: f64, lon: f64, accuracy_m: Option<f64>) -> Position {
        let position = Position {
            lat,
            lon,
            accuracy_m,
            at: now_ms(),
        };
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        // Drop stale entries now and then so the map holds only active citizens.
        if latest.len() % 1024 == 1023 {
            let cutoff = now_ms().saturating_sub(MAX_AGE.as_millis() as u64);
            latest.retain(|_, p| p.at >= cutoff);
        }
        latest.insert(citizen.to_string(), position);
        position
    }

    /// Forget the citizen's position (the shell stops sharing it, or sign-out).
    pub fn forget(&self, citizen: &str) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        latest.remove(citizen);
    }

    /// The citizen's position if it is recent.
    pub fn current(&self, citizen: &str) -> Option<Position> {
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        let position = *latest.get(citizen)?;
        (now_ms().saturating_sub(position.at) <= MAX_AGE.as_millis() as u64).then_some(position)
    }
}
