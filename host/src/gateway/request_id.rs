//! Request ids: one per request, generated at the edge, carried in a task
//! local so every error body and log line can quote it, echoed as
//! `x-request-id`; the access record (one line per request).

use crate::runtime::AppContext;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A new random request id.
pub fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Which app version answered a request: the app dispatch puts it on its
/// response (answer or refusal) for the access log.
#[derive(Clone)]
pub struct ServedBy(pub Arc<AppContext>);

/// The path as the access record writes it: a frame URL's token, a bearer
/// credential for the citizen in one app, is left out.
fn logged_path(path: &str) -> String {
    match path.strip_prefix("/f/") {
        Some(rest) => {
            let after_token = rest.find('/').map_or("", |slash| &rest[slash..]);
            format!("/f/{FRAME_TOKEN_IN_LOG}{after_token}")
        }
        None => path.to_owned(),
    }
}

/// What the access record writes in place of a frame token.
const FRAME_TOKEN_IN_LOG: &str = "<token>";

/// Middleware: give the request an id, and write its access record (one
/// line, no span: the id is carried by the task local and quoted by every
/// log line written on the request's behalf).
pub async fn request_context(request: Request, next: Next) -> Response {
    let id = new_request_id();
    let method = request.method().clone();
    let path = logged_path(request.uri().path());
    let started = Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let status = response.status().as_u16();
    match response.extensions_mut().remove::<ServedBy>() {
        Some(ServedBy(app)) => tracing::info!(
            request_id = %id,
            %method,
            path,
            app = %app.id,
            version = %app.version,
            status,
            latency_us,
            "served"
        ),
        None => tracing::info!(request_id = %id, %method, path, status, latency_us, "served"),
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(crate::capabilities::http::REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_record_leaves_frame_tokens_out() {
        let token = format!("cit_f_{}", "ab".repeat(32));
        assert_eq!(
            logged_path(&format!("/f/{token}/apps/maps/tiles")),
            "/f/<token>/apps/maps/tiles"
        );
        assert_eq!(logged_path(&format!("/f/{token}")), "/f/<token>");
        assert_eq!(logged_path("/apps/maps/f/x"), "/apps/maps/f/x");
    }
}
