//! The store's conformance suite: what every backend of [`Store`] must do,
//! written against the traits only — kv, apps, identity, ledger, audit and
//! rate limits, sequential contracts and concurrent races alike.
//!
//! Each `pub async fn` here takes a fresh, empty [`Store`] and panics on a
//! violation. A backend runs the whole suite with one line in its tests:
//!
//! ```ignore
//! crate::store_conformance!(async {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = Store::sled(dir.path()).unwrap();
//!     (dir, store)
//! });
//! ```
//!
//! The macro's argument is an expression evaluated afresh in every test; its
//! value is a future of `(guard, Store)` (a synchronous backend wraps its
//! setup in `async { … }`). The guard — a temp dir, a container, `()` — is
//! kept alive until the test ends. A backend that may be absent (a database
//! server) writes `store_conformance!(optional …)` with a future of
//! `Option<(guard, Store)>`: `None` skips each test. The expansion is one
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per suite
//! function, so the calling crate needs `tokio` with its macros.

use super::{
    AppChange, AppRecord, AppSnapshot, AuditFilter, AuditFrom, AuditMessage, AuditRecord,
    BalanceReader, ConsentRecord, CounterRefusal, EndedSessions, ErasedRecords, FrameRecord,
    GrantRecord, HistoryCursor, InboxMessage, IntentRecord, IntentStatus, KvSpace, KvWrite,
    LedgerRefusal, LedgerStep, LocationRecord, OperatorRecord, OutboxEntry, OutboxRefund,
    ProviderRefund, PublisherRecord, QuotaExceeded, Refused, ReturnedPayment, SessionRecord,
    SigningKeyRecord, Store, StoreError, Through, VersionRecord, VersionState,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Expands to one multi-threaded tokio test per conformance function, each
/// on a fresh store from `$make` (a future of `(guard, Store)`; see the
/// module's documentation).
#[macro_export]
macro_rules! store_conformance {
    (@each $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some((guard, store)) = $make.await else {
                    return;
                };
                $crate::store::conformance::$name(store).await;
                drop(guard);
            }
        )+
    };
    // A backend that may be absent here (a database server): `$make` is a
    // future of `Option<(guard, Store)>`; `None` skips the test (the setup
    // says why).
    (optional $make:expr) => {
        $crate::store_conformance!(@each $make;
            kv_is_scoped_per_app_and_lists_in_pages,
            kv_compare_and_swap_writes_only_over_what_was_read,
            kv_citizen_spaces_are_disjoint_and_share_the_app_quota,
            kv_compare_and_swap_counts_exactly_under_a_race,
            kv_increment_counts_exactly_under_a_race,
            kv_usage_stays_exact_under_concurrent_writers,
            kv_the_quota_holds_under_racing_growing_writes,
            apps_are_stored_and_blobs_content_addressed,
            a_blob_shared_across_apps_goes_only_with_its_last_version,
            a_version_needs_its_blob_and_keeps_its_component,
            a_failed_commit_writes_nothing,
            a_step_over_a_stale_read_writes_nothing,
            version_grants_and_publishers_round_trip,
            a_publisher_is_changed_over_every_other_change,
            publisher_keys_name_their_publisher,
            registry_changes_are_announced,
            consents_and_inbox_are_per_citizen,
            sessions_and_operators_round_trip,
            a_host_secret_keeps_its_first_value_under_a_race,
            a_pairwise_id_is_remembered_once,
            frame_tokens_are_bounded_per_citizen,
            frame_tokens_bound_settles_after_concurrent_opens,
            frame_tokens_close_with_their_session,
            erasing_a_citizen_takes_their_records_only,
            no_session_opens_while_an_erasure_is_unfinished,
            an_erasure_deletes_app_keys_only_while_unfinished,
            a_write_for_a_session_lands_only_while_it_is_live,
            identity_writes_land_only_while_their_session_or_link_is_live,
            signing_out_everywhere_ends_their_sessions_only,
            sweeping_removes_only_what_expired,
            locations_are_kept_replaced_and_forgotten,
            intents_are_idempotent_per_citizen_reference,
            pending_intents_are_bounded_per_citizen,
            confirm_and_cancel_race_with_exactly_one_winner,
            a_once_key_is_used_once_even_under_a_race,
            postings_refuse_overdraft_and_imbalance,
            a_ledger_snapshot_is_one_moment_while_payments_go_on,
            an_account_is_opened_once_under_a_race,
            a_wallet_seeded_by_racing_steps_is_seeded_once,
            citizen_intents_page_newest_first,
            outbox_entries_fall_due_in_order,
            a_provider_refund_is_queued_with_the_apps_event,
            an_outbox_entry_is_claimed_by_one_taker,
            audit_pages_both_ways_cover_every_record_once,
            audit_records_naming_a_citizen_come_newest_first,
            rate_limits_allow_the_limit_per_window,
            idle_and_forgotten_rate_limit_windows_go,
            rate_limits_hold_under_concurrent_takers,
        );
    };
    ($make:expr) => {
        $crate::store_conformance!(optional async { Some($make.await) });
    };
}

// ---------------------------------------------------------------- helpers

/// A quota no test reaches.
const ROOMY: u64 = 1 << 20;
/// How long a test waits for something announced.
const PATIENCE: Duration = Duration::from_secs(10);

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A test app record owned by `{id}-publisher`.
pub fn app(id: &str) -> AppRecord {
    AppRecord {
        id: id.into(),
        publisher: format!("{id}-publisher"),
        ..AppRecord::default()
    }
}

/// A test version record in review, naming `component`'s sha256.
pub fn version(app: &str, version: &str, component: &[u8]) -> VersionRecord {
    VersionRecord {
        app: app.into(),
        version: version.into(),
        publisher: format!("{app}-publisher"),
        manifest: format!("id = \"{app}\"\nversion = \"{version}\""),
        component_sha256: sha256_hex(component),
        state: VersionState::InReview,
        reason: None,
        uploaded_at: 1,
        changed_at: 1,
        changed_by: "publisher:test".into(),
        grants: None,
    }
}

/// A pending 10,000 ₫ test intent of app `shop` that never expires.
pub fn intent(id: &str, citizen: &str, reference: &str) -> IntentRecord {
    IntentRecord {
        id: id.into(),
        app: "shop".into(),
        publisher: "shop-publisher".into(),
        citizen: citizen.into(),
        pairwise_id: format!("pw-{citizen}"),
        reference: reference.into(),
        amount: 10_000,
        description: "an order".into(),
        status: IntentStatus::Pending,
        created_at: 1,
        expires_at: u64::MAX,
        captured_at: None,
        method: None,
        fee: 0,
        refunded: 0,
        fee_refunded: 0,
        refunds: Vec::new(),
        provider_ref: None,
        returned: Vec::new(),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Capture a pending intent paid from `source`, as the payments module
/// does: source → merchant, less the city's 1 % fee; the app is told.
fn capture(
    source: String,
) -> impl Fn(&mut IntentRecord, &BalanceReader) -> Result<LedgerStep, LedgerRefusal> + Send + Sync {
    move |intent, _balance| {
        if intent.status != IntentStatus::Pending {
            return Err(LedgerRefusal::Rule("not_pending".into()));
        }
        let amount = intent.amount as i64;
        let fee = amount / 100;
        intent.status = IntentStatus::Captured;
        intent.captured_at = Some(1);
        intent.method = Some("demo-wallet".into());
        intent.fee = fee as u64;
        Ok(LedgerStep {
            postings: vec![
                (source.clone(), -amount),
                (format!("merchant:{}", intent.publisher), amount - fee),
                ("city:fees".into(), fee),
            ],
            notify_app: true,
            provider_refund: None,
        })
    }
}

/// Cancel a pending intent; the app is told.
fn cancel(intent: &mut IntentRecord, _: &BalanceReader) -> Result<LedgerStep, LedgerRefusal> {
    if intent.status != IntentStatus::Pending {
        return Err(LedgerRefusal::Rule("not_pending".into()));
    }
    intent.status = IntentStatus::Cancelled;
    Ok(LedgerStep {
        postings: Vec::new(),
        notify_app: true,
        provider_refund: None,
    })
}

/// `count` pending intents of `citizen` for `amount` each: `pi_0`, `pi_1`, …
async fn pending_intents(store: &Store, citizen: &str, count: usize, amount: u64) {
    for n in 0..count {
        let mut pending = intent(&format!("pi_{n}"), citizen, &format!("order-{n}"));
        pending.amount = amount;
        store
            .ledger
            .create_intent(&pending, count)
            .await
            .expect("the store answers")
            .expect("a new intent");
    }
}

/// Put `amount` into `wallet` from the city's issuance account.
async fn fund(store: &Store, wallet: &str, amount: i64) {
    store
        .ledger
        .post(&[
            ("city:issuance".to_string(), -amount),
            (wallet.to_string(), amount),
        ])
        .await
        .expect("the store answers")
        .expect("a balanced top-up posts");
}

/// The ledger's global invariants: balances sum to zero, no wallet is
/// negative, every transaction's postings sum to zero, and the balances are
/// the sums of the postings.
async fn assert_ledger_balanced(store: &Store) {
    let balances = store.ledger.balances().await.unwrap();
    assert_eq!(
        balances.iter().map(|(_, b)| i128::from(*b)).sum::<i128>(),
        0,
        "balances sum to zero: {balances:?}"
    );
    for (account, balance) in &balances {
        assert!(
            !account.starts_with("wallet:") || *balance >= 0,
            "{account} went negative: {balance}"
        );
    }
    let postings = store.ledger.postings().await.unwrap();
    let mut per_tx: BTreeMap<&str, i128> = BTreeMap::new();
    let mut per_account: BTreeMap<&str, i64> = BTreeMap::new();
    for posting in &postings {
        *per_tx.entry(&posting.tx).or_default() += i128::from(posting.amount);
        *per_account.entry(&posting.account).or_default() += posting.amount;
    }
    assert!(
        per_tx.values().all(|sum| *sum == 0),
        "every transaction balances: {per_tx:?}"
    );
    for (account, balance) in &balances {
        assert_eq!(
            per_account.get(account.as_str()).copied().unwrap_or(0),
            *balance,
            "{account}'s balance is the sum of its postings"
        );
    }
}

/// An audit record of `kind`, about `app` and `capability` if given.
pub fn audit_record(kind: &str, app: Option<&str>, capability: Option<&str>) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: 1,
        kind: kind.into(),
        actor: "host".into(),
        app: app.map(str::to_string),
        version: None,
        capability: capability.map(str::to_string),
        pairwise_id: None,
        request_id: None,
        detail: String::new(),
        message: None,
    }
}

/// Every record matching `filter`, read a page of `limit` at a time from
/// `from` on; each page but the last must say more follow.
async fn audit_pages(
    store: &Store,
    filter: &AuditFilter,
    mut from: AuditFrom,
    limit: usize,
) -> Vec<u64> {
    let mut seqs = Vec::new();
    loop {
        let (page, more) = store.audit.page(filter, from, limit).await.unwrap();
        assert!(page.len() <= limit, "a page holds at most its limit");
        assert!(
            page.iter().all(|r| filter.matches(r)),
            "a page holds only matching records"
        );
        seqs.extend(page.iter().map(|r| r.seq));
        if !more {
            return seqs;
        }
        assert_eq!(page.len(), limit, "only a full page says more follow");
        let last = page.last().expect("a full page").seq;
        from = match from {
            AuditFrom::After(_) => AuditFrom::After(last),
            AuditFrom::Before(_) => AuditFrom::Before(last),
        };
    }
}

// --------------------------------------------------------------------- kv

const A: KvSpace<'static> = KvSpace::App("a");
const B: KvSpace<'static> = KvSpace::App("b");

/// Each app sees only its own keys; `list` pages in key order with `after`.
pub async fn kv_is_scoped_per_app_and_lists_in_pages(store: Store) {
    let kv = &store.kv;
    for i in [3, 0, 4, 1, 2] {
        kv.set(A, &format!("k/{i}"), b"v", ROOMY)
            .await
            .unwrap()
            .unwrap();
    }
    kv.set(A, "other", b"v", ROOMY).await.unwrap().unwrap();
    kv.set(A, "k", b"no slash", ROOMY).await.unwrap().unwrap();
    kv.set(B, "k/0", b"b's", ROOMY).await.unwrap().unwrap();
    assert_eq!(kv.get(A, "k/0").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(
        kv.get(B, "k/0").await.unwrap().as_deref(),
        Some(&b"b's"[..])
    );
    assert_eq!(kv.get(B, "k/1").await.unwrap(), None);
    assert_eq!(kv.get(KvSpace::App("c"), "k/0").await.unwrap(), None);

    let page = kv.list(A, "k/", None, 2).await.unwrap();
    assert_eq!(page.keys, ["k/0", "k/1"]);
    assert_eq!(page.next.as_deref(), Some("k/1"));
    let page = kv.list(A, "k/", page.next.as_deref(), 2).await.unwrap();
    assert_eq!(page.keys, ["k/2", "k/3"]);
    let page = kv.list(A, "k/", page.next.as_deref(), 2).await.unwrap();
    assert_eq!(page.keys, ["k/4"]);
    assert_eq!(page.next, None, "the last page names no next");
    // `after` need not be a stored key, and one before the prefix starts it.
    let page = kv.list(A, "k/", Some("k/10"), 10).await.unwrap();
    assert_eq!(page.keys, ["k/2", "k/3", "k/4"]);
    let page = kv.list(A, "k/", Some("a"), 10).await.unwrap();
    assert_eq!(page.keys, ["k/0", "k/1", "k/2", "k/3", "k/4"]);
    let page = kv.list(A, "", None, 100).await.unwrap();
    assert_eq!(
        page.keys,
        ["k", "k/0", "k/1", "k/2", "k/3", "k/4", "other"],
        "every key in order"
    );
    assert_eq!(page.next, None);
    assert_eq!(kv.list(B, "", None, 100).await.unwrap().keys, ["k/0"]);
    assert!(kv.list(A, "zzz", None, 10).await.unwrap().keys.is_empty());

    assert!(kv.delete(A, "k/4").await.unwrap());
    assert!(!kv.delete(A, "k/4").await.unwrap());
    assert_eq!(kv.get(A, "k/4").await.unwrap(), None);
    assert_eq!(
        kv.get(B, "k/0").await.unwrap().as_deref(),
        Some(&b"b's"[..]),
        "a delete in one app leaves the other's key"
    );
    assert!(!kv.delete(B, "k/4").await.unwrap());
}

/// `swap` writes only over what the caller read (`None`: only if absent),
/// counts toward the quota like `set`, and changes nothing when it fails.
pub async fn kv_compare_and_swap_writes_only_over_what_was_read(store: Store) {
    let kv = &store.kv;
    let lan = KvSpace::Citizen {
        app: "a",
        pairwise_id: "0a0a",
    };
    kv.set(lan, "draft", b"", 100).await.unwrap().unwrap();
    let before = kv.usage("a").await.unwrap();
    assert!(!kv
        .swap(lan, "draft", Some(b"stale"), b"x", 100)
        .await
        .unwrap()
        .unwrap());
    assert_eq!(
        kv.get(lan, "draft").await.unwrap().as_deref(),
        Some(&b""[..])
    );
    assert_eq!(
        kv.usage("a").await.unwrap(),
        before,
        "a failed swap costs nothing"
    );
    assert!(kv
        .swap(lan, "draft", Some(b""), b"x", 100)
        .await
        .unwrap()
        .unwrap());
    assert_eq!(kv.usage("a").await.unwrap(), before + 1);
    assert!(!kv
        .swap(lan, "draft", None, b"y", 100)
        .await
        .unwrap()
        .unwrap());
    assert!(kv
        .swap(lan, "fresh", None, b"y", 100)
        .await
        .unwrap()
        .unwrap());
    assert_eq!(
        kv.get(lan, "draft").await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
    assert_eq!(
        kv.get(lan, "fresh").await.unwrap().as_deref(),
        Some(&b"y"[..])
    );
    // Another citizen's key of the same name is not what is compared.
    let minh = KvSpace::Citizen {
        app: "a",
        pairwise_id: "0b0b",
    };
    assert!(kv
        .swap(minh, "draft", None, b"minh's", 100)
        .await
        .unwrap()
        .unwrap());
    assert_eq!(
        kv.get(lan, "draft").await.unwrap().as_deref(),
        Some(&b"x"[..])
    );

    // In the app's own space the usage is exactly keys plus values.
    assert!(kv.swap(B, "n", None, b"1", 100).await.unwrap().unwrap());
    assert_eq!(kv.usage("b").await.unwrap(), 2);
    assert!(kv
        .swap(B, "n", Some(b"1"), b"22", 100)
        .await
        .unwrap()
        .unwrap());
    assert_eq!(kv.usage("b").await.unwrap(), 3);

    // A swap past the quota is refused like a set, and writes nothing.
    let used = kv.usage("a").await.unwrap();
    let refused = kv
        .swap(lan, "big", None, &[0; 90], 100)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused, QuotaExceeded { used, quota: 100 });
    assert_eq!(kv.get(lan, "big").await.unwrap(), None);
    assert_eq!(kv.usage("a").await.unwrap(), used);
}

/// A citizen's keys are theirs alone; every space of an app counts toward
/// the one quota; a refused write leaves nothing; shrinking is always
/// allowed; deleting gives the bytes back.
pub async fn kv_citizen_spaces_are_disjoint_and_share_the_app_quota(store: Store) {
    let kv = &store.kv;
    let lan = KvSpace::Citizen {
        app: "a",
        pairwise_id: "0a0a",
    };
    let minh = KvSpace::Citizen {
        app: "a",
        pairwise_id: "0b0b",
    };
    let lan_elsewhere = KvSpace::Citizen {
        app: "b",
        pairwise_id: "0a0a",
    };
    kv.set(lan, "draft", b"lan's", 100).await.unwrap().unwrap();
    assert_eq!(kv.get(minh, "draft").await.unwrap(), None);
    assert_eq!(kv.get(A, "draft").await.unwrap(), None);
    assert_eq!(kv.get(lan_elsewhere, "draft").await.unwrap(), None);
    assert!(kv.list(minh, "", None, 10).await.unwrap().keys.is_empty());
    assert!(kv.list(A, "", None, 10).await.unwrap().keys.is_empty());
    assert_eq!(kv.list(lan, "", None, 10).await.unwrap().keys, ["draft"]);
    assert!(!kv.delete(minh, "draft").await.unwrap());
    assert_eq!(kv.usage("b").await.unwrap(), 0);

    let with_lan = kv.usage("a").await.unwrap();
    assert!(
        with_lan >= 10,
        "a citizen's key and value count toward the app: {with_lan}"
    );
    kv.set(A, "app", b"wide", 100).await.unwrap().unwrap();
    let used = kv.usage("a").await.unwrap();
    assert_eq!(used, with_lan + 7, "the app's own keys count too");

    // Near the quota: the app's space is refused for the citizen's bytes.
    let refused = kv.set(A, "big", &[0; 90], 100).await.unwrap().unwrap_err();
    assert_eq!(refused, QuotaExceeded { used, quota: 100 });
    assert_eq!(
        kv.get(A, "big").await.unwrap(),
        None,
        "nothing half-written"
    );
    assert_eq!(kv.usage("a").await.unwrap(), used, "nor counted");
    // So is another citizen's space, and an overwrite that grows.
    let refused = kv
        .set(minh, "big", &[0; 90], 100)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused, QuotaExceeded { used, quota: 100 });
    assert_eq!(kv.get(minh, "big").await.unwrap(), None);
    let refused = kv.set(A, "app", &[0; 95], 100).await.unwrap().unwrap_err();
    assert_eq!(refused, QuotaExceeded { used, quota: 100 });
    assert_eq!(
        kv.get(A, "app").await.unwrap().as_deref(),
        Some(&b"wide"[..])
    );
    // Another app's quota is its own.
    kv.set(B, "big", &[0; 90], 100).await.unwrap().unwrap();
    assert_eq!(kv.usage("a").await.unwrap(), used);

    // Shrinking is always allowed, even over a quota already passed.
    kv.set(lan, "draft", b"", 1).await.unwrap().unwrap();
    assert_eq!(kv.usage("a").await.unwrap(), used - 5);
    kv.set(A, "app", b"w", 1).await.unwrap().unwrap();
    assert_eq!(kv.usage("a").await.unwrap(), used - 8);
    // Deleting gives every byte back.
    assert!(kv.delete(lan, "draft").await.unwrap());
    assert!(kv.delete(A, "app").await.unwrap());
    assert_eq!(kv.usage("a").await.unwrap(), 0);
    assert_eq!(kv.usage("b").await.unwrap(), 93);
}

