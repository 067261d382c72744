//! The listener: accepts connections up to a cap, serves each with HTTP/1.1
//! under a header-read timeout, and shuts down gracefully (in-flight
//! requests finish, idle keep-alive connections close). Body timeouts are
//! the runtime's, which reads an app request's body before taking an instance.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Connections the kernel holds for the host before it accepts them. The
/// common default (128) overflows when a few hundred clients connect in one
/// burst — the morning rush, or a flood the host must outlast — and the
/// kernel then drops or resets some of them before the host ever sees them.
pub const LISTEN_BACKLOG: u32 = 1024;

/// A listening socket on `address` with [`LISTEN_BACKLOG`] (the system's
/// `net.core.somaxconn` may lower it).
pub fn bind(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As a plain bind does on Unix: a restarted host takes its port back
    // while the old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// What the listener bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections open at once; past it the listener stops accepting until
    /// one closes (new clients wait in the kernel's backlog).
    pub max_connections: usize,
    /// Time a client has to send a request's whole head, and the longest an
    /// idle keep-alive connection is kept.
    pub header_read_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serve `router` on `listener` until `shutdown` resolves, then stop
/// accepting (closing the listening socket, so new clients are refused at
/// once rather than left in the backlog), let every open connection finish
/// its request in flight, and return once all have closed.
pub async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service =
                hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().oneshot(request.map(axum::body::Body::new))
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_connection_end(result),
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    log_connection_end(connection.await);
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    connections.close();
    connections.wait().await;
    Ok(())
}

fn log_connection_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        if !e.is_incomplete_message() && !e.is_timeout() {
            tracing::debug!(error = %e, "a connection ended with an error");
        }
    }
}
