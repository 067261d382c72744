//! What the tests of the real binary share: start `citadel serve` on port 0
//! and learn its address from its log (text or JSON lines).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `citadel serve --dev` (demo citizens and wallet, as the tests use them)
/// on `127.0.0.1:0` over `data_dir` with `extra` arguments and environment;
/// returns the process and the address it serves on.
#[allow(dead_code)]
pub fn serve(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let (child, address, _) = serve_logged(data_dir, extra, env);
    (child, address)
}

/// As `serve`, and every line the host writes to stdout, from the first,
/// in order; the channel closes when the process's stdout does.
#[allow(dead_code)]
pub fn serve_logged(
    data_dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, mpsc::Receiver<String>) {
    let mut args = vec!["--dev"];
    args.extend_from_slice(extra);
    spawn(data_dir, "127.0.0.1:0", &args, env)
}

/// `citadel serve` as `serve`, without `--dev`: the production setting.
#[allow(dead_code)]
pub fn serve_production(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    serve_as(data_dir, "127.0.0.1:0", extra, env)
}

fn serve_as(
    data_dir: &Path,
    listen: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String) {
    let (child, address, _) = spawn(data_dir, listen, extra, env);
    (child, address)
}

/// Start `citadel serve`; the process, its address, and its stdout's lines
/// (read to the end whether or not anyone receives them, so the host never
/// blocks on a full pipe).
fn spawn(
    data_dir: &Path,
    listen: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_citadel"))
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("citadel starts");
    let stdout = child.stdout.take().expect("stdout");
    let (found, address) = mpsc::channel();
    let (forward, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = served_address(&line) {
                let _ = found.send(address);
            }
            let _ = forward.send(line);
        }
    });
    let address = address
        .recv_timeout(Duration::from_secs(120))
        .expect("citadel logs the address it serves on");
    (child, address, lines)
}

/// The address in a log line of the host's, if it names one: `address=…`
/// in a text line, `"address":"…"` in a JSON one.
fn served_address(line: &str) -> Option<String> {
    if line.starts_with('{') {
        let record: serde_json::Value = serde_json::from_str(line).ok()?;
        return record["address"].as_str().map(str::to_string);
    }
    let rest = line.split("address=").nth(1)?;
    Some(rest.split_whitespace().next().unwrap_or("").to_string())
}

/// The probe mini-app's manifest for `publisher` (`id = "probe"`,
/// version 1.0.0), requesting every interface the probe imports; a test
/// grants what it needs when it publishes.
#[allow(dead_code)]
pub fn probe_manifest(publisher: &str) -> String {
    format!(
        r#"id = "probe"
version = "1.0.0"
publisher = "{publisher}"
contract = "^1.2"
component = "probe.wasm"
category = "utilities"
capabilities = ["kv", "notify", "payments", "payments.refund", "http:https://api.example.vn"]
[name]
vi = "Thử"
en = "Probe"
[description]
vi = "Ứng dụng thử của {publisher}"
en = "The probe of {publisher}"
"#
    )
}

/// Sign `citizen` in through `url` as the development provider allows;
/// the session token.
#[allow(dead_code)]
pub async fn sign_in(url: &str, citizen: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/login"))
        .json(&serde_json::json!({ "citizen": citizen }))
        .send()
        .await
        .expect("the host answers");
    assert_eq!(response.status(), 200, "sign-in of {citizen}");
    let login: serde_json::Value = response.json().await.expect("a JSON answer");
    login["token"].as_str().expect("a session").to_string()
}

