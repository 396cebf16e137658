//! Sync runs: recording, totals, status, crash recovery and history.

mod common;

use common::TestDb;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use seatsync_contract::{ConnectorError, Decimal, LineOutcome, LineResult, SyncReport};
use seatsync_host::store::{
    LineKind, OrgAttempt, OrgMapping, OrgPlan, PackageMapping, RunScope, RunStatus, Store,
    StoreError, Trigger, sync_lock_name,
};
use seatsync_host::usage::parse_usage;

const T: &str = "default";

struct Fixture {
    db: TestDb,
    clock: Arc<AtomicI64>,
    store: Store,
}

fn at(secs_after_six: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 6, 15, 6, 0, 0).unwrap() + chrono::Duration::seconds(secs_after_six)
}

fn install_clock(store: &mut Store, clock: &Arc<AtomicI64>) {
    let c = clock.clone();
    store.set_clock(Arc::new(move || at(c.load(Ordering::SeqCst))));
}

/// o1 (2 packages) and o2 (1 package), all mapped.
fn fixture() -> Fixture {
    let db = TestDb::new();
    let clock = Arc::new(AtomicI64::new(0));
    let mut store = db.open();
    install_clock(&mut store, &clock);
    let usage = parse_usage(
        b"org_id,org_name,package,active_users\no1,One,business,10\no1,One,advanced,2\no2,Two,business,5\n",
        None,
    )
    .unwrap();
    store.replace_usage(T, &usage).unwrap();
    for (key, product) in [("business", 101), ("advanced", 102)] {
        store
            .upsert_package_mapping(
                T,
                key,
                &PackageMapping {
                    product_id: product,
                    product_identifier: None,
                    product_description: None,
                    options: BTreeMap::from([
                        ("bill-method".to_string(), "billable".to_string()),
                        ("taxable".to_string(), "true".to_string()),
                    ]),
                },
            )
            .unwrap();
    }
    for (org, company) in [("o1", 254), ("o2", 256)] {
        store
            .upsert_org_mapping(
                T,
                org,
                &OrgMapping {
                    company_id: company,
                    agreement_id: company + 1000,
                    company_name: None,
                    agreement_name: None,
                },
            )
            .unwrap();
    }
    Fixture { db, clock, store }
}

fn result(plan: &OrgPlan, outcomes: Vec<(LineOutcome, Option<i64>)>) -> SyncReport {
    SyncReport {
        company_id: plan.company_id,
        contract_id: plan.agreement_id,
        dry_run: false,
        lines: plan
            .lines
            .iter()
            .zip(outcomes)
            .map(|(l, (outcome, line_id))| LineResult {
                package_key: l.package_key.clone(),
                product_id: l.product_id,
                quantity: l.quantity,
                outcome,
                line_id,
                unit_price: None,
            })
            .collect(),
        requests: 3,
        writes: 1,
    }
}

