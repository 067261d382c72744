//! Consent at the gateway: the JSON API (`/api/v1/me/consents`) and the
//! host-drawn page (`/consent`) are the only ways to give consent; no host
//! call lets an app record it. What a consent is and how it is kept belongs
//! to `identity::consent`.

use super::citizen::CitizenSession;
use super::error::ApiError;
use super::json::{JsonBody, QueryParams};
use super::routes::{Access, Routes};
use crate::identity::consent::{check_scopes, purpose};
use crate::runtime::AppContext;
use crate::Citadel;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/api/v1/me/consents", Access::Citizen, list)
        .post("/api/v1/me/consents", Access::Citizen, give)
        .delete("/api/v1/me/consents/{app}", Access::Citizen, revoke)
        .get("/consent", Access::CitizenPage, page)
        .get("/consent.js", Access::Public, script)
}

/// The query of `/consent` and its return path.
#[derive(Deserialize)]
struct PageQuery {
    app: String,
    /// Comma-separated capabilities, e.g. `identity.name,identity.phone`.
    scopes: String,
    #[serde(default, rename = "return")]
    return_to: Option<String>,
}

/// The consent URL the shell opens for `app` and `scopes` (also added by
/// the gateway to an app's 428 answer).
pub fn consent_url(app: &str, scopes: &[String]) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("app", app)
        .append_pair("scopes", &scopes.join(","))
        .finish();
    format!("/consent?{query}")
}

fn live_app(citadel: &Citadel, app: &str) -> Result<Arc<AppContext>, ApiError> {
    citadel
        .registry
        .live(app)
        .map(|live| live.context.clone())
        .ok_or_else(|| ApiError::not_found("app_not_found", format!("there is no app `{app}`")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GiveBody {
    app: String,
    scopes: Vec<String>,
}

async fn give(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    JsonBody(body): JsonBody<GiveBody>,
) -> Result<Response, ApiError> {
    session.require_same_origin()?;
    let app = live_app(&citadel, &body.app)?;
    let records = citadel
        .consents
        .give(&session.citizen, &app, &body.scopes)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "consents": records })),
    )
        .into_response())
}

async fn list(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<Json<serde_json::Value>, ApiError> {
    let consents: Vec<serde_json::Value> = citadel
        .consents
        .list(&session.citizen.id)
        .await?
        .into_iter()
        .map(|consent| {
            let label = crate::capabilities::describe(&consent.scope).map(|d| d.label);
            let mut view = serde_json::json!(consent);
            view["label"] = serde_json::json!(label);
            view
        })
        .collect();
    Ok(Json(serde_json::json!({ "consents": consents })))
}

#[derive(Deserialize)]
struct RevokeQuery {
    /// One scope; without it, every consent given to the app.
    scope: Option<String>,
}

async fn revoke(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    Path(app): Path<String>,
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

async fn page(
    State(citadel): State<Arc<Citadel>>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<PageQuery>,
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
        const SIGN_IN_FIRST: &str = "<!doctype html><meta charset=utf-8><title>Citadel</title><p>Đăng nhập để tiếp tục. / Sign in to continue.</p><p><a href=\"/\">Citadel</a></p>";
        return Ok(super::host_page(
            StatusCode::UNAUTHORIZED,
            SIGN_IN_FIRST.to_string(),
        ));
    };
    let english = citizen.locale == "en";
    let app_name = if english { &app.name.en } else { &app.name.vi };
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
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}button{{font-size:1rem;padding:.6rem 1.2rem;margin-right:.5rem}}</style></head>
<body>
<h1>{title}</h1>
<p><strong>{app_name}</strong> ({publisher}) {asks}:</p>
<ul>{items}</ul>
<p>Citadel · {citizen_name}</p>
<div id="consent" data-app="{app_id}" data-scopes="{scopes}" data-return="{back}">
<button id="allow" type="button">{allow}</button>
<button id="deny" type="button">{deny}</button>
</div>
<p id="status" role="status"></p>
<script src="/assets/local-path.js"></script>
<script src="/consent.js"></script>
</body></html>"#,
        lang = if english { "en" } else { "vi" },
        title = title,
        app_name = super::html_escape(app_name),
        publisher = super::html_escape(&app.publisher),
        citizen_name = super::html_escape(&citizen.name),
        app_id = super::html_escape(&app.id),
        scopes = super::html_escape(&scopes.join(",")),
        back = super::html_escape(&back),
    );
    Ok(super::host_page(StatusCode::OK, html))
}

async fn script() -> Response {
    const SCRIPT: &str = r#""use strict";
(function () {
  const box = document.getElementById("consent");
  const go = () => { window.location.assign(window.citadelIsLocalPath(box.dataset.return) ? box.dataset.return : "/"); };
  document.getElementById("deny").addEventListener("click", go);
  document.getElementById("allow").addEventListener("click", async () => {
    const response = await fetch("/api/v1/me/consents", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app: box.dataset.app, scopes: box.dataset.scopes.split(",") }),
    });
    if (response.ok) { go(); return; }
    const body = await response.json().catch(() => ({}));
    document.getElementById("status").textContent =
      (body.error && body.error.message) || ("HTTP " + response.status);
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
