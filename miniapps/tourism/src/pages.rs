//! The app's HTML, mobile-first and script-free: sites with prices, a site's
//! page with the order form, the citizen's orders and tickets with inline QR
//! codes, the events calendar and the gate page. Vietnamese by default, `?lang=en`.

use crate::api::{month_of, sight, Check};
use crate::calendar::{Recurrence, EVENTS};
use crate::catalogue::{self, Site, TicketType, UNDER_SEVEN_EN, UNDER_SEVEN_VI};
use crate::order::{self, Order, Status};
use crate::{place_name, GATE_UNIT};
use citadel_sdk::html::{escape, page, t, vietnam_time, vnd};
use citadel_sdk::time;
use citadel_sdk::{geo, identity, Request, Response, Result};

/// Styles of this app's own elements (the frame's come from the SDK).
const STYLE: &str = "<style>\
svg.qr{display:block;width:100%;max-width:240px;height:auto;margin:8px auto;background:#fff}\
.code{font:700 1.4rem/1.2 ui-monospace,Menlo,Consolas,monospace;letter-spacing:.12em;text-align:center}\
.ok{border-left:6px solid #1e7d32}.no{border-left:6px solid #b3261e}\
.big{font-size:1.3rem;font-weight:700}.price{white-space:nowrap;text-align:right}\
nav a{display:inline-block;padding:4px 0}\
</style>";

/// A link inside the app, HTML-escaped, keeping an explicit `?lang=`.
/// A stored `yyyy-mm-dd` as `dd/mm/yyyy` (as it is, if it is not a date).
fn local_date(iso: &str) -> String {
    time::parse_date(iso).map_or_else(|_| iso.to_string(), time::format_date)
}

fn link(req: &Request, path: &str, query: &[(&str, &str)]) -> String {
    escape(&req.link(path, query))
}

fn nav(req: &Request, lang: &str) -> String {
    let (other, other_name) = if lang == "en" {
        ("vi", "Tiếng Việt")
    } else {
        ("en", "English")
    };
    let same_page = req.in_language(other);
    // The gate link only for the monuments centre's staff.
    let gate = if identity::is_staff(|role| role.is(GATE_UNIT, None)) {
        format!(
            " <a href=\"{}\">{}</a>",
            link(req, "/gate", &[]),
            t(lang, "Soát vé", "Gate")
        )
    } else {
        String::new()
    };
    format!(
        "<a href=\"{}\">{}</a> <a href=\"{}\">{}</a> <a href=\"{}\">{}</a>{gate} <a href=\"{}\" lang=\"{other}\">{other_name}</a>",
        link(req, "/", &[]),
        t(lang, "Điểm tham quan", "Sights"),
        link(req, "/events", &[]),
        t(lang, "Lịch sự kiện", "Events"),
        link(req, "/orders", &[]),
        t(lang, "Vé của tôi", "My tickets"),
        escape(&same_page),
    )
}

fn frame(req: &Request, lang: &str, title: &str, body: &str) -> Response {
    Response::html(page(
        lang,
        title,
        &nav(req, lang),
        &format!("{STYLE}{body}"),
    ))
}

fn price_rows(tickets: &[&TicketType], lang: &str) -> String {
    tickets
        .iter()
        .map(|ticket| {
            format!(
                "<tr><td>{}</td><td class=\"price\">{}</td></tr>",
                escape(ticket.name(lang)),
                vnd(ticket.price)
            )
        })
        .collect()
}

fn site_card(req: &Request, site: &Site, lang: &str) -> String {
    let singles: Vec<&TicketType> = site
        .tickets()
        .into_iter()
        .filter(|t| !t.is_combo())
        .collect();
    let prices = if site.free {
        format!(
            "<p><span class=\"badge\">{}</span></p>",
            t(lang, "Miễn phí vào cửa", "Free entry")
        )
    } else {
        format!("<table>{}</table>", price_rows(&singles, lang))
    };
    format!(
        "<li class=\"card\"><a href=\"{}\"><strong>{}</strong></a><br><span class=\"muted\">{}: {}</span>{prices}</li>",
        link(req, &format!("/sites/{}", site.id), &[]),
        escape(site.name(lang)),
        t(lang, "Giờ mở cửa", "Opening hours"),
        escape(&site.hours.describe(lang)),
    )
}

