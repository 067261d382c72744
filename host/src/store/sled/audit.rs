//! sled's [`AuditStore`]: records keyed by their big-endian sequence number,
//! so a page reads a key range forward or backward from its cursor; and an
//! index of the records naming each pairwise id (a citizen's download).

use super::{backend, composite, to_json, SledStore};
use crate::store::{AuditFilter, AuditFrom, AuditRecord, AuditStore, StoreError};
use async_trait::async_trait;
use sled::transaction::TransactionError;
use sled::Transactional;

/// The key of `audit-by-pairwise` holding the highest audit number indexed
/// (every index entry's key is longer).
const INDEXED_THROUGH: &[u8] = b"";
/// Records indexed per write when the index catches up at open.
const INDEX_BATCH: usize = 10_000;

/// pairwise id ‖ NUL ‖ audit number (big-endian).
fn index_key(pairwise_id: &str, seq: u64) -> Vec<u8> {
    let mut key = composite(&[pairwise_id, ""]);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn audit_number(key: &[u8], bytes: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            key: format!("audit-by-pairwise/{}", hex::encode(key)),
            reason: "not an audit number".into(),
        })
}

impl SledStore {
    /// Index the records appended since the index last caught up: every
    /// record of a data dir from before the index, or those a crash or an
    /// older host left out (appends index their record as they write it).
    pub(super) fn index_audit_by_pairwise(&self) -> Result<(), StoreError> {
        let through = match self
            .audit_by_pairwise
            .get(INDEXED_THROUGH)
            .map_err(backend)?
        {
            Some(bytes) => audit_number(INDEXED_THROUGH, &bytes)?,
            None => 0,
        };
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for entry in self.audit.range(through.saturating_add(1).to_be_bytes()..) {
            let (key, value) = entry.map_err(backend)?;
            let record = decode_record(&key, &value)?;
            if let Some(pairwise_id) = &record.pairwise_id {
                batch.insert(index_key(pairwise_id, record.seq), &[]);
            }
            batch.insert(INDEXED_THROUGH, &record.seq.to_be_bytes());
            in_batch += 1;
            if in_batch == INDEX_BATCH {
                self.audit_by_pairwise
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(backend)?;
                in_batch = 0;
            }
        }
        if in_batch > 0 {
            self.audit_by_pairwise.apply_batch(batch).map_err(backend)?;
            self.db.flush().map_err(backend)?;
        }
        Ok(())
    }
}

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
            let (number, stored) = (record.seq.to_be_bytes(), to_json(&record)?);
            let indexed = record
                .pairwise_id
                .as_deref()
                .map(|pairwise_id| index_key(pairwise_id, record.seq));
            let outcome: Result<(), TransactionError<StoreError>> =
                (&self.audit, &self.audit_by_pairwise).transaction(|(audit, by_pairwise)| {
                    audit.insert(&number, stored.as_slice())?;
                    if let Some(key) = &indexed {
                        by_pairwise.insert(key.as_slice(), &[])?;
                    }
                    by_pairwise.insert(INDEXED_THROUGH, &number)?;
                    Ok(())
                });
            super::settle(outcome)?;
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
        // The newest `limit` numbers of each id, then the newest `limit` of
        // them all.
        let mut numbers = Vec::new();
        for pairwise_id in pairwise_ids {
            let prefix = composite(&[pairwise_id, ""]);
            for entry in self
                .audit_by_pairwise
                .scan_prefix(&prefix)
                .rev()
                .take(limit)
            {
                let (key, _) = entry.map_err(backend)?;
                numbers.push(audit_number(&key, &key[prefix.len()..])?);
            }
        }
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        numbers.dedup();
        numbers.truncate(limit);
        let mut records = Vec::with_capacity(numbers.len());
        for number in numbers {
            let key = number.to_be_bytes();
            if let Some(value) = self.audit.get(key).map_err(backend)? {
                records.push(decode_record(&key, &value)?);
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
