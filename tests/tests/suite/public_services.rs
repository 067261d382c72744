//! The public-services mini-app end to end through the gateway: a dossier
//! prefilled only after consent, its fee paid on the host's page, then moved
//! by the public-service centre's staff to "result ready" with a
//! notification at each step; an unpaid fee leaves it unsubmitted.

use citadel_tests::{
    client, decide_payment, get_json, give_consent, sign_in, status_and_code, TestHost,
};
use serde_json::{json, Value};
use std::time::Duration;

const APP: &str = "/apps/public-services";
const PREFILL: [&str; 4] = [
    "identity.name",
    "identity.national-id",
    "identity.address",
    "identity.birth-date",
];

async fn post(host: &TestHost, token: &str, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(host.url(&format!("{APP}{path}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get(host: &TestHost, token: Option<&str>, path: &str) -> reqwest::Response {
    let mut request = client().get(host.url(&format!("{APP}{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn submit(host: &TestHost, token: &str, procedure: &str) -> reqwest::Response {
    post(
        host,
        token,
        "/api/dossiers",
        json!({ "procedure": procedure, "details": "Xin cấp giấy phép xây dựng nhà 3 tầng tại kiệt 12 Nguyễn Trãi" }),
    )
    .await
}

async fn set_status(
    host: &TestHost,
    token: &str,
    id: &str,
    status: &str,
    note: Option<&str>,
) -> reqwest::Response {
    post(
        host,
        token,
        &format!("/api/dossiers/{id}/status"),
        json!({ "status": status, "note": note }),
    )
    .await
}

#[tokio::test]
async fn a_dossier_goes_from_consent_and_fee_to_result_ready() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-lan").await;
    let officer = sign_in(&host, "c-an").await; // trung-tam-hcc officer

    // Without consent: no prefill, and every scope the form needs is asked for.
    let response = get(
        &host,
        Some(&citizen),
        "/api/procedures/giay-phep-xay-dung-nha-o/prefill",
    )
    .await;
    assert_eq!(response.status(), 428);
    let url = response.headers()["x-citadel-consent-url"]
        .to_str()
        .unwrap()
        .to_string();
    for scope in PREFILL {
        assert!(url.contains(scope), "{url} lacks {scope}");
    }
    let page = get(
        &host,
        Some(&citizen),
        "/procedures/giay-phep-xay-dung-nha-o/apply",
    )
    .await;
    assert_eq!(page.status(), 428);
    assert!(!page.text().await.unwrap().contains("046190001234"));
    assert_eq!(
        status_and_code(submit(&host, &citizen, "giay-phep-xay-dung-nha-o").await).await,
        (428, "consent_required".into())
    );

    assert_eq!(
        give_consent(&host, &citizen, "public-services", &PREFILL)
            .await
            .status(),
        201
    );
    let prefill: Value = get(
        &host,
        Some(&citizen),
        "/api/procedures/giay-phep-xay-dung-nha-o/prefill",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(prefill["applicant"]["name"], "Nguyễn Thị Lan");
    assert_eq!(prefill["applicant"]["national_id"], "046190001234");
    let page = get(
        &host,
        Some(&citizen),
        "/procedures/giay-phep-xay-dung-nha-o/apply",
    )
    .await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("046190001234"));

    // Submitting asks for the 75,000 ₫ fee on the host's page.
    let submitted = submit(&host, &citizen, "giay-phep-xay-dung-nha-o").await;
    assert_eq!(submitted.status(), 201);
    let dossier: Value = submitted.json().await.unwrap();
    let id = dossier["id"].as_str().unwrap().to_string();
    assert_eq!(dossier["status"], "awaiting_payment");
    assert_eq!(
        (dossier["fee"].as_u64(), dossier["paid"].as_bool()),
        (Some(75_000), Some(false))
    );
    let confirm_url = dossier["confirm_url"].as_str().unwrap().to_string();
    assert!(confirm_url.starts_with("/pay/"), "{confirm_url}");

    // Staff cannot accept an unpaid dossier.
    assert_eq!(
        status_and_code(set_status(&host, &officer, &id, "accepted", None).await)
            .await
            .0,
        409
    );

    assert_eq!(
        decide_payment(&host, &citizen, &confirm_url, "confirm")
            .await
            .status()
            .as_u16(),
        200
    );
    // The hook or the next view settles it: submitted and paid.
    let mut dossier = Value::Null;
    for _ in 0..50 {
        dossier = get(&host, Some(&citizen), &format!("/api/dossiers/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if dossier["status"] == "submitted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (dossier["status"].as_str(), dossier["paid"].as_bool()),
        (Some("submitted"), Some(true))
    );
    // Paying again is refused: nobody pays twice.
    assert_eq!(
        status_and_code(
            post(
                &host,
                &citizen,
                &format!("/api/dossiers/{id}/pay"),
                json!({})
            )
            .await
        )
        .await,
        (409, "already_paid".into())
    );

    // The officer's queue holds it; a plain citizen is refused the queue.
    let queue: Value = get(&host, Some(&officer), "/api/staff/dossiers")
        .await
        .json()
        .await
        .unwrap();
    assert!(queue["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["id"] == id.as_str()));
    assert_eq!(
        status_and_code(get(&host, Some(&citizen), "/api/staff/dossiers").await).await,
        (403, "staff_only".into())
    );
    assert_eq!(
        status_and_code(set_status(&host, &citizen, &id, "accepted", None).await).await,
        (403, "staff_only".into())
    );

    for status in ["accepted", "processing"] {
        assert_eq!(
            set_status(&host, &officer, &id, status, None)
                .await
                .status(),
            200,
            "{status}"
        );
    }
    // Returned for a supplement, then resubmitted by the citizen.
    assert_eq!(
        status_and_code(set_status(&host, &officer, &id, "returned", None).await)
            .await
            .0,
        422
    );
    assert_eq!(
        set_status(
            &host,
            &officer,
            &id,
            "returned",
            Some("Bổ sung bản vẽ mặt đứng")
        )
        .await
        .status(),
        200
    );
    let supplemented = post(
        &host,
        &citizen,
        &format!("/api/dossiers/{id}/supplement"),
        json!({ "note": "Đã bổ sung bản vẽ" }),
    )
    .await;
    assert_eq!(supplemented.status(), 200);
    for status in ["accepted", "processing", "result_ready"] {
        assert_eq!(
            set_status(&host, &officer, &id, status, None)
                .await
                .status(),
            200,
            "{status}"
        );
    }
    assert_eq!(
        status_and_code(set_status(&host, &officer, &id, "processing", None).await)
            .await
            .0,
        409
    );

    // The citizen rates it once; others cannot see it at all.
    assert_eq!(
        post(
            &host,
            &citizen,
            &format!("/api/dossiers/{id}/rating"),
            json!({ "rating": 5 })
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        status_and_code(
            post(
                &host,
                &citizen,
                &format!("/api/dossiers/{id}/rating"),
                json!({ "rating": 4 })
            )
            .await
        )
        .await
        .0,
        409
    );
    let stranger = sign_in(&host, "c-minh").await;
    assert_eq!(
        status_and_code(get(&host, Some(&stranger), &format!("/api/dossiers/{id}")).await)
            .await
            .0,
        404
    );

    let inbox = get_json(&host, "/api/v1/me/inbox", Some(&citizen)).await;
    let titles: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["app"] == "public-services")
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert!(titles.len() >= 5, "{titles:?}");
    for expected in [
        "Chờ nộp lệ phí",
        "đã nộp lệ phí",
        "Đã tiếp nhận",
        "Đang xử lý",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(expected)),
            "no notification `{expected}`: {titles:?}"
        );
    }
    let stats: Value = get(&host, None, "/api/stats").await.json().await.unwrap();
    assert_eq!(stats["satisfaction"], 1.0);
    assert!(stats["procedures"].as_u64().unwrap() >= 20);
    host.stop().await;
}

#[tokio::test]
async fn revoking_consent_asks_again() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-minh").await;
    give_consent(&host, &citizen, "public-services", &PREFILL).await;
    assert_eq!(
        get(
            &host,
            Some(&citizen),
            "/api/procedures/xac-nhan-cu-tru/prefill"
        )
        .await
        .status(),
        200
    );
    let revoked = client()
        .delete(host.url("/api/v1/me/consents/public-services?scope=identity.national-id"))
        .bearer_auth(&citizen)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let response = get(
        &host,
        Some(&citizen),
        "/api/procedures/xac-nhan-cu-tru/prefill",
    )
    .await;
    assert_eq!(response.status(), 428);
    assert_eq!(
        response.headers()["x-citadel-consent-url"]
            .to_str()
            .unwrap(),
        "/consent?app=public-services&scopes=identity.national-id"
    );
    // A free procedure goes straight to "submitted" once consent is back.
    give_consent(
        &host,
        &citizen,
        "public-services",
        &["identity.national-id"],
    )
    .await;
    let free: Value = submit(&host, &citizen, "xac-nhan-cu-tru")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (free["status"].as_str(), free["paid"].as_bool()),
        (Some("submitted"), Some(true))
    );
    host.stop().await;
}

#[tokio::test]
async fn a_cancelled_or_expired_fee_leaves_the_dossier_unpaid() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(dir.path(), |config| {
        config.payments.intent_ttl = Duration::from_secs(1);
    })
    .await;
    let citizen = sign_in(&host, "c-hoa").await;
    give_consent(&host, &citizen, "public-services", &PREFILL).await;

    let cancelled: Value = submit(&host, &citizen, "ly-lich-tu-phap")
        .await
        .json()
        .await
        .unwrap();
    let id = cancelled["id"].as_str().unwrap().to_string();
    assert_eq!(
        decide_payment(
            &host,
            &citizen,
            cancelled["confirm_url"].as_str().unwrap(),
            "cancel"
        )
        .await
        .status(),
        200
    );
    let view: Value = get(&host, Some(&citizen), &format!("/api/dossiers/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (view["status"].as_str(), view["paid"].as_bool()),
        (Some("awaiting_payment"), Some(false))
    );

    let expiring: Value = submit(&host, &citizen, "dang-ky-ho-kinh-doanh")
        .await
        .json()
        .await
        .unwrap();
    let expiring_id = expiring["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_ne!(
        decide_payment(
            &host,
            &citizen,
            expiring["confirm_url"].as_str().unwrap(),
            "confirm"
        )
        .await
        .status(),
        200
    );
    let view: Value = get(
        &host,
        Some(&citizen),
        &format!("/api/dossiers/{expiring_id}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (view["status"].as_str(), view["paid"].as_bool()),
        (Some("awaiting_payment"), Some(false))
    );

    // A new attempt for the cancelled one can be paid.
    let retry: Value = post(
        &host,
        &citizen,
        &format!("/api/dossiers/{id}/pay"),
        json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    let retry_url = retry["confirm_url"].as_str().unwrap();
    assert_ne!(retry_url, cancelled["confirm_url"].as_str().unwrap());
    assert_eq!(
        decide_payment(&host, &citizen, retry_url, "confirm")
            .await
            .status()
            .as_u16(),
        200
    );
    let view: Value = get(&host, Some(&citizen), &format!("/api/dossiers/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (view["status"].as_str(), view["paid"].as_bool()),
        (Some("submitted"), Some(true))
    );
    host.stop().await;
}

#[tokio::test]
async fn the_catalogue_and_every_page_work_offline_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-lan").await;
    let officer = sign_in(&host, "c-an").await;
    give_consent(&host, &citizen, "public-services", &PREFILL).await;

    let all: Value = get(&host, None, "/api/procedures")
        .await
        .json()
        .await
        .unwrap();
    let procedures = all["procedures"].as_array().unwrap();
    assert!(procedures.len() >= 20);
    for p in procedures {
        assert!(!p["documents"].as_array().unwrap().is_empty(), "{p}");
        assert!(p["processing_days"].as_u64().unwrap() > 0);
    }
    let found: Value = get(&host, None, "/api/procedures?q=khai%20sinh")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["procedures"][0]["id"], "dang-ky-khai-sinh");
    let one: Value = get(&host, None, "/api/procedures/dang-ky-ho-kinh-doanh")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["fee"], 100_000);
    assert_eq!(
        status_and_code(get(&host, None, "/api/procedures/nope").await)
            .await
            .0,
        404
    );
    assert_eq!(
        status_and_code(get(&host, None, "/api/dossiers").await)
            .await
            .0,
        401
    );
    assert_eq!(
        status_and_code(submit(&host, &citizen, "nope").await)
            .await
            .0,
        422
    );
    assert_eq!(
        status_and_code(post(&host, &citizen, "/api/dossiers", json!({})).await)
            .await
            .0,
        422
    );
    assert_eq!(
        status_and_code(get(&host, Some(&citizen), "/api/dossiers/HS-../../x").await)
            .await
            .0,
        404
    );

    let dossier: Value = submit(&host, &citizen, "trich-luc-ho-tich")
        .await
        .json()
        .await
        .unwrap();
    let id = dossier["id"].as_str().unwrap();
    let mine: Value = get(&host, Some(&citizen), "/api/dossiers")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["dossiers"].as_array().unwrap().len(), 1);

    for (token, path) in [
        (None, "/".to_string()),
        (None, "/?q=xay%20dung".to_string()),
        (None, "/procedures/dang-ky-khai-sinh".to_string()),
        (
            Some(&citizen),
            "/procedures/dang-ky-khai-sinh/apply".to_string(),
        ),
        (Some(&citizen), "/dossiers".to_string()),
        (Some(&citizen), format!("/dossiers/{id}")),
        (Some(&officer), "/staff".to_string()),
    ] {
        for lang in ["vi", "en"] {
            let separator = if path.contains('?') { '&' } else { '?' };
            let response = get(
                &host,
                token.map(String::as_str),
                &format!("{path}{separator}lang={lang}"),
            )
            .await;
            assert_eq!(response.status(), 200, "{path} in {lang}");
            let html = response.text().await.unwrap();
            assert!(html.contains(&format!("lang=\"{lang}\"")), "{path}");
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "{path} loads something from elsewhere"
            );
            // The staff link only for the centre's staff (no consent asked).
            assert_eq!(
                html.contains("href=\"/apps/public-services/staff\""),
                token == Some(&officer),
                "{path} in {lang}: {html}"
            );
        }
    }
    let consents: Value = get_json(&host, "/api/v1/me/consents", Some(&officer)).await;
    assert_eq!(consents["consents"], json!([]), "{consents}");
    host.stop().await;
}

/// Submitting is a create path: dossiers submitted at the same moment all
/// land, each under its own id, and each citizen sees exactly theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_all_land_under_their_own_ids() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let lan = sign_in(&host, "c-lan").await;
    let minh = sign_in(&host, "c-minh").await;
    for token in [&lan, &minh] {
        give_consent(&host, token, "public-services", &PREFILL).await;
    }
    let submissions = (0..16).map(|n| {
        let token = if n % 2 == 0 {
            lan.clone()
        } else {
            minh.clone()
        };
        let host = &host;
        async move {
            let response = submit(host, &token, "giay-phep-xay-dung-nha-o").await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert!(
                status == 201 || status == 200,
                "submission {n}: {status} {body}"
            );
            body["id"].as_str().expect("a dossier id").to_string()
        }
    });
    let ids = futures::future::join_all(submissions).await;
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "every dossier got its own id");
    host.stop().await;
}
