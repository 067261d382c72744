//! `citadel admin …`: the operator's commands against a running host's
//! operator API — apps and grants, publishers and keys, the review queue,
//! rollouts, rollbacks, suspensions, operator tokens and the audit log.
//! Prints JSON answers.

use super::{send, Credential};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum AdminAction {
    /// List apps with requested, granted and effective capabilities.
    Apps,
    /// Grant capabilities to the versions serving an app (each gets those it
    /// requests).
    Grant {
        app: String,
        #[arg(required = true)]
        capabilities: Vec<String>,
    },
    /// Revoke capabilities from the versions serving an app; holds from
    /// their next host call.
    Revoke {
        app: String,
        #[arg(required = true)]
        capabilities: Vec<String>,
    },
    /// List registered publishers.
    Publishers,
    /// Register a publisher and print its first API key (shown once).
    AddPublisher {
        /// The slug its manifests name in `publisher`.
        id: String,
        /// The company's legal name.
        name: String,
        #[arg(long, default_value = "")]
        contact: String,
        /// An ed25519 public key (hex) its packages may be signed with; repeatable.
        #[arg(long = "signing-key")]
        signing_keys: Vec<String>,
    },
    /// Issue another API key to a publisher (rotation).
    IssueKey { publisher: String },
    /// Revoke a publisher's API key by its id.
    RevokeKey { publisher: String, key_id: String },
    /// Add a package-signing key (hex) to a publisher.
    AddSigningKey {
        publisher: String,
        public_key: String,
    },
    /// Revoke a publisher's package-signing key.
    RevokeSigningKey {
        publisher: String,
        public_key: String,
    },
    /// Versions waiting for review.
    Reviews,
    /// Every version of an app, with its state.
    Versions { app: String },
    /// Approve a version in review, granting it capabilities it requests.
    Approve {
        app: String,
        version: String,
        capabilities: Vec<String>,
    },
    /// Reject a version in review.
    Reject {
        app: String,
        version: String,
        #[arg(long)]
        reason: String,
    },
    /// Serve an approved version to a percentage of callers (100 completes).
    Rollout {
        app: String,
        version: String,
        percent: u8,
    },
    /// Withdraw the canary, or go back to the previous live version.
    Rollback { app: String },
    /// Suspend an app; citizens see the reason.
    Suspend {
        app: String,
        #[arg(long)]
        reason: String,
    },
    /// Resume a suspended app.
    Resume { app: String },
    /// Issue a new operator token (shown once), to a new operator or to
    /// rotate: issue, switch to it, then revoke the old one.
    IssueOperatorToken {
        /// Who holds it, for the audit log.
        #[arg(long)]
        name: String,
    },
    /// Revoke an operator token for good — also the one given by
    /// CITADEL_OPERATOR_TOKEN, which a restart does not bring back.
    RevokeOperatorToken {
        /// The token's id (as `issue-operator-token` printed it), or the
        /// token itself (its id is computed here; the token is not sent).
        token_or_id: String,
    },
    /// Read the audit log, oldest first.
    Audit {
        #[arg(long)]
        app: Option<String>,
        /// e.g. denial, grant, revoke, upload, approve, rollout, rollback
        #[arg(long)]
        kind: Option<String>,
        /// Only records after this sequence number (the previous page's `next`).
        #[arg(long)]
        after: Option<u64>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// Run one operator action and print its JSON answer.
pub async fn run(server: &str, token: &str, action: AdminAction) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1/operator{path}", server.trim_end_matches('/'));
    let request = match action {
        AdminAction::Apps => client.get(api("/apps")),
        AdminAction::Grant { app, capabilities } => {
            change_grants(&client, &api, &app, capabilities, true)
        }
        AdminAction::Revoke { app, capabilities } => {
            change_grants(&client, &api, &app, capabilities, false)
        }
        AdminAction::Publishers => client.get(api("/publishers")),
        AdminAction::AddPublisher {
            id,
            name,
            contact,
            signing_keys,
        } => client.post(api("/publishers")).json(&serde_json::json!({
            "id": id, "name": name, "contact": contact, "signing_keys": signing_keys,
        })),
        AdminAction::IssueKey { publisher } => {
            client.post(api(&format!("/publishers/{publisher}/keys")))
        }
        AdminAction::RevokeKey { publisher, key_id } => {
            client.delete(api(&format!("/publishers/{publisher}/keys/{key_id}")))
        }
        AdminAction::AddSigningKey {
            publisher,
            public_key,
        } => client
            .post(api(&format!("/publishers/{publisher}/signing-keys")))
            .json(&serde_json::json!({ "public_key": public_key })),
        AdminAction::RevokeSigningKey {
            publisher,
            public_key,
        } => client.delete(api(&format!(
            "/publishers/{publisher}/signing-keys/{public_key}"
        ))),
        AdminAction::Reviews => client.get(api("/reviews")),
        AdminAction::Versions { app } => client.get(api(&format!("/apps/{app}/versions"))),
        AdminAction::Approve {
            app,
            version,
            capabilities,
        } => client
            .post(api(&format!("/apps/{app}/versions/{version}/approve")))
            .json(&serde_json::json!({ "capabilities": capabilities })),
        AdminAction::Reject {
            app,
            version,
            reason,
        } => client
            .post(api(&format!("/apps/{app}/versions/{version}/reject")))
            .json(&serde_json::json!({ "reason": reason })),
        AdminAction::Rollout {
            app,
            version,
            percent,
        } => client
            .post(api(&format!("/apps/{app}/rollout")))
            .json(&serde_json::json!({ "version": version, "percent": percent })),
        AdminAction::Rollback { app } => client.post(api(&format!("/apps/{app}/rollback"))),
        AdminAction::Suspend { app, reason } => client
            .post(api(&format!("/apps/{app}/suspend")))
            .json(&serde_json::json!({ "reason": reason })),
        AdminAction::Resume { app } => client.post(api(&format!("/apps/{app}/resume"))),
        AdminAction::IssueOperatorToken { name } => client
            .post(api("/tokens"))
            .json(&serde_json::json!({ "name": name })),
        AdminAction::RevokeOperatorToken { token_or_id } => {
            client.delete(api(&format!("/tokens/{}", operator_token_id(&token_or_id))))
        }
        AdminAction::Audit {
            app,
            kind,
            after,
            limit,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(app.map(|a| ("app", a)));
            query.extend(kind.map(|k| ("kind", k)));
            query.extend(after.map(|a| ("after", a.to_string())));
            client.get(api("/audit")).query(&query)
        }
    };
    let answer = send(request.bearer_auth(token), Credential::OperatorToken).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// The id of an operator token given as its id (64 hex digits) or as the
/// token itself.
fn operator_token_id(token_or_id: &str) -> String {
    let token_or_id = token_or_id.trim();
    if token_or_id.len() == 64 && token_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        token_or_id.to_ascii_lowercase()
    } else {
        citadel_host::identity::operator_token_id(token_or_id)
    }
}

/// The request that adds (`granting`) or removes `capabilities` from what
/// each version serving `app` holds, in one step on the host (each version
/// keeps the rest of its own grants).
fn change_grants(
    client: &reqwest::Client,
    api: &impl Fn(&str) -> String,
    app: &str,
    capabilities: Vec<String>,
    granting: bool,
) -> reqwest::RequestBuilder {
    let body = if granting {
        serde_json::json!({ "grant": capabilities })
    } else {
        serde_json::json!({ "revoke": capabilities })
    };
    client
        .patch(api(&format!("/apps/{app}/grants")))
        .json(&body)
}
