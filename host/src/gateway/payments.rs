//! Payments at the gateway: the host-drawn `/pay/{id}` page and the
//! citizen's confirm/cancel/history API (the only way a payment is
//! approved), providers' webhooks, the operator's reconciliation and demo
//! wallet top-ups, and publishers' daily settlements (JSON or CSV).

use super::auth::{Operator, Publisher};
use super::citizen::CitizenSession;
use super::error::{wants_page, ApiError, ErrorBody, REQUEST_CODE, UNREACHABLE};
use super::json::{JsonBody, PathParams, QueryParams};
use super::routes::{Access, Routes};
use crate::payments::reconcile::{Reconciliation, Settlement};
use crate::payments::{effective_status, status_name, Confirmed, PaymentError, PaymentProvider};
use crate::payments::{HistoryCursor, IntentRecord, IntentStatus};
use crate::Citadel;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/pay/{id}", Access::CitizenPage, page)
        .get("/pay.js", Access::Public, script)
        .get("/api/v1/me/payments", Access::Citizen, history)
        .get("/api/v1/me/payments/{id}", Access::Citizen, one)
        .post("/api/v1/me/payments/{id}/confirm", Access::Citizen, confirm)
        .post("/api/v1/me/payments/{id}/cancel", Access::Citizen, cancel)
        .post(
            "/api/v1/payments/webhooks/{provider}",
            Access::Provider,
            webhook,
        )
        .get(
            "/api/v1/operator/payments/reconcile",
            Access::Operator,
            reconcile,
        )
        .post(
            "/api/v1/operator/payments/{id}/paid-by-hand",
            Access::Operator,
            paid_by_hand,
        )
        .post(
            "/api/v1/operator/wallets/{citizen}/top-up",
            Access::Operator,
            top_up,
        )
        .get(
            "/api/v1/publisher/settlements",
            Access::Publisher,
            settlement,
        )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A payment as its citizen sees it.
#[derive(Serialize, ToSchema)]
pub(super) struct CitizenPayment {
    id: String,
    /// The app that asks for the money.
    app: String,
    /// The payee, by its registered name.
    merchant: String,
    /// VND.
    amount: u64,
    description: String,
    /// A pending payment past its expiry is `expired`.
    status: IntentStatus,
    /// VND refunded so far.
    refunded: u64,
    /// VND a provider took for it when it could no longer be paid
    /// (cancelled, or paid already): the provider is asked to pay it back.
    returned: u64,
    /// How it was paid (`demo-wallet`, a provider's name).
    method: Option<String>,
    /// Unix milliseconds.
    created_at: u64,
    /// Unix milliseconds.
    expires_at: u64,
    /// Unix milliseconds.
    captured_at: Option<u64>,
}

/// An intent as its citizen sees it.
async fn citizen_view(citadel: &Citadel, intent: &IntentRecord) -> CitizenPayment {
    let merchant = citadel
        .registry
        .publishers()
        .display_name(&intent.publisher)
        .await
        .unwrap_or_else(|_| intent.publisher.clone());
    CitizenPayment {
        id: intent.id.clone(),
        app: intent.app.clone(),
        merchant,
        amount: intent.amount,
        description: intent.description.clone(),
        status: effective_status(intent, now_ms()),
        refunded: intent.refunded,
        returned: intent.returned.iter().map(|r| r.amount).sum(),
        method: intent.method.clone(),
        created_at: intent.created_at,
        expires_at: intent.expires_at,
        captured_at: intent.captured_at,
    }
}

/// `150000` → `150.000 ₫`.
pub fn format_vnd(amount: u64) -> String {
    let digits = amount.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    format!("{out} ₫")
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Where the shell wants the citizen back afterwards: a path on this host.
    #[serde(rename = "return")]
    #[param(rename = "return")]
    back: Option<String>,
}

/// A path on this host (the gateway's one rule, `is_local_path`), or nothing.
fn local_path(path: Option<String>) -> String {
    path.filter(|p| super::is_local_path(p)).unwrap_or_default()
}

