//! The address citizens reach the host at (`--public-url`): it says whether
//! the host's cookies are `Secure`, which `Origin` is the host's own, and
//! how the links the host gives to others (a payment provider's way back)
//! begin.

use std::fmt;

/// An origin: `http` or `https`, a host, and a port only when it is not the
/// scheme's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    origin: String,
    https: bool,
}

/// Why a public URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublicUrlError {
    #[error("`{0}` is not a URL ({1})")]
    NotAUrl(String, String),
    #[error("`{0}` must begin with https:// (or http:// on a test machine)")]
    Scheme(String),
    #[error(
        "`{0}` must be an origin, as citizens type it: a scheme and a host (and a port), \
         with no path, query, fragment or user"
    )]
    NotAnOrigin(String),
    #[error("the OpenID redirect URL `{redirect}` is not on the public URL `{public}`")]
    RedirectElsewhere { redirect: String, public: String },
}

impl PublicUrl {
    /// Parse `text` (`https://app.hue.gov.vn`, a trailing `/` allowed).
    pub fn parse(text: &str) -> Result<Self, PublicUrlError> {
        let url = openidconnect::url::Url::parse(text.trim())
            .map_err(|e| PublicUrlError::NotAUrl(text.to_string(), e.to_string()))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(PublicUrlError::Scheme(text.to_string())),
        };
        if url.host_str().is_none_or(str::is_empty)
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(PublicUrlError::NotAnOrigin(text.to_string()));
        }
        Ok(PublicUrl {
            origin: url.origin().ascii_serialization(),
            https,
        })
    }

    /// The origin of `url`, an address under it (an OpenID redirect).
    pub fn of(url: &str) -> Result<Self, PublicUrlError> {
        let parsed = openidconnect::url::Url::parse(url.trim())
            .map_err(|e| PublicUrlError::NotAUrl(url.to_string(), e.to_string()))?;
        Self::parse(&parsed.origin().ascii_serialization())
    }

    /// Whether citizens reach the host over HTTPS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// `scheme://host[:port]`, as a browser sends it in `Origin`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The absolute address of `path` (which begins with `/`) on the host.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}

/// The host's public URL: the one configured, else the origin of its
/// OpenID redirect URL (the provider sends citizens back there, so that is
/// where they reach it). Both given, the redirect must be on the public URL.
pub fn resolve(
    configured: Option<&PublicUrl>,
    oidc_redirect: Option<&str>,
) -> Result<Option<PublicUrl>, PublicUrlError> {
    let from_redirect = oidc_redirect.map(PublicUrl::of).transpose()?;
    match (configured, from_redirect) {
        (Some(public), Some(redirected)) if *public != redirected => {
            Err(PublicUrlError::RedirectElsewhere {
                redirect: oidc_redirect.unwrap_or_default().to_string(),
                public: public.to_string(),
            })
        }
        (Some(public), _) => Ok(Some(public.clone())),
        (None, from_redirect) => Ok(from_redirect),
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_kept_as_a_browser_sends_it() {
        let public = PublicUrl::parse("https://App.Hue.gov.vn/").unwrap();
        assert_eq!(public.origin(), "https://app.hue.gov.vn");
        assert!(public.is_https());
        assert_eq!(public.join("/pay/pi_1"), "https://app.hue.gov.vn/pay/pi_1");
        let default_port = PublicUrl::parse("https://app.hue.gov.vn:443").unwrap();
        assert_eq!(default_port.origin(), "https://app.hue.gov.vn");
        let local = PublicUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(local.origin(), "http://127.0.0.1:8080");
        assert!(!local.is_https());
        assert_eq!(
            PublicUrl::of("https://app.hue.gov.vn/auth/oidc/callback").unwrap(),
            public
        );
    }

    #[test]
    fn without_one_the_openid_redirect_says_where_citizens_are() {
        let public = PublicUrl::parse("https://app.hue.gov.vn").unwrap();
        let redirect = "https://app.hue.gov.vn/auth/oidc/callback";
        assert_eq!(resolve(None, None), Ok(None));
        assert_eq!(resolve(None, Some(redirect)), Ok(Some(public.clone())));
        assert_eq!(resolve(Some(&public), None), Ok(Some(public.clone())));
        assert_eq!(
            resolve(Some(&public), Some(redirect)),
            Ok(Some(public.clone()))
        );
        let elsewhere = resolve(
            Some(&public),
            Some("http://app.hue.gov.vn/auth/oidc/callback"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            elsewhere.contains("not on the public URL `https://app.hue.gov.vn`"),
            "{elsewhere}"
        );
    }

    #[test]
    fn anything_but_an_origin_is_refused_with_the_reason() {
        for (text, refusal) in [
            ("app.hue.gov.vn", "is not a URL"),
            ("ftp://app.hue.gov.vn", "must begin with https://"),
            ("https://app.hue.gov.vn/citadel", "must be an origin"),
            ("https://app.hue.gov.vn/?a=1", "must be an origin"),
            ("https://app.hue.gov.vn/#top", "must be an origin"),
            ("https://admin@app.hue.gov.vn", "must be an origin"),
        ] {
            let error = PublicUrl::parse(text).unwrap_err().to_string();
            assert!(error.contains(refusal), "{text}: {error}");
            assert!(error.contains(text), "{text}: {error}");
        }
    }
}
