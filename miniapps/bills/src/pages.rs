//! The app's HTML, mobile-first, Vietnamese by default and English with
//! `?lang=en`: bill lookup with pay buttons, the citizen's receipts (and the
//! one a payment lands on) and the staff page that sets the billing API
//! (showing its host name only).

use crate::payment::{self, Outcome, Receipt, State};
use crate::source::{self, Account, Bill, BillingApi, Source};
use citadel_sdk::html::{escape, page, t, vietnam_time, vnd};
use citadel_sdk::{time, Error, Request, Response, Result};

/// `?lang=en` to keep English across links, nothing for Vietnamese.
fn lang_query(lang: &str) -> &'static str {
    if lang == "en" {
        "?lang=en"
    } else {
        ""
    }
}

/// The app's links; the admin one only for the billing staff.
fn nav(req: &Request, lang: &str) -> String {
    let base = escape(req.base_path());
    let q = lang_query(lang);
    let admin = if crate::shows_admin_link() {
        format!(
            "<a href=\"{base}/admin{q}\">{}</a>",
            t(lang, "Quản trị", "Admin")
        )
    } else {
        String::new()
    };
    format!(
        "<a href=\"{base}/{q}\">{}</a><a href=\"{base}/receipts{q}\">{}</a>{admin}",
        t(lang, "Tra cứu hóa đơn", "Look up bills"),
        t(lang, "Biên lai", "Receipts"),
    )
}

fn title(lang: &str) -> &'static str {
    t(lang, "Hóa đơn tiền nước", "Water bills")
}

fn html(status: u16, lang: &str, req: &Request, heading: &str, body: &str) -> Response {
    Response::html(page(lang, heading, &nav(req, lang), body)).with_status(status)
}

/// What to tell a citizen about an error, in their language; never the
/// configured URL.
fn explain(error: &Error, lang: &str) -> String {
    let text = match error.code() {
        "invalid_customer_code" | "invalid_input" => t(
            lang,
            "Mã khách hàng gồm 2 chữ cái và 7 chữ số, ví dụ PK0012345.",
            "A customer code is 2 letters and 7 digits, e.g. PK0012345.",
        ),
        "customer_not_found" => t(
            lang,
            "Không tìm thấy khách hàng có mã này. Vui lòng kiểm tra mã trên hóa đơn giấy.",
            "No customer has this code. Please check the code on your paper bill.",
        ),
        code if code.starts_with("billing_api") => t(
            lang,
            "Hệ thống hóa đơn của công ty cấp nước tạm thời không truy cập được. Vui lòng thử lại sau.",
            "The water company's billing system cannot be reached right now. Please try again later.",
        ),
        _ => t(
            lang,
            "Đã có lỗi xảy ra. Vui lòng thử lại sau.",
            "Something went wrong. Please try again later.",
        ),
    };
    format!(
        "<div class=\"card\" role=\"alert\"><strong>{}</strong> <span class=\"muted\">({})</span></div>",
        text,
        escape(error.code())
    )
}

fn lookup_form(req: &Request, lang: &str, code: &str) -> Result<String> {
    let base = escape(req.base_path());
    let examples = match Source::current()? {
        Source::Seeded => format!(
            "<p class=\"muted\">{} {}</p>",
            t(lang, "Ví dụ:", "For example:"),
            crate::seed::example_codes().join(", ")
        ),
        Source::Api(_) => String::new(),
    };
    let hidden_lang = if lang == "en" {
        "<input type=\"hidden\" name=\"lang\" value=\"en\">"
    } else {
        ""
    };
    Ok(format!(
        "<form method=\"get\" action=\"{base}/\" class=\"card\">{hidden_lang}\
         <label for=\"customer\">{}</label>\
         <input id=\"customer\" name=\"customer\" value=\"{}\" maxlength=\"9\" autocapitalize=\"characters\" autocomplete=\"off\" pattern=\"[A-Za-z]{{2}}[0-9]{{7}}\" required>\
         {examples}<p><button>{}</button></p></form>",
        t(lang, "Mã khách hàng (in trên hóa đơn)", "Customer code (printed on your bill)"),
        escape(code),
        t(lang, "Tra cứu", "Look up"),
    ))
}

