//! Citizens' inboxes: the messages apps sent them (written by the `notify`
//! capability), read back by the shell newest first.

use crate::store::{Store, StoreError};

pub use crate::store::InboxMessage;

/// Citizens' inboxes over the store.
#[derive(Clone)]
pub struct Inbox {
    store: Store,
}

impl Inbox {
    pub fn new(store: Store) -> Self {
        Inbox { store }
    }

    /// The citizen's latest `limit` messages, newest first.
    pub async fn latest(
        &self,
        citizen: &str,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, StoreError> {
        self.store.identity.inbox_latest(citizen, limit).await
    }
}
