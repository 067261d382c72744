//! Money's records — payment intents, the double-entry postings, account
//! balances, one-time keys and the outbox of events for apps' payment hooks —
//! and the [`Ledger`] trait that changes them only in whole transactions.

use super::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where a payment intent is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IntentStatus {
    Pending,
    Captured,
    Cancelled,
    Expired,
    /// Captured, then refunded in full.
    Refunded,
}

/// A refund of (part of) a captured intent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundRecord {
    /// The app's idempotency key for this refund.
    pub reference: String,
    pub amount: u64,
    /// Unix milliseconds.
    pub at: u64,
    /// Of a payment taken by a provider: the provider pays it back, told
    /// through the outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderRefund>,
}

/// A refund on its way to the provider that took the payment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderRefund {
    /// The provider's name (the intent's method).
    pub name: String,
    /// Unix milliseconds when the provider acknowledged it; `None` while
    /// the host is still telling it.
    pub acknowledged_at: Option<u64>,
    /// The operator who recorded it paid back by hand instead (then
    /// `acknowledged_at` is when they did): the host stops telling the
    /// provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_by: Option<String>,
    /// Unix milliseconds until which a host may be sending it to the
    /// provider (set before each attempt, cleared after it): meanwhile it
    /// cannot be recorded as paid back by hand, which would pay it twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_until: Option<u64>,
}

/// A payment a provider took for an intent that could not take it (the
/// citizen had cancelled it, or paid it already): the provider pays it
/// back, told through the outbox. None of it enters the ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReturnedPayment {
    /// The provider's reference of the payment, as its webhook gave it.
    pub payment_ref: String,
    /// VND, as the provider reported it.
    pub amount: u64,
    /// Unix milliseconds when it was reported.
    pub at: u64,
    pub provider: ProviderRefund,
}

/// A payment intent: an app asking a citizen for money.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntentRecord {
    pub id: String,
    pub app: String,
    /// The merchant: the app's publisher.
    pub publisher: String,
    /// The paying citizen (host-side id; apps see `pairwise_id`).
    pub citizen: String,
    pub pairwise_id: String,
    /// The app's idempotency key.
    pub reference: String,
    /// VND.
    pub amount: u64,
    pub description: String,
    pub status: IntentStatus,
    /// Unix milliseconds.
    pub created_at: u64,
    pub expires_at: u64,
    pub captured_at: Option<u64>,
    /// How it was paid (`demo-wallet`, a provider's name).
    pub method: Option<String>,
    /// The city's fee taken at capture, VND.
    pub fee: u64,
    pub refunded: u64,
    pub fee_refunded: u64,
    pub refunds: Vec<RefundRecord>,
    /// The provider's own reference of the payment, as its webhook gave it
    /// (what a refund there names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<String>,
    /// Payments providers took for it that it could not take, each paid
    /// back by its provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub returned: Vec<ReturnedPayment>,
}

/// What a provider owes on an intent: one refund, or one returned payment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Owed<'a> {
    pub provider: &'a ProviderRefund,
    /// VND.
    pub amount: u64,
    /// The provider's reference of the payment it pays back.
    pub payment_ref: Option<&'a str>,
}

impl IntentRecord {
    /// What its provider owes for the refund `reference` (or, with
    /// `returns_payment`, for the returned payment the provider knows by
    /// that reference); `None` when no such record is left.
    pub fn owed(&self, reference: &str, returns_payment: bool) -> Option<Owed<'_>> {
        if returns_payment {
            self.returned
                .iter()
                .find(|r| r.payment_ref == reference)
                .map(|r| Owed {
                    provider: &r.provider,
                    amount: r.amount,
                    payment_ref: Some(&r.payment_ref),
                })
        } else {
            let refund = self.refunds.iter().find(|r| r.reference == reference)?;
            Some(Owed {
                provider: refund.provider.as_ref()?,
                amount: refund.amount,
                payment_ref: self.provider_ref.as_deref(),
            })
        }
    }

    /// The provider's side of [`IntentRecord::owed`], to mark it taken.
    pub fn owed_mut(
        &mut self,
        reference: &str,
        returns_payment: bool,
    ) -> Option<&mut ProviderRefund> {
        if returns_payment {
            self.returned
                .iter_mut()
                .find(|r| r.payment_ref == reference)
                .map(|r| &mut r.provider)
        } else {
            self.refunds
                .iter_mut()
                .find(|r| r.reference == reference)
                .and_then(|r| r.provider.as_mut())
        }
    }

    /// Every refund a provider owes on this intent and has not yet
    /// acknowledged, as the outbox names them (provider, reference, and
    /// whether it returns a payment the intent could not take).
    pub fn unacknowledged_refunds(&self) -> Vec<(String, String, bool)> {
        let refunds = self.refunds.iter().filter_map(|r| {
            let provider = r.provider.as_ref()?;
            Some((provider, &r.reference, false))
        });
        let returned = self
            .returned
            .iter()
            .map(|r| (&r.provider, &r.payment_ref, true));
        refunds
            .chain(returned)
            .filter(|(provider, _, _)| provider.acknowledged_at.is_none())
            .map(|(provider, reference, returns)| {
                (provider.name.clone(), reference.clone(), returns)
            })
            .collect()
    }
}

