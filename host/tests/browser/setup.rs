//! What the browser scenarios need before they start.

/// Nothing yet.
pub async fn prepare(_base: &str, _token: &str) -> serde_json::Value {
    serde_json::json!({})
}
