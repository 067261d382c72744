//! Contract 1.1 data calls: per-citizen kv invisible to other citizens and
//! other apps, app-wide kv invisible to other apps, the storage quota, and
//! notify with its rate limit and the citizen's inbox; a citizen's export
//! and erasure of all of it.

use citadel_tests::{
    audit, audit_at_least, client, decide_payment, error_of, get, give_consent, metrics,
    open_frame, probe_manifest, sign_in, TestHost,
};
use serde_json::Value;

async fn put(host: &TestHost, path: &str, token: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = client().put(host.url(path)).body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A host with the probe app as `probe` and `probe-b`, and Lan's and
/// Minh's sessions.
async fn two_apps_and_two_citizens(dir: &std::path::Path) -> (TestHost, String, String) {
    let host = TestHost::start(dir).await;
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;
    host.install_built("probe", &probe_manifest("probe-b", &[], ""))
        .await;
    let lan = sign_in(&host, "c-lan").await;
    let minh = sign_in(&host, "c-minh").await;
    (host, lan, minh)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_data_stays_with_its_app_and_its_citizen() {
    let dir = tempfile::tempdir().unwrap();
    let (host, lan, minh) = two_apps_and_two_citizens(dir.path()).await;

    assert_eq!(
        put(&host, "/apps/probe/mine", Some(&lan), "bản nháp của Lan")
            .await
            .status(),
        204
    );
    let mine: Value = get(&host, "/apps/probe/mine", Some(&lan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["value"], "bản nháp của Lan");
    assert_eq!(mine["keys"], serde_json::json!(["draft"]));
    // Another citizen of the same app: nothing, not even the key's name.
    let theirs: Value = get(&host, "/apps/probe/mine", Some(&minh))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["value"], Value::Null);
    assert_eq!(theirs["keys"], serde_json::json!([]));
    // The same citizen in another app: nothing.
    let elsewhere: Value = get(&host, "/apps/probe-b/mine", Some(&lan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(elsewhere["value"], Value::Null);
    // Nobody signed in: no citizen space at all.
    let response = get(&host, "/apps/probe/mine", None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "not_signed_in"
    );

    // App-wide data is shared by the app's citizens and by nobody else.
    assert_eq!(
        put(&host, "/apps/probe/shared", Some(&lan), "lịch thu gom")
            .await
            .status(),
        204
    );
    let shared: Value = get(&host, "/apps/probe/shared", Some(&minh))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shared["value"], "lịch thu gom");
    let other_app: Value = get(&host, "/apps/probe-b/shared", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other_app["value"], Value::Null);
    // A key in the citizen space is not the app-wide key of the same name.
    let draft: Value = get(&host, "/apps/probe-b/shared", Some(&lan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["value"], Value::Null);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_quota_refuses_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("probe", &probe_manifest("probe", &[], "kv_quota_mib = 1"))
        .await;

    assert_eq!(
        put(&host, "/apps/probe/fill?kib=600&key=a", None, "")
            .await
            .status(),
        204
    );
    let response = put(&host, "/apps/probe/fill?kib=600&key=b", None, "").await;
    assert_eq!(response.status(), 507);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1048576-byte quota"),
        "{body}"
    );
    // Replacing a value with a smaller one always fits, and frees room.
    assert_eq!(
        put(&host, "/apps/probe/fill?kib=100&key=a", None, "")
            .await
            .status(),
        204
    );
    assert_eq!(
        put(&host, "/apps/probe/fill?kib=600&key=b", None, "")
            .await
            .status(),
        204
    );
    assert!(host.citadel.store.kv.usage("probe").await.unwrap() <= 1 << 20);
    host.stop().await;
}

/// What a guest hands the store is bounded as keys and values are, whichever
/// call it goes through: nothing larger reaches the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_keys_and_values_are_refused_in_every_kv_call() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;
    for (what, status, code) in [
        ("swap", 413, "value_too_large"),
        ("prefix", 400, "invalid_key"),
        ("after", 400, "invalid_key"),
    ] {
        let response = client()
            .get(host.url(&format!("/apps/probe/oversized?what={what}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{what}");
        assert_eq!(error_of(response).await.0, code, "{what}");
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_reaches_only_the_citizen_and_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;
    let lan = sign_in(&host, "c-lan").await;
    let minh = sign_in(&host, "c-minh").await;

    let notify = |token: Option<String>, title: String| {
        let mut request = client().post(host.url("/apps/probe/notify")).body(title);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for i in 0..5 {
        let response = notify(
            Some(lan.clone()),
            format!("Phản ánh #{i} đã được tiếp nhận"),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 204, "message {i}");
    }
    let response = notify(Some(lan.clone()), "one too many".into())
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(error_of(response).await.0, "rate_limited");
    // The limit is per citizen.
    assert_eq!(
        notify(Some(minh.clone()), "Xin chào".into())
            .await
            .unwrap()
            .status(),
        204
    );
    // Bad input and nobody signed in are refused.
    assert_eq!(
        notify(Some(minh.clone()), " ".into())
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(
        notify(None, "to nobody".into()).await.unwrap().status(),
        401
    );

    let inbox: Value = get(&host, "/api/v1/me/inbox", Some(&lan))
        .await
        .json()
        .await
        .unwrap();
    let messages = inbox["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5);
    assert_eq!(
        messages[0]["title"], "Phản ánh #4 đã được tiếp nhận",
        "newest first"
    );
    assert!(messages
        .iter()
        .all(|m| m["app"] == "probe" && m["link"] == "/inbox"));
    let inbox: Value = get(&host, "/api/v1/me/inbox", Some(&minh))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 1);

    // Without the grant: denied, audited.
    host.citadel
        .registry
        .set_grants("probe", None, vec!["kv".into()], "operator:test")
        .await
        .unwrap();
    let response = notify(Some(minh.clone()), "again".into()).await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(error_of(response).await.0, "capability_denied");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_to_reaches_only_citizens_of_the_same_app() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;
    let lan = sign_in(&host, "c-lan").await;
    let minh = sign_in(&host, "c-minh").await;
    let send_to = |token: &str, to: &str, title: &str| {
        client()
            .post(host.url(&format!("/apps/probe/notify-to?to={to}")))
            .bearer_auth(token)
            .body(title.to_string())
            .send()
    };
    let lan_in_probe = host.citadel.pairwise.pairwise_id("probe", "c-lan");
    // Lan has never used probe: her pairwise id means nothing to it yet.
    let response = send_to(&minh, &lan_in_probe, "Xin chào").await.unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(error_of(response).await.0, "invalid_input");

    // Once she has, Minh's request may reach her.
    let seen = get(&host, "/apps/probe/whoami", Some(&lan)).await;
    assert_eq!(seen.status(), 200);
    let response = send_to(&minh, &lan_in_probe, "Phản ánh của bạn đã xử lý xong")
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // Her id in another app, her raw id and a made-up id reach nobody.
    let lan_in_notes = host.citadel.pairwise.pairwise_id("notes", "c-lan");
    for forged in [lan_in_notes.as_str(), "c-lan", "0000000000000000"] {
        let response = send_to(&minh, forged, "giả mạo").await.unwrap();
        assert_eq!(response.status(), 422, "{forged}");
    }
    // The recipient's rate limit holds whoever sends.
    for i in 1..5 {
        let response = send_to(&minh, &lan_in_probe, &format!("#{i}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    let response = send_to(&minh, &lan_in_probe, "one too many").await.unwrap();
    assert_eq!(response.status(), 429);

    let inbox: Value = get(&host, "/api/v1/me/inbox", Some(&lan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 5);
    let inbox: Value = get(&host, "/api/v1/me/inbox", Some(&minh))
        .await
        .json()
        .await
        .unwrap();
    assert!(inbox["messages"].as_array().unwrap().is_empty());
    host.stop().await;
}

/// What `citizen` can download of their own data.
async fn export(host: &TestHost, token: &str) -> Value {
    let response = get(host, "/api/v1/me/data", Some(token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"citadel-data.json\""
    );
    response.json().await.unwrap()
}

/// The citizen of `token` erases their data.
async fn erase(host: &TestHost, token: &str) -> reqwest::Response {
    client()
        .delete(host.url("/api/v1/me/data"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The app `app`'s part of an export, if any.
fn app_part<'a>(exported: &'a Value, app: &str) -> Option<&'a Value> {
    exported["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|part| part["app"] == app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_downloads_and_erases_their_own_data_and_nobody_elses() {
    let dir = tempfile::tempdir().unwrap();
    let (host, lan, minh) = two_apps_and_two_citizens(dir.path()).await;

    // Lan leaves a trace everywhere the host keeps one.
    let ok = |response: reqwest::Response| async move {
        let status = response.status();
        assert!(
            status.is_success(),
            "{status}: {}",
            response.text().await.unwrap()
        );
    };
    ok(put(&host, "/apps/probe/mine", Some(&lan), "bản nháp của Lan").await).await;
    let photo = client()
        .put(host.url("/apps/probe-b/kv/citizen/photo"))
        .bearer_auth(&lan)
        .body(vec![0xff, 0x00, 0x01])
        .send()
        .await
        .unwrap();
    ok(photo).await;
    ok(put(&host, "/apps/probe/mine", Some(&minh), "bản nháp của Minh").await).await;
    let notice = client()
        .post(host.url("/apps/probe/notify"))
        .bearer_auth(&lan)
        .body("Phản ánh đã được tiếp nhận")
        .send()
        .await
        .unwrap();
    ok(notice).await;
    ok(give_consent(&host, &lan, "probe", &["identity.phone"]).await).await;
    ok(give_consent(&host, &minh, "probe", &["identity.phone"]).await).await;
    let located = client()
        .put(host.url("/api/v1/me/location"))
        .bearer_auth(&lan)
        .json(&serde_json::json!({ "lat": 16.4637, "lon": 107.5909 }))
        .send()
        .await
        .unwrap();
    ok(located).await;
    let intent: Value = client()
        .post(host.url("/apps/probe/pay?amount=20000"))
        .bearer_auth(&lan)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ok(decide_payment(&host, &lan, intent["id"].as_str().unwrap(), "confirm").await).await;
    // Only Lan's photo is in probe-b (probe also takes the payment hook's
    // deliveries, whenever they come).
    assert!(host.citadel.store.kv.usage("probe-b").await.unwrap() > 0);

    // The export holds all of it, and nothing of Minh's.
    let exported = export(&host, &lan).await;
    assert_eq!(exported["citizen"]["id"], "c-lan");
    assert_eq!(exported["consents"].as_array().unwrap().len(), 1);
    assert_eq!(exported["consents"][0]["scope"], "identity.phone");
    assert_eq!(exported["inbox"][0]["title"], "Phản ánh đã được tiếp nhận");
    assert_eq!(exported["location"]["lat"], 16.4637);
    let sessions = exported["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "her one sign-in: {sessions:?}");
    assert!(sessions[0]["expires"].as_u64() > sessions[0]["created"].as_u64());
    let probe = app_part(&exported, "probe").expect("probe holds Lan's data");
    assert_eq!(probe["linked"], true);
    assert_eq!(probe["entries"][0]["key"], "draft");
    assert_eq!(probe["entries"][0]["value"], "\"bản nháp của Lan\"");
    let probe_b = app_part(&exported, "probe-b").expect("probe-b holds Lan's data");
    assert_eq!(
        probe_b["entries"],
        serde_json::json!([{ "key": "photo", "value_hex": "ff0001" }]),
        "a value that is not text comes in hex"
    );
    assert_eq!(exported["payments"].as_array().unwrap().len(), 1);
    assert_eq!(exported["payments"][0]["status"], "captured");
    // What the audit log says of her, newest first, each in both languages:
    // her consent and her payment, by the id the app knows her by.
    let records = exported["audit"].as_array().unwrap();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"consent"), "{kinds:?}");
    assert!(kinds.contains(&"payment-captured"), "{kinds:?}");
    assert!(records
        .windows(2)
        .all(|w| w[0]["seq"].as_u64() > w[1]["seq"].as_u64()));
    for record in records {
        assert_eq!(record["pairwise_id"], probe["pairwise_id"], "{record}");
        let code = record["message"]["code"].as_str().unwrap();
        assert!(exported["audit_texts"][code]["vi"].is_string(), "{code}");
        assert!(exported["audit_texts"][code]["en"].is_string(), "{code}");
    }
    let text = exported.to_string();
    assert!(!text.contains("Minh") && !text.contains("c-minh"), "{text}");

    // A page of another origin cannot erase with the citizen's cookie.
    let forged = client()
        .delete(host.url("/api/v1/me/data"))
        .header("cookie", format!("citadel_session={lan}"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(error_of(forged).await.0, "cross_origin_request");
    // Nor fill the citizen's downloads with it.
    let forged = client()
        .get(host.url("/api/v1/me/data"))
        .header("cookie", format!("citadel_session={lan}"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        export(&host, &lan).await["inbox"].as_array().unwrap().len(),
        1
    );

    // Lan erases: every record of hers goes, the session with it.
    let erased = erase(&host, &lan).await;
    assert_eq!(erased.status(), 200);
    assert!(erased.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let erased: Value = erased.json().await.unwrap();
    assert_eq!(
        erased["records"],
        serde_json::json!({
            "sessions": 1, "frames": 0, "consents": 1, "inbox_messages": 1,
            "locations": 1, "app_links": 2
        })
    );
    assert_eq!(erased["app_keys"], 2);
    assert_eq!(erased["finished"], true);
    let mut apps: Vec<&str> = erased["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    apps.sort();
    assert_eq!(apps, ["probe", "probe-b"]);
    assert_eq!(get(&host, "/api/v1/me", Some(&lan)).await.status(), 401);
    assert_eq!(
        host.citadel.store.kv.usage("probe-b").await.unwrap(),
        0,
        "the app's usage gives back what Lan's data took"
    );

    // Minh keeps everything.
    let mine: Value = get(&host, "/apps/probe/mine", Some(&minh))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["value"], "bản nháp của Minh");
    let minhs = export(&host, &minh).await;
    assert_eq!(minhs["consents"].as_array().unwrap().len(), 1);
    // Each download reads every app: ten an hour, then a clear refusal.
    for _ in 1..10 {
        export(&host, &minh).await;
    }
    let refused = get(&host, "/api/v1/me/data", Some(&minh)).await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    assert_eq!(error_of(refused).await.0, "too_many_exports");

    // Signed in again, Lan finds only her payments, which the city keeps.
    let lan = sign_in(&host, "c-lan").await;
    let after = export(&host, &lan).await;
    assert_eq!(after["consents"], serde_json::json!([]));
    assert_eq!(after["inbox"], serde_json::json!([]));
    assert_eq!(after["location"], Value::Null);
    assert_eq!(
        after["sessions"].as_array().unwrap().len(),
        1,
        "only the sign-in since"
    );
    assert_eq!(after["apps"], serde_json::json!([]));
    assert_eq!(after["payments"].as_array().unwrap().len(), 1);
    assert!(
        after["audit"].as_array().unwrap().len() >= records.len(),
        "the city keeps its log, and still shows her what it says of her"
    );
    let mine: Value = get(&host, "/apps/probe/mine", Some(&lan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["value"], Value::Null);
    // The app's messages to her start a fresh window: the one that named
    // her went with her data.
    for i in 0..5 {
        let sent = client()
            .post(host.url("/apps/probe/notify"))
            .bearer_auth(&lan)
            .body(format!("Tin mới #{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 204, "message {i} after the erasure");
    }

    // The audit log records the erasure without naming her.
    let records = audit(&host, "kind=citizen-data-erased").await;
    assert_eq!(records.len(), 1);
    assert!(!records[0].to_string().contains("c-lan"));

    // Asking again erases what is new (the visit's link), and is no error.
    let again: Value = erase(&host, &lan).await.json().await.unwrap();
    assert_eq!(again["app_keys"], 0);
    assert_eq!(again["records"]["app_links"], 1);
    // Both erasures finished: none is left for the host to finish.
    assert_eq!(unfinished_erasures(&host).await, []);
    host.stop().await;
}

/// The erasures the host has yet to finish: (citizen, when it began).
async fn unfinished_erasures(host: &TestHost) -> Vec<(String, u64)> {
    host.citadel
        .store
        .identity
        .unfinished_erasures()
        .await
        .unwrap()
}

/// The host's ms clock, as the erasure records it.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_the_host_stopped_in_the_middle_of_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (host, lan, minh) = two_apps_and_two_citizens(dir.path()).await;
    for token in [&lan, &minh] {
        for app in ["probe", "probe-b"] {
            let kept = put(&host, &format!("/apps/{app}/mine"), Some(token), "bản nháp").await;
            assert_eq!(kept.status(), 204);
        }
    }
    let usage = |host: &TestHost| {
        let store = host.citadel.store.clone();
        async move { store.kv.usage("probe").await.unwrap() + store.kv.usage("probe-b").await.unwrap() }
    };
    let both = usage(&host).await;
    // Lan's erasure wrote its first part ten minutes ago and its host
    // stopped before her storage in apps went; Minh's began a moment ago
    // on another host, which is still at it.
    let places = |citizen: &str| -> Vec<(String, String)> {
        ["probe", "probe-b"]
            .iter()
            .map(|app| {
                (
                    app.to_string(),
                    host.citadel.pairwise.pairwise_id(app, citizen),
                )
            })
            .collect()
    };
    let identity = &host.citadel.store.identity;
    let long_ago = now_ms() - 10 * 60 * 1000;
    identity
        .erase_citizen("c-lan", &places("c-lan"), long_ago)
        .await
        .unwrap();
    let a_moment_ago = now_ms();
    identity
        .erase_citizen("c-minh", &places("c-minh"), a_moment_ago)
        .await
        .unwrap();
    // A request of his that was under way writes a consent after that.
    let late_consent = citadel_host::store::ConsentRecord {
        app: "probe".into(),
        scope: "identity.name".into(),
        purpose: "Ghi tên".into(),
        granted_at: 1,
    };
    identity
        .put_consents("c-minh", &[late_consent], None)
        .await
        .unwrap();
    assert_eq!(get(&host, "/api/v1/me", Some(&lan)).await.status(), 401);
    assert_eq!(usage(&host).await, both, "nothing in apps went yet");
    host.stop().await;

    // At start the host finishes Lan's, and leaves Minh's to its own host.
    let host = TestHost::start(dir.path()).await;
    let mut left = Vec::new();
    for _ in 0..200 {
        left = unfinished_erasures(&host).await;
        if left.len() < 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(left, [("c-minh".to_string(), a_moment_ago)]);
    // Operators see what is left to finish (once the host has counted).
    let mut exposition = String::new();
    for _ in 0..100 {
        exposition = metrics(&host).await;
        if exposition
            .lines()
            .any(|line| line == "citadel_erasures_unfinished 1")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        exposition
            .lines()
            .any(|line| line == "citadel_erasures_unfinished 1"),
        "{exposition}"
    );
    let minhs = usage(&host).await;
    assert!(minhs > 0 && minhs < both, "Lan's data went, Minh's stays");
    let drafts = |citizen: &'static str| {
        let host = &host;
        async move {
            let token = sign_in(host, citizen).await;
            let mut drafts = Vec::new();
            for app in ["probe", "probe-b"] {
                let mine: Value = get(host, &format!("/apps/{app}/mine"), Some(&token))
                    .await
                    .json()
                    .await
                    .unwrap();
                drafts.push(mine["value"].clone());
            }
            drafts
        }
    };
    assert_eq!(
        drafts("c-lan").await,
        [Value::Null, Value::Null],
        "both apps kept nothing of Lan"
    );
    let records = audit_at_least(&host, "kind=citizen-data-erased", 1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["actor"], "host");
    assert_eq!(
        records[0]["message"]["code"],
        "citizen-data.erasure-finished"
    );
    assert_eq!(records[0]["message"]["params"]["apps"], "2");
    assert!(!records[0].to_string().contains("c-lan"));

    // Minh signs in again before his erasure's host is done: the sign-in
    // finishes it first, so what he stores from now on stays.
    assert_eq!(
        drafts("c-minh").await,
        [Value::Null, Value::Null],
        "his erasure finished before his session opened"
    );
    assert!(
        host.citadel
            .store
            .identity
            .consents("c-minh")
            .await
            .unwrap()
            .is_empty(),
        "what came in while it ran went too"
    );
    assert_eq!(unfinished_erasures(&host).await, []);
    assert_eq!(usage(&host).await, 0);
    let records = audit_at_least(&host, "kind=citizen-data-erased", 2).await;
    assert_eq!(records.len(), 2, "{records:?}");
    let minh = sign_in(&host, "c-minh").await;
    let kept = put(&host, "/apps/probe/mine", Some(&minh), "bản nháp mới").await;
    assert_eq!(kept.status(), 204);
    host.stop().await;
    let host = TestHost::start(dir.path()).await;
    let minh = sign_in(&host, "c-minh").await;
    let mine: Value = get(&host, "/apps/probe/mine", Some(&minh))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        mine["value"], "bản nháp mới",
        "no erasure is left to take it"
    );
    host.stop().await;
}

/// A partner API on loopback whose `GET /wait` answers only when the test
/// lets it: a mini-app waiting on it is a request held under way.
struct HeldUpstream {
    port: u16,
    /// Told when a request reached `/wait`.
    reached: std::sync::Arc<tokio::sync::Notify>,
    /// Lets it answer.
    release: std::sync::Arc<tokio::sync::Notify>,
}

impl HeldUpstream {
    async fn start() -> Self {
        use std::sync::Arc;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let reached = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Notify::new());
        let (reached_in, release_in) = (reached.clone(), release.clone());
        let app = axum::Router::new().route(
            "/wait",
            axum::routing::get(move || {
                let (reached, release) = (reached_in.clone(), release_in.clone());
                async move {
                    reached.notify_one();
                    release.notified().await;
                    "go on"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HeldUpstream {
            port,
            reached,
            release,
        }
    }

    /// PUT `path` (with `bearer`, if any) to the probe app, which waits on
    /// this upstream before it writes; the citizen of `session` erases
    /// their data meanwhile. The answer to the PUT.
    async fn write_across_an_erasure(
        &self,
        host: &TestHost,
        path: &str,
        bearer: Option<&str>,
        session: &str,
    ) -> reqwest::Response {
        let mut request = client()
            .put(host.url(path))
            .query(&[("after", format!("http://localhost:{}/wait", self.port))])
            .body("late");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let under_way = tokio::spawn(request.send());
        self.reached.notified().await;
        let erased = erase(host, session).await;
        assert_eq!(erased.status(), 200);
        let erased: Value = erased.json().await.unwrap();
        assert_eq!(erased["finished"], true, "{erased}");
        self.release.notify_one();
        under_way.await.unwrap().unwrap()
    }
}

/// A request the citizen made before they erased their data, still under
/// way when the erasure ran, writes nothing of theirs after it: its session
/// ended with the erasure, and the app's write for it is refused (the app
/// is told the citizen is not signed in). In the shell's frame too, whose
/// writes are made for the session the frame was opened from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_under_way_writes_nothing_after_the_citizen_erased_their_data() {
    let upstream = HeldUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let host =
        TestHost::start_with(dir.path(), |config| config.allow_loopback_for_tests = true).await;
    let partner = format!("http:http://localhost:{}", upstream.port);
    host.install_built("probe", &probe_manifest("probe", &[&partner], ""))
        .await;
    let nothing_of_lan_in_probe = |exported: &Value| app_part(exported, "probe").is_none();

    // With the session as a bearer token.
    let lan = sign_in(&host, "c-lan").await;
    let refused = upstream
        .write_across_an_erasure(&host, "/apps/probe/kv/citizen/late", Some(&lan), &lan)
        .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(error_of(refused).await.0, "not_signed_in");
    let exported = export(&host, &sign_in(&host, "c-lan").await).await;
    assert!(nothing_of_lan_in_probe(&exported), "{exported}");

    // In the shell's frame: a write lands while the session is live, and
    // not once the erasure ended it.
    let lan = sign_in(&host, "c-lan").await;
    let framed = open_frame(&host, &lan, "probe").await;
    let landed = put(&host, &format!("{framed}kv/citizen/framed"), None, "v").await;
    assert_eq!(landed.status(), 204);
    let refused = upstream
        .write_across_an_erasure(&host, &format!("{framed}kv/citizen/late"), None, &lan)
        .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(error_of(refused).await.0, "not_signed_in");
    let exported = export(&host, &sign_in(&host, "c-lan").await).await;
    assert!(nothing_of_lan_in_probe(&exported), "{exported}");
}
