//! Connections, mappings, usage and history in SQLite.
//!
//! One database file holds any number of tenants (a text name, by default
//! [`DEFAULT_TENANT`]); every operation is scoped by one. Each operation is
//! one transaction: on any error (bad input included) nothing changes.
//!
//! # What is synced
//!
//! An organization-package pair is synced when the organization is enabled
//! and mapped to a company and agreement, the package is enabled and mapped
//! to a catalog product, and the current usage has a count for the pair.
//! Organizations and packages first seen in a usage file are created
//! *enabled but unmapped*: sync is on by default (the switches exist to turn
//! it off), and nothing unmapped is ever synced, so a new package or customer
//! waits for someone to map it. Mapping never changes the `enabled` switch.
//! Replacing usage keeps every mapping, including those of organizations and
//! packages the new file no longer mentions: they are simply not synced, so
//! an export that misses a customer leaves that customer's additions as they
//! were instead of setting them to zero.
//!
//! # Files
//!
//! The database is created with mode 0600 (it holds the ConnectWise private
//! key), and an existing file that group or others can read is tightened to
//! 0600. SQLite creates the `-wal` and `-shm` files with the database's mode.
//!
//! # Concurrency
//!
//! WAL mode lets readers (the CLI listing history) run while the daemon
//! writes; writes use `BEGIN IMMEDIATE` and wait up to [`BUSY_TIMEOUT`] for
//! another writer. Two processes must not sync the same tenant at once: see
//! [`Store::try_lock`] and [`Store::begin_run`].

// Everything public here is API for the CLI and daemon: document it all.
#![warn(missing_docs)]

/// Implements `as_str`, `Display`, and SQLite conversion for an enum stored
/// as text (defined before the modules below, which use it).
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The name shown to operators and stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
            fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($ty::$variant),)+ _ => None }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let s = value.as_str()?;
                $ty::parse(s).ok_or_else(|| {
                    FromSqlError::Other(format!("unknown {} {s:?}", stringify!($ty)).into())
                })
            }
        }
    };
}

mod console;
mod ends;
mod journal;
mod lock;
mod mappings;
mod notify;
mod plans;
mod runs;
mod schema;
mod sealing;
mod secrets;

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, ToSql};
use seatsync_contract::Settings;
use thiserror::Error;

pub use console::{Account, Role, RunStats, Session};
pub use ends::{Confirmation, EndState, LatestConflict, LineEnd, NewLineEnd};
pub use journal::{JournalEntry, NewWrite, WriteResolution, WriteState};
pub use lock::{DEFAULT_LOCK_STALE_AFTER, LockGuard, LockInfo, sync_lock_name};
pub use mappings::{
    OrgChange, OrgMapping, OrgPlan, OrgView, PackageChange, PackageMapping, PackageView,
    UsageImportSummary,
};
pub use notify::{
    Delivery, DeliveryState, Notifier, NotifierKind, SmtpSecurity, SmtpSettings, WebhookFormat,
};
pub use plans::{
    ApplyResult, ApprovalRules, AutoApprove, DEFAULT_PLAN_EXPIRY_DAYS, EffectiveDate, LineDecision,
    NewPlanLine, PlanAction, PlanCounts, PlanEvent, PlanEventKind, PlanId, PlanLine, PlanRecord,
    PlanSource, PlanStatus, Withheld, WithheldLine,
};
pub use runs::{
    LineKind, LineNote, OrgAttempt, OrgExtras, OrgRecord, RunId, RunLine, RunRecord, RunScope,
    RunStatus, RunTotals, Trigger,
};
pub use sealing::KeySource;
pub use secrets::{Rotation, SealedCount, SecretStatus, new_key_file};

/// The tenant used when none is named.
pub const DEFAULT_TENANT: &str = "default";

/// How long a write waits for another process's write before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: usize = schema::MIGRATIONS.len();

