//! Citizens signed in by the city's OpenID Connect provider: the
//! authorization-code flow with PKCE, `state` and `nonce` (carried in a
//! signed, short-lived cookie, so any host of several finishes what another
//! began), discovery and JWKS cached and fetched again for a rotated key, ID
//! tokens verified by `openidconnect`, and the provider's claims mapped to
//! Citadel's personal fields.

use super::citizens::{IdentityProvider, SignInError};
use crate::citizen::{Citizen, Role};
use hmac::{Hmac, Mac};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreTokenResponse};
use openidconnect::{
    AccessToken, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, ProviderMetadataWithLogout, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// The cookie that carries a sign-in in progress.
pub const LOGIN_COOKIE: &str = "citadel_oidc";
/// How long a citizen may take at the provider's login page.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// Discovery and keys are fetched again after this long (and at once for
/// an ID token signed by a key the cached set lacks).
const METADATA_TTL: Duration = Duration::from_secs(60 * 60);
/// The longest one request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Which claim holds each personal field: a claim name, or a dotted path
/// into an object claim (`address.formatted`). An empty name maps nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimMapping {
    pub name: String,
    pub phone: String,
    pub national_id: String,
    pub address: String,
    pub birth_date: String,
    /// A list of `unit:role` strings or `{unit, role}` objects.
    pub roles: String,
    pub locale: String,
}

impl Default for ClaimMapping {
    /// The standard claims of OpenID Connect Core §5.1, and `national_id`
    /// and `roles` for the two it lacks.
    fn default() -> Self {
        ClaimMapping {
            name: "name".into(),
            phone: "phone_number".into(),
            national_id: "national_id".into(),
            address: "address.formatted".into(),
            birth_date: "birthdate".into(),
            roles: "roles".into(),
            locale: "locale".into(),
        }
    }
}

impl ClaimMapping {
    /// Parse `field=claim,field=claim` over the defaults, naming an unknown
    /// field.
    pub fn parse(text: &str) -> Result<ClaimMapping, String> {
        let mut mapping = ClaimMapping::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, claim) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not `field=claim`"))?;
            let slot = match field.trim() {
                "name" => &mut mapping.name,
                "phone" => &mut mapping.phone,
                "national_id" => &mut mapping.national_id,
                "address" => &mut mapping.address,
                "birth_date" => &mut mapping.birth_date,
                "roles" => &mut mapping.roles,
                "locale" => &mut mapping.locale,
                other => {
                    return Err(format!(
                        "unknown field `{other}`: map name, phone, national_id, address, \
                         birth_date, roles or locale"
                    ))
                }
            };
            *slot = claim.trim().to_string();
        }
        Ok(mapping)
    }

    /// The fields the mapping wants that `claims` lacks.
    fn missing(&self, claims: &Value) -> bool {
        [&self.name, &self.phone, &self.address, &self.birth_date]
            .into_iter()
            .any(|path| !path.is_empty() && lookup(claims, path).is_none())
    }

    /// The citizen `claims` describe, as `id`.
    fn citizen(&self, id: String, claims: &Value) -> Citizen {
        let text = |path: &str| match lookup(claims, path) {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let roles = match lookup(claims, &self.roles) {
            Some(Value::Array(items)) => items.iter().filter_map(role).collect(),
            _ => Vec::new(),
        };
        let locale = text(&self.locale);
        Citizen {
            id,
            name: text(&self.name),
            phone: text(&self.phone),
            national_id: text(&self.national_id),
            address: text(&self.address),
            birth_date: text(&self.birth_date),
            locale: if locale.starts_with("en") { "en" } else { "vi" }.into(),
            roles,
        }
    }
}

fn lookup<'v>(claims: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return None;
    }
    path.split('.')
        .try_fold(claims, |value, key| value.get(key))
        .filter(|v| !v.is_null())
}

fn role(item: &Value) -> Option<Role> {
    let (unit, role) = match item {
        Value::String(s) => {
            let (unit, role) = s.split_once(':')?;
            (unit.to_string(), role.to_string())
        }
        Value::Object(o) => (
            o.get("unit")?.as_str()?.to_string(),
            o.get("role")?.as_str()?.to_string(),
        ),
        _ => return None,
    };
    (!unit.is_empty() && !role.is_empty()).then_some(Role { unit, role })
}

/// How the host signs citizens in with an OpenID provider.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Ends in `/auth/oidc/callback`; registered at the provider.
    pub redirect_url: String,
    /// Requested scopes; `openid` is always among them.
    pub scopes: Vec<String>,
    pub claims: ClaimMapping,
}

impl std::fmt::Debug for OidcConfig {
    /// Never the client secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("claims", &self.claims)
            .finish()
    }
}

/// The host's callback path: a provider sends citizens back there.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";

