//! `contract-v1-0`: a visit counter built against the frozen 1.0.0 WIT with
//! bare wit-bindgen (no SDK), proving that components built for 1.0.0 keep
//! running unchanged on a host that provides a later 1.x contract.

wit_bindgen::generate!({
    path: "wit",
    world: "citadel:miniapp/miniapp@1.0.0",
    generate_all,
});

use citadel::miniapp::kv;
use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Counter;

impl Guest for Counter {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let (status, text) = match count_visit() {
            Ok(visits) => (200, format!("visits: {visits}")),
            Err(e) => (500, format!("kv failed: {e:?}")),
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
