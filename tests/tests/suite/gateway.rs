//! The gateway over real HTTP: dispatch to apps, JSON errors with request
//! ids, body limits, what crosses the sandbox boundary in headers, and who
//! may read `/metrics`.

use citadel_tests::{
    client, error_of, get, open_frame, operator_post, sign_in, test_manifest, TestHost,
    OPERATOR_TOKEN,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_greets_in_vietnamese() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let response = client().get(host.url("/apps/hello/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.text().await.unwrap(), "Xin chào, Huế!");

    let response = client().get(host.url("/apps/hello")).send().await.unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(response.headers()["location"], "/apps/hello/");

    let health = client().get(host.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_apps_paths_and_routes_are_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let response = client().get(host.url("/apps/nope/")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(error_of(response).await.0, "app_not_found");

    let response = client().get(host.url("/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(error_of(response).await.0, "not_found");

    // The app's own 404 comes from the SDK router, also as JSON.
    let response = client()
        .get(host.url("/apps/hello/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    host.stop().await;
}

/// A browser's page load (`Sec-Fetch-Mode: navigate`) of `path`, as
/// `session` if any: the status, the headers and the page.
async fn load_page(
    host: &TestHost,
    path: &str,
    session: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = client()
        .get(host.url(path))
        .header("sec-fetch-mode", "navigate")
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
    if let Some(session) = session {
        request = request.bearer_auth(session);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_the_host_refuses_a_page_reads_why_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;

    // A link to an app that is gone: a page, not JSON, with a way home.
    let (status, headers, page) = load_page(&host, "/apps/nope/", None).await;
    assert_eq!(status, 404);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let request_id = headers["x-request-id"].to_str().unwrap();
    assert!(page.contains("<html lang=\"vi\">"), "{page}");
    assert!(page.contains("Không tìm thấy ứng dụng"), "{page}");
    assert!(page.contains("App not found"), "{page}");
    assert!(
        page.contains("app_not_found") && page.contains(request_id),
        "{page}"
    );
    assert!(
        page.contains("href=\"/\""),
        "a way back to the start: {page}"
    );

    // The same address fetched by a script: JSON, with the same
    // explanation for the shell to show in the citizen's language.
    let response = client()
        .get(host.url("/apps/nope/"))
        .header("sec-fetch-mode", "cors")
        .header("accept", "text/html,*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "app_not_found");
    assert_eq!(
        body["error"]["explanation"]["title"]["vi"],
        "Không tìm thấy ứng dụng"
    );
    assert_eq!(body["error"]["explanation"]["title"]["en"], "App not found");

    // An app the city suspends while a citizen has it open in the shell:
    // the frame shows the city's reason as written (escaped), may be framed
    // by the shell, and offers no link away inside the frame.
    let session = sign_in(&host, "c-lan").await;
    let frame = open_frame(&host, &session, "hello").await;
    let reason = "bảo trì <b>hệ thống</b>";
    let response = operator_post(
        &host,
        "/api/v1/operator/apps/hello/suspend",
        serde_json::json!({ "reason": reason }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let (status, headers, page) = load_page(&host, &frame, None).await;
    assert_eq!(status, 503);
    assert!(
        page.contains("Ứng dụng tạm ngừng") && page.contains("App suspended"),
        "{page}"
    );
    assert!(
        page.contains("bảo trì &lt;b&gt;hệ thống&lt;/b&gt;"),
        "{page}"
    );
    assert!(!page.contains("<b>"), "{page}");
    assert!(
        !page.contains("href="),
        "no way out of the shell's frame: {page}"
    );
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'self'"), "{policy}");
    assert!(!headers.contains_key("x-frame-options"));
    // Outside the shell the same app answers a page with a way home.
    let (status, headers, page) = load_page(&host, "/apps/hello/", None).await;
    assert_eq!(status, 503);
    assert!(
        page.contains("Ứng dụng tạm ngừng") && page.contains("href=\"/\""),
        "{page}"
    );
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let response = operator_post(
        &host,
        "/api/v1/operator/apps/hello/resume",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(response.status(), 200);

    // The host's own pages: a payment that does not exist, and one asked
    // for without a session (a way to sign in).
    let (status, _, page) = load_page(&host, "/pay/pi_nope", Some(&session)).await;
    assert_eq!(status, 404);
    assert!(
        page.contains("Không tìm thấy giao dịch") && page.contains("Payment not found"),
        "{page}"
    );
    let (status, _, page) =
        load_page(&host, "/consent?app=nope&scopes=location", Some(&session)).await;
    assert_eq!(status, 404);
    assert!(page.contains("Không tìm thấy ứng dụng"), "{page}");
    let (status, headers, page) = load_page(&host, "/pay/pi_nope", None).await;
    assert_eq!(status, 401);
    assert!(
        page.contains("Bạn chưa đăng nhập") && page.contains("href=\"/#/signin\""),
        "{page}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_413_whether_announced_or_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built(
        "hostile",
        &test_manifest("hostile", "hostile", "[]", "max_request_body_kib = 4"),
    )
    .await;
    let fits = client()
        .post(host.url("/apps/hostile/echo"))
        .body(vec![b'a'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(fits.status(), 200);
    let echoed: serde_json::Value = fits.json().await.unwrap();
    assert_eq!(echoed["body_len"], 4096);

    // Announced by Content-Length: refused before the app runs.
    let response = client()
        .post(host.url("/apps/hostile/echo"))
        .body(vec![b'a'; 4097])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(error_of(response).await.0, "body_too_large");

    // Streamed (chunked, no length): cut off once past the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b'b'; 1024])).collect();
    let response = client()
        .post(host.url("/apps/hostile/echo"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(error_of(response).await.0, "body_too_large");

    // Notes keeps the default limit of 1 MiB. The host answers 413 before
    // reading the body and closes the connection, so the client may see the
    // reset before the answer while still sending; it then tries again.
    let mut status = None;
    for _ in 0..5 {
        if let Ok(response) = client()
            .post(host.url("/apps/notes/api/notes"))
            .body(vec![b'{'; 2 << 20])
            .send()
            .await
        {
            status = Some(response.status());
            break;
        }
    }
    assert_eq!(status, Some(reqwest::StatusCode::PAYLOAD_TOO_LARGE));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built(
        "hostile",
        &test_manifest("hostile", "hostile", "[]", "max_response_body_kib = 64"),
    )
    .await;
    let ok = client()
        .get(host.url("/apps/hostile/big?kib=64"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap().len(), 64 * 1024);
    let response = client()
        .get(host.url("/apps/hostile/big?kib=65"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(error_of(response).await.0, "response_too_large");
    host.stop().await;
}

/// An SDK app is served through the contract's one-call `handler`: it sees
/// the method, path, query, repeated headers and body as sent, and its
/// answer to HEAD keeps its headers but sends no body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_served_in_one_call_sees_the_request_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("hostile", &test_manifest("hostile", "hostile", "[]", ""))
        .await;
    let echoed: serde_json::Value = client()
        .post(host.url("/apps/hostile/echo?a=1&b=x%20y"))
        .header("x-twice", "one")
        .header("x-twice", "two")
        .body(vec![7u8; 300])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/echo");
    assert_eq!(echoed["query"], "a=1&b=x%20y");
    assert_eq!(echoed["body_len"], 300);
    let twice: Vec<&str> = echoed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == "x-twice")
        .filter_map(|pair| pair[1].as_str())
        .collect();
    assert_eq!(twice, ["one", "two"]);

    let get = client()
        .get(host.url("/apps/hostile/big?kib=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.headers()["content-length"], "3072");
    assert_eq!(get.bytes().await.unwrap().len(), 3072);
    let head = client()
        .head(host.url("/apps/hostile/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "application/json");
    assert!(head.bytes().await.unwrap().is_empty());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_sees_no_credentials_and_cannot_be_handed_forged_host_headers() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("hostile", &test_manifest("hostile", "hostile", "[]", ""))
        .await;
    let response = client()
        .get(host.url("/apps/hostile/echo?x=1"))
        .header("authorization", "Bearer citizen-secret")
        .header("cookie", "citadel_session=citizen-secret")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("x-citadel-request-id", "forged")
        .header("x-citadel-citizen", "forged")
        .header("accept-language", "vi")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let echoed: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echoed["path"], "/echo");
    assert_eq!(echoed["query"], "x=1");
    let headers: Vec<(String, String)> = serde_json::from_value(echoed["headers"].clone()).unwrap();
    let text = format!("{headers:?}");
    assert!(
        !text.contains("citizen-secret"),
        "a credential reached the guest: {text}"
    );
    assert!(
        !text.contains("c2VjcmV0"),
        "a credential reached the guest: {text}"
    );
    assert!(
        !text.contains("forged"),
        "a forged host header reached the guest: {text}"
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-citadel-request-id"), Some(request_id));
    assert_eq!(
        header("x-citadel-base-path").as_deref(),
        Some("/apps/hostile")
    );
    assert_eq!(header("accept-language").as_deref(), Some("vi"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_has_no_files_network_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("hostile", &test_manifest("hostile", "hostile", "[]", ""))
        .await;
    // The guest tries the host's own port: something listens there (this
    // test reaches it), so a failed connect is the sandbox refusing sockets.
    let port = host.addr.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let response = client()
        .get(host.url(&format!("/apps/hostile/sandbox?port={port}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        seen,
        serde_json::json!({
            "env": 0,
            "args": 0,
            "root_dir_readable": false,
            "etc_passwd_readable": false,
            "tcp_connect": false,
            "udp_bind": false,
        })
    );
    host.stop().await;
}

const SCRAPE_TOKEN: &str = "prometheus-scrape-token-0123456789";

async fn metrics_status(host: &TestHost, token: Option<&str>) -> (u16, String) {
    let mut request = client().get(host.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        let body = response.text().await.unwrap();
        assert!(body.contains("citadel_app_requests_total"), "{body}");
        return (status, String::new());
    }
    (status, error_of(response).await.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_ask_for_the_scrape_token_when_the_host_has_one() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(dir.path(), |config| {
        config.metrics_token = Some(SCRAPE_TOKEN.into());
    })
    .await;
    client().get(host.url("/apps/hello/")).send().await.unwrap();
    let citizen = sign_in(&host, "c-lan").await;
    assert_eq!(metrics_status(&host, Some(SCRAPE_TOKEN)).await.0, 200);
    assert_eq!(metrics_status(&host, Some(OPERATOR_TOKEN)).await.0, 200);
    assert_eq!(
        metrics_status(&host, None).await,
        (401, "unauthenticated".into())
    );
    assert_eq!(
        metrics_status(&host, Some("prometheus-scrape-token-012345678X")).await,
        (401, "invalid_credentials".into())
    );
    assert_eq!(
        metrics_status(&host, Some(&citizen)).await,
        (403, "wrong_role".into())
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_stay_open_without_a_scrape_token() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    client().get(host.url("/apps/hello/")).send().await.unwrap();
    assert_eq!(metrics_status(&host, None).await.0, 200);
    assert_eq!(metrics_status(&host, Some("anything")).await.0, 200);
    host.stop().await;
}

/// A made-up app name leaves no record behind: each would cost a disk sync
/// and stay for ever, so a signed-in client looping over random names could
/// fill the disk. Only an app that serves the citizen remembers them.
#[tokio::test]
async fn a_signed_in_request_to_an_unknown_app_remembers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let token = sign_in(&host, "c-lan").await;
    let remembered = |app: String| {
        let citadel = host.citadel.clone();
        async move {
            let pairwise = citadel.pairwise.pairwise_id(&app, "c-lan");
            citadel
                .store
                .identity
                .pairwise_citizen(&app, &pairwise)
                .await
                .unwrap()
        }
    };
    for app in ["nope".to_string(), "x".repeat(2000)] {
        let response = get(&host, &format!("/apps/{app}/"), Some(&token)).await;
        assert_eq!(response.status(), 404);
        assert_eq!(error_of(response).await.0, "app_not_found");
        assert_eq!(remembered(app).await, None);
    }
    let response = get(&host, "/apps/hello/", Some(&token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(remembered("hello".into()).await.as_deref(), Some("c-lan"));
    host.stop().await;
}

/// Every app shares the host's origin: an app's answer may describe, cache or
/// redirect itself, never set a cookie or a policy the browser applies to
/// the whole origin (reports of other apps' frame URLs to the app's own
/// collector, a wiped session, a pinned protocol, a sign-in prompt).
#[tokio::test]
async fn an_app_cannot_send_headers_that_reach_the_whole_origin() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("hostile", &test_manifest("hostile", "hostile", "[]", ""))
        .await;
    let response = get(&host, "/apps/hostile/policy-headers", None).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    for refused in [
        "set-cookie",
        "strict-transport-security",
        "clear-site-data",
        "nel",
        "report-to",
        "reporting-endpoints",
        "alt-svc",
        "service-worker-allowed",
        "accept-ch",
        "www-authenticate",
        "refresh",
        "link",
        "x-citadel-consent-url",
    ] {
        assert!(
            !headers.contains_key(refused),
            "{refused} reached the citizen: {headers:?}"
        );
    }
    // The host's own values, not the app's.
    assert_ne!(headers["content-security-policy"], "default-src *");
    assert_eq!(headers["x-citadel-app-version"], "1.0.0");
    // What describes the answer arrives.
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["content-language"], "vi");
    assert_eq!(headers["x-hostile-note"], "kept");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "headers");
    host.stop().await;
}

/// What a credential unlocks is stored by no cache: the citizen API says
/// `no-store`, and an app's answer to a signed-in citizen is `private`
/// whatever the app said (a shared cache would hand it to the next citizen).
#[tokio::test]
async fn personal_answers_are_kept_out_of_shared_caches() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let token = sign_in(&host, "c-lan").await;
    let cache_control = |response: &reqwest::Response| {
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string())
    };
    for path in ["/api/v1/me", "/api/v1/session", "/api/v1/me/payments"] {
        let response = get(&host, path, Some(&token)).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            cache_control(&response).as_deref(),
            Some("no-store"),
            "{path}"
        );
    }
    let operator = get(&host, "/api/v1/operator/overview", Some(OPERATOR_TOKEN)).await;
    assert_eq!(cache_control(&operator).as_deref(), Some("no-store"));
    // The public catalogue, asked anonymously, may be kept (the shell's
    // service worker keeps it for offline use); asked with a session, not.
    let catalogue = get(&host, "/api/v1/apps", None).await;
    assert_eq!(catalogue.status(), 200);
    assert_eq!(cache_control(&catalogue), None);
    let catalogue = get(&host, "/api/v1/apps", Some(&token)).await;
    assert_eq!(cache_control(&catalogue).as_deref(), Some("no-store"));

    // hello says nothing of caching: anonymous, it stays unsaid; signed in,
    // the answer is the citizen's own.
    let anonymous = get(&host, "/apps/hello/", None).await;
    assert_eq!(cache_control(&anonymous), None);
    let signed_in = get(&host, "/apps/hello/", Some(&token)).await;
    assert_eq!(cache_control(&signed_in).as_deref(), Some("private"));
    host.stop().await;
}
