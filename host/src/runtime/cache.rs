//! The compile cache: components are compiled once, at install, and kept
//! precompiled under the data dir, keyed by their sha256 and the engine's
//! compatibility hash — so a restart compiles nothing.

use super::PrepareError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::Component;
use wasmtime::Engine;

pub struct CompileCache {
    dir: PathBuf,
    engine_hash: String,
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

impl CompileCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hex::encode(&hasher.0.finalize()[..8]);
        Ok(CompileCache {
            dir,
            engine_hash,
            compiles: AtomicU64::new(0),
        })
    }

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

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{sha256}-{}.cwasm", self.engine_hash))
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
        if !path.exists() {
            return Ok(None);
        }
        // SAFETY: the file was written by `Component::serialize` of this
        // host (atomically, below) under a name that includes the engine's
        // compatibility hash; the data dir belongs to the host alone.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => link(&component).map(Some),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable precompiled component");
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
        std::fs::write(&tmp, serialized)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| PrepareError::Cache(format!("{}: {e}", path.display())))?;
        Ok(linked)
    }
}
