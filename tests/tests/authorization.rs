//! The authorization matrix: every API route × every kind of caller
//! (anonymous, citizen, publisher A, publisher B, operator, forged) gets the
//! right status, and every refusal is a JSON error. Publisher A publishes
//! the test app `a-app`; publisher B publishes nothing there.

use citadel_tests::{client, error_of, get_json, sign_in, test_manifest, TestHost, OPERATOR_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Citizen,
    PublisherA,
    PublisherB,
    Operator,
    Forged,
}

const CALLERS: [Caller; 6] = [
    Caller::Anonymous,
    Caller::Citizen,
    Caller::PublisherA,
    Caller::PublisherB,
    Caller::Operator,
    Caller::Forged,
];

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_rightly() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("hello", &test_manifest("a-app", "hello", "[]", ""));
    let key_a = add_publisher(&host, "citadel-tests").await;
    let key_b = add_publisher(&host, "vnpt-hue").await;
    let citizen_token = sign_in(&host, "c-minh").await;

    // (method, path, body, expected status for
    //  anonymous, citizen, publisher A, publisher B, operator, forged)
    let routes: Vec<(Method, &str, Option<Value>, [u16; 6])> = vec![
        (
            Method::GET,
            "/healthz",
            None,
            [200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/metrics",
            None,
            [200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/me",
            None,
            [401, 200, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/me/inbox",
            None,
            [401, 200, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/me/consents",
            None,
            [401, 200, 403, 403, 403, 401],
        ),
        (
            Method::POST,
            "/api/v1/me/consents",
            Some(json!({ "app": "a-app", "scopes": ["identity.name"] })),
            // The citizen is authorised, but a-app does not request the scope.
            [401, 422, 403, 403, 403, 401],
        ),
        (
            Method::DELETE,
            "/api/v1/me/consents/a-app",
            None,
            [401, 404, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/publisher/apps",
            None,
            [401, 403, 200, 200, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/publisher/apps/a-app",
            None,
            [401, 403, 200, 404, 403, 401],
        ),
        (
            Method::GET,
            "/api/v1/operator/apps",
            None,
            [401, 403, 403, 403, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/operator/apps/notes/grants",
            None,
            [401, 403, 403, 403, 200, 401],
        ),
        (
            Method::PUT,
            "/api/v1/operator/apps/notes/grants",
            Some(json!({ "capabilities": ["kv"] })),
            [401, 403, 403, 403, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/operator/audit",
            None,
            [401, 403, 403, 403, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/operator/publishers",
            None,
            [401, 403, 403, 403, 200, 401],
        ),
        (
            Method::POST,
            "/api/v1/operator/publishers",
            Some(json!({ "id": "hue-tourism", "name": "Du lịch Huế" })),
            [401, 403, 403, 403, 201, 401],
        ),
        (
            Method::POST,
            "/api/v1/operator/publishers/vnpt-hue/keys",
            None,
            [401, 403, 403, 403, 201, 401],
        ),
        // Last: logging out ends the citizen's session.
        (
            Method::POST,
            "/api/v1/logout",
            None,
            [401, 204, 403, 403, 403, 401],
        ),
    ];

    for (method, path, body, expected) in &routes {
        for (caller, expected) in CALLERS.iter().zip(expected) {
            let mut request = client().request(method.clone(), host.url(path));
            request = match caller {
                Caller::Anonymous => request,
                Caller::Citizen => request.bearer_auth(&citizen_token),
                Caller::PublisherA => request.bearer_auth(&key_a),
                Caller::PublisherB => request.bearer_auth(&key_b),
                Caller::Operator => request.bearer_auth(OPERATOR_TOKEN),
                Caller::Forged => request.bearer_auth("cit_pub_0000000000000000000000000000"),
            };
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status().as_u16(),
                *expected,
                "{method} {path} as {caller:?}"
            );
            if *expected >= 400 {
                let (code, _) = error_of(response).await;
                let expected_codes = match expected {
                    401 => ["unauthenticated", "invalid_credentials", "not_signed_in"].as_slice(),
                    403 => ["wrong_role"].as_slice(),
                    404 => ["app_not_found", "consent_not_found"].as_slice(),
                    422 => ["scope_not_requested"].as_slice(),
                    _ => unreachable!(),
                };
                assert!(
                    expected_codes.contains(&code.as_str()),
                    "{method} {path} as {caller:?}: {code}"
                );
            }
        }
    }

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
    host.citadel.store.flush().unwrap();
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
