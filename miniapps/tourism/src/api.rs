//! The JSON API under `/api/` and the payment hook: sites and prices,
//! orders and their payment attempts, ticket QR images, gate validation
//! (once per ticket, atomically) and the events calendar.

use crate::calendar::{Date, Month, EVENTS};
use crate::catalogue::{self, Site, TicketType};
use crate::order::{self, Order, Status, Use};
use crate::{is_sight, place_name, GATE_UNIT};
use citadel_sdk::html::vietnam_time;
use citadel_sdk::ids::now_ms;
use citadel_sdk::time;
use citadel_sdk::{geo, identity, kv, log, payments, Error, Form, Request, Response, Result};
use serde_json::{json, Value};

/// A JSON error like the SDK's, with extra fields (e.g. when a ticket was used).
pub(crate) fn refusal(
    req: &Request,
    status: u16,
    code: &str,
    message: &str,
    extra: Value,
) -> Result<Response> {
    let mut error = json!({ "code": code, "message": message });
    if let Some(id) = req.request_id() {
        error["request_id"] = json!(id);
    }
    if let (Some(error), Value::Object(extra)) = (error.as_object_mut(), extra) {
        error.extend(extra);
    }
    Ok(Response::json(&json!({ "valid": false, "error": error }))?.with_status(status))
}

fn ticket_json(t: &TicketType, lang: &str) -> Value {
    json!({
        "id": t.id,
        "name": t.name(lang),
        "kind": t.kind.id(),
        "kind_label": t.kind.label(lang),
        "price": t.price,
        "sites": t.sites,
        "combo": t.is_combo(),
    })
}

fn hours_json(site: &Site, lang: &str) -> Value {
    let (open, close) = site.hours.on(time::today());
    json!({
        "summer": { "months": "04-09", "open": site.hours.summer.0, "close": site.hours.summer.1 },
        "winter": { "months": "10-03", "open": site.hours.winter.0, "close": site.hours.winter.1 },
        "today": { "open": open, "close": close },
        "text": site.hours.describe(lang),
    })
}

