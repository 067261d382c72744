//! The operator API (`/api/v1/operator/...`): the city's view of apps and
//! their grants, publishers and their keys, the review queue, rollouts,
//! rollbacks, suspensions and the audit log. Every route needs an operator
//! bearer token.

use super::auth::Operator;
use super::error::{ApiError, ErrorBody};
use super::json::{JsonBody, PathParams, QueryParams};
use super::paging::{AppsPage, AppsPageQuery};
use super::routes::{Access, Routes};
use crate::audit::{AuditPage, AuditQuery, AuditRecord};
use crate::capabilities::Described;
use crate::identity::Revoked;
use crate::localized::Localized;
use crate::registry::publishers::{NewPublisher, PublisherRecord};
use crate::registry::{AppRecord, VersionRecord, VersionState};
use crate::telemetry::AppSummary;
use crate::Citadel;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

pub(super) fn routes(routes: Routes) -> Routes {
    const O: Access = Access::Operator;
    routes
        .get("/api/v1/operator/apps", O, list_apps)
        .get("/api/v1/operator/apps/{app}/grants", O, get_grants)
        .put("/api/v1/operator/apps/{app}/grants", O, put_grants)
        .patch("/api/v1/operator/apps/{app}/grants", O, patch_grants)
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

/// A live app's capabilities: requested by its live version, granted to it
/// by the city, and effective (both); and the same for each version serving.
#[derive(Serialize, ToSchema)]
pub(crate) struct AppView {
    id: String,
    /// The live version.
    version: String,
    requested: Vec<String>,
    granted: Vec<String>,
    effective: Vec<String>,
    /// The live version, then the canary if one runs: each has its own grants.
    serving: Vec<ServingGrants>,
}

/// One serving version's capabilities.
#[derive(Serialize, ToSchema)]
pub(crate) struct ServingGrants {
    version: String,
    requested: Vec<String>,
    granted: Vec<String>,
    effective: Vec<String>,
}

impl ServingGrants {
    fn of(context: &crate::runtime::AppContext) -> Self {
        let granted = context.granted_now();
        ServingGrants {
            version: context.version.to_string(),
            requested: context.requested.clone(),
            effective: context
                .requested
                .iter()
                .filter(|c| granted.contains(*c))
                .cloned()
                .collect(),
            granted: granted.into_iter().collect(),
        }
    }
}

pub(crate) async fn app_view(citadel: &Citadel, app: &str) -> Result<AppView, ApiError> {
    let not_found = || ApiError::not_found("app_not_found", format!("there is no app `{app}`"));
    let slot = citadel.registry.slot(app).ok_or_else(not_found)?;
    let live = slot.live.as_ref().ok_or_else(not_found)?;
    let serving: Vec<ServingGrants> = slot
        .live
        .iter()
        .chain(slot.canary.iter())
        .map(|serving| ServingGrants::of(&serving.context))
        .collect();
    let ServingGrants {
        version,
        requested,
        granted,
        effective,
    } = ServingGrants::of(&live.context);
    Ok(AppView {
        id: live.context.id.clone(),
        version,
        requested,
        granted,
        effective,
        serving,
    })
}

/// Every live app and its capabilities
#[utoipa::path(
    get,
    path = "/api/v1/operator/apps",
    tag = "operator",
    operation_id = "operator_list_apps",
    responses(
        (status = 200, description = "The live apps.", body = Vec<AppView>),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
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

/// An app's capabilities
#[utoipa::path(
    get,
    path = "/api/v1/operator/apps/{app}/grants",
    tag = "operator",
    params(("app" = String, Path, description = "The app's id.")),
    responses(
        (status = 200, description = "Requested, granted and effective.", body = AppView),
        (status = 404, description = "`app_not_found`: no live app has this id.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn get_grants(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
) -> Result<Json<AppView>, ApiError> {
    app_view(&citadel, &app).await.map(Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GrantsBody {
    /// Every capability granted (replacing the grants before), each one the
    /// version requests.
    capabilities: Vec<String>,
    /// The version whose grants change (one that was approved); without it,
    /// every version serving (live and canary) gets those it requests.
    #[serde(default)]
    version: Option<String>,
}

/// Set what the city grants an app's serving versions, or one version
#[utoipa::path(
    put,
    path = "/api/v1/operator/apps/{app}/grants",
    tag = "operator",
    params(("app" = String, Path, description = "The app's id.")),
    request_body = GrantsBody,
    responses(
        (status = 200, description = "The app's capabilities now.", body = AppView),
        (status = 400, description = "`unknown_capability`: the host knows no such \
            capability; `invalid_json`: the body is not a list of capabilities.",
            body = ErrorBody),
        (status = 404, description = "`app_not_found`: no app has this id (or none of its \
            versions serves); `version_not_found`: it has no such version.", body = ErrorBody),
        (status = 409, description = "`wrong_state`: the version was never approved; \
            `changed_meanwhile`: another change to the app came first (on any host).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`capability_not_requested`: the version does not \
            request it.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn put_grants(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
    JsonBody(body): JsonBody<GrantsBody>,
) -> Result<Json<AppView>, ApiError> {
    citadel
        .registry
        .set_grants(
            &app,
            body.version.as_deref(),
            body.capabilities,
            &operator.actor(),
        )
        .await?;
    app_view(&citadel, &app).await.map(Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GrantChangesBody {
    /// Capabilities to add: each serving version gets those it requests
    /// (each must be requested by one of them).
    #[serde(default)]
    grant: Vec<String>,
    /// Capabilities to take from every serving version.
    #[serde(default)]
    revoke: Vec<String>,
}

/// Grant or revoke capabilities on an app's serving versions
///
/// One step over what the store holds: each serving version (live and
/// canary) keeps the rest of its own grants.
#[utoipa::path(
    patch,
    path = "/api/v1/operator/apps/{app}/grants",
    tag = "operator",
    params(("app" = String, Path, description = "The app's id.")),
    request_body = GrantChangesBody,
    responses(
        (status = 200, description = "The app's capabilities now.", body = AppView),
        (status = 400, description = "`unknown_capability`: the host knows no such \
            capability; `invalid_json`: the body is not two lists of capabilities.",
            body = ErrorBody),
        (status = 404, description = "`app_not_found`: no app has this id, or none of its \
            versions serves.", body = ErrorBody),
        (status = 409, description = "`changed_meanwhile`: another change to the app came \
            first (on any host).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`capability_not_requested`: no serving version \
            requests it.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn patch_grants(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
    JsonBody(body): JsonBody<GrantChangesBody>,
) -> Result<Json<AppView>, ApiError> {
    citadel
        .registry
        .adjust_grants(&app, body.grant, body.revoke, &operator.actor())
        .await?;
    app_view(&citadel, &app).await.map(Json)
}

/// The audit log, a page at a time
///
/// Oldest first from `after`, or newest first from `before` (or from the
/// end with `newest`); every filter given must match.
#[utoipa::path(
    get,
    path = "/api/v1/operator/audit",
    tag = "operator",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of records.", body = AuditPage),
        (status = 400, description = "`invalid_query`: the query is not a filter.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn audit(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(citadel.audit.query(&query).await?))
}

/// Every publisher
#[utoipa::path(
    get,
    path = "/api/v1/operator/publishers",
    tag = "operator",
    responses(
        (status = 200, description = "The publishers.", body = Vec<PublisherRecord>),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn list_publishers(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<Vec<PublisherRecord>>, ApiError> {
    Ok(Json(citadel.registry.publishers().list().await?))
}

#[derive(Deserialize, ToSchema)]
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

/// A publisher just registered.
#[derive(Serialize, ToSchema)]
struct NewPublisherAnswer {
    publisher: PublisherRecord,
    /// Its first API key, shown this once.
    api_key: String,
}

/// Register a publisher with its signing keys and issue its first API key
/// (shown once).
#[utoipa::path(
    post,
    path = "/api/v1/operator/publishers",
    tag = "operator",
    request_body = PublisherBody,
    responses(
        (status = 201, description = "Registered.", body = NewPublisherAnswer),
        (status = 400, description = "`invalid_json`: the body is not a publisher.",
            body = ErrorBody),
        (status = 409, description = "`publisher_exists`: issue it a new key instead.",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`invalid_publisher_id`, `invalid_publisher_name`, \
            `invalid_signing_key`, `invalid_fee`.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
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
        Json(NewPublisherAnswer {
            publisher,
            api_key: key,
        }),
    )
        .into_response())
}

/// A new publisher API key.
#[derive(Serialize, ToSchema)]
struct NewPublisherKey {
    /// The key, shown this once.
    api_key: String,
    /// What revokes it (the start of its hash).
    key_id: String,
}

/// Issue another API key to a publisher (rotation); earlier keys stay valid
/// until revoked.
#[utoipa::path(
    post,
    path = "/api/v1/operator/publishers/{publisher}/keys",
    tag = "operator",
    params(("publisher" = String, Path, description = "The publisher's id.")),
    responses(
        (status = 201, description = "Issued.", body = NewPublisherKey),
        (status = 404, description = "`publisher_not_found`.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn issue_key(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(publisher): PathParams<String>,
) -> Result<Response, ApiError> {
    let issued = citadel
        .registry
        .publishers()
        .issue_key(&publisher, &operator.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewPublisherKey {
            api_key: issued.key,
            key_id: issued.id,
        }),
    )
        .into_response())
}

/// Revoke an API key by its id (the start of its hash, as listed).
#[utoipa::path(
    delete,
    path = "/api/v1/operator/publishers/{publisher}/keys/{key_id}",
    tag = "operator",
    params(
        ("publisher" = String, Path, description = "The publisher's id."),
        ("key_id" = String, Path, description = "The key's id, as issued."),
    ),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "`publisher_not_found`; `key_not_found`.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn revoke_key(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams((publisher, key_id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    citadel
        .registry
        .publishers()
        .revoke_key(&publisher, &key_id, &operator.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OperatorTokenBody {
    /// Who holds the new token (a person or a system), for the audit log.
    name: String,
}

/// A new operator token.
#[derive(Serialize, ToSchema)]
struct NewOperatorToken {
    /// The token, shown this once.
    token: String,
    /// Its id: the sha256 of the token, 64 hex digits.
    id: String,
    /// Who holds it.
    name: String,
}

/// Issue a new operator token (shown once) — to a new operator, or to
/// rotate: issue, switch over, then revoke the old one.
#[utoipa::path(
    post,
    path = "/api/v1/operator/tokens",
    tag = "operator",
    request_body = OperatorTokenBody,
    responses(
        (status = 201, description = "Issued.", body = NewOperatorToken),
        (status = 400, description = "`invalid_json`: the body is not a name.",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`invalid_operator_name`.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
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
        Json(NewOperatorToken {
            token: issued.token,
            id: issued.id,
            name: issued.name,
        }),
    )
        .into_response())
}

/// Revoke an operator token by its id (the sha256 of the token, as issued;
/// `citadel admin revoke-operator-token` computes it from a token). Also
/// the token given by `CITADEL_OPERATOR_TOKEN`: a revoked one is not
/// registered again when the host restarts with it.
#[utoipa::path(
    delete,
    path = "/api/v1/operator/tokens/{id}",
    tag = "operator",
    params(("id" = String, Path, description = "The token's id: its sha256, 64 hex digits.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "`operator_token_not_found`.", body = ErrorBody),
        (status = 409, description = "`operator_token_revoked`: already revoked.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn revoke_operator_token(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(id): PathParams<String>,
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SigningKeyBody {
    /// An ed25519 public key, hex.
    public_key: String,
}

/// Add a package-signing key to a publisher.
#[utoipa::path(
    post,
    path = "/api/v1/operator/publishers/{publisher}/signing-keys",
    tag = "operator",
    params(("publisher" = String, Path, description = "The publisher's id.")),
    request_body = SigningKeyBody,
    responses(
        (status = 201, description = "The publisher with its keys.", body = PublisherRecord),
        (status = 400, description = "`invalid_json`: the body is not a key.",
            body = ErrorBody),
        (status = 404, description = "`publisher_not_found`.", body = ErrorBody),
        (status = 409, description = "`signing_key_exists`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`invalid_signing_key`: not an ed25519 public key in \
            hex.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn add_signing_key(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(publisher): PathParams<String>,
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
#[utoipa::path(
    delete,
    path = "/api/v1/operator/publishers/{publisher}/signing-keys/{public_key}",
    tag = "operator",
    params(
        ("publisher" = String, Path, description = "The publisher's id."),
        ("public_key" = String, Path, description = "The ed25519 public key, hex."),
    ),
    responses(
        (status = 200, description = "The publisher with its keys.", body = PublisherRecord),
        (status = 404, description = "`publisher_not_found`; `signing_key_not_found`.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn revoke_signing_key(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams((publisher, public_key)): PathParams<(String, String)>,
) -> Result<Json<PublisherRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .publishers()
            .revoke_signing_key(&publisher, &public_key, &operator.actor())
            .await?,
    ))
}

/// Versions waiting for review, oldest upload first
#[utoipa::path(
    get,
    path = "/api/v1/operator/reviews",
    tag = "operator",
    responses(
        (status = 200, description = "The review queue.", body = Vec<VersionRecord>),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn reviews(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<Vec<VersionRecord>>, ApiError> {
    Ok(Json(citadel.registry.review_queue().await?))
}

/// An app and every version of it.
#[derive(Serialize, ToSchema)]
struct AppHistory {
    app: Option<AppRecord>,
    /// Newest first.
    versions: Vec<VersionRecord>,
}

/// An app and every version of it
#[utoipa::path(
    get,
    path = "/api/v1/operator/apps/{app}/versions",
    tag = "operator",
    params(("app" = String, Path, description = "The app's id.")),
    responses(
        (status = 200, description = "The app and its versions.", body = AppHistory),
        (status = 404, description = "`app_not_found`.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn versions(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
) -> Result<Json<AppHistory>, ApiError> {
    let record = citadel.registry.app_record(&app).await?;
    let versions = citadel.registry.versions(&app).await?;
    Ok(Json(AppHistory {
        app: record,
        versions,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    /// What the city grants the version, each one it requests.
    capabilities: Vec<String>,
}

/// Approve a version in review, with its grants
#[utoipa::path(
    post,
    path = "/api/v1/operator/apps/{app}/versions/{version}/approve",
    tag = "operator",
    params(
        ("app" = String, Path, description = "The app's id."),
        ("version" = String, Path, description = "The version, semver."),
    ),
    request_body = ApproveBody,
    responses(
        (status = 200, description = "The version, approved.", body = VersionRecord),
        (status = 400, description = "`unknown_capability`: the host knows no such \
            capability; `invalid_json`: the body is not a list of capabilities.",
            body = ErrorBody),
        (status = 404, description = "`app_not_found`; `version_not_found`.",
            body = ErrorBody),
        (status = 409, description = "`wrong_state`: the version is not in review; \
            `changed_meanwhile`: another change to the app came first (on any host).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`capability_not_requested`: the version does not \
            request it.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn approve(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams((app, version)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<ApproveBody>,
) -> Result<Json<VersionRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .approve(&app, &version, body.capabilities, &operator.actor())
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    /// Why, for the publisher (a rejection) or for citizens (a suspension).
    reason: String,
}

/// Reject a version in review, with a reason for the publisher
#[utoipa::path(
    post,
    path = "/api/v1/operator/apps/{app}/versions/{version}/reject",
    tag = "operator",
    params(
        ("app" = String, Path, description = "The app's id."),
        ("version" = String, Path, description = "The version, semver."),
    ),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The version, rejected.", body = VersionRecord),
        (status = 400, description = "`invalid_json`: the body is not a reason.",
            body = ErrorBody),
        (status = 404, description = "`app_not_found`; `version_not_found`.",
            body = ErrorBody),
        (status = 409, description = "`wrong_state`: the version is not in review; \
            `changed_meanwhile`: another change to the app came first (on any host).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`invalid_reason`: empty or too long.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn reject(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams((app, version)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<VersionRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .reject(&app, &version, &body.reason, &operator.actor())
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RolloutBody {
    /// An approved version (or the canary).
    version: String,
    /// 1–100; 100 completes the rollout.
    percent: u8,
}

/// Roll a version out to a share of callers
///
/// A canary serves a stable share of callers (by pairwise id); 100 makes
/// it live for everyone.
#[utoipa::path(
    post,
    path = "/api/v1/operator/apps/{app}/rollout",
    tag = "operator",
    params(("app" = String, Path, description = "The app's id.")),
    request_body = RolloutBody,
    responses(
        (status = 200, description = "The app's record now.", body = AppRecord),
        (status = 400, description = "`invalid_json`: the body is not a rollout.",
            body = ErrorBody),
        (status = 404, description = "`app_not_found`; `version_not_found`.",
            body = ErrorBody),
        (status = 409, description = "`wrong_state`: the version is not approved; \
            `canary_in_progress`: another version is the canary; \
            `canary_needs_live_version`: a share below 100 for an app with no live version \
            yet (put the first version live for everyone); `changed_meanwhile`: another change to the app came first (on any host).",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`invalid_percent`: not 1 to 100.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn rollout(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
    JsonBody(body): JsonBody<RolloutBody>,
) -> Result<Json<AppRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .rollout(&app, &body.version, body.percent, &operator.actor())
            .await?,
    ))
}

/// Roll back to the version live before
#[utoipa::path(
    post,
    path = "/api/v1/operator/apps/{app}/rollback",
    tag = "operator",
    params(("app" = String, Path, description = "The app's id.")),
    responses(
        (status = 200, description = "The app's record now.", body = AppRecord),
        (status = 404, description = "`app_not_found`; `version_not_found`: the previous \
            version is gone.", body = ErrorBody),
        (status = 409, description = "`nothing_to_roll_back`; `changed_meanwhile`: another change to the app came first (on any host).",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn rollback(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
) -> Result<Json<AppRecord>, ApiError> {
    Ok(Json(
        citadel.registry.rollback(&app, &operator.actor()).await?,
    ))
}

/// Suspend an app, with a reason shown to citizens
#[utoipa::path(
    post,
    path = "/api/v1/operator/apps/{app}/suspend",
    tag = "operator",
    params(("app" = String, Path, description = "The app's id.")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The app's record now.", body = AppRecord),
        (status = 400, description = "`invalid_json`: the body is not a reason.",
            body = ErrorBody),
        (status = 404, description = "`app_not_found`.", body = ErrorBody),
        (status = 409, description = "`changed_meanwhile`: another change to the app came first (on any host).",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`invalid_reason`: empty or too long.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn suspend(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<AppRecord>, ApiError> {
    Ok(Json(
        citadel
            .registry
            .set_suspended(&app, Some(&body.reason), &operator.actor())
            .await?,
    ))
}

/// Resume a suspended app
#[utoipa::path(
    post,
    path = "/api/v1/operator/apps/{app}/resume",
    tag = "operator",
    params(("app" = String, Path, description = "The app's id.")),
    responses(
        (status = 200, description = "The app's record now.", body = AppRecord),
        (status = 404, description = "`app_not_found`.", body = ErrorBody),
        (status = 409, description = "`not_suspended`; `changed_meanwhile`: another change to the app came first (on any host).",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn resume(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
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
#[derive(Serialize, ToSchema)]
struct OverviewVersion {
    version: String,
    state: VersionState,
    /// What its manifest requests; empty if the manifest no longer parses.
    requested: Vec<String>,
    /// Its manifest's display names; null if the manifest no longer parses.
    name: Option<Localized>,
    /// The rejection's or withdrawal's reason.
    reason: Option<String>,
    /// Unix seconds.
    uploaded_at: u64,
    /// Unix seconds.
    changed_at: u64,
    changed_by: String,
    /// What the city granted this version; null if it was never approved.
    granted: Option<Vec<String>>,
}

fn version_view(version: &VersionRecord) -> OverviewVersion {
    let manifest = crate::registry::manifest::Manifest::parse("stored manifest", &version.manifest);
    let (requested, name) = match manifest {
        Ok(manifest) => (manifest.capabilities, Some(manifest.name)),
        Err(_) => (Vec::new(), None),
    };
    OverviewVersion {
        version: version.version.clone(),
        state: version.state,
        requested,
        name,
        reason: version.reason.clone(),
        uploaded_at: version.uploaded_at,
        changed_at: version.changed_at,
        changed_by: version.changed_by.clone(),
        granted: version.grants.as_ref().map(|g| g.capabilities.clone()),
    }
}

/// One app as the operator console draws it.
#[derive(Serialize, ToSchema)]
struct OverviewApp {
    id: String,
    publisher: String,
    /// The name of the version serving everyone, else of the newest.
    name: Option<Localized>,
    live: Option<String>,
    previous: Option<String>,
    canary: Option<String>,
    canary_percent: u8,
    suspended: Option<String>,
    /// What the city granted the versions serving (live and canary).
    granted: BTreeSet<String>,
    /// Newest first.
    versions: Vec<OverviewVersion>,
}

/// What the operator console draws: a page of apps and the capabilities
/// they name.
#[derive(Serialize, ToSchema)]
struct Overview {
    apps: Vec<OverviewApp>,
    /// Every named capability, and each `http:` origin the page's versions
    /// request.
    capabilities: Vec<Described>,
    /// The `after` of the next page; null on the last page.
    next: Option<String>,
}

/// `GET /api/v1/operator/overview?limit=&after=`: what the operator
/// console draws — the apps the host knows, even one with no live version
/// yet, by id a page at a time (`next`, null on the last page, is the
/// `after` of the next): each app's record (live, previous, canary and its
/// percentage, suspension), its grants and its versions (newest first) with
/// what each requests; and every named capability with its summary.
/// Versions and grants are read for the apps on the page only.
#[utoipa::path(
    get,
    path = "/api/v1/operator/overview",
    tag = "operator",
    summary = "What the operator console draws, a page of apps at a time",
    description = "The apps the host knows, even one with no live version yet, by id: each \
        app's record (live, previous, canary and its percentage, suspension), its grants and \
        its versions (newest first) with what each requests; and every named capability \
        with its summary.",
    params(AppsPageQuery),
    responses(
        (status = 200, description = "A page of apps.", body = Overview),
        (status = 400, description = "`invalid_query`: `limit` is not 1 to 500, or an \
            unknown parameter.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn overview(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    QueryParams(page): QueryParams<AppsPage>,
) -> Result<Json<Overview>, ApiError> {
    // Every record is still read to find the page (the store lists apps
    // whole); the reads that grow with an app's history are the page's.
    let (records, next) = page.cut(citadel.registry.app_records().await?, |record| {
        record.id.as_str()
    });
    let mut apps = Vec::with_capacity(records.len());
    for record in records {
        let versions = citadel.registry.versions(&record.id).await?;
        let granted = match citadel.registry.grants(&record.id) {
            Ok(granted) => granted,
            Err(crate::registry::GrantError::AppNotFound(_)) => Default::default(),
            Err(e) => return Err(e.into()),
        };
        let views: Vec<OverviewVersion> = versions.iter().map(version_view).collect();
        let name = views
            .iter()
            .find(|v| record.live.as_deref() == Some(v.version.as_str()))
            .or(views.first())
            .and_then(|v| v.name.clone());
        apps.push(OverviewApp {
            id: record.id,
            publisher: record.publisher,
            name,
            live: record.live,
            previous: record.previous,
            canary: record.canary,
            canary_percent: record.canary_percent,
            suspended: record.suspended,
            granted,
            versions: views,
        });
    }
    // Every named capability, and each `http:` origin the page's versions
    // request, with what the console shows for it.
    let mut named: BTreeSet<String> = crate::capabilities::all()
        .map(|c| c.name.to_string())
        .collect();
    for app in &apps {
        for version in &app.versions {
            named.extend(version.requested.iter().cloned());
        }
    }
    let capabilities: Vec<Described> = named
        .iter()
        .filter_map(|name| crate::capabilities::describe(name))
        .collect();
    Ok(Json(Overview {
        apps,
        capabilities,
        next,
    }))
}

/// `GET /api/v1/operator/apps/{app}/metrics`: the host's own metrics of one
/// app (requests by status class, the latency histogram, guest failures,
/// denials by capability), as the publisher sees its own.
#[utoipa::path(
    get,
    path = "/api/v1/operator/apps/{app}/metrics",
    tag = "operator",
    operation_id = "operator_app_metrics",
    summary = "One app's metrics",
    description = "The host's own metrics of one app (requests by status class, the latency \
        histogram, guest failures, denials by capability), as its publisher sees them.",
    params(("app" = String, Path, description = "The app's id.")),
    responses(
        (status = 200, description = "The app's series.", body = AppSummary),
        (status = 404, description = "`app_not_found`.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn app_metrics(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(app): PathParams<String>,
) -> Result<Json<AppSummary>, ApiError> {
    if citadel.registry.app_record(&app).await?.is_none() {
        return Err(ApiError::not_found(
            "app_not_found",
            format!("there is no app `{app}`"),
        ));
    }
    Ok(Json(crate::telemetry::app_summary(&app)))
}

/// Filters and paging of the newest-first audit view.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RecentQuery {
    /// Only records of this kind, e.g. `grant` (empty: any).
    kind: Option<String>,
    /// Only records of this app (empty: any).
    app: Option<String>,
    /// Only records of this capability (empty: any).
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
#[utoipa::path(
    get,
    path = "/api/v1/operator/audit/recent",
    tag = "operator",
    summary = "The newest audit records first, a page at a time",
    description = "For reading the log backwards: `older` (null on the last page) is the \
        `before` of the next, older page. Empty filters match everything.",
    params(RecentQuery),
    responses(
        (status = 200, description = "A page of records, newest first.", body = RecentAudit),
        (status = 400, description = "`invalid_query`: the query is not a filter.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn recent_audit(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    QueryParams(query): QueryParams<RecentQuery>,
) -> Result<Json<RecentAudit>, ApiError> {
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
    Ok(Json(RecentAudit {
        records: page.records,
        older: page.next,
        texts: page.texts,
    }))
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
struct RecentAudit {
    records: Vec<AuditRecord>,
    /// The `before` of the next, older page; null on the last page.
    older: Option<u64>,
    /// The audit catalogue's sentence (vi, en) of each message code on this
    /// page; fill its `{name}`s from the record's `message.params`.
    texts: std::collections::BTreeMap<String, crate::localized::Localized>,
}
