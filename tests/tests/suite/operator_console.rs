//! The operator API the console at `/admin` draws from: the overview of
//! every app (record, grants, versions with what each requests) a page at a
//! time, the per-app metrics and the audit log newest first; for operators
//! only.

use citadel_tests::{
    app_ids, client, equip_publisher, get_json, package_bytes, put_grants, status_and_code,
    test_manifest, upload, TestHost, OPERATOR_TOKEN,
};
use serde_json::{json, Value};

/// The sample `notes` manifest at `version`, requesting `capabilities`.
fn notes_manifest(version: &str, capabilities: &str) -> String {
    let (_, text, _) = citadel_host::samples::SAMPLES
        .iter()
        .find(|(file, _, _)| *file == "notes.toml")
        .expect("the notes sample");
    citadel_tests::at_version(text, version).replace(
        "capabilities = [\"kv\"]",
        &format!("capabilities = {capabilities}"),
    )
}

fn notes_component() -> &'static [u8] {
    citadel_host::samples::SAMPLES
        .iter()
        .find(|(file, _, _)| *file == "notes.toml")
        .map(|(_, _, component)| *component)
        .expect("the notes sample")
}

fn app<'a>(overview: &'a Value, id: &str) -> &'a Value {
    overview["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("{id} is in the overview: {overview}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_every_app_with_its_versions_requests_and_grants() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;

    // Operators only.
    let anonymous = client()
        .get(host.url("/api/v1/operator/overview"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(anonymous).await,
        (401, "unauthenticated".to_string())
    );

    let overview = get_json(&host, "/api/v1/operator/overview", Some(OPERATOR_TOKEN)).await;
    let notes = app(&overview, "notes");
    assert_eq!(notes["live"], "1.0.0");
    assert_eq!(notes["canary"], Value::Null);
    assert_eq!(notes["canary_percent"], 0);
    assert_eq!(notes["suspended"], Value::Null);
    assert_eq!(notes["publisher"], "citadel-samples");
    assert_eq!(notes["name"]["vi"], "Ghi chú");
    assert_eq!(notes["granted"], serde_json::json!(["kv"]));
    assert_eq!(notes["versions"][0]["version"], "1.0.0");
    assert_eq!(notes["versions"][0]["state"], "live");
    assert_eq!(notes["versions"][0]["requested"], serde_json::json!(["kv"]));
    let capabilities = overview["capabilities"].as_array().expect("capabilities");
    let kv = capabilities
        .iter()
        .find(|c| c["name"] == "kv")
        .expect("kv is listed");
    assert_eq!(kv["personal"], false);
    assert_eq!(
        kv["summary"]["en"],
        "store and read the app's own data, app-wide and per citizen"
    );
    assert_eq!(kv["label"]["vi"], "Dữ liệu của ứng dụng");
    assert!(capabilities
        .iter()
        .any(|c| c["name"] == "identity.name" && c["personal"] == true));

    // A new version in review shows beside the live one, with its requests;
    // a publisher's key does not open the operator's overview.
    let publisher = equip_publisher(&host, "citadel-samples").await;
    let bytes = package_bytes(
        &publisher,
        &notes_manifest("1.1.0", "[\"kv\", \"notify\"]"),
        "notes.wasm",
        notes_component(),
    );
    assert_eq!(upload(&host, &publisher, bytes).await.status(), 201);
    let overview = get_json(&host, "/api/v1/operator/overview", Some(OPERATOR_TOKEN)).await;
    let notes = app(&overview, "notes");
    assert_eq!(notes["live"], "1.0.0");
    assert_eq!(notes["versions"][0]["version"], "1.1.0");
    assert_eq!(notes["versions"][0]["state"], "in-review");
    assert_eq!(
        notes["versions"][0]["requested"],
        serde_json::json!(["kv", "notify"])
    );
    assert_eq!(
        notes["versions"][0]["changed_by"],
        "publisher:citadel-samples"
    );
    let as_publisher = client()
        .get(host.url("/api/v1/operator/overview"))
        .bearer_auth(&publisher.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(as_publisher).await,
        (403, "wrong_role".to_string())
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reads_an_apps_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    for _ in 0..3 {
        let response = client().get(host.url("/apps/notes/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let summary = get_json(
        &host,
        "/api/v1/operator/apps/notes/metrics",
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(summary["app"], "notes");
    let series = summary["series"].as_array().expect("series");
    let ok_requests: f64 = series
        .iter()
        .filter(|s| s["metric"] == "citadel_app_requests_total" && s["labels"]["status"] == "2xx")
        .map(|s| s["value"].as_f64().unwrap_or(0.0))
        .sum();
    assert!(ok_requests >= 3.0, "{summary}");
    let buckets: Vec<&Value> = series
        .iter()
        .filter(|s| s["metric"] == "citadel_app_request_duration_seconds_bucket")
        .collect();
    assert!(
        buckets
            .iter()
            .any(|b| b["labels"]["le"] == "+Inf" && b["value"].as_f64().is_some_and(|v| v >= 3.0)),
        "the latency histogram has its buckets: {summary}"
    );
    assert!(series
        .iter()
        .all(|s| s["labels"].get("app").is_none() && s["metric"] != Value::Null));

    let unknown = client()
        .get(host.url("/api/v1/operator/apps/no-such-app/metrics"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(unknown).await,
        (404, "app_not_found".to_string())
    );
    let anonymous = client()
        .get(host.url("/api/v1/operator/apps/notes/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_comes_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let whole = get_json(&host, "/api/v1/operator/overview", Some(OPERATOR_TOKEN)).await;
    let all = app_ids(&whole);
    assert!(all.len() >= 5, "the samples are listed: {whole}");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "by id: {all:?}");
    assert_eq!(whole["next"], Value::Null);

    // A page boundary: `next` is the page's last id; the next page starts
    // after it; every page names every capability.
    let first = get_json(
        &host,
        "/api/v1/operator/overview?limit=3",
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(app_ids(&first), all[..3].to_vec());
    assert_eq!(first["next"].as_str(), Some(all[2].as_str()));
    // Every page names every capability (and the `http:` origins its own
    // versions request).
    let named = |page: &Value| -> Vec<String> {
        page["capabilities"]
            .as_array()
            .expect("capabilities")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .filter(|name| !name.starts_with("http:"))
            .map(String::from)
            .collect()
    };
    assert_eq!(named(&first), named(&whole));
    let second = get_json(
        &host,
        &format!("/api/v1/operator/overview?limit=3&after={}", all[2]),
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(app_ids(&second)[0], all[3]);
    assert_eq!(named(&second), named(&whole));
    // An app on a later page is drawn as on the whole overview.
    assert_eq!(second["apps"][0], whole["apps"][3]);

    // The last page: no `next`, even when it is exactly full.
    let rest = all.len() - 3;
    let last = get_json(
        &host,
        &format!("/api/v1/operator/overview?limit={rest}&after={}", all[2]),
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(app_ids(&last), all[3..].to_vec());
    assert_eq!(last["next"], Value::Null, "{last}");

    // After the last id: no apps, no `next`; the capabilities still.
    let past = get_json(
        &host,
        &format!("/api/v1/operator/overview?after={}", all[all.len() - 1]),
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(past["apps"], json!([]));
    assert_eq!(past["next"], Value::Null);
    assert_eq!(named(&past), named(&whole));

    for query in ["limit=0", "limit=501", "limit=many", "sort=id"] {
        let response = client()
            .get(host.url(&format!("/api/v1/operator/overview?{query}")))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            status_and_code(response).await,
            (400, "invalid_query".to_string()),
            "{query}"
        );
    }
    host.stop().await;
}

/// The request counts of one app's summary by status class.
fn requests_by_class(summary: &Value) -> std::collections::BTreeMap<String, f64> {
    summary["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter(|s| s["metric"] == "citadel_app_requests_total")
        .map(|s| {
            (
                s["labels"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                s["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_apps_metrics_hold_none_of_another_apps() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    // Metrics are the process's: two apps that no other test names, one
    // asked four things, the other nothing.
    for id in ["counted", "never-asked"] {
        host.install_built("hello", &test_manifest(id, "hello", "[]", ""))
            .await;
    }
    for path in [
        "/apps/counted/",
        "/apps/counted/",
        "/apps/counted/",
        "/apps/counted/missing",
    ] {
        client().get(host.url(path)).send().await.unwrap();
    }
    let counted = get_json(
        &host,
        "/api/v1/operator/apps/counted/metrics",
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(counted["app"], "counted");
    let by_class = requests_by_class(&counted);
    assert_eq!(by_class.get("2xx"), Some(&3.0), "{counted}");
    assert_eq!(by_class.get("4xx"), Some(&1.0), "{counted}");
    let count = counted["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|s| s["metric"] == "citadel_app_request_duration_seconds_count")
        .and_then(|s| s["value"].as_f64());
    assert_eq!(count, Some(4.0), "{counted}");

    // Another app's summary: its own series, none of the first app's requests.
    let never_asked = get_json(
        &host,
        "/api/v1/operator/apps/never-asked/metrics",
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(never_asked["app"], "never-asked");
    assert!(
        requests_by_class(&never_asked).values().all(|n| *n == 0.0),
        "{never_asked}"
    );
    assert!(
        never_asked["series"]
            .as_array()
            .expect("series")
            .iter()
            .all(|s| s["labels"].get("app").is_none()
                && s["value"].as_f64().is_some_and(|v| v == 0.0)),
        "{never_asked}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_reads_newest_first_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    // revoke, grant, revoke, grant: four `notes` records after the install.
    for capabilities in [json!([]), json!(["kv"]), json!([]), json!(["kv"])] {
        assert_eq!(put_grants(&host, "notes", capabilities).await.status(), 200);
    }
    let everything = get_json(
        &host,
        "/api/v1/operator/audit/recent?app=notes&limit=500",
        Some(OPERATOR_TOKEN),
    )
    .await;
    let all = everything["records"].as_array().expect("records");
    assert!(all
        .windows(2)
        .all(|w| w[0]["seq"].as_u64() > w[1]["seq"].as_u64()));
    assert_eq!(all[0]["kind"], "grant", "the newest first: {everything}");
    assert_eq!(everything["older"], Value::Null);

    let first = get_json(
        &host,
        "/api/v1/operator/audit/recent?app=notes&kind=revoke&capability=kv&limit=1",
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(first["records"].as_array().unwrap().len(), 1);
    assert_eq!(first["records"][0]["kind"], "revoke");
    let older = first["older"].as_u64().expect("an older page");
    assert_eq!(older, first["records"][0]["seq"].as_u64().unwrap());
    let second = get_json(
        &host,
        &format!(
            "/api/v1/operator/audit/recent?app=notes&kind=revoke&capability=kv&limit=1&before={older}"
        ),
        Some(OPERATOR_TOKEN),
    )
    .await;
    let records = second["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert!(records[0]["seq"].as_u64().unwrap() < older);
    assert_eq!(second["older"], Value::Null, "two revocations in all");

    // Empty filters match everything; unknown parameters are refused.
    let unfiltered = get_json(
        &host,
        "/api/v1/operator/audit/recent?kind=&app=&capability=&limit=3",
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(unfiltered["records"].as_array().unwrap().len(), 3);
    let unknown = client()
        .get(host.url("/api/v1/operator/audit/recent?sort=asc"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(unknown).await,
        (400, "invalid_query".to_string())
    );
    host.stop().await;
}

/// Audit details are structured (a catalogue code and its parameters) so
/// the console says them in Vietnamese or English; `detail` stays the
/// English sentence, and a record written before (without a message) is
/// shown by its stored text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_details_come_with_their_code_and_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    // An old record, as an earlier host wrote it: free text only.
    host.citadel
        .store
        .audit
        .append(citadel_host::audit::AuditRecord {
            seq: 0,
            at: 1,
            kind: "grant".into(),
            actor: "operator:ops".into(),
            app: Some("notes".into()),
            version: None,
            capability: Some("geo".into()),
            pairwise_id: None,
            request_id: None,
            detail: "grant `geo`".into(),
            message: None,
        })
        .await
        .unwrap();
    assert_eq!(put_grants(&host, "notes", json!([])).await.status(), 200);
    // A reason is data: markup and braces in it are never a template.
    let reason = "bảo trì <b>{live}</b>";
    let response = client()
        .post(host.url("/api/v1/operator/apps/notes/suspend"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({ "reason": reason }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    for path in [
        "/api/v1/operator/audit/recent?app=notes&limit=10",
        "/api/v1/operator/audit?app=notes&newest=true&limit=10",
    ] {
        let page = get_json(&host, path, Some(OPERATOR_TOKEN)).await;
        let records = page["records"].as_array().expect("records");
        let suspended = &records[0];
        assert_eq!(suspended["kind"], "suspend", "{page}");
        assert_eq!(
            suspended["message"],
            json!({ "code": "suspend", "params": { "reason": reason } })
        );
        assert_eq!(suspended["detail"], format!("suspended: {reason}"));
        let revoked = &records[1];
        assert_eq!(
            revoked["message"],
            json!({ "code": "revoke", "params": { "capability": "kv" } })
        );
        assert_eq!(revoked["detail"], "revoke `kv`");
        assert_eq!(
            page["texts"]["suspend"],
            json!({ "vi": "Tạm ngừng: {reason}", "en": "suspended: {reason}" })
        );
        assert_eq!(
            page["texts"]["revoke"]["vi"],
            "Thu hồi quyền `{capability}`"
        );
        // The old record: its stored text, no message.
        let old = records
            .iter()
            .find(|r| r["capability"] == "geo")
            .expect("the old record");
        assert!(old.get("message").is_none(), "{old}");
        assert_eq!(old["detail"], "grant `geo`");
    }
    host.stop().await;
}
