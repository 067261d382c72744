//! The bridge between the host and the SDK's plain `Request` and `Response`:
//! through the contract's one-call `handler` (what the host uses), or through
//! wasi:http resources (under `wasmtime serve`: reads the body in full,
//! writes the response in chunks).

use crate::bindings::exports::citadel::miniapp::handler;
use crate::bindings::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method as WasiMethod, OutgoingBody, OutgoingResponse,
    ResponseOutparam,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::{Error, Method, Request, Response, Router};

/// Largest chunk `blocking-write-and-flush` accepts.
const WRITE_CHUNK: usize = 4096;
/// How much to ask for per read of the incoming body.
const READ_CHUNK: u64 = 64 * 1024;

thread_local! {
    /// The host's id of the request being served (one per instance).
    static REQUEST_ID: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The host's id of the request being served, quoted in error bodies.
pub(crate) fn current_request_id() -> Option<String> {
    REQUEST_ID.with(|id| id.borrow().clone())
}

/// Serve one request handed over whole with `router` (called by
/// [`export_app!`](crate::export_app) for the contract's `handler`).
pub fn serve_whole(router: &Router, request: handler::Request) -> handler::Response {
    let handler::Request {
        method,
        path_with_query,
        headers,
        body,
    } = request;
    let method = Method::named(method);
    let is_head = matches!(method, Method::Head);
    let mut request = Request::new(method, &path_with_query);
    for (name, value) in headers {
        request = request.with_header(&name, value);
    }
    let response = dispatch(router, request.with_body(body));
    let (status, headers, body) = response.into_parts();
    let status = if (100..=599).contains(&status) {
        status
    } else {
        500
    };
    handler::Response {
        status,
        headers: headers
            .into_iter()
            .map(|(name, value)| (name, value.into_bytes()))
            .collect(),
        body: if is_head { Vec::new() } else { body },
    }
}

/// Serve one request with `router` through wasi:http (called by
/// [`export_app!`](crate::export_app)).
pub fn serve(router: &Router, request: IncomingRequest, response_out: ResponseOutparam) {
    let method = method_of(request.method());
    let is_head = matches!(method, Method::Head);
    let response = match read_request(request, method) {
        Ok(request) => dispatch(router, request),
        Err(error) => error.into_response(),
    };
    write_response(response, is_head, response_out);
}

fn dispatch(router: &Router, request: Request) -> Response {
    let id = request.request_id().map(str::to_string);
    REQUEST_ID.with(|current| *current.borrow_mut() = id);
    router.dispatch(request)
}

fn method_of(method: WasiMethod) -> Method {
    match method {
        WasiMethod::Get => Method::Get,
        WasiMethod::Head => Method::Head,
        WasiMethod::Post => Method::Post,
        WasiMethod::Put => Method::Put,
        WasiMethod::Patch => Method::Patch,
        WasiMethod::Delete => Method::Delete,
        WasiMethod::Options => Method::Options,
        WasiMethod::Connect => Method::Other("CONNECT".into()),
        WasiMethod::Trace => Method::Other("TRACE".into()),
        WasiMethod::Other(name) => Method::Other(name),
    }
}

fn read_request(incoming: IncomingRequest, method: Method) -> Result<Request, Error> {
    let path = incoming.path_with_query().unwrap_or_else(|| "/".into());
    let mut request = Request::new(method, &path);
    for (name, value) in incoming.headers().entries() {
        request = request.with_header(&name, value);
    }
    // A GET or HEAD that declares no length carries no content (a GET body
    // has no meaning, RFC 9110 §9.3.1): not reading it saves the instance
    // five host calls on the commonest request.
    let bodiless = matches!(request.method(), Method::Get | Method::Head)
        && request.header("content-length").is_none();
    if bodiless {
        return Ok(request);
    }
    let body = incoming
        .consume()
        .map_err(|()| Error::internal("the request body was already taken"))?;
    request = request.with_body(read_body(&body)?);
    IncomingBody::finish(body);
    Ok(request)
}

fn read_body(body: &IncomingBody) -> Result<Vec<u8>, Error> {
    read_to_end(body)
        .map_err(|why| Error::bad_request(format!("the request body could not be read: {why}")))
}

/// Every byte of an incoming body (a request's here, a response's in `fetch`).
pub(crate) fn read_to_end(body: &IncomingBody) -> Result<Vec<u8>, String> {
    let stream = body
        .stream()
        .map_err(|()| "the body stream was already taken".to_string())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
}

fn write_response(response: Response, is_head: bool, response_out: ResponseOutparam) {
    let (status, headers, body) = response.into_parts();
    let mut entries: Vec<(String, Vec<u8>)> = headers
        .into_iter()
        .filter(|(name, _)| name != "content-length")
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    // The whole body is known: say its length, so clients and the host's
    // response limit see it up front. (A HEAD answer has no body to measure.)
    if !is_head {
        entries.push(("content-length".into(), body.len().to_string().into_bytes()));
    }
    let fields = Fields::from_list(&entries).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    // A status outside 100..=599 is the app's bug; answer 500 rather than trap.
    if outgoing.set_status_code(status).is_err() {
        let _ = outgoing.set_status_code(500);
    }
    let Ok(outgoing_body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(outgoing));
    if let Ok(stream) = outgoing_body.write() {
        for chunk in body.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // The citizen went away; nothing more to send.
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing_body, None);
}
