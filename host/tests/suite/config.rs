//! `citadel serve --config FILE` as an operator runs it: the file's values
//! apply where neither the environment nor a flag gives one (file < env <
//! flag), seen in the host's own startup log; and `citadel config check`
//! accepts a good file and names the unknown key of a bad one, as `serve`
//! refuses it before starting.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A running host, killed when the test is done with it (or fails).
struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Write `text` to `name` in `dir`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The first log line holding `message`, waiting up to a minute.
fn line_with(lines: &Receiver<String>, message: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no log line with `{message}`: {e}"));
        if line.contains(message) {
            return line;
        }
    }
}

/// Field `name` of a log line, text (`name=value`) or JSON.
fn field(line: &str, name: &str) -> String {
    common::log_field(line, name).unwrap_or_else(|| panic!("no `{name}` in {line}"))
}

/// Serve with `config` and `extra` flags and `env`: the `limits` log line
/// and the `citadel is serving` one.
fn limits_and_serving(config: &Path, extra: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let data = tempfile::tempdir().unwrap();
    let mut args = vec!["--config", config.to_str().expect("a UTF-8 path")];
    args.extend_from_slice(extra);
    let (child, _address, lines) = common::serve_logged(data.path(), &args, env);
    let _host = Host(child);
    let limits = line_with(&lines, "limits:");
    let serving = line_with(&lines, "citadel is serving");
    (limits, serving)
}

#[test]
fn the_file_is_under_the_environment_which_is_under_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "citadel.toml",
        "listen = \"127.0.0.1:0\"\n\
         max_instances = 111\n\
         max_connections = 77\n\
         no_samples = true\n\
         log_format = \"json\"\n",
    );

    // The file alone: its values over the defaults (JSON lines, no samples).
    let (limits, serving) = limits_and_serving(&config, &[], &[]);
    assert!(
        limits.starts_with('{'),
        "log_format from the file: {limits}"
    );
    assert_eq!(field(&limits, "max_instances"), "111", "{limits}");
    assert_eq!(field(&limits, "max_connections"), "77", "{limits}");
    assert_eq!(field(&serving, "apps"), "0", "no_samples from the file");

    // The environment over the file.
    let env = [
        ("CITADEL_MAX_INSTANCES", "222"),
        ("CITADEL_LOG_FORMAT", "text"),
    ];
    let (limits, _) = limits_and_serving(&config, &[], &env);
    assert!(
        !limits.starts_with('{'),
        "log_format from the environment: {limits}"
    );
    assert_eq!(field(&limits, "max_instances"), "222", "{limits}");
    assert_eq!(field(&limits, "max_connections"), "77", "{limits}");

    // A flag over both.
    let (limits, _) = limits_and_serving(&config, &["--max-instances", "333"], &env);
    assert_eq!(field(&limits, "max_instances"), "333", "{limits}");
    assert_eq!(field(&limits, "max_connections"), "77", "{limits}");
}

#[test]
fn a_boolean_in_the_file_yields_to_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "citadel.toml",
        "listen = \"127.0.0.1:0\"\ndev = true\nno_samples = true\n",
    );
    let start = |env: &[(&str, &str)]| -> Vec<String> {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_citadel"))
            .args(["serve", "--config", config.to_str().unwrap(), "--data-dir"])
            .arg(data.path())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("citadel starts");
        let stdout = child.stdout.take().expect("stdout");
        let _host = Host(child);
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = send.send(line);
            }
        });
        let mut seen = Vec::new();
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("the host did not start ({e}): {seen:?}"));
            let done = line.contains("citadel is serving");
            seen.push(line);
            if done {
                return seen;
            }
        }
    };
    let from_file = start(&[]);
    assert!(
        from_file.iter().any(|l| l.contains("development mode")),
        "{from_file:?}"
    );
    assert!(
        from_file
            .iter()
            .any(|l| l.contains("options from the configuration file")),
        "{from_file:?}"
    );
    let from_env = start(&[("CITADEL_DEV", "false")]);
    assert!(
        from_env.iter().any(|l| l.contains("production mode")),
        "{from_env:?}"
    );
}

/// Run `citadel` with `args` to its end (at most a minute).
fn citadel(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_citadel"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("citadel starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("the process").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("citadel {args:?} did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("its output")
}

#[test]
fn config_check_accepts_a_good_file_and_names_a_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "vnpay.secret", "a-shared-hmac-secret-0123\n");
    let database = write(
        dir.path(),
        "database-url",
        "postgres://citadel:s3cret@localhost/citadel\n",
    );
    let good = write(
        dir.path(),
        "good.toml",
        &format!(
            "listen = \"0.0.0.0:8080\"\n\
             database_url_file = \"{}\"\n\
             max_instances = 400\n\
             payment_providers = [\"vnpay={},https://pay.vnpay.vn/checkout\"]\n\
             log_format = \"json\"\n",
            database.display(),
            secret.display()
        ),
    );
    let good_path = good.to_str().unwrap();
    let checked = citadel(&["config", "check", good_path]);
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert_eq!(stdout.trim(), format!("{good_path}: ok"));

    let bad = write(
        dir.path(),
        "bad.toml",
        "listen = \"127.0.0.1:0\"\nmax_instance = 400\n",
    );
    let bad_path = bad.to_str().unwrap();
    let checked = citadel(&["config", "check", bad_path]);
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert!(!checked.status.success());
    assert!(
        stderr.contains(&format!("{bad_path}:2:1")) && stderr.contains("`max_instance`"),
        "{stderr}"
    );

    // `serve` refuses it the same way, before it starts anything.
    let data = dir.path().join("data");
    let served = citadel(&[
        "serve",
        "--config",
        bad_path,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(!served.status.success());
    assert!(stderr.contains("`max_instance`"), "{stderr}");
    assert!(!data.exists(), "nothing was started");

    // A wrong type, and a secret file that is not there.
    let wrong = write(dir.path(), "wrong.toml", "max_instances = \"many\"\n");
    let checked = citadel(&["config", "check", wrong.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert!(!checked.status.success());
    assert!(stderr.contains("`max_instances`"), "{stderr}");
    let missing = write(
        dir.path(),
        "missing.toml",
        "operator_token_file = \"/no/such/operator-token\"\n",
    );
    let checked = citadel(&["config", "check", missing.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert!(!checked.status.success());
    assert!(
        stderr.contains("`operator_token_file`") && stderr.contains("/no/such/operator-token"),
        "{stderr}"
    );
}
