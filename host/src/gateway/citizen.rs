//! The citizen API: sign-in (`POST /api/v1/login`), sign-out, and `GET
//! /api/v1/me`. A session is a bearer token for the API and the
//! `citadel_session` cookie (HttpOnly, SameSite=Lax) for the shell.

use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::routes::{Access, Routes};
use crate::audit::{messages, Event};
use crate::identity::citizens::{Citizen, SignInError};
use crate::identity::inbox::InboxMessage;
use crate::identity::location::Position;
use crate::identity::personal_data::{Erasure, ExportError, PersonalData};
use crate::identity::sessions::{SessionKey, SESSION_COOKIE};
use crate::public_url::PublicUrl;
use crate::Citadel;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .post("/api/v1/login", Access::Public, login)
        .post("/api/v1/logout", Access::Citizen, logout)
        .delete("/api/v1/me/sessions", Access::Citizen, sign_out_everywhere)
        .get("/api/v1/me", Access::Citizen, me)
        .get("/api/v1/session", Access::Public, session)
        .get("/api/v1/me/inbox", Access::Citizen, inbox)
        .post("/api/v1/me/frames", Access::Citizen, open_frame)
        .put("/api/v1/me/location", Access::Citizen, report_location)
        .delete("/api/v1/me/location", Access::Citizen, forget_location)
        .get("/api/v1/me/data", Access::Citizen, export_data)
        .delete("/api/v1/me/data", Access::Citizen, erase_data)
}

/// The session token a request carries: `Authorization: Bearer` first, then the cookie.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    super::bearer_token(headers).or_else(|| super::cookie(headers, SESSION_COOKIE))
}

/// The signed-in citizen of a request, with their session's key, if its
/// session is valid.
pub async fn signed_in(
    citadel: &Citadel,
    headers: &HeaderMap,
) -> Result<Option<(Citizen, SessionKey)>, ApiError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let key = SessionKey::of(&token);
    let Some(session) = citadel.sessions.lookup(&key).await? else {
        return Ok(None);
    };
    Ok(citadel.citizen_of(&session).map(|citizen| (citizen, key)))
}

/// A signed-in citizen (401 otherwise).
pub struct CitizenSession {
    pub citizen: Citizen,
    /// The session the request came with: what the citizen's writes are
    /// made for.
    pub session: SessionKey,
    /// Whether the call came with a bearer token or from the host's own
    /// pages; false for a cookie sent by another origin (or an app's page).
    same_origin: bool,
}

impl CitizenSession {
    /// A state-changing call that rides on the cookie must come from the
    /// host's own pages: a cross-site form or an app's sandboxed page (origin
    /// `null`) cannot act for the citizen.
    pub fn require_same_origin(&self) -> Result<(), ApiError> {
        if self.same_origin {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin_request",
                "this change must come from Citadel's own pages",
            ))
        }
    }
}

/// Whether a request comes from the host's own origin, judged by `Origin`
/// (or `Sec-Fetch-Site` when a browser sends no `Origin`): its public URL
/// when it has one, else the address the request was sent to (`Host`).
fn from_own_origin(public_url: Option<&PublicUrl>, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header("origin") {
        Some(origin) => match public_url {
            Some(public) => origin == public.origin(),
            None => header("host").is_some_and(|host| {
                origin == format!("http://{host}") || origin == format!("https://{host}")
            }),
        },
        None => header("sec-fetch-site").is_none_or(|site| site == "same-origin" || site == "none"),
    }
}

