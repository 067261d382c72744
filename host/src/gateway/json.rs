//! Extractors whose rejections are the gateway's errors: a JSON body (400
//! `invalid_json`, 415 without a JSON content type), the query (400
//! `invalid_query`) and the path's parameters (400 `invalid_path`), the
//! last two as the host's error page when a browser loads a page.

use super::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

/// `Json<T>` with `ApiError` rejections.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            )),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                rejection.body_text(),
            )),
        }
    }
}

/// An extractor `$name<T>` that is axum's `$inner<T>` with its rejection
/// answered as a 400 `ApiError` with code `$code`: the error page when a
/// browser loads a page (the consent and payment pages take queries), else
/// the JSON.
macro_rules! rejecting_as_api_error {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $code:literal) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<S, T> axum::extract::FromRequestParts<S> for $name<T>
        where
            T: serde::de::DeserializeOwned + Send,
            S: Send + Sync,
        {
            type Rejection = axum::response::Response;

            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                state: &S,
            ) -> Result<Self, axum::response::Response> {
                axum::extract::$inner::<T>::from_request_parts(parts, state)
                    .await
                    .map(|axum::extract::$inner(value)| $name(value))
                    .map_err(|rejection| {
                        ApiError::new(StatusCode::BAD_REQUEST, $code, rejection.body_text())
                            .answer(super::error::wants_page(&parts.headers), false)
                    })
            }
        }
    };
}

rejecting_as_api_error!(
    /// `Query<T>` with `ApiError` rejections (400, code `invalid_query`).
    QueryParams,
    Query,
    "invalid_query"
);

rejecting_as_api_error!(
    /// `Path<T>` with `ApiError` rejections (400, code `invalid_path`): a
    /// path segment that is not UTF-8, or not what the route expects.
    PathParams,
    Path,
    "invalid_path"
);
