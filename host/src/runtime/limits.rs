//! Per-request limits of a mini-app: what a manifest may ask for, the
//! defaults, the host's ceilings, each app's share of the instance pool, and
//! the store limiter that enforces memory and tables per request.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The largest linear memory any app may ask for; also the pooling slot size.
pub const MAX_MEMORY_MIB: u64 = 256;
const DEFAULT_MEMORY_MIB: u64 = 64;
const MAX_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_TIMEOUT_MS: u64 = 2_000;
const MAX_BODY_KIB: u64 = 64 * 1024;
const DEFAULT_REQUEST_BODY_KIB: u64 = 1024;
const DEFAULT_RESPONSE_BODY_KIB: u64 = 8 * 1024;
const MAX_CONCURRENCY: u32 = 1000;
const DEFAULT_CONCURRENCY: u32 = 100;
const MAX_KV_QUOTA_MIB: u64 = 4096;
const DEFAULT_KV_QUOTA_MIB: u64 = 64;

/// Limits as written in a manifest's `[limits]` table; all optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    pub memory_mib: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_request_body_kib: Option<u64>,
    pub max_response_body_kib: Option<u64>,
    pub max_concurrency: Option<u32>,
    /// Bytes of kv keys and values the app may store, app-wide and per
    /// citizen together.
    pub kv_quota_mib: Option<u64>,
}

/// Effective limits of one app version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: usize,
    pub timeout: Duration,
    pub max_request_body: u64,
    pub max_response_body: u64,
    pub max_concurrency: u32,
    pub kv_quota_bytes: u64,
}

impl LimitsSpec {
    /// Check every present value against the host's ceilings.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let check = |field: &'static str, value: Option<u64>, max: u64| match value {
            Some(v) if v == 0 || v > max => {
                Err((field, format!("{v} is out of range; use 1 to {max}")))
            }
            _ => Ok(()),
        };
        check("limits.memory_mib", self.memory_mib, MAX_MEMORY_MIB)?;
        check("limits.timeout_ms", self.timeout_ms, MAX_TIMEOUT_MS)?;
        check(
            "limits.max_request_body_kib",
            self.max_request_body_kib,
            MAX_BODY_KIB,
        )?;
        check(
            "limits.max_response_body_kib",
            self.max_response_body_kib,
            MAX_BODY_KIB,
        )?;
        check("limits.kv_quota_mib", self.kv_quota_mib, MAX_KV_QUOTA_MIB)?;
        check(
            "limits.max_concurrency",
            self.max_concurrency.map(u64::from),
            MAX_CONCURRENCY.into(),
        )
    }

    /// Fill in defaults.
    pub fn resolve(&self) -> Limits {
        Limits {
            memory_bytes: (self.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB) << 20) as usize,
            timeout: Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)),
            max_request_body: self
                .max_request_body_kib
                .unwrap_or(DEFAULT_REQUEST_BODY_KIB)
                * 1024,
            max_response_body: self
                .max_response_body_kib
                .unwrap_or(DEFAULT_RESPONSE_BODY_KIB)
                * 1024,
            max_concurrency: self.max_concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            kv_quota_bytes: self.kv_quota_mib.unwrap_or(DEFAULT_KV_QUOTA_MIB) << 20,
        }
    }
}

/// Enforces the memory cap of one request's whole instance — the *sum* of
/// all its linear memories, however many core instances define them — and
/// a cap on all its table elements together. Remembers whether the guest hit
/// the memory cap, so that the trap that usually follows is reported as "out
/// of memory" rather than as a generic trap.
pub struct RequestLimiter {
    memory_cap: usize,
    memory_used: usize,
    table_elements: usize,
    exhausted: bool,
}

impl RequestLimiter {
    pub fn new(memory_cap: usize) -> Self {
        RequestLimiter {
            memory_cap,
            memory_used: 0,
            table_elements: 0,
            exhausted: false,
        }
    }

    /// Whether the guest asked for more memory than its cap.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Bytes of linear memory the request's instance holds, all memories together.
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }
}

impl wasmtime::ResourceLimiter for RequestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Each memory grows from `current` to `desired`; the instance's total
        // is the sum of every memory's growth (a new memory starts at 0).
        let total = self
            .memory_used
            .saturating_add(desired.saturating_sub(current));
        let allowed = total <= self.memory_cap && maximum.is_none_or(|max| desired <= max);
        if allowed {
            self.memory_used = total;
        } else {
            self.exhausted = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .table_elements
            .saturating_add(desired.saturating_sub(current));
        let allowed = total as u64 <= super::shape::MAX_TABLE_ELEMENTS
            && maximum.is_none_or(|max| desired <= max);
        if allowed {
            self.table_elements = total;
        }
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        super::shape::MAX_CORE_INSTANCES as usize
    }

    fn memories(&self) -> usize {
        super::shape::MAX_MEMORIES as usize
    }

    fn tables(&self) -> usize {
        super::shape::MAX_TABLES as usize
    }
}
