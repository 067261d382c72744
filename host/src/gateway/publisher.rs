//! The publisher API (`/api/v1/publisher/...`): a partner company uploads
//! signed packages and follows its own apps — versions, states, metrics —
//! and withdraws versions not yet live. A publisher key reaches only apps
//! that publisher owns; another publisher's app answers 404, as if absent.

use super::auth::Publisher;
use super::error::{ApiError, ErrorBody};
use super::json::PathParams;
use super::routes::{Access, Routes};
use crate::registry::package::MAX_PACKAGE_BYTES;
use crate::registry::{AppRecord, VersionRecord};
use crate::telemetry::AppSummary;
use crate::Citadel;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .post("/api/v1/publisher/packages", Access::Publisher, upload)
        .get("/api/v1/publisher/apps", Access::Publisher, list_apps)
        .get("/api/v1/publisher/apps/{app}", Access::Publisher, get_app)
        .get(
            "/api/v1/publisher/apps/{app}/metrics",
            Access::Publisher,
            metrics,
        )
        .post(
            "/api/v1/publisher/apps/{app}/versions/{version}/withdraw",
            Access::Publisher,
            withdraw,
        )
}

/// The app record of `app` if `publisher` owns it; 404 otherwise.
async fn owned(citadel: &Citadel, publisher: &Publisher, app: &str) -> Result<AppRecord, ApiError> {
    citadel
        .registry
        .app_record(app)
        .await?
        .filter(|record| record.publisher == publisher.0.id)
        .ok_or_else(|| ApiError::not_found("app_not_found", format!("you publish no app `{app}`")))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "package_too_large",
        format!("a package may be at most {MAX_PACKAGE_BYTES} bytes"),
    )
}

/// Upload a signed package; it enters review.
///
/// The package is one tar file (`citadel app package` builds it): the
/// manifest, the component and an ed25519 signature by one of the
/// publisher's current signing keys; at most 64 MiB. Every check — layout,
/// signature, ownership of the app id, a newer version, the contract, the
/// imports against the requested capabilities, a compile — runs before
/// anything is stored.
#[utoipa::path(
    post,
    path = "/api/v1/publisher/packages",
    tag = "publisher",
    request_body(description = "The signed package (a tar file).",
        content(("application/octet-stream"))),
    responses(
        (status = 201, description = "The new version, in review.", body = VersionRecord),
        (status = 400, description = "`invalid_package`: not a package's layout.",
            body = ErrorBody),
        (status = 403, description = "`unknown_signing_key`: not signed by a current key of \
            this publisher; `publisher_mismatch`: the manifest names another publisher; \
            `app_not_owned`: another publisher owns the app id.", body = ErrorBody),
        (status = 409, description = "`version_not_newer`: the app has this version or a \
            newer one; `changed_meanwhile`: another change to the app came first (on any host).", body = ErrorBody),
        (status = 413, description = "`package_too_large`: more than 64 MiB.",
            body = ErrorBody),
        (status = 422, description = "`invalid_signature`, `invalid_manifest` (also when \
            a name or description still holds the placeholder text of `citadel app new`), \
            `contract_unsupported` (the component needs a contract version the host does \
            not provide), `imports_not_covered` (an import no requested capability covers), \
            `invalid_component`, `component_too_large`, `limit_above_host_share`.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn upload(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|length| length > MAX_PACKAGE_BYTES) {
        super::drain(body, 2 * MAX_PACKAGE_BYTES).await;
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_PACKAGE_BYTES)
        .await
        .map_err(|_| too_large())?;
    let version = citadel.registry.submit(&publisher.0, &bytes).await?;
    Ok((StatusCode::CREATED, Json(version)).into_response())
}

/// The publisher's apps
#[utoipa::path(
    get,
    path = "/api/v1/publisher/apps",
    tag = "publisher",
    operation_id = "publisher_list_apps",
    responses(
        (status = 200, description = "Its apps' records.", body = Vec<AppRecord>),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn list_apps(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<Vec<AppRecord>>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .app_records()
            .await?
            .into_iter()
            .filter(|app| app.publisher == publisher.0.id)
            .collect(),
    ))
}

/// One of the publisher's apps and every version of it.
#[derive(Serialize, ToSchema)]
struct PublishedApp {
    app: AppRecord,
    /// Newest first.
    versions: Vec<VersionRecord>,
}

/// One of the publisher's apps and its versions
#[utoipa::path(
    get,
    path = "/api/v1/publisher/apps/{app}",
    tag = "publisher",
    params(("app" = String, Path, description = "The app's id.")),
    responses(
        (status = 200, description = "The app and its versions.", body = PublishedApp),
        (status = 404, description = "`app_not_found`: the publisher has no such app.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn get_app(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
) -> Result<Json<PublishedApp>, ApiError> {
    let record = owned(&citadel, &publisher, &app).await?;
    let versions: Vec<VersionRecord> = citadel.registry.versions(&app).await?;
    Ok(Json(PublishedApp {
        app: record,
        versions,
    }))
}

/// One of the publisher's apps' metrics
///
/// Requests by status class, the latency histogram, guest failures and
/// denials by capability.
#[utoipa::path(
    get,
    path = "/api/v1/publisher/apps/{app}/metrics",
    tag = "publisher",
    operation_id = "publisher_app_metrics",
    params(("app" = String, Path, description = "The app's id.")),
    responses(
        (status = 200, description = "The app's series.", body = AppSummary),
        (status = 404, description = "`app_not_found`: the publisher has no such app.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn metrics(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
) -> Result<Json<AppSummary>, ApiError> {
    owned(&citadel, &publisher, &app).await?;
    Ok(Json(crate::telemetry::app_summary(&app)))
}

/// Withdraw a version that is not live yet
#[utoipa::path(
    post,
    path = "/api/v1/publisher/apps/{app}/versions/{version}/withdraw",
    tag = "publisher",
    params(
        ("app" = String, Path, description = "The app's id."),
        ("version" = String, Path, description = "The version, semver."),
    ),
    responses(
        (status = 200, description = "The version, withdrawn.", body = VersionRecord),
        (status = 404, description = "`app_not_found`: the publisher has no such app; \
            `version_not_found`.", body = ErrorBody),
        (status = 409, description = "`wrong_state`: only a version in review or approved \
            can be withdrawn; `changed_meanwhile`: another change to the app came first (on any host).", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn withdraw(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
    PathParams((app, version)): PathParams<(String, String)>,
) -> Result<Json<VersionRecord>, ApiError> {
    owned(&citadel, &publisher, &app).await?;
    Ok(Json(
        citadel
            .registry
            .withdraw(&app, &version, &format!("publisher:{}", publisher.0.id))
            .await?,
    ))
}
