//! Plain request and response values a handler works with, independent of
//! the wasi:http resources (see `serve.rs` for the conversion).

use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// An HTTP method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    /// Any other method, as sent.
    Other(String),
}

impl Method {
    /// The method's name as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(name) => name,
        }
    }

    /// The method a wire name names (the inverse of [`Method::as_str`]).
    pub fn named(name: String) -> Method {
        match name.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other(name),
        }
    }
}

/// An incoming request, with its body read in full.
///
/// The host has already removed the citizen's credentials (`Authorization`,
/// cookies) and added `x-citadel-request-id` and `x-citadel-base-path`.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    params: Vec<(String, String)>,
}

impl Request {
    /// Build a request (the SDK does this for you; useful in unit tests).
    pub fn new(method: Method, path_with_query: &str) -> Self {
        let (path, query) = match path_with_query.split_once('?') {
            Some((path, query)) => (path, query),
            None => (path_with_query, ""),
        };
        Request {
            method,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            query: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
            params: Vec::new(),
        }
    }

    /// Add a header (lower-cased name).
    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Set the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path inside the app, always starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string, without `?`.
    pub fn query_string(&self) -> &str {
        &self.query
    }

    /// The first query parameter called `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The first header called `name` (case-insensitive) if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// All headers, names lower-cased.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.body).map_err(|_| Error::bad_request("the body is not UTF-8"))
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(Error::from)
    }

    /// The body parsed as an HTML form (`application/x-www-form-urlencoded`).
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// A path parameter captured by the route pattern (`:name` or `*name`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The host's id for this request, to quote in logs and support requests.
    pub fn request_id(&self) -> Option<&str> {
        self.header("x-citadel-request-id")
    }

    /// The signed-in citizen as this app knows them: a pairwise id, stable
    /// for this app and different in every other app. `None` if anonymous.
    pub fn citizen(&self) -> Option<&str> {
        self.header("x-citadel-citizen")
    }

    /// The citizen's preferred language (`vi` or `en`), if signed in.
    pub fn locale(&self) -> Option<&str> {
        self.header("x-citadel-locale")
    }

    /// The language to answer in: `en` if the query says `lang=en` or the
    /// citizen prefers English, `vi` otherwise (Vietnamese is the default).
    pub fn lang(&self) -> &'static str {
        match self.query("lang").as_deref().or(self.locale()) {
            Some("en") => "en",
            _ => "vi",
        }
    }

    /// A link to `path` inside this app (under [`Request::base_path`], so it
    /// stays in the shell's frame), with `query` pairs percent-encoded
    /// (empty values left out) and an explicit `?lang=` kept. Not yet
    /// HTML-escaped.
    pub fn link(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut pairs: Vec<String> = query
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| format!("{key}={}", crate::html::encode(value)))
            .collect();
        if let Some(lang) = self.query("lang").filter(|l| l == "en" || l == "vi") {
            pairs.push(format!("lang={lang}"));
        }
        let mut url = format!("{}{path}", self.base_path());
        if !pairs.is_empty() {
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        url
    }

    /// This page in `lang`: the same path and query, `lang` replaced.
    pub fn in_language(&self, lang: &str) -> String {
        let mut query: Vec<&str> = self
            .query_string()
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.starts_with("lang="))
            .collect();
        let switch = format!("lang={}", crate::html::encode(lang));
        query.push(&switch);
        format!("{}{}?{}", self.base_path(), self.path(), query.join("&"))
    }

    /// Where the gateway mounts this app (`/apps/{id}`), for building absolute links.
    pub fn base_path(&self) -> &str {
        self.header("x-citadel-base-path").unwrap_or("")
    }

    pub(crate) fn set_params(&mut self, params: Vec<(String, String)>) {
        self.params = params;
    }
}

/// An outgoing response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 200 with a UTF-8 plain-text body.
    pub fn text(body: impl Into<String>) -> Self {
        Response::new(200)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into())
    }

    /// 200 with an HTML body.
    pub fn html(body: impl Into<String>) -> Self {
        Response::new(200)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_body(body.into())
    }

    /// 200 with `value` serialised as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::internal(format!("could not serialise the response: {e}")))?;
        Ok(Response::new(200)
            .with_header("content-type", "application/json")
            .with_body(body))
    }

    /// 303 See Other to `location` (after a form post).
    pub fn redirect(location: &str) -> Self {
        Response::new(303).with_header("location", location)
    }

    /// Change the status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Add a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Replace the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub(crate) fn into_parts(self) -> (u16, Vec<(String, String)>, Vec<u8>) {
        (self.status, self.headers, self.body)
    }
}
