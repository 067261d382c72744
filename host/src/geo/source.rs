//! Reading the city data files (GeoJSON and JSON), checking them as a whole
//! — every id unique, every unit and ward named exists, outlines closed —
//! and building the indexed `City`. A bad file is refused with its name.

use super::{text, Category, City, Handler, Names, Place, Point, ReportCategory, Unit, Ward};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

const FILES: [&str; 4] = [
    "wards.geojson",
    "places.geojson",
    "units.json",
    "routing.json",
];

/// Why the city data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CityDataError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: &'static str, message: String },
    #[error("the tile URL `{0}` must start with https:// and hold {{z}}, {{x}} and {{y}}")]
    TileUrl(String),
}

fn invalid(file: &'static str, message: impl Into<String>) -> CityDataError {
    CityDataError::Invalid {
        file,
        message: message.into(),
    }
}

/// The four files' text.
pub(super) struct Sources {
    wards: String,
    places: String,
    units: String,
    routing: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureCollection<P> {
    #[serde(rename = "type")]
    _kind: String,
    features: Vec<Feature<P>>,
    #[serde(default)]
    categories: Vec<CategorySpec>,
}

#[derive(Deserialize)]
struct Feature<P> {
    geometry: Geometry,
    properties: P,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Geometry {
    Point { coordinates: [f64; 2] },
    Polygon { coordinates: Vec<Vec<[f64; 2]>> },
}

#[derive(Deserialize)]
struct CategorySpec {
    id: String,
    name: Names,
}

#[derive(Deserialize)]
struct WardProperties {
    id: String,
    name: String,
    unit: String,
}

#[derive(Deserialize)]
struct PlaceProperties {
    id: String,
    name: String,
    category: String,
    address: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitSpec {
    id: String,
    name: String,
    kind: String,
    phone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingSpec {
    fallback_unit: String,
    categories: Vec<ReportCategorySpec>,
    #[serde(default)]
    overrides: Vec<OverrideSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportCategorySpec {
    id: String,
    name: Names,
    deadline_hours: u32,
    /// A unit id, or `ward` for the ward's People's Committee.
    unit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideSpec {
    category: String,
    ward: String,
    unit: String,
}

const UNIT_KINDS: [&str; 5] = ["ward", "department", "company", "police", "centre"];

impl Sources {
    pub(super) fn embedded() -> Sources {
        Sources {
            wards: include_str!("../../data/hue/wards.geojson").into(),
            places: include_str!("../../data/hue/places.geojson").into(),
            units: include_str!("../../data/hue/units.json").into(),
            routing: include_str!("../../data/hue/routing.json").into(),
        }
    }

    pub(super) fn read(dir: &Path) -> Result<Sources, CityDataError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| CityDataError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        Ok(Sources {
            wards: read(FILES[0])?,
            places: read(FILES[1])?,
            units: read(FILES[2])?,
            routing: read(FILES[3])?,
        })
    }

    pub(super) fn load(self) -> Result<City, CityDataError> {
        let units = load_units(&self.units)?;
        let unit_ids = unique_ids("units.json", units.iter().map(|u| u.id.as_str()))?;
        let unit_exists = |file: &'static str, id: &str, what: &str| match unit_ids.contains_key(id)
        {
            true => Ok(()),
            false => Err(invalid(
                file,
                format!("{what} names unit `{id}`, which units.json does not list"),
            )),
        };

        let wards = load_wards(&self.wards)?;
        let ward_ids = unique_ids("wards.geojson", wards.iter().map(|w| w.id.as_str()))?;
        for ward in &wards {
            unit_exists("wards.geojson", &ward.unit, &format!("ward `{}`", ward.id))?;
        }

        let routing: RoutingSpec = serde_json::from_str(&self.routing)
            .map_err(|e| invalid("routing.json", e.to_string()))?;
        unit_exists("routing.json", &routing.fallback_unit, "`fallback_unit`")?;
        unique_ids(
            "routing.json",
            routing.categories.iter().map(|c| c.id.as_str()),
        )?;
        let mut report_categories = Vec::new();
        for spec in routing.categories {
            if spec.deadline_hours == 0 {
                return Err(invalid(
                    "routing.json",
                    format!("category `{}` has a zero deadline", spec.id),
                ));
            }
            let handler = if spec.unit == "ward" {
                Handler::Ward
            } else {
                unit_exists(
                    "routing.json",
                    &spec.unit,
                    &format!("category `{}`", spec.id),
                )?;
                Handler::Unit(spec.unit)
            };
            report_categories.push(ReportCategory {
                id: spec.id,
                name: spec.name,
                deadline_hours: spec.deadline_hours,
                handler,
            });
        }
        let mut overrides: HashMap<String, HashMap<String, String>> = HashMap::new();
        for o in routing.overrides {
            if !report_categories.iter().any(|c| c.id == o.category) {
                return Err(invalid(
                    "routing.json",
                    format!(
                        "an override names category `{}`, which `categories` does not list",
                        o.category
                    ),
                ));
            }
            if !ward_ids.contains_key(o.ward.as_str()) {
                return Err(invalid(
                    "routing.json",
                    format!(
                        "an override names ward `{}`, which wards.geojson does not list",
                        o.ward
                    ),
                ));
            }
            unit_exists("routing.json", &o.unit, "an override")?;
            if overrides
                .entry(o.category.clone())
                .or_default()
                .insert(o.ward.clone(), o.unit)
                .is_some()
            {
                return Err(invalid(
                    "routing.json",
                    format!(
                        "two overrides for category `{}` in ward `{}`",
                        o.category, o.ward
                    ),
                ));
            }
        }

        let (places, place_categories) = load_places(&self.places)?;
        let place_ids = unique_ids("places.geojson", places.iter().map(|p| p.id.as_str()))?;
        let place_ids = place_ids
            .into_iter()
            .map(|(id, i)| (id.to_string(), i as u32))
            .collect();
        let unit_ids = unit_ids
            .into_iter()
            .map(|(id, i)| (id.to_string(), i))
            .collect();

        let origin = centre(
            wards
                .iter()
                .flat_map(|w| w.outline.iter())
                .chain(places.iter().map(|p| &p.at)),
        );
        let mut city = City {
            places,
            wards,
            units,
            place_categories,
            report_categories,
            overrides,
            fallback_unit: routing.fallback_unit,
            tile_url: None,
            place_ids,
            unit_ids,
            names: text::WordIndex::default(),
            folded_names: Vec::new(),
            all: RTree::new(),
            by_category: HashMap::new(),
            ward_boxes: RTree::new(),
            origin,
        };
        city.index();
        Ok(city)
    }
}

fn unique_ids<'a>(
    file: &'static str,
    ids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<&'a str, usize>, CityDataError> {
    let mut seen = HashMap::new();
    for (i, id) in ids.enumerate() {
        if id.is_empty() {
            return Err(invalid(file, "an entry has an empty id"));
        }
        if seen.insert(id, i).is_some() {
            return Err(invalid(file, format!("the id `{id}` appears twice")));
        }
    }
    Ok(seen)
}

fn checked(file: &'static str, [lon, lat]: [f64; 2]) -> Result<Point, CityDataError> {
    Point::checked(lat, lon).map_err(|e| invalid(file, e.to_string()))
}

fn load_units(text: &str) -> Result<Vec<Unit>, CityDataError> {
    let specs: Vec<UnitSpec> =
        serde_json::from_str(text).map_err(|e| invalid("units.json", e.to_string()))?;
    specs
        .into_iter()
        .map(|u| {
            if !UNIT_KINDS.contains(&u.kind.as_str()) {
                return Err(invalid(
                    "units.json",
                    format!(
                        "unit `{}` has kind `{}`; use one of {}",
                        u.id,
                        u.kind,
                        UNIT_KINDS.join(", ")
                    ),
                ));
            }
            Ok(Unit {
                id: u.id,
                name: u.name,
                kind: u.kind,
                phone: u.phone,
            })
        })
        .collect()
}

fn load_wards(text: &str) -> Result<Vec<Ward>, CityDataError> {
    const FILE: &str = "wards.geojson";
    let collection: FeatureCollection<WardProperties> =
        serde_json::from_str(text).map_err(|e| invalid(FILE, e.to_string()))?;
    collection
        .features
        .into_iter()
        .map(|f| {
            let Geometry::Polygon { coordinates } = f.geometry else {
                return Err(invalid(
                    FILE,
                    format!("ward `{}` must be a Polygon", f.properties.id),
                ));
            };
            let outer = coordinates.into_iter().next().unwrap_or_default();
            let outline = outer
                .into_iter()
                .map(|c| checked(FILE, c))
                .collect::<Result<Vec<_>, _>>()?;
            if outline.len() < 4 || outline.first() != outline.last() {
                return Err(invalid(
                    FILE,
                    format!(
                        "the outline of ward `{}` must be a closed ring of at least 4 points",
                        f.properties.id
                    ),
                ));
            }
            Ok(Ward {
                id: f.properties.id,
                name: f.properties.name,
                unit: f.properties.unit,
                outline,
            })
        })
        .collect()
}

fn load_places(text: &str) -> Result<(Vec<Place>, Vec<Category>), CityDataError> {
    const FILE: &str = "places.geojson";
    let collection: FeatureCollection<PlaceProperties> =
        serde_json::from_str(text).map_err(|e| invalid(FILE, e.to_string()))?;
    let categories: Vec<Category> = collection
        .categories
        .into_iter()
        .map(|c| Category {
            id: c.id,
            name: c.name,
        })
        .collect();
    if categories.is_empty() {
        return Err(invalid(
            FILE,
            "`categories` must list the place categories with their names",
        ));
    }
    let known: HashSet<&str> = categories.iter().map(|c| c.id.as_str()).collect();
    let places = collection
        .features
        .into_iter()
        .map(|f| {
            let Geometry::Point { coordinates } = f.geometry else {
                return Err(invalid(
                    FILE,
                    format!("place `{}` must be a Point", f.properties.id),
                ));
            };
            if !known.contains(f.properties.category.as_str()) {
                return Err(invalid(
                    FILE,
                    format!(
                        "place `{}` has category `{}`, which `categories` does not list",
                        f.properties.id, f.properties.category
                    ),
                ));
            }
            Ok(Place {
                id: f.properties.id,
                name: f.properties.name,
                category: f.properties.category,
                at: checked(FILE, coordinates)?,
                address: f.properties.address,
                ward: None,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((places, categories))
}

fn centre<'a>(points: impl Iterator<Item = &'a Point>) -> Point {
    let (mut lat, mut lon, mut n) = (0.0, 0.0, 0.0);
    for p in points {
        lat += p.lat;
        lon += p.lon;
        n += 1.0;
    }
    if n == 0.0 {
        Point { lat: 0.0, lon: 0.0 }
    } else {
        Point {
            lat: lat / n,
            lon: lon / n,
        }
    }
}

impl City {
    /// Build the R-trees and the word index, and give each place its ward.
    pub(super) fn index(&mut self) {
        let boxes = self
            .wards
            .iter()
            .enumerate()
            .map(|(i, ward)| {
                let projected: Vec<[f64; 2]> =
                    ward.outline.iter().map(|p| self.project(p)).collect();
                let low = projected
                    .iter()
                    .fold([f64::MAX; 2], |m, p| [m[0].min(p[0]), m[1].min(p[1])]);
                let high = projected
                    .iter()
                    .fold([f64::MIN; 2], |m, p| [m[0].max(p[0]), m[1].max(p[1])]);
                GeomWithData::new(Rectangle::from_corners(low, high), i)
            })
            .collect();
        self.ward_boxes = RTree::bulk_load(boxes);
        for i in 0..self.places.len() {
            self.places[i].ward = self.ward_index_at(&self.places[i].at);
        }
        let mut names = text::WordIndex::default();
        let mut all = Vec::with_capacity(self.places.len());
        let mut by_category: HashMap<String, Vec<_>> = HashMap::new();
        for (i, place) in self.places.iter().enumerate() {
            names.insert(i as u32, &place.name);
            let point = GeomWithData::new(self.project(&place.at), i as u32);
            all.push(point);
            by_category
                .entry(place.category.clone())
                .or_default()
                .push(point);
        }
        self.names = names;
        self.folded_names = self
            .places
            .iter()
            .map(|p| text::words(&p.name).join(" "))
            .collect();
        self.all = RTree::bulk_load(all);
        self.by_category = by_category
            .into_iter()
            .map(|(category, points)| (category, RTree::bulk_load(points)))
            .collect();
    }
}
