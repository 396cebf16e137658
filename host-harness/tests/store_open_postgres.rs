//! Opening a PostgreSQL store: the migrations from an earlier schema
//! version, and what is refused untouched (another program's tables, a
//! newer seatsync's schema). The SQLite file's twins are in
//! `store_open.rs`. Skipped without `SEATSYNC_TEST_POSTGRES` (CI sets it,
//! with `SEATSYNC_REQUIRE_POSTGRES`).

use chrono::NaiveTime;
use seatsync_host::store::testing::PostgresSchema;
use seatsync_host::store::{KeySource, Store, StoreError};

/// A key file for a PostgreSQL store, in `dir`.
fn key(dir: &tempfile::TempDir) -> KeySource {
    let key = dir.path().join("secret.key");
    seatsync_host::store::new_key_file(&key).unwrap();
    KeySource::File(key)
}

#[test]
fn another_programs_schema_is_refused_untouched() {
    let Some(schema) = PostgresSchema::new() else {
        return;
    };
    schema.batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine');");
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open_with_key(schema.url(), key(&dir)).expect_err("foreign");
    assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("not a seatsync one"), "{err}");
    // Untouched: still only its table, no seatsync_schema.
    schema.batch(
        "DO $$ BEGIN
           IF (SELECT count(*) FROM information_schema.tables
               WHERE table_schema = current_schema()) <> 1 THEN
             RAISE EXCEPTION 'the schema was changed';
           END IF;
         END $$;",
    );
}

#[test]
fn a_newer_seatsyncs_schema_is_refused() {
    let Some(schema) = PostgresSchema::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = key(&dir);
    drop(Store::open_with_key(schema.url(), keys.clone()).expect("created"));
    schema.batch("UPDATE seatsync_schema SET version = version + 1");
    let err = Store::open_with_key(schema.url(), keys).expect_err("too new");
    match &err {
        StoreError::TooNew {
            found, supported, ..
        } => assert_eq!(*found, *supported as i64 + 1),
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert!(err.to_string().contains("upgrade seatsync"), "{err}");
}

#[test]
fn a_postgresql_schema_of_version_1_migrates_and_keeps_its_history() {
    let Some(schema) = PostgresSchema::new() else {
        return;
    };
    schema.migrate_to(1);
    schema.batch(
        "INSERT INTO tenants (name, daemon_first_started_at) VALUES ('acme', '2026-11-01T06:00:00Z');
         INSERT INTO runs (tenant, started_at, finished_at, status, dry_run, trigger, lock_token, orgs)
             VALUES ('acme', '2026-11-02T06:00:00Z', '2026-11-02T06:01:00Z', 'succeeded', 0,
                     'daemon', 'gone', 12);
         INSERT INTO locks (name, pid, hostname, token, acquired_at, heartbeat_at)
             VALUES ('sync:acme', 1, 'elsewhere', 'old', '2026-11-02T06:00:00Z',
                     '2026-11-02T06:00:00Z');",
    );
    let dir = tempfile::tempdir().unwrap();
    let keys = key(&dir);
    let store = Store::open_with_key(schema.url(), keys.clone()).expect("version 1 migrates");
    assert_eq!(
        store.last_completed_run_start("acme").unwrap(),
        Some("2026-11-02T06:00:00Z".parse().unwrap()),
        "the history is kept"
    );
    assert_eq!(store.sync_at("acme").unwrap(), None, "the default time");
    let holder = store.lock_holder("sync:acme").unwrap().expect("kept");
    assert_eq!(holder.hostname, "elsewhere");
    assert!(store.workers().unwrap().is_empty());
    let at = NaiveTime::from_hms_opt(5, 15, 0).unwrap();
    store.set_sync_at("acme", Some(at)).unwrap();
    drop(store);
    // Opened again: nothing more to migrate, the time kept.
    let store = Store::open_with_key(schema.url(), keys).unwrap();
    assert_eq!(store.sync_at("acme").unwrap(), Some(at));
}
