//! Store benchmark ("state that outlives the process"), through the real
//! gateway of an in-process host:
//!
//! 1. durable kv writes per second of the `notes` sample app
//!    (`POST /apps/notes/api/notes`, durable before the 201) at 1, 8 and 32
//!    concurrent clients, its reads (`GET /apps/notes/api/notes/{id}`) at 32
//!    clients, and the write/read ratio at 32 clients (target ≥ 60 %);
//! 2. durable payment captures per second (demo-wallet confirms, 16 clients);
//! 3. a citizen's payment history (`GET /api/v1/me/payments`) with few
//!    intents in the store and with `BENCH_INTENTS` in all (target p99 < 5 ms).
//!
//! Run: `cargo bench -p citadel-host --bench store` (sled);
//! `tools/with-postgres cargo bench -p citadel-host --bench store` runs every
//! phase on sled, then on a fresh PostgreSQL database, in the same run. Sizes: `BENCH_SECS`
//! (measured seconds per load phase, default 5), `BENCH_WARMUP_SECS` (1),
//! `BENCH_CAPTURES` (2000), `BENCH_INTENTS` (100000 in the store in all),
//! `BENCH_HISTORY_REQUESTS` (200).
//!
//! The host's own API is called only from the helpers under "Host calls".

use anyhow::{anyhow, bail, Context};
use citadel_host::{gateway, Citadel, HostConfig};
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KV_WRITE_CLIENTS: [usize; 3] = [1, 8, 32];
const KV_READ_CLIENTS: usize = 32;
const CAPTURE_CLIENTS: usize = 16;
const SERVER_WORKERS: usize = 2;
/// Unexpired pending intents one app may hold for one citizen (the default
/// `max_pending_per_citizen`): seeding spreads intents over citizens.
const PENDING_PER_CITIZEN: usize = 20;
/// Demo citizens are `c-demo-1` … `c-demo-100000`.
const DEMO_CITIZENS: usize = 100_000;
/// Capture-phase citizens start after this one; history citizens after
/// `HISTORY_CITIZENS_FROM`.
const CAPTURE_CITIZENS_FROM: usize = 0;
const HISTORY_CITIZENS_FROM: usize = 10_000;
const CAPTURE_APP: &str = "bench-pay";
const HISTORY_APP: &str = "bench-shop";
const PUBLISHER: &str = "citadel-bench";
const AMOUNT: u64 = 10_000;
/// Citizens whose history is read (each has its own session).
const HISTORY_READERS: usize = 50;
/// Concurrent seeding tasks.
const SEEDERS: usize = 4;

struct Settings {
    measure: Duration,
    warmup: Duration,
    captures: usize,
    intents: usize,
    history_requests: usize,
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| anyhow!("{name} must be a number, got `{value}`")),
        Err(_) => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let settings = Settings {
        measure: Duration::from_secs_f64(env_number("BENCH_SECS", 5.0)?),
        warmup: Duration::from_secs_f64(env_number("BENCH_WARMUP_SECS", 1.0)?),
        captures: env_number("BENCH_CAPTURES", 2000)?,
        intents: env_number("BENCH_INTENTS", 100_000)?,
        history_requests: env_number("BENCH_HISTORY_REQUESTS", 200)?,
    };
    if settings.measure.is_zero() || settings.captures == 0 || settings.history_requests == 0 {
        bail!("BENCH_SECS, BENCH_CAPTURES and BENCH_HISTORY_REQUESTS must be positive");
    }
    if settings.captures.div_ceil(PENDING_PER_CITIZEN) > HISTORY_CITIZENS_FROM {
        bail!("BENCH_CAPTURES is too large for the capture citizens");
    }

    let mut summary = run_on("sled", None, &settings)?;
    // Under tools/with-postgres, the same phases on PostgreSQL, same run.
    if std::env::var_os("CITADEL_TEST_POSTGRES").is_some() {
        let database = tokio::runtime::Runtime::new()?
            .block_on(citadel_host::store::postgres_testing::TestDatabase::create())
            .context("a bench database")?;
        summary.extend(run_on("postgres", Some(database.url.clone()), &settings)?);
    } else {
        println!("(run under tools/with-postgres to measure PostgreSQL too)");
    }

    println!("\n== citadel store benchmark ==");
    for line in summary {
        println!("{line}");
    }
    Ok(())
}

