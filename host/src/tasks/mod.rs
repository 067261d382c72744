//! Background work of a serving host: payment-hook delivery, the expiry
//! sweep, and finishing interrupted erasures. Each task runs until the host
//! stops and keeps its state in the store, so a restart (or another host)
//! picks up where it left off.

pub mod erasures;
pub mod expiry;
pub mod payment_hooks;

use crate::Citadel;
use std::sync::Arc;

/// The running background tasks; [`Tasks::stop`] ends them.
pub struct Tasks {
    stop: tokio::sync::watch::Sender<bool>,
    running: tokio::task::JoinSet<()>,
}

impl Tasks {
    /// Start every background task of `citadel`.
    pub fn start(citadel: &Arc<Citadel>) -> Tasks {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut running = tokio::task::JoinSet::new();
        let delivery = payment_hooks::HookDelivery::of(citadel);
        running.spawn(payment_hooks::run(delivery, stopped.clone()));
        running.spawn(erasures::run(
            citadel.personal_data.clone(),
            stopped.clone(),
        ));
        running.spawn(expiry::run(citadel.store.clone(), stopped));
        Tasks { stop, running }
    }

    /// Stop every task and wait for them to end.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.running.join_next().await.is_some() {}
    }
}
