//! Serving a request in one call: the contract's `handler` export (since
//! 1.5.0), which takes the whole request and gives back the whole answer.
//! Owns finding the export, the request record and checking the answer.

use super::{InvokeError, PrepareError, RequestState, MAX_FIELDS_BYTES};
use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        inline: "package citadel:host;
                 world served { export citadel:miniapp/handler@1.5.0; }",
        world: "citadel:host/served",
        exports: { default: async },
    });
}

use bindings::exports::citadel::miniapp::handler::Response;
pub use bindings::exports::citadel::miniapp::handler::{GuestIndices as HandlerIndices, Request};

/// The export's name; a component built against a later 1.x matches it too
/// (wasmtime looks export names up semver-compatibly).
pub const HANDLER_EXPORT: &str = "citadel:miniapp/handler@1.5.0";

/// Where `pre`'s component exports `handler`: `None` for a component built
/// before 1.5.0 (served through wasi:http); refused when it exports the
/// interface without `handle` or with `handle` of another type, so a
/// mistyped export fails its upload rather than each of its requests.
pub fn find(
    component: &Component,
    pre: &InstancePre<RequestState>,
) -> Result<Option<HandlerIndices>, PrepareError> {
    let Some(interface) = component.get_export_index(None, HANDLER_EXPORT) else {
        return Ok(None);
    };
    let mismatch = |why: String| {
        PrepareError::Link(format!(
            "the component's export {HANDLER_EXPORT} does not match the contract: {why}"
        ))
    };
    match component.get_export(Some(&interface), "handle") {
        Some((ComponentItem::ComponentFunc(handle), _)) => handle
            .typecheck::<(Request,), (Response,)>(&pre.instance_type())
            .map_err(|e| mismatch(format!("`handle` has another type: {e:#}")))?,
        Some(_) => return Err(mismatch("`handle` is not a function".into())),
        None => return Err(mismatch("it has no `handle`".into())),
    }
    HandlerIndices::new(pre)
        .map(Some)
        .map_err(|e| mismatch(format!("{e:#}")))
}

/// Serve `request` with a fresh instance from `pre` in `store`.
pub async fn call(
    pre: &InstancePre<RequestState>,
    handler: &HandlerIndices,
    store: &mut wasmtime::Store<RequestState>,
    request: &Request,
) -> wasmtime::Result<Response> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let handler = handler.load(&mut *store, &instance)?;
    handler.call_handle(&mut *store, request).await
}

/// The request record the guest is handed: what the gateway passes on.
pub fn request(parts: &http::request::Parts, body: Bytes) -> Request {
    Request {
        method: parts.method.as_str().to_string(),
        path_with_query: parts
            .uri
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
            .collect(),
        body: body.into(),
    }
}

