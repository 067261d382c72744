//! Payments at the gateway: the host-drawn `/pay/{id}` page and the
//! citizen's confirm/cancel/history API (the only way a payment is
//! approved), providers' webhooks, the operator's reconciliation and demo
//! wallet top-ups, and publishers' daily settlements (JSON or CSV).

use super::auth::{Operator, Publisher};
use super::citizen::CitizenSession;
use super::error::ApiError;
use super::json::{JsonBody, QueryParams};
use super::routes::{Access, Routes};
use crate::payments::{effective_status, Confirmed, PaymentError, PaymentProvider};
use crate::payments::{HistoryCursor, IntentRecord};
use crate::Citadel;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

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

/// An intent as its citizen sees it.
async fn citizen_view(citadel: &Citadel, intent: &IntentRecord) -> serde_json::Value {
    let merchant = citadel
        .registry
        .publishers()
        .display_name(&intent.publisher)
        .await
        .unwrap_or_else(|_| intent.publisher.clone());
    json!({
        "id": intent.id,
        "app": intent.app,
        "merchant": merchant,
        "amount": intent.amount,
        "description": intent.description,
        "status": effective_status(intent, now_ms()),
        "refunded": intent.refunded,
        "method": intent.method,
        "created_at": intent.created_at,
        "expires_at": intent.expires_at,
        "captured_at": intent.captured_at,
    })
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

#[derive(Deserialize)]
struct PageQuery {
    /// Where the shell wants the citizen back afterwards: a path on this host.
    #[serde(rename = "return")]
    back: Option<String>,
}

/// A path on this host (the gateway's one rule, `is_local_path`), or nothing.
fn local_path(path: Option<String>) -> String {
    path.filter(|p| super::is_local_path(p)).unwrap_or_default()
}

async fn page(
    State(citadel): State<Arc<Citadel>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Response, ApiError> {
    let Some((citizen, _)) = super::citizen::signed_in(&citadel, &headers).await? else {
        return Ok(super::host_page(
            StatusCode::UNAUTHORIZED,
            "<!doctype html><meta charset=utf-8><title>Citadel</title><p>Đăng nhập để thanh toán. / Sign in to pay.</p>".into(),
        ));
    };
    let intent = citadel.payments.get_for_citizen(&citizen.id, &id).await?;
    let view = citizen_view(&citadel, &intent).await;
    let escape = super::html_escape;
    let mut methods = String::new();
    let mut test_wallet = "";
    if citadel.payments.config().demo_wallet {
        methods.push_str(r#"<button type="button" data-method="demo-wallet">Thanh toán bằng ví Citadel</button>"#);
        test_wallet = r#"<p id="test-wallet" class="test-wallet" role="note"><strong>Ví thử nghiệm</strong> — máy chủ đang ở chế độ phát triển, không có tiền thật. / <strong>Test wallet</strong> — this host runs in development mode; no real money moves.</p>"#;
    }
    for provider in &citadel.payments.config().providers {
        methods.push_str(&format!(
            r#"<button type="button" data-method="{0}">Thanh toán qua {0}</button>"#,
            escape(provider.name())
        ));
    }
    let status = view["status"].as_str().unwrap_or_default().to_string();
    let html = format!(
        r#"<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Thanh toán</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}button{{font-size:1rem;padding:.6rem 1rem;margin:.3rem .3rem 0 0}}.amount{{font-size:2rem;font-weight:600}}.test-wallet{{border:2px dashed #b45309;background:#fffbeb;padding:.5rem .75rem}}</style></head>
<body>
<h1>Xác nhận thanh toán</h1>
{test_wallet}
<p>Đơn vị nhận: <strong>{merchant}</strong> · ứng dụng {app}</p>
<p class="amount">{amount}</p>
<p>{description}</p>
<p>Trạng thái: <strong id="state">{status}</strong> · hết hạn lúc <time data-ms="{expires}">{expires}</time></p>
<div id="pay" data-intent="{id}" data-return="{back}">{methods}<button type="button" data-method="cancel">Hủy</button></div>
<p id="status" role="status"></p>
<script src="/assets/local-path.js"></script>
<script src="/pay.js"></script>
</body></html>"#,
        merchant = escape(view["merchant"].as_str().unwrap_or_default()),
        app = escape(&intent.app),
        amount = format_vnd(intent.amount),
        description = escape(&intent.description),
        status = escape(&status),
        expires = intent.expires_at,
        id = escape(&intent.id),
        back = escape(&local_path(query.back)),
    );
    Ok(super::host_page(StatusCode::OK, html))
}

async fn script() -> Response {
    const SCRIPT: &str = r#""use strict";
(function () {
  const box = document.getElementById("pay");
  const say = (text) => { document.getElementById("status").textContent = text; };
  for (const t of document.querySelectorAll("time[data-ms]")) {
    t.textContent = new Date(Number(t.dataset.ms)).toLocaleString("vi-VN");
  }
  box.addEventListener("click", async (event) => {
    const method = event.target.dataset.method;
    if (!method) return;
    const id = box.dataset.intent;
    const path = method === "cancel" ? "cancel" : "confirm";
    const response = await fetch(`/api/v1/me/payments/${id}/${path}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(method === "cancel" ? {} : { method }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { say((body.error && body.error.message) || ("HTTP " + response.status)); return; }
    if (body.redirect) { window.location.assign(body.redirect); return; }
    document.getElementById("state").textContent = body.payment.status;
    say(body.payment.status === "captured" ? "Đã thanh toán." : "Đã hủy.");
    // Back to where the shell opened this page (a path on this host).
    const back = box.dataset.return;
    if (window.citadelIsLocalPath(back)) window.location.assign(back);
  });
})();
"#;
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// Paging of `GET /api/v1/me/payments`.
#[derive(Debug, Default, serde::Deserialize)]
struct HistoryQuery {
    /// The previous page's `next`.
    before: Option<String>,
    /// At most this many (default and cap 100).
    limit: Option<usize>,
}

/// Most payments one page of the history holds.
const HISTORY_PAGE: usize = 100;

async fn history(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    Ok(Json(json!({ "payments": payments, "next": next })))
}

/// A history cursor, `created_at.id`.
fn parse_history_cursor(cursor: &str) -> Option<HistoryCursor> {
    let (at, id) = cursor.split_once('.')?;
    Some(HistoryCursor {
        created_at: at.parse().ok()?,
        id: id.to_string(),
    })
}

async fn one(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let intent = citadel
        .payments
        .get_for_citizen(&session.citizen.id, &id)
        .await?;
    Ok(Json(citizen_view(&citadel, &intent).await))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    /// `demo-wallet` (the default) or a provider's name.
    #[serde(default)]
    method: Option<String>,
}

async fn confirm(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
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
        Confirmed::Captured(intent) => json!({ "payment": citizen_view(&citadel, &intent).await }),
        Confirmed::Redirect(url) => json!({ "redirect": url }),
    }))
}

async fn cancel(
    State(citadel): State<Arc<Citadel>>,
    session: CitizenSession,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    session.require_same_origin()?;
    let intent = citadel.payments.cancel(&session.citizen.id, &id).await?;
    Ok(Json(
        json!({ "payment": citizen_view(&citadel, &intent).await }),
    ))
}

/// What a provider reports.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    intent: String,
    amount: u64,
    /// The provider's own id of the payment: accepted once.
    provider_ref: String,
    status: String,
}

async fn webhook(
    State(citadel): State<Arc<Citadel>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
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
            .record_refused_webhook(&provider, &why)
            .await;
        return Err(PaymentError::BadWebhook(why).into());
    }
    let report: WebhookBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?;
    if report.status != "paid" {
        return Ok(Json(json!({ "ignored": report.status })));
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
            .record_refused_webhook(&provider, &format!("replayed {}", report.provider_ref))
            .await;
    }
    let intent = paid?;
    Ok(Json(
        json!({ "id": intent.id, "status": effective_status(&intent, now_ms()) }),
    ))
}

async fn reconcile(
    _operator: Operator,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Json<crate::payments::reconcile::Reconciliation>, ApiError> {
    Ok(Json(citadel.payments.reconcile().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUpBody {
    amount: u64,
}

/// Add money to a citizen's demo wallet: development mode only (the
/// wallet does not exist otherwise). Every top-up is audited, and so is a
/// refused one.
async fn top_up(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
    Path(citizen): Path<String>,
    JsonBody(body): JsonBody<TopUpBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !citadel.development {
        citadel
            .audit
            .record(crate::audit::Event {
                kind: "wallet-top-up-refused",
                actor: operator.actor(),
                detail: format!(
                    "a top-up of {} VND refused: the host is not in development mode",
                    body.amount
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
    Ok(Json(json!({ "citizen": citizen, "balance": balance })))
}

#[derive(Deserialize)]
struct SettlementQuery {
    /// `YYYY-MM-DD` (UTC); today if absent.
    date: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

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