/// The sites with prices, the combined ticket, the city's other sights.
pub fn home(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let q = req.query("q").unwrap_or_default();
    let ticketed: String = catalogue::SITES
        .iter()
        .map(|s| site_card(req, s, lang))
        .collect();
    let combos: Vec<&TicketType> = catalogue::TICKETS.iter().filter(|t| t.is_combo()).collect();
    let others: Vec<geo::Place> = if q.trim().is_empty() {
        crate::all_sights()?
    } else {
        let mut found = geo::search(&q, Some("heritage"), 50)?;
        found.extend(geo::search(&q, Some("attraction"), 50)?);
        found
    };
    let list = |category: &str| -> String {
        others
            .iter()
            .filter(|p| p.category == category && catalogue::site(&p.id).is_none())
            .map(|p| {
                format!(
                    "<li><a href=\"{}\">{}</a>{}</li>",
                    link(req, &format!("/sites/{}", p.id), &[]),
                    escape(&p.name),
                    p.address
                        .as_ref()
                        .map(|a| format!(" <span class=\"muted\">· {}</span>", escape(a)))
                        .unwrap_or_default()
                )
            })
            .collect()
    };
    let (heritage, attractions) = (list("heritage"), list("attraction"));
    let none = format!("<li>{}</li>", t(lang, "Không tìm thấy.", "Nothing found."));
    let body = format!(
        "<p>{}</p>\
         <h2>{}</h2><ul class=\"plain\">{ticketed}</ul>\
         <div class=\"card\"><strong>{}</strong><table>{}</table><p><a href=\"{}\">{}</a></p></div>\
         <p class=\"muted\">{}</p>\
         <h2>{}</h2>\
         <form method=\"get\" action=\"{}\" class=\"card\"><label for=\"q\">{}</label><input id=\"q\" name=\"q\" value=\"{}\">{}<p><button>{}</button></p></form>\
         <h3>{}</h3><ul>{}</ul><h3>{}</h3><ul>{}</ul>",
        t(lang, "Mua vé tham quan Quần thể di tích Cố đô Huế, xem giờ mở cửa và lịch sự kiện của thành phố.", "Buy tickets to the Complex of Huế Monuments, see opening hours and the city's events."),
        t(lang, "Vé tham quan di tích", "Monument tickets"),
        t(lang, "Vé liên tuyến", "Combined tickets"),
        price_rows(&combos, lang),
        link(req, "/sites/dai-noi", &[]),
        t(lang, "Mua vé liên tuyến", "Buy a combined ticket"),
        t(lang, UNDER_SEVEN_VI, UNDER_SEVEN_EN),
        t(lang, "Di tích và điểm tham quan khác", "Other heritage sites and attractions"),
        link(req, "/", &[]),
        t(lang, "Tìm theo tên (không cần dấu)", "Search by name (accents optional)"),
        escape(&q),
        lang_field(req),
        t(lang, "Tìm", "Search"),
        t(lang, "Di tích", "Heritage sites"),
        if heritage.is_empty() { none.clone() } else { heritage },
        t(lang, "Điểm tham quan", "Attractions"),
        if attractions.is_empty() { none } else { attractions },
    );
    Ok(frame(
        req,
        lang,
        t(lang, "Du lịch Huế", "Huế tourism"),
        &body,
    ))
}

/// A hidden `lang` field for forms, when the page was asked for explicitly.
fn lang_field(req: &Request) -> String {
    match req.query("lang").as_deref() {
        Some(l @ ("en" | "vi")) => {
            format!("<input type=\"hidden\" name=\"lang\" value=\"{l}\">")
        }
        _ => String::new(),
    }
}

