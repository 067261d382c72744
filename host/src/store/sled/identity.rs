//! sled's [`IdentityStore`]: operators, secrets, consents, pairwise ids and
//! inboxes as records; sessions and frame tokens with per-citizen indexes,
//! and locations, all swept at their expiry.

use super::{backend, composite, to_json, SledStore};
use crate::store::{
    AppChange, ConsentRecord, EndedSessions, ErasedRecords, FrameRecord, IdentityStore,
    InboxMessage, KvSpace, KvWrite, LocationRecord, OperatorRecord, SessionRecord, StoreError,
    Through,
};
use async_trait::async_trait;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;

/// citizen ‖ NUL ‖ order ‖ hash: a citizen's frame tokens in issue order.
fn frame_index_key(record: &FrameRecord, token_sha256: &str) -> Vec<u8> {
    let mut key = composite(&[&record.citizen_id, ""]);
    key.extend_from_slice(&record.order.to_be_bytes());
    key.extend_from_slice(token_sha256.as_bytes());
    key
}

/// citizen ‖ NUL ‖ token hash: a citizen's sessions.
fn session_index_key(citizen: &str, token_sha256: &str) -> Vec<u8> {
    let mut key = composite(&[citizen, ""]);
    key.extend_from_slice(token_sha256.as_bytes());
    key
}

