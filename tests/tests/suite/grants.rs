//! Grants: the operator grants a subset of what a version requests; the
//! effective set is checked at every host call, changes hold from the next
//! request without a restart, and every grant, revocation and denial is in
//! the audit log and the metrics. Each version keeps its own grants. The
//! operator API refuses anyone else.

use citadel_tests::{
    at_version, audit_at_least, client, error_of, get_json, metrics, operator_post, package,
    put_grants, register_publisher, test_manifest, upload, TestHost, OPERATOR_TOKEN,
};
use serde_json::{json, Value};

async fn post_note(host: &TestHost, app: &str) -> reqwest::Response {
    client()
        .post(host.url(&format!("/apps/{app}/api/notes")))
        .json(&json!({ "text": "Rác chưa thu gom ở Vĩ Dạ" }))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effective_capabilities_are_requested_and_granted_and_change_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let app = host
        .install_ungranted("notes", &test_manifest("board", "notes", "[\"kv\"]", ""))
        .await;

    // Requested but not granted: the host call is denied, the app answers 403.
    let denied = post_note(&host, &app).await;
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["error"]["code"], "capability_denied");

    let granted = put_grants(&host, &app, json!(["kv"])).await;
    assert_eq!(granted.status(), 200);
    let view: Value = granted.json().await.unwrap();
    assert_eq!(view["effective"], json!(["kv"]));
    assert_eq!(post_note(&host, &app).await.status(), 201);

    let revoked = put_grants(&host, &app, json!([])).await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(post_note(&host, &app).await.status(), 403);

    let kinds: Vec<(String, String)> = audit_at_least(&host, "app=board", 5)
        .await
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().into(),
                r["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("install", "host"),
        ("denial", "app"),
        ("grant", "operator:configured"),
        ("revoke", "operator:configured"),
        ("denial", "app"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, a)| (k.to_string(), a.to_string()))
        .collect();
    assert_eq!(kinds, expected);
    let denials = audit_at_least(&host, "app=board&kind=denial", 2).await;
    assert_eq!(denials.len(), 2);
    assert_eq!(denials[0]["capability"], "kv");
    assert!(denials[0]["request_id"]
        .as_str()
        .is_some_and(|id| id.len() == 16));

    let metrics = metrics(&host).await;
    assert!(
        metrics.contains(r#"citadel_app_denials_total{app="board",capability="kv"} 2"#),
        "{metrics}"
    );

    // Grants survive a restart.
    put_grants(&host, &app, json!(["kv"])).await;
    host.stop().await;
    let host = TestHost::start(dir.path()).await;
    assert_eq!(post_note(&host, "board").await.status(), 201);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_api_refuses_strangers_and_bad_grants() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let url = host.url("/api/v1/operator/apps");

    let anonymous = client().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(error_of(anonymous).await.0, "unauthenticated");
    let forged = client()
        .get(&url)
        .bearer_auth("cit_op_forged_token_000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert_eq!(error_of(forged).await.0, "invalid_credentials");
    let grant_anonymously = client()
        .put(host.url("/api/v1/operator/apps/notes/grants"))
        .json(&json!({ "capabilities": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(grant_anonymously.status(), 401);
    let audit_anonymously = client()
        .get(host.url("/api/v1/operator/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(audit_anonymously.status(), 401);

    let apps: Value = client()
        .get(&url)
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let notes = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "notes")
        .unwrap();
    assert_eq!(
        notes["effective"],
        json!(["kv"]),
        "samples are granted what they request"
    );

    for (capabilities, status, code) in [
        (json!(["identity.phone"]), 422, "capability_not_requested"),
        (json!(["teleport"]), 400, "unknown_capability"),
    ] {
        let response = put_grants(&host, "notes", capabilities).await;
        assert_eq!(response.status(), status);
        assert_eq!(error_of(response).await.0, code);
    }
    let response = put_grants(&host, "nope", json!([])).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_of(response).await.0, "app_not_found");

    let bad_json = client()
        .put(host.url("/api/v1/operator/apps/notes/grants"))
        .bearer_auth(OPERATOR_TOKEN)
        .header("content-type", "application/json")
        .body("{\"capabilities\": 7}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), 400);
    assert_eq!(error_of(bad_json).await.0, "invalid_json");
    let not_json = client()
        .put(host.url("/api/v1/operator/apps/notes/grants"))
        .bearer_auth(OPERATOR_TOKEN)
        .body("capabilities=kv")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    let bad_query = client()
        .get(host.url("/api/v1/operator/audit?limit=lots"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_query.status(), 400);
    assert_eq!(error_of(bad_query).await.0, "invalid_query");

    // Refused changes changed nothing.
    let notes: Value = get_json(
        &host,
        "/api/v1/operator/apps/notes/grants",
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(notes["granted"], json!(["kv"]));
    host.stop().await;
}

/// What another host sharing the store would do: write grants and an app's
/// record straight to the store. This host's registry follows the store's
/// change feed, so both hold here within a second, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_written_to_the_store_by_another_host_hold_here_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let app = host
        .install_ungranted("notes", &test_manifest("bulletin", "notes", "[\"kv\"]", ""))
        .await;
    assert_eq!(post_note(&host, &app).await.status(), 403);

    let store = &host.citadel.store;
    let record = store.apps.app(&app).await.unwrap().unwrap();
    let mut live = store.apps.versions(&app).await.unwrap().remove(0);
    live.grants = Some(citadel_host::store::GrantRecord {
        capabilities: vec!["kv".into()],
        by: "operator:other-host".into(),
        at: 0,
    });
    store.apps.commit_app(&record, &[live], &[]).await.unwrap();
    let within = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let mut status = 0;
    while std::time::Instant::now() < within {
        status = post_note(&host, &app).await.status().as_u16();
        if status == 201 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 201, "the grant made elsewhere holds here");

    // A suspension written elsewhere: this host stops serving the app.
    let mut record = store.apps.app(&app).await.unwrap().unwrap();
    record.suspended = Some("kiểm tra an ninh".into());
    store.apps.commit_app(&record, &[], &[]).await.unwrap();
    let within = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < within {
        status = post_note(&host, &app).await.status().as_u16();
        if status != 201 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_ne!(status, 201, "the suspension made elsewhere holds here");
    let apps: Value = get_json(&host, "/api/v1/operator/apps", Some(OPERATOR_TOKEN)).await;
    let bulletin = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "bulletin")
        .unwrap()
        .clone();
    assert_eq!(bulletin["effective"], json!(["kv"]), "{bulletin}");
    host.stop().await;
}

/// Upload `version` of the `board` app (the notes component, requesting kv)
/// and approve it with `grants`.
async fn publish_board(
    host: &TestHost,
    publisher: &citadel_tests::TestPublisher,
    version: &str,
    grants: Value,
) {
    let manifest = at_version(&test_manifest("board", "notes", r#"["kv"]"#, ""), version);
    let uploaded = upload(host, publisher, package(publisher, &manifest, "notes")).await;
    assert_eq!(uploaded.status(), 201);
    let path = format!("/api/v1/operator/apps/board/versions/{version}/approve");
    let approved = operator_post(host, &path, json!({ "capabilities": grants })).await;
    assert_eq!(approved.status(), 200);
}

/// An operator step on the `board` app, which must succeed.
async fn step(host: &TestHost, action: &str, body: Value) {
    let path = format!("/api/v1/operator/apps/board/{action}");
    let response = operator_post(host, &path, body).await;
    assert_eq!(response.status(), 200, "{action}");
}

/// Approving a version grants that version only: what serves keeps its own
/// grants until the new one is rolled out, a canary and the live version
/// each answer with their own, and a rollback brings back the restored
/// version's grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_version_keeps_its_own_grants_through_review_rollout_and_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let no_samples = |config: &mut citadel_host::HostConfig| config.install_samples = false;
    let host = TestHost::start_with(dir.path(), no_samples).await;
    let publisher = register_publisher(&host, "citadel-tests").await;
    let publish =
        |version: &'static str, grants: Value| publish_board(&host, &publisher, version, grants);
    let rollout = |version: &'static str, percent: u8| {
        step(
            &host,
            "rollout",
            json!({ "version": version, "percent": percent }),
        )
    };
    let rollback = || step(&host, "rollback", json!({}));

    publish("1.0.0", json!([])).await;
    rollout("1.0.0", 100).await;
    assert_eq!(post_note(&host, "board").await.status(), 403);

    // Approving a version with more grants gives the live one nothing.
    publish("1.1.0", json!(["kv"])).await;
    assert_eq!(post_note(&host, "board").await.status(), 403);
    rollout("1.1.0", 100).await;
    assert_eq!(post_note(&host, "board").await.status(), 201);

    // Approving a version with fewer takes nothing from the live one.
    publish("1.2.0", json!([])).await;
    assert_eq!(post_note(&host, "board").await.status(), 201);

    // During a canary, each version answers with its own grants.
    rollout("1.2.0", 50).await;
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..30 {
        let response = post_note(&host, "board").await;
        let version = response.headers()["x-citadel-app-version"]
            .to_str()
            .unwrap()
            .to_string();
        let status = response.status().as_u16();
        let expected = if version == "1.1.0" { 201 } else { 403 };
        assert_eq!(status, expected, "version {version}");
        *seen.entry(version).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 2, "both versions answered: {seen:?}");
    rollback().await;
    assert_eq!(post_note(&host, "board").await.status(), 201);

    // A rollback brings back the restored version's grants.
    publish("1.3.0", json!([])).await;
    rollout("1.3.0", 100).await;
    assert_eq!(post_note(&host, "board").await.status(), 403);
    rollback().await;
    assert_eq!(post_note(&host, "board").await.status(), 201);

    let overview: Value = get_json(&host, "/api/v1/operator/overview", Some(OPERATOR_TOKEN)).await;
    let board = &overview["apps"][0];
    assert_eq!(board["id"], "board");
    assert_eq!(board["granted"], json!(["kv"]), "what serves: 1.1.0");
    let granted: Vec<(Value, Value)> = board["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].clone(), v["granted"].clone()))
        .collect();
    assert_eq!(
        granted,
        [
            (json!("1.3.0"), json!([])),
            (json!("1.2.0"), json!([])),
            (json!("1.1.0"), json!(["kv"])),
            (json!("1.0.0"), json!([])),
        ]
    );
    let grants = audit_at_least(&host, "app=board&kind=grant", 1).await;
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(
        (&grants[0]["version"], &grants[0]["capability"]),
        (&json!("1.1.0"), &json!("kv"))
    );

    // The operator may change one version's grants, and that version's only.
    let put_version = |version: &str, capabilities: Value| {
        client()
            .put(host.url("/api/v1/operator/apps/board/grants"))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({ "capabilities": capabilities, "version": version }))
            .send()
    };
    let changed = put_version("1.3.0", json!(["kv"])).await.unwrap();
    assert_eq!(changed.status(), 200);
    let view: Value = changed.json().await.unwrap();
    assert_eq!(
        (&view["version"], &view["granted"]),
        (&json!("1.1.0"), &json!(["kv"]))
    );
    let revoked = put_version("1.1.0", json!([])).await.unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(post_note(&host, "board").await.status(), 403);
    let unknown = put_version("9.9.9", json!([])).await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(error_of(unknown).await.0, "version_not_found");
    let manifest = at_version(&test_manifest("board", "notes", r#"["kv"]"#, ""), "1.4.0");
    let in_review = upload(&host, &publisher, package(&publisher, &manifest, "notes")).await;
    assert_eq!(in_review.status(), 201);
    let unreviewed = put_version("1.4.0", json!(["kv"])).await.unwrap();
    assert_eq!(unreviewed.status(), 409);
    assert_eq!(error_of(unreviewed).await.0, "wrong_state");
    let overview: Value = get_json(&host, "/api/v1/operator/overview", Some(OPERATOR_TOKEN)).await;
    let granted: Vec<Value> = overview["apps"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["granted"].clone())
        .collect();
    assert_eq!(
        granted,
        [json!(null), json!(["kv"]), json!([]), json!([]), json!([])],
        "1.4.0 (never approved), 1.3.0, 1.2.0, 1.1.0, 1.0.0"
    );

    // Granting and revoking in one step over what the store holds.
    let adjust = |body: Value| {
        client()
            .patch(host.url("/api/v1/operator/apps/board/grants"))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&body)
            .send()
    };
    let granted = adjust(json!({ "grant": ["kv"] })).await.unwrap();
    assert_eq!(granted.status(), 200);
    let view: Value = granted.json().await.unwrap();
    assert_eq!(view["serving"][0]["granted"], json!(["kv"]));
    assert_eq!(post_note(&host, "board").await.status(), 201);
    let revoked = adjust(json!({ "revoke": ["kv"] })).await.unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(post_note(&host, "board").await.status(), 403);
    for (body, status, code) in [
        (json!({ "grant": ["geo"] }), 422, "capability_not_requested"),
        (json!({ "revoke": ["teleport"] }), 400, "unknown_capability"),
        (json!({ "grant": "kv" }), 400, "invalid_json"),
    ] {
        let refused = adjust(body).await.unwrap();
        assert_eq!(refused.status(), status);
        assert_eq!(error_of(refused).await.0, code);
    }
    host.stop().await;
}
