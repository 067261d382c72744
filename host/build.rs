//! Builds the mini-apps workspace (`../miniapps`) for wasm32-wasip2 with its
//! own target dir under the shared `target/`, as wasmtime's test-programs do,
//! and tells the host crate where the components are. Nobody builds them by hand.

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
        "manifests",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

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
    println!(
        "cargo:rustc-env=CITADEL_MINIAPPS_DIR={}",
        wasm_dir.display()
    );
    write_samples(root, &wasm_dir, &out_dir);
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
