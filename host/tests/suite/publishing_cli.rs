//! The whole publishing path with the real binary, as a partner and the city
//! would run it: keys generate → app new → build → package → publish → the
//! operator approves with grants → rollout 10 % (2,000 synthetic citizens:
//! 7–13 % on the new version, each always the same; grants revoked and
//! given back on both serving versions) → rollout 100 % →
//! rollback → every new request on the old version. And its refusals: each
//! one line naming the fix, exit code 1, no backtrace — placeholder names,
//! an unregistered signing key, a version not newer, a canary with nothing
//! live, a changed package of the same version, a retired version, a wrong
//! credential.

use crate::common;

use citadel_host::registry::manifest::Manifest;

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

/// Where partner apps build: the target dir of the sample mini-apps
/// (`CITADEL_MINIAPPS_DIR` is its `wasm32-wasip2/release`).
fn partner_target_dir() -> std::path::PathBuf {
    Path::new(env!("CITADEL_MINIAPPS_DIR"))
        .ancestors()
        .nth(2)
        .expect("the mini-apps' wasm dir is inside their target dir")
        .to_path_buf()
}

/// Run `citadel args…` in `dir`, asking for backtraces as a partner with
/// `RUST_BACKTRACE` in their shell would.
fn run_citadel(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_citadel"))
        .args(args)
        .current_dir(dir)
        // The sample mini-apps' target dir: the SDK and its dependencies,
        // built there with the same release profile, are not built again.
        .env("CARGO_TARGET_DIR", partner_target_dir())
        .env("CITADEL_OPERATOR_TOKEN", TOKEN)
        .env("RUST_BACKTRACE", "full")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .expect("citadel runs")
}

