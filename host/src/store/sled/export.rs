//! Reads a whole sled data dir raw for `citadel migrate`: every tree, each
//! record decoded from its stored key and JSON, in key order. Nothing here
//! writes, moves money or announces a change.

use super::{backend, PendingList, SledStore};
use crate::store::migrate::{RecordCounts, RecordKind};
use crate::store::{
    AppRecord, AuditRecord, ConsentRecord, FrameRecord, InboxMessage, IntentRecord, LocationRecord,
    OperatorRecord, OutboxEntry, Posting, PublisherRecord, SessionRecord, StoreError,
    VersionRecord,
};
use serde::de::DeserializeOwned;

/// One kv key: app-wide (`pairwise_id` None) or in a citizen's space.
pub(crate) struct KvEntry {
    pub app: String,
    pub pairwise_id: Option<String>,
    pub key: String,
    pub value: Vec<u8>,
}

/// A component blob with how many versions reference it.
pub(crate) struct BlobEntry {
    pub sha256: String,
    pub bytes: Vec<u8>,
    pub refs: u64,
}

/// The app a pairwise id belongs to, and whose it is.
pub(crate) struct PairwiseEntry {
    pub app: String,
    pub pairwise: String,
    pub citizen: String,
}

/// Everything a sled data dir holds, as the PostgreSQL import needs it.
/// Pairs are (the record's key, the record); lists are in sled key order.
#[derive(Default)]
pub(crate) struct SledExport {
    pub publishers: Vec<PublisherRecord>,
    /// (sha256 of the API key, publisher)
    pub publisher_keys: Vec<(String, String)>,
    pub apps: Vec<AppRecord>,
    pub versions: Vec<VersionRecord>,
    pub blobs: Vec<BlobEntry>,
    /// Blobs no version references: unreachable, not copied.
    pub orphan_blobs: usize,
    pub kv: Vec<KvEntry>,
    /// (sha256 of the token, operator)
    pub operators: Vec<(String, OperatorRecord)>,
    /// (name, secret)
    pub host_secrets: Vec<(String, Vec<u8>)>,
    /// (sha256 of the token, session)
    pub sessions: Vec<(String, SessionRecord)>,
    /// (citizen, consent)
    pub consents: Vec<(String, ConsentRecord)>,
    pub pairwise: Vec<PairwiseEntry>,
    /// (citizen, message), each citizen's in arrival order.
    pub inbox: Vec<(String, InboxMessage)>,
    /// (sha256 of the token, frame)
    pub frames: Vec<(String, FrameRecord)>,
    /// (citizen, location)
    pub locations: Vec<(String, LocationRecord)>,
    /// (citizen, Unix ms the erasure began)
    pub unfinished_erasures: Vec<(String, u64)>,
    /// (key, the times of the slots taken in its window)
    pub rate_limits: Vec<(String, Vec<u64>)>,
    pub intents: Vec<IntentRecord>,
    /// Entries of the (app, citizen) idempotency index.
    pub intent_keys: u64,
    /// Intents in the (app, citizen) pending lists.
    pub pending_intents: u64,
    /// (account, balance)
    pub accounts: Vec<(String, i64)>,
    /// In the order they were written.
    pub postings: Vec<Posting>,
    /// (one-time key, intent)
    pub once_keys: Vec<(String, String)>,
    pub outbox: Vec<OutboxEntry>,
    pub audit: Vec<AuditRecord>,
    /// The highest id sled's generator is known to have handed out
    /// (audit numbers, postings, frame orders, inbox arrivals, transaction
    /// and outbox numbers all come from it).
    pub highest_generated_id: u64,
}

impl SledExport {
    /// How many records of each kind were read.
    pub(crate) fn counts(&self) -> RecordCounts {
        use RecordKind::*;
        let len = |n: usize| n as u64;
        RecordCounts::from([
            (Publishers, len(self.publishers.len())),
            (PublisherKeys, len(self.publisher_keys.len())),
            (Apps, len(self.apps.len())),
            (Versions, len(self.versions.len())),
            (Blobs, len(self.blobs.len())),
            (KvKeys, len(self.kv.len())),
            (Operators, len(self.operators.len())),
            (HostSecrets, len(self.host_secrets.len())),
            (Sessions, len(self.sessions.len())),
            (Consents, len(self.consents.len())),
            (PairwiseIds, len(self.pairwise.len())),
            (InboxMessages, len(self.inbox.len())),
            (FrameTokens, len(self.frames.len())),
            (Locations, len(self.locations.len())),
            (UnfinishedErasures, len(self.unfinished_erasures.len())),
            (RateLimitWindows, len(self.rate_limits.len())),
            (Intents, len(self.intents.len())),
            (IdempotencyKeys, self.intent_keys),
            (PendingIntents, self.pending_intents),
            (Accounts, len(self.accounts.len())),
            (Postings, len(self.postings.len())),
            (OnceKeys, len(self.once_keys.len())),
            (OutboxEntries, len(self.outbox.len())),
            (AuditRecords, len(self.audit.len())),
        ])
    }
}

