//! Gateway benchmark for the `hello` mini-app and its TypeScript twin `hello-js`: each
//! one's component size and first compile (install), in-process instantiate+handle
//! latency, then HTTP throughput/latency of the Citadel gateway vs. a native axum
//! handler (32 conns), both apps in the same run (env `BENCH_APP=hello` or `hello-js`
//! measures one).
//! Run: `cargo bench -p citadel-host --bench gateway` (measured window: env `BENCH_SECONDS`, default 10);
//! under `tools/with-postgres` it also measures the gateway with PostgreSQL as its store.

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime as TokioRuntime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const EXPECTED_BODY: &str = "Xin chào, Huế!";
/// The apps measured, with the path the load asks for: the Rust sample and
/// the same greeting written with the TypeScript SDK.
const APPS: &[(&str, &str)] = &[("hello", "/apps/hello/"), ("hello-js", "/apps/hello-js/")];
/// The native handler answers on the Rust app's path.
const NATIVE_PATH: &str = "/apps/hello/";
/// `hello-js`'s manifest (a test-only app: the build makes its component).
const HELLO_JS_MANIFEST: &str = r#"id = "hello-js"
version = "1.0.0"
publisher = "citadel-samples"
contract = "^1.2"
component = "hello-js.wasm"
category = "developer"
capabilities = []
[name]
vi = "Xin chào (TypeScript)"
en = "Hello (TypeScript)"
[description]
vi = "Lời chào từ Huế, viết bằng TypeScript."
en = "A greeting from Huế, written in TypeScript."
"#;
const IN_PROCESS_WARMUP: usize = 200;
/// In-process requests measured (env `BENCH_IN_PROCESS_REQUESTS` sets more,
/// to profile this phase: see docs/performance.md).
const IN_PROCESS_ITERATIONS: usize = 3000;
const CONNECTIONS: usize = 32;
const WARMUP: Duration = Duration::from_secs(1);
const DEFAULT_SECONDS: f64 = 10.0;
/// wrk runs at most this long by default, so the whole program stays under ~40 s.
const DEFAULT_WRK_CAP_SECONDS: u64 = 5;
const SERVER_WORKERS: usize = 2;

