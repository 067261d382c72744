//! The package a publisher uploads: one tar file holding `manifest.toml`,
//! the component (at the path the manifest names) and `signature.json`, a
//! detached ed25519 signature over the digests of both. Owns the layout,
//! building, parsing and signature checking; not who may sign (the registry).

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;

/// The largest package the host accepts.
pub const MAX_PACKAGE_BYTES: usize = 64 << 20;
const MANIFEST: &str = "manifest.toml";
const SIGNATURE: &str = "signature.json";
/// What the signature covers: this domain tag, then both sha256 digests.
const DOMAIN: &[u8] = b"citadel-package-v1\n";

/// Why a package could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackageError {
    #[error("the package is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the package layout is wrong: {0}")]
    Layout(String),
    #[error("the package signature is not valid: {0}")]
    Signature(String),
}

/// `signature.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signer's public key, hex (32 bytes).
    pub public_key: String,
    /// The signature, hex (64 bytes).
    pub signature: String,
}

/// A package whose layout is right (its signature not yet checked).
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest_text: String,
    pub component: Vec<u8>,
    pub signature: SignatureFile,
}

/// The bytes a package signature signs.
pub fn signed_message(manifest: &[u8], component: &[u8]) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&Sha256::digest(manifest));
    message.extend_from_slice(&Sha256::digest(component));
    message
}

/// A new signing key, as the hex of its 32-byte secret.
pub fn generate_key() -> (String, String) {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    (
        hex::encode(key.to_bytes()),
        hex::encode(key.verifying_key().to_bytes()),
    )
}

/// Parse the hex of a 32-byte secret signing key.
pub fn signing_key(secret_hex: &str) -> Result<SigningKey, String> {
    let bytes: [u8; 32] = hex::decode(secret_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("a signing key is 64 hex digits")?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Whether `hex_key` is a valid ed25519 public key.
pub fn check_public_key(hex_key: &str) -> Result<(), String> {
    parse_public_key(hex_key).map(|_| ())
}

fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("`{hex_key}` is not 64 hex digits"))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| format!("`{hex_key}` is not an ed25519 public key"))
}

/// Build a signed package.
pub fn build(
    manifest_text: &str,
    component_path: &str,
    component: &[u8],
    key: &SigningKey,
) -> std::io::Result<Vec<u8>> {
    let signature = key.sign(&signed_message(manifest_text.as_bytes(), component));
    let signature = SignatureFile {
        algorithm: "ed25519".into(),
        public_key: hex::encode(key.verifying_key().to_bytes()),
        signature: hex::encode(signature.to_bytes()),
    };
    let signature_json = serde_json::to_vec_pretty(&signature)?;
    let mut archive = tar::Builder::new(Vec::new());
    for (path, bytes) in [
        (MANIFEST, manifest_text.as_bytes()),
        (component_path, component),
        (SIGNATURE, signature_json.as_slice()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, path, bytes)?;
    }
    archive.into_inner()
}

/// The `component = "…"` path a manifest names, read without the full
/// schema (which the registry checks next, naming the field).
fn component_path(manifest_text: &str) -> Option<String> {
    let value: toml::Value = toml::from_str(manifest_text).ok()?;
    value.get("component")?.as_str().map(str::to_string)
}

/// `path` without its empty and `.` segments, as `tar::Builder` writes it.
fn archive_path(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    segments.join("/")
}

