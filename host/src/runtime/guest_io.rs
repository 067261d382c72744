//! What a guest writes outside its sandbox: stdout/stderr become `tracing`
//! events labelled with app and request id, bounded per request, and every
//! host log line a guest causes passes one process-wide rate limit.
//! (Outbound HTTP belongs to the `http:` capability.)

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Most bytes of output kept per request and stream; the rest is dropped.
const MAX_OUTPUT: usize = 64 * 1024;
/// A line longer than this is logged in pieces.
const MAX_LINE: usize = 4096;

/// Log lines per second that guests may cause, all apps together; past it
/// lines are dropped and their number said in the next line let through.
const LOG_LINES_PER_SECOND: u32 = 200;

/// A guest's text as one log line: control characters (a newline that would
/// start a forged line, a carriage return, terminal escapes) are written as
/// their escapes, so a guest's line can never pass for the host's.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut line = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    std::borrow::Cow::Owned(line)
}

/// A process-wide budget of log lines per second (a fixed one-second window).
pub struct LogLineBudget {
    window: Mutex<(std::time::Instant, u32, u64)>,
}

impl LogLineBudget {
    /// Whether one more line may be written now. When lines were dropped
    /// before it, a warning with their number is written first.
    pub fn allow(&self) -> bool {
        let Ok(mut window) = self.window.lock() else {
            return false;
        };
        let (started, used, dropped) = &mut *window;
        if started.elapsed() >= std::time::Duration::from_secs(1) {
            if *dropped > 0 {
                tracing::warn!(
                    dropped = *dropped,
                    "guest-caused log lines were dropped by the rate limit"
                );
            }
            *started = std::time::Instant::now();
            *used = 0;
            *dropped = 0;
        }
        if *used < LOG_LINES_PER_SECOND {
            *used += 1;
            true
        } else {
            *dropped += 1;
            false
        }
    }
}

/// The budget every guest-caused log line (output, `log` calls, denials) spends.
pub fn host_log_lines() -> &'static LogLineBudget {
    static BUDGET: std::sync::OnceLock<LogLineBudget> = std::sync::OnceLock::new();
    BUDGET.get_or_init(|| LogLineBudget {
        window: Mutex::new((std::time::Instant::now(), 0, 0)),
    })
}

/// A guest's stdout or stderr.
#[derive(Clone)]
pub struct GuestOutput {
    inner: Arc<Mutex<LineBuffer>>,
}

struct LineBuffer {
    app: String,
    request_id: String,
    stream: &'static str,
    pending: Vec<u8>,
    written: usize,
}

impl GuestOutput {
    pub fn new(app: &str, request_id: &str, stream: &'static str) -> Self {
        GuestOutput {
            inner: Arc::new(Mutex::new(LineBuffer {
                app: app.to_string(),
                request_id: request_id.to_string(),
                stream,
                pending: Vec::new(),
                written: 0,
            })),
        }
    }
}

impl LineBuffer {
    fn write(&mut self, bytes: &[u8]) {
        let room = MAX_OUTPUT.saturating_sub(self.written);
        let bytes = &bytes[..bytes.len().min(room)];
        self.written += bytes.len();
        for &byte in bytes {
            if byte == b'\n' {
                self.emit();
            } else {
                self.pending.push(byte);
                if self.pending.len() >= MAX_LINE {
                    self.emit();
                }
            }
        }
    }

    fn emit(&mut self) {
        if !host_log_lines().allow() {
            self.pending.clear();
            return;
        }
        let text = String::from_utf8_lossy(&self.pending);
        let line = one_line(&text);
        tracing::info!(
            target: "guest",
            app = %self.app,
            request_id = %self.request_id,
            stream = self.stream,
            "{line}"
        );
        self.pending.clear();
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Ok(mut inner) = self.inner.lock() {
            inner.write(buf);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_guest_line_cannot_start_another_or_drive_the_terminal() {
        let forged = "ok\n2026-12-01T00:00:00Z WARN citadel: host call denied app=other\r\u{1b}[2K";
        let line = one_line(forged);
        assert!(!line.chars().any(char::is_control), "{line}");
        assert!(line.starts_with("ok\\n2026"), "{line}");
        assert_eq!(one_line("Xin chào, Huế!\ttab"), "Xin chào, Huế!\\ttab");
        assert!(matches!(
            one_line("plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
    }
}
