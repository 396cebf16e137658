//! The write journal in the store: an entry per write, recorded before it
//! goes out; its answer (or the lack of one) recorded with the
//! organization's result; what an unanswered write leaves for the next run.

mod common;

use common::TestDb;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use seatsync_contract::{ConnectorDescription, LineOutcome, LineResult, SyncReport};
use seatsync_host::resolve::{self, ResolveError};
use seatsync_host::store::{
    Confirmation, EndState, LineNote, LockGuard, NewLineEnd, NewWrite, OrgAttempt, OrgMapping,
    PackageMapping, RunId, RunScope, RunStatus, Store, Trigger, WriteResolution, WriteState,
    sync_lock_name,
};
use seatsync_host::usage::parse_usage;

const T: &str = "default";

fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 6, 15, 6, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// A store with o1 mapped (business, one line) on a clock the test moves.
fn fixture() -> (TestDb, Store, Arc<AtomicI64>) {
    let dir = TestDb::new();
    let mut store = dir.open();
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
            run: Some(run),
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
            &[],
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
            &[],
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
            &[],
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

/// The connector's nouns, as the ConnectWise connector describes them.
fn connectwise() -> ConnectorDescription {
    ConnectorDescription {
        name: "test".into(),
        version: "1".into(),
        psa: "ConnectWise Manage".into(),
        line_noun: "agreement addition".into(),
        contract_noun: "agreement".into(),
        settings: Vec::new(),
        line_options: Vec::new(),
    }
}

/// Two runs each created an addition for the same product (as two seatsync
/// installations that cannot see each other's journal would; or a PSA whose
/// reads lag): 501 at 06:00 and 502 at 07:00. Returns the store's lock.
fn two_creates(store: &Store, clock: &AtomicI64) -> LockGuard {
    let lock = store.lock(&sync_lock_name(T)).unwrap();
    let plan = store.sync_plan(T).unwrap().remove(0);
    for (secs, addition) in [(0, 501), (3600, 502)] {
        clock.store(secs, Ordering::SeqCst);
        let run = store
            .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
            .unwrap();
        let entry = write(store, run, "aa");
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
                &[],
            )
            .unwrap();
        store.finish_run(run, None).unwrap();
    }
    lock
}

