//! Paying a bill: one attempt at a time per bill, an intent per attempt,
//! and settlement exactly once per bill when an intent is captured (from
//! the payment hook or a citizen's view) — the paid mark, the receipt, the report.

use crate::source::{self, Account, Bill, Source};
use citadel_sdk::payments::{self, Intent, IntentStatus, PaymentError};
use citadel_sdk::{kv, log, Error, Result};
use serde::{Deserialize, Serialize};

/// How long an attempt whose intent was never created blocks others.
const STALE_CLAIM_MS: u64 = 60_000;

pub use citadel_sdk::time::now_ms;

/// The current payment attempt of a bill (`attempt/{bill}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    pub n: u32,
    pub intent: Option<String>,
    /// Pairwise id of the citizen paying.
    pub payer: String,
    pub started_at: u64,
}

/// What an intent pays for (`intent/{id}`): all the hook needs to settle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Charge {
    pub intent: String,
    pub bill: String,
    pub customer: String,
    pub customer_name: String,
    pub period: String,
    pub amount: u64,
    pub description: String,
    pub payer: String,
    pub attempt: u32,
    /// Where to report the payment, for bills from the billing API.
    pub api_base: Option<String>,
    pub created_at: u64,
}

/// A bill paid through the app (`paid/{bill}`): written once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Paid {
    pub intent: String,
    pub amount: u64,
    pub paid_at: u64,
    pub payer: String,
    /// Whether the billing API acknowledged it (always true for seeded bills).
    pub reported: bool,
}

/// A payer's receipt (`receipt/{payer}/{intent}`), shown only to them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    pub intent: String,
    pub bill: String,
    pub customer: String,
    pub customer_name: String,
    pub period: String,
    pub amount: u64,
    pub description: String,
    pub paid_at: u64,
    /// The payment's reference (`bill-{bill}-{attempt}`); empty on receipts
    /// written before it was kept.
    #[serde(default)]
    pub reference: String,
}

fn attempt_key(bill: &str) -> String {
    format!("attempt/{bill}")
}
fn charge_key(intent: &str) -> String {
    format!("intent/{intent}")
}
fn paid_key(bill: &str) -> String {
    format!("paid/{bill}")
}
fn receipt_prefix(payer: &str) -> String {
    format!("receipt/{payer}/")
}
/// A payer's attempts not yet settled, so their receipts page can sync them.
fn open_prefix(payer: &str) -> String {
    format!("open/{payer}/")
}

/// The payment reference of attempt `n` at `bill`: the idempotency key.
fn reference(bill: &str, n: u32) -> String {
    format!("bill-{bill}-{n}")
}

/// Whether `id` looks like a host payment id (letters, digits, `_`, `-`).
pub fn is_intent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn status_name(status: IntentStatus) -> &'static str {
    match status {
        IntentStatus::Pending => "pending",
        IntentStatus::Captured => "captured",
        IntentStatus::Cancelled => "cancelled",
        IntentStatus::Expired => "expired",
        IntentStatus::Refunded => "refunded",
    }
}

/// Where a bill stands in the app.
pub enum State {
    /// The source says paid (paid elsewhere, e.g. at the counter).
    PaidAtSource,
    /// Paid through the app.
    Paid(Paid),
    /// An intent waits for its citizen.
    Pending {
        payer: String,
        intent: Intent,
    },
    Unpaid,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::PaidAtSource | State::Paid(_) => "paid",
            State::Pending { .. } => "pending",
            State::Unpaid => "unpaid",
        }
    }
}

