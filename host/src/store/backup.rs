//! The embedded store's backup file: a line naming the format, a line with
//! the manifest (entries per tree, record counts, the ledger's sum, the
//! body's size and SHA-256), then the body — every tree's entries. Writing,
//! reading and checking the file live here; `sled/backup.rs` takes the
//! snapshot and restores it.

pub use super::sled::backup::restore;
use super::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

/// The first line of every backup file.
pub const FORMAT_LINE: &str = "citadel-backup 1";

/// The manifest line is at most this long (the counts of a few thousand
/// trees).
const MANIFEST_LIMIT: u64 = 4 << 20;

/// What a backup holds, and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// The version of the host that took it.
    pub host_version: String,
    /// Unix milliseconds when the snapshot was taken.
    pub created_at: u64,
    /// Entries in each tree, by tree name.
    pub trees: BTreeMap<String, u64>,
    /// Records by kind (`apps`, `versions`, `consents`, `kv_entries`, …).
    pub records: BTreeMap<String, u64>,
    /// The sum of every account's balance: zero in a sound ledger.
    pub ledger_sum: i64,
    /// Every id the store's generator had handed out is below this; a
    /// restored store hands out only ids above it.
    pub next_generated_id: u64,
    /// Bytes of the body after the manifest line.
    pub body_bytes: u64,
    /// SHA-256 of the body, hex.
    pub body_sha256: String,
}

/// Why a backup could not be taken, read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("not a Citadel backup (its first line is not `{FORMAT_LINE}`)")]
    NotABackup,
    #[error("the backup's manifest cannot be read: {0}")]
    Manifest(String),
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    #[error(
        "the backup's checksum does not match: the manifest says {expected}, the body is {found}"
    )]
    ChecksumMismatch { expected: String, found: String },
    #[error("the restored store does not match the backup's manifest: {0}")]
    CountMismatch(String),
    #[error("{} is not empty: restore only into a new or empty data dir", .0.display())]
    NotEmpty(PathBuf),
    #[error(
        "this host keeps its state in PostgreSQL: back it up with the database's own tools \
         (pg_dump, or continuous archiving), not through Citadel"
    )]
    NotEmbedded,
}

const TREE: u8 = b'T';
const ENTRY: u8 = b'E';
const END: u8 = b'Z';

/// Writes a body, counting and hashing what it writes.
pub struct BodyWriter<W: Write> {
    out: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> BodyWriter<W> {
    pub fn new(out: W) -> Self {
        BodyWriter {
            out,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn put_field(&mut self, field: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(field.len()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "a field over 4 GiB")
        })?;
        self.put(&len.to_be_bytes())?;
        self.put(field)
    }

    /// The entries that follow belong to tree `name`.
    pub fn tree(&mut self, name: &[u8]) -> std::io::Result<()> {
        self.put(&[TREE])?;
        self.put_field(name)
    }

    pub fn entry(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        self.put(&[ENTRY])?;
        self.put_field(key)?;
        self.put_field(value)
    }

    /// End the body: the writer, the body's length and its SHA-256 (hex).
    pub fn finish(mut self) -> std::io::Result<(W, u64, String)> {
        self.put(&[END])?;
        self.out.flush()?;
        Ok((self.out, self.bytes, hex::encode(self.hasher.finalize())))
    }
}

/// One item of a body, in order: a tree's name, then its entries.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyItem<B = Vec<u8>> {
    Tree(B),
    Entry(B, B),
}

/// A store that can copy itself consistently while it serves.
#[async_trait::async_trait]
pub trait Snapshot: Send + Sync + 'static {
    /// Write every record to `out` as a backup body; its manifest.
    async fn snapshot(&self, out: std::fs::File) -> Result<BackupManifest, BackupError>;
}

/// Reads a body item by item, hashing it; the last item is followed by a
/// check of the length and checksum the manifest gives.
pub struct BodyReader<R: Read> {
    input: R,
    hasher: Sha256,
    bytes: u64,
    expected_bytes: u64,
    expected_sha256: String,
    ended: bool,
}

impl<R: Read> BodyReader<R> {
    pub fn new(input: R, manifest: &BackupManifest) -> Self {
        BodyReader {
            input,
            hasher: Sha256::new(),
            bytes: 0,
            expected_bytes: manifest.body_bytes,
            expected_sha256: manifest.body_sha256.clone(),
            ended: false,
        }
    }

    fn take(&mut self, len: usize) -> Result<Vec<u8>, BackupError> {
        if self.bytes + len as u64 > self.expected_bytes {
            return Err(BackupError::Damaged(
                "the body is longer than its manifest says".into(),
            ));
        }
        let mut buf = vec![0; len];
        self.input
            .read_exact(&mut buf)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    BackupError::Damaged("the body ends early (a truncated file?)".into())
                }
                _ => BackupError::Io(e),
            })?;
        self.hasher.update(&buf);
        self.bytes += len as u64;
        Ok(buf)
    }

    fn field(&mut self) -> Result<Vec<u8>, BackupError> {
        let len = self.take(4)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        self.take(len as usize)
    }

    /// The next item, or `None` after the last one once the body's length
    /// and checksum are found to match the manifest.
    pub fn next_item(&mut self) -> Result<Option<BodyItem>, BackupError> {
        if self.ended {
            return Ok(None);
        }
        match self.take(1)?[0] {
            TREE => Ok(Some(BodyItem::Tree(self.field()?))),
            ENTRY => {
                let key = self.field()?;
                Ok(Some(BodyItem::Entry(key, self.field()?)))
            }
            END => {
                self.ended = true;
                let mut rest = [0u8; 1];
                if self.input.read(&mut rest)? != 0 || self.bytes != self.expected_bytes {
                    return Err(BackupError::Damaged(
                        "the body's length differs from its manifest".into(),
                    ));
                }
                let found = hex::encode(self.hasher.clone().finalize());
                if found != self.expected_sha256 {
                    return Err(BackupError::ChecksumMismatch {
                        expected: self.expected_sha256.clone(),
                        found,
                    });
                }
                Ok(None)
            }
            other => Err(BackupError::Damaged(format!(
                "an unknown item tag {other:#04x} at byte {}",
                self.bytes - 1
            ))),
        }
    }
}

