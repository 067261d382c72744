//! One reader for what a page or an API client submits: an HTML form
//! (urlencoded or multipart, with files) or a JSON object, as text fields —
//! so a handler serves both its page and its JSON API.

use crate::{Error, Request, Result};

/// The text fields and uploaded files of a submission.
pub struct Form {
    fields: Vec<(String, String)>,
    /// Non-empty uploaded files, in order.
    pub files: Vec<Vec<u8>>,
}

impl Form {
    /// Read the body by its content type: `multipart/form-data`,
    /// `application/json` (an object; numbers and booleans become text,
    /// `null` counts as absent), or
    /// else `application/x-www-form-urlencoded`.
    pub fn read(req: &Request) -> Result<Form> {
        let content_type = req.header("content-type").unwrap_or_default();
        if req.is_multipart() {
            let mut form = Form {
                fields: Vec::new(),
                files: Vec::new(),
            };
            for part in req.multipart()? {
                if part.filename.is_some() {
                    // An empty file input still sends a part with no bytes.
                    if !part.data.is_empty() {
                        form.files.push(part.data);
                    }
                } else {
                    form.fields
                        .push((part.name.clone(), part.text()?.to_string()));
                }
            }
            return Ok(form);
        }
        let fields = if content_type.starts_with("application/json") {
            let object: serde_json::Map<String, serde_json::Value> = req.json()?;
            object
                .into_iter()
                .filter_map(|(k, v)| match v {
                    // `null` is a field not given.
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some((k, s)),
                    other => Some((k, other.to_string())),
                })
                .collect()
        } else {
            req.form()
        };
        Ok(Form {
            fields,
            files: Vec::new(),
        })
    }

    /// The field `name`, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The field `name`, or 422 naming it.
    pub fn required(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::invalid(format!("`{name}` is required")))
    }

    /// The field `name` as a number, if present; 422 if it is not one.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        self.get(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| Error::invalid(format!("`{name}` must be a number")))
            })
            .transpose()
    }
}

impl Request {
    /// Whether the caller is a browser that wants a page back, not JSON.
    pub fn wants_html(&self) -> bool {
        self.header("accept")
            .is_some_and(|a| a.contains("text/html"))
    }

    /// The signed-in citizen's pairwise id, or the standard 401.
    pub fn require_citizen(&self) -> Result<&str> {
        self.citizen()
            .ok_or_else(|| Error::new(401, "not_signed_in", "sign in to Citadel to do this"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;

    #[test]
    fn json_and_urlencoded_read_the_same() {
        let json = Request::new(Method::Post, "/")
            .with_header("content-type", "application/json")
            .with_body(r#"{"status":"assigned","rating":5,"note":null}"#);
        let form = Request::new(Method::Post, "/")
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_body("status=assigned&rating=5&note=+");
        for req in [json, form] {
            let fields = Form::read(&req).unwrap();
            assert_eq!(fields.get("status"), Some("assigned"));
            assert_eq!(fields.number::<u8>("rating").unwrap(), Some(5));
            assert_eq!(fields.get("note"), None);
            assert_eq!(fields.required("note").unwrap_err().status(), 422);
        }
    }
}
