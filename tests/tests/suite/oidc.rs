//! Sign-in through a real OpenID provider (`tools/oidc-provider`): the
//! citizen's fields come from the provider's claims, their id is stable
//! across sign-ins, sign-out points at the provider's end-session endpoint,
//! a rotated signing key is fetched again. Every refusal — a tampered or
//! missing state, a replayed code, a token signed by an unknown key, for
//! another audience, expired or from another issuer, the provider's own
//! error, the provider down — leaves no session and one audit record.

use citadel_tests::oidc::{Browser, Provider};
use citadel_tests::{audit, client, TestHost};

async fn start(provider: &Provider, dir: &std::path::Path) -> TestHost {
    TestHost::start_at(dir, |config, addr| {
        config.oidc = Some(provider.config(addr));
    })
    .await
}

/// The session the callback opened, if any.
fn session_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next()?.strip_prefix("citadel_session="))
        .find(|token| !token.is_empty())
        .map(str::to_string)
}

async fn me(host: &TestHost, token: &str) -> serde_json::Value {
    let answer = client()
        .get(host.url("/api/v1/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_signs_in_with_the_provider() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(&provider, dir.path()).await;
    let base = host.url("");

    let shell = me(&host, "").await;
    assert_eq!(shell["sign_in"]["kind"], "oidc", "{shell}");
    // The demo citizens are off with a real provider, even in development mode.
    let demo = client()
        .post(host.url("/api/v1/login"))
        .json(&serde_json::json!({ "citizen": "c-lan" }))
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), 403);

    let mut browser = Browser::default();
    let back = browser.through_provider(&base, "khang").await;
    let landed = browser.send(&back, None).await;
    assert_eq!(landed.status(), 303);
    assert_eq!(
        citadel_tests::oidc::location(&landed),
        format!("{base}/#/inbox")
    );
    let token = session_of(&landed).expect("a session");
    assert_eq!(
        browser.cookie(&base, "citadel_oidc"),
        None,
        "the login cookie is spent"
    );

    // A long page to come back to still fits the login cookie; a longer
    // one than the host keeps signs in all the same, back at the home page.
    for (length, lands_on) in [(1000, None), (2000, Some("/"))] {
        let page = format!("/{}", "a".repeat(length - 1));
        let mut browser = Browser::default();
        let back = browser
            .through_provider_returning(&base, "khang", &page)
            .await;
        let landed = browser.send(&back, None).await;
        assert_eq!(landed.status(), 303, "return path of {length}");
        assert!(session_of(&landed).is_some(), "return path of {length}");
        assert_eq!(
            citadel_tests::oidc::location(&landed),
            format!("{base}{}", lands_on.unwrap_or(&page))
        );
    }

    // The fields come from the provider (through userinfo: the ID token
    // carries only the subject), roles through the configured mapping.
    let citizen = &me(&host, &token).await["citizen"];
    assert_eq!(citizen["name"], "Trần Minh Khang (OIDC)", "{citizen}");
    assert_eq!(citizen["phone"], "+84905333444");
    assert_eq!(citizen["address"], "7 Đinh Tiên Hoàng, Thuận Hòa, Huế");
    assert_eq!(citizen["birth_date"], "1985-09-30");
    assert_eq!(citizen["national_id"], "046185000456");
    assert_eq!(citizen["roles"][0]["unit"], "phuong-phu-hoi", "{citizen}");
    let id = citizen["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("oidc-"), "{id}");
    assert!(
        !id.contains("khang"),
        "the id names neither issuer nor subject"
    );

    // An app sees the name once the citizen consents, as with any provider.
    let consented = client()
        .post(host.url("/api/v1/me/consents"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "app": "public-services", "scopes": ["identity.name"] }))
        .send()
        .await
        .unwrap();
    assert!(consented.status().is_success(), "{}", consented.status());

    // Signing in again is the same citizen.
    let mut again = Browser::default();
    let back = again.through_provider(&base, "khang").await;
    let token_again = session_of(&again.send(&back, None).await).expect("a session");
    assert_eq!(me(&host, &token_again).await["citizen"]["id"], id.as_str());
    let consents: serde_json::Value = client()
        .get(host.url("/api/v1/me/consents"))
        .bearer_auth(&token_again)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        consents.to_string().contains("public-services"),
        "{consents}"
    );
    // Khang's two sign-ins, and the two with long return paths.
    assert_eq!(audit(&host, "kind=sign-in").await.len(), 4);

    // Sign-out ends the session here and names the provider's end-session page.
    let out = client()
        .post(host.url("/api/v1/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let out: serde_json::Value = out.json().await.unwrap();
    let end = out["end_session_url"].as_str().unwrap();
    assert!(
        end.starts_with(&format!("{}/session/end?", provider.issuer)),
        "{end}"
    );
    assert!(end.contains("client_id=citadel"), "{end}");
    assert!(me(&host, &token).await["citizen"].is_null());
    // Signing out everywhere ends Khang's other three sign-ins, and names
    // the provider's page as well.
    let everywhere = client()
        .delete(host.url("/api/v1/me/sessions"))
        .bearer_auth(&token_again)
        .send()
        .await
        .unwrap();
    assert_eq!(everywhere.status(), 200);
    let everywhere: serde_json::Value = everywhere.json().await.unwrap();
    assert_eq!(everywhere["sessions"], 3, "{everywhere}");
    assert_eq!(everywhere["end_session_url"].as_str(), Some(end));
    assert!(me(&host, &token_again).await["citizen"].is_null());

    // The provider rotates its key: the host fetches the new set once.
    provider.set_mode("rotated").await;
    let mut rotated = Browser::default();
    let back = rotated.through_provider(&base, "lan").await;
    let landed = rotated.send(&back, None).await;
    let token = session_of(&landed).expect("a token signed with the new key is accepted");
    assert_eq!(
        me(&host, &token).await["citizen"]["name"],
        "Nguyễn Thị Lan (OIDC)"
    );
    host.stop().await;
}

/// Sign in up to the callback, let `tamper` change the callback URL and
/// the cookies sent with it, and check it is refused with `status` and
/// `code`, no session, and one more audit record.
async fn refused(
    host: &TestHost,
    login: &str,
    tamper: impl FnOnce(String, String) -> (String, String),
    status: u16,
    code: &str,
) {
    let before = audit(host, "kind=sign-in-refused").await.len();
    let mut browser = Browser::default();
    let base = host.url("");
    let back = browser.through_provider(&base, login).await;
    let (url, cookies) = tamper(back, browser.cookies(&base));
    let mut request = client().get(&url);
    if !cookies.is_empty() {
        request = request.header("cookie", cookies);
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), status, "{code}");
    assert_eq!(session_of(&answer), None, "{code}: no session");
    let page = answer.text().await.unwrap();
    assert!(page.contains("Không đăng nhập được") && page.contains("Could not sign you in"));
    assert!(page.contains(code), "{code} in {page}");
    let records = audit(host, "kind=sign-in-refused").await;
    assert_eq!(records.len(), before + 1, "{code}: one audit record");
    assert!(records.iter().any(|r| r["detail"]
        .as_str()
        .unwrap_or("")
        .contains(&format!("({code})"))));
}

