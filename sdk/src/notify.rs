//! Messages to citizens' inboxes (capability `notify`, contract 1.1; to
//! another citizen of the app since 1.3). The host rate-limits them per app
//! and recipient.

use crate::bindings::citadel::miniapp::notify as host;

pub use host::NotifyError;

/// Put a message in the citizen's inbox; `link` is a path inside this app.
pub fn send(title: &str, body: &str, link: Option<&str>) -> Result<(), NotifyError> {
    host::send(title, body, link)
}

/// Put a message in the inbox of another citizen of this app, named by the
/// pairwise id the app saw them under (e.g. a report's author).
pub fn send_to(
    recipient: &str,
    title: &str,
    body: &str,
    link: Option<&str>,
) -> Result<(), NotifyError> {
    host::send_to(recipient, title, body, link)
}
