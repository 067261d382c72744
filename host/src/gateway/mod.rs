//! The gateway: axum routes by area — `apps` (mini-app dispatch), citizen,
//! consent, payments, operator, publisher, shell, health (`/healthz`:
//! alive; `/readyz`: ready for new requests) and metrics — all listed in the
//! route table (`routes.rs`) and described in the OpenAPI document
//! (`openapi.rs`), with the request-id layer and a JSON 404 fallback. Host
//! errors become HTTP only in `error.rs`. [`serve`] turns the host
//! not-ready before it stops accepting.

mod apps;
mod auth;
mod backup;
mod citizen;
pub(crate) mod consent;
pub mod error;
mod json;
mod listener;
mod local_path;
mod oidc;
mod openapi;
mod operator;
mod paging;
mod payments;
mod publisher;
mod request_id;
pub use request_id::write_access_records_to;
pub mod routes;
mod shell;

use crate::Citadel;
use axum::Router;
pub use backup::BODY_SHA256_HEADER as BACKUP_SHA256_HEADER;
use error::{ApiError, ErrorDetail};
pub use listener::{bind, ListenerLimits, LISTEN_BACKLOG};
pub use local_path::is_local_path;
pub use openapi::{document as openapi_document, ANY_METHODS};
use routes::Routes;
pub use routes::{route_table, Access, RouteSpec};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The whole HTTP surface of the host.
pub fn router(citadel: Arc<Citadel>) -> Router {
    routes()
        .finish()
        .0
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(request_id::request_context))
        .with_state(citadel)
}

/// Every route of every area, written down in the route table.
fn routes() -> Routes {
    let routes = Routes::new()
        .any("/apps/{app}", Access::App, apps::app_root_redirect)
        .any("/apps/{app}/", Access::App, apps::dispatch_root)
        .any("/apps/{app}/{*path}", Access::App, apps::dispatch)
        .any(
            "/f/{token}/apps/{app}",
            Access::Frame,
            apps::frame_root_redirect,
        )
        .any(
            "/f/{token}/apps/{app}/",
            Access::Frame,
            apps::dispatch_frame_root,
        )
        .any(
            "/f/{token}/apps/{app}/{*path}",
            Access::Frame,
            apps::dispatch_frame,
        )
        .get("/healthz", Access::Public, healthz)
        .get("/readyz", Access::Public, readyz)
        .get("/metrics", Access::Metrics, metrics);
    let routes = citizen::routes(routes);
    let routes = consent::routes(routes);
    let routes = payments::routes(routes);
    let routes = operator::routes(routes);
    let routes = backup::routes(routes);
    let routes = oidc::routes(routes);
    let routes = publisher::routes(routes);
    let routes = openapi::routes(routes);
    shell::routes(routes)
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
    cookie_within(headers, name, 256)
}

/// As [`cookie`], for a cookie whose values may be up to `limit` bytes.
pub(crate) fn cookie_within(
    headers: &axum::http::HeaderMap,
    name: &str,
    limit: usize,
) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty() && value.len() <= limit)
        .map(|(_, value)| value.to_string())
}

/// `"; Secure"` when citizens reach the host over HTTPS (its public URL
/// says so), else nothing: the attribute every cookie the host sets
/// carries, so none travels over plain HTTP.
pub(crate) fn secure_cookie_attribute(citadel: &crate::Citadel) -> &'static str {
    if citadel
        .public_url
        .as_ref()
        .is_some_and(crate::public_url::PublicUrl::is_https)
    {
        "; Secure"
    } else {
        ""
    }
}

/// Who may frame a page the host draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No one (consent, payment, sign-in, refusals outside the shell): an
    /// app cannot overlay the page.
    Nowhere,
    /// Only the host's own pages: a refusal shown in the shell's app frame.
    /// Such a page runs no script and sends no request.
    HostPagesOnly,
}

