//! Who is calling the API: one extractor per role — [`Operator`] (operator
//! token), [`Publisher`] (publisher API key); citizens have
//! `citizen::CitizenSession`. A missing or unknown credential is 401; a valid
//! credential of another role is 403 `wrong_role`.

use super::error::ApiError;
use crate::identity::OperatorRecord;
use crate::registry::publishers::PublisherRecord;
use crate::Citadel;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use std::sync::Arc;

/// The role a bearer credential belongs to, if it is valid at all.
pub(crate) async fn role_of(
    citadel: &Citadel,
    token: &str,
) -> Result<Option<&'static str>, ApiError> {
    if citadel.credentials.operator_for(token).await?.is_some() {
        return Ok(Some("an operator token"));
    }
    if citadel.credentials.publisher_for(token).await?.is_some() {
        return Ok(Some("a publisher key"));
    }
    if citadel
        .sessions
        .lookup(&crate::identity::sessions::SessionKey::of(token))
        .await?
        .is_some()
    {
        return Ok(Some("a citizen session"));
    }
    Ok(None)
}

/// The refusal of a credential that `role_of` did not find in the wanted role.
pub(crate) async fn refuse(
    citadel: &Citadel,
    token: Option<&str>,
    wanted: &str,
) -> Result<ApiError, ApiError> {
    let Some(token) = token else {
        return Ok(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("this API needs {wanted}: send `Authorization: Bearer <credential>`"),
        ));
    };
    Ok(match role_of(citadel, token).await? {
        Some(role) => ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_role",
            format!("{role} cannot be used here; this API needs {wanted}"),
        ),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            format!(
                "this API needs {wanted}, and the credential sent is not one this host \
                 knows (mistyped, revoked or meant for another host)"
            ),
        ),
    })
}

/// An authenticated operator.
pub struct Operator(pub OperatorRecord);

impl Operator {
    /// How the audit log names this operator.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.0.name)
    }
}

impl FromRequestParts<Arc<Citadel>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        citadel: &Arc<Citadel>,
    ) -> Result<Self, ApiError> {
        let token = super::bearer_token(&parts.headers);
        if let Some(token) = &token {
            if let Some(record) = citadel.credentials.operator_for(token).await? {
                return Ok(Operator(record));
            }
        }
        Err(refuse(citadel, token.as_deref(), "an operator token").await?)
    }
}

/// An authenticated publisher: reaches only its own apps.
pub struct Publisher(pub PublisherRecord);

impl FromRequestParts<Arc<Citadel>> for Publisher {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        citadel: &Arc<Citadel>,
    ) -> Result<Self, ApiError> {
        let token = super::bearer_token(&parts.headers);
        if let Some(token) = &token {
            if let Some(record) = citadel.credentials.publisher_for(token).await? {
                return Ok(Publisher(record));
            }
        }
        Err(refuse(citadel, token.as_deref(), "a publisher key").await?)
    }
}
