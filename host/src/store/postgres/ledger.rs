//! PostgreSQL's [`Ledger`]: intents (one per app, citizen and reference; a
//! bounded number pending), balances changed under row locks, postings,
//! one-time keys and the hook outbox — each call one transaction.

use super::{backend, from_db, from_json, json, retryable, to_db, PgStore};
use crate::store::{
    HistoryCursor, IntentRecord, IntentStatus, Ledger, LedgerRefusal, LedgerSnapshot, OutboxEntry,
    Posting, StepFn, StoreError,
};
use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Attempts of a step's transaction, as [`PgStore::transaction`] makes.
const STEP_ATTEMPTS: u32 = 20;

/// Balances read under their row locks in this transaction; `None`: an
/// account never used (it has no row to lock yet).
type LockedBalances = BTreeMap<String, Option<i64>>;

/// How `create_intent`'s transaction ended.
enum Created {
    /// The reference already names this intent (its stored record).
    Held(serde_json::Value),
    New,
    Refused(LedgerRefusal),
}

/// What a committed step leaves: the intent, and whether it queued an event.
struct Stepped {
    intent: IntentRecord,
    queued: bool,
}

/// Why a step's transaction stopped: the database (perhaps worth another
/// attempt) or a stored intent that does not decode.
enum StepFailure {
    Database(sqlx::Error),
    Corrupt(StoreError),
}