fn status_badge(state: &State, lang: &str) -> &'static str {
    match state {
        State::PaidAtSource | State::Paid(_) => t(lang, "Đã thanh toán", "Paid"),
        State::Pending { .. } => t(lang, "Đang chờ xác nhận", "Awaiting confirmation"),
        State::Unpaid => t(lang, "Chưa thanh toán", "Unpaid"),
    }
}

fn bill_card(req: &Request, lang: &str, account: &Account, bill: &Bill, state: &State) -> String {
    let base = escape(req.base_path());
    let me = req.citizen();
    let action = match state {
        State::Paid(paid) => format!(
            "<p class=\"muted\">{} {}</p>",
            t(
                lang,
                "Thanh toán qua Citadel lúc",
                "Paid through Citadel on"
            ),
            vietnam_time(paid.paid_at)
        ),
        State::PaidAtSource => String::new(),
        State::Pending { payer, intent } if Some(payer.as_str()) == me => format!(
            "<p><a class=\"button\" href=\"{}\">{}</a></p>",
            escape(&intent.confirm_url),
            t(lang, "Tiếp tục thanh toán", "Continue paying")
        ),
        State::Pending { .. } => format!(
            "<p class=\"muted\">{}</p>",
            t(
                lang,
                "Hóa đơn này đang được thanh toán.",
                "Someone is paying this bill right now."
            )
        ),
        State::Unpaid if me.is_none() => format!(
            "<p class=\"muted\">{}</p>",
            t(
                lang,
                "Đăng nhập Citadel để thanh toán.",
                "Sign in to Citadel to pay."
            )
        ),
        State::Unpaid => format!(
            "<form method=\"post\" action=\"{base}/api/bills/{}/pay\">\
             <input type=\"hidden\" name=\"customer\" value=\"{}\">\
             <p><button>{} {}</button></p></form>",
            escape(&bill.id),
            escape(&account.customer.code),
            t(lang, "Thanh toán", "Pay"),
            vnd(bill.amount),
        ),
    };
    let overdue = match state {
        State::Unpaid | State::Pending { .. }
            if bill.overdue(&source::today(payment::now_ms())) =>
        {
            format!(
                " <span class=\"badge\">{}</span>",
                t(lang, "Quá hạn", "Overdue")
            )
        }
        _ => String::new(),
    };
    let usage = bill
        .usage_m3
        .map(|m3| format!(" · {m3} m³"))
        .unwrap_or_default();
    format!(
        "<li class=\"card\"><strong>{} {}</strong> · <span class=\"badge\">{}</span>{overdue}\
         <br><span style=\"font-size:1.25rem;font-weight:600\">{}</span>{usage}\
         <br><span class=\"muted\">{} {} · {} {}</span>{action}</li>",
        t(lang, "Kỳ", "Period"),
        escape(&bill.period_label()),
        status_badge(state, lang),
        vnd(bill.amount),
        t(lang, "Hạn thanh toán", "Due"),
        escape(&bill.due_label()),
        t(lang, "Mã hóa đơn", "Bill"),
        escape(&bill.id),
    )
}

/// The lookup form and, with `?customer=`, that customer's bills.
pub fn home(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let raw = req.query("customer").unwrap_or_default();
    let mut body = lookup_form(req, lang, raw.trim())?;
    let mut status = 200;
    if !raw.trim().is_empty() {
        let found = source::customer_code(&raw).and_then(|code| crate::account_with_states(&code));
        match found {
            Ok((_, account, states)) => {
                let c = &account.customer;
                body.push_str(&format!(
                    "<div class=\"card\"><strong>{}</strong> <span class=\"badge\">{}</span><br><span class=\"muted\">{}</span></div>",
                    escape(&c.name),
                    escape(&c.code),
                    escape(&c.address)
                ));
                let items: String = account
                    .bills
                    .iter()
                    .zip(&states)
                    .map(|(b, s)| bill_card(req, lang, &account, b, s))
                    .collect();
                if items.is_empty() {
                    body.push_str(&format!(
                        "<p>{}</p>",
                        t(lang, "Không có hóa đơn nào.", "No bills.")
                    ));
                } else {
                    body.push_str(&format!("<ul class=\"plain\">{items}</ul>"));
                }
            }
            Err(e) => {
                status = e.status();
                body.push_str(&explain(&e, lang));
            }
        }
    }
    Ok(html(status, lang, req, title(lang), &body))
}