/// A place with what the catalogue says about it (hours, tickets), if anything.
pub(crate) fn site_json(place: &geo::Place, lang: &str) -> Value {
    let site = catalogue::site(&place.id);
    json!({
        "id": place.id,
        "name": place.name,
        "name_en": site.map(|s| s.name_en),
        "category": place.category,
        "address": place.address,
        "ward": place.ward,
        "lat": place.at.lat,
        "lon": place.at.lon,
        "about": site.map(|s| s.about(lang)),
        "free": site.map(|s| s.free),
        "sells_tickets": site.is_some_and(|s| !s.free),
        "hours": site.map(|s| hours_json(s, lang)),
        "tickets": site.map(|s| s.tickets().iter().map(|t| ticket_json(t, lang)).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

/// The catalogue's site as a place, from `geo` or, failing that, itself.
pub(crate) fn site_place(site: &Site) -> Result<geo::Place> {
    Ok(geo::place(site.id)?.unwrap_or_else(|| geo::Place {
        id: site.id.to_string(),
        name: site.name_vi.to_string(),
        category: "heritage".into(),
        at: geo::point(16.4698, 107.5786),
        address: None,
        ward: None,
    }))
}

/// `GET /api/sites?q=`: the catalogue's sites with hours and prices, and
/// the city's other heritage sites and attractions (matching `q`, if given).
pub fn sites(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let q = req
        .query("q")
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    let mut catalogue_sites = Vec::new();
    for site in catalogue::SITES {
        catalogue_sites.push(site_json(&site_place(site)?, lang));
    }
    let others: Vec<geo::Place> = match &q {
        Some(q) => {
            let mut found = geo::search(q, Some("heritage"), 50)?;
            found.extend(geo::search(q, Some("attraction"), 50)?);
            found
        }
        None => crate::all_sights()?,
    };
    let others: Vec<Value> = others
        .iter()
        .filter(|p| catalogue::site(&p.id).is_none())
        .map(|p| {
            json!({
                "id": p.id, "name": p.name, "category": p.category,
                "address": p.address, "lat": p.at.lat, "lon": p.at.lon,
            })
        })
        .collect();
    Response::json(&json!({ "sites": catalogue_sites, "others": others, "query": q }))
}

/// The heritage site or attraction `id`, or 404.
pub(crate) fn sight(id: &str) -> Result<geo::Place> {
    geo::place(id)?.filter(is_sight).ok_or_else(|| {
        Error::new(
            404,
            "site_not_found",
            format!("no heritage site or attraction `{id}`"),
        )
    })
}

/// `GET /api/sites/:id`: one site with its hours and tickets.
pub fn site(req: &Request) -> Result<Response> {
    let place = sight(req.param("id").unwrap_or_default())?;
    let mut body = site_json(&place, req.lang());
    let this_month = Month::of(time::today());
    body["events"] = EVENTS
        .iter()
        .filter(|e| e.place == place.id)
        .map(|e| json!({ "id": e.id, "title": e.title(req.lang()), "time": e.time, "dates": e.dates_in(this_month).iter().map(|d| d.to_string()).collect::<Vec<_>>() }))
        .collect();
    Response::json(&body)
}

/// The ticket type a form names: `ticket`, or `site` and `type` (`adult`, `child`).
fn ticket_of(form: &Form) -> Result<&'static TicketType> {
    let id = match (form.get("ticket"), form.get("site"), form.get("type")) {
        (Some(ticket), _, _) => ticket.to_string(),
        (None, Some(site), Some(kind)) => format!("{site}-{kind}"),
        (None, Some(site), None) => format!("{site}-adult"),
        _ => return Err(Error::invalid("`ticket` (a ticket type id) is required")),
    };
    if let Some(ticket) = catalogue::ticket(&id) {
        return Ok(ticket);
    }
    let site = form.get("site").or(form.get("ticket")).unwrap_or_default();
    if catalogue::site(site).is_some_and(|s| s.free) {
        return Err(Error::new(
            422,
            "no_ticket_needed",
            format!("`{site}` is free to enter: no ticket is sold"),
        ));
    }
    Err(Error::new(
        422,
        "unknown_ticket",
        format!("there is no ticket type `{id}`"),
    ))
}

fn quantity_of(form: &Form) -> Result<u32> {
    let raw = form.get("quantity").unwrap_or("1");
    raw.parse::<u32>()
        .ok()
        .filter(|q| (1..=order::MAX_QUANTITY).contains(q))
        .ok_or_else(|| {
            Error::new(
                422,
                "invalid_quantity",
                format!(
                    "`quantity` must be a whole number from 1 to {}",
                    order::MAX_QUANTITY
                ),
            )
        })
}

fn visit_date_of(form: &Form) -> Result<Date> {
    let raw = form
        .get("visit_date")
        .or(form.get("date"))
        .ok_or_else(|| Error::new(422, "invalid_date", "`visit_date` (YYYY-MM-DD) is required"))?;
    let date = time::parse_date(raw)
        .map_err(|e| Error::new(422, "invalid_date", format!("`visit_date`: {e}")))?;
    let today = time::today();
    if date < today {
        return Err(Error::new(
            422,
            "date_in_past",
            format!(
                "the visit date {} is before today ({} in Huế)",
                time::format_date(date),
                time::format_date(today)
            ),
        ));
    }
    if date > time::add_days(today, order::MAX_DAYS_AHEAD) {
        return Err(Error::new(
            422,
            "date_too_far",
            format!(
                "tickets are sold at most {} days ahead",
                order::MAX_DAYS_AHEAD
            ),
        ));
    }
    Ok(date)
}

/// What the payment page shows the citizen.
fn description(ticket: &TicketType, quantity: u32, date: &str) -> String {
    let date = time::parse_date(date).map_or_else(|_| date.to_string(), time::format_date);
    let text = format!("Vé {} × {quantity}, ngày {date}", ticket.name_vi);
    text.chars().take(200).collect()
}

fn order_answer(req: &Request, status: u16, order: &Order) -> Result<Response> {
    if req.wants_html() {
        // The shell shows the host's payment page for this redirect, then
        // reopens the order (`then`) in the app.
        if let (Status::Pending, Some(url)) = (order.status, &order.confirm_url) {
            return Ok(Response::redirect(&format!(
                "{url}?then=/orders/{}",
                order.id
            )));
        }
        return Ok(Response::redirect(&format!(
            "{}/orders/{}",
            req.base_path(),
            order.id
        )));
    }
    let lang = req.lang();
    Ok(Response::json(&order.view(lang, &place_name(&order.site, lang)))?.with_status(status))
}

/// `POST /api/orders` {ticket, quantity, visit_date}: a signed-in citizen
/// orders tickets; the answer carries the payment's `confirm_url` (a browser
/// is sent there).
pub fn create_order(req: &Request) -> Result<Response> {
    let owner = req.require_citizen()?.to_string();
    let form = Form::read(req)?;
    let ticket = ticket_of(&form)?;
    let quantity = quantity_of(&form)?;
    let date = visit_date_of(&form)?;
    let mut order = Order {
        id: order::new_id(),
        owner,
        ticket: ticket.id.to_string(),
        site: ticket.site().to_string(),
        quantity,
        unit_price: ticket.price,
        amount: ticket.price * u64::from(quantity),
        visit_date: date.to_string(),
        created_at: now_ms(),
        status: Status::Pending,
        attempt: 1,
        intent: None,
        payment_status: None,
        confirm_url: None,
        expires_at: None,
        paid_at: None,
        tickets: Vec::new(),
    };
    let intent =
        order::start_attempt(&order, 1, &description(ticket, quantity, &order.visit_date))?;
    order.intent = Some(intent.id);
    order.payment_status = Some("pending".into());
    order.confirm_url = Some(intent.confirm_url);
    order.expires_at = Some(intent.expires_at);
    order::insert(&order)?;
    order_answer(req, 201, &order)
}

/// `GET /api/orders`: the signed-in citizen's own orders, newest first.
pub fn list_orders(req: &Request) -> Result<Response> {
    let owner = req.require_citizen()?.to_string();
    let lang = req.lang();
    let mut views = Vec::new();
    for order in order::mine(&owner)? {
        let order = order::sync(order)?;
        views.push(order.view(lang, &place_name(&order.site, lang)));
    }
    Response::json(&json!({ "orders": views }))
}

/// `GET /api/orders/:id`: the owner's order, in step with its payment.
pub fn get_order(req: &Request) -> Result<Response> {
    let owner = req.require_citizen()?.to_string();
    let order = order::load_owned(req.param("id").unwrap_or_default(), &owner)?;
    let order = order::sync(order)?;
    order_answer(req, 200, &order)
}

/// `POST /api/orders/:id/pay`: a new payment attempt for an unpaid order
/// (its intent was cancelled or expired); a pending one answers with its
/// current intent.
pub fn pay(req: &Request) -> Result<Response> {
    let owner = req.require_citizen()?.to_string();
    let order = order::load_owned(req.param("id").unwrap_or_default(), &owner)?;
    let order = order::sync(order)?;
    match order.status {
        Status::Paid => return Err(Error::new(409, "already_paid", "this order is paid")),
        Status::Refunded => {
            return Err(Error::new(
                409,
                "refunded",
                "this order was refunded; place a new one",
            ))
        }
        Status::Pending => return order_answer(req, 200, &order),
        Status::Unpaid => {}
    }
    if order.date().is_some_and(|d| d < time::today()) {
        return Err(Error::new(
            422,
            "date_in_past",
            "the visit date has passed; place a new order",
        ));
    }
    let ticket = order
        .ticket_type()
        .ok_or_else(|| Error::internal("the order's ticket type is gone"))?;
    let attempt = order.attempt + 1;
    let intent = order::start_attempt(
        &order,
        attempt,
        &description(ticket, order.quantity, &order.visit_date),
    )?;
    let updated = order::update(&order.id, |o| {
        if o.attempt == attempt && o.intent.as_deref() == Some(intent.id.as_str()) {
            return Ok(()); // a concurrent request started the same attempt
        }
        if o.status != Status::Unpaid || o.attempt + 1 != attempt {
            return Err(Error::conflict(
                "the order changed meanwhile; look at it again",
            ));
        }
        o.attempt = attempt;
        o.intent = Some(intent.id.clone());
        o.payment_status = Some("pending".into());
        o.confirm_url = Some(intent.confirm_url.clone());
        o.expires_at = Some(intent.expires_at);
        o.status = Status::Pending;
        Ok(())
    })?;
    order_answer(req, 201, &updated)
}

/// `GET /api/tickets/:code/qr.svg`: the QR image of one of the owner's paid tickets.
pub fn qr(req: &Request) -> Result<Response> {
    let owner = req.require_citizen()?.to_string();
    let not_found = || Error::new(404, "ticket_not_found", "no such ticket of yours");
    let code =
        order::normalise_code(req.param("code").unwrap_or_default()).ok_or_else(not_found)?;
    let (order, ticket) = order::find_ticket(&code)?.ok_or_else(not_found)?;
    if order.owner != owner || order.status != Status::Paid {
        return Err(not_found());
    }
    Ok(Response::new(200)
        .with_header("content-type", "image/svg+xml")
        .with_header("cache-control", "private, max-age=3600")
        .with_body(order::qr_svg(&ticket.code)?))
}

/// The outcome of a gate check, for the JSON answer and the gate page.
pub(crate) struct Check {
    pub status: u16,
    pub body: Value,
}

/// Check ticket `code` in at `site` (required for a combined ticket) today.
///
/// Accepted once: the use is recorded with `kv::insert_new_json`, so of
/// two gates racing with the same code exactly one accepts. A ticket for
/// another day is refused (409 `wrong_date`) and stays valid for its day.
pub(crate) fn check_in(req: &Request, code: &str, site: Option<&str>) -> Result<Check> {
    let lang = req.lang();
    let refuse = |status: u16, code: &str, message: String, extra: Value| -> Result<Check> {
        let response = refusal(req, status, code, &message, extra)?;
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        Ok(Check { status, body })
    };
    let Some(code) = order::normalise_code(code) else {
        return refuse(
            404,
            "unknown_ticket",
            "no ticket has this code".into(),
            json!({}),
        );
    };
    let Some((order, ticket)) = order::find_ticket(&code)? else {
        return refuse(
            404,
            "unknown_ticket",
            "no ticket has this code".into(),
            json!({}),
        );
    };
    let Some(kind) = order.ticket_type() else {
        return refuse(
            404,
            "unknown_ticket",
            "no ticket has this code".into(),
            json!({}),
        );
    };
    if order.status != Status::Paid {
        return refuse(
            409,
            "not_paid",
            format!("this ticket's order is {}", order.status.id()),
            json!({ "order_status": order.status.id() }),
        );
    }
    let at_site = match (site, kind.is_combo()) {
        (Some(site), _) if !kind.sites.contains(&site) => {
            return refuse(
                409,
                "wrong_site",
                format!("this ticket is for {}", kind.sites.join(", ")),
                json!({ "sites": kind.sites }),
            )
        }
        (Some(site), _) => site.to_string(),
        (None, false) => kind.site().to_string(),
        (None, true) => return Err(Error::invalid("a combined ticket needs the gate's `site`")),
    };
    let used_key = order::used_key(&code, kind.is_combo().then_some(at_site.as_str()));
    let used = |previous: Use| {
        refuse(
            409,
            "already_used",
            format!(
                "this ticket was used at {} (Huế time)",
                vietnam_time(previous.at)
            ),
            json!({ "used_at": previous.at, "used_at_local": vietnam_time(previous.at), "site": previous.site }),
        )
    };
    if let Some(previous) = kv::get_json::<Use>(&used_key)? {
        return used(previous);
    }
    let today = time::today();
    if order.visit_date != today.to_string() {
        return refuse(
            409,
            "wrong_date",
            format!(
                "this ticket is for {}, not today ({})",
                time::parse_date(&order.visit_date)
                    .map_or_else(|_| order.visit_date.clone(), time::format_date),
                time::format_date(today)
            ),
            json!({ "visit_date": order.visit_date, "today": today.to_string() }),
        );
    }
    let now = now_ms();
    let record = Use {
        at: now,
        site: at_site.clone(),
    };
    if !kv::insert_new_json(&used_key, &record)? {
        let previous = kv::get_json::<Use>(&used_key)?.unwrap_or(record);
        return used(previous);
    }
    Ok(Check {
        status: 200,
        body: json!({
            "valid": true,
            "code": code,
            "site": { "id": at_site, "name": place_name(&at_site, lang) },
            "ticket": { "id": kind.id, "name": kind.name(lang), "kind": kind.kind.id() },
            "visit_date": order.visit_date,
            "number": ticket.number,
            "quantity": order.quantity,
            "order": order.id,
            "used_at": now,
        }),
    })
}

/// `POST /api/validate` {code, site?}: gate staff (a role in
/// `bao-ton-di-tich`) check a ticket in: 200 once, then 409 `already_used`.
pub fn validate(req: &Request) -> Result<Response> {
    req.require_citizen()?;
    identity::require_role(GATE_UNIT, None)?;
    let form = Form::read(req)?;
    let code = form.required("code")?.to_string();
    let site = form.get("site").map(str::to_string);
    let check = check_in(req, &code, site.as_deref())?;
    if req.wants_html() {
        return crate::pages::gate_result(req, &check);
    }
    Ok(Response::json(&check.body)?.with_status(check.status))
}

/// The month of `?month=YYYY-MM`, this month (in Huế) by default.
pub(crate) fn month_of(req: &Request) -> Result<Month> {
    match req.query("month").filter(|m| !m.trim().is_empty()) {
        None => Ok(Month::of(time::today())),
        Some(raw) => Month::parse(raw.trim()).ok_or_else(|| {
            Error::new(
                422,
                "invalid_month",
                format!("`month` must be YYYY-MM, not `{raw}`"),
            )
        }),
    }
}

/// `GET /api/events?month=YYYY-MM`: the events of a month and their days.
pub fn events(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let month = month_of(req)?;
    let events: Vec<Value> = EVENTS
        .iter()
        .filter_map(|e| {
            let dates = e.dates_in(month);
            (!dates.is_empty()).then(|| {
                json!({
                    "id": e.id,
                    "title": e.title(lang),
                    "title_vi": e.title_vi,
                    "title_en": e.title_en,
                    "about": e.about(lang),
                    "place": { "id": e.place, "name": place_name(e.place, lang) },
                    "time": e.time,
                    "recurrence": e.recurrence.id(),
                    "schedule": e.recurrence.describe(lang),
                    "indicative": e.indicative,
                    "dates": dates.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                })
            })
        })
        .collect();
    Response::json(&json!({
        "month": month.to_string(),
        "previous": month.previous().to_string(),
        "next": month.next().to_string(),
        "events": events,
    }))
}

/// `POST /payments/hook`: the host tells of a capture or refund. The event
/// is only a hint: the intent is read again from the host and applied once.
pub fn payment_hook(req: &Request) -> Result<Response> {
    let event = payments::hook_event(req)?;
    let Some((id, _)) = order::parse_reference(&event.intent.reference) else {
        log::warn(&format!(
            "payment hook for an unknown reference `{}`",
            event.intent.reference
        ));
        return Response::json(&json!({ "ok": true, "ignored": "unknown reference" }));
    };
    let intent = match payments::get(&event.intent.id) {
        Ok(intent) => intent,
        Err(payments::PaymentError::NotFound) => {
            return Response::json(&json!({ "ok": true, "ignored": "no such intent" }));
        }
        Err(e) => return Err(e.into()),
    };
    let order = match order::load(id) {
        Ok(order) => order,
        Err(e) if e.status() == 404 => {
            log::warn(&format!("payment hook for a missing order `{id}`"));
            return Response::json(&json!({ "ok": true, "ignored": "no such order" }));
        }
        Err(e) => return Err(e),
    };
    let order = order::apply(order, &intent)?;
    Response::json(&json!({
        "ok": true,
        "delivery": event.delivery,
        "order": order.id,
        "status": order.status.id(),
    }))
}
