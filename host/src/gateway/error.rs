//! The one place host errors become HTTP: `ApiError` carries a status, a
//! stable code and a message, and renders `{"error":{"code","message","request_id"}}`
//! ([`ErrorBody`], the error schema of the OpenAPI document).

use super::request_id::current_request_id;
use crate::identity::consent::ConsentError;
use crate::identity::CredentialError;
use crate::registry::package::PackageError;
use crate::registry::{GrantError, InstallError, LifecycleError, PublisherError, UploadError};
use crate::runtime::InvokeError;
use crate::runtime::PrepareError;
use crate::{BackupError, StoreError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
}

/// The body of every error answer: `{"error":{"code","message","request_id"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `app_not_found`; each operation
    /// lists the codes it may answer.
    pub code: &'static str,
    /// What was wrong and what to do next, for a person.
    pub message: String,
    /// The request's id, as in its `x-request-id` header and the host's log.
    pub request_id: Option<String>,
}

impl ApiError {
    /// What the answer's body says.
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code,
            message: self.message.clone(),
            request_id: current_request_id(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.detail(),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Store(e) => e.into(),
            BackupError::NotEmbedded => {
                ApiError::new(StatusCode::CONFLICT, "backup_not_embedded", e.to_string())
            }
            e => {
                tracing::error!(error = %e, request_id = current_request_id(), "backup failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "backup_failed",
                    "the backup could not be taken; the host's log says why",
                )
            }
        }
    }
}

impl From<crate::identity::personal_data::ExportError> for ApiError {
    fn from(e: crate::identity::personal_data::ExportError) -> Self {
        use crate::identity::personal_data::ExportError as E;
        match e {
            E::TooOften(_) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_exports",
                e.to_string(),
            ),
            E::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Another step came first: the caller looks again and retries.
            StoreError::ChangedMeanwhile { .. } => {
                ApiError::new(StatusCode::CONFLICT, "changed_meanwhile", e.to_string())
            }
            // The erasure began again while the last one was finished.
            StoreError::ErasureUnfinished => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "erasure_unfinished",
                "your data is being erased: sign in again in a minute",
            ),
            // Signed out (or erased) while the request was under way.
            StoreError::SessionEnded => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_ended",
                "your session ended while this was being done; nothing was changed: sign in again",
            ),
            e => host_side_failure(&e, "storage failure"),
        }
    }
}

/// A failure on the host's side (its store, its disk, its compile cache):
/// the whole error goes to the log, the caller gets 503 and a generic
/// message — never a path or a backend's words.
fn host_side_failure(error: &dyn std::fmt::Display, what: &'static str) -> ApiError {
    tracing::error!(error = %error, request_id = current_request_id(), "{what}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "storage is unavailable; try again",
    )
}

impl From<PublisherError> for ApiError {
    fn from(e: PublisherError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            PublisherError::Store(e) => return e.into(),
            // The way forward, in the API's terms.
            PublisherError::Exists(id) => {
                let way = format!("POST /api/v1/operator/publishers/{id}/keys");
                let message = format!("{message}; issue it a new key with {way}");
                return ApiError::new(StatusCode::CONFLICT, "publisher_exists", message);
            }
            PublisherError::InvalidId(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_publisher_id")
            }
            PublisherError::InvalidName => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_publisher_name")
            }
            PublisherError::InvalidSigningKey(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_signing_key")
            }
            PublisherError::InvalidFee => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fee"),
            PublisherError::NotFound(_) => (StatusCode::NOT_FOUND, "publisher_not_found"),
            PublisherError::KeyNotFound { .. } => (StatusCode::NOT_FOUND, "key_not_found"),
            PublisherError::SigningKeyExists => (StatusCode::CONFLICT, "signing_key_exists"),
            PublisherError::SigningKeyNotFound => (StatusCode::NOT_FOUND, "signing_key_not_found"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<ConsentError> for ApiError {
    fn from(e: ConsentError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            ConsentError::Store(e) => return e.into(),
            ConsentError::NoScopes => (StatusCode::UNPROCESSABLE_ENTITY, "no_scopes"),
            ConsentError::NotPersonal(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "not_a_personal_scope")
            }
            ConsentError::NotRequested { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "scope_not_requested")
            }
            ConsentError::NotFound(_) => (StatusCode::NOT_FOUND, "consent_not_found"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        let message = e.to_string();
        match e {
            CredentialError::Store(e) => e.into(),
            CredentialError::InvalidOperatorName => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_operator_name",
                message,
            ),
        }
    }
}

