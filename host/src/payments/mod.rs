//! Payments: an app creates an intent; only the signed-in citizen confirms
//! it, in host UI, paying from the demo wallet or through a provider whose
//! HMAC-signed webhook reports the payment. Money moves as balanced postings
//! in one store transaction per step (wallet → merchant + city fee), and a
//! capture is flushed before anyone is told. Also: refunds, reconciliation
//! of every ledger invariant, and publishers' daily settlements.

mod provider;
pub mod reconcile;

pub use crate::store::{HistoryCursor, IntentRecord, IntentStatus};
pub use provider::{PaymentProvider, WebhookProvider};

use crate::audit::{messages, AuditLog, Event};
use crate::store::{
    BalanceReader, LedgerRefusal, LedgerStep, OutboxRefund, ProviderRefund, RefundRecord,
    ReturnedPayment, Store, StoreError,
};
use std::time::Duration;

/// The city's fee when a publisher has none of its own, in basis points.
pub const DEFAULT_FEE_BPS: u64 = 100;
/// What a demo citizen's wallet holds when first used, VND.
pub const DEMO_BALANCE: i64 = 5_000_000;
/// The method name of the demo wallet.
pub const DEMO_WALLET: &str = "demo-wallet";
const FEES: &str = "city:fees";
const DEMO_ISSUANCE: &str = "city:demo-issuance";
const MAX_DESCRIPTION: usize = 200;
const MAX_REFERENCE: usize = 100;

/// How payments behave.
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// Smallest and largest amount of one intent, VND.
    pub min_amount: u64,
    pub max_amount: u64,
    /// How long a citizen has to confirm.
    pub intent_ttl: Duration,
    /// Whether the demo wallet pays (development) — seeded balances, top-ups.
    pub demo_wallet: bool,
    /// Redirect-and-webhook providers (VNPay-, MoMo-, ZaloPay-like).
    pub providers: Vec<WebhookProvider>,
    /// Unexpired pending intents one app may hold for one citizen.
    pub max_pending_per_citizen: usize,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            min_amount: 1_000,
            max_amount: 50_000_000,
            intent_ttl: Duration::from_secs(15 * 60),
            demo_wallet: true,
            providers: Vec::new(),
            max_pending_per_citizen: 20,
        }
    }
}

/// Why a payment step was refused. Nothing moved when it was.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PaymentError {
    #[error("{0}")]
    InvalidAmount(String),
    #[error("{0}")]
    Invalid(String),
    #[error("there is no such payment")]
    NotFound,
    #[error("the payment expired before it was confirmed")]
    Expired,
    #[error("the payment is {0}; it cannot be confirmed or cancelled now")]
    NotPending(String),
    #[error("the wallet holds {balance} VND, less than the amount")]
    InsufficientFunds { balance: i64 },
    #[error("the payment is not captured (or is refunded in full)")]
    NotCaptured,
    #[error("the refund is larger than the {remaining} VND that remain captured")]
    OverRefund { remaining: u64 },
    #[error("this provider payment was reported before")]
    Replayed,
    #[error("no payment method `{0}` is available")]
    UnknownMethod(String),
    #[error("the webhook is not valid: {0}")]
    BadWebhook(String),
    #[error("{limit} payments of this app already wait for the citizen; they must confirm or cancel one first")]
    TooManyPending { limit: usize },
    #[error("payments are unavailable; try again")]
    Unavailable,
    #[error(
        "this payment was taken by {0}, which takes no refunds through Citadel: refund it there"
    )]
    RefundUnavailable(String),
    #[error("this payment has no such refund owed by a provider")]
    NoSuchRefund,
    #[error("{0} took this refund already: it is not owed")]
    RefundTaken(String),
    #[error(
        "this refund is being sent to {0} right now: ask again in a minute, once it has answered"
    )]
    RefundInFlight(String),
}

impl From<StoreError> for PaymentError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "payments storage failure");
        PaymentError::Unavailable
    }
}

