//! A field report and its workflow: the states, who may move it between
//! them, the public view that carries no personal data, and its storage in
//! the app's kv (the report, its photos in ≤ 1 MiB chunks, its short code).
//!
//! A report has two names: its `id` (`PA-` and 14 base-36 digits, sortable
//! by time: the storage key, the API's and links' name) and, since codes
//! were introduced, its `code` (`PA-261126-0042`: Huế's date of filing as
//! ddmmyy and the day's number), the one citizens see, read out and type.
//! Either finds the report; reports filed before codes show their id.

use citadel_sdk::{kv, time, Error, Result};
use serde::{Deserialize, Serialize};

/// Photos a report may carry, and the size of each.
pub const MAX_PHOTOS: usize = 3;
pub const MAX_PHOTO_BYTES: usize = 2 * 1024 * 1024;
const CHUNK_BYTES: usize = 1024 * 1024;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    Assigned,
    InProgress,
    Resolved,
    Rejected,
}

impl Status {
    pub fn parse(text: &str) -> Option<Status> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    pub fn id(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Assigned => "assigned",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Rejected => "rejected",
        }
    }

    pub fn label(self, lang: &str) -> &'static str {
        let en = lang == "en";
        match self {
            Status::Received if en => "Received",
            Status::Received => "Đã tiếp nhận",
            Status::Assigned if en => "Assigned",
            Status::Assigned => "Đã phân công",
            Status::InProgress if en => "In progress",
            Status::InProgress => "Đang xử lý",
            Status::Resolved if en => "Resolved",
            Status::Resolved => "Đã xử lý xong",
            Status::Rejected if en => "Rejected",
            Status::Rejected => "Từ chối",
        }
    }

    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Rejected)
    }

    /// Whether staff may move a report from `self` to `next`.
    pub fn may_become(self, next: Status) -> bool {
        matches!(
            (self, next),
            (Status::Received, Status::Assigned)
                | (Status::Assigned, Status::InProgress)
                | (Status::InProgress, Status::Resolved)
                | (
                    Status::Received | Status::Assigned | Status::InProgress,
                    Status::Rejected
                )
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

/// Something with an id and a display name (a place, a ward, a unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub id: String,
    pub name: String,
}

/// One step of the report's history, as the public sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub status: Status,
    pub at: u64,
    /// The unit's note (for a rejection, the reason).
    pub note: Option<String>,
    /// The unit that acted, if staff did.
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Photo {
    pub content_type: String,
    pub bytes: usize,
}

/// A report as stored. `author` and `handler` are pairwise ids: personal,
/// never shown outside the app's own checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    /// The short code; empty for reports filed before codes existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    pub category: String,
    pub description: String,
    pub at: Position,
    pub place: Option<Named>,
    pub ward: Option<Named>,
    pub unit: Named,
    pub created_at: u64,
    pub deadline_at: u64,
    pub status: Status,
    pub history: Vec<Step>,
    pub photos: Vec<Photo>,
    pub rating: Option<u8>,
    pub author: String,
    pub handler: Option<String>,
}

/// What anyone may see of a report: no author, no handler, nothing personal.
#[derive(Debug, Serialize)]
pub struct PublicReport<'a> {
    pub id: &'a str,
    /// What to show the citizen: the short code (the id for old reports).
    pub code: &'a str,
    pub category: &'a str,
    pub description: &'a str,
    pub at: &'a Position,
    pub place: Option<&'a Named>,
    pub ward: Option<&'a Named>,
    pub unit: &'a Named,
    pub created_at: u64,
    pub deadline_at: u64,
    pub overdue: bool,
    pub status: Status,
    pub history: &'a [Step],
    pub photos: Vec<String>,
    pub rating: Option<u8>,
}

impl Report {
    /// The name to show: the short code, or the id of a report filed
    /// before codes existed.
    pub fn code(&self) -> &str {
        if self.code.is_empty() {
            &self.id
        } else {
            &self.code
        }
    }

