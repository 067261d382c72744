//! Where bills come from: the water company's billing API over allowlisted
//! outbound HTTP when staff configured one, the app's own seeded store
//! otherwise; plus the input checks for customer codes, bill ids and URLs.

use crate::seed;
use citadel_sdk::fetch::{self, FetchError};
use citadel_sdk::{kv, Error, Method, Result};
use serde::{Deserialize, Serialize};

/// The kv key of the configured billing API.
const CONFIG_KEY: &str = "config/billing-api";
/// Longest billing API base URL accepted.
const MAX_URL_LEN: usize = 200;

/// A water customer (khách hàng) as the company knows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Customer {
    pub code: String,
    pub name: String,
    pub address: String,
}

/// One monthly water bill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bill {
    pub id: String,
    /// `YYYY-MM`.
    pub period: String,
    /// VND.
    pub amount: u64,
    /// `YYYY-MM-DD`.
    pub due: String,
    /// `unpaid` or `paid`, as the source says.
    pub status: String,
    /// Water used, when the source says (the seeded store does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_m3: Option<u32>,
}

impl Bill {
    /// Whether the source itself says the bill is paid (e.g. at the counter).
    pub fn paid_at_source(&self) -> bool {
        self.status.eq_ignore_ascii_case("paid")
    }

    /// Whether the due date (`YYYY-MM-DD`) is before `today` (same form).
    pub fn overdue(&self, today: &str) -> bool {
        !self.paid_at_source() && self.due.len() == 10 && self.due.as_str() < today
    }

    /// `2026-10` → `10/2026` (the period as Vietnamese bills print it).
    pub fn period_label(&self) -> String {
        period_label(&self.period)
    }

    /// `2026-11-15` → `15/11/2026` (as it is, if it is not a date).
    pub fn due_label(&self) -> String {
        citadel_sdk::time::parse_date(&self.due)
            .map_or_else(|_| self.due.clone(), citadel_sdk::time::format_date)
    }
}

/// A period `2026-10` as Vietnamese bills print it: `10/2026`.
pub fn period_label(period: &str) -> String {
    match period.split_once('-') {
        Some((year, month)) => format!("{month}/{year}"),
        None => period.to_string(),
    }
}

/// A customer and their bills, from whichever source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub customer: Customer,
    pub bills: Vec<Bill>,
}

/// The billing API staff configured (`PUT /api/admin/billing-api`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BillingApi {
    /// Normalised base URL, without a trailing `/`.
    pub url: String,
    pub set_at: u64,
    /// Pairwise id of the staff member who set it.
    pub set_by: String,
}

impl BillingApi {
    pub fn load() -> Result<Option<BillingApi>> {
        kv::get_json(CONFIG_KEY)
    }

    pub fn save(&self) -> Result<()> {
        kv::set_json(CONFIG_KEY, self)
    }

    pub fn clear() -> Result<bool> {
        Ok(kv::delete(CONFIG_KEY)?)
    }
}

/// The source bills are read from right now.
pub enum Source {
    Api(String),
    Seeded,
}

impl Source {
    pub fn current() -> Result<Source> {
        Ok(match BillingApi::load()? {
            Some(config) => Source::Api(config.url),
            None => Source::Seeded,
        })
    }

    /// `api` or `seeded`.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Api(_) => "api",
            Source::Seeded => "seeded",
        }
    }

    /// The API base to report payments to, if bills come from the API.
    pub fn api_base(&self) -> Option<&str> {
        match self {
            Source::Api(base) => Some(base),
            Source::Seeded => None,
        }
    }

    /// Customer `code` (already validated) and their bills.
    pub fn account(&self, code: &str) -> Result<Account> {
        match self {
            Source::Seeded => seed::account(code)?.ok_or_else(|| customer_not_found(code)),
            Source::Api(base) => api_account(base, code),
        }
    }
}

fn customer_not_found(code: &str) -> Error {
    Error::new(
        404,
        "customer_not_found",
        format!("there is no customer with code {code}"),
    )
}

/// A failed call to the billing API as the citizen's answer. The message
/// never names the configured URL.
fn upstream(e: FetchError) -> Error {
    match e {
        FetchError::Denied => Error::new(
            503,
            "billing_api_not_allowed",
            "the city has not allowed this app to reach the water company's billing system; try again later",
        ),
        FetchError::InvalidUrl(_) => Error::new(
            503,
            "billing_api_misconfigured",
            "the billing system's address is not usable; staff must correct it",
        ),
        FetchError::TooManyRedirects | FetchError::Failed(_) => Error::new(
            502,
            "billing_api_unavailable",
            "the water company's billing system did not answer; try again later",
        ),
    }
}