fn order_form(req: &Request, site: &Site, lang: &str) -> String {
    let options: String = site
        .tickets()
        .iter()
        .map(|ticket| {
            format!(
                "<option value=\"{}\">{} — {}</option>",
                escape(ticket.id),
                escape(ticket.name(lang)),
                vnd(ticket.price)
            )
        })
        .collect();
    let today = time::today();
    let sign_in = if req.citizen().is_none() {
        format!(
            "<p class=\"muted\">{}</p>",
            t(
                lang,
                "Đăng nhập Citadel để mua vé.",
                "Sign in to Citadel to buy tickets."
            )
        )
    } else {
        String::new()
    };
    format!(
        "<form method=\"post\" action=\"{}\" class=\"card\"><h2>{}</h2>{sign_in}\
         <label for=\"ticket\">{}</label><select id=\"ticket\" name=\"ticket\" required>{options}</select>\
         <label for=\"quantity\">{}</label><input id=\"quantity\" name=\"quantity\" type=\"number\" min=\"1\" max=\"{}\" value=\"1\" required>\
         <label for=\"visit_date\">{}</label><input id=\"visit_date\" name=\"visit_date\" type=\"date\" min=\"{today}\" max=\"{}\" value=\"{today}\" required>\
         <p><button>{}</button></p><p class=\"muted\">{}</p></form>",
        link(req, "/api/orders", &[]),
        t(lang, "Mua vé", "Buy tickets"),
        t(lang, "Loại vé", "Ticket"),
        t(lang, "Số lượng (1–10)", "Quantity (1–10)"),
        order::MAX_QUANTITY,
        t(lang, "Ngày tham quan", "Visit date"),
        time::add_days(today, order::MAX_DAYS_AHEAD),
        t(lang, "Tiếp tục thanh toán", "Go to payment"),
        t(lang, UNDER_SEVEN_VI, UNDER_SEVEN_EN),
    )
}

/// A site: what it is, when it opens, its tickets and the order form.
pub fn site(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let place = sight(req.param("id").unwrap_or_default())?;
    let entry = catalogue::site(&place.id);
    let name = match entry {
        Some(site) => site.name(lang).to_string(),
        None => place.name.clone(),
    };
    let category = if place.category == "heritage" {
        t(lang, "Di tích", "Heritage site")
    } else {
        t(lang, "Điểm tham quan", "Attraction")
    };
    let mut body = format!(
        "<div class=\"card\"><p><span class=\"badge\">{category}</span></p>{}{}</div>",
        place
            .address
            .as_ref()
            .map(|a| format!("<p>{}</p>", escape(a)))
            .unwrap_or_default(),
        entry
            .map(|s| format!(
                "<p>{}</p><p><strong>{}:</strong> {}</p>",
                escape(s.about(lang)),
                t(lang, "Giờ mở cửa", "Opening hours"),
                escape(&s.hours.describe(lang))
            ))
            .unwrap_or_default(),
    );
    match entry {
        Some(site) if site.free => body.push_str(&format!(
            "<p class=\"card\">{}</p>",
            t(
                lang,
                "Vào cửa tự do, không cần vé.",
                "Free entry: no ticket needed."
            )
        )),
        Some(site) => {
            let tickets = site.tickets();
            body.push_str(&format!(
                "<div class=\"card\"><h2>{}</h2><table>{}</table></div>",
                t(lang, "Giá vé", "Prices"),
                price_rows(&tickets, lang)
            ));
            body.push_str(&order_form(req, site, lang));
        }
        None => body.push_str(&format!(
            "<p class=\"card muted\">{}</p>",
            t(
                lang,
                "Ứng dụng không bán vé cho địa điểm này.",
                "This app sells no tickets for this place."
            )
        )),
    }
    let month = crate::calendar::Month::of(time::today());
    let events: String = EVENTS
        .iter()
        .filter(|e| e.place == place.id)
        .map(|e| {
            format!(
                "<li>{} — {} ({})</li>",
                escape(e.title(lang)),
                escape(&e.recurrence.describe(lang)),
                escape(e.time)
            )
        })
        .collect();
    if !events.is_empty() {
        body.push_str(&format!(
            "<h2>{}</h2><ul>{events}</ul><p><a href=\"{}\">{}</a></p>",
            t(lang, "Sự kiện tại đây", "Events here"),
            link(req, "/events", &[("month", &month.to_string())]),
            t(lang, "Lịch sự kiện", "Events calendar"),
        ));
    }
    Ok(frame(req, lang, &name, &body))
}