/// 16 tasks each add 1 to one counter 25 times by read + compare-and-swap,
/// retrying on a lost race: the counter ends at exactly 400.
/// The store's own increment: one step, so concurrent counters never lose
/// or repeat a value; a key holding anything else is refused untouched.
pub async fn kv_increment_counts_exactly_under_a_race(store: Store) {
    const TASKS: u64 = 16;
    const EACH: u64 = 25;
    let space = KvSpace::App("counter");
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let kv = store.kv.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..EACH {
                seen.push(
                    kv.increment_deferred(space, "n", 1, ROOMY, None)
                        .await
                        .unwrap()
                        .unwrap(),
                );
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a counting task"));
    }
    store.kv.sync().await.unwrap();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=TASKS * EACH).collect::<Vec<_>>(),
        "each value once"
    );
    assert_eq!(
        store.kv.get(space, "n").await.unwrap().unwrap(),
        (TASKS * EACH).to_string().as_bytes()
    );
    assert_eq!(store.kv.usage("counter").await.unwrap(), 1 + 3);
    assert_eq!(
        store
            .kv
            .increment_deferred(space, "n", 10, ROOMY, None)
            .await
            .unwrap(),
        Ok(TASKS * EACH + 10)
    );
    /// `value` stored under `key`, then incremented by one.
    async fn stored_then_incremented(
        store: &Store,
        space: KvSpace<'_>,
        key: &str,
        value: &[u8],
    ) -> Result<u64, CounterRefusal> {
        store
            .kv
            .set(space, key, value, ROOMY)
            .await
            .unwrap()
            .unwrap();
        store
            .kv
            .increment_deferred(space, key, 1, ROOMY, None)
            .await
            .unwrap()
    }
    // Not a counter: refused, and nothing changes.
    assert_eq!(
        stored_then_incremented(&store, space, "text", b"abc").await,
        Err(CounterRefusal::NotACounter)
    );
    assert_eq!(store.kv.get(space, "text").await.unwrap().unwrap(), b"abc");
    // Leading zeros are digits too, however many.
    assert_eq!(
        stored_then_incremented(&store, space, "padded", b"000000000000000000000007").await,
        Ok(8)
    );
    assert_eq!(
        stored_then_incremented(&store, space, "max", u64::MAX.to_string().as_bytes()).await,
        Err(CounterRefusal::Overflow)
    );
    // A counter that does not fit the quota is refused like a set.
    let used = store.kv.usage("counter").await.unwrap();
    assert!(matches!(
        store
            .kv
            .increment_deferred(space, "new", 1, used, None)
            .await
            .unwrap(),
        Err(CounterRefusal::Quota(_))
    ));
    assert_eq!(store.kv.get(space, "new").await.unwrap(), None);
}

pub async fn kv_compare_and_swap_counts_exactly_under_a_race(store: Store) {
    const TASKS: u64 = 16;
    const EACH: u64 = 25;
    let space = KvSpace::App("counter");
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let kv = store.kv.clone();
        tasks.push(tokio::spawn(async move {
            let mut lost = 0u64;
            for _ in 0..EACH {
                loop {
                    let current = kv.get(space, "n").await.unwrap();
                    let n: u64 = current
                        .as_deref()
                        .map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
                    let next = (n + 1).to_string();
                    if kv
                        .swap(space, "n", current.as_deref(), next.as_bytes(), ROOMY)
                        .await
                        .unwrap()
                        .unwrap()
                    {
                        break;
                    }
                    lost += 1;
                }
            }
            lost
        }));
    }
    for task in tasks {
        task.await.expect("a counting task");
    }
    let n = store.kv.get(space, "n").await.unwrap().unwrap();
    assert_eq!(
        n,
        (TASKS * EACH).to_string().as_bytes(),
        "no increment lost"
    );
    assert_eq!(store.kv.usage("counter").await.unwrap(), 1 + 3);
}

/// Writes that each fit the quota alone, racing on keys spread over the
/// usage shards: exactly as many are stored as the quota holds, no more.
pub async fn kv_the_quota_holds_under_racing_growing_writes(store: Store) {
    let space = KvSpace::App("crowded");
    let value = [b'v'; 100];
    let writers = 24;
    let start = Arc::new(tokio::sync::Barrier::new(writers));
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (kv, start) = (store.kv.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                kv.set(space, &format!("key-{w:02}"), &value, 1_000)
                    .await
                    .unwrap()
                    .is_ok()
            })
        })
        .collect();
    let mut stored = 0u64;
    for task in tasks {
        stored += u64::from(task.await.expect("a writing task"));
    }
    let used = store.kv.usage("crowded").await.unwrap();
    assert!(
        used <= 1_000,
        "{stored} writes stored {used} bytes past a 1,000-byte quota"
    );
    let each = used / stored.max(1);
    assert_eq!(stored, 1_000 / each, "as many as fit ({each} bytes each)");
}

/// Concurrent writers to distinct keys (sets, overwrites, swaps, deletes):
/// the app's usage is exactly the bytes of the keys and values left.
pub async fn kv_usage_stays_exact_under_concurrent_writers(store: Store) {
    let space = KvSpace::App("busy");
    let mut tasks = Vec::new();
    for t in 0..16usize {
        let kv = store.kv.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..12usize {
                let key = format!("w{t}/k{i}");
                let value = vec![b'x'; (t * 7 + i * 5) % 41];
                kv.set(space, &key, &value, ROOMY).await.unwrap().unwrap();
                match i % 4 {
                    0 => {
                        kv.set(space, &key, &value[..value.len() / 2], ROOMY)
                            .await
                            .unwrap()
                            .unwrap();
                    }
                    1 => {
                        assert!(kv.delete(space, &key).await.unwrap());
                    }
                    2 => {
                        let longer = [value.as_slice(), b"more"].concat();
                        assert!(kv
                            .swap(space, &key, Some(&value), &longer, ROOMY)
                            .await
                            .unwrap()
                            .unwrap());
                    }
                    _ => {}
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writing task");
    }
    let mut stored = 0u64;
    let mut keys = 0;
    let mut after: Option<String> = None;
    loop {
        let page = store
            .kv
            .list(space, "", after.as_deref(), 50)
            .await
            .unwrap();
        for key in &page.keys {
            let value = store.kv.get(space, key).await.unwrap().expect("listed");
            stored += (key.len() + value.len()) as u64;
            keys += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(keys, 16 * 9, "every write not deleted is there");
    assert_eq!(store.kv.usage("busy").await.unwrap(), stored);
}

// ------------------------------------------------------------------- apps

/// Apps and versions read back as written; a blob is stored under the
/// sha256 of its bytes.
pub async fn apps_are_stored_and_blobs_content_addressed(store: Store) {
    let apps = &store.apps;
    assert!(apps.apps().await.unwrap().is_empty());
    let mut hello = app("hello");
    hello.live = Some("1.0.0".into());
    let mut v1 = version("hello", "1.0.0", b"component");
    v1.state = VersionState::Live;
    let v2 = version("hello", "1.1.0", b"component 2");
    apps.commit_app(
        &hello,
        &[v1.clone(), v2.clone()],
        &[b"component", b"component 2"],
    )
    .await
    .unwrap();
    apps.commit_app(&app("hell"), &[version("hell", "0.1.0", b"x")], &[b"x"])
        .await
        .unwrap();
    let mut all = apps.apps().await.unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(all, vec![app("hell"), hello.clone()]);
    assert_eq!(apps.app("hello").await.unwrap(), Some(hello.clone()));
    assert_eq!(apps.app("hel").await.unwrap(), None);
    let mut versions = apps.versions("hello").await.unwrap();
    versions.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(versions, vec![v1.clone(), v2.clone()]);
    assert_eq!(
        apps.versions("hell").await.unwrap(),
        vec![version("hell", "0.1.0", b"x")],
        "an app whose id prefixes another's has only its own versions"
    );
    assert!(apps.versions("nobody").await.unwrap().is_empty());
    assert_eq!(
        apps.blob(&sha256_hex(b"component"))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"component"[..])
    );
    assert_eq!(apps.blob_refs(&sha256_hex(b"component")).await.unwrap(), 1);
    assert_eq!(apps.blob(&sha256_hex(b"never")).await.unwrap(), None);
    assert_eq!(apps.blob_refs(&sha256_hex(b"never")).await.unwrap(), 0);

    // A rollout rewrites the app and a version's state in one commit.
    hello.live = Some("1.1.0".into());
    hello.previous = Some("1.0.0".into());
    let mut retired = v1.clone();
    retired.state = VersionState::Retired;
    let mut live = v2.clone();
    live.state = VersionState::Live;
    apps.commit_app(&hello, &[retired.clone(), live.clone()], &[])
        .await
        .unwrap();
    assert_eq!(apps.app("hello").await.unwrap(), Some(hello));
    let mut versions = apps.versions("hello").await.unwrap();
    versions.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(versions, vec![retired, live]);
    assert_eq!(
        apps.blob_refs(&sha256_hex(b"component")).await.unwrap(),
        1,
        "a state change takes no new reference"
    );
}

/// Blobs are shared across apps, counted per version, and go with the last
/// version that references them (`delete_version` then names the blob).
pub async fn a_blob_shared_across_apps_goes_only_with_its_last_version(store: Store) {
    let apps = &store.apps;
    let shared: &[u8] = b"the same component bytes";
    let sha = sha256_hex(shared);
    apps.commit_app(&app("a"), &[version("a", "1.0.0", shared)], &[shared])
        .await
        .unwrap();
    // Publisher B uploads the very same bytes under its own app, twice; the
    // second time it need not send them.
    apps.commit_app(&app("b"), &[version("b", "1.0.0", shared)], &[shared])
        .await
        .unwrap();
    apps.commit_app(&app("b"), &[version("b", "1.1.0", shared)], &[])
        .await
        .unwrap();
    assert_eq!(apps.blob_refs(&sha).await.unwrap(), 3);
    // A state change of a stored version takes no new reference.
    let mut approved = version("b", "1.1.0", shared);
    approved.state = VersionState::Approved;
    apps.commit_app(&app("b"), &[approved], &[shared])
        .await
        .unwrap();
    assert_eq!(apps.blob_refs(&sha).await.unwrap(), 3);

    // B prunes both of its versions: A's blob stays.
    assert_eq!(apps.delete_version("b", "1.0.0").await.unwrap(), None);
    assert_eq!(apps.delete_version("b", "1.1.0").await.unwrap(), None);
    assert_eq!(
        apps.delete_version("b", "1.1.0").await.unwrap(),
        None,
        "already gone"
    );
    assert_eq!(apps.delete_version("nobody", "1.0.0").await.unwrap(), None);
    assert!(apps.versions("b").await.unwrap().is_empty());
    assert_eq!(apps.blob_refs(&sha).await.unwrap(), 1);
    assert_eq!(apps.blob(&sha).await.unwrap().as_deref(), Some(shared));
    // A's last version takes the blob with it.
    assert_eq!(
        apps.delete_version("a", "1.0.0").await.unwrap(),
        Some(sha.clone())
    );
    assert_eq!(apps.blob_refs(&sha).await.unwrap(), 0);
    assert_eq!(apps.blob(&sha).await.unwrap(), None);
    // Once gone, a new version must bring the bytes again.
    let missing = apps
        .commit_app(&app("a"), &[version("a", "2.0.0", shared)], &[])
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::MissingBlob { .. }),
        "{missing}"
    );
    apps.commit_app(&app("a"), &[version("a", "2.0.0", shared)], &[shared])
        .await
        .unwrap();
    assert_eq!(apps.blob_refs(&sha).await.unwrap(), 1);
}

/// A new version needs its blob (stored or given, hashing right), and a
/// stored version keeps its component.
pub async fn a_version_needs_its_blob_and_keeps_its_component(store: Store) {
    let apps = &store.apps;
    let missing = apps
        .commit_app(&app("a"), &[version("a", "1.0.0", b"never given")], &[])
        .await
        .unwrap_err();
    match &missing {
        StoreError::MissingBlob {
            app,
            version,
            sha256,
        } => {
            assert_eq!((app.as_str(), version.as_str()), ("a", "1.0.0"));
            assert_eq!(*sha256, sha256_hex(b"never given"));
        }
        other => panic!("expected MissingBlob, got {other}"),
    }
    assert_eq!(apps.app("a").await.unwrap(), None, "nothing half-written");
    assert!(apps.versions("a").await.unwrap().is_empty());
    // Bytes that do not hash to the version's component do not count.
    let wrong = apps
        .commit_app(&app("a"), &[version("a", "1.0.0", b"right")], &[b"wrong"])
        .await
        .unwrap_err();
    assert!(matches!(wrong, StoreError::MissingBlob { .. }), "{wrong}");
    assert_eq!(apps.blob(&sha256_hex(b"wrong")).await.unwrap(), None);
    assert_eq!(apps.blob(&sha256_hex(b"right")).await.unwrap(), None);

    apps.commit_app(&app("a"), &[version("a", "1.0.0", b"right")], &[b"right"])
        .await
        .unwrap();
    let changed = apps
        .commit_app(&app("a"), &[version("a", "1.0.0", b"other")], &[b"other"])
        .await
        .unwrap_err();
    match &changed {
        StoreError::ComponentChanged { app, version } => {
            assert_eq!((app.as_str(), version.as_str()), ("a", "1.0.0"));
        }
        other => panic!("expected ComponentChanged, got {other}"),
    }
    assert_eq!(apps.blob_refs(&sha256_hex(b"right")).await.unwrap(), 1);
    assert_eq!(apps.blob_refs(&sha256_hex(b"other")).await.unwrap(), 0);
    assert_eq!(apps.blob(&sha256_hex(b"other")).await.unwrap(), None);
    assert_eq!(
        apps.versions("a").await.unwrap(),
        vec![version("a", "1.0.0", b"right")]
    );
}

/// A step writes over what it read only while that still stands: of steps
/// racing over one read, one lands; a step over a read another step
/// outdated (the app's record, a version it writes, a version new to the
/// store since) writes nothing.
pub async fn a_step_over_a_stale_read_writes_nothing(store: Store) {
    let apps = &store.apps;
    let v1 = version("a", "1.0.0", b"one");
    apps.commit_app(&app("a"), std::slice::from_ref(&v1), &[b"one"])
        .await
        .unwrap();
    let read = apps.snapshot("a").await.unwrap();
    assert_eq!(read.app, Some(app("a")));
    assert_eq!(read.version("a", "1.0.0"), Some(&v1));

    // Eight reviews of one version race over one read: one lands.
    let outcomes = futures::future::join_all((0..8).map(|n| {
        let (apps, read) = (apps.clone(), read.clone());
        let mut reviewed = version("a", "1.0.0", b"one");
        reviewed.state = VersionState::Approved;
        reviewed.changed_by = format!("operator:{n}");
        async move {
            apps.commit_app_over(&read, &app("a"), &[reviewed.clone()], &[])
                .await
                .map(|()| reviewed)
        }
    }))
    .await;
    let landed: Vec<&VersionRecord> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(landed.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        if let Err(e) = outcome {
            assert!(matches!(e, StoreError::ChangedMeanwhile { .. }), "{e}");
        }
    }
    assert_eq!(apps.versions("a").await.unwrap(), vec![landed[0].clone()]);

    // The app's record changed since the read.
    let mut suspended = app("a");
    suspended.suspended = Some("kiểm tra".into());
    let fresh = apps.snapshot("a").await.unwrap();
    apps.commit_app_over(&fresh, &suspended, &[], &[])
        .await
        .unwrap();
    let mut live = app("a");
    live.live = Some("1.0.0".into());
    let stale = apps.commit_app_over(&fresh, &live, &[], &[]).await;
    assert!(
        matches!(stale, Err(StoreError::ChangedMeanwhile { .. })),
        "{stale:?}"
    );
    assert_eq!(apps.app("a").await.unwrap(), Some(suspended.clone()));

    // A version stored since the read is not new to the step.
    let before_upload = apps.snapshot("a").await.unwrap();
    apps.commit_app(&suspended, &[version("a", "2.0.0", b"two")], &[b"two"])
        .await
        .unwrap();
    let mut mine = version("a", "2.0.0", b"two");
    mine.changed_by = "publisher:late".into();
    let stale = apps
        .commit_app_over(&before_upload, &suspended, &[mine], &[b"two"])
        .await;
    assert!(
        matches!(stale, Err(StoreError::ChangedMeanwhile { .. })),
        "{stale:?}"
    );
    assert_eq!(apps.blob_refs(&sha256_hex(b"two")).await.unwrap(), 1);

    // A version goes over a read only while the app's record and the
    // version stand as read (a rollout elsewhere may have made it live).
    let before_resume = apps.snapshot("a").await.unwrap();
    let mut resumed = suspended.clone();
    resumed.suspended = None;
    apps.commit_app(&resumed, &[], &[]).await.unwrap();
    let stale = apps.delete_version_over(&before_resume, "a", "2.0.0").await;
    assert!(
        matches!(stale, Err(StoreError::ChangedMeanwhile { .. })),
        "{stale:?}"
    );
    assert_eq!(apps.blob_refs(&sha256_hex(b"two")).await.unwrap(), 1);
    let fresh = apps.snapshot("a").await.unwrap();
    assert_eq!(
        apps.delete_version_over(&fresh, "a", "2.0.0")
            .await
            .unwrap(),
        Some(sha256_hex(b"two"))
    );

    // A read of an app that did not exist yet stands only while none does.
    let nothing = apps.snapshot("b").await.unwrap();
    assert_eq!(nothing, AppSnapshot::default());
    apps.commit_app_over(&nothing, &app("b"), &[], &[])
        .await
        .unwrap();
    let stale = apps.commit_app_over(&nothing, &app("b"), &[], &[]).await;
    assert!(
        matches!(stale, Err(StoreError::ChangedMeanwhile { .. })),
        "{stale:?}"
    );
}

/// A commit refused for any of its versions writes none of it: not the
/// app's record, not the other versions, not their blobs or references.
pub async fn a_failed_commit_writes_nothing(store: Store) {
    let apps = &store.apps;
    let v1 = version("a", "1.0.0", b"one");
    apps.commit_app(&app("a"), std::slice::from_ref(&v1), &[b"one"])
        .await
        .unwrap();
    let mut renamed = app("a");
    renamed.live = Some("2.0.0".into());
    renamed.suspended = Some("must not stick".into());

    // The first version is fine; the second misses its blob.
    let refused = apps
        .commit_app(
            &renamed,
            &[
                version("a", "2.0.0", b"two"),
                version("a", "3.0.0", b"three"),
            ],
            &[b"two"],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::MissingBlob { .. }),
        "{refused}"
    );
    assert_eq!(apps.app("a").await.unwrap(), Some(app("a")));
    assert_eq!(apps.versions("a").await.unwrap(), vec![v1.clone()]);
    assert_eq!(apps.blob(&sha256_hex(b"two")).await.unwrap(), None);
    assert_eq!(apps.blob_refs(&sha256_hex(b"two")).await.unwrap(), 0);

    // A new version first, then a stored one whose component changed.
    let refused = apps
        .commit_app(
            &renamed,
            &[
                version("a", "2.0.0", b"two"),
                version("a", "1.0.0", b"one!"),
            ],
            &[b"two", b"one!"],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::ComponentChanged { .. }),
        "{refused}"
    );
    assert_eq!(apps.app("a").await.unwrap(), Some(app("a")));
    assert_eq!(apps.versions("a").await.unwrap(), vec![v1]);
    assert_eq!(apps.blob(&sha256_hex(b"two")).await.unwrap(), None);
    assert_eq!(apps.blob_refs(&sha256_hex(b"two")).await.unwrap(), 0);
    assert_eq!(apps.blob_refs(&sha256_hex(b"one")).await.unwrap(), 1);
    // A brand-new app refused leaves no record at all.
    assert!(apps
        .commit_app(&app("b"), &[version("b", "1.0.0", b"b")], &[])
        .await
        .is_err());
    assert_eq!(apps.app("b").await.unwrap(), None);
    assert_eq!(apps.apps().await.unwrap(), vec![app("a")]);
}

