//! Outbound HTTP: only to granted origins, checked on every request and so
//! on every redirect hop; loopback, link-local, private and unspecified
//! addresses and the host's own listener are refused, also when an allowed
//! name resolves to them. A local server stands in for a partner's API,
//! reachable only through the explicit test-only loopback switch. Every
//! outbound request carries the incoming request's id, which the guest
//! cannot change.

use axum::http::HeaderMap;
use axum::response::Redirect;
use axum::routing::get;
use citadel_tests::{audit, audit_at_least, client, metrics, probe_manifest, TestHost};
use serde_json::Value;
use std::net::SocketAddr;

/// A partner API on loopback: `/hello`, `/request-id` (the `x-request-id`
/// values it received, comma-separated), and redirects to loopback and to
/// the cloud metadata address.
async fn upstream() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hello", get(|| async { "chào từ đối tác" }))
        .route(
            "/request-id",
            get(|headers: HeaderMap| async move {
                headers
                    .get_all("x-request-id")
                    .iter()
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        )
        .route(
            "/to-loopback",
            get(move || async move {
                Redirect::temporary(&format!("http://127.0.0.1:{}/hello", addr.port()))
            }),
        )
        .route(
            "/to-metadata",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
        )
        .route("/to-self", get(|| async { Redirect::temporary("/hello") }));
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, server)
}

