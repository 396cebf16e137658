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

/// Version 3 knew only ConnectWise: a connection's fields were columns and
/// a package's bill method and taxable flag too. The upgrade turns them into
/// settings (the private key a secret, kept apart) and options, and keeps
/// every mapping and the usage.
#[test]
fn a_version_3_database_gets_settings_and_options_and_keeps_its_mappings() {
    use std::collections::{BTreeMap, BTreeSet};

    use seatsync_host::store::{OrgMapping, PackageMapping};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    Store::create_at_schema_version(&path, 3).expect("a version-3 database");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(
            "INSERT INTO tenants (name, usage_imported_at)
             VALUES ('default', '2026-01-01T05:00:00.000000000Z');
             INSERT INTO connections (tenant, site, company_id, public_key, private_key,
                                      client_id, codebase, allow_http, ca_file, updated_at)
             VALUES ('default', 'na.myconnectwise.net', 'acme', 'pub123', 's3cr3t-private',
                     '0000-1111', 'v4_6_release/', 0, '/etc/ssl/extra.pem',
                     '2026-01-01T04:00:00.000000000Z'),
                    ('lab', 'cw.lab.example', 'lab', 'pub-lab', 'lab-secret',
                     '2222-3333', NULL, 1, NULL, '2026-01-01T04:00:00.000000000Z');
             INSERT INTO packages (tenant, key, enabled, product_id, product_identifier,
                                   product_description, bill_method, taxable)
             VALUES ('default', 'advanced', 1, 102, 'SKU-102', 'Advanced', 'no-charge', 0),
                    ('default', 'business', 1, 101, 'SKU-101', 'Business', 'billable', 1),
                    ('default', 'pro', 1, NULL, NULL, NULL, 'billable', 1);
             INSERT INTO orgs (tenant, org_id, name, enabled, company_id, agreement_id,
                               company_name, agreement_name)
             VALUES ('default', 'o1', 'One', 1, 254, 1254, 'Contoso Ltd', 'Managed Services'),
                    ('default', 'o2', 'Two', 1, NULL, NULL, NULL, NULL);
             INSERT INTO usage (tenant, org_id, package_key, active_users)
             VALUES ('default', 'o1', 'advanced', 2),
                    ('default', 'o1', 'business', 10),
                    ('default', 'o1', 'pro', 1),
                    ('default', 'o2', 'business', 5);",
        )
        .unwrap();
    }
    let store = Store::open(&path).expect("migrates");
    let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };

    // The connection: six settings, the private key among the secrets.
    let conn = store.connection("default").unwrap().expect("kept");
    let settings: Vec<(&str, &str)> = conn.settings.iter().collect();
    assert_eq!(
        settings,
        [
            ("client-id", "0000-1111"),
            ("codebase", "v4_6_release/"),
            ("company-id", "acme"),
            ("private-key", "s3cr3t-private"),
            ("public-key", "pub123"),
            ("site", "na.myconnectwise.net"),
        ]
    );
    assert_eq!(
        conn.secret_keys,
        BTreeSet::from(["private-key".to_string()])
    );
    assert!(!conn.allow_http);
    assert_eq!(
        conn.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ssl/extra.pem"))
    );
    // Without a codebase there is no such setting; the host's choices stay.
    let lab = store.connection("lab").unwrap().expect("kept");
    assert_eq!(
        lab.settings.keys().collect::<Vec<_>>(),
        [
            "client-id",
            "company-id",
            "private-key",
            "public-key",
            "site"
        ]
    );
    assert_eq!(lab.settings.get("private-key"), Some("lab-secret"));
    assert_eq!(lab.secret_keys, BTreeSet::from(["private-key".to_string()]));
    assert!(lab.allow_http);
    assert_eq!(lab.ca_file, None);
    assert_eq!(store.tenants().unwrap(), ["default", "lab"]);

    // Packages: the bill method and taxable flag became options.
    let packages = store.list_packages("default").unwrap();
    let mapping = |key: &str| {
        packages
            .iter()
            .find(|p| p.key == key)
            .expect("package kept")
            .mapping
            .clone()
    };
    assert_eq!(
        mapping("advanced"),
        Some(PackageMapping {
            product_id: 102,
            product_identifier: Some("SKU-102".into()),
            product_description: Some("Advanced".into()),
            options: opts(&[("bill-method", "no-charge"), ("taxable", "false")]),
        })
    );
    assert_eq!(
        mapping("business").map(|m| m.options),
        Some(opts(&[("bill-method", "billable"), ("taxable", "true")]))
    );
    assert_eq!(mapping("pro"), None, "an unmapped package stays unmapped");

    // Organizations and usage are intact, and so is the plan built from them.
    let orgs = store.list_orgs("default").unwrap();
    assert_eq!(
        orgs[0].mapping,
        Some(OrgMapping {
            company_id: 254,
            agreement_id: 1254,
            company_name: Some("Contoso Ltd".into()),
            agreement_name: Some("Managed Services".into()),
        })
    );
    assert_eq!(
        orgs[0].usage,
        BTreeMap::from([
            ("advanced".to_string(), 2),
            ("business".to_string(), 10),
            ("pro".to_string(), 1),
        ])
    );
    assert_eq!(orgs[1].mapping, None);
    assert_eq!(orgs[1].usage, BTreeMap::from([("business".to_string(), 5)]));
    let plan = store.sync_plan("default").unwrap();
    assert_eq!(plan.len(), 1, "o2 is unmapped");
    assert_eq!((plan[0].company_id, plan[0].agreement_id), (254, 1254));
    let lines: Vec<_> = plan[0]
        .lines
        .iter()
        .map(|l| {
            (
                l.package_key.as_str(),
                l.product_id,
                l.quantity,
                l.options.clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                "advanced",
                102,
                2,
                opts(&[("bill-method", "no-charge"), ("taxable", "false")])
            ),
            (
                "business",
                101,
                10,
                opts(&[("bill-method", "billable"), ("taxable", "true")])
            ),
        ],
        "pro is unmapped"
    );
    assert!(store.usage_imported_at("default").unwrap().is_some());

    // The relaxed id checks apply to the migrated tables.
    store
        .upsert_org_mapping(
            "default",
            "o2",
            &OrgMapping {
                company_id: -42,
                agreement_id: 1 << 40,
                company_name: None,
                agreement_name: None,
            },
        )
        .expect("a negative or 64-bit id is accepted after the upgrade");

    // The private key is only in `connection_secrets`, sealed on open
    // (an older database's secrets are in clear: `tests/sealed_secrets.rs`).
    let raw = rusqlite::Connection::open(&path).unwrap();
    let secrets: Vec<(String, String, String)> = raw
        .prepare("SELECT tenant, key, value FROM connection_secrets ORDER BY tenant, key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let rows: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(t, k, _)| (t.as_str(), k.as_str()))
        .collect();
    assert_eq!(rows, [("default", "private-key"), ("lab", "private-key")]);
    for (_, _, value) in &secrets {
        assert!(value.starts_with("sealed:v1:"), "{value}");
    }
    for (tenant, key) in [("default", "s3cr3t-private"), ("lab", "lab-secret")] {
        let conn = store.connection(tenant).unwrap().expect("a connection");
        assert_eq!(conn.settings.get("private-key"), Some(key));
    }
    let plain: Vec<(String, String)> = raw
        .prepare("SELECT key, value FROM connection_settings WHERE tenant = 'default' ORDER BY key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        plain.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["client-id", "codebase", "company-id", "public-key", "site"]
    );
    assert!(
        plain.iter().all(|(_, v)| !v.contains("s3cr3t")),
        "{plain:?}"
    );
    let columns: Vec<String> = raw
        .prepare("SELECT name FROM pragma_table_info('connections') ORDER BY cid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(columns, ["tenant", "allow_http", "ca_file", "updated_at"]);
    let options: String = raw
        .query_row(
            "SELECT options FROM packages WHERE tenant = 'default' AND key = 'pro'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(options, "{}", "an unmapped package has no options");
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION as i64);
}

/// Version 4 had no record of lines `seatsync resolve` ended. The upgrade
/// adds it and keeps the journal: its entries, a line's creator, still tell
/// a duplicate seatsync created apart.
#[test]
fn a_version_4_database_gets_a_record_of_ended_lines_and_keeps_its_journal() {
    use seatsync_host::store::{Confirmation, EndState, NewLineEnd};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    Store::create_at_schema_version(&path, 4).expect("a version-4 database");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(
            "INSERT INTO write_journal (tenant, site, run_id, org_id, method, url, body_sha256,
                 recorded_at, settle_until, state, status, created_id, resolved_at)
             VALUES ('default', 'https://cw.example.com', NULL, 'o1', 'POST',
                     'https://cw.example.com/finance/agreements/108/additions', 'aa',
                     '2026-01-01T05:00:00.000000000Z', '2026-01-01T05:03:30.000000000Z',
                     'answered', 201, 501, '2026-01-01T05:00:01.000000000Z');",
        )
        .unwrap();
        let tables: i64 = raw
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'line_ends'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "version 4 has no line_ends");
    }
    let store = Store::open(&path).expect("migrates");
    let created = store.writes_that_created("default", &[501]).unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].created_id, Some(501));
    assert!(store.line_ends("default").unwrap().is_empty());
    let id = store
        .record_line_end(&NewLineEnd {
            tenant: "default",
            org_id: "o1",
            contract_id: 108,
            product_id: 19,
            line_id: 502,
            kept_line_id: 501,
            end_day: "2026-01-01",
            confirmed: Confirmation::Typed,
            conflict_run: None,
        })
        .unwrap();
    store
        .finish_line_end(id, EndState::Ended, None, &[])
        .unwrap();
    let ends = store.line_ends("default").unwrap();
    assert_eq!(
        (ends[0].line_id, ends[0].state, ends[0].confirmed),
        (502, EndState::Ended, Confirmation::Typed)
    );
}

