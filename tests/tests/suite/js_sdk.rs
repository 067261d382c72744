//! The TypeScript SDK (`sdk/js`) through the real gateway: its components
//! pass the same upload checks as Rust ones (and are refused with the same
//! codes), and its router, request helpers, host-call wrappers and JSON
//! errors answer as the Rust SDK's do.

use citadel_tests::{
    client, error_of, give_consent, package, register_publisher, sign_in, status_and_code,
    test_manifest, top_level_names, upload, TestHost,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_hello_is_served_like_the_rust_one() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("hello-js", &test_manifest("hello-js", "hello-js", "[]", ""))
        .await;
    for app in ["hello", "hello-js"] {
        let response = client()
            .get(host.url(&format!("/apps/{app}/")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{app}");
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.text().await.unwrap(), "Xin chào, Huế!");

        // The SDK router's own 404 and 405, as JSON with the request id.
        let response = client()
            .get(host.url(&format!("/apps/{app}/missing")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{app}");
        assert_eq!(error_of(response).await.0, "not_found");
        let response = client()
            .delete(host.url(&format!("/apps/{app}/")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{app}");
        assert_eq!(response.headers()["allow"], "GET");
        assert_eq!(error_of(response).await.0, "method_not_allowed");
    }
    host.stop().await;
}

/// A TypeScript app that exports `serveWhole` is served in one call, as a
/// Rust one is, and answers as the wasi:http path does: HEAD without a body,
/// a posted body read whole, errors as JSON. The probe keeps wasi:http only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_app_exporting_the_handler_is_served_in_one_call() {
    let handler = "citadel:miniapp/handler@1.5.0";
    let wasi = "wasi:http/incoming-handler@0.2.12";
    for app in ["hello-js", "parking"] {
        let exports = top_level_names(app).exports;
        assert!(
            exports.iter().any(|name| name == handler),
            "{app}: {exports:?}"
        );
        assert!(
            exports.iter().any(|name| name == wasi),
            "{app}: {exports:?}"
        );
    }
    // The Rust hello is built for the `citadel-only` world: `handler` alone.
    assert_eq!(top_level_names("hello").exports, [handler]);
    assert!(!top_level_names("probe-js")
        .exports
        .iter()
        .any(|name| name == handler));

    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("hello-js", &test_manifest("hello-js", "hello-js", "[]", ""))
        .await;
    let head = client()
        .head(host.url("/apps/hello-js/"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(head.bytes().await.unwrap().is_empty());
    let posted = client()
        .post(host.url("/apps/hello-js/?x=1"))
        .header("x-citadel-request-id", "forged")
        .body(vec![b'a'; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 405);
    let body: serde_json::Value = posted.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let request_id = body["error"]["request_id"].as_str().unwrap();
    assert!(
        !request_id.is_empty() && request_id != "forged",
        "{request_id}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_component_importing_more_than_it_requests_is_refused_as_a_rust_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let publisher = register_publisher(&host, "cong-ty-js").await;
    for (component, app) in [("probe", "greedy-rs"), ("probe-js", "greedy-js")] {
        // Both probes import notify (and more) but request only kv.
        let manifest =
            test_manifest(app, component, r#"["kv"]"#, "").replace("citadel-tests", &publisher.id);
        let response = upload(&host, &publisher, package(&publisher, &manifest, component)).await;
        assert_eq!(response.status(), 422, "{component}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "imports_not_covered", "{component}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("`citadel:miniapp/notify@1.5.0` (needs capability `notify`)"),
            "{component}: {message}"
        );
        assert!(
            message.contains("wasi:http/outgoing-handler"),
            "{component}: {message}"
        );
    }
    // Requesting what it imports, the JS probe is accepted.
    let manifest = probe_js_manifest().replace("citadel-tests", &publisher.id);
    let response = upload(
        &host,
        &publisher,
        package(&publisher, &manifest, "probe-js"),
    )
    .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    host.stop().await;
}

/// The JS probe's manifest: every capability its code imports, with the
/// purposes the personal ones need.
fn probe_js_manifest() -> String {
    let requested = r#"["kv", "notify", "identity.name", "identity.phone", "identity.roles", "http:https://api.example.vn"]"#;
    test_manifest("probe-js", "probe-js", requested, "").replace(
        "[limits]",
        "[purposes.\"identity.name\"]\nvi = \"Để chào bạn\"\nen = \"To greet you\"\n\
         [purposes.\"identity.phone\"]\nvi = \"Để gọi bạn\"\nen = \"To call you\"\n\
         [purposes.\"identity.roles\"]\nvi = \"Để mở trang nhân viên\"\nen = \"To open the staff page\"\n[limits]",
    )
}

/// A host with the JS probe installed and granted only `granted` (so the
/// other host calls are denied at the call, as the tests need).
async fn probe_host(dir: &std::path::Path, granted: &[&str]) -> TestHost {
    let host = TestHost::start(dir).await;
    let app = host
        .install_ungranted("probe-js", &probe_js_manifest())
        .await;
    host.citadel
        .registry
        .set_grants(
            &app,
            None,
            granted.iter().map(|g| g.to_string()).collect(),
            "operator:test",
        )
        .await
        .expect("grant succeeds");
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_request_helpers_and_errors_answer_as_the_rust_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let host = probe_host(dir.path(), &["kv", "identity.name", "identity.phone"]).await;
    let lan = sign_in(&host, "c-lan").await;

    let about: serde_json::Value = client()
        .get(host.url("/apps/probe-js/?q=thi%C3%AAn+m%E1%BB%A5&lang=en"))
        .bearer_auth(&lan)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(about["q"], "thiên mụ");
    assert_eq!(about["lang"], "en");
    assert_eq!(about["base"], "/apps/probe-js");
    assert!(about["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    assert!(about["citizen"].as_str().is_some_and(|id| id != "c-lan"));

    let rest = client()
        .get(host.url("/apps/probe-js/files/a/ph%E1%BA%A3n%20%C3%A1nh.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.text().await.unwrap(), "a/phản ánh.txt");

    // kv round trip and an atomic counter.
    let put = client()
        .put(host.url("/apps/probe-js/kv/greeting"))
        .json(&json!({ "vi": "Xin chào" }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let got: serde_json::Value = client()
        .get(host.url("/apps/probe-js/kv/greeting"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["value"]["vi"], "Xin chào");
    for expected in 1..=2 {
        let count: serde_json::Value = client()
            .post(host.url("/apps/probe-js/count"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(count["count"], expected);
    }

    // A malformed JSON body is the SDK's 400, a bad key the host's.
    let response = client()
        .put(host.url("/apps/probe-js/kv/greeting"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(response).await, (400, "bad_request".into()));

    // Citizen-kv needs a citizen: 401 without, the note with one.
    let response = client()
        .post(host.url("/apps/probe-js/mine"))
        .form(&[("note", "ghi chú")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(response).await,
        (401, "not_signed_in".into())
    );
    let mine: serde_json::Value = client()
        .post(host.url("/apps/probe-js/mine"))
        .bearer_auth(&lan)
        .form(&[("note", "ghi chú")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["note"], "ghi chú");

    // Forms: urlencoded, JSON and multipart read the same; a missing field is 422.
    let (content_type, body) = citadel_tests::multipart_body(
        &[("name", "Lan"), ("age", "36")],
        &[("photo", "a.jpg", &[1, 2, 3])],
    );
    let form: serde_json::Value = client()
        .post(host.url("/apps/probe-js/form"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        form,
        json!({ "name": "Lan", "age": 36, "files": [{ "name": "a.jpg", "type": "application/octet-stream", "size": 3 }] })
    );
    let form: serde_json::Value = client()
        .post(host.url("/apps/probe-js/form"))
        .json(&json!({ "name": "Lan", "age": 36, "note": null }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(form["age"], 36);
    let response = client()
        .post(host.url("/apps/probe-js/form"))
        .form(&[("age", "many")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(response).await,
        (422, "invalid_input".into())
    );

    // Thrown errors: an HttpError as it says, anything else a 500 `internal`.
    let response = client()
        .get(host.url("/apps/probe-js/conflict"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    assert_eq!(error_of(response).await.0, "conflict");
    let response = client()
        .get(host.url("/apps/probe-js/bug"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(error_of(response).await.0, "internal");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_host_calls_are_denied_consented_and_refused_with_the_rust_codes() {
    let dir = tempfile::tempdir().unwrap();
    let host = probe_host(dir.path(), &["kv", "identity.name", "identity.phone"]).await;
    let lan = sign_in(&host, "c-lan").await;

    // Not granted: notify and outbound HTTP are denied at the call.
    let response = client()
        .post(host.url("/apps/probe-js/notify"))
        .bearer_auth(&lan)
        .form(&[("body", "chào")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(response).await,
        (403, "capability_denied".into())
    );
    let response = client()
        .get(host.url("/apps/probe-js/fetch?url=https://api.example.vn/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(response).await,
        (502, "upstream_failed".into())
    );
    let response = client()
        .get(host.url("/apps/probe-js/staff"))
        .bearer_auth(&lan)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(response).await,
        (403, "capability_denied".into())
    );

    // Granted, not consented: the standard 428 with the consent headers.
    let response = client()
        .get(host.url("/apps/probe-js/profile"))
        .bearer_auth(&lan)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 428);
    assert_eq!(
        response.headers()["x-citadel-consent-url"],
        "/consent?app=probe-js&scopes=identity.name%2Cidentity.phone"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "consent_required");
    assert_eq!(
        body["error"]["scopes"],
        json!(["identity.name", "identity.phone"])
    );

    let consented = give_consent(
        &host,
        &lan,
        "probe-js",
        &["identity.name", "identity.phone"],
    )
    .await;
    assert_eq!(consented.status(), 201);
    let profile: serde_json::Value = client()
        .get(host.url("/apps/probe-js/profile"))
        .bearer_auth(&lan)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["name"], "Nguyễn Thị Lan");
    assert_eq!(profile["phone"], "0905123456");

    // Signed out: identity's 401.
    let response = client()
        .get(host.url("/apps/probe-js/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(response).await,
        (401, "not_signed_in".into())
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_fetch_reaches_a_granted_origin_and_follows_its_redirects() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let partner = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "chào từ đối tác" }))
        .route(
            "/moved",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/hello") }),
        );
    let server = tokio::spawn(async move {
        axum::serve(listener, partner).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(dir.path(), |config| {
        config.allow_loopback_for_tests = true;
    })
    .await;
    let origin = format!("http://localhost:{}", addr.port());
    let manifest = probe_js_manifest().replace(
        "\"http:https://api.example.vn\"",
        &format!("\"http:{origin}\""),
    );
    let app = host.install_ungranted("probe-js", &manifest).await;
    host.citadel
        .registry
        .set_grants(&app, None, vec![format!("http:{origin}")], "operator:test")
        .await
        .expect("grant succeeds");

    for path in ["/hello", "/moved"] {
        let answer: serde_json::Value = client()
            .get(host.url("/apps/probe-js/fetch"))
            .query(&[("url", format!("{origin}{path}"))])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            answer,
            json!({ "status": 200, "body": "chào từ đối tác" }),
            "{path}"
        );
    }
    // Another origin is not granted: the host denies it, the SDK says 502.
    let response = client()
        .get(host.url("/apps/probe-js/fetch"))
        .query(&[("url", "https://api.example.vn/x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(response).await,
        (502, "upstream_failed".into())
    );
    host.stop().await;
    server.abort();
}