/// Store `record` as publisher `record.id`, whatever was there.
async fn put_publisher(store: &Store, record: &PublisherRecord) {
    store
        .apps
        .change_publisher(&record.id, &|_| Ok(record.clone()))
        .await
        .unwrap()
        .unwrap();
}

/// Changes of one publisher made at once each apply over the others (none
/// is lost), and of two first records at once one is stored, one refused.
pub async fn a_publisher_is_changed_over_every_other_change(store: Store) {
    let created = |name: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .apps
                .change_publisher("racing", &|stored| match stored {
                    Some(_) => Err(Refused("exists")),
                    None => Ok(PublisherRecord {
                        id: "racing".into(),
                        name: name.into(),
                        contact: String::new(),
                        signing_keys: Vec::new(),
                        fee_bps: None,
                        created: 1,
                    }),
                })
                .await
                .unwrap()
        })
    };
    let (first, second) = (created("Một"), created("Hai"));
    let outcomes = [first.await.unwrap(), second.await.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&Err(Refused("exists"))));

    let changes: Vec<_> = (0..16)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .apps
                    .change_publisher("racing", &|stored| {
                        let mut publisher = stored.ok_or(Refused("not_found"))?;
                        publisher.signing_keys.push(SigningKeyRecord {
                            public_key: format!("{n:064x}"),
                            added: n,
                            revoked: None,
                        });
                        Ok(publisher)
                    })
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    for change in changes {
        change.await.unwrap();
    }
    let stored = store.apps.publisher("racing").await.unwrap().unwrap();
    assert_eq!(stored.signing_keys.len(), 16, "no change lost");
    let refused = store
        .apps
        .change_publisher("nobody", &|stored| stored.ok_or(Refused("not_found")))
        .await
        .unwrap();
    assert_eq!(refused, Err(Refused("not_found")));
    assert_eq!(store.apps.publisher("nobody").await.unwrap(), None);
}

/// A version's grants and publishers read back as written; writing again
/// replaces. Each version keeps its own grants.
pub async fn version_grants_and_publishers_round_trip(store: Store) {
    let apps = &store.apps;
    let mut first = version("a", "1.0.0", b"a1");
    first.grants = Some(GrantRecord {
        capabilities: vec!["kv".into(), "identity.phone".into()],
        by: "operator:ops".into(),
        at: 5,
    });
    let second = version("a", "1.1.0", b"a1");
    apps.commit_app(&app("a"), &[first.clone(), second.clone()], &[b"a1"])
        .await
        .unwrap();
    let grants_of = |versions: Vec<VersionRecord>, name: &str| {
        versions
            .into_iter()
            .find(|v| v.version == name)
            .and_then(|v| v.grants)
    };
    let stored = apps.versions("a").await.unwrap();
    assert_eq!(grants_of(stored.clone(), "1.0.0"), first.grants);
    assert_eq!(grants_of(stored, "1.1.0"), None);
    let mut fewer = first.clone();
    fewer.grants = Some(GrantRecord {
        capabilities: vec!["kv".into()],
        by: "operator:lead".into(),
        at: 6,
    });
    apps.commit_app(&app("a"), std::slice::from_ref(&fewer), &[])
        .await
        .unwrap();
    let stored = apps.versions("a").await.unwrap();
    assert_eq!(grants_of(stored.clone(), "1.0.0"), fewer.grants);
    assert_eq!(
        grants_of(stored, "1.1.0"),
        None,
        "the other version keeps its own"
    );

    assert!(apps.publishers().await.unwrap().is_empty());
    let vnpt = PublisherRecord {
        id: "vnpt-hue".into(),
        name: "VNPT Huế".into(),
        contact: "dev@vnpt.example".into(),
        signing_keys: vec![SigningKeyRecord {
            public_key: "ab".repeat(32),
            added: 1,
            revoked: None,
        }],
        fee_bps: Some(50),
        created: 1,
    };
    let samples = PublisherRecord {
        id: "citadel-samples".into(),
        name: "Citadel samples".into(),
        contact: String::new(),
        signing_keys: Vec::new(),
        fee_bps: None,
        created: 2,
    };
    put_publisher(&store, &vnpt).await;
    put_publisher(&store, &samples).await;
    assert_eq!(
        apps.publisher("vnpt-hue").await.unwrap(),
        Some(vnpt.clone())
    );
    assert_eq!(apps.publisher("vnpt").await.unwrap(), None);
    let mut renamed = vnpt.clone();
    renamed.name = "VNPT Thừa Thiên Huế".into();
    renamed.signing_keys[0].revoked = Some(9);
    put_publisher(&store, &renamed).await;
    assert_eq!(
        apps.publisher("vnpt-hue").await.unwrap(),
        Some(renamed.clone())
    );
    let mut all = apps.publishers().await.unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(all, vec![samples, renamed]);
}

/// A publisher's API keys are stored by hash and name their publisher
/// until revoked.
pub async fn publisher_keys_name_their_publisher(store: Store) {
    let apps = &store.apps;
    let vnpt = PublisherRecord {
        id: "vnpt-hue".into(),
        name: "VNPT Huế".into(),
        contact: String::new(),
        signing_keys: Vec::new(),
        fee_bps: None,
        created: 1,
    };
    put_publisher(&store, &vnpt).await;
    let (k1, k2, k3) = (sha256_hex(b"k1"), sha256_hex(b"k2"), sha256_hex(b"k3"));
    apps.put_publisher_key(&k1, "vnpt-hue").await.unwrap();
    apps.put_publisher_key(&k2, "vnpt-hue").await.unwrap();
    apps.put_publisher_key(&k3, "other").await.unwrap();
    let mut keys = apps.publisher_keys("vnpt-hue").await.unwrap();
    keys.sort();
    let mut expected = vec![k1.clone(), k2.clone()];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(
        apps.publisher_keys("other").await.unwrap(),
        vec![k3.clone()]
    );
    assert!(apps.publisher_keys("nobody").await.unwrap().is_empty());
    assert_eq!(
        apps.publisher_for_key(&k1).await.unwrap(),
        Some(vnpt.clone())
    );
    assert_eq!(
        apps.publisher_for_key(&k3).await.unwrap(),
        None,
        "a key of an unregistered publisher names no record"
    );
    assert_eq!(
        apps.publisher_for_key(&sha256_hex(b"k4")).await.unwrap(),
        None
    );

    assert!(apps.delete_publisher_key(&k1).await.unwrap());
    assert!(!apps.delete_publisher_key(&k1).await.unwrap());
    assert_eq!(apps.publisher_for_key(&k1).await.unwrap(), None);
    assert_eq!(
        apps.publisher_keys("vnpt-hue").await.unwrap(),
        vec![k2.clone()]
    );
    assert_eq!(apps.publisher_for_key(&k2).await.unwrap(), Some(vnpt));
}

/// The next change announced on `changes`, within [`PATIENCE`].
async fn next_change(changes: &mut tokio::sync::broadcast::Receiver<AppChange>) -> AppChange {
    tokio::time::timeout(PATIENCE, changes.recv())
        .await
        .expect("a change is announced")
        .expect("the feed is open")
}

/// Registry writes are announced on `changes()` once made.
pub async fn registry_changes_are_announced(store: Store) {
    let apps = &store.apps;
    let mut changes = apps.changes();
    let next = next_change;
    apps.commit_app(&app("hello"), &[version("hello", "1.0.0", b"c")], &[b"c"])
        .await
        .unwrap();
    assert_eq!(next(&mut changes).await, AppChange::App("hello".into()));
    // Whoever hears of it reads the change.
    assert!(apps.app("hello").await.unwrap().is_some());

    // A change of a version's grants is a change of the app.
    let mut granted = version("hello", "1.0.0", b"c");
    granted.grants = Some(GrantRecord {
        capabilities: vec!["kv".into()],
        by: "operator:ops".into(),
        at: 1,
    });
    apps.commit_app(&app("hello"), std::slice::from_ref(&granted), &[])
        .await
        .unwrap();
    assert_eq!(next(&mut changes).await, AppChange::App("hello".into()));
    assert_eq!(apps.versions("hello").await.unwrap(), vec![granted]);

    let mut live = app("hello");
    live.live = Some("1.0.0".into());
    apps.commit_app(&live, &[], &[]).await.unwrap();
    assert_eq!(next(&mut changes).await, AppChange::App("hello".into()));

    let publisher = PublisherRecord {
        id: "hello-publisher".into(),
        name: "Hello".into(),
        contact: String::new(),
        signing_keys: Vec::new(),
        fee_bps: None,
        created: 1,
    };
    put_publisher(&store, &publisher).await;
    assert_eq!(
        next(&mut changes).await,
        AppChange::Publisher("hello-publisher".into())
    );

    // A second subscriber hears only what comes after it subscribed.
    let mut late = apps.changes();
    apps.commit_app(&app("other"), &[], &[]).await.unwrap();
    assert_eq!(next(&mut changes).await, AppChange::App("other".into()));
    assert_eq!(next(&mut late).await, AppChange::App("other".into()));
}

// --------------------------------------------------------------- identity