#[test]
fn a_successful_run_is_recorded_with_totals_and_lines() {
    let f = fixture();
    let lock = f.store.lock(&sync_lock_name(T)).unwrap();
    let plan = f.store.sync_plan(T).unwrap();
    let run = f
        .store
        .begin_run(&lock, T, Trigger::Daemon, RunScope::Every, false)
        .unwrap();

    let running = f.store.run(run).unwrap().unwrap();
    assert_eq!(running.status, RunStatus::Running);
    assert_eq!(running.started_at, at(0));
    assert_eq!(running.finished_at, None);

    f.store
        .record_org_result(
            run,
            &plan[0],
            Ok(&result(
                &plan[0],
                vec![
                    (LineOutcome::Created, None),
                    (
                        LineOutcome::Updated {
                            previous_quantity: Decimal::from_f64(8.0),
                        },
                        Some(77),
                    ),
                ],
            )),
        )
        .unwrap();
    f.store
        .record_org_result(
            run,
            &plan[1],
            Ok(&result(
                &plan[1],
                vec![(LineOutcome::Skipped("user-counts is off".into()), Some(78))],
            )),
        )
        .unwrap();
    f.clock.store(42, Ordering::SeqCst);
    let done = f.store.finish_run(run, None).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.finished_at, Some(at(42)));
    assert_eq!(done.trigger, Trigger::Daemon);
    let t = done.totals;
    assert_eq!(
        (
            t.orgs,
            t.orgs_failed,
            t.created,
            t.updated,
            t.unchanged,
            t.conflicts,
            t.skipped,
            t.failed
        ),
        (2, 0, 1, 1, 0, 0, 1, 0)
    );
    assert_eq!((t.requests, t.writes), (6, 2));

    let lines = f.store.run_lines(run).unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].package_key.as_deref(), Some("advanced"));
    assert_eq!(lines[0].kind, LineKind::Created);
    assert_eq!(lines[1].kind, LineKind::Updated);
    assert_eq!(lines[1].previous_quantity, Some(8.0));
    assert_eq!(lines[1].addition_id, Some(77));
    assert_eq!(
        (lines[1].company_id, lines[1].agreement_id),
        (Some(254), Some(1254))
    );
    assert_eq!(lines[2].kind, LineKind::Skipped);
    assert_eq!(lines[2].message.as_deref(), Some("user-counts is off"));

    // A finished run takes no more results.
    let err = f
        .store
        .record_org_result(run, &plan[0], Err("late"))
        .expect_err("finished");
    assert!(
        matches!(
            err,
            StoreError::RunNotRunning {
                status: RunStatus::Succeeded,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(f.store.finish_run(run, None).is_err());
    assert_eq!(f.store.last_completed_run_start(T).unwrap(), Some(at(0)));
}

#[test]
fn failures_and_conflicts_fail_the_run() {
    let f = fixture();
    let lock = f.store.lock(&sync_lock_name(T)).unwrap();
    let plan = f.store.sync_plan(T).unwrap();
    let run = f
        .store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    f.store
        .record_org_result(
            run,
            &plan[0],
            Ok(&result(
                &plan[0],
                vec![
                    (LineOutcome::Conflict(vec![5, 6]), None),
                    (
                        LineOutcome::Failed(ConnectorError::NotFound("agreement 1254".into())),
                        None,
                    ),
                ],
            )),
        )
        .unwrap();
    f.store
        .record_org_result(run, &plan[1], Err("transport: connection refused"))
        .unwrap();
    let done = f.store.finish_run(run, None).unwrap();
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(
        (
            done.totals.conflicts,
            done.totals.failed,
            done.totals.orgs_failed
        ),
        (1, 1, 1)
    );
    let lines = f.store.run_lines(run).unwrap();
    assert_eq!(lines[0].conflict_ids, [5, 6]);
    assert!(
        lines[0]
            .message
            .as_deref()
            .unwrap()
            .contains("2 active additions")
    );
    assert_eq!(
        lines[1].message.as_deref(),
        Some("not found: agreement 1254")
    );
    assert_eq!(lines[2].kind, LineKind::OrgFailed);
    assert_eq!(lines[2].package_key, None);
    assert_eq!(lines[2].company_id, Some(256));
    assert_eq!(
        lines[2].message.as_deref(),
        Some("transport: connection refused")
    );
}

#[test]
fn conflicts_alone_make_the_run_attention_not_failed() {
    let f = fixture();
    let lock = f.store.lock(&sync_lock_name(T)).unwrap();
    let plan = f.store.sync_plan(T).unwrap();
    let run = f
        .store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    f.store
        .record_org_result(
            run,
            &plan[0],
            Ok(&result(
                &plan[0],
                vec![
                    (LineOutcome::Conflict(vec![5, 6]), None),
                    (LineOutcome::Unchanged, Some(7)),
                ],
            )),
        )
        .unwrap();
    let done = f.store.finish_run(run, None).unwrap();
    assert_eq!(done.status, RunStatus::Attention);
    assert_eq!(done.status.as_str(), "attention");
    assert_eq!(
        f.store.last_completed_run_start(T).unwrap(),
        Some(done.started_at),
        "an attention run is the day's run for the schedule"
    );
}

/// An organization tried again at the end of the run: its second attempt's
/// lines replace the first's, the totals count it once, and the requests
/// and writes of both attempts count.
#[test]
fn a_retried_organization_replaces_its_lines_and_keeps_both_attempts_requests() {
    let f = fixture();
    let lock = f.store.lock(&sync_lock_name(T)).unwrap();
    let plan = f.store.sync_plan(T).unwrap();
    let run = f
        .store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    // o1: one line written, one failed without an answer.
    let mut first = result(
        &plan[0],
        vec![
            (LineOutcome::Created, Some(7)),
            (
                LineOutcome::Failed(ConnectorError::Transport("no answer".into())),
                None,
            ),
        ],
    );
    first.requests = 4;
    first.writes = 1;
    f.store
        .record_org_result(run, &plan[0], Ok(&first))
        .unwrap();
    // o2: no answer at all.
    f.store
        .record_org_failure(run, &plan[1], "transport: reset", 5, 0)
        .unwrap();
    let before = f.store.run(run).unwrap().unwrap().totals;
    assert_eq!((before.orgs, before.orgs_failed, before.failed), (2, 1, 1));

    // Again: o1's created line is now unchanged, its other line updated; o2
    // fails again.
    let mut second = result(
        &plan[0],
        vec![
            (LineOutcome::Unchanged, Some(7)),
            (
                LineOutcome::Updated {
                    previous_quantity: Decimal::from_f64(1.0),
                },
                Some(8),
            ),
        ],
    );
    second.requests = 2;
    second.writes = 1;
    f.store
        .record_org_retry(run, &plan[0], OrgAttempt::Report(&second))
        .unwrap();
    f.store
        .record_org_retry(
            run,
            &plan[1],
            OrgAttempt::Failed {
                message: "transport: reset again",
                requests: 5,
                writes: 0,
            },
        )
        .unwrap();
    let done = f.store.finish_run(run, None).unwrap();
    let t = done.totals;
    assert_eq!(
        (
            t.orgs,
            t.orgs_failed,
            t.created,
            t.updated,
            t.unchanged,
            t.failed
        ),
        (2, 1, 0, 1, 1, 0),
        "the last attempt's lines only"
    );
    assert_eq!(
        (t.requests, t.writes),
        (4 + 5 + 2 + 5, 2),
        "both attempts sent"
    );
    assert_eq!(done.retried, 2);
    assert_eq!(done.status, RunStatus::Failed, "o2 still failed");
    let lines = f.store.run_lines(run).unwrap();
    let summary: Vec<(String, LineKind, u32)> = lines
        .iter()
        .map(|l| (l.org_id.clone(), l.kind, l.attempt))
        .collect();
    assert_eq!(
        summary,
        [
            ("o1".to_string(), LineKind::Unchanged, 2),
            ("o1".to_string(), LineKind::Updated, 2),
            ("o2".to_string(), LineKind::OrgFailed, 2),
        ]
    );
    assert_eq!(lines[2].message.as_deref(), Some("transport: reset again"));
}

#[test]
fn an_error_for_the_whole_run_fails_it() {
    let f = fixture();
    let lock = f.store.lock(&sync_lock_name(T)).unwrap();
    let run = f
        .store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, true)
        .unwrap();
    let done = f
        .store
        .finish_run(run, Some("unauthorized: check the keys"))
        .unwrap();
    assert_eq!(done.status, RunStatus::Failed);
    assert!(done.dry_run);
    assert_eq!(
        done.message.as_deref(),
        Some("unauthorized: check the keys")
    );
    assert_eq!(
        f.store.last_completed_run_start(T).unwrap(),
        None,
        "dry runs do not count for the schedule"
    );
}

#[test]
fn begin_run_needs_the_tenants_live_sync_lock() {
    let f = fixture();
    let other = f.store.lock(&sync_lock_name("acme")).unwrap();
    let err = f
        .store
        .begin_run(&other, T, Trigger::Manual, RunScope::Every, false)
        .expect_err("wrong lock");
    assert!(matches!(err, StoreError::WrongLock { .. }), "{err:?}");

    // A lock taken over by another handle is no longer good for a run.
    let mut taker = f.db.open();
    install_clock(&mut taker, &f.clock);
    let lock = f.store.lock(&sync_lock_name(T)).unwrap();
    f.clock.store(3600, Ordering::SeqCst);
    let _new = taker.lock(&sync_lock_name(T)).expect("stale after an hour");
    let err = f
        .store
        .begin_run(&lock, T, Trigger::Daemon, RunScope::Every, false)
        .expect_err("lost");
    assert!(matches!(err, StoreError::LockLost { .. }), "{err:?}");
    assert!(
        f.store.list_runs(T, 10).unwrap().is_empty(),
        "no run recorded"
    );
}

#[test]
fn crash_leaves_a_running_run_that_the_next_holder_marks_interrupted() {
    let f = fixture();
    let plan = f.store.sync_plan(T).unwrap();
    // "Process A": takes the lock, starts a run, records one org, crashes.
    let crashed = {
        let mut a = f.db.open();
        install_clock(&mut a, &f.clock);
        let lock = a.lock(&sync_lock_name(T)).unwrap();
        let run = a
            .begin_run(&lock, T, Trigger::Daemon, RunScope::Every, false)
            .unwrap();
        a.record_org_result(
            run,
            &plan[0],
            Ok(&result(
                &plan[0],
                vec![
                    (LineOutcome::Unchanged, Some(1)),
                    (LineOutcome::Unchanged, Some(2)),
                ],
            )),
        )
        .unwrap();
        std::mem::forget(lock); // a crash runs no destructor
        run
    };
    // A second live run of another tenant must not be touched.
    let acme_lock = f.store.lock(&sync_lock_name("acme")).unwrap();
    let acme_run = f
        .store
        .begin_run(&acme_lock, "acme", Trigger::Manual, RunScope::Every, false)
        .unwrap();

    // "Process B" starts: the lock is busy until stale.
    assert!(f.store.try_lock(&sync_lock_name(T)).unwrap().is_none());
    f.clock.store(601, Ordering::SeqCst);
    let lock = f.store.lock(&sync_lock_name(T)).unwrap();
    let own = f
        .store
        .begin_run(&lock, T, Trigger::Daemon, RunScope::Every, false)
        .unwrap();
    let recovered = f.store.recover_interrupted_runs(&lock).unwrap();
    assert_eq!(recovered, [crashed], "only the dead process's run");

    let record = f.store.run(crashed).unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    assert_eq!(record.finished_at, None);
    assert!(
        record
            .message
            .as_deref()
            .unwrap()
            .contains("stopped before it finished")
    );
    assert_eq!(record.totals.orgs, 1, "the recorded org is kept");
    assert_eq!(f.store.run_lines(crashed).unwrap().len(), 2);
    assert_eq!(
        f.store.run(own).unwrap().unwrap().status,
        RunStatus::Running
    );
    assert_eq!(
        f.store.run(acme_run).unwrap().unwrap().status,
        RunStatus::Running
    );
    assert_eq!(
        f.store.last_completed_run_start(T).unwrap(),
        None,
        "an interrupted run does not count as done"
    );
    // Idempotent.
    assert!(f.store.recover_interrupted_runs(&lock).unwrap().is_empty());
}

#[test]
fn history_lists_newest_first_per_tenant() {
    let f = fixture();
    let lock = f.store.lock(&sync_lock_name(T)).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        f.clock.store(i * 86_400, Ordering::SeqCst);
        let run = f
            .store
            .begin_run(&lock, T, Trigger::Daemon, RunScope::Every, false)
            .unwrap();
        f.store.finish_run(run, None).unwrap();
        ids.push(run);
    }
    let runs = f.store.list_runs(T, 2).unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
    assert!(f.store.list_runs("acme", 10).unwrap().is_empty());
    assert_eq!(
        f.store.last_completed_run_start(T).unwrap(),
        Some(at(2 * 86_400))
    );
    assert!(matches!(
        f.store.run_lines(seatsync_host::store::RunId(999)),
        Err(StoreError::NoSuchRun(999))
    ));
    assert_eq!(f.store.run(seatsync_host::store::RunId(999)).unwrap(), None);
}

