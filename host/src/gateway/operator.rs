//! The operator API (`/api/v1/operator/...`): the city's view of apps and
//! their grants, publishers and their keys, the review queue, rollouts,
//! rollbacks, suspensions and the audit log. Every route needs an operator
//! bearer token.

use super::auth::Operator;
use super::error::ApiError;
use super::json::{JsonBody, QueryParams};
use super::paging::AppsPage;
use super::routes::{Access, Routes};
use crate::audit::{AuditPage, AuditQuery};
use crate::identity::Revoked;
use crate::registry::publishers::{NewPublisher, PublisherRecord};
use crate::registry::{AppRecord, VersionRecord};
use crate::Citadel;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

pub(super) fn routes(routes: Routes) -> Routes {
    const O: Access = Access::Operator;
    routes
        .get("/api/v1/operator/apps", O, list_apps)
        .get("/api/v1/operator/apps/{app}/grants", O, get_grants)
        .put("/api/v1/operator/apps/{app}/grants", O, put_grants)
        .get("/api/v1/operator/audit", O, audit)
        .get("/api/v1/operator/publishers", O, list_publishers)
        .post("/api/v1/operator/publishers", O, add_publisher)
        .post("/api/v1/operator/publishers/{publisher}/keys", O, issue_key)
        .delete(
            "/api/v1/operator/publishers/{publisher}/keys/{key_id}",
            O,
            revoke_key,
        )
        .post(
            "/api/v1/operator/publishers/{publisher}/signing-keys",
            O,
            add_signing_key,
        )
        .delete(
            "/api/v1/operator/publishers/{publisher}/signing-keys/{public_key}",
            O,
            revoke_signing_key,
        )
        .get("/api/v1/operator/reviews", O, reviews)
        .get("/api/v1/operator/apps/{app}/versions", O, versions)
        .post(
            "/api/v1/operator/apps/{app}/versions/{version}/approve",
            O,
            approve,
        )
        .post(
            "/api/v1/operator/apps/{app}/versions/{version}/reject",
            O,
            reject,
        )
        .post("/api/v1/operator/apps/{app}/rollout", O, rollout)
        .post("/api/v1/operator/apps/{app}/rollback", O, rollback)
        .post("/api/v1/operator/apps/{app}/suspend", O, suspend)
        .post("/api/v1/operator/apps/{app}/resume", O, resume)
        .get("/api/v1/operator/overview", O, overview)
        .get("/api/v1/operator/audit/recent", O, recent_audit)
        .get("/api/v1/operator/apps/{app}/metrics", O, app_metrics)
        .post("/api/v1/operator/tokens", O, issue_operator_token)
        .delete("/api/v1/operator/tokens/{id}", O, revoke_operator_token)
}

#[derive(Serialize)]
pub(crate) struct AppView {
    id: String,
    version: String,
    requested: Vec<String>,
    granted: Vec<String>,
    effective: Vec<String>,
}

pub(crate) async fn app_view(citadel: &Citadel, app: &str) -> Result<AppView, ApiError> {
    let live = citadel
        .registry
        .live(app)
        .ok_or_else(|| ApiError::not_found("app_not_found", format!("there is no app `{app}`")))?;
    let granted = citadel.registry.grants(app).await?;
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
    let mut views = Vec::new();
    for app in citadel.registry.apps() {
        views.push(app_view(&citadel, &app.context.id).await?);
    }
    Ok(Json(views))
}

async fn get_grants(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    app_view(&citadel, &app).await.map(Json)
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
        .set_grants(&app, body.capabilities, &operator.actor())
        .await?;
    app_view(&citadel, &app).await.map(Json)
}

async fn audit(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(citadel.audit.query(&query).await?))
}

async fn list_publishers(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<Vec<PublisherRecord>>, ApiError> {
    Ok(Json(citadel.registry.publishers().list().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublisherBody {
    /// The slug manifests name in `publisher`.
    id: String,
    /// The company's legal name.
    name: String,
    /// Who the city talks to.
    #[serde(default)]
    contact: String,
    /// ed25519 public keys (hex) its packages may be signed with.
    #[serde(default)]
    signing_keys: Vec<String>,
    /// The city's fee on its payments, basis points (default 100).
    #[serde(default)]
    fee_bps: Option<u32>,
}

/// Register a publisher with its signing keys and issue its first API key
/// (shown once).
async fn add_publisher(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    JsonBody(body): JsonBody<PublisherBody>,
) -> Result<Response, ApiError> {
    let new = NewPublisher {
        id: body.id,
        name: body.name,
        contact: body.contact,
        signing_keys: body.signing_keys,
        fee_bps: body.fee_bps,
    };
    let (publisher, key) = citadel
        .registry
        .publishers()
        .register(new, &operator.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "publisher": publisher, "api_key": key })),
    )
        .into_response())
}

