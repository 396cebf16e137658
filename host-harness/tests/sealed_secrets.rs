//! Secrets sealed at rest: no secret in the database's files, a wrong or
//! missing key named as such, older databases sealed on open, rotation.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use seatsync_contract::Settings;
use seatsync_host::store::{
    KeySource, NotifierKind, SCHEMA_VERSION, SmtpSecurity, SmtpSettings, Store, StoreError,
    StoredConnection, WebhookFormat, new_key_file,
};

const PRIVATE_KEY: &str = "PrivKey-7f3a9c-never-in-a-file";
const SMTP_PASSWORD: &str = "smtp-pass-5d21e8";
const WEBHOOK: &str = "https://hooks.example.com/services/T0/B0/token-91be47";

/// Everything SQLite keeps of the database on disk.
fn files_of(db: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        if let Ok(b) = fs::read(PathBuf::from(path)) {
            bytes.extend(b);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn assert_no_secret_in_files(db: &Path) {
    let bytes = files_of(db);
    for secret in [PRIVATE_KEY, SMTP_PASSWORD, "token-91be47"] {
        assert!(
            !contains(&bytes, secret),
            "{secret} is in the database's files"
        );
    }
}

fn connection() -> StoredConnection {
    let mut settings = Settings::new();
    settings.set("site", "cw.example.com");
    settings.set("private-key", PRIVATE_KEY);
    StoredConnection::new(
        settings,
        BTreeSet::from(["private-key".to_string()]),
        false,
        None,
    )
}

fn smtp() -> SmtpSettings {
    SmtpSettings {
        host: "smtp.example.com".into(),
        port: 587,
        username: Some("billing".into()),
        password: Some(SMTP_PASSWORD.into()),
        security: SmtpSecurity::StartTls,
        from: "seatsync@example.com".into(),
    }
}

/// Stores one secret of each kind through the store.
fn store_secrets(store: &Store) {
    store.save_connection("default", &connection()).unwrap();
    store.set_smtp("default", &smtp()).unwrap();
    store
        .add_notifier(
            "default",
            NotifierKind::Webhook,
            WEBHOOK,
            WebhookFormat::Slack,
            &["run-problems".to_string()],
        )
        .unwrap();
}

/// Reads every secret back and checks it.
fn assert_secrets_open(store: &Store) {
    let conn = store.connection("default").unwrap().expect("a connection");
    assert_eq!(conn.settings.get("private-key"), Some(PRIVATE_KEY));
    assert_eq!(conn.settings.get("site"), Some("cw.example.com"));
    assert_eq!(
        store.smtp("default").unwrap().unwrap().password.as_deref(),
        Some(SMTP_PASSWORD)
    );
    assert_eq!(store.notifiers("default").unwrap()[0].target, WEBHOOK);
}

fn key_file(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".key");
    s.into()
}

#[test]
fn secrets_are_sealed_in_the_files_and_open_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seatsync.db");
    let store = Store::open_with_key(&db, KeySource::BesideDatabase).unwrap();
    store_secrets(&store);
    assert_secrets_open(&store);
    assert_no_secret_in_files(&db);
    drop(store);
    assert_no_secret_in_files(&db);
    // The key was created on first use, private, beside the database.
    let mode = fs::metadata(key_file(&db)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let store = Store::open_with_key(&db, KeySource::BesideDatabase).unwrap();
    assert_secrets_open(&store);
    let status = store.secret_status().unwrap();
    assert_eq!(status.key_ids.len(), 1);
    assert_eq!(status.sealed.len(), 1);
    assert_eq!(status.sealed[0].secrets, 3);
    assert_eq!(status.sealed[0].key_id, status.key_ids[0]);
}

#[test]
fn a_database_whose_secrets_are_in_clear_is_sealed_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seatsync.db");
    // What the previous seatsync (schema version 10) stored: secrets in clear.
    Store::create_at_schema_version(&db, SCHEMA_VERSION).unwrap();
    {
        let raw = rusqlite::Connection::open(&db).unwrap();
        raw.execute_batch(&format!(
            "INSERT INTO tenants (name) VALUES ('default');
             INSERT INTO connections (tenant, allow_http, ca_file, updated_at)
                 VALUES ('default', 0, NULL, '2026-11-01T00:00:00.000Z');
             INSERT INTO connection_settings VALUES ('default', 'site', 'cw.example.com');
             INSERT INTO connection_secrets VALUES ('default', 'private-key', '{PRIVATE_KEY}');
             INSERT INTO smtp_settings VALUES ('default', 'smtp.example.com', 587, 'billing',
                 '{SMTP_PASSWORD}', 'starttls', 'seatsync@example.com', '2026-11-01T00:00:00.000Z');
             INSERT INTO notifiers (tenant, kind, target, format, events, created_at)
                 VALUES ('default', 'webhook', '{WEBHOOK}', 'slack', 'run-problems',
                 '2026-11-01T00:00:00.000Z');"
        ))
        .unwrap();
    }
    assert!(
        contains(&files_of(&db), PRIVATE_KEY),
        "the setup stored it in clear"
    );
    assert!(!key_file(&db).exists());

    let store = Store::open_with_key(&db, KeySource::BesideDatabase).unwrap();
    assert_secrets_open(&store);
    // The clear copies are gone from the file and its log, not only
    // replaced in the tables.
    assert_no_secret_in_files(&db);
    assert!(key_file(&db).exists());
    assert_eq!(store.secret_status().unwrap().sealed[0].secrets, 3);
    drop(store);
    // Opening again seals nothing more and opens everything.
    let store = Store::open_with_key(&db, KeySource::BesideDatabase).unwrap();
    assert_secrets_open(&store);
}

