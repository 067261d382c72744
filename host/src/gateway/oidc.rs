//! Sign-in through the city's OpenID provider over HTTP: `/auth/oidc/login`
//! sends the citizen to the provider, `/auth/oidc/callback` brings them back
//! signed in. A refusal is a page in Vietnamese and English, a log line for
//! the operator and an audit record, and leaves no session. The flow itself
//! is `identity::oidc`.

use super::error::{ApiError, ErrorBody, ErrorPage, HOME};
use super::json::QueryParams;
use super::routes::{Access, Routes};
use crate::audit::messages::{SIGNED_IN_OIDC, SIGN_IN_REFUSED};
use crate::audit::Event;
use crate::identity::oidc::{
    Callback, OidcError, OidcProvider, CALLBACK_PATH, LOGIN_COOKIE, LOGIN_TTL,
};
use crate::localized::Text;
use crate::Citadel;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// Where the shell's sign-in button starts an OpenID Connect sign-in.
pub(super) const LOGIN_PATH: &str = "/auth/oidc/login";

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get(LOGIN_PATH, Access::Public, login)
        .get(CALLBACK_PATH, Access::Public, callback)
}

/// The login cookie's longest accepted value.
const LOGIN_COOKIE_LIMIT: usize = 4096;
/// The longest page a sign-in comes back to: it travels sealed and
/// hex-encoded in the login cookie, which must stay under
/// [`LOGIN_COOKIE_LIMIT`] (a longer one goes back to the shell's home).
const RETURN_PATH_LIMIT: usize = 1024;

#[derive(Deserialize)]
struct LoginQuery {
    /// The shell's page to come back to (a local path).
    #[serde(rename = "return")]
    return_to: Option<String>,
}

fn provider(citadel: &Citadel) -> Result<&Arc<OidcProvider>, ApiError> {
    citadel.oidc.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "oidc_not_configured",
            "this host signs no one in with an OpenID provider",
        )
    })
}

/// `Set-Cookie` for the login cookie: `value` for `max_age` seconds.
fn login_cookie(citadel: &Citadel, value: &str, max_age: u64) -> Option<HeaderValue> {
    let secure = super::secure_cookie_attribute(citadel);
    HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// Sign in with the city's OpenID provider
///
/// Starts the authorization-code flow with PKCE, `state` and `nonce`: the
/// citizen goes on to the provider's page with a signed login cookie.
#[utoipa::path(
    get,
    path = "/auth/oidc/login",
    tag = "citizen",
    operation_id = "oidc_login",
    params(("return" = Option<String>, Query, description = "The shell's page to come back \
        to, a local path (default `/`).")),
    responses(
        (status = 303, description = "On to the provider's authorization page.",
            headers(("location" = String), ("set-cookie" = String, description = "`citadel_oidc`, \
            the flow's signed state, for 10 minutes"))),
        (status = 404, description = "`oidc_not_configured`.", body = ErrorBody),
        (status = 503, description = "The provider cannot be reached: a page in Vietnamese and \
            English.", body = String, content_type = "text/html"),
    )
)]
async fn login(
    State(citadel): State<Arc<Citadel>>,
    QueryParams(query): QueryParams<LoginQuery>,
) -> Result<Response, ApiError> {
    let provider = provider(&citadel)?;
    let return_to = query
        .return_to
        .filter(|path| path.len() <= RETURN_PATH_LIMIT && super::is_local_path(path))
        .unwrap_or_else(|| "/".into());
    match provider.begin(&return_to).await {
        Ok((url, sealed)) => {
            let mut response =
                (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response();
            if let Some(cookie) = login_cookie(&citadel, &sealed, LOGIN_TTL.as_secs()) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
        Err(error) => Ok(refused(&citadel, provider, error).await),
    }
}

/// The provider's answer
///
/// Verifies `state` against the login cookie, exchanges the code with the
/// PKCE verifier, checks the ID token (signature, issuer, audience, expiry,
/// nonce), merges userinfo and signs the citizen in. Any failure leaves no
/// session, writes a log line and an audit record, and shows a page in
/// Vietnamese and English.
#[utoipa::path(
    get,
    path = "/auth/oidc/callback",
    tag = "citizen",
    operation_id = "oidc_callback",
    params(
        ("code" = Option<String>, Query, description = "The authorization code."),
        ("state" = Option<String>, Query, description = "The flow's `state`."),
        ("error" = Option<String>, Query, description = "The provider's refusal."),
        ("error_description" = Option<String>, Query),
        ("iss" = Option<String>, Query, description = "RFC 9207: the answering issuer."),
    ),
    responses(
        (status = 303, description = "Signed in: back to the shell's page.",
            headers(("location" = String), ("set-cookie" = String, description = "`citadel_session`"))),
        (status = 400, description = "Wrong or missing `state`, or a code the provider refuses \
            (replayed, expired).", body = String, content_type = "text/html"),
        (status = 401, description = "An ID token that fails verification.", body = String,
            content_type = "text/html"),
        (status = 403, description = "The provider refused the sign-in.", body = String,
            content_type = "text/html"),
        (status = 404, description = "`oidc_not_configured`.", body = ErrorBody),
        (status = 500, description = "The provider's configuration does not fit.", body = String,
            content_type = "text/html"),
        (status = 503, description = "The provider cannot be reached; or \
            `storage_unavailable`; or `erasure_unfinished`: an erasure of the citizen's data \
            began again while the host finished the last one.", body = String,
            content_type = "text/html"),
    )
)]
async fn callback(
    State(citadel): State<Arc<Citadel>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let provider = provider(&citadel)?;
    let outcome = match Query::<Callback>::try_from_uri(&uri) {
        Ok(Query(answer)) => {
            provider
                .finish(
                    &answer,
                    super::cookie_within(&headers, LOGIN_COOKIE, LOGIN_COOKIE_LIMIT).as_deref(),
                )
                .await
        }
        // A malformed answer (a parameter twice, say) is no sign-in: the
        // citizen reads why, the refusal is audited, the login cookie spent.
        Err(_) => Err(OidcError::StateMismatch),
    };
    let mut response = match outcome {
        Ok(signed) => {
            let (token, session) = citadel
                .personal_data
                .open_session(&signed.citizen, true)
                .await?;
            citadel
                .audit
                .record(Event {
                    kind: "sign-in",
                    actor: "citizen".into(),
                    message: Some(SIGNED_IN_OIDC.with("issuer", provider.issuer())),
                    ..Event::default()
                })
                .await;
            let mut response = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, signed.return_to)],
            )
                .into_response();
            let lifetime = session.expires.saturating_sub(session.created);
            if let Some(cookie) = super::citizen::session_cookie(&citadel, &token, lifetime) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => refused(&citadel, provider, error).await,
    };
    // The login cookie is spent either way: a replayed callback has none.
    if let Some(spent) = login_cookie(&citadel, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, spent);
    }
    Ok(response)
}