/// Consents and inbox messages belong to one citizen; the inbox reads from
/// a time on (oldest first) or the latest (newest first).
pub async fn consents_and_inbox_are_per_citizen(store: Store) {
    let id = &store.identity;
    let phone = ConsentRecord {
        app: "a".into(),
        scope: "identity.phone".into(),
        purpose: "to call you back".into(),
        granted_at: 1,
    };
    let name = ConsentRecord {
        app: "a".into(),
        scope: "identity.name".into(),
        purpose: "to greet you".into(),
        granted_at: 2,
    };
    let other_app = ConsentRecord {
        app: "b".into(),
        scope: "identity.phone".into(),
        purpose: "to deliver".into(),
        granted_at: 3,
    };
    id.put_consents("c-lan", &[phone.clone(), other_app.clone()], None)
        .await
        .unwrap();
    id.put_consents("c-lan", std::slice::from_ref(&name), None)
        .await
        .unwrap();
    id.put_consents("c-lan2", std::slice::from_ref(&phone), None)
        .await
        .unwrap();
    assert_eq!(
        id.consent("c-lan", "a", "identity.phone").await.unwrap(),
        Some(phone.clone())
    );
    assert_eq!(
        id.consent("c-la", "a", "identity.phone").await.unwrap(),
        None
    );
    assert_eq!(
        id.consent("c-lan", "b", "identity.name").await.unwrap(),
        None
    );
    assert_eq!(
        id.consents("c-lan").await.unwrap(),
        vec![name.clone(), phone.clone(), other_app.clone()],
        "by app, then scope"
    );
    assert!(id.consents("c-la").await.unwrap().is_empty());
    assert_eq!(id.consents("c-lan2").await.unwrap(), vec![phone.clone()]);
    // Renewing replaces.
    let renewed = ConsentRecord {
        granted_at: 9,
        ..phone.clone()
    };
    id.put_consents("c-lan", std::slice::from_ref(&renewed), None)
        .await
        .unwrap();
    assert_eq!(
        id.consent("c-lan", "a", "identity.phone").await.unwrap(),
        Some(renewed)
    );
    assert_eq!(id.consents("c-lan").await.unwrap().len(), 3);
    assert_eq!(
        id.delete_consents("c-lan", "a", Some("identity.phone"))
            .await
            .unwrap(),
        ["identity.phone"]
    );
    assert!(id
        .delete_consents("c-lan", "a", Some("identity.phone"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        id.consent("c-lan", "a", "identity.phone").await.unwrap(),
        None
    );
    assert_eq!(
        id.consent("c-lan2", "a", "identity.phone").await.unwrap(),
        Some(phone.clone()),
        "another citizen's consent stays"
    );
    // Every scope of one app goes in one write; a scope is matched whole,
    // and another app's consents stay.
    let longer = ConsentRecord {
        scope: "identity.name-x".into(),
        ..name.clone()
    };
    let next_app = ConsentRecord {
        app: "ab".into(),
        ..phone.clone()
    };
    id.put_consents("c-lan", &[phone.clone(), longer, next_app.clone()], None)
        .await
        .unwrap();
    assert!(id
        .delete_consents("c-lan", "a", Some("identity.nam"))
        .await
        .unwrap()
        .is_empty());
    let mut revoked = id.delete_consents("c-lan", "a", None).await.unwrap();
    revoked.sort();
    assert_eq!(
        revoked,
        ["identity.name", "identity.name-x", "identity.phone"]
    );
    assert_eq!(
        id.consents("c-lan").await.unwrap(),
        vec![next_app, other_app.clone()]
    );

    let message = |at: u64, title: &str| InboxMessage {
        app: "a".into(),
        title: title.into(),
        body: String::new(),
        link: Some("/orders".into()),
        at,
    };
    // Appended out of time order, and two at the same millisecond.
    for (at, title) in [(20, "b"), (10, "a"), (30, "c"), (20, "b2")] {
        id.inbox_append("c-lan", &message(at, title), None)
            .await
            .unwrap();
    }
    id.inbox_append("c-lan2", &message(40, "x"), None)
        .await
        .unwrap();
    let since: Vec<(u64, String)> = id
        .inbox_since("c-lan", 20)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.at, m.title))
        .collect();
    assert_eq!(
        since,
        [(20, "b".into()), (20, "b2".into()), (30, "c".into())]
    );
    assert_eq!(id.inbox_since("c-lan", 0).await.unwrap().len(), 4);
    assert!(id.inbox_since("c-lan", 31).await.unwrap().is_empty());
    let latest: Vec<u64> = id
        .inbox_latest("c-lan", 2)
        .await
        .unwrap()
        .iter()
        .map(|m| m.at)
        .collect();
    assert_eq!(latest, [30, 20]);
    let all: Vec<u64> = id
        .inbox_latest("c-lan", 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.at)
        .collect();
    assert_eq!(all, [30, 20, 20, 10]);
    assert_eq!(
        id.inbox_latest("c-lan2", 10).await.unwrap(),
        vec![message(40, "x")]
    );
    assert!(id.inbox_latest("c-minh", 10).await.unwrap().is_empty());
    assert!(id.inbox_since("c-la", 0).await.unwrap().is_empty());
}

/// Sessions and operator credentials read back as written.
pub async fn sessions_and_operators_round_trip(store: Store) {
    let id = &store.identity;
    let session = SessionRecord {
        citizen_id: "c-lan".into(),
        created: 1,
        expires: 100,
        profile: None,
    };
    let (s1, s2) = (sha256_hex(b"s1"), sha256_hex(b"s2"));
    assert_eq!(id.session(&s1).await.unwrap(), None);
    id.put_session(&s1, &session).await.unwrap();
    assert_eq!(id.session(&s1).await.unwrap(), Some(session.clone()));
    assert_eq!(id.session(&s2).await.unwrap(), None);
    assert!(id.delete_session(&s1).await.unwrap());
    assert!(!id.delete_session(&s1).await.unwrap());
    assert_eq!(id.session(&s1).await.unwrap(), None);
    // A session of a citizen an OpenID provider signed in keeps their fields.
    let with_profile = SessionRecord {
        profile: Some(crate::citizen::Citizen {
            id: "oidc-1".into(),
            name: "Nguyễn Thị Lan".into(),
            phone: "+84905111222".into(),
            national_id: String::new(),
            address: "12 Lê Lợi".into(),
            birth_date: "1990-04-12".into(),
            locale: "vi".into(),
            roles: vec![crate::citizen::Role {
                unit: "phuong-phu-hoi".into(),
                role: "staff".into(),
            }],
        }),
        citizen_id: "oidc-1".into(),
        ..session.clone()
    };
    id.put_session(&s2, &with_profile).await.unwrap();
    assert_eq!(id.session(&s2).await.unwrap(), Some(with_profile));
    assert!(id.delete_session(&s2).await.unwrap());

    assert!(!id.has_operators().await.unwrap());
    let ops = OperatorRecord {
        name: "ops".into(),
        created: 1,
        revoked: None,
    };
    let o1 = sha256_hex(b"o1");
    id.put_operator(&o1, &ops).await.unwrap();
    assert!(id.has_operators().await.unwrap());
    assert_eq!(id.operator(&o1).await.unwrap(), Some(ops.clone()));
    assert_eq!(id.operator(&s1).await.unwrap(), None);
    let revoked = OperatorRecord {
        revoked: Some(7),
        ..ops
    };
    id.put_operator(&o1, &revoked).await.unwrap();
    assert_eq!(id.operator(&o1).await.unwrap(), Some(revoked));
    assert!(id.has_operators().await.unwrap(), "a revoked one is kept");
}

/// Eight first callers race for one host secret: all get the same value,
/// one of theirs, and every later caller gets it too.
pub async fn a_host_secret_keeps_its_first_value_under_a_race(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let id = store.identity.clone();
        tasks.push(tokio::spawn(async move {
            id.host_secret("pairwise", vec![i; 32]).await.unwrap()
        }));
    }
    let mut seen = BTreeSet::new();
    for task in tasks {
        seen.insert(task.await.expect("a racing caller"));
    }
    assert_eq!(seen.len(), 1, "every caller got the same secret: {seen:?}");
    let secret = seen.into_iter().next().expect("one secret");
    assert!(
        (0..8u8).any(|i| secret == vec![i; 32]),
        "the secret is one caller's fresh value"
    );
    assert_eq!(
        store
            .identity
            .host_secret("pairwise", vec![99; 32])
            .await
            .unwrap(),
        secret
    );
    assert_eq!(
        store
            .identity
            .host_secret("other", vec![1; 16])
            .await
            .unwrap(),
        vec![1; 16],
        "each name has its own secret"
    );
}

/// The first citizen remembered under an app's pairwise id stays.
pub async fn a_pairwise_id_is_remembered_once(store: Store) {
    let id = &store.identity;
    assert_eq!(id.pairwise_citizen("a", "0a0a").await.unwrap(), None);
    id.remember_pairwise("a", "0a0a", "c-lan", None)
        .await
        .unwrap();
    id.remember_pairwise("a", "0a0a", "c-lan", None)
        .await
        .unwrap();
    id.remember_pairwise("a", "0a0a", "c-minh", None)
        .await
        .unwrap();
    assert_eq!(
        id.pairwise_citizen("a", "0a0a").await.unwrap().as_deref(),
        Some("c-lan")
    );
    assert_eq!(id.pairwise_citizen("b", "0a0a").await.unwrap(), None);
    assert_eq!(id.pairwise_citizen("a", "0a0").await.unwrap(), None);
    id.remember_pairwise("b", "0a0a", "c-minh", None)
        .await
        .unwrap();
    assert_eq!(
        id.pairwise_citizen("b", "0a0a").await.unwrap().as_deref(),
        Some("c-minh")
    );
}

fn frame(citizen: &str, app: &str, parent: &str, issued: u64, expires: u64) -> FrameRecord {
    FrameRecord {
        citizen_id: citizen.into(),
        app: app.into(),
        parent: parent.into(),
        issued,
        expires,
        order: 0,
    }
}

/// Sign in each (citizen, session hash): a frame token opens only from a
/// live session.
async fn signed_in(store: &Store, sessions: &[(&str, &str)]) {
    for (citizen, hash) in sessions {
        store
            .identity
            .put_session(hash, &session(citizen))
            .await
            .unwrap();
    }
}

/// The frame token stored under `hash`, as it was opened (the order the
/// store gave it cleared).
async fn opened(store: &Store, hash: &str) -> Option<FrameRecord> {
    store
        .identity
        .frame(hash)
        .await
        .unwrap()
        .map(|f| FrameRecord { order: 0, ..f })
}

/// Opening a frame token closes the citizen's oldest (first opened) beyond
/// the bound, and never another citizen's.
pub async fn frame_tokens_are_bounded_per_citizen(store: Store) {
    let id = &store.identity;
    signed_in(
        &store,
        &[("c-minh", "s-minh"), ("c-lan2", "s-lan2"), ("c-lan", "s")],
    )
    .await;
    let minh = frame("c-minh", "a", "s-minh", 1, 1000);
    assert_eq!(id.open_frame("fm", &minh, 2).await.unwrap(), 0);
    let lan2 = frame("c-lan2", "a", "s-lan2", 1, 1000);
    assert_eq!(id.open_frame("fl2", &lan2, 1).await.unwrap(), 0);
    // Opened in the same second, under hashes in the reverse order: the
    // first opened is the oldest.
    let f1 = frame("c-lan", "a", "s", 10, 1000);
    let f2 = frame("c-lan", "b", "s", 10, 1000);
    let f3 = frame("c-lan", "c", "s", 11, 1000);
    assert_eq!(id.open_frame("fz1", &f1, 2).await.unwrap(), 0);
    assert_eq!(id.open_frame("fa2", &f2, 2).await.unwrap(), 0);
    assert_eq!(id.frame_count().await.unwrap(), 4);
    assert_eq!(id.open_frame("fm3", &f3, 2).await.unwrap(), 1);
    assert_eq!(opened(&store, "fz1").await, None, "the oldest closed");
    assert_eq!(opened(&store, "fa2").await, Some(f2));
    assert_eq!(opened(&store, "fm3").await, Some(f3.clone()));
    assert_eq!(opened(&store, "fm").await, Some(minh.clone()));
    assert_eq!(opened(&store, "fl2").await, Some(lan2.clone()));
    assert_eq!(id.frame_count().await.unwrap(), 4);
    // A tighter bound closes as many as it takes.
    let f4 = frame("c-lan", "a", "s", 11, 1000);
    assert_eq!(id.open_frame("f4", &f4, 1).await.unwrap(), 2);
    assert_eq!(opened(&store, "fa2").await, None);
    assert_eq!(opened(&store, "fm3").await, None);
    assert_eq!(opened(&store, "f4").await, Some(f4));
    assert_eq!(id.frame_count().await.unwrap(), 3);
    // A closed token is gone from the bound's count too.
    assert!(id.close_frame("f4").await.unwrap());
    assert!(!id.close_frame("f4").await.unwrap());
    assert_eq!(opened(&store, "f4").await, None);
    let f5 = frame("c-lan", "a", "s", 50, 1000);
    let f6 = frame("c-lan", "a", "s", 60, 1000);
    assert_eq!(id.open_frame("f5", &f5, 2).await.unwrap(), 0);
    assert_eq!(id.open_frame("f6", &f6, 2).await.unwrap(), 0);
    assert_eq!(opened(&store, "f5").await, Some(f5));
    assert_eq!(opened(&store, "fm").await, Some(minh));
    assert_eq!(opened(&store, "fl2").await, Some(lan2));
    assert_eq!(id.frame_count().await.unwrap(), 4);
}

