//! A fresh PostgreSQL database per test, on the cluster named by
//! `CITADEL_TEST_POSTGRES` (`tools/with-postgres` starts one). Without it the
//! tests skip loudly — except under CI (`CITADEL_CI`), where they must run.

use std::sync::atomic::{AtomicU32, Ordering};

/// `Some(value)` when a test service is here; otherwise `None` after saying
/// the test skips — or, under CI (`CITADEL_CI`), where every test must run, a
/// panic naming what is missing and how to get it.
pub fn required<T>(value: Option<T>, missing: &str, how: &str) -> Option<T> {
    if value.is_some() {
        return value;
    }
    if std::env::var_os("CITADEL_CI").is_some() {
        panic!("{missing} under CI: {how}");
    }
    eprintln!("SKIPPED: {missing} ({how})");
    None
}

/// The admin URL of the test cluster, or `None` (after saying so) when
/// PostgreSQL tests cannot run here.
pub fn cluster_url() -> Option<String> {
    required(
        std::env::var("CITADEL_TEST_POSTGRES")
            .ok()
            .filter(|url| !url.is_empty()),
        "no PostgreSQL for this test (CITADEL_TEST_POSTGRES)",
        "run the tests under tools/with-postgres",
    )
}

/// A database that exists for one test; dropped (best effort) after it.
pub struct TestDatabase {
    pub url: String,
    name: String,
    cluster: String,
}

impl TestDatabase {
    /// Create an empty database on the test cluster, if there is one.
    pub async fn create() -> Option<TestDatabase> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let cluster = cluster_url()?;
        let name = format!(
            "citadel_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            hex::encode(rand::random::<[u8; 4]>())
        );
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&cluster)
            .await
            .expect("the test cluster answers");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("a test database is created");
        let url = match cluster.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("CITADEL_TEST_POSTGRES must end in /DATABASE: {cluster}"),
        };
        Some(TestDatabase { url, name, cluster })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (cluster, name) = (self.cluster.clone(), self.name.clone());
        // A drop cannot await: a short-lived thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&cluster).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A store over a fresh database, or `None` when PostgreSQL tests skip.
#[cfg(test)]
pub async fn fresh_store() -> Option<(TestDatabase, crate::store::Store)> {
    let database = TestDatabase::create().await?;
    let store = crate::store::Store::postgres(&database.url)
        .await
        .expect("the store connects and migrates");
    Some((database, store))
}
