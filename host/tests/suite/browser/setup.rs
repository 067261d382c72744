//! What the browser scenarios need before they start, prepared over the
//! real binary's HTTP API; handed to `browser/run.mjs` as `CITADEL_SETUP`.
//!
//! The operator scenario reviews a new version of a sample app: the
//! samples' publisher (`citadel-samples`) is registered with a fresh
//! signing key, and uploads `notes` 1.1.0 — the sample's own component,
//! asking for one capability more than the live 1.0.0 (`notify`) — so the
//! review queue has a version waiting, with an added capability to show.

use citadel_host::registry::package;
use serde_json::{json, Value};

/// The sample app the operator scenario reviews, and its new version.
const APP: &str = "notes";
const VERSION: &str = "1.1.0";
/// What the new version asks for beyond the live one.
const ADDED: &str = "notify";

/// Prepare the host at `base` (operator token `token`); the JSON the
/// scenarios read as `t.setup`.
pub async fn prepare(base: &str, token: &str) -> Value {
    let client = reqwest::Client::new();
    let (file, live_manifest, component) = citadel_host::samples::SAMPLES
        .iter()
        .find(|(file, _, _)| *file == format!("{APP}.toml"))
        .expect("the notes sample is built into the host");

    // The samples' publisher (registered by name with the samples) gets a
    // signing key and an API key.
    let (secret, public) = package::generate_key();
    let response = client
        .post(format!(
            "{base}/api/v1/operator/publishers/citadel-samples/signing-keys"
        ))
        .bearer_auth(token)
        .json(&json!({ "public_key": public }))
        .send()
        .await
        .expect("the host answers");
    assert_eq!(
        response.status(),
        201,
        "the samples' publisher gets a signing key: {}",
        response.text().await.unwrap_or_default()
    );
    let response = client
        .post(format!(
            "{base}/api/v1/operator/publishers/citadel-samples/keys"
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("the host answers");
    assert_eq!(
        response.status(),
        201,
        "the samples' publisher gets an API key"
    );
    let issued: Value = response.json().await.expect("JSON");
    let api_key = issued["api_key"].as_str().expect("an API key");

    // notes 1.1.0: the same component, one capability more.
    let manifest = live_manifest
        .replace("version = \"1.0.0\"", &format!("version = \"{VERSION}\""))
        .replace(
            "capabilities = [\"kv\"]",
            &format!("capabilities = [\"kv\", \"{ADDED}\"]"),
        );
    assert!(
        manifest.contains(VERSION) && manifest.contains(ADDED),
        "{file} still reads `version = \"1.0.0\"` and `capabilities = [\"kv\"]`"
    );
    let key = package::signing_key(&secret).expect("a valid key");
    let bytes = package::build(&manifest, &format!("{APP}.wasm"), component, &key)
        .expect("the package builds");
    let response = client
        .post(format!("{base}/api/v1/publisher/packages"))
        .bearer_auth(api_key)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("the host answers");
    assert_eq!(
        response.status(),
        201,
        "{APP} {VERSION} is accepted for review: {}",
        response.text().await.unwrap_or_default()
    );

    json!({
        "review": {
            "app": APP,
            "version": VERSION,
            "live": "1.0.0",
            "added": [ADDED],
        }
    })
}