impl SledStore {
    /// Index every session by its citizen, unless the index already holds
    /// as many entries as there are sessions (a data dir from before the
    /// index, or one an older version wrote sessions to, is indexed anew).
    pub(super) fn rebuild_sessions_by_citizen(&self) -> Result<(), StoreError> {
        if self.sessions_by_citizen.len() == self.sessions.len() {
            return Ok(());
        }
        self.sessions_by_citizen.clear().map_err(backend)?;
        let mut batch = sled::Batch::default();
        for (hash, session) in Self::scan_pairs::<SessionRecord>(self.sessions.iter())? {
            batch.insert(session_index_key(&session.citizen_id, &hash), &[]);
        }
        self.sessions_by_citizen
            .apply_batch(batch)
            .map_err(backend)?;
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    /// The token hashes of `citizen`'s sessions, through the index.
    fn session_hashes_of(&self, citizen: &str) -> Result<Vec<String>, StoreError> {
        let own = composite(&[citizen, ""]);
        self.sessions_by_citizen
            .scan_prefix(&own)
            .keys()
            .map(|key| {
                let key = key.map_err(backend)?;
                Ok(String::from_utf8_lossy(&key[own.len()..]).into_owned())
            })
            .collect()
    }

    /// Remove session `token_sha256` and its index entry if `still` says
    /// its record is to go and the record is unchanged when removed; the
    /// record that went.
    fn remove_session(
        &self,
        token_sha256: &str,
        still: impl Fn(&SessionRecord) -> bool,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let Some(stored) = self.sessions.get(token_sha256).map_err(backend)? else {
            return Ok(None);
        };
        let record: SessionRecord = Self::json(token_sha256.as_bytes(), &stored)?;
        if !still(&record) {
            return Ok(None);
        }
        let index = session_index_key(&record.citizen_id, token_sha256);
        let _ending = self.ending_access();
        let outcome: Result<bool, TransactionError<StoreError>> =
            (&self.sessions, &self.sessions_by_citizen).transaction(|(sessions, by_citizen)| {
                // Replaced or removed since it was read: not this one to remove.
                if sessions.get(token_sha256.as_bytes())?.as_ref() != Some(&stored) {
                    return Ok(false);
                }
                sessions.remove(token_sha256.as_bytes())?;
                by_citizen.remove(index.as_slice())?;
                Ok(true)
            });
        Ok(super::settle(outcome)?.then_some(record))
    }

    /// The write of [`IdentityStore::erase_citizen`] or, `again`,
    /// [`IdentityStore::erase_citizen_again`] (`None` when the erasure has
    /// finished), made holding the write gate and `sessions_or_erasure`:
    /// sled transactions cannot scan, so what goes is read first, and no
    /// session may open in between. Not yet durable nor announced.
    fn erase_identity_records(
        &self,
        citizen: &str,
        meetings: &[(String, String)],
        began_ms: u64,
        again: bool,
    ) -> Result<Option<(ErasedRecords, SignedIn)>, StoreError> {
        let keys = |tree: &sled::Tree, prefix: &[u8]| -> Result<Vec<sled::IVec>, StoreError> {
            tree.scan_prefix(prefix)
                .keys()
                .collect::<Result<_, _>>()
                .map_err(backend)
        };
        // Held from the reads to the removal: no write for the citizen
        // through a session or a link lands in between, unseen.
        let ending = self.ending_access();
        let own = composite(&[citizen, ""]);
        let signed_in = self.signed_in(citizen)?;
        let consents = keys(&self.consents, &own)?;
        let inbox = keys(&self.inbox, &own)?;
        let location = self.locations.contains_key(citizen).map_err(backend)?;
        let mut links = Vec::new();
        for (app, pairwise) in meetings {
            let key = composite(&[app, pairwise]);
            if self.pairwise.get(&key).map_err(backend)?.as_deref() == Some(citizen.as_bytes()) {
                links.push(key);
            }
        }
        let trees = (
            &self.sessions,
            &self.sessions_by_citizen,
            &self.frames,
            &self.frames_by_citizen,
            &self.consents,
            &self.inbox,
            &self.locations,
            &self.pairwise,
            &self.unfinished_erasures,
        );
        let outcome: Result<bool, TransactionError<StoreError>> = trees.transaction(
            |(
                sessions,
                sessions_index,
                frames,
                frames_index,
                consents_t,
                inbox_t,
                locations,
                pairwise,
                unfinished,
            )| {
                let began = began_ms.to_be_bytes();
                if again && unfinished.get(citizen.as_bytes())?.as_deref() != Some(&began[..]) {
                    return Ok(false);
                }
                signed_in.remove(citizen, sessions, sessions_index, frames, frames_index)?;
                for key in &consents {
                    consents_t.remove(key)?;
                }
                for key in &inbox {
                    inbox_t.remove(key)?;
                }
                locations.remove(citizen.as_bytes())?;
                for key in &links {
                    pairwise.remove(key.as_slice())?;
                }
                if !again {
                    unfinished.insert(citizen.as_bytes(), &began)?;
                }
                Ok(true)
            },
        );
        drop(ending);
        if !super::settle(outcome)? {
            return Ok(None);
        }
        let erased = ErasedRecords {
            sessions: signed_in.sessions.len(),
            frames: signed_in.frame_index.len(),
            consents: consents.len(),
            inbox_messages: inbox.len(),
            locations: usize::from(location),
            app_links: links.len(),
        };
        Ok(Some((erased, signed_in)))
    }

    /// Tell every host (once the erasure is durable) of the sessions it
    /// ended and of the citizen erased.
    fn announce_erased(&self, erased: Option<(ErasedRecords, SignedIn)>) -> Option<ErasedRecords> {
        let (erased, signed_in) = erased?;
        self.announce_signed_out(&signed_in);
        self.announce(AppChange::CitizenErased);
        Some(erased)
    }

    /// Remove one frame token and its index entry; whether it existed.
    fn close_frame_now(&self, token_sha256: &str) -> Result<bool, StoreError> {
        let Some(record) = Self::get_json::<FrameRecord>(&self.frames, token_sha256)? else {
            return Ok(false);
        };
        let index = frame_index_key(&record, token_sha256);
        let outcome: Result<(), TransactionError<()>> = (&self.frames, &self.frames_by_citizen)
            .transaction(|(frames, by_citizen)| {
                frames.remove(token_sha256.as_bytes())?;
                by_citizen.remove(index.as_slice())?;
                Ok(())
            });
        outcome.map_err(|e| StoreError::Backend(format!("{e:?}")))?;
        Ok(true)
    }
}

/// A citizen's sessions and frame tokens, read before a transaction that
/// removes them (sled transactions cannot scan).
struct SignedIn {
    /// The sha256 of each session token.
    sessions: Vec<String>,
    /// Keys of `frames_by_citizen`: the citizen's prefix, the order (8
    /// bytes), then the frame's key in `frames`.
    frame_index: Vec<sled::IVec>,
}

impl SignedIn {
    /// Remove every session and frame token of `citizen` read here, with
    /// their index entries, inside a transaction over those four trees.
    fn remove(
        &self,
        citizen: &str,
        sessions: &TransactionalTree,
        sessions_index: &TransactionalTree,
        frames: &TransactionalTree,
        frames_index: &TransactionalTree,
    ) -> Result<(), UnabortableTransactionError> {
        let own = composite(&[citizen, ""]);
        for hash in &self.sessions {
            sessions.remove(hash.as_bytes())?;
            sessions_index.remove(session_index_key(citizen, hash))?;
        }
        for index in &self.frame_index {
            frames_index.remove(index)?;
            frames.remove(&index[own.len() + 8..])?;
        }
        Ok(())
    }
}

impl SledStore {
    fn signed_in(&self, citizen: &str) -> Result<SignedIn, StoreError> {
        let sessions = self.session_hashes_of(citizen)?;
        let frame_index = self
            .frames_by_citizen
            .scan_prefix(composite(&[citizen, ""]))
            .keys()
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        Ok(SignedIn {
            sessions,
            frame_index,
        })
    }

