//! Opening the database: an SQLite file (its mode, its connection settings,
//! its schema brought up to date by `schema`'s migrations) or a PostgreSQL
//! database (`schema_postgres`'s migrations).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::db::postgres::PgConn;
use super::db::{self, DbError, sqlite::STATEMENT_CACHE};
use super::{BUSY_TIMEOUT, SCHEMA_VERSION, StoreError, schema, schema_postgres};

/// Creates the file 0600 if it is missing, and tightens a looser mode.
pub(super) fn prepare_file(path: &Path) -> Result<(), StoreError> {
    let file_err = |source| StoreError::File {
        path: path.to_owned(),
        source,
    };
    // `create(true)` without `truncate`: an existing file is opened as is.
    // The mode applies only when the file is created.
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(file_err)?;
    for file in [
        path.to_owned(),
        sidecar(path, "-wal"),
        sidecar(path, "-shm"),
    ] {
        let Ok(meta) = fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            // The file holds a private key: nobody but the owner should read
            // it. Failing to tighten (someone else's file) is not fatal, the
            // operator may have a reason; say so in the log.
            if let Err(e) = fs::set_permissions(&file, fs::Permissions::from_mode(0o600)) {
                tracing::warn!(
                    "{} is readable by other users (mode {:o}) and could not be restricted: {e}",
                    file.display(),
                    mode & 0o777
                );
            }
        }
    }
    Ok(())
}

pub(super) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Opens a connection with seatsync's settings (no migration).
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| open_error(path, source))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|source| open_error(path, source))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The first statement that reads the file is where a non-database fails.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|source| open_error(path, source))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            "{} could not be switched to WAL mode (it is in {mode} mode); concurrent readers will wait for writers",
            path.display()
        );
    }
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(|source| open_error(path, source))?;
    // Deleted and overwritten content is zeroed, not left in free space:
    // a secret sealed or re-keyed (`store::secrets`) leaves no old copy in
    // the file.
    conn.pragma_update(None, "secure_delete", true)
        .map_err(|source| open_error(path, source))?;
    Ok(conn)
}

fn open_error(path: &Path, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotADatabase {
            path: path.to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_owned(),
            source: source.into(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            path: path.to_owned(),
            context: "opening the database",
        },
        _ => StoreError::Open {
            path: path.to_owned(),
            source: source.into(),
        },
    }
}

/// Applies pending migrations, each in its own immediate transaction.
pub(super) fn migrate(path: &Path, conn: &Connection) -> Result<(), StoreError> {
    let read_version = |conn: &Connection| -> Result<i64, StoreError> {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|source| open_error(path, source))
    };
    let version = read_version(conn)?;
    // Counting the tables parses the schema, which is where a damaged file
    // shows first; better here, with the file's name, than mid-sync.
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
            [],
            |r| r.get(0),
        )
        .map_err(|source| open_error(path, source))?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|source| open_error(path, source))?;
    // A version-0 file with tables, or any file with a foreign application
    // id, is some other program's database: never write into it.
    let foreign = if version == 0 {
        tables > 0 || (app_id != 0 && app_id != schema::APPLICATION_ID)
    } else {
        app_id != schema::APPLICATION_ID
    };
    if foreign {
        return Err(StoreError::ForeignDatabase {
            path: path.to_owned(),
        });
    }
    if version < 0 || version as u64 > SCHEMA_VERSION as u64 {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    // A migration may rebuild a table (SQLite cannot alter a CHECK), and
    // dropping the old table would cascade to the rows that reference it.
    // The pragma is a no-op inside a transaction, so it is switched off
    // around the migrations; each checks the keys itself before it commits.
    if (version as u64) < SCHEMA_VERSION as u64 {
        conn.pragma_update(None, "foreign_keys", false)
            .map_err(|source| open_error(path, source))?;
    }
    let migrated = run_migrations(path, conn, read_version);
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(|source| open_error(path, source))?;
    migrated
}

/// Applies the migrations the database lacks, each in its own transaction.
fn run_migrations(
    path: &Path,
    conn: &Connection,
    read_version: impl Fn(&Connection) -> Result<i64, StoreError>,
) -> Result<(), StoreError> {
    for (i, sql) in schema::MIGRATIONS.iter().enumerate() {
        let mig_err = |source: rusqlite::Error| StoreError::Migration {
            path: path.to_owned(),
            from: i,
            source: source.into(),
        };
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(|source| match source.sqlite_error_code() {
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
                        path: path.to_owned(),
                        context: "upgrading the schema",
                    },
                    _ => mig_err(source),
                })?;
        // Read again inside the transaction: another process may have
        // migrated between our first read and taking the write lock.
        let current = read_version(&tx)?;
        if current as u64 > i as u64 {
            continue;
        }
        tx.execute_batch(sql).map_err(mig_err)?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()
            .map_err(mig_err)?;
        if let Some(table) = broken {
            return Err(StoreError::Migration {
                path: path.to_owned(),
                from: i,
                source: DbError::Sqlite(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                    Some(format!(
                        "a foreign key in table {table} points at a missing row"
                    )),
                )),
            });
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(mig_err)?;
        tx.commit().map_err(mig_err)?;
        tracing::info!("{}: schema upgraded to version {}", path.display(), i + 1);
    }
    Ok(())
}

/// Opens (creating if needed) the SQLite database at `path`, its schema
/// brought up to date.
pub(super) fn open_sqlite(path: &Path) -> Result<db::Conn, StoreError> {
    prepare_file(path)?;
    let conn = connect(path)?;
    migrate(path, &conn)?;
    Ok(db::Conn::Sqlite(conn))
}

