//! The write journal (`host-harness/src/store/journal.rs`): a write that got
//! no answer, because the process was killed while it was in flight or the
//! request timed out, is known to the next run, which waits for it to settle
//! before writing to that organization again. Without it, a server that
//! applies the abandoned write after the next run has read the agreement
//! gets a second addition: a customer billed twice.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    Env, after_the_settle_window, assert_no_duplicate_additions, normalized_state, reference_state,
    shared_cache_dir, test_day, test_now, wait_until,
};
use seatsync_fixtures::{FaultAction, Faults, ScriptedFault};
use seatsync_host::runtime::{Limits, Runtime, RuntimeOptions};
use seatsync_host::store::{Trigger, WriteState};
use seatsync_host::sync::{SyncOptions, sync_tenant};
use serde_json::Value;

/// Writes the simulator has applied and logged so far.
fn logged_writes(env: &Env) -> u64 {
    env.sim
        .request_log()
        .iter()
        .filter(|r| r.method != "GET")
        .count() as u64
}

/// A small deterministic generator (xorshift), so a failing round can be
/// replayed from the seed it prints.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The case, in many rounds: ConnectWise takes a while with each
/// answer and applies a write even when its client is gone; `seatsync sync`
/// is killed with SIGKILL at a random moment while a write is in flight and
/// started again at once. The new run must not write to the organization
/// whose write was in flight (it is reported waiting); once the window has
/// passed, a run finishes the job; never a duplicate.
#[test]
fn killed_with_a_write_in_flight_and_restarted_at_once_never_duplicates() {
    // Killed once each of the demo run's 8 writes (4 creates, 4 updates)
    // has arrived, in a shuffled order, a random moment after.
    let seed = 0x5EA7_5EED_u64;
    println!("seed {seed:#x}");
    let mut rng = Rng(seed);
    let mut order: Vec<u64> = (1..=8).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for (round, k) in order.into_iter().enumerate() {
        let mut env = Env::new();
        // Several organizations at once, as `seatsync sync` runs them: the
        // k-th write arrives soon, and others may be in flight with it.
        env.concurrency = 4;
        env.configure();
        // Longer than a restart takes: the abandoned write lands after the
        // new run has read its agreement.
        let held = Duration::from_millis(1200 + rng.below(800));
        let answers = Faults {
            delay: Some(Duration::from_millis(60)),
            ..Faults::default()
        };
        env.sim.set_faults(Faults {
            write_delay_applied_anyway: Some(held),
            ..answers.clone()
        });
        let jitter = Duration::from_millis(rng.below(200));
        let mut child = env.spawn(&["sync"]);
        wait_until(
            &format!("round {round}: write {k} to be in flight"),
            Duration::from_secs(60),
            || env.sim.counts().writes >= k,
        );
        std::thread::sleep(jitter);
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");

        // Restarted at once, the server still working on the abandoned
        // write (its own answers quick again).
        env.sim.set_faults(answers);
        let again = env.run(&["sync", "--json"]);
        let report: Value = serde_json::from_str(&again.stdout)
            .unwrap_or_else(|e| panic!("round {round}: not JSON ({e}): {}", again.stderr));
        let unresolved: Vec<String> = env
            .store()
            .unresolved_writes("default")
            .expect("journal")
            .into_iter()
            .map(|e| e.org_id)
            .collect();
        for o in report["organizations"].as_array().expect("organizations") {
            let org = o["org_id"].as_str().unwrap_or_default().to_string();
            if o["waiting"].is_string() {
                assert_eq!(o["writes"], 0, "round {round}: {o}");
                assert!(
                    o["waiting"]
                        .as_str()
                        .is_some_and(|w| w.contains("waiting for an earlier write")),
                    "round {round}: {o}"
                );
            } else {
                assert!(
                    !unresolved.contains(&org),
                    "round {round}: {org} has an unanswered write but was synced: {o}"
                );
            }
        }

        // Every abandoned write has reached the server; then, after the
        // window, a fault-free run finishes the job.
        wait_until(
            &format!("round {round}: the abandoned writes to be applied"),
            Duration::from_secs(30),
            || logged_writes(&env) >= env.sim.counts().writes,
        );
        assert_no_duplicate_additions(&env.sim);
        env.sim.clear_faults();
        let later = env.run_later(&["sync", "--json"], after_the_settle_window());
        assert_eq!(
            later.status, 2,
            "round {round}: only 115's conflict:\n{}",
            later.stdout
        );
        assert_no_duplicate_additions(&env.sim);
        assert_eq!(
            normalized_state(&env.sim),
            reference_state(),
            "round {round}: killed at write {k}"
        );
        assert!(
            env.store().unresolved_writes("default").unwrap().is_empty(),
            "round {round}: every entry settled"
        );
    }
}

