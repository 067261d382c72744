//! The `citadel` command line beyond `serve`'s plain flags: `serve`'s
//! configuration file, merged under the environment and flags, and
//! `citadel config check` (`config.rs`); what `serve` reads from files
//! (`serve.rs`); the operator's `admin` commands and the
//! partner's `keys` and `app` commands, all speaking to a host's JSON API
//! (or, for packaging, to local files only), and how a host's refusal reads.

pub mod admin;
pub mod backup;
pub mod config;
pub mod partner;
pub mod serve;

/// The credential a command sends, so a refusal of it can say how to send
/// the right one.
#[derive(Clone, Copy)]
pub enum Credential {
    OperatorToken,
    PublisherKey,
}

impl Credential {
    /// Where this credential comes from and how to get a new one.
    fn remedy(self) -> &'static str {
        match self {
            Credential::OperatorToken => {
                "pass an operator token with --token or CITADEL_OPERATOR_TOKEN: a new host \
                 writes its first one to <data-dir>/operator-token, and an operator issues \
                 more with `citadel admin issue-operator-token --name NAME`"
            }
            Credential::PublisherKey => {
                "pass your company's API key with --api-key or CITADEL_API_KEY, as \
                 `citadel admin add-publisher` or `citadel admin issue-key` printed it; if \
                 it was lost or revoked, ask the city's operator for a new one \
                 (`citadel admin issue-key PUBLISHER`)"
            }
        }
    }
}

/// Send `request`, authenticated with `credential`; a JSON error answer
/// becomes an error naming its code and message. An empty success answer
/// (204) is JSON `null`.
pub async fn send(
    request: reqwest::RequestBuilder,
    credential: Credential,
) -> anyhow::Result<serde_json::Value> {
    let response = request.send().await.map_err(|e| {
        anyhow::anyhow!(
            "the host does not answer ({e}); is it running, and is --server (or \
             CITADEL_SERVER) its address?"
        )
    })?;
    answer(response, credential).await
}

/// The JSON of a success answer; an error answer becomes one line: the
/// host's message (which says what to do), its code and status, and for a
/// refused credential how to send the right one.
pub async fn answer(
    response: reqwest::Response,
    credential: Credential,
) -> anyhow::Result<serde_json::Value> {
    let status = response.status();
    let bytes = response.bytes().await?;
    let body: serde_json::Value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("the host answered {status} with something other than JSON ({e})")
        })?
    };
    if status.is_success() {
        return Ok(body);
    }
    let code = body["error"]["code"].as_str().unwrap_or("no code");
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("the host gave no reason");
    let remedy = match code {
        "unauthenticated" | "invalid_credentials" | "wrong_role" => {
            format!("; {}", credential.remedy())
        }
        _ => String::new(),
    };
    anyhow::bail!(
        "refused: {message}{remedy} ({code}, HTTP {})",
        status.as_u16()
    )
}