/// See [`Store::create_at_schema_version`](super::Store::create_at_schema_version).
pub(super) fn create_at_schema_version(path: &Path, version: usize) -> Result<(), StoreError> {
    prepare_file(path)?;
    let conn = connect(path)?;
    for (i, sql) in schema::MIGRATIONS.iter().take(version).enumerate() {
        conn.execute_batch(sql)
            .and_then(|()| conn.pragma_update(None, "user_version", (i + 1) as i64))
            .map_err(|source| StoreError::Migration {
                path: path.to_owned(),
                from: i,
                source: source.into(),
            })?;
    }
    Ok(())
}

/// The PostgreSQL URL `--db` gives (`postgres://…` or `postgresql://…`),
/// or `None` for a file.
pub(super) fn postgres_url(db: &Path) -> Option<&str> {
    db.to_str()
        .filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// A PostgreSQL URL as messages show it: any password replaced.
pub(super) fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    // A password may also come as a query parameter.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some(("password", _)) => "password=***".to_owned(),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// A connection to the PostgreSQL database at `url` (`shown` in messages).
pub(super) fn connect_postgres(url: &str, shown: &Path) -> Result<PgConn, StoreError> {
    PgConn::connect(url).map_err(|source| StoreError::Open {
        path: shown.to_owned(),
        source,
    })
}

/// Connects to the PostgreSQL database at `url` and brings its schema up to
/// date: every pending migration in one transaction (PostgreSQL's DDL is
/// transactional), one migrating process at a time.
pub(super) fn open_postgres(url: &str, shown: &Path) -> Result<db::Conn, StoreError> {
    let conn = connect_postgres(url, shown)?;
    migrate_postgres(&conn, shown)?;
    Ok(db::Conn::Postgres(conn))
}

/// The advisory lock migrations take ("seatmigr" in ASCII).
const MIGRATION_LOCK: i64 = 0x7365_6174_6d69_6772;

fn migrate_postgres(conn: &PgConn, shown: &Path) -> Result<(), StoreError> {
    let mig_err = |from: usize| {
        move |source: DbError| StoreError::Migration {
            path: shown.to_owned(),
            from,
            source,
        }
    };
    let count = |sql: &str| -> Result<i64, DbError> {
        let rows = conn.query(sql, Vec::new())?;
        rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(Ok(0))
    };
    let known = schema_postgres::MIGRATIONS.len();
    // Every open (each console request, each reopen) comes here: a current
    // schema is one read, without the lock that serializes migrators.
    let current = "SELECT count(*) FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_name = 'seatsync_schema'";
    if count(current).map_err(mig_err(0))? == 1
        && count("SELECT version FROM seatsync_schema").map_err(mig_err(0))? == known as i64
    {
        return Ok(());
    }
    conn.batch(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"
    ))
    .map_err(mig_err(0))?;
    // Dropping the connection on an error ends the transaction.
    // Again under the lock: another process may have migrated meanwhile.
    let ours = count(current).map_err(mig_err(0))?;
    if ours == 0 {
        let tables = count(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
        )
        .map_err(mig_err(0))?;
        if tables > 0 {
            let _ = conn.batch("ROLLBACK");
            return Err(StoreError::ForeignDatabase {
                path: shown.to_owned(),
            });
        }
        conn.batch(
            "CREATE TABLE seatsync_schema (version BIGINT NOT NULL);
             INSERT INTO seatsync_schema (version) VALUES (0)",
        )
        .map_err(mig_err(0))?;
    }
    let version = count("SELECT version FROM seatsync_schema").map_err(mig_err(0))?;
    if version < 0 || version as u64 > known as u64 {
        let _ = conn.batch("ROLLBACK");
        return Err(StoreError::TooNew {
            path: shown.to_owned(),
            found: version,
            supported: known,
        });
    }
    let from = version as usize;
    for (i, sql) in schema_postgres::MIGRATIONS.iter().enumerate().skip(from) {
        conn.batch(sql).map_err(mig_err(from))?;
        conn.execute(
            "UPDATE seatsync_schema SET version = ?1",
            vec![db::Value::Integer(i as i64 + 1)],
        )
        .map_err(mig_err(from))?;
    }
    conn.batch("COMMIT").map_err(mig_err(from))?;
    if from < known {
        tracing::info!("{}: schema upgraded to version {known}", shown.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{postgres_url, shown_url};
    use std::path::Path;

    #[test]
    fn a_postgres_url_is_told_from_a_file_and_shown_without_its_password() {
        assert_eq!(
            postgres_url(Path::new("postgres://u@h/db")),
            Some("postgres://u@h/db")
        );
        assert_eq!(
            postgres_url(Path::new("postgresql:///db?host=/run")),
            Some("postgresql:///db?host=/run")
        );
        assert_eq!(postgres_url(Path::new("seatsync.db")), None);
        assert_eq!(postgres_url(Path::new("./postgres://x")), None);
        for (url, shown) in [
            (
                "postgres://seatsync:s3cret@db.example.com:5432/seatsync",
                "postgres://seatsync:***@db.example.com:5432/seatsync",
            ),
            (
                "postgres://seatsync@db/seatsync?sslmode=disable&password=s3cret",
                "postgres://seatsync@db/seatsync?sslmode=disable&password=***",
            ),
            (
                "postgres:///seatsync_test?user=postgres&host=/tmp/pg",
                "postgres:///seatsync_test?user=postgres&host=/tmp/pg",
            ),
            ("postgres://a:b@c@host/db", "postgres://a:***@host/db"),
        ] {
            assert_eq!(shown_url(url), shown, "{url}");
            assert!(!shown_url(url).contains("s3cret"));
        }
    }
}
