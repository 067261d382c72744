//! What the tests of the real binary share: start `citadel serve` on port 0
//! and learn its address from its log.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `citadel serve --dev` (demo citizens and wallet, as the tests use them)
/// on `127.0.0.1:0` over `data_dir` with `extra` arguments and environment;
/// returns the process and the address it serves on.
pub fn serve(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut args = vec!["--dev"];
    args.extend_from_slice(extra);
    serve_as(data_dir, &args, env)
}

/// `citadel serve` as `serve`, without `--dev`: the production setting.
#[allow(dead_code)]
pub fn serve_production(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    serve_as(data_dir, extra, env)
}

fn serve_as(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_citadel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("citadel starts");
    let stdout = child.stdout.take().expect("stdout");
    let (found, address) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("address=").nth(1) {
                let _ = found.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let address = address
        .recv_timeout(Duration::from_secs(120))
        .expect("citadel logs the address it serves on");
    (child, address)
}
