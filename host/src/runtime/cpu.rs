//! Each app's share of the machine's CPU: every poll of an app's instances
//! (guest code, host calls, tear-down) is timed and charged to the app, and an
//! app past its quota in the current window waits for the next one — at its
//! next start or its next epoch tick — while another app wants the CPU (has a
//! request in hand, or used the CPU in this window or the last), so no app's
//! guests starve another's, and a lone busy app may use the machine.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The accounting window.
const WINDOW: Duration = Duration::from_millis(10);

/// Which apps want the CPU, host-wide: those with a request that holds its
/// place in the app (waiting for its turn, or running) and, so that a client
/// sending one request after another counts between them too, whether two
/// apps used the CPU lately.
pub struct CpuDemand {
    /// Where window 0 starts, for every app.
    origin: Instant,
    apps: AtomicUsize,
    next_app: AtomicU64,
    /// The app that used the CPU last.
    last_charged: AtomicU64,
    /// One more than the last window in which two apps used the CPU one
    /// after the other (0: never).
    shared_window: AtomicU64,
}

impl Default for CpuDemand {
    fn default() -> Self {
        CpuDemand {
            origin: Instant::now(),
            apps: AtomicUsize::new(0),
            next_app: AtomicU64::new(1),
            last_charged: AtomicU64::new(0),
            shared_window: AtomicU64::new(0),
        }
    }
}

impl CpuDemand {
    fn current_window(&self, now: Instant) -> u64 {
        (now.duration_since(self.origin).as_nanos() / WINDOW.as_nanos()) as u64
    }

    /// `app` used the CPU in `window`. A lone app writes nothing here after
    /// its first time, so its threads share this cache line only to read.
    fn charged(&self, app: u64, window: u64) {
        let last = self.last_charged.load(Ordering::Relaxed);
        if last != app {
            self.last_charged.store(app, Ordering::Relaxed);
            if last != 0 {
                self.shared_window.fetch_max(window + 1, Ordering::Relaxed);
            }
        }
    }

    /// Whether two apps used the CPU in `window` or the one before.
    fn shared_lately(&self, window: u64) -> bool {
        let shared = self.shared_window.load(Ordering::Relaxed);
        shared > 0 && shared >= window
    }
}

/// One app's CPU use in the current window and its quota per window.
pub struct CpuBudget {
    /// This app, among the apps of `demand`.
    app: u64,
    /// The window the `used` count belongs to.
    window: AtomicU64,
    used_ns: AtomicU64,
    quota_ns: u64,
    demand: Arc<CpuDemand>,
    /// This app's requests that hold their place now.
    requests: AtomicUsize,
}

/// One request of an app counted as wanting the CPU, until dropped.
pub struct WantsCpu(Arc<CpuBudget>);

