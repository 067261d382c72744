//! Development mode is explicit: demo citizens, the demo wallet and its
//! top-ups exist only in a host started with it (`citadel serve --dev`);
//! the payment page marks the test wallet. And the payment page sends the
//! citizen back only to a path on the host.

use citadel_tests::{
    audit, client, error_of, get_json, probe_manifest, sign_in, TestHost, OPERATOR_TOKEN,
};
use serde_json::{json, Value};

async fn top_up(host: &TestHost, citizen: &str) -> reqwest::Response {
    client()
        .post(host.url(&format!("/api/v1/operator/wallets/{citizen}/top-up")))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({ "amount": 100_000 }))
        .send()
        .await
        .unwrap()
}

/// A pending intent of `token`'s citizen, asked for by the probe app.
async fn intent(host: &TestHost, token: &str, reference: &str) -> String {
    let response = client()
        .post(host.url(&format!(
            "/apps/probe/pay?amount=150000&reference={reference}"
        )))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// The payment page of `id` with `return` = `back`, as the citizen sees it.
async fn pay_page(host: &TestHost, token: &str, id: &str, back: Option<&str>) -> String {
    let mut request = client()
        .get(host.url(&format!("/pay/{id}")))
        .bearer_auth(token);
    if let Some(back) = back {
        request = request.query(&[("return", back)]);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The `data-return` the payment page hands its script.
fn data_return(page: &str) -> String {
    let start = page.find("data-return=\"").expect("a data-return") + "data-return=\"".len();
    page[start..][..page[start..].find('"').unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_development_mode_there_is_no_demo_citizen_or_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(dir.path(), |config| config.development = false).await;
    assert!(!host.citadel.development);
    assert!(!host.citadel.payments.config().demo_wallet);
    let login = client()
        .post(host.url("/api/v1/login"))
        .json(&json!({ "citizen": "c-lan" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
    assert_eq!(error_of(login).await.0, "sign_in_unavailable");
    let demo = client()
        .get(host.url("/api/v1/login/citizens"))
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), 404);

    let refused = top_up(&host, "c-lan").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(error_of(refused).await.0, "development_only");
    let records = audit(&host, "kind=wallet-top-up-refused").await;
    assert_eq!(records.len(), 1, "the refused top-up is audited");
    assert!(
        host.citadel
            .store
            .ledger
            .balances()
            .await
            .unwrap()
            .is_empty(),
        "no money moved"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_has_demo_citizens_a_marked_test_wallet_and_top_ups() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    // The sign-in chooser names each staff role's unit as the city does.
    let demo = get_json(&host, "/api/v1/login/citizens", None).await;
    let tuan = demo["citizens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "c-tuan")
        .expect("a demo staff member");
    assert_eq!(tuan["roles"][0], "UBND phường Phú Hội (staff)", "{tuan}");
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;
    assert!(host.citadel.development && host.citadel.payments.config().demo_wallet);
    let lan = sign_in(&host, "c-lan").await;

    let response = top_up(&host, "c-lan").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["balance"], 5_100_000, "{body}");
    let records = audit(&host, "kind=wallet-top-up").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["actor"], "operator:configured");

    let id = intent(&host, &lan, "dev-1").await;
    let page = pay_page(&host, &lan, &id, None).await;
    // Marked in the citizen's language (Vietnamese), with no English.
    assert!(page.contains("Ví thử nghiệm"), "{page}");
    assert!(!page.contains("Test wallet"), "{page}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_page_returns_only_to_a_path_on_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;
    let lan = sign_in(&host, "c-lan").await;
    let id = intent(&host, &lan, "return-1").await;
    for hostile in [
        "/\t/evil.example/",
        "/\r/evil.example/",
        "/\n/evil.example/",
        "\t//evil.example/",
        " //evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/%09/evil.example/",
        "/%2F/evil.example/",
        "/%5Cevil.example/",
        "/%252F%252Fevil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
    ] {
        let page = pay_page(&host, &lan, &id, Some(hostile)).await;
        assert_eq!(data_return(&page), "", "{hostile:?} is not kept");
    }
    for local in ["/", "/#/payments", "/#/app/probe?path=%2Fhooks"] {
        let page = pay_page(&host, &lan, &id, Some(local)).await;
        assert_eq!(data_return(&page), local, "{local:?} is kept");
    }
    // Its script takes the return only through the pages' shared rule.
    let script = client()
        .get(host.url("/pay.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.contains("citadelIsLocalPath(back)"));
    let page = pay_page(&host, &lan, &id, None).await;
    let rule_at = page
        .find("/assets/local-path.js")
        .expect("the rule's script");
    assert!(rule_at < page.find("/pay.js").expect("the page's script"));
    let rule = client()
        .get(host.url("/assets/local-path.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(rule.status(), 200);
    host.stop().await;
}
