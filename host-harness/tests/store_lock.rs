//! The database lock, with two `Store` handles on one file (as two processes
//! would have).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
mod common;

use common::TestDb;
use seatsync_host::store::{Store, StoreError, sync_lock_name};

/// A clock the test moves by hand, shared by both handles.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new() -> Self {
        let start = Utc.with_ymd_and_hms(2027, 6, 15, 6, 0, 0).unwrap();
        TestClock(Arc::new(AtomicI64::new(start.timestamp())))
    }
    fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    fn install(&self, store: &mut Store) {
        let t = self.0.clone();
        store.set_clock(Arc::new(move || {
            DateTime::from_timestamp(t.load(Ordering::SeqCst), 0).expect("in range")
        }));
        store.set_lock_stale_after(Duration::from_secs(600));
    }
}

fn two_handles() -> (TestDb, TestClock, Store, Store) {
    let db = TestDb::new();
    let clock = TestClock::new();
    let mut a = db.open();
    let mut b = db.open();
    clock.install(&mut a);
    clock.install(&mut b);
    (db, clock, a, b)
}

#[test]
fn second_handle_is_refused_and_told_who_holds_it() {
    let (_d, _clock, a, b) = two_handles();
    let name = sync_lock_name("default");
    assert_eq!(name, "sync:default");
    let guard = a.try_lock(&name).unwrap().expect("free lock");
    assert!(b.try_lock(&name).unwrap().is_none(), "held by a");
    assert!(a.try_lock(&name).unwrap().is_none(), "not reentrant");

    let holder = b.lock_holder(&name).unwrap().expect("held");
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(&holder, guard.info());
    let err = b.lock(&name).expect_err("busy");
    assert!(matches!(err, StoreError::LockBusy(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "the lock 'sync:default' is held by process {} on ",
            std::process::id()
        )),
        "{msg}"
    );
    assert!(msg.contains("since 2027-06-15 06:00:00 UTC"), "{msg}");
    assert!(
        msg.contains("taken over automatically after 2027-06-15 06:10:00 UTC"),
        "{msg}"
    );

    // Other names are independent.
    assert!(b.try_lock("sync:acme").unwrap().is_some());

    drop(guard);
    assert_eq!(b.lock_holder(&name).unwrap(), None, "released on drop");
    assert!(b.try_lock(&name).unwrap().is_some(), "free again");
}

#[test]
fn explicit_release_frees_the_lock() {
    let (_d, _clock, a, b) = two_handles();
    let guard = a.lock("sync:default").unwrap();
    guard.release().unwrap();
    assert!(b.try_lock("sync:default").unwrap().is_some());
}

#[test]
fn stale_lock_is_taken_over_and_old_holder_learns_it() {
    let (_d, clock, a, b) = two_handles();
    let mut old = a.lock("sync:default").unwrap();
    clock.advance(599);
    assert!(
        b.try_lock("sync:default").unwrap().is_none(),
        "not stale yet"
    );
    old.heartbeat().unwrap();
    clock.advance(599);
    assert!(
        b.try_lock("sync:default").unwrap().is_none(),
        "the heartbeat kept it fresh"
    );
    clock.advance(2);
    let new = b
        .try_lock("sync:default")
        .unwrap()
        .expect("stale after 10 minutes without heartbeat");
    let err = old.heartbeat().expect_err("lost");
    assert!(matches!(err, StoreError::LockLost { .. }), "{err:?}");
    assert!(err.to_string().contains("stop this sync"), "{err}");
    // Dropping the old guard must not release the new holder's lock.
    drop(old);
    assert_eq!(
        a.lock_holder("sync:default").unwrap().as_ref(),
        Some(new.info())
    );
    assert!(a.try_lock("sync:default").unwrap().is_none());
}

#[test]
fn lock_survives_a_forgotten_guard_until_stale() {
    // A crashed process: its row stays (forget skips Drop).
    let (_d, clock, a, b) = two_handles();
    std::mem::forget(a.lock("sync:default").unwrap());
    assert!(b.try_lock("sync:default").unwrap().is_none());
    clock.advance(601);
    assert!(b.try_lock("sync:default").unwrap().is_some());
}

#[test]
fn concurrent_takers_get_exactly_one_lock() {
    let db = Arc::new(TestDb::new());
    drop(db.open());
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let store = db.open();
                barrier.wait();
                let guard = store.try_lock("sync:default").unwrap();
                let got = guard.is_some();
                // Hold it until every thread has tried.
                barrier.wait();
                drop(guard);
                got
            })
        })
        .collect();
    let winners = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&w| w)
        .count();
    assert_eq!(winners, 1);
}

/// A holder that ended leaves its row; what the taker makes of it depends
/// on what the row says about the process.
fn leave_row_of_ended_process(path: &std::path::Path, process: Option<&str>) {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute(
        "UPDATE locks SET pid = ?1, process = ?2",
        rusqlite::params![pid, process],
    )
    .unwrap();
}

