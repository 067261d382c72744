//! Operator tokens rotate and revoke, the one given by the environment
//! (`CITADEL_OPERATOR_TOKEN`) included: once revoked it stays refused, also
//! after the host restarts with it in its configuration.

use citadel_tests::{client, error_of, get_json, TestHost, OPERATOR_TOKEN};
use serde_json::{json, Value};

async fn status_with(host: &TestHost, token: &str) -> u16 {
    client()
        .get(host.url("/api/v1/operator/apps"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn issue(host: &TestHost, with: &str, name: &str) -> (String, String) {
    let response = client()
        .post(host.url("/api/v1/operator/tokens"))
        .bearer_auth(with)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    let id = body["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("cit_op_"));
    assert_eq!(id, citadel_host::identity::operator_token_id(&token));
    (token, id)
}

async fn revoke(host: &TestHost, with: &str, id: &str) -> reqwest::Response {
    client()
        .delete(host.url(&format!("/api/v1/operator/tokens/{id}")))
        .bearer_auth(with)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_token_rotates_and_stays_revoked_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    assert_eq!(status_with(&host, OPERATOR_TOKEN).await, 200);

    // Rotate: a new token, then the environment's one revoked with it.
    let (new_token, _) = issue(&host, OPERATOR_TOKEN, "Trung tâm IOC").await;
    assert_eq!(status_with(&host, &new_token).await, 200);
    let env_id = citadel_host::identity::operator_token_id(OPERATOR_TOKEN);
    assert_eq!(revoke(&host, &new_token, &env_id).await.status(), 204);
    assert_eq!(status_with(&host, OPERATOR_TOKEN).await, 401);
    let again = revoke(&host, &new_token, &env_id).await;
    assert_eq!(again.status(), 409);
    assert_eq!(error_of(again).await.0, "operator_token_revoked");
    let unknown = revoke(&host, &new_token, &"ab".repeat(32)).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(error_of(unknown).await.0, "operator_token_not_found");
    let malformed = revoke(&host, &new_token, "not-an-id").await;
    assert_eq!(malformed.status(), 404);
    // The revoked token can no longer act, not even to issue itself a new one.
    let refused = client()
        .post(host.url("/api/v1/operator/tokens"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({ "name": "back door" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // Both changes are in the audit log, with who made them.
    let page = get_json(
        &host,
        "/api/v1/operator/audit?kind=operator-token",
        Some(&new_token),
    )
    .await;
    let records = page["records"].as_array().unwrap();
    let log = records
        .iter()
        .map(|r| format!("{} {}", r["actor"], r["detail"]))
        .collect::<Vec<_>>();
    assert!(
        log.iter()
            .any(|l| l.contains("operator:configured") && l.contains("issued")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("operator:Trung tâm IOC") && l.contains("revoked")),
        "{log:?}"
    );
    host.stop().await;

    // The host starts again with the same token in its configuration: it is
    // not registered again, and the rotated token still works.
    let host = TestHost::start(dir.path()).await;
    assert_eq!(status_with(&host, OPERATOR_TOKEN).await, 401);
    assert_eq!(status_with(&host, &new_token).await, 200);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issued_token_can_be_revoked_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let (token, id) = issue(&host, OPERATOR_TOKEN, "Nguyễn Văn A").await;
    assert_eq!(status_with(&host, &token).await, 200);
    assert_eq!(revoke(&host, OPERATOR_TOKEN, &id).await.status(), 204);
    assert_eq!(status_with(&host, &token).await, 401);
    assert_eq!(status_with(&host, OPERATOR_TOKEN).await, 200);
    for name in ["", "   ", "a\nb"] {
        let response = client()
            .post(host.url("/api/v1/operator/tokens"))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{name:?}");
        assert_eq!(error_of(response).await.0, "invalid_operator_name");
    }
    host.stop().await;
}
