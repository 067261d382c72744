//! Backups of the embedded store: a snapshot taken while the host serves
//! (writes wait at the write gate while every tree is read, reads go on),
//! and a restore into an empty data dir, checked against the manifest.

use super::ledger::decode_balance;
use super::{backend, open_db, sled_config, SledStore};
use crate::store::backup::{
    read_header, verify, BackupError, BackupManifest, BodyItem, BodyReader, BodyWriter, Snapshot,
};
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter};
use std::path::Path;

/// The record kinds a manifest counts, each with its tree; kv entries are
/// counted over every app's `kv/` and `kvc/` trees.
const RECORD_TREES: &[(&str, &str)] = &[
    ("apps", "app-rollouts"),
    ("versions", "versions"),
    ("components", "blobs"),
    ("publishers", "publishers"),
    ("consents", "consents"),
    ("sessions", "sessions"),
    ("inbox_messages", "inbox"),
    ("payment_intents", "intents"),
    ("accounts", "accounts"),
    ("postings", "postings"),
    ("audit_records", "audit"),
];

fn record_counts(trees: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut records: BTreeMap<String, u64> = RECORD_TREES
        .iter()
        .map(|(kind, tree)| (kind.to_string(), trees.get(*tree).copied().unwrap_or(0)))
        .collect();
    let kv = trees
        .iter()
        .filter(|(name, _)| name.starts_with("kv/") || name.starts_with("kvc/"))
        .map(|(_, count)| count)
        .sum();
    records.insert("kv_entries".into(), kv);
    records
}

/// What a walk over a store found: entries per tree and the accounts' sum.
#[derive(Default)]
struct Tally {
    trees: BTreeMap<String, u64>,
    ledger_sum: i128,
}

impl Tally {
    fn ledger_sum(&self) -> Result<i64, BackupError> {
        i64::try_from(self.ledger_sum)
            .map_err(|_| BackupError::Damaged("the accounts' sum overflows".into()))
    }
}

/// Visit every tree of `db` in name order and each entry in key order,
/// tallying them.
fn walk(
    db: &sled::Db,
    mut visit: impl FnMut(BodyItem<&[u8]>) -> std::io::Result<()>,
) -> Result<Tally, BackupError> {
    let mut tally = Tally::default();
    let mut names = db.tree_names();
    names.sort();
    for name in names {
        let tree = db.open_tree(&name).map_err(backend)?;
        visit(BodyItem::Tree(&name))?;
        let mut entries = 0;
        for entry in tree.iter() {
            let (key, value) = entry.map_err(backend)?;
            visit(BodyItem::Entry(&key, &value))?;
            if &*name == b"accounts" {
                tally.ledger_sum += i128::from(decode_balance(&value));
            }
            entries += 1;
        }
        tally
            .trees
            .insert(String::from_utf8_lossy(&name).into_owned(), entries);
    }
    Ok(tally)
}

#[async_trait::async_trait]
impl Snapshot for SledStore {
    /// Writes wait while the trees are read, so each is in the copy whole
    /// or not at all; every write acknowledged before the call is in it.
    async fn snapshot(&self, out: std::fs::File) -> Result<BackupManifest, BackupError> {
        let gate = self.write_gate.clone().write_owned().await;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let manifest = write_body(&db, out);
            drop(gate);
            manifest
        })
        .await
        .map_err(|e| BackupError::Io(std::io::Error::other(e)))?
    }
}

/// Write every tree of `db` to `out`.
fn write_body(db: &sled::Db, out: std::fs::File) -> Result<BackupManifest, BackupError> {
    let created_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // Taking an id is the way to read the generator: every id handed out so
    // far is below this one.
    let next_generated_id = db.generate_id().map_err(backend)?;
    let mut body = BodyWriter::new(BufWriter::with_capacity(1 << 20, out));
    let tally = walk(db, |item| match item {
        BodyItem::Tree(name) => body.tree(name),
        BodyItem::Entry(key, value) => body.entry(key, value),
    })?;
    let (writer, body_bytes, body_sha256) = body.finish()?;
    writer
        .into_inner()
        .map_err(|e| BackupError::Io(e.into_error()))?
        .sync_all()?;
    Ok(BackupManifest {
        host_version: env!("CARGO_PKG_VERSION").into(),
        created_at,
        records: record_counts(&tally.trees),
        ledger_sum: tally.ledger_sum()?,
        trees: tally.trees,
        next_generated_id,
        body_bytes,
        body_sha256,
    })
}