/// The signed-in citizen's receipts, newest first.
pub fn receipts(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let heading = t(lang, "Biên lai của tôi", "My receipts");
    let Some(me) = req.citizen() else {
        let body = format!(
            "<p>{}</p>",
            t(
                lang,
                "Đăng nhập Citadel để xem biên lai của bạn.",
                "Sign in to Citadel to see your receipts."
            )
        );
        return Ok(html(401, lang, req, heading, &body));
    };
    let receipts = payment::receipts(me)?;
    let items: String = receipts
        .iter()
        .map(|r| {
            format!(
                "<li class=\"card\"><strong>{}</strong><br>{} · {}\
                 <br><span style=\"font-size:1.25rem;font-weight:600\">{}</span>\
                 <br><span class=\"muted\">{} {} · {} {}</span></li>",
                escape(&r.description),
                escape(&r.customer_name),
                escape(&r.customer),
                vnd(r.amount),
                t(lang, "Thanh toán lúc", "Paid on"),
                vietnam_time(r.paid_at),
                t(lang, "Mã giao dịch", "Transaction"),
                escape(&r.intent),
            )
        })
        .collect();
    let body = if items.is_empty() {
        format!(
            "<p>{}</p>",
            t(
                lang,
                "Bạn chưa thanh toán hóa đơn nào qua ứng dụng.",
                "You have not paid any bill through the app yet."
            )
        )
    } else {
        format!("<ul class=\"plain\">{items}</ul>")
    };
    Ok(html(200, lang, req, heading, &body))
}

/// One receipt in full: paid, how much, what for, when, and its references.
fn receipt_card(r: &Receipt, lang: &str) -> String {
    // Label over value: whole words on a phone, long codes wrap.
    let row = |label: &str, value: &str| {
        format!(
            "<dt class=\"muted\">{label}</dt><dd style=\"margin:0 0 8px;overflow-wrap:anywhere\">{}</dd>",
            escape(value)
        )
    };
    let reference = if r.reference.is_empty() {
        String::new()
    } else {
        row(t(lang, "Mã tham chiếu", "Payment reference"), &r.reference)
    };
    format!(
        "<div class=\"card\" id=\"receipt\"><p><span class=\"badge\">✓ {}</span></p>\
         <p style=\"font-size:1.5rem;font-weight:700;margin:4px 0\">{}</p><p>{}</p>\
         <dl>{}{}{}{}{reference}{}</dl></div>",
        t(lang, "Đã thanh toán", "Paid"),
        vnd(r.amount),
        escape(&r.description),
        row(
            t(lang, "Khách hàng", "Customer"),
            &format!("{} · {}", r.customer_name, r.customer)
        ),
        row(
            t(lang, "Kỳ hóa đơn", "Billing period"),
            &source::period_label(&r.period)
        ),
        row(t(lang, "Mã hóa đơn", "Bill"), &r.bill),
        row(
            t(lang, "Thanh toán lúc", "Paid on"),
            &time::datetime_text(r.paid_at)
        ),
        row(t(lang, "Mã giao dịch", "Transaction"), &r.intent),
    )
}

