//! A wasi:http incoming handler answering "Xin chào, Huế!" to every request:
//! the comparison point for the gateway benchmark under `wasmtime serve`.

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const BODY: &[u8] = "Xin chào, Huế!".as_bytes();

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let length = BODY.len().to_string();
        let headers = Fields::from_list(&[
            (
                "content-type".to_string(),
                b"text/plain; charset=utf-8".to_vec(),
            ),
            ("content-length".to_string(), length.into_bytes()),
        ])
        .expect("valid headers");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the body is taken once");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("the stream is taken once");
        stream
            .blocking_write_and_flush(BODY)
            .expect("the body is written");
        drop(stream);
        OutgoingBody::finish(body, None).expect("the body is finished");
    }
}

wasip2::http::proxy::export!(Hello);