/// One side of a ledger transaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Posting {
    /// The transaction it belongs to (its postings sum to zero).
    pub tx: String,
    /// The intent it moves money for, if any.
    pub intent: Option<String>,
    /// e.g. `wallet:c-lan`, `merchant:vnpt-hue`, `city:fees`.
    pub account: String,
    /// Signed VND.
    pub amount: i64,
    /// Unix milliseconds.
    pub at: u64,
}

/// What a payment step does to the ledger, decided by the payments module
/// inside the store's transaction.
#[derive(Debug, Clone, Default)]
pub struct LedgerStep {
    /// Postings of one transaction; they must sum to zero.
    pub postings: Vec<(String, i64)>,
    /// Tell the app about the new state (queued for delivery with it).
    pub notify_app: bool,
    /// Tell the intent's provider to pay back this refund (queued for
    /// delivery with it).
    pub provider_refund: Option<OutboxRefund>,
}

/// A refund the outbox carries to the provider that took the payment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxRefund {
    /// The provider's name (the intent's method).
    pub provider: String,
    /// The refund's reference in the intent; of a returned payment, the
    /// provider's reference of that payment.
    pub reference: String,
    /// VND.
    pub amount: u64,
    /// It returns a payment the intent could not take (one of
    /// [`IntentRecord::returned`]), not a refund of the intent's own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub returns_payment: bool,
}

impl OutboxRefund {
    /// The id the provider tells a repeat of this refund by: one per
    /// refund, never the same for a refund and a returned payment.
    pub fn refund_id(&self, intent: &str) -> String {
        let kind = if self.returns_payment {
            "return"
        } else {
            "refund"
        };
        format!("{intent}:{kind}:{}", self.reference)
    }
}

impl LedgerStep {
    /// The outbox entries the step queues (their keys and due times left
    /// for the store to give): the app's event, then the provider's refund.
    pub fn outbox_entries(&self, intent: &IntentRecord) -> Vec<OutboxEntry> {
        let entry = |refund: Option<OutboxRefund>| OutboxEntry {
            key: String::new(),
            intent: intent.id.clone(),
            app: intent.app.clone(),
            attempts: 0,
            next_at: 0,
            refund,
        };
        let mut entries = Vec::new();
        if self.notify_app {
            entries.push(entry(None));
        }
        if let Some(refund) = &self.provider_refund {
            entries.push(entry(Some(refund.clone())));
        }
        entries
    }
}

/// Reads an account's balance inside a ledger transaction (`None`: never used).
pub type BalanceReader<'a> = dyn Fn(&str) -> Option<i64> + 'a;

/// The whole ledger as of one moment.
#[derive(Debug, Clone, Default)]
pub struct LedgerSnapshot {
    /// Every posting, in order.
    pub postings: Vec<Posting>,
    /// Every account and its balance.
    pub balances: Vec<(String, i64)>,
    /// Every intent, oldest first.
    pub intents: Vec<IntentRecord>,
}

/// A payment step: edits the intent and says what the ledger must do.
pub type StepFn<'a> = dyn Fn(&mut IntentRecord, &BalanceReader) -> Result<LedgerStep, LedgerRefusal>
    + Send
    + Sync
    + 'a;

impl dyn Ledger {
    /// [`Ledger::step`] for a step that also says something of what it did
    /// (whether it changed the intent, say): `step` returns that `T` beside
    /// the ledger step, and the call returns the `T` of the run that was
    /// written (a backend may run `step` more than once).
    pub async fn step_telling<T: Clone + Default + Send>(
        &self,
        id: &str,
        once: Option<&str>,
        step: impl Fn(&mut IntentRecord, &BalanceReader) -> Result<(LedgerStep, T), LedgerRefusal>
            + Send
            + Sync,
    ) -> Result<Result<(IntentRecord, T), LedgerRefusal>, StoreError> {
        let told = std::sync::Mutex::new(T::default());
        let untold = |intent: &mut IntentRecord, balances: &BalanceReader| {
            let (ledger_step, said) = step(intent, balances)?;
            *told.lock().unwrap_or_else(|p| p.into_inner()) = said;
            Ok(ledger_step)
        };
        let written = self.step(id, once, &untold).await?;
        let said = told.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(written.map(|intent| (intent, said)))
    }
}

