//! Several hosts on one PostgreSQL behind a real load balancer (Debian's
//! HAProxy, round-robin): whatever host a request reaches, the citizen,
//! their consents, kv data and money are the same, and a grant revoked
//! through one host holds on the other within a second.

use crate::common;

use citadel_host::store::postgres_testing::{self, TestDatabase};
use common::{status_and_json, KillableHost as Host};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "cit_op_several_hosts_0123456789abcdef";

/// A running HAProxy in front of `backends`, stopped when dropped.
struct Balancer {
    child: Child,
    url: String,
    _config: tempfile::TempDir,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's haproxy, or `None` (after saying so) outside CI.
fn haproxy_binary() -> Option<&'static str> {
    let path = "/usr/sbin/haproxy";
    postgres_testing::required(
        std::path::Path::new(path).exists().then_some(path),
        "no HAProxy here",
        "apt-get install haproxy; .ci/run installs it",
    )
}

/// HAProxy on a free loopback port, round-robin over `backends`
/// (`127.0.0.1:port`), checking each host's `/healthz`.
async fn balance(binary: &str, backends: &[&str]) -> Balancer {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("its address").port()
    };
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(n, addr)| format!("  server host{n} {addr} check inter 200ms fall 2 rise 1\n"))
        .collect();
    let config = format!(
        "global\n  maxconn 2000\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n  \
         retries 3\n  option redispatch\n\
         frontend citadel\n  bind 127.0.0.1:{port}\n  default_backend hosts\n\
         backend hosts\n  balance roundrobin\n  option httpchk GET /healthz\n{servers}"
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).expect("the config is written");
    let child = Command::new(binary)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .spawn()
        .expect("haproxy starts");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("{url}/healthz")).send().await {
            if response.status() == 200 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Balancer {
        child,
        url,
        _config: dir,
    }
}

