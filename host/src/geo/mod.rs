//! The city's map data: places, wards, the units that handle citizens'
//! reports and the table that routes a report to one. Loaded once (the
//! Huế set shipped in `data/hue/`, or an operator's own directory), checked
//! whole, and indexed: R-trees for places and ward outlines, a word index.

mod source;
pub mod text;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use std::collections::HashMap;
use std::path::Path;

pub use source::CityDataError;

/// Most results `search`, `nearest` and `within` give.
pub const MAX_RESULTS: u32 = 1000;
/// Most places `nearest` gives.
pub const MAX_NEAREST: u32 = 100;
const DEFAULT_LIMIT: u32 = 20;
/// Metres per degree of latitude, and of longitude at the equator.
const METRES_PER_DEGREE: f64 = 111_320.0;
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    /// Refuse NaN, infinities and out-of-range degrees.
    pub fn checked(lat: f64, lon: f64) -> Result<Point, GeoError> {
        // NaN and infinities fall outside both ranges.
        if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
            return Err(GeoError::Invalid(format!(
                "({lat}, {lon}) is not a position: latitude must be within ±90 and longitude within ±180"
            )));
        }
        Ok(Point { lat, lon })
    }

    /// Great-circle distance in metres (haversine).
    pub fn distance_m(&self, other: &Point) -> f64 {
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let dphi = phi2 - phi1;
        let dlambda = (other.lon - self.lon).to_radians();
        let a =
            (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }
}

/// A name in Vietnamese and English.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Names {
    pub vi: String,
    pub en: String,
}

/// A category of places or of reports.
#[derive(Debug, Clone)]
pub struct Category {
    pub id: String,
    pub name: Names,
}

/// A point of interest.
#[derive(Debug, Clone)]
pub struct Place {
    pub id: String,
    pub name: String,
    pub category: String,
    pub at: Point,
    pub address: Option<String>,
    /// Index into `City::wards` of the ward the place lies in.
    pub ward: Option<usize>,
}

/// An administrative ward with its outer ring.
#[derive(Debug, Clone)]
pub struct Ward {
    pub id: String,
    pub name: String,
    /// Its People's Committee.
    pub unit: String,
    /// Closed ring: the first point is repeated last.
    pub outline: Vec<Point>,
}

impl Ward {
    /// Even-odd ray casting; a point on an edge may fall either side.
    fn contains(&self, p: &Point) -> bool {
        let mut inside = false;
        for edge in self.outline.windows(2) {
            let (a, b) = (edge[0], edge[1]);
            if (a.lat > p.lat) != (b.lat > p.lat)
                && p.lon < (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon
            {
                inside = !inside;
            }
        }
        inside
    }
}

/// A unit that handles reports.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub phone: Option<String>,
}

/// Who handles a report category.
#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    /// The People's Committee of the ward the report lies in.
    Ward,
    Unit(String),
}

/// A report category with its handler and deadline.
#[derive(Debug, Clone)]
pub struct ReportCategory {
    pub id: String,
    pub name: Names,
    pub deadline_hours: u32,
    pub handler: Handler,
}

/// Where a report goes.
#[derive(Debug, Clone)]
pub struct Routing<'a> {
    pub category: &'a ReportCategory,
    pub unit: &'a Unit,
    pub ward: Option<&'a Ward>,
}

/// Why a query was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GeoError {
    #[error("{0}")]
    Invalid(String),
}

type PlacePoint = GeomWithData<[f64; 2], u32>;
type WardBox = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// The loaded, indexed city data. Immutable: replacing it means a restart.
pub struct City {
    pub places: Vec<Place>,
    pub wards: Vec<Ward>,
    pub units: Vec<Unit>,
    pub place_categories: Vec<Category>,
    pub report_categories: Vec<ReportCategory>,
    /// Report category → ward id → unit id, before the category's handler.
    overrides: HashMap<String, HashMap<String, String>>,
    /// The unit for a point outside every ward (the operations centre).
    fallback_unit: String,
    /// The map tile URL template the operator configured.
    pub tile_url: Option<String>,
    place_ids: HashMap<String, u32>,
    unit_ids: HashMap<String, usize>,
    names: text::WordIndex,
    /// Each place's folded name words joined by spaces, for ranking.
    folded_names: Vec<String>,
    /// Places in local metres around `origin`, all and per category.
    all: RTree<PlacePoint>,
    by_category: HashMap<String, RTree<PlacePoint>>,
    ward_boxes: RTree<WardBox>,
    origin: Point,
}

