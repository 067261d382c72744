//! Payments: an app asks, only the citizen confirms (in host UI or its API),
//! money moves once in a balanced ledger; refusals carry their own codes and
//! move nothing; provider webhooks must be signed, fresh and new.

use citadel_host::payments::WebhookProvider;
use citadel_tests::{
    client, decide_payment, error_of, get_json, metrics, probe_manifest, sign_in, TestHost,
    OPERATOR_TOKEN,
};
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &[u8] = b"momo-test-secret";

async fn start(dir: &std::path::Path, ttl: Duration) -> TestHost {
    let host = TestHost::start_with(dir, |config| {
        config.payments.intent_ttl = ttl;
        config.payments.providers = vec![WebhookProvider {
            name: "momo".into(),
            checkout_base: "http://127.0.0.1:9/checkout".into(),
            secret: SECRET.to_vec(),
        }];
    })
    .await;
    host.install_built("probe", &probe_manifest("probe", &[], ""));
    host
}

async fn create(host: &TestHost, token: &str, amount: u64, reference: &str) -> reqwest::Response {
    client()
        .post(host.url(&format!(
            "/apps/probe/pay?amount={amount}&reference={reference}"
        )))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn intent_id(host: &TestHost, token: &str, amount: u64, reference: &str) -> String {
    let response = create(host, token, amount, reference).await;
    assert_eq!(response.status(), 200, "create {reference}");
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

async fn confirm(host: &TestHost, token: &str, id: &str) -> reqwest::Response {
    decide_payment(host, token, id, "confirm").await
}

async fn reconcile(host: &TestHost) -> Value {
    get_json(
        host,
        "/api/v1/operator/payments/reconcile",
        Some(OPERATOR_TOKEN),
    )
    .await
}

/// (number of postings, every balance) — what "nothing moved" compares.
fn ledger(host: &TestHost) -> (usize, Vec<(String, i64)>) {
    (
        host.citadel.store.postings().unwrap().len(),
        host.citadel.store.balances().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_confirms_capture_once() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900)).await;
    let lan = sign_in(&host, "c-lan").await;

    let id = intent_id(&host, &lan, 150_000, "order-42").await;
    assert_eq!(
        intent_id(&host, &lan, 150_000, "order-42").await,
        id,
        "one reference, one intent"
    );
    let page = client()
        .get(host.url(&format!("/pay/{id}")))
        .header("cookie", format!("citadel_session={lan}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("150.000 ₫") && html.contains("Vé tham quan Đại Nội"),
        "{html}"
    );

    // Another citizen cannot even see it.
    let minh = sign_in(&host, "c-minh").await;
    let response = confirm(&host, &minh, &id).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_of(response).await.0, "payment_not_found");

    let attempts = (0..100).map(|_| confirm(&host, &lan, &id));
    let responses = futures::future::join_all(attempts).await;
    let mut captured = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => captured += 1,
            409 => assert_eq!(error_of(response).await.0, "payment_not_pending"),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(captured, 1, "exactly one confirm captures");
    let seen: Value = get_json(&host, &format!("/apps/probe/intent/{id}"), Some(&lan)).await;
    assert_eq!(seen["status"], "captured");
    let report = reconcile(&host).await;
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(report["captured"], 1);
    let wallet = host
        .citadel
        .store
        .balances()
        .unwrap()
        .into_iter()
        .find(|(a, _)| a == "wallet:c-lan")
        .unwrap()
        .1;
    assert_eq!(wallet, 5_000_000 - 150_000);

    // The app hears about it through its hook (at least once).
    let mut heard = false;
    for _ in 0..40 {
        let hooks: Value = get_json(&host, "/apps/probe/hooks", None).await;
        if hooks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k.as_str().unwrap().contains(&id))
        {
            heard = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(heard, "the payment hook was called");

    // History, settlement (JSON and CSV).
    let history: Value = get_json(&host, "/api/v1/me/payments", Some(&lan)).await;
    assert_eq!(history["payments"][0]["id"], id.as_str());
    assert_eq!(history["payments"][0]["status"], "captured");
    let theirs: Value = get_json(&host, "/api/v1/me/payments", Some(&minh)).await;
    assert_eq!(theirs["payments"], json!([]));
    let key = citadel_tests::register_publisher(&host, "citadel-tests").await;
    let settlement: Value =
        get_json(&host, "/api/v1/publisher/settlements", Some(&key.api_key)).await;
    assert_eq!(settlement["gross"], 150_000);
    assert_eq!(settlement["fees"], 1_500);
    let csv = client()
        .get(host.url("/api/v1/publisher/settlements?format=csv"))
        .bearer_auth(&key.api_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.starts_with("intent,app,reference") && csv.contains(&id),
        "{csv}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_cancelled_intents_cannot_be_captured() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_millis(300)).await;
    let lan = sign_in(&host, "c-lan").await;
    let expiring = intent_id(&host, &lan, 20_000, "late").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let response = confirm(&host, &lan, &expiring).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_of(response).await.0, "payment_expired");

    let host_ttl = host.citadel.payments.config().intent_ttl;
    assert_eq!(host_ttl, Duration::from_millis(300));
    let cancelled = intent_id(&host, &lan, 20_000, "changed-mind").await;
    let response = client()
        .post(host.url(&format!("/api/v1/me/payments/{cancelled}/cancel")))
        .bearer_auth(&lan)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = confirm(&host, &lan, &cancelled).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_of(response).await.0, "payment_not_pending");
    assert!(
        host.citadel.store.postings().unwrap().is_empty(),
        "no money moved"
    );
    host.stop().await;
}

fn signed_webhook(body: &Value, secret: &[u8]) -> (String, String, String) {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let body = body.to_string();
    let signature = WebhookProvider::sign(secret, &timestamp, body.as_bytes());
    (timestamp, signature, body)
}

async fn webhook(
    host: &TestHost,
    (timestamp, signature, body): (String, String, String),
) -> reqwest::Response {
    client()
        .post(host.url("/api/v1/payments/webhooks/momo"))
        .header("x-citadel-timestamp", timestamp)
        .header("x-citadel-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_code_and_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900)).await;
    let lan = sign_in(&host, "c-lan").await;

    // Amount bounds.
    for amount in [0, 60_000_000] {
        let response = create(&host, &lan, amount, &format!("bad-{amount}")).await;
        assert_eq!(response.status(), 422, "{amount}");
        assert_eq!(error_of(response).await.0, "invalid_amount");
    }
    // Insufficient funds: the wallet holds 5,000,000.
    let big = intent_id(&host, &lan, 10_000_000, "too-much").await;
    let before = ledger(&host);
    let response = confirm(&host, &lan, &big).await;
    assert_eq!(response.status(), 402);
    assert_eq!(error_of(response).await.0, "insufficient_funds");
    assert_eq!(
        ledger(&host),
        before,
        "nothing moved, not even the wallet's seeding"
    );

    // Over-refund, and a refund without `payments.refund`.
    let paid = intent_id(&host, &lan, 100_000, "paid").await;
    assert_eq!(confirm(&host, &lan, &paid).await.status(), 200);
    let before = ledger(&host);
    let response = client()
        .post(host.url(&format!(
            "/apps/probe/refund/{paid}?amount=150000&reference=r1"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    assert_eq!(error_of(response).await.0, "over_refund");
    assert_eq!(ledger(&host), before);
    // A partial refund, twice with one reference: refunded once.
    for _ in 0..2 {
        let response = client()
            .post(host.url(&format!(
                "/apps/probe/refund/{paid}?amount=40000&reference=r2"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["refunded"], 40_000);
    }
    let mut grants: Vec<String> = host
        .citadel
        .registry
        .grants("probe")
        .unwrap()
        .into_iter()
        .collect();
    grants.retain(|g| g != "payments.refund");
    host.citadel
        .registry
        .set_grants("probe", grants, "operator:test")
        .unwrap();
    let before = ledger(&host);
    let response = client()
        .post(host.url(&format!("/apps/probe/refund/{paid}?reference=r3")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(error_of(response).await.0, "capability_denied");
    assert_eq!(ledger(&host), before);

    // Webhooks: forged and stale are refused; a good one captures once; a
    // replay is refused. All refusals are audited.
    let via_provider = intent_id(&host, &lan, 250_000, "via-momo").await;
    let redirect: Value = client()
        .post(host.url(&format!("/api/v1/me/payments/{via_provider}/confirm")))
        .bearer_auth(&lan)
        .json(&json!({ "method": "momo" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(redirect["redirect"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:9/checkout?intent="));
    let report = json!({ "intent": via_provider, "amount": 250_000, "provider_ref": "momo-77", "status": "paid" });
    let before = ledger(&host);
    let response = webhook(&host, signed_webhook(&report, b"not-the-secret")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_of(response).await.0, "invalid_webhook");
    let (_, _, body) = signed_webhook(&report, SECRET);
    let stale = "1000000000".to_string();
    let stale_signature = WebhookProvider::sign(SECRET, &stale, body.as_bytes());
    let response = webhook(&host, (stale, stale_signature, body)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(ledger(&host), before);
    let response = webhook(&host, signed_webhook(&report, SECRET)).await;
    assert_eq!(response.status(), 200);
    let captured = ledger(&host);
    let response = webhook(&host, signed_webhook(&report, SECRET)).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_of(response).await.0, "webhook_replayed");
    assert_eq!(ledger(&host), captured);
    let refused = citadel_tests::audit(&host, "kind=webhook-refused").await;
    assert_eq!(refused.len(), 3, "forged, stale, replayed");

    let report = reconcile(&host).await;
    assert_eq!(report["clean"], true, "{report}");
    let metrics = metrics(&host).await;
    assert!(
        metrics.contains(r#"citadel_app_denials_total{app="probe",capability="payments.refund"}"#)
    );
    host.stop().await;
}
