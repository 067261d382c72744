//! The one place host errors become HTTP: `ApiError` carries a status, a
//! stable code and a message, and renders `{"error":{"code","message","request_id"}}`.

use super::request_id::current_request_id;
use crate::registry::GrantError;
use crate::runtime::InvokeError;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "request_id": current_request_id(),
            }
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "storage is unavailable; try again",
        )
    }
}

impl From<GrantError> for ApiError {
    fn from(e: GrantError) -> Self {
        let (status, code) = match &e {
            GrantError::AppNotFound(_) => (StatusCode::NOT_FOUND, "app_not_found"),
            GrantError::UnknownCapability(_) => (StatusCode::BAD_REQUEST, "unknown_capability"),
            GrantError::NotRequested { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "capability_not_requested")
            }
            GrantError::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        let (status, code) = match &e {
            InvokeError::RequestTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            InvokeError::ResponseTooLarge(_) => (StatusCode::BAD_GATEWAY, "response_too_large"),
            InvokeError::Deadline(_) => (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
            InvokeError::OutOfMemory(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "guest_out_of_memory")
            }
            InvokeError::Trap(_) => (StatusCode::INTERNAL_SERVER_ERROR, "guest_trap"),
            InvokeError::NoResponse => (StatusCode::INTERNAL_SERVER_ERROR, "guest_no_response"),
            InvokeError::AppBusy(_) => (StatusCode::SERVICE_UNAVAILABLE, "app_busy"),
            InvokeError::HostBusy => (StatusCode::SERVICE_UNAVAILABLE, "host_busy"),
            InvokeError::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
        };
        // A trap's details are for the logs and the publisher, not the citizen.
        let message = match &e {
            InvokeError::Trap(detail) => {
                tracing::warn!(%detail, "guest trapped");
                "the app failed while handling this request".to_string()
            }
            InvokeError::Storage(detail) => {
                tracing::error!(%detail, "flush failed");
                "the app's data could not be saved; try again".to_string()
            }
            other => other.to_string(),
        };
        ApiError::new(status, code, message)
    }
}
