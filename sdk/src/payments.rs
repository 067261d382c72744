//! Payments (capability `payments`, contract 1.2): ask the signed-in citizen
//! to pay; only they can approve, on the host's page (`intent.confirm_url`).
//! Use your own order id as the reference: calling again returns the same
//! intent. The host POSTs the intent to your manifest's `payment_hook`
//! after each capture or refund, at least once — handle it idempotently
//! with [`hook_event`], or read the intent with [`get`].

use crate::bindings::citadel::miniapp::payments as host;
use crate::{Error, Request, Result};

pub use host::{Intent, IntentStatus, PaymentError};

/// Ask the citizen for `amount` VND; `reference` is your idempotency key.
pub fn create(amount: u64, description: &str, reference: &str) -> Result<Intent, PaymentError> {
    host::create_intent(amount, description, reference)
}

/// The intent `id` of this app, as it is now.
pub fn get(id: &str) -> Result<Intent, PaymentError> {
    host::get_intent(id)
}

/// Refund `amount` VND (all that remains with `None`); `reference` makes
/// the refund happen once however often you call (capability `payments.refund`).
pub fn refund(id: &str, amount: Option<u64>, reference: &str) -> Result<Intent, PaymentError> {
    host::refund(id, amount, reference)
}

/// A payment event the host delivered to the hook route.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HookEvent {
    /// The host's id of this delivery: the same on a retry.
    #[serde(skip)]
    pub delivery: String,
    pub intent: HookIntent,
}

/// The intent as the hook reports it; [`get`] gives the full current view.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HookIntent {
    pub id: String,
    pub reference: String,
    pub amount: u64,
    pub status: String,
    pub refunded: u64,
}

/// Read a hook delivery; re-read the intent with [`get`] before acting on
/// it, and act once per (intent, status).
pub fn hook_event(req: &Request) -> Result<HookEvent> {
    let delivery = req
        .header("x-citadel-payment-event")
        .ok_or_else(|| Error::bad_request("not a payment event from the host"))?
        .to_string();
    let mut event: HookEvent = req.json()?;
    event.delivery = delivery;
    Ok(event)
}

impl From<PaymentError> for Error {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::NotSignedIn => {
                Error::new(401, "not_signed_in", "sign in to Citadel to pay")
            }
            PaymentError::Denied(cap) => Error::new(
                403,
                "capability_denied",
                format!("this app was not granted the `{cap}` capability"),
            ),
            PaymentError::InvalidAmount(why) => Error::new(422, "invalid_amount", why),
            PaymentError::Invalid(why) => Error::invalid(why),
            PaymentError::NotFound => Error::not_found("no such payment"),
            PaymentError::NotCaptured => Error::conflict("the payment is not captured"),
            PaymentError::OverRefund(remaining) => Error::new(
                409,
                "over_refund",
                format!("only {remaining} VND remain to refund"),
            ),
            PaymentError::Unavailable(why) => Error::new(503, "payments_unavailable", why),
        }
    }
}
