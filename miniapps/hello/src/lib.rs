//! `hello`: the smallest Citadel mini-app, a greeting from Huế.

use citadel_sdk::{Request, Response, Result, Router};

fn greet(_req: &Request) -> Result<Response> {
    Ok(Response::text("Xin chào, Huế!"))
}

fn router() -> Router {
    Router::new().get("/", greet)
}

citadel_sdk::export_app!(router, citadel_only);
