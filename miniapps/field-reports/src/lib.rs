//! `field-reports` (phản ánh hiện trường), published by the city's
//! operations centre: citizens file reports that the city's routing table
//! sends to the responsible unit; unit staff (recognised by `identity.roles`)
//! move them through the workflow; the author is notified at every change
//! and rates the result; the public sees every report without personal data.

mod pages;
mod report;

use citadel_sdk::identity;
use citadel_sdk::{geo, location, log, notify, Error, Form, Request, Response, Result, Router};
use report::{Named, Report, Status, Step};
use serde_json::json;

fn router() -> Router {
    Router::new()
        .get("/", pages::home)
        .get("/new", pages::new_report)
        .get("/reports/:id", pages::report)
        .get("/staff", pages::staff)
        .get("/units", pages::units)
        .get("/api/categories", categories)
        .get("/api/route", preview_route)
        .get("/api/reports", public_list)
        .post("/api/reports", file_report)
        .get("/api/reports/:id", public_report)
        .get("/api/reports/:id/photos/:n", photo)
        .post("/api/reports/:id/status", change_status)
        .post("/api/reports/:id/rating", rate)
        .get("/api/mine", mine)
        .get("/api/staff/reports", staff_queue)
        .get("/api/overview", overview)
}

citadel_sdk::export_app!(router);

/// The units the signed-in citizen works for (the city's `identity.roles`
/// grant, no consent; signed out: 401).
pub(crate) fn staff_units() -> Result<Vec<String>> {
    Ok(identity::roles()?.into_iter().map(|r| r.unit).collect())
}

/// Where the report is: a chosen place, a point, or the device's position.
fn report_position(form: &Form) -> Result<(geo::Point, Option<Named>)> {
    if let Some(id) = form.get("place") {
        let place =
            geo::place(id)?.ok_or_else(|| Error::invalid(format!("there is no place `{id}`")))?;
        let named = Named {
            id: place.id,
            name: place.name,
        };
        return Ok((place.at, Some(named)));
    }
    match (form.number("lat")?, form.number("lon")?) {
        (Some(lat), Some(lon)) => return Ok((geo::point(lat, lon), None)),
        (None, None) => {}
        _ => return Err(Error::invalid("give both `lat` and `lon`")),
    }
    if matches!(form.get("use_location"), Some("1" | "true" | "on")) {
        let position = location::current()?;
        return Ok((geo::point(position.lat, position.lon), None));
    }
    Err(Error::invalid(
        "say where: `lat` and `lon`, a `place`, or `use_location`",
    ))
}

fn answer(req: &Request, status: u16, report: &Report) -> Result<Response> {
    if req.wants_html() {
        return Ok(Response::redirect(&format!(
            "{}/reports/{}",
            req.base_path(),
            report.id
        )));
    }
    Ok(Response::json(&report.public(report::now_ms()))?.with_status(status))
}

/// Tell a citizen about their report; a failure (e.g. the rate limit) is
/// logged and does not undo the change.
fn tell(recipient: Option<&str>, report: &Report, title: String, body: String) {
    let link = format!("/reports/{}", report.id);
    let sent = match recipient {
        None => notify::send(&title, &body, Some(&link)),
        Some(author) => notify::send_to(author, &title, &body, Some(&link)),
    };
    if let Err(e) = sent {
        log::warn(&format!(
            "could not notify about report {} ({}): {:?}",
            report.code(),
            report.id,
            e
        ));
    }
}

fn file_report(req: &Request) -> Result<Response> {
    let author = req.require_citizen()?.to_string();
    let form = Form::read(req)?;
    let category = form.required("category")?.to_string();
    let description = form.required("description")?.to_string();
    if description.chars().count() > report::MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(format!(
            "the description must be at most {} characters",
            report::MAX_DESCRIPTION_CHARS
        )));
    }
    if form.files.len() > report::MAX_PHOTOS {
        return Err(Error::invalid(format!(
            "at most {} photos per report",
            report::MAX_PHOTOS
        )));
    }
    let photos = form
        .files
        .iter()
        .map(|data| report::check_photo(data.clone()))
        .collect::<Result<Vec<_>>>()?;
    let (at, place) = report_position(&form)?;
    let routing = geo::route_report(&category, at)?;
    let now = report::now_ms();
    let report = Report {
        id: citadel_sdk::ids::sortable("PA"),
        code: report::new_code(now)?,
        category,
        description,
        at: report::Position {
            lat: at.lat,
            lon: at.lon,
        },
        place,
        ward: routing.ward.map(|w| Named {
            id: w.id,
            name: w.name,
        }),
        unit: Named {
            id: routing.unit.id,
            name: routing.unit.name,
        },
        created_at: now,
        deadline_at: now + u64::from(routing.deadline_hours) * 3_600_000,
        status: Status::Received,
        history: vec![Step {
            status: Status::Received,
            at: now,
            note: None,
            unit: None,
        }],
        photos: photos
            .iter()
            .map(|p| report::Photo {
                content_type: p.content_type.to_string(),
                bytes: p.data.len(),
            })
            .collect(),
        rating: None,
        author,
        handler: None,
    };
    report::file(&report, &photos)?;
    tell(
        None,
        &report,
        format!("Đã tiếp nhận phản ánh {}", report.code()),
        format!(
            "Phản ánh của bạn đã được chuyển đến {}; hạn xử lý {}.",
            report.unit.name,
            citadel_sdk::html::vietnam_time(report.deadline_at)
        ),
    );
    answer(req, 201, &report)
}

