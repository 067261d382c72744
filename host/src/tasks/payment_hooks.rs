//! Delivery of payment events to apps: every capture and refund leaves an
//! outbox entry in the same transaction; this loop POSTs the intent to the
//! app's `payment_hook` route until it answers 2xx, backing off between
//! attempts — at least once, across restarts. Deliveries run concurrently:
//! at most `PER_APP` at once for one app (or one provider's refunds),
//! `IN_FLIGHT` in all, one at a time per intent — so a slow or hanging hook
//! holds up only its own app's events.
//! Each event is claimed in the store before it is delivered, so hosts that
//! share a store never deliver one at the same moment.
//! Apps read the intent's id and status and act idempotently.
//! A refund of a payment a provider took, or a payment a provider took for
//! an intent that could not take it, goes the same way to the provider's
//! refund address, signed as its webhooks are, until it answers
//! 2xx; money is never given up: past [`MAX_ATTEMPTS`] it is audited as
//! late and still sent.

use crate::audit::{messages, AuditLog, Event};
use crate::payments::WebhookProvider;
use crate::registry::Registry;
use crate::runtime::Caller;
use crate::runtime::Runtime;
use crate::store::Store;
use crate::store::{LedgerRefusal, LedgerStep, OutboxEntry, OutboxRefund};
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

/// Whom a delivery waits on, bounded to [`PER_APP`] at once: the app whose
/// hook it runs, or the provider a refund goes to — so a hanging provider
/// holds up only its own refunds, and a hanging hook no refund.
fn lane(entry: &OutboxEntry) -> String {
    match &entry.refund {
        Some(refund) => format!("provider\0{}", refund.provider),
        None => format!("app\0{}", entry.app),
    }
}

/// The deliveries running now.
#[derive(Debug, Default)]
struct Flights {
    keys: HashSet<String>,
    intents: HashSet<String>,
    per_lane: HashMap<String, usize>,
    /// Keys whose delivery ended since the outbox was last read: the read
    /// may predate their removal or rescheduling, so they wait a round.
    landed: HashSet<String>,
}

impl Flights {
    /// Take a place for `entry`, if the bounds leave one.
    fn admit(&mut self, entry: &OutboxEntry) -> bool {
        let lane = lane(entry);
        let running = self.per_lane.get(&lane).copied().unwrap_or(0);
        if self.keys.len() >= IN_FLIGHT
            || running >= PER_APP
            || self.keys.contains(&entry.key)
            || self.landed.contains(&entry.key)
            || self.intents.contains(&entry.intent)
        {
            return false;
        }
        self.per_lane.insert(lane, running + 1);
        self.keys.insert(entry.key.clone());
        self.intents.insert(entry.intent.clone());
        true
    }

