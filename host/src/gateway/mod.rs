//! The gateway: axum routers by area, merged here with the request-id layer
//! and a JSON 404 fallback. Areas: `apps` (mini-app dispatch) and `health`.
//! Host errors become HTTP only in `error.rs`.

mod apps;
mod auth;
mod citizen;
pub(crate) mod consent;
pub mod error;
mod json;
mod operator;
mod payments;
mod publisher;
mod request_id;
mod shell;

use crate::Citadel;
use axum::routing::{any, get};
use axum::Router;
use error::ApiError;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The whole HTTP surface of the host.
pub fn router(citadel: Arc<Citadel>) -> Router {
    Router::new()
        .route("/apps/{app}", any(apps::redirect_to_root))
        .route("/apps/{app}/", any(apps::dispatch))
        .route("/apps/{app}/{*path}", any(apps::dispatch))
        .route("/f/{token}/apps/{app}", any(apps::redirect_to_root))
        .route("/f/{token}/apps/{app}/", any(apps::dispatch_frame))
        .route("/f/{token}/apps/{app}/{*path}", any(apps::dispatch_frame))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(citizen::router())
        .merge(consent::router())
        .merge(payments::router())
        .merge(operator::router())
        .merge(publisher::router())
        .merge(shell::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(request_id::request_context))
        .with_state(citadel)
}

/// The token of an `Authorization: Bearer <token>` header, if any.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

/// The value of cookie `name`, if the request carries a non-empty one of
/// at most 256 bytes.
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty() && value.len() <= 256)
        .map(|(_, value)| value.to_string())
}

/// Whether `path` is a path on this host (`/…`), not another site
/// (`//host/…`, `\\host`) or a scheme: the only return targets accepted.
pub(crate) fn is_local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

/// A page the host draws itself (consent, payment): no framing, so an app
/// cannot overlay it; scripts only from the host; nothing cached.
pub(crate) fn host_page(status: axum::http::StatusCode, html: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (status, axum::response::Html(html)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (
            axum::http::header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
        ),
        (axum::http::header::X_FRAME_OPTIONS, "DENY"),
        (axum::http::header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, axum::http::HeaderValue::from_static(value));
    }
    response
}

/// Read and drop up to `limit` bytes of a refused body (for at most 5 s), so
/// a client still sending it reads the 413 instead of a reset connection.
pub(crate) async fn drain(body: axum::body::Body, limit: usize) {
    use http_body_util::BodyExt;
    let read = async {
        let mut body = body;
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > limit {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
}

/// `text` safe inside HTML text and attribute values.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(),
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "there is nothing at this path")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not accept that method",
    )
}

/// Serve `citadel` on `listener` until `shutdown` resolves, then let
/// in-flight requests and their instances finish, and flush the store.
pub async fn serve(
    citadel: Arc<Citadel>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        citadel.runtime.outbound().add_own_listener(addr);
    }
    let (stop_hooks, hooks_stopped) = tokio::sync::watch::channel(false);
    let hooks = tokio::spawn(crate::payments::hooks::run(citadel.clone(), hooks_stopped));
    let app = router(citadel.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_hooks.send(true);
    let _ = hooks.await;
    served?;
    citadel.runtime.drain().await;
    if let Err(e) = citadel.store.flush() {
        tracing::error!(error = %e, "final flush failed");
    }
    Ok(())
}
