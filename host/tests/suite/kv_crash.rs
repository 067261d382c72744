//! State outlives the process: the real binary takes a concurrent load of kv
//! writes — app-wide and per citizen — from many writers and is killed with
//! SIGKILL at random moments, most of them within a few milliseconds of a
//! writer receiving its 2xx, thirty times over, restarting on the same data
//! dir. After every restart each acknowledged write is read back through the
//! app with its exact value, nothing the writers never sent is there, and the
//! app's kv quota usage is the size of what is stored.
//!
//! Usage is on no operator API nor in `/metrics`; the one place the host
//! tells it is the refusal of a write that would pass the quota ("the app
//! stores N bytes of its Q-byte quota"). So the check fills the app with
//! 1 MiB pad values until a write is refused, compares the N it reports with
//! what the read-back data (and the pads) add up to, and empties the pads.

use crate::common;

use common::KillableHost as Host;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const TOKEN: &str = "cit_op_kv_crash_test_token_0123456789";
const APP: &str = "vault";
const CITIZENS: usize = 8;
const WRITERS: usize = 32;
const KILLS: usize = 30;
/// The app's quota, small so that the pads reach it in a few writes.
const QUOTA_MIB: u64 = 8;
const MIB: usize = 1 << 20;
/// App-wide keys the usage check writes (and leaves empty).
const PAD: &str = "~pad-";

/// Where a write went: `(space, citizen, key)`; the citizen is an index into
/// the demo citizens, `None` app-wide.
type Slot = (&'static str, Option<usize>, String);

#[derive(Default)]
struct Ledger {
    /// Every write a writer sent, acknowledged or not: its value.
    sent: BTreeMap<Slot, String>,
    /// The writes answered with a 2xx: their value.
    acked: BTreeMap<Slot, String>,
    /// Answers other than 2xx while the host was up, by status.
    refused: BTreeMap<u16, u64>,
}

/// The probe imports every interface, so it asks for every capability; the
/// operator grants `kv` alone.
fn manifest() -> String {
    format!(
        r#"id = "{APP}"
version = "1.0.0"
publisher = "kv-crash-tests"
contract = "^1.2"
component = "probe.wasm"
category = "utilities"
capabilities = ["kv", "notify", "payments", "payments.refund", "http:https://api.example.vn"]
[name]
vi = "Kho"
en = "Vault"
[description]
vi = "Thử nghiệm độ bền của kv"
en = "kv durability test"
[limits]
kv_quota_mib = {QUOTA_MIB}
"#
    )
}

async fn ok_json(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("the host answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn sign_in_all(url: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for n in 1..=CITIZENS {
        let body = ok_json(
            client
                .post(format!("{url}/api/v1/login"))
                .json(&serde_json::json!({ "citizen": format!("c-demo-{n}") })),
        )
        .await;
        tokens.push(body["token"].as_str().unwrap().to_string());
    }
    tokens
}

/// Write distinct keys with distinct values until the host dies; every 2xx
/// goes into the ledger and wakes whoever waits for an acknowledgement.
async fn load(url: String, tokens: Vec<String>, round: usize, acked: Arc<Notify>) -> Ledger {
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let writers = (0..WRITERS).map(|writer| {
        let (client, url, ledger, acked) =
            (client.clone(), url.clone(), ledger.clone(), acked.clone());
        let citizen = writer % CITIZENS;
        let token = tokens[citizen].clone();
        async move {
            for seq in 0.. {
                let (space, owner) = if (writer + seq) % 2 == 0 {
                    ("app", None)
                } else {
                    ("citizen", Some(citizen))
                };
                let key = format!("r{round:02}.w{writer:02}.{seq:05}");
                let filler = "v".repeat((rand::random::<u64>() % 48) as usize);
                let value = format!("{key}:{:016x}:{filler}", rand::random::<u64>());
                let slot: Slot = (space, owner, key.clone());
                ledger
                    .lock()
                    .unwrap()
                    .sent
                    .insert(slot.clone(), value.clone());
                let Ok(answer) = client
                    .put(format!("{url}/apps/{APP}/kv/{space}/{key}"))
                    .bearer_auth(&token)
                    .body(value.clone())
                    .send()
                    .await
                else {
                    return;
                };
                let status = answer.status();
                if status.is_success() {
                    ledger.lock().unwrap().acked.insert(slot, value);
                    acked.notify_waiters();
                } else {
                    *ledger
                        .lock()
                        .unwrap()
                        .refused
                        .entry(status.as_u16())
                        .or_default() += 1;
                }
            }
        }
    });
    futures::future::join_all(writers).await;
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    ledger
}

/// Every key and value of one space, read through the app page by page.
async fn dump(
    client: &reqwest::Client,
    url: &str,
    space: &str,
    token: &str,
) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = client
            .get(format!("{url}/apps/{APP}/kv/{space}"))
            .bearer_auth(token);
        if let Some(after) = &after {
            request = request.query(&[("after", after)]);
        }
        let page = ok_json(request).await;
        for entry in page["entries"].as_array().expect("entries") {
            let key = entry[0].as_str().expect("a key").to_string();
            let value = entry[1].as_str().expect("a value").to_string();
            all.insert(key, value);
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return all,
        }
    }
}

