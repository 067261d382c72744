//! The pages the host serves itself, with no build step: the citizen shell
//! at `/` and the operator console at `/admin` (HTML, CSS and JavaScript
//! embedded from `host/assets/`), and the public data the shell reads: the
//! catalogue of live apps (a page at a time) and, in development, the demo
//! citizens.

use super::error::{ApiError, ErrorBody};
use super::json::QueryParams;
use super::paging::{AppsPage, AppsPageQuery};
use super::routes::{Access, Routes};
use crate::capabilities::{self, Described};
use crate::localized::Localized;
use crate::registry::manifest::{category_name, DEVELOPER_CATEGORY};
use crate::runtime::LiveApp;
use crate::Citadel;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/", Access::Public, shell)
        .get("/admin", Access::Public, admin)
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

fn page(html: &'static str) -> Response {
    with_host_headers(axum::response::Html(html).into_response())
}

/// The citizen shell
///
/// The catalogue, sign-in, the app frame and the permission settings; it
/// reads the JSON APIs.
#[utoipa::path(
    get,
    path = "/",
    tag = "shell",
    responses((status = 200, description = "The shell's page.", body = String,
        content_type = "text/html"))
)]
async fn shell() -> Response {
    page(SHELL_HTML)
}

/// The operator console
///
/// Signs in with an operator token and reads the operator API.
#[utoipa::path(
    get,
    path = "/admin",
    tag = "shell",
    responses((status = 200, description = "The console's page.", body = String,
        content_type = "text/html"))
)]
async fn admin() -> Response {
    page(ADMIN_HTML)
}

/// A script or style sheet of the shell or the console
#[utoipa::path(
    get,
    path = "/assets/{file}",
    tag = "shell",
    params(("file" = String, Path, description = "`local-path.js`, `shell.js`, \
        `shell.css`, `admin.js` or `admin.css`.")),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/javascript; charset=utf-8"),
            (String = "text/css; charset=utf-8"),
        )),
        (status = 404, description = "`not_found`: no such asset.", body = ErrorBody),
    )
)]
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
#[derive(Serialize, ToSchema)]
struct CapabilityView {
    #[serde(flatten)]
    described: Described,
    /// Why the app asks for it, from its manifest.
    purpose: Option<Localized>,
}

/// `name` as the catalogue shows it; `None` for a capability the host does
/// not know (none is granted).
fn capability_view(name: &str, purpose: Option<&Localized>) -> Option<CapabilityView> {
    Some(CapabilityView {
        described: capabilities::describe(name)?,
        purpose: purpose.cloned(),
    })
}

/// A publisher as citizens see it.
#[derive(Serialize, ToSchema)]
struct PublisherName {
    id: String,
    /// Its registered name.
    name: String,
}

/// One live app as citizens see it.
#[derive(Serialize, ToSchema)]
struct CatalogueApp {
    id: String,
    /// The version that answers most callers.
    version: String,
    name: Localized,
    description: Localized,
    /// The category's id, e.g. `public-services`.
    category: String,
    /// The category's name; null for a category the host does not know.
    category_name: Option<Localized>,
    icon: String,
    publisher: PublisherName,
    /// What the app may do: requested and granted.
    capabilities: Vec<CapabilityView>,
}

/// One live app as citizens see it: names, category, publisher by name and
/// what it may do.
async fn app_view(citadel: &Citadel, live: &LiveApp) -> Result<CatalogueApp, ApiError> {
    let context = &live.context;
    let publisher = citadel
        .registry
        .publishers()
        .display_name(&context.publisher)
        .await?;
    let capabilities = context
        .requested
        .iter()
        .filter(|c| context.has_capability(c))
        .filter_map(|c| capability_view(c, context.purposes.get(c)))
        .collect();
    Ok(CatalogueApp {
        id: context.id.clone(),
        version: context.version.to_string(),
        name: context.name.clone(),
        description: context.description.clone(),
        category: context.category.clone(),
        category_name: category_name(&context.category),
        icon: context.icon.clone(),
        publisher: PublisherName {
            id: context.publisher.clone(),
            name: publisher,
        },
        capabilities,
    })
}

