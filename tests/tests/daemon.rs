//! The daily timer with the real component, the real store and the
//! simulator, on a fake clock: a slot fires once, a missed slot is caught up
//! once at start-up, and a slot another process is syncing is left to it.

mod common;

use std::sync::Arc;

use chrono::{DateTime, NaiveTime, Utc};
use common::{Env, FakeClock, TEST_NOW, shared_cache_dir};
use seatsync_fixtures::demo;
use seatsync_host::daemon::{self, Clock, DaemonOptions, SlotResult};
use seatsync_host::runtime::{Runtime, RuntimeOptions};
use seatsync_host::store::{Store, Trigger, sync_lock_name};

/// Connect, import and map through the binary, as an MSP would.
fn configured() -> Env {
    let env = Env::new();
    env.set_up_through_cli(demo::USAGE_CSV);
    env
}

fn runtime() -> Arc<Runtime> {
    let options = RuntimeOptions {
        cache_dir: Some(shared_cache_dir()),
        ..RuntimeOptions::default()
    };
    Arc::new(Runtime::new(seatsync_host::DEFAULT_COMPONENT, options).expect("the component loads"))
}

/// Runs the daemon for one slot and returns (slot, what happened).
async fn one_slot(store: &Store, clock: &FakeClock) -> Vec<(DateTime<Utc>, String)> {
    slots(store, clock, 1, |_| {}).await
}

/// Runs the daemon for `max` slot attempts; `after_each` sees each result.
async fn slots(
    store: &Store,
    clock: &FakeClock,
    max: u32,
    mut after_each: impl FnMut(&SlotResult),
) -> Vec<(DateTime<Utc>, String)> {
    let options = DaemonOptions {
        max_slots: Some(max),
        // Failed organizations are tried again by the daemon's same-day
        // retries on the fake clock, not after a real pause.
        retry_pause: None,
        ..DaemonOptions::new("default", NaiveTime::from_hms_opt(6, 0, 0).unwrap())
    };
    let mut slots = Vec::new();
    daemon::run(
        store,
        runtime(),
        clock,
        &options,
        std::future::pending(),
        |slot, result| {
            let what = describe(result);
            slots.push((slot, what));
            after_each(result);
        },
    )
    .await
    .expect("the daemon runs");
    slots
}

