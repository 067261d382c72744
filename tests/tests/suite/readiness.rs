//! `/readyz`: ready once the host is open; 503 `shutting_down` from the
//! moment the shutdown signal arrives — while the listener still accepts and
//! a request is still in flight — then the listener closes and the request
//! finishes; on PostgreSQL the database's answer is one of the checks.

use citadel_host::store::postgres_testing::{self, TestDatabase};
use citadel_host::{Part, Phase, Readiness};
use citadel_tests::{client, probe_manifest, TestHost};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// `/readyz` at `addr`: status, `Cache-Control`, and the JSON body.
async fn readyz(addr: SocketAddr) -> (u16, String, Value) {
    let response = client()
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("/readyz answers");
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "/readyz answers JSON, not {content_type}"
    );
    (status, cache, response.json().await.expect("a JSON body"))
}

#[test]
fn the_phase_goes_from_starting_to_ready_to_shutting_down() {
    let readiness = Readiness::new();
    assert_eq!(readiness.phase(), Phase::Starting);
    readiness.loaded(Part::City);
    readiness.loaded(Part::Store);
    assert!(!readiness.ready(), "not ready before the registry is open");
    assert_eq!(readiness.phase(), Phase::Starting);
    readiness.loaded(Part::Registry);
    assert!(readiness.ready());
    assert_eq!(readiness.phase(), Phase::Ready);
    readiness.shutting_down();
    assert_eq!(readiness.phase(), Phase::ShuttingDown);
    assert!(
        !readiness.ready(),
        "a host shutting down never turns ready again"
    );
    assert_eq!(readiness.phase(), Phase::ShuttingDown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_is_ready_once_open() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    assert_eq!(host.citadel.readiness.phase(), Phase::Ready);
    let (status, cache, body) = readyz(host.addr).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cache, "no-store");
    assert_eq!(body["status"], "ready", "{body}");
    for (check, state) in [
        ("phase", "ready"),
        ("store", "ok"),
        ("city", "ok"),
        ("registry", "ok"),
    ] {
        assert_eq!(body["checks"][check], state, "{check}: {body}");
    }
    assert!(
        body["checks"].get("database").is_none(),
        "sled has no database to ask: {body}"
    );
    // Liveness is unchanged.
    let health = client().get(host.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    host.stop().await;
}

/// A partner API on loopback whose `/held` answers only when `release` is
/// notified; each call that arrives is told on the receiver first.
async fn held_upstream() -> (SocketAddr, mpsc::UnboundedReceiver<()>, Arc<Notify>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (arrived, arrivals) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let held = release.clone();
    let app = axum::Router::new().route(
        "/held",
        axum::routing::get(move || {
            let (arrived, held) = (arrived.clone(), held.clone());
            async move {
                let _ = arrived.send(());
                held.notified().await;
                "released"
            }
        }),
    );
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, arrivals, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_turns_not_ready_before_the_listener_closes_and_the_drain() {
    let (upstream, mut arrivals, release) = held_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(dir.path(), |config| {
        config.allow_loopback_for_tests = true;
        // Long enough for a few loopback requests; the test does not wait
        // on it except at the end.
        config.shutdown_grace = Duration::from_secs(5);
    })
    .await;
    let origin = format!("http:http://localhost:{}", upstream.port());
    host.install_built(
        "probe",
        &probe_manifest("probe", &[&origin], "timeout_ms = 30000"),
    )
    .await;
    assert_eq!(readyz(host.addr).await.0, 200);

    // A request in flight: the app waits on the held upstream.
    let slow = tokio::spawn(
        client()
            .get(host.url("/apps/probe/fetch"))
            .query(&[("url", format!("http://localhost:{}/held", upstream.port()))])
            .send(),
    );
    arrivals
        .recv()
        .await
        .expect("the app's call reached the upstream");

    let addr = host.addr;
    let mut phase = host.citadel.readiness.watch();
    let stopping = tokio::spawn(host.stop());
    phase
        .wait_for(|phase| *phase == Phase::ShuttingDown)
        .await
        .expect("the host turns to shutting down");

    // Not ready, on a new connection: the listener still accepts.
    let (status, cache, body) = readyz(addr).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(cache, "no-store");
    assert_eq!(body["status"], "shutting_down", "{body}");
    assert_eq!(body["error"]["code"], "shutting_down", "{body}");
    assert_eq!(body["error"]["check"], "phase", "{body}");
    assert!(body["error"]["message"].as_str().is_some(), "{body}");
    assert!(body["error"]["request_id"].as_str().is_some(), "{body}");
    assert_eq!(body["checks"]["phase"], "shutting_down", "{body}");
    // Still alive.
    let health = client()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(!slow.is_finished(), "the request in flight is still served");

    // After the grace the listener closes (new clients are refused) while
    // the request is still in flight.
    tokio::time::timeout(Duration::from_secs(30), async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the listener closes after the grace");
    assert!(!slow.is_finished(), "the drain waits for the request");
    assert!(!stopping.is_finished(), "the host waits for the request");

    // The request finishes whole, then the host stops.
    release.notify_one();
    let response = slow
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["outcome"], "ok", "{answer}");
    assert_eq!(answer["body"], "released", "{answer}");
    tokio::time::timeout(Duration::from_secs(30), stopping)
        .await
        .expect("the host stops once the request is done")
        .expect("the host stops cleanly");
}

/// `psql`, for changing a test database from outside the host; `None`
/// (skipped, or a panic under CI) when it is missing.
fn psql() -> Option<&'static str> {
    let found = ["/usr/bin/psql", "/usr/local/bin/psql"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists());
    postgres_testing::required(
        found,
        "no psql here",
        "install Debian's postgresql-client (tools/with-postgres installs postgresql)",
    )
}

/// Run `sql` on the test cluster's admin database.
fn admin_sql(psql: &str, sql: &str) {
    let cluster = std::env::var("CITADEL_TEST_POSTGRES").expect("the test cluster");
    let output = std::process::Command::new(psql)
        .args([cluster.as_str(), "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_the_database_is_checked() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = database.url.clone();
    let host = TestHost::start_with(dir.path(), |config| {
        config.database_url = Some(url);
    })
    .await;
    let (status, _, body) = readyz(host.addr).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["checks"]["store"], "ok", "{body}");

    let Some(psql) = psql() else {
        host.stop().await;
        return;
    };
    let name = database
        .url
        .rsplit('/')
        .next()
        .expect("the database's name")
        .to_string();
    // The database stops taking connections (committed first, so the host
    // cannot reconnect meanwhile), then drops the host's.
    admin_sql(
        psql,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    );
    admin_sql(
        psql,
        &format!(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '{name}'"
        ),
    );
    let (status, _, body) = readyz(host.addr).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready", "{body}");
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    assert_eq!(body["error"]["check"], "database", "{body}");
    let state = body["checks"]["database"].as_str().unwrap_or_default();
    assert!(state == "failed" || state == "timeout", "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("postgres://") && !text.contains(&name),
        "the answer names no database: {text}"
    );

    // The database is back: so is the host (its pool reconnects on demand).
    admin_sql(
        psql,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    );
    let back = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (status, _, body) = readyz(host.addr).await;
            if status == 200 {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("ready again once the database answers");
    assert_eq!(back["checks"]["database"], "ok", "{back}");
    host.stop().await;
}
