//! `tourism` (Du lịch Huế), from a travel company: Huế's sights from the city's
//! map, monument tickets paid through the host with QR e-tickets that the
//! monuments centre's gate staff accept once each, and the events calendar.

mod api;
mod calendar;
mod catalogue;
mod order;
mod pages;

use citadel_sdk::{geo, Result, Router};

fn router() -> Router {
    Router::new()
        .get("/", pages::home)
        .get("/sites/:id", pages::site)
        .get("/orders", pages::orders)
        .get("/orders/:id", pages::order)
        .get("/events", pages::events)
        .get("/gate", pages::gate)
        .get("/api/sites", api::sites)
        .get("/api/sites/:id", api::site)
        .get("/api/orders", api::list_orders)
        .post("/api/orders", api::create_order)
        .get("/api/orders/:id", api::get_order)
        .post("/api/orders/:id/pay", api::pay)
        .get("/api/tickets/:code/qr.svg", api::qr)
        .post("/api/validate", api::validate)
        .get("/api/events", api::events)
        .post("/payments/hook", api::payment_hook)
}

citadel_sdk::export_app!(router);

/// The unit whose staff check tickets at the gates.
pub(crate) const GATE_UNIT: &str = "bao-ton-di-tich";

/// Whether a `geo` place is one this app shows (a monument or an attraction).
pub(crate) fn is_sight(place: &geo::Place) -> bool {
    matches!(place.category.as_str(), "heritage" | "attraction")
}

/// The name of place `id`: the city's map's, else the catalogue's, else the id.
pub(crate) fn place_name(id: &str, lang: &str) -> String {
    if let Some(site) = catalogue::site(id) {
        if lang == "en" {
            return site.name_en.to_string();
        }
    }
    match geo::place(id) {
        Ok(Some(place)) => place.name,
        _ => catalogue::site(id).map_or_else(|| id.to_string(), |s| s.name_vi.to_string()),
    }
}

/// Every heritage site and attraction on the city's map, west to east.
pub(crate) fn all_sights() -> Result<Vec<geo::Place>> {
    let mut places = Vec::new();
    for category in ["heritage", "attraction"] {
        places.extend(geo::within(
            geo::point(-90.0, -180.0),
            geo::point(90.0, 180.0),
            Some(category),
            1000,
        )?);
    }
    Ok(places)
}
