//! The write journal in the store: an entry per write, recorded before it
//! goes out; its answer (or the lack of one) recorded with the
//! organization's result; what an unanswered write leaves for the next run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use seatsync_contract::{LineOutcome, LineResult, SyncReport};
use seatsync_host::store::{
    NewWrite, OrgAttempt, OrgMapping, PackageMapping, RunId, RunScope, RunStatus, Store, Trigger,
    WriteResolution, WriteState, sync_lock_name,
};
use seatsync_host::usage::parse_usage;

const T: &str = "default";

fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 6, 15, 6, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// A store with o1 mapped (business, one line) on a clock the test moves.
fn fixture() -> (tempfile::TempDir, Store, Arc<AtomicI64>) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("seatsync.db")).unwrap();
    let clock = Arc::new(AtomicI64::new(0));
    let c = clock.clone();
    store.set_clock(Arc::new(move || at(c.load(Ordering::SeqCst))));
    let usage = parse_usage(
        b"org_id,org_name,package,active_users\no1,One,business,10\n",
        None,
    )
    .unwrap();
    store.replace_usage(T, &usage).unwrap();
    store
        .upsert_package_mapping(
            T,
            "business",
            &PackageMapping {
                product_id: 101,
                product_identifier: None,
                product_description: None,
                options: BTreeMap::from([
                    ("bill-method".to_string(), "billable".to_string()),
                    ("taxable".to_string(), "true".to_string()),
                ]),
            },
        )
        .unwrap();
    store
        .upsert_org_mapping(
            T,
            "o1",
            &OrgMapping {
                company_id: 254,
                agreement_id: 1254,
                company_name: None,
                agreement_name: None,
            },
        )
        .unwrap();
    (dir, store, clock)
}

fn write(store: &Store, run: RunId, body_sha256: &str) -> i64 {
    store
        .record_write(&NewWrite {
            tenant: T,
            site: "cw.example.com",
            run,
            org_id: "o1",
            method: "POST",
            url: "https://cw.example.com/v4_6_release/apis/3.0/finance/agreements/1254/additions",
            body_sha256,
            settle_window: Duration::from_secs(210),
        })
        .unwrap()
}

fn resolution(
    entry: i64,
    state: WriteState,
    status: Option<u16>,
    created: Option<i64>,
) -> WriteResolution {
    WriteResolution {
        entry,
        state,
        status,
        error: (state == WriteState::Unanswered).then(|| "timed out".to_string()),
        created_id: created,
    }
}

fn report(outcome: LineOutcome, addition: Option<i64>) -> SyncReport {
    SyncReport {
        company_id: 254,
        contract_id: 1254,
        dry_run: false,
        lines: vec![LineResult {
            package_key: "business".into(),
            product_id: 101,
            quantity: 10,
            outcome,
            line_id: addition,
            unit_price: None,
        }],
        requests: 2,
        writes: 1,
    }
}

#[test]
fn an_entry_goes_from_sent_to_answered_with_the_organizations_result() {
    let (_dir, store, _clock) = fixture();
    let lock = store.lock(&sync_lock_name(T)).unwrap();
    let plan = store.sync_plan(T).unwrap().remove(0);
    let run = store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    let entry = write(&store, run, "aa");
    let unresolved = store.unresolved_writes(T).unwrap();
    assert_eq!(unresolved.len(), 1);
    assert_eq!(unresolved[0].state, WriteState::Sent);
    assert_eq!(unresolved[0].recorded_at, at(0));
    assert_eq!(unresolved[0].settle_until, at(210));
    assert_eq!(unresolved[0].run, Some(run));

    let done = report(LineOutcome::Created, Some(77));
    store
        .record_org_attempt(
            run,
            &plan,
            OrgAttempt::Report(&done),
            1,
            &[resolution(entry, WriteState::Answered, Some(201), Some(77))],
        )
        .unwrap();
    assert!(store.unresolved_writes(T).unwrap().is_empty());
    let writes = store.run_writes(run).unwrap();
    assert_eq!(writes[0].state, WriteState::Answered);
    assert_eq!(writes[0].status, Some(201));
    assert_eq!(writes[0].created_id, Some(77));
    assert!(writes[0].resolved_at.is_some());
}

