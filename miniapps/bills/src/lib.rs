//! `bills` (hóa đơn tiền nước), published by the Huế water company HueWACO:
//! citizens look up a customer's water bills, pay them through Citadel
//! payments and keep their receipts; staff point the app at the billing API.

mod pages;
mod payment;
mod seed;
mod source;

use citadel_sdk::{identity, payments, Error, Request, Response, Result, Router};
use payment::State;
use serde_json::{json, Value};
use source::{Account, Bill, BillingApi, Source};

/// The unit and role allowed to configure the billing API.
const ADMIN_UNIT: &str = "capnuoc-hue";
const ADMIN_ROLE: &str = "billing-admin";

fn router() -> Router {
    Router::new()
        .get("/", pages::home)
        .get("/receipts", pages::receipts)
        .get("/receipts/:intent", pages::receipt)
        .get("/admin", pages::admin)
        .post("/admin/billing-api", pages::admin_form)
        .get("/api/bills", lookup)
        .get("/api/bills/:id", one_bill)
        .post("/api/bills/:id/pay", pay)
        .get("/api/receipts", receipts)
        .get("/api/admin/billing-api", get_billing_api)
        .put("/api/admin/billing-api", put_billing_api)
        .delete("/api/admin/billing-api", delete_billing_api)
        .post("/payments/hook", payment_hook)
}

citadel_sdk::export_app!(router);

/// Whether the caller is a browser that wants a page back, not JSON.
pub(crate) fn wants_html(req: &Request) -> bool {
    req.header("accept")
        .is_some_and(|a| a.contains("text/html"))
}

/// The signed-in citizen's pairwise id, or 401.
pub(crate) fn signed_in(req: &Request) -> Result<String> {
    req.citizen()
        .map(str::to_string)
        .ok_or_else(|| Error::new(401, "not_signed_in", "sign in to Citadel to do this"))
}

/// The signed-in staff member allowed to configure the app (the city's
/// `identity.roles` grant, no consent: else 403).
pub(crate) fn admin(req: &Request) -> Result<String> {
    let me = signed_in(req)?;
    identity::require_role(ADMIN_UNIT, Some(ADMIN_ROLE))?;
    Ok(me)
}

/// Whether to show the admin link: only to the billing staff.
pub(crate) fn shows_admin_link() -> bool {
    identity::is_staff(|role| role.is(ADMIN_UNIT, Some(ADMIN_ROLE)))
}

/// A field of a JSON object body or a urlencoded form.
pub(crate) fn body_field(req: &Request, name: &str) -> Result<Option<String>> {
    if req.body().is_empty() {
        return Ok(None);
    }
    let is_json = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"));
    let value = if is_json {
        let object: serde_json::Map<String, Value> = req.json()?;
        match object.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::invalid(format!("`{name}` must be a string"))),
        }
    } else {
        req.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    };
    Ok(value.filter(|v| !v.trim().is_empty()))
}

/// The customer code from the query or the body, validated.
fn customer_param(req: &Request) -> Result<String> {
    let raw = match req.query("customer").filter(|c| !c.trim().is_empty()) {
        Some(code) => code,
        None => body_field(req, "customer")?
            .ok_or_else(|| Error::invalid("`customer` (the customer code) is required"))?,
    };
    source::customer_code(&raw)
}

fn bill_not_found(id: &str) -> Error {
    Error::new(
        404,
        "bill_not_found",
        format!(
            "this customer has no bill `{}`",
            id.chars().take(64).collect::<String>()
        ),
    )
}

/// The bill `id` of `account`, or 404.
fn find_bill<'a>(account: &'a Account, id: &str) -> Result<&'a Bill> {
    if !source::is_bill_id(id) {
        return Err(bill_not_found(id));
    }
    account
        .bills
        .iter()
        .find(|b| b.id == id)
        .ok_or_else(|| bill_not_found(id))
}

/// A bill as the API shows it, with its state in the app. The confirm URL
/// of a pending payment is shown only to the citizen paying.
pub(crate) fn bill_json(bill: &Bill, state: &State, me: Option<&str>) -> Value {
    let mut out = json!({
        "id": bill.id,
        "period": bill.period,
        "amount": bill.amount,
        "due": bill.due,
        "status": state.name(),
    });
    if let Some(usage) = bill.usage_m3 {
        out["usage_m3"] = json!(usage);
    }
    if !matches!(state, State::Paid(_) | State::PaidAtSource) {
        out["overdue"] = json!(bill.overdue(&source::today(payment::now_ms())));
    }
    match state {
        State::Paid(paid) => {
            out["paid_at"] = json!(paid.paid_at);
            out["paid_via"] = json!("citadel");
        }
        State::PaidAtSource => out["paid_via"] = json!("company"),
        State::Pending { payer, intent } if Some(payer.as_str()) == me => {
            out["confirm_url"] = json!(intent.confirm_url);
        }
        _ => {}
    }
    out
}