/// Where the store gets the current time; replaceable for tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Why a store operation failed. Every message says what to do.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database file could not be created, opened or inspected.
    #[error(
        "cannot open the database file {path}: {source}; check that the directory exists and is writable, or pass --db with another path"
    )]
    File {
        /// The database file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// SQLite could not open the file.
    #[error(
        "cannot open the database {path}: {source}; check the file's permissions, or pass --db with another path"
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file is not an SQLite database at all.
    #[error(
        "{path} is not a seatsync database (file is not a database): move it away or pass --db with another path"
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// The file is an SQLite database of another program.
    #[error(
        "{path} is an SQLite database but not a seatsync one: move it away or pass --db with another path"
    )]
    ForeignDatabase {
        /// The file.
        path: PathBuf,
    },
    /// The database was written by a newer seatsync.
    #[error(
        "{path} has schema version {found}, but this seatsync understands up to version {supported}: upgrade seatsync, or pass --db with another path"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The file's version.
        found: i64,
        /// This build's version.
        supported: usize,
    },
    /// Upgrading the schema failed; the database is still at `from`.
    #[error(
        "cannot upgrade {path} from schema version {from}: {source}; the file was not changed — check free disk space and permissions and try again"
    )]
    Migration {
        /// The file.
        path: PathBuf,
        /// The version the database stayed at.
        from: usize,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// SQLite reports the file damaged.
    #[error(
        "the database {path} is damaged ({source}): restore it from a backup, or move it away and set up seatsync again"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Another process kept the database locked longer than [`BUSY_TIMEOUT`].
    #[error(
        "the database {path} stayed locked by another seatsync process for over {} seconds while {context}: try again when it has finished",
        BUSY_TIMEOUT.as_secs()
    )]
    Busy {
        /// The file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
    },
    /// Any other database error.
    #[error(
        "database error while {context}: {source}; check free disk space and the permissions of the database file"
    )]
    Sqlite {
        /// What was being done.
        context: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A value given to the store is unusable; nothing was changed.
    #[error("{0}")]
    InvalidInput(String),
    /// The key that seals secrets is missing, wrong or unreadable (the
    /// message says which and what to do).
    #[error("{0}")]
    SecretKey(String),
    /// A package key that the tenant does not have.
    #[error(
        "no package named '{key}' in tenant '{tenant}'{}",
        known_hint(known, "packages")
    )]
    UnknownPackage {
        /// The tenant.
        tenant: String,
        /// The key asked for.
        key: String,
        /// The tenant's package keys.
        known: Vec<String>,
    },
    /// An organization id that the tenant does not have.
    #[error(
        "no organization with id '{org_id}' in tenant '{tenant}'{}",
        known_hint(known, "orgs")
    )]
    UnknownOrg {
        /// The tenant.
        tenant: String,
        /// The id asked for.
        org_id: String,
        /// The tenant's organization ids.
        known: Vec<String>,
    },
    /// No run has this id.
    #[error("no sync run with id {0}: run `seatsync history` to list runs")]
    NoSuchRun(i64),
    /// The tenant has no plan with this id.
    #[error("no plan with id {0} in this tenant: run `seatsync plans` to list them")]
    NoSuchPlan(i64),
    /// The plan can no longer be decided on or applied.
    #[error("plan {id} is {status}: {why}")]
    PlanNotPending {
        /// The plan.
        id: i64,
        /// Where it stands.
        status: PlanStatus,
        /// Why, and what to do.
        why: String,
    },
    /// The run has already ended, so it cannot take more results.
    #[error(
        "sync run {id} is {status}, not running: results can only be recorded while a run is running (this is a seatsync bug)"
    )]
    RunNotRunning {
        /// The run.
        id: i64,
        /// Its status.
        status: RunStatus,
    },
    /// A run was begun with the lock of another tenant (or no sync lock).
    #[error(
        "a sync of tenant '{tenant}' needs the lock '{needed}', but the lock held is '{held}' (this is a seatsync bug)"
    )]
    WrongLock {
        /// The tenant.
        tenant: String,
        /// The lock needed.
        needed: String,
        /// The lock given.
        held: String,
    },
    /// The lock is no longer ours: another process took it as stale.
    #[error(
        "the lock '{name}' was taken over by another process (this one stopped heart-beating for too long); stop this sync and let the other process finish"
    )]
    LockLost {
        /// The lock.
        name: String,
    },
    /// Someone else holds the lock.
    #[error("{0}")]
    LockBusy(LockInfo),
}

/// ", known packages: a, b — run `seatsync packages`", shortened when long.
fn known_hint(known: &[String], command: &str) -> String {
    const SHOWN: usize = 10;
    if known.is_empty() {
        return format!(
            ": no {command} are known yet — import a usage file first, then run `seatsync {command}`"
        );
    }
    let noun = if command == "orgs" {
        "organizations"
    } else {
        command
    };
    let mut list = known
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if known.len() > SHOWN {
        list.push_str(&format!(" and {} more", known.len() - SHOWN));
    }
    format!("; known {noun}: {list} — run `seatsync {command}`")
}