impl std::fmt::Debug for City {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("City")
            .field("places", &self.places.len())
            .field("wards", &self.wards.len())
            .field("units", &self.units.len())
            .field("report_categories", &self.report_categories.len())
            .field("tile_url", &self.tile_url)
            .finish_non_exhaustive()
    }
}

impl City {
    /// The Huế data shipped with the host.
    pub fn embedded() -> Result<City, CityDataError> {
        source::Sources::embedded().load()
    }

    /// An operator's data: `wards.geojson`, `places.geojson`, `units.json`
    /// and `routing.json` in `dir`.
    pub fn from_dir(dir: &Path) -> Result<City, CityDataError> {
        source::Sources::read(dir)?.load()
    }

    /// Set the tile URL template (`https://…/{z}/{x}/{y}.png`).
    pub fn with_tile_url(mut self, url: Option<String>) -> Result<City, CityDataError> {
        if let Some(url) = &url {
            let well_formed = url.starts_with("https://")
                && ["{z}", "{x}", "{y}"].iter().all(|p| url.contains(p))
                && !url
                    .chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '<');
            if !well_formed {
                return Err(CityDataError::TileUrl(url.clone()));
            }
        }
        self.tile_url = url;
        Ok(self)
    }

    /// Local metres east and north of the origin: an equirectangular
    /// projection, exact enough for ordering within a city.
    fn project(&self, p: &Point) -> [f64; 2] {
        [
            (p.lon - self.origin.lon) * METRES_PER_DEGREE * self.origin.lat.to_radians().cos(),
            (p.lat - self.origin.lat) * METRES_PER_DEGREE,
        ]
    }

    fn check_category(&self, category: Option<&str>) -> Result<(), GeoError> {
        match category {
            Some(c) if !self.place_categories.iter().any(|k| k.id == c) => {
                let known: Vec<&str> = self
                    .place_categories
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect();
                Err(GeoError::Invalid(format!(
                    "unknown place category `{c}`; known: {}",
                    known.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    fn tree(&self, category: Option<&str>) -> Option<&RTree<PlacePoint>> {
        match category {
            None => Some(&self.all),
            Some(c) => self.by_category.get(c),
        }
    }

    /// The place with this id.
    pub fn place(&self, id: &str) -> Option<&Place> {
        self.place_ids.get(id).map(|i| &self.places[*i as usize])
    }

    /// The unit with this id.
    pub fn unit(&self, id: &str) -> Option<&Unit> {
        self.unit_ids.get(id).map(|i| &self.units[*i])
    }

    /// Places whose name holds every word of `query` (as word prefixes,
    /// ignoring case and diacritics): whole-name prefix matches first, then
    /// names with more exact words, then shorter names.
    pub fn search(
        &self,
        query: &str,
        category: Option<&str>,
        limit: u32,
    ) -> Result<Vec<&Place>, GeoError> {
        self.check_category(category)?;
        if query.chars().count() > 200 {
            return Err(GeoError::Invalid(
                "the search text must be at most 200 characters".into(),
            ));
        }
        let query_words = text::words(query);
        let folded_query = query_words.join(" ");
        let mut ranked: Vec<(bool, usize, usize, u32)> = self
            .names
            .matching(&query_words)
            .into_iter()
            .filter(|i| category.is_none_or(|c| self.places[*i as usize].category == c))
            .map(|i| {
                let name = &self.folded_names[i as usize];
                let exact = query_words
                    .iter()
                    .filter(|w| name.split(' ').any(|n| n == w.as_str()))
                    .count();
                let starts = name.starts_with(&folded_query);
                (
                    !starts,
                    usize::MAX - exact,
                    self.places[i as usize].name.len(),
                    i,
                )
            })
            .collect();
        // Only the best `limit` need ordering.
        let limit = clamp(limit, MAX_RESULTS) as usize;
        if ranked.len() > limit {
            ranked.select_nth_unstable(limit);
            ranked.truncate(limit);
        }
        ranked.sort_unstable();
        Ok(ranked
            .into_iter()
            .map(|(_, _, _, i)| &self.places[i as usize])
            .collect())
    }

    /// The `k` places nearest to `at`, nearest first, with their distances.
    pub fn nearest(
        &self,
        at: Point,
        k: u32,
        category: Option<&str>,
    ) -> Result<Vec<(&Place, f64)>, GeoError> {
        self.check_category(category)?;
        let Some(tree) = self.tree(category) else {
            return Ok(Vec::new());
        };
        let from = self.project(&at);
        Ok(tree
            .nearest_neighbor_iter(&from)
            .take(clamp(k, MAX_NEAREST) as usize)
            .map(|found| {
                let place = &self.places[found.data as usize];
                (place, at.distance_m(&place.at))
            })
            .collect())
    }

    /// Places inside the box from `south_west` to `north_east`, west to east.
    pub fn within(
        &self,
        south_west: Point,
        north_east: Point,
        category: Option<&str>,
        limit: u32,
    ) -> Result<Vec<&Place>, GeoError> {
        self.check_category(category)?;
        if south_west.lat > north_east.lat || south_west.lon > north_east.lon {
            return Err(GeoError::Invalid(
                "the box's south-west corner must be south and west of its north-east corner"
                    .into(),
            ));
        }
        let Some(tree) = self.tree(category) else {
            return Ok(Vec::new());
        };
        let envelope = AABB::from_corners(self.project(&south_west), self.project(&north_east));
        let mut found: Vec<&Place> = tree
            .locate_in_envelope(&envelope)
            .map(|p| &self.places[p.data as usize])
            .collect();
        found.sort_by(|a, b| a.at.lon.total_cmp(&b.at.lon).then_with(|| a.id.cmp(&b.id)));
        found.truncate(clamp(limit, MAX_RESULTS) as usize);
        Ok(found)
    }

    /// The ward `at` lies in (reverse geocoding).
    pub fn ward_at(&self, at: &Point) -> Option<&Ward> {
        self.ward_index_at(at).map(|i| &self.wards[i])
    }

    fn ward_index_at(&self, at: &Point) -> Option<usize> {
        let projected = self.project(at);
        self.ward_boxes
            .locate_all_at_point(&projected)
            .map(|b| b.data)
            .find(|i| self.wards[*i].contains(at))
    }

    /// The report category with this id.
    pub fn report_category(&self, id: &str) -> Option<&ReportCategory> {
        self.report_categories.iter().find(|c| c.id == id)
    }

    /// The unit that handles a report of `category` at `at`: the override
    /// for (category, ward), else the category's handler, else — for a point
    /// outside every ward — the operations centre.
    pub fn route_report(&self, category: &str, at: &Point) -> Result<Routing<'_>, GeoError> {
        let Some(report_category) = self.report_category(category) else {
            let known: Vec<&str> = self
                .report_categories
                .iter()
                .map(|c| c.id.as_str())
                .collect();
            return Err(GeoError::Invalid(format!(
                "unknown report category `{category}`; known: {}",
                known.join(", ")
            )));
        };
        let ward = self.ward_at(at);
        let unit_id = match ward {
            None => &self.fallback_unit,
            Some(ward) => match self
                .overrides
                .get(category)
                .and_then(|by_ward| by_ward.get(&ward.id))
            {
                Some(unit) => unit,
                None => match &report_category.handler {
                    Handler::Ward => &ward.unit,
                    Handler::Unit(unit) => unit,
                },
            },
        };
        // Every unit named in the data was checked to exist when it loaded.
        let unit = self
            .unit(unit_id)
            .ok_or_else(|| GeoError::Invalid(format!("unit `{unit_id}` is unknown")))?;
        Ok(Routing {
            category: report_category,
            unit,
            ward,
        })
    }
}

fn clamp(limit: u32, max: u32) -> u32 {
    if limit == 0 {
        DEFAULT_LIMIT.min(max)
    } else {
        limit.min(max)
    }
}

#[cfg(test)]
mod tests;
