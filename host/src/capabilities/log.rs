//! The `log` interface: free for every app. Forwards a guest's log lines to
//! `tracing`, labelled with app, version and request id, truncated when long,
//! at most `MAX_LINES` a request and within the host's log-line rate.

use super::bindings::citadel::miniapp::log::{self as wit, Level};
use crate::runtime::RequestState;
use wasmtime::component::{HasSelf, Linker};

pub const INTERFACE: &str = "log";

/// Longest message kept, in bytes; the rest is cut.
const MAX_MESSAGE: usize = 4096;
/// Lines one request may log; later ones are dropped.
const MAX_LINES: u32 = 100;

pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<RequestState>>(linker, |state| state)
}

impl wit::Host for RequestState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.spend(INTERFACE)?;
        self.log_lines += 1;
        if self.log_lines > MAX_LINES || !crate::runtime::host_log_lines().allow() {
            return Ok(());
        }
        let mut end = message.len().min(MAX_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let message = crate::runtime::one_line(&message[..end]);
        let (app, version, request_id) = (&self.app.id, &self.app.version, &self.request_id);
        match level {
            Level::Trace => {
                tracing::trace!(target: "guest", %app, %version, %request_id, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "guest", %app, %version, %request_id, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "guest", %app, %version, %request_id, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "guest", %app, %version, %request_id, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "guest", %app, %version, %request_id, "{message}")
            }
        }
        Ok(())
    }
}
