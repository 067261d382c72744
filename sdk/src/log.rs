//! Logging into the host's logs, labelled by the host with the app id and
//! the request id. (`println!` also works; it lands in the same logs.)

use crate::bindings::citadel::miniapp::log::{log, Level};

/// Log at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Log at info level.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Log at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Log at error level.
pub fn error(message: &str) {
    log(Level::Error, message)
}
