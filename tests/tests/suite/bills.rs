//! The water-bills mini-app (HueWACO) end to end through the gateway: bills
//! from its seeded store or a billing API (a local server), paid once, with
//! receipts private to the payer and payments reported back to the API.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get as route_get, post as route_post};
use axum::Json;
use citadel_tests::{
    audit, client, decide_payment, error_of, get, get_json, put_grants, sign_in, TestHost,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MANIFEST: &str = include_str!("../../../manifests/bills.toml");

/// A seeded customer and the bills the seed gives them.
const CUSTOMER: &str = "PK0012345";
const BILL: &str = "PK0012345-202610";
const BILL_AMOUNT: u64 = 198_700;
/// Paid at the company's counter, per the seed.
const BILL_PAID_AT_SOURCE: &str = "PK0012345-202608";

/// A customer only the local billing API knows.
const API_CUSTOMER: &str = "HX9876543";
const API_BILL: &str = "HW-2026-10-88";
const API_AMOUNT: u64 = 356_000;

async fn start(dir: &std::path::Path, ttl: Duration, loopback: bool) -> TestHost {
    TestHost::start_with(dir, |config| {
        config.payments.intent_ttl = ttl;
        config.allow_loopback_for_tests = loopback;
    })
    .await
}

/// Send `method path` as `token` with an optional JSON body; the response.
async fn call(
    host: &TestHost,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client().request(method, host.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("the host answers")
}

/// GET that must answer 200 with JSON.
async fn get_ok(host: &TestHost, path: &str, token: Option<&str>) -> Value {
    let response = get(host, path, token).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.expect("JSON")
}

/// (status, error code) of an error answer, checking its shape.
async fn code_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, error_of(response).await.0)
}

async fn pay(
    host: &TestHost,
    app: &str,
    token: Option<&str>,
    bill: &str,
    customer: &str,
) -> reqwest::Response {
    call(
        host,
        reqwest::Method::POST,
        &format!("/apps/{app}/api/bills/{bill}/pay"),
        token,
        Some(json!({ "customer": customer })),
    )
    .await
}

/// Pay and expect a new intent: (intent id, the answer).
async fn pay_new(
    host: &TestHost,
    app: &str,
    token: &str,
    bill: &str,
    customer: &str,
) -> (String, Value) {
    let response = pay(host, app, Some(token), bill, customer).await;
    assert_eq!(response.status(), 201, "paying {bill} starts a payment");
    let body: Value = response.json().await.unwrap();
    let id = body["intent"]["id"]
        .as_str()
        .expect("an intent id")
        .to_string();
    assert_eq!(body["confirm_url"], format!("/pay/{id}"));
    assert_eq!(body["intent"]["status"], "pending");
    (id, body)
}

async fn confirm(host: &TestHost, token: &str, intent: &str) -> reqwest::Response {
    decide_payment(host, token, intent, "confirm").await
}

async fn cancel(host: &TestHost, token: &str, intent: &str) -> reqwest::Response {
    decide_payment(host, token, intent, "cancel").await
}

/// One bill as the app shows it now.
async fn bill(
    host: &TestHost,
    app: &str,
    bill: &str,
    customer: &str,
    token: Option<&str>,
) -> Value {
    get_ok(
        host,
        &format!("/apps/{app}/api/bills/{bill}?customer={customer}"),
        token,
    )
    .await["bill"]
        .clone()
}

async fn receipts(host: &TestHost, app: &str, token: &str) -> Vec<Value> {
    get_ok(host, &format!("/apps/{app}/api/receipts"), Some(token)).await["receipts"]
        .as_array()
        .expect("receipts")
        .clone()
}

