//! `citadel backup` of a running host under a load of note writes and
//! payments, then `citadel restore` into a new data dir: the restored host
//! serves the same apps, consents and sessions, every write acknowledged
//! before the backup began is there, the ledger reconciles, and new writes
//! overwrite nothing. A damaged file or an occupied dir restores nothing; a
//! host on PostgreSQL refuses to back up.

use crate::common;

use citadel_host::store::postgres_testing::TestDatabase;
use common::KillableHost as Host;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const TOKEN: &str = "cit_op_backup_test_token_0123456789ab";

/// Run the real `citadel` with `args` (off the async runtime).
async fn citadel(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_citadel"))
            .args(&args)
            .env("CITADEL_OPERATOR_TOKEN", TOKEN)
            .output()
            .expect("citadel runs")
    })
    .await
    .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn backup(url: &str, out: &Path) -> Output {
    citadel(vec![
        "backup".into(),
        "--server".into(),
        url.into(),
        "--out".into(),
        out.display().to_string(),
    ])
    .await
}

async fn restore(file: &Path, data_dir: &Path) -> Output {
    citadel(vec![
        "restore".into(),
        file.display().to_string(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ])
    .await
}

async fn app_ids(url: &str) -> Vec<String> {
    let (status, page) = common::status_and_json(
        reqwest::Client::new()
            .get(format!("{url}/api/v1/operator/overview?limit=500"))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let mut ids: Vec<String> = page["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|app| app["id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let live = Host::start(&dir.path().join("live"), &[], TOKEN);
    common::publish_probe(&live.url, TOKEN, "backup-tests", &["kv", "payments"]).await;
    let lan = common::sign_in(&live.url, "c-lan").await;
    let (status, consent) = common::status_and_json(
        reqwest::Client::new()
            .post(format!("{}/api/v1/me/consents", live.url))
            .bearer_auth(&lan)
            .json(&serde_json::json!({ "app": "public-services", "scopes": ["identity.name"] })),
    )
    .await;
    assert!((200..300).contains(&status), "{status} {consent}");

    let load = common::RunningLoad::start(&live.url, &live.url, 4, 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = load.acknowledged();
    let file = dir.path().join("city.backup");
    let taken = backup(&live.url, &file).await;
    assert!(taken.status.success(), "{}", text(&taken));
    assert!(text(&taken).contains("ledger sum 0"), "{}", text(&taken));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let load = load.stop().await;
    assert!(
        before.notes.len() > 10 && before.captures.len() > 5,
        "the load wrote before the backup: {} notes, {} captures",
        before.notes.len(),
        before.captures.len()
    );
    assert!(
        load.notes.len() > before.notes.len(),
        "writes went on around the backup"
    );
    // The live host lost nothing either.
    common::assert_nothing_acknowledged_was_lost(&live.url, TOKEN, &load).await;

    // A second backup into the same file is refused; nothing is overwritten.
    let again = backup(&live.url, &file).await;
    assert!(!again.status.success());
    assert!(text(&again).contains("exists"), "{}", text(&again));

    let restored_dir = dir.path().join("restored");
    let restored = restore(&file, &restored_dir).await;
    assert!(restored.status.success(), "{}", text(&restored));
    let occupied = restore(&file, &restored_dir).await;
    assert!(!occupied.status.success());
    assert!(text(&occupied).contains("not empty"), "{}", text(&occupied));

    let copy = Host::start(&restored_dir, &[], TOKEN);
    assert_eq!(app_ids(&copy.url).await, app_ids(&live.url).await);
    let hello = reqwest::get(format!("{}/apps/hello/", copy.url))
        .await
        .unwrap();
    assert_eq!(hello.status(), 200);
    common::assert_nothing_acknowledged_was_lost(&copy.url, TOKEN, &before).await;
    // The citizen's session and consent came along.
    let (status, consents) = common::status_and_json(
        reqwest::Client::new()
            .get(format!("{}/api/v1/me/consents", copy.url))
            .bearer_auth(&lan),
    )
    .await;
    assert_eq!(status, 200, "{consents}");
    assert!(
        consents.to_string().contains("public-services"),
        "{consents}"
    );

    // The restored host takes new writes and payments, overwriting nothing.
    // Until both kinds landed: the copy compiles each app on its first
    // request, which takes a while on a busy machine.
    let more = common::RunningLoad::start(&copy.url, &copy.url, 2, 2).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let landed = more.acknowledged();
        if (!landed.notes.is_empty() && !landed.captures.is_empty())
            || std::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let more = more.stop().await;
    assert!(!more.notes.is_empty() && !more.captures.is_empty());
    common::assert_nothing_acknowledged_was_lost(&copy.url, TOKEN, &more).await;
    common::assert_nothing_acknowledged_was_lost(&copy.url, TOKEN, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_restores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let live = Host::start(&dir.path().join("live"), &[], TOKEN);
    let file = dir.path().join("city.backup");
    let taken = backup(&live.url, &file).await;
    assert!(taken.status.success(), "{}", text(&taken));

    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x01;
    let damaged = dir.path().join("damaged.backup");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = dir.path().join("target");
    let refused = restore(&damaged, &target).await;
    assert!(!refused.status.success());
    assert!(text(&refused).contains("checksum"), "{}", text(&refused));
    assert!(!target.join("db").exists(), "nothing is left half-written");

    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let refused = restore(&cut, &target).await;
    assert!(!refused.status.success());
    assert!(text(&refused).contains("damaged"), "{}", text(&refused));
    assert!(!target.join("db").exists());

    // Without an operator token the host refuses, and no file is written.
    let (status, body) = common::status_and_json(
        reqwest::Client::new().get(format!("{}/api/v1/operator/backup", live.url)),
    )
    .await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_on_postgresql_refuses_to_back_up() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        &dir.path().join("data"),
        &["--database-url", &database.url],
        TOKEN,
    );
    let file = dir.path().join("city.backup");
    let refused = backup(&host.url, &file).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("backup_not_embedded") && text(&refused).contains("pg_dump"),
        "{}",
        text(&refused)
    );
    assert!(!file.exists());
    assert!(!dir.path().join("city.backup.partial").exists());
}
