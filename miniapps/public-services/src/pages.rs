//! The app's HTML: the procedure catalogue with search, a procedure page,
//! the dossier form prefilled after consent, the citizen's dossiers with pay
//! and rating forms, and the staff queue. Vietnamese by default, `?lang=en`.

use crate::catalogue::{self, Procedure};
use crate::dossier::{Dossier, Status};
use citadel_sdk::html::{escape, history_item, page, rating_form, t, vietnam_time, vnd};
use citadel_sdk::{identity, Request, Response, Result};

/// The app's links; the staff one only for the centre's staff.
fn nav(req: &Request, lang: &str) -> String {
    let base = escape(req.base_path());
    let staff = if identity::is_staff(|role| role.is(crate::STAFF_UNIT, None)) {
        format!(
            "<a href=\"{base}/staff\">{}</a>",
            t(lang, "Cán bộ", "Staff")
        )
    } else {
        String::new()
    };
    format!(
        "<a href=\"{base}/\">{}</a><a href=\"{base}/dossiers\">{}</a>{staff}",
        t(lang, "Thủ tục", "Procedures"),
        t(lang, "Hồ sơ của tôi", "My dossiers"),
    )
}

fn name(p: &Procedure, lang: &str) -> &'static str {
    if lang == "en" {
        p.name_en
    } else {
        p.name_vi
    }
}

/// `150000` → `150.000 ₫`; `0` → free.
fn fee(amount: u64, lang: &str) -> String {
    if amount == 0 {
        return t(lang, "Miễn phí", "Free").to_string();
    }
    vnd(amount)
}

fn html(req: &Request, title: &str, body: &str) -> Response {
    let lang = req.lang();
    Response::html(page(lang, title, &nav(req, lang), body))
}

pub fn catalogue(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let base = escape(req.base_path());
    let query = req.query("q").unwrap_or_default();
    let items: String = crate::matching_procedures(req)
        .iter()
        .map(|p| {
            format!(
                "<li class=\"card\"><a href=\"{base}/procedures/{}\"><strong>{}</strong></a><br><span class=\"muted\">{} · {} · {} {} · {}</span>{}</li>",
                p.id,
                escape(name(p, lang)),
                escape(p.field),
                escape(p.agency),
                p.processing_days,
                t(lang, "ngày", "days"),
                fee(p.fee, lang),
                if p.fully_online { format!(" <span class=\"badge\">{}</span>", t(lang, "Trực tuyến toàn trình", "Fully online")) } else { String::new() },
            )
        })
        .collect();
    let body = format!(
        "<form method=\"get\" action=\"{base}/\" class=\"card\" role=\"search\"><label for=\"q\">{}</label><input id=\"q\" name=\"q\" value=\"{}\"><p><button>{}</button></p></form><ul class=\"plain\">{}</ul>",
        t(lang, "Tìm thủ tục", "Find a procedure"),
        escape(&query),
        t(lang, "Tìm", "Search"),
        if items.is_empty() { format!("<li>{}</li>", t(lang, "Không tìm thấy thủ tục.", "No procedure found.")) } else { items },
    );
    Ok(html(req, t(lang, "Dịch vụ công", "Public services"), &body))
}

pub fn procedure(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let p = crate::procedure_or_404(req.param("id").unwrap_or_default())?;
    let documents: String = p
        .documents
        .iter()
        .map(|d| format!("<li>{}</li>", escape(d)))
        .collect();
    let body = format!(
        "<div class=\"card\"><p>{}: {}</p><p>{}: {}</p><p>{}: {} {}</p><p>{}: {}</p><h2>{}</h2><ul>{documents}</ul>\
         <p><a class=\"button\" href=\"{}/procedures/{}/apply\">{}</a></p></div>",
        t(lang, "Lĩnh vực", "Field"),
        escape(p.field),
        t(lang, "Cơ quan giải quyết", "Handled by"),
        escape(p.agency),
        t(lang, "Thời hạn giải quyết", "Processing time"),
        p.processing_days,
        t(lang, "ngày làm việc", "working days"),
        t(lang, "Lệ phí", "Fee"),
        fee(p.fee, lang),
        t(lang, "Thành phần hồ sơ", "Required documents"),
        escape(req.base_path()),
        p.id,
        t(lang, "Nộp hồ sơ trực tuyến", "Apply online"),
    );
    Ok(html(req, name(p, lang), &body))
}

/// The dossier form: prefilled from identity, so it answers 428 until the
/// citizen consents (the shell opens the consent page).
pub fn apply(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let p = crate::procedure_or_404(req.param("id").unwrap_or_default())?;
    req.require_citizen()?;
    let applicant = crate::applicant()?;
    let field = |label: &str, value: &str| {
        format!(
            "<p><strong>{}</strong>: {}</p>",
            escape(label),
            escape(value)
        )
    };
    let body = format!(
        "<form method=\"post\" action=\"{}/api/dossiers\" class=\"card\"><input type=\"hidden\" name=\"procedure\" value=\"{}\">\
         <h2>{}</h2>{}{}{}{}\
         <label for=\"details\">{}</label><textarea id=\"details\" name=\"details\" rows=\"5\" maxlength=\"4000\"></textarea>\
         <p>{}: {}</p><p><button>{}</button></p></form>",
        escape(req.base_path()),
        p.id,
        t(lang, "Người nộp hồ sơ", "Applicant"),
        field(t(lang, "Họ và tên", "Full name"), &applicant.name),
        field(t(lang, "Số CCCD", "National id"), &applicant.national_id),
        field(
            t(lang, "Ngày sinh", "Date of birth"),
            // The identity service gives `yyyy-mm-dd`; shown `dd/mm/yyyy`.
            &citadel_sdk::time::parse_date(&applicant.birth_date).map_or_else(
                |_| applicant.birth_date.clone(),
                citadel_sdk::time::format_date
            )
        ),
        field(t(lang, "Địa chỉ thường trú", "Address"), &applicant.address),
        t(lang, "Nội dung đề nghị", "What you request"),
        t(lang, "Lệ phí", "Fee"),
        fee(p.fee, lang),
        t(lang, "Nộp hồ sơ", "Submit"),
    );
    Ok(html(req, name(p, lang), &body))
}