/// The intent of `id`, or `None` if the host does not know it.
fn intent(id: &str) -> Result<Option<Intent>> {
    match payments::get(id) {
        Ok(intent) => Ok(Some(intent)),
        Err(PaymentError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Bring a bill's state up to date: a captured intent nobody settled yet
/// (the hook may not have run) is settled now; reporting to the billing
/// API is left to the hook's retries if it fails here.
pub fn state(bill: &Bill) -> Result<State> {
    if bill.paid_at_source() {
        return Ok(State::PaidAtSource);
    }
    if let Some(paid) = kv::get_json::<Paid>(&paid_key(&bill.id))? {
        return Ok(State::Paid(paid));
    }
    let Some(attempt) = kv::get_json::<Attempt>(&attempt_key(&bill.id))? else {
        return Ok(State::Unpaid);
    };
    let Some(current) = attempt.intent.as_deref().map(intent).transpose()?.flatten() else {
        return Ok(State::Unpaid);
    };
    match current.status {
        IntentStatus::Captured => {
            let paid = settle_intent(&current.id, false)?;
            Ok(paid.map_or(State::Unpaid, State::Paid))
        }
        IntentStatus::Pending => Ok(State::Pending {
            payer: attempt.payer,
            intent: current,
        }),
        _ => Ok(State::Unpaid),
    }
}

fn already_paid(bill: &Bill) -> Error {
    Error::new(
        409,
        "already_paid",
        format!("bill {} is already paid", bill.id),
    )
}

fn in_progress() -> Error {
    Error::new(
        409,
        "payment_in_progress",
        "someone is paying this bill right now; try again in a few minutes",
    )
}

/// The outcome of a pay request: the intent and whether it is new.
pub struct Started {
    pub intent: Intent,
    pub attempt: u32,
    pub created: bool,
}

/// Start (or resume) paying `bill` of `account` as `payer`.
pub fn start(payer: &str, account: &Account, bill: &Bill, source: &Source) -> Result<Started> {
    let n = match state(bill)? {
        State::PaidAtSource | State::Paid(_) => return Err(already_paid(bill)),
        State::Pending { payer: who, intent } if who == payer => {
            let attempt = kv::get_json::<Attempt>(&attempt_key(&bill.id))?.map_or(0, |a| a.n);
            return Ok(Started {
                intent,
                attempt,
                created: false,
            });
        }
        State::Pending { .. } => return Err(in_progress()),
        State::Unpaid => claim(payer, &bill.id)?,
    };
    let description = format!(
        "Tiền nước kỳ {} – {}",
        bill.period_label(),
        account.customer.code
    );
    let reference = reference(&bill.id, n);
    let intent = payments::create(bill.amount, &description, &reference)?;
    if intent.amount != bill.amount {
        log::error(&format!(
            "reference {reference} names intent {} of another amount",
            intent.id
        ));
        return Err(Error::conflict(
            "the bill changed since this payment began; try again",
        ));
    }
    let now = now_ms();
    let charge = Charge {
        intent: intent.id.clone(),
        bill: bill.id.clone(),
        customer: account.customer.code.clone(),
        customer_name: account.customer.name.clone(),
        period: bill.period.clone(),
        amount: bill.amount,
        description,
        payer: payer.to_string(),
        attempt: n,
        api_base: source.api_base().map(str::to_string),
        created_at: now,
    };
    // The charge is written before anyone can confirm: the citizen learns
    // the confirm URL only from this answer.
    kv::set_json(&charge_key(&intent.id), &charge)?;
    kv::set_json(&format!("{}{}", open_prefix(payer), intent.id), &bill.id)?;
    kv::update_json(&attempt_key(&bill.id), |current: Option<Attempt>| {
        let mut attempt = current.ok_or_else(in_progress)?;
        if attempt.n != n || attempt.payer != payer {
            return Err(in_progress());
        }
        attempt.intent = Some(intent.id.clone());
        Ok(attempt)
    })?;
    Ok(Started {
        intent,
        attempt: n,
        created: true,
    })
}

/// Take the next attempt number of `bill` for `payer`, atomically: of two
/// citizens starting at once, one gets it and the other is told to wait.
fn claim(payer: &str, bill: &str) -> Result<u32> {
    let now = now_ms();
    let claimed = kv::update_json(&attempt_key(bill), |current: Option<Attempt>| {
        let next = match current {
            None => 1,
            // A claim whose intent was never created: the same payer
            // resumes it (same reference, same intent); others wait a while.
            Some(a) if a.intent.is_none() && a.payer == payer => a.n,
            Some(a) if a.intent.is_none() && now < a.started_at + STALE_CLAIM_MS => {
                return Err(in_progress())
            }
            Some(a) => {
                // The previous intent ended (cancelled, expired) — unless it
                // became pending or captured since we looked.
                if let Some(id) = &a.intent {
                    if let Some(previous) = intent(id)? {
                        match previous.status {
                            IntentStatus::Pending | IntentStatus::Captured => {
                                return Err(in_progress())
                            }
                            _ => {}
                        }
                    }
                }
                a.n + 1
            }
        };
        Ok(Attempt {
            n: next,
            intent: None,
            payer: payer.to_string(),
            started_at: now,
        })
    })?;
    Ok(claimed.n)
}

/// Settle a captured intent of this app, once per bill: mark the bill paid,
/// write the payer's receipt and (for API bills) report it. `None` if the
/// intent is not one of ours or not captured. With `must_report`, a failed
/// report is an error (the hook's answer, so the host retries); otherwise
/// it is logged and left to the hook.
pub fn settle_intent(id: &str, must_report: bool) -> Result<Option<Paid>> {
    let Some(charge) = kv::get_json::<Charge>(&charge_key(id))? else {
        log::warn(&format!(
            "intent {id} is not one of this app's bill payments"
        ));
        return Ok(None);
    };
    let Some(current) = intent(id)? else {
        return Ok(None);
    };
    if current.status != IntentStatus::Captured {
        return Ok(None);
    }
    let fresh = Paid {
        intent: charge.intent.clone(),
        amount: charge.amount,
        paid_at: now_ms(),
        payer: charge.payer.clone(),
        reported: charge.api_base.is_none(),
    };
    let paid = if kv::insert_new_json(&paid_key(&charge.bill), &fresh)? {
        fresh
    } else {
        kv::get_json::<Paid>(&paid_key(&charge.bill))?.unwrap_or(fresh)
    };
    if paid.intent != charge.intent {
        // Attempts are one at a time, so this should not happen; the payer
        // still gets a receipt for the money that moved.
        log::error(&format!(
            "bill {} was paid by {} and again by {}",
            charge.bill, paid.intent, charge.intent
        ));
    }
    let receipt = Receipt {
        intent: charge.intent.clone(),
        bill: charge.bill.clone(),
        customer: charge.customer.clone(),
        customer_name: charge.customer_name.clone(),
        period: charge.period.clone(),
        amount: charge.amount,
        description: charge.description.clone(),
        paid_at: if paid.intent == charge.intent {
            paid.paid_at
        } else {
            now_ms()
        },
        reference: reference(&charge.bill, charge.attempt),
    };
    kv::insert_new_json(
        &format!("{}{}", receipt_prefix(&charge.payer), charge.intent),
        &receipt,
    )?;
    kv::delete(&format!("{}{}", open_prefix(&charge.payer), charge.intent))?;
    if paid.intent == charge.intent && !paid.reported {
        if let Some(base) = &charge.api_base {
            match source::report_payment(
                base,
                &charge.bill,
                &charge.intent,
                charge.amount,
                paid.paid_at,
            ) {
                Ok(()) => {
                    let reported = kv::update_json(&paid_key(&charge.bill), |p: Option<Paid>| {
                        let mut p = p.unwrap_or_else(|| paid.clone());
                        p.reported = true;
                        Ok(p)
                    })?;
                    return Ok(Some(reported));
                }
                Err(e) if must_report => return Err(e),
                Err(e) => log::warn(&format!("left to the payment hook: {e}")),
            }
        }
    }
    Ok(Some(paid))
}

/// The payer's receipts, newest first, after settling any of their
/// attempts that were captured and dropping those that ended unpaid.
pub fn receipts(payer: &str) -> Result<Vec<Receipt>> {
    let open = open_prefix(payer);
    for key in kv::keys(&open)? {
        let id = &key[open.len()..];
        match intent(id)?.map(|i| i.status) {
            Some(IntentStatus::Captured) => {
                settle_intent(id, false)?;
            }
            Some(IntentStatus::Pending) => {}
            _ => {
                kv::delete(&key)?;
            }
        }
    }
    let mut receipts: Vec<Receipt> = kv::keys(&receipt_prefix(payer))?
        .iter()
        .filter_map(|key| kv::get_json::<Receipt>(key).transpose())
        .collect::<Result<_>>()?;
    receipts.sort_by_key(|r| std::cmp::Reverse(r.paid_at));
    Ok(receipts)
}

/// Where one of a payer's payments stands, for the page the citizen lands
/// on after the host's payment page.
pub enum Outcome {
    /// Captured and settled: the receipt.
    Paid(Receipt),
    /// Still waiting for the citizen on the host's page.
    Pending(Intent),
    /// Cancelled or expired: the bill stays unpaid.
    Ended { bill: String, customer: String },
}

/// The payment `id` of `payer`, settled if it was captured; `None` if it
/// is not a bill payment of theirs (another citizen's is not shown).
pub fn outcome(payer: &str, id: &str) -> Result<Option<Outcome>> {
    if !is_intent_id(id) {
        return Ok(None);
    }
    let receipt_key = format!("{}{id}", receipt_prefix(payer));
    if let Some(receipt) = kv::get_json::<Receipt>(&receipt_key)? {
        return Ok(Some(Outcome::Paid(receipt)));
    }
    let Some(charge) = kv::get_json::<Charge>(&charge_key(id))? else {
        return Ok(None);
    };
    if charge.payer != payer {
        return Ok(None);
    }
    let Some(current) = intent(id)? else {
        return Ok(None);
    };
    Ok(Some(match current.status {
        IntentStatus::Captured => {
            settle_intent(id, false)?;
            let receipt = kv::get_json::<Receipt>(&receipt_key)?
                .ok_or_else(|| Error::internal("a settled payment left no receipt"))?;
            Outcome::Paid(receipt)
        }
        IntentStatus::Pending => Outcome::Pending(current),
        _ => Outcome::Ended {
            bill: charge.bill,
            customer: charge.customer,
        },
    }))
}
