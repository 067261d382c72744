//! The partner's commands: `citadel keys generate` (a package-signing key),
//! `citadel app new|build|package|publish|status` — from an empty folder to
//! a signed package uploaded for the city's review, for a mini-app in Rust
//! (cargo) or in TypeScript/JavaScript (node and the JS SDK). Long steps
//! show progress. Nothing citizens would see as placeholder text is
//! packaged, and no package is overwritten by another of the same version.

use citadel_host::registry::manifest::{Manifest, PLACEHOLDER};
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

/// The language of a new mini-app.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate on citadel-sdk, built with cargo for wasm32-wasip2.
    Rust,
    /// A JavaScript module on @citadel/sdk, built with node (componentize-js).
    Js,
    /// A TypeScript module on @citadel/sdk, type-checked, then built as `js`.
    Ts,
}

#[derive(Subcommand)]
pub enum AppAction {
    /// Create a ready-to-build mini-app using the SDK of its language.
    /// Citizens see its name and description: give them here, or fill in
    /// the placeholders in manifest.toml before `citadel app package`.
    New {
        /// The app id (lower-case letters, digits and `-`).
        name: String,
        /// Your publisher id, as the city registered it.
        #[arg(long, default_value = "my-company")]
        publisher: String,
        #[command(flatten)]
        texts: CitizenTexts,
        /// The folder to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The language to write it in.
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
        /// Where the SDK lives: citadel-sdk for Rust, @citadel/sdk for JS and
        /// TS (default: the SDK this binary was built with).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build the app's component: cargo for a Rust app, node for a JS or TS
    /// one (an app with a package.json).
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
        /// Replace an existing package of the same version whose content
        /// differs (without it, that is refused: raise `version` instead).
        #[arg(long)]
        force: bool,
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

/// What citizens see of a new app, in Vietnamese and English. Each one not
/// given is left as placeholder text that packaging refuses.
#[derive(clap::Args)]
pub struct CitizenTexts {
    /// The app's name in Vietnamese (at most 60 characters).
    #[arg(long, value_name = "TEXT")]
    name_vi: Option<String>,
    /// The app's name in English (at most 60 characters).
    #[arg(long, value_name = "TEXT")]
    name_en: Option<String>,
    /// What the app is for, in Vietnamese.
    #[arg(long, value_name = "TEXT")]
    description_vi: Option<String>,
    /// What the app is for, in English.
    #[arg(long, value_name = "TEXT")]
    description_en: Option<String>,
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
            texts,
            dir,
            lang,
            sdk,
        } => new_app(&name, &publisher, &texts, dir, lang, sdk),
        AppAction::Build { dir } => build(&dir).map(|path| println!("{}", path.display())),
        AppAction::Package {
            key,
            dir,
            out,
            force,
        } => {
            let path = package_app(&dir, &key, out, force)?;
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
            let answer = super::send(
                reqwest::Client::new().get(url).bearer_auth(api_key),
                super::Credential::PublisherKey,
            )
            .await?;
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

/// The SDK of `lang` this binary was built from.
fn default_sdk(lang: Lang) -> PathBuf {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    match lang {
        Lang::Rust => sdk,
        Lang::Js | Lang::Ts => sdk.join("js"),
    }
}

fn new_app(
    name: &str,
    publisher: &str,
    texts: &CitizenTexts,
    dir: Option<PathBuf>,
    lang: Lang,
    sdk: Option<PathBuf>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        citadel_host::registry::manifest::is_slug(name),
        "`{name}` is not a valid app id: use 2 to 40 lower-case letters, digits and `-`, starting with a letter"
    );
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    anyhow::ensure!(!dir.exists(), "{} exists already", dir.display());
    let sdk = std::fs::canonicalize(sdk.unwrap_or_else(|| default_sdk(lang)))
        .map_err(|e| anyhow::anyhow!("the SDK folder cannot be found ({e}); pass --sdk"))?;
    // Checked before anything is written: a name too long is refused here,
    // naming its flag's manifest key.
    let manifest = template_manifest(name, publisher, texts, lang);
    let checked = Manifest::parse("manifest.toml", &manifest)?;
    match lang {
        Lang::Rust => new_rust_app(name, &dir, &sdk)?,
        Lang::Js | Lang::Ts => new_js_app(name, &dir, &sdk, lang)?,
    }
    std::fs::write(dir.join("manifest.toml"), manifest)?;
    let code = match lang {
        Lang::Rust => "src/lib.rs",
        Lang::Js => "src/main.js",
        Lang::Ts => "src/main.ts",
    };
    match checked.check_publishable("manifest.toml") {
        Ok(()) => eprintln!(
            "created {}: edit {code} and manifest.toml, then `citadel app build`",
            dir.display()
        ),
        Err(_) => eprintln!(
            "created {}: edit {code}, then `citadel app build`; before `citadel app package`, \
             replace the {PLACEHOLDER}…» text of [name] and [description] in manifest.toml \
             (or create the app with --name-vi, --name-en, --description-vi and \
             --description-en)",
            dir.display()
        ),
    }
    Ok(())
}

/// How a Rust mini-app builds for release, in the crate `citadel app new`
/// writes and in the sample apps' workspace (a test keeps the two the same).
const GUEST_RELEASE_PROFILE: &str = r#"# A fresh instance serves every request: whole-program optimisation makes
# each request cheaper (docs/performance.md, "Guest build settings").
[profile.release]
opt-level = 3
strip = true
codegen-units = 1
lto = true
"#;

/// A Rust crate on citadel-sdk at `sdk`.
fn new_rust_app(name: &str, dir: &Path, sdk: &Path) -> anyhow::Result<()> {
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

{GUEST_RELEASE_PROFILE}
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

// Exports the contract's one-call `handler` and `wasi:http/incoming-handler`,
// so the component also runs under `wasmtime serve`. On a Citadel host alone,
// `citadel_sdk::export_app!(router, citadel_only)` exports `handler` only:
// a smaller component whose every request's instance starts faster.
citadel_sdk::export_app!(router);
"#
        ),
    )?;
    Ok(())
}