/// Send `request`: its status and JSON body (`null` when it has none).
#[allow(dead_code)]
pub async fn status_and_json(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let response = request.send().await.expect("the host answers");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// A publisher registered through the real API: its API key and the
/// secret of its package-signing key.
#[allow(dead_code)]
pub struct Publisher {
    pub api_key: String,
    pub signing_secret: String,
}

/// Publish the probe (`probe_manifest(publisher)`) as `publisher`, approved
/// with `grants`: see [`publish`].
#[allow(dead_code)]
pub async fn publish_probe(
    url: &str,
    operator_token: &str,
    publisher: &str,
    grants: &[&str],
) -> Publisher {
    publish(
        url,
        operator_token,
        publisher,
        &probe_manifest(publisher),
        "probe",
        grants,
    )
    .await
}

/// Publish a built mini-app through the real API, as an operator and a
/// publisher would: register publisher `publisher` (a fresh signing key),
/// upload `manifest` with the component `component` (a name under the
/// built mini-apps, e.g. "probe"), approve the version with `grants` and
/// roll it out to everyone. `manifest` names `<component>.wasm` and
/// `publisher`; its id and version are read from it.
#[allow(dead_code)]
pub async fn publish(
    url: &str,
    operator_token: &str,
    publisher: &str,
    manifest: &str,
    component: &str,
    grants: &[&str],
) -> Publisher {
    use citadel_host::registry::package;
    use serde_json::json;
    let (signing_secret, public) = package::generate_key();
    let registered = ok(reqwest::Client::new()
        .post(format!("{url}/api/v1/operator/publishers"))
        .bearer_auth(operator_token)
        .json(&json!({ "id": publisher, "name": publisher, "signing_keys": [public] })))
    .await;
    let publisher = Publisher {
        api_key: registered["api_key"]
            .as_str()
            .expect("an api key")
            .to_string(),
        signing_secret,
    };
    publish_version(
        url,
        operator_token,
        &publisher,
        manifest,
        component,
        grants,
        100,
    )
    .await;
    publisher
}

/// Upload another version for `publisher`, approve it with `grants` and
/// roll it out to `percent` % of callers.
#[allow(dead_code)]
pub async fn publish_version(
    url: &str,
    operator_token: &str,
    publisher: &Publisher,
    manifest: &str,
    component: &str,
    grants: &[&str],
    percent: u32,
) {
    use citadel_host::registry::package;
    use serde_json::json;
    let field = |name: &str| -> String {
        manifest
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == name).then(|| value.trim().trim_matches('"').to_string())
            })
            .unwrap_or_else(|| panic!("the manifest has no `{name}`"))
    };
    let (app, version) = (field("id"), field("version"));
    let client = reqwest::Client::new();
    let wasm = std::fs::read(citadel_host::samples::built_component(component))
        .expect("the mini-app is built");
    let key = package::signing_key(&publisher.signing_secret).unwrap();
    let file = format!("{component}.wasm");
    let bytes = package::build(manifest, &file, &wasm, &key).unwrap();
    ok(client
        .post(format!("{url}/api/v1/publisher/packages"))
        .bearer_auth(&publisher.api_key)
        .body(bytes))
    .await;
    ok(client
        .post(format!(
            "{url}/api/v1/operator/apps/{app}/versions/{version}/approve"
        ))
        .bearer_auth(operator_token)
        .json(&json!({ "capabilities": grants })))
    .await;
    ok(client
        .post(format!("{url}/api/v1/operator/apps/{app}/rollout"))
        .bearer_auth(operator_token)
        .json(&json!({ "version": version, "percent": percent })))
    .await;
}

/// Send `request`; its JSON body, after checking it succeeded.
async fn ok(request: reqwest::RequestBuilder) -> serde_json::Value {
    let response = request.send().await.expect("the host answers");
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// A running `citadel serve --dev`, killed with SIGKILL when dropped (a
/// failing test leaves no host behind).
#[allow(dead_code)]
pub struct KillableHost {
    child: Child,
    pub url: String,
}

#[allow(dead_code)]
impl KillableHost {
    /// Serve `data_dir` with `extra` arguments, accepting `operator_token`.
    pub fn start(data_dir: &Path, extra: &[&str], operator_token: &str) -> KillableHost {
        Self::start_on("127.0.0.1:0", data_dir, extra, operator_token)
    }

    /// As `start`, listening on `listen` (a host restarted on its address).
    pub fn start_on(
        listen: &str,
        data_dir: &Path,
        extra: &[&str],
        operator_token: &str,
    ) -> KillableHost {
        let mut args = vec!["--dev"];
        args.extend_from_slice(extra);
        let (child, address) = serve_as(
            data_dir,
            listen,
            &args,
            &[("CITADEL_OPERATOR_TOKEN", operator_token)],
        );
        KillableHost {
            child,
            url: format!("http://{address}"),
        }
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the process is gone");
    }
}

impl Drop for KillableHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------ load

/// What a load saw: each request's end time and whether it succeeded.
#[derive(Default)]
#[allow(dead_code)]
pub struct Load {
    pub outcomes: Vec<(std::time::Instant, bool)>,
    /// Notes acknowledged with 201: (id, text).
    pub notes: Vec<(u64, String)>,
    /// Captures acknowledged with 200: (citizen's session, intent id).
    pub captures: Vec<(String, String)>,
}

type Shared = std::sync::Arc<std::sync::Mutex<Load>>;
type Stop = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// Note writers and payers running until stopped.
#[allow(dead_code)]
pub struct RunningLoad {
    load: Shared,
    stop: Stop,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

#[allow(dead_code)]
impl RunningLoad {
    /// `writers` note writers and `payers` payers (demo citizens
    /// `c-demo-1`…, signed in through `sign_in_url`) sending to `url`.
    pub async fn start(url: &str, sign_in_url: &str, writers: usize, payers: usize) -> RunningLoad {
        let (load, stop) = (Shared::default(), Stop::default());
        let mut workers = Vec::new();
        for writer in 0..writers {
            workers.push(tokio::spawn(write_notes(
                url.to_string(),
                writer,
                load.clone(),
                stop.clone(),
            )));
        }
        for payer in 0..payers {
            let session = sign_in(sign_in_url, &format!("c-demo-{}", payer + 1)).await;
            workers.push(tokio::spawn(pay(
                url.to_string(),
                session,
                payer,
                load.clone(),
                stop.clone(),
            )));
        }
        RunningLoad {
            load,
            stop,
            workers,
        }
    }

    /// Requests answered (or failed) so far.
    pub fn seen(&self) -> usize {
        self.load.lock().unwrap().outcomes.len()
    }

    /// The notes and captures acknowledged so far (the load goes on).
    pub fn acknowledged(&self) -> Load {
        let load = self.load.lock().unwrap();
        Load {
            outcomes: Vec::new(),
            notes: load.notes.clone(),
            captures: load.captures.clone(),
        }
    }

    /// Stop every worker; what the load saw.
    pub async fn stop(self) -> Load {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for worker in self.workers {
            worker.await.expect("a load task");
        }
        std::sync::Arc::try_unwrap(self.load)
            .ok()
            .expect("the load is done")
            .into_inner()
            .unwrap()
    }
}

fn record(load: &Shared, ok: bool) {
    load.lock()
        .unwrap()
        .outcomes
        .push((std::time::Instant::now(), ok));
}

/// Write notes through `url` (a host or a balancer) until `stop`.
async fn write_notes(url: String, writer: usize, load: Shared, stop: Stop) {
    let client = reqwest::Client::new();
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let text = format!("ghi chú {writer}-{n}");
        let sent = client
            .post(format!("{url}/apps/notes/api/notes"))
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await;
        let id = match sent {
            Ok(response) if response.status() == 201 => response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|note| note["id"].as_u64()),
            _ => None,
        };
        record(&load, id.is_some());
        if let Some(id) = id {
            load.lock().unwrap().notes.push((id, text));
        }
    }
}

