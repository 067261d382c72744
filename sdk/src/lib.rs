//! # citadel-sdk — write a Citadel mini-app in a few dozen lines
//!
//! A Citadel mini-app is a WebAssembly component (target `wasm32-wasip2`)
//! that serves HTTP through the contract's one-call `handler` export (and,
//! unless built with `export_app!(router, citadel_only)`, the standard
//! `wasi:http/incoming-handler` too) and reaches the city's platform only
//! through capability-checked host calls (the WIT contract lives in
//! `sdk/wit/`, package `citadel:miniapp`).
//!
//! This crate wraps the generated bindings in a small, idiomatic API:
//!
//! - [`Router`]: routes by method and path pattern (`/notes/:id`, `/files/*rest`);
//! - [`Request`] and [`Response`]: query, form and JSON helpers;
//! - [`Error`]: a typed error every handler can return with `?`, rendered as
//!   the same JSON error shape the host uses;
//! - [`kv`] (app-wide and [`kv::citizen`]), [`identity`], [`notify`],
//!   [`payments`], [`geo`], [`location`], [`fetch`] and [`log`]: the
//!   platform's host calls;
//! - [`time`]: dates and times in Huế's zone, written `dd/mm/yyyy HH:MM`
//!   (the [`jiff`] crate, re-exported).
//!
//! ## A complete mini-app
//!
//! ```no_run
//! use citadel_sdk::{kv, Request, Response, Result, Router};
//!
//! fn router() -> Router {
//!     Router::new()
//!         .get("/", |_req: &Request| Ok(Response::text("Xin chào, Huế!")))
//!         .post("/visits", count_visit)
//! }
//!
//! fn count_visit(_req: &Request) -> Result<Response> {
//!     let visits: u64 = kv::get_json("visits")?.unwrap_or(0) + 1;
//!     kv::set_json("visits", &visits)?;
//!     Response::json(&serde_json::json!({ "visits": visits }))
//! }
//!
//! citadel_sdk::export_app!(router);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`, then
//! declare it in a manifest (see `manifests/` in the Citadel repository).
//!
//! A fresh instance serves every request: keep state in [`kv`], never in
//! statics.

mod error;
pub mod fetch;
mod form;
pub mod geo;
pub mod html;
mod http;
pub mod identity;
pub mod ids;
pub mod kv;
pub mod location;
pub mod log;
pub mod map;
mod multipart;
pub mod notify;
pub mod payments;
mod router;
mod serve;
pub mod time;

/// The raw bindings generated from the WIT contract (its `citadel-only`
/// world). Prefer the wrappers.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "citadel:miniapp/citadel-only",
        pub_export_macro: true,
        export_macro_name: "__export_citadel_only",
        default_bindings_module: "citadel_sdk::bindings",
        generate_all,
    });
}

/// The `wasi:http/incoming-handler` export, which the contract's `miniapp`
/// world adds to `citadel-only`: generated apart so that an app exporting
/// `handler` alone does not carry it. Its types are those of [`bindings`].
#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod wasi_http_export {
    wit_bindgen::generate!({
        path: "wit",
        inline: "package citadel:sdk;
                 world wasi-http-export { export wasi:http/incoming-handler@0.2.12; }",
        world: "citadel:sdk/wasi-http-export",
        pub_export_macro: true,
        export_macro_name: "__export_wasi_http",
        default_bindings_module: "citadel_sdk::wasi_http_export",
        with: {
            "wasi:http/types@0.2.12": crate::bindings::wasi::http::types,
            "wasi:io/streams@0.2.12": crate::bindings::wasi::io::streams,
            "wasi:io/error@0.2.12": crate::bindings::wasi::io::error,
            "wasi:io/poll@0.2.12": crate::bindings::wasi::io::poll,
            "wasi:clocks/monotonic-clock@0.2.12": crate::bindings::wasi::clocks::monotonic_clock,
        },
    });
}

pub use error::{Error, Result};
pub use form::Form;
pub use http::{Method, Request, Response};
pub use multipart::Part;
pub use router::Router;
#[doc(hidden)]
pub use serve::{serve, serve_whole};
pub use time::jiff;

/// The contract version this SDK was built against.
pub const CONTRACT_VERSION: &str = "1.5.0";

/// Export a router-building function as the mini-app's HTTP handler.
///
/// `$router` is a function `fn() -> Router`; it is called once per request,
/// since every request gets a fresh instance.
///
/// `export_app!(router)` exports the contract's `handler` and the standard
/// `wasi:http/incoming-handler`, so the component also runs under
/// `wasmtime serve` (world `miniapp`). `export_app!(router, citadel_only)`
/// exports `handler` alone (world `citadel-only`): the component leaves out
/// the wasi:http calls that export needs, and each request's instance starts
/// faster on a Citadel host, which is then the only place it runs.
#[macro_export]
macro_rules! export_app {
    ($router:path) => {
        $crate::export_app!($router, citadel_only);

        impl $crate::wasi_http_export::exports::wasi::http::incoming_handler::Guest
            for CitadelMiniApp
        {
            fn handle(
                request: $crate::bindings::wasi::http::types::IncomingRequest,
                response_out: $crate::bindings::wasi::http::types::ResponseOutparam,
            ) {
                $crate::serve(&$router(), request, response_out)
            }
        }

        $crate::wasi_http_export::__export_wasi_http!(
            CitadelMiniApp with_types_in $crate::wasi_http_export
        );
    };
    ($router:path, citadel_only) => {
        struct CitadelMiniApp;

        impl $crate::bindings::exports::citadel::miniapp::handler::Guest for CitadelMiniApp {
            fn handle(
                request: $crate::bindings::exports::citadel::miniapp::handler::Request,
            ) -> $crate::bindings::exports::citadel::miniapp::handler::Response {
                $crate::serve_whole(&$router(), request)
            }
        }

        $crate::bindings::__export_citadel_only!(CitadelMiniApp with_types_in $crate::bindings);
    };
}
