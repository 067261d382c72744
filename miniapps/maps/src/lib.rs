//! `maps` (Bản đồ số Huế), published by the city's digital-map unit: the
//! city's places and wards as a JSON API (`api`) and as script-free pages
//! (`pages`). Owns the router and the query-parameter rules both share.

mod api;
mod pages;

use citadel_sdk::{geo, Error, Request, Result, Router};

fn router() -> Router {
    Router::new()
        .get("/", pages::home)
        .get("/place/:id", pages::place)
        .get("/nearby", pages::nearby)
        .get("/api/search", api::search)
        .get("/api/nearby", api::nearby)
        .get("/api/within", api::within)
        .get("/api/places/:id", api::place)
        .get("/api/ward", api::ward)
        .get("/api/layers", api::layers)
        .get("/api/config", api::config)
}

citadel_sdk::export_app!(router);

/// Most places a search, a box or a map gives (the host's own cap).
pub(crate) const MAX_RESULTS: u32 = 1000;
/// Most places `nearest` gives (the host's own cap).
pub(crate) const MAX_NEAREST: u32 = 100;

/// The query parameter `name`, trimmed; absent when missing or blank.
pub(crate) fn param(req: &Request, name: &str) -> Option<String> {
    req.query(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The `category` filter, if any (the host refuses an unknown one with 422).
pub(crate) fn category(req: &Request) -> Option<String> {
    param(req, "category")
}

/// A coordinate parameter in degrees, within ±`bound`.
pub(crate) fn coordinate(req: &Request, name: &str, bound: f64) -> Result<Option<f64>> {
    let Some(raw) = param(req, name) else {
        return Ok(None);
    };
    let value: f64 = raw
        .parse()
        .map_err(|_| Error::invalid(format!("`{name}` must be a number of degrees")))?;
    if !value.is_finite() || value.abs() > bound {
        return Err(Error::invalid(format!(
            "`{name}` must be a number of degrees within ±{bound}"
        )));
    }
    Ok(Some(value))
}

/// The point given by `lat` and `lon`: both or neither.
pub(crate) fn query_point(req: &Request) -> Result<Option<geo::Point>> {
    match (
        coordinate(req, "lat", 90.0)?,
        coordinate(req, "lon", 180.0)?,
    ) {
        (Some(lat), Some(lon)) => Ok(Some(geo::point(lat, lon))),
        (None, None) => Ok(None),
        _ => Err(Error::invalid("give both `lat` and `lon`, or neither")),
    }
}

/// The point given by `lat` and `lon`, both required.
pub(crate) fn required_point(req: &Request) -> Result<geo::Point> {
    query_point(req)?.ok_or_else(|| Error::invalid("`lat` and `lon` are required"))
}

/// A count parameter (`limit`, `k`): a whole number from 1, `default` when
/// absent, capped at `max` however large it is.
pub(crate) fn count(req: &Request, name: &str, default: u32, max: u32) -> Result<u32> {
    let Some(raw) = param(req, name) else {
        return Ok(default.min(max));
    };
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(format!(
            "`{name}` must be a whole number from 1 to {max}"
        )));
    }
    // All digits: only an overflow fails to parse, and that is above the cap.
    let value = raw.parse::<u64>().unwrap_or(u64::MAX);
    if value == 0 {
        return Err(Error::invalid(format!(
            "`{name}` must be a whole number from 1 to {max}"
        )));
    }
    Ok(value.min(u64::from(max)) as u32)
}

/// Every place of `category` (or all), at most `MAX_RESULTS`, west to east.
pub(crate) fn all_places(category: Option<&str>) -> Result<Vec<geo::Place>> {
    Ok(geo::within(
        geo::point(-90.0, -180.0),
        geo::point(90.0, 180.0),
        category,
        MAX_RESULTS,
    )?)
}

/// Metres rounded to a tenth, for JSON answers.
pub(crate) fn round_m(metres: f64) -> f64 {
    (metres * 10.0).round() / 10.0
}
