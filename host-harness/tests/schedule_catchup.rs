//! The start-up catch-up decision as the daemon makes it: the store's last
//! completed run (or the daemon's first start) fed to `missed_slot`.

mod common;

use common::TestDb;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use seatsync_host::schedule::{DEFAULT_AT, missed_slot, next_fire, parse_at};
use seatsync_host::store::{RunScope, Store, Trigger, sync_lock_name};

const T: &str = "default";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

struct Daemon {
    _db: TestDb,
    now: Arc<AtomicI64>,
    store: Store,
}

impl Daemon {
    fn new(start: &str) -> Self {
        let db = TestDb::new();
        let mut store = db.open();
        let now = Arc::new(AtomicI64::new(t(start).timestamp()));
        let n = now.clone();
        store.set_clock(Arc::new(move || {
            DateTime::from_timestamp(n.load(Ordering::SeqCst), 0).unwrap()
        }));
        Daemon {
            _db: db,
            now,
            store,
        }
    }

    fn set_now(&self, s: &str) {
        self.now.store(t(s).timestamp(), Ordering::SeqCst);
    }

    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.now.load(Ordering::SeqCst), 0).unwrap()
    }

    /// What the daemon does at start-up.
    fn start(&self) -> Option<DateTime<Utc>> {
        let first = self.store.note_daemon_started(T).unwrap();
        let last = self
            .store
            .last_completed_run_start(T)
            .unwrap()
            .or(Some(first));
        missed_slot(last, self.now(), DEFAULT_AT)
    }

    fn run(&self, dry_run: bool, finish: bool) {
        self.run_of(RunScope::Every, Trigger::Daemon, dry_run, finish);
    }

    fn run_of(&self, scope: RunScope, trigger: Trigger, dry_run: bool, finish: bool) {
        let lock = self.store.lock(&sync_lock_name(T)).unwrap();
        let run = self
            .store
            .begin_run(&lock, T, trigger, scope, dry_run)
            .unwrap();
        if finish {
            self.store.finish_run(run, None).unwrap();
        } else {
            std::mem::forget(lock);
        }
    }
}

#[test]
fn fresh_install_does_not_sync_at_once() {
    let d = Daemon::new("2027-06-15T09:00:00Z");
    assert_eq!(d.start(), None, "installed after today's slot");
    // Restarted the same day: still nothing.
    d.set_now("2027-06-15T23:00:00Z");
    assert_eq!(d.start(), None);
    // Down over the next slot: catch up that slot.
    d.set_now("2027-06-16T08:00:00Z");
    assert_eq!(d.start(), Some(t("2027-06-16T06:00:00Z")));
}

#[test]
fn run_today_means_nothing_missed_then_a_missed_day_is_caught_up_once() {
    let d = Daemon::new("2027-06-15T06:00:00Z");
    d.start();
    d.run(false, true);
    d.set_now("2027-06-15T12:00:00Z");
    assert_eq!(d.start(), None);
    // Down for three days (across a month end): one catch-up, the latest.
    d.set_now("2027-06-30T06:00:00Z");
    d.run(false, true);
    d.set_now("2027-07-03T07:30:00Z");
    assert_eq!(d.start(), Some(t("2027-07-03T06:00:00Z")));
    d.run(false, true);
    assert_eq!(d.start(), None, "the catch-up run counts");
    assert_eq!(next_fire(d.now(), DEFAULT_AT), t("2027-07-04T06:00:00Z"));
}

#[test]
fn dry_and_interrupted_runs_do_not_count() {
    let d = Daemon::new("2027-06-14T06:00:00Z");
    d.start();
    d.run(false, true);
    d.set_now("2027-06-15T06:00:00Z");
    d.run(true, true); // a dry run at the slot
    d.set_now("2027-06-15T06:00:01Z");
    assert_eq!(d.start(), Some(t("2027-06-15T06:00:00Z")));
    d.run(false, false); // crashed mid-run
    d.set_now("2027-06-15T06:30:00Z");
    assert_eq!(d.start(), Some(t("2027-06-15T06:00:00Z")));
}

#[test]
fn a_manual_run_of_some_organizations_does_not_count_but_one_of_all_does() {
    let d = Daemon::new("2027-06-14T06:00:00Z");
    d.start();
    d.run(false, true);
    // The daemon was down at the slot; an operator synced two
    // organizations by hand at 07:00 (`seatsync sync --org ...`).
    d.set_now("2027-06-15T07:00:00Z");
    d.run_of(RunScope::Some, Trigger::Manual, false, true);
    d.set_now("2027-06-15T08:00:00Z");
    assert_eq!(
        d.start(),
        Some(t("2027-06-15T06:00:00Z")),
        "the others still need the day's sync"
    );
    // A manual run of every organization is the day's run.
    d.run_of(RunScope::Every, Trigger::Manual, false, true);
    d.set_now("2027-06-15T09:00:00Z");
    assert_eq!(d.start(), None);
}

#[test]
fn custom_time_from_parse_at() {
    let at = parse_at("23:59").unwrap();
    assert_eq!(
        next_fire(t("2027-12-31T23:59:00Z"), at),
        t("2028-01-01T23:59:00Z")
    );
    assert_eq!(
        missed_slot(
            Some(t("2027-12-30T23:59:00Z")),
            t("2028-01-01T00:00:00Z"),
            at
        ),
        Some(t("2027-12-31T23:59:00Z"))
    );
}
