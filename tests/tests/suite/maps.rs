//! The `maps` sample (Bản đồ số Huế) end to end through the gateway: search
//! without diacritics, nearby and box queries, place pages without remote
//! URLs, reverse geocoding, the layers, the consented location, bad input.

use citadel_tests::{client, error_of, get, give_consent, sign_in, TestHost};
use serde_json::{json, Value};

/// The Imperial City (Đại Nội), inside ward `thuan-thanh`.
const IMPERIAL_CITY: (f64, f64) = (16.4698, 107.5786);

async fn json_ok(host: &TestHost, path: &str, token: Option<&str>) -> Value {
    let response = get(host, path, token).await;
    assert_eq!(response.status(), 200, "GET {path}");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json",
        "GET {path}"
    );
    response.json().await.unwrap()
}

/// An HTML page that must load nothing from elsewhere.
async fn html_ok(host: &TestHost, path: &str) -> String {
    let response = get(host, path, None).await;
    assert_eq!(response.status(), 200, "GET {path}");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{path} references a remote URL"
    );
    assert!(!html.contains("<script"), "{path} needs no script");
    html
}

/// `text` as the pages escape it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn names(places: &Value) -> Vec<String> {
    places
        .as_array()
        .expect("a list of places")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn distances(places: &Value) -> Vec<f64> {
    places
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["distance_m"].as_f64().unwrap())
        .collect()
}

fn assert_nearest_first(places: &Value) {
    let d = distances(places);
    assert!(!d.is_empty());
    assert!(
        d.windows(2).all(|w| w[0] <= w[1]),
        "distances increase: {d:?}"
    );
}

