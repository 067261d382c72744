//! The real `citadel` binary: `citadel serve` on an empty data dir installs
//! the samples and serves hello; SIGTERM stops it cleanly; a second start on
//! the same data dir serves the same apps.

use crate::common;

use std::process::{Child, Command};

struct Served {
    child: Child,
    address: String,
}

fn serve(data_dir: &std::path::Path) -> Served {
    let (child, address) = common::serve(data_dir, &[], &[]);
    Served { child, address }
}

fn terminate(mut served: Served) {
    let status = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = served.child.wait().expect("citadel exits");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}

#[tokio::test]
async fn citadel_serve_installs_the_samples_and_serves_hello() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let url = format!("http://{}/apps/hello/", served.address);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "Xin chào, Huế!");
    // The city's and the partners' apps come installed too, with their
    // grants, and the shell and the console are served.
    for path in [
        "/apps/maps/api/search?q=thien%20mu",
        "/apps/field-reports/api/categories",
        "/apps/public-services/api/procedures",
        "/apps/tourism/api/sites",
        "/apps/bills/api/bills?customer=PK0012345",
        "/",
        "/admin",
    ] {
        let response = reqwest::get(format!("http://{}{path}", served.address))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let notes = reqwest::Client::new()
        .post(format!("http://{}/apps/notes/api/notes", served.address))
        .json(&serde_json::json!({ "text": "Chợ Đông Ba" }))
        .send()
        .await
        .unwrap();
    assert_eq!(notes.status(), 201);
    terminate(served);

    let served = serve(dir.path());
    let list: serde_json::Value =
        reqwest::get(format!("http://{}/apps/notes/api/notes", served.address))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(list[0]["text"], "Chợ Đông Ba");
    terminate(served);
}

/// Without `--dev` the binary has no demo citizens and no demo wallet; with
/// `--metrics-token-file`, `/metrics` asks for that token or an operator's.
#[tokio::test]
async fn citadel_serve_without_dev_has_no_demo_citizens_or_wallet() {
    const OPERATOR: &str = "cit_op_serve_binary_token_0123456789";
    const SCRAPE: &str = "scrape-token-serve-binary-0123";
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics-token");
    std::fs::write(&token_file, format!("{SCRAPE}\n")).unwrap();
    let data = dir.path().join("data");
    let (child, address) = common::serve_production(
        &data,
        &["--metrics-token-file", token_file.to_str().unwrap()],
        &[("CITADEL_OPERATOR_TOKEN", OPERATOR)],
    );
    let served = Served { child, address };
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", served.address);

    let login = client
        .post(url("/api/v1/login"))
        .json(&serde_json::json!({ "citizen": "c-lan" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403, "no demo sign-in without --dev");
    let demo = client
        .get(url("/api/v1/login/citizens"))
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), 404);
    let top_up = client
        .post(url("/api/v1/operator/wallets/c-lan/top-up"))
        .bearer_auth(OPERATOR)
        .json(&serde_json::json!({ "amount": 100000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(top_up.status(), 403);
    let body: serde_json::Value = top_up.json().await.unwrap();
    assert_eq!(body["error"]["code"], "development_only");

    let metrics = |token: Option<&'static str>| {
        let mut request = client.get(url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(metrics(None).await.unwrap().status(), 401);
    assert_eq!(metrics(Some("not-the-token")).await.unwrap().status(), 401);
    assert_eq!(metrics(Some(SCRAPE)).await.unwrap().status(), 200);
    assert_eq!(metrics(Some(OPERATOR)).await.unwrap().status(), 200);
    terminate(served);
}

/// `citadel serve --oidc-*` (and their environment variables): the shell is
/// offered the provider's sign-in, the demo citizens are off even with
/// `--dev`, a provider that cannot be reached is a clear page, the client
/// secret never reaches the log; a redirect URL with the wrong path stops
/// the host before it starts. (The flow itself, against a real provider,
/// is `tests/tests/suite/oidc.rs`.)
#[tokio::test]
async fn citadel_serve_signs_citizens_in_with_the_configured_openid_provider() {
    const SECRET: &str = "oidc-client-secret-never-logged-0123";
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("oidc-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let secret_arg = secret_file.to_str().unwrap();
    // Port 9 (discard): nothing answers, the provider is down.
    let issuer = "http://127.0.0.1:9/realms/hue";
    let (child, address, lines) = common::serve_logged(
        &dir.path().join("data"),
        &[
            "--oidc-issuer",
            issuer,
            "--oidc-client-secret-file",
            secret_arg,
            "--oidc-redirect-url",
            "http://127.0.0.1:8080/auth/oidc/callback",
        ],
        &[
            ("CITADEL_OIDC_CLIENT_ID", "citadel"),
            ("CITADEL_OIDC_CLAIMS", "national_id=cccd"),
        ],
    );
    let served = Served { child, address };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |path: &str| format!("http://{}{path}", served.address);

    let session: serde_json::Value = client
        .get(url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["sign_in"]["kind"], "oidc", "{session}");
    assert_eq!(session["sign_in"]["url"], "/auth/oidc/login");
    let demo = client
        .post(url("/api/v1/login"))
        .json(&serde_json::json!({ "citizen": "c-lan" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        demo.status(),
        403,
        "no demo citizens beside a real provider"
    );

    let login = client.get(url("/auth/oidc/login")).send().await.unwrap();
    assert_eq!(login.status(), 503);
    let page = login.text().await.unwrap();
    assert!(page.contains("oidc_provider_unavailable"), "{page}");
    assert!(page.contains("Could not sign you in"), "{page}");

    terminate(served);
    let log: Vec<String> = lines.try_iter().collect();
    assert!(
        log.iter()
            .any(|l| l.contains("OpenID Connect sign-in refused")),
        "the operator reads why: {log:#?}"
    );
    assert!(
        log.iter().all(|l| !l.contains(SECRET)),
        "the secret is never logged"
    );

    // A callback the provider would never send to: refused at start.
    let refused = Command::new(env!("CARGO_BIN_EXE_citadel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("other"))
        .args(["--oidc-issuer", issuer, "--oidc-client-id", "citadel"])
        .args(["--oidc-client-secret-file", secret_arg])
        .args(["--oidc-redirect-url", "http://127.0.0.1:8080/callback"])
        .output()
        .expect("citadel runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("/auth/oidc/callback"), "{stderr}");
    assert!(!stderr.contains(SECRET));
}
