//! # citadel-sdk — write a Citadel mini-app in a few dozen lines
//!
//! A Citadel mini-app is a WebAssembly component (target `wasm32-wasip2`)
//! that serves HTTP through the standard `wasi:http/incoming-handler` export
//! and reaches the city's platform only through capability-checked host calls
//! (the WIT contract lives in `sdk/wit/`, package `citadel:miniapp`).
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

/// The raw bindings generated from the WIT contract. Prefer the wrappers.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "citadel:miniapp/miniapp",
        pub_export_macro: true,
        export_macro_name: "__export_miniapp",
        default_bindings_module: "citadel_sdk::bindings",
        generate_all,
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
#[macro_export]
macro_rules! export_app {
    ($router:path) => {
        struct CitadelMiniApp;

        impl $crate::bindings::exports::wasi::http::incoming_handler::Guest for CitadelMiniApp {
            fn handle(
                request: $crate::bindings::wasi::http::types::IncomingRequest,
                response_out: $crate::bindings::wasi::http::types::ResponseOutparam,
            ) {
                $crate::serve(&$router(), request, response_out)
            }
        }

        impl $crate::bindings::exports::citadel::miniapp::handler::Guest for CitadelMiniApp {
            fn handle(
                request: $crate::bindings::exports::citadel::miniapp::handler::Request,
            ) -> $crate::bindings::exports::citadel::miniapp::handler::Response {
                $crate::serve_whole(&$router(), request)
            }
        }

        $crate::bindings::__export_miniapp!(CitadelMiniApp with_types_in $crate::bindings);
    };
}
