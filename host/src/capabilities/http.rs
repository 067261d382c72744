//! Capability `http:<scheme>://<host>[:port]`: outbound HTTP to one named
//! origin (a leading `*.` allows its subdomains). Owns the parsing and
//! matching of these names, the upload-time rule that importing
//! `wasi:http/outgoing-handler` needs at least one of them, and the host
//! side of every outbound request: the origin must be granted, and every
//! address its name resolves to must be public and not the host itself; the
//! connection goes to the address that was checked (no second DNS lookup).
//! Redirects are answered to the guest, whose next request is checked again.
//! Every outbound request carries the incoming request's id in
//! `x-request-id`, set by the host over whatever the guest put there.

use crate::audit::messages;
use crate::runtime::{AppContext, DenialRecorder};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The manifest prefix of outbound-HTTP capabilities.
pub const PREFIX: &str = "http:";

/// The import that outbound-HTTP capabilities cover.
pub const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler";

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    /// Lower-case host; for a wildcard, the parent domain (without `*.`).
    pub host: String,
    pub wildcard: bool,
    pub port: u16,
}

impl Origin {
    /// Parse the part after `http:`, e.g. `https://api.example.vn` or
    /// `https://*.hue.gov.vn:8443`.
    pub fn parse(spec: &str) -> Result<Origin, String> {
        let bad =
            |why: &str| format!("`{PREFIX}{spec}` is not a valid outbound HTTP capability: {why}");
        let (scheme, rest) = spec
            .split_once("://")
            .ok_or_else(|| bad("write it as http:<scheme>://<host>[:port]"))?;
        let default_port = match scheme {
            "https" => 443,
            "http" => 80,
            _ => return Err(bad("the scheme must be http or https")),
        };
        if rest.contains(['/', '?', '#', '@']) {
            return Err(bad("name an origin only: no path, query or user"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
            ),
            None => (rest, default_port),
        };
        let host = host.to_ascii_lowercase();
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(parent) => (true, parent.to_string()),
            None => (false, host),
        };
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(bad(
                "the host must be a DNS name (IP literals are not allowed)",
            ));
        }
        // A host whose last label is a number (decimal, or `0x` hex) is an
        // IPv4 address to a WHATWG URL parser and to `inet_aton`: `0x7f000001`.
        let last = host.rsplit('.').next().unwrap_or_default();
        let hex = last
            .strip_prefix("0x")
            .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
        if hex || last.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad(
                "the host must be a DNS name (IP literals are not allowed)",
            ));
        }
        if wildcard && !host.contains('.') {
            return Err(bad(
                "a wildcard needs a parent domain with a dot, e.g. *.example.vn",
            ));
        }
        Ok(Origin {
            scheme: scheme.to_string(),
            host,
            wildcard,
            port,
        })
    }

    /// Whether a request to `scheme://host:port` is inside this origin.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host_ok = if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
        } else {
            host == self.host
        };
        scheme == self.scheme && port == self.port && host_ok
    }
}

/// Whether `name` is an outbound-HTTP capability; if so, whether it is valid.
pub fn check_name(name: &str) -> Option<Result<(), String>> {
    name.strip_prefix(PREFIX)
        .map(|spec| Origin::parse(spec).map(|_| ()))
}

/// The header that carries the incoming request's id to a partner's API —
/// the name the gateway answers citizens with, so one id follows a request
/// through every log.
pub const REQUEST_ID_HEADER: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Put `request_id` in `headers` as the only [`REQUEST_ID_HEADER`],
/// replacing any the guest set: a guest cannot speak for another request.
/// Without a usable id the header is removed.
pub fn stamp_request_id(headers: &mut http::HeaderMap, request_id: &str) {
    match http::HeaderValue::from_str(request_id) {
        Ok(value) if !request_id.is_empty() => {
            headers.insert(REQUEST_ID_HEADER, value);
        }
        _ => {
            headers.remove(REQUEST_ID_HEADER);
        }
    }
}

/// The metric label of outbound-HTTP denials (origins are unbounded).
const METRIC_LABEL: &str = "http";
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// Name look-ups under way at once, host-wide. Each runs the system
/// resolver on one of tokio's blocking threads, which a time-out does not
/// free: a partner's name servers that never answer would otherwise take
/// all 512 of them from component loads, compiles and the store.
const MAX_LOOKUPS: usize = 32;
static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_LOOKUPS);
// An app's own bound (`runtime::MAX_LOOKUPS_PER_APP`, in its share of the
// host) is a quarter of the host's: an app whose names never answer leaves
// the others three quarters.
const _: () = assert!(crate::runtime::MAX_LOOKUPS_PER_APP * 4 == MAX_LOOKUPS);