/// Records a run at `secs` whose one line is `outcome`, with the notes the
/// sync would give it (`resolve::duplicates_in_report`); returns the run.
fn run_with(
    store: &Store,
    clock: &AtomicI64,
    lock: &LockGuard,
    secs: i64,
    outcome: LineOutcome,
    line: Option<i64>,
) -> RunId {
    clock.store(secs, Ordering::SeqCst);
    let plan = store.sync_plan(T).unwrap().remove(0);
    let run = store
        .begin_run(lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    let report = report(outcome, line);
    let notes: Vec<LineNote> = resolve::duplicates_in_report(store, T, &connectwise(), &report)
        .unwrap()
        .into_iter()
        .map(|d| LineNote {
            line: d.line,
            message: d.message,
        })
        .collect();
    store
        .record_org_attempt(run, &plan, OrgAttempt::Report(&report), 1, &[], &notes)
        .unwrap();
    store.finish_run(run, None).unwrap();
    run
}

#[test]
fn a_conflict_between_two_additions_seatsync_created_says_which_to_end() {
    let (_dir, store, clock) = fixture();
    let lock = two_creates(&store, &clock);
    let run = run_with(
        &store,
        &clock,
        &lock,
        7200,
        LineOutcome::Conflict(vec![501, 502]),
        None,
    );
    let line = &store.run_lines(run).unwrap()[0];
    assert_eq!(
        line.message.as_deref(),
        Some(
            "duplicate created by seatsync: agreement addition 501 at 2027-06-15 06:00:00 UTC and agreement \
             addition 502 at 2027-06-15 07:00:00 UTC; end 502 with `seatsync resolve --end 502`"
        )
    );
    // Additions seatsync did not create keep the general message.
    let run = run_with(
        &store,
        &clock,
        &lock,
        7300,
        LineOutcome::Conflict(vec![86, 87]),
        None,
    );
    let line = &store.run_lines(run).unwrap()[0];
    assert!(
        line.message
            .as_deref()
            .is_some_and(|m| m.starts_with("2 active additions exist")),
        "{line:?}"
    );
}

/// What `seatsync resolve` may end: only the newer seatsync line of a
/// duplicate the latest sync of its contract and product found, once.
#[test]
fn only_the_newer_line_of_a_duplicate_the_latest_sync_found_may_be_ended() {
    let (_dir, store, clock) = fixture();
    let lock = two_creates(&store, &clock);
    let cw = connectwise();
    let plan_end = |line| resolve::plan_end(&store, T, &cw, line);

    // Before any conflict: nothing to end.
    assert!(matches!(
        plan_end(502),
        Err(ResolveError::NotInConflict { line_id: 502, .. })
    ));
    assert!(resolve::known_duplicates(&store, T).unwrap().is_empty());

    let conflict = run_with(
        &store,
        &clock,
        &lock,
        7200,
        LineOutcome::Conflict(vec![501, 502]),
        None,
    );
    // A later run that only waited says nothing of the lines: the conflict
    // stays the latest known.
    clock.store(7300, Ordering::SeqCst);
    let waited = store
        .begin_run(&lock, T, Trigger::Manual, RunScope::Every, false)
        .unwrap();
    let plan = store.sync_plan(T).unwrap().remove(0);
    store
        .record_org_attempt(
            waited,
            &plan,
            OrgAttempt::Waiting { message: "waiting" },
            1,
            &[],
            &[],
        )
        .unwrap();
    store.finish_run(waited, None).unwrap();

    let known = resolve::known_duplicates(&store, T).unwrap();
    assert_eq!(known.len(), 1);
    assert_eq!(known[0].conflict.run, conflict);
    assert_eq!(known[0].conflict.contract_id, 1254);
    assert_eq!(
        known[0]
            .still_to_end()
            .iter()
            .map(|c| c.line_id)
            .collect::<Vec<_>>(),
        [502]
    );

    let planned = plan_end(502).expect("502 may be ended");
    assert_eq!(planned.line.line_id, 502);
    assert_eq!(planned.known.duplicate.kept().line_id, 501);
    let older = plan_end(501).unwrap_err();
    assert!(matches!(older, ResolveError::Older { line_id: 501, .. }));
    assert_eq!(
        older.to_string(),
        "agreement addition 501 is the older of the lines seatsync created for this product (at 2027-06-15 \
         06:00:00 UTC): it is the one billed since and the one to keep, so nothing was changed; end the newer \
         one with `seatsync resolve --end 502`"
    );
    assert!(matches!(
        plan_end(999),
        Err(ResolveError::NotInConflict { line_id: 999, .. })
    ));

    // Ended once: not again.
    let id = store
        .record_line_end(&NewLineEnd {
            tenant: T,
            org_id: "o1",
            contract_id: 1254,
            product_id: 101,
            line_id: 502,
            kept_line_id: 501,
            end_day: "2027-06-15",
            confirmed: Confirmation::Flag,
            conflict_run: Some(conflict),
        })
        .unwrap();
    // Requested but not finished (a process killed meanwhile): it may be
    // asked again, the connector checks the line is still active.
    assert!(plan_end(502).is_ok());
    store
        .finish_line_end(id, EndState::Ended, None, &[])
        .unwrap();
    let again = plan_end(502).unwrap_err();
    assert!(
        matches!(again, ResolveError::AlreadyEnded { line_id: 502, .. }),
        "{again}"
    );
    assert!(
        again.to_string().contains("stops billing on 2027-06-15"),
        "{again}"
    );
    let known = resolve::known_duplicates(&store, T).unwrap();
    assert!(known[0].still_to_end().is_empty());
    assert_eq!(known[0].ended[0].line_id, 502);

    // A sync that finds one line: no duplicate any more.
    run_with(
        &store,
        &clock,
        &lock,
        7400,
        LineOutcome::Unchanged,
        Some(501),
    );
    assert!(resolve::known_duplicates(&store, T).unwrap().is_empty());
    assert!(matches!(
        plan_end(502),
        Err(ResolveError::NotInConflict { .. })
    ));
}

#[test]
fn lines_seatsync_did_not_create_are_never_its_to_end() {
    let (_dir, store, clock) = fixture();
    let lock = two_creates(&store, &clock);
    let cw = connectwise();
    // A person's 86 beside seatsync's two.
    run_with(
        &store,
        &clock,
        &lock,
        7200,
        LineOutcome::Conflict(vec![86, 501, 502]),
        None,
    );
    let known = resolve::known_duplicates(&store, T).unwrap();
    assert_eq!(known[0].duplicate.others, [86]);
    let error = resolve::plan_end(&store, T, &cw, 86).unwrap_err();
    assert!(
        matches!(
            error,
            ResolveError::NotCreatedBySeatsync { line_id: 86, .. }
        ),
        "{error}"
    );
    assert!(resolve::plan_end(&store, T, &cw, 502).is_ok());

    // Only one of seatsync's is left in conflict with a person's: not a
    // duplicate seatsync created, so seatsync does not choose.
    run_with(
        &store,
        &clock,
        &lock,
        7300,
        LineOutcome::Conflict(vec![86, 501]),
        None,
    );
    let error = resolve::plan_end(&store, T, &cw, 86).unwrap_err();
    assert!(
        matches!(
            error,
            ResolveError::NotSeatsyncDuplicate {
                line_id: 86,
                created: 1,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "agreement addition 86 is in a conflict on agreement 1254 (lines 86, 501), but seatsync's journal \
         created 1 of them, not two: seatsync does not choose between lines it did not create, so nothing was \
         changed; keep one in ConnectWise Manage yourself"
    );
    assert!(resolve::known_duplicates(&store, T).unwrap().is_empty());
}
