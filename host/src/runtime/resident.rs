//! Compiled components in memory: a serving version's component is loaded
//! (from the compile cache) on its first request, and the least recently
//! used are dropped again past the host's bound — so the descriptors
//! (wasmtime maps each precompiled file) and the memory they hold stay
//! bounded however many apps are installed.

use super::Prepared;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Instant;

/// One version's component: loaded when first needed, dropped when the
/// resident set is full and it is the least recently used. Requests in
/// flight keep what they took; dropping only stops new ones using it.
pub struct LazyComponent {
    /// The component's sha256: its name in the store and the compile cache.
    pub sha256: String,
    pre: RwLock<Option<Prepared>>,
    /// Milliseconds since the resident set's start at the last request.
    last_used: AtomicU64,
    /// Held while loading, so concurrent first requests load once.
    pub(super) loading: tokio::sync::Mutex<()>,
}

impl LazyComponent {
    /// A component not loaded yet.
    pub fn unloaded(sha256: String) -> Self {
        LazyComponent {
            sha256,
            pre: RwLock::new(None),
            last_used: AtomicU64::new(0),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// The loaded component, if it is loaded.
    pub fn get(&self) -> Option<Prepared> {
        self.pre.read().ok()?.clone()
    }

    /// Whether the component is in memory now.
    pub fn is_loaded(&self) -> bool {
        self.pre.read().map(|pre| pre.is_some()).unwrap_or(false)
    }

    fn set(&self, pre: Option<Prepared>) {
        if let Ok(mut slot) = self.pre.write() {
            *slot = pre;
        }
    }
}

/// The components loaded now, at most `capacity` of them.
pub struct ResidentSet {
    capacity: usize,
    started: Instant,
    loaded: Mutex<Vec<Weak<LazyComponent>>>,
    loads: AtomicU64,
    evictions: AtomicU64,
}

impl ResidentSet {
    pub fn new(capacity: usize) -> Self {
        ResidentSet {
            capacity: capacity.max(1),
            started: Instant::now(),
            loaded: Mutex::new(Vec::new()),
            loads: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// `component` serves a request started at `now`.
    pub fn touch(&self, component: &LazyComponent, now: Instant) {
        let millis = now.saturating_duration_since(self.started).as_millis() as u64;
        // Skip the write when it changes nothing: concurrent requests of one
        // app then share the line without bouncing it between cores.
        if component.last_used.load(Ordering::Relaxed) != millis {
            component.last_used.store(millis, Ordering::Relaxed);
        }
    }

    /// `component` is loaded as `pre`: keep it, and drop the least
    /// recently used others past the capacity.
    pub fn admit(&self, component: &Arc<LazyComponent>, pre: Prepared) {
        component.set(Some(pre));
        self.touch(component, Instant::now());
        self.loads.fetch_add(1, Ordering::Relaxed);
        let Ok(mut loaded) = self.loaded.lock() else {
            return;
        };
        loaded.retain(|weak| weak.upgrade().is_some_and(|c| c.is_loaded()));
        if !loaded
            .iter()
            .any(|weak| weak.as_ptr() == Arc::as_ptr(component))
        {
            loaded.push(Arc::downgrade(component));
        }
        while loaded.len() > self.capacity {
            let oldest = loaded
                .iter()
                .enumerate()
                .filter_map(|(index, weak)| Some((index, weak.upgrade()?)))
                .filter(|(_, c)| !Arc::ptr_eq(c, component))
                .min_by_key(|(_, c)| c.last_used.load(Ordering::Relaxed));
            let Some((index, evicted)) = oldest else {
                break;
            };
            evicted.set(None);
            loaded.swap_remove(index);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Components in memory now.
    pub fn len(&self) -> usize {
        self.loaded
            .lock()
            .map(|loaded| {
                loaded
                    .iter()
                    .filter(|weak| weak.upgrade().is_some_and(|c| c.is_loaded()))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Components loaded since start, and dropped to make room.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.loads.load(Ordering::Relaxed),
            self.evictions.load(Ordering::Relaxed),
        )
    }
}
