//! `hostile`: a test mini-app that misbehaves on purpose, so the host's
//! limits can be shown to hold. Never installed by `citadel serve`.

use citadel_sdk::{Request, Response, Result, Router};
use std::hint::black_box;

fn spin(_req: &Request) -> Result<Response> {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn grow(_req: &Request) -> Result<Response> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(black_box(vec![1u8; 1 << 20]));
    }
}

fn depth(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        black_box(depth(black_box(n - 1))) + 1
    }
}

fn recurse(_req: &Request) -> Result<Response> {
    Ok(Response::text(depth(u64::MAX).to_string()))
}

fn panic(_req: &Request) -> Result<Response> {
    panic!("hostile guest panics on purpose")
}

fn sleep(req: &Request) -> Result<Response> {
    let ms: u64 = req
        .query("ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(Response::text("woke up"))
}

/// Ask for a personal field it was never granted, over and over: each call
/// is refused; the host must not write an audit record or a log line each time.
fn deny_loop(_req: &Request) -> Result<Response> {
    let mut refused: u64 = 0;
    loop {
        if citadel_sdk::identity::profile(&[citadel_sdk::identity::Scope::NationalId]).is_err() {
            refused += 1;
        }
        if refused == u64::MAX {
            return Ok(Response::text("unreachable"));
        }
    }
}

/// Log as fast as it can through the `log` interface.
fn log_flood(_req: &Request) -> Result<Response> {
    let line = "x".repeat(4000);
    for _ in 0..1_000_000 {
        citadel_sdk::log::warn(&line);
    }
    Ok(Response::text("logged"))
}

/// Write to stdout as fast as it can.
fn stdout_flood(_req: &Request) -> Result<Response> {
    let line = "y".repeat(1000);
    for _ in 0..100_000 {
        println!("{line}");
    }
    Ok(Response::text("printed"))
}

/// Keep as much memory as the limit allows, then answer.
fn hold(req: &Request) -> Result<Response> {
    let mib: usize = req.query("mib").and_then(|v| v.parse().ok()).unwrap_or(8);
    let hoard: Vec<Vec<u8>> = (0..mib).map(|i| vec![i as u8; 1 << 20]).collect();
    Ok(Response::text(format!("held {} MiB", black_box(hoard).len())))
}

fn ok(_req: &Request) -> Result<Response> {
    Ok(Response::text("fine"))
}

/// Headers the browser would apply to the host's whole origin (every app
/// and the shell), a cookie, the host's own names — and a few an app may
/// send, which must still arrive.
const POLICY_HEADERS: [(&str, &str); 18] = [
    ("set-cookie", "citadel_session=stolen; Path=/"),
    ("strict-transport-security", "max-age=0"),
    ("clear-site-data", "\"cookies\", \"storage\""),
    ("nel", "{\"report_to\":\"g\",\"max_age\":31536000,\"success_fraction\":1.0}"),
    ("report-to", "{\"group\":\"g\",\"max_age\":31536000,\"endpoints\":[{\"url\":\"https://evil.example/r\"}]}"),
    ("reporting-endpoints", "g=\"https://evil.example/r\""),
    ("alt-svc", "h3=\"evil.example:443\""),
    ("service-worker-allowed", "/"),
    ("accept-ch", "sec-ch-ua-model"),
    ("www-authenticate", "Basic realm=\"Citadel\""),
    ("refresh", "0; url=https://evil.example/"),
    ("link", "<https://evil.example/x.js>; rel=preload; as=script"),
    ("content-security-policy", "default-src *"),
    ("x-citadel-consent-url", "https://evil.example/consent"),
    ("x-citadel-app-version", "9.9.9"),
    ("cache-control", "no-cache"),
    ("content-language", "vi"),
    ("x-hostile-note", "kept"),
];

fn policy_headers(_req: &Request) -> Result<Response> {
    let mut response = Response::text("headers");
    for (name, value) in POLICY_HEADERS {
        response = response.with_header(name, value);
    }
    Ok(response)
}

fn echo(req: &Request) -> Result<Response> {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    Response::json(&serde_json::json!({
        "method": req.method().as_str(),
        "path": req.path(),
        "query": req.query_string(),
        "headers": headers,
        "body_len": req.body().len(),
    }))
}

fn big(req: &Request) -> Result<Response> {
    let kib: usize = req
        .query("kib")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    Ok(Response::new(200).with_body(vec![b'x'; kib * 1024]))
}

/// Make `count` sets of HTTP fields of `kib` KiB each and keep them all: each
/// lives in the host's memory, not the guest's. Stops at the first refused.
fn hoard_fields(req: &Request) -> Result<Response> {
    use citadel_sdk::bindings::wasi::http::types::Fields;
    let number = |name: &str, default: usize| {
        req.query(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let value = vec![b'a'; number("kib", 30) * 1024];
    let mut held = Vec::new();
    for _ in 0..number("count", 1) {
        match Fields::from_list(&[("x-hoard".to_string(), value.clone())]) {
            Ok(fields) => held.push(fields),
            Err(_) => break,
        }
    }
    Response::json(&serde_json::json!({ "held": held.len() }))
}

/// What the sandbox lets a guest see of the machine: nothing.
/// `?port=` names a port that is listening (the host's own), so a refused
/// connection shows the sandbox, not a closed port.
fn sandbox(req: &Request) -> Result<Response> {
    let port: u16 = req.query("port").and_then(|v| v.parse().ok()).unwrap_or(22);
    Response::json(&serde_json::json!({
        "env": std::env::vars().count(),
        "args": std::env::args().count(),
        "root_dir_readable": std::fs::read_dir("/").is_ok(),
        "etc_passwd_readable": std::fs::read("/etc/passwd").is_ok(),
        "tcp_connect": std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "udp_bind": std::net::UdpSocket::bind("0.0.0.0:0").is_ok(),
    }))
}

fn router() -> Router {
    Router::new()
        .get("/loop", spin)
        .get("/grow", grow)
        .get("/recurse", recurse)
        .get("/panic", panic)
        .get("/sleep", sleep)
        // A payment hook that hangs until its deadline.
        .route(citadel_sdk::Method::Post, "/sleep", sleep)
        .get("/ok", ok)
        .get("/policy-headers", policy_headers)
        .route(citadel_sdk::Method::Post, "/echo", echo)
        .get("/echo", echo)
        .get("/big", big)
        .get("/sandbox", sandbox)
        .get("/hoard-fields", hoard_fields)
        .get("/deny-loop", deny_loop)
        .get("/log-flood", log_flood)
        .get("/stdout-flood", stdout_flood)
        .get("/hold", hold)
}

citadel_sdk::export_app!(router);
