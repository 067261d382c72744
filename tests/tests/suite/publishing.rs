//! The publishing lifecycle over the real API: every upload check refuses
//! with its own code and leaves nothing behind; publishers reach only their
//! own apps; review, canary rollout with stable buckets (kept across a
//! restart), completion and rollback — and none of it recompiles. A
//! component shared by two publishers' apps outlives either one's pruning,
//! and a large upload compiling holds up no operator step.

use citadel_host::registry::KEPT_VERSIONS;
use citadel_tests::{
    at_version, client, error_of, operator_post, package, package_bytes, register_publisher,
    sign_in, test_manifest, upload, TestHost, TestPublisher,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn manifest(id: &str, component: &str, capabilities: &str, version: &str) -> String {
    at_version(&test_manifest(id, component, capabilities, ""), version)
}

/// Start uploading, as publisher `a`, the tourism sample as app `id` with
/// a custom section no build had before, so that no compile cache holds it
/// and the upload compiles it (the largest Rust sample: a second or more).
/// The upload's status, how long it took, and its answer.
fn upload_never_compiled(
    host: &TestHost,
    a: &TestPublisher,
    id: &str,
) -> tokio::task::JoinHandle<(u16, Duration, String)> {
    let tourism = std::fs::read(citadel_host::samples::built_component("tourism")).unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let component = with_custom_section(&tourism, &format!("a fresh build {nanos}"));
    let (_, sample, _) = citadel_host::samples::SAMPLES
        .iter()
        .find(|(file, _, _)| file.contains("tourism"))
        .unwrap();
    let text = sample
        .replace("id = \"tourism\"", &format!("id = \"{id}\""))
        .replace(
            "publisher = \"huetourist\"",
            "publisher = \"citadel-tests\"",
        );
    let bytes = package_bytes(a, &text, "tourism.wasm", &component);
    let (url, key) = (host.url("/api/v1/publisher/packages"), a.api_key.clone());
    let started = Instant::now();
    tokio::spawn(async move {
        let response = client()
            .post(url)
            .bearer_auth(key)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        (
            response.status().as_u16(),
            took,
            response.text().await.unwrap(),
        )
    })
}

/// The operator revokes the first signing key of publisher `citadel-tests`.
async fn revoke_first_signing_key(host: &TestHost) {
    let publisher = host
        .citadel
        .store
        .apps
        .publisher("citadel-tests")
        .await
        .unwrap()
        .unwrap();
    let public_key = &publisher.signing_keys[0].public_key;
    let response = client()
        .delete(host.url(&format!(
            "/api/v1/operator/publishers/citadel-tests/signing-keys/{public_key}"
        )))
        .bearer_auth(citadel_tests::OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn cache_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("cache"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// Upload, expecting `status` and `code`; returns the error message.
async fn refused(
    host: &TestHost,
    publisher: &TestPublisher,
    bytes: Vec<u8>,
    status: u16,
    code: &str,
) -> String {
    let response = upload(host, publisher, bytes).await;
    assert_eq!(response.status(), status, "{code}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

/// A tar with exactly these files.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        archive.append_data(&mut header, path, *bytes).unwrap();
    }
    archive.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upload_check_refuses_with_its_code_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let a = register_publisher(&host, "citadel-tests").await;
    let b = register_publisher(&host, "vnpt-hue").await;
    let hello = std::fs::read(citadel_host::samples::built_component("hello")).unwrap();
    // B owns `tour-b`; A owns `tour-a` at 1.0.0.
    let mine = manifest("tour-b", "hello", "[]", "1.0.0").replace("citadel-tests", "vnpt-hue");
    assert_eq!(
        upload(&host, &b, package(&b, &mine, "hello"))
            .await
            .status(),
        201
    );
    let good = manifest("tour-a", "hello", "[]", "1.0.0");
    assert_eq!(
        upload(&host, &a, package(&a, &good, "hello"))
            .await
            .status(),
        201
    );
    let apps_before = host.citadel.store.apps.apps().await.unwrap();
    let cache_before = cache_files(dir.path());
    let next = manifest("tour-a", "hello", "[]", "1.1.0");

    // Size: refused before reading it all (the client may see the reset).
    let mut too_large = None;
    for _ in 0..5 {
        if let Ok(response) = client()
            .post(host.url("/api/v1/publisher/packages"))
            .bearer_auth(&a.api_key)
            .body(vec![0u8; (64 << 20) + 1])
            .send()
            .await
        {
            too_large = Some(error_of(response).await.0);
            break;
        }
    }
    assert_eq!(too_large.as_deref(), Some("package_too_large"));

    // Layout.
    let message = refused(&host, &a, b"not a tar".to_vec(), 400, "invalid_package").await;
    assert!(message.contains("not a tar archive"), "{message}");
    let signed = package(&a, &next, "hello");
    let parsed = citadel_host::registry::package::parse(&signed).unwrap();
    let signature = serde_json::to_vec(&parsed.signature).unwrap();
    let extra = tar_of(&[
        ("manifest.toml", next.as_bytes()),
        ("hello.wasm", &hello),
        ("signature.json", &signature),
        ("README.md", b"hi"),
    ]);
    let message = refused(&host, &a, extra, 400, "invalid_package").await;
    assert!(message.contains("`README.md` does not belong"), "{message}");
    let unsigned = tar_of(&[("manifest.toml", next.as_bytes()), ("hello.wasm", &hello)]);
    let message = refused(&host, &a, unsigned, 400, "invalid_package").await;
    assert!(message.contains("`signature.json` is missing"), "{message}");

    // Manifest schema.
    let bad = format!("colour = \"red\"\n{next}");
    let message = refused(
        &host,
        &a,
        package(&a, &bad, "hello"),
        422,
        "invalid_manifest",
    )
    .await;
    assert!(message.contains("colour"), "{message}");

    // Signature: tampered content, and a key that is not A's.
    let mut tampered_component = hello.clone();
    tampered_component.extend_from_slice(b"\0");
    let tampered = tar_of(&[
        ("manifest.toml", next.as_bytes()),
        ("hello.wasm", &tampered_component),
        ("signature.json", &signature),
    ]);
    let message = refused(&host, &a, tampered, 422, "invalid_signature").await;
    assert!(message.contains("does not match"), "{message}");
    let signed_by_b = package(&b, &next, "hello");
    let message = refused(&host, &a, signed_by_b, 403, "unknown_signing_key").await;
    assert!(message.contains("citadel-tests"), "{message}");

    // Ownership: the manifest's publisher must be the caller, and an id
    // another publisher claimed stays theirs.
    let theirs = next.replace("citadel-tests", "vnpt-hue");
    refused(
        &host,
        &a,
        package(&a, &theirs, "hello"),
        403,
        "publisher_mismatch",
    )
    .await;
    let squat = manifest("tour-b", "hello", "[]", "2.0.0");
    let message = refused(
        &host,
        &a,
        package(&a, &squat, "hello"),
        403,
        "app_not_owned",
    )
    .await;
    assert!(message.contains("tour-b"), "{message}");

    // Versions only go up, by semver precedence: build metadata does not
    // make a version newer (`1.0.0+r2` is `1.0.0` uploaded again).
    for stale in ["1.0.0", "0.9.0", "1.0.0+r2"] {
        let old = manifest("tour-a", "hello", "[]", stale);
        let message = refused(
            &host,
            &a,
            package(&a, &old, "hello"),
            409,
            "version_not_newer",
        )
        .await;
        assert!(
            message.contains(stale) && message.contains("1.0.0"),
            "{message}"
        );
    }

    // Contract: the message names the needed and the provided versions.
    let future = next.replace("contract = \"^1.0\"", "contract = \"^2.0\"");
    let message = refused(
        &host,
        &a,
        package(&a, &future, "hello"),
        422,
        "contract_unsupported",
    )
    .await;
    assert!(
        message.contains("^2.0") && message.contains("1.5.0"),
        "{message}"
    );

    // Imports: probe needs notify and outbound HTTP it does not request.
    let greedy = manifest("tour-a", "probe", r#"["kv"]"#, "1.1.0").replace("^1.0", "^1.1");
    let message = refused(
        &host,
        &a,
        package(&a, &greedy, "probe"),
        422,
        "imports_not_covered",
    )
    .await;
    assert!(
        message.contains("citadel:miniapp/notify@1.5.0"),
        "{message}"
    );

    // A component that does not compile.
    let junk = package_bytes(&a, &next, "hello.wasm", b"\0asm but not really");
    refused(&host, &a, junk, 422, "invalid_component").await;

    // Nothing of any of it was kept.
    assert_eq!(host.citadel.store.apps.apps().await.unwrap(), apps_before);
    let versions: Vec<String> = host
        .citadel
        .store
        .apps
        .versions("tour-a")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, ["1.0.0"]);
    assert_eq!(cache_files(dir.path()), cache_before);
    let probe = std::fs::read(citadel_host::samples::built_component("probe")).unwrap();
    let probe_sha = hex_sha256(&probe);
    assert_eq!(
        host.citadel.store.apps.blob(&probe_sha).await.unwrap(),
        None
    );
    host.stop().await;
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_b_cannot_reach_publisher_a_apps() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let a = register_publisher(&host, "citadel-tests").await;
    let b = register_publisher(&host, "vnpt-hue").await;
    let v1 = manifest("tour-a", "hello", "[]", "1.0.0");
    assert_eq!(
        upload(&host, &a, package(&a, &v1, "hello")).await.status(),
        201
    );

    for (method, path) in [
        ("GET", "/api/v1/publisher/apps/tour-a"),
        ("GET", "/api/v1/publisher/apps/tour-a/metrics"),
        (
            "POST",
            "/api/v1/publisher/apps/tour-a/versions/1.0.0/withdraw",
        ),
    ] {
        let request = |key: &str| {
            let builder = match method {
                "GET" => client().get(host.url(path)),
                _ => client().post(host.url(path)),
            };
            builder.bearer_auth(key.to_string()).send()
        };
        let response = request(&b.api_key).await.unwrap();
        assert_eq!(response.status(), 404, "B: {method} {path}");
        assert_eq!(error_of(response).await.0, "app_not_found");
        let response = request(&a.api_key).await.unwrap();
        assert_eq!(response.status(), 200, "A: {method} {path}");
    }
    // B cannot publish into A's app, even with a manifest naming B.
    let v2 = manifest("tour-a", "hello", "[]", "2.0.0").replace("citadel-tests", "vnpt-hue");
    let response = upload(&host, &b, package(&b, &v2, "hello")).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_of(response).await.0, "app_not_owned");
    // B's list is empty; A's names tour-a.
    let listed: Value = client()
        .get(host.url("/api/v1/publisher/apps"))
        .bearer_auth(&b.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    // A withdrew 1.0.0 above; a withdrawn version cannot be approved.
    let response = operator_post(
        &host,
        "/api/v1/operator/apps/tour-a/versions/1.0.0/approve",
        json!({ "capabilities": [] }),
    )
    .await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_of(response).await.0, "wrong_state");
    host.stop().await;
}

/// Sign in `count` synthetic citizens.
async fn citizens(host: &TestHost, count: usize) -> Vec<String> {
    let mut tokens = Vec::with_capacity(count);
    for chunk in (1..=count).collect::<Vec<_>>().chunks(50) {
        let batch = chunk
            .iter()
            .map(|n| sign_in(host, Box::leak(format!("c-demo-{n}").into_boxed_str())));
        tokens.extend(futures::future::join_all(batch).await);
    }
    tokens
}

/// The version that answers each citizen.
async fn versions_seen(host: &TestHost, app: &str, tokens: &[String]) -> Vec<String> {
    let mut seen = Vec::with_capacity(tokens.len());
    for chunk in tokens.chunks(50) {
        let batch = chunk.iter().map(|token| {
            client()
                .get(host.url(&format!("/apps/{app}/")))
                .bearer_auth(token)
                .send()
        });
        for response in futures::future::join_all(batch).await {
            let response = response.unwrap();
            assert_eq!(response.status(), 200);
            seen.push(
                response.headers()["x-citadel-app-version"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    seen
}

fn share(seen: &[String], version: &str) -> f64 {
    seen.iter().filter(|v| *v == version).count() as f64 / seen.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_serves_a_stable_share_and_rolls_back_without_recompiling() {
    let dir = tempfile::tempdir().unwrap();
    let no_samples = |config: &mut citadel_host::HostConfig| config.install_samples = false;
    let host = TestHost::start_with(dir.path(), no_samples).await;
    let a = register_publisher(&host, "citadel-tests").await;

    // 1.0.0: upload (the one compile), approve with kv, roll out to all.
    let v1 = manifest("tour", "notes", r#"["kv"]"#, "1.0.0");
    assert_eq!(
        upload(&host, &a, package(&a, &v1, "notes")).await.status(),
        201
    );
    assert_eq!(host.citadel.runtime.compile_count(), 1);
    let approve = |version: &'static str| {
        operator_post(
            &host,
            Box::leak(
                format!("/api/v1/operator/apps/tour/versions/{version}/approve").into_boxed_str(),
            ),
            json!({ "capabilities": ["kv"] }),
        )
    };
    let rollout = |version: &str, percent: u8| {
        operator_post(
            &host,
            "/api/v1/operator/apps/tour/rollout",
            json!({ "version": version, "percent": percent }),
        )
    };
    // Not approved yet: no rollout.
    let response = rollout("1.0.0", 100).await;
    assert_eq!(response.status(), 409);
    assert_eq!(approve("1.0.0").await.status(), 200);
    assert_eq!(rollout("1.0.0", 100).await.status(), 200);
    // No canary: an anonymous caller needs no bucket, and gets no cookie.
    let response = client().get(host.url("/apps/tour/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());

    // 1.1.0: the same component bytes (already compiled: no new compile).
    let v2 = manifest("tour", "notes", r#"["kv"]"#, "1.1.0");
    assert_eq!(
        upload(&host, &a, package(&a, &v2, "notes")).await.status(),
        201
    );
    assert_eq!(approve("1.1.0").await.status(), 200);
    assert_eq!(rollout("1.1.0", 10).await.status(), 200);

    let tokens = citizens(&host, 2000).await;
    let first = versions_seen(&host, "tour", &tokens).await;
    let canary = share(&first, "1.1.0");
    assert!((0.07..=0.13).contains(&canary), "canary share {canary}");
    assert_eq!(
        versions_seen(&host, "tour", &tokens).await,
        first,
        "each citizen always gets the same one"
    );
    // Anonymous callers get a bucket cookie and keep their version.
    let response = client().get(host.url("/apps/tour/")).send().await.unwrap();
    assert!(
        !response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure"),
        "plain HTTP here: a Secure cookie would never come back"
    );
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let anonymous = response.headers()["x-citadel-app-version"]
        .to_str()
        .unwrap()
        .to_string();
    for _ in 0..5 {
        let again = client()
            .get(host.url("/apps/tour/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(
            again.headers()["x-citadel-app-version"].to_str().unwrap(),
            anonymous
        );
        assert!(again.headers().get("set-cookie").is_none());
    }

    // A restart in the middle of the canary keeps percentage, buckets and grants.
    host.stop().await;
    let host = TestHost::start_with(dir.path(), no_samples).await;
    assert_eq!(
        host.citadel.runtime.compile_count(),
        0,
        "a restart compiles nothing"
    );
    let tokens = {
        // Sessions survive too, but sign in afresh to be independent of them.
        citizens(&host, 2000).await
    };
    assert_eq!(versions_seen(&host, "tour", &tokens).await, first);
    assert_eq!(
        host.citadel
            .registry
            .grants("tour")
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["kv"]
    );
    let record = host.citadel.store.apps.app("tour").await.unwrap().unwrap();
    assert_eq!(
        (record.canary.as_deref(), record.canary_percent),
        (Some("1.1.0"), 10)
    );

    // Complete, then roll back: every new request on the old version.
    let rollout = |version: &str, percent: u8| {
        operator_post(
            &host,
            "/api/v1/operator/apps/tour/rollout",
            json!({ "version": version, "percent": percent }),
        )
    };
    assert_eq!(rollout("1.1.0", 100).await.status(), 200);
    let all_new = versions_seen(&host, "tour", &tokens[..200]).await;
    assert!(all_new.iter().all(|v| v == "1.1.0"));
    let response = operator_post(&host, "/api/v1/operator/apps/tour/rollback", json!({})).await;
    assert_eq!(response.status(), 200);
    let all_old = versions_seen(&host, "tour", &tokens[..200]).await;
    assert!(all_old.iter().all(|v| v == "1.0.0"));
    assert_eq!(
        host.citadel.runtime.compile_count(),
        0,
        "promotion and rollback never compile"
    );

    // Suspend: citizens get a 503 naming the reason; resume restores service.
    let response = operator_post(
        &host,
        "/api/v1/operator/apps/tour/suspend",
        json!({ "reason": "bảo trì hệ thống" }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = client().get(host.url("/apps/tour/")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "app_suspended");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("bảo trì"));
    let response = operator_post(&host, "/api/v1/operator/apps/tour/resume", json!({})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        client()
            .get(host.url("/apps/tour/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Every step is in the audit log.
    let audit = citadel_tests::audit(&host, "app=tour&limit=1000").await;
    let kinds: Vec<&str> = audit.iter().filter_map(|r| r["kind"].as_str()).collect();
    for kind in [
        "upload", "approve", "rollout", "rollback", "suspend", "resume",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_keys_stop_working_and_old_versions_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let a = register_publisher(&host, "citadel-tests").await;

    // Twelve versions (same component: compiled once); the newest ten stay,
    // plus the live one and the one a rollback would return to.
    for minor in 0..12 {
        let version = format!("1.{minor}.0");
        let text = manifest("tour", "hello", "[]", &version);
        assert_eq!(
            upload(&host, &a, package(&a, &text, "hello"))
                .await
                .status(),
            201,
            "{version}"
        );
        if minor == 0 {
            let path = "/api/v1/operator/apps/tour/versions/1.0.0/approve";
            assert_eq!(
                operator_post(&host, path, json!({ "capabilities": [] }))
                    .await
                    .status(),
                200
            );
            let rollout = json!({ "version": "1.0.0", "percent": 100 });
            assert_eq!(
                operator_post(&host, "/api/v1/operator/apps/tour/rollout", rollout)
                    .await
                    .status(),
                200
            );
        }
    }
    let kept: Vec<String> = host
        .citadel
        .registry
        .versions("tour")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    let mut expected: Vec<String> = (2..12).rev().map(|m| format!("1.{m}.0")).collect();
    expected.push("1.0.0".into());
    assert_eq!(kept, expected, "1.1.0 is pruned; live 1.0.0 stays");

    // A revoked signing key signs nothing new.
    revoke_first_signing_key(&host).await;
    let next = manifest("tour", "hello", "[]", "2.0.0");
    refused(
        &host,
        &a,
        package(&a, &next, "hello"),
        403,
        "unknown_signing_key",
    )
    .await;

    // A revoked API key opens nothing.
    let issued = operator_post(
        &host,
        "/api/v1/operator/publishers/citadel-tests/keys",
        json!({}),
    )
    .await;
    assert_eq!(issued.status(), 201);
    let issued: Value = issued.json().await.unwrap();
    let key_id = issued["key_id"].as_str().unwrap();
    let new_key = issued["api_key"].as_str().unwrap();
    let listed = |key: String| {
        client()
            .get(host.url("/api/v1/publisher/apps"))
            .bearer_auth(key)
            .send()
    };
    assert_eq!(listed(new_key.to_string()).await.unwrap().status(), 200);
    let response = client()
        .delete(host.url(&format!(
            "/api/v1/operator/publishers/citadel-tests/keys/{key_id}"
        )))
        .bearer_auth(citadel_tests::OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = listed(new_key.to_string()).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(error_of(response).await.0, "invalid_credentials");
    // The first key still works.
    assert_eq!(listed(a.api_key.clone()).await.unwrap().status(), 200);
    host.stop().await;
}

/// `component` with a custom section appended: the same program in other
/// bytes (so another sha256, compiled anew).
fn with_custom_section(component: &[u8], tag: &str) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"citadel-test";
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(tag.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0);
    leb128(content.len(), &mut bytes);
    bytes.extend_from_slice(&content);
    bytes
}

async fn approve_and_roll_out(host: &TestHost, app: &str, version: &str) {
    let path = format!("/api/v1/operator/apps/{app}/versions/{version}/approve");
    let response = operator_post(host, &path, json!({ "capabilities": [] })).await;
    assert_eq!(response.status(), 200, "approve {app} {version}");
    let path = format!("/api/v1/operator/apps/{app}/rollout");
    let response = operator_post(host, &path, json!({ "version": version, "percent": 100 })).await;
    assert_eq!(response.status(), 200, "roll out {app} {version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_publishers_pruning_leaves_a_shared_component_alone() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let a = register_publisher(&host, "citadel-tests").await;
    let b = register_publisher(&host, "vnpt-hue").await;
    let hello = std::fs::read(citadel_host::samples::built_component("hello")).unwrap();

    // Publisher A's app is live.
    let text = manifest("tour-a", "hello", "[]", "1.0.0");
    let response = upload(&host, &a, package_bytes(&a, &text, "hello.wasm", &hello)).await;
    assert_eq!(response.status(), 201);
    approve_and_roll_out(&host, "tour-a", "1.0.0").await;

    // Publisher B uploads the very same bytes under its own app, then newer
    // versions of another build until its first version is pruned.
    let other = with_custom_section(&hello, "b's own build");
    for minor in 0..=KEPT_VERSIONS {
        let version = format!("1.{minor}.0");
        let text = manifest("tour-b", "hello", "[]", &version).replace("citadel-tests", "vnpt-hue");
        let component = if minor == 0 { &hello } else { &other };
        let response = upload(&host, &b, package_bytes(&b, &text, "hello.wasm", component)).await;
        assert_eq!(response.status(), 201, "{version}");
    }
    let kept = host.citadel.registry.versions("tour-b").await.unwrap();
    assert_eq!(kept.len(), KEPT_VERSIONS);
    assert!(
        kept.iter().all(|v| v.version != "1.0.0"),
        "B's 1.0.0 is pruned"
    );
    let sha = kept[0].component_sha256.clone();
    let hello_sha = host.citadel.registry.versions("tour-a").await.unwrap()[0]
        .component_sha256
        .clone();
    assert_ne!(sha, hello_sha);
    assert_eq!(
        host.citadel.store.apps.blob_refs(&sha).await.unwrap(),
        KEPT_VERSIONS as u64
    );
    assert!(host
        .citadel
        .store
        .apps
        .blob(&hello_sha)
        .await
        .unwrap()
        .is_some());

    // After a restart A's app still serves, from its precompiled file.
    host.stop().await;
    let host = TestHost::start(dir.path()).await;
    let response = client()
        .get(host.url("/apps/tour-a/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "Xin chào, Huế!");
    assert_eq!(
        host.citadel.runtime.compile_count(),
        0,
        "nothing recompiled"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_compiling_holds_up_no_operator_step() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let a = register_publisher(&host, "citadel-tests").await;
    let compiles = host.citadel.runtime.compile_count();
    let started = Instant::now();
    let uploading = upload_never_compiled(&host, &a, "big-tour");
    // The operator suspends and resumes another app over and over while
    // the upload runs; steps begun once the upload is surely compiling
    // (parsing and verifying it take a few milliseconds) must finish while
    // the compile is still running.
    let mut suspended = false;
    let mut during_compile = 0;
    let mut slowest = Duration::ZERO;
    while !uploading.is_finished() {
        let begun = started.elapsed();
        let (path, body) = if suspended {
            ("/api/v1/operator/apps/hello/resume", json!({}))
        } else {
            (
                "/api/v1/operator/apps/hello/suspend",
                json!({ "reason": "kiểm tra" }),
            )
        };
        let response = operator_post(&host, path, body).await;
        assert_eq!(response.status(), 200, "{path}");
        suspended = !suspended;
        slowest = slowest.max(started.elapsed() - begun);
        if begun >= Duration::from_millis(150) && host.citadel.runtime.compile_count() == compiles {
            during_compile += 1;
        }
    }
    let (status, took, answer) = uploading.await.unwrap();
    assert_eq!(status, 201, "{answer}");
    assert!(
        host.citadel.runtime.compile_count() > compiles,
        "the upload compiled"
    );
    assert!(
        during_compile > 0,
        "no operator step finished while the upload compiled (upload {took:?}, slowest step {slowest:?})"
    );
    if suspended {
        let response = operator_post(&host, "/api/v1/operator/apps/hello/resume", json!({})).await;
        assert_eq!(response.status(), 200);
    }
    host.stop().await;
}

/// A signing key revoked while a package it signed is compiling signs
/// nothing: the upload is refused once the compile is done, and no version
/// is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_while_its_package_compiles_signs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let a = register_publisher(&host, "citadel-tests").await;
    let compiles = host.citadel.runtime.compile_count();
    let uploading = upload_never_compiled(&host, &a, "late-tour");
    // Parsing and verifying take milliseconds; the compile takes a second or more.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        host.citadel.runtime.compile_count(),
        compiles,
        "still compiling"
    );
    revoke_first_signing_key(&host).await;
    let (status, _, answer) = uploading.await.unwrap();
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("unknown_signing_key"), "{answer}");
    assert!(host
        .citadel
        .store
        .apps
        .versions("late-tour")
        .await
        .unwrap()
        .is_empty());
    host.stop().await;
}

/// Two hosts on one store review one version at once: each checks the
/// version's state and writes under a lock of its own, so only the store
/// can tell that the other came first. One review lands, the other is
/// refused (`changed_meanwhile` or `wrong_state`), and the version ends in
/// the state the one that landed gave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_reviewing_one_version_at_once_never_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let no_samples = |config: &mut citadel_host::HostConfig| config.install_samples = false;
    let host = TestHost::start_with(dir.path(), no_samples).await;
    let a = register_publisher(&host, "citadel-tests").await;
    let here = host.citadel.registry.clone();
    let other = std::sync::Arc::new(
        citadel_host::registry::Registry::open(
            host.citadel.store.clone(),
            host.citadel.runtime.clone(),
        )
        .await
        .unwrap(),
    );
    let mut refusals = std::collections::BTreeSet::new();
    for round in 0..20 {
        let version = format!("1.0.{round}");
        let text = manifest("contested", "notes", r#"["kv"]"#, &version);
        assert_eq!(
            upload(&host, &a, package(&a, &text, "notes"))
                .await
                .status(),
            201
        );
        let approve = tokio::spawn({
            let (here, version) = (here.clone(), version.clone());
            async move {
                here.approve("contested", &version, vec!["kv".into()], "operator:a")
                    .await
            }
        });
        let reject = tokio::spawn({
            let (other, version) = (other.clone(), version.clone());
            async move {
                other
                    .reject("contested", &version, "trùng lặp", "operator:b")
                    .await
            }
        });
        let (approved, rejected) = (approve.await.unwrap(), reject.await.unwrap());
        let landed = match (&approved, &rejected) {
            (Ok(_), Err(refused)) => {
                refusals.insert(citadel_error_code(refused));
                "approved"
            }
            (Err(refused), Ok(_)) => {
                refusals.insert(citadel_error_code(refused));
                "rejected"
            }
            _ => panic!("round {round}: {approved:?} and {rejected:?}"),
        };
        let stored = host
            .citadel
            .store
            .apps
            .versions("contested")
            .await
            .unwrap()
            .into_iter()
            .find(|v| v.version == version)
            .unwrap();
        let state = serde_json::to_value(stored.state).unwrap();
        assert_eq!(state, landed, "round {round}");
        assert_eq!(
            stored.grants.is_some(),
            landed == "approved",
            "round {round}"
        );
    }
    eprintln!("refusals seen: {refusals:?}");
    host.stop().await;
}

/// The code a refused lifecycle step answers with.
fn citadel_error_code(error: &citadel_host::registry::LifecycleError) -> String {
    use citadel_host::registry::LifecycleError;
    use citadel_host::store::StoreError;
    match error {
        LifecycleError::WrongState { .. } => "wrong_state".into(),
        LifecycleError::Store(StoreError::ChangedMeanwhile { .. }) => "changed_meanwhile".into(),
        other => panic!("an unexpected refusal: {other}"),
    }
}

/// A host that has not heard of a rollout yet (its copy of the app's serving
/// versions is behind the store) and then makes a step of its own serves
/// what the store says, not the version it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_on_a_host_behind_the_store_serves_what_the_store_says() {
    let dir = tempfile::tempdir().unwrap();
    let no_samples = |config: &mut citadel_host::HostConfig| config.install_samples = false;
    let host = TestHost::start_with(dir.path(), no_samples).await;
    let a = register_publisher(&host, "citadel-tests").await;
    let ship = |version: &'static str| {
        let (host, a) = (&host, &a);
        async move {
            let text = manifest("behind", "notes", r#"["kv"]"#, version);
            assert_eq!(
                upload(host, a, package(a, &text, "notes")).await.status(),
                201
            );
            approve_and_roll_out(host, "behind", version).await;
        }
    };
    ship("1.0.0").await;
    // Another host, which does not follow the store's changes: it stays at 1.0.0.
    let other = citadel_host::registry::Registry::open(
        host.citadel.store.clone(),
        host.citadel.runtime.clone(),
    )
    .await
    .unwrap();
    ship("1.1.0").await;
    let serving = |registry: &citadel_host::registry::Registry| {
        registry.live("behind").unwrap().context.version.to_string()
    };
    assert_eq!(serving(&other), "1.0.0");
    other
        .set_suspended("behind", Some("kiểm tra an ninh"), "operator:b")
        .await
        .unwrap();
    assert_eq!(serving(&other), "1.1.0");
    other
        .set_suspended("behind", None, "operator:b")
        .await
        .unwrap();
    assert_eq!(serving(&other), "1.1.0");
    host.stop().await;
}

/// A host its citizens reach over HTTPS (its public URL says so) marks
/// every cookie it sets `Secure`: the canary's bucket cookie, and the
/// session cookie it clears too; and only pages of that origin act with a
/// citizen's cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_cookies_are_secure_and_only_the_public_origin_acts() {
    const PUBLIC: &str = "https://citadel.hue.gov.vn";
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(dir.path(), |config| {
        config.install_samples = false;
        config.public_url = Some(citadel_host::public_url::PublicUrl::parse(PUBLIC).unwrap());
    })
    .await;
    let a = register_publisher(&host, "citadel-tests").await;
    for (version, percent) in [("1.0.0", 100), ("1.1.0", 50)] {
        let v = manifest("tour", "notes", r#"["kv"]"#, version);
        assert_eq!(
            upload(&host, &a, package(&a, &v, "notes")).await.status(),
            201
        );
        let path = format!("/api/v1/operator/apps/tour/versions/{version}/approve");
        let approved = operator_post(&host, &path, json!({ "capabilities": ["kv"] })).await;
        assert_eq!(approved.status(), 200);
        let rollout = json!({ "version": version, "percent": percent });
        let rolled = operator_post(&host, "/api/v1/operator/apps/tour/rollout", rollout).await;
        assert_eq!(rolled.status(), 200);
    }
    let response = client().get(host.url("/apps/tour/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("citadel_bucket="), "{cookie}");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    // The session cookie is cleared with the same attribute.
    // (A session as the OpenID sign-in opens it, with the provider's profile.)
    let lan = citadel_host::citizen::Citizen {
        id: "c-lan".into(),
        name: "Nguyễn Thị Lan".into(),
        phone: String::new(),
        national_id: String::new(),
        address: String::new(),
        birth_date: String::new(),
        locale: "vi".into(),
        roles: Vec::new(),
    };
    let (token, _) = host
        .citadel
        .sessions
        .create_with_profile(&lan)
        .await
        .unwrap();
    // With the cookie, the address the request went to is not the host's
    // origin: its public URL is (an http page of the same name is not).
    let with_cookie_from = |origin: &str| {
        client()
            .delete(host.url("/api/v1/me/location"))
            .header("cookie", format!("citadel_session={token}"))
            .header("origin", origin)
            .send()
    };
    let here = host.url("");
    for elsewhere in [here.trim_end_matches('/'), "http://citadel.hue.gov.vn"] {
        let refused = with_cookie_from(elsewhere).await.unwrap();
        assert_eq!(refused.status(), 403, "{elsewhere}");
        assert_eq!(error_of(refused).await.0, "cross_origin_request");
    }
    let forgotten = with_cookie_from(PUBLIC).await.unwrap();
    assert!(forgotten.status().is_success(), "{}", forgotten.status());
    let signed_out = client()
        .delete(host.url("/api/v1/me/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 200);
    let cleared = signed_out.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.contains("Max-Age=0") && cleared.ends_with("; Secure"),
        "{cleared}"
    );
    host.stop().await;
}