/// Run `citadel args…`; its stdout, which must be a success.
fn citadel(args: &[&str], dir: &Path) -> String {
    let output = run_citadel(args, dir);
    assert!(
        output.status.success(),
        "citadel {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Run `citadel args…`, which must be refused: exit code 1, nothing on
/// stdout, and one line on stderr — `error: ` and the reason, no
/// backtrace. Returns that line.
fn refused(args: &[&str], dir: &Path) -> String {
    let output = run_citadel(args, dir);
    let stderr = String::from_utf8(output.stderr).expect("UTF-8 output");
    assert_eq!(output.status.code(), Some(1), "citadel {args:?}: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "citadel {args:?} printed to stdout"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "citadel {args:?}: one line, not:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    lines[0].to_string()
}

/// `app new` arguments giving the names and descriptions citizens see.
const TEXTS: [&str; 8] = [
    "--name-vi",
    "Hướng dẫn tham quan",
    "--name-en",
    "Tour guide",
    "--description-vi",
    "Lịch trình tham quan Cố đô Huế.",
    "--description-en",
    "Routes around the Huế Citadel.",
];

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

    let mut new = vec![
        "app",
        "new",
        "tour-guide",
        "--publisher",
        "hue-tourism",
        "--dir",
        "tour-guide",
    ];
    new.extend(TEXTS);
    citadel(&new, work);
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

    // Revoking and granting during the canary changes each serving version,
    // each of which keeps its own grants.
    let serving_grants = |view: serde_json::Value| -> Vec<(String, serde_json::Value)> {
        view["serving"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_str().unwrap().to_string(),
                    v["granted"].clone(),
                )
            })
            .collect()
    };
    let none = serde_json::json!([]);
    let kv = serde_json::json!(["kv"]);
    assert_eq!(
        serving_grants(admin(&server, work, &["revoke", "tour-guide", "kv"])),
        [
            ("0.1.0".to_string(), none.clone()),
            ("0.2.0".to_string(), none)
        ]
    );
    assert_eq!(
        serving_grants(admin(&server, work, &["grant", "tour-guide", "kv"])),
        [("0.1.0".to_string(), kv.clone()), ("0.2.0".to_string(), kv)]
    );

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

    let mut new = vec![
        "app",
        "new",
        "ts-visits",
        "--lang",
        "ts",
        "--publisher",
        "hue-parking-soft",
    ];
    new.extend(TEXTS);
    citadel(&new, work);
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

/// What the host answers a package uploaded by hand (not through the CLI).
async fn upload(server: &Server, api_key: &str, package: Vec<u8>) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/publisher/packages", server.url))
        .bearer_auth(api_key)
        .header("content-type", "application/octet-stream")
        .body(package)
        .send()
        .await
        .expect("the host answers");
    assert_eq!(response.status(), 422);
    response.json().await.expect("a JSON error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_is_one_line_naming_the_fix() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let server = serve(data.path());
    let url = server.url.as_str();

    // The city registers the company, but not yet its signing key.
    let public_key = citadel(&["keys", "generate", "--out", "signing.key"], work);
    let public_key = public_key.trim();
    let registered = admin(&server, work, &["add-publisher", "hue-maps", "Bản đồ Huế"]);
    let api_key = registered["api_key"].as_str().expect("an API key");

    // An app without its names: the template's placeholders are not packaged.
    citadel(
        &["app", "new", "placeholders", "--publisher", "hue-maps"],
        work,
    );
    let refusal = refused(
        &[
            "app",
            "package",
            "--key",
            "signing.key",
            "--dir",
            "placeholders",
        ],
        work,
    );
    for key in ["name.vi", "name.en", "description.vi", "description.en"] {
        assert!(refusal.contains(&format!("`{key}`")), "{refusal}");
    }

    let mut new = vec!["app", "new", "city-walks", "--publisher", "hue-maps"];
    new.extend(TEXTS);
    citadel(&new, work);
    citadel(&["app", "build", "--dir", "city-walks"], work);
    let package_args = [
        "app",
        "package",
        "--key",
        "signing.key",
        "--dir",
        "city-walks",
    ];
    let package = citadel(&package_args, work).trim().to_string();
    // The same content again is no change, and allowed.
    let first_bytes = std::fs::read(work.join(&package)).unwrap();
    assert_eq!(citadel(&package_args, work).trim(), package);
    let publish = [
        "app",
        "publish",
        &package,
        "--server",
        url,
        "--api-key",
        api_key,
    ];

    // Signed by a key the city has not registered: the refusal names the
    // admin command, which then makes the same upload pass.
    let refusal = refused(&publish, work);
    assert!(refusal.contains("unknown_signing_key"), "{refusal}");
    let command = format!("citadel admin add-signing-key hue-maps {public_key}");
    assert!(refusal.contains(&command), "{refusal}");
    admin(&server, work, &["add-signing-key", "hue-maps", public_key]);
    assert_eq!(json(&citadel(&publish, work))["state"], "in-review");

    // The same version again: the version to write instead.
    let refusal = refused(&publish, work);
    assert!(refusal.contains("version_not_newer"), "{refusal}");
    assert!(
        refusal.contains("raise `version` in manifest.toml to 0.1.1"),
        "{refusal}"
    );

    // The host refuses placeholders too, naming the keys.
    let manifest = std::fs::read_to_string(work.join("city-walks/manifest.toml")).unwrap();
    let placeholder = manifest
        .replace("\"Tour guide\"", "\"«TODO: the app's name in English»\"")
        .replace("version = \"0.1.0\"", "version = \"0.3.0\"");
    let component =
        std::fs::read(partner_target_dir().join("wasm32-wasip2/release/city_walks.wasm")).unwrap();
    let secret = std::fs::read_to_string(work.join("signing.key")).unwrap();
    let key = citadel_host::registry::package::signing_key(&secret).unwrap();
    let bytes =
        citadel_host::registry::package::build(&placeholder, "city_walks.wasm", &component, &key)
            .unwrap();
    let answer = upload(&server, api_key, bytes).await;
    assert_eq!(answer["error"]["code"], "invalid_manifest", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("`name.en`"), "{message}");
    assert!(!message.contains("`name.vi`"), "{message}");

    // A first version cannot be a canary: the rest would get 404.
    admin(&server, work, &["approve", "city-walks", "0.1.0", "kv"]);
    let refusal = refused(
        &[
            "admin",
            "--server",
            url,
            "rollout",
            "city-walks",
            "0.1.0",
            "10",
        ],
        work,
    );
    assert!(refusal.contains("canary_needs_live_version"), "{refusal}");
    assert!(
        refusal.contains("citadel admin rollout city-walks 0.1.0 100"),
        "{refusal}"
    );
    admin(&server, work, &["rollout", "city-walks", "0.1.0", "100"]);

    // Changed code under the same version: not packaged over the old one
    // unless forced.
    let lib = work.join("city-walks/src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, code.replace("Xin chào từ", "Chào mừng đến")).unwrap();
    citadel(&["app", "build", "--dir", "city-walks"], work);
    let refusal = refused(&package_args, work);
    assert!(
        refusal.contains("--force") && refusal.contains("raise `version`"),
        "{refusal}"
    );
    assert_eq!(std::fs::read(work.join(&package)).unwrap(), first_bytes);
    let mut forced = package_args.to_vec();
    forced.push("--force");
    citadel(&forced, work);
    assert_ne!(std::fs::read(work.join(&package)).unwrap(), first_bytes);

    // 0.2.0 live retires 0.1.0; rolling a retired version out says why and
    // what to do instead.
    let manifest_path = work.join("city-walks/manifest.toml");
    std::fs::write(
        &manifest_path,
        manifest.replace("version = \"0.1.0\"", "version = \"0.2.0\""),
    )
    .unwrap();
    let package = citadel(&package_args, work).trim().to_string();
    citadel(
        &[
            "app",
            "publish",
            &package,
            "--server",
            url,
            "--api-key",
            api_key,
        ],
        work,
    );
    admin(&server, work, &["approve", "city-walks", "0.2.0", "kv"]);
    admin(&server, work, &["rollout", "city-walks", "0.2.0", "100"]);
    let rollout = |version: &'static str| {
        refused(
            &[
                "admin",
                "--server",
                url,
                "rollout",
                "city-walks",
                version,
                "100",
            ],
            work,
        )
    };
    let refusal = rollout("0.1.0");
    assert!(
        refusal.contains("wrong_state") && refusal.contains("retired"),
        "{refusal}"
    );
    assert!(
        refusal.contains("citadel admin rollback city-walks"),
        "{refusal}"
    );
    admin(&server, work, &["rollback", "city-walks"]);
    let refusal = rollout("0.2.0");
    assert!(refusal.contains("wrong_state"), "{refusal}");
    assert!(
        refusal.contains("raise `version` in manifest.toml"),
        "{refusal}"
    );

    // A wrong credential: a sentence, and where the right one comes from.
    let refusal = refused(
        &[
            "app",
            "status",
            "city-walks",
            "--server",
            url,
            "--api-key",
            "cit_pub_not_a_key",
        ],
        work,
    );
    assert!(refusal.contains("invalid_credentials"), "{refusal}");
    assert!(
        refusal.contains("this API needs a publisher key") && refusal.contains("--api-key"),
        "{refusal}"
    );
    let refusal = refused(
        &[
            "admin",
            "--server",
            url,
            "--token",
            "cit_op_not_a_token_0000000000",
            "apps",
        ],
        work,
    );
    assert!(refusal.contains("invalid_credentials"), "{refusal}");
    assert!(
        refusal.contains("this API needs an operator token") && refusal.contains("--token"),
        "{refusal}"
    );
}

#[test]
fn app_new_writes_the_citizen_texts_in_every_language_or_placeholders_that_block_packaging() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    for lang in ["rust", "js", "ts"] {
        let app = format!("texts-{lang}");
        citadel(
            &[
                "app",
                "new",
                &app,
                "--lang",
                lang,
                "--name-vi",
                "Bản đồ \"phố cổ\"",
                "--name-en",
                "Old quarter map",
                "--description-vi",
                "Các con phố cổ của Huế.",
                "--description-en",
                "The old streets of Huế.",
            ],
            work,
        );
        let text = std::fs::read_to_string(work.join(&app).join("manifest.toml")).unwrap();
        let manifest = Manifest::parse("manifest.toml", &text).unwrap();
        assert_eq!(manifest.name.vi, "Bản đồ \"phố cổ\"");
        assert_eq!(manifest.name.en, "Old quarter map");
        assert_eq!(manifest.description.vi, "Các con phố cổ của Huế.");
        assert_eq!(manifest.description.en, "The old streets of Huế.");
        manifest.check_publishable("manifest.toml").unwrap();

        // Without the texts: clearly marked placeholders, refused by
        // `app package` (before it needs a key or a build), naming each key.
        let app = format!("todo-{lang}");
        citadel(&["app", "new", &app, "--lang", lang], work);
        let text = std::fs::read_to_string(work.join(&app).join("manifest.toml")).unwrap();
        assert_eq!(text.matches("«TODO").count(), 5, "{text}");
        let refusal = refused(
            &["app", "package", "--key", "no-such.key", "--dir", &app],
            work,
        );
        for key in ["name.vi", "name.en", "description.vi", "description.en"] {
            assert!(refusal.contains(&format!("`{key}`")), "{refusal}");
        }
    }

    // A name citizens could not see whole is refused before anything is written.
    let long = "x".repeat(61);
    let refusal = refused(&["app", "new", "too-long", "--name-en", &long], work);
    assert!(refusal.contains("name.en"), "{refusal}");
    assert!(!work.join("too-long").exists());
}
