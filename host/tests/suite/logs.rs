//! The host's logs as a log pipeline reads them: `citadel serve
//! --log-format json` writes one JSON object per line, and the access
//! record of a request carries its id, app, status and latency as fields.
//! A format the host does not know is refused before it starts.

use crate::common;

use serde_json::Value;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A running host, killed if the test fails before it stops it.
struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A log line as JSON, or a failure that quotes it.
fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"))
}

#[tokio::test]
async fn json_logs_carry_the_access_record_as_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address, lines) = common::serve_logged(dir.path(), &["--log-format", "json"], &[]);
    let mut host = Host(child);
    let response = reqwest::get(format!("http://{address}/apps/hello/"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .expect("the gateway names the request's id")
        .to_string();

    // Every line up to the request's access record is JSON.
    let deadline = Instant::now() + Duration::from_secs(30);
    let access = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no access record of request {id}: {e}"));
        let record = parse(&line);
        for key in ["timestamp", "level", "target", "message"] {
            assert!(record[key].is_string(), "`{key}` in {line}");
        }
        if record["message"] == "served" && record["request_id"] == id.as_str() {
            break record;
        }
    };
    assert_eq!(access["level"], "INFO", "{access}");
    assert_eq!(access["method"], "GET", "{access}");
    assert_eq!(access["path"], "/apps/hello/", "{access}");
    assert_eq!(access["app"], "hello", "{access}");
    assert!(access["version"].is_string(), "{access}");
    assert_eq!(access["status"], 200, "{access}");
    assert!(access["latency_us"].is_u64(), "{access}");

    // And so is every line after it, to the last one at shutdown (the
    // channel closes with the process's stdout).
    let status = Command::new("kill")
        .args(["-TERM", &host.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = host.0.wait().expect("citadel exits");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    for line in lines.iter() {
        parse(&line);
    }
}

#[test]
fn an_unknown_log_format_is_refused_with_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    for (args, env) in [
        (&["--log-format", "xml"][..], None),
        (&[][..], Some(("CITADEL_LOG_FORMAT", "xml"))),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_citadel"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .envs(env)
            .output()
            .expect("citadel runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} {env:?}");
        assert!(
            stderr.contains("xml") && stderr.contains("text") && stderr.contains("json"),
            "{args:?} {env:?}: {stderr}"
        );
    }
}
