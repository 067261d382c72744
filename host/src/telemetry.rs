//! Metrics per app: requests by status class, a latency histogram, traps,
//! timeouts, out-of-memory kills and denials by capability. Every figure is
//! counted twice in the same call: into the process's Prometheus recorder,
//! which `/metrics` renders whole, and into this module's per-app figures,
//! from which one app's summary is read without rendering every app. Also
//! the host's own backlog: erasures not yet finished.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
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

/// The status classes requests are counted by, in `AppMetrics::request`'s order.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// What one app's summary reads: the same figures as its Prometheus series,
/// kept per app so that reading one app touches no other.
#[derive(Default)]
struct AppFigures {
    /// Requests by status class, as `STATUS_CLASSES`.
    requests: [AtomicU64; 5],
    /// Requests by latency, not cumulative: index `i` counts latencies
    /// above `LATENCY_BUCKETS[i - 1]` up to `LATENCY_BUCKETS[i]`; the last
    /// one, those above every bound.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// The sum of every latency, in nanoseconds.
    latency_nanos: AtomicU64,
    /// Guest failures by kind.
    guest_failures: Mutex<BTreeMap<&'static str, u64>>,
    /// Denied host calls by capability.
    denials: Mutex<BTreeMap<String, u64>>,
}

/// Every app's figures, by app id. Like the recorder's series, an app's
/// figures stay for the life of the process.
static FIGURES: OnceLock<RwLock<HashMap<String, Arc<AppFigures>>>> = OnceLock::new();

fn figures_by_app() -> &'static RwLock<HashMap<String, Arc<AppFigures>>> {
    FIGURES.get_or_init(Default::default)
}

/// The figures of `app`, if they were ever made (by its first version or
/// its first failure or denial).
fn existing_figures(app: &str) -> Option<Arc<AppFigures>> {
    figures_by_app()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(app)
        .cloned()
}

/// The figures of `app`, made on first use.
fn figures(app: &str) -> Arc<AppFigures> {
    if let Some(figures) = existing_figures(app) {
        return figures;
    }
    figures_by_app()
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(app.to_string())
        .or_default()
        .clone()
}

/// One app's request metrics, registered once when a version goes live
/// rather than looked up by their labels on every request.
pub struct AppMetrics {
    /// Requests by status class: 1xx, 2xx, 3xx, 4xx, 5xx.
    requests: [metrics::Counter; 5],
    latency: metrics::Histogram,
    /// The same figures for the app's summary (shared by every version).
    figures: Arc<AppFigures>,
}

impl AppMetrics {
    pub fn new(app: &str) -> Self {
        let requests = STATUS_CLASSES.map(|class| {
            metrics::counter!("citadel_app_requests_total", "app" => app.to_string(), "status" => class)
        });
        AppMetrics {
            requests,
            latency: metrics::histogram!(
                "citadel_app_request_duration_seconds",
                "app" => app.to_string()
            ),
            figures: figures(app),
        }
    }

    /// A request finished with `status` after `latency`.
    pub fn request(&self, status: u16, latency: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class].increment(1);
        let seconds = latency.as_secs_f64();
        self.latency.record(seconds);
        self.figures.requests[class].fetch_add(1, Ordering::Relaxed);
        // The first bucket whose bound is at least the latency, as the
        // recorder's histogram counts it; past the last bound, `+Inf` only.
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.figures.latency[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.figures
            .latency_nanos
            .fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Erasures of citizens' data begun and not yet finished, as the host last
/// counted them (`citadel_erasures_unfinished`): one that stays above zero
/// for long means the store keeps failing them.
pub fn unfinished_erasures(count: usize) {
    metrics::gauge!("citadel_erasures_unfinished").set(count as f64);
}

/// A guest failed: `kind` is `trap`, `timeout` or `out_of_memory`.
pub fn guest_failure(app: &str, kind: &'static str) {
    metrics::counter!("citadel_app_guest_failures_total", "app" => app.to_string(), "kind" => kind)
        .increment(1);
    let figures = figures(app);
    let mut failures = figures
        .guest_failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    *failures.entry(kind).or_default() += 1;
}

/// `count` host calls of `app` were denied for lack of `capability`.
pub fn denials(app: &str, capability: &str, count: u64) {
    metrics::counter!(
        "citadel_app_denials_total",
        "app" => app.to_string(),
        "capability" => capability.to_string()
    )
    .increment(count);
    let figures = figures(app);
    let mut denials = figures
        .denials
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    match denials.get_mut(capability) {
        Some(denied) => *denied += count,
        None => {
            denials.insert(capability.to_string(), count);
        }
    }
}

/// One app's metrics, for its publisher and the operator.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AppSummary {
    pub app: String,
    /// The series `/metrics` has for the app.
    pub series: Vec<Series>,
}

/// One series of an app's summary.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Series {
    /// The metric's name, e.g. `citadel_app_requests_total`.
    pub metric: &'static str,
    /// Its labels but `app`, e.g. `{"status": "2xx"}` or `{"le": "0.005"}`.
    #[schema(value_type = BTreeMap<String, String>)]
    pub labels: BTreeMap<&'static str, String>,
    pub value: f64,
}

