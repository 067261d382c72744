//! Each app's share of the machine's CPU: every poll of an app's instances
//! (guest code, host calls, tear-down) is timed and charged to the app, and an
//! app past its quota in the current window waits for the next one — at its
//! next start or its next epoch tick — so no app's guests starve another's.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The accounting window.
const WINDOW: Duration = Duration::from_millis(10);

/// One app's CPU use in the current window and its quota per window.
pub struct CpuBudget {
    origin: Instant,
    /// The window the `used` count belongs to.
    window: AtomicU64,
    used_ns: AtomicU64,
    quota_ns: u64,
}

impl CpuBudget {
    /// A budget of `cores` (fractional) of CPU time.
    pub fn new(cores: f64) -> Self {
        CpuBudget {
            origin: Instant::now(),
            window: AtomicU64::new(0),
            used_ns: AtomicU64::new(0),
            quota_ns: (WINDOW.as_nanos() as f64 * cores.max(0.1)) as u64,
        }
    }

    /// The app's default quota: half the machine (at least one core).
    pub fn half_the_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        CpuBudget::new((cores as f64 / 2.0).max(1.0))
    }

    fn current_window(&self, now: Instant) -> u64 {
        (now.duration_since(self.origin).as_nanos() / WINDOW.as_nanos()) as u64
    }

    /// When window number `window` starts. In nanoseconds: a count of
    /// 10 ms windows as `u32` wraps after 497 days of a version serving.
    fn window_start(&self, window: u64) -> Instant {
        self.origin + Duration::from_nanos(window.saturating_mul(WINDOW.as_nanos() as u64))
    }

    /// Add `spent` to the app's use in the current window.
    pub fn charge(&self, spent: Duration) {
        let window = self.current_window(Instant::now());
        if self.window.swap(window, Ordering::AcqRel) != window {
            self.used_ns.store(0, Ordering::Release);
        }
        self.used_ns
            .fetch_add(spent.as_nanos() as u64, Ordering::AcqRel);
    }

    /// When the app is past its quota: the start of the next window.
    pub fn over_until(&self) -> Option<Instant> {
        let now = Instant::now();
        let window = self.current_window(now);
        if self.window.load(Ordering::Acquire) != window
            || self.used_ns.load(Ordering::Acquire) < self.quota_ns
        {
            return None;
        }
        Some(self.window_start(window + 1))
    }

    /// Wait while the app is past its quota, but not past `deadline`.
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
        let budget = CpuBudget::new(1.0);
        let past_u32 = u64::from(u32::MAX) + 2;
        assert_eq!(
            budget.window_start(past_u32) - budget.window_start(past_u32 - 1),
            WINDOW
        );
        assert!(budget.window_start(past_u32) > budget.origin + Duration::from_secs(497 * 86_400));
    }

    #[test]
    fn an_app_past_its_quota_waits_for_the_next_window() {
        let budget = CpuBudget::new(1.0);
        assert!(budget.over_until().is_none());
        budget.charge(Duration::from_millis(6));
        assert!(budget.over_until().is_none());
        budget.charge(Duration::from_millis(6));
        let until = budget.over_until().expect("past its quota");
        assert!(until > Instant::now() && until <= Instant::now() + WINDOW);
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        assert!(budget.over_until().is_none(), "a new window starts afresh");
    }
}
