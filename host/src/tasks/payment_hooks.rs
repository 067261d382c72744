//! Delivery of payment events to apps: every capture and refund leaves an
//! outbox entry in the same transaction; this loop POSTs the intent to the
//! app's `payment_hook` route until it answers 2xx, backing off between
//! attempts — at least once, across restarts. Deliveries run concurrently:
//! at most `PER_APP` at once for one app, `IN_FLIGHT` in all, one at a time
//! per intent — so a slow or hanging hook holds up only its own app's events.
//! Each event is claimed in the store before it is delivered, so hosts that
//! share a store never deliver one at the same moment.
//! Apps read the intent's id and status and act idempotently.
//! A refund of a payment a provider took goes the same way to the
//! provider's refund address, signed as its webhooks are, until it answers
//! 2xx; money is never given up: past [`MAX_ATTEMPTS`] it is audited as
//! late and still sent.

use crate::audit::{messages, AuditLog, Event};
use crate::payments::WebhookProvider;
use crate::registry::Registry;
use crate::runtime::Caller;
use crate::runtime::Runtime;
use crate::store::OutboxEntry;
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The longest the loop sleeps with nothing due: a safety net, since an
/// entry added on this host wakes it at once and a due time is slept to.
const IDLE_WAKE: Duration = Duration::from_secs(5);
/// Entries read per round.
const BATCH: usize = 4 * IN_FLIGHT;
/// How long a claimed event is this host's: past it (the host died
/// mid-delivery), any host may deliver it again. Longer than any hook may run.
const CLAIM_LEASE: Duration = Duration::from_secs(120);
/// Attempts before an event is given up (and audited).
const MAX_ATTEMPTS: u32 = 12;
/// Deliveries to one app at once.
pub const PER_APP: usize = 4;
/// Deliveries at once, across apps.
pub const IN_FLIGHT: usize = 32;

/// The deliveries running now.
#[derive(Debug, Default)]
struct Flights {
    keys: HashSet<String>,
    intents: HashSet<String>,
    per_app: HashMap<String, usize>,
    /// Keys whose delivery ended since the outbox was last read: the read
    /// may predate their removal or rescheduling, so they wait a round.
    landed: HashSet<String>,
}

impl Flights {
    /// Take a place for `entry`, if the bounds leave one.
    fn admit(&mut self, entry: &OutboxEntry) -> bool {
        let app = self.per_app.get(&entry.app).copied().unwrap_or(0);
        if self.keys.len() >= IN_FLIGHT
            || app >= PER_APP
            || self.keys.contains(&entry.key)
            || self.landed.contains(&entry.key)
            || self.intents.contains(&entry.intent)
        {
            return false;
        }
        self.per_app.insert(entry.app.clone(), app + 1);
        self.keys.insert(entry.key.clone());
        self.intents.insert(entry.intent.clone());
        true
    }

    /// Give back `entry`'s place.
    fn land(&mut self, entry: &OutboxEntry) {
        self.keys.remove(&entry.key);
        self.intents.remove(&entry.intent);
        if let Some(count) = self.per_app.get_mut(&entry.app) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_app.remove(&entry.app);
            }
        }
        self.landed.insert(entry.key.clone());
    }
}

fn lock(flights: &Mutex<Flights>) -> MutexGuard<'_, Flights> {
    flights
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A delivery's place in flight, given back however the delivery ends
/// (answered, failed, panicked or cancelled at shutdown).
struct Ticket {
    flights: Arc<Mutex<Flights>>,
    entry: OutboxEntry,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.flights).land(&self.entry);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The delay before attempt `n + 1`: 1 s, 2 s, 4 s … at most 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(8)).min(Duration::from_secs(300))
}

/// How long a provider has to answer a refund.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// What delivering payment events needs — and all it reaches: the ledger's
/// outbox, the versions serving each app, the runtime that runs their
/// hooks, the providers' refund addresses, and the audit log.
#[derive(Clone)]
pub struct HookDelivery {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub runtime: Arc<Runtime>,
    pub audit: AuditLog,
    pub providers: Vec<WebhookProvider>,
    pub http: reqwest::Client,
}

