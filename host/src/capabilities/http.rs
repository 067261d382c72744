//! Capability `http:<scheme>://<host>[:port]`: outbound HTTP to one named
//! origin (a leading `*.` allows its subdomains). Owns the parsing and
//! matching of these names and the upload-time rule that importing
//! `wasi:http/outgoing-handler` needs at least one of them.

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
        if host
            .split('.')
            .all(|l| l.chars().all(|c| c.is_ascii_digit()))
        {
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

#[cfg(test)]
mod tests {
    use super::*;

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
