//! Outbound HTTP through `wasi:http/outgoing-handler`, to the origins the
//! app's `http:` capabilities name. The host checks every request (and so
//! every redirect hop, which this client follows as a new request) against
//! the granted origins and refuses private and loopback addresses.

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method as WasiMethod, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::{Error, Method};

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;
const WRITE_CHUNK: usize = 4096;

/// Why an outbound request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The host refused it: the origin is not granted, or it resolves to an
    /// address no app may reach.
    Denied,
    /// The URL is not an absolute `http` or `https` URL.
    InvalidUrl(String),
    /// More than five redirects.
    TooManyRedirects,
    /// The request failed on the way (DNS, connection, TLS, protocol).
    Failed(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Denied => write!(f, "the host denied the request"),
            FetchError::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            FetchError::TooManyRedirects => write!(f, "too many redirects"),
            FetchError::Failed(why) => write!(f, "the request failed: {why}"),
        }
    }
}

impl std::error::Error for FetchError {}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        Error::new(502, "upstream_failed", e.to_string())
    }
}

fn failed(code: ErrorCode) -> FetchError {
    match code {
        ErrorCode::HttpRequestDenied => FetchError::Denied,
        other => FetchError::Failed(format!("{other:?}")),
    }
}

/// A response from another server, body read in full.
#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The URL that answered, after redirects.
    pub url: String,
}

impl FetchResponse {
    /// A header's value as text (first one, name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                502,
                "upstream_invalid",
                format!("the upstream answer is not valid JSON: {e}"),
            )
        })
    }
}

/// `GET url`, following redirects.
pub fn get(url: &str) -> Result<FetchResponse, FetchError> {
    send(Method::Get, url, &[], &[])
}

/// Send a request, following redirects (a 303, or a 301/302 answer to a
/// POST, continues as a GET without body, as browsers do).
pub fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<FetchResponse, FetchError> {
    let mut method = method;
    let mut url = url.to_string();
    let mut body = body.to_vec();
    for _ in 0..=MAX_REDIRECTS {
        let response = send_once(&method, &url, headers, &body)?;
        let location = match response.status {
            301 | 302 | 303 | 307 | 308 => response.header("location").map(str::to_string),
            _ => None,
        };
        let Some(location) = location else {
            return Ok(response);
        };
        if response.status == 303
            || (matches!(response.status, 301 | 302) && method == Method::Post)
        {
            method = Method::Get;
            body.clear();
        }
        url = resolve(&url, &location)?;
    }
    Err(FetchError::TooManyRedirects)
}

struct Parts<'a> {
    scheme: Scheme,
    authority: &'a str,
    path_and_query: &'a str,
}

fn parse(url: &str) -> Result<Parts<'_>, FetchError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| FetchError::InvalidUrl(format!("`{url}` is not absolute")))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => {
            return Err(FetchError::InvalidUrl(format!(
                "scheme `{other}` is not http(s)"
            )))
        }
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(split);
    if authority.is_empty() || authority.contains('@') {
        return Err(FetchError::InvalidUrl(format!("`{url}` has no valid host")));
    }
    Ok(Parts {
        scheme,
        authority,
        path_and_query: if path_and_query.is_empty() {
            "/"
        } else {
            path_and_query
        },
    })
}

/// The absolute URL of a `Location` relative to `base`.
fn resolve(base: &str, location: &str) -> Result<String, FetchError> {
    if location.contains("://") {
        return Ok(location.to_string());
    }
    let parts = parse(base)?;
    let scheme = match parts.scheme {
        Scheme::Http => "http",
        _ => "https",
    };
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{rest}"));
    }
    if location.starts_with('/') {
        return Ok(format!("{scheme}://{}{location}", parts.authority));
    }
    let path = parts.path_and_query.split('?').next().unwrap_or("/");
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Ok(format!("{scheme}://{}{dir}{location}", parts.authority))
}

fn wasi_method(method: &Method) -> WasiMethod {
    match method {
        Method::Get => WasiMethod::Get,
        Method::Head => WasiMethod::Head,
        Method::Post => WasiMethod::Post,
        Method::Put => WasiMethod::Put,
        Method::Patch => WasiMethod::Patch,
        Method::Delete => WasiMethod::Delete,
        Method::Options => WasiMethod::Options,
        Method::Other(name) => WasiMethod::Other(name.clone()),
    }
}

fn send_once(
    method: &Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<FetchResponse, FetchError> {
    let parts = parse(url)?;
    let entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&entries)
        .map_err(|e| FetchError::InvalidUrl(format!("a header is not acceptable: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let invalid =
        |what: &str| FetchError::InvalidUrl(format!("the {what} of `{url}` is not valid"));
    request
        .set_method(&wasi_method(method))
        .map_err(|()| invalid("method"))?;
    request
        .set_scheme(Some(&parts.scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(parts.authority))
        .map_err(|()| invalid("host"))?;
    request
        .set_path_with_query(Some(parts.path_and_query))
        .map_err(|()| invalid("path"))?;
    let outgoing_body = request
        .body()
        .map_err(|()| FetchError::Failed("the request body was already taken".into()))?;
    let pending = outgoing_handler::handle(request, None).map_err(failed)?;
    {
        let stream = outgoing_body
            .write()
            .map_err(|()| FetchError::Failed("the request body stream was already taken".into()))?;
        for chunk in body.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| FetchError::Failed(format!("writing the body failed: {e:?}")))?;
        }
    }
    OutgoingBody::finish(outgoing_body, None).map_err(failed)?;
    let incoming = loop {
        match pending.get() {
            Some(result) => {
                break result
                    .map_err(|()| FetchError::Failed("the response was already taken".into()))?
                    .map_err(failed)?
            }
            None => pending.subscribe().block(),
        }
    };
    let status = incoming.status();
    let headers = incoming.headers().entries();
    let body = incoming
        .consume()
        .map_err(|()| FetchError::Failed("the response body was already taken".into()))?;
    let bytes = crate::serve::read_to_end(&body)
        .map_err(|why| FetchError::Failed(format!("reading the response failed: {why}")))?;
    IncomingBody::finish(body);
    Ok(FetchResponse {
        status,
        headers,
        body: bytes,
        url: url.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_current_url() {
        let base = "https://api.hue.gov.vn/v1/items?page=2";
        assert_eq!(
            resolve(base, "/login").unwrap(),
            "https://api.hue.gov.vn/login"
        );
        assert_eq!(
            resolve(base, "next").unwrap(),
            "https://api.hue.gov.vn/v1/next"
        );
        assert_eq!(
            resolve(base, "//cdn.hue.gov.vn/x").unwrap(),
            "https://cdn.hue.gov.vn/x"
        );
        assert_eq!(
            resolve(base, "http://127.0.0.1/").unwrap(),
            "http://127.0.0.1/"
        );
    }
}