impl HookDelivery {
    /// Delivery for `citadel`'s store, apps and payment providers.
    pub fn of(citadel: &crate::Citadel) -> Self {
        HookDelivery {
            store: citadel.store.clone(),
            registry: citadel.registry.clone(),
            runtime: citadel.runtime.clone(),
            audit: citadel.audit.clone(),
            providers: citadel.payments.config().providers.clone(),
            http: reqwest::Client::builder()
                .timeout(PROVIDER_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }
}

/// Deliver due events until `stop` fires. The loop reads the outbox by due
/// time and sleeps until the next entry falls due, an entry is added, or a
/// delivery ends. Deliveries still running when `stop` fires are cancelled:
/// their events stay in the outbox, delivered again later.
pub async fn run(delivery: HookDelivery, mut stop: tokio::sync::watch::Receiver<bool>) {
    let flights = Arc::new(Mutex::new(Flights::default()));
    let mut deliveries = tokio::task::JoinSet::new();
    let added = delivery.store.ledger.outbox_added();
    loop {
        while deliveries.try_join_next().is_some() {}
        lock(&flights).landed.clear();
        let due = match delivery.store.ledger.outbox_due(now_ms(), BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "the payment outbox cannot be read");
                Vec::new()
            }
        };
        for entry in due {
            if !lock(&flights).admit(&entry) {
                continue;
            }
            let ticket = Ticket {
                flights: flights.clone(),
                entry: entry.clone(),
            };
            // Another host sharing the store may have taken it first.
            let lease = now_ms() + CLAIM_LEASE.as_millis() as u64;
            match delivery
                .store
                .ledger
                .outbox_claim(&entry.key, entry.next_at, lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "a payment event could not be claimed");
                    continue;
                }
            }
            let delivery = delivery.clone();
            deliveries.spawn(async move {
                let _ticket = ticket;
                deliver(&delivery, entry).await;
            });
        }
        // Due entries held back (their app is busy) wait for a delivery to end.
        let wait = match delivery.store.ledger.outbox_next_due().await {
            Ok(Some(at)) if at > now_ms() => Duration::from_millis(at - now_ms()).min(IDLE_WAKE),
            _ => IDLE_WAKE,
        };
        tokio::select! {
            _ = stop.changed() => break,
            _ = added.notified() => {}
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    deliveries.shutdown().await;
}

async fn deliver(delivery: &HookDelivery, entry: OutboxEntry) {
    if let Some(reference) = entry.refund.clone() {
        return refund_at_provider(delivery, entry, &reference).await;
    }
    // Not serving here (yet): another host may have loaded the app before
    // this one heard of it, or its version failed to load here. The event
    // waits like a failed delivery, and is abandoned (audited) only after
    // every attempt.
    let Some(app) = delivery.registry.live(&entry.app) else {
        tracing::warn!(app = %entry.app, "a payment event waits: its app is not serving here");
        return retry(delivery, entry).await;
    };
    let Some(hook) = app.context.payment_hook.clone() else {
        return forget(delivery, &entry).await;
    };
    let intent = match delivery.store.ledger.intent(&entry.intent).await {
        Ok(Some(intent)) => intent,
        Ok(None) => return forget(delivery, &entry).await,
        Err(e) => {
            tracing::warn!(error = %e, "a payment event waits: its intent could not be read");
            return retry(delivery, entry).await;
        }
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
        return forget(delivery, &entry).await;
    };
    let caller = Caller {
        request_id: format!("payment-hook-{}", entry.key),
        citizen: None,
    };
    let delivered = match delivery.runtime.handle(&app, request, caller).await {
        Ok(response) => response.status().is_success(),
        Err(e) => {
            tracing::warn!(app = %entry.app, error = %e, "a payment hook failed");
            false
        }
    };
    if delivered {
        return forget(delivery, &entry).await;
    }
    retry(delivery, entry).await;
}

