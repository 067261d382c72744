//! Property tests (proptest) over the SDK's parsers of what a caller sends:
//! `multipart/form-data` bodies (`Request::multipart`) and submitted forms
//! (`Form::read`: multipart, JSON or urlencoded).

use citadel_sdk::{Form, Method, Part, Request};
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// Cases per property: `CITADEL_PROPTEST_CASES`, or a number small enough
/// for `cargo test --workspace` in a debug build.
fn cases() -> u32 {
    std::env::var("CITADEL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(2_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // A failure found is kept as a named regression test in this file.
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    }
}

/// Any string: mostly from arbitrary bytes, sometimes any Unicode.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        proptest::string::string_regex(&format!("[\\s\\S]{{0,{max}}}")).unwrap(),
    ]
}

fn post(content_type: &str, body: impl Into<Vec<u8>>) -> Request {
    Request::new(Method::Post, "/")
        .with_header("content-type", content_type)
        .with_body(body)
}

// ---------------------------------------------------------------------------
// Multipart bodies
// ---------------------------------------------------------------------------

/// One part to encode.
#[derive(Debug, Clone)]
struct PartSpec {
    name: String,
    filename: Option<String>,
    /// The `Content-Type` header written, and its essence.
    content_type: Option<(String, String)>,
    data: Vec<u8>,
}

/// Header text safe inside a quoted `Content-Disposition` parameter: any
/// Unicode letter, digit or punctuation but `"`, `\`, `;`, CR and LF.
fn quoted_text() -> impl Strategy<Value = String> {
    "[\\p{L}\\p{N} _.,:()\\[\\]{}@!+=*&^%$#~'/-]{1,24}"
}

fn part_spec() -> impl Strategy<Value = PartSpec> {
    (
        quoted_text(),
        proptest::option::of(quoted_text()),
        proptest::option::of(select(
            &[
                ("image/jpeg", "image/jpeg"),
                ("text/plain", "text/plain"),
                ("text/plain; charset=utf-8", "text/plain"),
                ("application/octet-stream", "application/octet-stream"),
                ("Image/PNG", "image/png"),
            ][..],
        )),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(name, filename, content_type, data)| PartSpec {
            name,
            filename,
            content_type: content_type.map(|(h, e)| (h.to_string(), e.to_string())),
            data,
        })
}