/// An HTML page: 200, HTML, and nothing loaded from (or linking to) elsewhere.
async fn html_page(host: &TestHost, path: &str, token: Option<&str>) -> String {
    let response = get(host, path, token).await;
    assert_eq!(response.status(), 200, "GET {path}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{path} is HTML"
    );
    let html = response.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{path} names no external resource: {html}"
    );
    html
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_bill_is_paid_once_and_the_receipt_stays_with_its_payer() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900), false).await;
    let lan = sign_in(&host, "c-lan").await;
    let minh = sign_in(&host, "c-minh").await;

    // Codes are accepted in any case; the seed is there on first use.
    let found = get_ok(&host, "/apps/bills/api/bills?customer=pk0012345", None).await;
    assert_eq!(found["source"], "seeded");
    assert_eq!(found["customer"]["code"], CUSTOMER);
    assert_eq!(found["customer"]["name"], "Nguyễn Văn Hùng");
    assert!(found["customer"]["address"]
        .as_str()
        .unwrap()
        .contains("Huế"));
    let bills = found["bills"].as_array().unwrap();
    assert_eq!(bills.len(), 3, "{found}");
    for b in bills {
        let amount = b["amount"].as_u64().unwrap();
        assert!((80_000..=450_000).contains(&amount), "{b}");
    }
    let october = bills
        .iter()
        .find(|b| b["id"] == BILL)
        .expect("the October bill");
    assert_eq!(
        (october["status"].as_str(), october["amount"].as_u64()),
        (Some("unpaid"), Some(BILL_AMOUNT))
    );
    assert_eq!(october["period"], "2026-10");
    assert_eq!(october["due"], "2026-11-15");
    assert!(october["overdue"].is_boolean(), "{october}");

    // Lan starts paying; the bill is pending, and only she sees where to confirm.
    let (intent, started) = pay_new(&host, "bills", &lan, BILL, CUSTOMER).await;
    assert_eq!(started["amount"], BILL_AMOUNT);
    assert_eq!(started["attempt"], 1);
    assert_eq!(started["intent"]["reference"], format!("bill-{BILL}-1"));
    assert_eq!(
        started["intent"]["description"],
        format!("Tiền nước kỳ 10/2026 – {CUSTOMER}")
    );
    let seen = bill(&host, "bills", BILL, CUSTOMER, Some(&lan)).await;
    assert_eq!(seen["status"], "pending");
    assert_eq!(seen["confirm_url"], format!("/pay/{intent}"));
    let seen = bill(&host, "bills", BILL, CUSTOMER, Some(&minh)).await;
    assert_eq!(seen["status"], "pending");
    assert!(seen.get("confirm_url").is_none(), "{seen}");
    // Nobody else pays it meanwhile; paying again resumes the same intent.
    assert_eq!(
        code_of(pay(&host, "bills", Some(&minh), BILL, CUSTOMER).await).await,
        (409, "payment_in_progress".into())
    );
    let again = pay(&host, "bills", Some(&lan), BILL, CUSTOMER).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["intent"]["id"], intent.as_str());

    // She confirms in the host; the bill is paid, the receipt is hers only.
    assert_eq!(confirm(&host, &lan, &intent).await.status(), 200);
    let paid = bill(&host, "bills", BILL, CUSTOMER, None).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["paid_via"], "citadel");
    assert!(paid["paid_at"].as_u64().is_some());
    let mine = receipts(&host, "bills", &lan).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["bill"], BILL);
    assert_eq!(mine[0]["intent"], intent.as_str());
    assert_eq!(mine[0]["amount"], BILL_AMOUNT);
    assert_eq!(mine[0]["customer"], CUSTOMER);
    assert!(receipts(&host, "bills", &minh).await.is_empty());
    assert_eq!(mine[0]["reference"], format!("bill-{BILL}-1"));
    let history = get_ok(&host, "/api/v1/me/payments", Some(&lan)).await;
    assert_eq!(history["payments"][0]["id"], intent.as_str());
    assert_eq!(history["payments"][0]["status"], "captured");

    // Where the shell reopens the app after the host's payment page: the
    // bill, paid, with its receipt, in either language — for Lan only.
    let paid_on = hue_time(mine[0]["paid_at"].as_u64().expect("paid_at"));
    let reference = format!("bill-{BILL}-1");
    for (query, words) in [
        (
            "",
            ["Đã thanh toán hóa đơn", "Thanh toán lúc", "Mã tham chiếu"],
        ),
        ("?lang=en", ["Bill paid", "Paid on", "Payment reference"]),
    ] {
        let path = format!("/apps/bills/receipts/{intent}{query}");
        let page = html_page(&host, &path, Some(&lan)).await;
        for expected in words.iter().copied().chain([
            "198.700 ₫",
            "Tiền nước kỳ 10/2026",
            "Nguyễn Văn Hùng",
            BILL,
            paid_on.as_str(),
            reference.as_str(),
            intent.as_str(),
        ]) {
            assert!(page.contains(expected), "{path} shows {expected}: {page}");
        }
    }
    assert_eq!(
        code_of(
            get(
                &host,
                &format!("/apps/bills/receipts/{intent}"),
                Some(&minh)
            )
            .await
        )
        .await,
        (404, "receipt_not_found".into()),
        "another citizen cannot see Lan's receipt by its id"
    );
    assert_eq!(
        code_of(get(&host, &format!("/apps/bills/receipts/{intent}"), None).await).await,
        (401, "not_signed_in".into())
    );
    for odd in [
        "..%2Fpaid%2FPK0012345-202610",
        "pi_%3Cscript%3E",
        "x".repeat(200).as_str(),
    ] {
        assert_eq!(
            code_of(get(&host, &format!("/apps/bills/receipts/{odd}"), Some(&lan)).await).await,
            (404, "receipt_not_found".into()),
            "{odd}"
        );
    }

    // Paid is paid, for anyone; so is a bill the company marks paid.
    for token in [&lan, &minh] {
        assert_eq!(
            code_of(pay(&host, "bills", Some(token), BILL, CUSTOMER).await).await,
            (409, "already_paid".into())
        );
    }
    assert_eq!(
        code_of(pay(&host, "bills", Some(&lan), BILL_PAID_AT_SOURCE, CUSTOMER).await).await,
        (409, "already_paid".into())
    );
    // A receipt is written once, however often it is looked at.
    assert_eq!(receipts(&host, "bills", &lan).await.len(), 1);

    // Nobody outside the host can post a payment event to the hook.
    let forged = client()
        .post(host.url("/apps/bills/payments/hook"))
        .header("x-citadel-payment-event", "forged")
        .json(&json!({ "event": "payment", "intent": { "id": intent, "reference": "x", "amount": 1, "status": "captured", "refunded": 0 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(forged).await, (400, "bad_request".into()));

    // A browser's pay button is sent on to the host's payment page.
    let browser = client()
        .post(host.url("/apps/bills/api/bills/PK0012345-202609/pay"))
        .bearer_auth(&minh)
        .header("accept", "text/html")
        .form(&[("customer", CUSTOMER)])
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 303);
    let location = browser.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/pay/pi_"), "{location}");
    // …which the shell shows, then reopens the app on this payment's page.
    let (confirm_url, then) = location.split_once("?then=").expect("a `then` path");
    let minh_intent = confirm_url.trim_start_matches("/pay/").to_string();
    assert_eq!(then, format!("/receipts/{minh_intent}"));
    let waiting = html_page(&host, &format!("/apps/bills{then}"), Some(&minh)).await;
    assert!(
        waiting.contains("Đang chờ xác nhận") && waiting.contains(confirm_url),
        "an unconfirmed payment says so, with the way to confirm: {waiting}"
    );

    // Every page, in Vietnamese and in English, loads nothing from elsewhere.
    let vy = sign_in(&host, "c-vy").await;
    for (lang, suffix, title) in [
        ("vi", "", "Hóa đơn tiền nước"),
        ("en", "lang=en", "Water bills"),
    ] {
        let q = |first: bool| match (suffix.is_empty(), first) {
            (true, _) => String::new(),
            (false, true) => format!("?{suffix}"),
            (false, false) => format!("&{suffix}"),
        };
        let home = html_page(&host, &format!("/apps/bills/{}", q(true)), None).await;
        assert!(home.contains(title), "{lang}: {home}");
        assert!(home.contains(&format!("lang=\"{lang}\"")));
        let listed = html_page(
            &host,
            &format!("/apps/bills/?customer={CUSTOMER}{}", q(false)),
            Some(&minh),
        )
        .await;
        assert!(listed.contains("Nguyễn Văn Hùng") && listed.contains("198.700 ₫"));
        // Minh has a payment waiting on the September bill: a link to resume it.
        assert!(listed.contains(confirm_url), "{lang}: {listed}");
        let other = html_page(
            &host,
            &format!("/apps/bills/?customer=PK0023456{}", q(false)),
            Some(&lan),
        )
        .await;
        assert!(
            other.contains("/apps/bills/api/bills/PK0023456-202610/pay"),
            "{lang}: a pay button: {other}"
        );
        let mine = html_page(
            &host,
            &format!("/apps/bills/receipts{}", q(true)),
            Some(&lan),
        )
        .await;
        assert!(mine.contains(&intent), "{lang}: {mine}");
        let none = html_page(
            &host,
            &format!("/apps/bills/receipts{}", q(true)),
            Some(&minh),
        )
        .await;
        assert!(!none.contains(&intent));
        let admin = html_page(&host, &format!("/apps/bills/admin{}", q(true)), Some(&vy)).await;
        assert!(admin.contains("name=\"url\""), "{lang}: {admin}");
    }
    // A bad code on the lookup page is explained, as a page.
    let bad = get(&host, "/apps/bills/?customer=12345", None).await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("PK0012345"));

    // Minh gives up: his payment's page says the bill is still unpaid.
    assert_eq!(cancel(&host, &minh, &minh_intent).await.status(), 200);
    for (query, words) in [
        ("", "hóa đơn chưa được thanh toán"),
        ("?lang=en", "this bill is still unpaid"),
    ] {
        let ended = html_page(
            &host,
            &format!("/apps/bills/receipts/{minh_intent}{query}"),
            Some(&minh),
        )
        .await;
        assert!(
            ended.contains(words) && ended.contains("PK0012345-202609"),
            "{ended}"
        );
    }
    host.stop().await;
}