/// The account of the customer in the request and each bill's state.
pub(crate) fn account_with_states(code: &str) -> Result<(Source, Account, Vec<State>)> {
    let source = Source::current()?;
    let account = source.account(code)?;
    let states = account
        .bills
        .iter()
        .map(payment::state)
        .collect::<Result<Vec<_>>>()?;
    Ok((source, account, states))
}

fn lookup(req: &Request) -> Result<Response> {
    let code = customer_param(req)?;
    let (source, account, states) = account_with_states(&code)?;
    let bills: Vec<Value> = account
        .bills
        .iter()
        .zip(&states)
        .map(|(b, s)| bill_json(b, s, req.citizen()))
        .collect();
    Response::json(&json!({
        "customer": account.customer,
        "source": source.name(),
        "bills": bills,
    }))
}

fn one_bill(req: &Request) -> Result<Response> {
    let code = customer_param(req)?;
    let source = Source::current()?;
    let account = source.account(&code)?;
    let bill = find_bill(&account, req.param("id").unwrap_or_default())?;
    let state = payment::state(bill)?;
    Response::json(&json!({
        "customer": account.customer,
        "source": source.name(),
        "bill": bill_json(bill, &state, req.citizen()),
    }))
}

fn pay(req: &Request) -> Result<Response> {
    let payer = signed_in(req)?;
    let id = req.param("id").unwrap_or_default().to_string();
    let code = customer_param(req)?;
    let source = Source::current()?;
    let account = source.account(&code)?;
    let bill = find_bill(&account, &id)?;
    let started = payment::start(&payer, &account, bill, &source)?;
    if wants_html(req) {
        // The shell shows the host's payment page for this redirect, then
        // reopens the app on this payment's receipt (`then`).
        return Ok(Response::redirect(&format!(
            "{}?then=/receipts/{}",
            started.intent.confirm_url, started.intent.id
        )));
    }
    let intent = &started.intent;
    Ok(Response::json(&json!({
        "bill": bill.id,
        "customer": account.customer.code,
        "amount": intent.amount,
        "attempt": started.attempt,
        "confirm_url": intent.confirm_url,
        "intent": {
            "id": intent.id,
            "reference": intent.reference,
            "status": payment::status_name(intent.status),
            "description": intent.description,
            "expires_at": intent.expires_at,
        },
    }))?
    .with_status(if started.created { 201 } else { 200 }))
}

fn receipts(req: &Request) -> Result<Response> {
    let me = signed_in(req)?;
    Response::json(&json!({ "receipts": payment::receipts(&me)? }))
}

fn billing_api_json(config: Option<&BillingApi>) -> Value {
    match config {
        None => json!({ "configured": false, "source": "seeded" }),
        Some(c) => {
            let origin = source::origin_of(&c.url);
            json!({
                "configured": true,
                "source": "api",
                "url": c.url,
                "origin": origin,
                "capability": format!("http:{origin}"),
                "set_at": c.set_at,
            })
        }
    }
}

fn get_billing_api(req: &Request) -> Result<Response> {
    admin(req)?;
    Response::json(&billing_api_json(BillingApi::load()?.as_ref()))
}

/// Point the app at the billing API at `raw` (validated) as `staff`.
pub(crate) fn set_billing_api(staff: String, raw: &str) -> Result<BillingApi> {
    let config = BillingApi {
        url: source::normalise_url(raw)?,
        set_at: payment::now_ms(),
        set_by: staff,
    };
    config.save()?;
    citadel_sdk::log::info(&format!(
        "billing API set to {}",
        source::host_of(&config.url)
    ));
    Ok(config)
}

fn put_billing_api(req: &Request) -> Result<Response> {
    let staff = admin(req)?;
    let raw = body_field(req, "url")?.ok_or_else(|| {
        Error::new(
            422,
            "invalid_url",
            "`url` (the billing API's base URL) is required",
        )
    })?;
    let config = set_billing_api(staff, &raw)?;
    Response::json(&billing_api_json(Some(&config)))
}

fn delete_billing_api(req: &Request) -> Result<Response> {
    admin(req)?;
    let removed = BillingApi::clear()?;
    let mut out = billing_api_json(None);
    out["removed"] = json!(removed);
    Response::json(&out)
}

/// The host tells us about a capture (at least once): settle it once; if
/// the billing API cannot be told, answer 5xx so the host tries again.
fn payment_hook(req: &Request) -> Result<Response> {
    let event = payments::hook_event(req)?;
    let current = payments::get(&event.intent.id)?;
    if current.status == payments::IntentStatus::Captured {
        payment::settle_intent(&current.id, true)?;
    }
    Ok(Response::new(204))
}