impl OidcConfig {
    /// Check what can be checked before the provider is asked anything.
    pub fn check(&self) -> Result<(), String> {
        IssuerUrl::new(self.issuer.clone()).map_err(|e| format!("the issuer URL: {e}"))?;
        let redirect = openidconnect::url::Url::parse(&self.redirect_url)
            .map_err(|e| format!("the redirect URL: {e}"))?;
        if redirect.path() != CALLBACK_PATH {
            return Err(format!(
                "the redirect URL's path must be {CALLBACK_PATH}, not {}",
                redirect.path()
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err("the client id is empty".into());
        }
        if self.client_secret.trim().len() < 8 {
            return Err("the client secret is missing or shorter than 8 characters".into());
        }
        Ok(())
    }
}

/// Why a sign-in through the provider was refused. Each has a stable code
/// for the log, the audit record and the citizen's page.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the sign-in was not started here, has expired, or its state does not match")]
    StateMismatch,
    #[error("the provider answered with an error: {0}")]
    ProviderRefused(String),
    #[error("the provider refused the authorization code (used already, or expired): {0}")]
    CodeRejected(String),
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    #[error("the provider cannot be reached: {0}")]
    ProviderUnavailable(String),
    #[error("the provider's configuration is not usable: {0}")]
    Misconfigured(String),
}

impl OidcError {
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::StateMismatch => "oidc_state_mismatch",
            OidcError::ProviderRefused(_) => "oidc_provider_refused",
            OidcError::CodeRejected(_) => "oidc_code_rejected",
            OidcError::InvalidToken(_) => "oidc_invalid_token",
            OidcError::ProviderUnavailable(_) => "oidc_provider_unavailable",
            OidcError::Misconfigured(_) => "oidc_misconfigured",
        }
    }
}

/// A sign-in in progress, as its cookie carries it.
#[derive(Debug, Serialize, Deserialize)]
struct PendingLogin {
    state: String,
    nonce: String,
    verifier: String,
    /// A local path of the shell to return to.
    return_to: String,
    /// Unix seconds.
    expires: u64,
}

/// What a callback brings back (`?code=…&state=…`, or `?error=…`).
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207: the issuer that answered, when the provider says.
    pub iss: Option<String>,
}

/// A finished sign-in.
pub struct SignedIn {
    pub citizen: Citizen,
    pub return_to: String,
}

type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Discovered {
    client: DiscoveredClient,
    end_session: Option<openidconnect::url::Url>,
    fetched: Instant,
}