/// Restore the backup `file` into `data_dir`, which must not exist or be
/// empty: the file is checked whole first, then its trees are written into
/// `data_dir/db` and counted again. On any failure `data_dir/db` is removed.
pub fn restore(file: &Path, data_dir: &Path) -> Result<BackupManifest, BackupError> {
    if data_dir.exists() && std::fs::read_dir(data_dir)?.next().is_some() {
        return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
    }
    let manifest = verify(&mut BufReader::new(std::fs::File::open(file)?))?;
    let db_dir = data_dir.join("db");
    std::fs::create_dir_all(data_dir)?;
    let restored = write_trees(file, &db_dir, &manifest);
    if restored.is_err() {
        let _ = std::fs::remove_dir_all(&db_dir);
    }
    restored.map(|()| manifest)
}

fn write_trees(file: &Path, db_dir: &Path, manifest: &BackupManifest) -> Result<(), BackupError> {
    advance_id_generator(db_dir, manifest.next_generated_id)?;
    let db = open_db(&sled_config(db_dir)).map_err(backend)?;
    if db.generate_id().map_err(backend)? < manifest.next_generated_id {
        return Err(BackupError::Damaged(
            "the restored store's id generator could not be moved past the backup's".into(),
        ));
    }
    let mut input = BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
    let read_manifest = read_header(&mut input)?;
    if &read_manifest != manifest {
        return Err(BackupError::Damaged(
            "the file changed while it was restored".into(),
        ));
    }
    let mut body = BodyReader::new(input, manifest);
    let mut tree: Option<sled::Tree> = None;
    let mut batch = sled::Batch::default();
    let mut batched = 0usize;
    while let Some(item) = body.next_item()? {
        match item {
            BodyItem::Tree(name) => {
                if let Some(full) = &tree {
                    full.apply_batch(std::mem::take(&mut batch))
                        .map_err(backend)?;
                    batched = 0;
                }
                tree = Some(db.open_tree(name).map_err(backend)?);
            }
            BodyItem::Entry(key, value) => {
                if tree.is_none() {
                    return Err(BackupError::Damaged("an entry before any tree".into()));
                }
                batch.insert(key, value);
                batched += 1;
                if batched == 10_000 {
                    if let Some(open) = &tree {
                        open.apply_batch(std::mem::take(&mut batch))
                            .map_err(backend)?;
                    }
                    batched = 0;
                }
            }
        }
    }
    if let Some(last) = &tree {
        last.apply_batch(batch).map_err(backend)?;
    }
    db.flush().map_err(backend)?;
    let tally = walk(&db, |_| Ok(()))?;
    let ledger_sum = tally.ledger_sum()?;
    // A tree the backup lists is restored even when empty; sled's default
    // tree exists in every database.
    let expected: BTreeMap<&String, &u64> = manifest.trees.iter().collect();
    let found: BTreeMap<&String, &u64> = tally
        .trees
        .iter()
        .filter(|(name, count)| manifest.trees.contains_key(*name) || **count > 0)
        .collect();
    if expected != found {
        return Err(BackupError::CountMismatch(format!(
            "entries per tree: the backup lists {expected:?}, the restored store holds {found:?}"
        )));
    }
    if ledger_sum != manifest.ledger_sum {
        return Err(BackupError::CountMismatch(format!(
            "the accounts sum to {ledger_sum}, the backup says {}",
            manifest.ledger_sum
        )));
    }
    Ok(())
}

/// sled's persist interval for its id generator (its default, which
/// `sled_config` keeps). A stored mark must be a multiple of it.
const IDGEN_PERSIST_INTERVAL: u64 = 1_000_000;

