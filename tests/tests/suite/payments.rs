//! Payments: an app asks, only the citizen confirms (in host UI or its API),
//! money moves once in a balanced ledger; refusals carry their own codes and
//! move nothing; provider webhooks must be signed, fresh and new; a
//! reference is one citizen's own, an app's pending intents per citizen are
//! bounded, and one app's hanging hook holds up no other app's events.

use citadel_host::gateway::error::ApiError;
use citadel_host::payments::WebhookProvider;
use citadel_host::store::{IntentRecord, IntentStatus};
use citadel_tests::{
    client, decide_payment, error_of, get_json, metrics, probe_manifest, sign_in, test_manifest,
    TestHost, OPERATOR_TOKEN,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &[u8] = b"momo-test-secret";

/// A provider whose checkout is nowhere (tests report its payments
/// themselves), signing with [`SECRET`].
fn provider(name: &str, refund_url: Option<String>) -> WebhookProvider {
    WebhookProvider {
        name: name.into(),
        checkout_base: "http://127.0.0.1:9/checkout".into(),
        secret: SECRET.to_vec(),
        refund_url,
    }
}

async fn start(dir: &std::path::Path, ttl: Duration) -> TestHost {
    let host = TestHost::start_with(dir, |config| {
        config.payments.intent_ttl = ttl;
        config.payments.providers = vec![provider("momo", None)];
    })
    .await;
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;
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

/// The citizen picks provider `method` for intent `id`: sent to its
/// checkout, whose address is returned.
async fn to_checkout(host: &TestHost, token: &str, id: &str, method: &str) -> String {
    let response = client()
        .post(host.url(&format!("/api/v1/me/payments/{id}/confirm")))
        .bearer_auth(token)
        .json(&json!({ "method": method }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "sent to {method}'s checkout");
    let body: Value = response.json().await.unwrap();
    body["redirect"]
        .as_str()
        .expect("a checkout address")
        .to_string()
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
async fn ledger(host: &TestHost) -> (usize, Vec<(String, i64)>) {
    (
        host.citadel.store.ledger.postings().await.unwrap().len(),
        host.citadel.store.ledger.balances().await.unwrap(),
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
    // In the citizen's language: the app by name, the status, the wallet.
    for shown in [
        "<strong>Thăm dò</strong>",
        ">Chờ bạn xác nhận<",
        "Số dư ví",
        "5.000.000 ₫",
        "class=\"primary\" data-method=\"demo-wallet\">Thanh toán bằng ví Citadel",
    ] {
        assert!(html.contains(shown), "{shown} in {html}");
    }
    assert!(!html.contains(">pending<"), "{html}");

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
            200 => {
                captured += 1;
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["wallet_balance"], 5_000_000 - 150_000, "{body}");
            }
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
        .ledger
        .balances()
        .await
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

/// A provider sends the citizen back to the intent's page: an address on
/// the host's public URL when it has one (a provider lives on another
/// origin), else the host's own path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_sends_the_citizen_back_to_the_public_url() {
    for public in [None, Some("https://citadel.hue.gov.vn")] {
        let dir = tempfile::tempdir().unwrap();
        let host = TestHost::start_with(dir.path(), |config| {
            config.payments.providers = vec![provider("momo", None)];
            config.public_url =
                public.map(|url| citadel_host::public_url::PublicUrl::parse(url).unwrap());
        })
        .await;
        host.install_built("probe", &probe_manifest("probe", &[], ""))
            .await;
        let lan = sign_in(&host, "c-lan").await;
        let id = intent_id(&host, &lan, 10_000, "back").await;
        let checkout = to_checkout(&host, &lan, &id, "momo").await;
        let checkout = reqwest::Url::parse(&checkout).unwrap();
        let query: std::collections::HashMap<String, String> =
            checkout.query_pairs().into_owned().collect();
        assert_eq!(query["intent"], id);
        assert_eq!(
            query["return"],
            format!("{}/pay/{id}", public.unwrap_or_default())
        );
        host.stop().await;
    }
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
        host.citadel
            .store
            .ledger
            .postings()
            .await
            .unwrap()
            .is_empty(),
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
    let before = ledger(&host).await;
    let response = confirm(&host, &lan, &big).await;
    assert_eq!(response.status(), 402);
    assert_eq!(error_of(response).await.0, "insufficient_funds");
    assert_eq!(
        ledger(&host).await,
        before,
        "nothing moved, not even the wallet's seeding"
    );

    // Over-refund, and a refund without `payments.refund`.
    let paid = intent_id(&host, &lan, 100_000, "paid").await;
    assert_eq!(confirm(&host, &lan, &paid).await.status(), 200);
    let before = ledger(&host).await;
    let response = client()
        .post(host.url(&format!(
            "/apps/probe/refund/{paid}?amount=150000&reference=r1"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    assert_eq!(error_of(response).await.0, "over_refund");
    assert_eq!(ledger(&host).await, before);
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
        .set_grants("probe", None, grants, "operator:test")
        .await
        .unwrap();
    let before = ledger(&host).await;
    let response = client()
        .post(host.url(&format!("/apps/probe/refund/{paid}?reference=r3")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(error_of(response).await.0, "capability_denied");
    assert_eq!(ledger(&host).await, before);

    // Webhooks: forged and stale are refused; a good one captures once; a
    // replay is refused. All refusals are audited.
    let via_provider = intent_id(&host, &lan, 250_000, "via-momo").await;
    assert!(to_checkout(&host, &lan, &via_provider, "momo")
        .await
        .starts_with("http://127.0.0.1:9/checkout?intent="));
    let report = json!({ "intent": via_provider, "amount": 250_000, "provider_ref": "momo-77", "status": "paid" });
    let before = ledger(&host).await;
    let response = webhook(&host, signed_webhook(&report, b"not-the-secret")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_of(response).await.0, "invalid_webhook");
    let (_, _, body) = signed_webhook(&report, SECRET);
    let stale = "1000000000".to_string();
    let stale_signature = WebhookProvider::sign(SECRET, &stale, body.as_bytes());
    let response = webhook(&host, (stale, stale_signature, body)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(ledger(&host).await, before);
    let response = webhook(&host, signed_webhook(&report, SECRET)).await;
    assert_eq!(response.status(), 200);
    let answered: Value = response.json().await.unwrap();
    assert_eq!(answered["status"], "captured", "{answered}");
    let seen = get_json(
        &host,
        &format!("/api/v1/me/payments/{via_provider}"),
        Some(&lan),
    )
    .await;
    assert_eq!(
        seen["status"], "captured",
        "the citizen sees it paid: {seen}"
    );
    let captured = ledger(&host).await;
    assert!(
        captured.0 > before.0 && captured.1 != before.1,
        "the capture posted to the ledger"
    );
    let response = webhook(&host, signed_webhook(&report, SECRET)).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_of(response).await.0, "webhook_replayed");
    assert_eq!(ledger(&host).await, captured);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_is_per_citizen_and_pending_intents_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900)).await;
    let lan = sign_in(&host, "c-lan").await;
    let minh = sign_in(&host, "c-minh").await;

    // The same reference from two citizens: two intents, each the citizen's own.
    let lans = intent_id(&host, &lan, 10_000, "order-7").await;
    let minhs = intent_id(&host, &minh, 20_000, "order-7").await;
    assert_ne!(lans, minhs, "another citizen's reference is another intent");
    assert_eq!(intent_id(&host, &minh, 20_000, "order-7").await, minhs);
    let seen: Value = get_json(&host, &format!("/apps/probe/intent/{minhs}"), Some(&minh)).await;
    assert_eq!(seen["amount"], 20_000, "Minh pays his own amount");
    for (token, theirs) in [(&lan, &minhs), (&minh, &lans)] {
        let response = confirm(&host, token, theirs).await;
        assert_eq!(response.status(), 404);
        assert_eq!(error_of(response).await.0, "payment_not_found");
    }
    for (token, mine) in [(&lan, &lans), (&minh, &minhs)] {
        let history: Value = get_json(&host, "/api/v1/me/payments", Some(token)).await;
        let ids: Vec<&str> = history["payments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [mine.as_str()]);
    }
    assert_eq!(confirm(&host, &minh, &minhs).await.status(), 200);
    let lan_intent = stored_intent(&host, &lans).await;
    assert_eq!(
        lan_intent.status,
        IntentStatus::Pending,
        "untouched by Minh's payment"
    );

    // Lan may hold 20 pending intents of the app; the 21st is refused and stored nowhere.
    let bound = host.citadel.payments.config().max_pending_per_citizen;
    assert_eq!(bound, 20);
    for i in 1..bound {
        intent_id(&host, &lan, 10_000, &format!("bulk-{i}")).await;
    }
    let stored = host.citadel.store.ledger.intents().await.unwrap().len();
    let refused = create(&host, &lan, 10_000, "one-too-many").await;
    assert_eq!(refused.status(), 503, "the app hears `unavailable`");
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("20 payments of this app already wait"),
        "{body}"
    );
    assert_eq!(
        host.citadel.store.ledger.intents().await.unwrap().len(),
        stored
    );
    // At the host's edge the typed refusal is a 429 with its own code.
    let edge = ApiError::from(
        host.citadel
            .payments
            .create(
                "probe",
                "citadel-tests",
                "c-lan",
                "pairwise",
                10_000,
                "one more",
                "one-too-many",
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (edge.status.as_u16(), edge.code),
        (429, "too_many_pending_intents")
    );
    // A retry of a held reference still answers; Minh is not bounded by Lan;
    // a decided intent frees its place.
    assert_eq!(intent_id(&host, &lan, 10_000, "order-7").await, lans);
    intent_id(&host, &minh, 10_000, "minh-2").await;
    assert_eq!(
        decide_payment(&host, &lan, &lans, "cancel").await.status(),
        200
    );
    intent_id(&host, &lan, 10_000, "one-too-many").await;
    assert_eq!(
        create(&host, &lan, 10_000, "and-another").await.status(),
        503
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_payment_hook_holds_up_only_its_own_app() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900)).await;
    // `stall`: the hostile component, whose payment hook sleeps to its deadline.
    let stall = test_manifest("stall", "hostile", "[]", "timeout_ms = 3000").replace(
        "category = \"utilities\"",
        "category = \"utilities\"\npayment_hook = \"/sleep\"",
    );
    host.install_built("hostile", &stall).await;
    let lan = sign_in(&host, "c-lan").await;
    let mut stalled = Vec::new();
    for i in 0..6 {
        let intent = host
            .citadel
            .payments
            .create(
                "stall",
                "citadel-tests",
                "c-lan",
                "pairwise",
                10_000,
                "stalled",
                &format!("stall-{i}"),
            )
            .await
            .unwrap();
        assert_eq!(confirm(&host, &lan, &intent.id).await.status(), 200);
        stalled.push(intent.id);
    }
    // Let the outbox loop take up the stalled events (each hangs for 3 s).
    tokio::time::sleep(Duration::from_millis(600)).await;

    let fast = intent_id(&host, &lan, 10_000, "fast").await;
    let started = Instant::now();
    assert_eq!(confirm(&host, &lan, &fast).await.status(), 200);
    while waiting(&host, &fast).await && started.elapsed() < Duration::from_millis(2_500) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !waiting(&host, &fast).await,
        "probe's event waited behind stall's hanging hook"
    );
    for id in &stalled {
        assert!(
            waiting(&host, id).await,
            "stall's events are still undelivered"
        );
    }
    let hooks: Value = get_json(&host, "/apps/probe/hooks", None).await;
    assert!(hooks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k.as_str().unwrap().contains(&fast)));
    host.stop().await;
}

/// Intent `id` as the ledger holds it.
async fn stored_intent(host: &TestHost, id: &str) -> IntentRecord {
    host.citadel.store.ledger.intent(id).await.unwrap().unwrap()
}

/// Whether the outbox still holds an event of `intent`.
async fn waiting(host: &TestHost, intent: &str) -> bool {
    host.citadel
        .store
        .ledger
        .outbox()
        .await
        .unwrap()
        .iter()
        .any(|e| e.intent == intent)
}

/// The citizen reaches the provider's checkout just before the intent's time
/// runs out and pays just after: the provider holds their money, so its
/// report still captures the intent. A payment for an intent the citizen
/// cancelled meanwhile, or paid twice, is refused and recorded for a refund.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_payment_that_lands_late_is_captured_or_recorded_for_a_refund() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_millis(1500);
    let host = start(dir.path(), ttl).await;
    let lan = sign_in(&host, "c-lan").await;

    let late = intent_id(&host, &lan, 120_000, "late").await;
    to_checkout(&host, &lan, &late, "momo").await;
    let cancelled = intent_id(&host, &lan, 80_000, "cancelled").await;
    to_checkout(&host, &lan, &cancelled, "momo").await;
    let response = decide_payment(&host, &lan, &cancelled, "cancel").await;
    assert_eq!(response.status(), 200);
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let seen = get_json(&host, &format!("/api/v1/me/payments/{late}"), Some(&lan)).await;
    assert_eq!(seen["status"], "expired", "{seen}");

    let report =
        json!({ "intent": late, "amount": 120_000, "provider_ref": "momo-late", "status": "paid" });
    let response = webhook(&host, signed_webhook(&report, SECRET)).await;
    assert_eq!(response.status(), 200);
    let seen = get_json(&host, &format!("/api/v1/me/payments/{late}"), Some(&lan)).await;
    assert_eq!(seen["status"], "captured", "{seen}");

    let before = ledger(&host).await;
    for (intent, amount, reference) in [
        (&cancelled, 80_000, "momo-after-cancel"),
        (&late, 120_000, "momo-twice"),
    ] {
        let report = json!({ "intent": intent, "amount": amount, "provider_ref": reference, "status": "paid" });
        let response = webhook(&host, signed_webhook(&report, SECRET)).await;
        assert_eq!(response.status(), 409);
        assert_eq!(error_of(response).await.0, "payment_not_pending");
    }
    assert_eq!(ledger(&host).await, before, "no money moved");
    let unapplied = citadel_tests::audit(&host, "kind=payment-unapplied").await;
    assert_eq!(unapplied.len(), 2, "{unapplied:?}");
    let text = format!("{unapplied:?}");
    assert!(
        text.contains("momo-after-cancel") && text.contains("momo-twice"),
        "{text}"
    );
    let report = reconcile(&host).await;
    assert_eq!(report["clean"], true, "{report}");
    host.stop().await;
}

/// A publisher whose fee is the whole amount (10,000 basis points, the most
/// an operator may set) credits its merchant account nothing: the capture
/// is still counted once, and reconciliation stays clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_amount_fee_still_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900)).await;
    let response = client()
        .post(host.url("/api/v1/operator/publishers"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({ "id": "citadel-tests", "name": "Citadel tests", "fee_bps": 10_000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let lan = sign_in(&host, "c-lan").await;
    let paid = intent_id(&host, &lan, 100_000, "all-fee").await;
    assert_eq!(confirm(&host, &lan, &paid).await.status(), 200);
    let report = reconcile(&host).await;
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(report["captured"], 1, "{report}");
    host.stop().await;
}

/// What a provider's refund address received: each request's signature
/// headers and body.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

/// A provider's refund address on loopback: refuses the first request
/// (503), takes the rest.
async fn refund_address() -> (String, Received, tokio::task::JoinHandle<()>) {
    use axum::http::{HeaderMap, StatusCode};
    let received = Received::default();
    let app = axum::Router::new().route(
        "/refund",
        axum::routing::post({
            let received = received.clone();
            move |headers: HeaderMap, body: String| {
                let received = received.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    let mut received = received.lock().unwrap();
                    received.push((
                        header("x-citadel-timestamp"),
                        header("x-citadel-signature"),
                        body,
                    ));
                    if received.len() == 1 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/refund", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, received, server)
}

/// An app's refund of a payment a provider took reaches the provider,
/// signed, until it is taken (the same refund id each time), and is marked
/// acknowledged; a provider with no refund address refuses the refund, and
/// nothing moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_of_a_provider_payment_is_sent_to_the_provider_until_it_takes_it() {
    let (url, received, server) = refund_address().await;
    let dir = tempfile::tempdir().unwrap();
    let (host, lan) = paying_host(
        dir.path(),
        vec![provider("momo", Some(url)), provider("zalopay", None)],
    )
    .await;
    let pay_through = |provider: &'static str, reference: &'static str, paid_as: &'static str| {
        let (host, lan) = (&host, &lan);
        async move {
            let id = intent_id(host, lan, 250_000, reference).await;
            to_checkout(host, lan, &id, provider).await;
            let report = json!({ "intent": id, "amount": 250_000, "provider_ref": paid_as, "status": "paid" });
            let (timestamp, signature, body) = signed_webhook(&report, SECRET);
            let paid = client()
                .post(host.url(&format!("/api/v1/payments/webhooks/{provider}")))
                .header("x-citadel-timestamp", timestamp)
                .header("x-citadel-signature", signature)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(paid.status(), 200, "{provider} reports the payment");
            id
        }
    };
    let refund = |id: String, reference: &'static str| {
        let host = &host;
        async move {
            client()
                .post(host.url(&format!(
                    "/apps/probe/refund/{id}?amount=100000&reference={reference}"
                )))
                .send()
                .await
                .unwrap()
        }
    };

    // Through a provider with no refund address: refused, nothing moves.
    let elsewhere = pay_through("zalopay", "via-zalopay", "zalo-1").await;
    let before = ledger(&host).await;
    let refused = refund(elsewhere, "r-zalo").await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_input", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("zalopay"),
        "{body}"
    );
    assert_eq!(ledger(&host).await, before);

    // Through momo: the refund is recorded at once and sent to momo.
    let id = pay_through("momo", "via-momo", "momo-88").await;
    let refunded = refund(id.clone(), "r-1").await;
    assert_eq!(refunded.status(), 200);
    // momo refuses the first request; the second (after the backoff) lands.
    let deadline = Instant::now() + Duration::from_secs(20);
    let acknowledged = loop {
        let intent = stored_intent(&host, &id).await;
        let at = intent.refunds[0].provider.as_ref().unwrap().acknowledged_at;
        if at.is_some() || Instant::now() > deadline {
            break at;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(acknowledged.is_some(), "momo took the refund");
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "refused once, then taken: {received:?}");
    for (timestamp, signature, body) in &received {
        assert_eq!(
            signature,
            &WebhookProvider::sign(SECRET, timestamp, body.as_bytes()),
            "signed with momo's secret"
        );
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            body["refund_id"],
            format!("{id}:refund:r-1"),
            "one id for every attempt"
        );
        assert_eq!(body["payment_ref"], "momo-88");
        assert_eq!(body["amount"], 100_000);
    }
    // Audited just after the acknowledgement is recorded.
    let sent = citadel_tests::audit_at_least(&host, "kind=payment-refund-sent", 1).await;
    assert_eq!(sent.len(), 1);
    let taken = paid_by_hand(&host, &id, json!({ "reference": "r-1" })).await;
    assert_eq!(taken.status(), 409, "momo paid it: nobody pays it by hand");
    assert_eq!(error_of(taken).await.0, "refund_already_taken");
    let report = reconcile(&host).await;
    assert_eq!(report["clean"], true, "{report}");
    host.stop().await;
    server.abort();
}

/// An operator records a refund as paid back by hand.
async fn paid_by_hand(host: &TestHost, intent: &str, body: Value) -> reqwest::Response {
    client()
        .post(host.url(&format!("/api/v1/operator/payments/{intent}/paid-by-hand")))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A refund its provider never takes (its refund address is down) is sent
/// until an operator records it as paid back by hand: then it is dropped,
/// once, audited, and reconciliation stays clean. Wrong names are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_paid_back_by_hand_is_no_longer_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (host, lan) = paying_host(
        dir.path(),
        vec![provider("momo", Some("http://127.0.0.1:9/refund".into()))],
    )
    .await;
    let id = intent_id(&host, &lan, 250_000, "by-hand").await;
    to_checkout(&host, &lan, &id, "momo").await;
    let report =
        json!({ "intent": id, "amount": 250_000, "provider_ref": "momo-9", "status": "paid" });
    let paid = webhook(&host, signed_webhook(&report, SECRET)).await;
    assert_eq!(paid.status(), 200);
    let refunded = client()
        .post(host.url(&format!(
            "/apps/probe/refund/{id}?amount=100000&reference=r-1"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(refunded.status(), 200);
    // The refund is tried, and fails: nothing listens there.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host
        .citadel
        .store
        .ledger
        .outbox()
        .await
        .unwrap()
        .iter()
        .any(|e| e.refund.is_some() && e.attempts > 0)
    {
        assert!(Instant::now() < deadline, "the refund was never tried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The provider is gone from the configuration since: the refund waits
    // for it, or for the city to pay it back.
    host.stop().await;
    let host = TestHost::start_with(dir.path(), |config| {
        config.payments.providers = vec![provider("momo", None)];
    })
    .await;

    let anonymous = client()
        .post(host.url(&format!("/api/v1/operator/payments/{id}/paid-by-hand")))
        .json(&json!({ "reference": "r-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    for (intent, body, status, code) in [
        (
            id.as_str(),
            json!({ "reference": "r-2" }),
            404,
            "refund_not_found",
        ),
        (
            id.as_str(),
            json!({ "reference": "r-1", "returned_payment": true }),
            404,
            "refund_not_found",
        ),
        (
            "pi_nobody",
            json!({ "reference": "r-1" }),
            404,
            "payment_not_found",
        ),
        (id.as_str(), json!({ "reference": 1 }), 400, "invalid_json"),
    ] {
        let refused = paid_by_hand(&host, intent, body.clone()).await;
        assert_eq!(refused.status(), status, "{body}");
        assert_eq!(error_of(refused).await.0, code, "{body}");
    }
    assert!(citadel_tests::audit(&host, "kind=payment-refund-settled")
        .await
        .is_empty());

    let settled = paid_by_hand(&host, &id, json!({ "reference": "r-1" })).await;
    assert_eq!(settled.status(), 200);
    let settled: Value = settled.json().await.unwrap();
    assert_eq!(settled["provider"], "momo", "{settled}");
    assert_eq!(settled["amount"], 100_000, "{settled}");
    assert!(
        settled["settled_by"]
            .as_str()
            .unwrap()
            .starts_with("operator:"),
        "{settled}"
    );
    let again: Value = paid_by_hand(&host, &id, json!({ "reference": "r-1" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, settled, "recorded once");
    let audited = citadel_tests::audit(&host, "kind=payment-refund-settled").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(
        outbox_empties(&host, Duration::from_secs(20)).await,
        "no longer sent"
    );
    let intent = stored_intent(&host, &id).await;
    assert_eq!(intent.refunded, 100_000, "the refund itself stands");
    let report = reconcile(&host).await;
    assert_eq!(report["clean"], true, "{report}");
    host.stop().await;
}

/// A payment the provider took for an intent the citizen had cancelled, or
/// of another amount than the intent asks, is not applied, and goes back to
/// the provider: recorded and sent once, however often the provider reports
/// it, until the provider takes it. No money moves in the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_the_intent_cannot_take_goes_back_to_its_provider_once() {
    let (url, received, server) = refund_address().await;
    let dir = tempfile::tempdir().unwrap();
    let (host, lan) = paying_host(dir.path(), vec![provider("momo", Some(url))]).await;
    let go_to_checkout = |reference: &'static str, amount: u64| {
        let (host, lan) = (&host, &lan);
        async move {
            let id = intent_id(host, lan, amount, reference).await;
            to_checkout(host, lan, &id, "momo").await;
            id
        }
    };
    let cancelled = go_to_checkout("changed-mind", 80_000).await;
    let declined = decide_payment(&host, &lan, &cancelled, "cancel").await;
    assert_eq!(declined.status(), 200);
    let short = go_to_checkout("short", 50_000).await;

    let before = ledger(&host).await;
    let reports = [
        (
            &cancelled,
            80_000,
            "momo-after-cancel",
            409,
            "payment_not_pending",
        ),
        (&short, 45_000, "momo-short", 422, "invalid_payment"),
    ];
    for (id, amount, reference, status, code) in reports {
        let report =
            json!({ "intent": id, "amount": amount, "provider_ref": reference, "status": "paid" });
        for _ in 0..3 {
            let response = webhook(&host, signed_webhook(&report, SECRET)).await;
            assert_eq!(response.status(), status, "{reference}");
            assert_eq!(error_of(response).await.0, code, "{reference}");
        }
    }
    assert_eq!(ledger(&host).await, before, "no money moved");

    for (id, amount, reference, _, _) in reports {
        let deadline = Instant::now() + Duration::from_secs(20);
        let intent = loop {
            let intent = host.citadel.store.ledger.intent(id).await.unwrap().unwrap();
            let taken = intent
                .returned
                .first()
                .is_some_and(|r| r.provider.acknowledged_at.is_some());
            if taken || Instant::now() > deadline {
                break intent;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(intent.returned.len(), 1, "recorded once: {intent:?}");
        assert_eq!(intent.returned[0].payment_ref, reference);
        assert_eq!(intent.returned[0].amount, amount);
        assert!(
            intent.returned[0].provider.acknowledged_at.is_some(),
            "momo took {reference} back"
        );
        let seen = get_json(&host, &format!("/api/v1/me/payments/{id}"), Some(&lan)).await;
        assert_eq!(
            seen["returned"], amount,
            "the citizen sees it go back: {seen}"
        );
    }
    let status = |id: &String| {
        let host = &host;
        let id = id.clone();
        async move { stored_intent(host, &id).await.status }
    };
    assert_eq!(status(&cancelled).await, IntentStatus::Cancelled);
    assert_eq!(
        status(&short).await,
        IntentStatus::Pending,
        "the intent still waits for its amount"
    );

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 3, "refused once, then taken: {received:?}");
    let mut ids = Vec::new();
    for (timestamp, signature, body) in &received {
        assert_eq!(
            signature,
            &WebhookProvider::sign(SECRET, timestamp, body.as_bytes())
        );
        let body: Value = serde_json::from_str(body).unwrap();
        let (id, amount, reference, _, _) = reports
            .iter()
            .find(|r| body["payment_ref"] == r.2)
            .unwrap_or_else(|| panic!("a return of a reported payment: {body}"));
        assert_eq!(body["refund_id"], format!("{id}:return:{reference}"));
        assert_eq!(body["amount"], *amount);
        ids.push(body["refund_id"].as_str().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "one id per payment: {ids:?}");
    // A payment for no intent at all cannot be recorded on one: the city
    // is told, to give it back.
    let report = json!({ "intent": "pi_nobody", "amount": 1_000, "provider_ref": "momo-lost", "status": "paid" });
    let response = webhook(&host, signed_webhook(&report, SECRET)).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_of(response).await.0, "payment_not_found");
    let unapplied = citadel_tests::audit(&host, "kind=payment-unapplied").await;
    assert_eq!(unapplied.len(), 3, "audited once each: {unapplied:?}");
    let text = format!("{unapplied:?}");
    assert!(
        ["momo-after-cancel", "momo-short", "momo-lost"]
            .iter()
            .all(|reference| text.contains(reference)),
        "{text}"
    );
    // Audited just after the acknowledgement is recorded.
    let sent = citadel_tests::audit_at_least(&host, "kind=payment-refund-sent", 2).await;
    assert_eq!(sent.len(), 2);
    assert!(
        outbox_empties(&host, Duration::from_secs(5)).await,
        "nothing left to send"
    );
    let taken = paid_by_hand(
        &host,
        &cancelled,
        json!({ "reference": "momo-after-cancel", "returned_payment": true }),
    )
    .await;
    assert_eq!(taken.status(), 409);
    assert_eq!(error_of(taken).await.0, "refund_already_taken");
    let report = reconcile(&host).await;
    assert_eq!(report["clean"], true, "{report}");
    host.stop().await;
    server.abort();
}

/// Whether the outbox empties within `patience` (an entry is removed just
/// after its delivery is recorded, or when it falls due with nothing owed).
async fn outbox_empties(host: &TestHost, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if host.citadel.store.ledger.outbox().await.unwrap().is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A host that takes payments through `providers`, with the probe app
/// installed and Lan signed in (her token).
async fn paying_host(dir: &std::path::Path, providers: Vec<WebhookProvider>) -> (TestHost, String) {
    let host = TestHost::start_with(dir, |config| config.payments.providers = providers).await;
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;
    let lan = sign_in(&host, "c-lan").await;
    (host, lan)
}

/// While a host is sending a refund to its provider, an operator cannot
/// record it paid back by hand (the provider may be taking it: the citizen
/// would be paid twice); once the provider has answered, the operator's
/// record goes through only if the provider did not take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_being_sent_cannot_be_paid_back_by_hand_as_well() {
    use axum::http::StatusCode;
    // The provider holds each refund until the test lets it answer: it
    // takes `r-held` and `r-late`, and refuses `r-refused`.
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<String>();
    let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let app = axum::Router::new().route(
        "/refund",
        axum::routing::post({
            let release = release.clone();
            move |body: String| {
                let (arrived_tx, release) = (arrived_tx.clone(), release.clone());
                async move {
                    let _ = arrived_tx.send(body.clone());
                    release.acquire().await.unwrap().forget();
                    if body.contains("r-held") || body.contains("r-late") {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/refund", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let (host, lan) = paying_host(dir.path(), vec![provider("momo", Some(url))]).await;
    let id = intent_id(&host, &lan, 250_000, "in-flight").await;
    to_checkout(&host, &lan, &id, "momo").await;
    let report =
        json!({ "intent": id, "amount": 250_000, "provider_ref": "momo-7", "status": "paid" });
    assert_eq!(
        webhook(&host, signed_webhook(&report, SECRET))
            .await
            .status(),
        200
    );
    let refund = |reference: &'static str| {
        let url = host.url(&format!(
            "/apps/probe/refund/{id}?amount=50000&reference={reference}"
        ));
        async move { client().post(url).send().await.unwrap().status() }
    };

    // The provider has the refund and has not answered yet.
    assert_eq!(refund("r-held").await, 200);
    assert!(arrival(&mut arrived).await.contains("r-held"));
    let refused = paid_by_hand(&host, &id, json!({ "reference": "r-held" })).await;
    assert_eq!(refused.status(), 409);
    let (code, message) = error_of(refused).await;
    assert_eq!(code, "refund_in_flight", "{message}");
    // It takes it: the refund is the provider's, never the operator's too.
    release.add_permits(1);
    assert!(outbox_empties(&host, Duration::from_secs(20)).await);
    let taken = paid_by_hand(&host, &id, json!({ "reference": "r-held" })).await;
    assert_eq!(taken.status(), 409);
    assert_eq!(error_of(taken).await.0, "refund_already_taken");
    let intent = stored_intent(&host, &id).await;
    let owed = intent.owed("r-held", false).unwrap().provider.clone();
    assert!(owed.acknowledged_at.is_some() && owed.settled_by.is_none());
    assert_eq!(owed.sending_until, None, "the attempt is over");

    // Were a record by hand to land while the provider takes the refund
    // anyway (a host stalled past its window), the double payment is
    // audited for the city to recover.
    assert_eq!(refund("r-late").await, 200);
    assert!(arrival(&mut arrived).await.contains("r-late"));
    host.citadel
        .store
        .ledger
        .step(&id, None, &|intent, _| {
            let owed = intent.owed_mut("r-late", false).unwrap();
            owed.settled_by = Some("operator:ops".into());
            owed.acknowledged_at = Some(1);
            Ok(citadel_host::store::LedgerStep::default())
        })
        .await
        .unwrap()
        .unwrap();
    release.add_permits(1);
    assert!(outbox_empties(&host, Duration::from_secs(20)).await);
    let twice = citadel_tests::audit(&host, "kind=payment-refund-paid-twice").await;
    assert_eq!(twice.len(), 1, "{twice:?}");
    assert_eq!(twice[0]["message"]["params"]["operator"], "operator:ops");
    assert_eq!(twice[0]["message"]["params"]["reference"], "r-late");

    // A refund the provider refuses can be paid back by hand once the
    // attempt has ended, without waiting for the window.
    assert_eq!(refund("r-refused").await, 200);
    assert!(arrival(&mut arrived).await.contains("r-refused"));
    let refused = paid_by_hand(&host, &id, json!({ "reference": "r-refused" })).await;
    assert_eq!(error_of(refused).await.0, "refund_in_flight");
    // Every attempt from now on is answered (and refused) at once.
    release.add_permits(1_000);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let settled = paid_by_hand(&host, &id, json!({ "reference": "r-refused" })).await;
        if settled.status() == 200 {
            break;
        }
        assert_eq!(error_of(settled).await.0, "refund_in_flight");
        assert!(Instant::now() < deadline, "the refused attempt never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(outbox_empties(&host, Duration::from_secs(20)).await);
    assert_eq!(
        citadel_tests::audit(&host, "kind=payment-refund-paid-twice")
            .await
            .len(),
        1,
        "only the one above"
    );
    assert_eq!(
        citadel_tests::audit(&host, "kind=payment-refund-settled")
            .await
            .len(),
        1
    );
    let report = reconcile(&host).await;
    assert_eq!(report["clean"], true, "{report}");
    host.stop().await;
    server.abort();
}

/// The body of the next refund the provider receives.
async fn arrival(arrived: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(20), arrived.recv())
        .await
        .expect("the refund reaches the provider")
        .expect("the provider listens")
}
