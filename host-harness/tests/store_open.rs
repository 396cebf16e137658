//! Opening the database: file mode, WAL, schema version, and clear errors
//! for files that are not (or not yet) seatsync databases.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use seatsync_host::store::{SCHEMA_VERSION, Store, StoreError};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn creates_private_file_in_wal_mode_with_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    let store = Store::open(&path).expect("opens");
    store
        .set_data_type("default", seatsync_host::store::DataType::Packages, false)
        .expect("a write creates the WAL");
    assert_eq!(mode(&path), 0o600, "database mode");
    let wal = dir.path().join("seatsync.db-wal");
    assert!(wal.exists(), "WAL mode keeps a -wal file while open");
    assert_eq!(mode(&wal), 0o600, "-wal mode");

    let raw = rusqlite::Connection::open(&path).unwrap();
    let journal: String = raw
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION as i64);
    drop(store);
}

#[test]
fn a_database_of_the_first_schema_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    // Version 1: without `locks.process` and `runs.partial`.
    Store::create_at_schema_version(&path, 1).expect("a version-1 database");
    let store = Store::open(&path).expect("migrates");
    let guard = store.try_lock("sync:default").unwrap().expect("free");
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION as i64);
    let process: Option<String> = raw
        .query_row("SELECT process FROM locks", [], |r| r.get(0))
        .unwrap();
    assert!(process.is_some(), "the new column is filled in");
    drop(guard);
}

#[test]
fn tightens_a_world_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loose.db");
    drop(Store::open(&path).unwrap());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    drop(Store::open(&path).unwrap());
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn reopening_keeps_data_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    {
        let store = Store::open(&path).unwrap();
        store
            .set_data_type("acme", seatsync_host::store::DataType::UserCounts, false)
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert!(!store.data_types("acme").unwrap().user_counts);
    assert_eq!(store.tenants().unwrap(), ["acme"]);
}

/// The schema declares the usage table's foreign keys (the store turns
/// enforcement on for its own connections).
#[test]
fn schema_declares_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    let _store = Store::open(&path).unwrap();
    // A second connection configured like the store's would be; here we only
    // check the store's own setting through a usage row without its org.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "foreign_keys", true).unwrap();
    let err = raw
        .execute(
            "INSERT INTO usage (tenant, org_id, package_key, active_users) VALUES ('t','o','p',1)",
            [],
        )
        .expect_err("usage needs its org and package");
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
}

#[test]
fn garbage_file_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
    let err = Store::open(&path).expect_err("garbage");
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("notes.txt"), "{msg}");
    assert!(
        msg.contains(
            "is not a seatsync database (file is not a database): move it away or pass --db"
        ),
        "{msg}"
    );
    // Nothing was written into it.
    assert!(
        fs::read_to_string(&path)
            .unwrap()
            .starts_with("these are my notes")
    );
}

