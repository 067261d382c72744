//! An order of tickets and its payment: stored in the app's kv (the owner's
//! own index in citizen kv), kept in step with its payment intent once per
//! intent, and, once paid, its tickets with unguessable codes and QR images.

use crate::calendar::Date;
use crate::catalogue::{self, TicketType};
use citadel_sdk::ids::now_ms;
use citadel_sdk::payments::{self, Intent, IntentStatus};
use citadel_sdk::{ids, kv, log, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Tickets per order.
pub const MAX_QUANTITY: u32 = 10;
/// How far ahead a visit may be booked.
pub const MAX_DAYS_AHEAD: i64 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the citizen to approve the current intent.
    Pending,
    /// The intent was cancelled or expired: no ticket; pay again to retry.
    Unpaid,
    /// Captured: the tickets are valid.
    Paid,
    /// The payment was refunded: the tickets are void.
    Refunded,
}

impl Status {
    pub fn id(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Unpaid => "unpaid",
            Status::Paid => "paid",
            Status::Refunded => "refunded",
        }
    }

    pub fn label(self, lang: &str) -> &'static str {
        match (self, lang == "en") {
            (Status::Pending, false) => "Chờ thanh toán",
            (Status::Pending, true) => "Awaiting payment",
            (Status::Unpaid, false) => "Chưa thanh toán",
            (Status::Unpaid, true) => "Not paid",
            (Status::Paid, false) => "Đã thanh toán",
            (Status::Paid, true) => "Paid",
            (Status::Refunded, false) => "Đã hoàn tiền",
            (Status::Refunded, true) => "Refunded",
        }
    }
}

/// One admission.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ticket {
    pub code: String,
    /// 1-based, within the order.
    pub number: u32,
}

/// What `ticket/{code}` holds: where a code belongs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketRef {
    pub order: String,
    pub number: u32,
}

/// What `used/{code}` (or `used/{code}/{site}` for a combined ticket) holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Use {
    pub at: u64,
    pub site: String,
}

/// An order as stored. `owner` is the citizen's pairwise id: never shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub owner: String,
    pub ticket: String,
    pub site: String,
    pub quantity: u32,
    pub unit_price: u64,
    pub amount: u64,
    pub visit_date: String,
    pub created_at: u64,
    pub status: Status,
    /// Payment attempts so far; the current intent's reference is
    /// `order-{id}-{attempt}`.
    pub attempt: u32,
    pub intent: Option<String>,
    /// The current intent's status as last seen.
    pub payment_status: Option<String>,
    pub confirm_url: Option<String>,
    pub expires_at: Option<u64>,
    pub paid_at: Option<u64>,
    pub tickets: Vec<Ticket>,
}

