//! The authorization matrix: every API route × every kind of caller gets the
//! right status, and every refusal is a JSON error. Publishers join the
//! matrix with their API keys.

use citadel_tests::{client, error_of, sign_in, TestHost, OPERATOR_TOKEN};
use reqwest::Method;
use serde_json::json;

#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Citizen,
    Operator,
    Forged,
}

const CALLERS: [Caller; 4] = [
    Caller::Anonymous,
    Caller::Citizen,
    Caller::Operator,
    Caller::Forged,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_rightly() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;

    // (method, path, body, expected status for anonymous, citizen, operator, forged)
    let routes: Vec<(Method, &str, Option<serde_json::Value>, [u16; 4])> = vec![
        (Method::GET, "/healthz", None, [200, 200, 200, 200]),
        (Method::GET, "/metrics", None, [200, 200, 200, 200]),
        (Method::GET, "/api/v1/me", None, [401, 200, 403, 401]),
        (
            Method::GET,
            "/api/v1/operator/apps",
            None,
            [401, 403, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/operator/apps/notes/grants",
            None,
            [401, 403, 200, 401],
        ),
        (
            Method::PUT,
            "/api/v1/operator/apps/notes/grants",
            Some(json!({ "capabilities": ["kv"] })),
            [401, 403, 200, 401],
        ),
        (
            Method::GET,
            "/api/v1/operator/audit",
            None,
            [401, 403, 200, 401],
        ),
        // Last: logging out ends the citizen's session.
        (Method::POST, "/api/v1/logout", None, [401, 204, 403, 401]),
    ];

    let citizen_token = sign_in(&host, "c-minh").await;

    for (method, path, body, expected) in &routes {
        for (caller, expected) in CALLERS.iter().zip(expected) {
            let mut request = client().request(method.clone(), host.url(path));
            request = match caller {
                Caller::Anonymous => request,
                Caller::Citizen => request.bearer_auth(&citizen_token),
                Caller::Operator => request.bearer_auth(OPERATOR_TOKEN),
                Caller::Forged => request.bearer_auth("cit_op_0000000000000000000000000000"),
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
                let expected_code = match expected {
                    401 => ["unauthenticated", "invalid_credentials", "not_signed_in"].as_slice(),
                    403 => ["wrong_role"].as_slice(),
                    _ => unreachable!(),
                };
                assert!(
                    expected_code.contains(&code.as_str()),
                    "{method} {path} as {caller:?}: {code}"
                );
            }
        }
    }
    host.stop().await;
}
