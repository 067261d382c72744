//! The payments part of the sled store: intents, their (app, citizen,
//! reference) idempotency index and (app, citizen) pending lists, account
//! balances, postings, one-time keys and the app outbox, changed only inside
//! multi-tree sled transactions so a crash leaves either the whole step or
//! none of it. Indexes beside them: a citizen's intents in time order, and
//! the outbox by due time.

use super::{
    backend, citizen_intent_key, composite, outbox_due_key, to_json, PendingList, SledStore,
};
use crate::store::{
    HistoryCursor, IntentRecord, IntentStatus, Ledger, LedgerRefusal, LedgerSnapshot, OutboxEntry,
    Posting, StepFn, StoreError,
};
use async_trait::async_trait;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;
use std::cell::RefCell;
use std::sync::Arc;

/// Why a ledger transaction stopped.
enum Abort {
    Refused(LedgerRefusal),
    Corrupt(String),
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

fn abort<T>(refusal: LedgerRefusal) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(Abort::Refused(refusal)))
}

pub(super) fn decode_balance(bytes: &[u8]) -> i64 {
    <[u8; 8]>::try_from(bytes).map_or(0, i64::from_be_bytes)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Apply balanced postings: balances move, each posting is recorded, and a
/// wallet never goes below zero.
fn apply_postings(
    accounts: &TransactionalTree,
    postings: &TransactionalTree,
    lines: &[(String, i64)],
    intent: Option<&str>,
) -> TxResult<()> {
    if lines
        .iter()
        .map(|(_, amount)| i128::from(*amount))
        .sum::<i128>()
        != 0
    {
        return abort(LedgerRefusal::Rule("unbalanced".into()));
    }
    let tx = format!("tx-{:016x}", postings.generate_id()?);
    let at = now_ms();
    for (account, amount) in lines {
        let balance = accounts
            .get(account.as_bytes())?
            .map_or(0, |v| decode_balance(&v));
        let after = balance + amount;
        if account.starts_with("wallet:") && after < 0 {
            return abort(LedgerRefusal::InsufficientFunds {
                account: account.clone(),
                balance,
            });
        }
        accounts.insert(account.as_bytes(), &after.to_be_bytes())?;
        let posting = Posting {
            tx: tx.clone(),
            intent: intent.map(str::to_string),
            account: account.clone(),
            amount: *amount,
            at,
        };
        let json = serde_json::to_vec(&posting)
            .map_err(|e| ConflictableTransactionError::Abort(Abort::Corrupt(e.to_string())))?;
        postings.insert(&postings.generate_id()?.to_be_bytes(), json)?;
    }
    Ok(())
}

/// The pending intents of one (app, citizen), read inside a transaction.
fn read_pending(tree: &TransactionalTree, holder: &[u8]) -> TxResult<PendingList> {
    match tree.get(holder)? {
        Some(raw) => serde_json::from_slice(&raw)
            .map_err(|e| ConflictableTransactionError::Abort(Abort::Corrupt(e.to_string()))),
        None => Ok(PendingList::new()),
    }
}

fn write_pending(tree: &TransactionalTree, holder: &[u8], pending: &PendingList) -> TxResult<()> {
    if pending.is_empty() {
        tree.remove(holder)?;
        return Ok(());
    }
    let json = serde_json::to_vec(pending)
        .map_err(|e| ConflictableTransactionError::Abort(Abort::Corrupt(e.to_string())))?;
    tree.insert(holder, json)?;
    Ok(())
}

fn finish<T>(
    outcome: Result<T, TransactionError<Abort>>,
) -> Result<Result<T, LedgerRefusal>, StoreError> {
    match outcome {
        Ok(value) => Ok(Ok(value)),
        Err(TransactionError::Abort(Abort::Refused(refusal))) => Ok(Err(refusal)),
        Err(TransactionError::Abort(Abort::Corrupt(reason))) => Err(StoreError::Corrupt {
            key: "payments".into(),
            reason,
        }),
        Err(TransactionError::Storage(e)) => Err(backend(e)),
    }
}

impl SledStore {
    fn ledger_create(
        &self,
        intent: &IntentRecord,
        max_pending: usize,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError> {
        // One citizen's reference never names another citizen's intent.
        let reference = composite(&[&intent.app, &intent.citizen, &intent.reference]);
        let holder = composite(&[&intent.app, &intent.citizen]);
        let json = to_json(intent)?;
        let by_citizen = citizen_intent_key(&intent.citizen, intent.created_at, &intent.id);
        let trees = [
            self.intents.clone(),
            self.intent_keys.clone(),
            self.pending_intents.clone(),
            self.citizen_intents.clone(),
        ];
        let outcome = trees.as_slice().transaction(|t| {
            if let Some(existing) = t[1].get(&reference)? {
                let stored = t[0].get(&existing)?.ok_or_else(|| {
                    ConflictableTransactionError::Abort(Abort::Corrupt(
                        "an intent reference names no intent".into(),
                    ))
                })?;
                return serde_json::from_slice::<IntentRecord>(&stored).map_err(|e| {
                    ConflictableTransactionError::Abort(Abort::Corrupt(e.to_string()))
                });
            }
            let mut pending = read_pending(&t[2], &holder)?;
            let now = now_ms();
            pending.retain(|(_, expires_at)| *expires_at > now);
            if pending.len() >= max_pending {
                return abort(LedgerRefusal::TooManyPending(pending.len()));
            }
            pending.push((intent.id.clone(), intent.expires_at));
            write_pending(&t[2], &holder, &pending)?;
            t[1].insert(reference.as_slice(), intent.id.as_bytes())?;
            t[0].insert(intent.id.as_bytes(), json.as_slice())?;
            t[3].insert(by_citizen.as_slice(), &[])?;
            Ok(intent.clone())
        });
        finish(outcome)
    }

    fn ledger_step(
        &self,
        id: &str,
        once: Option<&str>,
        step: &StepFn,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError> {
        let trees = [
            self.intents.clone(),
            self.accounts.clone(),
            self.postings.clone(),
            self.once_keys.clone(),
            self.outbox.clone(),
            self.pending_intents.clone(),
            self.outbox_due.clone(),
        ];
        let outcome = trees.as_slice().transaction(|t| {
            let Some(raw) = t[0].get(id.as_bytes())? else {
                return abort(LedgerRefusal::NoSuchIntent);
            };
            if let Some(key) = once {
                if t[3].get(key.as_bytes())?.is_some() {
                    return abort(LedgerRefusal::Replayed(key.to_string()));
                }
                t[3].insert(key.as_bytes(), id.as_bytes())?;
            }
            let mut intent: IntentRecord = serde_json::from_slice(&raw)
                .map_err(|e| ConflictableTransactionError::Abort(Abort::Corrupt(e.to_string())))?;
            let was_pending = intent.status == IntentStatus::Pending;
            // Reads inside `step` go through the transaction; a conflict is
            // kept and raised after it, so sled retries the whole step.
            let failed: RefCell<Option<UnabortableTransactionError>> = RefCell::new(None);
            let balance = |account: &str| match t[1].get(account.as_bytes()) {
                Ok(value) => value.map(|v| decode_balance(&v)),
                Err(e) => {
                    failed.borrow_mut().get_or_insert(e);
                    None
                }
            };
            let decided = step(&mut intent, &balance);
            if let Some(e) = failed.borrow_mut().take() {
                return Err(e.into());
            }
            let decided = match decided {
                Ok(decided) => decided,
                Err(refusal) => return abort(refusal),
            };
            if !decided.postings.is_empty() {
                apply_postings(&t[1], &t[2], &decided.postings, Some(&intent.id))?;
            }
            let json = serde_json::to_vec(&intent)
                .map_err(|e| ConflictableTransactionError::Abort(Abort::Corrupt(e.to_string())))?;
            t[0].insert(intent.id.as_bytes(), json)?;
            if was_pending && intent.status != IntentStatus::Pending {
                // It no longer counts toward its citizen's pending bound.
                let holder = composite(&[&intent.app, &intent.citizen]);
                let mut pending = read_pending(&t[5], &holder)?;
                pending.retain(|(id, _)| *id != intent.id);
                write_pending(&t[5], &holder, &pending)?;
            }
            let queued = decided.outbox_entries(&intent);
            for mut entry in queued.iter().cloned() {
                entry.key = format!("{}:{:016x}", intent.id, t[4].generate_id()?);
                entry.next_at = now_ms();
                t[6].insert(outbox_due_key(entry.next_at, &entry.key), &[])?;
                let json = serde_json::to_vec(&entry).map_err(|e| {
                    ConflictableTransactionError::Abort(Abort::Corrupt(e.to_string()))
                })?;
                t[4].insert(entry.key.as_bytes(), json)?;
            }
            Ok((intent, !queued.is_empty()))
        });
        let stepped = finish(outcome)?;
        Ok(stepped.map(|(intent, queued)| {
            if queued {
                self.outbox_added.notify_one();
            }
            intent
        }))
    }

    fn ledger_post(
        &self,
        lines: &[(String, i64)],
    ) -> Result<Result<(), LedgerRefusal>, StoreError> {
        let outcome = [self.accounts.clone(), self.postings.clone()]
            .as_slice()
            .transaction(|t| apply_postings(&t[0], &t[1], lines, None));
        finish(outcome)
    }

    fn ledger_open_account(
        &self,
        account: &str,
        opening: &[(String, i64)],
    ) -> Result<Result<bool, LedgerRefusal>, StoreError> {
        let outcome = [self.accounts.clone(), self.postings.clone()]
            .as_slice()
            .transaction(|t| {
                if t[0].get(account.as_bytes())?.is_some() {
                    return Ok(false);
                }
                apply_postings(&t[0], &t[1], opening, None)?;
                Ok(true)
            });
        finish(outcome)
    }

    fn ledger_intents(&self) -> Result<Vec<IntentRecord>, StoreError> {
        let mut intents: Vec<IntentRecord> = Self::scan_json(self.intents.iter())?;
        intents.sort_by_key(|i| i.created_at);
        Ok(intents)
    }

    fn ledger_postings(&self) -> Result<Vec<Posting>, StoreError> {
        Self::scan_json(self.postings.iter())
    }

    fn ledger_balances(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.accounts
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(backend)?;
                Ok((
                    String::from_utf8_lossy(&key).into_owned(),
                    decode_balance(&value),
                ))
            })
            .collect()
    }

    /// Replace or delete an outbox entry with its due-time index entry.
    fn outbox_update_now(&self, key: &str, entry: Option<&OutboxEntry>) -> Result<(), StoreError> {
        let json = entry.map(to_json).transpose()?;
        let outcome: Result<(), sled::transaction::TransactionError<StoreError>> =
            (&self.outbox, &self.outbox_due).transaction(|(outbox, due)| {
                if let Some(old) = outbox.get(key.as_bytes())? {
                    let old: OutboxEntry = serde_json::from_slice(&old).map_err(|e| {
                        ConflictableTransactionError::Abort(StoreError::Corrupt {
                            key: format!("outbox/{key}"),
                            reason: e.to_string(),
                        })
                    })?;
                    due.remove(outbox_due_key(old.next_at, key))?;
                }
                match (entry, &json) {
                    (Some(entry), Some(json)) => {
                        outbox.insert(key.as_bytes(), json.as_slice())?;
                        due.insert(outbox_due_key(entry.next_at, key), &[])?;
                    }
                    _ => {
                        outbox.remove(key.as_bytes())?;
                    }
                }
                Ok(())
            });
        super::settle(outcome)
    }

    /// Move entry `key`'s due time from `due_at` to `until`, if it is
    /// still `due_at`.
    fn outbox_claim_now(&self, key: &str, due_at: u64, until: u64) -> Result<bool, StoreError> {
        let outcome: Result<bool, sled::transaction::TransactionError<StoreError>> =
            (&self.outbox, &self.outbox_due).transaction(|(outbox, due)| {
                let Some(stored) = outbox.get(key.as_bytes())? else {
                    return Ok(false);
                };
                let mut entry: OutboxEntry = serde_json::from_slice(&stored).map_err(|e| {
                    ConflictableTransactionError::Abort(StoreError::Corrupt {
                        key: format!("outbox/{key}"),
                        reason: e.to_string(),
                    })
                })?;
                if entry.next_at != due_at {
                    return Ok(false);
                }
                entry.next_at = until;
                let json = to_json(&entry).map_err(ConflictableTransactionError::Abort)?;
                due.remove(outbox_due_key(due_at, key))?;
                due.insert(outbox_due_key(until, key), &[])?;
                outbox.insert(key.as_bytes(), json.as_slice())?;
                Ok(true)
            });
        super::settle(outcome)
    }

    /// Outbox entries in due order, while `keep` says so of their due time.
    fn outbox_in_due_order(
        &self,
        limit: usize,
        keep: impl Fn(u64) -> bool,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut entries = Vec::new();
        for index in self.outbox_due.iter().keys() {
            let index = index.map_err(backend)?;
            let Some(due) = index.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
                continue;
            };
            if entries.len() == limit || !keep(u64::from_be_bytes(due)) {
                break;
            }
            let key = String::from_utf8_lossy(&index[8..]).into_owned();
            if let Some(entry) = Self::get_json::<OutboxEntry>(&self.outbox, &key)? {
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

#[async_trait]
impl Ledger for SledStore {
    async fn create_intent(
        &self,
        intent: &IntentRecord,
        max_pending: usize,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError> {
        let _writing = self.writing().await;
        let created = self.ledger_create(intent, max_pending)?;
        self.durable().await?;
        Ok(created)
    }

    async fn intent(&self, id: &str) -> Result<Option<IntentRecord>, StoreError> {
        Self::get_json(&self.intents, id)
    }

    async fn citizen_intents(
        &self,
        citizen: &str,
        before: Option<&HistoryCursor>,
        limit: usize,
    ) -> Result<Vec<IntentRecord>, StoreError> {
        let prefix = composite(&[citizen, ""]);
        let end = match before {
            Some(cursor) => citizen_intent_key(citizen, cursor.created_at, &cursor.id),
            None => {
                let mut end = prefix.clone();
                end.extend_from_slice(&[0xFF; 9]);
                end
            }
        };
        let mut intents = Vec::new();
        for key in self.citizen_intents.range(prefix.clone()..end).keys().rev() {
            if intents.len() == limit {
                break;
            }
            let key = key.map_err(backend)?;
            let id = String::from_utf8_lossy(&key[prefix.len() + 8..]).into_owned();
            if let Some(intent) = Self::get_json(&self.intents, &id)? {
                intents.push(intent);
            }
        }
        Ok(intents)
    }

    async fn intents(&self) -> Result<Vec<IntentRecord>, StoreError> {
        self.ledger_intents()
    }

    async fn step(
        &self,
        id: &str,
        once: Option<&str>,
        step: &StepFn,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError> {
        let _writing = self.writing().await;
        let stepped = self.ledger_step(id, once, step)?;
        if stepped.is_ok() {
            self.durable().await?;
        }
        Ok(stepped)
    }

    async fn open_account(
        &self,
        account: &str,
        opening: &[(String, i64)],
    ) -> Result<Result<bool, LedgerRefusal>, StoreError> {
        let _writing = self.writing().await;
        let opened = self.ledger_open_account(account, opening)?;
        if opened == Ok(true) {
            self.durable().await?;
        }
        Ok(opened)
    }

    async fn post(
        &self,
        postings: &[(String, i64)],
    ) -> Result<Result<(), LedgerRefusal>, StoreError> {
        let _writing = self.writing().await;
        let posted = self.ledger_post(postings)?;
        if posted.is_ok() {
            self.durable().await?;
        }
        Ok(posted)
    }

    async fn whole_ledger(&self) -> Result<LedgerSnapshot, StoreError> {
        // Every write holds the write gate's shared side: holding it alone
        // (as a backup does), the three reads see one state. Writes wait
        // for the reads, as long as a reconciliation takes.
        let _alone = self.write_gate.write().await;
        Ok(LedgerSnapshot {
            postings: self.ledger_postings()?,
            balances: self.ledger_balances()?,
            intents: self.ledger_intents()?,
        })
    }

    async fn postings(&self) -> Result<Vec<Posting>, StoreError> {
        self.ledger_postings()
    }

    async fn balances(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.ledger_balances()
    }

    async fn balance(&self, account: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .accounts
            .get(account.as_bytes())
            .map_err(backend)?
            .map(|v| decode_balance(&v)))
    }

    async fn outbox_due(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_in_due_order(limit, |due| due <= now_ms)
    }

    async fn outbox_next_due(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .outbox_in_due_order(1, |_| true)?
            .first()
            .map(|e| e.next_at))
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_in_due_order(usize::MAX, |_| true)
    }

    async fn outbox_claim(&self, key: &str, due_at: u64, until: u64) -> Result<bool, StoreError> {
        let _writing = self.writing().await;
        // Not made durable: after a crash the entry is simply due earlier.
        self.outbox_claim_now(key, due_at, until)
    }

    async fn outbox_update(
        &self,
        key: &str,
        entry: Option<&OutboxEntry>,
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        self.outbox_update_now(key, entry)?;
        self.durable().await?;
        if entry.is_some() {
            self.outbox_added.notify_one();
        }
        Ok(())
    }

    fn outbox_added(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_added.clone()
    }
}
