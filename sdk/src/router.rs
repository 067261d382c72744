//! Routing by method and path pattern. Patterns are literal segments,
//! `:name` (one segment) and a final `*name` (the rest of the path).

use crate::{Error, Method, Request, Response, Result};

type Handler = Box<dyn Fn(&Request) -> Result<Response>>;

enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

struct Route {
    method: Method,
    segments: Vec<Segment>,
    handler: Handler,
}

/// Routes requests to handlers; unknown paths get a JSON 404, known paths
/// with another method a JSON 405 with `Allow`.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Route `method` + `pattern` to `handler`. Earlier routes win.
    ///
    /// # Panics
    /// If `pattern` does not start with `/` or puts `*name` anywhere but last:
    /// that is a programming error in the app, caught by its first test.
    pub fn route(
        mut self,
        method: Method,
        pattern: &str,
        handler: impl Fn(&Request) -> Result<Response> + 'static,
    ) -> Self {
        self.routes.push(Route {
            method,
            segments: parse_pattern(pattern),
            handler: Box::new(handler),
        });
        self
    }

    /// Route a GET (HEAD is answered by GET routes too).
    pub fn get(self, pattern: &str, h: impl Fn(&Request) -> Result<Response> + 'static) -> Self {
        self.route(Method::Get, pattern, h)
    }

    /// Route a POST.
    pub fn post(self, pattern: &str, h: impl Fn(&Request) -> Result<Response> + 'static) -> Self {
        self.route(Method::Post, pattern, h)
    }

    /// Route a PUT.
    pub fn put(self, pattern: &str, h: impl Fn(&Request) -> Result<Response> + 'static) -> Self {
        self.route(Method::Put, pattern, h)
    }

    /// Route a PATCH.
    pub fn patch(self, pattern: &str, h: impl Fn(&Request) -> Result<Response> + 'static) -> Self {
        self.route(Method::Patch, pattern, h)
    }

    /// Route a DELETE.
    pub fn delete(self, pattern: &str, h: impl Fn(&Request) -> Result<Response> + 'static) -> Self {
        self.route(Method::Delete, pattern, h)
    }

    /// Answer `request`: the matching handler's response, or a JSON error.
    pub fn dispatch(&self, mut request: Request) -> Response {
        let mut allowed: Vec<&str> = Vec::new();
        for route in &self.routes {
            let Some(params) = match_path(&route.segments, request.path()) else {
                continue;
            };
            let method_matches = route.method == *request.method()
                || (route.method == Method::Get && *request.method() == Method::Head);
            if !method_matches {
                allowed.push(route.method.as_str());
                continue;
            }
            request.set_params(params);
            let response = (route.handler)(&request).unwrap_or_else(Error::into_response);
            return if *request.method() == Method::Head {
                response.with_body(Vec::new())
            } else {
                response
            };
        }
        if allowed.is_empty() {
            Error::not_found(format!("no route for {}", request.path())).into_response()
        } else {
            allowed.dedup();
            Error::new(
                405,
                "method_not_allowed",
                format!("{} is not allowed here", request.method().as_str()),
            )
            .into_response()
            .with_header("allow", &allowed.join(", "))
        }
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    assert!(
        pattern.starts_with('/'),
        "route pattern `{pattern}` must start with `/`"
    );
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if let Some(name) = part.strip_prefix(':') {
                Segment::Param(name.to_string())
            } else if let Some(name) = part.strip_prefix('*') {
                assert!(i + 1 == parts.len(), "`*{name}` must end `{pattern}`");
                Segment::Rest(name.to_string())
            } else {
                Segment::Literal(part.to_string())
            }
        })
        .collect()
}

fn match_path(segments: &[Segment], path: &str) -> Option<Vec<(String, String)>> {
    let trimmed = path.trim_start_matches('/');
    let parts: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.trim_end_matches('/').split('/').collect()
    };
    let mut params = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Literal(literal) => {
                if parts.get(i) != Some(&literal.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => {
                let value = parts.get(i).filter(|v| !v.is_empty())?;
                params.push((name.clone(), percent_decode(value)));
            }
            Segment::Rest(name) => {
                params.push((
                    name.clone(),
                    percent_decode(&parts[i.min(parts.len())..].join("/")),
                ));
                return Some(params);
            }
        }
    }
    (parts.len() == segments.len()).then_some(params)
}

fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Router {
        Router::new()
            .get("/", |_| Ok(Response::text("home")))
            .get("/notes/:id", |r| {
                Ok(Response::text(r.param("id").unwrap_or("?")))
            })
            .post("/notes", |r| {
                Ok(Response::text(r.text()?.to_string()).with_status(201))
            })
            .get("/files/*rest", |r| {
                Ok(Response::text(r.param("rest").unwrap_or("?")))
            })
            .get("/fail", |_| Err(Error::conflict("already done")))
    }

    fn body(resp: &Response) -> &str {
        std::str::from_utf8(resp.body()).unwrap()
    }

    #[test]
    fn routes_by_method_and_pattern() {
        let router = app();
        assert_eq!(
            body(&router.dispatch(Request::new(Method::Get, "/"))),
            "home"
        );
        let resp = router.dispatch(Request::new(Method::Get, "/notes/ph%E1%BA%A3n-%C3%A1nh"));
        assert_eq!(body(&resp), "phản-ánh");
        let resp = router.dispatch(Request::new(Method::Post, "/notes").with_body("hi"));
        assert_eq!((resp.status(), body(&resp)), (201, "hi"));
        let resp = router.dispatch(Request::new(Method::Get, "/files/a/b/c.txt"));
        assert_eq!(body(&resp), "a/b/c.txt");
    }

    #[test]
    fn unknown_path_is_json_404_and_wrong_method_is_405() {
        let router = app();
        let resp = router.dispatch(Request::new(Method::Get, "/nope"));
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let resp = router.dispatch(Request::new(Method::Delete, "/notes"));
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.header("allow"), Some("POST"));
        // A trailing slash is ignored, so `/notes/` is `/notes` (POST only);
        // an empty `:id` never matches.
        let resp = router.dispatch(Request::new(Method::Get, "/notes/"));
        assert_eq!(resp.status(), 405);
    }

    #[test]
    fn handler_errors_become_json_and_head_has_no_body() {
        let router = app();
        let resp = router.dispatch(Request::new(Method::Get, "/fail"));
        assert_eq!(resp.status(), 409);
        let json: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(json["error"]["code"], "conflict");
        let resp = router.dispatch(Request::new(Method::Head, "/"));
        assert_eq!((resp.status(), resp.body().len()), (200, 0));
    }

    #[test]
    fn query_and_form_are_decoded() {
        let req = Request::new(Method::Get, "/search?q=thi%C3%AAn+m%E1%BB%A5&page=2");
        assert_eq!(req.query("q").as_deref(), Some("thiên mụ"));
        assert_eq!(req.query("page").as_deref(), Some("2"));
        assert_eq!(req.query("missing"), None);
        let req = Request::new(Method::Post, "/").with_body("title=H%E1%BB%93&body=a+b");
        assert_eq!(
            req.form(),
            vec![("title".into(), "Hồ".into()), ("body".into(), "a b".into())]
        );
    }
}
