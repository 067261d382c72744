//! Scale with installed apps: installs N distinct components (the hello app
//! with a distinct custom section each, default 1,000), then starts the real
//! `citadel serve` over that data dir under `ulimit -n 1024` (soft and hard)
//! and measures the time to its first answer, one request to every app
//! (status, latency, recompiles), its resident memory and descriptors, and
//! the sizes of the listings that grow with N.
//! Run: `cargo bench -p citadel-host --bench many_apps` (env `BENCH_APPS`;
//! `BENCH_DATA_DIR` keeps the installed data dir between runs).

use anyhow::{bail, Context};
use futures::StreamExt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const DEFAULT_APPS: usize = 1000;
const DESCRIPTOR_LIMIT: u64 = 1024;
const OPERATOR_TOKEN: &str = "bench-operator-token-0123456789abcdef";
/// Installs compiled at once (each compile takes a core).
const INSTALLS_AT_ONCE: usize = 2;

fn main() -> anyhow::Result<()> {
    let apps: usize = match std::env::var("BENCH_APPS") {
        Ok(n) => n.parse().context("BENCH_APPS must be a number")?,
        Err(_) => DEFAULT_APPS,
    };
    let temp = tempfile::tempdir()?;
    let dir = match std::env::var_os("BENCH_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => temp.path().to_path_buf(),
    };
    let ids: Vec<String> = (0..apps).map(|i| format!("app-{i:04}")).collect();
    install(&dir, &ids)?;
    let cache_before = cache_listing(&dir)?;

    let started = Instant::now();
    let (mut child, address) = serve(&dir)?;
    let result = measure(&child, address, &ids, started, &dir, &cache_before);
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Install the apps not installed yet into `dir` (in process), each a
/// distinct component, and close the host again.
fn install(dir: &Path, ids: &[String]) -> anyhow::Result<()> {
    let (_, hello_manifest, hello) = citadel_host::samples::SAMPLES
        .iter()
        .find(|(file, _, _)| *file == "hello.toml")
        .context("the hello sample is embedded")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = citadel_host::HostConfig {
            install_samples: false,
            operator_token: Some(OPERATOR_TOKEN.into()),
            ..citadel_host::HostConfig::new(dir)
        };
        let citadel = citadel_host::Citadel::open(&config).await?;
        let installed: std::collections::BTreeSet<String> = citadel
            .registry
            .app_records()
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let missing: Vec<&String> = ids.iter().filter(|id| !installed.contains(*id)).collect();
        if missing.is_empty() {
            println!("install: {} apps already in {}", ids.len(), dir.display());
            return Ok(());
        }
        let started = Instant::now();
        let mut times: Vec<Duration> = Vec::new();
        let mut installs = futures::stream::iter(missing.iter().map(|id| {
            let citadel = citadel.clone();
            // Listed for citizens, as a city's apps are (hello is a developer sample).
            let manifest = hello_manifest
                .replace("id = \"hello\"", &format!("id = \"{id}\""))
                .replace("category = \"developer\"", "category = \"utilities\"");
            let component = distinct(hello, id);
            async move {
                let began = Instant::now();
                citadel
                    .registry
                    .install("hello.toml", &manifest, &component)
                    .await
                    .with_context(|| format!("install {id}"))?;
                anyhow::Ok(began.elapsed())
            }
        }))
        .buffer_unordered(INSTALLS_AT_ONCE);
        while let Some(took) = installs.next().await {
            times.push(took?);
        }
        times.sort();
        println!(
            "install: {} apps in {:.1} s; each p50 {:.0} ms, p99 {:.0} ms ({} at once)",
            times.len(),
            started.elapsed().as_secs_f64(),
            millis(percentile(&times, 0.50)),
            millis(percentile(&times, 0.99)),
            INSTALLS_AT_ONCE
        );
        anyhow::Ok(())
    })?;
    // Dropping the runtime ends the host's tasks and closes its store.
    drop(runtime);
    Ok(())
}