/// The payment page
///
/// Drawn by the host, never by the app: the payee, the amount, and the ways
/// to pay or cancel (which call the citizen's payments API).
#[utoipa::path(
    get,
    path = "/pay/{id}",
    tag = "payments",
    operation_id = "payment_page",
    params(("id" = String, Path, description = "The payment's id."), PageQuery),
    responses(
        (status = 200, description = "The page, in the citizen's language; not framable, \
            not cached.", body = String, content_type = "text/html"),
        (status = 400, description = "`invalid_query`: the query is not a return path.",
            body = ErrorBody),
        (status = 404, description = "`payment_not_found`: the citizen has no such payment.",
            body = ErrorBody),
        (status = 503, description = "`payments_unavailable`, `storage_unavailable`.",
            body = ErrorBody),
    )
)]
async fn page(
    State(citadel): State<Arc<Citadel>>,
    headers: HeaderMap,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Response {
    let wants = wants_page(&headers);
    payment_page(citadel, headers, id, query)
        .await
        .unwrap_or_else(|e| e.answer(wants, false))
}

/// The payment page, or why there is none.
async fn payment_page(
    citadel: Arc<Citadel>,
    headers: HeaderMap,
    id: String,
    query: PageQuery,
) -> Result<Response, ApiError> {
    let Some((citizen, _)) = super::citizen::signed_in(&citadel, &headers).await? else {
        return Ok(ApiError::sign_in_first().page(None, false));
    };
    let intent = citadel.payments.get_for_citizen(&citizen.id, &id).await?;
    let view = citizen_view(&citadel, &intent).await;
    let english = citizen.locale == "en";
    let text = PayTexts::of(english);
    let escape = super::html_escape;
    let mut methods = String::new();
    let mut test_wallet = String::new();
    if citadel.payments.config().demo_wallet {
        methods.push_str(&format!(
            r#"<button type="button" class="primary" data-method="demo-wallet">{}</button>"#,
            text.demo_wallet
        ));
        test_wallet = format!(
            r#"<p id="test-wallet" class="test-wallet" role="note">{}</p>"#,
            text.test_wallet
        );
    }
    for provider in &citadel.payments.config().providers {
        methods.push_str(&format!(
            r#"<button type="button" class="primary" data-method="{0}">{1} {0}</button>"#,
            escape(provider.name()),
            text.pay_with
        ));
    }
    let balance = match citadel.payments.wallet_balance(&citizen.id).await? {
        Some(balance) => format!(
            r#"<dt>{}</dt><dd id="balance">{}</dd>"#,
            text.balance,
            format_vnd(balance.max(0).unsigned_abs())
        ),
        None => String::new(),
    };
    // The app as the catalogue names it; the payee by its registered name.
    let (app_name, icon) = match citadel.registry.live(&intent.app) {
        Some(live) => {
            let name = &live.context.name;
            (
                if english {
                    name.en.clone()
                } else {
                    name.vi.clone()
                },
                live.context.icon.clone(),
            )
        }
        None => (intent.app.clone(), String::new()),
    };
    let status = status_name(view.status);
    let html = format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Citadel Huế</title>
<style>{style}</style></head>
<body>
<header class="bar"><span class="brand">Citadel Huế</span></header>
<main>
<h1>{title}</h1>
{test_wallet}
<section class="card" aria-labelledby="payee">
<p id="payee" class="payee"><span class="icon" aria-hidden="true">{icon}</span><span><strong>{app_name}</strong><br><span class="muted">{merchant}</span></span></p>
<p class="amount">{amount}</p>
<p class="for">{description}</p>
<dl>
<dt>{status_label}</dt><dd id="state" data-status="{status}" data-names="{status_names}">{status_text}</dd>
<dt>{expires_label}</dt><dd><time data-ms="{expires}">{expires}</time></dd>
{balance}
</dl>
</section>
<div id="pay" class="actions" data-intent="{id}" data-return="{back}" data-lang="{lang}" data-paid="{paid}" data-cancelled="{cancelled}" data-back-now="{back_now}" data-request-code="{request_code}" data-unreachable="{unreachable}">{methods}<button type="button" class="secondary" data-method="cancel">{cancel}</button></div>
<p id="status" role="status"></p>
</main>
<script src="/assets/local-path.js"></script>
<script src="/assets/explain.js"></script>
<script src="/pay.js"></script>
</body></html>"#,
        lang = if english { "en" } else { "vi" },
        title = text.title,
        style = PAGE_STYLE,
        icon = escape(&icon),
        app_name = escape(&app_name),
        merchant = escape(&view.merchant),
        amount = format_vnd(intent.amount),
        description = escape(&intent.description),
        status_label = text.status,
        status = escape(&status),
        status_text = text.status_name(&status),
        status_names = escape(&text.status_names_json()),
        expires_label = text.expires,
        expires = intent.expires_at,
        id = escape(&intent.id),
        back = escape(&local_path(query.back)),
        paid = text.paid,
        cancelled = text.cancelled,
        back_now = text.back_now,
        request_code = REQUEST_CODE.in_locale(&citizen.locale),
        unreachable = UNREACHABLE.in_locale(&citizen.locale),
        cancel = text.cancel,
    );
    Ok(super::host_page(
        StatusCode::OK,
        html,
        super::Framing::Nowhere,
    ))
}

