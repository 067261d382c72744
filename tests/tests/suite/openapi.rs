//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every route is
//! served as JSON, and the host's real answers — of every role, successes
//! and refusals — match the schemas the document gives for them.

use citadel_host::gateway::openapi_document;
use citadel_tests::{client, sign_in, TestHost, OPERATOR_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_as_openapi_3_1_json() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let response = client()
        .get(host.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let document: Value = response.json().await.unwrap();
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.1")),
        "{}",
        document["openapi"]
    );
    assert_eq!(document, serde_json::to_value(openapi_document()).unwrap());
    host.stop().await;
}

/// The JSON Schema the document gives for the `status` answer of `method
/// pattern`, rooted so that its `#/components/…` references resolve.
fn answer_schema(document: &Value, method: &Method, pattern: &str, status: u16) -> Value {
    let method = method.as_str().to_lowercase();
    let schema = document["paths"][pattern][&method]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"]
        .clone();
    assert!(
        !schema.is_null(),
        "the document gives no JSON answer for {method} {pattern} {status}"
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"],
        "allOf": [schema],
    })
}

/// One request and the answer the document must describe.
struct Call<'a> {
    method: Method,
    /// The route's pattern, as the document writes it.
    pattern: &'a str,
    /// The path asked.
    path: String,
    token: Option<&'a str>,
    body: Option<Value>,
    status: u16,
}

fn call<'a>(method: Method, pattern: &'a str, token: Option<&'a str>, status: u16) -> Call<'a> {
    Call {
        method,
        path: pattern.to_string(),
        pattern,
        token,
        body: None,
        status,
    }
}

