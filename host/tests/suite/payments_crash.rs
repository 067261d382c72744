//! Money is never lost: the real binary takes a concurrent load of payment
//! creates and confirms and is killed with SIGKILL at random moments, five
//! times, restarting on the same data dir. Afterwards reconciliation is
//! clean and every payment acknowledged as captured is there, captured once.

use crate::common;

use citadel_host::registry::package;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "cit_op_crash_test_token_0123456789ab";
const CITIZENS: usize = 8;
const WORKERS: usize = 8;

fn start(data: &Path) -> (Child, String) {
    let (child, address) = common::serve(
        data,
        &["--no-samples"],
        &[("CITADEL_OPERATOR_TOKEN", TOKEN)],
    );
    (child, format!("http://{address}"))
}

async fn ok_json(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("the host answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Publish the probe app (payments and all) through the real API.
async fn publish_probe(url: &str) {
    let client = reqwest::Client::new();
    let (secret, public) = package::generate_key();
    let publisher = ok_json(
        client
            .post(format!("{url}/api/v1/operator/publishers"))
            .bearer_auth(TOKEN)
            .json(&json!({ "id": "crash-tests", "name": "Crash tests", "signing_keys": [public] })),
    )
    .await;
    let api_key = publisher["api_key"].as_str().unwrap().to_string();
    let manifest = r#"id = "shop"
version = "1.0.0"
publisher = "crash-tests"
contract = "^1.2"
component = "probe.wasm"
category = "payments"
capabilities = ["kv", "notify", "payments", "payments.refund", "http:https://api.example.vn"]
[name]
vi = "Cửa hàng"
en = "Shop"
[description]
vi = "Thử nghiệm thanh toán"
en = "Payment test"
"#;
    let component = std::fs::read(citadel_host::samples::built_component("probe")).unwrap();
    let key = package::signing_key(&secret).unwrap();
    let bytes = package::build(manifest, "probe.wasm", &component, &key).unwrap();
    ok_json(
        client
            .post(format!("{url}/api/v1/publisher/packages"))
            .bearer_auth(&api_key)
            .body(bytes),
    )
    .await;
    let caps = json!({ "capabilities": ["kv", "payments", "payments.refund"] });
    ok_json(
        client
            .post(format!(
                "{url}/api/v1/operator/apps/shop/versions/1.0.0/approve"
            ))
            .bearer_auth(TOKEN)
            .json(&caps),
    )
    .await;
    ok_json(
        client
            .post(format!("{url}/api/v1/operator/apps/shop/rollout"))
            .bearer_auth(TOKEN)
            .json(&json!({ "version": "1.0.0", "percent": 100 })),
    )
    .await;
}

async fn sign_in_all(url: &str) -> Vec<(String, String)> {
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for n in 1..=CITIZENS {
        let citizen = format!("c-demo-{n}");
        let body = ok_json(
            client
                .post(format!("{url}/api/v1/login"))
                .json(&json!({ "citizen": citizen })),
        )
        .await;
        tokens.push((citizen, body["token"].as_str().unwrap().to_string()));
    }
    tokens
}

/// Create and confirm payments until the host dies; acknowledged captures
/// go into `acked` (intent id → citizen).
async fn load(
    url: String,
    tokens: Vec<(String, String)>,
    round: usize,
    acked: Arc<Mutex<BTreeMap<String, String>>>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let workers = (0..WORKERS).map(|worker| {
        let (client, url, tokens, acked) =
            (client.clone(), url.clone(), tokens.clone(), acked.clone());
        async move {
            for i in 0.. {
                let (citizen, token) = &tokens[(worker + i) % tokens.len()];
                let reference = format!("r{round}-w{worker}-{i}");
                let Ok(created) = client
                    .post(format!(
                        "{url}/apps/shop/pay?amount=10000&reference={reference}"
                    ))
                    .bearer_auth(token)
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(intent) = created.json::<Value>().await else {
                    return;
                };
                let Some(id) = intent["id"].as_str() else {
                    return;
                };
                let Ok(confirmed) = client
                    .post(format!("{url}/api/v1/me/payments/{id}/confirm"))
                    .bearer_auth(token)
                    .send()
                    .await
                else {
                    return;
                };
                if confirmed.status() == 200 {
                    if let Ok(body) = confirmed.json::<Value>().await {
                        if body["payment"]["status"] == "captured" {
                            acked
                                .lock()
                                .unwrap()
                                .insert(id.to_string(), citizen.clone());
                        }
                    }
                }
            }
        }
    });
    futures::future::join_all(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_capture() {
    let data = tempfile::tempdir().unwrap();
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let (mut child, mut url) = start(data.path());
    publish_probe(&url).await;

    for round in 0..5 {
        let tokens = sign_in_all(&url).await;
        let running = tokio::spawn(load(url.clone(), tokens, round, acked.clone()));
        let pause = 300 + rand::random::<u64>() % 900;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("the process is gone");
        let _ = running.await;
        (child, url) = start(data.path());
    }

    let client = reqwest::Client::new();
    let report = ok_json(
        client
            .get(format!("{url}/api/v1/operator/payments/reconcile"))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(report["clean"], true, "{report}");
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 10,
        "the load captured too little to mean anything: {}",
        acked.len()
    );
    let tokens: BTreeMap<String, String> = sign_in_all(&url).await.into_iter().collect();
    for (id, citizen) in &acked {
        let payment = ok_json(
            client
                .get(format!("{url}/api/v1/me/payments/{id}"))
                .bearer_auth(&tokens[citizen]),
        )
        .await;
        assert_eq!(
            payment["status"], "captured",
            "{id} was acknowledged as captured"
        );
    }
    // Captured once each: reconciliation counts the merchant credits per
    // intent; every acknowledged one is among the captured.
    assert!(report["captured"].as_u64().unwrap() >= acked.len() as u64);
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!(
        "acknowledged captures: {}, captured in all: {}",
        acked.len(),
        report["captured"]
    );
}
