//! `public-services` (dịch vụ công), published by the city: the catalogue
//! of administrative procedures, online dossiers prefilled from the
//! citizen's identity after consent, the fee paid through `payments`, the
//! workflow driven by the public-service centre's staff, a notification at
//! each step and a satisfaction rating.

mod catalogue;
mod dossier;
mod pages;

use catalogue::Procedure;
use citadel_sdk::identity::{self, Profile};
use citadel_sdk::{ids, log, notify, payments, Error, Form, Request, Response, Result, Router};
use dossier::{Applicant, Dossier, Status, Step};
use serde_json::{json, Value};

/// The unit whose staff handle dossiers.
pub(crate) const STAFF_UNIT: &str = "trung-tam-hcc";
const MAX_DETAILS_CHARS: usize = 4000;

fn router() -> Router {
    Router::new()
        .get("/", pages::catalogue)
        .get("/procedures/:id", pages::procedure)
        .get("/procedures/:id/apply", pages::apply)
        .get("/dossiers", pages::my_dossiers)
        .get("/dossiers/:id", pages::dossier)
        .get("/staff", pages::staff)
        .get("/api/procedures", list_procedures)
        .get("/api/procedures/:id", get_procedure)
        .get("/api/procedures/:id/prefill", prefill)
        .get("/api/dossiers", mine)
        .post("/api/dossiers", submit)
        .get("/api/dossiers/:id", get_dossier)
        .post("/api/dossiers/:id/pay", pay)
        .post("/api/dossiers/:id/status", change_status)
        .post("/api/dossiers/:id/supplement", supplement)
        .post("/api/dossiers/:id/rating", rate)
        .get("/api/staff/dossiers", staff_queue)
        .get("/api/stats", stats)
        .post("/payments/hook", payment_hook)
}

citadel_sdk::export_app!(router);

pub(crate) fn procedure_or_404(id: &str) -> Result<&'static Procedure> {
    catalogue::find(id).ok_or_else(|| Error::not_found(format!("no procedure `{id}`")))
}

pub(crate) fn procedure_json(p: &Procedure) -> Value {
    json!({
        "id": p.id,
        "name": { "vi": p.name_vi, "en": p.name_en },
        "field": p.field,
        "agency": p.agency,
        "documents": p.documents,
        "processing_days": p.processing_days,
        "fee": p.fee,
        "fully_online": p.fully_online,
    })
}

/// Procedures matching `q` (any word of the name, either language) and `field`.
pub(crate) fn matching_procedures(req: &Request) -> Vec<&'static Procedure> {
    let query = req.query("q").unwrap_or_default().to_lowercase();
    let field = req.query("field");
    catalogue::PROCEDURES
        .iter()
        .filter(|p| field.as_deref().is_none_or(|f| p.field == f))
        .filter(|p| {
            query.split_whitespace().all(|word| {
                p.name_vi.to_lowercase().contains(word) || p.name_en.to_lowercase().contains(word)
            })
        })
        .collect()
}

fn list_procedures(req: &Request) -> Result<Response> {
    let procedures: Vec<Value> = matching_procedures(req)
        .into_iter()
        .map(procedure_json)
        .collect();
    Response::json(&json!({ "procedures": procedures }))
}

fn get_procedure(req: &Request) -> Result<Response> {
    Response::json(&procedure_json(procedure_or_404(
        req.param("id").unwrap_or_default(),
    )?))
}

/// The identity fields that prefill a dossier: with `?`, a missing consent
/// is the 428 that asks for it (no prefill without consent).
pub(crate) fn applicant() -> Result<Applicant> {
    let Profile {
        name,
        national_id,
        address,
        birth_date,
        ..
    } = identity::profile(&catalogue::PREFILL)?;
    Ok(Applicant {
        name: name.unwrap_or_default(),
        national_id: national_id.unwrap_or_default(),
        address: address.unwrap_or_default(),
        birth_date: birth_date.unwrap_or_default(),
    })
}

fn prefill(req: &Request) -> Result<Response> {
    let procedure = procedure_or_404(req.param("id").unwrap_or_default())?;
    req.require_citizen()?;
    Response::json(&json!({ "procedure": procedure.id, "applicant": applicant()? }))
}

/// Tell the dossier's owner about it; a failure is logged, never undoes the change.
fn tell(dossier: &Dossier, title: String, body: String) {
    let link = format!("/dossiers/{}", dossier.id);
    if let Err(e) = notify::send_to(&dossier.owner, &title, &body, Some(&link)) {
        log::warn(&format!(
            "could not notify about dossier {}: {e:?}",
            dossier.id
        ));
    }
}