/// The app's kv usage as the host reports it: write 1 MiB pads until one is
/// refused and read the usage off the refusal. Returns that usage and how
/// many bytes the accepted pads added over what `app` (the app-wide data
/// before) held under their keys; the pads are emptied again afterwards.
async fn reported_usage(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    app: &BTreeMap<String, String>,
) -> (u64, u64) {
    let mut added = 0u64;
    let mut padded = Vec::new();
    let reported = 'fill: {
        for n in 0..QUOTA_MIB + 2 {
            let key = format!("{PAD}{n:02}");
            let answer = client
                .put(format!("{url}/apps/{APP}/fill?kib=1024&key={key}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("the host answers");
            let status = answer.status().as_u16();
            let body = answer.text().await.unwrap_or_default();
            match status {
                204 => {
                    let before = app.get(&key).map_or(0, |v| key.len() + v.len());
                    added += (key.len() + MIB - before) as u64;
                    padded.push(key);
                }
                507 => {
                    let used = body
                        .split("the app stores ")
                        .nth(1)
                        .and_then(|rest| rest.split(' ').next())
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or_else(|| panic!("no usage in the refusal: {body}"));
                    break 'fill used;
                }
                other => panic!("a pad write answered {other}: {body}"),
            }
        }
        panic!(
            "{} MiB of pads never reached the {QUOTA_MIB} MiB quota",
            QUOTA_MIB + 2
        );
    };
    for key in padded {
        ok_json(
            client
                .put(format!("{url}/apps/{APP}/fill?kib=0&key={key}"))
                .bearer_auth(token),
        )
        .await;
    }
    (reported, added)
}

/// Totals over all rounds.
#[derive(Default)]
struct Tally {
    /// Acknowledged writes read back with their exact value, over all checks.
    verified: u64,
    /// Writes sent but never acknowledged that were there after a restart.
    unacked_present: std::collections::BTreeSet<Slot>,
    /// Time spent restarting and checking.
    checking: Duration,
    usage_checks: u64,
    /// What went wrong, first round seen: "round N: ..." per slot or check.
    failures: BTreeMap<String, String>,
}

/// Read everything back after a restart and compare with the ledger.
async fn check(
    url: &str,
    tokens: &[String],
    pairwise_len: &[usize],
    ledger: &Ledger,
    round: usize,
    tally: &mut Tally,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut present: BTreeMap<Slot, String> = BTreeMap::new();
    let app = dump(&client, url, "app", &tokens[0]).await;
    let mut expected_usage = 0u64;
    for (key, value) in &app {
        expected_usage += (key.len() + value.len()) as u64;
        if !key.starts_with(PAD) {
            present.insert(("app", None, key.clone()), value.clone());
        }
    }
    for (citizen, token) in tokens.iter().enumerate() {
        for (key, value) in dump(&client, url, "citizen", token).await {
            // A citizen's keys carry their pairwise id and a NUL in the store.
            expected_usage += (pairwise_len[citizen] + 1 + key.len() + value.len()) as u64;
            present.insert(("citizen", Some(citizen), key), value);
        }
    }
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut fail = |slot: String, what: String| failures.push((slot, what));
    let name = |(space, citizen, key): &Slot| match citizen {
        Some(c) => format!("{space}/c-demo-{}/{key}", c + 1),
        None => format!("{space}/{key}"),
    };
    for (slot, value) in &ledger.acked {
        match present.get(slot) {
            Some(found) if found == value => tally.verified += 1,
            Some(found) => fail(
                name(slot),
                format!("mismatched: acknowledged {value:?}, read {found:?}"),
            ),
            None => fail(name(slot), format!("lost: acknowledged {value:?}")),
        }
    }
    for (slot, value) in &present {
        if ledger.acked.contains_key(slot) {
            continue;
        }
        match ledger.sent.get(slot) {
            Some(sent) if sent == value => {
                tally.unacked_present.insert(slot.clone());
            }
            Some(sent) => fail(
                name(slot),
                format!("garbled unacknowledged write: sent {sent:?}, read {value:?}"),
            ),
            None => fail(name(slot), format!("never written, read {value:?}")),
        }
    }
    let (reported, added) = reported_usage(&client, url, &tokens[0], &app).await;
    tally.usage_checks += 1;
    if reported != expected_usage + added {
        failures.push((
            format!("usage after kill {round}"),
            format!(
                "the host reports {reported} bytes used; the data is {expected_usage} bytes and the pads added {added}"
            ),
        ));
    }
    for (slot, what) in failures {
        tally
            .failures
            .entry(slot)
            .or_insert_with(|| format!("after kill {round}: {what}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_kv_load_loses_no_acknowledged_write() {
    let began = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::default();
    let acked = Arc::new(Notify::new());
    let mut host = Host::start(data.path(), &["--no-samples"], TOKEN);
    let url = host.url.clone();
    common::publish(&url, TOKEN, "kv-crash-tests", &manifest(), "probe", &["kv"]).await;

    // A citizen's keys count their pairwise id towards the usage.
    let tokens = sign_in_all(&url).await;
    let client = reqwest::Client::new();
    let mut pairwise_len = Vec::new();
    for token in &tokens {
        let me = ok_json(
            client
                .get(format!("{url}/apps/{APP}/whoami"))
                .bearer_auth(token),
        )
        .await;
        pairwise_len.push(me["current"]["id"].as_str().expect("a pairwise id").len());
    }

    let mut tally = Tally::default();
    let (mut kills, mut after_ack) = (0, 0);
    for round in 0..KILLS {
        let url = host.url.clone();
        let tokens = sign_in_all(&url).await;
        let running = tokio::spawn(load(url.clone(), tokens, round, acked.clone()));
        tokio::time::sleep(Duration::from_millis(20 + rand::random::<u64>() % 980)).await;
        // Two kills in three land right after some writer got its 2xx:
        // at once or 1-3 ms later.
        if round % 3 != 0 {
            let next = acked.notified();
            if tokio::time::timeout(Duration::from_secs(2), next)
                .await
                .is_ok()
            {
                after_ack += 1;
                let delay = rand::random::<u64>() % 4;
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
            }
        }
        host.kill();
        kills += 1;
        let written = running.await.expect("the writers end when the host dies");
        ledger.sent.extend(written.sent);
        ledger.acked.extend(written.acked);
        for (status, n) in written.refused {
            *ledger.refused.entry(status).or_default() += n;
        }

        let restarted = Instant::now();
        host = Host::start(data.path(), &["--no-samples"], TOKEN);
        let url = host.url.clone();
        let tokens = sign_in_all(&url).await;
        check(&url, &tokens, &pairwise_len, &ledger, kills, &mut tally).await;
        tally.checking += restarted.elapsed();
    }
    host.kill();

    let count = |space: &str| ledger.acked.keys().filter(|(s, _, _)| *s == space).count();
    eprintln!(
        "kv crash: {kills} kills ({after_ack} within 0-3 ms of an acknowledgement); {} writes \
         sent by {WRITERS} writers, {} acknowledged ({} app-wide, {} per citizen); {} reads of \
         acknowledged writes verified over {} restarts; {} unacknowledged writes survived (exact \
         values); {} usage checks; lost or wrong: {}; non-2xx answers: {:?}; {:.1} s ({:.1} s \
         restarting and checking)",
        ledger.sent.len(),
        ledger.acked.len(),
        count("app"),
        count("citizen"),
        tally.verified,
        kills,
        tally.unacked_present.len(),
        tally.usage_checks,
        tally.failures.len(),
        ledger.refused,
        began.elapsed().as_secs_f64(),
        tally.checking.as_secs_f64(),
    );
    assert!(
        ledger.acked.len() >= 1000,
        "the load wrote too little to mean anything: {}",
        ledger.acked.len()
    );
    assert!(
        !ledger.refused.contains_key(&507),
        "writes passed the {QUOTA_MIB} MiB quota; raise QUOTA_MIB"
    );
    assert!(
        tally.failures.is_empty(),
        "{} acknowledged writes lost or wrong (or usage off):\n{}",
        tally.failures.len(),
        tally
            .failures
            .iter()
            .map(|(slot, what)| format!("  {slot}: {what}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
