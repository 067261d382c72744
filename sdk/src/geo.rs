//! The city's map data (capability `geo`, contract 1.3): search places by
//! name without caring about diacritics, the nearest places to a point, the
//! places in a box, reverse geocoding to a ward, the units that handle
//! citizens' reports and where a report of a category at a point goes.

use crate::bindings::citadel::miniapp::geo as host;

pub use host::{Category, GeoError, Nearby, Place, Point, Routing, Unit, Ward, WardShape};

/// A point from latitude and longitude in degrees.
pub fn point(lat: f64, lon: f64) -> Point {
    Point { lat, lon }
}

/// Places whose name holds every word of `text` ("thien mu" finds "Thiên Mụ"),
/// best first; `limit` 0 means 20, the host caps it at 1000.
pub fn search(text: &str, category: Option<&str>, limit: u32) -> Result<Vec<Place>, GeoError> {
    host::search(text, category, limit)
}

/// The `k` places nearest to `at` (at most 100), nearest first.
pub fn nearest(at: Point, k: u32, category: Option<&str>) -> Result<Vec<Nearby>, GeoError> {
    host::nearest(at, k, category)
}

/// Places inside the box from `south_west` to `north_east`.
pub fn within(
    south_west: Point,
    north_east: Point,
    category: Option<&str>,
    limit: u32,
) -> Result<Vec<Place>, GeoError> {
    host::within(south_west, north_east, category, limit)
}

/// The place with this id.
pub fn place(id: &str) -> Result<Option<Place>, GeoError> {
    host::get_place(id)
}

/// The ward a point lies in, if any.
pub fn ward_at(at: Point) -> Result<Option<Ward>, GeoError> {
    host::ward_at(at)
}

/// Every ward with its outline.
pub fn wards() -> Result<Vec<WardShape>, GeoError> {
    host::wards()
}

/// The categories of places (`heritage`, `health`, `bus-stop`, …).
pub fn place_categories() -> Result<Vec<Category>, GeoError> {
    host::place_categories()
}

/// The categories of citizens' reports.
pub fn report_categories() -> Result<Vec<Category>, GeoError> {
    host::report_categories()
}

/// Every unit that handles reports.
pub fn units() -> Result<Vec<Unit>, GeoError> {
    host::units()
}

/// The unit that handles a report of `category` at `at`, with its deadline.
pub fn route_report(category: &str, at: Point) -> Result<Routing, GeoError> {
    host::route_report(category, at)
}

/// The map tile URL template the operator configured, if any.
pub fn tile_url() -> Result<Option<String>, GeoError> {
    host::tile_url()
}

impl Category {
    /// The category's name in `lang` (`en`, else Vietnamese).
    pub fn name(&self, lang: &str) -> &str {
        if lang == "en" {
            &self.name_en
        } else {
            &self.name_vi
        }
    }
}