/// Send the refund `reference` of `entry`'s intent to the provider that
/// took the payment; once it answers 2xx, the refund is marked acknowledged
/// in the ledger. The provider tells a repeat by `refund_id`.
async fn refund_at_provider(delivery: &HookDelivery, entry: OutboxEntry, reference: &str) {
    let intent = match delivery.store.ledger.intent(&entry.intent).await {
        Ok(Some(intent)) => intent,
        Ok(None) => return forget(delivery, &entry).await,
        Err(e) => {
            tracing::warn!(error = %e, "a refund waits: its intent could not be read");
            return retry(delivery, entry).await;
        }
    };
    let Some((refund, provider)) = intent.refunds.iter().find_map(|refund| {
        let at = refund
            .provider
            .as_ref()
            .filter(|_| refund.reference == reference)?;
        Some((refund, at))
    }) else {
        return forget(delivery, &entry).await;
    };
    if provider.acknowledged_at.is_some() {
        return forget(delivery, &entry).await;
    }
    let Some(url) = delivery
        .providers
        .iter()
        .find(|p| p.name == provider.name)
        .and_then(|p| Some((p, p.refund_url.clone()?)))
    else {
        // Configured when the refund was made, gone since: it waits for
        // the provider to come back (and is audited as late).
        tracing::warn!(provider = %provider.name, "a refund waits: its provider takes no refunds here now");
        return refund_again(delivery, entry, &provider.name, refund.amount).await;
    };
    let (config, url) = url;
    let body = serde_json::json!({
        "event": "refund",
        "refund_id": format!("{}:{}", intent.id, refund.reference),
        "intent": intent.id,
        "payment_ref": intent.provider_ref,
        "amount": refund.amount,
        "currency": "VND",
    })
    .to_string();
    let timestamp = (now_ms() / 1000).to_string();
    let signature = WebhookProvider::sign(&config.secret, &timestamp, body.as_bytes());
    let answer = delivery
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-citadel-timestamp", &timestamp)
        .header("x-citadel-signature", signature)
        .body(body)
        .send()
        .await;
    match answer {
        Ok(answer) if answer.status().is_success() => {}
        Ok(answer) => {
            tracing::warn!(provider = %provider.name, status = %answer.status(), "a provider refused a refund; it is sent again");
            return refund_again(delivery, entry, &provider.name, refund.amount).await;
        }
        Err(e) => {
            tracing::warn!(provider = %provider.name, error = %e, "a refund did not reach its provider; it is sent again");
            return refund_again(delivery, entry, &provider.name, refund.amount).await;
        }
    }
    let reference = reference.to_string();
    let acknowledged = delivery
        .store
        .ledger
        .step(&intent.id, None, &|intent, _| {
            if let Some(provider) = intent
                .refunds
                .iter_mut()
                .find(|r| r.reference == reference)
                .and_then(|r| r.provider.as_mut())
            {
                provider.acknowledged_at.get_or_insert_with(now_ms);
            }
            Ok(crate::store::LedgerStep::default())
        })
        .await;
    if !matches!(acknowledged, Ok(Ok(_))) {
        // Sent again later: the provider tells the repeat by its id.
        tracing::warn!(intent = %intent.id, "a refund's acknowledgement could not be recorded");
        return retry(delivery, entry).await;
    }
    delivery
        .audit
        .record(Event {
            kind: "payment-refund-sent",
            actor: format!("provider:{}", provider.name),
            app: Some(intent.app.clone()),
            message: Some(
                messages::REFUND_SENT
                    .with("provider", &provider.name)
                    .with("amount", refund.amount)
                    .with("reference", &refund.reference),
            ),
            ..Event::default()
        })
        .await;
    forget(delivery, &entry).await;
}