fn encode(boundary: &str, parts: &[PartSpec]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = &part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some((header, _)) = &part.content_type {
            body.extend_from_slice(format!("Content-Type: {header}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Content types near a multipart one: odd boundaries and parameters.
fn multipart_content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("multipart/form-data; boundary=XyZ".to_string()),
        select(
            &[
                "multipart/form-data",
                "multipart/form-data; boundary=",
                "multipart/form-data; boundary=\"\"",
                "multipart/form-data; boundary=\"XyZ\"",
                "MULTIPART/FORM-DATA; BOUNDARY=XyZ",
                "multipart/form-data; boundary=XyZ; boundary=abc",
                "multipart/form-data;boundary=XyZ;charset=utf-8",
                "multipart/form-data; boundary=\"X\\\"y\"",
                "multipart/form-data; boundary=\u{0}",
                "multipart/form-data; boundary=đường",
                "multipart/mixed; boundary=XyZ",
                "multipart/form-data; boundary=--",
                "multipart/form-data; boundary=-",
                "multipart/form-data; boundary= XyZ ",
            ][..],
        )
        .prop_map(str::to_string),
        "multipart/form-data; boundary=[\\s\\S]{0,80}",
        any_text(60).prop_map(|s| format!("multipart/form-data{s}")),
    ]
}

/// Damage to a well-formed body.
#[derive(Debug, Clone)]
enum BodyMutation {
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Flip(Index, u8),
    Duplicate(Index, Index, usize),
}

/// Bytes that matter to a multipart reader.
const PIECES: &[&str] = &[
    "\r\n",
    "\n",
    "\r",
    "\0",
    "--",
    "--XyZ",
    "--XyZ--",
    "\r\n--XyZ\r\n",
    "\r\n\r\n",
    ": ",
    ";",
    "\"",
    "\\",
    "Content-Disposition: form-data; name=\"a\"\r\n",
    "Content-Disposition: form-data; name*=UTF-8''%E1%BB%A9ng\r\n",
    "Content-Disposition: attachment; filename=\"../../etc/passwd\"\r\n",
    "Content-Type: multipart/mixed; boundary=inner\r\n",
    "Content-Type: \u{1}\r\n",
    "Content-Length: 99999999999999999999999\r\n",
    "Content-Length: -1\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "X-\u{7f}: \u{85}\r\n",
    "đường",
    "\u{feff}",
];

fn body_mutation() -> impl Strategy<Value = BodyMutation> {
    let piece = prop_oneof![
        select(PIECES).prop_map(|s| s.as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 1..16),
    ];
    prop_oneof![
        any::<Index>().prop_map(BodyMutation::Truncate),
        (any::<Index>(), piece).prop_map(|(i, p)| BodyMutation::Insert(i, p)),
        (any::<Index>(), 1..32usize).prop_map(|(i, n)| BodyMutation::Delete(i, n)),
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| BodyMutation::Flip(i, x)),
        (any::<Index>(), any::<Index>(), 1..200usize)
            .prop_map(|(a, b, n)| BodyMutation::Duplicate(a, b, n)),
    ]
}

fn mutate(body: &mut Vec<u8>, mutation: &BodyMutation) {
    let len = body.len();
    match mutation {
        BodyMutation::Truncate(i) => body.truncate(i.index(len + 1)),
        BodyMutation::Insert(i, piece) => {
            let at = i.index(len + 1);
            body.splice(at..at, piece.iter().copied());
        }
        BodyMutation::Delete(i, n) if len > 0 => {
            let at = i.index(len);
            body.drain(at..(at + n).min(len));
        }
        BodyMutation::Flip(i, x) if len > 0 => body[i.index(len)] ^= x,
        BodyMutation::Duplicate(from, to, n) if len > 0 => {
            let from = from.index(len);
            let piece = body[from..(from + n).min(len)].to_vec();
            let to = to.index(len + 1);
            body.splice(to..to, piece);
        }
        _ => {}
    }
}

/// Read the parts: never a panic; a refusal is a 400.
fn read_multipart(request: &Request) -> Result<Option<Vec<Part>>, TestCaseError> {
    match request.multipart() {
        Ok(parts) => Ok(Some(parts)),
        Err(e) => {
            prop_assert_eq!(e.status(), 400, "{:?}", e);
            prop_assert!(!e.message().is_empty());
            Ok(None)
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any content type and body: parts, or a 400.
    #[test]
    fn multipart_arbitrary_body_is_refused_with_a_bad_request(
        content_type in prop_oneof![multipart_content_type(), any_text(60)],
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2000),
            proptest::collection::vec(select(PIECES), 0..30).prop_map(|p| p.concat().into_bytes()),
        ],
    ) {
        let request = post(&content_type, body);
        if let Some(parts) = read_multipart(&request)? {
            for part in &parts {
                let _ = part.text();
            }
        }
    }

    /// Well-formed parts, encoded, come back as they went in, in order.
    #[test]
    fn multipart_round_trips(
        boundary in "[0-9a-zA-Z'()+_,./:=?-]{0,60}[0-9a-zA-Z'()+_,./:=?-]",
        parts in proptest::collection::vec(part_spec(), 0..6),
        quoted in any::<bool>(),
    ) {
        let delimiter = format!("\r\n--{boundary}");
        prop_assume!(parts.iter().all(|p| !contains(&p.data, delimiter.as_bytes())
            && !p.data.starts_with(format!("--{boundary}").as_bytes())));
        // Unquoted, a boundary must be an RFC 2045 token.
        let quoted = quoted || boundary.contains(['(', ')', ',', '/', ':', '=', '?', '\'']);
        let content_type = if quoted {
            format!("multipart/form-data; boundary=\"{boundary}\"")
        } else {
            format!("multipart/form-data; boundary={boundary}")
        };
        let request = post(&content_type, encode(&boundary, &parts));
        prop_assert!(request.is_multipart());
        let read = request.multipart();
        prop_assert!(read.is_ok(), "{:?}", read.err());
        let read = read.unwrap();
        prop_assert_eq!(read.len(), parts.len());
        for (got, sent) in read.iter().zip(&parts) {
            prop_assert_eq!(&got.name, &sent.name);
            prop_assert_eq!(&got.filename, &sent.filename);
            prop_assert_eq!(got.content_type.as_deref(), sent.content_type.as_ref().map(|(_, e)| e.as_str()));
            prop_assert_eq!(&got.data, &sent.data);
        }
    }

    /// A well-formed body with one to four mutations (cut short, control
    /// characters and line breaks in headers, huge lengths, nested
    /// multipart, repeated boundaries): parts, or a 400.
    #[test]
    fn multipart_mutated_never_panics(
        parts in proptest::collection::vec(part_spec(), 1..4),
        mutations in proptest::collection::vec(body_mutation(), 1..5),
        content_type in multipart_content_type(),
    ) {
        let mut body = encode("XyZ", &parts);
        for mutation in &mutations {
            mutate(&mut body, mutation);
        }
        read_multipart(&post(&content_type, body))?;
    }
}

// ---------------------------------------------------------------------------
// Forms
// ---------------------------------------------------------------------------

/// Read a form: never a panic; a refusal is a 400 (unreadable) or a 422
/// (a field that is not text); the accessors never panic either.
fn read_form(request: &Request, probes: &[String]) -> Result<(), TestCaseError> {
    match Form::read(request) {
        Ok(form) => {
            for name in probes {
                if let Some(value) = form.get(name) {
                    prop_assert!(!value.is_empty() && value.trim() == value);
                }
                if let Err(e) = form.required(name) {
                    prop_assert_eq!(e.status(), 422);
                }
                for status in [
                    form.number::<u64>(name).err().map(|e| e.status()),
                    form.number::<f64>(name).err().map(|e| e.status()),
                    form.number::<i8>(name).err().map(|e| e.status()),
                ]
                .into_iter()
                .flatten()
                {
                    prop_assert_eq!(status, 422);
                }
            }
        }
        Err(e) => {
            prop_assert!(matches!(e.status(), 400 | 422), "{:?}", e);
        }
    }
    Ok(())
}

/// JSON texts near an object of fields: wrong types, deep nesting,
/// duplicate keys, escapes, huge numbers.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        select(
            &[
                "{}",
                "[]",
                "null",
                "\"a\"",
                "{\"a\":\"1\",\"a\":\"2\"}",
                "{\"a\":1e999}",
                "{\"a\":-0}",
                "{\"a\":123456789012345678901234567890}",
                "{\"a\":\"\\ud800\"}",
                "{\"a\":\"\\u0000\"}",
                "{\"a\":{\"b\":[1,2,{\"c\":null}]}}",
                "{\"a\":true,\"b\":false,\"c\":null}",
                "{\"a\":\"x\"",
                "{\"a\" \"x\"}",
                "{'a':'x'}",
                "\u{feff}{\"a\":\"x\"}",
            ][..],
        )
        .prop_map(|s| s.as_bytes().to_vec()),
        (1..20_000usize)
            .prop_map(|d| format!("{{\"a\":{}{}}}", "[".repeat(d), "]".repeat(d)).into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..300),
        any_text(200).prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any content type and body, JSON-ish, urlencoded-ish or multipart:
    /// a form, or a 400 or 422; the accessors never panic.
    #[test]
    fn form_arbitrary_is_refused_with_a_typed_error(
        content_type in prop_oneof![
            select(&[
                "application/json",
                "application/json; charset=utf-8",
                "application/x-www-form-urlencoded",
                "text/plain",
                "",
            ][..]).prop_map(str::to_string),
            multipart_content_type(),
            any_text(40),
        ],
        body in prop_oneof![
            json_like(),
            "([a-z%+=&;0-9]|%[0-9a-fA-F]{2}|%[\\s\\S]{0,2}){0,60}".prop_map(String::into_bytes),
            proptest::collection::vec(part_spec(), 0..3).prop_map(|p| encode("XyZ", &p)),
        ],
        probes in proptest::collection::vec(
            prop_oneof![select(&["a", "b", "c", ""][..]).prop_map(str::to_string), any_text(8)],
            0..4,
        ),
    ) {
        read_form(&post(&content_type, body), &probes)?;
    }

    /// Fields sent urlencoded come back: the first of each name, trimmed,
    /// absent when blank.
    #[test]
    fn form_urlencoded_round_trips(
        fields in proptest::collection::vec((any_text(20), any_text(40)), 0..8),
    ) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let form = Form::read(&post("application/x-www-form-urlencoded", body));
        prop_assert!(form.is_ok());
        let form = form.unwrap();
        for (name, _) in &fields {
            let first = fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim());
            prop_assert_eq!(form.get(name), first.filter(|v| !v.is_empty()));
        }
    }

    /// A JSON object's fields come back as text: strings as they are,
    /// numbers (as serde_json reads them) and booleans written out, `null`
    /// absent.
    #[test]
    fn form_json_round_trips(
        fields in proptest::collection::btree_map(
            any_text(20),
            prop_oneof![
                any_text(40).prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                any::<bool>().prop_map(serde_json::Value::from),
                Just(serde_json::Value::Null),
            ],
            0..8,
        ),
    ) {
        let object: serde_json::Map<String, serde_json::Value> = fields.clone().into_iter().collect();
        let body = serde_json::to_vec(&object).unwrap();
        let form = Form::read(&post("application/json", body));
        prop_assert!(form.is_ok(), "{:?}", form.err());
        let form = form.unwrap();
        for (name, value) in &fields {
            let text = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                // As serde_json reads the number back (without its
                // `float_roundtrip` feature, a 17-digit float may move by
                // one ulp: 3.718641601937438e76 reads as …4375e76).
                other => Some(
                    serde_json::from_str::<serde_json::Value>(&other.to_string())
                        .unwrap()
                        .to_string(),
                ),
            };
            let expected = text.as_deref().map(str::trim).filter(|v| !v.is_empty());
            prop_assert_eq!(form.get(name), expected);
        }
    }

    /// Multipart forms: text fields come back, non-empty files in order.
    #[test]
    fn form_multipart_round_trips(
        parts in proptest::collection::vec(
            (part_spec(), any::<bool>()).prop_map(|(mut part, text)| {
                if text {
                    part.data = String::from_utf8_lossy(&part.data).into_owned().into_bytes();
                }
                part
            }),
            0..6,
        ),
    ) {
        prop_assume!(parts.iter().all(|p| !contains(&p.data, b"\r\n--XyZ")));
        let request = post("multipart/form-data; boundary=XyZ", encode("XyZ", &parts));
        let form = Form::read(&request);
        let fields_are_text = parts
            .iter()
            .all(|p| p.filename.is_some() || std::str::from_utf8(&p.data).is_ok());
        if !fields_are_text {
            prop_assert!(form.is_err());
            return Ok(());
        }
        prop_assert!(form.is_ok(), "{:?}", form.err());
        let form = form.unwrap();
        let files: Vec<&Vec<u8>> = parts
            .iter()
            .filter(|p| p.filename.is_some() && !p.data.is_empty())
            .map(|p| &p.data)
            .collect();
        prop_assert_eq!(form.files.iter().collect::<Vec<_>>(), files);
        for part in parts.iter().filter(|p| p.filename.is_none()) {
            let first = parts
                .iter()
                .find(|p| p.filename.is_none() && p.name == part.name)
                .map(|p| std::str::from_utf8(&p.data).unwrap().trim());
            prop_assert_eq!(form.get(&part.name), first.filter(|v| !v.is_empty()));
        }
    }
}
