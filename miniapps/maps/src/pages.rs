//! The app's HTML, mobile-first and script-free: the city map with search
//! and category filters, a place's page with its nearest neighbours, and the
//! places near a point or the citizen. Vietnamese by default, `?lang=en`.

use crate::api::{find_place, neighbours, origin, Origin};
use crate::{all_places, category, count, param, MAX_NEAREST};
use citadel_sdk::html::{encode, escape, page, t};
use citadel_sdk::map::{self, Marker};
use citadel_sdk::{geo, Error, Request, Response, Result};
use std::collections::{BTreeSet, HashMap};

/// Places a search on the map page gives at most.
const SEARCH_LIMIT: u32 = 200;
/// Places the map page lists at most (the map shows them all).
const LIST_LIMIT: usize = 100;
/// The centre of Huế, where the tile layer is centred without places.
const HUE: (f64, f64) = (16.4637, 107.5909);
/// The zoom level of the optional tile layer.
const TILE_ZOOM: i32 = 13;

/// A hidden `lang` field for forms, when the page was asked for explicitly.
fn lang_field(req: &Request) -> String {
    match req.query("lang").as_deref() {
        Some(l @ ("en" | "vi")) => format!("<input type=\"hidden\" name=\"lang\" value=\"{l}\">"),
        _ => String::new(),
    }
}

fn nav(req: &Request, lang: &str) -> String {
    let (other, other_name) = if lang == "en" {
        ("vi", "Tiếng Việt")
    } else {
        ("en", "English")
    };
    let same_page = req.in_language(other);
    format!(
        "<a href=\"{}\">{}</a><a href=\"{}\">{}</a><a href=\"{}\" lang=\"{other}\">{other_name}</a>",
        escape(&req.link("/", &[])),
        t(lang, "Bản đồ", "Map"),
        escape(&req.link("/nearby", &[])),
        t(lang, "Gần tôi", "Near me"),
        escape(&same_page),
    )
}

/// Marker colours per category, each at least 4.5:1 against white.
fn colour(category: &str) -> &'static str {
    match category {
        "heritage" => "#922b21",
        "attraction" => "#9a5b0a",
        "public-service" => "#1f618d",
        "health" => "#c0392b",
        "school" => "#117a65",
        "market" => "#6c3483",
        "bus-stop" => "#2e4053",
        _ => "#566573",
    }
}

fn category_name(categories: &[geo::Category], id: &str, lang: &str) -> String {
    categories
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.name(lang).to_string())
        .unwrap_or_else(|| id.to_string())
}

/// "350 m", "1,2 km" (vi) or "1.2 km" (en).
fn distance(lang: &str, metres: f64) -> String {
    if metres < 1000.0 {
        format!("{metres:.0} m")
    } else {
        let km = format!("{:.1} km", metres / 1000.0);
        if lang == "en" {
            km
        } else {
            km.replace('.', ",")
        }
    }
}