/// Every phase on one backend (`database_url`: PostgreSQL, else sled in a
/// temp dir); the summary lines, each naming the backend.
fn run_on(
    backend: &str,
    database_url: Option<String>,
    settings: &Settings,
) -> anyhow::Result<Vec<String>> {
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(SERVER_WORKERS)
        .thread_name("citadel-server")
        .enable_all()
        .build()?;
    let citadel = runtime.block_on(Citadel::open(&HostConfig {
        // The samples (`notes`) are installed; demo citizens and their
        // demo wallets pay.
        development: true,
        database_url,
        ..HostConfig::new(dir.path())
    }))?;
    let (url, stop, server) = {
        let _guard = runtime.enter();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = runtime.spawn(gateway::serve(citadel.clone(), listener, async {
            let _ = stopped.await;
        }));
        (url, stop, server)
    };
    println!(
        "store bench on {backend}: server tokio multi-thread {SERVER_WORKERS} workers; load from one thread, \
         one keep-alive connection per client; {:.1} s warm-up + {:.1} s measured per phase; data dir {}",
        settings.warmup.as_secs_f64(),
        settings.measure.as_secs_f64(),
        dir.path().display()
    );

    let history_requests = settings.history_requests;
    let mut summary = Vec::new();
    let mut say = |line: String| {
        let line = format!("{backend} {line}");
        println!("{line}");
        summary.push(line);
    };

    // 1. Durable kv writes, then reads of the notes written.
    let mut note_ids = Vec::new();
    let mut write_at_32 = 0.0;
    for clients in KV_WRITE_CLIENTS {
        let load = run_load(&url, Op::NoteWrite, clients, settings)?;
        say(load.line("kv-write", clients));
        note_ids.extend(load.note_ids.iter().copied());
        if clients == KV_READ_CLIENTS {
            write_at_32 = load.requests_per_second();
        }
    }
    if note_ids.is_empty() {
        bail!("no note was written");
    }
    let read = run_load(
        &url,
        Op::NoteRead(Arc::new(note_ids.clone())),
        KV_READ_CLIENTS,
        settings,
    )?;
    say(read.line("kv-read", KV_READ_CLIENTS));
    say(format!(
        "kv-write/read clients={KV_READ_CLIENTS} ratio={:.1}% (target >= 60%; {} notes in the store)",
        100.0 * write_at_32 / read.requests_per_second(),
        note_ids.len()
    ));

    // 2. Durable payment captures.
    let work = runtime.block_on(capture_work(&citadel, settings.captures))?;
    let captures = on_load_thread({
        let url = url.clone();
        move || captures(url, work)
    })?;
    say(format!(
        "pay-capture clients={CAPTURE_CLIENTS} captures={} secs={:.2} captures/s={:.0} p50_ms={:.2} p99_ms={:.2}",
        captures.latencies.len(),
        captures.elapsed.as_secs_f64(),
        captures.latencies.len() as f64 / captures.elapsed.as_secs_f64(),
        millis(captures.latencies.percentile(50.0)),
        millis(captures.latencies.percentile(99.0)),
    ));
    let mut in_store = settings.captures;

    // 3. A citizen's payment history, with few intents in the store (the
    // readers' own and the captures), then with `BENCH_INTENTS` in all.
    let total = settings.intents.max(in_store + PENDING_PER_CITIZEN);
    let readers = HISTORY_READERS.min((total - in_store) / PENDING_PER_CITIZEN);
    let sessions = runtime.block_on(history_sessions(&citadel, readers))?;
    let first_seed = readers * PENDING_PER_CITIZEN;
    runtime.block_on(seed_history(&citadel, 0..first_seed))?;
    in_store += first_seed;
    let history = on_load_thread({
        let (url, sessions) = (url.clone(), sessions.clone());
        move || history_latency(url, sessions, history_requests)
    })?;
    say(history.line(in_store, settings.history_requests));

    let seed = total - in_store;
    let started = Instant::now();
    runtime.block_on(seed_history(&citadel, first_seed..first_seed + seed))?;
    in_store += seed;
    println!(
        "seeded {seed} intents ({PENDING_PER_CITIZEN} per citizen) in {:.1} s = {:.0}/s",
        started.elapsed().as_secs_f64(),
        seed as f64 / started.elapsed().as_secs_f64()
    );
    let history = on_load_thread({
        let url = url.clone();
        move || history_latency(url, sessions, history_requests)
    })?;
    say(history.line(in_store, settings.history_requests));

    let _ = stop.send(());
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), server).await })
        .map_err(|_| anyhow!("the gateway did not shut down within 10 s"))???;
    drop(citadel);
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(summary)
}

