//! The contract's semver promise: a component built against the frozen
//! 1.0.0 WIT and one built against the current 1.x run side by side; an upload whose
//! imports need capabilities it does not request is refused, naming them; so
//! is one that exports no entry point the host serves.

use citadel_tests::{
    client, get_json, probe_manifest, sign_in, test_manifest, top_level_names, TestHost,
};
use serde_json::Value;

fn component(name: &str) -> Vec<u8> {
    std::fs::read(citadel_host::samples::built_component(name)).unwrap()
}

/// What the registry says when it refuses to install `component`.
async fn refusal(host: &TestHost, file: &str, manifest: &str, component: &[u8]) -> String {
    host.citadel
        .registry
        .install(file, manifest, component)
        .await
        .expect_err("the install is refused")
        .to_string()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_of_1_0_and_1_1_run_side_by_side() {
    let legacy = component("contract_v1_0");
    assert!(
        contains(&legacy, "citadel:miniapp/kv@1.0.0"),
        "the fixture imports 1.0.0"
    );
    assert!(!contains(&legacy, "@1.1.0"));
    assert!(contains(
        &component("probe"),
        "citadel:miniapp/identity@1.5.0"
    ));

    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built(
        "contract_v1_0",
        &test_manifest("counter-v1", "contract_v1_0", r#"["kv"]"#, ""),
    )
    .await;
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;
    let lan = sign_in(&host, "c-lan").await;

    for visit in 1..=3 {
        let response = client()
            .get(host.url("/apps/counter-v1/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), format!("visits: {visit}"));
        let whoami: Value = get_json(&host, "/apps/probe/whoami", Some(&lan)).await;
        assert_eq!(whoami["current"]["locale"], "vi");
        assert_eq!(whoami["current"]["id"].as_str().unwrap().len(), 32);
    }
    host.stop().await;
}

/// A guest that reads its request's scheme and authority (to build an
/// absolute link) is told the public URL, whatever `Host` the client sent:
/// a forged `Host` must not steer an app's links elsewhere. Without a public
/// URL the `Host` header stands for it, over `http`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_is_told_the_public_url_not_the_clients_host() {
    for (public, told) in [
        (
            Some("https://citadel.hue.gov.vn"),
            "https://citadel.hue.gov.vn/where",
        ),
        (None, "http://evil.example/where"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let host = TestHost::start_with(dir.path(), |config| {
            config.public_url =
                public.map(|url| citadel_host::public_url::PublicUrl::parse(url).unwrap());
        })
        .await;
        host.install_built(
            "contract_v1_0",
            &test_manifest("counter-v1", "contract_v1_0", r#"["kv"]"#, ""),
        )
        .await;
        let response = client()
            .get(host.url("/apps/counter-v1/where"))
            .header(reqwest::header::HOST, "evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), told);
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_beyond_the_requested_capabilities_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let manifest = test_manifest("greedy", "probe", r#"["kv"]"#, "")
        .replace("contract = \"^1.0\"", "contract = \"^1.1\"");
    let error = refusal(&host, "greedy.toml", &manifest, &component("probe")).await;
    assert!(
        error.contains("`citadel:miniapp/notify@1.5.0` (needs capability `notify`)"),
        "{error}"
    );
    assert!(
        error.contains(
            "`wasi:http/outgoing-handler@0.2.12` (needs capability `http:<scheme>://<host>`)"
        ),
        "{error}"
    );
    assert!(
        !error.contains("citizen-kv"),
        "kv covers citizen-kv: {error}"
    );
    assert!(host.citadel.registry.live("greedy").is_none());
    // A manifest asking for a newer contract than the host's is refused too.
    let manifest = test_manifest("future", "probe", r#"["kv"]"#, "")
        .replace("contract = \"^1.0\"", "contract = \"^1.6\"");
    let error = refusal(&host, "future.toml", &manifest, &component("probe")).await;
    assert!(error.contains("^1.6") && error.contains("1.5.0"), "{error}");
    host.stop().await;
}

/// The host serves a component through the contract's `handler` or through
/// `wasi:http/incoming-handler`. One built for the `citadel-only` world
/// (`hello`) exports `handler` alone, imports nothing of wasi:http, and is
/// served; one that exports neither is refused at upload, naming both, and
/// nothing of it is installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_is_served_through_handler_alone_and_refused_with_neither() {
    let hello = top_level_names("hello");
    assert_eq!(hello.exports, ["citadel:miniapp/handler@1.5.0"]);
    assert!(
        !hello
            .imports
            .iter()
            .any(|name| name.starts_with("wasi:http/")),
        "{:?}",
        hello.imports
    );

    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("hello", &test_manifest("greeting", "hello", "[]", ""))
        .await;
    for _ in 0..2 {
        let response = client()
            .get(host.url("/apps/greeting/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "Xin chào, Huế!");
    }

    let serves_nothing = wat::parse_str("(component)").unwrap();
    let error = refusal(
        &host,
        "mute.toml",
        &test_manifest("mute", "hello", "[]", ""),
        &serves_nothing,
    )
    .await;
    assert!(
        error.contains("citadel:miniapp/handler@1.5.0")
            && error.contains("wasi:http/incoming-handler"),
        "{error}"
    );
    assert!(host.citadel.registry.live("mute").is_none());
    let missing = client().get(host.url("/apps/mute/")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    host.stop().await;
}