/// Tokens opened for one citizen at once, then one more: the citizen ends
/// holding no more than the bound, the last one opened among them.
pub async fn frame_tokens_bound_settles_after_concurrent_opens(store: Store) {
    signed_in(&store, &[("c-lan", "s")]).await;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let id = store.identity.clone();
        tasks.push(tokio::spawn(async move {
            let record = frame("c-lan", "a", "s", 10, 1000);
            id.open_frame(&format!("t{n}"), &record, 3).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.expect("an opening task");
    }
    let last = frame("c-lan", "b", "s", 11, 1000);
    store.identity.open_frame("last", &last, 3).await.unwrap();
    assert_eq!(opened(&store, "last").await, Some(last));
    assert_eq!(store.identity.frame_count().await.unwrap(), 3);
    assert_eq!(
        store
            .identity
            .close_frames_of_session("c-lan", "s")
            .await
            .unwrap(),
        3
    );
}

/// Signing out of a session closes the frame tokens opened from it, and
/// only those.
pub async fn frame_tokens_close_with_their_session(store: Store) {
    let id = &store.identity;
    signed_in(&store, &[("c-lan", "s1"), ("c-lan", "s2")]).await;
    let from_s1 = frame("c-lan", "a", "s1", 1, 1000);
    let from_s1_too = frame("c-lan", "b", "s1", 2, 1000);
    let from_s2 = frame("c-lan", "a", "s2", 3, 1000);
    let minh_s1 = frame("c-minh", "a", "s1", 4, 1000);
    id.open_frame("t1", &from_s1, 10).await.unwrap();
    id.open_frame("t2", &from_s1_too, 10).await.unwrap();
    id.open_frame("t3", &from_s2, 10).await.unwrap();
    id.open_frame("t4", &minh_s1, 10).await.unwrap();
    assert_eq!(id.close_frames_of_session("c-lan", "s1").await.unwrap(), 2);
    assert_eq!(opened(&store, "t1").await, None);
    assert_eq!(opened(&store, "t2").await, None);
    assert_eq!(opened(&store, "t3").await, Some(from_s2));
    assert_eq!(
        opened(&store, "t4").await,
        Some(minh_s1),
        "another citizen's token with the same parent stays"
    );
    assert_eq!(id.close_frames_of_session("c-lan", "s1").await.unwrap(), 0);
    assert_eq!(
        id.close_frames_of_session("c-nobody", "s1").await.unwrap(),
        0
    );
    assert_eq!(id.frame_count().await.unwrap(), 2);
}

/// A session of `citizen` that does not expire within any test.
fn session(citizen: &str) -> SessionRecord {
    SessionRecord {
        citizen_id: citizen.into(),
        created: 1,
        expires: u64::MAX / 2,
        profile: None,
    }
}

/// Erasing a citizen takes, in one write, their sessions (announced ended),
/// frame tokens, consents, inbox, position and the links naming them, and
/// nothing of another citizen, even one whose id starts with theirs.
pub async fn erasing_a_citizen_takes_their_records_only(store: Store) {
    let id = &store.identity;
    let mut changes = store.apps.changes();
    let consent = |app: &str| ConsentRecord {
        app: app.into(),
        scope: "identity.phone".into(),
        purpose: "to call you back".into(),
        granted_at: 1,
    };
    let message = |title: &str| InboxMessage {
        app: "a".into(),
        title: title.into(),
        body: "body".into(),
        link: None,
        at: 5,
    };
    let (lan_phone, lan_laptop, other) = (sha256_hex(b"l1"), sha256_hex(b"l2"), sha256_hex(b"o"));
    for (citizen, hash) in [
        ("c-lan", &lan_phone),
        ("c-lan", &lan_laptop),
        ("c-lan2", &other),
    ] {
        id.put_session(hash, &session(citizen)).await.unwrap();
    }
    id.open_frame(
        "t-lan",
        &frame("c-lan", "a", &lan_phone, 1, u64::MAX / 2),
        10,
    )
    .await
    .unwrap();
    id.open_frame(
        "t-other",
        &frame("c-lan2", "a", &other, 1, u64::MAX / 2),
        10,
    )
    .await
    .unwrap();
    for citizen in ["c-lan", "c-lan2"] {
        id.put_consents(citizen, &[consent("a"), consent("b")], None)
            .await
            .unwrap();
        id.inbox_append(citizen, &message("one"), None)
            .await
            .unwrap();
        id.put_location(citizen, &location(1, u64::MAX / 2), None)
            .await
            .unwrap();
    }
    id.inbox_append("c-lan", &message("two"), None)
        .await
        .unwrap();
    id.remember_pairwise("a", "pw-lan-a", "c-lan", None)
        .await
        .unwrap();
    id.remember_pairwise("b", "pw-lan-b", "c-lan", None)
        .await
        .unwrap();
    id.remember_pairwise("a", "pw-other-a", "c-lan2", None)
        .await
        .unwrap();

    // A meeting that names someone else is named too: it stays.
    let meetings: Vec<(String, String)> =
        [("a", "pw-lan-a"), ("b", "pw-lan-b"), ("a", "pw-other-a")]
            .iter()
            .map(|(app, pw)| (app.to_string(), pw.to_string()))
            .collect();
    let sessions_of = |citizen: &'static str| async move {
        id.sessions_of(citizen)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.citizen_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(sessions_of("c-lan").await, ["c-lan", "c-lan"]);
    assert_eq!(sessions_of("c-lan2").await, ["c-lan2"]);
    assert!(id.unfinished_erasures().await.unwrap().is_empty());
    let erased = id.erase_citizen("c-lan", &meetings, 1_000).await.unwrap();
    assert_eq!(
        erased,
        ErasedRecords {
            sessions: 2,
            frames: 1,
            consents: 2,
            inbox_messages: 2,
            locations: 1,
            app_links: 2,
        }
    );
    assert!(sessions_of("c-lan").await.is_empty());
    assert_eq!(sessions_of("c-lan2").await, ["c-lan2"]);
    assert_eq!(id.session(&lan_phone).await.unwrap(), None);
    assert_eq!(id.session(&lan_laptop).await.unwrap(), None);
    assert_eq!(opened(&store, "t-lan").await, None);
    assert!(id.consents("c-lan").await.unwrap().is_empty());
    assert!(id.inbox_since("c-lan", 0).await.unwrap().is_empty());
    assert_eq!(id.location("c-lan").await.unwrap(), None);
    assert_eq!(id.pairwise_citizen("a", "pw-lan-a").await.unwrap(), None);
    assert_eq!(id.pairwise_citizen("b", "pw-lan-b").await.unwrap(), None);

    // The other citizen keeps everything.
    assert_eq!(id.session(&other).await.unwrap(), Some(session("c-lan2")));
    assert!(opened(&store, "t-other").await.is_some());
    assert_eq!(id.consents("c-lan2").await.unwrap().len(), 2);
    assert_eq!(id.inbox_since("c-lan2", 0).await.unwrap().len(), 1);
    assert!(id.location("c-lan2").await.unwrap().is_some());
    assert_eq!(
        id.pairwise_citizen("a", "pw-other-a")
            .await
            .unwrap()
            .as_deref(),
        Some("c-lan2")
    );

    // Every host hears the sessions ended and the erasure.
    let mut heard = BTreeSet::new();
    while heard.len() < 3 {
        let change = next_change(&mut changes).await;
        heard.insert(format!("{change:?}"));
    }
    assert!(heard.contains(&format!("{:?}", AppChange::SessionEnded(lan_phone.clone()))));
    assert!(heard.contains(&format!(
        "{:?}",
        AppChange::SessionEnded(lan_laptop.clone())
    )));
    assert!(heard.contains(&format!("{:?}", AppChange::CitizenErased)));

    // The same write recorded the erasure as unfinished.
    assert_eq!(
        id.unfinished_erasures().await.unwrap(),
        [("c-lan".to_string(), 1_000)]
    );

    // Again: nothing left to erase; the later erasure replaces the record,
    // and finishing the earlier one leaves it.
    assert_eq!(
        id.erase_citizen("c-lan", &meetings, 2_000).await.unwrap(),
        ErasedRecords::default()
    );
    id.erase_citizen("c-lan2", &meetings, 1_500).await.unwrap();
    assert_eq!(
        id.unfinished_erasures().await.unwrap(),
        [("c-lan2".to_string(), 1_500), ("c-lan".to_string(), 2_000)]
    );
    id.erasure_finished("c-lan", 1_000).await.unwrap();
    id.erasure_finished("c-lan2", 1_500).await.unwrap();
    assert_eq!(
        id.unfinished_erasures().await.unwrap(),
        [("c-lan".to_string(), 2_000)]
    );
    id.erasure_finished("c-lan", 2_000).await.unwrap();
    id.erasure_finished("c-lan", 2_000).await.unwrap();
    assert!(id.unfinished_erasures().await.unwrap().is_empty());
}

/// While a citizen's erasure is unfinished no session of theirs opens
/// (another citizen's, even one whose id starts with theirs, does); once it
/// has finished, one does. A session opened as the erasure begins either
/// ends with it or is refused: racing the two never leaves one open.
/// Whether the erasure of `citizen` that began at `began` is unfinished.
async fn erasure_unfinished(store: &Store, citizen: &str, began: u64) -> bool {
    store
        .identity
        .unfinished_erasures()
        .await
        .unwrap()
        .contains(&(citizen.to_string(), began))
}

pub async fn no_session_opens_while_an_erasure_is_unfinished(store: Store) {
    let id = &store.identity;
    let session = |citizen: &str| SessionRecord {
        citizen_id: citizen.into(),
        created: 1,
        expires: u64::MAX / 2,
        profile: None,
    };
    id.erase_citizen("c-lan", &[], 1_000).await.unwrap();
    let refused = id.put_session(&sha256_hex(b"lan"), &session("c-lan")).await;
    assert!(
        matches!(refused, Err(StoreError::ErasureUnfinished)),
        "{refused:?}"
    );
    assert!(id.sessions_of("c-lan").await.unwrap().is_empty());
    assert_eq!(id.session(&sha256_hex(b"lan")).await.unwrap(), None);
    id.put_session(&sha256_hex(b"lan2"), &session("c-lan2"))
        .await
        .unwrap();
    // Repeated while unfinished, it takes what came in since (a request
    // under way wrote a consent) and stays unfinished; another begin time
    // is not this erasure.
    let late = ConsentRecord {
        app: "a".into(),
        scope: "identity.name".into(),
        purpose: "p".into(),
        granted_at: 1,
    };
    id.put_consents("c-lan", &[late], None).await.unwrap();
    assert!(erasure_unfinished(&store, "c-lan", 1_000).await);
    assert!(!erasure_unfinished(&store, "c-lan", 999).await);
    assert_eq!(
        id.erase_citizen_again("c-lan", &[], 999).await.unwrap(),
        None
    );
    let again = id.erase_citizen_again("c-lan", &[], 1_000).await.unwrap();
    assert_eq!(again.map(|erased| erased.consents), Some(1));
    assert!(id.consents("c-lan").await.unwrap().is_empty());
    assert!(erasure_unfinished(&store, "c-lan", 1_000).await);
    id.erasure_finished("c-lan", 1_000).await.unwrap();
    assert!(!erasure_unfinished(&store, "c-lan", 1_000).await);
    id.put_session(&sha256_hex(b"lan"), &session("c-lan"))
        .await
        .unwrap();
    // Finished, it is not repeated: the new session stays.
    assert_eq!(
        id.erase_citizen_again("c-lan", &[], 1_000).await.unwrap(),
        None
    );
    assert_eq!(id.sessions_of("c-lan").await.unwrap(), [session("c-lan")]);

    for round in 0..20u64 {
        let citizen = format!("c-race-{round}");
        let (hash, record) = (sha256_hex(citizen.as_bytes()), session(&citizen));
        let (opened, erased) = tokio::join!(
            id.put_session(&hash, &record),
            id.erase_citizen(&citizen, &[], 2_000 + round),
        );
        erased.unwrap();
        match opened {
            Ok(()) | Err(StoreError::ErasureUnfinished) => {}
            Err(e) => panic!("round {round}: {e}"),
        }
        assert_eq!(
            id.sessions_of(&citizen).await.unwrap(),
            [],
            "round {round}: a session outlived the erasure"
        );
    }
}

/// An erasure deletes a key the citizen has in an app only while it is
/// unfinished, and atomically with that check: once it has finished (on
/// another host, or at a sign-in) a session may have opened and written the
/// key anew, and a pass still under way must not take that write.
pub async fn an_erasure_deletes_app_keys_only_while_unfinished(store: Store) {
    let (id, kv) = (&store.identity, &store.kv);
    let lan = KvSpace::Citizen {
        app: "a",
        pairwise_id: "0a0a",
    };
    let set = |key: &'static str| kv.write_deferred(lan, key, KvWrite::Set(b"v"), u64::MAX, None);
    set("old").await.unwrap().unwrap();
    set("older").await.unwrap().unwrap();
    id.erase_citizen("c-lan", &[], 1_000).await.unwrap();
    assert_eq!(
        id.erase_app_key("c-lan", 1_000, lan, "old").await.unwrap(),
        Some(true)
    );
    assert_eq!(
        id.erase_app_key("c-lan", 1_000, lan, "old").await.unwrap(),
        Some(false)
    );
    // Another begin time is not this erasure.
    assert_eq!(
        id.erase_app_key("c-lan", 999, lan, "older").await.unwrap(),
        None
    );
    id.erasure_finished("c-lan", 1_000).await.unwrap();
    set("old").await.unwrap().unwrap();
    assert_eq!(
        id.erase_app_key("c-lan", 1_000, lan, "old").await.unwrap(),
        None
    );
    assert_eq!(
        kv.get(lan, "old").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(
        kv.get(lan, "older").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );

    // Racing the erasure's finish, a key is either erased before it
    // finished or kept.
    for round in 0..20u64 {
        let began = 2_000 + round;
        id.erase_citizen("c-lan", &[], began).await.unwrap();
        let (erased, finished) = tokio::join!(
            id.erase_app_key("c-lan", began, lan, "older"),
            id.erasure_finished("c-lan", began),
        );
        finished.unwrap();
        let kept = kv.get(lan, "older").await.unwrap().is_some();
        match erased.unwrap() {
            Some(true) => assert!(!kept, "round {round}"),
            None => assert!(kept, "round {round}"),
            Some(false) => panic!("round {round}: the key was there"),
        }
        if !kept {
            set("older").await.unwrap().unwrap();
        }
    }
}

/// A kv write made for a session lands only while the session is live,
/// checked atomically with its end: once a sign-out or an erasure ended it,
/// nothing lands; racing an erasure, every write acknowledged is one the
/// erasure's pass over the apps' storage (which follows) finds, and no
/// write refused left anything. The host's own writes name no session.
pub async fn a_write_for_a_session_lands_only_while_it_is_live(store: Store) {
    let (id, kv) = (&store.identity, &store.kv);
    let lan = KvSpace::Citizen {
        app: "a",
        pairwise_id: "0a0a",
    };
    let phone = sha256_hex(b"phone");
    id.put_session(&phone, &session("c-lan")).await.unwrap();
    let set = |key: &'static str, for_session: String| async move {
        kv.write_deferred(lan, key, KvWrite::Set(b"v"), u64::MAX, Some(&for_session))
            .await
    };
    assert_eq!(set("k", phone.clone()).await.unwrap(), Ok(true));
    assert_eq!(
        kv.increment_deferred(lan, "n", 2, u64::MAX, Some(&phone))
            .await
            .unwrap(),
        Ok(2)
    );
    assert!(matches!(
        set("never", sha256_hex(b"never")).await,
        Err(StoreError::SessionEnded)
    ));
    assert_eq!(kv.get(lan, "never").await.unwrap(), None);

    // Signed out: nothing lands for the session, a set nor a count.
    assert!(id.delete_session(&phone).await.unwrap());
    assert!(matches!(
        set("after", phone.clone()).await,
        Err(StoreError::SessionEnded)
    ));
    assert!(matches!(
        kv.increment_deferred(lan, "n", 1, u64::MAX, Some(&phone))
            .await,
        Err(StoreError::SessionEnded)
    ));
    assert_eq!(kv.get(lan, "after").await.unwrap(), None);
    assert_eq!(kv.get(lan, "n").await.unwrap().as_deref(), Some(&b"2"[..]));
    // The host's own write names no session and lands.
    kv.write_deferred(lan, "host", KvWrite::Set(b"v"), u64::MAX, None)
        .await
        .unwrap()
        .unwrap();

    // Writes racing an erasure: each lands before the session ends (and
    // the pass that follows finds it) or not at all. Four writers, each on
    // a task of its own, write one key after another until refused; the
    // erasure ends the session meanwhile and lists the keys at once, as
    // its pass does.
    for round in 0..5u64 {
        let hash = sha256_hex(format!("session {round}").as_bytes());
        id.put_session(&hash, &session("c-lan")).await.unwrap();
        let first_landed = Arc::new(tokio::sync::Notify::new());
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let (kv, hash, first) = (store.kv.clone(), hash.clone(), first_landed.clone());
                tokio::spawn(async move {
                    let mut acknowledged = Vec::new();
                    for n in 0..100_000 {
                        let key = format!("r{round}-{writer}-{n:06}");
                        let set = KvWrite::Set(b"v");
                        match kv
                            .write_deferred(lan, &key, set, u64::MAX, Some(&hash))
                            .await
                        {
                            Ok(Ok(true)) => acknowledged.push(key),
                            Err(StoreError::SessionEnded) => return (acknowledged, key),
                            other => panic!("`{key}`: {other:?}"),
                        }
                        first.notify_one();
                    }
                    panic!("the session never ended")
                })
            })
            .collect();
        first_landed.notified().await;
        let began = 10_000 + round;
        id.erase_citizen("c-lan", &[], began).await.unwrap();
        let found = kv
            .list(lan, &format!("r{round}-"), None, 1_000_000)
            .await
            .unwrap()
            .keys
            .into_iter()
            .collect::<BTreeSet<_>>();
        for writer in writers {
            let (acknowledged, refused) = writer.await.unwrap();
            for key in acknowledged {
                assert!(
                    found.contains(&key),
                    "round {round}: `{key}` was acknowledged, and landed after the session ended"
                );
            }
            assert_eq!(
                kv.get(lan, &refused).await.unwrap(),
                None,
                "round {round}: `{refused}` was refused, yet stored"
            );
        }
        assert!(matches!(
            kv.write_deferred(lan, "late", KvWrite::Set(b"v"), u64::MAX, Some(&hash))
                .await,
            Err(StoreError::SessionEnded)
        ));
        id.erasure_finished("c-lan", began).await.unwrap();
    }
    assert_eq!(kv.get(lan, "late").await.unwrap(), None);
}

/// A consent, a position, an inbox message or an app's link written for a
/// citizen through their session, a frame token opened from it, and a
/// message sent through an app's link to them, land only while that
/// session or link is live: an erasure ends both, and nothing written
/// through them lands after it. The host's own writes name neither.
pub async fn identity_writes_land_only_while_their_session_or_link_is_live(store: Store) {
    let id = &store.identity;
    let phone = sha256_hex(b"phone");
    id.put_session(&phone, &session("c-lan")).await.unwrap();
    let by_phone = Some(Through::Session(&phone));
    let link = Some(Through::Link {
        app: "a",
        pairwise_id: "0a0a",
    });
    let consent = |scope: &str| ConsentRecord {
        app: "a".into(),
        scope: scope.into(),
        purpose: "to test".into(),
        granted_at: 1,
    };
    let message = |title: &str| InboxMessage {
        app: "a".into(),
        title: title.into(),
        body: String::new(),
        link: None,
        at: 1,
    };
    let far = now_ms() + 3_600_000;

    id.remember_pairwise("a", "0a0a", "c-lan", by_phone)
        .await
        .unwrap();
    id.put_consents("c-lan", &[consent("identity.phone")], by_phone)
        .await
        .unwrap();
    id.put_location("c-lan", &location(1, far), by_phone)
        .await
        .unwrap();
    id.inbox_append("c-lan", &message("own"), by_phone)
        .await
        .unwrap();
    id.inbox_append("c-lan", &message("to"), link)
        .await
        .unwrap();
    // A link names its own citizen and its own app only.
    for (citizen, app, pairwise_id) in [("c-minh", "a", "0a0a"), ("c-lan", "b", "0a0a")] {
        let other = Some(Through::Link { app, pairwise_id });
        assert!(matches!(
            id.inbox_append(citizen, &message("astray"), other).await,
            Err(StoreError::LinkEnded)
        ));
    }
    assert_eq!(id.inbox_since("c-minh", 0).await.unwrap(), []);
    assert_eq!(id.inbox_since("c-lan", 0).await.unwrap().len(), 2);

    let meetings = [("a".to_string(), "0a0a".to_string())];
    id.erase_citizen("c-lan", &meetings, 5_000).await.unwrap();
    let ended = |outcome: Result<(), StoreError>| {
        matches!(
            outcome,
            Err(StoreError::SessionEnded | StoreError::LinkEnded)
        )
    };
    assert!(ended(
        id.remember_pairwise("a", "0a0a", "c-lan", by_phone).await
    ));
    assert!(ended(
        id.put_consents("c-lan", &[consent("location")], by_phone)
            .await
    ));
    assert!(ended(
        id.put_location("c-lan", &location(2, far), by_phone).await
    ));
    assert!(ended(
        id.inbox_append("c-lan", &message("late"), by_phone).await
    ));
    assert!(matches!(
        id.inbox_append("c-lan", &message("late"), link).await,
        Err(StoreError::LinkEnded)
    ));
    // Nor does a frame token open from the ended session.
    let framed = frame("c-lan", "a", &phone, 1, u64::MAX / 2);
    assert!(matches!(
        id.open_frame("late-frame", &framed, 10).await,
        Err(StoreError::SessionEnded)
    ));
    assert_eq!(id.frame("late-frame").await.unwrap(), None);
    assert_eq!(id.pairwise_citizen("a", "0a0a").await.unwrap(), None);
    assert_eq!(id.consents("c-lan").await.unwrap(), []);
    assert_eq!(id.location("c-lan").await.unwrap(), None);
    assert_eq!(id.inbox_since("c-lan", 0).await.unwrap(), []);
    // The host's own write stands on nothing and lands.
    id.inbox_append("c-lan", &message("host"), None)
        .await
        .unwrap();
    assert_eq!(id.inbox_since("c-lan", 0).await.unwrap().len(), 1);
    id.erasure_finished("c-lan", 5_000).await.unwrap();

    // Messages through a link racing the erasure that ends it: the
    // erasure takes every one delivered, and none lands after.
    for round in 0..5u64 {
        id.remember_pairwise("a", "0a0a", "c-lan", None)
            .await
            .unwrap();
        let first_landed = Arc::new(tokio::sync::Notify::new());
        let senders: Vec<_> = (0..4)
            .map(|sender| {
                let (identity, first) = (store.identity.clone(), first_landed.clone());
                tokio::spawn(async move {
                    let link = Some(Through::Link {
                        app: "a",
                        pairwise_id: "0a0a",
                    });
                    for n in 0..100_000 {
                        let message = InboxMessage {
                            app: "a".into(),
                            title: format!("{round}-{sender}-{n}"),
                            body: String::new(),
                            link: None,
                            at: 1,
                        };
                        match identity.inbox_append("c-lan", &message, link).await {
                            Ok(()) => first.notify_one(),
                            Err(StoreError::LinkEnded) => return,
                            other => panic!("{other:?}"),
                        }
                    }
                    panic!("the link never went")
                })
            })
            .collect();
        first_landed.notified().await;
        let began = 6_000 + round;
        id.erase_citizen("c-lan", &meetings, began).await.unwrap();
        for sender in senders {
            sender.await.unwrap();
        }
        let left = id.inbox_since("c-lan", 0).await.unwrap();
        assert_eq!(left, [], "round {round}: delivered after the erasure");
        id.erasure_finished("c-lan", began).await.unwrap();
    }
}

