//! Capability `geo`: the city's places, wards, handling units and report
//! routing (the data and its indexes live in `crate::geo`). Owns the
//! manifest name and the `geo` interface's host calls.

use super::bindings::citadel::miniapp::geo::{self as wit, GeoError};
use super::Capability;
use crate::geo;
use crate::localized::Text;
use crate::runtime::RequestState;
use wasmtime::component::{HasSelf, Linker};

pub const NAME: &str = "geo";
/// The contract interface.
const INTERFACE: &str = "geo";

pub const CAPABILITY: Capability = Capability {
    name: NAME,
    interfaces: &[INTERFACE],
    label: Text::new("Bản đồ thành phố", "The city's map"),
    summary: Text::new(
        "lớp bản đồ, địa điểm, đơn vị xử lý và tuyến chuyển phản ánh của thành phố",
        "the city's map layers, places, handling units and report routing",
    ),
};

pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<RequestState>>(linker, |state| state)
}

impl From<geo::GeoError> for GeoError {
    fn from(e: geo::GeoError) -> Self {
        match e {
            geo::GeoError::Invalid(why) => GeoError::Invalid(why),
        }
    }
}

fn point(p: wit::Point) -> Result<geo::Point, GeoError> {
    Ok(geo::Point::checked(p.lat, p.lon)?)
}

fn to_point(p: &geo::Point) -> wit::Point {
    wit::Point {
        lat: p.lat,
        lon: p.lon,
    }
}

fn ward(w: &geo::Ward) -> wit::Ward {
    wit::Ward {
        id: w.id.clone(),
        name: w.name.clone(),
        unit: w.unit.clone(),
    }
}

fn unit(u: &geo::Unit) -> wit::Unit {
    wit::Unit {
        id: u.id.clone(),
        name: u.name.clone(),
        kind: u.kind.clone(),
        phone: u.phone.clone(),
    }
}

fn category(id: &str, name: &geo::Names) -> wit::Category {
    wit::Category {
        id: id.to_string(),
        name_vi: name.vi.clone(),
        name_en: name.en.clone(),
    }
}

impl RequestState {
    /// The city data, if the app may read it.
    fn city(&self) -> Result<std::sync::Arc<geo::City>, GeoError> {
        if !self.app.has_capability(NAME) {
            self.record_denial(NAME, crate::audit::messages::DENIED_NOT_GRANTED.message());
            return Err(GeoError::Denied(NAME.into()));
        }
        self.capability::<std::sync::Arc<geo::City>>()
            .cloned()
            // Always given by `Capabilities::request_state`; a host without
            // city data serves no geo calls.
            .ok_or_else(|| GeoError::Denied(format!("{NAME} (this host has no city data)")))
    }
}

fn to_place(city: &geo::City, p: &geo::Place) -> wit::Place {
    wit::Place {
        id: p.id.clone(),
        name: p.name.clone(),
        category: p.category.clone(),
        at: to_point(&p.at),
        address: p.address.clone(),
        ward: p.ward.map(|i| city.wards[i].id.clone()),
    }
}

impl wit::Host for RequestState {
    async fn search(
        &mut self,
        text: String,
        category: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<wit::Place>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Vec<wit::Place>, GeoError> {
            let city = self.city()?;
            let found = city.search(&text, category.as_deref(), limit)?;
            Ok(found.into_iter().map(|p| to_place(&city, p)).collect())
        })())
    }

    async fn nearest(
        &mut self,
        at: wit::Point,
        k: u32,
        category: Option<String>,
    ) -> wasmtime::Result<Result<Vec<wit::Nearby>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Vec<wit::Nearby>, GeoError> {
            let city = self.city()?;
            let found = city.nearest(point(at)?, k, category.as_deref())?;
            Ok(found
                .into_iter()
                .map(|(p, distance_m)| wit::Nearby {
                    place: to_place(&city, p),
                    distance_m,
                })
                .collect())
        })())
    }

    async fn within(
        &mut self,
        south_west: wit::Point,
        north_east: wit::Point,
        category: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<wit::Place>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Vec<wit::Place>, GeoError> {
            let city = self.city()?;
            let found = city.within(
                point(south_west)?,
                point(north_east)?,
                category.as_deref(),
                limit,
            )?;
            Ok(found.into_iter().map(|p| to_place(&city, p)).collect())
        })())
    }

    async fn get_place(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Result<Option<wit::Place>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Option<wit::Place>, GeoError> {
            let city = self.city()?;
            Ok(city.place(&id).map(|p| to_place(&city, p)))
        })())
    }

    async fn ward_at(
        &mut self,
        at: wit::Point,
    ) -> wasmtime::Result<Result<Option<wit::Ward>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Option<wit::Ward>, GeoError> {
            let city = self.city()?;
            Ok(city.ward_at(&point(at)?).map(ward))
        })())
    }

    async fn wards(&mut self) -> wasmtime::Result<Result<Vec<wit::WardShape>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Vec<wit::WardShape>, GeoError> {
            let city = self.city()?;
            Ok(city
                .wards
                .iter()
                .map(|w| wit::WardShape {
                    ward: ward(w),
                    outline: w.outline.iter().map(to_point).collect(),
                })
                .collect())
        })())
    }

    async fn place_categories(&mut self) -> wasmtime::Result<Result<Vec<wit::Category>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Vec<wit::Category>, GeoError> {
            let city = self.city()?;
            Ok(city
                .place_categories
                .iter()
                .map(|c| category(&c.id, &c.name))
                .collect())
        })())
    }

    async fn report_categories(
        &mut self,
    ) -> wasmtime::Result<Result<Vec<wit::Category>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Vec<wit::Category>, GeoError> {
            let city = self.city()?;
            Ok(city
                .report_categories
                .iter()
                .map(|c| category(&c.id, &c.name))
                .collect())
        })())
    }

    async fn units(&mut self) -> wasmtime::Result<Result<Vec<wit::Unit>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Vec<wit::Unit>, GeoError> {
            let city = self.city()?;
            Ok(city.units.iter().map(unit).collect())
        })())
    }

    async fn route_report(
        &mut self,
        category: String,
        at: wit::Point,
    ) -> wasmtime::Result<Result<wit::Routing, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<wit::Routing, GeoError> {
            let city = self.city()?;
            let routing = city.route_report(&category, &point(at)?)?;
            Ok(wit::Routing {
                category: routing.category.id.clone(),
                unit: unit(routing.unit),
                ward: routing.ward.map(ward),
                deadline_hours: routing.category.deadline_hours,
            })
        })())
    }

    async fn tile_url(&mut self) -> wasmtime::Result<Result<Option<String>, GeoError>> {
        self.host_call(INTERFACE)?;
        Ok((|| -> Result<Option<String>, GeoError> {
            Ok(self.city()?.tile_url.clone())
        })())
    }
}