/// A backup ready to send: its header, then its body from a file that is
/// already unlinked (nothing is left behind if the host stops).
pub struct TakenBackup {
    pub manifest: BackupManifest,
    pub header: Vec<u8>,
    pub body: std::fs::File,
}

/// Take a backup of `store`, writing its body in `scratch_dir`.
pub async fn take(store: &dyn Snapshot, scratch_dir: &Path) -> Result<TakenBackup, BackupError> {
    use std::io::Seek;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = scratch_dir.join(format!(".backup-{}-{nanos}.tmp", std::process::id()));
    let mut body = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    let manifest = store.snapshot(body.try_clone()?).await?;
    body.rewind()?;
    Ok(TakenBackup {
        header: header(&manifest)?,
        manifest,
        body,
    })
}

/// The two header lines of a backup file: the format line and the manifest.
pub fn header(manifest: &BackupManifest) -> Result<Vec<u8>, BackupError> {
    let mut header = format!("{FORMAT_LINE}\n").into_bytes();
    serde_json::to_writer(&mut header, manifest)
        .map_err(|e| BackupError::Manifest(e.to_string()))?;
    header.push(b'\n');
    Ok(header)
}

/// Read a backup file's header; `input` is left at the body's first byte.
pub fn read_header(input: &mut impl BufRead) -> Result<BackupManifest, BackupError> {
    let mut first = Vec::new();
    input
        .take(FORMAT_LINE.len() as u64 + 1)
        .read_until(b'\n', &mut first)?;
    if first != format!("{FORMAT_LINE}\n").as_bytes() {
        return Err(BackupError::NotABackup);
    }
    let mut line = Vec::new();
    input.take(MANIFEST_LIMIT).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(BackupError::Manifest(
            "the manifest line is cut off or too long".into(),
        ));
    }
    serde_json::from_slice(&line).map_err(|e| BackupError::Manifest(e.to_string()))
}

/// Read a whole backup from `input` and check it against its manifest
/// without keeping it: its manifest once the body is found whole.
pub fn verify(input: &mut impl BufRead) -> Result<BackupManifest, BackupError> {
    let manifest = read_header(input)?;
    let mut body = BodyReader::new(input, &manifest);
    let mut trees: BTreeMap<String, u64> = BTreeMap::new();
    let mut current: Option<String> = None;
    while let Some(item) = body.next_item()? {
        match item {
            BodyItem::Tree(name) => {
                let name = String::from_utf8_lossy(&name).into_owned();
                trees.entry(name.clone()).or_default();
                current = Some(name);
            }
            BodyItem::Entry(..) => {
                let tree = current
                    .as_ref()
                    .ok_or_else(|| BackupError::Damaged("an entry before any tree".into()))?;
                *trees.entry(tree.clone()).or_default() += 1;
            }
        }
    }
    if trees != manifest.trees {
        return Err(BackupError::CountMismatch(
            "the body's entries per tree differ from the manifest's".into(),
        ));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn sample() -> Vec<u8> {
        let mut body = BodyWriter::new(Vec::new());
        body.tree(b"apps").unwrap();
        body.entry(b"hello", b"{\"id\":\"hello\"}").unwrap();
        body.entry(b"notes", b"").unwrap();
        body.tree(b"empty").unwrap();
        let (bytes, len, sha256) = body.finish().unwrap();
        let manifest = BackupManifest {
            host_version: "test".into(),
            created_at: 1,
            trees: BTreeMap::from([("apps".into(), 2), ("empty".into(), 0)]),
            records: BTreeMap::new(),
            ledger_sum: 0,
            next_generated_id: 7,
            body_bytes: len,
            body_sha256: sha256,
        };
        let mut file = header(&manifest).unwrap();
        file.extend_from_slice(&bytes);
        file
    }

    #[test]
    fn a_written_backup_reads_back_whole() {
        let file = sample();
        let manifest = verify(&mut BufReader::new(file.as_slice())).unwrap();
        assert_eq!(manifest.trees["apps"], 2);
        assert_eq!(manifest.next_generated_id, 7);
    }

    #[test]
    fn a_flipped_byte_is_a_checksum_mismatch() {
        let mut file = sample();
        let at = file.len() - 3;
        file[at] ^= 0x20;
        let err = verify(&mut BufReader::new(file.as_slice())).unwrap_err();
        assert!(matches!(err, BackupError::ChecksumMismatch { .. }), "{err}");
    }

    #[test]
    fn a_truncated_backup_is_damaged() {
        let file = sample();
        let cut = &file[..file.len() - 5];
        let err = verify(&mut BufReader::new(cut)).unwrap_err();
        assert!(matches!(err, BackupError::Damaged(_)), "{err}");
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut file = sample();
        file.push(b'x');
        let err = verify(&mut BufReader::new(file.as_slice())).unwrap_err();
        assert!(matches!(err, BackupError::Damaged(_)), "{err}");
    }

    #[test]
    fn another_file_is_not_a_backup() {
        let err = verify(&mut BufReader::new(&b"PK\x03\x04 a zip file\n"[..])).unwrap_err();
        assert!(matches!(err, BackupError::NotABackup), "{err}");
    }
}
