//! The compile cache: components are compiled once, at install, and kept
//! precompiled under the data dir, keyed by their sha256 and the engine's
//! compatibility hash — so a restart compiles nothing. A machine's hosts may
//! share one more directory of such files, read on a miss and filled after
//! each compile, so a large component compiles once per machine.

use super::PrepareError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::Component;
use wasmtime::Engine;

pub struct CompileCache {
    dir: PathBuf,
    /// The machine's shared directory, if any (same file names).
    shared: Option<PathBuf>,
    /// The data dir's owner: files of the shared directory are taken only
    /// from this user, and only if no one else can write them.
    owner: u32,
    engine_hash: String,
    /// Precompiled files added to `dir`: compiled here or taken from `shared`.
    compiles: AtomicU64,
}

/// Feeds `Hash` output into sha256, for a hash that is stable across runs.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only the digest is read")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Whether only `owner` can write `path` (a shared directory or a file in
/// it): its files are loaded as compiled code, so whoever can write one runs
/// code in every host that reads it.
fn written_only_by(path: &Path, owner: u32) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let found = std::fs::symlink_metadata(path)?;
        Ok(found.uid() == owner && found.permissions().mode() & 0o022 == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, owner);
        Ok(true)
    }
}

/// Write `bytes` to a new file at `path` that only its owner may write
/// (whatever the umask), as [`written_only_by`] asks of shared files.
fn write_only_by_owner(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    options.open(path)?.write_all(bytes)
}

/// The owner of the data dir: the only user the shared directory's files
/// may come from.
fn owner_of(data_dir: &Path) -> std::io::Result<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::metadata(data_dir)?.uid())
    }
    #[cfg(not(unix))]
    {
        let _ = data_dir;
        Ok(0)
    }
}

