//! `multipart/form-data` bodies (HTML forms with file inputs), parsed with
//! the `multer` crate over the request body the host already capped.

use crate::{Error, Request, Result};

/// One field or file of a multipart form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The form field's name.
    pub name: String,
    /// The file's name, for file inputs.
    pub filename: Option<String>,
    /// The part's declared type, e.g. `image/jpeg`.
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

impl Part {
    /// The data as text (a plain form field).
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.data)
            .map_err(|_| Error::bad_request(format!("the field `{}` is not UTF-8", self.name)))
    }
}

impl Request {
    /// Whether the body is `multipart/form-data`.
    pub fn is_multipart(&self) -> bool {
        self.header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("multipart/form-data"))
    }

    /// The body's parts, in order; 400 if it is not a well-formed
    /// `multipart/form-data` body.
    pub fn multipart(&self) -> Result<Vec<Part>> {
        let content_type = self.header("content-type").unwrap_or_default();
        let boundary = multer::parse_boundary(content_type).map_err(|_| {
            Error::bad_request("expected a multipart/form-data body with a boundary")
        })?;
        let body = bytes::Bytes::copy_from_slice(self.body());
        let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
        let mut form = multer::Multipart::new(stream, boundary);
        futures::executor::block_on(async move {
            let mut parts = Vec::new();
            while let Some(field) = form.next_field().await.map_err(malformed)? {
                let name = field.name().unwrap_or_default().to_string();
                let filename = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(|m| m.essence_str().to_string());
                let data = field.bytes().await.map_err(malformed)?.to_vec();
                parts.push(Part {
                    name,
                    filename,
                    content_type,
                    data,
                });
            }
            Ok(parts)
        })
    }
}

fn malformed(e: multer::Error) -> Error {
    Error::bad_request(format!("malformed multipart body: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;

    #[test]
    fn fields_and_files_come_out_in_order() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\nwaste\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\u{1}\u{2}\r\n--XyZ--\r\n";
        let request = Request::new(Method::Post, "/")
            .with_header("content-type", "multipart/form-data; boundary=XyZ")
            .with_body(body);
        assert!(request.is_multipart());
        let parts = request.multipart().unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].text().unwrap()),
            ("category", "waste")
        );
        assert_eq!(parts[1].filename.as_deref(), Some("a.jpg"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(parts[1].data, vec![1, 2]);
    }

    #[test]
    fn a_broken_body_is_a_bad_request() {
        let request = Request::new(Method::Post, "/")
            .with_header("content-type", "multipart/form-data; boundary=XyZ")
            .with_body("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end");
        assert_eq!(request.multipart().unwrap_err().status(), 400);
        let plain = Request::new(Method::Post, "/").with_header("content-type", "text/plain");
        assert_eq!(plain.multipart().unwrap_err().status(), 400);
    }
}