/// A connection as stored for a tenant: the settings its connector
/// describes, and what the host itself decides.
///
/// `Debug` shows the setting keys only: values may be secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredConnection {
    /// Every setting, secrets included.
    pub settings: Settings,
    /// Which of the settings are secret (stored apart, never shown).
    pub secret_keys: BTreeSet<String>,
    /// Whether plain `http` endpoints are allowed (loopback testing only).
    pub allow_http: bool,
    /// A PEM file of extra CA certificates to trust, for on-premise servers.
    pub ca_file: Option<PathBuf>,
}

impl StoredConnection {
    /// A connection of `settings`, `secret_keys` among them, with the
    /// host's own choices.
    pub fn new(
        settings: Settings,
        secret_keys: impl IntoIterator<Item = String>,
        allow_http: bool,
        ca_file: Option<PathBuf>,
    ) -> Self {
        StoredConnection {
            settings,
            secret_keys: secret_keys.into_iter().collect(),
            allow_http,
            ca_file,
        }
    }
}

impl fmt::Debug for StoredConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredConnection")
            .field("settings", &self.settings)
            .field("secret_keys", &self.secret_keys)
            .field("allow_http", &self.allow_http)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// A kind of data to sync, switchable per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `user-counts`: update the quantity of existing additions.
    UserCounts,
    /// `packages`: create an addition when the agreement has none.
    Packages,
}

impl DataType {
    /// Every data type.
    pub const ALL: [DataType; 2] = [DataType::UserCounts, DataType::Packages];

    /// The name used on the command line and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::UserCounts => "user-counts",
            DataType::Packages => "packages",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataType {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        DataType::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                StoreError::InvalidInput(format!(
                    "unknown data type '{s}': use user-counts or packages"
                ))
            })
    }
}

/// The data-type switches of a tenant; both on unless switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataTypes {
    /// `user-counts`: update quantities of existing additions.
    pub user_counts: bool,
    /// `packages`: create missing additions.
    pub packages: bool,
}

impl Default for DataTypes {
    fn default() -> Self {
        DataTypes {
            user_counts: true,
            packages: true,
        }
    }
}

/// The seatsync database: one SQLite connection.
///
/// `Send` but not `Sync`: give each thread its own `Store` (opening is cheap
/// once the schema is current).
pub struct Store {
    path: PathBuf,
    conn: Connection,
    clock: Clock,
    lock_stale_after: Duration,
    /// Where the key sealing secrets comes from ([`sealing`]).
    keys: KeySource,
    /// The keys, loaded the first time a secret is sealed or opened.
    keyring: std::cell::OnceCell<sealing::Keyring>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Creates the file 0600 if it is missing, and tightens a looser mode.
fn prepare_file(path: &Path) -> Result<(), StoreError> {
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

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Opens a connection with seatsync's settings (no migration).
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| open_error(path, source))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|source| open_error(path, source))?;
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
            source,
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            path: path.to_owned(),
            context: "opening the database",
        },
        _ => StoreError::Open {
            path: path.to_owned(),
            source,
        },
    }
}

/// Classifies an SQLite error of an operation.
fn db_error(path: &Path, context: &'static str, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            path: path.to_owned(),
            context,
        },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
            path: path.to_owned(),
            source,
        },
        _ => StoreError::Sqlite { context, source },
    }
}

/// Applies pending migrations, each in its own immediate transaction.
fn migrate(path: &Path, conn: &Connection) -> Result<(), StoreError> {
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
        let mig_err = |source| StoreError::Migration {
            path: path.to_owned(),
            from: i,
            source,
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
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                    Some(format!(
                        "a foreign key in table {table} points at a missing row"
                    )),
                ),
            });
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(mig_err)?;
        tx.commit().map_err(mig_err)?;
        tracing::info!("{}: schema upgraded to version {}", path.display(), i + 1);
    }
    Ok(())
}

/// Formats a time the way the database stores it (sortable text).
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads a time column.
fn parse_ts(s: &str) -> FromSqlResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| FromSqlError::Other(Box::new(e)))
}

/// A `DateTime<Utc>` column wrapper (chrono's rusqlite feature is not on).
struct Ts(DateTime<Utc>);

impl FromSql for Ts {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        parse_ts(value.as_str()?).map(Ts)
    }
}

impl ToSql for Ts {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(ts(self.0)))
    }
}

