//! The OpenAPI 3.1 document of the gateway, served at `GET /api/v1/openapi.json`.
//! Paths, parameters, bodies and answers come from the handlers'
//! `#[utoipa::path]` annotations; each operation's access rule, security
//! requirements and refusals at the door come from the route table, so
//! neither can drift from the router. It describes routes; it serves no other.

use super::error::ErrorBody;
use super::routes::{route_table, Access, Routes};
use axum::Json;
use std::sync::LazyLock;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{Object, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr};
use utoipa::OpenApi;

/// Where the document is served.
const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

/// The methods an `ANY` route (the mini-app dispatch) is documented with:
/// those an app can answer usefully. axum also hands TRACE and CONNECT to
/// the app; OpenAPI has no CONNECT, and TRACE is of no use to an app.
pub const ANY_METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

pub(super) fn routes(routes: Routes) -> Routes {
    routes.get(DOCUMENT_PATH, Access::Public, serve)
}

/// What the annotations say. Every handler of the route table is listed
/// here (a test compares the two).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Citadel",
        description = "The HTTP surface of a Citadel host: the citizen shell and its JSON API, \
            consent and payment pages, mini-apps at `/apps/{app}/…`, the publisher and operator \
            APIs, payment providers' webhooks, health and metrics.\n\n\
            Each operation says who may call it in `x-citadel-access` (the route table's rule: \
            `public`, `metrics`, `citizen`, `citizen-page`, `publisher`, `operator`, `provider`, \
            `app` or `frame`) and in its security requirements. Every error the host answers \
            is JSON `{\"error\":{\"code\",\"message\",\"request_id\"}}` (`ErrorBody`) with the \
            status that fits; each response lists the codes it may carry. Any path answers 404 \
            `not_found` when nothing is there, and 405 `method_not_allowed` for a method it \
            does not take."
    ),
    paths(
        super::healthz,
        super::readyz,
        super::metrics,
        super::apps::app_root_redirect,
        super::apps::dispatch_root,
        super::apps::dispatch,
        super::apps::frame_root_redirect,
        super::apps::dispatch_frame_root,
        super::apps::dispatch_frame,
        super::citizen::login,
        super::citizen::logout,
        super::citizen::sign_out_everywhere,
        super::citizen::me,
        super::citizen::session,
        super::citizen::inbox,
        super::citizen::open_frame,
        super::citizen::report_location,
        super::citizen::forget_location,
        super::citizen::export_data,
        super::citizen::erase_data,
        super::consent::list,
        super::consent::give,
        super::consent::revoke,
        super::consent::page,
        super::consent::script,
        super::payments::page,
        super::payments::script,
        super::payments::history,
        super::payments::one,
        super::payments::confirm,
        super::payments::cancel,
        super::payments::webhook,
        super::payments::reconcile,
        super::payments::paid_by_hand,
        super::payments::top_up,
        super::payments::settlement,
        super::operator::list_apps,
        super::operator::get_grants,
        super::operator::put_grants,
        super::operator::patch_grants,
        super::operator::audit,
        super::operator::list_publishers,
        super::operator::add_publisher,
        super::operator::issue_key,
        super::operator::revoke_key,
        super::operator::add_signing_key,
        super::operator::revoke_signing_key,
        super::operator::reviews,
        super::operator::versions,
        super::operator::approve,
        super::operator::reject,
        super::operator::rollout,
        super::operator::rollback,
        super::operator::suspend,
        super::operator::resume,
        super::operator::overview,
        super::operator::recent_audit,
        super::operator::app_metrics,
        super::operator::issue_operator_token,
        super::operator::revoke_operator_token,
        super::backup::download,
        super::oidc::login,
        super::oidc::callback,
        super::publisher::upload,
        super::publisher::list_apps,
        super::publisher::get_app,
        super::publisher::metrics,
        super::publisher::withdraw,
        super::shell::shell,
        super::shell::admin,
        super::shell::asset,
        super::shell::manifest,
        super::shell::service_worker,
        super::shell::catalogue,
        super::shell::one_app,
        super::shell::demo_citizens,
        serve,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "health", description = "Liveness, readiness and Prometheus metrics."),
        (name = "apps", description = "Mini-apps, served by their live version: directly, \
            or in the shell's frame with a frame token."),
        (name = "citizen", description = "Sign-in, the session, the inbox, frames and the \
            device's position."),
        (name = "consent", description = "Consent to personal data: the host-drawn page and \
            the citizen's API."),
        (name = "payments", description = "The host-drawn payment page, the citizen's \
            payments, providers' webhooks, reconciliation, demo wallets and settlements."),
        (name = "operator", description = "The city's API: apps and grants, publishers and \
            keys, reviews, rollouts, suspensions, the audit log, operator tokens."),
        (name = "publisher", description = "A partner company's API: packages, its apps, \
            their versions and metrics."),
        (name = "shell", description = "The citizen shell, the operator console, and the \
            public catalogue they read."),
        (name = "openapi", description = "This document."),
    )
)]
struct Annotated;

