//! The JSON API under `/api/`: search, nearby, box, place, reverse geocoding,
//! the map layers (categories with counts, wards as GeoJSON) and the map
//! configuration. Every bad input is a JSON error with its status.

use crate::{
    all_places, category, count, param, query_point, required_point, round_m, MAX_NEAREST,
    MAX_RESULTS,
};
use citadel_sdk::{geo, location, Error, Request, Response, Result};
use serde_json::{json, Value};

/// A place as the API gives it.
pub(crate) fn place_json(p: &geo::Place) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "category": p.category,
        "lat": p.at.lat,
        "lon": p.at.lon,
        "address": p.address,
        "ward": p.ward,
    })
}

fn ward_json(w: &geo::Ward) -> Value {
    json!({ "id": w.id, "name": w.name, "unit": w.unit })
}

fn nearby_json(n: &geo::Nearby) -> Value {
    let mut value = place_json(&n.place);
    value["distance_m"] = json!(round_m(n.distance_m));
    value
}

/// `GET /api/search?q=&category=&limit=`: names holding every word of `q`,
/// ignoring case and diacritics, best first.
pub fn search(req: &Request) -> Result<Response> {
    let q = param(req, "q").ok_or_else(|| Error::invalid("`q` is required"))?;
    let category = category(req);
    let limit = count(req, "limit", 20, MAX_RESULTS)?;
    let places = geo::search(&q, category.as_deref(), limit)?;
    Response::json(&json!({
        "query": q,
        "category": category,
        "count": places.len(),
        "places": places.iter().map(place_json).collect::<Vec<_>>(),
    }))
}

/// Where "nearby" is: `lat` and `lon` if given, else the signed-in
/// citizen's consented position (401 anonymous, 428 without consent).
pub(crate) struct Origin {
    pub at: geo::Point,
    /// `query` or `location`.
    pub source: &'static str,
    pub accuracy_m: Option<f64>,
}

pub(crate) fn origin(req: &Request) -> Result<Origin> {
    if let Some(at) = query_point(req)? {
        return Ok(Origin {
            at,
            source: "query",
            accuracy_m: None,
        });
    }
    let position = location::current()?;
    Ok(Origin {
        at: geo::point(position.lat, position.lon),
        source: "location",
        accuracy_m: position.accuracy_m,
    })
}

/// `GET /api/nearby?lat=&lon=&k=&category=`: the `k` nearest places,
/// nearest first, with their distances in metres.
pub fn nearby(req: &Request) -> Result<Response> {
    let k = count(req, "k", 10, MAX_NEAREST)?;
    let category = category(req);
    let from = origin(req)?;
    let found = geo::nearest(from.at, k, category.as_deref())?;
    let ward = geo::ward_at(from.at)?;
    Response::json(&json!({
        "from": {
            "lat": from.at.lat,
            "lon": from.at.lon,
            "source": from.source,
            "accuracy_m": from.accuracy_m,
            "ward": ward.as_ref().map(ward_json),
        },
        "category": category,
        "count": found.len(),
        "places": found.iter().map(nearby_json).collect::<Vec<_>>(),
    }))
}

/// `GET /api/within?south=&west=&north=&east=&category=&limit=`: the places
/// in a box, west to east.
pub fn within(req: &Request) -> Result<Response> {
    let edge = |name: &str, bound: f64| -> Result<f64> {
        crate::coordinate(req, name, bound)?
            .ok_or_else(|| Error::invalid(format!("`{name}` is required")))
    };
    let (south, west) = (edge("south", 90.0)?, edge("west", 180.0)?);
    let (north, east) = (edge("north", 90.0)?, edge("east", 180.0)?);
    let category = category(req);
    let limit = count(req, "limit", 100, MAX_RESULTS)?;
    let places = geo::within(
        geo::point(south, west),
        geo::point(north, east),
        category.as_deref(),
        limit,
    )?;
    Response::json(&json!({
        "box": { "south": south, "west": west, "north": north, "east": east },
        "category": category,
        "count": places.len(),
        "places": places.iter().map(place_json).collect::<Vec<_>>(),
    }))
}

/// The place `id`, or a 404.
pub(crate) fn find_place(id: &str) -> Result<geo::Place> {
    geo::place(id)?.ok_or_else(|| Error::not_found(format!("there is no place `{id}`")))
}

/// The nearest `n` places to `place`, other than itself.
pub(crate) fn neighbours(place: &geo::Place, n: usize) -> Result<Vec<geo::Nearby>> {
    Ok(geo::nearest(place.at, n as u32 + 1, None)?
        .into_iter()
        .filter(|other| other.place.id != place.id)
        .take(n)
        .collect())
}

/// `GET /api/places/:id`: the place, its ward and its five nearest neighbours.
pub fn place(req: &Request) -> Result<Response> {
    let place = find_place(req.param("id").unwrap_or_default())?;
    let ward = geo::ward_at(place.at)?;
    let mut value = place_json(&place);
    value["ward"] = ward.as_ref().map_or(Value::Null, ward_json);
    value["nearby"] = json!(neighbours(&place, 5)?
        .iter()
        .map(nearby_json)
        .collect::<Vec<_>>());
    Response::json(&value)
}

/// `GET /api/ward?lat=&lon=`: the ward a point lies in, `null` outside them all.
pub fn ward(req: &Request) -> Result<Response> {
    let at = required_point(req)?;
    let ward = geo::ward_at(at)?;
    Response::json(&json!({
        "at": { "lat": at.lat, "lon": at.lon },
        "ward": ward.as_ref().map(ward_json),
    }))
}

/// `GET /api/layers`: the place categories (names and counts) and the wards
/// as a GeoJSON FeatureCollection of Polygons, coordinates `[lon, lat]`.
pub fn layers(_req: &Request) -> Result<Response> {
    let mut total = 0;
    let mut categories: Vec<Value> = Vec::new();
    for c in geo::place_categories()? {
        let count = all_places(Some(&c.id))?.len();
        total += count;
        categories.push(json!({
            "id": c.id,
            "name": { "vi": c.name_vi, "en": c.name_en },
            "count": count,
        }));
    }
    let features: Vec<Value> = geo::wards()?
        .iter()
        .map(|shape| {
            let ring: Vec<[f64; 2]> = shape.outline.iter().map(|p| [p.lon, p.lat]).collect();
            json!({
                "type": "Feature",
                "id": shape.ward.id,
                "properties": {
                    "id": shape.ward.id,
                    "name": shape.ward.name,
                    "unit": shape.ward.unit,
                },
                "geometry": { "type": "Polygon", "coordinates": [ring] },
            })
        })
        .collect();
    Response::json(&json!({
        "places": total,
        "categories": categories,
        "wards": { "type": "FeatureCollection", "features": features },
    }))
}

/// `GET /api/config`: whether the operator configured a tile layer.
pub fn config(_req: &Request) -> Result<Response> {
    let tile_url = geo::tile_url()?;
    Response::json(&json!({
        "tiles": tile_url.is_some(),
        "tile_url": tile_url,
        "offline_map": true,
    }))
}
