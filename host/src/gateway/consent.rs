//! Consent at the gateway: the JSON API (`/api/v1/me/consents`) and the
//! host-drawn page (`/consent`) are the only ways to give consent; no host
//! call lets an app record it. What a consent is and how it is kept belongs
//! to `identity::consent`.

use super::citizen::CitizenSession;
use super::error::{wants_page, ApiError, ErrorBody, REQUEST_CODE, UNREACHABLE};
use super::json::{JsonBody, PathParams, QueryParams};
use super::routes::{Access, Routes};
use crate::identity::consent::{check_scopes, purpose, ConsentRecord};
use crate::localized::Localized;
use crate::runtime::AppContext;
use crate::Citadel;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/api/v1/me/consents", Access::Citizen, list)
        .post("/api/v1/me/consents", Access::Citizen, give)
        .delete("/api/v1/me/consents/{app}", Access::Citizen, revoke)
        .get("/consent", Access::CitizenPage, page)
        .get("/consent.js", Access::Public, script)
}

/// The query of `/consent` and its return path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// The id of the live app that asks.
    app: String,
    /// Comma-separated capabilities, e.g. `identity.name,identity.phone`.
    scopes: String,
    /// Where to go afterwards: a path inside the app (else the app's root).
    #[serde(default, rename = "return")]
    #[param(rename = "return")]
    return_to: Option<String>,
}

/// The consent URL the shell opens for `app` and `scopes` (also added by
/// the gateway to an app's 428 answer).
pub fn consent_url(app: &str, scopes: &[String], back: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("app", app)
        .append_pair("scopes", &scopes.join(","));
    if let Some(back) = back {
        query.append_pair("return", back);
    }
    format!("/consent?{}", query.finish())
}