/// The document, built once per process.
static DOCUMENT: LazyLock<Document> = LazyLock::new(document);

/// This document
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of every route.",
        content(("application/json"))))
)]
async fn serve() -> Json<&'static Document> {
    Json(&DOCUMENT)
}

/// The OpenAPI document of every route in the route table.
pub fn document() -> Document {
    let mut document = Annotated::openapi();
    document
        .components
        .get_or_insert_with(Default::default)
        .add_security_schemes_from_iter(security_schemes());
    for route in route_table() {
        let Some(item) = document.paths.paths.get_mut(&document_path(route.path)) else {
            continue;
        };
        let methods = match route.method {
            "ANY" => ANY_METHODS.as_slice(),
            _ => std::slice::from_ref(&route.method),
        };
        for method in methods {
            if let Some(operation) = operation_mut(item, method) {
                describe_access(operation, route.access);
                // One annotation documents every method of an `ANY` route;
                // each operation needs an id of its own.
                if route.method == "ANY" {
                    if let Some(id) = &mut operation.operation_id {
                        id.push('_');
                        id.push_str(&method.to_lowercase());
                    }
                }
            }
        }
    }
    document
}

/// A route table pattern as an OpenAPI path: axum's `{*rest}` is `{rest}`.
pub(super) fn document_path(pattern: &str) -> String {
    pattern.replace("{*", "{")
}

/// The operation of `method` (upper case) in `item`, if it has one.
fn operation_mut<'a>(item: &'a mut PathItem, method: &str) -> Option<&'a mut Operation> {
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "DELETE" => item.delete.as_mut(),
        "PATCH" => item.patch.as_mut(),
        "HEAD" => item.head.as_mut(),
        "OPTIONS" => item.options.as_mut(),
        _ => None,
    }
}

/// The security schemes the access rules name.
fn security_schemes() -> [(&'static str, SecurityScheme); 6] {
    let bearer = |format: &str, description: &str| {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format(format)
                .description(Some(description))
                .build(),
        )
    };
    [
        (
            CITIZEN_BEARER,
            bearer(
                "cit_s_…",
                "A citizen session from `POST /api/v1/login`, sent as \
                 `Authorization: Bearer <token>`.",
            ),
        ),
        (
            CITIZEN_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "citadel_session",
                "The same session as the shell's HttpOnly cookie, set by `POST /api/v1/login`. \
                 A change that rides on the cookie must come from Citadel's own pages \
                 (`Origin`), else 403 `cross_origin_request`.",
            ))),
        ),
        (
            PUBLISHER_KEY,
            bearer(
                "cit_pub_…",
                "A publisher API key, issued by the operator, sent as \
                 `Authorization: Bearer <key>`. It reaches only that publisher's apps.",
            ),
        ),
        (
            OPERATOR_TOKEN,
            bearer(
                "opaque",
                "An operator token (`CITADEL_OPERATOR_TOKEN`, or issued by \
                 `POST /api/v1/operator/tokens`), sent as `Authorization: Bearer <token>`.",
            ),
        ),
        (
            METRICS_TOKEN,
            bearer(
                "opaque",
                "The host's scrape token (`CITADEL_METRICS_TOKEN`), sent as \
                 `Authorization: Bearer <token>`. Without one, `/metrics` is open.",
            ),
        ),
        (
            PROVIDER_SIGNATURE,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-citadel-signature",
                "The hex HMAC-SHA256, under the provider's shared secret, of \
                 `{x-citadel-timestamp}.{body}`; the timestamp (unix seconds) must be within \
                 300 s of the host's clock.",
            ))),
        ),
    ]
}