/// The admin link is drawn only for the billing staff, who need no consent
/// for it; an app the city did not grant `identity.roles` cannot read roles
/// at all: no link, and its staff pages refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_billing_staff_see_the_admin_link_without_any_consent() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900), false).await;
    let vy = sign_in(&host, "c-vy").await;
    // Lan has no role; An has one elsewhere (the public-service centre).
    let lan = sign_in(&host, "c-lan").await;
    let an = sign_in(&host, "c-an").await;
    let has_link = |html: &str| html.contains("/apps/bills/admin");
    for (query, label) in [("", "Quản trị"), ("?lang=en", "Admin")] {
        for page in ["/", "/receipts"] {
            let path = format!("/apps/bills{page}{query}");
            let staff = html_page(&host, &path, Some(&vy)).await;
            assert!(has_link(&staff) && staff.contains(label), "{path}: {staff}");
            for token in [Some(lan.as_str()), Some(an.as_str())] {
                let other = html_page(&host, &path, token).await;
                assert!(
                    !has_link(&other) && !other.contains(label),
                    "{path}: {other}"
                );
            }
        }
        let anonymous = html_page(&host, &format!("/apps/bills/{query}"), None).await;
        assert!(!has_link(&anonymous), "{anonymous}");
    }
    let admin = html_page(&host, "/apps/bills/admin", Some(&vy)).await;
    assert!(admin.contains("name=\"url\""), "{admin}");
    assert_eq!(
        code_of(get(&host, "/apps/bills/admin", Some(&lan)).await).await,
        (403, "staff_only".into()),
        "the page still checks the role"
    );
    // Nobody was asked for, or gave, a consent.
    for token in [&vy, &lan, &an] {
        let consents = get_json(&host, "/api/v1/me/consents", Some(token)).await;
        assert_eq!(consents["consents"], json!([]), "{consents}");
    }

    // Without the city's `identity.roles` grant, the app cannot read roles:
    // no link for anyone, and the staff pages are refused for the grant.
    let response = put_grants(
        &host,
        "bills",
        json!(["kv", "payments", "http:https://billing.huewaco.vn"]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let home = html_page(&host, "/apps/bills/", Some(&vy)).await;
    assert!(!has_link(&home), "{home}");
    for path in ["/apps/bills/admin", "/apps/bills/api/admin/billing-api"] {
        let response = get(&host, path, Some(&vy)).await;
        assert_eq!(
            code_of(response).await,
            (403, "capability_denied".into()),
            "{path}"
        );
    }
    let denials = audit(&host, "kind=denial&app=bills&capability=identity.roles").await;
    assert!(!denials.is_empty(), "the refusals are audited");
    host.stop().await;
}

/// Unix milliseconds as the city writes a moment: `dd/mm/yyyy HH:MM` in
/// Asia/Ho_Chi_Minh (UTC+7, no daylight saving).
fn hue_time(unix_ms: u64) -> String {
    let zone = jiff::tz::TimeZone::fixed(jiff::tz::offset(7));
    let moment = jiff::Timestamp::from_millisecond(unix_ms as i64)
        .expect("a moment in range")
        .to_zoned_datetime(zone);
    format!(
        "{:02}/{:02}/{:04} {:02}:{:02}",
        moment.day(),
        moment.month(),
        moment.year(),
        moment.hour(),
        moment.minute()
    )
}

/// What the local billing API saw: (bill, body) of each payment report it
/// accepted, and how many it was sent (the first one fails).
#[derive(Default)]
struct Upstream {
    reports: Vec<(String, Value)>,
    attempts: usize,
}

type Shared = Arc<Mutex<Upstream>>;

async fn api_bills(Query(query): Query<HashMap<String, String>>) -> (StatusCode, Json<Value>) {
    if query.get("customer").map(String::as_str) != Some(API_CUSTOMER) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such customer" })),
        );
    }
    (
        StatusCode::OK,
        Json(json!({
            "customer": {
                "code": API_CUSTOMER,
                "name": "Khách sạn Sông Hương",
                "address": "9 Lê Lợi, phường Vĩnh Ninh, Huế",
            },
            "bills": [
                { "id": API_BILL, "period": "2026-10", "amount": API_AMOUNT, "due": "2026-11-15", "status": "unpaid" },
                { "id": "HW-2026-09-88", "period": "2026-09", "amount": 341_000, "due": "2026-10-15", "status": "paid" },
            ],
        })),
    )
}