fn change_status(req: &Request) -> Result<Response> {
    let id = req.param("id").unwrap_or_default();
    report::load(id)?;
    let form = Form::read(req)?;
    let next = form.get("status").and_then(Status::parse).ok_or_else(|| {
        Error::invalid("`status` must be assigned, in_progress, resolved or rejected")
    })?;
    let staff = req.require_citizen()?.to_string();
    let units = staff_units()?;
    if units.is_empty() {
        return Err(Error::new(
            403,
            "staff_only",
            "only staff of the handling unit may change a report's status",
        ));
    }
    let note = form.get("note").map(str::to_string);
    if next == Status::Rejected && note.is_none() {
        return Err(Error::invalid("a rejection needs a reason in `note`"));
    }
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(Error::invalid("the note must be at most 1000 characters"));
    }
    let report = report::update(id, |report| {
        if !units.contains(&report.unit.id) {
            return Err(Error::new(
                403,
                "not_your_unit",
                format!("this report is handled by {}", report.unit.name),
            ));
        }
        if !report.status.may_become(next) {
            return Err(Error::conflict(format!(
                "a report that is {} cannot become {}",
                report.status.id(),
                next.id()
            )));
        }
        report.status = next;
        if next == Status::Assigned {
            report.handler = Some(staff.clone());
        }
        report.history.push(Step {
            status: next,
            at: report::now_ms(),
            note: note.clone(),
            unit: Some(report.unit.id.clone()),
        });
        Ok(())
    })?;
    let mut body = format!(
        "Phản ánh {} của bạn: {}.",
        report.code(),
        next.label("vi").to_lowercase()
    );
    if let Some(note) = &note {
        body.push_str(&format!(" {}: {note}", report.unit.name));
    }
    tell(
        Some(&report.author),
        &report,
        format!("Phản ánh {}: {}", report.code(), next.label("vi")),
        body,
    );
    answer(req, 200, &report)
}

fn rate(req: &Request) -> Result<Response> {
    let id = req.param("id").unwrap_or_default();
    let me = req.require_citizen()?.to_string();
    let rating = Form::read(req)?
        .required("rating")?
        .parse::<u8>()
        .ok()
        .filter(|r| (1..=5).contains(r))
        .ok_or_else(|| Error::invalid("`rating` must be a whole number from 1 to 5"))?;
    let report = report::update(id, |report| {
        if report.author != me {
            return Err(Error::new(
                403,
                "not_your_report",
                "only the citizen who filed a report may rate it",
            ));
        }
        if report.status != Status::Resolved {
            return Err(Error::conflict("only a resolved report can be rated"));
        }
        if report.rating.is_some() {
            return Err(Error::conflict("this report is already rated"));
        }
        report.rating = Some(rating);
        Ok(())
    })?;
    answer(req, 200, &report)
}

fn categories(_req: &Request) -> Result<Response> {
    let categories: Vec<_> = geo::report_categories()?
        .into_iter()
        .map(|c| json!({ "id": c.id, "name": { "vi": c.name_vi, "en": c.name_en } }))
        .collect();
    Response::json(&json!({ "categories": categories }))
}

fn preview_route(req: &Request) -> Result<Response> {
    let category = req
        .query("category")
        .ok_or_else(|| Error::invalid("`category` is required"))?;
    let coordinate = |name: &str| -> Result<f64> {
        req.query(name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::invalid(format!("`{name}` must be a number")))
    };
    let routing = geo::route_report(
        &category,
        geo::point(coordinate("lat")?, coordinate("lon")?),
    )?;
    Response::json(&json!({
        "category": routing.category,
        "unit": { "id": routing.unit.id, "name": routing.unit.name },
        "ward": routing.ward.map(|w| json!({ "id": w.id, "name": w.name })),
        "deadline_hours": routing.deadline_hours,
    }))
}