/// Where the citizen lands after the host's payment page: the bill, paid,
/// with its receipt (or where the payment stands if it is not captured).
/// Only the payer sees it; anyone else gets 404.
pub fn receipt(req: &Request) -> Result<Response> {
    let lang = req.lang();
    let me = crate::signed_in(req)?;
    let id = req.param("intent").unwrap_or_default();
    let outcome = payment::outcome(&me, id)?.ok_or_else(|| {
        Error::new(
            404,
            "receipt_not_found",
            "you have no bill payment with this id",
        )
    })?;
    let lookup = |customer: &str| escape(&req.link("/", &[("customer", customer)]));
    let (heading, body) = match outcome {
        Outcome::Paid(r) => (
            t(lang, "Đã thanh toán hóa đơn", "Bill paid"),
            format!(
                "{}<p><a href=\"{}\">{}</a> · <a href=\"{}\">{}</a></p>",
                receipt_card(&r, lang),
                escape(&req.link("/receipts", &[])),
                t(lang, "Tất cả biên lai", "All receipts"),
                lookup(&r.customer),
                t(lang, "Hóa đơn của khách hàng này", "This customer's bills"),
            ),
        ),
        Outcome::Pending(intent) => (
            t(lang, "Đang chờ xác nhận", "Awaiting confirmation"),
            format!(
                "<div class=\"card\"><p>{}</p><p><a class=\"button\" href=\"{}\">{}</a></p></div>",
                t(
                    lang,
                    "Bạn chưa xác nhận khoản thanh toán này.",
                    "You have not confirmed this payment yet."
                ),
                escape(&intent.confirm_url),
                t(lang, "Tiếp tục thanh toán", "Continue paying"),
            ),
        ),
        Outcome::Ended { bill, customer } => (
            t(lang, "Chưa thanh toán", "Not paid"),
            format!(
                "<div class=\"card\" role=\"alert\"><p>{} <strong>{}</strong></p><p><a href=\"{}\">{}</a></p></div>",
                t(
                    lang,
                    "Thanh toán đã bị hủy hoặc hết hạn; hóa đơn chưa được thanh toán:",
                    "The payment was cancelled or expired; this bill is still unpaid:"
                ),
                escape(&bill),
                lookup(&customer),
                t(lang, "Xem lại hóa đơn", "Back to the bills"),
            ),
        ),
    };
    Ok(html(200, lang, req, heading, &body))
}

/// Staff of HueWACO's billing: where bills come from, and the form to
/// change it. The URL is shown by its host name only.
pub fn admin(req: &Request) -> Result<Response> {
    let lang = req.lang();
    crate::admin(req)?;
    let base = escape(req.base_path());
    let q = lang_query(lang);
    let config = BillingApi::load()?;
    let current = match &config {
        Some(c) => format!(
            "{} <strong>{}</strong><br><span class=\"muted\">{} {}</span>",
            t(
                lang,
                "Hóa đơn lấy từ hệ thống của công ty tại",
                "Bills come from the company's system at"
            ),
            escape(&source::host_of(&c.url)),
            t(lang, "Cập nhật lúc", "Set on"),
            vietnam_time(c.set_at),
        ),
        None => t(
            lang,
            "Chưa cấu hình hệ thống hóa đơn: ứng dụng dùng dữ liệu mẫu của mình.",
            "No billing system is configured: the app uses its own sample data.",
        )
        .to_string(),
    };
    let unset = if config.is_some() {
        format!(
            "<form method=\"post\" action=\"{base}/admin/billing-api{q}\" class=\"card\">\
             <input type=\"hidden\" name=\"action\" value=\"unset\">\
             <p><button>{}</button></p></form>",
            t(
                lang,
                "Ngừng dùng hệ thống hóa đơn",
                "Stop using the billing system"
            )
        )
    } else {
        String::new()
    };
    let body = format!(
        "<div class=\"card\">{current}</div>\
         <form method=\"post\" action=\"{base}/admin/billing-api{q}\" class=\"card\">\
         <label for=\"url\">{}</label><input id=\"url\" name=\"url\" inputmode=\"url\" autocomplete=\"off\" required>\
         <p class=\"muted\">{}</p><p><button>{}</button></p></form>{unset}",
        t(lang, "Địa chỉ API hóa đơn (http hoặc https)", "Billing API address (http or https)"),
        t(
            lang,
            "Ứng dụng chỉ truy cập được máy chủ này khi thành phố đã cấp quyền cho tên miền đó.",
            "The app reaches this server only once the city has granted it that host."
        ),
        t(lang, "Lưu", "Save"),
    );
    Ok(html(
        200,
        lang,
        req,
        t(lang, "Quản trị hóa đơn", "Billing admin"),
        &body,
    ))
}

/// The admin page's forms: set the URL, or `action=unset`; back to the page.
pub fn admin_form(req: &Request) -> Result<Response> {
    let staff = crate::admin(req)?;
    if crate::body_field(req, "action")?.as_deref() == Some("unset") {
        BillingApi::clear()?;
    } else {
        let url = crate::body_field(req, "url")?.unwrap_or_default();
        crate::set_billing_api(staff, &url)?;
    }
    Ok(Response::redirect(&format!(
        "{}/admin{}",
        req.base_path(),
        lang_query(req.lang())
    )))
}
