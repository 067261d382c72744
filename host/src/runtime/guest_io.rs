//! What a guest writes outside its sandbox: stdout/stderr become `tracing`
//! events labelled with app and request id, bounded per request. (Outbound
//! HTTP belongs to the `http:` capability.)

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Most bytes of output kept per request and stream; the rest is dropped.
const MAX_OUTPUT: usize = 64 * 1024;
/// A line longer than this is logged in pieces.
const MAX_LINE: usize = 4096;

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
        let line = String::from_utf8_lossy(&self.pending);
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