/// One line for what a slot (or a same-day retry) did.
fn describe(result: &SlotResult) -> String {
    match result {
        SlotResult::Synced(summary) => {
            let run = summary.run.as_ref().expect("a run was recorded");
            assert_eq!(run.trigger, Trigger::Daemon);
            format!(
                "synced: {} orgs, {} writes",
                run.totals.orgs, run.totals.writes
            )
        }
        SlotResult::Busy(holder) => format!("busy: {}", holder.contains("held by process")),
        SlotResult::Failed(e) => format!("failed: {e}"),
        SlotResult::AlreadySynced => "already synced".to_string(),
        SlotResult::Retried { attempt, result } => {
            let summary = result.summary().expect("the retry ran");
            let run = summary.run.as_ref().expect("a run was recorded");
            assert_eq!(run.trigger, Trigger::Retry);
            format!(
                "retry {attempt}: {} orgs, {} still failed",
                run.totals.orgs,
                summary.transiently_failed().len()
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_fires_once_and_a_missed_slot_is_caught_up_once() {
    let env = configured();
    let clock = FakeClock::at("2026-11-27T05:59:00Z");
    let mut store = Store::open_with_key(env.db(), env.keys()).unwrap();
    let store_clock = clock.clone();
    store.set_clock(Arc::new(move || store_clock.now()));

    // First start, a minute before the slot: it waits, then syncs at 06:00.
    let slots = one_slot(&store, &clock).await;
    assert_eq!(
        slots,
        [(
            "2026-11-27T06:00:00Z".parse().unwrap(),
            "synced: 12 orgs, 8 writes".to_string()
        )]
    );

    // Down for two days; started at 07:00 on the 29th: the 29th's slot is
    // caught up at once (not the 28th's too), and nothing needs writing.
    clock.set("2026-11-29T07:00:00Z");
    env.sim.reset_counts();
    let slots = one_slot(&store, &clock).await;
    assert_eq!(
        slots,
        [(
            "2026-11-29T06:00:00Z".parse().unwrap(),
            "synced: 12 orgs, 0 writes".to_string()
        )]
    );
    assert_eq!(
        env.sim.counts().total,
        1 + 12,
        "one list of agreements, then one request per organization"
    );

    // Started again the same morning: no catch-up; the next slot is the 30th's.
    clock.set("2026-11-29T07:30:00Z");
    let slots = one_slot(&store, &clock).await;
    assert_eq!(
        slots[0].0,
        "2026-11-30T06:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );

    let runs = store.list_runs("default", 10).unwrap();
    assert_eq!(runs.len(), 3, "exactly one run per slot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_another_process_is_syncing_is_skipped() {
    let env = configured();
    let clock = FakeClock::at("2026-11-27T05:59:00Z");
    let store = env.store();
    // Another process (another handle on the same database) holds the lock.
    let other = env.store();
    let _held = other.lock(&sync_lock_name("default")).unwrap();
    env.sim.reset_counts();
    let slots = one_slot(&store, &clock).await;
    assert_eq!(slots[0].1, "busy: true");
    assert_eq!(env.sim.counts().total, 0, "nothing was sent");
}

/// A slot that finds another process syncing is tried again five minutes
/// later, not skipped until tomorrow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_slot_is_tried_again_a_little_later() {
    let env = configured();
    let clock = FakeClock::at("2026-11-27T05:59:00Z");
    let mut store = Store::open_with_key(env.db(), env.keys()).unwrap();
    let store_clock = clock.clone();
    store.set_clock(Arc::new(move || store_clock.now()));
    let other = env.store();
    let mut held = Some(other.lock(&sync_lock_name("default")).unwrap());
    // The other process finishes right after the first attempt.
    let results = slots(&store, &clock, 2, |_| drop(held.take())).await;
    let six: DateTime<Utc> = "2026-11-27T06:00:00Z".parse().unwrap();
    assert_eq!(
        results,
        [
            (six, "busy: true".to_string()),
            (six, "synced: 12 orgs, 8 writes".to_string())
        ]
    );
    let runs = store.list_runs("default", 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].started_at,
        "2026-11-27T06:05:00Z".parse::<DateTime<Utc>>().unwrap()
    );
}

/// `seatsync run` waits for its slot and stops cleanly, exit status 0, on
/// SIGTERM and on SIGINT, without syncing.
#[test]
fn the_daemon_stops_cleanly_on_sigterm_and_sigint() {
    use std::io::{BufRead, BufReader};
    use std::process::Command;
    use std::time::{Duration, Instant};

    let env = configured();
    // Twelve hours after the commands' clock starts: the slot cannot come
    // during the test.
    let at = (TEST_NOW.parse::<DateTime<Utc>>().unwrap() + chrono::Duration::hours(12))
        .format("%H:%M")
        .to_string();
    for signal in ["TERM", "INT"] {
        env.sim.reset_counts();
        env.sim.clear_log();
        let mut child = env.spawn(&["run", "--at", &at]);
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .expect("the daemon prints its schedule");
        assert!(
            first.contains(&format!("syncing daily at {at} UTC")),
            "{first}"
        );

        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait works") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the daemon did not stop within 20 s of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).expect("stdout is readable");
        assert_eq!(status.code(), Some(0), "SIG{signal}: {rest}");
        assert!(rest.contains("Stopped."), "SIG{signal}: {rest}");
        // The daemon tests the connection when it starts (five reads of
        // one record each); a sync would read the additions by product.
        let synced = env
            .sim
            .request_log()
            .iter()
            .filter(|r| {
                r.query
                    .iter()
                    .any(|(k, v)| k == "conditions" && v.contains("product/id"))
            })
            .count();
        assert_eq!(synced, 0, "no sync before the slot");
        assert_eq!(
            env.sim.counts().writes,
            0,
            "nothing written before the slot"
        );
    }
}

/// The organizations a slot's run left failed for a transient reason are
/// tried again later the same day, every 30 minutes, until they succeed
/// (at most three times); history shows each try as a `retry` run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_organizations_are_tried_again_later_the_same_day() {
    use seatsync_fixtures::{FaultAction, Faults, ScriptedFault};

    let env = configured();
    // The slot's run and the first retry see agreement 102's reads fail
    // through all five of the connector's attempts; then it recovers.
    env.sim.set_faults(Faults {
        scripted: vec![
            ScriptedFault::new(
                "GET",
                "/finance/agreements/102/additions",
                FaultAction::html(503),
            )
            .times(10),
        ],
        ..Faults::default()
    });
    let clock = FakeClock::at("2026-11-27T05:59:00Z");
    let mut store = Store::open_with_key(env.db(), env.keys()).unwrap();
    let store_clock = clock.clone();
    store.set_clock(Arc::new(move || store_clock.now()));
    let results = slots(&store, &clock, 3, |_| {}).await;
    let six: DateTime<Utc> = "2026-11-27T06:00:00Z".parse().unwrap();
    assert_eq!(
        results,
        [
            (six, "synced: 12 orgs, 8 writes".to_string()),
            (six, "retry 1: 1 orgs, 1 still failed".to_string()),
            (six, "retry 2: 1 orgs, 0 still failed".to_string()),
        ]
    );
    let runs = store.list_runs("default", 10).unwrap();
    let seen: Vec<(String, String, String)> = runs
        .iter()
        .map(|r| {
            (
                r.started_at.format("%H:%M").to_string(),
                r.trigger.to_string(),
                r.status.to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("07:00".into(), "retry".into(), "succeeded".into()),
            ("06:30".into(), "retry".into(), "failed".into()),
            ("06:00".into(), "daemon".into(), "failed".into()),
        ]
    );
    assert_eq!(
        store.last_completed_run_start("default").unwrap(),
        Some(runs[2].started_at),
        "retries do not count as the day's run"
    );
}

/// A run for a slot (a worker's, a daemon's) that another process already
/// completed does nothing: the check is made under the locks, so two
/// processes that both found the slot due sync it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_someone_else_completed_is_not_synced_again() {
    use seatsync_host::sync::{SyncError, SyncOptions, sync_tenant};
    let env = configured();
    let clock = FakeClock::at("2026-11-27T06:00:05Z");
    let mut store = Store::open_with_key(env.db(), env.keys()).unwrap();
    let store_clock = clock.clone();
    store.set_clock(Arc::new(move || store_clock.now()));
    let slot: DateTime<Utc> = "2026-11-27T06:00:00Z".parse().unwrap();
    let options = |slot| SyncOptions {
        slot: Some(slot),
        retry_pause: None,
        ..SyncOptions::new(Trigger::Daemon, clock.now().date_naive())
    };
    // Another process's run of the slot.
    let first = sync_tenant(&store, runtime(), "default", &options(slot), &mut ())
        .await
        .expect("the first run of the slot");
    assert!(first.run.is_some());
    env.sim.reset_counts();
    let again = sync_tenant(&store, runtime(), "default", &options(slot), &mut ()).await;
    assert!(
        matches!(again, Err(SyncError::AlreadySynced { .. })),
        "{again:?}"
    );
    assert_eq!(env.sim.counts().total, 0, "not a request");
    assert_eq!(
        store.list_runs("default", 10).unwrap().len(),
        1,
        "no second run"
    );
    // The next day's slot is another matter.
    clock.set("2026-11-28T06:00:05Z");
    let next = sync_tenant(
        &store,
        runtime(),
        "default",
        &options("2026-11-28T06:00:00Z".parse().unwrap()),
        &mut (),
    )
    .await
    .expect("the next slot runs");
    assert!(next.run.is_some());
}