fn secret_key_error(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(e @ StoreError::SecretKey(_)) => e.to_string(),
        other => panic!("expected a secret key error, got {other:?}"),
    }
}

#[test]
fn a_wrong_or_missing_key_is_named_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seatsync.db");
    let right = dir.path().join("right.key");
    let wrong = dir.path().join("wrong.key");
    let right_id = new_key_file(&right).unwrap();
    let wrong_id = new_key_file(&wrong).unwrap();
    assert_ne!(right_id, wrong_id);
    let store = Store::open_with_key(&db, KeySource::File(right.clone())).unwrap();
    store_secrets(&store);
    drop(store);
    let before = files_of(&db);

    let store = Store::open_with_key(&db, KeySource::File(wrong.clone())).unwrap();
    let message = secret_key_error(store.connection("default"));
    assert!(message.contains(&right_id), "{message}");
    assert!(message.contains(&wrong_id), "{message}");
    assert!(message.contains("wrong.key"), "{message}");
    assert!(message.contains("--secret-key-file"), "{message}");
    assert!(!message.contains(PRIVATE_KEY));
    secret_key_error(store.smtp("default"));
    secret_key_error(store.notifiers("default"));
    drop(store);

    // No key file beside the database: the message names the file.
    let store = Store::open_with_key(&db, KeySource::BesideDatabase).unwrap();
    let message = secret_key_error(store.connection("default"));
    assert!(message.contains("seatsync.db.key"), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    drop(store);
    assert!(!key_file(&db).exists(), "reading must not create a key");

    // A file that is not a key.
    fs::write(dir.path().join("junk.key"), "hello\n").unwrap();
    let store = Store::open_with_key(&db, KeySource::File(dir.path().join("junk.key"))).unwrap();
    let message = secret_key_error(store.connection("default"));
    assert!(message.contains("not a seatsync secret key"), "{message}");
    assert!(message.contains("secrets new-key"), "{message}");
    drop(store);

    assert_eq!(files_of(&db), before, "failed reads changed the database");
    let store = Store::open_with_key(&db, KeySource::File(right)).unwrap();
    assert_secrets_open(&store);
}

#[test]
fn rotating_in_place_reseals_everything_and_retires_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seatsync.db");
    let mut store = Store::open_with_key(&db, KeySource::BesideDatabase).unwrap();
    store_secrets(&store);
    let old_copy = dir.path().join("old.key");
    fs::copy(key_file(&db), &old_copy).unwrap();
    let old_id = store.secret_status().unwrap().key_ids[0].clone();

    let rotation = store.rotate_secret_key(None).unwrap();
    assert_eq!(rotation.resealed, 3);
    assert_ne!(rotation.new_key_id, old_id);
    assert_eq!(rotation.retired_key_ids, vec![old_id.clone()]);
    assert_eq!(rotation.rewritten_key_file, Some(key_file(&db)));
    assert_secrets_open(&store);
    let status = store.secret_status().unwrap();
    assert_eq!(status.key_ids, vec![rotation.new_key_id.clone()]);
    assert_eq!(status.sealed.len(), 1);
    assert_eq!(status.sealed[0].key_id, rotation.new_key_id);
    let mode = fs::metadata(key_file(&db)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    drop(store);
    assert_no_secret_in_files(&db);

    // The old key opens nothing any more; the rotated file does.
    let store = Store::open_with_key(&db, KeySource::File(old_copy)).unwrap();
    let message = secret_key_error(store.connection("default"));
    assert!(message.contains(&rotation.new_key_id), "{message}");
    drop(store);
    let store = Store::open_with_key(&db, KeySource::BesideDatabase).unwrap();
    assert_secrets_open(&store);
}

