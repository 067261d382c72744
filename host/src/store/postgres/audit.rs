//! PostgreSQL's [`AuditStore`]: records numbered 1, 2, … in commit order
//! (appends take turns on the table's lock), each page read through an
//! index by sequence number — the filter's own index when it has one; the
//! records naming a citizen through an index by pairwise id.

use super::{backend, from_json, json, to_db, PgStore};
use crate::store::{AuditFilter, AuditFrom, AuditRecord, AuditStore, StoreError};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;

#[async_trait]
impl AuditStore for PgStore {
    async fn append(&self, record: AuditRecord) -> Result<u64, StoreError> {
        let seq = self
            .transaction(move |tx| {
                let mut record = record.clone();
                Box::pin(async move {
                    // Numbered and written while holding the lock until the
                    // commit: the log never shows a record before one with a
                    // lower number (a reader following it with `After(last)`
                    // would skip that one for good).
                    sqlx::query("LOCK TABLE audit IN EXCLUSIVE MODE")
                        .execute(&mut **tx)
                        .await?;
                    let seq: i64 =
                        sqlx::query_scalar("SELECT coalesce(max(seq), 0) + 1 FROM audit")
                            .fetch_one(&mut **tx)
                            .await?;
                    record.seq =
                        u64::try_from(seq).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                    sqlx::query(
                        "INSERT INTO audit (seq, kind, app, capability, record)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(seq)
                    .bind(&record.kind)
                    .bind(&record.app)
                    .bind(&record.capability)
                    .bind(json(&record)?)
                    .execute(&mut **tx)
                    .await?;
                    Ok(record.seq)
                })
            })
            .await?;
        Ok(seq)
    }

    async fn page(
        &self,
        filter: &AuditFilter,
        from: AuditFrom,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, bool), StoreError> {
        // Only the filter's set fields become conditions, so the planner can
        // walk that field's (field, seq) index.
        let (position, order, cursor) = match from {
            AuditFrom::After(after) => ("seq > $1", "ASC", after),
            AuditFrom::Before(before) => ("seq < $1", "DESC", before),
        };
        let fields = [
            ("kind", &filter.kind),
            ("app", &filter.app),
            ("capability", &filter.capability),
        ];
        let mut conditions = vec![position.to_string()];
        let mut values = Vec::new();
        for (column, value) in fields {
            if let Some(value) = value {
                values.push(value);
                conditions.push(format!("{column} = ${}", values.len() + 2));
            }
        }
        let sql = format!(
            "SELECT seq, record FROM audit WHERE {} ORDER BY seq {order} LIMIT $2",
            conditions.join(" AND ")
        );
        // One more than the page: whether more follow.
        let mut query = sqlx::query(&sql)
            .bind(to_db(cursor))
            .bind(to_db(limit as u64).saturating_add(1));
        for value in values {
            query = query.bind(value);
        }
        let mut rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((records_of(rows)?, more))
    }

    async fn naming(
        &self,
        pairwise_ids: &[String],
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        // Through `audit_by_pairwise` (migration 0012): its expression and
        // its predicate, as they are written there.
        let rows = sqlx::query(
            "SELECT seq, record FROM audit \
             WHERE record->>'pairwise_id' IS NOT NULL AND record->>'pairwise_id' = ANY($1) \
             ORDER BY seq DESC LIMIT $2",
        )
        .bind(pairwise_ids)
        .bind(to_db(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        records_of(rows)
    }
}

/// The records of rows of `seq` and `record`.
fn records_of(rows: Vec<PgRow>) -> Result<Vec<AuditRecord>, StoreError> {
    rows.into_iter()
        .map(|row| {
            let seq: i64 = row.try_get("seq").map_err(backend)?;
            from_json(
                &format!("audit/{seq}"),
                row.try_get("record").map_err(backend)?,
            )
        })
        .collect()
}