/// Within one run: a create that got no answer (the host's timeout) and
/// that the connector's read-back does not find yet, because the server
/// applies it late. Its line fails, its journal entry stays unanswered; the
/// next run waits instead of creating it again, and a run after the window
/// finds it and leaves it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_create_is_settled_not_repeated() {
    let env = Env::new();
    env.configure();
    env.sim.set_faults(Faults {
        scripted: vec![ScriptedFault::new(
            "POST",
            "/finance/agreements/108/additions",
            FaultAction::Delay(Duration::from_secs(2)),
        )],
        write_delay_applied_anyway: Some(Duration::ZERO),
        ..Faults::default()
    });
    let limits = Limits {
        first_byte_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let runtime = Arc::new(
        Runtime::new(
            seatsync_host::DEFAULT_COMPONENT,
            RuntimeOptions {
                limits,
                cache_dir: Some(shared_cache_dir()),
            },
        )
        .expect("the component loads"),
    );
    let options = SyncOptions {
        retry_pause: None,
        settle_window: Duration::from_secs(60),
        ..SyncOptions::new(Trigger::Manual, test_day())
    };
    let store = env.store();
    let first = sync_tenant(&store, runtime.clone(), "default", &options, &mut ())
        .await
        .expect("the run completes");
    let org = |summary: &seatsync_host::sync::SyncSummary| {
        summary
            .orgs
            .iter()
            .find(|o| o.plan.org_id == "pe-100533")
            .expect("pe-100533 synced")
            .clone()
    };
    assert!(org(&first).failed(), "{:?}", org(&first).result);
    let run = first.run.as_ref().unwrap().id;
    let entries = store.run_writes(run).unwrap();
    let post = entries
        .iter()
        .find(|e| e.org_id == "pe-100533")
        .expect("the create was journaled");
    assert_eq!(post.method, "POST");
    assert_eq!(post.state, WriteState::Unanswered, "{post:?}");
    assert!(post.error.is_some());
    assert!(
        entries
            .iter()
            .filter(|e| e.org_id != "pe-100533")
            .all(|e| e.state == WriteState::Answered),
        "{entries:#?}"
    );

    // At once: the organization waits; nothing is sent for it.
    let second = sync_tenant(&store, runtime.clone(), "default", &options, &mut ())
        .await
        .expect("the run completes");
    let waiting = org(&second);
    assert!(
        waiting.waiting.is_some() && waiting.requests == 0,
        "{waiting:?}"
    );
    assert_eq!(
        second.run.as_ref().unwrap().totals.waiting,
        1,
        "pe-100533's one line"
    );

    // The late create lands; after the window a run reads, finds it, and
    // leaves it alone.
    let sim = &env.sim;
    tokio::task::block_in_place(|| {
        wait_until("the late create to land", Duration::from_secs(10), || {
            sim.additions(108).iter().any(|a| a["product"]["id"] == 19)
        })
    });
    let mut later = env.store();
    later.set_clock(Arc::new(|| test_now() + chrono::TimeDelta::seconds(61)));
    let third = sync_tenant(&later, runtime, "default", &options, &mut ())
        .await
        .expect("the run completes");
    let done = org(&third);
    assert!(done.succeeded(), "{:?}", done.result);
    assert_eq!(done.writes, 0, "found, not created again");
    let settled = later.run_writes(run).unwrap();
    assert!(
        settled
            .iter()
            .find(|e| e.id == post.id)
            .is_some_and(|e| e.state == WriteState::Settled),
        "{settled:#?}"
    );
    tokio::task::spawn_blocking(move || {
        assert_no_duplicate_additions(&env.sim);
        assert_eq!(normalized_state(&env.sim), reference_state());
    })
    .await
    .unwrap();
}