// ---------------------------------------------------------------------------
// Host calls: the only places that use the host's in-process API.

/// A session token for `citizen`.
async fn open_session(citadel: &Citadel, citizen: &str) -> anyhow::Result<String> {
    let (token, _) = citadel.sessions.create(citizen).await?;
    Ok(token)
}

/// A pending intent of `app` for `citizen`; its id.
async fn create_intent(
    citadel: &Citadel,
    app: &str,
    citizen: &str,
    reference: &str,
) -> anyhow::Result<String> {
    let intent = citadel
        .payments
        .create(
            app,
            PUBLISHER,
            citizen,
            "pairwise",
            AMOUNT,
            "Vé tham quan Đại Nội",
            reference,
        )
        .await?;
    Ok(intent.id)
}

// ---------------------------------------------------------------------------

fn demo_citizen(n: usize) -> String {
    format!("c-demo-{}", n + 1)
}

/// The capture phase's work: per client, (session, intent) pairs, at most
/// `PENDING_PER_CITIZEN` pending intents per citizen.
async fn capture_work(
    citadel: &Citadel,
    captures: usize,
) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    let mut work = vec![Vec::new(); CAPTURE_CLIENTS];
    for c in 0..captures.div_ceil(PENDING_PER_CITIZEN) {
        let citizen = demo_citizen(CAPTURE_CITIZENS_FROM + c);
        let token = open_session(citadel, &citizen).await?;
        let first = c * PENDING_PER_CITIZEN;
        for i in first..captures.min(first + PENDING_PER_CITIZEN) {
            let id = create_intent(citadel, CAPTURE_APP, &citizen, &format!("cap-{i}")).await?;
            work[i % CAPTURE_CLIENTS].push((token.clone(), id));
        }
    }
    Ok(work)
}

/// Sessions of the first `readers` history citizens.
async fn history_sessions(citadel: &Citadel, readers: usize) -> anyhow::Result<Arc<Vec<String>>> {
    let mut sessions = Vec::with_capacity(readers);
    for r in 0..readers {
        sessions.push(open_session(citadel, &demo_citizen(HISTORY_CITIZENS_FROM + r)).await?);
    }
    Ok(Arc::new(sessions))
}

