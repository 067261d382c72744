//! The authorization matrix: every route of the gateway's route table (the
//! one `router()` is built from, so a new route cannot be left out) × every
//! kind of caller — anonymous, citizen, publisher A, publisher B, operator,
//! a forged key and a frame token used as a bearer — gets the answer its
//! access rule says, and every refusal of the JSON API is a JSON error.
//! Publisher A publishes the test app `a-app`; publisher B nothing there.

use citadel_host::gateway::{route_table, Access, RouteSpec};
use citadel_tests::{
    client, error_of, get, get_json, open_frame, sign_in, test_manifest, TestHost, OPERATOR_TOKEN,
};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Citizen,
    PublisherA,
    PublisherB,
    Operator,
    Forged,
    /// A live frame token for `a-app`, sent as a bearer credential.
    FrameToken,
}

const CALLERS: [Caller; 7] = [
    Caller::Anonymous,
    Caller::Citizen,
    Caller::PublisherA,
    Caller::PublisherB,
    Caller::Operator,
    Caller::Forged,
    Caller::FrameToken,
];

/// What a caller must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exactly this status (a JSON error unless the route draws a page).
    Status(u16),
    /// Let through: the handler answers (2xx, or its own 4xx such as 404 or
    /// 422 for the placeholder values), never 401/403 and never 5xx.
    Through,
    /// The same answer as the anonymous caller: a credential changes nothing.
    AsAnonymous,
}

/// The rule of `access` for `caller`.
fn expected(access: Access, caller: Caller) -> Expect {
    use Caller::*;
    use Expect::*;
    match (access, caller) {
        (Access::Public | Access::App | Access::Frame | Access::Provider, Anonymous) => Through,
        (Access::Public | Access::App | Access::Frame | Access::Provider, _) => AsAnonymous,
        (_, Anonymous | Forged | FrameToken) => Status(401),
        (Access::Metrics, Operator) => Through,
        (Access::Metrics, _) => Status(403),
        (Access::Citizen, Citizen) => Through,
        (Access::Citizen, _) => Status(403),
        // A page for the signed-in citizen: any other credential is no session.
        (Access::CitizenPage, Citizen) => Through,
        (Access::CitizenPage, _) => Status(401),
        (Access::Publisher, PublisherA | PublisherB) => Through,
        (Access::Publisher, _) => Status(403),
        (Access::Operator, Operator) => Through,
        (Access::Operator, _) => Status(403),
    }
}

const SCRAPE_TOKEN: &str = "authorization-matrix-scrape-0123";

/// A concrete request path for a route pattern: placeholders filled with
/// values that exist where the caller's rights matter (`a-app`, the frame
/// token) and harmless ones elsewhere (nothing is revoked or suspended).
fn concrete(route: &RouteSpec, frame_token: &str) -> String {
    let path = route
        .path
        .replace("{app}", "a-app")
        .replace("{version}", "9.9.9")
        .replace("{publisher}", "vnpt-hue")
        .replace("{key_id}", "0000000000000000")
        .replace("{public_key}", &"00".repeat(32))
        .replace("{id}", &"0".repeat(64))
        .replace("{provider}", "no-such-provider")
        .replace("{citizen}", "c-minh")
        .replace("{token}", frame_token)
        .replace("{file}", "shell.js")
        .replace("{*path}", "echo");
    assert!(!path.contains('{'), "a placeholder without a value: {path}");
    match route.path {
        // The consent page checks its app and scopes before who asks.
        "/consent" => format!("{path}?app=field-reports&scopes=location"),
        _ => path,
    }
}