fn dossier_card(req: &Request, d: &Dossier, lang: &str) -> String {
    let procedure = catalogue::find(&d.procedure).map_or(d.procedure.as_str(), |p| name(p, lang));
    format!(
        "<li class=\"card\"><a href=\"{}/dossiers/{}\"><strong>{}</strong></a> · <span class=\"badge\">{}</span><br>{}<br><span class=\"muted\">{}</span></li>",
        escape(req.base_path()),
        escape(&d.id),
        escape(&d.id),
        d.status.label(lang),
        escape(procedure),
        vietnam_time(d.created_at),
    )
}

pub fn my_dossiers(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let items: String = crate::my_dossiers(req)?
        .iter()
        .map(|d| dossier_card(req, d, lang))
        .collect();
    let body = format!(
        "<ul class=\"plain\">{}</ul>",
        if items.is_empty() {
            format!(
                "<li>{}</li>",
                t(lang, "Bạn chưa nộp hồ sơ nào.", "You have no dossier yet.")
            )
        } else {
            items
        }
    );
    Ok(html(req, t(lang, "Hồ sơ của tôi", "My dossiers"), &body))
}

pub fn dossier(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let d = crate::visible(req, req.param("id").unwrap_or_default())?;
    let base = escape(req.base_path());
    let procedure = catalogue::find(&d.procedure).map_or(d.procedure.as_str(), |p| name(p, lang));
    let history: String = d
        .history
        .iter()
        .map(|s| history_item(s.at, s.status.label(lang), s.note.as_deref()))
        .collect();
    let owner = req.citizen() == Some(d.owner.as_str());
    let action = match d.status {
        Status::AwaitingPayment if owner => format!(
            "<form method=\"post\" action=\"{base}/api/dossiers/{}/pay\"><p><button>{} {}</button></p></form>",
            escape(&d.id),
            t(lang, "Nộp lệ phí", "Pay the fee"),
            fee(d.fee, lang)
        ),
        Status::Returned if owner => format!(
            "<form method=\"post\" action=\"{base}/api/dossiers/{}/supplement\" class=\"card\"><label for=\"note\">{}</label><textarea id=\"note\" name=\"note\" required></textarea><p><button>{}</button></p></form>",
            escape(&d.id),
            t(lang, "Nội dung bổ sung", "Your supplement"),
            t(lang, "Gửi bổ sung", "Send"),
        ),
        Status::ResultReady if owner && d.rating.is_none() => rating_form(
            &format!("{base}/api/dossiers/{}/rating", escape(&d.id)),
            t(lang, "Mức độ hài lòng của bạn", "How satisfied are you?"),
            t(lang, "Gửi đánh giá", "Rate"),
        ),
        _ => String::new(),
    };
    let body = format!(
        "<div class=\"card\"><p><span class=\"badge\">{}</span> {}</p><p>{}: {}</p><p>{}: {} ({})</p></div>{action}<h2>{}</h2><ol>{history}</ol>",
        d.status.label(lang),
        escape(procedure),
        t(lang, "Người nộp", "Applicant"),
        escape(&d.applicant.name),
        t(lang, "Lệ phí", "Fee"),
        fee(d.fee, lang),
        if d.paid { t(lang, "đã nộp", "paid") } else { t(lang, "chưa nộp", "unpaid") },
        t(lang, "Tiến trình", "History"),
    );
    Ok(html(req, &d.id, &body))
}

pub fn staff(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let base = escape(req.base_path());
    let items: String = crate::queue(req)?
        .iter()
        .map(|d| {
            let buttons: String = [Status::Accepted, Status::Processing, Status::ResultReady, Status::Returned]
                .into_iter()
                .filter(|s| d.status.staff_may_make(*s))
                .map(|s| format!("<button name=\"status\" value=\"{}\">{}</button> ", s.id(), s.label(lang)))
                .collect();
            let form = if buttons.is_empty() {
                String::new()
            } else {
                format!(
                    "<form method=\"post\" action=\"{base}/api/dossiers/{id}/status\"><label for=\"note-{id}\">{}</label><input id=\"note-{id}\" name=\"note\"><p>{buttons}</p></form>",
                    t(lang, "Ghi chú (bắt buộc khi yêu cầu bổ sung)", "Note (required to return)"),
                    id = escape(&d.id),
                )
            };
            dossier_card(req, d, lang).replace("</li>", &format!("{form}</li>"))
        })
        .collect();
    let body = format!("<ul class=\"plain\">{items}</ul>");
    Ok(html(
        req,
        t(lang, "Hồ sơ cần xử lý", "Dossiers to handle"),
        &body,
    ))
}
