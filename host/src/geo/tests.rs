//! Tests of the shipped Huế data and the queries over it: diacritics-free
//! search, nearest, boxes, reverse geocoding and the report routing table.

use super::*;

fn city() -> City {
    City::embedded().expect("the shipped city data loads")
}

fn at(lat: f64, lon: f64) -> Point {
    Point::checked(lat, lon).unwrap()
}

#[test]
fn the_shipped_data_is_big_enough() {
    let city = city();
    assert!(city.places.len() >= 150, "{} places", city.places.len());
    assert!(city.units.len() >= 30, "{} units", city.units.len());
    assert!(city.wards.len() >= 25);
    for category in [
        "heritage",
        "attraction",
        "public-service",
        "health",
        "school",
        "market",
        "bus-stop",
    ] {
        assert!(
            city.places.iter().any(|p| p.category == category),
            "no place of category {category}"
        );
    }
    // Every ward's People's Committee is a unit.
    for ward in &city.wards {
        assert!(city.unit(&ward.unit).is_some(), "{}", ward.unit);
    }
}

#[test]
fn search_ignores_case_and_diacritics() {
    let city = city();
    let names = |query: &str| -> Vec<String> {
        city.search(query, None, 10)
            .unwrap()
            .into_iter()
            .map(|p| p.name.clone())
            .collect()
    };
    assert!(
        names("thien mu").iter().any(|n| n.contains("Thiên Mụ")),
        "{:?}",
        names("thien mu")
    );
    assert!(names("THIÊN MỤ") == names("thien mu"));
    assert!(names("hue").iter().all(|n| text::fold(n).contains("hue")));
    assert!(!names("hue").is_empty());
    assert!(names("dong ba").iter().any(|n| n.contains("Đông Ba")));
    assert!(names("lang tu duc").iter().any(|n| n.contains("Tự Đức")));
    assert!(names("zzzz").is_empty());
    assert!(names("").is_empty());
    // A category narrows the search.
    let markets = city.search("dong ba", Some("market"), 10).unwrap();
    assert!(!markets.is_empty() && markets.iter().all(|p| p.category == "market"));
    assert!(matches!(
        city.search("hue", Some("spaceport"), 10),
        Err(GeoError::Invalid(why)) if why.contains("unknown place category")
    ));
}

#[test]
fn nearest_comes_nearest_first() {
    let city = city();
    let imperial_city = at(16.4698, 107.5786);
    let found = city.nearest(imperial_city, 10, None).unwrap();
    assert_eq!(found.len(), 10);
    assert!(found.windows(2).all(|w| w[0].1 <= w[1].1 + 1e-6));
    assert!(found[0].1 < 1000.0, "nearest is {} m away", found[0].1);
    // The answer agrees with a brute-force scan.
    let mut all: Vec<f64> = city
        .places
        .iter()
        .map(|p| imperial_city.distance_m(&p.at))
        .collect();
    all.sort_by(f64::total_cmp);
    for (i, (_, distance)) in found.iter().enumerate() {
        assert!(
            (distance - all[i]).abs() < 1.0,
            "#{i}: {distance} vs {}",
            all[i]
        );
    }
    let hospitals = city.nearest(imperial_city, 3, Some("health")).unwrap();
    assert_eq!(hospitals.len(), 3);
    assert!(hospitals.iter().all(|(p, _)| p.category == "health"));
    assert_eq!(
        city.nearest(imperial_city, 100_000, None).unwrap().len(),
        MAX_NEAREST as usize
    );
}

#[test]
fn within_a_box_holds_only_places_inside_it() {
    let city = city();
    let (sw, ne) = (at(16.455, 107.57), at(16.48, 107.60));
    let found = city.within(sw, ne, None, 1000).unwrap();
    assert!(!found.is_empty());
    assert!(found
        .iter()
        .all(|p| (sw.lat..=ne.lat).contains(&p.at.lat) && (sw.lon..=ne.lon).contains(&p.at.lon)));
    let expected = city
        .places
        .iter()
        .filter(|p| (sw.lat..=ne.lat).contains(&p.at.lat) && (sw.lon..=ne.lon).contains(&p.at.lon))
        .count();
    assert_eq!(found.len(), expected);
    assert!(city.within(ne, sw, None, 10).is_err(), "corners swapped");
    assert_eq!(city.within(sw, ne, None, 3).unwrap().len(), 3);
}

#[test]
fn reverse_geocoding_finds_the_ward() {
    let city = city();
    let ward = |lat, lon| city.ward_at(&at(lat, lon)).map(|w| w.id.clone());
    assert_eq!(ward(16.4698, 107.5786).as_deref(), Some("thuan-thanh")); // Imperial City
    assert_eq!(ward(16.4728, 107.5889).as_deref(), Some("dong-ba")); // Đông Ba market
    assert_eq!(ward(16.4627, 107.5965).as_deref(), Some("phu-hoi"));
    assert_eq!(ward(16.60, 107.80), None); // the sea
    assert_eq!(ward(16.20, 107.50), None); // far south
                                           // Places know their ward.
    let market = city
        .place("cho-dong-ba")
        .expect("Đông Ba market is a place");
    assert_eq!(
        market.ward.map(|i| city.wards[i].id.as_str()),
        Some("dong-ba")
    );
}

#[test]
fn positions_out_of_range_are_refused() {
    assert!(Point::checked(91.0, 0.0).is_err());
    assert!(Point::checked(0.0, -181.0).is_err());
    assert!(Point::checked(f64::NAN, 0.0).is_err());
    assert!(Point::checked(16.46, 107.59).is_ok());
}