const CITIZEN_BEARER: &str = "citizen_bearer";
const CITIZEN_COOKIE: &str = "citizen_cookie";
const PUBLISHER_KEY: &str = "publisher_key";
const OPERATOR_TOKEN: &str = "operator_token";
const METRICS_TOKEN: &str = "metrics_token";
const PROVIDER_SIGNATURE: &str = "provider_signature";

/// Write `access` on `operation`: the `x-citadel-access` extension, the
/// security requirements (any one of them suffices; `{}` means a caller
/// without a credential is welcome too) and the refusals at the door.
fn describe_access(operation: &mut Operation, access: Access) {
    operation
        .extensions
        .get_or_insert_with(Default::default)
        .insert("x-citadel-access".to_string(), serde_json::json!(access));
    let requirement = |scheme: &str| SecurityRequirement::new(scheme, Vec::<String>::new());
    let anyone = SecurityRequirement::default;
    operation.security = match access {
        Access::Public | Access::Frame => None,
        Access::App => Some(vec![
            anyone(),
            requirement(CITIZEN_BEARER),
            requirement(CITIZEN_COOKIE),
        ]),
        Access::Metrics => Some(vec![
            anyone(),
            requirement(METRICS_TOKEN),
            requirement(OPERATOR_TOKEN),
        ]),
        Access::Citizen | Access::CitizenPage => Some(vec![
            requirement(CITIZEN_BEARER),
            requirement(CITIZEN_COOKIE),
        ]),
        Access::Publisher => Some(vec![requirement(PUBLISHER_KEY)]),
        Access::Operator => Some(vec![requirement(OPERATOR_TOKEN)]),
        Access::Provider => Some(vec![requirement(PROVIDER_SIGNATURE)]),
    };
    for refusal in refusals(access) {
        add_refusal(operation, refusal);
    }
    if matches!(access, Access::App | Access::Frame | Access::CitizenPage) {
        add_error_pages(operation);
    }
}

/// What a browser loading a page gets instead of the JSON error body.
const ERROR_PAGE: &str = "A browser loading a page (`Sec-Fetch-Mode: navigate`, or \
    `Accept: text/html` without it) gets the host's page instead (`text/html`): the \
    explanation in Vietnamese and English, the code and the request id.";

/// Every refusal of `operation` that is JSON is also a page for a browser.
fn add_error_pages(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !(status.starts_with('4') || status.starts_with('5'))
            || !response.content.contains_key("application/json")
            || response.content.contains_key("text/html")
        {
            continue;
        }
        response.content.insert(
            "text/html".to_string(),
            Content::new(Some(Schema::Object(Object::with_type(Type::String)))),
        );
        response.description.push(' ');
        response.description.push_str(ERROR_PAGE);
    }
}

/// An answer of the door: a status and the codes it carries, each with why.
struct Refusal {
    status: u16,
    codes: &'static [(&'static str, &'static str)],
    /// A page for the browser (`text/html`) instead of the JSON error
    /// body, and what it says.
    page: Option<&'static str>,
}

const NOT_CHECKED: (&str, &str) = ("storage_unavailable", "the credential could not be checked");
const NOT_SENT: (&str, &str) = ("unauthenticated", "no `Authorization: Bearer` credential");