/// A refund the provider did not take this time: sent again, and audited
/// as late when this was its last attempt as an app's event.
async fn refund_again(delivery: &HookDelivery, entry: OutboxEntry, provider: &str, amount: u64) {
    if entry.attempts + 1 == MAX_ATTEMPTS {
        delivery
            .audit
            .record(Event {
                kind: "payment-refund-late",
                actor: "host".into(),
                app: Some(entry.app.clone()),
                message: Some(
                    messages::REFUND_LATE
                        .with("provider", provider)
                        .with("amount", amount)
                        .with("reference", entry.refund.as_deref().unwrap_or_default())
                        .with("attempts", MAX_ATTEMPTS),
                ),
                ..Event::default()
            })
            .await;
    }
    retry(delivery, entry).await;
}

/// Count a failed attempt: try again after [`backoff`], or give an app's
/// event up (audited) after [`MAX_ATTEMPTS`]; a refund is never given up.
async fn retry(delivery: &HookDelivery, mut entry: OutboxEntry) {
    entry.attempts += 1;
    if entry.attempts >= MAX_ATTEMPTS && entry.refund.is_none() {
        delivery
            .audit
            .record(crate::audit::Event {
                kind: "payment-hook-abandoned",
                actor: "host".into(),
                app: Some(entry.app.clone()),
                message: Some(
                    crate::audit::messages::HOOK_ABANDONED
                        .with("intent", &entry.intent)
                        .with("attempts", entry.attempts),
                ),
                ..Default::default()
            })
            .await;
        return forget(delivery, &entry).await;
    }
    entry.next_at = now_ms() + backoff(entry.attempts).as_millis() as u64;
    if let Err(e) = delivery
        .store
        .ledger
        .outbox_update(&entry.key.clone(), Some(&entry))
        .await
    {
        tracing::error!(error = %e, "a payment hook could not be rescheduled");
    }
}