/// A page's answer; an error becomes an HTML page with its status (a 428
/// keeps the header that makes the shell open the consent page).
fn render(req: &Request, build: fn(&Request, &'static str) -> Result<String>) -> Result<Response> {
    let lang = req.lang();
    match build(req, lang) {
        Ok(html) => Ok(Response::html(html)),
        Err(e) => Ok(error_page(req, lang, &e)),
    }
}

fn error_page(req: &Request, lang: &str, e: &Error) -> Response {
    let title = match e.status() {
        404 => t(lang, "Không tìm thấy", "Not found"),
        401 => t(lang, "Cần đăng nhập", "Please sign in"),
        428 => t(lang, "Cần sự đồng ý của bạn", "Your consent is needed"),
        400 | 422 => t(lang, "Yêu cầu không hợp lệ", "Invalid request"),
        _ => t(lang, "Có lỗi xảy ra", "Something went wrong"),
    };
    let body = format!(
        "<div class=\"card\"><p>{}</p><p><a class=\"button\" href=\"{}\">{}</a></p></div>",
        escape(e.message()),
        escape(&req.link("/", &[])),
        t(lang, "Về bản đồ", "Back to the map"),
    );
    let mut response =
        Response::new(e.status()).with_header("content-type", "text/html; charset=utf-8");
    if !e.consent_scopes().is_empty() {
        response = response.with_header("x-citadel-consent", &e.consent_scopes().join(","));
    }
    response.with_body(page(lang, title, &nav(req, lang), &body))
}

/// The category filter links; `keep` are the other query parameters to keep.
fn filters(
    req: &Request,
    path: &str,
    keep: &[(&str, &str)],
    categories: &[geo::Category],
    selected: Option<&str>,
    lang: &str,
) -> String {
    let item = |id: Option<&str>, name: &str| {
        let mut query = keep.to_vec();
        if let Some(id) = id {
            query.push(("category", id));
        }
        let current = if id == selected {
            " aria-current=\"page\" style=\"font-weight:700;outline:2px solid #5b2a86\""
        } else {
            ""
        };
        format!(
            "<a class=\"badge\" href=\"{}\"{current}>{}</a> ",
            escape(&req.link(path, &query)),
            escape(name)
        )
    };
    let mut html = format!(
        "<nav aria-label=\"{}\" style=\"margin:8px 0;line-height:2.2\">",
        t(lang, "Lĩnh vực", "Categories")
    );
    html.push_str(&item(None, t(lang, "Tất cả", "All")));
    for c in categories {
        let name = if lang == "en" { &c.name_en } else { &c.name_vi };
        html.push_str(&item(Some(&c.id), name));
    }
    html.push_str("</nav>");
    html
}

/// A 3×3 mosaic of the operator's tiles around `centre` (only called when a
/// tile URL is configured).
fn tiles(template: &str, centre: geo::Point, lang: &str) -> String {
    let n = 2f64.powi(TILE_ZOOM);
    let x = ((centre.lon + 180.0) / 360.0 * n).floor() as i64;
    let lat = centre.lat.to_radians();
    let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor()
        as i64;
    let mut images = String::new();
    for dy in -1..=1 {
        for dx in -1..=1 {
            let url = template
                .replace("{z}", &TILE_ZOOM.to_string())
                .replace("{x}", &(x + dx).to_string())
                .replace("{y}", &(y + dy).to_string());
            images.push_str(&format!(
                "<img src=\"{}\" alt=\"\" width=\"256\" height=\"256\" loading=\"lazy\" style=\"width:100%;height:auto;display:block\">",
                escape(&url)
            ));
        }
    }
    format!(
        "<figure class=\"card\" style=\"margin:10px 0\"><div style=\"display:grid;grid-template-columns:repeat(3,1fr)\">{images}</div><figcaption class=\"muted\">{}</figcaption></figure>",
        t(lang, "Lớp bản đồ nền do thành phố cấu hình.", "Base map tiles configured by the city."),
    )
}

fn place_item(
    req: &Request,
    p: &geo::Place,
    extra: &str,
    categories: &[geo::Category],
    ward_names: &HashMap<String, String>,
    lang: &str,
) -> String {
    let mut details: Vec<String> = Vec::new();
    if let Some(address) = &p.address {
        details.push(escape(address));
    }
    if let Some(name) = p.ward.as_ref().and_then(|w| ward_names.get(w)) {
        details.push(escape(name));
    }
    format!(
        "<li class=\"card\"><a href=\"{}\"><strong>{}</strong></a> <span class=\"badge\">{}</span>{extra}<br><span class=\"muted\">{}</span></li>",
        escape(&req.link(&format!("/place/{}", encode(&p.id)), &[])),
        escape(&p.name),
        escape(&category_name(categories, &p.category, lang)),
        details.join(" · "),
    )
}

fn marker(req: &Request, p: &geo::Place) -> Marker {
    Marker {
        at: p.at,
        label: p.name.clone(),
        href: Some(req.link(&format!("/place/{}", encode(&p.id)), &[])),
        colour: colour(&p.category).into(),
    }
}

fn ward_names(wards: &[geo::WardShape]) -> HashMap<String, String> {
    wards
        .iter()
        .map(|w| (w.ward.id.clone(), w.ward.name.clone()))
        .collect()
}

/// `/`: search, category filters, the map of the (filtered) places over the
/// ward outlines, and the list.
pub fn home(req: &Request) -> Result<Response> {
    render(req, home_page)
}

fn home_page(req: &Request, lang: &'static str) -> Result<String> {
    let categories = geo::place_categories()?;
    let selected = category(req);
    let q = param(req, "q");
    let places = match &q {
        Some(q) => geo::search(q, selected.as_deref(), SEARCH_LIMIT)?,
        None => all_places(selected.as_deref())?,
    };
    let wards = geo::wards()?;
    let names = ward_names(&wards);

    let hidden_category = selected
        .as_ref()
        .map(|c| {
            format!(
                "<input type=\"hidden\" name=\"category\" value=\"{}\">",
                escape(c)
            )
        })
        .unwrap_or_default();
    let form = format!(
        "<form method=\"get\" action=\"{}/\" role=\"search\" class=\"card\"><label for=\"q\">{}</label>\
         <input id=\"q\" name=\"q\" type=\"search\" value=\"{}\" placeholder=\"{}\" autocomplete=\"off\">{hidden_category}{}\
         <p><button>{}</button></p></form>",
        escape(req.base_path()),
        t(lang, "Tìm địa điểm", "Find a place"),
        escape(q.as_deref().unwrap_or_default()),
        t(lang, "Ví dụ: chua thien mu, dai noi, cho dong ba", "e.g. thien mu, dai noi, dong ba market"),
        lang_field(req),
        t(lang, "Tìm", "Search"),
    );
    let filter_links = filters(
        req,
        "/",
        &[("q", q.as_deref().unwrap_or_default())],
        &categories,
        selected.as_deref(),
        lang,
    );

    let tile_layer = match geo::tile_url()? {
        Some(template) => {
            let centre = if places.is_empty() {
                geo::point(HUE.0, HUE.1)
            } else {
                let n = places.len() as f64;
                geo::point(
                    places.iter().map(|p| p.at.lat).sum::<f64>() / n,
                    places.iter().map(|p| p.at.lon).sum::<f64>() / n,
                )
            };
            format!(
                "<p class=\"muted\">{}</p>{}",
                t(
                    lang,
                    "Có lớp bản đồ nền (tile) do thành phố cấu hình; bản đồ bên dưới vẫn dùng được khi không có mạng.",
                    "A base map tile layer configured by the city is available; the map below works offline too."
                ),
                tiles(&template, centre, lang)
            )
        }
        None => String::new(),
    };

    let markers: Vec<Marker> = places.iter().map(|p| marker(req, p)).collect();
    let svg = map::svg(
        t(lang, "Bản đồ các địa điểm của Huế", "Map of places in Huế"),
        &wards,
        &markers,
        640.0,
    );
    let heading = match &q {
        Some(q) => format!(
            "{} “{}”: {}",
            t(lang, "Kết quả cho", "Results for"),
            escape(q),
            places.len()
        ),
        None => format!("{} {}", places.len(), t(lang, "địa điểm", "places")),
    };
    let items: String = places
        .iter()
        .take(LIST_LIMIT)
        .map(|p| place_item(req, p, "", &categories, &names, lang))
        .collect();
    let more = if places.len() > LIST_LIMIT {
        format!(
            "<p class=\"muted\">{} {LIST_LIMIT} / {}. {}</p>",
            t(lang, "Đang hiển thị", "Showing"),
            places.len(),
            t(
                lang,
                "Hãy tìm kiếm hoặc chọn lĩnh vực để thu hẹp danh sách.",
                "Search or pick a category to narrow the list."
            )
        )
    } else {
        String::new()
    };
    let list = if places.is_empty() {
        format!(
            "<p>{}</p>",
            t(lang, "Không có địa điểm nào phù hợp.", "No place matches.")
        )
    } else {
        format!("<ul class=\"plain\">{items}</ul>{more}")
    };
    let body = format!(
        "{form}{filter_links}{tile_layer}{svg}\
         <p><a class=\"button\" href=\"{}\">{}</a></p><h2>{heading}</h2>{list}",
        escape(&req.link("/nearby", &[])),
        t(lang, "Địa điểm gần tôi", "Places near me"),
    );
    Ok(page(
        lang,
        t(lang, "Bản đồ số Huế", "Huế digital map"),
        &nav(req, lang),
        &body,
    ))
}

/// `/place/:id`: the place, its ward, its five nearest neighbours and a
/// small map of them.
pub fn place(req: &Request) -> Result<Response> {
    render(req, place_page)
}

fn place_page(req: &Request, lang: &'static str) -> Result<String> {
    let place = find_place(req.param("id").unwrap_or_default())?;
    let categories = geo::place_categories()?;
    let ward = geo::ward_at(place.at)?;
    let near = neighbours(&place, 5)?;
    let ward_id = ward.as_ref().map(|w| w.id.clone()).or(place.ward.clone());
    let shapes: Vec<geo::WardShape> = geo::wards()?
        .into_iter()
        .filter(|w| Some(&w.ward.id) == ward_id.as_ref())
        .collect();
    let mut markers = vec![Marker {
        at: place.at,
        label: place.name.clone(),
        href: None,
        colour: colour(&place.category).into(),
    }];
    markers.extend(near.iter().map(|n| Marker {
        colour: "#566573".into(),
        ..marker(req, &n.place)
    }));
    let svg = map::svg(&place.name, &shapes, &markers, 360.0);
    let neighbours: String = near
        .iter()
        .map(|n| {
            format!(
                "<li><a href=\"{}\">{}</a> — {} <span class=\"muted\">({})</span></li>",
                escape(&req.link(&format!("/place/{}", encode(&n.place.id)), &[])),
                escape(&n.place.name),
                distance(lang, n.distance_m),
                escape(&category_name(&categories, &n.place.category, lang)),
            )
        })
        .collect();
    let lat = format!("{:.5}", place.at.lat);
    let lon = format!("{:.5}", place.at.lon);
    let body = format!(
        "<div class=\"card\"><p><span class=\"badge\">{}</span></p>\
         <p><strong>{}:</strong> {}</p><p><strong>{}:</strong> {}</p>\
         <p class=\"muted\">{lat}, {lon}</p>\
         <p><a class=\"button\" href=\"{}\">{}</a></p></div>\
         <div class=\"columns\"><div>{svg}</div><div><h2>{}</h2><ol>{neighbours}</ol></div></div>",
        escape(&category_name(&categories, &place.category, lang)),
        t(lang, "Địa chỉ", "Address"),
        escape(place.address.as_deref().unwrap_or("—")),
        t(lang, "Phường", "Ward"),
        escape(ward.as_ref().map_or("—", |w| w.name.as_str())),
        escape(&req.link("/nearby", &[("lat", &lat), ("lon", &lon)])),
        t(lang, "Xem các địa điểm xung quanh", "See places around"),
        t(lang, "Địa điểm gần nhất", "Nearest places"),
    );
    Ok(page(lang, &place.name, &nav(req, lang), &body))
}

/// `/nearby?lat=&lon=&category=&k=`, or around the citizen's consented
/// position; without either, a form asks for a point.
pub fn nearby(req: &Request) -> Result<Response> {
    render(req, nearby_page)
}

fn position_form(req: &Request, lang: &str, lat: &str, lon: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{}/nearby\" class=\"card\">\
         <div class=\"columns\"><div><label for=\"lat\">{}</label><input id=\"lat\" name=\"lat\" inputmode=\"decimal\" value=\"{}\" required></div>\
         <div><label for=\"lon\">{}</label><input id=\"lon\" name=\"lon\" inputmode=\"decimal\" value=\"{}\" required></div></div>{}\
         <p><button>{}</button></p></form>",
        escape(req.base_path()),
        t(lang, "Vĩ độ", "Latitude"),
        escape(lat),
        t(lang, "Kinh độ", "Longitude"),
        escape(lon),
        lang_field(req),
        t(lang, "Tìm quanh điểm này", "Search around this point"),
    )
}