#[test]
fn daemon_first_start_is_remembered() {
    let f = fixture();
    f.clock.store(100, Ordering::SeqCst);
    assert_eq!(f.store.note_daemon_started(T).unwrap(), at(100));
    f.clock.store(5000, Ordering::SeqCst);
    assert_eq!(f.store.note_daemon_started(T).unwrap(), at(100));
    assert_eq!(f.store.note_daemon_started("acme").unwrap(), at(5000));
}

#[test]
fn a_postgresql_connection_that_breaks_is_opened_again() {
    let Some(schema) = seatsync_host::store::testing::PostgresSchema::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    seatsync_host::store::new_key_file(&key).unwrap();
    let store =
        Store::open_with_key(schema.url(), seatsync_host::store::KeySource::File(key)).unwrap();
    store
        .set_data_type(T, seatsync_host::store::DataType::Packages, false)
        .unwrap();
    // Another connection (the lock's) is opened and closed with each lock;
    // this ends the store's own.
    assert_eq!(schema.end_connections(), 1);
    // The first statement finds the connection gone; the next one opens it
    // again, and the store goes on with what it had stored.
    let first = store.data_types(T);
    let types = match first {
        Ok(types) => types,
        Err(error) => {
            assert!(error.to_string().contains("connection"), "{error}");
            store.data_types(T).expect("connected again")
        }
    };
    assert!(!types.packages);
    store
        .set_data_type(T, seatsync_host::store::DataType::Packages, true)
        .unwrap();
    assert!(store.data_types(T).unwrap().packages);
}
