//! The one place host errors become HTTP: `ApiError` carries a status, a
//! stable code and a message, and renders `{"error":{"code","message","request_id","explanation"}}`
//! ([`ErrorBody`], the error schema of the OpenAPI document). Also the one
//! catalogue of what a citizen is told of a refusal, in both languages
//! ([`explanation`]), and the page a browser is shown instead of the JSON.

use super::request_id::current_request_id;
use crate::identity::consent::ConsentError;
use crate::identity::CredentialError;
use crate::localized::Text;
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

    /// A citizen's request without a live session.
    pub fn sign_in_first() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "sign in first: POST /api/v1/login, then send the session as a bearer token or cookie",
        )
    }
}

/// The body of every error answer: `{"error":{"code","message","request_id","explanation"}}`.
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
    /// What a citizen is told, in Vietnamese and English (the shell shows
    /// it in the citizen's language; `message` is for developers).
    pub explanation: Explanation,
}

impl ApiError {
    /// What the answer's body says.
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code,
            message: self.message.clone(),
            request_id: current_request_id(),
            explanation: explanation(self.code),
        }
    }

    /// The answer for a browser loading a page: the host's page with the
    /// [`explanation`] in both languages, `detail` (an operator's reason)
    /// as written, and the code and request id for support. In the shell's
    /// frame (`in_frame`) it offers no link away (the shell has its own way
    /// back) and the shell may frame it.
    pub fn page(&self, detail: Option<&str>, in_frame: bool) -> Response {
        let explanation = explanation(self.code);
        let links: &[(&str, Text)] = match (in_frame, self.code) {
            (true, _) => &[],
            (false, "not_signed_in" | "session_ended") => &[("/#/signin", SIGN_IN), ("/", HOME)],
            (false, _) => &[("/", HOME)],
        };
        ErrorPage {
            status: self.status,
            title: explanation.title,
            paragraphs: &[explanation.next],
            detail,
            links,
            code: self.code,
            request_id: current_request_id(),
            framing: if in_frame {
                super::Framing::HostPagesOnly
            } else {
                super::Framing::Nowhere
            },
        }
        .render()
    }

    /// The page when a browser loads one (`wants_page`), else the JSON.
    pub fn answer(self, wants_page: bool, in_frame: bool) -> Response {
        if wants_page {
            self.page(None, in_frame)
        } else {
            self.into_response()
        }
    }
}

/// Whether a browser is loading a page (not a script's fetch): its
/// `Sec-Fetch-Mode`, or, from a browser that sends none, its `Accept`.
pub fn wants_page(headers: &axum::http::HeaderMap) -> bool {
    use axum::http::header::{HeaderName, ACCEPT};
    const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
    match headers.get(SEC_FETCH_MODE).and_then(|v| v.to_str().ok()) {
        Some(mode) => mode == "navigate",
        None => headers
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html")),
    }
}

/// What a citizen is told of a refusal: what happened, and what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Explanation {
    /// What happened, e.g. `{"vi": "Hệ thống đang bận", "en": "Too busy right now"}`.
    #[schema(value_type = crate::localized::Localized)]
    pub title: Text,
    /// What to do next.
    #[schema(value_type = crate::localized::Localized)]
    pub next: Text,
}

/// Ways on from an error page.
pub const HOME: Text = Text::new("Về trang chủ", "Back to the start");
const SIGN_IN: Text = Text::new("Đăng nhập", "Sign in");

/// The words before a refusal's request id, which support asks for.
pub const REQUEST_CODE: Text = Text::new("Mã yêu cầu", "Request code");
/// What a page's script says when the host does not answer at all.
pub const UNREACHABLE: Text = Text::new(
    "Không kết nối được tới máy chủ. Hãy kiểm tra kết nối mạng rồi thử lại.",
    "The host could not be reached. Check your network connection and try again.",
);

const TRY_AGAIN_SOON: Text = Text::new("Hãy thử lại sau ít phút.", "Try again in a few minutes.");
const TELL_THE_PROVIDER: Text = Text::new(
    "Đây là lỗi của ứng dụng, không phải của bạn. Hãy thử lại; nếu lỗi lặp lại, hãy báo cho đơn vị cung cấp ứng dụng, kèm mã yêu cầu bên dưới.",
    "This is the app's fault, not yours. Try again; if it happens again, tell the app's provider, with the request code below.",
);

