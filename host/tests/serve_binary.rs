//! The real `citadel` binary: `citadel serve` on an empty data dir installs
//! the samples and serves hello; SIGTERM stops it cleanly; a second start on
//! the same data dir serves the same apps.

mod common;

use std::process::{Child, Command};

struct Served {
    child: Child,
    address: String,
}

fn serve(data_dir: &std::path::Path) -> Served {
    let (child, address) = common::serve(data_dir, &[], &[]);
    Served { child, address }
}

fn terminate(mut served: Served) {
    let status = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = served.child.wait().expect("citadel exits");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}

#[tokio::test]
async fn citadel_serve_installs_the_samples_and_serves_hello() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let url = format!("http://{}/apps/hello/", served.address);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "Xin chào, Huế!");
    // The city's and the partners' apps come installed too, with their
    // grants, and the shell and the console are served.
    for path in [
        "/apps/maps/api/search?q=thien%20mu",
        "/apps/field-reports/api/categories",
        "/apps/public-services/api/procedures",
        "/apps/tourism/api/sites",
        "/apps/bills/api/bills?customer=PK0012345",
        "/",
        "/admin",
    ] {
        let response = reqwest::get(format!("http://{}{path}", served.address))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let notes = reqwest::Client::new()
        .post(format!("http://{}/apps/notes/api/notes", served.address))
        .json(&serde_json::json!({ "text": "Chợ Đông Ba" }))
        .send()
        .await
        .unwrap();
    assert_eq!(notes.status(), 201);
    terminate(served);

    let served = serve(dir.path());
    let list: serde_json::Value =
        reqwest::get(format!("http://{}/apps/notes/api/notes", served.address))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(list[0]["text"], "Chợ Đông Ba");
    terminate(served);
}
