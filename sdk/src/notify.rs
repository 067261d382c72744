//! Messages to the signed-in citizen's inbox (capability `notify`, contract
//! 1.1). The host rate-limits them per app and citizen.

use crate::bindings::citadel::miniapp::notify as host;

pub use host::NotifyError;

/// Put a message in the citizen's inbox; `link` is a path inside this app.
pub fn send(title: &str, body: &str, link: Option<&str>) -> Result<(), NotifyError> {
    host::send(title, body, link)
}