/// Make the new store at `db_dir` hand out only ids of `next` and above
/// (postings, audit numbers and the outbox are keyed by them). sled resumes
/// a reopened database at its last persisted mark plus twice the persist
/// interval, and persists a mark when it hands out an id at or above the
/// next multiple of the interval. So: open it with an interval `i` at or
/// above `next` (a multiple of sled's own, so the mark stays one), reopen it
/// (resuming at `2 × i`), take one id (persisting that mark), and close it.
fn advance_id_generator(db_dir: &Path, next: u64) -> Result<(), BackupError> {
    let interval = next.div_ceil(IDGEN_PERSIST_INTERVAL).max(1) * IDGEN_PERSIST_INTERVAL;
    let open = || open_db(&sled_config(db_dir).idgen_persist_interval(interval)).map_err(backend);
    let created = open()?;
    created.flush().map_err(backend)?;
    drop(created);
    let reopened = open()?;
    let id = reopened.generate_id().map_err(backend)?;
    reopened.flush().map_err(backend)?;
    if id < next {
        return Err(BackupError::Damaged(format!(
            "the id generator resumed at {id}, below {next}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KvSpace, KvStore, Ledger};

    #[tokio::test]
    async fn a_restored_store_holds_the_same_trees_and_hands_out_higher_ids() {
        let dir = tempfile::tempdir().unwrap();
        // A reopened database resumes its generator 2,000,000 on: a host
        // that has restarted hands out ids in the millions.
        for _ in 0..2 {
            drop(SledStore::open(&dir.path().join("db")).unwrap());
        }
        let source = SledStore::open(&dir.path().join("db")).unwrap();
        source
            .set(KvSpace::App("notes"), "greeting", b"xin chao", u64::MAX)
            .await
            .unwrap()
            .unwrap();
        for _ in 0..3 {
            source
                .post(&[("wallet:a".into(), 500), ("city:float".into(), -500)])
                .await
                .unwrap()
                .unwrap();
        }
        let taken = source.db.generate_id().unwrap();
        let file_path = dir.path().join("backup");
        let body_path = dir.path().join("body");
        let manifest = source
            .snapshot(std::fs::File::create(&body_path).unwrap())
            .await
            .unwrap();
        let mut file = crate::store::backup::header(&manifest).unwrap();
        file.extend(std::fs::read(&body_path).unwrap());
        std::fs::write(&file_path, file).unwrap();
        assert!(manifest.next_generated_id > taken);
        assert!(taken > 1_000_000, "{taken}");
        assert_eq!(manifest.records["postings"], 6);
        assert_eq!(manifest.records["kv_entries"], 1);
        assert_eq!(manifest.ledger_sum, 0);

        let target = dir.path().join("restored");
        let restored = restore(&file_path, &target).unwrap();
        assert_eq!(restored, manifest);
        let copy = SledStore::open(&target.join("db")).unwrap();
        assert_eq!(
            copy.get(KvSpace::App("notes"), "greeting").await.unwrap(),
            Some(b"xin chao".to_vec())
        );
        assert_eq!(copy.postings().await.unwrap().len(), 6);
        assert!(copy.db.generate_id().unwrap() > manifest.next_generated_id);
        // A new posting gets a fresh key: nothing restored is overwritten.
        copy.post(&[("wallet:a".into(), 1), ("city:float".into(), -1)])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(copy.postings().await.unwrap().len(), 8);

        let again = restore(&file_path, &target).unwrap_err();
        assert!(matches!(again, BackupError::NotEmpty(_)), "{again}");
    }

    /// Every async method of the sled store that is not a known read holds
    /// the write gate: a new write method that forgot it would let a backup
    /// see it half done. (Test methods, in `mod tests`, are skipped.)
    #[test]
    fn every_write_method_holds_the_write_gate() {
        const READS: &[&str] = &[
            "app",
            "apps",
            "balance",
            "balances",
            "blob",
            "blob_refs",
            "citizen_intents",
            "consent",
            "consents",
            "counted",
            "durable",
            "erasure_unfinished",
            "frame",
            "frame_count",
            "get",
            "has_operators",
            "inbox_latest",
            "inbox_since",
            "intent",
            "intents",
            "list",
            "location",
            "naming",
            "operator",
            "outbox",
            "outbox_due",
            "outbox_next_due",
            "page",
            "pairwise_citizen",
            "ping",
            "postings",
            "publisher",
            "publisher_for_key",
            "publisher_keys",
            "publishers",
            "session",
            "sessions_of",
            "snapshot",
            "sync",
            "unfinished_erasures",
            "usage",
            "versions",
            "whole_ledger",
            "writing",
        ];
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/sled");
        let mut writes = 0;
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let source = std::fs::read_to_string(&path).unwrap();
            let code = source.split("#[cfg(test)]").next().unwrap();
            for method in code.split("    async fn ").skip(1) {
                let name: String = method
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if READS.contains(&name.as_str()) {
                    continue;
                }
                writes += 1;
                let body = method.split("\n    }\n").next().unwrap();
                assert!(
                    body.contains("let _writing = self.writing().await;"),
                    "{}: `{name}` changes the store without holding the write gate \
                     (or add it to READS if it only reads)",
                    path.display()
                );
            }
        }
        assert!(writes >= 29, "found only {writes} write methods");
    }

    #[tokio::test]
    async fn a_damaged_backup_restores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let source = SledStore::open(&dir.path().join("db")).unwrap();
        source
            .set(KvSpace::App("notes"), "k", b"v", u64::MAX)
            .await
            .unwrap()
            .unwrap();
        let body_path = dir.path().join("body");
        let manifest = source
            .snapshot(std::fs::File::create(&body_path).unwrap())
            .await
            .unwrap();
        let mut file = crate::store::backup::header(&manifest).unwrap();
        let mut body = std::fs::read(&body_path).unwrap();
        let last = body.len() - 2;
        body[last] ^= 1;
        file.extend(body);
        let file_path = dir.path().join("backup");
        std::fs::write(&file_path, file).unwrap();
        let target = dir.path().join("restored");
        let err = restore(&file_path, &target).unwrap_err();
        assert!(matches!(err, BackupError::ChecksumMismatch { .. }), "{err}");
        assert!(!target.join("db").exists());
    }
}
