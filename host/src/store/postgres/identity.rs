//! PostgreSQL's [`IdentityStore`] (tables in `migrations/0003_identity.sql`):
//! records by their token hash or citizen; frame tokens bounded per citizen
//! under that citizen's lock; frames and locations swept by expiry index.

use super::{backend, from_db, from_json, json, to_db, PgStore};
use crate::store::{
    AppChange, ConsentRecord, EndedSessions, ErasedRecords, FrameRecord, IdentityStore,
    InboxMessage, KvSpace, LocationRecord, OperatorRecord, SessionRecord, StoreError, Through,
};
use async_trait::async_trait;
use futures::FutureExt;
use serde_json::Value;
use sqlx::PgConnection;

impl PgStore {
    /// Run `statement`, a write for `citizen`: when it stands on something
    /// (`through`), in a transaction holding that live to its commit — its
    /// row held FOR KEY SHARE, so whatever deletes it (an erasure, a
    /// sign-out) waits for the write, or the write finds it gone and answers
    /// that it ended. The host's own writes (`None`) stand on nothing and
    /// take one round trip.
    async fn execute_through(
        &self,
        citizen: &str,
        through: Option<Through<'_>>,
        statement: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<(), StoreError> {
        let Some(through) = through else {
            statement.execute(&self.pool).await.map_err(backend)?;
            return Ok(());
        };
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let live: Option<i32> = match through {
            Through::Session(hash) => {
                sqlx::query_scalar("SELECT 1 FROM sessions WHERE token_sha256 = $1 FOR KEY SHARE")
                    .bind(hash)
            }
            Through::Link { app, pairwise_id } => sqlx::query_scalar(
                "SELECT 1 FROM pairwise_ids \
                 WHERE app = $1 AND pairwise = $2 AND citizen = $3 FOR KEY SHARE",
            )
            .bind(app)
            .bind(pairwise_id)
            .bind(citizen),
        }
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        match (live, through) {
            (Some(_), _) => {}
            (None, Through::Link { .. }) => return Err(StoreError::LinkEnded),
            (None, Through::Session(_)) => return Err(StoreError::SessionEnded),
        }
        statement.execute(&mut *tx).await.map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}

/// `usize` counts (bounds, limits) as `BIGINT`.
fn count_to_db(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records read as JSON, decoded; `key` names them in corruption reports.
fn decode_all<T: serde::de::DeserializeOwned>(
    key: &str,
    records: Vec<Value>,
) -> Result<Vec<T>, StoreError> {
    records
        .into_iter()
        .map(|record| from_json(key, record))
        .collect()
}

/// A record read as JSON, decoded.
fn decode_one<T: serde::de::DeserializeOwned>(
    key: &str,
    record: Option<Value>,
) -> Result<Option<T>, StoreError> {
    record.map(|record| from_json(key, record)).transpose()
}

/// One attempt at [`IdentityStore::open_frame`]: under the citizen's lock
/// (every host's opens for them take turns, so the count is exact), close
/// their oldest tokens beyond `bound - 1`, then store the new one.
async fn open_frame_in(
    conn: &mut PgConnection,
    token_sha256: &str,
    record: &FrameRecord,
    bound: usize,
) -> Result<Option<usize>, sqlx::Error> {
    let citizen = record.citizen_id.as_str();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('citadel.frames'), hashtext($1))")
        .bind(citizen)
        .execute(&mut *conn)
        .await?;
    // Opened only while its session is (held to the commit: an erasure's
    // delete of the session waits): it would outlive an erasure.
    let parent_live: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM sessions WHERE token_sha256 = $1 FOR KEY SHARE")
            .bind(&record.parent)
            .fetch_optional(&mut *conn)
            .await?;
    if parent_live.is_none() {
        return Ok(None);
    }
    let order: i64 = sqlx::query_scalar("SELECT nextval('frame_order')")
        .fetch_one(&mut *conn)
        .await?;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM frames WHERE citizen = $1")
        .bind(citizen)
        .fetch_one(&mut *conn)
        .await?;
    let excess = held
        .saturating_add(1)
        .saturating_sub(count_to_db(bound.max(1)));
    let closed = if excess > 0 {
        sqlx::query(
            "DELETE FROM frames WHERE token_sha256 IN (SELECT token_sha256 FROM frames \
             WHERE citizen = $1 ORDER BY issue_order LIMIT $2)",
        )
        .bind(citizen)
        .bind(excess)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    } else {
        0
    };
    let record = FrameRecord {
        order: from_db(order),
        ..record.clone()
    };
    sqlx::query(
        "INSERT INTO frames (token_sha256, citizen, parent, issue_order, expires, record) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_sha256) DO UPDATE SET \
         citizen = EXCLUDED.citizen, parent = EXCLUDED.parent, \
         issue_order = EXCLUDED.issue_order, expires = EXCLUDED.expires, \
         record = EXCLUDED.record",
    )
    .bind(token_sha256)
    .bind(citizen)
    .bind(&record.parent)
    .bind(order)
    .bind(to_db(record.expires))
    .bind(json(&record)?)
    .execute(conn)
    .await?;
    Ok(Some(closed as usize))
}

/// Take `citizen`'s turn to open a session or to erase them, until `conn`'s
/// transaction ends: a session opened while an erasure runs would be
/// missed by it, and outlive it.
async fn lock_sessions_of(conn: &mut PgConnection, citizen: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('citadel.sessions'), hashtext($1))")
        .bind(citizen)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether the erasure of `citizen` that began at `began_ms` is unfinished;
/// if so, its row stays locked to the end of `conn`'s transaction, so that
/// it cannot finish (nor a session open after it) in between.
async fn erasure_unfinished_in(
    conn: &mut PgConnection,
    citizen: &str,
    began_ms: u64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM unfinished_erasures WHERE citizen = $1 AND began = $2 FOR SHARE",
    )
    .bind(citizen)
    .bind(to_db(began_ms))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

impl PgStore {
    /// [`IdentityStore::erase_citizen`] (or, `again`,
    /// [`IdentityStore::erase_citizen_again`]) in `tx`: what went, and the
    /// changes announced (to be announced here too once committed); `None`
    /// when again and the erasure has finished.
    async fn erase_citizen_in(
        &self,
        tx: &mut PgConnection,
        citizen: &str,
        meetings: &[(String, String)],
        began_ms: u64,
        again: bool,
    ) -> Result<Option<(ErasedRecords, Vec<AppChange>)>, sqlx::Error> {
        let apps: Vec<&str> = meetings.iter().map(|(app, _)| app.as_str()).collect();
        let pairwise: Vec<&str> = meetings.iter().map(|(_, id)| id.as_str()).collect();
        lock_sessions_of(tx, citizen).await?;
        if again && !erasure_unfinished_in(tx, citizen, began_ms).await? {
            return Ok(None);
        }
        // The sessions and the apps' links go first: a write for the citizen
        // through one of them holds its row to its commit, so these wait
        // for every such write under way, and the deletes below, each
        // seeing what committed before it began, take what they wrote.
        let (signed_out, mut ended) = self.end_sessions_in(tx, citizen).await?;
        let links = sqlx::query(
            "DELETE FROM pairwise_ids WHERE citizen = $1 \
             AND (app, pairwise) IN (SELECT * FROM UNNEST($2::text[], $3::text[]))",
        )
        .bind(citizen)
        .bind(&apps)
        .bind(&pairwise)
        .execute(&mut *tx)
        .await?;
        let mut counts = [0usize; 3];
        let tables = [
            "DELETE FROM consents WHERE citizen = $1",
            "DELETE FROM inbox WHERE citizen = $1",
            "DELETE FROM locations WHERE citizen = $1",
        ];
        for (count, sql) in counts.iter_mut().zip(tables) {
            let done = sqlx::query(sql).bind(citizen).execute(&mut *tx).await?;
            *count = usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
        }
        if !again {
            sqlx::query(
                "INSERT INTO unfinished_erasures (citizen, began) VALUES ($1, $2) \
                 ON CONFLICT (citizen) DO UPDATE SET began = EXCLUDED.began",
            )
            .bind(citizen)
            .bind(to_db(began_ms))
            .execute(&mut *tx)
            .await?;
        }
        let erased = ErasedRecords {
            sessions: signed_out.sessions,
            frames: signed_out.frames,
            consents: counts[0],
            inbox_messages: counts[1],
            locations: counts[2],
            app_links: usize::try_from(links.rows_affected()).unwrap_or(usize::MAX),
        };
        let erased_change = AppChange::CitizenErased;
        self.announce(tx, &erased_change).await?;
        ended.push(erased_change);
        Ok(Some((erased, ended)))
    }

    /// [`IdentityStore::erase_citizen`] or, `again`, its repeat: in one
    /// transaction, retried whole on a deadlock with the expiry sweep.
    async fn erase_citizen_now(
        &self,
        citizen: &str,
        meetings: &[(String, String)],
        began_ms: u64,
        again: bool,
    ) -> Result<Option<ErasedRecords>, StoreError> {
        let (store, citizen, meetings) = (self.clone(), citizen.to_string(), meetings.to_vec());
        let erased = self
            .transaction(move |tx| {
                let (store, citizen, meetings) = (store.clone(), citizen.clone(), meetings.clone());
                async move {
                    store
                        .erase_citizen_in(tx, &citizen, &meetings, began_ms, again)
                        .await
                }
                .boxed()
            })
            .await?;
        Ok(erased.map(|(erased, ended)| {
            for change in ended {
                self.announce_here(change);
            }
            erased
        }))
    }

    /// [`IdentityStore::end_sessions_of`] in `tx`: what ended, and the
    /// changes announced (to be announced here too once committed).
    async fn end_sessions_in(
        &self,
        tx: &mut PgConnection,
        citizen: &str,
    ) -> Result<(EndedSessions, Vec<AppChange>), sqlx::Error> {
        let sessions: Vec<String> =
            sqlx::query_scalar("DELETE FROM sessions WHERE citizen = $1 RETURNING token_sha256")
                .bind(citizen)
                .fetch_all(&mut *tx)
                .await?;
        let frames = sqlx::query("DELETE FROM frames WHERE citizen = $1")
            .bind(citizen)
            .execute(&mut *tx)
            .await?;
        let ended = EndedSessions {
            sessions: sessions.len(),
            frames: usize::try_from(frames.rows_affected()).unwrap_or(usize::MAX),
        };
        let changes: Vec<AppChange> = sessions.into_iter().map(AppChange::SessionEnded).collect();
        for change in &changes {
            self.announce(tx, change).await?;
        }
        Ok((ended, changes))
    }
}

#[async_trait]
impl IdentityStore for PgStore {
    async fn put_operator(
        &self,
        token_sha256: &str,
        record: &OperatorRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operators (token_sha256, record) VALUES ($1, $2) \
             ON CONFLICT (token_sha256) DO UPDATE SET record = EXCLUDED.record",
        )
        .bind(token_sha256)
        .bind(json(record).map_err(backend)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn operator(&self, token_sha256: &str) -> Result<Option<OperatorRecord>, StoreError> {
        let record = sqlx::query_scalar("SELECT record FROM operators WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        decode_one(&format!("operators/{token_sha256}"), record)
    }

    async fn has_operators(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM operators)")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    async fn forget_host_secret(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM host_secrets WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn host_secret(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        // The first insert wins; a racing one waits for it, then does nothing.
        sqlx::query(
            "INSERT INTO host_secrets (name, secret) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        let secret: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT secret FROM host_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        secret.ok_or_else(|| StoreError::Corrupt {
            key: format!("host_secrets/{name}"),
            reason: "stored, then missing".into(),
        })
    }

    async fn put_session(
        &self,
        token_sha256: &str,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        let (token_sha256, stored) = (token_sha256.to_string(), json(record).map_err(backend)?);
        let citizen = record.citizen_id.clone();
        let opened = self
            .transaction(move |tx| {
                let (token_sha256, stored, citizen) =
                    (token_sha256.clone(), stored.clone(), citizen.clone());
                async move {
                    lock_sessions_of(tx, &citizen).await?;
                    let opened = sqlx::query(
                        "INSERT INTO sessions (token_sha256, record) \
                         SELECT $1, $2 WHERE NOT EXISTS \
                             (SELECT 1 FROM unfinished_erasures WHERE citizen = $3) \
                         ON CONFLICT (token_sha256) DO UPDATE SET record = EXCLUDED.record",
                    )
                    .bind(&token_sha256)
                    .bind(&stored)
                    .bind(&citizen)
                    .execute(&mut **tx)
                    .await?;
                    Ok(opened.rows_affected() == 1)
                }
                .boxed()
            })
            .await?;
        if !opened {
            return Err(StoreError::ErasureUnfinished);
        }
        Ok(())
    }

    async fn session(&self, token_sha256: &str) -> Result<Option<SessionRecord>, StoreError> {
        let record = sqlx::query_scalar("SELECT record FROM sessions WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        decode_one(&format!("sessions/{token_sha256}"), record)
    }

    async fn sessions_of(&self, citizen: &str) -> Result<Vec<SessionRecord>, StoreError> {
        // `citizen` is the indexed column migration 0010 generates.
        let records = sqlx::query_scalar(
            "SELECT record FROM sessions WHERE citizen = $1 \
             ORDER BY (record->>'created')::BIGINT, token_sha256",
        )
        .bind(citizen)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        decode_all(&format!("sessions of {citizen}"), records)
    }

    async fn delete_session(&self, token_sha256: &str) -> Result<bool, StoreError> {
        let ended = AppChange::SessionEnded(token_sha256.to_string());
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
            .bind(token_sha256)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let existed = deleted.rows_affected() > 0;
        if existed {
            self.announce(&mut tx, &ended).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        if existed {
            self.announce_here(ended);
        }
        Ok(existed)
    }

    async fn put_consents(
        &self,
        citizen: &str,
        records: &[ConsentRecord],
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError> {
        let apps: Vec<&str> = records.iter().map(|r| r.app.as_str()).collect();
        let scopes: Vec<&str> = records.iter().map(|r| r.scope.as_str()).collect();
        let values = records
            .iter()
            .map(json)
            .collect::<Result<Vec<Value>, _>>()
            .map_err(backend)?;
        // One statement: every consent or none.
        let statement = sqlx::query(
            "INSERT INTO consents (citizen, app, scope, record) \
             SELECT $1, app, scope, record FROM UNNEST($2::text[], $3::text[], $4::jsonb[]) \
                 AS given (app, scope, record) \
             ON CONFLICT (citizen, app, scope) DO UPDATE SET record = EXCLUDED.record",
        )
        .bind(citizen)
        .bind(&apps)
        .bind(&scopes)
        .bind(&values);
        self.execute_through(citizen, through, statement).await
    }

    async fn consent(
        &self,
        citizen: &str,
        app: &str,
        scope: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        let record = sqlx::query_scalar(
            "SELECT record FROM consents WHERE citizen = $1 AND app = $2 AND scope = $3",
        )
        .bind(citizen)
        .bind(app)
        .bind(scope)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        decode_one(&format!("consents/{citizen}/{app}/{scope}"), record)
    }

    async fn consents(&self, citizen: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        let records = sqlx::query_scalar(
            "SELECT record FROM consents WHERE citizen = $1 \
             ORDER BY app COLLATE \"C\", scope COLLATE \"C\"",
        )
        .bind(citizen)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        decode_all(&format!("consents/{citizen}"), records)
    }

    async fn delete_consents(
        &self,
        citizen: &str,
        app: &str,
        scope: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "DELETE FROM consents WHERE citizen = $1 AND app = $2 \
             AND ($3::text IS NULL OR scope = $3) RETURNING scope",
        )
        .bind(citizen)
        .bind(app)
        .bind(scope)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn remember_pairwise(
        &self,
        app: &str,
        pairwise: &str,
        citizen: &str,
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO pairwise_ids (app, pairwise, citizen) VALUES ($1, $2, $3) \
             ON CONFLICT (app, pairwise) DO NOTHING",
        )
        .bind(app)
        .bind(pairwise)
        .bind(citizen);
        self.execute_through(citizen, through, statement).await
    }

    async fn pairwise_citizen(
        &self,
        app: &str,
        pairwise: &str,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT citizen FROM pairwise_ids WHERE app = $1 AND pairwise = $2")
            .bind(app)
            .bind(pairwise)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn inbox_append(
        &self,
        citizen: &str,
        message: &InboxMessage,
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query("INSERT INTO inbox (citizen, at, record) VALUES ($1, $2, $3)")
            .bind(citizen)
            .bind(to_db(message.at))
            .bind(json(message).map_err(backend)?);
        self.execute_through(citizen, through, statement).await
    }

    async fn inbox_since(
        &self,
        citizen: &str,
        since_ms: u64,
    ) -> Result<Vec<InboxMessage>, StoreError> {
        let records = sqlx::query_scalar(
            "SELECT record FROM inbox WHERE citizen = $1 AND at >= $2 ORDER BY at, arrival",
        )
        .bind(citizen)
        .bind(to_db(since_ms))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        decode_all(&format!("inbox/{citizen}"), records)
    }

    async fn inbox_latest(
        &self,
        citizen: &str,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, StoreError> {
        let records = sqlx::query_scalar(
            "SELECT record FROM inbox WHERE citizen = $1 \
             ORDER BY at DESC, arrival DESC LIMIT $2",
        )
        .bind(citizen)
        .bind(count_to_db(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        decode_all(&format!("inbox/{citizen}"), records)
    }

    async fn open_frame(
        &self,
        token_sha256: &str,
        record: &FrameRecord,
        per_citizen: usize,
    ) -> Result<usize, StoreError> {
        let (token_sha256, record) = (token_sha256.to_string(), record.clone());
        self.transaction(move |tx| {
            let (token_sha256, record) = (token_sha256.clone(), record.clone());
            async move { open_frame_in(tx, &token_sha256, &record, per_citizen).await }.boxed()
        })
        .await?
        .ok_or(StoreError::SessionEnded)
    }

    async fn frame(&self, token_sha256: &str) -> Result<Option<FrameRecord>, StoreError> {
        let record = sqlx::query_scalar("SELECT record FROM frames WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        decode_one(&format!("frames/{token_sha256}"), record)
    }

    async fn close_frame(&self, token_sha256: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM frames WHERE token_sha256 = $1")
            .bind(token_sha256)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn close_frames_of_session(
        &self,
        citizen: &str,
        parent: &str,
    ) -> Result<usize, StoreError> {
        let deleted = sqlx::query("DELETE FROM frames WHERE citizen = $1 AND parent = $2")
            .bind(citizen)
            .bind(parent)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(deleted.rows_affected() as usize)
    }

    async fn frame_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM frames")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(from_db(count))
    }

    async fn put_location(
        &self,
        citizen: &str,
        record: &LocationRecord,
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO locations (citizen, expires, record) VALUES ($1, $2, $3) \
             ON CONFLICT (citizen) DO UPDATE SET \
             expires = EXCLUDED.expires, record = EXCLUDED.record",
        )
        .bind(citizen)
        .bind(to_db(record.expires))
        .bind(json(record).map_err(backend)?);
        self.execute_through(citizen, through, statement).await
    }

    async fn location(&self, citizen: &str) -> Result<Option<LocationRecord>, StoreError> {
        let record = sqlx::query_scalar("SELECT record FROM locations WHERE citizen = $1")
            .bind(citizen)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        decode_one(&format!("locations/{citizen}"), record)
    }

    async fn delete_location(&self, citizen: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM locations WHERE citizen = $1")
            .bind(citizen)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn end_sessions_of(&self, citizen: &str) -> Result<EndedSessions, StoreError> {
        let (store, citizen) = (self.clone(), citizen.to_string());
        // Retried whole on a deadlock with the expiry sweep.
        let (ended, changes) = self
            .transaction(move |tx| {
                let (store, citizen) = (store.clone(), citizen.clone());
                async move { store.end_sessions_in(tx, &citizen).await }.boxed()
            })
            .await?;
        for change in changes {
            self.announce_here(change);
        }
        Ok(ended)
    }

    async fn erase_citizen(
        &self,
        citizen: &str,
        meetings: &[(String, String)],
        began_ms: u64,
    ) -> Result<ErasedRecords, StoreError> {
        let erased = self
            .erase_citizen_now(citizen, meetings, began_ms, false)
            .await?;
        Ok(erased.unwrap_or_default())
    }

    async fn erase_citizen_again(
        &self,
        citizen: &str,
        meetings: &[(String, String)],
        began_ms: u64,
    ) -> Result<Option<ErasedRecords>, StoreError> {
        self.erase_citizen_now(citizen, meetings, began_ms, true)
            .await
    }

    async fn erase_app_key(
        &self,
        citizen: &str,
        began_ms: u64,
        space: KvSpace<'_>,
        key: &str,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if !erasure_unfinished_in(&mut tx, citizen, began_ms)
            .await
            .map_err(backend)?
        {
            return Ok(None);
        }
        let removed = self
            .kv_delete_in(&mut tx, space, key)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(removed))
    }

    async fn unfinished_erasures(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT citizen, began FROM unfinished_erasures ORDER BY began")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(citizen, began)| (citizen, from_db(began)))
            .collect())
    }

    async fn erasure_finished(&self, citizen: &str, began_ms: u64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM unfinished_erasures WHERE citizen = $1 AND began = $2")
            .bind(citizen)
            .bind(to_db(began_ms))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn sweep_expired(&self, now_secs: u64, now_ms: u64) -> Result<usize, StoreError> {
        // One host sweeps at a time: the others, finding the sweep's lock
        // taken, leave it to that host this round.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let sweeping: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtext('citadel-expiry-sweep'))",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        if !sweeping {
            return Ok(0);
        }
        // One statement: each delete finds its rows by an expiry index.
        let swept: i64 = sqlx::query_scalar(
            "WITH frames_swept AS (DELETE FROM frames WHERE expires <= $1 RETURNING 1), \
             sessions_swept AS (DELETE FROM sessions WHERE expires <= $1 RETURNING 1), \
             locations_swept AS (DELETE FROM locations WHERE expires <= $2 RETURNING 1) \
             SELECT (SELECT count(*) FROM frames_swept) + (SELECT count(*) FROM sessions_swept) \
                  + (SELECT count(*) FROM locations_swept)",
        )
        .bind(to_db(now_secs))
        .bind(to_db(now_ms))
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(from_db(swept) as usize)
    }
}
