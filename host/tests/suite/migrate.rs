//! `citadel migrate` end to end: a host on the embedded store gets citizens,
//! consents, notes and payments; the real binary copies its data dir into an
//! empty PostgreSQL database; a host on that database serves the same
//! answers; a second migration into it is refused and changes nothing.

use crate::common;

use common::status_and_json;

use citadel_host::store::postgres_testing::TestDatabase;
use common::KillableHost as Host;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

const TOKEN: &str = "cit_op_migrate_tests_0123456789abcdef";

/// `citadel migrate --from-data-dir DIR --to URL`.
fn migrate(data_dir: &Path, url: &str) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_citadel"))
        .args(["migrate", "--from-data-dir"])
        .arg(data_dir)
        .args(["--to", url])
        .env("RUST_LOG", "warn")
        .output()
        .expect("citadel runs")
}

/// What a citizen and the notes app see: the answers the copy must keep.
#[derive(Debug, PartialEq)]
struct Answers {
    notes: Vec<(u64, Value)>,
    pairwise_id: Value,
    payments: Vec<(Value, Value)>,
    consents: Value,
}

async fn answers(client: &reqwest::Client, url: &str, session: &str, note_ids: &[u64]) -> Answers {
    let mut notes = Vec::new();
    for id in note_ids {
        let (status, note) =
            status_and_json(client.get(format!("{url}/apps/notes/api/notes/{id}"))).await;
        assert_eq!(status, 200, "note {id}: {note}");
        notes.push((*id, note["text"].clone()));
    }
    let (status, who) = status_and_json(
        client
            .get(format!("{url}/apps/probe/whoami"))
            .bearer_auth(session),
    )
    .await;
    assert_eq!(status, 200, "{who}");
    let (status, history) = status_and_json(
        client
            .get(format!("{url}/api/v1/me/payments"))
            .bearer_auth(session),
    )
    .await;
    assert_eq!(status, 200, "{history}");
    let payments = history["payments"]
        .as_array()
        .unwrap_or_else(|| panic!("a payment history: {history}"))
        .iter()
        .map(|p| (p["id"].clone(), p["status"].clone()))
        .collect();
    let (status, consents) = status_and_json(
        client
            .get(format!("{url}/api/v1/me/consents"))
            .bearer_auth(session),
    )
    .await;
    assert_eq!(status, 200, "{consents}");
    Answers {
        notes,
        pairwise_id: who["current"]["id"].clone(),
        payments,
        consents,
    }
}

/// Rows per table of the database at `url`, to see that nothing changed.
async fn row_counts(url: &str) -> Vec<(String, i64)> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .expect("the database answers");
    let mut counts = Vec::new();
    for table in [
        "apps",
        "versions",
        "blobs",
        "kv",
        "kv_usage",
        "sessions",
        "consents",
        "intents",
        "accounts",
        "postings",
        "outbox",
        "audit",
        "host_secrets",
    ] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .expect("a count");
        counts.push((table.to_string(), count));
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_data_dir_moves_to_postgres_and_serves_the_same_answers() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::start(dir.path(), &[], TOKEN);
    common::publish_probe(&host.url, TOKEN, "migrate-tests", &["kv", "payments"]).await;

    let session = common::sign_in(&host.url, "c-lan").await;
    let (status, consent) = status_and_json(
        client
            .post(format!("{}/api/v1/me/consents", host.url))
            .bearer_auth(&session)
            .json(&json!({ "app": "maps", "scopes": ["location"] })),
    )
    .await;
    assert_eq!(status, 201, "{consent}");

    let mut note_ids = Vec::new();
    for n in 0..5 {
        let (status, note) = status_and_json(
            client
                .post(format!("{}/apps/notes/api/notes", host.url))
                .json(&json!({ "text": format!("Ghi chú {n}: cây đổ ở Trần Hưng Đạo") })),
        )
        .await;
        assert_eq!(status, 201, "{note}");
        note_ids.push(note["id"].as_u64().expect("an id"));
    }

    // One payment captured, one left pending.
    let mut intents = Vec::new();
    for reference in ["order-1", "order-2"] {
        let (status, intent) = status_and_json(
            client
                .post(format!(
                    "{}/apps/probe/pay?amount=25000&reference={reference}",
                    host.url
                ))
                .bearer_auth(&session),
        )
        .await;
        assert_eq!(status, 200, "{intent}");
        intents.push(intent["id"].as_str().expect("an intent id").to_string());
    }
    let (status, confirmed) = status_and_json(
        client
            .post(format!(
                "{}/api/v1/me/payments/{}/confirm",
                host.url, intents[0]
            ))
            .bearer_auth(&session),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");

    let before = answers(&client, &host.url, &session, &note_ids).await;
    assert!(before.pairwise_id.is_string(), "{before:?}");
    let statuses: Vec<&Value> = before.payments.iter().map(|(_, s)| s).collect();
    assert!(statuses.contains(&&json!("captured")), "{before:?}");
    assert!(statuses.contains(&&json!("pending")), "{before:?}");
    host.kill();

    let copied = migrate(dir.path(), &database.url);
    let report = String::from_utf8_lossy(&copied.stdout);
    assert!(
        copied.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    println!("{report}");
    assert!(report.contains("kv keys"), "{report}");
    assert!(report.contains("sampled kv value(s) equal"), "{report}");

    // A host on the database alone (a fresh data dir) answers the same.
    let fresh = tempfile::tempdir().unwrap();
    let mut host = Host::start(
        fresh.path(),
        &["--database-url", database.url.as_str()],
        TOKEN,
    );
    let after = answers(&client, &host.url, &session, &note_ids).await;
    assert_eq!(after, before);
    // The pending payment can still be confirmed on the copy.
    let (status, confirmed) = status_and_json(
        client
            .post(format!(
                "{}/api/v1/me/payments/{}/confirm",
                host.url, intents[1]
            ))
            .bearer_auth(&session),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    host.kill();

    // A second migration into the now non-empty database is refused.
    let counts = row_counts(&database.url).await;
    let refused = migrate(dir.path(), &database.url);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(row_counts(&database.url).await, counts, "nothing changed");
}

#[test]
fn a_missing_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let refused = migrate(dir.path(), "postgres://nobody:hunter2@127.0.0.1:1/none");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success());
    assert!(stderr.contains("no sled database"), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !stdout.contains("hunter2"),
        "the password never shows: {stdout}{stderr}"
    );
}
