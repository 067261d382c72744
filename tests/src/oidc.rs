//! A real OpenID provider for the tests (`tools/oidc-provider`: panva's
//! certified `oidc-provider` under node), and a citizen's browser walking
//! its login page over plain HTTP, cookies kept by hand.

use citadel_host::identity::oidc::{ClaimMapping, OidcConfig};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const CLIENT_ID: &str = "citadel";
pub const CLIENT_SECRET: &str = "citadel-test-secret-0123456789abcdef";
/// How long a start may take to say where it listens (about a second here).
const START_PATIENCE: Duration = Duration::from_secs(30);
/// Starts tried before a test gives up.
const START_TRIES: usize = 3;

/// The provider, stopped when dropped.
pub struct Provider {
    child: Child,
    pub issuer: String,
}

fn tool_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/oidc-provider")
}

impl Provider {
    /// Start it, or `None` (after saying so; a panic under CI) when node or
    /// the provider's packages are missing here.
    pub fn start() -> Option<Provider> {
        let dir = tool_dir();
        let ready = dir.join("node_modules/oidc-provider").is_dir()
            && Command::new("node").arg("--version").output().is_ok();
        citadel_host::store::postgres_testing::required(
            ready.then_some(()),
            "no OpenID provider here (node and tools/oidc-provider/node_modules)",
            "run `npm ci` in tools/oidc-provider",
        )?;
        // node has been seen to hang before it listens (a futex wait, once
        // in many starts): a start that says nothing in time is killed and
        // tried again.
        for _ in 0..START_TRIES {
            if let Some(provider) = Self::spawn(&dir) {
                return Some(provider);
            }
        }
        panic!("the OpenID provider did not start in {START_TRIES} tries");
    }

    /// One start: the provider once it says where it listens, or `None`
    /// (killed) when it says nothing within [`START_PATIENCE`].
    fn spawn(dir: &Path) -> Option<Provider> {
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout");
        let (first_line, said) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut first = String::new();
            let _ = stdout.read_line(&mut first);
            let _ = first_line.send(first);
            // Read whatever else it prints, so it never writes to a closed pipe.
            for _ in stdout.lines() {}
        });
        let first = said
            .recv_timeout(START_PATIENCE)
            .ok()
            .filter(|line| !line.is_empty());
        let Some(first) = first else {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        let line: serde_json::Value =
            serde_json::from_str(&first).expect("the provider's first line is JSON");
        let issuer = line["issuer"].as_str().expect("an issuer").to_string();
        Some(Provider { child, issuer })
    }

    /// The host's settings for this provider, its callback on `host`.
    pub fn config(&self, host: std::net::SocketAddr) -> OidcConfig {
        OidcConfig {
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_url: format!("http://{host}/auth/oidc/callback"),
            scopes: ["openid", "profile", "phone", "address", "citadel"]
                .map(String::from)
                .to_vec(),
            claims: ClaimMapping::parse("roles=citadel_roles").expect("a valid mapping"),
        }
    }

    /// Make the token endpoint misbehave: `honest`, `unknown-key`,
    /// `wrong-audience`, `expired`, `other-issuer` or `rotated`.
    pub async fn set_mode(&self, mode: &str) {
        let answer = reqwest::Client::new()
            .post(format!("{}/__test/mode", self.issuer))
            .json(&serde_json::json!({ "mode": mode }))
            .send()
            .await
            .expect("the provider answers");
        assert!(answer.status().is_success());
    }

    /// Stop it (a provider that is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A browser with cookies per origin, following nothing by itself.
#[derive(Default)]
pub struct Browser {
    jar: BTreeMap<String, BTreeMap<String, String>>,
}

fn origin(url: &str) -> String {
    url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/")
}

impl Browser {
    /// GET (or POST a form to) `url` with this origin's cookies; keeps the
    /// answer's cookies.
    pub async fn send(&mut self, url: &str, form: Option<&[(&str, &str)]>) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let mut request = match form {
            Some(fields) => client
                .post(url)
                .body(
                    fields
                        .iter()
                        .map(|(k, v)| format!("{k}={}", urlencode(v)))
                        .collect::<Vec<_>>()
                        .join("&"),
                )
                .header("content-type", "application/x-www-form-urlencoded"),
            None => client.get(url),
        };
        let cookies = self.cookies(url);
        if !cookies.is_empty() {
            request = request.header("cookie", cookies);
        }
        let response = request.send().await.expect("the server answers");
        let jar = self.jar.entry(origin(url)).or_default();
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || text.contains("Max-Age=0") {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_string(), value.to_string());
                }
            }
        }
        response
    }

    /// The `Cookie` header this browser sends to `url`'s origin.
    pub fn cookies(&self, url: &str) -> String {
        self.jar
            .get(&origin(url))
            .map(|jar| {
                jar.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    /// One cookie of `url`'s origin.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.jar.get(&origin(url))?.get(name).cloned()
    }

    /// Start a sign-in at `host` and sign in as `login` on the provider's
    /// page; the callback URL the provider sends the browser back to (not
    /// yet visited).
    pub async fn through_provider(&mut self, host: &str, login: &str) -> String {
        self.through_provider_returning(host, login, "/%23/inbox")
            .await
    }

    /// As [`Browser::through_provider`], coming back to `return_path`
    /// (already percent-encoded).
    pub async fn through_provider_returning(
        &mut self,
        host: &str,
        login: &str,
        return_path: &str,
    ) -> String {
        let start = self
            .send(
                &format!("{host}/auth/oidc/login?return={return_path}"),
                None,
            )
            .await;
        assert_eq!(
            start.status(),
            303,
            "the host sends the citizen to the provider"
        );
        let mut next = location(&start);
        // The provider's pages: its login form, then back to the host.
        for _ in 0..6 {
            if next.contains("/auth/oidc/callback") {
                return next;
            }
            let response = self.send(&next, None).await;
            if response.status().is_redirection() {
                next = location(&response);
                continue;
            }
            let page = response.text().await.expect("a page");
            let action = page
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("the provider's login form");
            let action = if action.starts_with('/') {
                format!("{}{action}", origin(&next))
            } else {
                action.to_string()
            };
            // The form's own prompt: `login` (any password), or `consent`.
            let prompt = page
                .split("name=\"prompt\" value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("login")
                .to_string();
            let fields: &[(&str, &str)] = if prompt == "login" {
                &[("prompt", "login"), ("login", login), ("password", "x")]
            } else {
                &[("prompt", "consent")]
            };
            let submitted = self.send(&action, Some(fields)).await;
            assert!(
                submitted.status().is_redirection(),
                "{}",
                submitted.status()
            );
            next = location(&submitted);
        }
        panic!("the provider never sent the citizen back; last at {next}");
    }
}

/// The `Location` of a redirect, absolute.
pub fn location(response: &reqwest::Response) -> String {
    let to = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_string();
    if to.starts_with('/') {
        format!("{}{to}", origin(response.url().as_str()))
    } else {
        to
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
