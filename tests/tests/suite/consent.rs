//! Personal fields need the city's grant **and** the citizen's consent:
//! without grant → denied; granted, no consent → consent-required and the
//! SDK's 428 with the host's consent URL; consented → the value; revoked →
//! consent-required again. Every denial is audited and counted. Consent can
//! only come from the citizen through the host, never from an app. Staff
//! roles are the city's assignment of duties: the grant alone gives them.

use citadel_tests::{
    audit, audit_at_least, client, error_of, get_json, metrics, probe_manifest, put_grants,
    sign_in, TestHost, PERSONAL_SCOPES, ROLES_SCOPE,
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
        other => panic!("`{other}` is not a personal scope"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_personal_scope_needs_grant_and_consent() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_ungranted("probe", &probe_manifest("probe", &[], ""))
        .await;
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
        let expected = me[field].clone();
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

    // The Prometheus recorder is the process's: the other tests' hosts in
    // this binary add their own probe's denials, so count at least ours.
    let metrics = metrics(&host).await;
    for scope in PERSONAL_SCOPES {
        let series = format!("citadel_app_denials_total{{app=\"probe\",capability=\"{scope}\"}} ");
        let count = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|n| n.trim().parse::<u64>().ok());
        assert!(
            count.is_some_and(|n| n >= 3),
            "{series}: {count:?} (no grant, no consent, revoked)"
        );
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

/// Staff roles need the city's grant and nothing else: no consent is asked,
/// given or listed. Without the grant the app is refused as for any scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_roles_need_the_grant_but_no_consent() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_ungranted("probe", &probe_manifest("probe", &[], ""))
        .await;
    let khang = sign_in(&host, "c-khang").await; // ioc-hue coordinator
    let lan = sign_in(&host, "c-lan").await; // no role

    // Not granted: denied, naming the capability, audited.
    let response = profile(&host, &khang, ROLES_SCOPE).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "capability_denied");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(ROLES_SCOPE));
    let denials = audit_at_least(
        &host,
        &format!("kind=denial&app=probe&capability={ROLES_SCOPE}"),
        1,
    )
    .await;
    assert_eq!(denials.len(), 1);

    // Granted: the roles at once, with no consent; none for a role-less
    // citizen; nothing for nobody.
    grant(&host, &[ROLES_SCOPE]).await;
    let response = profile(&host, &khang, ROLES_SCOPE).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["roles"],
        json!([{ "unit": "ioc-hue", "role": "coordinator" }])
    );
    assert!(response_headers_have_no_consent_url(&host, &khang).await);
    let body: Value = profile(&host, &lan, ROLES_SCOPE)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["roles"], json!([]));
    let anonymous = client()
        .get(host.url("/apps/probe/profile?scopes=roles"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Roles with a personal scope: consent is asked for the personal one only.
    grant(&host, &[ROLES_SCOPE, "identity.phone"]).await;
    let response = client()
        .get(host.url("/apps/probe/profile?scopes=roles,phone"))
        .bearer_auth(&khang)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 428);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["scopes"], json!(["identity.phone"]));

    // Roles are not a consent: none can be given, none is asked on the
    // host's page, none is listed in "My permissions".
    let response = consent(&host, &khang, &[ROLES_SCOPE]).await;
    assert_eq!(response.status(), 422);
    assert_eq!(error_of(response).await.0, "not_a_personal_scope");
    let page = client()
        .get(host.url(&format!("/consent?app=probe&scopes={ROLES_SCOPE}")))
        .bearer_auth(&khang)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 422);
    let listed: Value = get_json(&host, "/api/v1/me/consents", Some(&khang)).await;
    assert_eq!(listed["consents"], json!([]));
    let app: Value = get_json(&host, "/api/v1/apps/probe", Some(&khang)).await;
    let roles = app["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == ROLES_SCOPE)
        .cloned()
        .unwrap_or_default();
    assert_eq!(roles["personal"], false, "{app}");
    assert!(
        roles["summary"]["vi"]
            .as_str()
            .is_some_and(|s| s.contains("không cần công dân đồng ý")),
        "{roles}"
    );

    // The grant withdrawn: refused again.
    grant(&host, &["identity.phone"]).await;
    assert_eq!(profile(&host, &khang, ROLES_SCOPE).await.status(), 403);
    host.stop().await;
}

/// The roles answer carries no consent URL (nothing to ask).
async fn response_headers_have_no_consent_url(host: &TestHost, token: &str) -> bool {
    profile(host, token, ROLES_SCOPE)
        .await
        .headers()
        .get("x-citadel-consent-url")
        .is_none()
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
    // A broken link to the page (no `scopes`) is the host's error page for
    // a browser loading it, and the JSON error for a script.
    let broken_link = client()
        .get(host.url("/consent?app=probe-b"))
        .header("cookie", &cookie)
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(broken_link.status(), 400);
    let policy = broken_link.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let html = broken_link.text().await.unwrap();
    assert!(html.contains("Đường dẫn không hợp lệ"), "{html}");
    assert!(html.contains("invalid_query"), "{html}");
    let from_a_script = client()
        .get(host.url("/consent?app=probe-b"))
        .header("cookie", &cookie)
        .header("sec-fetch-mode", "cors")
        .send()
        .await
        .unwrap();
    assert_eq!(from_a_script.status(), 400);
    assert_eq!(error_of(from_a_script).await.0, "invalid_query");

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

/// A page of an app opened outside the shell (a shared link) that needs
/// consent sends the browser to the host's consent page and back to the
/// page afterwards; a script's request still gets the 428 with the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_opened_outside_the_shell_goes_to_the_consent_page_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let token = sign_in(&host, "c-lan").await;
    let page = "/apps/public-services/procedures/dang-ky-khai-sinh/apply?from=link";
    let navigate = client()
        .get(host.url(page))
        .bearer_auth(&token)
        .header("accept", "text/html")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(navigate.status(), 303);
    let to = navigate.headers()["location"].to_str().unwrap().to_string();
    let query: std::collections::HashMap<String, String> = reqwest::Url::parse(&host.url(&to))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(to.starts_with("/consent?"), "{to}");
    assert_eq!(query["app"], "public-services");
    assert_eq!(
        query["scopes"],
        "identity.address,identity.birth-date,identity.name,identity.national-id"
    );
    assert_eq!(query["return"], page);
    // The consent page itself offers the way back to that page.
    let consent_page = client()
        .get(host.url(&to))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        consent_page.contains(
            r#"data-return="/apps/public-services/procedures/dang-ky-khai-sinh/apply?from=link""#
        ),
        "{consent_page}"
    );
    // It names the publisher as the city registered it, not by its id.
    assert!(
        consent_page.contains("UBND thành phố Huế"),
        "{consent_page}"
    );
    assert!(!consent_page.contains("(hue-city)"), "{consent_page}");

    let script = client()
        .get(host.url(page))
        .bearer_auth(&token)
        .header("sec-fetch-mode", "cors")
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 428);
    assert!(script.headers()["x-citadel-consent-url"]
        .to_str()
        .unwrap()
        .starts_with("/consent?app=public-services"));
    host.stop().await;
}