/// Version 5 kept run lines whose outcomes could not be `held` or
/// `changed`. The upgrade rebuilds `run_lines` for its new `CHECK` and keeps
/// every line, adds the review tables, and leaves the approval rules at
/// their default (a sync writes everything, as before).
#[test]
fn a_version_5_database_keeps_its_history_and_gets_review_tables() {
    use seatsync_host::store::{ApprovalRules, LineKind, RunId};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seatsync.db");
    Store::create_at_schema_version(&path, 5).expect("a version-5 database");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(
            "INSERT INTO tenants (name) VALUES ('default');
             INSERT INTO runs (tenant, started_at, finished_at, status, dry_run, trigger,
                               lock_token, orgs, updated, waiting)
             VALUES ('default', '2026-01-01T06:00:00.000000000Z',
                     '2026-01-01T06:00:05.000000000Z', 'attention', 0, 'daemon', 't', 1, 1, 1);
             INSERT INTO run_lines (run_id, org_id, company_id, agreement_id, package_key,
                                    product_id, quantity, outcome, previous_quantity,
                                    addition_id, message, attempt)
             VALUES (1, 'o1', 254, 1254, 'business', 19, 12, 'updated', 10.0, 15, NULL, 2),
                    (1, 'o1', 254, 1254, 'advanced', 20, 3, 'waiting', NULL, NULL, 'later', 2);",
        )
        .unwrap();
    }
    let store = Store::open(&path).expect("migrates");
    let lines = store.run_lines(RunId(1)).unwrap();
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.kind, l.previous_quantity, l.attempt))
            .collect::<Vec<_>>(),
        [
            (LineKind::Updated, Some(10.0), 2),
            (LineKind::Waiting, None, 2)
        ]
    );
    let run = store.run(RunId(1)).unwrap().expect("kept");
    assert_eq!(
        (run.totals.held, run.totals.changed, run.totals.waiting),
        (0, 0, 1)
    );
    assert_eq!(
        store.approval_rules("default").unwrap(),
        ApprovalRules::default()
    );
    assert!(store.plans("default", 10).unwrap().is_empty());
}
