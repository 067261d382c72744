//! Bãi đỗ xe Huế (`parking`), the sample written with the TypeScript SDK,
//! end to end through the gateway: the car parks from the city's map data,
//! the nearest ones with and without the citizen's location consent, free
//! spaces reported by car-park staff only, a parking session paid and marked
//! paid by the payment hook, and every refusal as a JSON error code.

use citadel_tests::{
    app_ids, client, decide_payment, get, get_json, give_consent, sign_in, status_and_code,
    TestHost,
};
use serde_json::{json, Value};
use std::time::Duration;

const APP: &str = "/apps/parking";
/// Beside Đông Ba market, whose car park is the nearest.
const DONG_BA: (f64, f64) = (16.4731, 107.5885);

async fn post_form(
    host: &TestHost,
    path: &str,
    token: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client().post(host.url(&format!("{APP}{path}"))).form(form);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the host answers")
}

/// Report `free` spaces at `lot` as the citizen `token`. Roles are the
/// city's grant, not personal data: no consent is asked first.
async fn report_free(host: &TestHost, token: &str, lot: &str, free: &str) -> reqwest::Response {
    post_form(
        host,
        &format!("/lots/{lot}/free"),
        Some(token),
        &[("free", free)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_browse_the_car_parks_in_vietnamese_and_english() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;

    // A sample like the Rust ones: in the catalogue.
    let catalogue = get_json(&host, "/api/v1/apps", None).await;
    assert!(app_ids(&catalogue).contains(&"parking".to_string()));

    let all = get_json(&host, &format!("{APP}/"), None).await;
    let lots = all["lots"].as_array().unwrap();
    assert_eq!(lots.len(), 9, "{all}");
    let dong_ba = lots
        .iter()
        .find(|l| l["id"] == "bai-do-xe-cho-dong-ba")
        .expect("Đông Ba's car park is listed");
    assert_eq!(dong_ba["name"], "Bãi đỗ xe chợ Đông Ba");
    assert_eq!(dong_ba["capacity"], 150);
    assert_eq!(dong_ba["price_per_hour"], 10000);
    assert_eq!(dong_ba["free"], Value::Null, "nothing reported yet");
    assert_eq!(dong_ba["ward"], "dong-ba");

    let one = get_json(&host, &format!("{APP}/lots/bai-do-xe-thien-mu"), None).await;
    assert_eq!(one["name"], "Bãi đỗ xe chùa Thiên Mụ");

    // Pages, Vietnamese first, English on request.
    let page = client()
        .get(host.url(&format!("{APP}/")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"vi\">"), "{html}");
    assert!(html.contains("Bãi đỗ xe Huế") && html.contains("Chưa cập nhật"));
    let html = client()
        .get(host.url(&format!("{APP}/lots/bai-do-xe-ga-hue?lang=en")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Huế car parks"));
    assert!(html.contains("name=\"hours\""), "{html}");

    // Unknown car parks, and places that are not car parks, are 404.
    for id in ["khong-co", "dai-noi"] {
        let response = get(&host, &format!("{APP}/lots/{id}"), None).await;
        assert_eq!(
            status_and_code(response).await,
            (404, "lot_not_found".into())
        );
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nearest_car_parks_need_the_citizens_consent_to_their_location() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let near = format!("{APP}/near");

    let response = get(&host, &near, None).await;
    assert_eq!(
        status_and_code(response).await,
        (401, "not_signed_in".into())
    );

    // No consent: the standard 428 that makes the shell open the consent page.
    let lan = sign_in(&host, "c-lan").await;
    let response = get(&host, &near, Some(&lan)).await;
    assert_eq!(response.status(), 428);
    assert_eq!(
        response.headers()["x-citadel-consent-url"],
        "/consent?app=parking&scopes=location"
    );
    assert_eq!(response.headers()["x-citadel-consent"], "location");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "consent_required");
    assert_eq!(body["error"]["scopes"], json!(["location"]));

    // Consented, but the device has not reported a position yet.
    assert_eq!(
        give_consent(&host, &lan, "parking", &["location"])
            .await
            .status(),
        201
    );
    let response = get(&host, &near, Some(&lan)).await;
    assert_eq!(
        status_and_code(response).await,
        (409, "location_unknown".into())
    );

    // The shell reports the position: the nearest car parks, nearest first.
    let (lat, lon) = DONG_BA;
    let reported = client()
        .put(host.url("/api/v1/me/location"))
        .bearer_auth(&lan)
        .json(&json!({ "lat": lat, "lon": lon }))
        .send()
        .await
        .unwrap();
    assert_eq!(reported.status(), 200);
    let nearest = get_json(&host, &near, Some(&lan)).await;
    let lots = nearest["lots"].as_array().unwrap();
    assert_eq!(lots.len(), 5, "{nearest}");
    assert_eq!(lots[0]["id"], "bai-do-xe-cho-dong-ba");
    let distances: Vec<f64> = lots
        .iter()
        .map(|l| l["distance_m"].as_f64().unwrap())
        .collect();
    assert!(distances[0] < 200.0, "{distances:?}");
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_car_park_staff_report_free_spaces() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let lot = "bai-do-xe-cho-dong-ba";

    let response = post_form(&host, &format!("/lots/{lot}/free"), None, &[("free", "42")]).await;
    assert_eq!(
        status_and_code(response).await,
        (401, "not_signed_in".into())
    );

    // A citizen without the car-park role is refused, page and API.
    let lan = sign_in(&host, "c-lan").await;
    let response = report_free(&host, &lan, lot, "42").await;
    assert_eq!(status_and_code(response).await, (403, "staff_only".into()));
    let response = get(&host, &format!("{APP}/staff"), Some(&lan)).await;
    assert_eq!(status_and_code(response).await, (403, "staff_only".into()));
    // Another unit's staff are not car-park staff either.
    let tuan = sign_in(&host, "c-tuan").await;
    let response = report_free(&host, &tuan, lot, "42").await;
    assert_eq!(status_and_code(response).await, (403, "staff_only".into()));

    // The car-park attendant reports; everyone sees it.
    let dung = sign_in(&host, "c-dung").await;
    let response = report_free(&host, &dung, lot, "42").await;
    assert_eq!(response.status(), 200);
    let reported: Value = response.json().await.unwrap();
    assert_eq!(reported["free"], 42);
    let seen = get_json(&host, &format!("{APP}/lots/{lot}"), None).await;
    assert_eq!(seen["free"], 42);
    assert!(seen["updated_at"].as_u64().is_some_and(|at| at > 0));
    let page = client()
        .get(host.url(&format!("{APP}/staff")))
        .bearer_auth(&dung)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("42/150 chỗ trống"));

    // A browser's form goes back to the staff page.
    let browser = client()
        .post(host.url(&format!("{APP}/lots/{lot}/free")))
        .bearer_auth(&dung)
        .header("accept", "text/html")
        .form(&[("free", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 303);
    assert_eq!(browser.headers()["location"], "/apps/parking/staff");
    assert_eq!(
        get_json(&host, &format!("{APP}/lots/{lot}"), None).await["free"],
        0
    );

    // Bad input is a JSON error with its code; nothing changes.
    for (free, code) in [
        ("151", "invalid_free_spaces"),
        ("-1", "invalid_free_spaces"),
        ("2.5", "invalid_free_spaces"),
        ("nhiều", "invalid_input"),
    ] {
        let response = report_free(&host, &dung, lot, free).await;
        assert_eq!(
            status_and_code(response).await,
            (422, code.into()),
            "{free}"
        );
    }
    let response = report_free(&host, &dung, "khong-co", "1").await;
    assert_eq!(
        status_and_code(response).await,
        (404, "lot_not_found".into())
    );
    assert_eq!(
        get_json(&host, &format!("{APP}/lots/{lot}"), None).await["free"],
        0
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parking_session_is_paid_and_the_hook_marks_it_paid() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let lot = "bai-do-xe-cho-dong-ba";
    let sessions = format!("/lots/{lot}/sessions");

    let response = post_form(&host, &sessions, None, &[("hours", "2")]).await;
    assert_eq!(
        status_and_code(response).await,
        (401, "not_signed_in".into())
    );
    let lan = sign_in(&host, "c-lan").await;
    for (hours, code) in [
        ("0", "invalid_hours"),
        ("13", "invalid_hours"),
        ("", "invalid_hours"),
        ("hai", "invalid_input"),
    ] {
        let response = post_form(&host, &sessions, Some(&lan), &[("hours", hours)]).await;
        assert_eq!(
            status_and_code(response).await,
            (422, code.into()),
            "{hours}"
        );
    }
    let response = post_form(
        &host,
        "/lots/khong-co/sessions",
        Some(&lan),
        &[("hours", "1")],
    )
    .await;
    assert_eq!(
        status_and_code(response).await,
        (404, "lot_not_found".into())
    );

    // Two hours at 10.000 ₫: a pending session and the host's payment page.
    let response = post_form(&host, &sessions, Some(&lan), &[("hours", "2")]).await;
    assert_eq!(response.status(), 201);
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["amount"], 20000);
    assert_eq!(started["status"], "pending");
    let id = started["id"].as_str().unwrap().to_string();
    let intent = started["intent"].as_str().unwrap().to_string();
    assert!(started["confirm_url"]
        .as_str()
        .is_some_and(|url| url.starts_with("/pay/")));
    let path = format!("{APP}/sessions/{id}");
    assert_eq!(
        get_json(&host, &path, Some(&lan)).await["status"],
        "pending"
    );

    // Nobody else sees it; nobody outside the host can post to the hook.
    let minh = sign_in(&host, "c-minh").await;
    let response = get(&host, &path, Some(&minh)).await;
    assert_eq!(
        status_and_code(response).await,
        (404, "session_not_found".into())
    );
    let forged = client()
        .post(host.url(&format!("{APP}/payments/hook")))
        .header("x-citadel-payment-event", "forged")
        .json(&json!({ "intent": { "id": intent, "reference": id, "amount": 20000, "status": "captured", "refunded": 0 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(forged).await, (400, "bad_request".into()));
    assert_eq!(
        get_json(&host, &path, Some(&lan)).await["status"],
        "pending"
    );

    // The citizen confirms on the host's page; the hook marks the session paid.
    let confirmed = decide_payment(&host, &lan, &intent, "confirm").await;
    assert_eq!(confirmed.status(), 200);
    let mut session = Value::Null;
    for _ in 0..100 {
        session = get_json(&host, &path, Some(&lan)).await;
        if session["status"] == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(session["status"], "paid", "{session}");
    assert!(session["paid_at"].as_u64().is_some_and(|at| at > 0));
    let page = client()
        .get(host.url(&path))
        .bearer_auth(&lan)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Đã thanh toán") && page.contains("20.000 ₫"),
        "{page}"
    );

    // A browser's pay button goes on to the host's payment page.
    let browser = client()
        .post(host.url(&format!("{APP}{sessions}")))
        .bearer_auth(&lan)
        .header("accept", "text/html")
        .form(&[("hours", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 303);
    assert!(browser.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/pay/"));
    host.stop().await;
}
