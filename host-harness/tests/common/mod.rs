//! The database a store test runs against: an SQLite file, or, with
//! `SEATSYNC_TEST_STORE=postgres`, a PostgreSQL schema of its own in the
//! server `SEATSYNC_TEST_POSTGRES` names (`.ci/run` runs the store tests
//! both ways).

#![allow(dead_code)]

use std::path::PathBuf;

use seatsync_host::store::testing::PostgresSchema;
use seatsync_host::store::{KeySource, Store, new_key_file};

/// One test's database, removed when dropped.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    postgres: Option<PostgresSchema>,
}

impl TestDb {
    /// A new, empty database on the engine the environment asks for.
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let postgres = match std::env::var("SEATSYNC_TEST_STORE").as_deref() {
            Ok("postgres") => {
                new_key_file(&dir.path().join("secret.key")).expect("a key file");
                Some(
                    PostgresSchema::new()
                        .expect("SEATSYNC_TEST_STORE=postgres needs SEATSYNC_TEST_POSTGRES"),
                )
            }
            _ => None,
        };
        TestDb { dir, postgres }
    }

    /// Whether it is an SQLite file (tests of the file itself need one).
    pub fn is_sqlite(&self) -> bool {
        self.postgres.is_none()
    }

    /// What `--db` would say: the file's path or the URL.
    pub fn location(&self) -> PathBuf {
        match &self.postgres {
            Some(schema) => PathBuf::from(schema.url()),
            None => self.dir.path().join("seatsync.db"),
        }
    }

    /// Where the key sealing secrets comes from.
    pub fn keys(&self) -> KeySource {
        match &self.postgres {
            Some(_) => KeySource::File(self.dir.path().join("secret.key")),
            None => KeySource::BesideDatabase,
        }
    }

    /// A connection to it (each call another one, as another process's).
    pub fn open(&self) -> Store {
        Store::open_with_key(self.location(), self.keys()).expect("the test database opens")
    }
}