/// One page of reports, newest first (`limit`, at most 100, and the `after`
/// cursor of the previous page), keeping those that match the `status`,
/// `unit` and `category` query filters; the next page's cursor.
pub(crate) fn filtered(req: &Request) -> Result<(Vec<Report>, Option<String>)> {
    let status = req.query("status");
    let unit = req.query("unit");
    let category = req.query("category");
    let limit = match req.query("limit") {
        None => 50,
        Some(limit) => limit
            .parse::<u32>()
            .ok()
            .filter(|l| *l > 0)
            .ok_or_else(|| Error::invalid("`limit` must be a positive whole number"))?,
    };
    let (reports, next) = report::newest(limit, req.query("after").as_deref())?;
    let reports = reports
        .into_iter()
        .filter(|r| status.as_deref().is_none_or(|s| r.status.id() == s))
        .filter(|r| unit.as_deref().is_none_or(|u| r.unit.id == u))
        .filter(|r| category.as_deref().is_none_or(|c| r.category == c))
        .collect();
    Ok((reports, next))
}

fn public_list(req: &Request) -> Result<Response> {
    let now = report::now_ms();
    let (reports, next) = filtered(req)?;
    let public: Vec<_> = reports.iter().map(|r| r.public(now)).collect();
    Response::json(&json!({ "reports": public, "next": next }))
}

fn public_report(req: &Request) -> Result<Response> {
    let report = report::load(req.param("id").unwrap_or_default())?;
    Response::json(&report.public(report::now_ms()))
}

fn photo(req: &Request) -> Result<Response> {
    let report = report::load(req.param("id").unwrap_or_default())?;
    let n: usize = req
        .param("n")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::not_found("no such photo"))?;
    let (content_type, data) = report::photo(&report, n)?;
    Ok(Response::new(200)
        .with_header("content-type", &content_type)
        .with_header("cache-control", "public, max-age=86400")
        .with_body(data))
}

fn mine(req: &Request) -> Result<Response> {
    let me = req.require_citizen()?.to_string();
    let now = report::now_ms();
    let reports = report::all()?;
    let mine: Vec<_> = reports
        .iter()
        .filter(|r| r.author == me)
        .map(|r| r.public(now))
        .collect();
    Response::json(&json!({ "reports": mine }))
}

/// The reports of the signed-in staff member's units, open ones first.
pub(crate) fn queue() -> Result<(Vec<String>, Vec<Report>)> {
    let units = staff_units()?;
    if units.is_empty() {
        return Err(Error::new(
            403,
            "staff_only",
            "this list is for staff of handling units",
        ));
    }
    let mut reports: Vec<Report> = report::all()?
        .into_iter()
        .filter(|r| units.contains(&r.unit.id))
        .collect();
    reports.sort_by_key(|r| (!r.status.is_open(), r.deadline_at));
    Ok((units, reports))
}

fn staff_queue(req: &Request) -> Result<Response> {
    req.require_citizen()?.to_string();
    let (units, reports) = queue()?;
    let now = report::now_ms();
    let public: Vec<_> = reports.iter().map(|r| r.public(now)).collect();
    Response::json(&json!({ "units": units, "reports": public }))
}

/// Per unit: open, overdue and handled reports, and the average rating.
#[derive(Default, serde::Serialize)]
pub(crate) struct UnitSummary {
    pub unit: String,
    pub name: String,
    pub open: u32,
    pub overdue: u32,
    pub handled: u32,
    pub ratings: u32,
    pub average_rating: Option<f64>,
}

pub(crate) fn summaries() -> Result<Vec<UnitSummary>> {
    let now = report::now_ms();
    let mut by_unit: std::collections::BTreeMap<String, UnitSummary> = Default::default();
    let mut rating_sums: std::collections::BTreeMap<String, u32> = Default::default();
    for report in report::all()? {
        let summary = by_unit
            .entry(report.unit.id.clone())
            .or_insert_with(|| UnitSummary {
                unit: report.unit.id.clone(),
                name: report.unit.name.clone(),
                ..UnitSummary::default()
            });
        if report.status.is_open() {
            summary.open += 1;
            if report.is_overdue(now) {
                summary.overdue += 1;
            }
        } else {
            summary.handled += 1;
        }
        if let Some(rating) = report.rating {
            summary.ratings += 1;
            *rating_sums.entry(report.unit.id.clone()).or_default() += u32::from(rating);
        }
    }
    Ok(by_unit
        .into_values()
        .map(|mut s| {
            if s.ratings > 0 {
                let sum = rating_sums.get(&s.unit).copied().unwrap_or(0);
                s.average_rating =
                    Some((f64::from(sum) / f64::from(s.ratings) * 100.0).round() / 100.0);
            }
            s
        })
        .collect())
}

fn overview(_req: &Request) -> Result<Response> {
    Response::json(&json!({ "units": summaries()? }))
}