/// `tree/key` with NULs shown as `/`, for corruption reports.
fn locate(tree: &str, key: &[u8]) -> String {
    format!("{tree}/{}", String::from_utf8_lossy(key).replace('\0', "/"))
}

fn corrupt(tree: &str, key: &[u8], reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: locate(tree, key),
        reason: reason.to_string(),
    }
}

/// Bytes that must be text (ids, names, keys).
fn text(tree: &str, key: &[u8], bytes: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| corrupt(tree, key, e))
}

fn big_endian(tree: &str, key: &[u8], bytes: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(tree, key, "not an 8-byte number"))
}

fn decode<T: DeserializeOwned>(tree: &str, key: &[u8], value: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|e| corrupt(tree, key, e))
}

/// `key` split at its first NUL.
fn split_nul<'k>(tree: &str, key: &'k [u8]) -> Result<(&'k [u8], &'k [u8]), StoreError> {
    let at = key
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| corrupt(tree, key, "a composite key without a separator"))?;
    Ok((&key[..at], &key[at + 1..]))
}

/// Every (key, value) of a tree, in key order.
fn entries(tree: &sled::Tree) -> Result<Vec<(sled::IVec, sled::IVec)>, StoreError> {
    tree.iter().collect::<Result<_, _>>().map_err(backend)
}

/// Every (text key, JSON record) of a tree.
fn keyed<T: DeserializeOwned>(
    name: &str,
    tree: &sled::Tree,
) -> Result<Vec<(String, T)>, StoreError> {
    entries(tree)?
        .into_iter()
        .map(|(key, value)| Ok((text(name, &key, &key)?, decode(name, &key, &value)?)))
        .collect()
}

/// Every JSON record of a tree.
fn records<T: DeserializeOwned>(name: &str, tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
    Ok(keyed(name, tree)?
        .into_iter()
        .map(|(_, record)| record)
        .collect())
}

/// Every (text key, text value) of a tree.
fn text_pairs(name: &str, tree: &sled::Tree) -> Result<Vec<(String, String)>, StoreError> {
    entries(tree)?
        .into_iter()
        .map(|(key, value)| Ok((text(name, &key, &key)?, text(name, &key, &value)?)))
        .collect()
}

impl SledStore {
    /// Read every tree of the data dir.
    pub(crate) fn export(&self) -> Result<SledExport, StoreError> {
        let mut export = SledExport {
            publishers: records("publishers", &self.publishers)?,
            publisher_keys: text_pairs("publisher-keys", &self.publisher_keys)?,
            apps: records("app-rollouts", &self.apps)?,
            versions: records("versions", &self.versions)?,
            operators: keyed("operators", &self.operators)?,
            sessions: keyed("sessions", &self.sessions)?,
            frames: keyed("frames", &self.frames)?,
            locations: keyed("locations", &self.locations)?,
            rate_limits: keyed("rate-limits", &self.rate_limits)?,
            intents: records("intents", &self.intents)?,
            intent_keys: self.intent_keys.len() as u64,
            once_keys: text_pairs("once-keys", &self.once_keys)?,
            outbox: records("outbox", &self.outbox)?,
            ..SledExport::default()
        };
        for (key, value) in entries(&self.unfinished_erasures)? {
            let citizen = text("unfinished-erasures", &key, &key)?;
            let began = big_endian("unfinished-erasures", &key, &value)?;
            export.unfinished_erasures.push((citizen, began));
        }
        self.export_blobs(&mut export)?;
        self.export_kv(&mut export)?;
        self.export_identity(&mut export)?;
        self.export_ledger(&mut export)?;
        for (key, value) in entries(&self.audit)? {
            let record: AuditRecord = decode("audit", &key, &value)?;
            if big_endian("audit", &key, &key)? != record.seq {
                return Err(corrupt("audit", &key, "numbered differently from its key"));
            }
            export.audit.push(record);
        }
        export.highest_generated_id = export
            .highest_generated_id
            .max(highest_generated_id(&export));
        Ok(export)
    }

