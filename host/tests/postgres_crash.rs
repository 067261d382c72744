//! PostgreSQL itself crashes under load (an immediate stop: no checkpoint,
//! WAL not yet flushed is lost) and comes back: the host reconnects, and
//! every kv write and capture it acknowledged is still there. Alone in its
//! test binary, since it stops the cluster every PostgreSQL test shares.

mod common;

use citadel_host::store::postgres_testing::{self, TestDatabase};
use common::KillableHost as Host;
use std::time::Duration;

const TOKEN: &str = "cit_op_postgres_crash_0123456789abcdef";

/// The script `tools/with-postgres` leaves to crash and restart its
/// cluster, or `None` (after saying so) outside CI.
fn crash_script() -> Option<String> {
    postgres_testing::required(
        std::env::var("CITADEL_TEST_POSTGRES_CRASH")
            .ok()
            .filter(|s| !s.is_empty()),
        "no crashable PostgreSQL (CITADEL_TEST_POSTGRES_CRASH)",
        "run the tests under tools/with-postgres",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_outlive_a_database_crash() {
    let Some(script) = crash_script() else {
        return;
    };
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--database-url", &database.url], TOKEN);
    common::publish_probe(&host.url, TOKEN, "postgres-crash", &["kv", "payments"]).await;

    let load = common::RunningLoad::start(&host.url, &host.url, 8, 4).await;
    for crash in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let script = script.clone();
        let restarted =
            tokio::task::spawn_blocking(move || std::process::Command::new(&script).status())
                .await
                .unwrap()
                .expect("the crash script runs");
        assert!(restarted.success(), "crash {crash}: the cluster restarts");
    }
    // The host reconnects: writes succeed again after the last crash.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let after = load.seen();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let load = load.stop().await;
    let recovered = load.outcomes[after..].iter().filter(|(_, ok)| *ok).count();
    assert!(
        recovered > 0,
        "the host serves again after the database came back"
    );
    let failed = load.outcomes.iter().filter(|(_, ok)| !ok).count();
    eprintln!(
        "{} requests, {failed} failed around 3 database crashes; {} notes and {} captures acknowledged",
        load.outcomes.len(),
        load.notes.len(),
        load.captures.len()
    );
    common::assert_nothing_acknowledged_was_lost(&host.url, TOKEN, &load).await;
}

/// A session ended through one host while another host's change feed was
/// down ends on that host too: once its feed listens again it drops what it
/// cached, rather than trusting a session for the rest of its 12 hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_ended_while_the_change_feed_was_down_ends_on_every_host() {
    let Some(script) = crash_script() else {
        return;
    };
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = ["--database-url", database.url.as_str()];
    let a = Host::start(&dir.path().join("a"), &url, TOKEN);
    let b = Host::start(&dir.path().join("b"), &url, TOKEN);
    let token = common::sign_in(&a.url, "c-demo-1").await;
    let client = reqwest::Client::new();
    let me = |host: &str| {
        client
            .get(format!("{host}/api/v1/me"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(me(&a.url).await.unwrap().status(), 200, "host a caches it");

    let restarted =
        tokio::task::spawn_blocking(move || std::process::Command::new(&script).status())
            .await
            .unwrap()
            .expect("the crash script runs");
    assert!(restarted.success(), "the cluster restarts");
    // At once, while host a's feed may not listen yet: sign out through b.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let logout = client
            .post(format!("{}/api/v1/logout", b.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if logout.status().is_success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "b signs out: {}",
            logout.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Host a ends it too, within moments of listening again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while me(&a.url).await.unwrap().status() != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "host a still accepts a session that ended on host b"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