fn series(metric: &'static str, labels: &[(&'static str, &str)], value: f64) -> Series {
    Series {
        metric,
        labels: labels
            .iter()
            .map(|(name, value)| (*name, value.to_string()))
            .collect(),
        value,
    }
}

/// One app's metrics for its publisher and the operator: the series
/// `/metrics` has for the app (by metric name, with their labels but
/// `app`, and their value), read from that app's figures alone.
pub fn app_summary(app: &str) -> AppSummary {
    let mut all: Vec<Series> = Vec::new();
    if let Some(figures) = existing_figures(app) {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        for (class, requests) in STATUS_CLASSES.iter().zip(&figures.requests) {
            all.push(series(
                "citadel_app_requests_total",
                &[("status", *class)],
                read(requests) as f64,
            ));
        }
        // Buckets are cumulative in the exposition; `+Inf` is the count.
        let mut cumulative = 0u64;
        let bounds = LATENCY_BUCKETS.iter().map(|bound| bound.to_string());
        for (le, counted) in bounds
            .chain(std::iter::once("+Inf".to_string()))
            .zip(&figures.latency)
        {
            cumulative += read(counted);
            all.push(series(
                "citadel_app_request_duration_seconds_bucket",
                &[("le", &le)],
                cumulative as f64,
            ));
        }
        all.push(series(
            "citadel_app_request_duration_seconds_sum",
            &[],
            Duration::from_nanos(read(&figures.latency_nanos)).as_secs_f64(),
        ));
        all.push(series(
            "citadel_app_request_duration_seconds_count",
            &[],
            cumulative as f64,
        ));
        let failures = figures
            .guest_failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (kind, count) in failures {
            all.push(series(
                "citadel_app_guest_failures_total",
                &[("kind", kind)],
                count as f64,
            ));
        }
        let denials = figures
            .denials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (capability, count) in denials {
            all.push(series(
                "citadel_app_denials_total",
                &[("capability", &capability)],
                count as f64,
            ));
        }
    }
    AppSummary {
        app: app.to_string(),
        series: all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `app`'s summary as its JSON answer.
    fn summary_json(app: &str) -> serde_json::Value {
        serde_json::to_value(app_summary(app)).expect("a summary is JSON")
    }

    fn values<'a>(summary: &'a serde_json::Value, metric: &str) -> Vec<&'a serde_json::Value> {
        summary["series"]
            .as_array()
            .map(|series| series.iter().filter(|s| s["metric"] == metric).collect())
            .unwrap_or_default()
    }

    #[test]
    fn one_apps_summary_holds_only_that_apps_series() {
        let one = AppMetrics::new("telemetry-test-one");
        let other = AppMetrics::new("telemetry-test-other");
        one.request(200, Duration::from_millis(3));
        one.request(200, Duration::from_secs(20));
        one.request(503, Duration::from_micros(100));
        other.request(404, Duration::from_millis(1));
        guest_failure("telemetry-test-one", "trap");
        denials("telemetry-test-one", "kv", 2);
        denials("telemetry-test-other", "notify", 5);
        guest_failure("telemetry-test-other", "timeout");

        let summary = summary_json("telemetry-test-one");
        assert_eq!(summary["app"], "telemetry-test-one");
        let requests = values(&summary, "citadel_app_requests_total");
        assert_eq!(requests.len(), 5, "{summary}");
        let class = |status: &str| {
            requests
                .iter()
                .find(|s| s["labels"]["status"] == status)
                .map(|s| s["value"].clone())
        };
        assert_eq!(class("2xx"), Some(serde_json::json!(2.0)));
        assert_eq!(class("5xx"), Some(serde_json::json!(1.0)));
        assert_eq!(
            class("4xx"),
            Some(serde_json::json!(0.0)),
            "not the other app's 404"
        );
        let buckets = values(&summary, "citadel_app_request_duration_seconds_bucket");
        assert_eq!(buckets.len(), LATENCY_BUCKETS.len() + 1);
        let le = |bound: &str| {
            buckets
                .iter()
                .find(|b| b["labels"]["le"] == bound)
                .map(|b| b["value"].clone())
        };
        assert_eq!(le("0.0005"), Some(serde_json::json!(1.0)));
        assert_eq!(le("0.005"), Some(serde_json::json!(2.0)));
        assert_eq!(le("10"), Some(serde_json::json!(2.0)));
        assert_eq!(le("+Inf"), Some(serde_json::json!(3.0)));
        let count = values(&summary, "citadel_app_request_duration_seconds_count");
        assert_eq!(count[0]["value"], 3.0);
        let sum = values(&summary, "citadel_app_request_duration_seconds_sum");
        assert!(sum[0]["value"]
            .as_f64()
            .is_some_and(|s| (s - 20.0031).abs() < 1e-9));
        let failures = values(&summary, "citadel_app_guest_failures_total");
        assert_eq!(failures.len(), 1, "{summary}");
        assert_eq!(failures[0]["labels"]["kind"], "trap");
        let denied = values(&summary, "citadel_app_denials_total");
        assert_eq!(denied.len(), 1, "{summary}");
        assert_eq!(denied[0]["labels"]["capability"], "kv");
        assert_eq!(denied[0]["value"], 2.0);
        assert!(summary["series"]
            .as_array()
            .is_some_and(|s| s.iter().all(|s| s["labels"].get("app").is_none())));

        // Every version of an app counts into the same figures.
        AppMetrics::new("telemetry-test-one").request(201, Duration::from_millis(1));
        let again = summary_json("telemetry-test-one");
        let ok = values(&again, "citadel_app_requests_total")
            .into_iter()
            .find(|s| s["labels"]["status"] == "2xx")
            .map(|s| s["value"].clone());
        assert_eq!(ok, Some(serde_json::json!(3.0)));

        let unknown = summary_json("telemetry-test-never-seen");
        assert_eq!(unknown["series"], serde_json::json!([]));
    }

    #[test]
    fn the_summary_agrees_with_the_exposition() {
        assert!(
            handle().is_some(),
            "this test process installs the recorder"
        );
        let app = "telemetry-test-agree";
        let metrics = AppMetrics::new(app);
        metrics.request(200, Duration::from_millis(7));
        metrics.request(500, Duration::from_secs(1));
        denials(app, "payments", 1);
        let rendered = render();
        let label = format!("app=\"{app}\"");
        let summary = summary_json(app);
        let series = summary["series"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            series.len(),
            5 + LATENCY_BUCKETS.len() + 1 + 2 + 1,
            "{summary}"
        );
        for s in series {
            let Some(metric) = s["metric"].as_str() else {
                panic!("a metric name: {s}");
            };
            let line = rendered.lines().find(|line| {
                line.starts_with(&format!("{metric}{{"))
                    && line.contains(&label)
                    && s["labels"].as_object().is_some_and(|labels| {
                        labels.iter().all(|(k, v)| {
                            line.contains(&format!("{k}=\"{}\"", v.as_str().unwrap_or("")))
                        })
                    })
            });
            let Some(line) = line else {
                panic!("{metric} {} is in /metrics:\n{rendered}", s["labels"]);
            };
            let value = line
                .rsplit_once(' ')
                .and_then(|(_, v)| v.parse::<f64>().ok());
            let expected = s["value"].as_f64();
            assert!(
                matches!((value, expected), (Some(a), Some(b)) if (a - b).abs() < 1e-6),
                "{line} against {s}"
            );
        }
    }
}
