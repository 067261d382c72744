//! The pages the host serves itself, with no build step: the citizen shell
//! at `/` and the operator console at `/admin` (HTML, CSS and JavaScript
//! embedded from `host/assets/`), and the public data the shell reads: the
//! catalogue of live apps (a page at a time) and, in development, the demo
//! citizens.

use super::error::ApiError;
use super::json::QueryParams;
use super::paging::AppsPage;
use super::routes::{Access, Routes};
use crate::capabilities;
use crate::registry::manifest::{category_name, DEVELOPER_CATEGORY};
use crate::runtime::LiveApp;
use crate::Citadel;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/", Access::Public, || page(SHELL_HTML))
        .get("/admin", Access::Public, || page(ADMIN_HTML))
        .get("/assets/{file}", Access::Public, asset)
        .get("/api/v1/apps", Access::Public, catalogue)
        .get("/api/v1/apps/{app}", Access::Public, one_app)
        .get("/api/v1/login/citizens", Access::Public, demo_citizens)
}

const SHELL_HTML: &str = include_str!("../../assets/shell.html");
const ADMIN_HTML: &str = include_str!("../../assets/admin.html");

/// Embedded assets: (file name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "local-path.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/local-path.js"),
    ),
    (
        "shell.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/shell.js"),
    ),
    (
        "shell.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/shell.css"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/admin.js"),
    ),
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/admin.css"),
    ),
];

/// The shell's and the console's policy: everything from the host itself;
/// frames only of the host's own `/f/…` app URLs; no one may frame them.
const SHELL_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

fn with_host_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, SHELL_CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn page(html: &'static str) -> Response {
    with_host_headers(axum::response::Html(html).into_response())
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => with_host_headers(
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                *body,
            )
                .into_response(),
        ),
        None => ApiError::not_found("not_found", format!("no asset `{file}`")).into_response(),
    }
}

/// A capability as the catalogue shows it to citizens: its name, label
/// and explanation in both languages, and the app's purpose for it.
fn capability_view(name: &str, purpose: Option<&crate::registry::manifest::Localized>) -> Value {
    let mut view = json!(capabilities::describe(name));
    view["purpose"] = json!(purpose);
    view
}

/// One live app as citizens see it: names, category, publisher by name and
/// what it may do.
async fn app_view(citadel: &Citadel, live: &LiveApp) -> Result<Value, ApiError> {
    let context = &live.context;
    let publisher = citadel
        .registry
        .publishers()
        .display_name(&context.publisher)
        .await?;
    let capabilities: Vec<Value> = context
        .requested
        .iter()
        .filter(|c| context.has_capability(c))
        .map(|c| capability_view(c, context.purposes.get(c)))
        .collect();
    Ok(json!({
        "id": context.id,
        "version": context.version.to_string(),
        "name": context.name,
        "description": context.description,
        "category": context.category,
        "category_name": category_name(&context.category),
        "icon": context.icon,
        "publisher": { "id": context.publisher, "name": publisher },
        "capabilities": capabilities,
    }))
}

/// `GET /api/v1/apps/{app}`: one live, unsuspended app, as the catalogue
/// shows it — a developer sample too, which the catalogue leaves out.
async fn one_app(
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let live = citadel
        .registry
        .slot(&app)
        .filter(|slot| slot.record.suspended.is_none())
        .and_then(|slot| slot.live.clone())
        .ok_or_else(|| ApiError::not_found("app_not_found", format!("there is no app `{app}`")))?;
    Ok(Json(app_view(&citadel, &live).await?))
}

/// `GET /api/v1/apps?limit=&after=`: live, unsuspended apps with what each
/// may do, by id, a page at a time; `next` (null on the last page) is the
/// `after` of the next page.
async fn catalogue(
    State(citadel): State<Arc<Citadel>>,
    QueryParams(page): QueryParams<AppsPage>,
) -> Result<Json<Value>, ApiError> {
    let listed: Vec<_> = citadel
        .registry
        .apps()
        .into_iter()
        .filter(|live| {
            citadel
                .registry
                .slot(&live.context.id)
                .is_none_or(|slot| slot.record.suspended.is_none())
        })
        .filter(|live| live.context.category != DEVELOPER_CATEGORY)
        .collect();
    let (listed, next) = page.cut(listed, |live| &live.context.id);
    let mut apps = Vec::with_capacity(listed.len());
    for live in &listed {
        apps.push(app_view(&citadel, live).await?);
    }
    Ok(Json(json!({ "apps": apps, "next": next })))
}

/// `GET /api/v1/login/citizens`: the development provider's demo citizens
/// for the sign-in chooser; 404 when the host signs people in for real.
async fn demo_citizens(State(citadel): State<Arc<Citadel>>) -> Result<Json<Value>, ApiError> {
    if citadel.identity.kind() != "development" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_demo_citizens",
            "this host signs citizens in through its identity provider",
        ));
    }
    let citizens: Vec<Value> = citadel
        .identity
        .demo_citizens()
        .into_iter()
        .map(|c| {
            let roles: Vec<String> = c
                .roles
                .iter()
                .map(|r| format!("{} ({})", r.unit, r.role))
                .collect();
            json!({ "id": c.id, "name": c.name, "roles": roles })
        })
        .collect();
    Ok(Json(json!({ "citizens": citizens })))
}