    /// Give back `entry`'s place.
    fn land(&mut self, entry: &OutboxEntry) {
        self.keys.remove(&entry.key);
        self.intents.remove(&entry.intent);
        let lane = lane(entry);
        if let Some(count) = self.per_lane.get_mut(&lane) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_lane.remove(&lane);
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

/// How long an attempt to send a refund holds off an operator recording it
/// paid back by hand: longer than [`PROVIDER_TIMEOUT`], so the provider
/// has answered (or never will) before the window ends.
const SENDING_WINDOW: Duration = Duration::from_secs(60);
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
    if let Some(refund) = entry.refund.clone() {
        return refund_at_provider(delivery, entry, &refund).await;
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

/// Send `refund` of `entry`'s intent to the provider that took the
/// payment; once it answers 2xx, the refund is marked acknowledged in the
/// ledger. The provider tells a repeat by `refund_id`. Each attempt is
/// marked in the intent first (`sending_until`, in the same write that
/// finds it still owed), so an operator cannot record it paid back by hand
/// while the provider may be taking it.
async fn refund_at_provider(delivery: &HookDelivery, entry: OutboxEntry, refund: &OutboxRefund) {
    let provider = delivery
        .providers
        .iter()
        .find(|p| p.name == refund.provider)
        .and_then(|p| Some((p, p.refund_url.clone()?)));
    let sending_until = now_ms() + SENDING_WINDOW.as_millis() as u64;
    let marked = delivery
        .store
        .ledger
        .step_telling(&entry.intent, None, |intent, _| {
            let Some(owed) = intent.owed_mut(&refund.reference, refund.returns_payment) else {
                return Ok((LedgerStep::default(), Owing::NoRecord));
            };
            if owed.acknowledged_at.is_some() {
                return Ok((LedgerStep::default(), Owing::Nothing));
            }
            if provider.is_some() {
                owed.sending_until = Some(sending_until);
            }
            Ok((LedgerStep::default(), Owing::Refund))
        })
        .await;
    let intent = match marked {
        Ok(Ok((intent, Owing::Refund))) => intent,
        // Taken, or paid back by hand.
        Ok(Ok((_, Owing::Nothing))) => return forget(delivery, &entry).await,
        Ok(Ok((_, Owing::NoRecord))) | Ok(Err(LedgerRefusal::NoSuchIntent)) => {
            return refund_lost(delivery, &entry, refund).await
        }
        Ok(Err(refusal)) => {
            tracing::warn!(?refusal, "a refund waits: its intent refused the attempt");
            return retry(delivery, entry).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "a refund waits: its intent could not be marked");
            return retry(delivery, entry).await;
        }
    };
    let Some((config, url)) = provider else {
        // Configured when the refund was made, gone since: it waits for
        // the provider to come back (audited as late), or to be paid back
        // by hand.
        tracing::warn!(provider = %refund.provider, "a refund waits: its provider takes no refunds here now");
        return retry(delivery, entry).await;
    };
    let payment_ref = intent
        .owed(&refund.reference, refund.returns_payment)
        .and_then(|owed| owed.payment_ref.map(str::to_string));
    let body = serde_json::json!({
        "event": "refund",
        "refund_id": refund.refund_id(&intent.id),
        "intent": intent.id,
        "payment_ref": payment_ref,
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
    let taken = match answer {
        Ok(answer) if answer.status().is_success() => true,
        Ok(answer) => {
            tracing::warn!(provider = %refund.provider, status = %answer.status(), "a provider refused a refund; it is sent again");
            false
        }
        Err(e) => {
            // Without the address: it may carry the provider's token.
            let e = e.without_url();
            tracing::warn!(provider = %refund.provider, error = %e, "a refund did not reach its provider; it is sent again");
            false
        }
    };
    // The attempt is over: taken, or free to be paid back by hand.
    let recorded = delivery
        .store
        .ledger
        .step_telling(&intent.id, None, |intent, _| {
            let Some(owed) = intent.owed_mut(&refund.reference, refund.returns_payment) else {
                return Ok((LedgerStep::default(), None));
            };
            owed.sending_until = None;
            if taken {
                owed.acknowledged_at.get_or_insert_with(now_ms);
            }
            Ok((LedgerStep::default(), owed.settled_by.clone()))
        })
        .await;
    let settled_by = match recorded {
        Ok(Ok((_, settled_by))) if taken => settled_by,
        Ok(Ok(_)) => return retry(delivery, entry).await,
        _ => {
            if taken {
                // Sent again later: the provider tells the repeat by its id.
                tracing::warn!(intent = %intent.id, "a refund's acknowledgement could not be recorded");
            }
            return retry(delivery, entry).await;
        }
    };
    if let Some(operator) = settled_by {
        // Recorded by hand while this attempt ran past its window (a host
        // stalled that long): the citizen was paid twice.
        tracing::error!(intent = %intent.id, "a refund was paid back by hand and taken by its provider");
        delivery
            .audit
            .record(Event {
                kind: "payment-refund-paid-twice",
                actor: format!("provider:{}", refund.provider),
                app: Some(intent.app.clone()),
                message: Some(
                    refund_message(&messages::REFUND_PAID_TWICE, &intent.id, refund)
                        .with("operator", operator),
                ),
                ..Event::default()
            })
            .await;
        return forget(delivery, &entry).await;
    }
    delivery
        .audit
        .record(Event {
            kind: "payment-refund-sent",
            actor: format!("provider:{}", refund.provider),
            app: Some(intent.app.clone()),
            message: Some(refund_message(&messages::REFUND_SENT, &intent.id, refund)),
            ..Event::default()
        })
        .await;
    forget(delivery, &entry).await;
}

/// What a refund's intent says is owed for it.
#[derive(Clone, Copy, Default)]
enum Owing {
    /// No record of it is left (a host of an older version wrote the
    /// intent over).
    #[default]
    NoRecord,
    /// Taken by the provider, or paid back by hand.
    Nothing,
    /// The refund, now marked as being sent.
    Refund,
}

/// `sentence` said of `refund` of intent `intent`.
fn refund_message(
    sentence: &messages::Sentence,
    intent: &str,
    refund: &OutboxRefund,
) -> crate::audit::AuditMessage {
    sentence
        .with("provider", &refund.provider)
        .with("amount", refund.amount)
        .with("reference", &refund.reference)
        .with("intent", intent)
}

/// A queued refund whose intent, or whose record in it, is gone (a host of
/// an older version wrote the intent over): it cannot be sent, so the
/// audit log says what the provider still owes, for the city to pay back
/// by hand.
async fn refund_lost(delivery: &HookDelivery, entry: &OutboxEntry, refund: &OutboxRefund) {
    tracing::error!(intent = %entry.intent, provider = %refund.provider, "a queued refund has no record to send");
    delivery
        .audit
        .record(Event {
            kind: "payment-refund-lost",
            actor: "host".into(),
            app: Some(entry.app.clone()),
            message: Some(refund_message(
                &messages::REFUND_LOST,
                &entry.intent,
                refund,
            )),
            ..Event::default()
        })
        .await;
    forget(delivery, entry).await;
}

/// Count a failed attempt: try again after [`backoff`], or give an app's
/// event up (audited) after [`MAX_ATTEMPTS`]. A refund is never given up:
/// at its [`MAX_ATTEMPTS`]th failure it is audited as late, and sent on.
async fn retry(delivery: &HookDelivery, mut entry: OutboxEntry) {
    entry.attempts += 1;
    if let Some(refund) = entry
        .refund
        .as_ref()
        .filter(|_| entry.attempts == MAX_ATTEMPTS)
    {
        delivery
            .audit
            .record(Event {
                kind: "payment-refund-late",
                actor: "host".into(),
                app: Some(entry.app.clone()),
                message: Some(
                    refund_message(&messages::REFUND_LATE, &entry.intent, refund)
                        .with("attempts", MAX_ATTEMPTS),
                ),
                ..Event::default()
            })
            .await;
    }
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

    #[test]
    fn a_hanging_provider_holds_up_only_its_own_refunds() {
        let refund = |app: &str, intent: &str, provider: &str| OutboxEntry {
            refund: Some(OutboxRefund {
                provider: provider.into(),
                reference: "r".into(),
                amount: 1,
                returns_payment: false,
            }),
            ..entry(app, intent, 0)
        };
        let mut flights = Flights::default();
        for i in 0..PER_APP {
            assert!(flights.admit(&refund("shop", &format!("pi_{i}"), "momo")));
        }
        assert!(!flights.admit(&refund("shop", "pi_more", "momo")));
        // The app's own events, and another provider's refunds, still go.
        assert!(flights.admit(&entry("shop", "pi_event", 0)));
        assert!(flights.admit(&refund("shop", "pi_z", "zalopay")));
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
                settled_by: None,
                sending_until: None,
            }),
        });
        ledger.create_intent(&paid, 5).await.unwrap().unwrap();
        let unsent = |problems: Vec<String>| problems.iter().any(|p| p.contains("not queued"));
        let reconciled = citadel.payments.reconcile().await.unwrap();
        assert!(
            unsent(reconciled.problems),
            "owed and not queued is a problem"
        );
        let refund = OutboxEntry {
            refund: Some(OutboxRefund {
                provider: "momo".into(),
                reference: "r-1".into(),
                amount: 100,
                returns_payment: false,
            }),
            attempts: MAX_ATTEMPTS - 1,
            ..entry("shop", "pi_1", 0)
        };
        ledger
            .outbox_update(&refund.key, Some(&refund))
            .await
            .unwrap();

        let reconciled = citadel.payments.reconcile().await.unwrap();
        assert!(!unsent(reconciled.problems), "queued, it is no problem");
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

        // A queued refund with no record left (an older host wrote the
        // intent over) is audited as lost, for the city to pay by hand.
        let stray = OutboxEntry {
            key: "pi_1:00000000000000ff".into(),
            refund: Some(OutboxRefund {
                reference: "r-gone".into(),
                ..waiting[0].refund.clone().unwrap()
            }),
            ..waiting[0].clone()
        };
        ledger
            .outbox_update(&stray.key, Some(&stray))
            .await
            .unwrap();
        deliver(&delivery, stray.clone()).await;
        assert_eq!(late("payment-refund-lost").await, 1);
        assert!(!ledger
            .outbox()
            .await
            .unwrap()
            .iter()
            .any(|e| e.key == stray.key));
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
