//! What a mini-app prints reaches the host's log: each line of its stdout
//! and stderr once, as its own record tagged with the app, the request's id
//! and the stream (the WASI context that carries them is built on a
//! request's first WASI call, so this is also that path's test).

use citadel_tests::{client, probe_manifest, TestHost};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The host's log, as its subscriber writes it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    /// The records of the guest's output in request `id`.
    fn guest_lines(&self, id: &str) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|record| record["target"] == "guest" && record["request_id"] == id)
            .collect()
    }
}

#[tokio::test]
async fn what_a_guest_prints_reaches_the_log_with_its_app_and_request_id() {
    let log = Captured::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(log.clone())
            .finish(),
    )
    .expect("this test's process has no other subscriber");
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.install_built("probe", &probe_manifest("probe", &[], ""))
        .await;

    for _ in 0..2 {
        let response = client()
            .get(host.url("/apps/probe/print?line=Xin%20ch%C3%A0o%2C%20Hu%E1%BA%BF"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(response.text().await.unwrap(), "printed");

        let lines = log.guest_lines(&id);
        let of = |stream: &str| {
            lines
                .iter()
                .filter(|record| record["stream"] == stream)
                .collect::<Vec<_>>()
        };
        for stream in ["stdout", "stderr"] {
            let records = of(stream);
            assert_eq!(records.len(), 1, "{stream}: {lines:?}");
            assert_eq!(records[0]["message"], format!("{stream}: Xin chào, Huế"));
            assert_eq!(records[0]["app"], "probe");
            assert_eq!(records[0]["level"], "INFO");
        }
    }
    host.stop().await;
}
