//! `notes`: a citizen notice board kept in the app's kv store — the sample
//! of a mini-app with state behind a host call (capability `kv`).

use citadel_sdk::{kv, Error, Request, Response, Result, Router};
use serde::{Deserialize, Serialize};

const MAX_TEXT: usize = 2000;

#[derive(Serialize, Deserialize)]
struct Note {
    id: u64,
    text: String,
}

#[derive(Deserialize)]
struct NewNote {
    text: String,
}

fn note_key(id: u64) -> String {
    // Zero-padded so that key order is id order.
    format!("note/{id:020}")
}

fn all_notes() -> Result<Vec<Note>> {
    kv::keys("note/")?
        .iter()
        .filter_map(|key| kv::get_json::<Note>(key).transpose())
        .collect()
}

fn add_note(text: &str) -> Result<Note> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT {
        return Err(Error::invalid(format!(
            "`text` must be 1 to {MAX_TEXT} characters"
        )));
    }
    // Taken atomically: concurrent notes never share an id.
    let id = kv::next_number("next-id")?;
    let note = Note {
        id,
        text: text.to_string(),
    };
    if !kv::insert_new_json(&note_key(id), &note)? {
        return Err(Error::new(
            409,
            "write_conflict",
            format!("note {id} already exists; try again"),
        ));
    }
    Ok(note)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(req: &Request) -> Result<Response> {
    let items: String = all_notes()?
        .iter()
        .map(|n| format!("<li>{}</li>", escape(&n.text)))
        .collect();
    let base = escape(req.base_path());
    Ok(Response::html(format!(
        r#"<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Ghi chú</title></head>
<body><main><h1>Ghi chú / <span lang="en">Notes</span></h1><ul>{items}</ul>
<form method="post" action="{base}/notes"><label for="text">Ghi chú mới</label>
<input id="text" name="text" required maxlength="{MAX_TEXT}"><button>Lưu</button></form></main></body></html>"#
    )))
}

fn post_form(req: &Request) -> Result<Response> {
    let text = req
        .form()
        .into_iter()
        .find(|(k, _)| k == "text")
        .map(|(_, v)| v)
        .unwrap_or_default();
    add_note(&text)?;
    Ok(Response::redirect(&format!("{}/", req.base_path())))
}

fn list(_req: &Request) -> Result<Response> {
    Response::json(&all_notes()?)
}

fn create(req: &Request) -> Result<Response> {
    let new: NewNote = req.json()?;
    Ok(Response::json(&add_note(&new.text)?)?.with_status(201))
}

fn parse_id(req: &Request) -> Result<u64> {
    req.param("id")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Error::bad_request("the note id must be a number"))
}

fn show(req: &Request) -> Result<Response> {
    let id = parse_id(req)?;
    let note: Note =
        kv::get_json(&note_key(id))?.ok_or_else(|| Error::not_found(format!("no note {id}")))?;
    Response::json(&note)
}

fn remove(req: &Request) -> Result<Response> {
    let id = parse_id(req)?;
    if !kv::delete(&note_key(id))? {
        return Err(Error::not_found(format!("no note {id}")));
    }
    Ok(Response::new(204))
}

fn router() -> Router {
    Router::new()
        .get("/", page)
        .post("/notes", post_form)
        .get("/api/notes", list)
        .post("/api/notes", create)
        .get("/api/notes/:id", show)
        .delete("/api/notes/:id", remove)
}

citadel_sdk::export_app!(router);
