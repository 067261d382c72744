//! The one error type of a mini-app handler: an HTTP status, a stable code and
//! a human message, rendered as `{"error":{"code","message"}}` like the host's.

use crate::bindings::citadel::miniapp::citizen_kv::CitizenKvError;
use crate::bindings::citadel::miniapp::geo::GeoError;
use crate::bindings::citadel::miniapp::identity::IdentityError;
use crate::bindings::citadel::miniapp::kv::KvError;
use crate::bindings::citadel::miniapp::location::LocationError;
use crate::bindings::citadel::miniapp::notify::NotifyError;
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
    /// For `consent_required`: the capabilities the citizen must consent to.
    consent: Vec<String>,
}

impl Error {
    /// An error with any status, a stable machine-readable `code` and a message for people.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            status,
            code: code.into(),
            message: message.into(),
            consent: Vec::new(),
        }
    }

    /// 428: the citizen must first consent to `scopes` (capability names such
    /// as `identity.phone`) in the host's consent page. The host adds the
    /// page's URL (`x-citadel-consent-url`) and the shell opens it.
    pub fn consent_required(scopes: Vec<String>) -> Self {
        let mut error = Self::new(
            428,
            "consent_required",
            format!("this needs your consent to share: {}", scopes.join(", ")),
        );
        error.consent = scopes;
        error
    }

    /// The scopes a `consent_required` error asks for.
    pub fn consent_scopes(&self) -> &[String] {
        &self.consent
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
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(request_id) = crate::serve::current_request_id() {
            error["request_id"] = serde_json::json!(request_id);
        }
        let mut response =
            Response::new(self.status).with_header("content-type", "application/json");
        if !self.consent.is_empty() {
            error["scopes"] = serde_json::json!(self.consent);
            response = response.with_header("x-citadel-consent", &self.consent.join(","));
        }
        response.with_body(serde_json::json!({ "error": error }).to_string())
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
            KvError::Denied(cap) => denied(&cap),
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

impl From<CitizenKvError> for Error {
    fn from(e: CitizenKvError) -> Self {
        match e {
            CitizenKvError::NotSignedIn => not_signed_in(),
            CitizenKvError::Denied(cap) => KvError::Denied(cap).into(),
            CitizenKvError::InvalidKey(why) => KvError::InvalidKey(why).into(),
            CitizenKvError::ValueTooLarge(limit) => KvError::ValueTooLarge(limit).into(),
            CitizenKvError::QuotaExceeded(which) => KvError::QuotaExceeded(which).into(),
            CitizenKvError::Unavailable(why) => KvError::Unavailable(why).into(),
        }
    }
}

impl From<IdentityError> for Error {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::NotSignedIn => not_signed_in(),
            IdentityError::Denied(cap) => denied(&cap),
            IdentityError::ConsentRequired(scopes) => Error::consent_required(scopes),
            IdentityError::Unavailable(why) => Error::new(503, "identity_unavailable", why),
        }
    }
}

impl From<NotifyError> for Error {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::NotSignedIn => not_signed_in(),
            NotifyError::Denied(cap) => denied(&cap),
            NotifyError::RateLimited(seconds) => Error::new(
                429,
                "rate_limited",
                format!("too many messages lately; try again in {seconds} s"),
            ),
            NotifyError::Invalid(why) => Error::invalid(why),
            NotifyError::Unavailable(why) => Error::new(503, "notify_unavailable", why),
        }
    }
}

impl From<GeoError> for Error {
    fn from(e: GeoError) -> Self {
        match e {
            GeoError::Denied(cap) => denied(&cap),
            GeoError::Invalid(why) => Error::invalid(why),
        }
    }
}

impl From<LocationError> for Error {
    fn from(e: LocationError) -> Self {
        match e {
            LocationError::NotSignedIn => not_signed_in(),
            LocationError::Denied(cap) => denied(&cap),
            LocationError::ConsentRequired(scopes) => Error::consent_required(scopes),
            LocationError::Unknown => Error::new(
                409,
                "location_unknown",
                "your device has not shared its position; allow location in the app shell or choose a place",
            ),
            LocationError::Unavailable(why) => Error::new(503, "location_unavailable", why),
        }
    }
}

fn not_signed_in() -> Error {
    Error::new(401, "not_signed_in", "sign in to Citadel to use this")
}

fn denied(capability: &str) -> Error {
    Error::new(
        403,
        "capability_denied",
        format!("this app was not granted the `{capability}` capability"),
    )
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::bad_request(format!("invalid JSON: {e}"))
    }
}