/// The look of the host's own pages (payment, consent): the shell's colours
/// and type, large buttons with a visible focus, the amount large.
pub(super) const PAGE_STYLE: &str = "*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;background:#f6f7f9}\
.bar{background:#5b2a86;color:#fff;padding:10px 14px}.brand{font-weight:700;font-size:1.15rem}\
main{max-width:32rem;margin:0 auto;padding:12px}h1{font-size:1.4rem;margin:8px 0 12px}\
.card{background:#fff;border:1px solid #d9dce1;border-radius:10px;padding:14px 16px}\
.payee{display:flex;gap:12px;align-items:center;margin:0}.icon{font-size:2rem;line-height:1}.muted{color:#4b5563}\
.amount{font-size:2.4rem;font-weight:700;margin:12px 0 4px;color:#3b1a57}.for{font-size:1.15rem;margin:0 0 12px}\
dl{display:grid;grid-template-columns:auto 1fr;gap:4px 12px;margin:0}dt{color:#4b5563}dd{margin:0;font-weight:600}\
.actions{display:flex;flex-direction:column;gap:10px;margin:16px 0}\
button{font:inherit;font-weight:600;min-height:48px;padding:10px 16px;border-radius:8px;border:2px solid #5b2a86;cursor:pointer}\
button.primary{background:#5b2a86;color:#fff}button.secondary{background:#fff;color:#3b1a57}\
button:focus{outline:3px solid #f0a500;outline-offset:2px}button:disabled{opacity:.6;cursor:wait}\
.test-wallet{border:2px dashed #b45309;background:#fffbeb;padding:.5rem .75rem;border-radius:8px}\
#status{font-weight:600}";

/// The payment page's words, in the citizen's language.
struct PayTexts {
    title: &'static str,
    demo_wallet: &'static str,
    test_wallet: &'static str,
    pay_with: &'static str,
    balance: &'static str,
    status: &'static str,
    expires: &'static str,
    cancel: &'static str,
    paid: &'static str,
    cancelled: &'static str,
    back_now: &'static str,
    /// Each status's name, and `settled`: no longer pending, the page
    /// cannot tell how (its re-read failed after a refusal).
    statuses: [(&'static str, &'static str); 6],
}

impl PayTexts {
    fn of(english: bool) -> Self {
        if english {
            PayTexts {
                title: "Confirm payment",
                demo_wallet: "Pay with the Citadel wallet",
                test_wallet: "<strong>Test wallet</strong> — this host runs in development mode; no real money moves.",
                pay_with: "Pay with",
                balance: "Wallet balance",
                status: "Status",
                expires: "Expires",
                cancel: "Cancel",
                paid: "Paid.",
                cancelled: "Cancelled.",
                back_now: "Back now",
                statuses: [
                    ("pending", "Waiting for you"),
                    ("captured", "Paid"),
                    ("cancelled", "Cancelled"),
                    ("expired", "Expired"),
                    ("refunded", "Refunded"),
                    ("settled", "Already settled"),
                ],
            }
        } else {
            PayTexts {
                title: "Xác nhận thanh toán",
                demo_wallet: "Thanh toán bằng ví Citadel",
                test_wallet: "<strong>Ví thử nghiệm</strong> — máy chủ đang ở chế độ phát triển, không có tiền thật.",
                pay_with: "Thanh toán qua",
                balance: "Số dư ví",
                status: "Trạng thái",
                expires: "Hết hạn lúc",
                cancel: "Hủy",
                paid: "Đã thanh toán.",
                cancelled: "Đã hủy.",
                back_now: "Quay lại ngay",
                statuses: [
                    ("pending", "Chờ bạn xác nhận"),
                    ("captured", "Đã thanh toán"),
                    ("cancelled", "Đã hủy"),
                    ("expired", "Hết hạn"),
                    ("refunded", "Đã hoàn tiền"),
                    ("settled", "Đã xử lý"),
                ],
            }
        }
    }