/// What the citizen reads when a sign-in fails, by cause.
fn explanation(error: &OidcError) -> Text {
    match error {
        OidcError::StateMismatch => Text::new(
            "Phiên đăng nhập không hợp lệ hoặc đã hết hạn. Vui lòng đăng nhập lại.",
            "This sign-in is not valid or has expired. Please sign in again.",
        ),
        OidcError::ProviderRefused(_) => Text::new(
            "Nhà cung cấp định danh không cho phép đăng nhập.",
            "The identity provider did not allow the sign-in.",
        ),
        OidcError::CodeRejected(_) | OidcError::InvalidToken(_) => Text::new(
            "Không xác minh được danh tính của bạn với nhà cung cấp định danh. Vui lòng đăng nhập lại.",
            "Your identity could not be verified with the identity provider. Please sign in again.",
        ),
        OidcError::ProviderUnavailable(_) => Text::new(
            "Hệ thống định danh tạm thời không truy cập được. Vui lòng thử lại sau ít phút.",
            "The identity service cannot be reached right now. Please try again in a few minutes.",
        ),
        OidcError::Misconfigured(_) => Text::new(
            "Đăng nhập tạm thời không hoạt động. Bộ phận vận hành đã được thông báo.",
            "Sign-in is not working right now. The operators have been told.",
        ),
    }
}

const TITLE: Text = Text::new("Không đăng nhập được", "Could not sign you in");
const TRY_AGAIN: Text = Text::new("Đăng nhập lại", "Sign in again");

/// The refusal: a log line and an audit record naming the cause, and the
/// citizen's page in both languages (no session is made).
async fn refused(citadel: &Citadel, provider: &OidcProvider, error: OidcError) -> Response {
    tracing::warn!(
        code = error.code(),
        issuer = provider.issuer(),
        reason = %error,
        "OpenID Connect sign-in refused"
    );
    citadel
        .audit
        .record(Event {
            kind: "sign-in-refused",
            actor: "citizen".into(),
            message: Some(
                SIGN_IN_REFUSED
                    .with("issuer", provider.issuer())
                    .with("code", error.code())
                    .with("reason", &error),
            ),
            ..Event::default()
        })
        .await;
    let status = match error {
        OidcError::StateMismatch | OidcError::CodeRejected(_) => StatusCode::BAD_REQUEST,
        OidcError::ProviderRefused(_) => StatusCode::FORBIDDEN,
        OidcError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        OidcError::ProviderUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        OidcError::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ErrorPage {
        status,
        title: TITLE,
        paragraphs: &[explanation(&error)],
        detail: None,
        links: &[("/auth/oidc/login", TRY_AGAIN), ("/", HOME)],
        code: error.code(),
        request_id: super::request_id::current_request_id(),
        framing: super::Framing::Nowhere,
    }
    .render()
}
