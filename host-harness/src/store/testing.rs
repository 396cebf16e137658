//! Test support, not for production: a PostgreSQL schema of its own for
//! each test, so that the store's and the CLI's tests run against a real
//! PostgreSQL server (`SEATSYNC_TEST_POSTGRES`, which `.ci/postgres start`
//! prints) without seeing each other's data.

use std::sync::atomic::{AtomicU64, Ordering};

use super::db::postgres::PgConn;

/// The variable naming the test server (a `postgres://` URL).
pub const SERVER_VAR: &str = "SEATSYNC_TEST_POSTGRES";
/// Set (CI does) to fail, rather than skip, tests when the server is missing.
pub const REQUIRE_VAR: &str = "SEATSYNC_REQUIRE_POSTGRES";

/// An empty schema in the test server, dropped with everything in it when
/// this value is.
pub struct PostgresSchema {
    server: String,
    name: String,
    url: String,
}

impl PostgresSchema {
    /// A new schema in the server `SEATSYNC_TEST_POSTGRES` names; `None`
    /// when it names none (the caller skips), unless
    /// `SEATSYNC_REQUIRE_POSTGRES` is set (then it panics: CI must run
    /// these tests).
    pub fn new() -> Option<PostgresSchema> {
        let Some(server) = std::env::var(SERVER_VAR).ok().filter(|s| !s.is_empty()) else {
            if std::env::var_os(REQUIRE_VAR).is_some() {
                panic!(
                    "{REQUIRE_VAR} is set but {SERVER_VAR} is not: start a server with `.ci/postgres start DIR`"
                );
            }
            eprintln!(
                "skipped: {SERVER_VAR} is not set (start a server with `.ci/postgres start DIR`)"
            );
            return None;
        };
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "t{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let admin = PgConn::connect(&server)
            .unwrap_or_else(|e| panic!("cannot connect to {SERVER_VAR}: {e}"));
        admin
            .batch(&format!("CREATE SCHEMA {name}"))
            .unwrap_or_else(|e| panic!("cannot create a test schema: {e}"));
        let separator = if server.contains('?') { '&' } else { '?' };
        // The schema's connections carry its name, so a test can end them.
        let url =
            format!("{server}{separator}options=-csearch_path%3D{name}&application_name={name}");
        Some(PostgresSchema { server, name, url })
    }

    /// The URL whose connections see only this schema.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's URL (every schema).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ends every server connection of this schema's stores, as an
    /// administrator or a server restart would; returns how many.
    pub fn end_connections(&self) -> usize {
        let admin = PgConn::connect(&self.server)
            .unwrap_or_else(|e| panic!("cannot connect to {SERVER_VAR}: {e}"));
        let ended = admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?1",
                vec![super::db::Value::Text(self.name.clone())],
            )
            .unwrap_or_else(|e| panic!("cannot end the connections: {e}"));
        // Terminating only signals the backends: wait until they are gone,
        // so that the caller's next statement meets a closed connection.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let alive = admin
                .query(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = ?1",
                    vec![super::db::Value::Text(self.name.clone())],
                )
                .map_or(0, |rows| rows.len());
            if alive == 0 || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        ended.len()
    }
}

impl PostgresSchema {
    /// Brings the empty schema to PostgreSQL schema version `version` (as
    /// an earlier seatsync left it), so a test can fill it and see a
    /// current store migrate it.
    pub fn migrate_to(&self, version: usize) {
        let conn = PgConn::connect(&self.url)
            .unwrap_or_else(|e| panic!("cannot connect to the test schema: {e}"));
        let migrations = &super::schema_postgres::MIGRATIONS[..version];
        conn.batch(&format!(
            "CREATE TABLE seatsync_schema (version BIGINT NOT NULL);
             INSERT INTO seatsync_schema (version) VALUES ({version});
             {}",
            migrations.concat()
        ))
        .unwrap_or_else(|e| panic!("cannot build schema version {version}: {e}"));
    }

    /// Runs `sql` (several statements) in the schema.
    pub fn batch(&self, sql: &str) {
        let conn = PgConn::connect(&self.url)
            .unwrap_or_else(|e| panic!("cannot connect to the test schema: {e}"));
        conn.batch(sql)
            .unwrap_or_else(|e| panic!("the test's SQL failed: {e}"));
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        if let Ok(admin) = PgConn::connect(&self.server) {
            let _ = admin.batch(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}