/// History intents `seq` (intent `i` belongs to history citizen
/// `i / PENDING_PER_CITIZEN`), pending, from `SEEDERS` concurrent tasks.
async fn seed_history(citadel: &Arc<Citadel>, seq: Range<usize>) -> anyhow::Result<()> {
    if HISTORY_CITIZENS_FROM + seq.end.div_ceil(PENDING_PER_CITIZEN) > DEMO_CITIZENS {
        bail!("BENCH_INTENTS is too large for the demo citizens");
    }
    let tasks = (0..SEEDERS).map(|seeder| {
        let (citadel, seq) = (citadel.clone(), seq.clone());
        tokio::spawn(async move {
            for i in seq.filter(|i| (i / PENDING_PER_CITIZEN) % SEEDERS == seeder) {
                let citizen = demo_citizen(HISTORY_CITIZENS_FROM + i / PENDING_PER_CITIZEN);
                create_intent(&citadel, HISTORY_APP, &citizen, &format!("h-{i}")).await?;
            }
            Ok::<_, anyhow::Error>(())
        })
    });
    for task in futures::future::join_all(tasks).await {
        task??;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Load.

/// Run `load` on its own thread with a single-threaded runtime (like
/// `wrk -t1`), so that the client does not share the server's workers.
fn on_load_thread<F, Fut, T>(load: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    std::thread::Builder::new()
        .name("load-generator".into())
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(load())
        })?
        .join()
        .map_err(|_| anyhow!("the load generator panicked"))?
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Latencies, sorted, with nearest-rank percentiles.
struct Latencies(Vec<Duration>);

impl Latencies {
    fn new(mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Latencies(latencies)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }
}

/// What a load phase sends.
#[derive(Clone)]
enum Op {
    /// `POST /apps/notes/api/notes` (201 with the note).
    NoteWrite,
    /// `GET /apps/notes/api/notes/{id}` of one of these notes.
    NoteRead(Arc<Vec<u64>>),
}

/// What one load phase saw.
struct Load {
    latencies: Latencies,
    window: Duration,
    errors: u64,
    first_error: Option<String>,
    note_ids: Vec<u64>,
}

impl Load {
    fn requests_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.window.as_secs_f64()
    }

    fn line(&self, name: &str, clients: usize) -> String {
        let mut line = format!(
            "{name} clients={clients} req/s={:.0} p50_ms={:.2} p99_ms={:.2} requests={} errors={}",
            self.requests_per_second(),
            millis(self.latencies.percentile(50.0)),
            millis(self.latencies.percentile(99.0)),
            self.latencies.len(),
            self.errors,
        );
        if let Some(first) = &self.first_error {
            line.push_str(&format!(" (first error: {first})"));
        }
        line
    }
}

#[derive(Default)]
struct ClientStats {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
    note_ids: Vec<u64>,
}

/// `clients` clients issuing `op` back to back for the warm-up and the
/// measured window; only requests started and finished inside the window count.
fn run_load(url: &str, op: Op, clients: usize, settings: &Settings) -> anyhow::Result<Load> {
    let (url, warmup, measure) = (url.to_string(), settings.warmup, settings.measure);
    on_load_thread(move || async move {
        let measure_from = Instant::now() + warmup;
        let measure_until = measure_from + measure;
        let tasks: Vec<_> = (0..clients)
            .map(|client| {
                tokio::spawn(one_client(
                    url.clone(),
                    op.clone(),
                    client,
                    measure_from,
                    measure_until,
                ))
            })
            .collect();
        let mut load = Load {
            latencies: Latencies::new(Vec::new()),
            window: measure,
            errors: 0,
            first_error: None,
            note_ids: Vec::new(),
        };
        let mut latencies = Vec::new();
        for task in tasks {
            let stats = task.await?;
            latencies.extend(stats.latencies);
            load.errors += stats.errors;
            load.first_error = load.first_error.or(stats.first_error);
            load.note_ids.extend(stats.note_ids);
        }
        load.latencies = Latencies::new(latencies);
        Ok(load)
    })
}

