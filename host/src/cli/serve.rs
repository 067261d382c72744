//! What `citadel serve` reads besides plain flags: the metrics scrape token
//! (`--metrics-token-file` or `CITADEL_METRICS_TOKEN`) and payment providers
//! (`--payment-provider NAME=SECRET_FILE,CHECKOUT_URL[,REFUND_URL]`), checked before the
//! host opens; and the process's descriptor limit, raised before it opens.

use citadel_host::payments::WebhookProvider;
use std::path::{Path, PathBuf};

/// Raise the soft limit on open descriptors to the hard limit, and say what
/// it is: each live app keeps its precompiled file open (wasmtime maps the
/// guest's memory image from it), so the common soft default of 1,024 is
/// short of a city's apps plus its connections.
pub fn raise_descriptor_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(
            open_files = limit,
            "descriptor limit raised to the hard limit (each live app holds one)"
        ),
        Err(e) => tracing::warn!(error = %e, "the descriptor limit could not be raised"),
    }
}

/// Shortest secret accepted (a scrape token or a provider's HMAC secret).
const MIN_SECRET: usize = 16;

/// Why `citadel serve`'s configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ServeConfigError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("the metrics token must be at least {MIN_SECRET} characters")]
    ShortMetricsToken,
    #[error(
        "give the metrics token once: --metrics-token-file or CITADEL_METRICS_TOKEN, not both"
    )]
    TwoMetricsTokens,
    #[error(
        "`{0}` is not a payment provider: write NAME=SECRET_FILE,CHECKOUT_URL[,REFUND_URL] \
         (e.g. momo=/etc/citadel/momo.secret,https://payment.momo.vn/checkout,https://payment.momo.vn/refund)"
    )]
    ProviderSyntax(String),
    #[error("payment provider name `{0}`: use 2 to 40 lower-case letters, digits and `-`, not `demo-wallet`")]
    ProviderName(String),
    #[error("payment provider `{0}` is given twice")]
    ProviderTwice(String),
    #[error("payment provider `{name}`: the checkout and refund URLs must start with https:// (http:// only with --dev), got `{url}`")]
    ProviderCheckout { name: String, url: String },
    #[error("payment provider `{0}`: the secret must be at least {MIN_SECRET} bytes")]
    ProviderSecret(String),
}

/// The content of the secret file `path`, trimmed.
pub fn read_secret(path: &Path) -> Result<String, ServeConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| ServeConfigError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// The metrics token from a file or the environment's value, if any.
pub fn metrics_token(
    file: Option<&Path>,
    from_env: Option<&str>,
) -> Result<Option<String>, ServeConfigError> {
    let token = match (file, from_env.map(str::trim).filter(|t| !t.is_empty())) {
        (Some(_), Some(_)) => return Err(ServeConfigError::TwoMetricsTokens),
        (Some(file), None) => Some(read_secret(file)?),
        (None, Some(token)) => Some(token.to_string()),
        (None, None) => None,
    };
    match token {
        Some(token) if token.chars().count() < MIN_SECRET => {
            Err(ServeConfigError::ShortMetricsToken)
        }
        token => Ok(token),
    }
}

