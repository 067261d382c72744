//! `citadel backup` (a running host's backup, downloaded through the
//! operator API and checked whole before it is kept) and `citadel restore`
//! (into a new data dir, checked before and after).

use anyhow::Context;
use citadel_host::store::backup::{self, BackupManifest};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Download a backup from `server` into `out`, which must not exist: the
/// body arrives in `out.partial`, is checked against its manifest and the
/// host's checksum header, made durable, then renamed to `out`.
pub async fn download(server: &str, token: &str, out: &Path) -> anyhow::Result<BackupManifest> {
    anyhow::ensure!(
        !out.exists(),
        "{} exists: choose a new file for each backup",
        out.display()
    );
    let partial = partial_path(out);
    let url = format!("{}/api/v1/operator/backup", server.trim_end_matches('/'));
    let mut response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if !response.status().is_success() {
        super::answer(response, super::Credential::OperatorToken).await?;
        anyhow::bail!("the host answered without a backup");
    }
    let announced = response
        .headers()
        .get(citadel_host::gateway::BACKUP_SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let written = async {
        let mut file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        while let Some(chunk) = response.chunk().await? {
            file.write_all(&chunk)?;
        }
        file.sync_all()?;
        let manifest = backup::verify(&mut std::io::BufReader::new(std::fs::File::open(&partial)?))
            .context("the downloaded backup does not check out")?;
        if let Some(announced) = announced {
            anyhow::ensure!(
                announced == manifest.body_sha256,
                "the host announced body sha256 {announced}, the file's manifest says {}",
                manifest.body_sha256
            );
        }
        std::fs::rename(&partial, out)?;
        Ok(manifest)
    }
    .await;
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Restore `file` into `data_dir` (new or empty).
pub fn restore(file: &Path, data_dir: &Path) -> anyhow::Result<BackupManifest> {
    Ok(backup::restore(file, data_dir)?)
}

/// What a backup holds, for people.
pub fn describe(manifest: &BackupManifest) -> String {
    let mut text = format!(
        "taken at {} (unix ms) by citadel {}\n",
        manifest.created_at, manifest.host_version
    );
    for (kind, count) in &manifest.records {
        text.push_str(&format!("  {count:>10}  {}\n", kind.replace('_', " ")));
    }
    text.push_str(&format!(
        "ledger sum {} (zero when sound); {} trees; body {} bytes, sha256 {}",
        manifest.ledger_sum,
        manifest.trees.len(),
        manifest.body_bytes,
        manifest.body_sha256
    ));
    text
}