/// What a citizen is told of the refusal `code`: one text for each refusal
/// a citizen may meet (in an app's page, the shell or the payment page),
/// and a general one for the rest.
pub fn explanation(code: &str) -> Explanation {
    let (title, next) = match code {
        "app_not_found" => (
            Text::new("Không tìm thấy ứng dụng", "App not found"),
            Text::new(
                "Ứng dụng này không có hoặc đã ngừng phục vụ. Hãy chọn một ứng dụng trong danh sách.",
                "This app does not exist or no longer serves. Choose an app from the list.",
            ),
        ),
        "not_found" => (
            Text::new("Không có trang này", "There is no such page"),
            Text::new(
                "Hãy kiểm tra lại đường dẫn, hoặc về trang chủ.",
                "Check the address, or go back to the start.",
            ),
        ),
        "app_suspended" => (
            Text::new("Ứng dụng tạm ngừng", "App suspended"),
            Text::new(
                "Thành phố đã tạm ngừng ứng dụng này. Hãy quay lại sau.",
                "The city has suspended this app. Come back later.",
            ),
        ),
        "app_busy" | "host_busy" => (
            Text::new("Hệ thống đang bận", "Too busy right now"),
            Text::new(
                "Đang có quá nhiều yêu cầu cùng lúc. Hãy thử lại sau ít giây.",
                "There are too many requests at once. Try again in a few seconds.",
            ),
        ),
        "deadline_exceeded" => (
            Text::new("Ứng dụng không trả lời kịp", "The app took too long to answer"),
            TELL_THE_PROVIDER,
        ),
        "guest_trap"
        | "guest_out_of_memory"
        | "guest_no_response"
        | "guest_host_call_budget"
        | "guest_invalid_answer"
        | "response_too_large" => (
            Text::new("Ứng dụng gặp lỗi", "The app failed"),
            TELL_THE_PROVIDER,
        ),
        "app_unavailable" => (
            Text::new("Ứng dụng chưa sẵn sàng", "The app cannot start now"),
            TRY_AGAIN_SOON,
        ),
        "storage_unavailable" | "payments_unavailable" | "erasure_unfinished" => (
            Text::new("Hệ thống tạm thời gián đoạn", "Temporarily unavailable"),
            TRY_AGAIN_SOON,
        ),
        "body_too_large" => (
            Text::new("Nội dung gửi đi quá lớn", "What you sent is too large"),
            Text::new(
                "Hãy gửi tệp hoặc nội dung nhỏ hơn.",
                "Send a smaller file or a shorter text.",
            ),
        ),
        "request_body_timeout" => (
            Text::new("Gửi dữ liệu quá chậm", "Sending took too long"),
            Text::new(
                "Hãy kiểm tra kết nối mạng rồi thử lại.",
                "Check your network connection and try again.",
            ),
        ),
        "bad_request" | "bad_request_body" | "invalid_json" => (
            Text::new("Yêu cầu không hợp lệ", "The request is not valid"),
            Text::new(
                "Hãy tải lại trang rồi thử lại.",
                "Reload the page and try again.",
            ),
        ),
        "invalid_query" | "invalid_path" => (
            Text::new("Đường dẫn không hợp lệ", "This link is not valid"),
            Text::new(
                "Hãy quay lại ứng dụng rồi thử lại.",
                "Go back to the app and try again.",
            ),
        ),
        "not_signed_in" => (
            Text::new("Bạn chưa đăng nhập", "You are not signed in"),
            Text::new("Hãy đăng nhập để tiếp tục.", "Sign in to continue."),
        ),
        "session_ended" => (
            Text::new("Phiên đăng nhập đã kết thúc", "Your session has ended"),
            Text::new("Hãy đăng nhập lại.", "Sign in again."),
        ),
        "too_many_exports" => (
            Text::new("Đã đạt giới hạn tải dữ liệu", "Download limit reached"),
            Text::new(
                "Bạn đã tải dữ liệu 10 lần trong một giờ. Hãy thử lại sau.",
                "You downloaded your data 10 times within the hour. Try again later.",
            ),
        ),
        "consent_not_found" => (
            Text::new("Quyền này đã được thu hồi", "This permission is already revoked"),
            Text::new(
                "Danh sách quyền của bạn đã được cập nhật.",
                "Your list of permissions is up to date.",
            ),
        ),
        "insufficient_funds" => (
            Text::new("Số dư không đủ", "Not enough funds"),
            Text::new("Hãy chọn cách thanh toán khác.", "Choose another way to pay."),
        ),
        "payment_expired" => (
            Text::new("Giao dịch đã hết hạn", "The payment has expired"),
            Text::new(
                "Hãy quay lại ứng dụng và bắt đầu thanh toán lại.",
                "Go back to the app and start the payment again.",
            ),
        ),
        "payment_not_pending" => (
            Text::new("Giao dịch đã được xử lý", "The payment was already handled"),
            Text::new(
                "Xem kết quả trong mục Thanh toán.",
                "See how it ended under Payments.",
            ),
        ),
        "payment_not_found" => (
            Text::new("Không tìm thấy giao dịch", "Payment not found"),
            Text::new(
                "Hãy quay lại ứng dụng và bắt đầu thanh toán lại.",
                "Go back to the app and start the payment again.",
            ),
        ),
        _ => (
            Text::new("Chưa thực hiện được yêu cầu", "This could not be done"),
            Text::new(
                "Hãy thử lại. Nếu vẫn không được, hãy liên hệ bộ phận hỗ trợ của thành phố, kèm mã yêu cầu.",
                "Try again. If it still fails, contact the city's support, with the request code.",
            ),
        ),
    };
    Explanation { title, next }
}

