//! The harness the end-to-end tests share: a real host (store, runtime,
//! registry, gateway) on `127.0.0.1:0` over a temporary data dir, stopped by
//! the test itself, plus the test-only mini-apps.

use citadel_host::{gateway, Citadel, HostConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod oidc;

/// The operator token every test host accepts.
pub const OPERATOR_TOKEN: &str = "cit_op_test_token_0123456789abcdef";

/// A host serving on loopback.
pub struct TestHost {
    pub addr: SocketAddr,
    pub citadel: Arc<Citadel>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl TestHost {
    /// Open `data_dir` (installing the samples if it is empty) and serve it.
    pub async fn start(data_dir: &Path) -> TestHost {
        Self::start_with(data_dir, |_| {}).await
    }

    /// As `start`, with the configuration changed by `configure` first
    /// (e.g. `allow_loopback_for_tests`).
    pub async fn start_with(data_dir: &Path, configure: impl FnOnce(&mut HostConfig)) -> TestHost {
        Self::start_at(data_dir, |config, _| configure(config)).await
    }

    /// As `start_with`, with the address the host will serve on known to
    /// `configure` (the listener is bound first), e.g. for a redirect URL.
    pub async fn start_at(
        data_dir: &Path,
        configure: impl FnOnce(&mut HostConfig, SocketAddr),
    ) -> TestHost {
        let listener =
            citadel_host::gateway::bind(([127, 0, 0, 1], 0).into()).expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let mut config = HostConfig {
            max_instances: 50,
            operator_token: Some(OPERATOR_TOKEN.to_string()),
            // Demo citizens sign in and the demo wallet pays; a test of the
            // production setting switches it off in `configure`.
            development: true,
            ..HostConfig::new(data_dir)
        };
        configure(&mut config, addr);
        let citadel = Citadel::open(&config).await.expect("host opens");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(gateway::serve(citadel.clone(), listener, async {
            let _ = stopped.await;
        }));
        TestHost {
            addr,
            citadel,
            stop,
            server,
        }
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Install a test-only mini-app built with the samples (e.g. `hostile`)
    /// under `manifest`, whose `component` must be `{name}.wasm`, and grant
    /// it what it requests.
    pub async fn install_built(&self, name: &str, manifest: &str) {
        let app = self.install_ungranted(name, manifest).await;
        self.citadel
            .registry
            .set_grants(
                &app,
                None,
                self.citadel
                    .registry
                    .live(&app)
                    .unwrap()
                    .context
                    .requested
                    .clone(),
                "operator:test",
            )
            .await
            .expect("grant succeeds");
    }

    /// Install as `install_built` does, granting nothing; returns the app id.
    pub async fn install_ungranted(&self, name: &str, manifest: &str) -> String {
        let bytes = std::fs::read(citadel_host::samples::built_component(name))
            .expect("the mini-apps build produced the component");
        let app = self
            .citadel
            .registry
            .install(&format!("{name}.toml"), manifest, &bytes)
            .await
            .expect("install succeeds");
        app.context.id.clone()
    }

    /// Stop serving, wait for the server and every instance, and release
    /// the data dir so another host can open it.
    pub async fn stop(self) {
        let TestHost {
            citadel,
            stop,
            server,
            ..
        } = self;
        let _ = stop.send(());
        server.await.expect("server task").expect("server ran");
        // axum's connection tasks drop their router a moment after the server
        // future returns; wait for them (bounded) before reopening the dir.
        for _ in 0..500 {
            if Arc::strong_count(&citadel) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(
            Arc::strong_count(&citadel),
            1,
            "after a graceful stop nothing else holds the host"
        );
    }
}

/// A manifest for a test-only app, with extra lines (limits, capabilities).
pub fn test_manifest(id: &str, component: &str, capabilities: &str, limits: &str) -> String {
    format!(
        r#"id = "{id}"
version = "1.0.0"
publisher = "citadel-tests"
contract = "^1.0"
component = "{component}.wasm"
category = "utilities"
capabilities = {capabilities}
[name]
vi = "Thử nghiệm"
en = "Test"
[description]
vi = "Ứng dụng thử nghiệm"
en = "A test app"
[limits]
{limits}
"#
    )
}

/// `manifest` (as [`test_manifest`] writes it) at `version` instead of 1.0.0.
pub fn at_version(manifest: &str, version: &str) -> String {
    manifest.replace("version = \"1.0.0\"", &format!("version = \"{version}\""))
}

/// The manifest of the `probe` test app under `id`: it requests kv, notify,
/// every personal scope (with purposes), staff roles and `extra` capabilities (e.g. an
/// `http:` origin, as a TOML string list item: `"http:http://localhost:8000"`).
pub fn probe_manifest(id: &str, extra: &[&str], limits: &str) -> String {
    let mut capabilities = vec![
        "kv".to_string(),
        "notify".to_string(),
        "payments".to_string(),
        "payments.refund".to_string(),
        "http:https://api.example.vn".to_string(),
    ];
    capabilities.extend(PERSONAL_SCOPES.iter().map(|s| s.to_string()));
    capabilities.push(ROLES_SCOPE.to_string());
    capabilities.extend(extra.iter().map(|s| s.to_string()));
    let list = capabilities
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let purposes: String = PERSONAL_SCOPES
        .iter()
        .map(|scope| {
            format!(
                "[purposes.\"{scope}\"]\nvi = \"Để thử nghiệm {scope}\"\nen = \"To test {scope}\"\n"
            )
        })
        .collect();
    format!(
        r#"id = "{id}"
version = "1.0.0"
publisher = "citadel-tests"
contract = "^1.2"
component = "probe.wasm"
category = "utilities"
payment_hook = "/payments/hook"
capabilities = [{list}]
[name]
vi = "Thăm dò"
en = "Probe"
[description]
vi = "Ứng dụng thử nghiệm các lời gọi máy chủ"
en = "A test app calling every host call"
{purposes}[limits]
{limits}
"#
    )
}

/// Every personal scope (each needs consent), as capability names.
pub const PERSONAL_SCOPES: [&str; 5] = [
    "identity.name",
    "identity.phone",
    "identity.national-id",
    "identity.address",
    "identity.birth-date",
];

/// Staff roles: an `identity` scope the city's grant alone gives (no consent).
pub const ROLES_SCOPE: &str = "identity.roles";

/// Sign `citizen` in with the development provider; returns the session token.
pub async fn sign_in(host: &TestHost, citizen: &str) -> String {
    let response = client()
        .post(host.url("/api/v1/login"))
        .json(&serde_json::json!({ "citizen": citizen }))
        .send()
        .await
        .expect("login answers");
    assert_eq!(response.status(), 200, "{citizen} signs in");
    let body: serde_json::Value = response.json().await.expect("a JSON session");
    body["token"].as_str().expect("a token").to_string()
}

/// The shell opens `app` for the citizen of `session`: the frame's URL
/// (`/f/{token}/apps/{app}/`).
pub async fn open_frame(host: &TestHost, session: &str, app: &str) -> String {
    let response = client()
        .post(host.url("/api/v1/me/frames"))
        .bearer_auth(session)
        .json(&serde_json::json!({ "app": app }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the frame for {app} opens");
    let body: serde_json::Value = response.json().await.unwrap();
    let url = body["url"].as_str().expect("a frame URL").to_string();
    assert!(url.starts_with("/f/cit_f_") && url.ends_with(&format!("/apps/{app}/")));
    url
}

/// The citizen (by session token) decides on a payment intent in the
/// host's own API: `action` is `confirm` (with the demo wallet) or `cancel`.
/// `intent` is its id or its confirm URL (`/pay/{id}`).
pub async fn decide_payment(
    host: &TestHost,
    token: &str,
    intent: &str,
    action: &str,
) -> reqwest::Response {
    let id = intent.trim_start_matches("/pay/");
    client()
        .post(host.url(&format!("/api/v1/me/payments/{id}/{action}")))
        .bearer_auth(token)
        .json(&serde_json::json!({ "method": "demo-wallet" }))
        .send()
        .await
        .expect("the payments API answers")
}

/// `citizen` (by session token) consents to `scopes` for `app`; the host's answer.
pub async fn give_consent(
    host: &TestHost,
    token: &str,
    app: &str,
    scopes: &[&str],
) -> reqwest::Response {
    client()
        .post(host.url("/api/v1/me/consents"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "app": app, "scopes": scopes }))
        .send()
        .await
        .expect("the consent API answers")
}

/// A `multipart/form-data` body of text `fields` and `files` (field name,
/// file name, bytes): the content type to send and the body.
pub fn multipart_body(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "citadel-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    for (name, filename, data) in files {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// GET `path`, with `token` as a bearer credential if any.
pub async fn get(host: &TestHost, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client().get(host.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the host answers")
}

/// GET `path` (with `token` as a bearer credential, if any) and parse the
/// JSON answer.
/// The ids of the apps on a page of `/api/v1/apps` or of the overview.
pub fn app_ids(page: &serde_json::Value) -> Vec<String> {
    page["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|app| app["id"].as_str().expect("an id").to_string())
        .collect()
}

pub async fn get_json(host: &TestHost, path: &str, token: Option<&str>) -> serde_json::Value {
    get(host, path, token)
        .await
        .json()
        .await
        .expect("a JSON answer")
}

/// The audit records matching `query` (e.g. `kind=denial&app=notes`).
pub async fn audit(host: &TestHost, query: &str) -> Vec<serde_json::Value> {
    let page = get_json(
        host,
        &format!("/api/v1/operator/audit?{query}"),
        Some(OPERATOR_TOKEN),
    )
    .await;
    page["records"].as_array().expect("records").clone()
}

/// The audit records matching `query` once there are at least `count` of
/// them: denials are audited in the background and may land just after the
/// answer, so this waits up to 5 s (then returns what there is).
pub async fn audit_at_least(host: &TestHost, query: &str, count: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let records = audit(host, query).await;
        if records.len() >= count {
            return records;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    audit(host, query).await
}

/// The text of `/metrics` (asked with the operator token, which `/metrics`
/// accepts whether or not the host requires a token).
pub async fn metrics(host: &TestHost) -> String {
    client()
        .get(host.url("/metrics"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("the host answers")
        .text()
        .await
        .expect("metrics text")
}

/// Replace `app`'s grants as the operator.
pub async fn put_grants(
    host: &TestHost,
    app: &str,
    capabilities: serde_json::Value,
) -> reqwest::Response {
    client()
        .put(host.url(&format!("/api/v1/operator/apps/{app}/grants")))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&serde_json::json!({ "capabilities": capabilities }))
        .send()
        .await
        .expect("the host answers")
}

/// A publisher registered by the operator: its API key and the secret
/// (hex) of its package-signing key.
pub struct TestPublisher {
    pub id: String,
    pub api_key: String,
    pub signing_secret: String,
}

/// Register publisher `id` with a fresh signing key.
pub async fn register_publisher(host: &TestHost, id: &str) -> TestPublisher {
    let (secret, public) = citadel_host::registry::package::generate_key();
    let response = client()
        .post(host.url("/api/v1/operator/publishers"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&serde_json::json!({
            "id": id,
            "name": format!("Công ty {id}"),
            "contact": "lienhe@example.vn",
            "signing_keys": [public],
        }))
        .send()
        .await
        .expect("the host answers");
    assert_eq!(response.status(), 201, "publisher {id} registers");
    let body: serde_json::Value = response.json().await.expect("JSON");
    TestPublisher {
        id: id.to_string(),
        api_key: body["api_key"].as_str().expect("an API key").to_string(),
        signing_secret: secret,
    }
}

/// Give publisher `id`, already registered (a sample's publisher, which
/// the host registers by name only), a fresh signing key and an API key.
pub async fn equip_publisher(host: &TestHost, id: &str) -> TestPublisher {
    let (secret, public) = citadel_host::registry::package::generate_key();
    let added = client()
        .post(host.url(&format!("/api/v1/operator/publishers/{id}/signing-keys")))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&serde_json::json!({ "public_key": public }))
        .send()
        .await
        .expect("the host answers");
    assert_eq!(added.status(), 201, "publisher {id} gets a signing key");
    let issued = client()
        .post(host.url(&format!("/api/v1/operator/publishers/{id}/keys")))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("the host answers");
    assert_eq!(issued.status(), 201, "publisher {id} gets an API key");
    let body: serde_json::Value = issued.json().await.expect("JSON");
    TestPublisher {
        id: id.to_string(),
        api_key: body["api_key"].as_str().expect("an API key").to_string(),
        signing_secret: secret,
    }
}

/// A package of `manifest` with the built component `name`, signed by `publisher`.
pub fn package(publisher: &TestPublisher, manifest: &str, name: &str) -> Vec<u8> {
    let component = std::fs::read(citadel_host::samples::built_component(name))
        .expect("the mini-apps build produced the component");
    package_bytes(publisher, manifest, &format!("{name}.wasm"), &component)
}

/// A package of `manifest` with `component` at `path`, signed by `publisher`.
pub fn package_bytes(
    publisher: &TestPublisher,
    manifest: &str,
    path: &str,
    component: &[u8],
) -> Vec<u8> {
    let key = citadel_host::registry::package::signing_key(&publisher.signing_secret)
        .expect("a valid key");
    citadel_host::registry::package::build(manifest, path, component, &key).expect("package builds")
}

/// Upload a package as `publisher`.
pub async fn upload(
    host: &TestHost,
    publisher: &TestPublisher,
    package: Vec<u8>,
) -> reqwest::Response {
    client()
        .post(host.url("/api/v1/publisher/packages"))
        .bearer_auth(&publisher.api_key)
        .header("content-type", "application/octet-stream")
        .body(package)
        .send()
        .await
        .expect("the host answers")
}

/// POST `body` to an operator route.
pub async fn operator_post(
    host: &TestHost,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    client()
        .post(host.url(path))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("the host answers")
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The status and the JSON error code of an answer (`""` if it has none).
pub async fn status_and_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or_default();
    (status, code.to_string())
}

/// The error body of a JSON error answer: (code, request_id).
pub async fn error_of(response: reqwest::Response) -> (String, String) {
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_string();
    let request_id = body["error"]["request_id"]
        .as_str()
        .expect("error.request_id")
        .to_string();
    assert_eq!(
        request_id, header_id,
        "the body quotes the request id of the header"
    );
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    (code, request_id)
}

/// Bytes of every file under `dir` (a data dir's size on disk).
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => total += dir_bytes(&entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// What a built sample component imports and exports at its top level.
pub struct TopLevelNames {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// The interfaces the built sample `component` imports and exports.
pub fn top_level_names(component: &str) -> TopLevelNames {
    let bytes = std::fs::read(citadel_host::samples::built_component(component)).unwrap();
    let mut depth = 0;
    let mut names = TopLevelNames {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload.unwrap() {
            wasmparser::Payload::Version { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentImportSection(imports) if depth == 1 => {
                names.imports.extend(
                    imports
                        .into_iter()
                        .map(|import| import.unwrap().name.name.to_string()),
                )
            }
            wasmparser::Payload::ComponentExportSection(exports) if depth == 1 => {
                names.exports.extend(
                    exports
                        .into_iter()
                        .map(|export| export.unwrap().name.name.to_string()),
                )
            }
            _ => {}
        }
    }
    names
}
