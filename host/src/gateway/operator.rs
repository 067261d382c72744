//! The operator API (`/api/v1/operator/...`): the city's view of installed
//! apps, their requested and granted capabilities, and the audit log.
//! Every route needs an operator bearer token.

use super::error::ApiError;
use super::json::{JsonBody, QueryParams};
use crate::audit::{AuditPage, AuditQuery};
use crate::identity;
use crate::store::OperatorRecord;
use crate::Citadel;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::get;
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
}

/// An authenticated operator.
pub struct Operator(pub OperatorRecord);

impl Operator {
    fn actor(&self) -> String {
        format!("operator:{}", self.0.name)
    }
}

impl FromRequestParts<Arc<Citadel>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        citadel: &Arc<Citadel>,
    ) -> Result<Self, ApiError> {
        let token = super::bearer_token(&parts.headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this API needs an operator token: send `Authorization: Bearer <token>`",
            )
        })?;
        match identity::operator_for(citadel.store.as_ref(), &token) {
            Ok(Some(record)) => Ok(Operator(record)),
            Ok(None) if citadel.sessions.lookup(&token)?.is_some() => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_role",
                "a citizen session cannot use the operator API",
            )),
            Ok(None) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "the operator token is not valid",
            )),
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Serialize)]
struct AppView {
    id: String,
    version: String,
    requested: Vec<String>,
    granted: Vec<String>,
    effective: Vec<String>,
}

fn app_view(citadel: &Citadel, app: &str) -> Result<AppView, ApiError> {
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
