//! The operator's backup download (`GET /api/v1/operator/backup`): a
//! consistent copy of the embedded store, taken while the host serves and
//! sent as one file (`store::backup` owns its format and checks).

use super::auth::Operator;
use super::error::ApiError;
use super::routes::{Access, Routes};
use crate::Citadel;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The header carrying the SHA-256 of the file's body (also in its manifest).
pub const BODY_SHA256_HEADER: &str = "x-citadel-backup-sha256";

pub(super) fn routes(routes: Routes) -> Routes {
    routes.get("/api/v1/operator/backup", Access::Operator, download)
}

/// Take a snapshot (writes wait while the trees are read; reads and
/// requests that write nothing go on) and stream it: the format line, the
/// manifest line, then the body.
#[utoipa::path(
    get,
    path = "/api/v1/operator/backup",
    tag = "operator",
    summary = "A backup of the embedded store",
    description = "A consistent copy of the embedded (sled) store, taken while the host \
        serves — writes wait while it is read — and sent as one file: the format line, the \
        manifest line, then the body. `citadel restore` reads it.",
    responses(
        (status = 200, description = "The backup file.", content(("application/octet-stream")),
            headers(
                ("content-disposition" = String, description = "`attachment; \
                    filename=\"citadel-{created_at}.backup\"`"),
                ("x-citadel-backup-sha256" = String, description = "The SHA-256 of the \
                    file's body, as in its manifest."),
            )),
        (status = 409, description = "`backup_not_embedded`: this host keeps its state in \
            PostgreSQL; back it up with the database's own tools.",
            body = super::error::ErrorBody),
        (status = 500, description = "`backup_failed`: the backup could not be taken or \
            sent; the host's log says why.", body = super::error::ErrorBody),
        (status = 503, description = "`storage_unavailable`.", body = super::error::ErrorBody),
    )
)]
async fn download(
    operator: Operator,
    State(citadel): State<Arc<Citadel>>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let taken = citadel.take_backup().await?;
    let manifest = &taken.manifest;
    let length = taken.header.len() as u64 + manifest.body_bytes;
    tracing::info!(
        operator = %operator.actor(),
        bytes = length,
        trees = manifest.trees.len(),
        writes_paused_ms = started.elapsed().as_millis() as u64,
        "backup taken"
    );
    citadel
        .audit
        .record(crate::audit::Event {
            kind: "backup",
            actor: operator.actor(),
            message: Some(
                crate::audit::messages::BACKUP_TAKEN
                    .with("bytes", length)
                    .with("entries", manifest.trees.values().sum::<u64>())
                    .with("trees", manifest.trees.len())
                    .with("sha256", &manifest.body_sha256),
            ),
            ..Default::default()
        })
        .await;
    let disposition = format!(
        "attachment; filename=\"citadel-{}.backup\"",
        manifest.created_at
    );
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        ),
        (header::CONTENT_LENGTH, HeaderValue::from(length)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::try_from(disposition).map_err(|_| backup_failed())?,
        ),
        (
            header::HeaderName::from_static(BODY_SHA256_HEADER),
            HeaderValue::try_from(manifest.body_sha256.as_str()).map_err(|_| backup_failed())?,
        ),
    ];
    let first = futures::stream::once(std::future::ready(Ok::<_, std::io::Error>(Bytes::from(
        taken.header,
    ))));
    let body = futures::StreamExt::chain(first, file_chunks(taken.body));
    Ok((StatusCode::OK, headers, Body::from_stream(body)).into_response())
}

fn backup_failed() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "backup_failed",
        "the backup could not be sent",
    )
}

/// The rest of `file` in chunks of up to 256 KiB; a read error ends the
/// stream with that error (the client sees a cut-off body, which its
/// checksum refuses).
fn file_chunks(
    file: std::fs::File,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(Some(tokio::fs::File::from_std(file)), |file| async move {
        let mut file = file?;
        let mut chunk = vec![0; 256 << 10];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok(Bytes::from(chunk)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