/// `host`'s addresses, looked up on a blocking thread that holds one of the
/// app's permits (`app_lookups`) and one of the host's (`lookups`) until the
/// system resolver returns, however long the caller waits (`timeout`, the
/// waits for permits included).
async fn resolve(
    app_lookups: &Arc<tokio::sync::Semaphore>,
    lookups: &'static tokio::sync::Semaphore,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, HttpError> {
    let host = host.to_string();
    let app_lookups = app_lookups.clone();
    let lookup = async move {
        let app_permit = app_lookups
            .acquire_owned()
            .await
            .map_err(|_| HttpError::DnsTimeout)?;
        let permit = lookups.acquire().await.map_err(|_| HttpError::DnsTimeout)?;
        tokio::task::spawn_blocking(move || {
            let _held_until_the_resolver_returns = (app_permit, permit);
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .map(Iterator::collect::<Vec<_>>)
        })
        .await
        .map_err(|_| HttpError::DestinationNotFound)?
        .map_err(|_| HttpError::DestinationNotFound)
    };
    tokio::time::timeout(timeout, lookup)
        .await
        .map_err(|_| HttpError::DnsTimeout)?
}
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where guests may never connect, whatever their grants say.
pub struct OutboundPolicy {
    allow_loopback_for_tests: bool,
    own_listeners: RwLock<Vec<SocketAddr>>,
}

impl OutboundPolicy {
    pub fn new(allow_loopback_for_tests: bool) -> Self {
        OutboundPolicy {
            allow_loopback_for_tests,
            own_listeners: RwLock::new(Vec::new()),
        }
    }

    /// The gateway listens on `addr`: guests may not call it.
    pub fn add_own_listener(&self, addr: SocketAddr) {
        if let Ok(mut listeners) = self.own_listeners.write() {
            listeners.push(addr);
        }
    }

    /// Why a guest may not connect to `addr`, if it may not: [`OWN_LISTENER`]
    /// or the forbidden range it is in.
    pub fn refusal(&self, addr: SocketAddr) -> Option<&'static str> {
        let ip = canonical(addr.ip());
        let own = self.own_listeners.read().is_ok_and(|listeners| {
            listeners.iter().any(|listener| {
                let listening = canonical(listener.ip());
                listener.port() == addr.port()
                    && (listening == ip
                        || listening.is_unspecified()
                        || (listening.is_loopback() && ip.is_loopback()))
            })
        });
        if own {
            return Some(OWN_LISTENER);
        }
        match forbidden_range(ip) {
            Some("loopback") if self.allow_loopback_for_tests => None,
            other => other,
        }
    }
}

/// The refusal of an address the gateway itself listens on.
pub const OWN_LISTENER: &str = "the host's own listener";

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The non-public range `ip` is in, if any.
fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some("a private range")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast, broadcast or reserved")
    } else if (a == 192 && b == 0 && c == 0) || (a == 198 && (18..20).contains(&b)) {
        Some("a special-purpose range")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if segments[0] & 0xfe00 == 0xfc00 || segments[0] & 0xffc0 == 0xfec0 {
        Some("a private range")
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if segments[..3] == [0x64, 0xff9b, 1] {
        // The local-use NAT64 prefix (RFC 8215) leads into a site's own network.
        Some("a private range")
    } else if ip.is_multicast() || segments[..6] == [0; 6] {
        // `::a.b.c.d`, IPv4-compatible, is deprecated: nothing public uses it.
        Some("multicast, broadcast or reserved")
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[0] == 0x2002 {
        // NAT64 and 6to4 carry an IPv4 address; judge that one.
        let embedded = if segments[0] == 0x2002 {
            [segments[1], segments[2]]
        } else {
            [segments[6], segments[7]]
        };
        let v4 = Ipv4Addr::new(
            (embedded[0] >> 8) as u8,
            embedded[0] as u8,
            (embedded[1] >> 8) as u8,
            embedded[1] as u8,
        );
        forbidden_v4(v4)
    } else {
        None
    }
}

/// The wasi:http hooks of one request: every outbound request goes through
/// [`OutboundHooks::send_request`].
pub struct OutboundHooks {
    app: Arc<AppContext>,
    policy: Arc<OutboundPolicy>,
    denials: DenialRecorder,
    sent: u32,
}

/// Outbound requests one request may make; later ones fail at once.
const MAX_OUTBOUND_PER_REQUEST: u32 = 50;

impl OutboundHooks {
    pub fn new(app: Arc<AppContext>, policy: Arc<OutboundPolicy>, denials: DenialRecorder) -> Self {
        OutboundHooks {
            app,
            policy,
            denials,
            sent: 0,
        }
    }
}

type ResponseAndIo = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
);

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Result<ResponseAndIo, HttpError>> + Send> {
        self.sent = self.sent.saturating_add(1);
        if self.sent > MAX_OUTBOUND_PER_REQUEST {
            return Box::new(async {
                Err(HttpError::InternalError(Some(format!(
                    "this request already made its {MAX_OUTBOUND_PER_REQUEST} outbound requests"
                ))))
            });
        }
        let app = self.app.clone();
        let policy = self.policy.clone();
        let denials = self.denials.clone();
        Box::new(async move { send(&app, &policy, &denials, request, options).await })
    }
}