/// Why the store refused a ledger step; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerRefusal {
    /// The step's own rule (wrong state, expired, over-refund …), as a code.
    Rule(String),
    /// An account whose name starts with `wallet:` would go below zero.
    InsufficientFunds { account: String, balance: i64 },
    /// The `once` key was used before (a replayed webhook).
    Replayed(String),
    /// No intent with this id.
    NoSuchIntent,
    /// The citizen already holds this many pending intents of the app.
    TooManyPending(usize),
}

/// A payment event waiting to be delivered: to an app's hook, or (with
/// `refund`) a refund to the provider that took the payment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxEntry {
    pub key: String,
    pub intent: String,
    pub app: String,
    pub attempts: u32,
    /// Unix milliseconds of the next attempt.
    pub next_at: u64,
    /// The intent's refund its provider must pay back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<OutboxRefund>,
}

/// Where a page of a citizen's payment history starts: after this intent
/// (its creation time and id), going back in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCursor {
    pub created_at: u64,
    pub id: String,
}

/// Intents, postings, balances and the hook outbox. Money moves only inside
/// one transaction per call; every write returns once it is durable.
#[async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// Create `intent` unless (app, citizen, reference) already names one;
    /// returns the intent that now holds that reference. A new intent is
    /// refused with `TooManyPending` when its citizen already holds
    /// `max_pending` unexpired pending intents of the app (counted in the
    /// same transaction).
    async fn create_intent(
        &self,
        intent: &IntentRecord,
        max_pending: usize,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError>;
    /// The intent `id`.
    async fn intent(&self, id: &str) -> Result<Option<IntentRecord>, StoreError>;
    /// A citizen's intents, newest first, at most `limit`, starting after
    /// `before` (the last intent of the previous page): read through an
    /// index by citizen, never the whole ledger.
    async fn citizen_intents(
        &self,
        citizen: &str,
        before: Option<&HistoryCursor>,
        limit: usize,
    ) -> Result<Vec<IntentRecord>, StoreError>;
    /// Every intent, oldest first (reconciliation and settlement reports).
    async fn intents(&self) -> Result<Vec<IntentRecord>, StoreError>;
    /// Change intent `id` by `step` in one transaction: `step` edits the
    /// intent (given the balance reader) and returns the ledger step; the
    /// store refuses postings that do not sum to zero or overdraw a wallet,
    /// and — before anything else — a reused `once` key (a provider's
    /// payment reference), which it then marks used. A backend may run
    /// `step` more than once (a retried transaction), so it must be pure.
    async fn step(
        &self,
        id: &str,
        once: Option<&str>,
        step: &StepFn,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError>;
    /// Open `account` with `opening`, a balanced transaction that credits
    /// it, unless the account exists already: once, however many ask at the
    /// same moment, on one host or several. Whether it was opened now.
    async fn open_account(
        &self,
        account: &str,
        opening: &[(String, i64)],
    ) -> Result<Result<bool, LedgerRefusal>, StoreError>;
    /// Post a transaction with no intent (a top-up), refusing an overdrawn wallet.
    async fn post(
        &self,
        postings: &[(String, i64)],
    ) -> Result<Result<(), LedgerRefusal>, StoreError>;
    /// Postings, balances and intents read as of one moment (no write in
    /// between), for reconciliation while payments go on.
    async fn whole_ledger(&self) -> Result<LedgerSnapshot, StoreError>;
    /// Every posting, in order.
    async fn postings(&self) -> Result<Vec<Posting>, StoreError>;
    /// Every account and its balance.
    async fn balances(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// One account's balance (`None`: never used).
    async fn balance(&self, account: &str) -> Result<Option<i64>, StoreError>;
    /// Outbox entries due at `now_ms`, the earliest first, at most `limit`
    /// (read through an index by due time).
    async fn outbox_due(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
    /// When the earliest outbox entry falls due (Unix ms), if any.
    async fn outbox_next_due(&self) -> Result<Option<u64>, StoreError>;
    /// Every outbox entry, the earliest due first.
    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Take entry `key` for delivery: if it is still due at `due_at` (its
    /// `next_at` as read: no host took or moved it since), move its due time
    /// to `until` and return true. Hosts sharing the store deliver an entry
    /// one at a time; one that dies mid-delivery leaves it to fall due again
    /// at `until` (at least once, never two at the same moment).
    async fn outbox_claim(&self, key: &str, due_at: u64, until: u64) -> Result<bool, StoreError>;
    /// Replace (reschedule) or, with `None`, delete an outbox entry.
    async fn outbox_update(&self, key: &str, entry: Option<&OutboxEntry>)
        -> Result<(), StoreError>;
    /// Notified whenever an entry is added to the outbox (on this host), so
    /// the delivery task sleeps until work arrives rather than polling.
    fn outbox_added(&self) -> Arc<tokio::sync::Notify>;
}
