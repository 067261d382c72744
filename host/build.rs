//! Builds the mini-apps workspace (`../miniapps`) for wasm32-wasip2 with its
//! own target dir under the shared `target/`, as wasmtime's test-programs do,
//! and the TypeScript mini-apps (`miniapps/*/src/main.ts`) with the JS SDK
//! (`sdk/js`, node and its pinned packages), then tells the host crate where
//! the components are. Nobody builds them by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root");
    let miniapps = root.join("miniapps");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR is inside the target dir")
        .join("miniapps");

    for watched in [
        "miniapps",
        "sdk/src",
        "sdk/wit",
        "sdk/Cargo.toml",
        "sdk/js/src",
        "sdk/js/build.mjs",
        "sdk/js/package-lock.json",
        "manifests",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&miniapps)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    // The outer build's settings are for the host, not for the wasm guests.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTC",
        "RUSTDOC",
    ] {
        build.env_remove(var);
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_PROFILE_") || key.starts_with("CARGO_CFG_") {
            build.env_remove(key);
        }
    }
    let status = build
        .status()
        .expect("could not run cargo to build the mini-apps");
    assert!(
        status.success(),
        "building the mini-apps for wasm32-wasip2 failed; run `rustup target add wasm32-wasip2` if the target is missing"
    );

    let wasm_dir = target_dir.join("wasm32-wasip2").join("release");
    build_js_apps(root, &wasm_dir);
    println!(
        "cargo:rustc-env=CITADEL_MINIAPPS_DIR={}",
        wasm_dir.display()
    );
    write_samples(root, &wasm_dir, &out_dir);
}

/// `rust-toolchain.toml` names the `wasm32-wasip2` target, but rustup adds
/// it only when it installs the toolchain itself: a machine that already had
/// this Rust (or sets `RUSTUP_AUTO_INSTALL=0`) lacks it. Add it then, so the
/// README's first command works on a fresh machine.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    if sysroot.is_some_and(|root| root.join("lib/rustlib/wasm32-wasip2").is_dir()) {
        return;
    }
    println!("cargo:warning=adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)");
    // rustup picks the toolchain from rust-toolchain.toml; a machine without
    // rustup gets the build's own error below.
    let _ = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status();
}

/// The TypeScript (or JavaScript) mini-apps: the folders of `miniapps/` with
/// a `src/main.ts` (or `main.js`), built into `wasm_dir` beside the Rust ones.
fn js_apps(miniapps: &Path) -> Vec<(String, PathBuf)> {
    let mut apps: Vec<(String, PathBuf)> = std::fs::read_dir(miniapps)
        .expect("miniapps/ exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| dir.join("src/main.ts").exists() || dir.join("src/main.js").exists())
        .map(|dir| (dir.file_name().unwrap().to_string_lossy().into_owned(), dir))
        .collect();
    apps.sort();
    apps
}

/// The newest modification time of the files under `path`.
fn newest(path: &Path) -> std::time::SystemTime {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if !meta.is_dir() {
        return meta.modified().unwrap();
    }
    std::fs::read_dir(path)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name() != "node_modules" && entry.file_name() != "dist")
        .map(|entry| newest(&entry.path()))
        .fold(std::time::SystemTime::UNIX_EPOCH, std::cmp::max)
}

/// Build every TypeScript mini-app whose component is older than its sources
/// or the SDK's, side by side (one `node` each; componentize-js spends most
/// of a build in one thread). The first installs the SDK's packages, so it
/// runs alone when they are missing.
fn build_js_apps(root: &Path, wasm_dir: &Path) {
    let apps = js_apps(&root.join("miniapps"));
    if apps.is_empty() {
        return;
    }
    let sdk = root.join("sdk/js");
    let sdk_time = [
        sdk.join("src"),
        sdk.join("build.mjs"),
        sdk.join("package-lock.json"),
        root.join("sdk/wit"),
    ]
    .iter()
    .map(|p| newest(p))
    .fold(std::time::SystemTime::UNIX_EPOCH, std::cmp::max);
    let stale: Vec<&(String, PathBuf)> = apps
        .iter()
        .filter(|(name, dir)| {
            let out = wasm_dir.join(format!("{name}.wasm"));
            let built = std::fs::metadata(&out).and_then(|m| m.modified()).ok();
            built.is_none_or(|built| built < sdk_time.max(newest(dir)))
        })
        .collect();
    if stale.is_empty() {
        return;
    }
    require_node();
    // The SDK's build installs its pinned packages (`npm ci`) on first use:
    // then the first app builds alone, the others after it side by side.
    let installed = sdk.join("node_modules/.package-lock.json");
    let fresh = std::fs::metadata(&installed)
        .and_then(|m| m.modified())
        .is_ok_and(|at| at >= newest(&sdk.join("package-lock.json")));
    let (first, rest) = stale.split_at(if fresh { 0 } else { 1 });
    for batch in [first, rest] {
        let builds: Vec<_> = batch
            .iter()
            .map(|(name, dir)| {
                let out = wasm_dir.join(format!("{name}.wasm"));
                let child = Command::new("node")
                    .arg(sdk.join("build.mjs"))
                    .arg(dir)
                    .arg("--out")
                    .arg(&out)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("node runs (checked by require_node)");
                (name, child)
            })
            .collect();
        for (name, child) in builds {
            let output = child.wait_with_output().expect("node finishes");
            assert!(
                output.status.success(),
                "building the TypeScript mini-app `{name}` failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// Fail with what to install when node is missing.
fn require_node() {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node (20 or later) and npm are needed to build the TypeScript mini-apps: install them (Debian: `apt-get install nodejs npm`)"
    );
}

/// Embed every manifest in `manifests/` with its component, so that
/// `citadel serve` can install the samples from any working directory.
fn write_samples(root: &Path, wasm_dir: &Path, out_dir: &Path) {
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(root.join("manifests"))
        .expect("manifests/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    manifests.sort();
    let mut code = String::from("/// (manifest file name, manifest text, component bytes)\npub static SAMPLES: &[(&str, &str, &[u8])] = &[\n");
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest).unwrap();
        let component = text
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "component").then(|| value.trim().trim_matches('"').to_string())
            })
            .unwrap_or_else(|| panic!("{} has no `component` line", manifest.display()));
        let wasm = wasm_dir.join(&component);
        assert!(
            wasm.exists(),
            "{} names {component}, which the mini-apps build did not produce",
            manifest.display()
        );
        code.push_str(&format!(
            "    ({:?}, include_str!({:?}), include_bytes!({:?})),\n",
            manifest.file_name().unwrap().to_string_lossy(),
            manifest.display().to_string(),
            wasm.display().to_string(),
        ));
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("samples.rs"), code).unwrap();
}