async fn api_report(
    State(shared): State<Shared>,
    Path(bill): Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    let mut upstream = shared.lock().unwrap();
    upstream.attempts += 1;
    if upstream.attempts == 1 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    upstream.reports.push((bill, body));
    StatusCode::CREATED
}

/// The company's billing API on loopback, under `/v1`.
async fn billing_api() -> (SocketAddr, Shared, tokio::task::JoinHandle<()>) {
    let shared = Shared::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/v1/bills", route_get(api_bills))
        .route("/v1/bills/{id}/payments", route_post(api_report))
        .with_state(shared.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, shared, server)
}

/// The sample manifest as app `id`, allowed to reach `origin` instead of
/// the company's real API.
fn manifest_for(id: &str, origin: &str) -> String {
    let manifest = MANIFEST
        .replace("id = \"bills\"", &format!("id = \"{id}\""))
        .replace("http:https://billing.huewaco.vn", &format!("http:{origin}"));
    assert!(manifest.contains(origin) && manifest.contains(id));
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bills_from_the_billing_api_are_paid_and_reported_back() {
    let (upstream, shared, server) = billing_api().await;
    let port = upstream.port();
    let origin = format!("http://localhost:{port}");
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900), true).await;
    host.install_built("bills", &manifest_for("bills-local", &origin))
        .await;
    let app = "/apps/bills-local";
    let lan = sign_in(&host, "c-lan").await;
    let vy = sign_in(&host, "c-vy").await;

    // Staff are recognised by the role the city gave them (no consent asked).
    let admin_api = format!("{app}/api/admin/billing-api");
    let url = json!({ "url": format!("{origin}/v1/") });
    let before = get_ok(&host, &admin_api, Some(&vy)).await;
    assert_eq!(before["configured"], false);
    let response = call(
        &host,
        reqwest::Method::PUT,
        &admin_api,
        Some(&vy),
        Some(url),
    )
    .await;
    assert_eq!(response.status(), 200);
    let set: Value = response.json().await.unwrap();
    assert_eq!(set["url"], format!("{origin}/v1"), "normalised");
    assert_eq!(set["capability"], format!("http:{origin}"));
    let config = get_ok(&host, &admin_api, Some(&vy)).await;
    assert_eq!(
        (config["configured"].as_bool(), config["source"].as_str()),
        (Some(true), Some("api"))
    );

    // Bills now come from the API only: a seeded customer is unknown there.
    let response = get(&host, &format!("{app}/api/bills?customer={CUSTOMER}"), None).await;
    assert_eq!(code_of(response).await, (404, "customer_not_found".into()));
    let found = get_ok(
        &host,
        &format!("{app}/api/bills?customer={API_CUSTOMER}"),
        None,
    )
    .await;
    assert_eq!(found["source"], "api");
    assert_eq!(found["customer"]["name"], "Khách sạn Sông Hương");
    let statuses: Vec<(&str, &str)> = found["bills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["id"].as_str().unwrap(), b["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [(API_BILL, "unpaid"), ("HW-2026-09-88", "paid")]);

    // Pay with the code in the query; confirm; the hook reports it, and
    // retries after the API's first failure.
    let response = call(
        &host,
        reqwest::Method::POST,
        &format!("{app}/api/bills/{API_BILL}/pay?customer={API_CUSTOMER}"),
        Some(&lan),
        None,
    )
    .await;
    assert_eq!(response.status(), 201);
    let started: Value = response.json().await.unwrap();
    let intent = started["intent"]["id"].as_str().unwrap().to_string();
    assert_eq!(started["amount"], API_AMOUNT);
    assert_eq!(confirm(&host, &lan, &intent).await.status(), 200);
    let mut reported = false;
    for _ in 0..100 {
        if !shared.lock().unwrap().reports.is_empty() {
            reported = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reported, "the payment reached the billing API");
    {
        let upstream = shared.lock().unwrap();
        assert!(upstream.attempts >= 2, "the failed report was retried");
        let (bill, body) = &upstream.reports[0];
        assert_eq!(bill, API_BILL);
        assert_eq!(body["intent"], intent.as_str());
        assert_eq!(body["amount"], API_AMOUNT);
        assert!(
            body["paid_at"].as_str().unwrap().ends_with("+07:00"),
            "{body}"
        );
    }

    // Paid in the app although the API still says unpaid; reported once.
    let paid = bill(&host, "bills-local", API_BILL, API_CUSTOMER, Some(&lan)).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    let mine = receipts(&host, "bills-local", &lan).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["bill"], API_BILL);
    assert_eq!(
        code_of(pay(&host, "bills-local", Some(&lan), API_BILL, API_CUSTOMER).await).await,
        (409, "already_paid".into())
    );
    // Once the hook answered 2xx its outbox entry is gone: no retry is left
    // to report the payment again (retries back off 1 s, 2 s, 4 s …, so a
    // fixed sleep would not show that).
    let mut delivered = false;
    for _ in 0..200 {
        let pending = host
            .citadel
            .store
            .ledger
            .outbox()
            .await
            .unwrap()
            .iter()
            .any(|entry| entry.intent == intent);
        if !pending {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(delivered, "the payment event left the outbox");
    assert_eq!(shared.lock().unwrap().reports.len(), 1, "reported once");

    // Pages show the API's data, never its URL; the admin page its host only.
    for q in ["", "?lang=en"] {
        let sep = if q.is_empty() { "?" } else { "&" };
        let listed = html_page(
            &host,
            &format!("{app}/{q}{sep}customer={API_CUSTOMER}"),
            Some(&lan),
        )
        .await;
        assert!(listed.contains("Khách sạn Sông Hương") && listed.contains("356.000 ₫"));
        let admin = html_page(&host, &format!("{app}/admin{q}"), Some(&vy)).await;
        assert!(admin.contains(&format!("localhost:{port}")), "{admin}");
        html_page(&host, &format!("{app}/receipts{q}"), Some(&lan)).await;
    }

    // Without the city's grant the API is out of reach: a clear error, not
    // the seeded data.
    let response = put_grants(
        &host,
        "bills-local",
        json!(["kv", "payments", "identity.roles"]),
    )
    .await;
    assert!(response.status().is_success());
    let response = get(
        &host,
        &format!("{app}/api/bills?customer={API_CUSTOMER}"),
        None,
    )
    .await;
    assert_eq!(
        code_of(response).await,
        (503, "billing_api_not_allowed".into())
    );
    let response = get(&host, &format!("{app}/api/bills?customer={CUSTOMER}"), None).await;
    assert_eq!(
        code_of(response).await,
        (503, "billing_api_not_allowed".into())
    );

    // The admin page's form unsets it: back to the seeded store.
    let response = client()
        .post(host.url(&format!("{app}/admin/billing-api")))
        .bearer_auth(&vy)
        .form(&[("action", "unset")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], format!("{app}/admin"));
    let seeded = get_ok(&host, &format!("{app}/api/bills?customer={CUSTOMER}"), None).await;
    assert_eq!(seeded["source"], "seeded");
    let response = call(&host, reqwest::Method::DELETE, &admin_api, Some(&vy), None).await;
    assert_eq!(response.status(), 200);
    let removed: Value = response.json().await.unwrap();
    assert_eq!(
        (
            removed["configured"].as_bool(),
            removed["removed"].as_bool()
        ),
        (Some(false), Some(false))
    );
    host.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_the_city_did_not_grant_gives_a_clear_error() {
    let (upstream, _shared, server) = billing_api().await;
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900), true).await;
    let lan = sign_in(&host, "c-lan").await;
    let vy = sign_in(&host, "c-vy").await;
    // The sample app may reach only the company's real origin.
    let admin_api = "/apps/bills/api/admin/billing-api";
    let url = format!("http://localhost:{}/v1", upstream.port());
    let response = call(
        &host,
        reqwest::Method::PUT,
        admin_api,
        Some(&vy),
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(response.status(), 200);
    for path in [
        format!("/apps/bills/api/bills?customer={API_CUSTOMER}"),
        format!("/apps/bills/api/bills?customer={CUSTOMER}"),
        format!("/apps/bills/api/bills/{BILL}?customer={CUSTOMER}"),
    ] {
        let response = get(&host, &path, None).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"]["code"], "billing_api_not_allowed");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("localhost"),
            "the URL is not shown: {message}"
        );
    }
    assert_eq!(
        code_of(pay(&host, "bills", Some(&lan), BILL, CUSTOMER).await).await,
        (503, "billing_api_not_allowed".into())
    );
    // The page says so, as a page, without the URL.
    let page = get(&host, &format!("/apps/bills/?customer={CUSTOMER}"), None).await;
    assert_eq!(page.status(), 503);
    let html = page.text().await.unwrap();
    assert!(html.contains("billing_api_not_allowed") && !html.contains("localhost"));

    // Unset, the app is back on its own store.
    let response = call(&host, reqwest::Method::DELETE, admin_api, Some(&vy), None).await;
    let removed: Value = response.json().await.unwrap();
    assert_eq!(removed["removed"], true);
    let seeded = get_ok(
        &host,
        &format!("/apps/bills/api/bills?customer={CUSTOMER}"),
        None,
    )
    .await;
    assert_eq!(seeded["source"], "seeded");
    host.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_and_expired_payments_leave_the_bill_unpaid() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(1), false).await;
    let lan = sign_in(&host, "c-lan").await;
    let minh = sign_in(&host, "c-minh").await;
    let (bill_id, customer) = ("PK0023456-202610", "PK0023456");

    // Cancelled: unpaid, no receipt; paying again is a new attempt.
    let (first, _) = pay_new(&host, "bills", &lan, bill_id, customer).await;
    assert_eq!(cancel(&host, &lan, &first).await.status(), 200);
    assert_eq!(
        bill(&host, "bills", bill_id, customer, Some(&lan)).await["status"],
        "unpaid"
    );
    assert!(receipts(&host, "bills", &lan).await.is_empty());
    let (second, started) = pay_new(&host, "bills", &lan, bill_id, customer).await;
    assert_ne!(second, first);
    assert_eq!(started["attempt"], 2);
    assert_eq!(started["intent"]["reference"], format!("bill-{bill_id}-2"));

    // Expired (the host's intents live 1 s here): unpaid, cannot be
    // confirmed, no receipt, and the bill is free for anyone to pay.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        bill(&host, "bills", bill_id, customer, Some(&lan)).await["status"],
        "unpaid"
    );
    let response = confirm(&host, &lan, &second).await;
    assert_eq!(code_of(response).await, (409, "payment_expired".into()));
    assert!(receipts(&host, "bills", &lan).await.is_empty());
    let history = get_ok(&host, "/api/v1/me/payments", Some(&lan)).await;
    let statuses: Vec<&str> = history["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["expired", "cancelled"]);

    let (third, started) = pay_new(&host, "bills", &minh, bill_id, customer).await;
    assert_eq!(started["attempt"], 3);
    assert_eq!(confirm(&host, &minh, &third).await.status(), 200);
    assert_eq!(
        bill(&host, "bills", bill_id, customer, None).await["status"],
        "paid"
    );
    assert!(receipts(&host, "bills", &lan).await.is_empty());
    let theirs = receipts(&host, "bills", &minh).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["intent"], third.as_str());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_errors_with_codes() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), Duration::from_secs(900), false).await;
    let lan = sign_in(&host, "c-lan").await;
    let vy = sign_in(&host, "c-vy").await;

    for (path, expected) in [
        (
            "/apps/bills/api/bills?customer=12345",
            (422, "invalid_customer_code"),
        ),
        (
            "/apps/bills/api/bills?customer=PK00123456",
            (422, "invalid_customer_code"),
        ),
        (
            "/apps/bills/api/bills?customer=P%C4%900012345",
            (422, "invalid_customer_code"),
        ),
        ("/apps/bills/api/bills", (422, "invalid_input")),
        (
            "/apps/bills/api/bills?customer=PK9999999",
            (404, "customer_not_found"),
        ),
        (
            "/apps/bills/api/bills/PK0023456-202610?customer=PK0012345",
            (404, "bill_not_found"),
        ),
        (
            "/apps/bills/api/bills/..%2F..?customer=PK0012345",
            (404, "bill_not_found"),
        ),
        ("/apps/bills/api/receipts", (401, "not_signed_in")),
        ("/apps/bills/api/admin/billing-api", (401, "not_signed_in")),
    ] {
        let response = get(&host, path, None).await;
        let (status, code) = code_of(response).await;
        assert_eq!((status, code.as_str()), expected, "{path}");
    }

    // Paying: signed in, with a customer, a bill of that customer.
    assert_eq!(
        code_of(pay(&host, "bills", None, BILL, CUSTOMER).await).await,
        (401, "not_signed_in".into())
    );
    assert_eq!(
        code_of(pay(&host, "bills", Some(&lan), "NO-SUCH-BILL", CUSTOMER).await).await,
        (404, "bill_not_found".into())
    );
    assert_eq!(
        code_of(pay(&host, "bills", Some(&lan), BILL, "PK12").await).await,
        (422, "invalid_customer_code".into())
    );
    let response = call(
        &host,
        reqwest::Method::POST,
        &format!("/apps/bills/api/bills/{BILL}/pay"),
        Some(&lan),
        None,
    )
    .await;
    assert_eq!(code_of(response).await, (422, "invalid_input".into()));
    let response = client()
        .post(host.url(&format!("/apps/bills/api/bills/{BILL}/pay")))
        .bearer_auth(&lan)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(response).await, (400, "bad_request".into()));

    // Only billing staff configure the app: a citizen without the role is
    // refused at once (roles need no consent).
    let admin_api = "/apps/bills/api/admin/billing-api";
    let good = json!({ "url": "https://billing.huewaco.vn/api" });
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = call(
            &host,
            method.clone(),
            admin_api,
            Some(&lan),
            Some(good.clone()),
        )
        .await;
        assert_eq!(
            code_of(response).await,
            (403, "staff_only".into()),
            "{method}"
        );
    }
    let response = client()
        .post(host.url("/apps/bills/admin/billing-api"))
        .bearer_auth(&lan)
        .form(&[("url", "https://billing.huewaco.vn")])
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(response).await, (403, "staff_only".into()));
    let response = get(&host, "/apps/bills/admin", Some(&lan)).await;
    assert_eq!(code_of(response).await, (403, "staff_only".into()));

    for bad in [
        json!({ "url": "ftp://billing.huewaco.vn" }),
        json!({ "url": "javascript:alert(1)" }),
        json!({ "url": "billing.huewaco.vn" }),
        json!({ "url": "https://10.0.0.7/api" }),
        json!({ "url": "https://staff@billing.huewaco.vn" }),
        json!({ "url": "https://billing.huewaco.vn/?token=1" }),
        json!({ "url": "" }),
        json!({}),
    ] {
        let response = call(
            &host,
            reqwest::Method::PUT,
            admin_api,
            Some(&vy),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(
            code_of(response).await,
            (422, "invalid_url".into()),
            "{bad}"
        );
    }
    let response = call(
        &host,
        reqwest::Method::PUT,
        admin_api,
        Some(&vy),
        Some(json!({ "url": 7 })),
    )
    .await;
    assert_eq!(code_of(response).await, (422, "invalid_input".into()));
    // Nothing was configured by the refused attempts.
    let config = get_ok(&host, admin_api, Some(&vy)).await;
    assert_eq!(config["configured"], false);
    let response = call(
        &host,
        reqwest::Method::PUT,
        admin_api,
        Some(&vy),
        Some(good),
    )
    .await;
    assert_eq!(response.status(), 200);
    let set: Value = response.json().await.unwrap();
    assert_eq!(set["capability"], "http:https://billing.huewaco.vn");
    host.stop().await;
}
