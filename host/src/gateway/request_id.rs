//! Request ids: one per request, generated at the edge, carried in a task
//! local so every error body and log line can quote it, echoed as
//! `x-request-id`; the access record (one line per request), formatted here.

use crate::runtime::AppContext;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A new random request id.
pub fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Which app version answered a request: the app dispatch puts it on its
/// response (answer or refusal) for the access log.
#[derive(Clone)]
pub struct ServedBy(pub Arc<AppContext>);

/// The path as the access record writes it: a frame URL's token, a bearer
/// credential for the citizen in one app, is left out.
fn logged_path(path: &str) -> String {
    match path.strip_prefix("/f/") {
        Some(rest) => {
            let after_token = rest.find('/').map_or("", |slash| &rest[slash..]);
            format!("/f/{FRAME_TOKEN_IN_LOG}{after_token}")
        }
        None => path.to_owned(),
    }
}

/// What the access record writes in place of a frame token.
const FRAME_TOKEN_IN_LOG: &str = "<token>";

/// Middleware: give the request an id, and write its access record (one
/// line, no span: the id is carried by the task local and quoted by every
/// log line written on the request's behalf).
pub async fn request_context(request: Request, next: Next) -> Response {
    let id = new_request_id();
    let method = request.method().clone();
    let path = logged_path(request.uri().path());
    let started = Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let status = response.status().as_u16();
    let served_by = response.extensions_mut().remove::<ServedBy>();
    let record = AccessRecord {
        request_id: &id,
        method: method.as_str(),
        path: &path,
        app: served_by
            .as_ref()
            .map(|ServedBy(app)| (app.id.as_str(), &app.version)),
        status,
        latency_us,
    };
    record.write();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(crate::capabilities::http::REQUEST_ID_HEADER, value);
    }
    response
}

/// Where access records go when the host's log is set up by the CLI: written
/// straight to the log's writer, in its format. Elsewhere (tests, embedders
/// with their own subscriber) they are `tracing` events.
static ACCESS_LOG: OnceLock<AccessLog> = OnceLock::new();

struct AccessLog {
    json: bool,
    write_line: WriteLine,
}

/// Writes one whole line to the log.
type WriteLine = Box<dyn Fn(&[u8]) + Send + Sync>;

/// Write access records to `writer`, as JSON objects (`json`) or text lines,
/// exactly as the `tracing_subscriber::fmt` subscriber writing the rest of
/// the log (without ANSI colours) would. The busiest line of the log then
/// costs the host about 3 µs less CPU per request than through `tracing`'s
/// formatter (docs/performance.md, sixteenth round). Once per process.
pub fn write_access_records_to<W>(writer: W, json: bool)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let write_line: WriteLine = Box::new(move |line: &[u8]| {
        // Nowhere to report that the log cannot be written.
        let _ = std::io::Write::write_all(&mut writer.make_writer(), line);
    });
    let _ = ACCESS_LOG.set(AccessLog { json, write_line });
}

/// One request's access record.
struct AccessRecord<'a> {
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    /// The app and version that answered, if one did.
    app: Option<(&'a str, &'a semver::Version)>,
    status: u16,
    latency_us: u64,
}

impl AccessRecord<'_> {
    fn write(&self) {
        // The log's filter (`RUST_LOG`) decides, as for the event itself.
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        match ACCESS_LOG.get() {
            Some(log) => (log.write_line)(&self.line(log.json, SystemTime::now())),
            None => self.trace(),
        }
    }

    fn trace(&self) {
        let (method, path, status, latency_us) =
            (self.method, self.path, self.status, self.latency_us);
        match self.app {
            Some((app, version)) => tracing::info!(
                request_id = %self.request_id,
                %method,
                path,
                app = %app,
                %version,
                status,
                latency_us,
                "served"
            ),
            None => tracing::info!(
                request_id = %self.request_id,
                %method,
                path,
                status,
                latency_us,
                "served"
            ),
        }
    }

    /// The record as `tracing_subscriber::fmt` writes the event of [`Self::trace`].
    fn line(&self, json: bool, at: SystemTime) -> Vec<u8> {
        use std::io::Write as _;
        let mut line = Vec::with_capacity(256);
        let time = Rfc3339Micros(at);
        if json {
            let _ = write!(
                line,
                "{{\"timestamp\":\"{time}\",\"level\":\"INFO\",\"message\":\"served\",\"request_id\":"
            );
            json_string(&mut line, self.request_id);
            line.extend_from_slice(b",\"method\":");
            json_string(&mut line, self.method);
            line.extend_from_slice(b",\"path\":");
            json_string(&mut line, self.path);
            if let Some((app, version)) = self.app {
                line.extend_from_slice(b",\"app\":");
                json_string(&mut line, app);
                // A version's text is digits, letters, `.`, `-` and `+`:
                // nothing JSON escapes.
                let _ = write!(line, ",\"version\":\"{version}\"");
            }
            let _ = writeln!(
                line,
                ",\"status\":{},\"latency_us\":{},\"target\":\"{}\"}}",
                self.status,
                self.latency_us,
                module_path!()
            );
        } else {
            let _ = write!(
                line,
                "{time}  INFO {}: served request_id={} method={} path={:?}",
                module_path!(),
                self.request_id,
                self.method,
                self.path
            );
            if let Some((app, version)) = self.app {
                let _ = write!(line, " app={app} version={version}");
            }
            let _ = writeln!(
                line,
                " status={} latency_us={}",
                self.status, self.latency_us
            );
        }
        line
    }
}