/// The OpenID Connect provider of a host.
pub struct OidcProvider {
    config: OidcConfig,
    http: reqwest::Client,
    /// Signs the login cookie; shared by every host of one store.
    cookie_key: Vec<u8>,
    discovered: RwLock<Option<Discovered>>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unavailable(e: impl std::fmt::Display) -> OidcError {
    OidcError::ProviderUnavailable(e.to_string())
}

impl OidcProvider {
    /// A provider for `config`, signing login cookies with `cookie_key`.
    /// Asks the provider nothing yet: discovery happens at the first sign-in.
    pub fn new(config: OidcConfig, cookie_key: Vec<u8>) -> Result<OidcProvider, String> {
        config.check()?;
        let http = reqwest::Client::builder()
            // The provider's answers are final: following a redirect could
            // send the client secret or a code elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(OidcProvider {
            config,
            http,
            cookie_key,
            discovered: RwLock::new(None),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The provider's client, from the cache unless it is older than
    /// [`METADATA_TTL`] or `refresh` asks for a fresh one.
    async fn client(&self, refresh: bool) -> Result<DiscoveredClient, OidcError> {
        if !refresh {
            if let Some(found) = self.discovered.read().await.as_ref() {
                if found.fetched.elapsed() < METADATA_TTL {
                    return Ok(found.client.clone());
                }
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OidcError::Misconfigured(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| unavailable(format!("discovery: {e}")))?;
        let end_session = metadata
            .additional_metadata()
            .end_session_endpoint
            .as_ref()
            .map(|u| u.url().clone());
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|e| OidcError::Misconfigured(e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        *self.discovered.write().await = Some(Discovered {
            client: client.clone(),
            end_session,
            fetched: Instant::now(),
        });
        Ok(client)
    }

    /// Start a sign-in: the provider's authorization URL to send the
    /// citizen to, and the login cookie's value.
    pub async fn begin(
        &self,
        return_to: &str,
    ) -> Result<(openidconnect::url::Url, String), OidcError> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.config.scopes {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            return_to: return_to.to_string(),
            expires: now() + LOGIN_TTL.as_secs(),
        };
        Ok((url, self.seal(&pending)?))
    }

    /// Finish a sign-in from the provider's callback and the login cookie.
    pub async fn finish(
        &self,
        callback: &Callback,
        cookie: Option<&str>,
    ) -> Result<SignedIn, OidcError> {
        let pending = cookie
            .and_then(|c| self.open(c))
            .filter(|p| p.expires > now())
            .ok_or(OidcError::StateMismatch)?;
        let state = callback.state.as_deref().unwrap_or_default();
        if !constant_eq(state.as_bytes(), pending.state.as_bytes()) {
            return Err(OidcError::StateMismatch);
        }
        if let Some(iss) = &callback.iss {
            if iss != &self.config.issuer {
                return Err(OidcError::InvalidToken(format!(
                    "the answer comes from issuer {iss}, not {}",
                    self.config.issuer
                )));
            }
        }
        if let Some(error) = &callback.error {
            let description = callback.error_description.as_deref().unwrap_or("");
            return Err(OidcError::ProviderRefused(
                format!("{error} {description}").trim().to_string(),
            ));
        }
        let code = callback
            .code
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OidcError::ProviderRefused("no authorization code".into()))?;
        let client = self.client(false).await?;
        let tokens: CoreTokenResponse = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Misconfigured(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(answer) => {
                    OidcError::CodeRejected(answer.to_string())
                }
                other => unavailable(format!("token endpoint: {other}")),
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::InvalidToken("the answer carries no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let verified = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // A key the cached set lacks: the provider may have rotated.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let fresh = self.client(true).await?;
                let verifier = fresh.id_token_verifier();
                let claims = id_token
                    .claims(&verifier, &nonce)
                    .map_err(|e| OidcError::InvalidToken(e.to_string()))?
                    .clone();
                claims
            }
            Err(e) => return Err(OidcError::InvalidToken(e.to_string())),
        };
        let subject = verified.subject().as_str().to_string();
        let mut claims = jwt_payload(&id_token.to_string())?;
        if self.config.claims.missing(&claims) {
            self.merge_userinfo(&client, tokens.access_token(), &subject, &mut claims)
                .await?;
        }
        let id = citizen_id(&self.config.issuer, &subject);
        Ok(SignedIn {
            citizen: self.config.claims.citizen(id, &claims),
            return_to: pending.return_to,
        })
    }

    /// Add the userinfo endpoint's claims to `claims` (never over the ID
    /// token's), after checking they are about the same subject.
    async fn merge_userinfo(
        &self,
        client: &DiscoveredClient,
        access_token: &AccessToken,
        subject: &str,
        claims: &mut Value,
    ) -> Result<(), OidcError> {
        let Some(endpoint) = client.user_info_url() else {
            return Ok(());
        };
        let answer = self
            .http
            .get(endpoint.url().clone())
            .bearer_auth(access_token.secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(format!("userinfo: {e}")))?;
        if !answer.status().is_success() {
            return Err(OidcError::ProviderRefused(format!(
                "userinfo answered {}",
                answer.status()
            )));
        }
        let info: Value = answer
            .json()
            .await
            .map_err(|e| OidcError::InvalidToken(format!("userinfo is not JSON: {e}")))?;
        if info.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(OidcError::InvalidToken(
                "userinfo describes another subject".into(),
            ));
        }
        if let (Value::Object(into), Value::Object(from)) = (claims, info) {
            for (key, value) in from {
                into.entry(key).or_insert(value);
            }
        }
        Ok(())
    }

    /// Where to send a signed-out citizen so the provider ends its session
    /// too, if it says where; `back_to` is where it sends them after.
    pub async fn end_session_url(&self, back_to: &str) -> Option<openidconnect::url::Url> {
        self.client(false).await.ok()?;
        let discovered = self.discovered.read().await;
        let mut url = discovered.as_ref()?.end_session.clone()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("post_logout_redirect_uri", back_to);
        Some(url)
    }

    /// The post-logout address: the shell at the redirect URL's origin.
    pub fn shell_url(&self) -> String {
        openidconnect::url::Url::parse(&self.config.redirect_url)
            .map(|u| u.origin().ascii_serialization() + "/")
            .unwrap_or_else(|_| "/".into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.cookie_key).expect("HMAC takes any key length")
    }

    /// `hex(json).hex(hmac)`.
    fn seal(&self, pending: &PendingLogin) -> Result<String, OidcError> {
        let json =
            serde_json::to_vec(pending).map_err(|e| OidcError::Misconfigured(e.to_string()))?;
        let mut mac = self.mac();
        mac.update(&json);
        Ok(format!(
            "{}.{}",
            hex::encode(&json),
            hex::encode(mac.finalize().into_bytes())
        ))
    }

    fn open(&self, sealed: &str) -> Option<PendingLogin> {
        let (body, tag) = sealed.split_once('.')?;
        let json = hex::decode(body).ok()?;
        let mut mac = self.mac();
        mac.update(&json);
        mac.verify_slice(&hex::decode(tag).ok()?).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

/// A citizen's id: stable for one subject of one issuer, and naming
/// neither.
pub fn citizen_id(issuer: &str, subject: &str) -> String {
    let digest = Sha256::digest(format!("{issuer}\n{subject}").as_bytes());
    format!("oidc-{}", &hex::encode(digest)[..32])
}

/// The payload of a compact JWT (already verified by the caller).
fn jwt_payload(token: &str) -> Result<Value, OidcError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| OidcError::InvalidToken("not a compact JWT".into()))?;
    let bytes = base64_url_decode(payload)
        .ok_or_else(|| OidcError::InvalidToken("the payload is not base64url".into()))?;
    serde_json::from_slice(&bytes).map_err(|e| OidcError::InvalidToken(e.to_string()))
}

fn base64_url_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        buffer = (buffer << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// As an [`IdentityProvider`]: citizens come only through the flow above,
/// and their fields live in their sessions.
impl IdentityProvider for OidcProvider {
    fn kind(&self) -> &'static str {
        "oidc"
    }

    fn sign_in(&self, _credential: &str) -> Result<Citizen, SignInError> {
        Err(SignInError::NotSupported)
    }

    fn citizen(&self, _id: &str) -> Option<Citizen> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_map_to_the_personal_fields() {
        let mapping = ClaimMapping::parse("roles=citadel_roles").unwrap();
        let claims = serde_json::json!({
            "sub": "lan",
            "name": "Nguyễn Thị Lan",
            "phone_number": "+84905111222",
            "address": { "formatted": "12 Lê Lợi, Huế" },
            "birthdate": "1990-04-12",
            "national_id": 46190000123u64,
            "citadel_roles": ["phuong-phu-hoi:staff", { "unit": "bai-do-xe", "role": "gate" }, "nonsense"],
            "locale": "en-GB",
        });
        let citizen = mapping.citizen("oidc-1".into(), &claims);
        assert_eq!(citizen.name, "Nguyễn Thị Lan");
        assert_eq!(citizen.address, "12 Lê Lợi, Huế");
        assert_eq!(citizen.national_id, "46190000123");
        assert_eq!(citizen.locale, "en");
        assert_eq!(
            citizen.roles,
            [
                Role {
                    unit: "phuong-phu-hoi".into(),
                    role: "staff".into()
                },
                Role {
                    unit: "bai-do-xe".into(),
                    role: "gate".into()
                },
            ]
        );
        assert!(!mapping.missing(&claims));
        assert!(mapping.missing(&serde_json::json!({ "sub": "x" })));
        assert!(ClaimMapping::parse("surname=family_name")
            .unwrap_err()
            .contains("unknown field `surname`"));
    }

    #[test]
    fn a_login_cookie_opens_only_with_its_key_and_untouched() {
        let config = OidcConfig {
            issuer: "https://id.hue.gov.vn".into(),
            client_id: "citadel".into(),
            client_secret: "a-long-enough-secret".into(),
            redirect_url: "https://app.hue.gov.vn/auth/oidc/callback".into(),
            scopes: vec!["openid".into()],
            claims: ClaimMapping::default(),
        };
        let provider = OidcProvider::new(config.clone(), b"key-one".to_vec()).unwrap();
        let pending = PendingLogin {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            return_to: "/".into(),
            expires: now() + 60,
        };
        let sealed = provider.seal(&pending).unwrap();
        assert_eq!(provider.open(&sealed).unwrap().state, "s");
        let other = OidcProvider::new(config, b"key-two".to_vec()).unwrap();
        assert!(other.open(&sealed).is_none());
        let mut tampered = sealed.clone().into_bytes();
        tampered[3] ^= 1;
        assert!(provider
            .open(&String::from_utf8(tampered).unwrap())
            .is_none());
        assert!(!format!("{:?}", provider.config).contains("a-long-enough-secret"));
    }

    #[test]
    fn the_redirect_url_must_end_at_the_callback() {
        let config = OidcConfig {
            issuer: "https://id.hue.gov.vn".into(),
            client_id: "citadel".into(),
            client_secret: "a-long-enough-secret".into(),
            redirect_url: "https://app.hue.gov.vn/elsewhere".into(),
            scopes: vec![],
            claims: ClaimMapping::default(),
        };
        assert!(config.check().unwrap_err().contains("/auth/oidc/callback"));
    }

    #[test]
    fn citizen_ids_are_stable_per_issuer_and_subject() {
        assert_eq!(citizen_id("https://a", "1"), citizen_id("https://a", "1"));
        assert_ne!(citizen_id("https://a", "1"), citizen_id("https://b", "1"));
        assert_eq!(base64_url_decode("eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
    }
}
