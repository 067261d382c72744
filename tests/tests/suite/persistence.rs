//! State lives behind host calls and survives restarts; apps cannot see each
//! other's data; a restart on an existing data dir compiles nothing.

use citadel_tests::{client, test_manifest, TestHost};

async fn add_note(host: &TestHost, app: &str, text: &str) -> serde_json::Value {
    let response = client()
        .post(host.url(&format!("/apps/{app}/api/notes")))
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn notes(host: &TestHost, app: &str) -> Vec<String> {
    let response = client()
        .get(host.url(&format!("/apps/{app}/api/notes")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let list: Vec<serde_json::Value> = response.json().await.unwrap();
    list.iter()
        .map(|n| n["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_state_survives_requests_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    assert_eq!(
        add_note(&host, "notes", "Đèn đường hỏng ở Lê Lợi").await["id"],
        1
    );
    assert_eq!(
        add_note(&host, "notes", "Cây đổ trên đường Hùng Vương").await["id"],
        2
    );
    assert_eq!(notes(&host, "notes").await.len(), 2);

    let invalid = client()
        .post(host.url("/apps/notes/api/notes"))
        .json(&serde_json::json!({ "text": "   " }))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let deleted = client()
        .delete(host.url("/apps/notes/api/notes/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    host.stop().await;

    let host = TestHost::start(dir.path()).await;
    assert_eq!(
        notes(&host, "notes").await,
        ["Cây đổ trên đường Hùng Vương"]
    );
    assert_eq!(
        add_note(&host, "notes", "Ngập nước ở Kim Long").await["id"],
        3
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_app_cannot_see_another_apps_data() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    // The same component under another id is another app with its own store.
    host.install_built(
        "notes",
        &test_manifest("notes-copy", "notes", "[\"kv\"]", ""),
    )
    .await;
    add_note(&host, "notes", "only for notes").await;
    assert_eq!(notes(&host, "notes-copy").await, Vec::<String>::new());
    add_note(&host, "notes-copy", "only for the copy").await;
    assert_eq!(notes(&host, "notes").await, ["only for notes"]);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_compiles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache_files = |dir: &std::path::Path| {
        let mut files: Vec<(String, std::time::SystemTime)> = std::fs::read_dir(dir.join("cache"))
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().modified().unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let host = TestHost::start(dir.path()).await;
    let samples = citadel_host::samples::SAMPLES.len() as u64;
    assert_eq!(
        host.citadel.runtime.compile_count(),
        samples,
        "each sample compiled once at install"
    );
    let before = cache_files(dir.path());
    assert_eq!(before.len() as u64, samples);
    host.stop().await;

    let host = TestHost::start(dir.path()).await;
    assert_eq!(
        host.citadel.runtime.compile_count(),
        0,
        "a restart loads every app from the cache"
    );
    assert_eq!(
        cache_files(dir.path()),
        before,
        "the cache files were reused, not rewritten"
    );
    let response = client().get(host.url("/apps/hello/")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "Xin chào, Huế!");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_notes_never_share_an_id_or_lose_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let writers: Vec<_> = (0..32)
        .map(|writer| {
            let url = host.url("/apps/notes/api/notes");
            tokio::spawn(async move {
                let http = client();
                let mut created = Vec::new();
                for n in 0..8 {
                    let text = format!("writer {writer} note {n}");
                    let response = http
                        .post(&url)
                        .json(&serde_json::json!({ "text": text }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201, "{text}");
                    let note: serde_json::Value = response.json().await.unwrap();
                    assert_eq!(note["text"], text);
                    created.push((note["id"].as_u64().unwrap(), text));
                }
                created
            })
        })
        .collect();
    let mut created = std::collections::BTreeMap::new();
    for writer in writers {
        for (id, text) in writer.await.unwrap() {
            assert!(
                created.insert(id, text).is_none(),
                "id {id} was given twice"
            );
        }
    }
    assert_eq!(created.len(), 32 * 8);
    let stored: Vec<serde_json::Value> = client()
        .get(host.url("/apps/notes/api/notes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for note in &stored {
        let id = note["id"].as_u64().unwrap();
        if let Some(text) = created.get(&id) {
            assert_eq!(
                note["text"],
                text.as_str(),
                "note {id} holds another's text"
            );
        }
    }
    let stored_ids: std::collections::BTreeSet<u64> =
        stored.iter().filter_map(|n| n["id"].as_u64()).collect();
    assert!(created.keys().all(|id| stored_ids.contains(id)));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_load_on_first_request_and_the_least_recently_used_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let bounded = |config: &mut citadel_host::HostConfig| config.max_loaded_components = 2;
    let host = TestHost::start_with(dir.path(), bounded).await;
    let (loaded, _, _) = host.citadel.runtime.resident_counts();
    assert!(loaded <= 2, "installing the samples kept {loaded} loaded");
    add_note(&host, "notes", "kept across unloads").await;
    host.stop().await;

    let host = TestHost::start_with(dir.path(), bounded).await;
    assert_eq!(
        host.citadel.runtime.resident_counts(),
        (0, 0, 0),
        "a restart loads no component before its first request"
    );
    let serve = |app: &'static str| {
        let url = host.url(&format!("/apps/{app}/"));
        async move {
            let response = client().get(url).send().await.unwrap();
            assert!(
                response.status().is_success(),
                "{app}: {}",
                response.status()
            );
        }
    };
    serve("hello").await;
    assert_eq!(host.citadel.runtime.resident_counts(), (1, 1, 0));
    serve("maps").await;
    serve("tourism").await;
    let (loaded, loads, evictions) = host.citadel.runtime.resident_counts();
    assert_eq!((loaded, loads, evictions), (2, 3, 1), "hello was dropped");
    // The dropped app loads again from its precompiled file; its data stayed.
    serve("hello").await;
    assert_eq!(notes(&host, "notes").await, ["kept across unloads"]);
    let (loaded, loads, evictions) = host.citadel.runtime.resident_counts();
    assert_eq!((loaded, loads, evictions), (2, 5, 3));
    assert_eq!(
        host.citadel.runtime.compile_count(),
        0,
        "loading again compiles nothing"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_precompiled_file_is_compiled_again_on_first_request() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.stop().await;
    let cache = dir.path().join("cache");
    for entry in std::fs::read_dir(&cache).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }

    let host = TestHost::start(dir.path()).await;
    assert_eq!(host.citadel.runtime.compile_count(), 0);
    let response = client().get(host.url("/apps/hello/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        host.citadel.runtime.compile_count(),
        1,
        "only the app asked for is compiled, from its stored component"
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    host.stop().await;
}
