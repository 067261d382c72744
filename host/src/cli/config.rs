//! `citadel serve --config FILE` and `citadel config check FILE`: the TOML
//! file that holds any of `serve`'s options (the flags' names with `_`), how
//! it is read (an unknown key or a wrong type is refused with the file and
//! line), how it merges under the environment and the command line (file <
//! env < flag), and the secrets read from files (`*_file` keys). It reads
//! and checks settings only; it never opens the host nor logs a secret.

use crate::{LogFormat, ServeArgs};
use citadel_host::identity::oidc::{ClaimMapping, OidcConfig, CALLBACK_PATH};
use citadel_host::payments::WebhookProvider;
use citadel_host::public_url::PublicUrl;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// `citadel config …`.
#[derive(clap::Subcommand)]
pub enum ConfigAction {
    /// Check FILE as `citadel serve --config FILE` reads it; starts nothing.
    ///
    /// The file alone, without the environment and flags: unknown keys,
    /// value types and ranges, every `*_file` readable, payment providers
    /// and city data well formed. Prints `FILE: ok`, or the first problem
    /// and exits non-zero.
    Check {
        /// The configuration file (TOML).
        file: PathBuf,
    },
}

/// Run a `citadel config` command.
pub fn run(action: ConfigAction) -> anyhow::Result<()> {
    match action {
        ConfigAction::Check { file } => {
            check(&file)?;
            println!("{}: ok", file.display());
        }
    }
    Ok(())
}

/// Why a configuration was refused. Messages name the key and where it was
/// given, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    /// An unknown key, a wrong type or a syntax error; `at` is
    /// `FILE:LINE:COLUMN` when the parser knows where.
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    #[error("{at}: `{key}` = {value}: {rule}")]
    OutOfRange {
        at: String,
        key: &'static str,
        value: u64,
        rule: &'static str,
    },
    #[error(
        "`{first}` and `{second}` are both set {place}; give one of them \
         (a `*_file` key names a file holding the value)"
    )]
    TwoWays {
        first: &'static str,
        second: &'static str,
        place: String,
    },
    #[error("`{key}`: {source}")]
    SecretFile {
        key: &'static str,
        source: super::serve::ServeConfigError,
    },
    #[error("`{key}`: {path} is empty")]
    EmptySecret { key: &'static str, path: PathBuf },
    #[error(
        "the database URL (from {from}) must start with postgres:// or postgresql:// \
         (postgres://USER:PASSWORD@HOST:PORT/DATABASE)"
    )]
    DatabaseUrl { from: &'static str },
}

/// Every key the file may hold: `serve`'s options, plus `*_file` forms of
/// the secrets. Absent keys leave the option to the environment, the flag or
/// its default.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileValues {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    max_instances: Option<u32>,
    app_share_percent: Option<Spanned<u32>>,
    max_loaded_components: Option<Spanned<u64>>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    no_samples: Option<bool>,
    dev: Option<bool>,
    metrics_token_file: Option<PathBuf>,
    operator_token_file: Option<PathBuf>,
    payment_providers: Option<Vec<String>>,
    city_data: Option<PathBuf>,
    tile_url: Option<String>,
    public_url: Option<String>,
    log_format: Option<LogFormat>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_client_secret_file: Option<PathBuf>,
    oidc_redirect_url: Option<String>,
    oidc_scopes: Option<String>,
    oidc_claims: Option<String>,
}

/// A configuration file, read and checked.
#[derive(Default)]
struct ConfigFile {
    path: PathBuf,
    values: FileValues,
}

