//! Nothing a citizen relies on lives only in the process: a frame token, a
//! reported location (within its lifetime) and a notify rate-limit window
//! all hold after the real binary is killed with SIGKILL and started again
//! on the same data dir.

use crate::common;

use common::status_and_json;

use serde_json::{json, Value};

use common::KillableHost as Host;

const TOKEN: &str = "cit_op_restart_tests_0123456789abcdef";

/// What the probe sees of its caller through the frame `url`.
async fn seen_through_frame(client: &reqwest::Client, host: &Host, url: &str) -> (u16, Value) {
    status_and_json(client.get(format!("{}{url}whoami", host.url))).await
}

/// Whether the maps sample finds places from the citizen's own position.
async fn nearby_source(client: &reqwest::Client, host: &Host, session: &str) -> (u16, Value) {
    let (status, body) = status_and_json(
        client
            .get(format!("{}/apps/maps/api/nearby?k=1", host.url))
            .bearer_auth(session),
    )
    .await;
    (status, body["from"]["source"].clone())
}

async fn notify(client: &reqwest::Client, host: &Host, session: &str, text: &str) -> u16 {
    client
        .post(format!("{}/apps/probe/notify", host.url))
        .bearer_auth(session)
        .body(text.to_string())
        .send()
        .await
        .expect("the host answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_tokens_locations_and_rate_limits_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut host = Host::start(dir.path(), &[], TOKEN);
    common::publish_probe(&host.url, TOKEN, "restart-tests", &["notify"]).await;
    let session = common::sign_in(&host.url, "c-lan").await;

    // A frame token for the probe.
    let (status, frame) = status_and_json(
        client
            .post(format!("{}/api/v1/me/frames", host.url))
            .bearer_auth(&session)
            .json(&json!({ "app": "probe" })),
    )
    .await;
    assert_eq!(status, 200, "{frame}");
    let frame_url = frame["url"].as_str().expect("a frame URL").to_string();
    let (status, before) = seen_through_frame(&client, &host, &frame_url).await;
    assert_eq!(status, 200);
    assert!(before["current"]["id"].is_string(), "{before}");

    // A reported location, consented to for maps.
    let (status, _) = status_and_json(
        client
            .put(format!("{}/api/v1/me/location", host.url))
            .bearer_auth(&session)
            .json(&json!({ "lat": 16.4683, "lon": 107.5786 })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = status_and_json(
        client
            .post(format!("{}/api/v1/me/consents", host.url))
            .bearer_auth(&session)
            .json(&json!({ "app": "maps", "scopes": ["location"] })),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        nearby_source(&client, &host, &session).await,
        (200, json!("location"))
    );

    // The notify window: five messages, the sixth refused.
    for i in 0..5 {
        assert_eq!(
            notify(&client, &host, &session, &format!("Tin {i}")).await,
            204
        );
    }
    assert_eq!(notify(&client, &host, &session, "one too many").await, 429);

    host.kill();
    let host = Host::start(dir.path(), &[], TOKEN);

    let (status, after) = seen_through_frame(&client, &host, &frame_url).await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "the frame token names the same citizen");
    assert_eq!(
        nearby_source(&client, &host, &session).await,
        (200, json!("location")),
        "the reported location outlived the process"
    );
    assert_eq!(
        notify(&client, &host, &session, "still too many").await,
        429,
        "the rate-limit window outlived the process"
    );
    // Forgetting the location holds too.
    let response = client
        .delete(format!("{}/api/v1/me/location", host.url))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = nearby_source(&client, &host, &session).await;
    assert_ne!(status, 200, "no position, no nearby from it");
}