impl From<sqlx::Error> for StepFailure {
    fn from(e: sqlx::Error) -> StepFailure {
        StepFailure::Database(e)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn intent_key(id: &str) -> String {
    format!("intents/{id}")
}

/// Check balanced `lines` against `locked` balances, in order as they
/// apply: a wallet never goes below zero. Returns each account's change.
fn settle(
    locked: &LockedBalances,
    lines: &[(String, i64)],
) -> Result<BTreeMap<String, i64>, LedgerRefusal> {
    if lines
        .iter()
        .map(|(_, amount)| i128::from(*amount))
        .sum::<i128>()
        != 0
    {
        return Err(LedgerRefusal::Rule("unbalanced".into()));
    }
    let overflow = || LedgerRefusal::Rule("overflow".into());
    let mut running: BTreeMap<&str, i64> = BTreeMap::new();
    let mut changes: BTreeMap<String, i64> = BTreeMap::new();
    for (account, amount) in lines {
        let balance = match running.get(account.as_str()) {
            Some(balance) => *balance,
            None => locked.get(account).copied().flatten().unwrap_or(0),
        };
        let after = balance.checked_add(*amount).ok_or_else(overflow)?;
        if account.starts_with("wallet:") && after < 0 {
            return Err(LedgerRefusal::InsufficientFunds {
                account: account.clone(),
                balance,
            });
        }
        running.insert(account, after);
        let change = changes.entry(account.clone()).or_default();
        *change = change.checked_add(*amount).ok_or_else(overflow)?;
    }
    Ok(changes)
}

/// Every posting, in order.
async fn read_postings(conn: &mut PgConnection) -> Result<Vec<Posting>, StoreError> {
    let rows = sqlx::query("SELECT tx, intent, account, amount, at FROM postings ORDER BY seq")
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
    rows.into_iter()
        .map(|row| {
            Ok(Posting {
                tx: row.try_get("tx")?,
                intent: row.try_get("intent")?,
                account: row.try_get("account")?,
                amount: row.try_get("amount")?,
                at: from_db(row.try_get("at")?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(backend)
}

/// Every account and its balance.
async fn read_balances(conn: &mut PgConnection) -> Result<Vec<(String, i64)>, StoreError> {
    sqlx::query_as("SELECT name, balance FROM accounts ORDER BY name")
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)
}

/// Every intent, oldest first.
async fn read_intents(conn: &mut PgConnection) -> Result<Vec<IntentRecord>, StoreError> {
    let rows = sqlx::query("SELECT id, record FROM intents ORDER BY created_at, id")
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
    rows.into_iter()
        .map(|row| {
            let id: String = row.try_get("id").map_err(backend)?;
            from_json(&intent_key(&id), row.try_get("record").map_err(backend)?)
        })
        .collect()
}

/// Lock the rows of `accounts` (in name order, as every transaction does)
/// and note their balances in `locked` (`None`: no account yet).
async fn lock_accounts(
    conn: &mut PgConnection,
    accounts: &BTreeSet<String>,
    locked: &mut LockedBalances,
) -> Result<(), sqlx::Error> {
    let missing = lock_rows(conn, accounts, locked).await?;
    if missing.is_empty() {
        return Ok(());
    }
    // An account not made yet has no row to lock: steps that would make it
    // (a demo wallet's seed, say) queue on a lock of its name, in name
    // order, as `open_account` does; then look again, so the second finds
    // the row the first one made.
    for name in &missing {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(name)
            .execute(&mut *conn)
            .await?;
    }
    lock_rows(conn, &missing, locked).await?;
    Ok(())
}

/// Lock the rows of those of `accounts` that exist and note every one's
/// balance in `locked`; the names that have no row.
async fn lock_rows(
    conn: &mut PgConnection,
    accounts: &BTreeSet<String>,
    locked: &mut LockedBalances,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let names: Vec<String> = accounts.iter().cloned().collect();
    let rows = sqlx::query(
        "SELECT name, balance FROM accounts WHERE name = ANY($1) ORDER BY name FOR UPDATE",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    let mut missing = accounts.clone();
    for name in names {
        locked.insert(name, None);
    }
    for row in rows {
        let name: String = row.try_get("name")?;
        missing.remove(&name);
        locked.insert(name, Some(row.try_get("balance")?));
    }
    Ok(missing)
}

/// Record `lines` as one transaction and move the balances by `changes`:
/// locked accounts in place; one first used here gets its row (or, when a
/// racing transaction made it meanwhile, the change added to it — never a
/// wallet's debit, which `settle` refused as overdrawing).
async fn write_postings(
    conn: &mut PgConnection,
    locked: &LockedBalances,
    lines: &[(String, i64)],
    changes: BTreeMap<String, i64>,
    intent: Option<&str>,
) -> Result<(), sqlx::Error> {
    let (accounts, amounts): (Vec<String>, Vec<i64>) = lines.iter().cloned().unzip();
    sqlx::query(
        "WITH tx AS (SELECT 'tx-' || lpad(to_hex(nextval('ledger_transactions')), 16, '0') AS name)
         INSERT INTO postings (tx, intent, account, amount, at)
         SELECT tx.name, $1, line.account, line.amount, $4
         FROM tx, unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS line(account, amount, position)
         ORDER BY line.position",
    )
    .bind(intent)
    .bind(&accounts)
    .bind(&amounts)
    .bind(to_db(now_ms()))
    .execute(&mut *conn)
    .await?;
    let (existing, new): (Vec<_>, Vec<_>) = changes
        .into_iter()
        .partition(|(account, _)| matches!(locked.get(account), Some(Some(_))));
    let statements = [
        (
            existing,
            "UPDATE accounts SET balance = accounts.balance + change.amount
             FROM unnest($1::text[], $2::bigint[]) AS change(name, amount)
             WHERE accounts.name = change.name",
        ),
        (
            new,
            "INSERT INTO accounts (name, balance) SELECT * FROM unnest($1::text[], $2::bigint[])
             ON CONFLICT (name) DO UPDATE SET balance = accounts.balance + EXCLUDED.balance",
        ),
    ];
    for (changes, sql) in statements {
        if changes.is_empty() {
            continue;
        }
        let (accounts, amounts): (Vec<String>, Vec<i64>) = changes.into_iter().unzip();
        sqlx::query(sql)
            .bind(&accounts)
            .bind(&amounts)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `create_intent` inside its transaction. Creations for one (app,
/// citizen) take turns on an advisory lock, so the reference lookup and
/// the pending count stay true until the commit.
async fn create_in(
    conn: &mut PgConnection,
    intent: &IntentRecord,
    record: serde_json::Value,
    max_pending: usize,
) -> Result<Created, sqlx::Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(
             hashtextextended(jsonb_build_array('intent-holder', $1::text, $2::text)::text, 0))",
    )
    .bind(&intent.app)
    .bind(&intent.citizen)
    .execute(&mut *conn)
    .await?;
    let held: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT record FROM intents WHERE app = $1 AND citizen = $2 AND reference = $3",
    )
    .bind(&intent.app)
    .bind(&intent.citizen)
    .bind(&intent.reference)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(held) = held {
        return Ok(Created::Held(held));
    }
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM intents
         WHERE app = $1 AND citizen = $2 AND pending AND expires_at > $3",
    )
    .bind(&intent.app)
    .bind(&intent.citizen)
    .bind(to_db(now_ms()))
    .fetch_one(&mut *conn)
    .await?;
    let pending = usize::try_from(pending).unwrap_or(0);
    if pending >= max_pending {
        return Ok(Created::Refused(LedgerRefusal::TooManyPending(pending)));
    }
    insert_intent(conn, intent, record).await?;
    Ok(Created::New)
}

/// A new intent's row: the columns it is found by, and its whole `record`.
pub(super) async fn insert_intent(
    conn: &mut PgConnection,
    intent: &IntentRecord,
    record: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO intents
             (id, app, citizen, reference, created_at, expires_at, pending, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&intent.id)
    .bind(&intent.app)
    .bind(&intent.citizen)
    .bind(&intent.reference)
    .bind(to_db(intent.created_at))
    .bind(to_db(intent.expires_at))
    .bind(intent.status == IntentStatus::Pending)
    .bind(record)
    .execute(conn)
    .await?;
    Ok(())
}

/// `step` inside its transaction: lock the intent, refuse a used `once`
/// key, run the step over locked balances, and write only once nothing
/// can be refused any more.
async fn step_in(
    conn: &mut PgConnection,
    id: &str,
    once: Option<&str>,
    step: &StepFn<'_>,
) -> Result<Result<Stepped, LedgerRefusal>, StepFailure> {
    let stored: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT record FROM intents WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(stored) = stored else {
        return Ok(Err(LedgerRefusal::NoSuchIntent));
    };
    if let Some(key) = once {
        let used: Option<i32> = sqlx::query_scalar("SELECT 1 FROM once_keys WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
        if used.is_some() {
            return Ok(Err(LedgerRefusal::Replayed(key.to_string())));
        }
    }
    let stored: IntentRecord = from_json(&intent_key(id), stored).map_err(StepFailure::Corrupt)?;

    // The step reads balances synchronously: run it over the locked ones;
    // when it asked for one not locked yet, lock that (and the accounts
    // it posts to) and run it again — it is pure.
    let mut locked = LockedBalances::new();
    let (intent, decided) = loop {
        let mut intent = stored.clone();
        let unlocked_reads = RefCell::new(BTreeSet::new());
        let decided = step(&mut intent, &|account: &str| match locked.get(account) {
            Some(balance) => *balance,
            None => {
                unlocked_reads.borrow_mut().insert(account.to_string());
                None
            }
        });
        let unlocked_reads = unlocked_reads.into_inner();
        let complete = unlocked_reads.is_empty();
        let mut to_lock = unlocked_reads;
        if let Ok(decided) = &decided {
            to_lock.extend(
                decided
                    .postings
                    .iter()
                    .map(|(account, _)| account)
                    .filter(|account| !locked.contains_key(*account))
                    .cloned(),
            );
        }
        if !to_lock.is_empty() {
            lock_accounts(conn, &to_lock, &mut locked).await?;
        }
        if complete {
            break (intent, decided);
        }
    };
    let decided = match decided {
        Ok(decided) => decided,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let changes = match settle(&locked, &decided.postings) {
        Ok(changes) => changes,
        Err(refusal) => return Ok(Err(refusal)),
    };

    if let Some(key) = once {
        // A racing step may have used the key since it was checked: the
        // insert waits for that one's commit, then finds it.
        let claimed = sqlx::query(
            "INSERT INTO once_keys (key, intent) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(Err(LedgerRefusal::Replayed(key.to_string())));
        }
    }
    if !decided.postings.is_empty() {
        write_postings(conn, &locked, &decided.postings, changes, Some(&intent.id)).await?;
    }
    sqlx::query("UPDATE intents SET record = $2, pending = $3 WHERE id = $1")
        .bind(id)
        .bind(json(&intent)?)
        .bind(intent.status == IntentStatus::Pending)
        .execute(&mut *conn)
        .await?;
    let queued = decided.outbox_entries(&intent);
    for entry in &queued {
        queue_event(conn, entry.clone()).await?;
    }
    Ok(Ok(Stepped {
        intent,
        queued: !queued.is_empty(),
    }))
}

/// Queue `entry` (its key given here), due now.
async fn queue_event(conn: &mut PgConnection, mut entry: OutboxEntry) -> Result<(), sqlx::Error> {
    let number: i64 = sqlx::query_scalar("SELECT nextval('outbox_keys')")
        .fetch_one(&mut *conn)
        .await?;
    entry.key = format!("{}:{number:016x}", entry.intent);
    entry.next_at = now_ms();
    sqlx::query("INSERT INTO outbox (key, next_at, entry) VALUES ($1, $2, $3)")
        .bind(&entry.key)
        .bind(to_db(entry.next_at))
        .bind(json(&entry)?)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl PgStore {
    /// [`Ledger::step`] in one transaction, from the start again on a
    /// serialization failure or deadlock as [`PgStore::transaction`] does
    /// (whose body must own what it uses; this one borrows `step`).
    async fn step_transaction(
        &self,
        id: &str,
        once: Option<&str>,
        step: &StepFn<'_>,
    ) -> Result<Result<Stepped, LedgerRefusal>, StoreError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let outcome = match step_in(&mut tx, id, once, step).await {
                Ok(stepped) => tx
                    .commit()
                    .await
                    .map(|()| stepped)
                    .map_err(StepFailure::from),
                Err(failure) => Err(failure),
            };
            match outcome {
                Ok(stepped) => return Ok(stepped),
                Err(StepFailure::Database(e)) if retryable(&e) && attempt < STEP_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt))).await;
                }
                Err(StepFailure::Database(e)) => return Err(backend(e)),
                Err(StepFailure::Corrupt(e)) => return Err(e),
            }
        }
    }

    /// Outbox entries in due order, due by `until` (Unix ms), at most `limit`.
    async fn outbox_until(&self, until: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, entry FROM outbox WHERE next_at <= $1 ORDER BY next_at, key LIMIT $2",
        )
        .bind(to_db(until))
        .bind(to_db(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|row| {
                let key: String = row.try_get("key").map_err(backend)?;
                from_json(
                    &format!("outbox/{key}"),
                    row.try_get("entry").map_err(backend)?,
                )
            })
            .collect()
    }
}

#[async_trait]
impl Ledger for PgStore {
    async fn create_intent(
        &self,
        intent: &IntentRecord,
        max_pending: usize,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError> {
        let record = json(intent).map_err(backend)?;
        let owned = intent.clone();
        let created = self
            .transaction(move |tx| {
                let (intent, record) = (owned.clone(), record.clone());
                Box::pin(async move { create_in(tx, &intent, record, max_pending).await })
            })
            .await?;
        Ok(match created {
            Created::Held(record) => Ok(from_json(&intent_key(&intent.id), record)?),
            Created::New => Ok(intent.clone()),
            Created::Refused(refusal) => Err(refusal),
        })
    }

    async fn intent(&self, id: &str) -> Result<Option<IntentRecord>, StoreError> {
        let record: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT record FROM intents WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        record.map(|r| from_json(&intent_key(id), r)).transpose()
    }

    async fn citizen_intents(
        &self,
        citizen: &str,
        before: Option<&HistoryCursor>,
        limit: usize,
    ) -> Result<Vec<IntentRecord>, StoreError> {
        let query = match before {
            Some(cursor) => sqlx::query(
                "SELECT id, record FROM intents
                 WHERE citizen = $1 AND (created_at, id) < ($3, $4)
                 ORDER BY created_at DESC, id DESC LIMIT $2",
            )
            .bind(citizen)
            .bind(to_db(limit as u64))
            .bind(to_db(cursor.created_at))
            .bind(&cursor.id),
            None => sqlx::query(
                "SELECT id, record FROM intents WHERE citizen = $1
                 ORDER BY created_at DESC, id DESC LIMIT $2",
            )
            .bind(citizen)
            .bind(to_db(limit as u64)),
        };
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        rows.into_iter()
            .map(|row| {
                let id: String = row.try_get("id").map_err(backend)?;
                from_json(&intent_key(&id), row.try_get("record").map_err(backend)?)
            })
            .collect()
    }

    async fn intents(&self) -> Result<Vec<IntentRecord>, StoreError> {
        read_intents(&mut *self.pool.acquire().await.map_err(backend)?).await
    }

    async fn step(
        &self,
        id: &str,
        once: Option<&str>,
        step: &StepFn,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError> {
        let stepped = self.step_transaction(id, once, step).await?;
        Ok(stepped.map(|Stepped { intent, queued }| {
            if queued {
                self.outbox_added.notify_one();
            }
            intent
        }))
    }

    async fn open_account(
        &self,
        account: &str,
        opening: &[(String, i64)],
    ) -> Result<Result<bool, LedgerRefusal>, StoreError> {
        let (account, lines) = (account.to_string(), opening.to_vec());
        self.transaction(move |tx| {
            let (account, lines) = (account.clone(), lines.clone());
            Box::pin(async move {
                // No row to lock yet: openers of one account (and steps that
                // would make it, `lock_accounts`) queue on a lock of its
                // name, so the second finds the first one's row.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(&account)
                    .execute(&mut **tx)
                    .await?;
                let exists: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM accounts WHERE name = $1")
                        .bind(&account)
                        .fetch_optional(&mut **tx)
                        .await?;
                if exists.is_some() {
                    return Ok(Ok(false));
                }
                let mut locked = LockedBalances::new();
                let accounts = lines.iter().map(|(name, _)| name.clone()).collect();
                lock_accounts(tx, &accounts, &mut locked).await?;
                match settle(&locked, &lines) {
                    Ok(changes) => {
                        write_postings(tx, &locked, &lines, changes, None).await?;
                        Ok(Ok(true))
                    }
                    Err(refusal) => Ok(Err(refusal)),
                }
            })
        })
        .await
    }

    async fn post(
        &self,
        postings: &[(String, i64)],
    ) -> Result<Result<(), LedgerRefusal>, StoreError> {
        let lines = postings.to_vec();
        self.transaction(move |tx| {
            let lines = lines.clone();
            Box::pin(async move {
                let mut locked = LockedBalances::new();
                let accounts = lines.iter().map(|(account, _)| account.clone()).collect();
                lock_accounts(tx, &accounts, &mut locked).await?;
                match settle(&locked, &lines) {
                    Ok(changes) => {
                        write_postings(tx, &locked, &lines, changes, None).await?;
                        Ok(Ok(()))
                    }
                    Err(refusal) => Ok(Err(refusal)),
                }
            })
        })
        .await
    }

    async fn whole_ledger(&self) -> Result<LedgerSnapshot, StoreError> {
        // One read-only transaction at REPEATABLE READ: the three reads see
        // the database as of its first statement.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let snapshot = LedgerSnapshot {
            postings: read_postings(&mut tx).await?,
            balances: read_balances(&mut tx).await?,
            intents: read_intents(&mut tx).await?,
        };
        tx.commit().await.map_err(backend)?;
        Ok(snapshot)
    }

    async fn postings(&self) -> Result<Vec<Posting>, StoreError> {
        read_postings(&mut *self.pool.acquire().await.map_err(backend)?).await
    }

    async fn balances(&self) -> Result<Vec<(String, i64)>, StoreError> {
        read_balances(&mut *self.pool.acquire().await.map_err(backend)?).await
    }

    async fn balance(&self, account: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT balance FROM accounts WHERE name = $1")
            .bind(account)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn outbox_due(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_until(now_ms, limit).await
    }

    async fn outbox_next_due(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .outbox_until(u64::MAX, 1)
            .await?
            .first()
            .map(|e| e.next_at))
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_until(u64::MAX, usize::MAX).await
    }

    async fn outbox_claim(&self, key: &str, due_at: u64, until: u64) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE outbox SET next_at = $3, entry = jsonb_set(entry, '{next_at}', to_jsonb($3))
             WHERE key = $1 AND next_at = $2",
        )
        .bind(key)
        .bind(to_db(due_at))
        .bind(to_db(until))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn outbox_update(
        &self,
        key: &str,
        entry: Option<&OutboxEntry>,
    ) -> Result<(), StoreError> {
        match entry {
            Some(entry) => {
                sqlx::query(
                    "INSERT INTO outbox (key, next_at, entry) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE
                     SET next_at = EXCLUDED.next_at, entry = EXCLUDED.entry",
                )
                .bind(key)
                .bind(to_db(entry.next_at))
                .bind(json(entry).map_err(backend)?)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                self.outbox_added.notify_one();
            }
            None => {
                sqlx::query("DELETE FROM outbox WHERE key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
            }
        }
        Ok(())
    }

    fn outbox_added(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_added.clone()
    }
}
