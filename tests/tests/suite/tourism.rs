//! The tourism mini-app end to end through the gateway: a citizen buys
//! monument tickets, pays through the host, gets QR e-tickets that gate
//! staff accept once each (even when gates race); cancelled and expired
//! payments leave no ticket until paid again; nobody else sees an order;
//! bad input is refused with a code; every page renders in both languages.

use citadel_host::store::KvSpace;
use citadel_tests::{client, decide_payment, sign_in, TestHost};
use serde_json::{json, Value};
use std::time::Duration;

const APP: &str = "/apps/tourism";

/// Days since 1970-01-01 as a `YYYY-MM-DD` date (Howard Hinnant's algorithm).
fn civil(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Seconds since the epoch, shifted to Huế's time (UTC+7).
fn hue_seconds() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64;
    now + 7 * 3600
}

/// The date `offset` days from today in Huế.
fn hue_date(offset: i64) -> String {
    civil(hue_seconds().div_euclid(86_400) + offset)
}

/// Tickets are for one day: keep a test from straddling midnight in Huế.
async fn away_from_midnight() {
    let left = 86_400 - hue_seconds().rem_euclid(86_400);
    if left < 120 {
        tokio::time::sleep(Duration::from_secs(left as u64 + 2)).await;
    }
}

/// The status and the parsed body of an answer; the error code, if any,
/// and the body's request id checked against the header's.
async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = response.json().await.expect("a JSON answer");
    if let Some(id) = body["error"]["request_id"].as_str() {
        assert_eq!(id, header_id, "the error quotes the request id");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    (status, body)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn post(host: &TestHost, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
    let mut request = client().post(host.url(&format!("{APP}{path}"))).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.expect("the host answers")).await
}