async fn fetch(host: &TestHost, app: &str, url: &str) -> Value {
    let response = client()
        .get(host.url(&format!("/apps/{app}/fetch")))
        .query(&[("url", url)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

/// The probe app's component.
fn probe_component() -> Vec<u8> {
    std::fs::read(citadel_host::samples::built_component("probe")).unwrap()
}

/// The detail of the latest denial of outbound `capability` (`http:…`).
/// Denials are audited in the background: waits for one.
async fn last_denial(host: &TestHost, capability: &str) -> String {
    let records = audit_at_least(host, &format!("kind=denial&capability={capability}"), 1).await;
    records
        .last()
        .and_then(|r| r["detail"].as_str())
        .unwrap_or_else(|| panic!("no denial of {capability}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_granted_public_origins_are_reached() {
    let (upstream, server) = upstream().await;
    let port = upstream.port();
    let dir = tempfile::tempdir().unwrap();
    let host =
        TestHost::start_with(dir.path(), |config| config.allow_loopback_for_tests = true).await;
    let own = host.addr.port();
    let allowed = format!("http:http://localhost:{port}");
    let own_origin = format!("http:http://localhost:{own}");
    host.install_built(
        "probe",
        &probe_manifest("probe", &[&allowed, &own_origin], ""),
    )
    .await;

    let ok = fetch(&host, "probe", &format!("http://localhost:{port}/hello")).await;
    assert_eq!(ok["outcome"], "ok", "{ok}");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["body"], "chào từ đối tác");
    // A redirect inside the granted origin is followed.
    let ok = fetch(&host, "probe", &format!("http://localhost:{port}/to-self")).await;
    assert_eq!(
        (ok["outcome"].as_str(), ok["body"].as_str()),
        (Some("ok"), Some("chào từ đối tác"))
    );

    // An address cannot be granted at all — neither an IP literal nor a
    // numeric name the resolver reads as one: the manifest is refused.
    for origin in [
        format!("http:http://127.0.0.1:{port}"),
        format!("http:http://[::1]:{port}"),
        "http:http://169.254.169.254".to_string(),
        format!("http:http://0.0.0.0:{port}"),
        "http:http://0xa9fea9fe".to_string(),
    ] {
        let manifest = probe_manifest("probe-literal", &[&origin], "");
        assert!(
            host.citadel
                .registry
                .install("probe-literal.toml", &manifest, &probe_component())
                .await
                .is_err(),
            "{origin} cannot be granted"
        );
    }
    // So asking an address directly is refused as an origin never granted.
    for url in [
        format!("http://127.0.0.1:{port}/hello"),
        format!("http://[::1]:{port}/hello"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://0.0.0.0:{port}/hello"),
    ] {
        let refused = fetch(&host, "probe", &url).await;
        assert_eq!(refused["outcome"], "denied", "{url}: {refused}");
    }
    let detail = last_denial(&host, &format!("http:http://127.0.0.1:{port}")).await;
    assert!(detail.contains("not granted"), "{detail}");
    // A granted name is refused by the address check when it is the host's
    // own listener — loopback opened for tests notwithstanding.
    let url = format!("http://localhost:{own}/api/v1/me/consents");
    let refused = fetch(&host, "probe", &url).await;
    assert_eq!(refused["outcome"], "denied", "{url}: {refused}");
    let detail = last_denial(&host, &format!("http:http://localhost:{own}")).await;
    assert!(
        detail.contains("resolves to") && detail.contains("the host's own listener"),
        "{url} refused by the address check: {detail}"
    );
    for url in [
        format!("http://localhost:{port}/to-loopback"),
        format!("http://localhost:{port}/to-metadata"),
        // Another port or scheme of the granted host is another origin.
        format!("https://localhost:{port}/hello"),
        format!("http://localhost:{}/hello", port.wrapping_add(1).max(1)),
        "https://evil.example/".to_string(),
    ] {
        let refused = fetch(&host, "probe", &url).await;
        assert_eq!(refused["outcome"], "denied", "{url}: {refused}");
    }

    // Denials are audited with the origin asked for, and counted.
    let denials = audit(&host, "kind=denial&app=probe").await;
    let capabilities: Vec<&str> = denials
        .iter()
        .filter_map(|r| r["capability"].as_str())
        .collect();
    assert!(
        capabilities.contains(&format!("http:http://127.0.0.1:{port}").as_str()),
        "{capabilities:?}"
    );
    assert!(
        capabilities.contains(&"http:http://169.254.169.254:80"),
        "{capabilities:?}"
    );
    let details: Vec<&str> = denials
        .iter()
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert!(
        details.iter().any(|d| d.contains("own listener")),
        "{details:?}"
    );
    let metrics = metrics(&host).await;
    assert!(metrics.contains(r#"citadel_app_denials_total{app="probe",capability="http"}"#));

    // Revoking the grant holds from the next request.
    host.citadel
        .registry
        .set_grants("probe", None, vec!["kv".into()], "operator:test")
        .await
        .unwrap();
    let refused = fetch(&host, "probe", &format!("http://localhost:{port}/hello")).await;
    assert_eq!(refused["outcome"], "denied");
    host.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_name_that_resolves_to_loopback_is_refused() {
    let (upstream, server) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    // The production setting: no loopback switch.
    let host = TestHost::start(dir.path()).await;
    let port = upstream.port();
    let allowed = format!("http:http://localhost:{port}");
    host.install_built("probe", &probe_manifest("probe-prod", &[&allowed], ""))
        .await;
    // The origin is granted; what refuses it is the address check.
    let refused = fetch(
        &host,
        "probe-prod",
        &format!("http://localhost:{port}/hello"),
    )
    .await;
    assert_eq!(refused["outcome"], "denied", "{refused}");
    let detail = last_denial(&host, &allowed).await;
    assert!(
        detail.contains("resolves to") && detail.contains("loopback"),
        "refused by the address check: {detail}"
    );
    host.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_requests_carry_the_incoming_request_id() {
    let (upstream, server) = upstream().await;
    let port = upstream.port();
    let dir = tempfile::tempdir().unwrap();
    let host =
        TestHost::start_with(dir.path(), |config| config.allow_loopback_for_tests = true).await;
    let allowed = format!("http:http://localhost:{port}");
    host.install_built("probe", &probe_manifest("probe", &[&allowed], ""))
        .await;
    let url = format!("http://localhost:{port}/request-id");
    let mut seen = Vec::new();
    // Without a header from the guest, and with a forged one (which the
    // gateway's client also tries on the incoming request).
    for forged in [None, Some("forged-by-the-guest")] {
        let mut query = vec![("url", url.clone())];
        let mut request = client().get(host.url("/apps/probe/fetch"));
        if let Some(forged) = forged {
            query.push(("header", format!("X-Request-Id:{forged}")));
            request = request.header("x-request-id", forged);
        }
        let response = request.query(&query).send().await.unwrap();
        assert_eq!(response.status(), 200, "{forged:?}");
        let incoming = response
            .headers()
            .get("x-request-id")
            .and_then(|id| id.to_str().ok())
            .expect("the gateway names the request's id")
            .to_string();
        let fetched: Value = response.json().await.unwrap();
        assert_eq!(fetched["outcome"], "ok", "{fetched}");
        assert_eq!(
            fetched["body"].as_str(),
            Some(incoming.as_str()),
            "the partner sees the incoming request's id, once, whatever the guest set ({forged:?})"
        );
        assert_ne!(Some(incoming.as_str()), forged);
        seen.push(incoming);
    }
    assert_ne!(seen[0], seen[1], "each request has its own id");
    host.stop().await;
    server.abort();
}