/// `GET /api/v1/apps/{app}`: one live, unsuspended app, as the catalogue
/// shows it — a developer sample too, which the catalogue leaves out.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}",
    tag = "shell",
    summary = "One live app, as the catalogue shows it",
    description = "A live, unsuspended app — a developer sample too, which the catalogue \
        leaves out.",
    params(("app" = String, Path, description = "The app's id.")),
    responses(
        (status = 200, description = "The app.", body = CatalogueApp),
        (status = 404, description = "`app_not_found`: no live, unsuspended app has this id.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn one_app(
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<CatalogueApp>, ApiError> {
    let live = citadel
        .registry
        .slot(&app)
        .filter(|slot| slot.record.suspended.is_none())
        .and_then(|slot| slot.live.clone())
        .ok_or_else(|| ApiError::not_found("app_not_found", format!("there is no app `{app}`")))?;
    Ok(Json(app_view(&citadel, &live).await?))
}

/// A page of the catalogue.
#[derive(Serialize, ToSchema)]
struct Catalogue {
    /// By id.
    apps: Vec<CatalogueApp>,
    /// The `after` of the next page; null on the last page.
    next: Option<String>,
}

/// `GET /api/v1/apps?limit=&after=`: live, unsuspended apps with what each
/// may do, by id, a page at a time; `next` (null on the last page) is the
/// `after` of the next page.
#[utoipa::path(
    get,
    path = "/api/v1/apps",
    tag = "shell",
    summary = "The catalogue of live apps, a page at a time",
    description = "Live, unsuspended apps (developer samples left out) with what each may \
        do, by id; `next` (null on the last page) is the `after` of the next page.",
    params(AppsPageQuery),
    responses(
        (status = 200, description = "A page of apps.", body = Catalogue),
        (status = 400, description = "`invalid_query`: `limit` is not 1 to 500, or an \
            unknown parameter.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn catalogue(
    State(citadel): State<Arc<Citadel>>,
    QueryParams(page): QueryParams<AppsPage>,
) -> Result<Json<Catalogue>, ApiError> {
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
    Ok(Json(Catalogue { apps, next }))
}

/// A demo citizen in the sign-in chooser.
#[derive(Serialize, ToSchema)]
struct DemoCitizen {
    /// What `POST /api/v1/login` takes.
    id: String,
    name: String,
    /// Each staff role as `unit (role)`.
    roles: Vec<String>,
}

/// The demo citizens.
#[derive(Serialize, ToSchema)]
struct DemoCitizens {
    citizens: Vec<DemoCitizen>,
}

/// `GET /api/v1/login/citizens`: the development provider's demo citizens
/// for the sign-in chooser; 404 when the host signs people in for real.
#[utoipa::path(
    get,
    path = "/api/v1/login/citizens",
    tag = "shell",
    summary = "The demo citizens of the development identity provider",
    responses(
        (status = 200, description = "For the sign-in chooser.", body = DemoCitizens),
        (status = 404, description = "`no_demo_citizens`: this host signs citizens in \
            through its identity provider.", body = ErrorBody),
    )
)]
async fn demo_citizens(
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<DemoCitizens>, ApiError> {
    if citadel.identity.kind() != "development" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_demo_citizens",
            "this host signs citizens in through its identity provider",
        ));
    }
    let citizens = citadel
        .identity
        .demo_citizens()
        .into_iter()
        .map(|c| DemoCitizen {
            roles: c
                .roles
                .iter()
                .map(|r| format!("{} ({})", r.unit, r.role))
                .collect(),
            id: c.id,
            name: c.name,
        })
        .collect();
    Ok(Json(DemoCitizens { citizens }))
}