/// Read a package: exactly the manifest, the component it names and the
/// signature, each a regular file, nothing else.
pub fn parse(bytes: &[u8]) -> Result<Package, PackageError> {
    if bytes.len() > MAX_PACKAGE_BYTES {
        return Err(PackageError::TooLarge {
            size: bytes.len(),
            limit: MAX_PACKAGE_BYTES,
        });
    }
    let layout = |why: String| PackageError::Layout(why);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut archive = tar::Archive::new(bytes);
    let entries = archive
        .entries()
        .map_err(|e| layout(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| layout(format!("not a tar archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| layout(format!("an entry has no valid path: {e}")))?
            .to_string_lossy()
            .into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(layout(format!("`{path}` is not a regular file")));
        }
        if files.iter().any(|(p, _)| *p == path) {
            return Err(layout(format!("`{path}` appears twice")));
        }
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| layout(format!("`{path}` could not be read: {e}")))?;
        files.push((path, data));
    }
    // Compared as tar stores paths: `build` cannot keep a `./` or `//` of
    // the manifest's component path in the archive.
    let mut take = |name: &str| {
        files
            .iter()
            .position(|(p, _)| archive_path(p) == archive_path(name))
            .map(|i| files.remove(i).1)
    };
    let manifest = take(MANIFEST).ok_or_else(|| layout(format!("`{MANIFEST}` is missing")))?;
    let manifest_text =
        String::from_utf8(manifest).map_err(|_| layout(format!("`{MANIFEST}` is not UTF-8")))?;
    let signature = take(SIGNATURE).ok_or_else(|| layout(format!("`{SIGNATURE}` is missing")))?;
    let signature: SignatureFile = serde_json::from_slice(&signature)
        .map_err(|e| layout(format!("`{SIGNATURE}` is not valid: {e}")))?;
    let component_name = component_path(&manifest_text)
        .ok_or_else(|| layout(format!("`{MANIFEST}` names no `component`")))?;
    let component = take(&component_name).ok_or_else(|| {
        layout(format!(
            "the component `{component_name}` the manifest names is missing"
        ))
    })?;
    if let Some((extra, _)) = files.first() {
        return Err(layout(format!(
            "`{extra}` does not belong in a package (only {MANIFEST}, the component and {SIGNATURE})"
        )));
    }
    Ok(Package {
        manifest_text,
        component,
        signature,
    })
}

impl Package {
    /// Check the signature over the manifest and component; returns the
    /// signer's public key (hex) for the registry to match to a publisher.
    pub fn verify(&self) -> Result<&str, PackageError> {
        let bad = |why: String| PackageError::Signature(why);
        if self.signature.algorithm != "ed25519" {
            return Err(bad(format!(
                "algorithm `{}` is not supported; use ed25519",
                self.signature.algorithm
            )));
        }
        let key = parse_public_key(&self.signature.public_key).map_err(bad)?;
        let bytes: [u8; 64] = hex::decode(&self.signature.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("the signature is not 128 hex digits".into()))?;
        key.verify(
            &signed_message(self.manifest_text.as_bytes(), &self.component),
            &ed25519_dalek::Signature::from_bytes(&bytes),
        )
        .map_err(|_| bad("it does not match the manifest and component".into()))?;
        Ok(&self.signature.public_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST_TEXT: &str = "id = \"x\"\ncomponent = \"x.wasm\"\n";

    #[test]
    fn a_built_package_parses_and_verifies() {
        let (secret, public) = generate_key();
        let key = signing_key(&secret).unwrap();
        let bytes = build(MANIFEST_TEXT, "x.wasm", b"\0asm", &key).unwrap();
        let package = parse(&bytes).unwrap();
        assert_eq!(package.component, b"\0asm");
        assert_eq!(package.verify().unwrap(), public);
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let (secret, _) = generate_key();
        let key = signing_key(&secret).unwrap();
        let mut package = parse(&build(MANIFEST_TEXT, "x.wasm", b"\0asm", &key).unwrap()).unwrap();
        package.component.push(0);
        assert!(matches!(package.verify(), Err(PackageError::Signature(_))));
    }

    #[test]
    fn wrong_layouts_are_named() {
        assert!(matches!(parse(b"not a tar"), Err(PackageError::Layout(_))));
        let (secret, _) = generate_key();
        let key = signing_key(&secret).unwrap();
        let no_component =
            build("id = \"x\"\ncomponent = \"y.wasm\"\n", "x.wasm", b"", &key).unwrap();
        let err = parse(&no_component).unwrap_err().to_string();
        assert!(err.contains("`y.wasm`"), "{err}");
        let huge = vec![0; MAX_PACKAGE_BYTES + 1];
        assert!(matches!(parse(&huge), Err(PackageError::TooLarge { .. })));
    }
}
