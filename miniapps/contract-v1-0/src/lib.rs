//! `contract-v1-0`: a visit counter built against the frozen 1.0.0 WIT with
//! bare wit-bindgen (no SDK), proving that components built for 1.0.0 keep
//! running unchanged on a host that provides a later 1.x contract. At
//! `/where` it answers the address the host says its request came to.

wit_bindgen::generate!({
    path: "wit",
    world: "citadel:miniapp/miniapp@1.0.0",
    generate_all,
});

use citadel::miniapp::kv;
use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam, Scheme,
};

struct Counter;

impl Guest for Counter {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, text) = if path == "/where" {
            (200, address(&request, &path))
        } else {
            match count_visit() {
                Ok(visits) => (200, format!("visits: {visits}")),
                Err(e) => (500, format!("kv failed: {e:?}")),
            }
        };
        let headers = Fields::from_list(&[(
            "content-type".to_string(),
            b"text/plain; charset=utf-8".to_vec(),
        )])
        .unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(status);
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = body.write() {
            let _ = stream.blocking_write_and_flush(text.as_bytes());
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

/// `scheme://authority/path` as the host gives them.
fn address(request: &IncomingRequest, path: &str) -> String {
    let scheme = match request.scheme() {
        Some(Scheme::Http) => "http".to_string(),
        Some(Scheme::Https) => "https".to_string(),
        Some(Scheme::Other(other)) => other,
        None => "none".to_string(),
    };
    let authority = request.authority().unwrap_or_default();
    format!("{scheme}://{authority}{path}")
}

fn count_visit() -> Result<u64, kv::KvError> {
    let visits = kv::get("visits")?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    kv::set("visits", visits.to_string().as_bytes())?;
    Ok(visits)
}

export!(Counter);