    pub fn is_overdue(&self, now: u64) -> bool {
        self.status.is_open() && now > self.deadline_at
    }

    pub fn public(&self, now: u64) -> PublicReport<'_> {
        PublicReport {
            id: &self.id,
            code: self.code(),
            category: &self.category,
            description: &self.description,
            at: &self.at,
            place: self.place.as_ref(),
            ward: self.ward.as_ref(),
            unit: &self.unit,
            created_at: self.created_at,
            deadline_at: self.deadline_at,
            overdue: self.is_overdue(now),
            status: self.status,
            history: &self.history,
            photos: (0..self.photos.len())
                .map(|n| format!("api/reports/{}/photos/{n}", self.id))
                .collect(),
            rating: self.rating,
        }
    }
}

pub use citadel_sdk::ids::now_ms;

/// Report ids are `PA-` and 14 base-36 digits (`ids::sortable("PA")`).
pub fn is_report_id(id: &str) -> bool {
    citadel_sdk::ids::is_sortable("PA", id)
}

/// A new report's short code: `PA-`, Huế's date at `now` as ddmmyy, and
/// the day's number from the app's atomic counter (`0001`, …; a fifth digit
/// after 9999), so codes filed at the same moment never clash.
pub fn new_code(now: u64) -> Result<String> {
    let day = time::date_of(now);
    let n = kv::next_number(&format!("code-seq/{day}"))?;
    Ok(format!(
        "PA-{:02}{:02}{:02}-{n:04}",
        day.day(),
        day.month(),
        day.year().rem_euclid(100)
    ))
}

/// Whether `text` has the shape [`new_code`] gives (upper case).
pub fn is_report_code(text: &str) -> bool {
    let mut parts = text.split('-');
    let digits = |part: Option<&str>, len: std::ops::RangeInclusive<usize>| {
        part.is_some_and(|p| len.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    };
    parts.next() == Some("PA")
        && digits(parts.next(), 6..=6)
        && digits(parts.next(), 4..=9)
        && parts.next().is_none()
}

fn report_key(id: &str) -> String {
    format!("report/{id}")
}

fn code_key(code: &str) -> String {
    format!("code/{code}")
}

/// The id of the report named `name`: an id as it is, a code (any case)
/// through the code index.
fn resolve(name: &str) -> Result<String> {
    let missing = || Error::not_found(format!("no report `{name}`"));
    if is_report_id(name) {
        return Ok(name.to_string());
    }
    let code = name.trim().to_ascii_uppercase();
    if !is_report_code(&code) {
        return Err(missing());
    }
    kv::get_json::<String>(&code_key(&code))?
        .filter(|id| is_report_id(id))
        .ok_or_else(missing)
}

fn photo_key(id: &str, n: usize, chunk: usize) -> String {
    format!("photo/{id}/{n}/{chunk}")
}

/// The report named `name` (its id or its code).
pub fn load(name: &str) -> Result<Report> {
    let id = resolve(name)?;
    kv::get_json(&report_key(&id))?.ok_or_else(|| Error::not_found(format!("no report `{name}`")))
}

/// Change report `name` (its id or its code) with `change`, which sees the
/// current report and may refuse; a concurrent change is never overwritten
/// (compare-and-swap).
pub fn update(name: &str, mut change: impl FnMut(&mut Report) -> Result<()>) -> Result<Report> {
    let id = resolve(name)?;
    let id = id.as_str();
    kv::update_json(&report_key(id), |current: Option<Report>| {
        let mut report = current.ok_or_else(|| Error::not_found(format!("no report `{id}`")))?;
        change(&mut report)?;
        Ok(report)
    })
}

/// Every report, newest first.
pub fn all() -> Result<Vec<Report>> {
    let mut reports: Vec<Report> = kv::keys("report/")?
        .iter()
        .filter_map(|key| kv::get_json::<Report>(key).transpose())
        .collect::<Result<_>>()?;
    reports.reverse();
    Ok(reports)
}

/// A photo that passed the checks, before it is stored.
pub struct NewPhoto {
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

/// Accept a JPEG, PNG or WebP image of at most 2 MB, judged by its bytes.
pub fn check_photo(data: Vec<u8>) -> Result<NewPhoto> {
    if data.len() > MAX_PHOTO_BYTES {
        return Err(Error::new(
            413,
            "photo_too_large",
            format!("each photo must be at most {MAX_PHOTO_BYTES} bytes (2 MB)"),
        ));
    }
    let content_type = if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if data.len() > 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        "image/webp"
    } else {
        return Err(Error::new(
            415,
            "unsupported_photo",
            "photos must be JPEG, PNG or WebP images",
        ));
    };
    Ok(NewPhoto { content_type, data })
}

/// The newest-first index key of a report: its id's time digits
/// complemented (`0`↔`Z`), so ascending key order is newest first.
fn recent_key(id: &str) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let time = id.get(3..12).unwrap_or_default();
    let complement: String = time
        .bytes()
        .map(|b| {
            let value = DIGITS.iter().position(|d| *d == b).unwrap_or(0);
            char::from(DIGITS[35 - value])
        })
        .collect();
    format!("recent/{complement}/{id}")
}