    /// Blobs with their reference counts; blobs without one are orphans.
    fn export_blobs(&self, export: &mut SledExport) -> Result<(), StoreError> {
        for (key, bytes) in entries(&self.blobs)? {
            let refs = match self.blob_refs.get(&key).map_err(backend)? {
                Some(count) => big_endian("blob-refs", &key, &count)?,
                None => 0,
            };
            if refs == 0 {
                export.orphan_blobs += 1;
                continue;
            }
            export.blobs.push(BlobEntry {
                sha256: text("blobs", &key, &key)?,
                bytes: bytes.to_vec(),
                refs,
            });
        }
        Ok(())
    }

    /// Every app's `kv/{app}` and `kvc/{app}` trees.
    fn export_kv(&self, export: &mut SledExport) -> Result<(), StoreError> {
        let mut names: Vec<String> = Vec::new();
        for name in self.db.tree_names() {
            let name = text("tree names", &name, &name)?;
            if name.starts_with("kv/") || name.starts_with("kvc/") {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let tree = self.db.open_tree(&name).map_err(backend)?;
            let (citizens, app) = match name.split_once('/') {
                Some(("kvc", app)) => (true, app.to_string()),
                Some((_, app)) => (false, app.to_string()),
                None => continue,
            };
            for (full, value) in entries(&tree)? {
                let (pairwise_id, key) = if citizens {
                    let (pairwise, key) = split_nul(&name, &full)?;
                    (Some(text(&name, &full, pairwise)?), key)
                } else {
                    (None, full.as_ref())
                };
                export.kv.push(KvEntry {
                    app: app.clone(),
                    pairwise_id,
                    key: text(&name, &full, key)?,
                    value: value.to_vec(),
                });
            }
        }
        Ok(())
    }

    fn export_identity(&self, export: &mut SledExport) -> Result<(), StoreError> {
        for (key, secret) in entries(&self.secrets)? {
            export
                .host_secrets
                .push((text("secrets", &key, &key)?, secret.to_vec()));
        }
        for (key, value) in entries(&self.consents)? {
            let (citizen, _) = split_nul("consents", &key)?;
            export.consents.push((
                text("consents", &key, citizen)?,
                decode("consents", &key, &value)?,
            ));
        }
        for (key, citizen) in entries(&self.pairwise)? {
            let (app, pairwise) = split_nul("pairwise", &key)?;
            export.pairwise.push(PairwiseEntry {
                app: text("pairwise", &key, app)?,
                pairwise: text("pairwise", &key, pairwise)?,
                citizen: text("pairwise", &key, &citizen)?,
            });
        }
        for (key, value) in entries(&self.inbox)? {
            // citizen ‖ NUL ‖ time ‖ arrival id
            let (citizen, place) = split_nul("inbox", &key)?;
            let arrival = place
                .get(8..)
                .ok_or_else(|| corrupt("inbox", &key, "no time and arrival"))?;
            let arrival = big_endian("inbox", &key, arrival)?;
            export.highest_generated_id = export.highest_generated_id.max(arrival);
            export.inbox.push((
                text("inbox", &key, citizen)?,
                decode("inbox", &key, &value)?,
            ));
        }
        Ok(())
    }

    fn export_ledger(&self, export: &mut SledExport) -> Result<(), StoreError> {
        for (key, value) in entries(&self.pending_intents)? {
            let pending: PendingList = decode("pending-intents", &key, &value)?;
            export.pending_intents += pending.len() as u64;
        }
        for (key, balance) in entries(&self.accounts)? {
            let balance = <[u8; 8]>::try_from(balance.as_ref())
                .map(i64::from_be_bytes)
                .map_err(|_| corrupt("accounts", &key, "not an 8-byte balance"))?;
            export
                .accounts
                .push((text("accounts", &key, &key)?, balance));
        }
        for (key, value) in entries(&self.postings)? {
            let id = big_endian("postings", &key, &key)?;
            export.highest_generated_id = export.highest_generated_id.max(id);
            export.postings.push(decode("postings", &key, &value)?);
        }
        Ok(())
    }
}

/// The highest of the generator's ids the records show (audit numbers,
/// frame orders, transaction and outbox numbers).
fn highest_generated_id(export: &SledExport) -> u64 {
    let hex_suffix = |text: &str, after: char| {
        text.rsplit_once(after)
            .and_then(|(_, digits)| u64::from_str_radix(digits, 16).ok())
    };
    let audit = export.audit.iter().map(|r| r.seq.saturating_sub(1));
    let frames = export.frames.iter().map(|(_, f)| f.order);
    let transactions = export
        .postings
        .iter()
        .filter_map(|p| hex_suffix(&p.tx, '-'));
    let outbox = export.outbox.iter().filter_map(|e| hex_suffix(&e.key, ':'));
    audit
        .chain(frames)
        .chain(transactions)
        .chain(outbox)
        .max()
        .unwrap_or(0)
}