/// `component` with a custom section naming `id`: the same code, another
/// sha256, so another compile, precompiled file and memory image.
fn distinct(component: &[u8], id: &str) -> Vec<u8> {
    let name = b"citadel-bench";
    let mut payload = leb128(name.len());
    payload.extend_from_slice(name);
    payload.extend_from_slice(id.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // a custom section
    out.extend(leb128(payload.len()));
    out.extend(payload);
    out
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// The precompiled files and their modification times.
fn cache_listing(dir: &Path) -> anyhow::Result<Vec<(String, SystemTime)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.join("cache"))? {
        let entry = entry?;
        files.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.metadata()?.modified()?,
        ));
    }
    files.sort();
    Ok(files)
}

/// `citadel serve` over `dir` on a free loopback port, limited to
/// [`DESCRIPTOR_LIMIT`] descriptors (soft and hard, so it cannot raise it).
fn serve(dir: &Path) -> anyhow::Result<(Child, SocketAddr)> {
    let address = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_citadel"));
    command
        .args(["serve", "--no-samples", "--listen", &address.to_string()])
        .arg("--data-dir")
        .arg(dir)
        .env("CITADEL_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    // SAFETY: between fork and exec only the async-signal-safe setrlimit runs.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            rlimit::setrlimit(rlimit::Resource::NOFILE, DESCRIPTOR_LIMIT, DESCRIPTOR_LIMIT)
        });
    }
    Ok((command.spawn().context("start citadel serve")?, address))
}

fn measure(
    child: &Child,
    address: SocketAddr,
    ids: &[String],
    started: Instant,
    dir: &Path,
    cache_before: &[(String, SystemTime)],
) -> anyhow::Result<()> {
    let pid = child.id();
    let probe = &ids[ids.len() / 2];
    let first = loop {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("no answer 60 s after start");
        }
        match get(address, &format!("/apps/{probe}/"), None) {
            Ok((200, _)) => break started.elapsed(),
            Ok((status, _)) => bail!("{probe} answered {status}"),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    println!(
        "start: first answer ({probe}) {:.0} ms after the process started; rss {:.0} MiB, {} descriptors",
        millis(first),
        rss_mib(pid)?,
        descriptors(pid)?
    );

    let mut latencies = Vec::with_capacity(ids.len());
    let mut failed = 0;
    for id in ids {
        let began = Instant::now();
        match get(address, &format!("/apps/{id}/"), None) {
            Ok((200, _)) => latencies.push(began.elapsed()),
            Ok((status, _)) => {
                failed += 1;
                eprintln!("{id}: {status}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("{id}: {e}");
            }
        }
    }
    latencies.sort();
    let recompiled = cache_listing(dir)? != cache_before;
    println!(
        "one request to each of {} apps: {} failed; first-request latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; precompiled files {}",
        ids.len(),
        failed,
        millis(percentile(&latencies, 0.50)),
        millis(percentile(&latencies, 0.99)),
        millis(latencies.last().copied().unwrap_or_default()),
        if recompiled { "CHANGED (recompiled)" } else { "unchanged (nothing recompiled)" }
    );
    println!(
        "after: rss {:.0} MiB, {} descriptors (limit {DESCRIPTOR_LIMIT})",
        rss_mib(pid)?,
        descriptors(pid)?
    );

    let token = Some(OPERATOR_TOKEN);
    for path in [
        "/api/v1/apps".to_string(),
        "/api/v1/operator/overview".to_string(),
        format!("/api/v1/operator/apps/{probe}/metrics"),
        "/metrics".to_string(),
    ] {
        let began = Instant::now();
        let (status, bytes) = get(address, &path, token)?;
        println!(
            "{path}: {status}, {} KB in {:.1} ms",
            bytes / 1000,
            millis(began.elapsed())
        );
    }
    if failed > 0 || recompiled {
        bail!("{failed} requests failed; recompiled: {recompiled}");
    }
    Ok(())
}

/// One `GET` on its own connection: the status and the body's length.
fn get(address: SocketAddr, path: &str, token: Option<&str>) -> anyhow::Result<(u16, usize)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let body = text
        .find("\r\n\r\n")
        .map_or(0, |head| response.len() - head - 4);
    Ok((status, body))
}

fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    Ok(kib / 1024.0)
}

fn descriptors(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
