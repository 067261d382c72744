//! The whole publishing path with the real binary, as a partner and the city
//! would run it: keys generate → app new → build → package → publish → the
//! operator approves with grants → rollout 10 % (2,000 synthetic citizens:
//! 7–13 % on the new version, each always the same) → rollout 100 % →
//! rollback → every new request on the old version.

mod common;

use std::path::Path;
use std::process::{Child, Command};

const TOKEN: &str = "cit_op_e2e_publishing_token_0123456789";

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path) -> Server {
    let (child, address) = common::serve(
        data_dir,
        &["--no-samples"],
        &[("CITADEL_OPERATOR_TOKEN", TOKEN)],
    );
    Server {
        child,
        url: format!("http://{address}"),
    }
}

/// Run `citadel args…`; its stdout, which must be a success.
fn citadel(args: &[&str], dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_citadel"))
        .args(args)
        .current_dir(dir)
        // One target dir for every run of this test: the SDK compiles once.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("partner-apps"),
        )
        .env("CITADEL_OPERATOR_TOKEN", TOKEN)
        .output()
        .expect("citadel runs");
    assert!(
        output.status.success(),
        "citadel {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Build, package and publish the app in `app_dir`; returns the version record.
fn ship(server: &Server, work: &Path, app_dir: &str, api_key: &str) -> serde_json::Value {
    citadel(&["app", "build", "--dir", app_dir], work);
    let package = citadel(
        &["app", "package", "--key", "signing.key", "--dir", app_dir],
        work,
    );
    json(&citadel(
        &[
            "app",
            "publish",
            package.trim(),
            "--server",
            &server.url,
            "--api-key",
            api_key,
        ],
        work,
    ))
}

fn admin(server: &Server, work: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["admin", "--server", &server.url, "--token", TOKEN];
    all.extend_from_slice(args);
    json(&citadel(&all, work))
}

/// The version that answers each citizen (signed in by token).
async fn versions_seen(server: &Server, tokens: &[String]) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    for chunk in tokens.chunks(50) {
        let batch = chunk.iter().map(|token| {
            client
                .get(format!("{}/apps/tour-guide/", server.url))
                .bearer_auth(token)
                .send()
        });
        for response in futures::future::join_all(batch).await {
            let response = response.expect("the app answers");
            assert_eq!(response.status(), 200);
            seen.push(
                response.headers()["x-citadel-app-version"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_publishes_and_the_city_rolls_out_and_back() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let server = serve(data.path());

    let public_key = citadel(&["keys", "generate", "--out", "signing.key"], work);
    let registered = admin(
        &server,
        work,
        &[
            "add-publisher",
            "hue-tourism",
            "Công ty Du lịch Huế",
            "--contact",
            "lienhe@dulichhue.vn",
            "--signing-key",
            public_key.trim(),
        ],
    );
    let api_key = registered["api_key"]
        .as_str()
        .expect("an API key")
        .to_string();

    citadel(
        &[
            "app",
            "new",
            "tour-guide",
            "--publisher",
            "hue-tourism",
            "--dir",
            "tour-guide",
        ],
        work,
    );
    let v1 = ship(&server, work, "tour-guide", &api_key);
    assert_eq!(v1["state"], "in-review");
    assert_eq!(admin(&server, work, &["reviews"])[0]["version"], "0.1.0");
    admin(&server, work, &["approve", "tour-guide", "0.1.0", "kv"]);
    admin(&server, work, &["rollout", "tour-guide", "0.1.0", "100"]);

    // Version 0.2.0: a new text, the same steps.
    let manifest = work.join("tour-guide/manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("version = \"0.1.0\"", "version = \"0.2.0\""),
    )
    .unwrap();
    let lib = work.join("tour-guide/src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        code.replace("Xin chào từ tour-guide!", "Phiên bản mới của tour-guide"),
    )
    .unwrap();
    let v2 = ship(&server, work, "tour-guide", &api_key);
    assert_eq!(v2["version"], "0.2.0");
    admin(&server, work, &["approve", "tour-guide", "0.2.0", "kv"]);
    admin(&server, work, &["rollout", "tour-guide", "0.2.0", "10"]);

    // 2,000 synthetic citizens.
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for chunk in (1..=2000).collect::<Vec<u32>>().chunks(50) {
        let batch = chunk.iter().map(|n| {
            client
                .post(format!("{}/api/v1/login", server.url))
                .json(&serde_json::json!({ "citizen": format!("c-demo-{n}") }))
                .send()
        });
        for response in futures::future::join_all(batch).await {
            let body: serde_json::Value = response.unwrap().json().await.unwrap();
            tokens.push(body["token"].as_str().unwrap().to_string());
        }
    }
    let first = versions_seen(&server, &tokens).await;
    let share = first.iter().filter(|v| *v == "0.2.0").count() as f64 / first.len() as f64;
    assert!((0.07..=0.13).contains(&share), "canary share {share}");
    assert_eq!(
        versions_seen(&server, &tokens).await,
        first,
        "each citizen keeps their version"
    );
    let page = client
        .get(format!("{}/apps/tour-guide/", server.url))
        .bearer_auth(&tokens[first.iter().position(|v| v == "0.2.0").unwrap()])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page, "Phiên bản mới của tour-guide");

    admin(&server, work, &["rollout", "tour-guide", "0.2.0", "100"]);
    assert!(versions_seen(&server, &tokens[..300])
        .await
        .iter()
        .all(|v| v == "0.2.0"));
    admin(&server, work, &["rollback", "tour-guide"]);
    assert!(versions_seen(&server, &tokens[..300])
        .await
        .iter()
        .all(|v| v == "0.1.0"));

    let status = json(&citadel(
        &[
            "app",
            "status",
            "tour-guide",
            "--server",
            &server.url,
            "--api-key",
            &api_key,
        ],
        work,
    ));
    let states: Vec<(&str, &str)> = status["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_str().unwrap(), v["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("0.2.0", "retired"), ("0.1.0", "live")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_ships_the_typescript_template_through_the_same_flow() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let server = serve(data.path());

    let public_key = citadel(&["keys", "generate", "--out", "signing.key"], work);
    let registered = admin(
        &server,
        work,
        &[
            "add-publisher",
            "hue-parking-soft",
            "Công ty Phần mềm Huế",
            "--contact",
            "lienhe@phanmemhue.vn",
            "--signing-key",
            public_key.trim(),
        ],
    );
    let api_key = registered["api_key"].as_str().expect("an API key");

    citadel(
        &[
            "app",
            "new",
            "ts-visits",
            "--lang",
            "ts",
            "--publisher",
            "hue-parking-soft",
        ],
        work,
    );
    assert!(work.join("ts-visits/src/main.ts").exists());
    assert!(work.join("ts-visits/tsconfig.json").exists());
    let version = ship(&server, work, "ts-visits", api_key);
    assert_eq!(version["state"], "in-review");
    admin(&server, work, &["approve", "ts-visits", "0.1.0", "kv"]);
    admin(&server, work, &["rollout", "ts-visits", "0.1.0", "100"]);

    let client = reqwest::Client::new();
    let home = client
        .get(format!("{}/apps/ts-visits/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    assert_eq!(home.text().await.unwrap(), "Xin chào từ ts-visits!");
    for expected in 1..=2 {
        let visits: serde_json::Value = client
            .post(format!("{}/apps/ts-visits/visits", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(visits["visits"], expected);
    }

    // A type error stops the build with tsc's message, before any component.
    let main = work.join("ts-visits/src/main.ts");
    let code = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, code.replace("?? 0) + 1", "?? 'none') + 1")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_citadel"))
        .args(["app", "build", "--dir", "ts-visits"])
        .current_dir(work)
        .output()
        .expect("citadel runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("type-checking (tsc) failed"), "{stderr}");
    assert!(stderr.contains("src/main.ts"), "{stderr}");
}