#[test]
fn other_programs_sqlite_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
    }
    let err = Store::open(&path).expect_err("foreign");
    assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("not a seatsync one"), "{err}");
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 0, "no migration ran");
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    drop(Store::open(&path).unwrap());
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", (SCHEMA_VERSION + 1) as i64)
            .unwrap();
    }
    let err = Store::open(&path).expect_err("too new");
    match &err {
        StoreError::TooNew {
            found, supported, ..
        } => {
            assert_eq!(*found, SCHEMA_VERSION as i64 + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert!(err.to_string().contains("upgrade seatsync"), "{err}");
}

#[test]
fn missing_directory_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/seatsync.db");
    let err = Store::open(&path).expect_err("no directory");
    assert!(matches!(err, StoreError::File { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("no/such/dir/seatsync.db"), "{msg}");
    assert!(msg.contains("pass --db"), "{msg}");
}

#[test]
fn two_handles_open_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    a.set_data_type("t", seatsync_host::store::DataType::Packages, false)
        .unwrap();
    assert!(!b.data_types("t").unwrap().packages);
}

#[test]
fn damaged_schema_page_is_reported_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    drop(Store::open(&path).unwrap());
    // Page 1 holds the schema after the 100-byte header; scribble over it.
    let mut bytes = fs::read(&path).unwrap();
    assert!(bytes.len() >= 4096, "at least one page");
    for b in &mut bytes[100..4096] {
        *b = 0xa5;
    }
    fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path).expect_err("damaged");
    assert!(
        matches!(
            err,
            StoreError::Corrupt { .. } | StoreError::NotADatabase { .. }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("seatsync.db"), "{msg}");
    assert!(msg.contains("move it away"), "{msg}");
}

/// Version 2 kept `failed` for runs whose only problem was a conflict; the
/// `runs` table is rebuilt for the new `attention` status without losing a
/// run, a line, or the run ids already handed out.
#[test]
fn a_version_2_database_gets_the_attention_status_and_keeps_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    Store::create_at_schema_version(&path, 2).expect("a version-2 database");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(
            "INSERT INTO runs (id, tenant, started_at, finished_at, status, dry_run, trigger,
                               lock_token, orgs, orgs_failed, conflicts, failed, message)
             VALUES
               (1, 'default', '2026-01-01T06:00:00.000000000Z', '2026-01-01T06:01:00.000000000Z',
                'failed', 0, 'daemon', 't1', 2, 0, 1, 0, NULL),
               (2, 'default', '2026-01-02T06:00:00.000000000Z', '2026-01-02T06:01:00.000000000Z',
                'failed', 0, 'daemon', 't2', 2, 1, 1, 0, NULL),
               (3, 'default', '2026-01-03T06:00:00.000000000Z', '2026-01-03T06:01:00.000000000Z',
                'failed', 0, 'manual', 't3', 0, 0, 0, 0, 'unauthorized: check the keys'),
               (4, 'default', '2026-01-04T06:00:00.000000000Z', '2026-01-04T06:01:00.000000000Z',
                'succeeded', 1, 'manual', 't4', 1, 0, 0, 0, NULL),
               (5, 'default', '2026-01-05T06:00:00.000000000Z', NULL,
                'interrupted', 0, 'manual', 't5', 0, 0, 0, 0, 'stopped');
             INSERT INTO run_lines (run_id, org_id, package_key, outcome, conflict_ids)
             VALUES (1, 'pe-1', 'business', 'conflict', '[5,6]'),
                    (1, 'pe-2', 'business', 'unchanged', NULL),
                    (2, 'pe-1', 'business', 'conflict', '[5,6]'),
                    (2, 'pe-3', NULL, 'org-failed', NULL);
             -- The newest run was deleted: its id must still not come back.
             INSERT INTO runs (id, tenant, started_at, status, dry_run, trigger, lock_token)
             VALUES (9, 'default', '2026-01-09T06:00:00.000000000Z', 'running', 0, 'manual', 't9');
             DELETE FROM runs WHERE id = 9;",
        )
        .unwrap();
    }
    let store = Store::open(&path).expect("migrates");
    let statuses: Vec<(i64, String)> = store
        .list_runs("default", 10)
        .unwrap()
        .iter()
        .map(|r| (r.id.0, r.status.as_str().to_string()))
        .collect();
    assert_eq!(
        statuses,
        [
            (5, "interrupted".to_string()),
            (4, "succeeded".to_string()),
            (3, "failed".to_string()),
            (2, "failed".to_string()),
            (1, "attention".to_string()),
        ],
        "only the conflict-only run becomes attention"
    );
    use seatsync_host::store::RunId;
    assert_eq!(store.run_lines(RunId(1)).unwrap().len(), 2, "lines kept");
    assert_eq!(store.run_lines(RunId(2)).unwrap().len(), 2, "lines kept");
    assert_eq!(store.run_lines(RunId(1)).unwrap()[0].conflict_ids, [5, 6]);

    // The new status is accepted, and ids continue after the deleted 9.
    let lock = store
        .lock(&seatsync_host::store::sync_lock_name("default"))
        .unwrap();
    let run = store
        .begin_run(
            &lock,
            "default",
            seatsync_host::store::Trigger::Manual,
            seatsync_host::store::RunScope::Every,
            false,
        )
        .unwrap();
    assert_eq!(run.0, 10);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE runs SET status = 'attention' WHERE id = 10", [])
        .expect("the CHECK allows attention");
    raw.execute(
        "INSERT INTO run_lines (run_id, org_id, package_key, outcome, attempt)
         VALUES (10, 'pe-1', 'business', 'waiting', 2)",
        [],
    )
    .expect("run_lines allows waiting lines and attempts");
    let journal: i64 = raw
        .query_row("SELECT count(*) FROM write_journal", [], |r| r.get(0))
        .expect("the write journal exists");
    assert_eq!(journal, 0);
    let fk: bool = raw
        .query_row(
            "SELECT sql LIKE '%REFERENCES runs%' FROM sqlite_schema WHERE name = 'run_lines'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(fk, "run_lines still references runs");
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION as i64);
}
