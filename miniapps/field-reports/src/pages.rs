//! The app's HTML: the public list and map, the filing form, a report's
//! page (with the author's rating form), the staff queue with its workflow
//! buttons, and the per-unit overview. Vietnamese by default, `?lang=en`.

use crate::report::{self, Report, Status};
use crate::staff_units;
use citadel_sdk::html::{escape, history_item, page, rating_form, t, vietnam_time};
use citadel_sdk::map::{self, Marker};
use citadel_sdk::{geo, identity, location, Request, Response, Result};

/// The app's links; the staff one only for staff of a unit that handles
/// reports.
fn nav(req: &Request, lang: &str) -> String {
    let base = escape(req.base_path());
    let handles_reports = |role: &identity::StaffRole| {
        geo::units().is_ok_and(|units| units.iter().any(|unit| unit.id == role.unit))
    };
    let staff = if identity::is_staff(handles_reports) {
        format!(
            "<a href=\"{base}/staff\">{}</a>",
            t(lang, "Cán bộ", "Staff")
        )
    } else {
        String::new()
    };
    format!(
        "<a href=\"{base}/\">{}</a><a href=\"{base}/new\">{}</a><a href=\"{base}/units\">{}</a>{staff}",
        t(lang, "Phản ánh", "Reports"),
        t(lang, "Gửi phản ánh", "File a report"),
        t(lang, "Đơn vị xử lý", "Units"),
    )
}

fn category_name(categories: &[geo::Category], id: &str, lang: &str) -> String {
    categories
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.name(lang).to_string())
        .unwrap_or_else(|| id.to_string())
}

fn colour(status: Status) -> &'static str {
    match status {
        Status::Received => "#b03a2e",
        Status::Assigned | Status::InProgress => "#b9770e",
        Status::Resolved => "#1e8449",
        Status::Rejected => "#566573",
    }
}

fn summary_card(req: &Request, r: &Report, categories: &[geo::Category], lang: &str) -> String {
    let overdue = if r.is_overdue(report::now_ms()) {
        format!(
            " <span class=\"badge\">{}</span>",
            t(lang, "Quá hạn", "Overdue")
        )
    } else {
        String::new()
    };
    format!(
        "<li class=\"card\"><a href=\"{}/reports/{}\"><strong>{}</strong></a> · <span class=\"badge\">{}</span>{overdue}<br>{}<br><span class=\"muted\">{} · {} · {} · {}</span></li>",
        escape(req.base_path()),
        escape(&r.id),
        escape(&category_name(categories, &r.category, lang)),
        r.status.label(lang),
        escape(&r.description),
        escape(r.code()),
        escape(r.ward.as_ref().map_or("—", |w| w.name.as_str())),
        escape(&r.unit.name),
        vietnam_time(r.created_at),
    )
}

/// Public: every report on a map and in a list; nothing personal.
pub fn home(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let (reports, next) = crate::filtered(req)?;
    let more = next
        .map(|cursor| {
            format!(
                "<p><a href=\"{}\">{}</a></p>",
                escape(&req.link("/", &[("after", &cursor)])),
                t(lang, "Xem các phản ánh cũ hơn", "Older reports")
            )
        })
        .unwrap_or_default();
    let categories = geo::report_categories()?;
    let markers: Vec<Marker> = reports
        .iter()
        .map(|r| Marker {
            at: geo::point(r.at.lat, r.at.lon),
            label: format!("{} — {}", r.code(), r.status.label(lang)),
            href: Some(format!("{}/reports/{}", req.base_path(), r.id)),
            colour: colour(r.status).into(),
        })
        .collect();
    let svg = map::svg(
        t(lang, "Bản đồ phản ánh", "Map of reports"),
        &geo::wards()?,
        &markers,
        640.0,
    );
    let list: String = reports
        .iter()
        .map(|r| summary_card(req, r, &categories, lang))
        .collect();
    let body = format!(
        "<p><a class=\"button\" href=\"{base}/new\">{new}</a> <a class=\"button\" href=\"{base}/new?here=1\">{here}</a></p>{svg}<h2>{title}</h2><ul class=\"plain\">{list}</ul>{more}",
        base = escape(req.base_path()),
        new = t(lang, "Gửi phản ánh mới", "File a new report"),
        here = t(lang, "Phản ánh tại vị trí của tôi", "Report where I am"),
        title = t(lang, "Phản ánh đã gửi", "Reports"),
        list = if list.is_empty() { format!("<li>{}</li>", t(lang, "Chưa có phản ánh nào.", "No reports yet.")) } else { list },
    );
    Ok(Response::html(page(
        lang,
        t(lang, "Phản ánh hiện trường", "Field reports"),
        &nav(req, lang),
        &body,
    )))
}