/// Signing a citizen out everywhere ends, in one write, every session of
/// theirs (each announced ended) and their frame tokens, and nothing of
/// another citizen's, even one whose id starts with theirs.
pub async fn signing_out_everywhere_ends_their_sessions_only(store: Store) {
    let id = &store.identity;
    let mut changes = store.apps.changes();
    let (phone, laptop, other) = (sha256_hex(b"p"), sha256_hex(b"l"), sha256_hex(b"o"));
    for (citizen, hash) in [("c-lan", &phone), ("c-lan", &laptop), ("c-lan2", &other)] {
        id.put_session(hash, &session(citizen)).await.unwrap();
    }
    for (token, citizen, parent) in [("t-lan", "c-lan", &phone), ("t-other", "c-lan2", &other)] {
        id.open_frame(token, &frame(citizen, "a", parent, 1, u64::MAX / 2), 10)
            .await
            .unwrap();
    }
    let consent = ConsentRecord {
        app: "a".into(),
        scope: "identity.phone".into(),
        purpose: "to call you back".into(),
        granted_at: 1,
    };
    id.put_consents("c-lan", &[consent], None).await.unwrap();

    assert_eq!(
        id.end_sessions_of("c-lan").await.unwrap(),
        EndedSessions {
            sessions: 2,
            frames: 1
        }
    );
    assert_eq!(id.session(&phone).await.unwrap(), None);
    assert_eq!(id.session(&laptop).await.unwrap(), None);
    assert_eq!(opened(&store, "t-lan").await, None);
    assert_eq!(
        id.consents("c-lan").await.unwrap().len(),
        1,
        "only signed out"
    );
    assert_eq!(id.session(&other).await.unwrap(), Some(session("c-lan2")));
    assert!(opened(&store, "t-other").await.is_some());

    let mut heard = BTreeSet::new();
    while heard.len() < 2 {
        if let AppChange::SessionEnded(hash) = next_change(&mut changes).await {
            heard.insert(hash);
        }
    }
    assert_eq!(heard, BTreeSet::from([phone, laptop]));
    assert_eq!(
        id.end_sessions_of("c-lan").await.unwrap(),
        EndedSessions::default(),
        "nothing left to end"
    );
}

fn location(at: u64, expires: u64) -> LocationRecord {
    LocationRecord {
        lat: 16.4637,
        lon: 107.5909,
        accuracy_m: Some(12.5),
        at,
        expires,
    }
}

/// The sweep removes frame tokens and locations that expired, and nothing
/// live; a swept token no longer counts toward the citizen's bound.
pub async fn sweeping_removes_only_what_expired(store: Store) {
    let id = &store.identity;
    signed_in(&store, &[("c-lan", "s")]).await;
    let old = frame("c-lan", "a", "s", 1, 100);
    let live = frame("c-lan", "b", "s", 2, 300);
    let minh_old = frame("c-minh", "a", "s", 1, 150);
    id.open_frame("old", &old, 2).await.unwrap();
    id.open_frame("live", &live, 2).await.unwrap();
    id.open_frame("minh-old", &minh_old, 2).await.unwrap();
    id.put_location("c-lan", &location(1, 100_000), None)
        .await
        .unwrap();
    id.put_location("c-minh", &location(1, 300_000), None)
        .await
        .unwrap();
    let session = |expires| SessionRecord {
        citizen_id: "c-lan".into(),
        created: 1,
        expires,
        profile: None,
    };
    id.put_session("ended", &session(120)).await.unwrap();
    id.put_session("current", &session(250)).await.unwrap();

    assert_eq!(
        id.sweep_expired(50, 50_000).await.unwrap(),
        0,
        "nothing yet"
    );
    assert_eq!(id.sweep_expired(200, 200_000).await.unwrap(), 4);
    assert_eq!(id.session("ended").await.unwrap(), None);
    assert_eq!(id.session("current").await.unwrap(), Some(session(250)));
    assert_eq!(opened(&store, "old").await, None);
    assert_eq!(opened(&store, "minh-old").await, None);
    assert_eq!(opened(&store, "live").await, Some(live.clone()));
    assert_eq!(id.frame_count().await.unwrap(), 1);
    assert_eq!(id.location("c-lan").await.unwrap(), None);
    assert_eq!(
        id.location("c-minh").await.unwrap(),
        Some(location(1, 300_000))
    );
    assert_eq!(
        id.sweep_expired(200, 200_000).await.unwrap(),
        0,
        "swept once"
    );

    // The swept token is gone from the citizen's count: one live + one new.
    let new = frame("c-lan", "c", "s", 3, 400);
    assert_eq!(id.open_frame("new", &new, 2).await.unwrap(), 0);
    assert_eq!(opened(&store, "live").await, Some(live));
    assert_eq!(id.close_frames_of_session("c-lan", "s").await.unwrap(), 2);

    // The two sessions (the frames' and `current`) and Minh's position.
    assert_eq!(id.sweep_expired(u64::MAX, u64::MAX).await.unwrap(), 3);
    assert_eq!(id.session("current").await.unwrap(), None);
    assert_eq!(id.location("c-minh").await.unwrap(), None);
    assert_eq!(id.frame_count().await.unwrap(), 0);
}

/// A citizen's last position replaces the one before and can be forgotten.
pub async fn locations_are_kept_replaced_and_forgotten(store: Store) {
    let id = &store.identity;
    assert_eq!(id.location("c-lan").await.unwrap(), None);
    id.put_location("c-lan", &location(1, 10), None)
        .await
        .unwrap();
    let newer = LocationRecord {
        lat: 10.7769,
        lon: 106.7009,
        accuracy_m: None,
        at: 5,
        expires: 50,
    };
    id.put_location("c-lan", &newer, None).await.unwrap();
    id.put_location("c-minh", &location(2, 20), None)
        .await
        .unwrap();
    assert_eq!(id.location("c-lan").await.unwrap(), Some(newer));
    assert_eq!(id.location("c-la").await.unwrap(), None);
    assert!(id.delete_location("c-lan").await.unwrap());
    assert!(!id.delete_location("c-lan").await.unwrap());
    assert_eq!(id.location("c-lan").await.unwrap(), None);
    assert_eq!(id.location("c-minh").await.unwrap(), Some(location(2, 20)));
}

// ----------------------------------------------------------------- ledger