impl ConfigFile {
    /// Read and parse `path`: unknown keys, types and ranges are refused
    /// with the file, line and column.
    fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let values: FileValues = toml::from_str(&text).map_err(|e| {
            let start = e.span().map(|span| span.start);
            let message = match start.and_then(|start| key_on_line(&text, start)) {
                Some(key) if !e.message().contains(&format!("`{key}`")) => {
                    format!("`{key}`: {}", e.message())
                }
                _ => e.message().to_string(),
            };
            ConfigError::Invalid {
                at: location(path, &text, start),
                message,
            }
        })?;
        let out_of_range =
            |key, value: u64, span: std::ops::Range<usize>, rule| ConfigError::OutOfRange {
                at: location(path, &text, Some(span.start)),
                key,
                value,
                rule,
            };
        if let Some(share) = &values.app_share_percent {
            if !(1..=100).contains(share.get_ref()) {
                return Err(out_of_range(
                    "app_share_percent",
                    u64::from(*share.get_ref()),
                    share.span(),
                    "must be 1 to 100 (percent of max_instances)",
                ));
            }
        }
        if let Some(loaded) = &values.max_loaded_components {
            if *loaded.get_ref() == 0 {
                return Err(out_of_range(
                    "max_loaded_components",
                    0,
                    loaded.span(),
                    "must be at least 1",
                ));
            }
        }
        Ok(ConfigFile {
            path: path.to_path_buf(),
            values,
        })
    }
}

/// `FILE:LINE:COLUMN` of byte `at` in `text` (`FILE` alone without it).
fn location(path: &Path, text: &str, at: Option<usize>) -> String {
    let Some(at) = at.filter(|at| text.is_char_boundary(*at)) else {
        return path.display().to_string();
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |n| n + 1)..]
        .chars()
        .count()
        + 1;
    format!("{}:{line}:{column}", path.display())
}

/// The key of the `key = value` line holding byte `at`, if `at` is in its
/// value.
fn key_on_line(text: &str, at: usize) -> Option<String> {
    let start = text.get(..at)?.rfind('\n').map_or(0, |n| n + 1);
    let (key, _) = text.get(start..at)?.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.contains(char::is_whitespace)).then(|| key.to_string())
}

/// Where a value was given; a higher place wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    File,
    Env,
    Flag,
}

impl Place {
    fn describe(self, file: &Path) -> String {
        match self {
            Place::File => format!("in {}", file.display()),
            Place::Env => "in the environment".to_string(),
            Place::Flag => "on the command line".to_string(),
        }
    }
}

/// Where clap took argument `id` from: `None` when it holds its default
/// (or nothing), so the file may set it.
fn given_at(given: &ArgMatches, id: &str) -> Option<Place> {
    match given.value_source(id) {
        None | Some(ValueSource::DefaultValue) => None,
        Some(ValueSource::EnvVariable) => Some(Place::Env),
        Some(_) => Some(Place::Flag),
    }
}

/// Put the file's value in `slot` unless the environment or the command
/// line gave one.
fn fill<T>(slot: &mut T, from_file: Option<T>, given: Option<Place>) {
    if given.is_none() {
        if let Some(value) = from_file {
            *slot = value;
        }
    }
}

/// Which of two ways of giving one setting wins.
enum Which {
    First,
    Second,
}