impl FromRequestParts<Arc<Citadel>> for CitizenSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        citadel: &Arc<Citadel>,
    ) -> Result<Self, ApiError> {
        match signed_in(citadel, &parts.headers).await? {
            Some((citizen, session)) => Ok(CitizenSession {
                same_origin: super::bearer_token(&parts.headers).is_some()
                    || from_own_origin(citadel.public_url.as_ref(), &parts.headers),
                citizen,
                session,
            }),
            None => {
                let token = session_token(&parts.headers);
                let refusal =
                    super::auth::refuse(citadel, token.as_deref(), "a citizen session").await?;
                Err(if refusal.status == StatusCode::FORBIDDEN {
                    refusal
                } else {
                    ApiError::sign_in_first()
                })
            }
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    /// The provider's credential; for the development provider, a demo citizen id.
    citizen: String,
}

/// A new session.
#[derive(Serialize, ToSchema)]
struct SignedIn {
    /// The session, as a bearer token (also set as the `citadel_session` cookie).
    token: String,
    /// When it expires, unix seconds.
    expires: u64,
    citizen: Citizen,
}

/// Sign a citizen in
///
/// Answers the session as a bearer token, and sets it as the shell's
/// `citadel_session` cookie (HttpOnly, SameSite=Lax).
#[utoipa::path(
    post,
    path = "/api/v1/login",
    tag = "citizen",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in.", body = SignedIn,
            headers(("set-cookie" = String, description = "`citadel_session=<token>`"))),
        (status = 400, description = "`invalid_json`: the body is not a login.", body = ErrorBody),
        (status = 401, description = "`unknown_citizen`: the identity provider does not know \
            this citizen.", body = ErrorBody),
        (status = 403, description = "`sign_in_unavailable`: this host signs citizens in \
            through its identity provider, not here.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`; `erasure_unfinished`: an erasure \
            of the citizen's data began again while the host finished the last one (an \
            unfinished erasure is finished before the session opens).", body = ErrorBody),
    )
)]
async fn login(
    State(citadel): State<Arc<Citadel>>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    let citizen = citadel
        .identity
        .sign_in(&body.citizen)
        .map_err(|e| match e {
            SignInError::UnknownCitizen(_) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unknown_citizen", e.to_string())
            }
            SignInError::NotSupported => {
                ApiError::new(StatusCode::FORBIDDEN, "sign_in_unavailable", e.to_string())
            }
        })?;
    let (token, session) = citadel.personal_data.open_session(&citizen, false).await?;
    citadel
        .audit
        .record(Event {
            kind: "sign-in",
            actor: "citizen".into(),
            message: Some(
                crate::audit::messages::SIGNED_IN.with("provider", citadel.identity.kind()),
            ),
            ..Event::default()
        })
        .await;
    let cookie = session_cookie(
        &citadel,
        &token,
        session.expires.saturating_sub(session.created),
    );
    let mut response = Json(SignedIn {
        token,
        expires: session.expires,
        citizen,
    })
    .into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The shell's cookie carrying the session `token`, for the `lifetime_secs`
/// it lives.
pub(super) fn session_cookie(
    citadel: &Citadel,
    token: &str,
    lifetime_secs: u64,
) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={lifetime_secs}{}",
        super::secure_cookie_attribute(citadel)
    ))
    .ok()
}

/// Sign out
///
/// Ends the session, the frames opened from it and the shared position, and
/// clears the cookie.
#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = "citizen",
    responses(
        (status = 200, description = "Signed out of Citadel, signed in through an OpenID \
            provider with an end-session endpoint: send the citizen there.",
            body = EndSession,
            headers(("set-cookie" = String, description = "`citadel_session=` expired"))),
        (status = 204, description = "Signed out.",
            headers(("set-cookie" = String, description = "`citadel_session=` expired"))),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn logout(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<Response, ApiError> {
    session.require_same_origin()?;
    citadel.sessions.revoke(&session.session).await?;
    citadel
        .frames
        .close_session(&session.citizen.id, &session.session)
        .await?;
    citadel.positions.forget(&session.citizen.id).await?;
    let response = match provider_end_session(&citadel).await {
        Some(end_session_url) => Json(EndSession { end_session_url }).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    Ok(signed_out(&citadel, response))
}

/// `response` with the session cookie cleared (the citizen signed out),
/// with the same attributes as the cookie it clears.
fn signed_out(citadel: &Citadel, mut response: Response) -> Response {
    let cleared = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        super::secure_cookie_attribute(citadel)
    );
    if let Ok(cleared) = HeaderValue::from_str(&cleared) {
        response.headers_mut().insert(header::SET_COOKIE, cleared);
    }
    response
}

/// The signed-in citizen
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "citizen",
    responses((status = 200, description = "The citizen's profile.", body = Citizen))
)]
async fn me(session: CitizenSession) -> Json<Citizen> {
    Json(session.citizen)
}

/// Who is signed in.
#[derive(Serialize, ToSchema)]
struct WhoIsSignedIn {
    /// The signed-in citizen; null without a valid session.
    citizen: Option<Citizen>,
    /// How a citizen signs in here.
    sign_in: SignInOffer,
}

/// Where the shell's sign-in button leads.
#[derive(Serialize, ToSchema)]
struct SignInOffer {
    /// `oidc` (the city's OpenID provider), `development` (the demo
    /// citizens) or `none`.
    kind: &'static str,
    /// For `oidc`: the address that starts the sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'static str>,
}

/// Signed in by an OpenID provider: the shell sends the citizen on to end
/// the provider's session too, where it has an end-session endpoint.
async fn provider_end_session(citadel: &Citadel) -> Option<String> {
    let provider = citadel.oidc.as_ref()?;
    let url = provider.end_session_url(&provider.shell_url()).await?;
    Some(url.to_string())
}