/// A page the host draws itself (consent, payment, a refusal): framed only
/// as `framing` allows, so an app cannot overlay it; scripts only from the
/// host; nothing cached.
pub(crate) fn host_page(
    status: axum::http::StatusCode,
    html: String,
    framing: Framing,
) -> axum::response::Response {
    use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;
    let mut response = (status, axum::response::Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match framing {
        Framing::Nowhere => {
            headers.insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
                ),
            );
            headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        Framing::HostPagesOnly => {
            headers.insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'self'",
                ),
            );
        }
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

/// `/healthz`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok`: the process answers.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Whether the process is alive: 200 `{"status":"ok"}` while it answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process answers.", body = Health))
)]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Each readiness check by name, and its state.
type Checks = BTreeMap<&'static str, &'static str>;

/// `/readyz`'s 200 answer.
#[derive(Serialize, utoipa::ToSchema)]
struct Ready {
    /// `ready`.
    #[schema(example = "ready")]
    status: &'static str,
    /// Each check by name and its state: `phase` (`ready`); `store`, `city`
    /// and `registry` (`ok`); on PostgreSQL, `database` (`ok`).
    #[schema(value_type = BTreeMap<String, String>)]
    checks: Checks,
}

/// `/readyz`'s 503 answer: the error body with the failing check, beside
/// every check's state.
#[derive(Serialize, utoipa::ToSchema)]
struct NotReady {
    error: NotReadyDetail,
    /// The error's code again: `starting`, `shutting_down` or `not_ready`.
    status: &'static str,
    /// Each check by name and its state: `phase` (`starting`, `ready` or
    /// `shutting_down`); `store`, `city` and `registry` (`ok` or
    /// `not_loaded`); on PostgreSQL, `database` (`ok`, `failed` or `timeout`).
    #[schema(value_type = BTreeMap<String, String>)]
    checks: Checks,
}

/// The error of a 503 from `/readyz`.
#[derive(Serialize, utoipa::ToSchema)]
struct NotReadyDetail {
    #[serde(flatten)]
    detail: ErrorDetail,
    /// The check that failed: `phase`, `store`, `city`, `registry` or
    /// `database`.
    check: &'static str,
}

/// The longest `/readyz` waits for the database to answer.
const READY_DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// `/readyz`: 200 `{"status":"ready","checks":{…}}` only while the host is
/// open (store, city data and registry loaded), not shutting down, and — on
/// PostgreSQL — the database answers `SELECT 1` within
/// [`READY_DATABASE_TIMEOUT`]. Otherwise 503 with the error shape of
/// [`ApiError`] plus the failing `check`, and every check's state. Names no
/// address, URL or backend error: those go to the log.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "Whether the host takes new requests",
    description = "200 only while the host is open (store, city data and registry loaded), \
        not shutting down, and, on PostgreSQL, the database answers within 2 s. \
        Never cached (`Cache-Control: no-store`).",
    responses(
        (status = 200, description = "Ready for new requests.", body = Ready),
        (status = 503, description = "`starting`: the store, city data or registry is \
            still opening; `shutting_down`: the host finishes the requests in flight and \
            takes no new ones; `not_ready`: a part is not loaded or the database did not \
            answer (the failing `check` says which).", body = NotReady),
    )
)]
async fn readyz(
    axum::extract::State(citadel): axum::extract::State<Arc<Citadel>>,
) -> axum::response::Response {
    use crate::{Part, Phase};
    let mut checks = Checks::new();
    let phase = citadel.readiness.phase();
    checks.insert("phase", phase.name());
    match phase {
        Phase::Ready => {}
        Phase::Starting => {
            return not_ready(
                "starting",
                "phase",
                "the host is still opening its store, city data and registry",
                checks,
            )
        }
        Phase::ShuttingDown => {
            return not_ready(
                "shutting_down",
                "phase",
                "the host is shutting down: it finishes the requests in flight and takes \
                 no new ones; send them to another host",
                checks,
            )
        }
    }
    let mut failed: Option<(Part, String)> = None;
    for part in Part::ALL {
        let loaded = citadel.readiness.is_loaded(part);
        checks.insert(part.name(), if loaded { "ok" } else { "not_loaded" });
        if !loaded && failed.is_none() {
            failed = Some((part, format!("the {} is not loaded", part.name())));
        }
    }
    if let Some((part, message)) = failed {
        return not_ready("not_ready", part.name(), message, checks);
    }
    if let Some(ping) = citadel.database_ping() {
        let answer = tokio::time::timeout(READY_DATABASE_TIMEOUT, ping).await;
        let (state, message) = match answer {
            Ok(Ok(())) => ("ok", None),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the database did not answer");
                (
                    "failed",
                    Some("the database refused or failed a query".to_string()),
                )
            }
            Err(_) => (
                "timeout",
                Some(format!(
                    "the database did not answer within {} s",
                    READY_DATABASE_TIMEOUT.as_secs()
                )),
            ),
        };
        checks.insert("database", state);
        if let Some(message) = message {
            return not_ready("not_ready", "database", message, checks);
        }
    }
    let body = Ready {
        status: "ready",
        checks,
    };
    no_store((axum::http::StatusCode::OK, axum::Json(body)))
}