/// The guest's answer as an HTTP response, after the checks wasi:http's
/// resources make: a status within 100-599, valid header names and values
/// of at most [`MAX_FIELDS_BYTES`] in all, a body within `max_body`;
/// `content-length` is the host's to set (none on an answer to HEAD, whose
/// body is not sent).
pub fn response(
    answer: Response,
    is_head: bool,
    max_body: u64,
) -> Result<http::Response<HyperOutgoingBody>, InvokeError> {
    let Response {
        status,
        headers,
        body,
    } = answer;
    if body.len() as u64 > max_body {
        return Err(InvokeError::ResponseTooLarge(max_body));
    }
    let status = http::StatusCode::from_u16(status)
        .ok()
        .filter(|status| status.as_u16() <= 599)
        .ok_or_else(|| InvokeError::InvalidAnswer(format!("status {status} is not 100-599")))?;
    let mut response = http::Response::builder().status(status);
    let map = response
        .headers_mut()
        .ok_or_else(|| InvokeError::InvalidAnswer("the response could not be built".into()))?;
    map.reserve(headers.len() + 1);
    let mut header_bytes = 0;
    for (name, value) in headers {
        header_bytes += name.len() + value.len();
        if header_bytes > MAX_FIELDS_BYTES {
            return Err(InvokeError::InvalidAnswer(format!(
                "its headers take more than {MAX_FIELDS_BYTES} bytes"
            )));
        }
        let header = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| InvokeError::InvalidAnswer(format!("{name:?} is not a header name")))?;
        if header == http::header::CONTENT_LENGTH {
            continue;
        }
        let value = http::HeaderValue::from_bytes(&value).map_err(|_| {
            InvokeError::InvalidAnswer(format!("the value of {name:?} is not a header value"))
        })?;
        map.append(header, value);
    }
    if !is_head {
        map.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
    }
    let body = http_body_util::Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    response
        .body(body)
        .map_err(|e| InvokeError::InvalidAnswer(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &[u8])], body: &[u8]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_vec()))
                .collect(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn an_answer_becomes_a_response_whose_length_the_host_sets() {
        let guest = answer(
            201,
            &[
                ("content-type", b"text/plain"),
                ("content-length", b"999"),
                ("x-one", b"a"),
                ("x-one", b"b"),
            ],
            b"xin chao",
        );
        let response = response(guest, false, 1024).expect("a valid answer");
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["content-length"], "8");
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(response.headers().get_all("x-one").iter().count(), 2);
    }

    #[test]
    fn an_answer_to_head_announces_no_length() {
        let response = response(answer(200, &[], b""), true, 1024).expect("valid");
        assert!(response.headers().get("content-length").is_none());
    }

    #[test]
    fn a_hostile_answer_is_refused_not_passed_on() {
        let refused = [
            answer(99, &[], b""),
            answer(600, &[], b""),
            answer(1000, &[], b""),
            answer(200, &[("bad name", b"x")], b""),
            answer(200, &[("", b"x")], b""),
            answer(200, &[("x-split", b"a\r\nset-cookie: stolen=1")], b""),
            answer(200, &[("x-hoard", &[b'a'; MAX_FIELDS_BYTES])], b""),
        ];
        for guest in refused {
            let error = response(guest, false, 1024).expect_err("refused");
            assert!(matches!(error, InvokeError::InvalidAnswer(_)), "{error}");
        }
        let too_large = response(answer(200, &[], &[0; 1025]), false, 1024);
        assert!(matches!(
            too_large,
            Err(InvokeError::ResponseTooLarge(1024))
        ));
    }

    #[test]
    fn the_guest_is_handed_the_request_as_the_gateway_passes_it() {
        let (parts, ()) = http::Request::post("http://app.local/notes/7?full=1")
            .header("content-type", "application/json")
            .header("accept", "a")
            .header("accept", "b")
            .body(())
            .expect("a request")
            .into_parts();
        let record = request(&parts, Bytes::from_static(b"{}"));
        assert_eq!(record.method, "POST");
        assert_eq!(record.path_with_query, "/notes/7?full=1");
        assert_eq!(record.body, b"{}");
        let accepts: Vec<_> = record
            .headers
            .iter()
            .filter(|(name, _)| name == "accept")
            .collect();
        assert_eq!(accepts.len(), 2);
    }

    /// What `find` makes of a component exporting `handler` as `exports`.
    fn found(exports: &str) -> Result<Option<HandlerIndices>, PrepareError> {
        let engine = wasmtime::Engine::default();
        let wat = format!(
            r#"(component
                (core module $m
                    (func (export "takes-a-number") (param i32))
                    (func (export "gives-a-number") (result i32) i32.const 0))
                (core instance $i (instantiate $m))
                (func $takes-a-number (param "n" u32) (canon lift (core func $i "takes-a-number")))
                (func $gives-a-number (result u32) (canon lift (core func $i "gives-a-number")))
                {exports})"#
        );
        let component = Component::new(&engine, wat).expect("a component");
        let pre = wasmtime::component::Linker::<RequestState>::new(&engine)
            .instantiate_pre(&component)
            .expect("no imports to link");
        find(&component, &pre)
    }

    #[test]
    fn a_component_without_the_handler_is_served_through_wasi_http() {
        assert!(found("").expect("no handler is no error").is_none());
    }

    #[test]
    fn a_mistyped_handler_is_refused_when_the_component_is_prepared() {
        let mistyped = [
            (
                r#"(instance $h (export "handle" (func $takes-a-number)))"#,
                "another type",
            ),
            (
                r#"(instance $h (export "handle" (func $gives-a-number)))"#,
                "another type",
            ),
            (
                r#"(instance $h (export "serve" (func $takes-a-number)))"#,
                "no `handle`",
            ),
            (
                r#"(instance $empty) (instance $h (export "handle" (instance $empty)))"#,
                "not a function",
            ),
        ];
        for (instance, why) in mistyped {
            let exports = format!(r#"{instance} (export "{HANDLER_EXPORT}" (instance $h))"#);
            match found(&exports) {
                Err(PrepareError::Link(message)) => {
                    assert!(message.contains(why), "{instance}: {message}")
                }
                other => panic!("{instance}: {:?}", other.map(|found| found.is_some())),
            }
        }
    }
}
