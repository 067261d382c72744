//! The partner's commands: `citadel keys generate` (a package-signing key),
//! `citadel app new|build|package|publish|status` — from an empty folder to
//! a signed package uploaded for the city's review. Long steps show progress.

use citadel_host::registry::manifest::Manifest;
use citadel_host::registry::package;
use clap::Subcommand;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Subcommand)]
pub enum KeysAction {
    /// Create an ed25519 package-signing key; prints the public key to
    /// register with the city (`citadel admin add-signing-key`).
    Generate {
        /// Where to write the secret key (mode 0600).
        #[arg(long, default_value = "citadel-signing.key")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum AppAction {
    /// Create a ready-to-build mini-app crate using the SDK.
    New {
        /// The app id (lower-case letters, digits and `-`).
        name: String,
        /// Your publisher id, as the city registered it.
        #[arg(long, default_value = "my-company")]
        publisher: String,
        /// The folder to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Where citadel-sdk lives (default: the SDK this binary was built with).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build the app's component for wasm32-wasip2.
    Build {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Sign the manifest and the built component into one package file.
    Package {
        /// The secret key from `citadel keys generate`.
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The package to write (default: ID-VERSION.citadel in DIR).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Upload a package for review.
    Publish {
        package: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "CITADEL_SERVER")]
        server: String,
        #[arg(long, env = "CITADEL_API_KEY", hide_env_values = true)]
        api_key: String,
    },
    /// Show an app's versions and their states.
    Status {
        app: String,
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "CITADEL_SERVER")]
        server: String,
        #[arg(long, env = "CITADEL_API_KEY", hide_env_values = true)]
        api_key: String,
    },
}

pub fn keys(action: KeysAction) -> anyhow::Result<()> {
    match action {
        KeysAction::Generate { out } => {
            anyhow::ensure!(
                !out.exists(),
                "{} exists; refusing to overwrite a key",
                out.display()
            );
            let (secret, public) = package::generate_key();
            write_private(&out, &secret)?;
            println!("{public}");
            eprintln!(
                "secret key written to {}; give the city the public key above",
                out.display()
            );
            Ok(())
        }
    }
}

pub async fn app(action: AppAction) -> anyhow::Result<()> {
    match action {
        AppAction::New {
            name,
            publisher,
            dir,
            sdk,
        } => new_app(&name, &publisher, dir, sdk),
        AppAction::Build { dir } => build(&dir).map(|path| println!("{}", path.display())),
        AppAction::Package { key, dir, out } => {
            let path = package_app(&dir, &key, out)?;
            println!("{}", path.display());
            Ok(())
        }
        AppAction::Publish {
            package,
            server,
            api_key,
        } => {
            let answer = publish(&package, &server, &api_key).await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
        AppAction::Status {
            app,
            server,
            api_key,
        } => {
            let url = format!(
                "{}/api/v1/publisher/apps/{app}",
                server.trim_end_matches('/')
            );
            let answer = super::send(reqwest::Client::new().get(url).bearer_auth(api_key)).await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")
}

/// The SDK this binary was built from.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")
}

fn new_app(
    name: &str,
    publisher: &str,
    dir: Option<PathBuf>,
    sdk: Option<PathBuf>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        citadel_host::registry::manifest::is_slug(name),
        "`{name}` is not a valid app id: use 2 to 40 lower-case letters, digits and `-`, starting with a letter"
    );
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    anyhow::ensure!(!dir.exists(), "{} exists already", dir.display());
    let sdk = std::fs::canonicalize(sdk.unwrap_or_else(default_sdk))
        .map_err(|e| anyhow::anyhow!("the SDK folder cannot be found ({e}); pass --sdk"))?;
    let crate_name = name.replace('-', "_");
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
citadel-sdk = {{ path = "{sdk}" }}
serde_json = "1"

[profile.release]
opt-level = 2
strip = true
codegen-units = 16

# A mini-app is its own workspace.
[workspace]
"#,
            sdk = sdk.display()
        ),
    )?;
    std::fs::write(
        dir.join("src/lib.rs"),
        format!(
            r#"//! {name}: a Citadel mini-app.

use citadel_sdk::{{kv, Request, Response, Result, Router}};

fn router() -> Router {{
    Router::new()
        .get("/", home)
        .post("/visits", count_visit)
}}

fn home(_req: &Request) -> Result<Response> {{
    Ok(Response::text("Xin chào từ {name}!"))
}}

fn count_visit(_req: &Request) -> Result<Response> {{
    let visits: u64 = kv::get_json("visits")?.unwrap_or(0) + 1;
    kv::set_json("visits", &visits)?;
    Response::json(&serde_json::json!({{ "visits": visits }}))
}}

citadel_sdk::export_app!(router);
"#
        ),
    )?;
    std::fs::write(
        dir.join("manifest.toml"),
        format!(
            r#"id = "{name}"
version = "0.1.0"
publisher = "{publisher}"
contract = "^1.2"
component = "{crate_name}.wasm"
category = "utilities"
icon = "✨"
capabilities = ["kv"]

[name]
vi = "{name}"
en = "{name}"

[description]
vi = "Ứng dụng mới trên Citadel."
en = "A new Citadel mini-app."
"#
        ),
    )?;
    eprintln!(
        "created {}: edit src/lib.rs and manifest.toml, then `citadel app build`",
        dir.display()
    );
    Ok(())
}

fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message.to_string());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn read_manifest(dir: &Path) -> anyhow::Result<(String, Manifest)> {
    let path = dir.join("manifest.toml");
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let manifest = Manifest::parse(&path.display().to_string(), &text)?;
    Ok((text, manifest))
}

/// Where cargo puts the release component.
fn component_path(dir: &Path, component: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    target.join("wasm32-wasip2").join("release").join(component)
}

fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let (_, manifest) = read_manifest(dir)?;
    let bar = spinner("compiling for wasm32-wasip2");
    let output =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(dir)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .output()?;
    bar.finish_and_clear();
    if !output.status.success() {
        anyhow::bail!(
            "the build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let path = component_path(dir, &manifest.component);
    anyhow::ensure!(
        path.exists(),
        "the build did not produce {} (does the manifest's `component` match the crate name?)",
        path.display()
    );
    Ok(path)
}

fn package_app(dir: &Path, key: &Path, out: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let (text, manifest) = read_manifest(dir)?;
    let secret =
        std::fs::read_to_string(key).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
    let key =
        package::signing_key(&secret).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
    let path = component_path(dir, &manifest.component);
    let component = std::fs::read(&path)
        .map_err(|e| anyhow::anyhow!("{}: {e}; run `citadel app build` first", path.display()))?;
    let bytes = package::build(&text, &manifest.component, &component, &key)?;
    let out =
        out.unwrap_or_else(|| dir.join(format!("{}-{}.citadel", manifest.id, manifest.version)));
    std::fs::write(&out, bytes)?;
    Ok(out)
}

async fn publish(path: &Path, server: &str, api_key: &str) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let bar = ProgressBar::new(bytes.len() as u64).with_message("uploading");
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = bar.clone();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let length = bytes.len();
    let stream = futures::stream::iter(chunks).map(move |chunk| {
        if let Ok(chunk) = &chunk {
            progress.inc(chunk.len() as u64);
        }
        chunk
    });
    let url = format!("{}/api/v1/publisher/packages", server.trim_end_matches('/'));
    let request = reqwest::Client::new()
        .post(url)
        .bearer_auth(api_key)
        .header("content-type", "application/octet-stream")
        .header("content-length", length)
        .body(reqwest::Body::wrap_stream(stream));
    let answer = super::send(request).await;
    bar.finish_and_clear();
    answer
}