/// The signed-in citizen's orders.
pub fn orders(req: &Request) -> Result<Response> {
    let owner = req.require_citizen()?.to_string();
    let lang = req.lang();
    let mut items = String::new();
    for order in order::mine(&owner)? {
        let order = order::sync(order)?;
        items.push_str(&format!(
            "<li class=\"card\"><a href=\"{}\"><strong>{}</strong></a> × {} · <span class=\"badge\">{}</span><br><span class=\"muted\">{} · {} · {}</span></li>",
            link(req, &format!("/orders/{}", order.id), &[]),
            escape(order.ticket_type().map_or(order.ticket.as_str(), |t| t.name(lang))),
            order.quantity,
            order.status.label(lang),
            escape(&local_date(&order.visit_date)),
            vnd(order.amount),
            escape(&order.id),
        ));
    }
    if items.is_empty() {
        items = format!(
            "<li>{} <a href=\"{}\">{}</a></li>",
            t(lang, "Bạn chưa mua vé nào.", "You have no tickets yet."),
            link(req, "/", &[]),
            t(lang, "Xem điểm tham quan", "See the sights"),
        );
    }
    Ok(frame(
        req,
        lang,
        t(lang, "Vé của tôi", "My tickets"),
        &format!("<ul class=\"plain\">{items}</ul>"),
    ))
}

fn tickets_html(order: &Order, lang: &str) -> Result<String> {
    let mut html = String::new();
    for ticket in &order.tickets {
        let uses = order::uses(&ticket.code)?;
        let used = if uses.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = uses
                .iter()
                .map(|u| format!("{} ({})", place_name(&u.site, lang), vietnam_time(u.at)))
                .collect();
            format!(
                "<p><span class=\"badge\">{}</span> {}</p>",
                t(lang, "Đã sử dụng", "Used"),
                escape(&list.join(", "))
            )
        };
        let label = format!(
            "{} {}/{}",
            t(lang, "Vé", "Ticket"),
            ticket.number,
            order.quantity
        );
        html.push_str(&format!(
            "<div class=\"card\"><p><strong>{}</strong></p>{}<p class=\"code\">{}</p>{used}</div>",
            escape(&label),
            order::qr_inline(&ticket.code, &format!("{label}: {}", ticket.code))?,
            escape(&ticket.code),
        ));
    }
    Ok(html)
}

