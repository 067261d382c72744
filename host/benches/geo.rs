//! Geo benchmark: the latency of each `geo` query (search, nearest, within,
//! reverse geocoding, report routing) on the Huế wards with 10,000 places
//! loaded, measured on the city data itself (no guest, no HTTP).
//! Run: `cargo bench -p citadel-host --bench geo` (`BENCH_PLACES`, `BENCH_QUERIES`).

use anyhow::Context;
use citadel_host::geo::{City, Point};
use std::time::Instant;

const CATEGORIES: [&str; 7] = [
    "heritage",
    "attraction",
    "public-service",
    "health",
    "school",
    "market",
    "bus-stop",
];
/// Words place names are made of, with Vietnamese diacritics.
const WORDS: [&str; 16] = [
    "Chùa",
    "Thiên",
    "Mụ",
    "Lăng",
    "Tự",
    "Đức",
    "Chợ",
    "Đông",
    "Ba",
    "Trạm",
    "Huế",
    "Phú",
    "Hội",
    "Trường",
    "Tiền",
    "Kim",
];

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.parse())
        .transpose()
        .with_context(|| format!("{name} must be a number"))
        .map(|v| v.unwrap_or(default))
}

/// A deterministic pseudo-random sequence (xorshift), so runs compare.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }

    fn point(&mut self) -> Point {
        Point {
            lat: 16.40 + 0.12 * self.unit(),
            lon: 107.52 + 0.12 * self.unit(),
        }
    }
}

/// The shipped wards, units and routing with `count` generated places.
fn city_with(count: usize, sequence: &mut Sequence) -> anyhow::Result<(tempfile::TempDir, City)> {
    let dir = tempfile::tempdir()?;
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/hue");
    for file in ["wards.geojson", "units.json", "routing.json"] {
        std::fs::copy(data.join(file), dir.path().join(file))?;
    }
    let categories: Vec<_> = CATEGORIES
        .iter()
        .map(|c| serde_json::json!({ "id": c, "name": { "vi": c, "en": c } }))
        .collect();
    let features: Vec<_> = (0..count)
        .map(|i| {
            let at = sequence.point();
            let name: Vec<&str> = (0..3)
                .map(|_| WORDS[(sequence.next() % WORDS.len() as u64) as usize])
                .collect();
            serde_json::json!({
                "type": "Feature",
                "geometry": { "type": "Point", "coordinates": [at.lon, at.lat] },
                "properties": {
                    "id": format!("p{i}"),
                    "name": format!("{} {i}", name.join(" ")),
                    "category": CATEGORIES[i % CATEGORIES.len()],
                },
            })
        })
        .collect();
    let places = serde_json::json!({ "type": "FeatureCollection", "categories": categories, "features": features });
    std::fs::write(dir.path().join("places.geojson"), places.to_string())?;
    let city = City::from_dir(dir.path())?;
    Ok((dir, city))
}

/// Time `queries` runs of `query` and print p50, p99 and max.
fn measure(name: &str, queries: usize, mut query: impl FnMut(usize) -> usize) {
    let mut latencies = Vec::with_capacity(queries);
    let mut results = 0;
    for i in 0..queries {
        let started = Instant::now();
        results += query(i);
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{name:<28} p50 {:>7.1} µs   p99 {:>7.1} µs   max {:>7.1} µs   ({:.1} results/query)",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        latencies[latencies.len() - 1].as_secs_f64() * 1e6,
        results as f64 / queries as f64
    );
}

fn main() -> anyhow::Result<()> {
    let count = env_number("BENCH_PLACES", 10_000)?;
    let queries = env_number("BENCH_QUERIES", 20_000)?;
    let mut sequence = Sequence(0x5eed_cafe_f00d_1234);
    let started = Instant::now();
    let (_dir, city) = city_with(count, &mut sequence)?;
    println!(
        "loaded {} places, {} wards in {:.0} ms; {queries} queries each",
        city.places.len(),
        city.wards.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let texts = [
        "thien mu",
        "hue",
        "cho dong",
        "lang tu duc",
        "tram",
        "phu hoi truong",
    ];
    measure("search (limit 20)", queries, |i| {
        city.search(texts[i % texts.len()], None, 20)
            .map_or(0, |r| r.len())
    });
    measure("search by category", queries, |i| {
        city.search(texts[i % texts.len()], Some(CATEGORIES[i % 7]), 20)
            .map_or(0, |r| r.len())
    });
    let points: Vec<Point> = (0..1024).map(|_| sequence.point()).collect();
    measure("nearest k=10", queries, |i| {
        city.nearest(points[i % points.len()], 10, None)
            .map_or(0, |r| r.len())
    });
    measure("nearest k=10 by category", queries, |i| {
        city.nearest(points[i % points.len()], 10, Some(CATEGORIES[i % 7]))
            .map_or(0, |r| r.len())
    });
    measure("within 1 km box (limit 100)", queries, |i| {
        let p = points[i % points.len()];
        let sw = Point {
            lat: p.lat - 0.0045,
            lon: p.lon - 0.0047,
        };
        let ne = Point {
            lat: p.lat + 0.0045,
            lon: p.lon + 0.0047,
        };
        city.within(sw, ne, None, 100).map_or(0, |r| r.len())
    });
    measure("reverse geocode (ward at)", queries, |i| {
        usize::from(city.ward_at(&points[i % points.len()]).is_some())
    });
    let categories: Vec<String> = city
        .report_categories
        .iter()
        .map(|c| c.id.clone())
        .collect();
    measure("route report", queries, |i| {
        usize::from(
            city.route_report(&categories[i % categories.len()], &points[i % points.len()])
                .is_ok(),
        )
    });
    Ok(())
}
