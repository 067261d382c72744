//! The gateway's route table: every (method, path pattern) the host serves,
//! with who may call it. Each area adds its routes through [`Routes`], and
//! `router()` is built from nothing else, so no route exists without its row;
//! [`route_table`] hands the rows to the tests that call every one.

use crate::Citadel;
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use axum::Router;
use serde::Serialize;
use std::sync::Arc;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Anyone; no credential changes the answer (health, the shell's pages
    /// and assets, the catalogue, sign-in).
    Public,
    /// `/metrics`: anyone, or, when the host has a scrape token, only that
    /// token or an operator token.
    Metrics,
    /// A citizen session: bearer token or the shell's cookie (JSON API).
    Citizen,
    /// A page the host draws for the signed-in citizen (HTML, 401 page
    /// without a session).
    CitizenPage,
    /// A publisher API key.
    Publisher,
    /// An operator token.
    Operator,
    /// A payment provider, by the HMAC signature of its webhook; bearer
    /// credentials mean nothing here.
    Provider,
    /// A mini-app: anyone; a citizen session only tells the app who calls.
    App,
    /// A mini-app in the shell's frame: the frame token in the path, bound
    /// to one app; bearer credentials mean nothing here.
    Frame,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RouteSpec {
    /// `GET`, `POST`, `PUT`, `DELETE`, or `ANY` (every method).
    pub method: &'static str,
    /// axum's pattern: `{name}` for a segment, `{*name}` for the rest.
    pub path: &'static str,
    pub access: Access,
}

/// A router under construction that writes down every route it is given.
pub(crate) struct Routes {
    router: Router<Arc<Citadel>>,
    table: Vec<RouteSpec>,
}

type State = Arc<Citadel>;

impl Routes {
    pub(crate) fn new() -> Self {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        access: Access,
        route: MethodRouter<State>,
    ) -> Self {
        self.table.push(RouteSpec {
            method,
            path,
            access,
        });
        let credentialed = matches!(
            access,
            Access::Citizen | Access::Publisher | Access::Operator
        );
        let route = if credentialed {
            route.layer(axum::middleware::map_response(not_stored))
        } else if path.starts_with("/api/") {
            route.layer(axum::middleware::from_fn(not_stored_if_personal))
        } else {
            route
        };
        self.router = self.router.route(path, route);
        self
    }

    pub(crate) fn get<H: Handler<T, State>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.add("GET", path, access, routing::get(handler))
    }

    pub(crate) fn post<H: Handler<T, State>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.add("POST", path, access, routing::post(handler))
    }

    pub(crate) fn put<H: Handler<T, State>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.add("PUT", path, access, routing::put(handler))
    }

    pub(crate) fn patch<H: Handler<T, State>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.add("PATCH", path, access, routing::patch(handler))
    }

    pub(crate) fn delete<H: Handler<T, State>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.add("DELETE", path, access, routing::delete(handler))
    }

    pub(crate) fn any<H: Handler<T, State>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.add("ANY", path, access, routing::any(handler))
    }

    /// The router and its table.
    pub(crate) fn finish(self) -> (Router<State>, Vec<RouteSpec>) {
        (self.router, self.table)
    }
}

/// An answer to a credential (a citizen's own data, a publisher's or the
/// operator's) is stored by no cache, unless its handler said otherwise.
async fn not_stored(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
}

/// A public API answer is the same for anyone — the catalogue the shell keeps
/// for offline use — unless the request carried a credential (a session, a
/// bearer token) or changes something (a sign-in answers with a token): then
/// it is stored by no cache either.
async fn not_stored_if_personal(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, Method};
    let personal = request.headers().contains_key(header::AUTHORIZATION)
        || request.headers().contains_key(header::COOKIE)
        || !matches!(*request.method(), Method::GET | Method::HEAD);
    let response = next.run(request).await;
    if personal {
        not_stored(response).await
    } else {
        response
    }
}

/// Every route the gateway serves, as `router()` registers them.
pub fn route_table() -> Vec<RouteSpec> {
    super::routes().finish().1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only this file registers routes: an area that called axum's
    /// `.route(…)`, `.nest(…)` or `.merge(…)` itself would serve a path the
    /// table (and so the authorization tests) does not know.
    #[test]
    fn no_route_bypasses_the_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gateway");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("the gateway sources") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("routes.rs") {
                continue;
            }
            let source: String = std::fs::read_to_string(&path)
                .expect("a readable source")
                .split_whitespace()
                .collect();
            for call in [
                ".route(\"",
                ".route_service(",
                ".nest(",
                ".nest_service(",
                ".merge(",
                "Router::new(",
            ] {
                assert!(
                    !source.contains(call),
                    "{} calls `{call}`: add routes through `Routes` so the table lists them",
                    path.display()
                );
            }
            checked += 1;
        }
        assert!(checked >= 8, "the gateway's sources were found");
    }

    /// The gateway is HTTP in and out only: it reaches the store through
    /// the registry, identity and payments, never itself (see `lib.rs`).
    #[test]
    fn the_gateway_never_touches_the_store() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gateway");
        // Built here, so this file does not match itself.
        let forbidden = [
            ["citadel", ".", "store"].concat(),
            ["crate::", "store"].concat(),
        ];
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("the gateway sources") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source: String = std::fs::read_to_string(&path)
                .expect("a readable source")
                .split_whitespace()
                .collect();
            for needle in &forbidden {
                assert!(
                    !source.contains(needle.as_str()),
                    "{} uses `{needle}`: go through the registry, identity or payments",
                    path.display()
                );
            }
            checked += 1;
        }
        assert!(checked >= 8, "the gateway's sources were found");
    }

    #[test]
    fn the_table_has_no_duplicate_and_every_area() {
        let table = route_table();
        let mut seen = std::collections::HashSet::new();
        for row in &table {
            assert!(
                seen.insert((row.method, row.path)),
                "{} {} twice",
                row.method,
                row.path
            );
            assert!(row.path.starts_with('/'), "{}", row.path);
        }
        for access in [
            Access::Public,
            Access::Metrics,
            Access::Citizen,
            Access::CitizenPage,
            Access::Publisher,
            Access::Operator,
            Access::Provider,
            Access::App,
            Access::Frame,
        ] {
            assert!(table.iter().any(|r| r.access == access), "{access:?}");
        }
        // Every `/api/v1/operator/` route needs an operator, every
        // `/api/v1/publisher/` route a publisher, every `/api/v1/me` route a
        // citizen: the prefix and the row agree.
        for row in &table {
            let wanted = if row.path.starts_with("/api/v1/operator/") {
                Some(Access::Operator)
            } else if row.path.starts_with("/api/v1/publisher/") {
                Some(Access::Publisher)
            } else if row.path == "/api/v1/me" || row.path.starts_with("/api/v1/me/") {
                Some(Access::Citizen)
            } else {
                None
            };
            if let Some(wanted) = wanted {
                assert_eq!(row.access, wanted, "{} {}", row.method, row.path);
            }
        }
    }
}