impl Drop for WantsCpu {
    fn drop(&mut self) {
        if self.0.requests.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.demand.apps.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl CpuBudget {
    /// A budget of `cores` (fractional) of CPU time, among the apps of `demand`.
    pub fn new(cores: f64, demand: Arc<CpuDemand>) -> Self {
        CpuBudget {
            app: demand.next_app.fetch_add(1, Ordering::Relaxed),
            window: AtomicU64::new(0),
            used_ns: AtomicU64::new(0),
            quota_ns: (WINDOW.as_nanos() as f64 * cores.max(0.1)) as u64,
            demand,
            requests: AtomicUsize::new(0),
        }
    }

    /// The app's default quota: half the machine (at least one core).
    pub fn half_the_machine(demand: Arc<CpuDemand>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        CpuBudget::new((cores as f64 / 2.0).max(1.0), demand)
    }

    /// Count one more request of this app as wanting the CPU while the
    /// returned guard lives.
    pub fn wants_cpu(self: &Arc<Self>) -> WantsCpu {
        if self.requests.fetch_add(1, Ordering::AcqRel) == 0 {
            self.demand.apps.fetch_add(1, Ordering::AcqRel);
        }
        WantsCpu(self.clone())
    }

    /// Whether an app other than this one wants the CPU in `window`. Two
    /// requests crossing the first and last of their apps can make the count
    /// wrong for a moment, either way: one decision at worst, as the next
    /// check sees the settled counts.
    fn others_want_cpu(&self, window: u64) -> bool {
        let this_app = usize::from(self.requests.load(Ordering::Acquire) > 0);
        self.demand.apps.load(Ordering::Acquire) > this_app || self.demand.shared_lately(window)
    }

    fn current_window(&self, now: Instant) -> u64 {
        self.demand.current_window(now)
    }

    /// When window number `window` starts. In nanoseconds: a count of
    /// 10 ms windows as `u32` wraps after 497 days of a version serving.
    fn window_start(&self, window: u64) -> Instant {
        self.demand.origin + Duration::from_nanos(window.saturating_mul(WINDOW.as_nanos() as u64))
    }

    /// Add `spent` to the app's use in the current window.
    pub fn charge(&self, spent: Duration) {
        self.charge_at(spent, Instant::now());
    }

    /// Add `spent` to the app's use in the window of `now`.
    fn charge_at(&self, spent: Duration, now: Instant) {
        let window = self.current_window(now);
        if self.window.swap(window, Ordering::AcqRel) != window {
            self.used_ns.store(0, Ordering::Release);
        }
        self.used_ns
            .fetch_add(spent.as_nanos() as u64, Ordering::AcqRel);
        self.demand.charged(self.app, window);
    }

    /// When the app is past its quota while another app wants the CPU: the
    /// start of the next window. Alone, an app may use the whole machine:
    /// the quota shares the CPU among apps, it does not leave it idle.
    pub fn over_until(&self) -> Option<Instant> {
        self.over_until_at(Instant::now())
    }

    /// [`Self::over_until`] at `now`.
    fn over_until_at(&self, now: Instant) -> Option<Instant> {
        let window = self.current_window(now);
        if self.window.load(Ordering::Acquire) != window
            || self.used_ns.load(Ordering::Acquire) < self.quota_ns
            || !self.others_want_cpu(window)
        {
            return None;
        }
        Some(self.window_start(window + 1))
    }

    /// Wait while the app is past its quota and another app wants the CPU,
    /// but not past `deadline`.
    pub async fn wait_turn(&self, deadline: Instant) {
        while let Some(until) = self.over_until() {
            if until >= deadline {
                tokio::time::sleep_until(deadline.into()).await;
                return;
            }
            tokio::time::sleep_until(until.into()).await;
        }
    }
}

/// `inner`, with the time of each of its polls charged to `budget`.
pub struct Charged<F> {
    inner: Pin<Box<F>>,
    budget: Arc<CpuBudget>,
}

impl<F> Charged<F> {
    pub fn new(inner: F, budget: Arc<CpuBudget>) -> Self {
        Charged {
            inner: Box::pin(inner),
            budget,
        }
    }
}

impl<F: Future> Future for Charged<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let polled = self.inner.as_mut().poll(cx);
        self.budget.charge(started.elapsed());
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_past_the_497th_day_start_later_still() {
        let budget = CpuBudget::new(1.0, Arc::default());
        let past_u32 = u64::from(u32::MAX) + 2;
        assert_eq!(
            budget.window_start(past_u32) - budget.window_start(past_u32 - 1),
            WINDOW
        );
        assert!(
            budget.window_start(past_u32)
                > budget.demand.origin + Duration::from_secs(497 * 86_400)
        );
    }

    #[test]
    fn an_app_past_its_quota_waits_for_the_next_window_while_another_app_wants_the_cpu() {
        let (busy, other, window) = two_apps();
        let now = busy.window_start(window);
        let _busy_request = busy.wants_cpu();
        let other_request = other.wants_cpu();
        assert!(busy.over_until_at(now).is_none());
        busy.charge_at(Duration::from_millis(6), now);
        assert!(busy.over_until_at(now).is_none());
        busy.charge_at(Duration::from_millis(6), now);
        let until = busy.over_until_at(now).expect("past its quota");
        assert_eq!(until, busy.window_start(window + 1));
        assert!(
            other.over_until_at(now).is_none(),
            "the other app is within its own"
        );

        drop(other_request);
        assert!(
            busy.over_until_at(now).is_none(),
            "once nobody else wants the CPU, the busy app goes on"
        );
        let other_again = other.wants_cpu();
        assert!(
            busy.over_until_at(now).is_some(),
            "and waits again when someone does"
        );
        assert!(
            busy.over_until_at(until).is_none(),
            "a new window starts afresh"
        );
        drop(other_again);
    }

    #[test]
    fn an_app_past_its_quota_waits_while_another_app_used_the_cpu_lately() {
        let (busy, other, window) = two_apps();
        let now = busy.window_start(window);
        let _busy_request = busy.wants_cpu();
        // The other app's client sends one request after another: between
        // them it holds no place, but it used the CPU a moment ago.
        drop(other.wants_cpu());
        other.charge_at(Duration::from_micros(50), now);
        busy.charge_at(Duration::from_millis(12), now);
        let until = busy
            .over_until_at(now)
            .expect("past its quota, with the other app about");
        assert_eq!(until, busy.window_start(window + 1));
        busy.charge_at(Duration::from_millis(12), until);
        assert!(
            busy.over_until_at(until).is_some(),
            "the window after the other app's last use still counts"
        );
        // A whole window with the busy app alone: it goes on.
        let later = busy.window_start(window + 3);
        busy.charge_at(Duration::from_millis(12), later);
        assert!(busy.over_until_at(later).is_none());
    }

    #[test]
    fn a_lone_app_past_its_quota_goes_on_however_many_requests_it_runs() {
        let demand = Arc::new(CpuDemand::default());
        let busy = Arc::new(CpuBudget::new(1.0, demand.clone()));
        let idle = Arc::new(CpuBudget::new(1.0, demand.clone()));
        let requests: Vec<WantsCpu> = (0..8).map(|_| busy.wants_cpu()).collect();
        for _ in 0..30 {
            busy.charge(Duration::from_millis(1));
        }
        assert!(busy.over_until().is_none());
        assert_eq!(demand.apps.load(Ordering::Acquire), 1);
        drop(requests);
        assert_eq!(demand.apps.load(Ordering::Acquire), 0);
        drop(idle);
    }

    #[test]
    fn apps_are_counted_once_however_their_requests_cross() {
        let demand = Arc::new(CpuDemand::default());
        let apps: Vec<Arc<CpuBudget>> = (0..4)
            .map(|_| Arc::new(CpuBudget::new(1.0, demand.clone())))
            .collect();
        std::thread::scope(|scope| {
            for app in &apps {
                for _ in 0..4 {
                    scope.spawn(move || {
                        for _ in 0..10_000 {
                            drop(app.wants_cpu());
                        }
                    });
                }
            }
        });
        assert_eq!(demand.apps.load(Ordering::Acquire), 0);
        for app in &apps {
            assert_eq!(app.requests.load(Ordering::Acquire), 0);
        }
    }

    /// Two apps of one core each on one host, and a window the tests run
    /// in: at given instants, not by sleeping, since a thread that
    /// oversleeps a whole window on a loaded machine would test another case.
    fn two_apps() -> (Arc<CpuBudget>, Arc<CpuBudget>, u64) {
        let demand = Arc::new(CpuDemand::default());
        let busy = Arc::new(CpuBudget::new(1.0, demand.clone()));
        let other = Arc::new(CpuBudget::new(1.0, demand));
        (busy, other, 5)
    }
}