/// Why a provider's payment was not applied to its intent.
#[derive(Debug, Clone, Copy)]
enum Unapplied<'a> {
    /// The intent was no longer pending: its status.
    NotPending(&'a str),
    /// The provider took another amount than the intent asks.
    OtherAmount { asked: u64 },
    /// No intent has this id: nothing to record the payment on, so the
    /// city gives it back.
    NoIntent,
}

/// What a confirmation leads to.
pub enum Confirmed {
    /// Paid from the wallet; captured and durable.
    Captured(Box<IntentRecord>),
    /// The citizen goes to the provider, whose webhook will report.
    Redirect(String),
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How the API names `status`: `pending`, `captured`, `cancelled`,
/// `expired` or `refunded`.
pub fn status_name(status: IntentStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The status a reader sees: a pending intent past its expiry is expired.
pub fn effective_status(intent: &IntentRecord, now: u64) -> IntentStatus {
    if intent.status == IntentStatus::Pending && now >= intent.expires_at {
        IntentStatus::Expired
    } else {
        intent.status
    }
}

/// A provider's report of a payment it took applies to an intent still
/// pending, even one whose time ran out since: the citizen was sent to the
/// checkout while it was valid, and the money has left their account.
fn require_unsettled(intent: &IntentRecord) -> Result<(), LedgerRefusal> {
    match intent.status {
        IntentStatus::Pending => Ok(()),
        other => Err(LedgerRefusal::Rule(format!(
            "not_pending:{}",
            status_name(other)
        ))),
    }
}

/// The part of `intent`'s fee given back once `refunded` of it is refunded:
/// in proportion (the last refund returns the rest).
pub(crate) fn fee_returned_after(intent: &IntentRecord, refunded: u64) -> u64 {
    intent.fee * refunded / intent.amount.max(1)
}

/// Only a pending intent can be confirmed or cancelled.
fn require_pending(intent: &IntentRecord, now: u64) -> Result<(), LedgerRefusal> {
    match effective_status(intent, now) {
        IntentStatus::Pending => Ok(()),
        IntentStatus::Expired => Err(LedgerRefusal::Rule("expired".into())),
        other => Err(LedgerRefusal::Rule(format!(
            "not_pending:{}",
            status_name(other)
        ))),
    }
}

/// Map a store refusal that carries one of this module's rule codes.
fn refused(refusal: LedgerRefusal) -> PaymentError {
    match refusal {
        LedgerRefusal::InsufficientFunds { balance, .. } => {
            PaymentError::InsufficientFunds { balance }
        }
        LedgerRefusal::Replayed(_) => PaymentError::Replayed,
        LedgerRefusal::NoSuchIntent => PaymentError::NotFound,
        LedgerRefusal::TooManyPending(limit) => PaymentError::TooManyPending { limit },
        LedgerRefusal::Rule(rule) => match rule.split_once(':') {
            Some(("not_pending", status)) => PaymentError::NotPending(status.to_string()),
            Some(("over_refund", remaining)) => PaymentError::OverRefund {
                remaining: remaining.parse().unwrap_or(0),
            },
            Some(("invalid", why)) => PaymentError::Invalid(why.to_string()),
            Some(("refund_unavailable", provider)) => {
                PaymentError::RefundUnavailable(provider.to_string())
            }
            Some(("refund_taken", provider)) => PaymentError::RefundTaken(provider.to_string()),
            Some(("refund_in_flight", provider)) => {
                PaymentError::RefundInFlight(provider.to_string())
            }
            _ => match rule.as_str() {
                "expired" => PaymentError::Expired,
                "not_found" => PaymentError::NotFound,
                "not_captured" => PaymentError::NotCaptured,
                "refund_not_found" => PaymentError::NoSuchRefund,
                _ => {
                    tracing::error!(%rule, "a ledger step broke a rule of its own");
                    PaymentError::Unavailable
                }
            },
        },
    }
}

/// Payments over a store.
pub struct Payments {
    store: Store,
    audit: AuditLog,
    config: PaymentsConfig,
    public_url: Option<crate::public_url::PublicUrl>,
}

impl Payments {
    /// Payments over `store`; a provider sends the citizen back to
    /// `public_url` when it is known (else to the host's own path, which
    /// only a provider on the same origin can follow).
    pub fn new(
        store: Store,
        audit: AuditLog,
        config: PaymentsConfig,
        public_url: Option<crate::public_url::PublicUrl>,
    ) -> Self {
        Payments {
            store,
            audit,
            config,
            public_url,
        }
    }

    pub fn config(&self) -> &PaymentsConfig {
        &self.config
    }

    /// Audit a step of `intent`'s life: `sentence` with the intent's id and
    /// amount, and `params`.
    async fn record(
        &self,
        kind: &'static str,
        intent: &IntentRecord,
        actor: &str,
        sentence: messages::Sentence,
        params: &[(&str, &str)],
    ) {
        let mut message = sentence
            .with("intent", &intent.id)
            .with("amount", intent.amount);
        for (name, value) in params {
            message = message.with(name, value);
        }
        self.audit
            .record(Event {
                kind,
                actor: actor.to_string(),
                app: Some(intent.app.clone()),
                pairwise_id: Some(intent.pairwise_id.clone()),
                message: Some(message),
                ..Event::default()
            })
            .await;
    }

    /// An app asks the signed-in citizen for `amount` VND. The same (app,
    /// citizen, reference) always gives the same intent; another citizen's
    /// use of the reference is another intent. An app holds at most
    /// `max_pending_per_citizen` unexpired pending intents per citizen.
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        app: &str,
        publisher: &str,
        citizen: &str,
        pairwise_id: &str,
        amount: u64,
        description: &str,
        reference: &str,
    ) -> Result<IntentRecord, PaymentError> {
        if amount < self.config.min_amount || amount > self.config.max_amount {
            return Err(PaymentError::InvalidAmount(format!(
                "the amount must be {} to {} VND, not {amount}",
                self.config.min_amount, self.config.max_amount
            )));
        }
        let description = description.trim();
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION {
            return Err(PaymentError::Invalid(format!(
                "the description must be 1 to {MAX_DESCRIPTION} characters"
            )));
        }
        if reference.is_empty()
            || reference.len() > MAX_REFERENCE
            || reference.chars().any(|c| c.is_control())
        {
            return Err(PaymentError::Invalid(format!(
                "the reference must be 1 to {MAX_REFERENCE} bytes without control characters"
            )));
        }
        let now = now_ms();
        let fresh = IntentRecord {
            id: format!("pi_{}", hex::encode(rand::random::<[u8; 12]>())),
            app: app.to_string(),
            publisher: publisher.to_string(),
            citizen: citizen.to_string(),
            pairwise_id: pairwise_id.to_string(),
            reference: reference.to_string(),
            amount,
            description: description.to_string(),
            status: IntentStatus::Pending,
            created_at: now,
            expires_at: now + self.config.intent_ttl.as_millis() as u64,
            captured_at: None,
            method: None,
            fee: 0,
            refunded: 0,
            fee_refunded: 0,
            refunds: Vec::new(),
            provider_ref: None,
            returned: Vec::new(),
        };
        let intent = self
            .store
            .ledger
            .create_intent(&fresh, self.config.max_pending_per_citizen)
            .await?
            .map_err(refused)?;
        if intent.id == fresh.id {
            self.record(
                "payment-created",
                &intent,
                "app",
                messages::PAYMENT_CREATED,
                &[("description", &intent.description)],
            )
            .await;
        }
        Ok(intent)
    }

    /// Intent `id` if it belongs to `app`.
    pub async fn get_for_app(&self, app: &str, id: &str) -> Result<IntentRecord, PaymentError> {
        self.store
            .ledger
            .intent(id)
            .await?
            .filter(|i| i.app == app)
            .ok_or(PaymentError::NotFound)
    }

    /// Intent `id` if `citizen` is its payer.
    pub async fn get_for_citizen(
        &self,
        citizen: &str,
        id: &str,
    ) -> Result<IntentRecord, PaymentError> {
        self.store
            .ledger
            .intent(id)
            .await?
            .filter(|i| i.citizen == citizen)
            .ok_or(PaymentError::NotFound)
    }

    /// A page of the citizen's payments, newest first, after `before` (the
    /// last one of the previous page), read through the ledger's index by
    /// citizen.
    pub async fn history(
        &self,
        citizen: &str,
        before: Option<&HistoryCursor>,
        limit: usize,
    ) -> Result<Vec<IntentRecord>, PaymentError> {
        Ok(self
            .store
            .ledger
            .citizen_intents(citizen, before, limit)
            .await?)
    }

    /// The city's fee, in basis points, on intent `id`'s publisher. Read
    /// before the ledger transaction: sled reads outside a transaction block
    /// while one is running.
    async fn fee_bps(&self, id: &str) -> Result<u64, PaymentError> {
        let intent = self
            .store
            .ledger
            .intent(id)
            .await?
            .ok_or(PaymentError::NotFound)?;
        Ok(self
            .store
            .apps
            .publisher(&intent.publisher)
            .await?
            .and_then(|p| p.fee_bps)
            .map_or(DEFAULT_FEE_BPS, u64::from))
    }

    /// The step that captures a pending intent paid from `source`: by
    /// `citizen` from their wallet, or (no citizen) as a provider reports it.
    #[allow(clippy::too_many_arguments)]
    fn capture_step(
        &self,
        fee_bps: u64,
        citizen: Option<String>,
        source: String,
        method: String,
        expected_amount: Option<u64>,
        seed_wallet: bool,
    ) -> impl Fn(&mut IntentRecord, &BalanceReader) -> Result<LedgerStep, LedgerRefusal> {
        move |intent, balance| {
            if citizen.as_ref().is_some_and(|c| *c != intent.citizen) {
                return Err(LedgerRefusal::Rule("not_found".into()));
            }
            let now = now_ms();
            if citizen.is_some() {
                require_pending(intent, now)?;
            } else {
                require_unsettled(intent)?;
            }
            if expected_amount.is_some_and(|a| a != intent.amount) {
                return Err(LedgerRefusal::Rule(
                    "invalid:the reported amount differs from the intent's".into(),
                ));
            }
            let amount = intent.amount as i64;
            let fee = (intent.amount * fee_bps / 10_000) as i64;
            let mut postings = Vec::new();
            if seed_wallet && balance(&source).is_none() {
                postings.push((DEMO_ISSUANCE.to_string(), -DEMO_BALANCE));
                postings.push((source.clone(), DEMO_BALANCE));
            }
            postings.push((source.clone(), -amount));
            postings.push((format!("merchant:{}", intent.publisher), amount - fee));
            postings.push((FEES.to_string(), fee));
            intent.status = IntentStatus::Captured;
            intent.captured_at = Some(now);
            intent.method = Some(method.clone());
            intent.fee = fee as u64;
            Ok(LedgerStep {
                postings,
                notify_app: true,
                provider_refund: None,
            })
        }
    }

    /// What the citizen's demo wallet holds (a wallet never used holds its
    /// seed); `None` on a host without the demo wallet.
    pub async fn wallet_balance(&self, citizen: &str) -> Result<Option<i64>, PaymentError> {
        if !self.config.demo_wallet {
            return Ok(None);
        }
        let wallet = format!("wallet:{citizen}");
        Ok(Some(
            self.store
                .ledger
                .balance(&wallet)
                .await?
                .unwrap_or(DEMO_BALANCE),
        ))
    }

    /// The citizen approves intent `id`, paying with `method`.
    pub async fn confirm(
        &self,
        citizen: &str,
        id: &str,
        method: &str,
    ) -> Result<Confirmed, PaymentError> {
        if method == DEMO_WALLET {
            if !self.config.demo_wallet {
                return Err(PaymentError::UnknownMethod(method.to_string()));
            }
            let step = self.capture_step(
                self.fee_bps(id).await?,
                Some(citizen.to_string()),
                format!("wallet:{citizen}"),
                DEMO_WALLET.to_string(),
                None,
                true,
            );
            let intent = self
                .store
                .ledger
                .step(id, None, &step)
                .await?
                .map_err(refused)?;
            // Durable before anyone hears "captured".
            self.record(
                "payment-captured",
                &intent,
                "citizen",
                messages::PAID_WITH,
                &[("method", DEMO_WALLET)],
            )
            .await;
            return Ok(Confirmed::Captured(Box::new(intent)));
        }
        let provider = self
            .config
            .providers
            .iter()
            .find(|p| p.name() == method)
            .ok_or_else(|| PaymentError::UnknownMethod(method.to_string()))?;
        let intent = self.get_for_citizen(citizen, id).await?;
        match effective_status(&intent, now_ms()) {
            IntentStatus::Pending => {
                let back = format!("/pay/{}", intent.id);
                let back = match &self.public_url {
                    Some(public) => public.join(&back),
                    None => back,
                };
                Ok(Confirmed::Redirect(provider.checkout_url(&intent, &back)))
            }
            IntentStatus::Expired => Err(PaymentError::Expired),
            other => Err(PaymentError::NotPending(status_name(other))),
        }
    }

    /// The citizen declines intent `id`.
    pub async fn cancel(&self, citizen: &str, id: &str) -> Result<IntentRecord, PaymentError> {
        let citizen = citizen.to_string();
        let intent = self
            .store
            .ledger
            .step(id, None, &|intent, _| {
                if intent.citizen != citizen {
                    return Err(LedgerRefusal::Rule("not_found".into()));
                }
                require_pending(intent, now_ms())?;
                intent.status = IntentStatus::Cancelled;
                Ok(LedgerStep::default())
            })
            .await?
            .map_err(refused)?;
        self.record(
            "payment-cancelled",
            &intent,
            "citizen",
            messages::PAYMENT_DECLINED,
            &[],
        )
        .await;
        Ok(intent)
    }

    /// A provider reports a payment (its webhook, already authenticated).
    pub async fn provider_paid(
        &self,
        provider: &str,
        intent_id: &str,
        amount: u64,
        provider_ref: &str,
    ) -> Result<IntentRecord, PaymentError> {
        let fee_bps = match self.fee_bps(intent_id).await {
            Err(PaymentError::NotFound) => {
                let why = Unapplied::NoIntent;
                self.return_unapplied(provider, intent_id, amount, provider_ref, why)
                    .await?;
                return Err(PaymentError::NotFound);
            }
            other => other?,
        };
        let capture = self.capture_step(
            fee_bps,
            None,
            format!("provider:{provider}"),
            provider.to_string(),
            Some(amount),
            false,
        );
        // A refund there names the provider's own reference of the payment.
        let paid_as = provider_ref.to_string();
        let step = move |intent: &mut IntentRecord, balance: &BalanceReader| {
            let decided = capture(intent, balance)?;
            intent.provider_ref = Some(paid_as.clone());
            Ok(decided)
        };
        let once = format!("webhook:{provider}:{provider_ref}");
        let intent = match self
            .store
            .ledger
            .step(intent_id, Some(&once), &step)
            .await?
            .map_err(refused)
        {
            Ok(intent) => intent,
            Err(PaymentError::NotPending(status)) => {
                // Paid at the provider after the citizen cancelled, or paid
                // twice: the money is held there.
                let why = Unapplied::NotPending(&status);
                self.return_unapplied(provider, intent_id, amount, provider_ref, why)
                    .await?;
                return Err(PaymentError::NotPending(status));
            }
            Err(PaymentError::Invalid(reason)) => {
                // Another amount than the intent asks: held there too, and
                // the intent still waits for the right one.
                if let Some(asked) = self.store.ledger.intent(intent_id).await? {
                    let why = Unapplied::OtherAmount {
                        asked: asked.amount,
                    };
                    self.return_unapplied(provider, intent_id, amount, provider_ref, why)
                        .await?;
                }
                return Err(PaymentError::Invalid(reason));
            }
            Err(PaymentError::NotFound) => {
                let why = Unapplied::NoIntent;
                self.return_unapplied(provider, intent_id, amount, provider_ref, why)
                    .await?;
                return Err(PaymentError::NotFound);
            }
            Err(other) => return Err(other),
        };
        self.record(
            "payment-captured",
            &intent,
            &format!("provider:{provider}"),
            messages::PAID_THROUGH,
            &[("provider", provider), ("reference", provider_ref)],
        )
        .await;
        Ok(intent)
    }

    /// A payment `provider` took for intent `intent_id` that the intent
    /// cannot take (`why`): with a refund address the provider is asked to
    /// pay it back (recorded and queued in one ledger transaction, once per
    /// payment); without one, or with no intent to record it on, the audit
    /// record says the city must.
    async fn return_unapplied(
        &self,
        provider: &str,
        intent_id: &str,
        amount: u64,
        payment_ref: &str,
        why: Unapplied<'_>,
    ) -> Result<(), PaymentError> {
        let refunds_here = self
            .config
            .providers
            .iter()
            .any(|p| p.name == provider && p.refund_url.is_some());
        let returning = if refunds_here && !matches!(why, Unapplied::NoIntent) {
            let once = format!("return:{provider}:{payment_ref}");
            let step = |intent: &mut IntentRecord, _: &BalanceReader| {
                // The intent's own payment is never given back this way.
                let known = intent.provider_ref.as_deref() == Some(payment_ref)
                    || intent.returned.iter().any(|r| r.payment_ref == payment_ref);
                if known {
                    return Ok((LedgerStep::default(), false));
                }
                intent.returned.push(ReturnedPayment {
                    payment_ref: payment_ref.to_string(),
                    amount,
                    at: now_ms(),
                    provider: ProviderRefund {
                        name: provider.to_string(),
                        acknowledged_at: None,
                        settled_by: None,
                        sending_until: None,
                    },
                });
                let ledger_step = LedgerStep {
                    provider_refund: Some(OutboxRefund {
                        provider: provider.to_string(),
                        reference: payment_ref.to_string(),
                        amount,
                        returns_payment: true,
                    }),
                    ..LedgerStep::default()
                };
                Ok((ledger_step, true))
            };
            match self
                .store
                .ledger
                .step_telling(intent_id, Some(&once), step)
                .await?
            {
                Ok((_, true)) => true,
                // Reported again: it is on its way back already.
                Ok((_, false)) | Err(LedgerRefusal::Replayed(_)) => return Ok(()),
                Err(refusal) => return Err(refused(refusal)),
            }
        } else {
            false
        };
        let message = match (why, returning) {
            (Unapplied::NotPending(status), false) => {
                messages::PAYMENT_UNAPPLIED.with("status", status)
            }
            (Unapplied::NotPending(status), true) => {
                messages::PAYMENT_RETURNING.with("status", status)
            }
            (Unapplied::OtherAmount { asked }, false) => {
                messages::PAYMENT_OTHER_AMOUNT.with("asked", asked)
            }
            (Unapplied::OtherAmount { asked }, true) => {
                messages::PAYMENT_OTHER_AMOUNT_RETURNING.with("asked", asked)
            }
            (Unapplied::NoIntent, _) => messages::PAYMENT_NO_INTENT.message(),
        };
        self.audit
            .record(Event {
                kind: "payment-unapplied",
                actor: format!("provider:{provider}"),
                message: Some(
                    message
                        .with("intent", intent_id)
                        .with("amount", amount)
                        .with("reference", payment_ref),
                ),
                ..Event::default()
            })
            .await;
        Ok(())
    }

    /// An app refunds `amount` (or all that remains) of its captured intent.
    /// The same `reference` refunds once.
    pub async fn refund(
        &self,
        app: &str,
        id: &str,
        amount: Option<u64>,
        reference: &str,
    ) -> Result<IntentRecord, PaymentError> {
        if reference.is_empty() || reference.len() > MAX_REFERENCE {
            return Err(PaymentError::Invalid(format!(
                "the refund reference must be 1 to {MAX_REFERENCE} bytes"
            )));
        }
        let app = app.to_string();
        let reference = reference.to_string();
        // A provider's payment is paid back by the provider: only one the
        // host can tell (it has a refund address) is refunded here.
        let refunding: Vec<String> = self
            .config
            .providers
            .iter()
            .filter(|p| p.refund_url.is_some())
            .map(|p| p.name.clone())
            .collect();
        let intent = self
            .store
            .ledger
            .step(id, None, &|intent, _| {
                if intent.app != app {
                    return Err(LedgerRefusal::Rule("not_found".into()));
                }
                if intent.refunds.iter().any(|r| r.reference == reference) {
                    return Ok(LedgerStep::default());
                }
                if intent.status != IntentStatus::Captured {
                    return Err(LedgerRefusal::Rule("not_captured".into()));
                }
                let remaining = intent.amount - intent.refunded;
                let wanted = amount.unwrap_or(remaining);
                if wanted == 0 || wanted > remaining {
                    return Err(LedgerRefusal::Rule(format!("over_refund:{remaining}")));
                }
                let refunded = intent.refunded + wanted;
                // The fee goes back in proportion; the last refund returns the rest.
                let fee_after = fee_returned_after(intent, refunded);
                let fee_back = fee_after - intent.fee_refunded;
                let (destination, provider) = match intent.method.as_deref() {
                    Some(DEMO_WALLET) | None => (format!("wallet:{}", intent.citizen), None),
                    Some(provider) if refunding.iter().any(|p| p == provider) => (
                        format!("provider:{provider}"),
                        Some(ProviderRefund {
                            name: provider.to_string(),
                            acknowledged_at: None,
                            settled_by: None,
                            sending_until: None,
                        }),
                    ),
                    Some(provider) => {
                        return Err(LedgerRefusal::Rule(format!(
                            "refund_unavailable:{provider}"
                        )))
                    }
                };
                let postings = vec![
                    (
                        format!("merchant:{}", intent.publisher),
                        -((wanted - fee_back) as i64),
                    ),
                    (FEES.to_string(), -(fee_back as i64)),
                    (destination, wanted as i64),
                ];
                intent.refunded = refunded;
                intent.fee_refunded = fee_after;
                let provider_refund = provider.as_ref().map(|at| OutboxRefund {
                    provider: at.name.clone(),
                    reference: reference.clone(),
                    amount: wanted,
                    returns_payment: false,
                });
                intent.refunds.push(RefundRecord {
                    reference: reference.clone(),
                    amount: wanted,
                    at: now_ms(),
                    provider,
                });
                if refunded == intent.amount {
                    intent.status = IntentStatus::Refunded;
                }
                Ok(LedgerStep {
                    postings,
                    notify_app: true,
                    provider_refund,
                })
            })
            .await?
            .map_err(refused)?;
        self.record(
            "payment-refunded",
            &intent,
            "app",
            messages::PAYMENT_REFUNDED,
            &[("refunded", &intent.refunded.to_string())],
        )
        .await;
        Ok(intent)
    }

    /// An operator paid back by hand what a provider owes on intent `id`:
    /// the refund `reference`, or (with `returns_payment`) the payment the
    /// provider took by that reference that the intent could not take. The
    /// host stops telling the provider (its queued entry is dropped when
    /// next due). Settling again changes nothing; a refund the provider
    /// took already is refused.
    pub async fn settle_by_hand(
        &self,
        id: &str,
        reference: &str,
        returns_payment: bool,
        operator: &str,
    ) -> Result<IntentRecord, PaymentError> {
        let step = |intent: &mut IntentRecord, _: &BalanceReader| {
            let Some(owed) = intent.owed_mut(reference, returns_payment) else {
                return Err(LedgerRefusal::Rule("refund_not_found".into()));
            };
            match (&owed.settled_by, owed.acknowledged_at) {
                (Some(_), _) => Ok((LedgerStep::default(), false)),
                (None, Some(_)) => Err(LedgerRefusal::Rule(format!("refund_taken:{}", owed.name))),
                // A host may be telling the provider at this moment: the
                // provider's answer decides, then the operator may ask again.
                (None, None) if owed.sending_until > Some(now_ms()) => Err(LedgerRefusal::Rule(
                    format!("refund_in_flight:{}", owed.name),
                )),
                (None, None) => {
                    owed.settled_by = Some(operator.to_string());
                    owed.acknowledged_at = Some(now_ms());
                    Ok((LedgerStep::default(), true))
                }
            }
        };
        let (intent, settled_now) = self
            .store
            .ledger
            .step_telling(id, None, step)
            .await?
            .map_err(refused)?;
        if settled_now {
            if let Some(owed) = intent.owed(reference, returns_payment) {
                self.audit
                    .record(Event {
                        kind: "payment-refund-settled",
                        actor: operator.to_string(),
                        app: Some(intent.app.clone()),
                        message: Some(
                            messages::REFUND_SETTLED
                                .with("provider", &owed.provider.name)
                                .with("amount", owed.amount)
                                .with("reference", reference)
                                .with("intent", &intent.id),
                        ),
                        ..Event::default()
                    })
                    .await;
            }
        }
        Ok(intent)
    }

    /// Add `amount` VND to a citizen's demo wallet (development only).
    pub async fn top_up(
        &self,
        citizen: &str,
        amount: u64,
        actor: &str,
    ) -> Result<i64, PaymentError> {
        if !self.config.demo_wallet {
            return Err(PaymentError::UnknownMethod(DEMO_WALLET.into()));
        }
        if amount == 0 || amount > self.config.max_amount {
            return Err(PaymentError::InvalidAmount(format!(
                "a top-up must be 1 to {} VND",
                self.config.max_amount
            )));
        }
        // A wallet never used gets its seed first (once, even when a payment
        // of the citizen's seeds it at the same moment).
        let wallet = format!("wallet:{citizen}");
        let seed = [
            (DEMO_ISSUANCE.to_string(), -DEMO_BALANCE),
            (wallet.clone(), DEMO_BALANCE),
        ];
        self.store
            .ledger
            .open_account(&wallet, &seed)
            .await?
            .map_err(refused)?;
        let postings = [
            (DEMO_ISSUANCE.to_string(), -(amount as i64)),
            (wallet.clone(), amount as i64),
        ];
        self.store.ledger.post(&postings).await?.map_err(refused)?;
        self.audit
            .record(Event {
                kind: "wallet-top-up",
                actor: actor.to_string(),
                message: Some(
                    messages::WALLET_TOPPED_UP
                        .with("wallet", &wallet)
                        .with("amount", amount),
                ),
                ..Event::default()
            })
            .await;
        Ok(self.store.ledger.balance(&wallet).await?.unwrap_or(0))
    }

    /// A provider by name.
    pub fn provider(&self, name: &str) -> Option<&WebhookProvider> {
        self.config.providers.iter().find(|p| p.name() == name)
    }

    /// Record a refused webhook in the audit log: `why` from the catalogue
    /// ([`messages::WEBHOOK_REFUSED`] with a `reason`, or
    /// [`messages::WEBHOOK_REPLAYED`]).
    pub async fn record_refused_webhook(&self, provider: &str, why: crate::audit::AuditMessage) {
        self.audit
            .record(Event {
                kind: "webhook-refused",
                actor: format!("provider:{provider}"),
                message: Some(why),
                ..Event::default()
            })
            .await;
    }

    /// The store, for reconciliation and settlements.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
}