fn nearby_page(req: &Request, lang: &'static str) -> Result<String> {
    let k = count(req, "k", 10, MAX_NEAREST)?;
    let selected = category(req);
    let title = t(lang, "Địa điểm gần đây", "Places nearby");
    let from: Origin = match origin(req) {
        Ok(from) => from,
        // Anonymous, or no recent position: ask for a point instead.
        Err(e) if matches!(e.code(), "not_signed_in" | "location_unknown") => {
            let why = if e.code() == "not_signed_in" {
                t(
                    lang,
                    "Đăng nhập và cho phép chia sẻ vị trí để xem các địa điểm gần bạn, hoặc nhập một điểm.",
                    "Sign in and allow sharing your location to see places near you, or enter a point."
                )
            } else {
                t(
                    lang,
                    "Thiết bị của bạn chưa chia sẻ vị trí gần đây; hãy bật định vị trong ứng dụng, hoặc nhập một điểm.",
                    "Your device has not shared a recent position; turn on location in the app, or enter a point."
                )
            };
            let body = format!("<p>{why}</p>{}", position_form(req, lang, "", ""));
            return Ok(page(lang, title, &nav(req, lang), &body));
        }
        Err(e) => return Err(e),
    };
    let categories = geo::place_categories()?;
    let found = geo::nearest(from.at, k, selected.as_deref())?;
    let here = geo::ward_at(from.at)?;
    let wanted: BTreeSet<String> = here
        .iter()
        .map(|w| w.id.clone())
        .chain(found.iter().filter_map(|n| n.place.ward.clone()))
        .collect();
    let wards: Vec<geo::WardShape> = geo::wards()?
        .into_iter()
        .filter(|w| wanted.contains(&w.ward.id))
        .collect();
    let names = ward_names(&wards);
    let origin_label = if from.source == "location" {
        t(lang, "Vị trí của bạn", "Your position")
    } else {
        t(lang, "Điểm đã chọn", "The chosen point")
    };
    let mut markers = vec![Marker {
        at: from.at,
        label: origin_label.to_string(),
        href: None,
        colour: "#000000".into(),
    }];
    markers.extend(found.iter().map(|n| marker(req, &n.place)));
    let svg = map::svg(title, &wards, &markers, 640.0);
    let items: String = found
        .iter()
        .map(|n| {
            let extra = format!(" · {}", distance(lang, n.distance_m));
            place_item(req, &n.place, &extra, &categories, &names, lang)
        })
        .collect();
    let (lat, lon) = (format!("{:.5}", from.at.lat), format!("{:.5}", from.at.lon));
    let keep: Vec<(&str, &str)> = if from.source == "query" {
        vec![("lat", lat.as_str()), ("lon", lon.as_str())]
    } else {
        Vec::new()
    };
    let filter_links = filters(
        req,
        "/nearby",
        &keep,
        &categories,
        selected.as_deref(),
        lang,
    );
    let list = if found.is_empty() {
        format!(
            "<p>{}</p>",
            t(lang, "Không có địa điểm nào.", "No places found.")
        )
    } else {
        format!("<ol class=\"plain\">{items}</ol>")
    };
    let body = format!(
        "<p>{origin_label}: {lat}, {lon}{}</p>{filter_links}{svg}<h2>{title}</h2>{list}\
         <h2>{}</h2>{}",
        here.as_ref()
            .map(|w| format!(" — {}", escape(&w.name)))
            .unwrap_or_default(),
        t(
            lang,
            "Tìm quanh một điểm khác",
            "Search around another point"
        ),
        position_form(req, lang, &lat, &lon),
    );
    Ok(page(lang, title, &nav(req, lang), &body))
}
