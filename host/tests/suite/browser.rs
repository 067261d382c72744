//! The citizen shell and the operator console in a real browser: starts the
//! real binary on loopback, prepares what the scenarios need, and runs
//! `browser/run.mjs` (Playwright driving Debian's chromium, headless).
//! Screenshots of every step and axe-core's accessibility reports land in
//! `target/tmp/browser-artifacts/`.
//! Needs `chromium` and `npm ci --prefix browser` (see the README).

use crate::common;
mod setup;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TOKEN: &str = "cit_op_browser_tests_token_0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_and_the_console_work_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let browser_dir = root.join("browser");
    for package in ["playwright-core", "axe-core"] {
        assert!(
            browser_dir.join("node_modules").join(package).exists(),
            "{package} is not installed: run `npm ci --prefix browser` (see the README)"
        );
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (see the README)"
    );

    let data = tempfile::tempdir().unwrap();
    let (mut child, address, host_log) =
        common::serve_logged(data.path(), &[], &[("CITADEL_OPERATOR_TOKEN", TOKEN)]);
    let base = format!("http://{address}");
    let prepared = setup::prepare(&base, TOKEN).await;
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    let output = Command::new("node")
        .arg(browser_dir.join("run.mjs"))
        .env("CITADEL_BASE", &base)
        .env("CITADEL_OPERATOR_TOKEN", TOKEN)
        .env("CITADEL_ARTIFACTS", &artifacts)
        .env("CITADEL_SETUP", prepared.to_string())
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs (Node.js is needed for the browser tests)");
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !output.status.success() {
        // What the host said meanwhile: its warnings and its refusals and
        // failures (a scenario's own 4xx included), the last ones.
        // (The host is stopped: its lines end when its stdout closes.)
        let lines = std::iter::from_fn(|| host_log.recv_timeout(Duration::from_secs(5)).ok());
        let noted: Vec<String> = lines
            .filter(|line| {
                line.contains("WARN") || line.contains("ERROR") || status_at_least_400(line)
            })
            .collect();
        let tail = &noted[noted.len().saturating_sub(200)..];
        panic!(
            "browser scenarios failed (screenshots in {}):\n{stdout}\n{stderr}\n\
             the host's warnings and answers >= 400 (last {} of {}):\n{}",
            artifacts.display(),
            tail.len(),
            noted.len(),
            tail.join("\n")
        );
    }
}

/// Whether an access record (`… status=NNN …`) names a status of 400 or more.
fn status_at_least_400(line: &str) -> bool {
    common::log_field(line, "status")
        .and_then(|code| code.parse::<u16>().ok())
        .is_some_and(|code| code >= 400)
}

/// `browser/run.mjs` fails when it would check nothing: an empty scenario
/// folder, a filter that names no scenario, or one that names a missing one
/// next to a real one. (Before, each of these exited 0.)
#[test]
fn running_no_scenario_is_a_failure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let browser_dir = root.join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci --prefix browser` (see the README)"
    );
    let empty = tempfile::tempdir().unwrap();
    let cases: [(Option<&Path>, Option<&str>); 3] = [
        (Some(empty.path()), None),
        (None, Some("no-such-scenario")),
        (None, Some("isolation,no-such-scenario")),
    ];
    for (dir, filter) in cases {
        let mut command = Command::new("node");
        command
            .arg(browser_dir.join("run.mjs"))
            .env("CITADEL_BASE", "http://127.0.0.1:9")
            .env_remove("CITADEL_SCENARIOS")
            .env_remove("CITADEL_SCENARIO_DIR");
        if let Some(dir) = dir {
            command.env("CITADEL_SCENARIO_DIR", dir);
        }
        if let Some(filter) = filter {
            command.env("CITADEL_SCENARIOS", filter);
        }
        let output = command
            .output()
            .expect("node runs (Node.js is needed for the browser tests)");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{dir:?} {filter:?}: running no scenario must fail"
        );
        assert!(
            stderr.contains("FAIL no scenario"),
            "{dir:?} {filter:?}: {stderr}"
        );
    }
}
