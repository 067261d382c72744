//! The field-reports mini-app end to end through the gateway: a citizen
//! files a report, it is routed to the right unit, that unit's staff move it
//! through the workflow, the citizen is notified at each step and rates it;
//! the public view holds nothing personal; nobody else can move it.

use citadel_tests::{
    client, get_json, give_consent, multipart_body, sign_in, status_and_code, TestHost,
};
use serde_json::{json, Value};

/// 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// A file of a multipart form: field name, file name, bytes.
type File<'a> = (&'a str, &'a str, &'a [u8]);
/// A filing: text fields, files, the status it must get.
type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<File<'a>>, u16);

/// A point on Hùng Vương street in Phú Hội ward.
const PHU_HOI: (f64, f64) = (16.4627, 107.5965);

async fn file(
    host: &TestHost,
    token: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> reqwest::Response {
    let (content_type, body) = multipart_body(fields, files);
    client()
        .post(host.url("/apps/field-reports/api/reports"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post_json(host: &TestHost, token: &str, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(host.url(&format!("/apps/field-reports{path}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn set_status(
    host: &TestHost,
    token: &str,
    id: &str,
    status: &str,
    note: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({ "status": status });
    if let Some(note) = note {
        body["note"] = json!(note);
    }
    post_json(host, token, &format!("/api/reports/{id}/status"), body).await
}

async fn inbox_titles(host: &TestHost, token: &str) -> Vec<String> {
    let inbox = get_json(host, "/api/v1/me/inbox", Some(token)).await;
    inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["app"] == "field-reports")
        .map(|m| m["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_report_goes_from_filing_to_rating_with_a_notification_at_each_step() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-lan").await;
    let staff = sign_in(&host, "c-tuan").await; // ubnd-phu-hoi staff

    let (lat, lon) = (PHU_HOI.0.to_string(), PHU_HOI.1.to_string());
    let filed = file(
        &host,
        &citizen,
        &[
            ("category", "urban-order"),
            ("description", "Quán cà phê lấn chiếm toàn bộ vỉa hè"),
            ("lat", &lat),
            ("lon", &lon),
        ],
        &[("photos", "vihe.png", PNG)],
    )
    .await;
    assert_eq!(filed.status(), 201);
    let report: Value = filed.json().await.unwrap();
    let id = report["id"].as_str().unwrap().to_string();
    assert_eq!(report["status"], "received");
    assert_eq!(report["unit"]["id"], "ubnd-phu-hoi");
    assert_eq!(report["ward"]["id"], "phu-hoi");
    assert_eq!(report["photos"].as_array().unwrap().len(), 1);
    assert!(report["deadline_at"].as_u64().unwrap() > report["created_at"].as_u64().unwrap());

    // Citizens see a short code: `PA-`, Huế's date as ddmmyy, the day's
    // number; it finds the report as the id does, in any case.
    let code = report["code"].as_str().unwrap().to_string();
    let shape: Vec<&str> = code.split('-').collect();
    assert!(
        matches!(shape.as_slice(), ["PA", date, n]
            if date.len() == 6 && n.len() == 4
                && format!("{date}{n}").bytes().all(|b| b.is_ascii_digit())),
        "{code}"
    );
    for name in [code.clone(), code.to_lowercase()] {
        let found = get_json(
            &host,
            &format!("/apps/field-reports/api/reports/{name}"),
            None,
        )
        .await;
        assert_eq!(found["id"], id.as_str(), "{name}");
    }

    // The photo comes back as it was sent.
    let photo = client()
        .get(host.url(&format!("/apps/field-reports/api/reports/{id}/photos/0")))
        .send()
        .await
        .unwrap();
    assert_eq!(photo.headers()["content-type"], "image/png");
    assert_eq!(photo.bytes().await.unwrap().as_ref(), PNG);

    // Staff are recognised by the role the city gave them, with no consent
    // asked: only they see the staff link.
    for (token, staff_link) in [(Some(&staff), true), (Some(&citizen), false), (None, false)] {
        let mut request = client().get(host.url("/apps/field-reports/"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let home = request.send().await.unwrap().text().await.unwrap();
        assert_eq!(
            home.contains("/apps/field-reports/staff") && home.contains("Cán bộ"),
            staff_link,
            "{home}"
        );
    }
    let consents = get_json(&host, "/api/v1/me/consents", Some(&staff)).await;
    assert_eq!(consents["consents"], json!([]));
    let queue = get_json(&host, "/apps/field-reports/api/staff/reports", Some(&staff)).await;
    assert_eq!(queue["reports"][0]["id"], id.as_str());

    for (status, note) in [
        ("assigned", None),
        ("in_progress", Some("Đã cử cán bộ đến kiểm tra")),
        (
            "resolved",
            Some("Đã yêu cầu chủ quán dọn dẹp, vỉa hè thông thoáng"),
        ),
    ] {
        let response = set_status(&host, &staff, &id, status, note).await;
        assert_eq!(response.status(), 200, "{status}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], status);
    }
    // A resolved report cannot be reopened or rejected.
    assert_eq!(
        status_and_code(set_status(&host, &staff, &id, "rejected", Some("x")).await).await,
        (409, "conflict".into())
    );

    // Only the author rates, once, 1 to 5.
    let rating_path = format!("/api/reports/{id}/rating");
    let rate = |token: String, value: Value| {
        let path = rating_path.clone();
        let host = &host;
        async move { post_json(host, &token, &path, json!({ "rating": value })).await }
    };
    assert_eq!(
        status_and_code(rate(staff.clone(), json!(5)).await).await.1,
        "not_your_report"
    );
    assert_eq!(
        status_and_code(rate(citizen.clone(), json!(9)).await)
            .await
            .0,
        422
    );
    let rated = rate(citizen.clone(), json!(5)).await;
    assert_eq!(rated.status(), 200);
    assert_eq!(
        status_and_code(rate(citizen.clone(), json!(4)).await)
            .await
            .0,
        409
    );

    let titles = inbox_titles(&host, &citizen).await;
    assert_eq!(titles.len(), 4, "{titles:?}");
    for expected in [
        "Đã tiếp nhận",
        "Đã phân công",
        "Đang xử lý",
        "Đã xử lý xong",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(expected)),
            "no notification saying {expected}: {titles:?}"
        );
    }
    assert!(inbox_titles(&host, &staff).await.is_empty());

    let overview = get_json(&host, "/apps/field-reports/api/overview", None).await;
    let unit = overview["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == "ubnd-phu-hoi")
        .unwrap();
    assert_eq!(
        (unit["open"].as_u64(), unit["handled"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(unit["average_rating"], 5.0);

    let mine = get_json(&host, "/apps/field-reports/api/mine", Some(&citizen)).await;
    assert_eq!(mine["reports"].as_array().unwrap().len(), 1);
    host.stop().await;
}

#[tokio::test]
async fn the_public_view_shows_nothing_personal() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-lan").await;
    let filed = file(
        &host,
        &citizen,
        &[
            ("category", "waste"),
            ("description", "Rác tồn đọng nhiều ngày"),
            ("place", "cho-dong-ba"),
        ],
        &[],
    )
    .await;
    assert_eq!(filed.status(), 201);
    let filed: Value = filed.json().await.unwrap();
    let id = filed["id"].as_str().unwrap().to_string();
    // Pages show the report's short code, the API its id too.
    let code = filed["code"].as_str().unwrap().to_string();

    let pairwise = host.citadel.pairwise.pairwise_id("field-reports", "c-lan");
    let lan = host.citadel.identity.citizen("c-lan").unwrap();
    let personal = [
        lan.name.as_str(),
        lan.phone.as_str(),
        lan.national_id.as_str(),
        pairwise.as_str(),
        "c-lan",
    ];
    let mut views = Vec::new();
    for path in [
        "/apps/field-reports/api/reports".to_string(),
        format!("/apps/field-reports/api/reports/{id}"),
        "/apps/field-reports/api/overview".to_string(),
        "/apps/field-reports/".to_string(),
        format!("/apps/field-reports/reports/{id}"),
        "/apps/field-reports/units".to_string(),
    ] {
        // Anonymous and signed-in visitors see the same public view.
        for token in [None, Some(citizen.as_str())] {
            let mut request = client().get(host.url(&path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            views.push((path.clone(), response.text().await.unwrap()));
        }
    }
    for (path, body) in &views {
        assert!(
            body.contains(&id)
                || body.contains(&code)
                || path.ends_with("overview")
                || path.ends_with("units"),
            "{path}"
        );
        for secret in personal {
            assert!(!body.contains(secret), "{path} shows `{secret}`");
        }
        for field in ["author", "handler"] {
            assert!(
                !body.contains(&format!("\"{field}\"")),
                "{path} has a `{field}` field"
            );
        }
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} loads something from elsewhere"
        );
    }
    host.stop().await;
}

#[tokio::test]
async fn only_staff_of_the_routed_unit_may_move_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-lan").await;
    let other_citizen = sign_in(&host, "c-minh").await;
    let phu_hoi_staff = sign_in(&host, "c-tuan").await;
    let environment_staff = sign_in(&host, "c-thu").await; // moitruong-do-thi-hue
    let (lat, lon) = (PHU_HOI.0.to_string(), PHU_HOI.1.to_string());
    let filed = file(
        &host,
        &citizen,
        &[
            ("category", "urban-order"),
            ("description", "Xe máy đậu kín vỉa hè"),
            ("lat", &lat),
            ("lon", &lon),
        ],
        &[],
    )
    .await;
    let id = filed.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Another unit's staff, the author and another citizen are refused.
    assert_eq!(
        status_and_code(set_status(&host, &environment_staff, &id, "assigned", None).await).await,
        (403, "not_your_unit".into())
    );
    for token in [&citizen, &other_citizen] {
        assert_eq!(
            status_and_code(set_status(&host, token, &id, "assigned", None).await).await,
            (403, "staff_only".into())
        );
    }
    // Signed out: 401; skipping a step: 409; a rejection needs a reason.
    let anonymous = client()
        .post(host.url(&format!("/apps/field-reports/api/reports/{id}/status")))
        .json(&json!({ "status": "assigned" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        status_and_code(set_status(&host, &phu_hoi_staff, &id, "resolved", None).await)
            .await
            .0,
        409
    );
    assert_eq!(
        status_and_code(set_status(&host, &phu_hoi_staff, &id, "rejected", None).await)
            .await
            .0,
        422
    );
    assert_eq!(
        status_and_code(set_status(&host, &phu_hoi_staff, &id, "archived", None).await)
            .await
            .0,
        422
    );
    // Nothing changed the report.
    let report = get_json(
        &host,
        &format!("/apps/field-reports/api/reports/{id}"),
        None,
    )
    .await;
    assert_eq!(report["status"], "received");
    assert_eq!(report["history"].as_array().unwrap().len(), 1);

    // The routed unit's staff may reject it, with a reason the public sees.
    let rejected = set_status(
        &host,
        &phu_hoi_staff,
        &id,
        "rejected",
        Some("Trùng phản ánh trước"),
    )
    .await;
    assert_eq!(rejected.status(), 200);
    let report = get_json(
        &host,
        &format!("/apps/field-reports/api/reports/{id}"),
        None,
    )
    .await;
    assert_eq!(report["history"][1]["note"], "Trùng phản ánh trước");
    host.stop().await;
}

#[tokio::test]
async fn bad_reports_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-lan").await;
    let (lat, lon) = (PHU_HOI.0.to_string(), PHU_HOI.1.to_string());
    let base = [
        ("category", "waste"),
        ("description", "Rác"),
        ("lat", lat.as_str()),
        ("lon", lon.as_str()),
    ];
    let big = vec![0xFFu8, 0xD8, 0xFF]
        .into_iter()
        .chain(std::iter::repeat_n(0u8, 2 * 1024 * 1024))
        .collect::<Vec<u8>>();
    let cases: Vec<Case> = vec![
        (
            vec![("description", "Rác"), ("lat", &lat), ("lon", &lon)],
            vec![],
            422,
        ),
        (
            vec![
                ("category", "aliens"),
                ("description", "x"),
                ("lat", &lat),
                ("lon", &lon),
            ],
            vec![],
            422,
        ),
        (
            vec![("category", "waste"), ("description", "x")],
            vec![],
            422,
        ),
        (
            vec![
                ("category", "waste"),
                ("description", "x"),
                ("lat", "abc"),
                ("lon", &lon),
            ],
            vec![],
            422,
        ),
        (
            vec![
                ("category", "waste"),
                ("description", "x"),
                ("lat", "95"),
                ("lon", &lon),
            ],
            vec![],
            422,
        ),
        (
            vec![
                ("category", "waste"),
                ("description", "x"),
                ("place", "nowhere"),
            ],
            vec![],
            422,
        ),
        (
            base.to_vec(),
            vec![("photos", "a.svg", b"<svg onload=alert(1)>")],
            415,
        ),
        (base.to_vec(), vec![("photos", "big.jpg", &big)], 413),
        (
            base.to_vec(),
            vec![
                ("photos", "1.png", PNG),
                ("photos", "2.png", PNG),
                ("photos", "3.png", PNG),
                ("photos", "4.png", PNG),
            ],
            422,
        ),
    ];
    for (fields, files, expected) in &cases {
        let response = file(&host, &citizen, fields, files).await;
        assert_eq!(response.status(), *expected, "{fields:?}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // Signed out: 401. Using the device position without consent: 428.
    let (content_type, body) = multipart_body(&base, &[]);
    let anonymous = client()
        .post(host.url("/apps/field-reports/api/reports"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let by_location = file(
        &host,
        &citizen,
        &[
            ("category", "waste"),
            ("description", "Rác"),
            ("use_location", "1"),
        ],
        &[],
    )
    .await;
    assert_eq!(
        status_and_code(by_location).await,
        (428, "consent_required".into())
    );

    // None of it left a report behind.
    let all = get_json(&host, "/apps/field-reports/api/reports", None).await;
    assert_eq!(all["reports"].as_array().unwrap().len(), 0);
    host.stop().await;
}

#[tokio::test]
async fn a_report_can_use_the_position_the_shell_reported() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-minh").await;
    give_consent(&host, &citizen, "field-reports", &["location"]).await;
    let fields = [
        ("category", "street-lighting"),
        ("description", "Đèn đường hỏng"),
        ("use_location", "1"),
    ];
    // Consented, but the device has not said where it is.
    assert_eq!(
        status_and_code(file(&host, &citizen, &fields, &[]).await).await,
        (409, "location_unknown".into())
    );

    let reported = client()
        .put(host.url("/api/v1/me/location"))
        .bearer_auth(&citizen)
        .json(&json!({ "lat": 16.4698, "lon": 107.5786, "accuracy_m": 15.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(reported.status(), 200);
    let filed = file(&host, &citizen, &fields, &[]).await;
    assert_eq!(filed.status(), 201);
    let report: Value = filed.json().await.unwrap();
    assert_eq!(report["ward"]["id"], "thuan-thanh");
    assert_eq!(report["at"]["lat"], 16.4698);

    // A bad position is refused, and forgetting it stops its use.
    let bad = client()
        .put(host.url("/api/v1/me/location"))
        .bearer_auth(&citizen)
        .json(&json!({ "lat": 123.0, "lon": 107.5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let forgot = client()
        .delete(host.url("/api/v1/me/location"))
        .bearer_auth(&citizen)
        .send()
        .await
        .unwrap();
    assert_eq!(forgot.status(), 204);
    assert_eq!(
        status_and_code(file(&host, &citizen, &fields, &[]).await)
            .await
            .1,
        "location_unknown"
    );

    // Without the city's grant the position is denied even with consent.
    client()
        .put(host.url("/api/v1/me/location"))
        .bearer_auth(&citizen)
        .json(&json!({ "lat": 16.4698, "lon": 107.5786 }))
        .send()
        .await
        .unwrap();
    host.citadel
        .registry
        .set_grants(
            "field-reports",
            None,
            ["kv", "geo", "notify", "identity.roles"]
                .map(String::from)
                .to_vec(),
            "operator:test",
        )
        .await
        .unwrap();
    assert_eq!(
        status_and_code(file(&host, &citizen, &fields, &[]).await).await,
        (403, "capability_denied".into())
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_never_overwrite_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-lan").await;
    let staff = sign_in(&host, "c-tuan").await;
    let (lat, lon) = (PHU_HOI.0.to_string(), PHU_HOI.1.to_string());
    let filed = file(
        &host,
        &citizen,
        &[
            ("category", "noise"),
            ("description", "Karaoke sau 23 giờ"),
            ("lat", &lat),
            ("lon", &lon),
        ],
        &[],
    )
    .await;
    let id = filed.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Eight racing "assign" requests: exactly one wins, the others see the
    // report already assigned; the history has exactly one step more.
    let racers = (0..8).map(|_| set_status(&host, &staff, &id, "assigned", None));
    let outcomes = futures::future::join_all(racers).await;
    let mut statuses: Vec<u16> = outcomes.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
    let report = get_json(
        &host,
        &format!("/apps/field-reports/api/reports/{id}"),
        None,
    )
    .await;
    assert_eq!(report["history"].as_array().unwrap().len(), 2);
    host.stop().await;
}

#[tokio::test]
async fn the_public_list_pages_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let citizen = sign_in(&host, "c-hoa").await;
    let (lat, lon) = (PHU_HOI.0.to_string(), PHU_HOI.1.to_string());
    let mut filed = Vec::new();
    for text in [
        "Ổ gà trên đường Hùng Vương",
        "Đèn đường tắt",
        "Cây đổ chắn lối",
    ] {
        let response = file(
            &host,
            &citizen,
            &[
                ("category", "roads"),
                ("description", text),
                ("lat", &lat),
                ("lon", &lon),
            ],
            &[],
        )
        .await;
        filed.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let ids = |page: &Value| -> Vec<String> {
        page["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let first = get_json(&host, "/apps/field-reports/api/reports?limit=2", None).await;
    assert_eq!(ids(&first), [filed[2].clone(), filed[1].clone()]);
    let cursor = first["next"].as_str().expect("a next cursor");
    let second = get_json(
        &host,
        &format!(
            "/apps/field-reports/api/reports?limit=2&after={}",
            urlencode(cursor)
        ),
        None,
    )
    .await;
    assert_eq!(ids(&second), [filed[0].clone()]);
    assert!(second["next"].is_null());
    // Filters apply within the page; a bad limit is refused.
    let none = get_json(
        &host,
        "/apps/field-reports/api/reports?status=resolved",
        None,
    )
    .await;
    assert!(ids(&none).is_empty());
    let bad = client()
        .get(host.url("/apps/field-reports/api/reports?limit=lots"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(bad).await, (422, "invalid_input".into()));
    host.stop().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Filing is a create path: reports filed at the same moment by many
/// citizens all land, each under its own id, none overwriting another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_filings_all_land_under_their_own_ids() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let (lat, lon) = (PHU_HOI.0.to_string(), PHU_HOI.1.to_string());
    let mut citizens = Vec::new();
    for who in ["c-lan", "c-minh", "c-hoa", "c-tuan"] {
        citizens.push(sign_in(&host, who).await);
    }
    let filings = (0..24).map(|n| {
        let (host, token) = (&host, citizens[n % citizens.len()].clone());
        let (lat, lon) = (lat.clone(), lon.clone());
        async move {
            let text = format!("Phản ánh số {n}: rác chưa thu gom");
            let response = file(
                host,
                &token,
                &[
                    ("category", "roads"),
                    ("description", &text),
                    ("lat", &lat),
                    ("lon", &lon),
                ],
                &[],
            )
            .await;
            assert_eq!(response.status(), 201, "filing {n}");
            let body: Value = response.json().await.unwrap();
            (body["id"].as_str().unwrap().to_string(), text)
        }
    });
    let filed = futures::future::join_all(filings).await;
    let ids: std::collections::BTreeSet<&String> = filed.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), filed.len(), "every filing got its own id");
    let mut codes = std::collections::BTreeSet::new();
    for (id, text) in &filed {
        let report = get_json(
            &host,
            &format!("/apps/field-reports/api/reports/{id}"),
            None,
        )
        .await;
        assert_eq!(report["description"], text.as_str(), "{report}");
        let code = report["code"].as_str().unwrap().to_string();
        let by_code = get_json(
            &host,
            &format!("/apps/field-reports/api/reports/{code}"),
            None,
        )
        .await;
        assert_eq!(by_code["id"], id.as_str(), "{code}");
        codes.insert(code);
    }
    assert_eq!(codes.len(), filed.len(), "every filing got its own code");
    host.stop().await;
}
