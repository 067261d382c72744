//! Personal fields need the city's grant **and** the citizen's consent:
//! without grant → denied; granted, no consent → consent-required and the
//! SDK's 428 with the host's consent URL; consented → the value; revoked →
//! consent-required again. Every denial is audited and counted. Consent can
//! only come from the citizen through the host, never from an app.

use citadel_tests::{
    audit, audit_at_least, client, error_of, get_json, metrics, probe_manifest, put_grants,
    sign_in, TestHost, PERSONAL_SCOPES,
};
use serde_json::{json, Value};

async fn profile(host: &TestHost, token: &str, scope: &str) -> reqwest::Response {
    profile_in(host, "probe", token, scope).await
}

async fn profile_in(host: &TestHost, app: &str, token: &str, scope: &str) -> reqwest::Response {
    let short = scope.trim_start_matches("identity.");
    client()
        .get(host.url(&format!("/apps/{app}/profile?scopes={short}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn grant(host: &TestHost, capabilities: &[&str]) {
    let response = put_grants(host, "probe", json!(capabilities)).await;
    assert_eq!(response.status(), 200);
}

async fn consent(host: &TestHost, token: &str, scopes: &[&str]) -> reqwest::Response {
    client()
        .post(host.url("/api/v1/me/consents"))
        .bearer_auth(token)
        .json(&json!({ "app": "probe", "scopes": scopes }))
        .send()
        .await
        .unwrap()
}

fn field_of(scope: &str) -> &'static str {
    match scope {
        "identity.name" => "name",
        "identity.phone" => "phone",
        "identity.national-id" => "national_id",
        "identity.address" => "address",
        "identity.birth-date" => "birth_date",
        _ => "roles",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_personal_scope_needs_grant_and_consent() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_ungranted("probe", &probe_manifest("probe", &[], ""))
        .await;
    // c-khang has a staff role, so `identity.roles` has something to show.
    let khang = sign_in(&host, "c-khang").await;
    let me: Value = get_json(&host, "/api/v1/me", Some(&khang)).await;

    for scope in PERSONAL_SCOPES {
        // Not granted: denied, naming the capability.
        let response = profile(&host, &khang, scope).await;
        assert_eq!(response.status(), 403, "{scope} without grant");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "capability_denied", "{scope}");
        assert!(body["error"]["message"].as_str().unwrap().contains(scope));

        // Granted, not consented: the SDK's 428 with the host's consent URL.
        grant(&host, &[scope]).await;
        let response = profile(&host, &khang, scope).await;
        assert_eq!(response.status(), 428, "{scope} without consent");
        let url = response.headers()["x-citadel-consent-url"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(url, format!("/consent?app=probe&scopes={scope}"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "consent_required");
        assert_eq!(body["error"]["scopes"], json!([scope]));

        // Consented: the value.
        let response = consent(&host, &khang, &[scope]).await;
        assert_eq!(response.status(), 201, "{scope} consent");
        let recorded: Value = response.json().await.unwrap();
        assert_eq!(
            recorded["consents"][0]["purpose"],
            format!("Để thử nghiệm {scope}"),
            "the purpose shown is the manifest's, in the citizen's locale"
        );
        let response = profile(&host, &khang, scope).await;
        assert_eq!(response.status(), 200, "{scope} consented");
        let body: Value = response.json().await.unwrap();
        let field = field_of(scope);
        let expected = match field {
            "roles" => json!([{ "unit": "ioc-hue", "role": "coordinator" }]),
            other => me[other].clone(),
        };
        assert_eq!(body[field], expected, "{scope}");
        assert!(!expected.is_null());

        // Revoked: consent-required again, from the next request.
        let response = client()
            .delete(host.url(&format!("/api/v1/me/consents/probe?scope={scope}")))
            .bearer_auth(&khang)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        assert_eq!(
            profile(&host, &khang, scope).await.status(),
            428,
            "{scope} revoked"
        );

        // Every denial is in the audit log, with the app's pairwise id.
        let denials = audit_at_least(
            &host,
            &format!("kind=denial&app=probe&capability={scope}"),
            3,
        )
        .await;
        assert_eq!(denials.len(), 3, "{scope}: no grant, no consent, revoked");
        assert!(denials
            .iter()
            .all(|d| d["pairwise_id"].as_str().is_some_and(|p| p.len() == 32)));
        assert!(denials.iter().all(|d| d["request_id"].is_string()));
        let given = audit(&host, &format!("kind=consent&app=probe&capability={scope}")).await;
        assert_eq!(given.len(), 1);
        let revoked = audit(&host, &format!("kind=consent-revoked&capability={scope}")).await;
        assert_eq!(revoked.len(), 1);
    }

    let metrics = metrics(&host).await;
    for scope in PERSONAL_SCOPES {
        let line = format!("citadel_app_denials_total{{app=\"probe\",capability=\"{scope}\"}} 3");
        assert!(metrics.contains(&line), "missing `{line}`");
    }
    // Nobody signed in: not-signed-in, not a denial.
    let response = client()
        .get(host.url("/apps/probe/profile?scopes=name"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_comes_only_from_the_citizen_through_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("probe", &probe_manifest("probe-b", &[], ""))
        .await;
    let lan = sign_in(&host, "c-lan").await;
    let cookie = format!("citadel_session={lan}");

    // The host-drawn page: the app's name, each scope's purpose, no framing.
    let page = client()
        .get(host.url(
            "/consent?app=probe-b&scopes=identity.phone,identity.name&return=/apps/probe-b/profile",
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Thăm dò") && html.contains("Để thử nghiệm identity.phone"),
        "{html}"
    );
    // Each scope by its Vietnamese name and explanation, no English.
    assert!(
        html.contains("<strong>Số điện thoại</strong> — số điện thoại của công dân")
            && html.contains("<strong>Họ và tên</strong>")
            && !html.contains("the citizen's"),
        "{html}"
    );
    assert!(
        html.contains(r#"data-return="/apps/probe-b/profile""#),
        "{html}"
    );
    // An open redirect through `return` is refused.
    let html = client()
        .get(host.url("/consent?app=probe-b&scopes=identity.phone&return=https://evil.example/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"data-return="/apps/probe-b/""#), "{html}");
    let anonymous = client()
        .get(host.url("/consent?app=probe-b&scopes=identity.phone"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // An app's page (opaque origin, `Origin: null`) or another site cannot
    // use the citizen's cookie to consent.
    for origin in ["null", "https://evil.example"] {
        let response = client()
            .post(host.url("/api/v1/me/consents"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .json(&json!({ "app": "probe-b", "scopes": ["identity.phone"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "origin {origin}");
        assert_eq!(error_of(response).await.0, "cross_origin_request");
    }
    let app_page = client()
        .get(host.url("/apps/probe-b/whoami"))
        .send()
        .await
        .unwrap();
    let sandbox = app_page.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        sandbox.starts_with("sandbox") && !sandbox.contains("allow-same-origin"),
        "{sandbox}"
    );
    // The host's own page may.
    let response = client()
        .post(host.url("/api/v1/me/consents"))
        .header("cookie", &cookie)
        .header("origin", format!("http://{}", host.addr))
        .json(&json!({ "app": "probe-b", "scopes": ["identity.phone"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // Only personal scopes the app requests; only existing apps.
    for (body, status, code) in [
        (
            json!({ "app": "probe-b", "scopes": ["kv"] }),
            422,
            "not_a_personal_scope",
        ),
        (
            json!({ "app": "notes", "scopes": ["identity.phone"] }),
            422,
            "scope_not_requested",
        ),
        (
            json!({ "app": "nope", "scopes": ["identity.phone"] }),
            404,
            "app_not_found",
        ),
        (json!({ "app": "probe-b", "scopes": [] }), 422, "no_scopes"),
        (json!({ "app": "probe-b" }), 400, "invalid_json"),
    ] {
        let response = client()
            .post(host.url("/api/v1/me/consents"))
            .bearer_auth(&lan)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(error_of(response).await.0, code, "{body}");
    }
    // The citizen sees exactly what they gave; another citizen sees nothing.
    let mine: Value = get_json(&host, "/api/v1/me/consents", Some(&lan)).await;
    assert_eq!(mine["consents"].as_array().unwrap().len(), 1);
    assert_eq!(mine["consents"][0]["scope"], "identity.phone");
    assert_eq!(
        mine["consents"][0]["label"],
        json!({ "vi": "Số điện thoại", "en": "Phone number" })
    );
    let minh = sign_in(&host, "c-minh").await;
    let theirs: Value = get_json(&host, "/api/v1/me/consents", Some(&minh)).await;
    assert_eq!(theirs["consents"], json!([]));
    // Lan's consent is hers: Minh still gets consent-required.
    assert_eq!(
        profile_in(&host, "probe-b", &minh, "identity.phone")
            .await
            .status(),
        428
    );
    assert_eq!(
        profile_in(&host, "probe-b", &lan, "identity.phone")
            .await
            .status(),
        200
    );
    // Revoking what was never given is a 404.
    let response = client()
        .delete(host.url("/api/v1/me/consents/probe-b?scope=identity.name"))
        .bearer_auth(&lan)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    host.stop().await;
}
