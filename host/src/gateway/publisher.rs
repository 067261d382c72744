//! The publisher API (`/api/v1/publisher/...`): a partner company uploads
//! signed packages and follows its own apps — versions, states, metrics —
//! and withdraws versions not yet live. A publisher key reaches only apps
//! that publisher owns; another publisher's app answers 404, as if absent.

use super::auth::Publisher;
use super::error::ApiError;
use super::routes::{Access, Routes};
use crate::registry::package::MAX_PACKAGE_BYTES;
use crate::registry::{AppRecord, VersionRecord};
use crate::Citadel;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

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

async fn get_app(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let record = owned(&citadel, &publisher, &app).await?;
    let versions: Vec<VersionRecord> = citadel.registry.versions(&app).await?;
    Ok(Json(
        serde_json::json!({ "app": record, "versions": versions }),
    ))
}

async fn metrics(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    owned(&citadel, &publisher, &app).await?;
    Ok(Json(crate::telemetry::app_summary(&app)))
}

async fn withdraw(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
    Path((app, version)): Path<(String, String)>,
) -> Result<Json<VersionRecord>, ApiError> {
    owned(&citadel, &publisher, &app).await?;
    Ok(Json(
        citadel
            .registry
            .withdraw(&app, &version, &format!("publisher:{}", publisher.0.id))
            .await?,
    ))
}