/// An order: its payment, and once paid, its tickets with their QR codes.
pub fn order(req: &Request) -> Result<Response> {
    let owner = req.require_citizen()?.to_string();
    let lang = req.lang();
    let order = order::load_owned(req.param("id").unwrap_or_default(), &owner)?;
    let order = order::sync(order)?;
    let kind = order.ticket_type();
    let date = order.date();
    let hours = catalogue::site(&order.site)
        .zip(date)
        .map(|(site, date)| {
            let (open, close) = site.hours.on(date);
            format!("{open}–{close}")
        })
        .unwrap_or_default();
    let mut body = format!(
        "<div class=\"card\"><p><span class=\"badge\">{}</span></p><p class=\"big\">{}</p>\
         <table><tr><th scope=\"row\">{}</th><td>{}</td></tr><tr><th scope=\"row\">{}</th><td>{} {}</td></tr>\
         <tr><th scope=\"row\">{}</th><td>{} × {}</td></tr><tr><th scope=\"row\">{}</th><td>{}</td></tr>\
         <tr><th scope=\"row\">{}</th><td>{}</td></tr></table></div>",
        order.status.label(lang),
        escape(kind.map_or(order.ticket.as_str(), |t| t.name(lang))),
        t(lang, "Địa điểm", "Site"),
        escape(&place_name(&order.site, lang)),
        t(lang, "Ngày tham quan", "Visit date"),
        escape(&date.map_or_else(|| order.visit_date.clone(), time::format_date)),
        escape(&hours),
        t(lang, "Số lượng", "Quantity"),
        order.quantity,
        vnd(order.unit_price),
        t(lang, "Thành tiền", "Total"),
        vnd(order.amount),
        t(lang, "Mã đơn", "Order"),
        escape(&order.id),
    );
    let pay_form = |note: String, button: &str| {
        format!(
            "<form method=\"post\" action=\"{}\" class=\"card\"><p>{note}</p><p><button>{button}</button></p></form>",
            link(req, &format!("/api/orders/{}/pay", order.id), &[]),
        )
    };
    match order.status {
        Status::Pending => body.push_str(&pay_form(
            format!(
                "{} {}",
                t(lang, "Hết hạn thanh toán lúc", "The payment expires at"),
                order.expires_at.map(vietnam_time).unwrap_or_default()
            ),
            t(lang, "Thanh toán", "Pay"),
        )),
        Status::Unpaid => body.push_str(&pay_form(
            match order.payment_status.as_deref() {
                Some("expired") => t(
                    lang,
                    "Thanh toán đã hết hạn; chưa có vé.",
                    "The payment expired; no ticket was issued.",
                ),
                _ => t(
                    lang,
                    "Thanh toán đã bị hủy; chưa có vé.",
                    "The payment was cancelled; no ticket was issued.",
                ),
            }
            .to_string(),
            t(lang, "Thanh toán lại", "Pay again"),
        )),
        Status::Paid => {
            body.push_str(&format!(
                "<h2>{}</h2><p class=\"muted\">{}</p>",
                t(lang, "Vé điện tử", "E-tickets"),
                t(
                    lang,
                    "Đưa mã QR cho nhân viên soát vé tại cổng. Mỗi vé dùng được một lần, đúng ngày tham quan.",
                    "Show the QR code at the gate. Each ticket admits once, on the visit date."
                ),
            ));
            body.push_str(&tickets_html(&order, lang)?);
        }
        Status::Refunded => body.push_str(&format!(
            "<p class=\"card\">{}</p>",
            t(
                lang,
                "Đơn đã được hoàn tiền; các vé không còn giá trị.",
                "This order was refunded; its tickets are void."
            )
        )),
    }
    Ok(frame(req, lang, t(lang, "Đơn vé", "Ticket order"), &body))
}

/// The events of a month, with links to the months around it.
pub fn events(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let month = month_of(req)?;
    let mut cards = String::new();
    for event in EVENTS {
        let dates = event.dates_in(month);
        if dates.is_empty() {
            continue;
        }
        let when = match event.recurrence {
            Recurrence::Daily => event.recurrence.describe(lang),
            _ => {
                let days: Vec<String> = dates
                    .iter()
                    .map(|d| format!("{:02}/{:02}", d.day(), d.month()))
                    .collect();
                format!("{} — {}", event.recurrence.describe(lang), days.join(", "))
            }
        };
        let note = if event.indicative {
            format!(
                " <span class=\"badge\">{}</span>",
                t(lang, "ngày dự kiến", "usual dates")
            )
        } else {
            String::new()
        };
        cards.push_str(&format!(
            "<li class=\"card\"><strong>{}</strong>{note}<br>{}<br><span class=\"muted\">{} · {} · <a href=\"{}\">{}</a></span></li>",
            escape(event.title(lang)),
            escape(event.about(lang)),
            escape(&when),
            escape(event.time),
            link(req, &format!("/sites/{}", event.place), &[]),
            escape(&place_name(event.place, lang)),
        ));
    }
    if cards.is_empty() {
        cards = format!("<li>{}</li>", t(lang, "Không có sự kiện.", "No events."));
    }
    let body = format!(
        "<p><a href=\"{}\">← {}</a> · <strong>{}</strong> · <a href=\"{}\">{} →</a></p><ul class=\"plain\">{cards}</ul>",
        link(req, "/events", &[("month", &month.previous().to_string())]),
        escape(&month.previous().label(lang)),
        escape(&month.label(lang)),
        link(req, "/events", &[("month", &month.next().to_string())]),
        escape(&month.next().label(lang)),
    );
    Ok(frame(
        req,
        lang,
        t(lang, "Lịch sự kiện Huế", "Huế events"),
        &body,
    ))
}