impl Order {
    pub fn ticket_type(&self) -> Option<&'static TicketType> {
        catalogue::ticket(&self.ticket)
    }

    pub fn date(&self) -> Option<Date> {
        citadel_sdk::time::parse_date(&self.visit_date).ok()
    }

    /// What the owner sees (no owner id), with the site's name from `geo`.
    pub fn view(&self, lang: &str, site_name: &str) -> Value {
        let ticket = self.ticket_type();
        json!({
            "id": self.id,
            "status": self.status.id(),
            "site": { "id": self.site, "name": site_name },
            "ticket": {
                "id": self.ticket,
                "name": ticket.map(|t| t.name(lang)),
                "kind": ticket.map(|t| t.kind.id()),
                "sites": ticket.map(|t| t.sites),
                "unit_price": self.unit_price,
            },
            "quantity": self.quantity,
            "amount": self.amount,
            "visit_date": self.visit_date,
            "created_at": self.created_at,
            "paid_at": self.paid_at,
            "attempt": self.attempt,
            "payment": {
                "intent": self.intent,
                "status": self.payment_status,
                "reference": self.intent.as_ref().map(|_| reference(&self.id, self.attempt)),
                "expires_at": self.expires_at,
            },
            "confirm_url": if self.status == Status::Pending { self.confirm_url.clone() } else { None },
            "tickets": self.tickets.iter().map(|t| json!({
                "code": t.code,
                "number": t.number,
                "qr": format!("api/tickets/{}/qr.svg", t.code),
                "used": uses(&t.code).unwrap_or_default().iter()
                    .map(|u| json!({ "site": u.site, "at": u.at }))
                    .collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The payment reference of an attempt: the host's idempotency key.
pub fn reference(id: &str, attempt: u32) -> String {
    format!("order-{id}-{attempt}")
}

/// The order id and attempt of a reference this app made.
pub fn parse_reference(reference: &str) -> Option<(&str, u32)> {
    let (id, attempt) = reference.strip_prefix("order-")?.rsplit_once('-')?;
    Some((id, attempt.parse().ok()?))
}

/// 64 random bits: std's hasher is keyed from the WASI random source, fresh
/// in every instance; the time and a counter are hashed in for good measure.
fn random(salt: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_ms());
    hasher.write_u64(salt);
    hasher.finish()
}

/// A new order id, sortable by time: `TO-` + 9 + 5 base-36 digits.
pub fn new_id() -> String {
    ids::sortable("TO")
}

pub fn is_order_id(id: &str) -> bool {
    ids::is_sortable("TO", id)
}

/// Crockford's base-32 digits: no I, L, O or U to misread at a gate.
const CODE_DIGITS: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a ticket code: 10 × 5 = 50 random bits.
pub const CODE_LEN: usize = 10;

/// A new ticket code: 10 Crockford base-32 characters, 50 random bits.
pub fn new_code(salt: u64) -> String {
    let mut bits = random(salt);
    (0..CODE_LEN)
        .map(|_| {
            let c = char::from(CODE_DIGITS[(bits & 31) as usize]);
            bits >>= 5;
            c
        })
        .collect()
}

/// A code as typed at a gate: trimmed, upper-cased, spaces and dashes
/// dropped, the letters people confuse read as Crockford does; `None` if it
/// cannot be a code.
pub fn normalise_code(text: &str) -> Option<String> {
    let code: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_DIGITS.contains(&b))).then_some(code)
}

fn order_key(id: &str) -> String {
    format!("order/{id}")
}

fn ticket_key(code: &str) -> String {
    format!("ticket/{code}")
}

/// The key marking a ticket used: `used/{code}`, or per site for a combined ticket.
pub fn used_key(code: &str, combo_site: Option<&str>) -> String {
    match combo_site {
        Some(site) => format!("used/{code}/{site}"),
        None => format!("used/{code}"),
    }
}

/// Every use of a ticket (one, or one per site of a combined ticket).
pub fn uses(code: &str) -> Result<Vec<Use>> {
    kv::keys(&format!("used/{code}"))?
        .iter()
        .filter_map(|key| kv::get_json::<Use>(key).transpose())
        .collect()
}

fn no_order(id: &str) -> Error {
    Error::new(404, "order_not_found", format!("no order `{id}`"))
}

/// Order `id`, whoever owns it (the hook and the gate need that).
pub fn load(id: &str) -> Result<Order> {
    if !is_order_id(id) {
        return Err(no_order(id));
    }
    kv::get_json(&order_key(id))?.ok_or_else(|| no_order(id))
}

/// Order `id` if `owner` placed it; the same 404 otherwise.
pub fn load_owned(id: &str, owner: &str) -> Result<Order> {
    let order = load(id)?;
    if order.owner != owner {
        return Err(no_order(id));
    }
    Ok(order)
}

/// Store a new order and the owner's index entry.
pub fn insert(order: &Order) -> Result<()> {
    if !kv::insert_new_json(&order_key(&order.id), order)? {
        return Err(Error::conflict(
            "an order with this id exists; send it again",
        ));
    }
    kv::citizen::set(&format!("orders/{}", order.id), b"1")?;
    Ok(())
}

/// The signed-in citizen's orders, newest first (the latest 50).
pub fn mine(owner: &str) -> Result<Vec<Order>> {
    let page = kv::citizen::list_keys("orders/", None, 1000)?;
    let mut orders = Vec::new();
    for key in page.keys.iter().rev().take(50) {
        let id = key.trim_start_matches("orders/");
        match load(id) {
            Ok(order) if order.owner == owner => orders.push(order),
            Ok(_) => {}
            Err(e) if e.status() == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(orders)
}

/// Change order `id` with `change` without losing a concurrent change.
pub fn update(id: &str, mut change: impl FnMut(&mut Order) -> Result<()>) -> Result<Order> {
    if !is_order_id(id) {
        return Err(no_order(id));
    }
    kv::update_json(&order_key(id), |current: Option<Order>| {
        let mut order = current.ok_or_else(|| no_order(id))?;
        change(&mut order)?;
        Ok(order)
    })
}

fn status_name(status: IntentStatus) -> &'static str {
    match status {
        IntentStatus::Pending => "pending",
        IntentStatus::Captured => "captured",
        IntentStatus::Cancelled => "cancelled",
        IntentStatus::Expired => "expired",
        IntentStatus::Refunded => "refunded",
    }
}

/// What `intent` means for `order`: the new status, if it changes anything.
fn effect(order: &Order, intent: &Intent) -> Option<Status> {
    let current = order.intent.as_deref() == Some(intent.id.as_str());
    match intent.status {
        // A capture counts whichever attempt it was (only one can be, since
        // a new attempt starts only after the last one ended unpaid).
        IntentStatus::Captured => {
            matches!(order.status, Status::Pending | Status::Unpaid).then_some(Status::Paid)
        }
        IntentStatus::Cancelled | IntentStatus::Expired => {
            (current && order.status == Status::Pending).then_some(Status::Unpaid)
        }
        IntentStatus::Refunded => (order.status == Status::Paid
            && order.intent.as_deref() == Some(intent.id.as_str()))
        .then_some(Status::Refunded),
        IntentStatus::Pending => None,
    }
    .or_else(|| {
        // Nothing to do but remember what the intent said.
        (current && order.payment_status.as_deref() != Some(status_name(intent.status)))
            .then_some(order.status)
    })
}

/// Write index entries for `quantity` fresh codes of order `id`.
fn issue_codes(id: &str, quantity: u32) -> Result<Vec<Ticket>> {
    let mut tickets = Vec::new();
    let mut salt = 1;
    while tickets.len() < quantity as usize {
        let code = new_code(salt);
        salt += 1;
        let number = tickets.len() as u32 + 1;
        let entry = TicketRef {
            order: id.to_string(),
            number,
        };
        if kv::insert_new_json(&ticket_key(&code), &entry)? {
            tickets.push(Ticket { code, number });
        } else if salt > 100 {
            return Err(Error::internal("could not find free ticket codes"));
        }
    }
    Ok(tickets)
}

/// Bring order `id` in step with `intent` (one of its attempts), once: a
/// capture issues the tickets, a cancellation or expiry leaves it unpaid, a
/// refund voids the tickets. Concurrent calls (the hook, a page view) agree
/// through compare-and-swap; only one issues tickets.
pub fn apply(order: Order, intent: &Intent) -> Result<Order> {
    if parse_reference(&intent.reference).map(|(id, _)| id) != Some(order.id.as_str()) {
        return Ok(order);
    }
    if effect(&order, intent).is_none() {
        return Ok(order);
    }
    // Codes are indexed before the order says "paid", so a paid order's
    // codes always resolve; codes of a losing concurrent call are removed.
    let fresh = if intent.status == IntentStatus::Captured && order.tickets.is_empty() {
        issue_codes(&order.id, order.quantity)?
    } else {
        Vec::new()
    };
    let updated = update(&order.id, |order| {
        let Some(status) = effect(order, intent) else {
            return Ok(());
        };
        if order.intent.as_deref() == Some(intent.id.as_str()) || status == Status::Paid {
            order.payment_status = Some(status_name(intent.status).to_string());
        }
        if status == Status::Paid && order.status != Status::Paid {
            order.intent = Some(intent.id.clone());
            if let Some((_, attempt)) = parse_reference(&intent.reference) {
                order.attempt = attempt;
            }
            order.paid_at = Some(now_ms());
            if order.tickets.is_empty() {
                order.tickets = fresh.clone();
            }
        }
        order.status = status;
        Ok(())
    });
    let keep = updated
        .as_ref()
        .map(|o| o.tickets.clone())
        .unwrap_or_default();
    for ticket in fresh.iter().filter(|t| !keep.contains(t)) {
        let _ = kv::delete(&ticket_key(&ticket.code));
    }
    let updated = updated?;
    if updated.status == Status::Paid && !fresh.is_empty() && updated.tickets == fresh {
        log::info(&format!(
            "order {} paid with {}: {} ticket(s) issued",
            updated.id,
            intent.id,
            updated.tickets.len()
        ));
    }
    Ok(updated)
}

/// Ask the host how the current intent stands and apply it (a pending order
/// only: the others change through the hook or a new attempt).
pub fn sync(order: Order) -> Result<Order> {
    if order.status != Status::Pending {
        return Ok(order);
    }
    let Some(intent_id) = order.intent.clone() else {
        return Ok(order);
    };
    let intent = payments::get(&intent_id)?;
    apply(order, &intent)
}

/// Start payment attempt `attempt` for an unpaid order (or the first one).
pub fn start_attempt(order: &Order, attempt: u32, description: &str) -> Result<Intent> {
    Ok(payments::create(
        order.amount,
        description,
        &reference(&order.id, attempt),
    )?)
}

/// The ticket with `code` and its order, if it exists and the order holds it.
pub fn find_ticket(code: &str) -> Result<Option<(Order, Ticket)>> {
    let Some(entry) = kv::get_json::<TicketRef>(&ticket_key(code))? else {
        return Ok(None);
    };
    let order = match load(&entry.order) {
        Ok(order) => order,
        Err(e) if e.status() == 404 => return Ok(None),
        Err(e) => return Err(e),
    };
    let ticket = order.tickets.iter().find(|t| t.code == code).cloned();
    Ok(ticket.map(|t| (order, t)))
}

/// The QR image of a code, as the `qrcode` crate's SVG (a standalone document).
pub fn qr_svg(code: &str) -> Result<String> {
    use qrcode::render::svg;
    use qrcode::{EcLevel, QrCode};
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)
        .map_err(|e| Error::internal(format!("could not draw the QR code: {e}")))?;
    Ok(qr
        .render::<svg::Color>()
        .min_dimensions(232, 232)
        .quiet_zone(true)
        .build())
}

/// The same QR image for inlining in a page: no XML prologue or namespace
/// (HTML needs neither), labelled for screen readers.
pub fn qr_inline(code: &str, label: &str) -> Result<String> {
    let svg = qr_svg(code)?;
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..]
        .replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
        .replacen(
            "<svg",
            &format!(
                "<svg class=\"qr\" role=\"img\" aria-label=\"{}\"",
                citadel_sdk::html::escape(label)
            ),
            1,
        ))
}
