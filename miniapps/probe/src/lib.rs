//! `probe`: a test mini-app that calls every contract 1.1 host call on
//! demand — identity, per-citizen and app-wide kv, notify, outbound HTTP,
//! its own stdout and stderr — and reports what it got, so tests can show
//! what the host allows and refuses. Never installed by `citadel serve`.

use citadel_sdk::fetch::{self, FetchError};
use citadel_sdk::{
    identity, kv, notify, payments, Error, Method, Request, Response, Result, Router,
};
use serde_json::json;

fn scopes(req: &Request) -> Result<Vec<identity::Scope>> {
    req.query("scopes")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|name| {
            identity::scope(&format!("identity.{name}"))
                .ok_or_else(|| Error::bad_request(format!("no scope `{name}`")))
        })
        .collect()
}

fn whoami(_req: &Request) -> Result<Response> {
    let current = identity::current().map(|c| json!({ "id": c.id, "locale": c.locale }));
    Response::json(&json!({ "current": current }))
}

fn profile(req: &Request) -> Result<Response> {
    let profile = identity::profile(&scopes(req)?)?;
    Response::json(&json!({
        "name": profile.name,
        "phone": profile.phone,
        "national_id": profile.national_id,
        "address": profile.address,
        "birth_date": profile.birth_date,
        "roles": profile.roles.map(|roles| roles
            .into_iter()
            .map(|r| json!({ "unit": r.unit, "role": r.role }))
            .collect::<Vec<_>>()),
    }))
}

fn require(req: &Request) -> Result<Response> {
    identity::require_consent(&scopes(req)?)?;
    Ok(Response::text("consented"))
}

fn get_mine(_req: &Request) -> Result<Response> {
    let value: Option<String> = kv::citizen::get_json("draft")?;
    let keys = kv::citizen::list_keys("", None, 100)?.keys;
    Response::json(&json!({ "value": value, "keys": keys }))
}

fn put_mine(req: &Request) -> Result<Response> {
    kv::citizen::set_json("draft", req.text()?)?;
    Ok(Response::new(204))
}

fn get_shared(_req: &Request) -> Result<Response> {
    let value: Option<String> = kv::get_json("shared")?;
    Response::json(&json!({ "value": value }))
}

fn put_shared(req: &Request) -> Result<Response> {
    kv::set_json("shared", req.text()?)?;
    Ok(Response::new(204))
}

/// Store `kib` KiB under `key` app-wide (for quota tests).
fn fill(req: &Request) -> Result<Response> {
    let kib: usize = req.query("kib").and_then(|v| v.parse().ok()).unwrap_or(1);
    let key = req.query("key").unwrap_or_else(|| "fill".into());
    kv::set(&key, &vec![b'x'; kib * 1024])?;
    Ok(Response::new(204))
}

/// Hand the store what no key or value may be: a compare-and-swap expecting
/// a value over the size limit (`?what=swap`), a listing's prefix or the key
/// to list after longer than a key (`prefix`, `after`).
fn oversized(req: &Request) -> Result<Response> {
    let long = |bytes: usize| "k".repeat(bytes);
    match req.query("what").as_deref() {
        Some("swap") => {
            kv::compare_and_swap("k", Some(&vec![b'x'; (1 << 20) + 1]), b"v")?;
        }
        Some("prefix") => {
            kv::list_keys(&long(513), None, 10)?;
        }
        _ => {
            kv::list_keys("", Some(&long(513)), 10)?;
        }
    }
    Ok(Response::new(204))
}

/// The kv space `:space` names: `app` (app-wide) or `citizen` (the caller's).
fn citizen_space(req: &Request) -> Result<bool> {
    match req.param("space") {
        Some("app") => Ok(false),
        Some("citizen") => Ok(true),
        other => Err(Error::bad_request(format!("no kv space {other:?}"))),
    }
}

/// `PUT /kv/:space/:key[?after=URL]`: store the body under `key` (for
/// durability tests); with `after`, only once a GET of that URL answered
/// (so a test can hold the request under way).
fn put_key(req: &Request) -> Result<Response> {
    let key = req.param("key").unwrap_or_default();
    if let Some(url) = req.query("after") {
        fetch::send(Method::Get, &url, &[], &[])
            .map_err(|e| Error::bad_request(format!("the GET of ?after= failed: {e}")))?;
    }
    if citizen_space(req)? {
        kv::citizen::set(key, req.body())?;
    } else {
        kv::set(key, req.body())?;
    }
    Ok(Response::new(204))
}

/// `GET /kv/:space?after=`: one page of keys and their values, in key order.
fn dump(req: &Request) -> Result<Response> {
    let citizen = citizen_space(req)?;
    let after = req.query("after");
    let page = if citizen {
        kv::citizen::list_keys("", after.as_deref(), 500)?
    } else {
        kv::list_keys("", after.as_deref(), 500)?
    };
    let mut entries = Vec::with_capacity(page.keys.len());
    for key in page.keys {
        let value = if citizen {
            kv::citizen::get(&key)?
        } else {
            kv::get(&key)?
        };
        let value = value.map(|v| String::from_utf8_lossy(&v).into_owned());
        entries.push(json!([key, value]));
    }
    Response::json(&json!({ "entries": entries, "next": page.next }))
}