async fn get(host: &TestHost, token: Option<&str>, path: &str) -> (u16, Value) {
    let mut request = client().get(host.url(&format!("{APP}{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.expect("the host answers")).await
}

async fn order(host: &TestHost, token: &str, ticket: &str, quantity: u32, date: &str) -> Value {
    let (status, body) = post(
        host,
        Some(token),
        "/api/orders",
        json!({ "ticket": ticket, "quantity": quantity, "visit_date": date }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn intent_of(order: &Value) -> String {
    order["payment"]["intent"]
        .as_str()
        .expect("an intent")
        .to_string()
}

fn id_of(order: &Value) -> String {
    order["id"].as_str().expect("an order id").to_string()
}

/// The citizen acts on an intent in the host's own API (`confirm` or `cancel`).
async fn payment(host: &TestHost, token: &str, intent: &str, action: &str) -> (u16, Value) {
    answer(decide_payment(host, token, intent, action).await).await
}

/// Order and pay `quantity` tickets; the paid order as its owner sees it.
async fn buy(host: &TestHost, token: &str, ticket: &str, quantity: u32, date: &str) -> Value {
    let placed = order(host, token, ticket, quantity, date).await;
    let (status, body) = payment(host, token, &intent_of(&placed), "confirm").await;
    assert_eq!(status, 200, "{body}");
    let (status, paid) = get(
        host,
        Some(token),
        &format!("/api/orders/{}", id_of(&placed)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(paid["status"], "paid", "viewing syncs the payment: {paid}");
    paid
}

fn codes(order: &Value) -> Vec<String> {
    order["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["code"].as_str().expect("a code").to_string())
        .collect()
}

async fn validate(
    host: &TestHost,
    token: Option<&str>,
    code: &str,
    site: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({ "code": code });
    if let Some(site) = site {
        body["site"] = json!(site);
    }
    post(host, token, "/api/validate", body).await
}

/// The order as the app stored it, read from the host's store (no app call).
async fn stored_order(host: &TestHost, id: &str) -> Value {
    host.citadel
        .store
        .kv
        .get(KvSpace::App("tourism"), &format!("order/{id}"))
        .await
        .expect("the store answers")
        .map(|bytes| serde_json::from_slice(&bytes).expect("stored JSON"))
        .unwrap_or(Value::Null)
}

/// A page: status, content type and body.
async fn page(host: &TestHost, token: Option<&str>, path: &str) -> (u16, String, String) {
    let mut request = client().get(host.url(&format!("{APP}{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the host answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().await.expect("a body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_citizen_buys_tickets_and_each_admits_once_at_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    away_from_midnight().await;
    let lan = sign_in(&host, "c-lan").await;
    let binh = sign_in(&host, "c-binh").await; // bao-ton-di-tich, gate
    let minh = sign_in(&host, "c-minh").await;
    let today = hue_date(0);

    // The catalogue: sites from geo, prices from the app.
    let (status, sites) = get(&host, None, "/api/sites").await;
    assert_eq!(status, 200);
    let site = |id: &str| {
        sites["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} is listed"))
    };
    let price = |site: &Value, ticket: &str| {
        site["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == ticket)
            .map(|t| t["price"].as_u64().unwrap())
    };
    let dai_noi = site("dai-noi");
    assert_eq!(
        dai_noi["name"], "Đại Nội Huế (Hoàng thành)",
        "the name is geo's"
    );
    assert_eq!(dai_noi["category"], "heritage");
    assert_eq!(price(&dai_noi, "dai-noi-adult"), Some(200_000));
    assert_eq!(price(&dai_noi, "dai-noi-child"), Some(40_000));
    assert_eq!(price(&dai_noi, "combo-dai-noi-3-lang-adult"), Some(530_000));
    for tomb in ["lang-tu-duc", "lang-minh-mang", "lang-khai-dinh"] {
        let tomb_site = site(tomb);
        assert_eq!(price(&tomb_site, &format!("{tomb}-adult")), Some(150_000));
        assert_eq!(price(&tomb_site, &format!("{tomb}-child")), Some(30_000));
    }
    let thien_mu = site("chua-thien-mu");
    assert_eq!(thien_mu["free"], true);
    assert_eq!(thien_mu["tickets"], json!([]));
    assert!(sites["others"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == "cau-truong-tien"));
    let (_, found) = get(&host, None, "/api/sites?q=truong%20tien").await;
    assert!(found["others"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == "cau-truong-tien"));
    let (status, one) = get(&host, None, "/api/sites/dai-noi").await;
    assert_eq!(status, 200);
    assert!(one["hours"]["today"]["open"].is_string(), "{one}");
    assert!(one["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == "dem-hoang-cung"));

    // Gate staff are recognised by the role the city gave them: no consent.
    let (status, body) = validate(&host, Some(&binh), "ABCDEFGHJK", None).await;
    assert_eq!((status, code(&body)), (404, "unknown_ticket"));

    // Two adult tickets to the Imperial City.
    let placed = order(&host, &lan, "dai-noi-adult", 2, &today).await;
    assert_eq!(placed["status"], "pending");
    assert_eq!(placed["amount"], 400_000);
    assert_eq!(placed["site"]["id"], "dai-noi");
    assert_eq!(placed["tickets"], json!([]));
    let intent = intent_of(&placed);
    assert_eq!(placed["confirm_url"], format!("/pay/{intent}"));
    let id = id_of(&placed);
    assert_eq!(placed["payment"]["reference"], format!("order-{id}-1"));

    // Nothing validates before payment; the citizen pays in the host.
    let (status, body) = payment(&host, &lan, &intent, "confirm").await;
    assert_eq!(status, 200, "{body}");

    // The host's payment hook alone marks the order paid: the stored order
    // changes without anyone viewing it.
    let mut paid_by_hook = false;
    for _ in 0..100 {
        if stored_order(&host, &id).await["status"] == "paid" {
            paid_by_hook = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paid_by_hook, "the hook marked the order paid");
    for _ in 0..50 {
        if host.citadel.store.ledger.outbox().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        host.citadel.store.ledger.outbox().await.unwrap().is_empty(),
        "the hook answered 2xx"
    );

    let (status, paid) = get(&host, Some(&lan), &format!("/api/orders/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["payment"]["status"], "captured");
    assert_eq!(paid["confirm_url"], Value::Null);
    let tickets = codes(&paid);
    assert_eq!(tickets.len(), 2);
    assert_ne!(tickets[0], tickets[1]);
    for code in &tickets {
        assert_eq!(code.len(), 10);
        assert!(code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
    }
    let (_, mine) = get(&host, Some(&lan), "/api/orders").await;
    assert!(mine["orders"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["id"] == id.as_str() && o["status"] == "paid"));

    // The QR image, for the owner only.
    let qr = client()
        .get(host.url(&format!("{APP}/api/tickets/{}/qr.svg", tickets[0])))
        .bearer_auth(&lan)
        .send()
        .await
        .unwrap();
    assert_eq!(qr.status(), 200);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    let svg = qr.text().await.unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    let (status, body) = get(
        &host,
        Some(&minh),
        &format!("/api/tickets/{}/qr.svg", tickets[0]),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "ticket_not_found"));
    let (status, _, html) = page(&host, Some(&lan), &format!("/orders/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("<svg class=\"qr\"") && html.contains(&tickets[1]));

    // At the gate: once each.
    let (status, body) = validate(&host, Some(&binh), &tickets[0], None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["valid"], true);
    assert_eq!(body["site"]["id"], "dai-noi");
    assert_eq!(body["ticket"]["id"], "dai-noi-adult");
    assert_eq!(body["visit_date"], today.as_str());
    let (status, body) = validate(&host, Some(&binh), &tickets[0], Some("dai-noi")).await;
    assert_eq!((status, code(&body)), (409, "already_used"));
    assert_eq!(body["valid"], false);
    assert!(body["error"]["used_at"].as_u64().is_some(), "{body}");
    // Typed by hand in lower case with a dash, the other ticket still admits once.
    let typed = format!(
        "{}-{}",
        tickets[1][..5].to_lowercase(),
        tickets[1][5..].to_lowercase()
    );
    let (status, body) = validate(&host, Some(&binh), &typed, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = validate(&host, Some(&binh), &tickets[1], None).await;
    assert_eq!((status, code(&body)), (409, "already_used"));
    let (_, seen) = get(&host, Some(&lan), &format!("/api/orders/{id}")).await;
    assert_eq!(seen["tickets"][0]["used"][0]["site"], "dai-noi");

    // Unknown codes, a plain citizen, nobody.
    for unknown in ["ZZZZZZZZZZ", "abc", "../../x"] {
        let (status, body) = validate(&host, Some(&binh), unknown, None).await;
        assert_eq!((status, code(&body)), (404, "unknown_ticket"), "{unknown}");
    }
    let (status, body) = validate(&host, Some(&minh), &tickets[0], None).await;
    assert_eq!((status, code(&body)), (403, "staff_only"));
    let (status, body) = validate(&host, None, &tickets[0], None).await;
    assert_eq!((status, code(&body)), (401, "not_signed_in"));
    let (status, body) = post(&host, Some(&binh), "/api/validate", json!({})).await;
    assert_eq!((status, code(&body)), (422, "invalid_input"));

    // A ticket for tomorrow is refused today and stays unused.
    let tomorrow = buy(&host, &lan, "dai-noi-child", 1, &hue_date(1)).await;
    let early = &codes(&tomorrow)[0];
    let (status, body) = validate(&host, Some(&binh), early, None).await;
    assert_eq!((status, code(&body)), (409, "wrong_date"));
    assert_eq!(body["error"]["visit_date"], hue_date(1));
    let (_, seen) = get(
        &host,
        Some(&lan),
        &format!("/api/orders/{}", id_of(&tomorrow)),
    )
    .await;
    assert_eq!(seen["tickets"][0]["used"], json!([]));

    // A combined ticket admits once at each of its sites, nowhere else.
    let combo = buy(&host, &lan, "combo-dai-noi-3-lang-adult", 1, &today).await;
    assert_eq!(combo["amount"], 530_000);
    let pass = &codes(&combo)[0];
    let (status, body) = validate(&host, Some(&binh), pass, None).await;
    assert_eq!((status, code(&body)), (422, "invalid_input"));
    for site in ["dai-noi", "lang-tu-duc", "lang-minh-mang", "lang-khai-dinh"] {
        let (status, body) = validate(&host, Some(&binh), pass, Some(site)).await;
        assert_eq!(status, 200, "{site}: {body}");
        let (status, body) = validate(&host, Some(&binh), pass, Some(site)).await;
        assert_eq!((status, code(&body)), (409, "already_used"), "{site}");
    }
    let (status, body) = validate(&host, Some(&binh), pass, Some("lang-gia-long")).await;
    assert_eq!((status, code(&body)), (409, "wrong_site"));
    let (status, body) = validate(&host, Some(&binh), early, Some("lang-tu-duc")).await;
    assert_eq!((status, code(&body)), (409, "wrong_site"));

    // Eight gates racing with one fresh ticket: exactly one admits.
    let fresh = buy(&host, &lan, "dai-noi-adult", 1, &today).await;
    let fresh = codes(&fresh)[0].clone();
    let racing = (0..8).map(|_| validate(&host, Some(&binh), &fresh, None));
    let results = futures::future::join_all(racing).await;
    let admitted = results.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(admitted, 1, "{results:?}");
    for (status, body) in &results {
        assert!(
            *status == 200 || (*status == 409 && code(body) == "already_used"),
            "{status} {body}"
        );
    }

    // The gate page's form posts answer with a page.
    let response = client()
        .post(host.url(&format!("{APP}/api/validate")))
        .bearer_auth(&binh)
        .header("accept", "text/html")
        .form(&[("code", fresh.as_str()), ("site", "dai-noi")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(html.contains("Vé đã được sử dụng"), "{html}");

    // Nobody outside the host can forge a payment event.
    let (status, body) = post(
        &host,
        None,
        "/payments/hook",
        json!({ "event": "payment", "intent": { "id": "pi_x", "reference": format!("order-{id}-1"), "amount": 1, "status": "captured", "refunded": 0 } }),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "bad_request"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_or_expired_payments_leave_no_ticket_until_paid_again() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(dir.path(), |config| {
        config.payments.intent_ttl = Duration::from_secs(2);
    })
    .await;
    let lan = sign_in(&host, "c-lan").await;
    let date = hue_date(1);

    // Cancelled: unpaid, no ticket, nothing to show at a gate.
    let placed = order(&host, &lan, "lang-tu-duc-adult", 2, &date).await;
    let id = id_of(&placed);
    let first = intent_of(&placed);
    let (status, body) = payment(&host, &lan, &first, "cancel").await;
    assert_eq!(status, 200, "{body}");
    let (status, seen) = get(&host, Some(&lan), &format!("/api/orders/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(seen["status"], "unpaid");
    assert_eq!(seen["payment"]["status"], "cancelled");
    assert_eq!(seen["tickets"], json!([]));
    assert_eq!(seen["confirm_url"], Value::Null);
    assert_eq!(stored_order(&host, &id).await["tickets"], json!([]));
    let (status, _, html) = page(&host, Some(&lan), &format!("/orders/{id}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains("<svg"), "no QR for an unpaid order");
    assert!(html.contains("Thanh toán lại"));

    // A new attempt has a new reference and intent, and pays.
    let (status, again) = post(
        &host,
        Some(&lan),
        &format!("/api/orders/{id}/pay"),
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["status"], "pending");
    assert_eq!(again["attempt"], 2);
    assert_eq!(again["payment"]["reference"], format!("order-{id}-2"));
    let second = intent_of(&again);
    assert_ne!(second, first);
    assert_eq!(again["confirm_url"], format!("/pay/{second}"));
    // Asking again while it is pending gives the same intent.
    let (status, same) = post(
        &host,
        Some(&lan),
        &format!("/api/orders/{id}/pay"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(intent_of(&same), second);
    let (status, body) = payment(&host, &lan, &second, "confirm").await;
    assert_eq!(status, 200, "{body}");
    let (_, paid) = get(&host, Some(&lan), &format!("/api/orders/{id}")).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(codes(&paid).len(), 2);
    let (status, body) = post(
        &host,
        Some(&lan),
        &format!("/api/orders/{id}/pay"),
        json!({}),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "already_paid"));

    // Expired (the host's intents last 2 s here; the host applies expiry
    // when the intent is read, and so does the app's view of the order).
    let placed = order(&host, &lan, "dai-noi-child", 1, &date).await;
    let id = id_of(&placed);
    let stale = intent_of(&placed);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, seen) = get(&host, Some(&lan), &format!("/api/orders/{id}")).await;
    assert_eq!(seen["status"], "unpaid");
    assert_eq!(seen["payment"]["status"], "expired");
    assert_eq!(seen["tickets"], json!([]));
    let (status, body) = payment(&host, &lan, &stale, "confirm").await;
    assert_eq!((status, code(&body)), (409, "payment_expired"));
    let (_, seen) = get(&host, Some(&lan), &format!("/api/orders/{id}")).await;
    assert_eq!(
        seen["status"], "unpaid",
        "a refused late confirm changes nothing"
    );
    let (status, again) = post(
        &host,
        Some(&lan),
        &format!("/api/orders/{id}/pay"),
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{again}");
    let (status, body) = payment(&host, &lan, &intent_of(&again), "confirm").await;
    assert_eq!(status, 200, "{body}");
    let (_, paid) = get(&host, Some(&lan), &format!("/api/orders/{id}")).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["attempt"], 2);
    assert_eq!(codes(&paid).len(), 1);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_else_sees_or_pays_an_order() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let lan = sign_in(&host, "c-lan").await;
    let minh = sign_in(&host, "c-minh").await;
    let placed = order(&host, &lan, "lang-khai-dinh-adult", 1, &hue_date(2)).await;
    let id = id_of(&placed);

    let (status, body) = get(&host, Some(&minh), &format!("/api/orders/{id}")).await;
    assert_eq!((status, code(&body)), (404, "order_not_found"));
    let (status, body) = post(
        &host,
        Some(&minh),
        &format!("/api/orders/{id}/pay"),
        json!({}),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "order_not_found"));
    let (status, _, _) = page(&host, Some(&minh), &format!("/orders/{id}")).await;
    assert_eq!(status, 404);
    let (status, body) = payment(&host, &minh, &intent_of(&placed), "confirm").await;
    assert_eq!((status, code(&body)), (404, "payment_not_found"));
    let (_, theirs) = get(&host, Some(&minh), "/api/orders").await;
    assert_eq!(theirs["orders"], json!([]));
    let (_, mine) = get(&host, Some(&lan), "/api/orders").await;
    assert_eq!(mine["orders"][0]["id"], id.as_str());
    assert!(
        mine["orders"][0].get("owner").is_none(),
        "no pairwise id shown"
    );

    // Signed out: nothing at all.
    let (status, body) = get(&host, None, "/api/orders").await;
    assert_eq!((status, code(&body)), (401, "not_signed_in"));
    let (status, body) = get(&host, None, &format!("/api/orders/{id}")).await;
    assert_eq!((status, code(&body)), (401, "not_signed_in"));
    let (status, body) = post(
        &host,
        None,
        "/api/orders",
        json!({ "ticket": "dai-noi-adult", "quantity": 1, "visit_date": hue_date(1) }),
    )
    .await;
    assert_eq!((status, code(&body)), (401, "not_signed_in"));
    let unknown_order = "/api/orders/TO-000000000AAAAA";
    let (status, body) = get(&host, Some(&lan), unknown_order).await;
    assert_eq!((status, code(&body)), (404, "order_not_found"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_orders_are_refused_with_a_code_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let lan = sign_in(&host, "c-lan").await;
    let tomorrow = hue_date(1);
    let cases = [
        (
            json!({ "ticket": "dai-noi-adult", "quantity": 0, "visit_date": tomorrow }),
            422,
            "invalid_quantity",
        ),
        (
            json!({ "ticket": "dai-noi-adult", "quantity": 11, "visit_date": tomorrow }),
            422,
            "invalid_quantity",
        ),
        (
            json!({ "ticket": "dai-noi-adult", "quantity": "hai", "visit_date": tomorrow }),
            422,
            "invalid_quantity",
        ),
        (
            json!({ "ticket": "dai-noi-adult", "quantity": 1.5, "visit_date": tomorrow }),
            422,
            "invalid_quantity",
        ),
        (
            json!({ "ticket": "dai-noi-adult", "quantity": 1, "visit_date": hue_date(-1) }),
            422,
            "date_in_past",
        ),
        (
            json!({ "ticket": "dai-noi-adult", "quantity": 1, "visit_date": "2026-02-30" }),
            422,
            "invalid_date",
        ),
        (
            json!({ "ticket": "dai-noi-adult", "quantity": 1, "visit_date": "tomorrow" }),
            422,
            "invalid_date",
        ),
        (
            json!({ "ticket": "dai-noi-adult", "quantity": 1 }),
            422,
            "invalid_date",
        ),
        (
            json!({ "ticket": "dai-noi-adult", "quantity": 1, "visit_date": hue_date(400) }),
            422,
            "date_too_far",
        ),
        (
            json!({ "ticket": "dai-noi-vip", "quantity": 1, "visit_date": tomorrow }),
            422,
            "unknown_ticket",
        ),
        (
            json!({ "site": "chua-thien-mu", "quantity": 1, "visit_date": tomorrow }),
            422,
            "no_ticket_needed",
        ),
        (
            json!({ "quantity": 1, "visit_date": tomorrow }),
            422,
            "invalid_input",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let (status, answer) = post(&host, Some(&lan), "/api/orders", body.clone()).await;
        assert_eq!((status, code(&answer)), (want_status, want_code), "{body}");
    }
    let response = client()
        .post(host.url(&format!("{APP}/api/orders")))
        .bearer_auth(&lan)
        .header("content-type", "application/json")
        .body("{\"ticket\": \"dai-noi-adult\", ")
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_eq!((status, code(&body)), (400, "bad_request"));
    let (_, mine) = get(&host, Some(&lan), "/api/orders").await;
    assert_eq!(mine["orders"], json!([]), "nothing was ordered");

    // The form of the site page: site and type, urlencoded; a browser goes
    // on to the host's payment page.
    let response = client()
        .post(host.url(&format!("{APP}/api/orders")))
        .bearer_auth(&lan)
        .header("accept", "text/html")
        .form(&[
            ("site", "lang-minh-mang"),
            ("type", "child"),
            ("quantity", "3"),
            ("visit_date", tomorrow.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/pay/pi_"), "{location}");
    let (_, mine) = get(&host, Some(&lan), "/api/orders").await;
    let placed = &mine["orders"][0];
    assert_eq!(placed["ticket"]["id"], "lang-minh-mang-child");
    assert_eq!(placed["amount"], 90_000);
    assert_eq!(
        location,
        format!("/pay/{}?then=/orders/{}", intent_of(placed), id_of(placed)),
        "the shell reopens the order after paying"
    );
    // The order page's pay button leads to the same payment.
    let response = client()
        .post(host.url(&format!("{APP}/api/orders/{}/pay", id_of(placed))))
        .bearer_auth(&lan)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"].to_str().unwrap(), location);

    // Other bad input: unknown site, bad month, unknown ticket image.
    let (status, body) = get(&host, None, "/api/sites/no-such-place").await;
    assert_eq!((status, code(&body)), (404, "site_not_found"));
    let (status, body) = get(&host, None, "/api/events?month=2026-13").await;
    assert_eq!((status, code(&body)), (422, "invalid_month"));
    let (status, body) = get(&host, Some(&lan), "/api/tickets/ZZZZZZZZZZ/qr.svg").await;
    assert_eq!((status, code(&body)), (404, "ticket_not_found"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_in_both_languages_without_external_resources() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let lan = sign_in(&host, "c-lan").await;
    let binh = sign_in(&host, "c-binh").await;
    let paid = buy(&host, &lan, "dai-noi-adult", 1, &hue_date(1)).await;
    let pending = order(&host, &lan, "lang-tu-duc-child", 1, &hue_date(1)).await;

    // The events calendar.
    let (status, june) = get(&host, None, "/api/events?month=2026-06").await;
    assert_eq!(status, 200);
    assert_eq!(june["month"], "2026-06");
    let event = |calendar: &Value, id: &str| {
        calendar["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
    };
    let nightly = event(&june, "ca-hue-song-huong").expect("Ca Huế every night");
    assert_eq!(nightly["dates"].as_array().unwrap().len(), 30);
    assert!(
        event(&june, "festival-hue").is_some(),
        "Festival Huế in even years"
    );
    assert!(event(&june, "le-te-nam-giao").is_some());
    let palace = event(&june, "dem-hoang-cung").expect("Đêm Hoàng cung");
    // June 2026: Fridays, Saturdays and Sundays from the 5th.
    assert_eq!(palace["dates"][0], "2026-06-05");
    assert_eq!(palace["dates"].as_array().unwrap().len(), 12);
    let (_, june_2027) = get(&host, None, "/api/events?month=2027-06").await;
    assert!(event(&june_2027, "festival-hue").is_none());
    let (_, september) = get(&host, None, "/api/events?month=2026-09&lang=en").await;
    let race = event(&september, "dua-ghe-quoc-khanh").expect("the National Day boat race");
    assert_eq!(race["dates"], json!(["2026-09-02"]));
    assert_eq!(race["title"], "Traditional boat race on the Perfume River");
    let (status, now) = get(&host, None, "/api/events").await;
    assert_eq!(status, 200);
    assert_eq!(now["month"], hue_date(0)[..7]);

    let order_page = format!("/orders/{}", id_of(&paid));
    let pending_page = format!("/orders/{}", id_of(&pending));
    let pages: [(&str, Option<&str>, &str, &str); 12] = [
        ("/", None, "Vé tham quan di tích", "Monument tickets"),
        ("/?q=lang", None, "Lăng", "Tomb"),
        ("/sites/dai-noi", None, "Mua vé", "Buy tickets"),
        ("/sites/chua-thien-mu", None, "Vào cửa tự do", "Free entry"),
        ("/sites/cau-truong-tien", None, "không bán vé", "no tickets"),
        ("/sites/dai-noi", Some(&lan), "Ngày tham quan", "Visit date"),
        ("/events", None, "Ca Huế", "Perfume River"),
        ("/events?month=2026-06", None, "Festival", "Festival"),
        ("/orders", Some(&lan), "Đã thanh toán", "Paid"),
        (&order_page, Some(&lan), "Vé điện tử", "E-tickets"),
        (&pending_page, Some(&lan), "Thanh toán", "Pay"),
        ("/gate", Some(&binh), "Kiểm tra vé", "Check ticket"),
    ];
    for (path, token, vi, en) in pages {
        for (lang, want) in [("vi", vi), ("en", en)] {
            let url = match lang {
                "en" if path.contains('?') => format!("{path}&lang=en"),
                "en" => format!("{path}?lang=en"),
                _ => path.to_string(),
            };
            let (status, content_type, html) = page(&host, token, &url).await;
            assert_eq!(status, 200, "{url}: {html}");
            assert!(content_type.starts_with("text/html"), "{url}");
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "{url} loads nothing from elsewhere"
            );
            assert!(html.contains(&format!("<html lang=\"{lang}\"")), "{url}");
            assert!(html.contains(want), "{url} says {want}");
            // The gate link only for the gate staff, who gave no consent.
            assert_eq!(
                html.contains("/apps/tourism/gate"),
                token == Some(binh.as_str()),
                "{url}"
            );
        }
    }
    // Prices as Vietnam writes them.
    let (_, _, home) = page(&host, None, "/").await;
    for price in ["200.000 ₫", "40.000 ₫", "150.000 ₫", "530.000 ₫"] {
        assert!(home.contains(price), "{price}");
    }
    // The order page shows its QR inline; the gate page is for staff only.
    let (_, _, html) = page(&host, Some(&lan), &order_page).await;
    assert!(html.contains("<svg class=\"qr\""));
    let (status, _, _) = page(&host, Some(&lan), "/gate").await;
    assert_eq!(
        status, 403,
        "a citizen without the role is refused, not asked"
    );
    let (status, _, _) = page(&host, None, "/orders").await;
    assert_eq!(status, 401);
    let (status, _, _) = page(&host, None, "/sites/no-such-place").await;
    assert_eq!(status, 404);
    // Installed from manifests/ with its payment hook.
    let live = host
        .citadel
        .registry
        .live("tourism")
        .expect("tourism is live");
    assert_eq!(live.context.payment_hook.as_deref(), Some("/payments/hook"));
    host.stop().await;
}