fn address(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Two hosts on one fresh database, the probe published through host A
/// (which installs the samples into the empty database first), and HAProxy
/// in front; `None` when the test skips. Fields drop in order: the balancer
/// and hosts before their data dirs and the database.
struct TwoHosts {
    lb: Balancer,
    a: Host,
    b: Host,
    /// Host B's address, to restart it on.
    b_address: String,
    publisher: common::Publisher,
    _dir_a: tempfile::TempDir,
    dir_b: tempfile::TempDir,
    database: TestDatabase,
}

impl TwoHosts {
    async fn start() -> Option<TwoHosts> {
        let database = TestDatabase::create().await?;
        let haproxy = haproxy_binary()?;
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = Host::start(dir_a.path(), &["--database-url", &database.url], TOKEN);
        let publisher =
            common::publish_probe(&a.url, TOKEN, "several-hosts", &["kv", "payments"]).await;
        let b = Host::start(dir_b.path(), &["--database-url", &database.url], TOKEN);
        let b_address = address(&b.url).to_string();
        let lb = balance(haproxy, &[address(&a.url), &b_address]).await;
        Some(TwoHosts {
            lb,
            a,
            b,
            b_address,
            publisher,
            _dir_a: dir_a,
            dir_b,
            database,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_behind_a_balancer_serve_one_state() {
    // Bound by name, not left to `..`: the data dirs and the database must
    // live to the end of the test.
    let Some(TwoHosts {
        lb,
        a,
        b,
        publisher,
        _dir_a,
        dir_b: _dir_b,
        database: _database,
        ..
    }) = TwoHosts::start().await
    else {
        return;
    };
    let client = reqwest::Client::new();
    let hosts = [&a.url, &b.url, &lb.url];

    // A citizen signs in through host A; the session holds everywhere.
    let session = common::sign_in(&a.url, "c-lan").await;

    // Every host computes the same pairwise id for the citizen in the app.
    let mut seen = Vec::new();
    for url in [&a.url, &b.url] {
        let (status, who) = status_and_json(
            client
                .get(format!("{url}/apps/probe/whoami"))
                .bearer_auth(&session),
        )
        .await;
        assert_eq!(status, 200, "{who}");
        seen.push(who["current"]["id"].clone());
    }
    assert!(seen[0].is_string(), "{seen:?}");
    assert_eq!(seen[0], seen[1], "one pairwise id on both hosts");

    // A position and a consent given through the balancer feed maps on
    // both hosts.
    let (status, _) = status_and_json(
        client
            .put(format!("{}/api/v1/me/location", lb.url))
            .bearer_auth(&session)
            .json(&json!({ "lat": 16.4683, "lon": 107.5786 })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, consent) = status_and_json(
        client
            .post(format!("{}/api/v1/me/consents", lb.url))
            .bearer_auth(&session)
            .json(&json!({ "app": "maps", "scopes": ["location"] })),
    )
    .await;
    assert_eq!(status, 201, "{consent}");
    for url in hosts {
        let (status, nearby) = status_and_json(
            client
                .get(format!("{url}/apps/maps/api/nearby?k=1"))
                .bearer_auth(&session),
        )
        .await;
        assert_eq!(
            (status, &nearby["from"]["source"]),
            (200, &json!("location")),
            "{url}: {nearby}"
        );
    }

    // Notes written through the balancer (so through both hosts) read back
    // the same from each host.
    let mut notes = Vec::new();
    for n in 0..6 {
        let text = format!("Ghi chú {n}: đèn đường hỏng ở Lê Lợi");
        let (status, note) = status_and_json(
            client
                .post(format!("{}/apps/notes/api/notes", lb.url))
                .json(&json!({ "text": text })),
        )
        .await;
        assert_eq!(status, 201, "{note}");
        notes.push((note["id"].as_u64().expect("an id"), text));
    }
    let ids: std::collections::BTreeSet<u64> = notes.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), notes.len(), "no id given twice across hosts");
    for (id, text) in &notes {
        for url in [&a.url, &b.url] {
            let (status, note) =
                status_and_json(client.get(format!("{url}/apps/notes/api/notes/{id}"))).await;
            assert_eq!(status, 200, "{url} note {id}: {note}");
            assert_eq!(note["text"], json!(text), "{url} note {id}");
        }
    }

    // A payment created through one host is confirmed through the other,
    // and the citizen's history shows it captured on both.
    let (status, intent) = status_and_json(
        client
            .post(format!(
                "{}/apps/probe/pay?amount=25000&reference=order-1",
                a.url
            ))
            .bearer_auth(&session),
    )
    .await;
    assert_eq!(status, 200, "{intent}");
    let id = intent["id"].as_str().expect("an intent id").to_string();
    let (status, confirmed) = status_and_json(
        client
            .post(format!("{}/api/v1/me/payments/{id}/confirm", b.url))
            .bearer_auth(&session),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    for url in [&a.url, &b.url] {
        let (status, history) = status_and_json(
            client
                .get(format!("{url}/api/v1/me/payments"))
                .bearer_auth(&session),
        )
        .await;
        assert_eq!(status, 200, "{history}");
        let entry = history["payments"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["id"] == json!(id)))
            .unwrap_or_else(|| panic!("{url}: {history}"));
        assert_eq!(entry["status"], "captured", "{url}: {entry}");
    }

    // A canary at 10 %: each citizen gets the same version from either host.
    let next = common::probe_manifest("several-hosts")
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"");
    common::publish_version(
        &a.url,
        TOKEN,
        &publisher,
        &next,
        "probe",
        &["kv", "payments"],
        10,
    )
    .await;
    // Each host hears of the canary through the change feed, a moment
    // after host A stored it: wait until each routes by it (only then does
    // it give an anonymous caller a bucket cookie).
    for url in [&a.url, &b.url] {
        let started = std::time::Instant::now();
        loop {
            let response = client
                .get(format!("{url}/apps/probe/whoami"))
                .send()
                .await
                .unwrap();
            let bucketed = response
                .headers()
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().is_ok_and(|c| c.starts_with("citadel_bucket=")));
            if bucketed {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{url} never heard of the canary"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut canaries = 0;
    for n in 1..=100 {
        let token = common::sign_in(&a.url, &format!("c-demo-{n}")).await;
        let mut versions = Vec::new();
        // Whom each host took the caller for (a pairwise id; null: anonymous).
        let mut callers = Vec::new();
        for url in [&a.url, &b.url, &lb.url] {
            let response = client
                .get(format!("{url}/apps/probe/whoami"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            versions.push(
                response.headers()["x-citadel-app-version"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
            let who: serde_json::Value = response.json().await.unwrap_or_default();
            callers.push(who["current"]["id"].clone());
        }
        assert!(
            versions.iter().all(|v| *v == versions[0]),
            "c-demo-{n} got {versions:?} from A, B and the balancer, taken for {callers:?}"
        );
        canaries += usize::from(versions[0] == "1.1.0");
    }
    assert!(
        (1..=30).contains(&canaries),
        "{canaries} of 100 citizens in a 10 % canary"
    );

    // A grant revoked through host A holds on host B within a second.
    let response = client
        .put(format!("{}/api/v1/operator/apps/notes/grants", a.url))
        .bearer_auth(TOKEN)
        .json(&json!({ "capabilities": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let revoked = Instant::now();
    loop {
        let (status, _) = status_and_json(
            client
                .post(format!("{}/apps/notes/api/notes", b.url))
                .json(&json!({ "text": "sau khi thu hồi" })),
        )
        .await;
        if status == 403 {
            break;
        }
        assert_eq!(status, 201);
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "host B still writes notes 1 s after the revocation through host A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(lb);
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_killed_under_load_loses_no_acknowledged_write() {
    let Some(TwoHosts {
        lb,
        a,
        mut b,
        b_address,
        dir_b,
        database,
        _dir_a,
        ..
    }) = TwoHosts::start().await
    else {
        return;
    };
    let load = common::RunningLoad::start(&lb.url, &a.url, 6, 3).await;

    let mut windows = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let killed = Instant::now();
        b.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (dir, address) = (dir_b.path().to_path_buf(), b_address.clone());
        let url = database.url.clone();
        b = tokio::task::spawn_blocking(move || {
            Host::start_on(&address, &dir, &["--database-url", &url], TOKEN)
        })
        .await
        .expect("host B restarts");
        windows.push((killed, Instant::now() + Duration::from_millis(500)));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let load = load.stop().await;
    for (n, (from, to)) in windows.iter().enumerate() {
        let seen: Vec<bool> = load
            .outcomes
            .iter()
            .filter(|(at, _)| (*from..=*to).contains(at))
            .map(|(_, ok)| *ok)
            .collect();
        let failed = seen.iter().filter(|ok| !**ok).count();
        eprintln!(
            "kill {}: {failed} of {} requests failed while host B was down and restarting",
            n + 1,
            seen.len()
        );
        assert!(
            seen.len() > failed,
            "requests kept succeeding through host A"
        );
    }
    let total = load.outcomes.len();
    let failed = load.outcomes.iter().filter(|(_, ok)| !ok).count();
    eprintln!(
        "in all {total} requests, {failed} failed; {} notes and {} captures acknowledged",
        load.notes.len(),
        load.captures.len()
    );
    assert!(!load.notes.is_empty() && !load.captures.is_empty());

    common::assert_nothing_acknowledged_was_lost(&a.url, TOKEN, &load).await;
    drop(lb);
    drop((a, b));
}
