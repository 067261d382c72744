//! Delivery of payment events to apps: every capture and refund leaves an
//! outbox entry in the same transaction; this loop POSTs the intent to the
//! app's `payment_hook` route until it answers 2xx, backing off between
//! attempts — at least once, across restarts. Apps read the intent's id and
//! status and act idempotently.

use crate::runtime::Caller;
use crate::store::OutboxEntry;
use crate::Citadel;
use std::sync::Arc;
use std::time::Duration;

/// How often the outbox is looked at.
const POLL: Duration = Duration::from_millis(250);
/// Attempts before an event is given up (and audited).
const MAX_ATTEMPTS: u32 = 12;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The delay before attempt `n + 1`: 1 s, 2 s, 4 s … at most 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(8)).min(Duration::from_secs(300))
}

/// Deliver due events until `stop` fires.
pub async fn run(citadel: Arc<Citadel>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
        let due: Vec<OutboxEntry> = match citadel.store.outbox() {
            Ok(entries) => entries
                .into_iter()
                .filter(|e| e.next_at <= now_ms())
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "the payment outbox cannot be read");
                continue;
            }
        };
        for entry in due {
            deliver(&citadel, entry).await;
        }
    }
}

async fn deliver(citadel: &Citadel, mut entry: OutboxEntry) {
    let intent = match citadel.store.intent(&entry.intent) {
        Ok(Some(intent)) => intent,
        _ => return forget(citadel, &entry),
    };
    let Some(app) = citadel.registry.live(&entry.app) else {
        return forget(citadel, &entry);
    };
    let Some(hook) = app.context.payment_hook.clone() else {
        return forget(citadel, &entry);
    };
    let body = serde_json::json!({
        "event": "payment",
        "intent": {
            "id": intent.id,
            "reference": intent.reference,
            "amount": intent.amount,
            "status": crate::payments::effective_status(&intent, now_ms()),
            "refunded": intent.refunded,
        }
    });
    let request = http::Request::post(format!("http://localhost{hook}"))
        .header("content-type", "application/json")
        .header("x-citadel-payment-event", entry.key.as_str())
        .header("x-citadel-base-path", format!("/apps/{}", entry.app))
        .body(axum::body::Body::from(body.to_string()));
    let Ok(request) = request else {
        return forget(citadel, &entry);
    };
    let flush = crate::runtime::flusher(citadel.store.clone());
    let caller = Caller {
        request_id: format!("payment-hook-{}", entry.key),
        citizen: None,
    };
    let delivered = match citadel.runtime.handle(&app, request, caller, flush).await {
        Ok(response) => response.status().is_success(),
        Err(e) => {
            tracing::warn!(app = %entry.app, error = %e, "a payment hook failed");
            false
        }
    };
    if delivered {
        return forget(citadel, &entry);
    }
    entry.attempts += 1;
    if entry.attempts >= MAX_ATTEMPTS {
        citadel.audit.record(crate::audit::Event {
            kind: "payment-hook-abandoned",
            actor: "host".into(),
            app: Some(entry.app.clone()),
            detail: format!(
                "{} not delivered after {} attempts",
                entry.intent, entry.attempts
            ),
            ..Default::default()
        });
        return forget(citadel, &entry);
    }
    entry.next_at = now_ms() + backoff(entry.attempts).as_millis() as u64;
    if let Err(e) = citadel
        .store
        .outbox_update(&entry.key.clone(), Some(&entry))
    {
        tracing::error!(error = %e, "a payment hook could not be rescheduled");
    }
}

fn forget(citadel: &Citadel, entry: &OutboxEntry) {
    if let Err(e) = citadel.store.outbox_update(&entry.key, None) {
        tracing::error!(error = %e, "a delivered payment event could not be removed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_five_minutes() {
        let delays: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(delays[..5], [1, 2, 4, 8, 16]);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*delays.last().unwrap(), 256);
        assert!(backoff(40) <= Duration::from_secs(300));
    }
}