/// Sign out everywhere
///
/// Ends every session of the signed-in citizen (this one too: every device
/// and browser must sign in again), the frames opened from them and the
/// shared position, and clears the cookie. For a lost phone, or a shared
/// computer left signed in.
#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions",
    tag = "citizen",
    responses(
        (status = 200, description = "Signed out everywhere.", body = SignedOutEverywhere,
            headers(("set-cookie" = String, description = "`citadel_session=` expired"))),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn sign_out_everywhere(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<Response, ApiError> {
    session.require_same_origin()?;
    let ended = citadel.sessions.end_all_of(&session.citizen.id).await?;
    citadel.positions.forget(&session.citizen.id).await?;
    citadel
        .audit
        .record(Event {
            kind: "citizen-signed-out-everywhere",
            actor: "citizen".into(),
            message: Some(
                messages::SIGNED_OUT_EVERYWHERE
                    .with("sessions", ended.sessions)
                    .with("frames", ended.frames),
            ),
            ..Event::default()
        })
        .await;
    let response = Json(SignedOutEverywhere {
        sessions: ended.sessions,
        frames: ended.frames,
        end_session_url: provider_end_session(&citadel).await,
    })
    .into_response();
    Ok(signed_out(&citadel, response))
}

/// What signing out everywhere ended.
#[derive(Serialize, ToSchema)]
struct SignedOutEverywhere {
    /// Sessions ended, this one among them.
    sessions: usize,
    /// Frame tokens closed.
    frames: usize,
    /// Signed in through an OpenID provider with an end-session endpoint:
    /// send the citizen there too.
    #[serde(skip_serializing_if = "Option::is_none")]
    end_session_url: Option<String>,
}

/// Signed out of Citadel; the provider's own session ends at this address.
#[derive(Serialize, ToSchema)]
struct EndSession {
    /// The OpenID provider's end-session address, to send the citizen to.
    end_session_url: String,
}

/// Who is signed in, if anyone: a 200 either way, for the shell's start.
#[utoipa::path(
    get,
    path = "/api/v1/session",
    tag = "citizen",
    responses(
        (status = 200, description = "The citizen of the session sent, if any.",
            body = WhoIsSignedIn),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn session(
    State(citadel): State<Arc<Citadel>>,
    headers: HeaderMap,
) -> Result<Json<WhoIsSignedIn>, ApiError> {
    let citizen = signed_in(&citadel, &headers)
        .await?
        .map(|(citizen, _)| citizen);
    // How the shell offers sign-in: the OpenID provider's page, the
    // development provider's demo citizens, or nothing.
    let sign_in = match &citadel.oidc {
        Some(_) => SignInOffer {
            kind: "oidc",
            url: Some(super::oidc::LOGIN_PATH),
        },
        None => SignInOffer {
            kind: citadel.identity.kind(),
            url: None,
        },
    };
    Ok(Json(WhoIsSignedIn { citizen, sign_in }))
}

/// A citizen's inbox.
#[derive(Serialize, ToSchema)]
struct Inbox {
    /// At most 100, newest first.
    messages: Vec<InboxMessage>,
}

/// The citizen's latest messages from apps, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/me/inbox",
    tag = "citizen",
    responses(
        (status = 200, description = "The latest 100 messages.", body = Inbox),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn inbox(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<Json<Inbox>, ApiError> {
    let messages = citadel
        .inbox
        .latest(&session.citizen.id, INBOX_PAGE)
        .await?;
    Ok(Json(Inbox { messages }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LocationBody {
    /// Degrees north, -90 to 90.
    lat: f64,
    /// Degrees east, -180 to 180.
    lon: f64,
    /// How far off it may be, in metres (not negative).
    accuracy_m: Option<f64>,
}

/// The shell reports the device's position; apps get it only through the
/// consented `location` capability.
#[utoipa::path(
    put,
    path = "/api/v1/me/location",
    tag = "citizen",
    request_body = LocationBody,
    responses(
        (status = 200, description = "The position as kept.", body = Position),
        (status = 400, description = "`invalid_json`: the body is not a position.",
            body = ErrorBody),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`invalid_position`: a coordinate or the accuracy is \
            out of range.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn report_location(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    JsonBody(body): JsonBody<LocationBody>,
) -> Result<Json<Position>, ApiError> {
    session.require_same_origin()?;
    let point = crate::geo::Point::checked(body.lat, body.lon).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_position",
            e.to_string(),
        )
    })?;
    let accuracy_m = match body.accuracy_m {
        Some(a) if !(a.is_finite() && a >= 0.0) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_position",
                "accuracy_m must be a non-negative number of metres",
            ))
        }
        other => other,
    };
    Ok(Json(
        citadel
            .positions
            .report(
                &session.citizen.id,
                point.lat,
                point.lon,
                accuracy_m,
                Some(&session.session),
            )
            .await?,
    ))
}

/// The shell stops sharing the device's position.
#[utoipa::path(
    delete,
    path = "/api/v1/me/location",
    tag = "citizen",
    responses(
        (status = 204, description = "The position is forgotten."),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn forget_location(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<StatusCode, ApiError> {
    session.require_same_origin()?;
    citadel.positions.forget(&session.citizen.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FrameBody {
    /// The id of a live app.
    app: String,
}

/// A frame opened for one app.
#[derive(Serialize, ToSchema)]
struct Frame {
    /// Where the frame loads the app: `/f/{token}/apps/{app}/`.
    url: String,
    /// When the token expires, unix seconds.
    expires: u64,
}

/// The shell opens an app in its frame: a URL whose token identifies the
/// citizen to that app only (see `identity::frames`).
#[utoipa::path(
    post,
    path = "/api/v1/me/frames",
    tag = "citizen",
    request_body = FrameBody,
    responses(
        (status = 200, description = "The frame's URL.", body = Frame),
        (status = 400, description = "`invalid_json`: the body is not a frame request.",
            body = ErrorBody),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 404, description = "`app_not_found`: no live app has this id.",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn open_frame(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    JsonBody(body): JsonBody<FrameBody>,
) -> Result<Json<Frame>, ApiError> {
    session.require_same_origin()?;
    if citadel.registry.live(&body.app).is_none() {
        return Err(ApiError::not_found(
            "app_not_found",
            format!("there is no app `{}`", body.app),
        ));
    }
    let (token, expires) = citadel
        .frames
        .open(&session.citizen.id, &body.app, &session.session)
        .await?;
    Ok(Json(Frame {
        url: format!("/f/{token}/apps/{}/", body.app),
        expires,
    }))
}

/// Messages `GET /api/v1/me/inbox` returns.
const INBOX_PAGE: usize = 100;

/// Everything the host keeps of a citizen, as one document.
#[derive(Serialize, ToSchema)]
struct DataExport {
    #[serde(flatten)]
    held: PersonalData,
    /// Every payment, newest first. Kept after an erasure: the city must
    /// keep its accounting records.
    payments: Vec<super::payments::CitizenPayment>,
}

/// Download everything the host keeps of the signed-in citizen
///
/// Their profile, consents, inbox, last position, what each app keeps in
/// their own storage there (and whether it can message them), and their
/// payments. What an app keeps in its app-wide storage or its own systems
/// is the app's publisher's to answer for.
#[utoipa::path(
    get,
    path = "/api/v1/me/data",
    tag = "citizen",
    responses(
        (status = 200, description = "The citizen's data, as an attachment.", body = DataExport),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 429, description = "`too_many_exports`: ten downloads within the hour \
            already; `Retry-After` says when the next may be.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn export_data(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<Response, ApiError> {
    // A page of another site could otherwise fill the citizen's downloads
    // (and use up their downloads of the hour) with a link.
    session.require_same_origin()?;
    let held = match citadel.personal_data.export(&session.citizen).await {
        Ok(held) => held,
        Err(e @ ExportError::TooOften(wait_secs)) => {
            let mut refused = ApiError::from(e).into_response();
            refused
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
            return Ok(refused);
        }
        Err(e) => return Err(e.into()),
    };
    let payments = super::payments::every_payment_of(&citadel, &session.citizen.id).await?;
    let mut response = Json(DataExport { held, payments }).into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"citadel-data.json\""),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Erase the signed-in citizen's data and sign them out everywhere
///
/// Ends every session and frame, and removes consents, inbox, last
/// position, apps' links to the citizen and everything in their own storage
/// in every app. Payments and the audit log stay: the city must keep them.
/// The identity records go in one write that also records the erasure;
/// when the apps' storage cannot be erased at once, the answer is 202 and
/// the host finishes it within minutes, on any host.
#[utoipa::path(
    delete,
    path = "/api/v1/me/data",
    tag = "citizen",
    responses(
        (status = 200, description = "Erased; the session cookie is cleared.", body = Erasure),
        (status = 202, description = "The identity records are erased and every session \
            ended (the cookie is cleared); the apps' storage is erased by the host within \
            minutes (`finished` is false).", body = Erasure),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`: nothing was erased; ask again.",
            body = ErrorBody),
    )
)]
async fn erase_data(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<Response, ApiError> {
    session.require_same_origin()?;
    let erasure = citadel.personal_data.erase(&session.citizen.id).await?;
    let status = if erasure.finished {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let response = (status, Json(erasure)).into_response();
    Ok(signed_out(&citadel, response))
}