/// A JavaScript or TypeScript module on @citadel/sdk at `sdk`: its
/// package.json names the SDK, which `citadel app build` runs.
fn new_js_app(name: &str, dir: &Path, sdk: &Path, lang: Lang) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("src"))?;
    let package = serde_json::json!({
        "name": name,
        "version": "0.1.0",
        "private": true,
        "type": "module",
        "scripts": { "build": "citadel app build" },
        "dependencies": { "@citadel/sdk": format!("file:{}", sdk.display()) },
    });
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_string_pretty(&package)? + "\n",
    )?;
    std::fs::write(dir.join(".gitignore"), "dist/\nnode_modules/\n")?;
    let (file, number) = match lang {
        Lang::Ts => ("main.ts", "<number>"),
        _ => ("main.js", ""),
    };
    std::fs::write(
        dir.join("src").join(file),
        format!(
            r#"// {name}: a Citadel mini-app.

import {{ Response, Router, serve, serveWhole }} from '@citadel/sdk';
import * as kv from '@citadel/sdk/kv';

function home() {{
  return Response.text('Xin chào từ {name}!');
}}

function countVisit() {{
  const visits = (kv.getJson{number}('visits') ?? 0) + 1;
  kv.setJson('visits', visits);
  return Response.json({{ visits }});
}}

const router = new Router().get('/', home).post('/visits', countVisit);

// The host's one-call path, and wasi:http for hosts before contract 1.5.
export const handler = serveWhole(router);
export const incomingHandler = serve(router);
"#
        ),
    )?;
    if lang == Lang::Ts {
        let sdk = sdk.display();
        std::fs::write(
            dir.join("tsconfig.json"),
            format!(
                r#"{{
  "extends": "{sdk}/tsconfig.json",
  "compilerOptions": {{
    "paths": {{
      "@citadel/sdk": ["{sdk}/src/index.ts"],
      "@citadel/sdk/*": ["{sdk}/src/*.ts"]
    }}
  }},
  "include": ["src/**/*.ts", "{sdk}/generated/**/*.d.ts", "{sdk}/globals.d.ts"]
}}
"#
            ),
        )?;
    }
    Ok(())
}

