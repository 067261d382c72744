//! The payments part of the sled store: intents, their (app, citizen,
//! reference) idempotency index and (app, citizen) pending lists, account
//! balances, postings, one-time keys and the app outbox, changed only inside
//! multi-tree sled transactions so a crash leaves either the whole step or
//! none of it.

use super::{backend, composite, to_json, PendingList, SledStore};
use crate::store::{
    IntentRecord, IntentStatus, LedgerRefusal, OutboxEntry, Posting, StepFn, StoreError,
};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;
use std::cell::RefCell;

/// Why a ledger transaction stopped.
enum Abort {
    Refused(LedgerRefusal),
    Corrupt(String),
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

fn abort<T>(refusal: LedgerRefusal) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(Abort::Refused(refusal)))
}

fn decode_balance(bytes: &[u8]) -> i64 {
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
    pub(super) fn ledger_create(
        &self,
        intent: &IntentRecord,
        max_pending: usize,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError> {
        // One citizen's reference never names another citizen's intent.
        let reference = composite(&[&intent.app, &intent.citizen, &intent.reference]);
        let holder = composite(&[&intent.app, &intent.citizen]);
        let json = to_json(intent)?;
        let trees = [
            self.intents.clone(),
            self.intent_keys.clone(),
            self.pending_intents.clone(),
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
            Ok(intent.clone())
        });
        finish(outcome)
    }

    pub(super) fn ledger_step(
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
            if decided.notify_app {
                let key = format!("{}:{:016x}", intent.id, t[4].generate_id()?);
                let entry = OutboxEntry {
                    key: key.clone(),
                    intent: intent.id.clone(),
                    app: intent.app.clone(),
                    attempts: 0,
                    next_at: now_ms(),
                };
                let json = serde_json::to_vec(&entry).map_err(|e| {
                    ConflictableTransactionError::Abort(Abort::Corrupt(e.to_string()))
                })?;
                t[4].insert(key.as_bytes(), json)?;
            }
            Ok(intent)
        });
        finish(outcome)
    }

    pub(super) fn ledger_post(
        &self,
        lines: &[(String, i64)],
    ) -> Result<Result<(), LedgerRefusal>, StoreError> {
        let outcome = [self.accounts.clone(), self.postings.clone()]
            .as_slice()
            .transaction(|t| apply_postings(&t[0], &t[1], lines, None));
        finish(outcome)
    }

    pub(super) fn ledger_postings(&self) -> Result<Vec<Posting>, StoreError> {
        Self::scan_json(self.postings.iter())
    }

    pub(super) fn ledger_balances(&self) -> Result<Vec<(String, i64)>, StoreError> {
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
}
