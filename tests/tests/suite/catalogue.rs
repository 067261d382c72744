//! The citizen catalogue `GET /api/v1/apps`: live, unsuspended apps by id,
//! a page at a time (`limit`, `after`, `next`), with JSON 400s for a bad
//! page size or an unknown parameter.

use citadel_tests::{app_ids, client, get_json, operator_post, status_and_code, TestHost};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_comes_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;

    // One page holds every sample; no `next` after it.
    let whole = get_json(&host, "/api/v1/apps", None).await;
    let all = app_ids(&whole);
    assert!(all.len() >= 5, "the samples are listed: {whole}");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "by id: {all:?}");
    assert_eq!(whole["next"], Value::Null);
    let first = &whole["apps"][0];
    assert!(first["name"]["vi"].is_string() && first["capabilities"].is_array());

    // Pages of two: each ends with `next` at its last id while more remain.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(after) => format!("/api/v1/apps?limit=2&after={after}"),
            None => "/api/v1/apps?limit=2".to_string(),
        };
        let page = get_json(&host, &path, None).await;
        let on_page = app_ids(&page);
        seen.extend(on_page.clone());
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(on_page.len(), 2, "a full page before the last: {page}");
                assert_eq!(on_page.last().map(String::as_str), Some(next));
                after = Some(next.to_string());
            }
            None => {
                assert!(!on_page.is_empty() && on_page.len() <= 2, "{page}");
                break;
            }
        }
    }
    assert_eq!(seen, all, "the pages together are the whole catalogue");

    // Exactly a page left: no `next` (no empty page to ask for).
    let last_two = &all[all.len() - 3];
    let page = get_json(
        &host,
        &format!("/api/v1/apps?limit=2&after={last_two}"),
        None,
    )
    .await;
    assert_eq!(app_ids(&page), all[all.len() - 2..].to_vec());
    assert_eq!(page["next"], Value::Null, "{page}");

    // After the last id: nothing, and no `next`.
    let past = get_json(&host, "/api/v1/apps?after=zzzz", None).await;
    assert_eq!(past["apps"], json!([]));
    assert_eq!(past["next"], Value::Null);

    // A suspended app leaves the catalogue; pages stay full.
    let suspended = all[1].clone();
    let response = operator_post(
        &host,
        &format!("/api/v1/operator/apps/{suspended}/suspend"),
        json!({ "reason": "bảo trì" }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let page = get_json(&host, "/api/v1/apps?limit=2", None).await;
    assert_eq!(app_ids(&page), vec![all[0].clone(), all[2].clone()]);
    assert_eq!(page["next"].as_str(), Some(all[2].as_str()));

    for query in ["limit=0", "limit=501", "limit=ten", "limit=-1", "page=2"] {
        let response = client()
            .get(host.url(&format!("/api/v1/apps?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            status_and_code(response).await,
            (400, "invalid_query".to_string()),
            "{query}"
        );
    }
    let response = client()
        .get(host.url("/api/v1/apps?limit=0"))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("500")),
        "the refusal says the range: {body}"
    );
    let most = get_json(&host, "/api/v1/apps?limit=500", None).await;
    assert_eq!(app_ids(&most).len(), all.len() - 1);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_see_services_by_name_and_no_developer_samples() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let catalogue = get_json(&host, "/api/v1/apps", None).await;
    let listed = app_ids(&catalogue);
    for sample in ["hello", "notes"] {
        assert!(
            !listed.contains(&sample.to_string()),
            "{sample} listed: {listed:?}"
        );
    }
    for app in catalogue["apps"].as_array().unwrap() {
        let publisher = &app["publisher"];
        assert_ne!(publisher["name"], publisher["id"], "{app}");
        let category = &app["category_name"];
        assert!(
            category["vi"].is_string() && category["en"].is_string(),
            "{app}"
        );
        assert_ne!(category["vi"].as_str(), app["category"].as_str(), "{app}");
    }
    let services = catalogue["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|app| app["id"] == "public-services")
        .expect("public-services is listed");
    assert_eq!(services["category_name"]["vi"], "Dịch vụ công");
    assert_eq!(services["publisher"]["name"], "UBND thành phố Huế");

    // The operator still lists them, and they still answer at their address.
    let overview = get_json(
        &host,
        "/api/v1/operator/overview",
        Some(citadel_tests::OPERATOR_TOKEN),
    )
    .await;
    assert!(app_ids(&overview).contains(&"hello".to_string()));
    let one = get_json(&host, "/api/v1/apps/hello", None).await;
    assert_eq!(one["id"], "hello");
    assert_eq!(one["category_name"]["vi"], "Dành cho nhà phát triển");
    let missing = client()
        .get(host.url("/api/v1/apps/no-such-app"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(missing).await,
        (404, "app_not_found".into())
    );
    let hello = client().get(host.url("/apps/hello/")).send().await.unwrap();
    assert_eq!(hello.status(), 200);
    host.stop().await;
}