/// `text` as a JSON string, quoted and escaped as `serde_json` writes it.
fn json_string(line: &mut Vec<u8>, text: &str) {
    // Writing into a `Vec` cannot fail.
    let _ = serde::Serialize::serialize(text, &mut serde_json::Serializer::new(line));
}

/// A time as `tracing_subscriber` writes it: RFC 3339 in UTC, to the
/// microsecond (`2026-12-03T15:55:28.658466Z`).
struct Rfc3339Micros(SystemTime);

impl std::fmt::Display for Rfc3339Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since_epoch = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = since_epoch.as_secs();
        let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
        let (year, month, day) = crate::calendar::civil_date(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            second_of_day / 3_600,
            second_of_day / 60 % 60,
            second_of_day % 60,
            since_epoch.subsec_micros()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_record_leaves_frame_tokens_out() {
        let token = format!("cit_f_{}", "ab".repeat(32));
        assert_eq!(
            logged_path(&format!("/f/{token}/apps/maps/tiles")),
            "/f/<token>/apps/maps/tiles"
        );
        assert_eq!(logged_path(&format!("/f/{token}")), "/f/<token>");
        assert_eq!(logged_path("/apps/maps/f/x"), "/apps/maps/f/x");
    }

    /// A clock that always says `at`, written as the access record writes it.
    struct FixedTime(SystemTime);

    impl tracing_subscriber::fmt::time::FormatTime for FixedTime {
        fn format_time(
            &self,
            w: &mut tracing_subscriber::fmt::format::Writer<'_>,
        ) -> std::fmt::Result {
            write!(w, "{}", Rfc3339Micros(self.0))
        }
    }

    /// What `tracing_subscriber::fmt`, set up as the CLI sets it up, writes
    /// for the record's event.
    fn as_traced(record: &AccessRecord, json: bool, at: SystemTime) -> String {
        let out = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = {
            let out = out.clone();
            move || Captured(out.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_timer(FixedTime(at))
            .with_ansi(false);
        if json {
            let subscriber = subscriber.json().flatten_event(true).finish();
            tracing::subscriber::with_default(subscriber, || record.trace());
        } else {
            tracing::subscriber::with_default(subscriber.finish(), || record.trace());
        }
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_access_record_is_the_line_tracing_would_write() {
        let version = semver::Version::parse("1.2.3-rc.1").unwrap();
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_796_313_154_933_763);
        for app in [None, Some(("hello", &version))] {
            for path in ["/apps/hello/", "/apps/hello/a%22b\"c\\d\u{7f}é", "/nope"] {
                let record = AccessRecord {
                    request_id: "5a5e1f037864f5ba",
                    method: "PATCH",
                    path,
                    app,
                    status: 404,
                    latency_us: 483,
                };
                for json in [false, true] {
                    assert_eq!(
                        String::from_utf8(record.line(json, at)).unwrap(),
                        as_traced(&record, json, at)
                    );
                }
            }
        }
    }

    #[test]
    fn times_are_written_in_rfc_3339_to_the_microsecond() {
        let at = |micros: u64| {
            Rfc3339Micros(SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(micros))
                .to_string()
        };
        assert_eq!(at(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400_000_001), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(1_796_313_154_933_763), "2026-12-03T15:52:34.933763Z");
        assert_eq!(at(1_798_761_599_999_999), "2026-12-31T23:59:59.999999Z");
        assert_eq!(at(4_107_542_400_000_000), "2100-03-01T00:00:00.000000Z");
    }
}