fn send_notice(req: &Request) -> Result<Response> {
    notify::send(req.text()?, "Từ ứng dụng thử nghiệm", Some("/inbox"))?;
    Ok(Response::new(204))
}

fn send_notice_to(req: &Request) -> Result<Response> {
    let recipient = req
        .query("to")
        .ok_or_else(|| Error::bad_request("give ?to="))?;
    notify::send_to(&recipient, req.text()?, "Từ ứng dụng thử nghiệm", None)?;
    Ok(Response::new(204))
}

/// `GET ?url=`, with the header `?header=NAME:VALUE` if given.
fn fetch_url(req: &Request) -> Result<Response> {
    let url = req
        .query("url")
        .ok_or_else(|| Error::bad_request("give ?url="))?;
    let header = req.query("header");
    let headers: Vec<(&str, &str)> = match &header {
        Some(header) => vec![header
            .split_once(':')
            .ok_or_else(|| Error::bad_request("give ?header=NAME:VALUE"))?],
        None => Vec::new(),
    };
    let outcome = match fetch::send(Method::Get, &url, &headers, &[]) {
        Ok(response) => json!({
            "outcome": "ok",
            "status": response.status,
            "url": response.url,
            "body": String::from_utf8_lossy(&response.body),
        }),
        Err(FetchError::Denied) => json!({ "outcome": "denied" }),
        Err(other) => json!({ "outcome": "failed", "error": other.to_string() }),
    };
    Response::json(&outcome)
}

fn status_name(status: payments::IntentStatus) -> &'static str {
    use payments::IntentStatus as S;
    match status {
        S::Pending => "pending",
        S::Captured => "captured",
        S::Cancelled => "cancelled",
        S::Expired => "expired",
        S::Refunded => "refunded",
    }
}

fn intent_json(intent: &payments::Intent) -> serde_json::Value {
    json!({
        "id": intent.id,
        "reference": intent.reference,
        "amount": intent.amount,
        "status": status_name(intent.status),
        "refunded": intent.refunded,
        "confirm_url": intent.confirm_url,
    })
}

/// Ask the citizen to pay `?amount=` with `?reference=`.
fn pay(req: &Request) -> Result<Response> {
    let amount: u64 = req
        .query("amount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let reference = req.query("reference").unwrap_or_else(|| "order-1".into());
    let intent = payments::create(amount, "Vé tham quan Đại Nội", &reference)?;
    Response::json(&intent_json(&intent))
}

fn intent(req: &Request) -> Result<Response> {
    let intent = payments::get(req.param("id").unwrap_or_default())?;
    Response::json(&intent_json(&intent))
}

fn refund(req: &Request) -> Result<Response> {
    let amount = req.query("amount").and_then(|v| v.parse().ok());
    let reference = req.query("reference").unwrap_or_else(|| "refund-1".into());
    let intent = payments::refund(req.param("id").unwrap_or_default(), amount, &reference)?;
    Response::json(&intent_json(&intent))
}

/// The payment hook: counts deliveries per (intent, status), idempotently
/// keyed by the delivery id.
fn payment_hook(req: &Request) -> Result<Response> {
    let event = payments::hook_event(req)?;
    let current = payments::get(&event.intent.id)?;
    kv::set(
        &format!("hook/{}/{}", current.id, event.delivery),
        status_name(current.status).as_bytes(),
    )?;
    Ok(Response::new(204))
}

fn hooks(_req: &Request) -> Result<Response> {
    Response::json(&json!({ "keys": kv::keys("hook/")? }))
}

fn echo(req: &Request) -> Result<Response> {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    Response::json(&json!({ "headers": headers }))
}

/// Print `?line=` to stdout and to stderr, as an app's own logging does.
fn print(req: &Request) -> Result<Response> {
    let line = req
        .query("line")
        .ok_or_else(|| Error::bad_request("give ?line="))?;
    println!("stdout: {line}");
    eprintln!("stderr: {line}");
    Ok(Response::text("printed"))
}

fn router() -> Router {
    Router::new()
        .get("/whoami", whoami)
        .get("/profile", profile)
        .get("/require", require)
        .get("/mine", get_mine)
        .put("/mine", put_mine)
        .get("/shared", get_shared)
        .put("/shared", put_shared)
        .put("/fill", fill)
        .get("/oversized", oversized)
        .put("/kv/:space/:key", put_key)
        .get("/kv/:space", dump)
        .post("/notify", send_notice)
        .post("/notify-to", send_notice_to)
        .get("/fetch", fetch_url)
        .get("/echo", echo)
        .get("/print", print)
        .post("/pay", pay)
        .get("/intent/:id", intent)
        .post("/refund/:id", refund)
        .post("/payments/hook", payment_hook)
        .get("/hooks", hooks)
}

citadel_sdk::export_app!(router);