/// Most reports one page of [`newest`] holds.
pub const MAX_PAGE: u32 = 100;

/// Up to `limit` reports, newest first, after the cursor `after` (from a
/// previous page); the cursor of the next page, if any.
pub fn newest(limit: u32, after: Option<&str>) -> Result<(Vec<Report>, Option<String>)> {
    let page = kv::list_keys("recent/", after, limit.clamp(1, MAX_PAGE))?;
    let reports = page
        .keys
        .iter()
        .filter_map(|key| key.rsplit('/').next())
        .filter_map(|id| kv::get_json::<Report>(&report_key(id)).transpose())
        .collect::<Result<_>>()?;
    Ok((reports, page.next))
}

/// Store the photos, the newest-first index entry, the code's entry, then
/// the report; if any write fails, remove what was written so no
/// half-filed report remains.
pub fn file(report: &Report, photos: &[NewPhoto]) -> Result<()> {
    let mut written = Vec::new();
    let result = (|| {
        for (n, photo) in photos.iter().enumerate() {
            for (c, chunk) in photo.data.chunks(CHUNK_BYTES).enumerate() {
                let key = photo_key(&report.id, n, c);
                kv::set(&key, chunk)?;
                written.push(key);
            }
        }
        let index = recent_key(&report.id);
        kv::set(&index, b"")?;
        written.push(index);
        if !report.code.is_empty() {
            let key = code_key(&report.code);
            if !kv::insert_new_json(&key, &report.id)? {
                return Err(Error::conflict(format!(
                    "the code {} is already taken; send the report again",
                    report.code
                )));
            }
            written.push(key);
        }
        if kv::insert_new_json(&report_key(&report.id), report)? {
            Ok(())
        } else {
            Err(Error::conflict(
                "a report with this id already exists; send it again",
            ))
        }
    })();
    if result.is_err() {
        for key in &written {
            let _ = kv::delete(key);
        }
    }
    result
}

/// Photo `n` of a report: its type and bytes.
pub fn photo(report: &Report, n: usize) -> Result<(String, Vec<u8>)> {
    let meta = report
        .photos
        .get(n)
        .ok_or_else(|| Error::not_found(format!("report {} has no photo {n}", report.id)))?;
    let mut data = Vec::with_capacity(meta.bytes);
    for c in 0..meta.bytes.div_ceil(CHUNK_BYTES) {
        let chunk = kv::get(&photo_key(&report.id, n, c))?
            .ok_or_else(|| Error::internal("a photo chunk is missing"))?;
        data.extend_from_slice(&chunk);
    }
    Ok((meta.content_type.clone(), data))
}
