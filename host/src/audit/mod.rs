//! The audit log: an append-only record of every grant, consent, revocation,
//! denial, sign-in and install, kept in the store and queryable by operators
//! with filters and pagination. Nothing here updates or deletes a record.

use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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

/// A record to append; `seq` and `at` are set by the log.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub kind: &'static str,
    pub actor: String,
    pub app: Option<String>,
    pub version: Option<String>,
    pub capability: Option<String>,
    pub pairwise_id: Option<String>,
    pub request_id: Option<String>,
    pub detail: String,
}

/// Filters and paging for a query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub app: Option<String>,
    pub capability: Option<String>,
    /// Only records with `seq` greater than this (the previous page's `next`).
    pub after: Option<u64>,
    /// At most this many (default 100, capped at 1000).
    pub limit: Option<usize>,
}

/// One page of records, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<u64>,
}

/// The audit log over a store.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn Store>,
}

impl AuditLog {
    pub fn new(store: Arc<dyn Store>) -> Self {
        AuditLog { store }
    }

    /// Append `event`. Durable with the next flush (every acknowledged
    /// write flushes); a failure is logged, never hidden.
    pub fn record(&self, event: Event) {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let result = self.store.audit_append(&|seq| AuditRecord {
            seq,
            at,
            kind: event.kind.to_string(),
            actor: event.actor.clone(),
            app: event.app.clone(),
            version: event.version.clone(),
            capability: event.capability.clone(),
            pairwise_id: event.pairwise_id.clone(),
            request_id: event.request_id.clone(),
            detail: event.detail.clone(),
        });
        if let Err(e) = result {
            tracing::error!(error = %e, kind = event.kind, "audit record could not be written");
        }
    }

    /// Records matching `query`, oldest first.
    pub fn query(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let limit = query.limit.unwrap_or(100).clamp(1, 1000);
        let matches = |r: &AuditRecord| {
            query.kind.as_ref().is_none_or(|k| &r.kind == k)
                && query.app.as_ref().is_none_or(|a| r.app.as_ref() == Some(a))
                && query
                    .capability
                    .as_ref()
                    .is_none_or(|c| r.capability.as_ref() == Some(c))
        };
        let mut records = Vec::new();
        let mut more = false;
        self.store
            .audit_scan(query.after.unwrap_or(0), &mut |record| {
                if !matches(&record) {
                    return true;
                }
                if records.len() == limit {
                    more = true;
                    return false;
                }
                records.push(record);
                true
            })?;
        let next = if more {
            records.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(AuditPage { records, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    #[test]
    fn records_are_appended_in_order_and_queried_with_filters_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(Arc::new(SledStore::open(dir.path()).unwrap()));
        for i in 0..5 {
            log.record(Event {
                kind: if i % 2 == 0 { "denial" } else { "grant" },
                actor: "test".into(),
                app: Some(format!("app-{}", i % 2)),
                capability: Some("kv".into()),
                detail: format!("event {i}"),
                ..Event::default()
            });
        }
        let all = log.query(&AuditQuery::default()).unwrap();
        let details: Vec<&str> = all.records.iter().map(|r| r.detail.as_str()).collect();
        assert_eq!(
            details,
            ["event 0", "event 1", "event 2", "event 3", "event 4"]
        );
        assert!(all.records.windows(2).all(|w| w[0].seq < w[1].seq));

        let denials = AuditQuery {
            kind: Some("denial".into()),
            limit: Some(2),
            ..AuditQuery::default()
        };
        let page = log.query(&denials).unwrap();
        assert_eq!(page.records.len(), 2);
        let rest = log
            .query(&AuditQuery {
                after: page.next,
                ..denials.clone()
            })
            .unwrap();
        assert_eq!(rest.records.len(), 1);
        assert_eq!(rest.records[0].detail, "event 4");
        assert_eq!(rest.next, None);

        let by_app = AuditQuery {
            app: Some("app-1".into()),
            ..AuditQuery::default()
        };
        assert_eq!(log.query(&by_app).unwrap().records.len(), 2);
    }
}
