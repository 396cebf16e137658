//! Workers and each tenant's time of day in the store (on SQLite, and on
//! PostgreSQL with `SEATSYNC_TEST_STORE=postgres`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
mod common;

use common::TestDb;
use seatsync_host::store::{Store, StoreError, StoredConnection, WorkerState};

fn clock(store: &mut Store, t: &Arc<AtomicI64>) {
    let t = t.clone();
    store.set_clock(Arc::new(move || {
        DateTime::from_timestamp(t.load(Ordering::SeqCst), 0).expect("in range")
    }));
}

fn connected(store: &Store, tenant: &str) {
    let settings = [("site", "https://psa.example.com"), ("key", "k")]
        .into_iter()
        .collect();
    store
        .save_connection(
            tenant,
            &StoredConnection::new(settings, ["key".to_string()], false, None),
        )
        .unwrap();
}

#[test]
fn a_tenants_time_is_kept_and_listed_with_its_schedule() {
    let db = TestDb::new();
    let store = db.open();
    connected(&store, "acme");
    connected(&store, "globex");
    // Not connected: not scheduled.
    store.add_tenant("initech").unwrap();
    assert_eq!(store.sync_at("acme").unwrap(), None);
    let at = NaiveTime::from_hms_opt(4, 30, 0).unwrap();
    store.set_sync_at("acme", Some(at)).unwrap();
    assert_eq!(store.sync_at("acme").unwrap(), Some(at));
    let first = store.note_daemon_started("globex").unwrap();

    let schedules = store.tenant_schedules().unwrap();
    let tenants: Vec<&str> = schedules.iter().map(|s| s.tenant.as_str()).collect();
    assert_eq!(tenants, ["acme", "globex"], "connected tenants only");
    assert_eq!(
        (schedules[0].at, schedules[0].first_started),
        (Some(at), None)
    );
    assert_eq!(
        (schedules[1].at, schedules[1].first_started),
        (None, Some(first))
    );
    assert!(schedules.iter().all(|s| s.last_run.is_none()));

    store.set_sync_at("acme", None).unwrap();
    assert_eq!(store.sync_at("acme").unwrap(), None, "back to the default");
    assert!(matches!(
        store.set_sync_at("bad name!", Some(at)),
        Err(StoreError::InvalidInput(_))
    ));
}

#[test]
fn workers_heartbeat_hold_leases_and_leave() {
    let db = TestDb::new();
    let now = Arc::new(AtomicI64::new(
        Utc.with_ymd_and_hms(2027, 3, 1, 6, 0, 0)
            .unwrap()
            .timestamp(),
    ));
    let mut a = db.open();
    let mut b = db.open();
    clock(&mut a, &now);
    clock(&mut b, &now);
    let id = a.register_worker(3).unwrap();
    let lease = a
        .lock_all(&["sync:acme", "site:https://psa.example.com"])
        .unwrap();
    // A lock taken by another store of no worker is no worker's lease.
    let _other = b.lock("sync:globex").unwrap();

    let listed = b.workers().unwrap();
    assert_eq!(listed.len(), 1);
    let w = &listed[0];
    assert_eq!(
        (w.id.as_str(), w.state, w.jobs),
        (id.as_str(), WorkerState::Live, 3)
    );
    assert_eq!(w.pid, std::process::id());
    let names: Vec<&str> = w.leases.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["site:https://psa.example.com", "sync:acme"]);
    assert!(w.running.is_empty(), "no run began under the lease");

    // No heartbeat for the stale timeout: gone.
    now.fetch_add(601, Ordering::SeqCst);
    assert_eq!(b.workers().unwrap()[0].state, WorkerState::Gone);
    a.worker_heartbeat(&id, 3).unwrap();
    assert_eq!(b.workers().unwrap()[0].state, WorkerState::Live);

    drop(lease);
    assert!(b.workers().unwrap()[0].leases.is_empty());
    a.end_worker(&id).unwrap();
    assert!(b.workers().unwrap().is_empty());
    // A worker cleared away while paused records itself again.
    a.worker_heartbeat(&id, 3).unwrap();
    assert_eq!(b.workers().unwrap().len(), 1);

    // A day without a heartbeat: the next worker to start clears it away.
    now.fetch_add(25 * 3600, Ordering::SeqCst);
    let next = b.register_worker(1).unwrap();
    let ids: Vec<String> = b.workers().unwrap().into_iter().map(|w| w.id).collect();
    assert_eq!(ids, [next]);
}