fn invalid_answer(why: &str) -> Error {
    Error::new(
        502,
        "billing_api_invalid",
        format!("the water company's billing system gave an unusable answer: {why}"),
    )
}

fn api_account(base: &str, code: &str) -> Result<Account> {
    let response = fetch::get(&format!("{base}/bills?customer={code}")).map_err(|e| {
        citadel_sdk::log::warn(&format!("billing API lookup failed: {e}"));
        upstream(e)
    })?;
    match response.status {
        200..=299 => {}
        404 => return Err(customer_not_found(code)),
        status => {
            citadel_sdk::log::warn(&format!("billing API answered {status} to a lookup"));
            return Err(Error::new(
                502,
                "billing_api_unavailable",
                "the water company's billing system did not answer; try again later",
            ));
        }
    }
    let account: Account = serde_json::from_slice(&response.body)
        .map_err(|e| invalid_answer(&format!("not the expected JSON ({e})")))?;
    if !account.customer.code.eq_ignore_ascii_case(code) {
        return Err(invalid_answer("it is about another customer"));
    }
    if let Some(bad) = account.bills.iter().find(|b| !is_bill_id(&b.id)) {
        return Err(invalid_answer(&format!(
            "bill id `{}` is not acceptable",
            bad.id.chars().take(80).collect::<String>()
        )));
    }
    Ok(account)
}

/// Tell the billing API that bill `bill` was paid through Citadel.
pub fn report_payment(
    base: &str,
    bill: &str,
    intent: &str,
    amount: u64,
    paid_at: u64,
) -> Result<()> {
    let body = serde_json::json!({
        "intent": intent,
        "amount": amount,
        "paid_at": citadel_sdk::html::vietnam_iso(paid_at),
    });
    let failed = |why: String| {
        citadel_sdk::log::warn(&format!(
            "reporting payment {intent} of bill {bill} failed: {why}"
        ));
        Error::new(
            502,
            "billing_report_failed",
            "the payment is recorded but the water company's billing system has not acknowledged it yet",
        )
    };
    let response = fetch::send(
        Method::Post,
        &format!("{base}/bills/{bill}/payments"),
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
    .map_err(|e| failed(e.to_string()))?;
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(failed(format!("status {}", response.status)))
    }
}

/// The date in Vietnam at `now_ms`, `YYYY-MM-DD`.
pub fn today(now_ms: u64) -> String {
    citadel_sdk::time::date_of(now_ms).to_string()
}

/// A customer code: 2 letters and 7 digits (`PK0012345`), any case.
pub fn customer_code(raw: &str) -> Result<String> {
    let code = raw.trim().to_ascii_uppercase();
    let bytes = code.as_bytes();
    let ok = bytes.len() == 9
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..].iter().all(u8::is_ascii_digit);
    if ok {
        Ok(code)
    } else {
        Err(Error::new(
            422,
            "invalid_customer_code",
            "a customer code is 2 letters and 7 digits, e.g. PK0012345",
        ))
    }
}

/// Bill ids are 1–64 letters, digits, `.`, `_` and `-`.
pub fn is_bill_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn invalid_url(why: &str) -> Error {
    Error::new(422, "invalid_url", format!("`url` {why}"))
}

/// Check and normalise a billing API base URL: `http` or `https`, a DNS
/// host name (the city grants origins by name), an optional port and
/// path; no user, query or fragment. The trailing `/` is dropped.
pub fn normalise_url(raw: &str) -> Result<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(invalid_url("is required"));
    }
    if raw.len() > MAX_URL_LEN {
        return Err(invalid_url(&format!(
            "must be at most {MAX_URL_LEN} characters"
        )));
    }
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or_else(|| invalid_url("must be an absolute http or https URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(invalid_url("must use http or https"));
    }
    if rest.contains(['?', '#', '@']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid_url(
            "must not carry a user, a query, a fragment or spaces",
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| invalid_url("has a port that is not 1 to 65535"))?;
            (host, Some(port))
        }
        None => (authority, None),
    };
    let host = host.to_ascii_lowercase();
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(invalid_url("must name a host by its DNS name"));
    }
    if host
        .split('.')
        .all(|label| label.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid_url(
            "must name a host by its DNS name, not an IP address",
        ));
    }
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~' | b'%'));
    if !path_ok || path.contains("//") {
        return Err(invalid_url(
            "has a path with characters that are not allowed",
        ));
    }
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!(
        "{scheme}://{host}{port}{}",
        path.trim_end_matches('/')
    ))
}

/// `https://billing.huewaco.vn/api` → `https://billing.huewaco.vn` (the
/// origin the city must grant as `http:` + this).
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

/// The host (and port) of a URL, without its scheme: safe to show on a page.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_string()
}