#[test]
fn a_tile_url_must_be_https_with_placeholders() {
    assert!(city()
        .with_tile_url(Some("https://tiles.hue.gov.vn/{z}/{x}/{y}.png".into()))
        .is_ok());
    for bad in [
        "http://tiles/{z}/{x}/{y}.png",
        "https://tiles/{z}/{x}.png",
        "https://t/{z}/{x}/{y}\"><script>",
    ] {
        assert!(city().with_tile_url(Some(bad.into())).is_err(), "{bad}");
    }
}

/// Write the shipped files to a temp dir, with `change` applied to one.
fn load_changed(
    file: &str,
    change: impl Fn(&mut serde_json::Value),
) -> Result<City, CityDataError> {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/hue");
    for name in [
        "wards.geojson",
        "places.geojson",
        "units.json",
        "routing.json",
    ] {
        let text = std::fs::read_to_string(shipped.join(name)).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        if name == file {
            change(&mut json);
        }
        std::fs::write(dir.path().join(name), json.to_string()).unwrap();
    }
    City::from_dir(dir.path())
}

#[test]
fn operator_data_is_checked_whole() {
    assert!(load_changed("units.json", |_| {}).is_ok());
    let err = load_changed("routing.json", |r| r["fallback_unit"] = "nobody".into()).unwrap_err();
    assert!(err.to_string().contains("unit `nobody`"), "{err}");
    let err = load_changed("units.json", |u| {
        let first = u[0].clone();
        u.as_array_mut().unwrap().push(first);
    })
    .unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
    let err = load_changed("wards.geojson", |w| {
        w["features"][0]["geometry"]["coordinates"][0]
            .as_array_mut()
            .unwrap()
            .pop();
    })
    .unwrap_err();
    assert!(err.to_string().contains("closed ring"), "{err}");
    let err = load_changed("places.geojson", |p| {
        p["features"][0]["properties"]["category"] = "spaceport".into();
    })
    .unwrap_err();
    assert!(err.to_string().contains("spaceport"), "{err}");
    let err = load_changed("routing.json", |r| {
        r["overrides"] =
            serde_json::json!([{ "category": "waste", "ward": "atlantis", "unit": "ioc-hue" }]);
    })
    .unwrap_err();
    assert!(err.to_string().contains("atlantis"), "{err}");
    let missing = City::from_dir(std::path::Path::new("/nonexistent"));
    assert!(matches!(missing, Err(CityDataError::Read { .. })));
}

#[test]
fn reports_are_routed_by_category_and_ward() {
    let city = city();
    // (category, point, the ward it lies in, the unit that must get it)
    let cases = [
        (
            "waste",
            (16.46588, 107.59724),
            Some("phu-hoi"),
            "moitruong-do-thi-hue",
        ),
        (
            "waste",
            (16.55600, 107.64620),
            Some("thuan-an"),
            "ubnd-thuan-an",
        ),
        (
            "waste",
            (16.43820, 107.51904),
            Some("huong-ho"),
            "ubnd-huong-ho",
        ),
        (
            "urban-order",
            (16.46588, 107.59724),
            Some("phu-hoi"),
            "ubnd-phu-hoi",
        ),
        (
            "urban-order",
            (16.45251, 107.60225),
            Some("an-cuu"),
            "ubnd-an-cuu",
        ),
        (
            "urban-order",
            (16.47448, 107.58900),
            Some("dong-ba"),
            "doi-qlttdt-hue",
        ),
        (
            "construction",
            (16.46763, 107.57945),
            Some("thuan-thanh"),
            "bao-ton-di-tich",
        ),
        (
            "construction",
            (16.47512, 107.56873),
            Some("tay-loc"),
            "bao-ton-di-tich",
        ),
        (
            "construction",
            (16.46451, 107.56064),
            Some("kim-long"),
            "ubnd-kim-long",
        ),
        ("heritage", (16.47653, 107.60745), Some("vy-da"), "so-vhtt"),
        (
            "heritage",
            (16.46451, 107.56064),
            Some("kim-long"),
            "bao-ton-di-tich",
        ),
        (
            "electricity",
            (16.46525, 107.61119),
            Some("xuan-phu"),
            "dienluc-hue",
        ),
        (
            "traffic",
            (16.44185, 107.58553),
            Some("truong-an"),
            "csgt-hue",
        ),
        (
            "food-safety",
            (16.47448, 107.58900),
            Some("dong-ba"),
            "ban-quan-ly-cho",
        ),
        (
            "roads",
            (16.55600, 107.64620),
            Some("thuan-an"),
            "ubnd-thuan-an",
        ),
        ("other", (16.46126, 107.58382), Some("vinh-ninh"), "ioc-hue"),
        // Outside every ward: the city operations centre, whatever the category.
        ("waste", (16.60, 107.80), None, "ioc-hue"),
        ("urban-order", (16.20, 107.50), None, "ioc-hue"),
    ];
    for (category, (lat, lon), ward, unit) in cases {
        let routing = city.route_report(category, &at(lat, lon)).unwrap();
        assert_eq!(
            (
                routing.ward.map(|w| w.id.as_str()),
                routing.unit.id.as_str()
            ),
            (ward, unit),
            "{category} at ({lat}, {lon})"
        );
        assert_eq!(routing.category.id, category);
        assert!(routing.category.deadline_hours > 0);
    }
    // Deadlines are per category.
    let waste = city
        .route_report("waste", &at(16.46588, 107.59724))
        .unwrap();
    let roads = city
        .route_report("roads", &at(16.46588, 107.59724))
        .unwrap();
    assert_eq!(
        (waste.category.deadline_hours, roads.category.deadline_hours),
        (24, 72)
    );
    assert!(matches!(
        city.route_report("aliens", &at(16.46, 107.59)),
        Err(GeoError::Invalid(why)) if why.contains("unknown report category")
    ));
}
