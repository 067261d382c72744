//! A dossier (hồ sơ): the applicant's details, the fee and its payment, and
//! the workflow submitted → accepted → processing → result ready, or
//! returned for a supplement. Stored in the app's kv; every change is a
//! compare-and-swap, so concurrent staff actions and payment hooks never
//! overwrite each other.

use citadel_sdk::payments::{self, IntentStatus};
use citadel_sdk::{ids, kv, Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the fee.
    AwaitingPayment,
    Submitted,
    Accepted,
    Processing,
    ResultReady,
    /// Returned to the citizen to add something.
    Returned,
}

impl Status {
    pub fn parse(text: &str) -> Option<Status> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    pub fn id(self) -> &'static str {
        match self {
            Status::AwaitingPayment => "awaiting_payment",
            Status::Submitted => "submitted",
            Status::Accepted => "accepted",
            Status::Processing => "processing",
            Status::ResultReady => "result_ready",
            Status::Returned => "returned",
        }
    }

    pub fn label(self, lang: &str) -> &'static str {
        let en = lang == "en";
        match self {
            Status::AwaitingPayment if en => "Awaiting the fee",
            Status::AwaitingPayment => "Chờ nộp lệ phí",
            Status::Submitted if en => "Submitted",
            Status::Submitted => "Đã nộp",
            Status::Accepted if en => "Accepted",
            Status::Accepted => "Đã tiếp nhận",
            Status::Processing if en => "Processing",
            Status::Processing => "Đang xử lý",
            Status::ResultReady if en => "Result ready",
            Status::ResultReady => "Đã có kết quả",
            Status::Returned if en => "Returned for a supplement",
            Status::Returned => "Yêu cầu bổ sung",
        }
    }

    /// Whether staff may move a dossier from `self` to `next`.
    pub fn staff_may_make(self, next: Status) -> bool {
        matches!(
            (self, next),
            (Status::Submitted, Status::Accepted)
                | (Status::Accepted, Status::Processing)
                | (Status::Processing, Status::ResultReady)
                | (
                    Status::Submitted | Status::Accepted | Status::Processing,
                    Status::Returned
                )
        )
    }
}

/// The applicant as identity gave them, with the citizen's consent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applicant {
    pub name: String,
    pub national_id: String,
    pub address: String,
    pub birth_date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub status: Status,
    pub at: u64,
    pub note: Option<String>,
}

/// The fee's current payment attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payment {
    pub intent: String,
    pub attempt: u32,
    pub confirm_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dossier {
    pub id: String,
    pub procedure: String,
    pub applicant: Applicant,
    pub details: String,
    /// The citizen's pairwise id: who may see, pay, supplement and rate it.
    pub owner: String,
    pub fee: u64,
    pub paid: bool,
    pub payment: Option<Payment>,
    pub status: Status,
    pub history: Vec<Step>,
    pub rating: Option<u8>,
    pub created_at: u64,
}

fn key(id: &str) -> String {
    format!("dossier/{id}")
}

pub fn is_dossier_id(id: &str) -> bool {
    ids::is_sortable("HS", id)
}

fn not_found(id: &str) -> Error {
    Error::not_found(format!("no dossier `{id}`"))
}

pub fn load(id: &str) -> Result<Dossier> {
    if !is_dossier_id(id) {
        return Err(not_found(id));
    }
    kv::get_json(&key(id))?.ok_or_else(|| not_found(id))
}

/// Store a new dossier; never over an existing one.
pub fn create(dossier: &Dossier) -> Result<()> {
    if kv::insert_new_json(&key(&dossier.id), dossier)? {
        Ok(())
    } else {
        Err(Error::conflict(
            "a dossier with this id exists; send it again",
        ))
    }
}

/// Change dossier `id` with `change`, which may refuse.
pub fn update(id: &str, mut change: impl FnMut(&mut Dossier) -> Result<()>) -> Result<Dossier> {
    if !is_dossier_id(id) {
        return Err(not_found(id));
    }
    kv::update_json(&key(id), |current: Option<Dossier>| {
        let mut dossier = current.ok_or_else(|| not_found(id))?;
        change(&mut dossier)?;
        Ok(dossier)
    })
}

/// Every dossier, newest first.
pub fn all() -> Result<Vec<Dossier>> {
    let mut dossiers: Vec<Dossier> = kv::keys("dossier/")?
        .iter()
        .filter_map(|k| kv::get_json::<Dossier>(k).transpose())
        .collect::<Result<_>>()?;
    dossiers.reverse();
    Ok(dossiers)
}

/// The payment reference of an attempt; the hook maps it back to the dossier.
pub fn reference(id: &str, attempt: u32) -> String {
    format!("fee-{id}-{attempt}")
}

/// The dossier a payment reference names.
pub fn dossier_of_reference(reference: &str) -> Option<&str> {
    let rest = reference.strip_prefix("fee-")?;
    let (id, _attempt) = rest.rsplit_once('-')?;
    is_dossier_id(id).then_some(id)
}

/// Start a payment attempt for the fee (or give the pending one back).
pub fn start_payment(id: &str, owner: &str, procedure_name: &str) -> Result<Dossier> {
    let current = load(id)?;
    if current.owner != owner {
        return Err(not_found(id));
    }
    if current.status != Status::AwaitingPayment {
        return Err(Error::new(
            409,
            "already_paid",
            "the fee of this dossier is paid",
        ));
    }
    if let Some(payment) = &current.payment {
        match payments::get(&payment.intent)?.status {
            IntentStatus::Pending => return Ok(current),
            // Paid already, the hook not yet heard: never charge twice.
            IntentStatus::Captured => {
                settle(id)?;
                return Err(Error::new(
                    409,
                    "already_paid",
                    "the fee of this dossier is paid",
                ));
            }
            _ => {}
        }
    }
    let attempt = current.payment.as_ref().map_or(1, |p| p.attempt + 1);
    let intent = payments::create(
        current.fee,
        &format!("Lệ phí {procedure_name} – hồ sơ {id}"),
        &reference(id, attempt),
    )?;
    update(id, |dossier| {
        if dossier.status != Status::AwaitingPayment {
            return Err(Error::new(
                409,
                "already_paid",
                "the fee of this dossier is paid",
            ));
        }
        dossier.payment = Some(Payment {
            intent: intent.id.clone(),
            attempt,
            confirm_url: intent.confirm_url.clone(),
        });
        Ok(())
    })
}

/// If the fee's intent is captured, submit the dossier (once). Returns the
/// dossier and whether this call submitted it.
pub fn settle(id: &str) -> Result<(Dossier, bool)> {
    let dossier = load(id)?;
    let Some(payment) = dossier.payment.clone() else {
        return Ok((dossier, false));
    };
    if dossier.status != Status::AwaitingPayment {
        return Ok((dossier, false));
    }
    let intent = payments::get(&payment.intent)?;
    if intent.status != IntentStatus::Captured {
        return Ok((dossier, false));
    }
    let mut submitted_now = false;
    let dossier = update(id, |dossier| {
        submitted_now = false;
        let same_attempt = dossier
            .payment
            .as_ref()
            .is_some_and(|p| p.intent == intent.id);
        if dossier.status == Status::AwaitingPayment && same_attempt {
            dossier.paid = true;
            dossier.status = Status::Submitted;
            dossier.history.push(Step {
                status: Status::Submitted,
                at: ids::now_ms(),
                note: None,
            });
            submitted_now = true;
        }
        Ok(())
    })?;
    Ok((dossier, submitted_now))
}