fn main() -> anyhow::Result<()> {
    let seconds = env_seconds("BENCH_SECONDS")?.unwrap_or(DEFAULT_SECONDS);
    if seconds <= 0.0 {
        bail!("BENCH_SECONDS must be positive");
    }
    let measure = Duration::from_secs_f64(seconds);
    let wrk_seconds = match env_seconds("BENCH_WRK_SECONDS")? {
        Some(s) => s.ceil().max(1.0) as u64,
        None => (seconds.ceil() as u64).clamp(1, DEFAULT_WRK_CAP_SECONDS),
    };
    let wrk = find_on_path("wrk");
    let apps = selected_apps()?;

    // 0. Install each app into an empty host with no shared compile cache:
    // its component's size and its first compile (with the upload checks).
    let dir = tempfile::tempdir()?;
    let citadel_rt = server_runtime("citadel-server")?;
    let citadel = citadel_rt.block_on(citadel_host::Citadel::open(&citadel_host::HostConfig {
        install_samples: false,
        shared_compile_cache: None,
        ..citadel_host::HostConfig::new(dir.path())
    }))?;
    let mut installs = Vec::new();
    for (app, _) in &apps {
        let (manifest, component) = component_of(app)?;
        let started = Instant::now();
        citadel_rt.block_on(citadel.registry.install(
            &format!("{app}.toml"),
            &manifest,
            &component,
        ))?;
        let compiled = started.elapsed();
        println!(
            "{app}: component {:.1} MiB, first compile (install) {:.0} ms",
            component.len() as f64 / (1 << 20) as f64,
            millis(compiled)
        );
        installs.push((component.len(), compiled));
    }

    // 1. In-process: a fresh instance per request, no HTTP; called from a
    // runtime worker, as the gateway calls it (a `block_on` caller outside
    // the workers would add a cross-thread wake-up to every request).
    let mut in_process = Vec::new();
    for (app, _) in &apps {
        let latencies = citadel_rt.block_on(citadel_rt.spawn({
            let citadel = citadel.clone();
            let app = app.to_string();
            async move { in_process_latency(&citadel, &app).await }
        }))??;
        println!("{app} {}", in_process_line(&latencies));
        in_process.push(latencies);
    }

    // 2. The real gateway, each app in turn.
    let (gateway_addr, gateway_stop, gateway_task) = {
        let citadel = citadel.clone();
        start_server(&citadel_rt, move |listener, shutdown| {
            citadel_host::gateway::serve(citadel, listener, shutdown)
        })?
    };
    let mut gateway = Vec::new();
    let mut gateway_wrk = Vec::new();
    for (app, path) in &apps {
        let load = run_load(gateway_addr, path, CONNECTIONS, WARMUP, measure)?;
        print_load(&format!("gateway {app}"), &load);
        gateway.push(load);
        gateway_wrk.push(
            wrk.as_ref()
                .map(|wrk| run_wrk(wrk, gateway_addr, path, wrk_seconds)),
        );
    }
    stop_server(&citadel_rt, gateway_stop, gateway_task, "gateway")?;
    drop(citadel);
    citadel_rt.shutdown_timeout(Duration::from_secs(2));

    // 2b. The same gateway with PostgreSQL as its store (under
    // tools/with-postgres): the hot path must not query the database.
    let on_postgres = match std::env::var_os("CITADEL_TEST_POSTGRES") {
        Some(_) => Some(gateway_on_postgres(measure)?),
        None => None,
    };
    if let Some(load) = &on_postgres {
        print_load("gateway on postgres", load);
    }

    // 3. The same answer from a native axum handler.
    let native_rt = server_runtime("native-server")?;
    let (native_addr, native_stop, native_task) = start_server(&native_rt, serve_native)?;
    let native = run_load(native_addr, NATIVE_PATH, CONNECTIONS, WARMUP, measure)?;
    print_load("native axum", &native);
    let native_wrk = wrk
        .as_ref()
        .map(|wrk| run_wrk(wrk, native_addr, NATIVE_PATH, wrk_seconds));
    stop_server(&native_rt, native_stop, native_task, "native axum")?;
    native_rt.shutdown_timeout(Duration::from_secs(2));

    // 4. wrk, when installed.
    match &native_wrk {
        Some(native_out) => {
            for ((app, _), gateway_out) in apps.iter().zip(&gateway_wrk) {
                let out = gateway_out
                    .as_ref()
                    .map(|o| o.as_deref().unwrap_or_else(|e| e.as_str()));
                println!(
                    "\n-- wrk -t1 -c{CONNECTIONS} -d{wrk_seconds}s: citadel gateway, {app} --"
                );
                println!("{}", out.unwrap_or_default());
            }
            println!("-- wrk -t1 -c{CONNECTIONS} -d{wrk_seconds}s: native axum --");
            println!("{}", native_out.as_deref().unwrap_or_else(|e| e.as_str()));
        }
        None => println!("\n(wrk not found on PATH: skipping the wrk runs)"),
    }

    // 5. Summary.
    println!("\n== citadel gateway benchmark ==");
    for (i, (app, _)) in apps.iter().enumerate() {
        let (size, compiled) = installs[i];
        println!(
            "{app}: component {:.1} MiB, first compile (install) {:.0} ms",
            size as f64 / (1 << 20) as f64,
            millis(compiled)
        );
        println!("{app} {}", in_process_line(&in_process[i]));
        println!("{}", load_line(&format!("gateway {app}"), &gateway[i]));
    }
    if let (Some(load), Some(hello)) = (&on_postgres, gateway.first()) {
        println!("{}", load_line("gateway on postgres (hello)", load));
        println!(
            "ratio postgres/sled gateway throughput: {:.3} (target >= 0.9)",
            load.requests_per_second() / hello.requests_per_second()
        );
    }
    println!("{}", load_line("native axum", &native));
    for ((app, _), load) in apps.iter().zip(&gateway) {
        let ratio = if native.requests_per_second() > 0.0 {
            load.requests_per_second() / native.requests_per_second()
        } else {
            f64::NAN
        };
        println!("ratio citadel {app}/native throughput: {ratio:.3}");
    }
    println!(
        "(server: tokio multi-thread, {SERVER_WORKERS} workers; load: 1 thread, {CONNECTIONS} \
         keep-alive HTTP/1.1 connections, {:.1} s warm-up + {:.1} s measured)",
        WARMUP.as_secs_f64(),
        measure.as_secs_f64()
    );

    Ok(())
}