fn gate_form(req: &Request, lang: &str, selected: Option<&str>) -> String {
    let options: String = catalogue::SITES
        .iter()
        .filter(|s| !s.free)
        .map(|s| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                s.id,
                if selected == Some(s.id) {
                    " selected"
                } else {
                    ""
                },
                escape(s.name(lang))
            )
        })
        .collect();
    format!(
        "<form method=\"post\" action=\"{}\" class=\"card\">\
         <label for=\"site\">{}</label><select id=\"site\" name=\"site\">{options}</select>\
         <label for=\"code\">{}</label><input id=\"code\" name=\"code\" autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" maxlength=\"16\" required autofocus>\
         <p><button>{}</button></p></form>",
        link(req, "/api/validate", &[]),
        t(lang, "Cổng", "Gate"),
        t(lang, "Mã vé (quét QR hoặc nhập 10 ký tự)", "Ticket code (scan the QR or type its 10 characters)"),
        t(lang, "Kiểm tra vé", "Check ticket"),
    )
}

/// The gate page, for staff of the monuments centre only.
pub fn gate(req: &Request) -> Result<Response> {
    req.require_citizen()?;
    // 403 (not staff) before anything is shown.
    let role = identity::require_role(GATE_UNIT, None)?;
    let lang = req.lang();
    let body = format!(
        "<p class=\"muted\">{} ({}) · {}</p>{}",
        t(lang, "Nhân viên soát vé", "Gate staff"),
        escape(&role.role),
        escape(&time::format_date(time::today())),
        gate_form(req, lang, req.query("site").as_deref()),
    );
    Ok(frame(req, lang, t(lang, "Soát vé", "Ticket gate"), &body))
}

/// The outcome of a check at the gate, with the form for the next ticket.
pub fn gate_result(req: &Request, check: &Check) -> Result<Response> {
    let lang = req.lang();
    let body = &check.body;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let verdict = if check.status == 200 {
        format!(
            "<div class=\"card ok\"><p class=\"big\">✓ {}</p><p>{}</p><p>{} · {} {}/{}</p></div>",
            t(lang, "Vé hợp lệ — mời vào", "Valid ticket — admit"),
            escape(&text(&body["ticket"]["name"])),
            escape(&text(&body["site"]["name"])),
            t(lang, "vé", "ticket"),
            body["number"],
            body["quantity"],
        )
    } else {
        let reason = match text(&body["error"]["code"]).as_str() {
            "already_used" => format!(
                "{} {}",
                t(lang, "Vé đã được sử dụng lúc", "Already used at"),
                text(&body["error"]["used_at_local"])
            ),
            "wrong_date" => format!(
                "{} {}",
                t(lang, "Vé dành cho ngày", "This ticket is for"),
                local_date(&text(&body["error"]["visit_date"]))
            ),
            "wrong_site" => t(
                lang,
                "Vé không dùng cho di tích này.",
                "Not valid at this site.",
            )
            .to_string(),
            "not_paid" => t(
                lang,
                "Đơn vé chưa được thanh toán.",
                "The order is not paid.",
            )
            .to_string(),
            _ => t(lang, "Không có vé với mã này.", "No ticket has this code.").to_string(),
        };
        format!(
            "<div class=\"card no\"><p class=\"big\">✗ {}</p><p>{}</p></div>",
            t(lang, "Không hợp lệ", "Refused"),
            escape(&reason)
        )
    };
    let site = body["site"]["id"]
        .as_str()
        .or(body["error"]["site"].as_str());
    let html = format!("{verdict}{}", gate_form(req, lang, site));
    Ok(frame(req, lang, t(lang, "Soát vé", "Ticket gate"), &html).with_status(check.status))
}