impl CompileCache {
    pub fn new(dir: PathBuf, shared: Option<PathBuf>, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let owner = owner_of(&dir)?;
        if let Some(shared) = &shared {
            std::fs::create_dir_all(shared)?;
            if !written_only_by(shared, owner)? {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "the shared compile cache {} must be owned and writable by this host's \
                         user alone (its files run as compiled code): chown it to the data dir's \
                         owner and chmod go-w, or unset CITADEL_SHARED_COMPILE_CACHE",
                        shared.display()
                    ),
                ));
            }
        }
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hex::encode(&hasher.0.finalize()[..8]);
        Ok(CompileCache {
            dir,
            shared,
            owner,
            engine_hash,
            compiles: AtomicU64::new(0),
        })
    }

    /// Precompiled files this host added to its cache: compiled, or taken
    /// from the machine's shared directory (the work a data dir without the
    /// shared directory would have compiled).
    pub fn compile_count(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    /// Delete the precompiled file of `sha256`, if any.
    pub fn forget(&self, sha256: &str) {
        let path = self.path(sha256);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "a precompiled file could not be deleted");
            }
        }
    }

    fn name(&self, sha256: &str) -> String {
        format!("{sha256}-{}.cwasm", self.engine_hash)
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(self.name(sha256))
    }

    /// Put `from` at `to` (a hard link, else a copy), atomically: a reader
    /// never sees half a file. False if it could not.
    fn place(&self, from: &std::path::Path, to: &std::path::Path) -> bool {
        if to.exists() {
            return true;
        }
        let Some(dir) = to.parent() else {
            return false;
        };
        let tmp = dir.join(format!(".{:016x}.tmp", rand::random::<u64>()));
        let placed = std::fs::hard_link(from, &tmp)
            .or_else(|_| std::fs::copy(from, &tmp).map(|_| ()))
            .and_then(|()| std::fs::rename(&tmp, to));
        if placed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        placed.is_ok()
    }

    /// Take `sha256`'s precompiled file from the shared directory into this
    /// data dir's cache, if the shared directory has it.
    fn take_shared(&self, sha256: &str) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        let from = shared.join(self.name(sha256));
        match written_only_by(&from, self.owner) {
            Ok(true) => self.place(&from, &self.path(sha256)),
            Ok(false) => {
                tracing::warn!(
                    path = %from.display(),
                    "ignoring a shared precompiled component that another user owns or can write"
                );
                false
            }
            Err(_) => false,
        }
    }

    /// `link(component)` for the precompiled form of `sha256`; `None` when
    /// there is none this engine can use.
    pub fn load<T>(
        &self,
        engine: &Engine,
        sha256: &str,
        link: impl Fn(&Component) -> Result<T, PrepareError>,
    ) -> Result<Option<T>, PrepareError> {
        let path = self.path(sha256);
        let from_shared = !path.exists();
        if from_shared && !self.take_shared(sha256) {
            return Ok(None);
        }
        // A file taken from the shared directory stays only if this host
        // links it: a refused component leaves no file behind.
        let drop_taken = || {
            if from_shared {
                let _ = std::fs::remove_file(&path);
            }
        };
        // SAFETY: the file was written by `Component::serialize` of this
        // host, or of another host of this machine into the shared
        // directory (atomically, below), under a name that includes the
        // engine's compatibility hash; the data dir and the shared directory
        // belong to the host's operator alone.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => match link(&component) {
                Ok(linked) => {
                    if from_shared {
                        self.compiles.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Some(linked))
                }
                Err(e) => {
                    drop_taken();
                    Err(e)
                }
            },
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable precompiled component");
                drop_taken();
                Ok(None)
            }
        }
    }

    /// `link(component)` for `bytes`: the component is loaded from the cache
    /// if present, else compiled, linked, and only then written to the cache,
    /// so a refused component leaves no file behind.
    pub fn load_or_compile<T>(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
        link: impl Fn(&Component) -> Result<T, PrepareError>,
    ) -> Result<T, PrepareError> {
        if let Some(linked) = self.load(engine, sha256, &link)? {
            return Ok(linked);
        }
        let path = self.path(sha256);
        let component =
            Component::new(engine, bytes).map_err(|e| PrepareError::Compile(format!("{e:#}")))?;
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let linked = link(&component)?;
        let serialized = component
            .serialize()
            .map_err(|e| PrepareError::Cache(format!("{e:#}")))?;
        let tmp = self
            .dir
            .join(format!(".{sha256}.{:016x}.tmp", rand::random::<u64>()));
        write_only_by_owner(&tmp, &serialized)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| PrepareError::Cache(format!("{}: {e}", path.display())))?;
        if let Some(shared) = &self.shared {
            // Best effort: the shared copy only saves other hosts a compile.
            self.place(&path, &shared.join(self.name(sha256)));
        }
        Ok(linked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".cwasm")
            })
            .count()
    }

    #[test]
    fn a_second_data_dir_takes_the_shared_file_and_a_refusal_leaves_none() {
        let engine = Engine::default();
        let [shared, a, b, c] = [(); 4].map(|()| tempfile::tempdir().unwrap());
        let component = wat::parse_str("(component)").unwrap();
        let cache = |dir: &tempfile::TempDir| {
            CompileCache::new(dir.path().into(), Some(shared.path().into()), &engine).unwrap()
        };

        let first = cache(&a);
        first
            .load_or_compile(&engine, &component, "c0ffee", |_| Ok(()))
            .unwrap();
        assert_eq!(first.compile_count(), 1);
        assert_eq!((files(a.path()), files(shared.path())), (1, 1));

        // Bytes that cannot compile: only the shared file can serve them.
        let second = cache(&b);
        second
            .load_or_compile(&engine, b"not a component", "c0ffee", |_| Ok(()))
            .expect("taken from the shared directory, not compiled");
        assert_eq!(second.compile_count(), 1);
        assert_eq!(files(b.path()), 1);

        // A host that refuses the component keeps no file of it.
        let third = cache(&c);
        let refused = third.load(&engine, "c0ffee", |_| {
            Err::<(), _>(PrepareError::Link("refused".into()))
        });
        assert!(refused.is_err());
        assert_eq!((third.compile_count(), files(c.path())), (0, 0));
        assert_eq!(files(shared.path()), 1, "the shared file stays");
    }

    #[cfg(unix)]
    #[test]
    fn a_shared_file_others_can_write_is_not_taken() {
        use std::os::unix::fs::PermissionsExt;
        let engine = Engine::default();
        let [shared, a, b] = [(); 3].map(|()| tempfile::tempdir().unwrap());
        let cache = |dir: &tempfile::TempDir| {
            CompileCache::new(dir.path().into(), Some(shared.path().into()), &engine).unwrap()
        };
        let component = wat::parse_str("(component)").unwrap();
        let first = cache(&a);
        first
            .load_or_compile(&engine, &component, "c0ffee", |_| Ok(()))
            .unwrap();
        let file = shared.path().join(first.name("c0ffee"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
        // A group member could have put code in it: the next host compiles.
        let second = cache(&b);
        assert!(second
            .load(&engine, "c0ffee", |_| Ok(()))
            .unwrap()
            .is_none());
        assert_eq!(files(b.path()), 0);
        second
            .load_or_compile(&engine, &component, "c0ffee", |_| Ok(()))
            .unwrap();
        assert_eq!(second.compile_count(), 1, "compiled, not taken");
    }

    #[cfg(unix)]
    #[test]
    fn a_shared_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let engine = Engine::default();
        let [shared, data] = [(); 2].map(|()| tempfile::tempdir().unwrap());
        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let refused = CompileCache::new(data.path().into(), Some(shared.path().into()), &engine)
            .err()
            .expect("a world-writable shared cache is refused");
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(refused.to_string().contains("chmod go-w"), "{refused}");

        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        CompileCache::new(data.path().into(), Some(shared.path().into()), &engine)
            .expect("a directory only its owner writes is taken");
    }
}