#[test]
fn an_unanswered_entry_stays_open_until_a_later_run_settles_it() {
    let (_dir, store, clock) = fixture();
    let lock = store.lock(&sync_lock_name(T)).unwrap();
    let plan = store.sync_plan(T).unwrap().remove(0);
    let run = store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    let entry = write(&store, run, "aa");
    store
        .record_org_attempt(
            run,
            &plan,
            OrgAttempt::Failed {
                message: "transport: no answer",
                requests: 1,
                writes: 1,
            },
            1,
            &[resolution(entry, WriteState::Unanswered, None, None)],
        )
        .unwrap();
    store.finish_run(run, None).unwrap();
    let open = store.unresolved_writes(T).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].state, WriteState::Unanswered);
    assert_eq!(open[0].error.as_deref(), Some("timed out"));
    assert_eq!(open[0].resolved_at, None);

    // The next run waits: its organization's lines are `waiting`.
    clock.store(30, Ordering::SeqCst);
    let second = store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    store
        .record_org_attempt(
            second,
            &plan,
            OrgAttempt::Waiting {
                message: "waiting for an earlier write",
            },
            1,
            &[],
        )
        .unwrap();
    let record = store.finish_run(second, None).unwrap();
    assert_eq!(record.status, RunStatus::Attention);
    assert_eq!(record.totals.waiting, 1);
    assert_eq!(record.totals.orgs_failed, 0);
    let lines = store.run_lines(second).unwrap();
    assert_eq!(lines[0].kind.as_str(), "waiting");
    assert_eq!(store.unresolved_writes(T).unwrap().len(), 1, "still open");

    // After the window, a run that read settles it; a settled entry is
    // never reopened.
    clock.store(300, Ordering::SeqCst);
    let third = store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    let unchanged = report(LineOutcome::Unchanged, Some(77));
    store
        .record_org_attempt(
            third,
            &plan,
            OrgAttempt::Report(&unchanged),
            1,
            &[resolution(entry, WriteState::Settled, None, None)],
        )
        .unwrap();
    store
        .record_org_retry(third, &plan, OrgAttempt::Report(&unchanged))
        .unwrap();
    assert!(store.unresolved_writes(T).unwrap().is_empty());
    let settled = &store.run_writes(run).unwrap()[0];
    assert_eq!(settled.state, WriteState::Settled);
    assert_eq!(settled.resolved_at, Some(at(300)));
}

#[test]
fn a_conflict_between_two_additions_seatsync_created_says_which_to_cancel() {
    let (_dir, store, clock) = fixture();
    let lock = store.lock(&sync_lock_name(T)).unwrap();
    let plan = store.sync_plan(T).unwrap().remove(0);
    // Two runs each created an addition for the same product (as two
    // seatsync installations that cannot see each other's journal would).
    let mut created = Vec::new();
    for (secs, addition) in [(0, 501), (3600, 502)] {
        clock.store(secs, Ordering::SeqCst);
        let run = store
            .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
            .unwrap();
        let entry = write(&store, run, "aa");
        store
            .record_org_attempt(
                run,
                &plan,
                OrgAttempt::Report(&report(LineOutcome::Created, Some(addition))),
                1,
                &[resolution(
                    entry,
                    WriteState::Answered,
                    Some(201),
                    Some(addition),
                )],
            )
            .unwrap();
        store.finish_run(run, None).unwrap();
        created.push(run);
    }
    clock.store(7200, Ordering::SeqCst);
    let run = store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    store
        .record_org_result(
            run,
            &plan,
            Ok(&report(LineOutcome::Conflict(vec![501, 502]), None)),
        )
        .unwrap();
    let line = &store.run_lines(run).unwrap()[0];
    assert_eq!(
        line.message.as_deref(),
        Some(
            "duplicate created by seatsync: addition 501 at 2027-06-15 06:00:00 UTC and addition 502 at \
             2027-06-15 07:00:00 UTC; cancel 502 in ConnectWise (the first one is the one billed since)"
        )
    );
    // Additions seatsync did not create keep the general message.
    store
        .record_org_retry(
            run,
            &plan,
            OrgAttempt::Report(&report(LineOutcome::Conflict(vec![86, 87]), None)),
        )
        .unwrap();
    let line = &store.run_lines(run).unwrap()[0];
    assert!(
        line.message
            .as_deref()
            .is_some_and(|m| m.starts_with("2 active additions exist")),
        "{line:?}"
    );
}