/// A page of the host's own for a browser: a title and paragraphs in
/// Vietnamese, then in English, an optional text that is in neither
/// catalogue (an operator's reason), the ways on, and the code and request
/// id for support. Every host error page is this one.
pub(crate) struct ErrorPage<'a> {
    pub status: StatusCode,
    pub title: Text,
    pub paragraphs: &'a [Text],
    /// A text of someone else's, shown as written (escaped).
    pub detail: Option<&'a str>,
    /// Buttons: a local address and its label.
    pub links: &'a [(&'a str, Text)],
    pub code: &'a str,
    pub request_id: Option<String>,
    /// Who may frame the page: the host's own pages when it is shown in the
    /// shell's frame (an app's page), otherwise no one.
    pub framing: super::Framing,
}

impl ErrorPage<'_> {
    pub fn render(&self) -> Response {
        use super::html_escape;
        let say = |pick: fn(&Text) -> &'static str| {
            self.paragraphs
                .iter()
                .map(|text| html_escape(pick(text)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let detail = self
            .detail
            .map(|detail| format!("<p class=\"detail\">{}</p>\n", html_escape(detail)))
            .unwrap_or_default();
        let links: String = self
            .links
            .iter()
            .enumerate()
            .map(|(i, (href, label))| {
                let class = if i == 0 { "button" } else { "button secondary" };
                format!(
                    "<a class=\"{class}\" href=\"{}\">{} · {}</a>",
                    html_escape(href),
                    label.vi,
                    label.en
                )
            })
            .collect();
        let links = if links.is_empty() {
            links
        } else {
            format!("<p>{links}</p>\n")
        };
        let request = self
            .request_id
            .as_deref()
            .map(|id| {
                format!(
                    " · {} / <span lang=\"en\">{}</span>: <code>{}</code>",
                    REQUEST_CODE.vi,
                    REQUEST_CODE.en,
                    html_escape(id)
                )
            })
            .unwrap_or_default();
        let html = format!(
            r#"<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title_vi}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1d2433}}h1{{font-size:1.4rem}}.en,.code{{color:#5b6474}}.detail{{border-left:3px solid #7a1f2b;padding-left:.75rem}}a.button{{display:inline-block;padding:.6rem 1.2rem;margin:.5rem .5rem 0 0;border-radius:.5rem;background:#7a1f2b;color:#fff;text-decoration:none}}a.secondary{{background:#e8e2d8;color:#1d2433}}code{{font-size:.85rem}}</style></head>
<body>
<h1>{title_vi}</h1>
<p>{says_vi}</p>
{detail}<p class="en" lang="en"><strong>{title_en}.</strong> {says_en}</p>
{links}<p class="code"><code>{code}</code>{request}</p>
</body></html>"#,
            title_vi = self.title.vi,
            title_en = self.title.en,
            says_vi = say(|text| text.vi),
            says_en = say(|text| text.en),
            code = html_escape(self.code),
        );
        super::host_page(self.status, html, self.framing)
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
            InvokeError::InvalidAnswer(_) => (StatusCode::BAD_GATEWAY, "guest_invalid_answer"),
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
            InvokeError::InvalidAnswer(detail) => {
                tracing::warn!(%detail, request_id = current_request_id(), "guest answered with invalid HTTP");
                "the app's answer could not be passed on".to_string()
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