/// The filing form; `?q=` searches places to attach the report to.
pub fn new_report(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let base = escape(req.base_path());
    let options: String = geo::report_categories()?
        .iter()
        .map(|c| {
            format!(
                "<option value=\"{}\">{}</option>",
                escape(&c.id),
                escape(if lang == "en" { &c.name_en } else { &c.name_vi })
            )
        })
        .collect();
    let query = req.query("q").unwrap_or_default();
    let places = if query.trim().is_empty() {
        String::new()
    } else {
        let found: String = geo::search(&query, None, 10)?
            .iter()
            .map(|p| {
                format!(
                    "<label><input type=\"radio\" name=\"place\" value=\"{}\" style=\"width:auto\"> {}</label>",
                    escape(&p.id),
                    escape(&p.name)
                )
            })
            .collect();
        format!(
            "<fieldset><legend>{}</legend>{found}</fieldset>",
            t(lang, "Địa điểm", "Place")
        )
    };
    // `?here=1`: where the citizen is now (the consented `location`).
    let here = if req.query("here").as_deref() == Some("1") {
        let position = location::current()?;
        let at = geo::point(position.lat, position.lon);
        let ward = geo::ward_at(at)?.map_or_else(|| "—".to_string(), |w| w.name);
        format!(
            "<p class=\"card\" id=\"here\">{}: {} ({:.5}, {:.5})</p><input type=\"hidden\" name=\"lat\" value=\"{:.6}\"><input type=\"hidden\" name=\"lon\" value=\"{:.6}\">",
            t(lang, "Vị trí của bạn", "Your position"),
            escape(&ward),
            position.lat,
            position.lon,
            position.lat,
            position.lon,
        )
    } else {
        String::new()
    };
    let position = if here.is_empty() {
        format!(
            "<p><a href=\"{base}/new?here=1\">{}</a></p>\
             <div class=\"columns\"><div><label for=\"lat\">{}</label><input id=\"lat\" name=\"lat\" inputmode=\"decimal\"></div>\
             <div><label for=\"lon\">{}</label><input id=\"lon\" name=\"lon\" inputmode=\"decimal\"></div></div>",
            t(lang, "Dùng vị trí hiện tại của tôi", "Use my current location"),
            t(lang, "Vĩ độ", "Latitude"),
            t(lang, "Kinh độ", "Longitude"),
        )
    } else {
        String::new()
    };
    let body = format!(
        "<form method=\"get\" action=\"{base}/new\" class=\"card\"><label for=\"q\">{}</label><input id=\"q\" name=\"q\" value=\"{}\"><p><button>{}</button></p></form>\
         <form method=\"post\" action=\"{base}/api/reports\" enctype=\"multipart/form-data\" class=\"card\">\
         <label for=\"category\">{}</label><select id=\"category\" name=\"category\" required>{options}</select>\
         <label for=\"description\">{}</label><textarea id=\"description\" name=\"description\" rows=\"4\" maxlength=\"2000\" required></textarea>\
         {places}{here}{position}\
         <label for=\"photos\">{}</label><input id=\"photos\" type=\"file\" name=\"photos\" accept=\"image/jpeg,image/png,image/webp\" multiple>\
         <p><button>{}</button></p></form>",
        t(lang, "Tìm địa điểm", "Find a place"),
        escape(&query),
        t(lang, "Tìm", "Search"),
        t(lang, "Lĩnh vực", "Category"),
        t(lang, "Nội dung phản ánh", "What is wrong"),
        t(lang, "Ảnh (tối đa 3 ảnh, mỗi ảnh 2 MB)", "Photos (up to 3, 2 MB each)"),
        t(lang, "Gửi phản ánh", "Send the report"),
    );
    Ok(Response::html(page(
        lang,
        t(lang, "Gửi phản ánh", "File a report"),
        &nav(req, lang),
        &body,
    )))
}