async fn one_client(
    url: String,
    op: Op,
    client: usize,
    measure_from: Instant,
    measure_until: Instant,
) -> ClientStats {
    // One client, one keep-alive connection.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("a reqwest client");
    let mut stats = ClientStats::default();
    let mut n: usize = 0;
    while Instant::now() < measure_until {
        n += 1;
        let started = Instant::now();
        let outcome = match &op {
            Op::NoteWrite => write_note(&http, &url, client, n).await.map(Some),
            Op::NoteRead(ids) => {
                let id = ids[(client * 7919 + n * 104_729) % ids.len()];
                read_note(&http, &url, id).await.map(|()| None)
            }
        };
        let finished = Instant::now();
        match outcome {
            Ok(id) => {
                stats.note_ids.extend(id);
                if started >= measure_from && finished <= measure_until {
                    stats.latencies.push(finished - started);
                }
            }
            Err(e) => {
                stats.errors += 1;
                stats.first_error.get_or_insert(format!("{e:#}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    stats
}

/// One durable note; its id.
async fn write_note(
    http: &reqwest::Client,
    url: &str,
    client: usize,
    n: usize,
) -> anyhow::Result<u64> {
    let response = http
        .post(format!("{url}/apps/notes/api/notes"))
        .json(&serde_json::json!({
            "text": format!("Ghi chú {n} của khách {client}: đèn đường hỏng ở Lê Lợi"),
        }))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != 201 {
        bail!(
            "write answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let note: serde_json::Value = serde_json::from_slice(&body)?;
    note["id"]
        .as_u64()
        .ok_or_else(|| anyhow!("the new note has no id: {note}"))
}

async fn read_note(http: &reqwest::Client, url: &str, id: u64) -> anyhow::Result<()> {
    let response = http
        .get(format!("{url}/apps/notes/api/notes/{id}"))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != 200 {
        bail!("read answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// What the capture phase saw.
struct Captures {
    latencies: Latencies,
    elapsed: Duration,
}

/// Each client confirms its intents with the demo wallet, back to back.
async fn captures(url: String, work: Vec<Vec<(String, String)>>) -> anyhow::Result<Captures> {
    let started = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|intents| {
            let url = url.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut latencies = Vec::with_capacity(intents.len());
                for (token, id) in intents {
                    let begun = Instant::now();
                    let response = http
                        .post(format!("{url}/api/v1/me/payments/{id}/confirm"))
                        .bearer_auth(&token)
                        .send()
                        .await?;
                    let status = response.status();
                    let body = response.bytes().await?;
                    if status != 200 {
                        bail!(
                            "confirm answered {status}: {}",
                            String::from_utf8_lossy(&body)
                        );
                    }
                    latencies.push(begun.elapsed());
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Captures {
        elapsed: started.elapsed(),
        latencies: Latencies::new(latencies),
    })
}

/// What the history phase saw.
struct History {
    latencies: Latencies,
    entries: usize,
}

impl History {
    fn line(&self, intents: usize, requests: usize) -> String {
        format!(
            "history intents={intents} requests={requests} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} \
             entries/citizen={} (target p99 < 5 ms)",
            millis(self.latencies.percentile(50.0)),
            millis(self.latencies.percentile(99.0)),
            millis(self.latencies.percentile(100.0)),
            self.entries,
        )
    }
}

/// `requests` sequential history requests, rotating over the citizens'
/// sessions, after a few unmeasured ones.
async fn history_latency(
    url: String,
    sessions: Arc<Vec<String>>,
    requests: usize,
) -> anyhow::Result<History> {
    let http = reqwest::Client::new();
    let warmup = 5;
    let mut latencies = Vec::with_capacity(requests);
    let mut entries = 0;
    for r in 0..warmup + requests {
        let token = &sessions[r % sessions.len()];
        let started = Instant::now();
        let response = http
            .get(format!("{url}/api/v1/me/payments"))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        let elapsed = started.elapsed();
        if status != 200 {
            bail!(
                "history answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        if r >= warmup {
            latencies.push(elapsed);
        } else {
            let history: serde_json::Value =
                serde_json::from_slice(&body).context("the history is not JSON")?;
            entries = history["payments"].as_array().map_or(0, Vec::len);
        }
    }
    Ok(History {
        latencies: Latencies::new(latencies),
        entries,
    })
}
