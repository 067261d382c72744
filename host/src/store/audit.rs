//! The audit log's record and the [`AuditStore`] trait: append-only, read a
//! page at a time in either direction from any position, newest first
//! without reading the log forward.

use super::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    /// Position in the log; strictly increasing.
    pub seq: u64,
    /// Unix milliseconds.
    pub at: u64,
    /// What happened, e.g. `denial`, `grant`, `consent`, `sign-in`.
    pub kind: String,
    /// Who did it: `operator:<name>`, `publisher:<id>`, `citizen`, `app`, `host`.
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// The citizen as the app knows them (never the raw citizen id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairwise_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Free text: what changed, or why.
    pub detail: String,
}

/// Which records a page holds (every field that is set must match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuditFilter {
    pub kind: Option<String>,
    pub app: Option<String>,
    pub capability: Option<String>,
}

impl AuditFilter {
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.kind.as_ref().is_none_or(|k| &record.kind == k)
            && self
                .app
                .as_ref()
                .is_none_or(|a| record.app.as_ref() == Some(a))
            && self
                .capability
                .as_ref()
                .is_none_or(|c| record.capability.as_ref() == Some(c))
    }
}

/// Where a page starts and which way it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFrom {
    /// Records with `seq` greater than this, oldest first (0: the start).
    After(u64),
    /// Records with `seq` less than this, newest first (`u64::MAX`: the end).
    Before(u64),
}

/// The append-only audit log.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Append `record`, giving it the next sequence number (its `seq` is
    /// ignored); returns that number once the record is durable.
    async fn append(&self, record: AuditRecord) -> Result<u64, StoreError>;
    /// Up to `limit` records matching `filter` from `from`, in its
    /// direction; the flag says whether more matching records follow.
    async fn page(
        &self,
        filter: &AuditFilter,
        from: AuditFrom,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, bool), StoreError>;
}
