//! Finishing erasures: an erasure of a citizen's data whose second part
//! (their storage in apps) did not finish — the store failed, or the host
//! stopped — is finished here, by whichever host gets to it first.

use crate::identity::personal_data::PersonalDataRights;
use std::time::Duration;

/// Time between looks for unfinished erasures (the first is at start).
pub const EVERY: Duration = Duration::from_secs(60);

/// Finish unfinished erasures until `stop` fires.
pub async fn run(rights: PersonalDataRights, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match rights.finish_unfinished().await {
            Ok(0) => {}
            Ok(finished) => tracing::info!(finished, "unfinished erasures finished"),
            Err(e) => {
                tracing::warn!(error = %e, "unfinished erasures wait for the store; tried again")
            }
        }
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
