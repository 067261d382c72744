//! Payments benchmark: durable captures per second and confirm latency
//! through the real gateway (HTTP, a demo-wallet confirm that flushes the
//! ledger before answering), with 16 concurrent citizens.
//! Run: `cargo bench -p citadel-host --bench payments` (`BENCH_CONFIRMS`, default 2000).

use anyhow::{bail, Context};
use citadel_host::{gateway, Citadel, HostConfig};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;
const AMOUNT: u64 = 10_000;

fn main() -> anyhow::Result<()> {
    let confirms: usize = std::env::var("BENCH_CONFIRMS")
        .ok()
        .map(|v| v.parse())
        .transpose()
        .context("BENCH_CONFIRMS must be a number")?
        .unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(confirms))
}

async fn run(confirms: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let citadel = Citadel::open(&HostConfig {
        install_samples: false,
        // The demo citizens and their demo wallets pay.
        development: true,
        ..HostConfig::new(dir.path())
    })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway::serve(citadel.clone(), listener, async {
        let _ = stopped.await;
    }));

    // One citizen per worker; each wallet holds the demo 5,000,000 VND.
    let per_worker = confirms.div_ceil(CONCURRENCY);
    if per_worker as u64 * AMOUNT > citadel_host::payments::DEMO_BALANCE as u64 {
        bail!("BENCH_CONFIRMS is too large for the demo wallets");
    }
    let mut work = Vec::new();
    for worker in 0..CONCURRENCY {
        let citizen = format!("c-demo-{}", worker + 1);
        let (token, _) = citadel.sessions.create(&citizen)?;
        let intents: Vec<String> = (0..per_worker)
            .map(|i| {
                citadel
                    .payments
                    .create(
                        "bench",
                        "citadel-bench",
                        &citizen,
                        "pairwise",
                        AMOUNT,
                        "Vé tàu",
                        &format!("{worker}-{i}"),
                    )
                    .map(|intent| intent.id)
            })
            .collect::<Result<_, _>>()?;
        work.push((token, intents));
    }

    let client = reqwest::Client::new();
    let started = Instant::now();
    let tasks = work.into_iter().map(|(token, intents)| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(intents.len());
            for id in intents {
                let begun = Instant::now();
                let response = client
                    .post(format!("{url}/api/v1/me/payments/{id}/confirm"))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                if response.status() != 200 {
                    bail!("confirm answered {}", response.status());
                }
                latencies.push(begun.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    });
    let mut latencies: Vec<Duration> = Vec::new();
    for task in futures::future::join_all(tasks).await {
        latencies.extend(task??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let report = citadel.payments.reconcile()?;
    println!(
        "payments: {} durable captures in {:.2} s = {:.0} captures/s; confirm latency p50 {:.2} ms, p99 {:.2} ms ({CONCURRENCY} concurrent citizens); reconciliation clean: {}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        report.clean
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}
