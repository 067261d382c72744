//! The citizen's position (capability `location`, contract 1.3): given only
//! with the city's grant and the citizen's consent. With `?` in a handler, a
//! missing consent becomes the 428 answer that opens the host's consent page.

use crate::bindings::citadel::miniapp::location as host;

pub use host::{LocationError, Position};

/// The citizen's last reported position, if recent.
pub fn current() -> Result<Position, LocationError> {
    host::current()
}