fn untouched(url: String, cookies: String) -> (String, String) {
    (url, cookies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_answer_is_refused_with_no_session() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(&provider, dir.path()).await;

    // A state that is not the one this browser started with.
    refused(
        &host,
        "lan",
        |url, cookies| (url.replace("state=", "state=x"), cookies),
        400,
        "oidc_state_mismatch",
    )
    .await;
    // A callback from another browser: no login cookie.
    refused(
        &host,
        "lan",
        |url, _| (url, String::new()),
        400,
        "oidc_state_mismatch",
    )
    .await;
    // A forged login cookie.
    refused(
        &host,
        "lan",
        |url, cookies| (url, cookies.replace("citadel_oidc=7b", "citadel_oidc=7c")),
        400,
        "oidc_state_mismatch",
    )
    .await;
    // A malformed answer: the state twice (no plain-text extractor error).
    refused(
        &host,
        "lan",
        |url, cookies| (url.replace("state=", "state=x&state="), cookies),
        400,
        "oidc_state_mismatch",
    )
    .await;
    // The provider's own refusal.
    refused(
        &host,
        "lan",
        |url, cookies| {
            let state = url
                .split("state=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .to_string();
            let base = url.split('?').next().unwrap().to_string();
            (format!("{base}?error=access_denied&state={state}"), cookies)
        },
        403,
        "oidc_provider_refused",
    )
    .await;

    // A code used twice: the provider refuses it the second time.
    let mut browser = Browser::default();
    let base = host.url("");
    let back = browser.through_provider(&base, "lan").await;
    let cookies = browser.cookies(&base);
    let first = client()
        .get(&back)
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert!(session_of(&first).is_some());
    let before = audit(&host, "kind=sign-in-refused").await.len();
    let replayed = client()
        .get(&back)
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 400);
    assert_eq!(session_of(&replayed), None);
    assert!(replayed
        .text()
        .await
        .unwrap()
        .contains("oidc_code_rejected"));
    assert_eq!(audit(&host, "kind=sign-in-refused").await.len(), before + 1);

    // ID tokens the provider's token endpoint hands back, re-signed wrong.
    for mode in ["unknown-key", "wrong-audience", "expired", "other-issuer"] {
        provider.set_mode(mode).await;
        refused(&host, "lan", untouched, 401, "oidc_invalid_token").await;
    }
    provider.set_mode("honest").await;
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_gets_a_clear_page() {
    let Some(mut provider) = Provider::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(&provider, dir.path()).await;
    provider.stop();
    let answer = client()
        .get(host.url("/auth/oidc/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let page = answer.text().await.unwrap();
    assert!(page.contains("oidc_provider_unavailable"), "{page}");
    assert!(page.contains("tạm thời không truy cập được"), "{page}");
    assert_eq!(audit(&host, "kind=sign-in-refused").await.len(), 1);
    host.stop().await;
}

/// The whole sign-in in Chromium (`tests/browser-oidc/oidc-sign-in.mjs`):
/// the provider's own login page, the shell signed in, consent to the name
/// in an app that shows it, sign-out at Citadel and at the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_signs_in_on_the_providers_page_in_chromium() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let browser_dir = root.join("browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = browser_dir.join("node_modules/playwright-core").exists()
        && std::path::Path::new(&chromium).exists();
    if citadel_host::store::postgres_testing::required(
        ready.then_some(()),
        "no chromium or playwright-core here",
        "install Debian's chromium and run browser/install",
    )
    .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let host = start(&provider, dir.path()).await;
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-oidc");
    let _ = std::fs::remove_dir_all(&artifacts);
    let setup = serde_json::json!({
        "issuer": provider.issuer,
        "login": "lan",
        "citizen": "Nguyễn Thị Lan (OIDC)",
    });
    let base = host.url("");
    let run = tokio::process::Command::new("node")
        .arg(browser_dir.join("run.mjs"))
        .env("CITADEL_BASE", base.trim_end_matches('/'))
        .env("CITADEL_ARTIFACTS", &artifacts)
        .env("CITADEL_SETUP", setup.to_string())
        .env("CITADEL_SCENARIO_DIR", root.join("tests/browser-oidc"))
        .env_remove("CITADEL_SCENARIOS")
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "the OpenID scenario failed (screenshots in {}):\n{stdout}\n{stderr}",
        artifacts.display()
    );
    assert_eq!(audit(&host, "kind=sign-in").await.len(), 1);
    host.stop().await;
}