async fn forget(delivery: &HookDelivery, entry: &OutboxEntry) {
    if let Err(e) = delivery.store.ledger.outbox_update(&entry.key, None).await {
        tracing::error!(error = %e, "a delivered payment event could not be removed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(app: &str, intent: &str, n: u32) -> OutboxEntry {
        OutboxEntry {
            key: format!("{intent}:{n:016x}"),
            intent: intent.into(),
            app: app.into(),
            attempts: 0,
            next_at: 0,
            refund: None,
        }
    }

    #[test]
    fn one_app_holds_at_most_its_share_of_deliveries() {
        let mut flights = Flights::default();
        // A hanging app fills its own places only.
        for i in 0..PER_APP {
            assert!(flights.admit(&entry("slow", &format!("pi_{i}"), 0)));
        }
        assert!(!flights.admit(&entry("slow", "pi_more", 0)));
        assert!(flights.admit(&entry("fast", "pi_f", 0)));
        // One event per intent at once, and never the same key twice.
        assert!(!flights.admit(&entry("fast", "pi_f", 1)));
        assert!(!flights.admit(&entry("fast", "pi_f", 0)));
        flights.land(&entry("fast", "pi_f", 0));
        // Landed keys wait for a fresh read of the outbox.
        assert!(!flights.admit(&entry("fast", "pi_f", 0)));
        assert!(flights.admit(&entry("fast", "pi_f", 1)));
        flights.landed.clear();
        flights.land(&entry("slow", "pi_0", 0));
        assert!(flights.admit(&entry("slow", "pi_more", 0)));
        // And all apps together at most `IN_FLIGHT`.
        let mut app = 0;
        while flights.keys.len() < IN_FLIGHT {
            assert!(flights.admit(&entry(&format!("app-{app}"), &format!("pi_a{app}"), 0)));
            app += 1;
        }
        assert!(!flights.admit(&entry("another", "pi_x", 0)));
    }

    /// Another host sharing the store may claim an event for an app this
    /// host has not loaded yet: the event must wait for a later attempt, not
    /// vanish from the outbox.
    #[tokio::test]
    async fn an_event_for_an_app_not_serving_here_waits_for_a_later_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let citadel = crate::Citadel::open(&crate::HostConfig {
            install_samples: false,
            shared_compile_cache: None,
            ..crate::HostConfig::new(dir.path())
        })
        .await
        .unwrap();
        let delivery = HookDelivery::of(&citadel);
        let event = entry("not-loaded-here", "pi_1", 0);
        let ledger = &delivery.store.ledger;
        ledger
            .outbox_update(&event.key, Some(&event))
            .await
            .unwrap();

        let before = now_ms();
        deliver(&delivery, event.clone()).await;
        let waiting = ledger.outbox().await.unwrap();
        assert_eq!(waiting.len(), 1, "the event is still in the outbox");
        assert_eq!(waiting[0].attempts, 1);
        assert!(waiting[0].next_at >= before + backoff(1).as_millis() as u64);

        // After its last attempt it is given up, and the audit log says so.
        let last = OutboxEntry {
            attempts: MAX_ATTEMPTS - 1,
            ..waiting[0].clone()
        };
        deliver(&delivery, last).await;
        assert!(ledger.outbox().await.unwrap().is_empty());
        let abandoned = delivery
            .audit
            .query(&crate::audit::AuditQuery {
                kind: Some("payment-hook-abandoned".into()),
                app: Some("not-loaded-here".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(abandoned.records.len(), 1);
    }

    /// A refund its provider does not take is never given up: past the
    /// attempts an app's event gets, it is audited as late and stays queued.
    #[tokio::test]
    async fn a_refund_the_provider_does_not_take_is_never_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::HostConfig {
            install_samples: false,
            shared_compile_cache: None,
            ..crate::HostConfig::new(dir.path())
        };
        config.payments.providers = vec![WebhookProvider {
            name: "momo".into(),
            checkout_base: "http://127.0.0.1:9/checkout".into(),
            secret: b"momo-test-secret".to_vec(),
            // Nothing listens there.
            refund_url: Some("http://127.0.0.1:9/refund".into()),
        }];
        let citadel = crate::Citadel::open(&config).await.unwrap();
        let delivery = HookDelivery::of(&citadel);
        let ledger = &delivery.store.ledger;
        let mut paid = crate::store::conformance::intent("pi_1", "c-lan", "o-1");
        paid.status = crate::store::IntentStatus::Captured;
        paid.method = Some("momo".into());
        paid.refunds.push(crate::store::RefundRecord {
            reference: "r-1".into(),
            amount: 100,
            at: 1,
            provider: Some(crate::store::ProviderRefund {
                name: "momo".into(),
                acknowledged_at: None,
            }),
        });
        ledger.create_intent(&paid, 5).await.unwrap().unwrap();
        let refund = OutboxEntry {
            refund: Some("r-1".into()),
            attempts: MAX_ATTEMPTS - 1,
            ..entry("shop", "pi_1", 0)
        };
        ledger
            .outbox_update(&refund.key, Some(&refund))
            .await
            .unwrap();

        deliver(&delivery, refund.clone()).await;
        let waiting = ledger.outbox().await.unwrap();
        assert_eq!(waiting.len(), 1, "the refund is still queued");
        assert_eq!(waiting[0].attempts, MAX_ATTEMPTS);
        let late = |kind: &str| {
            let audit = delivery.audit.clone();
            let kind = kind.to_string();
            async move {
                audit
                    .query(&crate::audit::AuditQuery {
                        kind: Some(kind),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .records
                    .len()
            }
        };
        assert_eq!(late("payment-refund-late").await, 1);
        // Later attempts go on, without another alarm.
        deliver(&delivery, waiting[0].clone()).await;
        assert_eq!(ledger.outbox().await.unwrap()[0].attempts, MAX_ATTEMPTS + 1);
        assert_eq!(late("payment-refund-late").await, 1);
        assert_eq!(late("payment-hook-abandoned").await, 0);
    }

    #[test]
    fn retries_back_off_exponentially_up_to_five_minutes() {
        let delays: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(delays[..5], [1, 2, 4, 8, 16]);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*delays.last().unwrap(), 256);
        assert!(backoff(40) <= Duration::from_secs(300));
    }
}
