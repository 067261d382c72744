//! The audit log's record and the [`AuditStore`] trait: append-only, read a
//! page at a time in either direction from any position, newest first
//! without reading the log forward.

use super::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
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
    /// What changed, or why, in English (the rendering of `message` when
    /// the record has one).
    pub detail: String,
    /// `detail` structured, to be said in the reader's language: a code of
    /// the host's audit catalogue and its parameters. Absent on records
    /// written before it existed (and on free-text ones): show `detail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<AuditMessage>,
}

/// A record's detail as a code of the audit catalogue and named parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AuditMessage {
    /// E.g. `rollback`, `denial.no-consent`.
    pub code: String,
    /// Values for the sentence's `{name}`s, as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

impl AuditMessage {
    /// The message with parameter `name` set to `value`.
    pub fn with(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.params.insert(name.to_string(), value.to_string());
        self
    }
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
    /// Up to `limit` records that name one of `pairwise_ids` (a citizen, by
    /// the id each app knows them by), newest first.
    async fn naming(
        &self,
        pairwise_ids: &[String],
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_written_before_messages_reads_without_one() {
        let old = r#"{"seq":7,"at":1,"kind":"rollback","actor":"operator:ops","app":"notes","detail":"rolled back; live: 1.0.0"}"#;
        let record: AuditRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.message, None);
        assert_eq!(record.detail, "rolled back; live: 1.0.0");
        // And a record with one keeps it, through JSON both ways.
        let with = AuditRecord {
            message: Some(
                AuditMessage {
                    code: "rollback".into(),
                    params: BTreeMap::new(),
                }
                .with("live", "1.0.0"),
            ),
            ..record
        };
        let again: AuditRecord =
            serde_json::from_value(serde_json::to_value(&with).unwrap()).unwrap();
        assert_eq!(again, with);
    }
}