#[test]
fn a_rotation_cut_short_still_opens_with_the_file_it_left() {
    // Rotation writes the new key first, beside the old, then reseals:
    // a crash between the two leaves a file with both, which must open
    // values sealed under either.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seatsync.db");
    let store = Store::open_with_key(&db, KeySource::BesideDatabase).unwrap();
    store_secrets(&store);
    drop(store);
    let new = dir.path().join("new.key");
    new_key_file(&new).unwrap();
    let key_line = |path: &Path| {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("seatsync-secret-key-v1:"))
            .unwrap()
            .to_string()
    };
    let both = format!("{}\n{}\n", key_line(&new), key_line(&key_file(&db)));
    fs::write(key_file(&db), both).unwrap();
    let mut store = Store::open_with_key(&db, KeySource::BesideDatabase).unwrap();
    assert_secrets_open(&store);
    // Running the rotation again completes it.
    let rotation = store.rotate_secret_key(None).unwrap();
    assert_eq!(rotation.resealed, 3);
    assert_eq!(store.secret_status().unwrap().key_ids.len(), 1);
    assert_secrets_open(&store);
}

#[test]
fn rotating_to_a_new_key_file_leaves_the_old_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seatsync.db");
    let first = dir.path().join("first.key");
    let second = dir.path().join("second.key");
    new_key_file(&first).unwrap();
    let second_id = new_key_file(&second).unwrap();
    let first_text = fs::read_to_string(&first).unwrap();
    let mut store = Store::open_with_key(&db, KeySource::File(first.clone())).unwrap();
    store_secrets(&store);
    let rotation = store.rotate_secret_key(Some(second.clone())).unwrap();
    assert_eq!(rotation.new_key_id, second_id);
    assert_eq!(rotation.rewritten_key_file, None);
    assert_secrets_open(&store);
    drop(store);
    assert_eq!(fs::read_to_string(&first).unwrap(), first_text);
    let store = Store::open_with_key(&db, KeySource::File(second)).unwrap();
    assert_secrets_open(&store);
    drop(store);
    let store = Store::open_with_key(&db, KeySource::File(first)).unwrap();
    secret_key_error(store.connection("default"));
    // A key file is never overwritten by `new-key`.
    let again = new_key_file(&dir.path().join("second.key"));
    assert!(secret_key_error(again).contains("already exists"));
}

#[test]
fn the_key_can_come_from_the_environment_variable_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seatsync.db");
    let file = dir.path().join("k.key");
    new_key_file(&file).unwrap();
    let line = fs::read_to_string(&file)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("seatsync-secret-key-v1:"))
        .unwrap()
        .to_string();
    let store = Store::open_with_key(&db, KeySource::Env(line.clone())).unwrap();
    store_secrets(&store);
    assert!(!key_file(&db).exists(), "no key file when the key is given");
    drop(store);
    // The same key from its file opens what the variable sealed.
    let store = Store::open_with_key(&db, KeySource::File(file)).unwrap();
    assert_secrets_open(&store);
    drop(store);
    // A variable's key cannot be rotated in place: the message says how.
    let mut store = Store::open_with_key(&db, KeySource::Env(line)).unwrap();
    let message = secret_key_error(store.rotate_secret_key(None));
    assert!(message.contains("--new-key-file"), "{message}");
}

/// `pg_dump` (on the PATH, or Debian's server packages).
fn pg_dump() -> PathBuf {
    let on_path = std::process::Command::new("pg_dump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return PathBuf::from("pg_dump");
    }
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pg_dump"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().expect("pg_dump is installed with the server")
}

#[test]
fn a_postgresql_dump_shows_no_secret() {
    let Some(schema) = seatsync_host::store::testing::PostgresSchema::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    new_key_file(&key).unwrap();
    let store = Store::open_with_key(schema.url(), KeySource::File(key.clone())).unwrap();
    store_secrets(&store);
    assert_secrets_open(&store);
    let dump = std::process::Command::new(pg_dump())
        .arg("--data-only")
        .arg("--schema")
        .arg(schema.name())
        .arg(schema.server())
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        text.contains("sealed:v1:"),
        "the dump has the sealed values"
    );
    assert!(text.contains("cw.example.com"), "and the plain settings");
    for secret in [PRIVATE_KEY, SMTP_PASSWORD, "token-91be47"] {
        assert!(!text.contains(secret), "{secret} is in the dump");
    }
    // A wrong key is named as such on PostgreSQL too, and the key file
    // beside the database (there is none) is refused up front.
    let wrong = dir.path().join("wrong.key");
    new_key_file(&wrong).unwrap();
    let other = Store::open_with_key(schema.url(), KeySource::File(wrong)).unwrap();
    assert!(secret_key_error(other.connection("default")).contains("sealed with key"));
    let beside = Store::open_with_key(schema.url(), KeySource::BesideDatabase);
    assert!(secret_key_error(beside).contains("--secret-key-file"));
}
