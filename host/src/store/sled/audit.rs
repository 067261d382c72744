//! sled's [`AuditStore`]: records keyed by their big-endian sequence number,
//! so a page reads a key range forward or backward from its cursor (and the
//! records naming a citizen are found by reading it backward).

use super::{backend, to_json, SledStore};
use crate::store::{AuditFilter, AuditFrom, AuditRecord, AuditStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl AuditStore for SledStore {
    async fn append(&self, mut record: AuditRecord) -> Result<u64, StoreError> {
        let _writing = self.writing().await;
        {
            // Numbered and written as one step, so the log never shows a
            // record before one with a lower number (a reader following it
            // with `After(last)` would skip that one for good).
            let _in_order = self
                .audit_order
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // generate_id is monotonic across restarts; +1 so that `After(0)` means "from the start".
            record.seq = self.db.generate_id().map_err(backend)? + 1;
            self.audit
                .insert(record.seq.to_be_bytes(), to_json(&record)?)
                .map_err(backend)?;
        }
        self.durable().await?;
        Ok(record.seq)
    }

    async fn page(
        &self,
        filter: &AuditFilter,
        from: AuditFrom,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, bool), StoreError> {
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match from {
            AuditFrom::After(after) => {
                Box::new(self.audit.range(after.saturating_add(1).to_be_bytes()..))
            }
            AuditFrom::Before(before) => Box::new(self.audit.range(..before.to_be_bytes()).rev()),
        };
        let mut records = Vec::new();
        for entry in entries {
            let (key, value) = entry.map_err(backend)?;
            let record = decode_record(&key, &value)?;
            if !filter.matches(&record) {
                continue;
            }
            if records.len() == limit {
                return Ok((records, true));
            }
            records.push(record);
        }
        Ok((records, false))
    }

    async fn naming(
        &self,
        pairwise_ids: &[String],
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        // No index by pairwise id: the log is read newest first until
        // `limit` are found (a citizen's download, at most a few an hour).
        let wanted: std::collections::HashSet<&str> =
            pairwise_ids.iter().map(String::as_str).collect();
        let mut records = Vec::new();
        for entry in self.audit.iter().rev() {
            if records.len() == limit {
                break;
            }
            let (key, value) = entry.map_err(backend)?;
            let record: AuditRecord = decode_record(&key, &value)?;
            if record
                .pairwise_id
                .as_deref()
                .is_some_and(|id| wanted.contains(id))
            {
                records.push(record);
            }
        }
        Ok(records)
    }
}

fn decode_record(key: &[u8], value: &[u8]) -> Result<AuditRecord, StoreError> {
    serde_json::from_slice(value).map_err(|e| StoreError::Corrupt {
        key: format!("audit/{}", hex::encode(key)),
        reason: e.to_string(),
    })
}