fn live_app(citadel: &Citadel, app: &str) -> Result<Arc<AppContext>, ApiError> {
    citadel
        .registry
        .live(app)
        .map(|live| live.context.clone())
        .ok_or_else(|| ApiError::not_found("app_not_found", format!("there is no app `{app}`")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GiveBody {
    /// The id of a live app.
    app: String,
    /// Personal capabilities the app requests, e.g. `identity.phone`.
    scopes: Vec<String>,
}

/// Consents just given.
#[derive(Serialize, ToSchema)]
struct Given {
    consents: Vec<ConsentRecord>,
}

/// Give an app consent to personal scopes
#[utoipa::path(
    post,
    path = "/api/v1/me/consents",
    tag = "consent",
    request_body = GiveBody,
    responses(
        (status = 201, description = "Consent given, one record per scope.", body = Given),
        (status = 400, description = "`invalid_json`: the body is not a consent.",
            body = ErrorBody),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 404, description = "`app_not_found`: no live app has this id.",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`no_scopes`: no scope named; `not_a_personal_scope`: \
            a scope needs no consent; `scope_not_requested`: the app does not request it.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn give(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    JsonBody(body): JsonBody<GiveBody>,
) -> Result<Response, ApiError> {
    session.require_same_origin()?;
    let app = live_app(&citadel, &body.app)?;
    let records = citadel
        .consents
        .give(&session.citizen, &app, &body.scopes, Some(&session.session))
        .await?;
    Ok((StatusCode::CREATED, Json(Given { consents: records })).into_response())
}

/// A consent as the citizen's permission settings list it.
#[derive(Serialize, ToSchema)]
struct ConsentView {
    #[serde(flatten)]
    consent: ConsentRecord,
    /// What the scope is called; null for a scope this host does not know.
    label: Option<Localized>,
}

/// The citizen's consents.
#[derive(Serialize, ToSchema)]
struct Consents {
    consents: Vec<ConsentView>,
}

/// The consents the citizen has given
#[utoipa::path(
    get,
    path = "/api/v1/me/consents",
    tag = "consent",
    responses(
        (status = 200, description = "Every consent in force.", body = Consents),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn list(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<Json<Consents>, ApiError> {
    let consents = citadel
        .consents
        .list(&session.citizen.id)
        .await?
        .into_iter()
        .map(|consent| ConsentView {
            label: crate::capabilities::describe(&consent.scope).map(|d| d.label),
            consent,
        })
        .collect();
    Ok(Json(Consents { consents }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RevokeQuery {
    /// One scope; without it, every consent given to the app.
    scope: Option<String>,
}

/// Revoke consents given to an app
#[utoipa::path(
    delete,
    path = "/api/v1/me/consents/{app}",
    tag = "consent",
    params(("app" = String, Path, description = "The app's id."), RevokeQuery),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, description = "`invalid_query`: the query is not a scope.",
            body = ErrorBody),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 404, description = "`consent_not_found`: the app holds no such consent.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn revoke(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    PathParams(app): PathParams<String>,
    QueryParams(query): QueryParams<RevokeQuery>,
) -> Result<StatusCode, ApiError> {
    session.require_same_origin()?;
    citadel
        .consents
        .revoke(&session.citizen.id, &app, query.scope.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where to go after the page: a path inside the app, else the app's root.
fn safe_return(app: &str, wanted: Option<&str>) -> String {
    let root = format!("/apps/{app}/");
    match wanted {
        Some(path)
            if path.starts_with(&root) && !path.contains("//") && super::is_local_path(path) =>
        {
            path.to_string()
        }
        _ => root,
    }
}

/// The consent page
///
/// Drawn by the host, never by the app: what the app asks for and why,
/// with Allow and Don't allow (which call `POST /api/v1/me/consents`).
#[utoipa::path(
    get,
    path = "/consent",
    tag = "consent",
    operation_id = "consent_page",
    params(PageQuery),
    responses(
        (status = 200, description = "The page, in the citizen's language; not framable, \
            not cached.", body = String, content_type = "text/html"),
        (status = 400, description = "`invalid_query`: `app` or `scopes` is missing.",
            body = ErrorBody),
        (status = 404, description = "`app_not_found`: no live app has this id.",
            body = ErrorBody),
        (status = 422, description = "`no_scopes`: no scope named; `not_a_personal_scope`: \
            a scope needs no consent; `scope_not_requested`: the app does not request it.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn page(
    State(citadel): State<Arc<Citadel>>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<PageQuery>,
) -> Response {
    let wants = wants_page(&headers);
    consent_page(citadel, headers, query)
        .await
        .unwrap_or_else(|e| e.answer(wants, false))
}

/// The consent page, or why there is none.
async fn consent_page(
    citadel: Arc<Citadel>,
    headers: HeaderMap,
    query: PageQuery,
) -> Result<Response, ApiError> {
    let app = live_app(&citadel, &query.app)?;
    let scopes: Vec<String> = query
        .scopes
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    check_scopes(&app, &scopes)?;
    let back = safe_return(&app.id, query.return_to.as_deref());
    let Some((citizen, _)) = super::citizen::signed_in(&citadel, &headers).await? else {
        return Ok(ApiError::sign_in_first().page(None, false));
    };
    let english = citizen.locale == "en";
    let app_name = if english { &app.name.en } else { &app.name.vi };
    // The publisher as the city registered its name, never its id.
    let publisher = citadel
        .registry
        .publishers()
        .display_name(&app.publisher)
        .await?;
    let items: String = scopes
        .iter()
        .map(|scope| {
            let (label, summary) = match crate::capabilities::describe(scope) {
                Some(described) if english => (described.label.en, described.summary.en),
                Some(described) => (described.label.vi, described.summary.vi),
                None => (scope.clone(), String::new()),
            };
            format!(
                "<li><strong>{}</strong> — {}<br><em>{}</em></li>",
                super::html_escape(&label),
                super::html_escape(&summary),
                super::html_escape(&purpose(&app, scope, &citizen.locale))
            )
        })
        .collect();
    let (title, asks, allow, deny) = if english {
        (
            "Share your information?",
            "asks to see",
            "Allow",
            "Don't allow",
        )
    } else {
        ("Chia sẻ thông tin?", "muốn xem", "Đồng ý", "Không đồng ý")
    };
    let html = format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style></head>
<body>
<header class="bar"><span class="brand">Citadel Huế</span></header>
<main>
<h1>{title}</h1>
<section class="card">
<p><strong>{app_name}</strong> ({publisher}) {asks}:</p>
<ul>{items}</ul>
<p class="muted">Citadel · {citizen_name}</p>
</section>
<div id="consent" class="actions" data-app="{app_id}" data-scopes="{scopes}" data-return="{back}" data-lang="{lang}" data-request-code="{request_code}" data-unreachable="{unreachable}">
<button id="allow" type="button" class="primary">{allow}</button>
<button id="deny" type="button" class="secondary">{deny}</button>
</div>
<p id="status" role="status"></p>
</main>
<script src="/assets/local-path.js"></script>
<script src="/assets/explain.js"></script>
<script src="/consent.js"></script>
</body></html>"#,
        lang = if english { "en" } else { "vi" },
        title = title,
        style = super::payments::PAGE_STYLE,
        app_name = super::html_escape(app_name),
        publisher = super::html_escape(&publisher),
        citizen_name = super::html_escape(&citizen.name),
        app_id = super::html_escape(&app.id),
        scopes = super::html_escape(&scopes.join(",")),
        back = super::html_escape(&back),
        request_code = REQUEST_CODE.in_locale(&citizen.locale),
        unreachable = UNREACHABLE.in_locale(&citizen.locale),
    );
    Ok(super::host_page(
        StatusCode::OK,
        html,
        super::Framing::Nowhere,
    ))
}

/// The consent page's script
#[utoipa::path(
    get,
    path = "/consent.js",
    tag = "consent",
    operation_id = "consent_script",
    responses((status = 200, description = "The script.", body = String,
        content_type = "text/javascript; charset=utf-8"))
)]
async fn script() -> Response {
    const SCRIPT: &str = r#""use strict";
(function () {
  const box = document.getElementById("consent");
  const go = () => { window.location.assign(window.citadelIsLocalPath(box.dataset.return) ? box.dataset.return : "/"); };
  document.getElementById("deny").addEventListener("click", go);
  document.getElementById("allow").addEventListener("click", async () => {
    const say = (text) => { document.getElementById("status").textContent = text; };
    let response;
    try {
      response = await fetch("/api/v1/me/consents", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ app: box.dataset.app, scopes: box.dataset.scopes.split(",") }),
      });
    } catch {
      say(box.dataset.unreachable);
      return;
    }
    if (response.ok) { go(); return; }
    const body = await response.json().catch(() => ({}));
    say(window.citadelExplain(body.error, box.dataset.lang, box.dataset.requestCode)
      || `HTTP ${response.status}`);
  });
})();
"#;
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}