pub(crate) fn dossier_json(d: &Dossier) -> Value {
    let procedure = catalogue::find(&d.procedure);
    json!({
        "id": d.id,
        "procedure": {
            "id": d.procedure,
            "name": procedure.map(|p| json!({ "vi": p.name_vi, "en": p.name_en })),
        },
        "applicant": d.applicant,
        "details": d.details,
        "fee": d.fee,
        "paid": d.paid,
        "confirm_url": d.payment.as_ref().filter(|_| d.status == Status::AwaitingPayment).map(|p| &p.confirm_url),
        "status": d.status,
        "history": d.history,
        "rating": d.rating,
        "created_at": d.created_at,
    })
}

fn answer(req: &Request, status: u16, d: &Dossier) -> Result<Response> {
    if req.wants_html() {
        return Ok(Response::redirect(&format!(
            "{}/dossiers/{}",
            req.base_path(),
            d.id
        )));
    }
    Ok(Response::json(&dossier_json(d))?.with_status(status))
}

fn submit(req: &Request) -> Result<Response> {
    let owner = req.require_citizen()?.to_string();
    let form = Form::read(req)?;
    let procedure = catalogue::find(form.required("procedure")?)
        .ok_or_else(|| Error::invalid("`procedure` is not in the catalogue"))?;
    let details = form.get("details").unwrap_or_default().to_string();
    if details.chars().count() > MAX_DETAILS_CHARS {
        return Err(Error::invalid(format!(
            "`details` must be at most {MAX_DETAILS_CHARS} characters"
        )));
    }
    let applicant = applicant()?;
    let now = ids::now_ms();
    let status = if procedure.fee > 0 {
        Status::AwaitingPayment
    } else {
        Status::Submitted
    };
    let dossier = Dossier {
        id: ids::sortable("HS"),
        procedure: procedure.id.to_string(),
        applicant,
        details,
        owner,
        fee: procedure.fee,
        paid: procedure.fee == 0,
        payment: None,
        status,
        history: vec![Step {
            status,
            at: now,
            note: None,
        }],
        rating: None,
        created_at: now,
    };
    dossier::create(&dossier)?;
    let dossier = if procedure.fee > 0 {
        dossier::start_payment(&dossier.id, &dossier.owner, procedure.name_vi)?
    } else {
        dossier
    };
    tell(
        &dossier,
        format!("Hồ sơ {}: {}", dossier.id, status.label("vi")),
        format!("{} – {}", procedure.name_vi, status.label("vi")),
    );
    if req.wants_html() {
        if let Some(payment) = &dossier.payment {
            return Ok(Response::redirect(&payment.confirm_url));
        }
    }
    answer(req, 201, &dossier)
}

/// The dossier if the caller owns it or is staff; 404 for anyone else.
fn visible(req: &Request, id: &str) -> Result<Dossier> {
    let me = req.require_citizen()?;
    let (dossier, submitted_now) = dossier::settle(id)?;
    if submitted_now {
        announce_payment(&dossier);
    }
    if dossier.owner == me || identity::require_role(STAFF_UNIT, None).is_ok() {
        Ok(dossier)
    } else {
        Err(Error::not_found(format!("no dossier `{id}`")))
    }
}

fn announce_payment(dossier: &Dossier) {
    tell(
        dossier,
        format!("Hồ sơ {}: đã nộp lệ phí", dossier.id),
        "Đã nhận lệ phí; hồ sơ của bạn đã được nộp.".to_string(),
    );
}

fn get_dossier(req: &Request) -> Result<Response> {
    let dossier = visible(req, req.param("id").unwrap_or_default())?;
    Response::json(&dossier_json(&dossier))
}

/// The signed-in citizen's dossiers, newest first, payments settled.
pub(crate) fn my_dossiers(req: &Request) -> Result<Vec<Dossier>> {
    let me = req.require_citizen()?.to_string();
    dossier::all()?
        .into_iter()
        .filter(|d| d.owner == me)
        .map(|d| {
            let (settled, submitted_now) = dossier::settle(&d.id)?;
            if submitted_now {
                announce_payment(&settled);
            }
            Ok(settled)
        })
        .collect()
}

fn mine(req: &Request) -> Result<Response> {
    let dossiers: Vec<Value> = my_dossiers(req)?.iter().map(dossier_json).collect();
    Response::json(&json!({ "dossiers": dossiers }))
}

fn pay(req: &Request) -> Result<Response> {
    let id = req.param("id").unwrap_or_default();
    let me = req.require_citizen()?.to_string();
    let current = dossier::load(id)?;
    let name = catalogue::find(&current.procedure).map_or("", |p| p.name_vi);
    let dossier = dossier::start_payment(id, &me, name)?;
    let confirm_url = dossier
        .payment
        .as_ref()
        .map(|p| p.confirm_url.clone())
        .unwrap_or_default();
    if req.wants_html() {
        return Ok(Response::redirect(&confirm_url));
    }
    Ok(Response::json(&dossier_json(&dossier))?.with_status(201))
}