#[test]
fn an_ended_holder_here_is_taken_over_at_once_but_not_one_that_did_not_say_where_it_ran() {
    let (db, clock, a, b) = two_handles();
    if !db.is_sqlite() {
        // It edits the lock row in the SQLite file directly.
        return;
    }
    let path = db.location();
    let name = sync_lock_name("default");

    // As recorded by this version: this boot and pid namespace, so a pid
    // that is no process any more is a holder that is gone.
    let guard = a.try_lock(&name).unwrap().expect("free lock");
    let raw = rusqlite::Connection::open(&path).unwrap();
    let process: String = raw
        .query_row("SELECT process FROM locks", [], |r| r.get(0))
        .unwrap();
    let scope = process.rsplit_once('/').expect("scope/start").0.to_string();
    leave_row_of_ended_process(&path, Some(&format!("{scope}/1")));
    let taken = b.try_lock(&name).unwrap();
    assert!(taken.is_some(), "taken over at once");
    drop(taken);
    drop(guard); // its row was taken over: releasing deletes nothing

    // A row without `process` (an earlier seatsync, or no /proc) cannot
    // be judged: it waits for the stale timeout like a live holder.
    let guard = a.try_lock(&name).unwrap().expect("free lock");
    leave_row_of_ended_process(&path, None);
    assert!(b.try_lock(&name).unwrap().is_none(), "not yet stale");
    clock.advance(601);
    assert!(b.try_lock(&name).unwrap().is_some(), "stale now");
    drop(guard);
}

#[test]
fn several_names_are_taken_together_or_not_at_all() {
    let (_d, _clock, a, b) = two_handles();
    let site = seatsync_host::store::site_lock_name("https://api-na.example.com");
    let both = a.lock_all(&["sync:acme", &site]).expect("both are free");
    assert_eq!(both.names(), ["sync:acme".to_string(), site.clone()]);
    // Another tenant on the same site: its own lock is free, the site's is
    // not, so it gets neither (and is told who holds the site).
    let err = b.lock_all(&["sync:globex", &site]).expect_err("site busy");
    match err {
        StoreError::LockBusy(info) => assert_eq!(info.name, site),
        other => panic!("{other:?}"),
    }
    assert!(
        !b.lock_is_held("sync:globex").unwrap(),
        "nothing was left half-taken"
    );
    assert!(b.lock_is_held("sync:acme").unwrap());
    assert!(b.lock_is_held(&site).unwrap());
    both.release().unwrap();
    assert!(!b.lock_is_held(&site).unwrap());
    let again = b.lock_all(&["sync:globex", &site]).expect("free again");
    drop(again);
    assert!(
        !a.lock_is_held("sync:globex").unwrap(),
        "dropping releases all"
    );
}

#[test]
fn a_fenced_store_writes_nothing_once_its_lock_was_taken_over() {
    let (_d, clock, a, b) = two_handles();
    let site = seatsync_host::store::site_lock_name("https://psa.example.com");
    let mut held = a.lock_all(&["sync:default", &site]).unwrap();
    let fenced = a.fence(held.fence());
    // While the lock stands, writes go through.
    a.set_sync_at("default", None)
        .expect("held: writes go through");

    // `a` stalls past the stale timeout; `b` takes the site over.
    clock.advance(601);
    let taker = b
        .lock_all(&["sync:other", &site])
        .expect("stale: taken over");
    let err = a
        .set_sync_at("default", chrono::NaiveTime::from_hms_opt(5, 0, 0))
        .expect_err("fenced out");
    match &err {
        StoreError::LockLost { name } => assert_eq!(name, &site, "names what was lost"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        b.sync_at("default").unwrap(),
        None,
        "the fenced-out write changed nothing"
    );
    assert!(matches!(held.heartbeat(), Err(StoreError::LockLost { .. })));
    // Unfenced, the store writes again (a new run takes its own lock).
    drop(fenced);
    a.set_sync_at("default", chrono::NaiveTime::from_hms_opt(5, 0, 0))
        .expect("unfenced");
    drop(taker);
}

#[test]
fn a_lock_is_not_held_once_stale() {
    let (_d, clock, a, b) = two_handles();
    let _held = a.lock("sync:default").unwrap();
    assert!(b.lock_is_held("sync:default").unwrap());
    clock.advance(599);
    assert!(b.lock_is_held("sync:default").unwrap());
    clock.advance(2);
    assert!(!b.lock_is_held("sync:default").unwrap(), "stale");
    assert!(!b.lock_is_held("sync:nobody").unwrap());
}

#[test]
fn the_journal_store_of_a_fenced_run_is_fenced_too() {
    use seatsync_host::store::NewWrite;
    let (_d, clock, a, b) = two_handles();
    let site = seatsync_host::store::site_lock_name("https://psa.example.com");
    let held = a.lock_all(&["sync:default", &site]).unwrap();
    let _fenced = a.fence(held.fence());
    // The write journal's store: another connection of the run's.
    let journal = a.reopen().unwrap();
    let write = |store: &Store| {
        store.record_write(&NewWrite {
            tenant: "default",
            site: "https://psa.example.com",
            run: None,
            org_id: "o1",
            method: "POST",
            url: "https://psa.example.com/additions",
            body_sha256: "00",
            settle_window: Duration::from_secs(60),
        })
    };
    write(&journal).expect("held: the write is journaled (and may go out)");
    clock.advance(601);
    let _taker = b
        .lock_all(&["sync:default", &site])
        .expect("stale: taken over");
    match write(&journal) {
        Err(StoreError::LockLost { .. }) => {}
        other => panic!("a write after the takeover must not be journaled: {other:?}"),
    }
    assert_eq!(
        b.unresolved_writes("default").unwrap().len(),
        1,
        "only the write made while the lock stood"
    );
}

#[test]
fn a_fence_scope_gives_back_the_fence_before_it() {
    let (_d, clock, a, b) = two_handles();
    let outer = a.lock("sync:outer").unwrap();
    let inner = a.lock("sync:inner").unwrap();
    let _outer_scope = a.fence(outer.fence());
    {
        let _inner_scope = a.fence(inner.fence());
    }
    // The outer fence is back: once its lock is taken over, writes stop.
    clock.advance(601);
    let _taker = b.lock("sync:outer").unwrap();
    assert!(matches!(
        a.set_sync_at("default", None),
        Err(StoreError::LockLost { .. })
    ));
}
