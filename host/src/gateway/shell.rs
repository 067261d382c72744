//! The pages the host serves itself, with no build step: the citizen shell
//! at `/` and the operator console at `/admin` (HTML, CSS, JavaScript and
//! icons embedded from `host/assets/`), what makes the shell an installable,
//! offline-tolerant web app (its manifest and service worker), and the
//! public data the shell reads: the catalogue of live apps (a page at a
//! time) and, in development, the demo citizens.

use super::error::{ApiError, ErrorBody};
use super::json::{PathParams, QueryParams};
use super::paging::{AppsPage, AppsPageQuery};
use super::routes::{Access, Routes};
use crate::capabilities::{self, Described};
use crate::localized::Localized;
use crate::registry::manifest::{category_name, DEVELOPER_CATEGORY};
use crate::runtime::LiveApp;
use crate::Citadel;
use axum::extract::State;
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
        .get("/manifest.webmanifest", Access::Public, manifest)
        .get("/sw.js", Access::Public, service_worker)
        .get("/api/v1/apps", Access::Public, catalogue)
        .get("/api/v1/apps/{app}", Access::Public, one_app)
        .get("/api/v1/login/citizens", Access::Public, demo_citizens)
}

const SHELL_HTML: &str = include_str!("../../assets/shell.html");
const ADMIN_HTML: &str = include_str!("../../assets/admin.html");

/// Embedded assets: (file name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "local-path.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/local-path.js"),
    ),
    (
        "explain.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/explain.js"),
    ),
    (
        "shell.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/shell.js"),
    ),
    (
        "shell.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/shell.css"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/admin.js"),
    ),
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/admin.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/icon.svg"),
    ),
    (
        "icon-192.png",
        "image/png",
        include_bytes!("../../assets/icon-192.png"),
    ),
    (
        "icon-512.png",
        "image/png",
        include_bytes!("../../assets/icon-512.png"),
    ),
];

/// The shell's web app manifest: its names, start page, colours and icons.
const MANIFEST: &str = include_str!("../../assets/manifest.webmanifest");
/// The shell's service worker: what it keeps for offline use, and what never.
const SERVICE_WORKER: &str = include_str!("../../assets/sw.js");

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

/// A script, style sheet or icon of the shell or the console
#[utoipa::path(
    get,
    path = "/assets/{file}",
    tag = "shell",
    params(("file" = String, Path, description = "`local-path.js`, `explain.js`, `shell.js`, \
        `shell.css`, `admin.js`, `admin.css`, `icon.svg`, `icon-192.png` or `icon-512.png`.")),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/javascript; charset=utf-8"),
            (String = "text/css; charset=utf-8"),
            (String = "image/svg+xml"),
            (Vec<u8> = "image/png"),
        )),
        (status = 404, description = "`not_found`: no such asset.", body = ErrorBody),
    )
)]
async fn asset(PathParams(file): PathParams<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => file_response(content_type, body),
        None => ApiError::not_found("not_found", format!("no asset `{file}`")).into_response(),
    }
}

/// An embedded file as `content_type`, with the host's headers.
fn file_response(content_type: &'static str, body: &'static [u8]) -> Response {
    with_host_headers(
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response(),
    )
}

/// The shell's web app manifest
///
/// What installing the shell on a phone's home screen uses: its names,
/// start page, colours and icons.
#[utoipa::path(
    get,
    path = "/manifest.webmanifest",
    tag = "shell",
    responses((status = 200, description = "The manifest.", body = String,
        content_type = "application/manifest+json"))
)]
async fn manifest() -> Response {
    file_response("application/manifest+json", MANIFEST.as_bytes())
}