fn change_status(req: &Request) -> Result<Response> {
    let id = req.param("id").unwrap_or_default();
    req.require_citizen()?;
    let form = Form::read(req)?;
    let next = form.get("status").and_then(Status::parse).ok_or_else(|| {
        Error::invalid("`status` must be accepted, processing, result_ready or returned")
    })?;
    identity::require_role(STAFF_UNIT, None)?;
    let note = form.get("note").map(str::to_string);
    if next == Status::Returned && note.is_none() {
        return Err(Error::invalid("say in `note` what the citizen must add"));
    }
    let dossier = dossier::update(id, |d| {
        if !d.status.staff_may_make(next) {
            return Err(Error::conflict(format!(
                "a dossier that is {} cannot become {}",
                d.status.id(),
                next.id()
            )));
        }
        d.status = next;
        d.history.push(Step {
            status: next,
            at: ids::now_ms(),
            note: note.clone(),
        });
        Ok(())
    })?;
    let mut body = format!("Hồ sơ {}: {}.", dossier.id, next.label("vi"));
    if let Some(note) = &note {
        body.push_str(&format!(" {note}"));
    }
    tell(
        &dossier,
        format!("Hồ sơ {}: {}", dossier.id, next.label("vi")),
        body,
    );
    answer(req, 200, &dossier)
}

fn supplement(req: &Request) -> Result<Response> {
    let id = req.param("id").unwrap_or_default();
    let me = req.require_citizen()?.to_string();
    let form = Form::read(req)?;
    let note = form.required("note")?.to_string();
    if note.chars().count() > MAX_DETAILS_CHARS {
        return Err(Error::invalid("the supplement is too long"));
    }
    let dossier = dossier::update(id, |d| {
        if d.owner != me {
            return Err(Error::not_found(format!("no dossier `{id}`")));
        }
        if d.status != Status::Returned {
            return Err(Error::conflict(
                "only a returned dossier takes a supplement",
            ));
        }
        d.status = Status::Submitted;
        d.details = format!("{}\n\n[Bổ sung] {note}", d.details);
        d.history.push(Step {
            status: Status::Submitted,
            at: ids::now_ms(),
            note: Some(note.clone()),
        });
        Ok(())
    })?;
    answer(req, 200, &dossier)
}

fn rate(req: &Request) -> Result<Response> {
    let id = req.param("id").unwrap_or_default();
    let me = req.require_citizen()?.to_string();
    let rating: u8 = Form::read(req)?
        .number("rating")?
        .filter(|r| (1..=5).contains(r))
        .ok_or_else(|| Error::invalid("`rating` must be a whole number from 1 to 5"))?;
    let dossier = dossier::update(id, |d| {
        if d.owner != me {
            return Err(Error::not_found(format!("no dossier `{id}`")));
        }
        if d.status != Status::ResultReady {
            return Err(Error::conflict("rate a dossier once its result is ready"));
        }
        if d.rating.is_some() {
            return Err(Error::conflict("this dossier is already rated"));
        }
        d.rating = Some(rating);
        Ok(())
    })?;
    answer(req, 200, &dossier)
}

/// Dossiers for the centre's staff: paid ones first by age, then unpaid.
pub(crate) fn queue(req: &Request) -> Result<Vec<Dossier>> {
    req.require_citizen()?;
    identity::require_role(STAFF_UNIT, None)?;
    let mut dossiers = dossier::all()?;
    dossiers.sort_by_key(|d| (d.status == Status::AwaitingPayment, d.created_at));
    Ok(dossiers)
}

fn staff_queue(req: &Request) -> Result<Response> {
    let dossiers: Vec<Value> = queue(req)?.iter().map(dossier_json).collect();
    Response::json(&json!({ "dossiers": dossiers }))
}

/// Public figures: dossiers by status, online share, satisfaction.
fn stats(_req: &Request) -> Result<Response> {
    let dossiers = dossier::all()?;
    let mut by_status = serde_json::Map::new();
    for d in &dossiers {
        let count = by_status
            .entry(d.status.id().to_string())
            .or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + 1);
    }
    let ratings: Vec<u8> = dossiers.iter().filter_map(|d| d.rating).collect();
    let satisfied = ratings.iter().filter(|r| **r >= 4).count();
    let online = catalogue::PROCEDURES
        .iter()
        .filter(|p| p.fully_online)
        .count();
    Response::json(&json!({
        "dossiers": dossiers.len(),
        "by_status": by_status,
        "ratings": ratings.len(),
        "satisfaction": (!ratings.is_empty()).then(|| satisfied as f64 / ratings.len() as f64),
        "procedures": catalogue::PROCEDURES.len(),
        "fully_online": online,
    }))
}

/// The host tells the app about a captured (or refunded) fee; settle the
/// dossier it names. Safe to receive twice.
fn payment_hook(req: &Request) -> Result<Response> {
    let event = payments::hook_event(req)?;
    if let Some(id) = dossier::dossier_of_reference(&event.intent.reference) {
        let (dossier, submitted_now) = dossier::settle(id)?;
        if submitted_now {
            announce_payment(&dossier);
        }
    }
    Ok(Response::new(204))
}