/// The higher of two places a setting was given; the same place twice is an
/// error.
fn higher(
    file: &Path,
    (first, first_at): (&'static str, Option<Place>),
    (second, second_at): (&'static str, Option<Place>),
) -> Result<Option<Which>, ConfigError> {
    Ok(match (first_at, second_at) {
        (Some(a), Some(b)) if a == b => {
            return Err(ConfigError::TwoWays {
                first,
                second,
                place: a.describe(file),
            })
        }
        (Some(a), Some(b)) => Some(if a > b { Which::First } else { Which::Second }),
        (Some(_), None) => Some(Which::First),
        (None, Some(_)) => Some(Which::Second),
        (None, None) => None,
    })
}

/// A non-empty value of environment variable `name` read through `env`.
fn env_value(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|value| !value.trim().is_empty())
}

/// Fill `args` (as clap parsed them, `given` saying from where) with the
/// values of the configuration file `args.config`, if any, wherever neither
/// the environment nor the command line gave one: file < env < flag. A
/// secret given two ways keeps the higher; twice in one place is an error.
/// `env` reads an environment variable (`CITADEL_OPERATOR_TOKEN` and
/// `CITADEL_METRICS_TOKEN`, which are not flags).
pub fn merge(
    args: &mut ServeArgs,
    given: &ArgMatches,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    // Destructured whole: a key added to the file must be merged here.
    let FileValues {
        listen,
        data_dir,
        database_url,
        database_url_file,
        max_instances,
        app_share_percent,
        max_loaded_components,
        max_connections,
        header_timeout_secs,
        shutdown_grace_secs,
        no_samples,
        dev,
        metrics_token_file,
        operator_token_file,
        payment_providers,
        city_data,
        tile_url,
        public_url,
        log_format,
        oidc_issuer,
        oidc_client_id,
        oidc_client_secret_file,
        oidc_redirect_url,
        oidc_scopes,
        oidc_claims,
    } = file.values;
    let at = |id: &str| given_at(given, id);
    fill(&mut args.listen, listen, at("listen"));
    fill(&mut args.data_dir, data_dir, at("data_dir"));
    fill(&mut args.max_instances, max_instances, at("max_instances"));
    fill(
        &mut args.app_share_percent,
        app_share_percent.map(Spanned::into_inner),
        at("app_share_percent"),
    );
    fill(
        &mut args.max_loaded_components,
        max_loaded_components.map(Spanned::into_inner),
        at("max_loaded_components"),
    );
    fill(
        &mut args.max_connections,
        max_connections,
        at("max_connections"),
    );
    fill(
        &mut args.header_timeout_secs,
        header_timeout_secs,
        at("header_timeout_secs"),
    );
    fill(
        &mut args.shutdown_grace_secs,
        shutdown_grace_secs,
        at("shutdown_grace_secs"),
    );
    fill(&mut args.no_samples, no_samples, at("no_samples"));
    fill(&mut args.dev, dev, at("dev"));
    fill(
        &mut args.payment_providers,
        payment_providers,
        at("payment_providers"),
    );
    fill(&mut args.city_data, city_data.map(Some), at("city_data"));
    fill(&mut args.tile_url, tile_url.map(Some), at("tile_url"));
    fill(&mut args.public_url, public_url.map(Some), at("public_url"));
    fill(&mut args.log_format, log_format, at("log_format"));
    fill(
        &mut args.oidc_issuer,
        oidc_issuer.map(Some),
        at("oidc_issuer"),
    );
    fill(
        &mut args.oidc_client_id,
        oidc_client_id.map(Some),
        at("oidc_client_id"),
    );
    fill(
        &mut args.oidc_client_secret_file,
        oidc_client_secret_file.map(Some),
        at("oidc_client_secret_file"),
    );
    fill(
        &mut args.oidc_redirect_url,
        oidc_redirect_url.map(Some),
        at("oidc_redirect_url"),
    );
    fill(&mut args.oidc_scopes, oidc_scopes, at("oidc_scopes"));
    fill(&mut args.oidc_claims, oidc_claims, at("oidc_claims"));

    // The database URL: inline or from a file.
    let in_file = |present: bool| present.then_some(Place::File);
    let url_at = at("database_url").or(in_file(database_url.is_some()));
    let url_file_at = at("database_url_file").or(in_file(database_url_file.is_some()));
    match higher(
        &file.path,
        ("database_url", url_at),
        ("database_url_file", url_file_at),
    )? {
        Some(Which::First) => {
            fill(
                &mut args.database_url,
                database_url.map(Some),
                at("database_url"),
            );
            args.database_url_file = None;
        }
        Some(Which::Second) => {
            fill(
                &mut args.database_url_file,
                database_url_file.map(Some),
                at("database_url_file"),
            );
            args.database_url = None;
        }
        None => {}
    }

    // The operator token: CITADEL_OPERATOR_TOKEN, or a file.
    let token_at = env_value(env, "CITADEL_OPERATOR_TOKEN").map(|_| Place::Env);
    let token_file_at = at("operator_token_file").or(in_file(operator_token_file.is_some()));
    match higher(
        &file.path,
        ("CITADEL_OPERATOR_TOKEN", token_at),
        ("operator_token_file", token_file_at),
    )? {
        Some(Which::Second) => fill(
            &mut args.operator_token_file,
            operator_token_file.map(Some),
            at("operator_token_file"),
        ),
        Some(Which::First) => args.operator_token_file = None,
        None => {}
    }

    // The metrics token: CITADEL_METRICS_TOKEN wins over the file's
    // `metrics_token_file`; with `--metrics-token-file` it is refused, as
    // before (`serve::metrics_token`).
    if env_value(env, "CITADEL_METRICS_TOKEN").is_none() {
        fill(
            &mut args.metrics_token_file,
            metrics_token_file.map(Some),
            at("metrics_token_file"),
        );
    }
    Ok(())
}

/// What `serve` reads from files and the environment once its options are
/// merged: the secrets (never logged, hence no `Debug`) and the payment
/// providers.
pub struct Secrets {
    pub database_url: Option<String>,
    pub operator_token: Option<String>,
    pub metrics_token: Option<String>,
    pub providers: Vec<WebhookProvider>,
    pub oidc: Option<OidcConfig>,
    pub public_url: Option<PublicUrl>,
}

impl Secrets {
    /// Read the secrets `args` (merged) point at; `env` reads an environment
    /// variable.
    pub fn read(args: &ServeArgs, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Secrets> {
        let database_url = match (&args.database_url_file, &args.database_url) {
            (Some(path), _) => {
                let url = secret_file("database_url_file", path)?;
                if !is_postgres_url(&url) {
                    return Err(ConfigError::DatabaseUrl {
                        from: "database_url_file",
                    }
                    .into());
                }
                Some(url)
            }
            (None, Some(url)) => {
                if !is_postgres_url(url) {
                    return Err(ConfigError::DatabaseUrl {
                        from: "database_url",
                    }
                    .into());
                }
                Some(url.clone())
            }
            (None, None) => None,
        };
        let operator_token = match &args.operator_token_file {
            Some(path) => Some(secret_file("operator_token_file", path)?),
            None => env_value(env, "CITADEL_OPERATOR_TOKEN"),
        };
        let metrics_token = super::serve::metrics_token(
            args.metrics_token_file.as_deref(),
            env("CITADEL_METRICS_TOKEN").as_deref(),
        )?;
        let providers = super::serve::payment_providers(&args.payment_providers, args.dev)?;
        let public_url = args
            .public_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .map(PublicUrl::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("`public_url`: {e}"))?;
        Ok(Secrets {
            database_url,
            operator_token,
            metrics_token,
            providers,
            oidc: oidc_config(args, public_url.as_ref(), env)?,
            public_url,
        })
    }
}

/// The OpenID provider's settings, when an issuer is given: every other
/// setting it needs must be there too (the redirect URL may come from the
/// public URL: its `/auth/oidc/callback`).
fn oidc_config(
    args: &ServeArgs,
    public_url: Option<&PublicUrl>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<OidcConfig>> {
    let Some(issuer) = args.oidc_issuer.clone().filter(|i| !i.trim().is_empty()) else {
        return Ok(None);
    };
    let needed = |value: &Option<String>, key: &str| {
        value
            .clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| anyhow::anyhow!("`oidc_issuer` is set, so `{key}` is needed too"))
    };
    let client_secret = match &args.oidc_client_secret_file {
        Some(path) => secret_file("oidc_client_secret_file", path)?,
        None => env_value(env, "CITADEL_OIDC_CLIENT_SECRET").ok_or_else(|| {
            anyhow::anyhow!(
                "`oidc_issuer` is set, so the client secret is needed too: \
                 `oidc_client_secret_file` or CITADEL_OIDC_CLIENT_SECRET"
            )
        })?,
    };
    let mut scopes: Vec<String> = vec!["openid".into()];
    for scope in args.oidc_scopes.split_whitespace() {
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_string());
        }
    }
    let config = OidcConfig {
        issuer,
        client_id: needed(&args.oidc_client_id, "oidc_client_id")?,
        client_secret,
        redirect_url: match (&args.oidc_redirect_url, public_url) {
            (None, Some(public)) => public.join(CALLBACK_PATH),
            (given, _) => needed(given, "oidc_redirect_url` (or `public_url")?,
        },
        scopes,
        claims: ClaimMapping::parse(&args.oidc_claims)
            .map_err(|e| anyhow::anyhow!("`oidc_claims`: {e}"))?,
    };
    config
        .check()
        .map_err(|e| anyhow::anyhow!("OpenID Connect: {e}"))?;
    Ok(Some(config))
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The trimmed, non-empty content of the file `key` names.
fn secret_file(key: &'static str, path: &Path) -> Result<String, ConfigError> {
    let secret = super::serve::read_secret(path)
        .map_err(|source| ConfigError::SecretFile { key, source })?;
    if secret.is_empty() {
        return Err(ConfigError::EmptySecret {
            key,
            path: path.to_path_buf(),
        });
    }
    Ok(secret)
}

/// `serve`'s arguments with their defaults only: no flags, and no
/// environment (each argument's `env` is cleared).
fn defaults_only() -> anyhow::Result<(ServeArgs, ArgMatches)> {
    parse_without_env(&[])
}

/// `serve`'s arguments from `flags` alone, the environment ignored.
fn parse_without_env(flags: &[&str]) -> anyhow::Result<(ServeArgs, ArgMatches)> {
    let command = ServeArgs::augment_args(clap::Command::new("serve"))
        .mut_args(|arg| arg.env(None::<&'static str>));
    let given =
        command.try_get_matches_from(std::iter::once("serve").chain(flags.iter().copied()))?;
    let args = ServeArgs::from_arg_matches(&given)?;
    Ok((args, given))
}

/// Check `path` as `citadel serve --config PATH` would read it with no
/// flags and no environment: the file, its secrets and payment providers,
/// and the city data and tile URL as the host loads them.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let (mut args, given) = defaults_only()?;
    args.config = Some(path.to_path_buf());
    merge(&mut args, &given, &|_| None)?;
    let in_file = |e: anyhow::Error| anyhow::anyhow!("{}: {e}", path.display());
    Secrets::read(&args, &|_| None).map_err(in_file)?;
    match &args.city_data {
        Some(dir) => citadel_host::geo::City::from_dir(dir),
        None => citadel_host::geo::City::embedded(),
    }
    .and_then(|city| city.with_tile_url(args.tile_url.clone()))
    .map_err(|e| in_file(e.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write `text` as `citadel.toml` in `dir`.
    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("citadel.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `serve`'s arguments from `flags` (no environment) and `--config file`.
    fn merged(file: &Path, flags: &[&str]) -> Result<ServeArgs, ConfigError> {
        let mut all = vec!["--config", file.to_str().unwrap()];
        all.extend_from_slice(flags);
        let (mut args, given) = parse_without_env(&all).unwrap();
        merge(&mut args, &given, &|_| None).map(|()| args)
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "listen = \"127.0.0.1:0\"\nmax_instance = 5\n");
        let error = check(&file).unwrap_err().to_string();
        assert!(error.contains("`max_instance`"), "{error}");
        assert!(
            error.contains(&format!("{}:2:1", file.display())),
            "{error}"
        );
        assert!(
            error.contains("max_instances"),
            "names what is known: {error}"
        );
    }

    #[test]
    fn a_wrong_type_names_the_key_and_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "max_instances = \"many\"\n");
        let error = check(&file).unwrap_err().to_string();
        assert!(error.contains("`max_instances`"), "{error}");
        assert!(error.contains(":1:17"), "{error}");
        assert!(error.contains("u32"), "{error}");
        for (text, key) in [
            ("dev = \"yes\"\n", "dev"),
            ("listen = \"here\"\n", "listen"),
            ("log_format = \"xml\"\n", "log_format"),
            ("payment_providers = \"momo\"\n", "payment_providers"),
            ("max_connections = -1\n", "max_connections"),
        ] {
            let file = write(dir.path(), text);
            let error = check(&file).unwrap_err().to_string();
            assert!(error.contains(&format!("`{key}`")), "{text}: {error}");
        }
    }

    #[test]
    fn values_out_of_range_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (text, key) in [
            ("app_share_percent = 0\n", "app_share_percent"),
            ("app_share_percent = 101\n", "app_share_percent"),
            ("max_loaded_components = 0\n", "max_loaded_components"),
        ] {
            let file = write(dir.path(), text);
            let error = check(&file).unwrap_err().to_string();
            assert!(error.contains(&format!("`{key}`")), "{text}: {error}");
            assert!(error.contains(":1:"), "{text}: {error}");
        }
    }

    #[test]
    fn database_url_and_database_url_file_in_one_place_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("database-url");
        std::fs::write(&url_file, "postgres://citadel:s3cret@db/citadel\n").unwrap();
        let file = write(
            dir.path(),
            &format!(
                "database_url = \"postgres://citadel:s3cret@db/citadel\"\n\
                 database_url_file = \"{}\"\n",
                url_file.display()
            ),
        );
        let error = check(&file).unwrap_err().to_string();
        assert!(
            error.contains("`database_url` and `database_url_file`"),
            "{error}"
        );
        assert!(error.contains(&file.display().to_string()), "{error}");
        assert!(!error.contains("s3cret"), "no secret in errors: {error}");

        // On the command line too.
        let empty = write(dir.path(), "");
        let both = merged(
            &empty,
            &[
                "--database-url",
                "postgres://a@b/c",
                "--database-url-file",
                url_file.to_str().unwrap(),
            ],
        );
        assert!(
            matches!(both, Err(ConfigError::TwoWays { ref place, .. }) if place == "on the command line")
        );

        // In different places, the higher wins.
        let file = write(
            dir.path(),
            &format!("database_url_file = \"{}\"\n", url_file.display()),
        );
        let args = merged(&file, &["--database-url", "postgres://flag@db/citadel"]).unwrap();
        assert_eq!(
            args.database_url.as_deref(),
            Some("postgres://flag@db/citadel")
        );
        assert_eq!(args.database_url_file, None);
        let args = merged(&file, &[]).unwrap();
        let secrets = Secrets::read(&args, &|_| None).unwrap();
        assert_eq!(
            secrets.database_url.as_deref(),
            Some("postgres://citadel:s3cret@db/citadel"),
            "read from the file, trimmed"
        );
    }

    #[test]
    fn a_missing_secret_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-secret");
        for key in [
            "database_url_file",
            "operator_token_file",
            "metrics_token_file",
        ] {
            let file = write(dir.path(), &format!("{key} = \"{}\"\n", missing.display()));
            let error = check(&file).unwrap_err().to_string();
            assert!(error.contains(&missing.display().to_string()), "{error}");
            assert!(error.contains(&file.display().to_string()), "{error}");
        }
        let file = write(
            dir.path(),
            &format!(
                "payment_providers = [\"momo={},https://payment.momo.vn/checkout\"]\n",
                missing.display()
            ),
        );
        let error = check(&file).unwrap_err().to_string();
        assert!(error.contains(&missing.display().to_string()), "{error}");
    }

    #[test]
    fn the_file_fills_what_flags_leave_at_their_default() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("operator-token");
        std::fs::write(&token, "an-operator-token-0123456789\n").unwrap();
        let file = write(
            dir.path(),
            &format!(
                "listen = \"0.0.0.0:8080\"\n\
                 max_instances = 400\n\
                 dev = true\n\
                 no_samples = true\n\
                 payment_providers = [\"a=/x,https://a.vn\"]\n\
                 log_format = \"json\"\n\
                 tile_url = \"https://tiles.example.vn/{{z}}/{{x}}/{{y}}.png\"\n\
                 operator_token_file = \"{}\"\n",
                token.display()
            ),
        );
        let args = merged(&file, &[]).unwrap();
        assert_eq!(args.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(args.max_instances, 400);
        assert!(args.dev && args.no_samples);
        assert_eq!(args.payment_providers, ["a=/x,https://a.vn"]);
        assert_eq!(args.log_format, LogFormat::Json);
        assert_eq!(args.app_share_percent, 25, "the default, not in the file");
        let secrets = Secrets::read(
            &ServeArgs {
                payment_providers: Vec::new(),
                ..args
            },
            &|_| None,
        )
        .unwrap();
        assert_eq!(
            secrets.operator_token.as_deref(),
            Some("an-operator-token-0123456789")
        );

        let args = merged(
            &file,
            &[
                "--listen",
                "127.0.0.1:9",
                "--max-instances",
                "7",
                "--payment-provider",
                "b=/y,https://b.vn",
                "--log-format",
                "text",
            ],
        )
        .unwrap();
        assert_eq!(args.listen, "127.0.0.1:9".parse().unwrap());
        assert_eq!(args.max_instances, 7);
        assert_eq!(args.payment_providers, ["b=/y,https://b.vn"]);
        assert_eq!(args.log_format, LogFormat::Text);
    }

    #[test]
    fn the_operator_token_in_the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("operator-token");
        std::fs::write(&token, "from-the-file-0123456789\n").unwrap();
        let file = write(
            dir.path(),
            &format!("operator_token_file = \"{}\"\n", token.display()),
        );
        let env = |name: &str| {
            (name == "CITADEL_OPERATOR_TOKEN").then(|| "from-the-environment-0123".to_string())
        };
        let (mut args, given) = parse_without_env(&["--config", file.to_str().unwrap()]).unwrap();
        merge(&mut args, &given, &env).unwrap();
        let secrets = Secrets::read(&args, &env).unwrap();
        assert_eq!(
            secrets.operator_token.as_deref(),
            Some("from-the-environment-0123")
        );
        // The file named on the command line wins over the environment.
        let (mut args, given) =
            parse_without_env(&["--operator-token-file", token.to_str().unwrap()]).unwrap();
        merge(&mut args, &given, &env).unwrap();
        let secrets = Secrets::read(&args, &env).unwrap();
        assert_eq!(
            secrets.operator_token.as_deref(),
            Some("from-the-file-0123456789")
        );
    }

    #[test]
    fn the_public_url_is_an_origin_and_gives_the_openid_callback() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("oidc-secret");
        std::fs::write(&secret, "an-oidc-client-secret\n").unwrap();
        let file = write(
            dir.path(),
            &format!(
                "public_url = \"https://app.hue.gov.vn\"\n\
                 oidc_issuer = \"https://sso.hue.gov.vn/realms/hue\"\n\
                 oidc_client_id = \"citadel\"\n\
                 oidc_client_secret_file = \"{}\"\n",
                secret.display()
            ),
        );
        let args = merged(&file, &[]).unwrap();
        let read = Secrets::read(&args, &|_| None).unwrap();
        assert_eq!(
            read.public_url.as_ref().map(PublicUrl::origin),
            Some("https://app.hue.gov.vn")
        );
        assert_eq!(
            read.oidc.unwrap().redirect_url,
            "https://app.hue.gov.vn/auth/oidc/callback"
        );
        // Neither a public URL nor a redirect URL: the redirect is asked for.
        let args = merged(&file, &["--public-url", ""]).unwrap();
        let error = Secrets::read(&args, &|_| None).err().unwrap().to_string();
        assert!(
            error.contains("oidc_redirect_url` (or `public_url"),
            "{error}"
        );
        // A path is no public URL; the key is named.
        let args = merged(&file, &["--public-url", "https://hue.gov.vn/citadel"]).unwrap();
        let error = Secrets::read(&args, &|_| None).err().unwrap().to_string();
        assert!(error.starts_with("`public_url`: "), "{error}");
        assert!(error.contains("must be an origin"), "{error}");
    }

    #[test]
    fn every_serve_option_is_a_key_of_the_file() {
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "config" {
                continue;
            }
            // Any type will do: only an unknown key is looked for.
            let error = toml::from_str::<FileValues>(&format!("{id} = {{}}\n"))
                .err()
                .map(|e| e.message().to_string())
                .unwrap_or_default();
            assert!(!error.contains("unknown field"), "{id}: {error}");
        }
    }

    #[test]
    fn a_full_file_is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let secret = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let database = secret("database-url", "postgres://citadel:pw@localhost/citadel\n");
        let operator = secret("operator-token", "an-operator-token-0123456789\n");
        let metrics = secret("metrics-token", "a-scrape-token-0123456789\n");
        let vnpay = secret("vnpay.secret", "a-shared-hmac-secret-0123\n");
        let file = write(
            dir.path(),
            &format!(
                r#"listen = "0.0.0.0:8080"
data_dir = "/var/lib/citadel"
database_url_file = "{database}"
max_instances = 400
app_share_percent = 20
max_loaded_components = 512
max_connections = 4096
header_timeout_secs = 15
shutdown_grace_secs = 5
no_samples = true
dev = false
metrics_token_file = "{metrics}"
operator_token_file = "{operator}"
payment_providers = ["vnpay={vnpay},https://pay.vnpay.vn/checkout"]
tile_url = "https://tiles.example.vn/{{z}}/{{x}}/{{y}}.png"
log_format = "json"
"#
            ),
        );
        check(&file).unwrap();
    }
}
