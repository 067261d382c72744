//! The one error type of a mini-app handler: an HTTP status, a stable code and
//! a human message, rendered as `{"error":{"code","message"}}` like the host's.

use crate::bindings::citadel::miniapp::kv::KvError;
use crate::Response;
use std::fmt;

/// A handler's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error a handler returns; it becomes a JSON error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: u16,
    code: String,
    message: String,
}

impl Error {
    /// An error with any status, a stable machine-readable `code` and a message for people.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    /// 404: nothing here.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }

    /// 422: well-formed but invalid input; `message` should name the field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "invalid_input", message)
    }

    /// 500: something went wrong inside the app.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The stable error code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON error response.
    pub fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        Response::new(self.status)
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for Error {}

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Denied(cap) => Error::new(
                403,
                "capability_denied",
                format!("this app was not granted the `{cap}` capability"),
            ),
            KvError::InvalidKey(why) => Error::new(400, "invalid_key", why),
            KvError::ValueTooLarge(limit) => Error::new(
                413,
                "value_too_large",
                format!("the value exceeds the store's limit of {limit} bytes"),
            ),
            KvError::QuotaExceeded(which) => Error::new(507, "quota_exceeded", which),
            KvError::Unavailable(why) => Error::new(503, "storage_unavailable", why),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::bad_request(format!("invalid JSON: {e}"))
    }
}
