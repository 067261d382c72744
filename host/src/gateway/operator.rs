//! The operator API (`/api/v1/operator/...`): the city's view of installed
//! apps, their requested and granted capabilities, and the audit log.
//! Every route needs an operator bearer token.

use super::auth::Operator;
use super::error::ApiError;
use super::json::{JsonBody, QueryParams};
use crate::audit::{AuditPage, AuditQuery};
use crate::identity;
use crate::store::PublisherRecord;
use crate::Citadel;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn router() -> Router<Arc<Citadel>> {
    Router::new()
        .route("/api/v1/operator/apps", get(list_apps))
        .route(
            "/api/v1/operator/apps/{app}/grants",
            get(get_grants).put(put_grants),
        )
        .route("/api/v1/operator/audit", get(audit))
        .route(
            "/api/v1/operator/publishers",
            get(list_publishers).post(add_publisher),
        )
        .route(
            "/api/v1/operator/publishers/{publisher}/keys",
            post(issue_key),
        )
}

#[derive(Serialize)]
pub(crate) struct AppView {
    id: String,
    version: String,
    requested: Vec<String>,
    granted: Vec<String>,
    effective: Vec<String>,
}

pub(crate) fn app_view(citadel: &Citadel, app: &str) -> Result<AppView, ApiError> {
    let live = citadel
        .registry
        .live(app)
        .ok_or_else(|| ApiError::not_found("app_not_found", format!("there is no app `{app}`")))?;
    let granted = citadel.registry.grants(app)?;
    let context = &live.context;
    Ok(AppView {
        id: context.id.clone(),
        version: context.version.to_string(),
        requested: context.requested.clone(),
        effective: context
            .requested
            .iter()
            .filter(|c| granted.contains(*c))
            .cloned()
            .collect(),
        granted: granted.into_iter().collect(),
    })
}

async fn list_apps(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<Vec<AppView>>, ApiError> {
    let apps = citadel.registry.apps();
    apps.iter()
        .map(|app| app_view(&citadel, &app.context.id))
        .collect::<Result<_, _>>()
        .map(Json)
}

async fn get_grants(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    app_view(&citadel, &app).map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantsBody {
    capabilities: Vec<String>,
}

async fn put_grants(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
    JsonBody(body): JsonBody<GrantsBody>,
) -> Result<Json<AppView>, ApiError> {
    citadel
        .registry
        .set_grants(&app, body.capabilities, &operator.actor())?;
    app_view(&citadel, &app).map(Json)
}

async fn audit(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(citadel.audit.query(&query)?))
}

async fn list_publishers(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<Vec<PublisherRecord>>, ApiError> {
    Ok(Json(citadel.store.publishers()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublisherBody {
    /// The slug manifests name in `publisher`.
    id: String,
    name: String,
}

/// Register a publisher and issue its first API key (shown once).
async fn add_publisher(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    JsonBody(body): JsonBody<PublisherBody>,
) -> Result<Response, ApiError> {
    if !crate::registry::manifest::is_slug(&body.id) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_publisher_id",
            format!(
                "`{}` is not a valid publisher id: use 2 to 40 lower-case letters, digits and `-`",
                body.id
            ),
        ));
    }
    if body.name.trim().is_empty() || body.name.chars().count() > 120 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_publisher_name",
            "the name must be 1 to 120 characters",
        ));
    }
    if citadel.store.publisher(&body.id)?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "publisher_exists",
            format!(
                "publisher `{}` exists; issue it a new key with POST /api/v1/operator/publishers/{}/keys",
                body.id, body.id
            ),
        ));
    }
    let (publisher, key) =
        identity::issue_publisher_key(citadel.store.as_ref(), &body.id, body.name.trim())?;
    record_key_issued(&citadel, &operator, &publisher.id);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "publisher": publisher, "api_key": key })),
    )
        .into_response())
}

/// Issue another API key to a publisher (rotation); earlier keys stay valid.
async fn issue_key(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(publisher): Path<String>,
) -> Result<Response, ApiError> {
    let existing = citadel.store.publisher(&publisher)?.ok_or_else(|| {
        ApiError::not_found(
            "publisher_not_found",
            format!("there is no publisher `{publisher}`"),
        )
    })?;
    let (publisher, key) =
        identity::issue_publisher_key(citadel.store.as_ref(), &existing.id, &existing.name)?;
    record_key_issued(&citadel, &operator, &publisher.id);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "publisher": publisher, "api_key": key })),
    )
        .into_response())
}

fn record_key_issued(citadel: &Citadel, operator: &Operator, publisher: &str) {
    citadel.audit.record(crate::audit::Event {
        kind: "publisher-key",
        actor: operator.actor(),
        detail: format!("issued an API key to publisher `{publisher}`"),
        ..Default::default()
    });
}