/// Payment providers from `NAME=SECRET_FILE,CHECKOUT_URL[,REFUND_URL]`
/// specs; plain `http://` addresses only in development mode.
pub fn payment_providers(
    specs: &[String],
    development: bool,
) -> Result<Vec<WebhookProvider>, ServeConfigError> {
    let mut providers: Vec<WebhookProvider> = Vec::new();
    for spec in specs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let syntax = || ServeConfigError::ProviderSyntax(spec.to_string());
        let (name, rest) = spec.split_once('=').ok_or_else(syntax)?;
        let mut parts = rest.split(',').map(str::trim);
        let (file, url) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let refund_url = parts.next();
        let name = name.trim();
        if file.is_empty() || url.is_empty() || refund_url == Some("") || parts.next().is_some() {
            return Err(syntax());
        }
        let name_ok = (2..=40).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && name != citadel_host::payments::DEMO_WALLET;
        if !name_ok {
            return Err(ServeConfigError::ProviderName(name.to_string()));
        }
        if providers.iter().any(|p| p.name == name) {
            return Err(ServeConfigError::ProviderTwice(name.to_string()));
        }
        for url in std::iter::once(url).chain(refund_url) {
            let scheme_ok =
                url.starts_with("https://") || (development && url.starts_with("http://"));
            if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ServeConfigError::ProviderCheckout {
                    name: name.to_string(),
                    url: url.to_string(),
                });
            }
        }
        let secret = read_secret(Path::new(file))?;
        if secret.len() < MIN_SECRET {
            return Err(ServeConfigError::ProviderSecret(name.to_string()));
        }
        providers.push(WebhookProvider {
            name: name.to_string(),
            checkout_base: url.to_string(),
            secret: secret.into_bytes(),
            refund_url: refund_url.map(str::to_string),
        });
    }
    Ok(providers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_limit_is_raised_to_the_hard_limit() {
        use rlimit::Resource;
        let (_, hard) = Resource::NOFILE.get().unwrap();
        // Start below the hard limit, as under the common soft default.
        Resource::NOFILE.set(hard.min(512), hard).unwrap();
        raise_descriptor_limit();
        assert_eq!(Resource::NOFILE.get().unwrap(), (hard, hard));
    }

    #[test]
    fn the_metrics_token_comes_from_one_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("metrics-token");
        std::fs::write(&file, "scrape-token-0123456789\n").unwrap();
        assert_eq!(
            metrics_token(Some(&file), None).unwrap().as_deref(),
            Some("scrape-token-0123456789")
        );
        assert_eq!(
            metrics_token(None, Some("from-the-environment-0123")).unwrap(),
            Some("from-the-environment-0123".into())
        );
        assert_eq!(metrics_token(None, None).unwrap(), None);
        assert_eq!(metrics_token(None, Some("  ")).unwrap(), None);
        assert_eq!(
            metrics_token(Some(&file), Some("from-the-environment-0123")),
            Err(ServeConfigError::TwoMetricsTokens)
        );
        assert_eq!(
            metrics_token(None, Some("short")),
            Err(ServeConfigError::ShortMetricsToken)
        );
        assert!(matches!(
            metrics_token(Some(&dir.path().join("missing")), None),
            Err(ServeConfigError::Unreadable { .. })
        ));
    }

    #[test]
    fn providers_are_read_from_name_secret_file_and_checkout() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("momo.secret");
        std::fs::write(&secret, "a-shared-hmac-secret-0123\n").unwrap();
        let spec = format!("momo={},https://payment.momo.vn/checkout", secret.display());
        let providers = payment_providers(std::slice::from_ref(&spec), false).unwrap();
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].name, "momo");
        assert_eq!(
            providers[0].checkout_base,
            "https://payment.momo.vn/checkout"
        );
        assert_eq!(providers[0].secret, b"a-shared-hmac-secret-0123");
        assert_eq!(providers[0].refund_url, None);
        let refunding = format!("{spec},https://payment.momo.vn/refund");
        let providers = payment_providers(std::slice::from_ref(&refunding), false).unwrap();
        assert_eq!(
            providers[0].refund_url.as_deref(),
            Some("https://payment.momo.vn/refund")
        );
        for bad in [
            format!("{spec},http://payment.momo.vn/refund"),
            format!("{spec},"),
            format!("{spec},https://a.vn/refund,https://b.vn"),
        ] {
            assert!(
                payment_providers(std::slice::from_ref(&bad), false).is_err(),
                "{bad}"
            );
        }

        let http = format!("vnpay={},http://127.0.0.1:9/checkout", secret.display());
        assert!(matches!(
            payment_providers(std::slice::from_ref(&http), false),
            Err(ServeConfigError::ProviderCheckout { .. })
        ));
        assert!(payment_providers(&[http], true).is_ok());
        assert_eq!(
            payment_providers(&[spec.clone(), spec], false).err(),
            Some(ServeConfigError::ProviderTwice("momo".into()))
        );
        for bad in ["momo", "momo=/x", "=/x,https://a"] {
            assert!(
                payment_providers(&[bad.to_string()], false).is_err(),
                "{bad}"
            );
        }
        let demo = format!("demo-wallet={},https://a.vn", secret.display());
        assert_eq!(
            payment_providers(&[demo], false).err(),
            Some(ServeConfigError::ProviderName("demo-wallet".into()))
        );
        let short = dir.path().join("short");
        std::fs::write(&short, "tiny").unwrap();
        assert_eq!(
            payment_providers(&[format!("zalo={},https://a.vn", short.display())], false).err(),
            Some(ServeConfigError::ProviderSecret("zalo".into()))
        );
    }
}