/// The hello load through a host whose store is a fresh PostgreSQL database.
fn gateway_on_postgres(measure: Duration) -> anyhow::Result<LoadResult> {
    let dir = tempfile::tempdir()?;
    let runtime = server_runtime("citadel-pg-server")?;
    let database = runtime
        .block_on(citadel_host::store::postgres_testing::TestDatabase::create())
        .context("a bench database")?;
    let citadel = runtime.block_on(citadel_host::Citadel::open(&citadel_host::HostConfig {
        database_url: Some(database.url.clone()),
        ..citadel_host::HostConfig::new(dir.path())
    }))?;
    let (addr, stop, task) = start_server(&runtime, move |listener, shutdown| {
        citadel_host::gateway::serve(citadel, listener, shutdown)
    })?;
    let load = run_load(addr, NATIVE_PATH, CONNECTIONS, WARMUP, measure)?;
    stop_server(&runtime, stop, task, "gateway on postgres")?;
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(load)
}

/// The apps `BENCH_APP` names (`hello`, `hello-js`), both by default.
fn selected_apps() -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    match std::env::var("BENCH_APP") {
        Err(_) => Ok(APPS.to_vec()),
        Ok(wanted) => APPS
            .iter()
            .find(|(app, _)| *app == wanted.trim())
            .map(|app| vec![*app])
            .ok_or_else(|| anyhow!("BENCH_APP must be `hello` or `hello-js`, got `{wanted}`")),
    }
}

/// The manifest and the component bytes of a measured app.
fn component_of(app: &str) -> anyhow::Result<(String, Vec<u8>)> {
    if app == "hello-js" {
        let path = citadel_host::samples::built_component("hello-js");
        let bytes = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
        return Ok((HELLO_JS_MANIFEST.to_string(), bytes));
    }
    let (_, manifest, component) = citadel_host::samples::SAMPLES
        .iter()
        .find(|(file, _, _)| *file == format!("{app}.toml"))
        .ok_or_else(|| anyhow!("no sample `{app}`"))?;
    Ok((manifest.to_string(), component.to_vec()))
}

fn in_process_line(latencies: &Latencies) -> String {
    format!(
        "in-process instantiate+handle: p50 {:.0} µs  p90 {:.0} µs  p99 {:.0} µs  ({} requests)",
        micros(latencies.percentile(50.0)),
        micros(latencies.percentile(90.0)),
        micros(latencies.percentile(99.0)),
        latencies.latencies.len(),
    )
}

fn env_seconds(name: &str) -> anyhow::Result<Option<f64>> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse::<f64>()
            .map(Some)
            .with_context(|| format!("{name} must be a number of seconds, got `{value}`")),
        Err(_) => Ok(None),
    }
}

/// A running server: its address, its stop signal and its task.
type Server = (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<std::io::Result<()>>,
);

/// Bind a loopback listener on `rt` and spawn `serve(listener, shutdown)` there.
fn start_server<F, Fut>(rt: &TokioRuntime, serve: F) -> anyhow::Result<Server>
where
    F: FnOnce(TcpListener, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = Box::pin(async move {
        let _ = stopped.await;
    });
    let _guard = rt.enter();
    let task = rt.spawn(serve(listener, shutdown));
    Ok((addr, stop, task))
}

fn server_runtime(name: &str) -> anyhow::Result<TokioRuntime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(SERVER_WORKERS)
        .thread_name(name)
        .enable_all()
        .build()?)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Latencies, sorted, with nearest-rank percentiles.