/// Issue another API key to a publisher (rotation); earlier keys stay valid
/// until revoked.
async fn issue_key(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(publisher): Path<String>,
) -> Result<Response, ApiError> {
    let issued = citadel
        .registry
        .publishers()
        .issue_key(&publisher, &operator.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "api_key": issued.key,
            "key_id": issued.id,
        })),
    )
        .into_response())
}

/// Revoke an API key by its id (the start of its hash, as listed).
async fn revoke_key(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path((publisher, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    citadel
        .registry
        .publishers()
        .revoke_key(&publisher, &key_id, &operator.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorTokenBody {
    /// Who holds the new token (a person or a system), for the audit log.
    name: String,
}

/// Issue a new operator token (shown once) — to a new operator, or to
/// rotate: issue, switch over, then revoke the old one.
async fn issue_operator_token(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    JsonBody(body): JsonBody<OperatorTokenBody>,
) -> Result<Response, ApiError> {
    let issued = citadel
        .credentials
        .issue_operator_token(&body.name, &operator.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "token": issued.token, "id": issued.id, "name": issued.name })),
    )
        .into_response())
}

/// Revoke an operator token by its id (the sha256 of the token, as issued;
/// `citadel admin revoke-operator-token` computes it from a token). Also
/// the token given by `CITADEL_OPERATOR_TOKEN`: a revoked one is not
/// registered again when the host restarts with it.
async fn revoke_operator_token(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match citadel
        .credentials
        .revoke_operator_token(&id, &operator.actor())
        .await?
    {
        Revoked::Now(_) => Ok(StatusCode::NO_CONTENT),
        Revoked::Already => Err(ApiError::new(
            StatusCode::CONFLICT,
            "operator_token_revoked",
            "this operator token is already revoked",
        )),
        Revoked::Unknown => Err(ApiError::not_found(
            "operator_token_not_found",
            "no operator token has this id (the sha256 of the token, 64 hex digits)",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SigningKeyBody {
    public_key: String,
}

/// Add a package-signing key to a publisher.
async fn add_signing_key(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(publisher): Path<String>,
    JsonBody(body): JsonBody<SigningKeyBody>,
) -> Result<Response, ApiError> {
    let publisher = citadel
        .registry
        .publishers()
        .add_signing_key(&publisher, &body.public_key, &operator.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(publisher)).into_response())
}

/// Revoke a package-signing key: packages it signs are refused from now on.
async fn revoke_signing_key(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path((publisher, public_key)): Path<(String, String)>,
) -> Result<Json<PublisherRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .publishers()
            .revoke_signing_key(&publisher, &public_key, &operator.actor())
            .await?,
    ))
}