/// Create and confirm payments of `session` through `url` until `stop`.
async fn pay(url: String, session: String, payer: usize, load: Shared, stop: Stop) {
    let client = reqwest::Client::new();
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let created = client
            .post(format!(
                "{url}/apps/probe/pay?amount=1000&reference=f-{payer}-{n}"
            ))
            .bearer_auth(&session)
            .send()
            .await;
        let id = match created {
            Ok(response) if response.status() == 200 => response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|intent| intent["id"].as_str().map(str::to_string)),
            _ => None,
        };
        record(&load, id.is_some());
        let Some(id) = id else { continue };
        let confirmed = client
            .post(format!("{url}/api/v1/me/payments/{id}/confirm"))
            .bearer_auth(&session)
            .send()
            .await;
        let ok = matches!(&confirmed, Ok(response) if response.status() == 200);
        record(&load, ok);
        if ok {
            load.lock().unwrap().captures.push((session.clone(), id));
        }
    }
}

/// Every note and capture `load` saw acknowledged is there through `url`
/// (notes with their text, each under its own id; captures captured), and
/// the ledger reconciles: nothing captured twice, every posting balanced.
#[allow(dead_code)]
pub async fn assert_nothing_acknowledged_was_lost(url: &str, operator_token: &str, load: &Load) {
    let client = reqwest::Client::new();
    // Every acknowledged note is there with its text, each under its own id.
    let ids: std::collections::BTreeSet<u64> = load.notes.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), load.notes.len(), "no id given twice");
    for (id, text) in &load.notes {
        let (status, note) =
            status_and_json(client.get(format!("{}/apps/notes/api/notes/{id}", url))).await;
        assert_eq!(
            (status, &note["text"]),
            (200, &serde_json::json!(text)),
            "note {id}"
        );
    }
    // Every acknowledged capture is captured, and the ledger reconciles:
    // nothing captured twice, every posting balanced.
    let mut captured = std::collections::BTreeMap::new();
    for (session, _) in &load.captures {
        if captured.contains_key(session) {
            continue;
        }
        let mut statuses = std::collections::BTreeMap::new();
        let mut next: Option<String> = None;
        loop {
            let page = match &next {
                Some(cursor) => format!("{}/api/v1/me/payments?limit=100&before={cursor}", url),
                None => format!("{}/api/v1/me/payments?limit=100", url),
            };
            let (status, history) = status_and_json(client.get(page).bearer_auth(session)).await;
            assert_eq!(status, 200, "{history}");
            for entry in history["payments"].as_array().expect("payments") {
                statuses.insert(
                    entry["id"].as_str().unwrap_or_default().to_string(),
                    entry["status"].as_str().unwrap_or_default().to_string(),
                );
            }
            match history["next"].as_str() {
                Some(cursor) => next = Some(cursor.to_string()),
                None => break,
            }
        }
        captured.insert(session.clone(), statuses);
    }
    for (session, id) in &load.captures {
        assert_eq!(
            captured[session].get(id).map(String::as_str),
            Some("captured"),
            "acknowledged capture {id}"
        );
    }
    let (status, reconciliation) = status_and_json(
        client
            .get(format!("{}/api/v1/operator/payments/reconcile", url))
            .bearer_auth(operator_token),
    )
    .await;
    assert_eq!(status, 200, "{reconciliation}");
    assert_eq!(reconciliation["clean"], true, "{reconciliation}");
}

/// Field `name` of a log line, text (`name=value`) or JSON; `None` when the
/// line has none.
#[allow(dead_code)]
pub fn log_field(line: &str, name: &str) -> Option<String> {
    if line.starts_with('{') {
        let record: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        return record.get(name).map(|value| value.to_string());
    }
    line.split(&format!("{name}="))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
}