/// What the door of `access` answers before the handler runs (see
/// `auth.rs`, `citizen.rs`, `payments.rs`).
fn refusals(access: Access) -> Vec<Refusal> {
    let json = |status, codes| Refusal {
        status,
        codes,
        page: None,
    };
    match access {
        Access::Public | Access::App | Access::Frame => Vec::new(),
        Access::Metrics => vec![
            json(
                401,
                &[
                    NOT_SENT,
                    (
                        "invalid_credentials",
                        "neither the scrape token nor an operator token (only on a host \
                         with a scrape token)",
                    ),
                ],
            ),
            json(
                403,
                &[(
                    "wrong_role",
                    "a publisher key or a citizen session (only on a host with a scrape \
                     token)",
                )],
            ),
            json(503, &[NOT_CHECKED]),
        ],
        Access::Citizen => vec![
            json(401, &[("not_signed_in", "no valid citizen session")]),
            json(
                403,
                &[(
                    "wrong_role",
                    "an operator token or a publisher key, not a citizen session",
                )],
            ),
            json(503, &[NOT_CHECKED]),
        ],
        Access::CitizenPage => vec![
            Refusal {
                status: 401,
                codes: &[],
                page: Some("Not signed in: a page that asks the citizen to sign in first."),
            },
            json(503, &[NOT_CHECKED]),
        ],
        Access::Publisher => vec![
            json(
                401,
                &[
                    NOT_SENT,
                    ("invalid_credentials", "not a valid publisher key"),
                ],
            ),
            json(
                403,
                &[(
                    "wrong_role",
                    "an operator token or a citizen session, not a publisher key",
                )],
            ),
            json(503, &[NOT_CHECKED]),
        ],
        Access::Operator => vec![
            json(
                401,
                &[
                    NOT_SENT,
                    ("invalid_credentials", "not a valid operator token"),
                ],
            ),
            json(
                403,
                &[(
                    "wrong_role",
                    "a publisher key or a citizen session, not an operator token",
                )],
            ),
            json(503, &[NOT_CHECKED]),
        ],
        Access::Provider => vec![json(
            401,
            &[(
                "invalid_webhook",
                "the signature or timestamp is missing, wrong or stale",
            )],
        )],
    }
}

