//! Payment providers: the `PaymentProvider` shape shared by the demo wallet
//! (in `mod.rs`) and redirect-and-webhook providers like VNPay, MoMo or
//! ZaloPay — the citizen is sent to the provider's checkout, and the
//! provider reports the payment with an HMAC-signed webhook that the host
//! verifies (signature, freshness) before anything moves.

use crate::store::IntentRecord;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A webhook older than this (or this far in the future) is refused.
pub const WEBHOOK_TOLERANCE_SECS: u64 = 300;

/// Something that can take a citizen's money for an intent.
pub trait PaymentProvider {
    /// Its method name (`momo`, `vnpay`, …).
    fn name(&self) -> &str;
    /// Where the citizen goes to pay; the provider sends them back to
    /// `return_to` (the intent's page on the host) once they have.
    fn checkout_url(&self, intent: &IntentRecord, return_to: &str) -> String;
    /// Check a webhook's signature and freshness; the body is then trusted.
    fn verify_webhook(&self, timestamp: &str, signature: &str, body: &[u8]) -> Result<(), String>;
}

/// A redirect-and-webhook provider with a shared HMAC-SHA256 secret.
#[derive(Clone)]
pub struct WebhookProvider {
    pub name: String,
    pub checkout_base: String,
    pub secret: Vec<u8>,
    /// Where the host sends a refund of a payment it took (signed as its
    /// webhooks are); without one, its payments are refunded at the
    /// provider, not through Citadel.
    pub refund_url: Option<String>,
}

impl std::fmt::Debug for WebhookProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookProvider")
            .field("name", &self.name)
            .field("checkout_base", &self.checkout_base)
            .finish_non_exhaustive()
    }
}

impl WebhookProvider {
    /// The signature a provider sends for `body` at `timestamp` (hex).
    pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }
}

impl PaymentProvider for WebhookProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn checkout_url(&self, intent: &IntentRecord, return_to: &str) -> String {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("intent", &intent.id)
            .append_pair("amount", &intent.amount.to_string())
            .append_pair("return", return_to)
            .finish();
        format!("{}?{query}", self.checkout_base)
    }

    fn verify_webhook(&self, timestamp: &str, signature: &str, body: &[u8]) -> Result<(), String> {
        let sent: u64 = timestamp
            .parse()
            .map_err(|_| "the timestamp is not a number of seconds".to_string())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if sent.abs_diff(now) > WEBHOOK_TOLERANCE_SECS {
            return Err("the timestamp is stale".into());
        }
        let expected =
            hex::decode(signature).map_err(|_| "the signature is not hex".to_string())?;
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&expected)
            .map_err(|_| "the signature does not match".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_verify_only_when_signed_and_fresh() {
        let provider = WebhookProvider {
            name: "momo".into(),
            checkout_base: "http://127.0.0.1:1/pay".into(),
            secret: b"s3cret".to_vec(),
            refund_url: None,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let body = br#"{"intent":"pi_1"}"#;
        let good = WebhookProvider::sign(b"s3cret", &now, body);
        assert_eq!(provider.verify_webhook(&now, &good, body), Ok(()));
        let forged = WebhookProvider::sign(b"guess", &now, body);
        assert!(provider.verify_webhook(&now, &forged, body).is_err());
        assert!(provider
            .verify_webhook(&now, &good, br#"{"intent":"pi_2"}"#)
            .is_err());
        let old = (now.parse::<u64>().unwrap() - 3600).to_string();
        let stale = WebhookProvider::sign(b"s3cret", &old, body);
        assert!(provider
            .verify_webhook(&old, &stale, body)
            .unwrap_err()
            .contains("stale"));
    }
}