    /// Tell every host that the sessions of `signed_in` ended.
    fn announce_signed_out(&self, signed_in: &SignedIn) {
        for hash in &signed_in.sessions {
            self.announce(AppChange::SessionEnded(hash.clone()));
        }
    }
}

#[async_trait]
impl IdentityStore for SledStore {
    async fn put_operator(
        &self,
        token_sha256: &str,
        record: &OperatorRecord,
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        Self::put_json(&self.operators, token_sha256, record)?;
        self.durable().await
    }

    async fn operator(&self, token_sha256: &str) -> Result<Option<OperatorRecord>, StoreError> {
        Self::get_json(&self.operators, token_sha256)
    }

    async fn has_operators(&self) -> Result<bool, StoreError> {
        Ok(!self.operators.is_empty())
    }

    async fn forget_host_secret(&self, name: &str) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        self.secrets.remove(name).map_err(backend)?;
        self.durable().await
    }

    async fn host_secret(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let _writing = self.writing().await;
        // Whichever value is returned, it is durable first (the first
        // writer's flush may still be running).
        if let Some(secret) = self.secrets.get(name).map_err(backend)? {
            self.durable().await?;
            return Ok(secret.to_vec());
        }
        // Two first callers race: whoever writes first wins, both return it.
        match self
            .secrets
            .compare_and_swap(name, None as Option<&[u8]>, Some(fresh.as_slice()))
            .map_err(backend)?
        {
            Ok(()) => {
                self.durable().await?;
                Ok(fresh)
            }
            Err(existing) => {
                self.durable().await?;
                Ok(existing.current.map(|v| v.to_vec()).unwrap_or(fresh))
            }
        }
    }