/// Add `refusal` to `operation`'s answers: a new response for its status,
/// or its codes appended to the description of the handler's own.
fn add_refusal(operation: &mut Operation, refusal: Refusal) {
    let responses = &mut operation.responses.responses;
    let response = responses
        .entry(refusal.status.to_string())
        .or_insert_with(|| {
            let response = match refusal.page {
                Some(says) => Response::builder().description(says).content(
                    "text/html",
                    Content::new(Some(Schema::Object(Object::with_type(Type::String)))),
                ),
                None => Response::builder().content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                ),
            };
            RefOr::T(response.build())
        });
    let RefOr::T(response) = response else {
        return;
    };
    for (code, why) in refusal.codes {
        let named = format!("`{code}`");
        if response.description.contains(&named) {
            continue;
        }
        if !response.description.is_empty() {
            response.description.push(' ');
        }
        response.description.push_str(&format!("{named}: {why}."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::{BTreeMap, BTreeSet};

    /// The OpenAPI 3.1 JSON Schema (2022-10-07); see `host/tests/fixtures/README.md`.
    const OPENAPI_3_1_SCHEMA: &str = include_str!("../../tests/fixtures/openapi-3.1-schema.json");

    /// The methods an OpenAPI path item may hold, as keys.
    const ITEM_METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    /// The document as it is served.
    fn served() -> Value {
        serde_json::to_value(document()).expect("the document is JSON")
    }

    /// Every operation of the document: (METHOD, path) and the operation.
    fn operations(document: &Value) -> BTreeMap<(String, String), &Value> {
        let mut found = BTreeMap::new();
        let paths = document["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for method in ITEM_METHODS {
                if let Some(operation) = item.get(method) {
                    found.insert((method.to_uppercase(), path.clone()), operation);
                }
            }
        }
        found
    }

    /// Every (METHOD, path) the route table serves, as the document writes
    /// it, with the route's access rule: an `ANY` route once per method of
    /// `ANY_METHODS`.
    fn table_operations() -> BTreeMap<(String, String), Access> {
        let mut wanted = BTreeMap::new();
        for route in route_table() {
            let methods = match route.method {
                "ANY" => ANY_METHODS.to_vec(),
                method => vec![method],
            };
            for method in methods {
                let key = (method.to_string(), document_path(route.path));
                assert!(
                    wanted.insert(key, route.access).is_none(),
                    "{} {} twice",
                    route.method,
                    route.path
                );
            }
        }
        wanted
    }

    #[test]
    fn the_document_lists_every_route_and_no_other() {
        let document = served();
        let documented: BTreeSet<_> = operations(&document).into_keys().collect();
        let served: BTreeSet<_> = table_operations().into_keys().collect();
        let missing: Vec<_> = served.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "routes the document lacks: {missing:?}; operations no route serves: {extra:?}"
        );
        assert!(served.len() >= 100, "{} operations", served.len());
        assert!(served.contains(&("GET".into(), DOCUMENT_PATH.into())));
    }

    #[test]
    fn every_operation_carries_its_routes_access_and_security() {
        let document = served();
        let operations = operations(&document);
        let schemes = document["components"]["securitySchemes"]
            .as_object()
            .expect("security schemes");
        for ((method, path), access) in table_operations() {
            let Some(operation) = operations.get(&(method.clone(), path.clone())) else {
                panic!("{method} {path} is not in the document");
            };
            assert_eq!(
                operation["x-citadel-access"],
                serde_json::json!(access),
                "{method} {path}"
            );
            let requirements = operation["security"].as_array();
            let open = matches!(access, Access::Public | Access::Frame);
            assert_eq!(requirements.is_none(), open, "{method} {path}");
            for requirement in requirements.into_iter().flatten() {
                for scheme in requirement.as_object().expect("a requirement").keys() {
                    assert!(schemes.contains_key(scheme), "{method} {path}: {scheme}");
                }
            }
        }
    }

    #[test]
    fn the_document_is_valid_openapi_3_1() {
        let document = served();
        assert_eq!(document["openapi"], "3.1.0");
        let schema: Value =
            serde_json::from_str(OPENAPI_3_1_SCHEMA).expect("the OpenAPI schema is JSON");
        assert_eq!(
            schema["$id"],
            "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
        );
        let validator = jsonschema::draft202012::new(&schema).expect("the OpenAPI schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }

    /// Every `$ref` in `value`, with where it is.
    fn references<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a str)>) {
        match value {
            Value::Object(object) => {
                for (key, value) in object {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => found.push((at.clone(), target)),
                        _ => references(value, format!("{at}/{key}"), found),
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    references(item, format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let document = served();
        let mut found = Vec::new();
        references(&document, String::new(), &mut found);
        assert!(found.len() > 100, "{} references", found.len());
        for (at, target) in found {
            let pointer = target.strip_prefix('#');
            assert!(
                pointer.is_some_and(|pointer| document.pointer(pointer).is_some()),
                "{at}: `{target}` does not resolve"
            );
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let document = served();
        let mut seen = BTreeMap::new();
        for ((method, path), operation) in operations(&document) {
            let id = operation["operationId"].as_str().expect("an operation id");
            if let Some(before) = seen.insert(id.to_string(), format!("{method} {path}")) {
                panic!("`{id}` names both {before} and {method} {path}");
            }
        }
    }

    #[test]
    fn every_path_parameter_is_declared() {
        let document = served();
        for ((method, path), operation) in operations(&document) {
            let in_path: BTreeSet<&str> = path
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "path")
                .filter_map(|parameter| parameter["name"].as_str())
                .collect();
            assert_eq!(in_path, declared, "{method} {path}");
        }
    }

    /// Every refusal is the error body (or a page) and names its codes.
    #[test]
    fn every_error_answer_names_its_codes() {
        let document = served();
        let error_bodies = [
            "#/components/schemas/ErrorBody",
            "#/components/schemas/NotReady",
        ];
        for ((method, path), operation) in operations(&document) {
            let responses = operation["responses"].as_object().expect("responses");
            for (status, response) in responses {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let what = format!("{method} {path} {status}");
                let description = response["description"].as_str().unwrap_or_default();
                let content = response["content"].as_object().expect(&what);
                if content.contains_key("text/html") {
                    assert!(!description.is_empty(), "{what}");
                    continue;
                }
                let schema = &content["application/json"]["schema"]["$ref"];
                assert!(
                    error_bodies.iter().any(|body| schema == body),
                    "{what}: {schema}"
                );
                assert!(
                    description.contains('`'),
                    "{what} names no code: {description}"
                );
            }
        }
    }
}
