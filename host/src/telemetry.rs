//! Metrics in Prometheus format: per app, requests by status class, a
//! latency histogram, traps, timeouts, out-of-memory kills and denials by
//! capability. One recorder per process; `/metrics` renders it.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Install the process's recorder (once) and return its handle.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("citadel_app_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder keeps every histogram sample until upkeep folds it into
/// the buckets: without a regular upkeep a host nobody scrapes grows by
/// every request's latency sample, forever.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("citadel-metrics".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep not started; histograms grow until scraped");
    }
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    match handle() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    }
}

/// One app's request metrics, registered once when a version goes live
/// rather than looked up by their labels on every request.
pub struct AppMetrics {
    /// Requests by status class: 1xx, 2xx, 3xx, 4xx, 5xx.
    requests: [metrics::Counter; 5],
    latency: metrics::Histogram,
}

impl AppMetrics {
    pub fn new(app: &str) -> Self {
        let requests = ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|class| {
            metrics::counter!("citadel_app_requests_total", "app" => app.to_string(), "status" => class)
        });
        AppMetrics {
            requests,
            latency: metrics::histogram!(
                "citadel_app_request_duration_seconds",
                "app" => app.to_string()
            ),
        }
    }

    /// A request finished with `status` after `latency`.
    pub fn request(&self, status: u16, latency: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class].increment(1);
        self.latency.record(latency.as_secs_f64());
    }
}

/// A guest failed: `kind` is `trap`, `timeout` or `out_of_memory`.
pub fn guest_failure(app: &str, kind: &'static str) {
    metrics::counter!("citadel_app_guest_failures_total", "app" => app.to_string(), "kind" => kind)
        .increment(1);
}

/// `count` host calls of `app` were denied for lack of `capability`.
pub fn denials(app: &str, capability: &str, count: u64) {
    metrics::counter!(
        "citadel_app_denials_total",
        "app" => app.to_string(),
        "capability" => capability.to_string()
    )
    .increment(count);
}

/// One app's metrics as JSON for its publisher: every series labelled with
/// the app, by metric name, with its other labels and value.
pub fn app_summary(app: &str) -> serde_json::Value {
    let label = format!("app=\"{app}\"");
    let mut series: Vec<serde_json::Value> = Vec::new();
    for line in render().lines() {
        let Some((name_and_labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, labels)) = name_and_labels.split_once('{') else {
            continue;
        };
        let labels = labels.trim_end_matches('}');
        if !labels.split(',').any(|l| l == label) {
            continue;
        }
        let others: serde_json::Map<String, serde_json::Value> = labels
            .split(',')
            .filter(|l| *l != label)
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), serde_json::json!(v.trim_matches('"'))))
            .collect();
        series.push(serde_json::json!({
            "metric": name,
            "labels": others,
            "value": value.parse::<f64>().unwrap_or(f64::NAN),
        }));
    }
    serde_json::json!({ "app": app, "series": series })
}