    async fn put_session(
        &self,
        token_sha256: &str,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        let stored = to_json(record)?;
        let index = session_index_key(&record.citizen_id, token_sha256);
        let citizen = record.citizen_id.as_bytes();
        let opening = self.sessions_or_erasure.lock().await;
        let outcome: Result<(), TransactionError<StoreError>> = (
            &self.sessions,
            &self.sessions_by_citizen,
            &self.unfinished_erasures,
        )
            .transaction(|(sessions, by_citizen, unfinished)| {
                if unfinished.get(citizen)?.is_some() {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::ErasureUnfinished,
                    ));
                }
                sessions.insert(token_sha256.as_bytes(), stored.as_slice())?;
                by_citizen.insert(index.as_slice(), &[])?;
                Ok(())
            });
        drop(opening);
        super::settle(outcome)?;
        self.durable().await
    }

    async fn session(&self, token_sha256: &str) -> Result<Option<SessionRecord>, StoreError> {
        Self::get_json(&self.sessions, token_sha256)
    }

    async fn sessions_of(&self, citizen: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sessions = Vec::new();
        for hash in self.session_hashes_of(citizen)? {
            // Ended since the index was read: gone.
            if let Some(session) = Self::get_json::<SessionRecord>(&self.sessions, &hash)? {
                sessions.push(session);
            }
        }
        sessions.sort_by_key(|session: &SessionRecord| session.created);
        Ok(sessions)
    }

    async fn delete_session(&self, token_sha256: &str) -> Result<bool, StoreError> {
        let _writing = self.writing().await;
        let existed = self.remove_session(token_sha256, |_| true)?.is_some();
        self.durable().await?;
        if existed {
            self.announce(AppChange::SessionEnded(token_sha256.to_string()));
        }
        Ok(existed)
    }

    async fn put_consents(
        &self,
        citizen: &str,
        records: &[ConsentRecord],
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        let mut batch = sled::Batch::default();
        for record in records {
            batch.insert(
                composite(&[citizen, &record.app, &record.scope]),
                to_json(record)?,
            );
        }
        {
            let _held = self.held(citizen, through)?;
            self.consents.apply_batch(batch).map_err(backend)?;
        }
        self.durable().await
    }

    async fn consent(
        &self,
        citizen: &str,
        app: &str,
        scope: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        let key = composite(&[citizen, app, scope]);
        match self.consents.get(&key).map_err(backend)? {
            Some(value) => Self::json(&key, &value).map(Some),
            None => Ok(None),
        }
    }

    async fn consents(&self, citizen: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        Self::scan_json(self.consents.scan_prefix(composite(&[citizen, ""])))
    }

    async fn delete_consents(
        &self,
        citizen: &str,
        app: &str,
        scope: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let _writing = self.writing().await;
        let prefix = composite(&[citizen, app, scope.unwrap_or("")]);
        let mut batch = sled::Batch::default();
        let mut scopes = Vec::new();
        for entry in self.consents.scan_prefix(&prefix) {
            let (key, value) = entry.map_err(backend)?;
            let record: ConsentRecord = Self::json(&key, &value)?;
            // The prefix of `scope` alone would also match longer scopes.
            if scope.is_none_or(|scope| scope == record.scope) {
                batch.remove(key);
                scopes.push(record.scope);
            }
        }
        self.consents.apply_batch(batch).map_err(backend)?;
        self.durable().await?;
        Ok(scopes)
    }

    async fn remember_pairwise(
        &self,
        app: &str,
        pairwise: &str,
        citizen: &str,
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        let key = composite(&[app, pairwise]);
        let fresh = {
            let _held = self.held(citizen, through)?;
            self.pairwise
                .compare_and_swap(key, None as Option<&[u8]>, Some(citizen.as_bytes()))
                .map_err(backend)?
                .is_ok()
        };
        if fresh {
            self.durable().await?;
        }
        Ok(())
    }

    async fn pairwise_citizen(
        &self,
        app: &str,
        pairwise: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .pairwise
            .get(composite(&[app, pairwise]))
            .map_err(backend)?
            .map(|citizen| String::from_utf8_lossy(&citizen).into_owned()))
    }

    async fn inbox_append(
        &self,
        citizen: &str,
        message: &InboxMessage,
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        // citizen ‖ NUL ‖ time ‖ a unique id: ordered by time, never overwritten.
        let mut key = composite(&[citizen, ""]);
        key.extend_from_slice(&message.at.to_be_bytes());
        key.extend_from_slice(&self.db.generate_id().map_err(backend)?.to_be_bytes());
        let stored = to_json(message)?;
        {
            let _held = self.held(citizen, through)?;
            self.inbox.insert(key, stored).map_err(backend)?;
        }
        self.durable().await
    }

    async fn inbox_since(
        &self,
        citizen: &str,
        since_ms: u64,
    ) -> Result<Vec<InboxMessage>, StoreError> {
        let prefix = composite(&[citizen, ""]);
        let mut start = prefix.clone();
        start.extend_from_slice(&since_ms.to_be_bytes());
        Self::scan_json(
            self.inbox
                .range(start..)
                .take_while(|entry| entry.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix))),
        )
    }

    async fn inbox_latest(
        &self,
        citizen: &str,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, StoreError> {
        Self::scan_json(
            self.inbox
                .scan_prefix(composite(&[citizen, ""]))
                .rev()
                .take(limit),
        )
    }

    async fn open_frame(
        &self,
        token_sha256: &str,
        record: &FrameRecord,
        per_citizen: usize,
    ) -> Result<usize, StoreError> {
        let _writing = self.writing().await;
        let record = FrameRecord {
            order: self.db.generate_id().map_err(backend)?,
            ..record.clone()
        };
        let json = to_json(&record)?;
        let index = frame_index_key(&record, token_sha256);
        let prefix = composite(&[&record.citizen_id, ""]);
        // The citizen's tokens, oldest first. sled transactions cannot scan
        // (and a plain read inside one waits on the transaction itself), so
        // the list is read first: two tokens opened at the same instant may
        // leave the citizen one over the bound until their next open.
        let held: Vec<Vec<u8>> = self
            .frames_by_citizen
            .scan_prefix(&prefix)
            .keys()
            .map(|k| k.map(|k| k.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        // Opened only while its session is: it would outlive an erasure.
        let parent_live = self.held(&record.citizen_id, Some(Through::Session(&record.parent)))?;
        let outcome: Result<usize, TransactionError<StoreError>> =
            (&self.frames, &self.frames_by_citizen).transaction(|(frames, by_citizen)| {
                let excess = (held.len() + 1).saturating_sub(per_citizen.max(1));
                for old in &held[..excess] {
                    by_citizen.remove(old.as_slice())?;
                    frames.remove(&old[prefix.len() + 8..])?;
                }
                frames.insert(token_sha256.as_bytes(), json.as_slice())?;
                by_citizen.insert(index.as_slice(), &[])?;
                Ok(excess)
            });
        drop(parent_live);
        let closed = super::settle(outcome)?;
        self.durable().await?;
        Ok(closed)
    }

    async fn frame(&self, token_sha256: &str) -> Result<Option<FrameRecord>, StoreError> {
        Self::get_json(&self.frames, token_sha256)
    }

    async fn close_frame(&self, token_sha256: &str) -> Result<bool, StoreError> {
        let _writing = self.writing().await;
        let existed = self.close_frame_now(token_sha256)?;
        if existed {
            self.durable().await?;
        }
        Ok(existed)
    }

    async fn close_frames_of_session(
        &self,
        citizen: &str,
        parent: &str,
    ) -> Result<usize, StoreError> {
        let _writing = self.writing().await;
        let prefix = composite(&[citizen, ""]);
        let mut closed = 0;
        for key in self.frames_by_citizen.scan_prefix(&prefix).keys() {
            let key = key.map_err(backend)?;
            let hash = String::from_utf8_lossy(&key[prefix.len() + 8..]).into_owned();
            let child = Self::get_json::<FrameRecord>(&self.frames, &hash)?
                .is_some_and(|frame| frame.parent == parent);
            if child && self.close_frame_now(&hash)? {
                closed += 1;
            }
        }
        if closed > 0 {
            self.durable().await?;
        }
        Ok(closed)
    }

    async fn frame_count(&self) -> Result<u64, StoreError> {
        Ok(self.frames.len() as u64)
    }

    async fn put_location(
        &self,
        citizen: &str,
        record: &LocationRecord,
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        {
            let _held = self.held(citizen, through)?;
            Self::put_json(&self.locations, citizen, record)?;
        }
        self.durable().await
    }

    async fn location(&self, citizen: &str) -> Result<Option<LocationRecord>, StoreError> {
        Self::get_json(&self.locations, citizen)
    }

    async fn delete_location(&self, citizen: &str) -> Result<bool, StoreError> {
        let _writing = self.writing().await;
        let existed = self.locations.remove(citizen).map_err(backend)?.is_some();
        if existed {
            self.durable().await?;
        }
        Ok(existed)
    }

    async fn end_sessions_of(&self, citizen: &str) -> Result<EndedSessions, StoreError> {
        let _writing = self.writing().await;
        let signed_in = self.signed_in(citizen)?;
        let trees = (
            &self.sessions,
            &self.sessions_by_citizen,
            &self.frames,
            &self.frames_by_citizen,
        );
        let ending = self.ending_access();
        let outcome: Result<(), TransactionError<StoreError>> =
            trees.transaction(|(sessions, sessions_index, frames, frames_index)| {
                signed_in.remove(citizen, sessions, sessions_index, frames, frames_index)?;
                Ok(())
            });
        drop(ending);
        super::settle(outcome)?;
        self.durable().await?;
        self.announce_signed_out(&signed_in);
        Ok(EndedSessions {
            sessions: signed_in.sessions.len(),
            frames: signed_in.frame_index.len(),
        })
    }

    async fn erase_citizen(
        &self,
        citizen: &str,
        meetings: &[(String, String)],
        began_ms: u64,
    ) -> Result<ErasedRecords, StoreError> {
        let _writing = self.writing().await;
        let erasing = self.sessions_or_erasure.lock().await;
        let erased = self.erase_identity_records(citizen, meetings, began_ms, false)?;
        drop(erasing);
        self.durable().await?;
        Ok(self.announce_erased(erased).unwrap_or_default())
    }

    async fn erase_citizen_again(
        &self,
        citizen: &str,
        meetings: &[(String, String)],
        began_ms: u64,
    ) -> Result<Option<ErasedRecords>, StoreError> {
        let _writing = self.writing().await;
        let erasing = self.sessions_or_erasure.lock().await;
        let erased = self.erase_identity_records(citizen, meetings, began_ms, true)?;
        drop(erasing);
        self.durable().await?;
        Ok(self.announce_erased(erased))
    }

    async fn erase_app_key(
        &self,
        citizen: &str,
        began_ms: u64,
        space: KvSpace<'_>,
        key: &str,
    ) -> Result<Option<bool>, StoreError> {
        let _writing = self.writing().await;
        let used = self.counted(space.app()).await?;
        // Held from the check to the delete: the erasure cannot finish (nor
        // a session open after it) in between.
        let erasing = self.sessions_or_erasure.lock().await;
        let began = self.unfinished_erasures.get(citizen).map_err(backend)?;
        if began.as_deref() != Some(&began_ms.to_be_bytes()[..]) {
            return Ok(None);
        }
        let removed = self.kv_write(&used, space, key, KvWrite::Delete, u64::MAX)?;
        drop(erasing);
        Ok(Some(removed == Ok(true)))
    }

    async fn unfinished_erasures(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut unfinished = Vec::new();
        for entry in self.unfinished_erasures.iter() {
            let (citizen, began) = entry.map_err(backend)?;
            let began = <[u8; 8]>::try_from(began.as_ref()).map_err(|_| StoreError::Corrupt {
                key: format!("unfinished-erasures/{}", String::from_utf8_lossy(&citizen)),
                reason: "not a time".into(),
            })?;
            unfinished.push((
                String::from_utf8_lossy(&citizen).into_owned(),
                u64::from_be_bytes(began),
            ));
        }
        unfinished.sort_by_key(|(_, began)| *began);
        Ok(unfinished)
    }

    async fn erasure_finished(&self, citizen: &str, began_ms: u64) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        // Not while an app's key is being erased for it (`erase_app_key`).
        let erasing = self.sessions_or_erasure.lock().await;
        let forgotten = self
            .unfinished_erasures
            .compare_and_swap(
                citizen,
                Some(&began_ms.to_be_bytes()[..]),
                None as Option<&[u8]>,
            )
            .map_err(backend)?;
        drop(erasing);
        if forgotten.is_ok() {
            self.durable().await?;
        }
        Ok(())
    }

    async fn sweep_expired(&self, now_secs: u64, now_ms: u64) -> Result<usize, StoreError> {
        let _writing = self.writing().await;
        let mut swept = 0;
        let expired_frames: Vec<String> = Self::scan_pairs::<FrameRecord>(self.frames.iter())?
            .into_iter()
            .filter(|(_, frame)| frame.expires <= now_secs)
            .map(|(hash, _)| hash)
            .collect();
        for hash in expired_frames {
            swept += usize::from(self.close_frame_now(&hash)?);
        }
        let expired_sessions: Vec<String> =
            Self::scan_pairs::<SessionRecord>(self.sessions.iter())?
                .into_iter()
                .filter(|(_, session)| session.expires <= now_secs)
                .map(|(hash, _)| hash)
                .collect();
        for hash in expired_sessions {
            let expired = |session: &SessionRecord| session.expires <= now_secs;
            swept += usize::from(self.remove_session(&hash, expired)?.is_some());
        }
        swept += Self::remove_expired(&self.locations, |l: &LocationRecord| l.expires <= now_ms)?;
        if swept > 0 {
            self.durable().await?;
        }
        Ok(swept)
    }
}

impl SledStore {
    /// Remove each record of `tree` that `expired` says has expired, only
    /// if it is still the one read (a fresh write may have replaced it);
    /// how many went.
    fn remove_expired<T: serde::de::DeserializeOwned>(
        tree: &sled::Tree,
        expired: impl Fn(&T) -> bool,
    ) -> Result<usize, StoreError> {
        let mut removed = 0;
        for entry in tree.iter() {
            let (key, raw) = entry.map_err(backend)?;
            let record: T = Self::json(&key, &raw)?;
            if expired(&record) {
                let gone = tree
                    .compare_and_swap(&key, Some(raw), None as Option<&[u8]>)
                    .map_err(backend)?
                    .is_ok();
                removed += usize::from(gone);
            }
        }
        Ok(removed)
    }
}