/// Check one outbound request against grants and address rules, then send it
/// to the checked address.
async fn send(
    app: &AppContext,
    policy: &OutboundPolicy,
    denials: &DenialRecorder,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<ResponseAndIo, HttpError> {
    let uri = request.uri();
    let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return Err(HttpError::HttpProtocolError),
    };
    let host = uri
        .host()
        .ok_or(HttpError::HttpRequestUriInvalid)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(default_port);
    let target = format!("http:{scheme}://{host}:{port}");

    let granted = app
        .requested
        .iter()
        .filter(|name| name.starts_with(PREFIX) && app.has_capability(name))
        .filter_map(|name| Origin::parse(&name[PREFIX.len()..]).ok())
        .any(|origin| origin.allows(&scheme, &host, port));
    if !granted {
        denials.record(&target, METRIC_LABEL, messages::DENIED_ORIGIN.message());
        return Err(HttpError::HttpRequestDenied);
    }

    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => resolve(&app.lookups, &LOOKUPS, &host, port, DNS_TIMEOUT).await?,
    };
    if addrs.is_empty() {
        return Err(HttpError::DestinationNotFound);
    }
    // Every address must pass, not just the one used: a name with one public
    // and one private address is refused rather than raced.
    if let Some((addr, why)) = addrs
        .iter()
        .find_map(|addr| policy.refusal(*addr).map(|why| (addr, why)))
    {
        let message = if why == OWN_LISTENER {
            messages::DENIED_OWN_LISTENER.message()
        } else {
            messages::DENIED_ADDRESS.with("range", why)
        };
        let message = message.with("host", &host).with("ip", addr.ip());
        denials.record(&target, METRIC_LABEL, message);
        return Err(HttpError::HttpRequestDenied);
    }

    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(CONNECT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(FIRST_BYTE_TIMEOUT);
    let stream = connect(&addrs, connect_timeout).await?;
    let stream: Box<dyn Stream> = if scheme == "https" {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let tls = tokio::time::timeout(connect_timeout, tls_connector().connect(name, stream))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(|_| HttpError::TlsCertificateError)?;
        Box::new(tls)
    } else {
        Box::new(stream)
    };
    let (mut sender, connection) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)?
    .map_err(HttpError::from)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "outbound connection ended with an error");
        }
    });
    // Origin-form on the wire; the Host header already names the origin.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = path.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
    stamp_request_id(request.headers_mut(), denials.request_id());
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)?
        .map_err(HttpError::from)?;
    let response = response.map(|body| body.map_err(HttpError::from).boxed_unsync());
    Ok((response, Box::new(async { Ok(()) })))
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, HttpError> {
    let mut last = HttpError::ConnectionRefused;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = HttpError::Connect(e),
            Err(_) => last = HttpError::ConnectionTimeout,
        }
    }
    Err(last)
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|e| {
            // ring supports the safe defaults; this cannot fail in practice.
            panic!("rustls rejected its own default protocol versions: {e}")
        });
        Arc::new(config)
    });
    tokio_rustls::TlsConnector::from(config.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn look_ups_wait_for_a_free_resolver_thread() {
        let lookups: &'static tokio::sync::Semaphore =
            Box::leak(Box::new(tokio::sync::Semaphore::new(2)));
        let app = Arc::new(tokio::sync::Semaphore::new(2));
        let quick = Duration::from_millis(200);
        let found = resolve(&app, lookups, "localhost", 80, quick).await;
        assert!(found.is_ok_and(|addrs| addrs.iter().all(|a| a.ip().is_loopback())));
        // Every resolver thread busy (names that never answer hold theirs):
        // the next look-up waits, and gives up at its time-out, taking none.
        let busy = lookups.acquire_many(2).await.unwrap();
        let waited = resolve(&app, lookups, "localhost", 80, quick).await;
        assert!(matches!(waited, Err(HttpError::DnsTimeout)), "{waited:?}");
        drop(busy);
        assert!(resolve(&app, lookups, "localhost", 80, quick).await.is_ok());
        assert_eq!(lookups.available_permits(), 2);
        assert_eq!(app.available_permits(), 2);
    }

    #[tokio::test]
    async fn one_apps_hanging_look_ups_leave_the_others_theirs() {
        let lookups: &'static tokio::sync::Semaphore =
            Box::leak(Box::new(tokio::sync::Semaphore::new(4)));
        let (hanging, other) = (
            Arc::new(tokio::sync::Semaphore::new(2)),
            Arc::new(tokio::sync::Semaphore::new(2)),
        );
        let quick = Duration::from_millis(200);
        // The hanging app's look-ups hold all of its permits (and some of
        // the host's, as threads stuck in the resolver would).
        let stuck = hanging.clone().acquire_many_owned(2).await.unwrap();
        let host_held = lookups.acquire_many(2).await.unwrap();
        let waiting = tokio::spawn({
            let hanging = hanging.clone();
            async move { resolve(&hanging, lookups, "localhost", 80, quick).await }
        });
        tokio::time::sleep(quick / 2).await;
        assert_eq!(
            lookups.available_permits(),
            2,
            "while it waits for its own, it holds none of the host's"
        );
        let waited = waiting.await.unwrap();
        assert!(matches!(waited, Err(HttpError::DnsTimeout)), "{waited:?}");
        let found = resolve(&other, lookups, "localhost", 80, quick).await;
        assert!(found.is_ok(), "{found:?}");
        drop((stuck, host_held));
    }

    #[test]
    fn non_public_addresses_are_refused() {
        let policy = OutboundPolicy::new(false);
        for refused in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "169.254.169.254",
            "0.0.0.0",
            "::",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b:1::a00:1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            let addr = SocketAddr::new(refused.parse().unwrap(), 80);
            assert!(policy.refusal(addr).is_some(), "{refused} must be refused");
        }
        for public in ["203.113.131.1", "8.8.8.8", "2001:4860:4860::8888"] {
            let addr = SocketAddr::new(public.parse().unwrap(), 443);
            assert_eq!(policy.refusal(addr), None, "{public}");
        }
    }

    #[test]
    fn the_test_switch_opens_loopback_only_and_never_the_host_itself() {
        let policy = OutboundPolicy::new(true);
        policy.add_own_listener("0.0.0.0:8080".parse().unwrap());
        assert_eq!(policy.refusal("127.0.0.1:9000".parse().unwrap()), None);
        assert!(policy.refusal("10.0.0.1:9000".parse().unwrap()).is_some());
        assert!(policy
            .refusal("169.254.169.254:80".parse().unwrap())
            .is_some());
        assert_eq!(
            policy.refusal("127.0.0.1:8080".parse().unwrap()),
            Some("the host's own listener")
        );
        assert_eq!(
            policy.refusal("203.113.131.1:8080".parse().unwrap()),
            Some("the host's own listener")
        );
    }

    #[test]
    fn the_request_id_header_is_the_hosts_alone() {
        let mut headers = http::HeaderMap::new();
        headers.append(REQUEST_ID_HEADER, "forged-1".parse().unwrap());
        headers.append("X-Request-Id", "forged-2".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        stamp_request_id(&mut headers, "00c0ffee00c0ffee");
        let ids: Vec<_> = headers.get_all(REQUEST_ID_HEADER).iter().collect();
        assert_eq!(ids, ["00c0ffee00c0ffee"]);
        assert_eq!(headers["content-type"], "application/json");

        // No usable id: the guest's value does not go out either.
        for unusable in ["", "line\nbreak"] {
            let mut headers = http::HeaderMap::new();
            headers.insert(REQUEST_ID_HEADER, "forged".parse().unwrap());
            stamp_request_id(&mut headers, unusable);
            assert!(headers.get(REQUEST_ID_HEADER).is_none(), "{unusable:?}");
        }
    }

    #[test]
    fn origins_parse_and_match_exactly() {
        let api = Origin::parse("https://api.example.vn").unwrap();
        assert!(api.allows("https", "api.example.vn", 443));
        assert!(api.allows("https", "API.example.vn.", 443));
        assert!(!api.allows("http", "api.example.vn", 80));
        assert!(!api.allows("https", "api.example.vn", 8443));
        assert!(!api.allows("https", "evil-api.example.vn", 443));
        assert!(!api.allows("https", "api.example.vn.evil.com", 443));

        let wild = Origin::parse("https://*.hue.gov.vn:8443").unwrap();
        assert!(wild.allows("https", "dichvucong.hue.gov.vn", 8443));
        assert!(!wild.allows("https", "hue.gov.vn", 8443));
        assert!(!wild.allows("https", "evilhue.gov.vn", 8443));
    }

    #[test]
    fn bad_origins_are_refused_with_the_reason() {
        for (spec, why) in [
            ("ftp://example.vn", "scheme"),
            ("https://example.vn/path", "origin only"),
            ("https://127.0.0.1", "IP literals"),
            ("https://example.vn:0", "port"),
            ("https://*.vn", "wildcard"),
            ("example.vn", "http:<scheme>"),
        ] {
            let err = Origin::parse(spec).unwrap_err();
            assert!(err.contains(why), "{spec}: {err}");
        }
    }
}