async fn reviews(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<Vec<VersionRecord>>, ApiError> {
    Ok(Json(citadel.registry.review_queue().await?))
}

async fn versions(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let record = citadel.registry.app_record(&app).await?;
    let versions = citadel.registry.versions(&app).await?;
    Ok(Json(
        serde_json::json!({ "app": record, "versions": versions }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    capabilities: Vec<String>,
}

async fn approve(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path((app, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<ApproveBody>,
) -> Result<Json<VersionRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .approve(&app, &version, body.capabilities, &operator.actor())
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

async fn reject(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path((app, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<VersionRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .reject(&app, &version, &body.reason, &operator.actor())
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutBody {
    version: String,
    /// 1–100; 100 completes the rollout.
    percent: u8,
}

async fn rollout(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
    JsonBody(body): JsonBody<RolloutBody>,
) -> Result<Json<AppRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .rollout(&app, &body.version, body.percent, &operator.actor())
            .await?,
    ))
}

async fn rollback(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<AppRecord>, ApiError> {
    Ok(Json(
        citadel.registry.rollback(&app, &operator.actor()).await?,
    ))
}

async fn suspend(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<AppRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .set_suspended(&app, Some(&body.reason), &operator.actor())
            .await?,
    ))
}

async fn resume(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<AppRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .set_suspended(&app, None, &operator.actor())
            .await?,
    ))
}

/// One version as the overview lists it: its state and what its manifest
/// requests (parsed by the host, so the console never reads TOML).
fn version_view(version: &VersionRecord) -> serde_json::Value {
    let manifest = crate::registry::manifest::Manifest::parse("stored manifest", &version.manifest);
    let (requested, name) = match &manifest {
        Ok(manifest) => (manifest.capabilities.clone(), Some(manifest.name.clone())),
        Err(_) => (Vec::new(), None),
    };
    serde_json::json!({
        "version": version.version,
        "state": version.state,
        "requested": requested,
        "name": name,
        "reason": version.reason,
        "uploaded_at": version.uploaded_at,
        "changed_at": version.changed_at,
        "changed_by": version.changed_by,
    })
}

/// `GET /api/v1/operator/overview?limit=&after=`: what the operator
/// console draws — the apps the host knows, even one with no live version
/// yet, by id a page at a time (`next`, null on the last page, is the
/// `after` of the next): each app's record (live, previous, canary and its
/// percentage, suspension), its grants and its versions (newest first) with
/// what each requests; and every named capability with its summary.
/// Versions and grants are read for the apps on the page only.
async fn overview(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    QueryParams(page): QueryParams<AppsPage>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // Every record is still read to find the page (the store lists apps
    // whole); the reads that grow with an app's history are the page's.
    let (records, next) = page.cut(citadel.registry.app_records().await?, |record| {
        record.id.as_str()
    });
    let mut apps = Vec::with_capacity(records.len());
    for record in records {
        let versions = citadel.registry.versions(&record.id).await?;
        let granted = match citadel.registry.grants(&record.id).await {
            Ok(granted) => granted,
            Err(crate::registry::GrantError::AppNotFound(_)) => Default::default(),
            Err(e) => return Err(e.into()),
        };
        let views: Vec<serde_json::Value> = versions.iter().map(version_view).collect();
        // The name of the version serving everyone, else of the newest.
        let name = views
            .iter()
            .find(|v| record.live.as_deref() == v["version"].as_str())
            .or(views.first())
            .map(|v| v["name"].clone())
            .unwrap_or_default();
        apps.push(serde_json::json!({
            "id": record.id,
            "publisher": record.publisher,
            "name": name,
            "live": record.live,
            "previous": record.previous,
            "canary": record.canary,
            "canary_percent": record.canary_percent,
            "suspended": record.suspended,
            "granted": granted,
            "versions": views,
        }));
    }
    // Every named capability, and each `http:` origin the page's versions
    // request, with what the console shows for it.
    let mut named: BTreeSet<String> = crate::capabilities::all()
        .map(|c| c.name.to_string())
        .collect();
    for app in &apps {
        for version in app["versions"].as_array().into_iter().flatten() {
            for requested in version["requested"].as_array().into_iter().flatten() {
                if let Some(name) = requested.as_str() {
                    named.insert(name.to_string());
                }
            }
        }
    }
    let capabilities: Vec<crate::capabilities::Described> = named
        .iter()
        .filter_map(|name| crate::capabilities::describe(name))
        .collect();
    Ok(Json(
        serde_json::json!({ "apps": apps, "capabilities": capabilities, "next": next }),
    ))
}

/// `GET /api/v1/operator/apps/{app}/metrics`: the host's own metrics of one
/// app (requests by status class, the latency histogram, guest failures,
/// denials by capability), as the publisher sees its own.
async fn app_metrics(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if citadel.registry.app_record(&app).await?.is_none() {
        return Err(ApiError::not_found(
            "app_not_found",
            format!("there is no app `{app}`"),
        ));
    }
    Ok(Json(crate::telemetry::app_summary(&app)))
}

/// Filters and paging of the newest-first audit view.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecentQuery {
    kind: Option<String>,
    app: Option<String>,
    capability: Option<String>,
    /// Only records with `seq` below this (the previous page's `older`).
    before: Option<u64>,
    /// At most this many (default 50, capped at 500).
    limit: Option<usize>,
}

/// `GET /api/v1/operator/audit/recent`: the newest matching audit records
/// first, for reading the log backwards a page at a time; `older` (absent
/// on the last page) is the `before` of the next, older page. Empty filters
/// match everything. The store reads the log backward from `before`.
async fn recent_audit(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    QueryParams(query): QueryParams<RecentQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let wanted = |filter: &Option<String>| filter.clone().filter(|f| !f.trim().is_empty());
    let page = citadel
        .audit
        .query(&crate::audit::AuditQuery {
            kind: wanted(&query.kind),
            app: wanted(&query.app),
            capability: wanted(&query.capability),
            before: Some(query.before.unwrap_or(u64::MAX)),
            limit: Some(query.limit.unwrap_or(50).clamp(1, 500)),
            ..Default::default()
        })
        .await?;
    let (records, older) = (page.records, page.next);
    Ok(Json(
        serde_json::json!({ "records": records, "older": older }),
    ))
}
