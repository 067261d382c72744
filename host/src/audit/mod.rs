//! The audit log: an append-only record of every grant, consent, revocation,
//! denial, sign-in and install, kept in the store and queryable by operators
//! with filters and pagination. Nothing here updates or deletes a record.
//! What records say comes from one catalogue, [`messages`], in both languages.

pub mod messages;

use crate::localized::Localized;
use crate::store::{AuditFilter, AuditFrom, Store, StoreError};
pub use crate::store::{AuditMessage, AuditRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// What the record says, from the catalogue ([`messages`]); its English
    /// rendering becomes the record's `detail`.
    pub message: Option<AuditMessage>,
    /// Free text, English, for a record without a `message`.
    pub detail: String,
}

/// Filters and paging for a query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub app: Option<String>,
    pub capability: Option<String>,
    /// Only records with `seq` greater than this, oldest first (the previous
    /// page's `next`).
    pub after: Option<u64>,
    /// Only records with `seq` less than this, newest first (the previous
    /// page's `next`); `newest` alone starts at the end.
    pub before: Option<u64>,
    /// Newest first from the end of the log.
    #[serde(default)]
    pub newest: bool,
    /// At most this many (default 100, capped at 1000).
    pub limit: Option<usize>,
}

/// One page of records, in the query's direction.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Pass as `after` (or, newest first, as `before`) for the next page;
    /// absent on the last page.
    pub next: Option<u64>,
    /// The catalogue's sentence, in Vietnamese and English, of each message
    /// code on this page; fill its `{name}`s from the record's parameters.
    pub texts: BTreeMap<String, Localized>,
}

/// The catalogue's sentences of the message codes in `records`.
pub fn texts_of(records: &[AuditRecord]) -> BTreeMap<String, Localized> {
    records
        .iter()
        .filter_map(|r| r.message.as_ref())
        .filter_map(|m| Some((m.code.clone(), messages::text(&m.code)?)))
        .collect()
}

/// The audit log over a store.
#[derive(Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub fn new(store: Store) -> Self {
        AuditLog { store }
    }

    /// Append `event`; returns once it is durable. A failure is logged,
    /// never hidden.
    pub async fn record(&self, event: Event) {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let kind = event.kind;
        let detail = match event
            .message
            .as_ref()
            .and_then(|m| messages::render(m, "en"))
        {
            Some(english) => english,
            None => event.detail,
        };
        let result = self
            .store
            .audit
            .append(AuditRecord {
                seq: 0,
                at,
                kind: event.kind.to_string(),
                actor: event.actor,
                app: event.app,
                version: event.version,
                capability: event.capability,
                pairwise_id: event.pairwise_id,
                request_id: event.request_id,
                detail,
                message: event.message,
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, kind, "audit record could not be written");
        }
    }

    /// Append `event` without waiting (from code that cannot wait, such as a
    /// drop): the write is spawned on the current runtime.
    pub fn record_in_background(&self, event: Event) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let log = self.clone();
                runtime.spawn(async move { log.record(event).await });
            }
            Err(_) => tracing::error!(
                kind = event.kind,
                "audit record dropped: no runtime to write it"
            ),
        }
    }

    /// Records matching `query`, a page at a time in either direction.
    pub async fn query(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let limit = query.limit.unwrap_or(100).clamp(1, 1000);
        let filter = AuditFilter {
            kind: query.kind.clone(),
            app: query.app.clone(),
            capability: query.capability.clone(),
        };
        let from = match (query.before, query.newest) {
            (Some(before), _) => AuditFrom::Before(before),
            (None, true) => AuditFrom::Before(u64::MAX),
            (None, false) => AuditFrom::After(query.after.unwrap_or(0)),
        };
        let (records, more) = self.store.audit.page(&filter, from, limit).await?;
        let next = if more {
            records.last().map(|r| r.seq)
        } else {
            None
        };
        let texts = texts_of(&records);
        Ok(AuditPage {
            records,
            next,
            texts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_are_appended_in_order_and_queried_with_filters_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(Store::sled(dir.path()).unwrap());
        for i in 0..5 {
            log.record(Event {
                kind: if i % 2 == 0 { "denial" } else { "grant" },
                actor: "test".into(),
                app: Some(format!("app-{}", i % 2)),
                capability: Some("kv".into()),
                detail: format!("event {i}"),
                ..Event::default()
            })
            .await;
        }
        let all = log.query(&AuditQuery::default()).await.unwrap();
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
        let page = log.query(&denials).await.unwrap();
        assert_eq!(page.records.len(), 2);
        let rest = log
            .query(&AuditQuery {
                after: page.next,
                ..denials.clone()
            })
            .await
            .unwrap();
        assert_eq!(rest.records.len(), 1);
        assert_eq!(rest.records[0].detail, "event 4");
        assert_eq!(rest.next, None);

        let by_app = AuditQuery {
            app: Some("app-1".into()),
            ..AuditQuery::default()
        };
        assert_eq!(log.query(&by_app).await.unwrap().records.len(), 2);

        // Newest first, without reading forward: the last two, then the rest.
        let newest = AuditQuery {
            newest: true,
            limit: Some(2),
            ..AuditQuery::default()
        };
        let page = log.query(&newest).await.unwrap();
        let details: Vec<&str> = page.records.iter().map(|r| r.detail.as_str()).collect();
        assert_eq!(details, ["event 4", "event 3"]);
        let rest = log
            .query(&AuditQuery {
                before: page.next,
                limit: Some(10),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let details: Vec<&str> = rest.records.iter().map(|r| r.detail.as_str()).collect();
        assert_eq!(details, ["event 2", "event 1", "event 0"]);
        assert_eq!(rest.next, None);
    }

    #[tokio::test]
    async fn a_message_is_kept_with_its_english_rendering_and_its_texts() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(Store::sled(dir.path()).unwrap());
        log.record(Event {
            kind: "rollback",
            actor: "operator:ops".into(),
            message: Some(messages::ROLLED_BACK.with("live", "1.0.0")),
            ..Event::default()
        })
        .await;
        log.record(Event {
            kind: "backup",
            actor: "operator:ops".into(),
            detail: "free text".into(),
            ..Event::default()
        })
        .await;
        let page = log.query(&AuditQuery::default()).await.unwrap();
        assert_eq!(page.records[0].detail, "rolled back; live: 1.0.0");
        let message = page.records[0].message.clone().unwrap();
        assert_eq!(
            (message.code.as_str(), message.params["live"].as_str()),
            ("rollback", "1.0.0")
        );
        assert_eq!(page.records[1].detail, "free text");
        assert_eq!(page.records[1].message, None);
        assert_eq!(page.texts.len(), 1);
        assert_eq!(
            page.texts["rollback"].vi,
            "Đã quay lại; phiên bản đang chạy: {live}"
        );
    }
}
