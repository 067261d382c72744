//! Installing a version is all or nothing: a refused manifest or component
//! leaves no record, blob or precompiled file behind, and says why.

use citadel_host::registry::InstallError;
use citadel_tests::{test_manifest, TestHost};

fn component(name: &str) -> Vec<u8> {
    std::fs::read(citadel_host::samples::built_component(name)).unwrap()
}

fn cache_entries(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("cache")).unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_installs_say_why_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let registry = &host.citadel.registry;
    let apps_before = host.citadel.store.apps.apps().await.unwrap();
    let cache_before = cache_entries(dir.path());

    // Imports kv without requesting it.
    let err = registry
        .install(
            "sneaky.toml",
            &test_manifest("sneaky", "notes", "[]", ""),
            &component("notes"),
        )
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, InstallError::Prepare(_)), "{message}");
    assert!(
        message.contains("citadel:miniapp/kv@1.5.0") && message.contains("capability `kv`"),
        "{message}"
    );

    // An unknown capability, named with the known ones.
    let err = registry
        .install(
            "x.toml",
            &test_manifest("x-app", "hello", "[\"teleport\"]", ""),
            &component("hello"),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown capability `teleport`"),
        "{err}"
    );

    // A manifest needing a contract this host does not provide.
    let manifest = test_manifest("future", "hello", "[]", "").replace("^1.0", "^2.0");
    let err = registry
        .install("future.toml", &manifest, &component("hello"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("^2.0") && err.to_string().contains("1.5.0"),
        "{err}"
    );

    // Not a component at all.
    let err = registry
        .install(
            "junk.toml",
            &test_manifest("junk", "hello", "[]", ""),
            b"not wasm",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("could not be compiled"), "{err}");

    // Not newer than the live version.
    let manifest = test_manifest("hello", "hello", "[]", "");
    let err = registry
        .install("hello.toml", &manifest, &component("hello"))
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::VersionNotNewer { .. }), "{err}");

    assert_eq!(host.citadel.store.apps.apps().await.unwrap(), apps_before);
    assert_eq!(
        cache_entries(dir.path()),
        cache_before,
        "no precompiled file was left behind"
    );
    for app in ["sneaky", "x-app", "future", "junk"] {
        assert!(registry.live(app).is_none(), "{app} must not be live");
    }
    host.stop().await;
}
