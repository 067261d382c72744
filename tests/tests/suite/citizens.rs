//! Citizens: sign-in with the development provider, sessions as bearer and
//! cookie, logout, and what a mini-app learns of them — a pairwise id per
//! app, never the raw citizen id, the token or the cookie.

use citadel_tests::{client, error_of, get_json, test_manifest, TestHost, OPERATOR_TOKEN};
use serde_json::{json, Value};

async fn login(host: &TestHost, citizen: &str) -> reqwest::Response {
    client()
        .post(host.url("/api/v1/login"))
        .json(&json!({ "citizen": citizen }))
        .send()
        .await
        .unwrap()
}

async fn echoed_headers(host: &TestHost, app: &str, token: Option<&str>) -> Vec<(String, String)> {
    let mut request = client().get(host.url(&format!("/apps/{app}/echo")));
    if let Some(token) = token {
        request = request
            .bearer_auth(token)
            .header("cookie", format!("citadel_session={token}; theme=dark"));
    }
    let echoed: Value = request.send().await.unwrap().json().await.unwrap();
    serde_json::from_value(echoed["headers"].clone()).unwrap()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_work_as_bearer_and_cookie_and_end_at_logout() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;

    let response = login(&host, "c-lan").await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("citadel_session=cit_s_") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let me: Value = get_json(&host, "/api/v1/me", Some(&token)).await;
    assert_eq!(me["name"], "Nguyễn Thị Lan");
    let by_cookie = client()
        .get(host.url("/api/v1/me"))
        .header("cookie", format!("citadel_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);

    let unknown = login(&host, "c-nobody").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(error_of(unknown).await.0, "unknown_citizen");
    let anonymous = client().get(host.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(error_of(anonymous).await.0, "not_signed_in");
    let operator_as_citizen = client()
        .get(host.url("/api/v1/me"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(operator_as_citizen.status(), 403);

    let logout = client()
        .post(host.url("/api/v1/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let after = client()
        .get(host.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_see_a_pairwise_id_and_no_credential() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("hostile", &test_manifest("echo-a", "hostile", "[]", ""))
        .await;
    host.install_built("hostile", &test_manifest("echo-b", "hostile", "[]", ""))
        .await;
    let lan = citadel_tests::sign_in(&host, "c-lan").await;
    let minh = citadel_tests::sign_in(&host, "c-minh").await;

    let a = echoed_headers(&host, "echo-a", Some(&lan)).await;
    let text = format!("{a:?}");
    assert!(
        !text.contains(&lan),
        "the session token reached the app: {text}"
    );
    assert!(
        !text.contains("c-lan"),
        "the raw citizen id reached the app: {text}"
    );
    assert!(
        !text.contains("theme=dark"),
        "a cookie reached the app: {text}"
    );
    let lan_in_a = header(&a, "x-citadel-citizen")
        .expect("a pairwise id")
        .to_string();
    assert_eq!(lan_in_a.len(), 32);
    assert_eq!(header(&a, "x-citadel-locale"), Some("vi"));

    let b = echoed_headers(&host, "echo-b", Some(&lan)).await;
    let lan_in_b = header(&b, "x-citadel-citizen").unwrap();
    assert_ne!(lan_in_a, lan_in_b, "two apps cannot join their users");
    let again = echoed_headers(&host, "echo-a", Some(&lan)).await;
    assert_eq!(
        header(&again, "x-citadel-citizen"),
        Some(lan_in_a.as_str()),
        "stable per app"
    );
    let minh_in_a = echoed_headers(&host, "echo-a", Some(&minh)).await;
    assert_ne!(
        header(&minh_in_a, "x-citadel-citizen"),
        Some(lan_in_a.as_str())
    );

    let anonymous = echoed_headers(&host, "echo-a", None).await;
    assert_eq!(header(&anonymous, "x-citadel-citizen"), None);
    let forged = echoed_headers(&host, "echo-a", Some("cit_s_forged")).await;
    assert_eq!(header(&forged, "x-citadel-citizen"), None);

    // Stable across a restart: the pairwise secret is persisted.
    host.stop().await;
    let host = TestHost::start(dir.path()).await;
    let lan = citadel_tests::sign_in(&host, "c-lan").await;
    let after_restart = echoed_headers(&host, "echo-a", Some(&lan)).await;
    assert_eq!(
        header(&after_restart, "x-citadel-citizen"),
        Some(lan_in_a.as_str())
    );
    host.stop().await;
}