/// (app, citizen, reference) names one intent: a retry gets it back, another
/// citizen's same reference is a new intent, so is another app's.
pub async fn intents_are_idempotent_per_citizen_reference(store: Store) {
    let ledger = &store.ledger;
    let create = |i: IntentRecord| async move { ledger.create_intent(&i, 10).await.unwrap() };
    let lan = create(intent("pi_lan", "c-lan", "order-7")).await.unwrap();
    assert_eq!(lan, intent("pi_lan", "c-lan", "order-7"));
    let minh = create(intent("pi_minh", "c-minh", "order-7"))
        .await
        .unwrap();
    assert_eq!(minh.id, "pi_minh", "another citizen's reference is new");
    // A retry names the citizen's own intent, whatever else it says.
    let mut retry = intent("pi_other", "c-minh", "order-7");
    retry.amount = 99;
    let again = create(retry).await.unwrap();
    assert_eq!(again, intent("pi_minh", "c-minh", "order-7"));
    assert_eq!(ledger.intent("pi_other").await.unwrap(), None);
    let mut elsewhere = intent("pi_else", "c-lan", "order-7");
    elsewhere.app = "market".into();
    assert_eq!(create(elsewhere.clone()).await.unwrap(), elsewhere);

    assert_eq!(ledger.intent("pi_lan").await.unwrap(), Some(lan));
    assert_eq!(ledger.intent("pi_minh").await.unwrap(), Some(minh));
    assert_eq!(ledger.intent("pi_nobody").await.unwrap(), None);
    assert_eq!(ledger.intents().await.unwrap().len(), 3);

    // A decided intent still holds its reference.
    ledger.step("pi_lan", None, &cancel).await.unwrap().unwrap();
    let after = create(intent("pi_lan_new", "c-lan", "order-7"))
        .await
        .unwrap();
    assert_eq!(after.id, "pi_lan");
    assert_eq!(after.status, IntentStatus::Cancelled);

    // Concurrent retries of one new reference make one intent.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let ledger = store.ledger.clone();
        tasks.push(tokio::spawn(async move {
            ledger
                .create_intent(&intent(&format!("pi_race{i}"), "c-race", "order-1"), 10)
                .await
                .unwrap()
                .unwrap()
                .id
        }));
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        ids.insert(task.await.expect("a creating task"));
    }
    assert_eq!(ids.len(), 1, "every retry got the one intent: {ids:?}");
    assert_eq!(
        store
            .ledger
            .citizen_intents("c-race", None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// A citizen holds at most `max_pending` unexpired pending intents of an
/// app; expired and decided ones do not count, nor other citizens' or apps'.
pub async fn pending_intents_are_bounded_per_citizen(store: Store) {
    let ledger = &store.ledger;
    let create = |i: IntentRecord| async move { ledger.create_intent(&i, 2).await.unwrap() };
    create(intent("pi_lan", "c-lan", "order-7")).await.unwrap();
    create(intent("pi_minh", "c-minh", "order-7"))
        .await
        .unwrap();
    create(intent("pi_lan2", "c-lan", "order-8")).await.unwrap();
    assert_eq!(
        create(intent("pi_lan3", "c-lan", "order-9")).await,
        Err(LedgerRefusal::TooManyPending(2))
    );
    assert_eq!(
        ledger.intent("pi_lan3").await.unwrap(),
        None,
        "nothing written"
    );
    // Another app's intents count toward their own bound.
    let mut elsewhere = intent("pi_lan_m", "c-lan", "order-9");
    elsewhere.app = "market".into();
    create(elsewhere).await.unwrap();
    // A retry of a held reference is no new intent, so not refused.
    assert_eq!(
        create(intent("x", "c-lan", "order-8")).await.unwrap().id,
        "pi_lan2"
    );

    // An expired intent no longer counts; a decided one neither.
    let mut expired = intent("pi_old", "c-minh", "order-1");
    expired.expires_at = now_ms().saturating_sub(1_000);
    create(expired).await.unwrap();
    create(intent("pi_minh2", "c-minh", "order-2"))
        .await
        .unwrap();
    assert_eq!(
        create(intent("pi_minh3", "c-minh", "order-3")).await,
        Err(LedgerRefusal::TooManyPending(2))
    );
    ledger.step("pi_lan", None, &cancel).await.unwrap().unwrap();
    create(intent("pi_lan3", "c-lan", "order-9")).await.unwrap();
    assert_eq!(
        create(intent("pi_lan4", "c-lan", "order-10")).await,
        Err(LedgerRefusal::TooManyPending(2))
    );
    // Captured frees a slot too.
    fund(&store, "wallet:c-lan", 100_000).await;
    ledger
        .step("pi_lan2", None, &capture("wallet:c-lan".into()))
        .await
        .unwrap()
        .unwrap();
    create(intent("pi_lan4", "c-lan", "order-10"))
        .await
        .unwrap();

    // Concurrent creations for one citizen never pass the bound.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let ledger = store.ledger.clone();
        tasks.push(tokio::spawn(async move {
            ledger
                .create_intent(
                    &intent(&format!("pi_rush{i}"), "c-rush", &format!("rush-{i}")),
                    3,
                )
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.expect("a creating task") {
            Ok(_) => created += 1,
            Err(refusal) => assert_eq!(refusal, LedgerRefusal::TooManyPending(3)),
        }
    }
    assert_eq!(created, 3, "exactly the bound was created");
    assert_eq!(
        store
            .ledger
            .citizen_intents("c-rush", None, 20)
            .await
            .unwrap()
            .len(),
        3
    );
}

/// Confirm and cancel race on the same intents, over and over: exactly one
/// step wins each intent, the losers write nothing, money is conserved and
/// the wallet (funded for half of them) never goes below zero.
pub async fn confirm_and_cancel_race_with_exactly_one_winner(store: Store) {
    const INTENTS: usize = 48;
    const AMOUNT: u64 = 10_000;
    let funds = (INTENTS as i64 / 2) * AMOUNT as i64;
    fund(&store, "wallet:c-lan", funds).await;
    for i in 0..INTENTS {
        let mut pending = intent(&format!("pi_{i:02}"), "c-lan", &format!("order-{i}"));
        pending.amount = AMOUNT;
        pending.created_at = i as u64 + 1;
        store
            .ledger
            .create_intent(&pending, INTENTS)
            .await
            .unwrap()
            .unwrap();
    }
    let postings_before = store.ledger.postings().await.unwrap().len();

    // For every intent, two confirms and two cancels at once.
    let mut tasks = Vec::new();
    for i in 0..INTENTS {
        for kind in ["confirm", "cancel", "confirm", "cancel"] {
            let ledger = store.ledger.clone();
            let id = format!("pi_{i:02}");
            tasks.push(tokio::spawn(async move {
                let outcome = if kind == "confirm" {
                    ledger
                        .step(&id, None, &capture("wallet:c-lan".into()))
                        .await
                } else {
                    ledger.step(&id, None, &cancel).await
                };
                (id, kind, outcome.expect("the store answers"))
            }));
        }
    }
    let mut winners: BTreeMap<String, Vec<(&str, IntentRecord)>> = BTreeMap::new();
    for task in tasks {
        let (id, kind, outcome) = task.await.expect("a stepping task");
        match outcome {
            Ok(record) => winners.entry(id).or_default().push((kind, record)),
            Err(LedgerRefusal::Rule(rule)) => assert_eq!(rule, "not_pending"),
            Err(LedgerRefusal::InsufficientFunds { account, balance }) => {
                assert_eq!(account, "wallet:c-lan");
                assert!(
                    (0..AMOUNT as i64).contains(&balance),
                    "refused only when short: {balance}"
                );
            }
            Err(other) => panic!("{id}: unexpected refusal {other:?}"),
        }
    }
    let mut captured = 0u64;
    for i in 0..INTENTS {
        let id = format!("pi_{i:02}");
        let won = winners.get(&id).map_or(&[][..], Vec::as_slice);
        assert_eq!(won.len(), 1, "{id}: exactly one step wins, not {won:?}");
        let (kind, record) = &won[0];
        let stored = store.ledger.intent(&id).await.unwrap().expect("the intent");
        assert_eq!(
            &stored, record,
            "{id}: the winner's record is what is stored"
        );
        let expected = if *kind == "confirm" {
            IntentStatus::Captured
        } else {
            IntentStatus::Cancelled
        };
        assert_eq!(stored.status, expected, "{id}");
        if stored.status == IntentStatus::Captured {
            captured += 1;
        }
    }
    assert!(captured as i64 * AMOUNT as i64 <= funds);
    assert_eq!(
        store.ledger.balance("wallet:c-lan").await.unwrap(),
        Some(funds - (captured * AMOUNT) as i64)
    );
    let fee = (AMOUNT / 100) as i64;
    assert_eq!(
        store
            .ledger
            .balance("merchant:shop-publisher")
            .await
            .unwrap(),
        (captured > 0).then_some(captured as i64 * (AMOUNT as i64 - fee))
    );
    let postings = store.ledger.postings().await.unwrap();
    assert_eq!(
        postings.len(),
        postings_before + 3 * captured as usize,
        "only the captures posted"
    );
    for i in 0..INTENTS {
        let id = format!("pi_{i:02}");
        let own = postings
            .iter()
            .filter(|p| p.intent.as_deref() == Some(id.as_str()))
            .count();
        let status = store.ledger.intent(&id).await.unwrap().unwrap().status;
        assert_eq!(
            own,
            if status == IntentStatus::Captured {
                3
            } else {
                0
            },
            "{id}"
        );
    }
    assert_eq!(
        store.ledger.outbox().await.unwrap().len(),
        INTENTS,
        "one hook event per intent: the losers queued nothing"
    );
    assert_ledger_balanced(&store).await;
}

/// A `once` key (a provider's payment reference) is used once: a replay is
/// refused before the step runs, even when racing; a refused step leaves
/// its key unused.
pub async fn a_once_key_is_used_once_even_under_a_race(store: Store) {
    let ledger = &store.ledger;
    for i in 0..10 {
        ledger
            .create_intent(&intent(&format!("pi_{i}"), "c-lan", &format!("o-{i}")), 20)
            .await
            .unwrap()
            .unwrap();
    }
    let paid = capture("provider:vnpay".into());
    let first = ledger
        .step("pi_0", Some("webhook:vnpay:1"), &paid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status, IntentStatus::Captured);
    // The same payment reported again, for the same intent or another.
    assert_eq!(
        ledger
            .step("pi_0", Some("webhook:vnpay:1"), &paid)
            .await
            .unwrap(),
        Err(LedgerRefusal::Replayed("webhook:vnpay:1".into()))
    );
    assert_eq!(
        ledger
            .step("pi_1", Some("webhook:vnpay:1"), &paid)
            .await
            .unwrap(),
        Err(LedgerRefusal::Replayed("webhook:vnpay:1".into()))
    );
    assert_eq!(
        ledger.intent("pi_1").await.unwrap().unwrap().status,
        IntentStatus::Pending
    );
    // A step refused by its own rule does not use the key up.
    assert_eq!(
        ledger
            .step("pi_0", Some("webhook:vnpay:2"), &paid)
            .await
            .unwrap(),
        Err(LedgerRefusal::Rule("not_pending".into()))
    );
    ledger
        .step("pi_1", Some("webhook:vnpay:2"), &paid)
        .await
        .unwrap()
        .unwrap();
    // Nor does a step on no intent.
    assert_eq!(
        ledger
            .step("pi_nobody", Some("webhook:vnpay:3"), &paid)
            .await
            .unwrap(),
        Err(LedgerRefusal::NoSuchIntent)
    );

    // One payment reported to eight intents at once pays one of them.
    let mut tasks = Vec::new();
    for i in 2..10 {
        let ledger = store.ledger.clone();
        tasks.push(tokio::spawn(async move {
            ledger
                .step(
                    &format!("pi_{i}"),
                    Some("webhook:vnpay:3"),
                    &capture("provider:vnpay".into()),
                )
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.expect("a replaying task") {
            Ok(record) => {
                assert_eq!(record.status, IntentStatus::Captured);
                won += 1;
            }
            Err(refusal) => {
                assert_eq!(refusal, LedgerRefusal::Replayed("webhook:vnpay:3".into()));
            }
        }
    }
    assert_eq!(won, 1, "the payment counted once");
    let captured = ledger
        .intents()
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.status == IntentStatus::Captured)
        .count();
    assert_eq!(captured, 3);
    assert_eq!(
        ledger.balance("provider:vnpay").await.unwrap(),
        Some(-30_000),
        "a provider account may go below zero"
    );
    assert_ledger_balanced(&store).await;
}

/// Reconciliation reads the ledger while payments go on: each snapshot is
/// one moment — its balances are its postings' sums, and an intent is
/// captured in it exactly when its capture's postings are.
pub async fn a_ledger_snapshot_is_one_moment_while_payments_go_on(store: Store) {
    const PAYMENTS: usize = 40;
    fund(&store, "wallet:c-lan", 1_000_000).await;
    pending_intents(&store, "c-lan", PAYMENTS, 1_000).await;
    let paying = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..PAYMENTS {
                store
                    .ledger
                    .step(&format!("pi_{n}"), None, &capture("wallet:c-lan".into()))
                    .await
                    .unwrap()
                    .unwrap();
            }
        })
    };
    let mut snapshots = 0;
    loop {
        let finished = paying.is_finished();
        let snapshot = store.ledger.whole_ledger().await.unwrap();
        let mut posted: BTreeMap<&str, i64> = BTreeMap::new();
        for posting in &snapshot.postings {
            *posted.entry(&posting.account).or_default() += posting.amount;
        }
        for (account, balance) in &snapshot.balances {
            assert_eq!(
                posted.get(account.as_str()).copied().unwrap_or(0),
                *balance,
                "{account} in snapshot {snapshots}"
            );
        }
        let captured = snapshot
            .intents
            .iter()
            .filter(|i| i.status == IntentStatus::Captured)
            .count();
        let capture_postings = snapshot
            .postings
            .iter()
            .filter(|p| p.account == "city:fees")
            .count();
        assert_eq!(captured, capture_postings, "snapshot {snapshots}");
        snapshots += 1;
        if finished {
            assert_eq!(captured, PAYMENTS);
            break;
        }
    }
    paying.await.unwrap();
}

/// A demo wallet is opened with its seed the first time it is used: two
/// payments starting at once must not both seed it.
pub async fn an_account_is_opened_once_under_a_race(store: Store) {
    let seed = [
        ("city:demo-issuance".to_string(), -5_000),
        ("wallet:c-lan".to_string(), 5_000),
    ];
    const OPENERS: usize = 32;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(OPENERS));
    let openers: Vec<_> = (0..OPENERS)
        .map(|_| {
            let (store, seed, start) = (store.clone(), seed.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                store
                    .ledger
                    .open_account("wallet:c-lan", &seed)
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    let mut opened = 0;
    for opener in openers {
        opened += usize::from(opener.await.unwrap());
    }
    assert_eq!(opened, 1, "opened once");
    let ledger = &store.ledger;
    assert_eq!(ledger.balance("wallet:c-lan").await.unwrap(), Some(5_000));
    assert_eq!(
        ledger.balance("city:demo-issuance").await.unwrap(),
        Some(-5_000)
    );
    assert_eq!(ledger.postings().await.unwrap().len(), 2);
    // An account that exists, with any balance, is not opened again.
    fund(&store, "wallet:c-minh", 1).await;
    assert_eq!(
        ledger.open_account("wallet:c-minh", &seed).await.unwrap(),
        Ok(false)
    );
    // An unbalanced opening is refused and writes nothing.
    let unbalanced = [("wallet:c-an".to_string(), 10)];
    assert!(matches!(
        ledger
            .open_account("wallet:c-an", &unbalanced)
            .await
            .unwrap(),
        Err(LedgerRefusal::Rule(_))
    ));
    assert_eq!(ledger.balance("wallet:c-an").await.unwrap(), None);
}

/// A citizen's first two payments at once (two tabs, two hosts), each
/// seeding the wallet it finds unused inside its step: one seeds it, the
/// other sees the seeded wallet.
pub async fn a_wallet_seeded_by_racing_steps_is_seeded_once(store: Store) {
    const SEED: i64 = 5_000;
    const PAYMENTS: usize = 8;
    pending_intents(&store, "c-new", PAYMENTS, 100).await;
    let seeding_capture = |intent: &mut IntentRecord, balance: &BalanceReader| {
        let mut step = capture("wallet:c-new".into())(intent, balance)?;
        if balance("wallet:c-new").is_none() {
            step.postings
                .insert(0, ("city:demo-issuance".into(), -SEED));
            step.postings.insert(1, ("wallet:c-new".into(), SEED));
        }
        Ok(step)
    };
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(PAYMENTS));
    let payments: Vec<_> = (0..PAYMENTS)
        .map(|n| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                store
                    .ledger
                    .step(&format!("pi_{n}"), None, &seeding_capture)
                    .await
                    .unwrap()
                    .unwrap();
            })
        })
        .collect();
    for payment in payments {
        payment.await.unwrap();
    }
    let ledger = &store.ledger;
    assert_eq!(
        ledger.balance("city:demo-issuance").await.unwrap(),
        Some(-SEED),
        "seeded once"
    );
    assert_eq!(
        ledger.balance("wallet:c-new").await.unwrap(),
        Some(SEED - 100 * PAYMENTS as i64)
    );
}

/// `post` moves balanced money only, never overdraws a wallet, and writes
/// nothing when refused; a step's postings are held to the same rules.
pub async fn postings_refuse_overdraft_and_imbalance(store: Store) {
    let ledger = &store.ledger;
    assert_eq!(ledger.balance("wallet:c-lan").await.unwrap(), None);
    assert!(ledger.balances().await.unwrap().is_empty());
    fund(&store, "wallet:c-lan", 100).await;
    assert_eq!(ledger.balance("wallet:c-lan").await.unwrap(), Some(100));
    assert_eq!(ledger.balance("city:issuance").await.unwrap(), Some(-100));
    let postings = ledger.postings().await.unwrap();
    assert_eq!(postings.len(), 2);
    assert_eq!(postings[0].tx, postings[1].tx, "one transaction");
    assert!(postings.iter().all(|p| p.intent.is_none()));

    let overdraft = ledger
        .post(&[("wallet:c-lan".into(), -150), ("merchant:m".into(), 150)])
        .await
        .unwrap();
    assert_eq!(
        overdraft,
        Err(LedgerRefusal::InsufficientFunds {
            account: "wallet:c-lan".into(),
            balance: 100
        })
    );
    // Paying out of a wallet never used overdraws it too.
    assert!(matches!(
        ledger
            .post(&[("wallet:c-nobody".into(), -1), ("merchant:m".into(), 1)])
            .await
            .unwrap(),
        Err(LedgerRefusal::InsufficientFunds { .. })
    ));
    let unbalanced = ledger
        .post(&[("city:issuance".into(), -50), ("wallet:c-lan".into(), 60)])
        .await
        .unwrap();
    assert!(
        matches!(unbalanced, Err(LedgerRefusal::Rule(_))),
        "{unbalanced:?}"
    );
    assert_eq!(ledger.postings().await.unwrap().len(), 2, "nothing written");
    assert_eq!(ledger.balance("wallet:c-lan").await.unwrap(), Some(100));
    assert_eq!(ledger.balance("merchant:m").await.unwrap(), None);
    assert_eq!(ledger.balance("wallet:c-nobody").await.unwrap(), None);

    // Exactly the whole balance may go.
    ledger
        .post(&[("wallet:c-lan".into(), -100), ("merchant:m".into(), 100)])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ledger.balance("wallet:c-lan").await.unwrap(), Some(0));

    // A step's postings: an overdraft refuses the whole step.
    let mut pending = intent("pi_1", "c-lan", "order-1");
    pending.amount = 500;
    ledger.create_intent(&pending, 5).await.unwrap().unwrap();
    assert_eq!(
        ledger
            .step("pi_1", None, &capture("wallet:c-lan".into()))
            .await
            .unwrap(),
        Err(LedgerRefusal::InsufficientFunds {
            account: "wallet:c-lan".into(),
            balance: 0
        })
    );
    assert_eq!(ledger.intent("pi_1").await.unwrap(), Some(pending.clone()));
    assert!(ledger.outbox().await.unwrap().is_empty(), "no event queued");
    // An unbalanced step is refused whole as well.
    let lopsided =
        |intent: &mut IntentRecord, _: &BalanceReader| -> Result<LedgerStep, LedgerRefusal> {
            intent.status = IntentStatus::Captured;
            Ok(LedgerStep {
                postings: vec![("merchant:m".into(), 10)],
                notify_app: true,
                provider_refund: None,
            })
        };
    assert!(matches!(
        ledger.step("pi_1", None, &lopsided).await.unwrap(),
        Err(LedgerRefusal::Rule(_))
    ));
    assert_eq!(ledger.intent("pi_1").await.unwrap(), Some(pending));
    // The step sees balances as they are inside its transaction.
    fund(&store, "wallet:c-lan", 600).await;
    let seen = std::sync::Mutex::new(None);
    ledger
        .step("pi_1", None, &|intent, balance| {
            *seen.lock().unwrap() = Some((balance("wallet:c-lan"), balance("wallet:c-nobody")));
            capture("wallet:c-lan".into())(intent, balance)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some((Some(600), None)));
    assert_eq!(ledger.balance("wallet:c-lan").await.unwrap(), Some(100));
    let mut balances = ledger.balances().await.unwrap();
    balances.sort();
    assert_eq!(
        balances,
        vec![
            ("city:fees".to_string(), 5),
            ("city:issuance".to_string(), -700),
            ("merchant:m".to_string(), 100),
            ("merchant:shop-publisher".to_string(), 495),
            ("wallet:c-lan".to_string(), 100),
        ]
    );
    assert_ledger_balanced(&store).await;
}

/// A citizen's history reads newest first, a page at a time after a
/// cursor, and never holds another citizen's intents.
pub async fn citizen_intents_page_newest_first(store: Store) {
    let ledger = &store.ledger;
    // c-lan's intents, created out of order, two at the same millisecond;
    // others' interleaved (c-lan2 shares c-lan's prefix).
    let mut expected = Vec::new();
    for (n, (citizen, created_at)) in [
        ("c-lan", 30),
        ("c-minh", 35),
        ("c-lan", 10),
        ("c-lan2", 20),
        ("c-lan", 50),
        ("c-lan", 30),
        ("c-la", 40),
        ("c-lan", 40),
        ("c-lan", 20),
        ("c-minh", 5),
        ("c-lan", 60),
    ]
    .into_iter()
    .enumerate()
    {
        let mut record = intent(&format!("pi_{n:02}"), citizen, &format!("o-{n}"));
        record.created_at = created_at;
        ledger.create_intent(&record, 100).await.unwrap().unwrap();
        if citizen == "c-lan" {
            expected.push(record);
        }
    }
    expected.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));

    let all = ledger.citizen_intents("c-lan", None, 100).await.unwrap();
    assert_eq!(all, expected, "newest first, only c-lan's");
    let mut paged = Vec::new();
    let mut cursor: Option<HistoryCursor> = None;
    loop {
        let page = ledger
            .citizen_intents("c-lan", cursor.as_ref(), 3)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        cursor = Some(HistoryCursor {
            created_at: last.created_at,
            id: last.id.clone(),
        });
        paged.extend(page);
    }
    assert_eq!(paged, expected, "pages cover the history exactly once");
    assert_eq!(
        ledger.citizen_intents("c-lan", None, 2).await.unwrap(),
        expected[..2]
    );
    assert!(ledger
        .citizen_intents("c-nobody", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(ledger
        .citizen_intents("c-lan", None, 0)
        .await
        .unwrap()
        .is_empty());
    let minh: Vec<String> = ledger
        .citizen_intents("c-minh", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(minh, ["pi_01", "pi_09"]);
    // A step changes what the history shows, not where it is.
    ledger.step("pi_00", None, &cancel).await.unwrap().unwrap();
    let all = ledger.citizen_intents("c-lan", None, 100).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    let expected_ids: Vec<&str> = expected.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, expected_ids);
    assert!(all
        .iter()
        .any(|i| i.id == "pi_00" && i.status == IntentStatus::Cancelled));

    // `intents` is every intent, oldest first.
    let created: Vec<u64> = ledger
        .intents()
        .await
        .unwrap()
        .iter()
        .map(|i| i.created_at)
        .collect();
    assert_eq!(created.len(), 11);
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
}

/// Takers racing to claim one due entry (hosts sharing the store): exactly
/// one wins; the entry then falls due at the lease's end, and a claim on a
/// stale due time or a missing key wins nothing.
pub async fn an_outbox_entry_is_claimed_by_one_taker(store: Store) {
    let ledger = &store.ledger;
    let entry = OutboxEntry {
        key: "pi_1:0000000000000001".into(),
        intent: "pi_1".into(),
        app: "shop".into(),
        attempts: 0,
        next_at: 1_000,
        refund: None,
    };
    ledger
        .outbox_update(&entry.key, Some(&entry))
        .await
        .unwrap();
    let mut takers = Vec::new();
    for _ in 0..8 {
        let ledger = ledger.clone();
        let key = entry.key.clone();
        takers.push(tokio::spawn(async move {
            ledger.outbox_claim(&key, 1_000, 60_000).await.unwrap()
        }));
    }
    let mut won = 0;
    for taker in takers {
        won += usize::from(taker.await.expect("a taker"));
    }
    assert_eq!(won, 1, "one taker delivers");
    assert!(ledger.outbox_due(59_999, 10).await.unwrap().is_empty());
    let leased = ledger.outbox_due(60_000, 10).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!((leased[0].next_at, leased[0].attempts), (60_000, 0));
    assert!(!ledger
        .outbox_claim(&entry.key, 1_000, 90_000)
        .await
        .unwrap());
    assert!(!ledger.outbox_claim("pi_9:0", 1_000, 90_000).await.unwrap());
    // The lease over, another taker may claim it again.
    assert!(ledger
        .outbox_claim(&entry.key, 60_000, 120_000)
        .await
        .unwrap());
}

/// A step that refunds through a provider queues, in its transaction, the
/// provider's entry (naming the refund) beside the app's event; a payment
/// returned to its provider is recorded and queued alone, and keeps its kind.
pub async fn a_provider_refund_is_queued_with_the_apps_event(store: Store) {
    let ledger = &store.ledger;
    let refund = OutboxRefund {
        provider: "momo".into(),
        reference: "r-1".into(),
        amount: 4_000,
        returns_payment: false,
    };
    ledger
        .create_intent(&intent("pi_1", "c-lan", "o-1"), 5)
        .await
        .unwrap()
        .unwrap();
    ledger
        .step(
            "pi_1",
            None,
            &|intent: &mut IntentRecord, _: &BalanceReader| {
                intent.status = IntentStatus::Refunded;
                Ok(LedgerStep {
                    postings: Vec::new(),
                    notify_app: true,
                    provider_refund: Some(refund.clone()),
                })
            },
        )
        .await
        .unwrap()
        .unwrap();
    let mut queued: Vec<(String, Option<OutboxRefund>)> = ledger
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.intent, e.refund))
        .collect();
    queued.sort_by_key(|(_, refund)| refund.is_some());
    assert_eq!(
        queued,
        [("pi_1".into(), None), ("pi_1".into(), Some(refund.clone()))]
    );
    let keys: BTreeSet<String> = ledger
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(keys.len(), 2, "each entry has a key of its own");

    let returned = OutboxRefund {
        reference: "momo-twice".into(),
        returns_payment: true,
        ..refund.clone()
    };
    let record = ReturnedPayment {
        payment_ref: "momo-twice".into(),
        amount: 4_000,
        at: 7,
        provider: ProviderRefund {
            name: "momo".into(),
            acknowledged_at: None,
            settled_by: None,
            sending_until: None,
        },
    };
    ledger
        .step(
            "pi_1",
            None,
            &|intent: &mut IntentRecord, _: &BalanceReader| {
                intent.returned.push(record.clone());
                Ok(LedgerStep {
                    provider_refund: Some(returned.clone()),
                    ..LedgerStep::default()
                })
            },
        )
        .await
        .unwrap()
        .unwrap();
    let queued: Vec<OutboxRefund> = ledger
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.refund)
        .collect();
    assert_eq!(queued.len(), 2, "no app event for a returned payment");
    assert!(queued.contains(&returned), "{queued:?}");
    let stored = ledger.intent("pi_1").await.unwrap().unwrap();
    assert_eq!(stored.returned, [record]);
    let owed = stored.owed("momo-twice", true).expect("its record");
    assert_eq!(
        (owed.provider.acknowledged_at, owed.amount, owed.payment_ref),
        (None, 4_000, Some("momo-twice"))
    );
    assert!(
        stored.owed("momo-twice", false).is_none(),
        "a refund of the same reference is another record"
    );
}

