//! The citizen API: sign-in (`POST /api/v1/login`), sign-out, and `GET
//! /api/v1/me`. A session is a bearer token for the API and the
//! `citadel_session` cookie (HttpOnly, SameSite=Lax) for the shell.

use super::error::ApiError;
use super::json::JsonBody;
use super::routes::{Access, Routes};
use crate::audit::Event;
use crate::identity::citizens::{Citizen, SignInError};
use crate::identity::sessions::SESSION_COOKIE;
use crate::Citadel;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .post("/api/v1/login", Access::Public, login)
        .post("/api/v1/logout", Access::Citizen, logout)
        .get("/api/v1/me", Access::Citizen, me)
        .get("/api/v1/session", Access::Public, session)
        .get("/api/v1/me/inbox", Access::Citizen, inbox)
        .post("/api/v1/me/frames", Access::Citizen, open_frame)
        .put("/api/v1/me/location", Access::Citizen, report_location)
        .delete("/api/v1/me/location", Access::Citizen, forget_location)
}

/// The session token a request carries: `Authorization: Bearer` first, then the cookie.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    super::bearer_token(headers).or_else(|| super::cookie(headers, SESSION_COOKIE))
}

/// The signed-in citizen of a request, if its session is valid.
pub async fn signed_in(
    citadel: &Citadel,
    headers: &HeaderMap,
) -> Result<Option<(Citizen, String)>, ApiError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let Some(session) = citadel.sessions.lookup(&token).await? else {
        return Ok(None);
    };
    Ok(citadel.citizen_of(&session).map(|citizen| (citizen, token)))
}

/// A signed-in citizen (401 otherwise).
pub struct CitizenSession {
    pub citizen: Citizen,
    pub token: String,
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
/// (or `Sec-Fetch-Site` when a browser sends no `Origin`).
fn from_own_origin(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header("origin") {
        Some(origin) => header("host").is_some_and(|host| {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }),
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
            Some((citizen, token)) => Ok(CitizenSession {
                same_origin: super::bearer_token(&parts.headers).is_some()
                    || from_own_origin(&parts.headers),
                citizen,
                token,
            }),
            None => {
                let token = session_token(&parts.headers);
                let refusal =
                    super::auth::refuse(citadel, token.as_deref(), "a citizen session").await?;
                Err(if refusal.status == StatusCode::FORBIDDEN {
                    refusal
                } else {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "not_signed_in",
                        "sign in first: POST /api/v1/login, then send the session as a bearer token or cookie",
                    )
                })
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    /// The provider's credential; for the development provider, a demo citizen id.
    citizen: String,
}

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
    let (token, session) = citadel.sessions.create(&citizen.id).await?;
    citadel
        .audit
        .record(Event {
            kind: "sign-in",
            actor: "citizen".into(),
            detail: format!("signed in through the {} provider", citadel.identity.kind()),
            ..Event::default()
        })
        .await;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        session.expires.saturating_sub(session.created)
    );
    let mut response = Json(serde_json::json!({
        "token": token,
        "expires": session.expires,
        "citizen": citizen,
    }))
    .into_response();
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn logout(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<Response, ApiError> {
    session.require_same_origin()?;
    citadel.sessions.revoke(&session.token).await?;
    citadel
        .frames
        .close_session(&session.citizen.id, &session.token)
        .await?;
    citadel.positions.forget(&session.citizen.id).await?;
    // Signed in by an OpenID provider: the shell sends the citizen on to end
    // the provider's session too, where it has an end-session endpoint.
    let end_session = match &citadel.oidc {
        Some(provider) => provider.end_session_url(&provider.shell_url()).await,
        None => None,
    };
    let mut response = match end_session {
        Some(url) => Json(serde_json::json!({ "end_session_url": url.to_string() })).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("citadel_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(response)
}

async fn me(session: CitizenSession) -> Json<Citizen> {
    Json(session.citizen)
}

/// Who is signed in, if anyone: a 200 either way, for the shell's start.
async fn session(
    State(citadel): State<Arc<Citadel>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let citizen = signed_in(&citadel, &headers)
        .await?
        .map(|(citizen, _)| citizen);
    // How the shell offers sign-in: the OpenID provider's page, the
    // development provider's demo citizens, or nothing.
    let sign_in = match (&citadel.oidc, citadel.identity.kind()) {
        (Some(_), _) => serde_json::json!({ "kind": "oidc", "url": "/auth/oidc/login" }),
        (None, kind) => serde_json::json!({ "kind": kind }),
    };
    Ok(Json(serde_json::json!({ "citizen": citizen, "sign_in": sign_in })))
}

/// The citizen's latest messages from apps, newest first.
async fn inbox(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<Json<serde_json::Value>, ApiError> {
    let messages = citadel
        .inbox
        .latest(&session.citizen.id, INBOX_PAGE)
        .await?;
    Ok(Json(serde_json::json!({ "messages": messages })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationBody {
    lat: f64,
    lon: f64,
    accuracy_m: Option<f64>,
}

/// The shell reports the device's position; apps get it only through the
/// consented `location` capability.
async fn report_location(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    JsonBody(body): JsonBody<LocationBody>,
) -> Result<Json<crate::identity::location::Position>, ApiError> {
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
            .report(&session.citizen.id, point.lat, point.lon, accuracy_m)
            .await?,
    ))
}

/// The shell stops sharing the device's position.
async fn forget_location(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
) -> Result<StatusCode, ApiError> {
    session.require_same_origin()?;
    citadel.positions.forget(&session.citizen.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameBody {
    app: String,
}

/// The shell opens an app in its frame: a URL whose token identifies the
/// citizen to that app only (see `identity::frames`).
async fn open_frame(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    JsonBody(body): JsonBody<FrameBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    session.require_same_origin()?;
    if citadel.registry.live(&body.app).is_none() {
        return Err(ApiError::not_found(
            "app_not_found",
            format!("there is no app `{}`", body.app),
        ));
    }
    let (token, expires) = citadel
        .frames
        .open(&session.citizen.id, &body.app, &session.token)
        .await?;
    Ok(Json(serde_json::json!({
        "url": format!("/f/{token}/apps/{}/", body.app),
        "expires": expires,
    })))
}

/// Messages `GET /api/v1/me/inbox` returns.
const INBOX_PAGE: usize = 100;