async fn thien_mu_id(host: &TestHost) -> String {
    let found = json_ok(host, "/apps/maps/api/search?q=thien%20mu", None).await;
    found["places"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_ignores_case_and_diacritics() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;

    let found = json_ok(&host, "/apps/maps/api/search?q=thien+mu", None).await;
    let first = names(&found["places"]);
    assert!(
        first.first().is_some_and(|n| n.contains("Chùa Thiên Mụ")),
        "{first:?}"
    );
    assert_eq!(found["count"], json!(first.len()));
    // With the diacritics and in capitals, the same best answer.
    let accented = json_ok(&host, "/apps/maps/api/search?q=THI%C3%8AN+M%E1%BB%A4", None).await;
    assert_eq!(accented["places"][0]["id"], found["places"][0]["id"]);
    let place = &found["places"][0];
    assert_eq!(place["category"], "heritage");
    assert!(place["lat"].as_f64().unwrap() > 16.0 && place["lon"].as_f64().unwrap() > 107.0);

    let dai_noi = names(&json_ok(&host, "/apps/maps/api/search?q=dai+noi", None).await["places"]);
    assert!(dai_noi.iter().any(|n| n.contains("Đại Nội")), "{dai_noi:?}");
    let hue = json_ok(&host, "/apps/maps/api/search?q=hue&limit=50", None).await;
    let hue = names(&hue["places"]);
    assert!(!hue.is_empty() && hue.len() <= 50);

    // A category narrows the search; every answer is of that category.
    let heritage = json_ok(&host, "/apps/maps/api/search?q=hue&category=heritage", None).await;
    assert!(heritage["places"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["category"] == "heritage"));
    // A search with no match is an empty list, not an error.
    let none = json_ok(&host, "/apps/maps/api/search?q=zzzqqq", None).await;
    assert_eq!(none["places"], json!([]));

    // The search page shows the place without loading anything remote.
    let html = html_ok(&host, "/apps/maps/?q=thien+mu").await;
    assert!(html.contains("Chùa Thiên Mụ"));
    assert!(html.contains("<svg"));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearby_and_box_queries() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let (lat, lon) = IMPERIAL_CITY;

    let nearby = json_ok(
        &host,
        &format!("/apps/maps/api/nearby?lat={lat}&lon={lon}&k=8"),
        None,
    )
    .await;
    let places = nearby["places"].as_array().unwrap();
    assert_eq!(places.len(), 8);
    assert_nearest_first(&nearby["places"]);
    assert_eq!(nearby["from"]["source"], "query");
    assert_eq!(nearby["from"]["ward"]["id"], "thuan-thanh");
    // Within the Citadel, the nearest place is a few hundred metres away at most.
    assert!(distances(&nearby["places"])[0] < 1500.0);

    let health = json_ok(
        &host,
        &format!("/apps/maps/api/nearby?lat={lat}&lon={lon}&category=health"),
        None,
    )
    .await;
    assert!(!health["places"].as_array().unwrap().is_empty());
    assert!(health["places"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["category"] == "health"));
    assert_nearest_first(&health["places"]);

    // A box around the Citadel holds only places inside it, west to east.
    let (south, west, north, east) = (16.455, 107.565, 16.485, 107.595);
    let inside = json_ok(
        &host,
        &format!("/apps/maps/api/within?south={south}&west={west}&north={north}&east={east}"),
        None,
    )
    .await;
    let places = inside["places"].as_array().unwrap();
    assert!(!places.is_empty());
    for p in places {
        let (plat, plon) = (p["lat"].as_f64().unwrap(), p["lon"].as_f64().unwrap());
        assert!(
            (south..=north).contains(&plat) && (west..=east).contains(&plon),
            "{p}"
        );
    }
    let lons: Vec<f64> = places.iter().map(|p| p["lon"].as_f64().unwrap()).collect();
    assert!(lons.windows(2).all(|w| w[0] <= w[1]));
    let limited = json_ok(
        &host,
        &format!(
            "/apps/maps/api/within?south={south}&west={west}&north={north}&east={east}&limit=2"
        ),
        None,
    )
    .await;
    assert!(limited["places"].as_array().unwrap().len() <= 2);

    // The nearby page for a point: its places, distances, no remote URL.
    let html = html_ok(&host, &format!("/apps/maps/nearby?lat={lat}&lon={lon}")).await;
    let first = escaped(nearby["places"][0]["name"].as_str().unwrap());
    assert!(html.contains(&first), "{first}");
    // Switching language keeps the point.
    assert!(html.contains(&format!(
        "/apps/maps/nearby?lat={lat}&amp;lon={lon}&amp;lang=en"
    )));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_wards_and_layers() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let id = thien_mu_id(&host).await;

    // The place as JSON: its ward and its five nearest neighbours.
    let place = json_ok(&host, &format!("/apps/maps/api/places/{id}"), None).await;
    assert!(place["name"].as_str().unwrap().contains("Chùa Thiên Mụ"));
    assert!(place["ward"]["id"].is_string(), "{place}");
    let neighbours = place["nearby"].as_array().unwrap();
    assert_eq!(neighbours.len(), 5);
    assert!(neighbours.iter().all(|n| n["id"] != json!(id)));
    assert_nearest_first(&place["nearby"]);

    // Its page: the name, its neighbours, a map, nothing remote.
    let html = html_ok(&host, &format!("/apps/maps/place/{id}")).await;
    assert!(html.contains("Chùa Thiên Mụ"));
    assert!(html.contains(&escaped(neighbours[0]["name"].as_str().unwrap())));
    assert!(html.contains("<svg"));
    assert!(html.contains("lang=\"vi\""));
    let english = html_ok(&host, &format!("/apps/maps/place/{id}?lang=en")).await;
    assert!(english.contains("lang=\"en\"") && english.contains("Nearest places"));

    // An unknown place: a JSON 404 with a code, and an HTML 404 page.
    let response = get(&host, "/apps/maps/api/places/no-such-place", None).await;
    assert_eq!(response.status(), 404);
    let (code, _) = error_of(response).await;
    assert_eq!(code, "not_found");
    let response = get(&host, "/apps/maps/place/no-such-place", None).await;
    assert_eq!(response.status(), 404);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    // Reverse geocoding: the Imperial City is in Thuận Thành; the sea is in no ward.
    let (lat, lon) = IMPERIAL_CITY;
    let ward = json_ok(
        &host,
        &format!("/apps/maps/api/ward?lat={lat}&lon={lon}"),
        None,
    )
    .await;
    assert_eq!(ward["ward"]["id"], "thuan-thanh");
    assert!(ward["ward"]["name"].is_string());
    let sea = json_ok(&host, "/apps/maps/api/ward?lat=16.60&lon=107.80", None).await;
    assert_eq!(sea["ward"], Value::Null);
    assert!(sea.as_object().unwrap().contains_key("ward"));

    // The layers: seven categories named in both languages with their counts,
    // and the wards as GeoJSON polygons in [lon, lat] order.
    let layers = json_ok(&host, "/apps/maps/api/layers", None).await;
    let categories = layers["categories"].as_array().unwrap();
    let ids: Vec<&str> = categories
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for expected in [
        "heritage",
        "attraction",
        "public-service",
        "health",
        "school",
        "market",
        "bus-stop",
        "parking",
    ] {
        assert!(ids.contains(&expected), "{ids:?}");
    }
    assert_eq!(categories.len(), 8);
    for c in categories {
        assert!(c["name"]["vi"].is_string() && c["name"]["en"].is_string());
        assert!(c["count"].as_u64().unwrap() > 0, "{c}");
    }
    let total: u64 = categories
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(layers["places"], json!(total));
    assert_eq!(layers["wards"]["type"], "FeatureCollection");
    let features = layers["wards"]["features"].as_array().unwrap();
    assert!(features.len() >= 25, "{} wards", features.len());
    for f in features {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "Polygon");
        let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
        assert!(ring.len() >= 4);
        assert_eq!(ring.first(), ring.last(), "a closed ring");
        let (x, y) = (ring[0][0].as_f64().unwrap(), ring[0][1].as_f64().unwrap());
        assert!(
            (107.0..108.5).contains(&x) && (16.0..17.0).contains(&y),
            "[lon, lat]: {x}, {y}"
        );
    }
    assert!(features
        .iter()
        .any(|f| f["properties"]["id"] == "thuan-thanh"));

    // The map page: filters, the map, the list; English on request.
    let home = html_ok(&host, "/apps/maps/").await;
    assert!(home.contains("Bản đồ số Huế") && home.contains("<svg"));
    assert!(home.contains("category=heritage"));
    let filtered = html_ok(&host, "/apps/maps/?category=market&lang=en").await;
    assert!(filtered.contains("Huế digital map"));
    // Without a configured tile layer, the config says so.
    let config = json_ok(&host, "/apps/maps/api/config", None).await;
    assert_eq!(config["tiles"], false);
    assert_eq!(config["tile_url"], Value::Null);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearby_without_a_point_needs_sign_in_consent_and_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;

    // Anonymous: 401 from the API; the page asks for a point instead.
    let response = get(&host, "/apps/maps/api/nearby", None).await;
    assert_eq!(response.status(), 401);
    let (code, _) = error_of(response).await;
    assert_eq!(code, "not_signed_in");
    let html = html_ok(&host, "/apps/maps/nearby").await;
    assert!(html.contains("name=\"lat\""));

    // Signed in, no consent: the SDK's 428 with the host's consent page.
    let lan = sign_in(&host, "c-lan").await;
    let response = get(&host, "/apps/maps/api/nearby", Some(&lan)).await;
    assert_eq!(response.status(), 428);
    assert_eq!(
        response.headers()["x-citadel-consent-url"]
            .to_str()
            .unwrap(),
        "/consent?app=maps&scopes=location"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "consent_required");
    assert_eq!(body["error"]["scopes"], json!(["location"]));
    // The page too answers 428 (as HTML), so the shell opens the consent page.
    let response = get(&host, "/apps/maps/nearby", Some(&lan)).await;
    assert_eq!(response.status(), 428);
    assert!(response.headers().contains_key("x-citadel-consent-url"));

    // The shell reports the device's position; still no consent, still 428.
    let (lat, lon) = IMPERIAL_CITY;
    let response = client()
        .put(host.url("/api/v1/me/location"))
        .bearer_auth(&lan)
        .json(&json!({ "lat": lat, "lon": lon }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        get(&host, "/apps/maps/api/nearby", Some(&lan))
            .await
            .status(),
        428
    );

    // The citizen consents through the host: nearby works from that position.
    let response = give_consent(&host, &lan, "maps", &["location"]).await;
    assert_eq!(response.status(), 201);
    let mine = json_ok(&host, "/apps/maps/api/nearby?k=5", Some(&lan)).await;
    assert_eq!(mine["from"]["source"], "location");
    assert_eq!(mine["from"]["lat"], json!(lat));
    assert_eq!(mine["from"]["lon"], json!(lon));
    assert_eq!(mine["from"]["ward"]["id"], "thuan-thanh");
    assert_nearest_first(&mine["places"]);
    let given = json_ok(
        &host,
        &format!("/apps/maps/api/nearby?lat={lat}&lon={lon}&k=5"),
        None,
    )
    .await;
    assert_eq!(mine["places"], given["places"]);
    let response = get(&host, "/apps/maps/nearby", Some(&lan)).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains(&escaped(given["places"][0]["name"].as_str().unwrap())));

    // Another citizen's consent is their own: c-minh still gets 428.
    let minh = sign_in(&host, "c-minh").await;
    assert_eq!(
        get(&host, "/apps/maps/api/nearby", Some(&minh))
            .await
            .status(),
        428
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_or_capped() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;

    // Not numbers, not positions, half a point, an unknown category, an
    // inverted box: a JSON error with 422 and a code.
    for path in [
        "/apps/maps/api/nearby?lat=abc&lon=107.5",
        "/apps/maps/api/nearby?lat=NaN&lon=107.5",
        "/apps/maps/api/nearby?lat=16.4&lon=inf",
        "/apps/maps/api/nearby?lat=999&lon=107.5",
        "/apps/maps/api/nearby?lat=16.4",
        "/apps/maps/api/nearby?lat=16.4&lon=107.5&k=-3",
        "/apps/maps/api/nearby?lat=16.4&lon=107.5&category=casino",
        "/apps/maps/api/ward?lat=%3Cscript%3E&lon=1",
        "/apps/maps/api/ward",
        "/apps/maps/api/within?south=16.5&west=107.5&north=16.4&east=107.6",
        "/apps/maps/api/within?south=16.4&west=107.5&north=16.5",
        "/apps/maps/api/search",
        "/apps/maps/api/search?q=hue&category=nope",
        "/apps/maps/api/search?q=hue&limit=lots",
    ] {
        let response = get(&host, path, None).await;
        let status = response.status().as_u16();
        assert!(status == 422 || status == 400, "{path}: {status}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/json",
            "{path}"
        );
        let (code, _) = error_of(response).await;
        assert!(
            code == "invalid_input" || code == "bad_request",
            "{path}: {code}"
        );
    }
    // An overlong search is refused by the host's geo call, through `?`.
    let long = "a".repeat(300);
    let response = get(&host, &format!("/apps/maps/api/search?q={long}"), None).await;
    assert_eq!(response.status(), 422);

    // Huge limits are capped: at most 1000 places, at most 100 nearest.
    let all = json_ok(
        &host,
        "/apps/maps/api/within?south=-90&west=-180&north=90&east=180&limit=99999999999999999999999",
        None,
    )
    .await;
    let count = all["places"].as_array().unwrap().len();
    assert!(count > 0 && count <= 1000, "{count}");
    let search = json_ok(&host, "/apps/maps/api/search?q=h&limit=4294967296", None).await;
    assert!(search["places"].as_array().unwrap().len() <= 1000);
    let nearest = json_ok(
        &host,
        "/apps/maps/api/nearby?lat=16.46&lon=107.59&k=1000000",
        None,
    )
    .await;
    assert!(nearest["places"].as_array().unwrap().len() <= 100);

    // Markup in the search box is shown as text, never run.
    let html = html_ok(
        &host,
        "/apps/maps/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%3E%3Cimg",
    )
    .await;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("\"><img"));
    // A bad number on a page is an HTML error page with the same status.
    let response = get(&host, "/apps/maps/nearby?lat=abc&lon=1", None).await;
    assert_eq!(response.status(), 422);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // Odd place ids are just unknown places.
    for id in ["..%2F..%2Fetc", "%00", "%F0%9F%97%BA"] {
        let response = get(&host, &format!("/apps/maps/api/places/{id}"), None).await;
        assert_eq!(response.status(), 404, "{id}");
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_tile_layer_is_offered() {
    let dir = tempfile::tempdir().unwrap();
    let template = "https://tiles.example.vn/{z}/{x}/{y}.png";
    let host = TestHost::start_with(dir.path(), |config| {
        config.tile_url = Some(template.to_string());
    })
    .await;
    let config = json_ok(&host, "/apps/maps/api/config", None).await;
    assert_eq!(config["tiles"], true);
    assert_eq!(config["tile_url"], template);
    let response = get(&host, "/apps/maps/", None).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("https://tiles.example.vn/13/"), "tiles drawn");
    assert!(html.contains("<svg"), "the offline map stays");
    // Other pages still reference nothing remote.
    html_ok(&host, "/apps/maps/nearby?lat=16.46&lon=107.59").await;
    host.stop().await;
}