struct Latencies {
    latencies: Vec<Duration>,
}

impl Latencies {
    fn new(mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Latencies { latencies }
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

async fn in_process_latency(
    citadel: &citadel_host::Citadel,
    app: &str,
) -> anyhow::Result<Latencies> {
    let app = citadel
        .registry
        .live(app)
        .ok_or_else(|| anyhow!("the app `{app}` is not installed"))?;
    let iterations = match std::env::var("BENCH_IN_PROCESS_REQUESTS") {
        Ok(count) => count
            .trim()
            .parse()
            .with_context(|| format!("BENCH_IN_PROCESS_REQUESTS must be a count, got `{count}`"))?,
        Err(_) => IN_PROCESS_ITERATIONS,
    };
    let mut latencies = Vec::with_capacity(iterations);
    for i in 0..IN_PROCESS_WARMUP + iterations {
        let request = http::Request::get("http://localhost/").body(axum::body::Body::empty())?;
        let started = Instant::now();
        let response = citadel
            .runtime
            .handle(
                &app,
                request,
                citadel_host::runtime::Caller {
                    request_id: format!("bench-{i}"),
                    citizen: None,
                },
            )
            .await?;
        let status = response.status();
        let body = citadel_host::runtime::collect_body(response.into_body())
            .await
            .map_err(|e| anyhow!("collecting the response body failed: {e:?}"))?;
        let elapsed = started.elapsed();
        if status != http::StatusCode::OK || body != EXPECTED_BODY.as_bytes() {
            bail!(
                "unexpected in-process answer: {status} {:?}",
                String::from_utf8_lossy(&body)
            );
        }
        if i >= IN_PROCESS_WARMUP {
            latencies.push(elapsed);
        }
    }
    Ok(Latencies::new(latencies))
}

async fn serve_native(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = axum::Router::new().route(
        NATIVE_PATH,
        axum::routing::get(|| async {
            (
                [("content-type", "text/plain; charset=utf-8")],
                EXPECTED_BODY,
            )
        }),
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

fn stop_server(
    rt: &TokioRuntime,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    name: &str,
) -> anyhow::Result<()> {
    let _ = stop.send(());
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await })
        .map_err(|_| anyhow!("the {name} server did not shut down within 5 s"))?
        .with_context(|| format!("the {name} server task failed"))?
        .with_context(|| format!("the {name} server failed"))
}

/// What one load run saw.
struct LoadResult {
    latencies: Latencies,
    window: Duration,
    transport_errors: u64,
    bad_status: u64,
    bad_body: u64,
    first_error: Option<String>,
}

impl LoadResult {
    fn errors(&self) -> u64 {
        self.transport_errors + self.bad_status + self.bad_body
    }

    fn requests_per_second(&self) -> f64 {
        self.latencies.latencies.len() as f64 / self.window.as_secs_f64()
    }
}

fn load_line(name: &str, result: &LoadResult) -> String {
    format!(
        "{name} ({CONNECTIONS} conns): {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
        result.requests_per_second(),
        millis(result.latencies.percentile(50.0)),
        millis(result.latencies.percentile(99.0)),
        result.errors(),
    )
}

fn print_load(name: &str, result: &LoadResult) {
    println!("{}", load_line(name, result));
    if result.errors() > 0 {
        println!(
            "  errors: {} transport, {} non-200, {} wrong body; first: {}",
            result.transport_errors,
            result.bad_status,
            result.bad_body,
            result.first_error.as_deref().unwrap_or("-"),
        );
    }
}

/// Drive `connections` keep-alive connections from one OS thread with a
/// single-threaded runtime (like `wrk -t1`).
fn run_load(
    addr: SocketAddr,
    path: &'static str,
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<LoadResult> {
    let load = std::thread::Builder::new()
        .name("load-generator".into())
        .spawn(move || -> anyhow::Result<LoadResult> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let start = Instant::now();
                let measure_from = start + warmup;
                let measure_until = measure_from + measure;
                let host = Arc::new(addr.to_string());
                let workers: Vec<_> = (0..connections)
                    .map(|_| {
                        tokio::spawn(connection_worker(
                            addr,
                            host.clone(),
                            path,
                            measure_from,
                            measure_until,
                        ))
                    })
                    .collect();
                let mut all = Vec::new();
                let mut result = LoadResult {
                    latencies: Latencies::new(Vec::new()),
                    window: measure,
                    transport_errors: 0,
                    bad_status: 0,
                    bad_body: 0,
                    first_error: None,
                };
                for worker in workers {
                    let stats = worker.await?;
                    all.extend(stats.latencies);
                    result.transport_errors += stats.transport_errors;
                    result.bad_status += stats.bad_status;
                    result.bad_body += stats.bad_body;
                    if result.first_error.is_none() {
                        result.first_error = stats.first_error;
                    }
                }
                result.latencies = Latencies::new(all);
                Ok(result)
            })
        })?;
    load.join()
        .map_err(|_| anyhow!("the load generator panicked"))?
}