/// A report's public page; its author also gets the rating form.
pub fn report(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let r = report::load(req.param("id").unwrap_or_default())?;
    let base = escape(req.base_path());
    let categories = geo::report_categories()?;
    let history: String = r
        .history
        .iter()
        .map(|s| history_item(s.at, s.status.label(lang), s.note.as_deref()))
        .collect();
    let photos: String = (0..r.photos.len())
        .map(|n| {
            format!(
                "<img src=\"{base}/api/reports/{}/photos/{n}\" alt=\"{} {}\" style=\"max-width:100%\">",
                escape(&r.id),
                t(lang, "Ảnh", "Photo"),
                n + 1
            )
        })
        .collect();
    let rating = match (
        r.rating,
        req.citizen() == Some(r.author.as_str()) && r.status == Status::Resolved,
    ) {
        (Some(stars), _) => format!("<p>{}: {stars}/5</p>", t(lang, "Đánh giá", "Rating")),
        (None, true) => rating_form(
            &format!("{base}/api/reports/{}/rating", escape(&r.id)),
            t(
                lang,
                "Bạn hài lòng với kết quả xử lý?",
                "How satisfied are you with the result?",
            ),
            t(lang, "Gửi đánh giá", "Rate"),
        ),
        (None, false) => String::new(),
    };
    let svg = map::svg(
        r.code(),
        &geo::wards()?,
        &[Marker {
            at: geo::point(r.at.lat, r.at.lon),
            label: r
                .place
                .as_ref()
                .map_or_else(|| r.code().to_string(), |p| p.name.clone()),
            href: None,
            colour: colour(r.status).into(),
        }],
        640.0,
    );
    let body = format!(
        "<div class=\"card\"><p><span class=\"badge\">{}</span> {}</p><p>{}</p>\
         <p class=\"muted\">{}: {} · {}: {} · {}: {}</p>{photos}</div>{rating}\
         <h2>{}</h2><ol>{history}</ol>{svg}",
        r.status.label(lang),
        escape(&category_name(&categories, &r.category, lang)),
        escape(&r.description),
        t(lang, "Phường", "Ward"),
        escape(r.ward.as_ref().map_or("—", |w| w.name.as_str())),
        t(lang, "Đơn vị xử lý", "Handled by"),
        escape(&r.unit.name),
        t(lang, "Hạn xử lý", "Deadline"),
        vietnam_time(r.deadline_at),
        t(lang, "Tiến trình", "History"),
    );
    let title = format!("{} {}", t(lang, "Phản ánh", "Report"), r.code());
    Ok(Response::html(page(lang, &title, &nav(req, lang), &body)))
}

/// The staff queue of the signed-in citizen's units, with the next steps.
pub fn staff(req: &Request) -> Result<Response> {
    let lang = req.lang();
    // Signed-out visitors get the standard 401; citizens without a role
    // the 403 of `queue`.
    staff_units()?;
    let (units, reports) = crate::queue()?;
    let base = escape(req.base_path());
    let categories = geo::report_categories()?;
    let items: String = reports
        .iter()
        .map(|r| {
            let next: Vec<Status> = [Status::Assigned, Status::InProgress, Status::Resolved, Status::Rejected]
                .into_iter()
                .filter(|s| r.status.may_become(*s))
                .collect();
            let buttons: String = next
                .iter()
                .map(|s| format!("<button name=\"status\" value=\"{}\">{}</button> ", s.id(), s.label(lang)))
                .collect();
            let form = if buttons.is_empty() {
                String::new()
            } else {
                format!(
                    "<form method=\"post\" action=\"{base}/api/reports/{}/status\"><label for=\"note-{}\">{}</label><input id=\"note-{}\" name=\"note\"><p>{buttons}</p></form>",
                    escape(&r.id),
                    escape(&r.id),
                    t(lang, "Ghi chú (bắt buộc khi từ chối)", "Note (required to reject)"),
                    escape(&r.id),
                )
            };
            format!("{}{form}", summary_card(req, r, &categories, lang).replace("</li>", ""))
                + "</li>"
        })
        .collect();
    let body = format!(
        "<p class=\"muted\">{}: {}</p><ul class=\"plain\">{items}</ul>",
        t(lang, "Đơn vị", "Units"),
        escape(&units.join(", ")),
    );
    Ok(Response::html(page(
        lang,
        t(lang, "Việc cần xử lý", "Work queue"),
        &nav(req, lang),
        &body,
    )))
}

/// Public: each unit's open, overdue and handled reports and its rating.
pub fn units(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let rows: String = crate::summaries()?
        .iter()
        .map(|s| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&s.name),
                s.open,
                s.overdue,
                s.handled,
                s.average_rating
                    .map_or("—".to_string(), |a| format!("{a:.1}"))
            )
        })
        .collect();
    let body = format!(
        "<div class=\"card\" style=\"overflow-x:auto\"><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>{rows}</tbody></table></div>",
        t(lang, "Đơn vị", "Unit"),
        t(lang, "Đang xử lý", "Open"),
        t(lang, "Quá hạn", "Overdue"),
        t(lang, "Đã xử lý", "Handled"),
        t(lang, "Đánh giá TB", "Avg. rating"),
    );
    Ok(Response::html(page(
        lang,
        t(lang, "Đơn vị xử lý", "Handling units"),
        &nav(req, lang),
        &body,
    )))
}
