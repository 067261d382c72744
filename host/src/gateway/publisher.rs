//! The publisher API (`/api/v1/publisher/...`): a partner company's view of
//! its own apps. A publisher key reaches only apps whose manifest names that
//! publisher; another publisher's app answers 404, as if it did not exist.

use super::auth::Publisher;
use super::error::ApiError;
use super::operator::{app_view, AppView};
use crate::Citadel;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

pub fn router() -> Router<Arc<Citadel>> {
    Router::new()
        .route("/api/v1/publisher/apps", get(list_apps))
        .route("/api/v1/publisher/apps/{app}", get(get_app))
}

fn owns(citadel: &Citadel, publisher: &Publisher, app: &str) -> bool {
    citadel
        .registry
        .live(app)
        .is_some_and(|live| live.context.publisher == publisher.0.id)
}

async fn list_apps(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<Vec<AppView>>, ApiError> {
    citadel
        .registry
        .apps()
        .iter()
        .filter(|app| app.context.publisher == publisher.0.id)
        .map(|app| app_view(&citadel, &app.context.id))
        .collect::<Result<_, _>>()
        .map(Json)
}

async fn get_app(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
    Path(app): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    if !owns(&citadel, &publisher, &app) {
        return Err(ApiError::not_found(
            "app_not_found",
            format!("you publish no app `{app}`"),
        ));
    }
    app_view(&citadel, &app).map(Json)
}
