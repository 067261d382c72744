//! Capabilities `payments` and `payments.refund`: an app asks the signed-in
//! citizen for money and reads its intents; with `payments.refund` it gives
//! money back. Owns the manifest names, the interface they cover and the
//! host calls. No host call confirms a payment: only the citizen, on the
//! host's `/pay/{id}` page, can.

use super::bindings::citadel::miniapp::payments::{
    self as wit, Intent, IntentStatus, PaymentError,
};
use super::Capability;
use crate::localized::Text;
use crate::payments::{self as service, PaymentError as ServiceError};
use crate::runtime::RequestState;
use crate::store::{self, IntentRecord};
use wasmtime::component::{HasSelf, Linker};

pub const NAME: &str = "payments";
/// The contract interface.
const INTERFACE: &str = "payments";
pub const REFUND: &str = "payments.refund";

pub const CAPABILITIES: &[Capability] = &[
    Capability {
        name: NAME,
        interfaces: &[INTERFACE],
        label: Text::new("Thanh toán", "Payments"),
        summary: Text::new(
            "đề nghị công dân thanh toán, công dân xác nhận trên trang của thành phố",
            "ask the citizen to pay, confirmed on the city's own page",
        ),
    },
    Capability {
        name: REFUND,
        interfaces: &[],
        label: Text::new("Hoàn tiền", "Refunds"),
        summary: Text::new("hoàn lại các khoản đã thu", "refund captured payments"),
    },
];

pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<RequestState>>(linker, |state| state)
}

/// The intent as its app sees it (no citizen id, no fee).
fn view(intent: &IntentRecord) -> Intent {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Intent {
        id: intent.id.clone(),
        reference: intent.reference.clone(),
        amount: intent.amount,
        description: intent.description.clone(),
        status: match service::effective_status(intent, now) {
            store::IntentStatus::Pending => IntentStatus::Pending,
            store::IntentStatus::Captured => IntentStatus::Captured,
            store::IntentStatus::Cancelled => IntentStatus::Cancelled,
            store::IntentStatus::Expired => IntentStatus::Expired,
            store::IntentStatus::Refunded => IntentStatus::Refunded,
        },
        refunded: intent.refunded,
        confirm_url: format!("/pay/{}", intent.id),
        expires_at: intent.expires_at,
    }
}

fn to_guest(e: ServiceError) -> PaymentError {
    match e {
        ServiceError::InvalidAmount(why) => PaymentError::InvalidAmount(why),
        ServiceError::Invalid(why) => PaymentError::Invalid(why),
        ServiceError::NotFound => PaymentError::NotFound,
        ServiceError::NotCaptured => PaymentError::NotCaptured,
        ServiceError::OverRefund { remaining } => PaymentError::OverRefund(remaining),
        // The app cannot refund this payment here, now or later.
        e @ ServiceError::RefundUnavailable(_) => PaymentError::Invalid(e.to_string()),
        other => PaymentError::Unavailable(other.to_string()),
    }
}

impl RequestState {
    fn payments_allowed(&self, capability: &str) -> Result<&service::Payments, PaymentError> {
        if !self.app.has_capability(capability) {
            self.record_denial(
                capability,
                crate::audit::messages::DENIED_NOT_GRANTED.message(),
            );
            return Err(PaymentError::Denied(capability.to_string()));
        }
        self.capability::<std::sync::Arc<service::Payments>>()
            .map(|payments| payments.as_ref())
            .ok_or_else(|| PaymentError::Unavailable("payments are not configured".into()))
    }
}

impl wit::Host for RequestState {
    async fn create_intent(
        &mut self,
        amount: u64,
        description: String,
        reference: String,
    ) -> wasmtime::Result<Result<Intent, PaymentError>> {
        self.host_call(INTERFACE)?;
        let this = &mut *self;
        let answer: Result<Intent, PaymentError> = async move {
            let payments = this.payments_allowed(NAME)?;
            let Some(signed_in) = &this.citizen else {
                return Err(PaymentError::NotSignedIn);
            };
            payments
                .create(
                    &this.app.id,
                    &this.app.publisher,
                    &signed_in.citizen.id,
                    &signed_in.pairwise_id,
                    amount,
                    &description,
                    &reference,
                )
                .await
                .map(|intent| view(&intent))
                .map_err(to_guest)
        }
        .await;
        Ok(answer)
    }

    async fn get_intent(&mut self, id: String) -> wasmtime::Result<Result<Intent, PaymentError>> {
        self.host_call(INTERFACE)?;
        let this = &mut *self;
        let answer: Result<Intent, PaymentError> = async move {
            let payments = this.payments_allowed(NAME)?;
            payments
                .get_for_app(&this.app.id, &id)
                .await
                .map(|intent| view(&intent))
                .map_err(to_guest)
        }
        .await;
        Ok(answer)
    }

    async fn refund(
        &mut self,
        id: String,
        amount: Option<u64>,
        reference: String,
    ) -> wasmtime::Result<Result<Intent, PaymentError>> {
        self.host_call(INTERFACE)?;
        let this = &mut *self;
        let answer: Result<Intent, PaymentError> = async move {
            let payments = this.payments_allowed(REFUND)?;
            payments
                .refund(&this.app.id, &id, amount, &reference)
                .await
                .map(|intent| view(&intent))
                .map_err(to_guest)
        }
        .await;
        Ok(answer)
    }
}