/// `/readyz`'s 503: the [`ApiError`] body with the failing `error.check`,
/// beside every check.
fn not_ready(
    code: &'static str,
    check: &'static str,
    message: impl Into<String>,
    checks: Checks,
) -> axum::response::Response {
    let error = ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, code, message);
    let body = NotReady {
        error: NotReadyDetail {
            detail: error.detail(),
            check,
        },
        status: code,
        checks,
    };
    no_store((error.status, axum::Json(body)))
}

/// `response` with `Cache-Control: no-store`: a probe's answer is for now.
fn no_store(response: impl axum::response::IntoResponse) -> axum::response::Response {
    let mut response = response.into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// `/metrics`: open unless the host has a scrape token; then that token or
/// any operator token, as a bearer credential.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    summary = "The host's Prometheus metrics",
    description = "The Prometheus text exposition of the host's and every app's metrics. \
        Open, unless the host has a scrape token: then that token or an operator token, \
        as a bearer credential.",
    responses(
        (status = 200, description = "The metrics.", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
    )
)]
async fn metrics(
    axum::extract::State(citadel): axum::extract::State<Arc<Citadel>>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if let Some(wanted) = &citadel.metrics_token {
        let token = bearer_token(&headers);
        let allowed = match &token {
            Some(token) => {
                constant_time_eq(token.as_bytes(), wanted.as_bytes())
                    || citadel.credentials.operator_for(token).await?.is_some()
            }
            None => false,
        };
        if !allowed {
            return Err(auth::refuse(
                &citadel,
                token.as_deref(),
                "the metrics scrape token or an operator token",
            )
            .await?);
        }
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(),
    )
        .into_response())
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// Serve `citadel` on `listener` until `shutdown` resolves; then turn
/// `/readyz` to 503 (`shutting_down`) at once, keep accepting for the
/// host's shutdown grace, stop accepting, let in-flight requests and their
/// instances finish, and stop the background tasks.
pub async fn serve(
    citadel: Arc<Citadel>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        citadel.capabilities.outbound().add_own_listener(addr);
    }
    let tasks = crate::tasks::Tasks::start(&citadel);
    let (readiness, grace) = (citadel.readiness.clone(), citadel.shutdown_grace);
    let stop_accepting = async move {
        shutdown.await;
        readiness.shutting_down();
        tracing::info!(
            grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
            "not ready: /readyz answers 503; accepting for the shutdown grace, then draining"
        );
        tokio::time::sleep(grace).await;
    };
    let served = listener::serve_connections(
        listener,
        router(citadel.clone()),
        citadel.listener,
        stop_accepting,
    )
    .await;
    tasks.stop().await;
    served?;
    citadel.runtime.drain().await;
    Ok(())
}