    fn status_name(&self, status: &str) -> &'static str {
        self.statuses
            .iter()
            .find(|(id, _)| *id == status)
            .map_or("", |(_, name)| name)
    }

    /// Every status's name, for the script to say what a payment became.
    fn status_names_json(&self) -> String {
        let names: serde_json::Map<String, serde_json::Value> = self
            .statuses
            .iter()
            .map(|(id, name)| (id.to_string(), (*name).into()))
            .collect();
        serde_json::Value::Object(names).to_string()
    }
}

/// The payment page's script
#[utoipa::path(
    get,
    path = "/pay.js",
    tag = "payments",
    operation_id = "payment_script",
    responses((status = 200, description = "The script.", body = String,
        content_type = "text/javascript; charset=utf-8"))
)]
async fn script() -> Response {
    const SCRIPT: &str = r#""use strict";
(function () {
  const box = document.getElementById("pay");
  const say = (text) => { document.getElementById("status").textContent = text; };
  const vnd = (amount) => `${Number(amount).toLocaleString("vi-VN")} ₫`;
  // Dates as the city writes them: dd/mm/yyyy HH:MM, Huế's time.
  const when = (ms) => {
    const parts = new Intl.DateTimeFormat("vi-VN", {
      timeZone: "Asia/Ho_Chi_Minh", day: "2-digit", month: "2-digit", year: "numeric",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date(ms));
    const p = Object.fromEntries(parts.map((part) => [part.type, part.value]));
    return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}`;
  };
  for (const t of document.querySelectorAll("time[data-ms]")) t.textContent = when(Number(t.dataset.ms));
  box.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    const method = button && button.dataset.method;
    if (!method) return;
    const id = box.dataset.intent;
    const path = method === "cancel" ? "cancel" : "confirm";
    const enable = (on) => { for (const b of box.querySelectorAll("button")) b.disabled = !on; };
    enable(false);
    let response;
    try {
      response = await fetch(`/api/v1/me/payments/${id}/${path}`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(method === "cancel" ? {} : { method }),
      });
    } catch {
      enable(true);
      say(box.dataset.unreachable);
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      say(window.citadelExplain(body.error, box.dataset.lang, box.dataset.requestCode)
        || `HTTP ${response.status}`);
      const code = body.error && body.error.code;
      if (code !== "payment_not_pending" && code !== "payment_expired") {
        enable(true);
        return;
      }
      // Settled meanwhile (in another tab, by the provider, by the clock):
      // nothing here can pay it now. Show what it became, and the way back.
      const fresh = await fetch(`/api/v1/me/payments/${id}`, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null))
        .catch(() => null);
      // Unread, it is at least no longer waiting for the citizen.
      showStatus(fresh ? fresh.status : code === "payment_expired" ? "expired" : "settled");
      wayBack(null);
      return;
    }
    if (body.redirect) { window.location.assign(body.redirect); return; }
    const paid = body.payment.status === "captured";
    showStatus(body.payment.status);
    const balance = document.getElementById("balance");
    if (balance && typeof body.wallet_balance === "number") balance.textContent = vnd(body.wallet_balance);
    say(paid ? box.dataset.paid : box.dataset.cancelled);
    wayBack(paid ? 2000 : 0);
  });
  // The status line says `status` in the page's language.
  function showStatus(status) {
    if (!status) return;
    const state = document.getElementById("state");
    const names = JSON.parse(state.dataset.names);
    state.dataset.status = status;
    state.textContent = names[status] || status;
  }
  // The buttons give way to a link back to where the shell opened this page
  // (a path on this host), followed after `delay` ms, or left to the citizen
  // when `delay` is null.
  function wayBack(delay) {
    const back = box.dataset.return;
    if (!window.citadelIsLocalPath(back)) return;
    const now = document.createElement("a");
    now.href = back;
    now.textContent = box.dataset.backNow;
    box.replaceChildren(now);
    if (delay !== null) setTimeout(() => window.location.assign(back), delay);
  }
})();
"#;
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// Paging of `GET /api/v1/me/payments`.
#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// The previous page's `next`.
    before: Option<String>,
    /// At most this many (default and cap 100).
    limit: Option<usize>,
}

/// Most payments one page of the history holds.
const HISTORY_PAGE: usize = 100;

/// One page of a citizen's payments.
#[derive(Serialize, ToSchema)]
struct PaymentHistory {
    /// Newest first.
    payments: Vec<CitizenPayment>,
    /// The `before` of the next, older page; null on the last page.
    next: Option<String>,
}

/// The citizen's payments, newest first
#[utoipa::path(
    get,
    path = "/api/v1/me/payments",
    tag = "payments",
    params(HistoryQuery),
    responses(
        (status = 200, description = "A page of payments.", body = PaymentHistory),
        (status = 400, description = "`invalid_cursor`: `before` is not a page's `next`; \
            `invalid_query`: the query is not paging.", body = ErrorBody),
        (status = 503, description = "`payments_unavailable`.", body = ErrorBody),
    )
)]
async fn history(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> Result<Json<PaymentHistory>, ApiError> {
    let before = match query.before.as_deref() {
        None => None,
        Some(cursor) => Some(parse_history_cursor(cursor).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                "`before` must be the `next` of a previous page",
            )
        })?),
    };
    let limit = query.limit.unwrap_or(HISTORY_PAGE).clamp(1, HISTORY_PAGE);
    let intents = citadel
        .payments
        .history(&session.citizen.id, before.as_ref(), limit)
        .await?;
    let next = (intents.len() == limit)
        .then(|| intents.last().map(|i| format!("{}.{}", i.created_at, i.id)))
        .flatten();
    let mut payments = Vec::with_capacity(intents.len());
    for intent in &intents {
        payments.push(citizen_view(&citadel, intent).await);
    }
    Ok(Json(PaymentHistory { payments, next }))
}

/// Every payment of `citizen`, newest first (their data's export).
pub(super) async fn every_payment_of(
    citadel: &Citadel,
    citizen: &str,
) -> Result<Vec<CitizenPayment>, ApiError> {
    let mut payments = Vec::new();
    let mut before: Option<HistoryCursor> = None;
    loop {
        let page = citadel
            .payments
            .history(citizen, before.as_ref(), HISTORY_PAGE)
            .await?;
        for intent in &page {
            payments.push(citizen_view(citadel, intent).await);
        }
        match page.last() {
            Some(last) if page.len() == HISTORY_PAGE => {
                before = Some(HistoryCursor {
                    created_at: last.created_at,
                    id: last.id.clone(),
                })
            }
            _ => return Ok(payments),
        }
    }
}

/// A history cursor, `created_at.id`.
fn parse_history_cursor(cursor: &str) -> Option<HistoryCursor> {
    let (at, id) = cursor.split_once('.')?;
    Some(HistoryCursor {
        created_at: at.parse().ok()?,
        id: id.to_string(),
    })
}

/// One of the citizen's payments
#[utoipa::path(
    get,
    path = "/api/v1/me/payments/{id}",
    tag = "payments",
    params(("id" = String, Path, description = "The payment's id.")),
    responses(
        (status = 200, description = "The payment.", body = CitizenPayment),
        (status = 404, description = "`payment_not_found`: the citizen has no such payment.",
            body = ErrorBody),
        (status = 503, description = "`payments_unavailable`.", body = ErrorBody),
    )
)]
async fn one(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    PathParams(id): PathParams<String>,
) -> Result<Json<CitizenPayment>, ApiError> {
    let intent = citadel
        .payments
        .get_for_citizen(&session.citizen.id, &id)
        .await?;
    Ok(Json(citizen_view(&citadel, &intent).await))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    /// `demo-wallet` (the default) or a provider's name.
    #[serde(default)]
    method: Option<String>,
}

/// What a confirmation did.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum Confirmation {
    /// Paid from the demo wallet.
    Paid {
        payment: CitizenPayment,
        /// What the wallet holds now, VND; null on a host without the demo wallet.
        wallet_balance: Option<i64>,
    },
    /// To pay through a provider: where to send the citizen.
    Redirect {
        /// The provider's checkout URL.
        redirect: String,
    },
}

/// Confirm a payment
///
/// The only way a payment is approved: with the demo wallet (captured at
/// once) or a provider (the citizen is sent to its checkout).
#[utoipa::path(
    post,
    path = "/api/v1/me/payments/{id}/confirm",
    tag = "payments",
    params(("id" = String, Path, description = "The payment's id.")),
    request_body(content = ConfirmBody, description = "Optional: no body pays with the demo \
        wallet."),
    responses(
        (status = 200, description = "Paid, or where to pay.", body = Confirmation),
        (status = 400, description = "`invalid_json`: the body is not a method.",
            body = ErrorBody),
        (status = 402, description = "`insufficient_funds`: the wallet holds too little.",
            body = ErrorBody),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 404, description = "`payment_not_found`: the citizen has no such payment.",
            body = ErrorBody),
        (status = 409, description = "`payment_expired`; `payment_not_pending`: already \
            paid or cancelled.", body = ErrorBody),
        (status = 422, description = "`unknown_payment_method`: this host has no such \
            method.", body = ErrorBody),
        (status = 503, description = "`payments_unavailable`.", body = ErrorBody),
    )
)]
async fn confirm(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    PathParams(id): PathParams<String>,
    body: Bytes,
) -> Result<Json<Confirmation>, ApiError> {
    session.require_same_origin()?;
    // The body is optional: none means the demo wallet.
    let body: ConfirmBody = if body.is_empty() {
        ConfirmBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?
    };
    let method = body
        .method
        .unwrap_or_else(|| crate::payments::DEMO_WALLET.to_string());
    let confirmed = citadel
        .payments
        .confirm(&session.citizen.id, &id, &method)
        .await?;
    Ok(Json(match confirmed {
        Confirmed::Captured(intent) => {
            let wallet_balance = citadel.payments.wallet_balance(&session.citizen.id).await?;
            Confirmation::Paid {
                payment: citizen_view(&citadel, &intent).await,
                wallet_balance,
            }
        }
        Confirmed::Redirect(redirect) => Confirmation::Redirect { redirect },
    }))
}

/// A payment the citizen declined.
#[derive(Serialize, ToSchema)]
struct Cancelled {
    payment: CitizenPayment,
}

/// Decline a payment
#[utoipa::path(
    post,
    path = "/api/v1/me/payments/{id}/cancel",
    tag = "payments",
    params(("id" = String, Path, description = "The payment's id.")),
    responses(
        (status = 200, description = "Cancelled.", body = Cancelled),
        (status = 403, description = "`cross_origin_request`: a cookie sent from another \
            origin than Citadel's own pages.", body = ErrorBody),
        (status = 404, description = "`payment_not_found`: the citizen has no such payment.",
            body = ErrorBody),
        (status = 409, description = "`payment_expired`; `payment_not_pending`: already \
            paid or cancelled.", body = ErrorBody),
        (status = 503, description = "`payments_unavailable`.", body = ErrorBody),
    )
)]
async fn cancel(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    PathParams(id): PathParams<String>,
) -> Result<Json<Cancelled>, ApiError> {
    session.require_same_origin()?;
    let intent = citadel.payments.cancel(&session.citizen.id, &id).await?;
    Ok(Json(Cancelled {
        payment: citizen_view(&citadel, &intent).await,
    }))
}

/// What a provider reports.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    /// The payment's id.
    intent: String,
    /// VND; must be the payment's amount.
    amount: u64,
    /// The provider's own id of the payment: accepted once.
    provider_ref: String,
    /// `paid` captures the payment; anything else is acknowledged and ignored.
    status: String,
}

/// What the host did with a provider's report.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum WebhookOutcome {
    /// A status other than `paid`: nothing done.
    Ignored {
        /// The status reported.
        ignored: String,
    },
    /// The payment, captured.
    Captured { id: String, status: IntentStatus },
}

/// A payment provider reports a payment
///
/// Signed with the provider's shared secret: `x-citadel-signature` is the
/// hex HMAC-SHA256 of `{timestamp}.{body}`, and the timestamp (unix
/// seconds, in `x-citadel-timestamp`) must be within 300 s of the host's
/// clock. Each `provider_ref` is accepted once.
#[utoipa::path(
    post,
    path = "/api/v1/payments/webhooks/{provider}",
    tag = "payments",
    params(
        ("provider" = String, Path, description = "The provider's name, as configured."),
        ("x-citadel-timestamp" = String, Header, description = "When the provider signed, \
            unix seconds."),
    ),
    request_body = WebhookBody,
    responses(
        (status = 200, description = "Captured, or ignored.", body = WebhookOutcome),
        (status = 400, description = "`invalid_json`: the signed body is not a report.",
            body = ErrorBody),
        (status = 404, description = "`unknown_provider`: no provider has this name; \
            `payment_not_found`: no such payment.", body = ErrorBody),
        (status = 409, description = "`webhook_replayed`: this `provider_ref` was accepted \
            before; `payment_expired`; `payment_not_pending`: the payment was cancelled or \
            paid already, so this one is not applied (with a refund address the provider is \
            asked to pay it back).", body = ErrorBody),
        (status = 422, description = "`invalid_payment`: the amount differs from the \
            payment's.", body = ErrorBody),
        (status = 503, description = "`payments_unavailable`.", body = ErrorBody),
    )
)]
async fn webhook(
    State(citadel): State<Arc<Citadel>>,
    PathParams(provider): PathParams<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookOutcome>, ApiError> {
    let Some(known) = citadel.payments.provider(&provider) else {
        return Err(ApiError::not_found(
            "unknown_provider",
            format!("no payment provider `{provider}`"),
        ));
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if let Err(why) = known.verify_webhook(
        &header("x-citadel-timestamp"),
        &header("x-citadel-signature"),
        &body,
    ) {
        citadel
            .payments
            .record_refused_webhook(
                &provider,
                crate::audit::messages::WEBHOOK_REFUSED.with("reason", &why),
            )
            .await;
        return Err(PaymentError::BadWebhook(why).into());
    }
    let report: WebhookBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?;
    if report.status != "paid" {
        return Ok(Json(WebhookOutcome::Ignored {
            ignored: report.status,
        }));
    }
    let paid = citadel
        .payments
        .provider_paid(
            &provider,
            &report.intent,
            report.amount,
            &report.provider_ref,
        )
        .await;
    if let Err(PaymentError::Replayed) = &paid {
        citadel
            .payments
            .record_refused_webhook(
                &provider,
                crate::audit::messages::WEBHOOK_REPLAYED.with("reference", &report.provider_ref),
            )
            .await;
    }
    let intent = paid?;
    Ok(Json(WebhookOutcome::Captured {
        status: effective_status(&intent, now_ms()),
        id: intent.id,
    }))
}

/// Check every invariant of the ledger
///
/// Postings sum to zero, balances equal their postings, no wallet is
/// negative, each payment is captured once and refunded at most what was
/// captured.
#[utoipa::path(
    get,
    path = "/api/v1/operator/payments/reconcile",
    tag = "payments",
    responses(
        (status = 200, description = "What reconciliation found.", body = Reconciliation),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn reconcile(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<Reconciliation>, ApiError> {
    Ok(Json(citadel.payments.reconcile().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PaidByHandBody {
    /// The refund's reference; of a returned payment, the provider's
    /// reference of that payment.
    reference: String,
    /// It is a payment the provider took that the intent could not take
    /// (returned), not a refund of the intent's own payment.
    #[serde(default)]
    returned_payment: bool,
}

/// A refund a provider owed, now recorded as paid back by hand.
#[derive(Serialize, ToSchema)]
struct SettledRefund {
    intent: String,
    reference: String,
    returned_payment: bool,
    /// The provider that owed it.
    provider: String,
    /// VND.
    amount: u64,
    /// The operator who recorded it.
    settled_by: Option<String>,
    /// Unix milliseconds.
    settled_at: Option<u64>,
}

/// Record a refund a provider owes as paid back by hand
///
/// For a refund its provider will not take (the provider is gone, or
/// refuses it for good; audited as `payment-refund-late`): once the city has
/// paid the citizen back itself, the host stops sending it. Recording it
/// again changes nothing. While a host is sending it to the provider, it
/// cannot be recorded (409 `refund_in_flight`): the provider may take it.
#[utoipa::path(
    post,
    path = "/api/v1/operator/payments/{id}/paid-by-hand",
    tag = "payments",
    params(("id" = String, Path, description = "The payment's id.")),
    request_body = PaidByHandBody,
    responses(
        (status = 200, description = "Recorded (now or before).", body = SettledRefund),
        (status = 400, description = "`invalid_json`.", body = ErrorBody),
        (status = 404, description = "`payment_not_found`; `refund_not_found`: the payment \
            has no refund with this reference that a provider owes.", body = ErrorBody),
        (status = 409, description = "`refund_already_taken`: the provider took it; \
            `refund_in_flight`: a host is sending it to the provider at this moment (ask \
            again once it has answered, within a minute).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 503, description = "`payments_unavailable`.", body = ErrorBody),
    )
)]
async fn paid_by_hand(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<PaidByHandBody>,
) -> Result<Json<SettledRefund>, ApiError> {
    let intent = citadel
        .payments
        .settle_by_hand(
            &id,
            &body.reference,
            body.returned_payment,
            &operator.actor(),
        )
        .await?;
    let owed = intent
        .owed(&body.reference, body.returned_payment)
        .ok_or(PaymentError::NoSuchRefund)?;
    Ok(Json(SettledRefund {
        intent: intent.id.clone(),
        reference: body.reference,
        returned_payment: body.returned_payment,
        provider: owed.provider.name.clone(),
        amount: owed.amount,
        settled_by: owed.provider.settled_by.clone(),
        settled_at: owed.provider.acknowledged_at,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TopUpBody {
    /// VND to add.
    amount: u64,
}

/// A demo wallet after a top-up.
#[derive(Serialize, ToSchema)]
struct Wallet {
    citizen: String,
    /// What the wallet holds now, VND.
    balance: i64,
}

/// Add money to a citizen's demo wallet: development mode only (the
/// wallet does not exist otherwise). Every top-up is audited, and so is a
/// refused one.
#[utoipa::path(
    post,
    path = "/api/v1/operator/wallets/{citizen}/top-up",
    tag = "payments",
    params(("citizen" = String, Path, description = "The citizen's id.")),
    request_body = TopUpBody,
    responses(
        (status = 200, description = "Topped up.", body = Wallet),
        (status = 400, description = "`invalid_json`: the body is not an amount.",
            body = ErrorBody),
        (status = 403, description = "`development_only`: the host is not in development \
            mode.", body = ErrorBody),
        (status = 404, description = "`citizen_not_found`: no citizen has this id.",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`invalid_amount`: not 1 VND to the host's maximum; \
            `unknown_payment_method`: the host has no demo wallet.", body = ErrorBody),
        (status = 503, description = "`payments_unavailable`.", body = ErrorBody),
    )
)]
async fn top_up(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    PathParams(citizen): PathParams<String>,
    JsonBody(body): JsonBody<TopUpBody>,
) -> Result<Json<Wallet>, ApiError> {
    if !citadel.development {
        citadel
            .audit
            .record(crate::audit::Event {
                kind: "wallet-top-up-refused",
                actor: operator.actor(),
                message: Some(
                    crate::audit::messages::WALLET_TOP_UP_REFUSED.with("amount", body.amount),
                ),
                ..Default::default()
            })
            .await;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "development_only",
            "the demo wallet exists only in development mode (`citadel serve --dev`)",
        ));
    }
    if citadel.identity.citizen(&citizen).is_none() {
        return Err(ApiError::not_found(
            "citizen_not_found",
            format!("there is no citizen `{citizen}`"),
        ));
    }
    let balance = citadel
        .payments
        .top_up(&citizen, body.amount, &operator.actor())
        .await?;
    Ok(Json(Wallet { citizen, balance }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SettlementQuery {
    /// `YYYY-MM-DD` (UTC); today if absent.
    date: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The publisher's payments of one day
///
/// Captured payments, the city's fees, refunds and the net, with one line
/// per payment (UTC day).
#[utoipa::path(
    get,
    path = "/api/v1/publisher/settlements",
    tag = "payments",
    params(SettlementQuery),
    responses(
        (status = 200, description = "The settlement, as JSON or CSV.", content(
            (Settlement = "application/json"),
            (String = "text/csv; charset=utf-8"),
        )),
        (status = 400, description = "`invalid_date`: `date` is not YYYY-MM-DD; \
            `invalid_format`: `format` is not `json` or `csv`; `invalid_query`.",
            body = ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = ErrorBody),
    )
)]
async fn settlement(
    publisher: Publisher,
    State(citadel): State<Arc<Citadel>>,
    QueryParams(query): QueryParams<SettlementQuery>,
) -> Result<Response, ApiError> {
    let date = query
        .date
        .unwrap_or_else(|| crate::payments::reconcile::utc_date(now_ms()));
    let valid = date.len() == 10
        && date.chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !valid {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_date",
            format!("`{date}` is not a date; use YYYY-MM-DD"),
        ));
    }
    let report = citadel.payments.settlement(&publisher.0.id, &date).await?;
    Ok(match query.format.as_deref() {
        Some("csv") => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report.to_csv(),
        )
            .into_response(),
        None | Some("json") => Json(report).into_response(),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_format",
                format!("format `{other}` is not json or csv"),
            ))
        }
    })
}
