//! Frame tokens (`/f/{token}/apps/{app}/…`): a token names its citizen to
//! one app only, for a while, while its session lasts, and is never a
//! session itself.

use citadel_tests::{client, get, open_frame, sign_in, TestHost};
use serde_json::{json, Value};
use std::time::Duration;

/// The token inside a frame URL.
fn token_of(url: &str) -> &str {
    url.trim_start_matches("/f/").split('/').next().unwrap()
}

/// What the app `hostile` at `url` (`/f/{token}/apps/{app}/`) sees of its
/// caller: its pairwise id, if the host named one; `None` when the host
/// answered with its "session expired" page instead of running the app.
async fn caller_seen(host: &TestHost, url: &str) -> Option<Option<String>> {
    let response = client()
        .get(host.url(&format!("{url}echo")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let text = response.text().await.unwrap();
    if text.contains("citadel:expired") {
        return None;
    }
    let echoed: Value = serde_json::from_str(&text).expect("the app's echo");
    let citizen = echoed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-citadel-citizen")
        .and_then(|h| h[1].as_str())
        .map(String::from);
    Some(citizen)
}

async fn start() -> (tempfile::TempDir, TestHost) {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    for id in ["frame-a", "frame-b"] {
        host.install_built(
            "hostile",
            &citadel_tests::test_manifest(id, "hostile", "[]", ""),
        )
        .await;
    }
    (dir, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_token_serves_its_own_app_only() {
    let (_dir, host) = start().await;
    let lan = sign_in(&host, "c-lan").await;
    let url = open_frame(&host, &lan, "frame-a").await;
    let seen = caller_seen(&host, &url).await;
    assert!(
        matches!(&seen, Some(Some(id)) if id.len() == 32),
        "frame-a runs for its citizen: {seen:?}"
    );
    // The same token in another app's path: the host refuses it, the app
    // never runs and never learns the citizen.
    let other = url.replace("/apps/frame-a/", "/apps/frame-b/");
    assert_eq!(caller_seen(&host, &other).await, None);
    let notes = url.replace("/apps/frame-a/", "/apps/notes/");
    assert_eq!(caller_seen(&host, &notes).await, None);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_token_dies_with_its_session() {
    let (_dir, host) = start().await;
    let lan = sign_in(&host, "c-lan").await;
    let url = open_frame(&host, &lan, "frame-a").await;
    // Another session of the same citizen keeps its own frame.
    let other_session = sign_in(&host, "c-lan").await;
    let other_url = open_frame(&host, &other_session, "frame-a").await;
    assert!(matches!(caller_seen(&host, &url).await, Some(Some(_))));
    let logout = client()
        .post(host.url("/api/v1/logout"))
        .bearer_auth(&lan)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(caller_seen(&host, &url).await, None, "refused after logout");
    assert!(
        matches!(caller_seen(&host, &other_url).await, Some(Some(_))),
        "the other session's frame still serves"
    );
    host.stop().await;
}

/// Signing out everywhere ends every session of the citizen (the one that
/// asked too) and every frame opened from them, on the citizen's word only:
/// another citizen stays signed in, and a page of another origin cannot
/// ask with the citizen's cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_ends_every_session_and_frame_of_the_citizen() {
    let (_dir, host) = start().await;
    let phone = sign_in(&host, "c-lan").await;
    let laptop = sign_in(&host, "c-lan").await;
    let minh = sign_in(&host, "c-minh").await;
    let phones_frame = open_frame(&host, &phone, "frame-a").await;
    let minhs_frame = open_frame(&host, &minh, "frame-a").await;
    let sign_out_everywhere = |token: &str| {
        client()
            .delete(host.url("/api/v1/me/sessions"))
            .header("cookie", format!("citadel_session={token}"))
    };

    let forged = sign_out_everywhere(&laptop)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(matches!(
        caller_seen(&host, &phones_frame).await,
        Some(Some(_))
    ));

    let response = sign_out_everywhere(&laptop).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let ended: Value = response.json().await.unwrap();
    assert_eq!(ended, json!({ "sessions": 2, "frames": 1 }));
    for token in [&phone, &laptop] {
        let me = get(&host, "/api/v1/me", Some(token)).await;
        assert_eq!(me.status(), 401, "every device is signed out");
    }
    assert_eq!(caller_seen(&host, &phones_frame).await, None);
    let minhs = client()
        .get(host.url("/api/v1/me"))
        .bearer_auth(&minh)
        .send()
        .await
        .unwrap();
    assert_eq!(minhs.status(), 200, "another citizen stays signed in");
    assert!(matches!(
        caller_seen(&host, &minhs_frame).await,
        Some(Some(_))
    ));
    let audited = citadel_tests::audit(&host, "kind=citizen-signed-out-everywhere").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_token_expires() {
    let (_dir, host) = start().await;
    let lan = sign_in(&host, "c-lan").await;
    // Two seconds (whole seconds count), so the first use is surely inside it.
    host.citadel.frames.set_ttl(Duration::from_secs(2));
    let url = open_frame(&host, &lan, "frame-a").await;
    assert!(matches!(caller_seen(&host, &url).await, Some(Some(_))));
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(caller_seen(&host, &url).await, None, "refused after expiry");
    // The shell asks again and gets a new, working token.
    host.citadel
        .frames
        .set_ttl(citadel_host::identity::frames::FRAME_TTL);
    let again = open_frame(&host, &lan, "frame-a").await;
    assert_ne!(token_of(&again), token_of(&url));
    assert!(matches!(caller_seen(&host, &again).await, Some(Some(_))));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_token_is_no_session() {
    let (_dir, host) = start().await;
    let lan = sign_in(&host, "c-lan").await;
    let url = open_frame(&host, &lan, "frame-a").await;
    let token = token_of(&url).to_string();
    let me_routes: Vec<(String, String)> = citadel_host::gateway::route_table()
        .into_iter()
        .filter(|r| r.path == "/api/v1/me" || r.path.starts_with("/api/v1/me/"))
        .map(|r| {
            (
                r.method.to_string(),
                r.path
                    .replace("{app}", "frame-a")
                    .replace("{id}", "pi_none"),
            )
        })
        .collect();
    assert!(me_routes.len() >= 10, "{me_routes:?}");
    for (method, path) in &me_routes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for (how, request) in [
            (
                "bearer",
                client()
                    .request(method.clone(), host.url(path))
                    .bearer_auth(&token),
            ),
            (
                "cookie",
                client()
                    .request(method.clone(), host.url(path))
                    .header("cookie", format!("citadel_session={token}")),
            ),
        ] {
            let response = request.json(&json!({})).send().await.unwrap();
            assert_eq!(
                response.status(),
                401,
                "{method} {path} with the frame token as {how}"
            );
        }
    }
    // Nor is it an operator's or a publisher's credential.
    for path in ["/api/v1/operator/apps", "/api/v1/publisher/apps"] {
        let response = client()
            .get(host.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    host.stop().await;
}