async fn add_publisher(host: &TestHost, id: &str) -> String {
    let response = client()
        .post(host.url("/api/v1/operator/publishers"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({ "id": id, "name": format!("Công ty {id}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let key = body["api_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("cit_pub_"));
    key
}

#[test]
fn the_table_lists_every_area_of_the_api() {
    let table = route_table();
    let has = |method: &str, path: &str| {
        table
            .iter()
            .any(|r| (r.method == method || r.method == "ANY") && r.path == path)
    };
    for (method, path) in [
        (
            "POST",
            "/api/v1/operator/apps/{app}/versions/{version}/approve",
        ),
        ("POST", "/api/v1/operator/apps/{app}/rollout"),
        ("POST", "/api/v1/operator/apps/{app}/rollback"),
        ("POST", "/api/v1/operator/apps/{app}/suspend"),
        ("POST", "/api/v1/operator/apps/{app}/resume"),
        ("POST", "/api/v1/publisher/packages"),
        ("GET", "/api/v1/me/payments"),
        ("POST", "/api/v1/me/payments/{id}/confirm"),
        ("GET", "/api/v1/operator/payments/reconcile"),
        ("GET", "/api/v1/publisher/settlements"),
        ("POST", "/api/v1/operator/wallets/{citizen}/top-up"),
        ("POST", "/api/v1/me/frames"),
        ("PUT", "/api/v1/me/location"),
        ("DELETE", "/api/v1/me/location"),
        ("POST", "/api/v1/operator/tokens"),
        ("GET", "/metrics"),
        ("GET", "/f/{token}/apps/{app}/{*path}"),
    ] {
        assert!(
            has(method, path),
            "{method} {path} is not in the route table"
        );
    }
    assert!(table.len() >= 60, "{} routes", table.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_rightly() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(dir.path(), |config| {
        config.metrics_token = Some(SCRAPE_TOKEN.into());
    })
    .await;
    host.install_built("hostile", &test_manifest("a-app", "hostile", "[]", ""))
        .await;
    let key_a = add_publisher(&host, "citadel-tests").await;
    let key_b = add_publisher(&host, "vnpt-hue").await;
    // A frame of a-app, from a session that stays signed in throughout.
    let lan = sign_in(&host, "c-lan").await;
    let frame = open_frame(&host, &lan, "a-app").await;
    let frame_token = frame.split('/').nth(2).unwrap().to_string();

    let table = route_table();
    for route in &table {
        let path = concrete(route, &frame_token);
        // `ANY` routes are asked with GET.
        let method = Method::from_bytes(route.method.replace("ANY", "GET").as_bytes()).unwrap();
        let mut anonymous: Option<(u16, String)> = None;
        for caller in CALLERS {
            let mut request = client().request(method.clone(), host.url(&path));
            request = match caller {
                Caller::Anonymous => request,
                // A session of its own each time: a route may end it (logout).
                Caller::Citizen => request.bearer_auth(sign_in(&host, "c-minh").await),
                Caller::PublisherA => request.bearer_auth(&key_a),
                Caller::PublisherB => request.bearer_auth(&key_b),
                Caller::Operator => request.bearer_auth(OPERATOR_TOKEN),
                Caller::Forged => request.bearer_auth("cit_pub_0000000000000000000000000000"),
                Caller::FrameToken => request.bearer_auth(&frame_token),
            };
            if method != Method::GET {
                request = request.json(&json!({}));
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let what = format!("{} {path} ({:?}) as {caller:?}", route.method, route.access);
            let app_answer = matches!(route.access, Access::App | Access::Frame);
            if app_answer {
                // The host dispatched to the app (or asked for the slash):
                // what the app answers is its own business.
                assert!(
                    status == 308 || response.headers().contains_key("x-citadel-app-version"),
                    "{what}: {status} did not come from the app"
                );
            }
            let is_page = app_answer
                || route.access == Access::CitizenPage
                || !response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|t| t.starts_with("application/json"));
            let code = if status >= 400 && !is_page {
                error_of(response).await.0
            } else {
                String::new()
            };
            // Every row is a route the router serves, with this method.
            assert!(
                status != 405 && code != "method_not_allowed",
                "{what}: {status}"
            );
            assert!(code != "not_found", "{what}: the router does not serve it");
            assert!(status < 500, "{what}: {status} {code}");
            match expected(route.access, caller) {
                Expect::Status(wanted) => {
                    assert_eq!(status, wanted, "{what}: {code}");
                    if !is_page {
                        let codes: &[&str] = match wanted {
                            401 => &["unauthenticated", "invalid_credentials", "not_signed_in"],
                            _ => &["wrong_role"],
                        };
                        assert!(codes.contains(&code.as_str()), "{what}: {code}");
                    }
                }
                Expect::Through => {
                    assert!(status != 401 && status != 403, "{what}: {status} {code}");
                    anonymous = Some((status, code));
                }
                Expect::AsAnonymous => {
                    let first = anonymous.clone().expect("anonymous asked first");
                    assert_eq!((status, code), first, "{what}");
                }
            }
        }
    }

    // The scrape token reads `/metrics` and nothing else.
    let metrics = get(&host, "/metrics", Some(SCRAPE_TOKEN)).await;
    assert_eq!(metrics.status(), 200);
    let apps = get(&host, "/api/v1/operator/apps", Some(SCRAPE_TOKEN)).await;
    assert_eq!(apps.status(), 401);

    // Publisher A sees its own app only; B sees none of A's.
    let apps: Value = get_json(&host, "/api/v1/publisher/apps", Some(&key_a)).await;
    let ids: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, ["a-app"]);
    let apps: Value = get_json(&host, "/api/v1/publisher/apps", Some(&key_b)).await;
    assert_eq!(apps, json!([]));
    // Keys are stored hashed: the plain key is nowhere in the database.
    host.stop().await;
    let mut found = false;
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes.windows(key_a.len()).any(|w| w == key_a.as_bytes()) {
            found = true;
        }
    }
    assert!(!found, "a publisher key was stored in the clear");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A path parameter that is not UTF-8 (`%FF`) is refused with the JSON
/// error every other refusal has (axum's own rejection is plain text), to
/// every caller that reaches the route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_path_parameter_is_a_json_error_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let key = add_publisher(&host, "citadel-tests").await;
    let citizen = sign_in(&host, "c-minh").await;
    let mut checked = 0;
    for route in route_table() {
        if !route.path.contains('{')
            || route.path.contains("{*")
            || matches!(route.access, Access::App | Access::Frame)
        {
            continue;
        }
        let path = route
            .path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "%FF"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(route.method.replace("ANY", "GET").as_bytes()).unwrap();
        let mut request = client().request(method.clone(), host.url(&path));
        request = match route.access {
            Access::Operator => request.bearer_auth(OPERATOR_TOKEN),
            Access::Publisher => request.bearer_auth(&key),
            Access::Citizen | Access::CitizenPage => request.bearer_auth(&citizen),
            _ => request,
        };
        if method != Method::GET {
            request = request.json(&json!({}));
        }
        let response = request.send().await.unwrap();
        let what = format!("{} {path}", route.method);
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{what}: {status}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if content_type.starts_with("text/html") {
            continue;
        }
        assert!(
            content_type.starts_with("application/json"),
            "{what}: {status} {content_type}"
        );
        let (code, _) = error_of(response).await;
        assert!(!code.is_empty(), "{what}: no error code");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} routes checked");
    host.stop().await;
}
