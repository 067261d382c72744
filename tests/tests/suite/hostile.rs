//! Hostile guests: an infinite loop, a memory bomb, deep recursion, a panic
//! and a sleeper each get their own error status with a request id, while a
//! well-behaved request running at the same time succeeds and the host stays up.

use citadel_tests::{client, error_of, test_manifest, TestHost};
use std::time::{Duration, Instant};

async fn hello_is_fine(host: &TestHost) {
    let response = client().get(host.url("/apps/hello/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "Xin chào, Huế!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_guests_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    // The same component twice: in the storm the memory bomb runs as its
    // own app, since an app's busy guests share that app's CPU (the loop
    // may rightly hold the memory bomb past its deadline when both are one app).
    // Ids no other test uses: the metrics counted below are the process's.
    for id in ["storm", "storm-memory"] {
        host.install_built(
            "hostile",
            &test_manifest(id, "hostile", "[]", "memory_mib = 16\ntimeout_ms = 700"),
        )
        .await;
    }

    let cases = [
        ("/apps/storm/loop", 504, "deadline_exceeded"),
        ("/apps/storm/sleep?ms=5000", 504, "deadline_exceeded"),
        ("/apps/storm/grow", 500, "guest_out_of_memory"),
        ("/apps/storm/recurse", 500, "guest_trap"),
        ("/apps/storm/panic", 500, "guest_trap"),
    ];
    for (path, status, code) in cases {
        let started = Instant::now();
        let hostile = tokio::spawn({
            let url = host.url(path);
            async move { client().get(url).send().await.unwrap() }
        });
        // While the hostile request runs, a well-behaved one is served.
        tokio::time::sleep(Duration::from_millis(50)).await;
        hello_is_fine(&host).await;

        let response = hostile.await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let (error_code, request_id) = error_of(response).await;
        assert_eq!(error_code, code, "{path}");
        assert_eq!(request_id.len(), 16, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} took {:?}",
            started.elapsed()
        );
    }

    // All at once, with well-behaved traffic in between: the host stays up.
    let storm_cases = cases.map(|(path, status, code)| match path {
        "/apps/storm/grow" => ("/apps/storm-memory/grow", status, code),
        other => (other, status, code),
    });
    let storm: Vec<_> = storm_cases
        .iter()
        .map(|(path, _, _)| {
            let url = host.url(path);
            tokio::spawn(async move { client().get(url).send().await.unwrap().status() })
        })
        .collect();
    for _ in 0..5 {
        hello_is_fine(&host).await;
    }
    for (request, (path, status, _)) in storm.into_iter().zip(storm_cases) {
        assert_eq!(request.await.unwrap(), status, "{path} in the storm");
    }
    let ok = client()
        .get(host.url("/apps/storm/ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.status(),
        200,
        "the hostile app itself still serves fresh instances"
    );
    hello_is_fine(&host).await;

    let metrics = client().get(host.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    for line in [
        r#"citadel_app_guest_failures_total{app="storm",kind="timeout"} 4"#,
        r#"citadel_app_guest_failures_total{app="storm",kind="out_of_memory"} 1"#,
        r#"citadel_app_guest_failures_total{app="storm-memory",kind="out_of_memory"} 1"#,
        r#"citadel_app_guest_failures_total{app="storm",kind="trap"} 4"#,
        r#"citadel_app_requests_total{app="storm",status="5xx"} 9"#,
        r#"citadel_app_requests_total{app="storm-memory",status="5xx"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
    }
    assert!(metrics.contains(r#"citadel_app_request_duration_seconds_bucket{app="hello""#));
    host.stop().await;
}

/// What a guest makes through wasi:http lives in the host's memory, outside
/// the guest's memory limit: a guest that keeps field sets until the host
/// runs out is stopped at the request's resource bound, and a field set is
/// bounded in size. Ordinary use is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cannot_pile_up_host_memory_through_http_fields() {
    use citadel_host::runtime::{MAX_FIELDS_BYTES, MAX_RESOURCES};
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built(
        "hostile",
        &test_manifest("hostile", "hostile", "[]", "memory_mib = 16"),
    )
    .await;
    let held = |kib: usize, count: usize| {
        let url = host.url(&format!(
            "/apps/hostile/hoard-fields?kib={kib}&count={count}"
        ));
        async move { client().get(url).send().await.unwrap() }
    };

    let ordinary = held(1, 100).await;
    assert_eq!(ordinary.status(), 200);
    assert_eq!(
        ordinary.json::<serde_json::Value>().await.unwrap()["held"],
        100
    );

    // A set of fields past the size bound traps (wasmtime's rule for it).
    let too_big = held(MAX_FIELDS_BYTES / 1024 + 1, 1).await;
    assert_eq!(too_big.status(), 500);
    assert_eq!(error_of(too_big).await.0, "guest_trap");

    // 20 times the bound, 30 KiB each: 600 MB of the host's memory unbounded.
    let started = Instant::now();
    let hoard = held(30, MAX_RESOURCES * 20).await;
    assert_eq!(hoard.status(), 500);
    assert_eq!(error_of(hoard).await.0, "guest_trap");
    assert!(started.elapsed() < Duration::from_secs(5));
    hello_is_fine(&host).await;
    host.stop().await;
}