impl From<GrantError> for ApiError {
    fn from(e: GrantError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            GrantError::Store(e) => return e.into(),
            GrantError::AppNotFound(_) => (StatusCode::NOT_FOUND, "app_not_found"),
            GrantError::VersionNotFound { .. } => (StatusCode::NOT_FOUND, "version_not_found"),
            GrantError::NotApproved { .. } => (StatusCode::CONFLICT, "wrong_state"),
            GrantError::UnknownCapability(_) => (StatusCode::BAD_REQUEST, "unknown_capability"),
            GrantError::NotRequested { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "capability_not_requested")
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let (status, code) = match &e {
            UploadError::Package(PackageError::TooLarge { .. }) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "package_too_large")
            }
            UploadError::Package(PackageError::Layout(_)) => {
                (StatusCode::BAD_REQUEST, "invalid_package")
            }
            UploadError::Package(PackageError::Signature(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_signature")
            }
            UploadError::UnknownSigningKey { .. } => (StatusCode::FORBIDDEN, "unknown_signing_key"),
            UploadError::PublisherMismatch { .. } => (StatusCode::FORBIDDEN, "publisher_mismatch"),
            UploadError::AppNotOwned { .. } => (StatusCode::FORBIDDEN, "app_not_owned"),
            UploadError::Placeholders(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_manifest"),
            UploadError::Refused(refused) => return refused_version(refused, e.to_string()),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// A new version refused by the checks every version passes.
fn refused_version(e: &InstallError, message: String) -> ApiError {
    let (status, code) = match e {
        InstallError::Manifest(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_manifest"),
        InstallError::VersionNotNewer { .. } => (StatusCode::CONFLICT, "version_not_newer"),
        e if e.is_contract() => (StatusCode::UNPROCESSABLE_ENTITY, "contract_unsupported"),
        InstallError::Prepare(PrepareError::Imports(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "imports_not_covered")
        }
        InstallError::Prepare(PrepareError::Compile(_) | PrepareError::Link(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_component")
        }
        InstallError::Prepare(PrepareError::Shape(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "component_too_large")
        }
        InstallError::Prepare(PrepareError::ConcurrencyAboveShare { .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "limit_above_host_share")
        }
        InstallError::Store(StoreError::ChangedMeanwhile { .. }) => {
            (StatusCode::CONFLICT, "changed_meanwhile")
        }
        InstallError::Grant(_)
        | InstallError::SamplePublisher(_)
        | InstallError::Prepare(PrepareError::Cache(_))
        | InstallError::Store(_)
        | InstallError::ContractUnsupported { .. } => {
            return host_side_failure(&message, "a new version failed on the host's side")
        }
    };
    ApiError::new(status, code, message)
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            LifecycleError::Grant(grant) => return grant.into(),
            LifecycleError::AppNotFound(_) => (StatusCode::NOT_FOUND, "app_not_found"),
            LifecycleError::VersionNotFound { .. } => (StatusCode::NOT_FOUND, "version_not_found"),
            LifecycleError::WrongState { .. } => (StatusCode::CONFLICT, "wrong_state"),
            LifecycleError::CanaryInProgress { .. } => (StatusCode::CONFLICT, "canary_in_progress"),
            LifecycleError::CanaryNeedsLiveVersion { .. } => {
                (StatusCode::CONFLICT, "canary_needs_live_version")
            }
            LifecycleError::BadPercent(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_percent"),
            LifecycleError::NothingToRollBack(_) => (StatusCode::CONFLICT, "nothing_to_roll_back"),
            LifecycleError::NotSuspended(_) => (StatusCode::CONFLICT, "not_suspended"),
            LifecycleError::BadReason => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reason"),
            LifecycleError::Store(e) => return e.into(),
            LifecycleError::Install(InstallError::Store(e)) => return e.into(),
            LifecycleError::Install(_) => {
                return host_side_failure(&message, "a lifecycle step failed on the host's side")
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<InstallError> for ApiError {
    fn from(e: InstallError) -> Self {
        let message = e.to_string();
        refused_version(&e, message)
    }
}

impl From<crate::payments::PaymentError> for ApiError {
    fn from(e: crate::payments::PaymentError) -> Self {
        use crate::payments::PaymentError as P;
        let (status, code) = match &e {
            P::InvalidAmount(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
            P::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_payment"),
            P::NotFound => (StatusCode::NOT_FOUND, "payment_not_found"),
            P::Expired => (StatusCode::CONFLICT, "payment_expired"),
            P::NotPending(_) => (StatusCode::CONFLICT, "payment_not_pending"),
            P::RefundUnavailable(_) => (StatusCode::CONFLICT, "refund_unavailable"),
            P::NoSuchRefund => (StatusCode::NOT_FOUND, "refund_not_found"),
            P::RefundTaken(_) => (StatusCode::CONFLICT, "refund_already_taken"),
            P::RefundInFlight(_) => (StatusCode::CONFLICT, "refund_in_flight"),
            P::InsufficientFunds { .. } => (StatusCode::PAYMENT_REQUIRED, "insufficient_funds"),
            P::NotCaptured => (StatusCode::CONFLICT, "not_captured"),
            P::OverRefund { .. } => (StatusCode::CONFLICT, "over_refund"),
            P::Replayed => (StatusCode::CONFLICT, "webhook_replayed"),
            P::UnknownMethod(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_payment_method"),
            P::BadWebhook(_) => (StatusCode::UNAUTHORIZED, "invalid_webhook"),
            P::TooManyPending { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_pending_intents"),
            P::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "payments_unavailable"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        let (status, code) = match &e {
            InvokeError::RequestTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            InvokeError::RequestBodyTimeout(_) => {
                (StatusCode::REQUEST_TIMEOUT, "request_body_timeout")
            }
            InvokeError::RequestBodyFailed(_) => (StatusCode::BAD_REQUEST, "bad_request_body"),
            InvokeError::HostCallBudget(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "guest_host_call_budget")
            }
            InvokeError::ResponseTooLarge(_) => (StatusCode::BAD_GATEWAY, "response_too_large"),
            InvokeError::Deadline(_) => (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
            InvokeError::OutOfMemory(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "guest_out_of_memory")
            }
            InvokeError::Trap(_) => (StatusCode::INTERNAL_SERVER_ERROR, "guest_trap"),
            InvokeError::NoResponse => (StatusCode::INTERNAL_SERVER_ERROR, "guest_no_response"),
            InvokeError::AppBusy(_) => (StatusCode::SERVICE_UNAVAILABLE, "app_busy"),
            InvokeError::HostBusy => (StatusCode::SERVICE_UNAVAILABLE, "host_busy"),
            InvokeError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "app_unavailable"),
            InvokeError::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
        };
        // A trap's details are for the logs and the publisher, not the citizen.
        let message = match &e {
            InvokeError::Trap(detail) => {
                tracing::warn!(%detail, request_id = current_request_id(), "guest trapped");
                "the app failed while handling this request".to_string()
            }
            InvokeError::Storage(detail) => {
                tracing::error!(%detail, request_id = current_request_id(), "an app's writes could not be made durable");
                "the app's data could not be saved; try again".to_string()
            }
            InvokeError::Unavailable(detail) => {
                tracing::error!(%detail, request_id = current_request_id(), "an app's component could not be loaded");
                "the app cannot be started now; try again later".to_string()
            }
            other => other.to_string(),
        };
        ApiError::new(status, code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step another (on another host) came before answers 409, whichever
    /// step it was: the caller looks again and retries.
    #[test]
    fn a_step_another_came_before_is_a_conflict_whatever_its_kind() {
        let changed = || StoreError::ChangedMeanwhile { app: "tour".into() };
        let answers: [ApiError; 4] = [
            changed().into(),
            GrantError::Store(changed()).into(),
            LifecycleError::Store(changed()).into(),
            UploadError::Refused(InstallError::Store(changed())).into(),
        ];
        for answer in answers {
            assert_eq!(answer.status, StatusCode::CONFLICT);
            assert_eq!(answer.code, "changed_meanwhile");
            assert!(answer.message.contains("try again"), "{}", answer.message);
        }
    }

    /// A failure on the host's side names no path and no backend's words.
    #[test]
    fn host_side_failures_say_nothing_of_the_host() {
        let secret = "/var/lib/citadel/secret.cwasm: No space left on device";
        let failures: [ApiError; 4] = [
            UploadError::Refused(InstallError::Prepare(PrepareError::Cache(secret.into()))).into(),
            InstallError::Store(StoreError::Backend(secret.into())).into(),
            GrantError::Store(StoreError::Backend(secret.into())).into(),
            LifecycleError::Store(StoreError::Backend(secret.into())).into(),
        ];
        for failure in failures {
            assert_eq!(failure.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(failure.code, "storage_unavailable");
            assert!(!failure.message.contains("/var/lib"), "{}", failure.message);
            assert!(!failure.message.contains("space"), "{}", failure.message);
        }
    }
}