/// The shell's service worker
///
/// Keeps the shell and the public catalogue usable offline (network first);
/// never stores a citizen's API answers, app pages, payment or consent
/// pages. Served from `/` so that it may serve the shell.
#[utoipa::path(
    get,
    path = "/sw.js",
    tag = "shell",
    responses((status = 200, description = "The script.", body = String,
        content_type = "text/javascript; charset=utf-8"))
)]
async fn service_worker() -> Response {
    file_response("text/javascript; charset=utf-8", SERVICE_WORKER.as_bytes())
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
    PathParams(app): PathParams<String>,
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
    /// Each staff role as `unit name (role)`.
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
    let city = citadel.capabilities.city();
    let citizens = citadel
        .identity
        .demo_citizens()
        .into_iter()
        .map(|c| DemoCitizen {
            roles: c
                .roles
                .iter()
                .map(|r| {
                    // The unit by the name the city gave it, not its id.
                    let unit = city.unit(&r.unit).map_or(r.unit.as_str(), |u| &u.name);
                    format!("{unit} ({})", r.role)
                })
                .collect(),
            id: c.id,
            name: c.name,
        })
        .collect();
    Ok(Json(DemoCitizens { citizens }))
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, MANIFEST, SERVICE_WORKER, SHELL_HTML};
    use std::collections::BTreeSet;

    const SHELL_JS: &str = include_str!("../../assets/shell.js");

    /// The keys of the object literal that opens at the first `{` of
    /// `text`, a nested object's as `outer.inner`. Values are strings or
    /// objects, so a name followed by `:` outside a string is a key.
    fn keys(text: &str) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let (mut path, mut name, mut last) = (Vec::<String>::new(), String::new(), String::new());
        let (mut quote, mut escaped, mut depth) = (None, false, 0);
        for c in text[text.find('{').expect("an object")..].chars() {
            if let Some(q) = quote {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '\'' | '"' | '`' => quote = Some(c),
                '{' => {
                    depth += 1;
                    path.push(std::mem::take(&mut last));
                }
                '}' => {
                    depth -= 1;
                    path.pop();
                    if depth == 0 {
                        break;
                    }
                }
                ':' if !name.is_empty() => {
                    let mut key = path[1..].to_vec();
                    key.push(name.clone());
                    keys.insert(key.join("."));
                    last = std::mem::take(&mut name);
                }
                c if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                _ => name.clear(),
            }
        }
        keys
    }

    /// Every text of the shell exists in Vietnamese and in English, and
    /// every key the shell's page and script use is in the catalogue.
    #[test]
    fn every_shell_text_is_in_both_languages() {
        let catalogue = |lang: &str| {
            let at = SHELL_JS
                .find(&format!("\n    {lang}: {{"))
                .unwrap_or_else(|| panic!("shell.js's TEXT has `{lang}`"));
            keys(&SHELL_JS[at..])
        };
        let (vi, en) = (catalogue("vi"), catalogue("en"));
        assert!(vi.len() > 40 && vi.contains("offline") && vi.contains("status.pending"));
        assert_eq!(
            vi.symmetric_difference(&en).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "keys in one language only"
        );
        // The keys after `opening` (not preceded by a name's letter) up to `closing`.
        let used = |text: &str, opening: &str, closing: char| -> Vec<String> {
            text.match_indices(opening)
                .filter(|(at, _)| {
                    !text[..*at]
                        .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                })
                .filter_map(|(at, _)| text[at + opening.len()..].split_once(closing))
                .map(|(key, _)| key.to_string())
                .collect()
        };
        let mut wanted = used(SHELL_JS, "t('", '\'');
        wanted.extend(used(SHELL_HTML, "data-t=\"", '"'));
        wanted.extend(used(SHELL_HTML, "data-t-label=\"", '"'));
        for key in wanted {
            assert!(
                vi.contains(&key),
                "the shell uses `{key}`, missing from its texts"
            );
        }
    }

    fn asset(path: &str) -> Option<&'static (&'static str, &'static str, &'static [u8])> {
        let file = path.strip_prefix("/assets/")?;
        ASSETS.iter().find(|(name, _, _)| *name == file)
    }

    /// The manifest makes the shell installable: it starts at `/`, stands
    /// alone, and every icon it names is served, with its type; a 192 px and
    /// a 512 px PNG and a maskable one are among them.
    #[test]
    fn the_manifest_names_served_icons() {
        let manifest: serde_json::Value = serde_json::from_str(MANIFEST).expect("valid JSON");
        assert_eq!(manifest["start_url"], "/");
        assert_eq!(manifest["scope"], "/");
        assert_eq!(manifest["display"], "standalone");
        assert!(manifest["name"].as_str().is_some_and(|n| !n.is_empty()));
        let icons = manifest["icons"].as_array().expect("icons");
        for icon in icons {
            let src = icon["src"].as_str().expect("src");
            let (_, content_type, _) = asset(src).unwrap_or_else(|| panic!("{src} is not served"));
            assert_eq!(icon["type"], *content_type, "{src}");
        }
        let has = |sizes: &str, purpose: &str| {
            icons
                .iter()
                .any(|i| i["sizes"] == sizes && i["type"] == "image/png" && i["purpose"] == purpose)
        };
        assert!(has("192x192", "any") && has("512x512", "any") && has("512x512", "maskable"));
    }

    /// What the service worker stores at install is the shell's own files,
    /// each of them served; the shell's page links the manifest and the icon.
    #[test]
    fn the_service_worker_stores_the_shell_files() {
        let list = SERVICE_WORKER
            .split_once("const SHELL = [")
            .and_then(|(_, rest)| rest.split_once("];"))
            .expect("sw.js lists the shell's files")
            .0;
        let files: Vec<&str> = list
            .split(',')
            .map(|f| f.trim().trim_matches('\''))
            .filter(|f| !f.is_empty())
            .collect();
        assert!(files.contains(&"/") && files.contains(&"/assets/shell.js"));
        for file in files {
            assert!(
                matches!(file, "/" | "/manifest.webmanifest") || asset(file).is_some(),
                "sw.js stores {file}, which is not served"
            );
        }
        for link in [
            r#"<link rel="manifest" href="/manifest.webmanifest">"#,
            r#"<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">"#,
        ] {
            assert!(SHELL_HTML.contains(link), "shell.html lacks {link}");
        }
    }
}