/// Checks a tenant name: short, and safe to show and to put in a lock name.
fn check_tenant(tenant: &str) -> Result<(), StoreError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput(format!(
            "invalid tenant name {tenant:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Checks a required text field: not empty after trimming.
fn required(what: &str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        Err(StoreError::InvalidInput(format!(
            "the {what} is empty: enter it as shown in ConnectWise"
        )))
    } else {
        Ok(())
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date, sealing secrets with the key
    /// [`KeySource::from_env`] names.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with_key(path, KeySource::from_env())
    }

    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date, sealing secrets with the key `keys` names.
    /// Secrets an older seatsync stored in clear are sealed now.
    pub fn open_with_key(path: impl AsRef<Path>, keys: KeySource) -> Result<Store, StoreError> {
        let path = path.as_ref().to_owned();
        prepare_file(&path)?;
        let conn = connect(&path)?;
        migrate(&path, &conn)?;
        let store = Store {
            path,
            conn,
            clock: Arc::new(Utc::now),
            lock_stale_after: DEFAULT_LOCK_STALE_AFTER,
            keys,
            keyring: std::cell::OnceCell::new(),
        };
        store.seal_clear_secrets()?;
        Ok(store)
    }

    /// Creates a database at `path` with only the first `version`
    /// migrations applied, as an older seatsync left it, so that tests can
    /// check the upgrade from it. Not for production use.
    #[doc(hidden)]
    pub fn create_at_schema_version(
        path: impl AsRef<Path>,
        version: usize,
    ) -> Result<(), StoreError> {
        let path = path.as_ref();
        prepare_file(path)?;
        let conn = connect(path)?;
        for (i, sql) in schema::MIGRATIONS.iter().take(version).enumerate() {
            conn.execute_batch(sql)
                .and_then(|()| conn.pragma_update(None, "user_version", (i + 1) as i64))
                .map_err(|source| StoreError::Migration {
                    path: path.to_owned(),
                    from: i,
                    source,
                })?;
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the clock (tests; the daemon keeps the system clock).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Sets how long a lock may go without a heartbeat before another
    /// process may take it over (default [`DEFAULT_LOCK_STALE_AFTER`]).
    pub fn set_lock_stale_after(&mut self, after: Duration) {
        self.lock_stale_after = after;
    }

    /// Now, on the store's clock (what it stamps records with).
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Another connection to the same database, with the same clock and
    /// settings: for a thread that writes alongside this one (the write
    /// journal).
    pub fn reopen(&self) -> Result<Store, StoreError> {
        let mut store = Store::open_with_key(&self.path, self.keys.clone())?;
        store.clock = self.clock.clone();
        store.lock_stale_after = self.lock_stale_after;
        Ok(store)
    }

    /// A write transaction (`BEGIN IMMEDIATE`: take the write lock up front,
    /// so two writers wait for each other instead of one failing halfway).
    fn write_tx(&self, context: &'static str) -> Result<rusqlite::Transaction<'_>, StoreError> {
        rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(context, e))
    }

    /// A read transaction: one consistent snapshot for multi-query reads.
    fn read_tx(&self, context: &'static str) -> Result<rusqlite::Transaction<'_>, StoreError> {
        rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Deferred)
            .map_err(|e| self.err(context, e))
    }

    fn err(&self, context: &'static str, e: rusqlite::Error) -> StoreError {
        db_error(&self.path, context, e)
    }

    /// Records the tenant if it is new.
    fn touch_tenant(&self, tx: &Connection, tenant: &str) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO tenants (name) VALUES (?1) ON CONFLICT DO NOTHING",
            [tenant],
        )
        .map_err(|e| self.err("recording the tenant", e))?;
        Ok(())
    }

    /// The tenants that have anything stored, sorted.
    pub fn tenants(&self) -> Result<Vec<String>, StoreError> {
        let ctx = "listing tenants";
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM tenants UNION SELECT tenant FROM connections ORDER BY 1")
            .map_err(|e| self.err(ctx, e))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(ctx, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(ctx, e))
    }

    /// Saves (replaces) the tenant's connection: its settings (secret
    /// ones apart) and the host's choices. No setting may be empty.
    pub fn save_connection(&self, tenant: &str, conn: &StoredConnection) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        for (key, value) in conn.settings.iter() {
            required(key, value)?;
        }
        let ca_file = match &conn.ca_file {
            None => None,
            Some(p) => Some(p.to_str().ok_or_else(|| {
                StoreError::InvalidInput(format!(
                    "the CA file path {} is not valid UTF-8: move the file to a path without such characters",
                    p.display()
                ))
            })?),
        };
        let ctx = "saving the connection";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;
        tx.execute(
            "INSERT INTO connections (tenant, allow_http, ca_file, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant) DO UPDATE SET
                 allow_http = excluded.allow_http, ca_file = excluded.ca_file,
                 updated_at = excluded.updated_at",
            rusqlite::params![tenant, conn.allow_http, ca_file, Ts(self.now())],
        )
        .map_err(e)?;
        for table in ["connection_settings", "connection_secrets"] {
            tx.execute(&format!("DELETE FROM {table} WHERE tenant = ?1"), [tenant])
                .map_err(e)?;
        }
        for (key, value) in conn.settings.iter() {
            let (table, value) = if conn.secret_keys.contains(key) {
                let context = secrets::connection_context(tenant, key);
                (
                    "connection_secrets",
                    self.seal_secret(&context, value.trim())?,
                )
            } else {
                ("connection_settings", value.trim().to_string())
            };
            tx.execute(
                &format!("INSERT INTO {table} (tenant, key, value) VALUES (?1, ?2, ?3)"),
                rusqlite::params![tenant, key, value],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// The tenant's connection, if one was saved.
    pub fn connection(&self, tenant: &str) -> Result<Option<StoredConnection>, StoreError> {
        check_tenant(tenant)?;
        let ctx = "reading the connection";
        let e = |e| self.err(ctx, e);
        let tx = self.read_tx(ctx)?;
        let host: Option<(bool, Option<String>)> = tx
            .query_row(
                "SELECT allow_http, ca_file FROM connections WHERE tenant = ?1",
                [tenant],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(e)?;
        let Some((allow_http, ca_file)) = host else {
            return Ok(None);
        };
        let mut settings = Settings::new();
        let mut secret_keys = BTreeSet::new();
        for (table, secret) in [("connection_settings", false), ("connection_secrets", true)] {
            let mut stmt = tx
                .prepare(&format!("SELECT key, value FROM {table} WHERE tenant = ?1"))
                .map_err(e)?;
            let rows = stmt
                .query_map([tenant], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(e)?;
            for row in rows {
                let (key, value) = row.map_err(e)?;
                let value = if secret {
                    secret_keys.insert(key.clone());
                    self.open_secret(&secrets::connection_context(tenant, &key), &value)?
                } else {
                    value
                };
                settings.set(key, value);
            }
        }
        Ok(Some(StoredConnection {
            settings,
            secret_keys,
            allow_http,
            ca_file: ca_file.map(PathBuf::from),
        }))
    }

    /// Switches a data type on or off for the tenant.
    pub fn set_data_type(
        &self,
        tenant: &str,
        data_type: DataType,
        enabled: bool,
    ) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let ctx = "saving a data type switch";
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;
        tx.execute(
            "INSERT INTO data_types (tenant, data_type, enabled) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant, data_type) DO UPDATE SET enabled = excluded.enabled",
            rusqlite::params![tenant, data_type.as_str(), enabled],
        )
        .map_err(|e| self.err(ctx, e))?;
        tx.commit().map_err(|e| self.err(ctx, e))
    }

    /// The tenant's data type switches (both on unless switched off).
    pub fn data_types(&self, tenant: &str) -> Result<DataTypes, StoreError> {
        check_tenant(tenant)?;
        let ctx = "reading the data type switches";
        let mut out = DataTypes::default();
        let mut stmt = self
            .conn
            .prepare("SELECT data_type, enabled FROM data_types WHERE tenant = ?1")
            .map_err(|e| self.err(ctx, e))?;
        let rows = stmt
            .query_map([tenant], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
            })
            .map_err(|e| self.err(ctx, e))?;
        for row in rows {
            let (name, enabled) = row.map_err(|e| self.err(ctx, e))?;
            match name.as_str() {
                "user-counts" => out.user_counts = enabled,
                "packages" => out.packages = enabled,
                // The CHECK constraint allows no other value.
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hint_lists_and_truncates() {
        assert_eq!(
            known_hint(&["a".into(), "b".into()], "packages"),
            "; known packages: a, b — run `seatsync packages`"
        );
        let many: Vec<String> = (0..12).map(|i| format!("o{i}")).collect();
        assert!(known_hint(&many, "orgs").ends_with("o9 and 2 more — run `seatsync orgs`"));
        assert!(known_hint(&[], "orgs").contains("no orgs are known yet"));
    }

    #[test]
    fn tenant_names() {
        for ok in ["default", "acme-1", "a.b_c"] {
            assert!(check_tenant(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "x/y", "é", &"x".repeat(65)] {
            assert!(check_tenant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_sort_as_text() {
        let a = DateTime::parse_from_rfc3339("2027-01-01T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let b = a + chrono::Duration::nanoseconds(1);
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a), "2027-01-01T06:00:00.000000000Z");
        assert_eq!(parse_ts(&ts(b)).unwrap(), b);
    }
}