#[derive(Default)]
struct WorkerStats {
    latencies: Vec<Duration>,
    transport_errors: u64,
    bad_status: u64,
    bad_body: u64,
    first_error: Option<String>,
}

impl WorkerStats {
    fn note(&mut self, message: String) {
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }
}

enum Failure {
    Transport(String),
    Status(http::StatusCode),
    Body(String),
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn one_request(
    sender: &mut SendRequest<Empty<Bytes>>,
    host: &str,
    path: &str,
) -> Result<(), Failure> {
    sender
        .ready()
        .await
        .map_err(|e| Failure::Transport(format!("ready: {e}")))?;
    let request = http::Request::get(path)
        .header(http::header::HOST, host)
        .body(Empty::<Bytes>::new())
        .map_err(|e| Failure::Transport(format!("request: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Failure::Transport(format!("send: {e}")))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Failure::Transport(format!("body: {e}")))?
        .to_bytes();
    if status != http::StatusCode::OK {
        return Err(Failure::Status(status));
    }
    if body != EXPECTED_BODY.as_bytes() {
        return Err(Failure::Body(String::from_utf8_lossy(&body).into_owned()));
    }
    Ok(())
}

/// One connection issuing sequential requests until `measure_until`; only
/// requests started and finished inside the measured window count.
async fn connection_worker(
    addr: SocketAddr,
    host: Arc<String>,
    path: &'static str,
    measure_from: Instant,
    measure_until: Instant,
) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut sender: Option<SendRequest<Empty<Bytes>>> = None;
    while Instant::now() < measure_until {
        let current = match sender.as_mut() {
            Some(current) => current,
            None => match connect(addr).await {
                Ok(fresh) => sender.insert(fresh),
                Err(e) => {
                    stats.transport_errors += 1;
                    stats.note(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let outcome = one_request(current, &host, path).await;
        let finished = Instant::now();
        match outcome {
            Ok(()) => {
                if started >= measure_from && finished <= measure_until {
                    stats.latencies.push(finished - started);
                }
            }
            Err(Failure::Transport(e)) => {
                stats.transport_errors += 1;
                stats.note(e);
                sender = None;
            }
            Err(Failure::Status(status)) => {
                stats.bad_status += 1;
                stats.note(format!("status {status}"));
            }
            Err(Failure::Body(body)) => {
                stats.bad_body += 1;
                stats.note(format!("body {body:?}"));
            }
        }
    }
    stats
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn run_wrk(wrk: &Path, addr: SocketAddr, path: &str, seconds: u64) -> Result<String, String> {
    let output = Command::new(wrk)
        .args([
            "-t1".to_string(),
            format!("-c{CONNECTIONS}"),
            format!("-d{seconds}s"),
            "--latency".to_string(),
            format!("http://{addr}{path}"),
        ])
        .output()
        .map_err(|e| format!("running wrk failed: {e}"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        text.push_str(&format!(
            "\nwrk exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(text)
}