/// A step that tells the app queues an outbox entry; entries fall due in
/// order of their time and can be rescheduled or delivered (deleted).
pub async fn outbox_entries_fall_due_in_order(store: Store) {
    let ledger = &store.ledger;
    assert_eq!(ledger.outbox_next_due().await.unwrap(), None);
    assert!(ledger.outbox_due(u64::MAX, 10).await.unwrap().is_empty());
    ledger
        .create_intent(&intent("pi_1", "c-lan", "o-1"), 5)
        .await
        .unwrap()
        .unwrap();
    ledger
        .create_intent(&intent("pi_2", "c-lan", "o-2"), 5)
        .await
        .unwrap()
        .unwrap();
    let added = ledger.outbox_added();
    // A step that does not tell the app queues nothing.
    ledger
        .step("pi_2", None, &|_: &mut IntentRecord, _: &BalanceReader| {
            Ok(LedgerStep::default())
        })
        .await
        .unwrap()
        .unwrap();
    assert!(ledger.outbox().await.unwrap().is_empty());
    let before = now_ms();
    ledger.step("pi_1", None, &cancel).await.unwrap().unwrap();
    let after = now_ms();
    tokio::time::timeout(PATIENCE, added.notified())
        .await
        .expect("the delivery task is woken");
    let queued = ledger.outbox().await.unwrap();
    assert_eq!(queued.len(), 1);
    let event = queued[0].clone();
    assert_eq!(
        (event.intent.as_str(), event.app.as_str(), event.attempts),
        ("pi_1", "shop", 0)
    );
    assert!(
        (before..=after + 1_000).contains(&event.next_at),
        "due now: {} not in {before}..={after}",
        event.next_at
    );
    assert_eq!(
        ledger.outbox_due(after + 1_000, 10).await.unwrap(),
        vec![event.clone()]
    );
    assert_eq!(ledger.outbox_next_due().await.unwrap(), Some(event.next_at));

    // Entries due at chosen times (the event itself is due "now").
    let entry = |key: &str, next_at: u64| OutboxEntry {
        key: key.into(),
        intent: "pi_1".into(),
        app: "shop".into(),
        attempts: 1,
        next_at,
        refund: None,
    };
    ledger
        .outbox_update("e-100", Some(&entry("e-100", 100)))
        .await
        .unwrap();
    ledger
        .outbox_update("e-50", Some(&entry("e-50", 50)))
        .await
        .unwrap();
    ledger
        .outbox_update("e-late", Some(&entry("e-late", u64::MAX / 2)))
        .await
        .unwrap();
    ledger
        .outbox_update("e-100b", Some(&entry("e-100b", 100)))
        .await
        .unwrap();
    let keys =
        |entries: Vec<OutboxEntry>| -> Vec<String> { entries.into_iter().map(|e| e.key).collect() };
    assert_eq!(
        keys(ledger.outbox_due(1_000, 10).await.unwrap()),
        ["e-50", "e-100", "e-100b"],
        "due ones, earliest first; not the future ones"
    );
    assert_eq!(
        keys(ledger.outbox_due(1_000, 2).await.unwrap()),
        ["e-50", "e-100"]
    );
    assert_eq!(keys(ledger.outbox_due(99, 10).await.unwrap()), ["e-50"]);
    assert!(ledger.outbox_due(49, 10).await.unwrap().is_empty());
    assert_eq!(ledger.outbox_next_due().await.unwrap(), Some(50));
    assert_eq!(
        keys(ledger.outbox().await.unwrap()),
        ["e-50", "e-100", "e-100b", event.key.as_str(), "e-late"]
    );

    // A failed delivery is rescheduled: it moves, and is not due twice.
    let mut retry = entry("e-50", 2_000);
    retry.attempts = 2;
    ledger.outbox_update("e-50", Some(&retry)).await.unwrap();
    assert_eq!(
        keys(ledger.outbox_due(1_000, 10).await.unwrap()),
        ["e-100", "e-100b"]
    );
    assert_eq!(
        ledger.outbox_due(2_000, 10).await.unwrap(),
        vec![entry("e-100", 100), entry("e-100b", 100), retry.clone()]
    );
    // Delivered ones are deleted; deleting twice is harmless.
    ledger.outbox_update("e-100", None).await.unwrap();
    ledger.outbox_update("e-100b", None).await.unwrap();
    ledger.outbox_update("e-100b", None).await.unwrap();
    ledger.outbox_update("e-nothing", None).await.unwrap();
    assert!(ledger.outbox_due(1_000, 10).await.unwrap().is_empty());
    assert_eq!(ledger.outbox_next_due().await.unwrap(), Some(2_000));
    ledger.outbox_update("e-50", None).await.unwrap();
    ledger.outbox_update(&event.key, None).await.unwrap();
    assert_eq!(ledger.outbox_next_due().await.unwrap(), Some(u64::MAX / 2));
    assert_eq!(keys(ledger.outbox().await.unwrap()), ["e-late"]);
    ledger.outbox_update("e-late", None).await.unwrap();
    assert_eq!(ledger.outbox_next_due().await.unwrap(), None);
    assert!(ledger.outbox().await.unwrap().is_empty());
}

// ------------------------------------------------------------------ audit

/// Appends get increasing sequence numbers; pages read forward from
/// `After` and backward from `Before`, filtered, and paging either way
/// covers every matching record exactly once.
pub async fn audit_pages_both_ways_cover_every_record_once(store: Store) {
    let audit = &store.audit;
    let all = AuditFilter::default();
    assert_eq!(
        audit.page(&all, AuditFrom::After(0), 10).await.unwrap(),
        (Vec::new(), false)
    );
    assert_eq!(
        audit
            .page(&all, AuditFrom::Before(u64::MAX), 10)
            .await
            .unwrap(),
        (Vec::new(), false)
    );
    let mut seqs = Vec::new();
    let mut written = Vec::new();
    for n in 0..30u64 {
        let kind = if n % 3 == 0 { "denial" } else { "grant" };
        let app = ["a", "b"][(n % 2) as usize];
        let capability = (n % 5 == 0).then_some("kv");
        let mut record = audit_record(kind, Some(app), capability);
        record.seq = 12_345; // ignored
        record.detail = format!("n{n}");
        // The structured detail round-trips, parameters and all.
        if n % 4 == 0 {
            let message = AuditMessage {
                code: "suspend".into(),
                params: Default::default(),
            };
            record.message = Some(message.with("reason", format!("bảo trì {n} \"{{live}}\"")));
        }
        let seq = audit.append(record.clone()).await.unwrap();
        record.seq = seq;
        seqs.push(seq);
        written.push(record);
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(seqs[0] > 0, "After(0) reads from the start");

    // Everything, forward and backward, in pages of 7 and of exactly 10.
    for limit in [7, 10, 30, 100] {
        assert_eq!(
            audit_pages(&store, &all, AuditFrom::After(0), limit).await,
            seqs
        );
        let mut backward = audit_pages(&store, &all, AuditFrom::Before(u64::MAX), limit).await;
        backward.reverse();
        assert_eq!(backward, seqs);
    }
    let (page, more) = audit.page(&all, AuditFrom::After(0), 30).await.unwrap();
    assert_eq!(page, written, "records read back as written");
    assert!(!more, "a page holding the rest says no more follow");
    let (page, more) = audit
        .page(&all, AuditFrom::Before(u64::MAX), 29)
        .await
        .unwrap();
    assert!(more);
    assert_eq!(page.first(), written.last());

    // From the middle, both ways.
    let mid = seqs[14];
    let (page, _) = audit.page(&all, AuditFrom::After(mid), 3).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs[15..18]);
    let (page, _) = audit.page(&all, AuditFrom::Before(mid), 3).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [seqs[13], seqs[12], seqs[11]]
    );
    assert_eq!(
        audit
            .page(&all, AuditFrom::After(seqs[29]), 5)
            .await
            .unwrap(),
        (Vec::new(), false)
    );
    assert_eq!(
        audit
            .page(&all, AuditFrom::Before(seqs[0]), 5)
            .await
            .unwrap(),
        (Vec::new(), false)
    );

    // Filters, alone and together, paged both ways.
    let filters = [
        AuditFilter {
            kind: Some("denial".into()),
            ..AuditFilter::default()
        },
        AuditFilter {
            app: Some("b".into()),
            ..AuditFilter::default()
        },
        AuditFilter {
            capability: Some("kv".into()),
            ..AuditFilter::default()
        },
        AuditFilter {
            kind: Some("grant".into()),
            app: Some("a".into()),
            capability: None,
        },
        AuditFilter {
            kind: Some("denial".into()),
            app: Some("a".into()),
            capability: Some("kv".into()),
        },
        AuditFilter {
            kind: Some("nothing".into()),
            ..AuditFilter::default()
        },
    ];
    for filter in &filters {
        let expected: Vec<u64> = written
            .iter()
            .filter(|r| filter.matches(r))
            .map(|r| r.seq)
            .collect();
        for limit in [1, 2, 4] {
            assert_eq!(
                audit_pages(&store, filter, AuditFrom::After(0), limit).await,
                expected,
                "{filter:?} forward by {limit}"
            );
            let mut backward =
                audit_pages(&store, filter, AuditFrom::Before(u64::MAX), limit).await;
            backward.reverse();
            assert_eq!(backward, expected, "{filter:?} backward by {limit}");
        }
    }
    // `more` looks past records that do not match.
    let denial_a_kv = &filters[4];
    let only: Vec<u64> = written
        .iter()
        .filter(|r| denial_a_kv.matches(r))
        .map(|r| r.seq)
        .collect();
    assert_eq!(only.len(), 1, "n0 only");
    let (page, more) = audit
        .page(denial_a_kv, AuditFrom::After(0), 1)
        .await
        .unwrap();
    assert_eq!((page.len(), more), (1, false));

    // Concurrent appends each get their own number.
    let mut tasks = Vec::new();
    for n in 0..16 {
        let audit = store.audit.clone();
        tasks.push(tokio::spawn(async move {
            let mut record = audit_record("sign-in", None, None);
            record.detail = format!("c{n}");
            audit.append(record).await.unwrap()
        }));
    }
    let mut concurrent = BTreeSet::new();
    for task in tasks {
        concurrent.insert(task.await.expect("an appending task"));
    }
    assert_eq!(concurrent.len(), 16);
    assert!(concurrent.iter().all(|seq| *seq > seqs[29]));
    let sign_ins = AuditFilter {
        kind: Some("sign-in".into()),
        ..AuditFilter::default()
    };
    let read: BTreeSet<u64> = audit_pages(&store, &sign_ins, AuditFrom::After(0), 5)
        .await
        .into_iter()
        .collect();
    assert_eq!(read, concurrent);
}

/// The records naming a citizen (by any of their pairwise ids) come newest
/// first, at most as many as asked, and none naming anyone else.
pub async fn audit_records_naming_a_citizen_come_newest_first(store: Store) {
    let audit = &store.audit;
    let theirs = ["pw-lan-a".to_string(), "pw-lan-b".to_string()];
    assert!(audit.naming(&theirs, 10).await.unwrap().is_empty());
    let mut naming_them = Vec::new();
    for n in 0..12u64 {
        let mut record = audit_record("consent", Some(["a", "b"][(n % 2) as usize]), None);
        record.detail = format!("n{n}");
        record.pairwise_id = match n % 4 {
            0 => Some("pw-lan-a".into()),
            1 => Some("pw-lan-b".into()),
            // Someone else, whose id starts with theirs; and no one.
            2 => Some("pw-lan-a2".into()),
            _ => None,
        };
        let named = matches!(n % 4, 0 | 1);
        record.seq = audit.append(record.clone()).await.unwrap();
        if named {
            naming_them.push(record);
        }
    }
    naming_them.reverse();
    assert_eq!(audit.naming(&theirs, 100).await.unwrap(), naming_them);
    assert_eq!(audit.naming(&theirs, 4).await.unwrap(), naming_them[..4]);
    assert_eq!(
        audit
            .naming(&["pw-lan-b".to_string()], 100)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(audit.naming(&[], 100).await.unwrap().is_empty());
    assert!(audit
        .naming(&["nobody".to_string()], 100)
        .await
        .unwrap()
        .is_empty());
}

// ------------------------------------------------------------ rate limits

/// `limit` takes in any window, then refusals naming when a slot frees;
/// a refusal takes nothing; keys are independent.
pub async fn rate_limits_allow_the_limit_per_window(store: Store) {
    let limits = &store.limits;
    for now in [1_000, 1_100, 1_200] {
        assert_eq!(limits.take("k", 3, 1_000, now).await.unwrap(), Ok(()));
    }
    let retry = limits
        .take("k", 3, 1_000, 1_300)
        .await
        .unwrap()
        .expect_err("the fourth in the window is refused");
    assert!(
        (1..=1_000).contains(&retry),
        "a positive wait within the window: {retry}"
    );
    // Refused again a moment later: the refusal took no slot.
    assert!(limits.take("k", 3, 1_000, 1_301).await.unwrap().is_err());
    // Another key has its own window.
    assert_eq!(limits.take("other", 3, 1_000, 1_300).await.unwrap(), Ok(()));
    // When the wait is over, one slot is free — one only.
    let freed = 1_300 + retry;
    assert_eq!(limits.take("k", 3, 1_000, freed).await.unwrap(), Ok(()));
    assert!(limits.take("k", 3, 1_000, freed).await.unwrap().is_err());
    // Long after, the whole limit again.
    for now in [10_000, 10_001, 10_002] {
        assert_eq!(limits.take("k", 3, 1_000, now).await.unwrap(), Ok(()));
    }
    assert!(limits.take("k", 3, 1_000, 10_003).await.unwrap().is_err());
    // A limit of one.
    assert_eq!(limits.take("one", 1, 500, 20_000).await.unwrap(), Ok(()));
    let wait = limits
        .take("one", 1, 500, 20_100)
        .await
        .unwrap()
        .unwrap_err();
    assert!((1..=500).contains(&wait), "{wait}");
    assert_eq!(
        limits.take("one", 1, 500, 20_100 + wait).await.unwrap(),
        Ok(())
    );
}

/// The sweep removes windows with no slot after its moment, and only
/// those; a forgotten window is gone, and starts afresh.
pub async fn idle_and_forgotten_rate_limit_windows_go(store: Store) {
    let limits = &store.limits;
    for (key, at) in [
        ("old", 1_000),
        ("old", 2_000),
        ("busy", 1_000),
        ("busy", 5_000),
    ] {
        assert_eq!(limits.take(key, 5, 10_000, at).await.unwrap(), Ok(()));
    }
    assert_eq!(
        limits.take("erased", 1, 10_000, 5_000).await.unwrap(),
        Ok(())
    );
    assert_eq!(limits.sweep_idle(2_000).await.unwrap(), 1);
    assert_eq!(limits.sweep_idle(2_000).await.unwrap(), 0);
    // "busy" kept both slots: five allowed, three left.
    for _ in 0..3 {
        assert_eq!(limits.take("busy", 5, 10_000, 5_001).await.unwrap(), Ok(()));
    }
    assert!(limits
        .take("busy", 5, 10_000, 5_001)
        .await
        .unwrap()
        .is_err());
    // "old" went: its whole limit again.
    for _ in 0..5 {
        assert_eq!(limits.take("old", 5, 10_000, 5_001).await.unwrap(), Ok(()));
    }
    assert!(limits
        .take("erased", 1, 10_000, 5_001)
        .await
        .unwrap()
        .is_err());
    let keys = ["erased".to_string(), "never-taken".to_string()];
    assert_eq!(limits.forget(&keys).await.unwrap(), 1);
    assert_eq!(
        limits.take("erased", 1, 10_000, 5_001).await.unwrap(),
        Ok(())
    );
    assert_eq!(limits.forget(&[]).await.unwrap(), 0);
}

/// 16 concurrent takers of one key at one moment: exactly `limit` succeed.
pub async fn rate_limits_hold_under_concurrent_takers(store: Store) {
    const LIMIT: usize = 5;
    for round in 0..3u64 {
        let now = 1_000_000 + round * 120_000;
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let limits = store.limits.clone();
            tasks.push(tokio::spawn(async move {
                limits.take("busy", LIMIT, 60_000, now).await.unwrap()
            }));
        }
        let mut taken = 0;
        for task in tasks {
            match task.await.expect("a taking task") {
                Ok(()) => taken += 1,
                Err(retry) => assert!((1..=60_000).contains(&retry), "{retry}"),
            }
        }
        assert_eq!(taken, LIMIT, "round {round}: exactly the limit was taken");
    }
}
