//! The `citadel` command line beyond `serve`'s plain flags: `serve`'s
//! configuration file, merged under the environment and flags, and
//! `citadel config check` (`config.rs`); what `serve` reads from files
//! (`serve.rs`); the operator's `admin` commands and the
//! partner's `keys` and `app` commands, all speaking to a host's JSON API
//! (or, for packaging, to local files only).

pub mod admin;
pub mod backup;
pub mod config;
pub mod partner;
pub mod serve;

/// Send `request`; a JSON error answer becomes an error naming its code and
/// message. An empty success answer (204) is JSON `null`.
pub async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<serde_json::Value> {
    answer(request.send().await?).await
}

/// The JSON of a success answer; an error answer becomes an error naming
/// its code and message.
pub async fn answer(response: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    let status = response.status();
    let bytes = response.bytes().await?;
    let body: serde_json::Value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{status}: the answer is not JSON: {e}"))?
    };
    if status.is_success() {
        Ok(body)
    } else {
        anyhow::bail!(
            "{status}: {} ({})",
            body["error"]["message"].as_str().unwrap_or("no message"),
            body["error"]["code"].as_str().unwrap_or("no code")
        )
    }
}