/// A new app's manifest: `kv`, which the template counts visits in, and
/// the citizen-facing texts given, or placeholders packaging refuses.
fn template_manifest(name: &str, publisher: &str, texts: &CitizenTexts, lang: Lang) -> String {
    let component = match lang {
        Lang::Rust => format!("{}.wasm", name.replace('-', "_")),
        Lang::Js | Lang::Ts => format!("{name}.wasm"),
    };
    // A TOML string: the given text escaped, or the placeholder for it.
    let text = |given: &Option<String>, placeholder: &str| {
        toml::Value::String(
            given
                .clone()
                .unwrap_or_else(|| format!("{PLACEHOLDER}: {placeholder}»")),
        )
        .to_string()
    };
    let name_vi = text(&texts.name_vi, "tên ứng dụng bằng tiếng Việt");
    let name_en = text(&texts.name_en, "the app's name in English");
    let description_vi = text(&texts.description_vi, "ứng dụng dùng để làm gì");
    let description_en = text(&texts.description_en, "what the app is for");
    format!(
        r#"id = "{name}"
version = "0.1.0"
publisher = "{publisher}"
contract = "^1.2"
component = "{component}"
category = "utilities"
icon = "✨"
capabilities = ["kv"]

# Citizens see the name and description, in Vietnamese and English: replace
# any {PLACEHOLDER}…» text before `citadel app package`, which refuses it.
[name]
vi = {name_vi}
en = {name_en}

[description]
vi = {description_vi}
en = {description_en}
"#
    )
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

/// Whether the app in `dir` is a JavaScript or TypeScript one (it has a
/// package.json), built with node rather than cargo.
fn is_js(dir: &Path) -> bool {
    dir.join("package.json").exists()
}

/// Where the build puts the component: `dist/` for a JS or TS app, cargo's
/// release dir for a Rust one.
fn component_path(dir: &Path, component: &str) -> PathBuf {
    if is_js(dir) {
        return dir.join("dist").join(component);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    target.join("wasm32-wasip2").join("release").join(component)
}

fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let (_, manifest) = read_manifest(dir)?;
    if is_js(dir) {
        return build_js(dir, &manifest);
    }
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

/// The @citadel/sdk folder a JS or TS app's package.json names
/// (`"@citadel/sdk": "file:…"`, as `citadel app new` writes it).
fn js_sdk(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("package.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let package: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not valid JSON: {e}", path.display()))?;
    let sdk = package["dependencies"]["@citadel/sdk"]
        .as_str()
        .and_then(|spec| spec.strip_prefix("file:"))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} does not name the SDK: add \"@citadel/sdk\": \"file:<path to sdk/js>\" to its dependencies",
                path.display()
            )
        })?;
    Ok(dir.join(sdk))
}

/// Build a JS or TS app with the SDK's `build.mjs` (which installs the SDK's
/// pinned packages with `npm ci` the first time).
fn build_js(dir: &Path, manifest: &Manifest) -> anyhow::Result<PathBuf> {
    let sdk = js_sdk(dir)?;
    let script = sdk.join("build.mjs");
    anyhow::ensure!(
        script.exists(),
        "{} is not the Citadel JS SDK (it has no build.mjs)",
        sdk.display()
    );
    let bar = spinner("building the component with node (componentize-js)");
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(dir)
        .output();
    bar.finish_and_clear();
    let output = match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "node is not installed: a JavaScript or TypeScript app needs node 20 or later and npm (Debian: `apt-get install nodejs npm`)"
        ),
        other => other?,
    };
    if !output.status.success() {
        anyhow::bail!(
            "the build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let path = component_path(dir, &manifest.component);
    anyhow::ensure!(
        path.exists(),
        "the build did not produce {}",
        path.display()
    );
    Ok(path)
}

/// Sign the app in `dir` into a package. Refused while the manifest holds
/// placeholder text, and, unless `force`, when a package of other content
/// is already at `out` (a package of the same version must not change).
fn package_app(
    dir: &Path,
    key: &Path,
    out: Option<PathBuf>,
    force: bool,
) -> anyhow::Result<PathBuf> {
    let (text, manifest) = read_manifest(dir)?;
    manifest.check_publishable(&dir.join("manifest.toml").display().to_string())?;
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
    match std::fs::read(&out) {
        Ok(existing) if existing == bytes => return Ok(out),
        Ok(_) if !force => anyhow::bail!(
            "{} exists with other content for {} {}: a published version must not change, so \
             raise `version` in manifest.toml for a new package (or pass --force to replace \
             this one, if it was never published)",
            out.display(),
            manifest.id,
            manifest.version
        ),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("{}: {e}", out.display()),
    }
    std::fs::write(&out, bytes).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
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
    let answer = super::send(request, super::Credential::PublisherKey).await;
    bar.finish_and_clear();
    answer
}

#[cfg(test)]
mod tests {
    use super::GUEST_RELEASE_PROFILE;

    /// The sample apps build as a partner's app does, so the figures measured
    /// on them hold for partners' apps.
    #[test]
    fn sample_apps_build_with_the_partners_release_profile() {
        let samples = include_str!("../../../miniapps/Cargo.toml");
        assert!(
            samples.contains(GUEST_RELEASE_PROFILE),
            "miniapps/Cargo.toml must end with GUEST_RELEASE_PROFILE:\n{GUEST_RELEASE_PROFILE}"
        );
    }
}