impl Call<'_> {
    fn at(mut self, path: &str) -> Self {
        self.path = path.to_string();
        self
    }

    fn with(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// Ask `call`, check its status, and check its JSON answer against the
/// document; the answer.
async fn check(host: &TestHost, document: &Value, call: Call<'_>) -> Value {
    let mut request = client().request(call.method.clone(), host.url(&call.path));
    if let Some(token) = call.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &call.body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the host answers");
    let what = format!("{} {}", call.method, call.path);
    assert_eq!(response.status().as_u16(), call.status, "{what}");
    let answer: Value = response.json().await.expect(&what);
    let schema = answer_schema(document, &call.method, call.pattern, call.status);
    let validator = jsonschema::draft202012::new(&schema).expect("the answer's schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&answer)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} answered what its schema does not allow:\n{}\n{answer}",
        errors.join("\n")
    );
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answers_match_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let document = serde_json::to_value(openapi_document()).unwrap();
    // The check can fail: a schema reached through references refuses an
    // answer of the wrong shape.
    let catalogue = answer_schema(&document, &Method::GET, "/api/v1/apps", 200);
    let validator = jsonschema::draft202012::new(&catalogue).expect("the schema compiles");
    assert!(!validator.is_valid(&json!({ "apps": [{ "id": 1 }], "next": null })));
    let lan = sign_in(&host, "c-lan").await;
    let citizen = Some(lan.as_str());
    // Erases her data, so not Lan.
    let vy = sign_in(&host, "c-vy").await;
    let operator = Some(OPERATOR_TOKEN);
    use Method as M;

    for call in [
        call(M::GET, "/healthz", None, 200),
        call(M::GET, "/readyz", None, 200),
        call(M::POST, "/api/v1/login", None, 200).with(json!({ "citizen": "c-minh" })),
        call(M::POST, "/api/v1/login", None, 401).with(json!({ "citizen": "c-nobody" })),
        call(M::GET, "/api/v1/session", None, 200),
        call(M::GET, "/api/v1/session", citizen, 200),
        call(M::GET, "/api/v1/me", citizen, 200),
        call(M::GET, "/api/v1/me", None, 401),
        call(M::GET, "/api/v1/me", operator, 403),
        call(M::GET, "/api/v1/me/inbox", citizen, 200),
        call(M::PUT, "/api/v1/me/location", citizen, 200)
            .with(json!({ "lat": 16.4637, "lon": 107.5909, "accuracy_m": 12.0 })),
        call(M::PUT, "/api/v1/me/location", citizen, 422).with(json!({ "lat": 91.0, "lon": 0.0 })),
        call(M::POST, "/api/v1/me/frames", citizen, 200).with(json!({ "app": "maps" })),
        call(M::POST, "/api/v1/me/consents", citizen, 201)
            .with(json!({ "app": "maps", "scopes": ["location"] })),
        call(M::GET, "/api/v1/me/consents", citizen, 200),
        call(M::GET, "/api/v1/me/data", citizen, 200),
        call(M::DELETE, "/api/v1/me/data", Some(vy.as_str()), 200),
        call(M::GET, "/api/v1/me/payments", citizen, 200),
        call(M::GET, "/api/v1/me/payments/{id}", citizen, 404).at("/api/v1/me/payments/pi_none"),
        call(M::GET, "/api/v1/apps", None, 200),
        call(M::GET, "/api/v1/apps", None, 400).at("/api/v1/apps?limit=0"),
        call(M::GET, "/api/v1/apps/{app}", None, 200).at("/api/v1/apps/maps"),
        call(M::GET, "/api/v1/apps/{app}", None, 404).at("/api/v1/apps/no-such-app"),
        call(M::GET, "/api/v1/login/citizens", None, 200),
        call(M::GET, "/api/v1/operator/apps", operator, 200),
        call(M::GET, "/api/v1/operator/apps", citizen, 403),
        call(M::GET, "/api/v1/operator/apps", Some("cit_op_forged"), 401),
        call(M::GET, "/api/v1/operator/apps/{app}/grants", operator, 200)
            .at("/api/v1/operator/apps/maps/grants"),
        call(
            M::GET,
            "/api/v1/operator/apps/{app}/versions",
            operator,
            200,
        )
        .at("/api/v1/operator/apps/maps/versions"),
        call(M::GET, "/api/v1/operator/apps/{app}/metrics", operator, 200)
            .at("/api/v1/operator/apps/maps/metrics"),
        call(M::GET, "/api/v1/operator/overview", operator, 200),
        call(M::GET, "/api/v1/operator/audit", operator, 200),
        call(M::GET, "/api/v1/operator/audit/recent", operator, 200),
        call(M::GET, "/api/v1/operator/publishers", operator, 200),
        call(M::GET, "/api/v1/operator/reviews", operator, 200),
        call(M::GET, "/api/v1/operator/payments/reconcile", operator, 200),
        call(
            M::POST,
            "/api/v1/operator/wallets/{citizen}/top-up",
            operator,
            200,
        )
        .at("/api/v1/operator/wallets/c-lan/top-up")
        .with(json!({ "amount": 50000 })),
        call(M::POST, "/api/v1/operator/tokens", operator, 201)
            .with(json!({ "name": "openapi test" })),
        call(M::POST, "/api/v1/operator/apps/{app}/resume", operator, 409)
            .at("/api/v1/operator/apps/maps/resume"),
        call(M::POST, "/api/v1/payments/webhooks/{provider}", None, 404)
            .at("/api/v1/payments/webhooks/no-such-provider")
            .with(json!({})),
        call(M::GET, "/apps/{app}/", None, 404).at("/apps/no-such-app/"),
    ] {
        check(&host, &document, call).await;
    }

    let registered = check(
        &host,
        &document,
        call(M::POST, "/api/v1/operator/publishers", operator, 201)
            .with(json!({ "id": "openapi-tests", "name": "Công ty OpenAPI" })),
    )
    .await;
    let key = registered["api_key"].as_str().expect("an API key");
    let publisher = Some(key);
    for call in [
        call(M::GET, "/api/v1/publisher/apps", publisher, 200),
        call(M::GET, "/api/v1/publisher/apps/{app}", publisher, 404)
            .at("/api/v1/publisher/apps/maps"),
        call(M::GET, "/api/v1/publisher/settlements", publisher, 200),
        call(M::GET, "/api/v1/publisher/settlements", publisher, 400)
            .at("/api/v1/publisher/settlements?date=yesterday"),
        call(
            M::POST,
            "/api/v1/operator/publishers/{publisher}/keys",
            operator,
            201,
        )
        .at("/api/v1/operator/publishers/openapi-tests/keys"),
    ] {
        check(&host, &document, call).await;
    }
    host.stop().await;
}
